/* model.c - hyperparameters from GGUF metadata, and binding + validating every weight tensor the
 * forward pass needs, found through the architecture's description (arch.h; see model.h). */
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

/* ---- hyperparameters ---- */

/* "<arch>.<suffix>" into buf; returns buf. */
static const char *key_of(char *buf, size_t size, const char *arch, const char *suffix)
{
    snprintf(buf, size, "%s.%s", arch, suffix);
    return buf;
}

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

static int read_hparams(const gguf_file *f, const arch_desc *a, hparams *hp, uh_err *err)
{
    const char *arch = a->name;
    int rc;
    if ((rc = get_int(f, arch, "embedding_length", -1, &hp->n_embd, err)) ||
        (rc = get_int(f, arch, "block_count", -1, &hp->n_layer, err)) ||
        (rc = get_int(f, arch, "feed_forward_length", -1, &hp->n_ff, err)) ||
        (rc = get_int(f, arch, "attention.head_count", -1, &hp->n_head, err)) ||
        (rc = get_int(f, arch, "attention.head_count_kv", hp->n_head, &hp->n_head_kv, err)) ||
        (rc = get_int(f, arch, "context_length", 2048, &hp->n_ctx_train, err)))
        return rc;
    if (hp->n_head % hp->n_head_kv != 0)
        return err_setf(err, UH_EFORMAT, "model: head_count %d not a multiple of head_count_kv %d",
                        hp->n_head, hp->n_head_kv);
    /* The head size: attention.key_length when the file has it (qwen3, gemma: q and
     * attn_output are then n_head * head_dim wide, not n_embd), else n_embd / n_head. The
     * engine keeps K and V in one cell layout, so value_length must equal it. */
    char kl_key[160], vl_key[160];
    snprintf(kl_key, sizeof kl_key, "%s.attention.key_length", arch);
    snprintf(vl_key, sizeof vl_key, "%s.attention.value_length", arch);
    if ((rc = get_int(f, arch, "attention.key_length", 0, &hp->head_dim, err))) return rc;
    if (hp->head_dim == 0) {
        if (hp->n_embd % hp->n_head != 0)
            return err_setf(err, UH_EFORMAT,
                            "model: embedding_length %d not divisible by %d heads, and no %s",
                            hp->n_embd, hp->n_head, kl_key);
        hp->head_dim = hp->n_embd / hp->n_head;
    }
    if (hp->head_dim % 2 != 0 || hp->head_dim > MODEL_MAX_HEAD_DIM)
        return err_setf(err, UH_EFORMAT, "model: %s %d: head size must be even and at most %d",
                        kl_key, hp->head_dim, MODEL_MAX_HEAD_DIM);
    int v_len;
    if ((rc = get_int(f, arch, "attention.value_length", hp->head_dim, &v_len, err))) return rc;
    if (v_len != hp->head_dim)
        return err_setf(err, UH_EUNSUPPORTED,
                        "model: %s %d != %s %d: different key and value head sizes are not "
                        "supported",
                        kl_key, hp->head_dim, vl_key, v_len);
    if ((int64_t)hp->n_head * hp->head_dim > (1 << 20))
        return err_setf(err, UH_EFORMAT, "model: %d heads of %d (%s) are too wide", hp->n_head,
                        hp->head_dim, kl_key);
    if ((rc = get_int(f, arch, "rope.dimension_count", hp->head_dim, &hp->n_rot, err))) return rc;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0)
        return err_setf(err, UH_EFORMAT,
                        "model: %s.rope.dimension_count %d invalid for head size %d", arch,
                        hp->n_rot, hp->head_dim);
    if ((rc = get_float(f, arch, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->norm_eps, err)) ||
        (rc = get_float(f, arch, "rope.freq_base", 10000.0f, &hp->rope_base, err)))
        return rc;
    if (hp->norm_eps < 0 || hp->rope_base <= 0)
        return err_setf(err, UH_EFORMAT, "model: rms epsilon / rope freq_base out of range");
    if (a->n_expert_key) {
        /* 0 or absent: a dense FFN (where the entry has one); checked against the tensors in
         * load() */
        char key[160];
        uint32_t v = 0;
        snprintf(key, sizeof key, "%s.%s", arch, a->n_expert_key);
        rc = gguf_get_u32(f, key, &v, err);
        if (rc && rc != UH_ENOTFOUND) return rc;
        if (v > ARCH_MAX_EXPERTS)
            return err_setf(err, UH_EFORMAT, "model: metadata %s = %u exceeds %d experts", key, v,
                            ARCH_MAX_EXPERTS);
        hp->n_expert = (int)v;
        const int dense = a->tensors[AT_FFN_GATE].need != ARCH_ABSENT ||
                          a->tensors[AT_FFN_GATE_UP].need != ARCH_ABSENT;
        if (v == 0 && !dense)
            return err_setf(err, UH_EFORMAT, "model: metadata %s is %s; %s has only expert FFNs",
                            key, rc == UH_ENOTFOUND ? "missing" : "0", arch);
        if (v > 0) {
            snprintf(key, sizeof key, "%s.%s", arch, a->n_expert_used_key);
            uint32_t used = 0;
            rc = gguf_get_u32(f, key, &used, err);
            if (rc == UH_ENOTFOUND)
                return err_setf(err, UH_EFORMAT, "model: missing metadata key %s", key);
            if (rc) return rc;
            if (used == 0 || used > v)
                return err_setf(err, UH_EFORMAT, "model: metadata %s = %u is outside 1..%s.%s = %u",
                                key, used, arch, a->n_expert_key, v);
            hp->n_expert_used = (int)used;
            /* llama's feed_forward_length is the width of one expert; others have their own
             * key */
            if ((rc = get_int(f, arch, "expert_feed_forward_length", hp->n_ff, &hp->n_ff_exp, err)))
                return rc;
        }
    }

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
    hp->rope_base_swa = hp->rope_base;
    hp->rope_scale_swa = hp->rope_scale;
    if (a->swa.rope_base_key) {
        const float def = a->swa.rope_base_def > 0 ? a->swa.rope_base_def : hp->rope_base;
        if ((rc = get_float(f, arch, a->swa.rope_base_key, def, &hp->rope_base_swa, err)))
            return rc;
        if (hp->rope_base_swa <= 0)
            return err_setf(err, UH_EFORMAT, "model: %s.%s <= 0", arch, a->swa.rope_base_key);
    }
    if (a->swa.rope_unscaled) hp->rope_scale_swa = 1.0f;
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    if (a->scale_by_embd_layers && hp->n_layer == a->scale_by_embd_layers)
        hp->attn_scale = 1.0f / sqrtf((float)hp->n_embd / (float)hp->n_head);
    const arch_param *caps[2] = {&a->attn_softcap, &a->final_softcap};
    float *cap_out[2] = {&hp->attn_softcap, &hp->final_softcap};
    for (int i = 0; i < 2; i++) {
        *cap_out[i] = caps[i]->def;
        if (!caps[i]->key) continue;
        rc = gguf_get_f32(f, key_of(key, sizeof key, arch, caps[i]->key), cap_out[i], err);
        if (rc == UH_ENOTFOUND) continue;
        if (rc) return rc;
        if (!(*cap_out[i] > 0) || !isfinite(*cap_out[i]))
            return err_setf(err, UH_EFORMAT, "model: metadata %s = %g: a soft-cap must be > 0", key,
                            (double)*cap_out[i]);
    }
    return UH_OK;
}

