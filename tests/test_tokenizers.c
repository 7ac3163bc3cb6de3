/* test_tokenizers.c - every tokenizer family against the reference vectors of every vocab in
 * the fixtures (each tokenizer/ggml-vocab-NAME.gguf with .inp/.out), round trips through
 * token_to_piece, special tokens and BOS/EOS per metadata, end-of-generation tokens, pre-tokenizer
 * names, BPE merge order on hand-made vocabs, and bad input: invalid UTF-8, missing or malformed
 * merge rules, long inputs without spaces. */
#include <dirent.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "gguf/gguf.h"
#include "text/pretok.h"
#include "text/vocab.h"
#include "vocab_util.h"

#define MAX_CASES  256
#define MAX_VOCABS 64

/* testdata/tokenizer/<name> */
static vocab *open_fixture_vocab(const char *name, gguf_file **f)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizer/%s", name);
    return open_vocab(rel, f);
}

/* ---- every fixture vocab ---- */

static char vocab_names[MAX_VOCABS][128];
static int n_vocab_names;
static const char *cur_vocab; /* the vocab the current case is about */

/* The ggml-vocab-*.gguf files of the fixtures that have vectors, sorted. */
static void list_vocabs(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tokenizer", t_testdata());
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) && n_vocab_names < MAX_VOCABS) {
        size_t n = strlen(e->d_name);
        if (n < 6 || n >= sizeof vocab_names[0] || strcmp(e->d_name + n - 5, ".gguf") != 0)
            continue;
        char inp[1200];
        snprintf(inp, sizeof inp, "%s/%s.inp", dir, e->d_name);
        if (access(inp, R_OK) != 0) continue;
        snprintf(vocab_names[n_vocab_names++], sizeof vocab_names[0], "%s", e->d_name);
    }
    if (d) closedir(d);
    qsort(vocab_names, (size_t)n_vocab_names, sizeof vocab_names[0],
          (int (*)(const void *, const void *))strcmp);
}

/* The reference ids of every case, exactly; then the round trip. Lossless families must give
 * the text back byte for byte (SentencePiece less the space prefix). WordPiece folds case,
 * accents and spacing, so there the check is that decoding and encoding again reproduces the
 * same ids; cases that produce [UNK] lose their text and are skipped (listed). */
static void vectors_and_roundtrip(void)
{
    gguf_file *f;
    vocab *v = open_fixture_vocab(cur_vocab, &f);
    CHECK(v != NULL);
    if (!v) return;
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer/%s.inp", t_testdata(), cur_vocab);
    size_t inp_len = 0;
    char *inp = t_read_file(path, &inp_len);
    snprintf(path, sizeof path, "%s/tokenizer/%s.out", t_testdata(), cur_vocab);
    char *outf = t_read_file(path, NULL);
    CHECK(inp && outf);
    vcase cases[MAX_CASES];
    int n_cases = inp && outf ? split_cases(inp, inp_len, cases, MAX_CASES) : 0;
    CHECKF(n_cases > 0, "no cases");

    int n_exact = 0, n_shown = 0, n_rt = 0, n_rt_cases = 0;
    int wpm = vocab_family_of(v) == VOCAB_WPM;
    char skipped[256] = "";
    char *cursor = outf;
    for (int i = 0; i < n_cases; i++) {
        uh_token want[2048];
        int n_want = next_expected(&cursor, want, 2048);
        CHECKF(n_want >= 0 && n_want <= 2048, "case %d: no expected line", i);
        if (n_want < 0 || n_want > 2048) break;
        int n = 0;
        uh_token *got = tokenize(v, cases[i].text, cases[i].len, 0, 0, &n);
        if (got && ids_equal(got, n, want, n_want)) {
            n_exact++;
        } else if (n_shown++ < 5) {
            printf("  case %d ", i);
            print_text(cases[i].text, cases[i].len);
            printf(" differs\n");
            print_ids("want", want, n_want);
            if (got) print_ids("got ", got, n);
        }
        size_t len = 0;
        char *back = got ? detokenize(v, got, n, &len) : NULL;
        if (wpm && got && contains(got, n, vocab_unk(v))) {
            size_t at = strlen(skipped);
            snprintf(skipped + at, sizeof skipped - at, " %d", i);
        } else if (wpm) {
            n_rt_cases++;
            int n2 = 0;
            uh_token *again = back ? tokenize(v, back, len, 0, 0, &n2) : NULL;
            if (again && ids_equal(again, n2, got, n))
                n_rt++;
            else
                printf("  case %d: re-encoding the decoded text changes the ids\n", i);
            free(again);
        } else {
            n_rt_cases++;
            const char *b = back;
            if (back && len > 0 && vocab_adds_space_prefix(v) && b[0] == ' ') b++, len--;
            if (back && len == cases[i].len && memcmp(b, cases[i].text, len) == 0) {
                n_rt++;
            } else {
                printf("  case %d ", i);
                print_text(cases[i].text, cases[i].len);
                printf(" decodes to ");
                if (back) print_text(b, len);
                printf("\n");
            }
        }
        free(back);
        free(got);
    }
    printf("  %s: %d/%d exact, round trip %d/%d", cur_vocab, n_exact, n_cases, n_rt, n_rt_cases);
    if (skipped[0]) printf(" (skipped, [UNK] in the ids:%s)", skipped);
    printf("\n");
    CHECK(n_exact == n_cases);
    CHECK(n_rt == n_rt_cases && n_rt_cases > 0);
    free(inp);
    free(outf);
    close_vocab(v, f);
}

