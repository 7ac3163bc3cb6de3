/* simd_avx512_pack_k.c - packed (row-interleaved) Q4_K and Q6_K weights for AVX-512 VNNI.
 *
 * The scheme of simd_avx512_pack.c carried to the 256-element super-blocks: a group holds
 * QT_PACK_ROWS = 16 rows, a 64-byte vector holds in its 32-bit lane r four consecutive weights of
 * row r, and VPDPBUSD against four broadcast activation bytes gives the 16 rows' integer dots
 * with no horizontal sum. Everything else a super-block needs is decoded at pack time, so the
 * kernels never unpack 6-bit scales. Per super-block and group, one after the other:
 *
 *   Q4_K (2368 bytes; the rows take 16 * 144 = 2304, +2.8%):
 *     - the 16 rows' fp16 d, then their fp16 dmin (32 + 32 bytes);
 *     - scales: for each sub-block j (32 elements) the 16 rows' scale bytes (8 * 16);
 *     - mins: for each pair i of sub-blocks, 16 rows x (min 2i, min 2i+1) (4 * 32), widened to
 *       int16 pairs they meet the activation's pair of sub-block sums in one VPDPWSSD;
 *     - nibbles: for each pair i and 4-byte chunk c (0..7), the vector of qs bytes 32i+4c..+3 of
 *       every row: low nibbles are elements 4c..4c+3 of sub-block 2i, high ones of 2i+1
 *       (4 * 8 * 64 = 2048, the rows' own qs bytes).
 *   Q6_K (3360 bytes, exactly the rows' 16 * 210):
 *     - the 16 rows' fp16 d (32 bytes);
 *     - scales: for each sub-block j (16 elements) the 16 rows' int8 scales (16 * 16);
 *     - weights: for each sub-block, its four chunks A, B, C, D (elements 4c..4c+3 of the 16 rows,
 *       values 0..63) in three vectors: low nibbles of A | B << 4, of C | D << 4, and the 2-bit
 *       high parts A | B << 2 | C << 4 | D << 6 (16 * 192), so memory still holds 6 bits a weight.
 *
 * Per sub-block the unsigned weights (0..15, 0..63) meet the signed activation bytes, the result
 * is multiplied by each lane's scale (VPMULLD) and summed over the super-block in int32; one
 * conversion and FMA per super-block and token apply the float scales. Q4_K's mins go through the
 * activation's sums per sub-block, Q6_K's -32 offset starts each sub-block's sum at -32 * the
 * activation's sum of those 16 quants. Every int32 bound is stated where the sum is formed.
 *
 * Activations: per super-block the reference Q8_K quants and scale (made by the same quantizer as
 * the unpacked path) plus what the weights need from them: for Q4_K the int16 sums of each
 * 32-element sub-block, in pairs, for Q6_K -32 * the sum of each 16. Every output is summed in
 * the same order for any number of tokens, so decode and batches give bit-identical results. */
#include "kernels/quant_impl.h"
#include "kernels/simd.h"

#if defined(__x86_64__)
#include "kernels/simd_x86.h"

#define PR QT_PACK_ROWS

/* Q4_K super-block of a group: offsets of its parts */
#define Q4K_D     0
#define Q4K_DMIN  (PR * 2)
#define Q4K_SC    (PR * 4)
#define Q4K_MIN   (Q4K_SC + 8 * PR)
#define Q4K_QS    (Q4K_MIN + 8 * PR)
#define Q4K_BLOCK (Q4K_QS + PR * 128) /* 2368 */

#define Q6K_D     0
#define Q6K_SC    (PR * 2)
#define Q6K_Q     (Q6K_SC + 16 * PR)
#define Q6K_BLOCK (Q6K_Q + 16 * 192) /* 3360 */

typedef struct {
    float d;
    int32_t m[4]; /* int16 sums of sub-blocks 2i (low half) and 2i + 1 (high half) */
    int8_t qs[QK_K];
} act_q4_K;

