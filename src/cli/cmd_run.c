/* cmd_run.c - `unhosted run MODEL.gguf -p PROMPT`: tokenize, then generate on a one-slot
 * scheduler (the server's generation path) and stream the text to stdout; load time and
 * prompt/generation speed go to stderr at the end. A model with a chat template gets the prompt
 * as a user message in that template (--raw: as is). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "base/clock.h"
#include "base/err.h"
#include "cli/cli.h"
#include "cli/cli_util.h"
#include "engine/chat.h"
#include "engine/sched.h"
#include "models/resolve.h"
#include "text/stopstr.h"
#include "unhosted.h"

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: unhosted run MODEL.gguf (-p PROMPT | -f FILE) [options]\n"
            "  -n N                  tokens to generate (default 128; -1 = until the end)\n"
            "  --stop STR            stop when STR is generated (repeatable)\n"
            "  --raw                 the prompt goes to the model as is, without the chat template\n"
            "  --system TEXT         system message (chat template only)\n"
            "  --chat-template FILE  use this Jinja template instead of the model's\n"
            "%s",
            cli_gen_options_help);
}

typedef struct {
    const char *model;
    const char *prompt;
    const char *prompt_file;
    const char *system;
    const char *template_file;
    const char *stops[STOPSTR_MAX + 1];
    int n_stops;
    int raw;
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
        int rc;
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
        } else if (!strcmp(a, "--stop")) {
            VAL();
            if (o->n_stops == STOPSTR_MAX) {
                cli_error(cmd, "at most %d --stop strings", STOPSTR_MAX);
                return 2;
            }
            o->stops[o->n_stops++] = v;
        } else if (!strcmp(a, "--raw")) {
            o->raw = 1;
        } else if (!strcmp(a, "--system")) {
            VAL();
            o->system = v;
        } else if (!strcmp(a, "--chat-template")) {
            VAL();
            o->template_file = v;
        } else if ((rc = cli_gen_option(cmd, argc, argv, &i, &o->sp, &o->cp)) != 0) {
            if (rc < 0) return 2;
            if (!strcmp(a, "--seed")) o->seed_given = 1;
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

/* The prompt as the model should see it: through the chat template when the model has one (or
 * one was given) unless --raw, else as is. *toks is malloc'd. */
static int prompt_tokens(const run_opts *o, const uh_model *m, const char *text, size_t len,
                         const char *tmpl, size_t tmpl_len, uh_token **toks, int *n, uh_err *err)
{
    size_t model_tmpl_len;
    if (!o->raw && (tmpl || chat_model_template(m, &model_tmpl_len))) {
        cJSON *msgs = cJSON_CreateArray();
        char *prompt = strndup(text, len);
        char *rendered = NULL;
        int rc = UH_ENOMEM;
        if (msgs && prompt) {
            if (o->system) {
                cJSON *sys = cJSON_CreateObject();
                cJSON_AddStringToObject(sys, "role", "system");
                cJSON_AddStringToObject(sys, "content", o->system);
                cJSON_AddItemToArray(msgs, sys);
            }
            cJSON *user = cJSON_CreateObject();
            cJSON_AddStringToObject(user, "role", "user");
            cJSON_AddStringToObject(user, "content", prompt);
            cJSON_AddItemToArray(msgs, user);
            rc = chat_render(m, tmpl, tmpl_len, msgs, 1, NULL, &rendered, err);
            if (rc == 0) rc = chat_tokenize(m, rendered, toks, n, err);
        } else {
            err_setf(err, rc, "out of memory");
        }
        free(rendered);
        free(prompt);
        cJSON_Delete(msgs);
        return rc;
    }
    int cap = (int)(len + 8 > 1u << 30 ? 1u << 30 : len + 8);
    *toks = malloc((size_t)cap * sizeof **toks);
    if (!*toks) return err_setf(err, UH_ENOMEM, "out of memory");
    int rc = uh_tokenize(m, text, len, 1, 0, *toks, cap, n, err);
    if (rc) {
        free(*toks);
        *toks = NULL;
    }
    return rc;
}

