/* oai_req.c - OpenAI / Ollama request parsing and validation (formats in oai_req.h). */
#include "server/oai_req.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unhosted.h"

/* ---- arena: every string of a request, freed at once ---- */

struct oai_arena {
    struct oai_arena *next;
    size_t used, cap;
    char data[];
};

static void *arena_alloc(oai_request *r, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    oai_arena *a = r->arena;
    if (!a || a->cap - a->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        oai_arena *b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = a;
        b->used = 0;
        b->cap = cap;
        r->arena = a = b;
    }
    void *p = a->data + a->used;
    a->used += n;
    return p;
}

void oai_request_free(oai_request *req)
{
    if (!req) return;
    oai_arena *a = req->arena;
    while (a) {
        oai_arena *n = a->next;
        free(a);
        a = n;
    }
    memset(req, 0, sizeof *req);
}

/* ---- errors ---- */

static int fail(oai_error *e, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(oai_error *e, const char *param, const char *fmt, ...)
{
    if (e) {
        e->status = 400;
        snprintf(e->param, sizeof e->param, "%s", param ? param : "");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof e->message, fmt, ap);
        va_end(ap);
    }
    return UH_EINVAL;
}

/* ---- JSON depth and parsing ---- */

int oai_json_depth(const char *s, size_t len, int max_depth)
{
    int depth = 0, max = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++; /* skip the escaped character (a \" does not end the string) */
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max) max = depth;
            if (max > max_depth) return max_depth + 1;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return max;
}

int oai_json_parse(const char *s, size_t len, int max_depth, cJSON **out, oai_error *e)
{
    *out = NULL;
    if (max_depth <= 0) max_depth = OAI_MAX_JSON_DEPTH;
    if (len == 0) {
        fail(e, NULL, "request body is empty; expected a JSON object");
        return UH_EFORMAT;
    }
    if (oai_json_depth(s, len, max_depth) > max_depth) {
        fail(e, NULL, "JSON nesting is deeper than %d levels", max_depth);
        return UH_ELIMIT;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (root && end) {
        while ((size_t)(end - s) < len && (*end == ' ' || *end == '\t' || *end == '\n' ||
                                           *end == '\r'))
            end++;
        if ((size_t)(end - s) < len) {
            cJSON_Delete(root);
            root = NULL;
        }
    }
    if (!root) {
        size_t off = end && end >= s ? (size_t)(end - s) : 0;
        fail(e, NULL, "request body is not valid JSON (near byte %zu)", off);
        return UH_EFORMAT;
    }
    *out = root;
    return UH_OK;
}

/* ---- typed field readers: absent or null means "not given" (return 0) ---- */

static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        int k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
        if (k < 0 || (k == 1 && c < 0xC2) || (k == 3 && c > 0xF4) || n - i <= (size_t)k) return 0;
        unsigned cp = k ? c & (0x3F >> k) : c;
        for (int j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += (size_t)k + 1;
    }
    return 1;
}

static const cJSON *field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

/* Copies a JSON string into the arena (checked for UTF-8 and max bytes). 1 = given, 0 = absent,
 * negative = error. */
static int get_str(oai_request *r, const cJSON *v, const char *param, size_t max,
                   const char **out, size_t *out_len, oai_error *e)
{
    if (!v) return 0;
    if (!cJSON_IsString(v)) return fail(e, param, "%s must be a string", param);
    size_t n = strlen(v->valuestring);
    if (n > max) return fail(e, param, "%s is too long (%zu bytes, limit %zu)", param, n, max);
    if (!utf8_valid((const unsigned char *)v->valuestring, n))
        return fail(e, param, "%s is not valid UTF-8", param);
    char *p = arena_alloc(r, n + 1);
    if (!p) return UH_ENOMEM;
    memcpy(p, v->valuestring, n + 1);
    *out = p;
    if (out_len) *out_len = n;
    return 1;
}

static int get_bool(const cJSON *v, const char *param, int *out, oai_error *e)
{
    if (!v) return 0;
    if (!cJSON_IsBool(v)) return fail(e, param, "%s must be a boolean", param);
    *out = cJSON_IsTrue(v);
    return 1;
}

static int get_int(const cJSON *v, const char *param, double lo, double hi, long long *out,
                   oai_error *e)
{
    if (!v) return 0;
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || !isfinite(d) || floor(d) != d)
        return fail(e, param, "%s must be an integer", param);
    if (d < lo || d > hi)
        return fail(e, param, "%s must be between %.0f and %.0f (got %.0f)", param, lo, hi, d);
    *out = (long long)d;
    return 1;
}

