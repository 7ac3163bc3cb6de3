/* local.c - the local executor (local.h): request to prompt tokens, submission to the model's
 * scheduler, scheduler events to exec events and metrics. */
#include "exec/local.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "engine/chat.h"

struct exec_run {
    atomic_int refs; /* the caller's and the scheduler's (until DONE) */
    exec_models *mm;
    exec_model *m; /* one request in flight until DONE */
    const uh_model *um;
    sched_handle *h;
    exec_sink sink;
    void *ud;
    int pieces;    /* logprobs asked: send each token's bytes and its alternatives' */
    double load_s; /* resolving, loading and prompt building */
    double t_submit, t_last;
};

static int n_vocab_of(const uh_model *um)
{
    uh_model_info info;
    uh_model_get_info(um, &info);
    return info.n_vocab;
}

static void run_unref(exec_run *run)
{
    if (atomic_fetch_sub(&run->refs, 1) != 1) return;
    sched_release(run->h);
    free(run);
}

/* ---- prompt ---- */

static int add_message(cJSON *msgs, const char *role, const char *content)
{
    cJSON *m = cJSON_CreateObject();
    if (!m) return -1;
    cJSON_AddItemToArray(msgs, m);
    return cJSON_AddStringToObject(m, "role", role) &&
                   cJSON_AddStringToObject(m, "content", content)
               ? 0
               : -1;
}

int exec_build_prompt(const exec_request *r, const uh_model *um, int n_ctx, uh_token **toks, int *n,
                      exec_fail *f)
{
    size_t tl;
    int rc;
    uh_err err = {0};
    *toks = NULL;
    *n = 0;
    const int chat = r->prompt == EXEC_PROMPT_MESSAGES ||
                     (r->prompt == EXEC_PROMPT_TEMPLATED && chat_model_template(um, &tl));
    if (r->prompt == EXEC_PROMPT_TOKENS) {
        if (r->n_tokens > n_ctx)
            return exec_fail_set(f, UH_ELIMIT, EXEC_FIELD_PROMPT,
                                 "the prompt is %d tokens, more than the context of %d",
                                 r->n_tokens, n_ctx);
        const int n_vocab = n_vocab_of(um);
        for (int i = 0; i < r->n_tokens; i++)
            if (r->tokens[i] < 0 || r->tokens[i] >= n_vocab)
                return exec_fail_set(f, UH_EINVAL, EXEC_FIELD_PROMPT,
                                     "token %d of the prompt is not in the vocabulary", i);
        *toks = malloc((size_t)r->n_tokens * sizeof **toks);
        if (!*toks) return exec_fail_set(f, UH_ENOMEM, EXEC_FIELD_NONE, "out of memory");
        memcpy(*toks, r->tokens, (size_t)r->n_tokens * sizeof **toks);
        *n = r->n_tokens;
        return 0;
    }
    if (chat) {
        cJSON *msgs = cJSON_CreateArray();
        char *rendered = NULL;
        rc = msgs ? 0 : -1;
        if (r->prompt == EXEC_PROMPT_TEMPLATED) {
            if (rc == 0 && r->system && r->system[0]) rc = add_message(msgs, "system", r->system);
            if (rc == 0) rc = add_message(msgs, "user", r->text ? r->text : "");
        } else {
            for (int i = 0; rc == 0 && i < r->n_messages; i++)
                rc = add_message(msgs, r->messages[i].role, r->messages[i].content);
        }
        if (rc != 0)
            rc = err_setf(&err, UH_ENOMEM, "out of memory");
        else if ((rc = chat_render(um, NULL, 0, msgs, 1, NULL, &rendered, &err)) == 0)
            rc = chat_tokenize(um, rendered, toks, n, &err);
        free(rendered);
        cJSON_Delete(msgs);
        if (rc == 0 && *n > n_ctx)
            rc = err_setf(&err, UH_ELIMIT, "the prompt is %d tokens, more than the context of %d",
                          *n, n_ctx);
    } else {
        *toks = malloc(((size_t)n_ctx + 1) * sizeof **toks);
        if (!*toks) return exec_fail_set(f, UH_ENOMEM, EXEC_FIELD_NONE, "out of memory");
        rc = uh_tokenize(um, r->text ? r->text : "", r->text_len, 1, 0, *toks, n_ctx + 1, n, &err);
        if (rc == 0 && *n > n_ctx) rc = UH_ELIMIT;
        if (rc == UH_ELIMIT)
            err_setf(&err, UH_ELIMIT, "the prompt is longer than the context of %d tokens", n_ctx);
    }
    if (rc == 0 && *n == 0)
        rc = err_setf(&err, UH_EINVAL, "the prompt is empty and the model has no BOS token");
    if (rc != 0) {
        free(*toks);
        *toks = NULL;
        *n = 0;
        if (rc == UH_ECTXFULL) rc = UH_ELIMIT;
        if (rc != UH_ENOMEM && rc != UH_ELIMIT) rc = UH_EINVAL;
        return exec_fail_set(f, rc, rc == UH_ENOMEM ? EXEC_FIELD_NONE : EXEC_FIELD_PROMPT, "%s",
                             err.msg);
    }
    return 0;
}

