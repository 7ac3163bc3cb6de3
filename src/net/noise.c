/* noise.c - the Noise Protocol Framework, revision 34, for 25519 / ChaChaPoly / SHA256 on
 * libsodium: CipherState, SymmetricState (MixKey, MixHash, MixKeyAndHash, EncryptAndHash,
 * DecryptAndHash, Split) and the HandshakeState for the patterns NN, XK, IK and XX.
 *
 * Nothing here is a primitive: X25519, ChaCha20-Poly1305 (IETF), SHA-256 and HMAC-SHA256 all
 * come from libsodium. HKDF is the Noise spec's own (HMAC chained with a one-byte counter), not
 * RFC 5869 with an info string. */
#include "net/noise.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* ---- CipherState ---- */

#define NONCE_MAX UINT64_MAX /* reserved for Rekey, never used for a message */

static void nonce_bytes(uint64_t n, uint8_t out[crypto_aead_chacha20poly1305_IETF_NPUBBYTES])
{
    memset(out, 0, 4);
    for (int i = 0; i < 8; i++) out[4 + i] = (uint8_t)(n >> (8 * i));
}

static void cipher_init_key(noise_cipher *c, const uint8_t k[NOISE_KEY_LEN])
{
    memcpy(c->k, k, NOISE_KEY_LEN);
    c->n = 0;
    c->has_key = 1;
}

int noise_cipher_encrypt(noise_cipher *c, const uint8_t *ad, size_t ad_len, const uint8_t *pt,
                         size_t len, uint8_t *out)
{
    if (!c->has_key) {
        if (len && out != pt) memmove(out, pt, len);
        return UH_OK;
    }
    if (c->n >= NONCE_MAX) return UH_ELIMIT;
    uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
    nonce_bytes(c->n, nonce);
    unsigned long long clen = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, pt, len, ad, ad_len, NULL, nonce, c->k);
    c->n++;
    return UH_OK;
}

int noise_cipher_decrypt(noise_cipher *c, const uint8_t *ad, size_t ad_len, const uint8_t *ct,
                         size_t ct_len, uint8_t *out)
{
    if (!c->has_key) {
        if (ct_len && out != ct) memmove(out, ct, ct_len);
        return UH_OK;
    }
    if (ct_len < NOISE_TAG_LEN) return UH_EFORMAT;
    if (c->n >= NONCE_MAX) return UH_ELIMIT;
    uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
    nonce_bytes(c->n, nonce);
    unsigned long long plen = 0;
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &plen, NULL, ct, ct_len, ad, ad_len, nonce,
                                                  c->k) != 0)
        return UH_EFORMAT;
    c->n++;
    return UH_OK;
}

void noise_cipher_rekey(noise_cipher *c)
{
    if (!c->has_key) return;
    uint8_t zeros[NOISE_KEY_LEN] = {0};
    uint8_t out[NOISE_KEY_LEN + NOISE_TAG_LEN];
    uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
    nonce_bytes(NONCE_MAX, nonce);
    unsigned long long clen = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, zeros, sizeof zeros, NULL, 0, NULL, nonce,
                                              c->k);
    memcpy(c->k, out, NOISE_KEY_LEN);
    sodium_memzero(out, sizeof out);
}

void noise_cipher_wipe(noise_cipher *c)
{
    if (c) sodium_memzero(c, sizeof *c);
}

/* ---- hash, HMAC, HKDF ---- */

