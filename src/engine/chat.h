/* chat.h - a conversation (a JSON array of {role, content} messages) to model tokens: the
 * model's chat template (tokenizer.chat_template), or an override, or a built-in format guessed
 * from the vocabulary for models that ship none. */
#ifndef UH_ENGINE_CHAT_H
#define UH_ENGINE_CHAT_H

#include <stddef.h>

#include "unhosted.h"

typedef struct cJSON cJSON;

/* The model's own template source (not NUL-terminated), or NULL if it has none. */
const char *chat_model_template(const uh_model *m, size_t *len);

/* Renders messages with: tmpl_src if non-NULL (an override), else the model's template, else the
 * built-in format that fits the vocabulary. extra (may be NULL) adds variables (tools, ...).
 * *out is malloc'd, NUL-terminated, owned by the caller. */
int chat_render(const uh_model *m, const char *tmpl_src, size_t tmpl_len, const cJSON *messages,
                int add_generation_prompt, const cJSON *extra, char **out, uh_err *err);

/* Tokenizes rendered chat text: special-token text is parsed as special tokens, and BOS is
 * added only if the model wants it and the template did not already write it. *toks is
 * malloc'd, owned by the caller. */
int chat_tokenize(const uh_model *m, const char *text, uh_token **toks, int *n, uh_err *err);

#endif
