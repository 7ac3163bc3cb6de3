/* exec.c - the neutral request and event types (exec.h): names, checks, one-allocation copies and
 * the JSON codecs that carry them between nodes. Everything decoded here may come from a peer:
 * every field is checked for type and range and every length against its cap before anything is
 * allocated for it. */
#include "exec/exec.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/err.h"

/* ---- names ---- */

static const char *const ring_names[] = {"local", "trusted", "swarm"};
static const char *const finish_names[] = {"stop", "length", "cancelled", "error"};
static const char *const prompt_names[] = {"messages", "text", "templated", "tokens"};

static int name_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

const char *exec_ring_name(enum exec_ring r)
{
    return (unsigned)r < 3 ? ring_names[r] : "?";
}

int exec_ring_parse(const char *s, enum exec_ring *out)
{
    int i = name_index(ring_names, 3, s);
    if (i < 0) return UH_EINVAL;
    *out = (enum exec_ring)i;
    return 0;
}

const char *exec_finish_name(enum exec_finish f)
{
    return (unsigned)f < 4 ? finish_names[f] : "?";
}

int exec_finish_parse(const char *s, enum exec_finish *out)
{
    int i = name_index(finish_names, 4, s);
    if (i < 0) return UH_EINVAL;
    *out = (enum exec_finish)i;
    return 0;
}

int exec_fail_set(exec_fail *f, int code, enum exec_field field, const char *fmt, ...)
{
    if (!f) return code;
    f->code = code;
    f->field = field;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
    va_end(ap);
    return code;
}

/* ---- checks and copies ---- */

int exec_request_check(const exec_request *r, exec_fail *f)
{
    if (!r->model || !r->model[0] || strlen(r->model) > EXEC_MAX_MODEL)
        return exec_fail_set(f, UH_EINVAL, EXEC_FIELD_MODEL, "the model name must be 1 to %d bytes",
                             EXEC_MAX_MODEL);
    size_t text = 0;
    switch (r->prompt) {
    case EXEC_PROMPT_MESSAGES:
        if (r->n_messages < 1 || r->n_messages > EXEC_MAX_MESSAGES || !r->messages)
            return exec_fail_set(f, UH_EINVAL, EXEC_FIELD_PROMPT, "1 to %d messages",
                                 EXEC_MAX_MESSAGES);
        for (int i = 0; i < r->n_messages; i++) {
            const exec_message *m = &r->messages[i];
            if (!m->role || !m->role[0] || strlen(m->role) > EXEC_MAX_ROLE || !m->content)
                return exec_fail_set(f, UH_EINVAL, EXEC_FIELD_PROMPT, "message %d is malformed", i);
            text += strlen(m->content);
        }
        break;
    case EXEC_PROMPT_TEXT:
    case EXEC_PROMPT_TEMPLATED:
        if (!r->text) return exec_fail_set(f, UH_EINVAL, EXEC_FIELD_PROMPT, "no prompt text");
        text = r->text_len + (r->system ? strlen(r->system) : 0);
        break;
    case EXEC_PROMPT_TOKENS:
        if (r->n_tokens < 1 || r->n_tokens > EXEC_MAX_TOKENS || !r->tokens)
            return exec_fail_set(f, UH_EINVAL, EXEC_FIELD_PROMPT, "1 to %d prompt tokens",
                                 EXEC_MAX_TOKENS);
        for (int i = 0; i < r->n_tokens; i++)
            if (r->tokens[i] < 0)
                return exec_fail_set(f, UH_EINVAL, EXEC_FIELD_PROMPT, "token %d is negative", i);
        break;
    default:
        return exec_fail_set(f, UH_EINVAL, EXEC_FIELD_PROMPT, "unknown prompt form");
    }
    if (text > EXEC_MAX_TEXT)
        return exec_fail_set(f, UH_ELIMIT, EXEC_FIELD_PROMPT, "more than %u bytes of prompt text",
                             EXEC_MAX_TEXT);
    if (r->n_stops < 0 || r->n_stops > EXEC_MAX_STOPS || (r->n_stops && !r->stops))
        return exec_fail_set(f, UH_EINVAL, EXEC_FIELD_NONE, "at most %d stop strings",
                             EXEC_MAX_STOPS);
    for (int i = 0; i < r->n_stops; i++)
        if (!r->stops[i] || !r->stops[i][0] || strlen(r->stops[i]) > EXEC_MAX_STOP_LEN)
            return exec_fail_set(f, UH_EINVAL, EXEC_FIELD_NONE,
                                 "stop string %d must be 1 to %d "
                                 "bytes",
                                 i, EXEC_MAX_STOP_LEN);
    if (r->top_logprobs < 0 || r->top_logprobs > EXEC_TOP_MAX)
        return exec_fail_set(f, UH_EINVAL, EXEC_FIELD_LOGPROBS, "top_logprobs must be 0 to %d",
                             EXEC_TOP_MAX);
    if (r->n_resume < 0 || r->n_resume > EXEC_MAX_RESUME || (r->n_resume && !r->resume))
        return exec_fail_set(f, UH_ELIMIT, EXEC_FIELD_NONE, "at most %d resume tokens",
                             EXEC_MAX_RESUME);
    for (int i = 0; i < r->n_resume; i++)
        if (r->resume[i] < 0)
            return exec_fail_set(f, UH_EINVAL, EXEC_FIELD_NONE, "resume token %d is negative", i);
    if (r->expect_fp && strlen(r->expect_fp) >= EXEC_FP_LEN)
        return exec_fail_set(f, UH_EINVAL, EXEC_FIELD_NONE, "bad model fingerprint");
    if ((unsigned)r->ring > EXEC_RING_SWARM)
        return exec_fail_set(f, UH_EINVAL, EXEC_FIELD_RING, "unknown ring");
    return 0;
}

