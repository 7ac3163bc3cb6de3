/* test_gguf.c - GGUF reader and writer: round trips of every value type, the fixture models and
 * vocabularies, write failures, and a file truncated at every byte offset (which must fail
 * cleanly; this binary also runs under ASan+UBSan). Hand-made malformed files are in
 * test_gguf_bad.c. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "gguf/gguf.h"
#include "kernels/qtypes.h"

static char g_dir[256]; /* scratch directory for written files */

static const char *tmp_path(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

static int str_eq(gguf_str s, const char *z)
{
    return s.len == strlen(z) && memcmp(s.ptr, z, (size_t)s.len) == 0;
}

/* ---- the sample file: every value type, several tensor types ---- */

static gguf_kv mk_kv(const char *key, gguf_value v)
{
    gguf_kv kv;
    memset(&kv, 0, sizeof kv);
    kv.key.ptr = key;
    kv.key.len = strlen(key);
    kv.value = v;
    return kv;
}

static const char *const k_strs[] = {"alpha", "", "tab\there", "\xff\xfe not utf-8"};
static const float k_f32s[] = {1.5f, -2.25f, 0.0f, 3.0e38f};
static const uint8_t k_bools[] = {1, 0, 1};

static uint8_t g_tdata[4][4096];

/* Writes the sample to path with the given alignment; returns the writer's rc. */
static int write_sample(const char *path, uint32_t alignment, int with_tensors)
{
    gguf_writer *w = gguf_writer_new();
    int rc = 0;
    rc |= gguf_writer_set_str(w, "general.architecture", "test");
    rc |= gguf_writer_set_u32(w, "t.u32", 4000000000u);
    rc |= gguf_writer_set_i32(w, "t.i32", -123456);
    rc |= gguf_writer_set_u64(w, "t.u64", 0xfedcba9876543210ull);
    rc |= gguf_writer_set_f32(w, "t.f32", 0.1f);
    rc |= gguf_writer_set_bool(w, "t.bool", 1);
    rc |= gguf_writer_set_str(w, "t.str", "hello \"world\"\n");
    rc |= gguf_writer_set_str(w, "t.empty_str", "");
    gguf_kv kv;
    kv = mk_kv("t.u8", (gguf_value){.type = GGUF_T_U8, .v.u = 250});
    rc |= gguf_writer_copy_kv(w, &kv);
    kv = mk_kv("t.i8", (gguf_value){.type = GGUF_T_I8, .v.i = -128});
    rc |= gguf_writer_copy_kv(w, &kv);
    kv = mk_kv("t.u16", (gguf_value){.type = GGUF_T_U16, .v.u = 65535});
    rc |= gguf_writer_copy_kv(w, &kv);
    kv = mk_kv("t.i16", (gguf_value){.type = GGUF_T_I16, .v.i = -32768});
    rc |= gguf_writer_copy_kv(w, &kv);
    kv = mk_kv("t.i64", (gguf_value){.type = GGUF_T_I64, .v.i = INT64_MIN});
    rc |= gguf_writer_copy_kv(w, &kv);
    kv = mk_kv("t.f64", (gguf_value){.type = GGUF_T_F64, .v.f = 2.718281828459045});
    rc |= gguf_writer_copy_kv(w, &kv);
    rc |= gguf_writer_set_arr(w, "t.arr_f32", GGUF_T_F32, k_f32s, 4);
    rc |= gguf_writer_set_arr(w, "t.arr_bool", GGUF_T_BOOL, k_bools, 3);
    rc |= gguf_writer_set_arr(w, "t.arr_empty", GGUF_T_I32, NULL, 0);
    rc |= gguf_writer_set_arr_str(w, "t.arr_str", k_strs, 4);
    rc |= gguf_writer_set_arr_str(w, "t.arr_str_empty", NULL, 0);
    /* [[1, 2, 3], [], [["x", "yz"]]] : arrays of arrays, nested three deep */
    static const int32_t ints[] = {1, 2, 3};
    static const gguf_str xs[] = {{1, "x"}, {2, "yz"}};
    gguf_value inner[3];
    memset(inner, 0, sizeof inner);
    inner[0].type = GGUF_T_ARR;
    inner[0].v.arr.elem_type = GGUF_T_I32;
    inner[0].v.arr.n = 3;
    inner[0].v.arr.raw = ints;
    inner[1].type = GGUF_T_ARR;
    inner[1].v.arr.elem_type = GGUF_T_U8;
    gguf_value deepest;
    memset(&deepest, 0, sizeof deepest);
    deepest.type = GGUF_T_ARR;
    deepest.v.arr.elem_type = GGUF_T_STR;
    deepest.v.arr.n = 2;
    deepest.v.arr.strs = xs;
    inner[2].type = GGUF_T_ARR;
    inner[2].v.arr.elem_type = GGUF_T_ARR;
    inner[2].v.arr.n = 1;
    inner[2].v.arr.arrs = &deepest;
    gguf_value outer;
    memset(&outer, 0, sizeof outer);
    outer.type = GGUF_T_ARR;
    outer.v.arr.elem_type = GGUF_T_ARR;
    outer.v.arr.n = 3;
    outer.v.arr.arrs = inner;
    kv = mk_kv("t.nested", outer);
    rc |= gguf_writer_copy_kv(w, &kv);
    rc |= gguf_writer_set_u32(w, "t.replaced", 1);
    rc |= gguf_writer_set_u32(w, "t.replaced", 2);
    if (with_tensors) {
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4096; j++) g_tdata[i][j] = (uint8_t)(i * 31 + j * 7);
        int64_t ne_a[2] = {8, 3}, ne_b[1] = {5}, ne_c[2] = {64, 2}, ne_d[3] = {256, 1, 2};
        rc |= gguf_writer_add_tensor(w, "a.f32", QT_F32, 2, ne_a, g_tdata[0], 8 * 3 * 4);
        rc |= gguf_writer_add_tensor(w, "b.f16", QT_F16, 1, ne_b, g_tdata[1], 10);
        rc |= gguf_writer_add_tensor(w, "c.q8_0", QT_Q8_0, 2, ne_c, g_tdata[2], 2 * 2 * 34);
        rc |= gguf_writer_add_tensor(w, "d.q4_k", QT_Q4_K, 3, ne_d, g_tdata[3], 2 * 144);
    }
    if (rc == 0) rc = gguf_writer_write(w, path, alignment, NULL);
    gguf_writer_free(w);
    return rc;
}

