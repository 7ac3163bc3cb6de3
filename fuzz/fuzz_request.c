/* fuzz_request.c - libFuzzer harness for what the HTTP server parses from the network: the JSON
 * depth scan and parse, the four request parsers (OpenAI chat / completions, Ollama chat /
 * generate), and the Host, Authorization and --listen parsers.
 *
 * Input: byte 0 picks the parser and limits (bits 0-1: kind, bit 2: a small n_ctx, bit 3: a
 * small prompt cap), the rest is the request body. Invariants the parsers promise are checked
 * with __builtin_trap, so a broken promise shows up as a crash.
 *
 * Corpus: fuzz/corpus/request (seeds), fuzz/regress/request (past crashes, replayed by
 * tests/fuzz.sh). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http_auth.h"
#include "server/oai_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

static volatile size_t g_sink;

static void check_request(const oai_request *r, const oai_limits *lim)
{
    REQUIRE(r->model && r->model[0] && strlen(r->model) <= OAI_MAX_MODEL_LEN);
    REQUIRE(r->n_stop >= 0 && r->n_stop <= OAI_MAX_STOP);
    for (int i = 0; i < r->n_stop; i++) REQUIRE(r->stop[i][0] && strlen(r->stop[i]) <= OAI_MAX_STOP_LEN);
    REQUIRE(r->n_messages >= 0 && r->n_messages <= OAI_MAX_MESSAGES);
    if (r->kind == OAI_CHAT) REQUIRE(r->n_messages >= 1);
    size_t total = r->prompt_len + (r->system ? strlen(r->system) : 0);
    for (int i = 0; i < r->n_messages; i++) {
        REQUIRE(r->messages[i].role && r->messages[i].content);
        REQUIRE(strlen(r->messages[i].content) <= r->messages[i].content_len);
        total += r->messages[i].content_len;
    }
    REQUIRE(total <= (lim->max_prompt_bytes ? lim->max_prompt_bytes : OAI_MAX_PROMPT_BYTES));
    if (r->prompt) g_sink += strlen(r->prompt);
    REQUIRE(r->max_tokens == -1 || r->max_tokens >= 1);
    if (lim->n_ctx > 0) REQUIRE(r->max_tokens <= lim->n_ctx);
    REQUIRE(!r->has_temperature || (r->temperature >= 0 && r->temperature <= 100));
    REQUIRE(!r->has_top_p || (r->top_p >= 0 && r->top_p <= 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t sel = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    /* depth scan vs parse: whatever parses was within the depth cap */
    int depth = oai_json_depth(text, len, 8);
    REQUIRE(depth >= 0 && depth <= 9);
    cJSON *root = NULL;
    oai_error e;
    memset(&e, 0, sizeof e);
    int rc = oai_json_parse(text, len, 8, &root, &e);
    if (rc != 0) {
        REQUIRE(root == NULL && e.status == 400 && e.message[0]);
    } else {
        REQUIRE(root != NULL && depth <= 8);
        oai_limits lim = {.n_ctx = (sel & 4) ? 64 : 0, .max_prompt_bytes = (sel & 8) ? 32 : 0};
        oai_request r;
        rc = oai_parse((enum oai_kind)(sel & 3), root, &lim, &r, &e);
        if (rc == 0) {
            check_request(&r, &lim);
            oai_request_free(&r);
        } else {
            REQUIRE(rc == UH_EINVAL || rc == UH_ENOMEM);
            REQUIRE(e.message[0] && r.arena == NULL);
        }
        cJSON_Delete(root);
    }

    /* header-sized parsers over the same bytes as a C string */
    char hdr[300];
    size_t n = len < sizeof hdr - 1 ? len : sizeof hdr - 1;
    memcpy(hdr, text, n);
    hdr[n] = 0;
    http_listen l;
    uh_err err;
    if (http_parse_listen(hdr, &l, &err) == 0) REQUIRE(l.port >= 0 && l.port <= 65535 && l.host[0]);
    http_parse_listen("0.0.0.0:7777", &l, &err);
    g_sink += (size_t)http_host_allowed(hdr, &l, "box");
    http_parse_listen("127.0.0.1:80", &l, &err);
    g_sink += (size_t)http_host_allowed(hdr, &l, NULL);
    g_sink += (size_t)http_origin_is_own(hdr, "localhost:7777");
    http_token tok;
    memset(tok.hex, 'a', HTTP_TOKEN_HEX);
    tok.hex[HTTP_TOKEN_HEX] = 0;
    g_sink += (size_t)http_token_check(&tok, hdr);
    return 0;
}
