/* test_arch.c - the architecture table drives loading: tensors are looked up under the names an
 * entry gives, required ones must be there, optional ones are used when present, roles an entry
 * lacks are never looked up, and descriptions asking for operations the engine lacks are
 * refused. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "engine/arch.h"
#include "engine/model.h"
#include "engine/modelgen.h"
#include "gguf/gguf.h"
#include "kernels/qtypes.h"
#include "unhosted.h"

#define N_TOK   8
#define N_VOCAB 320

static char g_dir[256];

static const char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* A small model of arch written to the temp folder under file; returns its path. */
static const char *gen(const char *arch, const char *file)
{
    modelgen_opts o = modelgen_default_opts();
    o.arch = arch;
    o.n_layer = 2;
    o.n_embd = 128;
    o.n_ff = 256;
    o.n_head = 2;
    o.n_head_kv = 1;
    o.n_vocab = N_VOCAB;
    o.type = "F32";
    o.seed = 7;
    o.out = tmp_path(file);
    uh_err err = {0};
    int rc = modelgen_write(&o, &err);
    CHECKF(rc == 0, "%s: %s", arch, err.msg);
    return o.out;
}

/* Loads path with description a (NULL: the table's entry). */
static int load(const char *path, const arch_desc *a, uh_model **m, uh_err *err)
{
    gguf_file *f;
    *m = NULL;
    int rc = gguf_open(path, &f, err);
    if (rc) return rc;
    return a ? model_load_gguf_arch(f, a, m, err) : model_load_gguf(f, m, err);
}

/* Logits of a fixed sequence at every position, exact path. */
static int logits(const char *path, const arch_desc *a, const uh_token *ids, int n, float *out,
                  int n_vocab, uh_err *err)
{
    uh_model *m;
    uh_ctx *c = NULL;
    int rc = load(path, a, &m, err);
    if (rc) return rc;
    uh_ctx_params cp = uh_ctx_default_params();
    cp.exact = 1;
    cp.n_threads = 1;
    cp.n_ctx = 64;
    rc = uh_ctx_new(m, &cp, &c, err);
    int32_t pos[64];
    int8_t want[64];
    for (int i = 0; i < n; i++) pos[i] = i, want[i] = 1;
    uh_batch b = {.n_tokens = n, .tokens = ids, .pos = pos, .want_output = want};
    if (rc == 0) rc = uh_eval(c, &b, err);
    for (int i = 0; rc == 0 && i < n; i++)
        memcpy(out + (size_t)i * n_vocab, uh_get_logits(c, i), (size_t)n_vocab * sizeof(float));
    uh_ctx_free(c);
    uh_model_free(m);
    return rc;
}

/* max over rows of max|a-b| / std(a) */
static double rel_diff(const float *a, const float *b, int rows, int n)
{
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        double mean = 0, var = 0, md = 0;
        for (int i = 0; i < n; i++) mean += a[r * n + i];
        mean /= n;
        for (int i = 0; i < n; i++) {
            var += (a[r * n + i] - mean) * (a[r * n + i] - mean);
            double d = fabs(a[r * n + i] - b[r * n + i]);
            if (d > md) md = d;
        }
        if (md / sqrt(var / n) > worst) worst = md / sqrt(var / n);
    }
    return worst;
}

/* Rewrites src into dst without tensor drop (if set) and with an extra F32 vector add_name of
 * add_len values 1.0 (if set). */
static int rewrite(const char *src, const char *dst, const char *drop, const char *add_name,
                   int add_len)
{
    gguf_file *f = NULL;
    uh_err err = {0};
    if (gguf_open(src, &f, &err)) return -1;
    gguf_writer *w = gguf_writer_new();
    int rc = w ? 0 : -1;
    for (uint64_t i = 0; rc == 0 && i < gguf_n_kv(f); i++)
        rc = gguf_writer_copy_kv(w, gguf_kv_at(f, i));
    for (uint64_t i = 0; rc == 0 && i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        if (drop && !strcmp(t->name, drop)) continue;
        rc = gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->size);
    }
    if (rc == 0 && add_name) {
        float v[512];
        for (int i = 0; i < 512; i++) v[i] = 1.0f;
        const int64_t ne[1] = {add_len};
        rc = gguf_writer_add_tensor(w, add_name, QT_F32, 1, ne, v, (uint64_t)add_len * 4);
    }
    if (rc == 0) rc = gguf_writer_write(w, dst, 0, &err);
    gguf_writer_free(w);
    gguf_close(f);
    return rc;
}

/* Rewrites src into dst with metadata key dropped (kind 0), or set (added if absent) to the
 * UINT32 u (kind 1) or the FLOAT32 x (kind 2). */
static int rewrite_kv(const char *src, const char *dst, const char *key, int kind, uint32_t u,
                      float x)
{
    gguf_file *f = NULL;
    uh_err err = {0};
    if (gguf_open(src, &f, &err)) return -1;
    gguf_writer *w = gguf_writer_new();
    int rc = w ? 0 : -1;
    for (uint64_t i = 0; rc == 0 && i < gguf_n_kv(f); i++)
        if (strcmp(gguf_kv_at(f, i)->key_z, key)) rc = gguf_writer_copy_kv(w, gguf_kv_at(f, i));
    if (rc == 0 && kind == 1) rc = gguf_writer_set_u32(w, key, u);
    if (rc == 0 && kind == 2) rc = gguf_writer_set_f32(w, key, x);
    for (uint64_t i = 0; rc == 0 && i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        rc = gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->size);
    }
    if (rc == 0) rc = gguf_writer_write(w, dst, 0, &err);
    gguf_writer_free(w);
    gguf_close(f);
    return rc;
}

/* Rewrites src into dst with the UINT32 metadata key set to v (added if absent). */
static int rewrite_u32(const char *src, const char *dst, const char *key, uint32_t v)
{
    return rewrite_kv(src, dst, key, 1, v, 0);
}

