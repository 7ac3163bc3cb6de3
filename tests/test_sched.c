/* test_sched.c - the continuous-batching scheduler: every request produces exactly what it
 * produces alone (greedy and seeded sampling, at once or staggered, with long prompts prefilled
 * in chunks between decode steps), cancellation frees a slot for a waiting request, a full queue
 * refuses, shutdown finishes or cancels what is in flight, stop strings / max_tokens / context
 * end finish with the right reason and cause, a conversation's next turn reuses its cached prefix,
 * and the CLI's one-slot streamed path does all of this too. */
#include <pthread.h>
#include <string.h>

#include "base/rng.h"
#include "check.h"
#include "kernels/qtypes.h"
#include "engine/sched.h"
#include "engine/session.h"
#include "unhosted.h"

#define MAX_GEN 1024

static uh_model *load(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", t_testdata(), name);
    uh_model *m = NULL;
    uh_err err = {0};
    if (uh_model_load(path, &m, &err)) printf("  cannot load %s: %s\n", path, err.msg);
    return m;
}

/* n prompt tokens from a seed: ids in [3, n_vocab), clear of BOS/EOS/UNK */
static void rand_prompt(const uh_model *m, uint64_t seed, uh_token *out, int n)
{
    uh_model_info info;
    uh_model_get_info(m, &info);
    rng_state r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) out[i] = 3 + (uh_token)(rng_next(&r) % (uint64_t)(info.n_vocab - 3));
}

static int tokens_of(const uh_model *m, const char *text, int add_special, uh_token *out, int cap)
{
    int n = 0;
    CHECK(uh_tokenize(m, text, strlen(text), add_special, 0, out, cap, &n, NULL) == 0);
    return n;
}

static int text_prompt(const uh_model *m, const char *text, uh_token *out, int cap)
{
    return tokens_of(m, text, 1, out, cap);
}

static uh_sampler_params greedy(void)
{
    uh_sampler_params sp = uh_sampler_default_params();
    sp.temp = 0;
    return sp;
}

/* What the request produces alone: the session path (one sequence, whole prompt, then one token
 * at a time). End-of-generation tokens end it and are not returned. */
static int alone(const uh_model *m, int n_ctx, const uh_token *p, int n, const uh_sampler_params *sp,
                 int max_tokens, int ignore_eog, uh_token *out)
{
    uh_ctx_params cp = uh_ctx_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = 2;
    const uh_sampler_params g = greedy();
    if (!sp) sp = &g;
    session *s = NULL;
    int n_out = 0;
    if (session_new(m, &cp, sp, &s, NULL)) return -1;
    if (session_feed(s, p, n, NULL, NULL) == 0) {
        while (n_out < MAX_GEN && (max_tokens <= 0 || n_out < max_tokens)) {
            uh_token t = session_sample(s);
            if (!ignore_eog && uh_token_is_eog(m, t)) break;
            out[n_out++] = t;
            if (session_append(s, t, NULL)) break;
        }
    }
    session_free(s);
    return n_out;
}

