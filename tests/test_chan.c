/* test_chan.c - encrypted channels over loopback TCP and socketpairs: the handshake for every
 * purpose, message sizes around the frame boundary, the receive cap, rekeying, concurrent
 * senders, timeouts, shutdown, peers that break the protocol, and the handshake limiter. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "check.h"
#include "net/chan_impl.h"

static uint8_t g_cs[32], g_cp[32], g_ss[32], g_sp[32]; /* client / server static keys */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* ---- helpers: a listener, an accepting thread, a connected pair ---- */

static int listen_local(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 8) ||
        getsockname(fd, (struct sockaddr *)&a, &sl))
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

typedef struct {
    int lfd;
    chan_config cfg;
    chan *c;
    int rc;
    uh_err err;
} acceptor;

static void *accept_main(void *arg)
{
    acceptor *a = arg;
    int fd = accept(a->lfd, NULL, NULL);
    a->rc = fd < 0 ? UH_EIO : chan_accept(fd, &a->cfg, &a->c, &a->err);
    return NULL;
}

static chan_config config(const uint8_t *priv, const char *auth)
{
    chan_config cfg = {.static_priv = priv,
                       .auth = (const uint8_t *)auth,
                       .auth_len = auth ? strlen(auth) : 0,
                       .timeout_ms = 2000};
    return cfg;
}

/* A client and a server channel over loopback TCP; 0 on success. */
static int tcp_pair(enum chan_purpose purpose, const chan_config *ccfg, const chan_config *scfg,
                    chan **client, chan **server)
{
    int port;
    acceptor a = {.cfg = *scfg};
    a.lfd = listen_local(&port);
    if (a.lfd < 0) return -1;
    pthread_t t;
    pthread_create(&t, NULL, accept_main, &a);
    char hp[32];
    snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
    uh_err err = {0};
    int rc = chan_connect(hp, purpose, ccfg, client, &err);
    pthread_join(t, NULL);
    close(a.lfd);
    CHECKF(rc == 0, "connect: %s", err.msg);
    CHECKF(a.rc == 0, "accept: %s", a.err.msg);
    *server = a.c;
    if (rc || a.rc) {
        chan_free(*client);
        chan_free(a.c);
        *client = *server = NULL;
        return -1;
    }
    return 0;
}

/* In-memory XX handshake: transport ciphers for both ends. */
static void mem_ciphers(noise_cipher *itx, noise_cipher *irx, noise_cipher *rtx, noise_cipher *rrx)
{
    noise_hs *hi = NULL, *hr = NULL;
    noise_hs_new(NOISE_XX, NOISE_INITIATOR, NULL, 0, g_cs, NULL, &hi, NULL);
    noise_hs_new(NOISE_XX, NOISE_RESPONDER, NULL, 0, g_ss, NULL, &hr, NULL);
    static uint8_t m[NOISE_MAX_MSG], p[NOISE_MAX_MSG];
    for (int i = 0; i < 3; i++) {
        noise_hs *w = i % 2 ? hr : hi, *r = i % 2 ? hi : hr;
        size_t n = 0, pn = 0;
        CHECK(noise_hs_write(w, NULL, 0, m, sizeof m, &n, NULL) == 0);
        CHECK(noise_hs_read(r, m, n, p, sizeof p, &pn, NULL) == 0);
    }
    CHECK(noise_hs_split(hi, itx, irx) == 0 && noise_hs_split(hr, rtx, rrx) == 0);
    noise_hs_free(hi);
    noise_hs_free(hr);
}

/* A receiving channel over a socketpair; *raw is the other end, for hand-made frames written
 * with *tx (rekey every rekey frames as the channel expects). */
static chan *raw_pair(size_t max_message, int *raw, noise_cipher *tx)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) return NULL;
    noise_cipher itx, irx, rtx, rrx;
    mem_ciphers(&itx, &irx, &rtx, &rrx);
    chan_config cfg = {.max_message = max_message, .timeout_ms = 1000};
    chan *c = NULL;
    CHECK(chan_wrap(sv[0], CHAN_CONNECT, &rtx, &rrx, &cfg, &c, NULL) == 0);
    *raw = sv[1];
    *tx = itx;
    return c;
}

