/* test_noise.c - the Noise implementation against every published cacophony vector of
 * 25519/ChaChaPoly/SHA256 (NN, XK, IK, XX), then the failure modes: tampering, turn order,
 * low-order keys, caps, rekey and nonce exhaustion. */
#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdint.h>

#include "check.h"
#include "net/noise.h"

#define MSG_CAP (NOISE_MAX_MSG + 1)

static uint8_t g_a[MSG_CAP], g_b[MSG_CAP];

/* Decodes the hex string item `name` of o into out (cap bytes); returns its length or -1. */
static int hex_field(const cJSON *o, const char *name, uint8_t *out, size_t cap)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(it)) return -1;
    const char *s = it->valuestring;
    size_t n = strlen(s);
    if (n % 2 || n / 2 > cap) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    return (int)(n / 2);
}

static int pattern_of(const char *name, enum noise_pattern *p)
{
    static const char *names[] = {"NN", "XK", "IK", "XX"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, names[i])) {
            *p = (enum noise_pattern)i;
            return 0;
        }
    return -1;
}

/* Runs one vector: every message byte for byte, every payload back. Returns the number of
 * messages checked. */
static int run_vector(const cJSON *v)
{
    const cJSON *jpat = cJSON_GetObjectItemCaseSensitive(v, "pattern");
    enum noise_pattern pat;
    CHECK(cJSON_IsString(jpat) && pattern_of(jpat->valuestring, &pat) == 0);
    if (!cJSON_IsString(jpat) || pattern_of(jpat->valuestring, &pat)) return 0;
    const char *name = jpat->valuestring;

    uint8_t ipro[256], rpro[256], is[32], rs[32], irs[32], ie[32], re[32];
    int ipro_len = hex_field(v, "init_prologue", ipro, sizeof ipro);
    int rpro_len = hex_field(v, "resp_prologue", rpro, sizeof rpro);
    int has_is = hex_field(v, "init_static", is, 32) == 32;
    int has_rs = hex_field(v, "resp_static", rs, 32) == 32;
    int has_irs = hex_field(v, "init_remote_static", irs, 32) == 32;
    CHECK(ipro_len >= 0 && rpro_len >= 0);
    CHECK(hex_field(v, "init_ephemeral", ie, 32) == 32);
    CHECK(hex_field(v, "resp_ephemeral", re, 32) == 32);

    noise_hs *hi = NULL, *hr = NULL;
    uh_err err = {0};
    CHECKF(noise_hs_new(pat, NOISE_INITIATOR, ipro, (size_t)ipro_len, has_is ? is : NULL,
                        has_irs ? irs : NULL, &hi, &err) == 0,
           "%s: %s", name, err.msg);
    CHECKF(noise_hs_new(pat, NOISE_RESPONDER, rpro, (size_t)rpro_len, has_rs ? rs : NULL, NULL, &hr,
                        &err) == 0,
           "%s: %s", name, err.msg);
    if (!hi || !hr) goto done;
    noise_hs_set_ephemeral(hi, ie);
    noise_hs_set_ephemeral(hr, re);

    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(v, "messages");
    CHECK(cJSON_IsArray(msgs) && cJSON_GetArraySize(msgs) > 0);
    noise_cipher i_tx = {0}, i_rx = {0}, r_tx = {0}, r_rx = {0};
    int n_checked = 0, transport_i = 0, split = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        static uint8_t payload[MSG_CAP], want_ct[MSG_CAP];
        int plen = hex_field(m, "payload", payload, sizeof payload);
        int clen = hex_field(m, "ciphertext", want_ct, sizeof want_ct);
        CHECK(plen >= 0 && clen >= 0);
        if (plen < 0 || clen < 0) break;
        size_t out_len = 0, got_len = 0;
        if (!noise_hs_done(hi)) {
            int from_init = noise_hs_wants_write(hi);
            CHECK(from_init == !noise_hs_wants_write(hr));
            noise_hs *w = from_init ? hi : hr, *r = from_init ? hr : hi;
            CHECKF(noise_hs_write(w, payload, (size_t)plen, g_a, sizeof g_a, &out_len, &err) == 0,
                   "%s msg %d: %s", name, n_checked, err.msg);
            CHECKF(out_len == (size_t)clen && !memcmp(g_a, want_ct, out_len),
                   "%s handshake message %d differs", name, n_checked);
            CHECKF(noise_hs_read(r, g_a, out_len, g_b, sizeof g_b, &got_len, &err) == 0,
                   "%s msg %d: %s", name, n_checked, err.msg);
            CHECK(got_len == (size_t)plen && !memcmp(g_b, payload, got_len));
        } else {
            if (!split) {
                CHECK(noise_hs_done(hr));
                CHECK(noise_hs_split(hi, &i_tx, &i_rx) == 0);
                CHECK(noise_hs_split(hr, &r_tx, &r_rx) == 0);
                uint8_t h1[32], h2[32];
                noise_hs_hash(hi, h1);
                noise_hs_hash(hr, h2);
                CHECKF(!memcmp(h1, h2, 32), "%s handshake hashes differ", name);
                uint8_t want_h[32];
                if (hex_field(v, "handshake_hash", want_h, 32) == 32)
                    CHECKF(!memcmp(h1, want_h, 32), "%s handshake hash differs", name);
                split = 1;
            }
            /* the vectors alternate senders over the whole list: after a three-message
             * handshake the responder sends the first transport message */
            int from_init = n_checked % 2 == 0;
            transport_i++;
            noise_cipher *tx = from_init ? &i_tx : &r_tx, *rx = from_init ? &r_rx : &i_rx;
            CHECK(noise_cipher_encrypt(tx, NULL, 0, payload, (size_t)plen, g_a) == 0);
            CHECKF((size_t)clen == (size_t)plen + NOISE_TAG_LEN && !memcmp(g_a, want_ct, clen),
                   "%s transport message %d differs", name, n_checked);
            CHECK(noise_cipher_decrypt(rx, NULL, 0, g_a, (size_t)clen, g_b) == 0);
            CHECK(!memcmp(g_b, payload, (size_t)plen));
        }
        n_checked++;
    }
    CHECKF(split && transport_i > 0, "%s: no transport messages", name);
    /* who the other side is */
    if (has_is && pat != NOISE_NN) {
        uint8_t pub[32];
        crypto_scalarmult_base(pub, is);
        CHECK(noise_hs_remote_static(hr) && !memcmp(noise_hs_remote_static(hr), pub, 32));
    }
    if (pat == NOISE_NN) CHECK(noise_hs_remote_static(hi) == NULL);
    noise_cipher_wipe(&i_tx);
    noise_cipher_wipe(&i_rx);
    noise_cipher_wipe(&r_tx);
    noise_cipher_wipe(&r_rx);
    noise_hs_free(hi);
    noise_hs_free(hr);
    return n_checked;
