/* wire.c - codecs of the node-to-node messages (wire.h). Everything read from a peer is checked
 * here: types, ranges, lengths; a peer cannot make us allocate more than the caps allow. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "cluster/wire.h"
#include "net/chan.h"

/* ---- parsing ---- */

/* Depth of the deepest nesting, stopping early once past cap. */
static int json_depth(const cJSON *j, int cap)
{
    int best = 0;
    for (const cJSON *c = j ? j->child : NULL; c; c = c->next) {
        int d = json_depth(c, cap - 1);
        if (d > best) best = d;
        if (best >= cap) break;
    }
    return best + 1;
}

cJSON *wire_parse(const uint8_t *body, size_t len, uh_err *err)
{
    if (len == 0 || len > WIRE_MAX_BODY) {
        err_setf(err, UH_EFORMAT, "message body of %zu bytes", len);
        return NULL;
    }
    /* A quick bound on nesting before cJSON recurses over it. */
    int depth = 0;
    for (size_t i = 0; i < len; i++) {
        if (body[i] == '{' || body[i] == '[') {
            if (++depth > WIRE_MAX_DEPTH) {
                err_setf(err, UH_EFORMAT, "message nested deeper than %d", WIRE_MAX_DEPTH);
                return NULL;
            }
        } else if (body[i] == '}' || body[i] == ']') {
            depth--;
        }
    }
    cJSON *j = cJSON_ParseWithLength((const char *)body, len);
    if (!j || !cJSON_IsObject(j) || json_depth(j, WIRE_MAX_DEPTH + 1) > WIRE_MAX_DEPTH) {
        cJSON_Delete(j);
        err_setf(err, UH_EFORMAT, "message is not a JSON object");
        return NULL;
    }
    return j;
}

static int get_int(const cJSON *o, const char *key, long long lo, long long hi, long long *out,
                   int required, uh_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (required) return err_setf(err, UH_EFORMAT, "field %s missing", key);
        return 1;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < (double)lo || v->valuedouble > (double)hi)
        return err_setf(err, UH_EFORMAT, "field %s out of range", key);
    *out = (long long)v->valuedouble;
    return 0;
}

int wire_get_str(const cJSON *msg, const char *key, char *out, size_t max, int required,
                 uh_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, key);
    out[0] = '\0';
    if (!v) return required ? err_setf(err, UH_EFORMAT, "field %s missing", key) : 0;
    if (!cJSON_IsString(v)) return err_setf(err, UH_EFORMAT, "field %s is not a string", key);
    size_t n = strlen(v->valuestring);
    if (n > max) return err_setf(err, UH_EFORMAT, "field %s longer than %zu bytes", key, max);
    memcpy(out, v->valuestring, n + 1);
    /* Names and reasons end up on screens: no control characters from a peer. */
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int wire_get_hex(const cJSON *msg, const char *key, uint8_t *out, size_t n, uh_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) != 2 * n)
        return err_setf(err, UH_EFORMAT, "field %s must be %zu hex bytes", key, n);
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(v->valuestring[2 * i]), lo = hexval(v->valuestring[2 * i + 1]);
        if (hi < 0 || lo < 0) return err_setf(err, UH_EFORMAT, "field %s is not hex", key);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int wire_add_hex(cJSON *msg, const char *key, const uint8_t *data, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char buf[2 * 128 + 1];
    if (n > 128) return UH_EINVAL;
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = digits[data[i] >> 4];
        buf[2 * i + 1] = digits[data[i] & 15];
    }
    buf[2 * n] = '\0';
    return cJSON_AddStringToObject(msg, key, buf) ? 0 : UH_ENOMEM;
}

/* ---- load (HELLO, PONG) ---- */

cJSON *wire_load_json(const node_load *l)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *models = cJSON_AddArrayToObject(o, "models");
    for (int i = 0; i < l->n_models && i < NODE_MAX_MODELS; i++)
        cJSON_AddItemToArray(models, cJSON_CreateString(l->models[i]));
    cJSON *load = cJSON_AddObjectToObject(o, "load");
    cJSON_AddNumberToObject(load, "active", l->active);
    cJSON_AddNumberToObject(load, "slots", l->slots);
    cJSON_AddNumberToObject(load, "queued", l->queued);
    return o;
}

