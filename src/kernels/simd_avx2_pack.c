/* simd_avx2_pack.c - packed (row-interleaved) Q4_0, Q8_0 and F16 weights for AVX2.
 *
 * Layout (see qt_packed_kernels in qtypes.h). A group holds QT_PACK_ROWS = 16 rows; for each
 * 32-element block b of the rows it stores, one after the other:
 *   - the 16 rows' fp16 scales (32 bytes), two F16C conversions;
 *   - the 16 rows' quants as 64-byte vectors whose 32-bit lane r holds 4 consecutive bytes of row
 *     r, rows 0..7 in the first 32 bytes and rows 8..15 in the second, so each half is one ymm
 *     load: Q4_0 has 4 such vectors (quant bytes 4k..4k+3 of each row: low nibbles are elements
 *     4k..4k+3, high nibbles elements 16+4k..16+4k+3), Q8_0 has 8 (elements 4k..4k+3, as is).
 * So a block of 16 rows is 288 (Q4_0) or 544 (Q8_0) contiguous bytes, the same bytes as the
 * unpacked rows (the AVX-512 layout, except that Q8_0 keeps its signed bytes), and a product
 * streams one sequential run of memory.
 *
 * maddubs then multiplies, in lane r, four weight bytes of row r by the same four activation
 * bytes broadcast to every lane, giving the 16 rows' integer dots in two registers with no
 * horizontal sum. Its int16 pair sums saturate past 32767, which decides how each type sums:
 *   - Q4_0: nibbles (0..15) times activations (-127..127) make at most 2 * 15 * 127 per pair, so
 *     the eight products of a block (16 per int16 lane, at most 30480) add up in int16 and one
 *     madd per half widens them. The nibbles' offset 8 is removed by starting the int32 sum at
 *     -8 * sum(activation quants), which the activation format carries per block.
 *   - Q8_0: weights are signed, so the sign of each weight moves onto the activation byte
 *     (|w| * sign(w) a, the pattern of x86_dot_i8); a pair reaches 2 * 128 * 127, so every
 *     product is widened by madd at once.
 * One conversion and one FMA per block, half and token then apply both scales.
 *
 * Sixteen ymm registers do not hold a block's weights and eight tokens' sums, so a block's
 * tokens go through in runs of four, each run reloading the block's quant bytes from L1 while
 * memory streams once; the float sums of the tokens not in the current run wait on the stack.
 *
 * Activations: per 32-element block the scale (as a float), the int32 correction and the 32
 * int8 quants (40 bytes), with the same quants and scale as the reference Q8_0 quantizer. Every
 * output is summed block by block in the same order for any number of tokens, so decode (one
 * token) and batches give bit-identical results. The layouts and their packing are shared with
 * the AVX-512 set (quant_pack.c). */
#include "kernels/quant_impl.h"
#include "kernels/quant_pack.h"
#include "kernels/simd.h"

#if defined(__x86_64__)
#include "kernels/simd_x86.h"

#define PR QT_PACK_ROWS
#define RUN 4 /* tokens whose int sums share the registers at once */

typedef block_act32 block_act;

#define Q4_BLOCK PACK_Q4_0_BLOCK
#define Q8_BLOCK PACK_Q8_0_BLOCK

static void pack_q8_0(int n, const void *restrict x, size_t x_stride, void *restrict dst)
{
    pack_q8_0_rows(n, x, x_stride, dst, 0);
}

/* The reference quants and scale come from the AVX2 Q8_0 quantizer (byte-identical to it);
 * offset is the weights' (8 for Q4_0, 0 for Q8_0). */
AVX2_FN static void act_rows(const float *restrict x, void *restrict y, int n, int offset)
{
    block_act *a = y;
    for (int b = 0; b < n / 32; b++) {
        block_q8_0 q;
        simd_avx2_quant_row_q8_0(x + 32 * b, &q, 32);
        a[b].d = x86_fp16(q.d);
        memcpy(a[b].qs, q.qs, 32);
        const __m256i v = _mm256_loadu_si256((const __m256i *)q.qs);
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), v),
                                            _mm256_set1_epi16(1));
        a[b].c = -offset * x86_hsum_epi32(p);
    }
}

AVX2_FN static void act_q4_0(const float *restrict x, void *restrict y, int n)
{
    act_rows(x, y, n, 8);
}

AVX2_FN static void act_q8_0(const float *restrict x, void *restrict y, int n)
{
    act_rows(x, y, n, 0);
}

/* Tokens t0..t0+TN-1 of one block: their integer dots (two halves of 8 rows each), then the
 * scales into acc. is_q8 selects the layout; the weights are read from the block per run. */
