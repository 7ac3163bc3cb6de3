/* node_health.c - the node's view of its paired devices: one health worker per paired device
 * (a connect channel, HELLO, then a PING every NODE_PING_MS; the device is online while it
 * answers), and the manager thread that follows the trust store (starting workers for new
 * pairings, closing every channel of a device that is no longer paired). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/node_impl.h"
#include "cluster/wire.h"

#define NODE_PONG_WAIT_MS 1500


typedef struct {
    node *n;
    char id[DEVICE_ID_STRLEN];
} worker_args;

static int worker_should_stop(node *n, const char *id)
{
    trust_peer tp;
    pthread_mutex_lock(&n->mu);
    int stop = n->stopping;
    pthread_mutex_unlock(&n->mu);
    return stop || trust_get(n->trust, id, &tp) != 0;
}

/* Sleeps up to ms, waking early when the node stops. */
static void node_nap(node *n, int ms)
{
    struct timespec ts = clock_mono_after(ms);
    pthread_mutex_lock(&n->mu);
    if (!n->stopping) pthread_cond_timedwait(&n->cond, &n->mu, &ts);
    pthread_mutex_unlock(&n->mu);
}

static void mark(node *n, const char *id, chan *c, const char *addr, int online)
{
    pthread_mutex_lock(&n->mu);
    node_peer_state *p = node_peer_locked(n, id, 1);
    if (p) {
        p->ctl = c;
        p->online = online;
        snprintf(p->live_addr, sizeof p->live_addr, "%s", online ? addr : "");
        if (!online) {
            p->rtt_ms = 0;
            node_pool_drop_locked(p);
        }
    }
    pthread_mutex_unlock(&n->mu);
}

/* One health session over an open channel: HELLO, then PING every NODE_PING_MS; returns when
 * the peer leaves a ping unanswered for NODE_PONG_WAIT_MS: with a ping every NODE_PING_MS
 * that marks it down at most NODE_PING_MS + NODE_PONG_WAIT_MS (< NODE_DOWN_AFTER_MS) after its
 * last answer; also when it refuses us, or we stop. */
static void health_session(node *n, const char *id, chan *c, const char *addr)
{
    uh_err err;
    node_load l;
    node_load_now(n, &l);
    cJSON *hello = wire_load_json(&l);
    cJSON_AddNumberToObject(hello, "proto", CHAN_PROTO_VERSION);
    cJSON_AddStringToObject(hello, "name", identity_name(n->id));
    if (wire_send(c, WIRE_HELLO, hello, &err)) return;
    uint64_t seq = 0;
    int first = 1;
    int64_t sent = clock_mono_ms();
    double sent_s = clock_mono_s();
    for (;;) {
        uint8_t type;
        uint8_t *body = NULL;
        size_t len = 0;
        int rc = chan_recv(c, &type, &body, &len, NODE_PONG_WAIT_MS, &err);
        if (rc) {
            if (rc == UH_ETIMEDOUT) log_info("peer_silent", "peer=%.7s", id);
            return;
        }
        cJSON *msg = wire_parse(body, len, &err);
        free(body);
        if (!msg) return;
        if (type == WIRE_REFUSED) {
            exec_fail why;
            wire_refused_from(msg, &why);
            log_info("peer_refused_us", "peer=%.7s code=%d message=\"%.128s\"", id, why.code,
                     why.msg);
            cJSON_Delete(msg);
            return;
        }
        node_load pl;
        if ((type != WIRE_HELLO && type != WIRE_PONG) || wire_load_from(msg, &pl, &err)) {
            cJSON_Delete(msg);
            return;
        }
        char name[IDENTITY_NAME_MAX] = "";
        if (type == WIRE_HELLO) wire_get_str(msg, "name", name, sizeof name - 1, 0, &err);
        cJSON_Delete(msg);
        pthread_mutex_lock(&n->mu);
        node_peer_state *p = node_peer_locked(n, id, 1);
        if (p) {
            p->load = pl;
            p->online = 1;
            p->last_seen = clock_wall_s();
            snprintf(p->live_addr, sizeof p->live_addr, "%s", addr);
            if (type == WIRE_PONG) p->rtt_ms = (clock_mono_s() - sent_s) * 1000.0;
            if (name[0]) snprintf(p->name, sizeof p->name, "%s", name);
        }
        pthread_mutex_unlock(&n->mu);
        if (first) {
            trust_seen(n->trust, id, addr, &err);
            first = 0;
        }
        if (worker_should_stop(n, id)) return;
        int64_t wait = sent + NODE_PING_MS - clock_mono_ms();
        if (type == WIRE_PONG && wait > 0) node_nap(n, (int)wait);
        if (worker_should_stop(n, id)) return;
        cJSON *ping = cJSON_CreateObject();
        cJSON_AddNumberToObject(ping, "seq", (double)++seq);
        sent = clock_mono_ms();
        sent_s = clock_mono_s();
        if (wire_send(c, WIRE_PING, ping, &err)) return;
    }
}

