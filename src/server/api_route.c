/* api_route.c - where a generation request runs, and running it there (api.h, "Cluster"): the
 * routing plan (router.h over the node's peer snapshot), local attempts (prompt building and
 * submission to the model's scheduler), peer attempts (node_run_start with the client's body),
 * failover with resume, and the executor that serves peers' run requests (api_peer_run).
 *
 * Failover: a peer attempt lost before its first event leaves the next candidate to the handler,
 * which is still waiting (the client sees nothing yet, not even headers). One lost after that
 * starts a short-lived thread (node callbacks must not block: connecting to the next peer or
 * loading a model may take a while) that starts the next candidate with the delivered tokens as
 * resume tokens; its events go into the same client stream. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/log.h"
#include "engine/chat.h"
#include "server/api_impl.h"

static void fail_set(api_gen *g, int status, const char *msg, const char *param,
                     const char *code)
{
    pthread_mutex_lock(&g->mu);
    g->fail_status = status;
    const size_t n = msg ? strnlen(msg, sizeof g->fail_msg - 1) : 0;
    if (n) memcpy(g->fail_msg, msg, n);
    g->fail_msg[n] = 0;
    g->fail_param = param;
    g->fail_code = code;
    pthread_mutex_unlock(&g->mu);
}

/* ---- request to prompt ---- */

static int add_message(cJSON *msgs, const char *role, const char *content)
{
    cJSON *m = cJSON_CreateObject();
    if (!m) return -1;
    cJSON_AddItemToArray(msgs, m);
    return cJSON_AddStringToObject(m, "role", role) &&
                   cJSON_AddStringToObject(m, "content", content)
               ? 0
               : -1;
}

int api_build_prompt(const oai_request *o, const uh_model *um, int n_ctx, uh_token **toks, int *n,
                     uh_err *err)
{
    size_t tl;
    int rc;
    int chat = o->kind == OAI_CHAT || o->kind == OLLAMA_CHAT ||
               (o->kind == OLLAMA_GENERATE && chat_model_template(um, &tl));
    *toks = NULL;
    *n = 0;
    if (chat) {
        cJSON *msgs = cJSON_CreateArray();
        char *rendered = NULL;
        rc = msgs ? 0 : -1;
        if (o->kind == OLLAMA_GENERATE) {
            if (rc == 0 && o->system && o->system[0]) rc = add_message(msgs, "system", o->system);
            if (rc == 0) rc = add_message(msgs, "user", o->prompt ? o->prompt : "");
        } else {
            for (int i = 0; rc == 0 && i < o->n_messages; i++)
                rc = add_message(msgs, o->messages[i].role, o->messages[i].content);
        }
        if (rc != 0)
            rc = err_setf(err, UH_ENOMEM, "out of memory");
        else if ((rc = chat_render(um, NULL, 0, msgs, 1, NULL, &rendered, err)) == 0)
            rc = chat_tokenize(um, rendered, toks, n, err);
        free(rendered);
        cJSON_Delete(msgs);
        if (rc == 0 && *n > n_ctx)
            rc = err_setf(err, UH_ELIMIT, "the prompt is %d tokens, more than the context of %d",
                          *n, n_ctx);
    } else {
        *toks = malloc(((size_t)n_ctx + 1) * sizeof **toks);
        if (!*toks) return err_setf(err, UH_ENOMEM, "out of memory");
        rc = uh_tokenize(um, o->prompt ? o->prompt : "", o->prompt_len, 1, 0, *toks, n_ctx + 1, n,
                         err);
        if (rc == 0 && *n > n_ctx) rc = UH_ELIMIT;
        if (rc == UH_ELIMIT)
            err_setf(err, UH_ELIMIT, "the prompt is longer than the context of %d tokens", n_ctx);
    }
    if (rc != 0) {
        free(*toks);
        *toks = NULL;
        *n = 0;
    }
    return rc;
}

static uint64_t fresh_seed(api_server *api)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
                 ((uint64_t)atomic_fetch_add(&api->next_id, 1) << 40);
    x += 0x9E3779B97F4A7C15ull; /* splitmix64 finalizer */
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uh_sampler_params api_sampler_for(api_server *api, const oai_request *o)
{
    uh_sampler_params p = uh_sampler_default_params();
    int ollama = o->kind == OLLAMA_CHAT || o->kind == OLLAMA_GENERATE;
    p.temp = o->has_temperature ? o->temperature : (ollama ? 0.8f : 1.0f);
    p.top_p = o->has_top_p ? o->top_p : (ollama ? 0.9f : 1.0f);
    p.top_k = o->top_k > 0 ? o->top_k : (ollama ? 40 : 0);
    p.min_p = o->min_p;
    p.repeat_penalty = o->repeat_penalty > 0 ? o->repeat_penalty : 1.0f;
    p.freq_penalty = o->frequency_penalty;
    p.presence_penalty = o->presence_penalty;
    p.seed = o->has_seed ? o->seed : fresh_seed(api);
    return p;
}

