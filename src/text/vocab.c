/* vocab.c - loading the vocabulary from GGUF metadata, token lookup, splitting text around
 * special tokens, and turning tokens back into text. The metadata keys are listed in vocab.h;
 * the tokenizers themselves are in tok_spm.c (SentencePiece), tok_bpe.c (byte-level BPE) and
 * tok_wpm.c (WordPiece). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "text/vocab_impl.h"

/* Longest token text accepted; keeps piece lengths well inside int. */
#define VOCAB_MAX_TOKEN_LEN 65536

/* ---- lookup ---- */

static uint32_t hash_bytes(const char *s, size_t len)
{
    uint32_t h = VOCAB_HASH_INIT;
    for (size_t i = 0; i < len; i++) h = vocab_hash_step(h, (unsigned char)s[i]);
    return h;
}

uh_token vocab_find_hashed(const vocab *v, const char *text, size_t len, uint32_t h)
{
    for (uint32_t i = h & v->map_mask;; i = (i + 1) & v->map_mask) {
        uint32_t slot = v->map[i];
        if (slot == 0) return -1;
        const gguf_str *t = &v->tokens[slot - 1];
        if (t->len == len && memcmp(t->ptr, text, len) == 0) return (uh_token)(slot - 1);
    }
}

uh_token vocab_find(const vocab *v, const char *text, size_t len)
{
    if (len > v->max_token_len) return -1;
    return vocab_find_hashed(v, text, len, hash_bytes(text, len));
}

/* Builds the table; a text that occurs twice maps to its last id. */
static int build_map(vocab *v, uh_err *err)
{
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)v->n_tokens) cap *= 2;
    v->map = calloc(cap, sizeof *v->map);
    if (!v->map) return err_setf(err, UH_ENOMEM, "vocab: out of memory for the token table");
    v->map_mask = cap - 1;
    for (int id = 0; id < v->n_tokens; id++) {
        const gguf_str *t = &v->tokens[id];
        uint32_t i = hash_bytes(t->ptr, t->len) & v->map_mask;
        for (;; i = (i + 1) & v->map_mask) {
            uint32_t slot = v->map[i];
            if (slot == 0) break;
            const gguf_str *o = &v->tokens[slot - 1];
            if (o->len == t->len && memcmp(o->ptr, t->ptr, t->len) == 0) break;
        }
        v->map[i] = (uint32_t)id + 1;
    }
    return 0;
}

size_t vocab_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0) lo = 0xa0; /* no overlong forms */
        if (c == 0xed) hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f; /* nothing above U+10FFFF */
    } else {
        return 1;
    }
    if (n < need || s[1] < lo || s[1] > hi) return 1;
    for (size_t i = 2; i < need; i++)
        if ((s[i] & 0xc0) != 0x80) return 1;
    return need;
}

/* ---- loading ---- */

static const struct {
    const char *name;
    enum vocab_family family;
} families[] = {
    {"llama", VOCAB_SPM},
    {"gpt2", VOCAB_BPE},
    {"bert", VOCAB_WPM},
    {"t5", VOCAB_UGM},
};

/* Texts of control tokens that end a turn in common chat formats; a vocab that has one of them
 * stops generation there even when its metadata names only eos. */
static const char *const eog_texts[] = {
    "<|eot_id|>",    "<|eom_id|>", "<|im_end|>",    "<|end|>",
    "<end_of_turn>", "<EOT>",      "<|endoftext|>", "<|end_of_text|>",
};

/* Reads an optional token-id key into *id (left untouched when absent). -1 and 0xFFFFFFFF are
 * the conventional "none"; anything else must be a valid id. */