__attribute__((always_inline)) AVX2_FN static inline void
block_run(const uint8_t *restrict g, const uint8_t *restrict y, size_t ys, int b, const int t0,
          const int TN, const int is_q8, const __m256 dw[2], __m256 acc[][2])
{
    const __m256i m4 = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
    __m256i p[RUN][2];
    const block_act *a[RUN];
#pragma GCC unroll 4
    for (int u = 0; u < TN; u++) a[u] = (const block_act *)(y + (size_t)(t0 + u) * ys) + b;
    if (is_q8) {
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                const __m256i w = _mm256_loadu_si256((const __m256i *)(g + 32 + 64 * k + 32 * h));
                const __m256i aw = _mm256_sign_epi8(w, w);
#pragma GCC unroll 4
                for (int u = 0; u < TN; u++) {
                    const __m256i q = _mm256_madd_epi16(
                        _mm256_maddubs_epi16(aw, _mm256_sign_epi8(x86_bcast4(a[u]->qs + 4 * k), w)),
                        ones);
                    p[u][h] = k ? _mm256_add_epi32(p[u][h], q) : q;
                    X86_CHAIN(p[u][h]);
                }
            }
        }
    } else {
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(g + 32 + 64 * k + 32 * h));
                const __m256i lo = _mm256_and_si256(v, m4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
#pragma GCC unroll 4
                for (int u = 0; u < TN; u++) {
                    /* lo holds elements 4k..4k+3, hi elements 16+4k..16+4k+3 */
                    const __m256i q =
                        _mm256_add_epi16(_mm256_maddubs_epi16(lo, x86_bcast4(a[u]->qs + 4 * k)),
                                         _mm256_maddubs_epi16(hi, x86_bcast4(a[u]->qs + 16 + 4 * k)));
                    p[u][h] = k ? _mm256_add_epi16(p[u][h], q) : q;
                    X86_CHAIN(p[u][h]);
                }
            }
        }
#pragma GCC unroll 4
        for (int u = 0; u < TN; u++)
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++)
                p[u][h] = _mm256_add_epi32(_mm256_madd_epi16(p[u][h], ones),
                                           _mm256_set1_epi32(a[u]->c));
    }
#pragma GCC unroll 4
    for (int u = 0; u < TN; u++) {
        const __m256 da = _mm256_set1_ps(a[u]->d);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++)
            acc[t0 + u][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p[u][h]),
                                             _mm256_mul_ps(dw[h], da), acc[t0 + u][h]);
    }
}

/* T tokens (a compile-time constant after inlining) against one group. The loops are unrolled by
 * pragma so the weights and the int sums stay in registers (as loops, GCC kept them on the
 * stack). */
__attribute__((always_inline)) AVX2_FN static inline void
tile_q_0(int n, float *restrict s, size_t ss, const uint8_t *restrict xp,
         const uint8_t *restrict y, size_t ys, const int T, const int is_q8)
{
    const size_t bsz = is_q8 ? Q8_BLOCK : Q4_BLOCK;
    __m256 acc[QT_TILE_TOKENS][2];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    const int nb = n / 32;
    for (int b = 0; b < nb; b++) {
        const uint8_t *g = xp + (size_t)b * bsz;
        if (T >= 3) x86_prefetch_ahead(g, bsz, 8 * bsz, 0); /* see simd_x86.h */
        const __m256 dw[2] = {_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g)),
                              _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g + 16)))};
#pragma GCC unroll 4
        for (int t0 = 0; t0 < T; t0 += RUN)
            block_run(g, y, ys, b, t0, T - t0 < RUN ? T - t0 : RUN, is_q8, dw, acc);
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
        _mm256_storeu_ps(s + (size_t)t * ss, acc[t][0]);
        _mm256_storeu_ps(s + (size_t)t * ss + 8, acc[t][1]);
    }
}

#define TILE_SWITCH(fn, ...)                                                                       \
    switch (nt) {                                                                                  \
    case 8: fn(n, s, ss, xp, y, ys, 8, __VA_ARGS__); break;                                        \
    case 7: fn(n, s, ss, xp, y, ys, 7, __VA_ARGS__); break;                                        \
    case 6: fn(n, s, ss, xp, y, ys, 6, __VA_ARGS__); break;                                        \
    case 5: fn(n, s, ss, xp, y, ys, 5, __VA_ARGS__); break;                                        \
    case 4: fn(n, s, ss, xp, y, ys, 4, __VA_ARGS__); break;                                        \
    case 3: fn(n, s, ss, xp, y, ys, 3, __VA_ARGS__); break;                                        \
    case 2: fn(n, s, ss, xp, y, ys, 2, __VA_ARGS__); break;                                        \
    default: fn(n, s, ss, xp, y, ys, 1, __VA_ARGS__); break;                                       \
    }

AVX2_FN static void tile_q4_0(int n, int nt, float *restrict s, size_t ss,
                              const void *restrict xp, const void *restrict y, size_t ys)
{
    TILE_SWITCH(tile_q_0, 0)
}

AVX2_FN static void tile_q8_0(int n, int nt, float *restrict s, size_t ss,
                              const void *restrict xp, const void *restrict y, size_t ys)
{
    TILE_SWITCH(tile_q_0, 1)
}