/* The scheduler request of o over the prompt toks (cb and user left to the caller). */
static sched_request sched_request_of(api_server *api, const oai_request *o, const uh_model *um,
                                      const uh_token *toks, int n_toks, const uh_token *resume,
                                      int n_resume)
{
    sched_request sr;
    memset(&sr, 0, sizeof sr);
    sr.tokens = toks;
    sr.n_tokens = n_toks;
    sr.sampler = api_sampler_for(api, o);
    sr.max_tokens = o->max_tokens > 0 ? o->max_tokens : 0;
    sr.stops = o->stop;
    sr.n_stops = o->n_stop;
    sr.logprobs = o->logprobs;
    sr.top_logprobs =
        o->top_logprobs > SCHED_TOP_LOGPROBS_MAX ? SCHED_TOP_LOGPROBS_MAX : o->top_logprobs;
    sr.at_start = n_toks == 1 && toks[0] == uh_token_bos(um);
    sr.resume = resume;
    sr.n_resume = n_resume;
    return sr;
}

/* The model of o, loaded, and its prompt: 0, or an HTTP status with msg/param/code. */
static int local_prepare(api_server *api, const oai_request *o, api_model **m, uh_token **toks,
                         int *n_toks, char *msg, size_t msg_cap, const char **param,
                         const char **code)
{
    const char *prompt_param =
        o->kind == OAI_CHAT || o->kind == OLLAMA_CHAT ? "messages" : "prompt";
    uh_err err = {0};
    int status = 0;
    *param = *code = NULL;
    *toks = NULL;
    int rc = api_models_acquire(api->am, o->model, m, &err);
    if (rc != 0) {
        *m = NULL;
        *param = "model";
        if (rc == UH_ENOTFOUND) *code = "model_not_found";
        snprintf(msg, msg_cap, "%s", err.msg);
        return rc == UH_ENOTFOUND ? 404 : rc == UH_ELIMIT ? 503 : 500;
    }
    rc = api_build_prompt(o, api_model_engine(*m), api_model_n_ctx(*m), toks, n_toks, &err);
    if (rc == UH_ELIMIT || rc == UH_ECTXFULL) {
        status = 400;
        *param = prompt_param;
        *code = "context_length_exceeded";
    } else if (rc == UH_ENOMEM) {
        status = 500;
    } else if (rc != 0) {
        status = 400;
        *param = prompt_param;
    } else if (*n_toks == 0) {
        status = 400;
        *param = prompt_param;
        snprintf(err.msg, sizeof err.msg, "the prompt is empty and the model has no BOS token");
    }
    if (status) {
        snprintf(msg, msg_cap, "%s", err.msg);
        free(*toks);
        *toks = NULL;
        api_models_done(*m);
        *m = NULL;
    }
    return status;
}

/* HTTP status of a sched_submit error. */
static int submit_status(int rc, const char **code)
{
    *code = NULL;
    if (rc == UH_ELIMIT) {
        *code = "rate_limit_exceeded";
        return 429;
    }
    if (rc == UH_ECTXFULL) {
        *code = "context_length_exceeded";
        return 400;
    }
    return rc == UH_EINVAL ? 503 : 500;
}

/* ---- local attempts ---- */

static void local_event(void *user, const sched_event *ev)
{
    api_gen_deliver(user, ev);
}

