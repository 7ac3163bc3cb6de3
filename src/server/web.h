/* web.h - the dashboard: the single-page app in web/ (embedded by tools/embed_web.sh), served by
 * the node at GET / (index.html) and GET /<file> for every other file in web/.
 *
 * Every answer carries: Content-Type by extension, a strong ETag (the first 16 bytes of the
 * file's SHA-256 in hex; If-None-Match with it answers 304 without a body), Cache-Control
 * no-cache (revalidate each time: asset names are not versioned), and the security headers
 *   Content-Security-Policy: default-src 'self'; ... frame-ancestors 'none' (no inline script or
 *     style, no other origin for anything: the page works offline and a model's answer can never
 *     run code even if it reached the DOM as HTML)
 *   X-Frame-Options: DENY, Referrer-Policy: no-referrer
 * (X-Content-Type-Options: nosniff is added by http.c to every answer).
 *
 * Access: the same rules as every other route (http.h). The page talks to the API from the same
 * origin, so it needs no CORS; remote browsers send the API token (see docs/dashboard.md).
 * Threading: handlers only read constant data. */
#ifndef UH_SERVER_WEB_H
#define UH_SERVER_WEB_H

#include "server/http.h"
#include "unhosted.h"

/* Registers GET / and GET /<file> for each embedded file; before http_server_start. Errors:
 * UH_ELIMIT when the route table is full (the message names the path). */
int web_register(http_server *srv, uh_err *err);

/* The Content-Type for a file name, by extension ("application/octet-stream" if unknown). */
const char *web_content_type(const char *path);

#endif
