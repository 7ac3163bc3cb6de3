/* qtypes.c - the tensor-type table (names, block sizes, kernels) and the helpers built on it.
 *
 * The table starts out holding the scalar reference kernels of quant_*.c, so it is usable without
 * qtypes_init; qtypes_init swaps in the fastest kernel set (simd_*.c) the running CPU supports,
 * or the one UNHOSTED_KERNELS=scalar|avx2|avx512|neon names. Integer and F64 types have names and
 * sizes (so a GGUF reader can size and skip them) but no kernels. */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "kernels/qtypes.h"
#include "kernels/quant_impl.h"
#include "kernels/simd.h"

#define PLAIN(nm, sz)                                                                              \
    {                                                                                              \
        .name = nm, .blck_size = 1, .type_size = sz                                                \
    }

/* The scalar reference table, spelled once and instantiated twice: as the live table (usable
 * before qtypes_init) and as the pristine copy kernel sets are overlaid on. */
#define SCALAR_TABLE                                                                               \
    {                                                                                              \
        [QT_F32] = {"F32", 1, 4, 0, dequant_row_f32, quant_row_f32, vec_dot_f32_f32, QT_F32},      \
        [QT_F16] = {"F16", 1, 2, 0, dequant_row_f16, quant_row_f16, vec_dot_f16_f32, QT_F32},      \
        [QT_BF16] = {"BF16", 1, 2, 0, dequant_row_bf16, quant_row_bf16, vec_dot_bf16_f32, QT_F32}, \
        [QT_Q4_0] = {"Q4_0",           QK4_0,          sizeof(block_q4_0), 1,                      \
                     dequant_row_q4_0, quant_row_q4_0, vec_dot_q4_0_q8_0,  QT_Q8_0},               \
        [QT_Q4_1] = {"Q4_1",           QK4_1,          sizeof(block_q4_1), 1,                      \
                     dequant_row_q4_1, quant_row_q4_1, vec_dot_q4_1_q8_1,  QT_Q8_1},               \
        [QT_Q5_0] = {"Q5_0",           QK5_0,          sizeof(block_q5_0), 1,                      \
                     dequant_row_q5_0, quant_row_q5_0, vec_dot_q5_0_q8_0,  QT_Q8_0},               \
        [QT_Q5_1] = {"Q5_1",           QK5_1,          sizeof(block_q5_1), 1,                      \
                     dequant_row_q5_1, quant_row_q5_1, vec_dot_q5_1_q8_1,  QT_Q8_1},               \
        [QT_Q8_0] = {"Q8_0",           QK8_0,          sizeof(block_q8_0), 1,                      \
                     dequant_row_q8_0, quant_row_q8_0, vec_dot_q8_0_q8_0,  QT_Q8_0},               \
        [QT_Q8_1] = {"Q8_1",           QK8_1,          sizeof(block_q8_1), 1,                      \
                     dequant_row_q8_1, quant_row_q8_1, vec_dot_q8_1_q8_1,  QT_Q8_1},               \
        [QT_Q2_K] = {"Q2_K",           QK_K,           sizeof(block_q2_K), 1,                      \
                     dequant_row_q2_K, quant_row_q2_K, vec_dot_q2_K_q8_K,  QT_Q8_K},               \
        [QT_Q3_K] = {"Q3_K",           QK_K,           sizeof(block_q3_K), 1,                      \
                     dequant_row_q3_K, quant_row_q3_K, vec_dot_q3_K_q8_K,  QT_Q8_K},               \
        [QT_Q4_K] = {"Q4_K",           QK_K,           sizeof(block_q4_K), 1,                      \
                     dequant_row_q4_K, quant_row_q4_K, vec_dot_q4_K_q8_K,  QT_Q8_K},               \
        [QT_Q5_K] = {"Q5_K",           QK_K,           sizeof(block_q5_K), 1,                      \
                     dequant_row_q5_K, quant_row_q5_K, vec_dot_q5_K_q8_K,  QT_Q8_K},               \
        [QT_Q6_K] = {"Q6_K",           QK_K,           sizeof(block_q6_K), 1,                      \
                     dequant_row_q6_K, quant_row_q6_K, vec_dot_q6_K_q8_K,  QT_Q8_K},               \
        [QT_Q8_K] = {"Q8_K",           QK_K,           sizeof(block_q8_K), 1,                      \
                     dequant_row_q8_K, quant_row_q8_K, vec_dot_q8_K_q8_K,  QT_Q8_K},               \
        [QT_IQ4_NL] = {"IQ4_NL",           QK4_NL,           sizeof(block_iq4_nl), 1,              \
                       dequant_row_iq4_nl, quant_row_iq4_nl, vec_dot_iq4_nl_q8_0,  QT_Q8_0},       \
        [QT_IQ4_XS] = {"IQ4_XS",                                                                   \
                       QK_K,                                                                       \
                       sizeof(block_iq4_xs),                                                       \
                       1,                                                                          \
                       dequant_row_iq4_xs,                                                         \
                       quant_row_iq4_xs,                                                           \
                       vec_dot_iq4_xs_q8_K,                                                        \
                       QT_Q8_K},                                                                   \
        [QT_I8] = PLAIN("I8", 1), [QT_I16] = PLAIN("I16", 2), [QT_I32] = PLAIN("I32", 4),          \
        [QT_I64] = PLAIN("I64", 8), [QT_F64] = PLAIN("F64", 8),                                    \
    }

