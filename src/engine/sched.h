/* sched.h - continuous batching: many generation requests share one context and its forward
 * steps.
 *
 * The scheduler owns a context with n_slots sequences (KV slots of n_ctx cells each) and one
 * thread that runs steps. A step builds ONE batch: the pending token of every slot that is
 * generating, then prompt tokens of slots still prefilling (at most prefill_chunk of them per
 * step, oldest request first, so a long prompt costs running streams a bounded delay per step
 * instead of stalling them), evaluates it with one uh_eval, samples every slot whose last token
 * produced logits (each request has its own sampler, so a seed gives the same output whatever
 * else runs) and applies the stop conditions: an end-of-generation token or a stop string
 * ("stop"), max_tokens or the end of the slot's context ("length"), cancellation, errors. What
 * follows the sampling of a token (end-of-generation check, detokenizer, stop strings, limits)
 * is one function, sched_advance (sched_impl.h), that the replay of resumed tokens runs too.
 *
 * The CLI's run and chat are this scheduler with one slot (sched_solo_params), streaming through
 * sched_generate_stream: every generation in the program takes this one path.
 *
 * Prefix reuse: each slot remembers which tokens its cache holds. A waiting request goes to the
 * free slot whose cache shares the longest prefix with its prompt (the least recently used one
 * among equals), and only the rest of the prompt is evaluated. A conversation's next turn thus
 * lands where its previous turn was when that slot is free.
 *
 * Results: every request has a callback that receives SCHED_EV_TOKEN events (token id, its text
 * as complete UTF-8 with stop strings held back and cut, logprobs when asked) and exactly one
 * final SCHED_EV_DONE event (finish reason, usage, timings). Outputs depend only on the model,
 * the prompt and the sampler parameters: a batch computes for each sequence what it computes
 * alone.
 *
 * Threading: sched_submit, sched_cancel, sched_release, sched_stats and sched_generate(_stream)
 * may be called from any thread. Callbacks run on the scheduler thread, without any scheduler lock
 * held: they must not block (copy the event into the caller's own queue and signal it); they may
 * call sched_cancel, sched_release and sched_submit, but never sched_shutdown or sched_free.
 *
 * Ownership: the scheduler borrows the model (it must outlive the scheduler) and owns its
 * context. sched_submit copies everything in the request. A handle is shared by the caller and
 * the scheduler; each side drops its share (the caller with sched_release, the scheduler after
 * the done event), so a handle stays valid for the caller until it releases it, even after the
 * request finished or the scheduler was freed. Event pointers are valid during the callback only.
 */
#ifndef UH_ENGINE_SCHED_H
#define UH_ENGINE_SCHED_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "unhosted.h"

typedef struct sched sched;
typedef struct sched_handle sched_handle;

typedef struct {
    int n_slots;       /* concurrent sequences (KV slots); 0 = 4 */
    int n_ctx;         /* positions per slot; 0 = the model's training context (capped) */
    int n_batch;       /* most tokens one step evaluates; 0 = 512; at least n_slots */
    int prefill_chunk; /* most prompt tokens one step evaluates; 0 = 128 */
    int queue_max;     /* requests waiting for a slot before submit says UH_ELIMIT; 0 = 64 */
    int n_threads;     /* evaluation threads; 0 = all online CPUs */
    int kv_type;       /* enum uh_kv_type */
    int exact;         /* 1: float32 activations against dequantized weights (slow; checks) */
} sched_params;

sched_params sched_default_params(void);

/* Parameters of a one-slot scheduler that runs one conversation at a time (the CLI's run and
 * chat) on a context as cp describes it: its n_ctx, KV type, threads and precision, and a batch
 * of cp->n_batch_max tokens that all go to the prompt. */
sched_params sched_solo_params(const uh_ctx_params *cp);

enum sched_finish {
    SCHED_FINISH_STOP = 0,      /* end-of-generation token or stop string */
    SCHED_FINISH_LENGTH = 1,    /* max_tokens or the end of the slot's context */
    SCHED_FINISH_CANCELLED = 2, /* sched_cancel or sched_shutdown(s, 1) */
    SCHED_FINISH_ERROR = 3,     /* evaluation failed; the event carries the message */
};

