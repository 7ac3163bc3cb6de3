/* node.c - the node's peer side (node.h): the listener and the access decision after each
 * handshake, the connect-purpose message loop (HELLO, PING, RUN), kept run channels, quotas,
 * discovery bookkeeping, the peer list, start and stop.
 *
 * Threads: the accept thread; one detached thread per accepted connection; the manager thread
 * and one health worker per paired peer (node_health.c). Every detached thread is counted
 * in n_threads so node_stop can wait for all of them. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/paths.h"
#include "cluster/node_impl.h"
#include "cluster/wire.h"

/* ---- small helpers ---- */

typedef struct {
    node *n;
    void *(*fn)(void *);
    void *arg;
} spawn_args;

static void *spawn_trampoline(void *p)
{
    spawn_args a = *(spawn_args *)p;
    free(p);
    return a.fn(a.arg);
}

int node_spawn(node *n, void *(*fn)(void *), void *arg)
{
    spawn_args *a = malloc(sizeof *a);
    if (!a) return UH_ENOMEM;
    a->n = n;
    a->fn = fn;
    a->arg = arg;
    pthread_mutex_lock(&n->mu);
    n->n_threads++;
    pthread_mutex_unlock(&n->mu);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, spawn_trampoline, a);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        free(a);
        pthread_mutex_lock(&n->mu);
        n->n_threads--;
        pthread_cond_broadcast(&n->cond);
        pthread_mutex_unlock(&n->mu);
        return UH_ENOMEM;
    }
    return 0;
}

void node_thread_done(node *n)
{
    pthread_mutex_lock(&n->mu);
    n->n_threads--;
    pthread_cond_broadcast(&n->cond);
    pthread_mutex_unlock(&n->mu);
}

node_peer_state *node_peer_locked(node *n, const char *id, int create)
{
    for (int i = 0; i < n->n_peers; i++)
        if (strcmp(n->peers[i].id, id) == 0) return &n->peers[i];
    if (!create || n->n_peers >= NODE_MAX_PEERS) return NULL;
    node_peer_state *p = &n->peers[n->n_peers++];
    memset(p, 0, sizeof *p);
    snprintf(p->id, sizeof p->id, "%s", id);
    return p;
}

int node_conn_add(node *n, chan *c, const char *id)
{
    pthread_mutex_lock(&n->mu);
    int slot = -1;
    for (int i = 0; i < NODE_MAX_CONNS && !n->stopping; i++)
        if (!n->conns[i].c) {
            n->conns[i].c = c;
            snprintf(n->conns[i].id, sizeof n->conns[i].id, "%s", id);
            slot = i;
            break;
        }
    pthread_mutex_unlock(&n->mu);
    return slot;
}

void node_conn_remove(node *n, int slot)
{
    if (slot < 0) return;
    pthread_mutex_lock(&n->mu);
    n->conns[slot].c = NULL;
    n->conns[slot].id[0] = '\0';
    pthread_mutex_unlock(&n->mu);
}

int node_dial(node *n, const char *addr, enum chan_purpose purpose, const char *want_id,
              chan **out, char peer_id[DEVICE_ID_STRLEN], uint8_t peer_pk[32], uh_err *err)
{
    chan_config cfg = n->chcfg;
    cfg.timeout_ms = NODE_CONNECT_MS;
    chan *c = NULL;
    int rc = chan_connect(addr, purpose, &cfg, &c, err);
    if (rc) return rc;
    size_t auth_len = 0;
    const uint8_t *auth = chan_remote_auth(c, &auth_len);
    rc = identity_verify_auth(auth, auth_len, chan_remote_static(c), peer_pk, peer_id, err);
    if (rc) {
        err_prefix(err, rc, "%s", addr);
        chan_free(c);
        return rc;
    }
    if (want_id && strcmp(want_id, peer_id) != 0) {
        chan_free(c);
        return err_setf(err, UH_EFORMAT, "%s is device %.7s, not %.7s", addr, peer_id, want_id);
    }
    *out = c;
    return 0;
}

