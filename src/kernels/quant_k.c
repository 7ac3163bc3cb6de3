/* quant_k.c - scalar reference kernels of the 256-element super-block types Q2_K, Q3_K, Q4_K,
 * Q5_K, Q6_K and the activation type Q8_K.
 *
 * Layouts (element e of a super-block; d, dmin fp16 unless noted):
 *   Q2_K  16 sub-blocks of 16: x = d*(sc&15)*q - dmin*(sc>>4), sc = scales[e/16], q 2 bits at
 *         qs[(e/128)*32 + e%32] >> (2*((e/32)%4))
 *   Q3_K  16 sub-blocks of 16: x = d*(s-32)*(q-4), s a 6-bit scale (low 4 bits in scales[0..7],
 *         the high 2 bits in scales[8..11]), q = low 2 bits as Q2_K | bit (e/32) of hmask[e%32]<<2
 *   Q4_K  8 sub-blocks of 32: x = d*sc*q - dmin*m, 6-bit sc/m packed in 12 bytes, q nibbles:
 *         qs[(e/64)*32 + e%32], low nibble for the first 32 of each 64, high for the second
 *   Q5_K  as Q4_K plus bit 4 of q in bit (e/32) of qh[e%32]
 *   Q6_K  16 sub-blocks of 16: x = d*scales[e/16]*(q-32), q = 4 bits of ql | 2 bits of qh
 *   Q8_K  float d, x = d*q, q int8, bsums = sums of 16 consecutive q (for the min terms)
 * Every type is unpacked to integer levels, scales and mins first; dequantization and the dot
 * product share that one unpacking, so a layout mistake shows in both. The weight quantizers
 * search scales with quant_search.c and pack the result. */
#include <math.h>
#include <string.h>

#include "base/fp16.h"
#include "kernels/quant_impl.h"

/* One super-block in unpacked form: x[e] = d*sc[j]*q[e] - dmin*m[j], j = e / sub_len. */
typedef struct {
    int8_t q[QK_K];
    int sc[16];
    int m[16];
    float d, dmin;
    int sub_len;
} kblock;

void quant_get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

static void put_scale_min_k4(int j, uint8_t sc, uint8_t m, uint8_t *q)
{
    if (j < 4) {
        q[j] = (uint8_t)((q[j] & 0xc0) | sc);
        q[j + 4] = (uint8_t)((q[j + 4] & 0xc0) | m);
    } else {
        q[j + 4] = (uint8_t)((sc & 0x0f) | ((m & 0x0f) << 4));
        q[j - 4] = (uint8_t)((q[j - 4] & 0x3f) | ((sc >> 4) << 6));
        q[j] = (uint8_t)((q[j] & 0x3f) | ((m >> 4) << 6));
    }
}

/* 2-bit field of element e in the Q2_K/Q3_K qs array. */
static int qs2_index(int e)
{
    return (e / 128) * 32 + e % 32;
}
static int qs2_shift(int e)
{
    return 2 * ((e / 32) % 4);
}

static void unpack_q2_K(const block_q2_K *b, kblock *k)
{
    k->d = fp16_to_fp32(b->d);
    k->dmin = fp16_to_fp32(b->dmin);
    k->sub_len = 16;
    for (int j = 0; j < 16; j++) {
        k->sc[j] = b->scales[j] & 0x0f;
        k->m[j] = b->scales[j] >> 4;
    }
    for (int e = 0; e < QK_K; e++) k->q[e] = (int8_t)((b->qs[qs2_index(e)] >> qs2_shift(e)) & 3);
}