static int start_local(api_gen *g)
{
    api_server *api = g->api;
    api_model *m = NULL;
    uh_token *toks = NULL;
    int n_toks = 0;
    char msg[256];
    const char *param, *code;
    const double t0 = api_now();
    int status = local_prepare(api, &g->o, &m, &toks, &n_toks, msg, sizeof msg, &param, &code);
    if (status) {
        fail_set(g, status, msg, param, code);
        return -1;
    }
    const uh_model *um = api_model_engine(m);
    pthread_mutex_lock(&g->mu);
    int other_file = g->n_delivered > 0 && g->fp[0] && strcmp(g->fp, api_model_fingerprint(m));
    if (!g->fp[0]) snprintf(g->fp, sizeof g->fp, "%s", api_model_fingerprint(m));
    pthread_mutex_unlock(&g->mu);
    if (other_file) { /* our tokens would mean something else: no resuming here */
        api_models_done(m);
        free(toks);
        fail_set(g, 409, "this device's model is another file than the one that began the answer",
                 NULL, NULL);
        return -1;
    }
    sched_request sr = sched_request_of(api, &g->o, um, toks, n_toks, g->delivered, g->n_delivered);
    sr.cb = local_event;
    sr.user = g;
    pthread_mutex_lock(&g->mu);
    g->model = m;
    g->um = um;
    g->load_s = api_now() - t0;
    snprintf(g->served, sizeof g->served, "local");
    pthread_mutex_unlock(&g->mu);
    log_debug("serve_request", "model=%s kind=%d prompt_tokens=%d resume=%d stream=%d",
              api_model_name(m), (int)g->kind, n_toks, g->n_delivered, g->stream);
    atomic_fetch_add(&g->refs, 1); /* the scheduler's, dropped after the done event */
    g->t_submit = api_now();
    sched_handle *h = NULL;
    uh_err err = {0};
    int rc = sched_submit(api_model_sched(m), &sr, &h, &err);
    free(toks);
    if (rc != 0) {
        atomic_fetch_sub(&g->refs, 1);
        if (rc == UH_ELIMIT) api_model_observe_rejected(m);
        pthread_mutex_lock(&g->mu);
        g->model = NULL;
        g->um = NULL;
        pthread_mutex_unlock(&g->mu);
        api_models_done(m);
        status = submit_status(rc, &code);
        fail_set(g, status,
                 status == 429   ? "too many requests are waiting; retry later"
                 : status == 503 ? "the server is shutting down"
                                 : err.msg,
                 status == 400 ? (g->kind == OAI_CHAT || g->kind == OLLAMA_CHAT ? "messages"
                                                                                 : "prompt")
                               : NULL,
                 code);
        return -1;
    }
    pthread_mutex_lock(&g->mu);
    g->h = h;
    g->committed = 1;
    int pending = g->cancel_pending;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->mu);
    if (pending) sched_cancel(h);
    return 0;
}

/* ---- peer attempts ---- */

static void *failover_main(void *arg);

/* The peer run ended (done or lost): drop our reference to it. */
static void end_run(api_gen *g)
{
    pthread_mutex_lock(&g->mu);
    node_run *r = g->run;
    g->run = NULL;
    if (!r) g->run_ended = 1; /* node_run_start has not returned yet: its caller releases */
    if (r && !g->fp[0]) node_run_fingerprint(r, g->fp); /* what the delivered tokens came from */
    pthread_mutex_unlock(&g->mu);
    node_run_release(r);
}

/* A synthetic done event when no device can go on (or the client left meanwhile). */
static void deliver_end(api_gen *g, enum sched_finish f, const char *msg)
{
    sched_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = SCHED_EV_DONE;
    ev.text = "";
    ev.token = -1;
    ev.finish = f;
    ev.error = msg;
    ev.usage.n_completion = g->n_delivered;
    api_gen_deliver(g, &ev);
}

static void peer_event(void *ud, const sched_event *ev, int lost, int status, const char *msg)
{
    api_gen *g = ud;
    if (!lost) {
        if (ev->type == SCHED_EV_DONE) end_run(g);
        pthread_mutex_lock(&g->mu);
        if (!g->committed) {
            g->committed = 1;
            pthread_cond_broadcast(&g->cond);
        }
        pthread_mutex_unlock(&g->mu);
        api_gen_deliver(g, ev); /* done: drops the attempt's reference */
        return;
    }
    end_run(g);
    char why[200];
    snprintf(why, sizeof why, "%.72s: %.120s", g->served, msg && msg[0] ? msg : "connection lost");
    log_warn("route_lost", "served=%s status=%d delivered=%d msg=\"%s\"", g->served, status,
             g->n_delivered, msg ? msg : "");
    fail_set(g, status >= 400 ? status : 503, why, NULL, NULL);
    pthread_mutex_lock(&g->mu);
    int committed = g->committed;
    if (!committed) {
        g->attempt_lost = 1; /* the handler, still waiting, tries the next candidate */
        pthread_cond_broadcast(&g->cond);
    }
    pthread_mutex_unlock(&g->mu);
    if (!committed) {
        api_gen_unref(g);
        return;
    }
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, failover_main, g) != 0) /* the thread takes our reference */
        deliver_end(g, SCHED_FINISH_ERROR, "cannot start failover");
    pthread_attr_destroy(&attr);
}