int node_addrs_for(node *n, const char *id, char out[][TRUST_ADDR_MAX], int max)
{
    int k = 0;
    pthread_mutex_lock(&n->mu);
    node_peer_state *p = node_peer_locked(n, id, 0);
    const char *cand[3] = {p ? p->live_addr : "", p ? p->mdns_addr : "", p ? p->manual_addr : ""};
    for (int i = 0; i < 3 && k < max; i++) {
        int dup = 0;
        for (int j = 0; j < k; j++) dup |= strcmp(out[j], cand[i]) == 0;
        if (cand[i][0] && !dup) snprintf(out[k++], TRUST_ADDR_MAX, "%s", cand[i]);
    }
    pthread_mutex_unlock(&n->mu);
    trust_peer tp;
    if (trust_get(n->trust, id, &tp) == 0)
        for (int i = 0; i < tp.n_addrs && k < max; i++) {
            int dup = 0;
            for (int j = 0; j < k; j++) dup |= strcmp(out[j], tp.addrs[i]) == 0;
            if (!dup) snprintf(out[k++], TRUST_ADDR_MAX, "%s", tp.addrs[i]);
        }
    return k;
}

/* ---- idle run channels ---- */

void node_pool_drop_locked(node_peer_state *p)
{
    for (int i = 0; i < p->n_idle; i++) chan_free(p->idle[i]);
    p->n_idle = 0;
}

int node_pool_put(node *n, const char *id, chan *c)
{
    trust_peer tp;
    if (trust_get(n->trust, id, &tp) != 0) return 0;
    pthread_mutex_lock(&n->mu);
    node_peer_state *p = node_peer_locked(n, id, 0);
    int ok = p && !n->stopping && p->online && p->n_idle < NODE_POOL;
    if (ok) {
        p->idle_at[p->n_idle] = clock_mono_ms();
        p->idle[p->n_idle++] = c;
    }
    pthread_mutex_unlock(&n->mu);
    return ok;
}

chan *node_pool_get(node *n, const char *id)
{
    for (;;) {
        pthread_mutex_lock(&n->mu);
        node_peer_state *p = node_peer_locked(n, id, 0);
        chan *c = NULL;
        int64_t at = 0;
        if (p && p->n_idle > 0) {
            p->n_idle--;
            c = p->idle[p->n_idle];
            at = p->idle_at[p->n_idle];
        }
        pthread_mutex_unlock(&n->mu);
        /* Too old and the other side may be closing it (NODE_IDLE_MS): dial afresh. */
        if (!c || (clock_mono_ms() - at < NODE_POOL_MAX_MS && chan_idle_ok(c))) return c;
        chan_free(c);
    }
}

/* ---- quotas ---- */

int node_quota_left(node *n, const char *id)
{
    trust_peer tp;
    if (trust_get(n->trust, id, &tp) != 0) return 0;
    if (tp.quota <= 0) return 1;
    int64_t day = clock_wall_s() / 86400;
    pthread_mutex_lock(&n->mu);
    node_peer_state *p = node_peer_locked(n, id, 1);
    int left = 1;
    if (p) {
        if (p->quota_day != day) {
            p->quota_day = day;
            p->quota_used = 0;
        }
        left = p->quota_used < tp.quota;
    }
    pthread_mutex_unlock(&n->mu);
    return left;
}

void node_quota_add(node *n, const char *id, int tokens)
{
    int64_t day = clock_wall_s() / 86400;
    pthread_mutex_lock(&n->mu);
    node_peer_state *p = node_peer_locked(n, id, 1);
    if (p) {
        if (p->quota_day != day) {
            p->quota_day = day;
            p->quota_used = 0;
        }
        p->quota_used += tokens;
    }
    pthread_mutex_unlock(&n->mu);
}

/* ---- serving a connect channel ---- */

void node_load_now(node *n, node_load *l)
{
    memset(l, 0, sizeof *l);
    exec_models *mm = n->cfg.models;
    if (!mm) return;
    exec_model_entry *es = NULL;
    int k = 0;
    uh_err err = {0};
    if (exec_models_list(mm, &es, &k, &err) == 0) {
        for (int i = 0; i < k && l->n_models < NODE_MAX_MODELS; i++)
            snprintf(l->models[l->n_models++], NODE_MODEL_NAME_MAX, "%s", es[i].name);
        free(es);
    }
    exec_models_load(mm, &l->active, &l->slots, &l->queued);
}

void node_refuse(chan *c, int code, const char *why)
{
    uh_err e;
    wire_send(c, WIRE_REFUSED, wire_refused_json(code, EXEC_FIELD_NONE, why), &e);
}

