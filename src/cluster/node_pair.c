/* node_pair.c - pairing: on the same network with a 6-digit code both screens show, and at a
 * distance with a one-time invite code (CPace).
 *
 * Same network (channel purpose pair, initiator I, responder R; nI, nR 32 random bytes each):
 *   I -> R  PAIR_REQ    {"name", "port": I's peer port or 0, "commit": hex SHA-256(
 *                        "unhosted-pair-commit-v1" || nI)}
 *   R -> I  PAIR_NONCE  {"name", "nonce": hex nR}
 *   I -> R  PAIR_REVEAL {"nonce": hex nI}           R checks the commitment
 *   code = first 4 bytes (big-endian) of HMAC-SHA256(key = handshake hash,
 *          "unhosted-pair-code-v1" || nI || nR) mod 10^6, shown as 6 digits on both sides.
 *   Either side, when its user accepts: PAIR_CONFIRM {}; when they refuse (or typed a different
 *   code): PAIR_REJECT {"reason"}. A side stores the other once both have confirmed.
 * A man in the middle runs two handshakes with different hashes; because I commits to nI before
 * seeing nR, and R reveals nR before seeing nI, he cannot steer both codes to the same value:
 * they match with probability 10^-6. Failures (rejections, mismatches, bad commitments, wrong
 * invite codes) are counted; NODE_LOCK_FAILURES within NODE_LOCK_WINDOW_S lock pairing for
 * NODE_LOCK_S.
 *
 * Pairing at a distance (invite codes) is in node_join.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/node_impl.h"
#include "cluster/wire.h"

#define PAIR_RECV_MS 500
#define PAIR_STEP_MS 10000

static const char commit_label[] = "unhosted-pair-commit-v1";
static const char code_label[] = "unhosted-pair-code-v1";

const char *node_pair_state_name(enum node_pair_state s)
{
    switch (s) {
    case PAIR_CONNECTING: return "connecting";
    case PAIR_WAITING: return "waiting";
    case PAIR_DONE: return "done";
    case PAIR_REJECTED: return "rejected";
    case PAIR_FAILED: return "failed";
    }
    return "unknown";
}

/* ---- lockout ---- */

int node_pair_locked(node *n, char *msg, size_t cap)
{
    pthread_mutex_lock(&n->mu);
    int64_t left = n->locked_until - clock_wall_s();
    pthread_mutex_unlock(&n->mu);
    if (left <= 0) return 0;
    snprintf(msg, cap, "pairing is locked for %lld s after repeated failures", (long long)left);
    return 1;
}

void node_pair_failed(node *n)
{
    int64_t now = clock_wall_s();
    pthread_mutex_lock(&n->mu);
    int k = 0;
    for (int i = 0; i < n->n_fail; i++)
        if (now - n->fail_times[i] < NODE_LOCK_WINDOW_S) n->fail_times[k++] = n->fail_times[i];
    if (k == NODE_LOCK_FAILURES) {
        memmove(n->fail_times, n->fail_times + 1, (NODE_LOCK_FAILURES - 1) * sizeof(int64_t));
        k--;
    }
    n->fail_times[k++] = now;
    n->n_fail = k;
    if (k >= NODE_LOCK_FAILURES) {
        n->locked_until = now + NODE_LOCK_S;
        n->n_fail = 0;
        log_warn("pairing_locked", "seconds=%d", NODE_LOCK_S);
    }
    pthread_mutex_unlock(&n->mu);
}

/* ---- helpers ---- */

static void make_code(const uint8_t h[32], const uint8_t ni[32], const uint8_t nr[32],
                      char out[8])
{
    uint8_t msg[sizeof code_label - 1 + 64];
    memcpy(msg, code_label, sizeof code_label - 1);
    memcpy(msg + sizeof code_label - 1, ni, 32);
    memcpy(msg + sizeof code_label - 1 + 32, nr, 32);
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, msg, sizeof msg, h);
    uint32_t v = (uint32_t)mac[0] << 24 | (uint32_t)mac[1] << 16 | (uint32_t)mac[2] << 8 | mac[3];
    snprintf(out, 8, "%06u", (unsigned)(v % 1000000u));
    sodium_memzero(mac, sizeof mac);
}