/* ---- events ---- */

static enum exec_finish finish_of(enum sched_finish f)
{
    switch (f) {
    case SCHED_FINISH_STOP:
        return EXEC_FINISH_STOP;
    case SCHED_FINISH_LENGTH:
        return EXEC_FINISH_LENGTH;
    case SCHED_FINISH_CANCELLED:
        return EXEC_FINISH_CANCELLED;
    default:
        return EXEC_FINISH_ERROR;
    }
}

/* The bytes of token t into buf[EXEC_MAX_PIECE]; returns their count. */
static size_t piece_of(const uh_model *um, uh_token t, char *buf)
{
    int n = uh_token_to_piece(um, t, buf, EXEC_MAX_PIECE);
    if (n < 0) return 0;
    return n > EXEC_MAX_PIECE ? EXEC_MAX_PIECE : (size_t)n;
}

static void on_sched_event(void *user, const sched_event *sev)
{
    exec_run *run = user;
    exec_event ev;
    memset(&ev, 0, sizeof ev);
    ev.text = sev->text;
    ev.text_len = sev->text_len;
    ev.error = "";
    const double now = clock_mono_s();
    if (sev->type == SCHED_EV_TOKEN) {
        char piece[EXEC_MAX_PIECE];
        char tops[EXEC_TOP_MAX][EXEC_MAX_PIECE];
        exec_alt alts[EXEC_TOP_MAX];
        ev.type = EXEC_EV_TOKEN;
        ev.token = sev->token;
        ev.index = sev->index;
        if (run->pieces) {
            ev.piece = piece;
            ev.piece_len = piece_of(run->um, sev->token, piece);
            ev.logprob = sev->logprob;
            for (int i = 0; i < sev->n_top && i < EXEC_TOP_MAX; i++) {
                alts[i].id = sev->top[i].id;
                alts[i].logprob = sev->top[i].logprob;
                alts[i].piece = tops[i];
                alts[i].piece_len = piece_of(run->um, sev->top[i].id, tops[i]);
                ev.n_top = i + 1;
            }
            ev.top = alts;
        }
        if (run->t_last == 0)
            exec_model_observe_ttft(run->m, now - run->t_submit);
        else
            exec_model_observe_token_gap(run->m, now - run->t_last);
        run->t_last = now;
        run->sink(run->ud, &ev);
        return;
    }
    ev.type = EXEC_EV_DONE;
    ev.finish = finish_of(sev->finish);
    ev.code = ev.finish == EXEC_FINISH_ERROR ? UH_EIO : 0;
    ev.error = sev->error ? sev->error : "";
    ev.usage.n_prompt = sev->usage.n_prompt;
    ev.usage.n_cached = sev->usage.n_cached;
    ev.usage.n_completion = sev->usage.n_completion;
    ev.timings.load = run->load_s;
    ev.timings.queued = sev->timings.queued;
    ev.timings.prefill = sev->timings.prefill;
    ev.timings.generation = sev->timings.generation;
    ev.timings.total = sev->timings.total;
    exec_model_observe_done(run->m, sev->finish, &sev->usage);
    run->sink(run->ud, &ev);
    exec_models_done(run->m);
    run_unref(run); /* the scheduler's share */
}

/* ---- start ---- */

