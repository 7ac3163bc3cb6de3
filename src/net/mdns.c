/* mdns.c - the mDNS responder and DNS-SD browser thread (see mdns.h for the protocol).
 *
 * One UDP socket on 0.0.0.0:5353 shared with other responders (SO_REUSEADDR/SO_REUSEPORT),
 * joined to 224.0.0.251 on each chosen interface. IP_PKTINFO tells which interface a packet
 * came in on, so answers carry that interface's address; sends pick the interface with
 * IP_MULTICAST_IF. Our own packets come back to us through multicast loop: a hash of every
 * packet sent in the last seconds recognises them. The browse table (mdns_browse.c) holds the
 * services of others.
 *
 * Host name: "unhosted-<7 characters of the device id>.local", so it never clashes with the
 * machine's own name that Avahi announces. Probing (RFC 6762 section 8.1) is not done; when
 * another responder answers for our instance name with other SRV/TXT data we take
 * "<instance> (2)", "(3)", ... and announce again. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "net/mdns_impl.h"

#define MDNS_GROUP     "224.0.0.251"
#define TTL_SERVICE    4500 /* PTR, SRV, TXT: 75 minutes (RFC 6762 section 10) */
#define TTL_HOST       120  /* A */
#define SEND_CAP       1460 /* fits an Ethernet frame */
#define RECV_CAP       9000
#define N_SENT         32 /* hashes of recent packets kept for loop detection */
#define SENT_WINDOW_MS 5000
#define BROWSE_MAX_MS  60000

/* ---- sockets and interfaces ---- */

static int scan_ifaces(mdns *m, const mdns_config *cfg, uh_err *err)
{
    struct ifaddrs *all = NULL, *a;
    if (getifaddrs(&all) != 0)
        return err_setf(err, UH_EIO, "mdns: listing interfaces: %s", strerror(errno));
    m->n_ifs = 0;
    for (a = all; a && m->n_ifs < MDNS_MAX_IFACES; a = a->ifa_next) {
        if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || !(a->ifa_flags & IFF_UP)) continue;
        if (cfg->ifname && strcmp(cfg->ifname, a->ifa_name) != 0) continue;
        int lo = (a->ifa_flags & IFF_LOOPBACK) != 0;
        if (lo && !cfg->loopback) continue;
        if (!lo && !(a->ifa_flags & IFF_MULTICAST)) continue;
        unsigned idx = if_nametoindex(a->ifa_name);
        if (!idx) continue;
        int dup = 0;
        for (int i = 0; i < m->n_ifs; i++) dup |= m->ifs[i].index == (int)idx;
        if (dup) continue; /* first address of an interface only */
        mdns_iface *f = &m->ifs[m->n_ifs++];
        f->index = (int)idx;
        snprintf(f->name, sizeof f->name, "%s", a->ifa_name);
        memcpy(f->ip4, &((struct sockaddr_in *)a->ifa_addr)->sin_addr, 4);
    }
    freeifaddrs(all);
    if (m->n_ifs == 0)
        return err_setf(err, UH_ENOTFOUND, "mdns: no suitable interface%s%s (up, multicast, IPv4)",
                        cfg->ifname ? " named " : "", cfg->ifname ? cfg->ifname : "");
    return 0;
}

static int open_socket(mdns *m, uh_err *err)
{
    int one = 1, ttl = 255;
    unsigned char loop = 1, mttl = 255;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(MDNS_PORT)};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return err_setf(err, UH_EIO, "mdns: socket: %s", strerror(errno));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) != 0 ||
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &mttl, sizeof mttl) != 0 ||
        setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl) != 0 ||
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) != 0) {
        err_setf(err, UH_EIO, "mdns: socket options: %s", strerror(errno));
        goto fail;
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        err_setf(err, UH_EIO, "mdns: bind 0.0.0.0:%d: %s", MDNS_PORT, strerror(errno));
        goto fail;
    }
    int joined = 0;
    for (int i = 0; i < m->n_ifs; i++) {
        struct ip_mreqn mr = {.imr_ifindex = m->ifs[i].index};
        inet_pton(AF_INET, MDNS_GROUP, &mr.imr_multiaddr);
        if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) {
            log_warn("mdns_join", "if=%s err=\"%s\"", m->ifs[i].name, strerror(errno));
            m->ifs[i].index = -m->ifs[i].index; /* not used */
            continue;
        }
        joined++;
    }
    if (!joined) {
        err_setf(err, UH_EIO, "mdns: could not join %s on any interface", MDNS_GROUP);
        goto fail;
    }
    m->fd = fd;
    return 0;
