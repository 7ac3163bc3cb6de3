/* jinja_value.c - the template engine's arena, error exits and values: construction, conversion
 * from JSON, Python truthiness and equality, and Python's str()/repr()/json.dumps() spellings,
 * which templates expose byte for byte in their output. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/err.h"
#include "text/jinja.h"

/* ---- arena ---- */

struct jchunk {
    jchunk *next;
    size_t size, used;
    _Alignas(16) unsigned char mem[];
};

#define JCHUNK_SIZE (64 * 1024)

void jarena_init(jarena *a, size_t limit)
{
    a->head = NULL;
    a->used = 0;
    a->limit = limit;
}

void jarena_fini(jarena *a)
{
    jchunk *ch = a->head;
    while (ch) {
        jchunk *next = ch->next;
        free(ch);
        ch = next;
    }
    a->head = NULL;
}

void *jalloc(jctx *c, size_t size)
{
    jarena *a = &c->arena;
    size = (size + 15) & ~(size_t)15;
    if (size > a->limit || a->used > a->limit - size)
        jinja_fail(c, UH_ELIMIT, "template used more than %zu bytes of memory", a->limit);
    jchunk *ch = a->head;
    if (!ch || ch->size - ch->used < size) {
        size_t csize = size > JCHUNK_SIZE / 4 ? size : JCHUNK_SIZE;
        jchunk *n = malloc(sizeof *n + csize);
        if (!n) jinja_fail(c, UH_ENOMEM, "out of memory rendering template");
        n->size = csize;
        n->used = 0;
        if (ch && csize != JCHUNK_SIZE) { /* a big block: keep filling the current chunk */
            n->next = ch->next;
            ch->next = n;
        } else {
            n->next = ch;
            a->head = n;
        }
        ch = n;
    }
    void *p = ch->mem + ch->used;
    ch->used += size;
    a->used += size;
    memset(p, 0, size);
    return p;
}

/* ---- errors ---- */

void jinja_fail(jctx *c, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err_setf(c->err, code, "%s", msg);
    longjmp(c->jb, 1);
}

void jinja_rt(jctx *c, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jinja_fail(c, UH_EINVAL, "%s (template line %d)", msg, c->line);
}

/* ---- construction ---- */

jv jv_none(void)
{
    return (jv){.t = JV_NONE};
}
jv jv_bool(int b)
{
    return (jv){.t = JV_BOOL, .u.i = b != 0};
}
jv jv_int(int64_t i)
{
    return (jv){.t = JV_INT, .u.i = i};
}
jv jv_float(double f)
{
    return (jv){.t = JV_FLOAT, .u.f = f};
}

jv jv_str(const char *p, size_t n)
{
    jv v = {.t = JV_STR};
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}

jv jv_cstr(const char *p)
{
    return jv_str(p, strlen(p));
}

jv jv_str_copy(jctx *c, const char *p, size_t n)
{
    char *d = jalloc(c, n + 1);
    if (n) memcpy(d, p, n);
    return jv_str(d, n);
}

jv jv_undef(const char *msg)
{
    jv v = {.t = JV_UNDEF};
    v.u.s.p = msg;
    v.u.s.n = msg ? strlen(msg) : 0;
    return v;
}

jv jv_undef_name(jctx *c, const char *name, size_t len)
{
    char *m = jalloc(c, len + 20);
    snprintf(m, len + 20, "'%.*s' is undefined", (int)len, name);
    return jv_undef(m);
}

jv jv_undef_attr(jctx *c, jv obj, const char *name, size_t len)
{
    const char *tn = jv_type_name(obj);
    size_t cap = len + strlen(tn) + 48;
    char *m = jalloc(c, cap);
    if (obj.t == JV_NONE)
        snprintf(m, cap, "'None' has no attribute '%.*s'", (int)len, name);
    else
        snprintf(m, cap, "'%s object' has no attribute '%.*s'", tn, (int)len, name);
    return jv_undef(m);
}

jv jv_list_new(jctx *c, size_t cap)
{
    jv v = {.t = JV_LIST};
    v.u.l = jalloc(c, sizeof *v.u.l);
    if (cap) {
        v.u.l->v = jalloc(c, cap * sizeof(jv));
        v.u.l->cap = cap;
    }
    return v;
}

static void note_depth(jctx *c, int *depth, jv child)
{
    int d = 1 + (child.t == JV_LIST ? child.u.l->depth : child.t == JV_DICT ? child.u.d->depth : 0);
    if (d > JV_MAX_NEST) jinja_fail(c, UH_ELIMIT, "value nested deeper than %d", JV_MAX_NEST);
    if (d > *depth) *depth = d;
}