int exec_local_start(exec_models *mm, const exec_request *r, exec_sink sink, void *ud,
                     exec_run **out, char fp_out[EXEC_FP_LEN], exec_fail *f)
{
    const double t0 = clock_mono_s();
    uh_err err = {0};
    exec_model *m = NULL;
    uh_token *toks = NULL;
    int n_toks = 0;
    *out = NULL;
    if (fp_out) fp_out[0] = 0;
    int rc = exec_request_check(r, f);
    if (rc) return rc;
    if (!sink) return exec_fail_set(f, UH_EINVAL, EXEC_FIELD_NONE, "no event sink");
    rc = exec_models_acquire(mm, r->model, &m, &err);
    if (rc != 0)
        return exec_fail_set(f, rc, rc == UH_ENOMEM ? EXEC_FIELD_NONE : EXEC_FIELD_MODEL, "%s",
                             err.msg);
    const uh_model *um = exec_model_engine(m);
    const char *fp = exec_model_fingerprint(m);
    if (fp_out) snprintf(fp_out, EXEC_FP_LEN, "%s", fp);
    if (r->n_resume > 0 && r->expect_fp && r->expect_fp[0] && strcmp(r->expect_fp, fp) != 0) {
        rc = exec_fail_set(f, UH_ECONFLICT, EXEC_FIELD_NONE,
                           "the model %s here is another file than the one that began the answer",
                           exec_model_name(m));
        goto fail;
    }
    if ((rc = exec_build_prompt(r, um, exec_model_n_ctx(m), &toks, &n_toks, f)) != 0) goto fail;
    const int n_vocab = n_vocab_of(um);
    for (int i = 0; i < r->n_resume; i++)
        if (r->resume[i] >= n_vocab) {
            rc = exec_fail_set(f, UH_EINVAL, EXEC_FIELD_NONE,
                               "resume token %d is not in the vocabulary", i);
            goto fail;
        }
    exec_run *run = calloc(1, sizeof *run);
    if (!run) {
        rc = exec_fail_set(f, UH_ENOMEM, EXEC_FIELD_NONE, "out of memory");
        goto fail;
    }
    atomic_init(&run->refs, 2);
    run->mm = mm;
    run->m = m;
    run->um = um;
    run->sink = sink;
    run->ud = ud;
    run->pieces = r->logprobs;

    sched_request sr;
    memset(&sr, 0, sizeof sr);
    sr.tokens = toks;
    sr.n_tokens = n_toks;
    sr.sampler = r->sampler;
    sr.max_tokens = r->max_tokens > 0 ? r->max_tokens : 0;
    sr.stops = r->stops;
    sr.n_stops = r->n_stops;
    sr.logprobs = r->logprobs;
    sr.top_logprobs = r->logprobs ? r->top_logprobs : 0;
    if (sr.top_logprobs > SCHED_TOP_LOGPROBS_MAX) sr.top_logprobs = SCHED_TOP_LOGPROBS_MAX;
    sr.at_start = n_toks == 1 && toks[0] == uh_token_bos(um);
    sr.resume = r->resume;
    sr.n_resume = r->n_resume;
    sr.cb = on_sched_event;
    sr.user = run;
    run->t_submit = clock_mono_s();
    run->load_s = run->t_submit - t0;
    log_debug("exec_start", "model=%s prompt_tokens=%d resume=%d logprobs=%d", exec_model_name(m),
              n_toks, r->n_resume, r->logprobs);
    sched_handle *h = NULL;
    rc = sched_submit(exec_model_sched(m), &sr, &h, &err);
    free(toks);
    toks = NULL;
    if (rc != 0) {
        free(run); /* no event was or will be delivered */
        if (rc == UH_ELIMIT) {
            exec_model_observe_rejected(m);
            rc = exec_fail_set(f, UH_EBUSY, EXEC_FIELD_NONE,
                               "too many requests are waiting; retry later");
        } else if (rc == UH_ECTXFULL) {
            rc = exec_fail_set(f, UH_ELIMIT, EXEC_FIELD_PROMPT, "%s", err.msg);
        } else if (rc == UH_EINVAL) {
            rc = exec_fail_set(f, UH_EUNAVAIL, EXEC_FIELD_NONE, "the server is shutting down");
        } else {
            rc = exec_fail_set(f, rc, EXEC_FIELD_NONE, "%s", err.msg);
        }
        goto fail;
    }
    run->h = h;
    *out = run;
    return 0;
fail:
    free(toks);
    exec_models_done(m);
    return rc;
}

void exec_run_cancel(exec_run *run)
{
    if (run && run->h) sched_cancel(run->h);
}

void exec_run_release(exec_run *run)
{
    if (run) run_unref(run);
}
