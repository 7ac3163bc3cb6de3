/* sched_impl.h - the scheduler's internals, shared by sched.c (lifecycle, queue, admission,
 * thread) and sched_step.c (one forward step: batch, sampling, events). See sched.h.
 *
 * Locking: mu guards the queue, the stopping flags, the slot occupancy counters and the stats.
 * Slots, the context and everything a running request holds belong to the scheduler thread and
 * are touched without the lock. A handle's cancel flag and reference count are atomics. */
#ifndef UH_ENGINE_SCHED_IMPL_H
#define UH_ENGINE_SCHED_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine/sched.h"
#include "text/stopstr.h"

struct sched_handle {
    atomic_int refs;   /* caller's share + scheduler's share */
    atomic_int cancel; /* set by sched_cancel */
    sched_handle *next; /* queue link (under mu) */

    /* request, copied at submit; freed by the scheduler after the done event */
    uh_token *prompt; /* [n_prompt] the prompt, then the resume tokens */
    int n_prompt;     /* tokens to evaluate before sampling: prompt + resume */
    int n_resume;     /* resume tokens at the end of prompt (sched_request.resume) */
    int early_finish; /* enum sched_cause + 1 when the resume replay met a stop condition (the
                       * request finishes unadmitted), else 0 */
    uh_sampler *smp;
    int max_tokens, logprobs, top_logprobs, ignore_eog;
    stopstr stop;
    uh_detok dt;
    sched_cb cb;
    void *user;

    /* progress (scheduler thread) */
    int n_gen;            /* tokens sampled, resume tokens included */
    int n_cached;         /* prompt tokens reused from the slot */
    double t_submit, t_admit, t_first, t_last; /* seconds, monotonic */
};

typedef struct {
    sched_handle *req;  /* running request, NULL when free */
    uh_token *cache;    /* [n_ctx] tokens whose K/V the slot holds, in position order */
    int n_cache;
    int n_prefilled;    /* prompt tokens in the cache; prefilling while < req->n_prompt */
    uh_token pending;   /* sampled token to evaluate in the next step, -1 if none */
    uint64_t last_used; /* scheduler clock at the last release (LRU) */
    uint64_t admitted;  /* admission order: older requests prefill first */
    int batch_out;      /* batch index whose logits this slot samples this step, -1 if none */
} sched_slot;

struct sched {
    const uh_model *model;
    sched_params p; /* resolved */
    int n_ctx;
    int n_vocab;
    uh_ctx *ctx;
    sched_slot *slots; /* [n_slots] */

    /* batch scratch, [n_batch] */
    uh_token *b_tok;
    int32_t *b_pos, *b_seq;
    int8_t *b_want;
    sched_logprob *top; /* [SCHED_TOP_LOGPROBS_MAX] */
    sched_handle **admitted; /* [n_slots] admission scratch */
    int *slot_of;            /* [n_slots] */

    uint64_t clock;     /* admissions + releases, for LRU and prefill order */
    uint64_t step;      /* steps run */

    pthread_t thread;
    int thread_started, joined;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    sched_handle *q_head, *q_tail; /* waiting requests, FIFO */
    int n_queued, n_running;
    int stopping;       /* no more submissions; the thread exits once idle */
    int cancel_all;     /* shutdown(s, 1): cancel everything */
    sched_stats_t stats;
};


/* Runs one step over the slots that hold requests. Scheduler thread only. */
void sched_step(sched *s);

/* The generation step of one sequence, after token t was sampled for h (or replayed from its
 * resume tokens): counts it, then checks in this order the end-of-generation token, the stop
 * strings (t's text goes through the detokenizer and the stop matcher; what they release lands
 * in released[0..*released_len), capacity SCHED_RELEASED_CAP), max_tokens and the context end
 * (n_cache: positions the slot holds before t). Returns the cause that ends the request, or -1
 * to go on. On SCHED_CAUSE_EOG nothing is released and no token event is due. */
#define SCHED_RELEASED_CAP (STOPSTR_MAX_LEN * 2 + 600)
int sched_advance(const sched *s, sched_handle *h, uh_token t, int n_cache, char *released,
                  size_t *released_len);

/* Finishes the request of slot i (or an unadmitted request when slot_i < 0): delivers the done
 * event with the tail text, updates stats, frees the slot and drops the scheduler's share. */
void sched_finish_req(sched *s, sched_handle *h, int slot_i, enum sched_cause c,
                      const char *error);

/* Frees a request's copied inputs (the handle itself lives on while referenced). */
void sched_req_clear(sched_handle *h);
void sched_handle_unref(sched_handle *h);

#endif
