/* gguf_write.c - GGUF v3 writer: collects metadata and tensors in memory, then writes the file
 * in one pass (format in gguf.h) to a temporary file next to the target, renamed into place
 * only once every byte has been written and synced, so a failed write leaves no file behind.
 *
 * The writer owns deep copies of everything it is given: keys, values (nested arrays too) and
 * tensor data. Setters return 0 or a negative UH_E* code; the message of the last failure is
 * kept for gguf_writer_error. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/file.h"
#include "gguf/gguf.h"
#include "gguf/gguf_types.h"

typedef unsigned long long ull;

typedef struct {
    char *key; /* key_len bytes (plus a NUL, so it also works as a C string) */
    size_t key_len;
    gguf_value value; /* every pointer inside is owned by the writer */
} wkv;

typedef struct {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    void *data;
    uint64_t size;
    uint64_t offset; /* assigned when writing */
} wtensor;

struct gguf_writer {
    wkv *kvs;
    size_t n_kv, cap_kv;
    wtensor *tensors;
    size_t n_tensors, cap_tensors;
    char errmsg[256];
};

static int fail(gguf_writer *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(gguf_writer *w, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->errmsg, sizeof w->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

const char *gguf_writer_error(const gguf_writer *w)
{
    return w->errmsg;
}

static void *dup_bytes(const void *p, size_t n)
{
    void *d = malloc(n ? n : 1);
    if (d && n) memcpy(d, p, n);
    return d;
}

/* ---- owned values ---- */

static void value_fini(gguf_value *v)
{
    if (v->type == GGUF_T_STR) free((void *)v->v.s.ptr);
    if (v->type != GGUF_T_ARR) return;
    if (v->v.arr.strs)
        for (uint64_t i = 0; i < v->v.arr.n; i++) free((void *)v->v.arr.strs[i].ptr);
    if (v->v.arr.arrs)
        for (uint64_t i = 0; i < v->v.arr.n; i++) value_fini((gguf_value *)&v->v.arr.arrs[i]);
    free((void *)v->v.arr.strs);
    free((void *)v->v.arr.arrs);
    free((void *)v->v.arr.raw);
}

/* Deep copy of src into dst (dst zeroed by the caller); on failure dst holds what was copied so
 * far and must still be passed to value_fini. */
static int value_copy(gguf_value *dst, const gguf_value *src, int depth)
{
    dst->type = src->type;
    if ((unsigned)src->type >= GGUF_T_COUNT) return UH_EINVAL;
    if (src->type == GGUF_T_STR) {
        dst->v.s.len = src->v.s.len;
        dst->v.s.ptr = dup_bytes(src->v.s.ptr, (size_t)src->v.s.len);
        return dst->v.s.ptr ? 0 : UH_ENOMEM;
    }
    if (src->type != GGUF_T_ARR) {
        dst->v = src->v;
        return 0;
    }
    enum gguf_vtype et = src->v.arr.elem_type;
    uint64_t n = src->v.arr.n;
    if ((unsigned)et >= GGUF_T_COUNT || (et == GGUF_T_ARR && depth >= GGUF_MAX_ARRAY_DEPTH))
        return UH_EINVAL;
    dst->v.arr.elem_type = et;
    if (et == GGUF_T_STR) {
        gguf_str *strs = calloc(n ? (size_t)n : 1, sizeof *strs);
        if (!strs) return UH_ENOMEM;
        dst->v.arr.strs = strs;
        for (uint64_t i = 0; i < n; i++) {
            strs[i].len = src->v.arr.strs[i].len;
            strs[i].ptr = dup_bytes(src->v.arr.strs[i].ptr, (size_t)strs[i].len);
            dst->v.arr.n = i + 1;
            if (!strs[i].ptr) return UH_ENOMEM;
        }
    } else if (et == GGUF_T_ARR) {
        gguf_value *arrs = calloc(n ? (size_t)n : 1, sizeof *arrs);
        if (!arrs) return UH_ENOMEM;
        dst->v.arr.arrs = arrs;
        for (uint64_t i = 0; i < n; i++) {
            dst->v.arr.n = i + 1;
            if (src->v.arr.arrs[i].type != GGUF_T_ARR) return UH_EINVAL;
            int rc = value_copy(&arrs[i], &src->v.arr.arrs[i], depth + 1);
            if (rc) return rc;
        }
    } else {
        size_t esz = gguf_vtype_size((int)et);
        if (n > SIZE_MAX / esz) return UH_ENOMEM;
        const uint8_t *raw = src->v.arr.raw;
        if (et == GGUF_T_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (raw[i] > 1) return UH_EINVAL;
        if (!(dst->v.arr.raw = dup_bytes(raw, (size_t)n * esz))) return UH_ENOMEM;
    }
    dst->v.arr.n = n;
    return 0;
}

/* Stores a copy of val under key (replacing an earlier value of the same key). */
static int set_value(gguf_writer *w, const char *key, size_t key_len, const gguf_value *val)
{
    if (!key) return fail(w, UH_EINVAL, "gguf writer: NULL key");
    if (key_len > GGUF_MAX_KEY)
        return fail(w, UH_EINVAL, "gguf writer: key of %zu bytes exceeds the cap of %d", key_len,
                    GGUF_MAX_KEY);
    gguf_value copy;
    memset(&copy, 0, sizeof copy);
    int rc = value_copy(&copy, val, 1);
    if (rc) {
        value_fini(&copy);
        return fail(w, rc, "gguf writer: key \"%.*s\": %s", (int)(key_len > 64 ? 64 : key_len), key,
                    rc == UH_ENOMEM ? "out of memory" : "invalid value");
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (w->kvs[i].key_len == key_len && memcmp(w->kvs[i].key, key, key_len) == 0) {
            value_fini(&w->kvs[i].value);
            w->kvs[i].value = copy;
            return 0;
        }
    }
    char *k = malloc(key_len + 1);
    if (!k || buf_grow_array((void **)&w->kvs, &w->cap_kv, w->n_kv + 1, sizeof *w->kvs) != 0) {
        free(k);
        value_fini(&copy);
        return fail(w, UH_ENOMEM, "gguf writer: out of memory");
    }
    memcpy(k, key, key_len);
    k[key_len] = 0;
    w->kvs[w->n_kv++] = (wkv){k, key_len, copy};
    return 0;
}

static int set_scalar(gguf_writer *w, const char *key, gguf_value v)
{
    return set_value(w, key, key ? strlen(key) : 0, &v);
}

int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v)
{
    return set_scalar(w, key, (gguf_value){.type = GGUF_T_U32, .v.u = v});
}

int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v)
{
    return set_scalar(w, key, (gguf_value){.type = GGUF_T_I32, .v.i = v});
}

int gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v)
{
    return set_scalar(w, key, (gguf_value){.type = GGUF_T_U64, .v.u = v});
}

