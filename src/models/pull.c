/* pull.c - a pull from start to finish: map the URL, answer from the store when the file is
 * already there, ask the server about the file (HEAD: size, ranges, ETag / X-Linked-ETag), pick
 * the digest to check against, check free disk space, run the download (pull_fetch.c), compare
 * the digest, validate the GGUF, move it into the store and write the manifest.
 *
 * Partial downloads live in store_partial_dir as <id>.part and <id>.state, where <id> is the
 * expected SHA-256 when one is known, else "url-" and the SHA-256 of the URL. */
#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "models/import.h"
#include "models/info.h"
#include "models/pull_impl.h"

#define PULL_SPACE_MARGIN (64ull << 20) /* bytes kept free beyond the file */
#define PULL_DEFAULT_CONN 4
#define PULL_DEFAULT_RETRIES 5
#define PULL_DEFAULT_TIMEOUT 30.0

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_init_rc;

static void global_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || sodium_init() < 0) g_init_rc = -1;
}

/* ---- names and URLs ---- */

int pull_map_url(const char *in, char *out, size_t cap, uh_err *err)
{
    size_t n = strlen(in);
    if (n > PULL_MAX_URL) return err_setf(err, UH_ELIMIT, "URL longer than %d bytes", PULL_MAX_URL);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)in[i] <= 0x20 || in[i] == 0x7f)
            return err_setf(err, UH_EINVAL, "URL contains a space or control character");
    int w;
    if (strncmp(in, "hf://", 5) == 0) {
        const char *p = in + 5, *s1 = strchr(p, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        if (!s1 || s1 == p || !s2 || s2 == s1 + 1 || !s2[1])
            return err_setf(err, UH_EINVAL, "%s: expected hf://ORG/REPO/FILE.gguf", in);
        w = snprintf(out, cap, "https://huggingface.co/%.*s/resolve/main/%s", (int)(s2 - p), p,
                     s2 + 1);
    } else if (strncmp(in, "http://", 7) == 0 || strncmp(in, "https://", 8) == 0) {
        w = snprintf(out, cap, "%s", in);
    } else {
        return err_setf(err, UH_EINVAL, "%s: not an http://, https:// or hf:// URL", in);
    }
    if (w < 0 || (size_t)w >= cap || (size_t)w > PULL_MAX_URL)
        return err_setf(err, UH_ELIMIT, "URL longer than %d bytes", PULL_MAX_URL);
    return 0;
}

int pull_default_name(const char *url, char name[STORE_MAX_NAME + 1], char tag[STORE_MAX_TAG + 1],
                      uh_err *err)
{
    char path[PULL_MAX_URL + 1];
    size_t n = strcspn(url, "?#");
    if (n > PULL_MAX_URL) n = PULL_MAX_URL;
    memcpy(path, url, n);
    path[n] = 0;
    if (models_name_from_file(path, name, STORE_MAX_NAME + 1) != 0)
        return err_setf(err, UH_EINVAL, "%s: cannot derive a model name; pass --name", url);
    snprintf(tag, STORE_MAX_TAG + 1, "latest");
    return 0;
}

static int parse_hex64(const char *s, char out[65])
{
    size_t i = 0;
    for (; s[i] && i < 64; i++) {
        if (!isxdigit((unsigned char)s[i])) return -1;
        out[i] = (char)tolower((unsigned char)s[i]);
    }
    out[i] = 0;
    return i == 64 && !s[i] ? 0 : -1;
}

/* A published digest in an ETag: "<64 hex>" with optional quotes; weak ETags do not count. */
static int etag_digest(const char *etag, char out[65])
{
    char t[PULL_MAX_ETAG];
    if (!etag[0] || strncmp(etag, "W/", 2) == 0) return -1;
    size_t n = strlen(etag);
    if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') {
        memcpy(t, etag + 1, n - 2);
        t[n - 2] = 0;
    } else {
        memcpy(t, etag, n + 1);
    }
    return parse_hex64(t, out);
}

static void progress(const pull_opts *o, const char *status, uint64_t done, uint64_t total)
{
    if (!o->progress) return;
    pull_progress p = {done, total, 0, status};
    o->progress(&p, o->progress_ud);
}

/* ---- the probe ---- */

static size_t probe_header(char *line, size_t size, size_t n, void *ud)
{
    pull_remote *r = ud;
    size_t len = size * n;
    char v[PULL_MAX_ETAG];
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) { /* per reply; X-Linked-* survive redirects */
        r->size = 0;
        r->ranges = 0;
        r->etag[0] = 0;
    } else if (pull_header_value(line, len, "Content-Length", v, sizeof v)) {
        r->size = strtoull(v, NULL, 10);
    } else if (pull_header_value(line, len, "Accept-Ranges", v, sizeof v)) {
        r->ranges = strcasecmp(v, "bytes") == 0 ? 1 : strcasecmp(v, "none") == 0 ? -1 : 0;
    } else if (pull_header_value(line, len, "ETag", v, sizeof v)) {
        memcpy(r->etag, v, sizeof v);
    } else if (pull_header_value(line, len, "X-Linked-ETag", v, sizeof v)) {
        memcpy(r->linked_etag, v, sizeof v);
    }
    return len;
}

