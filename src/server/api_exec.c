/* api_exec.c - the edge between the HTTP API and the execution layer: a parsed OpenAI or Ollama
 * request becomes an exec request (exec.h), and an exec failure becomes an HTTP status with
 * OpenAI's "param" and "code" (api_impl.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "server/api_impl.h"

static uint64_t fresh_seed(api_server *api)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
                 ((uint64_t)atomic_fetch_add(&api->next_id, 1) << 40);
    x += 0x9E3779B97F4A7C15ull; /* splitmix64 finalizer */
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Sampler parameters of a request: what it gives, else the defaults of its API. */
static uh_sampler_params sampler_for(api_server *api, const oai_request *o)
{
    uh_sampler_params p = uh_sampler_default_params();
    const int ollama = o->kind == OLLAMA_CHAT || o->kind == OLLAMA_GENERATE;
    p.temp = o->has_temperature ? o->temperature : (ollama ? 0.8f : 1.0f);
    p.top_p = o->has_top_p ? o->top_p : (ollama ? 0.9f : 1.0f);
    p.top_k = o->top_k > 0 ? o->top_k : (ollama ? 40 : 0);
    p.min_p = o->min_p;
    p.repeat_penalty = o->repeat_penalty > 0 ? o->repeat_penalty : 1.0f;
    p.freq_penalty = o->frequency_penalty;
    p.presence_penalty = o->presence_penalty;
    p.seed = o->has_seed ? o->seed : fresh_seed(api);
    return p;
}

int api_exec_request(api_server *api, const oai_request *o, const char *ring_header,
                     const cJSON *body, exec_request *out, exec_message **msgs, exec_fail *f)
{
    memset(out, 0, sizeof *out);
    *msgs = NULL;
    out->ring = EXEC_RING_TRUSTED;
    const cJSON *rj = cJSON_IsObject(body) ? cJSON_GetObjectItemCaseSensitive(body, "ring") : NULL;
    const char *ring_s = ring_header ? ring_header : rj ? cJSON_GetStringValue(rj) : NULL;
    if ((ring_header || rj) && exec_ring_parse(ring_s, &out->ring) != 0)
        return exec_fail_set(f, UH_EINVAL, EXEC_FIELD_RING,
                             "ring must be \"local\", \"trusted\" or \"swarm\"");
    out->model = o->model;
    switch (o->kind) {
    case OAI_CHAT:
    case OLLAMA_CHAT:
        *msgs = calloc((size_t)o->n_messages, sizeof **msgs);
        if (!*msgs) return exec_fail_set(f, UH_ENOMEM, EXEC_FIELD_NONE, "out of memory");
        for (int i = 0; i < o->n_messages; i++)
            (*msgs)[i] =
                (exec_message){.role = o->messages[i].role, .content = o->messages[i].content};
        out->prompt = EXEC_PROMPT_MESSAGES;
        out->messages = *msgs;
        out->n_messages = o->n_messages;
        break;
    case OAI_COMPLETION:
        out->prompt = EXEC_PROMPT_TEXT;
        out->text = o->prompt ? o->prompt : "";
        out->text_len = o->prompt ? o->prompt_len : 0;
        break;
    case OLLAMA_GENERATE:
        out->prompt = EXEC_PROMPT_TEMPLATED;
        out->text = o->prompt ? o->prompt : "";
        out->text_len = o->prompt ? o->prompt_len : 0;
        out->system = o->system;
        break;
    }
    out->sampler = sampler_for(api, o);
    out->max_tokens = o->max_tokens > 0 ? o->max_tokens : 0;
    out->stops = o->stop;
    out->n_stops = o->n_stop;
    out->logprobs = o->logprobs;
    out->top_logprobs = o->top_logprobs > EXEC_TOP_MAX ? EXEC_TOP_MAX : o->top_logprobs;
    return 0;
}

int api_fail_status(const exec_fail *f, enum oai_kind kind, const char **param, const char **code)
{
    const int model = f->field == EXEC_FIELD_MODEL;
    *code = NULL;
    switch (f->field) {
    case EXEC_FIELD_MODEL:
        *param = "model";
        break;
    case EXEC_FIELD_PROMPT:
        *param = kind == OAI_CHAT || kind == OLLAMA_CHAT ? "messages" : "prompt";
        break;
    case EXEC_FIELD_RING:
        *param = "ring";
        break;
    case EXEC_FIELD_LOGPROBS:
        *param = "logprobs";
        break;
    default:
        *param = NULL;
    }
    switch (f->code) {
    case UH_EINVAL:
        return 400;
    case UH_ELIMIT:
    case UH_ECTXFULL:
        if (f->field == EXEC_FIELD_PROMPT) *code = "context_length_exceeded";
        return 400;
    case UH_ENOTFOUND:
        if (model) *code = "model_not_found";
        return 404;
    case UH_EBUSY:
        *code = "rate_limit_exceeded";
        return 429;
    case UH_ECONFLICT:
        return 409;
    case UH_EDENIED:
        return 403;
    case UH_EUNAVAIL:
    case UH_ECANCELLED:
    case UH_ETIMEDOUT:
        return 503;
    case UH_EIO:
    case UH_EFORMAT:
    case UH_EUNSUPPORTED:
        return model ? 500 : 503; /* this node's model file, or a peer */
    default:
        return 500;
    }
}
