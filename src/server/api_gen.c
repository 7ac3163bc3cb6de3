/* api_gen.c - the generation endpoints: OpenAI chat completions and completions, Ollama chat and
 * generate (see api.h). A request is parsed (oai_req.h), turned into an exec request
 * (api_exec.c) and handed to the router (router.h: this node's executor or a paired peer, with
 * failover); the events that come back either go straight into the client's stream (SSE /
 * NDJSON) or are collected for one JSON answer. This file only formats: it never sees a model.
 *
 * Lifetime of a request (api_gen): reference counted between the handler and the event sink
 * (until the DONE event). The stream's cancel callback only runs while both the stream and the
 * request are alive (http.h: never after http_stream_close returns), and it cancels the routed
 * run. The X-Unhosted-Served-By header names the attempt that delivered the first event. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "server/api_impl.h"
#include "server/http_impl.h"
#include "server/oai_req.h"

#define GEN_WAIT_SLICE_MS 100

/* One generation request. */
typedef struct {
    atomic_int refs; /* the handler's and the sink's (until DONE) */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    enum oai_kind kind;
    api_server *api;
    oai_request o;                          /* parsed request, owned */
    char model_name[OAI_MAX_MODEL_LEN + 1]; /* as the request named it */
    char id[48];
    int64_t created; /* unix seconds */
    int stream, include_usage, logprobs;
    http_stream *hs; /* streams: the sink's reference until the DONE event */
    router_run *run; /* under mu */
    int cancelled;   /* under mu: the client left or the server stops */

    /* whole answers: written by the sink, read by the handler after done */
    buf_t text;
    cJSON *lp;          /* chat: array of content entries; completions: the logprobs object */
    size_t text_offset; /* completions logprobs: bytes of text before the current token */
    int done, oom;
    enum exec_finish finish;
    exec_usage usage;
    exec_timings timings;
    char error[256];
} api_gen;

static int is_ollama(enum oai_kind k)
{
    return k == OLLAMA_CHAT || k == OLLAMA_GENERATE;
}

static void gen_unref(api_gen *g)
{
    if (atomic_fetch_sub(&g->refs, 1) != 1) return;
    router_run_release(g->run);
    cJSON_Delete(g->lp);
    buf_fini(&g->text);
    oai_request_free(&g->o);
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

static const char *finish_reason(enum exec_finish f)
{
    return f == EXEC_FINISH_LENGTH ? "length" : "stop";
}

/* Chat logprobs entry of one token: {token, logprob, bytes, top_logprobs}. */
static cJSON *chat_lp_entry(const char *piece, size_t n, float lp, int with_top)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "token", json_str(piece, n));
    cJSON_AddNumberToObject(o, "logprob", lp);
    cJSON *bytes = cJSON_AddArrayToObject(o, "bytes");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(bytes, cJSON_CreateNumber((unsigned char)piece[i]));
    if (with_top) cJSON_AddArrayToObject(o, "top_logprobs");
    return o;
}

static cJSON *chat_lp_token(const exec_event *ev)
{
    cJSON *e = chat_lp_entry(ev->piece, ev->piece_len, ev->logprob, 1);
    cJSON *top = cJSON_GetObjectItemCaseSensitive(e, "top_logprobs");
    for (int i = 0; i < ev->n_top; i++)
        cJSON_AddItemToArray(
            top, chat_lp_entry(ev->top[i].piece, ev->top[i].piece_len, ev->top[i].logprob, 0));
    return e;
}

/* Appends one token to a completions logprobs object {tokens, token_logprobs, top_logprobs,
 * text_offset}. */
