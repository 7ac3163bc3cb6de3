/* test_simd.c - every SIMD kernel set this CPU can run against the scalar reference kernels.
 *
 * For each set (avx2, avx512, neon, as supported) and each tensor type: vec_dot on random weight
 * rows of awkward lengths (1, 3, 7, 33 ... blocks, up to 8192 elements; rows starting one block
 * into a buffer; random bytes so every bit pattern of the quants occurs; zero and tiny scales)
 * must equal the scalar dot up to float summation order, and the activation quantizers (Q8_0,
 * Q8_1, Q8_K from_float) must produce the scalar bytes exactly - ties, spikes, zero blocks
 * included - since the model's logits are pinned on those bytes. Activations fed to the dots
 * come from the scalar quantizer, so both kernels see identical inputs. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "base/rng.h"
#include "check.h"
#include "kernels/qtypes.h"

static const int all_types[] = {QT_F32,  QT_F16,  QT_BF16, QT_Q4_0,   QT_Q4_1,  QT_Q5_0,
                                QT_Q5_1, QT_Q8_0, QT_Q8_1, QT_Q2_K,   QT_Q3_K,  QT_Q4_K,
                                QT_Q5_K, QT_Q6_K, QT_Q8_K, QT_IQ4_NL, QT_IQ4_XS};
#define N_ALL_TYPES ((int)(sizeof(all_types) / sizeof(all_types[0])))

static qtype_traits_t scalar[QT_COUNT];
static rng_state rng;

/* Byte offsets of a block's fp16 scale fields, which random bytes must not fill (inf/NaN scales
 * would make both kernels' results meaningless). -1 ends the list. */
static void scale_offsets(int t, int off[3])
{
    off[0] = off[1] = off[2] = -1;
    switch (t) {
    case QT_Q4_0:
    case QT_Q5_0:
    case QT_Q8_0:
    case QT_IQ4_NL:
    case QT_IQ4_XS:
    case QT_Q4_K:
    case QT_Q5_K:
        off[0] = 0;
        if (t == QT_Q4_K || t == QT_Q5_K) off[1] = 2;
        break;
    case QT_Q4_1:
    case QT_Q5_1:
    case QT_Q8_1:
        off[0] = 0, off[1] = 2;
        break;
    case QT_Q2_K:
        off[0] = 80, off[1] = 82;
        break;
    case QT_Q3_K:
        off[0] = 108;
        break;
    case QT_Q6_K:
        off[0] = 208;
        break;
    default:
        break;
    }
}

/* A scale: zero one time in eight, else +-[0.25, 4) times 2^-3..2^3, sometimes fp16-subnormal. */
static float random_scale(void)
{
    uint64_t r = rng_next(&rng);
    if ((r & 7) == 0) return 0.0f;
    float v = (float)(0.25 + 3.75 * rng_uniform(&rng)) * ldexpf(1.0f, (int)((r >> 3) % 7) - 3);
    if (((r >> 8) & 31) == 0) v = 3e-6f; /* below fp16's smallest normal */
    return (r >> 16) & 1 ? -v : v;
}

/* n elements of type t at dst: random quants with sane scales, or random finite floats. */
static void random_weights(int t, void *dst, int n)
{
    const qtype_traits_t *tr = &scalar[t];
    size_t len = (size_t)(n / tr->blck_size) * tr->type_size;
    uint8_t *p = dst;
    if (t == QT_F32 || t == QT_F16 || t == QT_BF16) {
        float *f = malloc((size_t)n * sizeof(float));
        for (int i = 0; i < n; i++) f[i] = (float)rng_normal(&rng) * random_scale();
        tr->from_float(f, dst, n);
        free(f);
        return;
    }
    for (size_t i = 0; i < len; i++) p[i] = (uint8_t)rng_next(&rng);
    int off[3];
    scale_offsets(t, off);
    for (size_t b = 0; b < len; b += tr->type_size) {
        for (int k = 0; k < 3 && off[k] >= 0; k++) {
            uint16_t h = fp32_to_fp16(random_scale());
            memcpy(p + b + off[k], &h, 2);
        }
        if (t == QT_Q8_K) {
            float d = random_scale();
            memcpy(p + b, &d, 4);
        }
    }
}

/* Activation floats of one of several shapes: normal, a lone spike over tiny values, zero runs,
 * exact ties of opposite signs, and values on rounding midpoints (x.5 against a 127 maximum). */
