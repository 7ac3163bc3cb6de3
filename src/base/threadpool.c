/* threadpool.c - the persistent worker pool of threadpool.h.
 *
 * Protocol. The caller publishes a job by storing fn/ctx and the countdown `pending`, then
 * incrementing `gen` (release). A worker that sees gen change (acquire) runs its share and
 * decrements `pending` (release); the caller waits until pending is 0 (acquire). Waiters first
 * spin on the atomic, then sleep on a condition variable; a sleeper announces itself in a counter
 * *before* re-checking the atomic under the mutex, and the publisher checks that counter *after*
 * changing the atomic, so either the sleeper sees the change or the publisher sees the sleeper
 * and broadcasts under the mutex: no wake-up is lost. Both sides put a full fence between their
 * write and their read (the store-load order this needs): C11 already orders a seq_cst RMW before
 * a seq_cst load, but the explicit fence keeps the handshake right where that order is emulated
 * loosely (qemu-user emulating ARMv8.0 lets a load-acquire pass the store-release of a
 * store-exclusive, and wake-ups were lost), and costs a few nanoseconds per job. */
#include "base/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* Spin iterations before sleeping: about 100 microseconds, longer than the serial gaps between
 * the jobs of one forward pass, far shorter than a scheduler time slice. */
#define TP_SPIN_ITERS 4096

typedef struct {
    struct tp_pool *pool;
    int ith;
} tp_worker;

struct tp_pool {
    int n_threads;         /* including the caller */
    int n_started;         /* workers created */
    pthread_t *threads;    /* [n_threads - 1] */
    tp_worker *workers;    /* [n_threads - 1] */
    tp_fn fn;              /* the current job; written only while no job runs */
    void *ctx;
    atomic_uint gen;       /* bumped once per job, and once to stop */
    atomic_int pending;    /* workers that have not finished the current job */
    atomic_int n_sleeping; /* workers blocked, or about to block, on `wake` */
    atomic_int caller_sleeping;
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* new gen */
    pthread_cond_t done; /* pending reached 0 */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* The store-load fence of the sleep handshakes (see the top). ThreadSanitizer models seq_cst
 * atomics itself and does not take fences. */
static inline void full_fence(void)
{
#ifndef __SANITIZE_THREAD__
    atomic_thread_fence(memory_order_seq_cst);
#endif
}

int tp_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

void tp_split(int n, int ith, int nth, int *begin, int *end)
{
    const int base = n / nth, extra = n % nth;
    *begin = ith * base + (ith < extra ? ith : extra);
    *end = *begin + base + (ith < extra ? 1 : 0);
}

/* Returns the first generation different from seen. */
static unsigned wait_new_gen(tp_pool *p, unsigned seen)
{
    for (int i = 0; i < TP_SPIN_ITERS; i++) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->n_sleeping, 1);
    full_fence();
    unsigned g;
    while ((g = atomic_load(&p->gen)) == seen) pthread_cond_wait(&p->wake, &p->mu);
    atomic_fetch_sub(&p->n_sleeping, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void wait_done(tp_pool *p)
{
    for (int i = 0; i < TP_SPIN_ITERS; i++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) return;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->caller_sleeping, 1);
    full_fence();
    while (atomic_load(&p->pending) != 0) pthread_cond_wait(&p->done, &p->mu);
    atomic_store(&p->caller_sleeping, 0);
    pthread_mutex_unlock(&p->mu);
}

static void *worker_main(void *arg)
{
    tp_worker *w = arg;
    tp_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_new_gen(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        p->fn(p->ctx, w->ith, p->n_threads);
        if (atomic_fetch_sub(&p->pending, 1) == 1) {
            full_fence();
            if (atomic_load(&p->caller_sleeping)) {
                pthread_mutex_lock(&p->mu);
                pthread_cond_signal(&p->done);
                pthread_mutex_unlock(&p->mu);
            }
        }
    }
    return NULL;
}

static void publish(tp_pool *p)
{
    atomic_fetch_add(&p->gen, 1);
    full_fence();
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
}

tp_pool *tp_new(int n_threads)
{
    if (n_threads <= 0) n_threads = tp_default_threads();
    tp_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_threads = n_threads;
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->n_sleeping, 0);
    atomic_init(&p->caller_sleeping, 0);
    atomic_init(&p->stop, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads);
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->threads || !p->workers) goto fail;
    }
    for (int i = 0; i < n_threads - 1; i++) {
        p->workers[i].pool = p;
        p->workers[i].ith = i + 1;
        if (pthread_create(&p->threads[i], NULL, worker_main, &p->workers[i]) != 0) goto fail;
        p->n_started++;
    }
    return p;
fail:
    tp_free(p);
    return NULL;
}

void tp_free(tp_pool *p)
{
    if (!p) return;
    atomic_store(&p->stop, 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->workers);
    free(p);
}

int tp_n_threads(const tp_pool *p) { return p->n_threads; }

void tp_run(tp_pool *p, tp_fn fn, void *ctx)
{
    if (p->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->pending, p->n_threads - 1, memory_order_relaxed);
    publish(p);
    fn(ctx, 0, p->n_threads);
    wait_done(p);
}