qtype_traits_t qtype_traits[QT_COUNT] = SCALAR_TABLE;
static const qtype_traits_t scalar_traits[QT_COUNT] = SCALAR_TABLE;

/* ---- kernel sets and their selection ---- */

static const char *const kernel_set_names[QT_KERNELS_COUNT] = {"scalar", "avx2", "avx512", "neon"};

static const unsigned kernel_set_needs[QT_KERNELS_COUNT] = {
    [QT_KERNELS_SCALAR] = 0,
    [QT_KERNELS_AVX2] = SIMD_AVX2,
    [QT_KERNELS_AVX512] = SIMD_AVX512,
    [QT_KERNELS_NEON] = SIMD_NEON,
};

const char *qt_kernels_name(int set)
{
    return set >= 0 && set < QT_KERNELS_COUNT ? kernel_set_names[set] : NULL;
}

static int set_supported(int set, unsigned features)
{
    if (set < 0 || set >= QT_KERNELS_COUNT) return 0;
    unsigned need = kernel_set_needs[set];
    /* scalar has no needs; a SIMD set with none of its features compiled in is never usable */
    return set == QT_KERNELS_SCALAR || (need && (features & need) == need);
}

int qt_kernels_supported(int set)
{
    return set_supported(set, simd_cpu_features());
}

static void fill_set(int set, unsigned features, qtype_traits_t table[QT_COUNT])
{
    memcpy(table, scalar_traits, sizeof(scalar_traits));
    switch (set) {
    case QT_KERNELS_AVX2:
        simd_avx2_fill(table);
        break;
    case QT_KERNELS_AVX512:
        simd_avx512_fill(table);
        break;
    case QT_KERNELS_NEON:
        simd_neon_fill(table, (features & SIMD_DOTPROD) != 0);
        break;
    default:
        break;
    }
}

int qt_kernels_fill(int set, qtype_traits_t table[QT_COUNT])
{
    unsigned features = simd_cpu_features();
    int ok = set_supported(set, features);
    fill_set(ok ? set : QT_KERNELS_SCALAR, features, table);
    return ok ? 0 : -1;
}

static const char *chosen_name = "scalar";
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* Best set the CPU supports, unless UNHOSTED_KERNELS names another one it supports. */
static void select_kernels(void)
{
    unsigned features = simd_cpu_features();
    int best = QT_KERNELS_SCALAR;
    for (int set = 0; set < QT_KERNELS_COUNT; set++)
        if (set_supported(set, features)) best = set; /* the enum lists sets slowest first */
    int set = best;
    const char *want = getenv("UNHOSTED_KERNELS");
    if (want && *want) {
        int asked = -1;
        for (int k = 0; k < QT_KERNELS_COUNT; k++)
            if (strcmp(want, kernel_set_names[k]) == 0) asked = k;
        if (asked < 0)
            log_warn("kernels_unknown", "requested=%s using=%s", want, kernel_set_names[best]);
        else if (!set_supported(asked, features))
            log_warn("kernels_unsupported", "requested=%s using=%s", want, kernel_set_names[best]);
        else
            set = asked;
    }
    qtype_traits_t table[QT_COUNT];
    fill_set(set, features, table);
    memcpy(qtype_traits, table, sizeof(table));
    switch (set) {
    case QT_KERNELS_AVX2:
        chosen_name = "avx2";
        break;
    case QT_KERNELS_AVX512:
        chosen_name = "avx512-vnni";
        break;
    case QT_KERNELS_NEON:
        chosen_name = features & SIMD_DOTPROD ? "neon-dotprod" : "neon";
        break;
    default:
        chosen_name = "scalar";
        break;
    }
    log_debug("kernels", "set=%s", chosen_name);
}

void qtypes_init(void)
{
    pthread_once(&init_once, select_kernels);
}

const char *qtypes_kernel_name(void)
{
    return chosen_name;
}

const char *qtype_name(int type)
{
    if (type < 0 || type >= QT_COUNT || !qtype_traits[type].name) return "?";
    return qtype_traits[type].name;
}

int qtype_from_name(const char *name)
{
    if (!name) return -1;
    for (int t = 0; t < QT_COUNT; t++) {
        const char *a = qtype_traits[t].name, *b = name;
        if (!a) continue;
        while (*a && *b && toupper((unsigned char)*a) == toupper((unsigned char)*b)) a++, b++;
        if (!*a && !*b) return t;
    }
    return -1;
}

int qtype_is_valid(int type)
{
    return type >= 0 && type < QT_COUNT && qtype_traits[type].name && qtype_traits[type].to_float;
}

size_t qtype_row_size(enum qtype t, int64_t n)
{
    if ((int)t < 0 || t >= QT_COUNT || !qtype_traits[t].name || n < 0) return 0;
    const qtype_traits_t *tr = &qtype_traits[t];
    if (n % tr->blck_size) return 0;
    return (size_t)(n / tr->blck_size) * tr->type_size;
}

size_t qt_quantize(enum qtype t, const float *src, void *dst, int64_t n_rows, int64_t n_per_row)
{
    if (!qtype_is_valid((int)t) || !qtype_traits[t].from_float || n_rows < 0) return 0;
    size_t row_size = qtype_row_size(t, n_per_row);
    if (row_size == 0) return 0;
    char *out = dst;
    for (int64_t r = 0; r < n_rows; r++)
        qtype_traits[t].from_float(src + r * n_per_row, out + (size_t)r * row_size, n_per_row);
    return (size_t)n_rows * row_size;
}
