/* quant_float.c - scalar reference kernels of the plain float types F32, F16 and BF16.
 *
 * Their dot products take F32 activations: the weight row is widened on the fly and the
 * activations are never rounded, so these types add no activation error. Accumulation uses eight
 * independent float partial sums, the shape a SIMD kernel has, so the SIMD versions can be held
 * to a tight tolerance against these. */
#include <string.h>

#include "base/fp16.h"
#include "kernels/quant_impl.h"

void dequant_row_f32(const void *restrict x, float *restrict y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

void dequant_row_f16(const void *restrict x, float *restrict y, int64_t n)
{
    const uint8_t *p = x;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2); /* rows of 2-byte types need not be 4-byte aligned */
        y[i] = fp16_to_fp32(h);
    }
}

void dequant_row_bf16(const void *restrict x, float *restrict y, int64_t n)
{
    const uint8_t *p = x;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        y[i] = bf16_to_fp32(h);
    }
}

void quant_row_f32(const float *restrict x, void *restrict y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

void quant_row_f16(const float *restrict x, void *restrict y, int64_t n)
{
    uint8_t *p = y;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = fp32_to_fp16(x[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

void quant_row_bf16(const float *restrict x, void *restrict y, int64_t n)
{
    uint8_t *p = y;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = fp32_to_bf16(x[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

/* Sums the eight lanes pairwise, as a SIMD horizontal add does. */
static float sum_lanes(const float acc[8])
{
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

void vec_dot_f32_f32(int n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const float *a = x, *b = y;
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    for (; i < n; i++) acc[0] += a[i] * b[i];
    *s = sum_lanes(acc);
}

void vec_dot_f16_f32(int n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const uint8_t *a = x;
    const float *b = y;
    float acc[8] = {0};
    for (int i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, a + 2 * i, 2);
        acc[i & 7] += fp16_to_fp32(h) * b[i];
    }
    *s = sum_lanes(acc);
}

void vec_dot_bf16_f32(int n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const uint8_t *a = x;
    const float *b = y;
    float acc[8] = {0};
    for (int i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, a + 2 * i, 2);
        acc[i & 7] += bf16_to_fp32(h) * b[i];
    }
    *s = sum_lanes(acc);
}
