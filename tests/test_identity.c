/* test_identity.c - the device key file, device ids and the signed transport key (identity.h). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "check.h"
#include "cluster/identity.h"

static char g_dir[256];

static void fresh_dir(char *out, size_t cap)
{
    static int seq;
    snprintf(out, cap, "%s/d%d", g_dir, seq++);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0) return;
    if (write(fd, text, strlen(text)) < 0) perror("write");
    fchmod(fd, mode);
    close(fd);
}

static void identity_created_then_reloaded_with_same_id(void)
{
    char dir[300], path[400], first[DEVICE_ID_STRLEN];
    uh_err err = {0};
    identity *a = NULL, *b = NULL;
    fresh_dir(dir, sizeof dir);
    CHECK(identity_load(dir, &a, &err) == 0);
    if (!a) return;
    snprintf(first, sizeof first, "%s", identity_device_id(a));
    CHECK(strlen(identity_name(a)) > 0);
    CHECK(identity_load(dir, &b, &err) == 0);
    if (b) {
        CHECK(strcmp(identity_device_id(b), first) == 0);
        CHECK(memcmp(identity_dh_pk(a), identity_dh_pk(b), 32) == 0);
        CHECK(memcmp(identity_auth(a), identity_auth(b), IDENTITY_AUTH_LEN) == 0);
    }
    struct stat st;
    snprintf(path, sizeof path, "%s/identity.key", dir);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    identity_free(a);
    identity_free(b);
}

static void group_readable_key_refused(void)
{
    char dir[300], path[400];
    uh_err err = {0};
    identity *a = NULL;
    fresh_dir(dir, sizeof dir);
    CHECK(identity_load(dir, &a, &err) == 0);
    identity_free(a);
    a = NULL;
    snprintf(path, sizeof path, "%s/identity.key", dir);
    chmod(path, 0640);
    CHECK(identity_load(dir, &a, &err) == UH_EINVAL);
    CHECK(a == NULL);
    CHECKF(strstr(err.msg, "chmod 600") && strstr(err.msg, path), "%s", err.msg);
}

static void malformed_key_refused_and_left_alone(void)
{
    static const char *const bad[] = {
        "not json",
        "{\"version\":1,\"sign_sk\":\"AAAA\",\"dh_sk\":\"AAAA\",\"name\":\"x\"}",
        "{\"version\":2}",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char dir[300], path[400];
        uh_err err = {0};
        identity *a = NULL;
        fresh_dir(dir, sizeof dir);
        mkdir(dir, 0700);
        snprintf(path, sizeof path, "%s/identity.key", dir);
        write_text(path, bad[i], 0600);
        CHECKF(identity_load(dir, &a, &err) == UH_EFORMAT, "case %zu", i);
        CHECK(a == NULL);
        CHECKF(strstr(err.msg, path) && strstr(err.msg, "malformed"), "%s", err.msg);
        char *after = t_read_file(path, NULL);
        CHECK(after && strcmp(after, bad[i]) == 0);
        free(after);
    }
}

static void key_with_mismatched_public_half_refused(void)
{
    char dir[300], path[400];
    uh_err err = {0};
    identity *a = NULL;
    fresh_dir(dir, sizeof dir);
    CHECK(identity_load(dir, &a, &err) == 0);
    identity_free(a);
    a = NULL;
    snprintf(path, sizeof path, "%s/identity.key", dir);
    char *text = t_read_file(path, NULL);
    if (!text) return;
    /* flip one base64 character of sign_sk near its end (the public half) */
    char *p = strstr(text, "\"sign_sk\"");
    char *open_quote = p ? strchr(p + 9, '"') : NULL;
    char *q = open_quote ? strchr(open_quote + 1, '"') : NULL;
    if (q) {
        q[-3] = q[-3] == 'A' ? 'B' : 'A';
        write_text(path, text, 0600);
        CHECK(identity_load(dir, &a, &err) == UH_EFORMAT);
        CHECKF(strstr(err.msg, "sign_sk"), "%s", err.msg);
    }
    free(text);
}

/* An independent Luhn mod 32 check (Syncthing's variant: weights 1, 2, 1, ... from the left). */
static int valid_luhn_group(const char *s)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    int factor = 1, sum = 0;
    for (int i = 0; i < 13; i++) {
        const char *c = s[i] ? strchr(alpha, s[i]) : NULL;
        if (!c) return 0;
        int a = factor * (int)(c - alpha);
        factor = 3 - factor;
        sum += a / 32 + a % 32;
    }
    return s[13] == alpha[(32 - sum % 32) % 32];
}

static void device_id_format(void)
{
    uint8_t pk[32], sk[64];
    char id[DEVICE_ID_STRLEN], canon[DEVICE_ID_STRLEN];
    uh_err err = {0};
    crypto_sign_keypair(pk, sk);
    device_id_from_pk(pk, id);
    CHECK(strlen(id) == 63);
    for (int g = 0; g < 8; g++) {
        for (int k = 0; k < 7; k++)
            CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", id[g * 8 + k]));
        if (g < 7) CHECK(id[g * 8 + 7] == '-');
    }
    char flat[57];
    size_t n = 0;
    for (const char *p = id; *p; p++)
        if (*p != '-') flat[n++] = *p;
    flat[n] = 0;
    CHECK(n == 56);
    for (int g = 0; g < 4; g++) CHECK(valid_luhn_group(flat + g * 14));
    CHECK(device_id_parse(id, canon, &err) == 0 && strcmp(canon, id) == 0);
}

/* The formatted id and its typed variants from Syncthing's published device id tests: our check
 * characters must agree with theirs. */