/* Which layers are sliding-window layers, their window and RoPE table (see arch_swa). */
static int resolve_layers(uh_model *m, const gguf_file *f, uh_err *err)
{
    const arch_desc *a = m->arch;
    const hparams *hp = &m->hp;
    int pattern = a->swa.pattern, window = 0, rc;
    if (pattern == 0 && !a->swa.pattern_key) return UH_OK;
    if (a->swa.pattern_key) {
        char key[160];
        uint32_t v;
        key_of(key, sizeof key, a->name, a->swa.pattern_key);
        rc = gguf_get_u32(f, key, &v, err);
        if (rc == 0) {
            if (v < 1 || v > (uint32_t)hp->n_layer)
                return err_setf(err, UH_EFORMAT,
                                "model: metadata %s = %u does not fit %d layers (1..%d)", key, v,
                                hp->n_layer, hp->n_layer);
            pattern = (int)v;
        } else if (rc != UH_ENOTFOUND) {
            return rc;
        }
    }
    if (!a->swa.window_key)
        return err_setf(err, UH_EUNSUPPORTED, "model: architecture %s has no window key", a->name);
    if ((rc = get_int(f, a->name, a->swa.window_key, -1, &window, err))) return rc;
    for (int il = 0; il < hp->n_layer; il++) {
        layer_weights *l = &m->layers[il];
        const int local = pattern > 0 && il % pattern < pattern - 1;
        l->window = local ? window : 0;
        l->rope_swa =
            local && (hp->rope_base_swa != hp->rope_base || hp->rope_scale_swa != hp->rope_scale);
        m->rope_swa_used |= l->rope_swa;
    }
    return UH_OK;
}

