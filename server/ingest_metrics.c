/* Prometheus text exposition of the ingest pipeline's and the shards' TSDB counters
 * (ingest_metrics_render in ingest.h). */
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>

#include "base/error.h"
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

static int render_ingest(struct buf *out, struct ingest_shard *const *s, uint32_t n)
{
    const void **stats = calloc(n ? n : 1, sizeof *stats);
    if (!stats)
        return ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++)
        stats[i] = s[i] ? &s[i]->stats : NULL;
    int rc = dispatch_metrics_counters(
        out, ingest_counters, sizeof ingest_counters / sizeof ingest_counters[0], stats, n);
    free(stats);
    return rc;
}

/* Per-shard gauges of the TSDB. */
#define NGAUGE 6
static int render_tsdb_gauges(struct buf *out, const struct tsdb_stats *st, uint32_t n)
{
    static const char *const g[NGAUGE][2] = {
        {"strata_tsdb_head_series", "Series in the head."},
        {"strata_tsdb_head_chunks", "Chunks in the head (open and closed)."},
        {"strata_tsdb_head_bytes", "Heap bytes of the head."},
        {"strata_tsdb_wal_pending_bytes", "WAL bytes appended and not yet written."},
        {"strata_tsdb_blocks", "Blocks on disk."},
        {"strata_tsdb_blocks_bytes", "Bytes of the blocks on disk."},
    };
    uint64_t *v = calloc((size_t)(n ? n : 1) * NGAUGE, sizeof *v);
    if (!v)
        return ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const struct tsdb_stats *t = &st[i];
        uint64_t *row = &v[(size_t)i * NGAUGE];
        row[0] = t->head.series;
        row[1] = t->head.chunks_open + t->head.chunks_closed;
        row[2] = t->head.bytes_total;
        row[3] = t->wal.pending_bytes;
        row[4] = t->blocks;
        row[5] = t->blocks_bytes;
    }
    int rc = dispatch_metrics_gauges(out, g, NGAUGE, v, NULL, n);
    free(v);
    return rc;
}

static const char *tsdb_reason(int k)
{
    return tsdb_reject_str((enum tsdb_reject)k);
}

static int render_tsdb_counters(struct buf *out, const struct tsdb_stats *st, uint32_t n)
{
    uint64_t sum[8] = {0}, rej[TSDB_REJECT_KINDS_] = {0};
    for (uint32_t i = 0; i < n; i++) {
        const struct tsdb_stats *t = &st[i];
        uint64_t v[8] = {t->samples_accepted_total,
                         t->samples_duplicate_total,
                         t->series_created_total,
                         t->wal.bytes_written,
                         t->wal.fsyncs,
                         t->cuts_total,
                         t->compactions_total,
                         t->batches_refused_full_total + t->batches_refused_disk_total};
        for (int k = 0; k < 8; k++)
            sum[k] += v[k];
        for (int k = 0; k < TSDB_REJECT_KINDS_; k++)
            rej[k] += t->samples_rejected_total[k];
    }
    static const char *const names[8][2] = {
        {"strata_tsdb_samples_appended_total", "Samples stored by the TSDB."},
        {"strata_tsdb_samples_duplicate_total", "Identical samples dropped as duplicates."},
        {"strata_tsdb_series_created_total", "Series created in the head."},
        {"strata_tsdb_wal_written_bytes_total", "Bytes written to the WAL."},
        {"strata_tsdb_wal_fsyncs_total", "WAL fdatasync rounds."},
        {"strata_tsdb_head_cuts_total", "Head cuts into blocks."},
        {"strata_tsdb_compactions_total", "Block compactions."},
        {"strata_tsdb_batches_refused_total", "Append batches refused (WAL full or disk low)."},
    };
    int rc = dispatch_metrics_sums(out, names, sum, 8);
    if (!rc)
        rc = dispatch_metrics_reasons(out, "strata_tsdb_samples_rejected_total",
                                      "Samples the TSDB rejected, by reason.", rej,
                                      TSDB_REJECT_KINDS_, tsdb_reason);
    return rc;
}

int ingest_metrics_render(struct buf *out, struct ingest_shard *const *ingest,
                          struct tsdb *const *tsdbs, uint32_t n)
{
    int rc = render_ingest(out, ingest, n);
    if (rc || !tsdbs)
        return rc;
    struct tsdb_stats *st = calloc(n ? n : 1, sizeof *st);
    if (!st)
        return ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++)
        if (tsdbs[i])
            tsdb_stats_get(tsdbs[i], &st[i]);
    rc = render_tsdb_gauges(out, st, n);
    if (!rc)
        rc = render_tsdb_counters(out, st, n);
    free(st);
    return rc;
}
