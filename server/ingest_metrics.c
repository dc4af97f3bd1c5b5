/* Prometheus text exposition of the ingest pipeline's and the shards' TSDB counters
 * (ingest_metrics_render in ingest.h). */
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "server/ingest_internal.h"

#define C(field, name, help)                                                                       \
    {                                                                                              \
        name, help, offsetof(struct ingest_stats, field)                                           \
    }

static const struct dispatch_counter ingest_counters[] = {
    C(requests, "strata_ingest_requests_total", "Remote-write requests decoded or refused."),
    C(requests_failed, "strata_ingest_requests_failed_total",
      "Remote-write requests answered with a non-2xx status."),
    C(samples_received, "strata_ingest_samples_received_total",
      "Float samples in decoded remote-write requests."),
    C(samples_written, "strata_ingest_samples_written_total",
      "Samples stored (identical duplicates included)."),
    C(samples_rejected, "strata_ingest_samples_rejected_total",
      "Samples rejected by validation, limits or the TSDB."),
    C(histograms_received, "strata_ingest_histograms_received_total",
      "Native histogram samples received."),
    C(histograms_written, "strata_ingest_histograms_written_total",
      "Native histogram samples stored (identical duplicates included)."),
    C(histograms_rejected, "strata_ingest_histograms_rejected_total",
      "Native histogram samples rejected by validation, limits or the TSDB."),
    C(exemplars_received, "strata_ingest_exemplars_received_total",
      "Exemplars in decoded remote-write requests."),
    C(series_invalid, "strata_ingest_series_invalid_total", "Series refused by validation."),
    C(series_limited, "strata_ingest_series_limited_total",
      "New series refused by the per-tenant series limit."),
    C(metadata_received, "strata_ingest_metadata_received_total", "Metadata entries received."),
    C(metadata_dropped, "strata_ingest_metadata_dropped_total",
      "Metadata entries not kept (over the per-shard limit, or too long)."),
    C(backpressure, "strata_ingest_backpressure_total",
      "Requests answered 503: WAL full, disk low, queue full or stopping."),
    C(mesh_full_retries, "strata_ingest_mesh_full_retries_total",
      "Retries of parts waiting for room on a full cross-shard queue."),
    C(parts_applied, "strata_ingest_parts_applied_total",
      "Request parts applied by their owner shard."),
};

static const char *const tsdb_gauges[][2] = {
    {"strata_tsdb_head_series", "Series in the head."},
    {"strata_tsdb_head_chunks", "Chunks in the head (open and closed)."},
    {"strata_tsdb_head_bytes", "Heap bytes of the head."},
    {"strata_tsdb_wal_pending_bytes", "WAL bytes appended and not yet written."},
    {"strata_tsdb_blocks", "Blocks on disk."},
    {"strata_tsdb_blocks_bytes", "Bytes of the blocks on disk."},
};

static const char *const tsdb_sums[][2] = {
    {"strata_tsdb_samples_appended_total", "Samples stored by the TSDB."},
    {"strata_tsdb_samples_duplicate_total", "Identical samples dropped as duplicates."},
    {"strata_tsdb_series_created_total", "Series created in the head."},
    {"strata_tsdb_wal_written_bytes_total", "Bytes written to the WAL."},
    {"strata_tsdb_wal_fsyncs_total", "WAL fdatasync rounds."},
    {"strata_tsdb_head_cuts_total", "Head cuts into blocks."},
    {"strata_tsdb_compactions_total", "Block compactions."},
    {"strata_tsdb_batches_refused_total", "Append batches refused (WAL full or disk low)."},
    {"strata_tsdb_wal_commits_total", "WAL commit requests (one per applied part)."},
    {"strata_tsdb_wal_writes_total", "WAL writes completed (one per group commit)."},
    {"strata_tsdb_wal_write_milliseconds_total",
     "WAL writes, submit to completion, summed (what acknowledgements wait for)."},
};

static const char *tsdb_reason(int k)
{
    return tsdb_reject_str((enum tsdb_reject)k);
}

/* Every shard's row, zeros for a shard without a TSDB (its gauges still shown). */
static bool tsdb_row(const void *ctx, uint32_t i, uint64_t *g, uint64_t *c, uint64_t *r)
{
    struct tsdb *const *tsdbs = ctx;
    if (!tsdbs[i])
        return true;
    struct tsdb_stats t;
    tsdb_stats_get(tsdbs[i], &t);
    uint64_t gv[] = {t.head.series,      t.head.chunks_open + t.head.chunks_closed,
                     t.head.bytes_total, t.wal.pending_bytes,
                     t.blocks,           t.blocks_bytes};
    uint64_t cv[] = {t.samples_accepted_total,
                     t.samples_duplicate_total,
                     t.series_created_total,
                     t.wal.bytes_written,
                     t.wal.fsyncs,
                     t.cuts_total,
                     t.compactions_total,
                     t.batches_refused_full_total + t.batches_refused_disk_total,
                     t.wal.commits,
                     t.wal.writes,
                     t.wal.write_ns_sum / 1000000};
    _Static_assert(sizeof gv / sizeof gv[0] == sizeof tsdb_gauges / sizeof tsdb_gauges[0],
                   "a value per gauge");
    _Static_assert(sizeof cv / sizeof cv[0] == sizeof tsdb_sums / sizeof tsdb_sums[0],
                   "a value per counter");
    memcpy(g, gv, sizeof gv);
    memcpy(c, cv, sizeof cv);
    memcpy(r, t.samples_rejected_total, TSDB_REJECT_KINDS_ * sizeof *r);
    return true;
}

static const struct dispatch_store_metrics tsdb_metrics = {
    .gauges = tsdb_gauges,
    .ngauges = sizeof tsdb_gauges / sizeof tsdb_gauges[0],
    .sums = tsdb_sums,
    .nsums = sizeof tsdb_sums / sizeof tsdb_sums[0],
    .reasons_name = "strata_tsdb_samples_rejected_total",
    .reasons_help = "Samples the TSDB rejected, by reason.",
    .nreasons = TSDB_REJECT_KINDS_,
    .reason = tsdb_reason,
    .row = tsdb_row,
};

int ingest_metrics_render(struct buf *out, struct ingest_shard *const *ingest,
                          struct tsdb *const *tsdbs, uint32_t n)
{
    int rc = dispatch_metrics_counters(
        out, ingest_counters, sizeof ingest_counters / sizeof ingest_counters[0],
        (const void *const *)ingest, offsetof(struct ingest_shard, stats), n);
    if (rc || !tsdbs)
        return rc;
    return dispatch_metrics_store(out, &tsdb_metrics, tsdbs, n);
}
