/* attempt.c - running a request where the router sends it (router.h, "attempts"): the plan,
 * local attempts on this node's executor, peer attempts over the cluster, failover with resume.
 *
 * Failover: a peer attempt lost before its first event leaves the next candidate to
 * router_start, which is still waiting (the caller has seen nothing). One lost after that starts
 * a short-lived thread (node callbacks must not block: connecting to the next peer or loading a
 * model may take a while) that starts the next candidate with the delivered tokens as resume
 * tokens; its events go to the same sink.
 *
 * Lifetime: a router_run is reference counted: the caller's reference, one for the attempt that
 * runs (a local run's, dropped after its DONE; a peer run's, dropped after its DONE or when it is
 * lost), and one for a failover thread while it runs. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "exec/local.h"
#include "router/router.h"

struct router_run {
    atomic_int refs;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    router *rt;
    exec_request *req; /* the caller's request, copied */
    exec_sink sink;
    void *ud;

    /* under mu */
    router_candidate cand[ROUTER_MAX_CANDIDATES];
    int n_cand, next_cand;
    char served[ROUTER_SERVED_MAX]; /* "local" or "peer:<id>" of the running attempt */
    exec_run *local;                /* local attempt */
    node_run *peer;                 /* peer attempt */
    int committed;        /* an attempt delivered its first event (or a local one was queued) */
    int attempt_lost;     /* the peer attempt failed before its first event */
    int run_ended;        /* the peer run ended before node_run_start returned */
    int cancel_pending;   /* cancelled: start nothing more */
    int done;             /* DONE delivered */
    exec_fail fail;       /* why the last attempt failed */
    char fp[EXEC_FP_LEN]; /* the model file that made the delivered tokens ("" until known) */

    /* written by the delivering attempt only (attempts never overlap) */
    uh_token *delivered; /* [n_delivered] token ids sent to the caller (resume on failover) */
    size_t n_delivered, delivered_cap;
};

static void run_unref(router_run *q)
{
    if (atomic_fetch_sub(&q->refs, 1) != 1) return;
    exec_run_release(q->local);
    free(q->delivered);
    free(q->req);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cond);
    free(q);
}

static void fail_set(router_run *q, const exec_fail *f)
{
    pthread_mutex_lock(&q->mu);
    q->fail = *f;
    pthread_mutex_unlock(&q->mu);
}

/* ---- delivery ---- */

/* One event of the answering attempt to the caller. DONE drops the attempt's reference. */
static void deliver(router_run *q, const exec_event *ev)
{
    if (ev->type == EXEC_EV_TOKEN) {
        /* out of memory: a later failover resumes with fewer tokens and repeats some text */
        if (buf_grow_array((void **)&q->delivered, &q->delivered_cap, q->n_delivered + 1,
                           sizeof *q->delivered) == 0)
            q->delivered[q->n_delivered++] = ev->token;
        q->sink(q->ud, ev);
        return;
    }
    q->sink(q->ud, ev);
    pthread_mutex_lock(&q->mu);
    q->done = 1;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mu);
    run_unref(q);
}

/* A DONE of our own when no device can go on (or the run was cancelled meanwhile). */
static void deliver_end(router_run *q, enum exec_finish f, int code, const char *msg)
{
    exec_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = EXEC_EV_DONE;
    ev.text = "";
    ev.token = -1;
    ev.finish = f;
    ev.code = f == EXEC_FINISH_ERROR ? code : 0;
    ev.error = msg;
    ev.usage.n_completion = (int)q->n_delivered;
    deliver(q, &ev);
}

/* ---- local attempts ---- */

static void local_event(void *ud, const exec_event *ev)
{
    deliver(ud, ev);
}

/* The request for the next attempt: the caller's, resuming after the delivered tokens. */
static exec_request attempt_request(router_run *q)
{
    exec_request r = *q->req;
    pthread_mutex_lock(&q->mu);
    r.resume = q->n_delivered ? q->delivered : NULL;
    r.n_resume = (int)q->n_delivered;
    r.expect_fp = q->n_delivered ? q->fp : NULL;
    pthread_mutex_unlock(&q->mu);
    return r;
}

