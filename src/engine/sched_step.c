/* sched_step.c - one scheduler step (see sched.h): cancellations, one batch with a decode token
 * per generating slot plus prompt chunks, one uh_eval, then sampling, stop conditions and events.
 * sched_advance, the per-sequence part after sampling, is also what replays resumed tokens.
 * Runs on the scheduler thread only; takes the lock just to update counters.
 *
 * Batch layout: decode tokens first (one per generating slot, each wanting logits), then prompt
 * chunks of prefilling slots in admission order until prefill_chunk (or n_batch) tokens; a chunk
 * wants logits only for the prompt's last token. Every token of a slot lands at the next
 * position of that slot's sequence, so the batch needs no reordering. */
#include <math.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "engine/sched_impl.h"

/* ---- finishing ---- */

static void hist_add(sched_histogram *hg, double v)
{
    for (int i = 0; i < SCHED_N_BUCKETS; i++)
        if (v <= sched_bucket_le[i]) hg->count[i]++;
    hg->n++;
    hg->sum += v;
}

void sched_finish_req(sched *s, sched_handle *h, int slot_i, enum sched_cause c,
                      const char *error)
{
    const enum sched_finish f = sched_cause_finish(c);
    char tail[STOPSTR_MAX_LEN * 2 + 8];
    size_t tail_len = 0;
    if (!h->stop.stopped) tail_len = stopstr_flush(&h->stop, tail, sizeof tail);
    tail[tail_len] = 0;
    const double now = clock_mono_s();

    sched_event ev = {0};
    ev.type = SCHED_EV_DONE;
    ev.text = tail;
    ev.text_len = tail_len;
    ev.step = s->step;
    ev.token = -1;
    ev.finish = f;
    ev.cause = c;
    ev.error = error ? error : "";
    ev.usage.n_prompt = h->n_prompt - h->n_resume;
    ev.usage.n_cached = h->n_cached < ev.usage.n_prompt ? h->n_cached : ev.usage.n_prompt;
    ev.usage.n_completion = h->n_gen;
    const double admit = h->t_admit > 0 ? h->t_admit : now;
    const double first = h->t_first > 0 ? h->t_first : now;
    ev.timings.queued = admit - h->t_submit;
    ev.timings.prefill = first - admit;
    ev.timings.generation = now - first;
    ev.timings.total = now - h->t_submit;

    if (slot_i >= 0) {
        sched_slot *sl = &s->slots[slot_i];
        sl->pending = -1;
        sl->batch_out = -1;
        sl->last_used = ++s->clock;
    }
    pthread_mutex_lock(&s->mu);
    if (slot_i >= 0) {
        s->slots[slot_i].req = NULL;
        s->n_running--;
        s->stats.prompt_tokens += (uint64_t)ev.usage.n_prompt;
        s->stats.cached_tokens += (uint64_t)ev.usage.n_cached;
    }
    s->stats.requests_finished[f]++;
    s->stats.slots_in_use = s->n_running;
    pthread_mutex_unlock(&s->mu);

    log_debug("sched_done", "slot=%d finish=%s prompt=%d cached=%d completion=%d total_s=%.3f",
              slot_i, sched_finish_name(f), h->n_prompt, h->n_cached, h->n_gen, ev.timings.total);
    h->cb(h->user, &ev);
    sched_req_clear(h);
    sched_handle_unref(h);
}

/* ---- sampling ---- */

/* log-sum-exp of the row and the n_top most likely tokens, best first */
static double row_lse(const float *l, int n, sched_logprob *top, int n_top)
{
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (l[i] > mx) mx = l[i];
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)l[i] - mx);
    const double lse = mx + log(sum);
    int k = 0;
    for (int i = 0; i < n && n_top > 0; i++) {
        if (k == n_top && l[i] <= top[k - 1].logprob) continue;
        int j = k < n_top ? k++ : k - 1;
        while (j > 0 && top[j - 1].logprob < l[i]) {
            top[j] = top[j - 1];
            j--;
        }
        top[j].id = i;
        top[j].logprob = l[i];
    }
    for (int j = 0; j < k; j++) top[j].logprob = (float)(top[j].logprob - lse);
    return lse;
}

int sched_advance(const sched *s, sched_handle *h, uh_token t, int n_cache, char *released,
                  size_t *released_len)
{
    *released_len = 0;
    h->n_gen++;
    if (!h->ignore_eog && uh_token_is_eog(s->model, t)) return SCHED_CAUSE_EOG;
    char piece[512];
    const int n = uh_detok_push(&h->dt, t, piece, sizeof piece);
    if (stopstr_feed(&h->stop, piece, (size_t)n, released, SCHED_RELEASED_CAP, released_len))
        return SCHED_CAUSE_STOP_STRING;
    if (h->max_tokens > 0 && h->n_gen >= h->max_tokens) return SCHED_CAUSE_MAX_TOKENS;
    if (n_cache >= s->n_ctx) return SCHED_CAUSE_CONTEXT_END;
    return -1;
}

