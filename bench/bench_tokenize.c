/* bench_tokenize.c - tokenizer throughput per family, and proof that cost per byte does not
 * grow with the length of a word.
 *
 * usage: bench_tokenize [TESTDATA_DIR] [MB]   (default $UNHOSTED_TESTDATA or ../shared/testdata,
 *        and 4 MB of text)
 *
 * For each fixture vocab it tokenizes the same generated mixed text (English words, punctuation,
 * digits, code, CJK and emoji; made by a fixed-seed generator, so runs compare) and prints MB/s.
 * Then, for inputs without any space ('a' repeated, random letters), it times 256 KiB and 1 MiB
 * and prints the ratio of time per byte (1.0 = linear; a quadratic tokenizer shows ~4). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "gguf/gguf.h"
#include "text/vocab.h"

static const char *const families[][2] = {
    {"llama-spm", "SPM"},       {"gpt-2", "BPE"},          {"llama-bpe", "BPE"},
    {"qwen2", "BPE"},           {"deepseek-llm", "BPE"},   {"deepseek-coder", "BPE"},
    {"falcon", "BPE"},          {"starcoder", "BPE"},      {"mpt", "BPE"},
    {"bert-bge", "WPM"},
};

static uint32_t rng_state = 12345;
static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (rng_state >> 8) % n;
}

/* Deterministic mixed text of exactly len bytes (the tail may cut a character). */
static void make_text(char *buf, size_t len)
{
    static const char *const words[] = {
        "the", "of", "and", "to", "in", "is", "that", "for", "it", "with", "as", "was", "on",
        "tokenizer", "model", "inference", "laptop", "weights", "memory", "quantized", "Hello",
        "World", "It's", "don't", "we'll", "The", "A", "running", "locally", "friend's"};
    static const char *const extra[] = {
        ", ", ". ", "! ", "? ", "; ", "\n", "\n\n", "    ", "\t", " (", ") ", "\"", " - ",
        " 42", " 3.14159", " 2024-06-01", " 1000000", " int main(void) { return 0; }",
        " for (i = 0; i < n; i++) x[i] += y[i];", " x->next = NULL;", "我想在工作", "日本語のテキスト",
        " 😀", " 🦙🚀", " Übergröße", " naïve café", " Привет мир", " 안녕하세요"};
    size_t at = 0;
    while (at < len) {
        const char *s;
        if (rnd(4) == 0)
            s = extra[rnd(sizeof extra / sizeof extra[0])];
        else
            s = words[rnd(sizeof words / sizeof words[0])];
        char tmp[128];
        int n = snprintf(tmp, sizeof tmp, "%s%s", rnd(6) ? " " : "", s);
        for (int i = 0; i < n && at < len; i++) buf[at++] = tmp[i];
    }
}

/* Seconds for the best of `reps` tokenizations of text; -1 on error. */
static double time_tokenize(const vocab *v, const char *text, size_t len, uh_token *ids, int cap,
                            int reps, int *n_out)
{
    double best = -1;
    for (int r = 0; r < reps; r++) {
        uh_err err = {0};
        double t0 = clock_mono_s();
        int rc = vocab_tokenize(v, text, len, 0, 0, ids, cap, n_out, &err);
        double dt = clock_mono_s() - t0;
        if (rc) {
            fprintf(stderr, "tokenize failed: %s\n", err.msg);
            return -1;
        }
        if (best < 0 || dt < best) best = dt;
    }
    return best;
}

int main(int argc, char **argv)
{
    const char *env = getenv("UNHOSTED_TESTDATA");
    const char *td = argc > 1 ? argv[1] : env && *env ? env : "../shared/testdata";
    double mb = argc > 2 ? atof(argv[2]) : 4.0;
    if (mb <= 0 || mb > 256) mb = 4.0;
    size_t len = (size_t)(mb * 1e6), word_len = (size_t)1 << 20;
    size_t cap_len = len > word_len ? len : word_len;
    char *text = malloc(len), *word = malloc(word_len);
    uh_token *ids = malloc((cap_len + 16) * sizeof *ids);
    if (!text || !word || !ids) return 1;
    make_text(text, len);

    printf("%-15s %-4s %10s %10s %8s | %-26s %-26s\n", "vocab", "fam", "mixed MB/s", "tokens",
           "B/tok", "'a'x1MiB MB/s (ratio)", "random letters MB/s (ratio)");
    int status = 0;
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-%s.gguf", td, families[i][0]);
        gguf_file *f = NULL;
        vocab *v = NULL;
        uh_err err = {0};
        if (gguf_open(path, &f, &err) || vocab_load(f, &v, &err)) {
            fprintf(stderr, "%s: %s\n", path, err.msg);
            gguf_close(f);
            status = 1;
            continue;
        }
        int n = 0;
        double t = time_tokenize(v, text, len, ids, (int)cap_len + 16, 3, &n);
        printf("%-15s %-4s %10.1f %10d %8.2f |", families[i][0], families[i][1],
               t > 0 ? (double)len / 1e6 / t : 0, n, n ? (double)len / n : 0);
        for (int kind = 0; kind < 2; kind++) {
            uint32_t saved = rng_state;
            rng_state = 777;
            for (size_t k = 0; k < word_len; k++)
                word[k] = kind == 0 ? 'a' : (char)('a' + rnd(26));
            rng_state = saved;
            size_t small = word_len / 4;
            double t_small = time_tokenize(v, word, small, ids, (int)cap_len + 16, 3, &n);
            double t_big = time_tokenize(v, word, word_len, ids, (int)cap_len + 16, 3, &n);
            double ratio = t_small > 0 ? (t_big / (double)word_len) / (t_small / (double)small) : 0;
            printf(" %12.1f (%4.2f)          ", t_big > 0 ? (double)word_len / 1e6 / t_big : 0,
                   ratio);
        }
        printf("\n");
        fflush(stdout);
        vocab_free(v);
        gguf_close(f);
    }
    free(text);
    free(word);
    free(ids);
    return status;
}
