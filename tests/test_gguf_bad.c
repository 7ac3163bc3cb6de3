/* test_gguf_bad.c - hand-made malformed GGUF files: each must be rejected with the right error
 * code and a message naming the offending field, without crashing or reading out of bounds
 * (every file is opened from an exact-size heap copy; the ASan build catches overreads). */
#include <stdint.h>

#include "base/buf.h"
#include "check.h"
#include "gguf/gguf.h"
#include "kernels/qtypes.h"

/* ---- byte builder ---- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void b_put(bytes *b, const void *src, size_t n)
{
    if (buf_grow_array((void **)&b->p, &b->cap, b->n + n, 1) != 0) abort();
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void b_u8(bytes *b, uint8_t v)
{
    b_put(b, &v, 1);
}

static void b_u32(bytes *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) b_u8(b, (uint8_t)(v >> (8 * i)));
}

static void b_u64(bytes *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) b_u8(b, (uint8_t)(v >> (8 * i)));
}

static void b_str(bytes *b, const char *s)
{
    b_u64(b, strlen(s));
    b_put(b, s, strlen(s));
}

static void b_header(bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    b->n = 0;
    b_u32(b, GGUF_MAGIC);
    b_u32(b, version);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}

static void b_kv_u32(bytes *b, const char *key, uint32_t v)
{
    b_str(b, key);
    b_u32(b, GGUF_T_U32);
    b_u32(b, v);
}

static void b_tensor(bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                     uint64_t offset)
{
    b_str(b, name);
    b_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) b_u64(b, ne[d]);
    b_u32(b, type);
    b_u64(b, offset);
}

static void b_pad_zeros(bytes *b, size_t alignment, size_t n_data)
{
    while (b->n % alignment) b_u8(b, 0);
    for (size_t i = 0; i < n_data; i++) b_u8(b, (uint8_t)i);
}

static bytes g_b; /* reused by every case */

/* Opens the built bytes from an exact-size heap copy and checks the outcome: want 0 = must
 * open; else the code and a substring the message must contain. */
static void expect_open(int want, const char *needle, const char *what)
{
    void *copy = malloc(g_b.n ? g_b.n : 1);
    memcpy(copy, g_b.p, g_b.n);
    gguf_file *f = (gguf_file *)&g_b; /* must be reset to NULL on failure */
    uh_err err = {0};
    int rc = gguf_open_mem(copy, g_b.n, &f, &err);
    CHECKF(rc == want, "%s: rc %d, want %d (%s)", what, rc, want, err.msg);
    if (rc) {
        CHECKF(f == NULL, "%s: out not NULL on failure", what);
        CHECKF(err.code == rc, "%s: err.code %d", what, err.code);
        CHECKF(!needle || strstr(err.msg, needle), "%s: message \"%s\" lacks \"%s\"", what, err.msg,
               needle);
    } else {
        gguf_close(f);
    }
    free(copy);
}

/* A valid one-tensor file (F32, ne = {n0}) with an optional u32 kv, for variations. */
static void b_one_tensor(uint64_t n0, uint64_t offset, size_t n_data)
{
    b_header(&g_b, 3, 1, 1);
    b_kv_u32(&g_b, "k", 7);
    b_tensor(&g_b, "w", 1, &n0, QT_F32, offset);
    b_pad_zeros(&g_b, 32, n_data);
}

static void test_valid_minimal_files(void)
{
    b_header(&g_b, 3, 0, 0);
    expect_open(0, NULL, "empty v3");
    b_header(&g_b, 2, 0, 0);
    expect_open(0, NULL, "empty v2");
    b_one_tensor(16, 0, 64);
    expect_open(0, NULL, "one tensor");
    g_b.p[4] = 2;
    expect_open(0, NULL, "one tensor v2");
    b_header(&g_b, 3, 0, 1);
    b_kv_u32(&g_b, "", 1);
    expect_open(0, NULL, "empty key");
}

