/* simd_avx2.c - AVX2/FMA/F16C kernels of the float types, the 32-element block types and the
 * activation quantizers (Q8_0, Q8_1, Q8_K). simd_avx2_k.c holds the 256-element super-blocks.
 *
 * Integer dots follow one pattern: unpack a block's weights into 32 bytes in activation order,
 * multiply against the 32 activation bytes with maddubs (u8 x s8 -> pairs of int16), widen to
 * 8 int32 lanes with madd, convert once per block and fma with the block's combined float scale.
 * The result differs from the scalar reference only in the order floats are summed.
 *
 * The quantizers must produce the scalar reference's bytes exactly (the numerics tests pin the
 * logits they lead to), so they repeat its float operations one for one: the same multiply, the
 * same rounding rule, the same choice of maximum. */
#include "kernels/quant_impl.h"
#include "kernels/simd.h"

#if defined(__x86_64__)
#include "base/fp16.h"
#include "kernels/simd_x86.h"

/* ---- float types: F32, F16, BF16 against F32 activations ---- */

/* Four independent accumulators hide the fma latency; a scalar loop takes the last n % 8. */
AVX2_FN static void avx2_vec_dot_f32(int n, float *restrict s, const void *restrict x,
                                     const void *restrict y)
{
    const float *a = x, *b = y;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    float sum = x86_hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) sum += a[i] * b[i];
    *s = sum;
}

/* F16C widens 8 halves per instruction; rows of 2-byte types may sit at any even address. */
AVX2_FN static void avx2_vec_dot_f16(int n, float *restrict s, const void *restrict x,
                                     const void *restrict y)
{
    const uint8_t *a = x;
    const float *b = y;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + 2 * i)));
        __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + 2 * i + 16)));
        acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(b + i + 8), acc1);
    }
    float sum = x86_hsum_ps(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, a + 2 * i, 2);
        sum += x86_fp16(h) * b[i];
    }
    *s = sum;
}

/* bf16 is the top half of an fp32: zero-extend to 32 bits and shift left 16. */
AVX2_FN static void avx2_vec_dot_bf16(int n, float *restrict s, const void *restrict x,
                                      const void *restrict y)
{
    const uint8_t *a = x;
    const float *b = y;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h0 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(a + 2 * i)));
        __m256i h1 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(a + 2 * i + 16)));
        __m256 w0 = _mm256_castsi256_ps(_mm256_slli_epi32(h0, 16));
        __m256 w1 = _mm256_castsi256_ps(_mm256_slli_epi32(h1, 16));
        acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(b + i + 8), acc1);
    }
    float sum = x86_hsum_ps(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, a + 2 * i, 2);
        sum += bf16_to_fp32(h) * b[i];
    }
    *s = sum;
}

/* ---- 32-element blocks ---- */

