/* modelgen.c - random-weight GGUF models of a supported architecture, in any tensor type,
 * reproducibly from a seed (see modelgen.h). Tests, benchmarks and tools/unhosted-gen use it.
 *
 * Weights are drawn as float32 normals (xoshiro256** + Box-Muller from rng.h) one tensor at a
 * time in file order, then quantized with the engine's own quantizers (qt_quantize). Scales
 * follow the usual initialisation so activations stay in a realistic range: token_embd N(0,0.5),
 * output N(0,0.3), projections N(0, 1/sqrt(fan_in)), norm weights 1 + N(0,0.1), biases
 * N(0,0.25).
 *
 * The vocabulary is either copied from another GGUF (--vocab-from: every tokenizer.* key) or a
 * small synthetic SentencePiece vocabulary: <unk> <s> </s>, the 256 byte tokens, then pieces of
 * common English words. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/modelgen.h"

#include "engine/arch.h"
#include "engine/model.h"

#include "base/err.h"
#include "base/rng.h"
#include "gguf/gguf.h"
#include "kernels/qtypes.h"

static const char *const words[] = {
    "the", "a", "and", "to", "of", "in", "was", "he", "she", "it", "you", "that", "is", "for",
    "on", "with", "they", "his", "her", "at", "be", "this", "had", "not", "are", "but", "from",
    "or", "have", "an", "one", "all", "were", "we", "when", "there", "can", "said", "day", "time",
    "once", "upon", "little", "big", "girl", "boy", "dog", "cat", "tree", "sun", "happy", "sad",
    "play", "played", "went", "saw", "park", "ball", "red", "blue", "mom", "dad", "friend",
    "friends", "home", "house", "look", "found", "very", "so", "up", "out", "named", "loved",
    "wanted", "together", "bird", "fish", "water", "sky", "small", "new", "old", "good", "nice",
    "toy", "box", "car", "run", "ran", "jump", "smile", "laugh", "story", "book", "read", "help",
    "kind", "door", "garden", "flower", "rain", "cake", "eat", "ate", "sleep", "night", "morning",
    "man", "woman", "king", "queen", "castle", "magic", "forest", "river", "hill", "road", "walk",
};

static int add_synthetic_vocab(gguf_writer *w, int n_vocab)
{
    char **tok = calloc((size_t)n_vocab, sizeof *tok);
    float *score = malloc((size_t)n_vocab * sizeof *score);
    int32_t *type = malloc((size_t)n_vocab * sizeof *type);
    int rc = -1, n = 0;
    if (!tok || !score || !type) goto out;
    const char *special[] = {"<unk>", "<s>", "</s>"};
    const int special_type[] = {2, 3, 3};
    for (int i = 0; i < 3 && n < n_vocab; i++, n++) {
        tok[n] = strdup(special[i]);
        score[n] = 0;
        type[n] = special_type[i];
    }
    for (int b = 0; b < 256 && n < n_vocab; b++, n++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        tok[n] = strdup(s);
        score[n] = 0;
        type[n] = 6;
    }
    /* "▁" + letter, "▁" + word, then the words without the space marker */
    const char *sp = "\xe2\x96\x81";
    for (int pass = 0; pass < 3; pass++) {
        int count = pass == 0 ? 26 : (int)(sizeof words / sizeof words[0]);
        for (int i = 0; i < count && n < n_vocab; i++) {
            char s[64];
            if (pass == 0) snprintf(s, sizeof s, "%c", 'a' + i);
            else snprintf(s, sizeof s, "%s%s", pass == 1 ? sp : "", words[i]);
            if (pass == 0) { /* single letters, with and without the marker */
                tok[n] = strdup(s);
                score[n] = -(float)n;
                type[n++] = 1;
                if (n >= n_vocab) break;
                snprintf(s, sizeof s, "%s%c", sp, 'a' + i);
            }
            tok[n] = strdup(s);
            score[n] = -(float)n;
            type[n++] = 1;
        }
    }
    if (n < n_vocab) {
        tok[n] = strdup(sp);
        score[n] = -(float)n;
        type[n++] = 1;
    }
    for (; n < n_vocab; n++) { /* fill the rest with unused placeholders */
        char s[32];
        snprintf(s, sizeof s, "<unused%d>", n);
        tok[n] = strdup(s);
        score[n] = -1e9f;
        type[n] = 5;
    }
    for (int i = 0; i < n_vocab; i++)
        if (!tok[i]) goto out;
    if (gguf_writer_set_str(w, "tokenizer.ggml.model", "llama") ||
        gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok,
                                (uint64_t)n_vocab) ||
        gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_T_F32, score, (uint64_t)n_vocab) ||
        gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_T_I32, type,
                            (uint64_t)n_vocab) ||
        gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0) ||
        gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1) ||
        gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2) ||
        gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", 1) ||
        gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", 0))
        goto out;
    rc = 0;