static void expect_load(const char *path, const arch_desc *a, int code, const char *needle)
{
    uh_model *m = NULL;
    uh_err err = {0};
    int rc = load(path, a, &m, &err);
    CHECKF(rc == code, "%s: rc %d, want %d: %s", a ? a->name : "table", rc, code, err.msg);
    if (needle) CHECKF(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    uh_model_free(m);
}

static const uh_token k_ids[N_TOK] = {1, 300, 42, 7, 99, 260, 3, 150};

/* ---- cases ---- */

/* The llama and qwen2 entries use llama.cpp's GGUF names: every tensor of the shared fixtures
 * (written by llama.cpp's tools) is some role of the entry, and every role the entry requires
 * is in the files. */
static void test_entries_name_llama_cpp_tensors(void)
{
    const char *files[][2] = {{"llama", "models/llama-s1-F32.gguf"},
                              {"llama", "models/llama-tied-F32.gguf"},
                              {"qwen2", "models/qwen2-s1-F32.gguf"},
                              {"llama", "arch/models/llama-moe-s1-F32.gguf"},
                              {"qwen3moe", "arch/models/qwen3moe-s1-F32.gguf"}};
    char buf[128];
    const arch_desc *llama = arch_find("llama", 5), *qwen2 = arch_find("qwen2", 5);
    CHECK(llama && qwen2 && !strcmp(llama->name, "llama") && !strcmp(qwen2->name, "qwen2"));
    if (!llama || !qwen2) return;
    CHECK(arch_tensor_name(llama, AT_ATTN_Q, 3, buf, sizeof buf) == 0 &&
          !strcmp(buf, "blk.3.attn_q.weight"));
    CHECK(arch_tensor_name(qwen2, AT_ATTN_V_BIAS, 12, buf, sizeof buf) == 0 &&
          !strcmp(buf, "blk.12.attn_v.bias"));
    CHECK(arch_tensor_name(llama, AT_TOKEN_EMBD, 5, buf, sizeof buf) == 0 &&
          !strcmp(buf, "token_embd.weight"));
    CHECK(arch_tensor_name(llama, AT_ATTN_Q_NORM, 0, buf, sizeof buf) == -1); /* llama has none */
    CHECK(arch_tensor_name(llama, AT_FFN_DOWN, 0, buf, 8) == -1);             /* too small */
    CHECK(qwen2->tensors[AT_ATTN_Q_BIAS].need == ARCH_REQUIRED &&
          qwen2->tensors[AT_ATTN_OUT_BIAS].need == ARCH_ABSENT &&
          llama->tensors[AT_ATTN_Q_BIAS].need == ARCH_OPTIONAL);
    CHECK(llama->rope == ROPE_NORM && qwen2->rope == ROPE_NEOX);

    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", t_testdata(), files[k][1]);
        if (access(path, R_OK) != 0) {
            printf("  (skipped %s: not found)\n", path);
            continue;
        }
        const arch_desc *a = arch_find(files[k][0], strlen(files[k][0]));
        gguf_file *f;
        uh_err err = {0};
        CHECKF(gguf_open(path, &f, &err) == 0, "%s", err.msg);
        if (err.code) continue;
        char key[64];
        uint32_t n_layer = 0;
        snprintf(key, sizeof key, "%s.block_count", a->name);
        CHECK(gguf_get_u32(f, key, &n_layer, NULL) == 0 && n_layer > 0);
        uint32_t n_expert = 0;
        snprintf(key, sizeof key, "%s.expert_count", a->name);
        if (gguf_get_u32(f, key, &n_expert, NULL) != 0) n_expert = 0;
        for (uint64_t i = 0; i < gguf_n_tensors(f); i++) { /* every tensor is a role */
            const char *name = gguf_tensor_at(f, i)->name;
            int found = 0;
            for (int il = 0; il < (int)n_layer && !found; il++)
                for (int t = 0; t < AT_COUNT && !found; t++)
                    found = arch_tensor_name(a, (enum arch_tensor)t, il, buf, sizeof buf) == 0 &&
                            !strcmp(buf, name);
            CHECKF(found, "%s: %s is no role of %s", files[k][1], name, a->name);
        }
        for (int il = 0; il < (int)n_layer; il++) /* every required role is there */
            for (int t = 0; t < AT_COUNT; t++)
                if (arch_role_need(a, (enum arch_tensor)t, (int)n_expert) == ARCH_REQUIRED) {
                    CHECK(arch_tensor_name(a, (enum arch_tensor)t, il, buf, sizeof buf) == 0);
                    CHECKF(gguf_find_tensor(f, buf), "%s lacks %s", files[k][1], buf);
                }
        gguf_close(f);
    }
}

/* A name the table does not hold is refused by the loader and by the generator. */
static void test_unknown_architecture_is_refused(void)
{
    CHECK(arch_find("mamba", 5) == NULL && arch_find("llam", 4) == NULL);
    modelgen_opts o = modelgen_default_opts();
    o.arch = "nonesuch";
    o.out = tmp_path("x.gguf");
    uh_err err = {0};
    CHECK(modelgen_write(&o, &err) == UH_EUNSUPPORTED && strstr(err.msg, "nonesuch"));
    CHECK(access(o.out, F_OK) != 0);
    /* a llama file relabelled: the loader looks its name up in the table */
    const char *src = gen("llama", "l.gguf");
    gguf_file *f;
    CHECK(gguf_open(src, &f, &err) == 0);
    gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        if (!strcmp(kv->key_z, "general.architecture"))
            gguf_writer_set_str(w, kv->key_z, "nonesuch");
        else
            gguf_writer_copy_kv(w, kv);
    }
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->size);
    }
    const char *dst = tmp_path("nonesuch.gguf");
    CHECK(gguf_writer_write(w, dst, 0, &err) == 0);
    gguf_writer_free(w);
    gguf_close(f);
    expect_load(dst, NULL, UH_EUNSUPPORTED, "architecture nonesuch is not supported yet");
}

/* Whether a tensor must exist is the entry's word: the same file loads or is refused naming the
 * tensor depending on the description. */