/* Every fixture family is covered: a vocab missing from the directory must not pass silently. */
static void all_families_present(void)
{
    static const char *want[] = {"bert-bge", "deepseek-coder", "deepseek-llm", "falcon",
                                 "gpt-2",    "llama-bpe",      "llama-spm",    "mpt",
                                 "phi-3",    "qwen2",          "refact",       "starcoder"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "ggml-vocab-%s.gguf", want[i]);
        int found = 0;
        for (int k = 0; k < n_vocab_names; k++) found |= strcmp(vocab_names[k], name) == 0;
        CHECKF(found, "%s not in the fixtures", name);
    }
}

/* ---- special tokens, BOS/EOS, end of generation ---- */

static void bpe_special_tokens(void)
{
    gguf_file *f;
    vocab *v = open_fixture_vocab("ggml-vocab-llama-bpe.gguf", &f);
    CHECK(v != NULL);
    if (!v) return;
    const char *s = "<|begin_of_text|>Hello<|eot_id|>";
    int n = 0, n_plain = 0;
    uh_token *ids = tokenize(v, s, strlen(s), 0, 1, &n);
    uh_token *hello = tokenize(v, "Hello", 5, 0, 0, &n_plain);
    CHECK(ids && hello && n == n_plain + 2);
    if (ids && hello && n == n_plain + 2) {
        CHECK(ids[0] == 128000 && ids[n - 1] == 128009);
        CHECK(memcmp(ids + 1, hello, (size_t)n_plain * sizeof *ids) == 0);
    }
    free(ids);
    /* without parse_special the markers are plain text, and decode back to it */
    ids = tokenize(v, s, strlen(s), 0, 0, &n);
    CHECK(ids && n > 3 && !contains(ids, n, 128000) && !contains(ids, n, 128009));
    size_t len = 0;
    char *back = ids ? detokenize(v, ids, n, &len) : NULL;
    CHECK(back && strcmp(back, s) == 0);
    free(back);
    free(ids);
    /* Llama 3 wants BOS (its pre-tokenizer says so), no EOS */
    ids = tokenize(v, "Hello", 5, 1, 0, &n);
    CHECK(ids && n == n_plain + 1 && ids[0] == 128000);
    free(ids);
    free(hello);
    CHECK(vocab_is_eog(v, 128001) && vocab_is_eog(v, 128009) && !vocab_is_eog(v, 128000));
    char piece[16];
    CHECK(vocab_token_to_piece(v, 128009, piece, sizeof piece) == 0); /* control: nothing */
    close_vocab(v, f);

    v = open_fixture_vocab("ggml-vocab-qwen2.gguf", &f);
    CHECK(v != NULL);
    if (!v) return;
    s = "<|im_start|>user\nhi<|im_end|>\n";
    ids = tokenize(v, s, strlen(s), 1, 1, &n); /* qwen2: no BOS wanted */
    CHECK(ids && n >= 4 && ids[0] == 151644 && contains(ids, n, 151645));
    free(ids);
    CHECK(vocab_is_eog(v, 151645) && vocab_is_eog(v, 151643) && !vocab_is_eog(v, 151644));
    close_vocab(v, f);
}