/* A bump allocator over one block: first a sizing pass (base NULL), then the copying pass. */
typedef struct {
    char *base;
    size_t used;
} bump;

static void *bump_take(bump *b, size_t n, size_t align)
{
    b->used = (b->used + align - 1) / align * align;
    void *p = b->base ? b->base + b->used : NULL;
    b->used += n;
    return p;
}

static const char *bump_str(bump *b, const char *s, size_t n)
{
    char *p = bump_take(b, n + 1, 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

/* Lays r out in b (the request struct first); returns the copy (NULL in the sizing pass). */
static exec_request *lay_out(bump *b, const exec_request *r)
{
    exec_request *c = bump_take(b, sizeof *c, _Alignof(exec_request));
    exec_request tmp = *r;
    if (r->prompt == EXEC_PROMPT_MESSAGES) {
        exec_message *ms = bump_take(b, (size_t)r->n_messages * sizeof *ms, _Alignof(exec_message));
        for (int i = 0; i < r->n_messages; i++) {
            const char *role = bump_str(b, r->messages[i].role, strlen(r->messages[i].role));
            const char *content =
                bump_str(b, r->messages[i].content, strlen(r->messages[i].content));
            if (ms) ms[i] = (exec_message){.role = role, .content = content};
        }
        tmp.messages = ms;
    } else {
        tmp.messages = NULL;
        tmp.n_messages = 0;
    }
    if (r->prompt == EXEC_PROMPT_TEXT || r->prompt == EXEC_PROMPT_TEMPLATED) {
        tmp.text = bump_str(b, r->text, r->text_len);
        tmp.system = r->system ? bump_str(b, r->system, strlen(r->system)) : NULL;
    } else {
        tmp.text = NULL;
        tmp.text_len = 0;
        tmp.system = NULL;
    }
    if (r->prompt == EXEC_PROMPT_TOKENS) {
        uh_token *t = bump_take(b, (size_t)r->n_tokens * sizeof *t, _Alignof(uh_token));
        if (t) memcpy(t, r->tokens, (size_t)r->n_tokens * sizeof *t);
        tmp.tokens = t;
    } else {
        tmp.tokens = NULL;
        tmp.n_tokens = 0;
    }
    const char **stops = bump_take(b, (size_t)r->n_stops * sizeof *stops, _Alignof(char *));
    for (int i = 0; i < r->n_stops; i++) {
        const char *s = bump_str(b, r->stops[i], strlen(r->stops[i]));
        if (stops) stops[i] = s;
    }
    tmp.stops = r->n_stops ? stops : NULL;
    uh_token *res = bump_take(b, (size_t)r->n_resume * sizeof *res, _Alignof(uh_token));
    if (res && r->n_resume) memcpy(res, r->resume, (size_t)r->n_resume * sizeof *res);
    tmp.resume = r->n_resume ? res : NULL;
    tmp.expect_fp =
        bump_str(b, r->expect_fp ? r->expect_fp : "", r->expect_fp ? strlen(r->expect_fp) : 0);
    tmp.model = bump_str(b, r->model, strlen(r->model));
    if (c) *c = tmp;
    return c;
}

int exec_request_dup(const exec_request *r, exec_request **out, exec_fail *f)
{
    *out = NULL;
    int rc = exec_request_check(r, f);
    if (rc) return rc;
    bump b = {NULL, 0};
    lay_out(&b, r);
    b.base = malloc(b.used);
    if (!b.base) return exec_fail_set(f, UH_ENOMEM, EXEC_FIELD_NONE, "out of memory");
    b.used = 0;
    *out = lay_out(&b, r);
    return 0;
}

/* ---- JSON helpers ---- */

static int add_num(cJSON *o, const char *k, double v)
{
    return cJSON_AddNumberToObject(o, k, v) ? 0 : UH_ENOMEM;
}

static cJSON *token_array(const uh_token *t, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        cJSON *v = cJSON_CreateNumber(t[i]);
        if (!v) {
            cJSON_Delete(a);
            return NULL;
        }
        cJSON_AddItemToArray(a, v);
    }
    return a;
}

/* A string of exactly n bytes (may hold any byte but NUL, which JSON strings carry as \u0000 and
 * cJSON cannot: such bytes travel as hex pieces instead). */
static cJSON *str_n(const char *s, size_t n)
{
    char small[256];
    char *p = n < sizeof small ? small : malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    cJSON *j = cJSON_CreateString(p);
    if (p != small) free(p);
    return j;
}

static int add_hex(cJSON *o, const char *k, const char *p, size_t n)
{
    char h[2 * EXEC_MAX_PIECE + 1];
    if (n > EXEC_MAX_PIECE) n = EXEC_MAX_PIECE;
    sodium_bin2hex(h, sizeof h, (const unsigned char *)p, n);
    return cJSON_AddStringToObject(o, k, h) ? 0 : UH_ENOMEM;
}

/* A hex field into out[EXEC_MAX_PIECE]: 0 (absent: *n = 0, *present = 0) or UH_EFORMAT. */
static int get_hex(const cJSON *o, const char *k, char *out, size_t *n, int *present, uh_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    *n = 0;
    *present = v != NULL;
    if (!v) return 0;
    if (!cJSON_IsString(v)) return err_setf(err, UH_EFORMAT, "field %s is not a string", k);
    size_t len = strlen(v->valuestring), got = 0;
    if (len % 2 || len / 2 > EXEC_MAX_PIECE)
        return err_setf(err, UH_EFORMAT, "field %s must be at most %d hex bytes", k,
                        EXEC_MAX_PIECE);
    if (sodium_hex2bin((unsigned char *)out, EXEC_MAX_PIECE, v->valuestring, len, NULL, &got,
                       NULL) != 0 ||
        got != len / 2)
        return err_setf(err, UH_EFORMAT, "field %s is not hex", k);
    *n = got;
    return 0;
}

/* A whole number in [lo, hi]: 0, 1 when absent (not required), or UH_EFORMAT. */
static int get_int(const cJSON *o, const char *k, long long lo, long long hi, long long *out,
                   int required, uh_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v) return required ? err_setf(err, UH_EFORMAT, "field %s missing", k) : 1;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
        v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)lo ||
        v->valuedouble > (double)hi)
        return err_setf(err, UH_EFORMAT, "field %s out of range", k);
    *out = (long long)v->valuedouble;
    return 0;
}

