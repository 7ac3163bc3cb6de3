/* test_parallel.c - evaluation on several threads computes exactly the numbers of one thread:
 * logits of a prefill batch and of the decode steps after it are bit-identical for 1, 2 and 3
 * threads (3 does not divide any of the fixture widths evenly, and exceeds the cores of a small
 * machine). Also built with -fsanitize=thread, where it checks the forward pass for races. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "kernels/qtypes.h"
#include "unhosted.h"

#define N_PROMPT 19
#define N_DECODE 4
#define N_VOCAB_MAX 32000

/* Logits of every prompt token, then of N_DECODE greedy-free decode steps (fixed ids), into out
 * ([N_PROMPT + N_DECODE][n_vocab]). Returns 0 on success. */
static int run_model(uh_model *m, int n_threads, int exact, int kv_type, float *out, int n_vocab)
{
    uh_ctx_params cp = uh_ctx_default_params();
    cp.n_threads = n_threads;
    cp.exact = exact;
    cp.kv_type = kv_type;
    cp.n_ctx = 64;
    cp.n_batch_max = N_PROMPT;
    uh_ctx *c = NULL;
    uh_err err = {0};
    if (uh_ctx_new(m, &cp, &c, &err)) {
        printf("  context: %s\n", err.msg);
        return -1;
    }
    uh_token ids[N_PROMPT];
    int32_t pos[N_PROMPT];
    int8_t want[N_PROMPT];
    for (int i = 0; i < N_PROMPT; i++) {
        ids[i] = (uh_token)((i * 7919 + 13) % n_vocab);
        pos[i] = i;
        want[i] = 1;
    }
    int rc = 0;
    uh_batch b = {.n_tokens = N_PROMPT, .tokens = ids, .pos = pos, .want_output = want};
    if ((rc = uh_eval(c, &b, &err))) goto out;
    for (int i = 0; i < N_PROMPT; i++)
        memcpy(out + (size_t)i * n_vocab, uh_get_logits(c, i), (size_t)n_vocab * sizeof(float));
    for (int i = 0; i < N_DECODE; i++) {
        uh_token t = (uh_token)((i * 31 + 5) % n_vocab);
        int32_t p = N_PROMPT + i;
        uh_batch d = {.n_tokens = 1, .tokens = &t, .pos = &p};
        if ((rc = uh_eval(c, &d, &err))) goto out;
        memcpy(out + (size_t)(N_PROMPT + i) * n_vocab, uh_get_logits(c, 0),
               (size_t)n_vocab * sizeof(float));
    }
out:
    if (rc) printf("  eval: %s\n", err.msg);
    uh_ctx_free(c);
    return rc;
}

static void check_model(const char *name, int exact, int kv_type)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s.gguf", t_testdata(), name);
    uh_model *m = NULL;
    uh_err err = {0};
    CHECKF(uh_model_load(path, &m, &err) == 0, "%s: %s", name, err.msg);
    if (!m) return;
    uh_model_info info;
    uh_model_get_info(m, &info);
    const size_t n = (size_t)(N_PROMPT + N_DECODE) * info.n_vocab;
    float *ref = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    CHECK(ref && got && info.n_vocab <= N_VOCAB_MAX);
    if (ref && got && run_model(m, 1, exact, kv_type, ref, info.n_vocab) == 0) {
        for (int nth = 2; nth <= 3; nth++) {
            CHECK(run_model(m, nth, exact, kv_type, got, info.n_vocab) == 0);
            CHECKF(memcmp(ref, got, n * sizeof(float)) == 0,
                   "%s exact=%d kv=%d: %d threads differ from 1", name, exact, kv_type, nth);
        }
    } else {
        CHECKF(0, "%s: single-thread run failed", name);
    }
    free(ref);
    free(got);
    uh_model_free(m);
}

static void test_logits_identical_across_thread_counts(void)
{
    check_model("llama-s1-Q4_K_M", 0, UH_KV_F16);
    check_model("qwen2-s1-Q8_0", 0, UH_KV_F32);
#ifndef __SANITIZE_THREAD__ /* ten times slower there; two models cover every code path */
    check_model("llama-s1-Q4_0", 0, UH_KV_F32);
    check_model("llama-s1-F16", 0, UH_KV_F32);
    check_model("llama-tied-Q8_0", 0, UH_KV_F32);
#endif
}

static void test_exact_path_identical_across_thread_counts(void)
{
    check_model("llama-s1-Q4_K_M", 1, UH_KV_F32);
}

static void test_thread_count_validated(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", t_testdata());
    uh_model *m = NULL;
    CHECK(uh_model_load(path, &m, NULL) == 0);
    if (!m) return;
    uh_ctx_params cp = uh_ctx_default_params();
    uh_ctx *c = NULL;
    uh_err err = {0};
    cp.n_threads = -1;
    CHECK(uh_ctx_new(m, &cp, &c, &err) == UH_EINVAL && c == NULL);
    cp.n_threads = 100000;
    CHECK(uh_ctx_new(m, &cp, &c, &err) == UH_EINVAL && c == NULL);
    cp.n_threads = 0; /* all online CPUs */
    CHECK(uh_ctx_new(m, &cp, &c, &err) == 0 && c != NULL);
    uh_ctx_free(c);
    uh_model_free(m);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    qtypes_init();
    T_RUN(test_logits_identical_across_thread_counts);
    T_RUN(test_exact_path_identical_across_thread_counts);
    T_RUN(test_thread_count_validated);
    return t_exit();
}
