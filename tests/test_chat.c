/* test_chat.c - the pieces under chat and run: stop strings over streamed text, the session's
 * prompt cache (a follow-up turn re-uses the cache and computes exactly what a fresh evaluation
 * computes), and conversations rendered through templates into tokens. */
#include <cjson/cJSON.h>
#include <string.h>

#include "check.h"
#include "engine/chat.h"
#include "kernels/qtypes.h"
#include "engine/session.h"
#include "text/stopstr.h"
#include "unhosted.h"

/* feeds pieces one by one, returns everything released and whether it stopped */
static int feed_all(stopstr *s, const char *const *pieces, int n, char *out, size_t cap)
{
    size_t w = 0;
    int stopped = 0;
    out[0] = 0;
    for (int i = 0; i < n && !stopped; i++) {
        char buf[1024];
        size_t len;
        stopped = stopstr_feed(s, pieces[i], strlen(pieces[i]), buf, sizeof buf, &len);
        CHECK(len == strlen(buf));
        memcpy(out + w, buf, len);
        w += len;
        out[w] = 0;
    }
    if (!stopped) {
        char tail[1024];
        size_t len = stopstr_flush(s, tail, sizeof tail);
        memcpy(out + w, tail, len + 1);
    }
    (void)cap;
    return stopped;
}

static void test_stop_strings(void)
{
    stopstr s;
    char out[2048];
    const char *stops[] = {"\nUser:", "STOP"};
    CHECK(stopstr_init(&s, stops, 2, NULL) == 0);
    const char *p1[] = {"Hello", " there", "\nUs", "er", ": more"};
    CHECK(feed_all(&s, p1, 5, out, sizeof out) == 1 && !strcmp(out, "Hello there"));

    /* a prefix that does not complete is released later, nothing lost */
    CHECK(stopstr_init(&s, stops, 2, NULL) == 0);
    const char *p2[] = {"a\nU", "nder", " STO", "RM"};
    CHECK(feed_all(&s, p2, 4, out, sizeof out) == 0 && !strcmp(out, "a\nUnder STORM"));

    /* text is released as soon as it cannot be the start of a stop string */
    CHECK(stopstr_init(&s, stops, 2, NULL) == 0);
    char buf[64];
    size_t len;
    CHECK(stopstr_feed(&s, "abc S", 5, buf, sizeof buf, &len) == 0 && !strcmp(buf, "abc "));
    CHECK(stopstr_feed(&s, "TOP", 3, buf, sizeof buf, &len) == 1 && len == 0);
    CHECK(stopstr_feed(&s, "more", 4, buf, sizeof buf, &len) == 1 && len == 0);

    /* the earliest stop wins; a stop inside one piece cuts that piece */
    CHECK(stopstr_init(&s, stops, 2, NULL) == 0);
    const char *p3[] = {"xxSTOPyy\nUser:"};
    CHECK(feed_all(&s, p3, 1, out, sizeof out) == 1 && !strcmp(out, "xx"));

    /* no stop strings: everything passes straight through */
    CHECK(stopstr_init(&s, NULL, 0, NULL) == 0);
    CHECK(stopstr_feed(&s, "ab", 2, buf, sizeof buf, &len) == 0 && len == 2);

    /* caps */
    char longstop[STOPSTR_MAX_LEN + 2];
    memset(longstop, 'x', sizeof longstop - 1);
    longstop[sizeof longstop - 1] = 0;
    const char *bad[] = {longstop};
    uh_err err = {0};
    CHECK(stopstr_init(&s, bad, 1, &err) == UH_ELIMIT);
    const char *many[STOPSTR_MAX + 1];
    for (int i = 0; i <= STOPSTR_MAX; i++) many[i] = "z";
    CHECK(stopstr_init(&s, many, STOPSTR_MAX + 1, &err) == UH_ELIMIT);
}

static uh_model *load_stories(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", t_testdata());
    uh_model *m = NULL;
    uh_err err = {0};
    CHECKF(uh_model_load(path, &m, &err) == 0, "%s", err.msg);
    return m;
}

static void greedy(session *s, int n, uh_token *out)
{
    for (int i = 0; i < n; i++) {
        out[i] = session_sample(s);
        CHECK(session_append(s, out[i], NULL) == 0);
    }
}

