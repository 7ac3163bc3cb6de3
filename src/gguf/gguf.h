/* gguf.h - GGUF v2/v3 reader (mmap, fully validated) and writer.
 *
 * File format (little-endian):
 *   magic "GGUF" (4 bytes) | version u32 (2 or 3) | n_tensors u64 | n_kv u64
 *   n_kv x { key: string | value_type u32 | value }
 *   n_tensors x { name: string | n_dims u32 (1..4) | ne[n_dims] u64 | type u32 | offset u64 }
 *   padding to `general.alignment` (u32 metadata key, default 32, a power of two)
 *   tensor data: each tensor at data_start + offset, offset a multiple of the alignment
 *   string = len u64 | len bytes (not NUL-terminated)
 *   value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool (1 byte, 0 or 1),
 *                8 string, 9 array = elem_type u32 | n u64 | n elements (arrays may nest),
 *                10 u64, 11 i64, 12 f64
 * (Version 1 used u32 counts and lengths; it is rejected as unsupported.)
 *
 * Every count, length and offset is checked against the bytes left in the file before it is
 * used; on error the message names the field and its file offset. Tensor data ranges must lie
 * inside the file, be aligned, and not overlap. Names and strings are capped (see GGUF_MAX_*).
 *
 * Ownership: a gguf_file owns its mapping and all parsed structures; every pointer it hands out
 * (strings, raw array data, tensor data) points into the mapping or into the gguf_file and is
 * valid until gguf_close. */
#ifndef UH_GGUF_GGUF_H
#define UH_GGUF_GGUF_H

#include <stdint.h>
#include <stddef.h>

#include "unhosted_base.h"

#define GGUF_MAGIC            0x46554747u /* "GGUF" read as little-endian u32 */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS         4
#define GGUF_MAX_NAME         256        /* tensor name bytes */
#define GGUF_MAX_KEY          65535      /* metadata key bytes */
#define GGUF_MAX_ARRAY_DEPTH  8          /* nesting of arrays inside arrays */
/* Tensor data must start at a file offset that is a multiple of this (kernels read block
 * structs and floats in place), whatever general.alignment says; buffers given to
 * gguf_open_mem must be aligned to it too. */
#define GGUF_DATA_MIN_ALIGN   8

enum gguf_vtype {
    GGUF_T_U8 = 0,
    GGUF_T_I8 = 1,
    GGUF_T_U16 = 2,
    GGUF_T_I16 = 3,
    GGUF_T_U32 = 4,
    GGUF_T_I32 = 5,
    GGUF_T_F32 = 6,
    GGUF_T_BOOL = 7,
    GGUF_T_STR = 8,
    GGUF_T_ARR = 9,
    GGUF_T_U64 = 10,
    GGUF_T_I64 = 11,
    GGUF_T_F64 = 12,
    GGUF_T_COUNT
};

typedef struct {
    uint64_t len;
    const char *ptr; /* len bytes, not NUL-terminated */
} gguf_str;

typedef struct gguf_value gguf_value;
struct gguf_value {
    enum gguf_vtype type;
    union {
        uint64_t u;   /* U8, U16, U32, U64, BOOL */
        int64_t i;    /* I8, I16, I32, I64 */
        double f;     /* F32, F64 */
        gguf_str s;   /* STR */
        struct {
            enum gguf_vtype elem_type;
            uint64_t n;
            const void *raw;       /* numeric/bool elements: n * size, packed little-endian,
                                    * possibly unaligned (read with memcpy / gguf_arr_* helpers) */
            const gguf_str *strs;  /* STR elements: n entries */
            const gguf_value *arrs; /* ARR elements: n nested array values */
        } arr;
    } v;
};

typedef struct {
    gguf_str key;
    const char *key_z; /* NUL-terminated copy of the key */
    gguf_value value;
    uint64_t file_offset; /* where the key starts, for messages */
} gguf_kv;

