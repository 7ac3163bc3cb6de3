/* pull_impl.h - internals shared by pull.c (the flow: probe, verify, store), pull_fetch.c (the
 * multi-connection download loop and the in-order hashing thread) and pull_state.c (the resume
 * file). Not part of the models API.
 *
 * A download is a file of `size` bytes cut into n_chunks chunks of chunk_size bytes (the last
 * one shorter). Each chunk moves TODO -> ACTIVE (a connection is writing it into the .part file
 * as its bytes arrive) -> DONE (all of it written) -> HASHED (read back and fed to SHA-256).
 * Hashing follows file order; connections work at most `window` chunks ahead of it, so what the
 * hasher reads back is still in the page cache. No chunk is buffered in memory. */
#ifndef UH_MODELS_PULL_IMPL_H
#define UH_MODELS_PULL_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include "base/sha256.h"
#include "models/pull.h"

#define PULL_MAX_ETAG     256 /* bytes of an ETag kept; longer ones are ignored */
#define PULL_MAX_CONN     16
#define PULL_MIN_CHUNK    (256u << 10)
#define PULL_MAX_CHUNK    (8u << 20)
#define PULL_MAX_CHUNKS   (1u << 22) /* 32 TiB at the largest chunk size */
#define PULL_MAX_REDIRS   10

enum { PULL_CH_TODO = 0, PULL_CH_ACTIVE, PULL_CH_DONE, PULL_CH_HASHED };

typedef struct {
    uint64_t off, len; /* bytes of the file */
    uint64_t got;      /* bytes written to the .part file from off on (kept across a failed
                        * attempt: the retry asks for the rest) */
    int state;          /* PULL_CH_* (changes under pull_job.mu once the hasher runs) */
    int attempts;
    double not_before;  /* monotonic seconds: backoff before the next attempt */
} pull_chunk;

/* What the server said about the file (pull.c's probe). */
typedef struct {
    long status;              /* final HTTP status */
    uint64_t size;            /* Content-Length or X-Linked-Size; 0 unknown */
    int ranges;               /* Accept-Ranges: bytes */
    char etag[PULL_MAX_ETAG]; /* as sent (quotes kept: it goes back in If-Range) */
    char linked_etag[PULL_MAX_ETAG];
} pull_remote;

typedef struct {
    /* set up by pull.c */
    const pull_opts *opts;
    const char *url;          /* http(s) URL */
    char part_path[4096];
    char state_path[4096];
    uint64_t size;
    char etag[PULL_MAX_ETAG]; /* strong validator for If-Range, "" if none */
    int sequential;           /* one stream from byte 0 (server ignores ranges) */
    int n_conn;
    int max_retries;
    double timeout_s;

    /* the download */
    int fd;
    uint32_t chunk_size, n_chunks, window;
    pull_chunk *chunks;
    uint64_t bytes_fetched;   /* body bytes received from the network in this run */

    /* the hasher: everything below is guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t hasher;
    int hasher_running;
    int hasher_stop;
    int hasher_err;           /* a read-back failed */
    uint32_t n_hashed;        /* chunks [0, n_hashed) are in hs */
    sha256_state hs;
    void *multi;              /* CURLM*, woken when a chunk is hashed */

    /* progress */
    double t_last_progress, t_last_save;
    double speed;             /* bytes/s, smoothed */
    uint64_t speed_bytes;
    double speed_t;
} pull_job;

/* Result of pull_fetch_run besides UH_* codes: the server answered a ranged request with the
 * whole file; the caller discards the partial state and starts over sequentially. */
#define PULL_RANGE_IGNORED 1

/* pull_fetch.c */
/* Cuts j->size into chunks of j->chunk_size (all TODO). */
int pull_chunks_init(pull_job *j);
int pull_fetch_run(pull_job *j, unsigned char digest[32], uh_err *err);
/* Sets the common options (timeouts, redirects, protocols, user agent) on a CURL* easy handle. */
void pull_curl_common(void *curl, const pull_opts *o, double timeout_s);
/* Parses "Name: value" header lines; copies the value (trimmed, capped) if the name matches. */
int pull_header_value(const char *line, size_t len, const char *name, char *out, size_t cap);

/* pull_state.c: the resume file next to the .part file (format in pull_state.c). */
/* Loads a state matching j (size, chunk size, etag); marks chunks DONE/HASHED and restores the
 * hash. Returns 1 if a state was used, 0 if there was none or it did not match (the caller
 * starts from zero). */
int pull_state_load(pull_job *j);
/* Writes the state atomically (fdatasync of the .part file first, so the state never claims
 * bytes the disk does not hold). */
int pull_state_save(pull_job *j, uh_err *err);
void pull_state_remove(const pull_job *j);

#endif
