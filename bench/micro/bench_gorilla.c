/* Micro benchmark of the Gorilla XOR chunk (formats/gorilla.h): encode and decode ns/sample and
 * bytes/sample on three shapes, in 120-sample chunks (the head cuts chunks at 120 samples).
 *
 * constant: every series holds one value; timestamps exactly 15 s apart; 2000 series.
 *
 * node_exporter: the series a node_exporter 1.x with its default collectors exposes on an 8-CPU
 * Linux VM (3 network interfaces, 2 disks, 5 disk and 3 tmpfs filesystems), plus the synthetic
 * series Prometheus adds per scrape: about 660 series per host, 4 hosts, scraped every 15 s for
 * 2 h (480 samples = 4 chunks per series). The table `families` lists every family with its
 * series count and value behaviour; counts are reconstructed from the collectors' documented
 * output, not tuned. Half the series are constant, 40% are counters and moving gauges (a quarter
 * of those decimal counters such as CPU seconds) and 11% carry full-entropy floats (per-collector
 * scrape durations, schedstat and pressure seconds, timex offsets), which cost ~7.5 bytes/sample
 * each and dominate the total.
 * Timestamps: Prometheus stamps a scrape at its start on a fixed 15 s ticker and (since 2.30)
 * snaps stamps within 2 ms of the grid onto it. Here 98% of scrapes land exactly on the grid and
 * 2% are late or early by 1-20 ms (uniform), independently. An off-grid scrape makes up to three
 * non-zero delta-of-deltas (+j, -2j, +j), so about 6% of samples carry one: on the pessimistic
 * side of the ">95% of timestamps have uniform periods" Prometheus maintainers measured on real
 * data (prometheus/prometheus#12055).
 *
 * random: uniform random float64 in [0, 1e6) (full-entropy mantissas); 15 s interval.
 *
 * Ops: encode (append every sample of a chunk into a reset encoder, whose buffer is reused: codec
 * cost without malloc), decode (gorilla_iter_next + gorilla_iter_at_bits per sample) and
 * decode_batch (gorilla_iter_next_batch into 120-slot arrays). Each op runs REPS times over all
 * chunks; the median is printed as one JSON line per (shape, op). Times are the thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID), so time spent descheduled on a shared machine does not count. Never
 * pass/fail on time. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rand.h"
#include "base/clock.h"
#include "formats/gorilla.h"

enum {
    CHUNK_SAMPLES = 120,
    REPS = 7,
    SCRAPE_MS = 15000,
};

/* ---- deterministic random numbers (splitmix64) ---- */

static uint64_t rng_state = 0x5eed2026u;

static uint64_t rng_next(void)
{
    return splitmix64_next(&rng_state);
}

/* Uniform in [0, 1). */
static double rng_unit(void)
{
    return rand_unit(rng_next());
}

/* Uniform integer in [lo, hi]. */
static int64_t rng_range(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next() % (uint64_t)(hi - lo + 1));
}

/* Roughly normal (Irwin-Hall of 4), mean 0, sd 1. */
static double rng_gauss(void)
{
    return (rng_unit() + rng_unit() + rng_unit() + rng_unit() - 2.0) * 1.7320508;
}

/* ---- sample sets ---- */

struct series {
    int64_t *t;
    uint64_t *v;
    size_t n;
};

struct dataset {
    const char *shape;
    struct series *s;
    size_t n_series;
    size_t n_samples;
};

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static void series_alloc(struct series *s, size_t n)
{
    s->t = malloc(n * sizeof *s->t);
    s->v = malloc(n * sizeof *s->v);
    s->n = n;
    if (!s->t || !s->v) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
}

