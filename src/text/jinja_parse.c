/* jinja_parse.c - recursive-descent parser from tokens to the syntax tree (jinja.h), following
 * Jinja2's grammar and operator precedence, lowest first:
 *   a if c else b | or | and | not | comparisons, in, not in | + - | ~ | * / // % | ** |
 *   unary - + | postfix: .attr [index] [a:b:c] (call) | filters and tests (x|f, x is t)
 * Filters and tests bind tighter than every binary operator, as in Jinja ('a' + x|trim).
 * Statements: if/elif/else, for (tuple targets, inline if filter, else), set (plain, namespace
 * attribute, tuple, block form), macro, filter blocks, break, continue. */
#include <string.h>

#include "text/jinja.h"

#define MAX_PARSE_DEPTH 200

typedef struct {
    jctx *c;
    const jtok *t;
    size_t n, i;
    int depth;
} parser;

typedef struct { /* growable array of node pointers */
    const jnode **v;
    size_t n, cap;
} nvec;

static void nvec_push(parser *P, nvec *a, const jnode *x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        const jnode **nv = jalloc(P->c, cap * sizeof *nv);
        if (a->n) memcpy(nv, a->v, a->n * sizeof *nv);
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n++] = x;
}

static const jtok *cur(parser *P)
{
    return &P->t[P->i];
}
static const jtok *next_tok(parser *P)
{
    return &P->t[P->i < P->n - 1 ? P->i++ : P->i];
}

_Noreturn static void syntax(parser *P, const char *what)
{
    const jtok *t = cur(P);
    jinja_fail(P->c, UH_EFORMAT, "template syntax error at %d:%d: %s", t->line, t->col, what);
}

static int is_op(parser *P, int op)
{
    return cur(P)->kind == JT_OP && cur(P)->op == op;
}

static int is_name(parser *P, const char *name)
{
    const jtok *t = cur(P);
    return t->kind == JT_NAME && t->len == strlen(name) && memcmp(t->s, name, t->len) == 0;
}

static void expect_op(parser *P, int op, const char *what)
{
    if (!is_op(P, op)) syntax(P, what);
    next_tok(P);
}

static const char *name_dup(parser *P, const jtok *t)
{
    char *s = jalloc(P->c, t->len + 1);
    memcpy(s, t->s, t->len);
    return s;
}

static const char *expect_name(parser *P)
{
    if (cur(P)->kind != JT_NAME) syntax(P, "expected a name");
    return name_dup(P, next_tok(P));
}

static jnode *node(parser *P, int kind)
{
    jnode *x = jalloc(P->c, sizeof *x);
    x->kind = kind;
    x->line = cur(P)->line;
    return x;
}

static void enter(parser *P)
{
    if (++P->depth > MAX_PARSE_DEPTH) syntax(P, "expression or blocks nested too deeply");
}

static const jnode *parse_expr(parser *P);
static const jnode *parse_or(parser *P);
static const jnode *parse_unary(parser *P, int with_filter);
static const jnode *parse_primary(parser *P);
static const jnode *parse_postfix(parser *P, const jnode *x);

/* Call arguments after '(': positional, then name=value keywords. */
static void parse_args(parser *P, jnode *x)
{
    nvec pos = {0}, kwv = {0}, kwn = {0};
    expect_op(P, '(', "expected (");
    while (!is_op(P, ')')) {
        if (pos.n + kwv.n) expect_op(P, ',', "expected , or ) in argument list");
        if (is_op(P, ')')) break;
        if (cur(P)->kind == JT_NAME && P->t[P->i + 1].kind == JT_OP && P->t[P->i + 1].op == '=') {
            nvec_push(P, &kwn, (const jnode *)name_dup(P, next_tok(P)));
            next_tok(P);
            nvec_push(P, &kwv, parse_expr(P));
        } else {
            if (kwv.n) syntax(P, "positional argument after keyword argument");
            nvec_push(P, &pos, parse_expr(P));
        }
    }
    next_tok(P);
    x->list = pos.v;
    x->n = pos.n;
    x->list2 = kwv.v;
    x->n2 = kwv.n;
    x->names = (const char **)kwn.v;
    x->n_names = kwn.n;
}

