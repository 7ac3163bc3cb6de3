/* simd_neon_k.c - AArch64 AdvSIMD integer dots of Q2_K, Q3_K, Q5_K and IQ4_XS against Q8_K
 * activations, each as a plain AdvSIMD kernel and an SDOT copy for CPUs with dotprod.
 *
 * Every kernel is one always-inline body that takes the 16-byte dot (dot_plain or dot_sdot from
 * simd_neon_int.h) as a constant function pointer; the two thin wrappers below each body inline
 * it with their own dot, so the SDOT copy alone carries the "+dotprod" target attribute and the
 * plain one runs on any AArch64 CPU.
 *
 * As in simd_neon_int.h, weights are unpacked to signed int8 levels in activation order, 16 per
 * register, and dotted with the activations in int32 lanes. Where sub-blocks hold 16 elements
 * (Q2_K, Q3_K) each register is one sub-block: pairwise adds gather four of them into the lanes
 * of one vector, so one vector multiply applies four scales. Mins (Q2_K, Q5_K) go through Q8_K's
 * bsums once per super-block. Integer sums stay far below 2^31 (at most 256 * 63 * 31 * 127). */
#include "kernels/quant_impl.h"
#include "kernels/simd.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include "base/fp16.h"
#include "kernels/simd_neon_int.h"

#define NEON_BODY static inline __attribute__((always_inline))

/* The four horizontal sums of p[0..3], in lanes 0..3. */
static inline int32x4_t hsum4(const int32x4_t p[4])
{
    return vpaddq_s32(vpaddq_s32(p[0], p[1]), vpaddq_s32(p[2], p[3]));
}

/* 16 signed bytes widened to four int32 vectors, lanes in order. */
static inline void widen_s8x16(int8x16_t v, int32x4_t out[4])
{
    int16x8_t lo = vmovl_s8(vget_low_s8(v)), hi = vmovl_high_s8(v);
    out[0] = vmovl_s16(vget_low_s16(lo));
    out[1] = vmovl_high_s16(lo);
    out[2] = vmovl_s16(vget_low_s16(hi));
    out[3] = vmovl_high_s16(hi);
}

/* sum m[g] * bsums[g] over the 16 groups of 16 (mins below 16, so the int16 products fit). */
static inline int mins_dot_bsums16(uint8x16_t m, const int16_t bsums[16])
{
    int16x8_t m0 = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(m)));
    int16x8_t m1 = vreinterpretq_s16_u16(vmovl_high_u8(m));
    int16x8_t b0 = vld1q_s16(bsums), b1 = vld1q_s16(bsums + 8);
    int32x4_t acc = vmull_s16(vget_low_s16(m0), vget_low_s16(b0));
    acc = vmlal_high_s16(acc, m0, b0);
    acc = vmlal_s16(acc, vget_low_s16(m1), vget_low_s16(b1));
    return vaddvq_s32(vmlal_high_s16(acc, m1, b1));
}

/* sum m[j] * (bsums[2j] + bsums[2j + 1]) over the 8 sub-blocks of 32 (pair sums fit int16). */
static inline int mins_dot_bsums8(const uint8_t m[8], const int16_t bsums[16])
{
    int16x8_t bs = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
    int16x8_t mv = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(m)));
    int32x4_t acc = vmull_s16(vget_low_s16(mv), vget_low_s16(bs));
    return vaddvq_s32(vmlal_high_s16(acc, mv, bs));
}

/* Q2_K: qs[32h .. 32h + 31] holds, in bits 2r..2r+1, elements 128h + 32r + 0..31, i.e. the
 * sub-blocks 8h + 2r and 8h + 2r + 1; shifting the two registers right by 2 walks through r. */
NEON_BODY void q2_K_dot(int n, float *restrict s, const void *restrict x, const void *restrict y,
                        neon_dot_fn dot)
{
    const block_q2_K *xa = x;
    const block_q8_K *yb = y;
    const uint8x16_t m3 = vdupq_n_u8(3), m4 = vdupq_n_u8(15);
    const int32x4_t zero = vdupq_n_s32(0);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const block_q2_K *a = &xa[i];
        const block_q8_K *b = &yb[i];
        uint8x16_t sc8 = vld1q_u8(a->scales);
        int32x4_t sc[4];
        widen_s8x16(vreinterpretq_s8_u8(vandq_u8(sc8, m4)), sc);
        int summ = mins_dot_bsums16(vshrq_n_u8(sc8, 4), b->bsums);
        int32x4_t sumv = zero;
        for (int h = 0; h < 2; h++) {
            uint8x16_t q0 = vld1q_u8(a->qs + 32 * h), q1 = vld1q_u8(a->qs + 32 * h + 16);
            const int8_t *yq = b->qs + 128 * h;
            int32x4_t p[4];
            for (int r = 0; r < 4; r++) {
                int8x16_t l0 = vreinterpretq_s8_u8(vandq_u8(q0, m3));
                int8x16_t l1 = vreinterpretq_s8_u8(vandq_u8(q1, m3));
                p[2 * (r % 2)] = dot(zero, l0, vld1q_s8(yq + 32 * r));
                p[2 * (r % 2) + 1] = dot(zero, l1, vld1q_s8(yq + 32 * r + 16));
                q0 = vshrq_n_u8(q0, 2);
                q1 = vshrq_n_u8(q1, 2);
                if (r % 2) sumv = vmlaq_s32(sumv, hsum4(p), sc[2 * h + r / 2]);
            }
        }
        sum += b->d * fp16_to_fp32(a->d) * (float)vaddvq_s32(sumv) -
               b->d * fp16_to_fp32(a->dmin) * (float)summ;
    }
    *s = sum;
}