static void make_commit(const uint8_t ni[32], uint8_t out[32])
{
    uint8_t msg[sizeof commit_label - 1 + 32];
    memcpy(msg, commit_label, sizeof commit_label - 1);
    memcpy(msg + sizeof commit_label - 1, ni, 32);
    crypto_hash_sha256(out, msg, sizeof msg);
}

/* "IP:PORT" -> "IP:port" (port replaced); "" when port is 0. */
void node_addr_with_port(const char *addr, int port, char *out, size_t cap)
{
    out[0] = '\0';
    const char *colon = strrchr(addr, ':');
    if (!colon || port <= 0 || port > 65535) return;
    snprintf(out, cap, "%.*s:%d", (int)(colon - addr), addr, port);
}

/* Digits only, spaces and dashes ignored: "123 456" -> "123456". */
static void normalize_code(const char *in, char *out, size_t cap)
{
    size_t k = 0;
    for (; *in && k + 1 < cap; in++)
        if (*in != ' ' && *in != '-') out[k++] = *in;
    out[k] = '\0';
}

/* 1 when grouped id starts with prefix (dashes and case ignored). */
static int id_has_prefix(const char *id, const char *prefix)
{
    const char *p = prefix;
    for (const char *q = id; *p; q++) {
        while (*p == '-' || *p == ' ') p++;
        if (!*p) break;
        while (*q == '-') q++;
        if (!*q || toupper((unsigned char)*p) != *q) return 0;
        p++;
    }
    return 1;
}

int node_store_peer(node *n, const char *id, const uint8_t pk[32], const char *name,
                      enum trust_ring ring, int64_t quota, const char *addr, uh_err *err)
{
    trust_peer tp;
    memset(&tp, 0, sizeof tp);
    snprintf(tp.id, sizeof tp.id, "%s", id);
    memcpy(tp.sign_pk, pk, 32);
    snprintf(tp.name, sizeof tp.name, "%s", name); /* wire_get_str dropped control chars */
    tp.ring = ring;
    tp.quota = quota;
    if (addr && addr[0]) {
        snprintf(tp.addrs[0], TRUST_ADDR_MAX, "%s", addr);
        tp.n_addrs = 1;
    }
    tp.paired_at = tp.last_seen = clock_wall_s();
    int rc = trust_put(n->trust, &tp, err);
    if (rc == 0) log_info("peer_paired", "peer=%.7s ring=%s", id, trust_ring_name(ring));
    return rc;
}

/* ---- pairing slots ---- */

