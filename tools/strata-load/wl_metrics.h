/* Metrics workload: node_exporter-like scrape targets as remote-write batches.
 *
 * Every target exposes the same `series_per_target` series (templates), built from families a
 * node_exporter and an instrumented app expose: counters (node_cpu_seconds_total{cpu,mode},
 * network and disk byte/packet counters, ...), gauges (memory, load, filesystem, temperatures) and
 * classic histograms (http_request_duration_seconds_bucket{le=...} with _sum and _count). Each
 * series carries the target labels instance, job, namespace and pod; label sets are sorted by name.
 *
 * Series s = target*series_per_target + template. Group g = series [g*batch, (g+1)*batch): one
 * request's worth. Values are stateless functions of (seed, series, generation, timestamp), so any
 * sample can be recomputed and two runs with the same seed and timestamps produce the same bytes:
 *   - counters interpolate linearly between per-second knots that rise by rate..2*rate-1, so they
 *     never decrease while the series lives;
 *   - histogram buckets are floor(count * F(le)) for a fixed per-histogram latency distribution F,
 *     so buckets are cumulative in le, monotonic in time, and the +Inf bucket equals _count;
 *   - gauges are sine waves with noise.
 * Churn: epoch = (ts - start) / interval; through epoch e, floor(e * churn * targets) targets have
 * been replaced (round robin), each replacement giving the target a new generation: a new instance
 * and pod value (a new set of series whose counters start over).
 *
 * Ownership: ld_metrics owns its templates; an ld_mbatch owns its arrays and strings and is reused
 * across builds. A built ld_metrics is read-only and may be shared by threads; a batch may not. */
#ifndef STRATA_TOOLS_LOAD_WL_METRICS_H
#define STRATA_TOOLS_LOAD_WL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/str.h"
#include "formats/wire/rw.h"
#include "tools/strata-load/rwenc.h"

#define LD_M_LABELS_MAX 10
#define LD_M_TS_MAX     1024 /* samples per series in one request */

enum ld_mkind { LD_M_COUNTER, LD_M_GAUGE, LD_M_BUCKET, LD_M_HSUM, LD_M_HCOUNT };

enum ld_rw_protocol { LD_RW1 = 1, LD_RW2 = 2 };

struct ld_metrics_cfg {
    uint64_t seed;
    uint32_t targets;           /* >= 1 */
    uint32_t series_per_target; /* >= 1 */
    uint32_t batch;             /* series per request, >= 1 */
    int64_t interval_ms;        /* scrape interval (churn epochs), > 0 */
    double churn;               /* fraction of targets replaced per interval, in [0, 1] */
    int64_t start_ms;           /* epoch 0 */
};

struct ld_mlabel {
    struct str name;
    struct str value;  /* static value; unused for target labels */
    int8_t target_idx; /* -1: static; 0: instance, 1: pod */
};

struct ld_mtmpl {
    uint8_t kind;     /* enum ld_mkind */
    uint8_t n_labels; /* including __name__ and the target labels */
    uint8_t le_idx;   /* bucket: index into the bucket bounds */
    uint32_t hist;    /* histograms: template index of the histogram's first series */
    uint32_t rate;    /* counters/histograms: increments (observations) per second, >= 1 */
    double scale;     /* counters: value of one increment; gauges: base value */
    double amp;       /* gauges: relative amplitude */
    bool pages;       /* byte gauges (memory, filesystem): whole 4 KiB pages, small steps */
    int8_t decimals;  /* gauges below 1000: decimal digits kept (as the exporter reads them from
                         /proc or sysfs); -1: full float64 precision (measured durations) */
    double median_s;  /* histograms: median latency */
    double cdf;       /* buckets: share of observations <= le */
    struct ld_mlabel labels[LD_M_LABELS_MAX];
};

struct ld_metrics {
    struct ld_metrics_cfg cfg;
    struct ld_mtmpl *tmpl; /* series_per_target entries */
    uint64_t n_series;
    uint32_t n_groups;
    struct arena strs; /* template strings */
};

/* Builds the templates. Returns 0, ERR_INVALID (bad config) or ERR_NOMEM. */
int ld_metrics_init(struct ld_metrics *m, const struct ld_metrics_cfg *cfg);
void ld_metrics_deinit(struct ld_metrics *m);

/* Generation of target `t` at timestamp ts_ms, and when that generation was born (ms). */
uint32_t ld_metrics_gen(const struct ld_metrics *m, uint32_t target, int64_t ts_ms);
int64_t ld_metrics_birth_ms(const struct ld_metrics *m, uint32_t target, uint32_t gen);
/* The value of series s (generation gen) at ts_ms. */
double ld_metrics_value(const struct ld_metrics *m, uint64_t series, uint32_t gen, int64_t ts_ms);
/* Bucket upper bounds of the histograms (the last is +Inf). */
extern const double ld_metrics_le[];
extern const uint32_t ld_metrics_n_le;

struct ld_mbatch {
    struct rw_series *series;
    size_t n_series, cap_series;
    struct label *labels;
    size_t n_labels, cap_labels;
    struct rw_sample *samples;
    size_t n_samples, cap_samples;
    struct arena strs; /* target label values of this batch */
    struct ld_rw2_enc rw2;
};

void ld_mbatch_init(struct ld_mbatch *b);
void ld_mbatch_deinit(struct ld_mbatch *b);

/* Fills b (replacing its content) with group g's series sampled at ts_ms[0..n_ts) (strictly
 * increasing, 1 <= n_ts <= LD_M_TS_MAX). A series whose target changes generation within the batch
 * appears once per generation. Returns 0 or ERR_NOMEM. */
int ld_metrics_build(const struct ld_metrics *m, uint32_t group, const int64_t *ts_ms,
                     uint32_t n_ts, struct ld_mbatch *b);
/* Number of series in group g. */
uint32_t ld_metrics_group_size(const struct ld_metrics *m, uint32_t group);
/* Appends the uncompressed remote-write body of b to out. Returns 0 or ERR_NOMEM. */
int ld_metrics_encode(struct ld_mbatch *b, enum ld_rw_protocol proto, struct buf *out);

#endif
