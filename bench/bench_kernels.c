/* bench_kernels.c - single-thread throughput of every vec_dot kernel, per kernel set.
 *
 * A matrix-vector sweep as the forward pass does it: ROWS x COLS weights of each type against one
 * activation row (quantized once to the type's vec_dot_type), timed over repeated sweeps. Prints
 * GB/s of weight bytes streamed and the speed-up over the scalar kernels. The matrix (tens of MB)
 * is larger than the caches, so the figures include memory traffic as a real model's would.
 * Weight bytes are random with fixed, finite scales: speed does not depend on the values. Types
 * with a multi-row kernel are swept QT_DOT_ROWS rows per call, as the matrix products do.
 * Usage: bench_kernels [TYPE...] (default: every type). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/fp16.h"
#include "kernels/qtypes.h"

#ifndef ROWS
#define ROWS 2048
#endif
#define COLS 5632

static const int bench_types[] = {QT_F32,  QT_F16,  QT_BF16, QT_Q8_0,   QT_Q4_0,
                                  QT_Q4_1, QT_Q5_0, QT_Q5_1, QT_Q2_K,   QT_Q3_K,
                                  QT_Q4_K, QT_Q5_K, QT_Q6_K, QT_IQ4_NL, QT_IQ4_XS};

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Random quant bytes; every 2-byte field that can hold a scale set to a small fp16 value. A
 * field that is a quant byte pair instead just gets that value: harmless for timing. */
static void fill_weights(int t, uint8_t *w, size_t len, uint64_t *seed)
{
    const qtype_traits_t *tr = &qtype_traits[t];
    if (!tr->is_quantized) {
        float *f = malloc(COLS * sizeof(float));
        for (int i = 0; i < COLS; i++) f[i] = (float)((int)(lcg(seed) % 2001) - 1000) * 1e-3f;
        size_t row = qtype_row_size((enum qtype)t, COLS);
        for (size_t r = 0; r < len / row; r++) tr->from_float(f, w + r * row, COLS);
        free(f);
        return;
    }
    for (size_t i = 0; i < len; i++) w[i] = (uint8_t)lcg(seed);
    uint16_t h = fp32_to_fp16(0.01f);
    for (size_t b = 0; b + tr->type_size <= len; b += tr->type_size) {
        memcpy(w + b, &h, 2);                     /* d of most types */
        memcpy(w + b + tr->type_size - 2, &h, 2); /* d of Q3_K, Q6_K; dmin of Q2_K */
        memcpy(w + b + tr->type_size - 4, &h, 2);
    }
}

/* Seconds per sweep of the matrix with table tb's kernel. */
static double time_sweep(const qtype_traits_t *tb, int t, const uint8_t *w, const void *act,
                         float *out)
{
    size_t row = qtype_row_size((enum qtype)t, COLS);
    int reps = 0;
    double t0 = clock_mono_s(), el;
    do {
        if (tb[t].vec_dot_rows) /* as the matrix products call it */
            for (int r = 0; r < ROWS; r += QT_DOT_ROWS)
                tb[t].vec_dot_rows(COLS, QT_DOT_ROWS, &out[r], w + (size_t)r * row, row, act);
        else
            for (int r = 0; r < ROWS; r++)
                tb[t].vec_dot(COLS, &out[r], w + (size_t)r * row, act);
        reps++;
        el = clock_mono_s() - t0;
    } while (el < 0.3 || reps < 2);
    return el / reps;
}

/* Arguments, if any, name the types to measure (default: all). */
static int wanted(int t, int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (qtype_from_name(argv[i]) == t) return 1;
    return argc < 2;
}

int main(int argc, char **argv)
{
    static qtype_traits_t tables[QT_KERNELS_COUNT][QT_COUNT];
    int n_sets = 0, sets[QT_KERNELS_COUNT];
    for (int set = 0; set < QT_KERNELS_COUNT; set++)
        if (qt_kernels_fill(set, tables[set]) == 0) sets[n_sets++] = set;
    float *x = malloc(COLS * sizeof(float));
    uint64_t seed = 42;
    for (int i = 0; i < COLS; i++) x[i] = (float)((int)(lcg(&seed) % 2001) - 1000) * 1e-3f;
    float *out = malloc(ROWS * sizeof(float));
    void *act = malloc(COLS * sizeof(float) + 4096);

    printf("vec_dot sweep, %d x %d weights, 1 thread; GB/s of weight data (x scalar)\n", ROWS,
           COLS);
    printf("%-8s %9s", "type", "MB");
    for (int k = 0; k < n_sets; k++) printf(" %16s", qt_kernels_name(sets[k]));
    printf("\n");
    for (size_t k = 0; k < sizeof(bench_types) / sizeof(bench_types[0]); k++) {
        int t = bench_types[k];
        if (!wanted(t, argc, argv)) continue;
        size_t len = qtype_row_size((enum qtype)t, COLS) * ROWS;
        uint8_t *w = malloc(len);
        fill_weights(t, w, len, &seed);
        printf("%-8s %9.1f", qtype_name(t), (double)len / 1e6);
        double scalar_s = 0;
        for (int j = 0; j < n_sets; j++) {
            const qtype_traits_t *tb = tables[sets[j]];
            int vt = tb[t].vec_dot_type;
            tb[vt].from_float(x, act, COLS);
            double sec = time_sweep(tb, t, w, act, out);
            if (j == 0) scalar_s = sec;
            printf(" %8.2f (%5.1fx)", (double)len / sec / 1e9, scalar_s / sec);
            fflush(stdout);
        }
        printf("\n");
        free(w);
    }
    free(x);
    free(out);
    free(act);
    return 0;
}
