/* chan.c - encrypted channels: the clear preamble, the Noise XX handshake carrying the auth
 * payloads, and the framed transport (type, MORE flag, reassembly under a cap, deterministic
 * rekey). The wire format is specified in chan.h; socket I/O lives in chan_sock.c. */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "net/chan_impl.h"

#define PREAMBLE_LEN 8
#define FRAME_HDR    2 /* type, flags */
/* The largest XX handshake message: e, encrypted s, encrypted auth payload. */
#define HS_MSG_MAX (32 + 32 + NOISE_TAG_LEN + CHAN_MAX_AUTH + NOISE_TAG_LEN)

static const char *const PURPOSE_NAMES[] = {"connect", "pair", "join"};

static size_t prologue_of(enum chan_purpose p, uint8_t out[32])
{
    int n = snprintf((char *)out, 32, "unhosted/%d %s", CHAN_PROTO_VERSION, PURPOSE_NAMES[p]);
    return (size_t)n;
}

static void put_be16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* ---- construction ---- */

static int chan_alloc(int fd, enum chan_purpose purpose, const chan_config *cfg, chan **out,
                      uh_err *err)
{
    chan *c = calloc(1, sizeof *c);
    if (!c) return err_setf(err, UH_ENOMEM, "chan: out of memory");
    if (pthread_mutex_init(&c->send_mu, NULL)) {
        free(c);
        return err_setf(err, UH_ENOMEM, "chan: cannot create a mutex");
    }
    c->fd = fd;
    c->purpose = purpose;
    c->rekey_every = cfg && cfg->rekey_every ? cfg->rekey_every : CHAN_DEFAULT_REKEY;
    c->max_message = cfg && cfg->max_message ? cfg->max_message : CHAN_MAX_MESSAGE;
    if (c->max_message > CHAN_MAX_MESSAGE) c->max_message = CHAN_MAX_MESSAGE;
    c->io_timeout_ms = cfg && cfg->timeout_ms > 0 ? cfg->timeout_ms : CHAN_DEFAULT_TIMEOUT_MS;
    c->msg_type = -1;
    buf_init(&c->msg, c->max_message);
    atomic_init(&c->shut, 0);
    chan_peer_name(fd, c->peer, sizeof c->peer);
    *out = c;
    return 0;
}

void chan_free(chan *c)
{
    if (!c) return;
    if (c->fd >= 0) close(c->fd);
    pthread_mutex_destroy(&c->send_mu);
    if (c->msg.data) sodium_memzero(c->msg.data, c->msg.cap);
    buf_fini(&c->msg);
    sodium_memzero(c, sizeof *c);
    free(c);
}

static int set_socket_options(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails on socketpairs: fine */
    return 0;
}

int chan_wrap(int fd, enum chan_purpose purpose, const noise_cipher *tx, const noise_cipher *rx,
              const chan_config *cfg, chan **out, uh_err *err)
{
    *out = NULL;
    if (set_socket_options(fd)) {
        close(fd);
        return err_setf(err, UH_EIO, "chan: cannot make the socket non-blocking");
    }
    chan *c;
    int rc = chan_alloc(fd, purpose, cfg, &c, err);
    if (rc) {
        close(fd);
        return rc;
    }
    c->tx = *tx;
    c->rx = *rx;
    *out = c;
    return 0;
}

/* ---- handshake ---- */

static int check_config(const chan_config *cfg, uh_err *err)
{
    if (!cfg || !cfg->static_priv)
        return err_setf(err, UH_EINVAL, "chan: a static key is required");
    if (cfg->auth_len > CHAN_MAX_AUTH || (cfg->auth_len && !cfg->auth))
        return err_setf(err, UH_EINVAL, "chan: auth payload of %zu bytes (max %d)", cfg->auth_len,
                        CHAN_MAX_AUTH);
    return 0;
}