typedef struct {
    float d;
    int32_t c[16]; /* -32 * the sum of quants 16j..16j+15 */
    int8_t qs[QK_K];
} act_q6_K;

static size_t q4_K_group_bytes(int n) { return (size_t)(n / QK_K) * Q4K_BLOCK; }
static size_t q6_K_group_bytes(int n) { return (size_t)(n / QK_K) * Q6K_BLOCK; }
static size_t act_q4_K_bytes(int n) { return (size_t)(n / QK_K) * sizeof(act_q4_K); }
static size_t act_q6_K_bytes(int n) { return (size_t)(n / QK_K) * sizeof(act_q6_K); }

static void pack_q4_K(int n, const void *restrict x, size_t x_stride, void *restrict dst)
{
    uint8_t *o = dst;
    for (int b = 0; b < n / QK_K; b++, o += Q4K_BLOCK) {
        for (int r = 0; r < PR; r++) {
            const block_q4_K *src = (const block_q4_K *)((const uint8_t *)x + r * x_stride) + b;
            memcpy(o + Q4K_D + 2 * r, &src->d, 2);
            memcpy(o + Q4K_DMIN + 2 * r, &src->dmin, 2);
            for (int j = 0; j < 8; j++) {
                uint8_t sc, m;
                quant_get_scale_min_k4(j, src->scales, &sc, &m);
                o[Q4K_SC + PR * j + r] = sc;
                o[Q4K_MIN + 2 * PR * (j / 2) + 2 * r + j % 2] = m;
            }
            for (int i = 0; i < 4; i++)
                for (int c = 0; c < 8; c++)
                    memcpy(o + Q4K_QS + 64 * (8 * i + c) + 4 * r, src->qs + 32 * i + 4 * c, 4);
        }
    }
}

static void pack_q6_K(int n, const void *restrict x, size_t x_stride, void *restrict dst)
{
    uint8_t *o = dst;
    for (int b = 0; b < n / QK_K; b++, o += Q6K_BLOCK) {
        for (int r = 0; r < PR; r++) {
            const block_q6_K *src = (const block_q6_K *)((const uint8_t *)x + r * x_stride) + b;
            memcpy(o + Q6K_D + 2 * r, &src->d, 2);
            uint8_t q[QK_K]; /* levels 0..63, as in quant_k.c's unpack_q6_K */
            for (int e = 0; e < QK_K; e++) {
                const int half = e / 128, l = e % 128;
                const uint8_t lb = src->ql[half * 64 + l % 64];
                const int lo = l < 64 ? lb & 0x0f : lb >> 4;
                const int hi = (src->qh[half * 32 + l % 32] >> (2 * (l / 32))) & 3;
                q[e] = (uint8_t)(lo | hi << 4);
            }
            for (int j = 0; j < 16; j++) {
                o[Q6K_SC + PR * j + r] = (uint8_t)src->scales[j];
                uint8_t *v = o + Q6K_Q + 192 * j + 4 * r;
                for (int e = 0; e < 4; e++) {
                    const uint8_t *s = q + 16 * j + e; /* chunk c's byte e is s[4 * c] */
                    v[e] = (uint8_t)((s[0] & 15) | (s[4] & 15) << 4);
                    v[64 + e] = (uint8_t)((s[8] & 15) | (s[12] & 15) << 4);
                    v[128 + e] = (uint8_t)(s[0] >> 4 | (s[4] >> 4) << 2 | (s[8] >> 4) << 4 |
                                           (s[12] >> 4) << 6);
                }
            }
        }
    }
}

/* The quants and scale come from the Q8_K quantizer of the unpacked path (byte-identical to the
 * reference), so packing changes only the summation order, never the activations. */
