/* bench_sched.c - aggregate generation speed of the continuous-batching scheduler.
 *
 *   bench_sched MODEL.gguf [-n GEN] [-p PROMPT] [-t THREADS] [-s 1,2,4,8] [--kv f32|f16]
 *
 * For each stream count N: a fresh scheduler with N slots gets N greedy requests at once, each
 * with its own random prompt of PROMPT tokens (fixed seeds), generating GEN tokens each
 * (end-of-generation tokens ignored). It prints, per N, the aggregate generation tokens/s (the
 * sum of each stream's decode rate, first token to done, so prefill is left out), the end-to-end
 * rate (all tokens / wall time from submit to the last done), the mean time to first token, and
 * the ratio of the aggregate rate to the first stream count's. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/rng.h"
#include "kernels/qtypes.h"
#include "engine/sched.h"
#include "unhosted.h"

#define MAX_STREAMS 64

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n_left;
    double first[MAX_STREAMS], end[MAX_STREAMS], ttft[MAX_STREAMS];
    int n_tok[MAX_STREAMS];
} bench_state;

typedef struct {
    bench_state *st;
    int i;
} stream_ref;

static void on_event(void *user, const sched_event *ev)
{
    stream_ref *r = user;
    bench_state *st = r->st;
    const double t = clock_mono_s();
    pthread_mutex_lock(&st->mu);
    if (ev->type == SCHED_EV_TOKEN) {
        if (st->n_tok[r->i]++ == 0) st->first[r->i] = t;
    } else {
        st->end[r->i] = t;
        st->ttft[r->i] = ev->timings.queued + ev->timings.prefill;
        if (--st->n_left == 0) pthread_cond_signal(&st->cv);
    }
    pthread_mutex_unlock(&st->mu);
}

static int run_streams(const uh_model *m, int n, int n_gen, int n_prompt, int n_threads, int kv,
                       double *agg, double *e2e, double *ttft)
{
    uh_model_info info;
    uh_model_get_info(m, &info);
    sched_params p = sched_default_params();
    p.n_slots = n;
    p.n_ctx = n_prompt + n_gen + 8;
    p.n_batch = 512;
    p.prefill_chunk = 256;
    p.n_threads = n_threads;
    p.kv_type = kv;
    sched *s = NULL;
    uh_err err = {0};
    if (sched_new(m, &p, &s, &err)) {
        fprintf(stderr, "bench_sched: %s\n", err.msg);
        return -1;
    }
    static bench_state st;
    memset(&st, 0, sizeof st);
    pthread_mutex_init(&st.mu, NULL);
    pthread_cond_init(&st.cv, NULL);
    st.n_left = n;
    stream_ref refs[MAX_STREAMS];
    uh_token *prompts = malloc((size_t)n * (size_t)n_prompt * sizeof *prompts);
    if (!prompts) return -1;
    const double t0 = clock_mono_s();
    for (int i = 0; i < n; i++) {
        rng_state r;
        rng_seed(&r, 1000 + (uint64_t)i);
        uh_token *pt = prompts + (size_t)i * n_prompt;
        for (int j = 0; j < n_prompt; j++)
            pt[j] = 3 + (uh_token)(rng_next(&r) % (uint64_t)(info.n_vocab - 3));
        refs[i] = (stream_ref){&st, i};
        sched_request rq = {0};
        rq.tokens = pt;
        rq.n_tokens = n_prompt;
        rq.sampler = uh_sampler_default_params();
        rq.sampler.temp = 0;
        rq.max_tokens = n_gen;
        rq.ignore_eog = 1;
        rq.cb = on_event;
        rq.user = &refs[i];
        if (sched_submit(s, &rq, NULL, &err)) {
            fprintf(stderr, "bench_sched: %s\n", err.msg);
            return -1;
        }
    }
    pthread_mutex_lock(&st.mu);
    while (st.n_left > 0) pthread_cond_wait(&st.cv, &st.mu);
    pthread_mutex_unlock(&st.mu);
    sched_free(s);

    double last_end = 0, sum_ttft = 0;
    long total = 0;
    for (int i = 0; i < n; i++) {
        if (st.end[i] > last_end) last_end = st.end[i];
        sum_ttft += st.ttft[i];
        total += st.n_tok[i];
    }
    /* the streams decode side by side, so their decode rates add up */
    double rates = 0;
    for (int i = 0; i < n; i++) rates += (st.n_tok[i] - 1) / (st.end[i] - st.first[i]);
    *agg = rates;
    *e2e = (double)total / (last_end - t0);
    *ttft = sum_ttft / n;
    free(prompts);
    pthread_mutex_destroy(&st.mu);
    pthread_cond_destroy(&st.cv);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_sched MODEL.gguf [-n GEN] [-p PROMPT] [-t THREADS] "
                        "[-s 1,2,4,8] [--kv f32|f16]\n");
        return 2;
    }
    int n_gen = 64, n_prompt = 32, n_threads = 0, kv = UH_KV_F32;
    char streams[128] = "1,2,4,8";
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-n")) n_gen = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-p")) n_prompt = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-t")) n_threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-s")) snprintf(streams, sizeof streams, "%s", argv[i + 1]);
        else if (!strcmp(argv[i], "--kv")) kv = !strcmp(argv[i + 1], "f16") ? UH_KV_F16 : UH_KV_F32;
        else {
            fprintf(stderr, "bench_sched: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (n_gen < 2 || n_prompt < 1) return 2;
    qtypes_init();
    uh_model *m = NULL;
    uh_err err = {0};
    if (uh_model_load(argv[1], &m, &err)) {
        fprintf(stderr, "bench_sched: %s\n", err.msg);
        return 1;
    }
    printf("model=%s kernels=%s gen=%d prompt=%d threads=%d\n", argv[1], qtypes_kernel_name(),
           n_gen, n_prompt, n_threads);
    printf("%8s %14s %14s %10s %8s\n", "streams", "agg_gen_tps", "e2e_tps", "ttft_ms", "ratio");
    double base = 0;
    for (char *tok = strtok(streams, ","); tok; tok = strtok(NULL, ",")) {
        int n = atoi(tok);
        if (n < 1 || n > MAX_STREAMS) continue;
        double agg, e2e, ttft;
        if (run_streams(m, n, n_gen, n_prompt, n_threads, kv, &agg, &e2e, &ttft)) break;
        if (base == 0) base = agg;
        printf("%8d %14.1f %14.1f %10.1f %8.2f\n", n, agg, e2e, ttft * 1e3, agg / base);
        fflush(stdout);
    }
    uh_model_free(m);
    return 0;
}
