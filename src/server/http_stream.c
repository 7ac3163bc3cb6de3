/* http_stream.c - streaming responses: a byte queue between a producer thread and the client's
 * connection thread, framing (SSE / NDJSON), cancellation (disconnect, overflow, shutdown).
 *
 * The connection thread runs the MHD content reader, which blocks on the stream's condition
 * variable (libmicrohttpd runs one thread per connection, so blocking there is allowed) and
 * wakes every READ_POLL_MS to look for a hang-up on the socket, so a client that leaves while
 * the producer is silent (a long prompt being read) is noticed within that time. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "server/http_impl.h"

#define READ_POLL_MS      100
#define KEEPALIVE_S       15
#define SHUTDOWN_WAIT_MS  1000 /* how long a cancelled producer may take to close */
#define DEFAULT_QUEUED    (8u << 20)

struct http_stream {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs;
    enum http_stream_format fmt;
    buf_t q; /* queued bytes are q.data[head..q.len) */
    size_t head, max_queued;
    int closed; /* the producer called http_stream_close */
    enum http_cancel_reason cancel;
    int in_callback;                /* the cancel callback is running */
    http_cancel_fn cancel_fn;
    void *cancel_ud;
    double cancel_time, last_send;
    int final_sent;                 /* the shutdown error event is queued */
    int fd;                         /* client socket, -1 before the response is queued */
    void (*on_end)(void *, http_stream *);
    void *srv;
    http_stream *next;              /* the server's list */
};

http_stream *http_stream_new(enum http_stream_format fmt, size_t max_queued)
{
    http_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    clock_cond_init(&s->cond);
    pthread_mutex_init(&s->lock, NULL);
    s->refs = 1;
    s->fmt = fmt;
    s->max_queued = max_queued ? max_queued : DEFAULT_QUEUED;
    s->fd = -1;
    s->last_send = clock_mono_s();
    return s;
}

void http_stream_ref(http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    s->refs++;
    pthread_mutex_unlock(&s->lock);
}

void http_stream_unref(http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (!last) return;
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    buf_fini(&s->q);
    free(s);
}

http_stream **http_stream_next(http_stream *s) { return &s->next; }

/* Runs the callback outside the lock; called with s->lock held, returns with it held. */
static void fire_cancel_locked(http_stream *s)
{
    http_cancel_fn fn = s->cancel_fn;
    void *ud = s->cancel_ud;
    enum http_cancel_reason why = s->cancel;
    if (!fn || s->closed) return;
    s->in_callback = 1;
    pthread_mutex_unlock(&s->lock);
    fn(ud, why);
    pthread_mutex_lock(&s->lock);
    s->in_callback = 0;
    pthread_cond_broadcast(&s->cond);
}

void http_stream_cancel(http_stream *s, enum http_cancel_reason why)
{
    pthread_mutex_lock(&s->lock);
    if (s->cancel == HTTP_CANCEL_NONE && !s->closed) {
        s->cancel = why;
        s->cancel_time = clock_mono_s();
        pthread_cond_broadcast(&s->cond);
        fire_cancel_locked(s);
    }
    pthread_mutex_unlock(&s->lock);
}

void http_stream_on_cancel(http_stream *s, http_cancel_fn fn, void *ud)
{
    pthread_mutex_lock(&s->lock);
    while (s->in_callback) pthread_cond_wait(&s->cond, &s->lock);
    s->cancel_fn = fn;
    s->cancel_ud = ud;
    if (s->cancel != HTTP_CANCEL_NONE) fire_cancel_locked(s);
    pthread_mutex_unlock(&s->lock);
}

enum http_cancel_reason http_stream_cancelled(http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    enum http_cancel_reason c = s->cancel;
    pthread_mutex_unlock(&s->lock);
    return c;
}

/* Appends n bytes from up to three pieces; called with the lock held. */
static int append_locked(http_stream *s, const char *a, size_t an, const char *b, size_t bn,
                         const char *c, size_t cn)
{
    size_t n = an + bn + cn;
    buf_t *q = &s->q;
    if (q->len - s->head + n > s->max_queued) return UH_ELIMIT;
    if (s->head > 0 && q->len + n >= q->cap) { /* reuse the sent prefix before growing */
        memmove(q->data, q->data + s->head, q->len - s->head);
        q->len -= s->head;
        s->head = 0;
    }
    if (buf_reserve(q, n) != 0) return UH_ENOMEM;
    buf_append(q, a, an); /* cannot fail: the room is reserved */
    buf_append(q, b, bn);
    buf_append(q, c, cn);
    pthread_cond_broadcast(&s->cond);
    return UH_OK;
}