static int get_num(const cJSON *v, const char *param, double lo, double hi, float *out,
                   oai_error *e)
{
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return fail(e, param, "%s must be a number", param);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return fail(e, param, "%s must be between %g and %g (got %g)", param, lo, hi,
                    v->valuedouble);
    *out = (float)v->valuedouble;
    return 1;
}

/* Any integer in [-2^63, 2^64): negative seeds wrap, as a C cast of int64 would. */
static int get_seed(const cJSON *v, const char *param, uint64_t *out, oai_error *e)
{
    if (!v) return 0;
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || !isfinite(d) || floor(d) != d || d < -9223372036854775808.0 ||
        d >= 18446744073709551616.0)
        return fail(e, param, "%s must be a 64-bit integer", param);
    *out = d < 0 ? (uint64_t)(int64_t)d : (uint64_t)d;
    return 1;
}

static void note(oai_request *r, const char *name)
{
    size_t n = strlen(r->notes);
    snprintf(r->notes + n, sizeof r->notes - n, "%s%s", n ? "," : "", name);
}

/* ---- shared fields ---- */

static int parse_stop(oai_request *r, const cJSON *v, const char *param, int max_stop,
                      oai_error *e)
{
    char p[128];
    if (!v) return 0;
    if (cJSON_IsString(v)) {
        int rc = get_str(r, v, param, OAI_MAX_STOP_LEN, &r->stop[0], NULL, e);
        if (rc < 0) return rc;
        r->n_stop = r->stop[0][0] ? 1 : 0;
        return 0;
    }
    if (!cJSON_IsArray(v)) return fail(e, param, "%s must be a string or an array of strings", param);
    int n = cJSON_GetArraySize(v);
    if (n > max_stop) return fail(e, param, "%s has %d entries (limit %d)", param, n, max_stop);
    int i = 0;
    for (const cJSON *s = v->child; s; s = s->next, i++) {
        snprintf(p, sizeof p, "%s[%d]", param, i);
        if (!cJSON_IsString(s)) return fail(e, p, "%s must be a string", p);
        const char *str;
        int rc = get_str(r, s, p, OAI_MAX_STOP_LEN, &str, NULL, e);
        if (rc < 0) return rc;
        if (str[0]) r->stop[r->n_stop++] = str; /* an empty stop string would stop at once */
    }
    return 0;
}

static int check_max_tokens(const oai_limits *lim, long long n, const char *param, oai_error *e)
{
    if (lim->n_ctx > 0 && n > lim->n_ctx)
        return fail(e, param, "%s (%lld) exceeds the model's context length (%d)", param, n,
                    lim->n_ctx);
    return 0;
}

/* Content of one chat message: a string, null, or an array of text parts (joined by "\n"). */
static int parse_content(oai_request *r, const cJSON *v, const char *param, oai_message *m,
                         oai_error *e)
{
    char p[192];
    if (!v) {
        m->content = "";
        m->content_len = 0;
        return 0;
    }
    if (cJSON_IsString(v)) {
        int rc = get_str(r, v, param, OAI_MAX_PROMPT_BYTES, &m->content, &m->content_len, e);
        return rc < 0 ? rc : 0;
    }
    if (!cJSON_IsArray(v) || r->kind == OLLAMA_CHAT)
        return fail(e, param, "%s must be a string%s", param,
                    r->kind == OLLAMA_CHAT ? "" : " or an array of text parts");
    size_t total = 0;
    int i = 0;
    for (const cJSON *part = v->child; part; part = part->next, i++) {
        snprintf(p, sizeof p, "%s[%d]", param, i);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        if (!cJSON_IsObject(part) || !cJSON_IsString(type))
            return fail(e, p, "%s must be an object with a \"type\"", p);
        if (strcmp(type->valuestring, "text") != 0)
            return fail(e, p, "content part type \"%.32s\" is not supported (only \"text\")",
                        type->valuestring);
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(text)) return fail(e, p, "%s.text must be a string", p);
        total += strlen(text->valuestring) + 1;
        if (total > OAI_MAX_PROMPT_BYTES) return fail(e, param, "%s is too long", param);
    }
    char *buf = arena_alloc(r, total + 1);
    if (!buf) return UH_ENOMEM;
    size_t n = 0;
    for (const cJSON *part = v->child; part; part = part->next) {
        const char *t = cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring;
        size_t tl = strlen(t);
        if (n) buf[n++] = '\n';
        memcpy(buf + n, t, tl);
        n += tl;
    }
    buf[n] = 0;
    if (!utf8_valid((const unsigned char *)buf, n))
        return fail(e, param, "%s is not valid UTF-8", param);
    m->content = buf;
    m->content_len = n;
    return 0;
}

