/* metrics.c - Prometheus metrics registry and text exposition (see metrics.h). */
#include "base/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "unhosted_base.h"

enum metrics_type { M_COUNTER, M_GAUGE, M_HISTOGRAM };

typedef struct {
    char values[METRICS_MAX_LABELS][METRICS_MAX_LABEL_VALUE + 1];
    double value;                          /* counter, gauge */
    uint64_t buckets[METRICS_MAX_BUCKETS]; /* histogram: per bucket (not cumulative) */
    uint64_t count;                        /* histogram: all observations (the +Inf bucket) */
    double sum;
} metrics_series;

struct metrics_family {
    pthread_mutex_t lock;
    enum metrics_type type;
    char name[128];
    char help[256];
    char labels[METRICS_MAX_LABELS][64];
    int n_labels;
    double bounds[METRICS_MAX_BUCKETS];
    int n_bounds;
    metrics_series **series;
    int n_series;
    size_t cap_series;
};

struct metrics_registry {
    pthread_mutex_t lock;
    metrics_family *fam[METRICS_MAX_FAMILIES];
    int n_fam;
};

metrics_registry *metrics_new(void)
{
    metrics_registry *r = calloc(1, sizeof *r);
    if (r) pthread_mutex_init(&r->lock, NULL);
    return r;
}

void metrics_free(metrics_registry *r)
{
    if (!r) return;
    for (int i = 0; i < r->n_fam; i++) {
        metrics_family *f = r->fam[i];
        for (int s = 0; s < f->n_series; s++) free(f->series[s]);
        free(f->series);
        pthread_mutex_destroy(&f->lock);
        free(f);
    }
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static int valid_name(const char *s, int allow_colon)
{
    if (!s || !*s || strlen(s) >= 64) return 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok) return 0;
    }
    return 1;
}

static metrics_family *add_family(metrics_registry *r, enum metrics_type type, const char *name,
                                  const char *help, const char *labels)
{
    if (!r || !valid_name(name, 1) || strlen(name) >= sizeof ((metrics_family *)0)->name)
        return NULL;
    metrics_family *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->type = type;
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->help, sizeof f->help, "%s", help ? help : "");
    for (char *p = f->help; *p; p++) /* HELP is one line */
        if (*p == '\n' || *p == '\\') *p = ' ';
    if (labels && *labels) {
        const char *p = labels;
        while (*p) {
            const char *e = strchr(p, ',');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            if (f->n_labels == METRICS_MAX_LABELS || n == 0 || n >= sizeof f->labels[0]) goto fail;
            memcpy(f->labels[f->n_labels], p, n);
            f->labels[f->n_labels][n] = 0;
            if (!valid_name(f->labels[f->n_labels], 0) || !strcmp(f->labels[f->n_labels], "le"))
                goto fail;
            f->n_labels++;
            p += n + (e != NULL);
        }
    }
    pthread_mutex_lock(&r->lock);
    int ok = r->n_fam < METRICS_MAX_FAMILIES;
    for (int i = 0; ok && i < r->n_fam; i++)
        if (!strcmp(r->fam[i]->name, name)) ok = 0;
    if (ok) {
        pthread_mutex_init(&f->lock, NULL);
        r->fam[r->n_fam++] = f;
    }
    pthread_mutex_unlock(&r->lock);
    if (!ok) goto fail;
    return f;
fail:
    free(f);
    return NULL;
}

metrics_family *metrics_counter(metrics_registry *r, const char *name, const char *help,
                                const char *labels)
{
    return add_family(r, M_COUNTER, name, help, labels);
}

metrics_family *metrics_gauge(metrics_registry *r, const char *name, const char *help,
                              const char *labels)
{
    return add_family(r, M_GAUGE, name, help, labels);
}

metrics_family *metrics_histogram(metrics_registry *r, const char *name, const char *help,
                                  const char *labels, const double *bounds, int n_bounds)
{
    if (!bounds || n_bounds < 1 || n_bounds > METRICS_MAX_BUCKETS) return NULL;
    for (int i = 0; i < n_bounds; i++)
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) return NULL;
    metrics_family *f = add_family(r, M_HISTOGRAM, name, help, labels);
    if (!f) return NULL;
    pthread_mutex_lock(&f->lock);
    memcpy(f->bounds, bounds, (size_t)n_bounds * sizeof *bounds);
    f->n_bounds = n_bounds;
    pthread_mutex_unlock(&f->lock);
    return f;
}

/* The series for values, created if new; "other" for every label past the series cap. Called
 * with f->lock held; NULL only when out of memory. */
static metrics_series *find_series(metrics_family *f, const char *const *values)
{
    static const char *const other[METRICS_MAX_LABELS] = {"other", "other", "other", "other"};
    for (int pass = 0; pass < 2; pass++) {
        for (int s = 0; s < f->n_series; s++) {
            int eq = 1;
            for (int l = 0; eq && l < f->n_labels; l++)
                eq = !strncmp(f->series[s]->values[l], values[l] ? values[l] : "",
                              METRICS_MAX_LABEL_VALUE);
            if (eq) return f->series[s];
        }
        if (f->n_series < METRICS_MAX_SERIES - 1 || (pass == 1 && f->n_series < METRICS_MAX_SERIES))
            break;
        values = other; /* the last slot is reserved for "other" */
    }
    if (buf_grow_array((void **)&f->series, &f->cap_series, (size_t)f->n_series + 1,
                       sizeof *f->series) != 0)
        return NULL;
    metrics_series *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    for (int l = 0; l < f->n_labels; l++)
        snprintf(s->values[l], sizeof s->values[l], "%s", values[l] ? values[l] : "");
    f->series[f->n_series++] = s;
    return s;
}