static void test_required_tensors_come_from_the_entry(void)
{
    const char *qw = gen("qwen2", "q.gguf");
    const char *nobias = tmp_path("q-nobias.gguf");
    CHECK(rewrite(qw, nobias, "blk.1.attn_v.bias", NULL, 0) == 0);
    expect_load(nobias, NULL, UH_EFORMAT, "missing tensor blk.1.attn_v.bias");
    arch_desc opt = *arch_find("qwen2", 5);
    opt.tensors[AT_ATTN_V_BIAS].need = ARCH_OPTIONAL;
    expect_load(nobias, &opt, UH_OK, NULL);

    const char *ll = gen("llama", "l.gguf");
    arch_desc req = *arch_find("llama", 5);
    req.tensors[AT_ATTN_OUT_BIAS].need = ARCH_REQUIRED;
    expect_load(ll, &req, UH_EFORMAT, "missing tensor blk.0.attn_output.bias");
    /* and the names are the entry's: renaming a role's tensor makes the file incomplete */
    arch_desc ren = *arch_find("llama", 5);
    ren.tensors[AT_FFN_UP].name = "blk.%d.ffn_up_renamed.weight";
    expect_load(ll, &ren, UH_EFORMAT, "missing tensor blk.0.ffn_up_renamed.weight");
    ren = *arch_find("llama", 5);
    ren.tensors[AT_OUTPUT_NORM].name = "norm.weight";
    expect_load(ll, &ren, UH_EFORMAT, "missing tensor norm.weight");
}

/* An optional tensor present is used: qwen2's q/k/v biases marked optional give the very same
 * logits as marked required, and marked absent (never looked up) give other logits. */
static void test_optional_bias_present_is_used(void)
{
    static float req[N_TOK * N_VOCAB], opt[N_TOK * N_VOCAB], none[N_TOK * N_VOCAB];
    const char *qw = gen("qwen2", "q.gguf");
    uh_err err = {0};
    arch_desc o = *arch_find("qwen2", 5), n = o;
    for (int t = AT_ATTN_Q_BIAS; t <= AT_ATTN_V_BIAS; t += 2) { /* q, k, v biases */
        o.tensors[t].need = ARCH_OPTIONAL;
        n.tensors[t].need = ARCH_ABSENT;
    }
    CHECKF(logits(qw, NULL, k_ids, N_TOK, req, N_VOCAB, &err) == 0, "%s", err.msg);
    CHECKF(logits(qw, &o, k_ids, N_TOK, opt, N_VOCAB, &err) == 0, "%s", err.msg);
    CHECKF(logits(qw, &n, k_ids, N_TOK, none, N_VOCAB, &err) == 0, "%s", err.msg);
    CHECK(memcmp(req, opt, sizeof req) == 0);
    const double d = rel_diff(req, none, N_TOK, N_VOCAB);
    CHECKF(d > 0.1, "biases ignored changed the logits by only %.4f", d);
}

/* Roles an entry does not have are not looked up: a stray per-head q norm of a nonsense shape
 * in a llama file is ignored, while a description that has the role refuses it. */
static void test_absent_roles_are_not_looked_up(void)
{
    const char *ll = gen("llama", "l.gguf");
    const char *stray = tmp_path("l-stray.gguf");
    CHECK(rewrite(ll, stray, NULL, "blk.0.attn_q_norm.weight", 7) == 0);
    expect_load(stray, NULL, UH_OK, NULL);
    arch_desc qn = *arch_find("llama", 5);
    qn.tensors[AT_ATTN_Q_NORM] = (arch_tensor_desc){"blk.%d.attn_q_norm.weight", ARCH_OPTIONAL};
    expect_load(stray, &qn, UH_EFORMAT,
                "tensor blk.0.attn_q_norm.weight has shape [7], expected [64]");
    expect_load(ll, &qn, UH_OK, NULL); /* optional, and absent from the plain file */
}

/* A description asking for an operation the engine does not implement is refused before any
 * tensor is read, naming the operation. */
static void test_unimplemented_operations_are_refused(void)
{
    const char *ll = gen("llama", "l.gguf");
    const arch_desc *base = arch_find("llama", 5);
    struct {
        arch_desc a;
        const char *needle;
    } cases[8];
    for (int i = 0; i < 8; i++) cases[i].a = *base;
    cases[0].a.norm = NORM_LAYER, cases[0].needle = "LayerNorm";
    cases[1].a.act = (enum arch_act)9, cases[1].needle = "an FFN activation";
    cases[2].a.embd_scale = (enum arch_embd_scale)9, cases[2].needle = "this embedding scale";
    cases[3].a.swa = (arch_swa){.pattern = 2}; /* no window key */
    cases[3].needle = "sliding-window attention without a window key";
    cases[4].a.attn_softcap = (arch_param){.key = "attn_logit_softcapping", .def = -50};
    cases[4].needle = "a negative soft-cap";
    cases[5].a.final_softcap = (arch_param){.key = NULL, .def = -30};
    cases[5].needle = "a negative soft-cap";
    cases[6].a.tensors[AT_FFN_GATE_EXPS].need = ARCH_ABSENT; /* a router without all experts */
    cases[6].needle = "mixture-of-experts";
    cases[7].a.rope = (enum rope_style)9, cases[7].needle = "this RoPE style";
    for (int i = 0; i < 8; i++) {
        uh_err err = {0};
        CHECKF(arch_check(&cases[i].a, &err) == UH_EUNSUPPORTED, "case %d", i);
        expect_load(ll, &cases[i].a, UH_EUNSUPPORTED, cases[i].needle);
        expect_load(ll, &cases[i].a, UH_EUNSUPPORTED, "not implemented yet");
    }
    uh_err err = {0};
    CHECK(arch_check(base, &err) == UH_OK && arch_check(arch_find("qwen2", 5), &err) == UH_OK);
    CHECK(arch_check(arch_find("gemma2", 6), &err) == UH_OK &&
          arch_check(arch_find("gemma3", 6), &err) == UH_OK);
}

/* The table's qwen3 entry (per-head q/k norms, a head size other than n_embd / n_head) run
 * through the forward pass matches llama.cpp's logits of the shared qwen3 fixture. */
