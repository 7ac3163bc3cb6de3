/* api_pull.c - POST /api/pull: the node pulls a model into its store.
 *
 * Request: {"model": NAME | URL | hf://..., "insecure": bool, "stream": bool} ("name" is
 * accepted for "model", as older clients send it). "insecure" allows a file whose digest nobody
 * publishes (the CLI's --no-verify). Streaming (the default) answers NDJSON events as the pull
 * progresses: {"status":"pulling manifest"}, {"status":"pulling <digest>","digest":"sha256:..",
 * "total":N,"completed":M} (at most every 250 ms), {"status":"verifying sha256 digest"},
 * {"status":"writing manifest"}, {"status":"success"}; a failure ends the stream with
 * {"error":"..."}. With "stream": false the answer is one object when the pull is over.
 *
 * The download runs on a thread of its own; a client that disconnects cancels it (the partial
 * download stays, and the next pull of the same file resumes it). */
#include "server/api_pull.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "models/pull.h"
#include "models/store.h"

#define PROGRESS_INTERVAL_S 0.25

typedef struct {
    http_stream *stream; /* NULL for a non-streaming request */
    atomic_int cancelled;
    pull_target target;
    char sha[65];        /* copy: target.sha256 may point into the request */
    int insecure;
    double last_sent;
    const char *last_status;
} pull_job;

static void send_status(pull_job *j, const char *status)
{
    if (!j->stream) return;
    cJSON *o = cJSON_CreateObject();
    if (!o) return;
    cJSON_AddStringToObject(o, "status", status);
    http_stream_send_json(j->stream, o);
    cJSON_Delete(o);
}

static int on_progress(const pull_progress *p, void *ud)
{
    pull_job *j = ud;
    if (atomic_load(&j->cancelled)) return 1;
    if (!j->stream) return 0;
    double t = clock_mono_s();
    int changed = j->last_status != p->status;
    if (!changed && t - j->last_sent < PROGRESS_INTERVAL_S) return 0;
    j->last_status = p->status;
    j->last_sent = t;
    if (!strcmp(p->status, "downloading")) {
        cJSON *o = cJSON_CreateObject();
        if (!o) return 0;
        char status[128];
        snprintf(status, sizeof status, "pulling %.12s", j->sha[0] ? j->sha : j->target.name);
        cJSON_AddStringToObject(o, "status", status);
        if (j->sha[0]) {
            char digest[80];
            snprintf(digest, sizeof digest, "sha256:%s", j->sha);
            cJSON_AddStringToObject(o, "digest", digest);
        }
        cJSON_AddNumberToObject(o, "total", (double)p->total);
        cJSON_AddNumberToObject(o, "completed", (double)p->done);
        int rc = http_stream_send_json(j->stream, o);
        cJSON_Delete(o);
        return rc != 0 && atomic_load(&j->cancelled);
    }
    if (!strcmp(p->status, "verifying")) send_status(j, "verifying sha256 digest");
    return 0;
}

/* Runs the pull; returns 0 or an error code with err filled. */
static int run_pull(pull_job *j, uh_err *err)
{
    store *s = NULL;
    int rc = store_open(&s, err);
    if (rc) return rc;
    pull_opts o = {0};
    o.url = j->target.url;
    o.sha256 = j->sha[0] ? j->sha : NULL;
    o.size = j->target.size;
    o.name = j->target.name;
    o.tag = j->target.tag;
    o.no_verify = j->insecure;
    o.progress = on_progress;
    o.progress_ud = j;
    store_entry e;
    send_status(j, "pulling manifest");
    rc = pull_model(s, &o, &e, err);
    store_close(s);
    if (rc == 0) send_status(j, "writing manifest");
    return rc;
}

static void on_cancel(void *ud, enum http_cancel_reason why)
{
    (void)why;
    pull_job *j = ud;
    atomic_store(&j->cancelled, 1);
}

static void *pull_thread(void *arg)
{
    pull_job *j = arg;
    uh_err err = {0};
    int rc = run_pull(j, &err);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        if (rc == 0) cJSON_AddStringToObject(o, "status", "success");
        else cJSON_AddStringToObject(o, "error", err.msg[0] ? err.msg : uh_strerror(rc));
        http_stream_send_json(j->stream, o);
        cJSON_Delete(o);
    }
    if (rc) log_warn("api_pull_failed", "model=%s:%s code=%d", j->target.name, j->target.tag, rc);
    http_stream_close(j->stream); /* after this the cancel callback never runs again */
    free(j);
    return NULL;
}

static int status_for(int rc)
{
    switch (rc) {
    case UH_EINVAL: return 400;
    case UH_ENOTFOUND: return 404;
    case UH_EUNSUPPORTED: return 400;
    case UH_EFORMAT: return 422; /* the file is not what it should be: digest or format */
    case UH_ELIMIT: return 507;  /* not enough disk space */
    default: return 502;         /* the upstream server or the network failed us */
    }
}

static http_response *handle_pull(const http_request *req, void *ud)
{
    (void)ud;
    const cJSON *body = req->json;
    if (!cJSON_IsObject(body)) return http_error(req, 400, "expected a JSON object", NULL, NULL);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
    if (!model) model = cJSON_GetObjectItemCaseSensitive(body, "name");
    if (!cJSON_IsString(model) || !model->valuestring[0] ||
        strlen(model->valuestring) > PULL_MAX_URL)
        return http_error(req, 400, "model: expected a model name or URL", "model", NULL);
    const cJSON *insecure = cJSON_GetObjectItemCaseSensitive(body, "insecure");
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(body, "stream");
    if ((insecure && !cJSON_IsBool(insecure)) || (stream && !cJSON_IsBool(stream)))
        return http_error(req, 400, "insecure and stream must be booleans", NULL, NULL);

    pull_job *j = calloc(1, sizeof *j);
    if (!j) return http_error(req, 500, "out of memory", NULL, NULL);
    uh_err err = {0};
    int rc = pull_resolve_target(model->valuestring, NULL, NULL, &j->target, &err);
    if (rc) {
        free(j);
        return http_error(req, status_for(rc), err.msg, "model", NULL);
    }
    if (j->target.sha256) snprintf(j->sha, sizeof j->sha, "%s", j->target.sha256);
    j->target.sha256 = NULL;
    j->insecure = cJSON_IsTrue(insecure);

    if (stream && cJSON_IsFalse(stream)) {
        rc = run_pull(j, &err);
        free(j);
        if (rc) return http_error(req, status_for(rc), err.msg, NULL, NULL);
        cJSON *o = cJSON_CreateObject();
        if (o) cJSON_AddStringToObject(o, "status", "success");
        return http_json(200, o);
    }
    j->stream = http_stream_new(HTTP_STREAM_NDJSON, 0);
    if (!j->stream) {
        free(j);
        return http_error(req, 500, "out of memory", NULL, NULL);
    }
    http_response *resp = http_stream_response(j->stream);
    http_stream_on_cancel(j->stream, on_cancel, j);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, pull_thread, j) != 0) {
        pthread_attr_destroy(&attr);
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddStringToObject(o, "error", "cannot start the download");
            http_stream_send_json(j->stream, o);
            cJSON_Delete(o);
        }
        http_stream_close(j->stream);
        free(j);
        return resp;
    }
    pthread_attr_destroy(&attr);
    return resp;
}

int api_pull_register(http_server *srv) { return http_route(srv, "POST", "/api/pull", handle_pull, NULL); }