static void serve_connect(node *n, chan *c, const char *peer_id)
{
    uh_err err;
    trust_refresh(n->trust, &err);
    trust_peer tp;
    if (trust_get(n->trust, peer_id, &tp) != 0) {
        log_info("peer_refused", "peer=%.7s addr=%s reason=not_paired", peer_id, chan_peer_addr(c));
        node_refuse(c, UH_EDENIED, "not paired with this device");
        return;
    }
    int slot = node_conn_add(n, c, peer_id);
    if (slot < 0) {
        node_refuse(c, UH_EUNAVAIL, "node is stopping or too busy");
        return;
    }
    for (;;) {
        uint8_t type;
        uint8_t *body = NULL;
        size_t len = 0;
        int rc = chan_recv(c, &type, &body, &len, NODE_IDLE_MS, &err);
        if (rc) break;
        cJSON *msg = wire_parse(body, len, &err);
        free(body);
        if (!msg) {
            log_warn("peer_bad_message", "peer=%.7s error=\"%s\"", peer_id, err.msg);
            break;
        }
        /* A revocation takes effect on the next message too. */
        trust_refresh(n->trust, &err);
        if (trust_get(n->trust, peer_id, &tp) != 0) {
            node_refuse(c, UH_EDENIED, "not paired with this device");
            cJSON_Delete(msg);
            break;
        }
        if (type == WIRE_HELLO || type == WIRE_PING) {
            node_load l;
            node_load_now(n, &l);
            cJSON *out = wire_load_json(&l);
            if (type == WIRE_HELLO) {
                cJSON_AddNumberToObject(out, "proto", CHAN_PROTO_VERSION);
                cJSON_AddStringToObject(out, "name", identity_name(n->id));
            } else {
                const cJSON *seq = cJSON_GetObjectItemCaseSensitive(msg, "seq");
                cJSON_AddNumberToObject(out, "seq", cJSON_IsNumber(seq) ? seq->valuedouble : 0);
            }
            rc = wire_send(c, type == WIRE_HELLO ? WIRE_HELLO : WIRE_PONG, out, &err);
            cJSON_Delete(msg);
            if (rc) break;
            continue;
        }
        if (type == WIRE_RUN) {
            int again = node_serve_run(n, c, peer_id, msg);
            cJSON_Delete(msg);
            if (!again) break;
            continue; /* the client may keep the channel for its next run */
        }
        if (type == WIRE_CANCEL) { /* a cancel that crossed the run's end: nothing to do */
            cJSON_Delete(msg);
            continue;
        }
        cJSON_Delete(msg);
        log_warn("peer_bad_message", "peer=%.7s type=%d", peer_id, type);
        break;
    }
    node_conn_remove(n, slot);
}

typedef struct {
    node *n;
    int fd;
} conn_args;

static void *conn_thread(void *p)
{
    conn_args a = *(conn_args *)p;
    free(p);
    node *n = a.n;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int have_addr = getpeername(a.fd, (struct sockaddr *)&ss, &sl) == 0;
    chan *c = NULL;
    uh_err err;
    int rc = chan_accept(a.fd, &n->chcfg, &c, &err);
    if (have_addr) chan_limiter_leave(n->limiter, (struct sockaddr *)&ss);
    if (rc) {
        log_info("peer_handshake_failed", "error=\"%s\"", err.msg);
        node_thread_done(n);
        return NULL;
    }
    char peer_id[DEVICE_ID_STRLEN];
    uint8_t peer_pk[32];
    size_t auth_len = 0;
    const uint8_t *auth = chan_remote_auth(c, &auth_len);
    if (identity_verify_auth(auth, auth_len, chan_remote_static(c), peer_pk, peer_id, &err)) {
        log_warn("peer_bad_identity", "addr=%s error=\"%s\"", chan_peer_addr(c), err.msg);
        chan_free(c);
        node_thread_done(n);
        return NULL;
    }
    if (strcmp(peer_id, identity_device_id(n->id)) == 0) {
        node_refuse(c, UH_EINVAL, "that is this device");
        chan_free(c);
        node_thread_done(n);
        return NULL;
    }
    switch (chan_purpose_of(c)) {
    case CHAN_CONNECT:
        serve_connect(n, c, peer_id);
        chan_free(c);
        break;
    case CHAN_PAIR:
        node_serve_pair(n, c, peer_id, peer_pk);
        break;
    case CHAN_JOIN:
        node_serve_join(n, c, peer_id, peer_pk);
        break;
    default:
        chan_free(c);
    }
    node_thread_done(n);
    return NULL;
}

