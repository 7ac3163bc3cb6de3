/* bench_chan.c - what an encrypted peer channel (net/chan.h) costs on this machine, over
 * loopback TCP:
 *
 *   bench_chan [-n ROUNDS]
 *
 *   handshake   connect + Noise_XX handshake + both auth payloads, median and p90, ms
 *   round trip  one small message there and back on an open channel, median, us
 *   bulk        1 MiB messages one way, MiB/s (encryption + framing + the kernel's copy)
 *
 * The handshake is the part of a routed request's time to first token that a local request does
 * not pay; the round trip bounds the per-token cost of streaming from a peer. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "net/chan.h"
#include "net/noise.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    int listen_fd;
    int rounds;
    chan_config cfg;
} server_args;

/* Accepts `rounds` channels for the handshake test, then one channel that echoes small
 * messages and swallows bulk ones until the client closes. */
static void *server(void *p)
{
    server_args *a = p;
    for (int i = 0; i <= a->rounds; i++) {
        int fd = accept(a->listen_fd, NULL, NULL);
        if (fd < 0) return NULL;
        chan *c = NULL;
        uh_err err;
        if (chan_accept(fd, &a->cfg, &c, &err) != 0) continue;
        if (i < a->rounds) {
            chan_free(c);
            continue;
        }
        for (;;) {
            uint8_t type;
            uint8_t *body = NULL;
            size_t len = 0;
            if (chan_recv(c, &type, &body, &len, -1, &err) != 0) break;
            if (type == 1) chan_send(c, 1, body, len, &err);
            free(body);
        }
        chan_free(c);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int rounds = 200;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_chan [-n ROUNDS]\n");
            return 2;
        }
    }
    if (rounds < 1) rounds = 1;
    uint8_t s_priv[32], s_pub[32], c_priv[32], c_pub[32], auth[96];
    noise_keypair(s_priv, s_pub);
    noise_keypair(c_priv, c_pub);
    memset(auth, 7, sizeof auth);

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sin;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sin, &sl) != 0) {
        perror("bench_chan: listen");
        return 1;
    }
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sin.sin_port));
    server_args sa = {.listen_fd = lfd, .rounds = rounds,
                      .cfg = {.static_priv = s_priv, .auth = auth, .auth_len = sizeof auth}};
    pthread_t t;
    pthread_create(&t, NULL, server, &sa);
    chan_config cc = {.static_priv = c_priv, .auth = auth, .auth_len = sizeof auth};

    double *hs = calloc((size_t)rounds, sizeof *hs);
    uh_err err;
    for (int i = 0; i < rounds; i++) {
        chan *c = NULL;
        double t0 = clock_mono_s();
        if (chan_connect(addr, CHAN_CONNECT, &cc, &c, &err) != 0) {
            fprintf(stderr, "bench_chan: %s\n", err.msg);
            return 1;
        }
        hs[i] = clock_mono_s() - t0;
        chan_free(c);
    }
    qsort(hs, (size_t)rounds, sizeof *hs, cmp_double);

    chan *c = NULL;
    if (chan_connect(addr, CHAN_CONNECT, &cc, &c, &err) != 0) {
        fprintf(stderr, "bench_chan: %s\n", err.msg);
        return 1;
    }
    int n_rt = rounds * 10;
    double *rt = calloc((size_t)n_rt, sizeof *rt);
    const char msg[] = "{\"x\":\"hello\",\"t\":15043,\"i\":3,\"lp\":-0.25}";
    for (int i = 0; i < n_rt; i++) {
        uint8_t type;
        uint8_t *body = NULL;
        size_t len = 0;
        double t0 = clock_mono_s();
        chan_send(c, 1, msg, sizeof msg - 1, &err);
        if (chan_recv(c, &type, &body, &len, 5000, &err) != 0) {
            fprintf(stderr, "bench_chan: %s\n", err.msg);
            return 1;
        }
        rt[i] = clock_mono_s() - t0;
        free(body);
    }
    qsort(rt, (size_t)n_rt, sizeof *rt, cmp_double);

    size_t bulk = 1u << 20;
    uint8_t *big = calloc(1, bulk);
    int n_bulk = 64;
    double t0 = clock_mono_s();
    for (int i = 0; i < n_bulk; i++) chan_send(c, 2, big, bulk, &err);
    /* one echo round trip so every bulk message has been received and decrypted */
    uint8_t type;
    uint8_t *body = NULL;
    size_t len = 0;
    chan_send(c, 1, "x", 1, &err);
    chan_recv(c, &type, &body, &len, 10000, &err);
    free(body);
    double bulk_s = clock_mono_s() - t0;
    chan_free(c);
    pthread_join(t, NULL);
    close(lfd);

    printf("handshake   median %.3f ms, p90 %.3f ms (%d rounds)\n", hs[rounds / 2] * 1e3,
           hs[rounds * 9 / 10] * 1e3, rounds);
    printf("round trip  median %.1f us, p90 %.1f us (%d messages of %zu bytes)\n",
           rt[n_rt / 2] * 1e6, rt[n_rt * 9 / 10] * 1e6, n_rt, sizeof msg - 1);
    printf("bulk        %.0f MiB/s (%d messages of 1 MiB)\n", n_bulk / bulk_s, n_bulk);
    free(hs);
    free(rt);
    free(big);
    return 0;
}
