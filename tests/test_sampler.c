/* test_sampler.c - sampling: greedy, seeds repeat, each filter narrows the support the way it
 * promises, penalties push repeated tokens down. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "unhosted.h"

#define NV 100

static void make_logits(float *l)
{
    for (int i = 0; i < NV; i++) l[i] = (float)(-0.05 * i); /* token 0 best, smoothly decreasing */
    l[37] = 3.0f;                                           /* the argmax */
    l[38] = 2.9f;
}

static uh_sampler *new_sampler(uh_sampler_params p)
{
    uh_sampler *s = NULL;
    uh_err err = {0};
    CHECKF(uh_sampler_new(&p, NV, &s, &err) == 0, "%s", err.msg);
    return s;
}

static void test_greedy_picks_argmax(void)
{
    float l[NV];
    make_logits(l);
    uh_sampler_params p = uh_sampler_default_params();
    p.temp = 0;
    uh_sampler *s = new_sampler(p);
    CHECK(uh_sampler_sample(s, l) == 37);
    /* ties go to the lowest id */
    l[38] = 3.0f;
    CHECK(uh_sampler_sample(s, l) == 37);
    uh_sampler_free(s);
}

/* Greedy equals the plain scan `if (x[i] > x[best]) best = i` on rows of every length 1..80 with
 * ties, infinities and NaNs (the fast argmax must not change which token wins). */
static void test_greedy_equals_scan(void)
{
    uint32_t r = 12345;
    float l[80];
    int bad = 0;
    for (int trial = 0; trial < 4000; trial++) {
        const int n = 1 + trial % 80;
        for (int i = 0; i < n; i++) {
            r = r * 1664525u + 1013904223u;
            const uint32_t k = r >> 24;
            l[i] = k < 4    ? NAN
                   : k < 8  ? INFINITY
                   : k < 12 ? -INFINITY
                            : (float)((r >> 8) % 7) - 3.0f; /* few values: many ties */
        }
        uh_sampler_params p = uh_sampler_default_params();
        p.temp = 0;
        uh_sampler *s = NULL;
        uh_err err = {0};
        if (uh_sampler_new(&p, n, &s, &err)) {
            CHECKF(0, "%s", err.msg);
            return;
        }
        int best = 0;
        for (int i = 1; i < n; i++)
            if (l[i] > l[best]) best = i;
        const int got = uh_sampler_sample(s, l);
        if (got != best && bad++ < 5) CHECKF(got == best, "n=%d got %d want %d", n, got, best);
        uh_sampler_free(s);
    }
    CHECK(bad == 0);
}

static void test_same_seed_same_tokens(void)
{
    float l[NV];
    make_logits(l);
    uh_sampler_params p = uh_sampler_default_params();
    p.temp = 1.5f;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    p.seed = 1234;
    uh_sampler *a = new_sampler(p), *b = new_sampler(p);
    p.seed = 1235;
    uh_sampler *c = new_sampler(p);
    int same = 1, differs = 0;
    for (int i = 0; i < 200; i++) {
        uh_token x = uh_sampler_sample(a, l), y = uh_sampler_sample(b, l), z = uh_sampler_sample(c, l);
        same &= x == y;
        differs |= x != z;
    }
    CHECK(same);
    CHECK(differs);
    /* reset replays the stream */
    uh_token first[10];
    uh_sampler_reset(a);
    for (int i = 0; i < 10; i++) first[i] = uh_sampler_sample(a, l);
    uh_sampler_reset(a);
    for (int i = 0; i < 10; i++) CHECK(uh_sampler_sample(a, l) == first[i]);
    uh_sampler_free(a);
    uh_sampler_free(b);
    uh_sampler_free(c);
}

