/* trust.c - the trust store (trust.h): peers.json read strictly, changed under a file lock.
 *
 * Every change takes the store's mutex (threads of this process), then an exclusive flock of
 * peers.lock (other processes, and other stores in this one: flock belongs to the open file),
 * re-reads peers.json, applies the change to what it read and writes the result atomically
 * (file_atomic: a temporary file, fsynced and renamed over peers.json). Readers never lock: a
 * rename is atomic, so a reader sees the old file or the new one. A file stamp (device, inode,
 * size, mtime in ns) taken from the descriptor that was read tells trust_refresh whether the file
 * changed since. */
#include "cluster/trust.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/file.h"
#include "base/paths.h"

#define TRUST_FILE     "peers.json"
#define TRUST_LOCK     "peers.lock"
#define TRUST_FILE_MAX (4u << 20)         /* bytes: 1024 peers take about 600 KB */
#define TRUST_INT_MAX  9007199254740992.0 /* 2^53: integers a JSON double holds exactly */

typedef struct {
    int exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_stamp;

struct trust_store {
    pthread_mutex_t mu;
    char dir[4096];
    char path[4200];
    char lock_path[4200];
    trust_peer *peers; /* [n_peers] */
    int n_peers;
    file_stamp stamp;
};

/* ---- rings ---- */

const char *trust_ring_name(enum trust_ring r)
{
    return r == TRUST_RING_OWN ? "own" : r == TRUST_RING_TRUSTED ? "trusted" : "?";
}

int trust_ring_parse(const char *s, enum trust_ring *out)
{
    if (s && !strcmp(s, "own"))
        *out = TRUST_RING_OWN;
    else if (s && !strcmp(s, "trusted"))
        *out = TRUST_RING_TRUSTED;
    else
        return UH_EINVAL;
    return UH_OK;
}

/* ---- validation ---- */

static int addr_valid(const char *a)
{
    size_t n = strlen(a);
    if (n == 0 || n >= TRUST_ADDR_MAX || !strchr(a, ':')) return 0;
    for (size_t i = 0; i < n; i++)
        if (a[i] <= 0x20 || a[i] >= 0x7f) return 0;
    return 1;
}

/* NULL when p is a valid peer, else the name of the first bad field. */
static const char *peer_invalid(const trust_peer *p)
{
    char canon[DEVICE_ID_STRLEN], from_pk[DEVICE_ID_STRLEN];
    if (memchr(p->id, 0, sizeof p->id) == NULL || device_id_parse(p->id, canon, NULL) != 0 ||
        strcmp(canon, p->id) != 0)
        return "id";
    device_id_from_pk(p->sign_pk, from_pk);
    if (strcmp(from_pk, p->id) != 0) return "sign_pk";
    if (memchr(p->name, 0, sizeof p->name) == NULL || !identity_name_valid(p->name)) return "name";
    if (p->ring != TRUST_RING_OWN && p->ring != TRUST_RING_TRUSTED) return "ring";
    if (p->quota < 0 || (double)p->quota > TRUST_INT_MAX) return "quota";
    if (p->n_addrs < 0 || p->n_addrs > TRUST_MAX_ADDRS) return "addrs";
    for (int i = 0; i < p->n_addrs; i++)
        if (memchr(p->addrs[i], 0, TRUST_ADDR_MAX) == NULL || !addr_valid(p->addrs[i]))
            return "addrs";
    if (p->paired_at < 0 || (double)p->paired_at > TRUST_INT_MAX) return "paired_at";
    if (p->last_seen < 0 || (double)p->last_seen > TRUST_INT_MAX) return "last_seen";
    return NULL;
}

/* ---- reading ---- */

static int bad(uh_err *err, const char *path, int idx, const char *field, const char *why)
{
    return err_setf(err, UH_EFORMAT, "%s: peers[%d].%s: %s (fix or move the file away)", path, idx,
                    field, why);
}

static int get_int(cJSON *obj, const char *key, int64_t *out, const char *path, int idx,
                   uh_err *err)
{
    cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > TRUST_INT_MAX ||
        it->valuedouble != floor(it->valuedouble))
        return bad(err, path, idx, key, "expected a whole number >= 0");
    *out = (int64_t)it->valuedouble;
    return UH_OK;
}

