/* exec_models.c - the model manager of `unhosted serve`: name lookup, loading on demand, LRU
 * unloading under the memory budget, per-model metrics (see exec_models.h). */
#include "exec/models.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "base/sha256.h"
#include "base/log.h"
#include "models/info.h"
#include "models/resolve.h"
#include "models/store.h"

#define EXEC_DEFAULT_MAX_CTX 4096

struct exec_model {
    exec_models *owner;
    char name[EXEC_MAX_MODEL_NAME]; /* metrics label and what listings show */
    char path[4096];
    uh_model *model;
    sched *sched;
    int n_ctx;
    uint64_t bytes; /* file + KV estimate */
    atomic_int in_flight;
    uint64_t last_used;       /* manager clock, under the lock */
    pthread_mutex_t embed_mu; /* one embeddings request at a time per model */
    uh_ctx *embed_ctx;        /* under embed_mu: made by the first embeddings request */
    char fp[EXEC_FP_LEN];     /* which file this is (exec_model_fingerprint) */
};

typedef struct {
    char spec[4096];
    char name[EXEC_MAX_MODEL_NAME];
    char path[4096];
} configured_model;

struct exec_models {
    exec_models_params p;
    pthread_mutex_t mu;
    exec_model *loaded[EXEC_MAX_MODELS];
    int n_loaded;
    uint64_t clock, used;
    configured_model conf[EXEC_MAX_MODELS];
    int n_conf;
    metrics_family *f_requests, *f_rejected, *f_prompt, *f_completion, *f_queue, *f_in_use,
        *f_slots, *f_ttft, *f_gap, *f_loaded, *f_memory;
};

/* ---- lifecycle ---- */

static void make_metrics(exec_models *mm, metrics_registry *r)
{
    static const double ttft_le[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
    static const double gap_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                    0.1,   0.25,   0.5,   1,    2.5,   5};
    if (!r) return;
    mm->f_requests =
        metrics_counter(r, "unhosted_requests_total",
                        "Generation requests finished, by model and finish reason", "model,finish");
    mm->f_rejected =
        metrics_counter(r, "unhosted_requests_rejected_total",
                        "Generation requests refused because the queue was full", "model");
    mm->f_prompt =
        metrics_counter(r, "unhosted_prompt_tokens_total",
                        "Prompt tokens of finished requests (cached ones included)", "model");
    mm->f_completion =
        metrics_counter(r, "unhosted_completion_tokens_total", "Tokens generated", "model");
    mm->f_queue = metrics_gauge(r, "unhosted_queue_depth", "Requests waiting for a slot", "model");
    mm->f_in_use = metrics_gauge(r, "unhosted_kv_slots_in_use",
                                 "KV cache slots holding a running request", "model");
    mm->f_slots =
        metrics_gauge(r, "unhosted_kv_slots", "KV cache slots of the loaded model", "model");
    mm->f_ttft = metrics_histogram(r, "unhosted_time_to_first_token_seconds",
                                   "Time from a request's arrival to its first generated token",
                                   "model", ttft_le, (int)(sizeof ttft_le / sizeof ttft_le[0]));
    mm->f_gap = metrics_histogram(r, "unhosted_token_latency_seconds",
                                  "Time between consecutive generated tokens of a request", "model",
                                  gap_le, (int)(sizeof gap_le / sizeof gap_le[0]));
    mm->f_loaded = metrics_gauge(r, "unhosted_models_loaded", "Models loaded", NULL);
    mm->f_memory = metrics_gauge(r, "unhosted_model_memory_bytes",
                                 "Estimated bytes of loaded models (weights and KV caches)", NULL);
}

int exec_models_new(const exec_models_params *p, metrics_registry *metrics, exec_models **out,
                    uh_err *err)
{
    *out = NULL;
    exec_models *mm = calloc(1, sizeof *mm);
    if (!mm) return err_setf(err, UH_ENOMEM, "out of memory");
    if (p) mm->p = *p;
    if (mm->p.n_slots <= 0) mm->p.n_slots = 4;
    if (mm->p.queue_max <= 0) mm->p.queue_max = 64;
    pthread_mutex_init(&mm->mu, NULL);
    make_metrics(mm, metrics);
    *out = mm;
    return UH_OK;
}

