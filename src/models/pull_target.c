/* pull_target.c - what the user asked to pull (a registry name or a URL) to what to download
 * and where to store it (see pull.h). Shared by `unhosted pull` and the node's /api/pull. */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "models/info.h"
#include "models/pull.h"
#include "models/registry.h"

int pull_resolve_target(const char *what, const char *as, const char *sha, pull_target *t,
                        uh_err *err)
{
    memset(t, 0, sizeof *t);
    int rc;
    if (strstr(what, "://") != NULL) {
        if ((rc = pull_map_url(what, t->url, sizeof t->url, err)) != 0) return rc;
        if (!as && (rc = pull_default_name(t->url, t->name, t->tag, err)) != 0) return rc;
        t->sha256 = sha;
    } else {
        const registry_entry *r = NULL;
        if ((rc = store_parse_name(what, t->name, t->tag, err)) != 0) return rc;
        if (registry_lookup(t->name, t->tag, &r, err) != 0)
            return err_setf(err, UH_ENOTFOUND,
                            "%s: not a known model name (see 'unhosted models --available'), nor a "
                            "URL (http://, https://, hf://ORG/REPO/FILE.gguf)",
                            what);
        if (!models_arch_supported(r->arch))
            return err_setf(err, UH_EUNSUPPORTED,
                            "%s:%s uses architecture %s, which this version cannot run yet",
                            r->name, r->tag, r->arch);
        if (!r->supported) /* the family runs, this model needs more of it (e.g. LongRoPE) */
            return err_setf(err, UH_EUNSUPPORTED,
                            "%s:%s needs a feature of architecture %s that this version cannot "
                            "run yet",
                            r->name, r->tag, r->arch);
        snprintf(t->url, sizeof t->url, "%s", r->url);
        snprintf(t->name, sizeof t->name, "%s", r->name);
        snprintf(t->tag, sizeof t->tag, "%s", r->tag);
        t->sha256 = sha ? sha : r->sha256;
        t->size = r->size;
    }
    if (as && (rc = store_parse_name(as, t->name, t->tag, err)) != 0)
        return err_prefix(err, rc, "name %s", as);
    return UH_OK;
}
