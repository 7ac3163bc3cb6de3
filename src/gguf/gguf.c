/* gguf.c - GGUF reader: maps the file (or takes a caller's buffer), parses the header, the
 * metadata and the tensor table, validates all of it against the file size, and indexes keys
 * and tensor names in hash tables. The format is described in gguf.h; values are parsed in
 * gguf_value.c.
 *
 * Order of checks: magic, version, counts (each bounded by the bytes left divided by the
 * smallest possible entry, so no table is ever sized from an unchecked count), metadata,
 * duplicate keys, general.alignment, tensor infos (name, n_dims, ne, type, offset), duplicate
 * names, then the data ranges (inside the file, aligned, not overlapping). */
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "gguf/gguf_impl.h"
#include "gguf/gguf_types.h"

typedef unsigned long long ull;

/* Smallest encodings: a kv is key length + value type + a 1-byte value; a tensor info is name
 * length + n_dims + one ne + type + offset. */
#define MIN_KV_BYTES     (8 + 4 + 1)
#define MIN_TENSOR_BYTES (8 + 4 + 8 + 4 + 8)
/* Index slots are uint32_t; no real file comes near this. */
#define MAX_ENTRIES (1ull << 30)

/* ---- arena ---- */

#define ARENA_CHUNK (64 * 1024)

struct gguf_arena_chunk {
    struct gguf_arena_chunk *next;
    size_t used;
    size_t cap;
    max_align_t mem[];
};

void *gguf_arena_alloc(gguf_file *f, size_t n)
{
    if (n > SIZE_MAX - 64) return NULL;
    n = (n + 15) & ~(size_t)15;
    struct gguf_arena_chunk *c = f->arena;
    if (c && c->cap - c->used >= n) {
        void *p = (unsigned char *)c->mem + c->used;
        c->used += n;
        return p;
    }
    /* Big tables get a chunk of their own, linked behind the current one so that its free
     * space keeps being used for small allocations. */
    size_t cap = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
    if (cap > SIZE_MAX - sizeof *c) return NULL;
    struct gguf_arena_chunk *nc = calloc(1, sizeof *nc + cap);
    if (!nc) return NULL;
    nc->cap = cap;
    nc->used = n;
    if (cap != n || !c) {
        nc->next = c;
        f->arena = nc;
    } else {
        nc->next = c->next;
        c->next = nc;
    }
    return nc->mem;
}

/* ---- hash index ---- */

static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

static int index_init(gguf_index *ix, uint64_t n)
{
    uint64_t slots = 16;
    while (slots < 2 * n) slots *= 2;
    ix->slots = calloc((size_t)slots, sizeof *ix->slots);
    ix->mask = slots - 1;
    return ix->slots ? 0 : UH_ENOMEM;
}

/* Finds the entry whose name equals (s, n); name_of returns entry i's bytes. Returns the slot
 * position; *found receives the entry index + 1, or 0 when the slot is empty. */
typedef const char *(*name_fn)(const gguf_file *f, uint64_t i, uint64_t *len);

static uint64_t index_probe(const gguf_file *f, const gguf_index *ix, name_fn name_of,
                            const char *s, size_t n, uint32_t *found)
{
    uint64_t pos = hash_bytes(s, n) & ix->mask;
    for (;;) {
        uint32_t e = ix->slots[pos];
        if (!e) break;
        uint64_t len;
        const char *name = name_of(f, e - 1, &len);
        if (len == n && memcmp(name, s, n) == 0) break;
        pos = (pos + 1) & ix->mask;
    }
    *found = ix->slots[pos];
    return pos;
}

static const char *kv_name(const gguf_file *f, uint64_t i, uint64_t *len)
{
    *len = f->kvs[i].key.len;
    return f->kvs[i].key.ptr;
}

static const char *tensor_name(const gguf_file *f, uint64_t i, uint64_t *len)
{
    *len = strlen(f->tensors[i].name);
    return f->tensors[i].name;
}

/* ---- parsing ---- */

