/* api_gen.c - the generation endpoints: OpenAI chat completions and completions, Ollama chat and
 * generate (see api.h). A request is parsed (oai_req.h), its model acquired (api_models.h), its
 * prompt rendered and tokenized, and submitted to the model's scheduler; the scheduler's events
 * either go straight into the client's stream (SSE / NDJSON) or are collected for one JSON
 * answer.
 *
 * Lifetime of a request (api_gen): two references, the handler's and the scheduler's (dropped
 * after the done event). The stream's cancel callback only runs while both the stream and the
 * request are alive (http.h: never after http_stream_close returns), and it cancels through the
 * handle, or leaves a note for the handler when the handle is not stored yet. For streams the
 * done event ends the model's in-flight count; for whole answers the handler does, once it has
 * built the answer. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/log.h"
#include "engine/chat.h"
#include "server/api_impl.h"
#include "server/http_impl.h"
#include "server/oai_req.h"

#define GEN_WAIT_SLICE_MS 100

typedef struct {
    atomic_int refs;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    enum oai_kind kind;
    api_server *api;
    api_model *model;
    const uh_model *um;
    char model_name[OAI_MAX_MODEL_LEN + 1]; /* as the request named it */
    char id[48];
    int64_t created; /* unix seconds */
    int stream, include_usage, logprobs, top_logprobs;
    double t_submit, t_last, load_s;
    http_stream *hs;    /* streams: the producer's reference until the done event */
    sched_handle *h;    /* under mu */
    int cancel_pending; /* under mu: the client left before h was stored */
    /* whole answers: written by the scheduler thread, read by the handler after done */
    char *text;
    size_t text_len, text_cap;
    cJSON *lp;          /* chat: array of content entries; completions: the logprobs object */
    size_t text_offset; /* completions logprobs: bytes of text before the current token */
    int done, oom;
    enum sched_finish finish;
    sched_usage usage;
    sched_timings timings;
    char error[256];
} api_gen;

static int is_ollama(enum oai_kind k)
{
    return k == OLLAMA_CHAT || k == OLLAMA_GENERATE;
}

static void gen_unref(api_gen *g)
{
    if (atomic_fetch_sub(&g->refs, 1) != 1) return;
    sched_release(g->h);
    cJSON_Delete(g->lp);
    free(g->text);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cond);
    free(g);
}

/* ---- JSON pieces ---- */

/* A JSON string of n bytes that may not be valid UTF-8. NULL when out of memory. */
static cJSON *json_str(const char *s, size_t n)
{
    char stackbuf[512];
    char *buf = 3 * n + 1 <= sizeof stackbuf ? stackbuf : malloc(3 * n + 1);
    if (!buf) return NULL;
    api_utf8_clean(s, n, buf);
    cJSON *j = cJSON_CreateString(buf);
    if (buf != stackbuf) free(buf);
    return j;
}

static const char *finish_reason(enum sched_finish f)
{
    return f == SCHED_FINISH_LENGTH ? "length" : "stop";
}

/* Chat logprobs entry of one token: {token, logprob, bytes, top_logprobs}. */
static cJSON *chat_lp_entry(const uh_model *um, uh_token t, float lp, int with_top)
{
    char piece[256];
    int n = uh_token_to_piece(um, t, piece, sizeof piece);
    if (n < 0) n = 0;
    if (n > (int)sizeof piece) n = sizeof piece;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "token", json_str(piece, (size_t)n));
    cJSON_AddNumberToObject(o, "logprob", lp);
    cJSON *bytes = cJSON_AddArrayToObject(o, "bytes");
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(bytes, cJSON_CreateNumber((unsigned char)piece[i]));
    if (with_top) cJSON_AddArrayToObject(o, "top_logprobs");
    return o;
}

static cJSON *chat_lp_token(const uh_model *um, const sched_event *ev)
{
    cJSON *e = chat_lp_entry(um, ev->token, ev->logprob, 1);
    cJSON *top = cJSON_GetObjectItemCaseSensitive(e, "top_logprobs");
    for (int i = 0; i < ev->n_top; i++)
        cJSON_AddItemToArray(top, chat_lp_entry(um, ev->top[i].id, ev->top[i].logprob, 0));
    return e;
}