static void test_bad_magic_and_version(void)
{
    b_header(&g_b, 3, 0, 0);
    g_b.p[0] = 'g';
    expect_open(UH_EFORMAT, "magic", "bad magic");
    b_header(&g_b, 1, 0, 0);
    expect_open(UH_EUNSUPPORTED, "version 1", "version 1");
    b_header(&g_b, 4, 0, 0);
    expect_open(UH_EUNSUPPORTED, "version 4", "version 4");
    g_b.n = 6;
    expect_open(UH_EFORMAT, "version", "truncated version");
}

static void test_huge_counts(void)
{
    b_header(&g_b, 3, 0, 1ull << 62);
    b_kv_u32(&g_b, "k", 1);
    expect_open(UH_EFORMAT, "n_kv 4611686018427387904", "n_kv huge");
    b_header(&g_b, 3, UINT64_MAX, 0);
    expect_open(UH_EFORMAT, "n_tensors", "n_tensors huge");
    b_header(&g_b, 3, 0, 3);
    b_kv_u32(&g_b, "a", 1);
    b_kv_u32(&g_b, "b", 1);
    b_str(&g_b, "c");
    b_u32(&g_b, GGUF_T_U64);
    b_u32(&g_b, 0);
    expect_open(UH_EFORMAT, "metadata key 2 (\"c\"): truncated: u64 at offset 71", "last kv cut");
    uint64_t ne = 16;
    b_header(&g_b, 3, 1, 0);
    b_tensor(&g_b, "wwwwwwww", 1, &ne, QT_F32, 0);
    g_b.n -= 4; /* tensor offset cut short */
    expect_open(UH_EFORMAT, "tensor 0 (\"wwwwwwww\"): truncated: offset", "tensor info cut");
}

static void test_string_length_past_end(void)
{
    b_header(&g_b, 3, 0, 1);
    b_u64(&g_b, UINT64_MAX);
    b_u64(&g_b, 0);
    expect_open(UH_EFORMAT, "metadata key 0: key length 18446744073709551615 at offset 24",
                "key length");
    b_header(&g_b, 3, 0, 1);
    b_u64(&g_b, 70000);
    b_put(&g_b, "abcdefgh", 8);
    expect_open(UH_EFORMAT, "exceeds the cap", "key too long");
    b_header(&g_b, 3, 0, 1);
    b_str(&g_b, "s");
    b_u32(&g_b, GGUF_T_STR);
    b_u64(&g_b, 1000);
    b_put(&g_b, "abcdefghijklm", 13);
    expect_open(UH_EFORMAT, "metadata key 0 (\"s\"): string length 1000 at offset 37", "str len");
    b_header(&g_b, 3, 1, 0);
    b_u64(&g_b, 300);
    for (int i = 0; i < 300; i++) b_u8(&g_b, 'n');
    expect_open(UH_EFORMAT, "tensor 0: name length 300", "name too long");
}

static void test_array_count_huge(void)
{
    static const uint32_t elem_types[] = {GGUF_T_U32, GGUF_T_U8, GGUF_T_STR, GGUF_T_ARR};
    for (int i = 0; i < 4; i++) {
        b_header(&g_b, 3, 0, 1);
        b_str(&g_b, "a");
        b_u32(&g_b, GGUF_T_ARR);
        b_u32(&g_b, elem_types[i]);
        b_u64(&g_b, 1ull << 60);
        b_u64(&g_b, 0);
        b_u64(&g_b, 0);
        expect_open(UH_EFORMAT, "metadata key 0 (\"a\"): array count 1152921504606846976",
                    gguf_vtype_name((int)elem_types[i]));
    }
    /* a string array whose third string runs past the end */
    b_header(&g_b, 3, 0, 1);
    b_str(&g_b, "a");
    b_u32(&g_b, GGUF_T_ARR);
    b_u32(&g_b, GGUF_T_STR);
    b_u64(&g_b, 3);
    b_str(&g_b, "x");
    b_str(&g_b, "y");
    b_u64(&g_b, 5);
    expect_open(UH_EFORMAT, "array element 2: string length 5", "string element past end");
}