/* Writes one encrypted frame [len][enc(type, flags, payload)]. */
static void raw_frame(int fd, noise_cipher *tx, uint8_t type, uint8_t flags, const void *p,
                      size_t n, int corrupt)
{
    static uint8_t buf[2 + CHAN_WIRE_MAX];
    buf[2] = type;
    buf[3] = flags;
    memcpy(buf + 4, p, n);
    noise_cipher_encrypt(tx, NULL, 0, buf + 2, n + 2, buf + 2);
    size_t len = n + 2 + NOISE_TAG_LEN;
    buf[0] = (uint8_t)(len >> 8);
    buf[1] = (uint8_t)len;
    if (corrupt) buf[2 + len / 2] ^= 0x10;
    CHECK(write(fd, buf, len + 2) == (ssize_t)(len + 2));
}

/* ---- handshake ---- */

static void test_handshake_every_purpose(void)
{
    for (int p = CHAN_CONNECT; p <= CHAN_JOIN; p++) {
        chan_config cc = config(g_cs, "client-auth"), sc = config(g_ss, "server auth payload");
        chan *c, *s;
        if (tcp_pair((enum chan_purpose)p, &cc, &sc, &c, &s)) return;
        CHECK(chan_purpose_of(c) == (enum chan_purpose)p);
        CHECK(chan_purpose_of(s) == (enum chan_purpose)p);
        CHECK(!memcmp(chan_remote_static(c), g_sp, 32));
        CHECK(!memcmp(chan_remote_static(s), g_cp, 32));
        size_t n;
        const uint8_t *a = chan_remote_auth(c, &n);
        CHECK(n == strlen("server auth payload") && !memcmp(a, "server auth payload", n));
        a = chan_remote_auth(s, &n);
        CHECK(n == strlen("client-auth") && !memcmp(a, "client-auth", n));
        uint8_t h1[32], h2[32];
        chan_handshake_hash(c, h1);
        chan_handshake_hash(s, h2);
        CHECK(!memcmp(h1, h2, 32));
        CHECK(!strncmp(chan_peer_addr(c), "127.0.0.1:", 10));
        CHECK(!strncmp(chan_peer_addr(s), "127.0.0.1:", 10));
        chan_free(c);
        chan_free(s);
    }
}

/* ---- messages ---- */

typedef struct {
    chan *c;
    uint8_t type;
    const uint8_t *p;
    size_t len;
    int n_times;
    int rc;
} sender;

static void *send_main(void *arg)
{
    sender *s = arg;
    for (int i = 0; i < s->n_times && !s->rc; i++)
        s->rc = chan_send(s->c, s->type, s->p, s->len, NULL);
    return NULL;
}

static void test_message_sizes(void)
{
    chan_config cc = config(g_cs, NULL), sc = config(g_ss, NULL);
    chan *c, *s;
    if (tcp_pair(CHAN_CONNECT, &cc, &sc, &c, &s)) return;
    size_t sizes[] = {0,
                      1,
                      CHAN_MAX_FRAME_PAYLOAD - 1,
                      CHAN_MAX_FRAME_PAYLOAD,
                      CHAN_MAX_FRAME_PAYLOAD + 1,
                      3 * CHAN_MAX_FRAME_PAYLOAD,
                      1u << 20};
    uint8_t *big = malloc(1u << 20);
    for (size_t i = 0; i < (1u << 20); i++) big[i] = (uint8_t)(i * 7 + (i >> 11));
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        sender snd = {.c = c, .type = (uint8_t)(k + 1), .p = big, .len = sizes[k], .n_times = 1};
        pthread_t t;
        pthread_create(&t, NULL, send_main, &snd);
        uint8_t type = 0, *msg = NULL;
        size_t len = 0;
        uh_err err = {0};
        int rc = chan_recv(s, &type, &msg, &len, 2000, &err);
        pthread_join(t, NULL);
        CHECKF(rc == 0 && snd.rc == 0, "size %zu: %s", sizes[k], err.msg);
        CHECK(type == k + 1 && len == sizes[k] && msg && msg[len] == 0);
        CHECKF(msg && !memcmp(msg, big, len), "size %zu differs", sizes[k]);
        free(msg);
    }
    /* the other direction too */
    CHECK(chan_send(s, 9, "pong", 4, NULL) == 0);
    uint8_t type, *msg;
    size_t len;
    CHECK(chan_recv(c, &type, &msg, &len, 1000, NULL) == 0 && type == 9 && len == 4);
    free(msg);
    CHECK(chan_send(c, 1, big, (size_t)CHAN_MAX_MESSAGE + 1, NULL) == UH_ELIMIT);
    free(big);
    chan_free(c);
    chan_free(s);
}

