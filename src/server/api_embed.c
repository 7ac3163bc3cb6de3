/* api_embed.c - the embeddings endpoints (see api.h): OpenAI POST /v1/embeddings, Ollama
 * POST /api/embed and the older POST /api/embeddings.
 *
 * Wire formats (fields read; others are ignored):
 *   /v1/embeddings  model (string), input (a string, an array of strings, an array of token ids
 *                   or an array of arrays of token ids; 1 .. API_EMBED_MAX_INPUTS texts, none
 *                   empty), encoding_format ("float", the default, or "base64": the
 *                   little-endian float32 bytes in base64), dimensions (must equal the model's
 *                   n_embd: vectors are not shortened), user (ignored).
 *                   -> {object: "list", data: [{object: "embedding", index, embedding}], model,
 *                       usage: {prompt_tokens, total_tokens}}
 *   /api/embed      model, input (a string or an array of strings), truncate (default true:
 *                   a text longer than the context is cut to it; false: 400)
 *                   -> {model, embeddings: [[...]], total_duration, load_duration,
 *                       prompt_eval_count}
 *   /api/embeddings model, prompt (a string) -> {embedding: [...]}
 *
 * Every text is tokenized with the model's special tokens (BOS) and embedded on its own by
 * uh_embed (mean of the output-normed final hidden states, unit length), so an input's vector
 * does not depend on the other inputs of the request. A text longer than the model's context is
 * refused with 400 context_length_exceeded (OpenAI) unless truncated (Ollama). Embeddings run
 * on the model's embeddings context, one request at a time per model, beside its generation
 * scheduler. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "server/api_impl.h"
#include "server/oai_req.h"

enum embed_kind { EMBED_OPENAI = 0, EMBED_OLLAMA = 1, EMBED_OLLAMA_LEGACY = 2 };

typedef struct {
    const cJSON *item; /* a string, or an array of token ids */
    uh_token *toks;    /* filled once the model is known */
    int n_toks;
} embed_input;

/* Whether j is an array of integers (token ids); an empty array is not. */
static int is_id_array(const cJSON *j)
{
    if (!cJSON_IsArray(j) || !j->child) return 0;
    for (const cJSON *e = j->child; e; e = e->next)
        if (!cJSON_IsNumber(e) || e->valuedouble != (double)(int64_t)e->valuedouble) return 0;
    return 1;
}

/* The inputs of the request: in[0..*n) point into the JSON tree. 0, or an error message. */
static const char *collect_inputs(const cJSON *input, enum embed_kind kind, embed_input *in,
                                  int *n)
{
    *n = 0;
    if (cJSON_IsString(input)) {
        in[(*n)++].item = input;
        return NULL;
    }
    if (!cJSON_IsArray(input))
        return "input must be a string or an array of strings or token ids";
    if (!input->child) return "input must not be empty";
    if (kind == EMBED_OPENAI && is_id_array(input)) {
        in[(*n)++].item = input;
        return NULL;
    }
    for (const cJSON *e = input->child; e; e = e->next) {
        if (*n == API_EMBED_MAX_INPUTS) return "input has more than 256 entries";
        if (!cJSON_IsString(e) && !(kind == EMBED_OPENAI && is_id_array(e)))
            return kind == EMBED_OPENAI
                       ? "input entries must all be strings or all be arrays of token ids"
                       : "input entries must be strings";
        in[(*n)++].item = e;
    }
    return NULL;
}

/* Tokens of one input, at most n_ctx of them (n_ctx + 1 tells the caller it is too long).
 * 0, UH_ENOMEM, or UH_EINVAL with msg filled (a bad token id, an empty text). */
static int input_tokens(const uh_model *um, int n_ctx, embed_input *in, char *msg, size_t cap)
{
    uh_model_info info;
    uh_model_get_info(um, &info);
    in->toks = malloc((size_t)(n_ctx + 1) * sizeof *in->toks);
    if (!in->toks) return UH_ENOMEM;
    if (cJSON_IsArray(in->item)) {
        int n = 0;
        for (const cJSON *e = in->item->child; e; e = e->next) {
            if (e->valuedouble < 0 || e->valuedouble >= info.n_vocab) {
                snprintf(msg, cap, "token id %.0f is outside the vocabulary [0, %d)",
                         e->valuedouble, info.n_vocab);
                return UH_EINVAL;
            }
            if (n == n_ctx + 1) break;
            in->toks[n++] = (uh_token)e->valuedouble;
        }
        in->n_toks = n;
        return UH_OK;
    }
    const char *s = in->item->valuestring;
    if (!s[0]) {
        snprintf(msg, cap, "input must not be an empty string");
        return UH_EINVAL;
    }
    uh_err err = {0};
    int n = 0;
    int rc = uh_tokenize(um, s, strlen(s), 1, 0, in->toks, n_ctx + 1, &n, &err);
    if (rc == UH_ELIMIT) n = n_ctx + 1; /* only the count matters: it does not fit */
    else if (rc == UH_ENOMEM) return rc;
    else if (rc != 0) {
        snprintf(msg, cap, "%.200s", err.msg);
        return UH_EINVAL;
    }
    in->n_toks = n;
    return UH_OK;
}