static void test_qwen3_entry_matches_llama_cpp(void)
{
    char path[512], truth_path[512];
    snprintf(path, sizeof path, "%s/arch/models/qwen3-s1-F32.gguf", t_testdata());
    snprintf(truth_path, sizeof truth_path, "%s/arch/logits/qwen3-s1-F32.seqA.truth.f32",
             t_testdata());
    FILE *tf = fopen(truth_path, "rb");
    if (access(path, R_OK) != 0 || !tf) {
        printf("  (skipped: %s not found)\n", path);
        if (tf) fclose(tf);
        return;
    }
    static float truth[16 * 1024], got[16 * 1024];
    CHECK(fread(truth, sizeof(float), 16 * 1024, tf) == 16 * 1024);
    fclose(tf);
    /* seqA of arch/manifest.json */
    const uh_token ids[16] = {1,   223, 909, 590, 75,  477, 835, 964,
                              917, 779, 489, 745, 568, 500, 719, 946};
    uh_err err = {0};
    CHECKF(logits(path, NULL, ids, 16, got, 1024, &err) == 0, "%s", err.msg);
    const double d = rel_diff(truth, got, 16, 1024);
    printf("  qwen3 F32 vs llama.cpp: max rel diff %.2e\n", d);
    CHECKF(d < 1e-4, "%.3e", d);
    /* and without the norms it is far off: they were applied */
    arch_desc q3 = *arch_find("qwen3", 5);
    q3.tensors[AT_ATTN_Q_NORM].need = q3.tensors[AT_ATTN_K_NORM].need = ARCH_ABSENT;
    CHECKF(logits(path, &q3, ids, 16, got, 1024, &err) == 0, "%s", err.msg);
    CHECK(rel_diff(truth, got, 16, 1024) > 0.1);
}

/* The head size comes from attention.key_length for every architecture; q and attn_output are
 * n_head * head_dim wide and the KV cache holds head_dim per KV head. */
static void test_head_size_from_key_length(void)
{
    static const char *const archs[] = {"llama", "qwen2", "qwen3", "phi3"};
    for (int i = 0; i < 4; i++) {
        modelgen_opts o = modelgen_default_opts();
        char file[64];
        snprintf(file, sizeof file, "hd-%s.gguf", archs[i]);
        o.arch = archs[i], o.n_layer = 2, o.n_embd = 128, o.n_ff = 256, o.n_head = 4;
        o.n_head_kv = 2, o.head_dim = 48, o.n_vocab = N_VOCAB, o.type = "F32", o.seed = 3;
        o.out = tmp_path(file);
        uh_err err = {0};
        CHECKF(modelgen_write(&o, &err) == 0, "%s: %s", archs[i], err.msg);
        uh_model *m = NULL;
        CHECKF(load(o.out, NULL, &m, &err) == 0, "%s: %s", archs[i], err.msg);
        if (!m) continue;
        uh_model_info info;
        uh_model_get_info(m, &info);
        CHECKF(info.head_dim == 48 && m->hp.n_rot == 48, "%s: head_dim %d", archs[i],
               info.head_dim);
        CHECK(m->layers[0].wq->ne[1] == 4 * 48 && m->layers[0].wo->ne[0] == 4 * 48 &&
              m->layers[0].wk->ne[1] == 2 * 48 && m->layers[0].w_up->ne[1] == 256);
        uh_model_free(m);
        static float out[N_TOK * N_VOCAB];
        const uh_token ids[N_TOK] = {1, 5, 9, 300, 17, 2, 44, 100};
        CHECKF(logits(o.out, NULL, ids, N_TOK, out, N_VOCAB, &err) == 0, "%s", err.msg);
        int finite = 1;
        for (int k = 0; k < N_TOK * N_VOCAB; k++) finite &= isfinite(out[k]) != 0;
        CHECK(finite);
    }
}

/* Head sizes the engine cannot use are refused with the key named: a value length other than
 * the key length, 0, an odd or absurd size, or one that disagrees with the tensors. */
static void test_bad_head_sizes_are_refused(void)
{
    const char *src = tmp_path("hd-qwen3.gguf"), *dst = tmp_path("hd-bad.gguf");
    if (access(src, R_OK) != 0) test_head_size_from_key_length();
    CHECK(rewrite_u32(src, dst, "qwen3.attention.value_length", 64) == 0);
    expect_load(dst, NULL, UH_EUNSUPPORTED, "qwen3.attention.value_length 64");
    CHECK(rewrite_u32(src, dst, "qwen3.attention.key_length", 0) == 0);
    expect_load(dst, NULL, UH_EFORMAT, "qwen3.attention.key_length");
    CHECK(rewrite_u32(src, dst, "qwen3.attention.key_length", 4096) == 0);
    expect_load(dst, NULL, UH_EFORMAT, "qwen3.attention.key_length");
    CHECK(rewrite_u32(src, dst, "qwen3.attention.key_length", 47) == 0);
    expect_load(dst, NULL, UH_EFORMAT, "qwen3.attention.key_length");
    /* key and value length agree with each other but not with the weights: the q shape says */
    CHECK(rewrite_u32(src, dst, "qwen3.attention.key_length", 64) == 0);
    CHECK(rewrite_u32(dst, tmp_path("hd-bad2.gguf"), "qwen3.attention.value_length", 64) == 0);
    expect_load(tmp_path("hd-bad2.gguf"), NULL, UH_EFORMAT, "attn_q.weight has shape");
    /* without key_length the heads must divide n_embd */
    CHECK(rewrite_u32(gen("llama", "hd-llama3.gguf"), dst, "llama.attention.head_count", 3) == 0);
    expect_load(dst, NULL, UH_EFORMAT, "not divisible by 3 heads");
}

/* ---- mixture of experts ---- */

/* A small llama MoE model (4 experts, 2 per token) of type type. */
static const char *gen_moe(const char *arch, const char *type, const char *file)
{
    modelgen_opts o = modelgen_default_opts();
    o.arch = arch;
    o.n_layer = 2;
    o.n_embd = 128;
    o.n_ff = 96;
    o.n_head = 2;
    o.n_head_kv = 1;
    o.n_vocab = N_VOCAB;
    o.n_expert = 4;
    o.n_expert_used = 2;
    o.n_ff_exp = 64;
    o.type = type;
    o.seed = 11;
    o.out = tmp_path(file);
    uh_err err = {0};
    int rc = modelgen_write(&o, &err);
    CHECKF(rc == 0, "%s: %s", arch, err.msg);
    return o.out;
}

