/* simd_avx512.c - AVX-512 (F/BW/VL) + VNNI dot kernels of the most used weight types: Q4_0, Q8_0,
 * Q4_K and Q6_K. Every other type keeps its AVX2 kernel (simd_avx512_fill starts from that set).
 *
 * VPDPBUSD multiplies unsigned by signed bytes and adds each group of four products straight into
 * an int32 lane, replacing AVX2's maddubs + madd pair and its int16 intermediate. Unsigned weights
 * (nibbles, Q6_K's 0..63) go in as they are and their offset (-8, -32) is subtracted afterwards
 * through a second dot against a constant, or through Q8_K's bsums. Signed weights (Q8_0) are
 * offset by 128 to make them unsigned, and corrected the same way. A 512-bit register holds two 32-element blocks, or
 * 64 consecutive elements of a super-block. */
#include "kernels/quant_impl.h"
#include "kernels/simd.h"

#if defined(__x86_64__)
#include "kernels/simd_x86.h"

/* Two blocks' 32 bytes, the first in the low half. */
AVX512_FN static inline __m512i join256(__m256i lo, __m256i hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

AVX512_FN static inline float hsum512_ps(__m512 v)
{
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    return x86_hsum_ps(h);
}

/* ---- Q4_0 and Q8_0, several weight rows per activation row ----
 *
 * Both weight types go into VPDPBUSD as unsigned bytes with a constant offset c (Q4_0 nibbles are
 * w + 8, Q8_0 bytes XOR 0x80 are w + 128), so dot(w, y) = dot(w + c, y) - c * sum(y). The
 * correction depends only on the activations: it is computed once per group of blocks, for all
 * rows, and enters as the accumulator the weight dot starts from. Four blocks go per iteration:
 * two 512-bit registers, each holding two blocks in its 256-bit halves, and one fp16->fp32
 * conversion for the four scales of a row. Each row keeps its own float accumulator and is summed
 * in the same order whatever the number of rows, so the one-row kernel (vec_dot) and the
 * multi-row one agree bit for bit. */

/* The fp16 scales (first field) of the four Q4_0 blocks at p: words 0, 9, 18, 27 of the first
 * 64 bytes, which lie inside the four blocks' 72. */
AVX512_FN static inline __m128 scales4_q4_0(const uint8_t *p)
{
    const __m512i idx = _mm512_castsi128_si512(_mm_setr_epi16(0, 9, 18, 27, 0, 0, 0, 0));
    __m512i w = _mm512_permutexvar_epi16(idx, _mm512_loadu_si512((const void *)p));
    return _mm_cvtph_ps(_mm512_castsi512_si128(w));
}

/* The same for four Q8_0 blocks (136 bytes): words 0, 17, 34, 51 of two 64-byte loads. */
AVX512_FN static inline __m128 scales4_q8_0(const uint8_t *p)
{
    const __m512i idx = _mm512_castsi128_si512(_mm_setr_epi16(0, 17, 34, 51, 0, 0, 0, 0));
    __m512i w = _mm512_permutex2var_epi16(_mm512_loadu_si512((const void *)p), idx,
                                          _mm512_loadu_si512((const void *)(p + 64)));
    return _mm_cvtph_ps(_mm512_castsi512_si128(w));
}

/* Four Q4_0 blocks as unsigned nibbles, each 128-bit lane one block: lo holds elements 0..15 of
 * blocks 0..3, hi elements 16..31. The activations are rearranged to match once per group. */
AVX512_FN static inline void q4_0_unpack4(const block_q4_0 *a, __m512i *lo, __m512i *hi)
{
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)a[0].qs));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)a[1].qs), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)a[2].qs), 2);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)a[3].qs), 3);
    const __m512i m4 = _mm512_set1_epi8(15);
    *lo = _mm512_and_si512(v, m4);
    *hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
}

AVX512_FN static inline __m512i q8_0_unsigned2(const block_q8_0 *a)
{
    __m512i v = join256(_mm256_loadu_si256((const __m256i *)a[0].qs),
                        _mm256_loadu_si256((const __m256i *)a[1].qs));
    return _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
}

/* One block's 32 weights as unsigned bytes (the tail of a row). */
AVX512_FN static inline __m256i unsigned1(const uint8_t *blk, int is_q8)
{
    if (is_q8) {
        __m256i v = _mm256_loadu_si256((const __m256i *)((const block_q8_0 *)blk)->qs);
        return _mm256_xor_si256(v, _mm256_set1_epi8((char)0x80));
    }
    return x86_nibbles32(((const block_q4_0 *)blk)->qs);
}