/* Value behaviours of node_exporter families. */
enum kind {
    K_CONST,     /* a value (info metrics = 1, sizes, limits; a = 0: zero-valued error counters) */
    K_COUNTER,   /* counter growing by whole multiples of unit c: a start, b mean increment */
    K_DECIMAL,   /* counter in units of 10^-dec (CPU seconds: 1/100 s): a start, b mean increment */
    K_WALK,      /* gauge moving by whole multiples of unit c, b units sd per move: a start */
    K_SMALLINT,  /* small integer gauge fluctuating around its start by up to +-b */
    K_LOAD,      /* load average: 2 decimals, mean-reverting around a */
    K_LEVELS,    /* gauge switching among 4 levels (CPU frequency): a base, b step */
    K_RANDFLOAT, /* full-entropy float (durations, quantiles, clock offsets) around a */
    K_UNIXTIME,  /* float seconds since the epoch with ns fraction (node_time_seconds) */
};

struct family {
    const char *name; /* the families, for the reader */
    int series;       /* series per host */
    enum kind kind;
    double a, b, c;
    double p; /* chance that the value moves at a scrape */
    int dec;  /* K_DECIMAL: decimals */
};

/* The mix for one host: series per family, value behaviour per kind above. Counter increments are
 * per 15 s scrape of a lightly loaded server. Starting values vary per series (x0.5..1.5 of a). */