static int same_tokens(const uh_token *a, int na, const uh_token *b, int nb)
{
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

/* ---- an asynchronous collector ---- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uh_token toks[MAX_GEN];
    uint64_t steps[MAX_GEN];
    int n;
    int done, n_done;
    enum sched_finish finish;
    sched_usage usage;
    float top0_lp, lp0;
    int n_top0;
} coll;

static void coll_init(coll *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
}

static void coll_fini(coll *c)
{
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
}

static void coll_cb(void *user, const sched_event *ev)
{
    coll *c = user;
    pthread_mutex_lock(&c->mu);
    if (ev->type == SCHED_EV_TOKEN && c->n < MAX_GEN) {
        if (c->n == 0) {
            c->lp0 = ev->logprob;
            c->n_top0 = ev->n_top;
            c->top0_lp = ev->n_top > 0 ? ev->top[0].logprob : 1;
        }
        c->toks[c->n] = ev->token;
        c->steps[c->n++] = ev->step;
    } else if (ev->type == SCHED_EV_DONE) {
        c->done = 1;
        c->n_done++;
        c->finish = ev->finish;
        c->usage = ev->usage;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void coll_wait(coll *c, int n_tokens)
{
    pthread_mutex_lock(&c->mu);
    while (!c->done && (n_tokens <= 0 || c->n < n_tokens)) pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
}

static sched_request req_of(const uh_token *p, int n, int max_tokens, coll *c)
{
    sched_request r = {0};
    r.tokens = p;
    r.n_tokens = n;
    r.sampler = greedy();
    r.max_tokens = max_tokens;
    r.cb = coll_cb;
    r.user = c;
    return r;
}

static sched *new_sched(const uh_model *m, int n_slots, int n_ctx, int prefill_chunk,
                        int queue_max)
{
    sched_params p = sched_default_params();
    p.n_slots = n_slots;
    p.n_ctx = n_ctx;
    p.n_batch = 256;
    p.prefill_chunk = prefill_chunk;
    p.queue_max = queue_max;
    p.n_threads = 2;
    sched *s = NULL;
    uh_err err = {0};
    if (sched_new(m, &p, &s, &err)) printf("  sched_new: %s\n", err.msg);
    return s;
}

/* ---- cases ---- */

/* One greedy request: same tokens and text as the session path, on two architectures. */
static void test_greedy_equals_alone(void)
{
    const char *models[] = {"stories260K.gguf", "qwen2-s1-Q8_0.gguf"};
    for (int k = 0; k < 2; k++) {
        uh_model *m = load(models[k]);
        if (!m) {
            CHECK(0);
            continue;
        }
        uh_token p[64], ref[MAX_GEN];
        int n = text_prompt(m, "Once upon a time, there was a little", p, 64);
        int n_ref = alone(m, 256, p, n, NULL, 40, 0, ref);
        sched *s = new_sched(m, 2, 256, 16, 8);
        sched_request r = req_of(p, n, 40, NULL);
        sched_result res;
        uh_err err = {0};
        CHECK(s && sched_generate(s, &r, &res, &err) == 0);
        CHECKF(same_tokens(res.tokens, res.n_tokens, ref, n_ref), "%s: %d vs %d tokens", models[k],
               res.n_tokens, n_ref);
        CHECK(res.usage.n_prompt == n && res.usage.n_cached == 0);
        /* the text is the streamed detokenization of the tokens */
        uh_detok dt;
        uh_detok_init(&dt, m);
        dt.at_start = 0; /* a continuation, as the request says */
        char want[8192] = "", piece[512];
        for (int i = 0; i < n_ref; i++) {
            uh_detok_push(&dt, ref[i], piece, sizeof piece);
            strncat(want, piece, sizeof want - strlen(want) - 1);
        }
        CHECKF(res.text && !strcmp(res.text, want), "[%s] vs [%s]", res.text, want);
        sched_result_free(&res);
        sched_free(s);
        uh_model_free(m);
    }
}

/* 8 greedy requests with different prompts, submitted at once, then staggered. */
static void test_concurrent_greedy(void)
{
    uh_model *m = load("stories260K.gguf");
    CHECK(m);
    if (!m) return;
    enum { N = 8, GEN = 48 };
    static uh_token p[N][80], ref[N][MAX_GEN];
    int np[N], nref[N];
    for (int i = 0; i < N; i++) {
        np[i] = 5 + 9 * i;
        rand_prompt(m, 100 + (uint64_t)i, p[i], np[i]);
        nref[i] = alone(m, 256, p[i], np[i], NULL, GEN, 0, ref[i]);
    }
    for (int stagger = 0; stagger < 2; stagger++) {
        sched *s = new_sched(m, N, 256, 32, 16);
        static coll c[N];
        sched_handle *h[N] = {0};
        for (int i = 0; i < N; i++) {
            coll_init(&c[i]);
            sched_request r = req_of(p[i], np[i], GEN, &c[i]);
            CHECK(s && sched_submit(s, &r, &h[i], NULL) == 0);
            if (stagger) coll_wait(&c[i], 3);
        }
        for (int i = 0; i < N; i++) {
            coll_wait(&c[i], 0);
            CHECKF(same_tokens(c[i].toks, c[i].n, ref[i], nref[i]), "stagger %d request %d", stagger,
                   i);
            CHECK(c[i].n_done == 1);
            sched_release(h[i]);
        }
        sched_stats_t st;
        sched_stats(s, &st);
        CHECK(st.requests_submitted == N && st.requests_finished[SCHED_FINISH_LENGTH] +
                                                    st.requests_finished[SCHED_FINISH_STOP] == N);
        CHECK(st.ttft.n == N && st.ttft.count[SCHED_N_BUCKETS - 1] == N && st.slots_in_use == 0);
        sched_free(s);
        for (int i = 0; i < N; i++) coll_fini(&c[i]);
    }
    uh_model_free(m);
}

/* A seeded sampler gives the same output whatever runs beside it. */
static void test_seeded_sampling(void)
{
    uh_model *m = load("stories260K.gguf");
    CHECK(m);
    if (!m) return;
    enum { N = 4, GEN = 40 };
    static uh_token p[N][32], ref[N][MAX_GEN];
    uh_sampler_params sp[N];
    int nref[N];
    for (int i = 0; i < N; i++) {
        rand_prompt(m, 7 + (uint64_t)i, p[i], 8 + i);
        sp[i] = uh_sampler_default_params();
        sp[i].temp = 1.0f;
        sp[i].seed = 1234 + (uint64_t)i;
        sp[i].repeat_penalty = 1.1f;
        nref[i] = alone(m, 256, p[i], 8 + i, &sp[i], GEN, 0, ref[i]);
    }
    sched *s = new_sched(m, 3, 256, 8, 8); /* fewer slots than requests: some wait */
    static coll c[N];
    for (int i = 0; i < N; i++) {
        coll_init(&c[i]);
        sched_request r = req_of(p[i], 8 + i, GEN, &c[i]);
        r.sampler = sp[i];
        CHECK(s && sched_submit(s, &r, NULL, NULL) == 0);
    }
    for (int i = 0; i < N; i++) {
        coll_wait(&c[i], 0);
        CHECKF(same_tokens(c[i].toks, c[i].n, ref[i], nref[i]), "request %d", i);
        coll_fini(&c[i]);
    }
    sched_free(s);
    uh_model_free(m);
}

/* A 400-token prompt prefilled in chunks of 64 while another stream keeps getting a token every
 * step; the long request still computes what it computes alone. */
static void test_long_prompt_interleaves(void)
{
    uh_model *m = load("stories260K.gguf");
    CHECK(m);
    if (!m) return;
    static uh_token pa[8], pb[400], refb[MAX_GEN];
    rand_prompt(m, 1, pa, 8);
    rand_prompt(m, 2, pb, 400);
    int nrefb = alone(m, 512, pb, 400, NULL, 10, 0, refb);
    sched *s = new_sched(m, 2, 512, 64, 8);
    coll a, b;
    coll_init(&a);
    coll_init(&b);
    sched_request ra = req_of(pa, 8, 200, &a);
    ra.ignore_eog = 1;
    CHECK(s && sched_submit(s, &ra, NULL, NULL) == 0);
    coll_wait(&a, 2);
    sched_request rb = req_of(pb, 400, 10, &b);
    CHECK(sched_submit(s, &rb, NULL, NULL) == 0);
    coll_wait(&b, 0);
    coll_wait(&a, 0);
    CHECK(same_tokens(b.toks, b.n, refb, nrefb));
    CHECK(b.n > 0);
    /* b's prompt needs at least 400 / 64 steps; a got a token in each of the 6 before b's first */
    const uint64_t sb = b.n > 0 ? b.steps[0] : 0;
    int a_during = 0;
    for (int i = 0; i < a.n; i++)
        if (a.steps[i] + 6 >= sb && a.steps[i] < sb) a_during++;
    CHECKF(a_during == 6, "a got %d tokens in the 6 steps before b's first (step %llu)", a_during,
           (unsigned long long)sb);
    CHECK(a.n == 200 && a.finish == SCHED_FINISH_LENGTH);
    sched_free(s);
    coll_fini(&a);
    coll_fini(&b);
    uh_model_free(m);
}

/* One slot, a queue of one: a third request is refused; cancelling the running one lets the
 * waiting one run (and produce what it produces alone). */
static void test_cancel_and_queue_full(void)
{
    uh_model *m = load("stories260K.gguf");
    CHECK(m);
    if (!m) return;
    uh_token pa[8], pb[8], ref[MAX_GEN];
    rand_prompt(m, 11, pa, 8);
    rand_prompt(m, 12, pb, 8);
    int nref = alone(m, 512, pb, 8, NULL, 5, 0, ref);
    sched *s = new_sched(m, 1, 512, 64, 1);
    coll a, b, c;
    coll_init(&a);
    coll_init(&b);
    coll_init(&c);
    sched_handle *ha = NULL, *hb = NULL;
    sched_request ra = req_of(pa, 8, 0, &a);
    ra.ignore_eog = 1;
    CHECK(s && sched_submit(s, &ra, &ha, NULL) == 0);
    coll_wait(&a, 2);
    sched_request rb = req_of(pb, 8, 5, &b), rc = req_of(pb, 8, 5, &c);
    CHECK(sched_submit(s, &rb, &hb, NULL) == 0);
    uh_err err = {0};
    CHECK(sched_submit(s, &rc, NULL, &err) == UH_ELIMIT && err.code == UH_ELIMIT);
    sched_stats_t st;
    sched_stats(s, &st);
    CHECK(st.requests_rejected == 1 && st.slots_in_use == 1);
    sched_cancel(ha);
    coll_wait(&a, 0);
    CHECK(a.finish == SCHED_FINISH_CANCELLED && a.usage.n_completion < 500);
    coll_wait(&b, 0);
    CHECK(b.finish == SCHED_FINISH_LENGTH && same_tokens(b.toks, b.n, ref, nref));
    sched_cancel(ha); /* after the end: no effect */
    sched_release(ha);
    sched_release(hb);
    CHECK(c.n_done == 0);
    sched_free(s);
    coll_fini(&a);
    coll_fini(&b);
    coll_fini(&c);
    uh_model_free(m);
}

/* Shutdown with requests running and waiting: cancel them all, or let them all finish. */
static void test_shutdown_in_flight(void)
{
    uh_model *m = load("stories260K.gguf");
    CHECK(m);
    if (!m) return;
    enum { N = 5 };
    uh_token p[N][8];
    for (int cancel = 1; cancel >= 0; cancel--) {
        sched *s = new_sched(m, 3, 512, 64, 8);
        static coll c[N];
        for (int i = 0; i < N; i++) {
            coll_init(&c[i]);
            rand_prompt(m, 20 + (uint64_t)i, p[i], 8);
            sched_request r = req_of(p[i], 8, cancel ? 0 : 10, &c[i]);
            r.ignore_eog = 1;
            CHECK(s && sched_submit(s, &r, NULL, NULL) == 0);
        }
        coll_wait(&c[0], 2);
        sched_shutdown(s, cancel);
        uh_err err = {0};
        sched_request late = req_of(p[0], 8, 1, &c[0]);
        CHECK(sched_submit(s, &late, NULL, &err) == UH_EINVAL);
        for (int i = 0; i < N; i++) {
            CHECK(c[i].n_done == 1); /* delivered before shutdown returned */
            if (cancel) CHECK(c[i].finish == SCHED_FINISH_CANCELLED);
            else CHECK(c[i].finish == SCHED_FINISH_LENGTH && c[i].n == 10);
        }
        sched_shutdown(s, 1); /* idempotent */
        sched_free(s);
        for (int i = 0; i < N; i++) coll_fini(&c[i]);
    }
    uh_model_free(m);
}

/* Stop strings cut the text at their first occurrence; max_tokens and the context end finish
 * with "length". */
static void test_stop_conditions(void)
{
    uh_model *m = load("stories260K.gguf");
    CHECK(m);
    if (!m) return;
    uh_token p[64];
    int n = text_prompt(m, "Lily went to the park", p, 64);
    sched *s = new_sched(m, 2, 64, 32, 8);
    sched_request r = req_of(p, n, 30, NULL);
    sched_result full, cut, shortr, ctxend;
    CHECK(s && sched_generate(s, &r, &full, NULL) == 0);
    CHECK(full.text_len > 20);
    char stop[8] = "";
    if (full.text_len > 20) memcpy(stop, full.text + full.text_len / 2, 4);
    const char *stops[] = {stop};
    r.stops = stops;
    r.n_stops = 1;
    CHECK(sched_generate(s, &r, &cut, NULL) == 0);
    const char *at = strstr(full.text, stop);
    CHECK(at && cut.finish == SCHED_FINISH_STOP && cut.text_len == (size_t)(at - full.text) &&
          !strncmp(cut.text, full.text, cut.text_len));
    CHECK(cut.cause == SCHED_CAUSE_STOP_STRING &&
          !strcmp(sched_cause_name(cut.cause), "stop string"));

    r.stops = NULL;
    r.n_stops = 0;
    r.max_tokens = 7;
    CHECK(sched_generate(s, &r, &shortr, NULL) == 0);
    CHECK(shortr.finish == SCHED_FINISH_LENGTH && shortr.n_tokens == 7 &&
          shortr.usage.n_completion == 7 && shortr.cause == SCHED_CAUSE_MAX_TOKENS);

    /* 60 prompt tokens in 64 positions: tokens sampled at 60..64, the last fills no cell */
    uh_token lp[60], ref[MAX_GEN];
    rand_prompt(m, 5, lp, 60);
    int nref = alone(m, 64, lp, 60, NULL, 0, 1, ref);
    sched_request rl = req_of(lp, 60, 0, NULL);
    rl.ignore_eog = 1;
    CHECK(sched_generate(s, &rl, &ctxend, NULL) == 0);
    CHECK(ctxend.finish == SCHED_FINISH_LENGTH && ctxend.n_tokens == 5 &&
          same_tokens(ctxend.tokens, ctxend.n_tokens, ref, nref));
    CHECK(ctxend.cause == SCHED_CAUSE_CONTEXT_END &&
          !strcmp(sched_cause_name(ctxend.cause), "context full"));
    /* an end-of-generation token ends it with stop, cause end of text, and no token event */
    uh_token eos = uh_token_eos(m);
    sched_request re = req_of(p, n, 0, NULL);
    re.resume = &eos;
    re.n_resume = 1;
    sched_result eog;
    CHECK(sched_generate(s, &re, &eog, NULL) == 0);
    CHECK(eog.finish == SCHED_FINISH_STOP && eog.cause == SCHED_CAUSE_EOG && eog.n_tokens == 0 &&
          eog.usage.n_completion == 1);
    sched_result_free(&eog);
    uh_token toolong[65] = {0};
    uh_err err = {0};
    sched_request rt = req_of(toolong, 65, 1, NULL);
    sched_result none;
    CHECK(sched_generate(s, &rt, &none, &err) == UH_ECTXFULL && none.text == NULL);
    sched_result_free(&full);
    sched_result_free(&cut);
    sched_result_free(&shortr);
    sched_result_free(&ctxend);
    sched_free(s);
    uh_model_free(m);
}

/* ---- the CLI's path: one slot, streamed ---- */

typedef struct {
    char text[8192];
    size_t len;
    int n_chunks;
} stream_buf;

static void stream_text(void *user, const char *text, size_t len)
{
    stream_buf *b = user;
    if (b->len + len < sizeof b->text) memcpy(b->text + b->len, text, len);
    b->len += len;
    b->n_chunks++;
}

/* What run and chat do: a one-slot scheduler, text streamed to the caller as it comes. Seeded
 * output equals the session path; a follow-up turn evaluates only its new tokens and still
 * computes what a fresh evaluation computes; an interrupt flag cancels. */
static void test_solo_stream(void)
{
    uh_model *m = load("stories260K.gguf");
    CHECK(m);
    if (!m) return;
    uh_ctx_params cp = uh_ctx_default_params();
    cp.n_ctx = 256;
    cp.n_threads = 2;
    cp.kv_type = UH_KV_F16;
    sched_params sp = sched_solo_params(&cp);
    CHECK(sp.n_slots == 1 && sp.n_ctx == 256 && sp.prefill_chunk == sp.n_batch &&
          sp.n_batch == cp.n_batch_max && sp.kv_type == UH_KV_F16 && sp.n_threads == 2);
    cp.kv_type = UH_KV_F32;
    sp = sched_solo_params(&cp);
    sched *s = NULL;
    CHECK(sched_new(m, &sp, &s, NULL) == 0 && sched_n_ctx(s) == 256);
    if (!s) goto out;

    static uh_token p[64], turn2[256], ref[MAX_GEN];
    const int n = text_prompt(m, "Once upon a time", p, 64);
    uh_sampler_params smp = uh_sampler_default_params();
    smp.temp = 0.8f;
    smp.seed = 1;
    sched_request r = {.tokens = p, .n_tokens = n, .sampler = smp, .max_tokens = 40};
    static stream_buf b;
    sched_result a;
    CHECK(sched_generate_stream(s, &r, stream_text, &b, NULL, &a, NULL) == 0);
    CHECK(a.cause == SCHED_CAUSE_MAX_TOKENS && a.n_tokens == 40);
    /* how many pieces the text came in depends on thread timing (a fast model can finish
     * before the caller wakes up); that it all came, in order, does not */
    CHECK(b.n_chunks >= 1 && b.len == a.text_len && b.len < sizeof b.text &&
          !memcmp(b.text, a.text, a.text_len));
    int nref = alone(m, 256, p, n, &smp, 40, 0, ref);
    CHECK(same_tokens(a.tokens, a.n_tokens, ref, nref));

    /* the next turn: everything the slot evaluated is reused (the last sampled token was never
     * evaluated), only the new text is prefilled */
    int n2 = n;
    memcpy(turn2, p, (size_t)n * sizeof *p);
    memcpy(turn2 + n2, a.tokens, (size_t)a.n_tokens * sizeof *turn2);
    n2 += a.n_tokens;
    n2 += tokens_of(m, " Then they went home.", 0, turn2 + n2, 256 - n2);
    sched_request r2 = {.tokens = turn2, .n_tokens = n2, .sampler = smp, .max_tokens = 30};
    sched_result c;
    CHECK(sched_generate_stream(s, &r2, NULL, NULL, NULL, &c, NULL) == 0);
    CHECKF(c.usage.n_cached == n + a.n_tokens - 1, "cached %d, expected %d", c.usage.n_cached,
           n + a.n_tokens - 1);
    nref = alone(m, 256, turn2, n2, &smp, 30, 0, ref);
    CHECK(same_tokens(c.tokens, c.n_tokens, ref, nref));
    sched_stats_t st;
    sched_stats(s, &st);
    CHECK(st.cached_tokens == (uint64_t)c.usage.n_cached);

    /* an interrupt raised before anything came back: cancelled long before the context ends */
    volatile sig_atomic_t stop = 1;
    sched_request r3 = {.tokens = p, .n_tokens = n, .sampler = smp, .ignore_eog = 1};
    sched_result d;
    CHECK(sched_generate_stream(s, &r3, stream_text, &b, &stop, &d, NULL) == 0);
    CHECK(d.finish == SCHED_FINISH_CANCELLED && d.cause == SCHED_CAUSE_CANCELLED &&
          d.n_tokens < 256 - n);
    sched_result_free(&a);
    sched_result_free(&c);
    sched_result_free(&d);
    sched_free(s);
out:
    uh_model_free(m);
}

/* A second turn (first prompt + answer + new text) reuses the first turn's slot even after
 * unrelated requests ran, and computes what a fresh scheduler computes. */
static void test_prefix_reuse(void)
{
    uh_model *m = load("stories260K.gguf");
    CHECK(m);
    if (!m) return;
    static uh_token p1[64], other[16], turn2[256], ref[MAX_GEN];
    int n1 = text_prompt(m, "Tom had a red ball. One day", p1, 64);
    rand_prompt(m, 9, other, 16);
    sched *s = new_sched(m, 2, 256, 32, 8);
    sched_request r = req_of(p1, n1, 20, NULL);
    sched_result a, o, b, fresh_r;
    CHECK(s && sched_generate(s, &r, &a, NULL) == 0);
    /* the unrelated prompt twice: its second run goes back to its own slot (longest prefix), not
     * to the least recently used one that holds the conversation */
    sched_request ro = req_of(other, 16, 5, NULL);
    CHECK(sched_generate(s, &ro, &o, NULL) == 0);
    sched_result_free(&o);
    CHECK(sched_generate(s, &ro, &o, NULL) == 0);
    CHECK(o.usage.n_cached == 15);
    int n2 = 0;
    memcpy(turn2, p1, (size_t)n1 * sizeof *p1);
    n2 = n1;
    memcpy(turn2 + n2, a.tokens, (size_t)a.n_tokens * sizeof *turn2);
    n2 += a.n_tokens;
    n2 += tokens_of(m, " Then Tom said", 0, turn2 + n2, 256 - n2);
    sched_request r2 = req_of(turn2, n2, 20, NULL);
    r2.logprobs = 1;
    CHECK(sched_generate(s, &r2, &b, NULL) == 0);
    CHECKF(b.usage.n_cached >= n1 + a.n_tokens - 1, "cached %d of %d + %d", b.usage.n_cached, n1,
           a.n_tokens);
    sched *fresh = new_sched(m, 2, 256, 32, 8);
    CHECK(fresh && sched_generate(fresh, &r2, &fresh_r, NULL) == 0);
    CHECK(fresh_r.usage.n_cached == 0);
    CHECK(same_tokens(b.tokens, b.n_tokens, fresh_r.tokens, fresh_r.n_tokens));
    int nref = alone(m, 256, turn2, n2, NULL, 20, 0, ref);
    CHECK(same_tokens(b.tokens, b.n_tokens, ref, nref));
    for (int i = 0; i < b.n_tokens; i++) CHECK(b.logprobs[i] <= 0 && b.logprobs[i] > -30);
    sched_stats_t st;
    sched_stats(s, &st);
    CHECK(st.cached_tokens == (uint64_t)b.usage.n_cached + 15);
    sched_result_free(&a);
    sched_result_free(&o);
    sched_result_free(&b);
    sched_result_free(&fresh_r);
    sched_free(s);
    sched_free(fresh);
    uh_model_free(m);
}

/* top_logprobs: best first, the greedy token is the best, its logprob is the event's. */
static void test_logprobs(void)
{
    uh_model *m = load("stories260K.gguf");
    CHECK(m);
    if (!m) return;
    uh_token p[8];
    rand_prompt(m, 3, p, 8);
    sched *s = new_sched(m, 1, 128, 32, 8);
    coll c;
    coll_init(&c);
    sched_request r = req_of(p, 8, 3, &c);
    r.top_logprobs = 5;
    CHECK(s && sched_submit(s, &r, NULL, NULL) == 0);
    coll_wait(&c, 0);
    CHECK(c.n_top0 == 5 && c.lp0 == c.top0_lp && c.lp0 <= 0);
    sched_free(s);
    coll_fini(&c);
    uh_model_free(m);
}

/* ---- resume (failover) ---- */

/* Every event of a run: token ids, the text released by each, the finish reason. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uh_token toks[MAX_GEN];
    int index[MAX_GEN];
    size_t text_end[MAX_GEN]; /* bytes of text after token event i */
    int n;
    char text[8192];
    size_t text_len;
    int done;
    enum sched_finish finish;
    sched_usage usage;
} evlog;