/* HEAD with redirects; retried like a chunk on network errors and 5xx. */
static int probe(const char *url, const pull_opts *o, int max_retries, double timeout_s,
                 pull_remote *r, uh_err *err)
{
    CURL *c = curl_easy_init();
    char eb[CURL_ERROR_SIZE];
    int rc = 0;
    if (!c) return err_setf(err, UH_ENOMEM, "curl_easy_init failed");
    for (int attempt = 0;; attempt++) {
        memset(r, 0, sizeof *r);
        eb[0] = 0;
        curl_easy_reset(c);
        pull_curl_common(c, o, timeout_s);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, eb);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, probe_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)(4 * timeout_s + 1));
        CURLcode res = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        if (res == CURLE_OK && r->status >= 200 && r->status < 300) break;
        int fatal = res == CURLE_OK && r->status >= 400 && r->status < 500 && r->status != 408 &&
                    r->status != 429;
        if (fatal || attempt >= max_retries) {
            if (res == CURLE_OK)
                rc = err_setf(err, UH_EIO, "HTTP %ld from %s", r->status, url);
            else if (res == CURLE_OPERATION_TIMEDOUT)
                rc = err_setf(err, UH_EIO, "%s: timed out (no answer within %.0f s)", url,
                              timeout_s);
            else
                rc = err_setf(err, UH_EIO, "%s: %s", url, eb[0] ? eb : curl_easy_strerror(res));
            if (!fatal) err_prefix(err, UH_EIO, "after %d attempts", attempt + 1);
            break;
        }
        double d = 0.25 * (double)(1u << (attempt < 6 ? attempt + 1 : 7));
        log_warn("pull_retry", "what=probe attempt=%d wait_s=%.2f", attempt + 1, d);
        usleep((useconds_t)(d * 1e6));
    }
    curl_easy_cleanup(c);
    return rc;
}

/* ---- the store side ---- */

/* Validates the GGUF at path and fills the entry's file facts from it. */
static int entry_from_gguf(store_entry *e, const char *path, uh_err *err)
{
    return models_file_info(path, e, err);
}

/* Writes the manifest for a blob already in the store. */
static int manifest_for_blob(store *s, store_entry *e, const char *sha, const char *url,
                             uh_err *err)
{
    int rc;
    snprintf(e->sha256, sizeof e->sha256, "%s", sha);
    snprintf(e->source, sizeof e->source, "%s", url);
    if (store_blob_path(s, sha, e->path, sizeof e->path) != 0)
        return err_setf(err, UH_ELIMIT, "store path too long");
    if ((rc = entry_from_gguf(e, e->path, err)) != 0)
        return err_prefix(err, rc, "%s", e->path);
    e->added = clock_wall_s();
    return store_put_manifest(s, e, err);
}

/* Free space on the partial directory's filesystem for what is left to fetch. */
static int check_space(const char *dir, const char *part, uint64_t size, uh_err *err)
{
    struct statvfs v;
    struct stat st;
    uint64_t have_part = 0;
    if (stat(part, &st) == 0) have_part = (uint64_t)st.st_blocks * 512;
    if (have_part > size) have_part = size;
    if (statvfs(dir, &v) != 0) return 0; /* cannot tell: let the writes say */
    uint64_t avail = (uint64_t)v.f_bavail * v.f_frsize, need = size - have_part + PULL_SPACE_MARGIN;
    if (avail < need)
        return err_setf(err, UH_ELIMIT, "need %.2f GiB free on %s, have %.2f GiB",
                        (double)need / (1u << 30), dir, (double)avail / (1u << 30));
    return 0;
}

