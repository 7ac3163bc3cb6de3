/* gguf_value.c - GGUF metadata values: the bounds-checked cursor, the value parser (scalars,
 * strings, arrays nested up to GGUF_MAX_ARRAY_DEPTH) and the typed getters.
 *
 * Array bounds: before anything is allocated for an array, its element count is checked against
 * the bytes left in the file divided by the smallest possible element (scalar size, 8 for a
 * string's length, 12 for a nested array's type and count), so a claimed count can never make
 * us allocate more than a small multiple of the file size.
 *
 * Depth: a top-level array is level 1, an array inside it level 2, and so on; arrays may go
 * GGUF_MAX_ARRAY_DEPTH levels deep in all (the writer applies the same rule). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "gguf/gguf.h"
#include "gguf/gguf_impl.h"

typedef unsigned long long ull;

static const char *const vtype_names[GGUF_T_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "array", "u64", "i64", "f64",
};
static const uint8_t vtype_sizes[GGUF_T_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *gguf_vtype_name(int t)
{
    return t >= 0 && t < GGUF_T_COUNT ? vtype_names[t] : "?";
}

size_t gguf_vtype_size(int t)
{
    return t >= 0 && t < GGUF_T_COUNT ? vtype_sizes[t] : 0;
}

/* ---- cursor ---- */

static int rd_need(const gguf_rd *r, uint64_t n, const char *field, uh_err *err)
{
    if (n <= r->size - r->pos) return 0;
    return err_setf(err, UH_EFORMAT,
                    "truncated: %s at offset %llu needs %llu bytes, %llu left (file size %llu)",
                    field, (ull)r->pos, (ull)n, (ull)(r->size - r->pos), (ull)r->size);
}

int gguf_rd_u32(gguf_rd *r, const char *field, uint32_t *out, uh_err *err)
{
    int rc = rd_need(r, 4, field, err);
    if (rc) return rc;
    const uint8_t *p = r->p + r->pos;
    *out = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    r->pos += 4;
    return 0;
}

int gguf_rd_u64(gguf_rd *r, const char *field, uint64_t *out, uh_err *err)
{
    int rc = rd_need(r, 8, field, err);
    if (rc) return rc;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | r->p[r->pos + (uint64_t)i];
    *out = v;
    r->pos += 8;
    return 0;
}

int gguf_rd_str(gguf_rd *r, const char *field, uint64_t cap, gguf_str *out, uh_err *err)
{
    uint64_t at = r->pos;
    uint64_t len;
    int rc = gguf_rd_u64(r, field, &len, err);
    if (rc) return rc;
    if (len > cap)
        return err_setf(err, UH_EFORMAT, "%s %llu at offset %llu exceeds the cap of %llu bytes",
                        field, (ull)len, (ull)at, (ull)cap);
    if (len > r->size - r->pos)
        return err_setf(err, UH_EFORMAT,
                        "%s %llu at offset %llu exceeds the %llu bytes left in the file (size "
                        "%llu)",
                        field, (ull)len, (ull)at, (ull)(r->size - r->pos), (ull)r->size);
    out->len = len;
    out->ptr = (const char *)(r->p + r->pos);
    r->pos += len;
    return 0;
}

/* ---- values ---- */

static uint64_t load_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
    return v;
}

static int64_t sign_extend(uint64_t v, size_t n)
{
    if (n == 8) {
        int64_t s;
        memcpy(&s, &v, 8);
        return s;
    }
    uint64_t sign = 1ull << (n * 8 - 1);
    return (int64_t)((v ^ sign) - sign);
}

/* Decodes a scalar of type t from its little-endian bytes. */
static void decode_scalar(enum gguf_vtype t, const uint8_t *p, gguf_value *out)
{
    uint64_t bits = load_le(p, vtype_sizes[t]);
    out->type = t;
    switch (t) {
    case GGUF_T_I8:
    case GGUF_T_I16:
    case GGUF_T_I32:
    case GGUF_T_I64:
        out->v.i = sign_extend(bits, vtype_sizes[t]);
        break;
    case GGUF_T_F32: {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, 4);
        out->v.f = f;
        break;
    }
    case GGUF_T_F64:
        memcpy(&out->v.f, &bits, 8);
        break;
    default:
        out->v.u = bits;
        break;
    }
}

