/* test_vocab.c - vocabulary loading and the SentencePiece tokenizer: the reference tokenizer's
 * vectors for two vocabs, round trips through token_to_piece, the stories260K prompts, special
 * tokens, buffer limits, malformed UTF-8, metadata validation, and throughput on long inputs. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "check.h"
#include "gguf/gguf.h"
#include "text/vocab.h"
#include "vocab_util.h"

/* ---- reference vectors ---- */

static void run_vectors(const char *name)
{
    char rel[256], path[1024];
    gguf_file *f;
    snprintf(rel, sizeof rel, "tokenizer/%s", name);
    vocab *v = open_vocab(rel, &f);
    CHECK(v != NULL);
    if (!v) return;

    snprintf(path, sizeof path, "%s/tokenizer/%s.inp", t_testdata(), name);
    size_t inp_len = 0;
    char *inp = t_read_file(path, &inp_len);
    snprintf(path, sizeof path, "%s/tokenizer/%s.out", t_testdata(), name);
    char *outf = t_read_file(path, NULL);
    CHECK(inp && outf);
    if (!inp || !outf) goto done;

    vcase cases[256];
    int n_cases = split_cases(inp, inp_len, cases, 256);
    CHECKF(n_cases == 46, "%d cases", n_cases);

    int n_pass = 0, n_shown = 0;
    char *cursor = outf;
    for (int i = 0; i < n_cases; i++) {
        uh_token want[1024];
        int n_want = next_expected(&cursor, want, 1024);
        CHECKF(n_want >= 0 && n_want <= 1024, "case %d: no expected line", i);
        if (n_want < 0 || n_want > 1024) break;
        int n_got = 0;
        uh_token *got = tokenize(v, cases[i].text, cases[i].len, 0, 0, &n_got);
        if (got && ids_equal(got, n_got, want, n_want)) {
            n_pass++;
        } else if (n_shown++ < 5) {
            printf("  %s case %d ", name, i);
            print_text(cases[i].text, cases[i].len);
            printf(" differs\n");
            print_ids("want", want, n_want);
            if (got) print_ids("got ", got, n_got);
        }
        free(got);
    }
    printf("  %s: %d/%d cases exact\n", name, n_pass, n_cases);
    CHECK(n_pass == n_cases);
done:
    free(inp);
    free(outf);
    close_vocab(v, f);
}

static void vectors_llama_spm(void)
{
    run_vectors("ggml-vocab-llama-spm.gguf");
}
static void vectors_phi3(void)
{
    run_vectors("ggml-vocab-phi-3.gguf");
}

/* Every vector case must come back byte for byte from its tokens, less the one space the
 * tokenizer put in front. */
static void run_roundtrip(const char *name)
{
    char rel[256], path[1024];
    gguf_file *f;
    snprintf(rel, sizeof rel, "tokenizer/%s", name);
    vocab *v = open_vocab(rel, &f);
    CHECK(v != NULL);
    if (!v) return;
    snprintf(path, sizeof path, "%s/tokenizer/%s.inp", t_testdata(), name);
    size_t inp_len = 0;
    char *inp = t_read_file(path, &inp_len);
    CHECK(inp != NULL);
    vcase cases[256];
    int n_cases = inp ? split_cases(inp, inp_len, cases, 256) : 0;
    int n_lossless = 0;
    for (int i = 0; i < n_cases; i++) {
        int n = 0;
        size_t len = 0;
        uh_token *ids = tokenize(v, cases[i].text, cases[i].len, 0, 0, &n);
        char *s = ids ? detokenize(v, ids, n, &len) : NULL;
        const char *back = s;
        if (s && len > 0 && vocab_adds_space_prefix(v) && s[0] == ' ') {
            back++;
            len--;
        }
        if (s && len == cases[i].len && memcmp(back, cases[i].text, len) == 0) {
            n_lossless++;
        } else {
            printf("  %s case %d ", name, i);
            print_text(cases[i].text, cases[i].len);
            printf(" is lossy: decodes to ");
            if (s) print_text(back, len);
            printf("\n");
        }
        free(s);
        free(ids);
    }
    printf("  %s: %d/%d cases decode to their text\n", name, n_lossless, n_cases);
    CHECK(n_cases > 0 && n_lossless == n_cases);
    free(inp);
    close_vocab(v, f);
}