static void hmac(const uint8_t *key, size_t key_len, const uint8_t *a, size_t a_len,
                 const uint8_t *b, size_t b_len, uint8_t out[NOISE_HASH_LEN])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, key_len);
    if (a_len) crypto_auth_hmacsha256_update(&st, a, a_len);
    if (b_len) crypto_auth_hmacsha256_update(&st, b, b_len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

/* HKDF(ck, ikm) with three outputs; out3 may be NULL when only two are wanted. */
static void hkdf(const uint8_t ck[NOISE_HASH_LEN], const uint8_t *ikm, size_t ikm_len,
                 uint8_t out1[NOISE_HASH_LEN], uint8_t out2[NOISE_HASH_LEN], uint8_t *out3)
{
    uint8_t temp[NOISE_HASH_LEN], o1[NOISE_HASH_LEN], o2[NOISE_HASH_LEN];
    const uint8_t one = 1, two = 2, three = 3;
    hmac(ck, NOISE_HASH_LEN, ikm, ikm_len, NULL, 0, temp);
    hmac(temp, sizeof temp, &one, 1, NULL, 0, o1);
    hmac(temp, sizeof temp, o1, sizeof o1, &two, 1, o2);
    if (out3) hmac(temp, sizeof temp, o2, sizeof o2, &three, 1, out3);
    memcpy(out1, o1, NOISE_HASH_LEN);
    memcpy(out2, o2, NOISE_HASH_LEN);
    sodium_memzero(temp, sizeof temp);
    sodium_memzero(o1, sizeof o1);
    sodium_memzero(o2, sizeof o2);
}

/* ---- SymmetricState ---- */

typedef struct {
    noise_cipher cs;
    uint8_t ck[NOISE_HASH_LEN];
    uint8_t h[NOISE_HASH_LEN];
} symmetric;

static void sym_init(symmetric *ss, const char *protocol_name)
{
    size_t n = strlen(protocol_name);
    memset(ss, 0, sizeof *ss);
    if (n <= NOISE_HASH_LEN)
        memcpy(ss->h, protocol_name, n);
    else
        crypto_hash_sha256(ss->h, (const uint8_t *)protocol_name, n);
    memcpy(ss->ck, ss->h, NOISE_HASH_LEN);
}

static void sym_mix_hash(symmetric *ss, const uint8_t *data, size_t len)
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, ss->h, NOISE_HASH_LEN);
    if (len) crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, ss->h);
}

static void sym_mix_key(symmetric *ss, const uint8_t *ikm, size_t ikm_len)
{
    uint8_t temp_k[NOISE_HASH_LEN];
    hkdf(ss->ck, ikm, ikm_len, ss->ck, temp_k, NULL);
    cipher_init_key(&ss->cs, temp_k);
    sodium_memzero(temp_k, sizeof temp_k);
}

/* Used by the psk modifier, which none of the four patterns here has; kept so that the
 * SymmetricState is complete. */
__attribute__((unused)) static void sym_mix_key_and_hash(symmetric *ss, const uint8_t *ikm,
                                                         size_t ikm_len)
{
    uint8_t temp_h[NOISE_HASH_LEN], temp_k[NOISE_HASH_LEN];
    hkdf(ss->ck, ikm, ikm_len, ss->ck, temp_h, temp_k);
    sym_mix_hash(ss, temp_h, sizeof temp_h);
    cipher_init_key(&ss->cs, temp_k);
    sodium_memzero(temp_h, sizeof temp_h);
    sodium_memzero(temp_k, sizeof temp_k);
}

/* out receives len (+ NOISE_TAG_LEN once keyed) bytes. */
static int sym_encrypt_and_hash(symmetric *ss, const uint8_t *pt, size_t len, uint8_t *out)
{
    int rc = noise_cipher_encrypt(&ss->cs, ss->h, NOISE_HASH_LEN, pt, len, out);
    if (rc) return rc;
    sym_mix_hash(ss, out, len + (ss->cs.has_key ? NOISE_TAG_LEN : 0));
    return UH_OK;
}

static int sym_decrypt_and_hash(symmetric *ss, const uint8_t *ct, size_t len, uint8_t *out)
{
    uint8_t h_before[NOISE_HASH_LEN];
    memcpy(h_before, ss->h, NOISE_HASH_LEN);
    sym_mix_hash(ss, ct, len); /* before decrypting, so that out may overwrite ct */
    int rc = noise_cipher_decrypt(&ss->cs, h_before, NOISE_HASH_LEN, ct, len, out);
    if (rc) memcpy(ss->h, h_before, NOISE_HASH_LEN);
    return rc;
}

/* ---- patterns ---- */

enum token { T_END = 0, T_E, T_S, T_EE, T_ES, T_SE, T_SS };

