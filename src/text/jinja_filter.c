/* jinja_filter.c - Jinja's built-in filters (x|name(args)) and tests (x is name), with the
 * semantics of Jinja 3.1: unique/sort compare strings case-insensitively by default, indent
 * leaves blank lines alone, default replaces only undefined unless boolean=true, and tojson is
 * json.dumps(ensure_ascii=False) as Hugging Face's chat templates define it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "text/jinja.h"

#define IS(s) (!strcmp(name, s))

static jv str_of(jctx *c, jv v)
{
    return jv_to_str(c, v);
}

static int64_t int_arg(jctx *c, jv v, int64_t deflt)
{
    if (v.t == JV_UNDEF || v.t == JV_NONE) return deflt;
    if (v.t == JV_FLOAT) return (int64_t)v.u.f;
    if (v.t != JV_INT && v.t != JV_BOOL) jinja_rt(c, "expected an integer argument");
    return v.u.i;
}

/* Follows a dotted attribute path ("a.b", "0") the way Jinja's attribute= arguments do. */
static jv attr_path(jctx *c, jv v, jv path)
{
    if (path.t == JV_INT) return jinja_getitem(c, v, path);
    if (path.t != JV_STR) jinja_rt(c, "attribute must be a string");
    const char *p = path.u.s.p, *end = p + path.u.s.n;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        if (!dot) dot = end;
        size_t len = (size_t)(dot - p);
        int digits = len > 0;
        for (size_t k = 0; k < len; k++) digits &= p[k] >= '0' && p[k] <= '9';
        if (v.t == JV_UNDEF) return v;
        if (digits && len < 18) {
            v = jinja_getitem(c, v, jv_int(strtoll(p, NULL, 10)));
        } else {
            jv key = jv_str(p, len);
            if (v.t == JV_DICT) {
                jv *hit = jdict_get(v.u.d, key);
                v = hit ? *hit : jv_undef_attr(c, v, p, len);
            } else {
                v = jinja_getattr(c, v, p, len);
            }
        }
        p = dot + 1;
    }
    return v;
}

/* Arguments from index `from` on, as a new argument list (for select/map passing on to a test or
 * filter). */
static jargs shift_args(const jargs *a, size_t from)
{
    jargs r = *a;
    r.pos = a->n_pos > from ? a->pos + from : NULL;
    r.n_pos = a->n_pos > from ? a->n_pos - from : 0;
    return r;
}

static jv select_like(jctx *c, jv v, const jargs *a, int by_attr, int keep)
{
    /* Jinja skips a falsy sequence (none included) instead of iterating it */
    jlist *items = jv_truthy(v) ? jv_iter(c, v) : jv_list_new(c, 0).u.l;
    jv out = jv_list_new(c, 0);
    size_t first = by_attr ? 1 : 0;
    jv attr = by_attr ? jargs_get(a, 0, "attribute") : jv_undef(NULL);
    jv test = jargs_get(a, first, NULL);
    jargs rest = shift_args(a, first + 1);
    rest.n_kw = 0;
    for (size_t i = 0; i < items->n; i++) {
        jinja_step(c);
        jv x = by_attr ? attr_path(c, items->v[i], attr) : items->v[i];
        int ok;
        if (test.t == JV_UNDEF) {
            ok = jv_truthy(x);
        } else {
            jv tn = str_of(c, test);
            char *name = jalloc(c, tn.u.s.n + 1);
            memcpy(name, tn.u.s.p, tn.u.s.n);
            ok = jinja_test(c, name, x, &rest);
        }
        if (ok == keep) jlist_push(c, out.u.l, items->v[i]);
    }
    return out;
}

static jv map_filter(jctx *c, jv v, const jargs *a)
{
    jlist *items = jv_truthy(v) ? jv_iter(c, v) : jv_list_new(c, 0).u.l;
    jv out = jv_list_new(c, items->n);
    jv attr = jargs_get(a, a->n_pos, "attribute");
    jv deflt = jargs_get(a, a->n_pos, "default");
    for (size_t i = 0; i < items->n; i++) {
        jinja_step(c);
        jv x;
        if (attr.t != JV_UNDEF) {
            x = attr_path(c, items->v[i], attr);
            if (x.t == JV_UNDEF && deflt.t != JV_UNDEF) x = deflt;
        } else {
            jv fname = jargs_get(a, 0, NULL);
            if (fname.t != JV_STR) jinja_rt(c, "map() needs a filter name or attribute=");
            char *name = jalloc(c, fname.u.s.n + 1);
            memcpy(name, fname.u.s.p, fname.u.s.n);
            jargs rest = shift_args(a, 1);
            x = jinja_filter(c, name, items->v[i], &rest);
        }
        jlist_push(c, out.u.l, x);
    }
    return out;
}

