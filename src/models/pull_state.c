/* pull_state.c - the resume file of a download, <partial>/<id>.state beside <id>.part.
 *
 * Format (integers little-endian), written whole to a temporary file and renamed over the old:
 *   0    magic "UHPULLS\0"
 *   8    version u32 (1)
 *   12   chunk_size u32
 *   16   size u64                  file size
 *   24   n_chunks u32
 *   28   n_hashed u32              chunks [0, n_hashed) are in the hash state
 *   32   etag char[256]            the server's validator when the state was written, NUL-padded
 *   288  hash_lib char[32]         sha256_impl_tag() of the library that wrote hash_state
 *                                  ("openssl <OpenSSL_version_num() in hex>")
 *   320  hash_state_len u32
 *   324  hash_state u8[128]        sha256_state (the library's context, zero-padded)
 *   452  bitmap u8[(n_chunks+7)/8] bit i (LSB first) = chunk i is complete in the .part file
 *   ...  sha256 u8[32]             of every byte before it
 * A state whose checksum, size, chunk geometry or etag does not match is ignored (the download
 * starts over). One written by another library or library version (older files carry
 * "libsodium <version>") keeps its chunk map but not its hash state: the complete chunks are
 * hashed once from disk instead. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/file.h"
#include "base/log.h"
#include "models/pull_impl.h"

#define ST_MAGIC "UHPULLS"
#define ST_VERSION 1
#define ST_HDR 452
#define ST_HS_MAX 128

_Static_assert(sizeof(sha256_state) <= ST_HS_MAX, "hash state fits the file");

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

void pull_state_remove(const pull_job *j)
{
    unlink(j->state_path);
}

int pull_state_save(pull_job *j, uh_err *err)
{
    size_t nb = ((size_t)j->n_chunks + 7) / 8, len = ST_HDR + nb + 32;
    unsigned char *b = calloc(1, len);
    int rc = 0;
    if (!b) return err_setf(err, UH_ENOMEM, "out of memory");
    memcpy(b, ST_MAGIC, 8);
    put32(b + 8, ST_VERSION);
    put32(b + 12, j->chunk_size);
    put64(b + 16, j->size);
    put32(b + 24, j->n_chunks);
    memcpy(b + 32, j->etag, strnlen(j->etag, PULL_MAX_ETAG - 1));
    sha256_impl_tag((char *)b + 288);
    put32(b + 320, (uint32_t)sizeof(sha256_state));
    pthread_mutex_lock(&j->mu); /* a consistent snapshot: hash position, hash, chunk map */
    put32(b + 28, j->n_hashed);
    memcpy(b + 324, &j->hs, sizeof j->hs);
    for (uint32_t i = 0; i < j->n_chunks; i++)
        if (j->chunks[i].state >= PULL_CH_DONE) b[ST_HDR + i / 8] |= (unsigned char)(1u << (i % 8));
    pthread_mutex_unlock(&j->mu);
    sha256_buf(b + ST_HDR + nb, b, ST_HDR + nb);
    /* the data the map claims must be on disk before the map is */
    if (fdatasync(j->fd) != 0) {
        rc = err_setf(err, UH_EIO, "sync %s: %s", j->part_path, strerror(errno));
        goto fail;
    }
    rc = file_write_atomic(j->state_path, b, len, 0644, err);
fail:
    if (rc) {
        log_warn("pull_state_save", "path=%s error=\"%s\"", j->state_path, err ? err->msg : "");
    }
    free(b);
    return rc;
}

int pull_state_load(pull_job *j)
{
    unsigned char *b = NULL;
    int used = 0;
    struct stat st;
    size_t cap = ST_HDR + PULL_MAX_CHUNKS / 8 + 32, len = 0;
    char *raw = NULL;
    /* a missing, unreadable or oversized state is no state: the download starts over */
    if (file_read(j->state_path, cap, &raw, &len, NULL) != 0) return 0;
    b = (unsigned char *)raw;
    if (len < ST_HDR + 1 + 32 || memcmp(b, ST_MAGIC, 8) != 0 || get32(b + 8) != ST_VERSION)
        goto out;
    uint32_t cs = get32(b + 12), n = get32(b + 24), nh = get32(b + 28);
    size_t nb = ((size_t)n + 7) / 8;
    unsigned char sum[32];
    if (len != ST_HDR + nb + 32) goto out;
    sha256_buf(sum, b, ST_HDR + nb);
    if (memcmp(sum, b + ST_HDR + nb, 32) != 0) goto out;
    char etag[PULL_MAX_ETAG];
    memcpy(etag, b + 32, sizeof etag);
    etag[sizeof etag - 1] = 0;
    if (get64(b + 16) != j->size || strcmp(etag, j->etag) != 0 || cs < PULL_MIN_CHUNK ||
        cs > PULL_MAX_CHUNK || nh > n)
        goto out;
    j->chunk_size = cs;
    free(j->chunks);
    j->chunks = NULL;
    if (pull_chunks_init(j) != 0 || j->n_chunks != n) goto out;
    uint64_t extent = 0;
    for (uint32_t i = 0; i < n; i++) {
        int bit = b[ST_HDR + i / 8] >> (i % 8) & 1;
        if (i < nh && !bit) goto out;
        if (bit) {
            j->chunks[i].state = i < nh ? PULL_CH_HASHED : PULL_CH_DONE;
            j->chunks[i].got = j->chunks[i].len;
            extent = j->chunks[i].off + j->chunks[i].len;
        }
    }
    if (fstat(j->fd, &st) != 0 || (uint64_t)st.st_size < extent) goto out;
    char lib[SHA256_TAG_BYTES];
    sha256_impl_tag(lib);
    if (memcmp(lib, b + 288, 32) == 0 && get32(b + 320) == sizeof(sha256_state)) {
        memcpy(&j->hs, b + 324, sizeof j->hs);
        j->n_hashed = nh;
    } else { /* another library wrote the hash state: hash the complete chunks again */
        sha256_init(&j->hs);
        j->n_hashed = 0;
        for (uint32_t i = 0; i < nh; i++) j->chunks[i].state = PULL_CH_DONE;
        log_info("pull_state", "path=%s hash_state=discarded reason=library_version",
                 j->state_path);
    }
    used = 1;
    log_info("pull_resume", "path=%s hashed_chunks=%u of=%u", j->part_path, j->n_hashed, n);
out:
    if (!used) {
        free(j->chunks);
        j->chunks = NULL;
    }
    free(b);
    return used;
}
