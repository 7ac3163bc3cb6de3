/* model.c - architecture table, hyperparameters from GGUF metadata, and binding + validating
 * every weight tensor the forward pass needs (see model.h). */
#include "engine/model.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>

#include "base/err.h"
#include "base/log.h"
#include "base/threadpool.h"
#include "kernels/qtypes.h"

static int pack_weights(uh_model *m, uh_err *err);

/* ---- architectures ---- */

static const arch_desc arch_table[] = {
    /* Llama 2/3.x, Mistral, TinyLlama, SmolLM: plain pre-norm decoder, GQA, SwiGLU. */
    {.name = "llama", .rope = ROPE_NORM, .qkv_bias = BIAS_OPTIONAL, .out_bias = BIAS_OPTIONAL,
     .tied_output_allowed = 1},
    /* Qwen2 / Qwen2.5: biases on q, k, v; NEOX rope. */
    {.name = "qwen2", .rope = ROPE_NEOX, .qkv_bias = BIAS_REQUIRED, .out_bias = BIAS_NONE,
     .tied_output_allowed = 1},
};

const arch_desc *arch_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof arch_table / sizeof arch_table[0]; i++)
        if (strlen(arch_table[i].name) == len && memcmp(arch_table[i].name, name, len) == 0)
            return &arch_table[i];
    return NULL;
}

/* ---- hyperparameters ---- */

/* Reads "<arch>.<suffix>" as a positive int; absent -> def (def < 0: required). */
static int get_int(const gguf_file *f, const char *arch, const char *suffix, int def, int *out,
                   uh_err *err)
{
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v;
    int rc = gguf_get_u32(f, key, &v, err);
    if (rc == UH_ENOTFOUND) {
        if (def < 0) return err_setf(err, UH_EFORMAT, "model: missing metadata key %s", key);
        *out = def;
        return UH_OK;
    }
    if (rc != 0) return rc;
    if (v == 0 || v > (1u << 24))
        return err_setf(err, UH_EFORMAT, "model: metadata %s = %u is out of range", key, v);
    *out = (int)v;
    return UH_OK;
}

static int get_float(const gguf_file *f, const char *arch, const char *suffix, float def,
                     float *out, uh_err *err)
{
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = gguf_get_f32(f, key, out, err);
    if (rc == UH_ENOTFOUND) {
        *out = def;
        return UH_OK;
    }
    if (rc == 0 && !isfinite(*out))
        return err_setf(err, UH_EFORMAT, "model: metadata %s is not a finite number", key);
    return rc;
}