out:
    for (int i = 0; tok && i < n_vocab; i++) free(tok[i]);
    free(tok);
    free(score);
    free(type);
    return rc;
}

/* Copies every tokenizer.* key of another GGUF; returns its token count, or -1. */
static int copy_vocab(gguf_writer *w, const char *path, uh_err *err)
{
    gguf_file *f;
    if (gguf_open(path, &f, err)) return -1;
    int n = -1;
    const gguf_value *toks;
    if (gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_T_STR, &toks, err) == 0) {
        n = (int)toks->v.arr.n;
        for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
            const gguf_kv *kv = gguf_kv_at(f, i);
            if (strncmp(kv->key_z, "tokenizer.", 10) == 0 && gguf_writer_copy_kv(w, kv)) n = -1;
        }
        if (n < 0) err_setf(err, UH_ENOMEM, "modelgen: copying the vocabulary failed");
    } else {
        err_prefix(err, UH_EFORMAT, "modelgen: %s", path);
    }
    gguf_close(f);
    return n;
}

/* The tensor type of a weight under a mix recipe: Q4_K_M keeps the output, and the attn_v and
 * ffn_down of the first and last eighth of the layers and of every third layer between, in
 * Q6_K; everything else in Q4_K. A plain type name applies to every 2-D weight. */
static int weight_type(const modelgen_opts *o, const char *role, int il)
{
    if (!strcmp(role, "ffn_gate_inp")) return QT_F32; /* routers stay F32, as converters write */
    if (strcmp(o->type, "Q4_K_M") == 0) {
        const int n = o->n_layer;
        int more = il >= 0 && (il < n / 8 || il >= 7 * n / 8 || (il - n / 8) % 3 == 2);
        if (!strcmp(role, "output")) return QT_Q6_K;
        if ((!strcmp(role, "attn_v") || !strcmp(role, "ffn_down")) && more) return QT_Q6_K;
        return QT_Q4_K;
    }
    return qtype_from_name(o->type);
}

/* Initial distribution of a weight of role t with row length n_in: matrices N(0, 1/sqrt(n_in))
 * except the embedding N(0, 0.5) and the head N(0, 0.3), biases N(0, 0.25), norms (and
 * frequency divisors) 1 + N(0, 0.1). */
static void role_init(enum arch_tensor t, int64_t ne0, int64_t ne1, double *mean, double *std)
{
    *mean = 0;
    if (t == AT_TOKEN_EMBD)
        *std = 0.5;
    else if (t == AT_OUTPUT)
        *std = 0.3;
    else if (ne1)
        *std = 1.0 / sqrt((double)ne0);
    else if (t == AT_ATTN_Q_BIAS || t == AT_ATTN_K_BIAS || t == AT_ATTN_V_BIAS ||
             t == AT_ATTN_OUT_BIAS)
        *std = 0.25;
    else
        *mean = 1, *std = 0.1;
}

/* A tensor of ne0 x ne1 x ne2 values (ne1, ne2 0 for fewer dimensions); a 3-D one is quantized
 * row by row like a matrix of ne1 * ne2 rows. */
static int add_weight(gguf_writer *w, rng_state *r, const char *name, int type, int64_t ne0,
                      int64_t ne1, int64_t ne2, double mean, double std, uh_err *err)
{
    const int64_t rows = (ne1 ? ne1 : 1) * (ne2 ? ne2 : 1), n = ne0 * rows;
    const uint32_t n_dims = ne2 ? 3 : ne1 ? 2 : 1;
    float *x = malloc((size_t)n * sizeof *x);
    if (!x) return err_setf(err, UH_ENOMEM, "modelgen: out of memory for %s", name);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(mean + std * rng_normal(r));
    int rc = -1;
    const int64_t ne[3] = {ne0, ne1, ne2};
    if (ne1 == 0 || type == QT_F32) {
        rc = gguf_writer_add_tensor(w, name, QT_F32, n_dims, ne, x, (uint64_t)n * sizeof(float));
    } else {
        size_t size = qtype_row_size((enum qtype)type, ne0) * (size_t)rows;
        void *q = size ? malloc(size) : NULL;
        if (q && qt_quantize((enum qtype)type, x, q, rows, ne0) == size)
            rc = gguf_writer_add_tensor(w, name, (uint32_t)type, n_dims, ne, q, size);
        else
            err_setf(err, UH_EINVAL, "modelgen: cannot quantize %s (%lld x %lld) to %s", name,
                     (long long)rows, (long long)ne0, qtype_name(type));
        free(q);
    }
    free(x);
    return rc;
}