static int send_framed(http_stream *s, const char *pre, const char *data, size_t len,
                       const char *post)
{
    pthread_mutex_lock(&s->lock);
    int rc = UH_EIO;
    if (s->cancel == HTTP_CANCEL_NONE && !s->closed) {
        rc = append_locked(s, pre, strlen(pre), data, len, post, strlen(post));
        if (rc == UH_ELIMIT) {
            s->cancel = HTTP_CANCEL_OVERFLOW;
            s->cancel_time = clock_mono_s();
            pthread_cond_broadcast(&s->cond);
            fire_cancel_locked(s);
            rc = UH_EIO;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int http_stream_send(http_stream *s, const char *json, size_t len)
{
    if (!s || !json || memchr(json, '\n', len)) return UH_EINVAL;
    return s->fmt == HTTP_STREAM_SSE ? send_framed(s, "data: ", json, len, "\n\n")
                                     : send_framed(s, "", json, len, "\n");
}

int http_stream_send_json(http_stream *s, const cJSON *obj)
{
    char *text = cJSON_PrintUnformatted(obj);
    if (!text) return UH_ENOMEM;
    int rc = http_stream_send(s, text, strlen(text));
    cJSON_free(text);
    return rc;
}

int http_stream_send_done(http_stream *s)
{
    if (!s) return UH_EINVAL;
    return s->fmt == HTTP_STREAM_SSE ? send_framed(s, "data: [DONE]", "", 0, "\n\n") : UH_OK;
}

void http_stream_close(http_stream *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    while (s->in_callback) pthread_cond_wait(&s->cond, &s->lock);
    s->closed = 1;
    s->cancel_fn = NULL;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    http_stream_unref(s);
}

/* ---- the connection side ---- */

/* 1 if the peer closed or reset the connection (a pipelined request's bytes do not count). */
static int peer_gone(int fd)
{
    if (fd < 0) return 0;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return 1;
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

static void timed_wait(http_stream *s, int ms)
{
    struct timespec ts = clock_mono_after(ms);
    pthread_cond_timedwait(&s->cond, &s->lock, &ts);
}

static void queue_shutdown_event(http_stream *s)
{
    static const char sse[] = "data: {\"error\":{\"message\":\"the server is shutting down\","
                              "\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n";
    static const char nd[] = "{\"error\":\"the server is shutting down\"}\n";
    const char *ev = s->fmt == HTTP_STREAM_SSE ? sse : nd;
    s->max_queued += strlen(ev); /* always fits */
    append_locked(s, ev, strlen(ev), "", 0, "", 0);
    s->final_sent = 1;
}

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    http_stream *s = cls;
    ssize_t ret;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (s->q.len > s->head) {
            size_t n = s->q.len - s->head < max ? s->q.len - s->head : max;
            memcpy(out, s->q.data + s->head, n);
            s->head += n;
            if (s->head == s->q.len) {
                s->head = 0;
                buf_reset(&s->q);
            }
            s->last_send = clock_mono_s();
            ret = (ssize_t)n;
            break;
        }
        if (s->closed && s->cancel == HTTP_CANCEL_SHUTDOWN && !s->final_sent) {
            queue_shutdown_event(s); /* say why the stream ends early */
            continue;
        }
        if (s->closed || s->final_sent) {
            ret = MHD_CONTENT_READER_END_OF_STREAM;
            break;
        }
        if (s->cancel == HTTP_CANCEL_DISCONNECT || s->cancel == HTTP_CANCEL_OVERFLOW) {
            ret = MHD_CONTENT_READER_END_WITH_ERROR;
            break;
        }
        double t = clock_mono_s();
        if (s->cancel == HTTP_CANCEL_SHUTDOWN && t - s->cancel_time > SHUTDOWN_WAIT_MS * 1e-3) {
            queue_shutdown_event(s);
            continue;
        }
        if (s->fmt == HTTP_STREAM_SSE && t - s->last_send > KEEPALIVE_S) {
            append_locked(s, ": keep-alive\n\n", 14, "", 0, "", 0);
            continue;
        }
        timed_wait(s, READ_POLL_MS);
        if (s->q.len == s->head && !s->closed && s->cancel == HTTP_CANCEL_NONE &&
            peer_gone(s->fd)) {
            s->cancel = HTTP_CANCEL_DISCONNECT;
            s->cancel_time = clock_mono_s();
            fire_cancel_locked(s);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return ret;
}

static void reader_free(void *cls)
{
    http_stream *s = cls;
    /* MHD is done with the response: if the producer is still at it, the client is gone */
    http_stream_cancel(s, HTTP_CANCEL_DISCONNECT);
    if (s->on_end) s->on_end(s->srv, s);
    http_stream_unref(s);
}

struct MHD_Response *http_stream_mhd(http_stream *s, int fd,
                                     void (*on_end)(void *srv, http_stream *s), void *srv)
{
    pthread_mutex_lock(&s->lock);
    s->fd = fd;
    s->on_end = on_end;
    s->srv = srv;
    s->refs++;
    pthread_mutex_unlock(&s->lock);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, reader, s, reader_free);
    if (!r) {
        s->on_end = NULL;
        http_stream_unref(s);
    }
    return r;
}

http_response *http_stream_response(http_stream *s)
{
    if (!s) return NULL;
    http_response *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type, "%s",
             s->fmt == HTTP_STREAM_SSE ? "text/event-stream" : "application/x-ndjson");
    http_stream_ref(s);
    r->stream = s;
    if (http_response_header(r, "Cache-Control", "no-cache") != 0) {
        http_response_free(r);
        return NULL;
    }
    return r;
}