/* Appends one token to a completions logprobs object {tokens, token_logprobs, top_logprobs,
 * text_offset}. */
static void completion_lp_add(cJSON *lp, const uh_model *um, const sched_event *ev, size_t offset)
{
    char piece[256];
    int n = uh_token_to_piece(um, ev->token, piece, sizeof piece);
    if (n < 0) n = 0;
    if (n > (int)sizeof piece) n = sizeof piece;
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(lp, "tokens"),
                         json_str(piece, (size_t)n));
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(lp, "token_logprobs"),
                         cJSON_CreateNumber(ev->logprob));
    cJSON *top = cJSON_CreateObject();
    for (int i = 0; i < ev->n_top; i++) {
        int m = uh_token_to_piece(um, ev->top[i].id, piece, sizeof piece);
        if (m < 0) m = 0;
        if (m > (int)sizeof piece) m = sizeof piece;
        char key[3 * sizeof piece + 1];
        api_utf8_clean(piece, (size_t)m, key);
        if (!cJSON_GetObjectItemCaseSensitive(top, key))
            cJSON_AddNumberToObject(top, key, ev->top[i].logprob);
    }
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(lp, "top_logprobs"), top);
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(lp, "text_offset"),
                         cJSON_CreateNumber((double)offset));
}

static cJSON *completion_lp_new(void)
{
    cJSON *lp = cJSON_CreateObject();
    cJSON_AddArrayToObject(lp, "tokens");
    cJSON_AddArrayToObject(lp, "token_logprobs");
    cJSON_AddArrayToObject(lp, "top_logprobs");
    cJSON_AddArrayToObject(lp, "text_offset");
    return lp;
}

static cJSON *usage_json(const sched_usage *u)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "prompt_tokens", u->n_prompt);
    cJSON_AddNumberToObject(o, "completion_tokens", u->n_completion);
    cJSON_AddNumberToObject(o, "total_tokens", u->n_prompt + u->n_completion);
    return o;
}

/* The envelope of an OpenAI object: {id, object, created, model}. */
static cJSON *oai_envelope(const api_gen *g, const char *object)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", g->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)g->created);
    cJSON_AddStringToObject(o, "model", g->model_name);
    cJSON_AddItemToObject(o, "system_fingerprint", cJSON_CreateNull());
    return o;
}

static cJSON *ollama_envelope(const api_gen *g)
{
    char ts[40];
    api_rfc3339_now(ts);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", g->model_name);
    cJSON_AddStringToObject(o, "created_at", ts);
    return o;
}

/* The text field of an Ollama object: message.content (chat) or response (generate). */
static void ollama_text(cJSON *o, enum oai_kind kind, cJSON *text)
{
    if (kind == OLLAMA_CHAT) {
        cJSON *msg = cJSON_AddObjectToObject(o, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddItemToObject(msg, "content", text);
    } else {
        cJSON_AddItemToObject(o, "response", text);
    }
}

/* Whole nanoseconds (cJSON prints a whole double without a fraction). */
static double ns(double seconds)
{
    return (double)(int64_t)(seconds * 1e9 + 0.5);
}

static void ollama_final_fields(cJSON *o, const api_gen *g, enum sched_finish f,
                                const sched_usage *u, const sched_timings *t)
{
    cJSON_AddBoolToObject(o, "done", 1);
    cJSON_AddStringToObject(o, "done_reason", finish_reason(f));
    cJSON_AddNumberToObject(o, "total_duration", ns(t->total + g->load_s));
    cJSON_AddNumberToObject(o, "load_duration", ns(g->load_s));
    cJSON_AddNumberToObject(o, "prompt_eval_count", u->n_prompt);
    cJSON_AddNumberToObject(o, "prompt_eval_duration", ns(t->queued + t->prefill));
    cJSON_AddNumberToObject(o, "eval_count", u->n_completion);
    cJSON_AddNumberToObject(o, "eval_duration", ns(t->generation));
}

/* One piece of streamed text (with the token's logprobs when asked, ev may be NULL). */
static cJSON *stream_piece(api_gen *g, const char *text, size_t len, const sched_event *ev)
{
    cJSON *o;
    if (is_ollama(g->kind)) {
        o = ollama_envelope(g);
        ollama_text(o, g->kind, json_str(text, len));
        cJSON_AddBoolToObject(o, "done", 0);
        return o;
    }
    int chat = g->kind == OAI_CHAT;
    o = oai_envelope(g, chat ? "chat.completion.chunk" : "text_completion");
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), choice);
    cJSON_AddNumberToObject(choice, "index", 0);
    if (chat)
        cJSON_AddItemToObject(cJSON_AddObjectToObject(choice, "delta"), "content",
                              json_str(text, len));
    else
        cJSON_AddItemToObject(choice, "text", json_str(text, len));
    if (ev && g->logprobs) {
        if (chat) {
            cJSON *lp = cJSON_AddObjectToObject(choice, "logprobs");
            cJSON_AddItemToArray(cJSON_AddArrayToObject(lp, "content"), chat_lp_token(g->um, ev));
        } else {
            cJSON *lp = completion_lp_new();
            completion_lp_add(lp, g->um, ev, g->text_offset);
            cJSON_AddItemToObject(choice, "logprobs", lp);
        }
    } else {
        cJSON_AddItemToObject(choice, "logprobs", cJSON_CreateNull());
    }
    cJSON_AddItemToObject(choice, "finish_reason", cJSON_CreateNull());
    return o;
}

