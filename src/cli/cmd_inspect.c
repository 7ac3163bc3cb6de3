/* cmd_inspect.c - `unhosted inspect FILE.gguf [--all]`: prints a GGUF file's header, every
 * metadata key (one line each: key, type, value) and the tensor table, then totals.
 *
 * Strings are quoted and escaped (\n, \t, \", \\, \xNN for control bytes and invalid UTF-8), so
 * each key stays on one line whatever the file holds. Without --all, long arrays show their
 * first elements then "... (N elements)" and long strings are cut with their byte count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_util.h"
#include "gguf/gguf.h"
#include "models/resolve.h"
#include "kernels/qtypes.h"

#define SHOW_ELEMS     8   /* array elements shown without --all */
#define SHOW_STR_BYTES 120 /* string bytes shown without --all */

typedef unsigned long long ull;

static void inspect_usage(FILE *f)
{
    fprintf(f, "usage: unhosted inspect FILE.gguf [--all]\n"
               "  --all   print every array element and whole strings (default: abbreviated)\n");
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if it is not one. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xe0) == 0xc0)
        len = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

static void print_str(const gguf_str *s, int all)
{
    const unsigned char *p = (const unsigned char *)s->ptr;
    size_t n = (size_t)s->len;
    size_t shown = !all && n > SHOW_STR_BYTES ? SHOW_STR_BYTES : n;
    putchar('"');
    for (size_t i = 0; i < shown;) {
        unsigned char c = p[i];
        size_t len = utf8_seq_len(p + i, n - i);
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c < 0x20 || c == 0x7f || len == 0)
            printf("\\x%02x", c);
        else
            fwrite(p + i, 1, len, stdout);
        i += len ? len : 1;
    }
    putchar('"');
    if (shown < n) printf("... (%zu bytes)", n);
}

/* Shortest %g form that reads back as the same value (floats print as 1e-05, not 9.99e-06). */
static void print_float(double v, int is_f32)
{
    char buf[40];
    for (int prec = is_f32 ? 6 : 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (is_f32 ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v) break;
    }
    fputs(buf, stdout);
    /* keep whole floats recognisable as floats */
    if (!strpbrk(buf, ".eEna")) fputs(".0", stdout);
}

static void print_scalar(const gguf_value *v)
{
    switch (v->type) {
    case GGUF_T_I8:
    case GGUF_T_I16:
    case GGUF_T_I32:
    case GGUF_T_I64:
        printf("%lld", (long long)v->v.i);
        break;
    case GGUF_T_F32:
    case GGUF_T_F64:
        print_float(v->v.f, v->type == GGUF_T_F32);
        break;
    case GGUF_T_BOOL:
        fputs(v->v.u ? "true" : "false", stdout);
        break;
    default:
        printf("%llu", (ull)v->v.u);
        break;
    }
}

static uint64_t load_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void print_array(const gguf_value *v, int all)
{
    enum gguf_vtype et = v->v.arr.elem_type;
    uint64_t n = v->v.arr.n;
    uint64_t shown = !all && n > SHOW_ELEMS ? SHOW_ELEMS : n;
    putchar('[');
    for (uint64_t i = 0; i < shown; i++) {
        if (i) fputs(", ", stdout);
        if (et == GGUF_T_STR) {
            print_str(&v->v.arr.strs[i], all);
        } else if (et == GGUF_T_ARR) {
            print_array(&v->v.arr.arrs[i], all);
        } else {
            gguf_value e = {.type = et};
            if (et == GGUF_T_F32 || et == GGUF_T_F64)
                e.v.f = gguf_arr_f64(v, i);
            else if (et == GGUF_T_U64)
                e.v.u = load_u64le((const uint8_t *)v->v.arr.raw + i * 8);
            else if (et == GGUF_T_U8 || et == GGUF_T_U16 || et == GGUF_T_U32 || et == GGUF_T_BOOL)
                e.v.u = (uint64_t)gguf_arr_i64(v, i);
            else
                e.v.i = gguf_arr_i64(v, i);
            print_scalar(&e);
        }
    }
    if (shown < n) printf(", ... (%llu elements)", (ull)n);
    putchar(']');
}

static void print_value(const gguf_value *v, int all)
{
    if (v->type == GGUF_T_STR)
        print_str(&v->v.s, all);
    else if (v->type == GGUF_T_ARR)
        print_array(v, all);
    else
        print_scalar(v);
}

static void print_kv(const gguf_kv *kv, int all)
{
    fputs("  ", stdout);
    /* keys are bytes: print them escaped too, but without quotes when they are plain */
    int plain = 1;
    for (uint64_t i = 0; i < kv->key.len; i++) {
        unsigned char c = (unsigned char)kv->key.ptr[i];
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') plain = 0;
    }
    if (plain && kv->key.len)
        fwrite(kv->key.ptr, 1, (size_t)kv->key.len, stdout);
    else
        print_str(&kv->key, 1);
    const gguf_value *v = &kv->value;
    if (v->type == GGUF_T_ARR) {
        printf(" (array[%s], %llu) = ", gguf_vtype_name((int)v->v.arr.elem_type), (ull)v->v.arr.n);
    } else {
        printf(" (%s) = ", gguf_vtype_name((int)v->type));
    }
    print_value(v, all);
    putchar('\n');
}

