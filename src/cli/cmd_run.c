/* cmd_run.c - `unhosted run MODEL.gguf -p PROMPT`: tokenize, prefill, then sample and stream
 * text to stdout; load time and prompt/generation speed go to stderr at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cli_util.h"
#include "unhosted.h"

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: unhosted run MODEL.gguf (-p PROMPT | -f FILE) [options]\n"
            "  -n N                  tokens to generate (default 128; -1 = until the context is full)\n"
            "  --temp T              temperature (default 0.8; 0 = greedy)\n"
            "  --seed S              random seed (default: from the clock, printed at the end)\n"
            "  --top-k K             (default 40; 0 = off)\n"
            "  --top-p P             (default 0.95; 1 = off)\n"
            "  --min-p P             (default 0.05; 0 = off)\n"
            "  --repeat-penalty R    (default 1 = off)   --repeat-last-n N (default 64)\n"
            "  --frequency-penalty F --presence-penalty F (default 0)\n"
            "  -c, --ctx N           context length (default: the model's, at most 4096)\n"
            "  --kv f32|f16          KV cache type (default f32)\n"
            "  --exact               float32 activations against dequantized weights (slow)\n");
}

typedef struct {
    const char *model;
    const char *prompt;
    const char *prompt_file;
    long n_predict;
    int seed_given;
    uh_sampler_params sp;
    uh_ctx_params cp;
} run_opts;

static int parse_run(int argc, char **argv, run_opts *o)
{
    const char *cmd = "run";
    o->n_predict = 128;
    o->sp = uh_sampler_default_params();
    o->cp = uh_ctx_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long l;
#define VAL()                                                                                      \
    do {                                                                                           \
        if (!(v = cli_value(cmd, argc, argv, &i))) return 2;                                       \
    } while (0)
#define BAD()                                                                                      \
    do {                                                                                           \
        cli_error(cmd, "invalid value '%s' for %s", v, a);                                         \
        return 2;                                                                                  \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            run_usage(stdout);
            return 1;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            VAL();
            o->prompt = v;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            VAL();
            o->prompt_file = v;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            VAL();
            if (cli_parse_long(v, -1, 1L << 30, &o->n_predict)) BAD();
        } else if (!strcmp(a, "--temp")) {
            VAL();
            if (cli_parse_float(v, 0, 100, &o->sp.temp)) BAD();
        } else if (!strcmp(a, "--seed")) {
            VAL();
            if (cli_parse_u64(v, &o->sp.seed)) BAD();
            o->seed_given = 1;
        } else if (!strcmp(a, "--top-k")) {
            VAL();
            if (cli_parse_long(v, 0, 1L << 30, &l)) BAD();
            o->sp.top_k = (int)l;
        } else if (!strcmp(a, "--top-p")) {
            VAL();
            if (cli_parse_float(v, 0, 1, &o->sp.top_p)) BAD();
        } else if (!strcmp(a, "--min-p")) {
            VAL();
            if (cli_parse_float(v, 0, 1, &o->sp.min_p)) BAD();
        } else if (!strcmp(a, "--repeat-penalty")) {
            VAL();
            if (cli_parse_float(v, 1e-3, 100, &o->sp.repeat_penalty)) BAD();
        } else if (!strcmp(a, "--repeat-last-n")) {
            VAL();
            if (cli_parse_long(v, -1, 1L << 20, &l)) BAD();
            o->sp.repeat_last_n = (int)l;
        } else if (!strcmp(a, "--frequency-penalty")) {
            VAL();
            if (cli_parse_float(v, -100, 100, &o->sp.freq_penalty)) BAD();
        } else if (!strcmp(a, "--presence-penalty")) {
            VAL();
            if (cli_parse_float(v, -100, 100, &o->sp.presence_penalty)) BAD();
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
            VAL();
            if (cli_parse_long(v, 1, 1L << 22, &l)) BAD();
            o->cp.n_ctx = (int)l;
        } else if (!strcmp(a, "--kv")) {
            VAL();
            if (!strcmp(v, "f32")) o->cp.kv_type = UH_KV_F32;
            else if (!strcmp(v, "f16")) o->cp.kv_type = UH_KV_F16;
            else BAD();
        } else if (!strcmp(a, "--exact")) {
            o->cp.exact = 1;
        } else if (a[0] == '-' && a[1]) {
            cli_error(cmd, "unknown option %s (see --help)", a);
            return 2;
        } else if (!o->model) {
            o->model = a;
        } else {
            cli_error(cmd, "unexpected argument '%s'", a);
            return 2;
        }
#undef VAL
#undef BAD
    }
    if (!o->model || (!o->prompt && !o->prompt_file) || (o->prompt && o->prompt_file)) {
        run_usage(stderr);
        return 2;
    }
    if (!o->seed_given) o->sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    return 0;
}

static char *read_prompt_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        if (cap >= (64u << 20)) { /* prompts past 64 MiB are not prompts */
            free(buf);
            buf = NULL;
            break;
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb) free(buf);
        buf = nb;
        cap *= 2;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