static void evlog_cb(void *user, const sched_event *ev)
{
    evlog *l = user;
    pthread_mutex_lock(&l->mu);
    if (ev->text_len && l->text_len + ev->text_len < sizeof l->text) {
        memcpy(l->text + l->text_len, ev->text, ev->text_len);
        l->text_len += ev->text_len;
    }
    if (ev->type == SCHED_EV_TOKEN && l->n < MAX_GEN) {
        l->toks[l->n] = ev->token;
        l->index[l->n] = ev->index;
        l->text_end[l->n++] = l->text_len;
    } else if (ev->type == SCHED_EV_DONE) {
        l->done = 1;
        l->finish = ev->finish;
        l->usage = ev->usage;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
}

/* Submits r with the first k tokens of a run as resume tokens and waits for the done event. */
static int evlog_run(sched *s, sched_request r, const uh_token *resume, int k, evlog *l)
{
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    r.resume = resume;
    r.n_resume = k;
    r.cb = evlog_cb;
    r.user = l;
    int rc = sched_submit(s, &r, NULL, NULL);
    pthread_mutex_lock(&l->mu);
    while (rc == 0 && !l->done) pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    return rc;
}

/* A run cut after k tokens and resumed elsewhere with those k tokens: the text of the first
 * run's events up to k followed by the resumed run's events is the uninterrupted text, with
 * the same tokens, indices and finish. */
static int resume_matches(sched *s, const sched_request *r, const evlog *full, int k)
{
    static evlog part;
    if (evlog_run(s, *r, full->toks, k, &part) != 0) return 0;
    size_t before = k > 0 ? full->text_end[k - 1] : 0;
    int ok = part.finish == full->finish && k + part.n == full->n &&
             before + part.text_len == full->text_len &&
             memcmp(full->text + before, part.text, part.text_len) == 0 &&
             part.usage.n_completion == full->usage.n_completion &&
             part.usage.n_prompt == full->usage.n_prompt;
    for (int i = 0; ok && i < part.n; i++)
        ok = part.toks[i] == full->toks[k + i] && part.index[i] == k + i;
    if (!ok)
        printf("  resume at %d of %d: finish %d/%d, %d+%d tokens, text %zu+%zu of %zu\n", k,
               full->n, part.finish, full->finish, k, part.n, before, part.text_len,
               full->text_len);
    return ok;
}

/* Resuming after any number of tokens (0, inside a character held back by the detokenizer,
 * inside a stop string's possible start, at the last one) continues the uninterrupted run
 * exactly; with a stop string and with max_tokens; an end-of-generation resume token
 * finishes at once. */
static void test_resume(void)
{
    uh_model *m = load("stories260K.gguf");
    CHECK(m);
    if (!m) return;
    uh_token p[64];
    int n = text_prompt(m, "Lily went to the park", p, 64);
    sched *s = new_sched(m, 2, 256, 32, 8);
    CHECK(s);
    if (!s) goto out;
    static evlog full;
    sched_request r = req_of(p, n, 40, NULL);
    r.sampler.repeat_penalty = 1.3f; /* resume tokens must enter the penalty history */
    CHECK(evlog_run(s, r, NULL, 0, &full) == 0 && full.n == 40 &&
          full.finish == SCHED_FINISH_LENGTH);
    int held = 0; /* token events that released no text */
    for (int k = 0; k <= full.n; k++) {
        CHECKF(resume_matches(s, &r, &full, k), "k=%d", k);
        if (k < full.n && full.text_end[k] == (k ? full.text_end[k - 1] : 0)) held++;
    }

    /* a stop string from the middle of the text: matching spans the cut */
    char stop[8] = "";
    if (full.text_len > 30) memcpy(stop, full.text + full.text_len / 2, 5);
    const char *stops[] = {stop};
    r.stops = stops;
    r.n_stops = 1;
    static evlog cut;
    CHECK(evlog_run(s, r, NULL, 0, &cut) == 0 && cut.finish == SCHED_FINISH_STOP);
    for (int k = 0; k <= cut.n; k++) {
        CHECKF(resume_matches(s, &r, &cut, k), "stop k=%d", k);
        if (k < cut.n && cut.text_end[k] == (k ? cut.text_end[k - 1] : 0)) held++;
    }
    CHECKF(held > 0, "no cut inside held-back text was tried");

    /* an end-of-generation resume token: done at once, with stop */
    static evlog eog;
    uh_token eos[2] = {full.toks[0], uh_token_eos(m)};
    r.stops = NULL;
    r.n_stops = 0;
    CHECK(evlog_run(s, r, eos, 2, &eog) == 0 && eog.n == 0 && eog.finish == SCHED_FINISH_STOP &&
          eog.usage.n_completion == 2);
    /* resume tokens out of the vocabulary are refused */
    uh_token bad = 1 << 30;
    sched_request rb = r;
    rb.resume = &bad;
    rb.n_resume = 1;
    rb.cb = evlog_cb;
    rb.user = &eog;
    CHECK(sched_submit(s, &rb, NULL, NULL) == UH_EINVAL);
    sched_free(s);
out:
    uh_model_free(m);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    qtypes_init();
    T_RUN(test_greedy_equals_alone);
    T_RUN(test_concurrent_greedy);
    T_RUN(test_seeded_sampling);
    T_RUN(test_long_prompt_interleaves);
    T_RUN(test_cancel_and_queue_full);
    T_RUN(test_shutdown_in_flight);
    T_RUN(test_stop_conditions);
    T_RUN(test_prefix_reuse);
    T_RUN(test_logprobs);
    T_RUN(test_resume);
    T_RUN(test_solo_stream);
    return t_exit();
}
