/* modelgen.h - writes random-weight GGUF models of a supported architecture in any tensor type,
 * reproducibly from a seed, with the engine's own quantizers. Tests and benchmarks make the
 * models they need with it (tools/unhosted-gen is its command line). */
#ifndef UH_ENGINE_MODELGEN_H
#define UH_ENGINE_MODELGEN_H

#include <stdint.h>

#include "unhosted.h"

#define MODELGEN_MIN_VOCAB 300 /* specials + 256 byte tokens + a few pieces */

typedef struct {
    const char *arch; /* an entry of the architecture table (arch.c): "llama", "gemma2", ... */
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    /* MoE: n_expert > 0 writes a router and 3-D expert tensors instead of the dense FFN (for an
     * architecture with an expert count key), n_expert_used experts per token, each n_ff_exp
     * wide (0: n_ff). llama stores that width as feed_forward_length; others as
     * expert_feed_forward_length beside feed_forward_length = n_ff. */
    int n_expert, n_expert_used, n_ff_exp;
    int head_dim; /* 0: n_embd / n_head; else written as attention.key_length / value_length */
    int window;   /* sliding-window architectures (gemma2, gemma3): the window, 0 for 64 */
    float rope_base, norm_eps;
    int tied;         /* no output.weight: the embedding doubles as the head */
    const char *type; /* a tensor type name for every 2-D weight, or the mix "Q4_K_M" */
    uint64_t seed;
    const char *vocab_from; /* copy tokenizer.* from this GGUF instead of the synthetic vocab */
    const char *out;        /* path to write */
} modelgen_opts;

modelgen_opts modelgen_default_opts(void); /* 4 layers, n_embd 256, Q8_0, synthetic vocab */
int modelgen_check(const modelgen_opts *o, uh_err *err);
/* Validates o, generates and writes o->out (atomically: a failed write leaves nothing). */
int modelgen_write(const modelgen_opts *o, uh_err *err);

#endif
