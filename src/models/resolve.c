/* resolve.c - a model spec (path, store name, discovered name) to a GGUF file; see resolve.h. */
#include "models/resolve.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "models/discover.h"
#include "models/info.h"
#include "models/registry.h"

static int looks_like_path(const char *spec)
{
    size_t n = strlen(spec);
    return spec[0] == '/' || spec[0] == '.' || spec[0] == '~' ||
           (n > 5 && strcmp(spec + n - 5, ".gguf") == 0);
}

int models_resolve_entry(const char *spec, store_entry *e, int *origin, uh_err *err)
{
    memset(e, 0, sizeof *e);
    if (!spec || !*spec) return err_setf(err, UH_EINVAL, "no model given");
    struct stat st;
    if (stat(spec, &st) == 0 && S_ISREG(st.st_mode)) {
        if (strlen(spec) >= sizeof e->path) return err_setf(err, UH_ELIMIT, "path too long");
        snprintf(e->path, sizeof e->path, "%s", spec);
        snprintf(e->source, sizeof e->source, "path");
        *origin = MODELS_FROM_PATH;
        return UH_OK;
    }
    if (looks_like_path(spec)) return err_setf(err, UH_ENOTFOUND, "%s: no such file", spec);

    int explicit_discovery = strncmp(spec, "ollama/", 7) == 0 || strncmp(spec, "lmstudio/", 9) == 0;
    char name[STORE_MAX_NAME + 1], tag[STORE_MAX_TAG + 1];
    uh_err perr = {0};
    int valid = store_parse_name(spec, name, tag, &perr) == 0;
    int rc;
    if (valid && !explicit_discovery) {
        store *s = NULL;
        if ((rc = store_open(&s, err)) != 0) return rc;
        rc = store_lookup(s, name, tag, e, err);
        store_close(s);
        if (rc == 0) {
            *origin = MODELS_FROM_STORE;
            return UH_OK;
        }
        if (rc != UH_ENOTFOUND) return rc; /* a broken manifest: say so, do not guess */
    }
    uh_err derr = {0};
    rc = discover_find(spec, e, &derr);
    if (rc == 0) {
        *origin = MODELS_FROM_DISCOVERY;
        return UH_OK;
    }
    if (explicit_discovery) return err_setf(err, rc, "%s", derr.msg);
    if (!valid) return err_setf(err, UH_EINVAL, "'%s' is not a file and %s", spec, perr.msg);

    const registry_entry *r;
    if (registry_lookup(name, tag, &r, NULL) == 0) {
        if (!models_arch_supported(r->arch))
            return err_setf(err, UH_EUNSUPPORTED,
                            "%s:%s is a %s model; this build cannot run the '%s' architecture yet",
                            r->name, r->tag, r->arch, r->arch);
        if (!r->supported) /* the family runs, this model needs more of it (e.g. LongRoPE) */
            return err_setf(err, UH_EUNSUPPORTED,
                            "%s:%s is a %s model that needs a feature of its architecture this "
                            "build does not have yet",
                            r->name, r->tag, r->arch);
        return err_setf(err, UH_ENOTFOUND,
                        "model '%s' is not downloaded; run 'unhosted pull %s' "
                        "first",
                        spec, spec);
    }
    return err_setf(err, UH_ENOTFOUND,
                    "'%s' is not a file, a model in the store, or a known model name (see "
                    "'unhosted models' and 'unhosted models --available')",
                    spec);
}

int models_resolve(const char *spec, char *path, size_t cap, uh_err *err)
{
    store_entry e;
    int origin;
    int rc = models_resolve_entry(spec, &e, &origin, err);
    if (rc != 0) return rc;
    if (strlen(e.path) >= cap) return err_setf(err, UH_ELIMIT, "model path too long");
    memcpy(path, e.path, strlen(e.path) + 1);
    return UH_OK;
}
