/* cpace.h - CPace (draft-irtf-cfrg-cpace) over ristretto255 with SHA-512, for pairing at a
 * distance: both sides know a short one-time code (the password-related string), run CPace
 * inside an already established Noise session (sid = its handshake hash), and end with the same
 * intermediate session key only if they used the same code. An attacker gets one online guess
 * per run.
 *
 * Flow: each side calls cpace_start (its share Y goes to the other side), then cpace_finish with
 * the other side's share. Initiator-responder ordering of the transcript: role 'initiator' is
 * the side that opened the connection. Key confirmation: cpace_confirm_tag gives the MAC a side
 * sends; cpace_check_tag checks the peer's in constant time.
 *
 * Encoding (as in the draft, H = SHA-512 with a 128-byte block, DSI = "CPaceRistretto255"):
 *   prepend_len(x)  = LEB128(len(x)) || x;  lv_cat(a, b, ...) = prepend_len(a) || prepend_len(b)...
 *   generator_string = lv_cat(DSI, PRS, zero_bytes(z), CI, sid) with
 *                      z = max(0, 128 - 1 - len(prepend_len(PRS)) - len(prepend_len(DSI)))
 *   g   = ristretto255 from_hash(SHA-512(generator_string));  Y = y * g
 *   K   = y * Y_peer (refused when Y_peer is invalid or K is the identity)
 *   ISK = SHA-512(lv_cat(DSI || "_ISK", sid, K) || lv_cat(Ya, ADa) || lv_cat(Yb, ADb))
 *         with a = the initiator, b = the responder, AD empty in cpace_finish.
 *   tag = HMAC-SHA-512(key = ISK, "unhosted-cpace-confirm-initiator" or "...-responder"),
 *         first 32 bytes.
 *
 * Ownership: cpace_state holds the secret scalar; cpace_wipe (also called by cpace_finish)
 * clears it. */
#ifndef UH_CLUSTER_CPACE_H
#define UH_CLUSTER_CPACE_H

#include <stddef.h>
#include <stdint.h>

#include "unhosted.h"

#define CPACE_SHARE_LEN 32
#define CPACE_ISK_LEN   64
#define CPACE_TAG_LEN   32
#define CPACE_PRS_MAX   256
#define CPACE_CI_MAX    256

typedef struct {
    uint8_t y[32];  /* secret scalar */
    uint8_t Y[32];  /* our share */
    uint8_t sid[64];
    size_t sid_len;
    int initiator;
} cpace_state;

/* prs: the code (<= CPACE_PRS_MAX bytes); ci: channel identifier (may be empty, <= CPACE_CI_MAX
 * bytes); sid: session id (<= 64 bytes). UH_EINVAL when a length is out of range. */
int cpace_start(cpace_state *st, int initiator, const uint8_t *prs, size_t prs_len,
                const uint8_t *ci, size_t ci_len, const uint8_t *sid, size_t sid_len,
                uint8_t share_out[CPACE_SHARE_LEN], uh_err *err);
/* UH_EFORMAT when the peer's share is not a valid non-identity ristretto255 point; UH_EINVAL
 * when st was not started or is already finished. */
int cpace_finish(cpace_state *st, const uint8_t peer_share[CPACE_SHARE_LEN],
                 uint8_t isk[CPACE_ISK_LEN], uh_err *err);
/* Key-confirmation tag of one side (initiator = 1 or 0) over the session key. */
void cpace_confirm_tag(const uint8_t isk[CPACE_ISK_LEN], int initiator,
                       uint8_t tag[CPACE_TAG_LEN]);
/* 0 when tag is the peer's correct tag, UH_EFORMAT otherwise (constant time). */
int cpace_check_tag(const uint8_t isk[CPACE_ISK_LEN], int peer_is_initiator,
                    const uint8_t tag[CPACE_TAG_LEN]);
void cpace_wipe(cpace_state *st);

/* cpace_finish with associated data: ad_own goes with our share, ad_peer with the peer's
 * (MSG = lv_cat(Y, AD) in the transcript). cpace_finish is this with both empty. */
int cpace_finish_ad(cpace_state *st, const uint8_t peer_share[CPACE_SHARE_LEN],
                    const uint8_t *ad_own, size_t ad_own_len, const uint8_t *ad_peer,
                    size_t ad_peer_len, uint8_t isk[CPACE_ISK_LEN], uh_err *err);
/* For tests (the draft's vectors): cpace_start with a given secret scalar y (little endian,
 * below the group order) instead of a random one. */
int cpace_start_with_scalar(cpace_state *st, int initiator, const uint8_t *prs, size_t prs_len,
                            const uint8_t *ci, size_t ci_len, const uint8_t *sid, size_t sid_len,
                            const uint8_t y[32], uint8_t share_out[CPACE_SHARE_LEN], uh_err *err);

#endif
