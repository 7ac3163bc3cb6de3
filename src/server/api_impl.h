/* api_impl.h - what the endpoint files of api.h share. Not for use outside src/server. */
#ifndef UH_SERVER_API_IMPL_H
#define UH_SERVER_API_IMPL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include <pthread.h>

#include "router/router.h"
#include "server/api.h"
#include "server/oai_req.h"

#define API_EMBED_MAX_INPUTS 256 /* texts per embeddings request */
#define API_MAX_CANDIDATES   16  /* devices one request may try (router order) */
#define API_SERVED_MAX       (DEVICE_ID_STRLEN + 8)

struct api_server {
    api_models *am;
    node *node; /* NULL: no cluster, everything runs here */
    router router;
    atomic_llong stop_deadline_ms; /* monotonic ms after which waiting requests are cancelled;
                                    * 0 while running */
    atomic_uint next_id;
};

/* ---- one generation request (api_gen.c formats, api_route.c runs it) ----
 *
 * Lifetime: reference counted: the handler's reference, one for the attempt that runs (the
 * scheduler's, dropped after its done event; a peer run's, dropped after its done event or when
 * it is lost), and one for a failover thread while it runs. Attempts run one after the other:
 * the next starts only after the previous one ended (lost), so events never interleave. */
typedef struct {
    atomic_int refs;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    enum oai_kind kind;
    api_server *api;
    oai_request o;      /* parsed request, owned */
    char *body;         /* raw request body for peers, owned, body_len bytes */
    size_t body_len;
    api_model *model;   /* while a local attempt runs (acquired), else NULL */
    const uh_model *um; /* its engine (logprobs formatting; logprob requests run here only) */
    char model_name[OAI_MAX_MODEL_LEN + 1]; /* as the request named it */
    char id[48];
    int64_t created; /* unix seconds */
    int stream, include_usage, logprobs, top_logprobs;
    double t_submit, t_last, load_s;
    http_stream *hs;    /* streams: the producer's reference until the done event */

    /* routing (under mu once an attempt runs) */
    router_candidate cand[API_MAX_CANDIDATES];
    int n_cand, next_cand;
    char served[API_SERVED_MAX]; /* "local" or "peer:<id>" of the attempt that answers */
    sched_handle *h;    /* local attempt */
    node_run *run;      /* peer attempt */
    int committed;      /* an attempt delivered its first event (or a local one was queued) */
    int attempt_lost;   /* the peer attempt failed before its first event */
    int run_ended;      /* the peer run ended before node_run_start returned */
    int cancel_pending; /* the client left (or the server stops): start nothing more */
    int fail_status;    /* last failed attempt: HTTP status, message, param, code */
    char fail_msg[256];
    const char *fail_param, *fail_code;
    char fp[NODE_FP_LEN]; /* fingerprint of the model file that made the delivered tokens; a
                           * device resuming them must have the same ("" until known) */
    uh_token *delivered; /* [n_delivered] token ids sent to the client (resume on failover) */
    int n_delivered, delivered_cap;

    /* whole answers: written by event threads, read by the handler after done */
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

void api_gen_unref(api_gen *g);
/* Delivers one event of the answering attempt to the client (stream or collected answer). A
 * done event ends the request and drops the attempt's reference. Never blocks. */
void api_gen_deliver(api_gen *g, const sched_event *ev);

/* api_route.c: the candidates for g (router order; only this node without a cluster). 0, or an
 * HTTP status with g->fail_* set. */
int api_route_plan(api_gen *g, const char *ring_header, const cJSON *body);
/* Starts candidates in order from g->next_cand (resume: the tokens delivered so far) until one
 * runs: 0 (a local attempt is committed at once; a peer attempt commits with its first event),
 * or -1 when none is left (g->fail_* say why). Caller holds a reference. */
int api_route_next(api_gen *g);
/* Cancels the running attempt and starts no other. Any thread, quick. */
void api_route_cancel(api_gen *g);
/* Sampler parameters of a request (defaults by API). */
uh_sampler_params api_sampler_for(api_server *api, const oai_request *o);
/* The request's prompt as tokens. *toks is malloc'd. UH_ELIMIT when it is longer than n_ctx. */
int api_build_prompt(const oai_request *o, const uh_model *um, int n_ctx, uh_token **toks, int *n,
                     uh_err *err);

/* Adds X-Unhosted-Served-By: local; returns r (NULL stays NULL). */
http_response *api_served(http_response *r);
/* Adds X-Unhosted-Served-By: by. */
http_response *api_served_as(http_response *r, const char *by);
/* A JSON response with the header above. */
http_response *api_json(int status, cJSON *body);
/* An error in the request's API shape with the header above. */
http_response *api_error(const http_request *req, int status, const char *message,
                         const char *param, const char *code);

/* Appends s[0..n) to a cJSON string builder: bytes that are not valid UTF-8 become U+FFFD.
 * out must hold 3 * n + 1 bytes; returns the length written (NUL-terminated). */
size_t api_utf8_clean(const char *s, size_t n, char *out);
/* RFC 3339 UTC time with microseconds, as Ollama writes "created_at". buf: 40 bytes. */
void api_rfc3339_now(char buf[40]);
double api_now(void);

/* Handlers (ud = the api_server). */
http_response *api_chat_completions(const http_request *req, void *ud);
http_response *api_completions(const http_request *req, void *ud);
http_response *api_ollama_chat(const http_request *req, void *ud);
http_response *api_ollama_generate(const http_request *req, void *ud);
http_response *api_list_models(const http_request *req, void *ud);
http_response *api_ollama_tags(const http_request *req, void *ud);
http_response *api_ollama_show(const http_request *req, void *ud);
http_response *api_embeddings(const http_request *req, void *ud);
http_response *api_ollama_embed(const http_request *req, void *ud);
http_response *api_ollama_embeddings(const http_request *req, void *ud);

#endif
