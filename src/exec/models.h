/* models.h - the model manager: the models a node serves, loaded on demand by name, each with its
 * own continuous-batching scheduler, unloaded least recently used first when the memory budget
 * would be exceeded.
 *
 * Names: a request's "model" is looked up among the loaded models (by name or by the spec it was
 * loaded with), then among the models given on the command line (exec_models_add_configured),
 * then in the store and other tools' stores (models/resolve.h). A path on the local disk is only
 * accepted from the command line: network clients name models, they do not open files.
 *
 * Memory: a model costs its GGUF file size (mapped) plus the KV caches of its slots
 * (n_slots * n_ctx * n_layer * 2 * n_head_kv * head_dim * 4 bytes). Loading a model that would
 * take the total past mem_budget first unloads idle models, least recently used first; a model
 * with requests in flight is never unloaded. When that is not enough, loading fails (UH_EUNAVAIL).
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
 * Threading: every function may be called from any thread. exec_models_done and the metrics
 * observers never block (atomics and the registry's short per-family locks), so scheduler
 * callbacks may call them. Loading runs under the manager's lock (one load at a time).
 * Ownership: the manager owns the models and schedulers; an exec_model pointer from
 * exec_models_acquire stays valid until its matching exec_models_done. */
#ifndef UH_EXEC_MODELS_H
#define UH_EXEC_MODELS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/sched.h"
#include "exec/exec.h"
#include "base/metrics.h"
#include "unhosted.h"

#define EXEC_MAX_MODELS     16
#define EXEC_MAX_MODEL_NAME 256

typedef struct exec_models exec_models;
typedef struct exec_model exec_model;

typedef struct {
    int n_slots;         /* per model; 0 = 4 */
    int n_ctx;           /* per slot; 0 = min(training context, 4096) */
    int queue_max;       /* requests waiting per model before 429; 0 = 64 */
    int n_threads;       /* 0 = all online CPUs */
    uint64_t mem_budget; /* bytes; 0 = no limit */
} exec_models_params;

/* metrics may be NULL. *out: exec_models_free. */
int exec_models_new(const exec_models_params *p, metrics_registry *metrics, exec_models **out,
                    uh_err *err);
/* Shuts every scheduler down (running requests are cancelled) and frees everything. NULL ok. */
void exec_models_free(exec_models *mm);

/* A model named on the command line (a name or a path): resolved now, then loaded. Errors name
 * the spec. */
int exec_models_add_configured(exec_models *mm, const char *spec, uh_err *err);

/* The model a request names, loaded if needed; counts one request in flight until
 * exec_models_done. UH_ENOTFOUND for an unknown name, UH_EUNAVAIL when the memory budget cannot
 * make room, or the loader's error. */
int exec_models_acquire(exec_models *mm, const char *spec, exec_model **out, uh_err *err);
/* Ends one request in flight (call once per successful acquire, from any thread). */
void exec_models_done(exec_model *m);

const uh_model *exec_model_engine(const exec_model *m);
sched *exec_model_sched(const exec_model *m);
const char *exec_model_name(const exec_model *m);
/* Which file this model is: 16 hex digits of SHA-256 over its size and first 4 MiB ("" when the
 * file could not be read again). Devices compare it before one resumes another's answer. */
const char *exec_model_fingerprint(const exec_model *m);
int exec_model_n_ctx(const exec_model *m);

/* uh_embed of toks[0..n) (n <= exec_model_n_ctx) into out[n_embd], on the model's embeddings
 * context (created on first use, separate from the scheduler's, so generation is undisturbed).
 * Requests for one model take turns; the call blocks while another one runs. */
int exec_model_embed(exec_model *m, const uh_token *toks, int n, float *out, uh_err *err);

/* Observations from a request's events (any thread, never blocks). */
void exec_model_observe_ttft(exec_model *m, double seconds);
void exec_model_observe_token_gap(exec_model *m, double seconds);
void exec_model_observe_done(exec_model *m, enum sched_finish finish, const sched_usage *u);
void exec_model_observe_rejected(exec_model *m);

/* Refreshes the gauges from the schedulers (before /metrics renders). */
void exec_models_refresh_metrics(void *mm);

/* The load of the loaded models together: requests generating (slots in use), slots, requests
 * waiting. Waits while a model loads (the manager's lock). */
void exec_models_load(exec_models *mm, int *active, int *slots, int *queued);

/* One model that can be served, as listings show it. */
typedef struct {
    char name[EXEC_MAX_MODEL_NAME];
    char path[4096];
    uint64_t size;
    char arch[32];
    char quant[32];
    uint64_t n_params;
    uint32_t n_ctx_train;
    char sha256[65];
    int64_t added; /* unix seconds, 0 unknown */
} exec_model_entry;

/* What can be served: the configured, loaded and store models. *entries is malloc'd (caller
 * frees), sorted by name, without duplicates. */
int exec_models_list(exec_models *mm, exec_model_entry **entries, int *n, uh_err *err);
/* 1 when spec names a model this node can serve (loaded, configured, in the store or found on
 * disk), without reading the file: the router asks this for every request. */
int exec_models_available(exec_models *mm, const char *spec);
/* The entry of one servable model (resolved as exec_models_acquire would, not loaded). */
int exec_models_lookup(exec_models *mm, const char *spec, exec_model_entry *e, uh_err *err);

#endif
