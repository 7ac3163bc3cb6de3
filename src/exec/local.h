/* local.h - the local executor: runs an exec_request (exec.h) on this node's models (models.h).
 * Every request that generates here, whether a client of this node's API or a peer asked for it,
 * takes this path: the model is resolved and loaded, the prompt built (chat template,
 * tokenizer), the fingerprint compared with a resumed answer's, and the request submitted to the
 * model's continuous-batching scheduler. The scheduler's events come back as exec events, with
 * the token's own bytes and its alternatives as text when logprobs were asked, and feed the
 * model's metrics (time to first token, gaps between tokens, finished requests).
 *
 * Errors (exec_fail: code, field, message; no event is ever delivered then):
 *   UH_ENOTFOUND  field MODEL   no such model here
 *   UH_EUNAVAIL   field MODEL   the memory budget cannot make room for it now
 *   UH_ELIMIT     field PROMPT  the prompt does not fit the context
 *   UH_EINVAL     field PROMPT  the prompt is empty, or the template or tokenizer refused it
 *   UH_ECONFLICT                resume tokens from another model file (expect_fp differs)
 *   UH_EBUSY                    too many requests wait for this model: retry later
 *   UH_EUNAVAIL                 the model's scheduler is shutting down
 *   UH_ENOMEM, or the loader's error
 *
 * Threading: any thread. The sink runs on the model's scheduler thread and must not block.
 * Ownership: a run handle is shared by the caller and the scheduler: the caller drops its share
 * with exec_run_release (after which it must not use the handle), the scheduler after the DONE
 * event. The request is copied: the caller may free it when exec_local_start returns. */
#ifndef UH_EXEC_LOCAL_H
#define UH_EXEC_LOCAL_H

#include "exec/exec.h"
#include "exec/models.h"

typedef struct exec_run exec_run;

/* Starts r. On success *out is the handle and fp_out (may be NULL) the fingerprint of the model
 * file that runs it; events follow on sink. */
int exec_local_start(exec_models *mm, const exec_request *r, exec_sink sink, void *ud,
                     exec_run **out, char fp_out[EXEC_FP_LEN], exec_fail *f);
/* Asks the run to stop: its DONE event (finish cancelled) follows. No effect after DONE. */
void exec_run_cancel(exec_run *run);
/* Drops the caller's share. Accepts NULL. */
void exec_run_release(exec_run *run);

/* The prompt of r as tokens for model um with a context of n_ctx: the chat template for
 * messages, the tokenizer with BOS for text. *toks is malloc'd. Errors as above (field PROMPT). */
int exec_build_prompt(const exec_request *r, const uh_model *um, int n_ctx, uh_token **toks, int *n,
                      exec_fail *f);

#endif