int gguf_writer_set_f32(gguf_writer *w, const char *key, float v)
{
    return set_scalar(w, key, (gguf_value){.type = GGUF_T_F32, .v.f = v});
}

int gguf_writer_set_bool(gguf_writer *w, const char *key, int v)
{
    return set_scalar(w, key, (gguf_value){.type = GGUF_T_BOOL, .v.u = v != 0});
}

int gguf_writer_set_str(gguf_writer *w, const char *key, const char *s)
{
    if (!s) return fail(w, UH_EINVAL, "gguf writer: NULL string");
    return set_scalar(w, key, (gguf_value){.type = GGUF_T_STR, .v.s = {strlen(s), s}});
}

int gguf_writer_set_arr(gguf_writer *w, const char *key, enum gguf_vtype elem_type,
                        const void *data, uint64_t n)
{
    if ((unsigned)elem_type >= GGUF_T_COUNT || !gguf_vtype_size((int)elem_type))
        return fail(w, UH_EINVAL, "gguf writer: set_arr needs a numeric or bool element type");
    if (!data && n) return fail(w, UH_EINVAL, "gguf writer: NULL array data");
    gguf_value v = {.type = GGUF_T_ARR};
    v.v.arr.elem_type = elem_type;
    v.v.arr.n = n;
    v.v.arr.raw = data;
    return set_scalar(w, key, v);
}

int gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n)
{
    if (!strs && n) return fail(w, UH_EINVAL, "gguf writer: NULL string array");
    if (n > SIZE_MAX / sizeof(gguf_str)) return fail(w, UH_ENOMEM, "gguf writer: out of memory");
    gguf_str *tmp = malloc(n ? (size_t)n * sizeof *tmp : 1);
    if (!tmp) return fail(w, UH_ENOMEM, "gguf writer: out of memory");
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i]) {
            free(tmp);
            return fail(w, UH_EINVAL, "gguf writer: NULL string at index %llu", (ull)i);
        }
        tmp[i] = (gguf_str){strlen(strs[i]), strs[i]};
    }
    gguf_value v = {.type = GGUF_T_ARR};
    v.v.arr.elem_type = GGUF_T_STR;
    v.v.arr.n = n;
    v.v.arr.strs = tmp;
    int rc = set_scalar(w, key, v);
    free(tmp);
    return rc;
}

int gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv)
{
    return set_value(w, kv->key.ptr, (size_t)kv->key.len, &kv->value);
}

/* ---- tensors ---- */

int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                           const int64_t *ne, const void *data, uint64_t size)
{
    if (!name) return fail(w, UH_EINVAL, "gguf writer: NULL tensor name");
    size_t name_len = strlen(name);
    if (name_len > GGUF_MAX_NAME)
        return fail(w, UH_EINVAL, "gguf writer: tensor name \"%.64s...\" exceeds %d bytes", name,
                    GGUF_MAX_NAME);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return fail(w, UH_EINVAL, "gguf writer: duplicate tensor name \"%s\"", name);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS || !ne)
        return fail(w, UH_EINVAL, "gguf writer: tensor \"%s\": n_dims %u is not in 1..%d", name,
                    n_dims, GGUF_MAX_DIMS);
    const gguf_type_info *tt = gguf_type_get(type);
    if (!tt)
        return fail(w, UH_EINVAL, "gguf writer: tensor \"%s\": unknown type %u", name, type);
    int64_t rows = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] <= 0)
            return fail(w, UH_EINVAL, "gguf writer: tensor \"%s\": ne[%u] = %lld is not positive",
                        name, d, (long long)ne[d]);
        if (d > 0 && ne[d] > INT64_MAX / rows)
            return fail(w, UH_EINVAL, "gguf writer: tensor \"%s\": element count overflows", name);
        if (d > 0) rows *= ne[d];
    }
    if (ne[0] % tt->blck_size)
        return fail(
            w, UH_EINVAL,
            "gguf writer: tensor \"%s\": ne[0] = %lld is not a multiple of the %s block size %d",
            name, (long long)ne[0], tt->name, tt->blck_size);
    uint64_t row_size = (uint64_t)(ne[0] / tt->blck_size);
    if (ne[0] > INT64_MAX / rows || row_size > UINT64_MAX / tt->type_size ||
        row_size * tt->type_size > UINT64_MAX / (uint64_t)rows)
        return fail(w, UH_EINVAL, "gguf writer: tensor \"%s\": size overflows", name);
    uint64_t want = row_size * tt->type_size * (uint64_t)rows;
    if (size != want)
        return fail(w, UH_EINVAL,
                    "gguf writer: tensor \"%s\": %llu bytes given, type %s and shape need %llu",
                    name, (ull)size, tt->name, (ull)want);
    if (!data || size > SIZE_MAX)
        return fail(w, UH_EINVAL, "gguf writer: tensor \"%s\": no data", name);
    if (buf_grow_array((void **)&w->tensors, &w->cap_tensors, w->n_tensors + 1,
                       sizeof *w->tensors) != 0)
        return fail(w, UH_ENOMEM, "gguf writer: out of memory");
    wtensor t = {.type = type, .n_dims = n_dims, .size = size};
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t.ne[d] = (uint32_t)d < n_dims ? ne[d] : 1;
    t.name = dup_bytes(name, name_len + 1);
    t.data = dup_bytes(data, (size_t)size);
    if (!t.name || !t.data) {
        free(t.name);
        free(t.data);
        return fail(w, UH_ENOMEM, "gguf writer: out of memory for tensor \"%s\" (%llu bytes)", name,
                    (ull)size);
    }
    w->tensors[w->n_tensors++] = t;
    return 0;
}

