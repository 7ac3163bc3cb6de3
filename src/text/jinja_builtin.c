/* jinja_builtin.c - the callables a template can reach: global functions (range, namespace,
 * dict, raise_exception), methods of strings (strip, split, startswith, ...), of dicts (items,
 * keys, values, get) and of the loop object (cycle), plus Python's "fmt % args".
 *
 * The environment is Jinja's ImmutableSandboxedEnvironment: methods that mutate a list or dict
 * (append, update, pop ...) are not offered, as there. Case mapping covers ASCII, Latin-1,
 * Greek and Cyrillic; letters of other scripts keep their case (unlike Python's str.upper()). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "text/jinja.h"

enum {
    JF_RANGE = 1,
    JF_NAMESPACE,
    JF_DICT,
    JF_RAISE,
    JF_S_STARTSWITH,
    JF_S_ENDSWITH,
    JF_S_STRIP,
    JF_S_LSTRIP,
    JF_S_RSTRIP,
    JF_S_SPLIT,
    JF_S_UPPER,
    JF_S_LOWER,
    JF_S_TITLE,
    JF_S_CAPITALIZE,
    JF_S_REPLACE,
    JF_S_FIND,
    JF_S_COUNT,
    JF_S_JOIN,
    JF_S_ISDIGIT,
    JF_S_ISSPACE,
    JF_D_ITEMS,
    JF_D_KEYS,
    JF_D_VALUES,
    JF_D_GET,
    JF_L_CYCLE,
};

#define MAX_RANGE (1 << 20)

jv jargs_get(const jargs *a, size_t pos, const char *name)
{
    if (pos < a->n_pos) return a->pos[pos];
    for (size_t k = 0; name && k < a->n_kw; k++)
        if (!strcmp(a->kw[k], name)) return a->kwv[k];
    return jv_undef(NULL);
}

static jv make_func(jctx *c, int id, jv self, const char *name)
{
    jv v = {.t = JV_FUNC};
    v.u.fn = jalloc(c, sizeof *v.u.fn);
    v.u.fn->id = id;
    v.u.fn->self = self;
    v.u.fn->name = name;
    return v;
}

typedef struct {
    const char *name;
    int id;
} named;

static int find_named(const named *t, const char *name, size_t len)
{
    for (; t->name; t++)
        if (strlen(t->name) == len && memcmp(t->name, name, len) == 0) return t->id;
    return 0;
}

jv jinja_global(jctx *c, const char *name, size_t len)
{
    static const named g[] = {{"range", JF_RANGE},
                              {"namespace", JF_NAMESPACE},
                              {"dict", JF_DICT},
                              {"raise_exception", JF_RAISE},
                              {NULL, 0}};
    int id = find_named(g, name, len);
    return id ? make_func(c, id, jv_none(), g[id - JF_RANGE].name) : jv_undef(NULL);
}

jv jinja_method(jctx *c, jv self, const char *name, size_t len)
{
    static const named str_m[] = {{"startswith", JF_S_STARTSWITH},
                                  {"endswith", JF_S_ENDSWITH},
                                  {"strip", JF_S_STRIP},
                                  {"lstrip", JF_S_LSTRIP},
                                  {"rstrip", JF_S_RSTRIP},
                                  {"split", JF_S_SPLIT},
                                  {"upper", JF_S_UPPER},
                                  {"lower", JF_S_LOWER},
                                  {"title", JF_S_TITLE},
                                  {"capitalize", JF_S_CAPITALIZE},
                                  {"replace", JF_S_REPLACE},
                                  {"find", JF_S_FIND},
                                  {"count", JF_S_COUNT},
                                  {"join", JF_S_JOIN},
                                  {"isdigit", JF_S_ISDIGIT},
                                  {"isspace", JF_S_ISSPACE},
                                  {NULL, 0}};
    static const named dict_m[] = {{"items", JF_D_ITEMS},
                                   {"keys", JF_D_KEYS},
                                   {"values", JF_D_VALUES},
                                   {"get", JF_D_GET},
                                   {NULL, 0}};
    static const named loop_m[] = {{"cycle", JF_L_CYCLE}, {NULL, 0}};
    const named *t = self.t == JV_STR    ? str_m
                     : self.t == JV_DICT ? dict_m
                     : self.t == JV_LOOP ? loop_m
                                         : NULL;
    int id = t ? find_named(t, name, len) : 0;
    if (!id) return jv_undef(NULL);
    char *nm = jalloc(c, len + 1);
    memcpy(nm, name, len);
    return make_func(c, id, self, nm);
}

/* ---- string helpers ---- */

