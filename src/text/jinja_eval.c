/* jinja_eval.c - evaluates the syntax tree: statements write to the current output buffer,
 * expressions produce values with Python semantics (truthiness, and/or returning operands,
 * int/float arithmetic, str and list concatenation, slicing, chained comparisons).
 *
 * Scopes follow Jinja: every for-loop iteration and every macro call gets a fresh scope whose
 * parent is the enclosing one, so {% set %} inside a loop does not leak out (namespace() is the
 * way out, as in Jinja); if-blocks share their enclosing scope. Every node evaluated counts one
 * step, and nesting (expressions, blocks, macro calls) counts against the depth cap. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "text/jinja.h"

void jinja_step(jctx *c)
{
    if (++c->steps > c->max_steps)
        jinja_fail(c, UH_ELIMIT, "template evaluation exceeded %llu steps",
                   (unsigned long long)c->max_steps);
}

static void enter(jctx *c)
{
    if (++c->depth > c->max_depth)
        jinja_fail(c, UH_ELIMIT, "template nesting exceeded depth %d", c->max_depth);
}

/* ---- scopes ---- */

static jscope *scope_new(jctx *c, jscope *parent)
{
    jscope *s = jalloc(c, sizeof *s);
    s->parent = parent;
    return s;
}

static void scope_set(jctx *c, jscope *s, const char *name, jv v)
{
    jdict_set(c, &s->vars, jv_cstr(name), v);
}

static jv lookup(jctx *c, jscope *s, const char *name, size_t len)
{
    for (; s; s = s->parent) {
        jv *v = jdict_get_str(&s->vars, name, len);
        if (v) return *v;
    }
    jv g = jinja_global(c, name, len);
    if (g.t != JV_UNDEF) return g;
    return jv_undef_name(c, name, len);
}

_Noreturn static void raise_undef(jctx *c, jv u)
{
    if (u.u.s.p) jinja_rt(c, "%.*s", (int)u.u.s.n, u.u.s.p);
    jinja_rt(c, "undefined value used");
}

/* ---- attribute and item access ---- */

static jv loop_attr(jctx *c, const jloop *lp, const char *name, size_t len)
{
    size_t n = lp->items->n, i = lp->i;
#define IS(s) (len == sizeof(s) - 1 && memcmp(name, s, len) == 0)
    if (IS("index")) return jv_int((int64_t)i + 1);
    if (IS("index0")) return jv_int((int64_t)i);
    if (IS("revindex")) return jv_int((int64_t)(n - i));
    if (IS("revindex0")) return jv_int((int64_t)(n - i - 1));
    if (IS("first")) return jv_bool(i == 0);
    if (IS("last")) return jv_bool(i + 1 == n);
    if (IS("length")) return jv_int((int64_t)n);
    if (IS("depth")) return jv_int(lp->depth);
    if (IS("depth0")) return jv_int(lp->depth - 1);
    if (IS("previtem")) return i > 0 ? lp->items->v[i - 1] : jv_undef("there is no previous item");
    if (IS("nextitem")) return i + 1 < n ? lp->items->v[i + 1] : jv_undef("there is no next item");
#undef IS
    jv self = {.t = JV_LOOP};
    self.u.loop = (jloop *)lp;
    jv m = jinja_method(c, self, name, len);
    if (m.t != JV_UNDEF) return m;
    return jv_undef_attr(c, self, name, len);
}

jv jinja_getattr(jctx *c, jv obj, const char *name, size_t len)
{
    switch (obj.t) {
    case JV_UNDEF:
        raise_undef(c, obj);
    case JV_LOOP:
        return loop_attr(c, obj.u.loop, name, len);
    case JV_NS: {
        jv *v = jdict_get_str(obj.u.d, name, len);
        return v ? *v : jv_undef_attr(c, obj, name, len);
    }
    case JV_DICT: {
        /* Jinja tries the Python attribute first: d.items is the method, not a key */
        jv m = jinja_method(c, obj, name, len);
        if (m.t != JV_UNDEF) return m;
        jv *v = jdict_get_str(obj.u.d, name, len);
        return v ? *v : jv_undef_attr(c, obj, name, len);
    }
    default: {
        jv m = jinja_method(c, obj, name, len);
        return m.t != JV_UNDEF ? m : jv_undef_attr(c, obj, name, len);
    }
    }
}

