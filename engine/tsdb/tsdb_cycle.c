/* The metrics TSDB's side of the store maintenance cycle (engine/store/cycle.h, driven by
 * tsdb_tick): the head's span, the cut's snapshot (the closed chunks of the cut range copied out
 * of the head's block set a bounded batch of series per tick), the head truncation and id
 * recycling, and where the cycle counts. See tsdb.h for the order and the threading. */
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "engine/tsdb/tsdb_internal.h"

void tsdb_blocks_swap(struct tsdb *t, struct block **blocks, size_t n)
{
    struct store_blocks_sum sum;
    store_blocks_replace(&t->blocks, &t->n_blocks, blocks, n, &sum);
    TSDB_STAT_SET(t, blocks, (uint64_t)n);
    TSDB_STAT_SET(t, blocks_bytes, sum.bytes);
    TSDB_STAT_SET(t, blocks_min_time_ms, sum.min_time_ms);
    TSDB_STAT_SET(t, blocks_max_time_ms, sum.max_time_ms);
}

/* ---- the ops ---- */

static bool head_span(void *s, int64_t *lo, int64_t *hi)
{
    const struct tsdb *t = s;
    *lo = head_min_time(t->head);
    *hi = head_max_time(t->head);
    return *lo != INT64_MAX && *hi != INT64_MIN && *hi >= *lo;
}

static int cut_begin(void *s, int64_t mint_ms, int64_t maxt_ms, const char **step)
{
    struct tsdb *t = s;
    int rc = head_cut_open_chunks_before(t->head, maxt_ms);
    if (rc) {
        *step = "close head chunks";
        return rc;
    }
    if (!(t->cyc.head_set = head_block_series(t->head, mint_ms, maxt_ms))) {
        *step = "select head chunks";
        return ERR_NOMEM;
    }
    return 0;
}

/* Copies up to cut_series_per_tick series of the cut into the snapshot. */
static int cut_step(void *s, void **snap, const char **step)
{
    struct tsdb *t = s;
    struct tsdb_cycle *c = &t->cyc;
    for (uint32_t k = 0; k < t->cfg.cut_series_per_tick; k++) {
        int rc = chunk_series_set_next(c->head_set);
        if (rc < 0) {
            *step = "read head chunks";
            return rc;
        }
        if (rc == 0) {
            *snap = &c->snap;
            return 0;
        }
        const struct chunk_series *cs = chunk_series_set_at(c->head_set);
        if (cs->n_chunks && (rc = tsdb_snap_add(&c->snap, cs)) != 0) {
            *step = "copy head chunks";
            return rc;
        }
    }
    return 1;
}

static void cut_end(void *s)
{
    struct tsdb *t = s;
    chunk_series_set_close(t->cyc.head_set); /* unpins the head chunk maps */
    t->cyc.head_set = NULL;
    tsdb_snap_deinit(&t->cyc.snap);
}

static bool truncate_head(void *s, int64_t maxt_ms, int64_t *removed)
{
    struct tsdb *t = s;
    *removed = head_truncate(t->head, maxt_ms);
    return true;
}

static uint32_t id_limit(const void *s)
{
    return ((const struct tsdb *)s)->id_limit;
}

static bool id_alive(const void *s, uint32_t id)
{
    return head_series_exists(((const struct tsdb *)s)->head, id);
}

static void recycle_ids(void *s)
{
    head_recycle_ids(((struct tsdb *)s)->head);
}

static void blocks_swap(void *s, struct block **blocks, size_t n)
{
    tsdb_blocks_swap(s, blocks, n);
}

/* The head's chunk files count toward the size retention. */
static uint64_t other_bytes(const void *s)
{
    struct head_stats hs;
    head_stats_read(((const struct tsdb *)s)->head, &hs);
    return hs.chunk_file_bytes;
}

static const struct store_cycle_ops cycle_ops = {
    .log_prefix = "",
    .series_word = "series",
    .samples_word = "samples",
    .head_span = head_span,
    .cut_begin = cut_begin,
    .cut_step = cut_step,
    .cut_end = cut_end,
    .truncate = truncate_head,
    .id_limit = id_limit,
    .id_alive = id_alive,
    .recycle_ids = recycle_ids,
    .blocks_swap = blocks_swap,
    .other_bytes = other_bytes,
};

void tsdb_cycle_init(struct tsdb *t)
{
    struct tsdb_stats *st = &t->st;
    const struct store_cycle_stats stats = {
        STORE_CYCLE_STATS_COMMON(st),
        .last_checkpoint_duration_ns = &st->last_checkpoint_duration_ns,
        .last_compaction_duration_ns = &st->last_compaction_duration_ns,
    };
    const struct store_cycle_config cfg = {
        .range_ms = t->cfg.chunk_range_ms,
        .retry_interval_ms = t->cfg.retry_interval_ms,
        .retention_interval_ms = t->cfg.retention_interval_ms,
    };
    const struct store_cycle_refs refs = {
        .jt = &t->worker.jt,
        .wal = t->wal,
        .blocks = &t->blocks,
        .n_blocks = &t->n_blocks,
        .alive = &t->cyc.alive,
        .cut = &t->cyc.cut,
    };
    store_cycle_init(&t->cyc.sc, &cycle_ops, t, &cfg, &stats, &refs);
}

void tsdb_tick(struct tsdb *t, int64_t now_ms)
{
    if (!t->closing)
        store_cycle_tick(&t->cyc.sc, now_ms);
}

bool tsdb_maintenance_idle(const struct tsdb *t)
{
    return store_cycle_idle(&t->cyc.sc);
}

void tsdb_cycle_deinit(struct tsdb *t)
{
    store_cycle_deinit(&t->cyc.sc);
}
