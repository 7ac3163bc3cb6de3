/* simd_neon_legacy.c - AArch64 AdvSIMD dots for the types simd_neon.c leaves to the scalar
 * table: Q4_1, Q5_0, Q5_1 and IQ4_NL against Q8_1 / Q8_0 activations (integer dots, each in a
 * plain and an SDOT variant), and F32 and BF16 against float activations.
 *
 * Each integer kernel is written once, as an always-inline body that takes the 16-byte dot as a
 * function argument; the two wrappers NEON_DOT_VARIANTS (simd_neon_int.h) makes from it pass a
 * constant (dot_plain or dot_sdot), so after inlining each wrapper holds straight-line code for
 * its instruction set and the SDOT one alone carries the "+dotprod" target attribute. A block's weights are unpacked to two int8x16 registers in
 * activation order (elements 0..15 from the low nibbles, 16..31 from the high ones), exactly the
 * levels of the scalar unpack in quant_legacy.c / quant_iq4.c; the int32 dot is then scaled in
 * float as the reference does, so results differ from it only in float summation order. */
#include "kernels/quant_impl.h"
#include "kernels/simd.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include "base/fp16.h"

#include "kernels/simd_neon_int.h" /* without NK: dot_plain, dot_sdot, NEON_DOTPROD */

/* ---- unpacking one 32-element block ---- */

/* The 16 bytes of qs as nibble values 0..15: elements 0..15 low, 16..31 high. Below 128, so they
 * are also valid signed bytes. */
static inline void nibbles(const uint8_t qs[16], uint8x16_t *lo, uint8x16_t *hi)
{
    uint8x16_t v = vld1q_u8(qs);
    *lo = vandq_u8(v, vdupq_n_u8(15));
    *hi = vshrq_n_u8(v, 4);
}

/* Q5's fifth bits as byte masks (0xff where element j's bit j of qh is set): each qh byte is
 * copied into 8 lanes, and lane k tests bit k % 8. */
static inline void high_bit_masks(const uint8_t qh[4], uint8x16_t *lo, uint8x16_t *hi)
{
    static const uint8_t idx_lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t idx_hi[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint32_t w;
    memcpy(&w, qh, 4);
    uint8x16_t t = vreinterpretq_u8_u32(vdupq_n_u32(w));
    uint8x16_t b = vld1q_u8(bits);
    *lo = vtstq_u8(vqtbl1q_u8(t, vld1q_u8(idx_lo)), b);
    *hi = vtstq_u8(vqtbl1q_u8(t, vld1q_u8(idx_hi)), b);
}

/* Q5_0 levels q - 16 for q = nibble | bit << 4: with the bit set that is the nibble itself; with
 * it clear, nibble - 16, which as a byte is the nibble with 0xf0 set. */
static inline int8x16_t q5_0_levels(uint8x16_t nib, uint8x16_t mask)
{
    return vreinterpretq_s8_u8(vorrq_u8(nib, vbicq_u8(vdupq_n_u8(0xf0), mask)));
}

/* Q5_1 levels 0..31, valid signed bytes. */
static inline int8x16_t q5_1_levels(uint8x16_t nib, uint8x16_t mask)
{
    return vreinterpretq_s8_u8(vorrq_u8(nib, vandq_u8(mask, vdupq_n_u8(0x10))));
}

/* ---- integer dot bodies, instantiated below for each dot instruction ---- */

/* Q4_1 and Q5_1 against Q8_1: d yd sum(q yq) + m s, where Q8_1's s already holds yd sum(yq). */
static inline __attribute__((always_inline)) void
q4_1_dot(int n, float *restrict s, const void *restrict x, const void *restrict y, neon_dot_fn dot)
{
    const block_q4_1 *a = x;
    const block_q8_1 *b = y;
    float32x4_t acc = vdupq_n_f32(0.0f);
    float mins = 0.0f;
    for (int i = 0; i < n / QK4_1; i++) {
        uint8x16_t lo, hi;
        nibbles(a[i].qs, &lo, &hi);
        int32x4_t p = dot(vdupq_n_s32(0), vreinterpretq_s8_u8(lo), vld1q_s8(b[i].qs));
        p = dot(p, vreinterpretq_s8_u8(hi), vld1q_s8(b[i].qs + 16));
        float d = fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d);
        acc = vfmaq_f32(acc, vcvtq_f32_s32(p), vdupq_n_f32(d));
        mins += fp16_to_fp32(a[i].m) * fp16_to_fp32(b[i].s);
    }
    *s = vaddvq_f32(acc) + mins;
}

static inline __attribute__((always_inline)) void
q5_1_dot(int n, float *restrict s, const void *restrict x, const void *restrict y, neon_dot_fn dot)
{
    const block_q5_1 *a = x;
    const block_q8_1 *b = y;
    float32x4_t acc = vdupq_n_f32(0.0f);
    float mins = 0.0f;
    for (int i = 0; i < n / QK5_1; i++) {
        uint8x16_t lo, hi, mlo, mhi;
        nibbles(a[i].qs, &lo, &hi);
        high_bit_masks(a[i].qh, &mlo, &mhi);
        int32x4_t p = dot(vdupq_n_s32(0), q5_1_levels(lo, mlo), vld1q_s8(b[i].qs));
        p = dot(p, q5_1_levels(hi, mhi), vld1q_s8(b[i].qs + 16));
        float d = fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d);
        acc = vfmaq_f32(acc, vcvtq_f32_s32(p), vdupq_n_f32(d));
        mins += fp16_to_fp32(a[i].m) * fp16_to_fp32(b[i].s);
    }
    *s = vaddvq_f32(acc) + mins;
}