/* Rewrites src into dst with u32 metadata key set to value (if key), tensor drop left out (if
 * set), and tensor flat (if set) stored with shape ne (same element count). */
static int rewrite_moe(const char *src, const char *dst, const char *key, uint32_t value,
                       const char *drop, const char *flat, const int64_t ne[3], uint32_t n_dims)
{
    gguf_file *f = NULL;
    uh_err err = {0};
    if (gguf_open(src, &f, &err)) return -1;
    gguf_writer *w = gguf_writer_new();
    int rc = w ? 0 : -1;
    for (uint64_t i = 0; rc == 0 && i < gguf_n_kv(f); i++)
        rc = gguf_writer_copy_kv(w, gguf_kv_at(f, i));
    if (rc == 0 && key) rc = gguf_writer_set_u32(w, key, value);
    for (uint64_t i = 0; rc == 0 && i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        if (drop && !strcmp(t->name, drop)) continue;
        const int reshape = flat && !strcmp(t->name, flat);
        rc = gguf_writer_add_tensor(w, t->name, t->type, reshape ? n_dims : t->n_dims,
                                    reshape ? ne : t->ne, t->data, t->size);
    }
    if (rc == 0) rc = gguf_writer_write(w, dst, 0, &err);
    gguf_writer_free(w);
    gguf_close(f);
    return rc;
}

/* The expert count chooses the FFN, and every inconsistency between the count keys and the
 * tensors is refused naming the key or the tensor. */
static void test_moe_counts_and_shapes_are_checked(void)
{
    const char *moe = gen_moe("llama", "F32", "moe.gguf");
    uh_model *m = NULL;
    uh_err err = {0};
    CHECKF(load(moe, NULL, &m, &err) == 0, "%s", err.msg);
    if (m) {
        CHECK(m->hp.n_expert == 4 && m->hp.n_expert_used == 2 && m->hp.n_ff_exp == 64);
        CHECK(m->layers[1].gate_inp && m->layers[1].down_exps && !m->layers[1].w_gate);
    }
    uh_model_free(m);
    const char *dst = tmp_path("moe-bad.gguf");
    CHECK(rewrite_moe(moe, dst, "llama.expert_count", 0, NULL, NULL, NULL, 0) == 0);
    expect_load(dst, NULL, UH_EFORMAT,
                "tensor blk.0.ffn_gate_inp.weight is an expert tensor but llama.expert_count is 0");
    CHECK(rewrite_moe(moe, dst, "llama.expert_count", 257, NULL, NULL, NULL, 0) == 0);
    expect_load(dst, NULL, UH_EFORMAT, "llama.expert_count = 257 exceeds 256 experts");
    CHECK(rewrite_moe(moe, dst, "llama.expert_used_count", 5, NULL, NULL, NULL, 0) == 0);
    expect_load(dst, NULL, UH_EFORMAT, "llama.expert_used_count = 5 is outside 1..");
    CHECK(rewrite_moe(moe, dst, "llama.expert_used_count", 0, NULL, NULL, NULL, 0) == 0);
    expect_load(dst, NULL, UH_EFORMAT, "llama.expert_used_count = 0 is outside 1..");
    CHECK(rewrite_moe(moe, dst, NULL, 0, "blk.1.ffn_up_exps.weight", NULL, NULL, 0) == 0);
    expect_load(dst, NULL, UH_EFORMAT, "missing tensor blk.1.ffn_up_exps.weight");
    CHECK(rewrite_moe(moe, dst, NULL, 0, "blk.0.ffn_gate_inp.weight", NULL, NULL, 0) == 0);
    expect_load(dst, NULL, UH_EFORMAT, "missing tensor blk.0.ffn_gate_inp.weight");
    const int64_t flat[3] = {64, 128 * 4, 1}, swapped[3] = {64, 4, 128};
    CHECK(rewrite_moe(moe, dst, NULL, 0, NULL, "blk.0.ffn_down_exps.weight", flat, 2) == 0);
    expect_load(dst, NULL, UH_EFORMAT,
                "tensor blk.0.ffn_down_exps.weight has shape [64, 512], expected [64, 128, 4]");
    CHECK(rewrite_moe(moe, dst, NULL, 0, NULL, "blk.1.ffn_gate_exps.weight", swapped, 3) == 0);
    expect_load(dst, NULL, UH_EFORMAT, "tensor blk.1.ffn_gate_exps.weight has shape [64, 4, 128]");
    /* qwen3moe has no dense FFN: its expert width has its own key, and the count is needed */
    const char *q3 = gen_moe("qwen3moe", "Q4_0", "q3moe.gguf");
    CHECKF(load(q3, NULL, &m, &err) == 0, "%s", err.msg);
    if (m) CHECK(m->hp.n_ff == 96 && m->hp.n_ff_exp == 64 && m->layers[0].q_norm);
    uh_model_free(m);
    CHECK(rewrite_moe(q3, dst, "qwen3moe.expert_count", 0, NULL, NULL, NULL, 0) == 0);
    expect_load(dst, NULL, UH_EFORMAT, "qwen3moe.expert_count is 0; qwen3moe has only expert FFNs");
    /* the generator refuses the same mistakes */
    modelgen_opts o = modelgen_default_opts();
    o.out = dst;
    o.n_expert = 300, o.n_expert_used = 2;
    CHECK(modelgen_write(&o, &err) == UH_EINVAL);
    o.n_expert = 4, o.n_expert_used = 5;
    CHECK(modelgen_write(&o, &err) == UH_EINVAL);
    o.n_expert = 4, o.n_expert_used = 0;
    CHECK(modelgen_write(&o, &err) == UH_EINVAL);
    o.n_expert = 4, o.n_expert_used = 2, o.arch = "qwen2";
    CHECK(modelgen_write(&o, &err) == UH_EINVAL && strstr(err.msg, "no experts"));
}

/* Logits of ids at every position: one batch (decode 0) or one token per eval (decode 1), with
 * n_threads threads, exact (float activations) or with the kernel set's products. decode 2: one
 * batch in a context whose batch scratch holds just the n tokens, so the experts' rows (n times
 * the used count) do not fit it at once. */