static int load_token_id(const gguf_file *f, const vocab *v, const char *key, uh_token *id,
                         uh_err *err)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return 0;
    const gguf_value *val = &kv->value;
    int64_t x;
    switch (val->type) {
    case GGUF_T_U8:
    case GGUF_T_U16:
    case GGUF_T_U32:
    case GGUF_T_U64:
        if (val->v.u == UINT32_MAX || val->v.u == UINT64_MAX) {
            *id = -1;
            return 0;
        }
        x = val->v.u > (uint64_t)INT32_MAX ? INT64_MAX : (int64_t)val->v.u;
        break;
    case GGUF_T_I8:
    case GGUF_T_I16:
    case GGUF_T_I32:
    case GGUF_T_I64:
        x = val->v.i;
        if (x == -1) {
            *id = -1;
            return 0;
        }
        break;
    default:
        return err_setf(err, UH_EFORMAT, "%s: expected an integer, found %s", key,
                        gguf_vtype_name(val->type));
    }
    if (x < 0 || x >= v->n_tokens)
        return err_setf(err, UH_EFORMAT, "%s = %lld is not a token id (vocab has %d tokens)", key,
                        (long long)x, v->n_tokens);
    *id = (uh_token)x;
    return 0;
}

static int load_bool(const gguf_file *f, const char *key, int *out, uh_err *err)
{
    int rc = gguf_get_bool(f, key, out, err);
    return rc == UH_ENOTFOUND ? 0 : rc;
}

/* An optional per-token array: absent -> *out NULL; present -> an array of floats (want_float)
 * or of integers, exactly n_tokens long. */
static int token_array(const gguf_file *f, const vocab *v, const char *key, int want_float,
                       const gguf_value **out, uh_err *err)
{
    *out = NULL;
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return 0;
    const gguf_value *val = &kv->value;
    if (val->type != GGUF_T_ARR)
        return err_setf(err, UH_EFORMAT, "%s: expected an array, found %s", key,
                        gguf_vtype_name(val->type));
    enum gguf_vtype et = val->v.arr.elem_type;
    int is_float = et == GGUF_T_F32 || et == GGUF_T_F64;
    int is_int = et == GGUF_T_U8 || et == GGUF_T_I8 || et == GGUF_T_U16 || et == GGUF_T_I16 ||
                 et == GGUF_T_U32 || et == GGUF_T_I32 || et == GGUF_T_U64 || et == GGUF_T_I64;
    if (want_float ? !is_float : !is_int)
        return err_setf(err, UH_EFORMAT, "%s: expected an array of %s, found one of %s", key,
                        want_float ? "f32" : "i32", gguf_vtype_name(et));
    if (val->v.arr.n != (uint64_t)v->n_tokens)
        return err_setf(err, UH_EFORMAT, "%s has %llu entries but tokens has %d", key,
                        (unsigned long long)val->v.arr.n, v->n_tokens);
    *out = val;
    return 0;
}

static int load_arrays(const gguf_file *f, vocab *v, uh_err *err)
{
    const gguf_value *tokens, *scores, *types;
    int rc = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_T_STR, &tokens, err);
    if (rc == UH_ENOTFOUND) return err_setf(err, UH_EFORMAT, "tokenizer.ggml.tokens is missing");
    if (rc) return rc;
    if (tokens->v.arr.n == 0 || tokens->v.arr.n > (uint64_t)INT32_MAX / 2)
        return err_setf(err, UH_EFORMAT, "tokenizer.ggml.tokens: bad token count %llu",
                        (unsigned long long)tokens->v.arr.n);
    v->n_tokens = (int)tokens->v.arr.n;
    v->tokens = tokens->v.arr.strs;

    if ((rc = token_array(f, v, "tokenizer.ggml.scores", 1, &scores, err)) ||
        (rc = token_array(f, v, "tokenizer.ggml.token_type", 0, &types, err)))
        return rc;

    size_t n = (size_t)v->n_tokens;
    v->type = malloc(n);
    v->flags = calloc(n, 1);
    if (scores) v->scores = malloc(n * sizeof *v->scores);
    if (!v->type || !v->flags || (scores && !v->scores))
        return err_setf(err, UH_ENOMEM, "vocab: out of memory for %d tokens", v->n_tokens);
    for (size_t i = 0; i < n; i++) {
        int64_t t = types ? gguf_arr_i64(types, i) : VOCAB_T_NORMAL;
        if (t < VOCAB_T_UNDEFINED || t > VOCAB_T_BYTE)
            return err_setf(err, UH_EFORMAT, "tokenizer.ggml.token_type[%zu] = %lld is not a type",
                            i, (long long)t);
        v->type[i] = (uint8_t)t;
        if (scores) {
            float s = (float)gguf_arr_f64(scores, i);
            v->scores[i] = isnan(s) ? -INFINITY : s; /* NaN would break the merge order */
        }
        if (v->tokens[i].len > VOCAB_MAX_TOKEN_LEN)
            return err_setf(err, UH_EFORMAT, "tokenizer.ggml.tokens[%zu] is %llu bytes long", i,
                            (unsigned long long)v->tokens[i].len);
        if (v->tokens[i].len > v->max_token_len) v->max_token_len = v->tokens[i].len;
    }

    const gguf_value *merges;
    rc = gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_T_STR, &merges, err);
    if (rc == 0) {
        v->merges = merges->v.arr.strs;
        v->n_merges = merges->v.arr.n;
        v->has_merges = 1;
    } else if (rc != UH_ENOTFOUND) {
        return rc;
    }
    return 0;
}

