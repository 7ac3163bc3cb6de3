/* simd_neon.c - AArch64 AdvSIMD kernels: F16 dot, Q4_0/Q8_0/Q4_K/Q6_K integer dots (with SDOT
 * where the CPU has dotprod, see simd_neon_int.h) and the Q8_0/Q8_1/Q8_K activation quantizers;
 * the other legacy types, IQ4_NL, F32 and BF16 are in simd_neon_legacy.c, the other K-quants
 * and IQ4_XS in simd_neon_k.c, the packed (row-interleaved) layouts in simd_neon_pack.c.
 *
 * AdvSIMD is part of every AArch64 CPU, so the plain kernels need no run-time check; the SDOT
 * copies carry a "+dotprod" target attribute and are installed only when the kernel reports
 * HWCAP_ASIMDDP. The quantizers repeat the scalar float operations exactly (same multiply, same
 * rounding rule: FCVTAS is roundf's ties-away, FCVTNS the ties-to-even of quant_nearest_int), so
 * their bytes equal the scalar ones. */
#include "kernels/quant_impl.h"
#include "kernels/simd.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <math.h>

#include "base/fp16.h"

#define NK(name) name##_plain
#define NEON_ATTR
#define NEON_DOT dot_plain
#include "kernels/simd_neon_int.h"
#undef NK
#undef NEON_ATTR
#undef NEON_DOT

#define NK(name)  name##_sdot
#define NEON_ATTR NEON_DOTPROD
#define NEON_DOT  dot_sdot
#include "kernels/simd_neon_int.h"
#undef NK
#undef NEON_ATTR
#undef NEON_DOT

/* F16: FCVTL widens 4 halves at a time; two accumulators of 4 lanes. */
static void neon_vec_dot_f16(int n, float *restrict s, const void *restrict x,
                             const void *restrict y)
{
    const uint16_t *a = x;
    const float *b = y;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        uint16x8_t h = vld1q_u16(a + i);
        float32x4_t w0 = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h)));
        float32x4_t w1 = vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h)));
        acc0 = vfmaq_f32(acc0, w0, vld1q_f32(b + i));
        acc1 = vfmaq_f32(acc1, w1, vld1q_f32(b + i + 4));
    }
    float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
    for (; i < n; i++) sum += fp16_to_fp32(a[i]) * b[i];
    *s = sum;
}

/* max |x[0..n)| (n a multiple of 4); FMAXNM skips NaN as the scalar `fabsf(x) > amax` scan does. */
static float neon_absmax(const float *x, int n)
{
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int j = 0; j < n; j += 4) m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + j)));
    return vmaxnmvq_f32(m);
}

/* 16 floats times id, rounded half away from zero (roundf) and narrowed to int8. */
static inline int8x16_t quant16_away(const float *x, float32x4_t id)
{
    int32x4_t q[4];
    for (int k = 0; k < 4; k++) q[k] = vcvtaq_s32_f32(vmulq_f32(vld1q_f32(x + 4 * k), id));
    int16x8_t lo = vcombine_s16(vqmovn_s32(q[0]), vqmovn_s32(q[1]));
    int16x8_t hi = vcombine_s16(vqmovn_s32(q[2]), vqmovn_s32(q[3]));
    return vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi));
}

void simd_neon_quant_row_q8_0(const float *restrict x, void *restrict y, int64_t n)
{
    block_q8_0 *b = y;
    for (int64_t i = 0; i < n / QK8_0; i++, x += 32) {
        float d = neon_absmax(x, 32) / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = fp32_to_fp16(d);
        vst1q_s8(b[i].qs, quant16_away(x, vdupq_n_f32(id)));
        vst1q_s8(b[i].qs + 16, quant16_away(x + 16, vdupq_n_f32(id)));
    }
}

static void neon_quant_row_q8_1(const float *restrict x, void *restrict y, int64_t n)
{
    block_q8_1 *b = y;
    for (int64_t i = 0; i < n / QK8_1; i++, x += 32) {
        float d = neon_absmax(x, 32) / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        int8x16_t q0 = quant16_away(x, vdupq_n_f32(id)), q1 = quant16_away(x + 16, vdupq_n_f32(id));
        vst1q_s8(b[i].qs, q0);
        vst1q_s8(b[i].qs + 16, q1);
        int sum = vaddlvq_s8(q0) + vaddlvq_s8(q1);
        b[i].d = fp32_to_fp16(d);
        b[i].s = fp32_to_fp16((float)sum * d);
    }
}

/* Q8_K: FCVTNS rounds the same product to nearest even, as quant_nearest_int does for every
 * finite value in range; the clamp to +-127 follows on the int32 lanes. */
static void neon_quant_row_q8_K(const float *restrict x, void *restrict y, int64_t n)
{
    block_q8_K *b = y;
    const int32x4_t lo = vdupq_n_s32(-127), hi = vdupq_n_s32(127);
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = neon_absmax(x, QK_K);
        if (amax == 0.0f) {
            memset(&b[i], 0, sizeof(b[i]));
            continue;
        }
        float max = 0.0f;
        for (int e = 0; e < QK_K; e++) /* the first element of largest magnitude, with its sign */
            if (fabsf(x[e]) == amax) {
                max = x[e];
                break;
            }
        float iscale = -127.0f / max;
        float32x4_t vs = vdupq_n_f32(iscale);
        for (int e = 0; e < QK_K; e += 16) {
            int32x4_t q[4];
            for (int k = 0; k < 4; k++)
                q[k] = vmaxq_s32(
                    vminq_s32(vcvtnq_s32_f32(vmulq_f32(vs, vld1q_f32(x + e + 4 * k))), hi), lo);
            int16x8_t l16 = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
            int16x8_t h16 = vcombine_s16(vmovn_s32(q[2]), vmovn_s32(q[3]));
            int8x16_t q8 = vcombine_s8(vmovn_s16(l16), vmovn_s16(h16));
            vst1q_s8(b[i].qs + e, q8);
            b[i].bsums[e / 16] = (int16_t)vaddlvq_s8(q8);
        }
        b[i].d = 1.0f / iscale;
    }
}

void simd_neon_fill(qtype_traits_t t[QT_COUNT], int dotprod)
{
    t[QT_F16].vec_dot = neon_vec_dot_f16;
    t[QT_Q8_0].vec_dot = dotprod ? neon_vec_dot_q8_0_sdot : neon_vec_dot_q8_0_plain;
    t[QT_Q4_0].vec_dot = dotprod ? neon_vec_dot_q4_0_sdot : neon_vec_dot_q4_0_plain;
    t[QT_Q4_K].vec_dot = dotprod ? neon_vec_dot_q4_K_sdot : neon_vec_dot_q4_K_plain;
    t[QT_Q6_K].vec_dot = dotprod ? neon_vec_dot_q6_K_sdot : neon_vec_dot_q6_K_plain;
    t[QT_Q8_0].from_float = simd_neon_quant_row_q8_0;
    t[QT_Q8_1].from_float = neon_quant_row_q8_1;
    t[QT_Q8_K].from_float = neon_quant_row_q8_K;
    simd_neon_fill_legacy(t, dotprod);
    simd_neon_fill_k(t, dotprod);
    simd_neon_fill_packed(t, dotprod);
}

#else /* not AArch64: simd_cpu_features() never reports SIMD_NEON */

void simd_neon_fill(qtype_traits_t t[QT_COUNT], int dotprod)
{
    (void)t;
    (void)dotprod;
}

#endif
