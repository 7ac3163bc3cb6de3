/* test_api.c - public API behaviour not covered by the numerics: state directories, and the
 * streaming detokenizer that only ever emits whole UTF-8 characters. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/paths.h"
#include "check.h"
#include "kernels/qtypes.h"
#include "unhosted.h"

static void test_home_directories(void)
{
    char buf[512];
    setenv("HOME", "/home/someone", 1);
    unsetenv("UNHOSTED_HOME");
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("XDG_DATA_HOME");
    setenv("XDG_CACHE_HOME", "relative/ignored", 1);
    CHECK(paths_dir(PATHS_CONFIG, buf, sizeof buf) == 0 &&
          !strcmp(buf, "/home/someone/.config/unhosted"));
    CHECK(paths_dir(PATHS_DATA, buf, sizeof buf) == 0 &&
          !strcmp(buf, "/home/someone/.local/share/unhosted"));
    CHECK(paths_dir(PATHS_CACHE, buf, sizeof buf) == 0 &&
          !strcmp(buf, "/home/someone/.cache/unhosted"));
    setenv("XDG_DATA_HOME", "/xdg/data", 1);
    CHECK(paths_dir(PATHS_DATA, buf, sizeof buf) == 0 && !strcmp(buf, "/xdg/data/unhosted"));
    /* UNHOSTED_HOME puts everything under one root */
    setenv("UNHOSTED_HOME", "/srv/node1", 1);
    CHECK(paths_dir(PATHS_DATA, buf, sizeof buf) == 0 && !strcmp(buf, "/srv/node1/data"));
    CHECK(paths_dir(PATHS_CONFIG, buf, sizeof buf) == 0 && !strcmp(buf, "/srv/node1/config"));
    CHECK(paths_dir(PATHS_DATA, buf, 8) == UH_ELIMIT);
    /* --home wins over the environment and is created */
    char tmpl[] = "/tmp/uh-home-XXXXXX";
    CHECK(mkdtemp(tmpl) != NULL);
    char home[600];
    snprintf(home, sizeof home, "%s/a/b", tmpl);
    CHECK(paths_set_home(home) == 0);
    CHECK(paths_ensure_dir(PATHS_CACHE, buf, sizeof buf) == 0);
    char want[700];
    snprintf(want, sizeof want, "%s/cache", home);
    CHECK(!strcmp(buf, want));
    struct stat st;
    CHECK(stat(buf, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 077) == 0);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
    CHECK(system(cmd) == 0);
}

/* stories260K: ids 3..258 are the byte tokens <0x00>..<0xFF> */
static void test_detok_streams_whole_characters(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", t_testdata());
    uh_model *m = NULL;
    uh_err err = {0};
    CHECKF(uh_model_load(path, &m, &err) == 0, "%s", err.msg);
    if (!m) return;
    uh_detok d;
    char out[64];
    uh_detok_init(&d, m);
    d.at_start = 0;
    /* "é" = C3 A9 split across two tokens: nothing, then the whole character */
    CHECK(uh_detok_push(&d, 3 + 0xC3, out, sizeof out) == 0 && out[0] == 0);
    CHECK(uh_detok_push(&d, 3 + 0xA9, out, sizeof out) == 2 && !strcmp(out, "\xc3\xa9"));
    /* a 4-byte emoji over four tokens */
    const unsigned char emoji[4] = {0xF0, 0x9F, 0x98, 0x80};
    int total = 0;
    for (int i = 0; i < 4; i++) total += uh_detok_push(&d, 3 + emoji[i], out, sizeof out);
    CHECK(total == 4 && !memcmp(out, emoji, 4));
    /* a broken sequence becomes U+FFFD, and the text goes on */
    CHECK(uh_detok_push(&d, 3 + 0xE2, out, sizeof out) == 0);
    CHECK(uh_detok_push(&d, 3 + 'a', out, sizeof out) == 4 && !strcmp(out, "\xef\xbf\xbd" "a"));
    CHECK(uh_detok_push(&d, 3 + 0xFF, out, sizeof out) == 3 && !strcmp(out, "\xef\xbf\xbd"));
    /* BOS renders as nothing; the first piece after it loses the tokenizer's leading space */
    uh_detok_init(&d, m);
    CHECK(uh_detok_push(&d, uh_token_bos(m), out, sizeof out) == 0);
    uh_token toks[8];
    int n = 0;
    CHECK(uh_tokenize(m, "Once upon", 9, 0, 0, toks, 8, &n, &err) == 0 && n >= 2);
    char text[64] = "";
    for (int i = 0; i < n; i++) {
        uh_detok_push(&d, toks[i], out, sizeof out);
        strcat(text, out);
    }
    CHECKF(!strcmp(text, "Once upon"), "'%s'", text);
    /* a tiny buffer is never overrun */
    uh_detok_init(&d, m);
    d.at_start = 0;
    char tiny[2];
    CHECK(uh_detok_push(&d, toks[1], tiny, sizeof tiny) <= 1);
    uh_model_free(m);
}

static void test_model_info(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/qwen2-s1-Q4_K_M.gguf", t_testdata());
    uh_model *m = NULL;
    CHECK(uh_model_load(path, &m, NULL) == 0);
    if (!m) return;
    uh_model_info info;
    uh_model_get_info(m, &info);
    CHECK(!strcmp(info.arch, "qwen2"));
    CHECK(info.n_vocab == 1024 && info.n_embd == 256 && info.n_layer == 2 && info.n_head == 4 &&
          info.n_head_kv == 2 && info.head_dim == 64 && info.n_ff == 768 &&
          info.n_ctx_train == 512);
    CHECK(info.n_params > 2000000 && info.size_bytes < 1339712);
    CHECK(uh_token_bos(m) == 1 && uh_token_eos(m) == 2 && uh_token_is_eog(m, 2) &&
          !uh_token_is_eog(m, 100) && uh_add_bos(m));
    uh_model_free(m);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    qtypes_init();
    T_RUN(test_home_directories);
    T_RUN(test_detok_streams_whole_characters);
    T_RUN(test_model_info);
    return t_exit();
}