static const struct family families[] = {
    {"node_cpu_seconds_total{mode=idle}", 8, K_DECIMAL, 9e5, 13.5, 0, 1.0, 2},
    {"node_cpu_seconds_total{mode=user}", 8, K_DECIMAL, 4e4, 0.8, 0, 1.0, 2},
    {"node_cpu_seconds_total{mode=system}", 8, K_DECIMAL, 2e4, 0.3, 0, 1.0, 2},
    {"node_cpu_seconds_total{mode=iowait}", 8, K_DECIMAL, 3e3, 0.03, 0, 0.5, 2},
    {"node_cpu_seconds_total{mode=softirq}", 8, K_DECIMAL, 1e3, 0.05, 0, 0.7, 2},
    {"node_cpu_seconds_total{mode=nice}", 8, K_DECIMAL, 120, 0.01, 0, 0.05, 2},
    {"node_cpu_seconds_total{mode=irq,steal}", 16, K_CONST, 0, 0, 0, 0, 0},
    {"node_cpu_guest_seconds_total", 16, K_CONST, 0, 0, 0, 0, 0},
    {"node_cpu_scaling_frequency_hertz", 8, K_LEVELS, 1.2e9, 4e8, 0, 0.3, 0},
    {"node_schedstat_{running,waiting}_seconds_total (ns)", 16, K_DECIMAL, 5e4, 1.2, 0, 1.0, 9},
    {"node_schedstat_timeslices_total", 8, K_COUNTER, 3e7, 900, 1, 1.0, 0},
    {"node_softnet_processed_total", 8, K_COUNTER, 2e6, 60, 1, 0.9, 0},
    {"node_softnet_{dropped,times_squeezed}_total", 16, K_CONST, 0, 0, 0, 0, 0},
    {"node_softnet_{backlog_len,cpu_collision_total,received_rps_total,flow_limit_count_total}", 32,
     K_CONST, 0, 0, 0, 0, 0},
    {"node_network_{receive,transmit}_bytes_total (eth0, eth1, lo)", 6, K_COUNTER, 4e10, 4e5, 1,
     1.0, 0},
    {"node_network_{receive,transmit}_packets_total", 6, K_COUNTER, 4e7, 400, 1, 1.0, 0},
    {"node_network_receive_multicast_total", 3, K_COUNTER, 5e4, 1, 1, 0.1, 0},
    {"node_network_*_{errs,drop,fifo,frame,compressed,carrier,colls}_total", 33, K_CONST, 0, 0, 0,
     0, 0},
    {"node_network_{up,mtu,speed,info,flags,iface_id,carrier_changes...}", 51, K_CONST, 1500, 0, 0,
     0, 0},
    {"node_disk_{reads,writes}_{completed,merged}_total", 8, K_COUNTER, 2e6, 25, 1, 0.6, 0},
    {"node_disk_{read,written}_bytes_total", 4, K_COUNTER, 3e10, 2e5, 4096, 0.6, 0},
    {"node_disk_{read,write,io,io_weighted}_time_seconds_total (ms)", 8, K_DECIMAL, 3e3, 0.04, 0,
     0.6, 3},
    {"node_disk_io_now", 2, K_SMALLINT, 1, 1, 0, 0.05, 0},
    {"node_disk_{discard*,flush*}_total, node_disk_info", 20, K_CONST, 0, 0, 0, 0, 0},
    {"node_filesystem_{size_bytes,files,readonly,device_error}", 20, K_CONST, 1e11, 0, 0, 0, 0},
    {"node_filesystem_{avail,free}_bytes", 10, K_WALK, 4.2e10, 20, 4096, 0.5, 0},
    {"node_filesystem_files_free", 5, K_SMALLINT, 6e6, 40, 0, 0.3, 0},
    {"node_filesystem_* on tmpfs /run, /run/lock, /dev/shm (all but /run's avail, free, files)", 18,
     K_CONST, 1e9, 0, 0, 0, 0},
    {"node_filesystem_{avail,free}_bytes, node_filesystem_files_free on tmpfs /run", 3, K_WALK, 8e8,
     2, 4096, 0.05, 0},
    {"node_memory_*_bytes constant (MemTotal, SwapTotal, HugePages_*, DirectMap*, Vmalloc*)", 22,
     K_CONST, 1.6e10, 0, 0, 0, 0},
    {"node_memory_*_bytes busy (MemFree, MemAvailable, Cached, Active*, Inactive*, AnonPages)", 12,
     K_WALK, 8e9, 150, 1024, 1.0, 0},
    {"node_memory_*_bytes occasional (Dirty, Slab, Shmem, PageTables, KernelStack, Mapped)", 14,
     K_WALK, 2e8, 20, 1024, 0.3, 0},
    {"node_vmstat_{pgfault,pgpgout}", 2, K_COUNTER, 5e8, 3000, 1, 1.0, 0},
    {"node_vmstat_{pgmajfault,pgpgin,pswpin,pswpout,oom_kill}", 5, K_COUNTER, 1e5, 2, 1, 0.05, 0},
    {"node_netstat_* moving (Tcp_InSegs, Tcp_OutSegs, Udp_*Datagrams, TcpExt_*)", 15, K_COUNTER,
     1e7, 40, 1, 0.8, 0},
    {"node_netstat_* rare (Tcp_RetransSegs, TcpExt_ListenDrops, Icmp_*)", 15, K_COUNTER, 300, 1, 1,
     0.03, 0},
    {"node_sockstat_* gauges", 15, K_SMALLINT, 200, 3, 0, 0.5, 0},
    {"node_procs_{running,blocked}, node_filefd_allocated, node_nf_conntrack_entries", 4,
     K_SMALLINT, 300, 2, 0, 0.6, 0},
    {"node_nf_conntrack_stat_{found,invalid,ignore,insert,insert_failed,drop,early_drop,...}", 8,
     K_COUNTER, 1e4, 1, 1, 0.05, 0},
    {"node_arp_entries", 2, K_SMALLINT, 3, 1, 0, 0.02, 0},
    {"node_udp_queues, node_nf_conntrack_entries_limit", 5, K_CONST, 0, 0, 0, 0, 0},
    {"node_{os_info,os_version,exporter_build_info,dmi_info,selinux_enabled,textfile_scrape_error},"
     " node_time_zone_offset_seconds, node_time_clocksource_*",
     10, K_CONST, 1, 0, 0, 0, 0},
    {"node_{context_switches,intr,forks}_total", 3, K_COUNTER, 3e9, 20000, 1, 1.0, 0},
    {"node_time_seconds", 1, K_UNIXTIME, 0, 0, 0, 1.0, 0},
    {"node_timex_{offset_seconds,frequency_adjustment_ratio,{estimated,max}error_seconds}", 4,
     K_RANDFLOAT, 1e-3, 0, 0, 1.0, 0},
    {"node_timex_* constant, node_boot_time_seconds, uname/os info, entropy, filefd_maximum", 24,
     K_CONST, 1, 0, 0, 0, 0},
    {"node_pressure_*_seconds_total (us)", 5, K_DECIMAL, 400, 0.02, 0, 0.5, 6},
    {"node_scrape_collector_duration_seconds", 40, K_RANDFLOAT, 2e-3, 0, 0, 1.0, 0},
    {"node_scrape_collector_success", 40, K_CONST, 1, 0, 0, 0, 0},
    {"go_gc_duration_seconds{quantile}, go_gc_duration_seconds_sum", 6, K_RANDFLOAT, 1e-4, 0, 0,
     0.3, 0},
    {"go_gc_duration_seconds_count, go_memstats_{mallocs,frees}_total", 3, K_COUNTER, 1e6, 8000, 1,
     1.0, 0},
    {"go_memstats_*_bytes moving (alloc, heap_alloc, heap_inuse, heap_idle, heap_objects)", 10,
     K_WALK, 3e6, 50000, 8, 1.0, 0},
    {"go_memstats_* rare (sys, next_gc, stack, mspan...), go_threads, go_info", 14, K_WALK, 1.5e7,
     4, 8192, 0.05, 0},
    {"go_goroutines, process_open_fds", 2, K_SMALLINT, 9, 1, 0, 0.3, 0},
    {"process_cpu_seconds_total", 1, K_DECIMAL, 3e3, 0.03, 0, 1.0, 2},
    {"process_{resident,virtual}_memory_bytes", 2, K_WALK, 2.5e7, 10, 4096, 0.5, 0},
    {"process_{max_fds,start_time_seconds,virtual_memory_max_bytes}", 3, K_CONST, 1048576, 0, 0, 0,
     0},
    {"promhttp_metric_handler_requests_total{code=200}", 1, K_COUNTER, 5e4, 1, 1, 1.0, 0},
    {"promhttp_metric_handler_requests_{total{code!=200},in_flight}", 3, K_CONST, 0, 0, 0, 0, 0},
    {"up, scrape_samples_scraped, scrape_samples_post_metric_relabeling, scrape_series_added", 4,
     K_CONST, 1, 0, 0, 0, 0},
    {"scrape_duration_seconds", 1, K_RANDFLOAT, 2e-2, 0, 0, 1.0, 0},
};

