/* simd_avx2_pack_k.c - packed (row-interleaved) Q4_K and Q6_K weights for AVX2.
 *
 * The scheme of simd_avx2_pack.c carried to the 256-element super-blocks: a group holds
 * QT_PACK_ROWS = 16 rows, a 64-byte vector holds in its 32-bit lane r four consecutive weights of
 * row r (rows 0..7 in its first 32 bytes, one ymm each half), and maddubs against four broadcast
 * activation bytes gives the 16 rows' integer dots with no horizontal sum. Everything else a
 * super-block needs is decoded at pack time, so the kernels never unpack 6-bit scales. Per
 * super-block and group, one after the other:
 *
 *   Q4_K (2368 bytes; the rows take 16 * 144 = 2304, +2.8%):
 *     - the 16 rows' fp16 d, then their fp16 dmin (32 + 32 bytes);
 *     - scales: for each pair i of sub-blocks (32 elements each), 16 rows x (scale 2i, scale
 *       2i + 1) (4 * 32), and the same for the mins (4 * 32): widened to int16 pairs, a byte
 *       shuffle spreads one scale over both int16 halves of its lane, and the pairs of mins meet
 *       the activation's pair of sub-block sums in one madd;
 *     - nibbles: for each pair i and 4-byte chunk c (0..7), the vector of qs bytes 32i+4c..+3 of
 *       every row: low nibbles are elements 4c..4c+3 of sub-block 2i, high ones of 2i+1
 *       (4 * 8 * 64 = 2048, the rows' own qs bytes).
 *   Q6_K (3360 bytes, exactly the rows' 16 * 210):
 *     - the 16 rows' fp16 d (32 bytes);
 *     - scales: for each pair i of sub-blocks (16 elements each), 16 rows x (scale 2i, scale
 *       2i + 1), int8 (8 * 32);
 *     - weights: for each sub-block, its four chunks A, B, C, D (elements 4c..4c+3 of the 16 rows,
 *       values 0..63) in three vectors: low nibbles of A | B << 4, of C | D << 4, and the 2-bit
 *       high parts A | B << 2 | C << 4 | D << 6 (16 * 192), so memory still holds 6 bits a weight.
 *
 * Per sub-block the unsigned weights (0..15, 0..63) meet the signed activation bytes in int16
 * (bounds where the sums are formed), and one madd against the lane's scale in both int16 halves
 * widens and scales at once; the super-block sums in int32, and one conversion and FMA per
 * super-block, half and token apply the float scales. Q4_K's mins go through the activation's
 * sums per sub-block; Q6_K's -32 offset becomes -32 * (scale x the activation's sum per
 * 16 quants), summed the same way as Q4_K's mins.
 *
 * Activations: per super-block the reference Q8_K quants and scale (made by the same quantizer as
 * the unpacked path) plus the int16 sums, in pairs, of each sub-block's quants. Every output is
 * summed in the same order for any number of tokens, so decode and batches give bit-identical
 * results. */
#include "kernels/quant_impl.h"
#include "kernels/simd.h"

#if defined(__x86_64__)
#include "kernels/simd_x86.h"

#define PR  QT_PACK_ROWS
/* Tokens whose int sums are formed together: all of a tile's. Past four tokens the token loops
 * (unrolled by 4) stay loops over sums in L1, which still beat both splitting the tokens into runs
 * of four, each decoding the weights again (as the Q4_0 tiles do), and unrolling them fully with
 * the sums spilled: measured on a Q4_K_M model, pp64 about 97 tok/s in runs of four, 104 fully
 * unrolled, 125-131 this way. */
#define RUN QT_TILE_TOKENS

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
    int32_t m[8]; /* int16 sums of quants 32i..32i+15 (low half) and 32i+16..32i+31 (high) */
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
                o[Q4K_SC + 2 * PR * (j / 2) + 2 * r + j % 2] = sc;
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
                o[Q6K_SC + 2 * PR * (j / 2) + 2 * r + j % 2] = (uint8_t)src->scales[j];
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

/* Two int16 sums (each |sum| <= 32 * 127) in one int32: lo in the low half. */
static inline int32_t pair16(int lo, int hi)
{
    return (int32_t)((uint32_t)(uint16_t)lo | (uint32_t)(uint16_t)hi << 16);
}

