/* http_auth.h - the server's access-control pieces: the API token file, --listen parsing,
 * loopback tests and the Host / Origin checks (the rules themselves are listed in http.h).
 *
 * Token file: <config dir>/api-token, one line: 64 lowercase hex characters (32 bytes from
 * libsodium's randombytes_buf) and "\n". Created whole with mode 0600, never over a file another
 * process created first; a file that group or others may read is refused. The token is a secret:
 * held in http_token, compared with sodium_memcmp, wiped with sodium_memzero, never logged.
 *
 * Threading: pure functions except http_token_load_or_create (file system). */
#ifndef UH_SERVER_HTTP_AUTH_H
#define UH_SERVER_HTTP_AUTH_H

#include <stddef.h>
#include <sys/socket.h>

#include "unhosted.h"

#define HTTP_TOKEN_HEX   64
#define HTTP_MAX_HOSTLEN 255

typedef struct {
    char hex[HTTP_TOKEN_HEX + 1];
} http_token;

/* <config dir>/api-token into buf. */
int http_token_default_path(char *buf, size_t cap);
/* Reads the token at path, or creates it (and its directory) when missing; *created says which.
 * Errors: UH_EIO (unreadable, unwritable), UH_EFORMAT (not 64 hex chars), UH_EINVAL (the file is
 * readable by group or others; the message says to chmod 600). */
int http_token_load_or_create(const char *path, http_token *tok, int *created, uh_err *err);
void http_token_wipe(http_token *tok);
/* 1 if the Authorization header value is "Bearer <token>" (scheme case-insensitive), else 0.
 * Constant time in the token's bytes. */
int http_token_check(const http_token *tok, const char *authorization);

typedef struct {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    int port;
    char host[128]; /* the address as written in URLs: "127.0.0.1", "[::1]", "0.0.0.0" */
    int wildcard;   /* 0.0.0.0 or [::] */
    int loopback;   /* 127.0.0.0/8 or ::1 */
} http_listen;

/* Parses "HOST:PORT" where HOST is an IPv4 literal, a bracketed IPv6 literal or "localhost"
 * (= 127.0.0.1); PORT 0..65535. Host names are refused (say which address to bind). */
int http_parse_listen(const char *s, http_listen *out, uh_err *err);

/* 1 for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
int http_addr_is_loopback(const struct sockaddr *sa);

/* The Host check of http.h rule 1. hostname: this machine's name (or NULL). */
int http_host_allowed(const char *host, const http_listen *l, const char *hostname);
/* 1 if origin is exactly "http://" + host (the node's own origin, host already checked). */
int http_origin_is_own(const char *origin, const char *host);

#endif
