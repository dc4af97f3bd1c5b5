/* Micro benchmark of the native histogram chunk (formats/histchunk.h): encode and decode
 * ns/sample and bytes/sample, in 120-sample chunks (the head's cut), on two shapes.
 *
 * rpc_latency: a request-latency counter histogram as client_golang exposes it with schema 3
 * (bucket factor ~1.09): observations spread log-normally over ~20 buckets in 3 spans, 0-200
 * new observations per 15 s scrape, a new bucket appearing now and then (a layout change: ~3% of
 * samples), 200 series. Integer kind (what remote write carries for scraped histograms).
 *
 * rpc_latency_float: the same histograms as float histograms (counts as float64, e.g. after
 * recording rules or a rate), XOR-coded.
 *
 * Ops: encode (append every sample of a chunk into a reset encoder) and decode
 * (histchunk_iter_next per sample, touching each bucket). REPS repetitions over all chunks; the
 * median is printed as one JSON line per (shape, op). CPU time of the thread
 * (CLOCK_THREAD_CPUTIME_ID). Never pass/fail on time. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/histchunk.h"

enum { CHUNK_SAMPLES = 120, SERIES = 200, CHUNKS_PER_SERIES = 2, REPS = 7, NB = 40 };

static uint64_t rng = 0x5eed2026u;

static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

struct sample {
    int64_t t;
    uint32_t n_spans, n_buckets;
    struct histchunk_span spans[8];
    uint64_t b[NB];
    uint64_t count, zero;
    double sum;
};

/* One series' samples: counts only grow; buckets appear in index order of first use. */
static void make_series(struct sample *out, size_t n, bool is_float)
{
    uint64_t cum[NB] = {0}, zero = 0;
    bool used[NB] = {0};
    for (int i = 8; i < 28; i++)
        used[i] = (i != 14 && i != 21); /* 18 buckets in 3 spans */
    double sum = 0;
    int64_t t = 1700000000000;
    for (size_t k = 0; k < n; k++) {
        struct sample *s = &out[k];
        uint64_t obs = rnd() % 200;
        for (uint64_t o = 0; o < obs; o++) {
            double g = 0; /* approximately normal bucket position around 17 */
            for (int j = 0; j < 4; j++)
                g += (double)(rnd() % 1000) / 1000.0;
            int idx = 17 + (int)lround((g - 2.0) * 6);
            if (idx < 0 || idx >= NB) {
                zero++;
                continue;
            }
            if (!used[idx] && rnd() % 8)
                idx = 17; /* most stray observations land in the middle */
            used[idx] = true;
            cum[idx]++;
            sum += pow(2, idx / 8.0) * 0.001;
        }
        s->t = t;
        t += 15000;
        s->n_spans = s->n_buckets = 0;
        int prev_end = 0;
        s->count = zero;
        for (int i = 0; i < NB; i++) {
            if (!used[i])
                continue;
            if (s->n_spans == 0 || i != prev_end)
                s->spans[s->n_spans++] = (struct histchunk_span){i - prev_end, 0};
            s->spans[s->n_spans - 1].length++;
            prev_end = i + 1;
            double f = (double)cum[i] * 0.5;
            s->b[s->n_buckets++] = is_float ? histchunk_bits(f) : cum[i];
            s->count += cum[i];
        }
        s->zero = is_float ? histchunk_bits((double)zero * 0.5) : zero;
        if (is_float)
            s->count = histchunk_bits((double)s->count * 0.5);
        s->sum = sum;
    }
}

static struct histchunk_hist view(const struct sample *s)
{
    return (struct histchunk_hist){.schema = 3,
                                   .zero_threshold = 1e-128,
                                   .sum = s->sum,
                                   .count = s->count,
                                   .zero_count = s->zero,
                                   .pspans = s->spans,
                                   .n_pspans = s->n_spans,
                                   .pbuckets = s->b,
                                   .n_pbuckets = s->n_buckets};
}

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void run(const char *shape, bool is_float)
{
    size_t per = CHUNK_SAMPLES * CHUNKS_PER_SERIES, total = SERIES * per;
    struct sample *all = malloc(total * sizeof *all);
    for (size_t s = 0; s < SERIES; s++)
        make_series(all + s * per, per, is_float);
    size_t nchunks = total / CHUNK_SAMPLES;
    uint8_t **bytes = malloc(nchunks * sizeof *bytes);
    size_t *lens = malloc(nchunks * sizeof *lens), total_bytes = 0;
    struct histchunk_enc e;
    histchunk_enc_init(&e, is_float);
    double enc_ns[REPS], dec_ns[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = cpu_ns();
        for (size_t c = 0; c < nchunks; c++) {
            histchunk_enc_reset(&e, is_float);
            for (size_t k = 0; k < CHUNK_SAMPLES; k++) {
                const struct sample *s = &all[c * CHUNK_SAMPLES + k];
                struct histchunk_hist h = view(s);
                if (histchunk_enc_append(&e, s->t, &h) != 0)
                    abort();
            }
            if (r == 0) {
                const uint8_t *p = histchunk_enc_bytes(&e, &lens[c]);
                bytes[c] = malloc(lens[c]);
                memcpy(bytes[c], p, lens[c]);
                total_bytes += lens[c];
            }
        }
        enc_ns[r] = (cpu_ns() - t0) / (double)total;
    }
    uint64_t sink = 0;
    struct histchunk_iter it;
    for (int r = 0; r < REPS; r++) {
        double t0 = cpu_ns();
        for (size_t c = 0; c < nchunks; c++) {
            histchunk_iter_init(&it, bytes[c], lens[c]);
            while (histchunk_iter_next(&it) == 1) {
                const struct histchunk_hist *h = histchunk_iter_at(&it);
                for (uint32_t i = 0; i < h->n_pbuckets; i++)
                    sink += h->pbuckets[i];
            }
            if (histchunk_iter_err(&it))
                abort();
            histchunk_iter_deinit(&it);
        }
        dec_ns[r] = (cpu_ns() - t0) / (double)total;
    }
    qsort(enc_ns, REPS, sizeof *enc_ns, dcmp);
    qsort(dec_ns, REPS, sizeof *dec_ns, dcmp);
    double bps = (double)total_bytes / (double)total;
    uint64_t buckets = 0;
    for (size_t i = 0; i < total; i++)
        buckets += all[i].n_buckets;
    double bpb = (double)total_bytes / (double)buckets;
    printf("{\"bench\":\"histchunk_encode\",\"shape\":\"%s\",\"ns_per_sample\":%.1f,"
           "\"bytes_per_sample\":%.2f,\"bytes_per_bucket\":%.3f,\"samples\":%zu}\n",
           shape, enc_ns[REPS / 2], bps, bpb, total);
    printf("{\"bench\":\"histchunk_decode\",\"shape\":\"%s\",\"ns_per_sample\":%.1f,"
           "\"samples\":%zu,\"sink\":%" PRIu64 "}\n",
           shape, dec_ns[REPS / 2], total, sink % 10);
    for (size_t c = 0; c < nchunks; c++)
        free(bytes[c]);
    free(bytes);
    free(lens);
    free(all);
    histchunk_enc_deinit(&e);
}

int main(void)
{
    run("rpc_latency", false);
    run("rpc_latency_float", true);
    return 0;
}