/* An array nested `depth` levels deep (depth 1 = a plain array of u8). */
static void b_nested(int depth)
{
    b_header(&g_b, 3, 0, 1);
    b_str(&g_b, "n");
    b_u32(&g_b, GGUF_T_ARR);
    for (int level = 1; level < depth; level++) {
        b_u32(&g_b, GGUF_T_ARR);
        b_u64(&g_b, 1);
    }
    b_u32(&g_b, GGUF_T_U8);
    b_u64(&g_b, 1);
    b_u8(&g_b, 42);
}

static void test_nested_array_depth(void)
{
    b_nested(GGUF_MAX_ARRAY_DEPTH);
    expect_open(0, NULL, "deepest allowed nesting");
    b_nested(GGUF_MAX_ARRAY_DEPTH + 1);
    expect_open(UH_EFORMAT, "deeper than 8", "nesting too deep");
    b_nested(1000);
    expect_open(UH_EFORMAT, "deeper than 8", "nesting far too deep");
}

static void test_unknown_value_types(void)
{
    b_header(&g_b, 3, 0, 1);
    b_str(&g_b, "t");
    b_u32(&g_b, 13);
    b_u32(&g_b, 0);
    expect_open(UH_EFORMAT, "value type 13 at offset 33", "value type 13");
    b_header(&g_b, 3, 0, 1);
    b_str(&g_b, "t");
    b_u32(&g_b, GGUF_T_ARR);
    b_u32(&g_b, 0xffffffffu);
    b_u64(&g_b, 0);
    expect_open(UH_EFORMAT, "array element type 4294967295", "array element type");
}

static void test_bool_values(void)
{
    b_header(&g_b, 3, 0, 1);
    b_str(&g_b, "b");
    b_u32(&g_b, GGUF_T_BOOL);
    b_u8(&g_b, 2);
    expect_open(UH_EFORMAT, "metadata key 0 (\"b\"): bool value 2 at offset 37", "bool 2");
    b_header(&g_b, 3, 0, 1);
    b_str(&g_b, "b");
    b_u32(&g_b, GGUF_T_ARR);
    b_u32(&g_b, GGUF_T_BOOL);
    b_u64(&g_b, 3);
    b_u8(&g_b, 1);
    b_u8(&g_b, 0);
    b_u8(&g_b, 255);
    expect_open(UH_EFORMAT, "array element 2: bool value 255", "bool array");
}

static void test_duplicates(void)
{
    b_header(&g_b, 3, 0, 3);
    b_kv_u32(&g_b, "a", 1);
    b_kv_u32(&g_b, "b", 1);
    b_kv_u32(&g_b, "a", 2);
    expect_open(UH_EFORMAT, "metadata key 2 (\"a\") at offset 58 duplicates key 0", "dup key");
    uint64_t ne = 8;
    b_header(&g_b, 3, 2, 0);
    b_tensor(&g_b, "w", 1, &ne, QT_F32, 0);
    b_tensor(&g_b, "w", 1, &ne, QT_F32, 32);
    b_pad_zeros(&g_b, 32, 64);
    expect_open(UH_EFORMAT, "tensor 1 (\"w\")", "dup tensor");
    expect_open(UH_EFORMAT, "duplicates the name of tensor 0", "dup tensor");
}

