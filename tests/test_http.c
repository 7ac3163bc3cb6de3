/* test_http.c - the HTTP server end to end, in process, over loopback: built-in routes, error
 * shapes, caps, the access rules (Host, Origin/CORS, token), slow clients, streaming with
 * disconnects, graceful stop; plus the token file, --listen parsing and the metrics text.
 *
 * "Remote" clients are simulated with http_config.require_token (every client needs the token),
 * since a test may only talk to 127.0.0.1: the rule for non-loopback clients is the same code
 * path (need && !authed), and http_addr_is_loopback is tested on its own below. */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/buf.h"
#include "base/clock.h"
#include "check.h"
#include "server/http.h"
#include "server/http_auth.h"
#include "base/metrics.h"

static char g_dir[256];
static char g_token_path[300];

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- a small curl client ---- */

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    return buf_append(ud, p, sz * n) == 0 ? sz * n : 0;
}

typedef struct {
    long status;
    buf_t body, headers;
} resp_t;

static void resp_free(resp_t *r)
{
    free(r->body.data);
    free(r->headers.data);
    memset(r, 0, sizeof *r);
}

/* hdrs: NULL-terminated list of "Name: value" lines. */
static int fetch(int port, const char *method, const char *path, const char *const *hdrs,
                 const char *body, resp_t *r)
{
    memset(r, 0, sizeof *r);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    for (int i = 0; hdrs && hdrs[i]; i++) hl = curl_slist_append(hl, hdrs[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (!r->body.data) r->body.data = calloc(1, 1);
    if (!r->headers.data) r->headers.data = calloc(1, 1);
    return rc == CURLE_OK ? 0 : -1;
}

static int has_header(const resp_t *r, const char *line)
{
    return strcasestr(r->headers.data, line) != NULL;
}

/* ---- test routes ---- */

static http_response *route_echo(const http_request *req, void *ud)
{
    (void)ud;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "body_len", (double)req->body_len);
    cJSON_AddBoolToObject(o, "authed", req->authed);
    cJSON_AddBoolToObject(o, "loopback", req->is_loopback);
    cJSON_AddBoolToObject(o, "json", req->json != NULL);
    return http_json(200, o);
}

/* A producer that sends n events (n < 0: until cancelled), one every period_ms. */
typedef struct {
    http_stream *s;
    int n, period_ms;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    enum http_cancel_reason why; /* what the cancel callback reported */
    int sent, done;
    pthread_t thread;
    int started;
} producer_t;

static producer_t g_prod;

static void on_cancel(void *ud, enum http_cancel_reason why)
{
    producer_t *p = ud;
    pthread_mutex_lock(&p->lock);
    p->why = why;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static void *producer_main(void *arg)
{
    producer_t *p = arg;
    for (int i = 0; p->n < 0 || i < p->n; i++) {
        pthread_mutex_lock(&p->lock);
        int cancelled = p->why != HTTP_CANCEL_NONE;
        pthread_mutex_unlock(&p->lock);
        if (cancelled) break;
        char ev[64];
        snprintf(ev, sizeof ev, "{\"i\":%d}", i);
        if (http_stream_send(p->s, ev, strlen(ev)) != 0) break;
        p->sent++;
        struct timespec ts = clock_mono_after(p->period_ms); /* cut short by the cancel */
        pthread_mutex_lock(&p->lock);
        if (p->why == HTTP_CANCEL_NONE) pthread_cond_timedwait(&p->cond, &p->lock, &ts);
        pthread_mutex_unlock(&p->lock);
    }
    if (http_stream_cancelled(p->s) == HTTP_CANCEL_NONE) http_stream_send_done(p->s);
    http_stream_close(p->s);
    pthread_mutex_lock(&p->lock);
    p->done = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static http_response *route_stream(const http_request *req, void *ud)
{
    (void)ud;
    const char *n = http_query(req, "n");
    const char *period = http_query(req, "ms");
    producer_t *p = &g_prod;
    p->s = http_stream_new(HTTP_STREAM_SSE, 0);
    p->n = n ? atoi(n) : 3;
    p->period_ms = period ? atoi(period) : 1;
    p->why = HTTP_CANCEL_NONE;
    p->sent = p->done = 0;
    http_response *r = http_stream_response(p->s);
    http_stream_on_cancel(p->s, on_cancel, p);
    p->started = pthread_create(&p->thread, NULL, producer_main, p) == 0;
    return r;
}

static void producer_join(void)
{
    if (g_prod.started) pthread_join(g_prod.thread, NULL);
    g_prod.started = 0;
}

/* ---- server setup ---- */

static http_server *start(const char *listen, int require_token, size_t max_body, int req_timeout)
{
    http_config cfg = {.listen = listen, .token_path = g_token_path, .version = "9.8.7",
                       .require_token = require_token, .max_body = max_body,
                       .request_timeout_s = req_timeout};
    http_server *s = NULL;
    uh_err err = {0};
    if (http_server_new(&cfg, &s, &err) != 0) {
        printf("  server: %s\n", err.msg);
        return NULL;
    }
    http_route(s, "POST", "/v1/echo", route_echo, NULL);
    http_route(s, "POST", "/api/echo", route_echo, NULL);
    http_route(s, "GET", "/v1/stream", route_stream, NULL);
    if (http_server_start(s, &err) != 0) {
        printf("  start: %s\n", err.msg);
        http_server_free(s);
        return NULL;
    }
    return s;
}

static void read_token(http_token *t)
{
    uh_err err;
    http_token_load_or_create(g_token_path, t, NULL, &err);
}

/* ---- cases ---- */

static void test_builtin_routes(void)
{
    http_server *s = start("127.0.0.1:0", 0, 0, 0);
    CHECK(s != NULL);
    if (!s) return;
    int port = http_server_port(s);
    CHECK(port > 0);
    resp_t r;
    CHECK(fetch(port, "GET", "/health", NULL, NULL, &r) == 0);
    CHECK(r.status == 200 && strstr(r.body.data, "\"status\":\"ok\""));
    CHECK(has_header(&r, "Content-Type: application/json"));
    resp_free(&r);
    fetch(port, "GET", "/api/version", NULL, NULL, &r);
    CHECK(r.status == 200 && strstr(r.body.data, "\"version\":\"9.8.7\""));
    resp_free(&r);
    fetch(port, "HEAD", "/health", NULL, NULL, &r);
    CHECK(r.status == 200);
    resp_free(&r);
    fetch(port, "GET", "/metrics", NULL, NULL, &r);
    CHECK(r.status == 200 && has_header(&r, "Content-Type: text/plain; version=0.0.4"));
    CHECK(strstr(r.body.data, "# TYPE unhosted_http_requests_total counter\n") != NULL);
    CHECKF(strstr(r.body.data, "unhosted_http_requests_total{route=\"/health\",code=\"200\"} 2\n"),
           "%s", r.body.data);
    CHECK(strstr(r.body.data, "unhosted_http_request_duration_seconds_bucket{route=\"/health\","
                              "le=\"+Inf\"} 2\n") != NULL);
    CHECK(strstr(r.body.data, "unhosted_build_info{version=\"9.8.7\"} 1\n") != NULL);
    resp_free(&r);
    http_server_free(s);
}

static void test_error_shapes(void)
{
    http_server *s = start("127.0.0.1:0", 0, 0, 0);
    if (!s) {
        CHECK(0);
        return;
    }
    int port = http_server_port(s);
    resp_t r;
    fetch(port, "GET", "/v1/nothing", NULL, NULL, &r);
    CHECK(r.status == 404);
    CHECKF(strstr(r.body.data, "{\"error\":{\"message\":\"no such endpoint: /v1/nothing\","
                               "\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}"),
           "%s", r.body.data);
    resp_free(&r);
    fetch(port, "GET", "/api/nothing", NULL, NULL, &r);
    CHECKF(r.status == 404 && !strcmp(r.body.data, "{\"error\":\"no such endpoint: /api/nothing\"}"),
           "%s", r.body.data);
    resp_free(&r);
    fetch(port, "DELETE", "/health", NULL, NULL, &r);
    CHECK(r.status == 405 && has_header(&r, "Allow: GET"));
    CHECK(strstr(r.body.data, "\"type\":\"invalid_request_error\"") != NULL);
    resp_free(&r);
    fetch(port, "GET", "/v1/echo", NULL, NULL, &r);
    CHECK(r.status == 405 && has_header(&r, "Allow: POST"));
    resp_free(&r);
    /* bodies: valid, invalid, too deep, empty */
    fetch(port, "POST", "/v1/echo", NULL, "{\"a\":[1,2,{\"b\":null}]}", &r);
    CHECKF(r.status == 200 && strstr(r.body.data, "\"json\":true"), "%ld %s", r.status, r.body.data);
    resp_free(&r);
    fetch(port, "POST", "/v1/echo", NULL, "{\"a\":", &r);
    CHECK(r.status == 400 && strstr(r.body.data, "not valid JSON"));
    resp_free(&r);
    fetch(port, "POST", "/api/echo", NULL, "{\"a\":1} x", &r);
    CHECKF(r.status == 400 && !strncmp(r.body.data, "{\"error\":\"request body is not valid JSON", 40),
           "%s", r.body.data);
    resp_free(&r);
    char deep[200];
    memset(deep, '[', 40);
    memset(deep + 40, ']', 40);
    deep[80] = 0;
    fetch(port, "POST", "/v1/echo", NULL, deep, &r);
    CHECK(r.status == 400 && strstr(r.body.data, "nesting is deeper than 32"));
    resp_free(&r);
    memset(deep, '[', 32);
    memset(deep + 32, ']', 32);
    deep[64] = 0;
    fetch(port, "POST", "/v1/echo", NULL, deep, &r);
    CHECK(r.status == 200); /* exactly at the cap */
    resp_free(&r);
    fetch(port, "POST", "/v1/echo", NULL, "", &r);
    CHECK(r.status == 200 && strstr(r.body.data, "\"json\":false"));
    resp_free(&r);
    http_server_free(s);
}

static void test_body_cap(void)
{
    http_server *s = start("127.0.0.1:0", 0, 1024, 0);
    if (!s) {
        CHECK(0);
        return;
    }
    int port = http_server_port(s);
    char *big = malloc(4096);
    memset(big, ' ', 4095);
    big[0] = '1';
    big[4095] = 0;
    resp_t r;
    fetch(port, "POST", "/v1/echo", NULL, big, &r); /* Content-Length: refused before reading */
    CHECKF(r.status == 413 && strstr(r.body.data, "larger than 1024 bytes"), "%ld %s", r.status,
           r.body.data);
    resp_free(&r);
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    fetch(port, "POST", "/v1/echo", chunked, big, &r); /* no length: read, dropped, refused */
    CHECKF(r.status == 413, "%ld", r.status);
    resp_free(&r);
    big[1000] = 0;
    fetch(port, "POST", "/v1/echo", NULL, big, &r);
    CHECK(r.status == 200 && strstr(r.body.data, "\"body_len\":1000"));
    resp_free(&r);
    free(big);
    fetch(port, "GET", "/metrics", NULL, NULL, &r);
    CHECK(strstr(r.body.data, "unhosted_http_rejected_total{reason=\"body_too_large\"} 2") != NULL);
    resp_free(&r);
    http_server_free(s);
}

static void test_host_check(void)
{
    http_server *s = start("127.0.0.1:0", 0, 0, 0);
    if (!s) {
        CHECK(0);
        return;
    }
    int port = http_server_port(s);
    http_token tok;
    read_token(&tok);
    char ok_hosts[3][64], bad_hosts[4][64], auth[128];
    snprintf(ok_hosts[0], 64, "Host: localhost:%d", port);
    snprintf(ok_hosts[1], 64, "Host: 127.0.0.1:%d", port);
    snprintf(ok_hosts[2], 64, "Host: [::1]:%d", port);
    snprintf(bad_hosts[0], 64, "Host: attacker.example:%d", port);
    snprintf(bad_hosts[1], 64, "Host: localhost:%d", port + 1);
    snprintf(bad_hosts[2], 64, "Host: localhost");
    snprintf(bad_hosts[3], 64, "Host: 10.0.0.1:%d", port); /* not a wildcard listener */
    resp_t r;
    for (int i = 0; i < 3; i++) {
        const char *h[] = {ok_hosts[i], NULL};
        fetch(port, "GET", "/health", h, NULL, &r);
        CHECKF(r.status == 200, "%s -> %ld", ok_hosts[i], r.status);
        resp_free(&r);
    }
    for (int i = 0; i < 4; i++) {
        const char *h[] = {bad_hosts[i], NULL};
        fetch(port, "GET", "/health", h, NULL, &r);
        CHECKF(r.status == 403 && strstr(r.body.data, "Host header"), "%s -> %ld", bad_hosts[i],
               r.status);
        resp_free(&r);
    }
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok.hex);
    const char *h[] = {bad_hosts[0], auth, NULL}; /* a token holder is not a rebinding victim */
    fetch(port, "GET", "/health", h, NULL, &r);
    CHECK(r.status == 200);
    resp_free(&r);
    http_token_wipe(&tok);
    http_server_free(s);
}

static void test_cors(void)
{
    http_server *s = start("127.0.0.1:0", 0, 0, 0);
    if (!s) {
        CHECK(0);
        return;
    }
    int port = http_server_port(s);
    char own[80], acao[120];
    snprintf(own, sizeof own, "Origin: http://127.0.0.1:%d", port);
    snprintf(acao, sizeof acao, "Access-Control-Allow-Origin: http://127.0.0.1:%d", port);
    resp_t r;
    const char *own_h[] = {own, NULL};
    fetch(port, "GET", "/health", own_h, NULL, &r);
    CHECK(r.status == 200 && has_header(&r, acao) && has_header(&r, "Vary: Origin"));
    resp_free(&r);
    const char *foreign[] = {"Origin: http://evil.example", NULL};
    fetch(port, "POST", "/v1/echo", foreign, "{}", &r);
    CHECK(r.status == 401 && !has_header(&r, "Access-Control-Allow-Origin"));
    CHECK(has_header(&r, "WWW-Authenticate: Bearer"));
    CHECK(strstr(r.body.data, "\"type\":\"authentication_error\"") != NULL);
    resp_free(&r);
    const char *pre_own[] = {own, "Access-Control-Request-Method: POST", NULL};
    fetch(port, "OPTIONS", "/v1/echo", pre_own, NULL, &r);
    CHECK(r.status == 204 && has_header(&r, acao));
    CHECK(has_header(&r, "Access-Control-Allow-Headers: Authorization, Content-Type"));
    resp_free(&r);
    const char *pre_foreign[] = {"Origin: http://evil.example",
                                 "Access-Control-Request-Method: POST", NULL};
    fetch(port, "OPTIONS", "/v1/echo", pre_foreign, NULL, &r);
    CHECK(r.status == 403 && !has_header(&r, "Access-Control-Allow-Origin"));
    resp_free(&r);
    /* a foreign origin with the token may call (but still gets no CORS grant) */
    http_token tok;
    read_token(&tok);
    char auth[128];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok.hex);
    const char *foreign_auth[] = {"Origin: http://evil.example", auth, NULL};
    fetch(port, "POST", "/v1/echo", foreign_auth, "{}", &r);
    CHECK(r.status == 200 && strstr(r.body.data, "\"authed\":true"));
    CHECK(!has_header(&r, "Access-Control-Allow-Origin"));
    resp_free(&r);
    http_token_wipe(&tok);
    http_server_free(s);
}

static void test_token_required(void)
{
    http_server *s = start("127.0.0.1:0", 1, 0, 0);
    if (!s) {
        CHECK(0);
        return;
    }
    int port = http_server_port(s);
    http_token tok;
    read_token(&tok);
    char good[128], wrong[128], lower[128];
    snprintf(good, sizeof good, "Authorization: Bearer %s", tok.hex);
    snprintf(lower, sizeof lower, "Authorization: bearer  %s ", tok.hex);
    snprintf(wrong, sizeof wrong, "Authorization: Bearer %s", tok.hex);
    wrong[strlen(wrong) - 1] ^= 1;
    resp_t r;
    fetch(port, "GET", "/health", NULL, NULL, &r);
    CHECK(r.status == 401 && has_header(&r, "WWW-Authenticate: Bearer"));
    CHECK(strstr(r.body.data, "unhosted token") != NULL);
    resp_free(&r);
    fetch(port, "GET", "/api/nothing", NULL, NULL, &r); /* 401 before 404: no route probing */
    CHECK(r.status == 401 && !strncmp(r.body.data, "{\"error\":\"", 10));
    resp_free(&r);
    const char *w[] = {wrong, NULL};
    fetch(port, "GET", "/health", w, NULL, &r);
    CHECK(r.status == 401);
    resp_free(&r);
    const char *basic[] = {"Authorization: Basic dXNlcjpwYXNz", NULL};
    fetch(port, "GET", "/health", basic, NULL, &r);
    CHECK(r.status == 401);
    resp_free(&r);
    const char *g[] = {good, NULL};
    fetch(port, "GET", "/health", g, NULL, &r);
    CHECK(r.status == 200);
    resp_free(&r);
    const char *l[] = {lower, NULL};
    fetch(port, "POST", "/v1/echo", l, "{}", &r);
    CHECK(r.status == 200 && strstr(r.body.data, "\"authed\":true") &&
          strstr(r.body.data, "\"loopback\":true"));
    resp_free(&r);
    http_token_wipe(&tok);
    http_server_free(s);
}

/* ---- raw sockets: slow clients, disconnects ---- */

static int connect_local(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void test_slowloris(void)
{
    http_server *s = start("127.0.0.1:0", 0, 0, 1);
    if (!s) {
        CHECK(0);
        return;
    }
    int port = http_server_port(s);
    int fd = connect_local(port);
    CHECK(fd >= 0);
    const char *req = "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa\r\n";
    double t0 = clock_mono_s();
    int closed = 0;
    for (size_t i = 0; req[i] && fd >= 0; i++) { /* one byte per 100 ms: never idle for long */
        if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1) {
            closed = 1;
            break;
        }
        char c;
        if (recv(fd, &c, 1, MSG_DONTWAIT) == 0) {
            closed = 1;
            break;
        }
        if (i == 5) { /* meanwhile, other clients are served */
            resp_t r;
            fetch(port, "GET", "/health", NULL, NULL, &r);
            CHECK(r.status == 200);
            resp_free(&r);
        }
        sleep_ms(100);
    }
    double dt = clock_mono_s() - t0;
    CHECKF(closed && dt < 3.0, "closed=%d after %.1fs", closed, dt);
    if (fd >= 0) close(fd);
    resp_t r;
    fetch(port, "GET", "/metrics", NULL, NULL, &r);
    CHECK(strstr(r.body.data, "unhosted_http_request_timeouts_total 1\n") != NULL);
    resp_free(&r);
    http_server_free(s);
}

static void test_stream(void)
{
    http_server *s = start("127.0.0.1:0", 0, 0, 0);
    if (!s) {
        CHECK(0);
        return;
    }
    int port = http_server_port(s);
    resp_t r;
    fetch(port, "GET", "/v1/stream?n=3", NULL, NULL, &r);
    producer_join();
    CHECK(r.status == 200 && has_header(&r, "Content-Type: text/event-stream"));
    CHECKF(!strcmp(r.body.data, "data: {\"i\":0}\n\ndata: {\"i\":1}\n\ndata: {\"i\":2}\n\n"
                                "data: [DONE]\n\n"),
           "%s", r.body.data);
    CHECK(g_prod.why == HTTP_CANCEL_NONE);
    resp_free(&r);
    http_server_free(s);
}

static int wait_cancel(enum http_cancel_reason want, double timeout)
{
    double t0 = clock_mono_s();
    pthread_mutex_lock(&g_prod.lock);
    while (g_prod.why != want && clock_mono_s() - t0 < timeout) {
        pthread_mutex_unlock(&g_prod.lock);
        sleep_ms(10);
        pthread_mutex_lock(&g_prod.lock);
    }
    int ok = g_prod.why == want;
    pthread_mutex_unlock(&g_prod.lock);
    return ok;
}

static void test_stream_disconnect(void)
{
    http_server *s = start("127.0.0.1:0", 0, 0, 0);
    if (!s) {
        CHECK(0);
        return;
    }
    int port = http_server_port(s);
    /* producer silent for a long time (a long prefill): the hang-up is seen by polling */
    for (int variant = 0; variant < 2; variant++) {
        int fd = connect_local(port);
        char req[128];
        snprintf(req, sizeof req, "GET /v1/stream?n=-1&ms=%d HTTP/1.1\r\nHost: localhost:%d\r\n\r\n",
                 variant ? 20 : 5000, port);
        send(fd, req, strlen(req), MSG_NOSIGNAL);
        char buf[512];
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0); /* headers and the first event */
        CHECK(n > 0);
        close(fd);
        double t0 = clock_mono_s();
        CHECKF(wait_cancel(HTTP_CANCEL_DISCONNECT, 3.0), "variant %d: why=%d", variant, g_prod.why);
        CHECKF(clock_mono_s() - t0 < 1.0, "cancel took %.2fs", clock_mono_s() - t0);
        producer_join();
    }
    sleep_ms(100);
    resp_t r;
    fetch(port, "GET", "/metrics", NULL, NULL, &r);
    CHECK(strstr(r.body.data, "unhosted_http_streams 0\n") != NULL);
    CHECK(strstr(r.body.data, "unhosted_http_stream_cancels_total{reason=\"disconnect\"} 2\n"));
    resp_free(&r);
    http_server_free(s);
}

