/* session.h - one conversation on one context sequence, with its prompt cache, and no
 * scheduler: the plain single-sequence path. The program itself generates through the scheduler
 * (sched.h, also for the CLI's run and chat); the tests use a session as the reference that a
 * scheduled request must reproduce token for token.
 *
 * The session remembers which tokens its KV cache holds. Feeding the token sequence of the whole
 * conversation again evaluates only what follows the longest common prefix with the cache; the
 * rest is reused. Generation then samples from the last logits and appends each accepted token.
 *
 * Ownership: the session borrows the model and owns its context and sampler. */
#ifndef UH_ENGINE_SESSION_H
#define UH_ENGINE_SESSION_H

#include "unhosted.h"

typedef struct session session;

int session_new(const uh_model *m, const uh_ctx_params *cp, const uh_sampler_params *sp,
                session **out, uh_err *err);
void session_free(session *s);

/* Makes the cache hold exactly toks[0..n): keeps the common prefix with what it holds, drops the
 * rest, evaluates the new tail in batches. Afterwards the next token can be sampled. *n_reused
 * (may be NULL) receives how many tokens came from the cache. UH_ECTXFULL if n does not fit. */
int session_feed(session *s, const uh_token *toks, int n, int *n_reused, uh_err *err);

/* Samples the next token from the current logits (after a feed or an append). */
uh_token session_sample(session *s);

/* Appends a token (usually the one just sampled): evaluates it so the next can be sampled. */
int session_append(session *s, uh_token t, uh_err *err);

/* Tokens the cache holds. */
int session_n_tokens(const session *s);

#endif
