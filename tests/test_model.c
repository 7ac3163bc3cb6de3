/* test_model.c - loading models: every generated tensor type runs and stays close to its F32
 * twin; broken or unsupported models are refused with a message naming the problem. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gguf/gguf.h"
#include "engine/modelgen.h"
#include "kernels/qtypes.h"
#include "unhosted.h"

static char g_dir[256];

static const char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static modelgen_opts small_opts(const char *type, const char *out)
{
    modelgen_opts o = modelgen_default_opts();
    o.n_layer = 2;
    o.n_embd = 256;
    o.n_ff = 512;
    o.n_head = 4;
    o.n_head_kv = 2;
    o.n_vocab = 320;
    o.type = type;
    o.seed = 42;
    o.out = out;
    return o;
}

/* logits of a fixed sequence, all positions */
static int run_logits(const char *path, int exact, float *out, int n_vocab, uh_err *err)
{
    uh_model *m = NULL;
    uh_ctx *c = NULL;
    int rc = uh_model_load(path, &m, err);
    if (rc) return rc;
    uh_ctx_params cp = uh_ctx_default_params();
    cp.exact = exact;
    rc = uh_ctx_new(m, &cp, &c, err);
    const uh_token ids[8] = {1, 300, 42, 7, 99, 260, 3, 150};
    int32_t pos[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    int8_t want[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    uh_batch b = {.n_tokens = 8, .tokens = ids, .pos = pos, .want_output = want};
    if (rc == 0) rc = uh_eval(c, &b, err);
    for (int i = 0; rc == 0 && i < 8; i++)
        memcpy(out + (size_t)i * n_vocab, uh_get_logits(c, i), (size_t)n_vocab * sizeof(float));
    uh_ctx_free(c);
    uh_model_free(m);
    return rc;
}

/* mean over rows of max|a-b| / std(a) */
static double rel_diff(const float *a, const float *b, int rows, int n)
{
    double acc = 0;
    for (int r = 0; r < rows; r++) {
        double mean = 0, var = 0, md = 0;
        for (int i = 0; i < n; i++) mean += a[r * n + i];
        mean /= n;
        for (int i = 0; i < n; i++) {
            var += (a[r * n + i] - mean) * (a[r * n + i] - mean);
            double d = fabs(a[r * n + i] - b[r * n + i]);
            if (d > md) md = d;
        }
        acc += md / sqrt(var / n);
    }
    return acc / rows;
}

static void test_every_type_generates_and_runs(void)
{
    static float ref[8 * 320], q[8 * 320], qe[8 * 320];
    uh_err err = {0};
    modelgen_opts o = small_opts("F32", tmp_path("f32.gguf"));
    CHECKF(modelgen_write(&o, &err) == 0, "%s", err.msg);
    CHECKF(run_logits(o.out, 1, ref, 320, &err) == 0, "%s", err.msg);
    /* How far each type may land from F32 (mean over rows of max diff / std): the weights'
     * rounding error passes through a random network unfiltered, so these are ~1.4x what the
     * quantizers measured here achieve, ordered by bits per weight; unrelated logits land near
     * 4. The sharper check is the second one: the fast path (quantized activations, vec_dot)
     * against the exact path on the same weights. */
    const struct {
        const char *type;
        double tol;
    } types[] = {{"F16", 0.005},   {"BF16", 0.025}, {"Q8_0", 0.1},   {"Q6_K", 0.25},
                 {"Q5_1", 0.55},   {"Q5_0", 0.6},   {"Q5_K", 0.5},   {"Q4_1", 1.1},
                 {"Q4_0", 1.1},    {"Q4_K", 0.9},   {"IQ4_NL", 1.05}, {"IQ4_XS", 1.05},
                 {"Q4_K_M", 0.8},  {"Q3_K", 1.8},   {"Q2_K", 3.0}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        o = small_opts(types[i].type, tmp_path("q.gguf"));
        int rc = modelgen_write(&o, &err);
        CHECKF(rc == 0, "%s: %s", types[i].type, err.msg);
        if (rc) continue;
        CHECKF(run_logits(o.out, 0, q, 320, &err) == 0, "%s: %s", types[i].type, err.msg);
        CHECKF(run_logits(o.out, 1, qe, 320, &err) == 0, "%s: %s", types[i].type, err.msg);
        double d = rel_diff(ref, q, 8, 320), de = rel_diff(ref, qe, 8, 320);
        double fe = rel_diff(qe, q, 8, 320);
        printf("  %-7s vs F32: %.4f (exact path %.4f); fast vs exact path %.4f\n", types[i].type,
               d, de, fe);
        CHECKF(de < types[i].tol, "%s: %.4f >= %.3f", types[i].type, de, types[i].tol);
        CHECKF(fe < 0.15, "%s: fast path vs exact path %.4f", types[i].type, fe);
    }
}

/* ---- broken models: rewrite a good file with one thing changed ---- */

typedef struct {
    const char *drop_tensor;   /* leave this tensor out */
    const char *set_arch;      /* replace general.architecture */
    const char *drop_key;      /* leave this metadata key out */
    const char *reshape;       /* give this tensor a wrong shape (halve ne[1]) */
    const char *norm_as_f16;   /* store this 1-D tensor as F16 */
    float rope_freqs;          /* add rope_freqs.weight filled with this value */
    float linear_factor;       /* add llama.rope.scaling.type = linear with this factor */
    const char *scaling_type;  /* add llama.rope.scaling.type with this value */
} mutation;

static int write_mutated(const char *src, const char *dst, const mutation *mu)
{
    gguf_file *f = NULL;
    uh_err err = {0};
    if (gguf_open(src, &f, &err)) return -1;
    gguf_writer *w = gguf_writer_new();
    int rc = w ? 0 : -1;
    for (uint64_t i = 0; rc == 0 && i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        if (mu->drop_key && !strcmp(kv->key_z, mu->drop_key)) continue;
        if (mu->set_arch && !strcmp(kv->key_z, "general.architecture")) {
            rc = gguf_writer_set_str(w, kv->key_z, mu->set_arch);
            continue;
        }
        rc = gguf_writer_copy_kv(w, kv);
    }
    if (rc == 0 && mu->linear_factor > 0) {
        rc = gguf_writer_set_str(w, "llama.rope.scaling.type", "linear");
        if (rc == 0) rc = gguf_writer_set_f32(w, "llama.rope.scaling.factor", mu->linear_factor);
    }
    if (rc == 0 && mu->scaling_type) rc = gguf_writer_set_str(w, "llama.rope.scaling.type", mu->scaling_type);
    if (rc == 0 && mu->rope_freqs > 0) {
        float ff[128];
        for (int j = 0; j < 128; j++) ff[j] = mu->rope_freqs;
        const gguf_tensor *e = gguf_find_tensor(f, "blk.0.attn_q.weight");
        uint32_t n_head = 0;
        gguf_get_u32(f, "llama.attention.head_count", &n_head, NULL);
        const int64_t ne[1] = {e && n_head ? e->ne[0] / n_head / 2 : 0};
        rc = gguf_writer_add_tensor(w, "rope_freqs.weight", QT_F32, 1, ne, ff,
                                    (uint64_t)ne[0] * sizeof(float));
    }
    for (uint64_t i = 0; rc == 0 && i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        if (mu->drop_tensor && !strcmp(t->name, mu->drop_tensor)) continue;
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        uint64_t size = t->size;
        if (mu->reshape && !strcmp(t->name, mu->reshape)) {
            ne[1] /= 2;
            size /= 2;
        }
        if (mu->norm_as_f16 && !strcmp(t->name, mu->norm_as_f16)) {
            uint16_t h[4096];
            for (int64_t j = 0; j < ne[0] && j < 4096; j++) h[j] = 0x3c00;
            rc = gguf_writer_add_tensor(w, t->name, QT_F16, t->n_dims, ne, h,
                                        (uint64_t)ne[0] * 2);
            continue;
        }
        rc = gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, ne, t->data, size);
    }
    if (rc == 0) rc = gguf_writer_write(w, dst, 0, &err);
    gguf_writer_free(w);
    gguf_close(f);
    return rc;
}

static void expect_refused(const char *src, const mutation *mu, int code, const char *needle)
{
    const char *dst = tmp_path("bad.gguf");
    CHECK(write_mutated(src, dst, mu) == 0);
    uh_model *m = NULL;
    uh_err err = {0};
    int rc = uh_model_load(dst, &m, &err);
    CHECKF(rc == code && m == NULL, "rc %d (want %d): %s", rc, code, err.msg);
    CHECKF(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    uh_model_free(m);
}

static void test_broken_models_are_refused(void)
{
    uh_err err = {0};
    modelgen_opts o = small_opts("Q8_0", tmp_path("good.gguf"));
    CHECKF(modelgen_write(&o, &err) == 0, "%s", err.msg);
    modelgen_opts oq = small_opts("Q8_0", tmp_path("goodq.gguf"));
    oq.arch = "qwen2";
    CHECKF(modelgen_write(&oq, &err) == 0, "%s", err.msg);
    char good[512], goodq[512];
    snprintf(good, sizeof good, "%s", o.out);
    snprintf(goodq, sizeof goodq, "%s", oq.out);
    mutation none = {0};
    const char *copy = tmp_path("copy.gguf");
    CHECK(write_mutated(good, copy, &none) == 0);
    uh_model *m = NULL;
    CHECKF(uh_model_load(copy, &m, &err) == 0, "an unchanged copy must load: %s", err.msg);
    uh_model_free(m);

    expect_refused(good, &(mutation){.set_arch = "mamba"}, UH_EUNSUPPORTED,
                   "architecture mamba is not supported yet");
    expect_refused(good, &(mutation){.drop_key = "general.architecture"}, UH_EFORMAT,
                   "general.architecture");
    expect_refused(good, &(mutation){.drop_tensor = "blk.1.ffn_up.weight"}, UH_EFORMAT,
                   "missing tensor blk.1.ffn_up.weight");
    expect_refused(good, &(mutation){.drop_tensor = "output_norm.weight"}, UH_EFORMAT,
                   "missing tensor output_norm.weight");
    expect_refused(good, &(mutation){.reshape = "blk.0.attn_k.weight"}, UH_EFORMAT,
                   "blk.0.attn_k.weight has shape [256, 64], expected [256, 128]");
    expect_refused(good, &(mutation){.reshape = "token_embd.weight"}, UH_EFORMAT,
                   "token_embd.weight");
    expect_refused(good, &(mutation){.drop_key = "llama.embedding_length"}, UH_EFORMAT,
                   "llama.embedding_length");
    expect_refused(good, &(mutation){.drop_key = "tokenizer.ggml.tokens"}, UH_EFORMAT,
                   "tokenizer.ggml.tokens");
    expect_refused(good, &(mutation){.norm_as_f16 = "blk.0.ffn_norm.weight"}, UH_EUNSUPPORTED,
                   "blk.0.ffn_norm.weight");
    expect_refused(goodq, &(mutation){.drop_tensor = "blk.0.attn_k.bias"}, UH_EFORMAT,
                   "missing tensor blk.0.attn_k.bias");
    /* a missing file */
    CHECK(uh_model_load(tmp_path("does-not-exist.gguf"), &m, &err) == UH_ENOTFOUND);
}

/* Tied models reuse the embedding as the head; an untied model without output.weight is the
 * same thing for llama. */
static void test_tied_output(void)
{
    uh_err err = {0};
    static float a[8 * 320], b[8 * 320];
    modelgen_opts o = small_opts("F32", tmp_path("tied.gguf"));
    o.tied = 1;
    CHECKF(modelgen_write(&o, &err) == 0, "%s", err.msg);
    CHECKF(run_logits(o.out, 1, a, 320, &err) == 0, "%s", err.msg);
    CHECKF(run_logits(o.out, 0, b, 320, &err) == 0, "%s", err.msg);
    CHECK(rel_diff(a, b, 8, 320) < 1e-4);
}

/* Llama 3.1's rope_freqs divide each pair's frequency; all 2.0 is the same as linear scaling by a
 * factor of 2, and all 1.0 is the same as none. Unknown scaling types are refused. */
static void test_rope_frequency_scaling(void)
{
    uh_err err = {0};
    static float base[8 * 320], ones[8 * 320], twos[8 * 320], lin[8 * 320];
    modelgen_opts o = small_opts("F32", tmp_path("rope.gguf"));
    CHECKF(modelgen_write(&o, &err) == 0, "%s", err.msg);
    char src[512];
    snprintf(src, sizeof src, "%s", o.out);
    const char *p1 = tmp_path("rope1.gguf");
    CHECK(write_mutated(src, p1, &(mutation){.rope_freqs = 1.0f}) == 0);
    const char *p2 = tmp_path("rope2.gguf");
    CHECK(write_mutated(src, p2, &(mutation){.rope_freqs = 2.0f}) == 0);
    const char *p3 = tmp_path("lin2.gguf");
    CHECK(write_mutated(src, p3, &(mutation){.linear_factor = 2.0f}) == 0);
    CHECK(run_logits(src, 1, base, 320, &err) == 0);
    CHECK(run_logits(p1, 1, ones, 320, &err) == 0);
    CHECK(run_logits(p2, 1, twos, 320, &err) == 0);
    CHECK(run_logits(p3, 1, lin, 320, &err) == 0);
    CHECK(rel_diff(base, ones, 8, 320) < 1e-6);
    CHECK(rel_diff(twos, lin, 8, 320) < 1e-5);
    CHECK(rel_diff(base, twos, 8, 320) > 1e-3); /* and the scaling did something */
    expect_refused(src, &(mutation){.scaling_type = "yarn"}, UH_EUNSUPPORTED,
                   "rope scaling 'yarn' is not supported yet");
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    qtypes_init();
    snprintf(g_dir, sizeof g_dir, "/tmp/uh-test-model-XXXXXX");
    if (!mkdtemp(g_dir)) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    T_RUN(test_every_type_generates_and_runs);
    T_RUN(test_broken_models_are_refused);
    T_RUN(test_tied_output);
    T_RUN(test_rope_frequency_scaling);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", g_dir);
    return t_exit();
}