int pull_model(store *s, const pull_opts *o, store_entry *out, uh_err *err)
{
    char url[PULL_MAX_URL + 1], expected[65] = "", got[65], spec[STORE_MAX_NAME + STORE_MAX_TAG + 2];
    unsigned char digest[32];
    store_entry e;
    pull_remote r;
    pull_job j;
    int rc;
    memset(&e, 0, sizeof e);
    memset(&j, 0, sizeof j);
    j.fd = -1;
    if (!s || !o || !o->url) return err_setf(err, UH_EINVAL, "pull: no URL");
    pthread_once(&g_once, global_init);
    if (g_init_rc) return err_setf(err, UH_EIO, "cannot initialise libcurl or libsodium");
    if ((rc = pull_map_url(o->url, url, sizeof url, err)) != 0) return rc;
    if (o->name) {
        snprintf(spec, sizeof spec, "%s:%s", o->name, o->tag ? o->tag : "latest");
        if ((rc = store_parse_name(spec, e.name, e.tag, err)) != 0) return rc;
    } else if ((rc = pull_default_name(url, e.name, e.tag, err)) != 0) {
        return rc;
    }
    if (o->sha256 && parse_hex64(o->sha256, expected) != 0)
        return err_setf(err, UH_EINVAL, "sha256 '%.80s' is not 64 hex digits", o->sha256);
    int n_conn = o->n_connections > 0 ? o->n_connections : PULL_DEFAULT_CONN;
    int max_retries = o->max_retries > 0 ? o->max_retries : PULL_DEFAULT_RETRIES;
    double timeout_s = o->timeout_s > 0 ? o->timeout_s : PULL_DEFAULT_TIMEOUT;
    if (n_conn > PULL_MAX_CONN) n_conn = PULL_MAX_CONN;

    /* already here? then no network at all */
    store_entry have;
    if (store_lookup(s, e.name, e.tag, &have, NULL) == 0 && access(have.path, R_OK) == 0 &&
        (expected[0] ? strcmp(have.sha256, expected) == 0
                     : have.sha256[0] && strcmp(have.source, url) == 0)) {
        if (out) *out = have;
        progress(o, "done", have.size, have.size);
        return 0;
    }
    progress(o, "resolving", 0, 0);
    if (expected[0] && store_has_blob(s, expected)) goto from_blob;

    if ((rc = probe(url, o, max_retries, timeout_s, &r, err)) != 0) return rc;
    if (!expected[0] && etag_digest(r.linked_etag, expected) != 0 &&
        etag_digest(r.etag, expected) != 0) {
        expected[0] = 0;
        if (!o->no_verify)
            return err_setf(err, UH_EINVAL,
                            "%s: no SHA-256 to check the download against (none given, and the "
                            "server publishes none); pass --sha256 HEX, or --no-verify to accept "
                            "the file unverified", url);
        log_warn("pull_unverified", "url=%s", url);
    }
    if (expected[0] && store_has_blob(s, expected)) goto from_blob;
    j.size = r.size;
    if (o->size && j.size && o->size != j.size)
        return err_setf(err, UH_EFORMAT, "%s: server says %" PRIu64 " bytes, expected %" PRIu64,
                        url, j.size, o->size);
    if (!j.size) j.size = o->size;
    if (!j.size) return err_setf(err, UH_EIO, "%s: the server did not say how large the file is", url);

    /* the download */
    char id[80];
    if (expected[0]) {
        snprintf(id, sizeof id, "%s", expected);
    } else {
        unsigned char uh[32];
        char hx[65];
        sha256_buf(uh, url, strlen(url));
        sha256_hex(uh, hx);
        snprintf(id, sizeof id, "url-%.40s", hx);
    }
    const char *pdir = store_partial_dir(s);
    if (snprintf(j.part_path, sizeof j.part_path, "%s/%s.part", pdir, id) >=
            (int)sizeof j.part_path ||
        snprintf(j.state_path, sizeof j.state_path, "%s/%s.state", pdir, id) >=
            (int)sizeof j.state_path)
        return err_setf(err, UH_ELIMIT, "partial directory path too long");
    if ((rc = check_space(pdir, j.part_path, j.size, err)) != 0) return rc;
    j.opts = o;
    j.url = url;
    j.n_conn = n_conn;
    j.max_retries = max_retries;
    j.timeout_s = timeout_s;
    j.sequential = r.ranges < 0;
    if (strncmp(r.etag, "W/", 2) != 0) snprintf(j.etag, sizeof j.etag, "%s", r.etag);
    log_info("pull_start", "url=%s size=%" PRIu64 " connections=%d sha256=%s", url, j.size,
             n_conn, expected[0] ? expected : "unknown");
    rc = pull_fetch_run(&j, digest, err);
    if (rc == PULL_RANGE_IGNORED) {
        log_info("pull_sequential", "url=%s reason=range_ignored", url);
        j.sequential = 1;
        rc = pull_fetch_run(&j, digest, err);
    }
    if (j.sequential) pull_state_remove(&j); /* a stream without ranges cannot resume */
    if (rc) return rc;

    sha256_hex(digest, got);
    progress(o, "verifying", j.size, j.size);
    if (expected[0] && sodium_memcmp(got, expected, 64) != 0) {
        unlink(j.part_path);
        pull_state_remove(&j);
        return err_setf(err, UH_EFORMAT,
                        "sha256 mismatch for %s: expected %s, got %s (download discarded)", url,
                        expected, got);
    }
    if ((rc = entry_from_gguf(&e, j.part_path, err)) != 0) {
        unlink(j.part_path);
        pull_state_remove(&j);
        return err_prefix(err, UH_EFORMAT, "%s: the download is not a usable GGUF file", url);
    }
    if ((rc = store_add_blob(s, j.part_path, got, err)) != 0) return rc;
    pull_state_remove(&j);
    snprintf(expected, sizeof expected, "%s", got);

from_blob:
    if ((rc = manifest_for_blob(s, &e, expected, url, err)) != 0) return rc;
    if (out) *out = e;
    progress(o, "done", e.size, e.size);
    log_info("pull_done", "name=%s:%s sha256=%s size=%" PRIu64, e.name, e.tag, e.sha256, e.size);
    return 0;
}
