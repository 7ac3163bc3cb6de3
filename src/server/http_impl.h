/* http_impl.h - what http.c and http_stream.c share: the response struct and the hooks that tie
 * a stream to the server (active-stream list, shutdown). Not for use outside src/server. */
#ifndef UH_SERVER_HTTP_IMPL_H
#define UH_SERVER_HTTP_IMPL_H

#include <microhttpd.h>

#include "server/http.h"

#define HTTP_MAX_RESP_HEADERS 16

struct http_response {
    int status;
    char *body; /* malloc'd, body_len bytes (NULL for streams) */
    size_t body_len;
    char content_type[64];
    http_stream *stream; /* a reference, or NULL */
    int n_headers;
    char *hname[HTTP_MAX_RESP_HEADERS];
    char *hvalue[HTTP_MAX_RESP_HEADERS];
};

void http_response_free(http_response *r);

/* Called by http.c when a stream response is queued on a connection (fd: its socket, polled
 * for hang-ups while the stream is idle). Returns the MHD response, which holds its own
 * reference until MHD frees it; NULL when out of memory. on_end(srv, s) runs when MHD is done
 * with it (the server unlinks the stream from its list there). */
struct MHD_Response *http_stream_mhd(http_stream *s, int fd,
                                     void (*on_end)(void *srv, http_stream *s), void *srv);
/* Takes / drops a reference (the server's list holds none: it takes one only while it cancels). */
void http_stream_ref(http_stream *s);
void http_stream_unref(http_stream *s);
/* Cancels with reason (no-op when already cancelled or closed by its producer). */
void http_stream_cancel(http_stream *s, enum http_cancel_reason why);
/* The server's list of live streams is threaded through the streams themselves. */
http_stream **http_stream_next(http_stream *s);

#endif