static node_pair *slot_alloc_locked(node *n, int incoming)
{
    int64_t now = clock_wall_s();
    int pending = 0;
    for (int i = 0; i < NODE_MAX_PAIRINGS; i++) {
        node_pair *p = &n->pairs[i];
        if (p->used && !p->c && p->pub.state >= PAIR_DONE && now - p->pub.created > NODE_PAIR_KEEP_S)
            p->used = 0;
        if (p->used && p->pub.incoming && p->pub.state <= PAIR_WAITING) pending++;
    }
    if (incoming && pending >= NODE_MAX_PENDING) return NULL;
    for (int i = 0; i < NODE_MAX_PAIRINGS; i++)
        if (!n->pairs[i].used) {
            node_pair *p = &n->pairs[i];
            memset(p, 0, sizeof *p);
            p->used = 1;
            p->pub.incoming = incoming;
            p->pub.created = now;
            p->deadline = now + NODE_PAIR_WAIT_S;
            uint8_t r[4];
            randombytes_buf(r, sizeof r);
            snprintf(p->pub.pid, sizeof p->pub.pid, "%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
            return p;
        }
    return NULL;
}

static void finish_locked(node_pair *p, enum node_pair_state s, const char *why)
{
    if (p->pub.state >= PAIR_DONE) return;
    p->pub.state = s;
    snprintf(p->pub.message, sizeof p->pub.message, "%.127s", why);
}

/* Both confirmed: store the other device (once). Under mu. */
static void maybe_store_locked(node *n, node_pair *p)
{
    if (!p->pub.local_ok || !p->pub.remote_ok || p->stored || p->pub.state != PAIR_WAITING) return;
    uh_err err;
    p->stored = 1;
    if (node_store_peer(n, p->pub.peer_id, p->peer_sign_pk, p->pub.peer_name, p->ring, p->quota,
                   p->pub.peer_addr, &err) != 0)
        finish_locked(p, PAIR_FAILED, err.msg);
    else
        finish_locked(p, PAIR_DONE, "paired");
}

/* Waits for the other side's decision (and ours, which node_pair_decide sends). */
static void pair_wait(node *n, node_pair *p, chan *c)
{
    for (;;) {
        pthread_mutex_lock(&n->mu);
        int st = p->pub.state;
        if (st == PAIR_WAITING && clock_wall_s() > p->deadline) {
            finish_locked(p, PAIR_FAILED, "nobody confirmed in time");
            st = PAIR_FAILED;
        }
        int stopping = n->stopping;
        pthread_mutex_unlock(&n->mu);
        if (st != PAIR_WAITING || stopping) break;
        uint8_t type;
        uint8_t *body = NULL;
        size_t len = 0;
        uh_err err;
        int rc = chan_recv(c, &type, &body, &len, PAIR_RECV_MS, &err);
        if (rc == UH_ETIMEDOUT) continue;
        pthread_mutex_lock(&n->mu);
        if (rc) {
            finish_locked(p, PAIR_FAILED, "the other device went away");
        } else if (type == WIRE_PAIR_CONFIRM) {
            p->pub.remote_ok = 1;
            maybe_store_locked(n, p);
        } else {
            cJSON *msg = type == WIRE_PAIR_REJECT ? wire_parse(body, len, &err) : NULL;
            char reason[96] = "";
            if (msg) wire_get_str(msg, "reason", reason, sizeof reason - 1, 0, &err);
            cJSON_Delete(msg);
            char why[128];
            snprintf(why, sizeof why, "rejected on the other device%s%s", reason[0] ? ": " : "",
                     reason);
            finish_locked(p, PAIR_REJECTED, type == WIRE_PAIR_REJECT ? why : "protocol error");
            pthread_mutex_unlock(&n->mu);
            node_pair_failed(n);
            pthread_mutex_lock(&n->mu);
        }
        pthread_mutex_unlock(&n->mu);
        free(body);
    }
}

/* Receives one message of the expected type within PAIR_STEP_MS; REFUSED becomes an error. */
cJSON *node_expect(chan *c, enum wire_type want, uh_err *err)
{
    uint8_t type;
    uint8_t *body = NULL;
    size_t len = 0;
    int rc = chan_recv(c, &type, &body, &len, PAIR_STEP_MS, err);
    if (rc) {
        if (rc == UH_ETIMEDOUT) err_setf(err, rc, "the other device did not answer");
        else err_setf(err, rc, "the other device went away");
        return NULL;
    }
    cJSON *msg = wire_parse(body, len, err);
    free(body);
    if (!msg) return NULL;
    if (type == WIRE_REFUSED) {
        exec_fail why;
        wire_refused_from(msg, &why);
        cJSON_Delete(msg);
        err_setf(err, UH_EINVAL, "refused: %.200s", why.msg);
        return NULL;
    }
    if (type != want) {
        cJSON_Delete(msg);
        err_setf(err, UH_EFORMAT, "unexpected message %d", type);
        return NULL;
    }
    return msg;
}

static void set_chan(node *n, node_pair *p, chan *c)
{
    pthread_mutex_lock(&n->mu);
    p->c = c;
    pthread_mutex_unlock(&n->mu);
}

/* ---- responder ---- */

void node_serve_pair(node *n, chan *c, const char *peer_id, const uint8_t peer_pk[32])
{
    uh_err err;
    char why[128];
    if (node_pair_locked(n, why, sizeof why)) {
        node_refuse(c, UH_EBUSY, why);
        chan_free(c);
        return;
    }
    cJSON *req = node_expect(c, WIRE_PAIR_REQ, &err);
    char name[IDENTITY_NAME_MAX];
    uint8_t commit[32], ni[32], nr[32], h[32], check[32];
    if (!req) {
        chan_free(c);
        return;
    }
    const cJSON *port = cJSON_GetObjectItemCaseSensitive(req, "port");
    int peer_port = cJSON_IsNumber(port) && port->valuedouble >= 0 && port->valuedouble <= 65535
                        ? (int)port->valuedouble
                        : 0;
    int bad = wire_get_str(req, "name", name, sizeof name - 1, 1, &err) ||
              wire_get_hex(req, "commit", commit, 32, &err);
    cJSON_Delete(req);
    if (bad) {
        node_refuse(c, UH_EINVAL, err.msg);
        chan_free(c);
        return;
    }
    pthread_mutex_lock(&n->mu);
    node_pair *p = slot_alloc_locked(n, 1);
    if (p) {
        p->c = c;
        snprintf(p->pub.peer_id, sizeof p->pub.peer_id, "%s", peer_id);
        snprintf(p->pub.peer_name, sizeof p->pub.peer_name, "%s", name);
        node_addr_with_port(chan_peer_addr(c), peer_port, p->pub.peer_addr, sizeof p->pub.peer_addr);
        memcpy(p->peer_sign_pk, peer_pk, 32);
        p->ring = TRUST_RING_TRUSTED;
    }
    pthread_mutex_unlock(&n->mu);
    if (!p) {
        node_refuse(c, UH_EBUSY, "too many pairing requests");
        chan_free(c);
        return;
    }
    log_info("pairing_request", "peer=%.7s pid=%s", peer_id, p->pub.pid);
    randombytes_buf(nr, sizeof nr);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "name", identity_name(n->id));
    wire_add_hex(m, "nonce", nr, 32);
    cJSON *rev = NULL;
    if (wire_send(c, WIRE_PAIR_NONCE, m, &err) || !(rev = node_expect(c, WIRE_PAIR_REVEAL, &err)) ||
        wire_get_hex(rev, "nonce", ni, 32, &err)) {
        pthread_mutex_lock(&n->mu);
        finish_locked(p, PAIR_FAILED, err.msg);
        pthread_mutex_unlock(&n->mu);
        goto out;
    }
    make_commit(ni, check);
    if (sodium_memcmp(check, commit, 32) != 0) {
        pthread_mutex_lock(&n->mu);
        finish_locked(p, PAIR_FAILED, "the other device broke its commitment");
        pthread_mutex_unlock(&n->mu);
        node_pair_failed(n);
        goto out;
    }
    chan_handshake_hash(c, h);
    pthread_mutex_lock(&n->mu);
    make_code(h, ni, nr, p->pub.code);
    p->pub.state = PAIR_WAITING;
    pthread_mutex_unlock(&n->mu);
    pair_wait(n, p, c);
out:
    cJSON_Delete(rev);
    sodium_memzero(nr, sizeof nr);
    set_chan(n, p, NULL);
    chan_free(c);
}