/* Sort key comparison for sort/unique/dictsort: strings case-folded unless case_sensitive. */
static jv fold(jctx *c, jv v, int case_sensitive)
{
    return v.t == JV_STR && !case_sensitive ? jstr_case(c, v, JCASE_LOWER) : v;
}

typedef struct {
    jv key, val;
} keyed;

static void sort_keyed(jctx *c, keyed *k, size_t n, int reverse)
{
    /* insertion sort: stable, and the inputs are small (messages, tool lists) */
    for (size_t i = 1; i < n; i++) {
        keyed x = k[i];
        size_t j = i;
        while (j > 0) {
            jinja_step(c);
            int r = jinja_compare(c, k[j - 1].key, x.key);
            if (reverse ? r >= 0 : r <= 0) break;
            k[j] = k[j - 1];
            j--;
        }
        k[j] = x;
    }
}

static jv indent_filter(jctx *c, jv s, const jargs *a)
{
    jv width = jargs_get(a, 0, "width");
    int first = jv_truthy(jargs_get(a, 1, "first"));
    int blank = jv_truthy(jargs_get(a, 2, "blank"));
    jv ind = width.t == JV_STR ? width : jv_undef(NULL);
    jbuf pad = {0};
    if (ind.t == JV_STR) {
        jbuf_put(c, &pad, ind.u.s.p, ind.u.s.n);
    } else {
        int64_t w = int_arg(c, width, 4);
        if (w > 4096) w = 4096;
        for (int64_t k = 0; k < w; k++) jbuf_putc(c, &pad, ' ');
    }
    /* Jinja appends "\n" and then uses splitlines(), which amounts to splitting s itself at
     * each "\n"; blank lines stay unindented unless blank=true */
    jbuf out = {0};
    if (first) jbuf_put(c, &out, pad.p, pad.n);
    const char *p = s.u.s.p, *end = p + s.u.s.n;
    for (int i = 0;; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        if (i) {
            jbuf_putc(c, &out, '\n');
            if (len || blank) jbuf_put(c, &out, pad.p, pad.n);
        }
        jbuf_put(c, &out, p, len);
        if (!nl) break;
        p = nl + 1;
    }
    return jbuf_value(&out);
}

static jv round_filter(jctx *c, jv v, const jargs *a)
{
    if (!jv_is_num(v)) jinja_rt(c, "round expects a number");
    int64_t prec = int_arg(c, jargs_get(a, 0, "precision"), 0);
    jv method = jargs_get(a, 1, "method");
    double x = jv_num(v), m = pow(10.0, (double)(prec > 300 ? 300 : prec < -300 ? -300 : prec));
    const char *meth = method.t == JV_STR ? method.u.s.p : "common";
    double r;
    if (!strncmp(meth, "ceil", 4))
        r = ceil(x * m) / m;
    else if (!strncmp(meth, "floor", 5))
        r = floor(x * m) / m;
    else
        r = nearbyint(x * m) / m; /* Python's round(): ties to even */
    return jv_float(r);
}