/* 3 significant digits with a K/M/B/T suffix (powers of 1000). */
static void human_count(char *buf, size_t cap, uint64_t n)
{
    static const char *const sfx[] = {"", "K", "M", "B", "T"};
    double v = (double)n;
    int k = 0;
    while (v >= 999.5 && k < 4) v /= 1000, k++;
    if (k == 0)
        snprintf(buf, cap, "%llu", (ull)n);
    else
        snprintf(buf, cap, "%.*f %s", v < 9.995 ? 2 : v < 99.95 ? 1 : 0, v, sfx[k]);
}

static void human_bytes(char *buf, size_t cap, uint64_t n)
{
    static const char *const sfx[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int k = 0;
    while (v >= 1023.5 && k < 4) v /= 1024, k++;
    if (k == 0)
        snprintf(buf, cap, "%llu B", (ull)n);
    else
        snprintf(buf, cap, "%.*f %s", v < 9.995 ? 2 : v < 99.95 ? 1 : 0, v, sfx[k]);
}

static void print_tensors(const gguf_file *f)
{
    uint64_t n = gguf_n_tensors(f);
    int name_w = 4;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = strlen(gguf_tensor_at(f, i)->name);
        if (len > (size_t)name_w) name_w = len > 64 ? 64 : (int)len;
    }
    printf("\ntensors: %llu\n", (ull)n);
    if (n)
        printf("  %5s  %-*s  %-7s %-20s %14s %14s\n", "#", name_w, "name", "type", "shape",
               "offset", "bytes");
    uint64_t n_params = 0, n_bytes = 0;
    for (uint64_t i = 0; i < n; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        char shape[128];
        int o = snprintf(shape, sizeof shape, "[");
        int64_t elems = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            o += snprintf(shape + o, sizeof shape - (size_t)o, "%s%lld", d ? ", " : "",
                          (long long)t->ne[d]);
            elems *= t->ne[d];
        }
        snprintf(shape + o, sizeof shape - (size_t)o, "]");
        printf("  %5llu  %-*s  %-7s %-20s %14llu %14llu\n", (ull)i, name_w, t->name,
               qtype_name((int)t->type), shape, (ull)t->offset, (ull)t->size);
        /* the reader guarantees each count fits in int64; the sums stay below the file size
         * times the elements per byte, far from overflow in practice, but saturate anyway */
        n_params =
            (uint64_t)elems > UINT64_MAX - n_params ? UINT64_MAX : n_params + (uint64_t)elems;
        n_bytes += t->size;
    }
    char hc[32], hb[32];
    human_count(hc, sizeof hc, n_params);
    human_bytes(hb, sizeof hb, n_bytes);
    printf("\ntotals: %llu tensors, %s parameters (%llu), %s of tensor data (%llu bytes)", (ull)n,
           hc, (ull)n_params, hb, (ull)n_bytes);
    if (n_params) printf(", %.2f bits per weight", (double)n_bytes * 8.0 / (double)n_params);
    putchar('\n');
}

int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    int all = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            inspect_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--all") == 0) {
            all = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("inspect", "unknown option %s", argv[i]);
            inspect_usage(stderr);
            return 2;
        } else if (path) {
            cli_error("inspect", "one file at a time (got %s and %s)", path, argv[i]);
            inspect_usage(stderr);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        inspect_usage(stderr);
        return 2;
    }
    gguf_file *f = NULL;
    uh_err err = {0};
    char resolved[4096];
    if (models_resolve(path, resolved, sizeof resolved, &err) != 0) {
        cli_error("inspect", "%s", err.msg);
        return 1;
    }
    path = resolved;
    if (gguf_open(path, &f, &err) != 0) {
        cli_error("inspect", "%s", err.msg);
        return 1;
    }
    printf("file:        %s\n", path);
    printf("version:     %u\n", gguf_version(f));
    printf("alignment:   %u\n", gguf_alignment(f));
    printf("data offset: %llu\n", (ull)gguf_data_offset(f));
    printf("file size:   %zu\n", gguf_file_size(f));
    printf("\nmetadata: %llu key%s\n", (ull)gguf_n_kv(f), gguf_n_kv(f) == 1 ? "" : "s");
    for (uint64_t i = 0; i < gguf_n_kv(f); i++) print_kv(gguf_kv_at(f, i), all);
    print_tensors(f);
    gguf_close(f);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("inspect", "writing to stdout failed");
        return 1;
    }
    return 0;
}
