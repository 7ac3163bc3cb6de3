/* ctx.h - an evaluation context: KV cache, scratch buffers and outputs for one model.
 *
 * KV cache layout: for each layer, K and V are [n_seq_max][n_head_kv][n_ctx][head_dim] elements
 * of kv_type (F32 or F16), so a sequence owns a fixed slot of n_ctx cells, positions index it
 * directly, and each KV head's cells are one contiguous run for attention. seq_len[s] is one past
 * the highest position written; writing position p of a sequence makes p + 1 its new length
 * (later positions are forgotten), so re-evaluating from an earlier position needs no separate
 * call.
 *
 * Scratch buffers are sized at creation for n_batch_max tokens (and per-thread buffers for
 * n_threads threads), so evaluation allocates nothing except when a batch asks for more output
 * rows than ever before.
 *
 * Threads: the context owns a pool of n_threads (caller included). Every parallel step splits
 * its output elements between threads, and each element is computed by exactly one thread with
 * the same code whatever the split, so results are bit-identical for any thread count. */
#ifndef UH_ENGINE_CTX_H
#define UH_ENGINE_CTX_H

#include <stddef.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "engine/model.h"
#include "unhosted.h"

#define ATTN_RUN 64 /* cache rows per attention run: 16 KiB of F32 K or V at head_dim 64 */

struct uh_ctx {
    const uh_model *model;
    uh_ctx_params p; /* resolved: n_ctx, n_seq_max, n_batch_max, n_threads > 0 */
    tp_pool *pool;   /* p.n_threads threads */

    size_t kv_row;   /* elements per cell: n_head_kv * head_dim */
    size_t kv_esize; /* bytes per element: 4 (F32) or 2 (F16) */
    void **k_cache;  /* [n_layer] -> [n_seq][n_ctx][kv_row] */
    void **v_cache;
    int *seq_len;    /* [n_seq_max] */

    /* scratch, [n_batch_max][width] floats */
    float *x;     /* residual stream, n_embd; after an eval, every batch token's state after
                   * the last layer run (embed.c reads it) */
    float *h;     /* normed input, max(n_embd, n_head * head_dim) */
    float *q;     /* n_head * head_dim */
    float *k;     /* kv_row */
    float *v;     /* kv_row */
    float *attn;  /* n_head * head_dim */
    float *gate;  /* max(n_ff, n_ff_exp) */
    float *up;    /* max(n_ff, n_ff_exp) */
    float *rope;  /* [n_batch_max][n_rot / 2][2]: cos, sin */
    /* MoE scratch (NULL for a dense model); k = n_expert_used, slots are (token, k-th choice)
     * pairs, rows sorted by expert so each expert's tokens are one contiguous run */
    float *moe_logits;    /* [n_batch_max][n_expert]: router logits, then probabilities */
    int *moe_sel;         /* [n_batch_max][k]: chosen experts, most probable first */
    float *moe_w;         /* [n_batch_max][k]: their renormalised weights */
    int *moe_row;         /* [n_batch_max][k]: the slot's row in moe_y */
    int *moe_tok;         /* [n_batch_max * k]: the token of each sorted row */
    float *moe_x;         /* [n_batch_max][n_embd]: one expert's gathered inputs */
    float *moe_y;         /* [n_batch_max * k][n_embd]: expert outputs, sorted rows */
    float *scores;        /* [n_threads][scores_len]: attention weights of one run of cells for
                           * a group of query heads sharing a KV head ([group][ATTN_RUN]), then
                           * [3][group] floats (running maxima, run maxima, sums) */
    size_t scores_len;
    void *act_q;          /* quantized activations, n_batch_max rows of the widest input */
    size_t act_q_size;
    float *wrow;          /* [n_threads][widest input]: a dequantized weight row (exact mode) */
    size_t wrow_len;      /* floats per thread in wrow */
    int32_t *running_len; /* [n_seq_max] validation scratch */

    /* outputs of the last eval */
    float *out;      /* [n_out][out_width] */
    size_t out_cap;  /* floats allocated */
    int out_width;   /* n_vocab (logits) or n_embd (hidden) */
    int *out_row;    /* [n_batch_max] batch index -> output row, -1 if none */
    int out_is_logits;
};

/* Computes y[t][r] = dot(row r of w, x[t]) for n_tok input rows of w->ne[0] floats, writing
 * n_tok rows of w->ne[1] floats, on the context's threads. Uses the activation scratch. */
void ctx_matmul(uh_ctx *c, const gguf_tensor *w, const float *x, int n_tok, float *y);
/* n (<= 3) products of the same input x, y[i] = w[i] x, in one hand-out to the threads (and one
 * conversion of x when the matrices read the same format). With glu_act ACT_SILU or ACT_GELU, n
 * is 2, the matrices have the same shape, and y[0] becomes act(w[0] x) * (w[1] x); ACT_NONE:
 * plain products. Each output is computed
 * exactly as by separate ctx_matmul calls. */
void ctx_matmul_n(uh_ctx *c, int n, const gguf_tensor *const *w, const float *x, int n_tok,
                  float *const *y, enum arch_act glu_act);

/* Up to CTX_MAX_SETS products with inputs of their own, in one hand-out to the threads: set i
 * is y[i] = w[i] x[i] over n_tok[i] rows of x[i]; with a glu_act also y_up[i] =
 * w_up[i] x[i] (same shape as w[i]) and y[i] becomes act(w[i] x[i]) * y_up[i]. (MoE: the
 * chosen experts of a batch at once.) Each output is computed exactly as by ctx_matmul_n; when
 * the rows of all sets together exceed n_batch_max, the sets run one after another. */
#define CTX_MAX_SETS 16
void ctx_matmul_sets(uh_ctx *c, int n, const gguf_tensor *const *w, const gguf_tensor *const *w_up,
                     const float *const *x, const int *n_tok, float *const *y, float *const *y_up,
                     enum arch_act glu_act);

/* Sum of x[i]^2 in double, in 8 independent lanes (a single running sum is a chain of dependent
 * adds): the RMS norms of forward.c and embed.c, which must agree, both use it. */
static inline double ctx_sum_squares(const float *x, int n)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += (double)x[i + j] * x[i + j];
    double ss = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) ss += (double)x[i] * x[i];
    return ss;
}

#endif
