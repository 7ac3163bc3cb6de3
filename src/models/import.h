/* import.h - adding a GGUF file that is already on disk to the store, without copying it. */
#ifndef UH_MODELS_IMPORT_H
#define UH_MODELS_IMPORT_H

#include <stddef.h>

#include "models/store.h"
#include "unhosted.h"

/* Validates file with the GGUF reader, then: on the store's filesystem, hashes it and hard-links
 * it into blobs/ (content-addressed; a blob with the same digest is simply shared); elsewhere,
 * or where a link is not allowed, the manifest references the file in place by its absolute
 * path (hashed only when on the store's filesystem). Writes the manifest name:tag and fills
 * *out. An existing name:tag is replaced. A hard link shares the inode: editing the original
 * file in place would change the stored model too (GGUF files are not edited in practice). */
int models_import(store *s, const char *file, const char *name, const char *tag, store_entry *out,
                  uh_err *err);

/* A store name made from a file name: "Llama-3.2-1B-Instruct-Q4_K_M.gguf" ->
 * "llama-3.2-1b-instruct-q4_k_m" (lowercased, other characters to '-', extension dropped). */
int models_name_from_file(const char *file, char *name, size_t cap);

#endif