static void model_unload(exec_models *mm, exec_model *m)
{
    const char *lv[] = {m->name};
    metrics_set(mm->f_queue, lv, 0);
    metrics_set(mm->f_in_use, lv, 0);
    metrics_set(mm->f_slots, lv, 0);
    sched_free(m->sched);
    uh_ctx_free(m->embed_ctx);
    pthread_mutex_destroy(&m->embed_mu);
    uh_model_free(m->model);
    mm->used -= m->bytes;
    log_info("serve_unload", "model=%s bytes=%llu", m->name, (unsigned long long)m->bytes);
    free(m);
}

void exec_models_free(exec_models *mm)
{
    if (!mm) return;
    for (int i = 0; i < mm->n_loaded; i++) model_unload(mm, mm->loaded[i]);
    pthread_mutex_destroy(&mm->mu);
    free(mm);
}

/* ---- lookup ---- */

static void base_name(const char *path, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 5 && !strcmp(b + n - 5, ".gguf")) n -= 5;
    if (n >= cap) n = cap - 1;
    memcpy(out, b, n);
    out[n] = 0;
}

/* Under mu. The name and file a spec stands for. from_cli: paths are allowed. */
static int lookup_locked(exec_models *mm, const char *spec, int from_cli, char *name, char *path,
                         store_entry *e, uh_err *err)
{
    for (int i = 0; i < mm->n_conf; i++) {
        if (!strcmp(spec, mm->conf[i].name) || !strcmp(spec, mm->conf[i].spec)) {
            snprintf(name, EXEC_MAX_MODEL_NAME, "%s", mm->conf[i].name);
            snprintf(path, 4096, "%s", mm->conf[i].path);
            if (e) {
                memset(e, 0, sizeof *e);
                snprintf(e->path, sizeof e->path, "%s", path);
            }
            return UH_OK;
        }
    }
    store_entry tmp;
    if (!e) e = &tmp;
    int origin = 0;
    uh_err rerr = {0};
    int rc = models_resolve_entry(spec, e, &origin, &rerr);
    if (rc == 0 && origin == MODELS_FROM_PATH && !from_cli) rc = UH_ENOTFOUND;
    if (rc != 0) {
        if (rc == UH_EINVAL || rc == UH_ENOTFOUND || rc == UH_EUNSUPPORTED) {
            if (!from_cli && origin == MODELS_FROM_PATH)
                return err_setf(err, UH_ENOTFOUND, "The model '%.200s' does not exist", spec);
            return err_setf(err, UH_ENOTFOUND, "The model '%.200s' does not exist: %.200s", spec,
                            rerr.msg);
        }
        return err_setf(err, rc, "%s", rerr.msg);
    }
    if (origin == MODELS_FROM_STORE)
        snprintf(name, EXEC_MAX_MODEL_NAME, "%s:%s", e->name, e->tag);
    else if (origin == MODELS_FROM_PATH)
        base_name(e->path, name, EXEC_MAX_MODEL_NAME);
    else
        snprintf(name, EXEC_MAX_MODEL_NAME, "%s", spec);
    snprintf(path, 4096, "%s", e->path);
    return UH_OK;
}

static exec_model *find_loaded(exec_models *mm, const char *name, const char *path)
{
    for (int i = 0; i < mm->n_loaded; i++) {
        exec_model *m = mm->loaded[i];
        if ((name && !strcmp(m->name, name)) || (path && !strcmp(m->path, path))) return m;
    }
    return NULL;
}

/* ---- loading ---- */

/* Under mu: unloads the least recently used idle model. 0, or -1 when every model is busy. */
static int evict_one(exec_models *mm)
{
    int best = -1;
    for (int i = 0; i < mm->n_loaded; i++) {
        exec_model *m = mm->loaded[i];
        if (atomic_load(&m->in_flight) != 0) continue;
        if (best < 0 || m->last_used < mm->loaded[best]->last_used) best = i;
    }
    if (best < 0) return -1;
    exec_model *m = mm->loaded[best];
    mm->loaded[best] = mm->loaded[--mm->n_loaded];
    model_unload(mm, m);
    return 0;
}

/* SHA-256 of the file size and its first EXEC_FP_HEAD bytes (the GGUF header: vocabulary,
 * shapes and types, then the start of the weights), 16 hex digits. Cheap, and two files that
 * give different tokens for the same ids or different shapes never share it. */
