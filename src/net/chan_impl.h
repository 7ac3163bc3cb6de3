/* chan_impl.h - inside the channel module: the chan struct, socket I/O with deadlines, and the
 * hooks tests and fuzzers use to build a channel around ciphers from a handshake done in
 * memory. Not for other modules. */
#ifndef UH_NET_CHAN_IMPL_H
#define UH_NET_CHAN_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "net/chan.h"
#include "net/noise.h"

#define CHAN_WIRE_MAX  65535 /* bytes after the 2-byte length of one frame */
#define CHAN_FLAG_MORE 0x01

struct chan {
    int fd;
    enum chan_purpose purpose;
    uint32_t rekey_every; /* frames per direction between rekeys */
    size_t max_message;   /* receive cap, bytes */
    int io_timeout_ms;    /* how long a send waits for the peer to take data */
    atomic_int shut;      /* chan_shutdown was called */

    pthread_mutex_t send_mu; /* guards everything tx_* and send_buf */
    noise_cipher tx;
    uint32_t tx_frames; /* since the last rekey */
    int tx_dead;        /* a send broke off mid-message: the stream is out of step */
    uint8_t send_buf[2 + CHAN_WIRE_MAX];

    /* receiver side: one thread at a time */
    noise_cipher rx;
    uint32_t rx_frames;
    int rx_dead; /* 0, or the error that ended the receive side */
    uint8_t hdr[2];
    size_t hdr_have;  /* bytes of the length prefix read so far */
    size_t frame_len; /* bytes of the frame body, once hdr_have == 2 */
    size_t frame_have;
    uint8_t frame[CHAN_WIRE_MAX];
    buf_t msg;    /* message being reassembled, capped at max_message */
    int msg_type; /* type of the message in progress, -1 between messages */

    uint8_t remote_static[32];
    uint8_t remote_auth[CHAN_MAX_AUTH];
    size_t remote_auth_len;
    uint8_t hash[32];
    char peer[64];
};

/* ---- socket I/O (chan_sock.c) ---- */

/* The deadline timeout_ms from now; -1 (never) for timeout_ms < 0. */
int64_t chan_deadline(int timeout_ms);
/* Reads up to len bytes once the fd is readable. *got receives the count (0 < *got <= len).
 * UH_ETIMEDOUT when the deadline passes first, UH_EIO on end of stream (*got = 0) or error. */
int chan_read_some(int fd, void *buf, size_t len, int64_t deadline, size_t *got);
/* Reads exactly len bytes: UH_ETIMEDOUT on timeout, UH_EIO on end of stream or error. */
int chan_read_full(int fd, void *buf, size_t len, int64_t deadline);
/* Writes all len bytes: UH_ETIMEDOUT on timeout, UH_EIO on error. */
int chan_write_full(int fd, const void *buf, size_t len, int64_t deadline);
/* Non-blocking TCP connection to "HOST:PORT" / "[V6]:PORT" within timeout_ms. */
int chan_tcp_connect(const char *host_port, int timeout_ms, int *fd_out, uh_err *err);
/* "IP:PORT", "[IP]:PORT" or "local" for the peer of fd. */
void chan_peer_name(int fd, char *out, size_t cap);

/* ---- hooks for tests and fuzzers (chan.c, chan_limit.c) ---- */

/* A channel over fd (taken over, closed on failure too) whose handshake happened elsewhere:
 * tx/rx are the transport ciphers from noise_hs_split. */
int chan_wrap(int fd, enum chan_purpose purpose, const noise_cipher *tx, const noise_cipher *rx,
              const chan_config *cfg, chan **out, uh_err *err);
/* chan_limiter_enter with the clock given (milliseconds, monotonic). */
int chan_limiter_enter_at(chan_limiter *l, const struct sockaddr *addr, int64_t now_ms);

#endif
