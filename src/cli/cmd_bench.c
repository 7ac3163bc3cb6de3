/* cmd_bench.c - `unhosted bench MODEL.gguf`: prompt and generation speed, and how close decoding
 * comes to the memory-bandwidth roofline, all measured in one run.
 *
 * Decoding one token reads every weight once (and the token's embedding row), so its speed limit
 * is bytes_per_token / bandwidth. The command measures tokens/s over several repetitions (each:
 * a fresh KV cache, the prompt as one batch of random token ids, then one token at a time), then
 * the bandwidth a multi-threaded streaming read of a buffer much larger than the last-level
 * cache achieves on the same machine, and reports
 *     decode_efficiency = tg_tps * bytes_per_token / bandwidth
 * (1.0 = decoding at the speed of reading the weights). -d puts the measured tokens after a
 * context already holding that many positions, to show the cost of attention at depth. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/rng.h"
#include "base/threadpool.h"
#include "cli/cli.h"
#include "cli/cli_util.h"
#include "models/resolve.h"
#include "engine/model.h"
#include "kernels/qtypes.h"
#include "kernels/quant_impl.h"
#include "unhosted.h"

#define BENCH_MAX_REPS 100
#define BENCH_BW_RUNS 3 /* per repetition */

static void bench_usage(FILE *f)
{
    fprintf(f, "usage: unhosted bench MODEL.gguf [options]\n"
               "  -p N          prompt tokens, evaluated as one batch (default 512; 0 = skip)\n"
               "  -n N          tokens generated one at a time (default 128; 0 = skip)\n"
               "  -t N          threads (default: all online CPUs)\n"
               "  -r N          repetitions; figures are medians (default 3)\n"
               "  -d N          positions already in the context before the measured tokens\n"
               "                (default 0), to measure attention at depth\n"
               "  --kv f32|f16  KV cache type (default f32)\n"
               "  --json        one JSON object on stdout instead of the text report\n");
}

typedef struct {
    const char *model;
    long n_prompt, n_gen, n_threads, reps, depth;
    int kv_type;
    int json;
} bench_opts;

static int parse_bench(int argc, char **argv, bench_opts *o)
{
    const char *cmd = "bench";
    o->n_prompt = 512;
    o->n_gen = 128;
    o->reps = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        long *dst = NULL, lo = 0, hi = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bench_usage(stdout);
            return 1;
        } else if (!strcmp(a, "-p")) {
            dst = &o->n_prompt, lo = 0, hi = 65536;
        } else if (!strcmp(a, "-n")) {
            dst = &o->n_gen, lo = 0, hi = 1L << 20;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            dst = &o->n_threads, lo = 0, hi = 1024;
        } else if (!strcmp(a, "-r")) {
            dst = &o->reps, lo = 1, hi = BENCH_MAX_REPS;
        } else if (!strcmp(a, "-d") || !strcmp(a, "--depth")) {
            dst = &o->depth, lo = 0, hi = 1L << 20;
        } else if (!strcmp(a, "--kv")) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
            if (!strcmp(v, "f32")) o->kv_type = UH_KV_F32;
            else if (!strcmp(v, "f16")) o->kv_type = UH_KV_F16;
            else {
                cli_error(cmd, "invalid value '%s' for --kv", v);
                return 2;
            }
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (a[0] == '-' && a[1]) {
            cli_error(cmd, "unknown option %s (see --help)", a);
            return 2;
        } else if (!o->model) {
            o->model = a;
        } else {
            cli_error(cmd, "unexpected argument '%s'", a);
            return 2;
        }
        if (dst) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
            if (cli_parse_long(v, lo, hi, dst)) {
                cli_error(cmd, "invalid value '%s' for %s", v, a);
                return 2;
            }
        }
    }
    if (!o->model) {
        bench_usage(stderr);
        return 2;
    }
    return 0;
}

/* ---- statistics ---- */

typedef struct {
    double median, min, max, stddev;
} bench_stat;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static bench_stat stat_of(const double *v, int n)
{
    bench_stat s = {0, 0, 0, 0};
    if (n <= 0) return s;
    double sorted[BENCH_MAX_REPS], mean = 0, var = 0;
    memcpy(sorted, v, (size_t)n * sizeof *v);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_double);
    s.median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    s.min = sorted[0];
    s.max = sorted[n - 1];
    for (int i = 0; i < n; i++) mean += v[i] / n;
    for (int i = 0; i < n; i++) var += (v[i] - mean) * (v[i] - mean);
    s.stddev = n > 1 ? sqrt(var / (n - 1)) : 0;
    return s;
}

