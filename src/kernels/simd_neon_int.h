/* simd_neon_int.h - the NEON integer dot kernels, written once and compiled twice by simd_neon.c:
 * with NEON_DOT = SDOT (Armv8.2 dotprod, 4 products per int32 lane per instruction) and with
 * NEON_DOT = a widening multiply + pairwise add for CPUs without it. NK(name) gives each copy
 * its own function names; NEON_ATTR its target attribute. Only for the NEON kernel files, after
 * <arm_neon.h> and base/fp16.h: included without NK it gives just the helpers below, which the
 * other NEON files (simd_neon_k.c, simd_neon_legacy.c) share.
 *
 * Each kernel unpacks weights to signed int8 levels in activation order (16 per register) and
 * accumulates their dot with the activations in int32 lanes; sub-block scales multiply the
 * int32 lanes (vmlaq_n_s32), block scales the converted floats. */

#ifndef UH_KERNELS_SIMD_NEON_INT_H
#define UH_KERNELS_SIMD_NEON_INT_H

#define NEON_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

/* A 16-byte signed dot accumulated into 4 int32 lanes: dot_plain or dot_sdot below, passed as a
 * constant to the always-inline kernel bodies of simd_neon_k.c and simd_neon_legacy.c. */
typedef int32x4_t (*neon_dot_fn)(int32x4_t acc, int8x16_t a, int8x16_t b);

/* Without SDOT: widen the products to int16 (|128 * 127| fits) and pairwise-accumulate. */
static inline int32x4_t dot_plain(int32x4_t acc, int8x16_t a, int8x16_t b)
{
    int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    int16x8_t hi = vmull_high_s8(a, b);
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
}

NEON_DOTPROD static inline int32x4_t dot_sdot(int32x4_t acc, int8x16_t a, int8x16_t b)
{
    return vdotq_s32(acc, a, b);
}

/* neon_vec_dot_T_plain and neon_vec_dot_T_sdot from one always-inline body T_dot(n, s, x, y, dot):
 * the dot is a constant in each, so each copy holds straight-line code for its instruction set
 * and only the SDOT one carries the dotprod target. */
#define NEON_DOT_VARIANTS(T)                                                                       \
    static void neon_vec_dot_##T##_plain(int n, float *restrict s, const void *restrict x,         \
                                         const void *restrict y)                                   \
    {                                                                                              \
        T##_dot(n, s, x, y, dot_plain);                                                            \
    }                                                                                              \
    NEON_DOTPROD static void neon_vec_dot_##T##_sdot(                                              \
        int n, float *restrict s, const void *restrict x, const void *restrict y)                  \
    {                                                                                              \
        T##_dot(n, s, x, y, dot_sdot);                                                             \
    }

#endif /* UH_KERNELS_SIMD_NEON_INT_H */

#ifdef NK

/* Q8_0: both operands already signed bytes. */
NEON_ATTR static void NK(neon_vec_dot_q8_0)(int n, float *restrict s, const void *restrict x,
                                            const void *restrict y)
{
    const block_q8_0 *a = x;
    const block_q8_0 *b = y;
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int i = 0; i < n / QK8_0; i++) {
        int32x4_t p = NEON_DOT(vdupq_n_s32(0), vld1q_s8(a[i].qs), vld1q_s8(b[i].qs));
        p = NEON_DOT(p, vld1q_s8(a[i].qs + 16), vld1q_s8(b[i].qs + 16));
        float d = fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d);
        acc = vfmaq_f32(acc, vcvtq_f32_s32(p), vdupq_n_f32(d));
    }
    *s = vaddvq_f32(acc);
}

/* Q4_0: low nibbles are elements 0..15, high nibbles 16..31; minus 8 gives signed levels. */
NEON_ATTR static void NK(neon_vec_dot_q4_0)(int n, float *restrict s, const void *restrict x,
                                            const void *restrict y)
{
    const block_q4_0 *a = x;
    const block_q8_0 *b = y;
    const uint8x16_t m4 = vdupq_n_u8(15);
    const int8x16_t eight = vdupq_n_s8(8);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int i = 0; i < n / QK4_0; i++) {
        uint8x16_t v = vld1q_u8(a[i].qs);
        int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, m4)), eight);
        int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight);
        int32x4_t p = NEON_DOT(vdupq_n_s32(0), lo, vld1q_s8(b[i].qs));
        p = NEON_DOT(p, hi, vld1q_s8(b[i].qs + 16));
        float d = fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d);
        acc = vfmaq_f32(acc, vcvtq_f32_s32(p), vdupq_n_f32(d));
    }
    *s = vaddvq_f32(acc);
}

