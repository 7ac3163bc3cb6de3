/* simd_attn.c - attention inner loops (see simd_attn.h): the portable set, the AVX2+FMA set, and
 * the choice between them.
 *
 * The AVX2 set keeps a query head (or an output head) in registers while it streams the rows of
 * one KV head, 32 elements at a time, so each row of K and V costs one load and one FMA per
 * 8 elements. exp uses a degree-6 polynomial on the reduced argument r = x - n ln2, |r| <= ln2/2,
 * accurate to about 2 ulp, which is what the softmax needs (the portable set calls expf). */
#include "kernels/simd_attn.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "base/fp16.h"
#include "kernels/qtypes.h"

/* ---- portable ---- */

#define LANES 8

static float row_elem(const uint8_t *row, size_t esize, int i)
{
    if (esize == 4) {
        float f;
        memcpy(&f, row + 4 * (size_t)i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, row + 2 * (size_t)i, 2);
    return fp16_to_fp32(h);
}

static float port_scores(float *restrict s, const float *restrict q, const uint8_t *k, size_t cell,
                         size_t esize, int n, int hd, float scale)
{
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        const uint8_t *row = k + (size_t)j * cell;
        float acc[LANES] = {0};
        int i = 0;
        for (; i + LANES <= hd; i += LANES)
            for (int l = 0; l < LANES; l++) acc[l] += q[i + l] * row_elem(row, esize, i + l);
        for (; i < hd; i++) acc[0] += q[i] * row_elem(row, esize, i);
        float d = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        s[j] = d * scale;
        if (s[j] > mx) mx = s[j];
    }
    return mx;
}

static float port_exp_sum(float *s, int n, float mx)
{
    double sum = 0;
    for (int j = 0; j < n; j++) {
        s[j] = expf(s[j] - mx);
        sum += s[j];
    }
    return (float)sum;
}

static void port_weighted_sum(float *restrict o, const float *restrict w, const uint8_t *v,
                              size_t cell, size_t esize, int n, int hd)
{
    for (int j = 0; j < n; j++) {
        const uint8_t *row = v + (size_t)j * cell;
        for (int i = 0; i < hd; i++) o[i] += w[j] * row_elem(row, esize, i);
    }
}

void attn_scores_group_loop(const attn_kernels *ak, float *restrict s, size_t s_stride,
                            const float *restrict q, int nb, const uint8_t *k, size_t cell,
                            size_t esize, int n, int hd, float scale, float *restrict mx)
{
    for (int g = 0; g < nb; g++) {
        const float m = ak->scores(s + (size_t)g * s_stride, q + (size_t)g * hd, k, cell, esize,
                                   n, hd, scale);
        if (m > mx[g]) mx[g] = m;
    }
}

void attn_weighted_sum_group_loop(const attn_kernels *ak, float *restrict o,
                                  const float *restrict w, size_t w_stride, int nb,
                                  const uint8_t *v, size_t cell, size_t esize, int n, int hd)
{
    for (int g = 0; g < nb; g++)
        ak->weighted_sum(o + (size_t)g * hd, w + (size_t)g * w_stride, v, cell, esize, n, hd);
}

static const attn_kernels portable;

static void port_scores_group(float *restrict s, size_t s_stride, const float *restrict q, int nb,
                              const uint8_t *k, size_t cell, size_t esize, int n, int hd,
                              float scale, float *restrict mx)
{
    attn_scores_group_loop(&portable, s, s_stride, q, nb, k, cell, esize, n, hd, scale, mx);
}

static void port_weighted_sum_group(float *restrict o, const float *restrict w, size_t w_stride,
                                    int nb, const uint8_t *v, size_t cell, size_t esize, int n,
                                    int hd)
{
    attn_weighted_sum_group_loop(&portable, o, w, w_stride, nb, v, cell, esize, n, hd);
}

static void port_silu_mul(float *restrict g, const float *restrict u, int n)
{
    for (int i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static const attn_kernels portable = {port_scores, port_exp_sum, port_weighted_sum,
                                      port_scores_group, port_weighted_sum_group, port_silu_mul};

const attn_kernels *attn_kernels_portable(void)
{
    return &portable;
}

/* ---- AVX2 + FMA ---- */

#if defined(__x86_64__)
#include "kernels/simd_x86.h"

/* Eight elements of a cache row as floats. */
AVX2_FN static inline __m256 load8(const uint8_t *row, size_t esize, int i)
{
    if (esize == 4) return _mm256_loadu_ps((const float *)(const void *)(row + 4 * (size_t)i));
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(row + 2 * (size_t)i)));
}