int wire_load_from(const cJSON *msg, node_load *out, uh_err *err)
{
    memset(out, 0, sizeof *out);
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(msg, "models");
    if (!cJSON_IsArray(models)) return err_setf(err, UH_EFORMAT, "field models missing");
    const cJSON *m;
    cJSON_ArrayForEach(m, models)
    {
        if (out->n_models >= NODE_MAX_MODELS)
            return err_setf(err, UH_EFORMAT, "more than %d models", NODE_MAX_MODELS);
        if (!cJSON_IsString(m) || !m->valuestring[0] ||
            strlen(m->valuestring) >= NODE_MODEL_NAME_MAX)
            return err_setf(err, UH_EFORMAT, "bad model name");
        strcpy(out->models[out->n_models++], m->valuestring);
    }
    const cJSON *load = cJSON_GetObjectItemCaseSensitive(msg, "load");
    if (!cJSON_IsObject(load)) return err_setf(err, UH_EFORMAT, "field load missing");
    long long a, s, q;
    if (get_int(load, "active", 0, 1 << 20, &a, 1, err) ||
        get_int(load, "slots", 0, 1 << 20, &s, 1, err) ||
        get_int(load, "queued", 0, 1 << 20, &q, 1, err))
        return UH_EFORMAT;
    out->active = (int)a;
    out->slots = (int)s;
    out->queued = (int)q;
    return 0;
}

/* ---- events (TOKEN, DONE) ---- */

static cJSON *text_json(const char *s, size_t n)
{
    char *buf = malloc(n + 1);
    if (!buf) return NULL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    cJSON *j = cJSON_CreateString(buf);
    free(buf);
    return j;
}

cJSON *wire_event_json(const sched_event *ev)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddItemToObject(o, "x", text_json(ev->text ? ev->text : "", ev->text ? ev->text_len : 0));
    if (ev->type == SCHED_EV_TOKEN) {
        cJSON_AddNumberToObject(o, "t", ev->token);
        cJSON_AddNumberToObject(o, "i", ev->index);
        cJSON_AddNumberToObject(o, "lp", isfinite(ev->logprob) ? ev->logprob : -1e30);
        return o;
    }
    cJSON_AddStringToObject(o, "finish", sched_finish_name(ev->finish));
    cJSON_AddStringToObject(o, "error", ev->error ? ev->error : "");
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt", ev->usage.n_prompt);
    cJSON_AddNumberToObject(u, "cached", ev->usage.n_cached);
    cJSON_AddNumberToObject(u, "completion", ev->usage.n_completion);
    cJSON *t = cJSON_AddObjectToObject(o, "timings");
    cJSON_AddNumberToObject(t, "queued", ev->timings.queued);
    cJSON_AddNumberToObject(t, "prefill", ev->timings.prefill);
    cJSON_AddNumberToObject(t, "generation", ev->timings.generation);
    cJSON_AddNumberToObject(t, "total", ev->timings.total);
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

int wire_event_from(enum wire_type type, const cJSON *msg, sched_event *ev, uh_err *err)
{
    memset(ev, 0, sizeof *ev);
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(msg, "x");
    if (!cJSON_IsString(x)) return err_setf(err, UH_EFORMAT, "field x missing");
    ev->text = x->valuestring;
    ev->text_len = strlen(x->valuestring);
    if (ev->text_len > WIRE_MAX_TEXT) return err_setf(err, UH_EFORMAT, "text too long");
    ev->error = "";
    if (type == WIRE_TOKEN) {
        long long t, i;
        if (get_int(msg, "t", 0, INT32_MAX, &t, 1, err) ||
            get_int(msg, "i", 0, INT32_MAX, &i, 1, err))
            return UH_EFORMAT;
        const cJSON *lp = cJSON_GetObjectItemCaseSensitive(msg, "lp");
        ev->type = SCHED_EV_TOKEN;
        ev->token = (uh_token)t;
        ev->index = (int)i;
        ev->logprob = cJSON_IsNumber(lp) && isfinite(lp->valuedouble) && lp->valuedouble <= 0
                          ? (float)lp->valuedouble
                          : 0.0f;
        return 0;
    }
    if (type != WIRE_DONE) return err_setf(err, UH_EFORMAT, "not an event");
    ev->type = SCHED_EV_DONE;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(msg, "finish");
    if (!cJSON_IsString(f)) return err_setf(err, UH_EFORMAT, "field finish missing");
    static const enum sched_finish all[] = {SCHED_FINISH_STOP, SCHED_FINISH_LENGTH,
                                            SCHED_FINISH_CANCELLED, SCHED_FINISH_ERROR};
    int found = 0;
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        if (strcmp(f->valuestring, sched_finish_name(all[k])) == 0) {
            ev->finish = all[k];
            found = 1;
        }
    if (!found) return err_setf(err, UH_EFORMAT, "unknown finish reason");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(msg, "error");
    if (cJSON_IsString(e) && strlen(e->valuestring) < 512) ev->error = e->valuestring;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(msg, "usage");
    long long p = 0, c = 0, n = 0;
    if (!cJSON_IsObject(u) || get_int(u, "prompt", 0, INT32_MAX, &p, 1, err) ||
        get_int(u, "cached", 0, INT32_MAX, &c, 1, err) ||
        get_int(u, "completion", 0, INT32_MAX, &n, 1, err))
        return err_setf(err, UH_EFORMAT, "bad usage");
    ev->usage.n_prompt = (int)p;
    ev->usage.n_cached = (int)c;
    ev->usage.n_completion = (int)n;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(msg, "timings");
    if (cJSON_IsObject(t)) {
        ev->timings.queued = get_seconds(t, "queued");
        ev->timings.prefill = get_seconds(t, "prefill");
        ev->timings.generation = get_seconds(t, "generation");
        ev->timings.total = get_seconds(t, "total");
    }
    return 0;
}

