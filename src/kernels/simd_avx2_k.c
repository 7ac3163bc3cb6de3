/* simd_avx2_k.c - AVX2 dot kernels of the 256-element super-block types (Q2_K..Q6_K, IQ4_XS,
 * Q8_K) against Q8_K activations.
 *
 * Shared shape: each 32-byte register holds 32 weight levels as unsigned bytes in activation
 * order, maddubs multiplies them with the activations into 16 int16 pair sums, and madd against a
 * vector of sub-block scales (two sub-blocks of 16, or one of 32, per register) widens to int32
 * and applies the scales in the same instruction. Offsets of signed levels (Q3_K's -4, Q6_K's -32)
 * and the K-quant mins are applied once per super-block through Q8_K's bsums instead of per
 * element. Integer sums stay below 2^31 (at most 256 * 63 * 127 * 127). */
#include "kernels/quant_impl.h"
#include "kernels/simd.h"

#if defined(__x86_64__)
#include "kernels/simd_x86.h"

/* Q2_K: the four 2-bit fields of each qs byte are the same position in four consecutive 32-element
 * groups, so shifting the 32-byte register by 2 walks through them. */
AVX2_FN static void avx2_vec_dot_q2_K(int n, float *restrict s, const void *restrict x,
                                      const void *restrict y)
{
    const block_q2_K *xa = x;
    const block_q8_K *yb = y;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    float sum_min = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const block_q2_K *a = &xa[i];
        const block_q8_K *b = &yb[i];
        __m128i sc8 = _mm_loadu_si128((const __m128i *)a->scales);
        __m256i mins =
            _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(15)));
        int summ =
            x86_hsum_epi32(_mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)b->bsums)));
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(a->qs + 32 * h));
            for (int r = 0; r < 4; r++) {
                int g = 8 * h + 2 * r;
                __m256i q = _mm256_and_si256(qv, m3);
                qv = _mm256_srli_epi16(qv, 2);
                __m256i yv = _mm256_loadu_si256((const __m256i *)(b->qs + 128 * h + 32 * r));
                __m256i sc = x86_pair_epi16(a->scales[g] & 15, a->scales[g + 1] & 15);
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(q, yv), sc));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(b->d * x86_fp16(a->d)), _mm256_cvtepi32_ps(sumi), acc);
        sum_min += b->d * x86_fp16(a->dmin) * (float)summ;
    }
    *s = x86_hsum_ps(acc) - sum_min;
}

/* Q3_K: level = low 2 bits (as Q2_K) | hmask bit << 2, minus 4. The unsigned 0..7 form feeds
 * maddubs; the -4 comes back as 4 * sum(scale * bsum). */
AVX2_FN static void avx2_vec_dot_q3_K(int n, float *restrict s, const void *restrict x,
                                      const void *restrict y)
{
    const block_q3_K *xa = x;
    const block_q8_K *yb = y;
    const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const block_q3_K *a = &xa[i];
        const block_q8_K *b = &yb[i];
        int8_t sc[16];
        for (int j = 0; j < 16; j++) {
            int lo = j < 8 ? a->scales[j] & 0x0f : a->scales[j - 8] >> 4;
            int hi = (a->scales[8 + j % 4] >> (2 * (j / 4))) & 3;
            sc[j] = (int8_t)((lo | (hi << 4)) - 32);
        }
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
        int offset =
            4 *
            x86_hsum_epi32(_mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)b->bsums)));
        __m256i hbits = _mm256_loadu_si256((const __m256i *)a->hmask);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(a->qs + 32 * h));
            for (int r = 0; r < 4; r++) {
                int g = 8 * h + 2 * r;
                __m256i hb = _mm256_slli_epi16(_mm256_and_si256(hbits, m1), 2);
                __m256i q = _mm256_or_si256(_mm256_and_si256(qv, m3), hb);
                qv = _mm256_srli_epi16(qv, 2);
                hbits = _mm256_srli_epi16(hbits, 1);
                __m256i yv = _mm256_loadu_si256((const __m256i *)(b->qs + 128 * h + 32 * r));
                __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, yv),
                                              x86_pair_epi16(sc[g], sc[g + 1]));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        sum += b->d * x86_fp16(a->d) * (float)(x86_hsum_epi32(sumi) - offset);
    }
    *s = sum;
}