static int get_str(cJSON *obj, const char *key, char *out, size_t cap, const char *path, int idx,
                   uh_err *err)
{
    cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(it)) return bad(err, path, idx, key, "expected a string");
    if (strlen(it->valuestring) >= cap) return bad(err, path, idx, key, "too long");
    snprintf(out, cap, "%s", it->valuestring);
    return UH_OK;
}

static int parse_peer(cJSON *obj, trust_peer *p, const char *path, int idx, uh_err *err)
{
    char pk64[64], ring[16];
    size_t got = 0;
    const char *end = NULL;
    int rc;
    memset(p, 0, sizeof *p);
    if (!cJSON_IsObject(obj)) return bad(err, path, idx, "", "expected an object");
    if ((rc = get_str(obj, "id", p->id, sizeof p->id, path, idx, err)) ||
        (rc = get_str(obj, "sign_pk", pk64, sizeof pk64, path, idx, err)) ||
        (rc = get_str(obj, "name", p->name, sizeof p->name, path, idx, err)) ||
        (rc = get_str(obj, "ring", ring, sizeof ring, path, idx, err)) ||
        (rc = get_int(obj, "quota", &p->quota, path, idx, err)) ||
        (rc = get_int(obj, "paired_at", &p->paired_at, path, idx, err)) ||
        (rc = get_int(obj, "last_seen", &p->last_seen, path, idx, err)))
        return rc;
    if (sodium_base642bin(p->sign_pk, sizeof p->sign_pk, pk64, strlen(pk64), NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != sizeof p->sign_pk || (end && *end))
        return bad(err, path, idx, "sign_pk", "expected 32 bytes of base64");
    if (trust_ring_parse(ring, &p->ring) != 0)
        return bad(err, path, idx, "ring", "expected \"own\" or \"trusted\"");
    cJSON *addrs = cJSON_GetObjectItemCaseSensitive(obj, "addrs");
    if (!cJSON_IsArray(addrs)) return bad(err, path, idx, "addrs", "expected an array");
    cJSON *a;
    cJSON_ArrayForEach(a, addrs)
    {
        if (p->n_addrs == TRUST_MAX_ADDRS) return bad(err, path, idx, "addrs", "too many");
        if (!cJSON_IsString(a) || !addr_valid(a->valuestring))
            return bad(err, path, idx, "addrs", "expected \"HOST:PORT\" strings");
        snprintf(p->addrs[p->n_addrs++], TRUST_ADDR_MAX, "%s", a->valuestring);
    }
    const char *field = peer_invalid(p);
    if (field)
        return bad(err, path, idx, field,
                   !strcmp(field, "sign_pk") ? "does not match the id" : "invalid value");
    return UH_OK;
}

/* Parses a whole file; *out has room for one more peer than *n (for trust_put). */
static int parse_file(const char *text, size_t len, const char *path, trust_peer **out, int *n,
                      uh_err *err)
{
    int rc = UH_OK, count = 0;
    trust_peer *peers = NULL;
    cJSON *root = cJSON_ParseWithLength(text, len);
    cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "peers");
    if (!cJSON_IsObject(root)) {
        rc = err_setf(err, UH_EFORMAT, "%s: not a JSON object (fix or move the file away)", path);
        goto done;
    }
    if (!cJSON_IsNumber(version) || version->valuedouble != 1) {
        rc = err_setf(err, UH_EFORMAT, "%s: version: expected 1", path);
        goto done;
    }
    if (!cJSON_IsArray(list)) {
        rc = err_setf(err, UH_EFORMAT, "%s: peers: expected an array", path);
        goto done;
    }
    int total = cJSON_GetArraySize(list);
    if (total > TRUST_MAX_PEERS) {
        rc = err_setf(err, UH_EFORMAT, "%s: peers: %d entries, at most %d", path, total,
                      TRUST_MAX_PEERS);
        goto done;
    }
    peers = calloc((size_t)total + 1, sizeof *peers);
    if (!peers) {
        rc = err_setf(err, UH_ENOMEM, "out of memory");
        goto done;
    }
    cJSON *obj;
    cJSON_ArrayForEach(obj, list)
    {
        rc = parse_peer(obj, &peers[count], path, count, err);
        if (rc != 0) goto done;
        for (int k = 0; k < count; k++)
            if (!strcmp(peers[k].id, peers[count].id)) {
                rc = bad(err, path, count, "id", "listed twice");
                goto done;
            }
        count++;
    }
done:
    cJSON_Delete(root);
    if (rc != 0) {
        free(peers);
        return rc;
    }
    *out = peers;
    *n = count;
    return UH_OK;
}