typedef struct {
    int port;
    resp_t r;
} client_arg;

static void *client_main(void *arg)
{
    client_arg *c = arg;
    fetch(c->port, "GET", "/v1/stream?n=-1&ms=50", NULL, NULL, &c->r);
    return NULL;
}

static void test_graceful_stop(void)
{
    http_server *s = start("127.0.0.1:0", 0, 0, 0);
    if (!s) {
        CHECK(0);
        return;
    }
    client_arg c = {.port = http_server_port(s)};
    pthread_t t;
    pthread_create(&t, NULL, client_main, &c);
    sleep_ms(300);
    double t0 = clock_mono_s();
    http_server_stop(s, 200);
    double dt = clock_mono_s() - t0;
    pthread_join(t, NULL);
    producer_join();
    CHECKF(dt < 3.0, "stop took %.2fs", dt);
    CHECK(g_prod.why == HTTP_CANCEL_SHUTDOWN && g_prod.done);
    CHECK(c.r.status == 200);
    CHECKF(c.r.body.data && strstr(c.r.body.data, "data: {\"i\":0}\n\n") &&
               strstr(c.r.body.data, "\"message\":\"the server is shutting down\""),
           "%s", c.r.body.data);
    resp_free(&c.r);
    /* after the stop nothing listens */
    resp_t r;
    CHECK(fetch(c.port, "GET", "/health", NULL, NULL, &r) != 0);
    resp_free(&r);
    http_server_free(s);
}