static int load_specials(const gguf_file *f, vocab *v, uh_err *err)
{
    static const struct {
        const char *key;
        size_t field;
    } ids[] = {
        {"tokenizer.ggml.bos_token_id", offsetof(vocab, bos)},
        {"tokenizer.ggml.eos_token_id", offsetof(vocab, eos)},
        {"tokenizer.ggml.unknown_token_id", offsetof(vocab, unk)},
        {"tokenizer.ggml.padding_token_id", offsetof(vocab, pad)},
        {"tokenizer.ggml.seperator_token_id", offsetof(vocab, sep)},
        {"tokenizer.ggml.cls_token_id", offsetof(vocab, cls)},
        {"tokenizer.ggml.eot_token_id", offsetof(vocab, eot)},
        {"tokenizer.ggml.eom_token_id", offsetof(vocab, eom)},
    };
    v->bos = v->eos = v->unk = v->pad = v->sep = v->cls = v->eot = v->eom = -1;
    if (v->family == VOCAB_SPM && v->n_tokens > 2) {
        /* SentencePiece's LLaMA convention when the file does not say */
        v->unk = 0;
        v->bos = 1;
        v->eos = 2;
    }
    /* Llama 3's BPE vocab wants BOS without saying so; other BPE vocabs say it when they do.
     * WordPiece text starts with a word mark, which the detokenizer drops like a space prefix. */
    v->add_bos = v->family == VOCAB_SPM || v->family == VOCAB_WPM ||
                 (v->family == VOCAB_BPE && v->pre && pretok_ignores_merges(v->pre));
    v->add_eos = v->family == VOCAB_WPM || v->family == VOCAB_UGM;
    v->add_space_prefix =
        v->family == VOCAB_SPM || v->family == VOCAB_UGM || v->family == VOCAB_WPM;

    int rc;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        uh_token *dst = (uh_token *)((char *)v + ids[i].field);
        if ((rc = load_token_id(f, v, ids[i].key, dst, err))) return rc;
    }
    if (v->family == VOCAB_WPM) { /* BERT: [CLS] text [SEP] */
        if (v->bos < 0) v->bos = v->cls;
        if (v->eos < 0) v->eos = v->sep;
    }
    if ((rc = load_bool(f, "tokenizer.ggml.add_bos_token", &v->add_bos, err)) ||
        (rc = load_bool(f, "tokenizer.ggml.add_eos_token", &v->add_eos, err)) ||
        (rc = load_bool(f, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix, err)))
        return rc;

    /* End of generation. The end-of-turn texts are control tokens by nature; a file that types
     * them otherwise is treated as if it had typed them control, so they render as nothing. */
    uh_token eog[] = {v->eos, v->eot, v->eom};
    for (size_t i = 0; i < sizeof eog / sizeof eog[0]; i++)
        if (eog[i] >= 0) v->flags[eog[i]] |= VOCAB_F_EOG;
    for (size_t i = 0; i < sizeof eog_texts / sizeof eog_texts[0]; i++) {
        uh_token t = vocab_find(v, eog_texts[i], strlen(eog_texts[i]));
        if (t < 0) continue;
        v->flags[t] |= VOCAB_F_EOG;
        v->type[t] = VOCAB_T_CONTROL;
    }
    /* "</s>" is ordinary text in some vocabs; it ends generation only where it is a control
     * token (SentencePiece's usual EOS) */
    uh_token t = vocab_find(v, "</s>", 4);
    if (t >= 0 && v->type[t] == VOCAB_T_CONTROL) v->flags[t] |= VOCAB_F_EOG;
    return 0;
}