/* ---- memory bandwidth ---- */

typedef struct {
    const uint64_t *buf;
    size_t n;              /* words */
    uint64_t sink[1024];   /* per thread, so the reads cannot be optimised away */
} bw_job;

static void bw_worker(void *arg, int ith, int nth)
{
    bw_job *j = arg;
    size_t b = j->n / (size_t)nth * (size_t)ith, e = ith == nth - 1 ? j->n : b + j->n / (size_t)nth;
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    size_t i = b;
    for (; i + 4 <= e; i += 4) {
        a0 += j->buf[i];
        a1 += j->buf[i + 1];
        a2 += j->buf[i + 2];
        a3 += j->buf[i + 3];
    }
    for (; i < e; i++) a0 += j->buf[i];
    j->sink[ith & 1023] = a0 ^ a1 ^ a2 ^ a3;
}

/* A buffer at least 8x the last-level cache (so reads come from memory), written once so its
 * pages exist. NULL when memory runs out. */
static bw_job *bw_new(void)
{
    long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (llc <= 0) llc = sysconf(_SC_LEVEL2_CACHE_SIZE);
    size_t size = (size_t)(llc > 0 ? llc : 32L << 20) * 8;
    if (size < (256u << 20)) size = 256u << 20;
    if (size > (1024u << 20)) size = 1024u << 20;
    bw_job *j = calloc(1, sizeof *j);
    uint64_t *buf = malloc(size);
    if (!j || !buf) {
        free(j);
        free(buf);
        return NULL;
    }
    for (size_t i = 0; i < size / 8; i++) buf[i] = i * 0x9e3779b97f4a7c15ull;
    j->buf = buf;
    j->n = size / 8;
    return j;
}

static void bw_free(bw_job *j)
{
    if (!j) return;
    free((void *)j->buf);
    free(j);
}

/* Best of BENCH_BW_RUNS reads of the whole buffer by the pool's threads, in GB/s. */
static double bw_measure(tp_pool *pool, bw_job *j)
{
    double best = 0;
    for (int r = 0; r < BENCH_BW_RUNS; r++) {
        double t0 = clock_mono_s();
        tp_run(pool, bw_worker, j);
        double dt = clock_mono_s() - t0, gbs = dt > 0 ? (double)j->n * 8 / dt / 1e9 : 0;
        if (gbs > best) best = gbs;
    }
    return best;
}

/* ---- model facts ---- */

/* Whether t is one of the 3-D expert tensors of a MoE model. */
static int is_expert_tensor(const uh_model *m, const gguf_tensor *t)
{
    for (int il = 0; m->hp.n_expert > 0 && il < m->hp.n_layer; il++) {
        const layer_weights *l = &m->layers[il];
        if (t == l->gate_exps || t == l->up_exps || t == l->down_exps) return 1;
    }
    return 0;
}

/* Bytes read from the weights to decode one token: every tensor once, except the embedding
 * table, of which one row is read (unless it doubles as the output head), and the expert
 * tensors of a MoE model, of which only the n_expert_used chosen experts' slices are read. */
static double bytes_per_token(const uh_model *m)
{
    double total = 0;
    for (uint64_t i = 0; i < gguf_n_tensors(m->file); i++) {
        const gguf_tensor *t = gguf_tensor_at(m->file, i);
        if (is_expert_tensor(m, t))
            total += (double)t->size * m->hp.n_expert_used / m->hp.n_expert;
        else if (t == m->tok_embd && m->output != m->tok_embd)
            total += (double)t->size / (double)t->ne[1];
        else
            total += (double)t->size;
    }
    return total;
}

