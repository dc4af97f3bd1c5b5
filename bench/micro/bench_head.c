/* Micro benchmark of the metrics head (engine/tsdb/head.h): memory per series and append cost on
 * node_exporter-like series.
 *
 * Series: hosts of about 660 series each, shaped like node_exporter 1.x on an 8-CPU VM (CPU seconds
 * per cpu and mode, disk and network families per device, filesystem families per mount, memory
 * and other host gauges, collector durations). Every series carries 7 common labels (__name__,
 * cluster, env, instance, job, region, team) plus 0-3 family labels (cpu, mode, device, fstype,
 * mountpoint, collector): 7-10 labels, label sets sorted. Values: half constant, ~40% counters and
 * moving gauges, ~10% full-entropy floats; a scrape every 15 s on the exact grid, appended scrape
 * by scrape over all series as remote write would deliver them.
 *
 * Each repetition runs in a forked child (so RSS starts clean) with a fresh head in a temp dir:
 * create all series (get_or_create), then append SAMPLES samples per series starting at a 2 h
 * boundary (default 180: one closed 120-sample chunk in the chunk files plus a half-full open
 * chunk, the average state of an active series). Reported: ns per series creation (wall clock),
 * ns per append (thread CPU time, so a busy shared machine does not inflate it; chunk-file
 * writes included) and the same in wall-clock time, RSS growth per series from /proc/self/statm
 * (taken before the head is opened and after the appends) and the head's own accounting
 * (head_stats). Median over REPS repetitions, one JSON line per size. Never pass/fail on time.
 *
 * Usage: bench_head [--size N]... [--samples K] [--reps R]   (default: --size 100000, K 180, R 3;
 * add --size 1000000 for the 1M case). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/rand.h"
#include "base/clock.h"
#include "base/hash.h"
#include "engine/tsdb/head.h"

#define MAX_SIZES 8
#define HOUR_MS   3600000LL

/* ---- deterministic random numbers (splitmix64) ---- */

static uint64_t rng_state = 0x5eed2026u;

static uint64_t rng_next(void)
{
    return splitmix64_next(&rng_state);
}

/* ---- label sets ---- */

static const char *const cpu_modes[] = {"guest", "guest_nice", "idle",    "iowait",
                                        "irq",   "nice",       "softirq", "steal"};
static const char *const disks[] = {"nvme0n1", "sda"};
static const char *const nics[] = {"eth0", "eth1", "lo"};
static const char *const mounts[][3] = {
    {"/dev/nvme0n1p1", "ext4", "/"},         {"/dev/nvme0n1p2", "ext4", "/var"},
    {"/dev/sda1", "xfs", "/data"},           {"/dev/sda2", "xfs", "/backup"},
    {"/dev/nvme0n1p3", "vfat", "/boot/efi"}, {"tmpfs", "tmpfs", "/run"},
    {"tmpfs", "tmpfs", "/dev/shm"},          {"tmpfs", "tmpfs", "/run/user/1000"},
};
#define PER_HOST 660

/* One series of a host: index i in [0, PER_HOST). Fills names into the caller's buffers. */
struct series_desc {
    char name[64];
    const char *extra_name[3];
    char extra_val[3][32];
    int n_extra;
    int kind; /* 0 constant, 1 counter, 2 random */
};

static void describe(int i, struct series_desc *d)
{
    memset(d, 0, sizeof *d);
    if (i < 64) { /* node_cpu_seconds_total{cpu, mode} */
        snprintf(d->name, sizeof d->name, "node_cpu_seconds_total");
        d->extra_name[0] = "cpu";
        snprintf(d->extra_val[0], 32, "%d", i / 8);
        d->extra_name[1] = "mode";
        snprintf(d->extra_val[1], 32, "%s", cpu_modes[i % 8]);
        d->n_extra = 2;
        d->kind = (i % 8 == 0 || i % 8 == 1) ? 0 : 1;
    } else if (i < 98) { /* 17 disk families x 2 disks */
        snprintf(d->name, sizeof d->name, "node_disk_metric_%d_total", (i - 64) / 2);
        d->extra_name[0] = "device";
        snprintf(d->extra_val[0], 32, "%s", disks[(i - 64) % 2]);
        d->n_extra = 1;
        d->kind = (i % 3 == 0) ? 0 : 1;
    } else if (i < 188) { /* 30 network families x 3 nics */
        snprintf(d->name, sizeof d->name, "node_network_metric_%d", (i - 98) / 3);
        d->extra_name[0] = "device";
        snprintf(d->extra_val[0], 32, "%s", nics[(i - 98) % 3]);
        d->n_extra = 1;
        d->kind = (i % 2 == 0) ? 0 : 1;
    } else if (i < 244) { /* 7 filesystem families x 8 mounts */
        int m = (i - 188) % 8;
        snprintf(d->name, sizeof d->name, "node_filesystem_metric_%d", (i - 188) / 8);
        d->extra_name[0] = "device";
        snprintf(d->extra_val[0], 32, "%s", mounts[m][0]);
        d->extra_name[1] = "fstype";
        snprintf(d->extra_val[1], 32, "%s", mounts[m][1]);
        d->extra_name[2] = "mountpoint";
        snprintf(d->extra_val[2], 32, "%s", mounts[m][2]);
        d->n_extra = 3;
        d->kind = (i % 4 == 0) ? 1 : 0;
    } else if (i < 284) { /* node_scrape_collector_duration_seconds{collector} */
        snprintf(d->name, sizeof d->name, "node_scrape_collector_duration_seconds");
        d->extra_name[0] = "collector";
        snprintf(d->extra_val[0], 32, "collector%02d", i - 244);
        d->n_extra = 1;
        d->kind = 2;
    } else { /* memory, vmstat, netstat, ... host gauges */
        snprintf(d->name, sizeof d->name, "node_host_metric_%d", i - 284);
        d->kind = (i % 10 == 0) ? 2 : (i % 2 ? 1 : 0);
    }
}