static inline __attribute__((always_inline)) void
q5_0_dot(int n, float *restrict s, const void *restrict x, const void *restrict y, neon_dot_fn dot)
{
    const block_q5_0 *a = x;
    const block_q8_0 *b = y;
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int i = 0; i < n / QK5_0; i++) {
        uint8x16_t lo, hi, mlo, mhi;
        nibbles(a[i].qs, &lo, &hi);
        high_bit_masks(a[i].qh, &mlo, &mhi);
        int32x4_t p = dot(vdupq_n_s32(0), q5_0_levels(lo, mlo), vld1q_s8(b[i].qs));
        p = dot(p, q5_0_levels(hi, mhi), vld1q_s8(b[i].qs + 16));
        float d = fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d);
        acc = vfmaq_f32(acc, vcvtq_f32_s32(p), vdupq_n_f32(d));
    }
    *s = vaddvq_f32(acc);
}

/* IQ4_NL: each nibble indexes the 16 non-linear levels, one TBL per 16 elements. */
static inline __attribute__((always_inline)) void iq4_nl_dot(int n, float *restrict s,
                                                             const void *restrict x,
                                                             const void *restrict y,
                                                             neon_dot_fn dot)
{
    const block_iq4_nl *a = x;
    const block_q8_0 *b = y;
    const int8x16_t levels = vld1q_s8(kvalues_iq4nl);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int i = 0; i < n / QK4_NL; i++) {
        uint8x16_t lo, hi;
        nibbles(a[i].qs, &lo, &hi);
        int32x4_t p = dot(vdupq_n_s32(0), vqtbl1q_s8(levels, lo), vld1q_s8(b[i].qs));
        p = dot(p, vqtbl1q_s8(levels, hi), vld1q_s8(b[i].qs + 16));
        float d = fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d);
        acc = vfmaq_f32(acc, vcvtq_f32_s32(p), vdupq_n_f32(d));
    }
    *s = vaddvq_f32(acc);
}

NEON_DOT_VARIANTS(q4_1)
NEON_DOT_VARIANTS(q5_0)
NEON_DOT_VARIANTS(q5_1)
NEON_DOT_VARIANTS(iq4_nl)

/* ---- float dots ---- */

/* F32: four accumulators of 4 lanes hide the FMA latency; then 4 at a time, then single. */
static void neon_vec_dot_f32(int n, float *restrict s, const void *restrict x,
                             const void *restrict y)
{
    const float *a = x;
    const float *b = y;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
        acc1 = vfmaq_f32(acc1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        acc2 = vfmaq_f32(acc2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        acc3 = vfmaq_f32(acc3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4) acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
    for (; i < n; i++) sum += a[i] * b[i];
    *s = sum;
}

/* BF16: a bf16 is the top half of an fp32, so widening by a 16-bit left shift (USHLL) converts
 * it exactly. The row is 2-byte aligned at best, which vld1q_u16 accepts. */
static void neon_vec_dot_bf16(int n, float *restrict s, const void *restrict x,
                              const void *restrict y)
{
    const uint16_t *a = x;
    const float *b = y;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        uint16x8_t h = vld1q_u16(a + i);
        float32x4_t w0 = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
        float32x4_t w1 = vreinterpretq_f32_u32(vshll_high_n_u16(h, 16));
        acc0 = vfmaq_f32(acc0, w0, vld1q_f32(b + i));
        acc1 = vfmaq_f32(acc1, w1, vld1q_f32(b + i + 4));
    }
    float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
    for (; i < n; i++) sum += bf16_to_fp32(a[i]) * b[i];
    *s = sum;
}

void simd_neon_fill_legacy(qtype_traits_t t[QT_COUNT], int dotprod)
{
    t[QT_F32].vec_dot = neon_vec_dot_f32;
    t[QT_BF16].vec_dot = neon_vec_dot_bf16;
    t[QT_Q4_1].vec_dot = dotprod ? neon_vec_dot_q4_1_sdot : neon_vec_dot_q4_1_plain;
    t[QT_Q5_0].vec_dot = dotprod ? neon_vec_dot_q5_0_sdot : neon_vec_dot_q5_0_plain;
    t[QT_Q5_1].vec_dot = dotprod ? neon_vec_dot_q5_1_sdot : neon_vec_dot_q5_1_plain;
    t[QT_IQ4_NL].vec_dot = dotprod ? neon_vec_dot_iq4_nl_sdot : neon_vec_dot_iq4_nl_plain;
}

#else /* not AArch64: simd_cpu_features() never reports SIMD_NEON */

void simd_neon_fill_legacy(qtype_traits_t t[QT_COUNT], int dotprod)
{
    (void)t;
    (void)dotprod;
}

#endif