/* R rows (a compile-time constant after inlining) of Q4_0 (is_q8 = 0) or Q8_0 against Q8_0.
 * Q4_0 lays a group out as lo/hi halves (int32 lanes 4k..4k+3 belong to block k); Q8_0 keeps
 * whole blocks in 256-bit halves (lanes 8k..8k+7 of p01 and p23). */
__attribute__((always_inline)) AVX512_FN static inline void
rows_q_0(int n, float *restrict s, const uint8_t *restrict x, size_t bx, const block_q8_0 *y,
         const int R, const int is_q8)
{
    const size_t bsz = is_q8 ? sizeof(block_q8_0) : sizeof(block_q4_0);
    const __m512i cb = _mm512_set1_epi8(is_q8 ? (char)0x80 : 8);
    const __m512i zero = _mm512_setzero_si512();
    const __m512i spread01 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i spread23 = _mm512_add_epi32(spread01, _mm512_set1_epi32(2));
    const __m512i spread4 = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const int nb = n / QK8_0;
    __m512 acc[QT_DOT_ROWS];
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 4 <= nb; i += 4) {
        __m512i y01 = join256(_mm256_loadu_si256((const __m256i *)y[i].qs),
                              _mm256_loadu_si256((const __m256i *)y[i + 1].qs));
        __m512i y23 = join256(_mm256_loadu_si256((const __m256i *)y[i + 2].qs),
                              _mm256_loadu_si256((const __m256i *)y[i + 3].qs));
        __m128 dy = scales4_q8_0((const uint8_t *)&y[i]);
        if (is_q8) {
            __m512i c01 = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, cb, y01));
            __m512i c23 = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, cb, y23));
            for (int r = 0; r < R; r++) {
                const uint8_t *a = x + (size_t)r * bx + (size_t)i * bsz;
                __m512i p01 = _mm512_dpbusd_epi32(c01, q8_0_unsigned2((const block_q8_0 *)a), y01);
                __m512i p23 =
                    _mm512_dpbusd_epi32(c23, q8_0_unsigned2((const block_q8_0 *)a + 2), y23);
                __m512 d = _mm512_castps128_ps512(_mm_mul_ps(scales4_q8_0(a), dy));
                acc[r] = _mm512_fmadd_ps(_mm512_permutexvar_ps(spread01, d),
                                         _mm512_cvtepi32_ps(p01), acc[r]);
                acc[r] = _mm512_fmadd_ps(_mm512_permutexvar_ps(spread23, d),
                                         _mm512_cvtepi32_ps(p23), acc[r]);
            }
        } else {
            /* 128-bit lanes of y01, y23: y0 lo, y0 hi, y1 lo, y1 hi | y2 lo, ... */
            __m512i ylo =
                _mm512_permutex2var_epi64(y01, _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13), y23);
            __m512i yhi =
                _mm512_permutex2var_epi64(y01, _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15), y23);
            __m512i c = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, cb, ylo), cb, yhi);
            c = _mm512_sub_epi32(zero, c);
            for (int r = 0; r < R; r++) {
                const uint8_t *a = x + (size_t)r * bx + (size_t)i * bsz;
                __m512i lo, hi;
                q4_0_unpack4((const block_q4_0 *)a, &lo, &hi);
                __m512i p = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(c, lo, ylo), hi, yhi);
                __m512 d = _mm512_castps128_ps512(_mm_mul_ps(scales4_q4_0(a), dy));
                acc[r] = _mm512_fmadd_ps(_mm512_permutexvar_ps(spread4, d), _mm512_cvtepi32_ps(p),
                                         acc[r]);
            }
        }
    }
    for (int r = 0; r < R; r++) s[r] = hsum512_ps(acc[r]);
    for (; i < nb; i++) {
        __m256i yv = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i c = _mm256_sub_epi32(_mm256_setzero_si256(),
                                     _mm256_dpbusd_epi32(_mm256_setzero_si256(),
                                                         _mm512_castsi512_si256(cb), yv));
        const float dy = x86_fp16(y[i].d);
        for (int r = 0; r < R; r++) {
            const uint8_t *a = x + (size_t)r * bx + (size_t)i * bsz;
            uint16_t dw;
            memcpy(&dw, a, 2);
            __m256i p = _mm256_dpbusd_epi32(c, unsigned1(a, is_q8), yv);
            s[r] += x86_fp16(dw) * dy * (float)x86_hsum_epi32(p);
        }
    }
}

