/* threadpool.h - a persistent pool of worker threads that run one parallel job at a time.
 *
 * tp_run(pool, fn, ctx) calls fn(ctx, ith, nth) once for every ith in [0, nth) - the calling
 * thread runs ith 0, the workers the rest - and returns when every call has returned, with all
 * their memory writes visible to the caller. A job is "split this loop nth ways", so the forward
 * pass issues a few hundred of them per token: dispatch and completion are an atomic generation
 * counter and an atomic countdown that waiters spin on briefly, then sleep on a condition
 * variable, so a job costs microseconds when threads are hot and idle workers use no CPU.
 *
 * Ownership and threading: the pool owns its threads. One thread at a time may call tp_run on a
 * pool (a context is used by one thread at a time); fn must not call tp_run on the same pool. */
#ifndef UH_BASE_THREADPOOL_H
#define UH_BASE_THREADPOOL_H

typedef struct tp_pool tp_pool;

/* One share of a job: ith in [0, nth). */
typedef void (*tp_fn)(void *ctx, int ith, int nth);

/* Number of online CPUs (at least 1). */
int tp_default_threads(void);

/* Starts a pool of n_threads (the caller counts as one, so n_threads - 1 workers are created;
 * n_threads <= 0 means tp_default_threads()). Returns NULL when memory or threads run out. */
tp_pool *tp_new(int n_threads);

/* Stops and joins the workers. Accepts NULL. */
void tp_free(tp_pool *p);

int tp_n_threads(const tp_pool *p);

/* Runs fn(ctx, ith, nth) for all ith on the pool's threads and waits for all of them. */
void tp_run(tp_pool *p, tp_fn fn, void *ctx);

/* The contiguous share [*begin, *end) of n items that thread ith of nth gets in a static split
 * (sizes differ by at most one). */
void tp_split(int n, int ith, int nth, int *begin, int *end);

#endif
