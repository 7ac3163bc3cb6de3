/* simd_neon_pack.c - packed (row-interleaved) Q4_0, Q8_0 and F16 weights for AArch64 AdvSIMD.
 *
 * Layout (see qt_packed_kernels in qtypes.h). A 128-bit register holds 4 rows, one per 32-bit
 * lane, so a group of QT_PACK_ROWS = 16 rows is four quads of 4 rows. 32 registers cannot hold
 * 16 rows' sums for 8 tokens (32 vectors by themselves), so the kernels take one quad at a time
 * over the whole row, and each quad's blocks lie in one sequential run:
 *   - Q4_0 / Q8_0: first the quants of quad 0 block 0, 1, ..., then quad 1's, ..., quad 3's;
 *     then the fp16 scales the same way (4 per quad and block, 8 bytes). A quad's block of
 *     quants is 4 (Q4_0) or 8 (Q8_0) vectors whose lane r holds 4 consecutive quant bytes of row
 *     r: vector k holds bytes 4k..4k+3 (Q8_0: elements 4k..4k+3; Q4_0: low nibbles elements
 *     4k..4k+3, high nibbles 16+4k..16+4k+3). Q4_0 bytes are stored xor 0x88, so each nibble is
 *     its level minus 8 as a 4-bit two's complement number.
 *     Per 16 rows and block that is 288 (Q4_0) or 544 (Q8_0) bytes, the same as the original
 *     rows; the quants, the bulk of the stream, stay 16-byte aligned because the scales are apart.
 *   - F16: per quad and 4 elements i..i+3, element i of the 4 rows, then i+1, i+2, i+3 (32
 *     bytes); the row length is padded to a multiple of 4 with zero weights.
 *
 * The integer dot by lane adds, in lane r, the 4 signed weight bytes of row r times the 4
 * activation bytes picked by the lane index: the broadcast this layout needs, signed by signed,
 * so no offset correction. Q4_0 nibbles need one instruction each: shifting left by 4 gives the
 * low level times 16, masking with 0xf0 the high level times 16, both exact in a signed byte;
 * the block's integer sum is then 16 times the true one and the fixed-point conversion (4
 * fraction bits) divides it back exactly. One conversion and one FMA per quad, block and token
 * apply both scales.
 *
 * Activations: per 32-element block the 32 int8 quants and the scale as a float (36 bytes), the
 * quants and scale of the reference Q8_0 quantizer; for F16 the floats, zero-padded like the
 * weights. Every output is summed in the same order for any number of tokens, so decode (one
 * token) and batches give bit-identical results. */
#include "kernels/quant_impl.h"
#include "kernels/simd.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include "base/fp16.h"

/* GCC's scheduling before register allocation hoists every token's loads and scale products to
 * the top of the block, which needs more than the 32 vector registers and spills in the 8-token
 * loop; without it the loops keep everything in registers. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-schedule-insns")
#endif

#define PR      QT_PACK_ROWS
#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

typedef struct {
    int8_t qs[32];
    float d;
} block_act;
_Static_assert(sizeof(block_act) == 36, "block_act size");

#define Q4_QUAD 64 /* quant bytes of one quad and block */
#define Q8_QUAD 128

static size_t q4_0_group_bytes(int n) { return (size_t)(n / 32) * (4 * Q4_QUAD + 4 * 8); }
static size_t q8_0_group_bytes(int n) { return (size_t)(n / 32) * (4 * Q8_QUAD + 4 * 8); }
static size_t act_row_bytes(int n) { return (size_t)(n / 32) * sizeof(block_act); }

