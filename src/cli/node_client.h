/* node_client.h - how CLI commands reach the running node's admin API (docs/cluster.md).
 *
 * The node is found at, in order: the --node HOST:PORT option, the "http" address in
 * <config>/node.json (written by `unhosted serve` while it runs), 127.0.0.1:7777. The API token
 * (<config>/api-token, http_auth.h) is sent as a bearer when the file exists, so a node on
 * another address or one started with --require-token answers too.
 *
 * Errors: a node that does not answer is "no node running (start one with 'unhosted serve')";
 * an HTTP error is the message of the node's JSON error body. Responses are capped at
 * NODE_CLIENT_MAX_RESPONSE bytes.
 * Ownership: the client owns its curl handle and a copy of the token (wiped by
 * node_client_free); returned JSON belongs to the caller. Not thread-safe. */
#ifndef UH_CLI_NODE_CLIENT_H
#define UH_CLI_NODE_CLIENT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "unhosted.h"

#define NODE_CLIENT_MAX_RESPONSE (1u << 20)
#define NODE_CLIENT_DEFAULT      "127.0.0.1:7777"
#define NODE_CLIENT_TIMEOUT_S    30

typedef struct node_client node_client;

/* addr: the --node option or NULL. UH_EINVAL when addr (or the one in node.json) is not
 * HOST:PORT, UH_EFORMAT when node.json is malformed. */
int node_client_open(const char *addr, node_client **out, uh_err *err);
void node_client_free(node_client *c);

/* GET path (with its query string). *out: the parsed JSON answer of a 2xx response. On an
 * HTTP error returns UH_ENOTFOUND for 404, UH_EINVAL for other 4xx, UH_EIO otherwise, with the
 * node's message; *status (may be NULL) gets the HTTP status (0 when there was none). */
int node_client_get(node_client *c, const char *path, cJSON **out, int *status, uh_err *err);
/* POST body (NULL = {}) to path as application/json; waits at most timeout_s (0 = default)
 * for the answer. Same results as node_client_get. */
int node_client_post(node_client *c, const char *path, const cJSON *body, int timeout_s,
                     cJSON **out, int *status, uh_err *err);

/* For commands: node_client_open, printing "unhosted <cmd>: <message>" when it fails (NULL). */
node_client *node_client_cli_open(const char *cmd, const char *addr);

/* s with control characters replaced by '?' and cut to fit cap (names and messages come from
 * other devices: they must not drive the terminal). Returns out. */
const char *node_client_printable(const char *s, char *out, size_t cap);

/* Fields of an answer: "" / dflt / 0 when missing or of another type. */
const char *node_client_str(const cJSON *o, const char *key);
double node_client_num(const cJSON *o, const char *key, double dflt);
int node_client_bool(const cJSON *o, const char *key);

/* Parses the --node value the way node_client_open does (1 if usable, else 0). */
int node_client_addr_valid(const char *addr);

#endif