/* A finite number in [lo, hi], or def when absent. UH_EFORMAT when present and bad. */
static int get_real(const cJSON *o, const char *k, double lo, double hi, double def, double *out,
                    uh_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    *out = def;
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi)
        return err_setf(err, UH_EFORMAT, "field %s out of range", k);
    *out = v->valuedouble;
    return 0;
}

/* A string field of at most max bytes, or NULL when absent. UH_EFORMAT / UH_ELIMIT. */
static int get_str(const cJSON *o, const char *k, size_t max, const char **out, size_t *len,
                   int required, uh_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    *out = NULL;
    if (len) *len = 0;
    if (!v) return required ? err_setf(err, UH_EFORMAT, "field %s missing", k) : 0;
    if (!cJSON_IsString(v)) return err_setf(err, UH_EFORMAT, "field %s is not a string", k);
    size_t n = strlen(v->valuestring);
    if (n > max) return err_setf(err, UH_ELIMIT, "field %s longer than %zu bytes", k, max);
    *out = v->valuestring;
    if (len) *len = n;
    return 0;
}

/* An array of token ids of at most max entries into a malloc'd array (NULL when empty). */
static int get_tokens(const cJSON *o, const char *k, int max, uh_token **out, int *n, uh_err *err)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, k);
    *out = NULL;
    *n = 0;
    if (!a) return 0;
    if (!cJSON_IsArray(a)) return err_setf(err, UH_EFORMAT, "field %s is not an array", k);
    int cnt = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a)
    {
        if (++cnt > max)
            return err_setf(err, UH_ELIMIT, "field %s has more than %d tokens", k, max);
    }
    if (cnt == 0) return 0;
    uh_token *t = malloc((size_t)cnt * sizeof *t);
    if (!t) return err_setf(err, UH_ENOMEM, "out of memory");
    int i = 0;
    cJSON_ArrayForEach(v, a)
    {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
            v->valuedouble > INT32_MAX || v->valuedouble != floor(v->valuedouble)) {
            free(t);
            return err_setf(err, UH_EFORMAT, "%s[%d] is not a token id", k, i);
        }
        t[i++] = (uh_token)v->valuedouble;
    }
    *out = t;
    *n = cnt;
    return 0;
}