/* ---- tensors ---- */

/* The dimensions of each role, symbolically (ggml order, ne[0] fastest; D_NONE past the last). */
enum role_dim {
    D_NONE,
    D_EMBD,
    D_Q,
    D_KV,
    D_HEAD,
    D_FF,
    D_VOCAB,
    D_ROT_PAIRS,
    D_EXPERT,
    D_FF_EXP,
    D_QKV,  /* q, k and v rows together */
    D_FF_2, /* gate and up rows together */
};

static const unsigned char role_dims[AT_COUNT][3] = {
    [AT_TOKEN_EMBD] = {D_EMBD, D_VOCAB},
    [AT_OUTPUT_NORM] = {D_EMBD},
    [AT_OUTPUT] = {D_EMBD, D_VOCAB},
    [AT_ROPE_FREQS] = {D_ROT_PAIRS},
    [AT_ATTN_NORM] = {D_EMBD},
    [AT_ATTN_Q] = {D_EMBD, D_Q},
    [AT_ATTN_Q_BIAS] = {D_Q},
    [AT_ATTN_K] = {D_EMBD, D_KV},
    [AT_ATTN_K_BIAS] = {D_KV},
    [AT_ATTN_V] = {D_EMBD, D_KV},
    [AT_ATTN_V_BIAS] = {D_KV},
    [AT_ATTN_Q_NORM] = {D_HEAD},
    [AT_ATTN_K_NORM] = {D_HEAD},
    [AT_ATTN_OUT] = {D_Q, D_EMBD},
    [AT_ATTN_OUT_BIAS] = {D_EMBD},
    [AT_ATTN_POST_NORM] = {D_EMBD},
    [AT_FFN_NORM] = {D_EMBD},
    [AT_FFN_GATE] = {D_EMBD, D_FF},
    [AT_FFN_UP] = {D_EMBD, D_FF},
    [AT_FFN_DOWN] = {D_FF, D_EMBD},
    [AT_FFN_GATE_INP] = {D_EMBD, D_EXPERT},
    [AT_FFN_GATE_EXPS] = {D_EMBD, D_FF_EXP, D_EXPERT},
    [AT_FFN_UP_EXPS] = {D_EMBD, D_FF_EXP, D_EXPERT},
    [AT_FFN_DOWN_EXPS] = {D_FF_EXP, D_EMBD, D_EXPERT},
    [AT_FFN_POST_NORM] = {D_EMBD},
    [AT_ATTN_QKV] = {D_EMBD, D_QKV},
    [AT_FFN_GATE_UP] = {D_EMBD, D_FF_2},
};

void model_role_shape(const hparams *hp, enum arch_tensor t, int64_t ne[3])
{
    const int64_t size[] = {
        [D_NONE] = 0,
        [D_EMBD] = hp->n_embd,
        [D_Q] = (int64_t)hp->n_head * hp->head_dim,
        [D_KV] = (int64_t)hp->n_head_kv * hp->head_dim,
        [D_HEAD] = hp->head_dim,
        [D_FF] = hp->n_ff,
        [D_VOCAB] = hp->n_vocab,
        [D_ROT_PAIRS] = hp->n_rot / 2,
        [D_EXPERT] = hp->n_expert,
        [D_FF_EXP] = hp->n_ff_exp,
        [D_QKV] = (int64_t)(hp->n_head + 2 * hp->n_head_kv) * hp->head_dim,
        [D_FF_2] = 2 * (int64_t)hp->n_ff,
    };
    for (int i = 0; i < 3; i++) ne[i] = (unsigned)t < AT_COUNT ? size[role_dims[t][i]] : 0;
}