static void roundtrip_llama_spm(void)
{
    run_roundtrip("ggml-vocab-llama-spm.gguf");
}
static void roundtrip_phi3(void)
{
    run_roundtrip("ggml-vocab-phi-3.gguf");
}

/* ---- stories260K ---- */

/* token_ids of the stories260K seqT entry of manifest.json; returns the count or -1. */
static int manifest_seqt(uh_token *ids, int max)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest.json", t_testdata());
    char *text = t_read_file(path, NULL);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    int n = -1;
    cJSON *entry;
    cJSON_ArrayForEach(entry, cJSON_GetObjectItem(root, "logits"))
    {
        const char *model = cJSON_GetStringValue(cJSON_GetObjectItem(entry, "model"));
        const char *seq = cJSON_GetStringValue(cJSON_GetObjectItem(entry, "seq"));
        if (!model || !seq || strcmp(seq, "seqT") != 0 ||
            strcmp(model, "models/stories260K.gguf") != 0)
            continue;
        cJSON *id;
        n = 0;
        cJSON_ArrayForEach(id, cJSON_GetObjectItem(entry, "token_ids"))
        {
            if (n < max) ids[n] = (uh_token)id->valueint;
            n++;
        }
        break;
    }
    cJSON_Delete(root);
    free(text);
    return n;
}

static void stories260k_prompts(void)
{
    gguf_file *f;
    vocab *v = open_vocab("models/stories260K.gguf", &f);
    CHECK(v != NULL);
    if (!v) return;
    CHECK(vocab_n_tokens(v) == 512);
    CHECK(vocab_bos(v) == 1 && vocab_eos(v) == 2 && vocab_add_bos(v));

    static const uh_token want1[] = {1, 403, 407, 261, 378};
    int n = 0;
    uh_token *ids = tokenize(v, "Once upon a time", 16, 1, 0, &n);
    CHECK(ids && ids_equal(ids, n, want1, 5));
    if (ids && !ids_equal(ids, n, want1, 5)) print_ids("got", ids, n);
    free(ids);

    uh_token want2[64];
    int n_want = manifest_seqt(want2, 64);
    CHECKF(n_want == 32, "manifest seqT has %d ids", n_want);
    const char *story =
        "Once upon a time, there was a little girl named Lily. She loved to play outside in "
        "the park.";
    ids = tokenize(v, story, strlen(story), 1, 0, &n);
    CHECK(ids && n_want > 0 && ids_equal(ids, n, want2, n_want));
    if (ids && !ids_equal(ids, n, want2, n_want)) {
        print_ids("want", want2, n_want);
        print_ids("got ", ids, n);
    }
    free(ids);
    close_vocab(v, f);
}

/* ---- special tokens, limits, malformed input ---- */

static void special_tokens_parsed_only_when_asked(void)
{
    gguf_file *f;
    vocab *v = open_vocab("tokenizer/ggml-vocab-llama-spm.gguf", &f);
    CHECK(v != NULL);
    if (!v) return;
    const char *s = "<s>hello</s>";
    int n = 0, n_plain = 0;
    uh_token *ids = tokenize(v, s, strlen(s), 0, 1, &n);
    /* "hello" follows a special token, so it gets the space prefix like a text start */
    uh_token *hello = tokenize(v, "hello", 5, 0, 0, &n_plain);
    CHECK(ids && hello && n == n_plain + 2);
    if (ids && hello && n == n_plain + 2) {
        CHECK(ids[0] == 1 && ids[n - 1] == 2);
        CHECK(memcmp(ids + 1, hello, (size_t)n_plain * sizeof *ids) == 0);
    }
    free(ids);
    free(hello);

    ids = tokenize(v, s, strlen(s), 0, 0, &n);
    CHECK(ids && n > 2);
    for (int i = 0; ids && i < n; i++) CHECKF(!vocab_is_control(v, ids[i]), "id %d", ids[i]);
    size_t len = 0;
    char *back = ids ? detokenize(v, ids, n, &len) : NULL;
    CHECK(back && strcmp(back, " <s>hello</s>") == 0);
    free(back);
    free(ids);

    /* with BOS requested, and a special token at the very end */
    ids = tokenize(v, "hi</s>", 6, 1, 1, &n);
    CHECK(ids && n >= 3 && ids[0] == 1 && ids[n - 1] == 2);
    free(ids);
    close_vocab(v, f);
}

