/* template.c - chat templates: the render entry point (lex, parse, evaluate under caps), the
 * built-in fallback templates and the guess of which one fits a vocabulary.
 *
 * The built-ins follow each model family's published prompt layout:
 *   chatml  <|im_start|>ROLE\nTEXT<|im_end|>\n ... <|im_start|>assistant\n
 *   llama2  <s>[INST] <<SYS>>\nSYS\n<</SYS>>\n\nUSER [/INST] ANSWER </s><s>[INST] USER [/INST]
 *   llama3  <|begin_of_text|><|start_header_id|>ROLE<|end_header_id|>\n\nTEXT<|eot_id|> ...
 *   mistral <s>[INST] SYS\n\nUSER [/INST] ANSWER</s>[INST] USER [/INST]
 *   gemma   <bos><start_of_turn>user\nSYS\n\nUSER<end_of_turn>\n<start_of_turn>model\n ...
 *   phi3    <|system|>\nSYS<|end|>\n<|user|>\nUSER<|end|>\n<|assistant|>\n ... */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/err.h"
#include "text/jinja.h"
#include "text/template.h"

const tmpl_limits tmpl_default_limits = {
    .max_src = 1 << 20,
    .max_out = 16 << 20,
    .max_mem = 256 << 20,
    .max_steps = 10000000,
    .max_depth = 1000,
    .max_macro_depth = 64,
};

int tmpl_render_ex(const char *src, size_t src_len, const cJSON *vars, const tmpl_limits *lim,
                   char **out, size_t *out_len, uh_err *err)
{
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!lim) lim = &tmpl_default_limits;
    if (!src && src_len) return err_setf(err, UH_EINVAL, "template source is NULL");
    if (src_len > lim->max_src)
        return err_setf(err, UH_ELIMIT, "template is %zu bytes, more than the %zu allowed", src_len,
                        lim->max_src);
    if (vars && !cJSON_IsObject(vars))
        return err_setf(err, UH_EINVAL, "template variables must be a JSON object");
    uh_err local;
    memset(&local, 0, sizeof local);
    jctx *c = calloc(1, sizeof *c); /* jmp_buf is large; keep it off the caller's stack */
    if (!c) return err_setf(err, UH_ENOMEM, "out of memory");
    jarena_init(&c->arena, lim->max_mem);
    c->err = &local;
    c->max_steps = lim->max_steps;
    c->max_depth = lim->max_depth;
    c->max_macro_depth = lim->max_macro_depth;
    c->max_out = lim->max_out;
    int rc;
    if (setjmp(c->jb)) {
        rc = local.code ? local.code : UH_EINVAL;
        goto done;
    }
    jtok *toks;
    size_t n_toks, n_body;
    jinja_lex(c, src ? src : "", src_len, &toks, &n_toks);
    const jnode **body = jinja_parse(c, toks, n_toks, &n_body);
    c->globals = jalloc(c, sizeof *c->globals);
    if (vars)
        for (const cJSON *e = vars->child; e; e = e->next)
            jdict_set(c, &c->globals->vars, jv_str_copy(c, e->string, strlen(e->string)),
                      jv_from_json(c, e));
    jscope *root = jalloc(c, sizeof *root);
    root->parent = c->globals;
    jbuf buf = {0};
    c->out = &buf;
    jinja_exec_body(c, root, body, n_body);
    char *res = malloc(buf.n + 1);
    if (!res) {
        rc = err_setf(&local, UH_ENOMEM, "out of memory");
        goto done;
    }
    if (buf.n) memcpy(res, buf.p, buf.n);
    res[buf.n] = 0;
    *out = res;
    if (out_len) *out_len = buf.n;
    rc = 0;
done:
    jarena_fini(&c->arena);
    free(c);
    if (rc && err) *err = local;
    return rc;
}

