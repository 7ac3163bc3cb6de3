/* http.h - the HTTP server of `unhosted serve`: a route table over libmicrohttpd, capped request
 * bodies parsed as JSON, JSON and streaming (SSE / NDJSON) responses, errors in each API's shape,
 * and the safe-by-default access rules.
 *
 * Access rules (checked on every request before its body is read):
 *  1. Host header (DNS rebinding): must name this node - localhost, 127.0.0.1, [::1], the listen
 *     address, any IP literal when listening on a wildcard address, or this machine's host name
 *     (and <name>.local) - with the listen port (or no port when it is 80). Else 403, unless the
 *     request carries a valid bearer token (a reverse proxy may rewrite Host).
 *  2. A bearer token ("Authorization: Bearer <token>") is required from clients outside the
 *     loopback range (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104), from requests whose Origin is not
 *     this node's own ("http://" + the checked Host), and from everyone when
 *     http_config.require_token is set (for a reverse proxy on this machine, and for tests).
 *     Missing or wrong: 401 with WWW-Authenticate: Bearer. Compared in constant time.
 *  3. CORS: only the node's own origin gets Access-Control-Allow-Origin; an OPTIONS preflight
 *     from it gets 204 with the allowed methods and headers, from any other origin 403.
 * Caps: request body max_body (Content-Length over it: 413 before reading; chunked bodies are
 * discarded past it, then 413), JSON nesting max_json_depth (400), request headers (MHD memory
 * limit, 431), connections (max_connections), a request that is not completely received within
 * request_timeout_s is cut off (slowloris), idle connections close after idle_timeout_s.
 *
 * Errors: paths under /api/ answer in Ollama's shape {"error":"..."}; every other path in
 * OpenAI's {"error":{"message","type","param","code"}}. Unknown path 404, known path with
 * another method 405 (with Allow), handler returned NULL 500.
 *
 * Built-in routes: GET /health, GET /api/version, GET /metrics (Prometheus text).
 *
 * Threading: one thread per connection (libmicrohttpd); handlers run on it and may block (a
 * non-streaming handler waiting for its result is fine). Routes are registered before
 * http_server_start and never change afterwards. Streams are fed from any thread.
 * Ownership: see each function. A request and everything it points to are borrowed for the
 * duration of the handler call only. */
#ifndef UH_SERVER_HTTP_H
#define UH_SERVER_HTTP_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "base/metrics.h"
#include "unhosted.h"

#define HTTP_DEFAULT_LISTEN  "127.0.0.1:7777"
#define HTTP_MAX_ROUTES      64
#define HTTP_DEFAULT_BODY    (4u << 20)

typedef struct http_server http_server;
typedef struct http_response http_response;
typedef struct http_stream http_stream;
struct http_req_ctx;

typedef struct {
    const char *listen;       /* "HOST:PORT": IPv4, [IPv6] or localhost; NULL = default; port 0 =
                               * any free port (see http_server_port) */
    const char *token_path;   /* NULL = <config dir>/api-token (created on first start) */
    const char *version;      /* reported by GET /api/version; NULL = "0.0.0" */
    int require_token;        /* every client needs the token, loopback ones too */
    int max_connections;      /* 0 = 128 */
    size_t max_body;          /* bytes; 0 = HTTP_DEFAULT_BODY */
    int max_json_depth;       /* 0 = 32 */
    int idle_timeout_s;       /* 0 = 30: a connection silent this long is closed */
    int request_timeout_s;    /* 0 = 30: headers + body must arrive within this */
    int stream_timeout_s;     /* 0 = 300: a streaming client may stall this long */
    metrics_registry *metrics; /* borrowed, must outlive the server; NULL = the server owns one */
} http_config;

/* ---- server lifecycle ---- */

/* Loads (or creates) the token, binds the listen socket and registers the built-in routes; does
 * not serve yet. Errors name the address or file (bind failures, bad --listen, a token file
 * readable by others). *out is freed with http_server_free. */
int http_server_new(const http_config *cfg, http_server **out, uh_err *err);
/* Starts serving on the bound socket. */
int http_server_start(http_server *s, uh_err *err);
/* The bound port (the real one when the config asked for port 0). */
int http_server_port(const http_server *s);
/* 1 when the listen address is outside the loopback range (remote clients need the token). */
int http_server_is_public(const http_server *s);
/* The path of the token file. */
const char *http_server_token_path(const http_server *s);
metrics_registry *http_server_metrics(http_server *s);
/* fn(ud) runs on the connection's thread before every GET /metrics renders (to refresh gauges
 * from their sources); it must be quick. Only before http_server_start; ud is borrowed. */
void http_server_on_metrics(http_server *s, void (*fn)(void *ud), void *ud);

/* Graceful stop: stop accepting, answer new requests on open connections with 503, let open
 * streams finish for up to grace_ms, then cancel the rest (their producers are told
 * HTTP_CANCEL_SHUTDOWN; clients get a final error event and a clean end of stream), close every
 * connection. Idempotent; safe to call from any thread except a handler. */
void http_server_stop(http_server *s, int grace_ms);
/* Stops (grace 0) if still running and frees. Accepts NULL. */
void http_server_free(http_server *s);

/* ---- requests and routes ---- */

enum http_api { HTTP_API_OPENAI = 0, HTTP_API_OLLAMA = 1 };