/* ---- pieces without a server ---- */

static void test_token_file(void)
{
    char path[320];
    snprintf(path, sizeof path, "%s/tok-test", g_dir);
    http_token a, b;
    uh_err err = {0};
    int created = 0;
    CHECK(http_token_load_or_create(path, &a, &created, &err) == 0 && created);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(strlen(a.hex) == 64 && strspn(a.hex, "0123456789abcdef") == 64);
    CHECK(http_token_load_or_create(path, &b, &created, &err) == 0 && !created);
    CHECK(!strcmp(a.hex, b.hex));
    char hdr[100];
    snprintf(hdr, sizeof hdr, "Bearer %s", a.hex);
    CHECK(http_token_check(&a, hdr) == 1);
    hdr[10] = hdr[10] == 'a' ? 'b' : 'a';
    CHECK(http_token_check(&a, hdr) == 0);
    CHECK(http_token_check(&a, "Bearer ") == 0 && http_token_check(&a, NULL) == 0);
    chmod(path, 0644);
    CHECK(http_token_load_or_create(path, &b, NULL, &err) == UH_EINVAL &&
          strstr(err.msg, "chmod 600"));
    chmod(path, 0600);
    FILE *f = fopen(path, "w");
    fputs("short\n", f);
    fclose(f);
    CHECK(http_token_load_or_create(path, &b, NULL, &err) == UH_EFORMAT);
    http_token_wipe(&a);
    CHECK(a.hex[0] == 0);
    unlink(path);
}

