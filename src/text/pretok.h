/* pretok.h - pre-tokenizers of byte-level BPE vocabularies (tokenizer.ggml.pre): the regular
 * expressions that cut text into the pieces BPE merges within.
 *
 * A pre-tokenizer is a sequence of one or more patterns. The first cuts the text; each further
 * pattern cuts every piece the previous ones made, on its own (anchors and lookarounds see only
 * that piece). Both what a pattern matches and the gaps between matches become pieces, in text
 * order, and no piece is ever empty - so the pieces always concatenate back to the text.
 * Invalid UTF-8 matches nothing and so ends up in gap pieces of its own.
 *
 * Ownership: a pretok owns its compiled patterns; it is immutable after pretok_new and may be
 * used from several threads at once, each with its own pretok_scratch. */
#ifndef UH_TEXT_PRETOK_H
#define UH_TEXT_PRETOK_H

#include <stddef.h>

#include "unhosted_base.h"

#define PRETOK_MAX_PATTERNS 6

typedef struct pretok pretok;

/* Compiles the pre-tokenizer called name[0..name_len) (NULL: "gpt-2"). A name it does not know
 * gives the GPT-2 patterns and a warning in the log. Errors: UH_ENOMEM, UH_EUNSUPPORTED when
 * this build's PCRE2 rejects a pattern (no Unicode support). */
int pretok_new(const char *name, size_t name_len, pretok **out, uh_err *err);
void pretok_free(pretok *p);

/* Canonical name of the patterns in use ("gpt-2", "llama-bpe", ...). */
const char *pretok_name(const pretok *p);
/* 1 when a whole piece that is already a token is taken as is, without merging (Llama 3). */
int pretok_ignores_merges(const pretok *p);

/* Per-call matching state (match data and JIT stack); init before use, fini after. */
typedef struct {
    void *match[PRETOK_MAX_PATTERNS]; /* pcre2_match_data_8 per pattern level */
    void *mctx;                       /* pcre2_match_context_8 */
    void *jit_stack;                  /* pcre2_jit_stack_8 */
} pretok_scratch;

int pretok_scratch_init(const pretok *p, pretok_scratch *s, uh_err *err);
void pretok_scratch_fini(pretok_scratch *s);

/* Called for every piece in order; a non-zero return stops the split and is returned. */
typedef int (*pretok_emit_fn)(void *ctx, const char *piece, size_t len);

/* Cuts text[0..len) into pieces and hands each to emit. Errors: what emit returned, or
 * UH_ELIMIT with a message when PCRE2 gives up matching (its resource limits). */
int pretok_split(const pretok *p, pretok_scratch *s, const char *text, size_t len,
                 pretok_emit_fn emit, void *ctx, uh_err *err);

#endif
