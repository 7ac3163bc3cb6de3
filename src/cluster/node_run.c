/* node_run.c - remote runs: serving a paired peer's RUN on a connect channel, and asking a
 * peer to run a request for us (node_run_start).
 *
 * Serving: the RUN message is an exec request (exec.h), decoded once and handed to this node's
 * local executor (exec/local.h), whose event sink must never block: it encodes each event and
 * queues it. The connection
 * thread sends the queue (and a KEEPALIVE after a second without events, so the client can tell
 * a slow prefill from a dead node), while a reader thread waits for CANCEL or the client going
 * away and then cancels the run. One run per channel; the channel closes after DONE.
 *
 * Client: node_run_start dials the peer (checking it is the device we mean), sends the request
 * as RUN, and a reader thread turns TOKEN/DONE messages back into exec events for the caller. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"

#include "base/err.h"
#include "base/log.h"
#include "cluster/node_impl.h"
#include "cluster/wire.h"
#include "exec/local.h"

/* ---- serving ---- */

typedef struct run_msg {
    struct run_msg *next;
    uint8_t type;
    char *body;
} run_msg;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    run_msg *head, *tail;
    int done;       /* DONE queued */
    int completion; /* tokens generated, from DONE */
    exec_run *run;
    int cancel;     /* the client cancelled or left */
    int reader_end; /* 1: the reader saw CANCEL (channel in step), 2: it broke */
    chan *c;
    char fp[EXEC_FP_LEN]; /* the model's fingerprint, sent with the first token */
    int fp_sent;
} run_q;

static void run_event(void *user, const exec_event *ev)
{
    run_q *q = user;
    cJSON *j = exec_event_json(ev);
    if (j && ev->type == EXEC_EV_TOKEN && !q->fp_sent && q->fp[0]) {
        cJSON_AddStringToObject(j, "fp", q->fp); /* fp is written before the run starts */
        q->fp_sent = 1;
    }
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    run_msg *m = malloc(sizeof *m);
    pthread_mutex_lock(&q->mu);
    if (m && s) {
        m->next = NULL;
        m->type = ev->type == EXEC_EV_TOKEN ? WIRE_TOKEN : WIRE_DONE;
        m->body = s;
        if (q->tail)
            q->tail->next = m;
        else
            q->head = m;
        q->tail = m;
        s = NULL;
        m = NULL;
    } else if (ev->type == EXEC_EV_TOKEN && q->run) {
        exec_run_cancel(q->run); /* out of memory: better stop than send a gap */
    }
    if (ev->type == EXEC_EV_DONE) {
        q->done = 1;
        q->completion = ev->usage.n_completion;
    }
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mu);
    free(s);
    free(m);
}

