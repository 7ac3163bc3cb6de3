/* test_tok_merge.c - the merge order of long runs: the bucket queue that BPE and SentencePiece
 * use for long pieces gives exactly what the plain algorithms give, on random inputs from
 * every fixture vocab of those families.
 *
 * Two references: a straightforward O(n^2) merge written here (scan every adjacent pair, merge
 * the best, repeat) on inputs of a few thousand characters, and the tokenizers' own heap path
 * (tok_force_heap) on inputs of a few hundred KB. Alphabets are small ("ab"), plain letters,
 * and mixes with multi-byte characters, digits, punctuation, rare spaces and an invalid byte,
 * so merges go deep, ties are frequent and byte fallback happens. The fixture vocabs all make
 * pairs in rank order, so the queue's side heap and its sorting of buckets are proven apart,
 * by random pushes and pops against a plain minimum search. */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gguf/gguf.h"
#include "text/merge_queue.h"
#include "text/pretok.h"
#include "text/vocab_impl.h"

static uint32_t rng = 20240601;
static uint32_t rnd(uint32_t n)
{
    rng = rng * 1664525u + 1013904223u;
    return (rng >> 8) % n;
}

static const char *const alphabets[][12] = {
    {"a", "b"},
    {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"},
    {"t", "h", "e", "r", "s", "n", "o", "i", "n", "g", "\xc3\xa9", "\xe6\x97\xa5"},
    {"a", "e", "s", "t", "1", "2", "-", ".", "'", " ", "\xff", "\xc3\x9f"},
};
#define N_ALPHABETS (int)(sizeof alphabets / sizeof alphabets[0])

/* len bytes or a few more of random characters from alphabet k (spaces only one in 200). */
static size_t make_input(char *buf, size_t len, int k)
{
    int n = 0;
    while (n < 12 && alphabets[k][n]) n++;
    size_t at = 0;
    while (at < len) {
        const char *c = alphabets[k][rnd((uint32_t)n)];
        if (c[0] == ' ' && rnd(200)) c = "a";
        size_t cl = strlen(c);
        memcpy(buf + at, c, cl);
        at += cl;
    }
    return at;
}

/* ---- straightforward SentencePiece ---- */

static uh_token spm_token(const vocab *v, const char *s, size_t len)
{
    uh_token id = vocab_find(v, s, len);
    if (id < 0) return -1;
    int t = vocab_token_type(v, id);
    return t == VOCAB_T_CONTROL || t == VOCAB_T_UNKNOWN || t == VOCAB_T_BYTE || t == VOCAB_T_UNUSED
               ? -1
               : id;
}

/* Spaces become U+2581, one symbol per UTF-8 character, then the best pair (highest score,
 * leftmost) merges until none forms a token. */
static int naive_spm(const vocab *v, const char *raw, size_t raw_len, uh_token *out)
{
    char *text = malloc(3 * raw_len + 1);
    size_t len = 0;
    for (size_t i = 0; i < raw_len; i++)
        if (raw[i] == ' ')
            memcpy(text + len, "\xe2\x96\x81", 3), len += 3;
        else
            text[len++] = raw[i];
    size_t *off = malloc((len + 1) * sizeof *off), n = 0;
    for (size_t i = 0; i < len; i += vocab_utf8_len((const unsigned char *)text + i, len - i))
        off[n++] = i;
    off[n] = len;
    for (;;) {
        size_t best = n;
        float best_score = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            uh_token id = spm_token(v, text + off[i], off[i + 2] - off[i]);
            if (id < 0) continue;
            float s = vocab_token_score(v, id);
            if (best == n || s > best_score) best = i, best_score = s;
        }
        if (best == n) break;
        memmove(off + best + 1, off + best + 2, (n - best - 1) * sizeof *off);
        n--;
    }
    int n_out = 0;
    for (size_t i = 0; i < n; i++) {
        size_t sl = off[i + 1] - off[i];
        uh_token id = spm_token(v, text + off[i], sl);
        if (id >= 0) {
            out[n_out++] = id;
            continue;
        }
        size_t k = 0;
        while (k < sl && v->byte_tok[(unsigned char)text[off[i] + k]] >= 0) k++;
        if (k == sl)
            for (k = 0; k < sl; k++) out[n_out++] = v->byte_tok[(unsigned char)text[off[i] + k]];
        else
            out[n_out++] = v->unk;
    }
    free(off);
    free(text);
    return n_out;
}

/* ---- straightforward byte-level BPE ---- */

typedef struct {
    uint64_t pair; /* left << 32 | right */
    uint32_t rank;
    uh_token result;
} rule;

typedef struct {
    const vocab *v;
    rule *rules;
    size_t n_rules;
    uh_token *out;
    int n_out;
} naive_bpe;