/* Q3_K: low 2 bits as Q2_K; the hmask bit is set for the upper half of the 3-bit range, so the
 * signed level is the low bits minus 4 where the bit is clear. hmask[0..31] holds the bit of
 * element 32c + l in bit c of byte l, so shifting the two hmask registers by 1 walks through c. */
NEON_BODY void q3_K_dot(int n, float *restrict s, const void *restrict x, const void *restrict y,
                        neon_dot_fn dot)
{
    const block_q3_K *xa = x;
    const block_q8_K *yb = y;
    const uint8x16_t m3 = vdupq_n_u8(3), m1 = vdupq_n_u8(1);
    const int32x4_t zero = vdupq_n_s32(0);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const block_q3_K *a = &xa[i];
        const block_q8_K *b = &yb[i];
        /* 16 six-bit scales: low nibbles of bytes 0..7 then their high nibbles, each with 2 bits
         * of bytes 8..11 (bits 0-1 for scales 0-3, 2-3 for 4-7, 4-5 for 8-11, 6-7 for 12-15) */
        uint32_t w[3], u[4];
        memcpy(w, a->scales, 12);
        u[0] = (w[0] & 0x0f0f0f0f) | ((w[2] << 4) & 0x30303030);
        u[1] = (w[1] & 0x0f0f0f0f) | ((w[2] << 2) & 0x30303030);
        u[2] = ((w[0] >> 4) & 0x0f0f0f0f) | (w[2] & 0x30303030);
        u[3] = ((w[1] >> 4) & 0x0f0f0f0f) | ((w[2] >> 2) & 0x30303030);
        int32x4_t sc[4];
        widen_s8x16(vsubq_s8(vreinterpretq_s8_u32(vld1q_u32(u)), vdupq_n_s8(32)), sc);
        uint8x16_t hm0 = vld1q_u8(a->hmask), hm1 = vld1q_u8(a->hmask + 16);
        int32x4_t sumv = zero;
        for (int h = 0; h < 2; h++) {
            uint8x16_t q0 = vld1q_u8(a->qs + 32 * h), q1 = vld1q_u8(a->qs + 32 * h + 16);
            const int8_t *yq = b->qs + 128 * h;
            int32x4_t p[4];
            for (int r = 0; r < 4; r++) {
                /* 4 where the high bit is clear, 0 where set */
                uint8x16_t c0 = vshlq_n_u8(vbicq_u8(m1, hm0), 2);
                uint8x16_t c1 = vshlq_n_u8(vbicq_u8(m1, hm1), 2);
                int8x16_t l0 = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(q0, m3), c0));
                int8x16_t l1 = vreinterpretq_s8_u8(vsubq_u8(vandq_u8(q1, m3), c1));
                p[2 * (r % 2)] = dot(zero, l0, vld1q_s8(yq + 32 * r));
                p[2 * (r % 2) + 1] = dot(zero, l1, vld1q_s8(yq + 32 * r + 16));
                q0 = vshrq_n_u8(q0, 2);
                q1 = vshrq_n_u8(q1, 2);
                hm0 = vshrq_n_u8(hm0, 1);
                hm1 = vshrq_n_u8(hm1, 1);
                if (r % 2) sumv = vmlaq_s32(sumv, hsum4(p), sc[2 * h + r / 2]);
            }
        }
        sum += b->d * fp16_to_fp32(a->d) * (float)vaddvq_s32(sumv);
    }
    *s = sum;
}

/* Q5_K: Q4_K's nibbles and scales; bit 4 of element 64j + l comes from bit 2j of qh[l % 32]
 * (l < 32) or bit 2j + 1 (l >= 32), so the qh registers shift by 2 per 64 elements. */
