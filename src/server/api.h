/* api.h - the inference endpoints of `unhosted serve` on top of the HTTP server (http.h) and the
 * model manager (api_models.h):
 *
 *   OpenAI: POST /v1/chat/completions, POST /v1/completions (SSE with "stream"), GET /v1/models,
 *           POST /v1/embeddings
 *   Ollama: POST /api/chat, POST /api/generate (NDJSON unless "stream": false), GET /api/tags,
 *           POST /api/show, POST /api/embed, POST /api/embeddings
 *
 * Every response carries X-Unhosted-Served-By: local. Requests are parsed by oai_req.h; a full
 * queue answers 429 with Retry-After: 1, an unknown model 404 (code model_not_found), a prompt
 * longer than the context 400 (code context_length_exceeded). A streaming client that goes away
 * cancels its generation; its slot is free at the next scheduler step.
 *
 * Ownership: the api_server borrows the HTTP server and the model manager; both must outlive
 * it. Threading: handlers run on connection threads; scheduler events are formatted on the
 * scheduler thread straight into the client's stream (which never blocks). */
#ifndef UH_SERVER_API_H
#define UH_SERVER_API_H

#include "server/api_models.h"
#include "server/http.h"
#include "unhosted.h"

typedef struct api_server api_server;

/* Registers the routes and the /metrics refresh hook; before http_server_start. */
int api_register(http_server *srv, api_models *am, api_server **out, uh_err *err);
/* The server is stopping: requests that wait for a whole (non-streamed) answer are cancelled
 * once grace_ms have passed. */
void api_begin_stop(api_server *a, int grace_ms);
/* Accepts NULL. After http_server_stop. */
void api_free(api_server *a);

#endif