static void check_sample(const gguf_file *f, uint32_t alignment, int with_tensors)
{
    uh_err err = {0};
    CHECK(gguf_version(f) == 3);
    CHECK(gguf_alignment(f) == alignment);
    CHECK(gguf_n_kv(f) == 21 + (alignment != 32));
    CHECK(str_eq(gguf_kv_at(f, 0)->key, "general.architecture"));
    CHECK(gguf_kv_at(f, 19) && strcmp(gguf_kv_at(f, 19)->key_z, "t.nested") == 0);
    uint32_t u32 = 0;
    int32_t i32 = 0;
    uint64_t u64 = 0;
    float f32 = 0;
    int b = -1;
    gguf_str s;
    CHECK(gguf_get_u32(f, "t.u32", &u32, &err) == 0 && u32 == 4000000000u);
    CHECK(gguf_get_i32(f, "t.i32", &i32, &err) == 0 && i32 == -123456);
    CHECK(gguf_get_u64(f, "t.u64", &u64, &err) == 0 && u64 == 0xfedcba9876543210ull);
    CHECK(gguf_get_f32(f, "t.f32", &f32, &err) == 0 && f32 == 0.1f);
    CHECK(gguf_get_f32(f, "t.f64", &f32, &err) == 0 && f32 == (float)2.718281828459045);
    CHECK(gguf_get_bool(f, "t.bool", &b, &err) == 0 && b == 1);
    CHECK(gguf_get_str(f, "t.str", &s, &err) == 0 && str_eq(s, "hello \"world\"\n"));
    CHECK(gguf_get_str(f, "t.empty_str", &s, &err) == 0 && s.len == 0);
    CHECK(gguf_get_u32(f, "t.u8", &u32, &err) == 0 && u32 == 250);
    CHECK(gguf_get_i32(f, "t.i8", &i32, &err) == 0 && i32 == -128);
    CHECK(gguf_get_u32(f, "t.u16", &u32, &err) == 0 && u32 == 65535);
    CHECK(gguf_get_i32(f, "t.i16", &i32, &err) == 0 && i32 == -32768);
    CHECK(gguf_find_kv(f, "t.i64")->value.v.i == INT64_MIN);
    CHECK(gguf_find_kv(f, "t.f64")->value.v.f == 2.718281828459045);
    CHECK(gguf_get_u32(f, "t.replaced", &u32, &err) == 0 && u32 == 2);
    /* conversions and range checks of the typed getters */
    CHECK(gguf_get_u32(f, "t.i32", &u32, &err) == UH_EFORMAT && strstr(err.msg, "t.i32"));
    CHECK(gguf_get_i32(f, "t.u32", &i32, &err) == UH_EFORMAT);
    CHECK(gguf_get_u64(f, "t.i64", &u64, &err) == UH_EFORMAT);
    CHECK(gguf_get_u32(f, "t.str", &u32, &err) == UH_EFORMAT && strstr(err.msg, "str"));
    CHECK(gguf_get_bool(f, "t.u8", &b, &err) == UH_EFORMAT);
    u32 = 77;
    CHECK(gguf_get_u32(f, "no.such.key", &u32, &err) == UH_ENOTFOUND && u32 == 77);
    CHECK(gguf_find_kv(f, "t.u3") == NULL && gguf_find_kv(f, "") == NULL);

    const gguf_value *a;
    CHECK(gguf_get_arr(f, "t.arr_f32", GGUF_T_F32, &a, &err) == 0 && a->v.arr.n == 4);
    for (int i = 0; i < 4 && a; i++) CHECK(gguf_arr_f64(a, (uint64_t)i) == k_f32s[i]);
    CHECK(gguf_get_arr(f, "t.arr_f32", GGUF_T_I32, &a, &err) == UH_EFORMAT);
    CHECK(gguf_get_arr(f, "t.arr_bool", GGUF_T_BOOL, &a, &err) == 0 && a->v.arr.n == 3 &&
          gguf_arr_i64(a, 0) == 1 && gguf_arr_i64(a, 1) == 0);
    CHECK(gguf_get_arr(f, "t.arr_empty", GGUF_T_I32, &a, &err) == 0 && a->v.arr.n == 0);
    CHECK(gguf_get_arr(f, "t.arr_str_empty", GGUF_T_STR, &a, &err) == 0 && a->v.arr.n == 0);
    CHECK(gguf_get_arr(f, "t.arr_str", GGUF_T_STR, &a, &err) == 0 && a->v.arr.n == 4);
    for (int i = 0; i < 4 && a; i++) CHECK(str_eq(a->v.arr.strs[i], k_strs[i]));
    const gguf_value *n = &gguf_find_kv(f, "t.nested")->value;
    CHECK(n->type == GGUF_T_ARR && n->v.arr.elem_type == GGUF_T_ARR && n->v.arr.n == 3);
    if (n->v.arr.n == 3) {
        const gguf_value *in = n->v.arr.arrs;
        CHECK(in[0].v.arr.elem_type == GGUF_T_I32 && in[0].v.arr.n == 3);
        CHECK(gguf_arr_i64(&in[0], 2) == 3);
        CHECK(in[1].v.arr.elem_type == GGUF_T_U8 && in[1].v.arr.n == 0);
        CHECK(in[2].v.arr.elem_type == GGUF_T_ARR && in[2].v.arr.n == 1);
        const gguf_value *d = &in[2].v.arr.arrs[0];
        CHECK(d->v.arr.elem_type == GGUF_T_STR && d->v.arr.n == 2 &&
              str_eq(d->v.arr.strs[1], "yz"));
    }
    if (!with_tensors) {
        CHECK(gguf_n_tensors(f) == 0);
        return;
    }
    CHECK(gguf_n_tensors(f) == 4);
    static const char *names[] = {"a.f32", "b.f16", "c.q8_0", "d.q4_k"};
    static const uint32_t types[] = {QT_F32, QT_F16, QT_Q8_0, QT_Q4_K};
    static const uint64_t sizes[] = {96, 10, 136, 288};
    CHECK(gguf_data_offset(f) % alignment == 0);
    for (int i = 0; i < 4; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, (uint64_t)i);
        CHECK(t == gguf_find_tensor(f, names[i]));
        CHECK(strcmp(t->name, names[i]) == 0 && t->type == types[i] && t->size == sizes[i]);
        CHECK(t->offset % alignment == 0);
        CHECK(memcmp(t->data, g_tdata[i], (size_t)t->size) == 0);
    }
    const gguf_tensor *d = gguf_find_tensor(f, "d.q4_k");
    CHECK(d->n_dims == 3 && d->ne[0] == 256 && d->ne[1] == 1 && d->ne[2] == 2 && d->ne[3] == 1);
    CHECK(gguf_find_tensor(f, "d.q4") == NULL);
}