jv jinja_filter(jctx *c, const char *name, jv v, const jargs *a)
{
    jv a0 = jargs_get(a, 0, NULL);
    if (IS("default") || IS("d")) {
        jv deflt = jargs_get(a, 0, "default_value");
        int boolean = jv_truthy(jargs_get(a, 1, "boolean"));
        if (v.t == JV_UNDEF || (boolean && !jv_truthy(v)))
            return deflt.t == JV_UNDEF && !deflt.u.s.p ? jv_str("", 0) : deflt;
        return v;
    }
    if (IS("safe") || IS("e") || IS("escape") || IS("forceescape")) {
        /* autoescape is off: escaping filters would be no-ops for safe and HTML-escape for
         * escape; chat templates only use safe */
        if (!IS("safe")) jinja_rt(c, "filter '%s' is not supported", name);
        return v;
    }
    if (IS("tojson")) {
        jv ind = jargs_get(a, 0, "indent");
        int indent = ind.t == JV_UNDEF || ind.t == JV_NONE ? -1 : (int)int_arg(c, ind, 0);
        if (indent > 64) indent = 64;
        if (indent < -1) indent = 0;
        jbuf b = {0};
        jv_write_json(c, &b, v, indent, 0);
        return jbuf_value(&b);
    }
    if (IS("string")) return str_of(c, v);
    if (IS("trim")) return jstr_strip(c, str_of(c, v), jargs_get(a, 0, "chars"), 1, 1);
    if (IS("upper")) return jstr_case(c, str_of(c, v), JCASE_UPPER);
    if (IS("lower")) return jstr_case(c, str_of(c, v), JCASE_LOWER);
    if (IS("capitalize")) return jstr_case(c, str_of(c, v), JCASE_CAPITALIZE);
    if (IS("title")) return jstr_case(c, str_of(c, v), JCASE_TITLE);
    if (IS("replace"))
        return jstr_replace(c, str_of(c, v), str_of(c, a0), str_of(c, jargs_get(a, 1, "new")),
                            int_arg(c, jargs_get(a, 2, "count"), -1));
    if (IS("indent")) return indent_filter(c, str_of(c, v), a);
    if (IS("length") || IS("count")) {
        if (v.t == JV_STR) return jv_int((int64_t)jutf8_count(v.u.s.p, v.u.s.n));
        if (v.t == JV_LIST) return jv_int((int64_t)v.u.l->n);
        if (v.t == JV_DICT || v.t == JV_NS) return jv_int((int64_t)v.u.d->n);
        if (v.t == JV_UNDEF) return jv_int(0);
        jinja_rt(c, "object of type '%s' has no len()", jv_type_name(v));
    }
    if (IS("list")) {
        jlist *l = jv_iter(c, v);
        jv out = jv_list_new(c, l->n);
        for (size_t i = 0; i < l->n; i++) jlist_push(c, out.u.l, l->v[i]);
        return out;
    }
    if (IS("items")) {
        if (v.t == JV_UNDEF) return jv_list_new(c, 0);
        if (v.t != JV_DICT && v.t != JV_NS) jinja_rt(c, "can only get item pairs from a mapping");
        jv out = jv_list_new(c, v.u.d->n);
        for (size_t i = 0; i < v.u.d->n; i++) {
            jv pair = jv_list_new(c, 2);
            pair.tuple = 1;
            jlist_push(c, pair.u.l, v.u.d->k[i]);
            jlist_push(c, pair.u.l, v.u.d->v[i]);
            jlist_push(c, out.u.l, pair);
        }
        return out;
    }
    if (IS("join")) {
        jlist *l = jv_iter(c, v);
        jv sep = jargs_get(a, 0, "d");
        jv attr = jargs_get(a, 1, "attribute");
        jbuf b = {0};
        for (size_t i = 0; i < l->n; i++) {
            jinja_step(c);
            if (i && sep.t != JV_UNDEF) jv_write_str(c, &b, sep);
            jv_write_str(c, &b, attr.t != JV_UNDEF ? attr_path(c, l->v[i], attr) : l->v[i]);
        }
        return jbuf_value(&b);
    }
    if (IS("first") || IS("last")) {
        jlist *l = jv_iter(c, v);
        if (!l->n) return jv_undef("No first item, sequence was empty.");
        return IS("first") ? l->v[0] : l->v[l->n - 1];
    }
    if (IS("reverse")) {
        jlist *l = jv_iter(c, v);
        jv out = jv_list_new(c, l->n);
        for (size_t i = l->n; i-- > 0;) jlist_push(c, out.u.l, l->v[i]);
        if (v.t != JV_STR) return out;
        jbuf b = {0};
        for (size_t i = 0; i < out.u.l->n; i++) jv_write_str(c, &b, out.u.l->v[i]);
        return jbuf_value(&b);
    }
    if (IS("selectattr")) return select_like(c, v, a, 1, 1);
    if (IS("rejectattr")) return select_like(c, v, a, 1, 0);
    if (IS("select")) return select_like(c, v, a, 0, 1);
    if (IS("reject")) return select_like(c, v, a, 0, 0);
    if (IS("map")) return map_filter(c, v, a);
    if (IS("attr")) return jinja_getattr(c, v, str_of(c, a0).u.s.p, str_of(c, a0).u.s.n);
    if (IS("unique") || IS("sort") || IS("dictsort") || IS("min") || IS("max")) {
        int dictsort = IS("dictsort");
        jlist *l;
        if (dictsort) {
            jargs none = {0};
            l = jinja_filter(c, "items", v, &none).u.l;
        } else {
            l = jv_iter(c, v);
        }
        int is_sort = IS("sort");
        int cs = jv_truthy(jargs_get(a, is_sort ? 1 : 0, "case_sensitive"));
        jv attr = dictsort ? jv_undef(NULL) : jargs_get(a, is_sort ? 2 : 1, "attribute");
        jv by = dictsort ? jargs_get(a, 1, "by") : jv_undef(NULL);
        keyed *k = jalloc(c, (l->n + 1) * sizeof *k);
        for (size_t i = 0; i < l->n; i++) {
            jv key = l->v[i];
            if (dictsort)
                key = l->v[i].u.l->v[by.t == JV_STR && !strncmp(by.u.s.p, "value", 5) ? 1 : 0];
            else if (attr.t != JV_UNDEF)
                key = attr_path(c, key, attr);
            k[i].key = fold(c, key, cs);
            k[i].val = l->v[i];
        }
        if (IS("unique")) {
            jv out = jv_list_new(c, 0);
            for (size_t i = 0; i < l->n; i++) {
                int seen = 0;
                for (size_t j = 0; j < i && !seen; j++) {
                    jinja_step(c);
                    seen = jv_eq(k[j].key, k[i].key);
                }
                if (!seen) jlist_push(c, out.u.l, k[i].val);
            }
            return out;
        }
        if (IS("min") || IS("max")) {
            if (!l->n) return jv_undef("No aggregated item, sequence was empty.");
            size_t best = 0;
            for (size_t i = 1; i < l->n; i++) {
                int r = jinja_compare(c, k[i].key, k[best].key);
                if (IS("min") ? r < 0 : r > 0) best = i;
            }
            return k[best].val;
        }
        sort_keyed(c, k, l->n, jv_truthy(jargs_get(a, dictsort ? 2 : 0, "reverse")));
        jv out = jv_list_new(c, l->n);
        for (size_t i = 0; i < l->n; i++) jlist_push(c, out.u.l, k[i].val);
        return out;
    }
    if (IS("sum")) {
        jlist *l = jv_iter(c, v);
        jv attr = jargs_get(a, 0, "attribute");
        jv total = jargs_get(a, 1, "start");
        if (total.t == JV_UNDEF) total = jv_int(0);
        for (size_t i = 0; i < l->n; i++) {
            jv x = attr.t != JV_UNDEF ? attr_path(c, l->v[i], attr) : l->v[i];
            if (!jv_is_num(x) || !jv_is_num(total)) jinja_rt(c, "sum() of non-numbers");
            if (x.t == JV_FLOAT || total.t == JV_FLOAT)
                total = jv_float(jv_num(total) + jv_num(x));
            else if (__builtin_add_overflow(total.u.i, x.u.i, &total.u.i))
                jinja_rt(c, "integer overflow");
            else
                total.t = JV_INT;
        }
        return total;
    }
    if (IS("abs")) {
        if (!jv_is_num(v)) jinja_rt(c, "bad operand type for abs(): '%s'", jv_type_name(v));
        if (v.t == JV_FLOAT) return jv_float(fabs(v.u.f));
        if (v.u.i == INT64_MIN) jinja_rt(c, "integer overflow");
        return jv_int(v.u.i < 0 ? -v.u.i : v.u.i);
    }
    if (IS("int")) {
        jv deflt = jargs_get(a, 0, "default");
        if (deflt.t == JV_UNDEF) deflt = jv_int(0);
        if (v.t == JV_INT || v.t == JV_BOOL) return jv_int(v.u.i);
        if (v.t == JV_FLOAT) {
            if (!(fabs(v.u.f) < 9.2e18)) return deflt;
            return jv_int((int64_t)v.u.f);
        }
        if (v.t == JV_STR) {
            jv t = jstr_strip(c, v, jv_none(), 1, 1);
            char buf[64];
            if (!t.u.s.n || t.u.s.n >= sizeof buf) return deflt;
            memcpy(buf, t.u.s.p, t.u.s.n);
            buf[t.u.s.n] = 0;
            char *end;
            long long i = strtoll(buf, &end, 10);
            if (!*end) return jv_int(i);
            double d = strtod(buf, &end);
            if (!*end && fabs(d) < 9.2e18) return jv_int((int64_t)d);
        }
        return deflt;
    }
    if (IS("float")) {
        jv deflt = jargs_get(a, 0, "default");
        if (deflt.t == JV_UNDEF) deflt = jv_float(0);
        if (jv_is_num(v)) return jv_float(jv_num(v));
        if (v.t == JV_STR) {
            jv t = jstr_strip(c, v, jv_none(), 1, 1);
            char buf[64];
            if (!t.u.s.n || t.u.s.n >= sizeof buf) return deflt;
            memcpy(buf, t.u.s.p, t.u.s.n);
            buf[t.u.s.n] = 0;
            char *end;
            double d = strtod(buf, &end);
            if (!*end) return jv_float(d);
        }
        return deflt;
    }
    if (IS("round")) return round_filter(c, v, a);
    if (IS("batch")) {
        int64_t n = int_arg(c, a0, 1);
        if (n <= 0) jinja_rt(c, "batch size must be positive");
        jv fill = jargs_get(a, 1, "fill_with");
        jlist *l = jv_iter(c, v);
        jv out = jv_list_new(c, 0), cur = jv_list_new(c, 0);
        for (size_t i = 0; i < l->n; i++) {
            jlist_push(c, cur.u.l, l->v[i]);
            if ((int64_t)cur.u.l->n == n) {
                jlist_push(c, out.u.l, cur);
                cur = jv_list_new(c, 0);
            }
        }
        if (cur.u.l->n) {
            while (fill.t != JV_UNDEF && (int64_t)cur.u.l->n < n) {
                jinja_step(c);
                jlist_push(c, cur.u.l, fill);
            }
            jlist_push(c, out.u.l, cur);
        }
        return out;
    }
    if (IS("format")) {
        if (a->n_pos == 1) return jinja_percent(c, str_of(c, v), a0);
        jv t = jv_list_new(c, a->n_pos);
        for (size_t i = 0; i < a->n_pos; i++) jlist_push(c, t.u.l, a->pos[i]);
        t.tuple = 1;
        return jinja_percent(c, str_of(c, v), t);
    }
    if (IS("wordcount")) {
        jv s = str_of(c, v);
        int64_t n = 0;
        for (size_t i = 0; i < s.u.s.n; i++) {
            unsigned char ch = (unsigned char)s.u.s.p[i];
            int w = ch >= 0x80 || (ch >= '0' && ch <= '9') || ch == '_' ||
                    ((ch | 32) >= 'a' && (ch | 32) <= 'z');
            int prev = i && ((unsigned char)s.u.s.p[i - 1] >= 0x80 ||
                             ((unsigned char)s.u.s.p[i - 1] >= '0' && s.u.s.p[i - 1] <= '9') ||
                             s.u.s.p[i - 1] == '_' ||
                             ((s.u.s.p[i - 1] | 32) >= 'a' && (s.u.s.p[i - 1] | 32) <= 'z'));
            if (w && !prev) n++;
        }
        return jv_int(n);
    }
    jinja_rt(c, "no filter named '%s'", name);
}

