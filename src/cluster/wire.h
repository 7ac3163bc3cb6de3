/* wire.h - the messages nodes exchange over a chan (chan.h), and their checked codecs.
 *
 * Every message body is one JSON object (UTF-8, at most WIRE_MAX_BODY bytes, nesting at most
 * WIRE_MAX_DEPTH); the chan's type byte says which message it is. The table is in
 * docs/cluster.md. Decoders check every field's type and range and refuse unknown required
 * shapes; unknown extra fields are ignored (so a newer peer can add some).
 *
 * Ownership: decoded strings are copied into the output structs or into malloc'd buffers the
 * caller frees as each function says. Threading: pure functions. */
#ifndef UH_CLUSTER_WIRE_H
#define UH_CLUSTER_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cluster/node.h"
#include "exec/exec.h"
#include "unhosted.h"

#define WIRE_MAX_BODY  (8u << 20)
#define WIRE_MAX_DEPTH 40
#define WIRE_MAX_NAME  IDENTITY_NAME_MAX

enum wire_type {
    /* purpose connect */
    WIRE_HELLO = 1,
    WIRE_PING = 2,
    WIRE_PONG = 3,
    WIRE_RUN = 4,
    WIRE_TOKEN = 5,
    WIRE_DONE = 6,
    WIRE_CANCEL = 7,
    WIRE_REFUSED = 8,
    WIRE_KEEPALIVE = 9,
    /* purpose pair */
    WIRE_PAIR_REQ = 32,
    WIRE_PAIR_NONCE = 33,
    WIRE_PAIR_REVEAL = 34,
    WIRE_PAIR_CONFIRM = 35,
    WIRE_PAIR_REJECT = 36,
    /* purpose join */
    WIRE_JOIN_START = 48,
    WIRE_JOIN_SHARE = 49,
    WIRE_JOIN_CONFIRM = 50,
    WIRE_JOIN_OK = 51,
};

/* Parses a message body: a JSON object within the caps. NULL (err filled) otherwise. */
cJSON *wire_parse(const uint8_t *body, size_t len, uh_err *err);

/* HELLO and PONG: {"name"?, "seq"?, "models":[...], "load":{...}} */
cJSON *wire_load_json(const node_load *l);
int wire_load_from(const cJSON *msg, node_load *out, uh_err *err);

/* RUN: the request, exec_request_json (exec.h). TOKEN / DONE: one event, exec_event_json; the
 * first TOKEN also carries "fp", the fingerprint of the model file that generates. */

/* REFUSED {"code": UH_E* (negative), "field": enum exec_field (optional), "message": s}, then
 * the channel closes. A missing or out-of-range code reads as UH_EIO. */
cJSON *wire_refused_json(int code, enum exec_field field, const char *message);
int wire_refused_from(const cJSON *msg, exec_fail *out);

/* Helpers for the small pairing/join messages. */
/* A string field of at most max bytes (NUL excluded) copied to out[max + 1]. */
int wire_get_str(const cJSON *msg, const char *key, char *out, size_t max, int required,
                 uh_err *err);
/* A hex field of exactly n bytes. */
int wire_get_hex(const cJSON *msg, const char *key, uint8_t *out, size_t n, uh_err *err);
int wire_add_hex(cJSON *msg, const char *key, const uint8_t *data, size_t n);
/* Prints msg and sends it as one message of the given type on c; frees msg. */
struct chan;
int wire_send(struct chan *c, enum wire_type type, cJSON *msg, uh_err *err);

#endif