/* "stop", "length", "cancelled", "error" */
const char *sched_finish_name(enum sched_finish f);

/* Why a request finished, one step finer than enum sched_finish. */
enum sched_cause {
    SCHED_CAUSE_EOG = 0,         /* STOP: an end-of-generation token (it has no token event) */
    SCHED_CAUSE_STOP_STRING = 1, /* STOP: a stop string completed */
    SCHED_CAUSE_MAX_TOKENS = 2,  /* LENGTH: max_tokens reached */
    SCHED_CAUSE_CONTEXT_END = 3, /* LENGTH: the slot's context is full */
    SCHED_CAUSE_CANCELLED = 4,   /* CANCELLED */
    SCHED_CAUSE_ERROR = 5,       /* ERROR */
};

/* The finish a cause belongs to. */
enum sched_finish sched_cause_finish(enum sched_cause c);
/* "end of text", "stop string", "length", "context full", "cancelled", "error" */
const char *sched_cause_name(enum sched_cause c);

#define SCHED_TOP_LOGPROBS_MAX 20

typedef struct {
    uh_token id;
    float logprob; /* natural log of its probability */
} sched_logprob;

typedef struct {
    int n_prompt;     /* prompt tokens */
    int n_cached;     /* of which came from the slot's cache (not evaluated again) */
    int n_completion; /* tokens sampled, including a final end-of-generation token */
} sched_usage;

typedef struct {        /* seconds */
    double queued;      /* submit to slot */
    double prefill;     /* slot to first token (the prompt's evaluation) */
    double generation;  /* first token to done */
    double total;       /* submit to done */
} sched_timings;

enum sched_event_type { SCHED_EV_TOKEN = 0, SCHED_EV_DONE = 1 };

typedef struct {
    enum sched_event_type type;
    /* text released by this event: complete UTF-8, stop strings cut. For TOKEN, what the token
     * completed (often empty while a character or a possible stop string is incomplete); for
     * DONE, the held-back tail released at the end (empty after a stop string). */
    const char *text;
    size_t text_len;
    uint64_t step; /* scheduler step that produced the event (counts from 1) */

    /* TOKEN */
    uh_token token;
    int index;                 /* 0 for the first generated token */
    float logprob;             /* of token under the model's distribution (temperature 1, no
                                * penalties); 0 unless the request asked for logprobs */
    const sched_logprob *top;  /* [n_top] most likely tokens, best first */
    int n_top;

    /* DONE */
    enum sched_finish finish;
    enum sched_cause cause;
    const char *error; /* message for SCHED_FINISH_ERROR, else "" */
    sched_usage usage;
    sched_timings timings;
} sched_event;

typedef void (*sched_cb)(void *user, const sched_event *ev);

typedef struct {
    const uh_token *tokens; /* [n_tokens] the prompt, templated and tokenized; 1..n_ctx */
    int n_tokens;
    uh_sampler_params sampler;
    int max_tokens;           /* <= 0: until a stop condition or the end of the context */
    const char *const *stops; /* [n_stops] stop strings (STOPSTR_MAX of STOPSTR_MAX_LEN) */
    int n_stops;
    int logprobs;             /* 1: fill logprob in token events */
    int top_logprobs;         /* 0..SCHED_TOP_LOGPROBS_MAX alternatives per token */
    int ignore_eog;           /* 1: end-of-generation tokens do not stop (benchmarks) */
    int at_start;             /* 1: the output begins a text (drop the tokenizer's leading
                               * space), as when the prompt is just BOS */
    /* Failover: tokens this request already generated elsewhere (index 0..n_resume-1). They are
     * evaluated after the prompt (prefix reuse applies) and replayed through the sampler's
     * penalty history, the detokenizer, the stop strings, the end-of-generation check and the
     * max_tokens count without any event: text they released is not sent again, text they left
     * held back stays held back. New tokens' events continue at index n_resume. max_tokens is
     * the original request's (resume tokens count against it); a replay that meets a stop
     * condition finishes at once with the DONE event only. usage.n_prompt leaves them out,
     * usage.n_completion counts them. */
    const uh_token *resume; /* [n_resume] */
    int n_resume;
    sched_cb cb;              /* required */
    void *user;
} sched_request;