typedef struct {
    const char *method;   /* "GET", "POST", ...; HEAD is routed to GET */
    const char *path;     /* without the query string */
    const cJSON *json;    /* POST/PUT/PATCH: the parsed body (any JSON value), NULL if empty */
    const char *body;     /* raw body, NUL-terminated, body_len bytes */
    size_t body_len;
    int is_loopback;      /* the client's address is in the loopback range */
    int authed;           /* the request carried the valid bearer token */
    enum http_api api;    /* error shape for this path */
    struct http_req_ctx *ctx; /* private */
} http_request;

/* A request header's value (case-insensitive name), or NULL. */
const char *http_header(const http_request *r, const char *name);
/* A query-string argument's value, or NULL. */
const char *http_query(const http_request *r, const char *name);

/* Returns the response to send (the server takes ownership), or NULL for a 500. */
typedef http_response *(*http_handler)(const http_request *req, void *ud);

/* Adds a route: exact path match; method "GET", "POST", ... ud is passed to the handler and is
 * borrowed (must outlive the server). Only before http_server_start. Returns 0, UH_ELIMIT (more
 * than HTTP_MAX_ROUTES), UH_EINVAL (already registered, or after start). */
int http_route(http_server *s, const char *method, const char *path, http_handler h, void *ud);
/* Like http_route for GET, for a resource that holds nothing secret (the dashboard's page and
 * files): rule 2 (the token) does not apply to it, so a browser on another machine can load the
 * page that asks for the token; rules 1 and 3 still do. */
int http_route_public(http_server *s, const char *path, http_handler h, void *ud);

/* ---- responses ---- */

/* body is taken over (cJSON_Delete'd by the server), also on failure. */
http_response *http_json(int status, cJSON *body);
/* text is copied. */
http_response *http_text(int status, const char *content_type, const char *text, size_t len);
/* An error in the request's API shape; param may be NULL (OpenAI "param": null). The OpenAI
 * "type" is invalid_request_error for 4xx, server_error for 5xx; code is NULL or e.g.
 * "model_not_found". */
http_response *http_error(const http_request *req, int status, const char *message,
                          const char *param, const char *code);
/* Adds a response header (copied). Returns 0, UH_ELIMIT past 16 headers, UH_EINVAL for names or
 * values with CR/LF. */
int http_response_header(http_response *r, const char *name, const char *value);

/* ---- streaming ----
 *
 * A stream is a thread-safe queue of bytes between a producer (the scheduler) and the client's
 * connection. The handler creates it, hands http_stream_response(s) back to the server, and
 * gives the stream to its producer, which sends events and finally calls http_stream_close.
 *
 *   SSE:    each event is "data: <json>\n\n"; http_stream_send_done adds "data: [DONE]\n\n";
 *           after 15 s without events a ": keep-alive" comment is sent.
 *   NDJSON: each event is "<json>\n".
 *
 * Cancellation: when the client disconnects, the queue overflows (a client that does not read:
 * max_queued bytes), or the server shuts down, the stream is cancelled once: the cancel callback
 * runs (on a connection or server thread) and every later send returns UH_EIO. The producer
 * must still call http_stream_close. The callback must be quick and must not call http_stream_*
 * (set a flag, signal a condition variable). After http_stream_close returns, the callback is
 * not running and will never run again.
 * Ownership: reference counted between the producer (the reference from http_stream_new,
 * dropped by http_stream_close) and the response (taken by http_stream_response, dropped when
 * the connection is done with it). */

enum http_stream_format { HTTP_STREAM_SSE = 0, HTTP_STREAM_NDJSON = 1 };
enum http_cancel_reason {
    HTTP_CANCEL_NONE = 0,
    HTTP_CANCEL_DISCONNECT = 1, /* the client went away */
    HTTP_CANCEL_SHUTDOWN = 2,   /* the server is stopping */
    HTTP_CANCEL_OVERFLOW = 3,   /* the client reads slower than max_queued allows */
};
typedef void (*http_cancel_fn)(void *ud, enum http_cancel_reason why);

/* max_queued: bytes not yet sent before the stream is cancelled; 0 = 8 MiB. NULL when out of
 * memory. */
http_stream *http_stream_new(enum http_stream_format fmt, size_t max_queued);
/* Sets (or replaces) the cancel callback; if the stream is already cancelled it runs now. */
void http_stream_on_cancel(http_stream *s, http_cancel_fn fn, void *ud);
/* Queues one event: json[0..len) must be one line (no '\n'; cJSON_PrintUnformatted output).
 * Returns 0, UH_EIO once cancelled, UH_EINVAL for a newline, UH_ENOMEM. Never blocks. */
int http_stream_send(http_stream *s, const char *json, size_t len);
int http_stream_send_json(http_stream *s, const cJSON *obj);
int http_stream_send_done(http_stream *s);
/* The producer is done: the response ends once the queue is sent. Drops the producer's
 * reference (s must not be used afterwards). */
void http_stream_close(http_stream *s);
/* HTTP_CANCEL_NONE while live. */
enum http_cancel_reason http_stream_cancelled(http_stream *s);
/* A 200 response that sends the stream (text/event-stream or application/x-ndjson). Takes a
 * reference; NULL when out of memory. */
http_response *http_stream_response(http_stream *s);

#endif
