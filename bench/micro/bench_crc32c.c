/* Micro benchmark of CRC-32C (base/crc32c.h): throughput in GB/s (1e9 bytes/s) of the SSE4.2 path
 * and the slicing-by-8 table path on 4 KiB, 64 KiB and 1 MiB buffers (random bytes, 64-byte
 * aligned), and of the hw path on small WAL-record-sized buffers (64 B, 512 B). Each (impl, size)
 * pair runs REPS times over about TARGET bytes; one JSON line per pair gives the median, min and
 * max. Times are the thread's CPU time, so being descheduled on a shared machine does not count.
 * Never pass/fail on time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/crc32c.h"

enum { REPS = 7 };

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sink so the compiler cannot drop the work. */
static volatile uint32_t sink;

static double one_run(crc_fn f, const uint8_t *buf, size_t size, size_t iters)
{
    uint32_t acc = 0;
    int64_t t0 = clock_thread_cpu_ns();
    for (size_t i = 0; i < iters; i++)
        acc ^= f(acc, buf, size);
    int64_t dt = clock_thread_cpu_ns() - t0;
    sink = acc;
    return (double)(size * iters) / (double)(dt > 0 ? dt : 1); /* bytes per ns == GB/s */
}

static void bench(const char *impl, crc_fn f, const uint8_t *buf, size_t size, size_t target)
{
    size_t iters = target / size ? target / size : 1;
    double gbps[REPS];
    one_run(f, buf, size, iters / 8 + 1); /* warm caches and clocks */
    for (int r = 0; r < REPS; r++)
        gbps[r] = one_run(f, buf, size, iters);
    qsort(gbps, REPS, sizeof gbps[0], cmp_double);
    printf("{\"bench\":\"crc32c\",\"impl\":\"%s\",\"size_bytes\":%zu,\"gb_per_s\":%.2f,"
           "\"min_gb_per_s\":%.2f,\"max_gb_per_s\":%.2f,\"bytes_per_run\":%zu,\"runs\":%d}\n",
           impl, size, gbps[REPS / 2], gbps[0], gbps[REPS - 1], size * iters, REPS);
    fflush(stdout);
}

int main(void)
{
    static const size_t sizes[] = {4096, 65536, 1 << 20};
    size_t max = 1 << 20;
    uint8_t *buf = aligned_alloc(64, max);
    if (!buf)
        return 1;
    uint64_t s = 0x5eed2026u;
    for (size_t i = 0; i < max; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (uint8_t)(s >> 56);
    }
    if (crc32c_hw_available()) {
        bench("hw", crc32c_update_hw, buf, 64, 64u << 20);
        bench("hw", crc32c_update_hw, buf, 512, 128u << 20);
        for (size_t i = 0; i < 3; i++)
            bench("hw", crc32c_update_hw, buf, sizes[i], 512u << 20);
    }
    for (size_t i = 0; i < 3; i++)
        bench("sw", crc32c_update_sw, buf, sizes[i], 128u << 20);
    free(buf);
    return 0;
}
