/* sched.c - the scheduler's lifecycle, request queue, slot admission and thread (see sched.h;
 * one step of the forward pass is in sched_step.c).
 *
 * The thread sleeps only when no request is queued or running, so a cancel flag set by any
 * thread is always seen at the start of the next step without a wake-up. Admission runs at the
 * start of every step: waiting requests, first come first served, take free slots; each goes to
 * the free slot with the longest common prefix with its prompt, the least recently used among
 * equals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "engine/ctx.h"
#include "engine/sched_impl.h"

const double sched_bucket_le[SCHED_N_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                 0.5,   1.0,  2.5,   5.0,  10.0, 1e300};

sched_params sched_default_params(void)
{
    sched_params p = {0};
    p.n_slots = 4;
    p.n_batch = 512;
    p.prefill_chunk = 128;
    p.queue_max = 64;
    p.kv_type = UH_KV_F32;
    return p;
}

sched_params sched_solo_params(const uh_ctx_params *cp)
{
    sched_params p = sched_default_params();
    p.n_slots = 1;
    p.n_ctx = cp->n_ctx;
    p.n_batch = cp->n_batch_max > 0 ? cp->n_batch_max : 512;
    p.prefill_chunk = p.n_batch; /* no other stream waits: the prompt goes in whole batches */
    p.n_threads = cp->n_threads;
    p.kv_type = cp->kv_type;
    p.exact = cp->exact;
    return p;
}

enum sched_finish sched_cause_finish(enum sched_cause c)
{
    switch (c) {
    case SCHED_CAUSE_EOG:
    case SCHED_CAUSE_STOP_STRING: return SCHED_FINISH_STOP;
    case SCHED_CAUSE_MAX_TOKENS:
    case SCHED_CAUSE_CONTEXT_END: return SCHED_FINISH_LENGTH;
    case SCHED_CAUSE_CANCELLED: return SCHED_FINISH_CANCELLED;
    case SCHED_CAUSE_ERROR: return SCHED_FINISH_ERROR;
    }
    return SCHED_FINISH_ERROR;
}

const char *sched_cause_name(enum sched_cause c)
{
    switch (c) {
    case SCHED_CAUSE_EOG: return "end of text";
    case SCHED_CAUSE_STOP_STRING: return "stop string";
    case SCHED_CAUSE_MAX_TOKENS: return "length";
    case SCHED_CAUSE_CONTEXT_END: return "context full";
    case SCHED_CAUSE_CANCELLED: return "cancelled";
    case SCHED_CAUSE_ERROR: return "error";
    }
    return "error";
}

const char *sched_finish_name(enum sched_finish f)
{
    switch (f) {
    case SCHED_FINISH_STOP: return "stop";
    case SCHED_FINISH_LENGTH: return "length";
    case SCHED_FINISH_CANCELLED: return "cancelled";
    case SCHED_FINISH_ERROR: return "error";
    }
    return "error";
}

/* ---- handles ---- */

void sched_req_clear(sched_handle *h)
{
    free(h->prompt);
    h->prompt = NULL;
    uh_sampler_free(h->smp);
    h->smp = NULL;
}

void sched_handle_unref(sched_handle *h)
{
    if (!h) return;
    if (atomic_fetch_sub(&h->refs, 1) == 1) {
        sched_req_clear(h);
        free(h);
    }
}

void sched_cancel(sched_handle *h)
{
    if (h) atomic_store(&h->cancel, 1);
}

void sched_release(sched_handle *h) { sched_handle_unref(h); }

/* ---- admission ---- */

static int common_prefix(const uh_token *a, int na, const uh_token *b, int nb)
{
    int n = 0;
    while (n < na && n < nb && a[n] == b[n]) n++;
    return n;
}

/* The free slot for a prompt: longest common prefix, then least recently used. -1 if none. */
static int pick_slot(const sched *s, const sched_handle *h)
{
    int best = -1, best_len = -1;
    for (int i = 0; i < s->p.n_slots; i++) {
        const sched_slot *sl = &s->slots[i];
        if (sl->req) continue;
        int len = common_prefix(sl->cache, sl->n_cache, h->prompt, h->n_prompt);
        if (len > best_len || (len == best_len && sl->last_used < s->slots[best].last_used)) {
            best = i;
            best_len = len;
        }
    }
    return best;
}

/* Places h in slot i: keeps the common prefix of the cache, forgets the rest. The last prompt
 * token is always evaluated again when the whole prompt is cached: its logits are needed. */
