/* test_quant.c - tensor types: the type table, dequantization and quantization against the
 * published GGUF fixture files, round trips on awkward data, and the dot-product kernels against
 * float64 references. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "base/rng.h"
#include "check.h"
#include "gguf/gguf.h"
#include "kernels/qtypes.h"

/* Relative RMS error (rmse / rms of the data) a type may reach on normally distributed data:
 * the step size of its grid with some margin, so a lost bit or a wrong scale fails. */
static double type_rel_bound(int t)
{
    switch (t) {
    case QT_F32:
        return 1e-7;
    case QT_F16:
        return 5e-4;
    case QT_BF16:
        return 4e-3;
    case QT_Q8_0:
    case QT_Q8_1:
        return 8e-3;
    case QT_Q8_K:
        return 1e-2;
    case QT_Q6_K:
        return 2.5e-2;
    case QT_Q5_0:
        return 6e-2;
    case QT_Q5_1:
    case QT_Q5_K:
        return 5e-2;
    case QT_Q4_0:
        return 0.12;
    case QT_Q4_1:
    case QT_Q4_K:
        return 0.1;
    case QT_IQ4_NL:
    case QT_IQ4_XS:
        return 0.1;
    case QT_Q3_K:
        return 0.2;
    case QT_Q2_K:
        return 0.4;
    default:
        return 0.0;
    }
}

static const int all_types[] = {QT_F32,  QT_F16,  QT_BF16, QT_Q4_0,   QT_Q4_1,  QT_Q5_0,
                                QT_Q5_1, QT_Q8_0, QT_Q8_1, QT_Q2_K,   QT_Q3_K,  QT_Q4_K,
                                QT_Q5_K, QT_Q6_K, QT_Q8_K, QT_IQ4_NL, QT_IQ4_XS};
#define N_ALL_TYPES ((int)(sizeof(all_types) / sizeof(all_types[0])))

static gguf_file *open_model(const char *type)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/models/llama-s1-%s.gguf", t_testdata(), type);
    gguf_file *f = NULL;
    uh_err err = {0};
    if (gguf_open(path, &f, &err) != 0) {
        printf("  cannot open %s: %s\n", path, err.msg);
        return NULL;
    }
    return f;
}

static double sq_err(const float *a, const float *b, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s;
}

static double sq_sum(const float *a, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * a[i];
    return s;
}

/* Dequantizes a whole 2-D tensor of type t (rows of ne0). */
static void dequant_tensor(int t, const void *data, float *out, int64_t ne0, int64_t ne1)
{
    size_t rs = qtype_row_size(t, ne0);
    for (int64_t r = 0; r < ne1; r++)
        qtype_traits[t].to_float((const char *)data + r * rs, out + r * ne0, ne0);
}

/* ---- 1. simple types: our quantizer writes the published bytes ---- */

static void test_simple_types_match_published_bytes(void)
{
    static const char *names[] = {"F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"};
    gguf_file *src = open_model("F32");
    CHECK(src != NULL);
    if (!src) return;
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        int t = qtype_from_name(names[k]);
        gguf_file *ref = open_model(names[k]);
        CHECK(ref != NULL);
        if (!ref) continue;
        int n_tensors = 0, n_same = 0;
        double err_sq = 0.0, sig_sq = 0.0;
        for (uint64_t i = 0; i < gguf_n_tensors(src); i++) {
            const gguf_tensor *ts = gguf_tensor_at(src, i);
            if (ts->n_dims != 2) continue;
            const gguf_tensor *tr = gguf_find_tensor(ref, ts->name);
            CHECKF(tr && (int)tr->type == t, "%s %s", names[k], ts->name);
            if (!tr || (int)tr->type != t) continue;
            int64_t ne0 = ts->ne[0], ne1 = ts->ne[1], n = ne0 * ne1;
            size_t size = qtype_row_size(t, ne0) * (size_t)ne1;
            char *q = malloc(size);
            float *deq = malloc((size_t)n * sizeof(float));
            size_t got = qt_quantize(t, ts->data, q, ne1, ne0);
            n_tensors++;
            CHECKF(got == size && got == tr->size, "%s %s: %zu bytes", names[k], ts->name, got);
            if (got == tr->size && memcmp(q, tr->data, size) == 0) {
                n_same++;
            } else if (got == tr->size) {
                size_t at = 0;
                while (at < size && q[at] == ((const char *)tr->data)[at]) at++;
                printf("  %s %s: first differing byte %zu\n", names[k], ts->name, at);
            }
            /* the published bytes dequantize to the source weights within the type's step */
            dequant_tensor(t, tr->data, deq, ne0, ne1);
            err_sq += sq_err(deq, ts->data, n);
            sig_sq += sq_sum(ts->data, n);
            free(q);
            free(deq);
        }
        double rel = sqrt(err_sq / sig_sq);
        printf("  %-5s %d/%d tensors byte-identical, published rel rmse %.3g\n", names[k], n_same,
               n_tensors, rel);
        CHECKF(n_tensors > 0 && n_same == n_tensors, "%s", names[k]);
        CHECKF(rel < type_rel_bound(t), "%s rel rmse %g", names[k], rel);
        gguf_close(ref);
    }
    gguf_close(src);
}