static void *failover_main(void *arg)
{
    api_gen *g = arg;
    if (api_route_next(g) == 0) {
        api_gen_unref(g);
        return NULL;
    }
    pthread_mutex_lock(&g->mu);
    enum sched_finish f = g->cancel_pending ? SCHED_FINISH_CANCELLED : SCHED_FINISH_ERROR;
    char msg[256];
    snprintf(msg, sizeof msg, "no device could go on: %.200s", g->fail_msg);
    pthread_mutex_unlock(&g->mu);
    deliver_end(g, f, msg);
    return NULL;
}

static int start_peer(api_gen *g, const char *peer_id)
{
    pthread_mutex_lock(&g->mu);
    snprintf(g->served, sizeof g->served, "peer:%s", peer_id);
    g->attempt_lost = 0;
    g->run_ended = 0;
    pthread_mutex_unlock(&g->mu);
    atomic_fetch_add(&g->refs, 1); /* the run's, dropped after done or lost */
    node_run *run = NULL;
    uh_err err = {0};
    char fp[NODE_FP_LEN];
    pthread_mutex_lock(&g->mu);
    snprintf(fp, sizeof fp, "%s", g->n_delivered ? g->fp : "");
    pthread_mutex_unlock(&g->mu);
    int rc = node_run_start(g->api->node, peer_id, (int)g->kind, g->body, g->body_len,
                            g->delivered, g->n_delivered, fp, peer_event, g, &run, &err);
    if (rc != 0) {
        atomic_fetch_sub(&g->refs, 1);
        char why[300];
        snprintf(why, sizeof why, "peer:%.64s: %.200s", peer_id, err.msg);
        fail_set(g, 503, why, NULL, NULL);
        log_warn("route_start", "peer=%s code=%d msg=\"%s\"", peer_id, rc, err.msg);
        return -1;
    }
    pthread_mutex_lock(&g->mu);
    int ended = g->run_ended;
    if (!ended) g->run = run;
    int pending = g->cancel_pending;
    pthread_mutex_unlock(&g->mu);
    if (ended) node_run_release(run);
    else if (pending) api_route_cancel(g);
    log_debug("route_peer", "peer=%s resume=%d", peer_id, g->n_delivered);
    return 0;
}

/* ---- the plan and the driver ---- */

int api_route_plan(api_gen *g, const char *ring_header, const cJSON *body)
{
    api_server *api = g->api;
    enum router_ring ring = ROUTER_TRUSTED;
    const cJSON *rj = cJSON_IsObject(body) ? cJSON_GetObjectItemCaseSensitive(body, "ring") : NULL;
    const char *ring_s = ring_header ? ring_header : rj ? cJSON_GetStringValue(rj) : NULL;
    if ((ring_header || rj) && router_ring_parse(ring_s, &ring) != 0) {
        fail_set(g, 400, "ring must be \"local\", \"trusted\" or \"swarm\"", "ring", NULL);
        return 400;
    }
    g->n_cand = 0;
    g->next_cand = 0;
    if (api->node) {
        uh_err err = {0};
        const int local_has = api_models_available(api->am, g->o.model);
        node_load ll;
        memset(&ll, 0, sizeof ll);
        api_models_load(api->am, &ll.active, &ll.slots, &ll.queued);
        node_peer *peers = NULL;
        int n_peers = 0;
        if (node_peers(api->node, &peers, &n_peers, &err) != 0) n_peers = 0;
        if (router_route(&api->router, g->o.model, ring, local_has, &ll, peers, n_peers, g->cand,
                         API_MAX_CANDIDATES, &g->n_cand) != 0)
            g->n_cand = 0;
        free(peers);
        if (g->logprobs && g->n_cand > 0) {
            if (!local_has) {
                fail_set(g, 400,
                         "logprobs are only available for models on this node; this one runs on "
                         "other devices",
                         "logprobs", NULL);
                return 400;
            }
            g->n_cand = 1; /* logprobs need the local model: no failover to peers */
            memset(&g->cand[0], 0, sizeof g->cand[0]);
            g->cand[0].local = 1;
        }
    }
    if (g->n_cand == 0) { /* nobody has it: the local attempt says why (404 model_not_found) */
        memset(&g->cand[0], 0, sizeof g->cand[0]);
        g->cand[0].local = 1;
        g->n_cand = 1;
    }
    return 0;
}

