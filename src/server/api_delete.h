/* api_delete.h - DELETE /api/delete on the node: remove a model from the store (Ollama's
 * endpoint). */
#ifndef UH_SERVER_API_DELETE_H
#define UH_SERVER_API_DELETE_H

#include "server/http.h"

/* Registers the route (before http_server_start). */
int api_delete_register(http_server *srv);

#endif