static const jnode *parse_filter(parser *P, const jnode *operand)
{
    jnode *x = node(P, JN_FILTER);
    x->a = operand;
    x->s = expect_name(P);
    while (is_op(P, '.')) { /* dotted filter names: kept whole, none are built in */
        next_tok(P);
        expect_name(P);
    }
    if (is_op(P, '(')) parse_args(P, x);
    return x;
}

static const jnode *parse_test(parser *P, const jnode *operand)
{
    jnode *x = node(P, JN_TEST);
    x->a = operand;
    if (is_name(P, "not")) {
        next_tok(P);
        x->op = 1;
    }
    x->s = expect_name(P);
    const jtok *t = cur(P);
    if (is_op(P, '(')) {
        parse_args(P, x);
    } else if ((t->kind == JT_NAME || t->kind == JT_STRING || t->kind == JT_INT ||
                t->kind == JT_FLOAT || is_op(P, '[') || is_op(P, '{')) &&
               !is_name(P, "else") && !is_name(P, "or") && !is_name(P, "and") &&
               !is_name(P, "is")) {
        nvec a = {0};
        nvec_push(P, &a, parse_postfix(P, parse_primary(P)));
        x->list = a.v;
        x->n = a.n;
    }
    return x;
}

static const jnode *parse_filter_expr(parser *P, const jnode *x)
{
    for (;;) {
        if (is_op(P, '|')) {
            next_tok(P);
            x = parse_filter(P, x);
        } else if (is_name(P, "is")) {
            next_tok(P);
            x = parse_test(P, x);
        } else if (is_op(P, '(')) {
            jnode *call = node(P, JN_CALL);
            call->a = x;
            parse_args(P, call);
            x = call;
        } else {
            return x;
        }
    }
}

static const jnode *parse_subscript(parser *P, const jnode *obj)
{
    const jnode *parts[3] = {NULL, NULL, NULL};
    int k = 0, is_slice = 0;
    for (;;) {
        if (is_op(P, ':')) {
            next_tok(P);
            if (++k > 2) syntax(P, "too many : in slice");
            is_slice = 1;
            continue;
        }
        if (is_op(P, ']')) break;
        if (parts[k]) syntax(P, "expected : or ]");
        parts[k] = parse_expr(P);
    }
    next_tok(P);
    if (!is_slice) {
        if (!parts[0]) syntax(P, "empty subscript");
        jnode *x = node(P, JN_ITEM);
        x->a = obj;
        x->b = parts[0];
        return x;
    }
    jnode *x = node(P, JN_SLICE);
    x->a = obj;
    const jnode **l = jalloc(P->c, 3 * sizeof *l);
    memcpy(l, parts, sizeof parts);
    x->list = l;
    x->n = 3;
    return x;
}

static const jnode *parse_postfix(parser *P, const jnode *x)
{
    for (;;) {
        if (is_op(P, '.')) {
            next_tok(P);
            jnode *a = node(P, JN_ATTR);
            a->a = x;
            if (cur(P)->kind == JT_INT) { /* x.0 means x[0] */
                a->kind = JN_ITEM;
                jnode *lit = node(P, JN_LIT);
                lit->val = jv_int(next_tok(P)->i);
                a->b = lit;
            } else {
                a->s = expect_name(P);
                a->len = strlen(a->s);
            }
            x = a;
        } else if (is_op(P, '[')) {
            next_tok(P);
            x = parse_subscript(P, x);
        } else if (is_op(P, '(')) {
            jnode *call = node(P, JN_CALL);
            call->a = x;
            parse_args(P, call);
            x = call;
        } else {
            return x;
        }
    }
}

/* "(" already consumed when called from parse_primary: a parenthesised expression or a tuple. */
static const jnode *parse_paren(parser *P)
{
    nvec items = {0};
    int comma = 0;
    while (!is_op(P, ')')) {
        if (items.n) {
            expect_op(P, ',', "expected , or )");
            comma = 1;
            if (is_op(P, ')')) break;
        }
        nvec_push(P, &items, parse_expr(P));
    }
    next_tok(P);
    if (items.n == 1 && !comma) return items.v[0];
    jnode *x = node(P, JN_TUPLE);
    x->list = items.v;
    x->n = items.n;
    return x;
}