static void phi3_chat_tokens(void)
{
    gguf_file *f;
    vocab *v = open_vocab("tokenizer/ggml-vocab-phi-3.gguf", &f);
    CHECK(v != NULL);
    if (!v) return;
    const char *s = "<|user|>\nHi<|end|>\n<|assistant|>";
    int n = 0;
    uh_token *ids = tokenize(v, s, strlen(s), 1, 1, &n);
    CHECK(ids && n >= 5);
    if (ids && n >= 5) {
        CHECK(ids[0] == 1 && ids[1] == 32010 && ids[n - 1] == 32001);
        int saw_end = 0;
        for (int i = 0; i < n; i++) saw_end |= ids[i] == 32007;
        CHECK(saw_end);
    }
    free(ids);
    CHECK(vocab_is_eog(v, 32000) && vocab_is_eog(v, 32007));
    CHECK(!vocab_is_eog(v, 32010) && !vocab_is_eog(v, 1) && !vocab_is_eog(v, -1));
    CHECK(!vocab_is_eog(v, vocab_n_tokens(v)));
    close_vocab(v, f);
}

static void pieces_render_as_text(void)
{
    gguf_file *f;
    vocab *v = open_vocab("tokenizer/ggml-vocab-llama-spm.gguf", &f);
    CHECK(v != NULL);
    if (!v) return;
    char buf[32];
    CHECK(vocab_token_to_piece(v, 15043, buf, sizeof buf) == 6 && memcmp(buf, " Hello", 6) == 0);
    CHECK(vocab_token_to_piece(v, 3 + 0x41, buf, sizeof buf) == 1 && buf[0] == 'A');
    CHECK(vocab_token_to_piece(v, 3 + 0xff, buf, sizeof buf) == 1 && buf[0] == '\xff');
    CHECK(vocab_token_to_piece(v, 1, buf, sizeof buf) == 0); /* control: nothing */
    CHECK(vocab_token_to_piece(v, 0, buf, sizeof buf) == 5 && memcmp(buf, "<unk>", 5) == 0);
    CHECK(vocab_token_to_piece(v, -1, buf, sizeof buf) == UH_EINVAL);
    CHECK(vocab_token_to_piece(v, 32000, buf, sizeof buf) == UH_EINVAL);
    memset(buf, '#', sizeof buf);
    CHECK(vocab_token_to_piece(v, 15043, buf, 3) == 6 && memcmp(buf, " He#", 4) == 0);
    size_t len = 0;
    const char *t = vocab_token_text(v, 15043, &len);
    CHECK(t && len == 8 && memcmp(t, "\xe2\x96\x81Hello", 8) == 0);
    CHECK(vocab_find(v, "\xe2\x96\x81Hello", 8) == 15043);
    CHECK(vocab_token_text(v, 32000, &len) == NULL);
    CHECK(vocab_is_eog(v, 2) && !vocab_is_eog(v, 1) && vocab_is_control(v, 1));
    close_vocab(v, f);
}

static void small_buffer_reports_needed_count(void)
{
    gguf_file *f;
    vocab *v = open_vocab("tokenizer/ggml-vocab-llama-spm.gguf", &f);
    CHECK(v != NULL);
    if (!v) return;
    const char *s = "Hello, world! How are you?";
    uh_token ids[64], small[3] = {-7, -7, -7};
    int n = 0, n2 = 0;
    uh_err err = {0};
    CHECK(vocab_tokenize(v, s, strlen(s), 1, 0, ids, 64, &n, &err) == 0 && n > 3);
    CHECK(vocab_tokenize(v, s, strlen(s), 1, 0, small, 2, &n2, &err) == UH_ELIMIT);
    CHECK(n2 == n && err.code == UH_ELIMIT);
    CHECK(small[0] == ids[0] && small[1] == ids[1] && small[2] == -7);
    CHECK(vocab_tokenize(v, s, strlen(s), 1, 0, NULL, 0, &n2, &err) == UH_ELIMIT && n2 == n);
    CHECK(vocab_tokenize(v, s, strlen(s), 1, 0, NULL, 5, &n2, &err) == UH_EINVAL);
    close_vocab(v, f);
}

