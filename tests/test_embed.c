/* test_embed.c - uh_embed: unit length, repeatable, the mean of the output-normed final states
 * (those states checked to be what the head multiplies: their product with the head equals the
 * logits), independent of the batch size it is chunked into, and harmless to other sequences'
 * caches; bad arguments are refused. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "engine/ctx.h"
#include "kernels/qtypes.h"
#include "unhosted.h"

#define N_TOK 13

static uh_model *load(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s.gguf", t_testdata(), name);
    uh_model *m = NULL;
    uh_err err = {0};
    CHECKF(uh_model_load(path, &m, &err) == 0, "%s: %s", name, err.msg);
    return m;
}

static uh_ctx *ctx(const uh_model *m, int n_seq, int n_batch, int exact)
{
    uh_ctx_params cp = uh_ctx_default_params();
    cp.n_ctx = 32;
    cp.n_seq_max = n_seq;
    cp.n_batch_max = n_batch;
    cp.exact = exact;
    cp.n_threads = 2;
    uh_ctx *c = NULL;
    uh_err err = {0};
    CHECKF(uh_ctx_new(m, &cp, &c, &err) == 0, "context: %s", err.msg);
    return c;
}

static void prompt(const uh_model *m, uh_token *ids, int n)
{
    uh_model_info info;
    uh_model_get_info(m, &info);
    for (int i = 0; i < n; i++) ids[i] = (uh_token)((i * 7919 + 13) % info.n_vocab);
}

static void test_embed_unit_norm_and_repeatable(void)
{
    uh_model *m = load("llama-s1-Q8_0");
    if (!m) return;
    uh_model_info info;
    uh_model_get_info(m, &info);
    uh_ctx *c = ctx(m, 1, 64, 0);
    uh_token ids[N_TOK];
    prompt(m, ids, N_TOK);
    float *a = calloc((size_t)info.n_embd, sizeof *a), *b = calloc((size_t)info.n_embd, sizeof *b);
    uh_err err = {0};
    CHECKF(c && uh_embed(c, 0, ids, N_TOK, a, &err) == 0, "%s", err.msg);
    CHECKF(c && uh_embed(c, 0, ids, N_TOK, b, &err) == 0, "%s", err.msg);
    double ss = 0;
    for (int i = 0; i < info.n_embd; i++) ss += (double)a[i] * a[i];
    CHECKF(fabs(ss - 1.0) < 1e-5, "squared length %g", ss);
    CHECK(memcmp(a, b, (size_t)info.n_embd * sizeof *a) == 0);
    /* a different text gives a different vector */
    ids[3] = (ids[3] + 1) % info.n_vocab;
    CHECK(c && uh_embed(c, 0, ids, N_TOK, b, &err) == 0);
    CHECK(memcmp(a, b, (size_t)info.n_embd * sizeof *a) != 0);
    free(a);
    free(b);
    uh_ctx_free(c);
    uh_model_free(m);
}

/* Reference: every token's final state from an ordinary eval; the head applied to its normed
 * state reproduces the logits (so these are the states the model ends with); the embedding is
 * their normed mean scaled to unit length. Exact mode: float32 activations, F32 weights. */
static void test_embed_is_mean_of_normed_final_states(void)
{
    uh_model *m = load("llama-s1-F32");
    if (!m) return;
    uh_model_info info;
    uh_model_get_info(m, &info);
    const int d = info.n_embd;
    uh_ctx *c = ctx(m, 1, 64, 1);
    uh_token ids[N_TOK];
    int32_t pos[N_TOK];
    int8_t want[N_TOK];
    prompt(m, ids, N_TOK);
    for (int i = 0; i < N_TOK; i++) pos[i] = i, want[i] = 1;
    uh_batch b = {.n_tokens = N_TOK, .tokens = ids, .pos = pos, .want_output = want};
    uh_err err = {0};
    double *ref = calloc((size_t)d, sizeof *ref);
    float *normed = malloc((size_t)d * sizeof *normed), *got = malloc((size_t)d * sizeof *got);
    CHECKF(c && m->output->type == QT_F32 && uh_eval(c, &b, &err) == 0, "%s", err.msg);
    if (!c || m->output->type != QT_F32) goto out;
    const float *w = m->output_norm->data;
    double worst = 0;
    for (int t = 0; t < N_TOK; t++) {
        const float *x = c->x + (size_t)t * d;
        double ss = 0;
        for (int i = 0; i < d; i++) ss += (double)x[i] * x[i];
        const double scale = 1.0 / sqrt(ss / d + m->hp.norm_eps);
        for (int i = 0; i < d; i++) {
            normed[i] = (float)(x[i] * scale * w[i]);
            ref[i] += normed[i] / N_TOK;
        }
        const float *lg = uh_get_logits(c, t);
        for (int v = 0; v < info.n_vocab; v += 97) {
            const float *row = (const float *)m->output->data + (size_t)v * d;
            double dot = 0;
            for (int i = 0; i < d; i++) dot += (double)row[i] * normed[i];
            double e = fabs(dot - lg[v]) / (fabs(dot) + 1.0);
            if (e > worst) worst = e;
        }
    }
    CHECKF(worst < 1e-4, "head of the final states differs from the logits by %g", worst);
    double len = 0;
    for (int i = 0; i < d; i++) len += ref[i] * ref[i];
    len = sqrt(len);
    CHECKF(uh_embed(c, 0, ids, N_TOK, got, &err) == 0, "%s", err.msg);
    double maxdiff = 0;
    for (int i = 0; i < d; i++) {
        double e = fabs(ref[i] / len - got[i]);
        if (e > maxdiff) maxdiff = e;
    }
    CHECKF(maxdiff < 1e-5, "embedding differs from the pooled states by %g", maxdiff);
out:
    free(ref);
    free(normed);
    free(got);
    uh_ctx_free(c);
    uh_model_free(m);
}