static double pow10i(int n)
{
    double x = 1;
    while (n-- > 0)
        x *= 10;
    return x;
}

/* One series' values for `n` scrapes at timestamps t[]. */
static void gen_values(const struct family *f, uint64_t *v, const int64_t *t, size_t n)
{
    double scale = pow10i(f->dec);
    double start = f->a * (0.5 + rng_unit()); /* hosts and devices differ */
    double unit = f->c > 0 ? f->c : 1;
    int64_t units = (int64_t)(start * scale / unit); /* the value in units */
    int64_t center = units;
    double x = f->kind == K_LOAD ? start : f->a * (0.2 + 2 * rng_unit());
    for (size_t i = 0; i < n; i++) {
        bool move = rng_unit() < f->p;
        double val = 0;
        switch (f->kind) {
        case K_CONST: val = f->a == 0 ? 0 : (double)units; break;
        case K_COUNTER:
            units += move ? (int64_t)(f->b / unit * (0.5 + rng_unit()) + 0.5) : 0;
            val = (double)units * unit;
            break;
        case K_DECIMAL:
            units += move ? (int64_t)(f->b * scale * (0.5 + rng_unit()) + 0.5) : 0;
            val = (double)units / scale;
            break;
        case K_WALK:
            units += move ? (int64_t)(rng_gauss() * f->b) : 0;
            val = (double)units * unit;
            break;
        case K_SMALLINT:
            units = move ? center + rng_range(-(int64_t)f->b, (int64_t)f->b) : units;
            val = (double)(units < 0 ? 0 : units);
            break;
        case K_LOAD:
            x += 0.1 * (f->a - x) + 0.05 * rng_gauss();
            val = (double)(int64_t)((x < 0 ? 0 : x) * 100 + 0.5) / 100;
            break;
        case K_LEVELS:
            units = move ? rng_range(0, 3) : units % 4;
            val = f->a + f->b * (double)units;
            break;
        case K_RANDFLOAT:
            x = move ? f->a * (0.2 + 2 * rng_unit()) : x;
            val = x;
            break;
        case K_UNIXTIME: val = (double)t[i] / 1000 + (double)rng_range(0, 999999) * 1e-9; break;
        }
        v[i] = dbits(val);
    }
}