/* Where the pointer for role t goes: a field of the model or of layer l. NULL for roles the
 * forward pass has no use for yet (arch_check refuses descriptions that have them). */
static const gguf_tensor **role_slot(uh_model *m, layer_weights *l, enum arch_tensor t)
{
    switch (t) {
    case AT_TOKEN_EMBD:
        return &m->tok_embd;
    case AT_OUTPUT_NORM:
        return &m->output_norm;
    case AT_OUTPUT:
        return &m->output;
    case AT_ROPE_FREQS:
        return &m->rope_freqs;
    case AT_ATTN_NORM:
        return &l->attn_norm;
    case AT_ATTN_Q:
        return &l->wq;
    case AT_ATTN_Q_BIAS:
        return &l->bq;
    case AT_ATTN_K:
        return &l->wk;
    case AT_ATTN_K_BIAS:
        return &l->bk;
    case AT_ATTN_V:
        return &l->wv;
    case AT_ATTN_V_BIAS:
        return &l->bv;
    case AT_ATTN_Q_NORM:
        return &l->q_norm;
    case AT_ATTN_K_NORM:
        return &l->k_norm;
    case AT_ATTN_OUT:
        return &l->wo;
    case AT_ATTN_OUT_BIAS:
        return &l->bo;
    case AT_FFN_NORM:
        return &l->ffn_norm;
    case AT_FFN_GATE:
        return &l->w_gate;
    case AT_FFN_UP:
        return &l->w_up;
    case AT_FFN_DOWN:
        return &l->w_down;
    case AT_ATTN_QKV:
        return &l->wqkv;
    case AT_FFN_GATE_UP:
        return &l->w_gate_up;
    case AT_FFN_GATE_INP:
        return &l->gate_inp;
    case AT_FFN_GATE_EXPS:
        return &l->gate_exps;
    case AT_FFN_UP_EXPS:
        return &l->up_exps;
    case AT_FFN_DOWN_EXPS:
        return &l->down_exps;
    case AT_ATTN_POST_NORM:
        return &l->post_attn_norm;
    case AT_FFN_POST_NORM:
        return &l->post_ffn_norm;
    default:
        return NULL;
    }
}

/* Finds a tensor and checks its shape (ne[1], ne[2] == 0 for fewer dims). NULL + error if
 * missing and required, or if present with the wrong shape or an unusable type. */
static int bind(const gguf_file *f, const char *name, const int64_t want[3], int required,
                const gguf_tensor **out, uh_err *err)
{
    const gguf_tensor *t = gguf_find_tensor(f, name);
    *out = NULL;
    if (!t) {
        if (required) return err_setf(err, UH_EFORMAT, "model: missing tensor %s", name);
        return UH_OK;
    }
    const uint32_t want_dims = want[2] ? 3 : want[1] ? 2 : 1;
    int ok = t->n_dims == want_dims;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        ok = ok && t->ne[d] == (d < want_dims ? want[d] : 1);
    if (!ok) {
        char have[96], exp[96];
        int n = snprintf(have, sizeof have, "[%lld", (long long)t->ne[0]);
        for (uint32_t d = 1; d < t->n_dims && n > 0 && (size_t)n < sizeof have; d++)
            n += snprintf(have + n, sizeof have - (size_t)n, ", %lld", (long long)t->ne[d]);
        if (n > 0 && (size_t)n < sizeof have) snprintf(have + n, sizeof have - (size_t)n, "]");
        n = snprintf(exp, sizeof exp, "[%lld", (long long)want[0]);
        for (uint32_t d = 1; d < want_dims && n > 0 && (size_t)n < sizeof exp; d++)
            n += snprintf(exp + n, sizeof exp - (size_t)n, ", %lld", (long long)want[d]);
        if (n > 0 && (size_t)n < sizeof exp) snprintf(exp + n, sizeof exp - (size_t)n, "]");
        return err_setf(err, UH_EFORMAT, "model: tensor %s has shape %s, expected %s", name, have,
                        exp);
    }
    /* kernels read floats and fp16 scales in place: a file with a tiny alignment could put
     * them at odd addresses */
    if ((uintptr_t)t->data % 4 != 0)
        return err_setf(err, UH_EUNSUPPORTED,
                        "model: tensor %s data is not 4-byte aligned (file alignment %u)", name,
                        gguf_alignment(f));
    if (want_dims == 1 && t->type != QT_F32)
        return err_setf(err, UH_EUNSUPPORTED, "model: 1-D tensor %s has type %s; expected F32",
                        name, qtype_name((int)t->type));
    if (want_dims > 1 && (!qtype_is_valid((int)t->type) || !qtype_traits[t->type].vec_dot))
        return err_setf(err, UH_EUNSUPPORTED, "model: tensor %s has type %s, which has no kernels",
                        name, qtype_name((int)t->type));
    *out = t;
    return UH_OK;
}

