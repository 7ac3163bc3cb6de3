/* identity.c - the device key, the device id and the signed Noise static key (identity.h).
 *
 * The key file is written to a temporary name, fsynced and linked into place
 * (file_atomic_commit_new), so two processes starting at once agree on one identity (the loser
 * reads the winner's file); renames (identity_set_name) replace it atomically
 * (file_atomic_commit). It is read only if no other user can read it (file_read_private).
 * Secret material only ever sits in sodium_malloc'd buffers or in cJSON strings that are wiped
 * before they are freed. */
#include "cluster/identity.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "base/err.h"
#include "base/file.h"
#include "base/paths.h"

#define IDENTITY_FILE     "identity.key"
#define IDENTITY_FILE_MAX 4096 /* bytes: the real file is about 250 */
#define AUTH_LABEL        "unhosted-noise-static-v1"
#define AUTH_LABEL_LEN    (sizeof AUTH_LABEL - 1)

struct identity {
    uint8_t sign_pk[32];
    uint8_t dh_pk[32];
    uint8_t *sign_sk; /* [64] sodium_malloc'd: seed || public key */
    uint8_t *dh_sk;   /* [32] sodium_malloc'd */
    uint8_t auth[IDENTITY_AUTH_LEN];
    char device_id[DEVICE_ID_STRLEN];
    char name[IDENTITY_NAME_MAX];
    char path[4096]; /* the key file, for identity_set_name */
};

/* ---- device ids ---- */

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static int b32_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= '2' && c <= '7') return c - '2' + 26;
    return -1;
}

/* Luhn mod 32 check character of n base32 characters, Syncthing's way (weights from the left). */
static char luhn32(const char *s, size_t n)
{
    int factor = 1, sum = 0;
    for (size_t i = 0; i < n; i++) {
        int addend = factor * b32_value(s[i]);
        factor = factor == 2 ? 1 : 2;
        sum += addend / 32 + addend % 32;
    }
    return b32_alphabet[(32 - sum % 32) % 32];
}

/* 56 check-carrying characters -> "XXXXXXX-XXXXXXX-..." */
static void group(const char *c56, char out[DEVICE_ID_STRLEN])
{
    size_t o = 0;
    for (int g = 0; g < 8; g++) {
        if (g) out[o++] = '-';
        memcpy(out + o, c56 + g * 7, 7);
        o += 7;
    }
    out[o] = 0;
}

void device_id_from_pk(const uint8_t pk[32], char out[DEVICE_ID_STRLEN])
{
    uint8_t hash[crypto_hash_sha256_BYTES];
    char b32[52], c56[56];
    crypto_hash_sha256(hash, pk, 32);
    /* RFC 4648 base32: 256 bits -> 51 full 5-bit groups + 1 bit padded with zeros */
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < sizeof hash; i++) {
        acc = (acc << 8) | hash[i];
        bits += 8;
        while (bits >= 5) {
            b32[o++] = b32_alphabet[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0) b32[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
    for (int g = 0; g < 4; g++) {
        memcpy(c56 + g * 14, b32 + g * 13, 13);
        c56[g * 14 + 13] = luhn32(b32 + g * 13, 13);
    }
    group(c56, out);
}

int device_id_parse(const char *text, char out[DEVICE_ID_STRLEN], uh_err *err)
{
    char c56[56];
    size_t n = 0;
    if (!text) return err_setf(err, UH_EINVAL, "no device id given");
    for (const char *p = text; *p; p++) {
        char c = *p;
        if (c == '-' || c == ' ') continue;
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        if (c == '0')
            c = 'O';
        else if (c == '1')
            c = 'I';
        else if (c == '8')
            c = 'B';
        if (b32_value(c) < 0)
            return err_setf(err, UH_EINVAL, "not a device id: unexpected character '%c'",
                            (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f ? *p : '?');
        if (n == sizeof c56)
            return err_setf(err, UH_EINVAL, "not a device id: too long (56 characters expected)");
        c56[n++] = c;
    }
    if (n != sizeof c56)
        return err_setf(err, UH_EINVAL,
                        "not a device id: %zu characters where 56 are expected (8 groups of 7)", n);
    for (int g = 0; g < 4; g++)
        if (luhn32(c56 + g * 14, 13) != c56[g * 14 + 13])
            return err_setf(err, UH_EINVAL,
                            "mistyped device id: check character of group %d does not match",
                            g * 2 + 2);
    group(c56, out);
    return UH_OK;
}

/* ---- names ---- */

int identity_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= IDENTITY_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f) return 0;
    }
    return 1;
}