int modelgen_check(const modelgen_opts *o, uh_err *err)
{
    if (!o->out) return err_setf(err, UH_EINVAL, "modelgen: no output path");
    const arch_desc *a = o->arch ? arch_find(o->arch, strlen(o->arch)) : NULL;
    if (!a)
        return err_setf(err, UH_EUNSUPPORTED, "modelgen: architecture %s is not in the table",
                        o->arch ? o->arch : "(none)");
    int rc = arch_check(a, err);
    if (rc) return rc;
    if (o->tied && a->tensors[AT_OUTPUT].need == ARCH_REQUIRED)
        return err_setf(err, UH_EINVAL, "modelgen: architecture %s cannot tie the output", a->name);
    if (strcmp(o->type, "Q4_K_M") &&
        (qtype_from_name(o->type) < 0 || !qtype_traits[qtype_from_name(o->type)].vec_dot))
        return err_setf(err, UH_EINVAL, "modelgen: unknown weight type %s", o->type);
    if (o->n_embd <= 0 || o->n_layer <= 0 || o->n_head <= 0 || o->n_head_kv <= 0 ||
        o->n_ff <= 0 || o->n_ctx <= 0)
        return err_setf(err, UH_EINVAL, "modelgen: sizes must be positive");
    if (o->head_dim < 0 || o->head_dim % 2 || o->head_dim > MODEL_MAX_HEAD_DIM)
        return err_setf(err, UH_EINVAL, "modelgen: head_dim must be 0 or even, at most %d",
                        MODEL_MAX_HEAD_DIM);
    if ((!o->head_dim && (o->n_embd % o->n_head || (o->n_embd / o->n_head) % 2)) ||
        o->n_head % o->n_head_kv)
        return err_setf(err, UH_EINVAL,
                        "modelgen: n_embd must split into an even head size (or "
                        "head_dim be given), and n_head into n_head_kv groups");
    if (o->n_expert < 0 || o->n_expert > ARCH_MAX_EXPERTS || o->n_ff_exp < 0)
        return err_setf(err, UH_EINVAL, "modelgen: n_expert must be 0..%d, n_ff_exp >= 0",
                        ARCH_MAX_EXPERTS);
    if (o->n_expert > 0 && !a->n_expert_key)
        return err_setf(err, UH_EINVAL, "modelgen: architecture %s has no experts", a->name);
    if (o->n_expert == 0 && a->n_expert_key && a->tensors[AT_FFN_GATE].need == ARCH_ABSENT)
        return err_setf(err, UH_EINVAL, "modelgen: architecture %s needs n_expert > 0", a->name);
    if (o->n_expert > 0 && (o->n_expert_used < 1 || o->n_expert_used > o->n_expert))
        return err_setf(err, UH_EINVAL, "modelgen: n_expert_used must be 1..n_expert (%d)",
                        o->n_expert);
    if (o->window < 0) return err_setf(err, UH_EINVAL, "modelgen: window must be >= 0");
    if (o->n_vocab < MODELGEN_MIN_VOCAB && !o->vocab_from)
        return err_setf(err, UH_EINVAL, "modelgen: the synthetic vocabulary needs n_vocab >= %d",
                        MODELGEN_MIN_VOCAB);
    return UH_OK;
}

modelgen_opts modelgen_default_opts(void)
{
    modelgen_opts o = {.arch = "llama", .n_embd = 256, .n_layer = 4, .n_head = 8, .n_head_kv = 4,
                       .n_ff = 768, .n_vocab = 512, .n_ctx = 2048, .rope_base = 10000.0f,
                       .norm_eps = 1e-5f, .type = "Q8_0", .seed = 1};
    return o;
}

