/* quant_pack.h - the packed layouts the x86 kernel sets share (plain C: packing happens once, at
 * load, and the kernels that read the layouts live in simd_avx2_pack.c and simd_avx512_pack.c).
 *
 * A group is QT_PACK_ROWS = 16 rows. Q4_0 and Q8_0: for each 32-element block, the 16 rows'
 * fp16 scales (32 bytes), then 64-byte vectors whose 32-bit lane r holds 4 consecutive quant
 * bytes of row r (4 vectors for Q4_0, 8 for Q8_0), so a block of 16 rows is 288 or 544
 * contiguous bytes, as many as the unpacked rows. F16: element i of the 16 rows side by side
 * (32 bytes per element). Activations for the Q4_0/Q8_0 kernels: per block the scale as a float,
 * -offset x the sum of the quants, and the 32 quants (the reference Q8_0 quantizer's). */
#ifndef UH_KERNELS_QUANT_PACK_H
#define UH_KERNELS_QUANT_PACK_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    float d;
    int32_t c; /* -offset * sum(qs) */
    int8_t qs[32];
} block_act32;
_Static_assert(sizeof(block_act32) == 40, "block_act32 size");

#define PACK_Q4_0_BLOCK (16 * 2 + 16 * 16) /* 288 */
#define PACK_Q8_0_BLOCK (16 * 2 + 16 * 32) /* 544 */

size_t pack_q4_0_group_bytes(int n);
size_t pack_q8_0_group_bytes(int n);
size_t pack_f16_group_bytes(int n);
size_t pack_act32_row_bytes(int n); /* n / 32 block_act32 */
size_t pack_f32_row_bytes(int n);

void pack_q4_0_rows(int n, const void *restrict x, size_t x_stride, void *restrict dst);
/* Each quant byte XOR flip: 0x80 stores Q8_0's w + 128 (unsigned, for VPDPBUSD), 0 keeps it. */
void pack_q8_0_rows(int n, const void *restrict x, size_t x_stride, void *restrict dst,
                    uint8_t flip);
void pack_f16_rows(int n, const void *restrict x, size_t x_stride, void *restrict dst);
/* Float activations as they are (the F16 kernels' format). */
void pack_act_f32(const float *restrict x, void *restrict y, int n);

#endif