/* 1 if U+2581 occurs in t after something other than U+2581. */
static int mark_after_text(const gguf_str *t)
{
    size_t i = 0;
    while (t->len - i >= 3 && memcmp(t->ptr + i, "\xe2\x96\x81", 3) == 0) i += 3;
    for (; t->len - i >= 3; i++)
        if (memcmp(t->ptr + i, "\xe2\x96\x81", 3) == 0) return 1;
    return 0;
}

/* Mixes a prefix hash into a bit index of the special-prefix filter. */
static uint32_t prefix_bit(const vocab *v, uint32_t h)
{
    return (h * 0x9e3779b1u) >> (32 - v->prefix_bits_log2);
}

/* Sets a filter bit for every prefix of every special token, so matching can stop as soon as
 * the text read so far starts no special token (a vocab with user-defined runs of spaces would
 * otherwise try every length at every space). */
static int build_prefix_filter(vocab *v, uh_err *err)
{
    size_t n_prefixes = 0;
    for (int id = 0; id < v->n_tokens; id++)
        if (v->type[id] == VOCAB_T_CONTROL || v->type[id] == VOCAB_T_UNKNOWN ||
            v->type[id] == VOCAB_T_USER_DEFINED)
            n_prefixes += v->tokens[id].len;
    v->prefix_bits_log2 = 12;
    while (((size_t)1 << v->prefix_bits_log2) < 16 * n_prefixes && v->prefix_bits_log2 < 30)
        v->prefix_bits_log2++;
    v->prefix_bits = calloc(((size_t)1 << v->prefix_bits_log2) / 8, 1);
    if (!v->prefix_bits) return err_setf(err, UH_ENOMEM, "vocab: out of memory");
    for (int id = 0; id < v->n_tokens; id++) {
        if (v->type[id] != VOCAB_T_CONTROL && v->type[id] != VOCAB_T_UNKNOWN &&
            v->type[id] != VOCAB_T_USER_DEFINED)
            continue;
        uint32_t h = VOCAB_HASH_INIT;
        for (size_t i = 0; i < v->tokens[id].len; i++) {
            h = vocab_hash_step(h, (unsigned char)v->tokens[id].ptr[i]);
            uint32_t bit = prefix_bit(v, h);
            v->prefix_bits[bit >> 3] |= (uint8_t)(1u << (bit & 7));
        }
    }
    return 0;
}

/* Byte fallback targets, the special-token matching tables, and whether SentencePiece may
 * merge word by word. */
static void index_tokens(vocab *v)
{
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        uh_token t = vocab_find(v, name, sizeof name);
        if (t < 0) {
            char c = (char)b;
            t = vocab_find(v, &c, 1);
        }
        v->byte_tok[b] = t;
    }
    v->spm_word_split = 1;
    for (int id = 0; id < v->n_tokens; id++) {
        int t = v->type[id];
        if (t != VOCAB_T_CONTROL && t != VOCAB_T_UNKNOWN && t != VOCAB_T_BYTE &&
            t != VOCAB_T_UNUSED && mark_after_text(&v->tokens[id]))
            v->spm_word_split = 0;
        if (v->tokens[id].len == 0 ||
            (t != VOCAB_T_CONTROL && t != VOCAB_T_UNKNOWN && t != VOCAB_T_USER_DEFINED))
            continue;
        v->n_special++;
        v->special_first[(unsigned char)v->tokens[id].ptr[0]] = 1;
        if (v->tokens[id].len > v->max_special_len) v->max_special_len = v->tokens[id].len;
    }
}