static int start_local(router_run *q)
{
    exec_fail f = {0};
    char fp[EXEC_FP_LEN];
    if (!q->rt->models) {
        exec_fail_set(&f, UH_ENOTFOUND, EXEC_FIELD_MODEL, "The model '%.200s' does not exist",
                      q->req->model);
        fail_set(q, &f);
        return -1;
    }
    exec_request r = attempt_request(q);
    pthread_mutex_lock(&q->mu);
    snprintf(q->served, sizeof q->served, "local");
    pthread_mutex_unlock(&q->mu);
    atomic_fetch_add(&q->refs, 1); /* the local run's, dropped after its DONE */
    exec_run *run = NULL;
    int rc = exec_local_start(q->rt->models, &r, local_event, q, &run, fp, &f);
    if (rc != 0) {
        atomic_fetch_sub(&q->refs, 1);
        fail_set(q, &f);
        return -1;
    }
    pthread_mutex_lock(&q->mu);
    q->local = run;
    if (!q->fp[0]) snprintf(q->fp, sizeof q->fp, "%s", fp);
    q->committed = 1;
    const int pending = q->cancel_pending;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mu);
    if (pending) exec_run_cancel(run);
    return 0;
}

/* ---- peer attempts ---- */

static int next_attempt(router_run *q);
static void *failover_main(void *arg);

/* The peer run ended (DONE or lost): drop our reference to it. */
static void end_peer(router_run *q)
{
    pthread_mutex_lock(&q->mu);
    node_run *r = q->peer;
    q->peer = NULL;
    if (!r) q->run_ended = 1; /* node_run_start has not returned yet: its caller releases */
    if (r && !q->fp[0]) node_run_fingerprint(r, q->fp); /* what the delivered tokens came from */
    pthread_mutex_unlock(&q->mu);
    node_run_release(r);
}

static void peer_event(void *ud, const exec_event *ev, const exec_fail *lost)
{
    router_run *q = ud;
    if (!lost) {
        if (ev->type == EXEC_EV_DONE) end_peer(q);
        pthread_mutex_lock(&q->mu);
        if (!q->committed) {
            q->committed = 1;
            pthread_cond_broadcast(&q->cond);
        }
        pthread_mutex_unlock(&q->mu);
        deliver(q, ev); /* DONE: drops the attempt's reference */
        return;
    }
    end_peer(q);
    exec_fail f = *lost;
    pthread_mutex_lock(&q->mu);
    snprintf(f.msg, sizeof f.msg, "%.72s: %.160s", q->served, lost->msg[0] ? lost->msg : "lost");
    pthread_mutex_unlock(&q->mu);
    log_warn("route_lost", "code=%d delivered=%zu msg=\"%s\"", lost->code, q->n_delivered, f.msg);
    fail_set(q, &f);
    pthread_mutex_lock(&q->mu);
    const int committed = q->committed;
    if (!committed) {
        q->attempt_lost = 1; /* router_start, still waiting, tries the next candidate */
        pthread_cond_broadcast(&q->cond);
    }
    pthread_mutex_unlock(&q->mu);
    if (!committed) {
        run_unref(q);
        return;
    }
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, failover_main, q) != 0) /* the thread takes our reference */
        deliver_end(q, EXEC_FINISH_ERROR, UH_ENOMEM, "cannot start failover");
    pthread_attr_destroy(&attr);
}

static void *failover_main(void *arg)
{
    router_run *q = arg;
    if (next_attempt(q) == 0) {
        run_unref(q);
        return NULL;
    }
    pthread_mutex_lock(&q->mu);
    const int cancelled = q->cancel_pending;
    char msg[320];
    snprintf(msg, sizeof msg, "no device could go on: %.256s", q->fail.msg);
    const int code = q->fail.code ? q->fail.code : UH_EUNAVAIL;
    pthread_mutex_unlock(&q->mu);
    deliver_end(q, cancelled ? EXEC_FINISH_CANCELLED : EXEC_FINISH_ERROR, code, msg);
    return NULL;
}

static int start_peer(router_run *q, const char *peer_id)
{
    pthread_mutex_lock(&q->mu);
    snprintf(q->served, sizeof q->served, "peer:%s", peer_id);
    q->attempt_lost = 0;
    q->run_ended = 0;
    pthread_mutex_unlock(&q->mu);
    exec_request r = attempt_request(q);
    atomic_fetch_add(&q->refs, 1); /* the peer run's, dropped after its DONE or when lost */
    node_run *run = NULL;
    uh_err err = {0};
    int rc = node_run_start(q->rt->node, peer_id, &r, peer_event, q, &run, &err);
    if (rc != 0) {
        atomic_fetch_sub(&q->refs, 1);
        exec_fail f;
        exec_fail_set(&f, rc == UH_ELIMIT ? UH_ELIMIT : UH_EUNAVAIL, EXEC_FIELD_NONE,
                      "peer:%.64s: %.160s", peer_id, err.msg);
        fail_set(q, &f);
        log_warn("route_start", "peer=%s code=%d msg=\"%s\"", peer_id, rc, err.msg);
        return -1;
    }
    pthread_mutex_lock(&q->mu);
    const int ended = q->run_ended;
    if (!ended) q->peer = run;
    const int pending = q->cancel_pending;
    pthread_mutex_unlock(&q->mu);
    if (ended)
        node_run_release(run);
    else if (pending)
        router_run_cancel(q);
    log_debug("route_peer", "peer=%s resume=%d", peer_id, r.n_resume);
    return 0;
}