/* ---- initiator ---- */

typedef struct {
    node *n;
    node_pair *p;
    char addrs[8][TRUST_ADDR_MAX];
    int n_addrs;
    int by_addr; /* target was an address: any device may answer */
    char want[DEVICE_ID_STRLEN];
} pair_out_args;

static void *pair_out_thread(void *arg)
{
    pair_out_args *a = arg;
    node *n = a->n;
    node_pair *p = a->p;
    uh_err err = {0};
    chan *c = NULL;
    char peer_id[DEVICE_ID_STRLEN];
    uint8_t pk[32], ni[32], nr[32], commit[32], h[32];
    const char *addr = "";
    int rc = UH_EIO;
    for (int i = 0; i < a->n_addrs && !c; i++) {
        rc = node_dial(n, a->addrs[i], CHAN_PAIR, a->by_addr ? NULL : a->want, &c, peer_id, pk,
                       &err);
        addr = a->addrs[i];
    }
    cJSON *nonce = NULL;
    if (!c) {
        if (!rc) err_setf(&err, UH_EIO, "no address to reach the device");
        goto fail;
    }
    if (strcmp(peer_id, identity_device_id(n->id)) == 0) {
        err_setf(&err, UH_EINVAL, "that is this device");
        goto fail;
    }
    pthread_mutex_lock(&n->mu);
    p->c = c;
    snprintf(p->pub.peer_id, sizeof p->pub.peer_id, "%s", peer_id);
    snprintf(p->pub.peer_addr, sizeof p->pub.peer_addr, "%s", addr);
    memcpy(p->peer_sign_pk, pk, 32);
    pthread_mutex_unlock(&n->mu);
    randombytes_buf(ni, sizeof ni);
    make_commit(ni, commit);
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "name", identity_name(n->id));
    cJSON_AddNumberToObject(req, "port", node_peer_port(n));
    wire_add_hex(req, "commit", commit, 32);
    if (wire_send(c, WIRE_PAIR_REQ, req, &err) || !(nonce = node_expect(c, WIRE_PAIR_NONCE, &err)))
        goto fail;
    char name[IDENTITY_NAME_MAX];
    if (wire_get_str(nonce, "name", name, sizeof name - 1, 1, &err) ||
        wire_get_hex(nonce, "nonce", nr, 32, &err))
        goto fail;
    cJSON *rev = cJSON_CreateObject();
    wire_add_hex(rev, "nonce", ni, 32);
    if (wire_send(c, WIRE_PAIR_REVEAL, rev, &err)) goto fail;
    chan_handshake_hash(c, h);
    pthread_mutex_lock(&n->mu);
    snprintf(p->pub.peer_name, sizeof p->pub.peer_name, "%s", name);
    make_code(h, ni, nr, p->pub.code);
    p->pub.state = PAIR_WAITING;
    pthread_mutex_unlock(&n->mu);
    pair_wait(n, p, c);
    goto out;