/* qb: quant bytes per quad and block (16 of them per row); flip: xor applied to each byte. */
static void pack_q_0(int n, const void *restrict x, size_t x_stride, void *restrict dst,
                     size_t type_size, size_t qb, uint8_t flip)
{
    const int nb = n / 32;
    uint8_t *quants = dst, *scales = quants + (size_t)nb * 4 * qb;
    for (int r = 0; r < PR; r++) {
        const uint8_t *row = (const uint8_t *)x + r * x_stride;
        const int q = r / 4, lane = r % 4;
        for (int b = 0; b < nb; b++) {
            const uint8_t *src = row + (size_t)b * type_size; /* fp16 scale, then the quants */
            uint8_t *o = quants + ((size_t)q * nb + b) * qb;
            for (size_t k = 0; k < qb / 16; k++)
                for (int e = 0; e < 4; e++) o[16 * k + 4 * lane + e] = src[2 + 4 * k + e] ^ flip;
            memcpy(scales + ((size_t)q * nb + b) * 8 + 2 * lane, src, 2);
        }
    }
}

static void pack_q4_0(int n, const void *restrict x, size_t x_stride, void *restrict dst)
{
    pack_q_0(n, x, x_stride, dst, sizeof(block_q4_0), Q4_QUAD, 0x88);
}

static void pack_q8_0(int n, const void *restrict x, size_t x_stride, void *restrict dst)
{
    pack_q_0(n, x, x_stride, dst, sizeof(block_q8_0), Q8_QUAD, 0);
}

static void act_q_0(const float *restrict x, void *restrict y, int n)
{
    block_act *a = y;
    for (int b = 0; b < n / 32; b++) {
        block_q8_0 q;
        simd_neon_quant_row_q8_0(x + 32 * b, &q, 32);
        memcpy(a[b].qs, q.qs, 32);
        a[b].d = fp16_to_fp32(q.d);
    }
}

/* Four integer dots by lane: weights w[0..3] against the 4-byte groups 0..3 of y. */
#define DOT4(p, w, y)                                                                              \
    do {                                                                                           \
        p = vdotq_laneq_s32(p, (w)[0], y, 0);                                                      \
        p = vdotq_laneq_s32(p, (w)[1], y, 1);                                                      \
        p = vdotq_laneq_s32(p, (w)[2], y, 2);                                                      \
        p = vdotq_laneq_s32(p, (w)[3], y, 3);                                                      \
    } while (0)

/* T tokens (a compile-time constant after inlining) against one quad; is_q8 selects the type.
 * Below 4 tokens each token's integer dot runs in two chains so its latency overlaps; from 4 up
 * the tokens themselves are independent chains and one chain each saves instructions. Integer
 * sums are exact, so the split changes no result. The token loop is unrolled by pragma so the
 * T accumulators stay in registers. */
__attribute__((always_inline)) DOTPROD static inline void
quad_q_0(int nb, float *restrict s, size_t ss, const int8_t *restrict wq,
         const uint16_t *restrict wd, const uint8_t *restrict y, size_t ys, const int T,
         const int is_q8)
{
    const int8x16_t hi4 = vdupq_n_s8((int8_t)0xf0);
    float32x4_t acc[QT_TILE_TOKENS];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) acc[t] = vdupq_n_f32(0.0f);
    for (int b = 0; b < nb; b++) {
        const float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(wd + 4 * b)));
        int8x16_t w[8];
        if (is_q8) {
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) w[k] = vld1q_s8(wq + (size_t)Q8_QUAD * b + 16 * k);
        } else {
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const int8x16_t v = vld1q_s8(wq + (size_t)Q4_QUAD * b + 16 * k);
                w[k] = vshlq_n_s8(v, 4);
                w[4 + k] = vandq_s8(v, hi4);
            }
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const block_act *a = (const block_act *)(y + (size_t)t * ys) + b;
            const int8x16_t y0 = vld1q_s8(a->qs), y1 = vld1q_s8(a->qs + 16);
            int32x4_t p = vdupq_n_s32(0);
            DOT4(p, w, y0);
            if (T < 4) {
                int32x4_t p1 = vdupq_n_s32(0);
                DOT4(p1, w + 4, y1);
                p = vaddq_s32(p, p1);
            } else {
                DOT4(p, w + 4, y1);
            }
            const float32x4_t f = is_q8 ? vcvtq_f32_s32(p) : vcvtq_n_f32_s32(p, 4);
            acc[t] = vfmaq_f32(acc[t], f, vmulq_n_f32(dw, a->d));
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) vst1q_f32(s + (size_t)t * ss, acc[t]);
}

