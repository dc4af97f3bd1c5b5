/* Prometheus text exposition of the Loki push pipeline's counters and the shards' log store figures
 * (logingest_metrics_render in logingest.h). */
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "server/logingest_internal.h"

#define C(field, name, help)                                                                       \
    {                                                                                              \
        name, help, offsetof(struct logingest_stats, field)                                        \
    }

static const struct dispatch_counter push_counters[] = {
    C(requests, "strata_loki_push_requests_total", "Loki push requests decoded or refused."),
    C(requests_failed, "strata_loki_push_requests_failed_total",
      "Loki push requests answered with a non-2xx status."),
    C(entries_received, "strata_loki_push_entries_received_total",
      "Log entries in decoded push requests."),
    C(bytes_received, "strata_loki_push_line_bytes_received_total",
      "Line bytes of the entries in decoded push requests."),
    C(entries_written, "strata_loki_push_entries_written_total",
      "Log entries stored (identical duplicates included)."),
    C(entries_duplicate, "strata_loki_push_entries_duplicate_total",
      "Log entries identical to a stored one, dropped."),
    C(entries_rejected, "strata_loki_push_entries_rejected_total",
      "Log entries rejected by validation, limits or the log store."),
    C(streams_invalid, "strata_loki_push_streams_invalid_total",
      "Streams refused by label validation."),
    C(rate_limited, "strata_loki_push_rate_limited_total",
      "Push requests refused by the per-tenant ingestion rate limit (429)."),
    C(backpressure, "strata_loki_push_backpressure_total",
      "Push requests answered 503: WAL full, disk low, queue full or stopping."),
    C(mesh_full_retries, "strata_loki_push_mesh_full_retries_total",
      "Retries of parts waiting for room on a full cross-shard queue."),
    C(parts_applied, "strata_loki_push_parts_applied_total",
      "Push request parts applied by their owner shard."),
};

static const char *const store_gauges[][2] = {
    {"strata_logstore_streams", "Live streams in the head."},
    {"strata_logstore_head_entries", "Log entries in the head."},
    {"strata_logstore_head_line_bytes", "Raw line bytes in the head."},
    {"strata_logstore_head_chunk_bytes", "Encoded bytes of finished head chunks."},
    {"strata_logstore_wal_pending_bytes", "Log WAL bytes appended and not yet written."},
    {"strata_logstore_blocks", "Log blocks on disk."},
    {"strata_logstore_blocks_bytes", "Bytes of the log blocks on disk."},
};

static const char *const store_sums[][2] = {
    {"strata_logstore_entries_appended_total", "Log entries stored by the log stores."},
    {"strata_logstore_line_bytes_appended_total", "Line bytes of the stored entries."},
    {"strata_logstore_entries_duplicate_total", "Identical entries dropped as duplicates."},
    {"strata_logstore_streams_created_total", "Streams created in the head."},
    {"strata_logstore_wal_written_bytes_total", "Bytes written to the log WAL."},
    {"strata_logstore_wal_fsyncs_total", "Log WAL fdatasync rounds."},
    {"strata_logstore_head_cuts_total", "Log head cuts into blocks."},
    {"strata_logstore_compactions_total", "Log block compactions."},
    {"strata_logstore_batches_refused_total", "Append batches refused (WAL full or disk low)."},
    {"strata_logstore_wal_commits_total", "Log WAL commit requests (one per applied part)."},
    {"strata_logstore_wal_writes_total", "Log WAL writes completed (one per group commit)."},
    {"strata_logstore_wal_write_milliseconds_total",
     "Log WAL writes, submit to completion, summed (what acknowledgements wait for)."},
    {"strata_logstore_retention_blocks_deleted_total",
     "Log blocks deleted by retention (past every stream's retention)."},
    {"strata_logstore_retention_blocks_rewritten_total",
     "Log blocks rewritten without the chunks of streams past their retention."},
    {"strata_logstore_retention_chunks_dropped_total",
     "Log chunks dropped by per-stream retention in rewritten blocks."},
};

static const char *store_reason(int k)
{
    return logstore_reject_str((enum logstore_reject)k);
}

/* A shard without a log store is left out of the gauges. */
static bool store_row(const void *ctx, uint32_t i, uint64_t *g, uint64_t *c, uint64_t *r)
{
    struct logstore *const *stores = ctx;
    if (!stores[i])
        return false;
    struct logstore_stats t;
    logstore_stats_get(stores[i], &t);
    uint64_t gv[] = {t.streams,           t.head_entries, t.head_line_bytes, t.head_chunk_bytes,
                     t.wal.pending_bytes, t.blocks,       t.blocks_bytes};
    uint64_t cv[] = {t.entries_accepted_total,
                     t.bytes_accepted_total,
                     t.entries_duplicate_total,
                     t.streams_created_total,
                     t.wal.bytes_written,
                     t.wal.fsyncs,
                     t.cuts_total,
                     t.compactions_total,
                     t.batches_refused_full_total + t.batches_refused_disk_total,
                     t.wal.commits,
                     t.wal.writes,
                     t.wal.write_ns_sum / 1000000,
                     t.retention_blocks_deleted_total,
                     t.retention_blocks_rewritten_total,
                     t.retention_chunks_dropped_total};
    _Static_assert(sizeof gv / sizeof gv[0] == sizeof store_gauges / sizeof store_gauges[0],
                   "a value per gauge");
    _Static_assert(sizeof cv / sizeof cv[0] == sizeof store_sums / sizeof store_sums[0],
                   "a value per counter");
    memcpy(g, gv, sizeof gv);
    memcpy(c, cv, sizeof cv);
    memcpy(r, t.entries_rejected_total, LOGSTORE_REJECT_KINDS_ * sizeof *r);
    return true;
}

static const struct dispatch_store_metrics store_metrics = {
    .gauges = store_gauges,
    .ngauges = sizeof store_gauges / sizeof store_gauges[0],
    .sums = store_sums,
    .nsums = sizeof store_sums / sizeof store_sums[0],
    .reasons_name = "strata_logstore_entries_rejected_total",
    .reasons_help = "Log entries the log stores rejected, by reason.",
    .nreasons = LOGSTORE_REJECT_KINDS_,
    .reason = store_reason,
    .row = store_row,
};

int logingest_metrics_render(struct buf *out, struct logingest_shard *const *shards,
                             struct logstore *const *stores, uint32_t n)
{
    int rc = dispatch_metrics_counters(
        out, push_counters, sizeof push_counters / sizeof push_counters[0],
        (const void *const *)shards, offsetof(struct logingest_shard, stats), n);
    if (rc || !stores)
        return rc;
    return dispatch_metrics_store(out, &store_metrics, stores, n);
}