static void bos_per_metadata(void)
{
    static const struct {
        const char *name;
        uh_token first; /* -1: no BOS */
    } cases[] = {
        {"ggml-vocab-gpt-2.gguf", -1},             /* no add_bos_token: none */
        {"ggml-vocab-deepseek-coder.gguf", 32013}, /* add_bos_token true */
        {"ggml-vocab-deepseek-llm.gguf", 100000},
        {"ggml-vocab-llama-spm.gguf", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gguf_file *f;
        vocab *v = open_fixture_vocab(cases[i].name, &f);
        CHECK(v != NULL);
        if (!v) continue;
        int n = 0, n0 = 0;
        uh_token *ids = tokenize(v, "Hi there", 8, 1, 0, &n);
        uh_token *plain = tokenize(v, "Hi there", 8, 0, 0, &n0);
        if (cases[i].first < 0)
            CHECKF(ids && plain && ids_equal(ids, n, plain, n0), "%s", cases[i].name);
        else
            CHECKF(ids && plain && n == n0 + 1 && ids[0] == cases[i].first, "%s", cases[i].name);
        free(ids);
        free(plain);
        close_vocab(v, f);
    }
}

static void bert_cls_sep_and_pieces(void)
{
    gguf_file *f;
    vocab *v = open_fixture_vocab("ggml-vocab-bert-bge.gguf", &f);
    CHECK(v != NULL);
    if (!v) return;
    int n = 0;
    uh_token *ids = tokenize(v, "Hello world", 11, 1, 0, &n);
    static const uh_token want[] = {101, 7592, 2088, 102};
    CHECK(ids && ids_equal(ids, n, want, 4));
    free(ids);
    ids = tokenize(v, "[CLS] Hello world [SEP]", 23, 0, 1, &n);
    CHECK(ids && ids_equal(ids, n, want, 4));
    free(ids);
    /* not parsed: brackets are punctuation, "cls" a word */
    ids = tokenize(v, "[CLS]", 5, 0, 0, &n);
    CHECK(ids && n >= 3 && !contains(ids, n, 101));
    free(ids);

    /* decoding: word starts get their space back, continuations join */
    ids = tokenize(v, "F\xc3\xbchrer", 7, 0, 0, &n);
    size_t len = 0;
    char *back = ids ? detokenize(v, ids, n, &len) : NULL;
    CHECK(back && strcmp(back, " fuhrer") == 0);
    free(back);
    free(ids);
    close_vocab(v, f);
}

static void bpe_pieces_are_bytes(void)
{
    gguf_file *f;
    vocab *v = open_fixture_vocab("ggml-vocab-gpt-2.gguf", &f);
    CHECK(v != NULL);
    if (!v) return;
    char buf[32];
    uh_token t = vocab_find(v, "\xc4\xa0world", 7); /* "Ġworld" */
    CHECK(t >= 0 && vocab_token_to_piece(v, t, buf, sizeof buf) == 6 &&
          memcmp(buf, " world", 6) == 0);
    t = vocab_find(v, "\xc4\x8a", 2); /* "Ċ" is byte 0x0a */
    CHECK(t >= 0 && vocab_token_to_piece(v, t, buf, sizeof buf) == 1 && buf[0] == '\n');
    t = vocab_find(v, "\xc3\xbf", 2); /* "ÿ" is byte 0xff */
    CHECK(t >= 0 && vocab_token_to_piece(v, t, buf, sizeof buf) == 1 && buf[0] == '\xff');
    t = vocab_find(v, "\xc5\x83", 2); /* U+0143 is byte 0xad, the last unprintable one */
    CHECK(t >= 0 && vocab_token_to_piece(v, t, buf, sizeof buf) == 1 && buf[0] == '\xad');
    /* every byte alone comes back as itself */
    for (int b = 1; b < 256; b++) {
        char c = (char)b;
        int n = 0;
        uh_token *ids = tokenize(v, &c, 1, 0, 0, &n);
        size_t len = 0;
        char *back = ids ? detokenize(v, ids, n, &len) : NULL;
        CHECKF(back && len == 1 && back[0] == c, "byte 0x%02x", b);
        free(back);
        free(ids);
    }
    CHECK(vocab_is_eog(v, 50256));
    close_vocab(v, f);
}

static void pretok_names(void)
{
    static const struct {
        const char *name, *canonical;
        int ignore_merges;
    } cases[] = {
        {"gpt-2", "gpt-2", 0},
        {"llama-bpe", "llama-bpe", 1},
        {"llama3", "llama-bpe", 1},
        {"qwen2", "qwen2", 0},
        {"deepseek-r1-qwen", "qwen2", 0},
        {"refact", "starcoder", 0},
        {"mpt", "gpt-2", 0},
        {"gpt-neox", "gpt-2", 0},
        {"falcon", "falcon", 0},
        {"deepseek-llm", "deepseek-llm", 0},
        {"deepseek-coder", "deepseek-coder", 0},
        {"no-such-thing", "gpt-2", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pretok *p = NULL;
        uh_err err = {0};
        int rc = pretok_new(cases[i].name, strlen(cases[i].name), &p, &err);
        CHECKF(rc == 0 && p, "%s: %s", cases[i].name, err.msg);
        if (!p) continue;
        CHECKF(strcmp(pretok_name(p), cases[i].canonical) == 0, "%s -> %s", cases[i].name,
               pretok_name(p));
        CHECK(pretok_ignores_merges(p) == cases[i].ignore_merges);
        pretok_free(p);
    }
}

/* ---- hand-made BPE vocabs ---- */

/* Writes a gpt2 vocab with the given tokens and merges (merges NULL: no merges key) and loads
 * it. Returns the load status; on success *v and *f are the caller's. */
static int load_bpe(const char *const *tokens, int n_tokens, const char *const *merges,
                    int n_merges, vocab **v, gguf_file **f, uh_err *err)
{
    char path[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/test_tokenizers_%d.gguf", tmp && *tmp ? tmp : "/tmp",
             (int)getpid());
    gguf_writer *w = gguf_writer_new();
    int rc = w ? 0 : UH_ENOMEM;
    if (!rc) rc = gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    if (!rc) rc = gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2");
    if (!rc) rc = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, (uint64_t)n_tokens);
    if (!rc && merges)
        rc = gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, (uint64_t)n_merges);
    if (!rc) rc = gguf_writer_write(w, path, 0, err);
    gguf_writer_free(w);
    *v = NULL;
    *f = NULL;
    if (rc) return -100;
    rc = gguf_open(path, f, err);
    if (!rc) rc = vocab_load(*f, v, err);
    unlink(path);
    if (rc) {
        gguf_close(*f);
        *f = NULL;
    }
    return rc;
}

