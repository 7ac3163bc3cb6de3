/* arch.c - the architecture table: one description per model family (see arch.h), and the check
 * of what the engine can run.
 *
 * Tensor names are the ones llama.cpp's converters write into GGUF files, so files made for it
 * load unchanged. Roles left out of an entry are ARCH_ABSENT. */
#include "engine/arch.h"

#include <stdio.h>
#include <string.h>

#include "base/err.h"

/* clang-format off */
#define REQ(n) {.name = (n), .need = ARCH_REQUIRED}
#define OPT(n) {.name = (n), .need = ARCH_OPTIONAL}
/* clang-format on */

static const arch_desc arch_table[] = {
    /* Llama 2/3.x, Mistral, TinyLlama, SmolLM: plain pre-norm decoder, GQA, SwiGLU. Converters
     * write no biases, but some fine-tunes carry them; small models tie the head. Mixtral-style
     * files are llama with llama.expert_count > 0: a router and 3-D expert tensors replace the
     * dense FFN, and feed_forward_length is the width of one expert. */
    {
        .name = "llama",
        .tensors =
            {
                [AT_TOKEN_EMBD] = REQ("token_embd.weight"),
                [AT_OUTPUT_NORM] = REQ("output_norm.weight"),
                [AT_OUTPUT] = OPT("output.weight"),
                [AT_ROPE_FREQS] = OPT("rope_freqs.weight"),
                [AT_ATTN_NORM] = REQ("blk.%d.attn_norm.weight"),
                [AT_ATTN_Q] = REQ("blk.%d.attn_q.weight"),
                [AT_ATTN_Q_BIAS] = OPT("blk.%d.attn_q.bias"),
                [AT_ATTN_K] = REQ("blk.%d.attn_k.weight"),
                [AT_ATTN_K_BIAS] = OPT("blk.%d.attn_k.bias"),
                [AT_ATTN_V] = REQ("blk.%d.attn_v.weight"),
                [AT_ATTN_V_BIAS] = OPT("blk.%d.attn_v.bias"),
                [AT_ATTN_OUT] = REQ("blk.%d.attn_output.weight"),
                [AT_ATTN_OUT_BIAS] = OPT("blk.%d.attn_output.bias"),
                [AT_FFN_NORM] = REQ("blk.%d.ffn_norm.weight"),
                [AT_FFN_GATE] = REQ("blk.%d.ffn_gate.weight"),
                [AT_FFN_UP] = REQ("blk.%d.ffn_up.weight"),
                [AT_FFN_DOWN] = REQ("blk.%d.ffn_down.weight"),
                [AT_FFN_GATE_INP] = REQ("blk.%d.ffn_gate_inp.weight"),
                [AT_FFN_GATE_EXPS] = REQ("blk.%d.ffn_gate_exps.weight"),
                [AT_FFN_UP_EXPS] = REQ("blk.%d.ffn_up_exps.weight"),
                [AT_FFN_DOWN_EXPS] = REQ("blk.%d.ffn_down_exps.weight"),
            },
        .norm = NORM_RMS,
        .act = ACT_SILU,
        .rope = ROPE_NORM,
        .n_expert_key = "expert_count",
        .n_expert_used_key = "expert_used_count",
    },
    /* Qwen2 / Qwen2.5: llama's layout with biases on q, k and v, and NEOX RoPE. */
    {
        .name = "qwen2",
        .tensors =
            {
                [AT_TOKEN_EMBD] = REQ("token_embd.weight"),
                [AT_OUTPUT_NORM] = REQ("output_norm.weight"),
                [AT_OUTPUT] = OPT("output.weight"),
                [AT_ROPE_FREQS] = OPT("rope_freqs.weight"),
                [AT_ATTN_NORM] = REQ("blk.%d.attn_norm.weight"),
                [AT_ATTN_Q] = REQ("blk.%d.attn_q.weight"),
                [AT_ATTN_Q_BIAS] = REQ("blk.%d.attn_q.bias"),
                [AT_ATTN_K] = REQ("blk.%d.attn_k.weight"),
                [AT_ATTN_K_BIAS] = REQ("blk.%d.attn_k.bias"),
                [AT_ATTN_V] = REQ("blk.%d.attn_v.weight"),
                [AT_ATTN_V_BIAS] = REQ("blk.%d.attn_v.bias"),
                [AT_ATTN_OUT] = REQ("blk.%d.attn_output.weight"),
                [AT_FFN_NORM] = REQ("blk.%d.ffn_norm.weight"),
                [AT_FFN_GATE] = REQ("blk.%d.ffn_gate.weight"),
                [AT_FFN_UP] = REQ("blk.%d.ffn_up.weight"),
                [AT_FFN_DOWN] = REQ("blk.%d.ffn_down.weight"),
            },
        .norm = NORM_RMS,
        .act = ACT_SILU,
        .rope = ROPE_NEOX,
    },
    /* Qwen3 (dense): qwen2 without the q/k/v biases, plus an RMS norm over each head of q and
     * of k before RoPE. The head size comes from attention.key_length and need not be
     * n_embd / n_head (Qwen3-0.6B: 16 heads of 128 over n_embd 1024). */
    {
        .name = "qwen3",
        .tensors =
            {
                [AT_TOKEN_EMBD] = REQ("token_embd.weight"),
                [AT_OUTPUT_NORM] = REQ("output_norm.weight"),
                [AT_OUTPUT] = OPT("output.weight"),
                [AT_ATTN_NORM] = REQ("blk.%d.attn_norm.weight"),
                [AT_ATTN_Q] = REQ("blk.%d.attn_q.weight"),
                [AT_ATTN_K] = REQ("blk.%d.attn_k.weight"),
                [AT_ATTN_V] = REQ("blk.%d.attn_v.weight"),
                [AT_ATTN_Q_NORM] = REQ("blk.%d.attn_q_norm.weight"),
                [AT_ATTN_K_NORM] = REQ("blk.%d.attn_k_norm.weight"),
                [AT_ATTN_OUT] = REQ("blk.%d.attn_output.weight"),
                [AT_FFN_NORM] = REQ("blk.%d.ffn_norm.weight"),
                [AT_FFN_GATE] = REQ("blk.%d.ffn_gate.weight"),
                [AT_FFN_UP] = REQ("blk.%d.ffn_up.weight"),
                [AT_FFN_DOWN] = REQ("blk.%d.ffn_down.weight"),
            },
        .norm = NORM_RMS,
        .act = ACT_SILU,
        .rope = ROPE_NEOX,
    },
    /* Qwen3-MoE (Qwen3-30B-A3B): qwen3's attention with an expert FFN in every layer, no
     * dense one. feed_forward_length is written but unused: the expert width is
     * expert_feed_forward_length. */
    {
        .name = "qwen3moe",
        .tensors =
            {
                [AT_TOKEN_EMBD] = REQ("token_embd.weight"),
                [AT_OUTPUT_NORM] = REQ("output_norm.weight"),
                [AT_OUTPUT] = OPT("output.weight"),
                [AT_ATTN_NORM] = REQ("blk.%d.attn_norm.weight"),
                [AT_ATTN_Q] = REQ("blk.%d.attn_q.weight"),
                [AT_ATTN_K] = REQ("blk.%d.attn_k.weight"),
                [AT_ATTN_V] = REQ("blk.%d.attn_v.weight"),
                [AT_ATTN_Q_NORM] = REQ("blk.%d.attn_q_norm.weight"),
                [AT_ATTN_K_NORM] = REQ("blk.%d.attn_k_norm.weight"),
                [AT_ATTN_OUT] = REQ("blk.%d.attn_output.weight"),
                [AT_FFN_NORM] = REQ("blk.%d.ffn_norm.weight"),
                [AT_FFN_GATE_INP] = REQ("blk.%d.ffn_gate_inp.weight"),
                [AT_FFN_GATE_EXPS] = REQ("blk.%d.ffn_gate_exps.weight"),
                [AT_FFN_UP_EXPS] = REQ("blk.%d.ffn_up_exps.weight"),
                [AT_FFN_DOWN_EXPS] = REQ("blk.%d.ffn_down_exps.weight"),
            },
        .norm = NORM_RMS,
        .act = ACT_SILU,
        .rope = ROPE_NEOX,
        .n_expert_key = "expert_count",
        .n_expert_used_key = "expert_used_count",
    },
    /* Phi-3 / Phi-3.5 / Phi-4-mini: llama's layer with q, k, v fused into attn_qkv and gate, up
     * fused into ffn_up (gate rows first), split into row slices at load; NEOX RoPE. llama.cpp
     * ignores phi3.attention.sliding_window (plain causal attention), and so does the engine.
     * Files with LongRoPE factors (rope_factors_long/short) are refused at load for now. */
    {
        .name = "phi3",
        .tensors =
            {
                [AT_TOKEN_EMBD] = REQ("token_embd.weight"),
                [AT_OUTPUT_NORM] = REQ("output_norm.weight"),
                [AT_OUTPUT] = OPT("output.weight"),
                [AT_ATTN_NORM] = REQ("blk.%d.attn_norm.weight"),
                [AT_ATTN_QKV] = REQ("blk.%d.attn_qkv.weight"),
                [AT_ATTN_OUT] = REQ("blk.%d.attn_output.weight"),
                [AT_FFN_NORM] = REQ("blk.%d.ffn_norm.weight"),
                [AT_FFN_GATE_UP] = REQ("blk.%d.ffn_up.weight"),
                [AT_FFN_DOWN] = REQ("blk.%d.ffn_down.weight"),
            },
        .norm = NORM_RMS,
        .act = ACT_SILU,
        .rope = ROPE_NEOX,
    },
    /* Gemma 2: tied head, embeddings scaled by sqrt(n_embd), GeGLU, RMS norms on the attention
     * and FFN outputs before the residual adds, soft-capped attention scores (50) and logits
     * (30) unless the file says otherwise, and a sliding window on every other layer (the even
     * ones). Norm weights are stored with Gemma's +1 already added. */
    {
        .name = "gemma2",
        .tensors =
            {
                [AT_TOKEN_EMBD] = REQ("token_embd.weight"),
                [AT_OUTPUT_NORM] = REQ("output_norm.weight"),
                [AT_ATTN_NORM] = REQ("blk.%d.attn_norm.weight"),
                [AT_ATTN_Q] = REQ("blk.%d.attn_q.weight"),
                [AT_ATTN_K] = REQ("blk.%d.attn_k.weight"),
                [AT_ATTN_V] = REQ("blk.%d.attn_v.weight"),
                [AT_ATTN_OUT] = REQ("blk.%d.attn_output.weight"),
                [AT_ATTN_POST_NORM] = REQ("blk.%d.post_attention_norm.weight"),
                [AT_FFN_NORM] = REQ("blk.%d.ffn_norm.weight"),
                [AT_FFN_GATE] = REQ("blk.%d.ffn_gate.weight"),
                [AT_FFN_UP] = REQ("blk.%d.ffn_up.weight"),
                [AT_FFN_DOWN] = REQ("blk.%d.ffn_down.weight"),
                [AT_FFN_POST_NORM] = REQ("blk.%d.post_ffw_norm.weight"),
            },
        .norm = NORM_RMS,
        .act = ACT_GELU,
        .rope = ROPE_NEOX,
        .embd_scale = EMBD_SCALE_SQRT_N_EMBD,
        .swa = {.pattern = 2,
                .pattern_key = "attention.sliding_window_pattern",
                .window_key = "attention.sliding_window",
                .rope_base_key = "rope.freq_base_swa"},
        .attn_softcap = {"attn_logit_softcapping", 50.0f},
        .final_softcap = {"final_logit_softcapping", 30.0f},
        .scale_by_embd_layers = 46,
    },
    /* Gemma 3 (text): gemma2's layer without the attention soft-cap, with qwen3-style q/k head
     * norms, five sliding-window layers to one global by default, and local layers on their own
     * RoPE base (rope.freq_base_swa, 10000 when absent) without the RoPE scaling of the global
     * ones. Final soft-capping only when the file has the key. */
    {
        .name = "gemma3",
        .tensors =
            {
                [AT_TOKEN_EMBD] = REQ("token_embd.weight"),
                [AT_OUTPUT_NORM] = REQ("output_norm.weight"),
                [AT_OUTPUT] = OPT("output.weight"),
                [AT_ATTN_NORM] = REQ("blk.%d.attn_norm.weight"),
                [AT_ATTN_Q] = REQ("blk.%d.attn_q.weight"),
                [AT_ATTN_K] = REQ("blk.%d.attn_k.weight"),
                [AT_ATTN_V] = REQ("blk.%d.attn_v.weight"),
                [AT_ATTN_Q_NORM] = REQ("blk.%d.attn_q_norm.weight"),
                [AT_ATTN_K_NORM] = REQ("blk.%d.attn_k_norm.weight"),
                [AT_ATTN_OUT] = REQ("blk.%d.attn_output.weight"),
                [AT_ATTN_POST_NORM] = REQ("blk.%d.post_attention_norm.weight"),
                [AT_FFN_NORM] = REQ("blk.%d.ffn_norm.weight"),
                [AT_FFN_GATE] = REQ("blk.%d.ffn_gate.weight"),
                [AT_FFN_UP] = REQ("blk.%d.ffn_up.weight"),
                [AT_FFN_DOWN] = REQ("blk.%d.ffn_down.weight"),
                [AT_FFN_POST_NORM] = REQ("blk.%d.post_ffw_norm.weight"),
            },
        .norm = NORM_RMS,
        .act = ACT_GELU,
        .rope = ROPE_NEOX,
        .embd_scale = EMBD_SCALE_SQRT_N_EMBD,
        .swa = {.pattern = 6,
                .pattern_key = "attention.sliding_window_pattern",
                .window_key = "attention.sliding_window",
                .rope_base_key = "rope.freq_base_swa",
                .rope_base_def = 10000.0f,
                .rope_unscaled = 1},
        .final_softcap = {"final_logit_softcapping", 0.0f},
        .scale_by_embd_layers = 62,
    },
};

