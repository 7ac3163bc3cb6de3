/* jinja_lex.c - splits a template into text and tag tokens the way Jinja2's lexer does with
 * trim_blocks=True and lstrip_blocks=True:
 *  - newlines are normalised to "\n" and one trailing newline is dropped (keep_trailing_newline
 *    is off by default);
 *  - "{%-", "{{-", "{#-" strip all whitespace before the tag; "-%}", "-}}", "-#}" all after it;
 *  - trim_blocks: the first newline right after a block or comment tag is removed;
 *  - lstrip_blocks: spaces and tabs between the start of a line and a block or comment tag are
 *    removed ("{%+" turns that off for one tag, "+%}" turns trim_blocks off);
 *  - {% raw %}...{% endraw %} is passed through as text.
 * Inside tags: names, numbers, string literals (Python escapes) and operators. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "text/jinja.h"

typedef struct {
    jctx *c;
    const char *s;
    size_t n, pos;
    int line;
    size_t line_start;
    jtok *toks;
    size_t n_toks, cap;
} lexer;

static jtok *emit(lexer *L, int kind, size_t at)
{
    if (L->n_toks == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        jtok *nt = jalloc(L->c, cap * sizeof *nt);
        if (L->n_toks) memcpy(nt, L->toks, L->n_toks * sizeof *nt);
        L->toks = nt;
        L->cap = cap;
    }
    jtok *t = &L->toks[L->n_toks++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->line = L->line;
    t->col = (int)(at - L->line_start) + 1;
    return t;
}

/* Moves pos to `to`, counting lines. */
static void advance(lexer *L, size_t to)
{
    for (; L->pos < to; L->pos++)
        if (L->s[L->pos] == '\n') {
            L->line++;
            L->line_start = L->pos + 1;
        }
}

_Noreturn static void lex_fail(lexer *L, const char *what)
{
    jinja_fail(L->c, UH_EFORMAT, "template syntax error at %d:%d: %s", L->line,
               (int)(L->pos - L->line_start) + 1, what);
}

