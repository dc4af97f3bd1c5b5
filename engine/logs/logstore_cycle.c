/* The log store's side of the store maintenance cycle (engine/store/cycle.h, driven by
 * logstore_tick, which also finishes idle writers): the head's span, the cut's snapshot (the cut
 * range's writers finished and their chunks referenced a bounded number of streams per tick, no
 * entry older than the cut accepted from its start), the block taking over the range from the
 * head, the truncation once no select is open, id recycling, and where the cycle counts. See
 * logstore.h for the order. */
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "engine/logs/logstore_internal.h"

void ls_blocks_swap(struct logstore *ls, struct block **blocks, size_t n)
{
    struct store_blocks_sum sum;
    store_blocks_replace(&ls->blocks, &ls->n_blocks, blocks, n, &sum);
    LS_STAT_SET(ls, blocks, (uint64_t)n);
    LS_STAT_SET(ls, blocks_bytes, sum.bytes);
    LS_STAT_SET(ls, blocks_entries, sum.samples);
    LS_STAT_SET(ls, blocks_min_time_ms, sum.min_time_ms);
    LS_STAT_SET(ls, blocks_max_time_ms, sum.max_time_ms);
}

void ls_snap_clear(struct ls_snap *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->s[i].chunks);
    free(s->s);
    memset(s, 0, sizeof *s);
}

/* ---- the ops ---- */

static bool head_span(void *s, int64_t *lo, int64_t *hi)
{
    const struct ls_head *h = &((struct logstore *)s)->head;
    if (h->min_ns == INT64_MAX || h->max_ns < h->min_ns)
        return false;
    *lo = ls_ns_to_ms(h->min_ns);
    *hi = ls_ns_to_ms(h->max_ns);
    return true;
}

static int cut_begin(void *s, int64_t mint_ms, int64_t maxt_ms, const char **step)
{
    (void)mint_ms;
    (void)step;
    struct logstore *ls = s;
    ls->cyc.snap_next_id = 0;
    /* From now on nothing older than the cut may enter the head. */
    if (ls->head.min_valid_ms < maxt_ms)
        ls->head.min_valid_ms = maxt_ms;
    return 0;
}

static int snap_add(struct ls_snap *s, struct ls_stream *st, int64_t before_ms)
{
    size_t k = 0;
    for (uint32_t i = 0; i < st->n_chunks; i++)
        k += st->chunks[i]->range_ms < before_ms;
    if (!k)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        void *p = realloc(s->s, cap * sizeof *s->s);
        if (!p)
            return ERR_NOMEM;
        s->s = p;
        s->cap = cap;
    }
    struct ls_chunk **cs = malloc(k * sizeof *cs);
    if (!cs)
        return ERR_NOMEM;
    k = 0;
    for (uint32_t i = 0; i < st->n_chunks; i++)
        if (st->chunks[i]->range_ms < before_ms)
            cs[k++] = st->chunks[i];
    s->s[s->n++] = (struct ls_snap_stream){st->labels, st->n_labels, cs, k};
    return 0;
}

/* Finishes the writers of the cut range and references the chunks of up to
 * cut_streams_per_tick streams. */
static int cut_step(void *s, void **snap, const char **step)
{
    struct logstore *ls = s;
    struct ls_cycle *c = &ls->cyc;
    struct ls_head *h = &ls->head;
    int64_t maxt = c->sc.cut_maxt;
    for (uint32_t k = 0; k < ls->cfg.cut_streams_per_tick && c->snap_next_id < h->id_limit; k++) {
        struct ls_stream *st = h->by_id[c->snap_next_id];
        if (st) {
            int rc = ls_stream_finish_before(ls, st, maxt);
            if (!rc)
                rc = snap_add(&c->snap, st, maxt);
            if (rc) {
                *step = "snapshot";
                return rc;
            }
        }
        c->snap_next_id++;
    }
    if (c->snap_next_id < h->id_limit)
        return 1;
    *snap = &c->snap;
    return 0;
}

static void cut_written(void *s)
{
    struct logstore *ls = s;
    ls->head.visible_ms = ls->cyc.sc.cut_maxt; /* the block serves the range from now on */
}

static void cut_end(void *s)
{
    ls_snap_clear(&((struct logstore *)s)->cyc.snap);
}

/* Selects read head chunks without holding references: the range goes once none is open. */
static bool truncate_head(void *s, int64_t maxt_ms, int64_t *removed)
{
    struct logstore *ls = s;
    if (ls->open_iters)
        return false;
    *removed = (int64_t)ls_head_truncate(ls, maxt_ms);
    ls_head_publish(ls);
    return true;
}

static uint32_t id_limit(const void *s)
{
    return ((const struct logstore *)s)->head.id_limit;
}

static bool id_alive(const void *s, uint32_t id)
{
    return ((const struct logstore *)s)->head.by_id[id] != NULL;
}

static void recycle_ids(void *s)
{
    ls_head_recycle_ids(s);
}

static void blocks_swap(void *s, struct block **blocks, size_t n)
{
    ls_blocks_swap(s, blocks, n);
}

static const struct store_cycle_ops cycle_ops = {
    .log_prefix = "logs ",
    .series_word = "streams",
    .samples_word = "entries",
    .head_span = head_span,
    .cut_begin = cut_begin,
    .cut_step = cut_step,
    .cut_written = cut_written,
    .cut_end = cut_end,
    .truncate = truncate_head,
    .id_limit = id_limit,
    .id_alive = id_alive,
    .recycle_ids = recycle_ids,
    .blocks_swap = blocks_swap,
};

void ls_cycle_init(struct logstore *ls)
{
    struct logstore_stats *st = &ls->st;
    const struct store_cycle_stats stats = {
        STORE_CYCLE_STATS_COMMON(st),
        .removed_total = &st->streams_removed_total,
        .block_raw_bytes_total = &st->block_raw_bytes_written_total,
        .block_chunk_bytes_total = &st->block_chunk_bytes_written_total,
        .retention_rewritten_total = &st->retention_blocks_rewritten_total,
        .retention_chunks_dropped_total = &st->retention_chunks_dropped_total,
    };
    const struct store_cycle_config cfg = {
        .range_ms = ls->cfg.block_range_ms,
        .retry_interval_ms = ls->cfg.retry_interval_ms,
        .retention_interval_ms = ls->cfg.retention_interval_ms,
    };
    const struct store_cycle_refs refs = {
        .jt = &ls->worker.jt,
        .wal = ls->wal,
        .blocks = &ls->blocks,
        .n_blocks = &ls->n_blocks,
        .alive = &ls->cyc.alive,
        .cut = &ls->cyc.cut,
    };
    store_cycle_init(&ls->cyc.sc, &cycle_ops, ls, &cfg, &stats, &refs);
}

void logstore_tick(struct logstore *ls, int64_t now_ms)
{
    if (ls->closing)
        return;
    ls->tick_ms = now_ms;
    ls_head_finish_idle(ls, now_ms);
    store_cycle_tick(&ls->cyc.sc, now_ms);
    ls_head_publish(ls);
}

bool logstore_maintenance_idle(const struct logstore *ls)
{
    return store_cycle_idle(&ls->cyc.sc);
}

void ls_cycle_deinit(struct logstore *ls)
{
    store_cycle_deinit(&ls->cyc.sc);
}