static void invalid_utf8_becomes_bytes(void)
{
    gguf_file *f;
    vocab *v = open_vocab("tokenizer/ggml-vocab-llama-spm.gguf", &f);
    CHECK(v != NULL);
    if (!v) return;
    /* a lone continuation byte, a truncated 3-byte sequence, an overlong form, 0xff, a
     * surrogate, and a lead byte at the very end */
    const char s[] = "a\x80 b\xe2\x82 c\xc0\xaf d\xff e\xed\xa0\x80 f\xf0";
    size_t len = sizeof s - 1;
    int n = 0;
    uh_token *ids = tokenize(v, s, len, 0, 0, &n);
    CHECK(ids != NULL);
    int n_bytes = 0;
    for (int i = 0; ids && i < n; i++) n_bytes += vocab_token_type(v, ids[i]) == 6;
    CHECKF(n_bytes == 10, "%d byte tokens", n_bytes);
    size_t back_len = 0;
    char *back = ids ? detokenize(v, ids, n, &back_len) : NULL;
    CHECK(back && back_len == len + 1 && back[0] == ' ' && memcmp(back + 1, s, len) == 0);
    free(back);
    free(ids);
    close_vocab(v, f);
}

static void empty_text(void)
{
    gguf_file *f;
    vocab *v = open_vocab("tokenizer/ggml-vocab-llama-spm.gguf", &f);
    CHECK(v != NULL);
    if (!v) return;
    uh_token ids[4];
    int n = -1;
    uh_err err = {0};
    CHECK(vocab_tokenize(v, "", 0, 0, 0, ids, 4, &n, &err) == 0 && n == 0);
    CHECK(vocab_tokenize(v, NULL, 0, 1, 1, ids, 4, &n, &err) == 0 && n == 1 && ids[0] == 1);
    CHECK(vocab_tokenize(v, "<s>", 3, 0, 1, ids, 4, &n, &err) == 0 && n == 1 && ids[0] == 1);
    close_vocab(v, f);
}

/* ---- metadata validation ---- */

enum { BREAK_NONE, BREAK_BOS, BREAK_SCORES, BREAK_TOKENS, BREAK_MODEL, BREAK_TYPE, USE_GPT2 };

/* Writes a 7-token SentencePiece vocab (optionally broken one way) and loads it. */
static int load_small(int how, char *msg, size_t msg_len, vocab **out, gguf_file **fout)
{
    static const char *tokens[] = {"<unk>", "<s>", "</s>", "a", "b", "ab", "\xe2\x96\x81"};
    float scores[] = {0, 0, 0, -1, -2, -0.5f, -3, -4};
    int32_t types[] = {2, 3, 3, 1, 1, 1, 1};
    char path[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/test_vocab_%d_%d.gguf", tmp && *tmp ? tmp : "/tmp",
             (int)getpid(), how);
    if (how == BREAK_TYPE) types[4] = 9;
    gguf_writer *w = gguf_writer_new();
    uh_err err = {0};
    int rc = w ? 0 : UH_ENOMEM;
    if (!rc && how != BREAK_MODEL)
        rc = gguf_writer_set_str(w, "tokenizer.ggml.model", how == USE_GPT2 ? "gpt2" : "llama");
    if (!rc && how != BREAK_TOKENS)
        rc = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 7);
    if (!rc)
        rc = gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_T_F32, scores,
                                 how == BREAK_SCORES ? 8 : 7);
    if (!rc) rc = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_T_I32, types, 7);
    if (!rc) rc = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", how == BREAK_BOS ? 7 : 1);
    if (!rc) rc = gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 0xffffffffu);
    if (!rc) rc = gguf_writer_write(w, path, 0, &err);
    gguf_writer_free(w);
    if (rc) {
        snprintf(msg, msg_len, "writing failed: %.400s", err.msg);
        return -100;
    }
    gguf_file *f = NULL;
    vocab *v = NULL;
    rc = gguf_open(path, &f, &err);
    if (!rc) rc = vocab_load(f, &v, &err);
    unlink(path);
    snprintf(msg, msg_len, "%s", rc ? err.msg : "");
    if (rc) {
        gguf_close(f);
        return rc;
    }
    *out = v;
    *fout = f;
    return 0;
}

