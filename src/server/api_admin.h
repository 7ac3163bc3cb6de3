/* api_admin.h - the node's admin API under /admin/ (for the CLI and the dashboard): this
 * device, its peers, pairing (same network and by invite) and revocation. Routes and JSON shapes
 * are listed in docs/cluster.md.
 *
 * Access: the rules of http.h (loopback or the bearer token, the node's own origin only), and
 * every POST must say Content-Type: application/json (else 415), so that a page elsewhere cannot
 * send one as a "simple" cross-site request.
 *
 * Threading: handlers run on connection threads and call the thread-safe node.h functions; GET
 * routes only read the node's snapshots and never wait on the network. POST /admin/pair,
 * /admin/peers/add and /admin/join may (they contact the other device).
 * Ownership: the node is borrowed and must outlive the server. */
#ifndef UH_SERVER_API_ADMIN_H
#define UH_SERVER_API_ADMIN_H

#include "cluster/node.h"
#include "server/http.h"

#define ADMIN_INVITE_TTL_MIN     60
#define ADMIN_INVITE_TTL_MAX     604800 /* a week */
#define ADMIN_INVITE_TTL_DEFAULT 3600
#define ADMIN_TARGET_MAX         128 /* bytes of a device id prefix or HOST:PORT */

/* Registers every /admin/ route (before http_server_start). version is reported by
 * GET /admin/self and is copied. Returns 0 or the http_route error (UH_ELIMIT, UH_EINVAL). */
int api_admin_register(http_server *srv, node *n, const char *version, uh_err *err);

/* 1 when s is "HOST:PORT" with a host name, IPv4 literal or [IPv6] literal and a port 1..65535,
 * shorter than TRUST_ADDR_MAX; else 0. (The CLI checks its arguments with it too.) */
int api_admin_addr_valid(const char *s);
/* A pairing code as a user types it ("123 456", "123-456", "123456") into its 6 digits; returns
 * 0, or UH_EINVAL when it is not six digits. */
int api_admin_code_parse(const char *s, char out[7]);

#endif