fail:
    close(fd);
    return err ? err->code : UH_EIO;
}

static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h ^ (uint32_t)n;
}

int mdns_is_own_packet(mdns *m, const uint8_t *p, size_t n)
{
    uint32_t h = hash_bytes(p, n);
    int64_t now = clock_mono_ms();
    for (int i = 0; i < N_SENT; i++)
        if (m->sent_hash[i] == h && now - m->sent_at[i] < SENT_WINDOW_MS && m->sent_at[i]) return 1;
    return 0;
}

/* Sends to the group on interface f, or to dst (unicast) when given. */
static void send_pkt(mdns *m, const mdns_iface *f, const uint8_t *p, size_t n,
                     const struct sockaddr_in *dst)
{
    struct sockaddr_in group = {.sin_family = AF_INET, .sin_port = htons(MDNS_PORT)};
    inet_pton(AF_INET, MDNS_GROUP, &group.sin_addr);
    if (m->fd < 0) { /* offline: keep the packet for the caller to look at */
        if (n <= sizeof m->offline_sent) {
            memcpy(m->offline_sent, p, n);
            m->offline_sent_len = n;
            m->offline_unicast = dst != NULL;
            m->n_offline_sent++;
        }
        return;
    }
    if (!dst) {
        struct ip_mreqn mr = {.imr_ifindex = f->index};
        memcpy(&mr.imr_address, f->ip4, 4);
        if (setsockopt(m->fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof mr) != 0) {
            log_warn("mdns_send", "if=%s err=\"%s\"", f->name, strerror(errno));
            return;
        }
        dst = &group;
    }
    m->sent_hash[m->sent_i] = hash_bytes(p, n);
    m->sent_at[m->sent_i] = clock_mono_ms();
    m->sent_i = (m->sent_i + 1) % N_SENT;
    if (sendto(m->fd, p, n, 0, (const struct sockaddr *)dst, sizeof *dst) < 0)
        log_debug("mdns_send", "if=%s err=\"%s\"", f->name, strerror(errno));
}

void mdns_send_all(mdns *m, const uint8_t *p, size_t n)
{
    for (int i = 0; i < m->n_ifs; i++)
        if (m->ifs[i].index > 0) send_pkt(m, &m->ifs[i], p, n, NULL);
}

/* ---- our records ---- */

static void rec_init(mdns_record *r, const char *name, int type, uint32_t ttl, int unique)
{
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->type = (uint16_t)type;
    r->klass = MDNS_CLASS_IN;
    r->flag = unique;
    r->ttl = ttl;
}

/* Our record of the given type as seen on interface f, TTL scaled by ttl (0 = goodbye). */
static void our_record(const mdns *m, int type, const mdns_iface *f, int goodbye, mdns_record *r)
{
    switch (type) {
    case MDNS_TYPE_PTR:
        rec_init(r, MDNS_SERVICE, type, goodbye ? 0 : TTL_SERVICE, 0);
        snprintf(r->target, sizeof r->target, "%s", m->fullname);
        break;
    case MDNS_TYPE_SRV:
        rec_init(r, m->fullname, type, goodbye ? 0 : TTL_HOST, 1);
        r->port = (uint16_t)m->port;
        snprintf(r->target, sizeof r->target, "%s", m->host);
        break;
    case MDNS_TYPE_TXT:
        rec_init(r, m->fullname, type, goodbye ? 0 : TTL_SERVICE, 1);
        snprintf(r->txt, sizeof r->txt, "%s", m->txt);
        break;
    default: /* A */
        rec_init(r, m->host, MDNS_TYPE_A, goodbye ? 0 : TTL_HOST, 1);
        memcpy(r->ip4, f->ip4, 4);
        break;
    }
}