static int is_space(unsigned char ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch >= 0x1c && ch <= 0x1f);
}

/* Case mapping for ASCII, Latin-1, Greek and Cyrillic letters: the scripts whose letters pair
 * up by a fixed offset; other code points keep their case. */
static uint32_t cp_upper(uint32_t cp)
{
    if ((cp >= 'a' && cp <= 'z') || (cp >= 0xE0 && cp <= 0xFE && cp != 0xF7) ||
        (cp >= 0x3B1 && cp <= 0x3C9 && cp != 0x3C2) || (cp >= 0x430 && cp <= 0x44F))
        return cp - 0x20;
    if (cp >= 0x450 && cp <= 0x45F) return cp - 0x50;
    return cp;
}

static uint32_t cp_lower(uint32_t cp)
{
    if ((cp >= 'A' && cp <= 'Z') || (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) ||
        (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) || (cp >= 0x410 && cp <= 0x42F))
        return cp + 0x20;
    if (cp >= 0x400 && cp <= 0x40F) return cp + 0x50;
    return cp;
}

/* Decodes one 1- or 2-byte UTF-8 code point at p (the only lengths the mapping touches);
 * *len = bytes consumed; longer or invalid sequences come back as 0xFFFFFFFF. */
static uint32_t decode12(const char *p, size_t n, size_t *len)
{
    unsigned char b0 = (unsigned char)p[0];
    *len = 1;
    if (b0 < 0x80) return b0;
    if ((b0 & 0xE0) == 0xC0 && n >= 2 && ((unsigned char)p[1] & 0xC0) == 0x80) {
        *len = 2;
        return (uint32_t)(b0 & 0x1F) << 6 | ((unsigned char)p[1] & 0x3F);
    }
    while (*len < n && *len < 4 && ((unsigned char)p[*len] & 0xC0) == 0x80) (*len)++;
    return 0xFFFFFFFF;
}

jv jstr_case(jctx *c, jv s, int mode)
{
    char *d = jalloc(c, s.u.s.n + 1);
    int word_start = 1;
    size_t len;
    for (size_t i = 0; i < s.u.s.n; i += len) {
        uint32_t cp = decode12(s.u.s.p + i, s.u.s.n - i, &len);
        uint32_t up = cp, lo = cp;
        if (cp != 0xFFFFFFFF) {
            up = cp_upper(cp);
            lo = cp_lower(cp);
        }
        uint32_t r;
        switch (mode) {
        case JCASE_LOWER:
            r = lo;
            break;
        case JCASE_UPPER:
            r = up;
            break;
        case JCASE_CAPITALIZE:
            r = i == 0 ? up : lo;
            break;
        default: /* title: upper at the start of a word, lower inside it */
            r = word_start ? up : lo;
            word_start = up == lo && !(cp >= '0' && cp <= '9') && cp != '\'';
        }
        if (cp == 0xFFFFFFFF || r == cp) {
            memcpy(d + i, s.u.s.p + i, len);
        } else if (r < 0x80) {
            d[i] = (char)r;
        } else { /* mapped pairs have the same UTF-8 length */
            d[i] = (char)(0xC0 | (r >> 6));
            d[i + 1] = (char)(0x80 | (r & 0x3F));
        }
    }
    return jv_str(d, s.u.s.n);
}

static int in_chars(jv chars, const char *p, size_t k)
{
    if (chars.t != JV_STR) return k == 1 && is_space((unsigned char)p[0]);
    for (size_t i = 0; i + k <= chars.u.s.n; i++)
        if (memcmp(chars.u.s.p + i, p, k) == 0) return 1;
    return 0;
}

/* UTF-8 length of the code point starting at p / ending before p + n. */
static size_t fwd_len(const char *p, size_t n)
{
    size_t k = 1;
    while (k < n && k < 4 && ((unsigned char)p[k] & 0xC0) == 0x80) k++;
    return k;
}

static size_t back_len(const char *p, size_t n)
{
    size_t k = 1;
    while (k < n && k < 4 && ((unsigned char)p[n - k] & 0xC0) == 0x80) k++;
    return k;
}

