/* quant_legacy.c - scalar reference kernels of the 32-element block types Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0 and Q8_1.
 *
 * Layouts (one block = 32 values, d and m are fp16):
 *   Q4_0  x = d * (q - 8),        q 4 bits: qs[j] low nibble is element j, high nibble j + 16
 *   Q4_1  x = d * q + m,          nibbles as Q4_0
 *   Q5_0  x = d * (q - 16),       low 4 bits as Q4_0, bit 4 of element j is bit j of qh (LE u32)
 *   Q5_1  x = d * q + m,          bits as Q5_0
 *   Q8_0  x = d * q,              q int8
 *   Q8_1  x = d * q,              plus s = d * sum(q), which folds Q4_1/Q5_1's min into one term
 * The quantizers reproduce the GGUF producers' reference rounding bit for bit (including the
 * truncating int8 casts and which element counts as the maximum), so re-quantizing a float model
 * gives the same bytes as the published files. Q8_0 and Q8_1 are also the activation formats of
 * the 32-element types' dot products. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "base/fp16.h"
#include "kernels/quant_impl.h"

/* ---- unpacking to integer levels (shared by dequantization and dot products) ---- */

static void unpack_nibbles(const uint8_t qs[16], int8_t q[32])
{
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)(qs[j] & 0x0f);
        q[j + 16] = (int8_t)(qs[j] >> 4);
    }
}

static void unpack_5bit(const uint8_t qs[16], const uint8_t qh_bytes[4], int8_t q[32])
{
    uint32_t qh;
    memcpy(&qh, qh_bytes, 4);
    unpack_nibbles(qs, q);
    for (int j = 0; j < 32; j++) q[j] = (int8_t)(q[j] | (((qh >> j) & 1) << 4));
}

static int dot32(const int8_t *a, const int8_t *b)
{
    int s = 0;
    for (int j = 0; j < 32; j++) s += a[j] * b[j];
    return s;
}

/* ---- dequantization ---- */

void dequant_row_q4_0(const void *restrict x, float *restrict y, int64_t n)
{
    const block_q4_0 *b = x;
    int8_t q[32];
    for (int64_t i = 0; i < n / QK4_0; i++) {
        float d = fp16_to_fp32(b[i].d);
        unpack_nibbles(b[i].qs, q);
        for (int j = 0; j < 32; j++) y[i * 32 + j] = (float)(q[j] - 8) * d;
    }
}

void dequant_row_q4_1(const void *restrict x, float *restrict y, int64_t n)
{
    const block_q4_1 *b = x;
    int8_t q[32];
    for (int64_t i = 0; i < n / QK4_1; i++) {
        float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
        unpack_nibbles(b[i].qs, q);
        for (int j = 0; j < 32; j++) y[i * 32 + j] = (float)q[j] * d + m;
    }
}

void dequant_row_q5_0(const void *restrict x, float *restrict y, int64_t n)
{
    const block_q5_0 *b = x;
    int8_t q[32];
    for (int64_t i = 0; i < n / QK5_0; i++) {
        float d = fp16_to_fp32(b[i].d);
        unpack_5bit(b[i].qs, b[i].qh, q);
        for (int j = 0; j < 32; j++) y[i * 32 + j] = (float)(q[j] - 16) * d;
    }
}

void dequant_row_q5_1(const void *restrict x, float *restrict y, int64_t n)
{
    const block_q5_1 *b = x;
    int8_t q[32];
    for (int64_t i = 0; i < n / QK5_1; i++) {
        float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
        unpack_5bit(b[i].qs, b[i].qh, q);
        for (int j = 0; j < 32; j++) y[i * 32 + j] = (float)q[j] * d + m;
    }
}

void dequant_row_q8_0(const void *restrict x, float *restrict y, int64_t n)
{
    const block_q8_0 *b = x;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        float d = fp16_to_fp32(b[i].d);
        for (int j = 0; j < 32; j++) y[i * 32 + j] = (float)b[i].qs[j] * d;
    }
}

void dequant_row_q8_1(const void *restrict x, float *restrict y, int64_t n)
{
    const block_q8_1 *b = x;
    for (int64_t i = 0; i < n / QK8_1; i++) {
        float d = fp16_to_fp32(b[i].d);
        for (int j = 0; j < 32; j++) y[i * 32 + j] = (float)b[i].qs[j] * d;
    }
}

/* ---- reference quantizers ---- */

/* The signed value of largest magnitude (the first one on ties) and that magnitude. */
static float signed_absmax(const float *x, int n, float *amax_out)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    *amax_out = amax;
    return max;
}

static void min_max(const float *x, int n, float *min_out, float *max_out)
{
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    *min_out = min;
    *max_out = max;
}

static uint8_t clamp_u8(int8_t v, int hi)
{
    return (uint8_t)(v > hi ? hi : v);
}