#define EXEC_FP_HEAD (4u << 20)
static void model_fingerprint(const char *path, char out[EXEC_FP_LEN])
{
    out[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) return;
    unsigned char *buf = malloc(1u << 16);
    sha256_state st;
    sha256_init(&st);
    struct stat sb;
    uint64_t size = fstat(fileno(f), &sb) == 0 ? (uint64_t)sb.st_size : 0;
    sha256_update(&st, &size, sizeof size);
    size_t total = 0, got;
    while (buf && total < EXEC_FP_HEAD && (got = fread(buf, 1, 1u << 16, f)) > 0) {
        sha256_update(&st, buf, got);
        total += got;
    }
    fclose(f);
    free(buf);
    unsigned char d[SHA256_BYTES];
    char hex[2 * SHA256_BYTES + 1];
    sha256_final(&st, d);
    sha256_hex(d, hex);
    snprintf(out, EXEC_FP_LEN, "%.16s", hex);
}

static int load_locked(exec_models *mm, const char *name, const char *path, exec_model **out,
                       uh_err *err)
{
    int rc;
    exec_model *m = calloc(1, sizeof *m);
    if (!m) return err_setf(err, UH_ENOMEM, "out of memory");
    m->owner = mm;
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->path, sizeof m->path, "%s", path);
    atomic_init(&m->in_flight, 0);
    pthread_mutex_init(&m->embed_mu, NULL);
    if ((rc = uh_model_load(path, &m->model, err)) != 0) goto fail;
    model_fingerprint(path, m->fp);
    uh_model_info info;
    uh_model_get_info(m->model, &info);
    int train = info.n_ctx_train > 0 ? info.n_ctx_train : EXEC_DEFAULT_MAX_CTX;
    m->n_ctx = mm->p.n_ctx > 0 ? mm->p.n_ctx
                               : (train < EXEC_DEFAULT_MAX_CTX ? train : EXEC_DEFAULT_MAX_CTX);
    struct stat st;
    uint64_t file = stat(path, &st) == 0 ? (uint64_t)st.st_size : info.size_bytes;
    uint64_t kv = (uint64_t)mm->p.n_slots * (uint64_t)m->n_ctx * (uint64_t)info.n_layer * 2u *
                  (uint64_t)info.n_head_kv * (uint64_t)info.head_dim * sizeof(float);
    m->bytes = file + kv;
    if (mm->p.mem_budget && m->bytes > mm->p.mem_budget) {
        rc = err_setf(err, UH_EUNAVAIL,
                      "model '%s' needs about %llu bytes (weights and KV cache), more than the "
                      "memory budget of %llu",
                      name, (unsigned long long)m->bytes, (unsigned long long)mm->p.mem_budget);
        goto fail;
    }
    while ((mm->p.mem_budget && mm->used + m->bytes > mm->p.mem_budget) ||
           mm->n_loaded == EXEC_MAX_MODELS) {
        if (evict_one(mm) != 0) {
            rc = err_setf(err, UH_EUNAVAIL,
                          "not enough memory budget for model '%s' while other models are busy; "
                          "retry later",
                          name);
            goto fail;
        }
    }
    sched_params sp = sched_default_params();
    sp.n_slots = mm->p.n_slots;
    sp.n_ctx = m->n_ctx;
    sp.queue_max = mm->p.queue_max;
    sp.n_threads = mm->p.n_threads;
    if (sp.n_batch < sp.n_slots) sp.n_batch = sp.n_slots;
    if ((rc = sched_new(m->model, &sp, &m->sched, err)) != 0) goto fail;
    mm->used += m->bytes;
    mm->loaded[mm->n_loaded++] = m;
    metrics_set(mm->f_slots, (const char *[]){m->name}, sp.n_slots);
    log_info("serve_load", "model=%s path=%s n_ctx=%d slots=%d bytes=%llu", m->name, path, m->n_ctx,
             sp.n_slots, (unsigned long long)m->bytes);
    *out = m;
    return UH_OK;
fail:
    pthread_mutex_destroy(&m->embed_mu);
    uh_model_free(m->model);
    free(m);
    return rc;
}

int exec_models_add_configured(exec_models *mm, const char *spec, uh_err *err)
{
    char name[EXEC_MAX_MODEL_NAME], path[4096];
    int rc;
    pthread_mutex_lock(&mm->mu);
    if (mm->n_conf == EXEC_MAX_MODELS) {
        rc = err_setf(err, UH_ELIMIT, "at most %d models", EXEC_MAX_MODELS);
        goto out;
    }
    if ((rc = lookup_locked(mm, spec, 1, name, path, NULL, err)) != 0) goto out;
    configured_model *c = &mm->conf[mm->n_conf++];
    snprintf(c->spec, sizeof c->spec, "%s", spec);
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->path, sizeof c->path, "%s", path);
    exec_model *m = find_loaded(mm, NULL, path);
    if (!m) rc = load_locked(mm, name, path, &m, err);
    if (rc == 0) m->last_used = ++mm->clock;