AVX512_FN static void act_from_float_q4_K(const float *restrict x, void *restrict y, int n)
{
    act_q4_K *a = y;
    block_q8_K q;
    for (int b = 0; b < n / QK_K; b++) {
        simd_avx2_quant_row_q8_K(x + (size_t)b * QK_K, &q, QK_K);
        a[b].d = q.d;
        memcpy(a[b].qs, q.qs, QK_K);
        for (int i = 0; i < 4; i++) {
            /* |sum of 32 quants| <= 32 * 127, an int16 */
            const int lo = q.bsums[4 * i] + q.bsums[4 * i + 1];
            const int hi = q.bsums[4 * i + 2] + q.bsums[4 * i + 3];
            a[b].m[i] = (int32_t)((uint32_t)(uint16_t)lo | (uint32_t)(uint16_t)hi << 16);
        }
    }
}

AVX512_FN static void act_from_float_q6_K(const float *restrict x, void *restrict y, int n)
{
    act_q6_K *a = y;
    block_q8_K q;
    for (int b = 0; b < n / QK_K; b++) {
        simd_avx2_quant_row_q8_K(x + (size_t)b * QK_K, &q, QK_K);
        a[b].d = q.d;
        memcpy(a[b].qs, q.qs, QK_K);
        for (int j = 0; j < 16; j++) a[b].c[j] = -32 * q.bsums[j];
    }
}

/* The small loops below are unrolled by pragma: -O2 keeps them as loops, and the per-token arrays
 * (sums, accumulators) then live on the stack instead of in registers (measured on a Q4_K_M
 * model: pp64 about 160 tok/s that way, 250 unrolled). */
/* One Q4_K sub-block j (its 8 weight vectors w, scales sc) for T tokens into sumi. Two chains
 * per token below three tokens, so one token alone still overlaps VPDPBUSD latencies; one chain
 * each from three up, where the tokens overlap each other. A lane's sub-block dot is at
 * most 32 * 15 * 127 = 60960 in magnitude, times a 6-bit scale 3.9e6, over 8 sub-blocks 3.1e7:
 * int32 holds the super-block's sum. */
__attribute__((always_inline)) AVX512_FN static inline void
q4_K_sub(__m512i *sumi, const __m512i *w, __m512i sc, const uint8_t *y, size_t ys, int b, int j,
         const int T)
{
#pragma GCC unroll 16
    for (int t = 0; t < T; t++) {
        const act_q4_K *a = (const act_q4_K *)(y + (size_t)t * ys) + b;
        const int8_t *q = a->qs + 32 * j;
        __m512i p0 = _mm512_setzero_si512();
        if (T >= 3) { /* the tokens' chains overlap each other: one chain each */
#pragma GCC unroll 16
            for (int c = 0; c < 8; c++) p0 = x86_dpbusd_bcast(p0, w[c], q + 4 * c);
        } else {
            __m512i p1 = _mm512_setzero_si512();
#pragma GCC unroll 16
            for (int c = 0; c < 4; c++) {
                p0 = x86_dpbusd_bcast(p0, w[c], q + 4 * c);
                p1 = x86_dpbusd_bcast(p1, w[4 + c], q + 16 + 4 * c);
            }
            p0 = _mm512_add_epi32(p0, p1);
        }
        sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(p0, sc));
    }
}

/* T tokens (a compile-time constant after inlining) against one Q4_K group. Sub-blocks go one at
 * a time for all tokens, so the 8 accumulators, 8 sums and 8 weight vectors fit the registers. */
