/* simd_attn.h - the attention inner loops over a KV cache row range, with a portable version and
 * an x86 AVX2+FMA one chosen at run time (attn_kernels_get).
 *
 * Cache rows are `cell` bytes apart and hold head_dim elements of F32 (esize 4) or F16 (esize 2)
 * at the start of the pointer passed. A set of kernels computes every number with one fixed order
 * of operations, whatever the caller (prefill, decode, any thread), so results repeat; different
 * sets may differ by float rounding. */
#ifndef UH_ENGINE_SIMD_ATTN_H
#define UH_ENGINE_SIMD_ATTN_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    /* s[j] = scale * dot(q, row j of k) for j < n; returns the largest s[j] (-inf if n == 0). */
    float (*scores)(float *restrict s, const float *restrict q, const uint8_t *k, size_t cell,
                    size_t esize, int n, int hd, float scale);
    /* s[j] = exp(s[j] - mx) for j < n; returns their sum. */
    float (*exp_sum)(float *s, int n, float mx);
    /* o += sum_j w[j] * (row j of v), j < n (o: hd floats). */
    void (*weighted_sum)(float *restrict o, const float *restrict w, const uint8_t *v,
                         size_t cell, size_t esize, int n, int hd);
} attn_kernels;

/* The set matching the dot-product kernels qtypes_init chose: AVX2 for the avx2 and avx512 sets,
 * portable C otherwise. Valid after qtypes_init. */
const attn_kernels *attn_kernels_get(void);
/* The portable set, and the x86 one (NULL where the CPU or build lacks it), for tests. */
const attn_kernels *attn_kernels_portable(void);
const attn_kernels *attn_kernels_avx2(void);

#endif