static int parse_header(gguf_file *f, gguf_rd *r, uh_err *err)
{
    uint32_t magic;
    int rc = gguf_rd_u32(r, "magic", &magic, err);
    if (rc) return rc;
    if (magic != GGUF_MAGIC) {
        char shown[40];
        gguf_quote(shown, sizeof shown, (const char *)r->p, 4);
        return err_setf(err, UH_EFORMAT, "bad magic \"%s\" at offset 0 (expected \"GGUF\")", shown);
    }
    if ((rc = gguf_rd_u32(r, "version", &f->version, err))) return rc;
    if (f->version != 2 && f->version != 3)
        return err_setf(err, UH_EUNSUPPORTED,
                        "unsupported version %u at offset 4 (only versions 2 and 3 are read)",
                        f->version);
    if ((rc = gguf_rd_u64(r, "n_tensors", &f->n_tensors, err))) return rc;
    if ((rc = gguf_rd_u64(r, "n_kv", &f->n_kv, err))) return rc;
    uint64_t left = r->size - r->pos;
    if (f->n_kv > left / MIN_KV_BYTES || f->n_kv > MAX_ENTRIES)
        return err_setf(err, UH_EFORMAT,
                        "n_kv %llu at offset 16 is more than the %llu bytes left in the file can "
                        "hold",
                        (ull)f->n_kv, (ull)left);
    if (f->n_tensors > (left - f->n_kv * MIN_KV_BYTES) / MIN_TENSOR_BYTES ||
        f->n_tensors > MAX_ENTRIES)
        return err_setf(err, UH_EFORMAT,
                        "n_tensors %llu at offset 8 is more than the %llu bytes left in the file "
                        "can hold (after room for n_kv %llu keys)",
                        (ull)f->n_tensors, (ull)left, (ull)f->n_kv);
    return 0;
}

static int parse_kvs(gguf_file *f, gguf_rd *r, uh_err *err)
{
    int rc;
    char shown[300];
    f->kvs = calloc(f->n_kv ? (size_t)f->n_kv : 1, sizeof *f->kvs);
    if (!f->kvs) return err_setf(err, UH_ENOMEM, "out of memory for %llu keys", (ull)f->n_kv);
    for (uint64_t i = 0; i < f->n_kv; i++) {
        gguf_kv *kv = &f->kvs[i];
        kv->file_offset = r->pos;
        if ((rc = gguf_rd_str(r, "key length", GGUF_MAX_KEY, &kv->key, err)))
            return err_prefix(err, rc, "metadata key %llu", (ull)i);
        char *z = gguf_arena_alloc(f, (size_t)kv->key.len + 1);
        if (!z) return err_setf(err, UH_ENOMEM, "out of memory for metadata keys");
        memcpy(z, kv->key.ptr, (size_t)kv->key.len);
        kv->key_z = z;
        gguf_quote(shown, sizeof shown, kv->key.ptr, kv->key.len);
        uint64_t type_at = r->pos;
        uint32_t type;
        if ((rc = gguf_rd_u32(r, "value type", &type, err)))
            return err_prefix(err, rc, "metadata key %llu (\"%s\")", (ull)i, shown);
        if (type >= GGUF_T_COUNT)
            return err_setf(err, UH_EFORMAT,
                            "metadata key %llu (\"%s\"): value type %u at offset %llu is unknown",
                            (ull)i, shown, type, (ull)type_at);
        if ((rc = gguf_parse_value(f, r, (enum gguf_vtype)type, 1, &kv->value, err)))
            return err_prefix(err, rc, "metadata key %llu (\"%s\")", (ull)i, shown);
    }
    if ((rc = index_init(&f->kv_index, f->n_kv)))
        return err_setf(err, rc, "out of memory for the key index");
    for (uint64_t i = 0; i < f->n_kv; i++) {
        uint32_t found;
        uint64_t pos = index_probe(f, &f->kv_index, kv_name, f->kvs[i].key.ptr,
                                   (size_t)f->kvs[i].key.len, &found);
        if (found) {
            gguf_quote(shown, sizeof shown, f->kvs[i].key.ptr, f->kvs[i].key.len);
            return err_setf(
                err, UH_EFORMAT,
                "metadata key %llu (\"%s\") at offset %llu duplicates key %u (at offset %llu)",
                (ull)i, shown, (ull)f->kvs[i].file_offset, found - 1,
                (ull)f->kvs[found - 1].file_offset);
        }
        f->kv_index.slots[pos] = (uint32_t)(i + 1);
    }
    return 0;
}