/* Samples the next token of slot i from logits, advances the request and sends its event. */
static void sample_slot(sched *s, int i, const float *logits)
{
    sched_slot *sl = &s->slots[i];
    sched_handle *h = sl->req;
    const int want_lp = h->logprobs || h->top_logprobs > 0;
    double lse = 0;
    if (want_lp) lse = row_lse(logits, s->n_vocab, s->top, h->top_logprobs);
    const uh_token t = uh_sampler_sample(h->smp, logits);
    uh_sampler_accept(h->smp, t);
    const int index = h->n_gen;
    const int first = h->t_first == 0; /* the first token sampled here, resumed or not */

    const double now = clock_mono_s();
    pthread_mutex_lock(&s->mu);
    s->stats.completion_tokens++;
    if (first) hist_add(&s->stats.ttft, now - h->t_submit);
    else hist_add(&s->stats.token_gap, now - h->t_last);
    pthread_mutex_unlock(&s->mu);
    if (first) h->t_first = now;
    h->t_last = now;

    char released[SCHED_RELEASED_CAP];
    size_t rl = 0;
    const int cause = sched_advance(s, h, t, sl->n_cache, released, &rl);
    if (cause == SCHED_CAUSE_EOG) {
        sched_finish_req(s, h, i, SCHED_CAUSE_EOG, "");
        return;
    }

    sched_event ev = {0};
    ev.type = SCHED_EV_TOKEN;
    ev.text = released;
    ev.text_len = rl;
    ev.step = s->step;
    ev.token = t;
    ev.index = index;
    ev.logprob = want_lp ? (float)(logits[t] - lse) : 0.0f;
    ev.top = s->top;
    ev.n_top = h->top_logprobs;
    ev.error = "";
    h->cb(h->user, &ev);

    if (cause >= 0) sched_finish_req(s, h, i, (enum sched_cause)cause, "");
    else sl->pending = t;
}

/* ---- the step ---- */

/* Appends n tokens of slot i at its next positions; the last wants logits if want_last. */
static int batch_add(sched *s, int n_b, int i, const uh_token *toks, int n, int want_last)
{
    sched_slot *sl = &s->slots[i];
    for (int j = 0; j < n; j++) {
        s->b_tok[n_b + j] = toks[j];
        s->b_pos[n_b + j] = sl->n_cache + j;
        s->b_seq[n_b + j] = i;
        s->b_want[n_b + j] = 0;
        sl->cache[sl->n_cache + j] = toks[j];
    }
    if (want_last) {
        s->b_want[n_b + n - 1] = 1;
        sl->batch_out = n_b + n - 1;
    }
    return n_b + n;
}

void sched_step(sched *s)
{
    const int n_slots = s->p.n_slots;
    for (int i = 0; i < n_slots; i++) {
        s->slots[i].batch_out = -1;
        if (s->slots[i].req && atomic_load(&s->slots[i].req->cancel))
            sched_finish_req(s, s->slots[i].req, i, SCHED_CAUSE_CANCELLED, "");
    }

    /* decode tokens, then prompt chunks oldest first; chunk[i]: tokens slot i adds */
    int n_b = 0;
    for (int i = 0; i < n_slots; i++) {
        sched_slot *sl = &s->slots[i];
        if (sl->req && sl->pending >= 0) n_b = batch_add(s, n_b, i, &sl->pending, 1, 1);
    }
    int budget = s->p.n_batch - n_b < s->p.prefill_chunk ? s->p.n_batch - n_b : s->p.prefill_chunk;
    uint64_t after = 0;
    while (budget > 0) {
        int pick = -1;
        for (int i = 0; i < n_slots; i++) {
            const sched_slot *sl = &s->slots[i];
            if (!sl->req || sl->n_prefilled >= sl->req->n_prompt || sl->admitted <= after) continue;
            if (pick < 0 || sl->admitted < s->slots[pick].admitted) pick = i;
        }
        if (pick < 0) break;
        sched_slot *sl = &s->slots[pick];
        after = sl->admitted;
        const int left = sl->req->n_prompt - sl->n_prefilled;
        const int take = left < budget ? left : budget;
        n_b = batch_add(s, n_b, pick, sl->req->prompt + sl->n_prefilled, take, take == left);
        sl->n_prefilled += take;
        sl->n_cache += take; /* batch_add wrote positions from the old n_cache */
        budget -= take;
    }
    if (n_b == 0) return;
    /* decode tokens advance their slot too */
    for (int i = 0; i < n_slots; i++) {
        sched_slot *sl = &s->slots[i];
        if (sl->req && sl->pending >= 0) {
            sl->n_cache++;
            sl->pending = -1;
        }
    }

    s->step++;
    uh_batch b = {.n_tokens = n_b,
                  .tokens = s->b_tok,
                  .pos = s->b_pos,
                  .seq_id = s->b_seq,
                  .want_output = s->b_want};
    uh_err err = {0};
    const int rc = uh_eval(s->ctx, &b, &err);
    pthread_mutex_lock(&s->mu);
    s->stats.steps++;
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        log_error("sched_eval", "step=%llu tokens=%d code=%d msg=\"%s\"",
                  (unsigned long long)s->step, n_b, rc, err.msg);
        /* what the failed batch wrote is unknown: the slots in it start over */
        for (int j = 0; j < n_b; j++) {
            const int i = s->b_seq[j];
            sched_slot *sl = &s->slots[i];
            sl->n_cache = 0;
            uh_kv_truncate(s->ctx, i, 0);
            if (sl->req) sched_finish_req(s, sl->req, i, SCHED_CAUSE_ERROR, err.msg);
        }
        return;
    }
    for (int i = 0; i < n_slots; i++) {
        sched_slot *sl = &s->slots[i];
        if (!sl->req || sl->batch_out < 0) continue;
        const float *logits = uh_get_logits(s->ctx, sl->batch_out);
        sl->batch_out = -1;
        if (logits) sample_slot(s, i, logits);
    }
}
