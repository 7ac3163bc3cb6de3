/* api_admin.c - the /admin/ routes of the node (see api_admin.h and docs/cluster.md): JSON in,
 * node.h calls, JSON out. Every field of a request body is checked here (type, length, range)
 * before the node sees it; errors answer in OpenAI's shape with the field named in "param". */
#include "server/api_admin.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/clock.h"
#include "base/err.h"

#define ADMIN_QUOTA_MAX 1000000000000000LL /* tokens per day; below 2^53, exact in JSON */
#define ADMIN_PID_MAX   15                 /* characters of a pairing id */

/* The version GET /admin/self reports: the same for every server of the process. */
static char admin_version[32] = "0.0.0";

/* ---- input checks ---- */

int api_admin_addr_valid(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len >= TRUST_ADDR_MAX) return 0;
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) return 0;
    size_t host_len = (size_t)(colon - s);
    if (s[0] == '[') {
        if (host_len < 3 || s[host_len - 1] != ']') return 0;
        for (size_t i = 1; i + 1 < host_len; i++)
            if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.') return 0;
    } else {
        for (size_t i = 0; i < host_len; i++)
            if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-') return 0;
    }
    const char *port = colon + 1;
    size_t n_digits = strlen(port);
    if (n_digits == 0 || n_digits > 5) return 0;
    long v = 0;
    for (const char *p = port; *p; p++) {
        if (!isdigit((unsigned char)*p)) return 0;
        v = v * 10 + (*p - '0');
    }
    return v >= 1 && v <= 65535;
}

int api_admin_code_parse(const char *s, char out[7])
{
    int n = 0;
    for (const char *p = s; *p; p++) {
        if (*p == ' ' || *p == '-') continue;
        if (!isdigit((unsigned char)*p) || n == 6) return UH_EINVAL;
        out[n++] = *p;
    }
    if (n != 6) return UH_EINVAL;
    out[6] = '\0';
    return 0;
}

static int is_json_post(const http_request *req)
{
    const char *ct = http_header(req, "Content-Type");
    if (!ct) return 0;
    size_t n = strlen("application/json");
    if (strncasecmp(ct, "application/json", n) != 0) return 0;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* The POST body as an object (NULL body = empty object). On a bad request *resp is the error
 * answer and NULL is returned. */
static const cJSON *post_body(const http_request *req, http_response **resp)
{
    static const cJSON empty = {.type = cJSON_Object};
    *resp = NULL;
    if (!is_json_post(req)) {
        *resp = http_error(req, 415, "admin requests need Content-Type: application/json", NULL,
                           "unsupported_media_type");
        return NULL;
    }
    if (!req->json) return &empty;
    if (!cJSON_IsObject(req->json)) {
        *resp = http_error(req, 400, "the body must be a JSON object", NULL, NULL);
        return NULL;
    }
    return req->json;
}

/* An optional string field of at most max bytes: 0 (absent: *out = NULL, or set), or an error
 * answer in *resp and -1. */
static int opt_string(const http_request *req, const cJSON *body, const char *name, size_t max,
                      const char **out, http_response **resp)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return 0;
    char msg[128];
    if (!cJSON_IsString(v)) {
        snprintf(msg, sizeof msg, "'%s' must be a string", name);
        *resp = http_error(req, 400, msg, name, NULL);
        return -1;
    }
    if (strlen(v->valuestring) == 0 || strlen(v->valuestring) > max) {
        snprintf(msg, sizeof msg, "'%s' must be 1 to %zu characters", name, max);
        *resp = http_error(req, 400, msg, name, NULL);
        return -1;
    }
    *out = v->valuestring;
    return 0;
}

static int req_string(const http_request *req, const cJSON *body, const char *name, size_t max,
                      const char **out, http_response **resp)
{
    if (opt_string(req, body, name, max, out, resp) != 0) return -1;
    if (*out) return 0;
    char msg[96];
    snprintf(msg, sizeof msg, "'%s' is required", name);
    *resp = http_error(req, 400, msg, name, NULL);
    return -1;
}