static void admit(sched *s, sched_handle *h, int i)
{
    sched_slot *sl = &s->slots[i];
    int keep = common_prefix(sl->cache, sl->n_cache, h->prompt, h->n_prompt);
    if (keep == h->n_prompt) keep--;
    uh_kv_truncate(s->ctx, i, keep);
    sl->n_cache = keep;
    sl->n_prefilled = keep;
    sl->pending = -1;
    sl->admitted = ++s->clock;
    h->n_cached = keep;
    h->t_admit = clock_mono_s();
    for (int t = 0; t < h->n_prompt; t++) uh_sampler_accept(h->smp, h->prompt[t]);
    log_debug("sched_admit", "slot=%d prompt=%d cached=%d", i, h->n_prompt, keep);
}

/* Under mu: takes cancelled requests (and those whose resume replay finished them) off the
 * queue into *cancelled and gives free slots to
 * waiting ones (slot index in *slot_of, request in *admitted). */
static void collect(sched *s, sched_handle **cancelled, sched_handle **admitted, int *slot_of,
                    int *n_admitted)
{
    sched_handle **pp = &s->q_head, *prev = NULL;
    *n_admitted = 0;
    if (s->cancel_all)
        for (int i = 0; i < s->p.n_slots; i++)
            if (s->slots[i].req) atomic_store(&s->slots[i].req->cancel, 1);
    while (*pp) {
        sched_handle *h = *pp;
        int slot = -1;
        int drop = s->cancel_all || atomic_load(&h->cancel) || h->early_finish;
        if (!drop) slot = pick_slot(s, h);
        if (drop || slot >= 0) {
            *pp = h->next;
            if (s->q_tail == h) s->q_tail = prev;
            s->n_queued--;
            if (drop) {
                h->next = *cancelled;
                *cancelled = h;
            } else {
                h->next = NULL;
                s->slots[slot].req = h; /* reserved; set up outside the lock */
                s->n_running++;
                admitted[*n_admitted] = h;
                slot_of[(*n_admitted)++] = slot;
            }
            continue;
        }
        prev = h;
        pp = &h->next;
    }
    s->stats.queue_depth = s->n_queued;
    s->stats.slots_in_use = s->n_running;
}

