/* session.c - a conversation with prompt caching (see session.h). */
#include "engine/session.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/ctx.h"
#include "engine/model.h"

struct session {
    uh_ctx *ctx;
    uh_sampler *sampler;
    uh_token *toks; /* what the cache holds, [n_ctx] */
    int n_toks;
    int n_ctx;
    const float *logits; /* of the last evaluated token, NULL when none */
    int32_t *pos;        /* [n_batch] scratch */
};

int session_new(const uh_model *m, const uh_ctx_params *cp, const uh_sampler_params *sp,
                session **out, uh_err *err)
{
    *out = NULL;
    session *s = calloc(1, sizeof *s);
    if (!s) return err_setf(err, UH_ENOMEM, "session: out of memory");
    int rc = uh_ctx_new(m, cp, &s->ctx, err);
    if (rc == 0) rc = uh_sampler_new(sp, m->hp.n_vocab, &s->sampler, err);
    if (rc == 0) {
        s->n_ctx = s->ctx->p.n_ctx;
        s->toks = malloc((size_t)s->n_ctx * sizeof *s->toks);
        s->pos = malloc((size_t)s->ctx->p.n_batch_max * sizeof *s->pos);
        if (!s->toks || !s->pos) rc = err_setf(err, UH_ENOMEM, "session: out of memory");
    }
    if (rc) {
        session_free(s);
        return rc;
    }
    *out = s;
    return UH_OK;
}

void session_free(session *s)
{
    if (!s) return;
    uh_ctx_free(s->ctx);
    uh_sampler_free(s->sampler);
    free(s->toks);
    free(s->pos);
    free(s);
}

int session_feed(session *s, const uh_token *toks, int n, int *n_reused, uh_err *err)
{
    if (n <= 0) return err_setf(err, UH_EINVAL, "session: nothing to evaluate");
    if (n > s->n_ctx)
        return err_setf(err, UH_ECTXFULL, "context full: %d tokens do not fit n_ctx %d", n,
                        s->n_ctx);
    int keep = 0;
    while (keep < s->n_toks && keep < n && s->toks[keep] == toks[keep]) keep++;
    /* the last token is always evaluated again when everything matches: its logits are needed */
    if (keep == n) keep = n - 1;
    uh_kv_truncate(s->ctx, 0, keep);
    s->n_toks = keep;
    s->logits = NULL;
    if (n_reused) *n_reused = keep;

    uh_sampler_reset(s->sampler);
    for (int i = 0; i < keep; i++) uh_sampler_accept(s->sampler, toks[i]);

    const int n_batch = s->ctx->p.n_batch_max;
    while (s->n_toks < n) {
        int m = n - s->n_toks < n_batch ? n - s->n_toks : n_batch;
        for (int i = 0; i < m; i++) s->pos[i] = s->n_toks + i;
        uh_batch b = {.n_tokens = m, .tokens = toks + s->n_toks, .pos = s->pos};
        int rc = uh_eval(s->ctx, &b, err);
        if (rc) {
            uh_kv_truncate(s->ctx, 0, s->n_toks);
            return rc;
        }
        for (int i = 0; i < m; i++) {
            s->toks[s->n_toks + i] = toks[s->n_toks + i];
            uh_sampler_accept(s->sampler, toks[s->n_toks + i]);
        }
        s->n_toks += m;
        s->logits = uh_get_logits(s->ctx, m - 1);
    }
    return UH_OK;
}

uh_token session_sample(session *s)
{
    if (!s->logits) return -1;
    uh_token t = uh_sampler_sample(s->sampler, s->logits);
    uh_sampler_accept(s->sampler, t);
    return t;
}

int session_append(session *s, uh_token t, uh_err *err)
{
    if (s->n_toks >= s->n_ctx)
        return err_setf(err, UH_ECTXFULL, "context full: n_ctx %d reached", s->n_ctx);
    int32_t p = s->n_toks;
    uh_batch b = {.n_tokens = 1, .tokens = &t, .pos = &p};
    int rc = uh_eval(s->ctx, &b, err);
    if (rc) return rc;
    s->toks[s->n_toks++] = t;
    s->logits = uh_get_logits(s->ctx, 0);
    return UH_OK;
}

int session_n_tokens(const session *s) { return s->n_toks; }