static void test_filters_bound_the_support(void)
{
    float l[NV];
    make_logits(l);
    uh_sampler_params p = uh_sampler_default_params();
    p.temp = 5.0f; /* flat: without filters everything would appear */
    p.top_p = 1;
    p.min_p = 0;
    p.top_k = 2;
    uh_sampler *s = new_sampler(p);
    for (int i = 0; i < 500; i++) {
        uh_token t = uh_sampler_sample(s, l);
        CHECK(t == 37 || t == 38);
    }
    uh_sampler_free(s);

    /* top-p: 37 and 38 hold ~ e^3 / (e^3 + e^2.9 + sum e^-0.05i) of the mass at temperature 1 */
    p.top_k = 0;
    p.top_p = 0.3f;
    s = new_sampler(p);
    for (int i = 0; i < 500; i++) {
        uh_token t = uh_sampler_sample(s, l);
        CHECK(t == 37 || t == 38);
    }
    uh_sampler_free(s);

    /* min-p 0.5: only tokens within log(2) of the best survive (37, 38) */
    p.top_p = 1;
    p.min_p = 0.5f;
    s = new_sampler(p);
    int seen38 = 0;
    for (int i = 0; i < 500; i++) {
        uh_token t = uh_sampler_sample(s, l);
        CHECK(t == 37 || t == 38);
        seen38 |= t == 38;
    }
    CHECK(seen38);
    uh_sampler_free(s);
}

static void test_temperature_follows_softmax(void)
{
    float l[NV];
    for (int i = 0; i < NV; i++) l[i] = -20;
    l[0] = 0;
    l[1] = (float)log(3.0); /* p1 = 3 p0 at temperature 1 */
    uh_sampler_params p = uh_sampler_default_params();
    p.temp = 1;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    p.seed = 7;
    uh_sampler *s = new_sampler(p);
    int n1 = 0, n = 20000;
    for (int i = 0; i < n; i++) n1 += uh_sampler_sample(s, l) == 1;
    double f = (double)n1 / n;
    CHECKF(fabs(f - 0.75) < 0.02, "frequency of the 3x token %.3f", f);
    uh_sampler_free(s);
}

static void test_penalties_push_repeats_down(void)
{
    float l[NV];
    make_logits(l);
    uh_sampler_params p = uh_sampler_default_params();
    p.temp = 0;
    p.repeat_penalty = 1.5f; /* 3.0 / 1.5 = 2.0 < 2.9 */
    uh_sampler *s = new_sampler(p);
    uh_sampler_accept(s, 37);
    CHECK(uh_sampler_sample(s, l) == 38);
    uh_sampler_free(s);

    p.repeat_penalty = 1;
    p.presence_penalty = 0.2f;
    s = new_sampler(p);
    uh_sampler_accept(s, 37);
    CHECK(uh_sampler_sample(s, l) == 38); /* 2.8 < 2.9 */
    uh_sampler_free(s);

    p.presence_penalty = 0;
    p.freq_penalty = 0.06f;
    s = new_sampler(p);
    uh_sampler_accept(s, 37);
    CHECK(uh_sampler_sample(s, l) == 37); /* one occurrence: 2.94 > 2.9 */
    uh_sampler_accept(s, 37);
    CHECK(uh_sampler_sample(s, l) == 38); /* two: 2.88 */
    uh_sampler_free(s);

    /* the window forgets */
    p.freq_penalty = 0;
    p.repeat_penalty = 1.5f;
    p.repeat_last_n = 2;
    s = new_sampler(p);
    uh_sampler_accept(s, 37);
    uh_sampler_accept(s, 1);
    uh_sampler_accept(s, 2);
    CHECK(uh_sampler_sample(s, l) == 37);
    uh_sampler_free(s);
}

static void test_bad_params_rejected(void)
{
    uh_sampler_params p = uh_sampler_default_params();
    uh_sampler *s = NULL;
    uh_err err = {0};
    p.temp = NAN;
    CHECK(uh_sampler_new(&p, NV, &s, &err) == UH_EINVAL && s == NULL);
    p = uh_sampler_default_params();
    p.repeat_penalty = 0;
    CHECK(uh_sampler_new(&p, NV, &s, &err) == UH_EINVAL);
    p = uh_sampler_default_params();
    CHECK(uh_sampler_new(&p, 0, &s, &err) == UH_EINVAL);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    T_RUN(test_greedy_picks_argmax);
    T_RUN(test_greedy_equals_scan);
    T_RUN(test_same_seed_same_tokens);
    T_RUN(test_filters_bound_the_support);
    T_RUN(test_temperature_follows_softmax);
    T_RUN(test_penalties_push_repeats_down);
    T_RUN(test_bad_params_rejected);
    return t_exit();
}
