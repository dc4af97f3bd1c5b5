/* Micro benchmark of the SPSC ring (base/ring.h): messages per second from a producer thread to a
 * consumer thread, each pinned (pthread_setaffinity_np) to a different CPU. Two modes:
 *   batched    spsc_push_many / spsc_pop_many of BATCH messages (the mesh's way of working);
 *   unbatched  spsc_push / spsc_pop, one message per publish.
 * Ring capacity RING_CAP (what a mesh link uses). A full or empty ring is spun on with a pause
 * instruction. Each mode runs REPS times; one JSON line per mode gives the median (wall clock from
 * the start signal until the consumer has everything), min and max. The consumer checks every
 * sequence number so the work cannot be optimized away. Never pass/fail on time. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/ring.h"

enum { REPS = 5, BATCH = 64, RING_CAP = 1024 };

#define MSGS_BATCHED   50000000ull
#define MSGS_UNBATCHED 20000000ull

static inline void cpu_relax(void)
{
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

struct run {
    struct spsc_ring ring;
    uint64_t n;
    int batched;
    int cpu[2];
    _Atomic int ready;
    _Atomic int go;
    uint64_t errors;
    int64_t t_end;
};

static void pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void start_line(struct run *r)
{
    atomic_fetch_add(&r->ready, 1);
    while (!atomic_load_explicit(&r->go, memory_order_acquire))
        cpu_relax();
}

static void *producer(void *arg)
{
    struct run *r = arg;
    pin(r->cpu[0]);
    start_line(r);
    void *batch[BATCH];
    uint64_t next = 1;
    while (next <= r->n) {
        if (!r->batched) {
            if (spsc_push(&r->ring, (void *)(uintptr_t)next))
                next++;
            else
                cpu_relax();
            continue;
        }
        uint32_t k = r->n - next + 1 < BATCH ? (uint32_t)(r->n - next + 1) : BATCH;
        for (uint32_t i = 0; i < k; i++)
            batch[i] = (void *)(uintptr_t)(next + i);
        uint32_t sent = 0;
        while (sent < k) {
            uint32_t m = spsc_push_many(&r->ring, batch + sent, k - sent);
            if (!m)
                cpu_relax();
            sent += m;
        }
        next += k;
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct run *r = arg;
    pin(r->cpu[1]);
    start_line(r);
    void *batch[BATCH];
    uint64_t expect = 1, errors = 0;
    while (expect <= r->n) {
        uint32_t got;
        if (r->batched) {
            got = spsc_pop_many(&r->ring, batch, BATCH);
        } else {
            batch[0] = spsc_pop(&r->ring);
            got = batch[0] != NULL;
        }
        if (!got) {
            cpu_relax();
            continue;
        }
        for (uint32_t i = 0; i < got; i++)
            errors += (uintptr_t)batch[i] != expect++;
    }
    r->t_end = clock_mono_ns();
    r->errors = errors;
    return NULL;
}

/* Returns messages per second, or a negative value when delivery was wrong. */
static double one_run(int batched, uint64_t n, const int cpu[2])
{
    struct run r = {.n = n, .batched = batched, .cpu = {cpu[0], cpu[1]}};
    if (spsc_init(&r.ring, RING_CAP) != 0)
        return -1;
    pthread_t p, c;
    pthread_create(&c, NULL, consumer, &r);
    pthread_create(&p, NULL, producer, &r);
    while (atomic_load(&r.ready) < 2)
        cpu_relax();
    int64_t t0 = clock_mono_ns();
    atomic_store_explicit(&r.go, 1, memory_order_release);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    spsc_deinit(&r.ring);
    if (r.errors)
        return -1;
    return (double)n * 1e9 / (double)(r.t_end - t0);
}

/* Two different CPUs this process may run on, or -1s when there are fewer than two. */
static void pick_cpus(int cpu[2])
{
    cpu_set_t set;
    cpu[0] = cpu[1] = -1;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return;
    int k = 0;
    for (int i = 0; i < CPU_SETSIZE && k < 2; i++)
        if (CPU_ISSET(i, &set))
            cpu[k++] = i;
    if (k < 2)
        cpu[0] = cpu[1] = -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench(int batched, uint64_t n, const int cpu[2])
{
    double rate[REPS];
    one_run(batched, n / 10, cpu); /* warm-up */
    for (int i = 0; i < REPS; i++)
        rate[i] = one_run(batched, n, cpu);
    qsort(rate, REPS, sizeof rate[0], cmp_double);
    double med = rate[REPS / 2];
    printf("{\"bench\":\"spsc_ring\",\"mode\":\"%s\",\"batch\":%d,\"ring_capacity\":%d,"
           "\"msgs\":%llu,\"cpus\":[%d,%d],\"msgs_per_s\":%.0f,\"ns_per_msg\":%.2f,"
           "\"min_msgs_per_s\":%.0f,\"max_msgs_per_s\":%.0f,\"runs\":%d,\"ok\":%s}\n",
           batched ? "batched" : "unbatched", batched ? BATCH : 1, RING_CAP, (unsigned long long)n,
           cpu[0], cpu[1], med, med > 0 ? 1e9 / med : 0, rate[0], rate[REPS - 1], REPS,
           rate[0] > 0 ? "true" : "false");
    fflush(stdout);
}

int main(void)
{
    int cpu[2];
    pick_cpus(cpu);
    bench(1, MSGS_BATCHED, cpu);
    bench(0, MSGS_UNBATCHED, cpu);
    return 0;
}
