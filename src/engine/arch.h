/* arch.h - model families as data: one description per architecture (arch.c) saying which
 * tensors it has, under which GGUF names, and which variant of each operation its forward pass
 * uses.
 *
 * A description is read once, when a model loads (model.c): the loader looks up every tensor
 * role the architecture has under the name given here, checks its shape, and copies the
 * operation choices into plain fields of the model, so the forward pass (forward.c) never
 * consults the table per token. A role the architecture does not have (ARCH_ABSENT) is not
 * looked up at all; an optional one may be missing from the file; a required one must be there.
 *
 * The description can express more than the engine implements (LayerNorm for now): arch_check
 * says which parts of a description the engine can run, and the loader refuses the rest.
 *
 * Ownership: descriptions are static, constant and live for the whole program. */
#ifndef UH_ENGINE_ARCH_H
#define UH_ENGINE_ARCH_H

#include <stddef.h>

#include "unhosted.h"

/* Tensor roles. The first ARCH_N_GLOBAL are whole-model tensors; the rest exist once per layer,
 * with names holding one %d for the layer index. The per-layer order is the order in which
 * modelgen.c writes (and draws) them, so do not reorder. */
enum arch_tensor {
    AT_TOKEN_EMBD,     /* [n_embd, n_vocab]: one row per token */
    AT_OUTPUT_NORM,    /* [n_embd] */
    AT_OUTPUT,         /* [n_embd, n_vocab]: the head; token_embd when optional and absent */
    AT_ROPE_FREQS,     /* [n_rot / 2]: per-pair frequency divisors (Llama 3.1) */
    AT_ATTN_NORM,      /* [n_embd] */
    AT_ATTN_Q,         /* [n_embd, n_head * head_dim] */
    AT_ATTN_Q_BIAS,    /* [n_head * head_dim] */
    AT_ATTN_K,         /* [n_embd, n_head_kv * head_dim] */
    AT_ATTN_K_BIAS,    /* [n_head_kv * head_dim] */
    AT_ATTN_V,         /* [n_embd, n_head_kv * head_dim] */
    AT_ATTN_V_BIAS,    /* [n_head_kv * head_dim] */
    AT_ATTN_Q_NORM,    /* [head_dim]: per-head norm of q, shared by the heads, before RoPE */
    AT_ATTN_K_NORM,    /* [head_dim]: the same for k */
    AT_ATTN_OUT,       /* [n_head * head_dim, n_embd] */
    AT_ATTN_OUT_BIAS,  /* [n_embd] */
    AT_ATTN_POST_NORM, /* [n_embd]: norm of the attention output before the residual add */
    AT_FFN_NORM,       /* [n_embd] */
    AT_FFN_GATE,       /* [n_embd, n_ff] */
    AT_FFN_UP,         /* [n_embd, n_ff] */
    AT_FFN_DOWN,       /* [n_ff, n_embd] */
    AT_FFN_GATE_INP,   /* [n_embd, n_expert]: the MoE router */
    AT_FFN_GATE_EXPS,  /* [n_embd, n_ff_exp, n_expert] */
    AT_FFN_UP_EXPS,    /* [n_embd, n_ff_exp, n_expert] */
    AT_FFN_DOWN_EXPS,  /* [n_ff_exp, n_embd, n_expert] */
    AT_FFN_POST_NORM,  /* [n_embd]: norm of the FFN output before the residual add */
    AT_ATTN_QKV,       /* [n_embd, (n_head + 2 n_head_kv) * head_dim]: q, k, v rows fused (phi3) */
    AT_FFN_GATE_UP,    /* [n_embd, 2 n_ff]: gate rows then up rows fused (phi3's ffn_up) */
    AT_COUNT
};
#define ARCH_N_GLOBAL 4 /* AT_TOKEN_EMBD .. AT_ROPE_FREQS */

enum arch_need {
    ARCH_ABSENT = 0,   /* the architecture has no such tensor: never looked up */
    ARCH_OPTIONAL = 1, /* used when the file has it */
    ARCH_REQUIRED = 2, /* the file must have it */
};

typedef struct {
    const char *name; /* GGUF tensor name; per-layer names hold one %d (the layer) */
    enum arch_need need;
} arch_tensor_desc;

enum rope_style {
    ROPE_NORM = 0, /* rotate adjacent pairs (x[2i], x[2i+1]): llama */
    ROPE_NEOX = 1, /* rotate halves (x[i], x[i + n_rot/2]): qwen2, gpt-neox */
};

enum arch_norm {
    NORM_RMS = 0,   /* x / sqrt(mean(x^2) + eps) * w */
    NORM_LAYER = 1, /* (x - mean) / sqrt(var + eps) * w (+ bias): not implemented yet */
};

