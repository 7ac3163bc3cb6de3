/* api_models.h - the models a node serves: loaded on demand by name, each with its own
 * continuous-batching scheduler, unloaded least recently used first when the memory budget would
 * be exceeded.
 *
 * Names: a request's "model" is looked up among the loaded models (by name or by the spec it was
 * loaded with), then among the models given on the command line (api_models_add_configured),
 * then in the store and other tools' stores (models/resolve.h). A path on the local disk is only
 * accepted from the command line: network clients name models, they do not open files.
 *
 * Memory: a model costs its GGUF file size (mapped) plus the KV caches of its slots
 * (n_slots * n_ctx * n_layer * 2 * n_head_kv * head_dim * 4 bytes). Loading a model that would
 * take the total past mem_budget first unloads idle models, least recently used first; a model
 * with requests in flight is never unloaded. When that is not enough, loading fails (UH_ELIMIT).
 * The first embeddings request of a model adds a context of one sequence (n_ctx KV cells), kept
 * until the model is unloaded and not counted against the budget.
 *
 * Metrics (registered in the given registry, label model = the model's name):
 *   unhosted_requests_total{model,finish}     counter  generation requests by finish reason
 *   unhosted_requests_rejected_total{model}   counter  refused because the queue was full
 *   unhosted_prompt_tokens_total{model}       counter  prompt tokens (cached ones included)
 *   unhosted_completion_tokens_total{model}   counter  generated tokens
 *   unhosted_queue_depth{model}               gauge    requests waiting for a slot
 *   unhosted_kv_slots_in_use{model}           gauge    slots generating or prefilling
 *   unhosted_kv_slots{model}                  gauge    slots of the loaded model
 *   unhosted_time_to_first_token_seconds{model}  histogram  submit to first token
 *   unhosted_token_latency_seconds{model}     histogram  gap between consecutive tokens
 *   unhosted_models_loaded, unhosted_model_memory_bytes  gauges
 *
 * Threading: every function may be called from any thread. api_models_done and the metrics
 * observers never block (atomics and the registry's short per-family locks), so scheduler
 * callbacks may call them. Loading runs under the manager's lock (one load at a time).
 * Ownership: the manager owns the models and schedulers; an api_model pointer from
 * api_models_acquire stays valid until its matching api_models_done. */
#ifndef UH_SERVER_API_MODELS_H
#define UH_SERVER_API_MODELS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/sched.h"
#include "server/metrics.h"
#include "unhosted.h"

#define API_MAX_MODELS     16
#define API_MAX_MODEL_NAME 256

typedef struct api_models api_models;
typedef struct api_model api_model;

typedef struct {
    int n_slots;         /* per model; 0 = 4 */
    int n_ctx;           /* per slot; 0 = min(training context, 4096) */
    int queue_max;       /* requests waiting per model before 429; 0 = 64 */
    int n_threads;       /* 0 = all online CPUs */
    uint64_t mem_budget; /* bytes; 0 = no limit */
} api_models_params;

/* metrics may be NULL. *out: api_models_free. */
int api_models_new(const api_models_params *p, metrics_registry *metrics, api_models **out,
                   uh_err *err);
/* Shuts every scheduler down (running requests are cancelled) and frees everything. NULL ok. */
void api_models_free(api_models *am);

/* A model named on the command line (a name or a path): resolved now, then loaded. Errors name
 * the spec. */
int api_models_add_configured(api_models *am, const char *spec, uh_err *err);

/* The model a request names, loaded if needed; counts one request in flight until
 * api_models_done. UH_ENOTFOUND for an unknown name, UH_ELIMIT when the memory budget cannot
 * make room, or the loader's error. */
int api_models_acquire(api_models *am, const char *spec, api_model **out, uh_err *err);
/* Ends one request in flight (call once per successful acquire, from any thread). */
void api_models_done(api_model *m);

const uh_model *api_model_engine(const api_model *m);
sched *api_model_sched(const api_model *m);
const char *api_model_name(const api_model *m);
/* Which file this model is: 16 hex digits of SHA-256 over its size and first 4 MiB ("" when the
 * file could not be read again). Devices compare it before one resumes another's answer. */
#define API_FP_LEN 17
const char *api_model_fingerprint(const api_model *m);
int api_model_n_ctx(const api_model *m);

/* uh_embed of toks[0..n) (n <= api_model_n_ctx) into out[n_embd], on the model's embeddings
 * context (created on first use, separate from the scheduler's, so generation is undisturbed).
 * Requests for one model take turns; the call blocks while another one runs. */
int api_model_embed(api_model *m, const uh_token *toks, int n, float *out, uh_err *err);

/* Observations from a request's events (any thread, never blocks). */
void api_model_observe_ttft(api_model *m, double seconds);
void api_model_observe_token_gap(api_model *m, double seconds);
void api_model_observe_done(api_model *m, enum sched_finish finish, const sched_usage *u);
void api_model_observe_rejected(api_model *m);

/* Refreshes the gauges from the schedulers (before /metrics renders). */
void api_models_refresh_metrics(void *am);

/* The load of the loaded models together: requests generating (slots in use), slots, requests
 * waiting. Waits while a model loads (the manager's lock). */
void api_models_load(api_models *am, int *active, int *slots, int *queued);

/* Cancels every queued and running request of every loaded model (their done events are
 * delivered) and refuses new ones; for a server that is stopping. */
void api_models_shutdown(api_models *am);

/* One model that can be served, as listings show it. */
typedef struct {
    char name[API_MAX_MODEL_NAME];
    char path[4096];
    uint64_t size;
    char arch[32];
    char quant[32];
    uint64_t n_params;
    uint32_t n_ctx_train;
    char sha256[65];
    int64_t added; /* unix seconds, 0 unknown */
} api_model_entry;

/* What can be served: the configured, loaded and store models. *entries is malloc'd (caller
 * frees), sorted by name, without duplicates. */
int api_models_list(api_models *am, api_model_entry **entries, int *n, uh_err *err);
/* 1 when spec names a model this node can serve (loaded, configured, in the store or found on
 * disk), without reading the file: the router asks this for every request. */
int api_models_available(api_models *am, const char *spec);
/* The entry of one servable model (resolved as api_models_acquire would, not loaded). */
int api_models_lookup(api_models *am, const char *spec, api_model_entry *e, uh_err *err);

#endif