static const int our_types[4] = {MDNS_TYPE_PTR, MDNS_TYPE_SRV, MDNS_TYPE_TXT, MDNS_TYPE_A};

/* Unsolicited response with all our records on every interface (goodbye: TTL 0). */
void mdns_announce(mdns *m, int goodbye)
{
    uint8_t buf[SEND_CAP];
    for (int i = 0; i < m->n_ifs; i++) {
        const mdns_iface *f = &m->ifs[i];
        if (f->index <= 0) continue;
        mdns_builder b;
        mdns_record r;
        mdns_build_init(&b, buf, sizeof buf, 0, MDNS_FLAG_RESPONSE);
        for (int t = 0; t < 4; t++) {
            our_record(m, our_types[t], f, goodbye, &r);
            mdns_build_add(&b, MDNS_SEC_ANSWER, &r, 1);
        }
        int n = mdns_build_end(&b);
        if (n > 0) send_pkt(m, f, buf, (size_t)n, NULL);
    }
    log_debug("mdns_announce", "instance=\"%s\" goodbye=%d", m->instance, goodbye);
}

static int set_instance(mdns *m, const char *instance)
{
    char esc[MDNS_MAX_NAME - sizeof MDNS_SERVICE - 1];
    if (!instance[0] || strlen(instance) > MDNS_MAX_LABEL) return UH_EINVAL;
    if (mdns_label_escape((const uint8_t *)instance, strlen(instance), esc, sizeof esc) != 0)
        return UH_EINVAL;
    snprintf(m->instance, sizeof m->instance, "%s", instance);
    snprintf(m->fullname, sizeof m->fullname, "%s.%s", esc, MDNS_SERVICE);
    return 0;
}

/* Another responder claims our instance name: take the next "(N)" suffix. */
static void rename_instance(mdns *m)
{
    char base[64], next[64];
    snprintf(base, sizeof base, "%s", m->base_instance);
    m->n_renames++;
    size_t keep = strlen(base);
    if (keep > 56) keep = 56;
    base[keep] = 0;
    snprintf(next, sizeof next, "%s (%d)", base, m->n_renames + 1);
    log_warn("mdns_conflict", "instance=\"%s\" new=\"%s\"", m->instance, next);
    set_instance(m, next);
    m->n_announce_left = 2;
    m->next_announce = clock_mono_ms();
}

/* ---- answering queries ---- */

/* 1 when the querier already knows record r (same data, at least half the TTL left). */
static int known_answer(const mdns_packet *q, const mdns_record *r)
{
    for (int i = 0; i < q->n_records; i++) {
        const mdns_record *k = &q->records[i];
        if (k->type != r->type || !mdns_name_eq(k->name, r->name) || k->ttl < r->ttl / 2) continue;
        if (r->type == MDNS_TYPE_PTR && mdns_name_eq(k->target, r->target)) return 1;
        if (r->type == MDNS_TYPE_SRV && k->port == r->port && mdns_name_eq(k->target, r->target))
            return 1;
        if (r->type == MDNS_TYPE_TXT && strcmp(k->txt, r->txt) == 0) return 1;
        if (r->type == MDNS_TYPE_A && memcmp(k->ip4, r->ip4, 4) == 0) return 1;
    }
    return 0;
}

