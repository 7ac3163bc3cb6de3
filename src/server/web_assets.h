/* web_assets.h - the dashboard's files (web/), embedded in the binary at build time by
 * tools/embed_web.sh into build/gen/web_assets.c. The table is constant data: nothing to free,
 * safe to read from any thread. */
#ifndef UH_SERVER_WEB_ASSETS_H
#define UH_SERVER_WEB_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *path;          /* URL path: "/" + the file's name, e.g. "/app.js" */
    const unsigned char *data; /* the file's bytes */
    size_t size;               /* bytes */
} web_asset;

extern const web_asset web_assets[];
extern const int web_n_assets;

#endif