/* A JSON array of v[0..n) with 9 significant digits, which read back as the same float32
 * values (cJSON's own number printing may round to 15 digits within a tolerance, and float32
 * needs none of its 17). NULL when out of memory. */
static cJSON *float_array(const float *v, int n)
{
    char *s = malloc((size_t)n * 18 + 3), *w = s;
    if (!s) return NULL;
    *w++ = '[';
    for (int i = 0; i < n; i++)
        w += sprintf(w, i ? ",%.9g" : "%.9g", (double)v[i]);
    *w++ = ']';
    *w = 0;
    cJSON *j = cJSON_CreateRaw(s);
    free(s);
    return j;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of the little-endian float32 bytes of v[0..n). NULL when out of memory. */
static cJSON *base64_floats(const float *v, int n)
{
    const size_t len = (size_t)n * 4, out_len = (len + 2) / 3 * 4;
    unsigned char *bytes = malloc(len);
    char *s = malloc(out_len + 1);
    cJSON *j = NULL;
    if (!bytes || !s) goto out;
    for (int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int k = 0; k < 4; k++) bytes[(size_t)i * 4 + k] = (unsigned char)(u >> (8 * k));
    }
    size_t w = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t t = (uint32_t)bytes[i] << 16;
        if (i + 1 < len) t |= (uint32_t)bytes[i + 1] << 8;
        if (i + 2 < len) t |= bytes[i + 2];
        s[w++] = b64_alphabet[(t >> 18) & 63];
        s[w++] = b64_alphabet[(t >> 12) & 63];
        s[w++] = i + 1 < len ? b64_alphabet[(t >> 6) & 63] : '=';
        s[w++] = i + 2 < len ? b64_alphabet[t & 63] : '=';
    }
    s[w] = 0;
    j = cJSON_CreateString(s);
out:
    free(bytes);
    free(s);
    return j;
}