static int parse_array(gguf_file *f, gguf_rd *r, int depth, gguf_value *out, uh_err *err)
{
    uint64_t at = r->pos;
    uint32_t et;
    uint64_t n;
    int rc = gguf_rd_u32(r, "array element type", &et, err);
    if (rc) return rc;
    if (et >= GGUF_T_COUNT)
        return err_setf(err, UH_EFORMAT, "array element type %u at offset %llu is unknown", et,
                        (ull)at);
    if (et == GGUF_T_ARR && depth >= GGUF_MAX_ARRAY_DEPTH)
        return err_setf(err, UH_EFORMAT, "array at offset %llu nests arrays deeper than %d levels",
                        (ull)at, GGUF_MAX_ARRAY_DEPTH);
    uint64_t count_at = r->pos;
    rc = gguf_rd_u64(r, "array count", &n, err);
    if (rc) return rc;
    uint64_t min_elem = et == GGUF_T_STR ? 8 : et == GGUF_T_ARR ? 12 : vtype_sizes[et];
    uint64_t left = r->size - r->pos;
    if (n > left / min_elem)
        return err_setf(err, UH_EFORMAT,
                        "array count %llu at offset %llu needs at least %llu-byte elements but "
                        "only %llu bytes are left (file size %llu)",
                        (ull)n, (ull)count_at, (ull)min_elem, (ull)left, (ull)r->size);
    out->type = GGUF_T_ARR;
    out->v.arr.elem_type = (enum gguf_vtype)et;
    out->v.arr.n = n;
    out->v.arr.raw = r->p + r->pos;
    out->v.arr.strs = NULL;
    out->v.arr.arrs = NULL;

    if (et == GGUF_T_STR) {
        gguf_str *strs = NULL;
        if (n && !(strs = gguf_arena_alloc(f, (size_t)n * sizeof *strs)))
            return err_setf(err, UH_ENOMEM, "out of memory for %llu strings", (ull)n);
        for (uint64_t i = 0; i < n; i++)
            if ((rc = gguf_rd_str(r, "string length", UINT64_MAX, &strs[i], err)))
                return err_prefix(err, rc, "array element %llu", (ull)i);
        out->v.arr.strs = strs;
    } else if (et == GGUF_T_ARR) {
        gguf_value *arrs = NULL;
        if (n && !(arrs = gguf_arena_alloc(f, (size_t)n * sizeof *arrs)))
            return err_setf(err, UH_ENOMEM, "out of memory for %llu nested arrays", (ull)n);
        for (uint64_t i = 0; i < n; i++)
            if ((rc = parse_array(f, r, depth + 1, &arrs[i], err)))
                return err_prefix(err, rc, "array element %llu", (ull)i);
        out->v.arr.arrs = arrs;
    } else {
        const uint8_t *p = r->p + r->pos;
        if (et == GGUF_T_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (p[i] > 1)
                    return err_setf(err, UH_EFORMAT,
                                    "array element %llu: bool value %u at offset %llu is not 0 "
                                    "or 1",
                                    (ull)i, p[i], (ull)(r->pos + i));
        r->pos += n * min_elem;
    }
    return 0;
}

int gguf_parse_value(gguf_file *f, gguf_rd *r, enum gguf_vtype type, int depth, gguf_value *out,
                     uh_err *err)
{
    memset(out, 0, sizeof *out);
    out->type = type;
    if (type == GGUF_T_STR) return gguf_rd_str(r, "string length", UINT64_MAX, &out->v.s, err);
    if (type == GGUF_T_ARR) return parse_array(f, r, depth, out, err);
    int rc = rd_need(r, vtype_sizes[type], vtype_names[type], err);
    if (rc) return rc;
    const uint8_t *p = r->p + r->pos;
    if (type == GGUF_T_BOOL && *p > 1)
        return err_setf(err, UH_EFORMAT, "bool value %u at offset %llu is not 0 or 1", *p,
                        (ull)r->pos);
    decode_scalar(type, p, out);
    r->pos += vtype_sizes[type];
    return 0;
}

void gguf_quote(char *buf, size_t cap, const char *s, uint64_t len)
{
    size_t o = 0;
    const size_t max_shown = 64;
    if (cap < 8) {
        if (cap) buf[0] = 0;
        return;
    }
    for (uint64_t i = 0; i < len && i < max_shown && o + 6 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    if (len > max_shown && o + 4 < cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = 0;
}

/* ---- element access ---- */

double gguf_arr_f64(const gguf_value *arr, uint64_t i)
{
    enum gguf_vtype t = arr->v.arr.elem_type;
    if (t >= GGUF_T_COUNT || !vtype_sizes[t]) return 0;
    gguf_value v;
    decode_scalar(t, (const uint8_t *)arr->v.arr.raw + i * vtype_sizes[t], &v);
    switch (t) {
    case GGUF_T_F32:
    case GGUF_T_F64:
        return v.v.f;
    case GGUF_T_I8:
    case GGUF_T_I16:
    case GGUF_T_I32:
    case GGUF_T_I64:
        return (double)v.v.i;
    default:
        return (double)v.v.u;
    }
}

int64_t gguf_arr_i64(const gguf_value *arr, uint64_t i)
{
    enum gguf_vtype t = arr->v.arr.elem_type;
    if (t >= GGUF_T_COUNT || !vtype_sizes[t]) return 0;
    gguf_value v;
    decode_scalar(t, (const uint8_t *)arr->v.arr.raw + i * vtype_sizes[t], &v);
    switch (t) {
    case GGUF_T_F32:
    case GGUF_T_F64:
        /* Out-of-range floats would be undefined behaviour to convert; clamp them. */
        if (!(v.v.f > -9.2233720368547758e18)) return v.v.f != v.v.f ? 0 : INT64_MIN;
        if (!(v.v.f < 9.2233720368547758e18)) return INT64_MAX;
        return (int64_t)v.v.f;
    case GGUF_T_I8:
    case GGUF_T_I16:
    case GGUF_T_I32:
    case GGUF_T_I64:
        return v.v.i;
    default:
        return v.v.u > INT64_MAX ? INT64_MAX : (int64_t)v.v.u;
    }
}

/* ---- typed getters ---- */

static int is_signed(enum gguf_vtype t)
{
    return t == GGUF_T_I8 || t == GGUF_T_I16 || t == GGUF_T_I32 || t == GGUF_T_I64;
}

static int is_unsigned(enum gguf_vtype t)
{
    return t == GGUF_T_U8 || t == GGUF_T_U16 || t == GGUF_T_U32 || t == GGUF_T_U64;
}

static int lookup(const gguf_file *f, const char *key, const gguf_value **v)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return UH_ENOTFOUND;
    *v = &kv->value;
    return 0;
}

static int type_error(uh_err *err, const char *key, const gguf_value *v, const char *want)
{
    return err_setf(err, UH_EFORMAT, "gguf: key \"%s\" has type %s, expected %s", key,
                    gguf_vtype_name((int)v->type), want);
}

/* Any integer value, as a signed/unsigned pair: *neg set when the value is below zero. */
static int get_int(const gguf_file *f, const char *key, int *neg, uint64_t *mag, int64_t *sval,
                   uh_err *err)
{
    const gguf_value *v;
    if (lookup(f, key, &v)) return UH_ENOTFOUND;
    if (is_unsigned(v->type)) {
        *neg = 0;
        *mag = v->v.u;
        *sval = v->v.u > INT64_MAX ? INT64_MAX : (int64_t)v->v.u;
        return 0;
    }
    if (is_signed(v->type)) {
        *neg = v->v.i < 0;
        *mag = *neg ? 0 : (uint64_t)v->v.i;
        *sval = v->v.i;
        return 0;
    }
    return type_error(err, key, v, "an integer");
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, uh_err *err)
{
    int neg;
    uint64_t mag;
    int64_t s;
    int rc = get_int(f, key, &neg, &mag, &s, err);
    if (rc) return rc;
    if (neg || mag > UINT32_MAX)
        return err_setf(err, UH_EFORMAT, "gguf: key \"%s\" value %lld is out of range for u32", key,
                        (long long)s);
    *out = (uint32_t)mag;
    return 0;
}

int gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, uh_err *err)
{
    int neg;
    uint64_t mag;
    int64_t s;
    int rc = get_int(f, key, &neg, &mag, &s, err);
    if (rc) return rc;
    if ((!neg && mag > INT32_MAX) || s < INT32_MIN)
        return neg ? err_setf(err, UH_EFORMAT,
                              "gguf: key \"%s\" value %lld is out of range for i32", key,
                              (long long)s)
                   : err_setf(err, UH_EFORMAT,
                              "gguf: key \"%s\" value %llu is out of range for i32", key, (ull)mag);
    *out = (int32_t)s;
    return 0;
}

int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, uh_err *err)
{
    int neg;
    uint64_t mag;
    int64_t s;
    int rc = get_int(f, key, &neg, &mag, &s, err);
    if (rc) return rc;
    if (neg)
        return err_setf(err, UH_EFORMAT, "gguf: key \"%s\" value %lld is negative", key,
                        (long long)s);
    *out = mag;
    return 0;
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out, uh_err *err)
{
    const gguf_value *v;
    if (lookup(f, key, &v)) return UH_ENOTFOUND;
    if (v->type != GGUF_T_F32 && v->type != GGUF_T_F64) return type_error(err, key, v, "f32");
    if (isfinite(v->v.f) && fabs(v->v.f) > FLT_MAX)
        return err_setf(err, UH_EFORMAT, "gguf: key \"%s\" value %g is out of range for f32", key,
                        v->v.f);
    *out = (float)v->v.f;
    return 0;
}