static void update(metrics_family *f, const char *const *values, double v, int op)
{
    static const char *const none[1] = {NULL};
    if (!f || isnan(v)) return;
    pthread_mutex_lock(&f->lock);
    metrics_series *s = find_series(f, values ? values : none);
    if (s) {
        if (op == 0 && (f->type == M_GAUGE || (f->type == M_COUNTER && v >= 0)))
            s->value += v;
        else if (op == 1 && f->type == M_GAUGE)
            s->value = v;
        else if (op == 2 && f->type == M_HISTOGRAM) {
            for (int b = 0; b < f->n_bounds; b++)
                if (v <= f->bounds[b]) {
                    s->buckets[b]++;
                    break;
                }
            s->count++;
            s->sum += v;
        }
    }
    pthread_mutex_unlock(&f->lock);
}

void metrics_add(metrics_family *f, const char *const *values, double v) { update(f, values, v, 0); }
void metrics_set(metrics_family *f, const char *const *values, double v) { update(f, values, v, 1); }
void metrics_observe(metrics_family *f, const char *const *values, double v)
{
    update(f, values, v, 2);
}

/* ---- rendering ---- */

typedef struct {
    buf_t b;
    int oom; /* an append failed: the output is incomplete */
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    if (b->oom) return; /* the first failure sticks: no output with a hole in it */
    va_list ap;
    va_start(ap, fmt);
    if (buf_vprintf(&b->b, fmt, ap) != 0) b->oom = 1;
    va_end(ap);
}

static void sb_value(strbuf *b, double v)
{
    if (isinf(v))
        sb_printf(b, v > 0 ? "+Inf" : "-Inf");
    else
        sb_printf(b, "%.17g", v);
}

/* {l1="v1",...[,le="x"]} or nothing when there are no labels at all. */
static void sb_labels(strbuf *b, const metrics_family *f, const metrics_series *s, const char *le)
{
    if (f->n_labels == 0 && !le) return;
    sb_printf(b, "{");
    for (int l = 0; l < f->n_labels; l++) {
        sb_printf(b, "%s%s=\"", l ? "," : "", f->labels[l]);
        for (const char *p = s->values[l]; *p; p++) {
            if (*p == '\\' || *p == '"')
                sb_printf(b, "\\%c", *p);
            else if (*p == '\n')
                sb_printf(b, "\\n");
            else
                sb_printf(b, "%c", *p);
        }
        sb_printf(b, "\"");
    }
    if (le) sb_printf(b, "%sle=\"%s\"", f->n_labels ? "," : "", le);
    sb_printf(b, "}");
}

static void render_family(strbuf *b, metrics_family *f)
{
    static const char *const tname[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&f->lock);
    sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, tname[f->type]);
    if (f->n_series == 0 && f->n_labels == 0 && f->type != M_HISTOGRAM) {
        sb_printf(b, "%s 0\n", f->name); /* an unlabelled counter/gauge exists from the start */
    }
    for (int i = 0; i < f->n_series; i++) {
        const metrics_series *s = f->series[i];
        if (f->type != M_HISTOGRAM) {
            sb_printf(b, "%s", f->name);
            sb_labels(b, f, s, NULL);
            sb_printf(b, " ");
            sb_value(b, s->value);
            sb_printf(b, "\n");
            continue;
        }
        uint64_t cum = 0;
        for (int k = 0; k <= f->n_bounds; k++) {
            char le[40];
            if (k < f->n_bounds) {
                cum += s->buckets[k];
                snprintf(le, sizeof le, "%.15g", f->bounds[k]);
            } else {
                cum = s->count;
                snprintf(le, sizeof le, "+Inf");
            }
            sb_printf(b, "%s_bucket", f->name);
            sb_labels(b, f, s, le);
            sb_printf(b, " %llu\n", (unsigned long long)cum);
        }
        sb_printf(b, "%s_sum", f->name);
        sb_labels(b, f, s, NULL);
        sb_printf(b, " ");
        sb_value(b, s->sum);
        sb_printf(b, "\n%s_count", f->name);
        sb_labels(b, f, s, NULL);
        sb_printf(b, " %llu\n", (unsigned long long)s->count);
    }
    pthread_mutex_unlock(&f->lock);
}

int metrics_render(metrics_registry *r, char **out, size_t *len)
{
    strbuf b = {.oom = 0};
    buf_init(&b.b, 0);
    *out = NULL;
    pthread_mutex_lock(&r->lock);
    int n = r->n_fam;
    pthread_mutex_unlock(&r->lock);
    for (int i = 0; i < n; i++) render_family(&b, r->fam[i]); /* fam[i] is never moved */
    if (b.oom || !(*out = buf_steal(&b.b, len))) {
        buf_fini(&b.b);
        return UH_ENOMEM;
    }
    return UH_OK;
}