static const jnode *parse_primary(parser *P)
{
    const jtok *t = cur(P);
    jnode *x;
    enter(P);
    switch (t->kind) {
    case JT_NAME: {
        next_tok(P);
        x = node(P, JN_LIT);
        x->line = t->line;
        static const char *const lits[] = {"true", "True", "false", "False", "none", "None"};
        for (int k = 0; k < 6; k++)
            if (t->len == strlen(lits[k]) && memcmp(t->s, lits[k], t->len) == 0) {
                x->val = k < 2 ? jv_bool(1) : k < 4 ? jv_bool(0) : jv_none();
                goto done;
            }
        x->kind = JN_NAME;
        x->s = name_dup(P, t);
        x->len = t->len;
        goto done;
    }
    case JT_STRING: {
        /* adjacent literals concatenate, as in Python */
        jbuf b = {0};
        while (cur(P)->kind == JT_STRING) {
            jbuf_put(P->c, &b, cur(P)->s, cur(P)->len);
            next_tok(P);
        }
        x = node(P, JN_LIT);
        x->val = jbuf_value(&b);
        goto done;
    }
    case JT_INT:
    case JT_FLOAT:
        x = node(P, JN_LIT);
        x->val = t->kind == JT_INT ? jv_int(t->i) : jv_float(t->f);
        next_tok(P);
        goto done;
    case JT_OP:
        if (t->op == '(') {
            next_tok(P);
            const jnode *r = parse_paren(P);
            P->depth--;
            return r;
        }
        if (t->op == '[') {
            next_tok(P);
            nvec items = {0};
            while (!is_op(P, ']')) {
                if (items.n) {
                    expect_op(P, ',', "expected , or ] in list");
                    if (is_op(P, ']')) break;
                }
                nvec_push(P, &items, parse_expr(P));
            }
            next_tok(P);
            x = node(P, JN_LIST);
            x->list = items.v;
            x->n = items.n;
            goto done;
        }
        if (t->op == '{') {
            next_tok(P);
            nvec keys = {0}, vals = {0};
            while (!is_op(P, '}')) {
                if (keys.n) {
                    expect_op(P, ',', "expected , or } in dict");
                    if (is_op(P, '}')) break;
                }
                nvec_push(P, &keys, parse_expr(P));
                expect_op(P, ':', "expected : in dict");
                nvec_push(P, &vals, parse_expr(P));
            }
            next_tok(P);
            x = node(P, JN_DICT);
            x->list = keys.v;
            x->n = keys.n;
            x->list2 = vals.v;
            x->n2 = vals.n;
            goto done;
        }
        break;
    default:
        break;
    }
    syntax(P, "unexpected token in expression");
done:
    P->depth--;
    return x;
}

static const jnode *parse_unary(parser *P, int with_filter)
{
    const jnode *x;
    enter(P);
    if (is_op(P, '-') || is_op(P, '+')) {
        jnode *u = node(P, JN_UNARY);
        u->op = next_tok(P)->op;
        u->a = parse_unary(P, 0);
        x = u;
    } else {
        x = parse_primary(P);
    }
    x = parse_postfix(P, x);
    if (with_filter) x = parse_filter_expr(P, x);
    P->depth--;
    return x;
}

static const jnode *binop(parser *P, int op, const jnode *a, const jnode *b)
{
    jnode *x = node(P, JN_BIN);
    x->op = op;
    x->a = a;
    x->b = b;
    return x;
}

static const jnode *parse_pow(parser *P)
{
    const jnode *x = parse_unary(P, 1);
    while (is_op(P, JO_POW)) {
        next_tok(P);
        x = binop(P, JO_POW, x, parse_unary(P, 1));
    }
    return x;
}

