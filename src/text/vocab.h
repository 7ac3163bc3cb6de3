/* vocab.h - a model's vocabulary (tokenizer.ggml.* metadata of a GGUF file) and the tokenizers
 * that use it.
 *
 * GGUF keys read (all under "tokenizer.ggml."):
 *   model             string, required: "llama" (SentencePiece), "gpt2" (byte-level BPE),
 *                     "bert" (WordPiece), "t5" (Unigram), ... Any value loads; text can be
 *                     tokenized with "llama", "gpt2" and "bert" vocabs.
 *   pre               string, optional: pre-tokenizer name of BPE vocabularies (pretok.h);
 *                     an unknown name falls back to GPT-2's with a warning
 *   tokens            string array, required: the token texts, indexed by id
 *   scores            f32 array, optional, one per token (SentencePiece merge priority)
 *   token_type        i32 array, optional, one per token (enum vocab_ttype; absent = all normal)
 *   merges            string array ("left right", rank = index): required to tokenize with a
 *                     "gpt2" vocab (checked when text is tokenized); a rule without a space
 *                     fails the load
 *   bos_token_id, eos_token_id, unknown_token_id, padding_token_id, seperator_token_id,
 *   cls_token_id, eot_token_id, eom_token_id
 *                     integers, optional; -1 or 0xFFFFFFFF mean "none", any other value must be
 *                     a valid id
 *   add_bos_token, add_eos_token, add_space_prefix
 *                     bools, optional; defaults depend on the family (SentencePiece: BOS yes,
 *                     EOS no, space prefix yes; BPE: no BOS except Llama 3's pre-tokenizer;
 *                     WordPiece: [CLS] as BOS and [SEP] as EOS, both added)
 *
 * Ownership: a vocab borrows every token string from the gguf_file it was loaded from, which
 * must outlive it. A vocab is immutable after loading and may be used from any thread. */
#ifndef UH_TEXT_VOCAB_H
#define UH_TEXT_VOCAB_H

#include <stddef.h>

#include "unhosted_base.h"

typedef struct gguf_file gguf_file;
typedef struct vocab vocab;

/* Token types as stored in tokenizer.ggml.token_type. */
enum vocab_ttype {
    VOCAB_T_UNDEFINED = 0,
    VOCAB_T_NORMAL = 1,
    VOCAB_T_UNKNOWN = 2,
    VOCAB_T_CONTROL = 3,
    VOCAB_T_USER_DEFINED = 4,
    VOCAB_T_UNUSED = 5,
    VOCAB_T_BYTE = 6,
};

/* Tokenizer families (tokenizer.ggml.model). */
enum vocab_family {
    VOCAB_SPM,   /* "llama" */
    VOCAB_BPE,   /* "gpt2" */
    VOCAB_WPM,   /* "bert" */
    VOCAB_UGM,   /* "t5" */
    VOCAB_OTHER, /* anything else: loads, cannot tokenize text */
};

/* Reads and validates the tokenizer metadata of f. *out is owned by the caller (vocab_free).
 * Errors: UH_EFORMAT naming the key (missing model or tokens, wrong types, array lengths that do
 * not match the token count, special ids out of range), UH_ENOMEM. */
int vocab_load(const gguf_file *f, vocab **out, uh_err *err);
void vocab_free(vocab *v);

int vocab_n_tokens(const vocab *v);
enum vocab_family vocab_family_of(const vocab *v);

uh_token vocab_bos(const vocab *v); /* -1 if none */
uh_token vocab_eos(const vocab *v);
uh_token vocab_unk(const vocab *v);
uh_token vocab_pad(const vocab *v);
int vocab_add_bos(const vocab *v);           /* the model wants BOS in front of a prompt */
int vocab_add_eos(const vocab *v);           /* the model wants EOS after a prompt */
int vocab_adds_space_prefix(const vocab *v); /* tokenize puts a space in front of the text */

/* End of generation: eos, eot, eom, and the end-of-turn control tokens of common chat formats
 * (<|eot_id|>, <|im_end|>, <|end|>, <end_of_turn>, <|endoftext|>, ...) when the vocab has them.
 * False for ids out of range. */
int vocab_is_eog(const vocab *v, uh_token t);
int vocab_is_control(const vocab *v, uh_token t);
/* The token's type (enum vocab_ttype), or -1 for an id out of range. */
int vocab_token_type(const vocab *v, uh_token t);
float vocab_token_score(const vocab *v, uh_token t); /* 0 when the vocab has no scores */

/* Raw vocab string of t (not NUL-terminated; *len receives its length), NULL if t is out of
 * range. Points into the gguf_file. */
const char *vocab_token_text(const vocab *v, uh_token t, size_t *len);
/* Id of the token whose text is exactly text[0..len), or -1. */
uh_token vocab_find(const vocab *v, const char *text, size_t len);

/* Same contract as uh_tokenize (include/unhosted.h): len bytes of text into out[0..n_max);
 * *n_out receives the full count and UH_ELIMIT is returned when it exceeds n_max (out may be
 * NULL when n_max is 0, to ask for the count). add_bos adds the tokens the model puts around a
 * prompt: BOS in front when vocab_add_bos, EOS after when vocab_add_eos (BERT: [CLS] ... [SEP]).
 * parse_special matches the text of control and unknown tokens (e.g. "<s>") as those tokens;
 * user-defined tokens are always matched. Invalid UTF-8 never fails: SentencePiece and BPE keep
 * bad bytes as byte tokens, WordPiece keeps them in their word (which then usually becomes
 * [UNK]). Families without a tokenizer give UH_EUNSUPPORTED, a gpt2 vocab without merges
 * UH_EFORMAT; text longer than VOCAB_MAX_TEXT bytes gives UH_ELIMIT. */
#define VOCAB_MAX_TEXT ((size_t)1 << 30)
int vocab_tokenize(const vocab *v, const char *text, size_t len, int add_bos, int parse_special,
                   uh_token *out, int n_max, int *n_out, uh_err *err);

/* Same contract as uh_token_to_piece: the bytes token t stands for in generated text. Writes at
 * most cap bytes to buf and returns the full length (which may exceed cap), or UH_EINVAL for an
 * id out of range. SentencePiece: U+2581 becomes ' ', <0xXX> byte tokens become that byte,
 * control (and unused) tokens render as nothing, unknown and user-defined tokens as their text.
 * Byte-level BPE: the GPT-2 byte-to-character mapping is undone. WordPiece: a word-start token
 * gets its separating space in front ("\u2581hello" or "hello" -> " hello"), a continuation
 * ("hrer" or "##hrer") joins the previous piece. */
int vocab_token_to_piece(const vocab *v, uh_token t, char *buf, size_t cap);

#endif