static void test_roundtrip_every_value_type(void)
{
    const char *path = tmp_path("sample.gguf");
    CHECK(write_sample(path, 0, 1) == 0);
    gguf_file *f = NULL;
    uh_err err = {0};
    CHECKF(gguf_open(path, &f, &err) == 0, "%s", err.msg);
    if (f) check_sample(f, 32, 1);
    gguf_close(f);
}

static void test_roundtrip_alignment_64_and_no_tensors(void)
{
    uh_err err = {0};
    gguf_file *f = NULL;
    const char *path = tmp_path("sample64.gguf");
    CHECK(write_sample(path, 64, 1) == 0);
    CHECKF(gguf_open(path, &f, &err) == 0, "%s", err.msg);
    if (f) {
        check_sample(f, 64, 1);
        uint32_t a = 0;
        CHECK(gguf_get_u32(f, "general.alignment", &a, &err) == 0 && a == 64);
    }
    gguf_close(f);
    f = NULL;
    path = tmp_path("sample_kv_only.gguf");
    CHECK(write_sample(path, 0, 0) == 0);
    CHECKF(gguf_open(path, &f, &err) == 0, "%s", err.msg);
    if (f) check_sample(f, 32, 0);
    gguf_close(f);
}

/* Copying every kv and tensor of a file into a new writer reproduces the file byte for byte. */
static void test_copy_reproduces_file(void)
{
    uh_err err = {0};
    gguf_file *f = NULL;
    const char *src = tmp_path("copy_src.gguf");
    CHECK(write_sample(src, 0, 1) == 0);
    CHECKF(gguf_open(src, &f, &err) == 0, "%s", err.msg);
    if (!f) return;
    gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < gguf_n_kv(f); i++)
        CHECK(gguf_writer_copy_kv(w, gguf_kv_at(f, i)) == 0);
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        CHECK(gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->size) == 0);
    }
    char dst[512];
    snprintf(dst, sizeof dst, "%s", tmp_path("copy_dst.gguf"));
    CHECKF(gguf_writer_write(w, dst, 0, &err) == 0, "%s", err.msg);
    gguf_writer_free(w);
    size_t n1 = 0, n2 = 0;
    char *b1 = t_read_file(src, &n1), *b2 = t_read_file(dst, &n2);
    CHECK(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0);
    free(b1);
    free(b2);
    gguf_close(f);
}

