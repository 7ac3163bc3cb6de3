/* qtypes.h - tensor element types with GGUF's bit-exact block layouts, and the per-type table.
 *
 * Type ids are GGUF's (ggml_type). A quantized row of n elements is n / blck_size blocks laid out
 * back to back; every block struct below has a _Static_assert on its byte size, because the file
 * format is exactly these bytes (little-endian, fp16 stored as uint16_t bits).
 *
 * Dot products: weights of type T are multiplied against activations converted to
 * qtype_traits[T].vec_dot_type (Q8_0, Q8_1 or Q8_K blocks, the way fast engines do it), by
 * qtype_traits[T].vec_dot. The table holds scalar reference kernels; the SIMD kernel sets
 * (simd_*.c) replace entries of the table at start-up (qtypes_init) and are tested against the
 * reference (tests/test_simd.c). */
#ifndef UH_KERNELS_QTYPES_H
#define UH_KERNELS_QTYPES_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf_types.h" /* enum qtype: the ids are the file format's */


#define QK4_0  32
#define QK4_1  32
#define QK5_0  32
#define QK5_1  32
#define QK8_0  32
#define QK8_1  32
#define QK_K   256
#define QK4_NL 32
#define K_SCALE_SIZE 12

typedef struct {
    uint16_t d;           /* fp16 scale */
    uint8_t qs[QK4_0 / 2]; /* nibbles: low = element j, high = element j + 16 */
} block_q4_0;
_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");

typedef struct {
    uint16_t d; /* fp16 scale */
    uint16_t m; /* fp16 min */
    uint8_t qs[QK4_1 / 2];
} block_q4_1;
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");

typedef struct {
    uint16_t d;
    uint8_t qh[4]; /* 5th bit of each of the 32 elements */
    uint8_t qs[QK5_0 / 2];
} block_q5_0;
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");

typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");

typedef struct {
    uint16_t d;
    int8_t qs[QK8_0];
} block_q8_0;
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");

typedef struct {
    uint16_t d; /* fp16 scale */
    uint16_t s; /* fp16 of d * sum(qs) */
    int8_t qs[QK8_1];
} block_q8_1;
_Static_assert(sizeof(block_q8_1) == 36, "block_q8_1 size");

typedef struct {
    uint8_t scales[QK_K / 16]; /* 4-bit scale | 4-bit min per 16 elements */
    uint8_t qs[QK_K / 4];      /* 2-bit quants */
    uint16_t d;                /* super-block scale for the scales */
    uint16_t dmin;             /* super-block scale for the mins */
} block_q2_K;
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");

typedef struct {
    uint8_t hmask[QK_K / 8]; /* high bit of the 3-bit quants */
    uint8_t qs[QK_K / 4];    /* low 2 bits */
    uint8_t scales[12];      /* 16 6-bit scales */
    uint16_t d;
} block_q3_K;
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");

typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_SIZE]; /* 8 6-bit scales and 8 6-bit mins */
    uint8_t qs[QK_K / 2];
} block_q4_K;
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");

typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");

typedef struct {
    uint8_t ql[QK_K / 2];     /* low 4 bits */
    uint8_t qh[QK_K / 4];     /* high 2 bits */
    int8_t scales[QK_K / 16]; /* 8-bit scales */
    uint16_t d;
} block_q6_K;
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");

typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16]; /* sums of each group of 16 quants */
} block_q8_K;
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");

typedef struct {
    uint16_t d;
    uint8_t qs[QK4_NL / 2];
} block_iq4_nl;
_Static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl size");

typedef struct {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[QK_K / 64];
    uint8_t qs[QK_K / 2];
} block_iq4_xs;
_Static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs size");

/* The 16 non-linear levels of IQ4_NL / IQ4_XS. */
extern const int8_t kvalues_iq4nl[16];

/* Kernels. n is the element count of one row (a multiple of blck_size). */
typedef void (*qt_to_float_fn)(const void *restrict x, float *restrict y, int64_t n);
typedef void (*qt_from_float_fn)(const float *restrict x, void *restrict y, int64_t n);
/* *s = dot(x (this type), y (vec_dot_type)) over n elements. */
typedef void (*qt_vec_dot_fn)(int n, float *restrict s, const void *restrict x,
                              const void *restrict y);
/* s[r] = dot(row r of x, y) for r < nr, 1 <= nr <= QT_DOT_ROWS, weight rows x_stride bytes apart.
 * Reuses each activation load (and its scale) for all rows. Every s[r] is bit-identical to what
 * the same table's vec_dot gives for that row, so callers may mix the two freely and results do
 * not depend on how rows were grouped. */
#define QT_DOT_ROWS 4
typedef void (*qt_vec_dot_rows_fn)(int n, int nr, float *restrict s, const void *restrict x,
                                   size_t x_stride, const void *restrict y);
/* A tile of a matrix product: s[t * s_stride + r] = dot(row r of x, row t of y) for r < nr
 * (<= QT_DOT_ROWS) and t < nt (<= QT_TILE_TOKENS), activation rows y_stride bytes apart. Unpacks
 * each weight block once for several tokens; every output is bit-identical to vec_dot's. */