/* ---- requests ---- */

cJSON *exec_request_json(const exec_request *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *p = o ? cJSON_AddObjectToObject(o, "prompt") : NULL;
    cJSON *s = o ? cJSON_AddObjectToObject(o, "sampler") : NULL;
    int rc = p && s ? 0 : UH_ENOMEM;
    if (!rc) rc = add_num(o, "v", EXEC_WIRE_VERSION);
    if (!rc && !cJSON_AddStringToObject(o, "model", r->model)) rc = UH_ENOMEM;
    if (!rc && !cJSON_AddStringToObject(p, "kind", prompt_names[r->prompt & 3])) rc = UH_ENOMEM;
    if (!rc && r->prompt == EXEC_PROMPT_MESSAGES) {
        cJSON *ms = cJSON_AddArrayToObject(p, "messages");
        for (int i = 0; ms && i < r->n_messages; i++) {
            cJSON *m = cJSON_CreateObject();
            if (!m) break;
            cJSON_AddItemToArray(ms, m);
            if (!cJSON_AddStringToObject(m, "role", r->messages[i].role) ||
                !cJSON_AddStringToObject(m, "content", r->messages[i].content))
                ms = NULL;
        }
        if (!ms || cJSON_GetArraySize(ms) != r->n_messages) rc = UH_ENOMEM;
    } else if (!rc && (r->prompt == EXEC_PROMPT_TEXT || r->prompt == EXEC_PROMPT_TEMPLATED)) {
        cJSON *t = str_n(r->text, r->text_len);
        if (!t)
            rc = UH_ENOMEM;
        else
            cJSON_AddItemToObject(p, "text", t);
        if (!rc && r->system && !cJSON_AddStringToObject(p, "system", r->system)) rc = UH_ENOMEM;
    } else if (!rc) {
        cJSON *t = token_array(r->tokens, r->n_tokens);
        if (!t)
            rc = UH_ENOMEM;
        else
            cJSON_AddItemToObject(p, "tokens", t);
    }
    const uh_sampler_params *sp = &r->sampler;
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)sp->seed);
    if (!rc)
        rc = add_num(s, "temp", sp->temp) | add_num(s, "top_k", sp->top_k) |
             add_num(s, "top_p", sp->top_p) | add_num(s, "min_p", sp->min_p) |
             add_num(s, "repeat_penalty", sp->repeat_penalty) |
             add_num(s, "repeat_last_n", sp->repeat_last_n) |
             add_num(s, "freq_penalty", sp->freq_penalty) |
             add_num(s, "presence_penalty", sp->presence_penalty);
    if (!rc && !cJSON_AddStringToObject(s, "seed", seed)) rc = UH_ENOMEM;
    if (!rc) rc = add_num(o, "max_tokens", r->max_tokens > 0 ? r->max_tokens : 0);
    if (!rc && r->n_stops) {
        cJSON *a = cJSON_AddArrayToObject(o, "stops");
        for (int i = 0; a && i < r->n_stops; i++) {
            cJSON *v = cJSON_CreateString(r->stops[i]);
            if (!v)
                a = NULL;
            else
                cJSON_AddItemToArray(a, v);
        }
        if (!a) rc = UH_ENOMEM;
    }
    if (!rc && r->logprobs) {
        if (!cJSON_AddTrueToObject(o, "logprobs")) rc = UH_ENOMEM;
        if (!rc) rc = add_num(o, "top_logprobs", r->top_logprobs);
    }
    if (!rc && r->n_resume) {
        cJSON *a = token_array(r->resume, r->n_resume);
        if (!a)
            rc = UH_ENOMEM;
        else
            cJSON_AddItemToObject(o, "resume", a);
    }
    if (!rc && r->expect_fp && r->expect_fp[0] && !cJSON_AddStringToObject(o, "fp", r->expect_fp))
        rc = UH_ENOMEM;
    if (!rc && !cJSON_AddStringToObject(o, "ring", exec_ring_name(r->ring))) rc = UH_ENOMEM;
    if (rc) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int sampler_from(const cJSON *s, uh_sampler_params *sp, uh_err *err)
{
    *sp = uh_sampler_default_params();
    if (!s) return 0;
    if (!cJSON_IsObject(s)) return err_setf(err, UH_EFORMAT, "field sampler is not an object");
    double v;
    long long k;
    int rc;
    if ((rc = get_real(s, "temp", 0, 100, sp->temp, &v, err))) return rc;
    sp->temp = (float)v;
    if ((rc = get_real(s, "top_p", 0, 1, sp->top_p, &v, err))) return rc;
    sp->top_p = (float)v;
    if ((rc = get_real(s, "min_p", 0, 1, sp->min_p, &v, err))) return rc;
    sp->min_p = (float)v;
    if ((rc = get_real(s, "repeat_penalty", 0, 100, sp->repeat_penalty, &v, err))) return rc;
    sp->repeat_penalty = (float)v;
    if ((rc = get_real(s, "freq_penalty", -100, 100, sp->freq_penalty, &v, err))) return rc;
    sp->freq_penalty = (float)v;
    if ((rc = get_real(s, "presence_penalty", -100, 100, sp->presence_penalty, &v, err))) return rc;
    sp->presence_penalty = (float)v;
    if ((rc = get_int(s, "top_k", 0, 1 << 20, &k, 0, err)) < 0) return rc;
    if (rc == 0) sp->top_k = (int)k;
    if ((rc = get_int(s, "repeat_last_n", -1, 1 << 20, &k, 0, err)) < 0) return rc;
    if (rc == 0) sp->repeat_last_n = (int)k;
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(s, "seed");
    if (seed) {
        const char *d = cJSON_GetStringValue(seed);
        char *end = NULL;
        if (!d || !d[0] || strlen(d) > 20 || d[0] == '-')
            return err_setf(err, UH_EFORMAT, "field sampler.seed is not a decimal string");
        unsigned long long x = strtoull(d, &end, 10);
        if (*end) return err_setf(err, UH_EFORMAT, "field sampler.seed is not a decimal string");
        sp->seed = (uint64_t)x;
    }
    return 0;
}