/* A text longer than n_batch_max is evaluated in chunks with the same numbers. */
static void test_embed_chunking_invariant(void)
{
    uh_model *m = load("qwen2-s1-Q8_0");
    if (!m) return;
    uh_model_info info;
    uh_model_get_info(m, &info);
    uh_ctx *big = ctx(m, 1, 64, 0), *small = ctx(m, 1, 4, 0);
    uh_token ids[N_TOK];
    prompt(m, ids, N_TOK);
    float *a = malloc((size_t)info.n_embd * sizeof *a), *b = malloc((size_t)info.n_embd * sizeof *b);
    uh_err err = {0};
    CHECKF(big && uh_embed(big, 0, ids, N_TOK, a, &err) == 0, "%s", err.msg);
    CHECKF(small && uh_embed(small, 0, ids, N_TOK, b, &err) == 0, "%s", err.msg);
    CHECK(memcmp(a, b, (size_t)info.n_embd * sizeof *a) == 0);
    free(a);
    free(b);
    uh_ctx_free(big);
    uh_ctx_free(small);
    uh_model_free(m);
}

/* Embedding in sequence 1 between the prompt and a decode step of sequence 0 leaves sequence
 * 0's logits as they are without it. */
static void test_embed_leaves_other_sequences(void)
{
    uh_model *m = load("llama-s1-Q8_0");
    if (!m) return;
    uh_model_info info;
    uh_model_get_info(m, &info);
    float *emb = malloc((size_t)info.n_embd * sizeof *emb);
    float *logits[2] = {malloc((size_t)info.n_vocab * sizeof(float)),
                        malloc((size_t)info.n_vocab * sizeof(float))};
    uh_token ids[N_TOK], other[5] = {5, 6, 7, 8, 9};
    prompt(m, ids, N_TOK);
    int32_t pos[N_TOK];
    for (int i = 0; i < N_TOK; i++) pos[i] = i;
    for (int run = 0; run < 2; run++) {
        uh_ctx *c = ctx(m, 2, 64, 0);
        uh_err err = {0};
        if (!c) break;
        uh_batch b = {.n_tokens = N_TOK - 1, .tokens = ids, .pos = pos};
        CHECKF(uh_eval(c, &b, &err) == 0, "%s", err.msg);
        if (run == 1) {
            CHECKF(uh_embed(c, 1, other, 5, emb, &err) == 0, "%s", err.msg);
            CHECK(uh_kv_seq_len(c, 0) == N_TOK - 1);
        }
        uh_batch s = {.n_tokens = 1, .tokens = ids + N_TOK - 1, .pos = pos + N_TOK - 1};
        CHECKF(uh_eval(c, &s, &err) == 0, "%s", err.msg);
        const float *lg = uh_get_logits(c, 0);
        if (lg) memcpy(logits[run], lg, (size_t)info.n_vocab * sizeof(float));
        uh_ctx_free(c);
    }
    CHECK(memcmp(logits[0], logits[1], (size_t)info.n_vocab * sizeof(float)) == 0);
    free(emb);
    free(logits[0]);
    free(logits[1]);
    uh_model_free(m);
}

static void test_embed_refuses_bad_arguments(void)
{
    uh_model *m = load("llama-s1-Q8_0");
    if (!m) return;
    uh_model_info info;
    uh_model_get_info(m, &info);
    uh_ctx *c = ctx(m, 1, 8, 0);
    float *out = malloc((size_t)info.n_embd * sizeof *out);
    uh_token ids[40] = {0};
    uh_err err = {0};
    if (c) {
        CHECK(uh_embed(c, 0, ids, 0, out, &err) == UH_EINVAL);
        CHECK(uh_embed(c, 1, ids, 3, out, &err) == UH_EINVAL);
        CHECK(uh_embed(c, 0, ids, 33, out, &err) == UH_ECTXFULL); /* n_ctx 32 */
        ids[2] = info.n_vocab;
        CHECK(uh_embed(c, 0, ids, 3, out, &err) == UH_EINVAL);
        ids[2] = 0;
        CHECK(uh_embed(c, 0, ids, 32, out, &err) == 0);
    }
    free(out);
    uh_ctx_free(c);
    uh_model_free(m);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    qtypes_init();
    T_RUN(test_embed_unit_norm_and_repeatable);
    T_RUN(test_embed_is_mean_of_normed_final_states);
    T_RUN(test_embed_chunking_invariant);
    T_RUN(test_embed_leaves_other_sequences);
    T_RUN(test_embed_refuses_bad_arguments);
    return t_exit();
}