gguf_writer *gguf_writer_new(void)
{
    return calloc(1, sizeof(gguf_writer));
}

void gguf_writer_free(gguf_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        value_fini(&w->kvs[i].value);
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].data);
    }
    free(w->kvs);
    free(w->tensors);
    free(w);
}

/* ---- output ---- */

/* The file being written: small fields gather in buf, tensor data larger than it goes straight
 * to the file. The first error sticks (rc, err) and later puts do nothing. */
typedef struct {
    file_atomic f;
    int rc;
    uh_err err;
    uint64_t pos; /* bytes put so far */
    size_t n_buf;
    uint8_t buf[1 << 16];
} wout;

static void flush(wout *o)
{
    if (!o->rc && o->n_buf) o->rc = file_atomic_write(&o->f, o->buf, o->n_buf, &o->err);
    o->n_buf = 0;
}

static void put(wout *o, const void *p, size_t n)
{
    if (o->rc || !n) return;
    if (o->n_buf + n > sizeof o->buf) flush(o);
    if (n >= sizeof o->buf) {
        if (!o->rc) o->rc = file_atomic_write(&o->f, p, n, &o->err);
    } else {
        memcpy(o->buf + o->n_buf, p, n);
        o->n_buf += n;
    }
    o->pos += n;
}

static void put_u32(wout *o, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(o, b, 4);
}

static void put_u64(wout *o, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    put(o, b, 8);
}

static void put_str(wout *o, const char *s, uint64_t len)
{
    put_u64(o, len);
    put(o, s, (size_t)len);
}

static void put_pad(wout *o, uint32_t alignment)
{
    static const uint8_t zeros[256];
    uint64_t pad = (alignment - o->pos % alignment) % alignment;
    while (pad > 0) {
        size_t n = pad > sizeof zeros ? sizeof zeros : (size_t)pad;
        put(o, zeros, n);
        pad -= n;
    }
}

/* Scalars in little-endian order of their GGUF size (the host may be either endianness). */
static void put_scalar(wout *o, const gguf_value *v)
{
    uint64_t bits = v->v.u;
    size_t n = gguf_vtype_size((int)v->type);
    if (v->type == GGUF_T_F32) {
        float f = (float)v->v.f;
        uint32_t b32;
        memcpy(&b32, &f, 4);
        bits = b32;
    } else if (v->type == GGUF_T_F64) {
        memcpy(&bits, &v->v.f, 8);
    } else if (v->type == GGUF_T_I8 || v->type == GGUF_T_I16 || v->type == GGUF_T_I32 ||
               v->type == GGUF_T_I64) {
        bits = (uint64_t)v->v.i;
    }
    uint8_t b[8];
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(bits >> (8 * i));
    put(o, b, n);
}

