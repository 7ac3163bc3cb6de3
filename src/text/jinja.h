/* jinja.h - internals of the chat-template engine (template.h is the public face): the arena,
 * values, tokens, syntax tree and the evaluation context shared by jinja_*.c.
 *
 * Memory: everything a render allocates (tokens, tree, values, output) comes from one arena that
 * is freed in one go when the render ends. Errors unwind with longjmp back to the render's entry
 * (jinja_fail), which is safe because nothing outside the arena is held across an evaluation;
 * this keeps the hundreds of fallible operations of an interpreter free of cleanup paths.
 * Values are immutable once built, except namespaces and loop objects, which Jinja itself
 * mutates in place; so values are shared freely by copying the jv struct. */
#ifndef UH_TEXT_JINJA_H
#define UH_TEXT_JINJA_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include "unhosted_base.h"

typedef struct cJSON cJSON;

/* ---- arena ---- */

typedef struct jchunk jchunk;
typedef struct {
    jchunk *head;
    size_t used;  /* bytes handed out in all chunks (for the cap) */
    size_t limit; /* cap on used */
} jarena;

/* ---- values ---- */

enum jv_type {
    JV_UNDEF, /* u.s holds the message raised when the value is used in a way Jinja rejects */
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST, /* list or tuple (tuple flag) */
    JV_DICT,
    JV_NS,   /* namespace(): a dict whose attributes can be assigned */
    JV_LOOP, /* the loop variable of a for */
    JV_MACRO,
    JV_FUNC, /* built-in function or bound method */
};

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jloop jloop;
typedef struct jmacro jmacro;
typedef struct jfunc jfunc;

typedef struct jv {
    uint8_t t;
    uint8_t tuple; /* JV_LIST: print as a tuple */
    union {
        int64_t i; /* JV_INT, JV_BOOL */
        double f;
        struct {
            const char *p; /* not NUL-terminated; UTF-8 */
            size_t n;
        } s;
        jlist *l;
        jdict *d;
        jloop *loop;
        jmacro *m;
        jfunc *fn;
    } u;
} jv;

/* Lists and dicts record their nesting depth (1 + deepest child list/dict) and refuse to grow
 * past JV_MAX_NEST, so the recursive walks (==, <, repr, tojson) stay within the C stack.
 * Namespaces do not count: they are compared by identity and guarded where printed. */
#define JV_MAX_NEST 512

struct jlist {
    jv *v;
    size_t n, cap;
    int depth;
};

struct jdict { /* insertion-ordered; linear lookup (templates use small dicts) */
    jv *k, *v;
    size_t n, cap;
    int depth;
};

struct jloop {
    jlist *items; /* the (filtered) sequence iterated */
    size_t i;     /* index0 */
    int depth;    /* 1 for the outermost loop */
};

typedef struct jnode jnode;
typedef struct jscope jscope;

struct jmacro {
    const jnode *def;
    jscope *scope; /* where it was defined: free names resolve there at call time */
};

struct jfunc {
    int id;  /* JF_* in jinja_builtin.c */
    jv self; /* bound object for methods */
    const char *name;
};

struct jscope {
    jscope *parent;
    jdict vars;
};

/* ---- tokens ---- */

enum jtok_kind {
    JT_EOF,
    JT_TEXT,
    JT_VAR_BEGIN,
    JT_VAR_END,
    JT_BLOCK_BEGIN,
    JT_BLOCK_END,
    JT_NAME,
    JT_STRING,
    JT_INT,
    JT_FLOAT,
    JT_OP,
};

/* multi-character operators; single-character ones use their own character as the code */
enum { JO_EQ = 256, JO_NE, JO_LE, JO_GE, JO_FLOORDIV, JO_POW };
/* comparison codes of JN_CMP beyond the operator tokens */
enum { JC_IN = 1000, JC_NOTIN };

typedef struct {
    int kind;
    int op;
    int line, col;
    const char *s; /* JT_TEXT, JT_NAME, JT_STRING (unescaped) */
    size_t len;
    int64_t i;
    double f;
} jtok;

/* ---- syntax tree ---- */

enum jnode_kind {
    /* expressions */
    JN_LIT,
    JN_NAME,
    JN_ATTR,
    JN_ITEM,
    JN_SLICE,
    JN_CALL,
    JN_FILTER,
    JN_TEST,
    JN_BIN,
    JN_UNARY,
    JN_AND,
    JN_OR,
    JN_CMP,
    JN_COND,
    JN_LIST,
    JN_TUPLE,
    JN_DICT,
    /* statements */
    JN_TEXT,
    JN_OUT,
    JN_IF,
    JN_FOR,
    JN_SET,
    JN_MACRO,
    JN_FILTERBLOCK,
    JN_BREAK,
    JN_CONTINUE,
};

struct jnode {
    int kind;
    int line;
    int op; /* JN_BIN/JN_UNARY operator; JN_TEST negated; JN_FOR n targets */
    const jnode *a, *b, *c;
    const jnode **list; /* args, items, body, slice parts, compare operands */
    size_t n;
    const jnode **list2; /* keyword values, dict values, else body, macro defaults */
    size_t n2;
    const char **names; /* keyword names, for targets, macro params */
    size_t n_names;
    int *ops;      /* JN_CMP operators */
    const char *s; /* name, text */
    size_t len;
    jv val; /* JN_LIT */
};

/* ---- context ---- */

typedef struct {
    char *p;
    size_t n, cap;
} jbuf;

