/* test_threadpool.c - the worker pool: every share of every job runs exactly once, the caller
 * sees the workers' plain (non-atomic) writes when tp_run returns, workers that fell asleep wake
 * up, and more threads than cores still finish. Also built with -fsanitize=thread by the
 * Makefile, so a missing happens-before edge in the protocol shows up as a data race. */
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/threadpool.h"
#include "check.h"

#define MAX_T 16

typedef struct {
    int nth_seen[MAX_T]; /* plain ints: each written by one thread per job */
    int calls[MAX_T];
    int bad_nth;
} count_job;

static void count_fn(void *ctx, int ith, int nth)
{
    count_job *j = ctx;
    if (ith < 0 || ith >= MAX_T) {
        j->bad_nth = 1; /* only reachable through a broken pool; the race is then the lesser bug */
        return;
    }
    j->calls[ith]++;
    j->nth_seen[ith] = nth;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void check_counts(const count_job *j, int nth, int runs)
{
    CHECK(!j->bad_nth);
    for (int i = 0; i < nth; i++) {
        CHECKF(j->calls[i] == runs, "thread %d ran %d of %d jobs", i, j->calls[i], runs);
        CHECK(j->nth_seen[i] == nth);
    }
    for (int i = nth; i < MAX_T; i++) CHECK(j->calls[i] == 0);
}

static void test_every_share_runs_once(void)
{
    for (int nth = 1; nth <= 5; nth++) {
        tp_pool *p = tp_new(nth);
        CHECK(p && tp_n_threads(p) == nth);
        if (!p) continue;
        count_job j = {{0}, {0}, 0};
        const int runs = 2000;
        for (int r = 0; r < runs; r++) tp_run(p, count_fn, &j);
        check_counts(&j, nth, runs);
        tp_free(p);
    }
}

/* Between jobs longer than the spin window the workers sleep; the next job must wake them. */
static void test_sleeping_workers_wake(void)
{
    tp_pool *p = tp_new(3);
    CHECK(p != NULL);
    if (!p) return;
    count_job j = {{0}, {0}, 0};
    for (int r = 0; r < 5; r++) {
        tp_run(p, count_fn, &j);
        sleep_ms(20);
    }
    check_counts(&j, 3, 5);
    tp_free(p);
}

/* Spins n iterations of nothing, as a job of varying length. */
static void busy(unsigned n)
{
    for (volatile unsigned k = 0; k < n; k++) {
    }
}

static void uneven_fn(void *ctx, int ith, int nth)
{
    (void)nth;
    count_job *j = ctx;
    j->calls[ith]++;
    busy((unsigned)ith * 37u);
}

/* Gaps between jobs scattered around the spin window, so that publishing races the worker on its
 * way to sleep and the worker's finish races the caller on its way to sleep, many thousand times
 * (for 3 seconds): a lost wake-up hangs here, and the alarm in main turns that into a failure. */
static void test_sleep_wake_races(void)
{
    tp_pool *p = tp_new(2);
    CHECK(p != NULL);
    if (!p) return;
    count_job j = {{0}, {0}, 0};
    int runs = 0;
    double t_end = clock_mono_s() + 3.0;
    for (unsigned r = 0; r < 100000 && clock_mono_s() < t_end; r++, runs++) {
        tp_run(p, uneven_fn, &j);
        if (r % 3 == 0)
            nanosleep(&(struct timespec){0, 50000}, NULL);
        else
            busy(r * 7919u % 30000u);
    }
    for (int i = 0; i < 2; i++) CHECK(j.calls[i] == runs);
    printf("  %d jobs\n", runs);
    tp_free(p);
}

typedef struct {
    const uint32_t *in;
    int n;
    uint64_t part[MAX_T];
    uint32_t *out;
} sum_job;

static void sum_fn(void *ctx, int ith, int nth)
{
    sum_job *j = ctx;
    int b, e;
    tp_split(j->n, ith, nth, &b, &e);
    uint64_t s = 0;
    for (int i = b; i < e; i++) {
        s += j->in[i];
        j->out[i] = j->in[i] * 3u;
    }
    j->part[ith] = s;
}

/* Plain writes of the workers are visible to the caller after tp_run, and successive jobs see
 * each other's results (the buffer is rewritten from its own output each round). */
static void test_results_visible(void)
{
    enum { N = 100003 };
    uint32_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    CHECK(a && b);
    if (!a || !b) goto out;
    for (int i = 0; i < N; i++) a[i] = (uint32_t)i * 2654435761u;
    tp_pool *p = tp_new(4); /* more threads than this test may have cores */
    CHECK(p != NULL);
    for (int round = 0; p && round < 50; round++) {
        uint64_t want = 0;
        for (int i = 0; i < N; i++) want += a[i];
        sum_job j = {.in = a, .n = N, .out = b};
        tp_run(p, sum_fn, &j);
        uint64_t got = 0;
        for (int i = 0; i < 4; i++) got += j.part[i];
        CHECK(got == want);
        int ok = 1;
        for (int i = 0; i < N; i++) ok &= b[i] == a[i] * 3u;
        CHECK(ok);
        uint32_t *t = a;
        a = b, b = t;
    }
    tp_free(p);
out:
    free(a);
    free(b);
}

static void test_split_covers(void)
{
    for (int n = 0; n < 40; n++)
        for (int nth = 1; nth <= 7; nth++) {
            int next = 0, ok = 1;
            for (int i = 0; i < nth; i++) {
                int b, e;
                tp_split(n, i, nth, &b, &e);
                ok &= b == next && e >= b && e - b <= n / nth + 1 && e - b >= n / nth;
                next = e;
            }
            CHECKF(ok && next == n, "split of %d over %d", n, nth);
        }
}

static void test_defaults_and_free(void)
{
    CHECK(tp_default_threads() >= 1);
    tp_pool *p = tp_new(0);
    CHECK(p && tp_n_threads(p) == tp_default_threads());
    tp_free(p);
    tp_free(NULL);
    /* pools that never ran a job shut down cleanly */
    for (int i = 0; i < 20; i++) tp_free(tp_new(3));
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL hung (a lost wake-up?)\n";
    if (write(1, msg, sizeof msg - 1) < 0) _exit(2);
    _exit(1);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    signal(SIGALRM, on_alarm);
    alarm(120);
    T_RUN(test_every_share_runs_once);
    T_RUN(test_sleeping_workers_wake);
    T_RUN(test_sleep_wake_races);
    T_RUN(test_results_visible);
    T_RUN(test_split_covers);
    T_RUN(test_defaults_and_free);
    return t_exit();
}