static void gen_times(int64_t *t, size_t n, int64_t t0, bool jitter)
{
    for (size_t i = 0; i < n; i++) {
        int64_t j = 0;
        if (jitter && rng_unit() < 0.02)
            j = rng_range(1, 20) * (rng_unit() < 0.5 ? -1 : 1);
        t[i] = t0 + (int64_t)i * SCRAPE_MS + j;
    }
}

static void gen_node_exporter(struct dataset *ds)
{
    enum { HOSTS = 4, SCRAPES = 480 };
    size_t per_host = 0;
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        per_host += (size_t)families[f].series;
    ds->shape = "node_exporter";
    ds->n_series = HOSTS * per_host;
    ds->s = calloc(ds->n_series, sizeof *ds->s);
    size_t k = 0;
    for (int h = 0; h < HOSTS; h++) {
        int64_t times[SCRAPES];
        gen_times(times, SCRAPES, 1763800000000 + rng_range(0, SCRAPE_MS - 1), true);
        for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
            for (int i = 0; i < families[f].series; i++, k++) {
                series_alloc(&ds->s[k], SCRAPES);
                memcpy(ds->s[k].t, times, sizeof times);
                gen_values(&families[f], ds->s[k].v, times, SCRAPES);
            }
        }
    }
    ds->n_samples = ds->n_series * SCRAPES;
}

static void gen_simple(struct dataset *ds, const char *shape, bool random)
{
    enum { SERIES = 2000, SCRAPES = 480 };
    ds->shape = shape;
    ds->n_series = SERIES;
    ds->s = calloc(SERIES, sizeof *ds->s);
    for (size_t k = 0; k < SERIES; k++) {
        series_alloc(&ds->s[k], SCRAPES);
        gen_times(ds->s[k].t, SCRAPES, 1763800000000 + rng_range(0, SCRAPE_MS - 1), false);
        double c = (double)rng_range(0, 1 << 20);
        for (size_t i = 0; i < SCRAPES; i++)
            ds->s[k].v[i] = dbits(random ? rng_unit() * 1e6 : c);
    }
    ds->n_samples = SERIES * SCRAPES;
}

static void dataset_free(struct dataset *ds)
{
    for (size_t k = 0; k < ds->n_series; k++) {
        free(ds->s[k].t);
        free(ds->s[k].v);
    }
    free(ds->s);
}

/* ---- timing ---- */

struct chunks {
    uint8_t **data;
    size_t *len;
    size_t n;
    size_t bytes;
};

static volatile uint64_t sink;

/* Encodes every series in 120-sample chunks; keeps the chunks when `keep`. Returns ns. */
static int64_t run_encode(const struct dataset *ds, struct chunks *out, bool keep)
{
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    size_t bytes = 0, nc = 0;
    int64_t t0 = clock_thread_cpu_ns();
    for (size_t k = 0; k < ds->n_series; k++) {
        const struct series *s = &ds->s[k];
        for (size_t i = 0; i < s->n; i += CHUNK_SAMPLES) {
            size_t end = i + CHUNK_SAMPLES < s->n ? i + CHUNK_SAMPLES : s->n;
            gorilla_enc_reset(&e);
            for (size_t j = i; j < end; j++) {
                if (gorilla_enc_append_bits(&e, s->t[j], s->v[j]) != 0)
                    abort();
            }
            struct gorilla_snap snap;
            gorilla_enc_snapshot(&e, &snap);
            bytes += snap.len;
            if (keep) {
                out->data[nc] = malloc(snap.len);
                memcpy(out->data[nc], snap.data, snap.len);
                out->len[nc] = snap.len;
            }
            nc++;
        }
    }
    int64_t ns = clock_thread_cpu_ns() - t0;
    gorilla_enc_deinit(&e);
    out->n = nc;
    out->bytes = bytes;
    return ns;
}