typedef struct jctx {
    jarena arena;
    uh_err *err;
    jmp_buf jb;
    uint64_t steps, max_steps;
    int depth, max_depth;
    int macro_depth, max_macro_depth;
    size_t max_out;
    jbuf *out;       /* where output goes now (a capture buffer inside macros) */
    jscope *globals; /* the variables the caller passed */
    int flow;        /* JFLOW_* while unwinding out of a loop body */
    int line;        /* line being evaluated, for messages */
    int loop_depth;
} jctx;

enum { JFLOW_NONE, JFLOW_BREAK, JFLOW_CONTINUE };

/* ---- jinja_value.c ---- */

void jarena_init(jarena *a, size_t limit);
void jarena_fini(jarena *a);
/* Zeroed memory from the arena; raises UH_ELIMIT / UH_ENOMEM through ctx. */
void *jalloc(jctx *c, size_t size);

_Noreturn void jinja_fail(jctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Runtime error with the current line appended. */
_Noreturn void jinja_rt(jctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

jv jv_none(void);
jv jv_bool(int b);
jv jv_int(int64_t i);
jv jv_float(double f);
jv jv_str(const char *p, size_t n); /* borrows p */
jv jv_cstr(const char *p);
jv jv_str_copy(jctx *c, const char *p, size_t n);
jv jv_undef(const char *msg);
jv jv_undef_name(jctx *c, const char *name, size_t len);
jv jv_undef_attr(jctx *c, jv obj, const char *name, size_t len);
jv jv_list_new(jctx *c, size_t cap);
void jlist_push(jctx *c, jlist *l, jv v);
jv jv_dict_new(jctx *c);
void jdict_set(jctx *c, jdict *d, jv k, jv v);
jv *jdict_get(const jdict *d, jv k);
jv *jdict_get_str(const jdict *d, const char *s, size_t n);
jv jv_from_json(jctx *c, const cJSON *j);

const char *jv_type_name(jv v); /* Python's name: "str", "dict", "NoneType" ... */
int jv_truthy(jv v);
int jv_eq(jv a, jv b);
int jv_is_num(jv v); /* int, float or bool */
double jv_num(jv v);
/* Python's str() and repr() of v, appended to b. */
void jv_write_str(jctx *c, jbuf *b, jv v);
void jv_write_repr(jctx *c, jbuf *b, jv v);
jv jv_to_str(jctx *c, jv v);
/* json.dumps(v, ensure_ascii=False, indent=indent (<0: none)) appended to b. */
void jv_write_json(jctx *c, jbuf *b, jv v, int indent, int level);
void jbuf_put(jctx *c, jbuf *b, const char *p, size_t n);
void jbuf_putc(jctx *c, jbuf *b, char ch);
jv jbuf_value(jbuf *b);
/* Number of UTF-8 code points in s; offsets of code point i (i <= count). */
size_t jutf8_count(const char *s, size_t n);
size_t jutf8_offset(const char *s, size_t n, size_t i);
/* Sequence view: lists as they are, strings as lists of one-code-point strings, dicts as their
 * keys, undefined as empty. Raises a type error for anything else. */
jlist *jv_iter(jctx *c, jv v);

/* ---- jinja_lex.c ---- */

/* Tokenizes src; *out is an arena array ending with JT_EOF. Raises UH_EFORMAT on errors. */
void jinja_lex(jctx *c, const char *src, size_t len, jtok **out, size_t *n_out);

/* ---- jinja_parse.c ---- */

/* The template's statements as one JN_* body list. */
const jnode **jinja_parse(jctx *c, const jtok *toks, size_t n_toks, size_t *n_body);

/* ---- jinja_eval.c ---- */

void jinja_exec_body(jctx *c, jscope *s, const jnode **body, size_t n);
jv jinja_eval(jctx *c, jscope *s, const jnode *e);
jv jinja_call_value(jctx *c, jv fn, jv *args, size_t n_args, const char **kw, jv *kwv, size_t n_kw);
jv jinja_getattr(jctx *c, jv obj, const char *name, size_t len);
jv jinja_getitem(jctx *c, jv obj, jv key);
void jinja_step(jctx *c);

/* ---- jinja_builtin.c / jinja_filter.c ---- */

typedef struct {
    jv *pos;
    size_t n_pos;
    const char **kw;
    jv *kwv;
    size_t n_kw;
} jargs;

/* Argument pos (or keyword name); JV_UNDEF with a NULL message when absent. */
jv jargs_get(const jargs *a, size_t pos, const char *name);
jv jinja_filter(jctx *c, const char *name, jv v, const jargs *a);
int jinja_test(jctx *c, const char *name, jv v, const jargs *a);
/* Global functions (range, namespace, dict, raise_exception) and methods of str/dict;
 * JV_UNDEF when there is none of that name. */
jv jinja_global(jctx *c, const char *name, size_t len);
jv jinja_method(jctx *c, jv self, const char *name, size_t len);
jv jinja_call_func(jctx *c, const jfunc *f, const jargs *a);
/* Python ordering (-1, 0, 1; raises for unorderable types) and the `in` operator. */
int jinja_compare(jctx *c, jv a, jv b);
int jinja_contains(jctx *c, jv hay, jv needle);
/* String helpers shared by filters and methods; s must be a string. */
enum { JCASE_LOWER, JCASE_UPPER, JCASE_TITLE, JCASE_CAPITALIZE };
jv jstr_case(jctx *c, jv s, int mode);
jv jstr_strip(jctx *c, jv s, jv chars, int left, int right);
jv jstr_replace(jctx *c, jv s, jv old, jv repl, int64_t count);
/* printf-style "fmt % args" of Python strings. */
jv jinja_percent(jctx *c, jv fmt, jv args);

#endif
