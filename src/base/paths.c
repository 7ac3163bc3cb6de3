/* paths.c - state directories: --home / $UNHOSTED_HOME, else XDG (see paths.h). */
#include "base/paths.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "unhosted_base.h"

static char g_home[4096];

static int mkdir_p(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) return UH_EINVAL;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != 0) continue;
        char c = tmp[i];
        tmp[i] = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return UH_EIO;
        tmp[i] = c;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return UH_EIO;
    return UH_OK;
}

int paths_set_home(const char *dir)
{
    if (!dir || !*dir || strlen(dir) >= sizeof g_home) return UH_EINVAL;
    int rc = mkdir_p(dir);
    if (rc != 0) return rc;
    snprintf(g_home, sizeof g_home, "%s", dir);
    return UH_OK;
}

int paths_dir(enum paths_kind kind, char *buf, size_t cap)
{
    static const char *sub[] = {"config", "data", "cache"};
    static const char *xdg_env[] = {"XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"};
    static const char *xdg_default[] = {".config", ".local/share", ".cache"};
    if ((unsigned)kind > PATHS_CACHE) return UH_EINVAL;
    const char *home = g_home[0] ? g_home : getenv("UNHOSTED_HOME");
    int n;
    if (home && *home) {
        n = snprintf(buf, cap, "%s/%s", home, sub[kind]);
    } else {
        const char *x = getenv(xdg_env[kind]);
        if (x && x[0] == '/') { /* the XDG spec ignores relative values */
            n = snprintf(buf, cap, "%s/unhosted", x);
        } else {
            const char *h = getenv("HOME");
            if (!h || !*h) return UH_ENOTFOUND;
            n = snprintf(buf, cap, "%s/%s/unhosted", h, xdg_default[kind]);
        }
    }
    if (n < 0 || (size_t)n >= cap) return UH_ELIMIT;
    return UH_OK;
}

int paths_ensure_dir(enum paths_kind kind, char *buf, size_t cap)
{
    int rc = paths_dir(kind, buf, cap);
    return rc != 0 ? rc : mkdir_p(buf);
}
