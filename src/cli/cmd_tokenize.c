/* cmd_tokenize.c - `unhosted tokenize MODEL.gguf [--special] [--bos] [--pieces] (TEXT | -f FILE)`:
 * prints the token ids of a text under the model's tokenizer, on one line separated by spaces.
 *
 * Only the vocabulary is loaded (a vocab-only GGUF works too). By default no BOS/EOS is added
 * and special-token text is plain text, which is what tokenizer test vectors use; --bos adds
 * what the model adds to a prompt, --special parses special-token text. -f takes the file's
 * bytes exactly (no trailing newline is removed). --pieces prints one token per line as
 * `id 'piece'`, the piece escaped (\n, \t, \r, \\, \', \xNN for other control bytes and
 * invalid UTF-8). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "cli/cli.h"
#include "cli/cli_util.h"
#include "gguf/gguf.h"
#include "models/resolve.h"
#include "text/unicode.h"
#include "text/vocab.h"

static void tokenize_usage(FILE *f)
{
    fprintf(f, "usage: unhosted tokenize MODEL.gguf [--special] [--bos] [--pieces] (TEXT | -f FILE)\n"
               "  --special   parse special-token text such as <|im_end|> as those tokens\n"
               "  --bos       add the BOS/EOS tokens the model puts around a prompt\n"
               "  --pieces    one token per line: id 'piece'\n"
               "  -f FILE     tokenize the file's bytes exactly\n");
}

/* Reads a whole file, up to VOCAB_MAX_TEXT bytes; NULL with a message printed on failure. */
static char *read_input(const char *cmd, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error(cmd, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    uh_err err;
    int rc = file_read_stream(f, path, VOCAB_MAX_TEXT, &buf, len, &err);
    fclose(f);
    if (rc == UH_ELIMIT)
        cli_error(cmd, "%s: over the %zu byte limit", path, VOCAB_MAX_TEXT);
    else if (rc)
        cli_error(cmd, "%s", err.msg);
    return rc ? NULL : buf;
}

static void print_piece(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    putchar('\'');
    for (size_t i = 0; i < n;) {
        int32_t cp;
        size_t cl = uni_decode(s + i, n - i, &cp);
        unsigned char c = s[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c == '\\' || c == '\'')
            printf("\\%c", c);
        else if (cp < 0 || c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            fwrite(s + i, 1, cl, stdout);
        i += cp < 0 ? 1 : cl;
    }
    putchar('\'');
}

int cmd_tokenize(int argc, char **argv)
{
    const char *cmd = "tokenize";
    const char *model = NULL, *text_arg = NULL, *file = NULL;
    int special = 0, bos = 0, pieces = 0, no_more_options = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (no_more_options || a[0] != '-' || !a[1]) {
            if (!model) {
                model = a;
            } else if (!text_arg && !file) {
                text_arg = a;
            } else {
                cli_error(cmd, "unexpected argument '%s'", a);
                return 2;
            }
        } else if (!strcmp(a, "--")) {
            no_more_options = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            tokenize_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--special")) {
            special = 1;
        } else if (!strcmp(a, "--bos")) {
            bos = 1;
        } else if (!strcmp(a, "--pieces")) {
            pieces = 1;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(file = cli_value(cmd, argc, argv, &i))) return 2;
        } else {
            cli_error(cmd, "unknown option %s (see --help)", a);
            return 2;
        }
    }
    if (!model || !!text_arg == !!file) {
        tokenize_usage(stderr);
        return 2;
    }

    int status = 1;
    uh_err err = {0};
    gguf_file *f = NULL;
    vocab *v = NULL;
    uh_token *ids = NULL;
    char *text = NULL;
    size_t len;
    if (file) {
        if (!(text = read_input(cmd, file, &len))) return 1;
    } else {
        len = strlen(text_arg);
    }
    char resolved[4096];
    if (models_resolve(model, resolved, sizeof resolved, &err) == 0) model = resolved;
    if (gguf_open(model, &f, &err) || vocab_load(f, &v, &err)) {
        cli_error(cmd, "%s: %s", model, err.msg);
        goto done;
    }
    /* ask for the count first, then tokenize into a buffer that fits */
    int n = 0;
    const char *src = file ? text : text_arg;
    int rc = vocab_tokenize(v, src, len, bos, special, NULL, 0, &n, &err);
    if (rc && rc != UH_ELIMIT) {
        cli_error(cmd, "%s", err.msg);
        goto done;
    }
    if (n > 0) {
        ids = malloc((size_t)n * sizeof *ids);
        if (!ids) {
            cli_error(cmd, "out of memory for %d tokens", n);
            goto done;
        }
        if (vocab_tokenize(v, src, len, bos, special, ids, n, &n, &err)) {
            cli_error(cmd, "%s", err.msg);
            goto done;
        }
    }
    for (int i = 0; i < n; i++) {
        if (!pieces) {
            printf(i ? " %d" : "%d", ids[i]);
            continue;
        }
        char buf[256];
        int k = vocab_token_to_piece(v, ids[i], buf, sizeof buf);
        printf("%d ", ids[i]);
        char *big = k > (int)sizeof buf ? malloc((size_t)k) : NULL; /* a rare long token */
        if (big && vocab_token_to_piece(v, ids[i], big, (size_t)k) == k) {
            print_piece(big, (size_t)k);
            free(big);
        } else {
            free(big);
            if (k > (int)sizeof buf) k = (int)sizeof buf;
            print_piece(buf, k > 0 ? (size_t)k : 0);
        }
        putchar('\n');
    }
    if (!pieces) putchar('\n');
    if (fflush(stdout) != 0) {
        cli_error(cmd, "writing the output failed");
        goto done;
    }
    status = 0;
done:
    free(ids);
    free(text);
    vocab_free(v);
    gguf_close(f);
    return status;
}