void jlist_push(jctx *c, jlist *l, jv v)
{
    note_depth(c, &l->depth, v);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        jv *nv = jalloc(c, cap * sizeof(jv));
        if (l->n) memcpy(nv, l->v, l->n * sizeof(jv));
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
}

jv jv_dict_new(jctx *c)
{
    jv v = {.t = JV_DICT};
    v.u.d = jalloc(c, sizeof *v.u.d);
    return v;
}

jv *jdict_get_str(const jdict *d, const char *s, size_t n)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].t == JV_STR && d->k[i].u.s.n == n && memcmp(d->k[i].u.s.p, s, n) == 0)
            return &d->v[i];
    return NULL;
}

jv *jdict_get(const jdict *d, jv k)
{
    if (k.t == JV_STR) return jdict_get_str(d, k.u.s.p, k.u.s.n);
    for (size_t i = 0; i < d->n; i++)
        if (jv_eq(d->k[i], k)) return &d->v[i];
    return NULL;
}

void jdict_set(jctx *c, jdict *d, jv k, jv v)
{
    note_depth(c, &d->depth, v);
    note_depth(c, &d->depth, k);
    jv *slot = jdict_get(d, k);
    if (slot) {
        *slot = v;
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        jv *nk = jalloc(c, cap * sizeof(jv)), *nv = jalloc(c, cap * sizeof(jv));
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof(jv));
            memcpy(nv, d->v, d->n * sizeof(jv));
        }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = k;
    d->v[d->n++] = v;
}

jv jv_from_json(jctx *c, const cJSON *j)
{
    if (!j || cJSON_IsNull(j)) return jv_none();
    if (cJSON_IsBool(j)) return jv_bool(cJSON_IsTrue(j));
    if (cJSON_IsNumber(j)) {
        /* cJSON keeps no int/float distinction: integral values within 2^53 read as ints, as
         * they were almost certainly written */
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) < 9007199254740992.0) return jv_int((int64_t)d);
        return jv_float(d);
    }
    if (cJSON_IsString(j)) return jv_str_copy(c, j->valuestring, strlen(j->valuestring));
    if (cJSON_IsArray(j)) {
        jv l = jv_list_new(c, 0);
        for (const cJSON *e = j->child; e; e = e->next) jlist_push(c, l.u.l, jv_from_json(c, e));
        return l;
    }
    if (cJSON_IsObject(j)) {
        jv d = jv_dict_new(c);
        for (const cJSON *e = j->child; e; e = e->next)
            jdict_set(c, d.u.d, jv_str_copy(c, e->string, strlen(e->string)), jv_from_json(c, e));
        return d;
    }
    return jv_none();
}

/* ---- predicates ---- */

const char *jv_type_name(jv v)
{
    switch (v.t) {
    case JV_UNDEF:
        return "Undefined";
    case JV_NONE:
        return "NoneType";
    case JV_BOOL:
        return "bool";
    case JV_INT:
        return "int";
    case JV_FLOAT:
        return "float";
    case JV_STR:
        return "str";
    case JV_LIST:
        return v.tuple ? "tuple" : "list";
    case JV_DICT:
        return "dict";
    case JV_NS:
        return "Namespace";
    case JV_LOOP:
        return "LoopContext";
    case JV_MACRO:
        return "Macro";
    default:
        return "builtin_function_or_method";
    }
}

int jv_truthy(jv v)
{
    switch (v.t) {
    case JV_UNDEF:
    case JV_NONE:
        return 0;
    case JV_BOOL:
    case JV_INT:
        return v.u.i != 0;
    case JV_FLOAT:
        return v.u.f != 0.0;
    case JV_STR:
        return v.u.s.n != 0;
    case JV_LIST:
        return v.u.l->n != 0;
    case JV_DICT:
        return v.u.d->n != 0;
    default:
        return 1;
    }
}

int jv_is_num(jv v)
{
    return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL;
}

double jv_num(jv v)
{
    return v.t == JV_FLOAT ? v.u.f : (double)v.u.i;
}