static void test_prompt_cache_reuse(void)
{
    uh_model *m = load_stories();
    if (!m) return;
    uh_sampler_params sp = uh_sampler_default_params();
    sp.temp = 0;
    session *a = NULL, *fresh = NULL;
    uh_err err = {0};
    CHECK(session_new(m, NULL, &sp, &a, &err) == 0 && session_new(m, NULL, &sp, &fresh, &err) == 0);
    uh_token turn1[5] = {1, 403, 407, 261, 378};
    int reused = -1;
    CHECK(session_feed(a, turn1, 5, &reused, &err) == 0 && reused == 0);
    uh_token gen[12];
    greedy(a, 12, gen);
    CHECK(gen[0] == 432 && gen[1] == 383); /* ", there" */
    /* turn 2: everything so far plus new tokens: only the new ones are evaluated */
    uh_token turn2[5 + 12 + 3];
    memcpy(turn2, turn1, sizeof turn1);
    memcpy(turn2 + 5, gen, sizeof gen);
    turn2[17] = 403, turn2[18] = 407, turn2[19] = 261;
    CHECK(session_feed(a, turn2, 20, &reused, &err) == 0);
    CHECKF(reused == 17, "reused %d", reused);
    CHECK(session_feed(fresh, turn2, 20, &reused, &err) == 0 && reused == 0);
    uh_token x[16], y[16];
    greedy(a, 16, x);
    greedy(fresh, 16, y);
    CHECK(memcmp(x, y, sizeof x) == 0);
    /* a conversation that diverges early keeps only the common prefix */
    uh_token other[4] = {1, 403, 999 - 600, 5};
    CHECK(session_feed(a, other, 4, &reused, &err) == 0 && reused == 2);
    CHECK(session_n_tokens(a) == 4);
    /* feeding exactly what is cached re-evaluates the last token only */
    CHECK(session_feed(a, other, 4, &reused, &err) == 0 && reused == 3);
    /* too long */
    static uh_token big[5000];
    for (int i = 0; i < 5000; i++) big[i] = 5;
    CHECK(session_feed(a, big, 5000, &reused, &err) == UH_ECTXFULL);
    session_free(a);
    session_free(fresh);
    uh_model_free(m);
}

static void test_render_and_tokenize(void)
{
    uh_model *m = load_stories();
    if (!m) return;
    cJSON *msgs = cJSON_Parse("[{\"role\":\"system\",\"content\":\"Be kind.\"},"
                              "{\"role\":\"user\",\"content\":\"hi\"}]");
    char *out = NULL;
    uh_err err = {0};
    /* no template in the model and no chat tokens in its vocabulary: chatml */
    CHECKF(chat_render(m, NULL, 0, msgs, 1, NULL, &out, &err) == 0, "%s", err.msg);
    CHECKF(out && !strcmp(out, "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nhi"
                               "<|im_end|>\n<|im_start|>assistant\n"),
           "'%s'", out ? out : "");
    free(out);
    /* a template that writes BOS itself: the tokenizer must not add a second one */
    const char *t = "{{ bos_token }}{% for m in messages %}{{ m.content }} {% endfor %}";
    CHECK(chat_render(m, t, strlen(t), msgs, 0, NULL, &out, &err) == 0);
    CHECK(out && !strcmp(out, "<s>Be kind. hi "));
    uh_token *toks = NULL;
    int n = 0;
    CHECK(chat_tokenize(m, out, &toks, &n, &err) == 0 && n > 2);
    CHECK(toks && toks[0] == 1 && toks[1] != 1);
    free(toks);
    free(out);
    /* one that does not: BOS is added */
    t = "{% for m in messages %}{{ m.content }}{% endfor %}";
    CHECK(chat_render(m, t, strlen(t), msgs, 0, NULL, &out, &err) == 0);
    CHECK(chat_tokenize(m, out, &toks, &n, &err) == 0 && n > 1 && toks[0] == 1);
    free(toks);
    free(out);
    /* extra variables reach the template; template errors come back as errors */
    cJSON *extra = cJSON_Parse("{\"greeting\":\"hey\"}");
    t = "{{ greeting }}";
    CHECK(chat_render(m, t, strlen(t), msgs, 0, extra, &out, &err) == 0 && !strcmp(out, "hey"));
    free(out);
    t = "{{ raise_exception('no tools here') }}";
    CHECK(chat_render(m, t, strlen(t), msgs, 0, NULL, &out, &err) != 0 && out == NULL);
    CHECKF(strstr(err.msg, "no tools here") != NULL, "%s", err.msg);
    cJSON_Delete(extra);
    cJSON_Delete(msgs);
    uh_model_free(m);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    qtypes_init();
    T_RUN(test_stop_strings);
    T_RUN(test_prompt_cache_reuse);
    T_RUN(test_render_and_tokenize);
    return t_exit();
}
