/* forward.c - the transformer forward pass over a batch, for any contiguous range of layers.
 *
 * Per layer, for every token t of the batch (x is the residual stream; norm, act and the RoPE
 * style are the architecture's, resolved into the model at load; a bracketed step runs only
 * where the model has that tensor):
 *   h = norm(x) * attn_norm
 *   q, k, v = Wq h (+bq), Wk h (+bk), Wv h (+bv)
 *   (q = norm(q) * q_norm, k = norm(k) * k_norm, each head separately); RoPE on q and k at the
 *   token's position
 *   (the layer's RoPE table: gemma3's local layers have their own base)
 *   K/V of the token go to its sequence's cache cell; then for each query head j (KV head
 *   j / (n_head / n_head_kv)): s = q k^T / sqrt(head_dim) (s = cap tanh(s / cap) with an
 *   attention soft-cap), attn = softmax(s) v over cells 0..pos, or only the last `window` of
 *   them on a sliding-window layer
 *   a = Wo attn (+bo);  (a = norm(a) * post_attn_norm);  x += a
 *   h = norm(x) * ffn_norm;  f = Wdown (act(Wgate h) * (Wup h));  (f = norm(f) * post_ffn_norm)
 *   x += f
 *   or, with experts: p = softmax(Wrouter h) over all experts, E = the n_expert_used most
 *   probable, w_e = p_e / sum_E p (sum clamped below at 6.1e-5, as llama.cpp does), and
 *   x += sum over e in E, most probable first, of w_e Wdown_e (act(Wgate_e h) * (Wup_e h))
 * with x first the token's embedding row (times sqrtf(n_embd) for gemma), and after the last
 * layer: logits = Woutput (norm(x) * output_norm) (then cap tanh(logits / cap) with a final
 * soft-cap).
 * Every K/V of the batch is written before any attention reads the cache, so a prompt evaluated
 * in one batch and the same prompt fed one token at a time compute the same numbers.
 * Matrix products, attention (over (token, head) pairs) and the elementwise steps run on the
 * context's threads; each output number is computed by one thread with the same code whatever
 * the thread count, so results do not depend on it. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/fp16.h"
#include "engine/ctx.h"
#include "kernels/qtypes.h"
#include "kernels/simd_attn.h"

/* ---- elementwise helpers ---- */

static void rmsnorm(float *y, const float *x, const float *w, int n, float eps)
{
    const float scale = (float)(1.0 / sqrt(ctx_sum_squares(x, n) / n + eps));
    for (int i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
}

/* The architecture's norm of one row. Only RMSNorm is implemented: the loader refuses the rest
 * (arch_check), so the switch costs one predictable branch per row. */
static void norm_row(enum arch_norm kind, float *y, const float *x, const float *w, int n,
                     float eps)
{
    switch (kind) {
    case NORM_RMS:
        rmsnorm(y, x, w, n, eps);
        return;
    case NORM_LAYER:
        break;
    }
    assert(!"norm kind refused at load");
}

/* In-place norm of each head_dim-wide head of n_tok rows of n_heads heads (qwen3-style q/k
 * norms: one weight vector shared by all heads). */
static void head_norms(enum arch_norm kind, float *v, const gguf_tensor *w, int n_tok, int n_heads,
                       int head_dim, float eps)
{
    if (!w) return;
    for (int r = 0; r < n_tok * n_heads; r++) {
        float *x = v + (size_t)r * head_dim;
        norm_row(kind, x, x, w->data, head_dim, eps);
    }
}

static void add_bias(float *y, const gguf_tensor *b, int n_tok, int n)
{
    if (!b) return;
    const float *bd = b->data;
    for (int t = 0; t < n_tok; t++)
        for (int i = 0; i < n; i++) y[(size_t)t * n + i] += bd[i];
}

/* cos/sin of every rotated pair for each token's position, with RoPE base `base` and position
 * multiplier `scale`, into tab. */
static void rope_table(uh_ctx *c, const uh_batch *b, float *tab, float base, float scale)
{
    const uh_model *m = c->model;
    const int half = m->hp.n_rot / 2;
    const float *ff = m->rope_freqs ? m->rope_freqs->data : NULL;
    for (int t = 0; t < b->n_tokens; t++) {
        const double p = (double)b->pos[t] * scale;
        float *cs = tab + (size_t)t * half * 2;
        for (int i = 0; i < half; i++) {
            double theta = p * pow(base, -2.0 * i / m->hp.n_rot);
            if (ff) theta /= ff[i];
            cs[2 * i] = (float)cos(theta);
            cs[2 * i + 1] = (float)sin(theta);
        }
    }
}

/* Rotates the first n_rot dims of each of n_heads heads of one token in place. */
static void rope_apply(float *v, int n_heads, int head_dim, int n_rot, enum rope_style style,
                       const float *cs)
{
    const int half = n_rot / 2;
    for (int h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            const int i0 = style == ROPE_NEOX ? i : 2 * i;
            const int i1 = style == ROPE_NEOX ? i + half : 2 * i + 1;
            const float a = x[i0], b = x[i1], co = cs[2 * i], si = cs[2 * i + 1];
            x[i0] = a * co - b * si;
            x[i1] = a * si + b * co;
        }
    }
}