static int parse_alignment(gguf_file *f, uh_err *err)
{
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *kv = gguf_find_kv(f, "general.alignment");
    if (!kv) return 0;
    if (kv->value.type != GGUF_T_U32)
        return err_setf(err, UH_EFORMAT,
                        "general.alignment (key at offset %llu) has type %s, expected u32",
                        (ull)kv->file_offset, gguf_vtype_name((int)kv->value.type));
    uint64_t a = kv->value.v.u;
    if (a == 0 || (a & (a - 1)))
        return err_setf(err, UH_EFORMAT,
                        "general.alignment %llu (key at offset %llu) is not a power of two", (ull)a,
                        (ull)kv->file_offset);
    f->alignment = (uint32_t)a;
    return 0;
}

/* Parses tensor info i; names it in messages as `what` once the name is known. */
static int parse_tensor(gguf_file *f, gguf_rd *r, uint64_t i, uh_err *err)
{
    gguf_tensor *t = &f->tensors[i];
    char shown[300];
    gguf_str name;
    int rc;
    f->tensor_name_off[i] = r->pos;
    if ((rc = gguf_rd_str(r, "name length", GGUF_MAX_NAME, &name, err)))
        return err_prefix(err, rc, "tensor %llu", (ull)i);
    gguf_quote(shown, sizeof shown, name.ptr, name.len);
    if (memchr(name.ptr, 0, (size_t)name.len))
        return err_setf(err, UH_EFORMAT, "tensor %llu (\"%s\") name at offset %llu contains a NUL",
                        (ull)i, shown, (ull)f->tensor_name_off[i]);
    char *z = gguf_arena_alloc(f, (size_t)name.len + 1);
    if (!z) return err_setf(err, UH_ENOMEM, "out of memory for tensor names");
    memcpy(z, name.ptr, (size_t)name.len);
    t->name = z;

    uint64_t at = r->pos;
    if ((rc = gguf_rd_u32(r, "n_dims", &t->n_dims, err))) goto ctx;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return err_setf(err, UH_EFORMAT,
                        "tensor %llu (\"%s\") n_dims %u at offset %llu is not in 1..%d", (ull)i,
                        shown, t->n_dims, (ull)at, GGUF_MAX_DIMS);
    int64_t n_elem = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t ne;
        at = r->pos;
        if ((rc = gguf_rd_u64(r, "ne", &ne, err))) goto ctx;
        if (ne == 0 || ne > INT64_MAX)
            return err_setf(err, UH_EFORMAT,
                            "tensor %llu (\"%s\") ne[%u] = %lld at offset %llu is not positive",
                            (ull)i, shown, d, (long long)(int64_t)ne, (ull)at);
        if ((int64_t)ne > INT64_MAX / n_elem)
            return err_setf(err, UH_EFORMAT,
                            "tensor %llu (\"%s\") ne[%u] = %llu at offset %llu makes the element "
                            "count overflow int64",
                            (ull)i, shown, d, (ull)ne, (ull)at);
        t->ne[d] = (int64_t)ne;
        n_elem *= (int64_t)ne;
    }
    at = r->pos;
    if ((rc = gguf_rd_u32(r, "type", &t->type, err))) goto ctx;
    const gguf_type_info *tt = gguf_type_get(t->type);
    if (!tt)
        return err_setf(err, UH_EUNSUPPORTED,
                        "tensor %llu (\"%s\") type %u at offset %llu is unknown", (ull)i, shown,
                        t->type, (ull)at);
    if (t->ne[0] % tt->blck_size)
        return err_setf(
            err, UH_EFORMAT,
            "tensor %llu (\"%s\") ne[0] = %lld is not a multiple of the block size %d of type %s",
            (ull)i, shown, (long long)t->ne[0], tt->blck_size, tt->name);
    /* bytes = blocks per row * block bytes * rows, checked for overflow at each step */
    uint64_t size = (uint64_t)(t->ne[0] / tt->blck_size);
    uint64_t rows = (uint64_t)(n_elem / t->ne[0]);
    if (size > UINT64_MAX / tt->type_size || size * tt->type_size > UINT64_MAX / rows)
        return err_setf(err, UH_EFORMAT, "tensor %llu (\"%s\") byte size overflows", (ull)i, shown);
    t->size = size * tt->type_size * rows;
    at = r->pos;
    if ((rc = gguf_rd_u64(r, "offset", &t->offset, err))) goto ctx;
    if (t->offset % f->alignment)
        return err_setf(err, UH_EFORMAT,
                        "tensor %llu (\"%s\") data offset %llu at offset %llu is not a multiple of "
                        "the alignment %u",
                        (ull)i, shown, (ull)t->offset, (ull)at, f->alignment);
    return 0;