/* sum over the 16 bsums of m[g / 2] * bsums[g] (Q4_K/Q5_K sub-blocks of 32 = two bsums each). */
AVX2_FN static inline int k4_min_sum(const uint8_t m[8], const int16_t bsums[16])
{
    __m128i m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)m));
    __m256i dup = _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16), _mm_unpacklo_epi16(m16, m16));
    return x86_hsum_epi32(_mm256_madd_epi16(dup, _mm256_loadu_si256((const __m256i *)bsums)));
}

/* Q4_K: each 32 qs bytes hold 64 elements, low nibbles the first 32, high nibbles the next. */
AVX2_FN static void avx2_vec_dot_q4_K(int n, float *restrict s, const void *restrict x,
                                      const void *restrict y)
{
    const block_q4_K *xa = x;
    const block_q8_K *yb = y;
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256 acc = _mm256_setzero_ps();
    float sum_min = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const block_q4_K *a = &xa[i];
        const block_q8_K *b = &yb[i];
        uint8_t sc[8], m[8];
        quant_k4_scales_mins(a->scales, sc, m);
        int summ = k4_min_sum(m, b->bsums);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(a->qs + 32 * j));
            __m256i lo = _mm256_and_si256(qv, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
            __m256i p0 =
                _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(b->qs + 64 * j)));
            __m256i p1 = _mm256_maddubs_epi16(
                hi, _mm256_loadu_si256((const __m256i *)(b->qs + 64 * j + 32)));
            p0 = _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * j]));
            p1 = _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * j + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(b->d * x86_fp16(a->d)), _mm256_cvtepi32_ps(sumi), acc);
        sum_min += b->d * x86_fp16(a->dmin) * (float)summ;
    }
    *s = x86_hsum_ps(acc) - sum_min;
}

/* Q5_K: Q4_K plus a fifth bit; group 2j takes bit 2j of qh, group 2j + 1 bit 2j + 1, so shifting
 * the qh register right by 2 per 64 elements brings both to bits 0 and 1. */
AVX2_FN static void avx2_vec_dot_q5_K(int n, float *restrict s, const void *restrict x,
                                      const void *restrict y)
{
    const block_q5_K *xa = x;
    const block_q8_K *yb = y;
    const __m256i m4 = _mm256_set1_epi8(15), b0 = _mm256_set1_epi8(1), b1 = _mm256_set1_epi8(2);
    __m256 acc = _mm256_setzero_ps();
    float sum_min = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const block_q5_K *a = &xa[i];
        const block_q8_K *b = &yb[i];
        uint8_t sc[8], m[8];
        quant_k4_scales_mins(a->scales, sc, m);
        int summ = k4_min_sum(m, b->bsums);
        __m256i hbits = _mm256_loadu_si256((const __m256i *)a->qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(a->qs + 32 * j));
            __m256i lo = _mm256_or_si256(_mm256_and_si256(qv, m4),
                                         _mm256_slli_epi16(_mm256_and_si256(hbits, b0), 4));
            __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qv, 4), m4),
                                         _mm256_slli_epi16(_mm256_and_si256(hbits, b1), 3));
            hbits = _mm256_srli_epi16(hbits, 2);
            __m256i p0 =
                _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(b->qs + 64 * j)));
            __m256i p1 = _mm256_maddubs_epi16(
                hi, _mm256_loadu_si256((const __m256i *)(b->qs + 64 * j + 32)));
            p0 = _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * j]));
            p1 = _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * j + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(b->d * x86_fp16(a->d)), _mm256_cvtepi32_ps(sumi), acc);
        sum_min += b->d * x86_fp16(a->dmin) * (float)summ;
    }
    *s = x86_hsum_ps(acc) - sum_min;
}