done:
    noise_hs_free(hi);
    noise_hs_free(hr);
    return 0;
}

static void test_cacophony_vectors(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/noise/cacophony-25519-chachapoly-sha256.json", t_testdata());
    char *text = t_read_file(path, NULL);
    CHECKF(text != NULL, "cannot read %s", path);
    if (!text) return;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *vecs = cJSON_GetObjectItemCaseSensitive(root, "vectors");
    CHECK(cJSON_IsArray(vecs));
    int seen[4] = {0}, n_vec = 0, n_msgs = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, vecs)
    {
        const cJSON *jp = cJSON_GetObjectItemCaseSensitive(v, "pattern");
        enum noise_pattern p;
        if (cJSON_IsString(jp) && !pattern_of(jp->valuestring, &p)) seen[p]++;
        n_msgs += run_vector(v);
        n_vec++;
    }
    CHECK(n_vec >= 4);
    for (int i = 0; i < 4; i++) CHECKF(seen[i] > 0, "no vector for pattern %d", i);
    CHECK(n_msgs >= 4 * 4);
    cJSON_Delete(root);
}

/* ---- behaviour beyond the vectors ---- */

typedef struct {
    uint8_t is[32], ip[32], rs[32], rp[32];
    noise_hs *hi, *hr;
} pair;

static const uint8_t PROLOGUE[] = "unhosted/1 test";

static void pair_new(pair *p, enum noise_pattern pat)
{
    memset(p, 0, sizeof *p);
    noise_keypair(p->is, p->ip);
    noise_keypair(p->rs, p->rp);
    const uint8_t *rs_pub = pat == NOISE_XK || pat == NOISE_IK ? p->rp : NULL;
    CHECK(noise_hs_new(pat, NOISE_INITIATOR, PROLOGUE, sizeof PROLOGUE, p->is, rs_pub, &p->hi,
                       NULL) == 0);
    CHECK(noise_hs_new(pat, NOISE_RESPONDER, PROLOGUE, sizeof PROLOGUE, p->rs, NULL, &p->hr,
                       NULL) == 0);
}