static void *sched_main(void *arg)
{
    sched *s = arg;
    sched_handle **admitted = s->admitted;
    int *slot_of = s->slot_of;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stopping && !s->q_head && s->n_running == 0)
            pthread_cond_wait(&s->wake, &s->mu);
        if (s->stopping && !s->q_head && s->n_running == 0) break;
        sched_handle *cancelled = NULL;
        int n_admitted = 0;
        collect(s, &cancelled, admitted, slot_of, &n_admitted);
        pthread_mutex_unlock(&s->mu);

        while (cancelled) {
            sched_handle *h = cancelled;
            cancelled = h->next;
            enum sched_cause c = SCHED_CAUSE_CANCELLED;
            if (h->early_finish && !s->cancel_all && !atomic_load(&h->cancel))
                c = (enum sched_cause)(h->early_finish - 1);
            sched_finish_req(s, h, -1, c, "");
        }
        for (int k = 0; k < n_admitted; k++) admit(s, admitted[k], slot_of[k]);
        sched_step(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- lifecycle ---- */

int sched_n_ctx(const sched *s) { return s->n_ctx; }

int sched_new(const uh_model *m, const sched_params *params, sched **out, uh_err *err)
{
    *out = NULL;
    sched_params p = params ? *params : sched_default_params();
    sched_params d = sched_default_params();
    if (p.n_slots == 0) p.n_slots = d.n_slots;
    if (p.n_batch == 0) p.n_batch = d.n_batch;
    if (p.prefill_chunk == 0) p.prefill_chunk = d.prefill_chunk;
    if (p.queue_max == 0) p.queue_max = d.queue_max;
    if (p.n_slots < 0 || p.n_batch < 0 || p.prefill_chunk < 0 || p.queue_max < 0 || p.n_ctx < 0)
        return err_setf(err, UH_EINVAL, "sched: negative size parameter");
    if (p.n_batch < p.n_slots)
        return err_setf(err, UH_EINVAL, "sched: n_batch %d is smaller than n_slots %d", p.n_batch,
                        p.n_slots);

    int rc = UH_OK;
    sched *s = calloc(1, sizeof *s);
    if (!s) return err_setf(err, UH_ENOMEM, "sched: out of memory");
    s->model = m;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);

    uh_ctx_params cp = uh_ctx_default_params();
    cp.n_ctx = p.n_ctx;
    cp.n_seq_max = p.n_slots;
    cp.n_batch_max = p.n_batch;
    cp.kv_type = p.kv_type;
    cp.n_threads = p.n_threads;
    cp.exact = p.exact;
    if ((rc = uh_ctx_new(m, &cp, &s->ctx, err))) goto fail;
    uh_model_info info;
    uh_model_get_info(m, &info);
    s->n_vocab = info.n_vocab;
    s->n_ctx = s->ctx->p.n_ctx; /* resolved: 0 became the model's default */
    p.n_ctx = s->n_ctx;
    p.n_threads = s->ctx->p.n_threads;
    s->p = p;

    s->slots = calloc((size_t)p.n_slots, sizeof *s->slots);
    s->b_tok = malloc((size_t)p.n_batch * sizeof *s->b_tok);
    s->b_pos = malloc((size_t)p.n_batch * sizeof *s->b_pos);
    s->b_seq = malloc((size_t)p.n_batch * sizeof *s->b_seq);
    s->b_want = malloc((size_t)p.n_batch * sizeof *s->b_want);
    s->top = malloc(SCHED_TOP_LOGPROBS_MAX * sizeof *s->top);
    s->admitted = malloc((size_t)p.n_slots * sizeof *s->admitted);
    s->slot_of = malloc((size_t)p.n_slots * sizeof *s->slot_of);
    if (!s->slots || !s->b_tok || !s->b_pos || !s->b_seq || !s->b_want || !s->top ||
        !s->admitted || !s->slot_of) {
        rc = err_setf(err, UH_ENOMEM, "sched: out of memory");
        goto fail;
    }
    for (int i = 0; i < p.n_slots; i++) {
        s->slots[i].pending = -1;
        s->slots[i].cache = malloc((size_t)s->n_ctx * sizeof(uh_token));
        if (!s->slots[i].cache) {
            rc = err_setf(err, UH_ENOMEM, "sched: out of memory for slot caches");
            goto fail;
        }
    }
    s->stats.n_slots = p.n_slots;
    if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
        rc = err_setf(err, UH_ENOMEM, "sched: cannot start the scheduler thread");
        goto fail;
    }
    s->thread_started = 1;
    log_info("sched_start", "slots=%d n_ctx=%d n_batch=%d prefill_chunk=%d queue_max=%d",
             p.n_slots, s->n_ctx, p.n_batch, p.prefill_chunk, p.queue_max);
    *out = s;
    return UH_OK;
fail:
    sched_free(s);
    return rc;
}

void sched_shutdown(sched *s, int cancel_running)
{
    if (!s || !s->thread_started) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    if (cancel_running) s->cancel_all = 1;
    int join = !s->joined;
    s->joined = 1;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->mu);
    if (join) {
        pthread_join(s->thread, NULL);
        log_info("sched_stop", "steps=%llu", (unsigned long long)s->step);
    }
}

