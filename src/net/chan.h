/* chan.h - an encrypted, mutually authenticated message channel between two nodes:
 * Noise_XX_25519_ChaChaPoly_SHA256 over a TCP connection.
 *
 * Wire format (all lengths big-endian):
 *   preamble  initiator -> responder, in clear, 8 bytes: "UNH" 0x01 (protocol version 1),
 *             purpose (1 byte: enum chan_purpose), 3 zero bytes.
 *   prologue  both sides mix "unhosted/1 " + purpose name ("connect", "pair", "join") into the
 *             handshake, so a preamble rewritten on the way makes the handshake fail.
 *   frames    every Noise message (handshake or transport) is sent as a 2-byte length followed
 *             by that many bytes (1 .. 65535).
 *   handshake XX: -> e; <- e, ee, s, es + responder's auth payload; -> s, se + initiator's auth
 *             payload. The auth payloads are opaque here (the cluster layer puts the device key
 *             and its signature of the Noise static key in them, identity.h) and capped at
 *             CHAN_MAX_AUTH bytes.
 *   transport each frame decrypts to: type (1 byte), flags (1 byte: bit 0 MORE = the message
 *             continues in the next frame), then up to CHAN_MAX_FRAME_PAYLOAD bytes. A message is
 *             the concatenation of its frames' payloads (all of one type), at most
 *             CHAN_MAX_MESSAGE bytes (the receiver's cap may be lower).
 *   rekey     each direction calls Noise Rekey() on its cipher after every rekey_every
 *             transport frames, deterministically, so both ends stay in step.
 *
 * Timeouts: connect + handshake must finish within timeout_ms; chan_recv takes its own timeout;
 * chan_send gives up (UH_EIO) when the peer takes no data of a frame for timeout_ms.
 * Errors: connection refused / unreachable / timed out and a peer that closes or stalls are
 * UH_EIO; a peer that breaks the protocol (bad preamble, unauthentic or malformed message) is
 * UH_EFORMAT; another protocol version is UH_EUNSUPPORTED. Messages name the peer's address.
 * Ownership: a chan owns its socket and closes it in chan_free. Threading: one thread may send
 * while another receives; concurrent senders are serialised by a mutex inside; chan_recv from
 * one thread at a time. chan_shutdown may be called from any thread to wake a blocked
 * receiver (it returns UH_EIO). */
#ifndef UH_NET_CHAN_H
#define UH_NET_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "unhosted.h"

#define CHAN_PROTO_VERSION     1
#define CHAN_MAX_AUTH          1024
#define CHAN_MAX_FRAME_PAYLOAD (65535 - 16 - 2)
#define CHAN_MAX_MESSAGE       (16u << 20)
#define CHAN_DEFAULT_TIMEOUT_MS 10000
#define CHAN_DEFAULT_REKEY     (1u << 16)

enum chan_purpose { CHAN_CONNECT = 0, CHAN_PAIR = 1, CHAN_JOIN = 2 };

typedef struct {
    const uint8_t *static_priv; /* [32] our X25519 static private key (borrowed) */
    const uint8_t *auth;        /* our auth payload (borrowed), auth_len <= CHAN_MAX_AUTH */
    size_t auth_len;
    int timeout_ms;             /* connect + handshake; 0 = CHAN_DEFAULT_TIMEOUT_MS */
    uint32_t rekey_every;       /* transport frames per direction between rekeys; 0 = default */
    size_t max_message;         /* largest message chan_recv accepts; 0 = CHAN_MAX_MESSAGE */
} chan_config;

typedef struct chan chan;

/* Connects to "HOST:PORT" (IPv4, [IPv6] or a name) and runs the handshake as initiator. Errors
 * name the address: refused, timed out, handshake failed. Every address a name resolves to is
 * tried in turn within timeout_ms; the name lookup itself (getaddrinfo) is not bounded by it. */
int chan_connect(const char *host_port, enum chan_purpose purpose, const chan_config *cfg,
                 chan **out, uh_err *err);
/* Runs the handshake as responder on an accepted socket (taken over, closed on failure too). */
int chan_accept(int fd, const chan_config *cfg, chan **out, uh_err *err);

enum chan_purpose chan_purpose_of(const chan *c);
/* The peer's Noise static public key [32]. */
const uint8_t *chan_remote_static(const chan *c);
/* The peer's auth payload from the handshake. */
const uint8_t *chan_remote_auth(const chan *c, size_t *len);
/* The handshake hash (channel binding for pairing codes and CPace). */
void chan_handshake_hash(const chan *c, uint8_t out[32]);
/* The peer's address as "IP:PORT". */
const char *chan_peer_addr(const chan *c);

/* Sends one message (split into frames). UH_EIO when the connection is gone, UH_ELIMIT past
 * CHAN_MAX_MESSAGE. */
int chan_send(chan *c, uint8_t type, const void *payload, size_t len, uh_err *err);
/* Receives one message: *type, and *payload (malloc'd, NUL-terminated after len bytes; the
 * caller frees) of *len bytes. timeout_ms < 0 waits forever. UH_EIO when the peer closed or the
 * connection broke (or chan_shutdown), UH_ETIMEDOUT on timeout (the channel stays usable),
 * UH_EFORMAT for an unauthentic frame or a message over the cap (the channel is then dead). */
int chan_recv(chan *c, uint8_t *type, uint8_t **payload, size_t *len, int timeout_ms,
              uh_err *err);
/* 1 when a channel that expects no message right now is still usable: not shut down, not broken,
 * nothing half received, and nothing (not even an end of stream) waiting on the socket. For
 * keeping channels open between uses. Not while another thread receives on it. */
int chan_idle_ok(chan *c);
/* Wakes a blocked chan_recv and makes later calls fail with UH_EIO. Any thread. */
void chan_shutdown(chan *c);
/* Wipes keys, closes the socket, frees. Accepts NULL. */
void chan_free(chan *c);

/* ---- handshake limiter for listeners ----
 * Counts handshakes per source address so that one host cannot hold every handshake slot or
 * burn CPU on X25519: at most max_concurrent in progress at once and max_per_minute started
 * per minute (a token bucket: the allowance refills evenly over the minute). 0 = no limit of
 * that kind. IPv4 addresses count one by one (IPv4-mapped IPv6 as IPv4); IPv6 addresses count
 * by /64, since one host usually holds a whole /64. Other families (AF_UNIX) share one entry.
 * Memory is a fixed table of CHAN_LIMITER_SLOTS addresses; when it is full the entry seen
 * longest ago (preferring those with nothing in progress) is forgotten. Thread-safe. */
#define CHAN_LIMITER_SLOTS 1024

struct sockaddr;
typedef struct chan_limiter chan_limiter;

int chan_limiter_new(unsigned max_concurrent, unsigned max_per_minute, chan_limiter **out,
                     uh_err *err);
/* Before a handshake from addr: 0 (then call chan_limiter_leave when it ends, whatever the
 * outcome) or UH_ELIMIT (refuse the connection; do not call leave). */
int chan_limiter_enter(chan_limiter *l, const struct sockaddr *addr);
void chan_limiter_leave(chan_limiter *l, const struct sockaddr *addr);
/* Accepts NULL. */
void chan_limiter_free(chan_limiter *l);

#endif
