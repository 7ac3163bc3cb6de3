/* unhosted-gen - writes a random-weight GGUF model (engine/modelgen.h) from the command line.
 * Tests and benchmarks generate the models they need with it; nothing is downloaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/arch.h"
#include "engine/modelgen.h"
#include "kernels/qtypes.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: unhosted-gen -o OUT.gguf [options]\n"
               "  --preset tiny|stories|tinyllama-1.1b   shape presets (default tiny)\n"
               "  --arch ");
    for (int i = 0; arch_at(i); i++) fprintf(f, "%s%s", i ? "|" : "", arch_at(i)->name);
    fprintf(f, "  (the architecture table)\n"
               "  --type F32|F16|BF16|Q8_0|Q4_0|Q4_1|Q5_0|Q5_1|Q2_K|Q3_K|Q4_K|\n"
               "                             Q5_K|Q6_K|IQ4_NL|IQ4_XS|Q4_K_M   (default Q8_0)\n"
               "  --n-embd N --n-layer N --n-head N --n-head-kv N --n-ff N --n-vocab N --n-ctx N\n"
               "  --head-dim N (default n-embd / n-head)\n"
               "  --window N   sliding window of gemma2/gemma3 files (default 64)\n"
               "  --rope-base F --tied --seed S --vocab-from FILE.gguf\n"
               "  --n-expert N --n-expert-used K --n-ff-exp N   mixture of experts: N experts of\n"
               "                             width --n-ff-exp (default --n-ff), K per token\n");
}

int main(int argc, char **argv)
{
    modelgen_opts o = modelgen_default_opts();
    qtypes_init();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long l = 0;
        char *end = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--tied")) {
            o.tied = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "unhosted-gen: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (v[0] >= '0' && v[0] <= '9') l = strtol(v, &end, 10);
        int is_num = end && *end == 0 && l > 0 && l < (1L << 24);
#define INTOPT(flag, field)                                                                        \
    if (!strcmp(a, flag)) {                                                                        \
        if (!is_num) goto bad;                                                                     \
        o.field = (int)l;                                                                          \
        continue;                                                                                  \
    }
        INTOPT("--n-embd", n_embd)
        INTOPT("--n-layer", n_layer)
        INTOPT("--n-head", n_head)
        INTOPT("--n-head-kv", n_head_kv)
        INTOPT("--head-dim", head_dim)
        INTOPT("--n-ff", n_ff)
        INTOPT("--n-vocab", n_vocab)
        INTOPT("--n-ctx", n_ctx)
        INTOPT("--n-expert", n_expert)
        INTOPT("--n-expert-used", n_expert_used)
        INTOPT("--n-ff-exp", n_ff_exp)
        INTOPT("--window", window)
#undef INTOPT
        if (!strcmp(a, "-o")) o.out = v;
        else if (!strcmp(a, "--arch")) o.arch = v;
        else if (!strcmp(a, "--type")) o.type = v;
        else if (!strcmp(a, "--vocab-from")) o.vocab_from = v;
        else if (!strcmp(a, "--seed")) o.seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--rope-base")) o.rope_base = strtof(v, NULL);
        else if (!strcmp(a, "--preset")) {
            if (!strcmp(v, "tiny")) {
                /* the defaults */
            } else if (!strcmp(v, "tinyllama-1.1b")) {
                o.n_embd = 2048, o.n_layer = 22, o.n_head = 32, o.n_head_kv = 4, o.n_ff = 5632;
                o.n_vocab = 32000, o.n_ctx = 2048;
            } else if (!strcmp(v, "stories")) {
                o.n_embd = 64, o.n_layer = 5, o.n_head = 8, o.n_head_kv = 4, o.n_ff = 172;
                o.n_vocab = 512, o.n_ctx = 512;
            } else goto bad;
        } else {
            fprintf(stderr, "unhosted-gen: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        continue;
    bad:
        fprintf(stderr, "unhosted-gen: invalid value '%s' for %s\n", v, a);
        return 2;
    }
    if (!o.out) {
        usage(stderr);
        return 2;
    }
    uh_err err = {0};
    int rc = modelgen_check(&o, &err);
    if (rc == 0) rc = modelgen_write(&o, &err);
    if (rc) {
        fprintf(stderr, "unhosted-gen: %s\n", err.msg);
        return rc == UH_EINVAL || rc == UH_EUNSUPPORTED ? 2 : 1;
    }
    return 0;
}