void sched_free(sched *s)
{
    if (!s) return;
    sched_shutdown(s, 1);
    /* the thread has delivered every done event; only slot caches remain */
    if (s->slots)
        for (int i = 0; i < s->p.n_slots; i++) free(s->slots[i].cache);
    free(s->slots);
    free(s->b_tok);
    free(s->b_pos);
    free(s->b_seq);
    free(s->b_want);
    free(s->top);
    free(s->admitted);
    free(s->slot_of);
    uh_ctx_free(s->ctx);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- requests ---- */

/* Runs the resume tokens (the last n_resume of h->prompt, after n_prompt prompt tokens) through
 * sched_advance, as if they had just been sampled, without events. Sets h->early_finish when one
 * of them would have ended the original run (the rest of the resume tokens is dropped);
 * otherwise the resume tokens join the evaluated prompt. The sampler's penalty history gets them
 * at admission, with the prompt. */
static void replay_resume(const sched *s, sched_handle *h, int n_prompt)
{
    char released[SCHED_RELEASED_CAP];
    size_t rl;
    for (int j = 0; j < h->n_resume; j++) {
        const int cause = sched_advance(s, h, h->prompt[n_prompt + j], n_prompt + j, released, &rl);
        if (cause >= 0) {
            h->early_finish = cause + 1;
            h->n_resume = j + 1;
            break;
        }
    }
    h->n_prompt = n_prompt + h->n_resume;
}

int sched_submit(sched *s, const sched_request *r, sched_handle **hp, uh_err *err)
{
    if (hp) *hp = NULL;
    if (!r || !r->cb || !r->tokens || r->n_tokens <= 0)
        return err_setf(err, UH_EINVAL, "sched: request needs a prompt and a callback");
    if (r->n_tokens > s->n_ctx)
        return err_setf(err, UH_ECTXFULL, "context full: prompt of %d tokens does not fit n_ctx %d",
                        r->n_tokens, s->n_ctx);
    if (r->top_logprobs < 0 || r->top_logprobs > SCHED_TOP_LOGPROBS_MAX)
        return err_setf(err, UH_EINVAL, "sched: top_logprobs %d outside 0..%d", r->top_logprobs,
                        SCHED_TOP_LOGPROBS_MAX);
    for (int i = 0; i < r->n_tokens; i++)
        if (r->tokens[i] < 0 || r->tokens[i] >= s->n_vocab)
            return err_setf(err, UH_EINVAL, "sched: prompt token %d at %d out of range [0, %d)",
                            r->tokens[i], i, s->n_vocab);
    if (r->n_resume < 0 || (r->n_resume > 0 && !r->resume))
        return err_setf(err, UH_EINVAL, "sched: bad resume tokens");
    for (int i = 0; i < r->n_resume; i++)
        if (r->resume[i] < 0 || r->resume[i] >= s->n_vocab)
            return err_setf(err, UH_EINVAL, "sched: resume token %d at %d out of range [0, %d)",
                            r->resume[i], i, s->n_vocab);

    int rc = UH_OK;
    sched_handle *h = calloc(1, sizeof *h);
    if (!h) return err_setf(err, UH_ENOMEM, "sched: out of memory");
    atomic_init(&h->refs, hp ? 2 : 1);
    atomic_init(&h->cancel, 0);
    h->n_prompt = r->n_tokens;
    h->max_tokens = r->max_tokens;
    h->logprobs = r->logprobs;
    h->top_logprobs = r->top_logprobs;
    h->ignore_eog = r->ignore_eog;
    h->cb = r->cb;
    h->user = r->user;
    uh_detok_init(&h->dt, s->model);
    h->dt.at_start = r->at_start;
    if ((rc = stopstr_init(&h->stop, r->stops, r->n_stops, err))) goto fail;
    if ((rc = uh_sampler_new(&r->sampler, s->n_vocab, &h->smp, err))) goto fail;
    h->prompt = malloc(((size_t)r->n_tokens + (size_t)r->n_resume) * sizeof *h->prompt);
    if (!h->prompt) {
        rc = err_setf(err, UH_ENOMEM, "sched: out of memory");
        goto fail;
    }
    memcpy(h->prompt, r->tokens, (size_t)r->n_tokens * sizeof *h->prompt);
    if (r->n_resume > 0)
        memcpy(h->prompt + r->n_tokens, r->resume, (size_t)r->n_resume * sizeof *h->prompt);
    h->n_resume = r->n_resume;
    replay_resume(s, h, r->n_tokens);
    h->t_submit = clock_mono_s();

    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        rc = err_setf(err, UH_EINVAL, "sched: shutting down");
    } else if (s->n_queued >= s->p.queue_max) {
        s->stats.requests_rejected++;
        rc = err_setf(err, UH_ELIMIT, "sched: queue full (%d waiting)", s->n_queued);
    } else {
        if (s->q_tail) s->q_tail->next = h;
        else s->q_head = h;
        s->q_tail = h;
        s->n_queued++;
        s->stats.requests_submitted++;
        s->stats.queue_depth = s->n_queued;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc) goto fail;
    if (hp) *hp = h;
    return UH_OK;
fail:
    sched_req_clear(h);
    free(h);
    return rc;
}

void sched_stats(sched *s, sched_stats_t *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
}

/* ---- blocking convenience ---- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t done_cv;
    int done, oom, want_lp;
    int stream;    /* signal done_cv on every event, not just the last */
    sched_result *r;
    size_t tok_cap, step_cap, lp_cap; /* entries allocated in r's arrays */
    size_t text_cap;
} gen_wait;

static int append_text(gen_wait *w, const char *t, size_t n)
{
    sched_result *r = w->r;
    if (buf_grow_array((void **)&r->text, &w->text_cap, r->text_len + n + 1, 1)) return -1;
    if (n) memcpy(r->text + r->text_len, t, n);
    r->text_len += n;
    r->text[r->text_len] = 0;
    return 0;
}