static void random_activations(float *x, int n, int shape)
{
    for (int i = 0; i < n; i++) x[i] = (float)rng_normal(&rng);
    switch (shape) {
    case 1:
        for (int i = 0; i < n; i++) x[i] *= 1e-4f;
        x[rng_next(&rng) % (uint64_t)n] = 3e4f;
        break;
    case 2:
        for (int i = 0; i < n; i++)
            if ((i / 32) % 3 == 1 || (i / 256) % 2 == 1) x[i] = 0.0f;
        break;
    case 3:
        for (int i = 0; i < n; i++) x[i] = (float)((int)(rng_next(&rng) % 7) - 3);
        break;
    case 4:
        for (int i = 0; i < n; i++) {
            int k = (int)(rng_next(&rng) % 254) - 127;
            x[i] = i % 16 == 0 ? (i % 32 ? -127.0f : 127.0f) : (float)k + 0.5f * (k < 126);
        }
        break;
    default:
        break;
    }
}

/* Bytes [*lo, *hi) of a block that hold its quants, for types whose value is scale * q + offset:
 * zeroing them leaves each element's offset (the min). Returns 0 for types without one. */
static int quant_bytes(int t, int *lo, int *hi)
{
    switch (t) {
    case QT_Q4_1:
        *lo = 4, *hi = 20;
        return 1;
    case QT_Q5_1:
        *lo = 4, *hi = 24;
        return 1;
    case QT_Q2_K:
        *lo = 16, *hi = 80;
        return 1;
    case QT_Q4_K:
        *lo = 16, *hi = 144;
        return 1;
    case QT_Q5_K:
        *lo = 16, *hi = 176;
        return 1;
    default:
        return 0;
    }
}

/* Scale of the dot's rounding error: sum |w y| over the elements, where a type with mins counts
 * its scale and offset terms separately (|w| + 2 |offset|), since kernels may round the two large
 * terms before they cancel. */
static double dot_magnitude(int t, const void *w, const void *yq, int n)
{
    const qtype_traits_t *tr = &scalar[t];
    int vt = tr->vec_dot_type, lo, hi;
    float *a = malloc((size_t)n * sizeof(float)), *b = malloc((size_t)n * sizeof(float));
    float *m = calloc((size_t)n, sizeof(float));
    tr->to_float(w, a, n);
    scalar[vt].to_float(yq, b, n);
    if (quant_bytes(t, &lo, &hi)) {
        size_t len = qtype_row_size((enum qtype)t, n);
        uint8_t *z = malloc(len);
        memcpy(z, w, len);
        for (size_t off = 0; off < len; off += tr->type_size)
            memset(z + off + lo, 0, (size_t)(hi - lo));
        tr->to_float(z, m, n);
        free(z);
    }
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (fabs((double)a[i]) + 2 * fabs((double)m[i])) * fabs((double)b[i]);
    free(a);
    free(b);
    free(m);
    return s;
}

/* One set, one type, one row length: the dot at block offsets 0 and 1 of a buffer, every shape. */
static void check_dot(const qtype_traits_t *simd, const char *set, int t, int n)
{
    const qtype_traits_t *tr = &scalar[t];
    int vt = tr->vec_dot_type;
    size_t row = qtype_row_size((enum qtype)t, n), yrow = qtype_row_size((enum qtype)vt, n);
    uint8_t *wbuf = malloc(row + tr->type_size), *ybuf = malloc(yrow);
    float *x = malloc((size_t)n * sizeof(float));
    for (int shape = 0; shape < 5; shape++) {
        for (int start = 0; start < 2; start++) {
            uint8_t *w = wbuf + start * tr->type_size;
            random_weights(t, w, n);
            random_activations(x, n, shape);
            scalar[vt].from_float(x, ybuf, n);
            float ref = NAN, got = NAN;
            tr->vec_dot(n, &ref, w, ybuf);
            simd[t].vec_dot(n, &got, w, ybuf);
            int nb = n / tr->blck_size;
            double tol = 2e-6 * sqrt((double)nb + 8) * dot_magnitude(t, w, ybuf, n) + 1e-30;
            CHECKF(fabs((double)got - ref) <= tol, "%s %s n=%d shape=%d start=%d: %.9g vs %.9g",
                   set, tr->name, n, shape, start, got, ref);
        }
    }
    free(wbuf);
    free(ybuf);
    free(x);
}

