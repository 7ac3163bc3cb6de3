/* fuzz_gguf.c - libFuzzer harness for the GGUF reader (and the writer's deep copy).
 *
 * Opens the input with gguf_open_mem and walks everything a loader would touch: every key and
 * value (nested arrays included, every element read), every typed getter on every key, every
 * tensor (lookup by name, first and last data byte), the first row of each tensor dequantized
 * when its type has a kernel, and a copy of every kv and tensor into a writer. Invariants the
 * reader promises are checked with __builtin_trap, so a broken promise shows up as a crash.
 *
 * Corpus: fuzz/corpus/gguf (seeds), fuzz/regress/gguf (past crashes, replayed by tests/fuzz.sh). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "kernels/qtypes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

static volatile uint64_t g_sink; /* keeps the reads from being optimised away */

static int inside(const void *p, uint64_t n, const uint8_t *data, size_t size)
{
    const uint8_t *b = p;
    return b >= data && n <= size && (size_t)(b - data) <= size - n;
}

static void walk_value(const gguf_value *v, const uint8_t *data, size_t size, int depth)
{
    REQUIRE(depth <= GGUF_MAX_ARRAY_DEPTH);
    if (v->type == GGUF_T_STR) {
        REQUIRE(inside(v->v.s.ptr, v->v.s.len, data, size));
        if (v->v.s.len) g_sink += (uint8_t)v->v.s.ptr[0] + (uint8_t)v->v.s.ptr[v->v.s.len - 1];
        return;
    }
    if (v->type != GGUF_T_ARR) {
        g_sink += v->v.u;
        return;
    }
    uint64_t n = v->v.arr.n;
    enum gguf_vtype et = v->v.arr.elem_type;
    REQUIRE((unsigned)et < GGUF_T_COUNT);
    if (et == GGUF_T_STR) {
        for (uint64_t i = 0; i < n; i++) {
            gguf_value s = {.type = GGUF_T_STR};
            s.v.s = v->v.arr.strs[i];
            walk_value(&s, data, size, depth);
        }
    } else if (et == GGUF_T_ARR) {
        for (uint64_t i = 0; i < n; i++) {
            REQUIRE(v->v.arr.arrs[i].type == GGUF_T_ARR);
            walk_value(&v->v.arr.arrs[i], data, size, depth + 1);
        }
    } else {
        REQUIRE(inside(v->v.arr.raw, n * gguf_vtype_size((int)et), data, size));
        for (uint64_t i = 0; i < n; i++) {
            double d = gguf_arr_f64(v, i);
            g_sink += (uint64_t)gguf_arr_i64(v, i) + (d == d);
        }
    }
}

static void call_getters(const gguf_file *f, const char *key)
{
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float f32;
    int b;
    gguf_str s;
    const gguf_value *a;
    uh_err err;
    g_sink += (uint64_t)gguf_get_u32(f, key, &u32, &err);
    g_sink += (uint64_t)gguf_get_i32(f, key, &i32, &err);
    g_sink += (uint64_t)gguf_get_u64(f, key, &u64, &err);
    g_sink += (uint64_t)gguf_get_f32(f, key, &f32, &err);
    g_sink += (uint64_t)gguf_get_bool(f, key, &b, &err);
    g_sink += (uint64_t)gguf_get_str(f, key, &s, &err);
    for (int t = 0; t < GGUF_T_COUNT; t++)
        if (t != GGUF_T_ARR) g_sink += (uint64_t)gguf_get_arr(f, key, (enum gguf_vtype)t, &a, &err);
}

static void walk_tensors(const gguf_file *f, gguf_writer *w, const uint8_t *data, size_t size)
{
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        REQUIRE(gguf_find_tensor(f, t->name) == t);
        REQUIRE(t->n_dims >= 1 && t->n_dims <= GGUF_MAX_DIMS && t->size > 0);
        REQUIRE(t->offset % gguf_alignment(f) == 0);
        REQUIRE(inside(t->data, t->size, data, size));
        const uint8_t *p = t->data;
        g_sink += p[0] + p[t->size - 1];
        const qtype_traits_t *tt = &qtype_traits[t->type];
        REQUIRE(t->type < QT_COUNT && tt->name);
        if (tt->to_float && t->ne[0] <= (1 << 20)) {
            REQUIRE(t->ne[0] % tt->blck_size == 0);
            REQUIRE((uint64_t)(t->ne[0] / tt->blck_size) * tt->type_size <= t->size);
            float *row = malloc((size_t)t->ne[0] * sizeof *row);
            if (row) {
                tt->to_float(t->data, row, t->ne[0]);
                g_sink += row[0] == row[0];
                free(row);
            }
        }
        /* the writer re-validates type, shape and size: it must accept what the reader did */
        REQUIRE(gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->size) ==
                0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialised;
    if (!initialised) {
        qtypes_init();
        initialised = 1;
    }
    gguf_file *f = NULL;
    uh_err err;
    memset(&err, 0, sizeof err);
    if (gguf_open_mem(data, size, &f, &err) != 0) {
        REQUIRE(f == NULL && err.code < 0 && err.msg[0]);
        return 0;
    }
    REQUIRE(gguf_version(f) == 2 || gguf_version(f) == 3);
    uint32_t a = gguf_alignment(f);
    REQUIRE(a && !(a & (a - 1)) && gguf_data_offset(f) % a == 0);
    gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        REQUIRE(inside(kv->key.ptr, kv->key.len, data, size));
        REQUIRE(kv->key.len <= GGUF_MAX_KEY);
        REQUIRE(strncmp(kv->key_z, kv->key.ptr, (size_t)kv->key.len) == 0);
        if (strlen(kv->key_z) == kv->key.len) REQUIRE(gguf_find_kv(f, kv->key_z) == kv);
        walk_value(&kv->value, data, size, kv->value.type == GGUF_T_ARR);
        call_getters(f, kv->key_z);
        if (w) REQUIRE(gguf_writer_copy_kv(w, kv) == 0);
    }
    if (w) walk_tensors(f, w, data, size);
    gguf_writer_free(w);
    gguf_close(f);
    return 0;
}
