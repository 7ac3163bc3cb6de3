/* cli_util.c - argument parsing helpers (see cli_util.h). */
#include "cli/cli_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/file.h"

int cli_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_float(const char *s, double lo, double hi, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = (float)v;
    return 0;
}

void cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "unhosted %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        cli_error(cmd, "option %s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

const char cli_gen_options_help[] =
    "  --temp T              temperature (default 0.8; 0 = greedy)\n"
    "  --seed S              random seed (default: from the clock)\n"
    "  --top-k K             (default 40; 0 = off)\n"
    "  --top-p P             (default 0.95; 1 = off)\n"
    "  --min-p P             (default 0.05; 0 = off)\n"
    "  --repeat-penalty R    (default 1 = off)   --repeat-last-n N (default 64)\n"
    "  --frequency-penalty F --presence-penalty F (default 0)\n"
    "  -c, --ctx N           context length (default: the model's, at most 4096)\n"
    "  --kv f32|f16          KV cache type (default f32)\n"
    "  -t, --threads N       threads (default: all cores)\n"
    "  --exact               float32 activations against dequantized weights (slow)\n";

int cli_gen_option(const char *cmd, int argc, char **argv, int *i, uh_sampler_params *sp,
                   uh_ctx_params *cp)
{
    const char *a = argv[*i];
    long l;
    float f;
    if (!strcmp(a, "--exact")) {
        cp->exact = 1;
        return 1;
    }
    static const char *const with_value[] = {"--temp",
                                             "--seed",
                                             "--top-k",
                                             "--top-p",
                                             "--min-p",
                                             "--repeat-penalty",
                                             "--repeat-last-n",
                                             "--frequency-penalty",
                                             "--presence-penalty",
                                             "-c",
                                             "--ctx",
                                             "--kv",
                                             "-t",
                                             "--threads"};
    int known = 0;
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) known |= !strcmp(a, with_value[k]);
    if (!known) return 0;
    const char *v = cli_value(cmd, argc, argv, i);
    if (!v) return -1;
    int bad = 0;
    if (!strcmp(a, "--temp")) bad = cli_parse_float(v, 0, 100, &sp->temp);
    else if (!strcmp(a, "--seed")) bad = cli_parse_u64(v, &sp->seed);
    else if (!strcmp(a, "--top-k")) {
        bad = cli_parse_long(v, 0, 1L << 30, &l);
        if (!bad) sp->top_k = (int)l;
    } else if (!strcmp(a, "--top-p")) bad = cli_parse_float(v, 0, 1, &sp->top_p);
    else if (!strcmp(a, "--min-p")) bad = cli_parse_float(v, 0, 1, &sp->min_p);
    else if (!strcmp(a, "--repeat-penalty")) bad = cli_parse_float(v, 1e-3, 100, &sp->repeat_penalty);
    else if (!strcmp(a, "--repeat-last-n")) {
        bad = cli_parse_long(v, -1, 1L << 20, &l);
        if (!bad) sp->repeat_last_n = (int)l;
    } else if (!strcmp(a, "--frequency-penalty")) {
        bad = cli_parse_float(v, -100, 100, &f);
        if (!bad) sp->freq_penalty = f;
    } else if (!strcmp(a, "--presence-penalty")) {
        bad = cli_parse_float(v, -100, 100, &f);
        if (!bad) sp->presence_penalty = f;
    } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
        bad = cli_parse_long(v, 1, 1L << 22, &l);
        if (!bad) cp->n_ctx = (int)l;
    } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
        bad = cli_parse_long(v, 1, 1024, &l);
        if (!bad) cp->n_threads = (int)l;
    } else if (!strcmp(a, "--kv")) {
        if (!strcmp(v, "f32")) cp->kv_type = UH_KV_F32;
        else if (!strcmp(v, "f16")) cp->kv_type = UH_KV_F16;
        else bad = 1;
    }
    if (bad) {
        cli_error(cmd, "invalid value '%s' for %s", v, a);
        return -1;
    }
    return 1;
}

char *cli_read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb"); /* a stream, so that /dev/stdin and pipes work */
    if (!f) return NULL;
    char *buf = NULL;
    if (file_read_stream(f, path, max, &buf, len, NULL) != 0) buf = NULL;
    fclose(f);
    return buf;
}