/* The host name, reduced to printable ASCII; "unhosted" when there is none. */
static void default_name(char out[IDENTITY_NAME_MAX])
{
    char host[256] = {0};
    size_t o = 0;
    if (gethostname(host, sizeof host - 1) != 0) host[0] = 0;
    for (size_t i = 0; host[i] && o < IDENTITY_NAME_MAX - 1; i++)
        if (host[i] > 0x20 && host[i] < 0x7f) out[o++] = host[i];
    out[o] = 0;
    if (!o) snprintf(out, IDENTITY_NAME_MAX, "unhosted");
}

/* ---- the key file ---- */

static int derive_public(identity *id, const char *path, uh_err *err)
{
    uint8_t msg[AUTH_LABEL_LEN + 32];
    /* the secret key carries its own public half: recompute it from the seed to catch a file
     * whose halves disagree */
    uint8_t *sk2 = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (!sk2) return err_setf(err, UH_ENOMEM, "out of memory");
    crypto_sign_seed_keypair(id->sign_pk, sk2, id->sign_sk);
    int same = sodium_memcmp(sk2, id->sign_sk, crypto_sign_SECRETKEYBYTES) == 0;
    sodium_free(sk2);
    if (!same)
        return err_setf(err, UH_EFORMAT,
                        "%s: malformed identity file (sign_sk: public half does not match)", path);
    if (crypto_scalarmult_base(id->dh_pk, id->dh_sk) != 0)
        return err_setf(err, UH_EFORMAT, "%s: malformed identity file (dh_sk: weak key)", path);
    device_id_from_pk(id->sign_pk, id->device_id);
    memcpy(msg, AUTH_LABEL, AUTH_LABEL_LEN);
    memcpy(msg + AUTH_LABEL_LEN, id->dh_pk, 32);
    memcpy(id->auth, id->sign_pk, 32);
    crypto_sign_detached(id->auth + 32, NULL, msg, sizeof msg, id->sign_sk);
    return UH_OK;
}

/* Wipes the string of a parsed or built JSON item (a secret) before cJSON frees it. */
static void wipe_item(cJSON *item)
{
    if (item && item->valuestring) sodium_memzero(item->valuestring, strlen(item->valuestring));
}

/* Decodes the base64 field key of root into out[len] exactly. */
static int secret_field(cJSON *root, const char *key, uint8_t *out, size_t len, const char *path,
                        uh_err *err)
{
    cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    size_t got = 0;
    const char *end = NULL;
    if (!cJSON_IsString(item))
        return err_setf(err, UH_EFORMAT, "%s: malformed identity file (%s: missing)", path, key);
    const char *s = item->valuestring;
    int rc =
        sodium_base642bin(out, len, s, strlen(s), NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL);
    wipe_item(item);
    if (rc != 0 || got != len || (end && *end))
        return err_setf(err, UH_EFORMAT,
                        "%s: malformed identity file (%s: not %zu bytes of base64)", path, key,
                        len);
    return UH_OK;
}

static int parse_file(identity *id, char *text, size_t len, const char *path, uh_err *err)
{
    int rc = UH_OK;
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(root)) {
        rc = err_setf(err, UH_EFORMAT, "%s: malformed identity file (not a JSON object)", path);
        goto done;
    }
    cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    rc = secret_field(root, "sign_sk", id->sign_sk, crypto_sign_SECRETKEYBYTES, path, err);
    if (rc == 0)
        rc = secret_field(root, "dh_sk", id->dh_sk, crypto_scalarmult_SCALARBYTES, path, err);
    if (rc != 0) goto done;
    if (!cJSON_IsNumber(version) || version->valuedouble != 1) {
        rc = err_setf(err, UH_EFORMAT, "%s: malformed identity file (version: expected 1)", path);
        goto done;
    }
    if (!cJSON_IsString(name) || !identity_name_valid(name->valuestring)) {
        rc = err_setf(err, UH_EFORMAT,
                      "%s: malformed identity file (name: 1 to %d printable bytes expected)", path,
                      IDENTITY_NAME_MAX - 1);
        goto done;
    }
    snprintf(id->name, sizeof id->name, "%s", name->valuestring);
    rc = derive_public(id, path, err);