static void test_receive_cap(void)
{
    chan_config cc = config(g_cs, NULL), sc = config(g_ss, NULL);
    sc.max_message = 100000;
    chan *c, *s;
    if (tcp_pair(CHAN_CONNECT, &cc, &sc, &c, &s)) return;
    uint8_t *buf = calloc(1, 100001);
    uint8_t type, *msg = NULL;
    size_t len;
    CHECK(chan_send(c, 1, buf, 100000, NULL) == 0);
    CHECK(chan_recv(s, &type, &msg, &len, 1000, NULL) == 0 && len == 100000);
    free(msg);
    CHECK(chan_send(c, 1, buf, 100001, NULL) == 0);
    uh_err err = {0};
    CHECK(chan_recv(s, &type, &msg, &len, 1000, &err) == UH_EFORMAT && msg == NULL);
    CHECK(strstr(err.msg, "over") != NULL);
    CHECK(chan_recv(s, &type, &msg, &len, 1000, NULL) == UH_EIO); /* dead */
    free(buf);
    chan_free(c);
    chan_free(s);
}

static void test_rekey_every_three(void)
{
    chan_config cc = config(g_cs, NULL), sc = config(g_ss, NULL);
    cc.rekey_every = sc.rekey_every = 3;
    chan *c, *s;
    if (tcp_pair(CHAN_CONNECT, &cc, &sc, &c, &s)) return;
    uint8_t data[CHAN_MAX_FRAME_PAYLOAD + 100];
    randombytes_buf(data, sizeof data);
    for (int i = 0; i < 100; i++) {
        size_t n = i % 10 == 9 ? sizeof data : (size_t)(i * 13); /* some of two frames */
        chan *from = i % 3 ? c : s, *to = i % 3 ? s : c;
        CHECK(chan_send(from, (uint8_t)i, data, n, NULL) == 0);
        uint8_t type, *msg = NULL;
        size_t len;
        uh_err err = {0};
        CHECKF(chan_recv(to, &type, &msg, &len, 1000, &err) == 0, "message %d: %s", i, err.msg);
        CHECK(type == (uint8_t)i && len == n && msg && !memcmp(msg, data, n));
        free(msg);
    }
    CHECK(c->tx.n < 100 && s->rx.n < 100); /* nonces keep counting; keys changed many times */
    chan_free(c);
    chan_free(s);
    /* ends that disagree on the schedule fall out of step: so the rekey really happens */
    cc.rekey_every = 3;
    sc.rekey_every = 4;
    if (tcp_pair(CHAN_CONNECT, &cc, &sc, &c, &s)) return;
    int rc = 0;
    for (int i = 0; i < 5 && !rc; i++) {
        CHECK(chan_send(c, 1, "x", 1, NULL) == 0);
        uint8_t type, *msg = NULL;
        size_t len;
        rc = chan_recv(s, &type, &msg, &len, 1000, NULL);
        free(msg);
    }
    CHECK(rc == UH_EFORMAT);
    chan_free(c);
    chan_free(s);
}

static void test_concurrent_senders(void)
{
    chan_config cc = config(g_cs, NULL), sc = config(g_ss, NULL);
    cc.rekey_every = sc.rekey_every = 5;
    chan *c, *s;
    if (tcp_pair(CHAN_CONNECT, &cc, &sc, &c, &s)) return;
    size_t n = 2 * CHAN_MAX_FRAME_PAYLOAD + 10; /* several frames: interleaving would show */
    uint8_t *a = malloc(n), *b = malloc(n);
    memset(a, 'a', n);
    memset(b, 'b', n);
    sender sa = {.c = c, .type = 1, .p = a, .len = n, .n_times = 30};
    sender sb = {.c = c, .type = 2, .p = b, .len = n, .n_times = 30};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, send_main, &sa);
    pthread_create(&tb, NULL, send_main, &sb);
    int got[3] = {0}, bad = 0;
    for (int i = 0; i < 60; i++) {
        uint8_t type, *msg = NULL;
        size_t len;
        if (chan_recv(s, &type, &msg, &len, 2000, NULL)) {
            bad++;
            break;
        }
        if (type < 1 || type > 2 || len != n || memcmp(msg, type == 1 ? a : b, n))
            bad++;
        else
            got[type]++;
        free(msg);
    }
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(sa.rc == 0 && sb.rc == 0);
    CHECK(bad == 0 && got[1] == 30 && got[2] == 30);
    free(a);
    free(b);
    chan_free(c);
    chan_free(s);
}