static void stamp_of(const struct stat *st, file_stamp *s)
{
    memset(s, 0, sizeof *s);
    s->exists = 1;
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->size = st->st_size;
    s->mtime = st->st_mtim;
}

static int stamp_same(const file_stamp *a, const file_stamp *b)
{
    if (a->exists != b->exists) return 0;
    if (!a->exists) return 1;
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Reads peers.json: a missing file is an empty store. */
static int load_file(const char *path, trust_peer **out, int *n, file_stamp *stamp, uh_err *err)
{
    struct stat st;
    size_t len = 0;
    *out = NULL;
    *n = 0;
    memset(stamp, 0, sizeof *stamp);
    char *buf = malloc(TRUST_FILE_MAX); /* pages past the file's end are never touched */
    if (!buf) return err_setf(err, UH_ENOMEM, "out of memory");
    int rc = file_read_private(path, buf, TRUST_FILE_MAX, &len, &st, err);
    if (rc == UH_ENOTFOUND) {
        free(buf);
        *out = calloc(1, sizeof **out);
        return *out ? UH_OK : err_setf(err, UH_ENOMEM, "out of memory");
    }
    if (rc == 0) rc = parse_file(buf, len, path, out, n, err);
    if (rc == 0) stamp_of(&st, stamp);
    free(buf);
    return rc;
}

/* ---- writing ---- */

static cJSON *peer_json(const trust_peer *p)
{
    char pk64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
    cJSON *o = cJSON_CreateObject();
    cJSON *addrs = cJSON_AddArrayToObject(o, "addrs");
    if (!o || !addrs) {
        cJSON_Delete(o);
        return NULL;
    }
    sodium_bin2base64(pk64, sizeof pk64, p->sign_pk, 32, sodium_base64_VARIANT_ORIGINAL);
    cJSON_AddStringToObject(o, "id", p->id);
    cJSON_AddStringToObject(o, "sign_pk", pk64);
    cJSON_AddStringToObject(o, "name", p->name);
    cJSON_AddStringToObject(o, "ring", trust_ring_name(p->ring));
    cJSON_AddNumberToObject(o, "quota", (double)p->quota);
    for (int i = 0; i < p->n_addrs; i++)
        cJSON_AddItemToArray(addrs, cJSON_CreateString(p->addrs[i]));
    cJSON_AddNumberToObject(o, "paired_at", (double)p->paired_at);
    cJSON_AddNumberToObject(o, "last_seen", (double)p->last_seen);
    return o;
}

static int write_file(trust_store *t, const trust_peer *peers, int n, file_stamp *stamp,
                      uh_err *err)
{
    char *text = NULL;
    int rc = UH_OK;
    cJSON *root = cJSON_CreateObject();
    cJSON *list = root ? cJSON_AddArrayToObject(root, "peers") : NULL;
    if (!list || !cJSON_AddNumberToObject(root, "version", 1)) goto oom;
    for (int i = 0; i < n; i++) {
        cJSON *o = peer_json(&peers[i]);
        if (!o) goto oom;
        cJSON_AddItemToArray(list, o);
    }
    text = cJSON_Print(root);
    if (!text) goto oom;
    file_atomic f;
    struct stat st;
    rc = file_atomic_open(&f, t->path, 0600, err);
    if (rc == 0) rc = file_atomic_write(&f, text, strlen(text), err);
    if (rc == 0) rc = file_atomic_write(&f, "\n", 1, err);
    if (rc != 0)
        file_atomic_abort(&f);
    else
        rc = file_atomic_commit(&f, &st, err);
    if (rc == 0) stamp_of(&st, stamp); /* rename keeps the inode, size and mtime */
    goto done;
oom:
    rc = err_setf(err, UH_ENOMEM, "out of memory");
done:
    free(text);
    cJSON_Delete(root);
    return rc;
}

/* A change applied to freshly read peers (room for n + 1). Returns 1 when it changed something
 * (then the file is written), 0 when not, <0 on error. */
typedef int (*change_fn)(trust_peer *peers, int *n, void *arg, uh_err *err);

static int mutate(trust_store *t, change_fn fn, void *arg, uh_err *err)
{
    trust_peer *fresh = NULL;
    file_stamp stamp;
    int n = 0, rc;
    pthread_mutex_lock(&t->mu);
    int lfd = open(t->lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (lfd < 0) {
        rc = err_setf(err, UH_EIO, "%s: %s", t->lock_path, strerror(errno));
        goto done;
    }
    while ((rc = flock(lfd, LOCK_EX)) != 0 && errno == EINTR) {
    }
    if (rc != 0) {
        rc = err_setf(err, UH_EIO, "cannot lock %s: %s", t->lock_path, strerror(errno));
        goto done;
    }
    rc = load_file(t->path, &fresh, &n, &stamp, err);
    if (rc != 0) goto done;
    rc = fn(fresh, &n, arg, err);
    if (rc == 1) rc = write_file(t, fresh, n, &stamp, err);
    if (rc < 0) goto done;
    free(t->peers);
    t->peers = fresh;
    t->n_peers = n;
    t->stamp = stamp;
    fresh = NULL;
    rc = UH_OK;
done:
    if (lfd >= 0) close(lfd); /* releases the flock */
    pthread_mutex_unlock(&t->mu);
    free(fresh);
    return rc;
}

static int index_of(const trust_peer *peers, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(peers[i].id, id)) return i;
    return -1;
}

/* ---- the store ---- */

int trust_open(const char *dir, trust_store **out, uh_err *err)
{
    *out = NULL;
    if (sodium_init() < 0) return err_setf(err, UH_EIO, "libsodium failed to initialise");
    trust_store *t = calloc(1, sizeof *t);
    if (!t) return err_setf(err, UH_ENOMEM, "out of memory");
    int rc;
    if (!dir) {
        rc = paths_ensure_dir(PATHS_CONFIG, t->dir, sizeof t->dir);
        if (rc != 0) {
            free(t);
            return err_setf(err, rc, "cannot find or create the config directory");
        }
    } else {
        if (strlen(dir) >= sizeof t->dir) {
            free(t);
            return err_setf(err, UH_ELIMIT, "%s: path too long", dir);
        }
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            free(t);
            return err_setf(err, UH_EIO, "cannot create %s: %s", dir, strerror(errno));
        }
        snprintf(t->dir, sizeof t->dir, "%s", dir);
    }
    snprintf(t->path, sizeof t->path, "%s/%s", t->dir, TRUST_FILE);
    snprintf(t->lock_path, sizeof t->lock_path, "%s/%s", t->dir, TRUST_LOCK);
    rc = load_file(t->path, &t->peers, &t->n_peers, &t->stamp, err);
    if (rc != 0) {
        free(t);
        return rc;
    }
    pthread_mutex_init(&t->mu, NULL);
    *out = t;
    return UH_OK;
}

