/* cmd_template.c - `unhosted template (TEMPLATE.jinja | MODEL.gguf) --input REQUEST.json`:
 * renders a chat template and prints the result exactly (no newline added), for checking what
 * prompt a model will see.
 *
 * REQUEST.json is an object: messages, add_generation_prompt, bos_token, eos_token and any other
 * variable the template reads (tools, ...); all of it is visible to the template. A GGUF model
 * supplies its tokenizer.chat_template (or, without one, the built-in guessed from its
 * vocabulary), and bos_token/eos_token default to the model's token texts. --builtin NAME
 * renders a built-in template instead (a model, if given, still supplies bos/eos). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/file.h"
#include "cli/cli.h"
#include "cli/cli_util.h"
#include "gguf/gguf.h"
#include "text/template.h"
#include "text/vocab.h"

#define MAX_REQUEST_BYTES (64u << 20)

static void template_usage(FILE *f)
{
    fprintf(f, "usage: unhosted template (TEMPLATE.jinja | MODEL.gguf) --input REQUEST.json\n"
               "       unhosted template [MODEL.gguf] --builtin NAME --input REQUEST.json\n"
               "  --input FILE    JSON object: messages, add_generation_prompt, bos_token,\n"
               "                  eos_token, tools, ... ('-' reads standard input)\n"
               "  --builtin NAME  chatml, llama2, llama3, mistral, gemma or phi3\n"
               "Prints the rendered prompt exactly, without a trailing newline.\n");
}

/* Reads a whole file (or stdin for "-") up to cap bytes; malloc'd and NUL-terminated. */
static char *read_all(const char *path, size_t cap, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    if (file_read_stream(f, path, cap, &buf, len, NULL) != 0) buf = NULL;
    if (f != stdin) fclose(f);
    return buf;
}

static int is_gguf(const char *path)
{
    char magic[4];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int yes = fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
    fclose(f);
    return yes;
}

static int vocab_has_text(const char *text, void *ud)
{
    return vocab_find(ud, text, strlen(text)) >= 0;
}

/* Sets vars[key] to the text of token t unless the request already has it. */
static void default_token(cJSON *vars, const char *key, const vocab *v, uh_token t)
{
    size_t len;
    const char *text = t >= 0 ? vocab_token_text(v, t, &len) : NULL;
    if (!text || cJSON_GetObjectItem(vars, key)) return;
    char *s = malloc(len + 1);
    if (!s) return;
    memcpy(s, text, len);
    s[len] = 0;
    cJSON_AddStringToObject(vars, key, s);
    free(s);
}

int cmd_template(int argc, char **argv)
{
    const char *path = NULL, *input = NULL, *builtin = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--input")) {
            if (!(input = cli_value("template", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--builtin")) {
            if (!(builtin = cli_value("template", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            template_usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("template", "unknown option %s", argv[i]);
            template_usage(stderr);
            return 2;
        } else if (!path) {
            path = argv[i];
        } else {
            cli_error("template", "unexpected argument %s", argv[i]);
            template_usage(stderr);
            return 2;
        }
    }
    if ((!path && !builtin) || !input) {
        template_usage(stderr);
        return 2;
    }
    if (builtin && !tmpl_builtin(builtin)) {
        cli_error("template", "unknown built-in template '%s'", builtin);
        return 2;
    }

    int status = 1;
    char *req_text = NULL, *src_buf = NULL, *out = NULL;
    cJSON *vars = NULL;
    gguf_file *gf = NULL;
    vocab *voc = NULL;
    uh_err err;
    memset(&err, 0, sizeof err);
    size_t req_len = 0, src_len = 0, out_len = 0;
    const char *src = NULL;

    req_text = read_all(input, MAX_REQUEST_BYTES, &req_len);
    if (!req_text) {
        cli_error("template", "%s: cannot read", input);
        goto done;
    }
    vars = cJSON_ParseWithLength(req_text, req_len);
    if (!vars || !cJSON_IsObject(vars)) {
        cli_error("template", "%s: not a JSON object", input);
        goto done;
    }
    if (path && is_gguf(path)) {
        if (gguf_open(path, &gf, &err) != 0 || vocab_load(gf, &voc, &err) != 0) {
            cli_error("template", "%s: %s", path, err.msg);
            goto done;
        }
        default_token(vars, "bos_token", voc, vocab_bos(voc));
        default_token(vars, "eos_token", voc, vocab_eos(voc));
        gguf_str s;
        if (!builtin && gguf_get_str(gf, "tokenizer.chat_template", &s, &err) == 0) {
            src = s.ptr;
            src_len = (size_t)s.len;
        } else if (!builtin) {
            builtin = tmpl_guess_builtin(vocab_has_text, voc);
            fprintf(stderr,
                    "unhosted template: %s has no tokenizer.chat_template; using the "
                    "built-in '%s'\n",
                    path, builtin);
        }
    } else if (path && !builtin) {
        src_buf = read_all(path, 1u << 30, &src_len);
        if (!src_buf) {
            cli_error("template", "%s: cannot read", path);
            goto done;
        }
        src = src_buf;
    }
    if (builtin) {
        src = tmpl_builtin(builtin);
        src_len = strlen(src);
    }
    if (tmpl_render(src, src_len, vars, &out, &out_len, &err) != 0) {
        cli_error("template", "%s", err.msg);
        goto done;
    }
    if (fwrite(out, 1, out_len, stdout) != out_len || fflush(stdout) != 0) {
        cli_error("template", "cannot write the output");
        goto done;
    }
    status = 0;
done:
    free(out);
    free(src_buf);
    free(req_text);
    cJSON_Delete(vars);
    vocab_free(voc);
    gguf_close(gf);
    return status;
}