/* Loads a context for p's slots and starts the scheduler thread. *out: sched_free. */
int sched_new(const uh_model *m, const sched_params *p, sched **out, uh_err *err);

/* Positions per slot (sched_params.n_ctx resolved): the longest prompt plus output. */
int sched_n_ctx(const sched *s);

/* Stops accepting requests, then either finishes every queued and running request
 * (cancel_running 0) or cancels them all (1), delivers their done events and joins the thread.
 * Idempotent; must not be called from a callback. */
void sched_shutdown(sched *s, int cancel_running);

/* sched_shutdown(s, 1) if still running, then frees everything. Accepts NULL. */
void sched_free(sched *s);

/* Queues a request. *h (if h is non-NULL) receives a handle to pass to sched_cancel and, once,
 * to sched_release. UH_ELIMIT when queue_max requests already wait (answer 429 and retry later),
 * UH_ECTXFULL when the prompt does not fit a slot, UH_EINVAL for a bad request or after
 * shutdown. On error no callback is ever made. */
int sched_submit(sched *s, const sched_request *r, sched_handle **h, uh_err *err);

/* Asks the request to stop: it finishes with SCHED_FINISH_CANCELLED at the start of the next
 * step and its slot is free for the next request. No effect once it has finished. */
void sched_cancel(sched_handle *h);

/* Drops the caller's share of the handle; h must not be used afterwards. Accepts NULL. */
void sched_release(sched_handle *h);

/* ---- metrics ---- */

#define SCHED_N_BUCKETS 12 /* upper bounds in sched_bucket_le; the last is +Inf */
extern const double sched_bucket_le[SCHED_N_BUCKETS];

typedef struct {
    uint64_t count[SCHED_N_BUCKETS]; /* cumulative, as Prometheus wants: count[i] = samples
                                      * <= sched_bucket_le[i] */
    uint64_t n;
    double sum; /* seconds */
} sched_histogram;

typedef struct {
    uint64_t requests_submitted, requests_rejected; /* rejected: queue full */
    uint64_t requests_finished[4];                  /* by enum sched_finish */
    uint64_t prompt_tokens, cached_tokens, completion_tokens;
    uint64_t steps;
    int queue_depth, slots_in_use, n_slots;
    sched_histogram ttft;      /* submit to first token */
    sched_histogram token_gap; /* between consecutive tokens of a request */
} sched_stats_t;

/* A consistent snapshot of the counters. */
void sched_stats(sched *s, sched_stats_t *out);

/* ---- blocking convenience (tests, CLI) ---- */

typedef struct {
    uh_token *tokens; /* [n_tokens] generated, malloc'd */
    int n_tokens;
    char *text;       /* NUL-terminated, malloc'd */
    size_t text_len;
    float *logprobs;  /* [n_tokens] when asked, else NULL */
    uint64_t *steps;  /* [n_tokens] step of each token */
    enum sched_finish finish;
    enum sched_cause cause;
    char error[256];
    sched_usage usage;
    sched_timings timings;
} sched_result;

/* Submits r (its cb and user are ignored) and waits for the done event. Returns the submit
 * error, or UH_ENOMEM if the result could not be collected; *out is filled on success and must
 * be freed with sched_result_free. */
int sched_generate(sched *s, const sched_request *r, sched_result *out, uh_err *err);

typedef void (*sched_text_cb)(void *user, const char *text, size_t len);

/* sched_generate that also streams: on_text (may be NULL) gets the text of every event in order
 * (what out->text collects) as it arrives, on the calling thread, with no scheduler lock held, so
 * it may block (write to a terminal). The request is cancelled once *interrupt (may be NULL;
 * e.g. a flag a signal handler sets) is non-zero; it is polled at least every 20 ms. */
int sched_generate_stream(sched *s, const sched_request *r, sched_text_cb on_text, void *user,
                          const volatile sig_atomic_t *interrupt, sched_result *out,
                          uh_err *err);
void sched_result_free(sched_result *r);

#endif