static void check_set_dots(int set)
{
    qtype_traits_t simd[QT_COUNT];
    CHECK(qt_kernels_fill(set, simd) == 0);
    static const int blocks32[] = {1, 2, 3, 7, 33, 64, 255, 256};
    static const int blocks256[] = {1, 2, 3, 7, 11, 32};
    static const int floats[] = {1, 7, 8, 15, 16, 17, 31, 33, 100, 1000, 4097, 8192};
    for (int k = 0; k < N_ALL_TYPES; k++) {
        int t = all_types[k];
        int bs = scalar[t].blck_size;
        if (bs == 1)
            for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++)
                check_dot(simd, qt_kernels_name(set), t, floats[i]);
        else if (bs == 32)
            for (size_t i = 0; i < sizeof(blocks32) / sizeof(blocks32[0]); i++)
                check_dot(simd, qt_kernels_name(set), t, 32 * blocks32[i]);
        else
            for (size_t i = 0; i < sizeof(blocks256) / sizeof(blocks256[0]); i++)
                check_dot(simd, qt_kernels_name(set), t, 256 * blocks256[i]);
    }
}

/* vec_dot_rows gives, for every row and every row count, exactly what vec_dot gives for that
 * row: the matrix products rely on it to stay independent of how rows are grouped. */
static void check_set_rows(int set)
{
    qtype_traits_t simd[QT_COUNT];
    CHECK(qt_kernels_fill(set, simd) == 0);
    for (int k = 0; k < N_ALL_TYPES; k++) {
        int t = all_types[k];
        if (!simd[t].vec_dot_rows) continue;
        int vt = simd[t].vec_dot_type, bs = simd[t].blck_size;
        static const int n_blocks[] = {1, 3, 4, 5, 7, 64, 66, 176};
        for (size_t b = 0; b < sizeof(n_blocks) / sizeof(n_blocks[0]); b++) {
            int n = bs * n_blocks[b];
            size_t row = qtype_row_size((enum qtype)t, n);
            size_t stride = row + simd[t].type_size; /* rows need not be packed */
            uint8_t *w = malloc(stride * QT_DOT_ROWS);
            uint8_t *yq = malloc(qtype_row_size((enum qtype)vt, n));
            float *x = malloc((size_t)n * sizeof(float));
            for (int r = 0; r < QT_DOT_ROWS; r++) random_weights(t, w + r * stride, n);
            random_activations(x, n, (int)(b % 5));
            scalar[vt].from_float(x, yq, n);
            float one[QT_DOT_ROWS];
            for (int r = 0; r < QT_DOT_ROWS; r++) simd[t].vec_dot(n, &one[r], w + r * stride, yq);
            for (int nr = 1; nr <= QT_DOT_ROWS; nr++) {
                float got[QT_DOT_ROWS];
                simd[t].vec_dot_rows(n, nr, got, w, stride, yq);
                for (int r = 0; r < nr; r++)
                    CHECKF(memcmp(&got[r], &one[r], sizeof(float)) == 0,
                           "%s %s n=%d nr=%d row %d: %.9g vs %.9g", qt_kernels_name(set),
                           simd[t].name, n, nr, r, got[r], one[r]);
            }
            free(w);
            free(yq);
            free(x);
        }
    }
}

/* vec_dot_tile likewise gives exactly vec_dot's result for every row and token of a tile, for
 * every tile shape (so ragged edge tiles of a batch agree with full ones). */
static void check_set_tiles(int set)
{
    qtype_traits_t simd[QT_COUNT];
    CHECK(qt_kernels_fill(set, simd) == 0);
    for (int k = 0; k < N_ALL_TYPES; k++) {
        int t = all_types[k];
        if (!simd[t].vec_dot_tile) continue;
        int vt = simd[t].vec_dot_type, bs = simd[t].blck_size;
        static const int n_blocks[] = {1, 4, 6, 64, 67};
        for (size_t b = 0; b < sizeof(n_blocks) / sizeof(n_blocks[0]); b++) {
            int n = bs * n_blocks[b];
            size_t row = qtype_row_size((enum qtype)t, n), yrow = qtype_row_size((enum qtype)vt, n);
            size_t stride = row + simd[t].type_size;
            enum { R = QT_DOT_ROWS, T = QT_TILE_TOKENS };
            uint8_t *w = malloc(stride * R), *yq = malloc(yrow * T);
            float *x = malloc((size_t)n * sizeof(float)), one[T][R], got[T][R + 1];
            for (int r = 0; r < R; r++) random_weights(t, w + r * stride, n);
            for (int u = 0; u < T; u++) {
                random_activations(x, n, u % 5);
                scalar[vt].from_float(x, yq + u * yrow, n);
                for (int r = 0; r < R; r++)
                    simd[t].vec_dot(n, &one[u][r], w + r * stride, yq + u * yrow);
            }
            for (int nr = 1; nr <= R; nr++)
                for (int nt = 1; nt <= T; nt++) {
                    memset(got, 0, sizeof(got));
                    simd[t].vec_dot_tile(n, nr, nt, &got[0][0], R + 1, w, stride, yq, yrow);
                    for (int u = 0; u < nt; u++)
                        for (int r = 0; r < nr; r++)
                            CHECKF(memcmp(&got[u][r], &one[u][r], sizeof(float)) == 0,
                                   "%s %s n=%d tile %dx%d at %d,%d: %.9g vs %.9g",
                                   qt_kernels_name(set), simd[t].name, n, nr, nt, r, u,
                                   got[u][r], one[u][r]);
                }
            free(w);
            free(yq);
            free(x);
        }
    }
}