int jv_eq(jv a, jv b)
{
    if (jv_is_num(a) && jv_is_num(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) return a.u.i == b.u.i;
        return jv_num(a) == jv_num(b);
    }
    if (a.t != b.t) return 0;
    switch (a.t) {
    case JV_UNDEF:
    case JV_NONE:
        return 1;
    case JV_STR:
        return a.u.s.n == b.u.s.n && memcmp(a.u.s.p, b.u.s.p, a.u.s.n) == 0;
    case JV_LIST:
        if (a.tuple != b.tuple || a.u.l->n != b.u.l->n) return 0;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!jv_eq(a.u.l->v[i], b.u.l->v[i])) return 0;
        return 1;
    case JV_DICT:
        if (a.u.d->n != b.u.d->n) return 0;
        for (size_t i = 0; i < a.u.d->n; i++) {
            jv *o = jdict_get(b.u.d, a.u.d->k[i]);
            if (!o || !jv_eq(a.u.d->v[i], *o)) return 0;
        }
        return 1;
    case JV_NS:
        return a.u.d == b.u.d;
    case JV_LOOP:
        return a.u.loop == b.u.loop;
    case JV_MACRO:
        return a.u.m == b.u.m;
    default:
        return a.u.fn == b.u.fn;
    }
}

/* ---- buffers ---- */

void jbuf_put(jctx *c, jbuf *b, const char *p, size_t n)
{
    if (!n) return;
    if (n > c->max_out || b->n > c->max_out - n)
        jinja_fail(c, UH_ELIMIT, "template output exceeds %zu bytes", c->max_out);
    if (b->cap - b->n < n + 1) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *np = jalloc(c, cap);
        if (b->n) memcpy(np, b->p, b->n);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
}

void jbuf_putc(jctx *c, jbuf *b, char ch)
{
    jbuf_put(c, b, &ch, 1);
}

jv jbuf_value(jbuf *b)
{
    return jv_str(b->p ? b->p : "", b->n);
}

static void jbuf_printf(jctx *c, jbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void jbuf_printf(jctx *c, jbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) jbuf_put(c, b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ---- UTF-8 ---- */

static size_t utf8_len(unsigned char ch)
{
    if (ch < 0xC0) return 1;
    if (ch < 0xE0) return 2;
    if (ch < 0xF0) return 3;
    return 4;
}

/* Length of the code point at s[0] (invalid sequences count as one byte each). */
static size_t cp_len(const char *s, size_t n)
{
    size_t l = utf8_len((unsigned char)s[0]);
    if (l > n) return 1;
    for (size_t k = 1; k < l; k++)
        if (((unsigned char)s[k] & 0xC0) != 0x80) return 1;
    return l;
}

size_t jutf8_count(const char *s, size_t n)
{
    size_t cnt = 0;
    for (size_t i = 0; i < n; i += cp_len(s + i, n - i)) cnt++;
    return cnt;
}

size_t jutf8_offset(const char *s, size_t n, size_t idx)
{
    size_t i = 0;
    while (idx-- && i < n) i += cp_len(s + i, n - i);
    return i;
}

jlist *jv_iter(jctx *c, jv v)
{
    if (v.t == JV_LIST) return v.u.l;
    if (v.t == JV_UNDEF) return jv_list_new(c, 0).u.l;
    if (v.t == JV_DICT || v.t == JV_NS) {
        jv l = jv_list_new(c, v.u.d->n);
        for (size_t i = 0; i < v.u.d->n; i++) jlist_push(c, l.u.l, v.u.d->k[i]);
        return l.u.l;
    }
    if (v.t == JV_STR) {
        jv l = jv_list_new(c, v.u.s.n);
        for (size_t i = 0; i < v.u.s.n;) {
            size_t k = cp_len(v.u.s.p + i, v.u.s.n - i);
            jlist_push(c, l.u.l, jv_str(v.u.s.p + i, k));
            i += k;
        }
        return l.u.l;
    }
    jinja_rt(c, "'%s' object is not iterable", jv_type_name(v));
}

/* ---- Python spellings ---- */

/* Python's repr(float): the shortest digits that read back as d, positional for exponents in
 * [-4, 16), scientific otherwise. */
static void write_float(jctx *c, jbuf *b, double d)
{
    if (isnan(d)) return jbuf_put(c, b, "nan", 3);
    if (isinf(d)) return d < 0 ? jbuf_put(c, b, "-inf", 4) : jbuf_put(c, b, "inf", 3);
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d) break;
    }
    /* tmp = [-]D[.DDD]e[+-]XX */
    char digits[24];
    size_t nd = 0;
    const char *p = tmp;
    int neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    if (neg) jbuf_putc(c, b, '-');
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            jbuf_put(c, b, "0.", 2);
            for (int k = 0; k < -exp - 1; k++) jbuf_putc(c, b, '0');
            jbuf_put(c, b, digits, nd);
        } else {
            for (int k = 0; k <= exp; k++) jbuf_putc(c, b, (size_t)k < nd ? digits[k] : '0');
            jbuf_putc(c, b, '.');
            if ((size_t)exp + 1 < nd)
                jbuf_put(c, b, digits + exp + 1, nd - (size_t)exp - 1);
            else
                jbuf_putc(c, b, '0');
        }
    } else {
        jbuf_putc(c, b, digits[0]);
        if (nd > 1) {
            jbuf_putc(c, b, '.');
            jbuf_put(c, b, digits + 1, nd - 1);
        }
        jbuf_printf(c, b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
}

static void write_repr_str(jctx *c, jbuf *b, const char *s, size_t n)
{
    char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    jbuf_putc(c, b, q);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\\' || ch == (unsigned char)q) {
            jbuf_putc(c, b, '\\');
            jbuf_putc(c, b, (char)ch);
        } else if (ch == '\n') {
            jbuf_put(c, b, "\\n", 2);
        } else if (ch == '\r') {
            jbuf_put(c, b, "\\r", 2);
        } else if (ch == '\t') {
            jbuf_put(c, b, "\\t", 2);
        } else if (ch < 0x20 || ch == 0x7f) {
            jbuf_printf(c, b, "\\x%02x", ch);
        } else {
            jbuf_putc(c, b, (char)ch);
        }
    }
    jbuf_putc(c, b, q);
}