/* ---- timeouts and shutdown ---- */

static void test_timeout_keeps_channel(void)
{
    int raw;
    noise_cipher tx;
    chan *c = raw_pair(0, &raw, &tx);
    if (!c) return;
    uint8_t type, *msg = NULL;
    size_t len;
    int64_t t0 = clock_mono_ms();
    CHECK(chan_recv(c, &type, &msg, &len, 50, NULL) == UH_ETIMEDOUT);
    CHECK(clock_mono_ms() - t0 >= 45 && clock_mono_ms() - t0 < 1000);
    /* a timeout in the middle of a frame and of a message keeps what arrived */
    static uint8_t buf[64];
    raw_frame(raw, &tx, 5, CHAN_FLAG_MORE, "first ", 6, 0);
    memcpy(buf + 4, "second", 6);
    buf[2] = 5;
    buf[3] = 0;
    noise_cipher_encrypt(&tx, NULL, 0, buf + 2, 8, buf + 2);
    buf[0] = 0;
    buf[1] = 8 + NOISE_TAG_LEN;
    CHECK(write(raw, buf, 5) == 5);
    CHECK(chan_recv(c, &type, &msg, &len, 30, NULL) == UH_ETIMEDOUT);
    CHECK(write(raw, buf + 5, 8 + NOISE_TAG_LEN - 3) == 8 + NOISE_TAG_LEN - 3);
    CHECK(chan_recv(c, &type, &msg, &len, 1000, NULL) == 0);
    CHECK(type == 5 && len == 12 && msg && !memcmp(msg, "first second", 12));
    free(msg);
    close(raw);
    uh_err err = {0};
    CHECK(chan_recv(c, &type, &msg, &len, 1000, &err) == UH_EIO);
    CHECK(strstr(err.msg, "closed") != NULL);
    chan_free(c);
}

typedef struct {
    chan *c;
    int rc;
} receiver;

static void *recv_main(void *arg)
{
    receiver *r = arg;
    uint8_t type, *msg = NULL;
    size_t len;
    r->rc = chan_recv(r->c, &type, &msg, &len, -1, NULL);
    free(msg);
    return NULL;
}

static void test_shutdown_wakes_receiver(void)
{
    int raw;
    noise_cipher tx;
    chan *c = raw_pair(0, &raw, &tx);
    if (!c) return;
    receiver r = {.c = c, .rc = 1};
    pthread_t t;
    pthread_create(&t, NULL, recv_main, &r);
    sleep_ms(50);
    int64_t t0 = clock_mono_ms();
    chan_shutdown(c);
    pthread_join(t, NULL);
    CHECK(r.rc == UH_EIO);
    CHECK(clock_mono_ms() - t0 < 500);
    CHECK(chan_send(c, 1, "x", 1, NULL) == UH_EIO);
    uint8_t type, *msg = NULL;
    size_t len;
    CHECK(chan_recv(c, &type, &msg, &len, 10, NULL) == UH_EIO);
    close(raw);
    chan_free(c);
}

/* ---- peers that break the protocol ---- */