static void test_writer_rejects_bad_tensors(void)
{
    gguf_writer *w = gguf_writer_new();
    uint8_t buf[256] = {0};
    int64_t ne[5] = {32, 2, 1, 1, 1};
    CHECK(gguf_writer_add_tensor(w, "x", QT_F32, 2, ne, buf, 256) == 0);
    CHECK(gguf_writer_add_tensor(w, "x", QT_F32, 2, ne, buf, 256) == UH_EINVAL);
    CHECK(strstr(gguf_writer_error(w), "duplicate"));
    CHECK(gguf_writer_add_tensor(w, "y", QT_F32, 2, ne, buf, 255) == UH_EINVAL);
    CHECK(strstr(gguf_writer_error(w), "255 bytes given"));
    CHECK(gguf_writer_add_tensor(w, "y", QT_F32, 0, ne, buf, 4) == UH_EINVAL);
    CHECK(gguf_writer_add_tensor(w, "y", QT_F32, 5, ne, buf, 128) == UH_EINVAL);
    CHECK(gguf_writer_add_tensor(w, "y", 99, 1, ne, buf, 128) == UH_EINVAL);
    int64_t bad0[2] = {0, 2}, badq[1] = {16};
    CHECK(gguf_writer_add_tensor(w, "y", QT_F32, 2, bad0, buf, 0) == UH_EINVAL);
    CHECK(gguf_writer_add_tensor(w, "y", QT_Q8_0, 1, badq, buf, 17) == UH_EINVAL);
    CHECK(strstr(gguf_writer_error(w), "block size"));
    int64_t huge[2] = {INT64_MAX, 2};
    CHECK(gguf_writer_add_tensor(w, "y", QT_F32, 2, huge, buf, 8) == UH_EINVAL);
    uh_err err = {0};
    CHECK(gguf_writer_write(w, tmp_path("bad_align.gguf"), 3, &err) == UH_EINVAL);
    CHECK(gguf_writer_write(w, tmp_path("bad_align.gguf"), 4, &err) == UH_EINVAL);
    CHECK(access(tmp_path("bad_align.gguf"), F_OK) != 0);
    uint8_t two = 2;
    CHECK(gguf_writer_set_arr(w, "b", GGUF_T_BOOL, &two, 1) == UH_EINVAL);
    CHECK(gguf_writer_set_arr(w, "s", GGUF_T_STR, buf, 1) == UH_EINVAL);
    gguf_writer_free(w);
}