static int read_hparams(const gguf_file *f, const char *arch, hparams *hp, uh_err *err)
{
    int rc;
    if ((rc = get_int(f, arch, "embedding_length", -1, &hp->n_embd, err)) ||
        (rc = get_int(f, arch, "block_count", -1, &hp->n_layer, err)) ||
        (rc = get_int(f, arch, "feed_forward_length", -1, &hp->n_ff, err)) ||
        (rc = get_int(f, arch, "attention.head_count", -1, &hp->n_head, err)) ||
        (rc = get_int(f, arch, "attention.head_count_kv", hp->n_head, &hp->n_head_kv, err)) ||
        (rc = get_int(f, arch, "context_length", 2048, &hp->n_ctx_train, err)))
        return rc;
    if (hp->n_embd % hp->n_head != 0)
        return err_setf(err, UH_EFORMAT, "model: embedding_length %d not divisible by %d heads",
                        hp->n_embd, hp->n_head);
    if (hp->n_head % hp->n_head_kv != 0)
        return err_setf(err, UH_EFORMAT, "model: head_count %d not a multiple of head_count_kv %d",
                        hp->n_head, hp->n_head_kv);
    if ((rc = get_int(f, arch, "attention.key_length", hp->n_embd / hp->n_head, &hp->head_dim,
                      err)))
        return rc;
    int v_len;
    if ((rc = get_int(f, arch, "attention.value_length", hp->head_dim, &v_len, err))) return rc;
    if (v_len != hp->head_dim)
        return err_setf(err, UH_EUNSUPPORTED,
                        "model: key_length %d != value_length %d is not supported yet",
                        hp->head_dim, v_len);
    if ((rc = get_int(f, arch, "rope.dimension_count", hp->head_dim, &hp->n_rot, err))) return rc;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0)
        return err_setf(err, UH_EFORMAT, "model: rope.dimension_count %d invalid for head size %d",
                        hp->n_rot, hp->head_dim);
    if ((rc = get_float(f, arch, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->norm_eps, err)) ||
        (rc = get_float(f, arch, "rope.freq_base", 10000.0f, &hp->rope_base, err)))
        return rc;
    if (hp->norm_eps < 0 || hp->rope_base <= 0)
        return err_setf(err, UH_EFORMAT, "model: rms epsilon / rope freq_base out of range");

    /* RoPE scaling: "none" or "linear" (positions divided by the factor). */
    hp->rope_scale = 1.0f;
    char key[160];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    gguf_str st;
    rc = gguf_get_str(f, key, &st, err);
    if (rc == 0) {
        if (st.len == 6 && memcmp(st.ptr, "linear", 6) == 0) {
            float factor;
            if ((rc = get_float(f, arch, "rope.scaling.factor", 1.0f, &factor, err))) return rc;
            if (factor <= 0) return err_setf(err, UH_EFORMAT, "model: rope.scaling.factor <= 0");
            hp->rope_scale = 1.0f / factor;
        } else if (!(st.len == 4 && memcmp(st.ptr, "none", 4) == 0)) {
            return err_setf(err, UH_EUNSUPPORTED, "model: rope scaling '%.*s' is not supported yet",
                            (int)(st.len > 32 ? 32 : st.len), st.ptr);
        }
    } else if (rc != UH_ENOTFOUND) {
        return rc;
    } else {
        /* older files: only the linear factor */
        float lin;
        if ((rc = get_float(f, arch, "rope.scale_linear", 1.0f, &lin, err))) return rc;
        if (lin <= 0) return err_setf(err, UH_EFORMAT, "model: rope.scale_linear <= 0");
        hp->rope_scale = 1.0f / lin;
    }
    return UH_OK;
}

/* ---- tensors ---- */

/* Finds a tensor and checks its shape (ne1 == 0 for a vector). NULL + error if missing and
 * required, or if present with the wrong shape or an unusable type. */
static int bind(const gguf_file *f, const char *name, int64_t ne0, int64_t ne1, int required,
                const gguf_tensor **out, uh_err *err)
{
    const gguf_tensor *t = gguf_find_tensor(f, name);
    *out = NULL;
    if (!t) {
        if (required) return err_setf(err, UH_EFORMAT, "model: missing tensor %s", name);
        return UH_OK;
    }
    uint32_t want_dims = ne1 ? 2 : 1;
    int ok = t->n_dims == want_dims && t->ne[0] == ne0 && (ne1 == 0 || t->ne[1] == ne1);
    for (uint32_t d = want_dims; d < GGUF_MAX_DIMS; d++) ok = ok && t->ne[d] == 1;
    if (!ok) {
        char have[96];
        int n = snprintf(have, sizeof have, "[%lld", (long long)t->ne[0]);
        for (uint32_t d = 1; d < t->n_dims && n > 0 && (size_t)n < sizeof have; d++)
            n += snprintf(have + n, sizeof have - (size_t)n, ", %lld", (long long)t->ne[d]);
        if (n > 0 && (size_t)n < sizeof have) snprintf(have + n, sizeof have - (size_t)n, "]");
        if (ne1)
            return err_setf(err, UH_EFORMAT, "model: tensor %s has shape %s, expected [%lld, %lld]",
                            name, have, (long long)ne0, (long long)ne1);
        return err_setf(err, UH_EFORMAT, "model: tensor %s has shape %s, expected [%lld]", name,
                        have, (long long)ne0);
    }
    /* kernels read floats and fp16 scales in place: a file with a tiny alignment could put
     * them at odd addresses */
    if ((uintptr_t)t->data % 4 != 0)
        return err_setf(err, UH_EUNSUPPORTED,
                        "model: tensor %s data is not 4-byte aligned (file alignment %u)", name,
                        gguf_alignment(f));
    if (ne1 == 0 && t->type != QT_F32)
        return err_setf(err, UH_EUNSUPPORTED, "model: 1-D tensor %s has type %s; expected F32", name,
                        qtype_name((int)t->type));
    if (ne1 != 0 && (!qtype_is_valid((int)t->type) || !qtype_traits[t->type].vec_dot))
        return err_setf(err, UH_EUNSUPPORTED, "model: tensor %s has type %s, which has no kernels",
                        name, qtype_name((int)t->type));
    *out = t;
    return UH_OK;
}