static int run_logits(const char *path, const uh_token *ids, int n, int decode, int exact,
                      int n_threads, float *out, int n_vocab, uh_err *err)
{
    uh_model *m;
    uh_ctx *c = NULL;
    int rc = load(path, NULL, &m, err);
    if (rc) return rc;
    uh_ctx_params cp = uh_ctx_default_params();
    cp.exact = exact;
    cp.n_threads = n_threads;
    cp.n_ctx = 128;
    if (decode == 2) cp.n_batch_max = n, decode = 0;
    rc = uh_ctx_new(m, &cp, &c, err);
    int32_t pos[128];
    int8_t want[128];
    for (int i = 0; i < n; i++) pos[i] = i, want[i] = 1;
    const int step = decode ? 1 : n;
    for (int i0 = 0; rc == 0 && i0 < n; i0 += step) {
        uh_batch b = {.n_tokens = step, .tokens = ids + i0, .pos = pos + i0, .want_output = want};
        rc = uh_eval(c, &b, err);
        for (int i = 0; rc == 0 && i < step; i++)
            memcpy(out + (size_t)(i0 + i) * n_vocab, uh_get_logits(c, i),
                   (size_t)n_vocab * sizeof(float));
    }
    uh_ctx_free(c);
    uh_model_free(m);
    return rc;
}

/* Mean over rows of KL(softmax(a) || softmax(b)), and the share of rows with the same argmax. */
static void kl_top1(const float *a, const float *b, int rows, int n, double *kl, double *top1)
{
    *kl = 0, *top1 = 0;
    for (int r = 0; r < rows; r++) {
        const float *x = a + (size_t)r * n, *y = b + (size_t)r * n;
        double mx = -1e30, my = -1e30, sx = 0, sy = 0, k = 0;
        int ax = 0, ay = 0;
        for (int i = 0; i < n; i++) {
            if (x[i] > mx) mx = x[i], ax = i;
            if (y[i] > my) my = y[i], ay = i;
        }
        for (int i = 0; i < n; i++) sx += exp(x[i] - mx), sy += exp(y[i] - my);
        for (int i = 0; i < n; i++) {
            const double lp = x[i] - mx - log(sx), lq = y[i] - my - log(sy);
            k += exp(lp) * (lp - lq);
        }
        *kl += k / rows;
        *top1 += (ax == ay) / (double)rows;
    }
}

/* A batch, token-by-token decoding and a batch whose expert rows overflow the scratch (run in
 * several hand-outs) give the same numbers: a generated Q8_0 MoE model (packed kernels where the
 * set has them) on 1, 2 and 3 threads. And
 * the kernels' products stay close to the exact path, so expert slices are the right bytes. */
static void test_moe_batch_equals_decode(void)
{
    static float batch[N_TOK * N_VOCAB], dec[N_TOK * N_VOCAB], ex[N_TOK * N_VOCAB];
    const char *moe = gen_moe("llama", "Q8_0", "moe-q8.gguf");
    uh_err err = {0};
    CHECKF(run_logits(moe, k_ids, N_TOK, 0, 0, 3, batch, N_VOCAB, &err) == 0, "%s", err.msg);
    CHECKF(run_logits(moe, k_ids, N_TOK, 1, 0, 1, dec, N_VOCAB, &err) == 0, "%s", err.msg);
    CHECK(memcmp(batch, dec, sizeof batch) == 0);
    CHECKF(run_logits(moe, k_ids, N_TOK, 2, 0, 2, dec, N_VOCAB, &err) == 0, "%s", err.msg);
    CHECK(memcmp(batch, dec, sizeof batch) == 0);
    CHECKF(run_logits(moe, k_ids, N_TOK, 0, 1, 2, ex, N_VOCAB, &err) == 0, "%s", err.msg);
    const double d = rel_diff(ex, batch, N_TOK, N_VOCAB);
    printf("  kernels vs exact: %.4f\n", d);
    CHECKF(d < 0.1, "kernels vs exact: %.4f", d);
    /* a dense file of the same shape is another model: the experts were used */
    const char *dense = gen("llama", "dense.gguf");
    CHECKF(run_logits(dense, k_ids, N_TOK, 0, 1, 2, dec, N_VOCAB, &err) == 0, "%s", err.msg);
    printf("  moe vs dense: %.4f\n", rel_diff(ex, dec, N_TOK, N_VOCAB));
    CHECK(rel_diff(ex, dec, N_TOK, N_VOCAB) > 0.5);
}

/* The shared MoE fixtures against llama.cpp: F32 files match its logits to float rounding
 * (batch and decode); quantized files land where llama.cpp lands (KL <= max(1.5 x llama.cpp's,
 * 1e-6), top-1 >= llama.cpp's - 0.05, its seqB numbers from arch/README.md). */
static void test_moe_fixtures_match_llama_cpp(void)
{
    static const uh_token seq_b[64] = {
        1,   390,  557,  897, 56,  318, 839, 965, 313, 334, 452,  508, 133, 388, 595, 605,
        110, 695,  113,  384, 544, 658, 729, 98,  394, 764, 390,  51,  449, 275, 898, 1002,
        971, 568,  1002, 727, 582, 39,  599, 322, 392, 933, 79,   857, 279, 929, 614, 166,
        64,  1015, 747,  619, 278, 968, 517, 306, 507, 534, 1000, 453, 471, 356, 113, 241};
    static const struct {
        const char *base, *type;
        double kl, top1; /* llama.cpp's own, seqB; 0 for F32 */
    } files[] = {
        {"llama-moe-s1", "F32", 0, 1},
        {"llama-moe-s1", "Q8_0", 7.00e-03, 0.953},
        {"llama-moe-s1", "Q4_K_M", 3.58e-01, 0.656},
        {"qwen3moe-s1", "F32", 0, 1},
        {"qwen3moe-s1", "Q8_0", 5.62e-02, 0.953},
        {"qwen3moe-s1", "Q4_K_M", 2.07e-01, 0.844},
    };
    static float truth[64 * 1024], got[64 * 1024];
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        char path[512], tpath[512];
        snprintf(path, sizeof path, "%s/arch/models/%s-%s.gguf", t_testdata(), files[k].base,
                 files[k].type);
        snprintf(tpath, sizeof tpath, "%s/arch/logits/%s-F32.seqB.truth.f32", t_testdata(),
                 files[k].base);
        FILE *tf = fopen(tpath, "rb");
        if (access(path, R_OK) != 0 || !tf) {
            printf("  (skipped: %s not found)\n", path);
            if (tf) fclose(tf);
            continue;
        }
        CHECK(fread(truth, sizeof(float), 64 * 1024, tf) == 64 * 1024);
        fclose(tf);
        uh_err err = {0};
        for (int decode = 0; decode <= 1; decode++) {
            double kl, top1;
            CHECKF(run_logits(path, seq_b, 64, decode, 0, 2, got, 1024, &err) == 0, "%s", err.msg);
            kl_top1(truth, got, 64, 1024, &kl, &top1);
            printf("  %s-%s %s: KL %.2e top-1 %.3f\n", files[k].base, files[k].type,
                   decode ? "decode" : "batch", kl, top1);
            const double kl_max = 1.5 * files[k].kl > 1e-6 ? 1.5 * files[k].kl : 1e-6;
            CHECKF(kl <= kl_max && top1 >= files[k].top1 - 0.05, "%s-%s: KL %.3e top-1 %.3f",
                   files[k].base, files[k].type, kl, top1);
        }
    }
}

