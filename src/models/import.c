/* import.c - `unhosted import`: a GGUF file already on disk becomes a store entry by hard link
 * (same filesystem) or by reference in place, never by copy. */
#include "models/import.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "models/info.h"

int models_name_from_file(const char *file, char *name, size_t cap)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".gguf") == 0) n -= 5;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap && o < STORE_MAX_NAME; i++) {
        char c = base[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        int ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok) c = '-';
        if (o == 0 && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) continue;
        name[o++] = c;
    }
    if (o == 0) return UH_EINVAL;
    name[o] = 0;
    return UH_OK;
}

int models_import(store *s, const char *file, const char *name, const char *tag, store_entry *out,
                  uh_err *err)
{
    store_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.name, sizeof e.name, "%s", name);
    snprintf(e.tag, sizeof e.tag, "%s", tag);
    char abs[PATH_MAX];
    if (!realpath(file, abs)) return err_setf(err, UH_ENOTFOUND, "%s: %s", file, strerror(errno));
    struct stat st, bst;
    if (stat(abs, &st) != 0 || !S_ISREG(st.st_mode))
        return err_setf(err, UH_EINVAL, "%s: not a regular file", file);
    int rc = models_file_info(abs, &e, err);
    if (rc != 0) return err_prefix(err, rc, "%s", file);
    char blobs[4200];
    snprintf(blobs, sizeof blobs, "%s/blobs", store_root(s));
    int linked = 0;
    if (stat(blobs, &bst) == 0 && bst.st_dev == st.st_dev) {
        if ((rc = models_sha256_file(abs, e.sha256, err)) != 0) return rc;
        char blob[4400];
        if (store_blob_path(s, e.sha256, blob, sizeof blob) != 0)
            return err_setf(err, UH_ELIMIT, "store path too long");
        if (store_has_blob(s, e.sha256)) {
            linked = 1; /* same content already stored: share it */
        } else if (link(abs, blob) == 0) {
            linked = 1;
        } else {
            log_info("import_in_place", "file=%s reason=\"%s\"", abs, strerror(errno));
        }
    }
    if (!linked) /* the manifest names the file (and keeps its digest if it was hashed) */
        snprintf(e.path, sizeof e.path, "%s", abs);
    if (snprintf(e.source, sizeof e.source, "import:%s", abs) >= (int)sizeof e.source)
        snprintf(e.source, sizeof e.source, "import");
    e.added = clock_wall_s();
    if ((rc = store_put_manifest(s, &e, err)) != 0) return rc;
    return store_lookup(s, e.name, e.tag, out, err);
}