/* Weight types by share of bytes, "Q4_K 82% Q6_K 18%", and whether SIMD kernels serve them. */
static void describe_types(const uh_model *m, char *types, size_t cap, char *kernels, size_t kcap,
                           const char **dominant)
{
    static const qt_vec_dot_fn scalar[QT_COUNT] = {
        [QT_F32] = vec_dot_f32_f32,       [QT_F16] = vec_dot_f16_f32,
        [QT_BF16] = vec_dot_bf16_f32,     [QT_Q4_0] = vec_dot_q4_0_q8_0,
        [QT_Q4_1] = vec_dot_q4_1_q8_1,    [QT_Q5_0] = vec_dot_q5_0_q8_0,
        [QT_Q5_1] = vec_dot_q5_1_q8_1,    [QT_Q8_0] = vec_dot_q8_0_q8_0,
        [QT_Q2_K] = vec_dot_q2_K_q8_K,    [QT_Q3_K] = vec_dot_q3_K_q8_K,
        [QT_Q4_K] = vec_dot_q4_K_q8_K,    [QT_Q5_K] = vec_dot_q5_K_q8_K,
        [QT_Q6_K] = vec_dot_q6_K_q8_K,    [QT_IQ4_NL] = vec_dot_iq4_nl_q8_0,
        [QT_IQ4_XS] = vec_dot_iq4_xs_q8_K,
    };
    double bytes[QT_COUNT] = {0}, total = 0;
    for (uint64_t i = 0; i < gguf_n_tensors(m->file); i++) {
        const gguf_tensor *t = gguf_tensor_at(m->file, i);
        if (t->n_dims < 2 || t->type >= QT_COUNT) continue;
        bytes[t->type] += (double)t->size;
        total += (double)t->size;
    }
    types[0] = kernels[0] = 0;
    *dominant = "?";
    size_t n = 0, kn = 0;
    for (int round = 0; round < QT_COUNT; round++) { /* largest share first */
        int best = -1;
        for (int t = 0; t < QT_COUNT; t++)
            if (bytes[t] > 0 && (best < 0 || bytes[t] > bytes[best])) best = t;
        if (best < 0) break;
        if (round == 0) *dominant = qtype_name(best);
        const int simd = qtype_traits[best].vec_dot != scalar[best];
        n += (size_t)snprintf(types + n, n < cap ? cap - n : 0, "%s%s %.0f%%", n ? " " : "",
                              qtype_name(best), 100.0 * bytes[best] / total);
        kn += (size_t)snprintf(kernels + kn, kn < kcap ? kcap - kn : 0, "%s%s:%s", kn ? " " : "",
                               qtype_name(best), simd ? "simd" : "scalar");
        bytes[best] = 0;
    }
}

/* ---- the measurement ---- */

typedef struct {
    double pp_tps[BENCH_MAX_REPS], tg_tps[BENCH_MAX_REPS];
} bench_times;

static int eval_tokens(uh_ctx *c, const uh_token *toks, int32_t *pos, int n, int p0, int chunk,
                       uh_err *err)
{
    for (int done = 0; done < n;) {
        int k = n - done < chunk ? n - done : chunk;
        for (int i = 0; i < k; i++) pos[i] = p0 + done + i;
        uh_batch b = {.n_tokens = k, .tokens = toks + done, .pos = pos};
        int rc = uh_eval(c, &b, err);
        if (rc) return rc;
        done += k;
    }
    return 0;
}

typedef struct {
    uh_token *toks; /* [depth + n_prompt + n_gen + 1] random ids from a fixed seed */
    int32_t *pos;   /* [n_batch] */
    int n_batch;
} bench_input;

/* Fills the context before the measured tokens (kept by every repetition), then decodes one
 * token as a warm-up that touches every weight page and code path. */
static int prepare(uh_ctx *c, const bench_opts *o, int n_vocab, bench_input *in, uh_err *err)
{
    const int depth = (int)o->depth, n_tok = depth + (int)o->n_prompt + (int)o->n_gen + 1;
    in->toks = malloc((size_t)n_tok * sizeof *in->toks);
    in->pos = malloc((size_t)in->n_batch * sizeof *in->pos);
    if (!in->toks || !in->pos) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return UH_ENOMEM;
    }
    rng_state rng;
    rng_seed(&rng, 1234);
    for (int i = 0; i < n_tok; i++) in->toks[i] = (uh_token)(rng_next(&rng) % (uint64_t)n_vocab);
    int rc = eval_tokens(c, in->toks, in->pos, depth, 0, in->n_batch, err);
    if (!rc) rc = eval_tokens(c, in->toks + depth, in->pos, 1, depth, 1, err);
    return rc;
}