#define MAX_MSGS   3
#define MAX_TOKENS 5

typedef struct {
    const char *name;
    int resp_static_premsg; /* "<- s" before the handshake */
    int n_msgs;
    enum token msgs[MAX_MSGS][MAX_TOKENS];
} pattern_def;

static const pattern_def PATTERNS[] = {
    [NOISE_NN] = {"NN", 0, 2, {{T_E}, {T_E, T_EE}}},
    [NOISE_XK] = {"XK", 1, 3, {{T_E, T_ES}, {T_E, T_EE}, {T_S, T_SE}}},
    [NOISE_IK] = {"IK", 1, 2, {{T_E, T_ES, T_S, T_SS}, {T_E, T_EE, T_SE}}},
    [NOISE_XX] = {"XX", 0, 3, {{T_E}, {T_E, T_EE, T_S, T_ES}, {T_S, T_SE}}},
};

/* ---- HandshakeState ---- */

struct noise_hs {
    symmetric ss;
    const pattern_def *pat;
    enum noise_role role;
    int msg_index; /* next message, 0-based */
    int dead;      /* a failed read or write: every later call fails */
    int e_fixed;   /* ephemeral injected by a test */
    int has_s, has_e, has_rs, has_re;
    uint8_t s_priv[32], s_pub[32];
    uint8_t e_priv[32], e_pub[32];
    uint8_t rs[32], re[32];
};

void noise_keypair(uint8_t priv[32], uint8_t pub[32])
{
    if (sodium_init() < 0) abort(); /* no entropy source at all: nothing safe to do */
    randombytes_buf(priv, 32);
    priv[0] &= 248;
    priv[31] &= 127;
    priv[31] |= 64;
    crypto_scalarmult_base(pub, priv);
}

int noise_hs_new(enum noise_pattern p, enum noise_role r, const uint8_t *prologue,
                 size_t prologue_len, const uint8_t *s_priv, const uint8_t *rs_pub, noise_hs **out,
                 uh_err *err)
{
    *out = NULL;
    if ((unsigned)p > NOISE_XX || (r != NOISE_INITIATOR && r != NOISE_RESPONDER))
        return err_setf(err, UH_EINVAL, "noise: unknown pattern %d or role %d", (int)p, (int)r);
    const pattern_def *pd = &PATTERNS[p];
    int needs_s = p != NOISE_NN;
    int needs_rs = pd->resp_static_premsg && r == NOISE_INITIATOR;
    if (needs_s && !s_priv)
        return err_setf(err, UH_EINVAL, "noise %s: a static key is required", pd->name);
    if (needs_rs && !rs_pub)
        return err_setf(err, UH_EINVAL, "noise %s: the responder's static key is required",
                        pd->name);
    if (sodium_init() < 0) return err_setf(err, UH_EIO, "noise: libsodium failed to initialise");
    noise_hs *hs = sodium_malloc(sizeof *hs);
    if (!hs) return err_setf(err, UH_ENOMEM, "noise: out of memory");
    memset(hs, 0, sizeof *hs);
    hs->pat = pd;
    hs->role = r;
    char name[48];
    snprintf(name, sizeof name, "Noise_%s_25519_ChaChaPoly_SHA256", pd->name);
    sym_init(&hs->ss, name);
    sym_mix_hash(&hs->ss, prologue, prologue_len);
    if (s_priv && needs_s) {
        memcpy(hs->s_priv, s_priv, 32);
        crypto_scalarmult_base(hs->s_pub, hs->s_priv);
        hs->has_s = 1;
    }
    if (needs_rs) {
        memcpy(hs->rs, rs_pub, 32);
        hs->has_rs = 1;
    }
    if (pd->resp_static_premsg)
        sym_mix_hash(&hs->ss, r == NOISE_INITIATOR ? hs->rs : hs->s_pub, 32);
    *out = hs;
    return UH_OK;
}

void noise_hs_set_ephemeral(noise_hs *hs, const uint8_t e_priv[32])
{
    memcpy(hs->e_priv, e_priv, 32);
    hs->e_fixed = 1;
}