ctx:
    return err_prefix(err, rc, "tensor %llu (\"%s\")", (ull)i, shown);
}

typedef struct {
    uint64_t offset, size, index;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int check_data(gguf_file *f, uh_err *err)
{
    char shown[300], shown2[300];
    int rc = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        uint64_t room = f->size > f->data_offset ? f->size - f->data_offset : 0;
        if (t->offset > room || t->size > room - t->offset) {
            gguf_quote(shown, sizeof shown, t->name, strlen(t->name));
            return err_setf(err, UH_EFORMAT,
                            "tensor %llu (\"%s\") data [offset %llu, %llu bytes] extends past end "
                            "of file (data section at %llu, file size %llu)",
                            (ull)i, shown, (ull)t->offset, (ull)t->size, (ull)f->data_offset,
                            (ull)f->size);
        }
        if ((f->data_offset + t->offset) % GGUF_DATA_MIN_ALIGN) {
            gguf_quote(shown, sizeof shown, t->name, strlen(t->name));
            return err_setf(err, UH_EUNSUPPORTED,
                            "tensor %llu (\"%s\") data at file offset %llu is not %d-byte aligned "
                            "(general.alignment %u is too small for in-place use)",
                            (ull)i, shown, (ull)(f->data_offset + t->offset), GGUF_DATA_MIN_ALIGN,
                            f->alignment);
        }
        t->data = f->data + f->data_offset + t->offset;
    }
    if (f->n_tensors < 2) return 0;
    span *s = malloc((size_t)f->n_tensors * sizeof *s);
    if (!s) return err_setf(err, UH_ENOMEM, "out of memory for the tensor table");
    for (uint64_t i = 0; i < f->n_tensors; i++)
        s[i] = (span){f->tensors[i].offset, f->tensors[i].size, i};
    qsort(s, (size_t)f->n_tensors, sizeof *s, span_cmp);
    for (uint64_t k = 1; k < f->n_tensors; k++) {
        if (s[k].offset - s[k - 1].offset >= s[k - 1].size) continue;
        const gguf_tensor *a = &f->tensors[s[k - 1].index], *b = &f->tensors[s[k].index];
        gguf_quote(shown, sizeof shown, a->name, strlen(a->name));
        gguf_quote(shown2, sizeof shown2, b->name, strlen(b->name));
        rc = err_setf(err, UH_EFORMAT,
                      "tensor %llu (\"%s\") data [offset %llu, %llu bytes] overlaps tensor %llu "
                      "(\"%s\") [offset %llu, %llu bytes]",
                      (ull)s[k].index, shown2, (ull)b->offset, (ull)b->size, (ull)s[k - 1].index,
                      shown, (ull)a->offset, (ull)a->size);
        break;
    }
    free(s);
    return rc;
}

static int parse_tensors(gguf_file *f, gguf_rd *r, uh_err *err)
{
    int rc;
    size_t n = f->n_tensors ? (size_t)f->n_tensors : 1;
    f->tensors = calloc(n, sizeof *f->tensors);
    f->tensor_name_off = calloc(n, sizeof *f->tensor_name_off);
    if (!f->tensors || !f->tensor_name_off)
        return err_setf(err, UH_ENOMEM, "out of memory for %llu tensors", (ull)f->n_tensors);
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if ((rc = parse_tensor(f, r, i, err))) return rc;
    if ((rc = index_init(&f->tensor_index, f->n_tensors)))
        return err_setf(err, rc, "out of memory for the tensor index");
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const char *name = f->tensors[i].name;
        uint32_t found;
        uint64_t pos = index_probe(f, &f->tensor_index, tensor_name, name, strlen(name), &found);
        if (found) {
            char shown[300];
            gguf_quote(shown, sizeof shown, name, strlen(name));
            return err_setf(err, UH_EFORMAT,
                            "tensor %llu (\"%s\") at offset %llu duplicates the name of tensor %u "
                            "(at offset %llu)",
                            (ull)i, shown, (ull)f->tensor_name_off[i], found - 1,
                            (ull)f->tensor_name_off[found - 1]);
        }
        f->tensor_index.slots[pos] = (uint32_t)(i + 1);
    }
    /* The data section starts at the first multiple of the alignment after the tensor table.
     * A file without tensors may end before it (vocab-only files do). */
    uint64_t a = f->alignment;
    if (r->pos > UINT64_MAX - (a - 1))
        return err_setf(err, UH_EFORMAT, "data section offset overflows");
    f->data_offset = (r->pos + a - 1) / a * a;
    return check_data(f, err);
}