/* The FFN activation, always gated: down(act(gate h) * up h). (ACT_NONE is for ctx_matmul_n's
 * plain products; no architecture has it.) */
enum arch_act {
    ACT_NONE = 0,
    ACT_SILU = 1, /* SwiGLU */
    ACT_GELU = 2, /* GeGLU, tanh approximation (rounded through float16, as llama.cpp) */
};

enum arch_embd_scale {
    EMBD_SCALE_NONE = 0,
    EMBD_SCALE_SQRT_N_EMBD = 1, /* embeddings multiplied by sqrtf(n_embd) (gemma) */
};

/* A value from the metadata key "<arch>.<key>", or def when the key is absent. key NULL: the
 * architecture has no such setting; def 0 means "off". */
typedef struct {
    const char *key;
    float def;
} arch_param;

/* Sliding-window attention: pattern 0 means every layer attends to all earlier positions. With
 * pattern n > 0, layer l is a sliding-window ("local") layer iff l % n < n - 1; the pattern may be
 * overridden by the metadata key pattern_key (it must lie in 1..n_layer); the window (in
 * positions, > 0) is read from window_key, which the file must have. A query at position i of a
 * local layer attends to position j iff j <= i and i - j < window.
 *
 * Local layers take their RoPE base from rope_base_key ("rope.freq_base_swa"), or rope_base_def
 * when absent (0: the global rope.freq_base); rope_unscaled: local layers ignore the RoPE
 * scaling factor (gemma3). */
typedef struct {
    int pattern;
    const char *pattern_key; /* e.g. "attention.sliding_window_pattern", or NULL */
    const char *window_key;  /* e.g. "attention.sliding_window" */
    const char *rope_base_key;
    float rope_base_def;
    int rope_unscaled;
} arch_swa;

typedef struct {
    const char *name; /* general.architecture, and the prefix of its metadata keys */
    arch_tensor_desc tensors[AT_COUNT];
    enum arch_norm norm;
    enum arch_act act;
    enum rope_style rope;
    enum arch_embd_scale embd_scale;
    arch_swa swa;
    /* s -> cap * tanh(s / cap) on the (scaled) attention scores before the softmax, and the same
     * on the logits; cap 0 (def 0 with the key absent) is off, a cap <= 0 in the file refused */
    arch_param attn_softcap;
    arch_param final_softcap;
    /* Attention scores are scaled by 1/sqrt(head_dim), except in a model of exactly this many
     * layers (0: none), scaled by 1/sqrt(n_embd / n_head): Gemma's query_pre_attn_scalar, which
     * GGUF files do not carry; its 27B models (gemma2 46 layers, gemma3 62) are the ones that
     * differ, and llama.cpp tells them by their layer count too. */
    int scale_by_embd_layers;
    /* MoE: "expert_count" (under "<arch>."), NULL for a dense FFN only. With a key, the file's
     * expert count chooses the FFN: 0 (or the key absent) means the dense roles (ffn_gate, ffn_up,
     * ffn_down), more means the expert roles (ffn_gate_inp, ffn_*_exps); the other group is not
     * looked up (arch_role_need). An architecture whose dense roles are ARCH_ABSENT needs the
     * count. */
    const char *n_expert_key;
    const char *n_expert_used_key; /* "expert_used_count": experts per token */
} arch_desc;

#define ARCH_MAX_EXPERTS 256 /* the most experts per layer a file may have */

/* The table entry for an architecture name (len bytes, not NUL-terminated), or NULL if the table
 * has none. */
const arch_desc *arch_find(const char *name, size_t len);

/* Entry i of the table, or NULL past the end (for listing and tests). */
const arch_desc *arch_at(int i);

/* The short name of a role, e.g. "attn_q" or "attn_q.bias" (for messages and modelgen). */
const char *arch_tensor_role(enum arch_tensor t);

/* Formats the GGUF name of role t (layer il, ignored for whole-model roles) into buf. Returns 0,
 * or -1 if the architecture does not have the role or buf is too small. */
int arch_tensor_name(const arch_desc *a, enum arch_tensor t, int il, char *buf, size_t size);

/* The need of role t in a file with n_expert experts (see n_expert_key): the table's, except
 * that the FFN group the count does not choose is ARCH_ABSENT. */
enum arch_need arch_role_need(const arch_desc *a, enum arch_tensor t, int n_expert);

/* Whether t is one of the MoE roles (the router and the three expert tensors). */
int arch_role_is_expert(enum arch_tensor t);

/* 0 if the engine implements everything a asks for; otherwise UH_EUNSUPPORTED with a message
 * naming the architecture and the first missing operation. */
int arch_check(const arch_desc *a, uh_err *err);

#endif