/* phi3's fused tensors: attn_qkv holds q, k and v rows, ffn_up gate rows then up rows; the
 * loader splits them into row slices. A description with both a fused and a separate tensor is
 * refused, and so are LongRoPE files (not supported yet). */
static void test_phi3_fused_tensors(void)
{
    const arch_desc *phi3 = arch_find("phi3", 4);
    CHECK(phi3 && phi3->tensors[AT_ATTN_QKV].need == ARCH_REQUIRED &&
          phi3->tensors[AT_ATTN_Q].need == ARCH_ABSENT &&
          phi3->tensors[AT_FFN_GATE].need == ARCH_ABSENT && phi3->rope == ROPE_NEOX);
    if (!phi3) return;
    char buf[64];
    CHECK(arch_tensor_name(phi3, AT_FFN_GATE_UP, 1, buf, sizeof buf) == 0 &&
          !strcmp(buf, "blk.1.ffn_up.weight"));
    const char *path = gen("phi3", "phi3.gguf");
    uh_model *m = NULL;
    uh_err err = {0};
    CHECKF(load(path, NULL, &m, &err) == 0, "%s", err.msg);
    if (m) {
        const layer_weights *l = &m->layers[1];
        const size_t qrow = (size_t)l->wqkv->size / (size_t)l->wqkv->ne[1];
        /* n_embd 128, 2 heads of 64, 1 KV head: q rows 0..127, k 128..191, v 192..255 */
        CHECK(l->wq->data == l->wqkv->data && l->wq->ne[1] == 128);
        CHECK((const char *)l->wk->data == (const char *)l->wqkv->data + 128 * qrow &&
              l->wk->ne[1] == 64);
        CHECK((const char *)l->wv->data == (const char *)l->wqkv->data + 192 * qrow &&
              l->wv->ne[1] == 64);
        const size_t frow = (size_t)l->w_gate_up->size / (size_t)l->w_gate_up->ne[1];
        CHECK(l->w_gate->data == l->w_gate_up->data && l->w_gate->ne[1] == 256);
        CHECK((const char *)l->w_up->data == (const char *)l->w_gate_up->data + 256 * frow &&
              l->w_up->ne[1] == 256);
        uh_model_free(m);
    }
    arch_desc both = *phi3;
    both.tensors[AT_ATTN_Q] = (arch_tensor_desc){"blk.%d.attn_q.weight", ARCH_REQUIRED};
    CHECK(arch_check(&both, &err) == UH_EUNSUPPORTED);
    CHECK(rewrite(path, tmp_path("phi3-longrope.gguf"), NULL, "rope_factors_long.weight", 32) == 0);
    expect_load(tmp_path("phi3-longrope.gguf"), NULL, UH_EUNSUPPORTED, "LongRoPE");
}

/* Gemma's settings from bad metadata are refused with the key named: a window of 0 or none, a
 * local/global pattern outside 1..n_layer, a soft-cap that is not positive. */