fail:
    pthread_mutex_lock(&n->mu);
    finish_locked(p, PAIR_FAILED, err.msg[0] ? err.msg : "pairing failed");
    pthread_mutex_unlock(&n->mu);
out:
    cJSON_Delete(nonce);
    sodium_memzero(ni, sizeof ni);
    set_chan(n, p, NULL);
    chan_free(c);
    free(a);
    node_thread_done(n);
    return NULL;
}

int node_pair_start(node *n, const char *target, enum trust_ring ring, int64_t quota,
                    char pid_out[16], uh_err *err)
{
    char why[128];
    if (node_pair_locked(n, why, sizeof why)) return err_setf(err, UH_ELIMIT, "%s", why);
    if (!target || !target[0] || strlen(target) >= TRUST_ADDR_MAX)
        return err_setf(err, UH_EINVAL, "no device to pair with");
    pair_out_args *a = calloc(1, sizeof *a);
    if (!a) return err_setf(err, UH_ENOMEM, "out of memory");
    a->n = n;
    if (strchr(target, ':') || strchr(target, '.')) {
        a->by_addr = 1;
        snprintf(a->addrs[0], TRUST_ADDR_MAX, "%s", target);
        a->n_addrs = 1;
    } else {
        int found = 0;
        pthread_mutex_lock(&n->mu);
        for (int i = 0; i < n->n_peers; i++)
            if (id_has_prefix(n->peers[i].id, target)) {
                if (found++ == 0) snprintf(a->want, sizeof a->want, "%s", n->peers[i].id);
            }
        pthread_mutex_unlock(&n->mu);
        if (found != 1) {
            free(a);
            return err_setf(err, found ? UH_EINVAL : UH_ENOTFOUND,
                            found ? "%d devices start with %s: type more of the id"
                                  : "no device %.*s seen on this network (try 'unhosted peers', "
                                    "or pair by HOST:PORT)",
                            found ? found : 64, target);
        }
        a->n_addrs = node_addrs_for(n, a->want, a->addrs, 8);
        if (a->n_addrs == 0) {
            free(a);
            return err_setf(err, UH_ENOTFOUND, "no address known for device %.7s", target);
        }
    }
    pthread_mutex_lock(&n->mu);
    node_pair *p = slot_alloc_locked(n, 0);
    if (p) {
        p->ring = ring;
        p->quota = quota;
        p->pub.local_ok = 0;
        snprintf(p->pub.peer_addr, sizeof p->pub.peer_addr, "%s", a->addrs[0]);
        if (!a->by_addr) snprintf(p->pub.peer_id, sizeof p->pub.peer_id, "%s", a->want);
        snprintf(pid_out, 16, "%s", p->pub.pid);
    }
    pthread_mutex_unlock(&n->mu);
    if (!p) {
        free(a);
        return err_setf(err, UH_ELIMIT, "too many pairings at once");
    }
    a->p = p;
    if (node_spawn(n, pair_out_thread, a) != 0) {
        pthread_mutex_lock(&n->mu);
        finish_locked(p, PAIR_FAILED, "cannot start a thread");
        pthread_mutex_unlock(&n->mu);
        free(a);
        return err_setf(err, UH_ENOMEM, "cannot start a thread");
    }
    return 0;
}