static void send_obj(api_gen *g, cJSON *o)
{
    if (o) http_stream_send_json(g->hs, o);
    cJSON_Delete(o);
}

/* ---- scheduler events (scheduler thread: never block) ---- */

static void stream_done(api_gen *g, const sched_event *ev)
{
    if (ev->finish == SCHED_FINISH_ERROR) {
        cJSON *o = cJSON_CreateObject();
        if (is_ollama(g->kind)) {
            cJSON_AddStringToObject(o, "error", ev->error);
        } else {
            cJSON *e = cJSON_AddObjectToObject(o, "error");
            cJSON_AddStringToObject(e, "message", ev->error);
            cJSON_AddStringToObject(e, "type", "server_error");
            cJSON_AddItemToObject(e, "param", cJSON_CreateNull());
            cJSON_AddItemToObject(e, "code", cJSON_CreateNull());
        }
        send_obj(g, o);
        return;
    }
    if (ev->text_len > 0) send_obj(g, stream_piece(g, ev->text, ev->text_len, NULL));
    cJSON *o;
    if (is_ollama(g->kind)) {
        o = ollama_envelope(g);
        ollama_text(o, g->kind, cJSON_CreateString(""));
        ollama_final_fields(o, g, ev->finish, &ev->usage, &ev->timings);
        send_obj(g, o);
        return;
    }
    int chat = g->kind == OAI_CHAT;
    o = oai_envelope(g, chat ? "chat.completion.chunk" : "text_completion");
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), choice);
    cJSON_AddNumberToObject(choice, "index", 0);
    if (chat)
        cJSON_AddObjectToObject(choice, "delta");
    else
        cJSON_AddStringToObject(choice, "text", "");
    cJSON_AddItemToObject(choice, "logprobs", cJSON_CreateNull());
    cJSON_AddStringToObject(choice, "finish_reason", finish_reason(ev->finish));
    send_obj(g, o);
    if (g->include_usage) {
        o = oai_envelope(g, chat ? "chat.completion.chunk" : "text_completion");
        cJSON_AddArrayToObject(o, "choices");
        cJSON_AddItemToObject(o, "usage", usage_json(&ev->usage));
        send_obj(g, o);
    }
    http_stream_send_done(g->hs);
}

/* Appends to the collected text (scheduler thread, before done: the handler does not read). */
static void collect_text(api_gen *g, const char *s, size_t n)
{
    if (g->oom || n == 0) return;
    if (g->text_len + n + 1 > g->text_cap) {
        size_t cap = g->text_cap ? g->text_cap : 256;
        while (cap < g->text_len + n + 1) cap *= 2;
        char *t = realloc(g->text, cap);
        if (!t) {
            g->oom = 1;
            return;
        }
        g->text = t;
        g->text_cap = cap;
    }
    memcpy(g->text + g->text_len, s, n);
    g->text_len += n;
    g->text[g->text_len] = 0;
}

