/* quant_impl.h - internal declarations shared by the tensor-type kernels (quant_*.c) and the
 * type table (qtypes.c). Not part of any public interface.
 *
 * Every kernel here is the scalar reference: plain C, no alignment assumptions beyond the block
 * structs' own, used as the table default and as the oracle SIMD kernels are tested against.
 * Row lengths n are multiples of the type's block size (the table's callers check that). */
#ifndef UH_KERNELS_QUANT_IMPL_H
#define UH_KERNELS_QUANT_IMPL_H

#include <stdint.h>

#include "kernels/qtypes.h"

#include <string.h>

/* Nearest integer, ties to even, for |v| < 2^22 (the rounding the GGUF producers use for Q8_K
 * activations): adding 1.5 * 2^23 leaves the rounded integer in the low mantissa bits. Inline
 * and branch-free because it runs once per activation value. */
static inline int quant_nearest_int(float v)
{
    float f = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &f, sizeof(i));
    return (i & 0x007fffff) - 0x00400000;
}

/* ---- quant_float.c: F32, F16, BF16 (dot products against F32 activations) ---- */
void dequant_row_f32(const void *restrict x, float *restrict y, int64_t n);
void dequant_row_f16(const void *restrict x, float *restrict y, int64_t n);
void dequant_row_bf16(const void *restrict x, float *restrict y, int64_t n);
void quant_row_f32(const float *restrict x, void *restrict y, int64_t n);
void quant_row_f16(const float *restrict x, void *restrict y, int64_t n);
void quant_row_bf16(const float *restrict x, void *restrict y, int64_t n);
void vec_dot_f32_f32(int n, float *restrict s, const void *restrict x, const void *restrict y);
void vec_dot_f16_f32(int n, float *restrict s, const void *restrict x, const void *restrict y);
void vec_dot_bf16_f32(int n, float *restrict s, const void *restrict x, const void *restrict y);

/* ---- quant_legacy.c: 32-element blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1) ---- */
void dequant_row_q4_0(const void *restrict x, float *restrict y, int64_t n);
void dequant_row_q4_1(const void *restrict x, float *restrict y, int64_t n);
void dequant_row_q5_0(const void *restrict x, float *restrict y, int64_t n);
void dequant_row_q5_1(const void *restrict x, float *restrict y, int64_t n);
void dequant_row_q8_0(const void *restrict x, float *restrict y, int64_t n);
void dequant_row_q8_1(const void *restrict x, float *restrict y, int64_t n);
void quant_row_q4_0(const float *restrict x, void *restrict y, int64_t n);
void quant_row_q4_1(const float *restrict x, void *restrict y, int64_t n);
void quant_row_q5_0(const float *restrict x, void *restrict y, int64_t n);
void quant_row_q5_1(const float *restrict x, void *restrict y, int64_t n);
void quant_row_q8_0(const float *restrict x, void *restrict y, int64_t n);
void quant_row_q8_1(const float *restrict x, void *restrict y, int64_t n);
void vec_dot_q4_0_q8_0(int n, float *restrict s, const void *restrict x, const void *restrict y);
void vec_dot_q4_1_q8_1(int n, float *restrict s, const void *restrict x, const void *restrict y);
void vec_dot_q5_0_q8_0(int n, float *restrict s, const void *restrict x, const void *restrict y);
void vec_dot_q5_1_q8_1(int n, float *restrict s, const void *restrict x, const void *restrict y);
void vec_dot_q8_0_q8_0(int n, float *restrict s, const void *restrict x, const void *restrict y);
void vec_dot_q8_1_q8_1(int n, float *restrict s, const void *restrict x, const void *restrict y);

/* ---- quant_k.c: 256-element super-blocks (Q2_K..Q6_K, Q8_K) ---- */
void dequant_row_q2_K(const void *restrict x, float *restrict y, int64_t n);
void dequant_row_q3_K(const void *restrict x, float *restrict y, int64_t n);
void dequant_row_q4_K(const void *restrict x, float *restrict y, int64_t n);
void dequant_row_q5_K(const void *restrict x, float *restrict y, int64_t n);
void dequant_row_q6_K(const void *restrict x, float *restrict y, int64_t n);
void dequant_row_q8_K(const void *restrict x, float *restrict y, int64_t n);
void quant_row_q2_K(const float *restrict x, void *restrict y, int64_t n);
void quant_row_q3_K(const float *restrict x, void *restrict y, int64_t n);
void quant_row_q4_K(const float *restrict x, void *restrict y, int64_t n);
void quant_row_q5_K(const float *restrict x, void *restrict y, int64_t n);
void quant_row_q6_K(const float *restrict x, void *restrict y, int64_t n);
void quant_row_q8_K(const float *restrict x, void *restrict y, int64_t n);
void vec_dot_q2_K_q8_K(int n, float *restrict s, const void *restrict x, const void *restrict y);
void vec_dot_q3_K_q8_K(int n, float *restrict s, const void *restrict x, const void *restrict y);
void vec_dot_q4_K_q8_K(int n, float *restrict s, const void *restrict x, const void *restrict y);
void vec_dot_q5_K_q8_K(int n, float *restrict s, const void *restrict x, const void *restrict y);
void vec_dot_q6_K_q8_K(int n, float *restrict s, const void *restrict x, const void *restrict y);
void vec_dot_q8_K_q8_K(int n, float *restrict s, const void *restrict x, const void *restrict y);

