/* api_impl.h - what the endpoint files of api.h share. Not for use outside src/server. */
#ifndef UH_SERVER_API_IMPL_H
#define UH_SERVER_API_IMPL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include <pthread.h>

#include "exec/exec.h"
#include "exec/models.h"
#include "router/router.h"
#include "server/api.h"
#include "server/oai_req.h"

#define API_EMBED_MAX_INPUTS 256 /* texts per embeddings request */

struct api_server {
    exec_models *models;
    router router;                 /* with this node's models and (once set) the node */
    atomic_llong stop_deadline_ms; /* monotonic ms after which waiting requests are cancelled;
                                    * 0 while running */
    atomic_uint next_id;
};

/* The exec request of a parsed API request (exec.h): the prompt in the form the kind calls for,
 * sampler settings with the API's defaults (OpenAI's or Ollama's) and a fresh seed when none was
 * given, the ring from the X-Unhosted-Ring header or the body's "ring" field. *out borrows from
 * o; *msgs (malloc'd, caller frees) holds its messages. 0, or UH_EINVAL/UH_ENOMEM with f filled
 * (field RING for a bad ring). */
int api_exec_request(api_server *api, const oai_request *o, const char *ring_header,
                     const cJSON *body, exec_request *out, exec_message **msgs, exec_fail *f);
/* The HTTP status, OpenAI "param" and "code" of a failure of kind (what the request calls the
 * prompt: "messages" or "prompt"). */
int api_fail_status(const exec_fail *f, enum oai_kind kind, const char **param, const char **code);

/* Adds X-Unhosted-Served-By: local; returns r (NULL stays NULL). */
http_response *api_served(http_response *r);
/* Adds X-Unhosted-Served-By: by. */
http_response *api_served_as(http_response *r, const char *by);
/* A JSON response with the header above. */
http_response *api_json(int status, cJSON *body);
/* An error in the request's API shape with the header above. */
http_response *api_error(const http_request *req, int status, const char *message,
                         const char *param, const char *code);

/* Appends s[0..n) to a cJSON string builder: bytes that are not valid UTF-8 become U+FFFD.
 * out must hold 3 * n + 1 bytes; returns the length written (NUL-terminated). */
size_t api_utf8_clean(const char *s, size_t n, char *out);
/* RFC 3339 UTC time with microseconds, as Ollama writes "created_at". buf: 40 bytes. */
void api_rfc3339_now(char buf[40]);

/* Handlers (ud = the api_server). */
http_response *api_chat_completions(const http_request *req, void *ud);
http_response *api_completions(const http_request *req, void *ud);
http_response *api_ollama_chat(const http_request *req, void *ud);
http_response *api_ollama_generate(const http_request *req, void *ud);
http_response *api_list_models(const http_request *req, void *ud);
http_response *api_ollama_tags(const http_request *req, void *ud);
http_response *api_ollama_show(const http_request *req, void *ud);
http_response *api_embeddings(const http_request *req, void *ud);
http_response *api_ollama_embed(const http_request *req, void *ud);
http_response *api_ollama_embeddings(const http_request *req, void *ud);

#endif