/* ---- 2. K-quants and IQ4: our scale search is at least as accurate as the published files ---- */

static void test_searched_types_beat_published_error(void)
{
    static const char *names[] = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"};
    gguf_file *src = open_model("F32");
    CHECK(src != NULL);
    if (!src) return;
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        int t = qtype_from_name(names[k]);
        gguf_file *ref = open_model(names[k]);
        CHECK(ref != NULL);
        if (!ref) continue;
        double ours_sq = 0.0, ref_sq = 0.0, sig_sq = 0.0;
        int64_t n_all = 0;
        int n_tensors = 0, n_worse = 0;
        for (uint64_t i = 0; i < gguf_n_tensors(src); i++) {
            const gguf_tensor *ts = gguf_tensor_at(src, i);
            if (ts->n_dims != 2) continue;
            const gguf_tensor *tr = gguf_find_tensor(ref, ts->name);
            CHECKF(tr && (int)tr->type == t, "%s %s", names[k], ts->name);
            if (!tr || (int)tr->type != t) continue;
            int64_t ne0 = ts->ne[0], ne1 = ts->ne[1], n = ne0 * ne1;
            size_t size = qtype_row_size(t, ne0) * (size_t)ne1;
            char *q = malloc(size);
            float *deq = malloc((size_t)n * sizeof(float));
            CHECK(qt_quantize(t, ts->data, q, ne1, ne0) == size);
            dequant_tensor(t, q, deq, ne0, ne1);
            double e_ours = sq_err(deq, ts->data, n);
            dequant_tensor(t, tr->data, deq, ne0, ne1);
            double e_ref = sq_err(deq, ts->data, n);
            n_tensors++;
            if (e_ours > e_ref) {
                n_worse++;
                printf("  %s %s: ours rmse %.6g > published %.6g\n", names[k], ts->name,
                       sqrt(e_ours / (double)n), sqrt(e_ref / (double)n));
            }
            ours_sq += e_ours;
            ref_sq += e_ref;
            sig_sq += sq_sum(ts->data, n);
            n_all += n;
            free(q);
            free(deq);
        }
        double ours = sqrt(ours_sq / (double)n_all), pub = sqrt(ref_sq / (double)n_all);
        double rel_pub = sqrt(ref_sq / sig_sq);
        printf("  %-6s rmse ours %.6g published %.6g (ours/published %.3f, published rel %.3g)\n",
               names[k], ours, pub, ours / pub, rel_pub);
        CHECKF(n_tensors > 0 && n_worse == 0, "%s: %d tensors worse", names[k], n_worse);
        /* dequantizing the published bytes lands near the source: our to_float reads the
         * layout as the producer wrote it */
        CHECKF(rel_pub < type_rel_bound(t), "%s published rel rmse %g", names[k], rel_pub);
        gguf_close(ref);
    }
    gguf_close(src);
}

/* ---- 3. round trips on random and awkward data ---- */

enum { RT_N = 1024 };

/* Data set `kind` (the names are in test_round_trip_awkward_data): normal, zeros, all equal
 * (positive, negative), large, small, small with one outlier per 256, all positive. */
static void fill(float *x, int kind, rng_state *r)
{
    for (int i = 0; i < RT_N; i++) x[i] = (float)rng_normal(r);
    for (int i = 0; i < RT_N; i++) {
        switch (kind) {
        case 1:
            x[i] = 0.0f;
            break;
        case 2:
            x[i] = 3.0f;
            break;
        case 3:
            x[i] = -0.7f;
            break;
        case 4:
            x[i] *= 1000.0f;
            break;
        case 5:
            x[i] *= 0.05f;
            break;
        case 6:
            x[i] = i % 256 == 37 ? 5.0f : x[i] * 0.01f;
            break;
        case 7:
            x[i] = 2.0f + fabsf(x[i]);
            break;
        default:
            break;
        }
    }
}

