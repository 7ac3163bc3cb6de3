/* sampler.c - next-token selection: penalties, then top-k, top-p, min-p, temperature, and a
 * draw from the explicit-state RNG (so a seed repeats exactly).
 *
 * Order (the common one, so settings mean what users expect from other engines):
 *   1. repetition penalty (positive logits divided, negative multiplied), frequency penalty
 *      (count x f) and presence penalty (once) over the last repeat_last_n accepted tokens;
 *   2. temperature <= 0: argmax (ties -> lowest id);
 *   3. top-k, then top-p (smallest prefix of the sorted distribution with mass >= p), then
 *      min-p (drop tokens whose probability < min_p x the top one);
 *   4. softmax at the temperature over the survivors, draw. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/rng.h"
#include "unhosted.h"

typedef struct cand_s {
    float logit;
    int id;
} cand;

struct uh_sampler {
    uh_sampler_params p;
    int n_vocab;
    rng_state rng;
    uh_token *hist; /* ring of the last hist_cap accepted tokens */
    int hist_cap, hist_n, hist_head;
    int *count;     /* [n_vocab] occurrences in the window (scratch) */
    float *logit;   /* [n_vocab] penalised logits (scratch) */
    cand *cand;     /* [n_vocab] candidates (scratch) */
};

#define HIST_ALL_CAP 65536

uh_sampler_params uh_sampler_default_params(void)
{
    uh_sampler_params p;
    p.temp = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.freq_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.seed = 0;
    return p;
}

int uh_sampler_new(const uh_sampler_params *p, int n_vocab, uh_sampler **out, uh_err *err)
{
    *out = NULL;
    if (n_vocab <= 0) return err_setf(err, UH_EINVAL, "sampler: n_vocab %d", n_vocab);
    if (!(p->temp == p->temp) || !(p->top_p == p->top_p) || !(p->min_p == p->min_p) ||
        !(p->repeat_penalty > 0))
        return err_setf(err, UH_EINVAL, "sampler: invalid parameter (NaN or repeat_penalty <= 0)");
    uh_sampler *s = calloc(1, sizeof *s);
    if (!s) return err_setf(err, UH_ENOMEM, "sampler: out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->hist_cap = p->repeat_last_n < 0 ? HIST_ALL_CAP : p->repeat_last_n;
    s->hist = malloc(((size_t)s->hist_cap + 1) * sizeof(uh_token));
    s->count = calloc((size_t)n_vocab, sizeof(int));
    s->logit = malloc((size_t)n_vocab * sizeof(float));
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    if (!s->hist || !s->count || !s->logit || !s->cand) {
        uh_sampler_free(s);
        return err_setf(err, UH_ENOMEM, "sampler: out of memory");
    }
    rng_seed(&s->rng, p->seed);
    *out = s;
    return UH_OK;
}

void uh_sampler_free(uh_sampler *s)
{
    if (!s) return;
    free(s->hist);
    free(s->count);
    free(s->logit);
    free(s->cand);
    free(s);
}

void uh_sampler_reset(uh_sampler *s)
{
    s->hist_n = s->hist_head = 0;
    rng_seed(&s->rng, s->p.seed);
}

void uh_sampler_accept(uh_sampler *s, uh_token t)
{
    if (s->hist_cap == 0) return;
    s->hist[s->hist_head] = t;
    s->hist_head = (s->hist_head + 1) % s->hist_cap;
    if (s->hist_n < s->hist_cap) s->hist_n++;
}

static int penalties_apply(const uh_sampler *s)
{
    const uh_sampler_params *p = &s->p;
    return s->hist_n > 0 &&
           (p->repeat_penalty != 1.0f || p->freq_penalty != 0.0f || p->presence_penalty != 0.0f);
}

static void apply_penalties(uh_sampler *s)
{
    const uh_sampler_params *p = &s->p;
    if (!penalties_apply(s)) return;
    for (int i = 0; i < s->hist_n; i++) {
        uh_token t = s->hist[i];
        if (t >= 0 && t < s->n_vocab) s->count[t]++;
    }
    for (int i = 0; i < s->hist_n; i++) {
        uh_token t = s->hist[i];
        if (t < 0 || t >= s->n_vocab || s->count[t] == 0) continue;
        float l = s->logit[t];
        l = l > 0 ? l / p->repeat_penalty : l * p->repeat_penalty;
        l -= (float)s->count[t] * p->freq_penalty + p->presence_penalty;
        s->logit[t] = l;
        s->count[t] = 0; /* each distinct token once; also clears the scratch */
    }
}

/* Descending by logit; ties by ascending id, so the order never depends on the sort. */
static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id - y->id;
}