static int q3_scale(const uint8_t s[12], int j)
{
    int lo = j < 8 ? s[j] & 0x0f : s[j - 8] >> 4;
    int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

static void unpack_q3_K(const block_q3_K *b, kblock *k)
{
    k->d = fp16_to_fp32(b->d);
    k->dmin = 0.0f;
    k->sub_len = 16;
    for (int j = 0; j < 16; j++) {
        k->sc[j] = q3_scale(b->scales, j);
        k->m[j] = 0;
    }
    for (int e = 0; e < QK_K; e++) {
        int lo = (b->qs[qs2_index(e)] >> qs2_shift(e)) & 3;
        int hi = (b->hmask[e % 32] >> (e / 32)) & 1;
        k->q[e] = (int8_t)((lo | (hi << 2)) - 4);
    }
}

static void unpack_q4_K(const block_q4_K *b, kblock *k)
{
    k->d = fp16_to_fp32(b->d);
    k->dmin = fp16_to_fp32(b->dmin);
    k->sub_len = 32;
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        quant_get_scale_min_k4(j, b->scales, &sc, &m);
        k->sc[j] = sc;
        k->m[j] = m;
    }
    for (int e = 0; e < QK_K; e++) {
        uint8_t byte = b->qs[(e / 64) * 32 + e % 32];
        k->q[e] = (int8_t)((e % 64) < 32 ? byte & 0x0f : byte >> 4);
    }
}

static void unpack_q5_K(const block_q5_K *b, kblock *k)
{
    k->d = fp16_to_fp32(b->d);
    k->dmin = fp16_to_fp32(b->dmin);
    k->sub_len = 32;
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        quant_get_scale_min_k4(j, b->scales, &sc, &m);
        k->sc[j] = sc;
        k->m[j] = m;
    }
    for (int e = 0; e < QK_K; e++) {
        uint8_t byte = b->qs[(e / 64) * 32 + e % 32];
        int lo = (e % 64) < 32 ? byte & 0x0f : byte >> 4;
        int hi = (b->qh[e % 32] >> (e / 32)) & 1;
        k->q[e] = (int8_t)(lo | (hi << 4));
    }
}

/* Q6_K: within each half of 128, element l (0..127) takes its low nibble from
 * ql[half*64 + l%64] (low nibble for l < 64, high for l >= 64) and its high 2 bits from
 * qh[half*32 + l%32] >> (2*(l/32)). */