static void kv_store(void *dst, const float *src, size_t n, size_t esize)
{
    if (esize == 4) {
        memcpy(dst, src, n * sizeof(float));
    } else {
        uint16_t *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = fp32_to_fp16(src[i]);
    }
}

/* ---- parallel steps ---- */


typedef struct {
    uh_ctx *c;
    const uh_batch *b;
    int il;
} attn_job;

/* s -> cap * tanh(s / cap) over nb heads' runs of n scores (ATTN_RUN apart), with each head's
 * maximum mx[g] recomputed (tanh is monotonic, so it is the capped old maximum). */
static void softcap_scores(float *s, int nb, int n, float cap, float *mx)
{
    const float inv = 1.0f / cap;
    for (int g = 0; g < nb; g++) {
        float *sg = s + (size_t)g * ATTN_RUN;
        for (int j = 0; j < n; j++) sg[j] = cap * tanhf(sg[j] * inv);
        mx[g] = cap * tanhf(mx[g] * inv);
    }
}

/* Attention of (token, query head) pairs, split contiguously between threads. A thread takes
 * its consecutive heads that share a KV head (GQA) as one block and streams that KV head's cells
 * once for the whole block: K and V are read once per token instead of once per query head.
 *
 * One pass with an online softmax: cells go in runs of ATTN_RUN; for each run the group's scores
 * are computed, the running maximum raised (rescaling what was summed so far by
 * exp(old max - new max)), the run's weights exponentiated and summed, and the run's V rows added
 * in while its K rows are still fresh. Scores never exist for more than one run, and each run's
 * K and V are read together. The runs are fixed by position, so a token's numbers do not depend
 * on the batch or the thread. */