/* Heads up to 128 elements live in registers; wider or ragged ones use the portable loops. */
#define AVX_MAX_HD 128

AVX2_FN static float avx2_scores(float *restrict s, const float *restrict q, const uint8_t *k,
                                 size_t cell, size_t esize, int n, int hd, float scale)
{
    if (hd % 16 || hd > AVX_MAX_HD) return port_scores(s, q, k, cell, esize, n, hd, scale);
    __m256 qv[AVX_MAX_HD / 8];
    for (int c = 0; c < hd / 8; c++) qv[c] = _mm256_loadu_ps(q + 8 * c);
    __m256 mx = _mm256_set1_ps(-INFINITY);
    int j = 0;
    for (; j < n; j++) {
        const uint8_t *row = k + (size_t)j * cell;
        __m256 a0 = _mm256_mul_ps(qv[0], load8(row, esize, 0));
        __m256 a1 = _mm256_mul_ps(qv[1], load8(row, esize, 8));
        for (int c = 2; c < hd / 8; c += 2) {
            a0 = _mm256_fmadd_ps(qv[c], load8(row, esize, 8 * c), a0);
            a1 = _mm256_fmadd_ps(qv[c + 1], load8(row, esize, 8 * c + 8), a1);
        }
        s[j] = x86_hsum_ps(_mm256_add_ps(a0, a1)) * scale;
        mx = _mm256_max_ps(mx, _mm256_set1_ps(s[j]));
    }
    return _mm_cvtss_f32(_mm256_castps256_ps128(mx));
}

/* exp(x) for x <= 0 (arguments below -87 give 0). */
AVX2_FN static inline __m256 exp8(__m256 x)
{
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    __m256 nf = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    /* r = x - n ln2 in two steps (ln2 split into a short high part and the rest) */
    __m256 r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* times 2^n, n in [-126, 0] here, through the exponent field */
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(nf), _mm256_set1_epi32(127)),
                                  23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

AVX2_FN static float avx2_exp_sum(float *s, int n, float mx)
{
    const __m256 m = _mm256_set1_ps(mx);
    __m256 sum = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), m));
        _mm256_storeu_ps(s + j, e);
        sum = _mm256_add_ps(sum, e);
    }
    if (j < n) { /* the tail through a padded copy, so every element takes the same path */
        float t[8] = {0};
        memcpy(t, s + j, (size_t)(n - j) * sizeof(float));
        __m256 mask = _mm256_cmp_ps(_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7),
                                    _mm256_set1_ps((float)(n - j)), _CMP_LT_OQ);
        __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_loadu_ps(t), m)), mask);
        _mm256_storeu_ps(t, e);
        memcpy(s + j, t, (size_t)(n - j) * sizeof(float));
        sum = _mm256_add_ps(sum, e);
    }
    return x86_hsum_ps(sum);
}

AVX2_FN static void avx2_weighted_sum(float *restrict o, const float *restrict w,
                                      const uint8_t *v, size_t cell, size_t esize, int n, int hd)
{
    if (hd % 16 || hd > AVX_MAX_HD) {
        port_weighted_sum(o, w, v, cell, esize, n, hd);
        return;
    }
    /* 32 output elements at a time in registers, over all rows */
    for (int c = 0; c < hd; c += 32) {
        const int nc = hd - c < 32 ? (hd - c) / 8 : 4;
        __m256 acc[4];
        for (int u = 0; u < nc; u++) acc[u] = _mm256_loadu_ps(o + c + 8 * u);
        for (int j = 0; j < n; j++) {
            const uint8_t *row = v + (size_t)j * cell;
            const __m256 wj = _mm256_set1_ps(w[j]);
            for (int u = 0; u < nc; u++)
                acc[u] = _mm256_fmadd_ps(wj, load8(row, esize, c + 8 * u), acc[u]);
        }
        for (int u = 0; u < nc; u++)
            _mm256_storeu_ps(o + c + 8 * u, acc[u]);
    }
}

static const attn_kernels avx2;

AVX2_FN static void avx2_scores_group(float *restrict s, size_t s_stride, const float *restrict q,
                                      int nb, const uint8_t *k, size_t cell, size_t esize, int n,
                                      int hd, float scale, float *restrict mx)
{
    attn_scores_group_loop(&avx2, s, s_stride, q, nb, k, cell, esize, n, hd, scale, mx);
}