static void *accept_thread(void *p)
{
    node *n = p;
    for (;;) {
        struct pollfd pf[2] = {{n->listen_fd, POLLIN, 0}, {n->wake[0], POLLIN, 0}};
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (pf[1].revents) break;
        if (!(pf[0].revents & POLLIN)) continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept(n->listen_fd, (struct sockaddr *)&ss, &sl);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) usleep(100 * 1000);
            continue;
        }
        pthread_mutex_lock(&n->mu);
        int busy = n->n_threads >= NODE_MAX_THREADS;
        pthread_mutex_unlock(&n->mu);
        if (busy || chan_limiter_enter(n->limiter, (struct sockaddr *)&ss) != 0) {
            close(fd);
            continue;
        }
        conn_args *a = malloc(sizeof *a);
        if (!a) {
            chan_limiter_leave(n->limiter, (struct sockaddr *)&ss);
            close(fd);
            continue;
        }
        a->n = n;
        a->fd = fd;
        if (node_spawn(n, conn_thread, a) != 0) {
            chan_limiter_leave(n->limiter, (struct sockaddr *)&ss);
            free(a);
            close(fd);
        }
    }
    return NULL;
}

/* ---- discovery ---- */

static void on_mdns(void *ud, const mdns_service *svc, int gone)
{
    node *n = ud;
    char id[DEVICE_ID_STRLEN];
    uh_err err;
    if (device_id_parse(svc->device_id, id, &err) != 0) return;
    if (strcmp(id, identity_device_id(n->id)) == 0) return;
    pthread_mutex_lock(&n->mu);
    node_peer_state *p = node_peer_locked(n, id, !gone);
    if (p) {
        p->discovered = !gone;
        if (!gone) {
            snprintf(p->mdns_addr, sizeof p->mdns_addr, "%s", svc->addr);
            if (!p->name[0]) snprintf(p->name, sizeof p->name, "%s", svc->instance);
            p->last_seen = clock_wall_s();
        }
    }
    pthread_mutex_unlock(&n->mu);
}

int node_peer_add(node *n, const char *addr, char id_out[DEVICE_ID_STRLEN], uh_err *err)
{
    chan *c = NULL;
    char id[DEVICE_ID_STRLEN];
    uint8_t pk[32];
    int rc = node_dial(n, addr, CHAN_CONNECT, NULL, &c, id, pk, err);
    if (rc) return rc;
    chan_free(c);
    if (strcmp(id, identity_device_id(n->id)) == 0)
        return err_setf(err, UH_EINVAL, "%s is this device", addr);
    pthread_mutex_lock(&n->mu);
    node_peer_state *p = node_peer_locked(n, id, 1);
    if (p) {
        p->manual = 1;
        snprintf(p->manual_addr, sizeof p->manual_addr, "%s", addr);
        p->last_seen = clock_wall_s();
    }
    pthread_mutex_unlock(&n->mu);
    if (!p) return err_setf(err, UH_ELIMIT, "too many devices known");
    if (id_out) snprintf(id_out, DEVICE_ID_STRLEN, "%s", id);
    return 0;
}

int node_peers(node *n, node_peer **out, int *count, uh_err *err)
{
    trust_peer *list = NULL;
    int nt = 0;
    int rc = trust_list(n->trust, &list, &nt, err);
    if (rc) return rc;
    /* Sized to what there is (a node_peer is ~17 KB with its model names): the router asks
     * for this on every request. */
    pthread_mutex_lock(&n->mu);
    node_peer *res = calloc((size_t)(nt + n->n_peers) + 1, sizeof *res);
    if (!res) {
        pthread_mutex_unlock(&n->mu);
        free(list);
        return err_setf(err, UH_ENOMEM, "out of memory");
    }
    int k = 0;
    for (int i = 0; i < nt; i++) {
        node_peer *r = &res[k++];
        node_peer_state *p = node_peer_locked(n, list[i].id, 0);
        snprintf(r->id, sizeof r->id, "%s", list[i].id);
        snprintf(r->name, sizeof r->name, "%s", list[i].name[0] || !p ? list[i].name : p->name);
        r->paired = 1;
        r->ring = list[i].ring;
        r->quota = list[i].quota;
        r->last_seen = list[i].last_seen;
        snprintf(r->addr, sizeof r->addr, "%s", list[i].n_addrs ? list[i].addrs[0] : "");
        if (p) {
            r->discovered = p->discovered || p->manual;
            r->online = p->online;
            r->rtt_ms = p->rtt_ms;
            if (p->online) r->load = p->load;
            if (p->live_addr[0]) snprintf(r->addr, sizeof r->addr, "%s", p->live_addr);
            else if (!r->addr[0] && p->mdns_addr[0])
                snprintf(r->addr, sizeof r->addr, "%s", p->mdns_addr);
            if (p->last_seen > r->last_seen) r->last_seen = p->last_seen;
        }
    }
    for (int i = 0; i < n->n_peers; i++) {
        node_peer_state *p = &n->peers[i];
        int paired = 0;
        for (int j = 0; j < nt; j++) paired |= strcmp(list[j].id, p->id) == 0;
        if (paired || !(p->discovered || p->manual)) continue;
        node_peer *r = &res[k++];
        snprintf(r->id, sizeof r->id, "%s", p->id);
        snprintf(r->name, sizeof r->name, "%s", p->name);
        snprintf(r->addr, sizeof r->addr, "%s", p->mdns_addr[0] ? p->mdns_addr : p->manual_addr);
        r->discovered = 1;
        r->ring = TRUST_RING_TRUSTED;
        r->last_seen = p->last_seen;
    }
    pthread_mutex_unlock(&n->mu);
    free(list);
    *out = res;
    *count = k;
    return 0;
}