done:
    if (root) {
        wipe_item(cJSON_GetObjectItemCaseSensitive(root, "sign_sk"));
        wipe_item(cJSON_GetObjectItemCaseSensitive(root, "dh_sk"));
    }
    cJSON_Delete(root);
    return rc;
}

/* Reads the key file into guarded memory (wiped after) and parses it. UH_ENOTFOUND when there
 * is none. */
static int read_file(identity *id, const char *path, uh_err *err)
{
    char *buf = sodium_malloc(IDENTITY_FILE_MAX);
    if (!buf) return err_setf(err, UH_ENOMEM, "out of memory");
    size_t len = 0;
    int rc = file_read_private(path, buf, IDENTITY_FILE_MAX, &len, NULL, err);
    if (rc == UH_EFORMAT)
        rc = err_setf(err, UH_EFORMAT, "%s: malformed identity file (larger than %d bytes)", path,
                      IDENTITY_FILE_MAX);
    if (rc == 0) rc = parse_file(id, buf, len, path, err);
    sodium_memzero(buf, IDENTITY_FILE_MAX);
    sodium_free(buf);
    return rc;
}

/* Writes id to its key file atomically: replacing the old one (replace 1), or only if there is
 * none (replace 0; UH_ECONFLICT when another process created it first). */
static int write_file(const identity *id, int replace, uh_err *err)
{
    enum { B64_SIGN = 89, B64_DH = 45, OUT_MAX = 1024 }; /* base64 of 64 and 32 bytes + NUL */
    char *sign64 = sodium_malloc(B64_SIGN), *dh64 = sodium_malloc(B64_DH);
    char *out = sodium_malloc(OUT_MAX);
    cJSON *root = cJSON_CreateObject();
    cJSON *s_item = NULL, *d_item = NULL;
    int rc = UH_OK;
    if (!sign64 || !dh64 || !out || !root) {
        rc = err_setf(err, UH_ENOMEM, "out of memory");
        goto done;
    }
    sodium_bin2base64(sign64, B64_SIGN, id->sign_sk, 64, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(dh64, B64_DH, id->dh_sk, 32, sodium_base64_VARIANT_ORIGINAL);
    cJSON_AddNumberToObject(root, "version", 1);
    s_item = cJSON_AddStringToObject(root, "sign_sk", sign64);
    d_item = cJSON_AddStringToObject(root, "dh_sk", dh64);
    if (!s_item || !d_item || !cJSON_AddStringToObject(root, "name", id->name) ||
        !cJSON_PrintPreallocated(root, out, OUT_MAX - 2, 1)) {
        rc = err_setf(err, UH_ENOMEM, "cannot serialise the identity");
        goto done;
    }
    strcat(out, "\n");
    file_atomic f;
    rc = file_atomic_open(&f, id->path, 0600, err);
    if (rc == 0) rc = file_atomic_write(&f, out, strlen(out), err);
    if (rc != 0)
        file_atomic_abort(&f);
    else
        rc = replace ? file_atomic_commit(&f, NULL, err) : file_atomic_commit_new(&f, err);
done:
    wipe_item(s_item);
    wipe_item(d_item);
    cJSON_Delete(root);
    if (out) sodium_memzero(out, OUT_MAX);
    sodium_free(out);
    sodium_free(sign64);
    sodium_free(dh64);
    return rc;
}

/* A fresh identity written to a new key file; 1 when another process created one first (read
 * theirs: both must agree on one identity). */
static int generate(identity *id, uh_err *err)
{
    crypto_sign_keypair(id->sign_pk, id->sign_sk);
    randombytes_buf(id->dh_sk, 32);
    default_name(id->name);
    int rc = derive_public(id, id->path, err);
    if (rc == 0) rc = write_file(id, 0, err);
    return rc == UH_ECONFLICT ? 1 : rc;
}

int identity_load(const char *dir, identity **out, uh_err *err)
{
    char cfg[4096];
    int rc;
    *out = NULL;
    if (sodium_init() < 0) return err_setf(err, UH_EIO, "libsodium failed to initialise");
    if (!dir) {
        rc = paths_ensure_dir(PATHS_CONFIG, cfg, sizeof cfg);
        if (rc != 0) return err_setf(err, rc, "cannot find or create the config directory");
        dir = cfg;
    } else if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return err_setf(err, UH_EIO, "cannot create %s: %s", dir, strerror(errno));
    }
    identity *id = calloc(1, sizeof *id);
    if (!id) return err_setf(err, UH_ENOMEM, "out of memory");
    id->sign_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    id->dh_sk = sodium_malloc(crypto_scalarmult_SCALARBYTES);
    if (!id->sign_sk || !id->dh_sk) {
        rc = err_setf(err, UH_ENOMEM, "out of memory");
        goto fail;
    }
    if (snprintf(id->path, sizeof id->path, "%s/%s", dir, IDENTITY_FILE) >= (int)sizeof id->path) {
        rc = err_setf(err, UH_ELIMIT, "%s: path too long", dir);
        goto fail;
    }
    rc = 1;
    for (int attempt = 0; attempt < 3 && rc == 1; attempt++) {
        rc = read_file(id, id->path, err);
        if (rc == UH_ENOTFOUND) rc = generate(id, err);
    }
    if (rc == 1) rc = err_setf(err, UH_EIO, "%s: cannot read or create", id->path);
    if (rc != 0) goto fail;
    *out = id;
    return UH_OK;
fail:
    identity_free(id);
    return rc;
}