/* The quants and scale come from the Q8_K quantizer of the unpacked path (byte-identical to the
 * reference), so packing changes only the summation order, never the activations. */
static void act_from_float_q4_K(const float *restrict x, void *restrict y, int n)
{
    act_q4_K *a = y;
    block_q8_K q;
    for (int b = 0; b < n / QK_K; b++) {
        simd_avx2_quant_row_q8_K(x + (size_t)b * QK_K, &q, QK_K);
        a[b].d = q.d;
        memcpy(a[b].qs, q.qs, QK_K);
        for (int i = 0; i < 4; i++)
            a[b].m[i] = pair16(q.bsums[4 * i] + q.bsums[4 * i + 1],
                               q.bsums[4 * i + 2] + q.bsums[4 * i + 3]);
    }
}

static void act_from_float_q6_K(const float *restrict x, void *restrict y, int n)
{
    act_q6_K *a = y;
    block_q8_K q;
    for (int b = 0; b < n / QK_K; b++) {
        simd_avx2_quant_row_q8_K(x + (size_t)b * QK_K, &q, QK_K);
        a[b].d = q.d;
        memcpy(a[b].qs, q.qs, QK_K);
        for (int i = 0; i < 8; i++) a[b].m[i] = pair16(q.bsums[2 * i], q.bsums[2 * i + 1]);
    }
}


/* int16 pairs (a, b) per lane to (a, a) and (b, b): the madd multiplier of one sub-block. */
AVX2_FN static inline __m256i dup_even16(__m256i v)
{
    return _mm256_shuffle_epi8(
        v, _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0, 1, 0, 1, 4, 5,
                            4, 5, 8, 9, 8, 9, 12, 13, 12, 13));
}

AVX2_FN static inline __m256i dup_odd16(__m256i v)
{
    return _mm256_shuffle_epi8(
        v, _mm256_setr_epi8(2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15, 2, 3, 2, 3, 6,
                            7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15));
}

/* The small loops below are unrolled by pragma; as loops, -O2 keeps the per-token arrays on the
 * stack. */

/* Tokens t0..t0+TN-1, half h of one Q4_K super-block: the scaled integer sum into si and the
 * mins' sum into sm. A lane's sub-block dot is at most 16 products per int16 slot, 16 * 15 * 127
 * = 30480; madd by a 6-bit scale makes at most 2 * 30480 * 63 = 3.8e6, over 8 sub-blocks 3.1e7:
 * int32. */
__attribute__((always_inline)) AVX2_FN static inline void
q4_K_run(const uint8_t *restrict g, const uint8_t *restrict y, size_t ys, int b, const int t0,
         const int TN, const int h, __m256i *si, __m256i *sm)
{
    const __m256i m4 = _mm256_set1_epi8(15);
    const act_q4_K *a[RUN];
#pragma GCC unroll 4
    for (int u = 0; u < TN; u++) a[u] = (const act_q4_K *)(y + (size_t)(t0 + u) * ys) + b;
    __m256i s32[RUN], m32[RUN];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        const __m256i scp =
            _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(g + Q4K_SC + 32 * i + 16 * h)));
        const __m256i mnp = _mm256_cvtepu8_epi16(
            _mm_loadu_si128((const __m128i *)(g + Q4K_MIN + 32 * i + 16 * h)));
        __m256i plo[RUN], phi[RUN];
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            const __m256i v =
                _mm256_loadu_si256((const __m256i *)(g + Q4K_QS + 512 * i + 64 * c + 32 * h));
            const __m256i lo = _mm256_and_si256(v, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
#pragma GCC unroll 4
            for (int u = 0; u < TN; u++) {
                const __m256i ql = _mm256_maddubs_epi16(lo, x86_bcast4(a[u]->qs + 64 * i + 4 * c));
                const __m256i qh =
                    _mm256_maddubs_epi16(hi, x86_bcast4(a[u]->qs + 64 * i + 32 + 4 * c));
                plo[u] = c ? _mm256_add_epi16(plo[u], ql) : ql;
                phi[u] = c ? _mm256_add_epi16(phi[u], qh) : qh;
                X86_CHAIN(plo[u]);
                X86_CHAIN(phi[u]);
            }
        }
        const __m256i sce = dup_even16(scp), sco = dup_odd16(scp);