static int by_pair_then_rank(const void *a, const void *b)
{
    const rule *x = a, *y = b;
    if (x->pair != y->pair) return x->pair < y->pair ? -1 : 1;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

/* The rules as token ids, sorted for bsearch; a pair listed twice keeps its first rank. */
static void load_rules(naive_bpe *nb, const vocab *v)
{
    nb->v = v;
    nb->rules = malloc((v->n_merges + 1) * sizeof *nb->rules);
    nb->n_rules = 0;
    char cat[1024];
    for (uint64_t i = 0; i < v->n_merges; i++) {
        const gguf_str *m = &v->merges[i];
        const char *sp = m->len > 1 ? memchr(m->ptr + 1, ' ', (size_t)m->len - 1) : NULL;
        if (!sp || m->len > sizeof cat) continue;
        size_t nl = (size_t)(sp - m->ptr), nr = (size_t)m->len - nl - 1;
        memcpy(cat, m->ptr, nl);
        memcpy(cat + nl, sp + 1, nr);
        uh_token l = vocab_find(v, m->ptr, nl), r = vocab_find(v, sp + 1, nr);
        uh_token res = vocab_find(v, cat, nl + nr);
        if (l < 0 || r < 0 || res < 0) continue;
        nb->rules[nb->n_rules++] = (rule){(uint64_t)l << 32 | (uint32_t)r, (uint32_t)i, res};
    }
    qsort(nb->rules, nb->n_rules, sizeof *nb->rules, by_pair_then_rank);
    size_t k = 0;
    for (size_t i = 0; i < nb->n_rules; i++)
        if (k == 0 || nb->rules[k - 1].pair != nb->rules[i].pair) nb->rules[k++] = nb->rules[i];
    nb->n_rules = k;
}

static const rule *find_rule(const naive_bpe *nb, uh_token l, uh_token r)
{
    if (l < 0 || r < 0) return NULL;
    rule key = {(uint64_t)l << 32 | (uint32_t)r, 0, 0};
    const rule *lo = nb->rules;
    size_t n = nb->n_rules;
    while (n > 0) { /* first rule with pair >= key */
        size_t half = n / 2;
        if (lo[half].pair < key.pair) {
            lo += half + 1;
            n -= half + 1;
        } else {
            n = half;
        }
    }
    return lo < nb->rules + nb->n_rules && lo->pair == key.pair ? lo : NULL;
}

static void naive_emit(naive_bpe *nb, uh_token id)
{
    if (id >= 0)
        nb->out[nb->n_out++] = id;
    else if (nb->v->unk >= 0)
        nb->out[nb->n_out++] = nb->v->unk;
}

static int naive_piece(void *ctx, const char *piece, size_t len)
{
    naive_bpe *nb = ctx;
    const vocab *v = nb->v;
    const unsigned char *s = (const unsigned char *)piece;
    if (pretok_ignores_merges(v->pre) && len > 1) { /* Llama 3: a piece that is a token */
        char *mapped = malloc(4 * len + 1);
        size_t n = 0, tl = 0;
        int ok = 1;
        for (size_t i = 0; i < len && ok; i++) {
            const char *t =
                v->byte_char[s[i]] >= 0 ? vocab_token_text(v, v->byte_char[s[i]], &tl) : NULL;
            if (!t)
                ok = 0;
            else
                memcpy(mapped + n, t, tl), n += tl;
        }
        uh_token whole = ok ? vocab_find(v, mapped, n) : -1;
        free(mapped);
        if (whole >= 0) {
            naive_emit(nb, whole);
            return 0;
        }
    }
    uh_token *ids = malloc(len * sizeof *ids);
    size_t n = len;
    for (size_t i = 0; i < len; i++) ids[i] = v->byte_char[s[i]];
    for (;;) {
        size_t best = n;
        const rule *best_rule = NULL;
        for (size_t i = 0; i + 1 < n; i++) {
            const rule *r = find_rule(nb, ids[i], ids[i + 1]);
            if (r && (!best_rule || r->rank < best_rule->rank)) best = i, best_rule = r;
        }
        if (!best_rule) break;
        ids[best] = best_rule->result;
        memmove(ids + best + 1, ids + best + 2, (n - best - 2) * sizeof *ids);
        n--;
    }
    for (size_t i = 0; i < n; i++) naive_emit(nb, ids[i]);
    free(ids);
    return 0;
}

/* ---- the comparisons ---- */

static int same(const uh_token *a, int na, const uh_token *b, int nb)
{
    return na == nb && memcmp(a, b, (size_t)na * sizeof *a) == 0;
}

/* Tokens of text from the tokenizer proper (no BOS, no special tokens); -1 on error. */
static int run_tokenizer(const vocab *v, const char *text, size_t len, int force_heap,
                         uh_token *out, int cap)
{
    uh_err err = {0};
    int n = 0;
    tok_force_heap = force_heap;
    int rc = vocab_tokenize(v, text, len, 0, 0, out, cap, &n, &err);
    tok_force_heap = 0;
    if (rc) printf("  tokenize: %s\n", err.msg);
    return rc ? -1 : n;
}

static void check_vocab(const char *file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer/%s", t_testdata(), file);
    gguf_file *f = NULL;
    vocab *v = NULL;
    uh_err err = {0};
    if (gguf_open(path, &f, &err) || vocab_load(f, &v, &err)) {
        CHECKF(0, "%s: %s", file, err.msg);
        gguf_close(f);
        return;
    }
    enum vocab_family fam = vocab_family_of(v);
    if (fam != VOCAB_SPM && fam != VOCAB_BPE) goto done;
    size_t big = 256 * 1024, cap = big + 64;
    char *text = malloc(cap);
    uh_token *got = malloc(cap * sizeof *got), *want = malloc(cap * sizeof *want);
    naive_bpe nb = {0};
    if (fam == VOCAB_BPE) load_rules(&nb, v);

    /* against the O(n^2) merge: a few thousand bytes, past the queue's threshold */
    for (int k = 0; k < N_ALPHABETS; k++) {
        for (int rep = 0; rep < 2; rep++) {
            size_t len = make_input(text, 1500 + rnd(1500), k);
            int n_want;
            if (fam == VOCAB_SPM) {
                /* spm_tokenize directly: no space prefix, no special-token splitting */
                tok_sink sink = {got, (int)cap, 0};
                int rc = spm_tokenize(v, text, len, 0, &sink, &err);
                CHECKF(rc == 0, "%s: %s", file, err.msg);
                n_want = naive_spm(v, text, len, want);
                CHECKF(same(got, sink.n, want, n_want), "%s alphabet %d: %d tokens, naive %d", file,
                       k, sink.n, n_want);
            } else {
                pretok_scratch scratch;
                nb.out = want;
                nb.n_out = 0;
                CHECK(pretok_scratch_init(v->pre, &scratch, &err) == 0);
                CHECK(pretok_split(v->pre, &scratch, text, len, naive_piece, &nb, &err) == 0);
                pretok_scratch_fini(&scratch);
                int n = run_tokenizer(v, text, len, 0, got, (int)cap);
                CHECKF(same(got, n, want, nb.n_out), "%s alphabet %d: %d tokens, naive %d", file, k,
                       n, nb.n_out);
            }
        }
    }

    /* against the heap: long inputs */
    for (int k = 0; k < N_ALPHABETS; k++) {
        size_t len = make_input(text, big - 16, k);
        int n_got = run_tokenizer(v, text, len, 0, got, (int)cap);
        int n_want = run_tokenizer(v, text, len, 1, want, (int)cap);
        CHECKF(n_got > 0 && same(got, n_got, want, n_want), "%s alphabet %d: %d tokens, heap %d",
               file, k, n_got, n_want);
    }
    free(nb.rules);
    free(text);
    free(got);
    free(want);
done:
    vocab_free(v);
    gguf_close(f);
}

static void queue_matches_plain_merging(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tokenizer", t_testdata());
    DIR *d = opendir(dir);
    CHECKF(d != NULL, "cannot open %s", dir);
    if (!d) return;
    int n_checked = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".gguf") != 0) continue;
        check_vocab(e->d_name);
        n_checked++;
    }
    closedir(d);
    CHECK(n_checked > 0);
}