static void answer_query(mdns *m, const mdns_packet *q, const mdns_iface *f,
                         const struct sockaddr_in *src)
{
    int legacy = ntohs(src->sin_port) != MDNS_PORT, all_qu = q->n_questions > 0;
    int want[4] = {0}, enum_services = 0;
    for (int i = 0; i < q->n_questions; i++) {
        const mdns_record *qq = &q->questions[i];
        if (qq->klass != MDNS_CLASS_IN && qq->klass != MDNS_TYPE_ANY) continue;
        int any = qq->type == MDNS_TYPE_ANY, hit = 0;
        if ((qq->type == MDNS_TYPE_PTR || any) && mdns_name_eq(qq->name, MDNS_SERVICE))
            want[0] = hit = 1;
        if ((qq->type == MDNS_TYPE_PTR || any) &&
            mdns_name_eq(qq->name, "_services._dns-sd._udp.local"))
            enum_services = hit = 1;
        if (mdns_name_eq(qq->name, m->fullname)) {
            if (qq->type == MDNS_TYPE_SRV || any) want[1] = hit = 1;
            if (qq->type == MDNS_TYPE_TXT || any) want[2] = hit = 1;
        }
        if ((qq->type == MDNS_TYPE_A || any) && mdns_name_eq(qq->name, m->host)) want[3] = hit = 1;
        if (hit && !qq->flag) all_qu = 0;
    }
    if (!want[0] && !want[1] && !want[2] && !want[3] && !enum_services) return;

    uint8_t buf[SEND_CAP];
    mdns_builder b;
    mdns_record r;
    uint32_t ttl_cap = legacy ? 10 : UINT32_MAX;
    mdns_build_init(&b, buf, sizeof buf, legacy ? q->id : 0, MDNS_FLAG_RESPONSE);
    if (legacy) /* a plain DNS client expects its questions back */
        for (int i = 0; i < q->n_questions; i++)
            mdns_build_add(&b, MDNS_SEC_QUESTION, &q->questions[i], 1);
    int n_answers = 0, sent[4] = {0};
    if (enum_services) {
        rec_init(&r, "_services._dns-sd._udp.local", MDNS_TYPE_PTR, TTL_SERVICE, 0);
        snprintf(r.target, sizeof r.target, "%s", MDNS_SERVICE);
        if (!known_answer(q, &r)) n_answers += mdns_build_add(&b, MDNS_SEC_ANSWER, &r, 1) == 0;
    }
    for (int t = 0; t < 4; t++) {
        if (!want[t]) continue;
        our_record(m, our_types[t], f, 0, &r);
        if (known_answer(q, &r)) continue;
        if (r.ttl > ttl_cap) r.ttl = ttl_cap;
        if (legacy) r.flag = 0;
        if (mdns_build_add(&b, MDNS_SEC_ANSWER, &r, 1) == 0) n_answers++, sent[t] = 1;
    }
    if (!n_answers) return;
    /* the rest of what a browser needs to connect, so it need not ask again */
    int extra[4] = {0, sent[0], sent[0], sent[0] || sent[1]};
    for (int t = 1; t < 4; t++) {
        if (!extra[t] || sent[t]) continue;
        mdns_build_mark mk;
        mdns_build_save(&b, &mk);
        our_record(m, our_types[t], f, 0, &r);
        if (r.ttl > ttl_cap) r.ttl = ttl_cap;
        if (legacy) r.flag = 0;
        if (mdns_build_add(&b, MDNS_SEC_ADDITIONAL, &r, 1) != 0) mdns_build_restore(&b, &mk);
    }
    int n = mdns_build_end(&b);
    if (n <= 0) return;
    struct sockaddr_in to = *src;
    if (!legacy) to.sin_port = htons(MDNS_PORT);
    send_pkt(m, f, buf, (size_t)n, legacy || all_qu ? &to : NULL);
}

/* Another responder's records for our instance name with data other than ours: a conflict. */
static void check_conflict(mdns *m, const mdns_packet *p)
{
    for (int i = 0; i < p->n_records; i++) {
        const mdns_record *r = &p->records[i];
        if (r->ttl == 0 || !mdns_name_eq(r->name, m->fullname)) continue;
        int differs = (r->type == MDNS_TYPE_SRV &&
                       (r->port != m->port || !mdns_name_eq(r->target, m->host))) ||
                      (r->type == MDNS_TYPE_TXT && strcmp(r->txt, m->txt) != 0);
        if (differs) {
            rename_instance(m);
            return;
        }
    }
}

/* ---- the thread ---- */

