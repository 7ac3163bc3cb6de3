/* api_impl.h - what the endpoint files of api.h share. Not for use outside src/server. */
#ifndef UH_SERVER_API_IMPL_H
#define UH_SERVER_API_IMPL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "server/api.h"

#define API_EMBED_MAX_INPUTS 256 /* texts per embeddings request */

struct api_server {
    api_models *am;
    atomic_llong stop_deadline_ms; /* monotonic ms after which waiting requests are cancelled;
                                    * 0 while running */
    atomic_uint next_id;
};

/* Adds X-Unhosted-Served-By: local; returns r (NULL stays NULL). */
http_response *api_served(http_response *r);
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
double api_now(void);

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
