/* model.h - a loaded model: hyperparameters, the architecture description it was loaded by and
 * borrowed pointers to every weight tensor of the mmapped GGUF file.
 *
 * Architectures are data (arch_desc, arch.h / arch.c): which tensors exist per layer under which
 * names, which are required, the norm, activation and RoPE style. The loader resolves the
 * description into the plain fields below (a NULL tensor pointer for a role the file or the
 * architecture lacks), so the forward pass (forward.c) reads only those, never the table, and
 * supporting a llama-like architecture means adding a table entry, not a function.
 *
 * Ownership: struct uh_model owns the gguf_file (the mapping) and the vocab; every gguf_tensor
 * pointer below points into the gguf_file and lives as long as the model; arch points into the
 * static table (or to the caller's description, see model_load_gguf_arch). */
#ifndef UH_ENGINE_MODEL_H
#define UH_ENGINE_MODEL_H

#include "engine/arch.h"
#include "gguf/gguf.h"
#include "text/vocab.h"
#include "unhosted.h"

/* The largest head size (attention.key_length) the loader accepts: real models use 64..256. */
#define MODEL_MAX_HEAD_DIM 1024

typedef struct {
    int n_vocab;
    int n_embd;
    int n_layer;
    int n_head;
    int n_head_kv;
    int head_dim;     /* per head, for q, k and v: attention.key_length, or n_embd / n_head */
    int n_rot;        /* rotated dims per head (<= head_dim) */
    int n_ff;
    int n_ctx_train;
    float norm_eps;   /* RMSNorm epsilon */
    float rope_base;  /* theta base */
    float rope_scale; /* position multiplier: 1 / linear scaling factor */
    int n_expert;     /* MoE: experts per layer, 0 for a dense FFN */
    int n_expert_used; /* MoE: experts per token */
    int n_ff_exp;      /* MoE: hidden width of one expert */
    float rope_base_swa;  /* theta base of sliding-window layers */
    float rope_scale_swa; /* their position multiplier */
    float attn_softcap;   /* attention-score soft-cap, 0 = off */
    float final_softcap;  /* logit soft-cap, 0 = off */
    float attn_scale;     /* attention scores' multiplier: 1/sqrt(head_dim), or Gemma 27B's */
} hparams;

typedef struct {
    const gguf_tensor *attn_norm; /* [n_embd] */
    const gguf_tensor *wq;        /* [n_embd] -> [n_head * head_dim] */
    const gguf_tensor *wk;        /* [n_embd] -> [n_head_kv * head_dim] */
    const gguf_tensor *wv;        /* [n_embd] -> [n_head_kv * head_dim] */
    const gguf_tensor *wo;        /* [n_head * head_dim] -> [n_embd] */
    const gguf_tensor *bq, *bk, *bv, *bo; /* biases, NULL when absent */
    const gguf_tensor *q_norm, *k_norm;   /* [head_dim] per-head norms, NULL when absent */
    const gguf_tensor *ffn_norm;  /* [n_embd] */
    const gguf_tensor *w_gate;    /* [n_embd] -> [n_ff] */
    const gguf_tensor *w_up;      /* [n_embd] -> [n_ff] */
    const gguf_tensor *w_down;    /* [n_ff] -> [n_embd] */
    /* fused in the file (phi3), NULL otherwise; wq/wk/wv and w_gate/w_up are then row slices */
    const gguf_tensor *wqkv;      /* [n_embd] -> [(n_head + 2 n_head_kv) * head_dim] */
    const gguf_tensor *w_gate_up; /* [n_embd] -> [2 n_ff]: gate rows, then up rows */
    /* MoE (n_expert > 0; then the dense three are NULL). Expert e's matrix is the e-th
     * contiguous slice of a 3-D tensor (ne[2] = n_expert), packed slice by slice too. */
    const gguf_tensor *gate_inp;  /* F32 router, [n_embd] -> [n_expert] */
    const gguf_tensor *gate_exps; /* [n_embd] -> [n_ff_exp], per expert */
    const gguf_tensor *up_exps;   /* [n_embd] -> [n_ff_exp], per expert */
    const gguf_tensor *down_exps; /* [n_ff_exp] -> [n_embd], per expert */
    const gguf_tensor *post_attn_norm; /* [n_embd] on the attention output, or NULL */
    const gguf_tensor *post_ffn_norm;  /* [n_embd] on the FFN output, or NULL */
    int window;   /* sliding-window layer: positions attended (> 0), 0 for full attention */
    int rope_swa; /* 1: RoPE with rope_base_swa / rope_scale_swa, 0: rope_base / rope_scale */
} layer_weights;

struct uh_model {
    gguf_file *file;
    vocab *vocab;
    const arch_desc *arch;
    hparams hp;
    /* the operations of the architecture, resolved from arch at load (arch_check passed) */
    enum arch_norm norm;
    enum arch_act act;
    enum rope_style rope;
    enum arch_embd_scale embd_scale;
    int rope_swa_used; /* some layer has rope_swa set (the context keeps a second table) */
    char name[128];
    const gguf_tensor *tok_embd;    /* [n_embd, n_vocab]: one row per token */
    const gguf_tensor *output_norm; /* [n_embd] */
    const gguf_tensor *output;      /* [n_embd, n_vocab]; == tok_embd when tied */
    const gguf_tensor *rope_freqs;  /* [n_rot / 2] frequency divisors (Llama 3.1), or NULL */
    layer_weights *layers;          /* [n_layer] */
    gguf_tensor *views;             /* [n_layer][5]: row slices of fused tensors, or NULL */
    void *packed_mem;               /* packed copies of the matrices (model.c), or NULL */
    size_t packed_len;
};

/* The shape a tensor of role t has in a model with hyperparameters hp: ggml order (ne[0] the row
 * length), ne[1] and ne[2] 0 where the tensor has fewer dimensions. */
void model_role_shape(const hparams *hp, enum arch_tensor t, int64_t ne[3]);

/* Expert e's matrix of a 3-D expert tensor t as a 2-D tensor of its own (data and, where t was
 * packed, packed pointing into t's), for the matrix products. */
gguf_tensor model_expert_slice(const gguf_tensor *t, int e);

/* Loads from an already opened file, taking ownership of it (closed on failure too). */
int model_load_gguf(gguf_file *f, uh_model **out, uh_err *err);
/* The same with a given description instead of the table's entry for general.architecture (its
 * metadata keys are still read under a->name); a must outlive the model. Tests use it to load
 * files with descriptions the table does not hold. */
int model_load_gguf_arch(gguf_file *f, const arch_desc *a, uh_model **out, uh_err *err);

#endif