int tmpl_render(const char *src, size_t src_len, const cJSON *vars, char **out, size_t *out_len,
                uh_err *err)
{
    return tmpl_render_ex(src, src_len, vars, &tmpl_default_limits, out, out_len, err);
}

/* ---- built-in templates ---- */

static const char tmpl_chatml[] =
    "{% for m in messages %}"
    "{{ '<|im_start|>' ~ m.role ~ '\\n' ~ m.content ~ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

static const char tmpl_llama2[] =
    "{% set sys = messages[0].content if messages and messages[0].role == 'system' else none %}"
    "{% for m in messages if m.role != 'system' %}"
    "{% if m.role == 'user' %}"
    "{{ bos_token ~ '[INST] ' }}"
    "{% if loop.first and sys is not none %}{{ '<<SYS>>\\n' ~ sys ~ '\\n<</SYS>>\\n\\n' }}{% endif "
    "%}"
    "{{ m.content | trim ~ ' [/INST]' }}"
    "{% else %}{{ ' ' ~ m.content | trim ~ ' ' ~ eos_token }}{% endif %}"
    "{% endfor %}";

static const char tmpl_llama3[] =
    "{{ bos_token }}"
    "{% for m in messages %}"
    "{{ '<|start_header_id|>' ~ m.role ~ '<|end_header_id|>\\n\\n' ~ m.content | trim ~ "
    "'<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}";

static const char tmpl_mistral[] =
    "{% set sys = messages[0].content if messages and messages[0].role == 'system' else none %}"
    "{{ bos_token }}"
    "{% for m in messages if m.role != 'system' %}"
    "{% if m.role == 'user' %}"
    "{{ '[INST] ' }}{% if loop.first and sys is not none %}{{ sys ~ '\\n\\n' }}{% endif %}"
    "{{ m.content ~ ' [/INST]' }}"
    "{% else %}{{ ' ' ~ m.content ~ eos_token }}{% endif %}"
    "{% endfor %}";

static const char tmpl_gemma[] =
    "{% set sys = messages[0].content if messages and messages[0].role == 'system' else none %}"
    "{{ bos_token }}"
    "{% for m in messages if m.role != 'system' %}"
    "{{ '<start_of_turn>' ~ ('model' if m.role == 'assistant' else m.role) ~ '\\n' }}"
    "{% if loop.first and sys is not none %}{{ sys | trim ~ '\\n\\n' }}{% endif %}"
    "{{ m.content | trim ~ '<end_of_turn>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}";

static const char tmpl_phi3[] =
    "{% for m in messages %}"
    "{{ '<|' ~ m.role ~ '|>\\n' ~ m.content ~ '<|end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}";

static const struct {
    const char *name, *src;
} builtins[] = {
    {"chatml", tmpl_chatml},   {"llama2", tmpl_llama2}, {"llama3", tmpl_llama3},
    {"mistral", tmpl_mistral}, {"gemma", tmpl_gemma},   {"phi3", tmpl_phi3},
};

const char *tmpl_builtin(const char *name)
{
    for (size_t i = 0; name && i < sizeof builtins / sizeof builtins[0]; i++)
        if (!strcmp(builtins[i].name, name)) return builtins[i].src;
    return NULL;
}

const char *tmpl_guess_builtin(int (*vocab_has)(const char *text, void *ud), void *ud)
{
    static const struct {
        const char *token, *also, *name;
    } marks[] = {
        {"<|im_start|>", NULL, "chatml"},   {"<|start_header_id|>", NULL, "llama3"},
        {"<start_of_turn>", NULL, "gemma"}, {"<|user|>", "<|end|>", "phi3"},
        {"[INST]", NULL, "mistral"},
    };
    for (size_t i = 0; vocab_has && i < sizeof marks / sizeof marks[0]; i++)
        if (vocab_has(marks[i].token, ud) && (!marks[i].also || vocab_has(marks[i].also, ud)))
            return marks[i].name;
    return "chatml";
}
