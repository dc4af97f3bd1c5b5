/* Micro benchmark of persistent blocks (engine/tsdb/block.h): write and read throughput and bytes
 * per sample on disk for node_exporter-like data.
 *
 * Data: 10,000 series = 15 hosts x ~667 series (labels __name__ from 60 metric families,
 * instance, job="node" and a per-series label), 2 h of 15 s samples (480 per series, four
 * 120-sample Gorilla chunks), built with the gorilla encoder before timing. Values: 50% constant,
 * 25% integer counters, 10% decimal counters (CPU-seconds-like, 2 decimals), 5% gauges on a
 * random walk, 10% full-entropy floats (durations); 2% of scrapes are 1-20 ms off the 15 s grid.
 *
 * Ops (each REPS times, median printed; wall-clock time: writing includes the fsyncs, reading
 * runs from the page cache):
 *   write          block_write of the whole set into a fresh directory: MB/s of block bytes,
 *                  ns per sample, bytes per sample on disk (index + chunks + meta.json);
 *   open           block_open (meta.json, TOC, symbols, names);
 *   read_chunks    select every series, walk every chunk (CRC-checked) without decoding;
 *   read_samples   the same, decoding every sample (gorilla_ / floatpack_iter_next_batch);
 *   select_one     {__name__="<family>", instance="<host>"}: a selective query, its chunks
 *                  decoded; microseconds per query.
 * One JSON object per line on stdout. Never pass/fail on time. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/rand.h"
#include "base/clock.h"
#include "engine/index/matcher.h"
#include "engine/tsdb/block.h"
#include "engine/tsdb/series_set.h"
#include "formats/floatpack.h"
#include "formats/gorilla.h"

enum {
    N_SERIES = 10000,
    N_HOSTS = 15,
    N_FAMILIES = 60,
    SAMPLES = 480,
    CHUNK = 120,
    SCRAPE_MS = 15000,
    REPS = 5,
};

static uint64_t rng_state = 0x5eed2026u;

static uint64_t rng_next(void)
{
    return splitmix64_next(&rng_state);
}

static double rng_unit(void)
{
    return rand_unit(rng_next());
}

struct bseries {
    struct label labels[4];
    char buf[96];
    struct chunk_meta chunks[SAMPLES / CHUNK];
};

static struct bseries *series;
static int64_t grid[SAMPLES];

/* Value of sample i of a series of kind k (deterministic per series state). */
static double next_value(int kind, double *state, double base)
{
    switch (kind) {
    case 0: return base;
    case 1: return *state += (double)(rng_next() % 50);
    case 2: return *state = (double)((int64_t)((*state + rng_unit() * 1.5) * 100)) / 100;
    case 3: return *state += (double)((int64_t)(rng_next() % 9) - 4) * 4096;
    default: return base * rng_unit();
    }
}

static void build_series(size_t i)
{
    struct bseries *s = &series[i];
    int fam = (int)(i % N_FAMILIES), host = (int)((i / N_FAMILIES) % N_HOSTS);
    /* buf holds the four values, each NUL-terminated: family, instance, job, series number */
    int n = snprintf(s->buf, sizeof s->buf, "node_family_%02d", fam) + 1;
    n += snprintf(s->buf + n, sizeof s->buf - (size_t)n, "host-%02d:9100", host) + 1;
    n += snprintf(s->buf + n, sizeof s->buf - (size_t)n, "node") + 1;
    snprintf(s->buf + n, sizeof s->buf - (size_t)n, "%zu", i);
    const char *p = s->buf;
    const char *vals[4];
    for (int k = 0; k < 4; k++) {
        vals[k] = p;
        p += strlen(p) + 1;
    }
    s->labels[0] = (struct label){STR_LIT("__name__"), str_from_cstr(vals[0])};
    s->labels[1] = (struct label){STR_LIT("instance"), str_from_cstr(vals[1])};
    s->labels[2] = (struct label){STR_LIT("job"), str_from_cstr(vals[2])};
    s->labels[3] = (struct label){STR_LIT("series"), str_from_cstr(vals[3])};
    uint64_t r = rng_next() % 100;
    int kind = r < 50 ? 0 : r < 75 ? 1 : r < 85 ? 2 : r < 90 ? 3 : 4;
    double state = (double)(rng_next() % 100000), base = 1 + (double)(rng_next() % 1000);
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    for (int c = 0; c < SAMPLES / CHUNK; c++) {
        for (int k = 0; k < CHUNK; k++) {
            int64_t t = grid[c * CHUNK + k];
            if (rng_next() % 50 == 0)
                t += (int64_t)(rng_next() % 41) - 20;
            gorilla_enc_append(&e, t, next_value(kind, &state, base));
        }
        size_t len;
        int64_t mint = gorilla_enc_first_ts(&e), maxt = gorilla_enc_last_ts(&e);
        uint8_t *d = gorilla_enc_steal(&e, &len);
        s->chunks[c] = (struct chunk_meta){mint, maxt, CHUNK, CHUNK_XOR, d, len};
    }
    gorilla_enc_deinit(&e);
}