static void gen_cb(void *user, const sched_event *ev)
{
    gen_wait *w = user;
    sched_result *r = w->r;
    pthread_mutex_lock(&w->mu);
    if (ev->type == SCHED_EV_TOKEN) {
        const size_t need = (size_t)r->n_tokens + 1;
        const int room =
            !buf_grow_array((void **)&r->tokens, &w->tok_cap, need, sizeof *r->tokens) &&
            !buf_grow_array((void **)&r->steps, &w->step_cap, need, sizeof *r->steps) &&
            (!w->want_lp ||
             !buf_grow_array((void **)&r->logprobs, &w->lp_cap, need, sizeof *r->logprobs));
        if (room) {
            r->tokens[r->n_tokens] = ev->token;
            r->steps[r->n_tokens] = ev->step;
            if (w->want_lp) r->logprobs[r->n_tokens] = ev->logprob;
            r->n_tokens++;
        } else {
            w->oom = 1;
        }
    }
    if (ev->text_len && append_text(w, ev->text, ev->text_len)) w->oom = 1;
    if (ev->type == SCHED_EV_DONE) {
        r->finish = ev->finish;
        r->cause = ev->cause;
        snprintf(r->error, sizeof r->error, "%s", ev->error);
        r->usage = ev->usage;
        r->timings = ev->timings;
        w->done = 1;
    }
    if (w->done || w->stream) pthread_cond_signal(&w->done_cv);
    pthread_mutex_unlock(&w->mu);
}

int sched_generate(sched *s, const sched_request *r, sched_result *out, uh_err *err)
{
    return sched_generate_stream(s, r, NULL, NULL, NULL, out, err);
}

/* Under w->mu, waits until done_cv is signalled or 20 ms have passed. */
static void wait_a_little(gen_wait *w)
{
    struct timespec ts = clock_mono_after(20);
    pthread_cond_timedwait(&w->done_cv, &w->mu, &ts);
}

int sched_generate_stream(sched *s, const sched_request *r, sched_text_cb on_text, void *user,
                          const volatile sig_atomic_t *interrupt, sched_result *out, uh_err *err)
{
    memset(out, 0, sizeof *out);
    gen_wait w = {.r = out, .want_lp = r->logprobs || r->top_logprobs > 0, .stream = !!on_text};
    pthread_mutex_init(&w.mu, NULL);
    clock_cond_init(&w.done_cv);
    sched_handle *h = NULL;
    char *chunk = NULL; /* text handed to on_text, copied out of the lock */
    size_t chunk_cap = 0, shown = 0;
    int rc = UH_OK, cancelled = 0;
    if (append_text(&w, "", 0)) {
        rc = err_setf(err, UH_ENOMEM, "sched: out of memory");
        goto fail;
    }
    sched_request req = *r;
    req.cb = gen_cb;
    req.user = &w;
    if ((rc = sched_submit(s, &req, &h, err))) goto fail;
    pthread_mutex_lock(&w.mu);
    for (;;) {
        if (on_text && out->text_len > shown) {
            const size_t n = out->text_len - shown;
            if (buf_grow_array((void **)&chunk, &chunk_cap, n, 1)) {
                w.oom = 1; /* the rest is not shown; the done event still comes */
                on_text = NULL;
                continue;
            }
            memcpy(chunk, out->text + shown, n);
            shown += n;
            pthread_mutex_unlock(&w.mu);
            on_text(user, chunk, n);
            pthread_mutex_lock(&w.mu);
            continue;
        }
        if (w.done) break;
        if (interrupt && *interrupt && !cancelled) {
            sched_cancel(h);
            cancelled = 1;
        }
        if (interrupt) wait_a_little(&w);
        else pthread_cond_wait(&w.done_cv, &w.mu);
    }
    pthread_mutex_unlock(&w.mu);
    sched_release(h);
    free(chunk);
    if (w.oom) {
        rc = err_setf(err, UH_ENOMEM, "sched: out of memory collecting the output");
        goto fail;
    }
    pthread_cond_destroy(&w.done_cv);
    pthread_mutex_destroy(&w.mu);
    return UH_OK;
fail:
    pthread_cond_destroy(&w.done_cv);
    pthread_mutex_destroy(&w.mu);
    sched_result_free(out);
    return rc;
}

void sched_result_free(sched_result *r)
{
    if (!r) return;
    free(r->tokens);
    free(r->text);
    free(r->logprobs);
    free(r->steps);
    memset(r, 0, sizeof *r);
}