jv jinja_getitem(jctx *c, jv obj, jv key)
{
    if (obj.t == JV_UNDEF) raise_undef(c, obj);
    if (obj.t == JV_DICT || obj.t == JV_NS) {
        jv *v = jdict_get(obj.u.d, key);
        if (v) return *v;
    } else if ((obj.t == JV_LIST || obj.t == JV_STR) && (key.t == JV_INT || key.t == JV_BOOL)) {
        size_t n = obj.t == JV_LIST ? obj.u.l->n : jutf8_count(obj.u.s.p, obj.u.s.n);
        int64_t i = key.u.i;
        if (i < 0) i += (int64_t)n;
        if (i >= 0 && (uint64_t)i < n) {
            if (obj.t == JV_LIST) return obj.u.l->v[i];
            size_t a = jutf8_offset(obj.u.s.p, obj.u.s.n, (size_t)i);
            size_t b = jutf8_offset(obj.u.s.p, obj.u.s.n, (size_t)i + 1);
            return jv_str(obj.u.s.p + a, b - a);
        }
        return jv_undef("index out of range");
    }
    if (key.t == JV_STR && obj.t != JV_DICT && obj.t != JV_NS)
        return jinja_getattr(c, obj, key.u.s.p, key.u.s.n);
    jv ks = jv_to_str(c, key);
    return jv_undef_attr(c, obj, ks.u.s.p, ks.u.s.n);
}

static int64_t slice_bound(const jnode *e, jv v, int64_t n, int64_t step, int is_start, jctx *c)
{
    if (!e || v.t == JV_NONE) return step < 0 ? (is_start ? n - 1 : -1) : (is_start ? 0 : n);
    if (v.t != JV_INT && v.t != JV_BOOL) jinja_rt(c, "slice indices must be integers or None");
    int64_t i = v.u.i;
    if (i < 0) {
        i += n;
        if (i < 0) i = step < 0 ? -1 : 0;
    } else if (i >= n) {
        i = step < 0 ? n - 1 : n;
    }
    return i;
}

static jv eval_slice(jctx *c, jscope *s, const jnode *e)
{
    jv obj = jinja_eval(c, s, e->a);
    jv parts[3];
    for (int k = 0; k < 3; k++) parts[k] = e->list[k] ? jinja_eval(c, s, e->list[k]) : jv_none();
    int64_t step = 1;
    if (parts[2].t != JV_NONE) {
        if (parts[2].t != JV_INT) jinja_rt(c, "slice step must be an integer");
        step = parts[2].u.i;
        if (step == 0) jinja_rt(c, "slice step cannot be zero");
        if (step == INT64_MIN) step = -INT64_MAX;
    }
    if (obj.t == JV_UNDEF) raise_undef(c, obj);
    int is_str = obj.t == JV_STR;
    if (!is_str && obj.t != JV_LIST)
        jinja_rt(c, "'%s' object is not subscriptable", jv_type_name(obj));
    jlist *items = jv_iter(c, obj);
    int64_t n = (int64_t)items->n;
    int64_t a = slice_bound(e->list[0], parts[0], n, step, 1, c);
    int64_t b = slice_bound(e->list[1], parts[1], n, step, 0, c);
    jv out = jv_list_new(c, 0);
    jbuf sb = {0};
    for (int64_t i = a; step > 0 ? i < b : i > b; i += step) {
        if (is_str)
            jbuf_put(c, &sb, items->v[i].u.s.p, items->v[i].u.s.n);
        else
            jlist_push(c, out.u.l, items->v[i]);
        if ((step > 0 && i > INT64_MAX - step) || (step < 0 && i < INT64_MIN - step)) break;
    }
    if (is_str) return jbuf_value(&sb);
    out.tuple = obj.tuple;
    return out;
}

/* ---- operators ---- */

static int64_t int_of(jv v)
{
    return v.u.i;
}

