/* template.h - chat templates: a Jinja2 subset sufficient for the templates models ship in
 * tokenizer.chat_template, rendered the way Hugging Face's apply_chat_template renders them
 * (ImmutableSandboxedEnvironment, trim_blocks=True, lstrip_blocks=True, loopcontrols;
 * raise_exception() global; tojson without ASCII escaping).
 *
 * Variables come in as a cJSON object (messages, add_generation_prompt, bos_token, eos_token,
 * tools, and anything else the caller wants visible). Rendering is bounded: output size, loop
 * iterations, recursion depth and total steps are capped, so a hostile template ends with a
 * clear error instead of hanging or exhausting memory. */
#ifndef UH_TEXT_TEMPLATE_H
#define UH_TEXT_TEMPLATE_H

#include <stddef.h>

#include "unhosted_base.h"

typedef struct cJSON cJSON;

/* Renders src (src_len bytes) with the variables in vars (a JSON object; NULL = none). On
 * success *out is a malloc'd NUL-terminated string owned by the caller and *out_len its length.
 * Errors: UH_EFORMAT for a syntax error (message has line:column), UH_EINVAL for a runtime error
 * (undefined variable used in a way Jinja rejects, type error, raise_exception("...") - whose
 * message is passed through), UH_ELIMIT when a cap is hit, UH_ENOMEM. */
int tmpl_render(const char *src, size_t src_len, const cJSON *vars, char **out, size_t *out_len,
                uh_err *err);

/* Caps on one render; tmpl_render uses tmpl_default_limits. Hitting one is UH_ELIMIT. */
typedef struct {
    size_t max_src;        /* template source bytes (1 MiB) */
    size_t max_out;        /* output bytes, and any one string built on the way (16 MiB) */
    size_t max_mem;        /* bytes of working memory: tree, values, buffers (256 MiB) */
    unsigned long long max_steps; /* evaluation steps: nodes, loop iterations (10 million) */
    int max_depth;         /* nesting of expressions and blocks during evaluation (1000) */
    int max_macro_depth;   /* nested macro calls (64) */
} tmpl_limits;

extern const tmpl_limits tmpl_default_limits;

int tmpl_render_ex(const char *src, size_t src_len, const cJSON *vars, const tmpl_limits *lim,
                   char **out, size_t *out_len, uh_err *err);

/* Built-in templates for models that ship none, by name: "chatml", "llama2", "llama3",
 * "mistral", "gemma", "phi3". NULL for an unknown name. */
const char *tmpl_builtin(const char *name);

/* The built-in name that fits a model without a template, guessed from its vocabulary (tokens
 * such as <|im_start|>, <|start_header_id|>, [INST], <start_of_turn>, <|user|>); "chatml" if
 * nothing matches. vocab_has(token_text) answers whether the vocabulary contains a token. */
const char *tmpl_guess_builtin(int (*vocab_has)(const char *text, void *ud), void *ud);

#endif