/* Q4_K: 32 qs bytes per 64 elements, low nibbles the first 32 (sub-block 2j), high the next 32;
 * nibbles are below 128, so they are valid signed bytes as they are. Mins via Q8_K's bsums. */
NEON_ATTR static void NK(neon_vec_dot_q4_K)(int n, float *restrict s, const void *restrict x,
                                            const void *restrict y)
{
    const block_q4_K *xa = x;
    const block_q8_K *yb = y;
    const uint8x16_t m4 = vdupq_n_u8(15);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const block_q4_K *a = &xa[i];
        const block_q8_K *b = &yb[i];
        uint8_t sc[8], m[8];
        quant_k4_scales_mins(a->scales, sc, m);
        int summ = 0;
        for (int g = 0; g < 16; g++) summ += m[g / 2] * b->bsums[g];
        int32x4_t sumv = vdupq_n_s32(0);
        for (int j = 0; j < 4; j++) {
            uint8x16_t q0 = vld1q_u8(a->qs + 32 * j), q1 = vld1q_u8(a->qs + 32 * j + 16);
            const int8_t *yq = b->qs + 64 * j;
            int32x4_t plo =
                NEON_DOT(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(q0, m4)), vld1q_s8(yq));
            plo = NEON_DOT(plo, vreinterpretq_s8_u8(vandq_u8(q1, m4)), vld1q_s8(yq + 16));
            int32x4_t phi =
                NEON_DOT(vdupq_n_s32(0), vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), vld1q_s8(yq + 32));
            phi = NEON_DOT(phi, vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), vld1q_s8(yq + 48));
            sumv = vmlaq_n_s32(sumv, plo, sc[2 * j]);
            sumv = vmlaq_n_s32(sumv, phi, sc[2 * j + 1]);
        }
        sum += b->d * fp16_to_fp32(a->d) * (float)vaddvq_s32(sumv) -
               b->d * fp16_to_fp32(a->dmin) * (float)summ;
    }
    *s = sum;
}

/* Q6_K: per half of 128, ql[0..31] / ql[32..63] give the low nibbles of elements 0..63 (low
 * nibble) and 64..127 (high nibble), qh's 2-bit fields (bits 0-1, 2-3, 4-5, 6-7) the high bits of
 * the four groups of 32. Minus 32 gives signed levels; each 16-byte register is one sub-block. */
NEON_ATTR static void NK(neon_vec_dot_q6_K)(int n, float *restrict s, const void *restrict x,
                                            const void *restrict y)
{
    const block_q6_K *xa = x;
    const block_q8_K *yb = y;
    const uint8x16_t m4 = vdupq_n_u8(15), m3 = vdupq_n_u8(3);
    const int8x16_t k32 = vdupq_n_s8(32);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const block_q6_K *a = &xa[i];
        const block_q8_K *b = &yb[i];
        int32x4_t sumv = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            for (int k = 0; k < 2; k++) { /* the two 16-byte halves of each 32-byte group */
                uint8x16_t ql0 = vld1q_u8(a->ql + 64 * h + 16 * k);
                uint8x16_t ql1 = vld1q_u8(a->ql + 64 * h + 32 + 16 * k);
                uint8x16_t qh = vld1q_u8(a->qh + 32 * h + 16 * k);
                uint8x16_t q[4];
                q[0] = vorrq_u8(vandq_u8(ql0, m4), vshlq_n_u8(vandq_u8(qh, m3), 4));
                q[1] = vorrq_u8(vandq_u8(ql1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 2), m3), 4));
                q[2] = vorrq_u8(vshrq_n_u8(ql0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 4), m3), 4));
                q[3] = vorrq_u8(vshrq_n_u8(ql1, 4), vshlq_n_u8(vshrq_n_u8(qh, 6), 4));
                for (int r = 0; r < 4; r++) {
                    int e = 128 * h + 32 * r + 16 * k; /* first element of this register */
                    int8x16_t lv = vsubq_s8(vreinterpretq_s8_u8(q[r]), k32);
                    int32x4_t p = NEON_DOT(vdupq_n_s32(0), lv, vld1q_s8(b->qs + e));
                    sumv = vmlaq_n_s32(sumv, p, a->scales[e / 16]);
                }
            }
        }
        sum += b->d * fp16_to_fp32(a->d) * (float)vaddvq_s32(sumv);
    }
    *s = sum;
}

#endif /* NK */