/* Reads one handshake frame into buf[0..HS_MSG_MAX). */
static int hs_read_frame(chan *c, uint8_t *buf, size_t *len, int64_t deadline, uh_err *err)
{
    uint8_t hdr[2];
    int rc = chan_read_full(c->fd, hdr, 2, deadline);
    size_t n = (size_t)hdr[0] << 8 | hdr[1];
    if (!rc && (n == 0 || n > HS_MSG_MAX))
        return err_setf(err, UH_EFORMAT, "handshake message of %zu bytes (want 1..%d)", n,
                        HS_MSG_MAX);
    if (!rc) rc = chan_read_full(c->fd, buf, n, deadline);
    if (rc == UH_ETIMEDOUT) return err_setf(err, UH_EIO, "handshake timed out");
    if (rc) return err_setf(err, UH_EIO, "peer closed the connection during the handshake");
    *len = n;
    return 0;
}

static int hs_write(chan *c, noise_hs *hs, const uint8_t *payload, size_t payload_len,
                    int64_t deadline, uh_err *err)
{
    uint8_t buf[2 + HS_MSG_MAX];
    size_t n = 0;
    int rc = noise_hs_write(hs, payload, payload_len, buf + 2, HS_MSG_MAX, &n, err);
    if (rc) return rc;
    put_be16(buf, n);
    rc = chan_write_full(c->fd, buf, n + 2, deadline);
    if (rc == UH_ETIMEDOUT) return err_setf(err, UH_EIO, "handshake timed out");
    if (rc) return err_setf(err, UH_EIO, "peer closed the connection during the handshake");
    return 0;
}

static int hs_read(chan *c, noise_hs *hs, uint8_t *payload, size_t cap, size_t *payload_len,
                   int64_t deadline, uh_err *err)
{
    uint8_t buf[HS_MSG_MAX];
    size_t n = 0;
    int rc = hs_read_frame(c, buf, &n, deadline, err);
    if (!rc) rc = noise_hs_read(hs, buf, n, payload, cap, payload_len, err);
    if (rc == UH_ELIMIT) rc = UH_EFORMAT; /* an auth payload over the cap */
    return rc;
}

/* Runs XX on c (preamble already exchanged) and fills the channel's keys and peer fields. */
static int handshake(chan *c, enum noise_role role, const chan_config *cfg, int64_t deadline,
                     uh_err *err)
{
    uint8_t prologue[32];
    size_t pl = prologue_of(c->purpose, prologue);
    noise_hs *hs = NULL;
    int rc = noise_hs_new(NOISE_XX, role, prologue, pl, cfg->static_priv, NULL, &hs, err);
    if (rc) return rc;
    size_t got = 0;
    if (role == NOISE_INITIATOR) {
        rc = hs_write(c, hs, NULL, 0, deadline, err);
        if (!rc)
            rc = hs_read(c, hs, c->remote_auth, sizeof c->remote_auth, &c->remote_auth_len,
                         deadline, err);
        if (!rc) rc = hs_write(c, hs, cfg->auth, cfg->auth_len, deadline, err);
    } else {
        uint8_t none[1];
        rc = hs_read(c, hs, none, 0, &got, deadline, err); /* message 1 carries nothing */
        if (!rc) rc = hs_write(c, hs, cfg->auth, cfg->auth_len, deadline, err);
        if (!rc)
            rc = hs_read(c, hs, c->remote_auth, sizeof c->remote_auth, &c->remote_auth_len,
                         deadline, err);
    }
    if (!rc) rc = noise_hs_split(hs, &c->tx, &c->rx);
    if (!rc) {
        memcpy(c->remote_static, noise_hs_remote_static(hs), 32);
        noise_hs_hash(hs, c->hash);
    }
    noise_hs_free(hs);
    return rc;
}

