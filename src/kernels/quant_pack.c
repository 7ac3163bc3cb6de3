/* quant_pack.c - the packed layouts of quant_pack.h. */
#include "kernels/quant_pack.h"

#include <string.h>

#include "kernels/qtypes.h"

#define PR QT_PACK_ROWS
_Static_assert(QT_PACK_ROWS == 16, "the layouts are spelled for 16 rows");

size_t pack_q4_0_group_bytes(int n) { return (size_t)(n / 32) * PACK_Q4_0_BLOCK; }
size_t pack_q8_0_group_bytes(int n) { return (size_t)(n / 32) * PACK_Q8_0_BLOCK; }
size_t pack_f16_group_bytes(int n) { return (size_t)n * PR * 2; }
size_t pack_act32_row_bytes(int n) { return (size_t)(n / 32) * sizeof(block_act32); }
size_t pack_f32_row_bytes(int n) { return (size_t)n * sizeof(float); }

void pack_q4_0_rows(int n, const void *restrict x, size_t x_stride, void *restrict dst)
{
    uint8_t *o = dst;
    for (int b = 0; b < n / 32; b++, o += PACK_Q4_0_BLOCK) {
        for (int r = 0; r < PR; r++) {
            const block_q4_0 *src = (const block_q4_0 *)((const uint8_t *)x + r * x_stride) + b;
            memcpy(o + 2 * r, &src->d, 2);
            for (int k = 0; k < 4; k++) memcpy(o + 2 * PR + 64 * k + 4 * r, src->qs + 4 * k, 4);
        }
    }
}

void pack_q8_0_rows(int n, const void *restrict x, size_t x_stride, void *restrict dst,
                    uint8_t flip)
{
    uint8_t *o = dst;
    for (int b = 0; b < n / 32; b++, o += PACK_Q8_0_BLOCK) {
        for (int r = 0; r < PR; r++) {
            const block_q8_0 *src = (const block_q8_0 *)((const uint8_t *)x + r * x_stride) + b;
            memcpy(o + 2 * r, &src->d, 2);
            for (int k = 0; k < 8; k++)
                for (int e = 0; e < 4; e++)
                    o[2 * PR + 64 * k + 4 * r + e] = (uint8_t)((uint8_t)src->qs[4 * k + e] ^ flip);
        }
    }
}

void pack_f16_rows(int n, const void *restrict x, size_t x_stride, void *restrict dst)
{
    uint16_t *o = dst;
    for (int r = 0; r < PR; r++) {
        const uint16_t *src = (const uint16_t *)((const uint8_t *)x + r * x_stride);
        for (int i = 0; i < n; i++) o[(size_t)i * PR + r] = src[i];
    }
}

void pack_act_f32(const float *restrict x, void *restrict y, int n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}