/* ---- F16: 16 rows' element i side by side (32 bytes), against float activations ----
 *
 * Two conversions give element i of rows 0..7 and 8..15; one FMA per half and token adds them
 * times the token's x[i] broadcast. Each token keeps two partial sums per half (even and odd
 * elements), so one token alone has four FMA chains in flight; they are added at the end, the
 * same way for any nt. Four sums a token fill the registers at three tokens, so larger tiles go
 * through the group in passes of up to three tokens (the group, 32 bytes an element, is read
 * again from cache); each token's sums are the same whatever pass it falls in. */

#define F16_PASS 3

AVX2_FN static inline __m256 f16x8(const uint8_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

__attribute__((always_inline)) AVX2_FN static inline void
f16_pass(int n, float *restrict s, size_t ss, const uint8_t *restrict xp,
         const uint8_t *restrict y, size_t ys, const int T)
{
    __m256 e0[F16_PASS], e1[F16_PASS], o0[F16_PASS], o1[F16_PASS];
#pragma GCC unroll 3
    for (int t = 0; t < T; t++) e0[t] = e1[t] = o0[t] = o1[t] = _mm256_setzero_ps();
    int i = 0;
    for (; i + 2 <= n; i += 2) {
        if (T >= 3) x86_prefetch_ahead(xp + 32 * i, 64, 4096, 12288); /* see simd_x86.h */
        const __m256 w0 = f16x8(xp + 32 * i), w1 = f16x8(xp + 32 * i + 16);
#pragma GCC unroll 3
        for (int t = 0; t < T; t++) {
            const __m256 x = _mm256_set1_ps(((const float *)(y + (size_t)t * ys))[i]);
            e0[t] = _mm256_fmadd_ps(w0, x, e0[t]);
            e1[t] = _mm256_fmadd_ps(w1, x, e1[t]);
        }
        const __m256 v0 = f16x8(xp + 32 * i + 32), v1 = f16x8(xp + 32 * i + 48);
#pragma GCC unroll 3
        for (int t = 0; t < T; t++) {
            const __m256 x = _mm256_set1_ps(((const float *)(y + (size_t)t * ys))[i + 1]);
            o0[t] = _mm256_fmadd_ps(v0, x, o0[t]);
            o1[t] = _mm256_fmadd_ps(v1, x, o1[t]);
        }
    }
    if (i < n) {
        const __m256 w0 = f16x8(xp + 32 * i), w1 = f16x8(xp + 32 * i + 16);
#pragma GCC unroll 3
        for (int t = 0; t < T; t++) {
            const __m256 x = _mm256_set1_ps(((const float *)(y + (size_t)t * ys))[i]);
            e0[t] = _mm256_fmadd_ps(w0, x, e0[t]);
            e1[t] = _mm256_fmadd_ps(w1, x, e1[t]);
        }
    }
#pragma GCC unroll 3
    for (int t = 0; t < T; t++) {
        _mm256_storeu_ps(s + (size_t)t * ss, _mm256_add_ps(e0[t], o0[t]));
        _mm256_storeu_ps(s + (size_t)t * ss + 8, _mm256_add_ps(e1[t], o1[t]));
    }
}

AVX2_FN static void tile_f16(int n, int nt, float *restrict s, size_t ss,
                             const void *restrict xp, const void *restrict y, size_t ys)
{
    const uint8_t *yb = y;
    for (int t = 0; t < nt; t += F16_PASS) {
        float *st = s + (size_t)t * ss;
        const uint8_t *yt = yb + (size_t)t * ys;
        switch (nt - t) {
        case 1: f16_pass(n, st, ss, xp, yt, ys, 1); break;
        case 2: f16_pass(n, st, ss, xp, yt, ys, 2); break;
        default: f16_pass(n, st, ss, xp, yt, ys, 3); break;
        }
    }
}

static const qt_packed_kernels packed_f16 = {pack_f16_group_bytes, pack_f16_rows,
                                             pack_f32_row_bytes, pack_act_f32, tile_f16};
static const qt_packed_kernels packed_q4_0 = {pack_q4_0_group_bytes, pack_q4_0_rows,
                                              pack_act32_row_bytes, act_q4_0, tile_q4_0};
static const qt_packed_kernels packed_q8_0 = {pack_q8_0_group_bytes, pack_q8_0,
                                              pack_act32_row_bytes, act_q8_0, tile_q8_0};

void simd_avx2_fill_packed(qtype_traits_t t[QT_COUNT])
{
    t[QT_Q4_0].packed = &packed_q4_0;
    t[QT_Q8_0].packed = &packed_q8_0;
    t[QT_F16].packed = &packed_f16;
    simd_avx2_fill_packed_k(t);
}

#else

void simd_avx2_fill_packed(qtype_traits_t t[QT_COUNT])
{
    (void)t;
}

#endif