#pragma GCC unroll 4
        for (int u = 0; u < TN; u++) {
            const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(plo[u], sce),
                                               _mm256_madd_epi16(phi[u], sco));
            /* min * sub-block sum: at most 2 * 63 * 4064 a pair, 8 * 63 * 4064 in all */
            const __m256i m = _mm256_madd_epi16(mnp, _mm256_set1_epi32(a[u]->m[i]));
            s32[u] = i ? _mm256_add_epi32(s32[u], p) : p;
            m32[u] = i ? _mm256_add_epi32(m32[u], m) : m;
        }
    }
#pragma GCC unroll 4
    for (int u = 0; u < TN; u++) {
        si[t0 + u] = s32[u];
        sm[t0 + u] = m32[u];
    }
}

__attribute__((always_inline)) AVX2_FN static inline void
tile_q4_K_T(int n, float *restrict s, size_t ss, const uint8_t *restrict xp,
            const uint8_t *restrict y, size_t ys, const int T)
{
    __m256 acc[2 * QT_TILE_TOKENS];
#pragma GCC unroll 16
    for (int t = 0; t < 2 * T; t++) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < n / QK_K; b++) {
        const uint8_t *g = xp + (size_t)b * Q4K_BLOCK;
        if (T >= 3) x86_prefetch_ahead(g, Q4K_BLOCK, 0, 3 * Q4K_BLOCK); /* see simd_x86.h */
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i si[QT_TILE_TOKENS], sm[QT_TILE_TOKENS];
#pragma GCC unroll 8
            for (int t0 = 0; t0 < T; t0 += RUN)
                q4_K_run(g, y, ys, b, t0, T - t0 < RUN ? T - t0 : RUN, h, si, sm);
            const __m256 dv =
                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g + Q4K_D + 16 * h)));
            const __m256 dmv =
                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g + Q4K_DMIN + 16 * h)));
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                const act_q4_K *a = (const act_q4_K *)(y + (size_t)t * ys) + b;
                const __m256 f = _mm256_fmsub_ps(_mm256_cvtepi32_ps(si[t]), dv,
                                                 _mm256_mul_ps(_mm256_cvtepi32_ps(sm[t]), dmv));
                acc[2 * t + h] = _mm256_fmadd_ps(f, _mm256_set1_ps(a->d), acc[2 * t + h]);
            }
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
        _mm256_storeu_ps(s + (size_t)t * ss, acc[2 * t]);
        _mm256_storeu_ps(s + (size_t)t * ss + 8, acc[2 * t + 1]);
    }
}

/* Tokens t0..t0+TN-1, half h of one Q6_K super-block into si. Levels 0..63 against activations
 * make at most 2 * 63 * 127 = 16002 per int16 slot a maddubs, so two chunks add up in int16; madd
 * by an int8 scale makes at most 2 * 32004 * 128 = 8.2e6, two a sub-block, over 16 sub-blocks
 * 2.6e8. The offset's part, scale x sum of 16 quants, is at most 2 * 128 * 2032 a pair, times 32
 * over 8 pairs 1.3e8: int32 throughout. */
__attribute__((always_inline)) AVX2_FN static inline void
q6_K_run(const uint8_t *restrict g, const uint8_t *restrict y, size_t ys, int b, const int t0,
         const int TN, const int h, __m256i *si)
{
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    const act_q6_K *a[RUN];
#pragma GCC unroll 4
    for (int u = 0; u < TN; u++) a[u] = (const act_q6_K *)(y + (size_t)(t0 + u) * ys) + b;
    __m256i s32[RUN], c32[RUN];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        const __m256i scp =
            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(g + Q6K_SC + 32 * i + 16 * h)));
#pragma GCC unroll 2
        for (int jj = 0; jj < 2; jj++) {
            const int j = 2 * i + jj;
            const uint8_t *qv = g + Q6K_Q + 192 * j + 32 * h;
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)qv);
            const __m256i l2 = _mm256_loadu_si256((const __m256i *)(qv + 64));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)(qv + 128));
            const __m256i w0 = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                               _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30));
            const __m256i w1 =
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30));
            const __m256i w2 = _mm256_or_si256(_mm256_and_si256(l2, m4), _mm256_and_si256(hb, m30));
            const __m256i w3 =
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l2, 4), m4),
                                _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30));
            const __m256i sc = jj ? dup_odd16(scp) : dup_even16(scp);
