/* chan_sock.c - the socket side of channels: TCP connect with a timeout (getaddrinfo, every
 * address tried in turn, non-blocking connect + poll), and reads/writes that loop over partial
 * I/O and EINTR and give up at a deadline. Sockets here are always non-blocking; every wait is
 * a poll, so nothing blocks past its deadline and shutdown(2) wakes every waiter. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "net/chan_impl.h"

int64_t chan_deadline(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : clock_mono_ms() + timeout_ms;
}

/* Waits for events on fd: 0 when ready (or hung up: the next call reports it), UH_ETIMEDOUT at
 * the deadline, UH_EIO when poll fails. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int ms = -1;
        if (deadline >= 0) {
            int64_t left = deadline - clock_mono_ms();
            if (left <= 0) return UH_ETIMEDOUT;
            ms = left > 1000000 ? 1000000 : (int)left;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, ms);
        if (n > 0) return 0;
        if (n < 0 && errno != EINTR) return UH_EIO;
    }
}

int chan_read_some(int fd, void *buf, size_t len, int64_t deadline, size_t *got)
{
    *got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);
        if (n > 0) {
            *got = (size_t)n;
            return 0;
        }
        if (n == 0) return UH_EIO;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return UH_EIO;
        int rc = wait_fd(fd, POLLIN, deadline);
        if (rc) return rc;
    }
}

int chan_read_full(int fd, void *buf, size_t len, int64_t deadline)
{
    size_t have = 0;
    while (have < len) {
        size_t got;
        int rc = chan_read_some(fd, (uint8_t *)buf + have, len - have, deadline, &got);
        if (rc) return rc;
        have += got;
    }
    return 0;
}

int chan_write_full(int fd, const void *buf, size_t len, int64_t deadline)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = send(fd, (const uint8_t *)buf + done, len - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return UH_EIO;
        int rc = wait_fd(fd, POLLOUT, deadline);
        if (rc) return rc;
    }
    return 0;
}

/* Splits "HOST:PORT" / "[V6]:PORT" into host and port. */
static int split_host_port(const char *hp, char *host, size_t host_cap, char *port, size_t port_cap)
{
    const char *colon, *h = hp;
    size_t hl;
    if (hp[0] == '[') {
        const char *end = strchr(hp, ']');
        if (!end || end[1] != ':') return -1;
        h = hp + 1;
        hl = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(hp, ':');
        if (!colon || memchr(hp, ':', (size_t)(colon - hp))) return -1; /* bare IPv6 */
        hl = (size_t)(colon - hp);
    }
    size_t pl = strlen(colon + 1);
    if (hl == 0 || hl >= host_cap || pl == 0 || pl >= port_cap) return -1;
    for (size_t i = 0; i < pl; i++)
        if (colon[1 + i] < '0' || colon[1 + i] > '9') return -1;
    memcpy(host, h, hl);
    host[hl] = 0;
    memcpy(port, colon + 1, pl + 1);
    return atoi(port) > 0 && atoi(port) < 65536 ? 0 : -1;
}

/* One address: 0 and *fd_out, or an errno-like reason in *why. */
static int connect_one(const struct addrinfo *ai, int64_t deadline, int *fd_out, const char **why)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        *why = strerror(errno);
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS && errno != EINTR) {
            *why = errno == ECONNREFUSED ? "connection refused" : strerror(errno);
            goto fail;
        }
        int rc = wait_fd(fd, POLLOUT, deadline);
        if (rc == UH_ETIMEDOUT) {
            *why = "timed out";
            goto fail;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (rc || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) soerr = errno;
        if (soerr) {
            *why = soerr == ECONNREFUSED ? "connection refused" : strerror(soerr);
            goto fail;
        }
    }
    *fd_out = fd;
    return 0;
fail:
    close(fd);
    return -1;
}

int chan_tcp_connect(const char *host_port, int timeout_ms, int *fd_out, uh_err *err)
{
    *fd_out = -1;
    char host[256], port[8];
    if (split_host_port(host_port, host, sizeof host, port, sizeof port))
        return err_setf(err, UH_EINVAL, "bad peer address '%.200s' (want HOST:PORT or [V6]:PORT)",
                        host_port);
    int64_t deadline = chan_deadline(timeout_ms);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai)
        return err_setf(err, UH_EIO, "connect %s: %s", host_port,
                        gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
    const char *why = "no address";
    int rc = UH_EIO;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (connect_one(ai, deadline, fd_out, &why) == 0) {
            rc = 0;
            break;
        }
        if (deadline >= 0 && clock_mono_ms() >= deadline) {
            why = "timed out";
            break;
        }
    }
    freeaddrinfo(res);
    if (rc) return err_setf(err, UH_EIO, "connect %s: %s", host_port, why);
    int one = 1;
    setsockopt(*fd_out, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

void chan_peer_name(int fd, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "";
    snprintf(out, cap, "local");
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) return;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    }
}