static void unpack_q6_K(const block_q6_K *b, kblock *k)
{
    k->d = fp16_to_fp32(b->d);
    k->dmin = 0.0f;
    k->sub_len = 16;
    for (int j = 0; j < 16; j++) {
        k->sc[j] = b->scales[j];
        k->m[j] = 0;
    }
    for (int e = 0; e < QK_K; e++) {
        int half = e / 128, l = e % 128;
        uint8_t lbyte = b->ql[half * 64 + l % 64];
        int lo = l < 64 ? lbyte & 0x0f : lbyte >> 4;
        int hi = (b->qh[half * 32 + l % 32] >> (2 * (l / 32))) & 3;
        k->q[e] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

static void kblock_to_float(const kblock *k, float *y)
{
    for (int e = 0; e < QK_K; e++) {
        int j = e / k->sub_len;
        float dl = k->d * (float)k->sc[j];
        float ml = k->dmin * (float)k->m[j];
        y[e] = dl * (float)k->q[e] - ml;
    }
}

/* dot(k, b): integer sums per sub-block, the min term through b's 16-element bsums. */
static float kblock_dot(const kblock *k, const block_q8_K *b)
{
    int sumi = 0;
    for (int j = 0; j < QK_K / k->sub_len; j++) {
        int s = 0;
        for (int e = j * k->sub_len; e < (j + 1) * k->sub_len; e++) s += k->q[e] * b->qs[e];
        sumi += k->sc[j] * s;
    }
    int summ = 0;
    if (k->dmin != 0.0f) {
        for (int g = 0; g < 16; g++) summ += k->m[g * 16 / k->sub_len] * b->bsums[g];
    }
    return b->d * (k->d * (float)sumi) - b->d * (k->dmin * (float)summ);
}

#define DEFINE_K_KERNELS(T)                                                                        \
    void dequant_row_##T(const void *restrict x, float *restrict y, int64_t n)                     \
    {                                                                                              \
        const block_##T *b = x;                                                                    \
        kblock k;                                                                                  \
        for (int64_t i = 0; i < n / QK_K; i++) {                                                   \
            unpack_##T(&b[i], &k);                                                                 \
            kblock_to_float(&k, y + i * QK_K);                                                     \
        }                                                                                          \
    }                                                                                              \
    void vec_dot_##T##_q8_K(int n, float *restrict s, const void *restrict x,                      \
                            const void *restrict y)                                                \
    {                                                                                              \
        const block_##T *a = x;                                                                    \
        const block_q8_K *b = y;                                                                   \
        kblock k;                                                                                  \
        float sum = 0.0f;                                                                          \
        for (int i = 0; i < n / QK_K; i++) {                                                       \
            unpack_##T(&a[i], &k);                                                                 \
            sum += kblock_dot(&k, &b[i]);                                                          \
        }                                                                                          \
        *s = sum;                                                                                  \
    }

DEFINE_K_KERNELS(q2_K)
DEFINE_K_KERNELS(q3_K)
DEFINE_K_KERNELS(q4_K)
DEFINE_K_KERNELS(q5_K)
DEFINE_K_KERNELS(q6_K)

/* ---- Q8_K: the activation format of the K-quants ---- */

void dequant_row_q8_K(const void *restrict x, float *restrict y, int64_t n)
{
    const block_q8_K *b = x;
    for (int64_t i = 0; i < n / QK_K; i++)
        for (int e = 0; e < QK_K; e++) y[i * QK_K + e] = b[i].d * (float)b[i].qs[e];
}

/* The largest-magnitude value maps to -127 (its sign folded into d), the rest round to nearest
 * even; bsums let the K-quant dots apply sub-block mins without touching the quants again. */
void quant_row_q8_K(const float *restrict x, void *restrict y, int64_t n)
{
    block_q8_K *b = y;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = 0.0f, max = 0.0f;
        for (int e = 0; e < QK_K; e++) {
            if (fabsf(x[e]) > amax) {
                amax = fabsf(x[e]);
                max = x[e];
            }
        }
        memset(b[i].bsums, 0, sizeof(b[i].bsums));
        if (amax == 0.0f) {
            b[i].d = 0.0f;
            memset(b[i].qs, 0, sizeof(b[i].qs));
            continue;
        }
        float iscale = -127.0f / max;
        for (int e = 0; e < QK_K; e++) {
            int v = quant_nearest_int(iscale * x[e]);
            b[i].qs[e] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
            b[i].bsums[e / 16] = (int16_t)(b[i].bsums[e / 16] + b[i].qs[e]);
        }
        b[i].d = 1.0f / iscale;
    }
}

void vec_dot_q8_K_q8_K(int n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q8_K *a = x;
    const block_q8_K *b = y;
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        int si = 0;
        for (int e = 0; e < QK_K; e++) si += a[i].qs[e] * b[i].qs[e];
        sum += a[i].d * b[i].d * (float)si;
    }
    *s = sum;
}

/* ---- weight quantizers: scale search (quant_search.c), then packing ---- */

static const float levels_0_63[64] = {
    0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
    22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43,
    44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63};
static const float levels_m4_3[8] = {-4, -3, -2, -1, 0, 1, 2, 3};
static const float levels_m32_31[64] = {
    -32, -31, -30, -29, -28, -27, -26, -25, -24, -23, -22, -21, -20, -19, -18, -17,
    -16, -15, -14, -13, -12, -11, -10, -9,  -8,  -7,  -6,  -5,  -4,  -3,  -2,  -1,
    0,   1,   2,   3,   4,   5,   6,   7,   8,   9,   10,  11,  12,  13,  14,  15,
    16,  17,  18,  19,  20,  21,  22,  23,  24,  25,  26,  27,  28,  29,  30,  31};

void quant_row_q2_K(const float *restrict x, void *restrict y, int64_t n)
{
    const qsearch_spec sp = {16, 16, levels_0_63, 4, 1, 1, 0, 15, 15};
    block_q2_K *b = y;
    qsearch_result r;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        qsearch_superblock(x, &sp, &r);
        memset(&b[i], 0, sizeof(b[i]));
        b[i].d = fp32_to_fp16(r.d);
        b[i].dmin = fp32_to_fp16(r.dmin);
        for (int j = 0; j < 16; j++) b[i].scales[j] = (uint8_t)(r.sc[j] | (r.m[j] << 4));
        for (int e = 0; e < QK_K; e++) b[i].qs[qs2_index(e)] |= (uint8_t)(r.L[e] << qs2_shift(e));
    }
}

