/* vocab_util.h - helpers shared by the tokenizer tests: open a fixture vocabulary, tokenize and
 * detokenize into fresh buffers, print token ids and text, and read the reference vectors
 * (.inp cases separated by SEP, .out lines of space-separated ids). Include after check.h. */
#ifndef UH_TESTS_VOCAB_UTIL_H
#define UH_TESTS_VOCAB_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "gguf/gguf.h"
#include "text/vocab.h"

#define SEP "\n__ggml_vocab_test__\n"

/* Opens testdata/<rel> and loads its vocabulary; NULL (message printed) on failure. */
static inline vocab *open_vocab(const char *rel, gguf_file **f)
{
    char path[1024];
    uh_err err = {0};
    vocab *v = NULL;
    snprintf(path, sizeof path, "%s/%s", t_testdata(), rel);
    *f = NULL;
    if (gguf_open(path, f, &err)) {
        printf("  cannot open %s: %s\n", path, err.msg);
        return NULL;
    }
    if (vocab_load(*f, &v, &err)) {
        printf("  cannot load the vocab of %s: %s\n", path, err.msg);
        gguf_close(*f);
        *f = NULL;
    }
    return v;
}

static inline void close_vocab(vocab *v, gguf_file *f)
{
    vocab_free(v);
    gguf_close(f);
}

/* Tokenizes into a malloc'd array (caller frees); NULL on error, which is printed. */
static inline uh_token *tokenize(const vocab *v, const char *s, size_t len, int add_bos,
                                 int parse_special, int *n)
{
    uh_err err = {0};
    int cap = (int)len + 8;
    uh_token *ids = malloc((size_t)cap * sizeof *ids);
    int rc = ids ? vocab_tokenize(v, s, len, add_bos, parse_special, ids, cap, n, &err) : -1;
    if (rc) {
        printf("  tokenize failed: %d %s\n", rc, err.msg);
        free(ids);
        return NULL;
    }
    return ids;
}

/* Concatenated pieces of ids, NUL-terminated, malloc'd. */
static inline char *detokenize(const vocab *v, const uh_token *ids, int n, size_t *len)
{
    buf_t b;
    buf_init(&b, 0);
    for (int i = 0; i < n; i++) {
        char piece[256];
        int k = vocab_token_to_piece(v, ids[i], piece, sizeof piece);
        if (k < 0 || (size_t)k > sizeof piece || buf_append(&b, piece, (size_t)k) != 0) {
            buf_fini(&b);
            return NULL;
        }
    }
    return buf_steal(&b, len);
}

/* Prints text with C escapes, shortened to about 60 characters. */
static inline void print_text(const char *s, size_t len)
{
    printf("\"");
    size_t i = 0;
    /* stop near 60 bytes, but not inside a UTF-8 character */
    for (; i < len && (i < 60 || ((unsigned char)s[i] & 0xc0) == 0x80); i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            printf("\\n");
        else if (c == '\t')
            printf("\\t");
        else if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    printf(i < len ? "\"..." : "\"");
}

static inline void print_ids(const char *label, const uh_token *ids, int n)
{
    printf("    %s:", label);
    for (int i = 0; i < n && i < 40; i++) printf(" %d", ids[i]);
    printf(n > 40 ? " ...\n" : "\n");
}

static inline int ids_equal(const uh_token *a, int na, const uh_token *b, int nb)
{
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

/* The cases of a .inp file: pointers into buf (the separators are overwritten with NULs). */
typedef struct {
    char *text;
    size_t len;
} vcase;

static inline int split_cases(char *buf, size_t len, vcase *cases, int max)
{
    int n = 0;
    size_t sep_len = strlen(SEP);
    char *p = buf, *end = buf + len;
    while (p < end && n < max) {
        char *q = strstr(p, SEP);
        if (!q) break; /* the file ends with a separator: what is left is the empty tail */
        cases[n].text = p;
        cases[n].len = (size_t)(q - p);
        *q = 0;
        n++;
        p = q + sep_len;
    }
    return n;
}

/* Parses the next line of .out (space-separated ids) into ids; returns the count, -1 at EOF. */
static inline int next_expected(char **cursor, uh_token *ids, int max)
{
    char *p = *cursor;
    if (!*p) return -1;
    char *nl = strchr(p, '\n');
    if (nl) *nl = 0;
    *cursor = nl ? nl + 1 : p + strlen(p);
    int n = 0;
    for (;;) {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p) break;
        if (n < max) ids[n] = (uh_token)x;
        n++;
        p = end;
    }
    return n;
}

static inline int contains(const uh_token *ids, int n, uh_token t)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == t) return 1;
    return 0;
}

#endif