static void write_seq_repr(jctx *c, jbuf *b, jv v)
{
    /* a namespace can contain itself: cap the walk */
    if (++c->depth > c->max_depth) jinja_fail(c, UH_ELIMIT, "value nested too deeply to print");
    jinja_step(c);
    if (v.t == JV_LIST) {
        jbuf_putc(c, b, v.tuple ? '(' : '[');
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) jbuf_put(c, b, ", ", 2);
            jv_write_repr(c, b, v.u.l->v[i]);
        }
        if (v.tuple && v.u.l->n == 1) jbuf_putc(c, b, ',');
        jbuf_putc(c, b, v.tuple ? ')' : ']');
        c->depth--;
        return;
    }
    if (v.t == JV_NS) jbuf_put(c, b, "<Namespace ", 11);
    jbuf_putc(c, b, '{');
    for (size_t i = 0; i < v.u.d->n; i++) {
        if (i) jbuf_put(c, b, ", ", 2);
        jv_write_repr(c, b, v.u.d->k[i]);
        jbuf_put(c, b, ": ", 2);
        jv_write_repr(c, b, v.u.d->v[i]);
    }
    jbuf_putc(c, b, '}');
    if (v.t == JV_NS) jbuf_putc(c, b, '>');
    c->depth--;
}

void jv_write_str(jctx *c, jbuf *b, jv v)
{
    switch (v.t) {
    case JV_UNDEF:
        return;
    case JV_NONE:
        return jbuf_put(c, b, "None", 4);
    case JV_BOOL:
        return v.u.i ? jbuf_put(c, b, "True", 4) : jbuf_put(c, b, "False", 5);
    case JV_INT:
        return jbuf_printf(c, b, "%lld", (long long)v.u.i);
    case JV_FLOAT:
        return write_float(c, b, v.u.f);
    case JV_STR:
        return jbuf_put(c, b, v.u.s.p, v.u.s.n);
    case JV_LIST:
    case JV_DICT:
    case JV_NS:
        return write_seq_repr(c, b, v);
    case JV_LOOP:
        return jbuf_put(c, b, "<LoopContext>", 13);
    case JV_MACRO:
        return jbuf_printf(c, b, "<Macro '%.40s'>", v.u.m->def->s);
    default:
        return jbuf_printf(c, b, "<built-in function %.40s>", v.u.fn->name);
    }
}

void jv_write_repr(jctx *c, jbuf *b, jv v)
{
    if (v.t == JV_STR) return write_repr_str(c, b, v.u.s.p, v.u.s.n);
    if (v.t == JV_UNDEF) return jbuf_put(c, b, "Undefined", 9);
    jv_write_str(c, b, v);
}

jv jv_to_str(jctx *c, jv v)
{
    if (v.t == JV_STR) return v;
    if (v.t == JV_UNDEF) return jv_str("", 0);
    jbuf b = {0};
    jv_write_str(c, &b, v);
    return jbuf_value(&b);
}