static http_response *embed(const http_request *req, api_server *api, enum embed_kind kind)
{
    const cJSON *j = req->json;
    const char *input_param = kind == EMBED_OLLAMA_LEGACY ? "prompt" : "input";
    embed_input *in = NULL;
    float *vecs = NULL;
    int n_in = 0, base64 = 0;
    api_model *m = NULL;
    http_response *resp = NULL;
    char msg[256];

    if (!cJSON_IsObject(j))
        return api_error(req, 400, "the request body must be a JSON object", NULL, NULL);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (!cJSON_IsString(model) || !model->valuestring[0] ||
        strlen(model->valuestring) > OAI_MAX_MODEL_LEN)
        return api_error(req, 400, "model is required (a string)", "model", NULL);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "encoding_format");
    if (kind == EMBED_OPENAI && fmt && !cJSON_IsNull(fmt)) {
        if (!cJSON_IsString(fmt) ||
            (strcmp(fmt->valuestring, "float") && strcmp(fmt->valuestring, "base64")))
            return api_error(req, 400, "encoding_format must be \"float\" or \"base64\"",
                             "encoding_format", NULL);
        base64 = !strcmp(fmt->valuestring, "base64");
    }
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(j, "dimensions");
    if (dims && !cJSON_IsNull(dims) &&
        (!cJSON_IsNumber(dims) || dims->valuedouble != (double)(int)dims->valuedouble ||
         dims->valuedouble < 1))
        return api_error(req, 400, "dimensions must be a positive integer", "dimensions", NULL);
    const cJSON *trunc = cJSON_GetObjectItemCaseSensitive(j, "truncate");
    const int truncate = kind != EMBED_OPENAI && !cJSON_IsFalse(trunc);

    in = calloc(API_EMBED_MAX_INPUTS, sizeof *in);
    if (!in) return NULL;
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(j, input_param);
    const char *bad = kind == EMBED_OLLAMA_LEGACY && !cJSON_IsString(input)
                          ? "prompt must be a string"
                          : collect_inputs(input, kind, in, &n_in);
    if (!input || cJSON_IsNull(input)) bad = kind == EMBED_OLLAMA_LEGACY
                                                 ? "prompt is required"
                                                 : "input is required";
    if (bad) {
        resp = api_error(req, 400, bad, input_param, NULL);
        goto out;
    }

    double t0 = clock_mono_s();
    uh_err err = {0};
    int rc = api_models_acquire(api->am, model->valuestring, &m, &err);
    if (rc != 0) {
        m = NULL;
        if (rc == UH_ENOTFOUND)
            resp = api_error(req, 404, err.msg, "model", "model_not_found");
        else if (rc == UH_ELIMIT)
            resp = api_error(req, 503, err.msg, "model", NULL);
        else
            resp = api_error(req, 500, err.msg, "model", NULL);
        goto out;
    }
    double load_s = clock_mono_s() - t0;
    const uh_model *um = api_model_engine(m);
    const int n_ctx = api_model_n_ctx(m);
    uh_model_info info;
    uh_model_get_info(um, &info);
    if (dims && cJSON_IsNumber(dims) && (int)dims->valuedouble != info.n_embd) {
        snprintf(msg, sizeof msg,
                 "dimensions %d is not supported: model '%.100s' embeds into %d dimensions",
                 (int)dims->valuedouble, model->valuestring, info.n_embd);
        resp = api_error(req, 400, msg, "dimensions", NULL);
        goto out;
    }
    long long n_prompt = 0;
    for (int i = 0; i < n_in; i++) {
        msg[0] = 0;
        rc = input_tokens(um, n_ctx, &in[i], msg, sizeof msg);
        if (rc == UH_ENOMEM) goto out;
        if (rc != 0) {
            resp = api_error(req, 400, msg, input_param, NULL);
            goto out;
        }
        if (in[i].n_toks > n_ctx) {
            if (truncate) {
                in[i].n_toks = n_ctx;
            } else {
                snprintf(msg, sizeof msg,
                         "input %d is longer than the model's context of %d tokens", i, n_ctx);
                resp = api_error(req, 400, msg, input_param, "context_length_exceeded");
                goto out;
            }
        }
        if (in[i].n_toks == 0) {
            resp = api_error(req, 400, "an input has no tokens", input_param, NULL);
            goto out;
        }
        n_prompt += in[i].n_toks;
    }

    vecs = malloc((size_t)n_in * (size_t)info.n_embd * sizeof *vecs);
    if (!vecs) goto out;
    double t1 = clock_mono_s();
    for (int i = 0; i < n_in; i++) {
        rc = api_model_embed(m, in[i].toks, in[i].n_toks, vecs + (size_t)i * info.n_embd, &err);
        if (rc == UH_ENOMEM) goto out;
        if (rc != 0) {
            resp = api_error(req, 500, err.msg, NULL, NULL);
            goto out;
        }
    }
    double eval_s = clock_mono_s() - t1;
    log_debug("serve_embed", "model=%s inputs=%d tokens=%lld seconds=%.3f", api_model_name(m),
              n_in, n_prompt, eval_s);

    cJSON *o = cJSON_CreateObject();
    if (kind == EMBED_OPENAI) {
        cJSON_AddStringToObject(o, "object", "list");
        cJSON *data = cJSON_AddArrayToObject(o, "data");
        for (int i = 0; i < n_in; i++) {
            const float *v = vecs + (size_t)i * info.n_embd;
            cJSON *e = cJSON_CreateObject();
            cJSON_AddItemToArray(data, e);
            cJSON_AddStringToObject(e, "object", "embedding");
            cJSON_AddNumberToObject(e, "index", i);
            cJSON_AddItemToObject(e, "embedding", base64 ? base64_floats(v, info.n_embd)
                                                         : float_array(v, info.n_embd));
        }
        cJSON_AddStringToObject(o, "model", model->valuestring);
        cJSON *u = cJSON_AddObjectToObject(o, "usage");
        cJSON_AddNumberToObject(u, "prompt_tokens", (double)n_prompt);
        cJSON_AddNumberToObject(u, "total_tokens", (double)n_prompt);
    } else if (kind == EMBED_OLLAMA) {
        cJSON_AddStringToObject(o, "model", model->valuestring);
        cJSON *es = cJSON_AddArrayToObject(o, "embeddings");
        for (int i = 0; i < n_in; i++)
            cJSON_AddItemToArray(
                es, float_array(vecs + (size_t)i * info.n_embd, info.n_embd));
        cJSON_AddNumberToObject(o, "total_duration", (double)(int64_t)((load_s + eval_s) * 1e9));
        cJSON_AddNumberToObject(o, "load_duration", (double)(int64_t)(load_s * 1e9));
        cJSON_AddNumberToObject(o, "prompt_eval_count", (double)n_prompt);
    } else {
        cJSON_AddItemToObject(o, "embedding", float_array(vecs, info.n_embd));
    }
    resp = api_json(200, o);
out:
    if (m) api_models_done(m);
    if (in)
        for (int i = 0; i < n_in; i++) free(in[i].toks);
    free(in);
    free(vecs);
    return resp;
}

http_response *api_embeddings(const http_request *req, void *ud)
{
    return embed(req, ud, EMBED_OPENAI);
}

http_response *api_ollama_embed(const http_request *req, void *ud)
{
    return embed(req, ud, EMBED_OLLAMA);
}

http_response *api_ollama_embeddings(const http_request *req, void *ud)
{
    return embed(req, ud, EMBED_OLLAMA_LEGACY);
}
