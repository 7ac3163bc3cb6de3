/* gguf_impl.h - internals shared by the GGUF reader files (gguf.c, gguf_value.c): the parsed
 * file object, the bounds-checked cursor and the arena that holds parsed arrays and names.
 * Not part of the engine's interface; only gguf*.c include it. */
#ifndef UH_GGUF_GGUF_IMPL_H
#define UH_GGUF_GGUF_IMPL_H

#include <stdint.h>

#include "gguf/gguf.h"

struct gguf_arena_chunk;

/* Open-addressing hash table of indexes into kvs or tensors (slot value = index + 1). */
typedef struct {
    uint32_t *slots;
    uint64_t mask; /* n_slots - 1, n_slots a power of two >= 2 x entries */
} gguf_index;

struct gguf_file {
    const uint8_t *data; /* the whole file: mapping or caller's buffer */
    size_t size;
    void *map; /* non-NULL when we own an mmap of map_len bytes */
    size_t map_len;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    uint64_t n_kv;
    gguf_kv *kvs;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    uint64_t *tensor_name_off; /* [n_tensors] file offset of each tensor info, for messages */
    gguf_index kv_index;
    gguf_index tensor_index;
    struct gguf_arena_chunk *arena; /* string tables, nested arrays, NUL-terminated names */
};

/* Cursor over the file bytes; every read checks the bytes left first. */
typedef struct {
    const uint8_t *p;
    uint64_t size;
    uint64_t pos;
} gguf_rd;

/* Zeroed memory owned by f, freed by gguf_close; NULL on allocation failure. */
void *gguf_arena_alloc(gguf_file *f, size_t n);

/* Fixed-size reads; field names the value in the error message. UH_EFORMAT when truncated. */
int gguf_rd_u32(gguf_rd *r, const char *field, uint32_t *out, uh_err *err);
int gguf_rd_u64(gguf_rd *r, const char *field, uint64_t *out, uh_err *err);
/* A length-prefixed string of at most cap bytes, borrowed from the file. */
int gguf_rd_str(gguf_rd *r, const char *field, uint64_t cap, gguf_str *out, uh_err *err);

/* Parses one value of the given type at the cursor into out (arrays of strings and arrays of
 * arrays get tables in f's arena). depth is the array nesting level of this value (1 for a
 * top-level array). On error the message names the innermost failing field; callers prefix it
 * with their context. */
int gguf_parse_value(gguf_file *f, gguf_rd *r, enum gguf_vtype type, int depth, gguf_value *out,
                     uh_err *err);

/* Writes a printable, escaped, possibly shortened form of len bytes into buf (for messages). */
void gguf_quote(char *buf, size_t cap, const char *s, uint64_t len);

#endif