int vocab_load(const gguf_file *f, vocab **out, uh_err *err)
{
    *out = NULL;
    vocab *v = calloc(1, sizeof *v);
    if (!v) return err_setf(err, UH_ENOMEM, "vocab: out of memory");
    int rc;

    gguf_str model;
    rc = gguf_get_str(f, "tokenizer.ggml.model", &model, err);
    if (rc == UH_ENOTFOUND) {
        rc = err_setf(err, UH_EFORMAT, "tokenizer.ggml.model is missing");
        goto fail;
    }
    if (rc) goto fail;
    size_t n = model.len < sizeof v->model_name - 1 ? model.len : sizeof v->model_name - 1;
    memcpy(v->model_name, model.ptr, n);
    v->model_name[n] = 0;
    v->family = VOCAB_OTHER;
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (model.len == strlen(families[i].name) &&
            memcmp(model.ptr, families[i].name, model.len) == 0)
            v->family = families[i].family;

    if ((rc = load_arrays(f, v, err)) || (rc = build_map(v, err))) goto fail;
    if (v->family == VOCAB_BPE && (rc = bpe_load(f, v, err))) goto fail;
    if (v->family == VOCAB_WPM) wpm_load(v);
    if ((rc = load_specials(f, v, err))) goto fail;
    index_tokens(v);
    if ((rc = build_prefix_filter(v, err))) goto fail;
    *out = v;
    return 0;

fail:
    vocab_free(v);
    return rc;
}

void vocab_free(vocab *v)
{
    if (!v) return;
    bpe_unload(v);
    free(v->map);
    free(v->scores);
    free(v->type);
    free(v->flags);
    free(v->prefix_bits);
    free(v->wpm_prefix_bits);
    free(v);
}

/* ---- accessors ---- */

static int valid(const vocab *v, uh_token t)
{
    return t >= 0 && t < v->n_tokens;
}

int vocab_n_tokens(const vocab *v)
{
    return v->n_tokens;
}

enum vocab_family vocab_family_of(const vocab *v)
{
    return v->family;
}

uh_token vocab_bos(const vocab *v)
{
    return v->bos;
}

uh_token vocab_eos(const vocab *v)
{
    return v->eos;
}

uh_token vocab_unk(const vocab *v)
{
    return v->unk;
}

uh_token vocab_pad(const vocab *v)
{
    return v->pad;
}

int vocab_add_bos(const vocab *v)
{
    return v->add_bos && v->bos >= 0;
}

int vocab_add_eos(const vocab *v)
{
    return v->add_eos && v->eos >= 0;
}

int vocab_adds_space_prefix(const vocab *v)
{
    return v->add_space_prefix;
}

int vocab_is_eog(const vocab *v, uh_token t)
{
    return valid(v, t) && (v->flags[t] & VOCAB_F_EOG);
}

int vocab_is_control(const vocab *v, uh_token t)
{
    return valid(v, t) && v->type[t] == VOCAB_T_CONTROL;
}

int vocab_token_type(const vocab *v, uh_token t)
{
    return valid(v, t) ? v->type[t] : -1;
}

float vocab_token_score(const vocab *v, uh_token t)
{
    return valid(v, t) && v->scores ? v->scores[t] : 0.0f;
}

const char *vocab_token_text(const vocab *v, uh_token t, size_t *len)
{
    if (!valid(v, t)) return NULL;
    if (len) *len = v->tokens[t].len;
    return v->tokens[t].ptr;
}

/* ---- tokenize ---- */