static int64_t run_decode(const struct chunks *c)
{
    uint64_t acc = 0;
    int64_t t0 = clock_thread_cpu_ns();
    for (size_t k = 0; k < c->n; k++) {
        struct gorilla_iter it;
        gorilla_iter_init(&it, c->data[k], c->len[k]);
        while (gorilla_iter_next(&it) == 1) {
            int64_t t;
            uint64_t v;
            gorilla_iter_at_bits(&it, &t, &v);
            acc += (uint64_t)t ^ v;
        }
        if (gorilla_iter_err(&it) != 0)
            abort();
    }
    int64_t ns = clock_thread_cpu_ns() - t0;
    sink = acc;
    return ns;
}

static int64_t run_decode_batch(const struct chunks *c)
{
    uint64_t acc = 0;
    int64_t ts[CHUNK_SAMPLES];
    double vs[CHUNK_SAMPLES];
    int64_t t0 = clock_thread_cpu_ns();
    for (size_t k = 0; k < c->n; k++) {
        struct gorilla_iter it;
        gorilla_iter_init(&it, c->data[k], c->len[k]);
        int n;
        while ((n = gorilla_iter_next_batch(&it, ts, vs, CHUNK_SAMPLES)) > 0) {
            uint64_t v;
            memcpy(&v, &vs[n - 1], sizeof v);
            acc += (uint64_t)ts[n - 1] ^ v ^ (uint64_t)n;
        }
        if (n < 0)
            abort();
    }
    int64_t ns = clock_thread_cpu_ns() - t0;
    sink = acc;
    return ns;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t median(int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    return v[n / 2];
}

static void report(const struct dataset *ds, const char *op, int64_t ns, const struct chunks *c)
{
    printf("{\"bench\":\"gorilla_%s\",\"shape\":\"%s\",\"ns_per_sample\":%.3f,"
           "\"bytes_per_sample\":%.4f,\"samples\":%zu,\"series\":%zu,\"chunks\":%zu,"
           "\"chunk_samples\":%d,\"reps\":%d}\n",
           op, ds->shape, (double)ns / (double)ds->n_samples,
           (double)c->bytes / (double)ds->n_samples, ds->n_samples, ds->n_series, c->n,
           CHUNK_SAMPLES, REPS);
    fflush(stdout);
}

static void bench_shape(struct dataset *ds)
{
    size_t max_chunks = 0;
    for (size_t k = 0; k < ds->n_series; k++)
        max_chunks += (ds->s[k].n + CHUNK_SAMPLES - 1) / CHUNK_SAMPLES;
    struct chunks c = {malloc(max_chunks * sizeof(uint8_t *)), malloc(max_chunks * sizeof(size_t)),
                       0, 0};
    run_encode(ds, &c, true);
    int64_t enc[REPS], dec[REPS], bat[REPS];
    for (int r = 0; r < REPS; r++) {
        struct chunks scratch = {0};
        enc[r] = run_encode(ds, &scratch, false);
        dec[r] = run_decode(&c);
        bat[r] = run_decode_batch(&c);
    }
    report(ds, "encode", median(enc, REPS), &c);
    report(ds, "decode", median(dec, REPS), &c);
    report(ds, "decode_batch", median(bat, REPS), &c);
    for (size_t k = 0; k < c.n; k++)
        free(c.data[k]);
    free(c.data);
    free(c.len);
}

int main(void)
{
    struct dataset ds;
    gen_simple(&ds, "constant", false);
    bench_shape(&ds);
    dataset_free(&ds);
    gen_node_exporter(&ds);
    bench_shape(&ds);
    dataset_free(&ds);
    gen_simple(&ds, "random", true);
    bench_shape(&ds);
    dataset_free(&ds);
    return 0;
}
