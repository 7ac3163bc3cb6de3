/* model.h - a loaded model: hyperparameters, the architecture description and borrowed pointers
 * to every weight tensor of the mmapped GGUF file.
 *
 * Architectures are data (struct arch_desc in arch.c): which tensors exist per layer, whether the
 * q/k/v projections carry biases, the RoPE style. The forward pass (forward.c) reads only this
 * description, so supporting a llama-like architecture means adding a table row, not a function.
 *
 * Ownership: struct uh_model owns the gguf_file (the mapping) and the vocab; every gguf_tensor
 * pointer below points into the gguf_file and lives as long as the model. */
#ifndef UH_ENGINE_MODEL_H
#define UH_ENGINE_MODEL_H

#include "gguf/gguf.h"
#include "text/vocab.h"
#include "unhosted.h"

enum rope_style {
    ROPE_NORM = 0, /* rotate adjacent pairs (x[2i], x[2i+1]): llama */
    ROPE_NEOX = 1, /* rotate halves (x[i], x[i + n_rot/2]): qwen2, gpt-neox */
};

enum bias_rule { BIAS_NONE = 0, BIAS_OPTIONAL = 1, BIAS_REQUIRED = 2 };

typedef struct {
    const char *name;         /* general.architecture */
    enum rope_style rope;
    enum bias_rule qkv_bias;  /* blk.N.attn_{q,k,v}.bias */
    enum bias_rule out_bias;  /* blk.N.attn_output.bias */
    int tied_output_allowed;  /* output.weight may be absent: reuse token_embd */
} arch_desc;

/* The table entry for an architecture name, or NULL if unsupported. */
const arch_desc *arch_find(const char *name, size_t len);

typedef struct {
    int n_vocab;
    int n_embd;
    int n_layer;
    int n_head;
    int n_head_kv;
    int head_dim;     /* per head, for q and k and v */
    int n_rot;        /* rotated dims per head (<= head_dim) */
    int n_ff;
    int n_ctx_train;
    float norm_eps;   /* RMSNorm epsilon */
    float rope_base;  /* theta base */
    float rope_scale; /* position multiplier: 1 / linear scaling factor */
} hparams;

typedef struct {
    const gguf_tensor *attn_norm; /* [n_embd] */
    const gguf_tensor *wq;        /* [n_embd] -> [n_head * head_dim] */
    const gguf_tensor *wk;        /* [n_embd] -> [n_head_kv * head_dim] */
    const gguf_tensor *wv;        /* [n_embd] -> [n_head_kv * head_dim] */
    const gguf_tensor *wo;        /* [n_head * head_dim] -> [n_embd] */
    const gguf_tensor *bq, *bk, *bv, *bo; /* biases, NULL when absent */
    const gguf_tensor *ffn_norm;  /* [n_embd] */
    const gguf_tensor *w_gate;    /* [n_embd] -> [n_ff] */
    const gguf_tensor *w_up;      /* [n_embd] -> [n_ff] */
    const gguf_tensor *w_down;    /* [n_ff] -> [n_embd] */
} layer_weights;

struct uh_model {
    gguf_file *file;
    vocab *vocab;
    const arch_desc *arch;
    hparams hp;
    char name[128];
    const gguf_tensor *tok_embd;    /* [n_embd, n_vocab]: one row per token */
    const gguf_tensor *output_norm; /* [n_embd] */
    const gguf_tensor *output;      /* [n_embd, n_vocab]; == tok_embd when tied */
    const gguf_tensor *rope_freqs;  /* [n_rot / 2] frequency divisors (Llama 3.1), or NULL */
    layer_weights *layers;          /* [n_layer] */
    void *packed_mem;               /* packed copies of the matrices (model.c), or NULL */
    size_t packed_len;
};

/* Loads from an already opened file, taking ownership of it (closed on failure too). */
int model_load_gguf(gguf_file *f, uh_model **out, uh_err *err);

#endif