#undef REQ
#undef OPT

static const char *const role_names[AT_COUNT] = {
    [AT_TOKEN_EMBD] = "token_embd",
    [AT_OUTPUT_NORM] = "output_norm",
    [AT_OUTPUT] = "output",
    [AT_ROPE_FREQS] = "rope_freqs",
    [AT_ATTN_NORM] = "attn_norm",
    [AT_ATTN_Q] = "attn_q",
    [AT_ATTN_Q_BIAS] = "attn_q.bias",
    [AT_ATTN_K] = "attn_k",
    [AT_ATTN_K_BIAS] = "attn_k.bias",
    [AT_ATTN_V] = "attn_v",
    [AT_ATTN_V_BIAS] = "attn_v.bias",
    [AT_ATTN_Q_NORM] = "attn_q_norm",
    [AT_ATTN_K_NORM] = "attn_k_norm",
    [AT_ATTN_OUT] = "attn_output",
    [AT_ATTN_OUT_BIAS] = "attn_output.bias",
    [AT_ATTN_POST_NORM] = "post_attention_norm",
    [AT_FFN_NORM] = "ffn_norm",
    [AT_FFN_GATE] = "ffn_gate",
    [AT_FFN_UP] = "ffn_up",
    [AT_FFN_DOWN] = "ffn_down",
    [AT_FFN_GATE_INP] = "ffn_gate_inp",
    [AT_FFN_GATE_EXPS] = "ffn_gate_exps",
    [AT_FFN_UP_EXPS] = "ffn_up_exps",
    [AT_FFN_DOWN_EXPS] = "ffn_down_exps",
    [AT_FFN_POST_NORM] = "post_ffw_norm",
    [AT_ATTN_QKV] = "attn_qkv",
    [AT_FFN_GATE_UP] = "ffn_up (gate and up fused)",
};

