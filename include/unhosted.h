/* unhosted.h - the embeddable engine API: load a GGUF model, tokenize, evaluate batches of
 * tokens (or hidden states, for a range of layers), sample.
 *
 * Conventions
 *  - Every function that can fail returns 0 (UH_OK) or a negative UH_E* code, and fills *err
 *    (when err is non-NULL) with a one-line message naming the problem.
 *  - Objects come from uh_*_new / uh_model_load and go back with the matching uh_*_free, which
 *    accepts NULL. Nothing returned by a getter is owned by the caller unless it says so.
 *  - A model is immutable after loading and may be shared by any number of contexts and threads.
 *    A context (KV cache, scratch, outputs) is used by one thread at a time.
 *  - Weights are mmapped read-only from the GGUF file, never copied; the file must not be
 *    modified while the model is loaded.
 */
#ifndef UNHOSTED_H
#define UNHOSTED_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "unhosted_base.h"

typedef struct uh_model uh_model;
typedef struct uh_ctx uh_ctx;
typedef struct uh_sampler uh_sampler;

/* ---- model ---- */

/* Maps the GGUF file at path and validates it completely (header, metadata, tensor table, shapes
 * of every tensor the architecture needs). *out is owned by the caller: uh_model_free. */
int uh_model_load(const char *path, uh_model **out, uh_err *err);
void uh_model_free(uh_model *m);

typedef struct {
    char arch[32];  /* "llama", "qwen2", "qwen3", "phi3" */
    char name[128]; /* general.name, or "" */
    int n_vocab;
    int n_embd;
    int n_layer;
    int n_head;
    int n_head_kv;
    int head_dim; /* per attention head: attention.key_length, else n_embd / n_head */
    int n_ff;
    int n_ctx_train;
    uint64_t n_params;   /* elements in all tensors */
    uint64_t size_bytes; /* bytes of tensor data */
} uh_model_info;

void uh_model_get_info(const uh_model *m, uh_model_info *info);

/* ---- vocabulary ---- */

uh_token uh_token_bos(const uh_model *m); /* -1 if none */
uh_token uh_token_eos(const uh_model *m);
int uh_token_is_eog(const uh_model *m, uh_token t); /* end of generation (eos, eot, ...) */
int uh_add_bos(const uh_model *m);                 /* the model wants BOS in front of a text */

/* Tokenizes len bytes of text into out[0..n_max). *n_out receives the token count; if it is
 * larger than n_max the call returns UH_ELIMIT and the caller retries with a bigger buffer.
 * add_special: add the special tokens the model's metadata asks for around a text (BOS; EOS when
 * add_eos_token is set; [CLS] ... [SEP] for BERT). parse_special: match control-token text such
 * as "<s>" as those tokens (otherwise it is plain text). */
int uh_tokenize(const uh_model *m, const char *text, size_t len, int add_special, int parse_special,
                uh_token *out, int n_max, int *n_out, uh_err *err);

/* Raw bytes of one token (SentencePiece's U+2581 turned into a space, byte tokens into their
 * byte). Writes at most cap bytes, returns the full length, or a negative code for a bad token.
 * The result may be part of a multi-byte UTF-8 character; see uh_detok_*. */
int uh_token_to_piece(const uh_model *m, uh_token t, char *buf, size_t cap);

/* Streaming detokenizer: feed tokens, get complete UTF-8 text only (a character split across
 * tokens is held back until it is whole). The first piece after BOS loses the space that the
 * tokenizer added in front of the text. */
typedef struct {
    const uh_model *model;
    unsigned char pending[8]; /* bytes of an incomplete UTF-8 character */
    int n_pending;
    int at_start;             /* next piece is the first of the text */
} uh_detok;

void uh_detok_init(uh_detok *d, const uh_model *m);
/* Appends the text completed by token t to buf (NUL-terminated, capacity cap >= 64); returns
 * the number of bytes written. */
int uh_detok_push(uh_detok *d, uh_token t, char *buf, size_t cap);

/* ---- context: KV cache and evaluation ---- */

enum uh_kv_type { UH_KV_F32 = 0, UH_KV_F16 = 1 };