static void *run_reader(void *p)
{
    run_q *q = p;
    for (;;) {
        uint8_t type;
        uint8_t *body = NULL;
        size_t len = 0;
        uh_err err;
        int rc = chan_recv(q->c, &type, &body, &len, -1, &err);
        free(body);
        if (rc || type == WIRE_CANCEL) {
            pthread_mutex_lock(&q->mu);
            q->reader_end = rc ? 2 : 1;
            pthread_mutex_unlock(&q->mu);
            break;
        }
    }
    pthread_mutex_lock(&q->mu);
    q->cancel = 1;
    if (q->run && !q->done) exec_run_cancel(q->run);
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int node_serve_run(node *n, chan *c, const char *peer_id, const cJSON *msg)
{
    int reusable = 0;
    uh_err err;
    exec_request *req = NULL;
    if (exec_request_from_json(msg, &req, &err)) {
        node_refuse(c, err.code == UH_EUNSUPPORTED ? UH_EUNSUPPORTED : UH_EINVAL, err.msg);
        return 0;
    }
    if (!node_quota_left(n, peer_id)) {
        free(req);
        node_refuse(c, UH_EBUSY, "this device's daily token quota for you is used up");
        return 0;
    }
    if (!n->cfg.models) {
        free(req);
        wire_send(c, WIRE_REFUSED,
                  wire_refused_json(UH_ENOTFOUND, EXEC_FIELD_MODEL, "this device serves no models"),
                  &err);
        return 0;
    }
    run_q q;
    memset(&q, 0, sizeof q);
    pthread_mutex_init(&q.mu, NULL);
    clock_cond_init(&q.cond);
    q.c = c;
    exec_fail f = {0};
    exec_run *run = NULL;
    /* q.fp is filled before the first event can arrive: the scheduler starts the request only
     * after it was submitted, which is after the fingerprint is known. */
    int rc = exec_local_start(n->cfg.models, req, run_event, &q, &run, q.fp, &f);
    const int n_resume = req->n_resume;
    free(req);
    if (rc != 0) {
        wire_send(c, WIRE_REFUSED, wire_refused_json(rc, f.field, f.msg), &err);
        goto out;
    }
    pthread_mutex_lock(&q.mu);
    q.run = run;
    if (q.cancel && !q.done) exec_run_cancel(run);
    pthread_mutex_unlock(&q.mu);
    log_info("peer_run", "peer=%.7s resume=%d", peer_id, n_resume);

    pthread_t reader;
    int have_reader = pthread_create(&reader, NULL, run_reader, &q) == 0;
    if (!have_reader) exec_run_cancel(run);
    int broken = 0;
    for (;;) {
        pthread_mutex_lock(&q.mu);
        if (!q.head && !q.done) {
            struct timespec ts = clock_mono_after(NODE_PING_MS);
            pthread_cond_timedwait(&q.cond, &q.mu, &ts);
        }
        run_msg *m = q.head;
        q.head = q.tail = NULL;
        int done = q.done;
        pthread_mutex_unlock(&q.mu);
        if (!m && !done && !broken) broken = chan_send(c, WIRE_KEEPALIVE, "{}", 2, &err) != 0;
        while (m) {
            run_msg *next = m->next;
            if (!broken) broken = chan_send(c, m->type, m->body, strlen(m->body), &err) != 0;
            if (broken) exec_run_cancel(run);
            free(m->body);
            free(m);
            m = next;
        }
        /* DONE is the last callback and was read under the lock that gave us the list, so
         * everything is sent (or, out of memory, dropped; the client then sees the channel end
         * and fails over). */
        if (done) break;
    }
    node_quota_add(n, peer_id, q.completion);
    /* The client answers DONE with a CANCEL, which ends the reader and leaves the channel ready
     * for its next run; a client that does not within a while loses the channel. */
    if (have_reader) {
        struct timespec ts = clock_mono_after(NODE_DOWN_AFTER_MS);
        pthread_mutex_lock(&q.mu);
        while (!q.reader_end && !broken)
            if (pthread_cond_timedwait(&q.cond, &q.mu, &ts) != 0) break;
        reusable = q.reader_end == 1 && !broken;
        pthread_mutex_unlock(&q.mu);
        if (!reusable) chan_shutdown(c);
        pthread_join(reader, NULL);
    }
    exec_run_release(run);
out:
    pthread_mutex_lock(&q.mu);
    for (run_msg *m = q.head; m;) {
        run_msg *next = m->next;
        free(m->body);
        free(m);
        m = next;
    }
    pthread_mutex_unlock(&q.mu);
    pthread_mutex_destroy(&q.mu);
    pthread_cond_destroy(&q.cond);
    return reusable;
}

/* ---- client ---- */

struct node_run {
    atomic_int refs;
    node *n;
    pthread_mutex_t mu; /* guards c against node_run_cancel while the reader pools it */
    chan *c;
    node_run_cb cb;
    void *ud;
    char peer[DEVICE_ID_STRLEN];
    char fp[EXEC_FP_LEN];    /* under mu: from the peer's first token */
    int slot;                /* in the node's channel list */
    exec_event_store *store; /* pieces of the event being delivered (reader thread only) */
};

static void run_unref(node_run *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1) return;
    chan_free(r->c);
    pthread_mutex_destroy(&r->mu);
    free(r->store);
    free(r);
}

static void *client_reader(void *p)
{
    node_run *r = p;
    node *n = r->n;
    int finished = 0, done_ok = 0;
    while (!finished) {
        uint8_t type;
        uint8_t *body = NULL;
        size_t len = 0;
        uh_err err;
        int rc = chan_recv(r->c, &type, &body, &len, NODE_DOWN_AFTER_MS, &err);
        if (rc) {
            exec_fail lost = {.code = rc == UH_ETIMEDOUT ? UH_ETIMEDOUT : UH_EIO};
            snprintf(lost.msg, sizeof lost.msg, "%s",
                     rc == UH_ETIMEDOUT ? "the device went silent" : "connection lost");
            log_info("peer_run_lost", "peer=%.7s reason=\"%s\"", r->peer, lost.msg);
            r->cb(r->ud, NULL, &lost);
            break;
        }
        if (type == WIRE_KEEPALIVE) {
            free(body);
            continue;
        }
        cJSON *msg = wire_parse(body, len, &err);
        free(body);
        exec_event ev;
        if (msg && type == WIRE_REFUSED) {
            exec_fail why;
            wire_refused_from(msg, &why);
            r->cb(r->ud, NULL, &why);
            finished = 1;
        } else if (msg && (type == WIRE_TOKEN || type == WIRE_DONE) &&
                   exec_event_from_json(type == WIRE_TOKEN ? EXEC_EV_TOKEN : EXEC_EV_DONE, msg, &ev,
                                        r->store, &err) == 0) {
            char fp[EXEC_FP_LEN];
            if (type == WIRE_TOKEN && wire_get_str(msg, "fp", fp, EXEC_FP_LEN - 1, 0, &err) == 0 &&
                fp[0]) {
                pthread_mutex_lock(&r->mu);
                memcpy(r->fp, fp, sizeof fp);
                pthread_mutex_unlock(&r->mu);
            }
            r->cb(r->ud, &ev, NULL);
            finished = done_ok = type == WIRE_DONE;
        } else {
            log_warn("peer_bad_message", "peer=%.7s type=%d", r->peer, type);
            exec_fail bad = {.code = UH_EFORMAT};
            snprintf(bad.msg, sizeof bad.msg, "the device sent a malformed message");
            r->cb(r->ud, NULL, &bad);
            finished = 1;
        }
        cJSON_Delete(msg);
    }
    node_conn_remove(n, r->slot);
    uh_err err;
    /* A run that ended with DONE leaves the channel in step: say so (CANCEL) and keep it for
     * the next run to this device. */
    pthread_mutex_lock(&r->mu);
    if (done_ok && chan_send(r->c, WIRE_CANCEL, "{}", 2, &err) == 0 &&
        node_pool_put(n, r->peer, r->c))
        r->c = NULL;
    else
        chan_shutdown(r->c);
    pthread_mutex_unlock(&r->mu);
    run_unref(r);
    node_thread_done(n);
    return NULL;
}