__attribute__((always_inline)) DOTPROD static inline void
tile_q_0(int n, float *restrict s, size_t ss, const void *restrict xp, const void *restrict y,
         size_t ys, const int T, const int is_q8)
{
    const int nb = n / 32;
    const size_t qb = is_q8 ? Q8_QUAD : Q4_QUAD;
    const int8_t *wq = xp;
    const uint16_t *wd = (const uint16_t *)(wq + (size_t)nb * 4 * qb);
    for (int q = 0; q < PR / 4; q++)
        quad_q_0(nb, s + 4 * q, ss, wq + (size_t)q * nb * qb, wd + (size_t)q * nb * 4, y, ys, T,
                 is_q8);
}

#define TILE_SWITCH(tile, ...)                                                                     \
    switch (nt) {                                                                                  \
    case 8: tile(n, s, ss, xp, y, ys, 8, ##__VA_ARGS__); break;                                    \
    case 7: tile(n, s, ss, xp, y, ys, 7, ##__VA_ARGS__); break;                                    \
    case 6: tile(n, s, ss, xp, y, ys, 6, ##__VA_ARGS__); break;                                    \
    case 5: tile(n, s, ss, xp, y, ys, 5, ##__VA_ARGS__); break;                                    \
    case 4: tile(n, s, ss, xp, y, ys, 4, ##__VA_ARGS__); break;                                    \
    case 3: tile(n, s, ss, xp, y, ys, 3, ##__VA_ARGS__); break;                                    \
    case 2: tile(n, s, ss, xp, y, ys, 2, ##__VA_ARGS__); break;                                    \
    default: tile(n, s, ss, xp, y, ys, 1, ##__VA_ARGS__); break;                                   \
    }

DOTPROD static void tile_q4_0(int n, int nt, float *restrict s, size_t ss,
                              const void *restrict xp, const void *restrict y, size_t ys)
{
    TILE_SWITCH(tile_q_0, 0)
}

DOTPROD static void tile_q8_0(int n, int nt, float *restrict s, size_t ss,
                              const void *restrict xp, const void *restrict y, size_t ys)
{
    TILE_SWITCH(tile_q_0, 1)
}

/* ---- F16: per quad and 4 elements, the 4 rows' element i, i+1, i+2, i+3 (32 bytes) ----
 *
 * Widening gives each element of the 4 rows as a float vector; each token adds it times its own
 * x[i], picked by lane from one load of 4 activations. Every token keeps 4 partial sums per lane
 * (elements i mod 4), added pairwise at the end, so one token alone has 4 FMA chains in flight.
 * 4 sums for 8 tokens would take every register, so tokens go 4 at a time, each pass streaming
 * the quad's weights again (from cache); a token's sums never depend on its companions. */

#define F16_PASS 4 /* tokens per pass over a quad */

static int f16_padded(int n) { return (n + 3) & ~3; }
static size_t f16_group_bytes(int n) { return (size_t)f16_padded(n) * PR * 2; }
static size_t f32_row_bytes(int n) { return (size_t)f16_padded(n) * sizeof(float); }

static void pack_f16(int n, const void *restrict x, size_t x_stride, void *restrict dst)
{
    const int n4 = f16_padded(n);
    uint16_t *o = dst;
    memset(dst, 0, f16_group_bytes(n));
    for (int r = 0; r < PR; r++) {
        const uint16_t *src = (const uint16_t *)((const uint8_t *)x + r * x_stride);
        uint16_t *quad = o + (size_t)(r / 4) * n4 * 4;
        for (int i = 0; i < n; i++) quad[(size_t)(i / 4) * 16 + (i % 4) * 4 + r % 4] = src[i];
    }
}

static void act_f32(const float *restrict x, void *restrict y, int n)
{
    float *o = y;
    memcpy(o, x, (size_t)n * sizeof(float));
    for (int i = n; i < f16_padded(n); i++) o[i] = 0.0f;
}

__attribute__((always_inline)) static inline void
quad_f16(int n4, float *restrict s, size_t ss, const uint16_t *restrict w,
         const uint8_t *restrict y, size_t ys, const int T)
{
    float32x4_t acc[F16_PASS][4];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++)
        acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = vdupq_n_f32(0.0f);
    for (int i = 0; i < n4; i += 4) {
        const float16x8_t h0 = vreinterpretq_f16_u16(vld1q_u16(w + 4 * i));
        const float16x8_t h1 = vreinterpretq_f16_u16(vld1q_u16(w + 4 * i + 8));
        const float32x4_t w0 = vcvt_f32_f16(vget_low_f16(h0)), w1 = vcvt_high_f32_f16(h0);
        const float32x4_t w2 = vcvt_f32_f16(vget_low_f16(h1)), w3 = vcvt_high_f32_f16(h1);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const float32x4_t x = vld1q_f32((const float *)(y + (size_t)t * ys) + i);
            acc[t][0] = vfmaq_laneq_f32(acc[t][0], w0, x, 0);
            acc[t][1] = vfmaq_laneq_f32(acc[t][1], w1, x, 1);
            acc[t][2] = vfmaq_laneq_f32(acc[t][2], w2, x, 2);
            acc[t][3] = vfmaq_laneq_f32(acc[t][3], w3, x, 3);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; t++)
        vst1q_f32(s + (size_t)t * ss, vaddq_f32(vaddq_f32(acc[t][0], acc[t][1]),
                                                vaddq_f32(acc[t][2], acc[t][3])));
}

static void tile_f16(int n, int nt, float *restrict s, size_t ss, const void *restrict xp,
                     const void *restrict y, size_t ys)
{
    const int n4 = f16_padded(n);
    for (int q = 0; q < PR / 4; q++) {
        const uint16_t *w = (const uint16_t *)xp + (size_t)q * n4 * 4;
        for (int t = 0; t < nt; t += F16_PASS) {
            float *o = s + (size_t)t * ss + 4 * q;
            const uint8_t *yt = (const uint8_t *)y + (size_t)t * ys;
            switch (nt - t) {
            case 1: quad_f16(n4, o, ss, w, yt, ys, 1); break;
            case 2: quad_f16(n4, o, ss, w, yt, ys, 2); break;
            case 3: quad_f16(n4, o, ss, w, yt, ys, 3); break;
            default: quad_f16(n4, o, ss, w, yt, ys, 4); break;
            }
        }
    }
}

static const qt_packed_kernels packed_f16 = {f16_group_bytes, pack_f16, f32_row_bytes, act_f32,
                                             tile_f16};
static const qt_packed_kernels packed_q4_0 = {q4_0_group_bytes, pack_q4_0, act_row_bytes, act_q_0,
                                              tile_q4_0};
static const qt_packed_kernels packed_q8_0 = {q8_0_group_bytes, pack_q8_0, act_row_bytes, act_q_0,
                                              tile_q8_0};

void simd_neon_fill_packed(qtype_traits_t t[QT_COUNT], int dotprod)
{
    t[QT_Q4_0].packed = dotprod ? &packed_q4_0 : NULL;
    t[QT_Q8_0].packed = dotprod ? &packed_q8_0 : NULL;
    t[QT_F16].packed = &packed_f16;
}

#else

void simd_neon_fill_packed(qtype_traits_t t[QT_COUNT], int dotprod)
{
    (void)t;
    (void)dotprod;
}

#endif