AVX512_FN static void avx512_vec_dot_q4_0(int n, float *restrict s, const void *restrict x,
                                          const void *restrict y)
{
    rows_q_0(n, s, x, 0, y, 1, 0);
}

AVX512_FN static void avx512_vec_dot_q8_0(int n, float *restrict s, const void *restrict x,
                                          const void *restrict y)
{
    rows_q_0(n, s, x, 0, y, 1, 1);
}

AVX512_FN static void avx512_rows_q4_0(int n, int nr, float *restrict s, const void *restrict x,
                                       size_t bx, const void *restrict y)
{
    switch (nr) {
    case 4: rows_q_0(n, s, x, bx, y, 4, 0); break;
    case 3: rows_q_0(n, s, x, bx, y, 3, 0); break;
    case 2: rows_q_0(n, s, x, bx, y, 2, 0); break;
    default: rows_q_0(n, s, x, bx, y, 1, 0); break;
    }
}

AVX512_FN static void avx512_rows_q8_0(int n, int nr, float *restrict s, const void *restrict x,
                                       size_t bx, const void *restrict y)
{
    switch (nr) {
    case 4: rows_q_0(n, s, x, bx, y, 4, 1); break;
    case 3: rows_q_0(n, s, x, bx, y, 3, 1); break;
    case 2: rows_q_0(n, s, x, bx, y, 2, 1); break;
    default: rows_q_0(n, s, x, bx, y, 1, 1); break;
    }
}

/* ---- Q4_0 and Q8_0 tiles for batches: 2 weight rows x 4 tokens per pass ----
 *
 * Each weight group is unpacked once and used for 4 tokens, each token's activations (and their
 * correction term) prepared once for 2 rows. Every output is summed exactly as rows_q_0 sums it
 * (same products, same accumulator order, same tail), so tiles, rows and single dots agree bit
 * for bit. */
__attribute__((always_inline)) AVX512_FN static inline void
tile_q_0_2x4(int n, float *restrict s, size_t ss, const uint8_t *x, size_t bx, const uint8_t *y,
             size_t by, const int is_q8)
{
    const size_t bsz = is_q8 ? sizeof(block_q8_0) : sizeof(block_q4_0);
    const __m512i cb = _mm512_set1_epi8(is_q8 ? (char)0x80 : 8);
    const __m512i zero = _mm512_setzero_si512();
    const __m512i spread01 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i spread23 = _mm512_add_epi32(spread01, _mm512_set1_epi32(2));
    const __m512i spread4 = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const __m512i ilo = _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13);
    const __m512i ihi = _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15);
    const int nb = n / QK8_0;
    __m512 acc[2][4];
    for (int r = 0; r < 2; r++)
        for (int t = 0; t < 4; t++) acc[r][t] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 4 <= nb; i += 4) {
        __m512i wa[2], wb[2]; /* Q4_0: lo, hi halves; Q8_0: blocks 0|1, 2|3 */
        __m128 dw[2];
#pragma GCC unroll 2
        for (int r = 0; r < 2; r++) {
            const uint8_t *a = x + (size_t)r * bx + (size_t)i * bsz;
            if (is_q8) {
                wa[r] = q8_0_unsigned2((const block_q8_0 *)a);
                wb[r] = q8_0_unsigned2((const block_q8_0 *)a + 2);
                dw[r] = scales4_q8_0(a);
            } else {
                q4_0_unpack4((const block_q4_0 *)a, &wa[r], &wb[r]);
                dw[r] = scales4_q4_0(a);
            }
        }
        /* fully unrolled so that the accumulators stay in registers */
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++) {
            const block_q8_0 *yb = (const block_q8_0 *)(const void *)(y + (size_t)t * by) + i;
            __m512i y01 = join256(_mm256_loadu_si256((const __m256i *)yb[0].qs),
                                  _mm256_loadu_si256((const __m256i *)yb[1].qs));
            __m512i y23 = join256(_mm256_loadu_si256((const __m256i *)yb[2].qs),
                                  _mm256_loadu_si256((const __m256i *)yb[3].qs));
            __m128 dy = scales4_q8_0((const uint8_t *)yb);
            if (is_q8) {
                __m512i c01 = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, cb, y01));
                __m512i c23 = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, cb, y23));
