/* quant_iq4.c - scalar reference kernels of the non-linear 4-bit types IQ4_NL and IQ4_XS.
 *
 * Both store 4-bit indices into kvalues_iq4nl, a 16-entry table of int8 levels spaced more
 * densely near zero (where normally distributed weights are dense), so 4 bits carry more
 * precision than a uniform grid.
 *   IQ4_NL  blocks of 32: x = d * kvalues[q], d fp16, nibbles as Q4_0 (low nibble of qs[j] is
 *           element j, high nibble element j + 16)
 *   IQ4_XS  super-blocks of 256 = 8 sub-blocks of 32: x = d * (ls - 32) * kvalues[q], ls a 6-bit
 *           scale: low 4 bits in scales_l[j/2] (nibble j%2), high 2 bits at scales_h >> 2j;
 *           each sub-block's 16 qs bytes are laid out as an IQ4_NL block's
 * Dot products take Q8_0 (IQ4_NL) and Q8_K (IQ4_XS) activations. */
#include <math.h>
#include <string.h>

#include "base/fp16.h"
#include "kernels/quant_impl.h"

const int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                  1,    13,   25,  38,  53,  69,  89,  113};

/* The same levels as floats, for the scale search. */
static const float kvalues_f[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                    1,    13,   25,  38,  53,  69,  89,  113};

static void unpack_levels(const uint8_t qs[16], int8_t v[32])
{
    for (int j = 0; j < 16; j++) {
        v[j] = kvalues_iq4nl[qs[j] & 0x0f];
        v[j + 16] = kvalues_iq4nl[qs[j] >> 4];
    }
}

static void pack_nibbles(const uint8_t L[32], uint8_t qs[16])
{
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((L[j] & 0x0f) | ((L[j + 16] & 0x0f) << 4));
}

static int iq4xs_scale(const block_iq4_xs *b, int j)
{
    int lo = (b->scales_l[j / 2] >> (4 * (j % 2))) & 0x0f;
    int hi = (b->scales_h >> (2 * j)) & 3;
    return (lo | (hi << 4)) - 32;
}

void dequant_row_iq4_nl(const void *restrict x, float *restrict y, int64_t n)
{
    const block_iq4_nl *b = x;
    int8_t v[32];
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        float d = fp16_to_fp32(b[i].d);
        unpack_levels(b[i].qs, v);
        for (int j = 0; j < 32; j++) y[i * 32 + j] = d * (float)v[j];
    }
}

void dequant_row_iq4_xs(const void *restrict x, float *restrict y, int64_t n)
{
    const block_iq4_xs *b = x;
    int8_t v[32];
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = fp16_to_fp32(b[i].d);
        for (int j = 0; j < 8; j++) {
            float dl = d * (float)iq4xs_scale(&b[i], j);
            unpack_levels(b[i].qs + 16 * j, v);
            for (int l = 0; l < 32; l++) y[i * QK_K + 32 * j + l] = dl * (float)v[l];
        }
    }
}

void vec_dot_iq4_nl_q8_0(int n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_iq4_nl *a = x;
    const block_q8_0 *b = y;
    int8_t v[32];
    float sum = 0.0f;
    for (int i = 0; i < n / QK4_NL; i++) {
        unpack_levels(a[i].qs, v);
        int si = 0;
        for (int j = 0; j < 32; j++) si += v[j] * b[i].qs[j];
        sum += (float)si * (fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d));
    }
    *s = sum;
}

void vec_dot_iq4_xs_q8_K(int n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_iq4_xs *a = x;
    const block_q8_K *b = y;
    int8_t v[32];
    float sum = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        int sumi = 0;
        for (int j = 0; j < 8; j++) {
            unpack_levels(a[i].qs + 16 * j, v);
            int si = 0;
            for (int l = 0; l < 32; l++) si += v[l] * b[i].qs[32 * j + l];
            sumi += iq4xs_scale(&a[i], j) * si;
        }
        sum += b[i].d * (fp16_to_fp32(a[i].d) * (float)sumi);
    }
    *s = sum;
}

/* ---- weight quantizers ---- */

static const qsearch_spec iq4_nl_spec = {1, 32, kvalues_f, 16, 0, 0, 0, 0, 0};

void quant_row_iq4_nl(const float *restrict x, void *restrict y, int64_t n)
{
    block_iq4_nl *b = y;
    uint8_t L[32], tmp[32];
    for (int64_t i = 0; i < n / QK4_NL; i++, x += 32) {
        float a;
        qsearch_fit_symmetric(x, 32, &iq4_nl_spec, &a, L);
        /* the stored scale is fp16: re-assign under it, then try its least-squares refit */
        float d = fp16_to_fp32(fp32_to_fp16(a));
        double best = qsearch_assign(x, 32, &iq4_nl_spec, d, 0.0f, L);
        for (int round = 0; round < 2; round++) {
            double sxl = 0.0, sll = 0.0;
            for (int j = 0; j < 32; j++) {
                sxl += (double)x[j] * kvalues_f[L[j]];
                sll += (double)kvalues_f[L[j]] * kvalues_f[L[j]];
            }
            if (sll <= 0.0) break;
            float d2 = fp16_to_fp32(fp32_to_fp16((float)(sxl / sll)));
            double err = qsearch_assign(x, 32, &iq4_nl_spec, d2, 0.0f, tmp);
            if (!(err < best)) break;
            best = err;
            d = d2;
            memcpy(L, tmp, sizeof(tmp));
        }
        b[i].d = fp32_to_fp16(d);
        pack_nibbles(L, b[i].qs);
    }
}

void quant_row_iq4_xs(const float *restrict x, void *restrict y, int64_t n)
{
    const qsearch_spec sp = {8, 32, kvalues_f, 16, 0, 0, -32, 31, 0};
    block_iq4_xs *b = y;
    qsearch_result r;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        qsearch_superblock(x, &sp, &r);
        memset(&b[i], 0, sizeof(b[i]));
        b[i].d = fp32_to_fp16(r.d);
        uint16_t sh = 0;
        for (int j = 0; j < 8; j++) {
            int ls = r.sc[j] + 32;
            b[i].scales_l[j / 2] |= (uint8_t)((ls & 0x0f) << (4 * (j % 2)));
            sh |= (uint16_t)((ls >> 4) << (2 * j));
            pack_nibbles(r.L + 32 * j, b[i].qs + 16 * j);
        }
        b[i].scales_h = sh;
    }
}