static void bad_metadata_is_rejected(void)
{
    static const struct {
        int how;
        const char *word; /* the message must name the key */
    } cases[] = {
        {BREAK_BOS, "bos_token_id"},           {BREAK_SCORES, "scores"},   {BREAK_TOKENS, "tokens"},
        {BREAK_MODEL, "tokenizer.ggml.model"}, {BREAK_TYPE, "token_type"},
    };
    char msg[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vocab *v = NULL;
        gguf_file *f = NULL;
        int rc = load_small(cases[i].how, msg, sizeof msg, &v, &f);
        CHECKF(rc == UH_EFORMAT && strstr(msg, cases[i].word), "case %d: rc %d, '%s'", cases[i].how,
               rc, msg);
        if (!rc) close_vocab(v, f);
    }
}

static void small_vocab_works(void)
{
    char msg[512];
    vocab *v = NULL;
    gguf_file *f = NULL;
    int rc = load_small(BREAK_NONE, msg, sizeof msg, &v, &f);
    CHECKF(rc == 0, "%s", msg);
    if (rc) return;
    CHECK(vocab_pad(v) == -1 && vocab_bos(v) == 1 && vocab_unk(v) == 0);
    /* no byte tokens: characters outside the vocab become <unk>; "ab" merges */
    uh_token ids[16];
    int n = 0;
    uh_err err = {0};
    CHECK(vocab_tokenize(v, "abc ab", 6, 0, 0, ids, 16, &n, &err) == 0);
    static const uh_token want[] = {6, 5, 0, 6, 5};
    CHECK(ids_equal(ids, n, want, 5));
    if (!ids_equal(ids, n, want, 5)) print_ids("got", ids, n);
    close_vocab(v, f);

    rc = load_small(USE_GPT2, msg, sizeof msg, &v, &f);
    CHECKF(rc == 0, "%s", msg);
    if (rc) return;
    rc = vocab_tokenize(v, "ab", 2, 0, 0, ids, 16, &n, &err);
    CHECK(rc == UH_EFORMAT && strstr(err.msg, "tokenizer.ggml.merges missing"));
    CHECK(vocab_n_tokens(v) == 7 && !vocab_adds_space_prefix(v));
    close_vocab(v, f);
}

/* Copies the vocab of src into a new file with one extra token, "\x01" U+2581 "\x01", that no
 * test text contains: a token with U+2581 after other text, which forces the tokenizer to merge
 * whole runs instead of word by word. Same results are expected either way. */
static vocab *without_word_split(const vocab *src, gguf_file **fout)
{
    int n = vocab_n_tokens(src);
    const char **texts = calloc((size_t)n + 1, sizeof *texts);
    float *scores = calloc((size_t)n + 1, sizeof *scores);
    int32_t *types = calloc((size_t)n + 1, sizeof *types);
    char path[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/test_vocab_%d_nosplit.gguf", tmp && *tmp ? tmp : "/tmp",
             (int)getpid());
    gguf_writer *w = gguf_writer_new();
    int rc = texts && scores && types && w ? 0 : UH_ENOMEM;
    for (int i = 0; !rc && i < n; i++) {
        size_t len;
        const char *t = vocab_token_text(src, i, &len);
        char *z = malloc(len + 1);
        if (!z)
            rc = UH_ENOMEM;
        else {
            memcpy(z, t, len);
            z[len] = 0;
        }
        texts[i] = z;
        scores[i] = vocab_token_score(src, i);
        types[i] = vocab_token_type(src, i);
    }
    texts[n] = "\x01\xe2\x96\x81\x01";
    scores[n] = -1e9f;
    types[n] = 1;
    uh_err err = {0};
    if (!rc) rc = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    if (!rc) rc = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", texts, (uint64_t)n + 1);
    if (!rc) rc = gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_T_F32, scores, n + 1);
    if (!rc) rc = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_T_I32, types, n + 1);
    if (!rc) rc = gguf_writer_write(w, path, 0, &err);
    gguf_writer_free(w);
    for (int i = 0; texts && i < n; i++) free((char *)texts[i]);
    free(texts);
    free(scores);
    free(types);
    vocab *v = NULL;
    *fout = NULL;
    if (!rc) rc = gguf_open(path, fout, &err);
    if (!rc) rc = vocab_load(*fout, &v, &err);
    unlink(path);
    if (rc) {
        printf("  building the copy failed: %d %s\n", rc, err.msg);
        gguf_close(*fout);
        *fout = NULL;
    }
    return v;
}