static jv arith(jctx *c, int op, jv a, jv b)
{
    if (a.t == JV_UNDEF) raise_undef(c, a);
    if (b.t == JV_UNDEF) raise_undef(c, b);
    if (op == '+' && a.t == JV_STR && b.t == JV_STR) {
        jbuf r = {0};
        jbuf_put(c, &r, a.u.s.p, a.u.s.n);
        jbuf_put(c, &r, b.u.s.p, b.u.s.n);
        return r.p ? jbuf_value(&r) : jv_str("", 0);
    }
    if (op == '+' && a.t == JV_LIST && b.t == JV_LIST) {
        jv r = jv_list_new(c, a.u.l->n + b.u.l->n);
        for (size_t i = 0; i < a.u.l->n; i++) jlist_push(c, r.u.l, a.u.l->v[i]);
        for (size_t i = 0; i < b.u.l->n; i++) jlist_push(c, r.u.l, b.u.l->v[i]);
        r.tuple = a.tuple;
        return r;
    }
    if (op == '*' && ((a.t == JV_STR || a.t == JV_LIST) && (b.t == JV_INT || b.t == JV_BOOL))) {
        int64_t k = int_of(b);
        size_t unit = a.t == JV_STR ? a.u.s.n : a.u.l->n * sizeof(jv);
        if (k > 0 && unit && (uint64_t)k > c->max_out / unit)
            jinja_fail(c, UH_ELIMIT, "repetition result exceeds %zu bytes (template line %d)",
                       c->max_out, c->line);
        if (a.t == JV_STR) {
            jbuf r = {0};
            for (int64_t i = 0; i < k && a.u.s.n; i++) jbuf_put(c, &r, a.u.s.p, a.u.s.n);
            return r.p ? jbuf_value(&r) : jv_str("", 0);
        }
        jv r = jv_list_new(c, 0);
        for (int64_t i = 0; i < k; i++)
            for (size_t j = 0; j < a.u.l->n; j++) {
                jinja_step(c);
                jlist_push(c, r.u.l, a.u.l->v[j]);
            }
        return r;
    }
    if (op == '*' && (b.t == JV_STR || b.t == JV_LIST) && (a.t == JV_INT || a.t == JV_BOOL))
        return arith(c, '*', b, a);
    if (op == '%' && a.t == JV_STR) return jinja_percent(c, a, b);
    if (!jv_is_num(a) || !jv_is_num(b))
        jinja_rt(c, "unsupported operand types for an arithmetic operator: '%s' and '%s'",
                 jv_type_name(a), jv_type_name(b));
    if (a.t != JV_FLOAT && b.t != JV_FLOAT && op != '/') {
        int64_t x = a.u.i, y = b.u.i, r = 0;
        switch (op) {
        case '+':
            if (__builtin_add_overflow(x, y, &r)) goto overflow;
            return jv_int(r);
        case '-':
            if (__builtin_sub_overflow(x, y, &r)) goto overflow;
            return jv_int(r);
        case '*':
            if (__builtin_mul_overflow(x, y, &r)) goto overflow;
            return jv_int(r);
        case JO_FLOORDIV:
        case '%':
            if (y == 0) jinja_rt(c, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) goto overflow;
            r = x / y;
            if ((x % y != 0) && ((x < 0) != (y < 0))) r--;
            return op == '%' ? jv_int(x - r * y) : jv_int(r);
        case JO_POW:
            if (y < 0) return jv_float(pow((double)x, (double)y));
            r = 1;
            for (int64_t k = 0; k < y; k++) {
                if (__builtin_mul_overflow(r, x, &r)) goto overflow;
                if (r == 0 || r == 1) break;
                if (r == -1) {
                    r = (y - k - 1) % 2 ? -r : r;
                    break;
                }
            }
            return jv_int(r);
        }
    }
    double x = jv_num(a), y = jv_num(b);
    switch (op) {
    case '+':
        return jv_float(x + y);
    case '-':
        return jv_float(x - y);
    case '*':
        return jv_float(x * y);
    case '/':
        if (y == 0) jinja_rt(c, "division by zero");
        return jv_float(x / y);
    case JO_FLOORDIV:
        if (y == 0) jinja_rt(c, "float floor division by zero");
        return jv_float(floor(x / y));
    case '%': {
        if (y == 0) jinja_rt(c, "float modulo");
        double m = fmod(x, y);
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return jv_float(m);
    }
    default:
        return jv_float(pow(x, y));
    }
overflow:
    jinja_rt(c, "integer overflow");
}