static int parse(gguf_file *f, uh_err *err)
{
    gguf_rd r = {f->data, f->size, 0};
    int rc;
    if ((rc = parse_header(f, &r, err))) return rc;
    if ((rc = parse_kvs(f, &r, err))) return rc;
    if ((rc = parse_alignment(f, err))) return rc;
    return parse_tensors(f, &r, err);
}

/* ---- open / close ---- */

int gguf_open_mem(const void *data, size_t size, gguf_file **out, uh_err *err)
{
    *out = NULL;
    if (!data && size) return err_setf(err, UH_EINVAL, "gguf: NULL buffer");
    if ((uintptr_t)data % GGUF_DATA_MIN_ALIGN)
        return err_setf(err, UH_EINVAL, "gguf: buffer is not %d-byte aligned", GGUF_DATA_MIN_ALIGN);
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) return err_setf(err, UH_ENOMEM, "gguf: out of memory");
    f->data = data;
    f->size = size;
    int rc = parse(f, err);
    if (rc) {
        gguf_close(f);
        return err_prefix(err, rc, "gguf");
    }
    *out = f;
    return 0;
}

int gguf_open(const char *path, gguf_file **out, uh_err *err)
{
    *out = NULL;
    int rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_setf(err, errno == ENOENT ? UH_ENOTFOUND : UH_EIO, "gguf: %s: %s", path,
                        strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = err_setf(err, UH_EIO, "gguf: %s: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_setf(err, UH_EIO, "gguf: %s: not a regular file", path);
    }
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) {
        close(fd);
        return err_setf(err, UH_ENOMEM, "gguf: out of memory");
    }
    f->size = (size_t)st.st_size;
    if (f->size) {
        void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            rc = err_setf(err, UH_EIO, "gguf: %s: mmap: %s", path, strerror(errno));
            close(fd);
            free(f);
            return rc;
        }
        f->map = m;
        f->map_len = f->size;
        f->data = m;
    }
    close(fd);
    rc = parse(f, err);
    if (rc) {
        gguf_close(f);
        return err_prefix(err, rc, "gguf: %s", path);
    }
    *out = f;
    return 0;
}

void gguf_close(gguf_file *f)
{
    if (!f) return;
    if (f->map) munmap(f->map, f->map_len);
    struct gguf_arena_chunk *c = f->arena;
    while (c) {
        struct gguf_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(f->kvs);
    free(f->tensors);
    free(f->tensor_name_off);
    free(f->kv_index.slots);
    free(f->tensor_index.slots);
    free(f);
}

/* ---- accessors ---- */

uint32_t gguf_version(const gguf_file *f)
{
    return f->version;
}
uint32_t gguf_alignment(const gguf_file *f)
{
    return f->alignment;
}
size_t gguf_file_size(const gguf_file *f)
{
    return f->size;
}
uint64_t gguf_data_offset(const gguf_file *f)
{
    return f->data_offset;
}
uint64_t gguf_n_kv(const gguf_file *f)
{
    return f->n_kv;
}
uint64_t gguf_n_tensors(const gguf_file *f)
{
    return f->n_tensors;
}

const gguf_kv *gguf_kv_at(const gguf_file *f, uint64_t i)
{
    return i < f->n_kv ? &f->kvs[i] : NULL;
}

const gguf_tensor *gguf_tensor_at(const gguf_file *f, uint64_t i)
{
    return i < f->n_tensors ? &f->tensors[i] : NULL;
}

gguf_tensor *gguf_tensor_mut(gguf_file *f, const gguf_tensor *t)
{
    if (t < f->tensors || t >= f->tensors + f->n_tensors) return NULL;
    return &f->tensors[t - f->tensors];
}

void gguf_tensor_release(gguf_file *f, const gguf_tensor *t)
{
    if (!f->map || !t->size) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)t->data + page - 1) & ~(page - 1);
    uintptr_t b = ((uintptr_t)t->data + t->size) & ~(page - 1);
    /* the mapping is private and never written, so its pages are clean copies of the file */
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key)
{
    uint32_t found;
    index_probe(f, &f->kv_index, kv_name, key, strlen(key), &found);
    return found ? &f->kvs[found - 1] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    uint32_t found;
    index_probe(f, &f->tensor_index, tensor_name, name, strlen(name), &found);
    return found ? &f->tensors[found - 1] : NULL;
}