void mdns_handle_packet(mdns *m, const uint8_t *p, size_t n, int ifindex,
                        const struct sockaddr_in *src)
{
    const mdns_iface *f = NULL;
    for (int i = 0; i < m->n_ifs; i++)
        if (m->ifs[i].index == ifindex) f = &m->ifs[i];
    if (!f) return;
    uh_err err = {0};
    if (mdns_parse(p, n, m->pkt, &err) != 0) {
        log_debug("mdns_bad_packet", "if=%s err=\"%s\"", f->name, err.msg);
        return;
    }
    if (m->pkt->flags & 0x8000) {
        /* RFC 6762 section 6: responses come from port 5353; our own come back through the
         * loop. Queries are answered even when they look like ours: another node's browse
         * query is byte for byte the same as our own. */
        if (ntohs(src->sin_port) != MDNS_PORT || mdns_is_own_packet(m, p, n)) return;
        if (m->announcing) check_conflict(m, m->pkt);
        mdns_browse_records(m, m->pkt, clock_mono_ms());
    } else if (m->announcing) {
        answer_query(m, m->pkt, f, src);
    }
}

static void receive(mdns *m)
{
    for (int k = 0; k < 64; k++) {
        struct sockaddr_in src;
        union {
            char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = {.iov_base = m->rx, .iov_len = sizeof m->rx};
        struct msghdr msg = {.msg_name = &src,
                             .msg_namelen = sizeof src,
                             .msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof ctl.buf};
        ssize_t got = recvmsg(m->fd, &msg, 0);
        if (got < 0) return;
        if (msg.msg_flags & MSG_TRUNC) continue;
        int ifindex = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                struct in_pktinfo pi;
                memcpy(&pi, CMSG_DATA(c), sizeof pi);
                ifindex = pi.ipi_ifindex;
            }
        mdns_handle_packet(m, m->rx, (size_t)got, ifindex, &src);
    }
}

static void *thread_main(void *arg)
{
    mdns *m = arg;
    while (!__atomic_load_n(&m->stop, __ATOMIC_ACQUIRE)) {
        int64_t now = clock_mono_ms(), next = now + 1000;
        if (m->announcing && m->n_announce_left > 0 && now >= m->next_announce) {
            mdns_announce(m, 0);
            m->n_announce_left--;
            m->next_announce = now + 1000;
        }
        if (m->announcing && m->n_announce_left > 0 && m->next_announce < next)
            next = m->next_announce;
        int64_t t = mdns_browse_tick(m, now);
        if (t < next) next = t;
        struct pollfd pf[2] = {{.fd = m->fd, .events = POLLIN},
                               {.fd = m->wake[0], .events = POLLIN}};
        int timeout = next > now ? (int)(next - now) : 0;
        if (poll(pf, 2, timeout) < 0 && errno != EINTR) break;
        if (pf[1].revents) {
            char drain[64];
            while (read(m->wake[0], drain, sizeof drain) > 0) {
            }
        }
        if (pf[0].revents & POLLIN) receive(m);
    }
    return NULL;
}

static void host_label(const char *device_id, char out[32])
{
    char id[8] = {0};
    int n = 0;
    for (const char *s = device_id ? device_id : ""; *s && n < 7; s++) {
        char c = *s >= 'A' && *s <= 'Z' ? (char)(*s + 32) : *s;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) id[n++] = c;
    }
    if (n < 7) { /* no usable id: a random one, so two nodes still differ */
        uint8_t rnd[7] = {0};
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) memset(rnd, 0, sizeof rnd);
        for (n = 0; n < 7; n++) id[n] = "0123456789abcdef"[rnd[n] & 15];
    }
    snprintf(out, 32, "unhosted-%s", id);
}