jv jstr_strip(jctx *c, jv s, jv chars, int left, int right)
{
    (void)c;
    const char *p = s.u.s.p;
    size_t a = 0, b = s.u.s.n;
    if (chars.t != JV_STR && chars.t != JV_NONE && chars.t != JV_UNDEF)
        jinja_rt(c, "strip arg must be None or str");
    while (left && a < b) {
        size_t k = fwd_len(p + a, b - a);
        if (!in_chars(chars, p + a, k)) break;
        a += k;
    }
    while (right && b > a) {
        size_t k = back_len(p + a, b - a);
        if (!in_chars(chars, p + b - k, k)) break;
        b -= k;
    }
    return jv_str(p + a, b - a);
}

static const char *find_sub(const char *h, size_t hn, const char *nd, size_t nn)
{
    if (!nn) return h;
    for (size_t i = 0; i + nn <= hn; i++)
        if (memcmp(h + i, nd, nn) == 0) return h + i;
    return NULL;
}

jv jstr_replace(jctx *c, jv s, jv old, jv repl, int64_t count)
{
    if (old.t != JV_STR || repl.t != JV_STR) jinja_rt(c, "replace() arguments must be str");
    jbuf b = {0};
    const char *p = s.u.s.p, *end = p + s.u.s.n;
    if (!old.u.s.n) { /* Python inserts repl between every character */
        jlist *chars = jv_iter(c, s);
        for (size_t i = 0; i <= chars->n; i++) {
            if (count < 0 || (int64_t)i < count) jbuf_put(c, &b, repl.u.s.p, repl.u.s.n);
            if (i < chars->n) jbuf_put(c, &b, chars->v[i].u.s.p, chars->v[i].u.s.n);
        }
        return jbuf_value(&b);
    }
    while (p < end && count != 0) {
        const char *hit = find_sub(p, (size_t)(end - p), old.u.s.p, old.u.s.n);
        if (!hit) break;
        jbuf_put(c, &b, p, (size_t)(hit - p));
        jbuf_put(c, &b, repl.u.s.p, repl.u.s.n);
        p = hit + old.u.s.n;
        if (count > 0) count--;
    }
    jbuf_put(c, &b, p, (size_t)(end - p));
    return jbuf_value(&b);
}

static jv str_split(jctx *c, jv s, jv sep, int64_t maxsplit)
{
    jv out = jv_list_new(c, 0);
    const char *p = s.u.s.p, *end = p + s.u.s.n;
    if (sep.t != JV_STR) { /* runs of whitespace, no empty strings */
        for (;;) {
            while (p < end && is_space((unsigned char)*p)) p++;
            if (p >= end) break;
            const char *w = p;
            if (maxsplit == 0) {
                const char *e = end;
                while (e > w && is_space((unsigned char)e[-1])) e--;
                jlist_push(c, out.u.l, jv_str(w, (size_t)(e - w)));
                break;
            }
            while (p < end && !is_space((unsigned char)*p)) p++;
            jlist_push(c, out.u.l, jv_str(w, (size_t)(p - w)));
            if (maxsplit > 0) maxsplit--;
        }
        return out;
    }
    if (!sep.u.s.n) jinja_rt(c, "empty separator");
    for (;;) {
        jinja_step(c);
        const char *hit =
            maxsplit == 0 ? NULL : find_sub(p, (size_t)(end - p), sep.u.s.p, sep.u.s.n);
        if (!hit) {
            jlist_push(c, out.u.l, jv_str(p, (size_t)(end - p)));
            return out;
        }
        jlist_push(c, out.u.l, jv_str(p, (size_t)(hit - p)));
        p = hit + sep.u.s.n;
        if (maxsplit > 0) maxsplit--;
    }
}

static int affix_match(jctx *c, jv s, jv affix, int at_end)
{
    if (affix.t == JV_LIST && affix.tuple) {
        for (size_t i = 0; i < affix.u.l->n; i++)
            if (affix_match(c, s, affix.u.l->v[i], at_end)) return 1;
        return 0;
    }
    if (affix.t != JV_STR)
        jinja_rt(c, "startswith/endswith argument must be str or a tuple of str");
    if (affix.u.s.n > s.u.s.n) return 0;
    const char *p = at_end ? s.u.s.p + s.u.s.n - affix.u.s.n : s.u.s.p;
    return memcmp(p, affix.u.s.p, affix.u.s.n) == 0;
}

