/* api.h - the inference endpoints of `unhosted serve` on top of the HTTP server (http.h) and the
 * execution layer (exec/exec.h, exec/models.h) and the router (router/router.h):
 *
 *   OpenAI: POST /v1/chat/completions, POST /v1/completions (SSE with "stream"), GET /v1/models,
 *           POST /v1/embeddings
 *   Ollama: POST /api/chat, POST /api/generate (NDJSON unless "stream": false), GET /api/tags,
 *           POST /api/show, POST /api/embed, POST /api/embeddings
 *
 * Every response carries X-Unhosted-Served-By: "local", or "peer:<device id>" for a generation
 * a paired peer answered. Requests are parsed by oai_req.h; a full
 * queue answers 429 with Retry-After: 1, an unknown model 404 (code model_not_found), a prompt
 * longer than the context 400 (code context_length_exceeded). A streaming client that goes away
 * cancels its generation; its slot is free at the next scheduler step.
 *
 * This layer only translates: a request is parsed once (oai_req.h) into an exec request
 * (api_exec.c), the router runs it, and its events are formatted as the client's API wants them.
 *
 * Cluster (api_set_node): generation requests go where the router (router.h) says: this node or
 * a paired peer, chosen by ring (header X-Unhosted-Ring or body field "ring": "local", "trusted"
 * (default) or "swarm"; anything else is 400 with param "ring"). A candidate that fails before
 * its first token (cannot be reached, refuses, or is lost) is replaced by the next one without
 * the client noticing; one lost after tokens were sent is replaced by the next one resuming
 * with those tokens, so the stream goes on where it stopped. Logprobs and their alternatives
 * come from whichever device answers. Listings add the peers' models.
 *
 * Ownership: the api_server borrows the HTTP server, the model manager and the node; all must
 * outlive it. Threading: handlers run on connection threads; events are formatted on the thread
 * that delivers them (a model's scheduler, a peer connection) straight into the client's stream
 * (which never blocks). */
#ifndef UH_SERVER_API_H
#define UH_SERVER_API_H

#include <cjson/cJSON.h>

#include "cluster/node.h"
#include "exec/models.h"
#include "server/http.h"
#include "unhosted.h"

typedef struct api_server api_server;

/* Registers the routes and the /metrics refresh hook; before http_server_start. */
int api_register(http_server *srv, exec_models *models, api_server **out, uh_err *err);
/* Lends the node to the router (NULL: no cluster). Before http_server_start. */
void api_set_node(api_server *a, node *n);

/* The server is stopping: requests that wait for a whole (non-streamed) answer are cancelled
 * once grace_ms have passed. */
void api_begin_stop(api_server *a, int grace_ms);
/* Accepts NULL. After http_server_stop. */
void api_free(api_server *a);

#endif
