/* simd_attn.h - the attention inner loops over a KV cache row range (and the SwiGLU product), with
 * a portable version and x86 AVX2+FMA and AVX-512 ones chosen at run time (attn_kernels_get).
 *
 * Cache rows are `cell` bytes apart and hold head_dim elements of F32 (esize 4) or F16 (esize 2)
 * at the start of the pointer passed. A set of kernels computes every number with one fixed order
 * of operations, whatever the caller (prefill, decode, any thread), so results repeat; different
 * sets may differ by float rounding. */
#ifndef UH_KERNELS_SIMD_ATTN_H
#define UH_KERNELS_SIMD_ATTN_H

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
    /* The same for nb query heads sharing one KV head (grouped-query attention), so each row of
     * k and v is loaded once for all of them: head g's query is q + g * hd, its scores
     * s + g * s_stride, its weights w + g * w_stride, its output o + g * hd; mx[g] is raised to
     * the largest of head g's scores. Each head's numbers are those the single-head kernels of
     * the same set give. */
    void (*scores_group)(float *restrict s, size_t s_stride, const float *restrict q, int nb,
                         const uint8_t *k, size_t cell, size_t esize, int n, int hd, float scale,
                         float *restrict mx);
    void (*weighted_sum_group)(float *restrict o, const float *restrict w, size_t w_stride,
                               int nb, const uint8_t *v, size_t cell, size_t esize, int n,
                               int hd);
    /* The SwiGLU product g[i] = silu(g[i]) * u[i] for i < n; every element goes through the same
     * code whatever n and its place in the array. */
    void (*silu_mul)(float *restrict g, const float *restrict u, int n);
} attn_kernels;

/* The set matching the dot-product kernels qtypes_init chose: AVX-512 or AVX2 for those sets,
 * portable C otherwise. */
const attn_kernels *attn_kernels_get(void);
/* Each set (NULL where the CPU or build lacks it), for tests. */
const attn_kernels *attn_kernels_portable(void);
const attn_kernels *attn_kernels_avx2(void);
const attn_kernels *attn_kernels_avx512(void); /* simd_attn_avx512.c */

/* Group kernels made of a set's single-head ones, for sets without their own. */
void attn_scores_group_loop(const attn_kernels *ak, float *restrict s, size_t s_stride,
                            const float *restrict q, int nb, const uint8_t *k, size_t cell,
                            size_t esize, int n, int hd, float scale, float *restrict mx);
void attn_weighted_sum_group_loop(const attn_kernels *ak, float *restrict o,
                                  const float *restrict w, size_t w_stride, int nb,
                                  const uint8_t *v, size_t cell, size_t esize, int n, int hd);

#endif