/* One repetition: back to the prepared depth, the prompt as one batch, then one token at a
 * time. */
static int run_rep(uh_ctx *c, const bench_opts *o, const bench_input *in, double *pp_tps,
                   double *tg_tps, uh_err *err)
{
    const int np = (int)o->n_prompt, ng = (int)o->n_gen, depth = (int)o->depth;
    int rc;
    uh_kv_truncate(c, 0, depth);
    double t0 = clock_mono_s();
    if (np > 0 && (rc = eval_tokens(c, in->toks + depth, in->pos, np, depth, np, err))) return rc;
    double t1 = clock_mono_s();
    if ((rc = eval_tokens(c, in->toks + depth + np, in->pos, ng, depth + np, 1, err))) return rc;
    double t2 = clock_mono_s();
    *pp_tps = np > 0 && t1 > t0 ? np / (t1 - t0) : 0;
    *tg_tps = ng > 0 && t2 > t1 ? ng / (t2 - t1) : 0;
    return 0;
}

static void add_stat(cJSON *o, const char *name, bench_stat s)
{
    char key[64];
    cJSON_AddNumberToObject(o, name, s.median);
    snprintf(key, sizeof key, "%s_min", name);
    cJSON_AddNumberToObject(o, key, s.min);
    snprintf(key, sizeof key, "%s_max", name);
    cJSON_AddNumberToObject(o, key, s.max);
    snprintf(key, sizeof key, "%s_stddev", name);
    cJSON_AddNumberToObject(o, key, s.stddev);
}

