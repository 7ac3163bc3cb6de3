/* fuzz_frame.c - libFuzzer harness for the channel transport: the stream of length-prefixed
 * encrypted frames a channel receives after its handshake, fed through a socketpair to
 * chan_recv until it fails.
 *
 * The input is a program that builds the stream, so the fuzzer reaches the reassembly behind
 * the MAC check, not only the check itself. Byte 0: bits 0-1 the rekey interval (1, 2, 3 or
 * the default), bits 2-3 the receiver's cap (default, 1, 100 or 70000 bytes). Then operations,
 * each an opcode byte (low 2 bits) and its arguments:
 *   0 raw      n (1 byte), then n bytes copied into the stream as they are
 *   1 frame    type, flags, length (2 bytes, taken modulo CHAN_MAX_FRAME_PAYLOAD + 1), then the
 *              payload from the input (zeros where the input runs out): one frame encrypted
 *              properly by the sending cipher, rekeyed on the same schedule as the receiver
 *   2 tampered a frame as in 1 (type, flags, 1-byte length, payload) with one bit flipped at
 *              the position given by one more byte
 *   3 skipped  a frame encrypted but left out of the stream (the receiver's nonce falls
 *              behind)
 * The harness models the receiver: the messages made of well-formed frames (op 1) before the
 * first bad operation must come out exactly, then chan_recv must fail; a broken promise traps.
 *
 * Corpus: fuzz/corpus/frame (seeds), fuzz/regress/frame (past crashes). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/chan_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

#define STREAM_CAP (256u << 10)
#define MAX_EXPECT ((int)(STREAM_CAP / (2 + 2 + NOISE_TAG_LEN)) + 1) /* frames that fit */

static noise_cipher g_tx, g_rx; /* the two ends of one direction, from a fixed handshake */
static int g_ready;

static void setup(void)
{
    static const uint8_t si[32] = {1}, sr[32] = {2}, ei[32] = {3}, er[32] = {4};
    noise_hs *hi = NULL, *hr = NULL;
    REQUIRE(noise_hs_new(NOISE_XX, NOISE_INITIATOR, NULL, 0, si, NULL, &hi, NULL) == 0);
    REQUIRE(noise_hs_new(NOISE_XX, NOISE_RESPONDER, NULL, 0, sr, NULL, &hr, NULL) == 0);
    noise_hs_set_ephemeral(hi, ei);
    noise_hs_set_ephemeral(hr, er);
    static uint8_t m[NOISE_MAX_MSG], p[NOISE_MAX_MSG];
    for (int i = 0; i < 3; i++) {
        noise_hs *w = i % 2 ? hr : hi, *r = i % 2 ? hi : hr;
        size_t n = 0, pn = 0;
        REQUIRE(noise_hs_write(w, NULL, 0, m, sizeof m, &n, NULL) == 0);
        REQUIRE(noise_hs_read(r, m, n, p, sizeof p, &pn, NULL) == 0);
    }
    noise_cipher unused1, unused2;
    REQUIRE(noise_hs_split(hi, &g_tx, &unused1) == 0);
    REQUIRE(noise_hs_split(hr, &unused2, &g_rx) == 0);
    noise_hs_free(hi);
    noise_hs_free(hr);
    g_ready = 1;
}

typedef struct {
    uint8_t *stream;
    size_t len;
    noise_cipher tx;
    uint32_t tx_frames, rekey_every;
    /* the model of what the receiver must deliver */
    uint8_t *expect; /* payloads of complete messages, back to back */
    size_t expect_len;
    size_t msg_start[MAX_EXPECT], msg_len[MAX_EXPECT];
    uint8_t msg_type[MAX_EXPECT];
    int n_msgs;
    int cur_type; /* -1 between messages */
    size_t cur_start, cur_len, cap;
    int predicting; /* 0 after the first bad operation */
} builder;

/* Encrypts [type][flags][payload] as the sender would; appends it to the stream unless skip.
 * Returns the offset of the frame body in the stream, or -1 when the stream is full. */
static long add_frame(builder *b, uint8_t type, uint8_t flags, const uint8_t *p, size_t n, int skip)
{
    static uint8_t body[2 + CHAN_WIRE_MAX];
    size_t len = 2 + n + NOISE_TAG_LEN;
    if (b->len + 2 + len > STREAM_CAP) return -1;
    body[0] = type;
    body[1] = flags;
    memcpy(body + 2, p, n);
    REQUIRE(noise_cipher_encrypt(&b->tx, NULL, 0, body, 2 + n, body) == 0);
    if (++b->tx_frames >= b->rekey_every) {
        noise_cipher_rekey(&b->tx);
        b->tx_frames = 0;
    }
    if (skip) return 0;
    b->stream[b->len] = (uint8_t)(len >> 8);
    b->stream[b->len + 1] = (uint8_t)len;
    memcpy(b->stream + b->len + 2, body, len);
    b->len += 2 + len;
    return (long)(b->len - len);
}

