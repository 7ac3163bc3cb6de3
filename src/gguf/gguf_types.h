/* gguf_types.h - the tensor element types of the GGUF format: their ids (GGUF's ggml_type), and
 * for each one its name, elements per block and bytes per block. That is all the file format
 * says about a type, and all the reader and writer need to check a tensor's byte size; the
 * block layouts themselves and the kernels that compute with them are kernels/qtypes.h (which
 * checks at start-up, and in tests, that its block structs have exactly these sizes). */
#ifndef UH_GGUF_GGUF_TYPES_H
#define UH_GGUF_GGUF_TYPES_H

#include <stddef.h>

enum qtype {
    QT_F32 = 0,
    QT_F16 = 1,
    QT_Q4_0 = 2,
    QT_Q4_1 = 3,
    QT_Q5_0 = 6,
    QT_Q5_1 = 7,
    QT_Q8_0 = 8,
    QT_Q8_1 = 9,
    QT_Q2_K = 10,
    QT_Q3_K = 11,
    QT_Q4_K = 12,
    QT_Q5_K = 13,
    QT_Q6_K = 14,
    QT_Q8_K = 15,
    QT_IQ4_NL = 20,
    QT_IQ4_XS = 23,
    QT_I8 = 24,
    QT_I16 = 25,
    QT_I32 = 26,
    QT_I64 = 27,
    QT_F64 = 28,
    QT_BF16 = 30,
    QT_COUNT = 40 /* ids below this are looked up in the table; unknown ones have no name */
};

typedef struct {
    const char *name; /* "Q4_K" */
    int blck_size;    /* elements per block (1 for plain types) */
    size_t type_size; /* bytes per block */
} gguf_type_info;

/* The type with GGUF id type, or NULL for an id this build does not know. */
const gguf_type_info *gguf_type_get(unsigned type);

#endif