static void test_bad_frames(void)
{
    struct {
        const char *what;
        int rc;
    } cases[] = {{"tampered", UH_EFORMAT}, {"zero", UH_EFORMAT}, {"short", UH_EFORMAT},
                 {"flags", UH_EFORMAT},    {"type", UH_EFORMAT}, {"truncated", UH_EIO}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int raw;
        noise_cipher tx;
        chan *c = raw_pair(0, &raw, &tx);
        if (!c) return;
        const char *w = cases[k].what;
        if (!strcmp(w, "tampered")) raw_frame(raw, &tx, 1, 0, "hello", 5, 1);
        if (!strcmp(w, "zero")) CHECK(write(raw, "\0\0", 2) == 2);
        if (!strcmp(w, "short"))
            CHECK(write(raw,
                        "\0\x11"
                        "0123456789abcdefg",
                        19) == 19);
        if (!strcmp(w, "flags")) raw_frame(raw, &tx, 1, 0x80, "hello", 5, 0);
        if (!strcmp(w, "type")) {
            raw_frame(raw, &tx, 1, CHAN_FLAG_MORE, "he", 2, 0);
            raw_frame(raw, &tx, 2, 0, "llo", 3, 0);
        }
        if (!strcmp(w, "truncated"))
            CHECK(write(raw,
                        "\x01\x00"
                        "abc",
                        5) == 5);
        shutdown(raw, SHUT_WR);
        uint8_t type, *msg = NULL;
        size_t len;
        uh_err err = {0};
        int rc = chan_recv(c, &type, &msg, &len, 1000, &err);
        CHECKF(rc == cases[k].rc, "%s: %d %s", w, rc, err.msg);
        CHECK(msg == NULL);
        close(raw);
        chan_free(c);
    }
}

/* Sends raw bytes to a chan_accept and returns its result. */
typedef struct {
    int fd;
    const void *bytes;
    size_t len;
    int stall_ms;
} raw_peer;

static void *raw_peer_main(void *arg)
{
    raw_peer *p = arg;
    if (p->len) CHECK(write(p->fd, p->bytes, p->len) == (ssize_t)p->len);
    sleep_ms(p->stall_ms);
    close(p->fd);
    return NULL;
}

static int accept_raw(const void *bytes, size_t len, int stall_ms, int timeout_ms, uh_err *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) return -100;
    raw_peer p = {sv[1], bytes, len, stall_ms};
    pthread_t t;
    pthread_create(&t, NULL, raw_peer_main, &p);
    chan_config cfg = config(g_ss, NULL);
    cfg.timeout_ms = timeout_ms;
    chan *c = NULL;
    int rc = chan_accept(sv[0], &cfg, &c, err);
    pthread_join(t, NULL);
    chan_free(c);
    return rc;
}

static void test_bad_preambles_and_stalls(void)
{
    uh_err err = {0};
    CHECK(accept_raw("GET / HTTP/1.1\r\n\r\n", 18, 0, 1000, &err) == UH_EFORMAT);
    CHECK(strstr(err.msg, "preamble") != NULL);
    CHECK(accept_raw("UNH\x02\0\0\0\0", 8, 0, 1000, &err) == UH_EUNSUPPORTED);
    CHECK(accept_raw("UNH\x01\x07\0\0\0", 8, 0, 1000, &err) == UH_EFORMAT);
    CHECK(accept_raw("UNH\x01\0\0\0\x01", 8, 0, 1000, &err) == UH_EFORMAT);
    CHECK(accept_raw("UNH\x01\0\0\0\0\0\0", 10, 0, 1000, &err) == UH_EFORMAT); /* empty msg 1 */
    CHECK(accept_raw("UNH\x01\0\0\0\0\0\x05hello", 15, 0, 1000, &err) == UH_EFORMAT);
    CHECK(accept_raw("UNH\x01\0\0\0\0\xff\xff", 10, 0, 1000, &err) == UH_EFORMAT);
    CHECK(accept_raw("UNH", 3, 0, 1000, &err) == UH_EIO); /* closed early */
    /* stalls: no preamble, or half a message 1, then silence */
    int64_t t0 = clock_mono_ms();
    CHECK(accept_raw("", 0, 400, 100, &err) == UH_EIO);
    CHECK(strstr(err.msg, "ms") != NULL);
    CHECK(accept_raw("UNH\x01\0\0\0\0\0\x20"
                     "0123",
                     14, 400, 100, &err) == UH_EIO);
    CHECK(strstr(err.msg, "timed out") != NULL);
    CHECK(clock_mono_ms() - t0 < 1500);
}

/* A responder that uses the prologue of another purpose than the preamble says. */
typedef struct {
    int lfd;
    enum chan_purpose prologue_purpose;
} fake_responder;

