/* pretok.c - the pre-tokenizer patterns of byte-level BPE families, compiled with PCRE2 (UTF,
 * Unicode properties, JIT when the platform has it), and the splitting driver.
 *
 * The patterns are those the families publish with their tokenizers: GPT-2's, Llama 3's (case-
 * insensitive contractions, digits in groups of up to three, newlines kept with punctuation),
 * Qwen2's (Llama 3's with single digits), and the Split sequences of DeepSeek, Falcon and
 * StarCoder. Several pre-tokenizer names share one pattern set (see the alias table). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "text/pretok.h"

/* ---- patterns ---- */

#define GPT2_PATTERN                                                                               \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

/* Llama 3 and Qwen2 differ only in how many digits make a piece. */
#define LLAMA3_LIKE(digits)                                                                        \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" digits                    \
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* DeepSeek LLM's letters: the cased letters (upper, lower, title) as its tokenizer lists them. */
#define DEEPSEEK_LETTERS                                                                           \
    "A-Za-z\\x{b5}\\x{c0}-\\x{d6}\\x{d8}-\\x{f6}\\x{f8}-\\x{1ba}\\x{1bc}-\\x{1bf}\\x{1c4}-\\x{293}"  \
    "\\x{295}-\\x{2af}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37b}-\\x{37d}\\x{37f}\\x{386}"          \
    "\\x{388}-\\x{38a}\\x{38c}\\x{38e}-\\x{3a1}\\x{3a3}-\\x{3f5}\\x{3f7}-\\x{481}\\x{48a}-\\x{52f}" \
    "\\x{531}-\\x{556}\\x{10a0}-\\x{10c5}\\x{13a0}-\\x{13f5}\\x{13f8}-\\x{13fd}\\x{1c90}-\\x{1cba}" \
    "\\x{1cbd}-\\x{1cbf}\\x{1d00}-\\x{1d2b}\\x{1d6b}-\\x{1d77}\\x{1d79}-\\x{1d9a}"                 \
    "\\x{1e00}-\\x{1f15}\\x{1f18}-\\x{1f1d}\\x{1f20}-\\x{1f45}\\x{1f48}-\\x{1f4d}"                 \
    "\\x{1f50}-\\x{1f57}\\x{1f59}\\x{1f5b}\\x{1f5d}\\x{1f5f}-\\x{1f7d}\\x{1f80}-\\x{1fb4}"         \
    "\\x{1fb6}-\\x{1fbc}\\x{1fbe}\\x{1fc2}-\\x{1fc4}\\x{1fc6}-\\x{1fcc}\\x{1fd0}-\\x{1fd3}"         \
    "\\x{1fd6}-\\x{1fdb}\\x{1fe0}-\\x{1fec}\\x{1ff2}-\\x{1ff4}\\x{1ff6}-\\x{1ffc}\\x{2102}"         \
    "\\x{2107}\\x{210a}-\\x{2113}\\x{2115}\\x{2119}-\\x{211d}\\x{2124}\\x{2126}\\x{2128}"          \
    "\\x{212a}-\\x{212d}\\x{212f}-\\x{2134}\\x{2139}\\x{213c}-\\x{213f}\\x{2145}-\\x{2149}"        \
    "\\x{214e}\\x{2183}\\x{2184}\\x{2c00}-\\x{2c7b}\\x{2c7e}-\\x{2ce4}\\x{2ceb}-\\x{2cee}"         \
    "\\x{2cf2}\\x{2cf3}\\x{a640}-\\x{a66d}\\x{a680}-\\x{a69b}\\x{a722}-\\x{a76f}"                  \
    "\\x{a771}-\\x{a787}\\x{a78b}-\\x{a78e}\\x{ab70}-\\x{abbf}\\x{fb00}-\\x{fb06}"                 \
    "\\x{fb13}-\\x{fb17}\\x{ff21}-\\x{ff3a}\\x{ff41}-\\x{ff5a}\\x{10400}-\\x{1044f}"              \
    "\\x{104b0}-\\x{104d3}\\x{104d8}-\\x{104fb}\\x{10c80}-\\x{10cb2}\\x{10cc0}-\\x{10cf2}"        \
    "\\x{118a0}-\\x{118df}\\x{1e900}-\\x{1e943}"

/* CJK (and Hangul) runs as the DeepSeek tokenizers define them. */
#define DEEPSEEK_CJK "[\\x{4e00}-\\x{9fa5}\\x{800}-\\x{4e00}\\x{ac00}-\\x{d7ff}]+"