int node_revoke(node *n, const char *id_prefix, uh_err *err)
{
    trust_peer tp;
    int rc = trust_find(n->trust, id_prefix, &tp, err);
    if (rc == UH_ENOTFOUND) return err_setf(err, rc, "no paired device %s", id_prefix);
    if (rc) return rc;
    rc = trust_remove(n->trust, tp.id, err);
    if (rc) return rc;
    pthread_mutex_lock(&n->mu);
    for (int s = 0; s < NODE_MAX_CONNS; s++)
        if (n->conns[s].c && strcmp(n->conns[s].id, tp.id) == 0) chan_shutdown(n->conns[s].c);
    node_peer_state *p = node_peer_locked(n, tp.id, 0);
    if (p) {
        if (p->ctl) chan_shutdown(p->ctl);
        p->online = 0;
        node_pool_drop_locked(p);
    }
    pthread_cond_broadcast(&n->cond);
    pthread_mutex_unlock(&n->mu);
    log_info("peer_revoked", "peer=%.7s", tp.id);
    return 0;
}

/* ---- lifecycle ---- */

const identity *node_identity(const node *n)
{
    return n->id;
}

int node_peer_port(const node *n)
{
    return n->port;
}

static int is_loopback_listen(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "[::1]", 5) == 0 ||
           strncmp(addr, "localhost:", 10) == 0;
}

