/* embed.c - text embeddings (uh_embed): the output-normed final hidden states of a token
 * sequence, mean-pooled and scaled to unit length.
 *
 * Mean pooling over every token (rather than the last token's state alone) is what sentence
 * embedding models built on decoders mostly use; unit length matches OpenAI-style embeddings,
 * which clients compare by dot product. The pass is an ordinary eval with no output rows, so the
 * head (the largest matrix of a small model) is never multiplied; the states come from the
 * context's residual stream, which the eval leaves holding each token's state after the last
 * layer (ctx.h). */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/ctx.h"

/* Adds rmsnorm(x) * w to acc[0..n); the same formula as the head's norm in forward.c (RMSNorm is
 * the only norm kind arch_check lets a model load with). */
static void add_normed(double *acc, const float *x, const float *w, int n, float eps)
{
    const float scale = (float)(1.0 / sqrt(ctx_sum_squares(x, n) / n + eps));
    for (int i = 0; i < n; i++) acc[i] += (double)(x[i] * scale * w[i]);
}

int uh_embed(uh_ctx *c, int seq, const uh_token *toks, int n, float *out, uh_err *err)
{
    const uh_model *m = c->model;
    const int d = m->hp.n_embd, nb = c->p.n_batch_max;
    assert(m->norm == NORM_RMS);
    if (!toks || !out || n <= 0) return err_setf(err, UH_EINVAL, "embed: no tokens");
    if (seq < 0 || seq >= c->p.n_seq_max)
        return err_setf(err, UH_EINVAL, "embed: sequence id %d (n_seq_max %d)", seq,
                        c->p.n_seq_max);
    if (n > c->p.n_ctx)
        return err_setf(err, UH_ECTXFULL, "embed: %d tokens do not fit n_ctx %d", n, c->p.n_ctx);
    int rc = UH_OK;
    double *acc = calloc((size_t)d, sizeof *acc);
    int32_t *pos = malloc((size_t)nb * sizeof *pos), *sid = malloc((size_t)nb * sizeof *sid);
    int8_t *want = calloc((size_t)nb, sizeof *want); /* all 0: no logits are computed */
    if (!acc || !pos || !sid || !want) {
        rc = err_setf(err, UH_ENOMEM, "embed: out of memory");
        goto out;
    }
    for (int i = 0; i < nb; i++) sid[i] = seq;
    uh_kv_truncate(c, seq, 0);
    for (int t0 = 0; t0 < n; t0 += nb) {
        const int k = n - t0 < nb ? n - t0 : nb;
        for (int i = 0; i < k; i++) pos[i] = t0 + i;
        uh_batch b = {.n_tokens = k, .tokens = toks + t0, .pos = pos, .seq_id = sid,
                      .want_output = want};
        if ((rc = uh_eval(c, &b, err))) goto out;
        for (int i = 0; i < k; i++)
            add_normed(acc, c->x + (size_t)i * d, m->output_norm->data, d, m->hp.norm_eps);
    }
    double ss = 0;
    for (int i = 0; i < d; i++) {
        acc[i] /= n;
        ss += acc[i] * acc[i];
    }
    /* a zero mean (possible only for degenerate weights) stays zero rather than NaN */
    const double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
    for (int i = 0; i < d; i++) out[i] = (float)(acc[i] * inv);
out:
    free(acc);
    free(pos);
    free(sid);
    free(want);
    return rc;
}