typedef struct {
    const char *name;      /* NUL-terminated copy */
    uint32_t n_dims;       /* 1..4 */
    int64_t ne[GGUF_MAX_DIMS]; /* elements per dimension, ne[0] fastest; unused dims are 1 */
    uint32_t type;         /* enum qtype (validated to be a known type) */
    uint64_t offset;       /* relative to the data section */
    uint64_t size;         /* bytes of data */
    const void *data;      /* into the mapping */
    const void *packed;    /* the engine's packed copy (qt_packed_kernels), or NULL */
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Opens and maps path read-only, parses and validates everything. */
int gguf_open(const char *path, gguf_file **out, uh_err *err);
/* Same, over a caller-owned buffer that must outlive the gguf_file (used by fuzzers/tests) and
 * be GGUF_DATA_MIN_ALIGN-aligned (malloc'd memory is). */
int gguf_open_mem(const void *data, size_t size, gguf_file **out, uh_err *err);
void gguf_close(gguf_file *f);

uint32_t gguf_version(const gguf_file *f);
uint32_t gguf_alignment(const gguf_file *f);
size_t gguf_file_size(const gguf_file *f);
/* File offset of the tensor data section; a file without tensors may end before it. */
uint64_t gguf_data_offset(const gguf_file *f);

uint64_t gguf_n_kv(const gguf_file *f);
const gguf_kv *gguf_kv_at(const gguf_file *f, uint64_t i);
const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key); /* NULL if absent */

uint64_t gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, uint64_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name); /* NULL if absent */
/* The same tensor, writable by the file's owner (to attach a packed copy). */
gguf_tensor *gguf_tensor_mut(gguf_file *f, const gguf_tensor *t);
/* Lets the kernel drop the resident pages of a tensor whose data another copy replaces; they are
 * read from the file again if touched. Does nothing for files opened over caller memory. */
void gguf_tensor_release(gguf_file *f, const gguf_tensor *t);

/* Typed getters. Return UH_ENOTFOUND if the key is absent (out untouched), UH_EFORMAT (with a
 * message naming the key) if it has an incompatible type or an out-of-range value. Integer
 * getters accept any integer type whose value fits; gguf_get_f32 accepts F32/F64. */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, uh_err *err);
int gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, uh_err *err);
int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, uh_err *err);
int gguf_get_f32(const gguf_file *f, const char *key, float *out, uh_err *err);
int gguf_get_bool(const gguf_file *f, const char *key, int *out, uh_err *err);
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, uh_err *err);
/* An array of the given element type (GGUF_T_ARR elements not allowed here). */
int gguf_get_arr(const gguf_file *f, const char *key, enum gguf_vtype elem_type,
                 const gguf_value **out, uh_err *err);

/* Element i of a numeric array value, converted (no range check: i < arr.n is the caller's). */
double gguf_arr_f64(const gguf_value *arr, uint64_t i);
int64_t gguf_arr_i64(const gguf_value *arr, uint64_t i);

const char *gguf_vtype_name(int t);  /* "u32", "array", ...; "?" for unknown */
size_t gguf_vtype_size(int t);       /* byte size of a scalar type, 0 for STR/ARR/unknown */

/* ---- writer ----
 * Collects metadata and tensors in memory (tensor data is copied), then writes a v3 file in one
 * go: header, kv in insertion order, tensor infos in insertion order, data aligned to
 * `alignment`. Setting a key twice replaces the first value. */
typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void); /* NULL on allocation failure */
void gguf_writer_free(gguf_writer *w);

int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
int gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
int gguf_writer_set_bool(gguf_writer *w, const char *key, int v);
int gguf_writer_set_str(gguf_writer *w, const char *key, const char *s);
/* Numeric/bool array: n elements of elem_type packed little-endian at data. */
int gguf_writer_set_arr(gguf_writer *w, const char *key, enum gguf_vtype elem_type,
                        const void *data, uint64_t n);
int gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                            uint64_t n);
/* Copies a key/value (any type, nested arrays included) from an opened file. */
int gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv);

/* ne has n_dims entries; size must equal the row size of type times the other dims. */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                           const int64_t *ne, const void *data, uint64_t size);

/* Message of the last failed set/add call ("" if none), for callers that want the detail. */
const char *gguf_writer_error(const gguf_writer *w);

/* Writes to path (via a temporary file renamed into place, so a failed write leaves nothing).
 * alignment 0 = GGUF_DEFAULT_ALIGNMENT; else a power of two >= GGUF_DATA_MIN_ALIGN; a non-default
 * one is also stored as general.alignment (an existing general.alignment key is rewritten to
 * match it). */
int gguf_writer_write(gguf_writer *w, const char *path, uint32_t alignment, uh_err *err);

#endif