static void put_value(wout *o, const gguf_value *v)
{
    if (v->type == GGUF_T_STR) {
        put_str(o, v->v.s.ptr, v->v.s.len);
    } else if (v->type == GGUF_T_ARR) {
        put_u32(o, (uint32_t)v->v.arr.elem_type);
        put_u64(o, v->v.arr.n);
        if (v->v.arr.elem_type == GGUF_T_STR) {
            for (uint64_t i = 0; i < v->v.arr.n; i++)
                put_str(o, v->v.arr.strs[i].ptr, v->v.arr.strs[i].len);
        } else if (v->v.arr.elem_type == GGUF_T_ARR) {
            for (uint64_t i = 0; i < v->v.arr.n; i++) put_value(o, &v->v.arr.arrs[i]);
        } else {
            /* raw already holds the little-endian file encoding */
            put(o, v->v.arr.raw, (size_t)(v->v.arr.n * gguf_vtype_size((int)v->v.arr.elem_type)));
        }
    } else {
        put_scalar(o, v);
    }
}

static void put_all(gguf_writer *w, wout *o, uint32_t alignment)
{
    static const char align_key[] = "general.alignment";
    const size_t align_key_len = sizeof align_key - 1;
    int have_align_key = 0;
    for (size_t i = 0; i < w->n_kv; i++)
        if (w->kvs[i].key_len == align_key_len &&
            memcmp(w->kvs[i].key, align_key, align_key_len) == 0)
            have_align_key = 1;
    int add_align_key = !have_align_key && alignment != GGUF_DEFAULT_ALIGNMENT;

    put_u32(o, GGUF_MAGIC);
    put_u32(o, 3);
    put_u64(o, w->n_tensors);
    put_u64(o, w->n_kv + (size_t)add_align_key);
    gguf_value align_val = {.type = GGUF_T_U32, .v.u = alignment};
    for (size_t i = 0; i < w->n_kv; i++) {
        const wkv *kv = &w->kvs[i];
        int is_align =
            kv->key_len == align_key_len && memcmp(kv->key, align_key, align_key_len) == 0;
        const gguf_value *v = is_align ? &align_val : &kv->value;
        put_str(o, kv->key, kv->key_len);
        put_u32(o, (uint32_t)v->type);
        put_value(o, v);
    }
    if (add_align_key) {
        put_str(o, align_key, align_key_len);
        put_u32(o, GGUF_T_U32);
        put_value(o, &align_val);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        wtensor *t = &w->tensors[i];
        t->offset = off;
        off += (t->size + alignment - 1) / alignment * alignment;
        put_str(o, t->name, strlen(t->name));
        put_u32(o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(o, (uint64_t)t->ne[d]);
        put_u32(o, t->type);
        put_u64(o, t->offset);
    }
    put_pad(o, alignment);
    for (size_t i = 0; i < w->n_tensors; i++) {
        put(o, w->tensors[i].data, (size_t)w->tensors[i].size);
        put_pad(o, alignment);
    }
}

int gguf_writer_write(gguf_writer *w, const char *path, uint32_t alignment, uh_err *err)
{
    if (alignment == 0) alignment = GGUF_DEFAULT_ALIGNMENT;
    /* smaller alignments are valid GGUF but would put data where our reader refuses it */
    if ((alignment & (alignment - 1)) || alignment < GGUF_DATA_MIN_ALIGN)
        return err_setf(err, UH_EINVAL, "gguf writer: alignment %u is not a power of two >= %d",
                        alignment, GGUF_DATA_MIN_ALIGN);
    wout *o = calloc(1, sizeof *o);
    if (!o) return err_setf(err, UH_ENOMEM, "gguf writer: out of memory");
    int rc = file_atomic_open(&o->f, path, 0644, &o->err);
    if (rc != 0) {
        rc = err_setf(err, rc, "gguf writer: %s", o->err.msg);
        free(o);
        return rc;
    }
    put_all(w, o, alignment);
    flush(o);
    rc = o->rc;
    if (rc != 0)
        file_atomic_abort(&o->f);
    else
        rc = file_atomic_commit(&o->f, NULL, &o->err);
    if (rc != 0) rc = err_setf(err, rc, "gguf writer: %s (%llu bytes in)", o->err.msg, (ull)o->pos);
    free(o);
    return rc;
}