static const char *const abc_tokens[] = {"a", "b", "c", "aa", "ab", "bc", "abc", "\xc4\xa0"};

static void merges_apply_by_rank(void)
{
    static const struct {
        const char *merges[3];
        const char *text;
        uh_token want[3];
        int n_want;
    } cases[] = {
        {{"b c", "a b", "a bc"}, "abc", {6}, 1},    /* b+c first (rank 0), then a+bc */
        {{"a b", "b c", "a bc"}, "abc", {4, 2}, 2}, /* a+b first: no rule joins ab and c */
        {{"a a", "b c", "a bc"}, "aaa", {3, 0}, 2}, /* equal ranks: the leftmost pair */
        {{"a a", "a b", "b c"}, "aab", {3, 1}, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vocab *v;
        gguf_file *f;
        uh_err err = {0};
        int rc = load_bpe(abc_tokens, 8, cases[i].merges, 3, &v, &f, &err);
        CHECKF(rc == 0, "%s", err.msg);
        if (rc) continue;
        int n = 0;
        uh_token *ids = tokenize(v, cases[i].text, strlen(cases[i].text), 0, 0, &n);
        CHECKF(ids && ids_equal(ids, n, cases[i].want, cases[i].n_want), "case %zu", i);
        if (ids && !ids_equal(ids, n, cases[i].want, cases[i].n_want)) print_ids("got", ids, n);
        free(ids);
        close_vocab(v, f);
    }
}

static void missing_merges_is_an_error(void)
{
    vocab *v;
    gguf_file *f;
    uh_err err = {0};
    int rc = load_bpe(abc_tokens, 8, NULL, 0, &v, &f, &err);
    CHECKF(rc == 0, "%s", err.msg); /* loads (for inspection), but cannot tokenize */
    if (rc) return;
    uh_token ids[8];
    int n = 0;
    rc = vocab_tokenize(v, "abc", 3, 0, 0, ids, 8, &n, &err);
    CHECK(rc == UH_EFORMAT && strstr(err.msg, "tokenizer.ggml.merges missing"));
    close_vocab(v, f);
}

static void merge_without_space_is_rejected(void)
{
    static const char *const merges[] = {"a b", "bc", "a bc"};
    vocab *v;
    gguf_file *f;
    uh_err err = {0};
    int rc = load_bpe(abc_tokens, 8, merges, 3, &v, &f, &err);
    CHECK(rc == UH_EFORMAT && strstr(err.msg, "tokenizer.ggml.merges[1]"));
    if (!rc) close_vocab(v, f);
    /* a rule naming texts that are no tokens is ignored, not fatal */
    static const char *const odd[] = {"x y", "a b", " "};
    rc = load_bpe(abc_tokens, 8, odd, 2, &v, &f, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (!rc) close_vocab(v, f);
    rc = load_bpe(abc_tokens, 8, odd + 2, 1, &v, &f, &err); /* " ": no right part */
    CHECK(rc == UH_EFORMAT);
    if (!rc) close_vocab(v, f);
}

/* ---- bad and long input ---- */

/* GPT-2's character for byte b, as UTF-8 into u; returns the length. */
static size_t gpt2_char(unsigned b, char u[2])
{
    unsigned cp = b;
    if (!((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae)))
        cp = 0x100 + (b <= 0x20 ? b : b <= 0xa0 ? b - 0x7f + 0x21 : 0x43);
    if (cp < 0x80) {
        u[0] = (char)cp;
        return 1;
    }
    u[0] = (char)(0xc0 | cp >> 6);
    u[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
}

/* Invalid UTF-8 never fails. Byte-level BPE keeps every byte the vocab has a character token
 * for (some vocabs lack bytes that valid UTF-8 never uses, such as 0xc0 and 0xff); WordPiece
 * makes the words holding bad bytes unknown. */
static void invalid_utf8_is_kept(void)
{
    /* a lone continuation byte, a truncated sequence, an overlong form, 0xff, a surrogate and a
     * lead byte at the end */
    const char s[] = "a\x80 b\xe2\x82 c\xc0\xaf d\xff e\xed\xa0\x80 f\xf0";
    size_t len = sizeof s - 1;
    for (int i = 0; i < n_vocab_names; i++) {
        gguf_file *f;
        vocab *v = open_fixture_vocab(vocab_names[i], &f);
        CHECK(v != NULL);
        if (!v) continue;
        int n = 0;
        uh_token *ids = tokenize(v, s, len, 0, 1, &n);
        CHECKF(ids && n > 0, "%s", vocab_names[i]);
        size_t back_len = 0;
        char *back = ids ? detokenize(v, ids, n, &back_len) : NULL;
        CHECK(back != NULL);
        if (back && vocab_family_of(v) == VOCAB_BPE) {
            char want[2 * sizeof s];
            size_t n_want = 0, n_kept = 0;
            for (size_t k = 0; k < len; k++) {
                char u[2];
                size_t ul = gpt2_char((unsigned char)s[k], u);
                uh_token t = vocab_find(v, u, ul);
                if (t >= 0 && vocab_token_type(v, t) == 1) {
                    want[n_want++] = s[k];
                    n_kept++;
                } else if (t >= 0) { /* user-defined tokens render as their text */
                    memcpy(want + n_want, u, ul);
                    n_want += ul;
                }
            }
            CHECKF(n_kept + 3 >= len && back_len == n_want && memcmp(back, want, n_want) == 0,
                   "%s: bytes lost (%zu kept of %zu)", vocab_names[i], n_kept, len);
        }
        if (back && vocab_family_of(v) == VOCAB_WPM) /* words with bad bytes are unknown */
            CHECK(contains(ids, n, vocab_unk(v)));
        free(back);
        free(ids);
        close_vocab(v, f);
    }
}

static void small_buffer_reports_needed_count(void)
{
    gguf_file *f;
    vocab *v = open_fixture_vocab("ggml-vocab-qwen2.gguf", &f);
    CHECK(v != NULL);
    if (!v) return;
    const char *s = "Hello, world! How are you?";
    uh_token ids[64], small[3] = {-7, -7, -7};
    int n = 0, n2 = 0;
    uh_err err = {0};
    CHECK(vocab_tokenize(v, s, strlen(s), 0, 0, ids, 64, &n, &err) == 0 && n > 3);
    CHECK(vocab_tokenize(v, s, strlen(s), 0, 0, small, 2, &n2, &err) == UH_ELIMIT && n2 == n);
    CHECK(small[0] == ids[0] && small[1] == ids[1] && small[2] == -7);
    close_vocab(v, f);
}

/* 1 MiB without spaces ('a' repeated, then random letters) must come back whole from every
 * vocab, in reasonable time (a quadratic merge would not finish in the suite's time). */
static void long_words(void)
{
    size_t len = (size_t)1 << 20;
    char *text = malloc(len);
    CHECK(text != NULL);
    if (!text) return;
    for (int i = 0; i < n_vocab_names; i++) {
        gguf_file *f;
        vocab *v = open_fixture_vocab(vocab_names[i], &f);
        CHECK(v != NULL);
        if (!v) continue;
        uint32_t x = 7;
        for (int round = 0; round < 2; round++) {
            for (size_t k = 0; k < len; k++) {
                x = x * 1103515245u + 12345u;
                text[k] = round == 0 ? 'a' : (char)('a' + (x >> 16) % 26);
            }
            int n = 0;
            uh_token *ids = tokenize(v, text, len, 0, 0, &n);
            CHECKF(ids && n > 0 && n < (int)len, "%s round %d", vocab_names[i], round);
            size_t back_len = 0;
            char *back = ids ? detokenize(v, ids, n, &back_len) : NULL;
            const char *b = back;
            if (back && back_len > 0 && vocab_adds_space_prefix(v) && b[0] == ' ') b++, back_len--;
            if (vocab_family_of(v) != VOCAB_WPM || !contains(ids, n, vocab_unk(v)))
                CHECKF(back && back_len == len && memcmp(b, text, len) == 0, "%s round %d",
                       vocab_names[i], round);
            free(back);
            free(ids);
        }
        close_vocab(v, f);
    }
    free(text);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    list_vocabs();
    T_RUN(all_families_present);
    for (int i = 0; i < n_vocab_names; i++) {
        char name[200];
        cur_vocab = vocab_names[i];
        snprintf(name, sizeof name, "vectors_and_roundtrip %.127s", vocab_names[i]);
        t_run(name, vectors_and_roundtrip);
    }
    T_RUN(bpe_special_tokens);
    T_RUN(bos_per_metadata);
    T_RUN(bert_cls_sep_and_pieces);
    T_RUN(bpe_pieces_are_bytes);
    T_RUN(pretok_names);
    T_RUN(merges_apply_by_rank);
    T_RUN(missing_merges_is_an_error);
    T_RUN(merge_without_space_is_rejected);
    T_RUN(invalid_utf8_is_kept);
    T_RUN(small_buffer_reports_needed_count);
    T_RUN(long_words);
    return t_exit();
}