static void completion_lp_add(cJSON *lp, const exec_event *ev, size_t offset)
{
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(lp, "tokens"),
                         json_str(ev->piece, ev->piece_len));
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(lp, "token_logprobs"),
                         cJSON_CreateNumber(ev->logprob));
    cJSON *top = cJSON_CreateObject();
    for (int i = 0; i < ev->n_top; i++) {
        char key[3 * EXEC_MAX_PIECE + 1];
        api_utf8_clean(ev->top[i].piece, ev->top[i].piece_len, key);
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

static cJSON *usage_json(const exec_usage *u)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "prompt_tokens", u->n_prompt);
    cJSON_AddNumberToObject(o, "completion_tokens", u->n_completion);
    cJSON_AddNumberToObject(o, "total_tokens", u->n_prompt + u->n_completion);
    return o;
}

/* The node's own speed figures, next to OpenAI's usage (clients ignore fields they do not
 * know): the prompt's evaluation (queueing included) and the decode rate, tokens after the
 * first over the time from the first token to the last. */
static cJSON *timings_json(const exec_usage *u, const exec_timings *t)
{
    cJSON *o = cJSON_CreateObject();
    const double pre = t->queued + t->prefill,
                 n_dec = u->n_completion > 1 ? u->n_completion - 1 : 0;
    cJSON_AddNumberToObject(o, "prompt_n", u->n_prompt - u->n_cached);
    cJSON_AddNumberToObject(o, "prompt_ms", pre * 1e3);
    cJSON_AddNumberToObject(o, "prompt_per_second",
                            pre > 0 ? (u->n_prompt - u->n_cached) / pre : 0);
    cJSON_AddNumberToObject(o, "predicted_n", n_dec);
    cJSON_AddNumberToObject(o, "predicted_ms", t->generation * 1e3);
    cJSON_AddNumberToObject(o, "predicted_per_second",
                            t->generation > 0 ? n_dec / t->generation : 0);
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

static void ollama_final_fields(cJSON *o, enum exec_finish f, const exec_usage *u,
                                const exec_timings *t)
{
    cJSON_AddBoolToObject(o, "done", 1);
    cJSON_AddStringToObject(o, "done_reason", finish_reason(f));
    cJSON_AddNumberToObject(o, "total_duration", ns(t->total + t->load));
    cJSON_AddNumberToObject(o, "load_duration", ns(t->load));
    cJSON_AddNumberToObject(o, "prompt_eval_count", u->n_prompt);
    cJSON_AddNumberToObject(o, "prompt_eval_duration", ns(t->queued + t->prefill));
    cJSON_AddNumberToObject(o, "eval_count", u->n_completion);
    cJSON_AddNumberToObject(o, "eval_duration", ns(t->generation));
}

/* One piece of streamed text (with the token's logprobs when asked, ev may be NULL). */
static cJSON *stream_piece(api_gen *g, const char *text, size_t len, const exec_event *ev)
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
    if (ev && g->logprobs && ev->piece) {
        if (chat) {
            cJSON *lp = cJSON_AddObjectToObject(choice, "logprobs");
            cJSON_AddItemToArray(cJSON_AddArrayToObject(lp, "content"), chat_lp_token(ev));
        } else {
            cJSON *lp = completion_lp_new();
            completion_lp_add(lp, ev, g->text_offset);
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

/* ---- events of the answering attempt (scheduler or node thread: never block) ---- */

static void stream_done(api_gen *g, const exec_event *ev)
{
    if (ev->finish == EXEC_FINISH_ERROR) {
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
        ollama_final_fields(o, ev->finish, &ev->usage, &ev->timings);
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
        cJSON_AddItemToObject(o, "timings", timings_json(&ev->usage, &ev->timings));
        send_obj(g, o);
    }
    http_stream_send_done(g->hs);
}

/* Appends to the collected text (sink thread, before done: the handler does not read). */
static void collect_text(api_gen *g, const char *s, size_t n)
{
    if (!g->oom && n > 0 && buf_append(&g->text, s, n) != 0) g->oom = 1;
}

/* The event sink of the routed run: one event to the client (stream or collected answer). DONE
 * ends the request and drops the sink's reference. Never blocks. */
static void gen_event(void *ud, const exec_event *ev)
{
    api_gen *g = ud;
    if (ev->type == EXEC_EV_TOKEN) {
        if (g->stream) {
            if (ev->text_len > 0 || (g->logprobs && !is_ollama(g->kind)))
                send_obj(g, stream_piece(g, ev->text, ev->text_len, ev));
        } else if (g->logprobs && !is_ollama(g->kind) && ev->piece) {
            if (g->kind == OAI_CHAT)
                cJSON_AddItemToArray(g->lp, chat_lp_token(ev));
            else
                completion_lp_add(g->lp, ev, g->text_offset);
        }
        if (!g->stream) collect_text(g, ev->text, ev->text_len);
        g->text_offset += ev->text_len;
        return;
    }
    if (g->stream) {
        stream_done(g, ev);
        http_stream_close(g->hs);
        g->hs = NULL;
        pthread_mutex_lock(&g->mu);
        g->done = 1;
        pthread_mutex_unlock(&g->mu);
    } else {
        collect_text(g, ev->text, ev->text_len);
        pthread_mutex_lock(&g->mu);
        g->finish = ev->finish;
        g->usage = ev->usage;
        g->timings = ev->timings;
        snprintf(g->error, sizeof g->error, "%s", ev->error ? ev->error : "");
        g->done = 1;
        pthread_cond_broadcast(&g->cond);
        pthread_mutex_unlock(&g->mu);
    }
    gen_unref(g);
}

/* Cancels the routed run, or notes that it is to be cancelled once it exists. Any thread. */
static void gen_cancel_run(api_gen *g)
{
    pthread_mutex_lock(&g->mu);
    g->cancelled = 1;
    router_run *run = g->run;
    pthread_mutex_unlock(&g->mu);
    if (run) router_run_cancel(run);
}

/* The client went away (or the server stops): connection or server thread, quick. */
static void gen_cancel(void *ud, enum http_cancel_reason why)
{
    (void)why;
    gen_cancel_run(ud);
}

/* ---- the whole answer ---- */

static http_response *whole_answer(const http_request *req, api_gen *g, const char *served)
{
    if (g->oom) return NULL;
    if (g->finish == EXEC_FINISH_ERROR)
        return api_served_as(http_error(req, 500, g->error, NULL, NULL), served);
    if (g->finish == EXEC_FINISH_CANCELLED)
        return api_served_as(http_error(req, 503, "the server is shutting down", NULL, NULL),
                             served);
    cJSON *text = json_str(g->text.data ? g->text.data : "", g->text.len);
    cJSON *o;
    if (is_ollama(g->kind)) {
        o = ollama_envelope(g);
        ollama_text(o, g->kind, text);
        ollama_final_fields(o, g->finish, &g->usage, &g->timings);
        return api_served_as(http_json(200, o), served);
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
    cJSON_AddItemToObject(o, "timings", timings_json(&g->usage, &g->timings));
    return api_served_as(http_json(200, o), served);
}

/* Waits for the done event; once the server's stop deadline passes, cancels the request. */
static void wait_done(api_gen *g)
{
    pthread_mutex_lock(&g->mu);
    int cancelled = 0;
    while (!g->done) {
        struct timespec ts = clock_mono_after(GEN_WAIT_SLICE_MS);
        pthread_cond_timedwait(&g->cond, &g->mu, &ts);
        long long dl = atomic_load(&g->api->stop_deadline_ms);
        if (!g->done && !cancelled && dl > 0 && clock_mono_ms() >= dl) {
            pthread_mutex_unlock(&g->mu);
            gen_cancel_run(g);
            pthread_mutex_lock(&g->mu);
            cancelled = 1;
        }
    }
    pthread_mutex_unlock(&g->mu);
}

/* ---- the handler ---- */

/* A failure to start, in the request's API shape. */
static http_response *fail_response(const http_request *req, enum oai_kind kind, const exec_fail *f)
{
    const char *param, *code;
    const int status = api_fail_status(f, kind, &param, &code);
    http_response *r =
        api_error(req, status, f->msg[0] ? f->msg : "no device could run the request", param, code);
    if (r && status == 429) http_response_header(r, "Retry-After", "1");
    return r;
}

/* The first chunk of an OpenAI chat stream: the role, as OpenAI sends it. */
static void send_role(api_gen *g)
{
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

static http_response *generate(const http_request *req, api_server *api, enum oai_kind kind)
{
    oai_error e;
    memset(&e, 0, sizeof e);
    http_response *resp = NULL;
    char served[ROUTER_SERVED_MAX];
    exec_message *msgs = NULL;
    exec_fail f = {0};

    if (!req->json)
        return api_error(req, 400, "the request body must be a JSON object", NULL, NULL);
    api_gen *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    atomic_init(&g->refs, 1);
    pthread_mutex_init(&g->mu, NULL);
    clock_cond_init(&g->cond);
    buf_init(&g->text, 0);
    g->kind = kind;
    g->api = api;
    oai_limits lim = {0};
    int rc = oai_parse(kind, req->json, &lim, &g->o, &e);
    if (rc == UH_ENOMEM) goto out;
    if (rc != 0) {
        resp =
            api_error(req, e.status ? e.status : 400, e.message, e.param[0] ? e.param : NULL, NULL);
        goto out;
    }
    const oai_request *o = &g->o;
    snprintf(g->model_name, sizeof g->model_name, "%s", o->model);
    g->created = clock_wall_s();
    snprintf(g->id, sizeof g->id, "%s-%08x%08x", kind == OAI_CHAT ? "chatcmpl" : "cmpl",
             (unsigned)g->created, atomic_fetch_add(&api->next_id, 1));
    g->stream = o->stream;
    g->include_usage = o->include_usage;
    g->logprobs = o->logprobs;
    exec_request xr;
    router_run *run = NULL;
    if (api_exec_request(api, o, http_header(req, "X-Unhosted-Ring"), req->json, &xr, &msgs, &f) ||
        router_prepare(&api->router, &xr, gen_event, g, &run, &f)) {
        resp = f.code == UH_ENOMEM ? NULL : fail_response(req, kind, &f);
        goto out;
    }
    pthread_mutex_lock(&g->mu);
    g->run = run;
    pthread_mutex_unlock(&g->mu);
    if (g->logprobs && !g->stream && !is_ollama(kind)) {
        g->lp = kind == OAI_CHAT ? cJSON_CreateArray() : completion_lp_new();
        if (!g->lp) goto out;
    }
    if (g->stream) {
        g->hs = http_stream_new(is_ollama(kind) ? HTTP_STREAM_NDJSON : HTTP_STREAM_SSE, 0);
        if (!g->hs) goto out;
        resp = http_stream_response(g->hs);
        if (!resp) {
            http_stream_close(g->hs);
            g->hs = NULL;
            goto out;
        }
        http_stream_on_cancel(g->hs, gen_cancel, g);
        if (kind == OAI_CHAT) send_role(g);
    }
    atomic_fetch_add(&g->refs, 1); /* the sink's, dropped after DONE */
    if (router_go(run, &f) != 0) {
        atomic_fetch_sub(&g->refs, 1);
        if (g->hs) {
            http_stream_close(g->hs); /* the cancel callback never runs again */
            g->hs = NULL;
            http_response_free(resp);
        }
        resp = fail_response(req, kind, &f);
        goto out;
    }
    pthread_mutex_lock(&g->mu);
    const int cancelled = g->cancelled;
    pthread_mutex_unlock(&g->mu);
    if (cancelled) router_run_cancel(run); /* the client left while it started */
    router_run_served(run, served);
    if (g->stream) { /* the DONE event ends the stream */
        api_served_as(resp, served);
        goto out;
    }
    wait_done(g);
    router_run_served(run, served);
    resp = whole_answer(req, g, served);
out:
    free(msgs);
    gen_unref(g);
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