typedef struct {
    const char *name; /* canonical */
    int ignore_merges;
    int n_patterns;
    const char *patterns[PRETOK_MAX_PATTERNS];
} pretok_def;

static const pretok_def defs[] = {
    {"gpt-2", 0, 1, {GPT2_PATTERN}},
    {"llama-bpe", 1, 1, {LLAMA3_LIKE("{1,3}")}},
    {"qwen2", 0, 1, {LLAMA3_LIKE("")}},
    {"deepseek-llm",
     0,
     6,
     {"[\\r\\n]", "\\s?[" DEEPSEEK_LETTERS "]+",
      "\\s?[!-/:-~\\x{ff01}-\\x{ff0f}\\x{ff1a}-\\x{ff5e}\\x{2018}-\\x{201f}\\x{3000}-\\x{3002}]+",
      "\\s+$", DEEPSEEK_CJK, "\\p{N}+"}},
    {"deepseek-coder",
     0,
     5,
     {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", DEEPSEEK_CJK, "\\p{N}"}},
    /* HF: Punctuation (contiguous), ByteLevel's GPT-2 pattern, then digits in threes */
    {"falcon", 0, 3, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_PATTERN, "[0-9][0-9][0-9]"}},
    /* HF: Digits (individual), then ByteLevel's GPT-2 pattern */
    {"starcoder", 0, 2, {"\\p{N}", GPT2_PATTERN}},
    {"gpt-4o",
     0,
     1,
     {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
      "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}"
      "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
};

/* tokenizer.ggml.pre names and the pattern set each one uses. */
static const struct {
    const char *alias, *def;
} aliases[] = {
    {"default", "gpt-2"},       {"gpt2", "gpt-2"},           {"mpt", "gpt-2"},
    {"gpt-neox", "gpt-2"},      {"olmo", "gpt-2"},           {"roberta-bpe", "gpt-2"},
    {"jina-v1-en", "gpt-2"},    {"jina-v2-en", "gpt-2"},     {"jina-es", "gpt-2"},
    {"jina-de", "gpt-2"},       {"jina-v2-es", "gpt-2"},     {"jina-v2-de", "gpt-2"},
    {"jina-v2-code", "gpt-2"},  {"phi-2", "gpt-2"},          {"llama3", "llama-bpe"},
    {"llama-v3", "llama-bpe"},  {"falcon3", "llama-bpe"},    {"smaug-bpe", "llama-bpe"},
    {"dbrx", "llama-bpe"},      {"deepseek-r1-qwen", "qwen2"}, {"stablelm2", "qwen2"},
    {"megrez", "qwen2"},        {"refact", "starcoder"},     {"command-r", "starcoder"},
    {"smollm", "starcoder"},    {"codeshell", "starcoder"},
};

/* ---- compiled form ---- */

struct pretok {
    const pretok_def *def;
    pcre2_code *code[PRETOK_MAX_PATTERNS];
    int jit; /* every pattern was JIT-compiled */
};

static const pretok_def *find_def(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        if (strlen(defs[i].name) == len && memcmp(defs[i].name, name, len) == 0) return &defs[i];
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strlen(aliases[i].alias) == len && memcmp(aliases[i].alias, name, len) == 0)
            return find_def(aliases[i].def, strlen(aliases[i].def));
    return NULL;
}

int pretok_new(const char *name, size_t name_len, pretok **out, uh_err *err)
{
    *out = NULL;
    const pretok_def *def = name ? find_def(name, name_len) : &defs[0];
    if (!def) {
        log_warn("pretok_unknown", "pre=\"%.*s\" using=gpt-2", name_len > 64 ? 64 : (int)name_len,
                 name);
        def = &defs[0];
    }
    pretok *p = calloc(1, sizeof *p);
    if (!p) return err_setf(err, UH_ENOMEM, "pretok: out of memory");
    p->def = def;
    p->jit = 1;
    int rc = 0;
    for (int i = 0; i < def->n_patterns; i++) {
        int code;
        PCRE2_SIZE at;
        /* MATCH_INVALID_UTF: text is not validated beforehand; bad bytes simply never match */
        p->code[i] = pcre2_compile((PCRE2_SPTR)def->patterns[i], PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code, &at,
                                   NULL);
        if (!p->code[i]) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(code, msg, sizeof msg);
            rc = err_setf(err, UH_EUNSUPPORTED, "pretok %s: pattern %d at %zu: %s", def->name, i,
                          (size_t)at, (const char *)msg);
            goto fail;
        }
        if (pcre2_jit_compile(p->code[i], PCRE2_JIT_COMPLETE) != 0) p->jit = 0;
    }
    *out = p;
    return 0;
fail:
    pretok_free(p);
    return rc;
}

void pretok_free(pretok *p)
{
    if (!p) return;
    for (int i = 0; i < PRETOK_MAX_PATTERNS; i++) pcre2_code_free(p->code[i]);
    free(p);
}

const char *pretok_name(const pretok *p)
{
    return p->def->name;
}

int pretok_ignores_merges(const pretok *p)
{
    return p->def->ignore_merges;
}

/* ---- matching ---- */

/* JIT stack bounds: the patterns need little, but a long run of one character class must not
 * fail for want of stack. */
#define JIT_STACK_MIN (32 * 1024)
#define JIT_STACK_MAX (1024 * 1024)

int pretok_scratch_init(const pretok *p, pretok_scratch *s, uh_err *err)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < p->def->n_patterns; i++) {
        s->match[i] = pcre2_match_data_create_from_pattern(p->code[i], NULL);
        if (!s->match[i]) goto nomem;
    }
    /* the JIT's default 32 KiB of machine stack does for ordinary text; a bigger stack is made
     * only if a match runs out (see split_level) */
    s->mctx = pcre2_match_context_create(NULL);
    if (!s->mctx) goto nomem;
    return 0;