int chan_connect(const char *host_port, enum chan_purpose purpose, const chan_config *cfg,
                 chan **out, uh_err *err)
{
    *out = NULL;
    int rc = check_config(cfg, err);
    if (rc) return rc;
    if ((unsigned)purpose > CHAN_JOIN)
        return err_setf(err, UH_EINVAL, "chan: unknown purpose %d", (int)purpose);
    int timeout = cfg->timeout_ms > 0 ? cfg->timeout_ms : CHAN_DEFAULT_TIMEOUT_MS;
    int64_t deadline = chan_deadline(timeout);
    int fd = -1;
    rc = chan_tcp_connect(host_port, timeout, &fd, err);
    if (rc) return rc;
    chan *c = NULL;
    rc = chan_alloc(fd, purpose, cfg, &c, err);
    if (rc) {
        close(fd);
        return rc;
    }
    uint8_t pre[PREAMBLE_LEN] = {'U', 'N', 'H', CHAN_PROTO_VERSION, (uint8_t)purpose, 0, 0, 0};
    rc = chan_write_full(fd, pre, sizeof pre, deadline);
    if (rc) rc = err_setf(err, UH_EIO, "cannot send the preamble");
    if (!rc) rc = handshake(c, NOISE_INITIATOR, cfg, deadline, err);
    if (rc) {
        err_prefix(err, rc, "connect %s: handshake failed", host_port);
        chan_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static int check_preamble(const uint8_t pre[PREAMBLE_LEN], uh_err *err)
{
    if (memcmp(pre, "UNH", 3))
        return err_setf(err, UH_EFORMAT, "not an unhosted peer (bad preamble)");
    if (pre[3] != CHAN_PROTO_VERSION)
        return err_setf(err, UH_EUNSUPPORTED, "peer speaks protocol version %u, we speak %d",
                        pre[3], CHAN_PROTO_VERSION);
    if (pre[4] > CHAN_JOIN) return err_setf(err, UH_EFORMAT, "unknown purpose %u", pre[4]);
    if (pre[5] | pre[6] | pre[7])
        return err_setf(err, UH_EFORMAT, "reserved preamble bytes are not zero");
    return 0;
}

int chan_accept(int fd, const chan_config *cfg, chan **out, uh_err *err)
{
    *out = NULL;
    int rc = check_config(cfg, err);
    if (rc) {
        close(fd);
        return rc;
    }
    int timeout = cfg->timeout_ms > 0 ? cfg->timeout_ms : CHAN_DEFAULT_TIMEOUT_MS;
    int64_t deadline = chan_deadline(timeout);
    if (set_socket_options(fd)) {
        close(fd);
        return err_setf(err, UH_EIO, "chan: cannot make the socket non-blocking");
    }
    chan *c = NULL;
    rc = chan_alloc(fd, CHAN_CONNECT, cfg, &c, err);
    if (rc) {
        close(fd);
        return rc;
    }
    uint8_t pre[PREAMBLE_LEN];
    rc = chan_read_full(fd, pre, sizeof pre, deadline);
    if (rc == UH_ETIMEDOUT)
        rc = err_setf(err, UH_EIO, "no preamble within %d ms", timeout);
    else if (rc)
        rc = err_setf(err, UH_EIO, "peer closed the connection before the preamble");
    if (!rc) rc = check_preamble(pre, err);
    if (!rc) {
        c->purpose = (enum chan_purpose)pre[4];
        rc = handshake(c, NOISE_RESPONDER, cfg, deadline, err);
    }
    if (rc) {
        err_prefix(err, rc, "peer %s: handshake failed", c->peer);
        chan_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* ---- getters ---- */

enum chan_purpose chan_purpose_of(const chan *c)
{
    return c->purpose;
}
const uint8_t *chan_remote_static(const chan *c)
{
    return c->remote_static;
}
const char *chan_peer_addr(const chan *c)
{
    return c->peer;
}

const uint8_t *chan_remote_auth(const chan *c, size_t *len)
{
    *len = c->remote_auth_len;
    return c->remote_auth;
}

void chan_handshake_hash(const chan *c, uint8_t out[32])
{
    memcpy(out, c->hash, 32);
}

int chan_idle_ok(chan *c)
{
    if (!c || atomic_load(&c->shut) || c->rx_dead || c->tx_dead || c->hdr_have || c->msg_type >= 0)
        return 0;
    struct pollfd pf = {c->fd, POLLIN, 0};
    int rc = poll(&pf, 1, 0);
    /* Nothing may be waiting on an idle channel: readable means closed (or out of step). */
    return rc == 0;
}

void chan_shutdown(chan *c)
{
    atomic_store(&c->shut, 1);
    shutdown(c->fd, SHUT_RDWR);
}
