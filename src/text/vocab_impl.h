/* vocab_impl.h - the vocab structure and the helpers its tokenizers share (internal to text/).
 *
 * Token lookup is an open-addressing hash table over the token texts (FNV-1a), sized to a power
 * of two at least twice the token count, so a probe sequence is short and always ends at an
 * empty slot. */
#ifndef UH_TEXT_VOCAB_IMPL_H
#define UH_TEXT_VOCAB_IMPL_H

#include <stdint.h>

#include "gguf/gguf.h"
#include "text/pretok.h"
#include "text/vocab.h"

#define VOCAB_F_EOG 1u /* flags[]: ends generation */

/* One BPE merge rule in the open-addressing merge table, keyed by the pair of token ids. */
typedef struct {
    uint32_t left;   /* token id + 1 of the left part; 0 = empty slot */
    uint32_t right;  /* token id of the right part */
    uint32_t rank;   /* index in tokenizer.ggml.merges: lower merges first */
    uint32_t result; /* token id of the concatenation */
} bpe_merge;

struct vocab {
    enum vocab_family family;
    char model_name[32]; /* tokenizer.ggml.model, truncated for messages */
    int n_tokens;
    const gguf_str *tokens; /* [n_tokens], borrowed from the gguf_file */
    float *scores;          /* [n_tokens]; NULL when the file has none (all 0) */
    uint8_t *type;          /* [n_tokens] enum vocab_ttype */
    uint8_t *flags;         /* [n_tokens] VOCAB_F_* */
    uint64_t n_merges;
    const gguf_str *merges; /* [n_merges], borrowed; NULL if none */

    uint32_t *map; /* [map_mask + 1] token id + 1, 0 = empty slot */
    uint32_t map_mask;
    size_t max_token_len; /* bytes of the longest token text */

    uh_token byte_tok[256]; /* token that stands for each byte (byte fallback), -1 if none */

    /* Special-token matching in text: tokens of type control, unknown or user-defined. */
    size_t max_special_len;
    uint8_t special_first[256]; /* 1 if some special token text starts with this byte */
    int n_special;
    uint8_t *prefix_bits; /* bit filter over the hashes of every special token's prefixes */
    int prefix_bits_log2;

    /* 1 when no token a text piece can become has a U+2581 after other text (true of vocabs
     * trained with whitespace splitting): then no merge crosses the start of a word, and the
     * SentencePiece tokenizer may merge word by word. */
    int spm_word_split;

    uh_token bos, eos, unk, pad, sep, cls, eot, eom; /* -1 = none */
    int add_bos, add_eos, add_space_prefix;

    /* Byte-level BPE (family VOCAB_BPE). */
    int has_merges;         /* tokenizer.ggml.merges was present */
    pretok *pre;            /* pre-tokenizer patterns from tokenizer.ggml.pre */
    bpe_merge *merge_map;   /* [merge_mask + 1] */
    uint32_t merge_mask;
    int merge_bits;         /* log2 of the table size */
    uh_token byte_char[256]; /* token of each byte's GPT-2 character, -1 if none */

    /* WordPiece (family VOCAB_WPM). */
    int wpm_uncased;     /* lowercase and strip accents (no normal token has A-Z) */
    int wpm_hash_prefix; /* continuations are "##x" and words plain (else words are "\u2581x") */
    uint8_t *wpm_prefix_bits; /* bit filter over the hashes of every token's prefixes; NULL =
                               * none (then every length is tried) */
    int wpm_prefix_bits_log2;
};

/* FNV-1a, incremental: h = vocab_hash_step(h, byte) over the bytes, from VOCAB_HASH_INIT. */
#define VOCAB_HASH_INIT 2166136261u
static inline uint32_t vocab_hash_step(uint32_t h, unsigned char c)
{
    return (h ^ c) * 16777619u;
}

/* Lookup with the hash of text[0..len) already computed. */
uh_token vocab_find_hashed(const vocab *v, const char *text, size_t len, uint32_t h);

/* Output of a tokenizer: writes while there is room and counts everything, so a too-small
 * buffer still yields the count the caller needs. */
typedef struct {
    uh_token *out;
    int n_max;
    int n; /* tokens produced so far (may exceed n_max) */
} tok_sink;

static inline void tok_sink_push(tok_sink *s, uh_token t)
{
    if (s->n < s->n_max) s->out[s->n] = t;
    s->n++;
}

/* Length of the UTF-8 character at s (n > 0 bytes available): 1..4 for a well-formed
 * character, 1 for a byte that does not start one (so bad input advances byte by byte). */
size_t vocab_utf8_len(const unsigned char *s, size_t n);

/* SentencePiece (BPE-style merging by score) over one run of plain text (no special tokens in
 * it): spaces become U+2581, one more is put in front when space_prefix is set, and pieces not
 * in the vocab go out as byte tokens (or unk). text must not be empty. */
int spm_tokenize(const vocab *v, const char *text, size_t len, int space_prefix, tok_sink *out,
                 uh_err *err);

/* Test hook: when set, BPE and SentencePiece merge every run with their plain heap, never the
 * bucket queue used for long runs, so tests can compare the two. Not for concurrent use. */
extern int tok_force_heap;

/* Byte-level BPE (tok_bpe.c). bpe_load compiles the pre-tokenizer named by tokenizer.ggml.pre
 * and indexes the merge rules; it runs after the token table is built. A session holds the
 * per-call matching state for the runs of one text: bpe_begin (UH_EFORMAT when the vocab came
 * without tokenizer.ggml.merges), bpe_tokenize per run of plain text (cut with the
 * pre-tokenizer, each piece merged by rank), bpe_end (accepts NULL). */
typedef struct bpe_session bpe_session;
int bpe_load(const gguf_file *f, vocab *v, uh_err *err);
void bpe_unload(vocab *v);
int bpe_begin(const vocab *v, bpe_session **out, uh_err *err);
int bpe_tokenize(bpe_session *s, const char *text, size_t len, tok_sink *out, uh_err *err);
void bpe_end(bpe_session *s);

/* WordPiece (tok_wpm.c): detects the vocab's conventions (cased or not, "##" or U+2581 marks);
 * wpm_tokenize does BERT's basic tokenization and the greedy longest-match of each word. */
void wpm_load(vocab *v);
int wpm_tokenize(const vocab *v, const char *text, size_t len, tok_sink *out, uh_err *err);

#endif
