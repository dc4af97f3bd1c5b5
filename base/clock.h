/* Clocks. Monotonic for durations and timeouts, realtime for timestamps. vDSO-backed; thread-safe.
 */
#ifndef STRATA_BASE_CLOCK_H
#define STRATA_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_ns_of_(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Nanoseconds since an arbitrary start; never goes backwards. */
static inline int64_t clock_mono_ns(void)
{
    return clock_ns_of_(CLOCK_MONOTONIC);
}
/* Cheaper, ~1-4 ms resolution: for timeouts checked on every loop iteration. */
static inline int64_t clock_mono_coarse_ns(void)
{
    return clock_ns_of_(CLOCK_MONOTONIC_COARSE);
}
/* Unix time. */
static inline int64_t clock_real_ns(void)
{
    return clock_ns_of_(CLOCK_REALTIME);
}
static inline int64_t clock_real_ms(void)
{
    return clock_real_ns() / 1000000;
}
/* CPU time consumed by the calling thread / the whole process. */
static inline int64_t clock_thread_cpu_ns(void)
{
    return clock_ns_of_(CLOCK_THREAD_CPUTIME_ID);
}
static inline int64_t clock_process_cpu_ns(void)
{
    return clock_ns_of_(CLOCK_PROCESS_CPUTIME_ID);
}

/* Formats Unix ns as RFC 3339 UTC with milliseconds ("2026-11-22T10:00:00.123Z") into out (≥ 32
 * bytes). Returns the length written. */
int clock_fmt_rfc3339_ms(int64_t unix_ns, char *out, unsigned out_size);

#endif
