/* http_auth.c - token file, --listen parsing, loopback and Host/Origin checks (http_auth.h). */
#include "server/http_auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/err.h"
#include "base/file.h"
#include "base/paths.h"

/* ---- token ---- */

int http_token_default_path(char *buf, size_t cap)
{
    char dir[4096];
    int rc = paths_ensure_dir(PATHS_CONFIG, dir, sizeof dir);
    if (rc != 0) return rc;
    int n = snprintf(buf, cap, "%s/api-token", dir);
    return n < 0 || (size_t)n >= cap ? UH_ELIMIT : UH_OK;
}

void http_token_wipe(http_token *tok)
{
    if (tok) sodium_memzero(tok, sizeof *tok);
}

static size_t trim_eol(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
    return n;
}

static int is_hex_token(const char *s, size_t n)
{
    if (n != HTTP_TOKEN_HEX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* Reads the private token file into tok. UH_ENOTFOUND when there is none. */
static int read_token(const char *path, http_token *tok, uh_err *err)
{
    char buf[HTTP_TOKEN_HEX + 8];
    size_t len = 0;
    int rc = file_read_private(path, buf, sizeof buf, &len, NULL, err);
    if (rc == 0 && !is_hex_token(buf, trim_eol(buf, len))) rc = UH_EFORMAT;
    if (rc == UH_EFORMAT) /* too long or not hex */
        rc = err_setf(err, UH_EFORMAT, "%s: expected %d hex characters (delete it to make a new one)",
                      path, HTTP_TOKEN_HEX);
    if (rc == 0) {
        memcpy(tok->hex, buf, HTTP_TOKEN_HEX);
        tok->hex[HTTP_TOKEN_HEX] = 0;
    }
    sodium_memzero(buf, sizeof buf);
    return rc;
}

/* Writes a fresh token to path unless a file is there already (UH_ECONFLICT: another process
 * made it first). */
static int create_token(const char *path, http_token *tok, uh_err *err)
{
    unsigned char raw[32];
    char line[HTTP_TOKEN_HEX + 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(line, sizeof line, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    line[HTTP_TOKEN_HEX] = '\n';
    file_atomic f;
    int rc = file_atomic_open(&f, path, 0600, err);
    if (rc == 0) rc = file_atomic_write(&f, line, HTTP_TOKEN_HEX + 1, err);
    if (rc != 0)
        file_atomic_abort(&f);
    else
        rc = file_atomic_commit_new(&f, err);
    if (rc == 0) {
        memcpy(tok->hex, line, HTTP_TOKEN_HEX);
        tok->hex[HTTP_TOKEN_HEX] = 0;
    }
    sodium_memzero(line, sizeof line);
    return rc;
}

int http_token_load_or_create(const char *path, http_token *tok, int *created, uh_err *err)
{
    memset(tok, 0, sizeof *tok);
    if (created) *created = 0;
    if (sodium_init() < 0) return err_setf(err, UH_EIO, "libsodium failed to initialise");
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = read_token(path, tok, err);
        if (rc != UH_ENOTFOUND) return rc;
        rc = create_token(path, tok, err);
        if (rc == UH_ECONFLICT) continue; /* another process made it first: read theirs */
        if (rc == 0 && created) *created = 1;
        return rc;
    }
    return err_setf(err, UH_EIO, "%s: cannot read or create", path);
}

int http_token_check(const http_token *tok, const char *authorization)
{
    if (!tok || !tok->hex[0] || !authorization) return 0;
    const char *p = authorization;
    while (*p == ' ') p++;
    if (strncasecmp(p, "bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t')) return 0;
    p += 6;
    while (*p == ' ' || *p == '\t') p++;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
    if (n != HTTP_TOKEN_HEX) return 0;
    return sodium_memcmp(p, tok->hex, HTTP_TOKEN_HEX) == 0;
}

/* ---- addresses ---- */

int http_addr_is_loopback(const struct sockaddr *sa)
{
    if (!sa) return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        const unsigned char *a = in6->sin6_addr.s6_addr;
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return 1;
        return memcmp(a, v4mapped, 12) == 0 && a[12] == 127;
    }
    return 0;
}

int http_parse_listen(const char *s, http_listen *out, uh_err *err)
{
    memset(out, 0, sizeof *out);
    if (!s || !*s || strlen(s) > 80)
        return err_setf(err, UH_EINVAL, "listen address must be HOST:PORT");
    char host[96];
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return err_setf(err, UH_EINVAL, "%s: IPv6 addresses are written [ADDR]:PORT", s);
        snprintf(host, sizeof host, "%.*s", (int)(close - s - 1), s + 1);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || colon == s || memchr(s, ':', (size_t)(colon - s)))
            return err_setf(err, UH_EINVAL, "%s: expected HOST:PORT (IPv6 as [ADDR]:PORT)", s);
        snprintf(host, sizeof host, "%.*s", (int)(colon - s), s);
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || port < 0 || port > 65535 || colon[1] == '-' ||
        colon[1] == '+' || colon[1] == ' ')
        return err_setf(err, UH_EINVAL, "%s: port must be 0..65535", s);
    out->port = (int)port;
    if (s[0] != '[' && !strcasecmp(host, "localhost")) snprintf(host, sizeof host, "127.0.0.1");
    struct sockaddr_in *in = (struct sockaddr_in *)(void *)&out->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&out->addr;
    if (s[0] != '[' && inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        out->addr_len = sizeof *in;
        out->wildcard = in->sin_addr.s_addr == htonl(INADDR_ANY);
        snprintf(out->host, sizeof out->host, "%s", host);
    } else if (s[0] == '[' && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        out->addr_len = sizeof *in6;
        out->wildcard = IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
        char canon[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &in6->sin6_addr, canon, sizeof canon);
        snprintf(out->host, sizeof out->host, "[%s]", canon);
    } else {
        return err_setf(err, UH_EINVAL,
                        "%s: the host must be an IP address (127.0.0.1, [::1], 0.0.0.0) or "
                        "localhost",
                        s);
    }
    out->loopback = http_addr_is_loopback((const struct sockaddr *)&out->addr);
    return UH_OK;
}

/* ---- Host and Origin ---- */

static int ip_literal(const char *name)
{
    unsigned char buf[16];
    size_t n = strlen(name);
    if (n > 2 && name[0] == '[' && name[n - 1] == ']' && n < 64) {
        char inner[64];
        snprintf(inner, sizeof inner, "%.*s", (int)(n - 2), name + 1);
        return inet_pton(AF_INET6, inner, buf) == 1;
    }
    return inet_pton(AF_INET, name, buf) == 1;
}

int http_host_allowed(const char *host, const http_listen *l, const char *hostname)
{
    if (!host || !*host || strlen(host) > HTTP_MAX_HOSTLEN) return 0;
    char name[HTTP_MAX_HOSTLEN + 1];
    const char *port = NULL;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (!close) return 0;
        snprintf(name, sizeof name, "%.*s", (int)(close - host + 1), host);
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return 0;
    } else {
        const char *colon = strchr(host, ':');
        if (colon && strchr(colon + 1, ':')) return 0;
        snprintf(name, sizeof name, "%.*s", (int)(colon ? colon - host : (long)strlen(host)), host);
        if (colon) port = colon + 1;
    }
    if (port) {
        char *end;
        errno = 0;
        long p = *port >= '0' && *port <= '9' ? strtol(port, &end, 10) : -1;
        if (p != l->port || *end || errno) return 0;
    } else if (l->port != 80) {
        return 0;
    }
    static const char *const local[] = {"localhost", "127.0.0.1", "[::1]"};
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
        if (!strcasecmp(name, local[i])) return 1;
    if (!strcasecmp(name, l->host)) return 1;
    if (l->wildcard && ip_literal(name)) return 1;
    if (hostname && *hostname) {
        size_t hl = strlen(hostname), nl = strlen(name);
        if (!strcasecmp(name, hostname)) return 1;
        if (nl == hl + 6 && !strncasecmp(name, hostname, hl) && !strcasecmp(name + hl, ".local"))
            return 1;
    }
    return 0;
}

int http_origin_is_own(const char *origin, const char *host)
{
    if (!origin || !host) return 0;
    return !strncasecmp(origin, "http://", 7) && !strcasecmp(origin + 7, host);
}