/* The longest special token whose text starts text[0..n), or -1. User-defined tokens always
 * count; control and unknown ones only when parse_special is set. */
static uh_token match_special(const vocab *v, const char *text, size_t n, int parse_special,
                              size_t *match_len)
{
    uh_token best = -1;
    size_t max = n < v->max_special_len ? n : v->max_special_len;
    uint32_t h = VOCAB_HASH_INIT;
    for (size_t len = 1; len <= max; len++) {
        h = vocab_hash_step(h, (unsigned char)text[len - 1]);
        uint32_t bit = prefix_bit(v, h);
        if (!(v->prefix_bits[bit >> 3] & (1u << (bit & 7)))) break; /* no special starts so */
        uh_token t = vocab_find_hashed(v, text, len, h);
        if (t < 0) continue;
        int type = v->type[t];
        if (type == VOCAB_T_USER_DEFINED ||
            (parse_special && (type == VOCAB_T_CONTROL || type == VOCAB_T_UNKNOWN))) {
            best = t;
            *match_len = len;
        }
    }
    return best;
}

/* Tokenizes one run of plain text (no special tokens in it) with the vocab's family. */
static int tokenize_run(const vocab *v, bpe_session *bpe, const char *text, size_t len,
                        int at_start, tok_sink *sink, uh_err *err)
{
    switch (v->family) {
    case VOCAB_SPM:
        return spm_tokenize(v, text, len, v->add_space_prefix && at_start, sink, err);
    case VOCAB_BPE:
        return bpe_tokenize(bpe, text, len, sink, err);
    case VOCAB_WPM:
        return wpm_tokenize(v, text, len, sink, err);
    default:
        return err_setf(err, UH_EUNSUPPORTED, "tokenizer '%s' is not supported yet",
                        v->model_name);
    }
}

int vocab_tokenize(const vocab *v, const char *text, size_t len, int add_bos, int parse_special,
                   uh_token *out, int n_max, int *n_out, uh_err *err)
{
    if (n_out) *n_out = 0;
    if (!n_out || n_max < 0 || (n_max > 0 && !out) || (len > 0 && !text))
        return err_setf(err, UH_EINVAL, "tokenize: bad arguments");
    if (v->family != VOCAB_SPM && v->family != VOCAB_BPE && v->family != VOCAB_WPM)
        return err_setf(err, UH_EUNSUPPORTED, "tokenizer '%s' is not supported yet", v->model_name);
    if (len > VOCAB_MAX_TEXT)
        return err_setf(err, UH_ELIMIT, "tokenize: text of %zu bytes is over the %zu byte limit",
                        len, VOCAB_MAX_TEXT);
    int rc = 0;
    bpe_session *bpe = NULL;
    if (v->family == VOCAB_BPE && (rc = bpe_begin(v, &bpe, err))) return rc;

    tok_sink sink = {out, n_max, 0};
    if (add_bos && vocab_add_bos(v)) tok_sink_push(&sink, v->bos);

    /* Special tokens split the text into runs of plain text. As in the reference tokenizer, a
     * SentencePiece run gets the space prefix when it starts the text or follows a special
     * token. */
    size_t start = 0;
    for (size_t i = 0; v->n_special > 0 && i < len;) {
        size_t match_len = 0;
        uh_token t = -1;
        if (v->special_first[(unsigned char)text[i]])
            t = match_special(v, text + i, len - i, parse_special, &match_len);
        if (t < 0) {
            i++;
            continue;
        }
        if (i > start && (rc = tokenize_run(v, bpe, text + start, i - start, 1, &sink, err)))
            goto done;
        tok_sink_push(&sink, t);
        i += match_len;
        start = i;
    }
    if (start < len && (rc = tokenize_run(v, bpe, text + start, len - start, 1, &sink, err)))
        goto done;
    if (add_bos && vocab_add_eos(v)) tok_sink_push(&sink, v->eos);

    *n_out = sink.n;
    if (sink.n > n_max)
        rc = err_setf(err, UH_ELIMIT, "tokenize: %d tokens do not fit in a buffer of %d", sink.n,
                      n_max);
done:
    bpe_end(bpe);
    return rc;
}