AVX2_FN static void avx2_vec_dot_q8_0(int n, float *restrict s, const void *restrict x,
                                      const void *restrict y)
{
    const block_q8_0 *a = x;
    const block_q8_0 *b = y;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK8_0; i++) {
        __m256i p = x86_dot_i8(_mm256_loadu_si256((const __m256i *)a[i].qs),
                               _mm256_loadu_si256((const __m256i *)b[i].qs));
        __m256 d = _mm256_set1_ps(x86_fp16(a[i].d) * x86_fp16(b[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    *s = x86_hsum_ps(acc);
}

AVX2_FN static void avx2_vec_dot_q8_1(int n, float *restrict s, const void *restrict x,
                                      const void *restrict y)
{
    const block_q8_1 *a = x;
    const block_q8_1 *b = y;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK8_1; i++) {
        __m256i p = x86_dot_i8(_mm256_loadu_si256((const __m256i *)a[i].qs),
                               _mm256_loadu_si256((const __m256i *)b[i].qs));
        __m256 d = _mm256_set1_ps(x86_fp16(a[i].d) * x86_fp16(b[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    *s = x86_hsum_ps(acc);
}

/* Q4_0: nibbles minus 8 are signed levels in [-8, 7], then a signed dot. */
AVX2_FN static void avx2_vec_dot_q4_0(int n, float *restrict s, const void *restrict x,
                                      const void *restrict y)
{
    const block_q4_0 *a = x;
    const block_q8_0 *b = y;
    const __m256i eight = _mm256_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK4_0; i++) {
        __m256i q = _mm256_sub_epi8(x86_nibbles32(a[i].qs), eight);
        __m256i p = x86_dot_i8(q, _mm256_loadu_si256((const __m256i *)b[i].qs));
        __m256 d = _mm256_set1_ps(x86_fp16(a[i].d) * x86_fp16(b[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    *s = x86_hsum_ps(acc);
}

/* Q4_1: unsigned nibbles go straight into maddubs; the min folds in through Q8_1's s. */
AVX2_FN static void avx2_vec_dot_q4_1(int n, float *restrict s, const void *restrict x,
                                      const void *restrict y)
{
    const block_q4_1 *a = x;
    const block_q8_1 *b = y;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    float sum_min = 0.0f;
    for (int i = 0; i < n / QK4_1; i++) {
        __m256i q = x86_nibbles32(a[i].qs);
        __m256i p = _mm256_madd_epi16(
            x86_dot_u8_pairs(q, _mm256_loadu_si256((const __m256i *)b[i].qs)), ones);
        __m256 d = _mm256_set1_ps(x86_fp16(a[i].d) * x86_fp16(b[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
        sum_min += x86_fp16(a[i].m) * x86_fp16(b[i].s);
    }
    *s = x86_hsum_ps(acc) + sum_min;
}

/* Q5_0: q - 16 = nibble - 16 * (1 - bit4), so OR-ing 0xf0 (= -16 in the high nibble) into the
 * bytes whose fifth bit is clear gives the signed level in one step. */
AVX2_FN static void avx2_vec_dot_q5_0(int n, float *restrict s, const void *restrict x,
                                      const void *restrict y)
{
    const block_q5_0 *a = x;
    const block_q8_0 *b = y;
    const __m256i hi_nib = _mm256_set1_epi8((char)0xf0);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK5_0; i++) {
        __m256i bit4 = x86_bits_to_bytes(a[i].qh);
        __m256i q = _mm256_or_si256(x86_nibbles32(a[i].qs), _mm256_andnot_si256(bit4, hi_nib));
        __m256i p = x86_dot_i8(q, _mm256_loadu_si256((const __m256i *)b[i].qs));
        __m256 d = _mm256_set1_ps(x86_fp16(a[i].d) * x86_fp16(b[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    *s = x86_hsum_ps(acc);
}

AVX2_FN static void avx2_vec_dot_q5_1(int n, float *restrict s, const void *restrict x,
                                      const void *restrict y)
{
    const block_q5_1 *a = x;
    const block_q8_1 *b = y;
    const __m256i ones = _mm256_set1_epi16(1), sixteen = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps();
    float sum_min = 0.0f;
    for (int i = 0; i < n / QK5_1; i++) {
        __m256i bit4 = _mm256_and_si256(x86_bits_to_bytes(a[i].qh), sixteen);
        __m256i q = _mm256_or_si256(x86_nibbles32(a[i].qs), bit4);
        __m256i p = _mm256_madd_epi16(
            x86_dot_u8_pairs(q, _mm256_loadu_si256((const __m256i *)b[i].qs)), ones);
        __m256 d = _mm256_set1_ps(x86_fp16(a[i].d) * x86_fp16(b[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
        sum_min += x86_fp16(a[i].m) * x86_fp16(b[i].s);
    }
    *s = x86_hsum_ps(acc) + sum_min;
}

/* IQ4_NL: the 16-entry level table fits one register, so pshufb maps nibbles to levels. */
AVX2_FN static void avx2_vec_dot_iq4_nl(int n, float *restrict s, const void *restrict x,
                                        const void *restrict y)
{
    const block_iq4_nl *a = x;
    const block_q8_0 *b = y;
    const __m256i table =
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)kvalues_iq4nl));
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK4_NL; i++) {
        __m256i q = _mm256_shuffle_epi8(table, x86_nibbles32(a[i].qs));
        __m256i p = x86_dot_i8(q, _mm256_loadu_si256((const __m256i *)b[i].qs));
        __m256 d = _mm256_set1_ps(x86_fp16(a[i].d) * x86_fp16(b[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    *s = x86_hsum_ps(acc);
}

/* ---- activation quantizers (byte-identical to the scalar ones) ---- */

AVX2_FN static inline __m256 abs_ps(__m256 v)
{
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

/* max |x[0..n)|, n a multiple of 8. MAXPS returns its second operand when either is NaN, so with
 * the running maximum second a NaN input is skipped - as the scalar `fabsf(x) > amax` scan does. */
AVX2_FN static float absmax_ps(const float *x, int n)
{
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) m = _mm256_max_ps(abs_ps(_mm256_loadu_ps(x + j)), m);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* roundf (half away from zero) without a libm call: truncate, then step one away from zero when
 * the dropped fraction (exact in float) is at least one half. */
AVX2_FN static inline __m256i round_away_epi32(__m256 v)
{
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 up = _mm256_cmp_ps(abs_ps(_mm256_sub_ps(v, t)), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 step = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, _mm256_set1_ps(-0.0f)));
    return _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(up, step)));
}

/* Four vectors of 8 int32 (values in int8 range) to 32 bytes in order. The packs work per
 * 128-bit lane, which leaves 4-byte groups in the order 0,2,4,6,1,3,5,7; one permute restores it.
 */
AVX2_FN static inline __m256i pack_epi32_epi8(__m256i a, __m256i b, __m256i c, __m256i d)
{
    __m256i v = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* Quantizes 32 floats with multiplier id, rounding half away from zero; returns the int8 bytes
 * and, through *sum, their sum. */
AVX2_FN static inline __m256i quant32_away(const float *x, float id, int *sum)
{
    __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int k = 0; k < 4; k++)
        q[k] = round_away_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid));
    if (sum) {
        __m256i t = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        *sum = x86_hsum_epi32(t);
    }
    return pack_epi32_epi8(q[0], q[1], q[2], q[3]);
}

AVX2_FN void simd_avx2_quant_row_q8_0(const float *restrict x, void *restrict y, int64_t n)
{
    block_q8_0 *b = y;
    for (int64_t i = 0; i < n / QK8_0; i++, x += 32) {
        float d = absmax_ps(x, 32) / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = fp32_to_fp16(d);
        _mm256_storeu_si256((__m256i *)b[i].qs, quant32_away(x, id, NULL));
    }
}

AVX2_FN static void avx2_quant_row_q8_1(const float *restrict x, void *restrict y, int64_t n)
{
    block_q8_1 *b = y;
    for (int64_t i = 0; i < n / QK8_1; i++, x += 32) {
        float d = absmax_ps(x, 32) / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum;
        _mm256_storeu_si256((__m256i *)b[i].qs, quant32_away(x, id, &sum));
        b[i].d = fp32_to_fp16(d);
        b[i].s = fp32_to_fp16((float)sum * d);
    }
}

/* Q8_K: round to nearest even by the same 1.5 * 2^23 addition as quant_nearest_int (so even NaN
 * maps to the same byte), then clamp to +-127. The maximum's sign comes from the first element
 * whose magnitude equals the maximum, the one the scalar strict-greater scan keeps. */
AVX2_FN void simd_avx2_quant_row_q8_K(const float *restrict x, void *restrict y, int64_t n)
{
    block_q8_K *b = y;
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    const __m256i mant = _mm256_set1_epi32(0x007fffff), bias = _mm256_set1_epi32(0x00400000);
    const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = absmax_ps(x, QK_K);
        if (amax == 0.0f) {
            memset(&b[i], 0, sizeof(b[i]));
            continue;
        }
        float max = 0.0f;
        __m256 vamax = _mm256_set1_ps(amax);
        for (int e = 0; e < QK_K; e += 8) {
            __m256 eq = _mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + e)), vamax, _CMP_EQ_OQ);
            int mask = _mm256_movemask_ps(eq);
            if (mask) {
                max = x[e + __builtin_ctz((unsigned)mask)];
                break;
            }
        }
        float iscale = -127.0f / max;
        __m256 vs = _mm256_set1_ps(iscale);
        for (int e = 0; e < QK_K; e += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; k++) {
                __m256 f = _mm256_add_ps(_mm256_mul_ps(vs, _mm256_loadu_ps(x + e + 8 * k)), magic);
                __m256i v = _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(f), mant), bias);
                q[k] = _mm256_max_epi32(_mm256_min_epi32(v, hi), lo);
            }
            _mm256_storeu_si256((__m256i *)(b[i].qs + e), pack_epi32_epi8(q[0], q[1], q[2], q[3]));
            b[i].bsums[e / 16] = (int16_t)x86_hsum_epi32(_mm256_add_epi32(q[0], q[1]));
            b[i].bsums[e / 16 + 1] = (int16_t)x86_hsum_epi32(_mm256_add_epi32(q[2], q[3]));
        }
        b[i].d = 1.0f / iscale;
    }
}

void simd_avx2_fill(qtype_traits_t t[QT_COUNT])
{
    t[QT_F32].vec_dot = avx2_vec_dot_f32;
    t[QT_F16].vec_dot = avx2_vec_dot_f16;
    t[QT_BF16].vec_dot = avx2_vec_dot_bf16;
    t[QT_Q4_0].vec_dot = avx2_vec_dot_q4_0;
    t[QT_Q4_1].vec_dot = avx2_vec_dot_q4_1;
    t[QT_Q5_0].vec_dot = avx2_vec_dot_q5_0;
    t[QT_Q5_1].vec_dot = avx2_vec_dot_q5_1;
    t[QT_Q8_0].vec_dot = avx2_vec_dot_q8_0;
    t[QT_Q8_1].vec_dot = avx2_vec_dot_q8_1;
    t[QT_IQ4_NL].vec_dot = avx2_vec_dot_iq4_nl;
    t[QT_Q8_0].from_float = simd_avx2_quant_row_q8_0;
    t[QT_Q8_1].from_float = avx2_quant_row_q8_1;
    t[QT_Q8_K].from_float = simd_avx2_quant_row_q8_K;
    simd_avx2_fill_k(t);
    simd_avx2_fill_packed(t);
}

#else /* not x86-64: no AVX2 kernels; simd_cpu_features() never reports SIMD_AVX2 */

void simd_avx2_fill(qtype_traits_t t[QT_COUNT])
{
    (void)t;
}

#endif