static void test_gemma_bad_metadata_is_refused(void)
{
    const char *g2 = gen("gemma2", "g2.gguf"), *g3 = gen("gemma3", "g3.gguf");
    const char *bad = tmp_path("g-bad.gguf");
    expect_load(g2, NULL, UH_OK, NULL);
    expect_load(g3, NULL, UH_OK, NULL);
    struct {
        const char *src, *key;
        int kind;
        uint32_t u;
        float x;
    } cases[] = {
        {g2, "gemma2.attention.sliding_window", 1, 0, 0},
        {g3, "gemma3.attention.sliding_window", 0, 0, 0},
        {g2, "gemma2.attention.sliding_window_pattern", 1, 0, 0},
        {g2, "gemma2.attention.sliding_window_pattern", 1, 3, 0}, /* 2 layers */
        {g3, "gemma3.attention.sliding_window_pattern", 1, 7, 0},
        {g2, "gemma2.attn_logit_softcapping", 2, 0, 0},
        {g2, "gemma2.attn_logit_softcapping", 2, 0, -50},
        {g2, "gemma2.final_logit_softcapping", 2, 0, -1},
        {g3, "gemma3.final_logit_softcapping", 2, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(rewrite_kv(cases[i].src, bad, cases[i].key, cases[i].kind, cases[i].u, cases[i].x) ==
              0);
        expect_load(bad, NULL, UH_EFORMAT, cases[i].key);
    }
}

/* The per-layer choices resolved at load follow the pattern: gemma2 slides on even layers,
 * gemma3 on five of six, and gemma3's local layers take their own RoPE table. */
static void test_gemma_layers_follow_the_pattern(void)
{
    modelgen_opts o = modelgen_default_opts();
    o.arch = "gemma3", o.n_layer = 7, o.n_embd = 64, o.n_ff = 64, o.n_head = 2, o.n_head_kv = 1;
    o.head_dim = 32, o.n_vocab = N_VOCAB, o.type = "F32", o.window = 5;
    o.rope_base = 1e6f, o.out = tmp_path("g3-7.gguf");
    uh_err err = {0};
    CHECKF(modelgen_write(&o, &err) == 0, "%s", err.msg);
    uh_model *m = NULL;
    CHECKF(load(o.out, NULL, &m, &err) == 0, "%s", err.msg);
    for (int il = 0; m && il < 7; il++) {
        const int local = il % 6 < 5;
        CHECKF(m->layers[il].window == (local ? 5 : 0) && m->layers[il].rope_swa == local,
               "gemma3 layer %d: window %d", il, m->layers[il].window);
    }
    CHECK(m && m->hp.rope_base_swa == 10000.0f && m->hp.rope_base == 1e6f);
    uh_model_free(m);
    m = NULL;
    CHECKF(load(gen("gemma2", "g2.gguf"), NULL, &m, &err) == 0, "%s", err.msg);
    CHECK(m && m->layers[0].window == 64 && m->layers[1].window == 0 && !m->rope_swa_used);
    CHECK(m && m->hp.attn_softcap == 50.0f && m->hp.final_softcap == 30.0f);
    uh_model_free(m);
}

/* Gemma's attention scale: 1/sqrt(head_dim), except at the layer count of the 27B models
 * (gemma2 46, gemma3 62), where it is 1/sqrt(n_embd / n_head). */
static void test_gemma_attention_scale(void)
{
    static const struct {
        const char *arch;
        int n_layer;
        float want_dim; /* the scale is 1/sqrt(want_dim) */
    } cases[] = {{"gemma2", 45, 32},
                 {"gemma2", 46, 64},
                 {"gemma3", 62, 64},
                 {"gemma3", 46, 32},
                 {"llama", 46, 32}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        modelgen_opts o = modelgen_default_opts();
        o.arch = cases[i].arch, o.n_layer = cases[i].n_layer, o.n_embd = 128, o.n_ff = 32;
        o.n_head = 2, o.n_head_kv = 1, o.head_dim = 32, o.n_vocab = N_VOCAB, o.type = "F32";
        o.out = tmp_path("gscale.gguf");
        uh_err err = {0};
        uh_model *m = NULL;
        CHECKF(modelgen_write(&o, &err) == 0, "%s", err.msg);
        CHECKF(load(o.out, NULL, &m, &err) == 0, "%s", err.msg);
        CHECKF(m && fabsf(m->hp.attn_scale - 1.0f / sqrtf(cases[i].want_dim)) < 1e-7f,
               "%s with %d layers: scale %g", cases[i].arch, cases[i].n_layer,
               m ? (double)m->hp.attn_scale : 0.0);
        uh_model_free(m);
    }
}

/* The window and the soft-caps change what is computed: a window shorter than the sequence
 * changes the logits, one longer than it gives exactly the numbers of all-global layers; a final
 * cap bounds every logit. */
static void test_gemma_window_and_caps_act(void)
{
    const char *g2 = gen("gemma2", "g2.gguf");
    const char *narrow = tmp_path("g2-w2.gguf"), *global = tmp_path("g2-glob.gguf");
    const char *capped = tmp_path("g2-cap.gguf");
    CHECK(rewrite_u32(g2, narrow, "gemma2.attention.sliding_window", 2) == 0);
    CHECK(rewrite_u32(g2, global, "gemma2.attention.sliding_window_pattern", 1) == 0);
    CHECK(rewrite_kv(g2, capped, "gemma2.final_logit_softcapping", 2, 0, 0.5f) == 0);
    static float wide[N_TOK * N_VOCAB], w2[N_TOK * N_VOCAB], all[N_TOK * N_VOCAB],
        cap[N_TOK * N_VOCAB];
    uh_err err = {0};
    CHECKF(logits(g2, NULL, k_ids, N_TOK, wide, N_VOCAB, &err) == 0, "%s", err.msg);
    CHECKF(logits(narrow, NULL, k_ids, N_TOK, w2, N_VOCAB, &err) == 0, "%s", err.msg);
    CHECKF(logits(global, NULL, k_ids, N_TOK, all, N_VOCAB, &err) == 0, "%s", err.msg);
    CHECKF(logits(capped, NULL, k_ids, N_TOK, cap, N_VOCAB, &err) == 0, "%s", err.msg);
    CHECK(memcmp(wide, all, sizeof wide) == 0);
    /* positions 0 and 1 see at most 2 keys either way */
    CHECK(memcmp(wide, w2, 2 * N_VOCAB * sizeof(float)) == 0);
    const double d = rel_diff(wide + 2 * N_VOCAB, w2 + 2 * N_VOCAB, N_TOK - 2, N_VOCAB);
    CHECKF(d > 0.01, "a window of 2 changed the logits by only %.4f", d);
    float mx = 0;
    for (int i = 0; i < N_TOK * N_VOCAB; i++) mx = fabsf(cap[i]) > mx ? fabsf(cap[i]) : mx;
    CHECKF(mx <= 0.5f && mx > 0.1f, "final cap 0.5: max |logit| %.3f", mx);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    qtypes_init();
    snprintf(g_dir, sizeof g_dir, "/tmp/uh-test-arch-XXXXXX");
    if (!mkdtemp(g_dir)) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    T_RUN(test_entries_name_llama_cpp_tensors);
    T_RUN(test_unknown_architecture_is_refused);
    T_RUN(test_required_tensors_come_from_the_entry);
    T_RUN(test_optional_bias_present_is_used);
    T_RUN(test_absent_roles_are_not_looked_up);
    T_RUN(test_unimplemented_operations_are_refused);
    T_RUN(test_qwen3_entry_matches_llama_cpp);
    T_RUN(test_head_size_from_key_length);
    T_RUN(test_bad_head_sizes_are_refused);
    T_RUN(test_phi3_fused_tensors);
    T_RUN(test_moe_counts_and_shapes_are_checked);
    T_RUN(test_moe_batch_equals_decode);
    T_RUN(test_moe_fixtures_match_llama_cpp);
    T_RUN(test_gemma_bad_metadata_is_refused);
    T_RUN(test_gemma_layers_follow_the_pattern);
    T_RUN(test_gemma_attention_scale);
    T_RUN(test_gemma_window_and_caps_act);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", g_dir);
    return t_exit();
}