static int cand_before(cand a, cand b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); }

/* Leaves the k best candidates of c[0..n) in c[0..k), sorted. */
static void top_k_sort(cand *c, int n, int k)
{
    if (k > 128 || k >= n) { /* large k: sort everything */
        qsort(c, (size_t)n, sizeof *c, cand_cmp);
        return;
    }
    /* insertion into a sorted prefix of k: O(n k) with a cheap early reject */
    for (int i = 1; i < n; i++) {
        cand x = c[i];
        int pos = i < k ? i : k - 1;
        if (i >= k) {
            if (!cand_before(x, c[k - 1])) continue;
        }
        while (pos > 0 && cand_before(x, c[pos - 1])) {
            c[pos] = c[pos - 1];
            pos--;
        }
        c[pos] = x;
    }
}

/* The first index of the largest of x[0..n), n >= 1: what `if (x[i] > x[best]) best = i` over
 * i = 1..n-1 gives (NaNs never win; a NaN at 0 does), without that scan's chain of dependent
 * loads: the maximum in 8 independent lanes, then the first index holding it. Greedy decoding
 * runs this once per token between forward passes, where it is serial time. */
static int argmax_first(const float *x, int n)
{
    if (x[0] != x[0]) return 0;
    float m[8];
    for (int j = 0; j < 8; j++) m[j] = x[0];
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
    float mx = m[0];
    for (int j = 1; j < 8; j++) mx = m[j] > mx ? m[j] : mx;
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (i = 0; i < n; i++)
        if (x[i] == mx) return i;
    return 0;
}

uh_token uh_sampler_sample(uh_sampler *s, const float *logits)
{
    const uh_sampler_params *p = &s->p;
    const int n = s->n_vocab;
    if (p->temp <= 0.0f && !penalties_apply(s)) return argmax_first(logits, n);
    memcpy(s->logit, logits, (size_t)n * sizeof(float));
    apply_penalties(s);
    if (p->temp <= 0.0f) return argmax_first(s->logit, n);

    cand *c = s->cand;
    for (int i = 0; i < n; i++) c[i] = (cand){s->logit[i], i};
    int k = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    top_k_sort(c, n, k);

    /* top-p and min-p judge the distribution before temperature, as other engines do */
    const float mx = c[0].logit;
    double sum = 0;
    for (int i = 0; i < k; i++) sum += exp((double)c[i].logit - mx);
    if (p->top_p < 1.0f) {
        double acc = 0;
        for (int i = 0; i < k; i++) {
            acc += exp((double)c[i].logit - mx) / sum;
            if (acc >= p->top_p) {
                k = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) {
        /* p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p) */
        const double floor_l = mx + log((double)p->min_p);
        int keep = 1;
        while (keep < k && c[keep].logit >= floor_l) keep++;
        k = keep;
    }
    const double inv_t = 1.0 / p->temp;
    sum = 0;
    for (int i = 0; i < k; i++) sum += exp(((double)c[i].logit - mx) * inv_t);
    double r = rng_uniform(&s->rng) * sum;
    for (int i = 0; i < k; i++) {
        r -= exp(((double)c[i].logit - mx) * inv_t);
        if (r < 0) return c[i].id;
    }
    return c[k - 1].id;
}
