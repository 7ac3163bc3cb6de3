/* fuzz_tokenize.c - libFuzzer harness for the tokenizers: arbitrary bytes as text.
 *
 * Loads a few fixture vocabs once (SentencePiece, byte-level BPE with single- and multi-pattern
 * pre-tokenizers, WordPiece) from $UNHOSTED_TESTDATA, else ../shared/testdata relative to the
 * working directory (the suite runs from the repository root). The first input byte picks the
 * vocab and the options (parse_special, BOS); the rest is the text. Each input is tokenized
 * (count first, then into an exact buffer), every token is detokenized, and the promises are
 * checked with __builtin_trap: ids in range, the two calls agree, and byte-level BPE without
 * special parsing gives back every byte it has a plain character token for.
 *
 * Corpus: fuzz/corpus/tokenize (seeds), fuzz/regress/tokenize (past crashes). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "text/vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

static const char *const names[] = {"llama-spm", "gpt-2", "llama-bpe", "qwen2", "deepseek-llm",
                                    "falcon", "bert-bge"};
#define N_VOCABS (sizeof names / sizeof names[0])

static vocab *vocabs[N_VOCABS];
static gguf_file *files[N_VOCABS];

static void load_all(void)
{
    const char *env = getenv("UNHOSTED_TESTDATA");
    const char *td = env && *env ? env : "../shared/testdata";
    for (size_t i = 0; i < N_VOCABS; i++) {
        char path[1024];
        uh_err err;
        snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-%s.gguf", td, names[i]);
        if (gguf_open(path, &files[i], &err) || vocab_load(files[i], &vocabs[i], &err)) {
            fprintf(stderr, "fuzz_tokenize: %s: %s\n", path, err.msg);
            abort(); /* a harness without its vocabs would test nothing */
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int loaded;
    if (!loaded) {
        load_all();
        loaded = 1;
    }
    if (size < 1 || size > 4096) return 0;
    const vocab *v = vocabs[data[0] % N_VOCABS];
    int parse_special = (data[0] >> 4) & 1, add_bos = (data[0] >> 5) & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    uh_err err;
    int n = 0;
    int rc = vocab_tokenize(v, text, len, add_bos, parse_special, NULL, 0, &n, &err);
    REQUIRE(rc == 0 || rc == UH_ELIMIT);
    REQUIRE(n >= 0 && (size_t)n <= 4 * len + 4);
    uh_token *ids = malloc((size_t)n * sizeof *ids + 1);
    char *back = malloc(4 * len + 64);
    REQUIRE(ids && back);
    int n2 = -1;
    REQUIRE(vocab_tokenize(v, text, len, add_bos, parse_special, ids, n, &n2, &err) == 0);
    REQUIRE(n2 == n);

    size_t at = 0;
    for (int i = 0; i < n; i++) {
        REQUIRE(ids[i] >= 0 && ids[i] < vocab_n_tokens(v));
        char piece[512];
        int k = vocab_token_to_piece(v, ids[i], piece, sizeof piece);
        REQUIRE(k >= 0);
        if (k > (int)sizeof piece) k = (int)sizeof piece;
        if (at + (size_t)k <= 4 * len + 64) memcpy(back + at, piece, (size_t)k);
        at += (size_t)k;
    }
    /* byte-level BPE is lossless for text made only of bytes with plain character tokens; the
     * fixture BPE vocabs have one for every byte of printable ASCII */
    if (vocab_family_of(v) == VOCAB_BPE && !parse_special && !add_bos) {
        int plain = 1;
        for (size_t i = 0; i < len; i++) plain &= data[1 + i] >= 0x20 && data[1 + i] < 0x7f;
        if (plain) REQUIRE(at == len && memcmp(back, text, len) == 0);
    }
    free(ids);
    free(back);
    return 0;
}
