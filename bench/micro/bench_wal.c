/* Micro benchmark of the WAL writer and replay (engine/tsdb/wal.h) on a real io_uring loop and a
 * real file system (TMPDIR, else /tmp; nothing else runs on the loop).
 *
 * Records: SAMPLES records of 500 samples each, shaped like one remote-write request's share for a
 * shard: consecutive series ids, one scrape timestamp, node_exporter-like values (half constant,
 * the rest counters and gauges with full float mantissas): 10 bytes per sample, ~5 KB per record.
 * 64 distinct payloads are encoded up front; the WAL copies them in (wal_append), so the figures
 * are the WAL's cost, not the encoder's.
 *
 * Load: a closed loop of `window` outstanding commits (clients). Each client appends one record,
 * commits, and when its callback fires (the commit's latency is measured from the append to the
 * callback) immediately sends the next one. window 1 is the latency of a lone writer; window 32
 * shows group commit (all commits queued during one write go out in the next). Modes: batch
 * (acknowledged after the write) and always (after the covering fdatasync). Default segment size
 * (128 MiB), so long runs roll segments.
 *
 * Replay: wal_replay over what the batch/window-32 run wrote (1 MiB pieces), page cache warm.
 *
 * Each configuration runs REPS times in a fresh directory; one JSON line gives the medians:
 * MB/s and records/s of acknowledged data, commit latency p50/p99, records per write. Wall-clock
 * times on a shared machine: compare ratios, never pass/fail on time. */
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/rand.h"
#include "base/clock.h"
#include "base/log.h"
#include "engine/io/loop.h"
#include "engine/tsdb/wal.h"

enum { REPS = 5, SAMPLES_PER_RECORD = 500, PAYLOADS = 64, WINDOW_MAX = 64 };

struct payload {
    struct buf b;
};

static struct payload payloads[PAYLOADS];

static uint64_t rng = 0x5eed2026u;

static uint64_t rnd(void)
{
    return splitmix64_next(&rng);
}

static uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static void make_payloads(void)
{
    struct walrec_sample s[SAMPLES_PER_RECORD];
    for (int p = 0; p < PAYLOADS; p++) {
        int64_t ts = 1700000000000LL + p * 15000;
        for (int i = 0; i < SAMPLES_PER_RECORD; i++) {
            double v;
            int kind = i % 4;
            if (kind < 2)
                v = (double)(i % 17); /* constant */
            else if (kind == 2)
                v = 1e6 * i + 1234.5 * p + (double)(rnd() % 1000) / 100.0; /* counter */
            else
                v = (double)(rnd() >> 11) * 0x1.0p-53 * 1e3; /* gauge, full mantissa */
            s[i] = (struct walrec_sample){(uint32_t)(p * SAMPLES_PER_RECORD + i), ts, f64_bits(v)};
        }
        buf_init(&payloads[p].b);
        if (walrec_samples_encode(&payloads[p].b, s, SAMPLES_PER_RECORD) != 0)
            abort();
    }
}

/* ---- one run ---- */

struct run;

struct client {
    struct run *r;
    int64_t t0;
};

struct run {
    struct loop *l;
    struct wal *w;
    uint32_t flags;
    uint64_t target, issued, done, bytes;
    int64_t *lat;
    struct client cl[WINDOW_MAX];
};

static void on_done(void *arg);

static void issue(struct client *c)
{
    struct run *r = c->r;
    struct buf *p = &payloads[r->issued % PAYLOADS].b;
    c->t0 = clock_mono_ns();
    if (wal_append(r->w, WALREC_SAMPLES, p->data, p->len, r->flags) != 0 ||
        wal_commit(r->w, on_done, c) != 0) {
        fprintf(stderr, "bench_wal: append failed\n");
        exit(1);
    }
    r->bytes += p->len + WALREC_HEADER_SIZE;
    r->issued++;
}