static int parse_messages(oai_request *r, const cJSON *root, const oai_limits *lim, oai_error *e)
{
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
    char p[128];
    const cJSON *v = field(root, "messages");
    if (!v) return fail(e, "messages", "messages is required");
    if (!cJSON_IsArray(v)) return fail(e, "messages", "messages must be an array");
    int n = cJSON_GetArraySize(v);
    int max = lim->max_messages > 0 ? lim->max_messages : OAI_MAX_MESSAGES;
    if (n == 0 && r->kind == OAI_CHAT)
        return fail(e, "messages", "messages must contain at least one message");
    if (n > max) return fail(e, "messages", "messages has %d entries (limit %d)", n, max);
    r->messages = arena_alloc(r, (size_t)(n ? n : 1) * sizeof *r->messages);
    if (!r->messages) return UH_ENOMEM;
    int i = 0;
    for (const cJSON *m = v->child; m; m = m->next, i++) {
        oai_message *om = &r->messages[i];
        if (!cJSON_IsObject(m)) {
            snprintf(p, sizeof p, "messages[%d]", i);
            return fail(e, p, "%s must be an object", p);
        }
        snprintf(p, sizeof p, "messages[%d].role", i);
        const cJSON *role = field(m, "role");
        if (!role) return fail(e, p, "%s is required", p);
        if (!cJSON_IsString(role)) return fail(e, p, "%s must be a string", p);
        om->role = NULL;
        for (size_t k = 0; k < sizeof roles / sizeof roles[0]; k++)
            if (!strcmp(role->valuestring, roles[k])) om->role = roles[k];
        if (!om->role || (r->kind == OLLAMA_CHAT && !strcmp(om->role, "developer")))
            return fail(e, p, "%s \"%.32s\" is not one of system, user, assistant, tool", p,
                        role->valuestring);
        snprintf(p, sizeof p, "messages[%d].content", i);
        const cJSON *content = field(m, "content");
        if (!content && (r->kind == OLLAMA_CHAT || !strcmp(om->role, "user") ||
                         !strcmp(om->role, "system") || !strcmp(om->role, "developer")))
            return fail(e, p, "%s is required", p);
        int rc = parse_content(r, content, p, om, e);
        if (rc < 0) return rc;
        const cJSON *images = field(m, "images");
        if (images && (!cJSON_IsArray(images) || cJSON_GetArraySize(images) > 0)) {
            snprintf(p, sizeof p, "messages[%d].images", i);
            return fail(e, p, "images are not supported");
        }
    }
    r->n_messages = n;
    return 0;
}

/* ---- OpenAI ---- */