/* Packed layouts: QT_PACK_ROWS rows packed from rows that need not be contiguous, against the
 * scalar dot of each row with the scalar activation quantizer's bytes (the packed activation
 * format must carry the same quants and scale, so only the summation order differs); and every
 * token of a tile of nt tokens equals, bit for bit, the same token computed alone. */
static void check_set_packed(int set)
{
    qtype_traits_t simd[QT_COUNT];
    CHECK(qt_kernels_fill(set, simd) == 0);
    for (int k = 0; k < N_ALL_TYPES; k++) {
        int t = all_types[k];
        const qt_packed_kernels *pk = simd[t].packed;
        if (!pk) continue;
        int vt = simd[t].vec_dot_type, bs = simd[t].blck_size;
        static const int n_blocks[] = {1, 3, 7, 64, 67, 176};
        for (size_t b = 0; b < sizeof(n_blocks) / sizeof(n_blocks[0]); b++) {
            int n = bs * n_blocks[b];
            enum { R = QT_PACK_ROWS, T = QT_TILE_TOKENS };
            size_t row = qtype_row_size((enum qtype)t, n), yrow = qtype_row_size((enum qtype)vt, n);
            size_t stride = row + simd[t].type_size, arow = pk->act_row_bytes(n);
            uint8_t *w = malloc(stride * R), *g = malloc(pk->group_bytes(n));
            uint8_t *yq = malloc(yrow), *ya = malloc(arow * T);
            float *x = malloc((size_t)n * sizeof(float)), ref[T][R], alone[T][R], got[T][R + 3];
            for (int r = 0; r < R; r++) random_weights(t, w + r * stride, n);
            pk->pack(n, w, stride, g);
            for (int u = 0; u < T; u++) {
                random_activations(x, n, u % 5);
                scalar[vt].from_float(x, yq, n);
                pk->act_from_float(x, ya + u * arow, n);
                for (int r = 0; r < R; r++) scalar[t].vec_dot(n, &ref[u][r], w + r * stride, yq);
                pk->tile(n, 1, alone[u], R, g, ya + u * arow, arow);
                for (int r = 0; r < R; r++) {
                    double tol = 2e-6 * sqrt((double)n / bs + 8) *
                                     dot_magnitude(t, w + r * stride, yq, n) + 1e-30;
                    CHECKF(fabs((double)alone[u][r] - ref[u][r]) <= tol,
                           "%s %s packed n=%d token %d row %d: %.9g vs %.9g",
                           qt_kernels_name(set), simd[t].name, n, u, r, alone[u][r], ref[u][r]);
                }
            }
            for (int nt = 2; nt <= T; nt++) {
                memset(got, 0, sizeof(got));
                pk->tile(n, nt, &got[0][0], R + 3, g, ya, arow);
                for (int u = 0; u < nt; u++)
                    for (int r = 0; r < R; r++)
                        CHECKF(memcmp(&got[u][r], &alone[u][r], sizeof(float)) == 0,
                               "%s %s packed n=%d nt=%d token %d row %d: %.9g vs %.9g",
                               qt_kernels_name(set), simd[t].name, n, nt, u, r, got[u][r],
                               alone[u][r]);
                for (int u = 0; u < nt; u++)
                    CHECK(got[u][R] == 0 && got[u][R + 2] == 0); /* nothing past the group */
            }
            free(w);
            free(g);
            free(yq);
            free(ya);
            free(x);
        }
    }
}