const arch_desc *arch_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof arch_table / sizeof arch_table[0]; i++)
        if (strlen(arch_table[i].name) == len && memcmp(arch_table[i].name, name, len) == 0)
            return &arch_table[i];
    return NULL;
}

const arch_desc *arch_at(int i)
{
    if (i < 0 || (size_t)i >= sizeof arch_table / sizeof arch_table[0]) return NULL;
    return &arch_table[i];
}

const char *arch_tensor_role(enum arch_tensor t)
{
    return (unsigned)t < AT_COUNT && role_names[t] ? role_names[t] : "?";
}

int arch_tensor_name(const arch_desc *a, enum arch_tensor t, int il, char *buf, size_t size)
{
    if ((unsigned)t >= AT_COUNT || a->tensors[t].need == ARCH_ABSENT || !a->tensors[t].name)
        return -1;
    /* the pattern is data, not a format: substitute its one %d by hand */
    const char *pat = a->tensors[t].name, *hole = strstr(pat, "%d");
    int n;
    if (t < ARCH_N_GLOBAL || !hole)
        n = snprintf(buf, size, "%s", pat);
    else
        n = snprintf(buf, size, "%.*s%d%s", (int)(hole - pat), pat, il, hole + 2);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int arch_role_is_expert(enum arch_tensor t)
{
    return t == AT_FFN_GATE_INP || t == AT_FFN_GATE_EXPS || t == AT_FFN_UP_EXPS ||
           t == AT_FFN_DOWN_EXPS;
}

static int role_is_dense_ffn(enum arch_tensor t)
{
    return t == AT_FFN_GATE || t == AT_FFN_UP || t == AT_FFN_GATE_UP || t == AT_FFN_DOWN;
}

enum arch_need arch_role_need(const arch_desc *a, enum arch_tensor t, int n_expert)
{
    if ((unsigned)t >= AT_COUNT) return ARCH_ABSENT;
    if (a->n_expert_key && (n_expert > 0 ? role_is_dense_ffn(t) : arch_role_is_expert(t)))
        return ARCH_ABSENT;
    return a->tensors[t].need;
}

/* q, k and v as three required tensors, or one required fused tensor and none of the three */
static int has_qkv(const arch_desc *a)
{
    const enum arch_need q = a->tensors[AT_ATTN_Q].need, k = a->tensors[AT_ATTN_K].need,
                         v = a->tensors[AT_ATTN_V].need, qkv = a->tensors[AT_ATTN_QKV].need;
    if (qkv == ARCH_ABSENT) return q == ARCH_REQUIRED && k == ARCH_REQUIRED && v == ARCH_REQUIRED;
    return qkv == ARCH_REQUIRED && q == ARCH_ABSENT && k == ARCH_ABSENT && v == ARCH_ABSENT;
}

/* the same for gate and up */
static int has_gate_up(const arch_desc *a)
{
    const enum arch_need g = a->tensors[AT_FFN_GATE].need, u = a->tensors[AT_FFN_UP].need,
                         gu = a->tensors[AT_FFN_GATE_UP].need;
    if (gu == ARCH_ABSENT) return g == ARCH_REQUIRED && u == ARCH_REQUIRED;
    return gu == ARCH_REQUIRED && g == ARCH_ABSENT && u == ARCH_ABSENT;
}

int arch_check(const arch_desc *a, uh_err *err)
{
    const arch_tensor_desc *td = a->tensors;
    /* a layer has a dense FFN (gate and up, or the two fused, and down) or an expert FFN
     * (router and three expert tensors, with the count keys), or both, chosen per file by the
     * expert count */
    const int has_dense = has_gate_up(a) && td[AT_FFN_DOWN].need == ARCH_REQUIRED;
    const int no_dense = td[AT_FFN_GATE].need == ARCH_ABSENT && td[AT_FFN_UP].need == ARCH_ABSENT &&
                         td[AT_FFN_GATE_UP].need == ARCH_ABSENT &&
                         td[AT_FFN_DOWN].need == ARCH_ABSENT;
    const int has_moe =
        a->n_expert_key && a->n_expert_used_key && td[AT_FFN_GATE_INP].need == ARCH_REQUIRED &&
        td[AT_FFN_GATE_EXPS].need == ARCH_REQUIRED && td[AT_FFN_UP_EXPS].need == ARCH_REQUIRED &&
        td[AT_FFN_DOWN_EXPS].need == ARCH_REQUIRED;
    const int no_moe = !a->n_expert_key && td[AT_FFN_GATE_INP].need == ARCH_ABSENT &&
                       td[AT_FFN_GATE_EXPS].need == ARCH_ABSENT &&
                       td[AT_FFN_UP_EXPS].need == ARCH_ABSENT &&
                       td[AT_FFN_DOWN_EXPS].need == ARCH_ABSENT;
    const int ffn_ok = (has_dense && (has_moe || no_moe)) || (no_dense && has_moe);

    const char *missing = NULL;
    if (a->norm != NORM_RMS)
        missing = "LayerNorm";
    else if (a->act != ACT_SILU && a->act != ACT_GELU)
        missing = "an FFN activation";
    else if (a->rope != ROPE_NORM && a->rope != ROPE_NEOX)
        missing = "this RoPE style";
    else if (a->embd_scale != EMBD_SCALE_NONE && a->embd_scale != EMBD_SCALE_SQRT_N_EMBD)
        missing = "this embedding scale";
    else if ((a->swa.pattern != 0 || a->swa.pattern_key) &&
             (a->swa.pattern < 0 || !a->swa.window_key))
        missing = "sliding-window attention without a window key";
    else if (a->attn_softcap.def < 0 || a->final_softcap.def < 0)
        missing = "a negative soft-cap";
    else if (a->tensors[AT_TOKEN_EMBD].need != ARCH_REQUIRED ||
             a->tensors[AT_OUTPUT_NORM].need != ARCH_REQUIRED ||
             a->tensors[AT_ATTN_NORM].need != ARCH_REQUIRED || !has_qkv(a) ||
             a->tensors[AT_ATTN_OUT].need != ARCH_REQUIRED ||
             a->tensors[AT_FFN_NORM].need != ARCH_REQUIRED)
        missing = "a layer without separate q/k/v, norm and gate/up/down tensors";
    else if (!ffn_ok && (a->n_expert_key || !no_moe))
        missing = "a mixture-of-experts FFN other than a router, gate/up/down expert tensors and "
                  "both count keys";
    else if (!ffn_ok)
        missing = "a layer without separate q/k/v, norm and gate/up/down tensors";
    if (!missing) return UH_OK;
    return err_setf(err, UH_EUNSUPPORTED,
                    "model: architecture %s needs %s, which is not implemented yet", a->name,
                    missing);
}
