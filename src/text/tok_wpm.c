/* tok_wpm.c - WordPiece (tokenizer.ggml.model "bert").
 *
 * Basic tokenization as BERT does it: control characters (and U+0000, U+FFFD) are dropped,
 * whitespace separates words, every punctuation character and every CJK ideograph is a word of
 * its own; an uncased vocab also lowercases and strips accents (canonical decomposition, then
 * the nonspacing marks removed). Then each word is cut greedily, longest match first, into
 * vocab pieces; a word that cannot be cut completely becomes one unknown token.
 *
 * Vocab conventions: the original BERT vocab marks continuation pieces with "##"; GGUF files
 * converted for llama.cpp instead mark word starts with U+2581 ("▁hello", then "hrer"). Both
 * are recognised at load time. Invalid UTF-8 bytes are kept in their word as they are, so such a
 * word usually ends up unknown. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "text/unicode.h"
#include "text/vocab_impl.h"

static const char word_mark[3] = {'\xe2', '\x96', '\x81'}; /* U+2581 */

/* ---- prefix filter ---- */

static uint32_t prefix_bit(const vocab *v, uint32_t h)
{
    return (h * 0x9e3779b1u) >> (32 - v->wpm_prefix_bits_log2);
}

static int maybe_prefix(const vocab *v, uint32_t h)
{
    uint32_t b = prefix_bit(v, h);
    return v->wpm_prefix_bits[b >> 3] >> (b & 7) & 1;
}

/* Records the hash of every prefix of every token, so the longest match can stop extending as
 * soon as no token starts with the text so far: in a long word of random letters that is after
 * a few bytes, where trying every length up to the longest token costs a dozen failed lookups
 * per piece. Without memory for it, matching just tries every length. */
static void build_prefix_filter(vocab *v)
{
    size_t n_prefixes = 0;
    for (int id = 0; id < v->n_tokens; id++) n_prefixes += v->tokens[id].len;
    v->wpm_prefix_bits_log2 = 12;
    while (((size_t)1 << v->wpm_prefix_bits_log2) < 16 * n_prefixes && v->wpm_prefix_bits_log2 < 30)
        v->wpm_prefix_bits_log2++;
    v->wpm_prefix_bits = calloc(((size_t)1 << v->wpm_prefix_bits_log2) / 8, 1);
    if (!v->wpm_prefix_bits) return;
    for (int id = 0; id < v->n_tokens; id++) {
        const gguf_str *t = &v->tokens[id];
        uint32_t h = VOCAB_HASH_INIT;
        for (size_t i = 0; i < t->len; i++) {
            h = vocab_hash_step(h, (unsigned char)t->ptr[i]);
            uint32_t b = prefix_bit(v, h);
            v->wpm_prefix_bits[b >> 3] |= (uint8_t)(1u << (b & 7));
        }
    }
}

void wpm_load(vocab *v)
{
    int n_mark = 0, n_hash = 0, n_upper = 0;
    for (int id = 0; id < v->n_tokens; id++) {
        const gguf_str *t = &v->tokens[id];
        if (v->type[id] != VOCAB_T_NORMAL) continue;
        if (t->len >= 3 && memcmp(t->ptr, word_mark, 3) == 0) n_mark++;
        if (t->len > 2 && t->ptr[0] == '#' && t->ptr[1] == '#') n_hash++;
        for (size_t i = 0; i < t->len; i++)
            if (t->ptr[i] >= 'A' && t->ptr[i] <= 'Z') {
                n_upper++;
                break;
            }
    }
    v->wpm_hash_prefix = n_hash > n_mark;
    v->wpm_uncased = n_upper == 0;
    build_prefix_filter(v);
}

/* Per-call state: the current word as it will be looked up (with its mark in front). */
typedef struct {
    const vocab *v;
    tok_sink *out;
    uh_err *err;
    char *word;
    size_t len, cap, start; /* start: bytes of the prefix (the mark, or nothing) */
    uint32_t *hash;         /* [v->max_token_len + 1] prefix hashes of the current match */
} wpm_state;

static int word_add(wpm_state *st, const void *s, size_t n)
{
    if (buf_grow_array((void **)&st->word, &st->cap, st->len + n, 1) != 0)
        return err_setf(st->err, UH_ENOMEM, "tokenizer: out of memory");
    memcpy(st->word + st->len, s, n);
    st->len += n;
    return 0;
}

/* Longest piece of the vocab starting at byte i of the word (with "##" in front for a
 * continuation in the ## convention): its id, its length in *n; -1 if none. */