#pragma GCC unroll 2
                for (int r = 0; r < 2; r++) {
                    __m512i p01 = _mm512_dpbusd_epi32(c01, wa[r], y01);
                    __m512i p23 = _mm512_dpbusd_epi32(c23, wb[r], y23);
                    __m512 d = _mm512_castps128_ps512(_mm_mul_ps(dw[r], dy));
                    acc[r][t] = _mm512_fmadd_ps(_mm512_permutexvar_ps(spread01, d),
                                                _mm512_cvtepi32_ps(p01), acc[r][t]);
                    acc[r][t] = _mm512_fmadd_ps(_mm512_permutexvar_ps(spread23, d),
                                                _mm512_cvtepi32_ps(p23), acc[r][t]);
                }
            } else {
                __m512i ylo = _mm512_permutex2var_epi64(y01, ilo, y23);
                __m512i yhi = _mm512_permutex2var_epi64(y01, ihi, y23);
                __m512i c = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, cb, ylo), cb, yhi);
                c = _mm512_sub_epi32(zero, c);
#pragma GCC unroll 2
                for (int r = 0; r < 2; r++) {
                    __m512i p =
                        _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(c, wa[r], ylo), wb[r], yhi);
                    __m512 d = _mm512_castps128_ps512(_mm_mul_ps(dw[r], dy));
                    acc[r][t] = _mm512_fmadd_ps(_mm512_permutexvar_ps(spread4, d),
                                                _mm512_cvtepi32_ps(p), acc[r][t]);
                }
            }
        }
    }
    for (int t = 0; t < 4; t++) {
        const block_q8_0 *yb = (const block_q8_0 *)(const void *)(y + (size_t)t * by);
        for (int r = 0; r < 2; r++) {
            float v = hsum512_ps(acc[r][t]);
            for (int k = i; k < nb; k++) { /* the tail exactly as rows_q_0 does it */
                __m256i yv = _mm256_loadu_si256((const __m256i *)yb[k].qs);
                __m256i c = _mm256_sub_epi32(_mm256_setzero_si256(),
                                             _mm256_dpbusd_epi32(_mm256_setzero_si256(),
                                                                 _mm512_castsi512_si256(cb), yv));
                const uint8_t *a = x + (size_t)r * bx + (size_t)k * bsz;
                uint16_t dwk;
                memcpy(&dwk, a, 2);
                __m256i p = _mm256_dpbusd_epi32(c, unsigned1(a, is_q8), yv);
                v += x86_fp16(dwk) * x86_fp16(yb[k].d) * (float)x86_hsum_epi32(p);
            }
            s[(size_t)t * ss + r] = v;
        }
    }
}

AVX512_FN static void tile_q4_0_2x4(int n, float *restrict s, size_t ss, const uint8_t *x,
                                    size_t bx, const uint8_t *y, size_t by)
{
    tile_q_0_2x4(n, s, ss, x, bx, y, by, 0);
}

AVX512_FN static void tile_q8_0_2x4(int n, float *restrict s, size_t ss, const uint8_t *x,
                                    size_t bx, const uint8_t *y, size_t by)
{
    tile_q_0_2x4(n, s, ss, x, bx, y, by, 1);
}

typedef void (*tile_2x4_fn)(int n, float *restrict s, size_t ss, const uint8_t *x, size_t bx,
                            const uint8_t *y, size_t by);

/* Any tile as 2x4 passes, and the rows kernel for what they leave: an odd row, the last tokens. */
AVX512_FN static inline void tile_any(tile_2x4_fn pass, qt_vec_dot_rows_fn rows, int n, int nr,
                                      int nt, float *restrict s, size_t ss, const void *x,
                                      size_t bx, const void *y, size_t by)
{
    const uint8_t *xb = x, *yb = y;
    const int nr2 = nr / 2 * 2, nt4 = nt / 4 * 4;
    for (int r = 0; r < nr2; r += 2)
        for (int t = 0; t < nt4; t += 4)
            pass(n, s + (size_t)t * ss + r, ss, xb + (size_t)r * bx, bx, yb + (size_t)t * by, by);
    for (int t = 0; t < nt; t++) {
        const int r0 = t < nt4 ? nr2 : 0;
        if (r0 < nr)
            rows(n, nr - r0, s + (size_t)t * ss + r0, xb + (size_t)r0 * bx, bx,
                 yb + (size_t)t * by);
    }
}

