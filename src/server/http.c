/* http.c - the HTTP server: libmicrohttpd daemon, access rules, routing, bodies, responses,
 * built-in routes, graceful stop (contracts in http.h). */
#include "server/http.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "server/http_auth.h"
#include "server/http_impl.h"
#include "server/oai_req.h"

#define WATCHDOG_MS 100

typedef struct {
    char method[8];
    char path[128];
    http_handler fn;
    void *ud;
    int public_get; /* GET/HEAD without the token (the dashboard's static files) */
} http_route_entry;

/* One accepted socket (libmicrohttpd's socket context). deadline: when the request being read
 * must be complete (0 while a response is being produced or sent). */
typedef struct http_conn {
    struct http_conn *prev, *next;
    int fd;
    double deadline;
    int killed;
} http_conn;

struct http_server {
    http_config cfg;
    http_listen listen;
    http_token token;
    char token_path[4096];
    char hostname[256];
    char version[32];
    int listen_fd; /* ours until MHD is started with it */
    struct MHD_Daemon *daemon;
    http_route_entry routes[HTTP_MAX_ROUTES];
    int n_routes;
    metrics_registry *metrics;
    int own_metrics;
    metrics_family *m_requests, *m_duration, *m_conns, *m_streams, *m_cancels, *m_timeouts,
        *m_rejected;
    void (*on_metrics)(void *ud);
    void *on_metrics_ud;
    pthread_mutex_t lock; /* conns, streams, n_streams, stopping */
    pthread_cond_t cond;
    http_conn *conns;
    http_stream *streams;
    int n_streams;
    int stopping, stopped, watchdog_stop;
    pthread_t watchdog;
    int watchdog_running;
};

struct http_req_ctx {
    http_request req;
    struct MHD_Connection *conn;
    http_server *srv;
    const http_route_entry *route;
    const char *route_label; /* metrics label: the route's path or a fixed word */
    buf_t body;              /* capped at max_body */
    int too_large, responded, status;
    int own_origin;
    char origin[256];
    cJSON *json;
    double t_start;
};

/* ---- responses ---- */

void http_response_free(http_response *r)
{
    if (!r) return;
    free(r->body);
    for (int i = 0; i < r->n_headers; i++) {
        free(r->hname[i]);
        free(r->hvalue[i]);
    }
    if (r->stream) http_stream_unref(r->stream);
    free(r);
}

int http_response_header(http_response *r, const char *name, const char *value)
{
    if (!r || !name || !value || strpbrk(name, "\r\n: ") || strpbrk(value, "\r\n")) return UH_EINVAL;
    if (r->n_headers == HTTP_MAX_RESP_HEADERS) return UH_ELIMIT;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return UH_ENOMEM;
    }
    r->hname[r->n_headers] = n;
    r->hvalue[r->n_headers++] = v;
    return UH_OK;
}

http_response *http_text(int status, const char *content_type, const char *text, size_t len)
{
    http_response *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->status = status;
    snprintf(r->content_type, sizeof r->content_type, "%s", content_type ? content_type : "text/plain");
    r->body = malloc(len + 1);
    if (!r->body) {
        free(r);
        return NULL;
    }
    memcpy(r->body, text, len);
    r->body[len] = 0;
    r->body_len = len;
    return r;
}

http_response *http_json(int status, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!text) return NULL;
    http_response *r = http_text(status, "application/json", text, strlen(text));
    cJSON_free(text);
    return r;
}

static http_response *error_response(enum http_api api, int status, const char *message,
                                     const char *param, const char *code)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    if (api == HTTP_API_OLLAMA) {
        cJSON_AddStringToObject(root, "error", message);
    } else {
        cJSON *e = cJSON_AddObjectToObject(root, "error");
        if (e) {
            cJSON_AddStringToObject(e, "message", message);
            cJSON_AddStringToObject(e, "type", status >= 500 ? "server_error"
                                               : status == 401 ? "authentication_error"
                                                               : "invalid_request_error");
            if (param && *param)
                cJSON_AddStringToObject(e, "param", param);
            else
                cJSON_AddNullToObject(e, "param");
            if (code && *code)
                cJSON_AddStringToObject(e, "code", code);
            else
                cJSON_AddNullToObject(e, "code");
        }
    }
    return http_json(status, root);
}

