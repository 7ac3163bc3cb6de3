/* api_pull.h - POST /api/pull on the node: download a model into the store, progress streamed as
 * NDJSON (Ollama's endpoint and event shape). */
#ifndef UH_SERVER_API_PULL_H
#define UH_SERVER_API_PULL_H

#include "server/http.h"

/* Registers the route (before http_server_start). */
int api_pull_register(http_server *srv);

#endif
