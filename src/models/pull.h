/* pull.h - downloading a GGUF file over HTTP(S) into the store, verified and resumable.
 *
 * Several ranged connections fetch chunks inside a sliding window ahead of the hash position;
 * SHA-256 is computed in order as the chunks complete (bounded memory, no second read of the
 * file). Progress (bytes done, chunk map, hash state) is saved next to the partial file, so an
 * interrupted pull - a dropped connection or a restarted program - resumes where it stopped.
 * Retries back off exponentially and are bounded. A server that ignores ranges (200 instead of
 * 206) is handled by a single sequential stream. The finished file is checked against the
 * expected digest (or the one the server publishes), validated by the GGUF reader, and only
 * then moved into the store and given a manifest. */
#ifndef UH_MODELS_PULL_H
#define UH_MODELS_PULL_H

#include <stddef.h>
#include <stdint.h>

#include "models/store.h"
#include "unhosted.h"

typedef struct {
    uint64_t done;      /* bytes verified or on disk */
    uint64_t total;     /* 0 while unknown */
    double bytes_per_s; /* recent speed */
    const char *status; /* "resolving", "downloading", "verifying", "done" */
} pull_progress;

/* Return non-zero to cancel the pull (it stays resumable). */
typedef int (*pull_progress_fn)(const pull_progress *p, void *ud);

typedef struct {
    const char *url;            /* http(s):// URL of the GGUF file */
    const char *sha256;         /* expected digest (hex), or NULL: use the server's, if any */
    uint64_t size;              /* expected size, or 0 */
    const char *name, *tag;     /* manifest to write */
    int n_connections;          /* 0 = default (4) */
    int max_retries;            /* per chunk; 0 = default (5) */
    double timeout_s;           /* no progress for this long = a failed attempt; 0 = 30 s */
    pull_progress_fn progress;  /* may be NULL */
    void *progress_ud;
    int no_verify;              /* accept a file whose digest nobody published (see below) */
} pull_opts;

/* Downloads, verifies and stores. The expected digest is o->sha256, else the one the server
 * publishes: an X-Linked-ETag or ETag header that is 64 hex digits (Hugging Face LFS objects).
 * Without either the pull is refused before any data is fetched, unless o->no_verify is set
 * (the file is then stored under the digest computed while downloading, with a warning).
 * A name:tag already in the store with the same digest (or, without one, the same source URL)
 * returns at once without touching the network; a blob already present by digest only gets a
 * manifest. Cancelling through the progress callback returns UH_EIO ("cancelled") and leaves
 * the partial download in store_partial_dir, resumed by the next call for the same file.
 * o->url may also be hf://ORG/REPO/FILE.gguf (see pull_map_url).
 * Errors: UH_EIO (network, disk; message says which and the HTTP status when there is one),
 * UH_EFORMAT (digest mismatch: data discarded; not a valid GGUF), UH_ELIMIT (not enough free
 * disk space), UH_EINVAL (bad URL, or nothing to verify the file against). */
int pull_model(store *s, const pull_opts *o, store_entry *out, uh_err *err);

/* hf://ORG/REPO/PATH -> https://huggingface.co/ORG/REPO/resolve/main/PATH; http(s) URLs are
 * copied. UH_EINVAL for other schemes, control characters or spaces; UH_ELIMIT if longer than
 * PULL_MAX_URL or cap. */
#define PULL_MAX_URL 2048
int pull_map_url(const char *in, char *out, size_t cap, uh_err *err);

/* A store name for a URL without --name: the file's base name, lowercased, ".gguf" dropped,
 * other characters outside [a-z0-9._-] turned into '-'; tag "latest". */
int pull_default_name(const char *url, char name[STORE_MAX_NAME + 1], char tag[STORE_MAX_TAG + 1],
                      uh_err *err);

/* What a user asked to pull, made concrete: a registry name[:tag] (its URL, digest and size) or a
 * URL (http(s)://, hf://ORG/REPO/FILE.gguf; store name from the file name). as (may be NULL)
 * overrides the store name, sha (may be NULL) the expected digest. */
typedef struct {
    char url[PULL_MAX_URL + 1];
    char name[STORE_MAX_NAME + 1];
    char tag[STORE_MAX_TAG + 1];
    const char *sha256; /* borrowed from sha or the registry; NULL if neither has one */
    uint64_t size;      /* 0 if unknown */
} pull_target;

/* Errors: UH_EINVAL (bad URL or name), UH_ENOTFOUND (neither a registry name nor a URL),
 * UH_EUNSUPPORTED (a registry model whose architecture this build cannot run). */
int pull_resolve_target(const char *what, const char *as, const char *sha, pull_target *t,
                        uh_err *err);

#endif