AVX2_FN static void avx2_weighted_sum_group(float *restrict o, const float *restrict w,
                                            size_t w_stride, int nb, const uint8_t *v,
                                            size_t cell, size_t esize, int n, int hd)
{
    attn_weighted_sum_group_loop(&avx2, o, w, w_stride, nb, v, cell, esize, n, hd);
}

/* silu(g) u with sigmoid from exp(-|g|) (exp8 wants arguments <= 0): 1 / (1 + e) for g >= 0,
 * e / (1 + e) below. */
AVX2_FN static inline __m256 silu_mul8(__m256 g, __m256 u)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 e = exp8(_mm256_or_ps(g, sign)); /* exp(-|g|) */
    const __m256 den = _mm256_add_ps(_mm256_set1_ps(1.0f), e);
    const __m256 num = _mm256_blendv_ps(_mm256_set1_ps(1.0f), e, g); /* sign bit of g picks e */
    return _mm256_mul_ps(_mm256_mul_ps(g, _mm256_div_ps(num, den)), u);
}

AVX2_FN static void avx2_silu_mul(float *restrict g, const float *restrict u, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(g + i, silu_mul8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
    if (i < n) { /* the tail through padded copies, so it takes the same path */
        float tg[8] = {0}, tu[8] = {0};
        memcpy(tg, g + i, (size_t)(n - i) * sizeof(float));
        memcpy(tu, u + i, (size_t)(n - i) * sizeof(float));
        _mm256_storeu_ps(tg, silu_mul8(_mm256_loadu_ps(tg), _mm256_loadu_ps(tu)));
        memcpy(g + i, tg, (size_t)(n - i) * sizeof(float));
    }
}

static const attn_kernels avx2 = {avx2_scores, avx2_exp_sum, avx2_weighted_sum,
                                  avx2_scores_group, avx2_weighted_sum_group, avx2_silu_mul};

const attn_kernels *attn_kernels_avx2(void)
{
    return qt_kernels_supported(QT_KERNELS_AVX2) ? &avx2 : NULL;
}

/* ---- AVX-512 ----
 *
 * Whole query groups at once. Scores: a head's query stays in registers (hd / 16 vectors) while
 * 16 rows of K give 16 vectors of partial products, which one transposing reduction (45
 * instructions) turns into the 16 scores, instead of a horizontal sum per row. Weighted sums: 16
 * accumulators hold the outputs of as many heads as fit (4 heads at head_dim 64), so each V row
 * is converted once and used by every head of the pass. Rows go in blocks of 16 with the heads
 * inside, so a block stays in L1 for all of them. Head dims other than 64 and 128 use the AVX2
 * kernels. The loops are unrolled by pragma on purpose: with the trip counts as compile-time
 * constants the vectors stay in registers (left as loops, GCC keeps them on the stack and the
 * kernels ran slower than the AVX2 ones). */

#define AVX512_ATTN_FN __attribute__((target("avx2,fma,f16c,avx512f")))

AVX512_ATTN_FN static inline __m512 load16(const uint8_t *row, size_t esize, int i)
{
    if (esize == 4) return _mm512_loadu_ps((const float *)(const void *)(row + 4 * (size_t)i));
    return _mm512_cvtph_ps(
        _mm256_loadu_si256((const __m256i *)(const void *)(row + 2 * (size_t)i)));
}

/* Element e of the result is the sum of v[e]'s 16 elements. */
AVX512_ATTN_FN static inline __m512 sum16x16(const __m512 v[16])
{
    __m512 t[8], u[4];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) /* per 128-bit lane: a0+a2, b0+b2, a1+a3, b1+b3 */
        t[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                             _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) { /* per lane: the lane's sum of v[4i..4i+3] */
        const __m512d a = _mm512_castps_pd(t[2 * i]), b = _mm512_castps_pd(t[2 * i + 1]);
        u[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)),
                             _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    const __m512 w01 = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], 0x88),
                                     _mm512_shuffle_f32x4(u[0], u[1], 0xdd));
    const __m512 w23 = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], 0x88),
                                     _mm512_shuffle_f32x4(u[2], u[3], 0xdd));
    return _mm512_add_ps(_mm512_shuffle_f32x4(w01, w23, 0x88),
                         _mm512_shuffle_f32x4(w01, w23, 0xdd));
}

