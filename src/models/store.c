/* store.c - the local model store (layout and manifest format in store.h).
 *
 * Consistency rules: a manifest is written atomically (file_write_atomic: a hidden temporary file
 * in its directory, fsynced, renamed over the final name, the directory fsynced), so readers see
 * the old manifest or the new one, never a part. Blobs arrive by rename from partial/ (same
 * filesystem) or by hard link. Adding a manifest, removing one and collecting unreferenced blobs
 * happen under an exclusive flock on models/.lock, so a blob is never collected between another
 * process adding it and writing the manifest that uses it. Readers take no lock. */
#include "models/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/file.h"
#include "base/log.h"
#include "base/paths.h"

#define MANIFEST_MAX   (64u << 10) /* bytes of a manifest file */
#define MANIFEST_DEPTH 4           /* name segments ("a/b/c/d") below manifests/ */

struct store {
    char root[4096];      /* <data>/models */
    char blobs[4200];     /* <root>/blobs */
    char manifests[4200]; /* <root>/manifests */
    char partial[4200];   /* <root>/partial */
};

/* ---- small file-system helpers ---- */

static int mkdir_one(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST) return 0;
    return -1;
}

/* mkdir -p of path (absolute or relative), mode 0700. */
static int mkdir_parents(const char *path)
{
    char tmp[4200];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i < n; i++) {
        if (tmp[i] != '/') continue;
        tmp[i] = 0;
        if (mkdir_one(tmp) != 0) return -1;
        tmp[i] = '/';
    }
    return mkdir_one(tmp);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int lock_store(const store *s)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/.lock", s->root);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

static void unlock_store(int fd)
{
    if (fd >= 0) close(fd); /* closing drops the flock */
}

/* ---- names ---- */

static int valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > STORE_MAX_NAME) return 0;
    int seg_start = 1, n_seg = 1;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (seg_start) {
            if (!alnum) return 0; /* no empty segment, no leading '.', '-', '_' (so no "..") */
            seg_start = 0;
        } else if (c == '/') {
            seg_start = 1;
            n_seg++;
        } else if (!alnum && c != '.' && c != '_' && c != '-') {
            return 0;
        }
    }
    return !seg_start && n_seg <= MANIFEST_DEPTH;
}