static void gen_event(void *user, const sched_event *ev)
{
    api_gen *g = user;
    double now = api_now();
    if (ev->type == SCHED_EV_TOKEN) {
        if (ev->index == 0)
            api_model_observe_ttft(g->model, now - g->t_submit);
        else
            api_model_observe_token_gap(g->model, now - g->t_last);
        g->t_last = now;
        if (g->stream) {
            if (ev->text_len > 0 || (g->logprobs && !is_ollama(g->kind)))
                send_obj(g, stream_piece(g, ev->text, ev->text_len, ev));
        } else if (g->logprobs && !is_ollama(g->kind)) {
            if (g->kind == OAI_CHAT)
                cJSON_AddItemToArray(g->lp, chat_lp_token(g->um, ev));
            else
                completion_lp_add(g->lp, g->um, ev, g->text_offset);
        }
        if (!g->stream) collect_text(g, ev->text, ev->text_len);
        g->text_offset += ev->text_len;
        return;
    }
    api_model_observe_done(g->model, ev->finish, &ev->usage);
    if (g->stream) {
        stream_done(g, ev);
        http_stream_close(g->hs);
        g->hs = NULL;
        api_models_done(g->model);
    } else {
        collect_text(g, ev->text, ev->text_len);
        pthread_mutex_lock(&g->mu);
        g->finish = ev->finish;
        g->usage = ev->usage;
        g->timings = ev->timings;
        snprintf(g->error, sizeof g->error, "%s", ev->error ? ev->error : "");
        g->done = 1;
        pthread_cond_signal(&g->cond);
        pthread_mutex_unlock(&g->mu);
    }
    gen_unref(g);
}

/* The client went away (or the server stops): connection or server thread, quick. */
static void gen_cancel(void *ud, enum http_cancel_reason why)
{
    (void)why;
    api_gen *g = ud;
    pthread_mutex_lock(&g->mu);
    if (g->h)
        sched_cancel(g->h);
    else
        g->cancel_pending = 1;
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

/* The request's prompt as tokens. *toks is malloc'd. UH_ELIMIT when it is longer than n_ctx. */
static int build_prompt(const oai_request *o, const uh_model *um, int n_ctx, uh_token **toks,
                        int *n, uh_err *err)
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

static uh_sampler_params sampler_for(api_server *api, const oai_request *o)
{
    uh_sampler_params p = uh_sampler_default_params();
    int ollama = is_ollama(o->kind);
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

/* ---- the whole answer ---- */

static http_response *whole_answer(const http_request *req, api_gen *g)
{
    if (g->oom) return NULL;
    if (g->finish == SCHED_FINISH_ERROR) return api_error(req, 500, g->error, NULL, NULL);
    if (g->finish == SCHED_FINISH_CANCELLED)
        return api_error(req, 503, "the server is shutting down", NULL, NULL);
    cJSON *text = json_str(g->text ? g->text : "", g->text_len);
    cJSON *o;
    if (is_ollama(g->kind)) {
        o = ollama_envelope(g);
        ollama_text(o, g->kind, text);
        ollama_final_fields(o, g, g->finish, &g->usage, &g->timings);
        return api_json(200, o);
    }
    int chat = g->kind == OAI_CHAT;
    o = oai_envelope(g, chat ? "chat.completion" : "text_completion");
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), choice);
    cJSON_AddNumberToObject(choice, "index", 0);
    if (chat) {
        cJSON *msg = cJSON_AddObjectToObject(choice, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddItemToObject(msg, "content", text);
        cJSON_AddItemToObject(msg, "refusal", cJSON_CreateNull());
    } else {
        cJSON_AddItemToObject(choice, "text", text);
    }
    if (g->lp) {
        if (chat) {
            cJSON *lp = cJSON_AddObjectToObject(choice, "logprobs");
            cJSON_AddItemToObject(lp, "content", g->lp);
        } else {
            cJSON_AddItemToObject(choice, "logprobs", g->lp);
        }
        g->lp = NULL;
    } else {
        cJSON_AddItemToObject(choice, "logprobs", cJSON_CreateNull());
    }
    cJSON_AddStringToObject(choice, "finish_reason", finish_reason(g->finish));
    cJSON_AddItemToObject(o, "usage", usage_json(&g->usage));
    return api_json(200, o);
}

/* Waits for the done event; once the server's stop deadline passes, cancels the request. */
static void wait_done(api_gen *g)
{
    pthread_mutex_lock(&g->mu);
    int cancelled = 0;
    while (!g->done) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += GEN_WAIT_SLICE_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g->cond, &g->mu, &ts);
        long long dl = atomic_load(&g->api->stop_deadline_ms);
        if (!g->done && !cancelled && dl > 0 && api_now() * 1e3 >= (double)dl) {
            sched_cancel(g->h);
            cancelled = 1;
        }
    }
    pthread_mutex_unlock(&g->mu);
}

