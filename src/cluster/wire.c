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
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
        v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)lo ||
        v->valuedouble > (double)hi)
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

/* ---- REFUSED ---- */

cJSON *wire_refused_json(int code, enum exec_field field, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    if (!cJSON_AddNumberToObject(o, "code", code) ||
        (field && !cJSON_AddNumberToObject(o, "field", field)) ||
        !cJSON_AddStringToObject(o, "message", message ? message : "")) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int wire_refused_from(const cJSON *msg, exec_fail *out)
{
    long long code = UH_EIO, field = 0;
    uh_err e;
    if (get_int(msg, "code", -1000, -1, &code, 1, &e)) code = UH_EIO;
    if (get_int(msg, "field", 0, EXEC_FIELD_LOGPROBS, &field, 0, &e)) field = 0;
    out->code = (int)code;
    out->field = (enum exec_field)field;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "message");
    snprintf(out->msg, sizeof out->msg, "%s", cJSON_IsString(m) ? m->valuestring : "refused");
    /* Shown to users: keep it printable. */
    for (char *p = out->msg; *p; p++)
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