/* An optional whole number in [lo, hi]; *out keeps its default when absent. */
static int opt_int(const http_request *req, const cJSON *body, const char *name, int64_t lo,
                   int64_t hi, int64_t *out, http_response **resp)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);
    if (!v || cJSON_IsNull(v)) return 0;
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1e300;
    if (!cJSON_IsNumber(v) || d != (double)(int64_t)d || d < (double)lo || d > (double)hi) {
        char msg[128];
        snprintf(msg, sizeof msg, "'%s' must be a whole number from %lld to %lld", name,
                 (long long)lo, (long long)hi);
        *resp = http_error(req, 400, msg, name, NULL);
        return -1;
    }
    *out = (int64_t)d;
    return 0;
}

static int opt_ring(const http_request *req, const cJSON *body, enum trust_ring *out,
                    http_response **resp)
{
    const char *s;
    if (opt_string(req, body, "ring", 16, &s, resp) != 0) return -1;
    if (!s) return 0;
    if (!strcmp(s, "own"))
        *out = TRUST_RING_OWN;
    else if (!strcmp(s, "trusted"))
        *out = TRUST_RING_TRUSTED;
    else {
        *resp = http_error(req, 400, "'ring' must be \"own\" or \"trusted\"", "ring", NULL);
        return -1;
    }
    return 0;
}

/* A pairing id: a short run of letters and digits (it goes back into messages). */
static int pid_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > ADMIN_PID_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i])) return 0;
    return 1;
}

/* ---- answers ---- */

static const char *ring_name(enum trust_ring r)
{
    return r == TRUST_RING_OWN ? "own" : "trusted";
}

/* The error of a node call as an HTTP answer. */
static http_response *node_error(const http_request *req, int rc, const uh_err *err)
{
    int status = 500;
    switch (rc) {
    case UH_EINVAL:
    case UH_EFORMAT:
    case UH_EUNSUPPORTED:
        status = 400;
        break;
    case UH_ENOTFOUND:
        status = 404;
        break;
    case UH_ELIMIT:
        status = 429;
        break;
    case UH_EIO:
        status = 502;
        break;
    default:
        break;
    }
    return http_error(req, status, err->msg[0] ? err->msg : "the node failed", NULL, NULL);
}

static void add_id(cJSON *o, const char *key, const char *short_key, const char *id)
{
    cJSON_AddStringToObject(o, key, id);
    char shortid[DEVICE_ID_SHORT + 1];
    size_t n = strnlen(id, DEVICE_ID_SHORT);
    memcpy(shortid, id, n);
    shortid[n] = '\0';
    cJSON_AddStringToObject(o, short_key, shortid);
}

static cJSON *pairing_json(const node_pairing *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "id", p->pid);
    cJSON_AddBoolToObject(o, "incoming", p->incoming);
    cJSON_AddStringToObject(o, "state", node_pair_state_name(p->state));
    if (p->code[0])
        cJSON_AddStringToObject(o, "code", p->code);
    else
        cJSON_AddNullToObject(o, "code");
    add_id(o, "peer_id", "peer_short", p->peer_id);
    cJSON_AddStringToObject(o, "peer_name", p->peer_name);
    cJSON_AddStringToObject(o, "peer_addr", p->peer_addr);
    cJSON_AddBoolToObject(o, "local_ok", p->local_ok);
    cJSON_AddBoolToObject(o, "remote_ok", p->remote_ok);
    cJSON_AddStringToObject(o, "message", p->message);
    cJSON_AddNumberToObject(o, "created", (double)p->created);
    return o;
}

/* {"pairing": {...}} for pid, or 404. */
static http_response *pairing_answer(const http_request *req, node *n, const char *pid)
{
    node_pairing p;
    if (node_pairing_get(n, pid, &p) != 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "no pairing with id %s", pid);
        return http_error(req, 404, msg, "id", "pairing_not_found");
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *pj = pairing_json(&p);
    if (!o || !pj) {
        cJSON_Delete(o);
        cJSON_Delete(pj);
        return NULL;
    }
    cJSON_AddItemToObject(o, "pairing", pj);
    return http_json(200, o);
}

