/* test_attn.c - the attention kernel sets (portable, AVX2, AVX-512 where the CPU has them).
 *
 * Every set against the portable one on random queries and caches of awkward shapes: head dims
 * the wide kernels handle (16..128 in steps of 16) and ones they hand back (8, 40, 200), runs of
 * 1 to 64 cells (ragged ends of the 16-row blocks), F32 and F16 cache rows with padding between
 * them; scores and weighted sums within float rounding, the softmax within its polynomial's
 * accuracy. Within a set, the group kernels must give each head exactly what the single-head
 * kernels give, so splitting a query group between threads never changes a number. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "base/rng.h"
#include "check.h"
#include "kernels/simd_attn.h"

static rng_state rng;

typedef struct {
    const char *name;
    const attn_kernels *k;
} attn_set;

/* n rows of hd elements, `cell` bytes apart, F32 or F16, values ~N(0, 1); also returned as
 * floats (what the F16 values decode to) for the reference. */
static uint8_t *random_cache(int n, int hd, size_t esize, size_t cell, float *as_float)
{
    uint8_t *c = calloc((size_t)n, cell);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < hd; i++) {
            float f = (float)rng_normal(&rng);
            if (esize == 2) {
                uint16_t h = fp32_to_fp16(f);
                memcpy(c + (size_t)j * cell + 2 * (size_t)i, &h, 2);
                f = fp16_to_fp32(h);
            } else {
                memcpy(c + (size_t)j * cell + 4 * (size_t)i, &f, 4);
            }
            as_float[(size_t)j * hd + i] = f;
        }
    return c;
}

static void check_set(const attn_set *set)
{
    const attn_kernels *ref = attn_kernels_portable(), *k = set->k;
    static const int hds[] = {8, 16, 32, 40, 48, 64, 80, 96, 112, 128, 200};
    static const int ns[] = {1, 2, 15, 16, 17, 31, 33, 63, 64};
    enum { NB = 8 };
    for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++)
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
            for (size_t esize = 2; esize <= 4; esize += 2) {
                const int hd = hds[hi], n = ns[ni];
                const size_t cell = esize * (size_t)hd + 24; /* rows need not be packed */
                float *kf = malloc(sizeof(float) * (size_t)n * hd);
                float *vf = malloc(sizeof(float) * (size_t)n * hd);
                uint8_t *kc = random_cache(n, hd, esize, cell, kf);
                uint8_t *vc = random_cache(n, hd, esize, cell, vf);
                float q[NB * 200], s_ref[NB][64], s_one[NB][64], s_grp[NB][64];
                float o_ref[NB * 200], o_one[NB * 200], o_grp[NB * 200], mx[NB];
                for (int i = 0; i < NB * hd; i++) q[i] = (float)rng_normal(&rng);
                const float scale = 1.0f / sqrtf((float)hd);
                for (int g = 0; g < NB; g++) {
                    const float mr = ref->scores(s_ref[g], q + g * hd, kc, cell, esize, n, hd, scale);
                    const float mo = k->scores(s_one[g], q + g * hd, kc, cell, esize, n, hd, scale);
                    float m_true = -INFINITY;
                    for (int j = 0; j < n; j++) {
                        double d = 0, mag = 0;
                        for (int i = 0; i < hd; i++) {
                            d += (double)q[g * hd + i] * kf[(size_t)j * hd + i];
                            mag += fabs((double)q[g * hd + i] * kf[(size_t)j * hd + i]);
                        }
                        const double tol = 1e-6 * mag * scale + 1e-30;
                        CHECKF(fabs(s_one[g][j] - d * scale) <= tol && fabs(s_ref[g][j] - d * scale) <= tol,
                               "%s scores hd=%d n=%d esize=%zu head %d row %d: %.9g %.9g vs %.9g",
                               set->name, hd, n, esize, g, j, s_one[g][j], s_ref[g][j], d * scale);
                        if (s_one[g][j] > m_true) m_true = s_one[g][j];
                    }
                    CHECKF(mo == m_true && isfinite(mr), "%s max hd=%d n=%d", set->name, hd, n);
                }
                /* group kernels, for every group size, equal the single-head ones */
                for (int nb = 1; nb <= NB; nb++) {
                    for (int g = 0; g < nb; g++) mx[g] = -INFINITY;
                    k->scores_group(&s_grp[0][0], 64, q, nb, kc, cell, esize, n, hd, scale, mx);
                    for (int g = 0; g < nb; g++) {
                        CHECKF(memcmp(s_grp[g], s_one[g], (size_t)n * sizeof(float)) == 0,
                               "%s scores_group hd=%d n=%d nb=%d head %d", set->name, hd, n, nb, g);
                        float m = -INFINITY;
                        for (int j = 0; j < n; j++) m = s_one[g][j] > m ? s_one[g][j] : m;
                        CHECKF(mx[g] == m, "%s scores_group max hd=%d n=%d", set->name, hd, n);
                    }
                }
                /* softmax weights, then weighted sums onto a nonzero output */
                for (int g = 0; g < NB; g++) {
                    float e_ref[64], e_k[64];
                    memcpy(e_ref, s_one[g], sizeof e_ref);
                    memcpy(e_k, s_one[g], sizeof e_k);
                    float m = -INFINITY;
                    for (int j = 0; j < n; j++) m = s_one[g][j] > m ? s_one[g][j] : m;
                    const float sr = ref->exp_sum(e_ref, n, m), sk = k->exp_sum(e_k, n, m);
                    CHECKF(fabsf(sr - sk) <= 1e-6f * sr, "%s exp_sum n=%d: %.9g vs %.9g",
                           set->name, n, sk, sr);
                    for (int j = 0; j < n; j++)
                        CHECKF(fabsf(e_ref[j] - e_k[j]) <= 1e-6f, "%s exp n=%d j=%d", set->name, n, j);
                    memcpy(s_one[g], e_k, (size_t)n * sizeof(float));
                }
                for (int i = 0; i < NB * hd; i++) o_ref[i] = o_one[i] = (float)rng_normal(&rng);
                for (int g = 0; g < NB; g++) {
                    k->weighted_sum(o_one + g * hd, s_one[g], vc, cell, esize, n, hd);
                    for (int i = 0; i < hd; i++) {
                        double d = o_ref[g * hd + i], mag = fabs(d);
                        for (int j = 0; j < n; j++) {
                            d += (double)s_one[g][j] * vf[(size_t)j * hd + i];
                            mag += fabs((double)s_one[g][j] * vf[(size_t)j * hd + i]);
                        }
                        CHECKF(fabs(o_one[g * hd + i] - d) <= 1e-6 * mag + 1e-30,
                               "%s weighted_sum hd=%d n=%d esize=%zu head %d elem %d: %.9g vs %.9g",
                               set->name, hd, n, esize, g, i, o_one[g * hd + i], d);
                    }
                }
                for (int nb = 1; nb <= NB; nb++) {
                    for (int i = 0; i < NB * hd; i++) o_grp[i] = o_ref[i];
                    k->weighted_sum_group(o_grp, &s_one[0][0], 64, nb, vc, cell, esize, n, hd);
                    CHECKF(memcmp(o_grp, o_one, (size_t)nb * hd * sizeof(float)) == 0,
                           "%s weighted_sum_group hd=%d n=%d nb=%d", set->name, hd, n, nb);
                }
                free(kf);
                free(vf);
                free(kc);
                free(vc);
            }
}

