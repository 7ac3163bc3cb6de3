/* cmd_chat.c - `unhosted chat MODEL.gguf`: a multi-turn conversation in the terminal.
 *
 * Each turn renders the whole conversation through the chat template and submits it to a
 * one-slot scheduler (the server's generation path). Its slot still holds the KV cache of the
 * previous turns and the scheduler reuses the common prefix, so a follow-up costs only its new
 * tokens. Line editing and history come from libedit when stdin is a terminal; otherwise lines
 * are read plainly (scripts, tests). Ctrl-C during an answer cancels that answer's request, not
 * the program. */
#include <cjson/cJSON.h>
#include <editline/readline.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/paths.h"
#include "cli/cli.h"
#include "cli/cli_util.h"
#include "engine/chat.h"
#include "engine/sched.h"
#include "models/resolve.h"
#include "text/stopstr.h"
#include "unhosted.h"

#define CHAT_MAX_LINE     (1u << 20) /* bytes of one message typed or pasted */
#define CHAT_MAX_HISTORY  1000
#define CHAT_MAX_SAVEFILE (64u << 20)

static volatile sig_atomic_t g_interrupt;

static void on_sigint(int sig)
{
    (void)sig;
    g_interrupt = 1;
}

static void chat_usage(FILE *f)
{
    fprintf(f,
            "usage: unhosted chat MODEL.gguf [options]\n"
            "  --system TEXT         system message\n"
            "  --chat-template FILE  use this Jinja template instead of the model's\n"
            "  -n N                  most tokens per answer (default -1: until the model stops)\n"
            "  --stop STR            also stop an answer at STR (repeatable)\n"
            "  --verbose             print token counts and speed after each answer\n"
            "%s",
            cli_gen_options_help);
}

static void chat_help(void)
{
    printf("commands:\n"
           "  /system TEXT   set the system message\n"
           "  /reset         forget the conversation (the system message stays)\n"
           "  /save FILE     save the conversation as JSON\n"
           "  /load FILE     load a conversation saved with /save\n"
           "  /help          this text\n"
           "  /exit          leave (Ctrl-D too)\n"
           "  \"\"\"           start or end a message of several lines\n"
           "Ctrl-C stops the answer being written.\n");
}

typedef struct {
    const uh_model *model;
    sched *sched;
    uh_sampler_params sp;
    cJSON *messages; /* [{role, content}], the system message (if any) first */
    char *tmpl;
    size_t tmpl_len;
    const char *stops[STOPSTR_MAX];
    int n_stops;
    long n_predict;
    int verbose;
    int tty;
} chat_state;

static void set_system(chat_state *st, const char *text)
{
    cJSON *first = cJSON_GetArrayItem(st->messages, 0);
    cJSON *role = first ? cJSON_GetObjectItem(first, "role") : NULL;
    if (role && cJSON_IsString(role) && !strcmp(role->valuestring, "system"))
        cJSON_DeleteItemFromArray(st->messages, 0);
    if (!text || !*text) return;
    cJSON *sys = cJSON_CreateObject();
    cJSON_AddStringToObject(sys, "role", "system");
    cJSON_AddStringToObject(sys, "content", text);
    cJSON_InsertItemInArray(st->messages, 0, sys);
}

static void add_message(chat_state *st, const char *role, const char *content)
{
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "role", role);
    cJSON_AddStringToObject(msg, "content", content);
    cJSON_AddItemToArray(st->messages, msg);
}

static void reset(chat_state *st)
{
    cJSON *first = cJSON_GetArrayItem(st->messages, 0);
    cJSON *role = first ? cJSON_GetObjectItem(first, "role") : NULL;
    char *sys = NULL;
    if (role && cJSON_IsString(role) && !strcmp(role->valuestring, "system"))
        sys = strdup(cJSON_GetObjectItem(first, "content")->valuestring);
    cJSON_Delete(st->messages);
    st->messages = cJSON_CreateArray();
    set_system(st, sys);
    free(sys);
    /* the KV cache stays: the next prompt reuses only what it really shares (BOS, system) */
}

static int save(const chat_state *st, const char *path)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, "messages", cJSON_Duplicate(st->messages, 1));
    char *text = cJSON_Print(doc);
    cJSON_Delete(doc);
    if (!text) return -1;
    FILE *f = fopen(path, "wb");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) ok = 0;
    free(text);
    return ok ? 0 : -1;
}

/* Replaces the conversation with the one in path; checks every message has string role and
 * content. */