static void *health_worker(void *p)
{
    worker_args a = *(worker_args *)p;
    free(p);
    node *n = a.n;
    while (!worker_should_stop(n, a.id)) {
        char addrs[8][TRUST_ADDR_MAX];
        int k = node_addrs_for(n, a.id, addrs, 8);
        int connected = 0;
        for (int i = 0; i < k && !connected && !worker_should_stop(n, a.id); i++) {
            chan *c = NULL;
            char pid[DEVICE_ID_STRLEN];
            uint8_t pk[32];
            uh_err err;
            if (node_dial(n, addrs[i], CHAN_CONNECT, a.id, &c, pid, pk, &err)) continue;
            connected = 1;
            mark(n, a.id, c, addrs[i], 0);
            health_session(n, a.id, c, addrs[i]);
            mark(n, a.id, NULL, addrs[i], 0);
            chan_free(c);
        }
        node_nap(n, NODE_PING_MS);
    }
    pthread_mutex_lock(&n->mu);
    node_peer_state *ps = node_peer_locked(n, a.id, 0);
    if (ps) {
        ps->worker = 0;
        ps->online = 0;
    }
    pthread_mutex_unlock(&n->mu);
    node_thread_done(n);
    return NULL;
}

/* Follows the trust store: a worker per paired peer; channels of revoked peers closed. */
void *node_manager_thread(void *p)
{
    node *n = p;
    for (;;) {
        pthread_mutex_lock(&n->mu);
        int stop = n->stopping;
        pthread_mutex_unlock(&n->mu);
        if (stop) break;
        uh_err err;
        trust_refresh(n->trust, &err);
        trust_peer *list = NULL;
        int count = 0;
        if (trust_list(n->trust, &list, &count, &err) == 0) {
            for (int i = 0; i < count; i++) {
                pthread_mutex_lock(&n->mu);
                node_peer_state *ps = node_peer_locked(n, list[i].id, 1);
                int start = ps && !ps->worker && !n->stopping;
                if (start) {
                    ps->worker = 1;
                    if (!ps->name[0]) snprintf(ps->name, sizeof ps->name, "%s", list[i].name);
                }
                pthread_mutex_unlock(&n->mu);
                worker_args *wa = start ? malloc(sizeof *wa) : NULL;
                if (wa) {
                    wa->n = n;
                    snprintf(wa->id, sizeof wa->id, "%s", list[i].id);
                    if (node_spawn(n, health_worker, wa) != 0) {
                        free(wa);
                        pthread_mutex_lock(&n->mu);
                        ps->worker = 0;
                        pthread_mutex_unlock(&n->mu);
                    }
                }
            }
            /* Close every channel of a device no longer paired. */
            pthread_mutex_lock(&n->mu);
            for (int s = 0; s < NODE_MAX_CONNS; s++) {
                if (!n->conns[s].c) continue;
                int paired = 0;
                for (int i = 0; i < count; i++) paired |= strcmp(list[i].id, n->conns[s].id) == 0;
                if (!paired) chan_shutdown(n->conns[s].c);
            }
            for (int i = 0; i < n->n_peers; i++) {
                int paired = 0;
                for (int j = 0; j < count; j++) paired |= strcmp(list[j].id, n->peers[i].id) == 0;
                if (!paired && n->peers[i].ctl) chan_shutdown(n->peers[i].ctl);
                if (!paired) {
                    n->peers[i].online = 0;
                    node_pool_drop_locked(&n->peers[i]);
                }
            }
            pthread_mutex_unlock(&n->mu);
            free(list);
        }
        node_nap(n, 500);
    }
    return NULL;
}