static cJSON *peer_json(const node_peer *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    add_id(o, "id", "short", p->id);
    cJSON_AddStringToObject(o, "name", p->name);
    cJSON_AddStringToObject(o, "addr", p->addr);
    cJSON_AddBoolToObject(o, "paired", p->paired);
    cJSON_AddBoolToObject(o, "discovered", p->discovered);
    if (p->paired) {
        cJSON_AddStringToObject(o, "ring", ring_name(p->ring));
        cJSON_AddNumberToObject(o, "quota", (double)p->quota);
    } else {
        cJSON_AddNullToObject(o, "ring");
        cJSON_AddNullToObject(o, "quota");
    }
    cJSON_AddBoolToObject(o, "online", p->online);
    if (p->rtt_ms > 0)
        cJSON_AddNumberToObject(o, "rtt_ms", p->rtt_ms);
    else
        cJSON_AddNullToObject(o, "rtt_ms");
    cJSON *models = cJSON_AddArrayToObject(o, "models");
    int n_models = p->load.n_models < NODE_MAX_MODELS ? p->load.n_models : NODE_MAX_MODELS;
    for (int i = 0; models && i < n_models; i++) {
        char name[NODE_MODEL_NAME_MAX];
        snprintf(name, sizeof name, "%s", p->load.models[i]);
        cJSON_AddItemToArray(models, cJSON_CreateString(name));
    }
    cJSON *load = cJSON_AddObjectToObject(o, "load");
    if (load) {
        cJSON_AddNumberToObject(load, "active", p->load.active);
        cJSON_AddNumberToObject(load, "slots", p->load.slots);
        cJSON_AddNumberToObject(load, "queued", p->load.queued);
    }
    cJSON_AddNumberToObject(o, "last_seen", (double)p->last_seen);
    return o;
}

/* ---- GET routes: snapshots only, never the network ---- */

static http_response *h_self(const http_request *req, void *ud)
{
    (void)req;
    node *n = ud;
    const identity *id = node_identity(n);
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    add_id(o, "id", "short", identity_device_id(id));
    cJSON_AddStringToObject(o, "name", identity_name(id));
    cJSON_AddNumberToObject(o, "peer_port", node_peer_port(n));
    cJSON_AddStringToObject(o, "version", admin_version);
    return http_json(200, o);
}

static http_response *h_peers(const http_request *req, void *ud)
{
    node *n = ud;
    node_peer *peers = NULL;
    int count = 0;
    uh_err err = {0};
    int rc = node_peers(n, &peers, &count, &err);
    if (rc != 0) return node_error(req, rc, &err);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "peers") : NULL;
    for (int i = 0; arr && i < count; i++) {
        cJSON *pj = peer_json(&peers[i]);
        if (!pj) {
            cJSON_Delete(o);
            o = NULL;
            break;
        }
        cJSON_AddItemToArray(arr, pj);
    }
    free(peers);
    return o ? http_json(200, o) : NULL;
}

static http_response *h_pairings(const http_request *req, void *ud)
{
    node *n = ud;
    node_pairing *ps = NULL;
    int count = 0;
    uh_err err = {0};
    int rc = node_pairings(n, &ps, &count, &err);
    if (rc != 0) return node_error(req, rc, &err);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "pairings") : NULL;
    for (int i = 0; arr && i < count; i++) {
        cJSON *pj = pairing_json(&ps[i]);
        if (!pj) {
            cJSON_Delete(o);
            o = NULL;
            break;
        }
        cJSON_AddItemToArray(arr, pj);
    }
    free(ps);
    return o ? http_json(200, o) : NULL;
}

static http_response *h_pairing(const http_request *req, void *ud)
{
    const char *pid = http_query(req, "id");
    if (!pid) return http_error(req, 400, "missing ?id=", "id", NULL);
    if (!pid_valid(pid)) return http_error(req, 400, "'id' is not a pairing id", "id", NULL);
    return pairing_answer(req, ud, pid);
}

/* ---- POST routes ---- */

static http_response *h_peer_add(const http_request *req, void *ud)
{
    http_response *resp;
    const cJSON *body = post_body(req, &resp);
    const char *addr;
    if (!body || req_string(req, body, "addr", TRUST_ADDR_MAX - 1, &addr, &resp) != 0) return resp;
    if (!api_admin_addr_valid(addr))
        return http_error(req, 400, "'addr' must be HOST:PORT (port 1-65535)", "addr", NULL);
    char id[DEVICE_ID_STRLEN] = "";
    uh_err err = {0};
    int rc = node_peer_add(ud, addr, id, &err);
    if (rc != 0) return node_error(req, rc, &err);
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    add_id(o, "id", "short", id);
    return http_json(200, o);
}

/* Resolves an id prefix (dashes optional, any case) among paired peers: 0 with the full id,
 * else an error answer. */