static int label_cmp(const void *a, const void *b)
{
    return str_cmp(((const struct label *)a)->name, ((const struct label *)b)->name);
}

/* Builds the sorted label set of series s of the whole population into out (≤ 10 labels). */
static size_t build_labels(uint64_t s, struct series_desc *d, char *instance, struct label *out)
{
    describe((int)(s % PER_HOST), d);
    uint64_t host = s / PER_HOST;
    snprintf(instance, 32, "10.%u.%u.%u:9100", (unsigned)(host >> 16) & 255,
             (unsigned)(host >> 8) & 255, (unsigned)host & 255);
    size_t n = 0;
    out[n++] = (struct label){STR_LIT("__name__"), str_from_cstr(d->name)};
    out[n++] = (struct label){STR_LIT("cluster"), STR_LIT("prod-eu-1")};
    out[n++] = (struct label){STR_LIT("env"), STR_LIT("production")};
    out[n++] = (struct label){STR_LIT("instance"), str_from_cstr(instance)};
    out[n++] = (struct label){STR_LIT("job"), STR_LIT("node")};
    out[n++] = (struct label){STR_LIT("region"), STR_LIT("eu-west-1")};
    out[n++] = (struct label){STR_LIT("team"), STR_LIT("platform")};
    for (int k = 0; k < d->n_extra; k++)
        out[n++] = (struct label){str_from_cstr(d->extra_name[k]), str_from_cstr(d->extra_val[k])};
    qsort(out, n, sizeof *out, label_cmp);
    return n;
}

/* ---- one repetition (in a child) ---- */

struct result {
    double ns_create, ns_append, ns_append_wall;
    double rss_per_series, heap_per_series;
    double heap_series, heap_chunks, heap_refs, heap_symbols, heap_map, heap_index;
    uint64_t chunks_closed, chunk_file_bytes;
};

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t next_value(int kind, uint64_t prev, uint64_t s)
{
    double v;
    switch (kind) {
    case 0: return prev ? prev : (uint64_t)(s % 5) << 52 | 0x3ff0000000000000ull;
    case 1: /* a counter growing by a few decimal steps */
        memcpy(&v, &prev, 8);
        v += (double)(rng_next() % 1000) * 0.01;
        memcpy(&prev, &v, 8);
        return prev;
    default: v = (double)(rng_next() >> 11) * 0x1.0p-53 * 1e-3; break;
    }
    uint64_t b;
    memcpy(&b, &v, 8);
    return b;
}

