/* Micro benchmarks for the wire formats: Prometheus float formatting and JSON string escaping
 * (formats/jsonw), remote write 1.0/2.0 and Loki push decode+validate (formats/wire), postings
 * encode/decode (formats/postings). One JSON object per line; each figure is the median of 7 runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "formats/jsonw.h"
#include "formats/postings.h"
#include "formats/wire/lokipush.h"
#include "formats/wire/rw.h"

#define RUNS 7

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, RUNS, sizeof *v, cmp_double);
    return v[RUNS / 2];
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ---- jsonw ---- */

static void bench_float(const char *shape, const double *vals, size_t n)
{
    double t[RUNS];
    struct buf b = BUF_INIT;
    for (int r = 0; r < RUNS; r++) {
        buf_reset(&b);
        struct jsonw w;
        jsonw_init(&w, &b);
        jsonw_arr_begin(&w);
        double t0 = now_ns();
        for (size_t i = 0; i < n; i++)
            jsonw_float_str(&w, vals[i]);
        t[r] = (now_ns() - t0) / (double)n;
        jsonw_arr_end(&w);
        jsonw_finish(&w);
    }
    printf(
        "{\"bench\":\"jsonw_float_str\",\"shape\":\"%s\",\"values\":%zu,\"ns_per_value\":%.1f}\n",
        shape, n, median(t));
    buf_deinit(&b);
}

static void bench_floats(void)
{
    enum { N = 200000 };
    static double v[N];
    for (size_t i = 0; i < N; i++) /* counters: integers */
        v[i] = (double)(next_rand() % 10000000);
    bench_float("integers", v, N);
    for (size_t i = 0; i < N; i++) /* gauges: a few decimals */
        v[i] = (double)(next_rand() % 1000000) / 1000.0;
    bench_float("short_decimals", v, N);
    for (size_t i = 0; i < N; i++) /* rates: full-precision quotients */
        v[i] = (double)(next_rand() % 1000000) / (double)(1 + next_rand() % 997) / 15.0;
    bench_float("rates", v, N);
}

static void bench_strings(void)
{
    enum { N = 100000 };
    static char text[N][32];
    static size_t len[N];
    for (size_t i = 0; i < N; i++)
        len[i] = (size_t)snprintf(text[i], sizeof text[i], "instance-%zu.example:9100", i);
    double t[RUNS];
    struct buf b = BUF_INIT;
    size_t bytes = 0;
    for (int r = 0; r < RUNS; r++) {
        buf_reset(&b);
        struct jsonw w;
        jsonw_init(&w, &b);
        jsonw_arr_begin(&w);
        bytes = 0;
        double t0 = now_ns();
        for (size_t i = 0; i < N; i++) {
            jsonw_str(&w, text[i], len[i]);
            bytes += len[i];
        }
        t[r] = now_ns() - t0;
        jsonw_arr_end(&w);
        jsonw_finish(&w);
    }
    double m = median(t);
    printf(
        "{\"bench\":\"jsonw_str\",\"shape\":\"label_values\",\"strings\":%d,\"ns_per_string\":%.1f,"
        "\"mb_per_s\":%.0f}\n",
        N, m / N, (double)bytes / (m / 1e9) / 1e6);
    buf_deinit(&b);
}

/* ---- remote write ---- */

enum { SERIES = 2000, SAMPLES = 5, LABELS = 8 };

static void make_series(struct rw_series *series, struct label (*ls)[LABELS],
                        struct rw_sample *samples, char (*vals)[24])
{
    static const char *names[LABELS] = {"__name__", "cpu",  "instance", "job",
                                        "le",       "mode", "region",   "zone"};
    for (size_t i = 0; i < SAMPLES; i++)
        samples[i] = (struct rw_sample){1700000000000 + (int64_t)i * 15000, (double)i * 1.5};
    for (size_t s = 0; s < SERIES; s++) {
        for (size_t k = 0; k < LABELS; k++) {
            int n = snprintf(vals[s * LABELS + k], 24, "%s-%zu", names[k], k == 1 ? s : s % 50);
            ls[s][k] = (struct label){str_from_cstr(names[k]), {vals[s * LABELS + k], (size_t)n}};
        }
        series[s] = (struct rw_series){ls[s], LABELS, samples, SAMPLES};
    }
}

