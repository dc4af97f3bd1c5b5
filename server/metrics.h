/* strata's own metrics. Each shard owns a `struct shard_metrics` and is its only writer: counters
 * are 64-bit atomics updated with a relaxed load + store (no locked instruction on the hot path),
 * and /metrics (on any shard) sums every shard's counters with relaxed loads, so collection never
 * races and never blocks a shard. Rendering produces the Prometheus text exposition format 0.0.4.
 *
 * Routes are indexed 1..n in server_routes order; index 0 is "unmatched" (404, malformed requests).
 * Status codes map onto a fixed list with an "other" slot. */
#ifndef STRATA_SERVER_METRICS_H
#define STRATA_SERVER_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"

#define METRICS_ROUTES_MAX 64
#define METRICS_CODES      19 /* METRICS_CODE_LIST + "other" */
#define METRICS_BUCKETS    16 /* finite latency buckets; +Inf is the count */

typedef _Atomic uint64_t metric_u64;

struct shard_metrics {
    metric_u64 requests[METRICS_ROUTES_MAX][METRICS_CODES];
    metric_u64 latency_buckets[METRICS_ROUTES_MAX]
                              [METRICS_BUCKETS]; /* per bucket, not cumulative */
    metric_u64 latency_count[METRICS_ROUTES_MAX];
    metric_u64 latency_sum_ns[METRICS_ROUTES_MAX];
    metric_u64 bytes_received;
    metric_u64 bytes_sent;
    metric_u64 conns_accepted;
    metric_u64 conns_rejected; /* over --http.max-connections */
    metric_u64 conns_open;     /* gauge */
    metric_u64 header_timeouts;
    metric_u64 idle_timeouts;
    metric_u64 client_aborts;       /* clients gone while their request's handler ran */
    metric_u64 query_jobs_canceled; /* query jobs canceled because their client went away */
    metric_u64 ws_open;             /* gauge: WebSocket connections */
    /* snapshot of the shard's mesh counters, refreshed by the shard every tick */
    metric_u64 mesh_sent;
    metric_u64 mesh_received;
    metric_u64 mesh_full;
    metric_u64 mesh_wakes_sent;
};

/* Single-writer updates (only the owning shard calls these). */
static inline void metric_add(metric_u64 *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}
static inline void metric_set(metric_u64 *c, uint64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}
static inline uint64_t metric_get(const metric_u64 *c)
{
    return atomic_load_explicit((metric_u64 *)c, memory_order_relaxed);
}

/* Process-wide Loki query fan-out figures (query_log.c adds them as selections close; any thread,
 * atomic adds): piece bytes the owners moved to query threads, and range aggregations the owners
 * computed as partials. Rendered as strata_loki_query_moved_bytes_total and
 * strata_loki_query_partial_ranges_total. */
void metrics_loki_query_add(uint64_t moved_bytes, uint64_t partial_ranges);

/* Counts one answered request: route index (0 = unmatched), status, latency. */
void metrics_observe_request(struct shard_metrics *m, unsigned route, int status, int64_t dur_ns);

struct metrics_input {
    uint32_t nshards;
    struct shard_metrics *const *shards;
    const uint64_t *busy_ns;        /* per shard */
    const uint64_t *iterations;     /* per shard */
    const char *const *route_names; /* [0] = "unmatched" */
    uint32_t nroutes;
    bool mesh;                  /* the mesh is wired: export its counters */
    const uint32_t *lane_depth; /* nshards x nshards, [from * nshards + to]; NULL: not exported */
    const char *version, *revision, *branch;
};

/* Appends the exposition text. Returns 0 or ERR_NOMEM. */
int metrics_render(struct buf *out, const struct metrics_input *in);

/* Process figures from /proc/self (Linux); fields are 0 when unreadable. */
struct process_stats {
    double cpu_seconds;
    uint64_t rss_bytes;
    uint64_t vsize_bytes;
    uint64_t open_fds;
    uint64_t max_fds;
    double start_time_seconds;
};
void metrics_process_stats(struct process_stats *out);

/* The code slot for a status (exposed for tests). */
unsigned metrics_code_slot(int status);

#endif