static void *fake_responder_main(void *arg)
{
    fake_responder *f = arg;
    int fd = accept(f->lfd, NULL, NULL);
    uint8_t buf[2048], pl[8];
    size_t n = 0, pn = 0;
    size_t have = 0;
    ssize_t got = 1;
    while (fd >= 0 && have < 42 && got > 0) {
        got = read(fd, buf + have, 42 - have);
        if (got > 0) have += (size_t)got;
    }
    if (have != 42) goto out;
    static const char *names[] = {"connect", "pair", "join"};
    char prologue[32];
    snprintf(prologue, sizeof prologue, "unhosted/1 %s", names[f->prologue_purpose]);
    noise_hs *hs = NULL;
    noise_hs_new(NOISE_XX, NOISE_RESPONDER, (const uint8_t *)prologue, strlen(prologue), g_ss, NULL,
                 &hs, NULL);
    if (noise_hs_read(hs, buf + 10, 32, pl, sizeof pl, &pn, NULL) == 0 &&
        noise_hs_write(hs, NULL, 0, buf + 2, sizeof buf - 2, &n, NULL) == 0) {
        buf[0] = (uint8_t)(n >> 8);
        buf[1] = (uint8_t)n;
        CHECK(write(fd, buf, n + 2) == (ssize_t)(n + 2));
        while (read(fd, buf, sizeof buf) > 0) {
        } /* until the client hangs up */
    }
    noise_hs_free(hs);
out:
    if (fd >= 0) close(fd);
    return NULL;
}

static void test_purpose_mismatch(void)
{
    int port;
    fake_responder f = {.prologue_purpose = CHAN_PAIR};
    f.lfd = listen_local(&port);
    pthread_t t;
    pthread_create(&t, NULL, fake_responder_main, &f);
    char hp[32];
    snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
    chan_config cc = config(g_cs, NULL);
    chan *c = NULL;
    uh_err err = {0};
    CHECK(chan_connect(hp, CHAN_CONNECT, &cc, &c, &err) == UH_EFORMAT && c == NULL);
    CHECK(strstr(err.msg, "handshake failed") != NULL);
    pthread_join(t, NULL);
    close(f.lfd);
    /* the same fake with the right prologue completes message 2 (the fake is sound) */
    f.prologue_purpose = CHAN_CONNECT;
    f.lfd = listen_local(&port);
    pthread_create(&t, NULL, fake_responder_main, &f);
    snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
    cc.timeout_ms = 300;
    int rc = chan_connect(hp, CHAN_CONNECT, &cc, &c, &err);
    CHECKF(rc == 0, "%s", err.msg); /* message 3 went out */
    chan_free(c);
    pthread_join(t, NULL);
    close(f.lfd);
}

static void test_connect_errors(void)
{
    chan_config cc = config(g_cs, NULL);
    chan *c = NULL;
    uh_err err = {0};
    int port;
    int lfd = listen_local(&port);
    close(lfd); /* nothing listens there now */
    char hp[32];
    snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
    CHECK(chan_connect(hp, CHAN_CONNECT, &cc, &c, &err) == UH_EIO);
    CHECK(strstr(err.msg, "refused") != NULL && strstr(err.msg, hp) != NULL);
    CHECK(chan_connect("::1:80", CHAN_CONNECT, &cc, &c, &err) == UH_EINVAL);
    CHECK(chan_connect("localhost", CHAN_CONNECT, &cc, &c, &err) == UH_EINVAL);
    CHECK(chan_connect("[::1]:99999", CHAN_CONNECT, &cc, &c, &err) == UH_EINVAL);
    CHECK(chan_connect(hp, (enum chan_purpose)9, &cc, &c, &err) == UH_EINVAL);
    cc.auth_len = CHAN_MAX_AUTH + 1;
    CHECK(chan_connect(hp, CHAN_CONNECT, &cc, &c, &err) == UH_EINVAL);
    /* IPv6 loopback, where the machine has it */
    int fd6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    socklen_t sl = sizeof a6;
    if (fd6 >= 0 && !bind(fd6, (struct sockaddr *)&a6, sizeof a6) && !listen(fd6, 4) &&
        !getsockname(fd6, (struct sockaddr *)&a6, &sl)) {
        acceptor a = {.lfd = fd6, .cfg = config(g_ss, NULL)};
        pthread_t t;
        pthread_create(&t, NULL, accept_main, &a);
        snprintf(hp, sizeof hp, "[::1]:%d", ntohs(a6.sin6_port));
        cc.auth_len = 0;
        CHECKF(chan_connect(hp, CHAN_PAIR, &cc, &c, &err) == 0, "%s", err.msg);
        pthread_join(t, NULL);
        CHECK(a.rc == 0 && c && !strncmp(chan_peer_addr(c), "[::1]:", 6));
        chan_free(c);
        chan_free(a.c);
    }
    if (fd6 >= 0) close(fd6);
}