http_response *http_error(const http_request *req, int status, const char *message,
                          const char *param, const char *code)
{
    return error_response(req ? req->api : HTTP_API_OPENAI, status, message, param, code);
}

/* ---- request accessors ---- */

const char *http_header(const http_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->ctx->conn, MHD_HEADER_KIND, name);
}

const char *http_query(const http_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->ctx->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- routes ---- */

int http_route(http_server *s, const char *method, const char *path, http_handler h, void *ud)
{
    if (!s || !method || !path || !h || s->daemon || strlen(method) >= 8 || strlen(path) >= 128 ||
        path[0] != '/')
        return UH_EINVAL;
    for (int i = 0; i < s->n_routes; i++)
        if (!strcmp(s->routes[i].method, method) && !strcmp(s->routes[i].path, path))
            return UH_EINVAL;
    if (s->n_routes == HTTP_MAX_ROUTES) return UH_ELIMIT;
    http_route_entry *r = &s->routes[s->n_routes++];
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->path, sizeof r->path, "%s", path);
    r->fn = h;
    r->ud = ud;
    return UH_OK;
}

int http_route_public(http_server *s, const char *path, http_handler h, void *ud)
{
    int rc = http_route(s, "GET", path, h, ud);
    if (rc == UH_OK) s->routes[s->n_routes - 1].public_get = 1;
    return rc;
}

static http_response *route_health(const http_request *req, void *ud)
{
    (void)req, (void)ud;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    return http_json(200, o);
}

static http_response *route_version(const http_request *req, void *ud)
{
    (void)req;
    http_server *s = ud;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", s->version);
    return http_json(200, o);
}

static http_response *route_metrics(const http_request *req, void *ud)
{
    (void)req;
    http_server *s = ud;
    char *text;
    size_t len;
    if (s->on_metrics) s->on_metrics(s->on_metrics_ud);
    if (metrics_render(s->metrics, &text, &len) != 0) return NULL;
    http_response *r = http_text(200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
    return r;
}

/* ---- connections (slowloris watchdog) ---- */

static void set_deadline(http_server *s, struct MHD_Connection *conn, double deadline)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (!ci || !ci->socket_context) return;
    pthread_mutex_lock(&s->lock);
    ((http_conn *)ci->socket_context)->deadline = deadline;
    pthread_mutex_unlock(&s->lock);
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    http_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        http_conn *c = calloc(1, sizeof *c);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!c) return;
        c->fd = ci ? ci->connect_fd : -1;
        c->deadline = clock_mono_s() + s->cfg.request_timeout_s;
        pthread_mutex_lock(&s->lock);
        c->next = s->conns;
        if (s->conns) s->conns->prev = c;
        s->conns = c;
        pthread_mutex_unlock(&s->lock);
        *socket_context = c;
        metrics_add(s->m_conns, NULL, 1);
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        http_conn *c = *socket_context;
        pthread_mutex_lock(&s->lock);
        if (c->prev) c->prev->next = c->next;
        else s->conns = c->next;
        if (c->next) c->next->prev = c->prev;
        pthread_mutex_unlock(&s->lock);
        free(c);
        *socket_context = NULL;
        metrics_add(s->m_conns, NULL, -1);
    }
}

/* Cuts off connections whose request did not arrive in time. shutdown() (not close) wakes the
 * connection's thread, which then closes the socket itself; the lock keeps the fd open until
 * the CLOSED notification has unlinked it. */