static void attention_worker(void *arg, int ith, int nth)
{
    const attn_job *aj = arg;
    uh_ctx *c = aj->c;
    const uh_batch *b = aj->b;
    const hparams *hp = &c->model->hp;
    const int hd = hp->head_dim, nh = hp->n_head, group = hp->n_head / hp->n_head_kv;
    const size_t dq = (size_t)nh * hd, n_ctx = (size_t)c->p.n_ctx;
    const size_t seq_stride = n_ctx * c->kv_row * c->kv_esize, es = c->kv_esize;
    const size_t cell = (size_t)hd * es, head_stride = n_ctx * cell; /* head-major, see attention */
    const float scale = hp->attn_scale, cap = hp->attn_softcap;
    const int window = c->model->layers[aj->il].window; /* 0: all earlier positions */
    const uint8_t *kc = c->k_cache[aj->il], *vc = c->v_cache[aj->il];
    float *scores = c->scores + (size_t)ith * c->scores_len; /* [group][ATTN_RUN] */
    float *mx = scores + (size_t)group * ATTN_RUN;           /* [group] running maxima */
    float *run_mx = mx + group, *sum = run_mx + group;       /* [group] each */
    const attn_kernels *ak = attn_kernels_get();
    int i0, i1;
    tp_split(b->n_tokens * nh, ith, nth, &i0, &i1);

    for (int i = i0; i < i1;) {
        const int t = i / nh, h0 = i % nh, kvh = h0 / group;
        const int nb = (kvh + 1) * group - h0 < i1 - i ? (kvh + 1) * group - h0 : i1 - i;
        const int s = b->seq_id ? b->seq_id[t] : 0;
        const int n_kv = b->pos[t] + 1;
        const int j_first = window > 0 && n_kv > window ? n_kv - window : 0;
        const uint8_t *ks = kc + (size_t)s * seq_stride + (size_t)kvh * head_stride;
        const uint8_t *vs = vc + (size_t)s * seq_stride + (size_t)kvh * head_stride;
        const float *q = c->q + (size_t)t * dq + (size_t)h0 * hd;
        float *o = c->attn + (size_t)t * dq + (size_t)h0 * hd;
        for (int g = 0; g < nb; g++) {
            mx[g] = -INFINITY;
            sum[g] = 0.0f;
        }
        memset(o, 0, (size_t)nb * hd * sizeof(float));
        for (int j0 = j_first; j0 < n_kv; j0 += ATTN_RUN) {
            const int jn = n_kv - j0 < ATTN_RUN ? n_kv - j0 : ATTN_RUN;
            for (int g = 0; g < nb; g++) run_mx[g] = -INFINITY;
            ak->scores_group(scores, ATTN_RUN, q, nb, ks + (size_t)j0 * cell, cell, es, jn, hd,
                             scale, run_mx);
            if (cap > 0) softcap_scores(scores, nb, jn, cap, run_mx);
            for (int g = 0; g < nb; g++) {
                if (run_mx[g] > mx[g]) { /* the first run has nothing to rescale */
                    if (j0 > j_first) {
                        const float r = expf(mx[g] - run_mx[g]);
                        sum[g] *= r;
                        for (int e = 0; e < hd; e++) o[(size_t)g * hd + e] *= r;
                    }
                    mx[g] = run_mx[g];
                }
                sum[g] += ak->exp_sum(scores + (size_t)g * ATTN_RUN, jn, mx[g]);
            }
            ak->weighted_sum_group(o, scores, ATTN_RUN, nb, vs + (size_t)j0 * cell, cell, es, jn,
                                   hd);
        }
        for (int g = 0; g < nb; g++) {
            const float inv = 1.0f / sum[g];
            for (int e = 0; e < hd; e++) o[(size_t)g * hd + e] *= inv;
        }
        i += nb;
    }
}

/* The cache of a layer is [sequence][KV head][position][head_dim]: each KV head's positions are
 * contiguous, so attention streams one sequential run per head (a position-major layout made it
 * read a quarter of every cache cell, strided, and measured about 10% slower at depth 2048). */
static void attention(uh_ctx *c, int il, const uh_batch *b)
{
    const hparams *hp = &c->model->hp;
    const size_t es = c->kv_esize, hd = (size_t)hp->head_dim;
    const size_t seq_stride = (size_t)c->p.n_ctx * c->kv_row * es;
    const size_t head_stride = (size_t)c->p.n_ctx * hd * es;
    uint8_t *kc = c->k_cache[il], *vc = c->v_cache[il];
    for (int t = 0; t < b->n_tokens; t++) {
        const int s = b->seq_id ? b->seq_id[t] : 0;
        for (int h = 0; h < hp->n_head_kv; h++) {
            const size_t off = (size_t)s * seq_stride + h * head_stride + (size_t)b->pos[t] * hd * es;
            const size_t src = (size_t)t * c->kv_row + h * hd;
            kv_store(kc + off, c->k + src, hd, es);
            kv_store(vc + off, c->v + src, hd, es);
        }
    }
    attn_job aj = {c, b, il};
    tp_run(c->pool, attention_worker, &aj);
}

/* Elementwise steps over n rows of width floats. Norms split by rows, sums by elements. (The
 * gated activation is applied by the gate/up matrix product itself, see ctx_matmul_n.) */
enum ew_op { EW_NORM, EW_ADD };

