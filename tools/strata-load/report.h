/* Run statistics and the final report of the load generator: per kind (metrics, logs, query)
 * counters, status codes, connection errors and two latency histograms (from the due time, which
 * includes queueing behind a slow target; and service time, from the last send), rendered as text
 * and as JSON.
 *
 * Counting rules: `requests` are attempts that got a response (any status); `ok` and `failed` are
 * requests finally answered 2xx or given up on (non-2xx after retries, connection errors); units
 * (samples, lines, queries) count toward units_ok only in 2xx answers. bytes_sent is what went on
 * the wire (heads + compressed bodies, retries included); raw_bytes the uncompressed bodies. Both
 * latency histograms hold every response, whatever its status. Not thread-safe. */
#ifndef STRATA_TOOLS_LOAD_REPORT_H
#define STRATA_TOOLS_LOAD_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/buf.h"
#include "tools/strata-load/hist.h"

enum ld_kind_id { LD_K_METRICS, LD_K_LOGS, LD_K_QUERY, LD_K_COUNT };
#define LD_STATUS_MAX 600

struct ld_stats {
    uint64_t requests, ok, failed, retries;
    uint64_t units_ok, units_sent;
    uint64_t bytes_sent, raw_bytes, bytes_recv;
    uint64_t status[LD_STATUS_MAX];
    uint64_t err_connect, err_reset, err_timeout, err_protocol;
    uint64_t behind;         /* requests due by the end that were never sent */
    uint64_t v2_unconfirmed; /* rw2: 2xx without X-Prometheus-Remote-Write-Samples-Written */
    struct ld_hist lat, svc;
    int last_error_status; /* a sample error answer (0: none) */
    char last_error[128];
};

void ld_stats_reset(struct ld_stats *s);
void ld_stats_merge(struct ld_stats *dst, const struct ld_stats *src);
uint64_t ld_stats_errors(const struct ld_stats *s); /* non-2xx responses + connection errors */
/* out = now - before (before: an earlier snapshot of the same counters). */
void ld_stats_diff(struct ld_stats *out, const struct ld_stats *now, const struct ld_stats *before);

struct ld_report_kind {
    bool enabled;
    const char *unit;   /* "samples", "lines", "queries" */
    double target_rate; /* units/s, 0: closed loop */
    const char *detail; /* e.g. "rw1", "protobuf", "promql range" */
    struct ld_stats stats;
};

struct ld_report {
    const char *mode;
    const char *target;
    double elapsed_s;
    double cpu_s; /* the load generator's own CPU time (all threads) */
    uint64_t seed;
    uint32_t threads;
    uint32_t connections;
    struct ld_report_kind kind[LD_K_COUNT];
};

extern const char *const ld_kind_names[LD_K_COUNT];

void ld_report_text(const struct ld_report *r, FILE *out);
/* Appends one JSON object (and a newline) to out. Returns 0 or ERR_NOMEM. */
int ld_report_json(const struct ld_report *r, struct buf *out);
/* One progress line (no newline): per enabled kind, units/s, requests/s, errors and p99 over the
 * interval stats `d` (differences over the last `dt_s` seconds). */
void ld_report_progress(char *out, size_t size, double t_s, const struct ld_report_kind *kinds,
                        const struct ld_stats *d, double dt_s);

#endif