nomem:
    pretok_scratch_fini(s);
    return err_setf(err, UH_ENOMEM, "pretok: out of memory for match data");
}

void pretok_scratch_fini(pretok_scratch *s)
{
    for (int i = 0; i < PRETOK_MAX_PATTERNS; i++) pcre2_match_data_free(s->match[i]);
    pcre2_match_context_free(s->mctx);
    pcre2_jit_stack_free(s->jit_stack);
    memset(s, 0, sizeof *s);
}

typedef struct {
    const pretok *p;
    pretok_scratch *s;
    pretok_emit_fn emit;
    void *ctx;
    uh_err *err;
} split_job;

static int split_level(const split_job *j, int level, const char *text, size_t len);

/* Hands a piece made by pattern `level` to the next pattern, or to emit after the last. */
static int pass_on(const split_job *j, int level, const char *piece, size_t len)
{
    if (len == 0) return 0;
    if (level + 1 < j->p->def->n_patterns) return split_level(j, level + 1, piece, len);
    return j->emit(j->ctx, piece, len);
}

static int split_level(const split_job *j, int level, const char *text, size_t len)
{
    pcre2_code *code = j->p->code[level];
    pcre2_match_data *md = j->s->match[level];
    size_t pos = 0, gap = 0; /* unmatched text starts at gap */
    int rc;
    while (pos < len) {
        /* the subject is this piece alone: anchors and lookarounds must not see its neighbours */
        int m = pcre2_match(code, (PCRE2_SPTR)text, len, pos, 0, md, j->s->mctx);
        if (m == PCRE2_ERROR_JIT_STACKLIMIT && !j->s->jit_stack) {
            j->s->jit_stack = pcre2_jit_stack_create(JIT_STACK_MIN, JIT_STACK_MAX, NULL);
            if (!j->s->jit_stack) return err_setf(j->err, UH_ENOMEM, "pretok: out of memory");
            pcre2_jit_stack_assign(j->s->mctx, NULL, j->s->jit_stack);
            continue;
        }
        if (m == PCRE2_ERROR_NOMATCH) break;
        if (m < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(m, msg, sizeof msg);
            return err_setf(j->err, UH_ELIMIT, "pretok %s: matching failed: %s", j->p->def->name,
                            (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t start = ov[0], end = ov[1];
        if (end <= start) { /* an empty match cannot cut anything: step over one character */
            pos = start + 1;
            while (pos < len && ((unsigned char)text[pos] & 0xc0) == 0x80) pos++;
            continue;
        }
        if ((rc = pass_on(j, level, text + gap, start - gap)) ||
            (rc = pass_on(j, level, text + start, end - start)))
            return rc;
        gap = pos = end;
    }
    return pass_on(j, level, text + gap, len - gap);
}

int pretok_split(const pretok *p, pretok_scratch *s, const char *text, size_t len,
                 pretok_emit_fn emit, void *ctx, uh_err *err)
{
    split_job j = {p, s, emit, ctx, err};
    return split_level(&j, 0, text, len);
}