static http_response *resolve_paired(const http_request *req, node *n, const char *prefix,
                                     char full[DEVICE_ID_STRLEN])
{
    char want[DEVICE_ID_STRLEN];
    size_t nw = 0;
    for (const char *p = prefix; *p; p++) {
        if (*p == '-' || *p == ' ') continue;
        if (!isalnum((unsigned char)*p) || nw + 1 >= sizeof want)
            return http_error(req, 400, "'id' is not a device id or a prefix of one", "id", NULL);
        want[nw++] = (char)toupper((unsigned char)*p);
    }
    want[nw] = '\0';
    if (nw == 0) return http_error(req, 400, "'id' is empty", "id", NULL);
    node_peer *peers = NULL;
    int count = 0, found = 0;
    uh_err err = {0};
    int rc = node_peers(n, &peers, &count, &err);
    if (rc != 0) return node_error(req, rc, &err);
    for (int i = 0; i < count; i++) {
        if (!peers[i].paired) continue;
        char flat[DEVICE_ID_STRLEN];
        size_t nf = 0;
        for (const char *p = peers[i].id; *p && nf + 1 < sizeof flat; p++)
            if (*p != '-') flat[nf++] = *p;
        flat[nf] = '\0';
        if (strncmp(flat, want, nw) != 0) continue;
        if (found++ == 0) snprintf(full, DEVICE_ID_STRLEN, "%s", peers[i].id);
    }
    free(peers);
    char msg[128];
    if (found == 0) {
        snprintf(msg, sizeof msg, "no paired device matches %.64s", prefix);
        return http_error(req, 404, msg, "id", "device_not_found");
    }
    if (found > 1) {
        snprintf(msg, sizeof msg, "%.64s matches %d paired devices: type more of the id", prefix,
                 found);
        return http_error(req, 400, msg, "id", NULL);
    }
    return NULL;
}

static http_response *h_revoke(const http_request *req, void *ud)
{
    http_response *resp;
    const cJSON *body = post_body(req, &resp);
    const char *prefix;
    if (!body || req_string(req, body, "id", DEVICE_ID_STRLEN - 1, &prefix, &resp) != 0)
        return resp;
    char id[DEVICE_ID_STRLEN];
    if ((resp = resolve_paired(req, ud, prefix, id))) return resp;
    uh_err err = {0};
    int rc = node_revoke(ud, id, &err);
    if (rc != 0) return node_error(req, rc, &err);
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "revoked", id);
    return http_json(200, o);
}