int exec_request_from_json(const cJSON *j, exec_request **out, uh_err *err)
{
    exec_request r;
    memset(&r, 0, sizeof r);
    exec_message *msgs = NULL;
    uh_token *toks = NULL, *resume = NULL;
    const char *stops[EXEC_MAX_STOPS];
    const char *s;
    long long k;
    int rc;
    *out = NULL;
    if (!cJSON_IsObject(j)) return err_setf(err, UH_EFORMAT, "the request is not an object");
    if ((rc = get_int(j, "v", 1, 1 << 20, &k, 1, err))) return rc;
    if (k != EXEC_WIRE_VERSION)
        return err_setf(err, UH_EUNSUPPORTED, "request version %lld (this node speaks %d)", k,
                        EXEC_WIRE_VERSION);
    if ((rc = get_str(j, "model", EXEC_MAX_MODEL, &r.model, NULL, 1, err))) return rc;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    if (!cJSON_IsObject(p)) return err_setf(err, UH_EFORMAT, "field prompt missing");
    if ((rc = get_str(p, "kind", 16, &s, NULL, 1, err))) return rc;
    int kind = name_index(prompt_names, 4, s);
    if (kind < 0) return err_setf(err, UH_EFORMAT, "unknown prompt kind");
    r.prompt = (enum exec_prompt)kind;
    if (r.prompt == EXEC_PROMPT_MESSAGES) {
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(p, "messages");
        if (!cJSON_IsArray(ms)) return err_setf(err, UH_EFORMAT, "field prompt.messages missing");
        int n = cJSON_GetArraySize(ms);
        if (n < 1 || n > EXEC_MAX_MESSAGES)
            return err_setf(err, UH_ELIMIT, "1 to %d messages", EXEC_MAX_MESSAGES);
        msgs = calloc((size_t)n, sizeof *msgs);
        if (!msgs) return err_setf(err, UH_ENOMEM, "out of memory");
        int i = 0;
        const cJSON *m;
        cJSON_ArrayForEach(m, ms)
        {
            if (!cJSON_IsObject(m) ||
                (rc = get_str(m, "role", EXEC_MAX_ROLE, &msgs[i].role, NULL, 1, err)) ||
                (rc = get_str(m, "content", EXEC_MAX_TEXT, &msgs[i].content, NULL, 1, err))) {
                if (!rc) rc = err_setf(err, UH_EFORMAT, "message %d is not an object", i);
                goto out;
            }
            i++;
        }
        r.messages = msgs;
        r.n_messages = n;
    } else if (r.prompt == EXEC_PROMPT_TOKENS) {
        if ((rc = get_tokens(p, "tokens", EXEC_MAX_TOKENS, &toks, &r.n_tokens, err))) goto out;
        r.tokens = toks;
    } else {
        if ((rc = get_str(p, "text", EXEC_MAX_TEXT, &r.text, &r.text_len, 1, err)) ||
            (rc = get_str(p, "system", EXEC_MAX_TEXT, &r.system, NULL, 0, err)))
            goto out;
    }
    if ((rc = sampler_from(cJSON_GetObjectItemCaseSensitive(j, "sampler"), &r.sampler, err)))
        goto out;
    if ((rc = get_int(j, "max_tokens", 0, INT32_MAX, &k, 0, err)) < 0) goto out;
    r.max_tokens = rc == 0 ? (int)k : 0;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "stops");
    if (st) {
        if (!cJSON_IsArray(st)) {
            rc = err_setf(err, UH_EFORMAT, "field stops is not an array");
            goto out;
        }
        const cJSON *v;
        cJSON_ArrayForEach(v, st)
        {
            if (r.n_stops == EXEC_MAX_STOPS) {
                rc = err_setf(err, UH_ELIMIT, "more than %d stop strings", EXEC_MAX_STOPS);
                goto out;
            }
            const char *sv = cJSON_GetStringValue(v);
            if (!sv || !sv[0] || strlen(sv) > EXEC_MAX_STOP_LEN) {
                rc = err_setf(err, UH_EFORMAT, "stops[%d] must be 1 to %d bytes", r.n_stops,
                              EXEC_MAX_STOP_LEN);
                goto out;
            }
            stops[r.n_stops++] = sv;
        }
        r.stops = stops;
    }
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(j, "logprobs");
    if (lp && !cJSON_IsBool(lp)) {
        rc = err_setf(err, UH_EFORMAT, "field logprobs is not a boolean");
        goto out;
    }
    r.logprobs = cJSON_IsTrue(lp);
    if ((rc = get_int(j, "top_logprobs", 0, EXEC_TOP_MAX, &k, 0, err)) < 0) goto out;
    r.top_logprobs = rc == 0 && r.logprobs ? (int)k : 0;
    if ((rc = get_tokens(j, "resume", EXEC_MAX_RESUME, &resume, &r.n_resume, err))) goto out;
    r.resume = resume;
    if ((rc = get_str(j, "fp", EXEC_FP_LEN - 1, &r.expect_fp, NULL, 0, err))) goto out;
    if ((rc = get_str(j, "ring", 16, &s, NULL, 0, err))) goto out;
    r.ring = EXEC_RING_TRUSTED;
    if (s && exec_ring_parse(s, &r.ring) != 0) {
        rc = err_setf(err, UH_EFORMAT, "unknown ring");
        goto out;
    }
    exec_fail f;
    rc = exec_request_dup(&r, out, &f);
    if (rc) err_setf(err, rc == UH_ENOMEM ? UH_ENOMEM : UH_EFORMAT, "%s", f.msg);
    if (rc && rc != UH_ENOMEM) rc = UH_EFORMAT;