/* ---- JSON (Python json.dumps with ensure_ascii=False) ---- */

static void write_json_str(jctx *c, jbuf *b, const char *s, size_t n)
{
    jbuf_putc(c, b, '"');
    size_t run = 0; /* bytes copied verbatim in one go */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
        jbuf_put(c, b, s + run, i - run);
        run = i + 1;
        switch (ch) {
        case '"':
            jbuf_put(c, b, "\\\"", 2);
            break;
        case '\\':
            jbuf_put(c, b, "\\\\", 2);
            break;
        case '\n':
            jbuf_put(c, b, "\\n", 2);
            break;
        case '\r':
            jbuf_put(c, b, "\\r", 2);
            break;
        case '\t':
            jbuf_put(c, b, "\\t", 2);
            break;
        case '\b':
            jbuf_put(c, b, "\\b", 2);
            break;
        case '\f':
            jbuf_put(c, b, "\\f", 2);
            break;
        default:
            jbuf_printf(c, b, "\\u%04x", ch);
        }
    }
    jbuf_put(c, b, s + run, n - run);
    jbuf_putc(c, b, '"');
}

static void json_newline(jctx *c, jbuf *b, int indent, int level)
{
    jbuf_putc(c, b, '\n');
    for (int k = 0; k < indent * level; k++) jbuf_putc(c, b, ' ');
}

static void write_json_key(jctx *c, jbuf *b, jv k)
{
    if (k.t == JV_STR) return write_json_str(c, b, k.u.s.p, k.u.s.n);
    jbuf_putc(c, b, '"');
    if (k.t == JV_NONE)
        jbuf_put(c, b, "null", 4);
    else if (k.t == JV_BOOL)
        k.u.i ? jbuf_put(c, b, "true", 4) : jbuf_put(c, b, "false", 5);
    else if (k.t == JV_INT || k.t == JV_FLOAT)
        jv_write_str(c, b, k);
    else
        jinja_rt(c, "keys must be str, int, float, bool or None, not %s", jv_type_name(k));
    jbuf_putc(c, b, '"');
}

void jv_write_json(jctx *c, jbuf *b, jv v, int indent, int level)
{
    jinja_step(c);
    if (level > 256) jinja_fail(c, UH_ELIMIT, "tojson: value nested too deeply");
    switch (v.t) {
    case JV_NONE:
        return jbuf_put(c, b, "null", 4);
    case JV_BOOL:
        return v.u.i ? jbuf_put(c, b, "true", 4) : jbuf_put(c, b, "false", 5);
    case JV_INT:
        return jv_write_str(c, b, v);
    case JV_FLOAT:
        if (isnan(v.u.f)) return jbuf_put(c, b, "NaN", 3);
        if (isinf(v.u.f))
            return v.u.f < 0 ? jbuf_put(c, b, "-Infinity", 9) : jbuf_put(c, b, "Infinity", 8);
        return write_float(c, b, v.u.f);
    case JV_STR:
        return write_json_str(c, b, v.u.s.p, v.u.s.n);
    case JV_LIST: {
        const jlist *l = v.u.l;
        if (!l->n) return jbuf_put(c, b, "[]", 2);
        jbuf_putc(c, b, '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i) jbuf_put(c, b, indent >= 0 ? "," : ", ", indent >= 0 ? 1 : 2);
            if (indent >= 0) json_newline(c, b, indent, level + 1);
            jv_write_json(c, b, l->v[i], indent, level + 1);
        }
        if (indent >= 0) json_newline(c, b, indent, level);
        return jbuf_putc(c, b, ']');
    }
    case JV_DICT: {
        const jdict *d = v.u.d;
        if (!d->n) return jbuf_put(c, b, "{}", 2);
        jbuf_putc(c, b, '{');
        for (size_t i = 0; i < d->n; i++) {
            if (i) jbuf_put(c, b, indent >= 0 ? "," : ", ", indent >= 0 ? 1 : 2);
            if (indent >= 0) json_newline(c, b, indent, level + 1);
            write_json_key(c, b, d->k[i]);
            jbuf_put(c, b, ": ", 2);
            jv_write_json(c, b, d->v[i], indent, level + 1);
        }
        if (indent >= 0) json_newline(c, b, indent, level);
        return jbuf_putc(c, b, '}');
    }
    default:
        jinja_rt(c, "Object of type %s is not JSON serializable", jv_type_name(v));
    }
}