static void device_id_parse_tolerant_forms(void)
{
    static const char *const forms[] = {
        "P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2",
        "P56IOI7 MZJNU2Y IQGDREY DM2MGTI MGL3BXN PQ6W5BM TBBZ4TJ XZWICQ2",
        "P56IOI7MZJNU2YIQGDREYDM2MGTIMGL3BXNPQ6W5BMTBBZ4TJXZWICQ2",
        "P561017MZJNU2YIQGDREYDM2MGTIMGL3BXNPQ6W5BMT88Z4TJXZWICQ2",
        "p56ioi7mzjnu2yiqgdreydm2mgtimgl3bxnpq6w5bmtbbz4tjxzwicq2",
        "p561017mzjnu2yiqgdreydm2mgtimgl3bxnpq6w5bmt88z4tjxzwicq2",
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char out[DEVICE_ID_STRLEN] = {0};
        uh_err err = {0};
        CHECKF(device_id_parse(forms[i], out, &err) == 0, "%s: %s", forms[i], err.msg);
        CHECK(strcmp(out, forms[0]) == 0);
    }
}

static void device_id_parse_rejects_typos(void)
{
    uint8_t pk[32], sk[64];
    char id[DEVICE_ID_STRLEN], out[DEVICE_ID_STRLEN];
    uh_err err = {0};
    crypto_sign_keypair(pk, sk);
    device_id_from_pk(pk, id);
    /* change one character in every position: the group's check character catches it */
    for (size_t i = 0; i < 63; i++) {
        if (id[i] == '-') continue;
        char typo[DEVICE_ID_STRLEN];
        memcpy(typo, id, sizeof typo);
        typo[i] = typo[i] == 'Q' ? 'R' : 'Q';
        CHECKF(device_id_parse(typo, out, &err) == UH_EINVAL, "position %zu", i);
    }
    CHECK(strstr(err.msg, "mistyped"));
    /* no check characters, too long, foreign characters */
    CHECK(device_id_parse("P56IOI7MZJNU2IQGDREYDM2MGTMGL3BXNPQ6W5BTBBZ4TJXZWICQ", out, &err) ==
          UH_EINVAL);
    CHECK(device_id_parse("P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2A", out,
                          &err) == UH_EINVAL);
    CHECK(device_id_parse("P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWIC@2", out,
                          &err) == UH_EINVAL);
    CHECK(device_id_parse("", out, &err) == UH_EINVAL);
}

static void auth_payload_verifies(void)
{
    char dir[300], id_out[DEVICE_ID_STRLEN];
    uint8_t pk_out[32], auth[IDENTITY_AUTH_LEN], other[32];
    uh_err err = {0};
    identity *a = NULL;
    fresh_dir(dir, sizeof dir);
    CHECK(identity_load(dir, &a, &err) == 0);
    if (!a) return;
    memcpy(auth, identity_auth(a), sizeof auth);
    CHECK(identity_verify_auth(auth, sizeof auth, identity_dh_pk(a), pk_out, id_out, &err) == 0);
    CHECK(memcmp(pk_out, identity_sign_pk(a), 32) == 0);
    CHECK(strcmp(id_out, identity_device_id(a)) == 0);
    /* another transport key than the one signed */
    memcpy(other, identity_dh_pk(a), 32);
    other[5] ^= 1;
    CHECK(identity_verify_auth(auth, sizeof auth, other, pk_out, id_out, &err) == UH_EFORMAT);
    /* one flipped signature bit */
    auth[40] ^= 0x10;
    CHECK(identity_verify_auth(auth, sizeof auth, identity_dh_pk(a), pk_out, id_out, &err) ==
          UH_EFORMAT);
    auth[40] ^= 0x10;
    CHECK(identity_verify_auth(auth, sizeof auth - 1, identity_dh_pk(a), pk_out, id_out, &err) ==
          UH_EFORMAT);
    identity_free(a);
}

static void name_change_persists(void)
{
    char dir[300];
    uh_err err = {0};
    identity *a = NULL, *b = NULL;
    fresh_dir(dir, sizeof dir);
    CHECK(identity_load(dir, &a, &err) == 0);
    if (!a) return;
    CHECK(identity_set_name(a, "kitchen laptop", &err) == 0);
    CHECK(identity_set_name(a, "bad\nname", &err) == UH_EINVAL);
    CHECK(identity_set_name(a, "", &err) == UH_EINVAL);
    CHECK(strcmp(identity_name(a), "kitchen laptop") == 0);
    CHECK(identity_load(dir, &b, &err) == 0);
    if (b) {
        CHECK(strcmp(identity_name(b), "kitchen laptop") == 0);
        CHECK(strcmp(identity_device_id(b), identity_device_id(a)) == 0);
    }
    char path[400];
    struct stat st;
    snprintf(path, sizeof path, "%s/identity.key", dir);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    identity_free(a);
    identity_free(b);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    if (sodium_init() < 0) return 1;
    snprintf(g_dir, sizeof g_dir, "/tmp/uh_test_identity.XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    T_RUN(identity_created_then_reloaded_with_same_id);
    T_RUN(group_readable_key_refused);
    T_RUN(malformed_key_refused_and_left_alone);
    T_RUN(key_with_mismatched_public_half_refused);
    T_RUN(device_id_format);
    T_RUN(device_id_parse_tolerant_forms);
    T_RUN(device_id_parse_rejects_typos);
    T_RUN(auth_payload_verifies);
    T_RUN(name_change_persists);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) printf("  could not remove %s\n", g_dir);
    return t_exit();
}