/* Scores of one head over one block of up to 16 rows, NC = hd / 16 vectors per row. */
__attribute__((always_inline)) AVX512_ATTN_FN static inline __m512
scores_block(const __m512 *qv, const uint8_t *k, size_t cell, size_t esize, int jn, const int NC)
{
    __m512 v[16];
#pragma GCC unroll 16
    for (int r = 0; r < 16; r++) {
        if (r >= jn) {
            v[r] = _mm512_setzero_ps();
            continue;
        }
        const uint8_t *row = k + (size_t)r * cell;
        __m512 a0 = _mm512_mul_ps(qv[0], load16(row, esize, 0));
        __m512 a1 = _mm512_mul_ps(qv[1], load16(row, esize, 16));
#pragma GCC unroll 8
        for (int c = 2; c < NC; c += 2) {
            a0 = _mm512_fmadd_ps(qv[c], load16(row, esize, 16 * c), a0);
            a1 = _mm512_fmadd_ps(qv[c + 1], load16(row, esize, 16 * c + 16), a1);
        }
        v[r] = _mm512_add_ps(a0, a1);
    }
    return sum16x16(v);
}

__attribute__((always_inline)) AVX512_ATTN_FN static inline void
scores_group_nc(float *restrict s, size_t s_stride, const float *restrict q, int nb,
                const uint8_t *k, size_t cell, size_t esize, int n, float scale,
                float *restrict mx, const int NC)
{
    const int hd = 16 * NC;
    const __m512 sc = _mm512_set1_ps(scale);
    /* blocks of 16 rows outer, heads inner: a block's rows stay in L1 for every head */
    for (int j0 = 0; j0 < n; j0 += 16) {
        const int jn = n - j0 < 16 ? n - j0 : 16;
        const __mmask16 live = (__mmask16)((1u << jn) - 1);
        for (int g = 0; g < nb; g++) {
            __m512 qv[8];
#pragma GCC unroll 8
            for (int c = 0; c < NC; c++) qv[c] = _mm512_loadu_ps(q + (size_t)g * hd + 16 * c);
            const __m512 d =
                _mm512_mul_ps(scores_block(qv, k + (size_t)j0 * cell, cell, esize, jn, NC), sc);
            _mm512_mask_storeu_ps(s + (size_t)g * s_stride + j0, live, d);
            const float mg = _mm512_mask_reduce_max_ps(live, d);
            if (mg > mx[g]) mx[g] = mg;
        }
    }
}

AVX512_ATTN_FN static void avx512_scores_group(float *restrict s, size_t s_stride,
                                               const float *restrict q, int nb,
                                               const uint8_t *k, size_t cell, size_t esize,
                                               int n, int hd, float scale, float *restrict mx)
{
    if (hd == 64) scores_group_nc(s, s_stride, q, nb, k, cell, esize, n, scale, mx, 4);
    else if (hd == 128) scores_group_nc(s, s_stride, q, nb, k, cell, esize, n, scale, mx, 8);
    else attn_scores_group_loop(&avx2, s, s_stride, q, nb, k, cell, esize, n, hd, scale, mx);
}

/* GN heads' outputs (GN * NC <= 16 vectors) over rows [j0, j1). */
__attribute__((always_inline)) AVX512_ATTN_FN static inline void
wsum_pass(float *restrict o, const float *restrict w, size_t w_stride, const uint8_t *v,
          size_t cell, size_t esize, int j0, int j1, const int NC, const int GN)
{
    const int hd = 16 * NC;
    __m512 acc[16];
#pragma GCC unroll 16
    for (int g = 0; g < GN; g++)
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) acc[g * NC + c] = _mm512_loadu_ps(o + (size_t)g * hd + 16 * c);
    for (int j = j0; j < j1; j++) {
        const uint8_t *row = v + (size_t)j * cell;
        __m512 x[8];
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) x[c] = load16(row, esize, 16 * c);
#pragma GCC unroll 16
        for (int g = 0; g < GN; g++) {
            const __m512 wg = _mm512_set1_ps(w[(size_t)g * w_stride + j]);
#pragma GCC unroll 8
            for (int c = 0; c < NC; c++) acc[g * NC + c] = _mm512_fmadd_ps(wg, x[c], acc[g * NC + c]);
        }
    }
#pragma GCC unroll 16
    for (int g = 0; g < GN; g++)
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) _mm512_storeu_ps(o + (size_t)g * hd + 16 * c, acc[g * NC + c]);
}

