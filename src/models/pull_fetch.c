/* pull_fetch.c - the download loop: up to n_conn ranged GETs at once over libcurl's multi
 * interface, one chunk each, inside a window ahead of the hash position. Body bytes go from
 * curl's buffer straight into the .part file (no copy of our own, no chunk buffers); a thread
 * reads the completed chunks back in file order, from the page cache, and hashes them, so the
 * digest is ready shortly after the last byte lands. The network thread does what `curl -o` does
 * and the hashing runs beside it.
 *
 * A failed attempt keeps the bytes it received and the retry asks only for the rest, after an
 * exponential backoff with jitter; each chunk has max_retries retries. A stall (less than one
 * byte per second for timeout_s) is a failed attempt. HTTP 4xx other than 408/429 is fatal at
 * once; 5xx, 408, 429 and network errors are retried. A 200 reply to a ranged request means the
 * server ignores ranges: the run stops with PULL_RANGE_IGNORED and the caller starts over with
 * one sequential stream (j->sequential), which restarts from byte 0 when it breaks. */
#if defined(__linux__)
#define _GNU_SOURCE /* sync_file_range */
#endif
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "models/pull_impl.h"

#define PULL_READBACK (256u << 10) /* bytes per read-back for hashing (stays in L2) */
#define PULL_SAVE_EVERY 2.0      /* seconds between resume-state saves */
#define PULL_PROGRESS_EVERY 0.1  /* seconds between progress callbacks */

enum { CONN_OK = 0, CONN_RANGE_IGNORED, CONN_HTTP, CONN_BAD_REPLY, CONN_DISK };

typedef struct {
    pull_job *j;
    CURL *easy;
    struct curl_slist *hdrs;
    int chunk;            /* index being fetched, -1 idle */
    int checked;          /* the reply's status was checked at its first body byte */
    int fail;             /* CONN_* set by the callbacks */
    int disk_errno;       /* with CONN_DISK: why the write failed (0: not a write) */
    long status;
    uint64_t cr_start, cr_total; /* Content-Range of the current reply */
    int cr_seen;
    char errbuf[CURL_ERROR_SIZE];
} pull_conn;

int pull_header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':') return 0;
    const char *v = line + nl + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t n = (size_t)(end - v);
    if (n + 1 > cap) return 0; /* too long to be one we want: ignore it */
    memcpy(out, v, n);
    out[n] = 0;
    return 1;
}

void pull_curl_common(void *curl, const pull_opts *o, double timeout_s)
{
    (void)o;
    long t = (long)(timeout_s + 0.999);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, (long)PULL_MAX_REDIRS);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "unhosted");
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, t);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, t);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, NULL); /* the bytes as stored, no gzip */
}

/* ---- the hasher thread ---- */

/* Starts writing a hashed chunk to the disk without waiting for it, so that the fdatasync of a
 * state save, and the one at the end, find little left to do instead of stalling the transfers
 * while the whole backlog goes out. A hint: where it is missing the syncs do all the work. */
static void writeback(const pull_job *j, uint64_t off, uint64_t len)
{
#if defined(__linux__)
    (void)sync_file_range(j->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
#else
    (void)j;
    (void)off;
    (void)len;
#endif
}

static void *hasher_main(void *arg)
{
    pull_job *j = arg;
    unsigned char *rb = NULL;
    sha256_state hs;
    pthread_mutex_lock(&j->mu);
    hs = j->hs;
    for (;;) {
        while (!j->hasher_stop && j->n_hashed < j->n_chunks &&
               j->chunks[j->n_hashed].state != PULL_CH_DONE)
            pthread_cond_wait(&j->cv, &j->mu);
        if (j->hasher_stop || j->n_hashed == j->n_chunks) break;
        pull_chunk *c = &j->chunks[j->n_hashed];
        uint64_t off = c->off, len = c->len;
        pthread_mutex_unlock(&j->mu);
        int e = 0;
        if (!rb) rb = malloc(PULL_READBACK);
        for (uint64_t p = 0; !e && p < len;) {
            size_t n = len - p < PULL_READBACK ? (size_t)(len - p) : PULL_READBACK;
            ssize_t r = rb ? pread(j->fd, rb, n, (off_t)(off + p)) : -1;
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                e = rb ? (r < 0 ? errno : EIO) : ENOMEM;
                break;
            }
            sha256_update(&hs, rb, (size_t)r);
            p += (uint64_t)r;
        }
        pthread_mutex_lock(&j->mu);
        if (e) {
            j->hasher_err = e;
            break;
        }
        c->state = PULL_CH_HASHED;
        j->hs = hs;
        j->n_hashed++;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
        curl_multi_wakeup(j->multi);
        writeback(j, off, len);
        pthread_mutex_lock(&j->mu);
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    curl_multi_wakeup(j->multi);
    free(rb);
    return NULL;
}

static int hasher_start(pull_job *j)
{
    j->hasher_stop = 0;
    if (pthread_create(&j->hasher, NULL, hasher_main, j) != 0) return -1;
    j->hasher_running = 1;
    return 0;
}

static void hasher_stop(pull_job *j)
{
    if (!j->hasher_running) return;
    pthread_mutex_lock(&j->mu);
    j->hasher_stop = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->hasher, NULL);
    j->hasher_running = 0;
}