static int count_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

/* A write that fails (no directory; file-size limit standing in for a full disk) reports an
 * i/o error and leaves no file, temporary or final, behind. */
static void test_write_failure_leaves_nothing(void)
{
    uh_err err = {0};
    gguf_writer *w = gguf_writer_new();
    static uint8_t big[1 << 16];
    int64_t ne[1] = {1 << 14};
    CHECK(gguf_writer_add_tensor(w, "big", QT_F32, 1, ne, big, sizeof big) == 0);
    CHECK(gguf_writer_write(w, tmp_path("no/such/dir/x.gguf"), 0, &err) == UH_EIO);

    char sub[512];
    snprintf(sub, sizeof sub, "%s", tmp_path("full"));
    mkdir(sub, 0700);
    char path[600];
    snprintf(path, sizeof path, "%s/x.gguf", sub);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    int rc = gguf_writer_write(w, path, 0, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    CHECKF(rc == UH_EIO && strstr(err.msg, "x.gguf"), "rc %d: %s", rc, err.msg);
    CHECK(count_dir_entries(sub) == 0);
    gguf_writer_free(w);
}

/* ---- fixtures ---- */

static void test_fixture_models_open(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest.json", t_testdata());
    char *text = t_read_file(path, NULL);
    CHECKF(text != NULL, "cannot read %s", path);
    if (!text) return;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *models = cJSON_GetObjectItem(root, "models"), *m;
    int n_models = 0;
    cJSON_ArrayForEach(m, models)
    {
        const char *file = cJSON_GetObjectItem(m, "file")->valuestring;
        snprintf(path, sizeof path, "%s/%s", t_testdata(), file);
        gguf_file *f = NULL;
        uh_err err = {0};
        CHECKF(gguf_open(path, &f, &err) == 0, "%s: %s", file, err.msg);
        if (!f) continue;
        n_models++;
        CHECK(gguf_version(f) == 3);
        CHECKF(gguf_file_size(f) == (size_t)cJSON_GetObjectItem(m, "size_bytes")->valuedouble,
               "%s size", file);
        gguf_str arch;
        CHECK(gguf_get_str(f, "general.architecture", &arch, &err) == 0 &&
              str_eq(arch, cJSON_GetObjectItem(m, "arch")->valuestring));
        const cJSON *types = cJSON_GetObjectItem(m, "tensor_types");
        const cJSON *nes = cJSON_GetObjectItem(m, "tensor_ne"), *t;
        CHECKF(gguf_n_tensors(f) == (uint64_t)cJSON_GetArraySize(types), "%s tensor count", file);
        cJSON_ArrayForEach(t, types)
        {
            const gguf_tensor *gt = gguf_find_tensor(f, t->string);
            CHECKF(gt != NULL, "%s: no tensor %s", file, t->string);
            if (!gt) continue;
            CHECKF(strcmp(qtype_name((int)gt->type), t->valuestring) == 0, "%s: %s is %s, want %s",
                   file, t->string, qtype_name((int)gt->type), t->valuestring);
            const cJSON *ne = cJSON_GetObjectItem(nes, t->string);
            CHECK((uint32_t)cJSON_GetArraySize(ne) == gt->n_dims);
            for (int d = 0; d < cJSON_GetArraySize(ne) && d < 4; d++)
                CHECK(gt->ne[d] == (int64_t)cJSON_GetArrayItem(ne, d)->valuedouble);
            CHECK(gguf_data_offset(f) + gt->offset + gt->size <= gguf_file_size(f));
        }
        gguf_close(f);
    }
    CHECK(n_models == 24);

    const cJSON *vocabs = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "tokenizer"), "vocabs");
    int n_vocabs = 0;
    cJSON_ArrayForEach(m, vocabs)
    {
        const char *file = cJSON_GetObjectItem(m, "vocab")->valuestring;
        snprintf(path, sizeof path, "%s/%s", t_testdata(), file);
        gguf_file *f = NULL;
        uh_err err = {0};
        CHECKF(gguf_open(path, &f, &err) == 0, "%s: %s", file, err.msg);
        if (!f) continue;
        n_vocabs++;
        const gguf_value *toks;
        gguf_str model;
        CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_T_STR, &toks, &err) == 0 &&
              toks->v.arr.n == (uint64_t)cJSON_GetObjectItem(m, "n_tokens")->valuedouble);
        CHECK(gguf_get_str(f, "tokenizer.ggml.model", &model, &err) == 0 &&
              str_eq(model, cJSON_GetObjectItem(m, "tokenizer_model")->valuestring));
        gguf_close(f);
    }
    CHECK(n_vocabs == 12);
    cJSON_Delete(root);
}