__attribute__((always_inline)) AVX512_FN static inline void
tile_q4_K_T(int n, float *restrict s, size_t ss, const uint8_t *restrict xp,
            const uint8_t *restrict y, size_t ys, const int T)
{
    const __m512i m4 = _mm512_set1_epi8(15);
    __m512 acc[QT_TILE_TOKENS];
#pragma GCC unroll 16
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < n / QK_K; b++) {
        const uint8_t *g = xp + (size_t)b * Q4K_BLOCK;
        if (T >= 3) x86_prefetch_ahead(g, Q4K_BLOCK, 0, 3 * Q4K_BLOCK); /* simd_x86.h */
        __m512i sumi[QT_TILE_TOKENS];
#pragma GCC unroll 16
        for (int t = 0; t < T; t++) sumi[t] = _mm512_setzero_si512();
#pragma GCC unroll 16
        for (int i = 0; i < 4; i++) {
            const uint8_t *qv = g + Q4K_QS + 512 * i;
            __m512i w[8];
#pragma GCC unroll 16
            for (int c = 0; c < 8; c++)
                w[c] = _mm512_and_si512(_mm512_loadu_si512((const void *)(qv + 64 * c)), m4);
            q4_K_sub(sumi, w,
                     _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(g + Q4K_SC + 32 * i))),
                     y, ys, b, 2 * i, T);
#pragma GCC unroll 16
            for (int c = 0; c < 8; c++)
                w[c] = _mm512_and_si512(
                    _mm512_srli_epi16(_mm512_loadu_si512((const void *)(qv + 64 * c)), 4), m4);
            q4_K_sub(sumi, w,
                     _mm512_cvtepu8_epi32(
                         _mm_loadu_si128((const __m128i *)(g + Q4K_SC + 32 * i + PR))),
                     y, ys, b, 2 * i + 1, T);
        }
        const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(g + Q4K_D)));
        const __m512 dmv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(g + Q4K_DMIN)));
        __m512i mins[4];
#pragma GCC unroll 16
        for (int i = 0; i < 4; i++)
            mins[i] = _mm512_cvtepu8_epi16(
                _mm256_loadu_si256((const __m256i *)(g + Q4K_MIN + 2 * PR * i)));
#pragma GCC unroll 16
        for (int t = 0; t < T; t++) {
            const act_q4_K *a = (const act_q4_K *)(y + (size_t)t * ys) + b;
            /* sum of min * sub-block sum: at most 8 * 63 * 4064, int32 */
            __m512i summ = _mm512_setzero_si512();
#pragma GCC unroll 16
            for (int i = 0; i < 4; i++)
                summ = _mm512_dpwssd_epi32(summ, mins[i], _mm512_set1_epi32(a->m[i]));
            const __m512 f = _mm512_fmsub_ps(_mm512_cvtepi32_ps(sumi[t]), dv,
                                             _mm512_mul_ps(_mm512_cvtepi32_ps(summ), dmv));
            acc[t] = _mm512_fmadd_ps(f, _mm512_set1_ps(a->d), acc[t]);
        }
    }
#pragma GCC unroll 16
    for (int t = 0; t < T; t++) _mm512_storeu_ps(s + (size_t)t * ss, acc[t]);
}

/* T tokens against one Q6_K group. Each sub-block's sum starts at -32 * the activation sum, so
 * it is the dot with the signed levels q - 32: at most 16 * 32 * 127 = 65024 in magnitude (the
 * partial sums on the way stay below 16 * 63 * 127 + that), times an int8 scale 8.3e6, over 16
 * sub-blocks 1.3e8: int32. */
