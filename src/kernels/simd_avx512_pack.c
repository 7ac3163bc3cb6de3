/* simd_avx512_pack.c - packed (row-interleaved) Q4_0, Q8_0 and F16 weights for AVX-512 VNNI.
 *
 * Layout (see qt_packed_kernels in qtypes.h). A group holds QT_PACK_ROWS = 16 rows; for each
 * 32-element block b of the rows it stores, one after the other:
 *   - the 16 rows' fp16 scales (32 bytes), converted by one instruction;
 *   - the 16 rows' quants as 64-byte vectors whose 32-bit lane r holds 4 consecutive bytes of row
 *     r: Q4_0 has 4 such vectors (quant bytes 4k..4k+3 of each row: low nibbles are elements
 *     4k..4k+3, high nibbles elements 16+4k..16+4k+3), Q8_0 has 8 (elements 4k..4k+3, stored as
 *     w + 128 so they enter VPDPBUSD as unsigned bytes).
 * So a block of 16 rows is 288 (Q4_0) or 544 (Q8_0) contiguous bytes, the same bytes as the
 * unpacked rows, and a product streams one sequential run of memory.
 *
 * VPDPBUSD then adds, in lane r, four weight bytes of row r times the same four activation bytes
 * broadcast to every lane: eight instructions give the 16 rows' integer dots of one block, with
 * no horizontal sum anywhere. The weights' offset (8 for the nibbles, 128 for Q8_0) is removed by
 * starting the integer sum at -offset * sum(activation quants), which the activation format
 * carries per block; one conversion and one FMA per block then apply both scales.
 *
 * Activations: per 32-element block the scale (as a float), the int32 correction and the 32
 * int8 quants (40 bytes), with the same quants and scale as the reference Q8_0 quantizer. Every
 * output is summed block by block in the same order for any number of tokens, so decode (one
 * token) and batches give bit-identical results. The layouts and their packing are shared with
 * the AVX2 set (quant_pack.c). */
#include "kernels/quant_impl.h"
#include "kernels/quant_pack.h"
#include "kernels/simd.h"

#if defined(__x86_64__)
#include "kernels/simd_x86.h"

#define PR QT_PACK_ROWS

typedef block_act32 block_act;

#define Q4_BLOCK PACK_Q4_0_BLOCK
#define Q8_BLOCK PACK_Q8_0_BLOCK

static void pack_q8_0(int n, const void *restrict x, size_t x_stride, void *restrict dst)
{
    pack_q8_0_rows(n, x, x_stride, dst, 0x80);
}

/* x rounded to the nearest integer, halves away from zero (roundf), as int32. */
AVX512_FN static inline __m512i round_away(__m512 x)
{
    const __m512 t = _mm512_roundscale_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(x, t)); /* exact */
    const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN));
    const __m512 one = _mm512_castsi512_ps(
        _mm512_or_si512(_mm512_castps_si512(_mm512_set1_ps(1.0f)), sign)); /* +-1 like x */
    return _mm512_cvttps_epi32(_mm512_mask_add_ps(t, up, t, one));
}

/* One block of activations; offset is the weights' (8 or 128). The quants and the scale are
 * exactly those of the reference Q8_0 quantizer (fp16 scale, rounding halves away from zero). */
AVX512_FN static inline void act_block(const float *x, block_act *a, int offset)
{
    const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
    const float d = amax / 127.0f;
    const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    const __m512i q0 = round_away(_mm512_mul_ps(x0, id));
    const __m512i q1 = round_away(_mm512_mul_ps(x1, id));
    _mm_storeu_si128((__m128i *)a->qs, _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128((__m128i *)(a->qs + 16), _mm512_cvtsepi32_epi8(q1));
    a->d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(d), _MM_FROUND_TO_NEAREST_INT)));
    a->c = -offset * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
}

AVX512_FN static void act_q4_0(const float *restrict x, void *restrict y, int n)
{
    block_act *a = y;
    for (int b = 0; b < n / 32; b++) act_block(x + 32 * b, a + b, 8);
}

AVX512_FN static void act_q8_0(const float *restrict x, void *restrict y, int n)
{
    block_act *a = y;
    for (int b = 0; b < n / 32; b++) act_block(x + 32 * b, a + b, 128);
}

/* T tokens (a compile-time constant after inlining) against one group. is_q8 selects the layout.
 * Each token's integer dot runs in two chains (w[0..3] and w[4..7]) so one token alone still
 * overlaps its VPDPBUSD latencies; integer sums are exact, so the split changes nothing. The
 * loops are unrolled by pragma so the weights and the T accumulators stay in registers (as loops,
 * GCC kept them on the stack). */
__attribute__((always_inline)) AVX512_FN static inline void
tile_q_0(int n, float *restrict s, size_t ss, const uint8_t *restrict xp,
         const uint8_t *restrict y, size_t ys, const int T, const int is_q8)
{
    const size_t bsz = is_q8 ? Q8_BLOCK : Q4_BLOCK;
    const __m512i m4 = _mm512_set1_epi8(15);
    __m512 acc[QT_TILE_TOKENS];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    const int nb = n / 32;
    for (int b = 0; b < nb; b++) {
        const uint8_t *g = xp + (size_t)b * bsz;
        if (T >= 3) x86_prefetch_ahead(g, bsz, 8 * bsz, 24 * bsz); /* see simd_x86.h */
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)g));
        __m512i w[8];
        if (is_q8) {
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) w[k] = _mm512_loadu_si512((const void *)(g + 32 + 64 * k));
        } else {
#pragma GCC unroll 8
            for (int k = 0; k < 4; k++) {
                const __m512i v = _mm512_loadu_si512((const void *)(g + 32 + 64 * k));
                w[k] = _mm512_and_si512(v, m4);
                w[4 + k] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            }
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const block_act *a = (const block_act *)(y + (size_t)t * ys) + b;
            /* w[k] holds elements 4k..4k+3 of the block, w[4 + k] elements 16+4k..16+4k+3 */
            __m512i p0 = _mm512_set1_epi32(a->c), p1 = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int k = 0; k < 4; k++) {
                p0 = x86_dpbusd_bcast(p0, w[k], a->qs + 4 * k);
                p1 = x86_dpbusd_bcast(p1, w[4 + k], a->qs + 16 + 4 * k);
            }
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(p0, p1)),
                                     _mm512_mul_ps(dw, _mm512_set1_ps(a->d)), acc[t]);
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) _mm512_storeu_ps(s + (size_t)t * ss, acc[t]);
}

