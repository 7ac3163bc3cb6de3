/* cpace.c - CPace over ristretto255 and SHA-512 (cpace.h; draft-irtf-cfrg-cpace). */
#include "cluster/cpace.h"

#include <string.h>

#include <sodium.h>

#include "base/err.h"

#define CPACE_DSI     "CPaceRistretto255"
#define CPACE_DSI_ISK "CPaceRistretto255_ISK"
#define SHA512_BLOCK  128
#define TAG_INITIATOR "unhosted-cpace-confirm-initiator"
#define TAG_RESPONDER "unhosted-cpace-confirm-responder"
/* generator string: DSI, PRS, zero padding, CI and sid, each with a length prefix of <= 2 bytes */
#define GEN_MAX (2 + 17 + 2 + CPACE_PRS_MAX + 2 + SHA512_BLOCK + 2 + CPACE_CI_MAX + 2 + 64)

/* ---- length-value encoding ---- */

/* LEB128 length of n; returns the bytes written (n < 2^14 here, so 1 or 2). */
static size_t leb128(size_t n, uint8_t *out)
{
    size_t k = 0;
    do {
        uint8_t b = n & 0x7f;
        n >>= 7;
        out[k++] = (uint8_t)(b | (n ? 0x80 : 0));
    } while (n);
    return k;
}

static size_t leb128_len(size_t n)
{
    uint8_t tmp[10];
    return leb128(n, tmp);
}

/* Appends prepend_len(x) to buf at *pos. The caller sized buf for it. */
static void put_lv(uint8_t *buf, size_t *pos, const uint8_t *x, size_t len)
{
    *pos += leb128(len, buf + *pos);
    if (len) memcpy(buf + *pos, x, len);
    *pos += len;
}

static void hash_lv(crypto_hash_sha512_state *h, const uint8_t *x, size_t len)
{
    uint8_t pre[10];
    crypto_hash_sha512_update(h, pre, leb128(len, pre));
    if (len) crypto_hash_sha512_update(h, x, len);
}

/* ---- the protocol ---- */

static int start(cpace_state *st, int initiator, const uint8_t *prs, size_t prs_len,
                 const uint8_t *ci, size_t ci_len, const uint8_t *sid, size_t sid_len,
                 uint8_t share_out[CPACE_SHARE_LEN], uh_err *err)
{
    uint8_t gen[GEN_MAX], hash[crypto_hash_sha512_BYTES], g[32];
    static const uint8_t zeros[SHA512_BLOCK];
    size_t pos = 0, dsi_len = sizeof CPACE_DSI - 1;
    int rc = UH_OK;
    if (prs_len > CPACE_PRS_MAX || ci_len > CPACE_CI_MAX || sid_len > sizeof st->sid ||
        (prs_len && !prs) || (ci_len && !ci) || (sid_len && !sid)) {
        rc = err_setf(err, UH_EINVAL, "CPace: code, channel id or session id too long");
        goto done;
    }
    /* zero padding that makes DSI and PRS fill the first hash block */
    long zpad = (long)SHA512_BLOCK - 1 - (long)(leb128_len(prs_len) + prs_len) -
                (long)(leb128_len(dsi_len) + dsi_len);
    if (zpad < 0) zpad = 0;
    put_lv(gen, &pos, (const uint8_t *)CPACE_DSI, dsi_len);
    put_lv(gen, &pos, prs, prs_len);
    put_lv(gen, &pos, zeros, (size_t)zpad);
    put_lv(gen, &pos, ci, ci_len);
    put_lv(gen, &pos, sid, sid_len);
    crypto_hash_sha512(hash, gen, pos);
    crypto_core_ristretto255_from_hash(g, hash);
    if (crypto_scalarmult_ristretto255(st->Y, st->y, g) != 0) {
        rc = err_setf(err, UH_EINVAL, "CPace: the secret scalar gives the identity element");
        goto done;
    }
    memcpy(st->sid, sid, sid_len);
    st->sid_len = sid_len;
    st->initiator = initiator ? 1 : 0;
    memcpy(share_out, st->Y, CPACE_SHARE_LEN);
done:
    sodium_memzero(gen, sizeof gen); /* holds the code */
    sodium_memzero(hash, sizeof hash);
    sodium_memzero(g, sizeof g);
    if (rc != 0) cpace_wipe(st);
    return rc;
}

int cpace_start_with_scalar(cpace_state *st, int initiator, const uint8_t *prs, size_t prs_len,
                            const uint8_t *ci, size_t ci_len, const uint8_t *sid, size_t sid_len,
                            const uint8_t y[32], uint8_t share_out[CPACE_SHARE_LEN], uh_err *err)
{
    if (sodium_init() < 0) return err_setf(err, UH_EIO, "libsodium failed to initialise");
    memset(st, 0, sizeof *st);
    memcpy(st->y, y, 32);
    return start(st, initiator, prs, prs_len, ci, ci_len, sid, sid_len, share_out, err);
}