static void test_lookup_many_entries(void)
{
    gguf_writer *w = gguf_writer_new();
    enum { N_T = 3000, N_S = 100000 };
    char name[64];
    float one = 1;
    int64_t ne[1] = {1};
    for (int i = 0; i < N_T; i++) {
        snprintf(name, sizeof name, "blk.%d.weight", i);
        CHECK(gguf_writer_add_tensor(w, name, QT_F32, 1, ne, &one, 4) == 0);
    }
    char **strs = malloc(N_S * sizeof *strs);
    for (int i = 0; i < N_S; i++) {
        strs[i] = malloc(16);
        snprintf(strs[i], 16, "tok%d", i);
    }
    CHECK(gguf_writer_set_arr_str(w, "tokens", (const char *const *)strs, N_S) == 0);
    uh_err err = {0};
    CHECKF(gguf_writer_write(w, tmp_path("many.gguf"), 0, &err) == 0, "%s", err.msg);
    gguf_writer_free(w);
    gguf_file *f = NULL;
    CHECKF(gguf_open(tmp_path("many.gguf"), &f, &err) == 0, "%s", err.msg);
    if (f) {
        int misses = 0;
        for (int i = 0; i < N_T; i++) {
            snprintf(name, sizeof name, "blk.%d.weight", i);
            if (gguf_find_tensor(f, name) != gguf_tensor_at(f, (uint64_t)i)) misses++;
        }
        CHECK(misses == 0);
        const gguf_value *a;
        CHECK(gguf_get_arr(f, "tokens", GGUF_T_STR, &a, &err) == 0 && a->v.arr.n == N_S &&
              str_eq(a->v.arr.strs[N_S - 1], strs[N_S - 1]));
    }
    gguf_close(f);
    for (int i = 0; i < N_S; i++) free(strs[i]);
    free(strs);
}