/* Random pushes (classes below, at and above the one being drained, positions in any order,
 * duplicates) interleaved with pops: every pop must be the smallest (class, pos) present. */
static void queue_pops_in_key_order(void)
{
    for (int round = 0; round < 20; round++) {
        uint32_t n_classes = round < 10 ? 1 + rnd(100) : 1 + rnd(300000);
        merge_queue q;
        CHECK(merge_queue_init(&q, n_classes) == 0);
        size_t cap = 20000, n = 0;
        uint64_t *ref = malloc(cap * sizeof *ref);
        int bad = 0;
        for (int op = 0; op < 20000 && !bad; op++) {
            if (n < cap && rnd(3) != 0) {
                uint32_t c = rnd(n_classes), p = rnd(round % 2 ? 50 : 1000000);
                CHECK(merge_queue_push(&q, c, p) == 0);
                ref[n++] = (uint64_t)c << 32 | p;
            } else {
                uint32_t c = 0, p = 0;
                int got = merge_queue_pop(&q, &c, &p);
                size_t m = 0;
                for (size_t i = 1; i < n; i++)
                    if (ref[i] < ref[m]) m = i;
                if (n == 0) {
                    bad = got != 0;
                } else {
                    bad = got != 1 || ((uint64_t)c << 32 | p) != ref[m];
                    ref[m] = ref[--n];
                }
            }
        }
        uint32_t c, p;
        while (!bad && n > 0) { /* drain what is left */
            size_t m = 0;
            for (size_t i = 1; i < n; i++)
                if (ref[i] < ref[m]) m = i;
            bad = merge_queue_pop(&q, &c, &p) != 1 || ((uint64_t)c << 32 | p) != ref[m];
            ref[m] = ref[--n];
        }
        CHECKF(!bad && merge_queue_pop(&q, &c, &p) == 0, "round %d (%u classes)", round,
               (unsigned)n_classes);
        merge_queue_reset(&q); /* empty again: a new run starts clean */
        CHECK(merge_queue_push(&q, 0, 5) == 0 && merge_queue_pop(&q, &c, &p) == 1 && c == 0 &&
              p == 5);
        merge_queue_fini(&q);
        free(ref);
    }
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    T_RUN(queue_pops_in_key_order);
    T_RUN(queue_matches_plain_merging);
    return t_exit();
}