typedef struct {
    enum ew_op op;
    int n, width;
    float *y;       /* NORM: output; ADD: accumulator */
    const float *x; /* NORM: input; ADD: addend */
    const float *w; /* NORM: weight */
    float eps;
    enum arch_norm norm;
} ew_job;

static void ew_worker(void *arg, int ith, int nth)
{
    const ew_job *e = arg;
    int i0, i1;
    if (e->op == EW_NORM) {
        tp_split(e->n, ith, nth, &i0, &i1);
        for (int t = i0; t < i1; t++)
            norm_row(e->norm, e->y + (size_t)t * e->width, e->x + (size_t)t * e->width, e->w,
                     e->width, e->eps);
        return;
    }
    /* element ranges; n * width fits an int for any batch the context accepts */
    tp_split(e->n * e->width, ith, nth, &i0, &i1);
    for (int i = i0; i < i1; i++) e->y[i] += e->x[i];
}

static void ew_run(uh_ctx *c, enum ew_op op, int n, int width, float *y, const float *x,
                   const float *w)
{
    ew_job e = {op, n, width, y, x, w, c->model->hp.norm_eps, c->model->norm};
    /* a norm of one row, or a short sum, is cheaper than a dispatch */
    if ((op == EW_NORM && n == 1) || (op == EW_ADD && (size_t)n * width < 32768))
        ew_worker(&e, 0, 1);
    else tp_run(c->pool, ew_worker, &e);
}

/* ---- mixture of experts ---- */

/* Router probabilities to the n_expert_used choices of each token, most probable first (ties
 * to the lower expert), with weights renormalised to sum 1. Probabilities in float, as in
 * llama.cpp's softmax. */
static void moe_route(uh_ctx *c, int n)
{
    const hparams *hp = &c->model->hp;
    const int ne = hp->n_expert, k = hp->n_expert_used;
    for (int t = 0; t < n; t++) {
        float *p = c->moe_logits + (size_t)t * ne;
        float mx = -INFINITY, sum = 0.0f;
        for (int e = 0; e < ne; e++) mx = p[e] > mx ? p[e] : mx;
        for (int e = 0; e < ne; e++) sum += p[e] = expf(p[e] - mx);
        for (int e = 0; e < ne; e++) p[e] /= sum;
        int *sel = c->moe_sel + (size_t)t * k;
        float *w = c->moe_w + (size_t)t * k, wsum = 0.0f;
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int e = 0; e < ne; e++) {
                int taken = 0;
                for (int i = 0; i < j; i++) taken |= sel[i] == e;
                if (!taken && (best < 0 || p[e] > p[best])) best = e;
            }
            sel[j] = best;
            w[j] = p[best];
            wsum += p[best];
        }
        if (wsum < 6.103515625e-5f) wsum = 6.103515625e-5f;
        for (int j = 0; j < k; j++) w[j] /= wsum;
    }
}

/* The expert FFN of n tokens whose normed inputs are in c->h; the output replaces c->h. Tokens
 * are grouped by expert, so each chosen expert's matrices are read once for the whole batch,
 * through the same products (and packed layouts) as a dense FFN. A token's output is the same
 * whatever else is in the batch: each expert row is computed the same way for any token count,
 * and the weighted sum runs over the token's choices in a fixed order. */
