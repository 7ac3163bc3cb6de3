/* discover.c - finds GGUF files in Ollama's and LM Studio's model folders (formats and names in
 * discover.h). Read-only: only opendir/stat/open for reading. */
#include "models/discover.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/file.h"
#include "base/log.h"
#include "models/info.h"

#define OLLAMA_MANIFEST_MAX (1u << 20)
#define OLLAMA_HOST         "registry.ollama.ai"
#define OLLAMA_MODEL_TYPE   "application/vnd.ollama.image.model"

/* snprintf for paths: 0, or -1 when the result would not fit (the caller skips that entry). */
static int pathf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int pathf(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

typedef struct {
    store_entry *v;
    int n, oom;
    size_t cap;
} cand_vec;

static void push(cand_vec *c, const store_entry *e)
{
    if (buf_grow_array((void **)&c->v, &c->cap, (size_t)c->n + 1, sizeof *c->v) != 0) {
        c->oom = 1;
        return;
    }
    c->v[c->n++] = *e;
}

/* A directory or file name usable inside a discovered model name. */
static int plain_component(const char *s)
{
    if (!s[0] || s[0] == '.') return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Lists the plain-named entries of dir (NULL-terminated, malloc'd; caller frees with
 * free_names). */
static char **list_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return NULL;
    size_t n = 0, cap = 0;
    char **v = NULL;
    struct dirent *de;
    if (buf_grow_array((void **)&v, &cap, 1, sizeof *v) != 0) v = NULL;
    while (v && (de = readdir(d)) != NULL) {
        if (!plain_component(de->d_name)) continue;
        if (buf_grow_array((void **)&v, &cap, n + 2, sizeof *v) != 0) break; /* + the NULL */
        if (!(v[n] = strdup(de->d_name))) break;
        n++;
    }
    closedir(d);
    if (v) v[n] = NULL;
    return v;
}

static void free_names(char **v)
{
    if (!v) return;
    for (char **p = v; *p; p++) free(*p);
    free(v);
}

/* ---- Ollama ---- */

static void ollama_manifest(const char *root, const char *host, const char *ns, const char *model,
                            const char *tag, cand_vec *out)
{
    char path[PATH_MAX];
    if (pathf(path, sizeof path, "%s/manifests/%s/%s/%s/%s", root, host, ns, model, tag) != 0)
        return;
    char *buf = NULL;
    size_t len = 0;
    if (file_read(path, OLLAMA_MANIFEST_MAX, &buf, &len, NULL) != 0) return;
    cJSON *o = cJSON_ParseWithLength(buf, len);
    free(buf);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(o, "layers");
    const cJSON *l;
    cJSON_ArrayForEach(l, layers)
    {
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(l, "mediaType");
        const cJSON *dg = cJSON_GetObjectItemCaseSensitive(l, "digest");
        const cJSON *sz = cJSON_GetObjectItemCaseSensitive(l, "size");
        if (!cJSON_IsString(mt) || strcmp(mt->valuestring, OLLAMA_MODEL_TYPE) != 0) continue;
        if (!cJSON_IsString(dg) || strncmp(dg->valuestring, "sha256:", 7) != 0 ||
            !cJSON_IsNumber(sz))
            break;
        const char *hex = dg->valuestring + 7;
        size_t hl = strspn(hex, "0123456789abcdef");
        if (hl != 64 || hex[64]) break;
        store_entry e;
        memset(&e, 0, sizeof e);
        int n;
        if (strcmp(host, OLLAMA_HOST) == 0 && strcmp(ns, "library") == 0)
            n = snprintf(e.name, sizeof e.name, "ollama/%s", model);
        else if (strcmp(host, OLLAMA_HOST) == 0)
            n = snprintf(e.name, sizeof e.name, "ollama/%s/%s", ns, model);
        else
            n = snprintf(e.name, sizeof e.name, "ollama/%s/%s/%s", host, ns, model);
        if (n < 0 || (size_t)n >= sizeof e.name || strlen(tag) > STORE_MAX_TAG) break;
        snprintf(e.tag, sizeof e.tag, "%s", tag);
        memcpy(e.sha256, hex, 65);
        if (pathf(e.path, sizeof e.path, "%s/blobs/sha256-%s", root, hex) != 0) break;
        snprintf(e.source, sizeof e.source, "ollama");
        e.size = (uint64_t)sz->valuedouble;
        struct stat st;
        if (stat(e.path, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != e.size) {
            log_info("discover_skipped", "model=%s:%s reason=\"blob missing or incomplete\"",
                     e.name, e.tag);
            break;
        }
        push(out, &e);
        break;
    }
    cJSON_Delete(o);
}

static void ollama_scan(const char *root, cand_vec *out)
{
    char p[PATH_MAX];
    if (pathf(p, sizeof p, "%s/manifests", root) != 0) return;
    char **hosts = list_dir(p);
    for (char **h = hosts; h && *h; h++) {
        if (pathf(p, sizeof p, "%s/manifests/%s", root, *h) != 0) continue;
        char **nss = list_dir(p);
        for (char **ns = nss; ns && *ns; ns++) {
            if (pathf(p, sizeof p, "%s/manifests/%s/%s", root, *h, *ns) != 0) continue;
            char **models = list_dir(p);
            for (char **m = models; m && *m; m++) {
                if (pathf(p, sizeof p, "%s/manifests/%s/%s/%s", root, *h, *ns, *m) != 0) continue;
                char **tags = list_dir(p);
                for (char **t = tags; t && *t; t++) ollama_manifest(root, *h, *ns, *m, *t, out);
                free_names(tags);
            }
            free_names(models);
        }
        free_names(nss);
    }
    free_names(hosts);
}

/* ---- LM Studio ---- */

static int skip_gguf(const char *fn)
{
    size_t n = strlen(fn);
    if (n <= 5 || strcmp(fn + n - 5, ".gguf") != 0) return 1;
    if (strncmp(fn, "mmproj", 6) == 0) return 1;
    const char *of = strstr(fn, "-of-");
    return of && of - fn >= 6 && of[-6] == '-'; /* "-00001-of-00002" split parts */
}

static void lmstudio_scan(const char *root, cand_vec *out)
{
    char p[PATH_MAX];
    char **pubs = list_dir(root);
    for (char **pub = pubs; pub && *pub; pub++) {
        if (pathf(p, sizeof p, "%s/%s", root, *pub) != 0) continue;
        char **repos = list_dir(p);
        for (char **repo = repos; repo && *repo; repo++) {
            if (pathf(p, sizeof p, "%s/%s/%s", root, *pub, *repo) != 0) continue;
            char **files = list_dir(p);
            for (char **f = files; f && *f; f++) {
                if (skip_gguf(*f)) continue;
                store_entry e;
                memset(&e, 0, sizeof e);
                size_t stem = strlen(*f) - 5;
                int n = snprintf(e.name, sizeof e.name, "lmstudio/%s/%s", *pub, *repo);
                if (n < 0 || (size_t)n >= sizeof e.name || stem > STORE_MAX_TAG) continue;
                memcpy(e.tag, *f, stem);
                e.tag[stem] = 0;
                if (pathf(e.path, sizeof e.path, "%s/%s/%s/%s", root, *pub, *repo, *f) != 0)
                    continue;
                snprintf(e.source, sizeof e.source, "lmstudio");
                struct stat st;
                if (stat(e.path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
                e.size = (uint64_t)st.st_size;
                push(out, &e);
            }
            free_names(files);
        }
        free_names(repos);
    }
    free_names(pubs);
}

/* ---- both ---- */

static int cmp_entry(const void *a, const void *b)
{
    const store_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->tag, y->tag);
}

/* Candidates from every root (not yet opened as GGUF), deduplicated by root. */
static int scan_all(cand_vec *c, uh_err *err)
{
    const char *home = getenv("HOME");
    const char *om = getenv("OLLAMA_MODELS");
    char roots[4][PATH_MAX];
    char real[4][PATH_MAX];
    int kinds[4], n = 0;
    if (om && *om) {
        if (pathf(roots[n], PATH_MAX, "%s", om) == 0) kinds[n++] = 0;
    } else if (home && *home) {
        if (pathf(roots[n], PATH_MAX, "%s/.ollama/models", home) == 0) kinds[n++] = 0;
    }
    if (pathf(roots[n], PATH_MAX, "/usr/share/ollama/.ollama/models") == 0) kinds[n++] = 0;
    if (home && *home) {
        if (pathf(roots[n], PATH_MAX, "%s/.lmstudio/models", home) == 0) kinds[n++] = 1;
        if (pathf(roots[n], PATH_MAX, "%s/.cache/lm-studio/models", home) == 0) kinds[n++] = 1;
    }
    for (int i = 0; i < n; i++) {
        if (!is_dir(roots[i]) || !realpath(roots[i], real[i])) {
            real[i][0] = 0;
            continue;
        }
        int dup = 0;
        for (int j = 0; j < i; j++) dup |= strcmp(real[i], real[j]) == 0;
        if (dup) continue;
        if (kinds[i] == 0)
            ollama_scan(real[i], c);
        else
            lmstudio_scan(real[i], c);
    }
    if (c->oom) {
        free(c->v);
        c->v = NULL;
        return err_setf(err, UH_ENOMEM, "out of memory");
    }
    if (c->n > 1) qsort(c->v, (size_t)c->n, sizeof *c->v, cmp_entry);
    return UH_OK;
}

/* Opens the candidate's GGUF and fills the facts; 0 if it is a valid GGUF. */
static int fill_info(store_entry *e)
{
    uh_err err = {0};
    uint64_t size = e->size;
    if (models_file_info(e->path, e, &err) != 0) {
        log_warn("discover_skipped", "model=%s:%s path=%s msg=\"%s\"", e->name, e->tag, e->path,
                 err.msg);
        return -1;
    }
    e->size = size;
    return 0;
}

int discover_list(store_entry **out, int *n, uh_err *err)
{
    cand_vec c = {0};
    int rc = scan_all(&c, err);
    if (rc != 0) return rc;
    int k = 0;
    for (int i = 0; i < c.n; i++)
        if (fill_info(&c.v[i]) == 0) c.v[k++] = c.v[i];
    *out = c.v;
    *n = k;
    return UH_OK;
}

int discover_find(const char *spec, store_entry *out, uh_err *err)
{
    char name[STORE_MAX_NAME + 16];
    const char *colon = strrchr(spec, ':');
    size_t nl = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *tag = colon ? colon + 1 : NULL;
    int lmstudio = strncmp(spec, "lmstudio/", 9) == 0;
    int ollama = strncmp(spec, "ollama/", 7) == 0;
    if (nl == 0 || nl + 8 >= sizeof name || (tag && !*tag))
        return err_setf(err, UH_ENOTFOUND, "no model '%s' found in Ollama or LM Studio", spec);
    snprintf(name, sizeof name, "%s%.*s", lmstudio || ollama ? "" : "ollama/", (int)nl, spec);
    if (!tag && !lmstudio) tag = "latest";
    cand_vec c = {0};
    int rc = scan_all(&c, err);
    if (rc != 0) return rc;
    int found = -1, n_match = 0;
    for (int i = 0; i < c.n; i++) {
        if (strcmp(c.v[i].name, name) != 0 || (tag && strcmp(c.v[i].tag, tag) != 0)) continue;
        n_match++;
        if (found < 0) found = i;
    }
    if (n_match > 1)
        rc = err_setf(err, UH_EINVAL,
                      "'%s' holds %d model files: add ':<file>' (see 'unhosted "
                      "models')",
                      spec, n_match);
    else if (found < 0 || fill_info(&c.v[found]) != 0)
        rc = err_setf(err, UH_ENOTFOUND, "no model '%s' found in Ollama or LM Studio", spec);
    else
        *out = c.v[found];
    free(c.v);
    return rc;
}