#define TILE_SWITCH(fn, is_q8)                                                                     \
    switch (nt) {                                                                                  \
    case 8: tile_q_0(n, s, ss, xp, y, ys, 8, is_q8); break;                                       \
    case 7: tile_q_0(n, s, ss, xp, y, ys, 7, is_q8); break;                                       \
    case 6: tile_q_0(n, s, ss, xp, y, ys, 6, is_q8); break;                                       \
    case 5: tile_q_0(n, s, ss, xp, y, ys, 5, is_q8); break;                                       \
    case 4: tile_q_0(n, s, ss, xp, y, ys, 4, is_q8); break;                                       \
    case 3: tile_q_0(n, s, ss, xp, y, ys, 3, is_q8); break;                                       \
    case 2: tile_q_0(n, s, ss, xp, y, ys, 2, is_q8); break;                                       \
    default: tile_q_0(n, s, ss, xp, y, ys, 1, is_q8); break;                                      \
    }

AVX512_FN static void tile_q4_0(int n, int nt, float *restrict s, size_t ss,
                                const void *restrict xp, const void *restrict y, size_t ys)
{
    TILE_SWITCH(tile_q4_0, 0)
}

AVX512_FN static void tile_q8_0(int n, int nt, float *restrict s, size_t ss,
                                const void *restrict xp, const void *restrict y, size_t ys)
{
    TILE_SWITCH(tile_q8_0, 1)
}

/* ---- F16: 16 rows' element i side by side (32 bytes), against float activations ----
 *
 * One conversion gives element i of the 16 rows; one FMA per token adds it times the token's x[i]
 * broadcast. Each token keeps two partial sums per lane (even and odd elements), so one token
 * alone has two FMA chains in flight; the two are added at the end, the same way for any nt. */

__attribute__((always_inline)) AVX512_FN static inline void
tile_f16_t(int n, float *restrict s, size_t ss, const uint8_t *restrict xp,
           const uint8_t *restrict y, size_t ys, const int T)
{
    __m512 acc0[QT_TILE_TOKENS], acc1[QT_TILE_TOKENS];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) acc0[t] = acc1[t] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 2 <= n; i += 2) {
        if (T >= 3) x86_prefetch_ahead(xp + 32 * i, 64, 4096, 12288); /* see simd_x86.h */
        const __m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(xp + 32 * i)));
        const __m512 w1 =
            _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(xp + 32 * i + 32)));
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const float *x = (const float *)(y + (size_t)t * ys);
            acc0[t] = _mm512_fmadd_ps(w0, _mm512_set1_ps(x[i]), acc0[t]);
            acc1[t] = _mm512_fmadd_ps(w1, _mm512_set1_ps(x[i + 1]), acc1[t]);
        }
    }
    if (i < n) {
        const __m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(xp + 32 * i)));
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            acc0[t] = _mm512_fmadd_ps(w0, _mm512_set1_ps(((const float *)(y + t * ys))[i]),
                                      acc0[t]);
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) _mm512_storeu_ps(s + (size_t)t * ss, _mm512_add_ps(acc0[t], acc1[t]));
}

AVX512_FN static void tile_f16(int n, int nt, float *restrict s, size_t ss,
                               const void *restrict xp, const void *restrict y, size_t ys)
{
    switch (nt) {
    case 8: tile_f16_t(n, s, ss, xp, y, ys, 8); break;
    case 7: tile_f16_t(n, s, ss, xp, y, ys, 7); break;
    case 6: tile_f16_t(n, s, ss, xp, y, ys, 6); break;
    case 5: tile_f16_t(n, s, ss, xp, y, ys, 5); break;
    case 4: tile_f16_t(n, s, ss, xp, y, ys, 4); break;
    case 3: tile_f16_t(n, s, ss, xp, y, ys, 3); break;
    case 2: tile_f16_t(n, s, ss, xp, y, ys, 2); break;
    default: tile_f16_t(n, s, ss, xp, y, ys, 1); break;
    }
}

static const qt_packed_kernels packed_f16 = {pack_f16_group_bytes, pack_f16_rows,
                                             pack_f32_row_bytes, pack_act_f32, tile_f16};
static const qt_packed_kernels packed_q4_0 = {pack_q4_0_group_bytes, pack_q4_0_rows,
                                              pack_act32_row_bytes, act_q4_0, tile_q4_0};
static const qt_packed_kernels packed_q8_0 = {pack_q8_0_group_bytes, pack_q8_0,
                                              pack_act32_row_bytes, act_q8_0, tile_q8_0};

void simd_avx512_fill_packed(qtype_traits_t t[QT_COUNT])
{
    t[QT_Q4_0].packed = &packed_q4_0;
    t[QT_Q8_0].packed = &packed_q8_0;
    t[QT_F16].packed = &packed_f16;
    simd_avx512_fill_packed_k(t);
}

#else

void simd_avx512_fill_packed(qtype_traits_t t[QT_COUNT])
{
    (void)t;
}

#endif