out:
    free(msgs);
    free(toks);
    free(resume);
    return rc;
}

/* ---- events ---- */

cJSON *exec_event_json(const exec_event *ev)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON *x = str_n(ev->text ? ev->text : "", ev->text ? ev->text_len : 0);
    int rc = x ? 0 : UH_ENOMEM;
    if (x) cJSON_AddItemToObject(o, "x", x);
    if (!rc && ev->type == EXEC_EV_TOKEN) {
        rc = add_num(o, "t", ev->token) | add_num(o, "i", ev->index);
        if (!rc && ev->piece) {
            rc = add_num(o, "lp", isfinite(ev->logprob) ? ev->logprob : -1e30) |
                 add_hex(o, "p", ev->piece, ev->piece_len);
            cJSON *top = ev->n_top > 0 ? cJSON_AddArrayToObject(o, "top") : NULL;
            for (int i = 0; !rc && top && i < ev->n_top && i < EXEC_TOP_MAX; i++) {
                cJSON *a = cJSON_CreateObject();
                if (!a) {
                    rc = UH_ENOMEM;
                    break;
                }
                cJSON_AddItemToArray(top, a);
                rc = add_num(a, "t", ev->top[i].id) |
                     add_num(a, "lp", isfinite(ev->top[i].logprob) ? ev->top[i].logprob : -1e30) |
                     add_hex(a, "p", ev->top[i].piece, ev->top[i].piece_len);
            }
            if (ev->n_top > 0 && !top) rc = UH_ENOMEM;
        }
    } else if (!rc) {
        cJSON *u = cJSON_AddObjectToObject(o, "usage");
        cJSON *t = cJSON_AddObjectToObject(o, "timings");
        rc = u && t ? 0 : UH_ENOMEM;
        if (!rc && (!cJSON_AddStringToObject(o, "finish", exec_finish_name(ev->finish)) ||
                    !cJSON_AddStringToObject(o, "error", ev->error ? ev->error : "")))
            rc = UH_ENOMEM;
        if (!rc)
            rc = add_num(o, "code", ev->code) | add_num(u, "prompt", ev->usage.n_prompt) |
                 add_num(u, "cached", ev->usage.n_cached) |
                 add_num(u, "completion", ev->usage.n_completion) |
                 add_num(t, "load", ev->timings.load) | add_num(t, "queued", ev->timings.queued) |
                 add_num(t, "prefill", ev->timings.prefill) |
                 add_num(t, "generation", ev->timings.generation) |
                 add_num(t, "total", ev->timings.total);
    }
    if (rc) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static double get_seconds(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble > 1e7)
        return 0;
    return v->valuedouble;
}