AVX512_FN static void avx512_tile_q4_0(int n, int nr, int nt, float *restrict s, size_t ss,
                                       const void *restrict x, size_t bx, const void *restrict y,
                                       size_t by)
{
    tile_any(tile_q4_0_2x4, avx512_rows_q4_0, n, nr, nt, s, ss, x, bx, y, by);
}

AVX512_FN static void avx512_tile_q8_0(int n, int nr, int nt, float *restrict s, size_t ss,
                                       const void *restrict x, size_t bx, const void *restrict y,
                                       size_t by)
{
    tile_any(tile_q8_0_2x4, avx512_rows_q8_0, n, nr, nt, s, ss, x, bx, y, by);
}

/* Q4_K: 32 qs bytes = 64 elements; low nibbles (first 32) in the low half, high nibbles in the
 * high half, matching 64 contiguous activation bytes. The int32 lanes 0..7 of a VPDPBUSD result
 * then belong to sub-block 2j and 8..15 to 2j + 1. Each lane sums four products of at most
 * 15 * 128, so it fits in int16: two results are packed to int16 and VPDPWSSD multiplies them by
 * their sub-block scales and adds pairs of lanes, replacing a 32-bit multiply per sub-block. The
 * mins term stays a vector too (one float lane per pair of sub-blocks); nothing is reduced
 * horizontally until the end of the row. */
/* 32 Q4_K qs bytes (64 weights) against 64 activations: int32 lanes 0..7 for the low nibbles,
 * 8..15 for the high ones. */
AVX512_FN static inline __m512i q4_K_dot64(const uint8_t *qs, const int8_t *yq, __m256i m4)
{
    __m256i qv = _mm256_loadu_si256((const __m256i *)qs);
    __m512i q = join256(_mm256_and_si256(qv, m4), _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4));
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, _mm512_loadu_si512((const void *)yq));
}

AVX512_FN static void avx512_vec_dot_q4_K(int n, float *restrict s, const void *restrict x,
                                          const void *restrict y)
{
    const block_q4_K *xa = x;
    const block_q8_K *yb = y;
    const __m256i m4 = _mm256_set1_epi8(15);
    /* packs_epi32(p[2j], p[2j+1]) puts, in each 128-bit lane, four lanes of p[2j] and then four
     * of p[2j+1]: 128-bit lanes 0 and 1 hold sub-blocks 4j and 4j + 2, lanes 2 and 3 sub-blocks
     * 4j + 1 and 4j + 3. These pick the matching int16 scale out of sc[0..7]. */
    const __m512i sidx0 = _mm512_set_epi16(3, 3, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3, 1, 1, 1, 1, 2, 2, 2,
                                           2, 0, 0, 0, 0, 2, 2, 2, 2, 0, 0, 0, 0);
    const __m512i sidx1 = _mm512_add_epi16(sidx0, _mm512_set1_epi16(4));
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_min = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        const block_q4_K *a = &xa[i];
        const block_q8_K *b = &yb[i];
        uint32_t w[3], u[4];
        memcpy(w, a->scales, 12);
        /* the 6-bit scale/min unpacking of quant_k4_scales_mins */
        u[0] = w[0] & 0x3f3f3f3f;
        u[1] = (w[2] & 0x0f0f0f0f) | ((w[0] >> 2) & 0x30303030);
        u[2] = w[1] & 0x3f3f3f3f;
        u[3] = ((w[2] >> 4) & 0x0f0f0f0f) | ((w[1] >> 2) & 0x30303030);
        /* sc[0..7] in int16 lanes 0..7, m[0..7] in lanes 8..15 */
        __m256i scm = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)u));
        __m256i mdup = _mm256_permutexvar_epi16(
            _mm256_setr_epi16(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15), scm);
        __m256i summ = _mm256_madd_epi16(mdup, _mm256_loadu_si256((const __m256i *)b->bsums));
        __m512i sc = _mm512_castsi256_si512(scm);
        /* four named results, not an array: an array was kept on the stack */
        const __m512i p0 = q4_K_dot64(a->qs, b->qs, m4);
        const __m512i p1 = q4_K_dot64(a->qs + 32, b->qs + 64, m4);
        const __m512i p2 = q4_K_dot64(a->qs + 64, b->qs + 128, m4);
        const __m512i p3 = q4_K_dot64(a->qs + 96, b->qs + 192, m4);
        __m512i sumi = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_packs_epi32(p0, p1),
                                           _mm512_permutexvar_epi16(sidx0, sc));
        sumi = _mm512_dpwssd_epi32(sumi, _mm512_packs_epi32(p2, p3),
                                   _mm512_permutexvar_epi16(sidx1, sc));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(b->d * x86_fp16(a->d)), _mm512_cvtepi32_ps(sumi), acc);
        acc_min = _mm256_fmadd_ps(_mm256_set1_ps(b->d * x86_fp16(a->dmin)),
                                  _mm256_cvtepi32_ps(summ), acc_min);
    }
    *s = hsum512_ps(acc) - x86_hsum_ps(acc_min);
}