void quant_row_q3_K(const float *restrict x, void *restrict y, int64_t n)
{
    const qsearch_spec sp = {16, 16, levels_m4_3, 8, 1, 0, -32, 31, 0};
    block_q3_K *b = y;
    qsearch_result r;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        qsearch_superblock(x, &sp, &r);
        memset(&b[i], 0, sizeof(b[i]));
        b[i].d = fp32_to_fp16(r.d);
        for (int j = 0; j < 16; j++) {
            int s = r.sc[j] + 32;
            if (j < 8)
                b[i].scales[j] |= (uint8_t)(s & 0x0f);
            else
                b[i].scales[j - 8] |= (uint8_t)((s & 0x0f) << 4);
            b[i].scales[8 + j % 4] |= (uint8_t)((s >> 4) << (2 * (j / 4)));
        }
        for (int e = 0; e < QK_K; e++) {
            b[i].qs[qs2_index(e)] |= (uint8_t)((r.L[e] & 3) << qs2_shift(e));
            b[i].hmask[e % 32] |= (uint8_t)((r.L[e] >> 2) << (e / 32));
        }
    }
}

static void pack_q4_K_common(const qsearch_result *r, uint16_t *d, uint16_t *dmin,
                             uint8_t scales[K_SCALE_SIZE], uint8_t qs[QK_K / 2])
{
    *d = fp32_to_fp16(r->d);
    *dmin = fp32_to_fp16(r->dmin);
    memset(scales, 0, K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) put_scale_min_k4(j, (uint8_t)r->sc[j], (uint8_t)r->m[j], scales);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            qs[c * 32 + l] =
                (uint8_t)((r->L[c * 64 + l] & 0x0f) | ((r->L[c * 64 + 32 + l] & 0x0f) << 4));
}

void quant_row_q4_K(const float *restrict x, void *restrict y, int64_t n)
{
    const qsearch_spec sp = {8, 32, levels_0_63, 16, 1, 1, 0, 63, 63};
    block_q4_K *b = y;
    qsearch_result r;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        qsearch_superblock(x, &sp, &r);
        pack_q4_K_common(&r, &b[i].d, &b[i].dmin, b[i].scales, b[i].qs);
    }
}

void quant_row_q5_K(const float *restrict x, void *restrict y, int64_t n)
{
    const qsearch_spec sp = {8, 32, levels_0_63, 32, 1, 1, 0, 63, 63};
    block_q5_K *b = y;
    qsearch_result r;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        qsearch_superblock(x, &sp, &r);
        pack_q4_K_common(&r, &b[i].d, &b[i].dmin, b[i].scales, b[i].qs);
        memset(b[i].qh, 0, sizeof(b[i].qh));
        for (int e = 0; e < QK_K; e++) b[i].qh[e % 32] |= (uint8_t)((r.L[e] >> 4) << (e / 32));
    }
}

void quant_row_q6_K(const float *restrict x, void *restrict y, int64_t n)
{
    const qsearch_spec sp = {16, 16, levels_m32_31, 64, 1, 0, -128, 127, 0};
    block_q6_K *b = y;
    qsearch_result r;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        qsearch_superblock(x, &sp, &r);
        memset(&b[i], 0, sizeof(b[i]));
        b[i].d = fp32_to_fp16(r.d);
        for (int j = 0; j < 16; j++) b[i].scales[j] = (int8_t)r.sc[j];
        for (int e = 0; e < QK_K; e++) {
            int half = e / 128, l = e % 128;
            int lo = r.L[e] & 0x0f, hi = r.L[e] >> 4;
            b[i].ql[half * 64 + l % 64] |= (uint8_t)(l < 64 ? lo : lo << 4);
            b[i].qh[half * 32 + l % 32] |= (uint8_t)(hi << (2 * (l / 32)));
        }
    }
}