int noise_hs_done(const noise_hs *hs)
{
    return hs->msg_index >= hs->pat->n_msgs;
}

int noise_hs_wants_write(const noise_hs *hs)
{
    if (noise_hs_done(hs) || hs->dead) return 0;
    int initiator_turn = hs->msg_index % 2 == 0;
    return initiator_turn == (hs->role == NOISE_INITIATOR);
}

/* DH for a token as seen from our role; UH_EFORMAT for a low-order remote key. */
static int mix_dh(noise_hs *hs, enum token t)
{
    const uint8_t *priv, *pub;
    int init = hs->role == NOISE_INITIATOR;
    switch (t) {
    case T_EE:
        priv = hs->e_priv, pub = hs->re;
        break;
    case T_ES:
        priv = init ? hs->e_priv : hs->s_priv, pub = init ? hs->rs : hs->re;
        break;
    case T_SE:
        priv = init ? hs->s_priv : hs->e_priv, pub = init ? hs->re : hs->rs;
        break;
    default:
        priv = hs->s_priv, pub = hs->rs;
        break;
    }
    uint8_t shared[32];
    int rc = UH_OK;
    if (crypto_scalarmult(shared, priv, pub) != 0)
        rc = UH_EFORMAT;
    else
        sym_mix_key(&hs->ss, shared, sizeof shared);
    sodium_memzero(shared, sizeof shared);
    return rc;
}

/* Bytes of the next message's tokens (without payload) and whether the payload is encrypted. */
static size_t tokens_len(const noise_hs *hs, int *keyed)
{
    const enum token *tok = hs->pat->msgs[hs->msg_index];
    int k = hs->ss.cs.has_key;
    size_t n = 0;
    for (int i = 0; i < MAX_TOKENS && tok[i] != T_END; i++) {
        if (tok[i] == T_E)
            n += 32;
        else if (tok[i] == T_S)
            n += 32 + (k ? NOISE_TAG_LEN : 0);
        else
            k = 1;
    }
    *keyed = k;
    return n;
}

int noise_hs_write(noise_hs *hs, const uint8_t *payload, size_t payload_len, uint8_t *out,
                   size_t cap, size_t *out_len, uh_err *err)
{
    *out_len = 0;
    if (hs->dead) return err_setf(err, UH_EINVAL, "noise: the handshake has failed");
    if (!noise_hs_wants_write(hs))
        return err_setf(err, UH_EINVAL, "noise: not our turn to write (message %d)",
                        hs->msg_index + 1);
    int keyed;
    size_t fixed = tokens_len(hs, &keyed);
    size_t tag = keyed ? NOISE_TAG_LEN : 0;
    if (payload_len > NOISE_MAX_MSG || fixed + payload_len + tag > NOISE_MAX_MSG)
        return err_setf(err, UH_ELIMIT, "noise: message of %zu payload bytes too large",
                        payload_len);
    if (fixed + payload_len + tag > cap)
        return err_setf(err, UH_ELIMIT, "noise: output buffer of %zu bytes too small", cap);

    const enum token *tok = hs->pat->msgs[hs->msg_index];
    size_t at = 0;
    int rc = UH_OK;
    for (int i = 0; i < MAX_TOKENS && tok[i] != T_END && !rc; i++) {
        switch (tok[i]) {
        case T_E:
            if (!hs->e_fixed) randombytes_buf(hs->e_priv, 32);
            crypto_scalarmult_base(hs->e_pub, hs->e_priv);
            hs->has_e = 1;
            memcpy(out + at, hs->e_pub, 32);
            sym_mix_hash(&hs->ss, hs->e_pub, 32);
            at += 32;
            break;
        case T_S:
            rc = sym_encrypt_and_hash(&hs->ss, hs->s_pub, 32, out + at);
            at += 32 + (hs->ss.cs.has_key ? NOISE_TAG_LEN : 0);
            break;
        default:
            rc = mix_dh(hs, tok[i]);
            break;
        }
    }
    if (!rc) rc = sym_encrypt_and_hash(&hs->ss, payload, payload_len, out + at);
    if (rc) {
        hs->dead = 1;
        return err_setf(err, rc, "noise: writing handshake message %d failed", hs->msg_index + 1);
    }
    *out_len = at + payload_len + tag;
    hs->msg_index++;
    return UH_OK;
}