static int parse_openai(oai_request *r, const cJSON *root, const oai_limits *lim, oai_error *e)
{
    int rc;
    long long ll;
    if (r->kind == OAI_CHAT) {
        if ((rc = parse_messages(r, root, lim, e)) < 0) return rc;
    } else {
        const cJSON *p = field(root, "prompt");
        if (!p) return fail(e, "prompt", "prompt is required");
        if (cJSON_IsArray(p)) {
            if (cJSON_GetArraySize(p) != 1 || !cJSON_IsString(p->child))
                return fail(e, "prompt", "prompt must be a string (or an array of one string)");
            p = p->child;
        }
        if ((rc = get_str(r, p, "prompt", OAI_MAX_PROMPT_BYTES, &r->prompt, &r->prompt_len, e)) < 0)
            return rc;
    }
    if ((rc = get_bool(field(root, "stream"), "stream", &r->stream, e)) < 0) return rc;
    const cJSON *so = field(root, "stream_options");
    if (so) {
        if (!cJSON_IsObject(so)) return fail(e, "stream_options", "stream_options must be an object");
        if (!r->stream)
            return fail(e, "stream_options", "stream_options is only allowed when stream is true");
        rc = get_bool(field(so, "include_usage"), "stream_options.include_usage",
                      &r->include_usage, e);
        if (rc < 0) return rc;
    }
    const char *mt_name = "max_tokens";
    const cJSON *mt = field(root, "max_tokens");
    if (r->kind == OAI_CHAT && field(root, "max_completion_tokens")) {
        mt_name = "max_completion_tokens";
        mt = field(root, mt_name);
    }
    if ((rc = get_int(mt, mt_name, 1, 1 << 30, &ll, e)) < 0) return rc;
    if (rc == 1) {
        if ((rc = check_max_tokens(lim, ll, mt_name, e)) < 0) return rc;
        r->max_tokens = (int)ll;
    }
    if ((rc = get_num(field(root, "temperature"), "temperature", 0, 2, &r->temperature, e)) < 0)
        return rc;
    r->has_temperature = rc;
    if ((rc = get_num(field(root, "top_p"), "top_p", 0, 1, &r->top_p, e)) < 0) return rc;
    r->has_top_p = rc;
    if ((rc = get_seed(field(root, "seed"), "seed", &r->seed, e)) < 0) return rc;
    r->has_seed = rc;
    if ((rc = parse_stop(r, field(root, "stop"), "stop", lim->max_stop > 0 ? lim->max_stop : OAI_MAX_STOP, e)) < 0)
        return rc;
    if ((rc = get_int(field(root, "n"), "n", 1, 1, &ll, e)) < 0) {
        if (cJSON_IsNumber(field(root, "n")))
            snprintf(e->message, sizeof e->message, "n must be 1 (one choice per request)");
        return rc;
    }
    if ((rc = get_num(field(root, "presence_penalty"), "presence_penalty", -2, 2,
                      &r->presence_penalty, e)) < 0)
        return rc;
    if ((rc = get_num(field(root, "frequency_penalty"), "frequency_penalty", -2, 2,
                      &r->frequency_penalty, e)) < 0)
        return rc;
    if (r->kind == OAI_CHAT) {
        if ((rc = get_bool(field(root, "logprobs"), "logprobs", &r->logprobs, e)) < 0) return rc;
        if ((rc = get_int(field(root, "top_logprobs"), "top_logprobs", 0, 20, &ll, e)) < 0) return rc;
        if (rc == 1) {
            if (!r->logprobs)
                return fail(e, "top_logprobs", "top_logprobs requires logprobs to be true");
            r->top_logprobs = (int)ll;
        }
    } else {
        if ((rc = get_int(field(root, "logprobs"), "logprobs", 0, 5, &ll, e)) < 0) return rc;
        if (rc == 1) {
            r->logprobs = 1;
            r->top_logprobs = (int)ll;
        }
    }
    static const char *const no_tools[] = {"tools", "functions"};
    for (int k = 0; k < 2; k++) {
        const cJSON *t = field(root, no_tools[k]);
        if (t && (!cJSON_IsArray(t) || cJSON_GetArraySize(t) > 0))
            return fail(e, no_tools[k], "%s (function calling) is not supported", no_tools[k]);
    }
    return 0;
}

/* ---- Ollama ---- */

static int parse_ollama_options(oai_request *r, const cJSON *o, const oai_limits *lim, oai_error *e)
{
    int rc;
    long long ll;
    if (!o) return 0;
    if (!cJSON_IsObject(o)) return fail(e, "options", "options must be an object");
    if ((rc = get_num(field(o, "temperature"), "options.temperature", 0, 100, &r->temperature, e)) < 0)
        return rc;
    r->has_temperature = rc;
    if ((rc = get_num(field(o, "top_p"), "options.top_p", 0, 1, &r->top_p, e)) < 0) return rc;
    r->has_top_p = rc;
    if ((rc = get_int(field(o, "top_k"), "options.top_k", 0, 1 << 20, &ll, e)) < 0) return rc;
    if (rc == 1) r->top_k = (int)ll;
    if ((rc = get_num(field(o, "min_p"), "options.min_p", 0, 1, &r->min_p, e)) < 0) return rc;
    if ((rc = get_seed(field(o, "seed"), "options.seed", &r->seed, e)) < 0) return rc;
    r->has_seed = rc;
    if ((rc = get_int(field(o, "num_predict"), "options.num_predict", -2, 1 << 30, &ll, e)) < 0)
        return rc;
    if (rc == 1) {
        if (ll == 0) return fail(e, "options.num_predict", "options.num_predict must not be 0");
        if (ll > 0 && (rc = check_max_tokens(lim, ll, "options.num_predict", e)) < 0) return rc;
        r->max_tokens = ll > 0 ? (int)ll : -1;
        r->fill_context = ll == -2;
    }
    if ((rc = parse_stop(r, field(o, "stop"), "options.stop", lim->max_stop > 0 ? lim->max_stop : OAI_MAX_STOP, e)) < 0)
        return rc;
    if ((rc = get_int(field(o, "num_ctx"), "options.num_ctx", 1, 1 << 24, &ll, e)) < 0) return rc;
    if (rc == 1) r->num_ctx = (int)ll;
    if ((rc = get_num(field(o, "repeat_penalty"), "options.repeat_penalty", 0, 100,
                      &r->repeat_penalty, e)) < 0)
        return rc;
    if ((rc = get_num(field(o, "presence_penalty"), "options.presence_penalty", -2, 2,
                      &r->presence_penalty, e)) < 0)
        return rc;
    if ((rc = get_num(field(o, "frequency_penalty"), "options.frequency_penalty", -2, 2,
                      &r->frequency_penalty, e)) < 0)
        return rc;
    return 0;
}