static int load(chat_state *st, const char *path, char *why, size_t why_len)
{
    size_t len;
    char *text = cli_read_file(path, CHAT_MAX_SAVEFILE, &len);
    if (!text) {
        snprintf(why, why_len, "cannot read %s", path);
        return -1;
    }
    cJSON *doc = cJSON_ParseWithLength(text, len);
    free(text);
    cJSON *msgs = doc ? cJSON_GetObjectItem(doc, "messages") : NULL;
    int ok = cJSON_IsArray(msgs);
    for (cJSON *m = ok ? msgs->child : NULL; m; m = m->next) {
        cJSON *r = cJSON_GetObjectItem(m, "role"), *c = cJSON_GetObjectItem(m, "content");
        ok &= cJSON_IsString(r) && cJSON_IsString(c);
    }
    if (!ok) {
        snprintf(why, why_len, "%s is not a saved conversation ({\"messages\": [{role, content}]})",
                 path);
        cJSON_Delete(doc);
        return -1;
    }
    cJSON_Delete(st->messages);
    st->messages = cJSON_DetachItemFromObject(doc, "messages");
    cJSON_Delete(doc);
    return 0;
}

static void print_text(void *user, const char *text, size_t len)
{
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

/* One turn: the user's message in, the answer streamed out and kept. */
static void turn(chat_state *st, const char *user)
{
    uh_err err = {0};
    char *rendered = NULL;
    uh_token *toks = NULL;
    int n = 0;
    sched_result res = {0};
    add_message(st, "user", user);
    int rc = chat_render(st->model, st->tmpl, st->tmpl_len, st->messages, 1, NULL, &rendered, &err);
    if (rc == 0) rc = chat_tokenize(st->model, rendered, &toks, &n, &err);
    sched_request req = {.tokens = toks,
                         .n_tokens = n,
                         .sampler = st->sp,
                         .max_tokens = (int)st->n_predict,
                         .stops = st->stops,
                         .n_stops = st->n_stops};
    const char *why = "length";
    if (rc == 0 && st->n_predict != 0) { /* max_tokens 0 would mean no limit */
        struct sigaction sa = {0}, old;
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        g_interrupt = 0;
        sigaction(SIGINT, &sa, &old);
        rc = sched_generate_stream(st->sched, &req, print_text, NULL, &g_interrupt, &res, &err);
        sigaction(SIGINT, &old, NULL);
        if (rc == 0)
            why = res.cause == SCHED_CAUSE_CANCELLED ? "interrupted" : sched_cause_name(res.cause);
    }
    if (rc) {
        if (rc == UH_ECTXFULL)
            fprintf(stderr, "the conversation no longer fits the context (%d tokens, n_ctx %d): "
                            "/reset, or start with a larger -c\n",
                    n, sched_n_ctx(st->sched));
        else
            fprintf(stderr, "error: %s\n", err.msg);
        cJSON_DeleteItemFromArray(st->messages, cJSON_GetArraySize(st->messages) - 1);
        goto out;
    }
    printf("\n");
    fflush(stdout);
    if (res.finish == SCHED_FINISH_ERROR) fprintf(stderr, "error: %s\n", res.error);
    add_message(st, "assistant", res.text ? res.text : "");
    const double gen_s = res.timings.generation;
    if (st->verbose)
        fprintf(stderr, "[prompt %d tokens (%d from cache), answer %d tokens, %.1f tok/s, %s]\n", n,
                res.usage.n_cached, res.usage.n_completion,
                gen_s > 0 ? res.usage.n_completion / gen_s : 0.0, why);
    else if (!strcmp(why, "interrupted") || !strcmp(why, "context full"))
        fprintf(stderr, "[%s]\n", why);
out:
    sched_result_free(&res);
    free(rendered);
    free(toks);
}

/* Next line of input without its newline, malloc'd; NULL at end of input. */
static char *read_line(const chat_state *st, const char *prompt)
{
    if (st->tty) return readline(prompt);
    buf_t line;
    buf_init(&line, CHAT_MAX_LINE - 1);
    int c, oom = 0;
    while ((c = getchar()) != EOF && c != '\n')
        if (buf_putc(&line, (char)c) == UH_ENOMEM) oom = 1; /* over-long: the rest is dropped */
    if (oom || (line.len == 0 && c == EOF)) {
        buf_fini(&line);
        return NULL;
    }
    return buf_steal(&line, NULL);
}

/* Reads a user message: one line, or several between lines of three double quotes. */
static char *read_message(const chat_state *st)
{
    char *line = read_line(st, ">>> ");
    if (!line || strcmp(line, "\"\"\"") != 0) return line;
    free(line);
    buf_t msg;
    buf_init(&msg, CHAT_MAX_LINE - 2);
    while ((line = read_line(st, "... ")) != NULL) {
        if (!strcmp(line, "\"\"\"")) {
            free(line);
            return buf_steal(&msg, NULL);
        }
        /* a line that would pass the cap is dropped whole */
        const size_t l = strlen(line), sep = msg.len ? 1 : 0;
        if (buf_reserve(&msg, sep + l) == 0) {
            if (sep) buf_putc(&msg, '\n');
            buf_append(&msg, line, l);
        }
        free(line);
    }
    return buf_steal(&msg, NULL); /* end of input inside a block: what was typed */
}

int cmd_chat(int argc, char **argv)
{
    const char *cmd = "chat";
    const char *model_path = NULL, *system = NULL, *template_file = NULL;
    int seed_given = 0;
    chat_state st = {0};
    st.n_predict = -1;
    uh_sampler_params sp = uh_sampler_default_params();
    uh_ctx_params cp = uh_ctx_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc;
        long l;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            chat_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--system") || !strcmp(a, "--chat-template") || !strcmp(a, "-n") ||
                   !strcmp(a, "--stop")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v) return 2;
            if (!strcmp(a, "--system")) system = v;
            else if (!strcmp(a, "--chat-template")) template_file = v;
            else if (!strcmp(a, "-n")) {
                if (cli_parse_long(v, -1, 1L << 30, &l)) {
                    cli_error(cmd, "invalid value '%s' for -n", v);
                    return 2;
                }
                st.n_predict = l;
            } else {
                if (st.n_stops == STOPSTR_MAX) {
                    cli_error(cmd, "at most %d --stop strings", STOPSTR_MAX);
                    return 2;
                }
                st.stops[st.n_stops++] = v;
            }
        } else if (!strcmp(a, "--verbose")) {
            st.verbose = 1;
        } else if ((rc = cli_gen_option(cmd, argc, argv, &i, &sp, &cp)) != 0) {
            if (rc < 0) return 2;
            seed_given |= !strcmp(a, "--seed");
        } else if (a[0] == '-' && a[1]) {
            cli_error(cmd, "unknown option %s (see --help)", a);
            return 2;
        } else if (!model_path) {
            model_path = a;
        } else {
            cli_error(cmd, "unexpected argument '%s'", a);
            return 2;
        }
    }
    if (!model_path) {
        chat_usage(stderr);
        return 2;
    }
    if (!seed_given) sp.seed = (uint64_t)time(NULL);

    uh_err err = {0};
    uh_model *m = NULL;
    int status = 1;
    char hist_path[4096] = "";
    stopstr check; /* bad stop strings fail now, not at the first turn */
    if (stopstr_init(&check, st.stops, st.n_stops, &err)) goto fail;
    if (template_file) {
        st.tmpl = cli_read_file(template_file, CLI_MAX_TEMPLATE, &st.tmpl_len);
        if (!st.tmpl) {
            cli_error(cmd, "cannot read chat template %s", template_file);
            return 1;
        }
    }
    char resolved[4096];
    if (models_resolve(model_path, resolved, sizeof resolved, &err)) goto fail;
    if (uh_model_load(resolved, &m, &err)) goto fail;
    st.model = m;
    st.sp = sp;
    sched_params spar = sched_solo_params(&cp);
    if (sched_new(m, &spar, &st.sched, &err)) goto fail;
    st.messages = cJSON_CreateArray();
    set_system(&st, system);
    st.tty = isatty(STDIN_FILENO);
    if (st.tty) {
        if (paths_ensure_dir(PATHS_DATA, hist_path, sizeof hist_path - 16) == 0) {
            strcat(hist_path, "/chat_history");
            read_history(hist_path);
        } else {
            hist_path[0] = 0;
        }
        fprintf(stderr, "Type a message, /help for commands, Ctrl-D to leave.\n");
    }

    char *line;
    while ((line = read_message(&st)) != NULL) {
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p && st.tty) add_history(line);
        if (!*p) {
            /* empty line: nothing to say */
        } else if (!strcmp(p, "/exit") || !strcmp(p, "/bye") || !strcmp(p, "/quit")) {
            free(line);
            break;
        } else if (!strcmp(p, "/help") || !strcmp(p, "/?")) {
            chat_help();
        } else if (!strcmp(p, "/reset") || !strcmp(p, "/clear")) {
            reset(&st);
            printf("(conversation cleared)\n");
        } else if (!strncmp(p, "/system", 7) && (p[7] == ' ' || p[7] == 0)) {
            set_system(&st, p[7] ? p + 8 : "");
            printf("(system message set)\n");
        } else if (!strncmp(p, "/save ", 6) && p[6]) {
            if (save(&st, p + 6) == 0) printf("(saved to %s)\n", p + 6);
            else fprintf(stderr, "cannot write %s\n", p + 6);
        } else if (!strncmp(p, "/load ", 6) && p[6]) {
            char why[512];
            if (load(&st, p + 6, why, sizeof why) == 0)
                printf("(loaded %d messages)\n", cJSON_GetArraySize(st.messages));
            else fprintf(stderr, "%s\n", why);
        } else if (p[0] == '/') {
            fprintf(stderr, "unknown command %s (/help lists them)\n", p);
        } else {
            turn(&st, line);
        }
        fflush(stdout);
        free(line);
    }
    if (st.tty && hist_path[0]) {
        stifle_history(CHAT_MAX_HISTORY);
        write_history(hist_path);
    }
    status = 0;
    goto out;
fail:
    cli_error(cmd, "%s", err.msg[0] ? err.msg : uh_strerror(err.code));
out:
    cJSON_Delete(st.messages);
    sched_free(st.sched);
    uh_model_free(m);
    free(st.tmpl);
    return status;
}