static void test_round_trip_awkward_data(void)
{
    static const char *kinds[] = {"normal", "zeros", "equal+",  "equal-",
                                  "large",  "small", "outlier", "positive"};
    rng_state r;
    rng_seed(&r, 7);
    float x[RT_N], y[RT_N];
    void *q = malloc(RT_N * 8);
    for (int k = 0; k < 8; k++) {
        fill(x, k, &r);
        double sig = sqrt(sq_sum(x, RT_N) / RT_N);
        for (int ti = 0; ti < N_ALL_TYPES; ti++) {
            int t = all_types[ti];
            const qtype_traits_t *tr = &qtype_traits[t];
            memset(q, 0xa5, RT_N * 8);
            tr->from_float(x, q, RT_N);
            tr->to_float(q, y, RT_N);
            int finite = 1;
            for (int i = 0; i < RT_N; i++) finite &= isfinite(y[i]) != 0;
            CHECKF(finite, "%s %s: non-finite output", tr->name, kinds[k]);
            double rmse = sqrt(sq_err(x, y, RT_N) / RT_N);
            if (k == 1) {
                CHECKF(rmse == 0.0, "%s zeros: rmse %g", tr->name, rmse);
            } else if (k == 6) {
                /* the outliers survive, the small values are not all flattened to garbage */
                for (int i = 37; i < RT_N; i += 256)
                    CHECKF(fabsf(y[i] - 5.0f) < 0.25f, "%s outlier %g", tr->name, y[i]);
                double rel = rmse / sig;
                CHECKF(rel < 0.2, "%s outlier data rel rmse %g", tr->name, rel);
            } else {
                double bound = type_rel_bound(t);
                if (k == 2 || k == 3 || k == 7) bound = bound < 1e-2 ? 1e-2 : bound;
                double rel = rmse / sig;
                CHECKF(rel < bound, "%s %s: rel rmse %g (bound %g)", tr->name, kinds[k], rel,
                       bound);
            }
        }
    }
    free(q);
}

/* ---- 4. dot products ---- */

/* float64 reference of a dot against Q8_1 activations: Q8_1 carries s = fp16(d * sum(q)) apart
 * from d and q, and the Q4_1/Q5_1 kernels use that s for the min term, so the reference does
 * the same to isolate accumulation error. */
static double q8_1_min_correction(int t, const void *w, const void *a, int n)
{
    double c = 0.0;
    const block_q8_1 *ab = a;
    for (int i = 0; i < n / 32; i++) {
        uint16_t m16 = t == QT_Q4_1 ? ((const block_q4_1 *)w)[i].m : ((const block_q5_1 *)w)[i].m;
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += ab[i].qs[j];
        double exact = (double)fp16_to_fp32(ab[i].d) * sum;
        c += (double)fp16_to_fp32(m16) * ((double)fp16_to_fp32(ab[i].s) - exact);
    }
    return c;
}

static void test_vec_dot_matches_float64(void)
{
    static const int lens[] = {256, 512, 1024, 4096, 32, 64, 96};
    rng_state r;
    rng_seed(&r, 11);
    enum { NMAX = 4096 };
    float *w = malloc(NMAX * sizeof(float)), *a = malloc(NMAX * sizeof(float));
    float *wd = malloc(NMAX * sizeof(float)), *ad = malloc(NMAX * sizeof(float));
    void *qw = malloc(NMAX * 8), *qa = malloc(NMAX * 8);
    for (int ti = 0; ti < N_ALL_TYPES; ti++) {
        int t = all_types[ti];
        const qtype_traits_t *tr = &qtype_traits[t];
        const qtype_traits_t *tv = &qtype_traits[tr->vec_dot_type];
        double worst_q = 0.0, worst_f = 0.0;
        for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
            int n = lens[li];
            if (n % tr->blck_size || n % tv->blck_size) continue;
            for (int rep = 0; rep < 3; rep++) {
                double ws = rep == 2 ? 0.02 : 1.0; /* weight-like magnitudes too */
                for (int i = 0; i < n; i++) {
                    w[i] = (float)(ws * rng_normal(&r));
                    a[i] = (float)(rng_normal(&r) * (rep == 1 ? 10.0 : 1.0));
                }
                tr->from_float(w, qw, n);
                tv->from_float(a, qa, n);
                tr->to_float(qw, wd, n);
                tv->to_float(qa, ad, n);
                double ref = 0.0, mag = 0.0, exact = 0.0, mag2 = 0.0;
                for (int i = 0; i < n; i++) {
                    ref += (double)wd[i] * ad[i];
                    mag += fabs((double)wd[i] * ad[i]);
                    exact += (double)w[i] * a[i];
                    mag2 += ((double)w[i] * a[i]) * ((double)w[i] * a[i]);
                }
                if (tr->vec_dot_type == QT_Q8_1 && t != QT_Q8_1)
                    ref += q8_1_min_correction(t, qw, qa, n);
                float s = -1.0f;
                tr->vec_dot(n, &s, qw, qa);
                /* against the dequantized rows: only float rounding in the accumulation */
                double eq = fabs(s - ref) / (mag + 1e-30);
                /* against the unquantized rows: the types' rounding, a 6-sigma allowance */
                double tol_f = 6.0 * (type_rel_bound(t) + type_rel_bound(tr->vec_dot_type));
                double ef = fabs(s - exact) / sqrt(mag2);
                if (eq > worst_q) worst_q = eq;
                if (ef / tol_f > worst_f) worst_f = ef / tol_f;
                CHECKF(eq < 2e-6, "%s n=%d: |s - ref| / sum|w a| = %g", tr->name, n, eq);
                CHECKF(ef < tol_f, "%s n=%d: |s - exact| / |w a| = %g (tol %g)", tr->name, n, ef,
                       tol_f);
            }
        }
        printf("  %-6s x %-4s worst rel err vs dequantized %.2g, vs float (fraction of tol) %.2f\n",
               tr->name, tv->name, worst_q, worst_f);
    }
    free(w);
    free(a);
    free(wd);
    free(ad);
    free(qw);
    free(qa);
}