static void pair_free(pair *p)
{
    noise_hs_free(p->hi);
    noise_hs_free(p->hr);
}

/* One message from w to r with a short payload; returns the read's result. */
static int step(noise_hs *w, noise_hs *r)
{
    size_t n = 0, pn = 0;
    if (noise_hs_write(w, (const uint8_t *)"hi", 2, g_a, sizeof g_a, &n, NULL)) return -100;
    return noise_hs_read(r, g_a, n, g_b, sizeof g_b, &pn, NULL);
}

static void test_xx_roundtrip_keys_and_hash(void)
{
    pair p;
    pair_new(&p, NOISE_XX);
    CHECK(noise_hs_remote_static(p.hi) == NULL);
    CHECK(step(p.hi, p.hr) == 0);
    CHECK(step(p.hr, p.hi) == 0);
    CHECK(!noise_hs_done(p.hi));
    CHECK(step(p.hi, p.hr) == 0);
    CHECK(noise_hs_done(p.hi) && noise_hs_done(p.hr));
    CHECK(!noise_hs_wants_write(p.hi) && !noise_hs_wants_write(p.hr));
    CHECK(!memcmp(noise_hs_remote_static(p.hi), p.rp, 32));
    CHECK(!memcmp(noise_hs_remote_static(p.hr), p.ip, 32));
    uint8_t h1[32], h2[32];
    noise_hs_hash(p.hi, h1);
    noise_hs_hash(p.hr, h2);
    CHECK(!memcmp(h1, h2, 32));
    pair_free(&p);
}

static void test_tampered_message_kills_handshake(void)
{
    for (int pat = 0; pat < 4; pat++) {
        pair p;
        pair_new(&p, (enum noise_pattern)pat);
        size_t n = 0, pn = 0;
        CHECK(step(p.hi, p.hr) == 0);
        CHECK(noise_hs_write(p.hr, (const uint8_t *)"x", 1, g_a, sizeof g_a, &n, NULL) == 0);
        g_a[n - 1] ^= 0x40; /* the tag */
        CHECKF(noise_hs_read(p.hi, g_a, n, g_b, sizeof g_b, &pn, NULL) == UH_EFORMAT, "pat %d",
               pat);
        g_a[n - 1] ^= 0x40; /* even the genuine message is refused now */
        CHECK(noise_hs_read(p.hi, g_a, n, g_b, sizeof g_b, &pn, NULL) != 0);
        CHECK(noise_hs_write(p.hi, NULL, 0, g_a, sizeof g_a, &n, NULL) != 0);
        noise_cipher a, b;
        CHECK(noise_hs_split(p.hi, &a, &b) == UH_EINVAL);
        pair_free(&p);
    }
    /* a truncated first message (no full ephemeral key) */
    pair p;
    pair_new(&p, NOISE_XX);
    size_t pn = 0;
    CHECK(noise_hs_read(p.hr, g_a, 31, g_b, sizeof g_b, &pn, NULL) == UH_EFORMAT);
    pair_free(&p);
    /* IK: the encrypted static in message 1 altered */
    pair_new(&p, NOISE_IK);
    size_t n = 0;
    CHECK(noise_hs_write(p.hi, NULL, 0, g_a, sizeof g_a, &n, NULL) == 0);
    g_a[40] ^= 1;
    CHECK(noise_hs_read(p.hr, g_a, n, g_b, sizeof g_b, &pn, NULL) == UH_EFORMAT);
    CHECK(noise_hs_remote_static(p.hr) == NULL);
    pair_free(&p);
}