#pragma GCC unroll 4
            for (int u = 0; u < TN; u++) {
                const int8_t *q = a[u]->qs + 16 * j;
                const __m256i p0 = _mm256_add_epi16(_mm256_maddubs_epi16(w0, x86_bcast4(q)),
                                                    _mm256_maddubs_epi16(w1, x86_bcast4(q + 4)));
                const __m256i p1 = _mm256_add_epi16(_mm256_maddubs_epi16(w2, x86_bcast4(q + 8)),
                                                    _mm256_maddubs_epi16(w3, x86_bcast4(q + 12)));
                const __m256i p =
                    _mm256_add_epi32(_mm256_madd_epi16(p0, sc), _mm256_madd_epi16(p1, sc));
                s32[u] = j ? _mm256_add_epi32(s32[u], p) : p;
                X86_CHAIN(s32[u]);
            }
        }
#pragma GCC unroll 4
        for (int u = 0; u < TN; u++) {
            const __m256i c = _mm256_madd_epi16(scp, _mm256_set1_epi32(a[u]->m[i]));
            c32[u] = i ? _mm256_add_epi32(c32[u], c) : c;
        }
    }
#pragma GCC unroll 4
    for (int u = 0; u < TN; u++) si[t0 + u] = _mm256_sub_epi32(s32[u], _mm256_slli_epi32(c32[u], 5));
}

__attribute__((always_inline)) AVX2_FN static inline void
tile_q6_K_T(int n, float *restrict s, size_t ss, const uint8_t *restrict xp,
            const uint8_t *restrict y, size_t ys, const int T)
{
    __m256 acc[2 * QT_TILE_TOKENS];
#pragma GCC unroll 16
    for (int t = 0; t < 2 * T; t++) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < n / QK_K; b++) {
        const uint8_t *g = xp + (size_t)b * Q6K_BLOCK;
        if (T >= 3) x86_prefetch_ahead(g, Q6K_BLOCK, 0, 3 * Q6K_BLOCK); /* see simd_x86.h */
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i si[QT_TILE_TOKENS];
#pragma GCC unroll 8
            for (int t0 = 0; t0 < T; t0 += RUN)
                q6_K_run(g, y, ys, b, t0, T - t0 < RUN ? T - t0 : RUN, h, si);
            const __m256 dv =
                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g + Q6K_D + 16 * h)));
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                const act_q6_K *a = (const act_q6_K *)(y + (size_t)t * ys) + b;
                acc[2 * t + h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(si[t]),
                                                 _mm256_mul_ps(dv, _mm256_set1_ps(a->d)),
                                                 acc[2 * t + h]);
            }
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
        _mm256_storeu_ps(s + (size_t)t * ss, acc[2 * t]);
        _mm256_storeu_ps(s + (size_t)t * ss + 8, acc[2 * t + 1]);
    }
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

AVX2_FN static void tile_q4_K(int n, int nt, float *restrict s, size_t ss,
                              const void *restrict xp, const void *restrict y, size_t ys)
{
    TILE_SWITCH(tile_q4_K_T)
}

AVX2_FN static void tile_q6_K(int n, int nt, float *restrict s, size_t ss,
                              const void *restrict xp, const void *restrict y, size_t ys)
{
    TILE_SWITCH(tile_q6_K_T)
}

static const qt_packed_kernels packed_q4_K = {q4_K_group_bytes, pack_q4_K, act_q4_K_bytes,
                                              act_from_float_q4_K, tile_q4_K};
static const qt_packed_kernels packed_q6_K = {q6_K_group_bytes, pack_q6_K, act_q6_K_bytes,
                                              act_from_float_q6_K, tile_q6_K};

void simd_avx2_fill_packed_k(qtype_traits_t t[QT_COUNT])
{
    t[QT_Q4_K].packed = &packed_q4_K;
    t[QT_Q6_K].packed = &packed_q6_K;
}

#else

void simd_avx2_fill_packed_k(qtype_traits_t t[QT_COUNT])
{
    (void)t;
}

#endif