static void moe_ffn(uh_ctx *c, const layer_weights *l, int n)
{
    const uh_model *m = c->model;
    const hparams *hp = &m->hp;
    const int ne = hp->n_expert, k = hp->n_expert_used, d = hp->n_embd;
    const float *h = c->h;
    ctx_matmul_sets(c, 1, &l->gate_inp, NULL, &h, &n, &c->moe_logits, NULL, ACT_NONE);
    moe_route(c, n);

    int count[ARCH_MAX_EXPERTS + 1] = {0}; /* then: the first sorted row of each expert */
    for (int i = 0; i < n * k; i++) count[c->moe_sel[i] + 1]++;
    for (int e = 0; e < ne; e++) count[e + 1] += count[e];
    int next[ARCH_MAX_EXPERTS];
    memcpy(next, count, (size_t)ne * sizeof(int));
    for (int i = 0; i < n * k; i++) {
        const int row = next[c->moe_sel[i]]++;
        c->moe_row[i] = row;
        c->moe_tok[row] = i / k;
    }
    /* the chosen experts in groups of up to CTX_MAX_SETS whose rows fit the batch scratch,
     * each group one hand-out to the threads (a decoded token: all its experts at once) */
    const int ff = hp->n_ff_exp;
    for (int e0 = 0; e0 < ne;) {
        gguf_tensor gate[CTX_MAX_SETS], up[CTX_MAX_SETS], down[CTX_MAX_SETS];
        const gguf_tensor *wg[CTX_MAX_SETS], *wu[CTX_MAX_SETS], *wd[CTX_MAX_SETS];
        const float *xs[CTX_MAX_SETS], *hs[CTX_MAX_SETS];
        float *gs[CTX_MAX_SETS], *us[CTX_MAX_SETS], *ys[CTX_MAX_SETS];
        int cnt[CTX_MAX_SETS], n_set = 0, rows = 0, e = e0;
        for (; e < ne && n_set < CTX_MAX_SETS; e++) {
            const int r0 = count[e], nr = count[e + 1] - r0;
            if (nr == 0) continue; /* its weights are not read */
            if (rows + nr > c->p.n_batch_max) break;
            for (int r = 0; r < nr; r++)
                memcpy(c->moe_x + (size_t)(rows + r) * d, c->h + (size_t)c->moe_tok[r0 + r] * d,
                       (size_t)d * sizeof(float));
            gate[n_set] = model_expert_slice(l->gate_exps, e);
            up[n_set] = model_expert_slice(l->up_exps, e);
            down[n_set] = model_expert_slice(l->down_exps, e);
            wg[n_set] = &gate[n_set], wu[n_set] = &up[n_set], wd[n_set] = &down[n_set];
            xs[n_set] = c->moe_x + (size_t)rows * d;
            gs[n_set] = c->gate + (size_t)rows * ff;
            us[n_set] = c->up + (size_t)rows * ff;
            hs[n_set] = gs[n_set];
            ys[n_set] = c->moe_y + (size_t)r0 * d;
            cnt[n_set++] = nr;
            rows += nr;
        }
        e0 = e;
        if (n_set == 0) continue;
        ctx_matmul_sets(c, n_set, wg, wu, xs, cnt, gs, us, m->act);
        ctx_matmul_sets(c, n_set, wd, NULL, hs, cnt, ys, NULL, ACT_NONE);
    }
    for (int t = 0; t < n; t++) {
        float *o = c->h + (size_t)t * d;
        for (int j = 0; j < k; j++) {
            const float w = c->moe_w[(size_t)t * k + j];
            const float *y = c->moe_y + (size_t)c->moe_row[(size_t)t * k + j] * d;
            if (j == 0)
                for (int i = 0; i < d; i++) o[i] = w * y[i];
            else
                for (int i = 0; i < d; i++) o[i] += w * y[i];
        }
    }
}

/* ---- one layer ---- */