static void print_text(void *user, const char *text, size_t len)
{
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

int cmd_run(int argc, char **argv)
{
    const char *cmd = "run";
    run_opts o = {0};
    int rc = parse_run(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;

    uh_err err = {0};
    uh_model *m = NULL;
    sched *s = NULL;
    uh_token *toks = NULL;
    char *file_prompt = NULL, *tmpl = NULL;
    size_t tmpl_len = 0;
    int status = 1;
    sched_result res = {0};
    stopstr stop;

    const char *text = o.prompt;
    size_t text_len = text ? strlen(text) : 0;
    if (o.prompt_file) {
        file_prompt = cli_read_file(o.prompt_file, CLI_MAX_PROMPT, &text_len);
        if (!file_prompt) {
            cli_error(cmd, "cannot read prompt file %s", o.prompt_file);
            return 1;
        }
        text = file_prompt;
    }
    if (o.template_file) {
        tmpl = cli_read_file(o.template_file, CLI_MAX_TEMPLATE, &tmpl_len);
        if (!tmpl) {
            cli_error(cmd, "cannot read chat template %s", o.template_file);
            goto out;
        }
    }
    if (stopstr_init(&stop, o.stops, o.n_stops, &err)) goto fail; /* checked before the load */

    double t0 = clock_mono_s();
    char model_path[4096];
    if (models_resolve(o.model, model_path, sizeof model_path, &err)) goto fail;
    if (uh_model_load(model_path, &m, &err)) goto fail;
    sched_params spar = sched_solo_params(&o.cp);
    if (sched_new(m, &spar, &s, &err)) goto fail;
    double t_load = clock_mono_s() - t0;

    int n_prompt = 0;
    if (prompt_tokens(&o, m, text, text_len, tmpl, tmpl_len, &toks, &n_prompt, &err)) goto fail;
    if (n_prompt == 0) {
        cli_error(cmd, "the prompt is empty and the model has no BOS token to start from");
        goto out;
    }
    /* the prompt is not echoed; a leading space of the first generated piece is only the
     * tokenizer's prefix when nothing but BOS came before it */
    sched_request req = {.tokens = toks,
                         .n_tokens = n_prompt,
                         .sampler = o.sp,
                         .max_tokens = (int)o.n_predict,
                         .stops = o.stops,
                         .n_stops = o.n_stops,
                         .at_start = n_prompt == 1 && toks[0] == uh_token_bos(m)};
    const char *why = "length";
    double gen_s = 0, prompt_s = 0;
    if (o.n_predict != 0) { /* max_tokens 0 would mean no limit */
        if (sched_generate_stream(s, &req, print_text, NULL, NULL, &res, &err)) goto fail;
        if (res.finish == SCHED_FINISH_ERROR) {
            err_setf(&err, UH_EIO, "%s", res.error);
            goto fail;
        }
        why = sched_cause_name(res.cause);
        prompt_s = res.timings.prefill;
        gen_s = res.timings.generation;
    }
    fputc('\n', stdout);
    fflush(stdout);
    const int n_gen = res.usage.n_completion;
    fprintf(stderr,
            "load %.1f ms | prompt %d tokens, %.1f tok/s | generated %d tokens, %.1f tok/s | "
            "stop: %s | seed %llu\n",
            t_load * 1e3, n_prompt, prompt_s > 0 ? n_prompt / prompt_s : 0.0, n_gen,
            gen_s > 0 ? n_gen / gen_s : 0.0, why, (unsigned long long)o.sp.seed);
    status = 0;
    goto out;
fail:
    cli_error(cmd, "%s", err.msg[0] ? err.msg : uh_strerror(err.code));
out:
    sched_result_free(&res);
    free(toks);
    free(file_prompt);
    free(tmpl);
    sched_free(s);
    uh_model_free(m);
    return status;
}