/* ---- 5. the table ---- */

static void test_table_matches_gguf(void)
{
    static const struct {
        const char *name;
        int type, blck;
        size_t size;
    } want[] = {
        {"F32", 0, 1, 4},         {"F16", 1, 1, 2},       {"Q4_0", 2, 32, 18},
        {"Q4_1", 3, 32, 20},      {"Q5_0", 6, 32, 22},    {"Q5_1", 7, 32, 24},
        {"Q8_0", 8, 32, 34},      {"Q8_1", 9, 32, 36},    {"Q2_K", 10, 256, 84},
        {"Q3_K", 11, 256, 110},   {"Q4_K", 12, 256, 144}, {"Q5_K", 13, 256, 176},
        {"Q6_K", 14, 256, 210},   {"Q8_K", 15, 256, 292}, {"IQ4_NL", 20, 32, 18},
        {"IQ4_XS", 23, 256, 136}, {"I8", 24, 1, 1},       {"I16", 25, 1, 2},
        {"I32", 26, 1, 4},        {"I64", 27, 1, 8},      {"F64", 28, 1, 8},
        {"BF16", 30, 1, 2},
    };
    qtypes_init();
    qtypes_init(); /* idempotent */
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const qtype_traits_t *tr = &qtype_traits[want[i].type];
        CHECKF(tr->name && strcmp(tr->name, want[i].name) == 0, "%s", want[i].name);
        CHECKF(tr->blck_size == want[i].blck, "%s", want[i].name);
        CHECKF(tr->type_size == want[i].size, "%s", want[i].name);
        const gguf_type_info *gt = gguf_type_get((unsigned)want[i].type);
        CHECKF(gt && strcmp(gt->name, want[i].name) == 0 && gt->blck_size == want[i].blck &&
                   gt->type_size == want[i].size,
               "gguf table: %s", want[i].name);
        CHECKF(qtype_from_name(want[i].name) == want[i].type, "%s", want[i].name);
        CHECK(strcmp(qtype_name(want[i].type), want[i].name) == 0);
        CHECKF(tr->is_quantized == (want[i].blck > 1), "%s", want[i].name);
        CHECKF(qtype_row_size(want[i].type, 4096) == 4096 / want[i].blck * want[i].size, "%s",
               want[i].name);
        if (want[i].blck > 1) CHECK(qtype_row_size(want[i].type, want[i].blck + 1) == 0);
        int has_kernels = want[i].type < QT_I8 || want[i].type == QT_BF16;
        CHECKF(qtype_is_valid(want[i].type) == has_kernels, "%s", want[i].name);
        if (has_kernels)
            CHECKF(tr->from_float && tr->vec_dot && qtype_traits[tr->vec_dot_type].from_float, "%s",
                   want[i].name);
    }
    /* activation formats: integer dots against Q8_*, plain floats stay float */
    CHECK(qtype_traits[QT_Q4_0].vec_dot_type == QT_Q8_0);
    CHECK(qtype_traits[QT_Q5_0].vec_dot_type == QT_Q8_0);
    CHECK(qtype_traits[QT_IQ4_NL].vec_dot_type == QT_Q8_0);
    CHECK(qtype_traits[QT_Q4_1].vec_dot_type == QT_Q8_1);
    CHECK(qtype_traits[QT_Q5_1].vec_dot_type == QT_Q8_1);
    CHECK(qtype_traits[QT_Q2_K].vec_dot_type == QT_Q8_K);
    CHECK(qtype_traits[QT_Q6_K].vec_dot_type == QT_Q8_K);
    CHECK(qtype_traits[QT_IQ4_XS].vec_dot_type == QT_Q8_K);
    CHECK(qtype_traits[QT_F16].vec_dot_type == QT_F32);
    CHECK(qtype_traits[QT_BF16].vec_dot_type == QT_F32);
    CHECK(qtype_from_name("q4_k") == QT_Q4_K);
    CHECK(qtype_from_name("Q4_K_M") == -1);
    CHECK(qtype_from_name("") == -1);
    CHECK(qtype_from_name(NULL) == -1);
    CHECK(strcmp(qtype_name(4), "?") == 0);
    CHECK(strcmp(qtype_name(-1), "?") == 0);
    CHECK(strcmp(qtype_name(QT_COUNT), "?") == 0);
    /* the format's table and the kernels' table know the same ids */
    for (int t = 0; t < QT_COUNT + 8; t++)
        CHECKF(!gguf_type_get((unsigned)t) == !(t < QT_COUNT && qtype_traits[t].name), "id %d", t);
    CHECK(!qtype_is_valid(4) && !qtype_is_valid(QT_COUNT) && !qtype_is_valid(-3));
    CHECK(qtype_row_size(QT_F32, 7) == 28);
    /* the non-linear grid of IQ4 */
    CHECK(kvalues_iq4nl[0] == -127 && kvalues_iq4nl[7] == -10 && kvalues_iq4nl[8] == 1 &&
          kvalues_iq4nl[15] == 113);
    /* unsupported requests quantize nothing */
    float x[33] = {0};
    char out[64];
    CHECK(qt_quantize(QT_Q4_0, x, out, 1, 33) == 0);
    CHECK(qt_quantize(QT_I32, x, out, 1, 8) == 0);
    CHECK(qt_quantize(QT_Q4_0, x, out, 1, 32) == 18);
}

