/* fuzz_template.c - libFuzzer harness for the chat-template engine (lexer, parser, evaluator).
 *
 * Input: if it starts with '{' and its first line parses as a JSON object, that object is the
 * variables and the rest is the template; otherwise the whole input is the template, rendered
 * with a fixed conversation (messages, tools, add_generation_prompt, bos/eos). Caps are tight so
 * that every input finishes fast; the engine's promises are checked with __builtin_trap: success
 * gives a NUL-terminated buffer of the stated length, failure gives a negative code, a message
 * and no buffer, and only the documented codes come back.
 *
 * Corpus: fuzz/corpus/template (seeds), fuzz/regress/template (past crashes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "text/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

static const char fixed_vars[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"You are helpful.\"},"
    "{\"role\":\"user\",\"content\":\"Hi \\u00e9 \\ud83d\\ude42\\n  x\"},"
    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"abc123def\","
    "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":{\"a\":1.5,\"b\":[true]}}}]},"
    "{\"role\":\"tool\",\"content\":\"42\",\"tool_call_id\":\"abc123def\"}],"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":\"d\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"number\"}},"
    "\"required\":[\"a\"]}}}],"
    "\"add_generation_prompt\":true,\"bos_token\":\"<s>\",\"eos_token\":\"</s>\",\"n\":-3}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cJSON *fixed;
    if (!fixed) fixed = cJSON_Parse(fixed_vars);
    const char *src = (const char *)data;
    size_t src_len = size;
    cJSON *own = NULL;
    if (size && data[0] == '{') {
        const uint8_t *nl = memchr(data, '\n', size);
        if (nl) {
            own = cJSON_ParseWithLength((const char *)data, (size_t)(nl - data));
            if (own && cJSON_IsObject(own)) {
                src = (const char *)nl + 1;
                src_len = size - (size_t)(nl + 1 - data);
            } else {
                cJSON_Delete(own);
                own = NULL;
            }
        }
    }
    tmpl_limits lim = tmpl_default_limits;
    lim.max_steps = 200000;
    lim.max_mem = 64 << 20;
    lim.max_out = 1 << 20;
    lim.max_depth = 300;
    lim.max_macro_depth = 16;
    char *out = (char *)1;
    size_t out_len = 12345;
    uh_err err;
    memset(&err, 0, sizeof err);
    int rc = tmpl_render_ex(src, src_len, own ? own : fixed, &lim, &out, &out_len, &err);
    if (rc == 0) {
        REQUIRE(out != NULL && out_len <= lim.max_out && out[out_len] == 0);
    } else {
        REQUIRE(out == NULL && err.code == rc && err.msg[0]);
        REQUIRE(rc == UH_EFORMAT || rc == UH_EINVAL || rc == UH_ELIMIT || rc == UH_ENOMEM);
    }
    free(out);
    cJSON_Delete(own);
    return 0;
}