int modelgen_write(const modelgen_opts *o, uh_err *err)
{
    int rc = modelgen_check(o, err);
    if (rc) return rc;
    gguf_writer *w = gguf_writer_new();
    if (!w) return err_setf(err, UH_ENOMEM, "modelgen: out of memory");
    rc = UH_ENOMEM;
    char key[128], name[96];
    const char *A = o->arch;
    int n_vocab = o->n_vocab;
    const int hd = o->head_dim ? o->head_dim : o->n_embd / o->n_head;
    rng_state r;
    rng_seed(&r, o->seed);

    gguf_writer_set_str(w, "general.architecture", A);
    gguf_writer_set_str(w, "general.name", "unhosted random model");
#define SETU(suffix, v)                                                                            \
    (snprintf(key, sizeof key, "%s.%s", A, suffix), gguf_writer_set_u32(w, key, (uint32_t)(v)))
#define SETF(suffix, v) (snprintf(key, sizeof key, "%s.%s", A, suffix), gguf_writer_set_f32(w, key, v))
    SETU("context_length", o->n_ctx);
    SETU("embedding_length", o->n_embd);
    SETU("block_count", o->n_layer);
    const arch_desc *a = arch_find(A, strlen(A));
    const int n_ff_exp = o->n_expert > 0 ? (o->n_ff_exp ? o->n_ff_exp : o->n_ff) : 0;
    const int ff_is_exp = o->n_expert > 0 && a->tensors[AT_FFN_GATE].need != ARCH_ABSENT;
    SETU("feed_forward_length", ff_is_exp ? n_ff_exp : o->n_ff);
    if (o->n_expert > 0) {
        SETU(a->n_expert_key, o->n_expert);
        SETU(a->n_expert_used_key, o->n_expert_used);
        if (!ff_is_exp) SETU("expert_feed_forward_length", n_ff_exp);
    }
    SETU("attention.head_count", o->n_head);
    SETU("attention.head_count_kv", o->n_head_kv);
    SETU("rope.dimension_count", hd);
    if (o->head_dim) {
        SETU("attention.key_length", hd);
        SETU("attention.value_length", hd);
    }
    SETF("rope.freq_base", o->rope_base);
    if (a->swa.window_key) SETU(a->swa.window_key, o->window > 0 ? o->window : 64);
    SETF("attention.layer_norm_rms_epsilon", o->norm_eps);
    if (o->vocab_from) {
        n_vocab = copy_vocab(w, o->vocab_from, err);
        if (n_vocab <= 0) {
            rc = err ? err->code : UH_EFORMAT;
            goto out;
        }
    } else if (add_synthetic_vocab(w, n_vocab)) {
        err_setf(err, UH_ENOMEM, "modelgen: out of memory for the vocabulary");
        goto out;
    }

    /* Every role the architecture requires, in enum order within a layer (arch.h), drawn one
     * tensor at a time; optional roles are left out, except the untied head. */
    const hparams hp = {.n_embd = o->n_embd,
                        .n_head = o->n_head,
                        .n_head_kv = o->n_head_kv,
                        .head_dim = hd,
                        .n_rot = hd,
                        .n_ff = o->n_ff,
                        .n_vocab = n_vocab,
                        .n_expert = o->n_expert,
                        .n_expert_used = o->n_expert_used,
                        .n_ff_exp = n_ff_exp};
    for (int il = -1; il <= o->n_layer; il++) {
        /* -1: token_embd; n_layer: output_norm, then output */
        const int first = il < 0             ? AT_TOKEN_EMBD
                          : il == o->n_layer ? AT_OUTPUT_NORM
                                             : ARCH_N_GLOBAL;
        const int last = il < 0 ? AT_TOKEN_EMBD + 1 : il == o->n_layer ? AT_OUTPUT + 1 : AT_COUNT;
        for (int t = first; t < last; t++) {
            const enum arch_tensor role = (enum arch_tensor)t;
            const enum arch_need need = arch_role_need(a, role, o->n_expert);
            const int want = need == ARCH_REQUIRED ||
                             (role == AT_OUTPUT && a->tensors[t].need != ARCH_ABSENT && !o->tied);
            if (!want || arch_tensor_name(a, role, il, name, sizeof name)) continue;
            int64_t ne[3];
            double mean, std;
            model_role_shape(&hp, role, ne);
            role_init(role, ne[0], ne[1], &mean, &std);
            const int type = ne[1] ? weight_type(o, arch_tensor_role(role), il) : QT_F32;
            if (add_weight(w, &r, name, type, ne[0], ne[1], ne[2], mean, std, err)) goto out;
        }
    }
    rc = gguf_writer_write(w, o->out, 0, err);
    goto done;
out:
    if (rc == UH_ENOMEM && err && err->code) rc = err->code;
done:
    gguf_writer_free(w);
    return rc;
}