static void word_by_word_merging_matches_whole_runs(void)
{
    gguf_file *f, *f2 = NULL;
    vocab *v = open_vocab("tokenizer/ggml-vocab-llama-spm.gguf", &f);
    vocab *v2 = v ? without_word_split(v, &f2) : NULL;
    CHECK(v && v2);
    char *text = malloc((size_t)1 << 18);
    if (!v || !v2 || !text) goto done;

    /* the vector texts repeated, then random bytes rich in spaces, U+2581 and bad UTF-8 */
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-llama-spm.gguf.inp", t_testdata());
    size_t src_len = 0;
    char *src = t_read_file(path, &src_len);
    CHECK(src && src_len > 0);
    for (int round = 0; round < 2; round++) {
        size_t len = (size_t)1 << 18;
        uint32_t x = 12345;
        for (size_t i = 0; i < len; i++) {
            if (round == 0) {
                text[i] = src && src_len ? src[i % src_len] : 'a';
                continue;
            }
            x = x * 1103515245u + 12345u;
            static const char alphabet[] = "  aab\xe2\x96\x81\xc3\xa9\xff\n";
            text[i] = alphabet[(x >> 16) % (sizeof alphabet - 1)];
        }
        int n1 = 0, n2 = 0;
        uh_token *a = tokenize(v, text, len, 0, 0, &n1);
        uh_token *b = tokenize(v2, text, len, 0, 0, &n2);
        CHECKF(a && b && ids_equal(a, n1, b, n2), "round %d: %d vs %d tokens", round, n1, n2);
        free(a);
        free(b);
    }
    free(src);
done:
    free(text);
    if (v2) close_vocab(v2, f2);
    if (v) close_vocab(v, f);
}

/* ---- long inputs ---- */

static void long_inputs_are_not_quadratic(void)
{
    gguf_file *f;
    vocab *v = open_vocab("tokenizer/ggml-vocab-llama-spm.gguf", &f);
    CHECK(v != NULL);
    if (!v) return;
    size_t len = (size_t)1 << 20;
    char *text = malloc(len);
    CHECK(text != NULL);
    if (!text) goto done;

    memset(text, 'a', len);
    double t0 = clock_mono_s();
    int n = 0;
    uh_token *ids = tokenize(v, text, len, 0, 0, &n);
    double dt = clock_mono_s() - t0;
    CHECK(ids && n > 0 && n < (int)len / 2);
    printf("  1 MiB of 'a': %d tokens, %.1f MB/s\n", n, (double)len / 1e6 / dt);
    size_t back_len = 0;
    char *back = ids ? detokenize(v, ids, n, &back_len) : NULL;
    CHECK(back && back_len == len + 1 && memcmp(back + 1, text, len) == 0);
    free(back);
    free(ids);

    /* mixed: the vector cases (several scripts, emoji, whitespace runs) repeated */
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer/ggml-vocab-llama-spm.gguf.inp", t_testdata());
    size_t src_len = 0;
    char *src = t_read_file(path, &src_len);
    CHECK(src && src_len > 0);
    for (size_t i = 0; src && src_len > 0 && i < len; i++) text[i] = src[i % src_len];
    t0 = clock_mono_s();
    ids = tokenize(v, text, len, 1, 1, &n);
    dt = clock_mono_s() - t0;
    CHECK(ids && n > 0);
    printf("  1 MiB of mixed text: %d tokens, %.1f MB/s\n", n, (double)len / 1e6 / dt);
    free(ids);
    free(src);
done:
    free(text);
    close_vocab(v, f);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    T_RUN(vectors_llama_spm);
    T_RUN(vectors_phi3);
    T_RUN(roundtrip_llama_spm);
    T_RUN(roundtrip_phi3);
    T_RUN(stories260k_prompts);
    T_RUN(special_tokens_parsed_only_when_asked);
    T_RUN(phi3_chat_tokens);
    T_RUN(pieces_render_as_text);
    T_RUN(small_buffer_reports_needed_count);
    T_RUN(invalid_utf8_becomes_bytes);
    T_RUN(empty_text);
    T_RUN(bad_metadata_is_rejected);
    T_RUN(small_vocab_works);
    T_RUN(word_by_word_merging_matches_whole_runs);
    T_RUN(long_inputs_are_not_quadratic);
    return t_exit();
}