/* Binds every role in [first, last) the architecture has, for layer il (-1: whole-model roles).
 * Roles it does not have are not looked up, and their pointers stay NULL. */
static int bind_roles(uh_model *m, layer_weights *l, int il, int first, int last, uh_err *err)
{
    char name[128];
    for (int t = first; t < last; t++) {
        const enum arch_need need = arch_role_need(m->arch, (enum arch_tensor)t, m->hp.n_expert);
        if (need == ARCH_ABSENT) continue;
        const gguf_tensor **slot = role_slot(m, l, (enum arch_tensor)t);
        if (!slot || arch_tensor_name(m->arch, (enum arch_tensor)t, il, name, sizeof name))
            return err_setf(err, UH_EUNSUPPORTED, "model: architecture %s: tensor role %s unusable",
                            m->arch->name, arch_tensor_role((enum arch_tensor)t));
        int64_t ne[3];
        model_role_shape(&m->hp, (enum arch_tensor)t, ne);
        int rc = bind(m->file, name, ne, need == ARCH_REQUIRED, slot, err);
        if (rc) return rc;
        if (t == AT_FFN_GATE_INP && *slot && (*slot)->type != QT_F32)
            return err_setf(err, UH_EUNSUPPORTED, "model: router %s has type %s; expected F32",
                            name, qtype_name((int)(*slot)->type));
    }
    return UH_OK;
}

/* A file whose expert count says "dense" but which holds expert tensors is refused rather than
 * read as a dense model it is not (it would fail later naming a dense tensor). */
static int check_expert_count(const uh_model *m, uh_err *err)
{
    const arch_desc *a = m->arch;
    if (!a->n_expert_key || m->hp.n_expert > 0) return UH_OK;
    char name[128];
    for (int t = ARCH_N_GLOBAL; t < AT_COUNT; t++) {
        if (!arch_role_is_expert((enum arch_tensor)t) || a->tensors[t].need == ARCH_ABSENT ||
            arch_tensor_name(a, (enum arch_tensor)t, 0, name, sizeof name))
            continue;
        if (gguf_find_tensor(m->file, name))
            return err_setf(err, UH_EFORMAT,
                            "model: tensor %s is an expert tensor but %s.%s is 0 or missing", name,
                            a->name, a->n_expert_key);
    }
    return UH_OK;
}

/* Rows [row0, row0 + n_rows) of the 2-D tensor t as a tensor of its own, in v. */
static const gguf_tensor *row_slice(const gguf_tensor *t, int64_t row0, int64_t n_rows,
                                    gguf_tensor *v)
{
    const size_t row = qtype_row_size((enum qtype)t->type, t->ne[0]);
    *v = *t;
    v->ne[1] = n_rows;
    v->offset = t->offset + (uint64_t)row0 * row;
    v->size = (uint64_t)n_rows * row;
    v->data = (const uint8_t *)t->data + (size_t)row0 * row;
    v->packed = NULL;
    return v;
}

/* Splits layer l's fused tensors (phi3) into the separate products the forward pass runs: q, k
 * and v, and gate and up, are consecutive row ranges, so each is a view into the file. */