/* ---- RUN ---- */

cJSON *wire_run_json(int kind, const char *body, size_t body_len, const uh_token *resume,
                     int n_resume, const char *fp, uh_err *err)
{
    if (n_resume < 0 || n_resume > WIRE_MAX_RESUME) {
        err_setf(err, UH_ELIMIT, "%d resume tokens", n_resume);
        return NULL;
    }
    cJSON *b = cJSON_ParseWithLength(body, body_len);
    if (!cJSON_IsObject(b)) {
        cJSON_Delete(b);
        err_setf(err, UH_EINVAL, "request body is not a JSON object");
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "kind", kind);
    cJSON_AddItemToObject(o, "body", b);
    cJSON *r = cJSON_AddArrayToObject(o, "resume");
    for (int i = 0; i < n_resume; i++) cJSON_AddItemToArray(r, cJSON_CreateNumber(resume[i]));
    if (fp && fp[0]) cJSON_AddStringToObject(o, "fp", fp);
    return o;
}

int wire_run_from(const cJSON *msg, int *kind, const cJSON **body, uh_token **resume,
                  int *n_resume, char fp[NODE_FP_LEN], uh_err *err)
{
    long long k;
    *resume = NULL;
    *n_resume = 0;
    if (wire_get_str(msg, "fp", fp, NODE_FP_LEN - 1, 0, err)) return UH_EFORMAT;
    if (get_int(msg, "kind", 0, 3, &k, 1, err)) return UH_EFORMAT;
    *kind = (int)k;
    *body = cJSON_GetObjectItemCaseSensitive(msg, "body");
    if (!cJSON_IsObject(*body)) return err_setf(err, UH_EFORMAT, "field body missing");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(msg, "resume");
    if (!r) return 0;
    if (!cJSON_IsArray(r)) return err_setf(err, UH_EFORMAT, "field resume is not an array");
    int n = cJSON_GetArraySize(r);
    if (n > WIRE_MAX_RESUME) return err_setf(err, UH_EFORMAT, "%d resume tokens", n);
    if (n == 0) return 0;
    uh_token *t = malloc((size_t)n * sizeof *t);
    if (!t) return err_setf(err, UH_ENOMEM, "out of memory");
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, r)
    {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > INT32_MAX ||
            v->valuedouble != floor(v->valuedouble)) {
            free(t);
            return err_setf(err, UH_EFORMAT, "resume[%d] is not a token id", i);
        }
        t[i++] = (uh_token)v->valuedouble;
    }
    *resume = t;
    *n_resume = n;
    return 0;
}

/* ---- REFUSED ---- */

cJSON *wire_refused_json(int status, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "status", status);
    cJSON_AddStringToObject(o, "message", message);
    return o;
}

int wire_refused_from(const cJSON *msg, int *status, char *message, size_t cap)
{
    long long s = 500;
    uh_err e;
    if (get_int(msg, "status", 100, 599, &s, 1, &e)) s = 500;
    *status = (int)s;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "message");
    snprintf(message, cap, "%s", cJSON_IsString(m) ? m->valuestring : "refused");
    /* Shown to users: keep it printable. */
    for (char *p = message; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    return 0;
}

/* ---- sending ---- */

int wire_send(struct chan *c, enum wire_type type, cJSON *msg, uh_err *err)
{
    if (!msg) return err_setf(err, UH_ENOMEM, "out of memory");
    char *s = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    if (!s) return err_setf(err, UH_ENOMEM, "out of memory");
    int rc = chan_send(c, (uint8_t)type, s, strlen(s), err);
    free(s);
    return rc;
}
