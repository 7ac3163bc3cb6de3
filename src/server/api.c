/* api.c - registration of the inference endpoints (api.h), the listing endpoints (GET /v1/models,
 * GET /api/tags, POST /api/show) and the helpers the endpoint files share (api_impl.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/err.h"
#include "server/api_impl.h"
#include "server/oai_req.h"

/* ---- helpers ---- */

http_response *api_served(http_response *r)
{
    if (r) http_response_header(r, "X-Unhosted-Served-By", "local");
    return r;
}

http_response *api_served_as(http_response *r, const char *by)
{
    if (r) http_response_header(r, "X-Unhosted-Served-By", by);
    return r;
}

http_response *api_json(int status, cJSON *body)
{
    return api_served(http_json(status, body));
}

http_response *api_error(const http_request *req, int status, const char *message,
                         const char *param, const char *code)
{
    return api_served(http_error(req, status, message, param, code));
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n) return 0;
    unsigned cp = c & (0x3Fu >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

size_t api_utf8_clean(const char *s, size_t n, char *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        size_t len = u[i] ? utf8_seq(u + i, n - i) : 0;
        if (len == 0) {
            if (u[i]) { /* U+FFFD; a NUL is dropped (it would end the C string) */
                out[w++] = (char)0xEF;
                out[w++] = (char)0xBF;
                out[w++] = (char)0xBD;
            }
            i++;
            continue;
        }
        memcpy(out + w, s + i, len);
        w += len;
        i += len;
    }
    out[w] = 0;
    return w;
}

static void rfc3339(time_t t, long usec, char buf[40])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[20];
    if (strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm) == 0) base[0] = 0;
    snprintf(buf, 40, "%s.%06dZ", base, (int)(usec % 1000000));
}

void api_rfc3339_now(char buf[40])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    rfc3339(ts.tv_sec, ts.tv_nsec / 1000, buf);
}

/* ---- listings ---- */

http_response *api_list_models(const http_request *req, void *ud)
{
    api_server *api = ud;
    exec_model_entry *es;
    int n;
    uh_err err = {0};
    if (exec_models_list(api->models, &es, &n, &err) != 0) return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    for (int i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddItemToArray(data, m);
        cJSON_AddStringToObject(m, "id", es[i].name);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", (double)es[i].added);
        cJSON_AddStringToObject(m, "owned_by", "unhosted");
    }
    /* Then the models only paired devices that are online hold: requests for them are routed
     * there. Each once, owned_by naming the first device that has it. */
    node_peer *peers = NULL;
    int n_peers = 0;
    if (api->router.node && node_peers(api->router.node, &peers, &n_peers, &err) == 0) {
        for (int p = 0; p < n_peers; p++) {
            if (!peers[p].paired || !peers[p].online) continue;
            for (int k = 0; k < peers[p].load.n_models; k++) {
                const char *name = peers[p].load.models[k];
                int seen = 0;
                for (int i = 0; i < n && !seen; i++) seen = !strcmp(es[i].name, name);
                for (int q = 0; q < p && !seen; q++)
                    for (int j = 0; j < peers[q].load.n_models && !seen; j++)
                        seen = peers[q].paired && peers[q].online &&
                               !strcmp(peers[q].load.models[j], name);
                if (seen) continue;
                char owner[16 + DEVICE_ID_STRLEN];
                snprintf(owner, sizeof owner, "peer:%s", peers[p].id);
                cJSON *m = cJSON_CreateObject();
                cJSON_AddItemToArray(data, m);
                cJSON_AddStringToObject(m, "id", name);
                cJSON_AddStringToObject(m, "object", "model");
                cJSON_AddNumberToObject(m, "created", 0);
                cJSON_AddStringToObject(m, "owned_by", owner);
            }
        }
        free(peers);
    }
    free(es);
    (void)req;
    return api_json(200, o);
}

static void param_size(uint64_t n, char *buf, size_t cap)
{
    if (n >= 1000000000ull)
        snprintf(buf, cap, "%.1fB", (double)n / 1e9);
    else if (n >= 1000000ull)
        snprintf(buf, cap, "%.1fM", (double)n / 1e6);
    else
        snprintf(buf, cap, "%.0fK", (double)n / 1e3);
}

static cJSON *ollama_details(const exec_model_entry *e)
{
    char ps[32];
    param_size(e->n_params, ps, sizeof ps);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "parent_model", "");
    cJSON_AddStringToObject(d, "format", "gguf");
    cJSON_AddStringToObject(d, "family", e->arch);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(d, "families"), cJSON_CreateString(e->arch));
    cJSON_AddStringToObject(d, "parameter_size", ps);
    cJSON_AddStringToObject(d, "quantization_level", e->quant);
    return d;
}