static int series_cmp(const void *a, const void *b)
{
    const struct bseries *x = a, *y = b;
    return labels_cmp(x->labels, 4, y->labels, 4);
}

static void build(void)
{
    series = calloc(N_SERIES, sizeof *series);
    for (int i = 0; i < SAMPLES; i++)
        grid[i] = 1700000000000ll + (int64_t)i * SCRAPE_MS;
    for (size_t i = 0; i < N_SERIES; i++)
        build_series(i);
    qsort(series, N_SERIES, sizeof *series, series_cmp);
    /* labels point into each element's own buf, which moved with it: re-point them */
    for (size_t i = 0; i < N_SERIES; i++) {
        const char *p = series[i].buf;
        for (int k = 0; k < 4; k++) {
            series[i].labels[k].value = str_from_cstr(p);
            p += strlen(p) + 1;
        }
    }
}

/* ---- an in-memory chunk series set over `series` ---- */

struct mem_set {
    struct chunk_series_set base;
    size_t i;
    struct chunk_series cur;
};

static int ms_next(struct chunk_series_set *b)
{
    struct mem_set *s = (struct mem_set *)b;
    if (s->i == N_SERIES)
        return 0;
    struct bseries *x = &series[s->i++];
    s->cur = (struct chunk_series){x->labels, 4, x->chunks, SAMPLES / CHUNK};
    return 1;
}

static const struct chunk_series *ms_at(struct chunk_series_set *b)
{
    return &((struct mem_set *)b)->cur;
}

static void ms_close(struct chunk_series_set *b)
{
    (void)b;
}

static const struct chunk_series_set_ops ms_ops = {ms_next, ms_at, ms_close};

/* ---- timing ---- */

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

static char dir[256];
static char path[512];
static uint64_t block_bytes;

static void bench_write(void)
{
    int64_t ns[REPS];
    uint64_t samples = (uint64_t)N_SERIES * SAMPLES;
    for (int r = 0; r < REPS; r++) {
        if (path[0])
            block_remove_dir(path);
        struct mem_set set = {{&ms_ops, 0}, 0, {0}};
        struct blockindex_meta meta;
        blockindex_meta_init(&meta);
        int64_t t0 = clock_mono_ns();
        int rc = block_write(dir, &set.base, grid[0] - 60000, grid[SAMPLES - 1] + 60000, &meta);
        ns[r] = clock_mono_ns() - t0;
        if (rc) {
            fprintf(stderr, "block_write: %d\n", rc);
            exit(1);
        }
        char id[BLOCKINDEX_ULID_CHARS + 1];
        blockindex_ulid_format(&meta.ulid, id);
        snprintf(path, sizeof path, "%s/%s", dir, id);
        blockindex_meta_deinit(&meta);
    }
    struct block *b;
    if (block_open(path, &b, NULL)) {
        fprintf(stderr, "block_open failed\n");
        exit(1);
    }
    block_bytes = block_size_bytes(b);
    block_unref(b);
    char f[600];
    struct stat st;
    snprintf(f, sizeof f, "%s/index", path);
    stat(f, &st);
    int64_t m = median(ns, REPS);
    printf(
        "{\"bench\":\"block_write\",\"shape\":\"node_exporter\",\"series\":%d,\"samples\":%" PRIu64
        ",\"block_bytes\":%" PRIu64 ",\"index_bytes\":%lld,\"bytes_per_sample\":%.3f,"
        "\"index_bytes_per_series\":%.1f,\"ms\":%.1f,\"ns_per_sample\":%.1f,\"mb_per_s\":%.1f}\n",
        N_SERIES, samples, block_bytes, (long long)st.st_size,
        (double)block_bytes / (double)samples, (double)st.st_size / N_SERIES, (double)m / 1e6,
        (double)m / (double)samples, (double)block_bytes / ((double)m / 1e9) / 1e6);
}