out:
    pthread_mutex_unlock(&mm->mu);
    if (rc != 0) err_prefix(err, rc, "%s", spec);
    return rc;
}

int exec_models_acquire(exec_models *mm, const char *spec, exec_model **out, uh_err *err)
{
    *out = NULL;
    int rc = UH_OK;
    pthread_mutex_lock(&mm->mu);
    exec_model *m = find_loaded(mm, spec, NULL);
    if (!m) {
        char name[EXEC_MAX_MODEL_NAME], path[4096];
        if ((rc = lookup_locked(mm, spec, 0, name, path, NULL, err)) != 0) goto out;
        m = find_loaded(mm, NULL, path);
        if (!m && (rc = load_locked(mm, name, path, &m, err)) != 0) goto out;
    }
    atomic_fetch_add(&m->in_flight, 1);
    m->last_used = ++mm->clock;
    *out = m;
out:
    pthread_mutex_unlock(&mm->mu);
    return rc;
}

void exec_models_done(exec_model *m)
{
    if (m) atomic_fetch_sub(&m->in_flight, 1);
}

const uh_model *exec_model_engine(const exec_model *m)
{
    return m->model;
}
sched *exec_model_sched(const exec_model *m)
{
    return m->sched;
}
const char *exec_model_name(const exec_model *m)
{
    return m->name;
}
int exec_model_n_ctx(const exec_model *m)
{
    return m->n_ctx;
}

int exec_model_embed(exec_model *m, const uh_token *toks, int n, float *out, uh_err *err)
{
    int rc = UH_OK;
    pthread_mutex_lock(&m->embed_mu);
    if (!m->embed_ctx) {
        uh_ctx_params cp = uh_ctx_default_params();
        cp.n_ctx = m->n_ctx;
        cp.n_seq_max = 1;
        cp.n_threads = m->owner->p.n_threads;
        if ((rc = uh_ctx_new(m->model, &cp, &m->embed_ctx, err)) != 0) goto out;
        log_info("serve_embed_ctx", "model=%s n_ctx=%d", m->name, m->n_ctx);
    }
    rc = uh_embed(m->embed_ctx, 0, toks, n, out, err);
out:
    pthread_mutex_unlock(&m->embed_mu);
    return rc;
}

/* ---- metrics ---- */

void exec_model_observe_ttft(exec_model *m, double seconds)
{
    metrics_observe(m->owner->f_ttft, (const char *[]){m->name}, seconds);
}

void exec_model_observe_token_gap(exec_model *m, double seconds)
{
    metrics_observe(m->owner->f_gap, (const char *[]){m->name}, seconds);
}

void exec_model_observe_done(exec_model *m, enum sched_finish finish, const sched_usage *u)
{
    exec_models *mm = m->owner;
    metrics_add(mm->f_requests, (const char *[]){m->name, sched_finish_name(finish)}, 1);
    metrics_add(mm->f_prompt, (const char *[]){m->name}, u->n_prompt);
    metrics_add(mm->f_completion, (const char *[]){m->name}, u->n_completion);
}

void exec_model_observe_rejected(exec_model *m)
{
    metrics_add(m->owner->f_rejected, (const char *[]){m->name}, 1);
}

void exec_models_refresh_metrics(void *ud)
{
    exec_models *mm = ud;
    pthread_mutex_lock(&mm->mu);
    for (int i = 0; i < mm->n_loaded; i++) {
        exec_model *m = mm->loaded[i];
        sched_stats_t st;
        sched_stats(m->sched, &st);
        const char *lv[] = {m->name};
        metrics_set(mm->f_queue, lv, st.queue_depth);
        metrics_set(mm->f_in_use, lv, st.slots_in_use);
        metrics_set(mm->f_slots, lv, st.n_slots);
    }
    metrics_set(mm->f_loaded, NULL, mm->n_loaded);
    metrics_set(mm->f_memory, NULL, (double)mm->used);
    pthread_mutex_unlock(&mm->mu);
}