static void test_out_of_turn(void)
{
    pair p;
    pair_new(&p, NOISE_XX);
    size_t n = 0, pn = 0;
    uh_err err = {0};
    CHECK(noise_hs_read(p.hi, g_a, 64, g_b, sizeof g_b, &pn, &err) == UH_EINVAL);
    CHECK(noise_hs_write(p.hr, NULL, 0, g_a, sizeof g_a, &n, &err) == UH_EINVAL);
    noise_cipher a, b;
    CHECK(noise_hs_split(p.hi, &a, &b) == UH_EINVAL);
    /* an out-of-turn call does not kill the handshake */
    CHECK(step(p.hi, p.hr) == 0);
    CHECK(step(p.hr, p.hi) == 0);
    CHECK(step(p.hi, p.hr) == 0);
    CHECK(noise_hs_write(p.hi, NULL, 0, g_a, sizeof g_a, &n, &err) == UH_EINVAL);
    CHECK(noise_hs_read(p.hi, g_a, 64, g_b, sizeof g_b, &pn, &err) == UH_EINVAL);
    pair_free(&p);
    /* missing keys */
    noise_hs *hs = NULL;
    CHECK(noise_hs_new(NOISE_XX, NOISE_INITIATOR, NULL, 0, NULL, NULL, &hs, &err) == UH_EINVAL);
    uint8_t k[32] = {1};
    CHECK(noise_hs_new(NOISE_IK, NOISE_INITIATOR, NULL, 0, k, NULL, &hs, &err) == UH_EINVAL);
    CHECK(hs == NULL);
}

static void test_low_order_keys_refused(void)
{
    /* XX: an all-zero ephemeral from the initiator makes the responder's ee fail */
    pair p;
    pair_new(&p, NOISE_XX);
    size_t n = 0, pn = 0;
    memset(g_a, 0, 32);
    CHECK(noise_hs_read(p.hr, g_a, 32, g_b, sizeof g_b, &pn, NULL) == 0);
    CHECK(noise_hs_write(p.hr, NULL, 0, g_a, sizeof g_a, &n, NULL) == UH_EFORMAT);
    CHECK(noise_hs_write(p.hr, NULL, 0, g_a, sizeof g_a, &n, NULL) != 0);
    pair_free(&p);
    /* IK: es on the responder's read */
    pair_new(&p, NOISE_IK);
    CHECK(noise_hs_write(p.hi, NULL, 0, g_a, sizeof g_a, &n, NULL) == 0);
    memset(g_a, 0, 32);
    CHECK(noise_hs_read(p.hr, g_a, n, g_b, sizeof g_b, &pn, NULL) == UH_EFORMAT);
    pair_free(&p);
    /* XK: a low-order responder static given to the initiator */
    uint8_t s[32], pub[32], zero[32] = {0};
    noise_keypair(s, pub);
    noise_hs *hs = NULL;
    CHECK(noise_hs_new(NOISE_XK, NOISE_INITIATOR, NULL, 0, s, zero, &hs, NULL) == 0);
    CHECK(noise_hs_write(hs, NULL, 0, g_a, sizeof g_a, &n, NULL) == UH_EFORMAT);
    noise_hs_free(hs);
}

static void test_caps(void)
{
    pair p;
    pair_new(&p, NOISE_XX);
    size_t n = 0, pn = 0;
    /* too small an output buffer changes nothing */
    CHECK(noise_hs_write(p.hi, (const uint8_t *)"abc", 3, g_a, 34, &n, NULL) == UH_ELIMIT);
    CHECK(noise_hs_write(p.hi, (const uint8_t *)"abc", 3, g_a, 35, &n, NULL) == 0 && n == 35);
    /* a payload larger than the reader's cap */
    CHECK(noise_hs_read(p.hr, g_a, n, g_b, 2, &pn, NULL) == UH_ELIMIT);
    pair_free(&p);
    pair_new(&p, NOISE_XX);
    static uint8_t big[NOISE_MAX_MSG];
    CHECK(noise_hs_write(p.hi, big, NOISE_MAX_MSG - 31, g_a, sizeof g_a, &n, NULL) == UH_ELIMIT);
    CHECK(noise_hs_write(p.hi, big, NOISE_MAX_MSG - 32, g_a, sizeof g_a, &n, NULL) == 0);
    CHECK(n == NOISE_MAX_MSG);
    CHECK(noise_hs_read(p.hr, g_a, n, g_b, sizeof g_b, &pn, NULL) == 0 && pn == NOISE_MAX_MSG - 32);
    pair_free(&p);
}

static void split_xx(noise_cipher *itx, noise_cipher *irx, noise_cipher *rtx, noise_cipher *rrx)
{
    pair p;
    pair_new(&p, NOISE_XX);
    CHECK(step(p.hi, p.hr) == 0);
    CHECK(step(p.hr, p.hi) == 0);
    CHECK(step(p.hi, p.hr) == 0);
    CHECK(noise_hs_split(p.hi, itx, irx) == 0);
    CHECK(noise_hs_split(p.hr, rtx, rrx) == 0);
    pair_free(&p);
}