void trust_free(trust_store *t)
{
    if (!t) return;
    pthread_mutex_destroy(&t->mu);
    free(t->peers);
    free(t);
}

int trust_refresh(trust_store *t, uh_err *err)
{
    struct stat st;
    file_stamp now = {0};
    trust_peer *fresh = NULL;
    int n = 0, rc;
    pthread_mutex_lock(&t->mu);
    if (stat(t->path, &st) == 0) {
        stamp_of(&st, &now);
    } else if (errno != ENOENT) {
        rc = err_setf(err, UH_EIO, "%s: %s", t->path, strerror(errno));
        goto done;
    }
    if (stamp_same(&now, &t->stamp)) {
        rc = 0;
        goto done;
    }
    rc = load_file(t->path, &fresh, &n, &now, err);
    if (rc != 0) goto done;
    free(t->peers);
    t->peers = fresh;
    t->n_peers = n;
    t->stamp = now;
    rc = 1;
done:
    pthread_mutex_unlock(&t->mu);
    return rc;
}

int trust_get(trust_store *t, const char *id, trust_peer *out)
{
    pthread_mutex_lock(&t->mu);
    int i = id ? index_of(t->peers, t->n_peers, id) : -1;
    if (i >= 0) *out = t->peers[i];
    pthread_mutex_unlock(&t->mu);
    return i >= 0 ? UH_OK : UH_ENOTFOUND;
}

static int change_put(trust_peer *peers, int *n, void *arg, uh_err *err)
{
    const trust_peer *p = arg;
    int i = index_of(peers, *n, p->id);
    if (i < 0) {
        if (*n >= TRUST_MAX_PEERS)
            return err_setf(err, UH_ELIMIT, "the trust store holds at most %d devices",
                            TRUST_MAX_PEERS);
        i = (*n)++;
    }
    peers[i] = *p;
    return 1;
}