/* -1, 0, 1 for a < b, a == b, a > b under Python ordering; raises on unorderable types. */
static int compare(jctx *c, jv a, jv b)
{
    if (jv_is_num(a) && jv_is_num(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) return (a.u.i > b.u.i) - (a.u.i < b.u.i);
        double x = jv_num(a), y = jv_num(b);
        return (x > y) - (x < y);
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        size_t m = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        int r = m ? memcmp(a.u.s.p, b.u.s.p, m) : 0;
        if (r) return r < 0 ? -1 : 1;
        return (a.u.s.n > b.u.s.n) - (a.u.s.n < b.u.s.n);
    }
    if (a.t == JV_LIST && b.t == JV_LIST) {
        for (size_t i = 0; i < a.u.l->n && i < b.u.l->n; i++) {
            int r = compare(c, a.u.l->v[i], b.u.l->v[i]);
            if (r) return r;
        }
        return (a.u.l->n > b.u.l->n) - (a.u.l->n < b.u.l->n);
    }
    if (a.t == JV_UNDEF) raise_undef(c, a);
    if (b.t == JV_UNDEF) raise_undef(c, b);
    jinja_rt(c, "'<' not supported between instances of '%s' and '%s'", jv_type_name(a),
             jv_type_name(b));
}

int jinja_compare(jctx *c, jv a, jv b)
{
    return compare(c, a, b);
}

static int contains(jctx *c, jv hay, jv needle)
{
    if (hay.t == JV_STR) {
        if (needle.t != JV_STR) jinja_rt(c, "'in <string>' requires string as left operand");
        if (!needle.u.s.n) return 1;
        for (size_t i = 0; i + needle.u.s.n <= hay.u.s.n; i++)
            if (memcmp(hay.u.s.p + i, needle.u.s.p, needle.u.s.n) == 0) return 1;
        return 0;
    }
    if (hay.t == JV_DICT || hay.t == JV_NS) return jdict_get(hay.u.d, needle) != NULL;
    if (hay.t == JV_LIST) {
        for (size_t i = 0; i < hay.u.l->n; i++) {
            jinja_step(c);
            if (jv_eq(hay.u.l->v[i], needle)) return 1;
        }
        return 0;
    }
    if (hay.t == JV_UNDEF) return 0;
    jinja_rt(c, "argument of type '%s' is not iterable", jv_type_name(hay));
}

int jinja_contains(jctx *c, jv hay, jv needle)
{
    return contains(c, hay, needle);
}

static int cmp_op(jctx *c, int op, jv a, jv b)
{
    switch (op) {
    case JO_EQ:
        return jv_eq(a, b);
    case JO_NE:
        return !jv_eq(a, b);
    case JC_IN:
        return contains(c, b, a);
    case JC_NOTIN:
        return !contains(c, b, a);
    case '<':
        return compare(c, a, b) < 0;
    case '>':
        return compare(c, a, b) > 0;
    case JO_LE:
        return compare(c, a, b) <= 0;
    default:
        return compare(c, a, b) >= 0;
    }
}

/* ---- calls ---- */