static void test_rekey_in_step(void)
{
    noise_cipher itx, irx, rtx, rrx;
    split_xx(&itx, &irx, &rtx, &rrx);
    uint8_t pt[40], ct[sizeof pt + NOISE_TAG_LEN], back[sizeof pt];
    for (int i = 0; i < 10; i++) {
        memset(pt, i, sizeof pt);
        if (i % 3 == 2) {
            noise_cipher_rekey(&itx);
            noise_cipher_rekey(&rrx);
        }
        CHECK(noise_cipher_encrypt(&itx, NULL, 0, pt, sizeof pt, ct) == 0);
        CHECK(noise_cipher_decrypt(&rrx, NULL, 0, ct, sizeof ct, back) == 0);
        CHECK(!memcmp(pt, back, sizeof pt));
    }
    /* a rekey on one side only: the other cannot decrypt, and its nonce stays put */
    noise_cipher_rekey(&itx);
    CHECK(noise_cipher_encrypt(&itx, NULL, 0, pt, sizeof pt, ct) == 0);
    uint64_t n_before = rrx.n;
    CHECK(noise_cipher_decrypt(&rrx, NULL, 0, ct, sizeof ct, back) == UH_EFORMAT);
    CHECK(rrx.n == n_before);
    noise_cipher_rekey(&rrx);
    CHECK(noise_cipher_decrypt(&rrx, NULL, 0, ct, sizeof ct, back) == 0);
    /* in-place encryption and a tampered transport message */
    memcpy(ct, pt, sizeof pt);
    CHECK(noise_cipher_encrypt(&rtx, NULL, 0, ct, sizeof pt, ct) == 0);
    ct[3] ^= 1;
    CHECK(noise_cipher_decrypt(&irx, NULL, 0, ct, sizeof ct, back) == UH_EFORMAT);
    ct[3] ^= 1;
    CHECK(noise_cipher_decrypt(&irx, NULL, 0, ct, sizeof ct, ct) == 0);
    CHECK(!memcmp(ct, pt, sizeof pt));
    CHECK(noise_cipher_decrypt(&irx, NULL, 0, ct, 15, back) == UH_EFORMAT);
    noise_cipher_wipe(&itx);
    CHECK(!itx.has_key && itx.n == 0);
    noise_cipher_wipe(&irx);
    noise_cipher_wipe(&rtx);
    noise_cipher_wipe(&rrx);
}

static void test_nonce_exhaustion(void)
{
    noise_cipher itx, irx, rtx, rrx;
    split_xx(&itx, &irx, &rtx, &rrx);
    uint8_t pt[8] = "12345678", ct[sizeof pt + NOISE_TAG_LEN], back[sizeof pt];
    itx.n = UINT64_MAX - 1;
    rrx.n = UINT64_MAX - 1;
    CHECK(noise_cipher_encrypt(&itx, NULL, 0, pt, sizeof pt, ct) == 0);
    CHECK(noise_cipher_decrypt(&rrx, NULL, 0, ct, sizeof ct, back) == 0);
    CHECK(itx.n == UINT64_MAX && rrx.n == UINT64_MAX);
    CHECK(noise_cipher_encrypt(&itx, NULL, 0, pt, sizeof pt, ct) == UH_ELIMIT);
    CHECK(noise_cipher_decrypt(&rrx, NULL, 0, ct, sizeof ct, back) == UH_ELIMIT);
    /* no key: plaintext through */
    noise_cipher none = {0};
    CHECK(noise_cipher_encrypt(&none, NULL, 0, pt, sizeof pt, back) == 0);
    CHECK(!memcmp(back, pt, sizeof pt) && none.n == 0);
    noise_cipher_wipe(&itx);
    noise_cipher_wipe(&irx);
    noise_cipher_wipe(&rtx);
    noise_cipher_wipe(&rrx);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    T_RUN(test_cacophony_vectors);
    T_RUN(test_xx_roundtrip_keys_and_hash);
    T_RUN(test_tampered_message_kills_handshake);
    T_RUN(test_out_of_turn);
    T_RUN(test_low_order_keys_refused);
    T_RUN(test_caps);
    T_RUN(test_rekey_in_step);
    T_RUN(test_nonce_exhaustion);
    return t_exit();
}