static int bind_layer(const uh_model *m, int il, layer_weights *l, uh_err *err)
{
    const gguf_file *f = m->file;
    const hparams *hp = &m->hp;
    const int64_t d = hp->n_embd, dq = (int64_t)hp->n_head * hp->head_dim,
                  dkv = (int64_t)hp->n_head_kv * hp->head_dim, ff = hp->n_ff;
    const int qkvb = m->arch->qkv_bias, ob = m->arch->out_bias;
    char name[96];
    int rc;
#define BIND(field, suffix, a, b, req)                                                             \
    do {                                                                                           \
        snprintf(name, sizeof name, "blk.%d.%s", il, suffix);                                      \
        if ((rc = bind(f, name, a, b, req, &l->field, err))) return rc;                            \
    } while (0)
    BIND(attn_norm, "attn_norm.weight", d, 0, 1);
    BIND(wq, "attn_q.weight", d, dq, 1);
    BIND(wk, "attn_k.weight", d, dkv, 1);
    BIND(wv, "attn_v.weight", d, dkv, 1);
    BIND(wo, "attn_output.weight", dq, d, 1);
    if (qkvb != BIAS_NONE) {
        BIND(bq, "attn_q.bias", dq, 0, qkvb == BIAS_REQUIRED);
        BIND(bk, "attn_k.bias", dkv, 0, qkvb == BIAS_REQUIRED);
        BIND(bv, "attn_v.bias", dkv, 0, qkvb == BIAS_REQUIRED);
    }
    if (ob != BIAS_NONE) BIND(bo, "attn_output.bias", d, 0, ob == BIAS_REQUIRED);
    BIND(ffn_norm, "ffn_norm.weight", d, 0, 1);
    BIND(w_gate, "ffn_gate.weight", d, ff, 1);
    BIND(w_up, "ffn_up.weight", d, ff, 1);
    BIND(w_down, "ffn_down.weight", ff, d, 1);
#undef BIND
    return UH_OK;
}