/* "IP:PORT", "[IPv6]:PORT" or "localhost:PORT" into a socket address. */
static int parse_listen(const char *addr, struct sockaddr_storage *ss, socklen_t *sl, uh_err *err)
{
    char host[TRUST_ADDR_MAX];
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || strlen(addr) >= sizeof host || !colon[1])
        return err_setf(err, UH_EINVAL, "--peer-listen %s: expected HOST:PORT", addr);
    size_t hl = (size_t)(colon - addr);
    memcpy(host, addr, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return err_setf(err, UH_EINVAL, "--peer-listen %s: bad port", addr);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    if (strcmp(host, "localhost") != 0) hints.ai_flags |= AI_NUMERICHOST;
    struct addrinfo *res = NULL;
    if (getaddrinfo(strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, colon + 1, &hints,
                    &res) != 0 || !res)
        return err_setf(err, UH_EINVAL, "--peer-listen %s: not an IP address", addr);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int open_listener(node *n, const char *addr, uh_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    int rc = parse_listen(addr, &ss, &sl, err);
    if (rc) return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return err_setf(err, UH_EIO, "peer listener: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 64) != 0) {
        int e = errno;
        close(fd);
        return err_setf(err, UH_EIO, "cannot listen for peers on %s: %s", addr, strerror(e));
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    getsockname(fd, (struct sockaddr *)&bound, &bl);
    n->port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                               : ((struct sockaddr_in6 *)&bound)->sin6_port);
    n->listen_fd = fd;
    return 0;
}

int node_start(const node_config *cfg, node **out, uh_err *err)
{
    if (!cfg) return err_setf(err, UH_EINVAL, "node: no configuration");
    node *n = calloc(1, sizeof *n);
    if (!n) return err_setf(err, UH_ENOMEM, "out of memory");
    n->cfg = *cfg;
    n->listen_fd = -1;
    n->wake[0] = n->wake[1] = -1;
    pthread_mutex_init(&n->mu, NULL);
    clock_cond_init(&n->cond); /* timed waits on the monotonic clock */
    int rc;
    if (cfg->dir) snprintf(n->dir, sizeof n->dir, "%s", cfg->dir);
    else if (paths_ensure_dir(PATHS_CONFIG, n->dir, sizeof n->dir) != 0) {
        rc = err_setf(err, UH_EIO, "cannot create the config directory");
        goto fail;
    }
    n->cfg.dir = n->dir;
    if ((rc = identity_load(n->dir, &n->id, err))) goto fail;
    if ((rc = trust_open(n->dir, &n->trust, err))) goto fail;
    n->chcfg.static_priv = identity_dh_sk(n->id);
    n->chcfg.auth = identity_auth(n->id);
    n->chcfg.auth_len = IDENTITY_AUTH_LEN;
    if ((rc = chan_limiter_new(8, 600, &n->limiter, err))) goto fail;
    if (pipe(n->wake) != 0) {
        rc = err_setf(err, UH_EIO, "pipe: %s", strerror(errno));
        goto fail;
    }
    fcntl(n->wake[0], F_SETFD, FD_CLOEXEC);
    fcntl(n->wake[1], F_SETFD, FD_CLOEXEC);
    const char *listen_addr = cfg->peer_listen ? cfg->peer_listen : NODE_DEFAULT_PEER_LISTEN;
    n->n_threads = 0;
    if (strcmp(listen_addr, "off") != 0) {
        snprintf(n->listen_addr, sizeof n->listen_addr, "%s", listen_addr);
        if ((rc = open_listener(n, listen_addr, err))) goto fail;
        if (pthread_create(&n->accept_thr, NULL, accept_thread, n) != 0) {
            rc = err_setf(err, UH_ENOMEM, "cannot start the peer listener thread");
            goto fail;
        }
        n->accept_running = 1;
    }
    if (pthread_create(&n->manager_thr, NULL, node_manager_thread, n) != 0) {
        rc = err_setf(err, UH_ENOMEM, "cannot start the cluster thread");
        goto fail;
    }
    n->manager_running = 1;
    if (cfg->mdns && n->listen_fd >= 0 && !is_loopback_listen(listen_addr)) {
        char instance[64];
        snprintf(instance, sizeof instance, "%.40s %.7s", identity_name(n->id),
                 identity_device_id(n->id));
        mdns_config mc = {
            .instance = instance,
            .device_id = identity_device_id(n->id),
            .port = n->port,
            .ifname = cfg->mdns_ifname,
            .cb = on_mdns,
            .ud = n,
        };
        uh_err merr;
        if (mdns_start(&mc, &n->md, &merr) != 0)
            log_warn("mdns_off", "error=\"%s\"", merr.msg); /* the node works without it */
    }
    log_info("node_started", "id=%s peer_port=%d", identity_device_id(n->id), n->port);
    *out = n;
    return 0;
fail:
    node_stop(n);
    return rc;
}

void node_stop(node *n)
{
    if (!n) return;
    mdns_stop(n->md);
    n->md = NULL;
    pthread_mutex_lock(&n->mu);
    n->stopping = 1;
    pthread_cond_broadcast(&n->cond);
    pthread_mutex_unlock(&n->mu);
    if (n->wake[1] >= 0 && write(n->wake[1], "x", 1) < 0) log_warn("node_stop", "wake failed");
    if (n->accept_running) pthread_join(n->accept_thr, NULL);
    if (n->manager_running) pthread_join(n->manager_thr, NULL);
    /* Wake every thread blocked on a channel, then wait for all of them. */
    pthread_mutex_lock(&n->mu);
    for (;;) {
        for (int s = 0; s < NODE_MAX_CONNS; s++)
            if (n->conns[s].c) chan_shutdown(n->conns[s].c);
        for (int i = 0; i < n->n_peers; i++)
            if (n->peers[i].ctl) chan_shutdown(n->peers[i].ctl);
        for (int i = 0; i < NODE_MAX_PAIRINGS; i++)
            if (n->pairs[i].used && n->pairs[i].c) chan_shutdown(n->pairs[i].c);
        if (n->n_threads == 0) break;
        struct timespec ts = clock_mono_after(50);
        pthread_cond_timedwait(&n->cond, &n->mu, &ts);
    }
    for (int i = 0; i < n->n_peers; i++) node_pool_drop_locked(&n->peers[i]);
    pthread_mutex_unlock(&n->mu);
    if (n->listen_fd >= 0) close(n->listen_fd);
    if (n->wake[0] >= 0) close(n->wake[0]);
    if (n->wake[1] >= 0) close(n->wake[1]);
    chan_limiter_free(n->limiter);
    trust_free(n->trust);
    identity_free(n->id);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cond);
    free(n);
}
