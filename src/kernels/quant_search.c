/* quant_search.c - scale search for the K-quant and IQ4 weight quantizers.
 *
 * The quantized value of element e of a super-block is d * sc[j] * levels[L[e]] - dmin * m[j]
 * (j its sub-block), with d and dmin fp16 and sc, m small integers. The search minimises the plain
 * squared error of the whole super-block, in three stages:
 *   1. per sub-block, the best continuous scale (and min): a sweep of candidate scales around
 *      range/levels, each refined by a least-squares fit to the levels it produced;
 *   2. d (then dmin): candidates that map the largest sub-block scale near the top of the integer
 *      range, each scored after rounding every sub-block scale and re-assigning the levels;
 *   3. refinement rounds: every sub-block tries the integer scales and mins next to its own, then
 *      d and dmin are re-fitted by least squares to the chosen integers and levels.
 * Every score uses the fp16-rounded d and dmin and the dequantizer's float arithmetic, so the
 * error minimised is the error the stored bytes produce. */
#include <math.h>
#include <string.h>

#include "base/fp16.h"
#include "kernels/quant_impl.h"

static float round_fp16(float v)
{
    return fp16_to_fp32(fp32_to_fp16(v));
}

/* Level assignment is the inner loop of the whole search, so it comes in two specialised
 * versions: rounding for linear grids, midpoint counting for non-linear ones. Errors of up to
 * 32 values are summed in float over eight lanes (no serial add chain, SIMD-friendly); totals over
 * a super-block are summed in double by the callers. */
