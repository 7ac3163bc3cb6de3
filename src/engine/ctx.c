/* ctx.c - context creation, KV cache bookkeeping and the matrix products (see ctx.h).
 *
 * Matrix products split the weight's output rows into chunks that threads claim from an atomic
 * counter, so each thread streams contiguous runs of weight rows and a thread slowed down by a
 * noisy neighbour simply claims fewer chunks. Within a chunk, rows are taken MM_TILE_R at a time
 * and multiplied with every token before moving on, so each weight row is read from memory once
 * per product (the activations, much smaller, are re-read from cache). */
#include "engine/ctx.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/fp16.h"
#include "kernels/qtypes.h"
#include "kernels/simd_attn.h"

uh_ctx_params uh_ctx_default_params(void)
{
    uh_ctx_params p = {0};
    p.n_ctx = 0;
    p.n_seq_max = 1;
    p.n_batch_max = 512;
    p.kv_type = UH_KV_F32;
    p.exact = 0;
    p.n_threads = 0;
    return p;
}

#define DEFAULT_MAX_CTX 4096

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

int uh_ctx_new(const uh_model *m, const uh_ctx_params *params, uh_ctx **out, uh_err *err)
{
    *out = NULL;
    const hparams *hp = &m->hp;
    uh_ctx_params p = params ? *params : uh_ctx_default_params();
    if (p.n_ctx < 0 || p.n_seq_max < 0 || p.n_batch_max < 0 || p.n_threads < 0)
        return err_setf(err, UH_EINVAL, "context: negative size parameter");
    if (p.kv_type != UH_KV_F32 && p.kv_type != UH_KV_F16)
        return err_setf(err, UH_EINVAL, "context: unknown kv_type %d", p.kv_type);
    if (p.n_ctx == 0) p.n_ctx = hp->n_ctx_train < DEFAULT_MAX_CTX ? hp->n_ctx_train : DEFAULT_MAX_CTX;
    if (p.n_seq_max == 0) p.n_seq_max = 1;
    if (p.n_batch_max == 0) p.n_batch_max = 512;
    if (p.n_threads == 0) p.n_threads = tp_default_threads();
    if (p.n_ctx > (1 << 22) || p.n_seq_max > 4096 || p.n_batch_max > (1 << 16) ||
        p.n_threads > 1024)
        return err_setf(err, UH_EINVAL,
                        "context: n_ctx %d / n_seq_max %d / n_batch_max %d / n_threads %d "
                        "too large", p.n_ctx, p.n_seq_max, p.n_batch_max, p.n_threads);

    uh_ctx *c = calloc(1, sizeof *c);
    if (!c) return err_setf(err, UH_ENOMEM, "context: out of memory");
    c->model = m;
    c->p = p;
    c->kv_row = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
    c->kv_esize = p.kv_type == UH_KV_F16 ? 2 : 4;

    const size_t nb = (size_t)p.n_batch_max;
    const size_t dq = (size_t)hp->n_head * (size_t)hp->head_dim;
    const size_t n_ff = max_sz((size_t)hp->n_ff, (size_t)hp->n_ff_exp);
    const size_t widest = max_sz(max_sz((size_t)hp->n_embd, dq), n_ff);
    size_t act_row = 0;
    for (int t = 0; t < QT_COUNT; t++) {
        if (!qtype_traits[t].name || !qtype_traits[t].from_float) continue;
        act_row = max_sz(act_row, qtype_row_size((enum qtype)t, (int64_t)widest));
        if (qtype_traits[t].packed)
            act_row = max_sz(act_row, qtype_traits[t].packed->act_row_bytes((int)widest));
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
    c->gate = malloc(nb * n_ff * sizeof(float));
    c->up = malloc(nb * n_ff * sizeof(float));
    int moe_ok = 1;
    if (hp->n_expert > 0) {
        const size_t k = (size_t)hp->n_expert_used;
        c->moe_logits = malloc(nb * (size_t)hp->n_expert * sizeof(float));
        c->moe_sel = malloc(nb * k * sizeof(int));
        c->moe_w = malloc(nb * k * sizeof(float));
        c->moe_row = malloc(nb * k * sizeof(int));
        c->moe_tok = malloc(nb * k * sizeof(int));
        c->moe_x = malloc(nb * (size_t)hp->n_embd * sizeof(float));
        c->moe_y = malloc(nb * k * (size_t)hp->n_embd * sizeof(float));
        moe_ok = c->moe_logits && c->moe_sel && c->moe_w && c->moe_row && c->moe_tok && c->moe_x &&
                 c->moe_y;
    }
    /* a second table for the sliding-window layers' RoPE base, where it differs (forward.c) */
    c->rope = malloc(nb * (size_t)hp->n_rot * (m->rope_swa_used ? 2 : 1) * sizeof(float));
    const size_t nth = (size_t)p.n_threads;
    const size_t group = (size_t)(hp->n_head / hp->n_head_kv);
    c->scores_len = group * (size_t)ATTN_RUN + 3 * group; /* see attention_worker */
    c->scores = malloc(nth * c->scores_len * sizeof(float));
    c->act_q = malloc(c->act_q_size);
    c->wrow_len = widest;
    c->wrow = malloc(nth * widest * sizeof(float));
    c->out_row = malloc(nb * sizeof(int));
    int ok = c->k_cache && c->v_cache && c->seq_len && c->running_len && c->x && c->h && c->q &&
             c->k && c->v && c->attn && c->gate && c->up && c->rope && c->scores && c->act_q &&
             c->wrow && c->out_row && moe_ok;
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
    if (!(c->pool = tp_new(p.n_threads))) {
        uh_ctx_free(c);
        return err_setf(err, UH_ENOMEM, "context: cannot start %d threads", p.n_threads);
    }
    *out = c;
    return UH_OK;
}

void uh_ctx_free(uh_ctx *c)
{
    if (!c) return;
    tp_free(c->pool);
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
    free(c->moe_logits);
    free(c->moe_sel);
    free(c->moe_w);
    free(c->moe_row);
    free(c->moe_tok);
    free(c->moe_x);
    free(c->moe_y);
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

#define MM_TILE_R QT_DOT_ROWS /* weight rows per tile */
#define MM_TILE_T QT_TILE_TOKENS /* tokens per tile */
#define MM_CHUNKS_PER_THREAD 16
#define MM_INLINE_MACS       65536 /* products up to this size run on the calling thread */

typedef struct {
    uh_ctx *c;
    const qtype_traits_t *tr;
    const uint8_t *packed; /* the weight's packed groups, or NULL */
    size_t group_bytes;
    const uint8_t *wd; /* weight rows, w_row bytes apart */
    size_t w_row;
    int k, m;          /* input width, output rows */
    const float *x;    /* [n_tok][k] float input (quantization, exact mode) */
    const uint8_t *xq; /* [n_tok] activation rows in vec_dot_type, x_row bytes apart */
    size_t x_row;
    int n_tok;
    float *y;          /* [n_tok][m] */
    int chunk;         /* rows per claimed chunk: a multiple of MM_TILE_R, of QT_PACK_ROWS
                        * when packed */
} mm_job;

static float dot_f32(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}

/* y[t][r] for nr rows starting at r0 and nt tokens starting at t0. Every element is computed
 * with the same arguments whatever the tiling (vec_dot_rows gives bit for bit what vec_dot gives
 * for each row), which keeps results independent of the thread count. The multi-row kernel
 * reads each activation block once for all the tile's rows; it is used only for batches, since
 * a single token streams its weight rows from memory, and one sequential stream reads faster
 * than four interleaved ones (measured: about 1.6x for Q4_0 on one core). */
static void mm_tile(const mm_job *j, int r0, int nr, int t0, int nt)
{
    const uint8_t *w0 = j->wd + (size_t)r0 * j->w_row;
    if (j->tr->vec_dot_tile && j->n_tok > 1) {
        j->tr->vec_dot_tile(j->k, nr, nt, j->y + (size_t)t0 * j->m + r0, (size_t)j->m, w0,
                            j->w_row, j->xq + (size_t)t0 * j->x_row, j->x_row);
        return;
    }
    for (int t = t0; t < t0 + nt; t++) {
        const uint8_t *xr = j->xq + (size_t)t * j->x_row;
        float *yt = j->y + (size_t)t * j->m;
        if (j->tr->vec_dot_rows && j->n_tok > 1) {
            j->tr->vec_dot_rows(j->k, nr, &yt[r0], w0, j->w_row, xr);
            continue;
        }
        for (int r = r0; r < r0 + nr; r++)
            j->tr->vec_dot(j->k, &yt[r], j->wd + (size_t)r * j->w_row, xr);
    }
}

static void mm_rows(const mm_job *j, int r0, int r1)
{
    if (j->packed) {
        /* r0 and r1 are multiples of QT_PACK_ROWS (packed matrices have whole groups) */
        for (int r = r0; r < r1; r += QT_PACK_ROWS) {
            const uint8_t *g = j->packed + (size_t)(r / QT_PACK_ROWS) * j->group_bytes;
            for (int t = 0; t < j->n_tok; t += MM_TILE_T)
                j->tr->packed->tile(j->k, j->n_tok - t < MM_TILE_T ? j->n_tok - t : MM_TILE_T,
                                    j->y + (size_t)t * j->m + r, (size_t)j->m, g,
                                    j->xq + (size_t)t * j->x_row, j->x_row);
        }
        return;
    }
    for (int r = r0; r < r1; r += MM_TILE_R) {
        const int nr = r1 - r < MM_TILE_R ? r1 - r : MM_TILE_R;
        for (int t = 0; t < j->n_tok; t += MM_TILE_T)
            mm_tile(j, r, nr, t, j->n_tok - t < MM_TILE_T ? j->n_tok - t : MM_TILE_T);
    }
}

/* Reference path: float32 activations against each dequantized row. */
static void mm_rows_exact(const mm_job *j, int r0, int r1, float *wrow)
{
    for (int r = r0; r < r1; r++) {
        j->tr->to_float(j->wd + (size_t)r * j->w_row, wrow, j->k);
        for (int t = 0; t < j->n_tok; t++)
            j->y[(size_t)t * j->m + r] = dot_f32(wrow, j->x + (size_t)t * j->k, j->k);
    }
}

/* Several products handed out as one job: chunks of rows are claimed from one counter across
 * all the matrices, so the threads meet once instead of once per matrix. With glu, each listed
 * matrix is a gate paired with an up projection of the same shape (up[i]): a chunk covers the
 * same rows of both, and its owner applies gate = act(gate) * up to them at once. */
#define MM_MAX 3 /* products of one input (ctx_matmul_n) */

typedef struct {
    mm_job j[CTX_MAX_SETS];  /* the products; with glu, the gates */
    mm_job up[CTX_MAX_SETS]; /* with glu: the up projection paired with j[i] */
    int n, glu;
    enum arch_act act; /* with glu: the gate's activation */
    int first[CTX_MAX_SETS + 1]; /* first chunk id of each matrix; first[n] = the total */
    atomic_int next;             /* next unclaimed chunk id */
} mm_multi;

/* GELU's tanh approximation of every float16 value, rounded to float16: llama.cpp's CPU backend
 * evaluates the GeGLU through such a table, and the reference logits carry its rounding. Built
 * once, on the first GELU-gated product. */
static uint16_t gelu_table[1 << 16];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

static void gelu_table_init(void)
{
    for (uint32_t i = 0; i < (1u << 16); i++) {
        const float x = fp16_to_fp32((uint16_t)i);
        const float y = 0.5f * x * (1.0f + tanhf(0.79788456080286535588f * x *
                                                 (1.0f + 0.044715f * x * x)));
        gelu_table[i] = fp32_to_fp16(y);
    }
}

/* g = gelu(g) * u: the table for |g| < 10, the identity above and 0 below (as llama.cpp). */
static void gelu_mul(float *restrict g, const float *restrict u, int n)
{
    for (int i = 0; i < n; i++) {
        const float x = g[i];
        const float y = x <= -10.0f  ? 0.0f
                        : x >= 10.0f ? x
                                     : fp16_to_fp32(gelu_table[fp32_to_fp16(x)]);
        g[i] = y * u[i];
    }
}

static void glu_rows(const mm_job *g, const mm_job *u, int r0, int r1, enum arch_act act)
{
    const attn_kernels *ak = attn_kernels_get();
    for (int t = 0; t < g->n_tok; t++) {
        float *gy = g->y + (size_t)t * g->m + r0;
        const float *uy = u->y + (size_t)t * u->m + r0;
        if (act == ACT_GELU)
            gelu_mul(gy, uy, r1 - r0);
        else
            ak->silu_mul(gy, uy, r1 - r0);
    }
}

static void mm_worker(void *arg, int ith, int nth)
{
    (void)nth;
    mm_multi *mm = arg;
    float *wrow = mm->j[0].c->wrow + (size_t)ith * mm->j[0].c->wrow_len;
    for (;;) {
        const int id = atomic_fetch_add_explicit(&mm->next, 1, memory_order_relaxed);
        if (id >= mm->first[mm->n]) break;
        int i = 0;
        while (id >= mm->first[i + 1]) i++;
        const mm_job *j = &mm->j[i];
        const int r0 = (id - mm->first[i]) * j->chunk;
        const int r1 = r0 + j->chunk < j->m ? r0 + j->chunk : j->m;
        for (int g = 0; g <= mm->glu; g++) {
            const mm_job *jg = g ? &mm->up[i] : j;
            if (jg->c->p.exact)
                mm_rows_exact(jg, r0, r1, wrow);
            else
                mm_rows(jg, r0, r1);
        }
        if (mm->glu) glu_rows(j, &mm->up[i], r0, r1, mm->act);
    }
}

/* Converts the activations into the weight's dot-product format, tokens split over threads. */
static void mm_quantize_worker(void *arg, int ith, int nth)
{
    mm_job *j = arg;
    int t0, t1;
    tp_split(j->n_tok, ith, nth, &t0, &t1);
    if (j->packed) {
        for (int t = t0; t < t1; t++)
            j->tr->packed->act_from_float(j->x + (size_t)t * j->k,
                                          (uint8_t *)j->xq + (size_t)t * j->x_row, j->k);
        return;
    }
    const qt_from_float_fn quant = qtype_traits[j->tr->vec_dot_type].from_float;
    for (int t = t0; t < t1; t++)
        quant(j->x + (size_t)t * j->k, (uint8_t *)j->xq + (size_t)t * j->x_row, j->k);
}

static void mm_job_init(mm_job *j, uh_ctx *c, const gguf_tensor *w, const float *x, int n_tok,
                        float *y)
{
    memset(j, 0, sizeof *j);
    j->c = c;
    j->tr = &qtype_traits[w->type];
    j->wd = w->data;
    j->k = (int)w->ne[0];
    j->m = (int)w->ne[1];
    j->x = x;
    j->xq = (const uint8_t *)x;
    j->x_row = (size_t)w->ne[0] * sizeof(float);
    j->n_tok = n_tok;
    j->y = y;
    j->w_row = qtype_row_size((enum qtype)w->type, j->k);
    if (w->packed && j->tr->packed && !c->p.exact) {
        j->packed = w->packed;
        j->group_bytes = j->tr->packed->group_bytes(j->k);
    }
}

/* Whether two jobs read the same activation bytes (so one conversion serves both). */
static int mm_same_input(const mm_job *a, const mm_job *b)
{
    if (a->k != b->k || (a->packed != NULL) != (b->packed != NULL)) return 0;
    if (a->packed)
        return a->tr->packed->act_from_float == b->tr->packed->act_from_float &&
               a->tr->packed->act_row_bytes == b->tr->packed->act_row_bytes;
    if (a->c->p.exact) return 1;
    return a->tr->vec_dot_type == b->tr->vec_dot_type;
}

/* Converts j's input into buf where its products need another format; returns the bytes used. */
static size_t mm_prepare_input(uh_ctx *c, mm_job *j, uint8_t *buf)
{
    const enum qtype vt = j->tr->vec_dot_type;
    if (!j->packed && (c->p.exact || vt == QT_F32)) return 0; /* reads the floats */
    j->x_row = j->packed ? j->tr->packed->act_row_bytes(j->k) : qtype_row_size(vt, j->k);
    j->xq = buf;
    /* a single row is quicker to convert here than to hand out */
    if (j->n_tok == 1) mm_quantize_worker(j, 0, 1);
    else tp_run(c->pool, mm_quantize_worker, j);
    return (size_t)j->n_tok * j->x_row;
}

/* Hands out mm's n listed products (inputs ready). With may_inline, products too small to be
 * worth waking the threads for run on the caller's; every element is computed by the same code
 * either way. */
static void mm_run(uh_ctx *c, mm_multi *mm, int may_inline)
{
    int any_packed = 0;
    double macs = 0;
    for (int i = 0; i < mm->n; i++) {
        any_packed |= mm->j[i].packed != NULL || (mm->glu && mm->up[i].packed != NULL);
        macs += (double)mm->j[i].m * mm->j[i].k * mm->j[i].n_tok * (mm->glu ? 2 : 1);
    }
    const int unit = any_packed ? QT_PACK_ROWS : MM_TILE_R;
    const int nth = tp_n_threads(c->pool);
    mm->first[0] = 0;
    for (int i = 0; i < mm->n; i++) {
        mm_job *j = &mm->j[i];
        int chunk = j->m / (nth * MM_CHUNKS_PER_THREAD);
        chunk = (chunk + unit - 1) / unit * unit;
        j->chunk = chunk < unit ? unit : chunk;
        if (mm->glu) mm->up[i].chunk = j->chunk;
        mm->first[i + 1] = mm->first[i] + (j->m + j->chunk - 1) / j->chunk;
    }
    atomic_init(&mm->next, 0);
    if (may_inline && macs <= MM_INLINE_MACS)
        mm_worker(mm, 0, 1);
    else
        tp_run(c->pool, mm_worker, mm);
}

void ctx_matmul_n(uh_ctx *c, int n, const gguf_tensor *const *w, const float *x, int n_tok,
                  float *const *y, enum arch_act glu_act)
{
    const int glu = glu_act != ACT_NONE;
    if (glu_act == ACT_GELU) pthread_once(&gelu_once, gelu_table_init);
    if (n < 1 || n > MM_MAX || (glu && (n != 2 || (glu_act != ACT_SILU && glu_act != ACT_GELU))))
        return;
    mm_job jobs[MM_MAX];
    for (int i = 0; i < n; i++) mm_job_init(&jobs[i], c, w[i], x, n_tok, y[i]);
    /* one input conversion when every matrix reads the same format; otherwise one job each */
    for (int i = 1; i < n; i++) {
        if (!mm_same_input(&jobs[0], &jobs[i]) || (glu && w[i]->ne[1] != w[0]->ne[1])) {
            if (glu) {
                ctx_matmul(c, w[0], x, n_tok, y[0]);
                ctx_matmul(c, w[1], x, n_tok, y[1]);
                glu_rows(&jobs[0], &jobs[1], 0, jobs[0].m, glu_act);
            } else {
                for (int k = 0; k < n; k++) ctx_matmul(c, w[k], x, n_tok, y[k]);
            }
            return;
        }
    }
    mm_prepare_input(c, &jobs[0], c->act_q);
    for (int i = 1; i < n; i++) {
        jobs[i].xq = jobs[0].xq;
        jobs[i].x_row = jobs[0].x_row;
    }
    mm_multi mm; /* not zeroed: its job arrays are large, and only the first n are read */
    mm.glu = glu;
    mm.act = glu_act;
    mm.n = glu ? 1 : n;
    for (int i = 0; i < mm.n; i++) mm.j[i] = jobs[i];
    if (glu) mm.up[0] = jobs[1];
    mm_run(c, &mm, 0);
}

void ctx_matmul_sets(uh_ctx *c, int n, const gguf_tensor *const *w, const gguf_tensor *const *w_up,
                     const float *const *x, const int *n_tok, float *const *y, float *const *y_up,
                     enum arch_act glu_act)
{
    const int glu = glu_act != ACT_NONE;
    if (glu_act == ACT_GELU) pthread_once(&gelu_once, gelu_table_init);
    if (n < 1 || n > CTX_MAX_SETS || (glu && glu_act != ACT_SILU && glu_act != ACT_GELU)) return;
    mm_multi mm; /* not zeroed: only the first n jobs are read */
    mm.glu = glu;
    mm.act = glu_act;
    mm.n = n;
    size_t used = 0;
    int fits = 1;
    for (int i = 0; i < n; i++) {
        mm_job_init(&mm.j[i], c, w[i], x[i], n_tok[i], y[i]);
        if (glu) mm_job_init(&mm.up[i], c, w_up[i], x[i], n_tok[i], y_up[i]);
        fits &= !glu || (mm_same_input(&mm.j[i], &mm.up[i]) && w_up[i]->ne[1] == w[i]->ne[1]);
        used += (size_t)n_tok[i];
    }
    if (!fits || used > (size_t)c->p.n_batch_max) {
        for (int i = 0; i < n; i++) {
            const gguf_tensor *wi[2] = {w[i], glu ? w_up[i] : NULL};
            float *const yi[2] = {y[i], glu ? y_up[i] : NULL};
            ctx_matmul_n(c, glu ? 2 : 1, wi, x[i], n_tok[i], yi, glu_act);
        }
        return;
    }
    /* the inputs side by side in the activation scratch: at most n_batch_max rows, each no
     * wider than a row of the widest input */
    used = 0;
    for (int i = 0; i < n; i++) {
        used += mm_prepare_input(c, &mm.j[i], (uint8_t *)c->act_q + used);
        if (glu) {
            mm.up[i].xq = mm.j[i].xq;
            mm.up[i].x_row = mm.j[i].x_row;
        }
    }
    mm_run(c, &mm, 1);
}

void ctx_matmul(uh_ctx *c, const gguf_tensor *w, const float *x, int n_tok, float *y)
{
    ctx_matmul_n(c, 1, &w, x, n_tok, &y, ACT_NONE);
}