int model_load_gguf(gguf_file *f, uh_model **out, uh_err *err)
{
    *out = NULL;
    int rc;
    uh_model *m = calloc(1, sizeof *m);
    if (!m) {
        gguf_close(f);
        return err_setf(err, UH_ENOMEM, "model: out of memory");
    }
    m->file = f;

    gguf_str arch;
    rc = gguf_get_str(f, "general.architecture", &arch, err);
    if (rc == UH_ENOTFOUND) rc = err_setf(err, UH_EFORMAT, "model: no general.architecture key");
    if (rc) goto fail;
    m->arch = arch_find(arch.ptr, arch.len);
    if (!m->arch) {
        rc = err_setf(err, UH_EUNSUPPORTED, "architecture %.*s is not supported yet",
                      (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
        goto fail;
    }
    gguf_str name;
    if (gguf_get_str(f, "general.name", &name, NULL) == 0)
        snprintf(m->name, sizeof m->name, "%.*s", (int)(name.len > 127 ? 127 : name.len), name.ptr);

    if ((rc = read_hparams(f, m->arch->name, &m->hp, err))) goto fail;
    if ((rc = vocab_load(f, &m->vocab, err))) goto fail;
    hparams *hp = &m->hp;

    /* The vocabulary size is the embedding's row count; the tokenizer must cover it. */
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb) {
        rc = err_setf(err, UH_EFORMAT, "model: missing tensor token_embd.weight");
        goto fail;
    }
    hp->n_vocab = (int)(emb->n_dims == 2 ? emb->ne[1] : 0);
    if (hp->n_vocab <= 0 || hp->n_vocab != vocab_n_tokens(m->vocab)) {
        rc = err_setf(err, UH_EFORMAT,
                      "model: token_embd.weight has %lld rows but the tokenizer has %d tokens",
                      (long long)(emb->n_dims == 2 ? emb->ne[1] : -1), vocab_n_tokens(m->vocab));
        goto fail;
    }
    if ((rc = bind(f, "token_embd.weight", hp->n_embd, hp->n_vocab, 1, &m->tok_embd, err)) ||
        (rc = bind(f, "output_norm.weight", hp->n_embd, 0, 1, &m->output_norm, err)) ||
        (rc = bind(f, "output.weight", hp->n_embd, hp->n_vocab, !m->arch->tied_output_allowed,
                   &m->output, err)) ||
        (rc = bind(f, "rope_freqs.weight", hp->n_rot / 2, 0, 0, &m->rope_freqs, err)))
        goto fail;
    if (!m->output) m->output = m->tok_embd;
    if (!qtype_traits[m->tok_embd->type].to_float) {
        rc = err_setf(err, UH_EUNSUPPORTED, "model: token_embd.weight type %s cannot be read",
                      qtype_name((int)m->tok_embd->type));
        goto fail;
    }

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) {
        rc = err_setf(err, UH_ENOMEM, "model: out of memory");
        goto fail;
    }
    for (int il = 0; il < hp->n_layer; il++)
        if ((rc = bind_layer(m, il, &m->layers[il], err))) goto fail;
    if ((rc = pack_weights(m, err))) goto fail;
    *out = m;
    return UH_OK;
fail:
    uh_model_free(m);
    return rc;
}

/* ---- packed weights ----
 *
 * Where the chosen kernel set has a packed layout for a matrix's type (qt_packed_kernels), the
 * matrix is copied into it once here; the products then read only the copy, and the file's pages
 * of the original are given back to the kernel (they are read again if something touches them,
 * as the token embedding's lookup does when the output matrix is tied to it). So resident memory
 * stays about one copy of the weights, and loading costs one pass over them. */

static const gguf_tensor *packable(const gguf_tensor *t)
{
    if (!t || t->packed || t->n_dims != 2 || t->ne[1] % QT_PACK_ROWS) return NULL;
    const qtype_traits_t *tr = &qtype_traits[t->type];
    if (!tr->packed || t->ne[0] % tr->blck_size) return NULL;
    return t;
}

typedef struct {
    const gguf_tensor **t;
    uint8_t **dst;
    int n;
} pack_job;

static void pack_worker(void *arg, int ith, int nth)
{
    const pack_job *j = arg;
    for (int i = 0; i < j->n; i++) {
        const gguf_tensor *t = j->t[i];
        const qtype_traits_t *tr = &qtype_traits[t->type];
        const int k = (int)t->ne[0], groups = (int)(t->ne[1] / QT_PACK_ROWS);
        const size_t row = qtype_row_size((enum qtype)t->type, k), gb = tr->packed->group_bytes(k);
        int g0, g1;
        tp_split(groups, ith, nth, &g0, &g1);
        for (int g = g0; g < g1; g++)
            tr->packed->pack(k, (const uint8_t *)t->data + (size_t)g * QT_PACK_ROWS * row, row,
                             j->dst[i] + (size_t)g * gb);
    }
}

