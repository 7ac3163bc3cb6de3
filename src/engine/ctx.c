/* ctx.c - context creation, KV cache bookkeeping and the matrix-vector products (see ctx.h). */
#include "engine/ctx.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/qtypes.h"

uh_ctx_params uh_ctx_default_params(void)
{
    uh_ctx_params p = {0};
    p.n_ctx = 0;
    p.n_seq_max = 1;
    p.n_batch_max = 512;
    p.kv_type = UH_KV_F32;
    p.exact = 0;
    return p;
}

#define DEFAULT_MAX_CTX 4096

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

int uh_ctx_new(const uh_model *m, const uh_ctx_params *params, uh_ctx **out, uh_err *err)
{
    *out = NULL;
    const hparams *hp = &m->hp;
    uh_ctx_params p = params ? *params : uh_ctx_default_params();
    if (p.n_ctx < 0 || p.n_seq_max < 0 || p.n_batch_max < 0)
        return err_setf(err, UH_EINVAL, "context: negative size parameter");
    if (p.kv_type != UH_KV_F32 && p.kv_type != UH_KV_F16)
        return err_setf(err, UH_EINVAL, "context: unknown kv_type %d", p.kv_type);
    if (p.n_ctx == 0) p.n_ctx = hp->n_ctx_train < DEFAULT_MAX_CTX ? hp->n_ctx_train : DEFAULT_MAX_CTX;
    if (p.n_seq_max == 0) p.n_seq_max = 1;
    if (p.n_batch_max == 0) p.n_batch_max = 512;
    if (p.n_ctx > (1 << 22) || p.n_seq_max > 4096 || p.n_batch_max > (1 << 16))
        return err_setf(err, UH_EINVAL, "context: n_ctx %d / n_seq_max %d / n_batch_max %d too large",
                        p.n_ctx, p.n_seq_max, p.n_batch_max);

    uh_ctx *c = calloc(1, sizeof *c);
    if (!c) return err_setf(err, UH_ENOMEM, "context: out of memory");
    c->model = m;
    c->p = p;
    c->kv_row = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
    c->kv_esize = p.kv_type == UH_KV_F16 ? 2 : 4;

    const size_t nb = (size_t)p.n_batch_max;
    const size_t dq = (size_t)hp->n_head * (size_t)hp->head_dim;
    const size_t widest = max_sz(max_sz((size_t)hp->n_embd, dq), (size_t)hp->n_ff);
    size_t act_row = 0;
    for (int t = 0; t < QT_COUNT; t++) {
        if (!qtype_traits[t].name || !qtype_traits[t].from_float) continue;
        act_row = max_sz(act_row, qtype_row_size((enum qtype)t, (int64_t)widest));
    }
    act_row = max_sz(act_row, widest * sizeof(float));
    c->act_q_size = act_row * nb;

    c->k_cache = calloc((size_t)hp->n_layer, sizeof(void *));
    c->v_cache = calloc((size_t)hp->n_layer, sizeof(void *));
    c->seq_len = calloc((size_t)p.n_seq_max, sizeof(int));
    c->running_len = calloc((size_t)p.n_seq_max, sizeof(int32_t));
    c->x = malloc(nb * (size_t)hp->n_embd * sizeof(float));
    c->h = malloc(nb * max_sz((size_t)hp->n_embd, dq) * sizeof(float));
    c->q = malloc(nb * dq * sizeof(float));
    c->k = malloc(nb * c->kv_row * sizeof(float));
    c->v = malloc(nb * c->kv_row * sizeof(float));
    c->attn = malloc(nb * dq * sizeof(float));
    c->gate = malloc(nb * (size_t)hp->n_ff * sizeof(float));
    c->up = malloc(nb * (size_t)hp->n_ff * sizeof(float));
    c->rope = malloc(nb * (size_t)hp->n_rot * sizeof(float));
    c->scores = malloc((size_t)p.n_ctx * sizeof(float));
    c->act_q = malloc(c->act_q_size);
    c->wrow = malloc(widest * sizeof(float));
    c->out_row = malloc(nb * sizeof(int));
    int ok = c->k_cache && c->v_cache && c->seq_len && c->running_len && c->x && c->h && c->q &&
             c->k && c->v && c->attn && c->gate && c->up && c->rope && c->scores && c->act_q &&
             c->wrow && c->out_row;
    const size_t layer_bytes = (size_t)p.n_seq_max * (size_t)p.n_ctx * c->kv_row * c->kv_esize;
    for (int il = 0; ok && il < hp->n_layer; il++) {
        c->k_cache[il] = calloc(1, layer_bytes);
        c->v_cache[il] = calloc(1, layer_bytes);
        ok = c->k_cache[il] && c->v_cache[il];
    }
    if (!ok) {
        uh_ctx_free(c);
        return err_setf(err, UH_ENOMEM, "context: out of memory for a KV cache of %zu MiB",
                        2 * (size_t)hp->n_layer * layer_bytes >> 20);
    }
    *out = c;
    return UH_OK;
}