#define QT_TILE_TOKENS 8
typedef void (*qt_vec_dot_tile_fn)(int n, int nr, int nt, float *restrict s, size_t s_stride,
                                   const void *restrict x, size_t x_stride,
                                   const void *restrict y, size_t y_stride);

/* Packed weights. A kernel set may lay out QT_PACK_ROWS consecutive rows of a matrix together,
 * interleaved block by block, so that one SIMD register holds the same bytes of every row: a
 * product then streams one sequential run of memory, keeps one output row per lane (no horizontal
 * sums) and unpacks each block once for up to QT_TILE_TOKENS tokens. The layout is private to the
 * kernel set; packing happens once, when a model is loaded (see model.c).
 *
 * A matrix of n-element rows is packed in groups of QT_PACK_ROWS rows, group_bytes(n) each.
 * Activations go in the set's own format (act_from_float, act_row_bytes(n) per token). tile
 * computes s[t * s_stride + r] for the group's QT_PACK_ROWS rows r and tokens t < nt; every
 * output is summed in the same order whatever nt, so the token grouping never changes a result. */
#define QT_PACK_ROWS 16
typedef struct {
    size_t (*group_bytes)(int n);
    void (*pack)(int n, const void *restrict x, size_t x_stride, void *restrict dst);
    size_t (*act_row_bytes)(int n);
    void (*act_from_float)(const float *restrict x, void *restrict y, int n);
    void (*tile)(int n, int nt, float *restrict s, size_t s_stride, const void *restrict xp,
                 const void *restrict y, size_t y_stride);
} qt_packed_kernels;

typedef struct {
    const char *name;          /* "Q4_K"; NULL for ids that are not types */
    int blck_size;             /* elements per block (1 for plain types) */
    size_t type_size;          /* bytes per block */
    int is_quantized;
    qt_to_float_fn to_float;   /* dequantize; NULL if not supported */
    qt_from_float_fn from_float; /* quantize (reference rounding; used for activations) */
    qt_vec_dot_fn vec_dot;     /* dot against a row of vec_dot_type */
    enum qtype vec_dot_type;   /* activation format for vec_dot */
    qt_vec_dot_rows_fn vec_dot_rows; /* several rows at once; NULL where a set has none */
    qt_vec_dot_tile_fn vec_dot_tile; /* rows x tokens at once; NULL where a set has none */
    const qt_packed_kernels *packed; /* packed layout and its kernels; NULL where none */
} qtype_traits_t;

/* Indexed by enum qtype; entries of unsupported ids have name == NULL. Mutable only by
 * qtypes_init (kernel selection), read-only afterwards. */
extern qtype_traits_t qtype_traits[QT_COUNT];

/* Selects the fastest kernels this CPU supports, or the set named by the environment variable
 * UNHOSTED_KERNELS (scalar|avx2|avx512|neon; one the CPU cannot run is refused with a warning and
 * the best supported set is used). The choice is made once per process; later calls do nothing.
 * Call it before threads read the table. */
void qtypes_init(void);

/* Kernel sets, slowest first. Each set is the scalar table with some entries replaced. */
enum qt_kernels {
    QT_KERNELS_SCALAR,
    QT_KERNELS_AVX2,   /* x86-64 AVX2 + FMA + F16C */
    QT_KERNELS_AVX512, /* x86-64 AVX-512 F/BW/VL + VNNI (types it lacks use the AVX2 kernels) */
    QT_KERNELS_NEON,   /* AArch64 AdvSIMD, with SDOT where the CPU has dotprod */
    QT_KERNELS_COUNT
};

const char *qt_kernels_name(int set); /* "scalar", "avx2", ...; NULL when out of range */
int qt_kernels_supported(int set);    /* whether the running CPU can run the set */
/* Fills table (QT_COUNT entries, owned by the caller) with the set's kernels over the scalar ones,
 * leaving qtype_traits alone, so tests and benchmarks can compare sets side by side. Returns 0,
 * or -1 if the CPU cannot run the set (table then holds the scalar kernels). */
int qt_kernels_fill(int set, qtype_traits_t table[QT_COUNT]);
/* The set qtypes_init chose, with its variant: "scalar", "avx2", "avx512-vnni", "neon",
 * "neon-dotprod". "scalar" before qtypes_init. */
const char *qtypes_kernel_name(void);

const char *qtype_name(int type);       /* "?" for unknown */
int qtype_from_name(const char *name);  /* -1 for unknown; case-insensitive */
int qtype_is_valid(int type);           /* has a table entry with a to_float kernel */
/* Bytes of a row of n elements; 0 if n is not a multiple of the block size. */
size_t qtype_row_size(enum qtype t, int64_t n);

/* ---- quantizers for weights (model writer, tools) ----
 * Quantize n_rows rows of n_per_row floats into dst (rows back to back). For Q4_0, Q4_1, Q5_0,
 * Q5_1, Q8_0, F16, BF16 the bytes equal GGUF producers' reference rounding exactly; K-quants and
 * IQ4 search for scales minimising squared error. Returns bytes written, 0 on an unsupported
 * type or a row length that is not a multiple of the block size. */
size_t qt_quantize(enum qtype t, const float *src, void *dst, int64_t n_rows, int64_t n_per_row);

#endif