static int pack_weights(uh_model *m, uh_err *err)
{
    qtypes_init();
    const int n_max = 7 * m->hp.n_layer + 1;
    const gguf_tensor **list = calloc((size_t)n_max, sizeof *list);
    uint8_t **dst = calloc((size_t)n_max, sizeof *dst);
    if (!list || !dst) {
        free(list);
        free(dst);
        return err_setf(err, UH_ENOMEM, "model: out of memory");
    }
    int n = 0;
    size_t total = 0;
    for (int il = 0; il <= m->hp.n_layer; il++) {
        const layer_weights *l = il < m->hp.n_layer ? &m->layers[il] : NULL;
        const gguf_tensor *cand[7] = {m->output};
        if (l) {
            const gguf_tensor *lc[7] = {l->wq, l->wk, l->wv, l->wo, l->w_gate, l->w_up, l->w_down};
            memcpy(cand, lc, sizeof cand);
        }
        for (int c = 0; c < 7; c++) {
            const gguf_tensor *t = packable(cand[c]);
            int dup = 0;
            for (int i = 0; t && i < n; i++) dup |= list[i] == t;
            if (!t || dup) continue;
            list[n++] = t;
            total += (size_t)(t->ne[1] / QT_PACK_ROWS) *
                     qtype_traits[t->type].packed->group_bytes((int)t->ne[0]);
        }
    }
    if (n > 0) {
        void *mem = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        tp_pool *pool = mem != MAP_FAILED ? tp_new(0) : NULL;
        if (!pool) {
            /* the unpacked kernels still work on the mapped file: slower, not broken */
            if (mem != MAP_FAILED) munmap(mem, total);
            log_warn("model_pack_skipped", "bytes=%zu reason=%s", total,
                     mem == MAP_FAILED ? "no memory" : "no threads");
        } else {
#ifdef MADV_HUGEPAGE
            madvise(mem, total, MADV_HUGEPAGE); /* fewer TLB misses while streaming */
#endif
            size_t off = 0;
            for (int i = 0; i < n; i++) {
                dst[i] = (uint8_t *)mem + off;
                off += (size_t)(list[i]->ne[1] / QT_PACK_ROWS) *
                       qtype_traits[list[i]->type].packed->group_bytes((int)list[i]->ne[0]);
            }
            /* one tensor at a time, so at most one tensor is resident twice */
            for (int i = 0; i < n; i++) {
                pack_job j = {&list[i], &dst[i], 1};
                tp_run(pool, pack_worker, &j);
                gguf_tensor_mut(m->file, list[i])->packed = dst[i];
                if (list[i] != m->tok_embd) gguf_tensor_release(m->file, list[i]);
            }
            tp_free(pool);
            m->packed_mem = mem;
            m->packed_len = total;
        }
    }
    free(list);
    free(dst);
    return UH_OK;
}

/* ---- public ---- */

int uh_model_load(const char *path, uh_model **out, uh_err *err)
{
    gguf_file *f;
    *out = NULL;
    int rc = gguf_open(path, &f, err);
    if (rc) return rc;
    return model_load_gguf(f, out, err);
}

void uh_model_free(uh_model *m)
{
    if (!m) return;
    if (m->packed_mem) munmap(m->packed_mem, m->packed_len);
    free(m->layers);
    vocab_free(m->vocab);
    gguf_close(m->file);
    free(m);
}

void uh_model_get_info(const uh_model *m, uh_model_info *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->arch, sizeof info->arch, "%s", m->arch->name);
    snprintf(info->name, sizeof info->name, "%s", m->name);
    info->n_vocab = m->hp.n_vocab;
    info->n_embd = m->hp.n_embd;
    info->n_layer = m->hp.n_layer;
    info->n_head = m->hp.n_head;
    info->n_head_kv = m->hp.n_head_kv;
    info->head_dim = m->hp.head_dim;
    info->n_ff = m->hp.n_ff;
    info->n_ctx_train = m->hp.n_ctx_train;
    for (uint64_t i = 0; i < gguf_n_tensors(m->file); i++) {
        const gguf_tensor *t = gguf_tensor_at(m->file, i);
        info->n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        info->size_bytes += t->size;
    }
}