static void test_tensor_shape_and_type(void)
{
    uint64_t ne[5] = {16, 1, 1, 1, 1};
    b_header(&g_b, 3, 1, 0);
    b_tensor(&g_b, "w", 0, ne, QT_F32, 0);
    b_pad_zeros(&g_b, 32, 64);
    expect_open(UH_EFORMAT, "n_dims 0", "n_dims 0");
    b_header(&g_b, 3, 1, 0);
    b_tensor(&g_b, "w", 5, ne, QT_F32, 0);
    b_pad_zeros(&g_b, 32, 64);
    expect_open(UH_EFORMAT, "tensor 0 (\"w\") n_dims 5", "n_dims 5");
    uint64_t zero[2] = {16, 0}, neg[2] = {16, (uint64_t)-3}, big[3] = {1ull << 31, 1ull << 31, 4};
    b_header(&g_b, 3, 1, 0);
    b_tensor(&g_b, "w", 2, zero, QT_F32, 0);
    expect_open(UH_EFORMAT, "ne[1] = 0", "ne zero");
    b_header(&g_b, 3, 1, 0);
    b_tensor(&g_b, "w", 2, neg, QT_F32, 0);
    expect_open(UH_EFORMAT, "ne[1] = -3", "ne negative");
    b_header(&g_b, 3, 1, 0);
    b_tensor(&g_b, "w", 3, big, QT_F32, 0);
    expect_open(UH_EFORMAT, "ne[2] = 4 at offset 53 makes the element count overflow", "ne ovf");
    uint64_t bytes_ovf[2] = {1ull << 61, 2};
    b_header(&g_b, 3, 1, 0);
    b_tensor(&g_b, "w", 2, bytes_ovf, QT_F32, 0);
    expect_open(UH_EFORMAT, "byte size overflows", "byte size overflow");
    b_header(&g_b, 3, 1, 0);
    b_tensor(&g_b, "w", 1, ne, 99, 0);
    expect_open(UH_EUNSUPPORTED, "tensor 0 (\"w\") type 99", "type 99");
    b_header(&g_b, 3, 1, 0);
    b_tensor(&g_b, "w", 1, ne, 4, 0); /* an id ggml retired */
    expect_open(UH_EUNSUPPORTED, "type 4", "type 4");
    b_header(&g_b, 3, 1, 0);
    b_tensor(&g_b, "w", 1, ne, QT_Q8_0, 0);
    expect_open(UH_EFORMAT, "not a multiple of the block size 32", "partial block");
    b_header(&g_b, 3, 1, 0);
    b_u64(&g_b, 3);
    b_put(&g_b, "a\0b", 3);
    b_u32(&g_b, 1);
    b_u64(&g_b, 16);
    b_u32(&g_b, QT_F32);
    b_u64(&g_b, 0);
    b_pad_zeros(&g_b, 32, 64);
    expect_open(UH_EFORMAT, "contains a NUL", "NUL in name");
}

static void test_tensor_data_placement(void)
{
    b_one_tensor(16, 0, 63);
    expect_open(UH_EFORMAT, "tensor 0 (\"w\") data [offset 0, 64 bytes] extends past end of file",
                "one byte short");
    b_one_tensor(16, UINT64_MAX - 31, 64);
    expect_open(UH_EFORMAT, "extends past end of file", "offset near 2^64");
    b_one_tensor(16, 4, 68);
    expect_open(UH_EFORMAT, "data offset 4 at offset 66 is not a multiple of the alignment 32",
                "misaligned");
    /* overlapping: second tensor starts inside the first (listed first in the table) */
    uint64_t ne = 16;
    b_header(&g_b, 3, 2, 0);
    b_tensor(&g_b, "late", 1, &ne, QT_F32, 32);
    b_tensor(&g_b, "early", 1, &ne, QT_F32, 0);
    b_pad_zeros(&g_b, 32, 96);
    expect_open(UH_EFORMAT, "tensor 0 (\"late\") data [offset 32, 64 bytes] overlaps tensor 1",
                "overlap");
    b_header(&g_b, 3, 2, 0);
    b_tensor(&g_b, "a", 1, &ne, QT_F32, 0);
    b_tensor(&g_b, "b", 1, &ne, QT_F32, 0);
    b_pad_zeros(&g_b, 32, 64);
    expect_open(UH_EFORMAT, "overlaps", "same offset");
    b_header(&g_b, 3, 2, 0); /* adjacent: fine */
    b_tensor(&g_b, "a", 1, &ne, QT_F32, 64);
    b_tensor(&g_b, "b", 1, &ne, QT_F32, 0);
    b_pad_zeros(&g_b, 32, 128);
    expect_open(0, NULL, "adjacent tensors");
}