/* A logprob: finite and <= 0, else 0 (a peer's nonsense is not passed on). */
static float get_logprob(const cJSON *o)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "lp");
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble > 0) return 0;
    return v->valuedouble < -1e30 ? -1e30f : (float)v->valuedouble;
}

int exec_event_from_json(enum exec_event_type type, const cJSON *j, exec_event *ev,
                         exec_event_store *st, uh_err *err)
{
    memset(ev, 0, sizeof *ev);
    ev->error = "";
    const char *x;
    size_t xn;
    long long v;
    int rc, present;
    if ((rc = get_str(j, "x", EXEC_MAX_TEXT, &x, &xn, 1, err))) return UH_EFORMAT;
    ev->text = x;
    ev->text_len = xn;
    if (type == EXEC_EV_TOKEN) {
        ev->type = EXEC_EV_TOKEN;
        if (get_int(j, "t", 0, INT32_MAX, &v, 1, err)) return UH_EFORMAT;
        ev->token = (uh_token)v;
        if (get_int(j, "i", 0, INT32_MAX, &v, 1, err)) return UH_EFORMAT;
        ev->index = (int)v;
        if (get_hex(j, "p", st->piece, &ev->piece_len, &present, err)) return UH_EFORMAT;
        if (!present) return 0;
        ev->piece = st->piece;
        ev->logprob = get_logprob(j);
        const cJSON *top = cJSON_GetObjectItemCaseSensitive(j, "top");
        if (!top) return 0;
        if (!cJSON_IsArray(top)) return err_setf(err, UH_EFORMAT, "field top is not an array");
        const cJSON *a;
        cJSON_ArrayForEach(a, top)
        {
            if (ev->n_top == EXEC_TOP_MAX)
                return err_setf(err, UH_EFORMAT, "more than %d alternatives", EXEC_TOP_MAX);
            exec_alt *alt = &st->top[ev->n_top];
            if (!cJSON_IsObject(a) || get_int(a, "t", 0, INT32_MAX, &v, 1, err) ||
                get_hex(a, "p", st->top_pieces[ev->n_top], &alt->piece_len, &present, err))
                return err_setf(err, UH_EFORMAT, "top[%d] is malformed", ev->n_top);
            alt->id = (uh_token)v;
            alt->logprob = get_logprob(a);
            alt->piece = st->top_pieces[ev->n_top];
            ev->n_top++;
        }
        ev->top = st->top;
        return 0;
    }
    if (type != EXEC_EV_DONE) return err_setf(err, UH_EFORMAT, "not an event");
    ev->type = EXEC_EV_DONE;
    const char *f;
    if (get_str(j, "finish", 16, &f, NULL, 1, err)) return UH_EFORMAT;
    if (exec_finish_parse(f, &ev->finish) != 0)
        return err_setf(err, UH_EFORMAT, "unknown finish reason");
    const char *e = NULL;
    if (get_str(j, "error", 511, &e, NULL, 0, err) == 0 && e) ev->error = e;
    rc = get_int(j, "code", -1000, 0, &v, 0, err);
    if (rc < 0) return UH_EFORMAT;
    ev->code = rc == 0 ? (int)v : 0;
    if (ev->finish == EXEC_FINISH_ERROR && ev->code == 0) ev->code = UH_EIO;
    if (ev->finish != EXEC_FINISH_ERROR) ev->code = 0;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    long long p = 0, c = 0, n = 0;
    if (!cJSON_IsObject(u) || get_int(u, "prompt", 0, INT32_MAX, &p, 1, err) ||
        get_int(u, "cached", 0, INT32_MAX, &c, 1, err) ||
        get_int(u, "completion", 0, INT32_MAX, &n, 1, err))
        return err_setf(err, UH_EFORMAT, "bad usage");
    ev->usage.n_prompt = (int)p;
    ev->usage.n_cached = (int)c;
    ev->usage.n_completion = (int)n;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "timings");
    if (cJSON_IsObject(t)) {
        ev->timings.load = get_seconds(t, "load");
        ev->timings.queued = get_seconds(t, "queued");
        ev->timings.prefill = get_seconds(t, "prefill");
        ev->timings.generation = get_seconds(t, "generation");
        ev->timings.total = get_seconds(t, "total");
    }
    return 0;
}
