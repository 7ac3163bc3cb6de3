/* store.h - the local model store, under the data directory (base/paths.h):
 *
 *   models/blobs/sha256-<64 hex>         GGUF files by content; immutable once there
 *   models/manifests/<name>/<tag>.json   one small manifest per name:tag (format below)
 *   models/partial/                      downloads in progress: never listed, never loaded
 *
 * Two names for the same file share one blob. An imported file may stay where it is: its
 * manifest then records "path" instead of a blob (a hard link into blobs/ is made when the file
 * is on the same filesystem, so the store keeps working if the original is moved).
 *
 * Manifest (JSON): {"name": "llama3.2", "tag": "1b", "sha256": "<hex>" | null, "path": "...",
 *   "size": N, "source": "https://..." | "import:/path" , "arch": "llama", "quant": "Q4_K_M",
 *   "n_params": N, "n_ctx_train": N, "license": "...", "added": unix-seconds}
 * Writes are atomic (temporary file + rename); a store shared by several processes stays
 * consistent, and a crash never leaves a half-written manifest or blob visible.
 *
 * Names: [a-z0-9][a-z0-9._-]* for the name (at most 100 bytes, '/' allowed for namespaces like
 * "user/model", at most 4 parts, each starting with [a-z0-9]), tag [a-zA-Z0-9._-]+ not starting
 * with '.' (at most 64), default tag "latest". Anything else is refused (names become paths, so
 * "../x" can never name a file outside manifests/). */
#ifndef UH_MODELS_STORE_H
#define UH_MODELS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "unhosted.h"

#define STORE_MAX_NAME 100
#define STORE_MAX_TAG  64

typedef struct store store;

typedef struct {
    char name[STORE_MAX_NAME + 1];
    char tag[STORE_MAX_TAG + 1];
    char sha256[65];  /* lowercase hex, "" if unknown (a file referenced in place, not hashed) */
    char path[4096];  /* the GGUF file to load */
    uint64_t size;
    char source[1024];
    char arch[32];
    char quant[32];
    uint64_t n_params;
    uint32_t n_ctx_train;
    char license[64];
    int64_t added;
} store_entry;

/* Opens (creating the directories, mode 0700) the store under the data directory. */
int store_open(store **out, uh_err *err);
void store_close(store *s);

/* Splits "name[:tag]" into its parts, validating both; tag defaults to "latest". */
int store_parse_name(const char *spec, char name[STORE_MAX_NAME + 1], char tag[STORE_MAX_TAG + 1],
                     uh_err *err);

/* All manifests, sorted by name then tag; *entries is malloc'd (caller frees). Manifests that do
 * not parse or whose file is gone are skipped with a warning in the log. */
int store_list(store *s, store_entry **entries, int *n, uh_err *err);
/* UH_ENOTFOUND if absent. */
int store_lookup(store *s, const char *name, const char *tag, store_entry *out, uh_err *err);
int store_put_manifest(store *s, const store_entry *e, uh_err *err);
/* Removes a manifest; the blob goes too when no other manifest uses it. */
int store_remove(store *s, const char *name, const char *tag, uh_err *err);

/* Path of the blob with this digest (whether or not it exists). */
int store_blob_path(const store *s, const char *sha256_hex, char *buf, size_t cap);
int store_has_blob(const store *s, const char *sha256_hex);
/* Moves a finished, verified file into blobs/ (rename; it must be on the store's filesystem,
 * e.g. under store_partial_dir). If the blob already exists the file is simply removed. */
int store_add_blob(store *s, const char *file, const char *sha256_hex, uh_err *err);
/* Directory for downloads in progress (same filesystem as blobs/). */
const char *store_partial_dir(const store *s);
/* The store's root directory (<data>/models). */
const char *store_root(const store *s);

#endif