void uh_ctx_free(uh_ctx *c)
{
    if (!c) return;
    for (int il = 0; il < c->model->hp.n_layer; il++) {
        if (c->k_cache) free(c->k_cache[il]);
        if (c->v_cache) free(c->v_cache[il]);
    }
    free(c->k_cache);
    free(c->v_cache);
    free(c->seq_len);
    free(c->running_len);
    free(c->x);
    free(c->h);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->attn);
    free(c->gate);
    free(c->up);
    free(c->rope);
    free(c->scores);
    free(c->act_q);
    free(c->wrow);
    free(c->out);
    free(c->out_row);
    free(c);
}

void uh_kv_truncate(uh_ctx *c, int seq, int p0)
{
    if (p0 < 0) p0 = 0;
    for (int s = 0; s < c->p.n_seq_max; s++)
        if ((seq < 0 || s == seq) && c->seq_len[s] > p0) c->seq_len[s] = p0;
}

int uh_kv_seq_len(const uh_ctx *c, int seq)
{
    if (seq < 0 || seq >= c->p.n_seq_max) return 0;
    return c->seq_len[seq];
}

/* ---- matrix products ---- */

static float dot_f32(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}

void ctx_matmul(uh_ctx *c, const gguf_tensor *w, const float *x, int n_tok, float *y)
{
    const int k = (int)w->ne[0];
    const int m = (int)w->ne[1];
    const qtype_traits_t *tr = &qtype_traits[w->type];
    const size_t w_row = qtype_row_size((enum qtype)w->type, k);
    const uint8_t *wd = w->data;

    if (c->p.exact) {
        /* Reference path: float32 activations against each dequantized row. */
        for (int r = 0; r < m; r++) {
            tr->to_float(wd + (size_t)r * w_row, c->wrow, k);
            for (int t = 0; t < n_tok; t++)
                y[(size_t)t * m + r] = dot_f32(c->wrow, x + (size_t)t * k, k);
        }
        return;
    }

    /* Convert the activations once into the weight's dot-product format, then stream each
     * weight row once and reuse it for every token of the batch. */
    const enum qtype vt = tr->vec_dot_type;
    const void *xq = x;
    size_t x_row = (size_t)k * sizeof(float);
    if (vt != QT_F32) {
        x_row = qtype_row_size(vt, k);
        const qt_from_float_fn quant = qtype_traits[vt].from_float;
        for (int t = 0; t < n_tok; t++)
            quant(x + (size_t)t * k, (uint8_t *)c->act_q + (size_t)t * x_row, k);
        xq = c->act_q;
    }
    for (int r = 0; r < m; r++) {
        const void *wr = wd + (size_t)r * w_row;
        for (int t = 0; t < n_tok; t++)
            tr->vec_dot(k, &y[(size_t)t * m + r], wr, (const uint8_t *)xq + (size_t)t * x_row);
    }
}
