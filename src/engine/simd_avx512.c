/* simd_avx512.c - AVX-512 (F/BW/VL) + VNNI dot kernels of the most used weight types: Q4_0, Q8_0,
 * Q4_K and Q6_K. Every other type keeps its AVX2 kernel (simd_avx512_fill starts from that set).
 *
 * VPDPBUSD multiplies unsigned by signed bytes and adds each group of four products straight into
 * an int32 lane, replacing AVX2's maddubs + madd pair and its int16 intermediate. Unsigned weights
 * (nibbles, Q6_K's 0..63) go in as they are and their offset (-8, -32) is subtracted afterwards
 * through a second dot against a constant, or through Q8_K's bsums. Signed weights (Q8_0) move
 * their sign onto the activation, as on AVX2. A 512-bit register holds two 32-element blocks, or
 * 64 consecutive elements of a super-block. */
#include "engine/quant_impl.h"
#include "engine/simd.h"

#if defined(__x86_64__)
#include "engine/simd_x86.h"

/* Two blocks' 32 bytes, the first in the low half. */
AVX512_FN static inline __m512i join256(__m256i lo, __m256i hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* Float lanes 0..7 = a, 8..15 = b: the scales of the two blocks in one register. */
AVX512_FN static inline __m512 pair_ps(float a, float b)
{
    return _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(a), _mm512_set1_ps(b));
}

AVX512_FN static inline float hsum512_ps(__m512 v)
{
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    return x86_hsum_ps(h);
}

/* Signed x signed bytes into int32 lanes: |x| (unsigned) times y with x's sign, masked negation
 * standing in for the missing 512-bit psignb. Exact while y != -128 (the activation contract). */
AVX512_FN static inline __m512i dot_i8_512(__m512i acc, __m512i x, __m512i y)
{
    __m512i sy = _mm512_mask_sub_epi8(y, _mm512_movepi8_mask(x), _mm512_setzero_si512(), y);
    return _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(x), sy);
}

AVX512_FN static void avx512_vec_dot_q8_0(int n, float *restrict s, const void *restrict x,
                                          const void *restrict y)
{
    const block_q8_0 *a = x;
    const block_q8_0 *b = y;
    const int nb = n / QK8_0;
    __m512 acc = _mm512_setzero_ps();
    int i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i qa = join256(_mm256_loadu_si256((const __m256i *)a[i].qs),
                             _mm256_loadu_si256((const __m256i *)a[i + 1].qs));
        __m512i qb = join256(_mm256_loadu_si256((const __m256i *)b[i].qs),
                             _mm256_loadu_si256((const __m256i *)b[i + 1].qs));
        __m512i p = dot_i8_512(_mm512_setzero_si512(), qa, qb);
        __m512 d = pair_ps(x86_fp16(a[i].d) * x86_fp16(b[i].d),
                           x86_fp16(a[i + 1].d) * x86_fp16(b[i + 1].d));
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
    }
    float sum = hsum512_ps(acc);
    if (i < nb) { /* odd block count: the last block on 256 bits */
        __m256i qa = _mm256_loadu_si256((const __m256i *)a[i].qs);
        __m256i p = x86_dot_i8(qa, _mm256_loadu_si256((const __m256i *)b[i].qs));
        sum += x86_fp16(a[i].d) * x86_fp16(b[i].d) * (float)x86_hsum_epi32(p);
    }
    *s = sum;
}

/* Q4_0: dot(nibbles, y) - 8 * dot(1, y), both with VPDPBUSD; the nibbles need no sign juggling. */
AVX512_FN static void avx512_vec_dot_q4_0(int n, float *restrict s, const void *restrict x,
                                          const void *restrict y)
{
    const block_q4_0 *a = x;
    const block_q8_0 *b = y;
    const int nb = n / QK4_0;
    const __m512i eights = _mm512_set1_epi8(8);
    __m512 acc = _mm512_setzero_ps();
    int i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i q = join256(x86_nibbles32(a[i].qs), x86_nibbles32(a[i + 1].qs));
        __m512i yv = join256(_mm256_loadu_si256((const __m256i *)b[i].qs),
                             _mm256_loadu_si256((const __m256i *)b[i + 1].qs));
        __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, yv);
        __m512i off = _mm512_dpbusd_epi32(_mm512_setzero_si512(), eights, yv);
        __m512 d = pair_ps(x86_fp16(a[i].d) * x86_fp16(b[i].d),
                           x86_fp16(a[i + 1].d) * x86_fp16(b[i + 1].d));
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(_mm512_sub_epi32(p, off)), acc);
    }
    float sum = hsum512_ps(acc);
    if (i < nb) {
        __m256i q = _mm256_sub_epi8(x86_nibbles32(a[i].qs), _mm256_set1_epi8(8));
        __m256i p = x86_dot_i8(q, _mm256_loadu_si256((const __m256i *)b[i].qs));
        sum += x86_fp16(a[i].d) * x86_fp16(b[i].d) * (float)x86_hsum_epi32(p);
    }
    *s = sum;
}