/* Allocates m and takes the configuration; no socket, no thread. */
static int setup(const mdns_config *cfg, mdns **out, uh_err *err)
{
    int rc;
    *out = NULL;
    mdns *m = calloc(1, sizeof *m);
    if (!m) return err_setf(err, UH_ENOMEM, "mdns: out of memory");
    m->fd = m->wake[0] = m->wake[1] = -1;
    m->pkt = malloc(sizeof *m->pkt);
    m->svcs = calloc(MDNS_MAX_SERVICES, sizeof *m->svcs);
    if (!m->pkt || !m->svcs) {
        rc = err_setf(err, UH_ENOMEM, "mdns: out of memory");
        goto fail;
    }
    pthread_mutex_init(&m->mu, NULL);
    m->mu_init = 1;
    m->cb = cfg->cb;
    m->ud = cfg->ud;
    if (cfg->instance) {
        const char *id = cfg->device_id ? cfg->device_id : "";
        if (set_instance(m, cfg->instance) != 0 || strlen(id) >= 64 || strchr(id, '\n') ||
            cfg->port <= 0 || cfg->port > 65535) {
            rc = err_setf(err, UH_EINVAL, "mdns: bad instance \"%s\", device id or port %d",
                          cfg->instance, cfg->port);
            goto fail;
        }
        snprintf(m->base_instance, sizeof m->base_instance, "%s", cfg->instance);
        char label[32];
        host_label(id, label);
        snprintf(m->host, sizeof m->host, "%s.local", label);
        snprintf(m->txt, sizeof m->txt, "txtvers=1\nid=%s\nproto=1", id);
        m->port = cfg->port;
        m->announcing = 1;
        m->n_announce_left = 2;
    }
    mdns_browse_init(m, clock_mono_ms());
    *out = m;
    return 0;
fail:
    mdns_stop(m);
    return rc;
}

int mdns_offline_new(const mdns_config *cfg, mdns **out, uh_err *err)
{
    int rc = setup(cfg, out, err);
    if (rc) return rc;
    mdns_iface *f = &(*out)->ifs[0];
    f->index = 1;
    snprintf(f->name, sizeof f->name, "offline0");
    memcpy(f->ip4, (const uint8_t[4]){192, 0, 2, 1}, 4);
    (*out)->n_ifs = 1;
    return 0;
}

int mdns_start(const mdns_config *cfg, mdns **out, uh_err *err)
{
    mdns *m;
    int rc = setup(cfg, &m, err);
    *out = NULL;
    if (rc) return rc;
    if ((rc = scan_ifaces(m, cfg, err)) != 0) goto fail;
    if ((rc = open_socket(m, err)) != 0) goto fail;
    if (pipe(m->wake) != 0 || fcntl(m->wake[0], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(m->wake[1], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(m->wake[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(m->wake[1], F_SETFD, FD_CLOEXEC) != 0) {
        rc = err_setf(err, UH_EIO, "mdns: pipe: %s", strerror(errno));
        goto fail;
    }
    mdns_browse_init(m, clock_mono_ms());
    if (pthread_create(&m->thread, NULL, thread_main, m) != 0) {
        rc = err_setf(err, UH_EIO, "mdns: cannot start thread");
        goto fail;
    }
    m->thread_started = 1;
    for (int i = 0; i < m->n_ifs; i++)
        if (m->ifs[i].index > 0)
            log_info("mdns_start", "if=%s instance=\"%s\" host=%s", m->ifs[i].name,
                     m->announcing ? m->instance : "", m->announcing ? m->host : "");
    *out = m;
    return 0;
fail:
    m->announcing = 0;
    mdns_stop(m);
    return rc;
}

static void wake(mdns *m)
{
    char c = 1;
    if (write(m->wake[1], &c, 1) < 0) {
    } /* a full pipe already wakes the thread */
}

void mdns_stop(mdns *m)
{
    if (!m) return;
    if (m->thread_started) {
        __atomic_store_n(&m->stop, 1, __ATOMIC_RELEASE);
        wake(m);
        pthread_join(m->thread, NULL);
    }
    if (m->announcing && m->fd >= 0) mdns_announce(m, 1);
    if (m->fd >= 0) close(m->fd);
    if (m->wake[0] >= 0) close(m->wake[0]);
    if (m->wake[1] >= 0) close(m->wake[1]);
    if (m->mu_init) pthread_mutex_destroy(&m->mu);
    free(m->pkt);
    free(m->svcs);
    free(m);
}
