/* gguf_types.c - the tensor type table of the GGUF format (gguf_types.h): names, block sizes and
 * block bytes as the format defines them. */
#include "gguf/gguf_types.h"

static const gguf_type_info types[QT_COUNT] = {
    [QT_F32] = {.name = "F32", .blck_size = 1, .type_size = 4},
    [QT_F16] = {.name = "F16", .blck_size = 1, .type_size = 2},
    [QT_BF16] = {.name = "BF16", .blck_size = 1, .type_size = 2},
    [QT_Q4_0] = {.name = "Q4_0", .blck_size = 32, .type_size = 18},
    [QT_Q4_1] = {.name = "Q4_1", .blck_size = 32, .type_size = 20},
    [QT_Q5_0] = {.name = "Q5_0", .blck_size = 32, .type_size = 22},
    [QT_Q5_1] = {.name = "Q5_1", .blck_size = 32, .type_size = 24},
    [QT_Q8_0] = {.name = "Q8_0", .blck_size = 32, .type_size = 34},
    [QT_Q8_1] = {.name = "Q8_1", .blck_size = 32, .type_size = 36},
    [QT_Q2_K] = {.name = "Q2_K", .blck_size = 256, .type_size = 84},
    [QT_Q3_K] = {.name = "Q3_K", .blck_size = 256, .type_size = 110},
    [QT_Q4_K] = {.name = "Q4_K", .blck_size = 256, .type_size = 144},
    [QT_Q5_K] = {.name = "Q5_K", .blck_size = 256, .type_size = 176},
    [QT_Q6_K] = {.name = "Q6_K", .blck_size = 256, .type_size = 210},
    [QT_Q8_K] = {.name = "Q8_K", .blck_size = 256, .type_size = 292},
    [QT_IQ4_NL] = {.name = "IQ4_NL", .blck_size = 32, .type_size = 18},
    [QT_IQ4_XS] = {.name = "IQ4_XS", .blck_size = 256, .type_size = 136},
    [QT_I8] = {.name = "I8", .blck_size = 1, .type_size = 1},
    [QT_I16] = {.name = "I16", .blck_size = 1, .type_size = 2},
    [QT_I32] = {.name = "I32", .blck_size = 1, .type_size = 4},
    [QT_I64] = {.name = "I64", .blck_size = 1, .type_size = 8},
    [QT_F64] = {.name = "F64", .blck_size = 1, .type_size = 8},
};

const gguf_type_info *gguf_type_get(unsigned type)
{
    return type < QT_COUNT && types[type].name ? &types[type] : NULL;
}