int node_run_start(node *n, const char *peer_id, const exec_request *req, node_run_cb cb, void *ud,
                   node_run **out, uh_err *err)
{
    trust_peer tp;
    if (trust_get(n->trust, peer_id, &tp) != 0)
        return err_setf(err, UH_ENOTFOUND, "device %.7s is not paired", peer_id);
    char *run_text = NULL;
    {
        cJSON *msg = exec_request_json(req);
        run_text = msg ? cJSON_PrintUnformatted(msg) : NULL;
        cJSON_Delete(msg);
        if (!run_text) return err_setf(err, UH_ENOMEM, "out of memory");
        if (strlen(run_text) > WIRE_MAX_BODY) {
            free(run_text);
            return err_setf(err, UH_ELIMIT, "the request is larger than %u bytes", WIRE_MAX_BODY);
        }
    }
    /* A channel kept from an earlier run first (no handshake), else a new one. */
    chan *c = NULL;
    int rc = 0;
    while (!c && (c = node_pool_get(n, peer_id)) != NULL)
        if (chan_send(c, WIRE_RUN, run_text, strlen(run_text), err) != 0) {
            chan_free(c);
            c = NULL;
        }
    if (!c) {
        char addrs[8][TRUST_ADDR_MAX];
        int k = node_addrs_for(n, peer_id, addrs, 8);
        rc = err_setf(err, UH_EIO, "no address known for device %.7s", peer_id);
        for (int i = 0; i < k && !c; i++) {
            char got[DEVICE_ID_STRLEN];
            uint8_t pk[32];
            rc = node_dial(n, addrs[i], CHAN_CONNECT, peer_id, &c, got, pk, err);
        }
        if (!c) {
            free(run_text);
            return rc ? rc : UH_EIO;
        }
        if ((rc = chan_send(c, WIRE_RUN, run_text, strlen(run_text), err)) != 0) {
            free(run_text);
            chan_free(c);
            return rc;
        }
    }
    free(run_text);
    node_run *r = calloc(1, sizeof *r);
    exec_event_store *store = malloc(sizeof *store);
    if (!r || !store) {
        free(r);
        free(store);
        chan_free(c);
        return err_setf(err, UH_ENOMEM, "out of memory");
    }
    r->store = store;
    atomic_init(&r->refs, 2);
    pthread_mutex_init(&r->mu, NULL);
    r->n = n;
    r->c = c;
    r->cb = cb;
    r->ud = ud;
    snprintf(r->peer, sizeof r->peer, "%s", peer_id);
    r->slot = node_conn_add(n, c, peer_id);
    if (node_spawn(n, client_reader, r) != 0) {
        node_conn_remove(n, r->slot);
        chan_free(c);
        pthread_mutex_destroy(&r->mu);
        free(r->store);
        free(r);
        return err_setf(err, UH_ENOMEM, "cannot start a thread");
    }
    *out = r;
    return 0;
}

void node_run_cancel(node_run *r)
{
    uh_err err;
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    if (r->c) chan_send(r->c, WIRE_CANCEL, "{}", 2, &err);
    pthread_mutex_unlock(&r->mu);
}

void node_run_release(node_run *r)
{
    if (r) run_unref(r);
}

void node_run_fingerprint(node_run *r, char out[EXEC_FP_LEN])
{
    out[0] = '\0';
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    memcpy(out, r->fp, EXEC_FP_LEN);
    pthread_mutex_unlock(&r->mu);
}