static http_response *h_pair(const http_request *req, void *ud)
{
    http_response *resp;
    const cJSON *body = post_body(req, &resp);
    const char *target;
    enum trust_ring ring = TRUST_RING_OWN;
    int64_t quota = 0;
    if (!body || req_string(req, body, "target", ADMIN_TARGET_MAX - 1, &target, &resp) != 0 ||
        opt_ring(req, body, &ring, &resp) != 0 ||
        opt_int(req, body, "quota", 0, ADMIN_QUOTA_MAX, &quota, &resp) != 0)
        return resp;
    int is_addr = strchr(target, ':') != NULL;
    size_t n_id = strspn(target, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-");
    if (is_addr ? !api_admin_addr_valid(target) : n_id != strlen(target))
        return http_error(req, 400, "'target' must be a device id prefix or HOST:PORT", "target",
                          NULL);
    char pid[16] = "";
    uh_err err = {0};
    int rc = node_pair_start(ud, target, ring, quota, pid, &err);
    if (rc != 0) return node_error(req, rc, &err);
    return pairing_answer(req, ud, pid);
}

/* accept (1) or reject (0) the pairing named in the body. */
static http_response *decide(const http_request *req, node *n, int accept)
{
    http_response *resp;
    const cJSON *body = post_body(req, &resp);
    const char *pid, *code_text = NULL;
    enum trust_ring ring = TRUST_RING_OWN;
    int64_t quota = 0;
    if (!body || req_string(req, body, "id", ADMIN_PID_MAX, &pid, &resp) != 0) return resp;
    if (!pid_valid(pid)) return http_error(req, 400, "'id' is not a pairing id", "id", NULL);
    char code[7];
    if (accept) {
        if (opt_string(req, body, "code", 16, &code_text, &resp) != 0 ||
            opt_ring(req, body, &ring, &resp) != 0 ||
            opt_int(req, body, "quota", 0, ADMIN_QUOTA_MAX, &quota, &resp) != 0)
            return resp;
        if (code_text && api_admin_code_parse(code_text, code) != 0)
            return http_error(req, 400, "'code' must be the 6 digits shown", "code", NULL);
    }
    node_pairing p;
    if (node_pairing_get(n, pid, &p) != 0) return pairing_answer(req, n, pid); /* 404 */
    char msg[128];
    if (p.state != PAIR_WAITING) {
        snprintf(msg, sizeof msg, "pairing %s is %s, not waiting for a decision", pid,
                 node_pair_state_name(p.state));
        return http_error(req, 409, msg, "id", "pairing_not_waiting");
    }
    uh_err err = {0};
    int rc = node_pair_decide(n, pid, accept, code_text ? code : NULL, ring, quota, &err);
    if (rc == UH_ENOTFOUND) return pairing_answer(req, n, pid);
    if (rc == UH_EINVAL) {
        snprintf(msg, sizeof msg, "pairing %s: %.96s", pid, err.msg[0] ? err.msg : "not waiting");
        return http_error(req, 409, msg, "id", "pairing_not_waiting");
    }
    if (rc != 0) return node_error(req, rc, &err);
    return pairing_answer(req, n, pid);
}

static http_response *h_accept(const http_request *req, void *ud)
{
    return decide(req, ud, 1);
}

static http_response *h_reject(const http_request *req, void *ud)
{
    return decide(req, ud, 0);
}

static http_response *h_invite(const http_request *req, void *ud)
{
    http_response *resp;
    const cJSON *body = post_body(req, &resp);
    enum trust_ring ring = TRUST_RING_TRUSTED;
    int64_t quota = 0, ttl = ADMIN_INVITE_TTL_DEFAULT;
    if (!body || opt_ring(req, body, &ring, &resp) != 0 ||
        opt_int(req, body, "quota", 0, ADMIN_QUOTA_MAX, &quota, &resp) != 0 ||
        opt_int(req, body, "ttl", ADMIN_INVITE_TTL_MIN, ADMIN_INVITE_TTL_MAX, &ttl, &resp) != 0)
        return resp;
    char code[128] = "";
    uh_err err = {0};
    int rc = node_invite(ud, ring, quota, (int)ttl, code, &err);
    if (rc != 0) return node_error(req, rc, &err);
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "code", code);
    cJSON_AddNumberToObject(o, "expires", (double)(clock_wall_s() + ttl));
    return http_json(200, o);
}

static http_response *h_join(const http_request *req, void *ud)
{
    http_response *resp;
    const cJSON *body = post_body(req, &resp);
    const char *code;
    int64_t quota = 0;
    if (!body || req_string(req, body, "code", 127, &code, &resp) != 0 ||
        opt_int(req, body, "quota", 0, ADMIN_QUOTA_MAX, &quota, &resp) != 0)
        return resp;
    char id[DEVICE_ID_STRLEN] = "";
    uh_err err = {0};
    int rc = node_join(ud, code, quota, id, &err);
    if (rc != 0) return node_error(req, rc, &err);
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    add_id(o, "id", "short", id);
    return http_json(200, o);
}

/* ---- registration ---- */

int api_admin_register(http_server *srv, node *n, const char *version, uh_err *err)
{
    static const struct {
        const char *method, *path;
        http_handler fn;
    } routes[] = {
        {"GET", "/admin/self", h_self},
        {"GET", "/admin/peers", h_peers},
        {"POST", "/admin/peers/add", h_peer_add},
        {"POST", "/admin/revoke", h_revoke},
        {"POST", "/admin/pair", h_pair},
        {"GET", "/admin/pairings", h_pairings},
        {"GET", "/admin/pairing", h_pairing},
        {"POST", "/admin/pairing/accept", h_accept},
        {"POST", "/admin/pairing/reject", h_reject},
        {"POST", "/admin/invite", h_invite},
        {"POST", "/admin/join", h_join},
    };
    if (version) snprintf(admin_version, sizeof admin_version, "%s", version);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = http_route(srv, routes[i].method, routes[i].path, routes[i].fn, n);
        if (rc != 0)
            return err_setf(err, rc, "cannot register %s %s", routes[i].method, routes[i].path);
    }
    return 0;
}