static const jnode *parse_mul(parser *P)
{
    const jnode *x = parse_pow(P);
    while (is_op(P, '*') || is_op(P, '/') || is_op(P, JO_FLOORDIV) || is_op(P, '%')) {
        int op = next_tok(P)->op;
        x = binop(P, op, x, parse_pow(P));
    }
    return x;
}

static const jnode *parse_concat(parser *P)
{
    const jnode *x = parse_mul(P);
    while (is_op(P, '~')) {
        next_tok(P);
        x = binop(P, '~', x, parse_mul(P));
    }
    return x;
}

static const jnode *parse_add(parser *P)
{
    const jnode *x = parse_concat(P);
    while (is_op(P, '+') || is_op(P, '-')) {
        int op = next_tok(P)->op;
        x = binop(P, op, x, parse_concat(P));
    }
    return x;
}

static const jnode *parse_compare(parser *P)
{
    const jnode *first = parse_add(P);
    nvec ops = {0}, rhs = {0};
    for (;;) {
        int op;
        if (is_op(P, JO_EQ) || is_op(P, JO_NE) || is_op(P, '<') || is_op(P, '>') ||
            is_op(P, JO_LE) || is_op(P, JO_GE)) {
            op = next_tok(P)->op;
        } else if (is_name(P, "in")) {
            next_tok(P);
            op = JC_IN;
        } else if (is_name(P, "not") && P->t[P->i + 1].kind == JT_NAME && P->t[P->i + 1].len == 2 &&
                   memcmp(P->t[P->i + 1].s, "in", 2) == 0) {
            next_tok(P);
            next_tok(P);
            op = JC_NOTIN;
        } else {
            break;
        }
        nvec_push(P, &ops, (const jnode *)(intptr_t)op);
        nvec_push(P, &rhs, parse_add(P));
    }
    if (!rhs.n) return first;
    jnode *x = node(P, JN_CMP);
    x->a = first;
    x->list = rhs.v;
    x->n = rhs.n;
    x->ops = jalloc(P->c, ops.n * sizeof(int));
    for (size_t k = 0; k < ops.n; k++) x->ops[k] = (int)(intptr_t)ops.v[k];
    return x;
}

static const jnode *parse_not(parser *P)
{
    if (is_name(P, "not")) {
        enter(P);
        jnode *x = node(P, JN_UNARY);
        next_tok(P);
        x->op = 'n';
        x->a = parse_not(P);
        P->depth--;
        return x;
    }
    return parse_compare(P);
}

static const jnode *parse_and(parser *P)
{
    const jnode *x = parse_not(P);
    while (is_name(P, "and")) {
        next_tok(P);
        jnode *a = node(P, JN_AND);
        a->a = x;
        a->b = parse_not(P);
        x = a;
    }
    return x;
}

static const jnode *parse_or(parser *P)
{
    const jnode *x = parse_and(P);
    while (is_name(P, "or")) {
        next_tok(P);
        jnode *o = node(P, JN_OR);
        o->a = x;
        o->b = parse_and(P);
        x = o;
    }
    return x;
}

static const jnode *parse_expr(parser *P)
{
    enter(P);
    const jnode *x = parse_or(P);
    while (is_name(P, "if")) {
        next_tok(P);
        jnode *c = node(P, JN_COND);
        c->a = x;
        c->b = parse_or(P);
        if (is_name(P, "else")) {
            next_tok(P);
            c->c = parse_expr(P);
        }
        x = c;
    }
    P->depth--;
    return x;
}

/* An expression, or a bare tuple "a, b" (for {{ }}, set values and for iterables). */
static const jnode *parse_tuple_expr(parser *P, int with_cond)
{
    const jnode *first = with_cond ? parse_expr(P) : parse_or(P);
    if (!is_op(P, ',')) return first;
    nvec items = {0};
    nvec_push(P, &items, first);
    while (is_op(P, ',')) {
        next_tok(P);
        if (cur(P)->kind == JT_BLOCK_END || cur(P)->kind == JT_VAR_END || is_name(P, "if")) break;
        nvec_push(P, &items, with_cond ? parse_expr(P) : parse_or(P));
    }
    jnode *x = node(P, JN_TUPLE);
    x->list = items.v;
    x->n = items.n;
    return x;
}