/* Q6_K: per half of 128, ql[0..31] and ql[32..63] give the low nibbles of elements 0..63 (low
 * nibble) and 64..127 (high nibble); qh's four 2-bit fields are the four groups of 32. The 16-bit
 * shifts that move a 2-bit field to bits 4-5 stay within each byte once masked with 0x30. */
AVX2_FN static void avx2_vec_dot_q6_K(int n, float *restrict s, const void *restrict x,
                                      const void *restrict y)
{
    const block_q6_K *xa = x;
    const block_q8_K *yb = y;
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const block_q6_K *a = &xa[i];
        const block_q8_K *b = &yb[i];
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a->scales));
        int offset =
            32 *
            x86_hsum_epi32(_mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)b->bsums)));
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i ql0 = _mm256_loadu_si256((const __m256i *)(a->ql + 64 * h));
            __m256i ql1 = _mm256_loadu_si256((const __m256i *)(a->ql + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(a->qh + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4),
                                   _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
            q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                   _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                   _mm256_and_si256(qh, m30));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
            for (int r = 0; r < 4; r++) {
                int g = 8 * h + 2 * r;
                __m256i yv = _mm256_loadu_si256((const __m256i *)(b->qs + 128 * h + 32 * r));
                __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q[r], yv),
                                              x86_pair_epi16(a->scales[g], a->scales[g + 1]));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        sum += b->d * x86_fp16(a->d) * (float)(x86_hsum_epi32(sumi) - offset);
    }
    *s = sum;
}

/* IQ4_XS: IQ4_NL's table lookup per sub-block of 32; the sign of the level moves onto the
 * activation (as x86_dot_i8 does) and the sub-block scale rides in the widening madd. */
AVX2_FN static void avx2_vec_dot_iq4_xs(int n, float *restrict s, const void *restrict x,
                                        const void *restrict y)
{
    const block_iq4_xs *xa = x;
    const block_q8_K *yb = y;
    const __m256i table =
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)kvalues_iq4nl));
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        const block_iq4_xs *a = &xa[i];
        const block_q8_K *b = &yb[i];
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            int ls = (((a->scales_l[j / 2] >> (4 * (j % 2))) & 15) |
                      (((a->scales_h >> (2 * j)) & 3) << 4)) -
                     32;
            __m256i v = _mm256_shuffle_epi8(table, x86_nibbles32(a->qs + 16 * j));
            __m256i yv = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * j));
            __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(yv, v));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_set1_epi16((short)ls)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(b->d * x86_fp16(a->d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = x86_hsum_ps(acc);
}

AVX2_FN static void avx2_vec_dot_q8_K(int n, float *restrict s, const void *restrict x,
                                      const void *restrict y)
{
    const block_q8_K *a = x;
    const block_q8_K *b = y;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < QK_K; j += 32)
            sumi = _mm256_add_epi32(sumi,
                                    x86_dot_i8(_mm256_loadu_si256((const __m256i *)(a[i].qs + j)),
                                               _mm256_loadu_si256((const __m256i *)(b[i].qs + j))));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(a[i].d * b[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = x86_hsum_ps(acc);
}

void simd_avx2_fill_k(qtype_traits_t t[QT_COUNT])
{
    t[QT_Q2_K].vec_dot = avx2_vec_dot_q2_K;
    t[QT_Q3_K].vec_dot = avx2_vec_dot_q3_K;
    t[QT_Q4_K].vec_dot = avx2_vec_dot_q4_K;
    t[QT_Q5_K].vec_dot = avx2_vec_dot_q5_K;
    t[QT_Q6_K].vec_dot = avx2_vec_dot_q6_K;
    t[QT_IQ4_XS].vec_dot = avx2_vec_dot_iq4_xs;
    t[QT_Q8_K].vec_dot = avx2_vec_dot_q8_K;
}

#else

void simd_avx2_fill_k(qtype_traits_t t[QT_COUNT])
{
    (void)t;
}

#endif