static float assign_linear(const float *x, int len, const qsearch_spec *sp, float s, float o,
                           uint8_t *L)
{
    float acc[8] = {0};
    const float is = s != 0.0f ? 1.0f / s : 0.0f;
    const float lo = sp->levels[0], top = (float)(sp->n_levels - 1);
    for (int e = 0; e < len; e += 8) {
        /* eight independent lanes: the compiler turns these loops into SIMD */
        float xv[8], q[8];
        int li[8];
        memcpy(xv, x + e, sizeof(xv));
        for (int k = 0; k < 8; k++) {
            float u = (xv[k] + o) * is - lo;
            u = u > 0.0f ? u : 0.0f; /* also maps NaN to 0 */
            u = u < top ? u : top;
            li[k] = (int)(u + 0.5f);
            q[k] = (float)li[k];
        }
        for (int k = 0; k < 8; k++) {
            float diff = s * (lo + q[k]) - o - xv[k];
            acc[k] += diff * diff;
        }
        for (int k = 0; k < 8; k++) L[e + k] = (uint8_t)li[k];
    }
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

static float assign_table(const float *x, int len, const qsearch_spec *sp, float s, float o,
                          uint8_t *L)
{
    float mid[63];
    const int nm = sp->n_levels - 1;
    for (int i = 0; i < nm; i++) mid[i] = 0.5f * (sp->levels[i] + sp->levels[i + 1]);
    float acc[8] = {0};
    const float is = s != 0.0f ? 1.0f / s : 0.0f;
    for (int e = 0; e < len; e += 8) {
        float t[8];
        int cnt[8] = {0};
        for (int k = 0; k < 8; k++) t[k] = (x[e + k] + o) * is;
        for (int i = 0; i < nm; i++)
            for (int k = 0; k < 8; k++) cnt[k] += t[k] > mid[i];
        for (int k = 0; k < 8; k++) {
            L[e + k] = (uint8_t)cnt[k];
            float diff = s * sp->levels[cnt[k]] - o - x[e + k];
            acc[k] += diff * diff;
        }
    }
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

double qsearch_assign(const float *x, int len, const qsearch_spec *sp, float s, float o, uint8_t *L)
{
    double err = 0.0;
    for (int e = 0; e < len; e += 32) {
        int n = len - e < 32 ? len - e : 32;
        err += sp->linear ? assign_linear(x + e, n, sp, s, o, L + e)
                          : assign_table(x + e, n, sp, s, o, L + e);
    }
    return err;
}

/* ---- stage 1: continuous per-sub-block fits ---- */

double qsearch_fit_symmetric(const float *x, int len, const qsearch_spec *sp, float *a, uint8_t *L)
{
    float amax = 0.0f, max = 0.0f;
    for (int e = 0; e < len; e++) {
        if (fabsf(x[e]) > amax) {
            amax = fabsf(x[e]);
            max = x[e];
        }
    }
    double best = qsearch_assign(x, len, sp, 0.0f, 0.0f, L);
    *a = 0.0f;
    if (amax == 0.0f) return best;
    uint8_t tmp[256];
    const float ends[2] = {sp->levels[0], sp->levels[sp->n_levels - 1]};
    /* fine grids (Q6_K) gain from a denser sweep; coarse ones do not */
    const int nstep = sp->n_levels >= 64 ? 12 : 8;
    for (int side = 0; side < 2; side++) {
        if (ends[side] == 0.0f) continue;
        for (int k = 0; k <= nstep; k++) {
            /* map the extreme value to a level a little beyond, at, or inside the end level */
            float v = ends[side] * (1.08f - 0.5f * (float)k / (float)nstep);
            float s = max / v;
            qsearch_assign(x, len, sp, s, 0.0f, tmp);
            double sxl = 0.0, sll = 0.0;
            for (int e = 0; e < len; e++) {
                sxl += (double)x[e] * sp->levels[tmp[e]];
                sll += (double)sp->levels[tmp[e]] * sp->levels[tmp[e]];
            }
            if (sll > 0.0) s = (float)(sxl / sll);
            double err = qsearch_assign(x, len, sp, s, 0.0f, tmp);
            if (err < best) {
                best = err;
                *a = s;
                memcpy(L, tmp, (size_t)len);
            }
        }
    }
    return best;
}

/* Best (a, b >= 0) for x ~ a * level - b over linear non-negative levels. */
static double fit_with_min(const float *x, int len, const qsearch_spec *sp, float *a, float *b,
                           uint8_t *L)
{
    float min = x[0], max = x[0];
    for (int e = 1; e < len; e++) {
        if (x[e] < min) min = x[e];
        if (x[e] > max) max = x[e];
    }
    if (min > 0.0f) min = 0.0f; /* mins are subtracted with non-negative factors only */
    const int nmax = sp->n_levels - 1;
    *a = max > min ? (max - min) / (float)nmax : 0.0f;
    *b = -min;
    double best = qsearch_assign(x, len, sp, *a, *b, L);
    if (max <= min) return best;
    uint8_t tmp[256];
    for (int k = -5; k <= 5; k++) {
        float iscale = ((float)nmax + 0.2f * (float)k) / (max - min);
        double n = 0, sl = 0, sll = 0, sx = 0, sxl = 0;
        for (int e = 0; e < len; e++) {
            float u = (x[e] - min) * iscale;
            int l = u < (float)nmax ? (int)(u + 0.5f) : nmax; /* u >= 0 here */
            tmp[e] = (uint8_t)l;
            n += 1;
            sl += l;
            sll += (double)l * l;
            sx += x[e];
            sxl += (double)x[e] * l;
        }
        double det = n * sll - sl * sl;
        if (det <= 0.0) continue;
        double sa = (n * sxl - sl * sx) / det;
        double sc = (sll * sx - sl * sxl) / det; /* intercept, = -b */
        if (sc > 0.0) {
            sc = 0.0;
            sa = sxl / sll;
        }
        if (sa <= 0.0) continue;
        double err = qsearch_assign(x, len, sp, (float)sa, (float)-sc, tmp);
        if (err < best) {
            best = err;
            *a = (float)sa;
            *b = (float)-sc;
            memcpy(L, tmp, (size_t)len);
        }
    }
    return best;
}

/* ---- stages 2 and 3: integer sub-block scales ---- */

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static int round_ratio(float num, float den, int lo, int hi)
{
    if (den == 0.0f) return 0 < lo ? lo : 0 > hi ? hi : 0;
    float t = num / den;
    if (!(t > (float)lo)) return lo;
    if (t >= (float)hi) return hi;
    return clampi((int)lrintf(t), lo, hi);
}

/* Error of sub-block j with integer scale sc and min m under d, dmin; levels into L. */
static double sub_error(const float *x, const qsearch_spec *sp, float d, float dmin, int sc, int m,
                        uint8_t *L)
{
    float s = d * (float)sc;
    float o = dmin * (float)m;
    return qsearch_assign(x, sp->sub_len, sp, s, o, L);
}

/* Rounds every sub-block's continuous scale/min to integers under (d, dmin), assigns levels and
 * returns the total error. */
static double score(const float *x, const qsearch_spec *sp, const float *a, const float *b, float d,
                    float dmin, qsearch_result *r)
{
    double err = 0.0;
    r->d = d;
    r->dmin = dmin;
    for (int j = 0; j < sp->n_sub; j++) {
        r->sc[j] = round_ratio(a[j], d, sp->sc_min, sp->sc_max);
        r->m[j] = sp->has_min ? round_ratio(b[j], dmin, 0, sp->m_max) : 0;
        err +=
            sub_error(x + j * sp->sub_len, sp, d, dmin, r->sc[j], r->m[j], r->L + j * sp->sub_len);
    }
    return err;
}

/* Tries the integer scales/mins within +-radius of each sub-block's current ones. */
static double refine_integers(const float *x, const qsearch_spec *sp, qsearch_result *r, int radius)
{
    double total = 0.0;
    uint8_t tmp[256];
    for (int j = 0; j < sp->n_sub; j++) {
        const float *xj = x + j * sp->sub_len;
        uint8_t *Lj = r->L + j * sp->sub_len;
        double best = sub_error(xj, sp, r->d, r->dmin, r->sc[j], r->m[j], Lj);
        int best_sc = r->sc[j], best_m = r->m[j];
        int mr = sp->has_min ? radius : 0;
        for (int sc = r->sc[j] - radius; sc <= r->sc[j] + radius; sc++) {
            if (sc < sp->sc_min || sc > sp->sc_max) continue;
            for (int m = r->m[j] - mr; m <= r->m[j] + mr; m++) {
                if (m < 0 || (sp->has_min && m > sp->m_max)) continue;
                if (sc == r->sc[j] && m == r->m[j]) continue;
                double err = sub_error(xj, sp, r->d, r->dmin, sc, m, tmp);
                if (err < best) {
                    best = err;
                    best_sc = sc;
                    best_m = m;
                    memcpy(Lj, tmp, (size_t)sp->sub_len);
                }
            }
        }
        r->sc[j] = best_sc;
        r->m[j] = best_m;
        total += best;
    }
    return total;
}

/* Least-squares d (and dmin) for the current integers and levels, rounded to fp16. */
static void refit_super(const float *x, const qsearch_spec *sp, const qsearch_result *r, float *d,
                        float *dmin)
{
    double suu = 0, suv = 0, svv = 0, sxu = 0, sxv = 0;
    for (int e = 0; e < sp->n_sub * sp->sub_len; e++) {
        int j = e / sp->sub_len;
        double u = (double)r->sc[j] * sp->levels[r->L[e]];
        double v = -(double)r->m[j];
        suu += u * u;
        suv += u * v;
        svv += v * v;
        sxu += x[e] * u;
        sxv += x[e] * v;
    }
    *d = r->d;
    *dmin = r->dmin;
    if (sp->has_min && svv > 0.0) {
        double det = suu * svv - suv * suv;
        if (det > 0.0) {
            double nd = (sxu * svv - sxv * suv) / det;
            double nm = (suu * sxv - suv * sxu) / det;
            if (nd > 0.0 && nm >= 0.0) {
                *d = round_fp16((float)nd);
                *dmin = round_fp16((float)nm);
            }
        }
    } else if (suu > 0.0) {
        *d = round_fp16((float)(sxu / suu));
    }
}

double qsearch_superblock(const float *x, const qsearch_spec *sp, qsearch_result *r)
{
    float a[16] = {0}, b[16] = {0};
    uint8_t L[256];
    float a_big = 0.0f, b_max = 0.0f;
    for (int j = 0; j < sp->n_sub; j++) {
        const float *xj = x + j * sp->sub_len;
        b[j] = 0.0f;
        if (sp->has_min)
            fit_with_min(xj, sp->sub_len, sp, &a[j], &b[j], L);
        else
            qsearch_fit_symmetric(xj, sp->sub_len, sp, &a[j], L);
        if (fabsf(a[j]) > fabsf(a_big)) a_big = a[j];
        if (b[j] > b_max) b_max = b[j];
    }

    /* stage 2: d, then dmin */
    float dmin0 = sp->has_min ? round_fp16(b_max / (float)sp->m_max) : 0.0f;
    double best = score(x, sp, a, b, 0.0f, dmin0, r);
    qsearch_result cand;
    if (a_big != 0.0f) {
        const int tops[2] = {sp->sc_max, sp->sc_min};
        for (int side = 0; side < 2; side++) {
            if (tops[side] == 0) continue;
            for (int k = 0; k <= 8; k++) {
                float t = (float)tops[side] * (1.0f - 0.03f * (float)k);
                float d = round_fp16(a_big / t);
                double err = score(x, sp, a, b, d, dmin0, &cand);
                if (err < best) {
                    best = err;
                    *r = cand;
                }
            }
        }
    }
    if (sp->has_min && b_max > 0.0f) {
        float d = r->d;
        for (int k = 1; k <= 8; k++) {
            float dmin = round_fp16(b_max / ((float)sp->m_max * (1.0f - 0.03f * (float)k)));
            double err = score(x, sp, a, b, d, dmin, &cand);
            if (err < best) {
                best = err;
                *r = cand;
            }
        }
    }

    /* stage 3 */
    for (int round = 0; round < 3; round++) {
        best = refine_integers(x, sp, r, 1);
        float d, dmin;
        refit_super(x, sp, r, &d, &dmin);
        if (d == r->d && dmin == r->dmin) break;
        cand = *r;
        cand.d = d;
        cand.dmin = dmin;
        double err = 0.0;
        for (int j = 0; j < sp->n_sub; j++)
            err += sub_error(x + j * sp->sub_len, sp, d, dmin, cand.sc[j], cand.m[j],
                             cand.L + j * sp->sub_len);
        if (!(err < best)) break;
        best = err;
        *r = cand;
    }
    return best;
}
