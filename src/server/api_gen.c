/* api_gen.c - the generation endpoints: OpenAI chat completions and completions, Ollama chat and
 * generate (see api.h). A request is parsed (oai_req.h) and routed (api_route.c: this node's
 * scheduler or a paired peer, with failover); the answering attempt's events either go straight
 * into the client's stream (SSE / NDJSON) or are collected for one JSON answer.
 *
 * Lifetime of a request (api_gen, api_impl.h): reference counted between the handler and the
 * running attempt. The stream's cancel callback only runs while both the stream and the request
 * are alive (http.h: never after http_stream_close returns), and it cancels the running attempt
 * or leaves a note so that none is started. For streams the done event ends the model's
 * in-flight count; for whole answers the handler does, once it has built the answer. The
 * X-Unhosted-Served-By header names the attempt that delivered the first event. */
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

static int is_ollama(enum oai_kind k)
{
    return k == OLLAMA_CHAT || k == OLLAMA_GENERATE;
}

void api_gen_unref(api_gen *g)
{
    if (atomic_fetch_sub(&g->refs, 1) != 1) return;
    sched_release(g->h);
    cJSON_Delete(g->lp);
    free(g->text);
    free(g->body);
    free(g->delivered);
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

/* The node's own speed figures, next to OpenAI's usage (clients ignore fields they do not
 * know): the prompt's evaluation (queueing included) and the decode rate, tokens after the
 * first over the time from the first token to the last. */
static cJSON *timings_json(const sched_usage *u, const sched_timings *t)
{
    cJSON *o = cJSON_CreateObject();
    const double pre = t->queued + t->prefill, n_dec = u->n_completion > 1 ? u->n_completion - 1 : 0;
    cJSON_AddNumberToObject(o, "prompt_n", u->n_prompt - u->n_cached);
    cJSON_AddNumberToObject(o, "prompt_ms", pre * 1e3);
    cJSON_AddNumberToObject(o, "prompt_per_second", pre > 0 ? (u->n_prompt - u->n_cached) / pre : 0);
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
    if (ev && g->logprobs && g->um) {
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

/* ---- events of the answering attempt (scheduler or node thread: never block) ---- */

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
        cJSON_AddItemToObject(o, "timings", timings_json(&ev->usage, &ev->timings));
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

/* Remembers a delivered token for a resume elsewhere (failover). */
static void remember(api_gen *g, uh_token t)
{
    if (g->n_delivered == g->delivered_cap) {
        int cap = g->delivered_cap ? g->delivered_cap * 2 : 64;
        uh_token *d = realloc(g->delivered, (size_t)cap * sizeof *d);
        if (!d) return; /* a later failover resumes with fewer tokens: it repeats text */
        g->delivered = d;
        g->delivered_cap = cap;
    }
    g->delivered[g->n_delivered++] = t;
}

void api_gen_deliver(api_gen *g, const sched_event *ev)
{
    double now = api_now();
    if (ev->type == SCHED_EV_TOKEN) {
        if (g->model) {
            if (g->t_last == 0)
                api_model_observe_ttft(g->model, now - g->t_submit);
            else
                api_model_observe_token_gap(g->model, now - g->t_last);
        }
        g->t_last = now;
        remember(g, ev->token);
        if (g->stream) {
            if (ev->text_len > 0 || (g->logprobs && !is_ollama(g->kind)))
                send_obj(g, stream_piece(g, ev->text, ev->text_len, ev));
        } else if (g->logprobs && !is_ollama(g->kind) && g->um) {
            if (g->kind == OAI_CHAT)
                cJSON_AddItemToArray(g->lp, chat_lp_token(g->um, ev));
            else
                completion_lp_add(g->lp, g->um, ev, g->text_offset);
        }
        if (!g->stream) collect_text(g, ev->text, ev->text_len);
        g->text_offset += ev->text_len;
        return;
    }
    if (g->model) api_model_observe_done(g->model, ev->finish, &ev->usage);
    if (g->stream) {
        stream_done(g, ev);
        http_stream_close(g->hs);
        g->hs = NULL;
        pthread_mutex_lock(&g->mu);
        api_model *m = g->model;
        g->model = NULL;
        g->done = 1;
        pthread_mutex_unlock(&g->mu);
        api_models_done(m);
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
    api_gen_unref(g);
}

/* The client went away (or the server stops): connection or server thread, quick. */
static void gen_cancel(void *ud, enum http_cancel_reason why)
{
    (void)why;
    api_route_cancel(ud);
}

/* ---- the whole answer ---- */

static http_response *whole_answer(const http_request *req, api_gen *g, const char *served)
{
    if (g->oom) return NULL;
    if (g->finish == SCHED_FINISH_ERROR)
        return api_served_as(http_error(req, 500, g->error, NULL, NULL), served);
    if (g->finish == SCHED_FINISH_CANCELLED)
        return api_served_as(http_error(req, 503, "the server is shutting down", NULL, NULL),
                             served);
    cJSON *text = json_str(g->text ? g->text : "", g->text_len);
    cJSON *o;
    if (is_ollama(g->kind)) {
        o = ollama_envelope(g);
        ollama_text(o, g->kind, text);
        ollama_final_fields(o, g, g->finish, &g->usage, &g->timings);
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
            pthread_mutex_unlock(&g->mu);
            api_route_cancel(g);
            pthread_mutex_lock(&g->mu);
            cancelled = 1;
        }
    }
    pthread_mutex_unlock(&g->mu);
}

/* ---- the handler ---- */

/* The error of the last failed attempt, in the request's API shape. */
static http_response *fail_response(const http_request *req, const api_gen *g)
{
    http_response *r = api_error(req, g->fail_status ? g->fail_status : 500,
                                 g->fail_msg[0] ? g->fail_msg : "no device could run the request",
                                 g->fail_param, g->fail_code);
    if (r && g->fail_status == 429) http_response_header(r, "Retry-After", "1");
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

/* Tries the candidates until one answers (committed); a peer lost before its first event is
 * replaced here, before the client has seen anything. 0, or -1 when none could (g->fail_*). */
static int run_first(api_gen *g)
{
    for (;;) {
        if (api_route_next(g) != 0) return -1;
        pthread_mutex_lock(&g->mu);
        while (!g->committed && !g->attempt_lost) pthread_cond_wait(&g->cond, &g->mu);
        const int lost = !g->committed;
        g->attempt_lost = 0;
        pthread_mutex_unlock(&g->mu);
        if (!lost) return 0;
    }
}

static http_response *generate(const http_request *req, api_server *api, enum oai_kind kind)
{
    oai_error e;
    memset(&e, 0, sizeof e);
    http_response *resp = NULL;
    char served[API_SERVED_MAX];

    if (!req->json)
        return api_error(req, 400, "the request body must be a JSON object", NULL, NULL);
    api_gen *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    atomic_init(&g->refs, 1);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->kind = kind;
    g->api = api;
    oai_limits lim = {0};
    int rc = oai_parse(kind, req->json, &lim, &g->o, &e);
    if (rc == UH_ENOMEM) goto out;
    if (rc != 0) {
        resp = api_error(req, e.status ? e.status : 400, e.message, e.param[0] ? e.param : NULL,
                         NULL);
        goto out;
    }
    const oai_request *o = &g->o;
    g->body = malloc(req->body_len + 1);
    if (!g->body) goto out;
    memcpy(g->body, req->body, req->body_len);
    g->body[req->body_len] = 0;
    g->body_len = req->body_len;
    snprintf(g->model_name, sizeof g->model_name, "%s", o->model);
    g->created = (int64_t)time(NULL);
    snprintf(g->id, sizeof g->id, "%s-%08x%08x", kind == OAI_CHAT ? "chatcmpl" : "cmpl",
             (unsigned)g->created, atomic_fetch_add(&api->next_id, 1));
    g->stream = o->stream;
    g->include_usage = o->include_usage;
    g->logprobs = o->logprobs;
    g->top_logprobs = o->top_logprobs;
    if (api_route_plan(g, http_header(req, "X-Unhosted-Ring"), req->json) != 0) {
        resp = fail_response(req, g);
        goto out;
    }
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
    if (run_first(g) != 0) {
        if (g->hs) {
            http_stream_close(g->hs); /* the cancel callback never runs again */
            g->hs = NULL;
            http_response_free(resp);
        }
        resp = fail_response(req, g);
        goto out;
    }
    pthread_mutex_lock(&g->mu);
    snprintf(served, sizeof served, "%s", g->served);
    pthread_mutex_unlock(&g->mu);
    if (g->stream) { /* the done event ends the stream and the model's request */
        api_served_as(resp, served);
        goto out;
    }
    wait_done(g);
    pthread_mutex_lock(&g->mu);
    snprintf(served, sizeof served, "%s", g->served);
    api_model *m = g->model;
    g->model = NULL;
    pthread_mutex_unlock(&g->mu);
    resp = whole_answer(req, g, served);
    api_models_done(m);
out:
    api_gen_unref(g);
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