static int is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static size_t put_utf8(char *d, unsigned long cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xC0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string literal at pos (quote char); Python escapes; unknown escapes keep the backslash. */
static void lex_string(lexer *L)
{
    char q = L->s[L->pos];
    size_t start = L->pos, i = L->pos + 1;
    while (i < L->n && L->s[i] != q) i += L->s[i] == '\\' ? 2 : 1;
    if (i >= L->n) lex_fail(L, "unterminated string");
    char *d = jalloc(L->c, i - start + 1);
    size_t dn = 0;
    for (size_t k = start + 1; k < i; k++) {
        char ch = L->s[k];
        if (ch != '\\') {
            d[dn++] = ch;
            continue;
        }
        char e = L->s[++k];
        int width = 0;
        switch (e) {
        case 'n':
            d[dn++] = '\n';
            break;
        case 't':
            d[dn++] = '\t';
            break;
        case 'r':
            d[dn++] = '\r';
            break;
        case '\\':
            d[dn++] = '\\';
            break;
        case '\'':
            d[dn++] = '\'';
            break;
        case '"':
            d[dn++] = '"';
            break;
        case 'a':
            d[dn++] = '\a';
            break;
        case 'b':
            d[dn++] = '\b';
            break;
        case 'f':
            d[dn++] = '\f';
            break;
        case 'v':
            d[dn++] = '\v';
            break;
        case '\n':
            break; /* line continuation */
        case 'x':
            width = 2;
            break;
        case 'u':
            width = 4;
            break;
        case 'U':
            width = 8;
            break;
        default:
            if (e >= '0' && e <= '7') {
                unsigned long cp = 0;
                int m = 0;
                while (m < 3 && k < i && L->s[k] >= '0' && L->s[k] <= '7')
                    cp = cp * 8 + (unsigned long)(L->s[k++] - '0'), m++;
                k--;
                dn += put_utf8(d + dn, cp);
            } else {
                d[dn++] = '\\';
                d[dn++] = e;
            }
        }
        if (width) {
            unsigned long cp = 0;
            for (int m = 0; m < width; m++) {
                int h = k + 1 + (size_t)m < i ? hexval(L->s[k + 1 + (size_t)m]) : -1;
                if (h < 0) lex_fail(L, "truncated \\x, \\u or \\U escape");
                cp = cp * 16 + (unsigned long)h;
            }
            if (cp > 0x10FFFF) lex_fail(L, "escape outside the Unicode range");
            k += (size_t)width;
            /* the escape is at least as long as its UTF-8 form, so d has room */
            dn += put_utf8(d + dn, cp);
        }
    }
    jtok *t = emit(L, JT_STRING, start);
    t->s = d;
    t->len = dn;
    advance(L, i + 1);
}

static void lex_number(lexer *L)
{
    size_t start = L->pos, i = L->pos;
    int is_float = 0;
    while (i < L->n && (isdigit((unsigned char)L->s[i]) || L->s[i] == '_')) i++;
    if (i + 1 < L->n && L->s[i] == '.' && isdigit((unsigned char)L->s[i + 1])) {
        is_float = 1;
        i++;
        while (i < L->n && (isdigit((unsigned char)L->s[i]) || L->s[i] == '_')) i++;
    }
    if (i < L->n && (L->s[i] == 'e' || L->s[i] == 'E')) {
        size_t j = i + 1;
        if (j < L->n && (L->s[j] == '+' || L->s[j] == '-')) j++;
        if (j < L->n && isdigit((unsigned char)L->s[j])) {
            is_float = 1;
            i = j;
            while (i < L->n && isdigit((unsigned char)L->s[i])) i++;
        }
    }
    char buf[64];
    size_t bn = 0;
    for (size_t k = start; k < i && bn < sizeof buf - 1; k++)
        if (L->s[k] != '_') buf[bn++] = L->s[k];
    buf[bn] = 0;
    jtok *t = emit(L, is_float ? JT_FLOAT : JT_INT, start);
    if (is_float) {
        t->f = strtod(buf, NULL);
    } else {
        char *end;
        unsigned long long v = strtoull(buf, &end, 10);
        if (bn >= sizeof buf - 1 || v > INT64_MAX) lex_fail(L, "integer literal too large");
        t->i = (int64_t)v;
    }
    advance(L, i);
}

/* Tokens inside a {{ }} or {% %} tag up to and including its end; end = '}' or '%'. */
static void lex_tag(lexer *L, char end)
{
    int nest = 0; /* open brackets: the end marker is not recognised inside them, as in Jinja */
    for (;;) {
        while (L->pos < L->n && is_ws(L->s[L->pos])) advance(L, L->pos + 1);
        if (L->pos >= L->n) lex_fail(L, end == '%' ? "missing %}" : "missing }}");
        const char *p = L->s + L->pos;
        size_t left = L->n - L->pos;
        if (!nest) {
            int strip = (*p == '-' || *p == '+') && left >= 3 && p[1] == end && p[2] == '}';
            if (strip || (left >= 2 && p[0] == end && p[1] == '}')) {
                emit(L, end == '%' ? JT_BLOCK_END : JT_VAR_END, L->pos);
                advance(L, L->pos + (strip ? 3 : 2));
                if (strip && *p == '-') {
                    while (L->pos < L->n && is_ws(L->s[L->pos])) advance(L, L->pos + 1);
                } else if (!strip && end == '%' && L->pos < L->n && L->s[L->pos] == '\n') {
                    advance(L, L->pos + 1); /* trim_blocks */
                }
                return;
            }
        }
        if (*p == '"' || *p == '\'') {
            lex_string(L);
        } else if (isdigit((unsigned char)*p)) {
            lex_number(L);
        } else if (isalpha((unsigned char)*p) || *p == '_') {
            size_t i = L->pos;
            while (i < L->n && (isalnum((unsigned char)L->s[i]) || L->s[i] == '_')) i++;
            jtok *t = emit(L, JT_NAME, L->pos);
            t->s = p;
            t->len = i - L->pos;
            advance(L, i);
        } else {
            static const struct {
                const char *s;
                int op;
            } two[] = {{"==", JO_EQ}, {"!=", JO_NE},       {"<=", JO_LE},
                       {">=", JO_GE}, {"//", JO_FLOORDIV}, {"**", JO_POW}};
            int op = 0, w = 1;
            for (size_t k = 0; k < sizeof two / sizeof two[0]; k++)
                if (left >= 2 && p[0] == two[k].s[0] && p[1] == two[k].s[1]) op = two[k].op, w = 2;
            if (!op) {
                if (!strchr("+-*/%~<>=()[]{},.:|", *p) || !*p) lex_fail(L, "unexpected character");
                op = (unsigned char)*p;
                if (op == '(' || op == '[' || op == '{') nest++;
                if ((op == ')' || op == ']' || op == '}') && nest > 0) nest--;
            }
            jtok *t = emit(L, JT_OP, L->pos);
            t->op = op;
            advance(L, L->pos + (size_t)w);
        }
        if (L->n_toks > 4000000) lex_fail(L, "too many tokens");
    }
}

/* At pos: "{% raw %}" (with optional -/+ markers)? Returns the position after it, or 0. */
static size_t match_raw(const char *s, size_t n, size_t pos, const char *word)
{
    size_t i = pos + 2;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    while (i < n && is_ws(s[i])) i++;
    size_t wl = strlen(word);
    if (n - i < wl || memcmp(s + i, word, wl) != 0) return 0;
    i += wl;
    while (i < n && is_ws(s[i])) i++;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    if (n - i < 2 || s[i] != '%' || s[i + 1] != '}') return 0;
    return i + 2;
}

static void emit_text(lexer *L, size_t from, size_t to)
{
    if (to <= from) return;
    jtok *t = emit(L, JT_TEXT, from);
    t->s = L->s + from;
    t->len = to - from;
}

void jinja_lex(jctx *c, const char *src, size_t len, jtok **out, size_t *n_out)
{
    /* normalise newlines; drop one trailing newline */
    char *s = jalloc(c, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[n++] = src[i];
        }
    }
    if (n && s[n - 1] == '\n') n--;
    lexer L = {.c = c, .s = s, .n = n, .line = 1};
    int line_starting = 1; /* the text so far ends at a line start (for lstrip_blocks) */
    while (L.pos < n) {
        size_t text_start = L.pos, tag = L.pos;
        while (tag + 1 < n &&
               !(s[tag] == '{' && (s[tag + 1] == '{' || s[tag + 1] == '%' || s[tag + 1] == '#')))
            tag++;
        if (tag + 1 >= n) { /* no more tags */
            emit_text(&L, text_start, n);
            advance(&L, n);
            break;
        }
        char kind = s[tag + 1];
        char sign = tag + 2 < n ? s[tag + 2] : 0;
        size_t text_end = tag;
        if (sign == '-') {
            while (text_end > text_start && is_ws(s[text_end - 1])) text_end--;
        } else if (sign != '+' && kind != '{') {
            size_t l = text_end;
            while (l > text_start &&
                   (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\v' || s[l - 1] == '\f'))
                l--;
            int at_line_start = l > text_start ? s[l - 1] == '\n' : line_starting;
            if (at_line_start && l < text_end) text_end = l;
        }
        /* {% raw %}: everything up to {% endraw %} is text */
        size_t after_raw = kind == '%' ? match_raw(s, n, tag, "raw") : 0;
        if (after_raw) {
            emit_text(&L, text_start, text_end);
            size_t k = after_raw, end_at = 0, after_end = 0;
            for (; k + 1 < n; k++)
                if (s[k] == '{' && s[k + 1] == '%' && (after_end = match_raw(s, n, k, "endraw"))) {
                    end_at = k;
                    break;
                }
            if (!end_at) {
                advance(&L, tag);
                lex_fail(&L, "missing {% endraw %}");
            }
            size_t body_end = end_at;
            if (s[end_at + 2] == '-')
                while (body_end > after_raw && is_ws(s[body_end - 1])) body_end--;
            size_t body_start = after_raw;
            if (s[after_raw - 3] == '-')
                while (body_start < body_end && is_ws(s[body_start])) body_start++;
            else if (s[after_raw - 3] != '+' && body_start < n && s[body_start] == '\n')
                body_start++;
            advance(&L, body_start);
            emit_text(&L, body_start, body_end);
            advance(&L, after_end);
            if (s[after_end - 3] == '-')
                while (L.pos < n && is_ws(s[L.pos])) advance(&L, L.pos + 1);
            else if (s[after_end - 3] != '+' && L.pos < n && s[L.pos] == '\n')
                advance(&L, L.pos + 1);
            line_starting = L.pos > 0 && s[L.pos - 1] == '\n';
            continue;
        }
        emit_text(&L, text_start, text_end);
        advance(&L, tag);
        size_t body = tag + 2 + (sign == '-' || sign == '+');
        if (kind == '#') {
            size_t k = body;
            while (k + 1 < n && !(s[k] == '#' && s[k + 1] == '}')) k++;
            if (k + 1 >= n) lex_fail(&L, "unterminated comment");
            int strip = k > body && s[k - 1] == '-';
            int keep = k > body && s[k - 1] == '+';
            advance(&L, k + 2);
            if (strip)
                while (L.pos < n && is_ws(s[L.pos])) advance(&L, L.pos + 1);
            else if (!keep && L.pos < n && s[L.pos] == '\n')
                advance(&L, L.pos + 1);
        } else {
            emit(&L, kind == '{' ? JT_VAR_BEGIN : JT_BLOCK_BEGIN, tag);
            advance(&L, body);
            lex_tag(&L, kind == '{' ? '}' : '%');
        }
        line_starting = L.pos > 0 && s[L.pos - 1] == '\n';
    }
    emit(&L, JT_EOF, L.pos);
    *out = L.toks;
    *n_out = L.n_toks;
}
