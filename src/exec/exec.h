/* exec.h - the neutral request and event types every layer above the engine speaks: the HTTP
 * API builds an exec_request from a client's JSON, the router sends it to this node's executor
 * (exec/local.h) or serialized to a peer, and the events that come back are turned into
 * JSON/SSE/NDJSON at the edge again. Nothing here knows HTTP, OpenAI or Ollama.
 *
 * A request names a model, carries its prompt in one of four forms (chat messages, plain text,
 * text for a model's chat template, or tokens), complete sampler settings (the seed included,
 * so every device that runs it samples the same), limits, stops, what to report per token
 * (logprobs, alternatives), and for failover the tokens already delivered (resume) with the
 * fingerprint of the model file that made them.
 *
 * Events: TOKEN events (the token id, the text it completed, its own bytes and, when asked, its
 * logprob and the top alternatives as text), then exactly one DONE event (finish reason,
 * error code and message, usage, timings). Pieces travel as bytes: a token may be part of a
 * UTF-8 character.
 *
 * Serialization (exec_request_json / exec_request_from_json, and the same for events): one JSON
 * object, versioned by "v"
 * (EXEC_WIRE_VERSION), every field checked for type and range, every array and string capped
 * (EXEC_MAX_*); unknown fields are ignored so a newer sender may add some, an unknown version is
 * refused. Format:
 *   {"v":1, "model":s, "prompt":{"kind":"messages"|"text"|"templated"|"tokens",
 *     "messages":[{"role":s,"content":s}...], "text":s, "system":s, "tokens":[ids]},
 *    "sampler":{"temp","top_k","top_p","min_p","repeat_penalty","repeat_last_n",
 *               "freq_penalty","presence_penalty","seed":"decimal string"},
 *    "max_tokens":n, "stops":[s...], "logprobs":b, "top_logprobs":n,
 *    "resume":[ids], "fp":"16 hex", "ring":"local"|"trusted"|"swarm"}
 *
 * Ownership: an exec_request borrows every pointer it holds (strings, arrays), except one made
 * by exec_request_dup or exec_request_decode, which is one allocation owning all of it (free
 * with free()). Event pointers are valid during the callback only. Threading: pure functions. */
#ifndef UH_EXEC_EXEC_H
#define UH_EXEC_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "unhosted.h"

#define EXEC_WIRE_VERSION 1
#define EXEC_MAX_MODEL    256 /* bytes of a model name */
#define EXEC_MAX_MESSAGES 1024
#define EXEC_MAX_STOPS    16
#define EXEC_MAX_STOP_LEN 256
#define EXEC_MAX_TEXT     (4u << 20) /* bytes of prompt text, all messages together */
#define EXEC_MAX_TOKENS   (1 << 20)  /* prompt tokens */
#define EXEC_MAX_RESUME   32768
#define EXEC_MAX_ROLE     32
#define EXEC_TOP_MAX      20  /* alternatives per token */
#define EXEC_FP_LEN       17  /* a model file's fingerprint: 16 hex digits + NUL */
#define EXEC_MAX_PIECE    256 /* bytes of one token's text in an event */

/* The widest trust ring a request may run on (DESIGN: local, trusted, swarm). */
enum exec_ring {
    EXEC_RING_LOCAL = 0,   /* this owner's devices only */
    EXEC_RING_TRUSTED = 1, /* and trusted friends' devices */
    EXEC_RING_SWARM = 2,   /* and the public swarm (not yet: same as trusted) */
};

/* "local", "trusted", "swarm"; parse returns UH_EINVAL for anything else (NULL included). */
const char *exec_ring_name(enum exec_ring r);
int exec_ring_parse(const char *s, enum exec_ring *out);

enum exec_prompt {
    EXEC_PROMPT_MESSAGES = 0,  /* chat messages, rendered with the model's chat template */
    EXEC_PROMPT_TEXT = 1,      /* plain text, tokenized as is after BOS */
    EXEC_PROMPT_TEMPLATED = 2, /* text (and an optional system text) as one user turn of the
                                * model's chat template when it has one, else plain text */
    EXEC_PROMPT_TOKENS = 3,    /* token ids, evaluated as given */
};

typedef struct {
    const char *role;    /* "system", "developer", "user", "assistant", "tool" */
    const char *content; /* UTF-8, NUL-terminated */
} exec_message;

typedef struct {
    const char *model; /* name as the client gave it */
    enum exec_prompt prompt;
    const exec_message *messages; /* MESSAGES: [n_messages], at least one */
    int n_messages;
    const char *text; /* TEXT, TEMPLATED: NUL-terminated, text_len bytes */
    size_t text_len;
    const char *system;     /* TEMPLATED: system text, or NULL */
    const uh_token *tokens; /* TOKENS: [n_tokens] */
    int n_tokens;
    uh_sampler_params sampler; /* complete, the seed included */
    int max_tokens;            /* <= 0: until a stop condition or the end of the context */
    const char *const *stops;  /* [n_stops] */
    int n_stops;
    int logprobs;           /* 1: each token's logprob and its own bytes */
    int top_logprobs;       /* 0..EXEC_TOP_MAX alternatives per token (with logprobs) */
    const uh_token *resume; /* [n_resume] tokens already delivered (failover) */
    int n_resume;
    const char *expect_fp; /* with resume: the fingerprint of the model file that made them;
                            * another file refuses (UH_ECONFLICT). NULL or "" = any */
    enum exec_ring ring;
} exec_request;