static jv call_macro(jctx *c, const jmacro *m, jv *args, size_t n_args, const char **kw, jv *kwv,
                     size_t n_kw)
{
    const jnode *def = m->def;
    if (++c->macro_depth > c->max_macro_depth)
        jinja_fail(c, UH_ELIMIT, "macro calls nested deeper than %d (runaway recursion?)",
                   c->max_macro_depth);
    if (n_args > def->n_names)
        jinja_rt(c, "macro '%s' takes not more than %zu argument(s)", def->s, def->n_names);
    jscope *s = scope_new(c, m->scope);
    for (size_t k = 0; k < n_kw; k++) {
        size_t p = 0;
        while (p < def->n_names && strcmp(def->names[p], kw[k]) != 0) p++;
        if (p == def->n_names)
            jinja_rt(c, "macro '%s' takes no keyword argument '%s'", def->s, kw[k]);
        if (p < n_args) jinja_rt(c, "macro '%s' got multiple values for '%s'", def->s, kw[k]);
    }
    for (size_t p = 0; p < def->n_names; p++) {
        jv v;
        int found = 0;
        if (p < n_args) {
            v = args[p];
            found = 1;
        } else {
            for (size_t k = 0; k < n_kw; k++)
                if (!strcmp(def->names[p], kw[k])) {
                    v = kwv[k];
                    found = 1;
                }
        }
        if (!found)
            v = def->list2[p] ? jinja_eval(c, s, def->list2[p])
                              : jv_undef_name(c, def->names[p], strlen(def->names[p]));
        scope_set(c, s, def->names[p], v);
    }
    jbuf buf = {0}, *saved = c->out;
    int saved_loops = c->loop_depth;
    c->out = &buf;
    c->loop_depth = 0;
    jinja_exec_body(c, s, def->list, def->n);
    c->out = saved;
    c->loop_depth = saved_loops;
    c->flow = JFLOW_NONE;
    c->macro_depth--;
    return jbuf_value(&buf);
}

jv jinja_call_value(jctx *c, jv fn, jv *args, size_t n_args, const char **kw, jv *kwv, size_t n_kw)
{
    if (fn.t == JV_MACRO) return call_macro(c, fn.u.m, args, n_args, kw, kwv, n_kw);
    if (fn.t == JV_FUNC) {
        jargs a = {args, n_args, kw, kwv, n_kw};
        return jinja_call_func(c, fn.u.fn, &a);
    }
    if (fn.t == JV_UNDEF) raise_undef(c, fn);
    jinja_rt(c, "'%s' object is not callable", jv_type_name(fn));
}

/* Evaluates the positional and keyword arguments of a call, filter or test node. */
static void eval_args(jctx *c, jscope *s, const jnode *e, jargs *a)
{
    a->n_pos = e->n;
    a->pos = e->n ? jalloc(c, e->n * sizeof(jv)) : NULL;
    for (size_t k = 0; k < e->n; k++) a->pos[k] = jinja_eval(c, s, e->list[k]);
    a->n_kw = e->n2;
    a->kw = e->names;
    a->kwv = e->n2 ? jalloc(c, e->n2 * sizeof(jv)) : NULL;
    for (size_t k = 0; k < e->n2; k++) a->kwv[k] = jinja_eval(c, s, e->list2[k]);
}

/* A filter node chain applied to v (used by filter blocks, where the innermost operand is the
 * block's output). */
static jv apply_filters(jctx *c, jscope *s, const jnode *f, jv v)
{
    if (f->a) v = apply_filters(c, s, f->a, v);
    jargs a;
    eval_args(c, s, f, &a);
    return jinja_filter(c, f->s, v, &a);
}

/* ---- expressions ---- */