int trust_put(trust_store *t, const trust_peer *p, uh_err *err)
{
    trust_peer copy = *p;
    const char *field = peer_invalid(&copy);
    if (field) return err_setf(err, UH_EINVAL, "peer %.63s: invalid %s", copy.id, field);
    return mutate(t, change_put, &copy, err);
}

static int change_remove(trust_peer *peers, int *n, void *arg, uh_err *err)
{
    const char *id = arg;
    int i = index_of(peers, *n, id);
    if (i < 0) return err_setf(err, UH_ENOTFOUND, "%s is not paired", id);
    memmove(&peers[i], &peers[i + 1], (size_t)(*n - i - 1) * sizeof *peers);
    (*n)--;
    return 1;
}

int trust_remove(trust_store *t, const char *id, uh_err *err)
{
    if (!id) return err_setf(err, UH_EINVAL, "no device id given");
    return mutate(t, change_remove, (void *)id, err);
}

struct seen_arg {
    const char *id;
    const char *addr;
};

static int change_seen(trust_peer *peers, int *n, void *arg, uh_err *err)
{
    (void)err;
    const struct seen_arg *s = arg;
    int i = index_of(peers, *n, s->id);
    if (i < 0) return 0;
    trust_peer *p = &peers[i];
    int k = 0;
    while (k < p->n_addrs && strcmp(p->addrs[k], s->addr) != 0) k++;
    if (k == p->n_addrs) k = p->n_addrs < TRUST_MAX_ADDRS ? p->n_addrs++ : TRUST_MAX_ADDRS - 1;
    memmove(p->addrs[1], p->addrs[0], (size_t)k * TRUST_ADDR_MAX);
    memset(p->addrs[0], 0, TRUST_ADDR_MAX);
    snprintf(p->addrs[0], TRUST_ADDR_MAX, "%s", s->addr);
    p->last_seen = clock_wall_s();
    return 1;
}

int trust_seen(trust_store *t, const char *id, const char *addr, uh_err *err)
{
    if (!id || !addr || !addr_valid(addr))
        return err_setf(err, UH_EINVAL, "address must be HOST:PORT (at most %d characters)",
                        TRUST_ADDR_MAX - 1);
    struct seen_arg s = {id, addr};
    return mutate(t, change_seen, &s, err);
}

int trust_list(trust_store *t, trust_peer **out, int *n, uh_err *err)
{
    pthread_mutex_lock(&t->mu);
    trust_peer *copy = malloc(((size_t)t->n_peers + 1) * sizeof *copy);
    if (copy) {
        memcpy(copy, t->peers, (size_t)t->n_peers * sizeof *copy);
        *n = t->n_peers;
    }
    pthread_mutex_unlock(&t->mu);
    if (!copy) return err_setf(err, UH_ENOMEM, "out of memory");
    *out = copy;
    return UH_OK;
}

/* Upper case, no dashes or spaces, look-alikes mapped as device_id_parse does. */
static size_t normalise(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 1 < cap; s++) {
        char c = *s;
        if (c == '-' || c == ' ') continue;
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        if (c == '0')
            c = 'O';
        else if (c == '1')
            c = 'I';
        else if (c == '8')
            c = 'B';
        out[n++] = c;
    }
    out[n] = 0;
    return n;
}

int trust_find(trust_store *t, const char *prefix, trust_peer *out, uh_err *err)
{
    char want[DEVICE_ID_STRLEN], have[DEVICE_ID_STRLEN];
    size_t len = prefix ? normalise(prefix, want, sizeof want) : 0;
    if (len == 0) return err_setf(err, UH_EINVAL, "no device id given");
    int matches = 0;
    pthread_mutex_lock(&t->mu);
    for (int i = 0; i < t->n_peers; i++) {
        normalise(t->peers[i].id, have, sizeof have);
        if (strncmp(have, want, len) == 0) {
            if (matches++ == 0) *out = t->peers[i];
        }
    }
    pthread_mutex_unlock(&t->mu);
    if (matches == 0) return err_setf(err, UH_ENOTFOUND, "no paired device matches '%s'", prefix);
    if (matches > 1)
        return err_setf(err, UH_EINVAL, "%d paired devices match '%s'; type more of the id",
                        matches, prefix);
    return UH_OK;
}
