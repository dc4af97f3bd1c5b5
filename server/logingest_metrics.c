/* Prometheus text exposition of the Loki push pipeline's counters and the shards' log store figures
 * (logingest_metrics_render in logingest.h). */
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>

#include "base/error.h"
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

static int render_push(struct buf *out, struct logingest_shard *const *s, uint32_t n)
{
    const void **stats = calloc(n ? n : 1, sizeof *stats);
    if (!stats)
        return ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++)
        stats[i] = s[i] ? &s[i]->stats : NULL;
    int rc = dispatch_metrics_counters(out, push_counters,
                                       sizeof push_counters / sizeof push_counters[0], stats, n);
    free(stats);
    return rc;
}

/* Per-shard gauges of the log stores. */
#define NGAUGE 7
static int render_store_gauges(struct buf *out, const struct logstore_stats *st,
                               const bool *present, uint32_t n)
{
    static const char *const g[NGAUGE][2] = {
        {"strata_logstore_streams", "Live streams in the head."},
        {"strata_logstore_head_entries", "Log entries in the head."},
        {"strata_logstore_head_line_bytes", "Raw line bytes in the head."},
        {"strata_logstore_head_chunk_bytes", "Encoded bytes of finished head chunks."},
        {"strata_logstore_wal_pending_bytes", "Log WAL bytes appended and not yet written."},
        {"strata_logstore_blocks", "Log blocks on disk."},
        {"strata_logstore_blocks_bytes", "Bytes of the log blocks on disk."},
    };
    uint64_t *v = calloc((size_t)(n ? n : 1) * NGAUGE, sizeof *v);
    if (!v)
        return ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const struct logstore_stats *t = &st[i];
        uint64_t *row = &v[(size_t)i * NGAUGE];
        row[0] = t->streams;
        row[1] = t->head_entries;
        row[2] = t->head_line_bytes;
        row[3] = t->head_chunk_bytes;
        row[4] = t->wal.pending_bytes;
        row[5] = t->blocks;
        row[6] = t->blocks_bytes;
    }
    int rc = dispatch_metrics_gauges(out, g, NGAUGE, v, present, n);
    free(v);
    return rc;
}

static const char *logstore_reason(int k)
{
    return logstore_reject_str((enum logstore_reject)k);
}

#define NSUM 9

static int render_store_counters(struct buf *out, const struct logstore_stats *st, uint32_t n)
{
    uint64_t sum[NSUM] = {0}, rej[LOGSTORE_REJECT_KINDS_] = {0};
    for (uint32_t i = 0; i < n; i++) {
        const struct logstore_stats *t = &st[i];
        uint64_t v[NSUM] = {t->entries_accepted_total,
                            t->bytes_accepted_total,
                            t->entries_duplicate_total,
                            t->streams_created_total,
                            t->wal.bytes_written,
                            t->wal.fsyncs,
                            t->cuts_total,
                            t->compactions_total,
                            t->batches_refused_full_total + t->batches_refused_disk_total};
        for (int k = 0; k < NSUM; k++)
            sum[k] += v[k];
        for (int k = 0; k < LOGSTORE_REJECT_KINDS_; k++)
            rej[k] += t->entries_rejected_total[k];
    }
    static const char *const names[NSUM][2] = {
        {"strata_logstore_entries_appended_total", "Log entries stored by the log stores."},
        {"strata_logstore_line_bytes_appended_total", "Line bytes of the stored entries."},
        {"strata_logstore_entries_duplicate_total", "Identical entries dropped as duplicates."},
        {"strata_logstore_streams_created_total", "Streams created in the head."},
        {"strata_logstore_wal_written_bytes_total", "Bytes written to the log WAL."},
        {"strata_logstore_wal_fsyncs_total", "Log WAL fdatasync rounds."},
        {"strata_logstore_head_cuts_total", "Log head cuts into blocks."},
        {"strata_logstore_compactions_total", "Log block compactions."},
        {"strata_logstore_batches_refused_total", "Append batches refused (WAL full or disk low)."},
    };
    int rc = dispatch_metrics_sums(out, names, sum, NSUM);
    if (!rc)
        rc = dispatch_metrics_reasons(out, "strata_logstore_entries_rejected_total",
                                      "Log entries the log stores rejected, by reason.", rej,
                                      LOGSTORE_REJECT_KINDS_, logstore_reason);
    return rc;
}

int logingest_metrics_render(struct buf *out, struct logingest_shard *const *shards,
                             struct logstore *const *stores, uint32_t n)
{
    int rc = render_push(out, shards, n);
    if (rc || !stores)
        return rc;
    struct logstore_stats *st = calloc(n ? n : 1, sizeof *st);
    bool *present = calloc(n ? n : 1, sizeof *present);
    if (!st || !present) {
        free(st);
        free(present);
        return ERR_NOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (stores[i]) {
            logstore_stats_get(stores[i], &st[i]);
            present[i] = true;
        }
    }
    rc = render_store_gauges(out, st, present, n);
    if (!rc)
        rc = render_store_counters(out, st, n);
    free(st);
    free(present);
    return rc;
}