static void on_done(void *arg)
{
    struct client *c = arg;
    struct run *r = c->r;
    r->lat[r->done++] = clock_mono_ns() - c->t0;
    if (r->issued < r->target)
        issue(c);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
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

struct result {
    int64_t ns, p50, p99;
    uint64_t bytes, writes, fsyncs;
    int64_t replay_ns;
    uint64_t replay_bytes;
};

static int count_rec(void *arg, const struct walrec *rec, const struct wal_replay_at *at)
{
    (void)at;
    *(uint64_t *)arg += rec->len;
    return 0;
}

static void run_once(const char *base, enum wal_fsync mode, int window, uint64_t records,
                     uint32_t flags, bool replay, struct result *out)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/wal", base);
    struct loop l;
    struct wal_config cfg;
    wal_config_init(&cfg);
    cfg.fsync = mode;
    cfg.free_bytes_min = 0;
    cfg.free_permille_min = 0;
    struct run r = {.l = &l, .flags = flags, .target = records};
    r.lat = malloc(records * sizeof *r.lat);
    if (!r.lat || loop_init(&l, NULL) != 0 || wal_open(dir, &cfg, &l, &r.w) != 0) {
        fprintf(stderr, "bench_wal: setup failed (io_uring or %s)\n", dir);
        exit(1);
    }
    loop_set_before_wait(&l, wal_before_wait, r.w);
    int64_t t0 = clock_mono_ns();
    for (int i = 0; i < window; i++) {
        r.cl[i].r = &r;
        issue(&r.cl[i]);
    }
    while (r.done < r.target)
        if (loop_run_once(&l, -1) < 0)
            exit(1);
    out->ns = clock_mono_ns() - t0;
    struct wal_stats st;
    wal_stats_get(r.w, &st);
    wal_close(r.w);
    loop_deinit(&l);
    qsort(r.lat, records, sizeof *r.lat, cmp_i64);
    out->p50 = r.lat[records / 2];
    out->p99 = r.lat[records * 99 / 100];
    out->bytes = r.bytes;
    out->writes = st.writes;
    out->fsyncs = st.fsyncs;
    if (replay) {
        out->replay_bytes = 0;
        struct wal_replay_result res;
        int64_t t1 = clock_mono_ns();
        if (wal_replay(dir, NULL, count_rec, &out->replay_bytes, &res) != 0)
            exit(1);
        out->replay_ns = clock_mono_ns() - t1;
    }
    free(r.lat);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void bench(const char *base, enum wal_fsync mode, int window, uint64_t records,
                  uint32_t flags, bool replay)
{
    int64_t mbs[REPS], rps[REPS], p50[REPS], p99[REPS], rpw[REPS], rmb[REPS];
    struct result res = {0};
    for (int i = 0; i < REPS; i++) {
        run_once(base, mode, window, records, flags, replay, &res);
        double s = (double)res.ns / 1e9;
        mbs[i] = (int64_t)((double)res.bytes / 1e6 / s * 1000);
        rps[i] = (int64_t)((double)records / s);
        p50[i] = res.p50;
        p99[i] = res.p99;
        rpw[i] = (int64_t)((double)records / (double)res.writes * 1000);
        rmb[i] =
            replay
                ? (int64_t)((double)res.replay_bytes / 1e6 / ((double)res.replay_ns / 1e9) * 1000)
                : 0;
    }
    printf(
        "{\"bench\":\"wal_write\",\"mode\":\"%s\",\"window\":%d,\"compress\":%s,"
        "\"samples_per_record\":%d,\"record_bytes\":%zu,\"records\":%" PRIu64 ","
        "\"mb_per_s\":%.1f,\"records_per_s\":%" PRId64 ",\"samples_per_s\":%" PRId64 ","
        "\"commit_p50_us\":%.1f,\"commit_p99_us\":%.1f,\"records_per_write\":%.2f,\"reps\":%d}\n",
        mode == WAL_FSYNC_ALWAYS ? "always" : "batch", window, flags ? "true" : "false",
        SAMPLES_PER_RECORD, payloads[0].b.len + WALREC_HEADER_SIZE, records,
        (double)median(mbs, REPS) / 1000, median(rps, REPS), median(rps, REPS) * SAMPLES_PER_RECORD,
        (double)median(p50, REPS) / 1000, (double)median(p99, REPS) / 1000,
        (double)median(rpw, REPS) / 1000, REPS);
    if (replay)
        printf("{\"bench\":\"wal_replay\",\"records\":%" PRIu64 ",\"read_bytes\":1048576,"
               "\"mb_per_s\":%.1f,\"reps\":%d}\n",
               records, (double)median(rmb, REPS) / 1000, REPS);
    fflush(stdout);
}

int main(void)
{
    log_level_set(LOG_WARN);
    const char *tmp = getenv("TMPDIR");
    char base[256];
    snprintf(base, sizeof base, "%s/strata-bench-wal-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    make_payloads();
    bench(base, WAL_FSYNC_BATCH, 1, 20000, 0, false);
    bench(base, WAL_FSYNC_BATCH, 32, 40000, 0, true);
    bench(base, WAL_FSYNC_BATCH, 32, 40000, WALREC_COMPRESS, false);
    bench(base, WAL_FSYNC_ALWAYS, 1, 1000, 0, false);
    bench(base, WAL_FSYNC_ALWAYS, 32, 8000, 0, false);
    rmdir(base);
    for (int p = 0; p < PAYLOADS; p++)
        buf_deinit(&payloads[p].b);
    return 0;
}