static void test_listen_parse(void)
{
    http_listen l;
    uh_err err;
    CHECK(http_parse_listen("127.0.0.1:7777", &l, &err) == 0 && l.port == 7777 && l.loopback &&
          !l.wildcard && !strcmp(l.host, "127.0.0.1"));
    CHECK(http_parse_listen("[::1]:80", &l, &err) == 0 && l.loopback && !strcmp(l.host, "[::1]"));
    CHECK(http_parse_listen("0.0.0.0:7777", &l, &err) == 0 && l.wildcard && !l.loopback);
    CHECK(http_parse_listen("[::]:1", &l, &err) == 0 && l.wildcard && !l.loopback);
    CHECK(http_parse_listen("localhost:0", &l, &err) == 0 && l.loopback && l.port == 0);
    CHECK(http_parse_listen("192.168.1.5:7777", &l, &err) == 0 && !l.loopback);
    CHECK(http_parse_listen("127.0.0.2:1", &l, &err) == 0 && l.loopback);
    const char *bad[] = {"", "7777", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:80",
                         "[::1]", "example.com:80", "127.0.0.1:-1", "127.0.0.1:8x", "[zz]:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(http_parse_listen(bad[i], &l, &err) == UH_EINVAL, "%s", bad[i]);
    /* loopback ranges */
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.9.9.9", &in.sin_addr);
    CHECK(http_addr_is_loopback((struct sockaddr *)&in));
    inet_pton(AF_INET, "128.0.0.1", &in.sin_addr);
    CHECK(!http_addr_is_loopback((struct sockaddr *)&in));
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr);
    CHECK(http_addr_is_loopback((struct sockaddr *)&in6));
    inet_pton(AF_INET6, "fe80::1", &in6.sin6_addr);
    CHECK(!http_addr_is_loopback((struct sockaddr *)&in6));
    /* Host check on a wildcard listener: IP literals yes, foreign names no */
    http_parse_listen("0.0.0.0:7777", &l, &err);
    CHECK(http_host_allowed("192.168.1.5:7777", &l, "box"));
    CHECK(http_host_allowed("[fe80::1]:7777", &l, "box"));
    CHECK(http_host_allowed("box:7777", &l, "box") && http_host_allowed("BOX.local:7777", &l, "box"));
    CHECK(!http_host_allowed("evil.example:7777", &l, "box"));
    CHECK(!http_host_allowed("192.168.1.5:7778", &l, "box"));
    CHECK(!http_host_allowed("localhost:7777:1", &l, NULL));
    CHECK(http_origin_is_own("http://localhost:7777", "localhost:7777"));
    CHECK(!http_origin_is_own("https://localhost:7777", "localhost:7777"));
    CHECK(!http_origin_is_own("null", "localhost:7777"));
}