AVX512_ATTN_FN static void avx512_weighted_sum_group(float *restrict o, const float *restrict w,
                                                     size_t w_stride, int nb, const uint8_t *v,
                                                     size_t cell, size_t esize, int n, int hd)
{
    if (hd != 64 && hd != 128) {
        attn_weighted_sum_group_loop(&avx2, o, w, w_stride, nb, v, cell, esize, n, hd);
        return;
    }
    const int per = hd == 64 ? 4 : 2; /* heads per pass: 16 accumulators */
    /* blocks of 16 rows outer, as for the scores, so every pass finds the block in L1 */
    for (int j0 = 0; j0 < n; j0 += 16) {
        const int j1 = n - j0 < 16 ? n : j0 + 16;
        for (int g0 = 0; g0 < nb; g0 += per) {
            float *og = o + (size_t)g0 * hd;
            const float *wg = w + (size_t)g0 * w_stride;
            const int gn = nb - g0 < per ? nb - g0 : per;
            if (hd == 64) {
                switch (gn) {
                case 4: wsum_pass(og, wg, w_stride, v, cell, esize, j0, j1, 4, 4); break;
                case 3: wsum_pass(og, wg, w_stride, v, cell, esize, j0, j1, 4, 3); break;
                case 2: wsum_pass(og, wg, w_stride, v, cell, esize, j0, j1, 4, 2); break;
                default: wsum_pass(og, wg, w_stride, v, cell, esize, j0, j1, 4, 1); break;
                }
            } else if (gn == 2) {
                wsum_pass(og, wg, w_stride, v, cell, esize, j0, j1, 8, 2);
            } else {
                wsum_pass(og, wg, w_stride, v, cell, esize, j0, j1, 8, 1);
            }
        }
    }
}

AVX512_ATTN_FN static float avx512_scores(float *restrict s, const float *restrict q,
                                          const uint8_t *k, size_t cell, size_t esize, int n,
                                          int hd, float scale)
{
    float mx = -INFINITY;
    avx512_scores_group(s, 0, q, 1, k, cell, esize, n, hd, scale, &mx);
    return mx;
}

AVX512_ATTN_FN static void avx512_weighted_sum(float *restrict o, const float *restrict w,
                                               const uint8_t *v, size_t cell, size_t esize, int n,
                                               int hd)
{
    avx512_weighted_sum_group(o, w, 0, 1, v, cell, esize, n, hd);
}

/* The AVX2 silu_mul8 on both halves of 16 lanes, the tail through a masked load: every element
 * takes the AVX2 kernel's arithmetic, so the two sets agree bit for bit here. */
AVX512_ATTN_FN static void avx512_silu_mul(float *restrict g, const float *restrict u, int n)
{
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 gv = _mm512_maskz_loadu_ps(m, g + i), uv = _mm512_maskz_loadu_ps(m, u + i);
        const __m256 lo = silu_mul8(_mm512_castps512_ps256(gv), _mm512_castps512_ps256(uv));
        const __m256 hi = silu_mul8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(gv), 1)),
                                    _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(uv), 1)));
        const __m512 r = _mm512_castpd_ps(_mm512_insertf64x4(
            _mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi), 1));
        _mm512_mask_storeu_ps(g + i, m, r);
    }
}

static const attn_kernels avx512 = {avx512_scores, avx2_exp_sum, avx512_weighted_sum,
                                    avx512_scores_group, avx512_weighted_sum_group,
                                    avx512_silu_mul};

const attn_kernels *attn_kernels_avx512(void)
{
    return qt_kernels_supported(QT_KERNELS_AVX512) ? &avx512 : NULL;
}

#else

const attn_kernels *attn_kernels_avx2(void)
{
    return NULL;
}

const attn_kernels *attn_kernels_avx512(void)
{
    return NULL;
}

#endif

static const attn_kernels *chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

static void choose(void)
{
    qtypes_init();
    const attn_kernels *x86 = attn_kernels_avx2(), *x512 = attn_kernels_avx512();
    const char *set = qtypes_kernel_name();
    if (x512 && strncmp(set, "avx512", 6) == 0) chosen = x512;
    else chosen = x86 && strncmp(set, "avx", 3) == 0 ? x86 : &portable;
}

/* Chosen once: asking the CPU (CPUID) traps to the hypervisor on a virtual machine, which cost
 * about 2% of decode time when it was asked on every attention call. */
const attn_kernels *attn_kernels_get(void)
{
    pthread_once(&chosen_once, choose);
    return chosen;
}