static void split_fused(uh_model *m, layer_weights *l, gguf_tensor views[5])
{
    const hparams *hp = &m->hp;
    const int64_t dq = (int64_t)hp->n_head * hp->head_dim,
                  dkv = (int64_t)hp->n_head_kv * hp->head_dim;
    if (l->wqkv) {
        l->wq = row_slice(l->wqkv, 0, dq, &views[0]);
        l->wk = row_slice(l->wqkv, dq, dkv, &views[1]);
        l->wv = row_slice(l->wqkv, dq + dkv, dkv, &views[2]);
    }
    if (l->w_gate_up) {
        l->w_gate = row_slice(l->w_gate_up, 0, hp->n_ff, &views[3]);
        l->w_up = row_slice(l->w_gate_up, hp->n_ff, hp->n_ff, &views[4]);
    }
}

/* Loads with description a, or the table's entry for general.architecture when a is NULL. */
static int load(gguf_file *f, const arch_desc *a, uh_model **out, uh_err *err)
{
    *out = NULL;
    int rc;
    uh_model *m = calloc(1, sizeof *m);
    if (!m) {
        gguf_close(f);
        return err_setf(err, UH_ENOMEM, "model: out of memory");
    }
    m->file = f;

    if (!a) {
        gguf_str arch;
        rc = gguf_get_str(f, "general.architecture", &arch, err);
        if (rc == UH_ENOTFOUND)
            rc = err_setf(err, UH_EFORMAT, "model: no general.architecture key");
        if (rc) goto fail;
        a = arch_find(arch.ptr, arch.len);
        if (!a) {
            rc = err_setf(err, UH_EUNSUPPORTED, "architecture %.*s is not supported yet",
                          (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
            goto fail;
        }
    }
    if ((rc = arch_check(a, err))) goto fail;
    if (gguf_find_tensor(f, "rope_factors_long.weight") ||
        gguf_find_tensor(f, "rope_factors_short.weight")) {
        rc = err_setf(err, UH_EUNSUPPORTED,
                      "model: LongRoPE (rope_factors_long/short.weight) is not supported yet");
        goto fail;
    }
    m->arch = a;
    m->norm = a->norm;
    m->act = a->act;
    m->rope = a->rope;
    m->embd_scale = a->embd_scale;
    gguf_str name;
    if (gguf_get_str(f, "general.name", &name, NULL) == 0)
        snprintf(m->name, sizeof m->name, "%.*s", (int)(name.len > 127 ? 127 : name.len), name.ptr);

    if ((rc = read_hparams(f, a, &m->hp, err))) goto fail;
    if ((rc = vocab_load(f, &m->vocab, err))) goto fail;
    hparams *hp = &m->hp;

    /* The vocabulary size is the embedding's row count; the tokenizer must cover it. */
    char emb_name[128];
    if (arch_tensor_name(a, AT_TOKEN_EMBD, -1, emb_name, sizeof emb_name)) {
        rc = err_setf(err, UH_EUNSUPPORTED, "model: architecture %s names no token embedding",
                      a->name);
        goto fail;
    }
    const gguf_tensor *emb = gguf_find_tensor(f, emb_name);
    if (!emb) {
        rc = err_setf(err, UH_EFORMAT, "model: missing tensor %s", emb_name);
        goto fail;
    }
    hp->n_vocab = (int)(emb->n_dims == 2 ? emb->ne[1] : 0);
    if (hp->n_vocab <= 0 || hp->n_vocab != vocab_n_tokens(m->vocab)) {
        rc = err_setf(err, UH_EFORMAT, "model: %s has %lld rows but the tokenizer has %d tokens",
                      emb_name, (long long)(emb->n_dims == 2 ? emb->ne[1] : -1),
                      vocab_n_tokens(m->vocab));
        goto fail;
    }
    if ((rc = bind_roles(m, NULL, -1, 0, ARCH_N_GLOBAL, err))) goto fail;
    if (!m->output) m->output = m->tok_embd; /* tied: the embedding doubles as the head */
    if (!qtype_traits[m->tok_embd->type].to_float) {
        rc = err_setf(err, UH_EUNSUPPORTED, "model: %s type %s cannot be read", emb_name,
                      qtype_name((int)m->tok_embd->type));
        goto fail;
    }

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) {
        rc = err_setf(err, UH_ENOMEM, "model: out of memory");
        goto fail;
    }
    if ((rc = check_expert_count(m, err))) goto fail;
    if ((rc = resolve_layers(m, f, err))) goto fail;
    if (a->tensors[AT_ATTN_QKV].need != ARCH_ABSENT ||
        a->tensors[AT_FFN_GATE_UP].need != ARCH_ABSENT) {
        m->views = calloc((size_t)hp->n_layer * 5, sizeof *m->views);
        if (!m->views) {
            rc = err_setf(err, UH_ENOMEM, "model: out of memory");
            goto fail;
        }
    }
    for (int il = 0; il < hp->n_layer; il++) {
        if ((rc = bind_roles(m, &m->layers[il], il, ARCH_N_GLOBAL, AT_COUNT, err))) goto fail;
        if (m->views) split_fused(m, &m->layers[il], m->views + (size_t)il * 5);
    }
    if ((rc = pack_weights(m, err))) goto fail;
    *out = m;
    return UH_OK;
fail:
    uh_model_free(m);
    return rc;
}

int model_load_gguf(gguf_file *f, uh_model **out, uh_err *err)
{
    return load(f, NULL, out, err);
}

int model_load_gguf_arch(gguf_file *f, const arch_desc *a, uh_model **out, uh_err *err)
{
    return load(f, a, out, err);
}

/* ---- packed weights ----
 *
 * Where the chosen kernel set has a packed layout for a matrix's type (qt_packed_kernels), the
 * matrix is copied into it once here; the products then read only the copy, and the file's pages
 * of the original are given back to the kernel (they are read again if something touches them,
 * as the token embedding's lookup does when the output matrix is tied to it). So resident memory
 * stays about one copy of the weights, and loading costs one pass over them. */

/* A matrix, or a 3-D stack of expert matrices, packs as one matrix of ne[1] * ne[2] rows: the
 * slices are contiguous and each has whole groups, so expert e's groups are a contiguous run
 * too (model_expert_slice). */
static const gguf_tensor *packable(const gguf_tensor *t)
{
    if (!t || t->packed || t->n_dims < 2 || t->n_dims > 3 || t->ne[1] % QT_PACK_ROWS) return NULL;
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
        const int k = (int)t->ne[0], groups = (int)(t->ne[1] * t->ne[2] / QT_PACK_ROWS);
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
    const int n_max = 10 * m->hp.n_layer + 1;
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
        const gguf_tensor *cand[10] = {m->output};
        if (l) {
            const gguf_tensor *lc[10] = {l->wq,      l->wk,       l->wv,     l->wo,
                                         l->w_gate,  l->w_up,     l->w_down, l->gate_exps,
                                         l->up_exps, l->down_exps};
            memcpy(cand, lc, sizeof cand);
        }
        for (int c = 0; c < 10; c++) {
            const gguf_tensor *t = packable(cand[c]);
            int dup = 0;
            for (int i = 0; t && i < n; i++) dup |= list[i] == t;
            if (!t || dup) continue;
            list[n++] = t;
            total += (size_t)(t->ne[1] * t->ne[2] / QT_PACK_ROWS) *
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
                off += (size_t)(list[i]->ne[1] * list[i]->ne[2] / QT_PACK_ROWS) *
                       qtype_traits[list[i]->type].packed->group_bytes((int)list[i]->ne[0]);
            }
            /* one tensor at a time, so at most one tensor is resident twice */
            for (int i = 0; i < n; i++) {
                pack_job j = {&list[i], &dst[i], 1};
                tp_run(pool, pack_worker, &j);
                gguf_tensor *mut = gguf_tensor_mut(m->file, list[i]);
                if (!mut) mut = m->views + (list[i] - m->views); /* a row slice (phi3) */
                mut->packed = dst[i];
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

gguf_tensor model_expert_slice(const gguf_tensor *t, int e)
{
    gguf_tensor s = *t;
    const size_t row = qtype_row_size((enum qtype)t->type, t->ne[0]);
    s.n_dims = 2;
    s.ne[2] = 1;
    s.size = row * (size_t)t->ne[1];
    s.data = (const uint8_t *)t->data + (size_t)e * s.size;
    if (t->packed)
        s.packed = (const uint8_t *)t->packed +
                   (size_t)e * (size_t)(t->ne[1] / QT_PACK_ROWS) *
                       qtype_traits[t->type].packed->group_bytes((int)t->ne[0]);
    return s;
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
    free(m->views);
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