/* Q6_K: per half of 128, the 64 ql bytes are contiguous, so one 512-bit load pairs ql[0..31] and
 * ql[32..63]; qh and qh >> 2 side by side give their high bits. Low nibbles then cover elements
 * 0..63 and high nibbles 64..127, each 64 contiguous activations; each 16-element sub-block is
 * 4 int32 lanes of a VPDPBUSD result. A lane sums four products of at most 63 * 128, which fits
 * in int16, so the two results of a half are packed to int16 and VPDPWSSD applies the signed
 * scales and adds lane pairs. The -32 offset (32 * scale * bsum) and the block scale stay vectors
 * across the row: one horizontal sum per row, not per block. */
AVX512_FN static void avx512_vec_dot_q6_K(int n, float *restrict s, const void *restrict x,
                                          const void *restrict y)
{
    const block_q6_K *xa = x;
    const block_q8_K *yb = y;
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    /* packs_epi32(p0, p1): 128-bit lane k holds sub-block k of p0 and then sub-block 4 + k of
     * p1 (plus 8 in the second half) */
    const __m512i sidx0 = _mm512_set_epi16(7, 7, 7, 7, 3, 3, 3, 3, 6, 6, 6, 6, 2, 2, 2, 2, 5, 5, 5,
                                           5, 1, 1, 1, 1, 4, 4, 4, 4, 0, 0, 0, 0);
    const __m512i sidx1 = _mm512_add_epi16(sidx0, _mm512_set1_epi16(8));
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_off = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        const block_q6_K *a = &xa[i];
        const block_q8_K *b = &yb[i];
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a->scales));
        __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)b->bsums));
        __m512i sc = _mm512_castsi256_si512(sc16);
        __m512i sumi = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m512i ql = _mm512_loadu_si512((const void *)(a->ql + 64 * h));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(a->qh + 32 * h));
            __m512i qhz = join256(qh, _mm256_srli_epi16(qh, 2));
            __m512i q0 = _mm512_or_si512(_mm512_and_si512(ql, m4),
                                         _mm512_and_si512(_mm512_slli_epi16(qhz, 4), m30));
            __m512i q1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                         _mm512_and_si512(qhz, m30));
            const int8_t *yq = b->qs + 128 * h;
            __m512i p0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q0,
                                             _mm512_loadu_si512((const void *)yq));
            __m512i p1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q1,
                                             _mm512_loadu_si512((const void *)(yq + 64)));
            sumi = _mm512_dpwssd_epi32(sumi, _mm512_packs_epi32(p0, p1),
                                       _mm512_permutexvar_epi16(h ? sidx1 : sidx0, sc));
        }
        const float d = b->d * x86_fp16(a->d);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
        acc_off = _mm256_fmadd_ps(_mm256_set1_ps(32.0f * d), _mm256_cvtepi32_ps(off), acc_off);
    }
    *s = hsum512_ps(acc) - x86_hsum_ps(acc_off);
}

void simd_avx512_fill(qtype_traits_t t[QT_COUNT])
{
    simd_avx2_fill(t);
    t[QT_Q4_0].vec_dot = avx512_vec_dot_q4_0;
    t[QT_Q8_0].vec_dot = avx512_vec_dot_q8_0;
    t[QT_Q4_0].vec_dot_rows = avx512_rows_q4_0;
    t[QT_Q8_0].vec_dot_rows = avx512_rows_q8_0;
    t[QT_Q4_0].vec_dot_tile = avx512_tile_q4_0;
    t[QT_Q8_0].vec_dot_tile = avx512_tile_q8_0;
    t[QT_Q4_K].vec_dot = avx512_vec_dot_q4_K;
    t[QT_Q6_K].vec_dot = avx512_vec_dot_q6_K;
    simd_avx512_fill_packed(t);
}

#else

void simd_avx512_fill(qtype_traits_t t[QT_COUNT])
{
    (void)t;
}

#endif