/* ---- detokenize ---- */

/* Copies len bytes to buf as far as cap allows; returns len. */
static int put(char *buf, size_t cap, size_t at, const char *s, size_t len)
{
    if (at < cap) memcpy(buf + at, s, len < cap - at ? len : cap - at);
    return (int)len;
}

/* SentencePiece text: every U+2581 is a space. */
static int unescape_spm(const char *s, size_t len, char *buf, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (len - i >= 3 && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
            n += (size_t)put(buf, cap, n, " ", 1);
            i += 3;
        } else {
            n += (size_t)put(buf, cap, n, s + i, 1);
            i++;
        }
    }
    return (int)n;
}

/* GPT-2 byte-level text: each byte was stored as one character: printable Latin-1 bytes
 * (0x21..0x7e, 0xa1..0xac, 0xae..0xff) as themselves, the other 68 bytes, in order, as
 * U+0100 onwards. Characters outside that mapping are kept as they are. */
static int unmap_bytes(const char *s, size_t len, char *buf, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        const unsigned char *u = (const unsigned char *)s + i;
        size_t cl = vocab_utf8_len(u, len - i);
        unsigned cp = cl == 1 ? u[0] : cl == 2 ? ((u[0] & 0x1fu) << 6) | (u[1] & 0x3fu) : ~0u;
        int byte = -1;
        if (cl == 2 && cp >= 0xa1 && cp <= 0xff && cp != 0xad) {
            byte = (int)cp;
        } else if (cl == 1 && cp >= 0x21 && cp <= 0x7e) {
            byte = (int)cp;
        } else if (cl == 2 && cp >= 0x100 && cp < 0x100 + 68) {
            unsigned k = cp - 0x100; /* k-th byte outside the printable set */
            byte = k <= 0x20 ? (int)k : k <= 0x20 + 34 ? (int)(k - 0x21 + 0x7f) : 0xad;
        }
        if (byte >= 0) {
            char c = (char)byte;
            n += (size_t)put(buf, cap, n, &c, 1);
        } else {
            n += (size_t)put(buf, cap, n, s + i, cl);
        }
        i += cl;
    }
    return (int)n;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int vocab_token_to_piece(const vocab *v, uh_token t, char *buf, size_t cap)
{
    if (!valid(v, t)) return UH_EINVAL;
    const char *s = v->tokens[t].ptr;
    size_t len = v->tokens[t].len;
    switch (v->type[t]) {
    case VOCAB_T_CONTROL:
    case VOCAB_T_UNUSED:
    case VOCAB_T_UNDEFINED:
        return 0;
    case VOCAB_T_UNKNOWN:
    case VOCAB_T_USER_DEFINED:
        return put(buf, cap, 0, s, len);
    case VOCAB_T_BYTE:
        if (len == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' && hex_digit(s[3]) >= 0 &&
            hex_digit(s[4]) >= 0) {
            char c = (char)(hex_digit(s[3]) << 4 | hex_digit(s[4]));
            return put(buf, cap, 0, &c, 1);
        }
        return put(buf, cap, 0, s, len);
    default:
        break;
    }
    switch (v->family) {
    case VOCAB_SPM:
    case VOCAB_UGM:
        return unescape_spm(s, len, buf, cap);
    case VOCAB_WPM:
        if (!v->wpm_hash_prefix) return unescape_spm(s, len, buf, cap);
        if (len >= 2 && s[0] == '#' && s[1] == '#') return put(buf, cap, 0, s + 2, len - 2);
        put(buf, cap, 0, " ", 1); /* a word start: the space that separated it */
        return 1 + put(buf, cap, 1, s, len);
    case VOCAB_BPE:
        return unmap_bytes(s, len, buf, cap);
    default:
        return put(buf, cap, 0, s, len);
    }
}