static void test_open_errors(void)
{
    gguf_file *f = NULL;
    uh_err err = {0};
    CHECK(gguf_open(tmp_path("does-not-exist.gguf"), &f, &err) == UH_ENOTFOUND && !f);
    CHECK(strstr(err.msg, "does-not-exist.gguf"));
    CHECK(gguf_open(g_dir, &f, &err) == UH_EIO && !f);
    FILE *e = fopen(tmp_path("empty.gguf"), "wb");
    if (e) fclose(e);
    CHECK(gguf_open(tmp_path("empty.gguf"), &f, &err) == UH_EFORMAT && strstr(err.msg, "magic"));
}

/* Every prefix of a valid file that cuts into the header, metadata, tensor table or tensor data
 * fails with UH_EFORMAT; only cutting trailing padding after the last tensor leaves it valid. */
static void test_truncation_at_every_offset(void)
{
    const char *path = tmp_path("trunc.gguf");
    CHECK(write_sample(path, 0, 1) == 0);
    size_t size = 0;
    char *full = t_read_file(path, &size);
    gguf_file *f = NULL;
    uh_err err = {0};
    CHECK(full && gguf_open_mem(full, size, &f, &err) == 0);
    if (!f) {
        free(full);
        return;
    }
    uint64_t data_end = 0; /* end of the last tensor's bytes */
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        uint64_t end = gguf_data_offset(f) + t->offset + t->size;
        if (end > data_end) data_end = end;
    }
    gguf_close(f);
    int bad = 0;
    for (size_t len = 0; len < size; len++) {
        char *copy = malloc(len ? len : 1); /* exact size, so ASan sees any overread */
        memcpy(copy, full, len);
        f = NULL;
        memset(&err, 0, sizeof err);
        int rc = gguf_open_mem(copy, len, &f, &err);
        int want = len < data_end ? UH_EFORMAT : 0;
        if (rc != want || (rc && (!strstr(err.msg, "gguf: ") || f))) {
            if (bad++ < 5) printf("  length %zu: rc %d (want %d): %s\n", len, rc, want, err.msg);
        }
        gguf_close(rc ? NULL : f);
        free(copy);
    }
    CHECKF(bad == 0, "%d lengths misbehaved", bad);
    free(full);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/test_gguf.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    T_RUN(test_roundtrip_every_value_type);
    T_RUN(test_roundtrip_alignment_64_and_no_tensors);
    T_RUN(test_copy_reproduces_file);
    T_RUN(test_writer_rejects_bad_tensors);
    T_RUN(test_write_failure_leaves_nothing);
    T_RUN(test_fixture_models_open);
    T_RUN(test_lookup_many_entries);
    T_RUN(test_open_errors);
    T_RUN(test_truncation_at_every_offset);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return t_exit();
}