static int parse_ollama(oai_request *r, const cJSON *root, const oai_limits *lim, oai_error *e)
{
    int rc;
    r->stream = 1; /* Ollama streams unless told not to */
    if (r->kind == OLLAMA_CHAT) {
        if ((rc = parse_messages(r, root, lim, e)) < 0) return rc;
    } else {
        rc = get_str(r, field(root, "prompt"), "prompt", OAI_MAX_PROMPT_BYTES, &r->prompt,
                     &r->prompt_len, e);
        if (rc < 0) return rc;
        if (rc == 0) r->prompt = "";
        rc = get_str(r, field(root, "system"), "system", OAI_MAX_PROMPT_BYTES, &r->system, NULL, e);
        if (rc < 0) return rc;
        const cJSON *images = field(root, "images");
        if (images && (!cJSON_IsArray(images) || cJSON_GetArraySize(images) > 0))
            return fail(e, "images", "images are not supported");
    }
    if ((rc = get_bool(field(root, "stream"), "stream", &r->stream, e)) < 0) return rc;
    if ((rc = parse_ollama_options(r, field(root, "options"), lim, e)) < 0) return rc;
    static const char *const ignored[] = {"format", "keep_alive", "template", "raw", "context"};
    for (size_t k = 0; k < sizeof ignored / sizeof ignored[0]; k++)
        if (field(root, ignored[k])) note(r, ignored[k]);
    return 0;
}

int oai_parse(enum oai_kind kind, const cJSON *root, const oai_limits *lim, oai_request *req,
              oai_error *e)
{
    static const oai_limits no_limits;
    if (!lim) lim = &no_limits;
    memset(req, 0, sizeof *req);
    if (e) memset(e, 0, sizeof *e);
    req->kind = kind;
    req->max_tokens = -1;
    int rc;
    if (!cJSON_IsObject(root)) {
        rc = fail(e, NULL, "request body must be a JSON object");
        goto fail;
    }
    const cJSON *model = field(root, "model");
    if (!model) {
        rc = fail(e, "model", "model is required");
        goto fail;
    }
    if ((rc = get_str(req, model, "model", OAI_MAX_MODEL_LEN, &req->model, NULL, e)) < 0) goto fail;
    if (!req->model[0]) {
        rc = fail(e, "model", "model must not be empty");
        goto fail;
    }
    rc = kind == OAI_CHAT || kind == OAI_COMPLETION ? parse_openai(req, root, lim, e)
                                                    : parse_ollama(req, root, lim, e);
    if (rc < 0) goto fail;
    size_t total = req->prompt_len + (req->system ? strlen(req->system) : 0);
    for (int i = 0; i < req->n_messages; i++) total += req->messages[i].content_len;
    size_t max = lim->max_prompt_bytes ? lim->max_prompt_bytes : OAI_MAX_PROMPT_BYTES;
    if (total > max) {
        const char *p = req->n_messages ? "messages" : "prompt";
        rc = fail(e, p, "the prompt is too long (%zu bytes, limit %zu)", total, max);
        goto fail;
    }
    return UH_OK;
fail:
    if (rc == UH_ENOMEM && e) {
        e->status = 500;
        snprintf(e->message, sizeof e->message, "out of memory");
    }
    oai_request_free(req);
    return rc;
}
