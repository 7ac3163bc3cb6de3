/* chat.c - conversations to prompts through chat templates (see chat.h). */
#include "engine/chat.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/model.h"
#include "text/template.h"
#include "text/vocab.h"

const char *chat_model_template(const uh_model *m, size_t *len)
{
    gguf_str s;
    if (gguf_get_str(m->file, "tokenizer.chat_template", &s, NULL) != 0 || s.len == 0) return NULL;
    *len = (size_t)s.len;
    return s.ptr;
}

static int vocab_has_text(const char *text, void *ud)
{
    const vocab *v = ud;
    size_t want = strlen(text);
    for (int i = 0; i < vocab_n_tokens(v); i++) {
        size_t len;
        const char *t = vocab_token_text(v, i, &len);
        if (t && len == want && memcmp(t, text, len) == 0) return 1;
    }
    return 0;
}

/* The text of a special token as a JSON string value, "" if the model has none. */
static cJSON *token_text_json(const vocab *v, uh_token t)
{
    size_t len = 0;
    const char *s = t >= 0 ? vocab_token_text(v, t, &len) : NULL;
    char *z = malloc(len + 1);
    if (!z) return NULL;
    if (s) memcpy(z, s, len);
    z[len] = 0;
    cJSON *j = cJSON_CreateString(z);
    free(z);
    return j;
}

int chat_render(const uh_model *m, const char *tmpl_src, size_t tmpl_len, const cJSON *messages,
                int add_generation_prompt, const cJSON *extra, char **out, uh_err *err)
{
    *out = NULL;
    if (!tmpl_src) tmpl_src = chat_model_template(m, &tmpl_len);
    if (!tmpl_src) {
        tmpl_src = tmpl_builtin(tmpl_guess_builtin(vocab_has_text, m->vocab));
        tmpl_len = tmpl_src ? strlen(tmpl_src) : 0;
    }
    if (!tmpl_src) return err_setf(err, UH_EUNSUPPORTED, "chat: no chat template available");
    cJSON *vars = extra ? cJSON_Duplicate(extra, 1) : cJSON_CreateObject();
    if (!vars) return err_setf(err, UH_ENOMEM, "chat: out of memory");
    cJSON *msgs = cJSON_Duplicate(messages, 1);
    cJSON *bos = token_text_json(m->vocab, vocab_bos(m->vocab));
    cJSON *eos = token_text_json(m->vocab, vocab_eos(m->vocab));
    int rc = UH_ENOMEM;
    if (msgs && bos && eos) {
        cJSON_DeleteItemFromObject(vars, "messages");
        cJSON_AddItemToObject(vars, "messages", msgs);
        msgs = NULL;
        if (!cJSON_GetObjectItem(vars, "bos_token")) {
            cJSON_AddItemToObject(vars, "bos_token", bos);
            bos = NULL;
        }
        if (!cJSON_GetObjectItem(vars, "eos_token")) {
            cJSON_AddItemToObject(vars, "eos_token", eos);
            eos = NULL;
        }
        cJSON_DeleteItemFromObject(vars, "add_generation_prompt");
        cJSON_AddBoolToObject(vars, "add_generation_prompt", add_generation_prompt);
        size_t len;
        rc = tmpl_render(tmpl_src, tmpl_len, vars, out, &len, err);
    } else {
        err_setf(err, UH_ENOMEM, "chat: out of memory");
    }
    cJSON_Delete(msgs);
    cJSON_Delete(bos);
    cJSON_Delete(eos);
    cJSON_Delete(vars);
    return rc;
}

int chat_tokenize(const uh_model *m, const char *text, uh_token **toks, int *n, uh_err *err)
{
    *toks = NULL;
    *n = 0;
    const vocab *v = m->vocab;
    size_t len = strlen(text);
    int add_bos = vocab_add_bos(v);
    uh_token bos = vocab_bos(v);
    if (add_bos && bos >= 0) {
        size_t bl;
        const char *bt = vocab_token_text(v, bos, &bl);
        if (bt && bl > 0 && len >= bl && memcmp(text, bt, bl) == 0) add_bos = 0;
    }
    int cap = (int)(len + 8 > (1u << 28) ? (1u << 28) : len + 8);
    uh_token *t = malloc((size_t)cap * sizeof *t);
    if (!t) return err_setf(err, UH_ENOMEM, "chat: out of memory");
    int rc = vocab_tokenize(v, text, len, add_bos, 1, t, cap, n, err);
    if (rc) {
        free(t);
        return rc;
    }
    *toks = t;
    return UH_OK;
}