static void *watchdog_main(void *arg)
{
    http_server *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->watchdog_stop) {
        struct timespec ts = clock_mono_after(WATCHDOG_MS);
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        double t = clock_mono_s();
        for (http_conn *c = s->conns; c; c = c->next) {
            if (c->killed || c->deadline == 0 || t < c->deadline || c->fd < 0) continue;
            shutdown(c->fd, SHUT_RDWR);
            c->killed = 1;
            metrics_add(s->m_timeouts, NULL, 1);
            log_info("http_request_timeout", "fd=%d", c->fd);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---- streams ---- */

static void stream_ended(void *srv, http_stream *st)
{
    http_server *s = srv;
    enum http_cancel_reason why = http_stream_cancelled(st);
    static const char *const names[] = {"none", "disconnect", "shutdown", "overflow"};
    if (why != HTTP_CANCEL_NONE) metrics_add(s->m_cancels, (const char *[]){names[why]}, 1);
    pthread_mutex_lock(&s->lock);
    for (http_stream **p = &s->streams; *p; p = http_stream_next(*p))
        if (*p == st) {
            *p = *http_stream_next(st);
            s->n_streams--;
            break;
        }
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    metrics_add(s->m_streams, NULL, -1);
}

/* ---- sending a response ---- */

static enum MHD_Result send_response(struct http_req_ctx *x, http_response *r)
{
    http_server *s = x->srv;
    if (!r) r = error_response(x->req.api, 500, "internal error while building the response", NULL, NULL);
    if (!r) return MHD_NO;
    struct MHD_Response *mr = NULL;
    if (r->stream) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(x->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        mr = http_stream_mhd(r->stream, ci ? ci->connect_fd : -1, stream_ended, s);
        if (mr) {
            pthread_mutex_lock(&s->lock);
            *http_stream_next(r->stream) = s->streams;
            s->streams = r->stream;
            s->n_streams++;
            pthread_mutex_unlock(&s->lock);
            metrics_add(s->m_streams, NULL, 1);
            MHD_set_connection_option(x->conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                      (unsigned)s->cfg.stream_timeout_s);
        }
    } else {
        mr = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
        if (mr) r->body = NULL;
    }
    if (!mr) {
        http_response_free(r);
        return MHD_NO;
    }
    MHD_add_response_header(mr, "Content-Type", r->content_type);
    MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
    for (int i = 0; i < r->n_headers; i++) MHD_add_response_header(mr, r->hname[i], r->hvalue[i]);
    if (x->own_origin) {
        MHD_add_response_header(mr, "Access-Control-Allow-Origin", x->origin);
        MHD_add_response_header(mr, "Vary", "Origin");
    }
    pthread_mutex_lock(&s->lock);
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    if (stopping) MHD_add_response_header(mr, "Connection", "close");
    x->status = r->status;
    x->responded = 1;
    enum MHD_Result ok = MHD_queue_response(x->conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    http_response_free(r);
    return ok;
}

static enum MHD_Result reject(struct http_req_ctx *x, int status, const char *reason,
                              const char *message)
{
    metrics_add(x->srv->m_rejected, (const char *[]){reason}, 1);
    http_response *r = error_response(x->req.api, status, message, NULL, NULL);
    if (r && status == 401) http_response_header(r, "WWW-Authenticate", "Bearer");
    return send_response(x, r);
}

/* ---- the access handler ---- */

static int is_body_method(const char *m)
{
    return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH") || !strcmp(m, "DELETE");
}

/* Rules 1-3 of http.h and the preflight; returns 1 when a response was queued (*ret set). */
static int check_access(struct http_req_ctx *x, enum MHD_Result *ret)
{
    http_server *s = x->srv;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(x->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    x->req.is_loopback = ci && http_addr_is_loopback(ci->client_addr);
    x->req.authed = http_token_check(&s->token, http_header(&x->req, "Authorization"));
    const char *host = http_header(&x->req, "Host");
    const char *origin = http_header(&x->req, "Origin");
    if (host && !x->req.authed && !http_host_allowed(host, &s->listen, s->hostname)) {
        *ret = reject(x, 403, "host", "the Host header does not name this server");
        return 1;
    }
    int foreign_origin = 0;
    if (origin) {
        x->own_origin = host && http_origin_is_own(origin, host) && strlen(origin) < sizeof x->origin;
        if (x->own_origin) snprintf(x->origin, sizeof x->origin, "%s", origin);
        foreign_origin = !x->own_origin;
    }
    if (!strcmp(x->req.method, "OPTIONS")) {
        x->route_label = "preflight";
        if (origin && !x->own_origin) {
            *ret = reject(x, 403, "origin", "cross-origin requests are not allowed");
            return 1;
        }
        http_response *r = http_text(204, "text/plain", "", 0);
        if (r && x->own_origin) {
            http_response_header(r, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
            http_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
            http_response_header(r, "Access-Control-Max-Age", "600");
        }
        *ret = send_response(x, r);
        return 1;
    }
    int need = !x->req.is_loopback || s->cfg.require_token || foreign_origin;
    if (need && (!strcmp(x->req.method, "GET") || !strcmp(x->req.method, "HEAD")))
        for (int i = 0; i < s->n_routes; i++)
            if (s->routes[i].public_get && !strcmp(s->routes[i].path, x->req.path)) need = 0;
    if (need && !x->req.authed) {
        const char *why = foreign_origin ? "requests from another origin need the API token"
                                         : "this server needs the API token";
        char msg[160];
        snprintf(msg, sizeof msg, "%s (Authorization: Bearer <token>; see `unhosted token`)", why);
        *ret = reject(x, 401, "auth", msg);
        return 1;
    }
    return 0;
}

static enum MHD_Result dispatch(struct http_req_ctx *x)
{
    http_server *s = x->srv;
    set_deadline(s, x->conn, 0);
    if (x->too_large) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body is larger than %zu bytes", s->cfg.max_body);
        return reject(x, 413, "body_too_large", msg);
    }
    x->req.body = x->body.data ? x->body.data : "";
    x->req.body_len = x->body.len;
    if (is_body_method(x->req.method) && x->body.len > 0) {
        oai_error e;
        if (oai_json_parse(x->body.data, x->body.len, s->cfg.max_json_depth, &x->json, &e) != 0)
            return reject(x, 400, "bad_json", e.message);
        x->req.json = x->json;
    }
    return send_response(x, x->route->fn(&x->req, x->route->ud));
}

/* First call of a request: headers are in. Access rules, routing, Content-Length. */
static enum MHD_Result begin_request(struct http_req_ctx *x)
{
    http_server *s = x->srv;
    enum MHD_Result ret;
    pthread_mutex_lock(&s->lock);
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    if (stopping) return reject(x, 503, "stopping", "the server is shutting down");
    if (check_access(x, &ret)) return ret;
    const char *m = !strcmp(x->req.method, "HEAD") ? "GET" : x->req.method;
    int path_known = 0;
    char allow[64] = "";
    for (int i = 0; i < s->n_routes; i++) {
        if (strcmp(s->routes[i].path, x->req.path) != 0) continue;
        path_known = 1;
        if (!strcmp(s->routes[i].method, m)) x->route = &s->routes[i];
        size_t n = strlen(allow);
        if (n + 10 < sizeof allow)
            snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "", s->routes[i].method);
    }
    if (!x->route) {
        char msg[192];
        if (!path_known) {
            snprintf(msg, sizeof msg, "no such endpoint: %.120s", x->req.path);
            http_response *r = error_response(x->req.api, 404, msg, NULL, NULL);
            return send_response(x, r);
        }
        snprintf(msg, sizeof msg, "method %.16s is not allowed on %.120s", x->req.method,
                 x->req.path);
        http_response *r = error_response(x->req.api, 405, msg, NULL, NULL);
        if (r) http_response_header(r, "Allow", allow);
        return send_response(x, r);
    }
    x->route_label = x->route->path;
    if (!is_body_method(x->req.method)) return dispatch(x);
    const char *cl = http_header(&x->req, "Content-Length");
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || *end || n > s->cfg.max_body) {
            x->too_large = 1;
            return dispatch(x); /* answer now, without reading the body */
        }
    }
    return MHD_YES;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    (void)version;
    http_server *s = cls;
    struct http_req_ctx *x = *con_cls;
    if (!x) {
        x = calloc(1, sizeof *x);
        if (!x) return MHD_NO;
        *con_cls = x;
        x->conn = conn;
        x->srv = s;
        buf_init(&x->body, s->cfg.max_body);
        x->t_start = clock_mono_s();
        x->route_label = "unmatched";
        x->req.method = method;
        x->req.path = url;
        x->req.ctx = x;
        x->req.api = !strncmp(url, "/api/", 5) ? HTTP_API_OLLAMA : HTTP_API_OPENAI;
        return begin_request(x);
    }
    if (x->responded) { /* an early answer (413, 401): drop the rest of the body */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (x->too_large) return MHD_YES;
        int rc = buf_append(&x->body, upload_data, n);
        if (rc == UH_ELIMIT) x->too_large = 1;
        return rc == UH_ENOMEM ? MHD_NO : MHD_YES;
    }
    return dispatch(x);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    http_server *s = cls;
    struct http_req_ctx *x = *con_cls;
    if (!x) return;
    char code[8];
    snprintf(code, sizeof code, "%d", x->responded ? x->status : 0);
    metrics_add(s->m_requests, (const char *[]){x->route_label, code}, 1);
    metrics_observe(s->m_duration, (const char *[]){x->route_label}, clock_mono_s() - x->t_start);
    set_deadline(s, conn, clock_mono_s() + s->cfg.request_timeout_s); /* the next request's clock */
    cJSON_Delete(x->json);
    buf_fini(&x->body);
    free(x);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (!log_enabled(LOG_DEBUG)) return;
    char line[256];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\r\n")] = 0;
    log_debug("http_mhd", "msg=\"%s\"", line);
}

/* ---- lifecycle ---- */

static int bind_listen(http_server *s, uh_err *err)
{
    const http_listen *l = &s->listen;
    int fam = l->addr.ss_family, one = 1;
    int fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return err_setf(err, UH_EIO, "socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fam == AF_INET6) {
        int v6only = !l->wildcard; /* [::] also takes IPv4 clients */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    if (bind(fd, (const struct sockaddr *)&l->addr, l->addr_len) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        close(fd);
        return err_setf(err, UH_EIO, "cannot listen on %s:%d: %s", l->host, l->port, strerror(e));
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        s->listen.port = ntohs(fam == AF_INET ? ((struct sockaddr_in *)(void *)&ss)->sin_port
                                              : ((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
    s->listen_fd = fd;
    return UH_OK;
}

static void make_metrics(http_server *s)
{
    static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                    2.5,   5,    10,    30,   60,  120, 300};
    metrics_registry *m = s->metrics;
    s->m_requests = metrics_counter(m, "unhosted_http_requests_total",
                                    "HTTP requests answered, by route and status code", "route,code");
    s->m_duration = metrics_histogram(m, "unhosted_http_request_duration_seconds",
                                      "Time from request headers to the end of the response",
                                      "route", bounds, (int)(sizeof bounds / sizeof bounds[0]));
    s->m_conns = metrics_gauge(m, "unhosted_http_connections", "Open client connections", NULL);
    s->m_streams = metrics_gauge(m, "unhosted_http_streams", "Streaming responses in progress", NULL);
    s->m_cancels = metrics_counter(m, "unhosted_http_stream_cancels_total",
                                   "Streams cancelled before their producer finished", "reason");
    s->m_timeouts = metrics_counter(m, "unhosted_http_request_timeouts_total",
                                    "Connections cut off for sending a request too slowly", NULL);
    s->m_rejected = metrics_counter(m, "unhosted_http_rejected_total",
                                    "Requests refused by the access rules and caps", "reason");
    metrics_family *info = metrics_gauge(m, "unhosted_build_info", "Version of this server",
                                         "version");
    metrics_set(info, (const char *[]){s->version}, 1);
}

int http_server_new(const http_config *cfg, http_server **out, uh_err *err)
{
    *out = NULL;
    http_server *s = calloc(1, sizeof *s);
    if (!s) return err_setf(err, UH_ENOMEM, "out of memory");
    int rc;
    s->listen_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    clock_cond_init(&s->cond);
    if (cfg) s->cfg = *cfg;
    http_config *c = &s->cfg;
    if (!c->max_connections) c->max_connections = 128;
    if (!c->max_body) c->max_body = HTTP_DEFAULT_BODY;
    if (!c->max_json_depth) c->max_json_depth = OAI_MAX_JSON_DEPTH;
    if (c->idle_timeout_s <= 0) c->idle_timeout_s = 30;
    if (c->request_timeout_s <= 0) c->request_timeout_s = 30;
    if (c->stream_timeout_s <= 0) c->stream_timeout_s = 300;
    snprintf(s->version, sizeof s->version, "%s", c->version ? c->version : "0.0.0");
    c->version = s->version;
    if ((rc = http_parse_listen(c->listen ? c->listen : HTTP_DEFAULT_LISTEN, &s->listen, err)) != 0)
        goto fail;
    c->listen = NULL; /* not kept: the caller's string may go away */
    if (c->token_path)
        snprintf(s->token_path, sizeof s->token_path, "%s", c->token_path);
    else if ((rc = http_token_default_path(s->token_path, sizeof s->token_path)) != 0) {
        err_setf(err, rc, "cannot find the config directory for the API token");
        goto fail;
    }
    c->token_path = s->token_path;
    int created = 0;
    if ((rc = http_token_load_or_create(s->token_path, &s->token, &created, err)) != 0) goto fail;
    if (created) log_info("http_token_created", "path=%s", s->token_path);
    if (gethostname(s->hostname, sizeof s->hostname - 1) != 0) s->hostname[0] = 0;
    s->metrics = c->metrics;
    if (!s->metrics) {
        s->metrics = metrics_new();
        s->own_metrics = 1;
        if (!s->metrics) {
            rc = err_setf(err, UH_ENOMEM, "out of memory");
            goto fail;
        }
    }
    c->metrics = NULL;
    make_metrics(s);
    if ((rc = bind_listen(s, err)) != 0) goto fail;
    http_route(s, "GET", "/health", route_health, s);
    http_route(s, "GET", "/api/version", route_version, s);
    http_route(s, "GET", "/metrics", route_metrics, s);
    *out = s;
    return UH_OK;
fail:
    http_server_free(s);
    return rc;
}

int http_server_start(http_server *s, uh_err *err)
{
    if (s->daemon || s->listen_fd < 0) return err_setf(err, UH_EINVAL, "server already started");
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (s->listen.addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, access_handler, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536, MHD_OPTION_NOTIFY_COMPLETED,
        request_completed, s, MHD_OPTION_NOTIFY_CONNECTION, notify_connection, s, MHD_OPTION_END);
    if (!s->daemon) return err_setf(err, UH_EIO, "cannot start the HTTP server");
    s->listen_fd = -1; /* the daemon's now */
    if (pthread_create(&s->watchdog, NULL, watchdog_main, s) == 0) s->watchdog_running = 1;
    log_info("http_listen", "addr=%s port=%d token=%s", s->listen.host, s->listen.port,
             s->listen.loopback && !s->cfg.require_token ? "browsers-only" : "required");
    return UH_OK;
}

int http_server_port(const http_server *s) { return s->listen.port; }
int http_server_is_public(const http_server *s) { return !s->listen.loopback; }
const char *http_server_token_path(const http_server *s) { return s->token_path; }
metrics_registry *http_server_metrics(http_server *s) { return s->metrics; }

void http_server_on_metrics(http_server *s, void (*fn)(void *ud), void *ud)
{
    if (s->daemon) return;
    s->on_metrics = fn;
    s->on_metrics_ud = ud;
}

/* Waits (lock held) until no stream is left or the deadline passes. */
static void wait_streams(http_server *s, double deadline)
{
    while (s->streams && clock_mono_s() < deadline) {
        struct timespec ts = clock_mono_after(20);
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
}

void http_server_stop(http_server *s, int grace_ms)
{
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    if (s->stopped || !s->daemon) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    s->stopping = 1;
    pthread_mutex_unlock(&s->lock);
    MHD_socket lfd = MHD_quiesce_daemon(s->daemon);
    if (lfd != MHD_INVALID_SOCKET) close(lfd);
    log_info("http_stopping", "grace_ms=%d", grace_ms);
    pthread_mutex_lock(&s->lock);
    wait_streams(s, clock_mono_s() + (grace_ms > 0 ? grace_ms : 0) * 1e-3);
    int n = s->n_streams;
    http_stream **left = n ? calloc((size_t)n, sizeof *left) : NULL;
    int k = 0;
    for (http_stream *st = s->streams; st && left && k < n; st = *http_stream_next(st)) {
        http_stream_ref(st);
        left[k++] = st;
    }
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < k; i++) {
        http_stream_cancel(left[i], HTTP_CANCEL_SHUTDOWN);
        http_stream_unref(left[i]);
    }
    free(left);
    pthread_mutex_lock(&s->lock);
    wait_streams(s, clock_mono_s() + 3.0); /* the readers send what is queued and a last event */
    pthread_mutex_unlock(&s->lock);
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    pthread_mutex_lock(&s->lock);
    s->stopped = 1;
    s->watchdog_stop = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (s->watchdog_running) pthread_join(s->watchdog, NULL);
    s->watchdog_running = 0;
    log_info("http_stopped", "streams_cancelled=%d", k);
}

void http_server_free(http_server *s)
{
    if (!s) return;
    http_server_stop(s, 0);
    if (s->listen_fd >= 0) close(s->listen_fd);
    if (s->own_metrics) metrics_free(s->metrics);
    http_token_wipe(&s->token);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