/* What a well-formed frame does to the message the receiver assembles. */
static void model_frame(builder *b, uint8_t type, uint8_t flags, const uint8_t *p, size_t n)
{
    if (!b->predicting) return;
    if ((flags & ~CHAN_FLAG_MORE) || (b->cur_type >= 0 && type != b->cur_type) ||
        n > b->cap - b->cur_len) {
        b->predicting = 0;
        return;
    }
    if (b->cur_type < 0) {
        b->cur_type = type;
        b->cur_start = b->expect_len;
        b->cur_len = 0;
    }
    memcpy(b->expect + b->expect_len, p, n);
    b->expect_len += n;
    b->cur_len += n;
    if (!(flags & CHAN_FLAG_MORE)) {
        REQUIRE(b->n_msgs < MAX_EXPECT);
        b->msg_start[b->n_msgs] = b->cur_start;
        b->msg_len[b->n_msgs] = b->cur_len;
        b->msg_type[b->n_msgs] = (uint8_t)b->cur_type;
        b->n_msgs++;
        b->cur_type = -1;
        b->cur_len = 0;
    }
}

typedef struct {
    int fd;
    const uint8_t *p;
    size_t len;
} writer;

static void *write_main(void *arg)
{
    writer *w = arg;
    size_t done = 0;
    while (done < w->len) {
        ssize_t n = write(w->fd, w->p + done, w->len - done);
        if (n <= 0) break;
        done += (size_t)n;
    }
    close(w->fd);
    return NULL;
}

static void build(builder *b, const uint8_t *data, size_t size)
{
    static uint8_t payload[CHAN_MAX_FRAME_PAYLOAD];
    size_t at = 0;
    while (at < size) {
        uint8_t op = data[at++] & 3;
        size_t need = op == 0 ? 1 : op == 1 ? 4 : op == 2 ? 3 : 3;
        if (size - at < need) break;
        if (op == 0) {
            size_t n = data[at++];
            if (n > size - at) n = size - at;
            if (b->len + n > STREAM_CAP) break;
            memcpy(b->stream + b->len, data + at, n);
            b->len += n;
            at += n;
            if (n) b->predicting = 0;
            continue;
        }
        uint8_t type = data[at], flags = data[at + 1];
        size_t n = op == 1
                       ? ((size_t)data[at + 2] << 8 | data[at + 3]) % (CHAN_MAX_FRAME_PAYLOAD + 1)
                       : data[at + 2];
        at += need;
        size_t from_input = n < size - at ? n : size - at;
        memcpy(payload, data + at, from_input);
        memset(payload + from_input, 0, n - from_input);
        at += from_input;
        if (op == 2) {
            if (at >= size) break;
            uint8_t pos = data[at++];
            long off = add_frame(b, type, flags, payload, n, 0);
            if (off < 0) break;
            size_t body_len = 2 + n + NOISE_TAG_LEN;
            b->stream[(size_t)off + pos % body_len] ^= (uint8_t)(1u << (pos % 8));
            b->predicting = 0;
        } else {
            long off = add_frame(b, type, flags, payload, n, op == 3);
            if (off < 0) break;
            if (op == 3)
                b->predicting = 0;
            else
                model_frame(b, type, flags, payload, n);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_ready) setup();
    if (size < 1) return 0;
    static const uint32_t REKEY[4] = {1, 2, 3, CHAN_DEFAULT_REKEY};
    static const size_t CAPS[4] = {0, 1, 100, 70000};
    static uint8_t stream[STREAM_CAP], expect[STREAM_CAP];
    static builder b; /* large: the model's tables */
    memset(&b, 0, sizeof b);
    b.stream = stream;
    b.expect = expect;
    b.tx = g_tx;
    b.cur_type = -1;
    b.predicting = 1;
    b.rekey_every = REKEY[data[0] & 3];
    chan_config cfg = {
        .rekey_every = b.rekey_every, .max_message = CAPS[(data[0] >> 2) & 3], .timeout_ms = 1000};
    b.cap = cfg.max_message ? cfg.max_message : CHAN_MAX_MESSAGE;
    build(&b, data + 1, size - 1);

    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    noise_cipher none = {0};
    chan *c = NULL;
    REQUIRE(chan_wrap(sv[0], CHAN_CONNECT, &none, &g_rx, &cfg, &c, NULL) == 0);
    writer w = {sv[1], stream, b.len};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, write_main, &w) == 0);
    for (int i = 0;; i++) {
        uint8_t type = 0, *msg = NULL;
        size_t len = 0;
        int rc = chan_recv(c, &type, &msg, &len, 5000, NULL);
        if (rc) {
            REQUIRE(msg == NULL && rc != UH_ENOTFOUND);
            REQUIRE(i >= b.n_msgs); /* every predicted message came out first */
            uint8_t *again = NULL;
            REQUIRE(chan_recv(c, &type, &again, &len, 0, NULL) != 0 && again == NULL);
            break;
        }
        REQUIRE(msg && msg[len] == 0 && len <= b.cap);
        if (i < b.n_msgs) {
            REQUIRE(type == b.msg_type[i] && len == b.msg_len[i]);
            REQUIRE(memcmp(msg, expect + b.msg_start[i], len) == 0);
        } else {
            /* nothing authentic can follow a bad operation, and nothing else was sent */
            __builtin_trap();
        }
        free(msg);
    }
    pthread_join(t, NULL);
    chan_free(c);
    noise_cipher_wipe(&b.tx);
    return 0;
}