/* The activation quantizers of a set must reproduce the scalar bytes for every shape. */
static void check_set_quantizers(int set)
{
    qtype_traits_t simd[QT_COUNT];
    CHECK(qt_kernels_fill(set, simd) == 0);
    static const int act_types[] = {QT_Q8_0, QT_Q8_1, QT_Q8_K};
    enum { N = 2048 };
    float *x = malloc(N * sizeof(float));
    uint8_t *a = malloc(4096), *b = malloc(4096);
    for (int k = 0; k < 3; k++) {
        int t = act_types[k];
        for (int shape = 0; shape < 5; shape++) {
            for (int rep = 0; rep < 4; rep++) {
                random_activations(x, N, shape);
                if (rep == 1) /* the largest magnitude twice, negative first */
                    x[5] = -40.0f, x[9] = 40.0f, x[300] = 40.0f, x[301] = -40.0f;
                if (rep == 2)
                    for (int i = 0; i < N; i++) x[i] *= 1e-30f; /* near the float floor */
                size_t len = qtype_row_size((enum qtype)t, N);
                memset(a, 0xaa, len);
                memset(b, 0x55, len);
                scalar[t].from_float(x, a, N);
                simd[t].from_float(x, b, N);
                CHECKF(memcmp(a, b, len) == 0, "%s %s shape=%d rep=%d", qt_kernels_name(set),
                       scalar[t].name, shape, rep);
            }
        }
    }
    free(x);
    free(a);
    free(b);
}

static void test_dots_match_scalar(void)
{
    int n_sets = 0;
    for (int set = 1; set < QT_KERNELS_COUNT; set++) {
        if (!qt_kernels_supported(set)) continue;
        printf("  set %s\n", qt_kernels_name(set));
        check_set_dots(set);
        check_set_rows(set);
        check_set_tiles(set);
        check_set_packed(set);
        n_sets++;
    }
    if (!n_sets) printf("  no SIMD set on this CPU: nothing to compare\n");
}

static void test_quantizers_byte_identical(void)
{
    for (int set = 1; set < QT_KERNELS_COUNT; set++)
        if (qt_kernels_supported(set)) check_set_quantizers(set);
}

/* Every set keeps the table's shape: same names, sizes and activation types as the scalar one,
 * and an unsupported set is refused with the scalar table. */
static void test_sets_keep_table_shape(void)
{
    CHECK(qt_kernels_supported(QT_KERNELS_SCALAR));
    CHECK(!qt_kernels_supported(-1) && !qt_kernels_supported(QT_KERNELS_COUNT));
    CHECK(qt_kernels_name(QT_KERNELS_COUNT) == NULL);
    for (int set = 0; set < QT_KERNELS_COUNT; set++) {
        qtype_traits_t tbl[QT_COUNT];
        int rc = qt_kernels_fill(set, tbl);
        CHECKF(rc == (qt_kernels_supported(set) ? 0 : -1), "%s", qt_kernels_name(set));
        for (int t = 0; t < QT_COUNT; t++) {
            CHECK(tbl[t].name == scalar[t].name && tbl[t].type_size == scalar[t].type_size);
            CHECK(tbl[t].vec_dot_type == scalar[t].vec_dot_type);
            CHECK((tbl[t].vec_dot != NULL) == (scalar[t].vec_dot != NULL));
            if (rc) CHECK(tbl[t].vec_dot == scalar[t].vec_dot);
        }
    }
}

/* qtypes_init installs the best supported set, or the one UNHOSTED_KERNELS names if supported. */
static void test_init_selects_set(void)
{
    int best = 0;
    for (int set = 0; set < QT_KERNELS_COUNT; set++)
        if (qt_kernels_supported(set)) best = set;
    int want = best;
    const char *env = getenv("UNHOSTED_KERNELS");
    for (int set = 0; env && set < QT_KERNELS_COUNT; set++)
        if (strcmp(env, qt_kernels_name(set)) == 0 && qt_kernels_supported(set)) want = set;
    qtypes_init();
    qtype_traits_t tbl[QT_COUNT];
    qt_kernels_fill(want, tbl);
    for (int t = 0; t < QT_COUNT; t++) {
        CHECKF(qtype_traits[t].vec_dot == tbl[t].vec_dot, "%s", qtype_name(t));
        CHECKF(qtype_traits[t].from_float == tbl[t].from_float, "%s", qtype_name(t));
    }
    const char *name = qtypes_kernel_name();
    CHECKF(strncmp(name, qt_kernels_name(want), strlen(qt_kernels_name(want))) == 0, "%s", name);
    printf("  kernels=%s\n", name);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    qt_kernels_fill(QT_KERNELS_SCALAR, scalar);
    rng_seed(&rng, 20240611);
    T_RUN(test_sets_keep_table_shape);
    T_RUN(test_quantizers_byte_identical);
    T_RUN(test_dots_match_scalar);
    T_RUN(test_init_selects_set);
    return t_exit();
}