static int valid_tag(const char *tag)
{
    size_t n = strlen(tag);
    if (n == 0 || n > STORE_MAX_TAG || tag[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = tag[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int valid_sha(const char *h)
{
    if (strlen(h) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f'))) return 0;
    return 1;
}

int store_parse_name(const char *spec, char name[STORE_MAX_NAME + 1], char tag[STORE_MAX_TAG + 1],
                     uh_err *err)
{
    if (!spec || !*spec) return err_setf(err, UH_EINVAL, "empty model name");
    const char *colon = strchr(spec, ':');
    size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *t = colon ? colon + 1 : "latest";
    if (nlen == 0 || nlen > STORE_MAX_NAME)
        return err_setf(err, UH_EINVAL, "bad model name '%s': 1 to %d characters before ':'", spec,
                        STORE_MAX_NAME);
    memcpy(name, spec, nlen);
    name[nlen] = 0;
    if (!valid_name(name))
        return err_setf(err, UH_EINVAL,
                        "bad model name '%s': use lowercase letters, digits, '.', '_', '-' "
                        "('/' between parts)",
                        name);
    if (!valid_tag(t))
        return err_setf(
            err, UH_EINVAL,
            "bad tag '%s': 1 to %d letters, digits, '.', '_', '-' (not starting with '.')", t,
            STORE_MAX_TAG);
    snprintf(tag, STORE_MAX_TAG + 1, "%s", t);
    return UH_OK;
}

/* ---- open ---- */

int store_open(store **out, uh_err *err)
{
    char data[4000];
    *out = NULL;
    int rc = paths_ensure_dir(PATHS_DATA, data, sizeof data);
    if (rc != 0) return err_setf(err, rc, "cannot create the data directory (set UNHOSTED_HOME?)");
    store *s = calloc(1, sizeof *s);
    if (!s) return err_setf(err, UH_ENOMEM, "out of memory");
    snprintf(s->root, sizeof s->root, "%s/models", data);
    snprintf(s->blobs, sizeof s->blobs, "%s/blobs", s->root);
    snprintf(s->manifests, sizeof s->manifests, "%s/manifests", s->root);
    snprintf(s->partial, sizeof s->partial, "%s/partial", s->root);
    if (mkdir_one(s->root) || mkdir_one(s->blobs) || mkdir_one(s->manifests) ||
        mkdir_one(s->partial)) {
        rc = err_setf(err, UH_EIO, "cannot create %s: %s", s->root, strerror(errno));
        free(s);
        return rc;
    }
    *out = s;
    return UH_OK;
}

void store_close(store *s)
{
    free(s);
}

const char *store_partial_dir(const store *s)
{
    return s->partial;
}

const char *store_root(const store *s)
{
    return s->root;
}

int store_blob_path(const store *s, const char *sha256_hex, char *buf, size_t cap)
{
    if (!valid_sha(sha256_hex)) return UH_EINVAL;
    int n = snprintf(buf, cap, "%s/sha256-%s", s->blobs, sha256_hex);
    return n < 0 || (size_t)n >= cap ? UH_ELIMIT : UH_OK;
}

int store_has_blob(const store *s, const char *sha256_hex)
{
    char p[4400];
    struct stat st;
    return store_blob_path(s, sha256_hex, p, sizeof p) == 0 && stat(p, &st) == 0 &&
           S_ISREG(st.st_mode);
}

int store_add_blob(store *s, const char *file, const char *sha256_hex, uh_err *err)
{
    char dst[4400];
    if (store_blob_path(s, sha256_hex, dst, sizeof dst) != 0)
        return err_setf(err, UH_EINVAL, "bad sha256 '%s'", sha256_hex);
    int lk = lock_store(s);
    if (lk < 0) return err_setf(err, UH_EIO, "lock %s: %s", s->root, strerror(errno));
    int rc = UH_OK;
    if (store_has_blob(s, sha256_hex)) {
        unlink(file); /* same content already there */
        goto out;
    }
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = err_setf(err, UH_EIO, "open %s: %s", file, strerror(errno));
        goto out;
    }
    int synced = fsync(fd) == 0 && fchmod(fd, 0444) == 0; /* blobs are immutable */
    close(fd);
    if (!synced || rename(file, dst) != 0) {
        rc = err_setf(err, UH_EIO, "move %s into the store: %s", file, strerror(errno));
        goto out;
    }
    fsync_dir(s->blobs);
out:
    unlock_store(lk);
    return rc;
}

/* ---- manifests ---- */

static void copy_str(char *dst, size_t cap, const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(dst, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static uint64_t get_u64(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1.8e19) return 0;
    return (uint64_t)v->valuedouble;
}

/* Reads and checks the manifest of name:tag into e: it parses, names itself, and the file it
 * points at exists with the recorded size. UH_ENOTFOUND if there is no manifest; UH_EFORMAT or
 * UH_EIO (message says why) for a broken one. check_file 0 skips the file check (to remove a
 * manifest whose file is gone). */
static int read_manifest(const store *s, const char *name, const char *tag, store_entry *e,
                         int check_file, uh_err *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s/%s.json", s->manifests, name, tag);
    char *buf = NULL;
    size_t len = 0;
    int rc = file_read(path, MANIFEST_MAX, &buf, &len, err);
    if (rc == UH_ENOTFOUND) return err_setf(err, UH_ENOTFOUND, "no model %s:%s", name, tag);
    if (rc != 0 && rc != UH_ELIMIT) return rc;
    cJSON *o = rc == 0 ? cJSON_ParseWithLength(buf, len) : NULL; /* an oversized one is broken */
    free(buf);
    rc = UH_OK;
    if (!cJSON_IsObject(o)) {
        rc = err_setf(err, UH_EFORMAT, "%s: not a JSON object", path);
        goto out;
    }
    memset(e, 0, sizeof *e);
    copy_str(e->name, sizeof e->name, o, "name");
    copy_str(e->tag, sizeof e->tag, o, "tag");
    if (strcmp(e->name, name) != 0 || strcmp(e->tag, tag) != 0) {
        rc = err_setf(err, UH_EFORMAT, "%s: names %s:%s", path, e->name, e->tag);
        goto out;
    }
    copy_str(e->sha256, sizeof e->sha256, o, "sha256");
    copy_str(e->path, sizeof e->path, o, "path");
    copy_str(e->source, sizeof e->source, o, "source");
    copy_str(e->arch, sizeof e->arch, o, "arch");
    copy_str(e->quant, sizeof e->quant, o, "quant");
    copy_str(e->license, sizeof e->license, o, "license");
    e->size = get_u64(o, "size");
    e->n_params = get_u64(o, "n_params");
    e->n_ctx_train = (uint32_t)get_u64(o, "n_ctx_train");
    e->added = (int64_t)get_u64(o, "added");
    if (e->sha256[0] && !valid_sha(e->sha256)) {
        rc = err_setf(err, UH_EFORMAT, "%s: bad sha256", path);
        goto out;
    }
    if (!e->path[0]) {
        if (!e->sha256[0]) {
            rc = err_setf(err, UH_EFORMAT, "%s: neither sha256 nor path", path);
            goto out;
        }
        if (store_blob_path(s, e->sha256, e->path, sizeof e->path) != 0) {
            rc = err_setf(err, UH_ELIMIT, "%s: blob path too long", path);
            goto out;
        }
    }
    struct stat st;
    if (!check_file) goto out;
    if (stat(e->path, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = err_setf(err, UH_EIO, "%s:%s: model file %s is gone", name, tag, e->path);
        goto out;
    }
    if ((uint64_t)st.st_size != e->size) {
        rc = err_setf(err, UH_EIO, "%s:%s: %s has %llu bytes, the manifest says %llu", name, tag,
                      e->path, (unsigned long long)st.st_size, (unsigned long long)e->size);
        goto out;
    }
out:
    cJSON_Delete(o);
    return rc;
}

int store_lookup(store *s, const char *name, const char *tag, store_entry *out, uh_err *err)
{
    if (!valid_name(name) || !valid_tag(tag))
        return err_setf(err, UH_EINVAL, "bad model name %s:%s", name, tag);
    return read_manifest(s, name, tag, out, 1, err);
}

typedef struct {
    store_entry *v;
    int n;
    size_t cap;
    int oom;
} entry_vec;

static void vec_push(entry_vec *vec, const store_entry *e)
{
    if (buf_grow_array((void **)&vec->v, &vec->cap, (size_t)vec->n + 1, sizeof *vec->v) != 0) {
        vec->oom = 1;
        return;
    }
    vec->v[vec->n++] = *e;
}

/* Walks manifests/<rel>: directories are name segments, "<tag>.json" files are manifests. */
static void walk(const store *s, const char *rel, int depth, entry_vec *vec)
{
    char dir[4400];
    snprintf(dir, sizeof dir, "%s%s%s", s->manifests, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *fn = de->d_name;
        if (fn[0] == '.') continue; /* ".", "..", temporary files */
        char sub[STORE_MAX_NAME + 2];
        int n = snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", fn);
        if (n < 0 || (size_t)n >= sizeof sub) continue;
        char full[4400];
        n = snprintf(full, sizeof full, "%s/%s", dir, fn);
        struct stat st;
        if (n < 0 || (size_t)n >= sizeof full || lstat(full, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < MANIFEST_DEPTH && valid_name(sub)) walk(s, sub, depth + 1, vec);
            continue;
        }
        size_t fl = strlen(fn);
        if (!S_ISREG(st.st_mode) || fl <= 5 || strcmp(fn + fl - 5, ".json") != 0 || !rel[0])
            continue;
        char tag[STORE_MAX_TAG + 1];
        if (fl - 5 > STORE_MAX_TAG) continue;
        memcpy(tag, fn, fl - 5);
        tag[fl - 5] = 0;
        if (!valid_tag(tag)) continue;
        store_entry e;
        uh_err err = {0};
        if (read_manifest(s, rel, tag, &e, 1, &err) != 0) {
            log_warn("store_manifest_skipped", "model=%s:%s msg=\"%s\"", rel, tag, err.msg);
            continue;
        }
        vec_push(vec, &e);
    }
    closedir(d);
}

static int cmp_entry(const void *a, const void *b)
{
    const store_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->tag, y->tag);
}

int store_list(store *s, store_entry **entries, int *n, uh_err *err)
{
    entry_vec vec = {0};
    walk(s, "", 1, &vec);
    if (vec.oom) {
        free(vec.v);
        return err_setf(err, UH_ENOMEM, "out of memory listing models");
    }
    if (vec.n > 1) qsort(vec.v, (size_t)vec.n, sizeof *vec.v, cmp_entry);
    *entries = vec.v;
    *n = vec.n;
    return UH_OK;
}

static char *manifest_json(const store_entry *e)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "name", e->name);
    cJSON_AddStringToObject(o, "tag", e->tag);
    if (e->sha256[0])
        cJSON_AddStringToObject(o, "sha256", e->sha256);
    else
        cJSON_AddNullToObject(o, "sha256");
    if (e->path[0]) cJSON_AddStringToObject(o, "path", e->path);
    cJSON_AddNumberToObject(o, "size", (double)e->size);
    cJSON_AddStringToObject(o, "source", e->source);
    cJSON_AddStringToObject(o, "arch", e->arch);
    cJSON_AddStringToObject(o, "quant", e->quant);
    cJSON_AddNumberToObject(o, "n_params", (double)e->n_params);
    cJSON_AddNumberToObject(o, "n_ctx_train", (double)e->n_ctx_train);
    cJSON_AddStringToObject(o, "license", e->license);
    cJSON_AddNumberToObject(o, "added", (double)(e->added ? e->added : clock_wall_s()));
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    return txt;
}

/* Number of manifests that use blob sha (any name:tag). Caller holds the lock. */
static int blob_refs(const store *s, const char *sha)
{
    entry_vec vec = {0};
    walk(s, "", 1, &vec);
    int refs = 0;
    for (int i = 0; i < vec.n; i++) refs += strcmp(vec.v[i].sha256, sha) == 0;
    free(vec.v);
    return vec.oom ? 1 : refs; /* when in doubt, keep the blob */
}

/* Removes blob sha if no manifest uses it. Caller holds the lock. */
static void collect_blob(store *s, const char *sha)
{
    char p[4400];
    if (!sha[0] || store_blob_path(s, sha, p, sizeof p) != 0 || blob_refs(s, sha) > 0) return;
    if (unlink(p) == 0) {
        fsync_dir(s->blobs);
        log_info("store_blob_removed", "sha256=%s", sha);
    }
}

int store_put_manifest(store *s, const store_entry *e, uh_err *err)
{
    if (!valid_name(e->name) || !valid_tag(e->tag))
        return err_setf(err, UH_EINVAL, "bad model name %s:%s", e->name, e->tag);
    if (e->sha256[0] && !valid_sha(e->sha256))
        return err_setf(err, UH_EINVAL, "bad sha256 '%s'", e->sha256);
    store_entry w = *e;
    char blob[4400] = "";
    if (w.sha256[0] && store_blob_path(s, w.sha256, blob, sizeof blob) != 0)
        return err_setf(err, UH_ELIMIT, "blob path too long");
    /* a file inside the store is named by its digest, never by path */
    if (w.path[0] && blob[0] && strcmp(w.path, blob) == 0) w.path[0] = 0;
    if (!w.sha256[0] && !w.path[0]) return err_setf(err, UH_EINVAL, "manifest without a file");
    int lk = lock_store(s);
    if (lk < 0) return err_setf(err, UH_EIO, "lock %s: %s", s->root, strerror(errno));
    int rc;
    char *txt = NULL;
    struct stat st;
    const char *file = w.path[0] ? w.path : blob;
    if (stat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = err_setf(err, UH_ENOTFOUND, "%s: %s", file, strerror(errno ? errno : ENOENT));
        goto out;
    }
    w.size = (uint64_t)st.st_size;
    store_entry old;
    uh_err e2;
    int had_old = read_manifest(s, w.name, w.tag, &old, 0, &e2) == 0;
    char dir[4400];
    snprintf(dir, sizeof dir, "%s/%s", s->manifests, w.name);
    if (mkdir_parents(dir) != 0) {
        rc = err_setf(err, UH_EIO, "create %s: %s", dir, strerror(errno));
        goto out;
    }
    if (!(txt = manifest_json(&w))) {
        rc = err_setf(err, UH_ENOMEM, "out of memory");
        goto out;
    }
    char path[4500];
    snprintf(path, sizeof path, "%s/%s.json", dir, w.tag);
    if ((rc = file_write_atomic(path, txt, strlen(txt), 0600, err)) != 0) goto out;
    if (had_old && old.sha256[0] && strcmp(old.sha256, w.sha256) != 0) collect_blob(s, old.sha256);
out:
    free(txt);
    unlock_store(lk);
    return rc;
}

int store_remove(store *s, const char *name, const char *tag, uh_err *err)
{
    if (!valid_name(name) || !valid_tag(tag))
        return err_setf(err, UH_EINVAL, "bad model name %s:%s", name, tag);
    int lk = lock_store(s);
    if (lk < 0) return err_setf(err, UH_EIO, "lock %s: %s", s->root, strerror(errno));
    int rc = UH_OK;
    char path[4400], sha[65] = "";
    snprintf(path, sizeof path, "%s/%s/%s.json", s->manifests, name, tag);
    store_entry e;
    uh_err e2;
    if (read_manifest(s, name, tag, &e, 0, &e2) == 0) snprintf(sha, sizeof sha, "%s", e.sha256);
    if (unlink(path) != 0) {
        rc = errno == ENOENT ? err_setf(err, UH_ENOTFOUND, "no model %s:%s", name, tag)
                             : err_setf(err, UH_EIO, "remove %s: %s", path, strerror(errno));
        goto out;
    }
    /* drop now-empty name directories, innermost first */
    char dir[4400];
    snprintf(dir, sizeof dir, "%s/%s", s->manifests, name);
    fsync_dir(dir);
    size_t root_len = strlen(s->manifests);
    while (strlen(dir) > root_len && rmdir(dir) == 0) {
        char *slash = strrchr(dir, '/');
        if (!slash) break;
        *slash = 0;
    }
    collect_blob(s, sha);
out:
    unlock_store(lk);
    return rc;
}