int cpace_start(cpace_state *st, int initiator, const uint8_t *prs, size_t prs_len,
                const uint8_t *ci, size_t ci_len, const uint8_t *sid, size_t sid_len,
                uint8_t share_out[CPACE_SHARE_LEN], uh_err *err)
{
    if (sodium_init() < 0) return err_setf(err, UH_EIO, "libsodium failed to initialise");
    memset(st, 0, sizeof *st);
    crypto_core_ristretto255_scalar_random(st->y); /* never zero */
    return start(st, initiator, prs, prs_len, ci, ci_len, sid, sid_len, share_out, err);
}

int cpace_finish_ad(cpace_state *st, const uint8_t peer_share[CPACE_SHARE_LEN],
                    const uint8_t *ad_own, size_t ad_own_len, const uint8_t *ad_peer,
                    size_t ad_peer_len, uint8_t isk[CPACE_ISK_LEN], uh_err *err)
{
    uint8_t K[32];
    crypto_hash_sha512_state h;
    int rc = UH_OK;
    if (sodium_is_zero(st->y, sizeof st->y)) {
        rc = err_setf(err, UH_EINVAL, "CPace: finish without a start (or a second finish)");
        goto done;
    }
    /* scalarmult refuses a share that is not a canonical encoding, and a result that is the
     * identity (the identity share included) */
    if (!crypto_core_ristretto255_is_valid_point(peer_share) ||
        crypto_scalarmult_ristretto255(K, st->y, peer_share) != 0) {
        rc = err_setf(err, UH_EFORMAT, "CPace: the peer's share is not a valid group element");
        goto done;
    }
    const uint8_t *ya = st->initiator ? st->Y : peer_share;
    const uint8_t *yb = st->initiator ? peer_share : st->Y;
    const uint8_t *ada = st->initiator ? ad_own : ad_peer;
    const uint8_t *adb = st->initiator ? ad_peer : ad_own;
    size_t ada_len = st->initiator ? ad_own_len : ad_peer_len;
    size_t adb_len = st->initiator ? ad_peer_len : ad_own_len;
    crypto_hash_sha512_init(&h);
    hash_lv(&h, (const uint8_t *)CPACE_DSI_ISK, sizeof CPACE_DSI_ISK - 1);
    hash_lv(&h, st->sid, st->sid_len);
    hash_lv(&h, K, sizeof K);
    hash_lv(&h, ya, CPACE_SHARE_LEN);
    hash_lv(&h, ada, ada_len);
    hash_lv(&h, yb, CPACE_SHARE_LEN);
    hash_lv(&h, adb, adb_len);
    crypto_hash_sha512_final(&h, isk);
done:
    sodium_memzero(K, sizeof K);
    sodium_memzero(&h, sizeof h);
    cpace_wipe(st);
    return rc;
}

int cpace_finish(cpace_state *st, const uint8_t peer_share[CPACE_SHARE_LEN],
                 uint8_t isk[CPACE_ISK_LEN], uh_err *err)
{
    return cpace_finish_ad(st, peer_share, NULL, 0, NULL, 0, isk, err);
}

/* ---- key confirmation ---- */

void cpace_confirm_tag(const uint8_t isk[CPACE_ISK_LEN], int initiator, uint8_t tag[CPACE_TAG_LEN])
{
    crypto_auth_hmacsha512_state h;
    uint8_t full[crypto_auth_hmacsha512_BYTES];
    const char *label = initiator ? TAG_INITIATOR : TAG_RESPONDER;
    crypto_auth_hmacsha512_init(&h, isk, CPACE_ISK_LEN);
    crypto_auth_hmacsha512_update(&h, (const uint8_t *)label, strlen(label));
    crypto_auth_hmacsha512_final(&h, full);
    memcpy(tag, full, CPACE_TAG_LEN);
    sodium_memzero(full, sizeof full);
    sodium_memzero(&h, sizeof h);
}

int cpace_check_tag(const uint8_t isk[CPACE_ISK_LEN], int peer_is_initiator,
                    const uint8_t tag[CPACE_TAG_LEN])
{
    uint8_t want[CPACE_TAG_LEN];
    cpace_confirm_tag(isk, peer_is_initiator, want);
    int ok = sodium_memcmp(want, tag, CPACE_TAG_LEN) == 0;
    sodium_memzero(want, sizeof want);
    return ok ? UH_OK : UH_EFORMAT;
}

void cpace_wipe(cpace_state *st)
{
    if (st) sodium_memzero(st->y, sizeof st->y);
}