void quant_row_q4_0(const float *restrict x, void *restrict y, int64_t n)
{
    block_q4_0 *b = y;
    for (int64_t i = 0; i < n / QK4_0; i++, x += 32) {
        float amax;
        float max = signed_absmax(x, 32, &amax);
        float d = max / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = fp32_to_fp16(d);
        for (int j = 0; j < 16; j++) {
            /* the truncating cast after +8.5 is the reference rounding */
            uint8_t lo = clamp_u8((int8_t)(x[j] * id + 8.5f), 15);
            uint8_t hi = clamp_u8((int8_t)(x[j + 16] * id + 8.5f), 15);
            b[i].qs[j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

void quant_row_q4_1(const float *restrict x, void *restrict y, int64_t n)
{
    block_q4_1 *b = y;
    for (int64_t i = 0; i < n / QK4_1; i++, x += 32) {
        float min, max;
        min_max(x, 32, &min, &max);
        float d = (max - min) / 15.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = fp32_to_fp16(d);
        b[i].m = fp32_to_fp16(min);
        for (int j = 0; j < 16; j++) {
            uint8_t lo = clamp_u8((int8_t)((x[j] - min) * id + 0.5f), 15);
            uint8_t hi = clamp_u8((int8_t)((x[j + 16] - min) * id + 0.5f), 15);
            b[i].qs[j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

/* Packs 32 five-bit values into nibbles + the qh bit mask. */
static void pack_5bit(const uint8_t q[32], uint8_t qs[16], uint8_t qh_bytes[4])
{
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
        qh |= (uint32_t)(q[j] >> 4) << j;
        qh |= (uint32_t)(q[j + 16] >> 4) << (j + 16);
    }
    memcpy(qh_bytes, &qh, 4);
}

void quant_row_q5_0(const float *restrict x, void *restrict y, int64_t n)
{
    block_q5_0 *b = y;
    uint8_t q[32];
    for (int64_t i = 0; i < n / QK5_0; i++, x += 32) {
        float amax;
        float max = signed_absmax(x, 32, &amax);
        float d = max / -16.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = fp32_to_fp16(d);
        for (int j = 0; j < 32; j++) q[j] = clamp_u8((int8_t)(x[j] * id + 16.5f), 31);
        pack_5bit(q, b[i].qs, b[i].qh);
    }
}

void quant_row_q5_1(const float *restrict x, void *restrict y, int64_t n)
{
    block_q5_1 *b = y;
    uint8_t q[32];
    for (int64_t i = 0; i < n / QK5_1; i++, x += 32) {
        float min, max;
        min_max(x, 32, &min, &max);
        float d = (max - min) / 31.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = fp32_to_fp16(d);
        b[i].m = fp32_to_fp16(min);
        for (int j = 0; j < 32; j++) q[j] = clamp_u8((int8_t)((x[j] - min) * id + 0.5f), 31);
        pack_5bit(q, b[i].qs, b[i].qh);
    }
}

void quant_row_q8_0(const float *restrict x, void *restrict y, int64_t n)
{
    block_q8_0 *b = y;
    for (int64_t i = 0; i < n / QK8_0; i++, x += 32) {
        float amax;
        signed_absmax(x, 32, &amax);
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = fp32_to_fp16(d);
        for (int j = 0; j < 32; j++) b[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

void quant_row_q8_1(const float *restrict x, void *restrict y, int64_t n)
{
    block_q8_1 *b = y;
    for (int64_t i = 0; i < n / QK8_1; i++, x += 32) {
        float amax;
        signed_absmax(x, 32, &amax);
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            b[i].qs[j] = (int8_t)roundf(x[j] * id);
            sum += b[i].qs[j];
        }
        b[i].d = fp32_to_fp16(d);
        b[i].s = fp32_to_fp16((float)sum * d);
    }
}

/* ---- dot products ---- */

void vec_dot_q4_0_q8_0(int n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q4_0 *a = x;
    const block_q8_0 *b = y;
    int8_t q[32];
    float sum = 0.0f;
    for (int i = 0; i < n / QK4_0; i++) {
        unpack_nibbles(a[i].qs, q);
        for (int j = 0; j < 32; j++) q[j] = (int8_t)(q[j] - 8);
        sum += (float)dot32(q, b[i].qs) * (fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d));
    }
    *s = sum;
}

void vec_dot_q4_1_q8_1(int n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q4_1 *a = x;
    const block_q8_1 *b = y;
    int8_t q[32];
    float sum = 0.0f;
    for (int i = 0; i < n / QK4_1; i++) {
        unpack_nibbles(a[i].qs, q);
        /* sum((d q + m) * yd yq) = d yd sum(q yq) + m (yd sum(yq)), the last factor is b.s */
        sum += (float)dot32(q, b[i].qs) * (fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d)) +
               fp16_to_fp32(a[i].m) * fp16_to_fp32(b[i].s);
    }
    *s = sum;
}

void vec_dot_q5_0_q8_0(int n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q5_0 *a = x;
    const block_q8_0 *b = y;
    int8_t q[32];
    float sum = 0.0f;
    for (int i = 0; i < n / QK5_0; i++) {
        unpack_5bit(a[i].qs, a[i].qh, q);
        for (int j = 0; j < 32; j++) q[j] = (int8_t)(q[j] - 16);
        sum += (float)dot32(q, b[i].qs) * (fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d));
    }
    *s = sum;
}

void vec_dot_q5_1_q8_1(int n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q5_1 *a = x;
    const block_q8_1 *b = y;
    int8_t q[32];
    float sum = 0.0f;
    for (int i = 0; i < n / QK5_1; i++) {
        unpack_5bit(a[i].qs, a[i].qh, q);
        sum += (float)dot32(q, b[i].qs) * (fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d)) +
               fp16_to_fp32(a[i].m) * fp16_to_fp32(b[i].s);
    }
    *s = sum;
}

void vec_dot_q8_0_q8_0(int n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q8_0 *a = x;
    const block_q8_0 *b = y;
    float sum = 0.0f;
    for (int i = 0; i < n / QK8_0; i++)
        sum += (float)dot32(a[i].qs, b[i].qs) * (fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d));
    *s = sum;
}

void vec_dot_q8_1_q8_1(int n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q8_1 *a = x;
    const block_q8_1 *b = y;
    float sum = 0.0f;
    for (int i = 0; i < n / QK8_1; i++)
        sum += (float)dot32(a[i].qs, b[i].qs) * (fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d));
    *s = sum;
}