int cmd_bench(int argc, char **argv)
{
    const char *cmd = "bench";
    bench_opts o = {0};
    int rc = parse_bench(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;

    uh_err err = {0};
    uh_model *m = NULL;
    uh_ctx *c = NULL;
    tp_pool *pool = NULL;
    bench_input in = {NULL, NULL, 0};
    bw_job *bwj = NULL;
    bench_times *bt = calloc(1, sizeof *bt);
    int status = 1;
    if (!bt) {
        cli_error(cmd, "out of memory");
        return 1;
    }
    char model_path[4096];
    if (models_resolve(o.model, model_path, sizeof model_path, &err)) goto fail;
    if (uh_model_load(model_path, &m, &err)) goto fail;
    uh_model_info info;
    uh_model_get_info(m, &info);

    uh_ctx_params cp = uh_ctx_default_params();
    const long n_batch = o.n_prompt > 512 ? o.n_prompt : 512;
    cp.n_ctx = (int)(o.depth + o.n_prompt + o.n_gen + 2);
    cp.n_batch_max = (int)n_batch;
    cp.n_threads = (int)o.n_threads;
    cp.kv_type = o.kv_type;
    if (uh_ctx_new(m, &cp, &c, &err)) goto fail;
    const int n_threads = o.n_threads > 0 ? (int)o.n_threads : tp_default_threads();
    in.n_batch = (int)n_batch;
    if (prepare(c, &o, info.n_vocab, &in, &err)) goto fail;
    if (!(pool = tp_new(n_threads))) {
        cli_error(cmd, "cannot start %d threads", n_threads);
        goto out;
    }
    /* Bandwidth is read between repetitions, so a busy neighbour slows both alike; peak RSS is
     * taken after the first repetition, before the bandwidth buffer raises the high-water mark. */
    double rss_mib = 0, bw = 0;
    size_t bw_mib = 0;
    for (int r = 0; r < o.reps; r++) {
        if (run_rep(c, &o, &in, &bt->pp_tps[r], &bt->tg_tps[r], &err)) goto fail;
        if (r == 0) {
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            rss_mib = (double)ru.ru_maxrss / 1024.0;
            if (!(bwj = bw_new())) goto oom;
            bw_mib = bwj->n * 8 >> 20;
        }
        const double b = bw_measure(pool, bwj);
        if (b > bw) bw = b;
    }

    const bench_stat pp = stat_of(bt->pp_tps, (int)o.reps), tg = stat_of(bt->tg_tps, (int)o.reps);
    const double bpt = bytes_per_token(m);
    const double kv_bpt = 2.0 * info.n_layer * info.n_head_kv * info.head_dim *
                          (o.kv_type == UH_KV_F16 ? 2 : 4) *
                          ((double)o.depth + o.n_prompt + (o.n_gen + 1) / 2.0);
    const double eff = bw > 0 ? tg.median * bpt / (bw * 1e9) : 0;
    const double eff_kv = bw > 0 ? tg.median * (bpt + kv_bpt) / (bw * 1e9) : 0;
    char types[256], kernels[256];
    const char *dominant;
    describe_types(m, types, sizeof types, kernels, sizeof kernels, &dominant);

    if (o.json) {
        cJSON *j = cJSON_CreateObject();
        if (!j) goto oom;
        cJSON_AddStringToObject(j, "model", o.model);
        cJSON_AddStringToObject(j, "type", dominant);
        cJSON_AddStringToObject(j, "types", types);
        cJSON_AddStringToObject(j, "kernels", kernels);
        cJSON_AddNumberToObject(j, "n_params", (double)info.n_params);
        cJSON_AddNumberToObject(j, "threads", n_threads);
        cJSON_AddNumberToObject(j, "n_prompt", (double)o.n_prompt);
        cJSON_AddNumberToObject(j, "n_gen", (double)o.n_gen);
        cJSON_AddNumberToObject(j, "depth", (double)o.depth);
        cJSON_AddNumberToObject(j, "reps", (double)o.reps);
        cJSON_AddStringToObject(j, "kv_type", o.kv_type == UH_KV_F16 ? "f16" : "f32");
        add_stat(j, "pp_tps", pp);
        add_stat(j, "tg_tps", tg);
        cJSON_AddNumberToObject(j, "bandwidth_gbs", bw);
        cJSON_AddNumberToObject(j, "bandwidth_buffer_mib", (double)bw_mib);
        cJSON_AddNumberToObject(j, "bytes_per_token", bpt);
        cJSON_AddNumberToObject(j, "kv_bytes_per_token", kv_bpt);
        cJSON_AddNumberToObject(j, "decode_efficiency", eff);
        cJSON_AddNumberToObject(j, "decode_efficiency_with_kv", eff_kv);
        cJSON_AddNumberToObject(j, "peak_rss_mib", rss_mib);
        char *s = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (!s) goto oom;
        printf("%s\n", s);
        free(s);
    } else {
        printf("model      %s: %s, %.2f B params, %.0f MiB of weights\n", o.model, types,
               info.n_params / 1e9, (double)info.size_bytes / (1 << 20));
        printf("setup      %d threads, kernels %s, KV %s, %ld reps, depth %ld\n", n_threads,
               kernels, o.kv_type == UH_KV_F16 ? "f16" : "f32", o.reps, o.depth);
        if (o.n_prompt > 0)
            printf("pp%-6ld   %8.2f tok/s  (min %.2f, max %.2f, stddev %.2f)\n", o.n_prompt,
                   pp.median, pp.min, pp.max, pp.stddev);
        if (o.n_gen > 0)
            printf("tg%-6ld   %8.2f tok/s  (min %.2f, max %.2f, stddev %.2f)\n", o.n_gen,
                   tg.median, tg.min, tg.max, tg.stddev);
        printf("bandwidth  %8.2f GB/s   (best of %ld reads of %zu MiB, %d threads)\n", bw,
               BENCH_BW_RUNS * o.reps, bw_mib, n_threads);
        printf("bytes/tok  %8.1f MB of weights (+ %.1f MB of KV cache on average)\n", bpt / 1e6,
               kv_bpt / 1e6);
        printf("decode efficiency %.3f  (tg x bytes/tok / bandwidth; %.3f counting KV reads)\n",
               eff, eff_kv);
        printf("peak RSS   %8.1f MiB\n", rss_mib);
    }
    status = 0;
    goto out;
oom:
    cli_error(cmd, "out of memory");
    goto out;
fail:
    cli_error(cmd, "%s", err.msg[0] ? err.msg : uh_strerror(err.code));
out:
    bw_free(bwj);
    tp_free(pool);
    uh_ctx_free(c);
    uh_model_free(m);
    free(in.toks);
    free(in.pos);
    free(bt);
    return status;
}