static int64_t opt_int(jctx *c, jv v, int64_t deflt)
{
    if (v.t == JV_UNDEF || v.t == JV_NONE) return deflt;
    if (v.t != JV_INT && v.t != JV_BOOL) jinja_rt(c, "expected an integer argument");
    return v.u.i;
}

/* ---- calls ---- */

static jv call_range(jctx *c, const jargs *a)
{
    int64_t start = 0, stop, step = 1;
    if (a->n_pos == 0 || a->n_pos > 3) jinja_rt(c, "range expected 1 to 3 arguments");
    for (size_t k = 0; k < a->n_pos; k++)
        if (a->pos[k].t != JV_INT && a->pos[k].t != JV_BOOL)
            jinja_rt(c, "range() arguments must be integers");
    if (a->n_pos == 1) {
        stop = a->pos[0].u.i;
    } else {
        start = a->pos[0].u.i;
        stop = a->pos[1].u.i;
        if (a->n_pos == 3) step = a->pos[2].u.i;
    }
    if (step == 0) jinja_rt(c, "range() arg 3 must not be zero");
    double count = step > 0 ? ((double)stop - (double)start) / (double)step
                            : ((double)start - (double)stop) / -(double)step;
    if (count > MAX_RANGE)
        jinja_fail(c, UH_ELIMIT, "range() of more than %d items (template line %d)", MAX_RANGE,
                   c->line);
    jv out = jv_list_new(c, count > 0 ? (size_t)count + 1 : 0);
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        jinja_step(c); /* a big range costs what iterating it would */
        jlist_push(c, out.u.l, jv_int(i));
        if ((step > 0 && i > INT64_MAX - step) || (step < 0 && i < INT64_MIN - step)) break;
    }
    return out;
}