NEON_BODY void q5_K_dot(int n, float *restrict s, const void *restrict x, const void *restrict y,
                        neon_dot_fn dot)
{
    const block_q5_K *xa = x;
    const block_q8_K *yb = y;
    const uint8x16_t m4 = vdupq_n_u8(15), m16 = vdupq_n_u8(16);
    const int32x4_t zero = vdupq_n_s32(0);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const block_q5_K *a = &xa[i];
        const block_q8_K *b = &yb[i];
        uint8_t sc[8], m[8];
        quant_k4_scales_mins(a->scales, sc, m);
        int summ = mins_dot_bsums8(m, b->bsums);
        uint8x16_t qh0 = vld1q_u8(a->qh), qh1 = vld1q_u8(a->qh + 16);
        int32x4_t sumv = zero;
        for (int j = 0; j < 4; j++) {
            uint8x16_t q0 = vld1q_u8(a->qs + 32 * j), q1 = vld1q_u8(a->qs + 32 * j + 16);
            const int8_t *yq = b->qs + 64 * j;
            uint8x16_t lo0 = vorrq_u8(vandq_u8(q0, m4), vandq_u8(vshlq_n_u8(qh0, 4), m16));
            uint8x16_t lo1 = vorrq_u8(vandq_u8(q1, m4), vandq_u8(vshlq_n_u8(qh1, 4), m16));
            uint8x16_t hi0 = vorrq_u8(vshrq_n_u8(q0, 4), vandq_u8(vshlq_n_u8(qh0, 3), m16));
            uint8x16_t hi1 = vorrq_u8(vshrq_n_u8(q1, 4), vandq_u8(vshlq_n_u8(qh1, 3), m16));
            int32x4_t plo = dot(zero, vreinterpretq_s8_u8(lo0), vld1q_s8(yq));
            plo = dot(plo, vreinterpretq_s8_u8(lo1), vld1q_s8(yq + 16));
            int32x4_t phi = dot(zero, vreinterpretq_s8_u8(hi0), vld1q_s8(yq + 32));
            phi = dot(phi, vreinterpretq_s8_u8(hi1), vld1q_s8(yq + 48));
            sumv = vmlaq_n_s32(sumv, plo, sc[2 * j]);
            sumv = vmlaq_n_s32(sumv, phi, sc[2 * j + 1]);
            qh0 = vshrq_n_u8(qh0, 2);
            qh1 = vshrq_n_u8(qh1, 2);
        }
        sum += b->d * fp16_to_fp32(a->d) * (float)vaddvq_s32(sumv) -
               b->d * fp16_to_fp32(a->dmin) * (float)summ;
    }
    *s = sum;
}

/* IQ4_XS: TBL looks the 16 nibbles of a register up in the level table in one instruction;
 * sub-block j's 16 qs bytes hold elements 32j + l (low nibble) and 32j + 16 + l (high). */
NEON_BODY void iq4_xs_dot(int n, float *restrict s, const void *restrict x, const void *restrict y,
                          neon_dot_fn dot)
{
    const block_iq4_xs *xa = x;
    const block_q8_K *yb = y;
    const int8x16_t levels = vld1q_s8(kvalues_iq4nl);
    const uint8x16_t m4 = vdupq_n_u8(15);
    const int32x4_t zero = vdupq_n_s32(0);
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const block_iq4_xs *a = &xa[i];
        const block_q8_K *b = &yb[i];
        int32x4_t sumv = zero;
        for (int j = 0; j < 8; j++) {
            uint8x16_t q = vld1q_u8(a->qs + 16 * j);
            const int8_t *yq = b->qs + 32 * j;
            int32x4_t p = dot(zero, vqtbl1q_s8(levels, vandq_u8(q, m4)), vld1q_s8(yq));
            p = dot(p, vqtbl1q_s8(levels, vshrq_n_u8(q, 4)), vld1q_s8(yq + 16));
            int ls = ((a->scales_l[j / 2] >> (4 * (j % 2))) & 15) |
                     (((a->scales_h >> (2 * j)) & 3) << 4);
            sumv = vmlaq_n_s32(sumv, p, ls - 32);
        }
        sum += b->d * (fp16_to_fp32(a->d) * (float)vaddvq_s32(sumv));
    }
    *s = sum;
}

NEON_DOT_VARIANTS(q2_K)
NEON_DOT_VARIANTS(q3_K)
NEON_DOT_VARIANTS(q5_K)
NEON_DOT_VARIANTS(iq4_xs)

void simd_neon_fill_k(qtype_traits_t t[QT_COUNT], int dotprod)
{
    t[QT_Q2_K].vec_dot = dotprod ? neon_vec_dot_q2_K_sdot : neon_vec_dot_q2_K_plain;
    t[QT_Q3_K].vec_dot = dotprod ? neon_vec_dot_q3_K_sdot : neon_vec_dot_q3_K_plain;
    t[QT_Q5_K].vec_dot = dotprod ? neon_vec_dot_q5_K_sdot : neon_vec_dot_q5_K_plain;
    t[QT_IQ4_XS].vec_dot = dotprod ? neon_vec_dot_iq4_xs_sdot : neon_vec_dot_iq4_xs_plain;
}

#else /* not AArch64: simd_cpu_features() never reports SIMD_NEON */

void simd_neon_fill_k(qtype_traits_t t[QT_COUNT], int dotprod)
{
    (void)t;
    (void)dotprod;
}

#endif