int identity_set_name(identity *id, const char *name, uh_err *err)
{
    char old[IDENTITY_NAME_MAX];
    if (!identity_name_valid(name))
        return err_setf(err, UH_EINVAL,
                        "device name must be 1 to %d bytes without control characters",
                        IDENTITY_NAME_MAX - 1);
    memcpy(old, id->name, sizeof old);
    snprintf(id->name, sizeof id->name, "%s", name);
    int rc = write_file(id, 1, err);
    if (rc != 0) memcpy(id->name, old, sizeof old);
    return rc;
}

void identity_free(identity *id)
{
    if (!id) return;
    sodium_free(id->sign_sk); /* sodium_free wipes before releasing */
    sodium_free(id->dh_sk);
    sodium_memzero(id, sizeof *id);
    free(id);
}

/* ---- accessors and auth ---- */

const char *identity_device_id(const identity *id)
{
    return id->device_id;
}
const char *identity_name(const identity *id)
{
    return id->name;
}
const uint8_t *identity_sign_pk(const identity *id)
{
    return id->sign_pk;
}
const uint8_t *identity_dh_pk(const identity *id)
{
    return id->dh_pk;
}
const uint8_t *identity_dh_sk(const identity *id)
{
    return id->dh_sk;
}
const uint8_t *identity_auth(const identity *id)
{
    return id->auth;
}

int identity_verify_auth(const uint8_t *auth, size_t len, const uint8_t remote_dh_pk[32],
                         uint8_t sign_pk_out[32], char id_out[DEVICE_ID_STRLEN], uh_err *err)
{
    uint8_t msg[AUTH_LABEL_LEN + 32];
    if (!auth || len != IDENTITY_AUTH_LEN)
        return err_setf(err, UH_EFORMAT, "peer auth payload is %zu bytes, expected %d", len,
                        IDENTITY_AUTH_LEN);
    memcpy(msg, AUTH_LABEL, AUTH_LABEL_LEN);
    memcpy(msg + AUTH_LABEL_LEN, remote_dh_pk, 32);
    if (crypto_sign_verify_detached(auth + 32, msg, sizeof msg, auth) != 0)
        return err_setf(err, UH_EFORMAT,
                        "peer's device key did not sign its transport key (bad signature)");
    if (sign_pk_out) memcpy(sign_pk_out, auth, 32);
    if (id_out) device_id_from_pk(auth, id_out);
    return UH_OK;
}