jv jinja_eval(jctx *c, jscope *s, const jnode *e)
{
    jinja_step(c);
    enter(c);
    c->line = e->line;
    jv r;
    switch (e->kind) {
    case JN_LIT:
        r = e->val;
        break;
    case JN_NAME:
        r = lookup(c, s, e->s, e->len);
        break;
    case JN_ATTR:
        r = jinja_getattr(c, jinja_eval(c, s, e->a), e->s, e->len);
        break;
    case JN_ITEM: {
        jv obj = jinja_eval(c, s, e->a);
        r = jinja_getitem(c, obj, jinja_eval(c, s, e->b));
        break;
    }
    case JN_SLICE:
        r = eval_slice(c, s, e);
        break;
    case JN_CALL: {
        jv fn = jinja_eval(c, s, e->a);
        jargs a;
        eval_args(c, s, e, &a);
        c->line = e->line;
        r = jinja_call_value(c, fn, a.pos, a.n_pos, a.kw, a.kwv, a.n_kw);
        break;
    }
    case JN_FILTER: {
        jv v = jinja_eval(c, s, e->a);
        jargs a;
        eval_args(c, s, e, &a);
        c->line = e->line;
        r = jinja_filter(c, e->s, v, &a);
        break;
    }
    case JN_TEST: {
        jv v = jinja_eval(c, s, e->a);
        jargs a;
        eval_args(c, s, e, &a);
        c->line = e->line;
        r = jv_bool(jinja_test(c, e->s, v, &a) != e->op);
        break;
    }
    case JN_BIN: {
        jv a = jinja_eval(c, s, e->a), b = jinja_eval(c, s, e->b);
        c->line = e->line;
        if (e->op == '~') {
            jbuf buf = {0};
            jv_write_str(c, &buf, a);
            jv_write_str(c, &buf, b);
            r = jbuf_value(&buf);
        } else {
            r = arith(c, e->op, a, b);
        }
        break;
    }
    case JN_UNARY: {
        jv v = jinja_eval(c, s, e->a);
        if (e->op == 'n') {
            r = jv_bool(!jv_truthy(v));
        } else {
            if (v.t == JV_UNDEF) raise_undef(c, v);
            if (!jv_is_num(v))
                jinja_rt(c, "bad operand type for unary %c: '%s'", e->op, jv_type_name(v));
            if (e->op == '+')
                r = v.t == JV_BOOL ? jv_int(v.u.i) : v;
            else if (v.t == JV_FLOAT)
                r = jv_float(-v.u.f);
            else if (v.u.i == INT64_MIN)
                jinja_rt(c, "integer overflow");
            else
                r = jv_int(-v.u.i);
        }
        break;
    }
    case JN_AND: {
        jv a = jinja_eval(c, s, e->a);
        r = jv_truthy(a) ? jinja_eval(c, s, e->b) : a;
        break;
    }
    case JN_OR: {
        jv a = jinja_eval(c, s, e->a);
        r = jv_truthy(a) ? a : jinja_eval(c, s, e->b);
        break;
    }
    case JN_CMP: {
        jv a = jinja_eval(c, s, e->a);
        r = jv_bool(1);
        for (size_t k = 0; k < e->n; k++) {
            jv b = jinja_eval(c, s, e->list[k]);
            c->line = e->line;
            if (!cmp_op(c, e->ops[k], a, b)) {
                r = jv_bool(0);
                break;
            }
            a = b;
        }
        break;
    }
    case JN_COND:
        if (jv_truthy(jinja_eval(c, s, e->b)))
            r = jinja_eval(c, s, e->a);
        else
            r = e->c ? jinja_eval(c, s, e->c) : jv_undef("the inline if expression was false");
        break;
    case JN_LIST:
    case JN_TUPLE:
        r = jv_list_new(c, e->n);
        for (size_t k = 0; k < e->n; k++) jlist_push(c, r.u.l, jinja_eval(c, s, e->list[k]));
        r.tuple = e->kind == JN_TUPLE;
        break;
    case JN_DICT:
        r = jv_dict_new(c);
        for (size_t k = 0; k < e->n; k++) {
            jv key = jinja_eval(c, s, e->list[k]);
            jdict_set(c, r.u.d, key, jinja_eval(c, s, e->list2[k]));
        }
        break;
    default:
        jinja_rt(c, "statement used as an expression");
    }
    c->depth--;
    return r;
}

/* ---- statements ---- */

static void bind_targets(jctx *c, jscope *s, const char **names, size_t n, jv v)
{
    if (n == 1) return scope_set(c, s, names[0], v);
    if (v.t != JV_LIST && v.t != JV_STR)
        jinja_rt(c, "cannot unpack non-sequence %s", jv_type_name(v));
    jlist *l = jv_iter(c, v);
    if (l->n != n)
        jinja_rt(c, "%s values to unpack (expected %zu, got %zu)",
                 l->n < n ? "not enough" : "too many", n, l->n);
    for (size_t k = 0; k < n; k++) scope_set(c, s, names[k], l->v[k]);
}

