/* fuzz_wire.c - libFuzzer harness for the node-to-node message bodies (cluster/wire.h): every
 * decoder a peer's message reaches after decryption - HELLO/PONG load, TOKEN/DONE events, RUN,
 * REFUSED, and the small pairing/join fields.
 *
 * Input: byte 0 picks the decoder, the rest is the message body. The decoders' promises (caps on
 * counts and lengths, ranges) are checked with __builtin_trap.
 *
 * Corpus: fuzz/corpus/wire (seeds), fuzz/regress/wire (past crashes, replayed by tests/fuzz.sh). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

static volatile size_t g_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uh_err err;
    cJSON *msg = wire_parse(data + 1, size - 1, &err);
    if (!msg) return 0;
    switch (data[0] % 6) {
    case 0: {
        node_load l;
        if (wire_load_from(msg, &l, &err) == 0) {
            REQUIRE(l.n_models >= 0 && l.n_models <= NODE_MAX_MODELS);
            for (int i = 0; i < l.n_models; i++)
                REQUIRE(strlen(l.models[i]) < NODE_MODEL_NAME_MAX);
            REQUIRE(l.active >= 0 && l.slots >= 0 && l.queued >= 0);
        }
        break;
    }
    case 1:
    case 2: {
        sched_event ev;
        enum wire_type t = data[0] % 6 == 1 ? WIRE_TOKEN : WIRE_DONE;
        if (wire_event_from(t, msg, &ev, &err) == 0) {
            REQUIRE(ev.text && strlen(ev.text) == ev.text_len && ev.text_len <= WIRE_MAX_TEXT);
            REQUIRE(ev.error);
            g_sink += strlen(ev.error);
            if (t == WIRE_TOKEN) REQUIRE(ev.token >= 0 && ev.index >= 0 && ev.logprob <= 0);
            else REQUIRE(ev.usage.n_prompt >= 0 && ev.usage.n_completion >= 0);
        }
        break;
    }
    case 3: {
        int kind, n = 0;
        const cJSON *body;
        uh_token *resume = NULL;
        char fp[NODE_FP_LEN];
        if (wire_run_from(msg, &kind, &body, &resume, &n, fp, &err) == 0) {
            REQUIRE(strlen(fp) < NODE_FP_LEN);
            REQUIRE(kind >= 0 && kind <= 3 && cJSON_IsObject(body));
            REQUIRE(n >= 0 && n <= WIRE_MAX_RESUME && (n == 0) == (resume == NULL));
            for (int i = 0; i < n; i++) REQUIRE(resume[i] >= 0);
        }
        free(resume);
        break;
    }
    case 4: {
        int status;
        char why[256];
        wire_refused_from(msg, &status, why, sizeof why);
        REQUIRE(status >= 100 && status <= 599 && strlen(why) < sizeof why);
        for (const char *p = why; *p; p++) REQUIRE((unsigned char)*p >= 0x20 && *p != 0x7f);
        break;
    }
    default: {
        char s[IDENTITY_NAME_MAX];
        uint8_t hex[32];
        if (wire_get_str(msg, "name", s, sizeof s - 1, 1, &err) == 0)
            REQUIRE(strlen(s) < sizeof s);
        g_sink += (size_t)wire_get_hex(msg, "nonce", hex, sizeof hex, &err);
        break;
    }
    }
    cJSON_Delete(msg);
    return 0;
}