/* Which part of the request an error is about (the API names the parameter from it). */
enum exec_field {
    EXEC_FIELD_NONE = 0,
    EXEC_FIELD_MODEL = 1,
    EXEC_FIELD_PROMPT = 2,
    EXEC_FIELD_RING = 3,
    EXEC_FIELD_LOGPROBS = 4,
};

/* Why a request could not start, from any layer: an UH_E* code, the field it is about and a
 * message for the user. */
typedef struct {
    int code;
    enum exec_field field;
    char msg[256];
} exec_fail;

/* Fills f (when non-NULL) and returns code. */
int exec_fail_set(exec_fail *f, int code, enum exec_field field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

enum exec_finish {
    EXEC_FINISH_STOP = 0,      /* end-of-generation token or stop string */
    EXEC_FINISH_LENGTH = 1,    /* max_tokens or the end of the context */
    EXEC_FINISH_CANCELLED = 2, /* cancelled by the caller, the client or a shutdown */
    EXEC_FINISH_ERROR = 3,     /* failed: code and error say why */
};

/* "stop", "length", "cancelled", "error"; parse: UH_EINVAL for anything else. */
const char *exec_finish_name(enum exec_finish f);
int exec_finish_parse(const char *s, enum exec_finish *out);

typedef struct {
    int n_prompt;     /* prompt tokens */
    int n_cached;     /* of which came from a cache (not evaluated again) */
    int n_completion; /* tokens generated, resumed ones and a final end-of-generation included */
} exec_usage;

typedef struct {       /* seconds */
    double load;       /* loading the model for this request (0 when it was loaded) */
    double queued;     /* waiting for a slot */
    double prefill;    /* slot to first token */
    double generation; /* first token to done */
    double total;      /* submit to done */
} exec_timings;

typedef struct {
    uh_token id;
    float logprob;
    const char *piece; /* the token's bytes (not NUL-terminated), piece_len <= EXEC_MAX_PIECE */
    size_t piece_len;
} exec_alt;

enum exec_event_type { EXEC_EV_TOKEN = 0, EXEC_EV_DONE = 1 };

typedef struct {
    enum exec_event_type type;
    /* text released by this event: complete UTF-8, stop strings cut (see sched.h) */
    const char *text;
    size_t text_len;

    /* TOKEN */
    uh_token token;
    int index;         /* 0 for the first generated token (resumed ones count) */
    const char *piece; /* the token's own bytes when logprobs were asked, else NULL */
    size_t piece_len;
    float logprob;       /* 0 unless logprobs were asked */
    const exec_alt *top; /* [n_top] best first */
    int n_top;

    /* DONE */
    enum exec_finish finish;
    int code;          /* EXEC_FINISH_ERROR: an UH_E* code; else 0 */
    const char *error; /* message for EXEC_FINISH_ERROR, else "" */
    exec_usage usage;
    exec_timings timings;
} exec_event;

/* Receives events: TOKEN events, then one DONE. Must not block (copy and signal). */
typedef void (*exec_sink)(void *ud, const exec_event *ev);

/* ---- copies and serialization ---- */

/* Checks r against the caps and the form's invariants: 0 or UH_EINVAL/UH_ELIMIT with f filled. */
int exec_request_check(const exec_request *r, exec_fail *f);

/* A deep copy of r in one allocation (free() it). UH_ENOMEM or a check error. */
int exec_request_dup(const exec_request *r, exec_request **out, exec_fail *f);

/* r as one JSON object (the format above); NULL when out of memory. */
cJSON *exec_request_json(const exec_request *r);

/* Reads a request from j: *out is one allocation (free() it). UH_EFORMAT (malformed, or a field
 * out of range, naming it), UH_ELIMIT (a cap), UH_EUNSUPPORTED (another version), UH_ENOMEM. */
int exec_request_from_json(const cJSON *j, exec_request **out, uh_err *err);

/* An event as one JSON object: TOKEN {"x":text, "t":id, "i":index, "lp":logprob?,
 * "p":"hex bytes"?, "top":[{"t":id,"lp":logprob,"p":"hex"}...]?}; DONE {"x":text,
 * "finish":s, "code":n, "error":s, "usage":{prompt,cached,completion},
 * "timings":{load,queued,prefill,generation,total}}. NULL when out of memory. */
cJSON *exec_event_json(const exec_event *ev);

/* Storage for the pieces and alternatives of a decoded event. */
typedef struct {
    char piece[EXEC_MAX_PIECE];
    exec_alt top[EXEC_TOP_MAX];
    char top_pieces[EXEC_TOP_MAX][EXEC_MAX_PIECE];
} exec_event_store;

/* Reads an event of the given type from j. Text points into j (valid while j lives); pieces and
 * alternatives into st. UH_EFORMAT naming the bad field. */
int exec_event_from_json(enum exec_event_type type, const cJSON *j, exec_event *ev,
                         exec_event_store *st, uh_err *err);

#endif
