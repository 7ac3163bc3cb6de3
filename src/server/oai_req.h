/* oai_req.h - strict parsing and validation of inference requests: OpenAI chat completions
 * (POST /v1/chat/completions), OpenAI completions (POST /v1/completions), Ollama chat
 * (POST /api/chat) and Ollama generate (POST /api/generate), into one C struct.
 *
 * Wire formats (the fields read; any other field is ignored):
 *   OpenAI chat:  model (string, required), messages (array of {role, content}, required, 1 ..
 *                 max_messages; role one of system|developer|user|assistant|tool; content a
 *                 string, null (assistant/tool only) or an array of {"type":"text","text":s}
 *                 parts, joined with "\n"), stream (bool), stream_options.include_usage (bool;
 *                 only with stream), max_tokens / max_completion_tokens (integer >= 1), temperature
 *                 [0,2], top_p [0,1], seed (integer), stop (string or array of <= max_stop
 *                 strings), n (must be 1), presence_penalty / frequency_penalty [-2,2], logprobs
 *                 (bool), top_logprobs [0,20] (needs logprobs), tools/functions (must be empty).
 *   OpenAI completions: the same without messages, plus prompt (string, or an array of exactly
 *                 one string) and logprobs as an integer [0,5].
 *   Ollama chat/generate: model, messages (chat) or prompt + system (generate), stream (default
 *                 true), options {temperature, top_p, top_k, seed, num_predict (-1 = no limit,
 *                 -2 = fill the context), stop, num_ctx, repeat_penalty, min_p, presence_penalty,
 *                 frequency_penalty}; format, keep_alive, template, raw, context are accepted and
 *                 ignored (listed in notes); images must be empty.
 *
 * Errors: a failed parse fills oai_error with the HTTP status (400), a message and the name of
 * the offending parameter in OpenAI's dotted form ("messages[3].content", "stop[2]"), which the
 * server puts in the error body's "param" field.
 *
 * Ownership: oai_parse_* fill an oai_request whose strings all live in its own arena; the
 * request does not borrow from the JSON tree. oai_request_free releases everything (accepts a
 * zeroed or already freed request). Threading: pure functions, any thread. */
#ifndef UH_SERVER_OAI_REQ_H
#define UH_SERVER_OAI_REQ_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "unhosted.h"

#define OAI_MAX_STOP          16   /* stop strings */
#define OAI_MAX_STOP_LEN      256  /* bytes of one stop string */
#define OAI_MAX_MESSAGES      1024
#define OAI_MAX_MODEL_LEN     256
#define OAI_MAX_JSON_DEPTH    32
#define OAI_MAX_PROMPT_BYTES  (4u << 20) /* all message contents (or prompt + system) together */

enum oai_kind { OAI_CHAT = 0, OAI_COMPLETION = 1, OLLAMA_CHAT = 2, OLLAMA_GENERATE = 3 };

typedef struct {
    int max_messages;        /* 0 = OAI_MAX_MESSAGES */
    int max_stop;            /* 0 = OAI_MAX_STOP */
    size_t max_prompt_bytes; /* 0 = OAI_MAX_PROMPT_BYTES */
    int n_ctx;               /* context length of the target model; max_tokens must not exceed
                              * it (0 = not known yet: checked later by the caller) */
} oai_limits;

typedef struct {
    int status;        /* HTTP status: 400 */
    char message[256];
    char param[128];   /* "" when no single parameter is to blame */
} oai_error;

typedef struct {
    const char *role;    /* "system", "developer", "user", "assistant", "tool" */
    const char *content; /* UTF-8, NUL-terminated, "" for null content */
    size_t content_len;
} oai_message;

typedef struct oai_arena oai_arena;

typedef struct {
    enum oai_kind kind;
    const char *model;
    oai_message *messages; /* chat kinds; n_messages >= 1 */
    int n_messages;
    const char *prompt;    /* completion kinds; may be "" */
    size_t prompt_len;
    const char *system;    /* Ollama generate's system prompt, or NULL */
    int stream;
    int include_usage;     /* stream_options.include_usage */
    int max_tokens;        /* tokens to generate; -1 = until end of context / EOS */
    int fill_context;      /* Ollama num_predict -2 */
    int has_temperature;
    float temperature;
    int has_top_p;
    float top_p;
    int top_k;             /* 0 = off / not given */
    float min_p;           /* 0 = off */
    int has_seed;
    uint64_t seed;
    const char *stop[OAI_MAX_STOP];
    int n_stop;
    float presence_penalty, frequency_penalty;
    float repeat_penalty;  /* 0 = not given */
    int logprobs;          /* 1 = return logprobs */
    int top_logprobs;      /* alternatives per token (chat: top_logprobs, completions: logprobs) */
    int num_ctx;           /* Ollama options.num_ctx, 0 = not given */
    char notes[128];       /* comma-separated fields accepted but ignored ("format,keep_alive") */
    oai_arena *arena;
} oai_request;

/* Parses root (a JSON value of any type) as a request of the given kind. Returns 0, or
 * UH_EINVAL with *e filled (the request is then freed and zeroed), or UH_ENOMEM. */
int oai_parse(enum oai_kind kind, const cJSON *root, const oai_limits *lim, oai_request *req,
              oai_error *e);
void oai_request_free(oai_request *req);

/* Nesting depth of the JSON text s[0..len) (arrays and objects; brackets inside strings do not
 * count), scanning at most len bytes without parsing: 0 for a scalar, 1 for {} or []. Stops
 * early and returns max_depth + 1 as soon as that depth is exceeded. */
int oai_json_depth(const char *s, size_t len, int max_depth);

/* Checks the depth (<= max_depth, 0 = OAI_MAX_JSON_DEPTH), then parses s[0..len) with cJSON,
 * requiring the whole text to be one JSON value. Returns 0 and *out (caller frees with
 * cJSON_Delete), or UH_EFORMAT / UH_ELIMIT with e filled (status 400). */
int oai_json_parse(const char *s, size_t len, int max_depth, cJSON **out, oai_error *e);

#endif
