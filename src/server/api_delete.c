/* api_delete.c - DELETE /api/delete: removes a model's manifest from the store, and its blob
 * when no other name uses it (store_remove).
 *
 * Request: {"model": "name[:tag]"} as the JSON body (Ollama's shape; "name" is accepted for
 * "model", as older clients send it) or ?model=name[:tag] in the query string (for clients that
 * cannot send a body with DELETE). Answers 200 {} when removed, 404 {"error"} when the store has
 * no such model, 400 for a missing or invalid name. Only store names: a model given to `serve`
 * with --model by path, or found in another tool's store, is never deleted over HTTP.
 *
 * A model that is loaded keeps running from its mapping (the file is gone from the store, not
 * from memory) until the model manager unloads it. */
#include "server/api_delete.h"

#include <stdio.h>

#include "base/log.h"
#include "models/store.h"

static http_response *handle_delete(const http_request *req, void *ud)
{
    (void)ud;
    const char *spec = http_query(req, "model");
    if (!spec && req->json) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(req->json, "model");
        if (!m) m = cJSON_GetObjectItemCaseSensitive(req->json, "name");
        if (m && !cJSON_IsString(m))
            return http_error(req, 400, "model must be a string", "model", NULL);
        if (m) spec = m->valuestring;
    }
    if (!spec || !*spec) return http_error(req, 400, "model is required", "model", NULL);
    char name[STORE_MAX_NAME + 1], tag[STORE_MAX_TAG + 1];
    uh_err err = {0};
    if (store_parse_name(spec, name, tag, &err) != 0)
        return http_error(req, 400, err.msg, "model", NULL);
    store *st = NULL;
    if (store_open(&st, &err) != 0) return http_error(req, 500, err.msg, NULL, NULL);
    int rc = store_remove(st, name, tag, &err);
    store_close(st);
    if (rc == UH_ENOTFOUND) {
        char msg[256];
        snprintf(msg, sizeof msg, "model '%s:%s' not found", name, tag);
        return http_error(req, 404, msg, NULL, NULL);
    }
    if (rc != 0) return http_error(req, 500, err.msg, NULL, NULL);
    log_info("model_deleted", "name=%s tag=%s", name, tag);
    return http_json(200, cJSON_CreateObject());
}

int api_delete_register(http_server *srv)
{
    return http_route(srv, "DELETE", "/api/delete", handle_delete, NULL);
}