int noise_hs_read(noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload, size_t cap,
                  size_t *payload_len, uh_err *err)
{
    *payload_len = 0;
    if (hs->dead) return err_setf(err, UH_EINVAL, "noise: the handshake has failed");
    if (noise_hs_done(hs) || noise_hs_wants_write(hs))
        return err_setf(err, UH_EINVAL, "noise: not our turn to read (message %d)",
                        hs->msg_index + 1);
    int keyed;
    size_t fixed = tokens_len(hs, &keyed);
    size_t tag = keyed ? NOISE_TAG_LEN : 0;
    int msg_no = hs->msg_index + 1;
    if (len > NOISE_MAX_MSG || len < fixed + tag) {
        hs->dead = 1;
        return err_setf(err, UH_EFORMAT, "noise: handshake message %d of %zu bytes: need %zu..%d",
                        msg_no, len, fixed + tag, NOISE_MAX_MSG);
    }
    size_t plen = len - fixed - tag;
    if (plen > cap) {
        hs->dead = 1;
        return err_setf(err, UH_ELIMIT, "noise: handshake message %d payload of %zu bytes over %zu",
                        msg_no, plen, cap);
    }

    const enum token *tok = hs->pat->msgs[hs->msg_index];
    size_t at = 0;
    int rc = UH_OK;
    for (int i = 0; i < MAX_TOKENS && tok[i] != T_END && !rc; i++) {
        switch (tok[i]) {
        case T_E:
            memcpy(hs->re, msg + at, 32);
            hs->has_re = 1;
            sym_mix_hash(&hs->ss, hs->re, 32);
            at += 32;
            break;
        case T_S: {
            size_t n = 32 + (hs->ss.cs.has_key ? NOISE_TAG_LEN : 0);
            rc = sym_decrypt_and_hash(&hs->ss, msg + at, n, hs->rs);
            if (!rc) hs->has_rs = 1;
            at += n;
            break;
        }
        default:
            rc = mix_dh(hs, tok[i]);
            break;
        }
    }
    if (!rc) {
        if (plen) {
            rc = sym_decrypt_and_hash(&hs->ss, msg + at, plen + tag, payload);
        } else {
            uint8_t none[1];
            rc = sym_decrypt_and_hash(&hs->ss, msg + at, tag, none);
        }
    }
    if (rc) {
        hs->dead = 1;
        if (plen) sodium_memzero(payload, plen);
        return err_setf(err, UH_EFORMAT, "noise: handshake message %d is not authentic", msg_no);
    }
    *payload_len = plen;
    hs->msg_index++;
    return UH_OK;
}

const uint8_t *noise_hs_remote_static(const noise_hs *hs)
{
    return hs->has_rs ? hs->rs : NULL;
}

void noise_hs_hash(const noise_hs *hs, uint8_t out[NOISE_HASH_LEN])
{
    memcpy(out, hs->ss.h, NOISE_HASH_LEN);
}

int noise_hs_split(noise_hs *hs, noise_cipher *send, noise_cipher *recv)
{
    if (hs->dead || !noise_hs_done(hs)) return UH_EINVAL;
    uint8_t k1[NOISE_HASH_LEN], k2[NOISE_HASH_LEN];
    hkdf(hs->ss.ck, NULL, 0, k1, k2, NULL);
    noise_cipher *c1 = hs->role == NOISE_INITIATOR ? send : recv;
    noise_cipher *c2 = hs->role == NOISE_INITIATOR ? recv : send;
    cipher_init_key(c1, k1);
    cipher_init_key(c2, k2);
    sodium_memzero(k1, sizeof k1);
    sodium_memzero(k2, sizeof k2);
    return UH_OK;
}

void noise_hs_free(noise_hs *hs)
{
    if (!hs) return;
    sodium_memzero(hs, sizeof *hs);
    sodium_free(hs);
}
