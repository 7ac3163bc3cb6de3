/* fuzz_noise.c - libFuzzer harness for the Noise handshake reader: arbitrary bytes as the
 * handshake messages a responder (or an initiator, after its first message) receives, then as
 * transport messages once a handshake completes.
 *
 * Input: byte 0 picks the pattern (bits 0-1: NN, XK, IK, XX), the role (bit 2: responder when
 * clear) and whether transport messages rekey first (bit 3). The rest is a sequence of chunks,
 * each a 2-byte big-endian length and that many bytes (fewer at the end of the input); every
 * read consumes one chunk, every write our side makes consumes nothing. Bit 4 reads handshake
 * payloads into an 8-byte buffer (the cap path). All keys are fixed,
 * so a recorded transcript replays: build with -DFUZZ_NOISE_SEEDGEN to get a program that
 * writes complete transcripts for every pattern and role into the directory given.
 *
 * Corpus: fuzz/corpus/noise (seeds), fuzz/regress/noise (past crashes). */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

/* Fixed keys: [0] initiator, [1] responder. */
static const uint8_t STATIC_PRIV[2][32] = {{1, 2, 3, 4, 5, 6, 7, 8, 9},
                                           {9, 8, 7, 6, 5, 4, 3, 2, 1}};
static const uint8_t EPH_PRIV[2][32] = {{0x11, 0x22, 0x33}, {0x44, 0x55, 0x66}};
static const uint8_t PROLOGUE[] = "unhosted/1 fuzz";

static uint8_t g_msg[NOISE_MAX_MSG], g_payload[NOISE_MAX_MSG];

/* Our side of the handshake for pattern p and role r. */
static noise_hs *make_side(enum noise_pattern p, enum noise_role r)
{
    uint8_t rs_pub[32];
    crypto_scalarmult_base(rs_pub, STATIC_PRIV[1]);
    int pre = (p == NOISE_XK || p == NOISE_IK) && r == NOISE_INITIATOR;
    noise_hs *hs = NULL;
    if (noise_hs_new(p, r, PROLOGUE, sizeof PROLOGUE, p == NOISE_NN ? NULL : STATIC_PRIV[r],
                     pre ? rs_pub : NULL, &hs, NULL))
        return NULL;
    noise_hs_set_ephemeral(hs, EPH_PRIV[r]);
    return hs;
}

/* The next chunk of the input. */
static int next_chunk(const uint8_t **data, size_t *size, const uint8_t **chunk, size_t *len)
{
    if (*size < 2) return -1;
    size_t n = (size_t)(*data)[0] << 8 | (*data)[1];
    *data += 2;
    *size -= 2;
    if (n > *size) n = *size;
    *chunk = *data;
    *len = n;
    *data += n;
    *size -= n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    enum noise_pattern p = (enum noise_pattern)(data[0] & 3);
    enum noise_role r = data[0] & 4 ? NOISE_INITIATOR : NOISE_RESPONDER;
    int rekey = data[0] & 8, small_cap = data[0] & 16;
    data++;
    size--;
    noise_hs *hs = make_side(p, r);
    REQUIRE(hs);
    const uint8_t *chunk;
    size_t len;
    while (!noise_hs_done(hs)) {
        size_t n = 0;
        if (noise_hs_wants_write(hs)) {
            int rc = noise_hs_write(hs, (const uint8_t *)"ours", 4, g_msg, sizeof g_msg, &n, NULL);
            REQUIRE(rc == 0 || rc == UH_EFORMAT); /* a low-order key from the peer: refused */
            if (rc) goto out;
            continue;
        }
        if (next_chunk(&data, &size, &chunk, &len)) goto out;
        size_t cap = small_cap ? 8 : sizeof g_payload;
        int rc = noise_hs_read(hs, chunk, len, g_payload, cap, &n, NULL);
        if (rc) {
            REQUIRE(rc == UH_EFORMAT || rc == UH_ELIMIT);
            REQUIRE(noise_hs_write(hs, NULL, 0, g_msg, sizeof g_msg, &n, NULL) != 0);
            goto out;
        }
        REQUIRE(n <= cap && n <= len);
    }
    noise_cipher tx, rx;
    REQUIRE(noise_hs_split(hs, &tx, &rx) == 0);
    REQUIRE(noise_hs_remote_static(hs) != NULL || p == NOISE_NN);
    if (rekey) noise_cipher_rekey(&rx);
    while (!next_chunk(&data, &size, &chunk, &len)) {
        uint64_t before = rx.n;
        int rc = noise_cipher_decrypt(&rx, NULL, 0, chunk, len, g_payload);
        REQUIRE(rc == 0 ? rx.n == before + 1 : rx.n == before);
    }
    noise_cipher_wipe(&tx);
    noise_cipher_wipe(&rx);
out:
    noise_hs_free(hs);
    return 0;
}

#ifdef FUZZ_NOISE_SEEDGEN
/* Plays both sides with the fixed keys and writes, for every pattern and role, the input that
 * takes that side through the whole handshake and two transport messages. */
static void put_chunk(FILE *f, const uint8_t *p, size_t n)
{
    fputc((int)(n >> 8), f);
    fputc((int)(n & 255), f);
    fwrite(p, 1, n, f);
}

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    for (int p = 0; p < 4; p++)
        for (int r = 0; r < 2; r++) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s_%s.bin", argv[1],
                     (const char *[]){"nn", "xk", "ik", "xx"}[p], r ? "initiator" : "responder");
            FILE *f = fopen(path, "wb");
            if (!f) return 1;
            fputc(p | (r ? 4 : 0), f);
            noise_hs *me = make_side((enum noise_pattern)p, r ? NOISE_INITIATOR : NOISE_RESPONDER);
            noise_hs *peer =
                make_side((enum noise_pattern)p, r ? NOISE_RESPONDER : NOISE_INITIATOR);
            while (!noise_hs_done(me)) {
                size_t n = 0, pn = 0;
                noise_hs *w = noise_hs_wants_write(me) ? me : peer, *rd = w == me ? peer : me;
                const char *pl = w == me ? "ours" : "theirs";
                if (noise_hs_write(w, (const uint8_t *)pl, strlen(pl), g_msg, sizeof g_msg, &n,
                                   NULL) ||
                    noise_hs_read(rd, g_msg, n, g_payload, sizeof g_payload, &pn, NULL))
                    return 1;
                if (w == peer) put_chunk(f, g_msg, n);
            }
            noise_cipher tx, rx;
            noise_hs_split(peer, &tx, &rx);
            for (int i = 0; i < 2; i++) {
                noise_cipher_encrypt(&tx, NULL, 0, (const uint8_t *)"transport", 9, g_msg);
                put_chunk(f, g_msg, 9 + NOISE_TAG_LEN);
            }
            noise_hs_free(me);
            noise_hs_free(peer);
            fclose(f);
        }
    return 0;
}
#endif