static void exec_for(jctx *c, jscope *s, const jnode *e)
{
    jv seq = jinja_eval(c, s, e->a);
    if (seq.t == JV_NONE) jinja_rt(c, "'NoneType' object is not iterable");
    jlist *items = jv_iter(c, seq);
    if (e->b) { /* {% for x in xs if cond %}: the loop sees only the items that pass */
        jv kept = jv_list_new(c, 0);
        jscope *fs = scope_new(c, s);
        for (size_t i = 0; i < items->n; i++) {
            jinja_step(c);
            fs->vars.n = 0;
            bind_targets(c, fs, e->names, e->n_names, items->v[i]);
            if (jv_truthy(jinja_eval(c, fs, e->b))) jlist_push(c, kept.u.l, items->v[i]);
        }
        items = kept.u.l;
    }
    if (!items->n) {
        jinja_exec_body(c, s, e->list2, e->n2);
        return;
    }
    jloop *lp = jalloc(c, sizeof *lp);
    lp->items = items;
    lp->depth = c->loop_depth + 1;
    jv lv = {.t = JV_LOOP};
    lv.u.loop = lp;
    c->loop_depth++;
    /* one scope, emptied per iteration: the fresh scope Jinja gives each iteration, without
     * allocating per iteration */
    jscope *is = scope_new(c, s);
    for (size_t i = 0; i < items->n; i++) {
        jinja_step(c);
        lp->i = i;
        is->vars.n = 0;
        scope_set(c, is, "loop", lv);
        bind_targets(c, is, e->names, e->n_names, items->v[i]);
        jinja_exec_body(c, is, e->list, e->n);
        if (c->flow == JFLOW_BREAK) {
            c->flow = JFLOW_NONE;
            break;
        }
        c->flow = JFLOW_NONE;
    }
    c->loop_depth--;
}

static jv capture(jctx *c, jscope *s, const jnode **body, size_t n)
{
    jbuf buf = {0}, *saved = c->out;
    c->out = &buf;
    jinja_exec_body(c, s, body, n);
    c->out = saved;
    return jbuf_value(&buf);
}

static void exec_set(jctx *c, jscope *s, const jnode *e)
{
    jv v;
    if (e->b) {
        v = jinja_eval(c, s, e->b);
    } else {
        v = capture(c, s, e->list, e->n);
        if (e->c) v = apply_filters(c, s, e->c, v);
    }
    c->line = e->line;
    if (e->a) {
        jv ns = lookup(c, s, e->a->a->s, e->a->a->len);
        if (ns.t != JV_NS) jinja_rt(c, "cannot assign attribute on non-namespace object");
        jdict_set(c, ns.u.d, jv_str(e->a->s, e->a->len), v);
        return;
    }
    bind_targets(c, s, e->names, e->n_names, v);
}

static void exec_node(jctx *c, jscope *s, const jnode *e)
{
    jinja_step(c);
    enter(c);
    c->line = e->line;
    switch (e->kind) {
    case JN_TEXT:
        jbuf_put(c, c->out, e->s, e->len);
        break;
    case JN_OUT:
        jv_write_str(c, c->out, jinja_eval(c, s, e->a));
        break;
    case JN_IF:
        if (jv_truthy(jinja_eval(c, s, e->a)))
            jinja_exec_body(c, s, e->list, e->n);
        else
            jinja_exec_body(c, s, e->list2, e->n2);
        break;
    case JN_FOR:
        exec_for(c, s, e);
        break;
    case JN_SET:
        exec_set(c, s, e);
        break;
    case JN_MACRO: {
        jv m = {.t = JV_MACRO};
        m.u.m = jalloc(c, sizeof *m.u.m);
        m.u.m->def = e;
        m.u.m->scope = s;
        scope_set(c, s, e->s, m);
        break;
    }
    case JN_FILTERBLOCK: {
        jv v = capture(c, s, e->list, e->n);
        jv_write_str(c, c->out, apply_filters(c, s, e->a, v));
        break;
    }
    case JN_BREAK:
    case JN_CONTINUE:
        if (!c->loop_depth)
            jinja_rt(c, "'%s' outside of a loop", e->kind == JN_BREAK ? "break" : "continue");
        c->flow = e->kind == JN_BREAK ? JFLOW_BREAK : JFLOW_CONTINUE;
        break;
    default:
        jv_write_str(c, c->out, jinja_eval(c, s, e));
        break;
    }
    c->depth--;
}

void jinja_exec_body(jctx *c, jscope *s, const jnode **body, size_t n)
{
    for (size_t i = 0; i < n && c->flow == JFLOW_NONE; i++) exec_node(c, s, body[i]);
}