/* Q4_K and Q5_K pack 8 six-bit scales and 8 six-bit mins into 12 bytes. */
void quant_get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m);

/* The 8 six-bit scales and mins of Q4_K/Q5_K, unpacked four at a time from 32-bit words: words 0
 * and 1 hold scales 0-3 and mins 0-3 in their low 6 bits; word 2 holds the low nibbles of scales
 * and mins 4-7, whose top 2 bits sit in bits 6-7 of words 0 and 1. The same values as
 * quant_get_scale_min_k4 for j = 0..7; the SIMD kernels use it. */
static inline void quant_k4_scales_mins(const uint8_t packed[12], uint8_t sc[8], uint8_t m[8])
{
    uint32_t w[3], u[4];
    memcpy(w, packed, 12);
    u[0] = w[0] & 0x3f3f3f3f;
    u[1] = (w[2] & 0x0f0f0f0f) | ((w[0] >> 2) & 0x30303030);
    u[2] = w[1] & 0x3f3f3f3f;
    u[3] = ((w[2] >> 4) & 0x0f0f0f0f) | ((w[1] >> 2) & 0x30303030);
    memcpy(sc, u, 8);
    memcpy(m, u + 2, 8);
}

/* ---- quant_iq4.c: non-linear 4-bit (IQ4_NL, IQ4_XS) ---- */
void dequant_row_iq4_nl(const void *restrict x, float *restrict y, int64_t n);
void dequant_row_iq4_xs(const void *restrict x, float *restrict y, int64_t n);
void quant_row_iq4_nl(const float *restrict x, void *restrict y, int64_t n);
void quant_row_iq4_xs(const float *restrict x, void *restrict y, int64_t n);
void vec_dot_iq4_nl_q8_0(int n, float *restrict s, const void *restrict x, const void *restrict y);
void vec_dot_iq4_xs_q8_K(int n, float *restrict s, const void *restrict x, const void *restrict y);

/* ---- quant_search.c: the scale search shared by the K-quant and IQ4 weight quantizers ----
 *
 * A super-block of n_sub sub-blocks of sub_len values is modelled as
 *     x[e] ~ d * sc[j] * levels[L[e]] - dmin * m[j]        (j = e / sub_len)
 * with integer sub-block scales sc[j] in [sc_min, sc_max], integer mins m[j] in [0, m_max]
 * (only when has_min), level indices L[e] in [0, n_levels) and d, dmin fp16 values.
 * Lengths (sub_len, len below) are multiples of 8, at most 256 values in all. */
typedef struct {
    int n_sub;
    int sub_len;
    const float *levels; /* ascending */
    int n_levels;
    int linear; /* levels[i] == levels[0] + i: nearest level by rounding */
    int has_min;
    int sc_min, sc_max;
    int m_max;
} qsearch_spec;

typedef struct {
    float d, dmin; /* already rounded to fp16 */
    int sc[16];
    int m[16];
    uint8_t L[256];
} qsearch_result;

/* Chooses d, dmin, sc, m and L minimising the squared error of x (n_sub * sub_len <= 256
 * values). Returns that squared error. */
double qsearch_superblock(const float *x, const qsearch_spec *sp, qsearch_result *r);

/* Best single scale a for x[0..len) ~ a * levels[L] (no min), L filled in. Used directly by
 * IQ4_NL, which has no sub-block scales. Returns the squared error. */
double qsearch_fit_symmetric(const float *x, int len, const qsearch_spec *sp, float *a, uint8_t *L);

/* Level indices for x given a fixed scale s and offset o (x ~ s * level - o); returns the squared
 * error. */
double qsearch_assign(const float *x, int len, const qsearch_spec *sp, float s, float o,
                      uint8_t *L);

#endif