static int run_once(uint64_t n_series, int samples, struct result *r)
{
    char dir[64] = "/tmp/strata-bench-head-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    uint32_t *ids = malloc(n_series * sizeof *ids);
    uint64_t *last = calloc(n_series, sizeof *last);
    uint8_t *kind = malloc(n_series);
    if (!ids || !last || !kind)
        return 1;
    uint64_t rss0 = rss_bytes();
    struct head_config cfg;
    head_config_default(&cfg);
    struct head *h;
    if (head_open(dir, &cfg, INT64_MIN, &h) != 0)
        return 1;
    struct label ls[10];
    struct series_desc d;
    char instance[32];
    int64_t t0 = clock_mono_ns();
    for (uint64_t s = 0; s < n_series; s++) {
        size_t n = build_labels(s, &d, instance, ls);
        bool created;
        if (head_series_get_or_create(h, ls, n, hash_labels(ls, n), &ids[s], &created) != 0)
            return 1;
        kind[s] = (uint8_t)d.kind;
    }
    int64_t t1 = clock_mono_ns(), c1 = clock_thread_cpu_ns();
    int64_t ts = 500000 * 2 * HOUR_MS; /* a 2 h boundary */
    for (int k = 0; k < samples; k++, ts += 15000)
        for (uint64_t s = 0; s < n_series; s++) {
            last[s] = next_value(kind[s], last[s], s);
            if (head_append(h, ids[s], ts, last[s]) != HEAD_APPENDED)
                return 1;
        }
    int64_t t2 = clock_mono_ns(), c2 = clock_thread_cpu_ns();
    uint64_t rss1 = rss_bytes();
    struct head_stats st;
    head_stats(h, &st);
    double n = (double)n_series;
    *r = (struct result){
        .ns_create = (double)(t1 - t0) / n,
        .ns_append = (double)(c2 - c1) / (n * samples),
        .ns_append_wall = (double)(t2 - t1) / (n * samples),
        .rss_per_series = (double)(rss1 - rss0) / n,
        .heap_per_series = (double)st.bytes_total / n,
        .heap_series = (double)st.bytes_series / n,
        .heap_chunks = (double)st.bytes_chunks / n,
        .heap_refs = (double)st.bytes_refs / n,
        .heap_symbols = (double)st.bytes_symbols / n,
        .heap_map = (double)st.bytes_map / n,
        .heap_index = (double)st.bytes_index / n,
        .chunks_closed = st.chunks_closed,
        .chunk_file_bytes = st.chunk_file_bytes,
    };
    head_close(h);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}

/* Runs one repetition in a child process; the result comes back through a pipe. */
static int run_forked(uint64_t n_series, int samples, struct result *r)
{
    int fd[2];
    if (pipe(fd) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        struct result res;
        int rc = run_once(n_series, samples, &res);
        if (rc == 0 && write(fd[1], &res, sizeof res) != (ssize_t)sizeof res)
            rc = 1;
        _exit(rc);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], r, sizeof *r);
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return got == (ssize_t)sizeof *r && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, dbl_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int bench_size(uint64_t n_series, int samples, int reps)
{
    struct result r[16];
    double a[16];
    for (int i = 0; i < reps; i++)
        if (run_forked(n_series, samples, &r[i]) != 0) {
            fprintf(stderr, "bench_head: repetition %d failed\n", i);
            return 1;
        }
#define MED(field)                                                                                 \
    (({                                                                                            \
        for (int i_ = 0; i_ < reps; i_++)                                                          \
            a[i_] = r[i_].field;                                                                   \
        median(a, reps);                                                                           \
    }))
    double create = MED(ns_create), append = MED(ns_append), rss = MED(rss_per_series);
    double append_wall = MED(ns_append_wall);
    double heap = MED(heap_per_series);
    printf("{\"bench\":\"head\",\"shape\":\"node_exporter\",\"series\":%" PRIu64
           ",\"samples_per_series\":%d,\"reps\":%d,\"ns_per_series_create\":%.1f,"
           "\"ns_per_append\":%.1f,\"ns_per_append_wall\":%.1f,\"rss_bytes_per_series\":%.0f,"
           "\"heap_bytes_per_series\":%.0f,"
           "\"heap_series\":%.0f,\"heap_open_chunks\":%.0f,\"heap_chunk_refs\":%.0f,"
           "\"heap_symbols\":%.1f,\"heap_map\":%.0f,\"heap_index\":%.0f,\"chunks_closed\":%" PRIu64
           ",\"chunk_file_bytes\":%" PRIu64 "}\n",
           n_series, samples, reps, create, append, append_wall, rss, heap, MED(heap_series),
           MED(heap_chunks), MED(heap_refs), MED(heap_symbols), MED(heap_map), MED(heap_index),
           r[0].chunks_closed, r[0].chunk_file_bytes);
#undef MED
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t sizes[MAX_SIZES];
    int n_sizes = 0, samples = 180, reps = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < argc && n_sizes < MAX_SIZES)
            sizes[n_sizes++] = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--samples") && i + 1 < argc)
            samples = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--size N]... [--samples K] [--reps R]\n", argv[0]);
            return 2;
        }
    }
    if (n_sizes == 0)
        sizes[n_sizes++] = 100000;
    if (reps < 1 || reps > 16 || samples < 1)
        return 2;
    for (int i = 0; i < n_sizes; i++)
        if (bench_size(sizes[i], samples, reps) != 0)
            return 1;
    return 0;
}