int api_route_next(api_gen *g)
{
    for (;;) {
        pthread_mutex_lock(&g->mu);
        if (g->cancel_pending || g->next_cand >= g->n_cand) {
            if (g->cancel_pending && !g->fail_status) {
                g->fail_status = 503;
                snprintf(g->fail_msg, sizeof g->fail_msg, "cancelled");
            }
            pthread_mutex_unlock(&g->mu);
            return -1;
        }
        router_candidate c = g->cand[g->next_cand++];
        pthread_mutex_unlock(&g->mu);
        if ((c.local ? start_local(g) : start_peer(g, c.peer_id)) == 0) return 0;
    }
}

void api_route_cancel(api_gen *g)
{
    pthread_mutex_lock(&g->mu);
    g->cancel_pending = 1;
    if (g->h) sched_cancel(g->h);
    if (g->run) node_run_cancel(g->run); /* asynchronous: done or lost follows */
    pthread_mutex_unlock(&g->mu);
}

/* ---- serving peers ---- */

typedef struct {
    api_model *m;
    sched_cb cb;
    void *ud;
} peer_job;

static void peer_job_event(void *user, const sched_event *ev)
{
    peer_job *j = user;
    j->cb(j->ud, ev);
    if (ev->type != SCHED_EV_DONE) return;
    api_model_observe_done(j->m, ev->finish, &ev->usage);
    api_models_done(j->m);
    free(j);
}

int api_peer_run(void *ud, const char *peer_id, int kind, const cJSON *body,
                 const uh_token *resume, int n_resume, const char *expect_fp, sched_cb cb,
                 void *cb_ud, sched_handle **h, char fp_out[NODE_FP_LEN], char *msg,
                 size_t msg_cap)
{
    fp_out[0] = '\0';
    api_server *api = ud;
    oai_request o;
    memset(&o, 0, sizeof o);
    oai_error e;
    memset(&e, 0, sizeof e);
    api_model *m = NULL;
    uh_token *toks = NULL;
    peer_job *job = NULL;
    int n_toks = 0, status = 0;
    const char *param, *code;
    *h = NULL;
    if (kind < OAI_CHAT || kind > OLLAMA_GENERATE || !cb) {
        snprintf(msg, msg_cap, "unknown request kind %d", kind);
        return 400;
    }
    oai_limits lim = {0};
    int rc = oai_parse((enum oai_kind)kind, body, &lim, &o, &e);
    if (rc != 0) {
        snprintf(msg, msg_cap, "%s", rc == UH_ENOMEM ? "out of memory" : e.message);
        return rc == UH_ENOMEM ? 500 : 400;
    }
    if ((status = local_prepare(api, &o, &m, &toks, &n_toks, msg, msg_cap, &param, &code)))
        goto out;
    snprintf(fp_out, NODE_FP_LEN, "%s", api_model_fingerprint(m));
    if (n_resume > 0 && expect_fp && expect_fp[0] && strcmp(expect_fp, fp_out) != 0) {
        snprintf(msg, msg_cap, "the model %s here is another file than the one that began the "
                               "answer", api_model_name(m));
        status = 409;
        goto out;
    }
    job = malloc(sizeof *job);
    if (!job) {
        snprintf(msg, msg_cap, "out of memory");
        status = 500;
        goto out;
    }
    job->m = m;
    job->cb = cb;
    job->ud = cb_ud;
    sched_request sr =
        sched_request_of(api, &o, api_model_engine(m), toks, n_toks, resume, n_resume);
    sr.cb = peer_job_event;
    sr.user = job;
    uh_err err = {0};
    rc = sched_submit(api_model_sched(m), &sr, h, &err);
    if (rc != 0) {
        if (rc == UH_ELIMIT) api_model_observe_rejected(m);
        status = submit_status(rc, &code);
        snprintf(msg, msg_cap, "%s", err.msg);
        goto out;
    }
    log_info("peer_run", "peer=%.12s model=%s prompt_tokens=%d resume=%d", peer_id ? peer_id : "",
             api_model_name(m), n_toks, n_resume);
    job = NULL;
    m = NULL; /* the done event ends the model's request */
out:
    free(job);
    if (m) api_models_done(m);
    free(toks);
    oai_request_free(&o);
    return status;
}

void api_node_load(void *ud, node_load *out)
{
    api_server *api = ud;
    memset(out, 0, sizeof *out);
    api_model_entry *es = NULL;
    int n = 0;
    uh_err err = {0};
    if (api_models_list(api->am, &es, &n, &err) == 0) {
        for (int i = 0; i < n && out->n_models < NODE_MAX_MODELS; i++)
            snprintf(out->models[out->n_models++], NODE_MODEL_NAME_MAX, "%s", es[i].name);
        free(es);
    }
    api_models_load(api->am, &out->active, &out->slots, &out->queued);
}
