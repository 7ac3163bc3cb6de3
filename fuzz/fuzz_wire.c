/* fuzz_wire.c - libFuzzer harness for the node-to-node message bodies (cluster/wire.h, and the
 * exec request and event codecs of exec/exec.h that RUN, TOKEN and DONE carry): every decoder a
 * peer's message reaches after decryption - HELLO/PONG load, TOKEN/DONE events, RUN (decoded,
 * then encoded and decoded again: the copy must say the same), REFUSED, and the small
 * pairing/join fields.
 *
 * Input: byte 0 picks the decoder, the rest is the message body. The decoders' promises (caps on
 * counts and lengths, ranges) are checked with __builtin_trap.
 *
 * Corpus: fuzz/corpus/wire (seeds), fuzz/regress/wire (past crashes, replayed by tests/fuzz.sh). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/wire.h"
#include "exec/exec.h"

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
            for (int i = 0; i < l.n_models; i++) REQUIRE(strlen(l.models[i]) < NODE_MODEL_NAME_MAX);
            REQUIRE(l.active >= 0 && l.slots >= 0 && l.queued >= 0);
        }
        break;
    }
    case 1:
    case 2: {
        exec_event ev;
        exec_event_store st;
        enum exec_event_type t = data[0] % 6 == 1 ? EXEC_EV_TOKEN : EXEC_EV_DONE;
        if (exec_event_from_json(t, msg, &ev, &st, &err) == 0) {
            REQUIRE(ev.type == t);
            REQUIRE(ev.text && strlen(ev.text) == ev.text_len && ev.text_len <= EXEC_MAX_TEXT);
            REQUIRE(ev.error);
            g_sink += strlen(ev.error);
            if (t == EXEC_EV_TOKEN) {
                REQUIRE(ev.token >= 0 && ev.index >= 0 && ev.logprob <= 0);
                REQUIRE(ev.n_top >= 0 && ev.n_top <= EXEC_TOP_MAX);
                REQUIRE(ev.piece_len <= EXEC_MAX_PIECE && (ev.piece || ev.n_top == 0));
                for (int i = 0; i < ev.n_top; i++)
                    REQUIRE(ev.top[i].id >= 0 && ev.top[i].logprob <= 0 &&
                            ev.top[i].piece_len <= EXEC_MAX_PIECE);
            } else {
                REQUIRE(ev.usage.n_prompt >= 0 && ev.usage.n_completion >= 0);
                REQUIRE((ev.finish == EXEC_FINISH_ERROR) == (ev.code < 0));
            }
            cJSON *again = exec_event_json(&ev); /* what a node passing it on would send */
            cJSON_Delete(again);
        }
        break;
    }
    case 3: {
        exec_request *r = NULL;
        if (exec_request_from_json(msg, &r, &err) == 0) {
            exec_fail f;
            REQUIRE(exec_request_check(r, &f) == 0);
            REQUIRE(r->n_resume >= 0 && r->n_resume <= EXEC_MAX_RESUME);
            REQUIRE(r->n_stops >= 0 && r->n_stops <= EXEC_MAX_STOPS);
            REQUIRE(r->top_logprobs >= 0 && r->top_logprobs <= EXEC_TOP_MAX);
            for (int i = 0; i < r->n_resume; i++) REQUIRE(r->resume[i] >= 0);
            cJSON *j = exec_request_json(r);
            exec_request *r2 = NULL;
            if (j) {
                REQUIRE(exec_request_from_json(j, &r2, &err) == 0);
                REQUIRE(r2->prompt == r->prompt && r2->n_resume == r->n_resume &&
                        r2->n_stops == r->n_stops && r2->sampler.seed == r->sampler.seed &&
                        strcmp(r2->model, r->model) == 0);
            }
            cJSON_Delete(j);
            free(r2);
        } else {
            REQUIRE(r == NULL);
        }
        free(r);
        break;
    }
    case 4: {
        exec_fail f;
        wire_refused_from(msg, &f);
        REQUIRE(f.code < 0 && f.code >= -1000 && strlen(f.msg) < sizeof f.msg);
        REQUIRE(f.field >= EXEC_FIELD_NONE && f.field <= EXEC_FIELD_LOGPROBS);
        for (const char *p = f.msg; *p; p++) REQUIRE((unsigned char)*p >= 0x20 && *p != 0x7f);
        break;
    }
    default: {
        char s[IDENTITY_NAME_MAX];
        uint8_t hex[32];
        if (wire_get_str(msg, "name", s, sizeof s - 1, 1, &err) == 0) REQUIRE(strlen(s) < sizeof s);
        g_sink += (size_t)wire_get_hex(msg, "nonce", hex, sizeof hex, &err);
        break;
    }
    }
    cJSON_Delete(msg);
    return 0;
}