int cmd_run(int argc, char **argv)
{
    const char *cmd = "run";
    run_opts o = {0};
    int rc = parse_run(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;

    uh_err err = {0};
    uh_model *m = NULL;
    uh_ctx *c = NULL;
    uh_sampler *s = NULL;
    uh_token *toks = NULL;
    char *file_prompt = NULL;
    int status = 1;

    const char *text = o.prompt;
    size_t text_len = text ? strlen(text) : 0;
    if (o.prompt_file) {
        file_prompt = read_prompt_file(o.prompt_file, &text_len);
        if (!file_prompt) {
            cli_error(cmd, "cannot read prompt file %s", o.prompt_file);
            return 1;
        }
        text = file_prompt;
    }

    double t0 = cli_now();
    if (uh_model_load(o.model, &m, &err)) goto fail;
    uh_model_info info;
    uh_model_get_info(m, &info);
    if (uh_ctx_new(m, &o.cp, &c, &err)) goto fail;
    if (uh_sampler_new(&o.sp, info.n_vocab, &s, &err)) goto fail;
    double t_load = cli_now() - t0;

    int n_prompt = 0, cap = (int)(text_len + 8 > 1u << 30 ? 1u << 30 : text_len + 8);
    toks = malloc((size_t)cap * sizeof *toks);
    if (!toks) {
        cli_error(cmd, "out of memory");
        goto out;
    }
    if (uh_tokenize(m, text, text_len, uh_add_bos(m), 0, toks, cap, &n_prompt, &err)) goto fail;
    if (n_prompt == 0) {
        cli_error(cmd, "the prompt is empty and the model has no BOS token to start from");
        goto out;
    }

    /* prefill in chunks of at most the batch size */
    double t1 = cli_now();
    const int n_batch = uh_ctx_default_params().n_batch_max;
    int32_t *pos = malloc((size_t)n_batch * sizeof *pos);
    if (!pos) {
        cli_error(cmd, "out of memory");
        goto out;
    }
    int done = 0;
    while (done < n_prompt) {
        int n = n_prompt - done < n_batch ? n_prompt - done : n_batch;
        for (int i = 0; i < n; i++) pos[i] = done + i;
        uh_batch b = {.n_tokens = n, .tokens = toks + done, .pos = pos};
        if (uh_eval(c, &b, &err)) {
            free(pos);
            goto fail;
        }
        done += n;
    }
    free(pos);
    for (int i = 0; i < n_prompt; i++) uh_sampler_accept(s, toks[i]);
    double t_prompt = cli_now() - t1;

    /* generate */
    uh_detok dt;
    uh_detok_init(&dt, m);
    /* the prompt is not echoed; a leading space of the first generated piece is only the
     * tokenizer's prefix when nothing but BOS came before it */
    dt.at_start = n_prompt == 1 && toks[0] == uh_token_bos(m);
    double t2 = cli_now();
    int n_gen = 0, p = n_prompt;
    const float *logits = uh_get_logits(c, (n_prompt - 1) % n_batch);
    const char *stop_reason = "length";
    while (o.n_predict < 0 || n_gen < o.n_predict) {
        uh_token t = uh_sampler_sample(s, logits);
        uh_sampler_accept(s, t);
        n_gen++;
        if (uh_token_is_eog(m, t)) {
            stop_reason = "end of text";
            break;
        }
        char piece[512];
        int n = uh_detok_push(&dt, t, piece, sizeof piece);
        if (n > 0) {
            fwrite(piece, 1, (size_t)n, stdout);
            fflush(stdout);
        }
        if (o.n_predict >= 0 && n_gen >= o.n_predict) break;
        uh_batch b = {.n_tokens = 1, .tokens = &t, .pos = &p};
        int erc = uh_eval(c, &b, &err);
        if (erc == UH_ECTXFULL) {
            stop_reason = "context full";
            break;
        }
        if (erc) goto fail;
        p++;
        logits = uh_get_logits(c, 0);
    }
    double t_gen = cli_now() - t2;
    fputc('\n', stdout);
    fflush(stdout);
    fprintf(stderr,
            "load %.1f ms | prompt %d tokens, %.1f tok/s | generated %d tokens, %.1f tok/s | "
            "stop: %s | seed %llu\n",
            t_load * 1e3, n_prompt, t_prompt > 0 ? n_prompt / t_prompt : 0.0, n_gen,
            t_gen > 0 ? n_gen / t_gen : 0.0, stop_reason, (unsigned long long)o.sp.seed);
    status = 0;
    goto out;
fail:
    cli_error(cmd, "%s", err.msg[0] ? err.msg : uh_strerror(err.code));
out:
    free(toks);
    free(file_prompt);
    uh_sampler_free(s);
    uh_ctx_free(c);
    uh_model_free(m);
    return status;
}