static void layer_forward(uh_ctx *c, int il, const uh_batch *b)
{
    const uh_model *m = c->model;
    const hparams *hp = &m->hp;
    const layer_weights *l = &m->layers[il];
    const int n = b->n_tokens, d = hp->n_embd;
    const int dq = hp->n_head * hp->head_dim, dkv = (int)c->kv_row;

    ew_run(c, EW_NORM, n, d, c->h, c->x, l->attn_norm->data);
    const gguf_tensor *qkv[3] = {l->wq, l->wk, l->wv};
    float *const qkv_out[3] = {c->q, c->k, c->v};
    ctx_matmul_n(c, 3, qkv, c->h, n, qkv_out, ACT_NONE);
    add_bias(c->q, l->bq, n, dq);
    add_bias(c->k, l->bk, n, dkv);
    add_bias(c->v, l->bv, n, dkv);
    head_norms(m->norm, c->q, l->q_norm, n, hp->n_head, hp->head_dim, hp->norm_eps);
    head_norms(m->norm, c->k, l->k_norm, n, hp->n_head_kv, hp->head_dim, hp->norm_eps);
    const float *rope = c->rope + (l->rope_swa ? (size_t)c->p.n_batch_max * hp->n_rot : 0);
    for (int t = 0; t < n; t++) {
        const float *cs = rope + (size_t)t * hp->n_rot;
        rope_apply(c->q + (size_t)t * dq, hp->n_head, hp->head_dim, hp->n_rot, m->rope, cs);
        rope_apply(c->k + (size_t)t * dkv, hp->n_head_kv, hp->head_dim, hp->n_rot, m->rope, cs);
    }
    attention(c, il, b);
    ctx_matmul(c, l->wo, c->attn, n, c->h);
    add_bias(c->h, l->bo, n, d);
    if (l->post_attn_norm) ew_run(c, EW_NORM, n, d, c->h, c->h, l->post_attn_norm->data);
    ew_run(c, EW_ADD, n, d, c->x, c->h, NULL);

    ew_run(c, EW_NORM, n, d, c->h, c->x, l->ffn_norm->data);
    if (hp->n_expert > 0) {
        moe_ffn(c, l, n);
    } else {
        const gguf_tensor *gate_up[2] = {l->w_gate, l->w_up};
        float *const gate_up_out[2] = {c->gate, c->up};
        ctx_matmul_n(c, 2, gate_up, c->h, n, gate_up_out, m->act); /* gate = act(gate) * up */
        ctx_matmul(c, l->w_down, c->gate, n, c->h);
    }
    if (l->post_ffn_norm) ew_run(c, EW_NORM, n, d, c->h, c->h, l->post_ffn_norm->data);
    ew_run(c, EW_ADD, n, d, c->x, c->h, NULL);
}

/* ---- evaluation ---- */

/* Checks the whole batch before anything is written, so a bad batch changes nothing. */
static int validate_batch(uh_ctx *c, const uh_batch *b, int embed, uh_err *err)
{
    const uh_model *m = c->model;
    if (!b || b->n_tokens <= 0) return err_setf(err, UH_EINVAL, "eval: empty batch");
    if (b->n_tokens > c->p.n_batch_max)
        return err_setf(err, UH_ELIMIT, "eval: batch of %d tokens exceeds n_batch_max %d",
                        b->n_tokens, c->p.n_batch_max);
    if (!b->pos) return err_setf(err, UH_EINVAL, "eval: batch has no positions");
    if (embed ? !b->tokens : !b->embd)
        return err_setf(err, UH_EINVAL, "eval: batch needs %s", embed ? "tokens" : "embd");
    memcpy(c->running_len, c->seq_len, (size_t)c->p.n_seq_max * sizeof(int32_t));
    for (int t = 0; t < b->n_tokens; t++) {
        const int s = b->seq_id ? b->seq_id[t] : 0;
        if (s < 0 || s >= c->p.n_seq_max)
            return err_setf(err, UH_EINVAL, "eval: token %d has sequence id %d (n_seq_max %d)", t,
                            s, c->p.n_seq_max);
        if (embed && (b->tokens[t] < 0 || b->tokens[t] >= m->hp.n_vocab))
            return err_setf(err, UH_EINVAL, "eval: token id %d at batch index %d out of range [0, %d)",
                            b->tokens[t], t, m->hp.n_vocab);
        const int p = b->pos[t];
        if (p >= c->p.n_ctx)
            return err_setf(err, UH_ECTXFULL,
                            "context full: position %d of sequence %d does not fit n_ctx %d", p, s,
                            c->p.n_ctx);
        if (p < 0 || p > c->running_len[s])
            return err_setf(err, UH_EINVAL,
                            "eval: position %d of sequence %d leaves a gap (it holds %d positions)",
                            p, s, c->running_len[s]);
        c->running_len[s] = p + 1;
    }
    return UH_OK;
}

static int reserve_outputs(uh_ctx *c, int n_out, int width, uh_err *err)
{
    const size_t need = (size_t)n_out * (size_t)width;
    if (need > c->out_cap) {
        float *o = realloc(c->out, need * sizeof(float));
        if (!o) return err_setf(err, UH_ENOMEM, "eval: out of memory for %d output rows", n_out);
        c->out = o;
        c->out_cap = need;
    }
    c->out_width = width;
    return UH_OK;
}