/* ---- statements ---- */

static void expect_block_end(parser *P)
{
    if (cur(P)->kind != JT_BLOCK_END) syntax(P, "expected end of tag %}");
    next_tok(P);
}

/* Parses statements until "{% <one of ends> "; leaves the tag's name as the current token. */
static const jnode **parse_body(parser *P, const char *const *ends, size_t *n_out);

/* Assignment/loop targets: names separated by commas, or (for set) ns.attr. */
static void parse_targets(parser *P, jnode *x)
{
    nvec names = {0};
    int paren = is_op(P, '(');
    if (paren) next_tok(P);
    do {
        if (names.n) next_tok(P);
        nvec_push(P, &names, (const jnode *)expect_name(P));
    } while (is_op(P, ','));
    if (paren) expect_op(P, ')', "expected )");
    x->names = (const char **)names.v;
    x->n_names = names.n;
}

static const jnode *parse_if(parser *P)
{
    jnode *x = node(P, JN_IF);
    x->a = parse_tuple_expr(P, 1);
    expect_block_end(P);
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    x->list = parse_body(P, ends, &x->n);
    if (is_name(P, "elif")) {
        next_tok(P);
        const jnode **l = jalloc(P->c, sizeof *l);
        l[0] = parse_if(P);
        x->list2 = l;
        x->n2 = 1;
        return x; /* the nested if consumed endif */
    }
    if (is_name(P, "else")) {
        next_tok(P);
        expect_block_end(P);
        static const char *const ends2[] = {"endif", NULL};
        x->list2 = parse_body(P, ends2, &x->n2);
    }
    next_tok(P); /* endif */
    expect_block_end(P);
    return x;
}

static const jnode *parse_for(parser *P)
{
    jnode *x = node(P, JN_FOR);
    parse_targets(P, x);
    if (!is_name(P, "in")) syntax(P, "expected 'in' in for");
    next_tok(P);
    x->a = parse_tuple_expr(P, 0);
    if (is_name(P, "if")) {
        next_tok(P);
        x->b = parse_expr(P);
    }
    if (is_name(P, "recursive")) syntax(P, "recursive loops are not supported");
    expect_block_end(P);
    static const char *const ends[] = {"else", "endfor", NULL};
    x->list = parse_body(P, ends, &x->n);
    if (is_name(P, "else")) {
        next_tok(P);
        expect_block_end(P);
        static const char *const ends2[] = {"endfor", NULL};
        x->list2 = parse_body(P, ends2, &x->n2);
    }
    next_tok(P);
    expect_block_end(P);
    return x;
}

static const jnode *parse_set(parser *P)
{
    jnode *x = node(P, JN_SET);
    if (cur(P)->kind == JT_NAME && P->t[P->i + 1].kind == JT_OP && P->t[P->i + 1].op == '.') {
        jnode *t = node(P, JN_ATTR); /* namespace attribute */
        jnode *obj = node(P, JN_NAME);
        obj->s = expect_name(P);
        obj->len = strlen(obj->s);
        next_tok(P);
        t->a = obj;
        t->s = expect_name(P);
        t->len = strlen(t->s);
        x->a = t;
    } else {
        parse_targets(P, x);
    }
    if (is_op(P, '=')) {
        next_tok(P);
        x->b = parse_tuple_expr(P, 1);
        expect_block_end(P);
        return x;
    }
    if (x->a || x->n_names != 1) syntax(P, "expected = in set");
    if (is_op(P, '|')) { /* {% set x | filter %} */
        next_tok(P);
        x->c = parse_filter(P, NULL);
        while (is_op(P, '|')) {
            next_tok(P);
            x->c = parse_filter(P, x->c);
        }
    }
    expect_block_end(P);
    static const char *const ends[] = {"endset", NULL};
    x->list = parse_body(P, ends, &x->n);
    next_tok(P);
    expect_block_end(P);
    return x;
}