static uint64_t read_all(struct block *b, bool decode, const struct matcher *ms, size_t n)
{
    struct chunk_series_set *set;
    if (block_select(b, ms, n, INT64_MIN, INT64_MAX, &set))
        exit(1);
    uint64_t samples = 0;
    int64_t ts[CHUNK];
    double v[CHUNK];
    while (chunk_series_set_next(set) == 1) {
        const struct chunk_series *cs = chunk_series_set_at(set);
        for (size_t c = 0; c < cs->n_chunks; c++) {
            if (!decode) {
                samples += cs->chunks[c].samples;
                continue;
            }
            int k;
            if (cs->chunks[c].encoding == CHUNK_PACKED) { /* the writer's re-encoding */
                struct floatpack_iter it;
                floatpack_iter_init(&it, cs->chunks[c].data, cs->chunks[c].len);
                while ((k = floatpack_iter_next_batch(&it, ts, v, CHUNK)) > 0)
                    samples += (uint64_t)k;
                continue;
            }
            struct gorilla_iter it;
            gorilla_iter_init(&it, cs->chunks[c].data, cs->chunks[c].len);
            while ((k = gorilla_iter_next_batch(&it, ts, v, CHUNK)) > 0)
                samples += (uint64_t)k;
        }
    }
    if (chunk_series_set_err(set))
        exit(1);
    chunk_series_set_close(set);
    return samples;
}

static void bench_read(void)
{
    int64_t open_ns[REPS], chunk_ns[REPS], sample_ns[REPS], one_ns[REPS];
    uint64_t samples = 0, one = 0;
    struct matcher ms[2];
    char err[64];
    matcher_init(&ms[0], MATCHER_EQ, STR_LIT("__name__"), STR_LIT("node_family_07"), err,
                 sizeof err);
    matcher_init(&ms[1], MATCHER_EQ, STR_LIT("instance"), STR_LIT("host-03:9100"), err, sizeof err);
    for (int r = 0; r < REPS; r++) {
        struct block *b;
        int64_t t0 = clock_mono_ns();
        if (block_open(path, &b, NULL))
            exit(1);
        open_ns[r] = clock_mono_ns() - t0;
        t0 = clock_mono_ns();
        samples = read_all(b, false, NULL, 0);
        chunk_ns[r] = clock_mono_ns() - t0;
        t0 = clock_mono_ns();
        samples = read_all(b, true, NULL, 0);
        sample_ns[r] = clock_mono_ns() - t0;
        t0 = clock_mono_ns();
        for (int q = 0; q < 100; q++)
            one = read_all(b, true, ms, 2);
        one_ns[r] = (clock_mono_ns() - t0) / 100;
        block_unref(b);
    }
    matcher_deinit(&ms[0]);
    matcher_deinit(&ms[1]);
    printf("{\"bench\":\"block_open\",\"shape\":\"node_exporter\",\"us\":%.1f}\n",
           (double)median(open_ns, REPS) / 1e3);
    int64_t m = median(chunk_ns, REPS);
    printf("{\"bench\":\"block_read_chunks\",\"shape\":\"node_exporter\",\"samples\":%" PRIu64
           ",\"ms\":%.1f,\"ns_per_sample\":%.2f,\"mb_per_s\":%.1f}\n",
           samples, (double)m / 1e6, (double)m / (double)samples,
           (double)block_bytes / ((double)m / 1e9) / 1e6);
    m = median(sample_ns, REPS);
    printf("{\"bench\":\"block_read_samples\",\"shape\":\"node_exporter\",\"samples\":%" PRIu64
           ",\"ms\":%.1f,\"ns_per_sample\":%.2f,\"mb_per_s\":%.1f}\n",
           samples, (double)m / 1e6, (double)m / (double)samples,
           (double)block_bytes / ((double)m / 1e9) / 1e6);
    printf("{\"bench\":\"block_select_one\",\"shape\":\"node_exporter\",\"samples\":%" PRIu64
           ",\"us_per_query\":%.1f}\n",
           one, (double)median(one_ns, REPS) / 1e3);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/strata-bench-block-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    build();
    bench_write();
    bench_read();
    block_remove_dir(dir);
    for (size_t i = 0; i < N_SERIES; i++)
        for (int c = 0; c < SAMPLES / CHUNK; c++)
            free((void *)series[i].chunks[c].data);
    free(series);
    return 0;
}