jv jinja_call_func(jctx *c, const jfunc *f, const jargs *a)
{
    jv self = f->self;
    jv a0 = jargs_get(a, 0, NULL), a1 = jargs_get(a, 1, NULL);
    switch (f->id) {
    case JF_RANGE:
        return call_range(c, a);
    case JF_NAMESPACE:
    case JF_DICT: {
        jv d = jv_dict_new(c);
        if (a0.t == JV_DICT || a0.t == JV_NS)
            for (size_t i = 0; i < a0.u.d->n; i++) jdict_set(c, d.u.d, a0.u.d->k[i], a0.u.d->v[i]);
        for (size_t k = 0; k < a->n_kw; k++) jdict_set(c, d.u.d, jv_cstr(a->kw[k]), a->kwv[k]);
        if (f->id == JF_NAMESPACE) d.t = JV_NS;
        return d;
    }
    case JF_RAISE: {
        /* the template's own message, passed through; NUL bytes would cut it short */
        jv m = jv_to_str(c, a0);
        char msg[384];
        size_t n = m.u.s.n < sizeof msg - 1 ? m.u.s.n : sizeof msg - 1;
        for (size_t i = 0; i < n; i++) msg[i] = m.u.s.p[i] ? m.u.s.p[i] : ' ';
        msg[n] = 0;
        jinja_fail(c, UH_EINVAL, "%s", n ? msg : "raise_exception() called with an empty message");
    }
    case JF_S_STARTSWITH:
        return jv_bool(affix_match(c, self, a0, 0));
    case JF_S_ENDSWITH:
        return jv_bool(affix_match(c, self, a0, 1));
    case JF_S_STRIP:
        return jstr_strip(c, self, a0, 1, 1);
    case JF_S_LSTRIP:
        return jstr_strip(c, self, a0, 1, 0);
    case JF_S_RSTRIP:
        return jstr_strip(c, self, a0, 0, 1);
    case JF_S_SPLIT:
        return str_split(c, self, jargs_get(a, 0, "sep"),
                         opt_int(c, jargs_get(a, 1, "maxsplit"), -1));
    case JF_S_UPPER:
        return jstr_case(c, self, JCASE_UPPER);
    case JF_S_LOWER:
        return jstr_case(c, self, JCASE_LOWER);
    case JF_S_TITLE:
        return jstr_case(c, self, JCASE_TITLE);
    case JF_S_CAPITALIZE:
        return jstr_case(c, self, JCASE_CAPITALIZE);
    case JF_S_REPLACE:
        return jstr_replace(c, self, a0, a1, opt_int(c, jargs_get(a, 2, "count"), -1));
    case JF_S_FIND:
    case JF_S_COUNT: {
        if (a0.t != JV_STR) jinja_rt(c, "%s() argument must be str", f->name);
        const char *p = self.u.s.p, *end = p + self.u.s.n;
        int64_t n = 0;
        for (;;) {
            const char *hit = find_sub(p, (size_t)(end - p), a0.u.s.p, a0.u.s.n);
            if (!hit) break;
            if (f->id == JF_S_FIND)
                return jv_int((int64_t)jutf8_count(self.u.s.p, (size_t)(hit - self.u.s.p)));
            n++;
            p = hit + (a0.u.s.n ? a0.u.s.n : 1);
            if (p > end) break;
        }
        return jv_int(f->id == JF_S_FIND ? -1 : n);
    }
    case JF_S_JOIN: {
        jlist *l = jv_iter(c, a0);
        jbuf b = {0};
        for (size_t i = 0; i < l->n; i++) {
            if (l->v[i].t != JV_STR) jinja_rt(c, "sequence item %zu: expected str instance", i);
            if (i) jbuf_put(c, &b, self.u.s.p, self.u.s.n);
            jbuf_put(c, &b, l->v[i].u.s.p, l->v[i].u.s.n);
        }
        return jbuf_value(&b);
    }
    case JF_S_ISDIGIT:
    case JF_S_ISSPACE: {
        if (!self.u.s.n) return jv_bool(0);
        for (size_t i = 0; i < self.u.s.n; i++) {
            unsigned char ch = (unsigned char)self.u.s.p[i];
            if (f->id == JF_S_ISDIGIT ? !(ch >= '0' && ch <= '9') : !is_space(ch))
                return jv_bool(0);
        }
        return jv_bool(1);
    }
    case JF_D_ITEMS:
    case JF_D_KEYS:
    case JF_D_VALUES: {
        const jdict *d = self.u.d;
        jv out = jv_list_new(c, d->n);
        for (size_t i = 0; i < d->n; i++) {
            jv item;
            if (f->id == JF_D_ITEMS) {
                item = jv_list_new(c, 2);
                item.tuple = 1;
                jlist_push(c, item.u.l, d->k[i]);
                jlist_push(c, item.u.l, d->v[i]);
            } else {
                item = f->id == JF_D_KEYS ? d->k[i] : d->v[i];
            }
            jlist_push(c, out.u.l, item);
        }
        return out;
    }
    case JF_D_GET: {
        jv *v = jdict_get(self.u.d, a0);
        return v ? *v : a1.t == JV_UNDEF ? jv_none() : a1;
    }
    case JF_L_CYCLE:
        if (!a->n_pos) jinja_rt(c, "no items for cycling given");
        return a->pos[self.u.loop->i % a->n_pos];
    default:
        jinja_rt(c, "unknown function");
    }
}

/* ---- "fmt % args" ---- */

jv jinja_percent(jctx *c, jv fmt, jv args)
{
    jlist *vals;
    if (args.t == JV_LIST && args.tuple) {
        vals = args.u.l;
    } else {
        vals = jv_list_new(c, 1).u.l;
        jlist_push(c, vals, args);
    }
    jbuf b = {0};
    size_t next = 0;
    const char *p = fmt.u.s.p, *end = p + fmt.u.s.n;
    while (p < end) {
        if (*p != '%') {
            jbuf_putc(c, &b, *p++);
            continue;
        }
        if (++p >= end) jinja_rt(c, "incomplete format");
        char conv = *p++;
        if (conv == '%') {
            jbuf_putc(c, &b, '%');
            continue;
        }
        if (next >= vals->n) jinja_rt(c, "not enough arguments for format string");
        jv v = vals->v[next++];
        if (conv == 's') {
            jv_write_str(c, &b, v);
        } else if (conv == 'r') {
            jv_write_repr(c, &b, v);
        } else if (conv == 'd' || conv == 'i') {
            if (!jv_is_num(v)) jinja_rt(c, "%%d format: a number is required");
            char tmp[32];
            snprintf(tmp, sizeof tmp, "%lld",
                     v.t == JV_FLOAT ? (long long)v.u.f : (long long)v.u.i);
            jbuf_put(c, &b, tmp, strlen(tmp));
        } else {
            jinja_rt(c, "unsupported format character '%c'", conv);
        }
    }
    if (next < vals->n) jinja_rt(c, "not all arguments converted during string formatting");
    return jbuf_value(&b);
}
