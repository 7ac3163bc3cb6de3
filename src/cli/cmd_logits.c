/* cmd_logits.c - `unhosted logits`: raw float32 logits of a token sequence, for checking the
 * engine's numerics against reference files.
 *
 * Output: little-endian float32, row-major [n_tokens][n_vocab], no header; row i is the
 * prediction after reading tokens 0..i from an empty cache at position 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cli/cli.h"
#include "cli/cli_util.h"
#include "models/resolve.h"
#include "unhosted.h"

static void logits_usage(FILE *f)
{
    fprintf(f, "usage: unhosted logits MODEL.gguf (--tokens ID,ID,... | -p TEXT) -o FILE\n"
               "                      [--decode] [--kv f32|f16] [--exact]\n"
               "  --tokens   comma-separated token ids, used as given (no BOS added)\n"
               "  -p TEXT    tokenized with the model's tokenizer (BOS added if the model wants it)\n"
               "  --decode   one token per forward step instead of the whole input in one batch\n"
               "  --exact    float32 activations against dequantized weights\n");
}

static int parse_tokens(const char *s, uh_token **out, int *n_out)
{
    size_t cap = 0;
    int n = 0;
    uh_token *t = NULL;
    const char *p = s;
    while (*p) {
        char num[16];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof num) goto bad;
        memcpy(num, p, len);
        num[len] = 0;
        long v;
        if (cli_parse_long(num, 0, 0x7fffffff, &v)) goto bad;
        if (n >= (1 << 22) || buf_grow_array((void **)&t, &cap, (size_t)n + 1, sizeof *t) != 0)
            goto bad;
        t[n++] = (uh_token)v;
        p += len;
        if (*p == ',') {
            p++;
            if (!*p) goto bad;
        }
    }
    if (n == 0) goto bad;
    *out = t;
    *n_out = n;
    return 0;
bad:
    free(t);
    return -1;
}

static int write_f32(FILE *f, const float *x, size_t n)
{
    const uint32_t one = 1;
    if (*(const uint8_t *)&one == 1) return fwrite(x, sizeof(float), n, f) == n ? 0 : -1;
    for (size_t i = 0; i < n; i++) { /* big-endian host: store little-endian */
        uint32_t u;
        memcpy(&u, &x[i], 4);
        uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
        if (fwrite(b, 1, 4, f) != 4) return -1;
    }
    return 0;
}

int cmd_logits(int argc, char **argv)
{
    const char *cmd = "logits";
    const char *model = NULL, *tokens_arg = NULL, *prompt = NULL, *outpath = NULL;
    int decode = 0;
    uh_ctx_params cp = uh_ctx_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            logits_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--tokens")) {
            if (!(tokens_arg = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!(prompt = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(outpath = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--decode")) {
            decode = 1;
        } else if (!strcmp(a, "--exact")) {
            cp.exact = 1;
        } else if (!strcmp(a, "--kv")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v) return 2;
            if (!strcmp(v, "f32")) cp.kv_type = UH_KV_F32;
            else if (!strcmp(v, "f16")) cp.kv_type = UH_KV_F16;
            else {
                cli_error(cmd, "invalid value '%s' for --kv", v);
                return 2;
            }
        } else if (a[0] == '-' && a[1]) {
            cli_error(cmd, "unknown option %s (see --help)", a);
            return 2;
        } else if (!model) {
            model = a;
        } else {
            cli_error(cmd, "unexpected argument '%s'", a);
            return 2;
        }
    }
    if (!model || !outpath || !!tokens_arg == !!prompt) {
        logits_usage(stderr);
        return 2;
    }

    uh_err err = {0};
    uh_model *m = NULL;
    uh_ctx *c = NULL;
    uh_token *toks = NULL;
    int32_t *pos = NULL;
    int8_t *want = NULL;
    FILE *f = NULL;
    int n = 0, status = 1;
    if (tokens_arg && parse_tokens(tokens_arg, &toks, &n)) {
        cli_error(cmd, "--tokens: expected comma-separated non-negative token ids");
        return 2;
    }
    char model_path[4096];
    if (models_resolve(model, model_path, sizeof model_path, &err)) goto fail;
    if (uh_model_load(model_path, &m, &err)) goto fail;
    uh_model_info info;
    uh_model_get_info(m, &info);
    if (prompt) {
        size_t len = strlen(prompt);
        int cap = (int)(len + 8);
        toks = malloc((size_t)cap * sizeof *toks);
        if (!toks) goto oom;
        if (uh_tokenize(m, prompt, len, 1, 0, toks, cap, &n, &err)) goto fail;
        if (n == 0) {
            cli_error(cmd, "the prompt gives no tokens");
            goto out;
        }
    }
    if (cp.n_ctx == 0 && n > info.n_ctx_train) cp.n_ctx = n;
    cp.n_batch_max = decode ? 1 : n;
    if (uh_ctx_new(m, &cp, &c, &err)) goto fail;
    pos = malloc((size_t)n * sizeof *pos);
    want = malloc((size_t)n);
    if (!pos || !want) goto oom;
    for (int i = 0; i < n; i++) {
        pos[i] = i;
        want[i] = 1;
    }
    f = fopen(outpath, "wb");
    if (!f) {
        cli_error(cmd, "cannot create %s", outpath);
        goto out;
    }
    if (decode) {
        for (int i = 0; i < n; i++) {
            uh_batch b = {.n_tokens = 1, .tokens = toks + i, .pos = pos + i, .want_output = want};
            if (uh_eval(c, &b, &err)) goto fail;
            if (write_f32(f, uh_get_logits(c, 0), (size_t)info.n_vocab)) goto write_fail;
        }
    } else {
        uh_batch b = {.n_tokens = n, .tokens = toks, .pos = pos, .want_output = want};
        if (uh_eval(c, &b, &err)) goto fail;
        for (int i = 0; i < n; i++)
            if (write_f32(f, uh_get_logits(c, i), (size_t)info.n_vocab)) goto write_fail;
    }
    if (fclose(f) != 0) {
        f = NULL;
        goto write_fail;
    }
    f = NULL;
    status = 0;
    goto out;
write_fail:
    cli_error(cmd, "writing %s failed", outpath);
    goto out;
oom:
    cli_error(cmd, "out of memory");
    goto out;
fail:
    cli_error(cmd, "%s", err.msg[0] ? err.msg : uh_strerror(err.code));
out:
    if (f) fclose(f);
    if (status != 0 && outpath) remove(outpath);
    free(toks);
    free(pos);
    free(want);
    uh_ctx_free(c);
    uh_model_free(m);
    return status;
}