int jinja_test(jctx *c, const char *name, jv v, const jargs *a)
{
    jv a0 = jargs_get(a, 0, NULL);
    if (IS("defined")) return v.t != JV_UNDEF;
    if (IS("undefined")) return v.t == JV_UNDEF;
    if (IS("none")) return v.t == JV_NONE;
    if (IS("boolean")) return v.t == JV_BOOL;
    if (IS("true")) return v.t == JV_BOOL && v.u.i;
    if (IS("false")) return v.t == JV_BOOL && !v.u.i;
    if (IS("integer")) return v.t == JV_INT;
    if (IS("float")) return v.t == JV_FLOAT;
    if (IS("number")) return jv_is_num(v);
    if (IS("string")) return v.t == JV_STR;
    if (IS("mapping")) return v.t == JV_DICT;
    if (IS("iterable")) return v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF;
    if (IS("sequence")) return v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF;
    if (IS("callable")) return v.t == JV_MACRO || v.t == JV_FUNC;
    if (IS("sameas")) return jv_eq(v, a0) && v.t == a0.t;
    if (IS("equalto") || IS("eq") || IS("==")) return jv_eq(v, a0);
    if (IS("ne") || IS("!=")) return !jv_eq(v, a0);
    if (IS("lt") || IS("lessthan") || IS("<")) return jinja_compare(c, v, a0) < 0;
    if (IS("le") || IS("<=")) return jinja_compare(c, v, a0) <= 0;
    if (IS("gt") || IS("greaterthan") || IS(">")) return jinja_compare(c, v, a0) > 0;
    if (IS("ge") || IS(">=")) return jinja_compare(c, v, a0) >= 0;
    if (IS("in")) return jinja_contains(c, a0, v);
    if (IS("odd") || IS("even") || IS("divisibleby")) {
        if (v.t != JV_INT && v.t != JV_BOOL) jinja_rt(c, "test '%s' needs an integer", name);
        if (IS("odd")) return v.u.i % 2 != 0;
        if (IS("even")) return v.u.i % 2 == 0;
        int64_t d = int_arg(c, a0, 1);
        if (d == 0) jinja_rt(c, "integer division or modulo by zero");
        return d == -1 || v.u.i % d == 0;
    }
    if (IS("lower") || IS("upper")) {
        jv s = str_of(c, v);
        jv t = jstr_case(c, s, IS("lower") ? JCASE_LOWER : JCASE_UPPER);
        return jv_eq(s, t);
    }
    jinja_rt(c, "no test named '%s'", name);
}