/* Writes n body bytes at the chunk's fill position; 0 or an errno. */
static int chunk_write(pull_job *j, pull_chunk *c, const char *data, size_t n)
{
    for (size_t p = 0; p < n;) {
        ssize_t w = pwrite(j->fd, data + p, n - p, (off_t)(c->off + c->got));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w < 0 ? errno : EIO;
        p += (size_t)w;
        c->got += (uint64_t)w;
    }
    return 0;
}

/* Hands a chunk whose bytes are all in the .part file to the hasher. */
static void chunk_finish(pull_job *j, pull_chunk *c)
{
    pthread_mutex_lock(&j->mu);
    c->state = PULL_CH_DONE;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* Blocks until chunk i may hold memory (it is inside the window); 0, or -1 if the hasher died. */
static int wait_window(pull_job *j, uint32_t i)
{
    int rc = 0;
    pthread_mutex_lock(&j->mu);
    while (i >= j->n_hashed + j->window && !j->hasher_err && !j->hasher_stop)
        pthread_cond_wait(&j->cv, &j->mu);
    if (j->hasher_err || j->hasher_stop) rc = -1;
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* Changes a chunk's state where the hasher may look at it. */
static void set_state(pull_job *j, pull_chunk *ch, int state)
{
    pthread_mutex_lock(&j->mu);
    ch->state = state;
    pthread_mutex_unlock(&j->mu);
}

/* ---- curl callbacks ---- */

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
    pull_conn *c = ud;
    size_t len = size * n;
    char v[128];
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) { /* a new reply (redirects have several) */
        const char *sp = memchr(line, ' ', len);
        c->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        c->cr_seen = 0;
    } else if (pull_header_value(line, len, "Content-Range", v, sizeof v)) {
        unsigned long long a, b, t;
        if (sscanf(v, "bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
            c->cr_start = a;
            c->cr_total = t;
            c->cr_seen = 1;
        }
    }
    return len;
}

/* Checks the reply at its first body byte: 206 from where we asked (or a 200 that is the whole
 * file from byte 0); anything else stops the transfer with c->fail set. */
static int check_reply(pull_conn *c, const pull_chunk *ch)
{
    pull_job *j = c->j;
    long code = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
    c->status = code;
    if (j->sequential) {
        if (code != 200) return c->fail = CONN_HTTP;
        curl_off_t cl = -1;
        curl_easy_getinfo(c->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        if (cl >= 0 && (uint64_t)cl != j->size) return c->fail = CONN_BAD_REPLY;
        return 0;
    }
    if (code == 200) {
        if (ch->off + ch->got == 0 && ch->len == j->size) return 0;
        return c->fail = CONN_RANGE_IGNORED;
    }
    if (code != 206) return c->fail = CONN_HTTP;
    if (!c->cr_seen || c->cr_start != ch->off + ch->got || c->cr_total != j->size)
        return c->fail = CONN_BAD_REPLY;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    pull_conn *c = ud;
    pull_job *j = c->j;
    size_t len = size * n, used = 0;
    if (c->chunk < 0) return 0;
    if (!c->checked) {
        if (check_reply(c, &j->chunks[c->chunk])) return 0;
        c->checked = 1;
    }
    while (used < len) {
        pull_chunk *ch = &j->chunks[c->chunk];
        if (j->sequential && ch->got == ch->len) { /* move on to the next chunk */
            chunk_finish(j, ch);
            if ((uint32_t)c->chunk + 1 >= j->n_chunks) return c->fail = CONN_BAD_REPLY, 0;
            if (wait_window(j, (uint32_t)c->chunk + 1)) return c->fail = CONN_DISK, 0;
            ch = &j->chunks[++c->chunk];
            set_state(j, ch, PULL_CH_ACTIVE);
        }
        size_t room = (size_t)(ch->len - ch->got), take = len - used < room ? len - used : room;
        if (take == 0) return c->fail = CONN_BAD_REPLY, 0; /* more bytes than asked for */
        if ((c->disk_errno = chunk_write(j, ch, data + used, take)) != 0)
            return c->fail = CONN_DISK, 0;
        used += take;
    }
    j->bytes_fetched += len;
    return len;
}

/* ---- scheduling ---- */

int pull_chunks_init(pull_job *j)
{
    uint64_t n = (j->size + j->chunk_size - 1) / j->chunk_size;
    if (n == 0) n = 1;
    if (n > PULL_MAX_CHUNKS) return UH_ELIMIT;
    j->n_chunks = (uint32_t)n;
    j->chunks = calloc(n, sizeof *j->chunks);
    if (!j->chunks) return UH_ENOMEM;
    for (uint32_t i = 0; i < j->n_chunks; i++) {
        j->chunks[i].off = (uint64_t)i * j->chunk_size;
        j->chunks[i].len = i + 1 < n ? j->chunk_size : j->size - j->chunks[i].off;
    }
    return 0;
}

static void backoff(pull_chunk *ch, double now)
{
    double d = 0.25 * (double)(1u << (ch->attempts < 6 ? ch->attempts : 6));
    if (d > 10) d = 10;
    d *= 1.0 + (double)randombytes_uniform(1000) / 2000.0; /* jitter: x1 .. x1.5 */
    ch->not_before = now + d;
}

static int start_conn(pull_job *j, pull_conn *c, int idx)
{
    pull_chunk *ch = &j->chunks[idx];
    char range[64];
    ch->state = PULL_CH_ACTIVE; /* the caller holds j->mu */
    c->chunk = idx;
    c->checked = c->fail = c->cr_seen = c->disk_errno = 0;
    c->status = 0;
    c->errbuf[0] = 0;
    curl_slist_free_all(c->hdrs);
    c->hdrs = NULL;
    if (!j->sequential) {
        snprintf(range, sizeof range, "%" PRIu64 "-%" PRIu64, ch->off + ch->got,
                 ch->off + ch->len - 1);
        curl_easy_setopt(c->easy, CURLOPT_RANGE, range);
        if (j->etag[0]) {
            char h[PULL_MAX_ETAG + 16];
            snprintf(h, sizeof h, "If-Range: %s", j->etag);
            c->hdrs = curl_slist_append(NULL, h);
        }
    } else {
        curl_easy_setopt(c->easy, CURLOPT_RANGE, NULL);
    }
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdrs);
    if (curl_multi_add_handle(j->multi, c->easy) != CURLM_OK) {
        ch->state = PULL_CH_TODO;
        c->chunk = -1;
        return UH_ENOMEM;
    }
    return 0;
}

/* Progress: bytes on disk. */
static int report(pull_job *j, double now, int force)
{
    if (!force && now - j->t_last_progress < PULL_PROGRESS_EVERY) return 0;
    uint64_t done = 0;
    pthread_mutex_lock(&j->mu);
    for (uint32_t i = 0; i < j->n_chunks; i++)
        done += j->chunks[i].state >= PULL_CH_DONE ? j->chunks[i].len : j->chunks[i].got;
    pthread_mutex_unlock(&j->mu);
    double dt = now - j->speed_t;
    if (dt >= 0.5) {
        double inst = (double)(j->bytes_fetched - j->speed_bytes) / dt;
        j->speed = j->speed > 0 ? 0.5 * j->speed + 0.5 * inst : inst;
        j->speed_bytes = j->bytes_fetched;
        j->speed_t = now;
    }
    j->t_last_progress = now;
    if (!j->opts->progress) return 0;
    pull_progress p = {done, j->size, j->speed, "downloading"};
    return j->opts->progress(&p, j->opts->progress_ud);
}

/* Handles one finished transfer; 0 to go on, else a UH_* code (error set) or PULL_RANGE_IGNORED. */
static int on_done(pull_job *j, pull_conn *c, CURLcode res, double now, uh_err *err)
{
    pull_chunk *ch = &j->chunks[c->chunk];
    int idx = c->chunk;
    curl_multi_remove_handle(j->multi, c->easy);
    c->chunk = -1;
    if (res == CURLE_OK && !c->fail && !c->checked && ch->len > 0)
        c->fail = CONN_BAD_REPLY; /* an empty body */
    if (j->sequential && res == CURLE_OK && !c->fail && (uint32_t)idx + 1 != j->n_chunks)
        c->fail = CONN_BAD_REPLY; /* the stream ended early */
    if (res == CURLE_OK && !c->fail && ch->got == ch->len) {
        chunk_finish(j, ch);
        return 0;
    }
    if (c->fail == CONN_RANGE_IGNORED) return PULL_RANGE_IGNORED;
    if (c->fail == CONN_DISK)
        return c->disk_errno
                   ? err_setf(err, UH_EIO, "write %s: %s", j->part_path, strerror(c->disk_errno))
                   : err_setf(err, UH_EIO, "write %s failed", j->part_path);
    long st = c->status;
    if (res == CURLE_OK || c->fail == CONN_HTTP) curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &st);
    if (c->fail == CONN_HTTP && st >= 400 && st < 500 && st != 408 && st != 429)
        return err_setf(err, UH_EIO, "HTTP %ld from %s", st, j->url);
    char why[CURL_ERROR_SIZE + 64];
    if (c->fail == CONN_HTTP)
        snprintf(why, sizeof why, "HTTP %ld", st);
    else if (c->fail == CONN_BAD_REPLY)
        snprintf(why, sizeof why, "unexpected reply (HTTP %ld, wrong range or length)", st);
    else if (res == CURLE_OK)
        snprintf(why, sizeof why, "connection closed before the end of the range");
    else if (res == CURLE_OPERATION_TIMEDOUT)
        snprintf(why, sizeof why, "timed out (no data for %.0f s)", j->timeout_s);
    else
        snprintf(why, sizeof why, "%s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(res));
    /* without ranges the whole stream starts over: its attempts are counted on chunk 0 */
    pull_chunk *cnt = j->sequential ? &j->chunks[0] : ch;
    cnt->attempts++;
    if (!j->sequential) set_state(j, ch, PULL_CH_TODO);
    if (cnt->attempts > j->max_retries)
        return err_setf(err, UH_EIO, "%s: bytes from %" PRIu64 " failed %d times, last: %s",
                        j->url, ch->off + ch->got, cnt->attempts, why);
    log_warn("pull_retry", "chunk=%d attempt=%d reason=\"%s\"", idx, cnt->attempts, why);
    backoff(cnt, now);
    return 0;
}

/* Sequential mode: back to byte 0 after a broken stream. */
static int seq_reset(pull_job *j)
{
    hasher_stop(j);
    for (uint32_t i = 0; i < j->n_chunks; i++) {
        j->chunks[i].got = 0;
        j->chunks[i].state = PULL_CH_TODO;
    }
    j->n_hashed = 0;
    sha256_init(&j->hs);
    return hasher_start(j);
}

static int run_loop(pull_job *j, pull_conn *conns, uh_err *err)
{
    int rc = 0, active = 0, seq_attempts = 0, seq_done = 0;
    double seq_not_before = 0;
    for (;;) {
        double now = clock_mono_s();
        /* start transfers for free connections */
        pthread_mutex_lock(&j->mu);
        uint32_t hashed = j->n_hashed;
        int herr = j->hasher_err;
        if (!herr && hashed < j->n_chunks && !j->sequential) {
            uint32_t limit = hashed + j->window < j->n_chunks ? hashed + j->window : j->n_chunks;
            for (uint32_t i = hashed; i < limit && active < j->n_conn; i++) {
                pull_chunk *ch = &j->chunks[i];
                if (ch->state != PULL_CH_TODO || ch->not_before > now) continue;
                int k = 0;
                while (conns[k].chunk >= 0) k++;
                if ((rc = start_conn(j, &conns[k], (int)i)) != 0) break;
                active++;
            }
        }
        pthread_mutex_unlock(&j->mu);
        if (rc) {
            rc = err_setf(err, rc, "cannot start a transfer");
            break;
        }
        if (herr) {
            rc = err_setf(err, UH_EIO, "read back %s: %s", j->part_path, strerror(herr));
            break;
        }
        if (hashed == j->n_chunks) break;
        if (j->sequential) {
            if (active == 0 && !seq_done && now >= seq_not_before) {
                if (seq_attempts > 0 && (rc = seq_reset(j)) != 0) {
                    rc = err_setf(err, UH_ENOMEM, "cannot restart the hasher");
                    break;
                }
                pthread_mutex_lock(&j->mu);
                rc = start_conn(j, &conns[0], 0);
                pthread_mutex_unlock(&j->mu);
                if (rc) {
                    rc = err_setf(err, rc, "cannot start a transfer");
                    break;
                }
                active = 1;
            }
        }
        int running = 0;
        curl_multi_perform(j->multi, &running);
        CURLMsg *m;
        int left;
        while (!rc && (m = curl_multi_info_read(j->multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            pull_conn *c = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            CURLcode res = m->data.result;
            int fin = res == CURLE_OK && !c->fail;
            rc = on_done(j, c, res, now, err);
            active--;
            pull_chunk *last = &j->chunks[j->n_chunks - 1];
            if (j->sequential && !rc && fin && !c->fail && last->got == last->len) {
                seq_done = 1; /* the hasher finishes the rest */
            } else if (j->sequential && !rc) {
                seq_attempts++;
                seq_not_before = j->chunks[0].not_before;
            }
        }
        if (rc) break;
        if (report(j, clock_mono_s(), 0)) {
            rc = err_setf(err, UH_EIO, "cancelled (the download resumes where it stopped)");
            break;
        }
        if (!j->sequential && clock_mono_s() - j->t_last_save >= PULL_SAVE_EVERY) {
            pull_state_save(j, NULL);
            j->t_last_save = clock_mono_s();
        }
        curl_multi_poll(j->multi, NULL, 0, 100, NULL);
    }
    return rc;
}

int pull_fetch_run(pull_job *j, unsigned char digest[32], uh_err *err)
{
    int rc = 0, n_conn = j->sequential ? 1 : j->n_conn;
    pull_conn conns[PULL_MAX_CONN];
    memset(conns, 0, sizeof conns);
    j->fd = open(j->part_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (j->fd < 0) return err_setf(err, UH_EIO, "open %s: %s", j->part_path, strerror(errno));
    if (flock(j->fd, LOCK_EX | LOCK_NB) != 0) {
        close(j->fd);
        j->fd = -1;
        return err_setf(err, UH_EIO, "another pull of this file is running (%s is locked)",
                        j->part_path);
    }
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    uint64_t c = j->size / ((uint64_t)j->n_conn * 4);
    c = c < PULL_MIN_CHUNK ? PULL_MIN_CHUNK : c > PULL_MAX_CHUNK ? PULL_MAX_CHUNK : c;
    j->chunk_size = (uint32_t)(c & ~(uint64_t)0xffff);
    j->window = 2 * (uint32_t)j->n_conn + 2;
    if (j->sequential || !pull_state_load(j)) {
        pull_state_remove(j);
        free(j->chunks);
        j->chunks = NULL;
        j->n_hashed = 0;
        sha256_init(&j->hs);
        if (ftruncate(j->fd, 0) != 0 || (rc = pull_chunks_init(j)) != 0) {
            rc = rc ? err_setf(err, rc, "%s: too many chunks", j->url)
                    : err_setf(err, UH_EIO, "truncate %s: %s", j->part_path, strerror(errno));
            goto fail;
        }
    }
    if (!(j->multi = curl_multi_init())) {
        rc = err_setf(err, UH_ENOMEM, "curl_multi_init failed");
        goto fail;
    }
    curl_multi_setopt(j->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)n_conn);
    for (int i = 0; i < n_conn; i++) {
        conns[i].j = j;
        conns[i].chunk = -1;
        if (!(conns[i].easy = curl_easy_init())) {
            rc = err_setf(err, UH_ENOMEM, "curl_easy_init failed");
            goto fail;
        }
        CURL *e = conns[i].easy;
        pull_curl_common(e, j->opts, j->timeout_s);
        curl_easy_setopt(e, CURLOPT_URL, j->url);
        curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)&conns[i]);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, conns[i].errbuf);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, &conns[i]);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &conns[i]);
        curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 512L * 1024);
    }
    j->n_conn = n_conn;
    if (hasher_start(j) != 0) {
        rc = err_setf(err, UH_ENOMEM, "cannot start the hashing thread");
        goto fail;
    }
    j->t_last_save = j->speed_t = clock_mono_s();
    rc = run_loop(j, conns, err);
    hasher_stop(j);
    if (rc == 0) {
        report(j, clock_mono_s(), 1);
        sha256_state hs = j->hs;
        sha256_final(&hs, digest);
        if (fdatasync(j->fd) != 0) rc = err_setf(err, UH_EIO, "sync %s: %s", j->part_path,
                                                 strerror(errno));
    } else if (rc != PULL_RANGE_IGNORED && !j->sequential) {
        pull_state_save(j, NULL);
    }
fail:
    hasher_stop(j);
    for (int i = 0; i < PULL_MAX_CONN; i++) {
        if (conns[i].easy) {
            if (conns[i].chunk >= 0) curl_multi_remove_handle(j->multi, conns[i].easy);
            curl_easy_cleanup(conns[i].easy);
        }
        curl_slist_free_all(conns[i].hdrs);
    }
    if (j->multi) curl_multi_cleanup(j->multi);
    j->multi = NULL;
    free(j->chunks);
    j->chunks = NULL;
    close(j->fd); /* releases the lock */
    j->fd = -1;
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    return rc;
}