static void test_alignment_key(void)
{
    uint64_t ne = 16;
    static const uint32_t bad[] = {0, 3, 48, 0x80000001u};
    for (int i = 0; i < 4; i++) {
        b_header(&g_b, 3, 0, 1);
        b_kv_u32(&g_b, "general.alignment", bad[i]);
        expect_open(UH_EFORMAT, "general.alignment", "bad alignment");
    }
    b_header(&g_b, 3, 0, 1);
    b_kv_u32(&g_b, "general.alignment", 0);
    expect_open(UH_EFORMAT, "general.alignment 0 (key at offset 24) is not a power of two", "0");
    b_header(&g_b, 3, 0, 1);
    b_str(&g_b, "general.alignment");
    b_u32(&g_b, GGUF_T_U64);
    b_u64(&g_b, 64);
    expect_open(UH_EFORMAT, "has type u64, expected u32", "alignment type");
    /* alignment 64: offset 32 is misaligned, offset 64 fine and the data section is aligned */
    b_header(&g_b, 3, 1, 1);
    b_kv_u32(&g_b, "general.alignment", 64);
    b_tensor(&g_b, "w", 1, &ne, QT_F32, 32);
    b_pad_zeros(&g_b, 64, 128);
    expect_open(UH_EFORMAT, "alignment 64", "misaligned for 64");
    /* alignment 1 is a valid power of two, but data the kernels would read from an odd address
     * is refused; data that happens to sit on an 8-byte boundary is fine */
    b_header(&g_b, 3, 1, 1);
    b_kv_u32(&g_b, "general.alignment", 1);
    b_tensor(&g_b, "w", 1, &ne, QT_F32, 3);
    b_pad_zeros(&g_b, 8, 128);
    expect_open(UH_EUNSUPPORTED, "data at file offset 93 is not 8-byte aligned", "alignment 1");
    b_header(&g_b, 3, 1, 1);
    b_kv_u32(&g_b, "general.alignment", 1);
    b_tensor(&g_b, "w", 1, &ne, QT_F32, 6);
    b_pad_zeros(&g_b, 8, 128);
    expect_open(0, NULL, "alignment 1, data on 8 bytes");
    gguf_file *f = NULL;
    CHECK(gguf_open_mem(g_b.p + 1, g_b.n - 1, &f, NULL) == UH_EINVAL && !f);
    b_header(&g_b, 3, 1, 1);
    b_kv_u32(&g_b, "general.alignment", 64);
    b_tensor(&g_b, "w", 1, &ne, QT_F32, 64);
    b_pad_zeros(&g_b, 64, 128);
    expect_open(0, NULL, "alignment 64");
    if (gguf_open_mem(g_b.p, g_b.n, &f, NULL) == 0) {
        CHECK(gguf_alignment(f) == 64 && gguf_data_offset(f) == 128);
        CHECK(gguf_find_tensor(f, "w")->data == g_b.p + 192);
        gguf_close(f);
    }
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    T_RUN(test_valid_minimal_files);
    T_RUN(test_bad_magic_and_version);
    T_RUN(test_huge_counts);
    T_RUN(test_string_length_past_end);
    T_RUN(test_array_count_huge);
    T_RUN(test_nested_array_depth);
    T_RUN(test_unknown_value_types);
    T_RUN(test_bool_values);
    T_RUN(test_duplicates);
    T_RUN(test_tensor_shape_and_type);
    T_RUN(test_tensor_data_placement);
    T_RUN(test_alignment_key);
    free(g_b.p);
    return t_exit();
}