int node_pairings(node *n, node_pairing **out, int *count, uh_err *err)
{
    node_pairing *res = calloc(NODE_MAX_PAIRINGS, sizeof *res);
    if (!res) return err_setf(err, UH_ENOMEM, "out of memory");
    int k = 0;
    pthread_mutex_lock(&n->mu);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < NODE_MAX_PAIRINGS; i++) {
            node_pair *p = &n->pairs[i];
            int pending = p->pub.state <= PAIR_WAITING;
            if (p->used && pending == (pass == 0)) res[k++] = p->pub;
        }
    pthread_mutex_unlock(&n->mu);
    *out = res;
    *count = k;
    return 0;
}

int node_pairing_get(node *n, const char *pid, node_pairing *out)
{
    int rc = UH_ENOTFOUND;
    pthread_mutex_lock(&n->mu);
    for (int i = 0; i < NODE_MAX_PAIRINGS; i++)
        if (n->pairs[i].used && strcmp(n->pairs[i].pub.pid, pid) == 0) {
            *out = n->pairs[i].pub;
            rc = 0;
        }
    pthread_mutex_unlock(&n->mu);
    return rc;
}

int node_pair_decide(node *n, const char *pid, int accept, const char *code,
                     enum trust_ring ring, int64_t quota, uh_err *err)
{
    int failed = 0, rc = 0;
    pthread_mutex_lock(&n->mu);
    node_pair *p = NULL;
    for (int i = 0; i < NODE_MAX_PAIRINGS; i++)
        if (n->pairs[i].used && strcmp(n->pairs[i].pub.pid, pid) == 0) p = &n->pairs[i];
    if (!p) {
        rc = err_setf(err, UH_ENOTFOUND, "no pairing %s", pid);
    } else if (p->pub.state != PAIR_WAITING || (accept && p->pub.local_ok) || !p->c) {
        /* (a reject is taken while waiting, also after this side accepted: the user changed
         * their mind or gave up waiting) */
        rc = err_setf(err, UH_EINVAL, "pairing %s is %s", pid,
                      p->pub.local_ok && p->pub.state == PAIR_WAITING
                          ? "already confirmed here"
                          : node_pair_state_name(p->pub.state));
    } else {
        char typed[16] = "";
        if (code) normalize_code(code, typed, sizeof typed);
        uh_err e;
        if (accept && code && (strlen(typed) != 6 || sodium_memcmp(typed, p->pub.code, 6) != 0)) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "reason", "the codes did not match");
            wire_send(p->c, WIRE_PAIR_REJECT, m, &e);
            finish_locked(p, PAIR_REJECTED, "the codes did not match");
            failed = 1;
        } else if (!accept) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "reason", "the user said no");
            wire_send(p->c, WIRE_PAIR_REJECT, m, &e);
            finish_locked(p, PAIR_REJECTED, "rejected here");
            failed = 1;
        } else {
            if (p->pub.incoming) {
                p->ring = ring;
                p->quota = quota;
            }
            if (wire_send(p->c, WIRE_PAIR_CONFIRM, cJSON_CreateObject(), &e) != 0) {
                finish_locked(p, PAIR_FAILED, "the other device went away");
            } else {
                p->pub.local_ok = 1;
                maybe_store_locked(n, p);
            }
        }
    }
    pthread_mutex_unlock(&n->mu);
    if (failed) node_pair_failed(n);
    return rc;
}
