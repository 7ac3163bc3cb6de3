/* registry.h - short model names ("llama3.2:1b", "qwen2.5:7b-q8_0") to download locations.
 *
 * The table is a data file in the repository (models/registry.json, format in docs/models.md)
 * compiled into the binary, so a pull needs no network round trip to learn what a name means.
 * Entries of architectures the engine cannot run yet are kept, marked unsupported, so asking for
 * them gives a clear refusal instead of a download that cannot be used. */
#ifndef UH_MODELS_REGISTRY_H
#define UH_MODELS_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "unhosted.h"

typedef struct {
    const char *name;    /* "llama3.2" */
    const char *tag;     /* "1b", "1b-q8_0" */
    const char *url;     /* https://... of the GGUF file */
    const char *sha256;  /* lowercase hex, or NULL where not published */
    uint64_t size;       /* bytes, 0 where unknown */
    const char *arch;    /* GGUF general.architecture */
    const char *quant;   /* "Q4_K_M" */
    uint32_t n_ctx;      /* training context length */
    const char *license;
    int supported;       /* the engine can run this architecture */
    int is_default;      /* the tag "name" and "name:latest" mean */
} registry_entry;

/* Finds name:tag; tag NULL or "latest" means the name's default tag. UH_ENOTFOUND if unknown;
 * an entry that is not supported is still returned (check ->supported). */
int registry_lookup(const char *name, const char *tag, const registry_entry **out, uh_err *err);

/* All entries, in file order. The table is parsed once (thread-safe) on first use and lives
 * for the whole process; an embedded file that does not validate leaves it empty (logged). */
int registry_count(void);
const registry_entry *registry_at(int i);

/* Validates a registry file's text and counts its entries; 0 or UH_EFORMAT naming the entry and
 * field. Used on the embedded copy at start-up and by the tests on models/registry.json. */
int registry_check(const char *json, size_t len, int *n_entries, uh_err *err);

#endif