/* silu(g) * u against the portable expf form, for values from tiny to beyond exp's range, and
 * every element the same whether computed in one call or in ragged pieces (the matrix products
 * apply it to row ranges that depend on the thread count). */
static void check_silu(const attn_set *set)
{
    enum { N = 203 };
    float g[N], u[N], ref[N], one[N], pieces[N];
    for (int i = 0; i < N; i++) {
        g[i] = (float)(rng_normal(&rng) * (i % 7 == 0 ? 40.0 : 3.0));
        u[i] = (float)rng_normal(&rng);
    }
    g[0] = 0.0f;
    g[1] = -0.0f;
    g[2] = 100.0f;
    g[3] = -100.0f;
    memcpy(ref, g, sizeof g);
    memcpy(one, g, sizeof g);
    memcpy(pieces, g, sizeof g);
    attn_kernels_portable()->silu_mul(ref, u, N);
    set->k->silu_mul(one, u, N);
    for (int i0 = 0, len = 1; i0 < N; i0 += len, len = len % 19 + 3)
        set->k->silu_mul(pieces + i0, u + i0, i0 + len <= N ? len : N - i0);
    for (int i = 0; i < N; i++) {
        CHECKF(fabsf(one[i] - ref[i]) <= 4e-7f * fabsf(ref[i]) + 1e-30f,
               "%s silu_mul g=%.9g: %.9g vs %.9g", set->name, g[i], one[i], ref[i]);
        CHECKF(memcmp(&one[i], &pieces[i], sizeof(float)) == 0, "%s silu_mul element %d in pieces",
               set->name, i);
    }
}

static void test_sets_match_reference(void)
{
    const attn_set sets[] = {{"portable", attn_kernels_portable()},
                             {"avx2", attn_kernels_avx2()},
                             {"avx512", attn_kernels_avx512()}};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        if (!sets[i].k) {
            printf("  %s: not on this CPU\n", sets[i].name);
            continue;
        }
        printf("  %s\n", sets[i].name);
        check_set(&sets[i]);
        check_silu(&sets[i]);
    }
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    rng_seed(&rng, 20261124);
    T_RUN(test_sets_match_reference);
    return t_exit();
}