/* Fixed bytes decode to known values: pins the nibble order and the 5th-bit placement
 * independently of the quantizers. */
static void test_known_blocks_decode(void)
{
    block_q4_0 b4;
    b4.d = fp32_to_fp16(0.5f);
    for (int j = 0; j < 16; j++) b4.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    float y[32];
    qtype_traits[QT_Q4_0].to_float(&b4, y, 32);
    CHECK(y[0] == -4.0f && y[1] == -3.5f && y[16] == 3.5f && y[31] == -4.0f);

    block_q5_0 b5;
    memset(&b5, 0, sizeof(b5));
    b5.d = fp32_to_fp16(1.0f);
    b5.qh[0] = 0x01; /* element 0 gets bit 4 */
    b5.qh[2] = 0x02; /* element 17 gets bit 4 */
    qtype_traits[QT_Q5_0].to_float(&b5, y, 32);
    CHECK(y[0] == 0.0f && y[1] == -16.0f && y[17] == 0.0f && y[16] == -16.0f);

    block_q8_K b8;
    memset(&b8, 0, sizeof(b8));
    float x[256];
    for (int i = 0; i < 256; i++) x[i] = (float)(i % 16) - 4.0f;
    x[100] = -12.7f;
    qtype_traits[QT_Q8_K].from_float(x, &b8, 256);
    CHECK(b8.qs[100] == -127 && fabsf(b8.d - 0.1f) < 1e-6f);
    int s = 0;
    for (int i = 0; i < 16; i++) s += b8.qs[16 + i];
    CHECK(b8.bsums[1] == s);

    /* Q8_1 carries s = d * sum(q), rounded to fp16 once */
    block_q8_1 b81[8];
    for (int i = 0; i < 256; i++) x[i] = (float)((i * 37) % 101) / 50.0f - 0.7f;
    qtype_traits[QT_Q8_1].from_float(x, b81, 256);
    for (int k = 0; k < 8; k++) {
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += b81[k].qs[j];
        double want = (double)fp16_to_fp32(b81[k].d) * sum;
        CHECKF(fabs(fp16_to_fp32(b81[k].s) - want) <= 2e-3 * fabs(want) + 1e-6, "block %d", k);
    }
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    qtypes_init();
    T_RUN(test_table_matches_gguf);
    T_RUN(test_known_blocks_decode);
    T_RUN(test_round_trip_awkward_data);
    T_RUN(test_vec_dot_matches_float64);
    T_RUN(test_simple_types_match_published_bytes);
    T_RUN(test_searched_types_beat_published_error);
    return t_exit();
}