typedef struct {
    int n_ctx;       /* positions per sequence; 0 = the model's training context */
    int n_seq_max;   /* independent sequences (each has n_ctx KV cells) */
    int n_batch_max; /* largest batch uh_eval accepts */
    int kv_type;     /* enum uh_kv_type */
    int exact;       /* 1: float32 activations against dequantized weights (slow; for checks) */
    int n_threads;   /* threads that evaluate, the caller included; 0 = all online CPUs. The
                      * results do not depend on it: every number is computed the same way. */
} uh_ctx_params;

uh_ctx_params uh_ctx_default_params(void);

/* The context borrows the model, which must outlive it. */
int uh_ctx_new(const uh_model *m, const uh_ctx_params *p, uh_ctx **out, uh_err *err);
void uh_ctx_free(uh_ctx *c);

typedef struct {
    int n_tokens;
    const uh_token *tokens;    /* [n_tokens]; used when the range starts at layer 0 */
    const float *embd;         /* [n_tokens][n_embd] hidden states entering the first layer of
                                * the range; used when tokens is NULL or the range starts later */
    const int32_t *pos;        /* [n_tokens] position of each token in its sequence */
    const int32_t *seq_id;     /* [n_tokens] sequence of each token; NULL = all sequence 0 */
    const int8_t *want_output; /* [n_tokens] 1 = keep this token's output; NULL = last only */
} uh_batch;

/* Runs the whole model on the batch: writes K/V of every token into its sequence's cache at its
 * position, then keeps logits for the tokens that want output (uh_get_logits). */
int uh_eval(uh_ctx *c, const uh_batch *b, uh_err *err);

/* Runs layers [layer_begin, layer_end) only. layer_begin == 0 with tokens set embeds them; else
 * b->embd is the input. layer_end == n_layer applies the output norm and head (logits);
 * otherwise the outputs are hidden states of n_embd floats (uh_get_hidden). This is what a
 * pipeline of devices is built on: each device runs its own range. */
int uh_eval_layers(uh_ctx *c, const uh_batch *b, int layer_begin, int layer_end, uh_err *err);

/* Embedding of a text: runs the whole model over toks[0..n) at positions 0..n-1 of sequence seq
 * (its cache is cleared first and holds the tokens afterwards; other sequences are untouched),
 * in batches of at most n_batch_max tokens. Each token's final hidden state goes through the
 * output RMSNorm (what the head would see), the normed states are averaged over the tokens (mean
 * pooling), and the mean is scaled to unit L2 length, so the cosine similarity of two embeddings
 * is their dot product. out receives n_embd floats. UH_ECTXFULL when n exceeds n_ctx. The
 * logits/hidden outputs of the last eval are not kept. */
int uh_embed(uh_ctx *c, int seq, const uh_token *toks, int n, float *out, uh_err *err);

/* Output row of batch entry i of the last eval (NULL if that entry did not want output). Valid
 * until the next eval on this context. */
const float *uh_get_logits(const uh_ctx *c, int i);
const float *uh_get_hidden(const uh_ctx *c, int i);

/* Forgets positions >= p0 of sequence seq (seq < 0: all sequences; p0 = 0: everything). */
void uh_kv_truncate(uh_ctx *c, int seq, int p0);
/* Number of positions of seq held in the cache (one past the highest written). */
int uh_kv_seq_len(const uh_ctx *c, int seq);

/* ---- sampling ---- */

typedef struct {
    float temp;             /* <= 0: greedy */
    int top_k;              /* <= 0: off */
    float top_p;            /* >= 1: off */
    float min_p;            /* <= 0: off */
    float repeat_penalty;   /* 1: off; divides positive logits of recent tokens */
    int repeat_last_n;      /* window for the penalties; -1 = all accepted tokens */
    float freq_penalty;     /* subtracted per occurrence in the window */
    float presence_penalty; /* subtracted once for presence in the window */
    uint64_t seed;
} uh_sampler_params;

uh_sampler_params uh_sampler_default_params(void);
int uh_sampler_new(const uh_sampler_params *p, int n_vocab, uh_sampler **out, uh_err *err);
void uh_sampler_free(uh_sampler *s);
/* Picks the next token from a row of n_vocab logits (not modified). Same seed, same history,
 * same logits: same token. */
uh_token uh_sampler_sample(uh_sampler *s, const float *logits);
/* Records a token (prompt or generated) in the penalty history. */
void uh_sampler_accept(uh_sampler *s, uh_token t);
void uh_sampler_reset(uh_sampler *s);

#ifdef __cplusplus
}
#endif
#endif