int uh_eval_layers(uh_ctx *c, const uh_batch *b, int layer_begin, int layer_end, uh_err *err)
{
    const uh_model *m = c->model;
    const hparams *hp = &m->hp;
    const int d = hp->n_embd;
    if (layer_begin < 0 || layer_end > hp->n_layer || layer_begin > layer_end)
        return err_setf(err, UH_EINVAL, "eval: layer range [%d, %d) outside [0, %d)", layer_begin,
                        layer_end, hp->n_layer);
    const int embed = layer_begin == 0 && b && b->tokens;
    const int head = layer_end == hp->n_layer;
    int rc = validate_batch(c, b, embed, err);
    if (rc) return rc;
    const int n = b->n_tokens;

    /* which tokens produce output: logits only where asked; hidden states for all tokens, since
     * the next range needs every token to fill its own KV cache */
    int n_out = 0;
    for (int t = 0; t < n; t++) {
        int want = !head || (b->want_output ? b->want_output[t] != 0 : t == n - 1);
        c->out_row[t] = want ? n_out++ : -1;
    }
    for (int t = n; t < c->p.n_batch_max; t++) c->out_row[t] = -1;
    if ((rc = reserve_outputs(c, n_out, head ? hp->n_vocab : d, err))) return rc;
    c->out_is_logits = head;

    if (embed) {
        const gguf_tensor *e = m->tok_embd;
        const size_t row = qtype_row_size((enum qtype)e->type, d);
        for (int t = 0; t < n; t++)
            qtype_traits[e->type].to_float((const uint8_t *)e->data + (size_t)b->tokens[t] * row,
                                           c->x + (size_t)t * d, d);
        if (m->embd_scale == EMBD_SCALE_SQRT_N_EMBD) {
            const float sc = sqrtf((float)d);
            for (size_t i = 0; i < (size_t)n * d; i++) c->x[i] *= sc;
        }
    } else {
        memcpy(c->x, b->embd, (size_t)n * d * sizeof(float));
    }
    rope_table(c, b, c->rope, hp->rope_base, hp->rope_scale);
    if (m->rope_swa_used)
        rope_table(c, b, c->rope + (size_t)c->p.n_batch_max * hp->n_rot, hp->rope_base_swa,
                   hp->rope_scale_swa);
    for (int il = layer_begin; il < layer_end; il++) layer_forward(c, il, b);
    for (int t = 0; t < n; t++) {
        const int s = b->seq_id ? b->seq_id[t] : 0;
        c->seq_len[s] = b->pos[t] + 1;
    }

    if (!head) {
        memcpy(c->out, c->x, (size_t)n * d * sizeof(float));
        return UH_OK;
    }
    /* gather the output tokens, normalise, project to the vocabulary */
    for (int t = 0; t < n; t++) {
        if (c->out_row[t] < 0) continue;
        norm_row(m->norm, c->h + (size_t)c->out_row[t] * d, c->x + (size_t)t * d,
                 m->output_norm->data, d, hp->norm_eps);
    }
    if (n_out > 0) ctx_matmul(c, m->output, c->h, n_out, c->out);
    if (hp->final_softcap > 0) {
        const float cap = hp->final_softcap, inv = 1.0f / cap;
        for (size_t i = 0; i < (size_t)n_out * hp->n_vocab; i++)
            c->out[i] = cap * tanhf(c->out[i] * inv);
    }
    return UH_OK;
}

int uh_eval(uh_ctx *c, const uh_batch *b, uh_err *err)
{
    return uh_eval_layers(c, b, 0, c->model->hp.n_layer, err);
}

const float *uh_get_logits(const uh_ctx *c, int i)
{
    if (!c->out_is_logits || i < 0 || i >= c->p.n_batch_max || c->out_row[i] < 0) return NULL;
    return c->out + (size_t)c->out_row[i] * c->out_width;
}

const float *uh_get_hidden(const uh_ctx *c, int i)
{
    if (c->out_is_logits || i < 0 || i >= c->p.n_batch_max || c->out_row[i] < 0) return NULL;
    return c->out + (size_t)c->out_row[i] * c->out_width;
}
