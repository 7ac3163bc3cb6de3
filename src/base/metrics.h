/* metrics.h - a small Prometheus metrics registry: counters, gauges and histograms, each a family
 * with a fixed list of label names and one series per distinct tuple of label values.
 *
 * Output is the Prometheus text exposition format 0.0.4 (what `promtool check metrics` reads):
 *   # HELP <name> <help>
 *   # TYPE <name> counter|gauge|histogram
 *   <name>{l1="v1",l2="v2"} <value>
 * Histograms add <name>_bucket{...,le="<bound>"} (cumulative, ending with le="+Inf"),
 * <name>_sum and <name>_count. Label values are escaped (\\, \", \n).
 *
 * Threading: every function may be called from any thread; each family has its own lock, and
 * families are only ever added (never removed) until metrics_free.
 * Ownership: the registry owns its families; a metrics_family pointer stays valid until
 * metrics_free. Names, help and label strings are copied.
 * Caps: METRICS_MAX_FAMILIES families, METRICS_MAX_SERIES series per family (observations for a
 * new series past the cap are counted under the label values "other"), label values are cut to
 * METRICS_MAX_LABEL_VALUE bytes. Label values must never come unfiltered from the network: use
 * route patterns, status codes, model names from the store. */
#ifndef UH_BASE_METRICS_H
#define UH_BASE_METRICS_H

#include <stddef.h>

#define METRICS_MAX_FAMILIES    128
#define METRICS_MAX_SERIES      256
#define METRICS_MAX_LABELS      4
#define METRICS_MAX_BUCKETS     32
#define METRICS_MAX_LABEL_VALUE 128

typedef struct metrics_registry metrics_registry;
typedef struct metrics_family metrics_family;

metrics_registry *metrics_new(void);
void metrics_free(metrics_registry *r);

/* Adds a family. name must match [a-zA-Z_:][a-zA-Z0-9_:]* and be unique in the registry; labels
 * is a comma-separated list of label names ("route,code") or NULL for none. Returns NULL on a bad
 * or duplicate name, too many labels or families, or no memory. */
metrics_family *metrics_counter(metrics_registry *r, const char *name, const char *help,
                                const char *labels);
metrics_family *metrics_gauge(metrics_registry *r, const char *name, const char *help,
                              const char *labels);
/* bounds: n_bounds (1..METRICS_MAX_BUCKETS) strictly increasing finite upper bounds; the +Inf
 * bucket is implicit. */
metrics_family *metrics_histogram(metrics_registry *r, const char *name, const char *help,
                                  const char *labels, const double *bounds, int n_bounds);

/* values: one string per label name of the family (NULL when it has none). f may be NULL (the
 * calls do nothing), so a failed registration never crashes the code that observes. */
void metrics_add(metrics_family *f, const char *const *values, double v); /* counter (v>=0), gauge */
void metrics_set(metrics_family *f, const char *const *values, double v); /* gauge */
void metrics_observe(metrics_family *f, const char *const *values, double v); /* histogram */

/* Renders every family in registration order into a malloc'd NUL-terminated text; *len gets
 * its length. Returns 0 or UH_ENOMEM. */
int metrics_render(metrics_registry *r, char **out, size_t *len);

#endif
