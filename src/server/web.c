/* web.c - serves the embedded dashboard (contracts in web.h). */
#include "server/web.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/sha256.h"
#include "server/http_impl.h"
#include "server/web_assets.h"

#define WEB_MAX_ASSETS 32
#define WEB_ETAG_BYTES 16

/* No inline script or style, nothing from another origin; the page may not be framed. */
#define WEB_CSP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "                 \
    "frame-ancestors 'none'"

typedef struct {
    const web_asset *asset;
    const char *content_type;
    char etag[2 * WEB_ETAG_BYTES + 3]; /* "\"<hex>\"" */
} web_entry;

static web_entry entries[WEB_MAX_ASSETS];
static int n_entries;
static pthread_once_t entries_once = PTHREAD_ONCE_INIT;

const char *web_content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".json", "application/json"},
        {".webmanifest", "application/manifest+json"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (!strcmp(dot, types[i].ext)) return types[i].type;
    return "application/octet-stream";
}

static void build_entries(void)
{
    for (int i = 0; i < web_n_assets && n_entries < WEB_MAX_ASSETS; i++) {
        web_entry *e = &entries[n_entries++];
        e->asset = &web_assets[i];
        e->content_type = web_content_type(e->asset->path);
        unsigned char digest[SHA256_BYTES];
        sha256_buf(digest, e->asset->data, e->asset->size);
        char *p = e->etag;
        *p++ = '"';
        for (int k = 0; k < WEB_ETAG_BYTES; k++, p += 2) snprintf(p, 3, "%02x", digest[k]);
        *p++ = '"';
        *p = 0;
    }
}

/* 1 when the client's If-None-Match names this entity (a list, weak form or "*"). */
static int etag_matches(const char *if_none_match, const char *etag)
{
    if (!if_none_match) return 0;
    if (!strcmp(if_none_match, "*")) return 1;
    return strstr(if_none_match, etag) != NULL;
}

static http_response *serve_asset(const http_request *req, void *ud)
{
    const web_entry *e = ud;
    http_response *r;
    if (etag_matches(http_header(req, "If-None-Match"), e->etag))
        r = http_text(304, e->content_type, "", 0);
    else
        r = http_text(200, e->content_type, (const char *)e->asset->data, e->asset->size);
    if (!r) return NULL;
    if (http_response_header(r, "ETag", e->etag) != 0 ||
        http_response_header(r, "Cache-Control", "no-cache") != 0 ||
        http_response_header(r, "Content-Security-Policy", WEB_CSP) != 0 ||
        http_response_header(r, "X-Frame-Options", "DENY") != 0 ||
        http_response_header(r, "Referrer-Policy", "no-referrer") != 0 ||
        http_response_header(r, "Cross-Origin-Opener-Policy", "same-origin") != 0 ||
        http_response_header(r, "Cross-Origin-Resource-Policy", "same-origin") != 0) {
        http_response_free(r);
        return NULL;
    }
    return r;
}

int web_register(http_server *srv, uh_err *err)
{
    pthread_once(&entries_once, build_entries);
    if (web_n_assets > WEB_MAX_ASSETS)
        return err_setf(err, UH_ELIMIT, "web: %d embedded files, at most %d", web_n_assets,
                        WEB_MAX_ASSETS);
    for (int i = 0; i < n_entries; i++) {
        web_entry *e = &entries[i];
        int rc = http_route_public(srv, e->asset->path, serve_asset, e);
        if (rc == 0 && !strcmp(e->asset->path, "/index.html"))
            rc = http_route_public(srv, "/", serve_asset, e);
        if (rc != 0) return err_setf(err, rc, "web: cannot add the route GET %s", e->asset->path);
    }
    return UH_OK;
}