/* Starts candidates in order from next_cand until one runs: 0, or -1 when none is left (fail
 * says why). The caller holds a reference. */
static int next_attempt(router_run *q)
{
    for (;;) {
        pthread_mutex_lock(&q->mu);
        if (q->cancel_pending || q->next_cand >= q->n_cand) {
            if (q->cancel_pending && !q->fail.code)
                exec_fail_set(&q->fail, UH_ECANCELLED, EXEC_FIELD_NONE, "cancelled");
            pthread_mutex_unlock(&q->mu);
            return -1;
        }
        router_candidate c = q->cand[q->next_cand++];
        pthread_mutex_unlock(&q->mu);
        if ((c.local ? start_local(q) : start_peer(q, c.peer_id)) == 0) return 0;
    }
}

/* ---- the plan ---- */

static void plan(router_run *q)
{
    router *rt = q->rt;
    q->n_cand = 0;
    q->next_cand = 0;
    if (rt->node) {
        uh_err err = {0};
        const int local_has = rt->models && exec_models_available(rt->models, q->req->model);
        node_load ll;
        memset(&ll, 0, sizeof ll);
        if (rt->models) exec_models_load(rt->models, &ll.active, &ll.slots, &ll.queued);
        node_peer *peers = NULL;
        int n_peers = 0;
        if (node_peers(rt->node, &peers, &n_peers, &err) != 0) n_peers = 0;
        if (router_route(rt, q->req->model, q->req->ring, local_has, &ll, peers, n_peers, q->cand,
                         ROUTER_MAX_CANDIDATES, &q->n_cand) != 0)
            q->n_cand = 0;
        free(peers);
    }
    if (q->n_cand == 0) { /* nobody has it: the local attempt says why (model not found) */
        memset(&q->cand[0], 0, sizeof q->cand[0]);
        q->cand[0].local = 1;
        q->n_cand = 1;
    }
}

int router_prepare(router *rt, const exec_request *req, exec_sink sink, void *ud, router_run **out,
                   exec_fail *f)
{
    *out = NULL;
    router_run *q = calloc(1, sizeof *q);
    if (!q) return exec_fail_set(f, UH_ENOMEM, EXEC_FIELD_NONE, "out of memory");
    int rc = exec_request_dup(req, &q->req, f);
    if (rc) {
        free(q);
        return rc;
    }
    atomic_init(&q->refs, 1);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cond, NULL);
    q->rt = rt;
    q->sink = sink;
    q->ud = ud;
    plan(q);
    *out = q;
    return 0;
}

int router_go(router_run *q, exec_fail *f)
{
    for (;;) {
        if (next_attempt(q) != 0) {
            pthread_mutex_lock(&q->mu);
            *f = q->fail;
            pthread_mutex_unlock(&q->mu);
            if (!f->code) exec_fail_set(f, UH_EUNAVAIL, EXEC_FIELD_NONE, "no device could run it");
            return f->code;
        }
        pthread_mutex_lock(&q->mu);
        while (!q->committed && !q->attempt_lost) pthread_cond_wait(&q->cond, &q->mu);
        const int lost = !q->committed;
        q->attempt_lost = 0;
        pthread_mutex_unlock(&q->mu);
        if (!lost) return 0;
    }
}

void router_run_served(router_run *q, char out[ROUTER_SERVED_MAX])
{
    pthread_mutex_lock(&q->mu);
    snprintf(out, ROUTER_SERVED_MAX, "%s", q->served);
    pthread_mutex_unlock(&q->mu);
}

void router_run_cancel(router_run *q)
{
    pthread_mutex_lock(&q->mu);
    q->cancel_pending = 1;
    if (q->local) exec_run_cancel(q->local);
    if (q->peer) node_run_cancel(q->peer); /* asynchronous: DONE or lost follows */
    pthread_mutex_unlock(&q->mu);
}

void router_run_release(router_run *q)
{
    if (q) run_unref(q);
}