static uh_token longest_at(wpm_state *st, size_t i, size_t *n)
{
    const vocab *v = st->v;
    size_t max = v->max_token_len;
    size_t avail = st->len - i;
    uint32_t h = VOCAB_HASH_INIT;
    size_t pre = 0;
    if (v->wpm_hash_prefix && i > 0) { /* continuation: "##" + text */
        h = vocab_hash_step(vocab_hash_step(h, '#'), '#');
        pre = 2;
    }
    if (max <= pre) return -1;
    size_t lim = avail < max - pre ? avail : max - pre;
    for (size_t k = 0; k < lim; k++) {
        h = vocab_hash_step(h, (unsigned char)st->word[i + k]);
        if (v->wpm_prefix_bits && !maybe_prefix(v, h)) { /* no token is this long here */
            lim = k;
            break;
        }
        st->hash[k + 1] = h;
    }
    for (size_t k = lim; k > 0; k--) {
        uh_token t;
        if (pre) {
            /* the text to compare is "##" + word[i..i+k): compare in two parts */
            t = -1;
            for (uint32_t s = st->hash[k] & v->map_mask;; s = (s + 1) & v->map_mask) {
                uint32_t slot = v->map[s];
                if (slot == 0) break;
                const gguf_str *tok = &v->tokens[slot - 1];
                if (tok->len == k + 2 && tok->ptr[0] == '#' && tok->ptr[1] == '#' &&
                    memcmp(tok->ptr + 2, st->word + i, k) == 0) {
                    t = (uh_token)(slot - 1);
                    break;
                }
            }
        } else {
            t = vocab_find_hashed(v, st->word + i, k, st->hash[k]);
        }
        if (t >= 0) {
            *n = k;
            return t;
        }
    }
    return -1;
}

/* Cuts the current word into pieces and emits them (or one unknown token). */
static void end_word(wpm_state *st)
{
    if (st->len == st->start) return;
    int mark = st->out->n;
    for (size_t i = 0; i < st->len;) {
        size_t n = 0;
        uh_token t = longest_at(st, i, &n);
        if (t < 0) {
            st->out->n = mark; /* drop what this word emitted so far */
            if (st->v->unk >= 0) tok_sink_push(st->out, st->v->unk);
            break;
        }
        tok_sink_push(st->out, t);
        i += n;
    }
    st->len = st->start;
}

static int add_cp(wpm_state *st, uint32_t cp)
{
    unsigned char u[4];
    return word_add(st, u, uni_encode(cp, u));
}

/* One character of the text: classify, fold, and grow or end words. */
static int wpm_char(wpm_state *st, const unsigned char *s, size_t n, int32_t cp)
{
    if (cp < 0) return word_add(st, s, n); /* an invalid byte stays in its word */
    uint32_t c = (uint32_t)cp;
    enum uni_class k = uni_class_of(c);
    if (c == 0 || c == 0xfffd || k == UNI_CONTROL) return 0;
    if (k == UNI_SPACE) {
        end_word(st);
        return 0;
    }
    uint32_t f[3] = {c, 0, 0};
    int nf = 1;
    if (st->v->wpm_uncased) nf = uni_fold_uncased(c, f);
    int alone = uni_is_cjk(c);
    int rc;
    for (int i = 0; i < nf; i++) {
        enum uni_class kf = uni_class_of(f[i]);
        if (st->v->wpm_uncased && kf == UNI_MARK) continue;
        if (alone || kf == UNI_PUNCT) {
            end_word(st);
            if ((rc = add_cp(st, f[i]))) return rc;
            end_word(st);
        } else if ((rc = add_cp(st, f[i]))) {
            return rc;
        }
    }
    return 0;
}

int wpm_tokenize(const vocab *v, const char *text, size_t len, tok_sink *out, uh_err *err)
{
    wpm_state st = {.v = v, .out = out, .err = err};
    int rc = 0;
    st.hash = malloc((v->max_token_len + 1) * sizeof *st.hash);
    if (!st.hash) return err_setf(err, UH_ENOMEM, "tokenizer: out of memory");
    if (!v->wpm_hash_prefix) {
        if ((rc = word_add(&st, word_mark, 3))) goto done;
        st.start = 3;
    }
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        size_t n = uni_decode(s + i, len - i, &cp);
        if ((rc = wpm_char(&st, s + i, n, cp))) goto done;
        i += n;
    }
    end_word(&st);
done:
    free(st.word);
    free(st.hash);
    return rc;
}