static const jnode *parse_macro(parser *P)
{
    jnode *x = node(P, JN_MACRO);
    x->s = expect_name(P);
    x->len = strlen(x->s);
    expect_op(P, '(', "expected ( after macro name");
    nvec params = {0}, defs = {0};
    while (!is_op(P, ')')) {
        if (params.n) expect_op(P, ',', "expected , or ) in macro parameters");
        if (is_op(P, ')')) break;
        nvec_push(P, &params, (const jnode *)expect_name(P));
        if (is_op(P, '=')) {
            next_tok(P);
            nvec_push(P, &defs, parse_expr(P));
        } else {
            if (defs.n && defs.v[defs.n - 1]) syntax(P, "parameter without default after one with");
            nvec_push(P, &defs, NULL);
        }
    }
    next_tok(P);
    expect_block_end(P);
    x->names = (const char **)params.v;
    x->n_names = params.n;
    x->list2 = defs.v;
    x->n2 = defs.n;
    static const char *const ends[] = {"endmacro", NULL};
    x->list = parse_body(P, ends, &x->n);
    next_tok(P);
    if (cur(P)->kind == JT_NAME) next_tok(P); /* {% endmacro name %} */
    expect_block_end(P);
    return x;
}

static const jnode *parse_statement(parser *P)
{
    const jtok *t = cur(P);
    if (t->kind != JT_NAME) syntax(P, "expected a statement name");
    const char *name = name_dup(P, t);
    next_tok(P);
    if (!strcmp(name, "if")) return parse_if(P);
    if (!strcmp(name, "for")) return parse_for(P);
    if (!strcmp(name, "set")) return parse_set(P);
    if (!strcmp(name, "macro")) return parse_macro(P);
    if (!strcmp(name, "break") || !strcmp(name, "continue")) {
        jnode *x = node(P, name[0] == 'b' ? JN_BREAK : JN_CONTINUE);
        expect_block_end(P);
        return x;
    }
    if (!strcmp(name, "filter")) {
        jnode *x = node(P, JN_FILTERBLOCK);
        x->a = parse_filter(P, NULL);
        while (is_op(P, '|')) {
            next_tok(P);
            x->a = parse_filter(P, x->a);
        }
        expect_block_end(P);
        static const char *const ends[] = {"endfilter", NULL};
        x->list = parse_body(P, ends, &x->n);
        next_tok(P);
        expect_block_end(P);
        return x;
    }
    if (!strcmp(name, "generation") || !strcmp(name, "endgeneration")) {
        /* HF's marker for assistant-token masks: renders nothing */
        jnode *x = node(P, JN_TEXT);
        x->s = "";
        expect_block_end(P);
        return x;
    }
    P->i--;
    syntax(P, "unknown or unexpected statement");
}

static const jnode **parse_body(parser *P, const char *const *ends, size_t *n_out)
{
    nvec body = {0};
    enter(P);
    for (;;) {
        const jtok *t = cur(P);
        if (t->kind == JT_EOF) {
            if (ends) syntax(P, "unexpected end of template: a block is not closed");
            break;
        }
        if (t->kind == JT_TEXT) {
            jnode *x = node(P, JN_TEXT);
            x->s = t->s;
            x->len = t->len;
            nvec_push(P, &body, x);
            next_tok(P);
        } else if (t->kind == JT_VAR_BEGIN) {
            next_tok(P);
            jnode *x = node(P, JN_OUT);
            x->a = parse_tuple_expr(P, 1);
            if (cur(P)->kind != JT_VAR_END) syntax(P, "expected end of print tag }}");
            next_tok(P);
            nvec_push(P, &body, x);
        } else if (t->kind == JT_BLOCK_BEGIN) {
            next_tok(P);
            if (ends)
                for (size_t k = 0; ends[k]; k++)
                    if (is_name(P, ends[k])) goto out;
            nvec_push(P, &body, parse_statement(P));
        } else {
            syntax(P, "unexpected token");
        }
    }
out:
    P->depth--;
    *n_out = body.n;
    return body.v;
}

const jnode **jinja_parse(jctx *c, const jtok *toks, size_t n_toks, size_t *n_body)
{
    parser P = {.c = c, .t = toks, .n = n_toks};
    return parse_body(&P, NULL, n_body);
}