/* ---- the handler ---- */

static http_response *submit_error(const http_request *req, int rc, const uh_err *err,
                                   const char *prompt_param)
{
    if (rc == UH_ELIMIT) {
        http_response *r = api_error(req, 429, "too many requests are waiting; retry later", NULL,
                                     "rate_limit_exceeded");
        if (r) http_response_header(r, "Retry-After", "1");
        return r;
    }
    if (rc == UH_ECTXFULL)
        return api_error(req, 400, err->msg, prompt_param, "context_length_exceeded");
    if (rc == UH_EINVAL) return api_error(req, 503, "the server is shutting down", NULL, NULL);
    return api_error(req, 500, err->msg, NULL, NULL);
}

static http_response *generate(const http_request *req, api_server *api, enum oai_kind kind)
{
    oai_request o;
    memset(&o, 0, sizeof o);
    oai_error e;
    memset(&e, 0, sizeof e);
    uh_err err = {0};
    api_model *m = NULL;
    uh_token *toks = NULL;
    int n_toks = 0;
    api_gen *g = NULL;
    http_response *resp = NULL;
    const char *prompt_param = kind == OAI_CHAT || kind == OLLAMA_CHAT ? "messages" : "prompt";

    if (!req->json)
        return api_error(req, 400, "the request body must be a JSON object", NULL, NULL);
    oai_limits lim = {0};
    int rc = oai_parse(kind, req->json, &lim, &o, &e);
    if (rc == UH_ENOMEM) return NULL;
    if (rc != 0)
        return api_error(req, e.status ? e.status : 400, e.message, e.param[0] ? e.param : NULL,
                         NULL);
    double t0 = api_now();
    rc = api_models_acquire(api->am, o.model, &m, &err);
    if (rc != 0) {
        if (rc == UH_ENOTFOUND)
            resp = api_error(req, 404, err.msg, "model", "model_not_found");
        else if (rc == UH_ELIMIT)
            resp = api_error(req, 503, err.msg, "model", NULL);
        else
            resp = api_error(req, 500, err.msg, "model", NULL);
        goto out;
    }
    double load_s = api_now() - t0;
    const uh_model *um = api_model_engine(m);
    rc = build_prompt(&o, um, api_model_n_ctx(m), &toks, &n_toks, &err);
    if (rc == UH_ELIMIT || rc == UH_ECTXFULL) {
        resp = api_error(req, 400, err.msg, prompt_param, "context_length_exceeded");
        goto release;
    } else if (rc == UH_ENOMEM) {
        goto release;
    } else if (rc != 0) {
        resp = api_error(req, 400, err.msg, prompt_param, NULL);
        goto release;
    }
    if (n_toks == 0) {
        resp = api_error(req, 400, "the prompt is empty and the model has no BOS token",
                         prompt_param, NULL);
        goto release;
    }

    g = calloc(1, sizeof *g);
    if (!g) goto release;
    atomic_init(&g->refs, 1);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->kind = kind;
    g->api = api;
    g->model = m;
    g->um = um;
    g->load_s = load_s;
    snprintf(g->model_name, sizeof g->model_name, "%s", o.model);
    g->created = (int64_t)time(NULL);
    snprintf(g->id, sizeof g->id, "%s-%08x%08x", kind == OAI_CHAT ? "chatcmpl" : "cmpl",
             (unsigned)g->created, atomic_fetch_add(&api->next_id, 1));
    g->stream = o.stream;
    g->include_usage = o.include_usage;
    g->logprobs = o.logprobs;
    g->top_logprobs = o.top_logprobs;
    if (g->logprobs && !g->stream && !is_ollama(kind)) {
        g->lp = kind == OAI_CHAT ? cJSON_CreateArray() : completion_lp_new();
        if (!g->lp) goto release;
    }
    if (g->stream) {
        g->hs = http_stream_new(is_ollama(kind) ? HTTP_STREAM_NDJSON : HTTP_STREAM_SSE, 0);
        if (!g->hs) goto release;
        resp = api_served(http_stream_response(g->hs));
        if (!resp) {
            http_stream_close(g->hs);
            g->hs = NULL;
            goto release;
        }
        http_stream_on_cancel(g->hs, gen_cancel, g);
        if (kind == OAI_CHAT) { /* the role comes first, as OpenAI sends it */
            cJSON *c = oai_envelope(g, "chat.completion.chunk");
            cJSON *choice = cJSON_CreateObject();
            cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "choices"), choice);
            cJSON_AddNumberToObject(choice, "index", 0);
            cJSON *d = cJSON_AddObjectToObject(choice, "delta");
            cJSON_AddStringToObject(d, "role", "assistant");
            cJSON_AddStringToObject(d, "content", "");
            cJSON_AddItemToObject(choice, "logprobs", cJSON_CreateNull());
            cJSON_AddItemToObject(choice, "finish_reason", cJSON_CreateNull());
            send_obj(g, c);
        }
    }

    sched_request sr;
    memset(&sr, 0, sizeof sr);
    sr.tokens = toks;
    sr.n_tokens = n_toks;
    sr.sampler = sampler_for(api, &o);
    sr.max_tokens = o.max_tokens > 0 ? o.max_tokens : 0;
    sr.stops = o.stop;
    sr.n_stops = o.n_stop;
    sr.logprobs = o.logprobs;
    sr.top_logprobs =
        o.top_logprobs > SCHED_TOP_LOGPROBS_MAX ? SCHED_TOP_LOGPROBS_MAX : o.top_logprobs;
    sr.at_start = n_toks == 1 && toks[0] == uh_token_bos(um);
    sr.cb = gen_event;
    sr.user = g;
    log_debug("serve_request", "model=%s kind=%d prompt_tokens=%d stream=%d", api_model_name(m),
              (int)kind, n_toks, g->stream);
    atomic_fetch_add(&g->refs, 1); /* the scheduler's, dropped after the done event */
    g->t_submit = api_now();
    sched_handle *h = NULL;
    rc = sched_submit(api_model_sched(m), &sr, &h, &err);
    if (rc != 0) {
        atomic_fetch_sub(&g->refs, 1);
        if (rc == UH_ELIMIT) api_model_observe_rejected(m);
        if (g->hs) {
            http_stream_close(g->hs); /* the cancel callback never runs again */
            g->hs = NULL;
            http_response_free(resp);
        }
        resp = submit_error(req, rc, &err, prompt_param);
        goto release;
    }
    pthread_mutex_lock(&g->mu);
    g->h = h;
    int pending = g->cancel_pending;
    pthread_mutex_unlock(&g->mu);
    if (pending) sched_cancel(h);
    if (g->stream) { /* the done event ends the model's request */
        m = NULL;
        goto out;
    }
    wait_done(g);
    resp = whole_answer(req, g);
release:
    api_models_done(m);
out:
    if (g) gen_unref(g);
    free(toks);
    oai_request_free(&o);
    return resp;
}

http_response *api_chat_completions(const http_request *req, void *ud)
{
    return generate(req, ud, OAI_CHAT);
}

http_response *api_completions(const http_request *req, void *ud)
{
    return generate(req, ud, OAI_COMPLETION);
}

http_response *api_ollama_chat(const http_request *req, void *ud)
{
    return generate(req, ud, OLLAMA_CHAT);
}

http_response *api_ollama_generate(const http_request *req, void *ud)
{
    return generate(req, ud, OLLAMA_GENERATE);
}