int gguf_get_bool(const gguf_file *f, const char *key, int *out, uh_err *err)
{
    const gguf_value *v;
    if (lookup(f, key, &v)) return UH_ENOTFOUND;
    if (v->type != GGUF_T_BOOL) return type_error(err, key, v, "bool");
    *out = v->v.u != 0;
    return 0;
}

int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, uh_err *err)
{
    const gguf_value *v;
    if (lookup(f, key, &v)) return UH_ENOTFOUND;
    if (v->type != GGUF_T_STR) return type_error(err, key, v, "str");
    *out = v->v.s;
    return 0;
}

int gguf_get_arr(const gguf_file *f, const char *key, enum gguf_vtype elem_type,
                 const gguf_value **out, uh_err *err)
{
    const gguf_value *v;
    if (lookup(f, key, &v)) return UH_ENOTFOUND;
    if (elem_type == GGUF_T_ARR || (unsigned)elem_type >= GGUF_T_COUNT)
        return err_setf(err, UH_EINVAL, "gguf: key \"%s\": cannot ask for an array of %s", key,
                        gguf_vtype_name((int)elem_type));
    if (v->type != GGUF_T_ARR || v->v.arr.elem_type != elem_type) {
        char want[32];
        snprintf(want, sizeof want, "array of %s", gguf_vtype_name((int)elem_type));
        if (v->type == GGUF_T_ARR)
            return err_setf(err, UH_EFORMAT, "gguf: key \"%s\" is an array of %s, expected %s", key,
                            gguf_vtype_name((int)v->v.arr.elem_type), want);
        return type_error(err, key, v, want);
    }
    *out = v;
    return 0;
}