static void bench_rw(int version)
{
    static struct rw_series series[SERIES];
    static struct label ls[SERIES][LABELS];
    static struct rw_sample samples[SAMPLES];
    static char vals[SERIES * LABELS][24];
    make_series(series, ls, samples, vals);
    struct buf body = BUF_INIT;
    if ((version == 1 ? rw1_encode : rw2_encode)(series, SERIES, &body))
        abort();
    struct wire_decoder d;
    wire_decoder_init(&d, 64 << 20, 512 << 20);
    double t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        for (int rep = 0; rep < 10; rep++) {
            int rc;
            if (version == 1) {
                const rw1_request *req;
                rc = rw1_decode(&d, body.data, body.len, &req);
            } else {
                const rw2_request *req;
                rc = rw2_decode(&d, body.data, body.len, &req);
            }
            if (rc)
                abort();
        }
        t[r] = (now_ns() - t0) / 10;
    }
    double m = median(t);
    printf("{\"bench\":\"rw%d_decode\",\"shape\":\"%d_series_%d_labels_%d_samples\",\"body_bytes\":"
           "%zu,"
           "\"ns_per_sample\":%.1f,\"mb_per_s\":%.0f}\n",
           version, SERIES, LABELS, SAMPLES, body.len, m / (SERIES * SAMPLES),
           (double)body.len / (m / 1e9) / 1e6);
    wire_decoder_deinit(&d);
    buf_deinit(&body);
}

static void bench_lokipush(void)
{
    enum { STREAMS = 100, LINES = 100 };
    static struct lokipush_entry entries[LINES];
    static struct lokipush_stream_in streams[STREAMS];
    static char lines[LINES][128];
    static char text[STREAMS][96];
    for (size_t i = 0; i < LINES; i++) {
        int n = snprintf(lines[i], sizeof lines[i],
                         "level=info ts=2026-01-01T00:00:%02zuZ caller=main.go:42 msg=\"request "
                         "served\" path=/api/v1/query status=200 duration=%zums",
                         i % 60, i);
        entries[i] = (struct lokipush_entry){
            1700000000000000000 + (int64_t)i, {lines[i], (size_t)n}, NULL, 0};
    }
    for (size_t s = 0; s < STREAMS; s++) {
        int n =
            snprintf(text[s], sizeof text[s],
                     "{app=\"api\", env=\"prod\", instance=\"pod-%zu\", namespace=\"default\"}", s);
        streams[s] = (struct lokipush_stream_in){NULL, 0, {text[s], (size_t)n}, entries, LINES};
    }
    struct buf body = BUF_INIT;
    if (lokipush_encode(streams, STREAMS, &body))
        abort();
    struct wire_decoder d;
    wire_decoder_init(&d, 64 << 20, 512 << 20);
    double t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        for (int rep = 0; rep < 10; rep++) {
            struct lokipush_request req;
            if (lokipush_decode(&d, body.data, body.len, &req))
                abort();
        }
        t[r] = (now_ns() - t0) / 10;
    }
    double m = median(t);
    printf("{\"bench\":\"lokipush_decode\",\"shape\":\"%d_streams_%d_lines\",\"body_bytes\":%zu,"
           "\"ns_per_line\":%.1f,\"mb_per_s\":%.0f}\n",
           STREAMS, LINES, body.len, m / (STREAMS * LINES), (double)body.len / (m / 1e9) / 1e6);
    wire_decoder_deinit(&d);
    buf_deinit(&body);
}

/* ---- postings ---- */

static void bench_postings(const char *shape, roaring_bitmap_t *bm)
{
    uint64_t card = roaring_bitmap_get_cardinality(bm);
    struct buf b = BUF_INIT;
    double te[RUNS], td[RUNS];
    for (int r = 0; r < RUNS; r++) {
        buf_reset(&b);
        double t0 = now_ns();
        if (postings_encode(bm, &b))
            abort();
        te[r] = now_ns() - t0;
        roaring_bitmap_t *out;
        t0 = now_ns();
        if (postings_decode(b.data, b.len, &out, NULL))
            abort();
        td[r] = now_ns() - t0;
        roaring_bitmap_free(out);
    }
    printf("{\"bench\":\"postings\",\"shape\":\"%s\",\"ids\":%llu,\"bytes\":%zu,"
           "\"encode_ns\":%.0f,\"decode_ns\":%.0f,\"encode_ns_per_id\":%.3f,\"decode_ns_per_id\":%."
           "3f}\n",
           shape, (unsigned long long)card, b.len, median(te), median(td),
           median(te) / (double)card, median(td) / (double)card);
    buf_deinit(&b);
    roaring_bitmap_free(bm);
}

int main(void)
{
    bench_floats();
    bench_strings();
    bench_rw(1);
    bench_rw(2);
    bench_lokipush();
    roaring_bitmap_t *sparse = roaring_bitmap_create();
    for (uint32_t i = 0; i < 100000; i++)
        roaring_bitmap_add(sparse, (uint32_t)(next_rand() % 50000000));
    bench_postings("sparse_100k_of_50M", sparse);
    roaring_bitmap_t *dense = roaring_bitmap_create();
    for (uint32_t i = 0; i < 1000000; i++)
        if (next_rand() % 3)
            roaring_bitmap_add(dense, i);
    bench_postings("dense_2of3_of_1M", dense);
    roaring_bitmap_t *runs = roaring_bitmap_from_range(0, 1000000, 1);
    roaring_bitmap_run_optimize(runs);
    bench_postings("run_1M", runs);
    return 0;
}