http_response *api_ollama_tags(const http_request *req, void *ud)
{
    api_server *api = ud;
    exec_model_entry *es;
    int n;
    uh_err err = {0};
    (void)req;
    if (exec_models_list(api->models, &es, &n, &err) != 0) return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON *models = cJSON_AddArrayToObject(o, "models");
    for (int i = 0; i < n; i++) {
        char ts[40];
        rfc3339((time_t)es[i].added, 0, ts);
        cJSON *m = cJSON_CreateObject();
        cJSON_AddItemToArray(models, m);
        cJSON_AddStringToObject(m, "name", es[i].name);
        cJSON_AddStringToObject(m, "model", es[i].name);
        cJSON_AddStringToObject(m, "modified_at", ts);
        cJSON_AddNumberToObject(m, "size", (double)es[i].size);
        cJSON_AddStringToObject(m, "digest", es[i].sha256);
        cJSON_AddItemToObject(m, "details", ollama_details(&es[i]));
    }
    free(es);
    return api_json(200, o);
}

http_response *api_ollama_show(const http_request *req, void *ud)
{
    api_server *api = ud;
    const cJSON *j = req->json;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (!name) name = cJSON_GetObjectItemCaseSensitive(j, "name");
    if (!cJSON_IsObject(j) || !cJSON_IsString(name) || !name->valuestring[0] ||
        strlen(name->valuestring) > OAI_MAX_MODEL_LEN)
        return api_error(req, 400, "model is required (a string)", "model", NULL);
    exec_model_entry e;
    uh_err err = {0};
    int rc = exec_models_lookup(api->models, name->valuestring, &e, &err);
    if (rc == UH_ENOTFOUND) return api_error(req, 404, err.msg, "model", "model_not_found");
    if (rc != 0) return api_error(req, 500, err.msg, NULL, NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "modelfile", "");
    cJSON_AddStringToObject(o, "parameters", "");
    cJSON_AddStringToObject(o, "template", "");
    cJSON_AddItemToObject(o, "details", ollama_details(&e));
    cJSON *info = cJSON_AddObjectToObject(o, "model_info");
    cJSON_AddStringToObject(info, "general.architecture", e.arch);
    cJSON_AddNumberToObject(info, "general.parameter_count", (double)e.n_params);
    char key[64];
    snprintf(key, sizeof key, "%s.context_length", e.arch);
    cJSON_AddNumberToObject(info, key, e.n_ctx_train);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "capabilities"),
                         cJSON_CreateString("completion"));
    return api_json(200, o);
}

/* ---- registration ---- */

int api_register(http_server *srv, exec_models *models, api_server **out, uh_err *err)
{
    *out = NULL;
    api_server *a = calloc(1, sizeof *a);
    if (!a) return err_setf(err, UH_ENOMEM, "out of memory");
    a->models = models;
    router_init(&a->router, models, NULL);
    atomic_init(&a->stop_deadline_ms, 0);
    atomic_init(&a->next_id, 1);
    static const struct {
        const char *method, *path;
        http_handler fn;
    } routes[] = {
        {"POST", "/v1/chat/completions", api_chat_completions},
        {"POST", "/v1/completions", api_completions},
        {"GET", "/v1/models", api_list_models},
        {"POST", "/v1/embeddings", api_embeddings},
        {"POST", "/api/chat", api_ollama_chat},
        {"POST", "/api/generate", api_ollama_generate},
        {"GET", "/api/tags", api_ollama_tags},
        {"POST", "/api/show", api_ollama_show},
        {"POST", "/api/embed", api_ollama_embed},
        {"POST", "/api/embeddings", api_ollama_embeddings},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = http_route(srv, routes[i].method, routes[i].path, routes[i].fn, a);
        if (rc != 0) {
            free(a);
            return err_setf(err, rc, "cannot register %s %s", routes[i].method, routes[i].path);
        }
    }
    http_server_on_metrics(srv, exec_models_refresh_metrics, models);
    *out = a;
    return UH_OK;
}

void api_set_node(api_server *a, node *n)
{
    a->router.node = n;
}

void api_begin_stop(api_server *a, int grace_ms)
{
    if (!a) return;
    atomic_store(&a->stop_deadline_ms, (long long)clock_mono_ms() + (grace_ms > 0 ? grace_ms : 0));
}

void api_free(api_server *a)
{
    free(a);
}