/* Q4_K: 32 qs bytes = 64 elements; low nibbles (first 32) in the low half, high nibbles in the
 * high half, matching 64 contiguous activation bytes. The int32 lanes 0..7 then belong to
 * sub-block 2j and 8..15 to 2j + 1, so one blended scale vector applies both scales. */
AVX512_FN static void avx512_vec_dot_q4_K(int n, float *restrict s, const void *restrict x,
                                          const void *restrict y)
{
    const block_q4_K *xa = x;
    const block_q8_K *yb = y;
    const __m256i m4 = _mm256_set1_epi8(15);
    __m512 acc = _mm512_setzero_ps();
    float sum_min = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const block_q4_K *a = &xa[i];
        const block_q8_K *b = &yb[i];
        uint32_t w[3], u[4];
        memcpy(w, a->scales, 12);
        /* the 6-bit scale/min unpacking of simd_avx2_k.c's k4_scales_mins */
        u[0] = w[0] & 0x3f3f3f3f;
        u[1] = (w[2] & 0x0f0f0f0f) | ((w[0] >> 2) & 0x30303030);
        u[2] = w[1] & 0x3f3f3f3f;
        u[3] = ((w[2] >> 4) & 0x0f0f0f0f) | ((w[1] >> 2) & 0x30303030);
        uint8_t sc[8], m[8];
        memcpy(sc, u, 8);
        memcpy(m, u + 2, 8);
        __m128i m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)m));
        __m256i mdup = _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16), _mm_unpacklo_epi16(m16, m16));
        int summ =
            x86_hsum_epi32(_mm256_madd_epi16(mdup, _mm256_loadu_si256((const __m256i *)b->bsums)));
        __m512i sumi = _mm512_setzero_si512();
        for (int j = 0; j < 4; j++) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(a->qs + 32 * j));
            __m512i q =
                join256(_mm256_and_si256(qv, m4), _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4));
            __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q,
                                            _mm512_loadu_si512((const void *)(b->qs + 64 * j)));
            __m512i scv = _mm512_mask_blend_epi32(0xff00, _mm512_set1_epi32(sc[2 * j]),
                                                  _mm512_set1_epi32(sc[2 * j + 1]));
            sumi = _mm512_add_epi32(sumi, _mm512_mullo_epi32(p, scv));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(b->d * x86_fp16(a->d)), _mm512_cvtepi32_ps(sumi), acc);
        sum_min += b->d * x86_fp16(a->dmin) * (float)summ;
    }
    *s = hsum512_ps(acc) - sum_min;
}

/* Q6_K: per half of 128, the 64 ql bytes are contiguous, so one 512-bit load pairs ql[0..31] and
 * ql[32..63]; qh and qh >> 2 side by side give their high bits. Low nibbles then cover elements
 * 0..63 and high nibbles 64..127, each 64 contiguous activations. Each 16-element sub-block is
 * 4 int32 lanes; a permute spreads the 16 scales (widened once per block) to match. */
AVX512_FN static void avx512_vec_dot_q6_K(int n, float *restrict s, const void *restrict x,
                                          const void *restrict y)
{
    const block_q6_K *xa = x;
    const block_q8_K *yb = y;
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const block_q6_K *a = &xa[i];
        const block_q8_K *b = &yb[i];
        __m128i sc8 = _mm_loadu_si128((const __m128i *)a->scales);
        int offset =
            32 * x86_hsum_epi32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8),
                                                  _mm256_loadu_si256((const __m256i *)b->bsums)));
        __m512i sc32 = _mm512_cvtepi8_epi32(sc8);
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
            __m512i s0 =
                _mm512_permutexvar_epi32(_mm512_add_epi32(spread, _mm512_set1_epi32(8 * h)), sc32);
            __m512i s1 = _mm512_permutexvar_epi32(
                _mm512_add_epi32(spread, _mm512_set1_epi32(8 * h + 4)), sc32);
            sumi = _mm512_add_epi32(
                sumi, _mm512_add_epi32(_mm512_mullo_epi32(p0, s0), _mm512_mullo_epi32(p1, s1)));
        }
        int total = _mm512_reduce_add_epi32(sumi) - offset;
        sum += b->d * x86_fp16(a->d) * (float)total;
    }
    *s = sum;
}

void simd_avx512_fill(qtype_traits_t t[QT_COUNT])
{
    simd_avx2_fill(t);
    t[QT_Q4_0].vec_dot = avx512_vec_dot_q4_0;
    t[QT_Q8_0].vec_dot = avx512_vec_dot_q8_0;
    t[QT_Q4_K].vec_dot = avx512_vec_dot_q4_K;
    t[QT_Q6_K].vec_dot = avx512_vec_dot_q6_K;
}

#else

void simd_avx512_fill(qtype_traits_t t[QT_COUNT])
{
    (void)t;
}

#endif