__attribute__((always_inline)) AVX512_FN static inline void
tile_q6_K_T(int n, float *restrict s, size_t ss, const uint8_t *restrict xp,
            const uint8_t *restrict y, size_t ys, const int T)
{
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    __m512 acc[QT_TILE_TOKENS];
#pragma GCC unroll 16
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < n / QK_K; b++) {
        const uint8_t *g = xp + (size_t)b * Q6K_BLOCK;
        if (T >= 3) x86_prefetch_ahead(g, Q6K_BLOCK, 0, 3 * Q6K_BLOCK); /* simd_x86.h */
        __m512i sumi[QT_TILE_TOKENS];
#pragma GCC unroll 16
        for (int t = 0; t < T; t++) sumi[t] = _mm512_setzero_si512();
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) {
            const uint8_t *qv = g + Q6K_Q + 192 * j;
            const __m512i l1 = _mm512_loadu_si512((const void *)qv);
            const __m512i l2 = _mm512_loadu_si512((const void *)(qv + 64));
            const __m512i h = _mm512_loadu_si512((const void *)(qv + 128));
            /* (x & 15) | (y & 0x30) as one ternary-logic op: a | (b & c) is 0xf8 */
            __m512i w[4];
            w[0] = _mm512_ternarylogic_epi32(_mm512_and_si512(l1, m4), _mm512_slli_epi16(h, 4),
                                             m30, 0xf8);
            w[1] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(l1, 4), m4),
                                             _mm512_slli_epi16(h, 2), m30, 0xf8);
            w[2] = _mm512_ternarylogic_epi32(_mm512_and_si512(l2, m4), h, m30, 0xf8);
            w[3] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(l2, 4), m4),
                                             _mm512_srli_epi16(h, 2), m30, 0xf8);
            const __m512i sc =
                _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(g + Q6K_SC + PR * j)));
#pragma GCC unroll 16
            for (int t = 0; t < T; t++) {
                const act_q6_K *a = (const act_q6_K *)(y + (size_t)t * ys) + b;
                const int8_t *q = a->qs + 16 * j;
                __m512i p = _mm512_set1_epi32(a->c[j]);
#pragma GCC unroll 16
                for (int c = 0; c < 4; c++) p = x86_dpbusd_bcast(p, w[c], q + 4 * c);
                sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(p, sc));
            }
        }
        const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(g + Q6K_D)));
#pragma GCC unroll 16
        for (int t = 0; t < T; t++) {
            const act_q6_K *a = (const act_q6_K *)(y + (size_t)t * ys) + b;
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi[t]),
                                     _mm512_mul_ps(dv, _mm512_set1_ps(a->d)), acc[t]);
        }
    }
#pragma GCC unroll 16
    for (int t = 0; t < T; t++) _mm512_storeu_ps(s + (size_t)t * ss, acc[t]);
}

#define TILE_SWITCH(fn)                                                                            \
    switch (nt) {                                                                                  \
    case 8: fn(n, s, ss, xp, y, ys, 8); break;                                                     \
    case 7: fn(n, s, ss, xp, y, ys, 7); break;                                                     \
    case 6: fn(n, s, ss, xp, y, ys, 6); break;                                                     \
    case 5: fn(n, s, ss, xp, y, ys, 5); break;                                                     \
    case 4: fn(n, s, ss, xp, y, ys, 4); break;                                                     \
    case 3: fn(n, s, ss, xp, y, ys, 3); break;                                                     \
    case 2: fn(n, s, ss, xp, y, ys, 2); break;                                                     \
    default: fn(n, s, ss, xp, y, ys, 1); break;                                                    \
    }

AVX512_FN static void tile_q4_K(int n, int nt, float *restrict s, size_t ss,
                                const void *restrict xp, const void *restrict y, size_t ys)
{
    TILE_SWITCH(tile_q4_K_T)
}

AVX512_FN static void tile_q6_K(int n, int nt, float *restrict s, size_t ss,
                                const void *restrict xp, const void *restrict y, size_t ys)
{
    TILE_SWITCH(tile_q6_K_T)
}

static const qt_packed_kernels packed_q4_K = {q4_K_group_bytes, pack_q4_K, act_q4_K_bytes,
                                              act_from_float_q4_K, tile_q4_K};
static const qt_packed_kernels packed_q6_K = {q6_K_group_bytes, pack_q6_K, act_q6_K_bytes,
                                              act_from_float_q6_K, tile_q6_K};

void simd_avx512_fill_packed_k(qtype_traits_t t[QT_COUNT])
{
    t[QT_Q4_K].packed = &packed_q4_K;
    t[QT_Q6_K].packed = &packed_q6_K;
}

#else

void simd_avx512_fill_packed_k(qtype_traits_t t[QT_COUNT])
{
    (void)t;
}

#endif