/* ---- limiter ---- */

static struct sockaddr_in v4(const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static struct sockaddr_in6 v6(const char *ip)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return a;
}

#define SA(x) ((const struct sockaddr *)&(x))

static void test_limiter(void)
{
    chan_limiter *l = NULL;
    CHECK(chan_limiter_new(2, 0, &l, NULL) == 0);
    struct sockaddr_in a = v4("10.0.0.1"), b = v4("10.0.0.2");
    struct sockaddr_in6 m = v6("::ffff:10.0.0.1");
    CHECK(chan_limiter_enter(l, SA(a)) == 0);
    CHECK(chan_limiter_enter(l, SA(m)) == 0); /* the same host, IPv4-mapped */
    CHECK(chan_limiter_enter(l, SA(a)) == UH_ELIMIT);
    CHECK(chan_limiter_enter(l, SA(b)) == 0);
    chan_limiter_leave(l, SA(a));
    CHECK(chan_limiter_enter(l, SA(a)) == 0);
    chan_limiter_free(l);

    CHECK(chan_limiter_new(0, 3, &l, NULL) == 0);
    struct sockaddr_in6 x = v6("2001:db8:1:2::1"), y = v6("2001:db8:1:2::ffff"),
                        z = v6("2001:db8:1:3::1");
    int64_t t = 1000000;
    for (int i = 0; i < 3; i++) {
        CHECK(chan_limiter_enter_at(l, i == 1 ? SA(y) : SA(x), t) == 0);
        chan_limiter_leave(l, SA(x));
    }
    CHECK(chan_limiter_enter_at(l, SA(y), t) == UH_ELIMIT); /* same /64 */
    CHECK(chan_limiter_enter_at(l, SA(z), t) == 0);         /* another /64 */
    CHECK(chan_limiter_enter_at(l, SA(x), t + 19000) == UH_ELIMIT);
    CHECK(chan_limiter_enter_at(l, SA(x), t + 20000) == 0); /* a third of a minute: one more */
    CHECK(chan_limiter_enter_at(l, SA(x), t + 20000) == UH_ELIMIT);
    /* a full table forgets the stalest entries: memory stays fixed, x comes back fresh */
    for (int i = 0; i < CHAN_LIMITER_SLOTS + 10; i++) {
        struct sockaddr_in o = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0b000000u + i)};
        CHECK(chan_limiter_enter_at(l, SA(o), t + 30000 + i) == 0);
        chan_limiter_leave(l, SA(o));
    }
    CHECK(chan_limiter_enter_at(l, SA(x), t + 40000) == 0);
    chan_limiter_leave(l, SA(x));
    chan_limiter_leave(l, SA(b)); /* unknown: nothing happens */
    chan_limiter_free(l);
    chan_limiter_free(NULL);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    if (sodium_init() < 0) return 1;
    noise_keypair(g_cs, g_cp);
    noise_keypair(g_ss, g_sp);
    T_RUN(test_handshake_every_purpose);
    T_RUN(test_message_sizes);
    T_RUN(test_receive_cap);
    T_RUN(test_rekey_every_three);
    T_RUN(test_concurrent_senders);
    T_RUN(test_timeout_keeps_channel);
    T_RUN(test_shutdown_wakes_receiver);
    T_RUN(test_bad_frames);
    T_RUN(test_bad_preambles_and_stalls);
    T_RUN(test_purpose_mismatch);
    T_RUN(test_connect_errors);
    T_RUN(test_limiter);
    return t_exit();
}