void exec_models_load(exec_models *mm, int *active, int *slots, int *queued)
{
    *active = *slots = *queued = 0;
    pthread_mutex_lock(&mm->mu);
    for (int i = 0; i < mm->n_loaded; i++) {
        sched_stats_t st;
        sched_stats(mm->loaded[i]->sched, &st);
        *active += st.slots_in_use;
        *slots += st.n_slots;
        *queued += st.queue_depth;
    }
    pthread_mutex_unlock(&mm->mu);
}

/* ---- listing ---- */

static void entry_from_store(const store_entry *s, const char *name, exec_model_entry *e)
{
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->path, sizeof e->path, "%s", s->path);
    e->size = s->size;
    snprintf(e->arch, sizeof e->arch, "%s", s->arch);
    snprintf(e->quant, sizeof e->quant, "%s", s->quant);
    e->n_params = s->n_params;
    e->n_ctx_train = s->n_ctx_train;
    snprintf(e->sha256, sizeof e->sha256, "%s", s->sha256);
    e->added = s->added;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const exec_model_entry *)a)->name, ((const exec_model_entry *)b)->name);
}

int exec_models_list(exec_models *mm, exec_model_entry **entries, int *n, uh_err *err)
{
    *entries = NULL;
    *n = 0;
    store *st = NULL;
    store_entry *se = NULL;
    int n_se = 0;
    if (store_open(&st, NULL) == 0) {
        if (store_list(st, &se, &n_se, NULL) != 0) n_se = 0;
        store_close(st);
    }
    pthread_mutex_lock(&mm->mu);
    int cap = n_se + mm->n_conf + mm->n_loaded;
    exec_model_entry *out = calloc((size_t)(cap ? cap : 1), sizeof *out);
    int k = 0;
    if (out) {
        for (int i = 0; i < mm->n_conf; i++) {
            store_entry s;
            memset(&s, 0, sizeof s);
            models_file_info(mm->conf[i].path, &s, NULL);
            snprintf(s.path, sizeof s.path, "%s", mm->conf[i].path);
            entry_from_store(&s, mm->conf[i].name, &out[k++]);
        }
        for (int i = 0; i < n_se; i++) {
            char name[EXEC_MAX_MODEL_NAME];
            snprintf(name, sizeof name, "%s:%s", se[i].name, se[i].tag);
            entry_from_store(&se[i], name, &out[k++]);
        }
        for (int i = 0; i < mm->n_loaded; i++) {
            store_entry s;
            memset(&s, 0, sizeof s);
            models_file_info(mm->loaded[i]->path, &s, NULL);
            snprintf(s.path, sizeof s.path, "%s", mm->loaded[i]->path);
            entry_from_store(&s, mm->loaded[i]->name, &out[k++]);
        }
    }
    pthread_mutex_unlock(&mm->mu);
    free(se);
    if (!out) return err_setf(err, UH_ENOMEM, "out of memory");
    qsort(out, (size_t)k, sizeof *out, cmp_entry);
    int w = 0;
    for (int i = 0; i < k; i++)
        if (w == 0 || strcmp(out[w - 1].name, out[i].name) != 0) out[w++] = out[i];
    *entries = out;
    *n = w;
    return UH_OK;
}

int exec_models_lookup(exec_models *mm, const char *spec, exec_model_entry *e, uh_err *err)
{
    char name[EXEC_MAX_MODEL_NAME], path[4096];
    store_entry s;
    pthread_mutex_lock(&mm->mu);
    exec_model *m = find_loaded(mm, spec, NULL);
    int rc = UH_OK;
    if (m) {
        memset(&s, 0, sizeof s);
        snprintf(name, sizeof name, "%s", m->name);
        snprintf(path, sizeof path, "%s", m->path);
    } else {
        rc = lookup_locked(mm, spec, 0, name, path, &s, err);
    }
    pthread_mutex_unlock(&mm->mu);
    if (rc != 0) return rc;
    if (!s.arch[0]) models_file_info(path, &s, NULL);
    snprintf(s.path, sizeof s.path, "%s", path);
    entry_from_store(&s, name, e);
    return UH_OK;
}

int exec_models_available(exec_models *mm, const char *spec)
{
    char name[EXEC_MAX_MODEL_NAME], path[4096];
    uh_err err = {0};
    pthread_mutex_lock(&mm->mu);
    int ok = find_loaded(mm, spec, NULL) != NULL ||
             lookup_locked(mm, spec, 0, name, path, NULL, &err) == 0;
    pthread_mutex_unlock(&mm->mu);
    return ok;
}

const char *exec_model_fingerprint(const exec_model *m)
{
    return m->fp;
}
