/* clock.h - the clocks every layer reads: a monotonic one for timeouts, rates and latencies,
 * and the wall clock for timestamps that leave the process (logs, API "created" fields, trust
 * store dates). Threading: any thread. */
#ifndef UH_BASE_CLOCK_H
#define UH_BASE_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Monotonic time in seconds (arbitrary origin; only differences mean anything). */
double clock_mono_s(void);
/* Monotonic time in milliseconds. */
int64_t clock_mono_ms(void);
/* The monotonic instant timeout_ms from now, as a struct timespec, for pthread waits on a
 * condition variable created with clock_cond_init. */
struct timespec clock_mono_after(int64_t timeout_ms);
/* Initializes a condition variable whose timed waits use the monotonic clock (so a change of
 * the wall clock neither cuts nor stretches a timeout). 0 or the pthread error number. */
int clock_cond_init(pthread_cond_t *c);
/* Wall-clock time: Unix seconds, and Unix time with fractions (microsecond resolution). */
int64_t clock_wall_s(void);
double clock_wall(void);

#endif