static void test_metrics_text(void)
{
    metrics_registry *m = metrics_new();
    static const double b[] = {0.1, 1};
    metrics_family *c = metrics_counter(m, "t_total", "a counter", "k");
    metrics_family *g = metrics_gauge(m, "t_gauge", "a gauge", NULL);
    metrics_family *h = metrics_histogram(m, "t_seconds", "a histogram", NULL, b, 2);
    CHECK(c && g && h);
    CHECK(metrics_counter(m, "t_total", "dup", NULL) == NULL);
    CHECK(metrics_counter(m, "0bad", "", NULL) == NULL);
    CHECK(metrics_counter(m, "x", "", "le") == NULL);
    CHECK(metrics_histogram(m, "y", "", NULL, (const double[]){1, 1}, 2) == NULL);
    metrics_add(c, (const char *[]){"a\"b\\c\nd"}, 2);
    metrics_add(c, (const char *[]){"a\"b\\c\nd"}, -5); /* counters never go down */
    metrics_set(g, NULL, -3.5);
    metrics_observe(h, NULL, 0.05);
    metrics_observe(h, NULL, 0.5);
    metrics_observe(h, NULL, 7);
    for (int i = 0; i < METRICS_MAX_SERIES + 10; i++) {
        char v[16];
        snprintf(v, sizeof v, "v%d", i);
        metrics_add(c, (const char *[]){v}, 1);
    }
    char *text;
    size_t len;
    CHECK(metrics_render(m, &text, &len) == 0 && strlen(text) == len);
    CHECK(strstr(text, "# HELP t_total a counter\n# TYPE t_total counter\n") != NULL);
    CHECKF(strstr(text, "t_total{k=\"a\\\"b\\\\c\\nd\"} 2\n") != NULL, "%s", text);
    CHECK(strstr(text, "t_gauge -3.5\n") != NULL);
    CHECK(strstr(text, "t_seconds_bucket{le=\"0.1\"} 1\nt_seconds_bucket{le=\"1\"} 2\n"
                       "t_seconds_bucket{le=\"+Inf\"} 3\nt_seconds_sum 7.5499999999999998\n"
                       "t_seconds_count 3\n") != NULL);
    CHECK(strstr(text, "t_total{k=\"other\"} 12\n") != NULL); /* past the series cap */
    free(text);
    metrics_add(NULL, NULL, 1); /* a failed registration is harmless */
    metrics_free(m);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    snprintf(g_dir, sizeof g_dir, "/tmp/test_http.XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    snprintf(g_token_path, sizeof g_token_path, "%s/api-token", g_dir);
    pthread_mutex_init(&g_prod.lock, NULL);
    clock_cond_init(&g_prod.cond);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    T_RUN(test_metrics_text);
    T_RUN(test_listen_parse);
    T_RUN(test_token_file);
    T_RUN(test_builtin_routes);
    T_RUN(test_error_shapes);
    T_RUN(test_body_cap);
    T_RUN(test_host_check);
    T_RUN(test_cors);
    T_RUN(test_token_required);
    T_RUN(test_stream);
    T_RUN(test_stream_disconnect);
    T_RUN(test_graceful_stop);
    T_RUN(test_slowloris);
    curl_global_cleanup();
    unlink(g_token_path);
    rmdir(g_dir);
    return t_exit();
}
