/* The log store's maintenance cycle on the shard thread (logstore_tick): finishes idle writers,
 * decides when to cut the head, finishes the cut range's writers and snapshots its chunks a
 * bounded number of streams per tick, hands block writes, WAL checkpoints and compaction/retention
 * to the worker one at a time, and applies their results (block list swap, head truncation once
 * no select is open, WAL roll, id recycling). See logstore.h for the order. */
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/logs/logstore_internal.h"

void ls_blocks_swap(struct logstore *ls, struct block **blocks, size_t n)
{
    for (size_t i = 0; i < ls->n_blocks; i++)
        block_unref(ls->blocks[i]);
    free(ls->blocks);
    ls->blocks = blocks;
    ls->n_blocks = n;
    uint64_t bytes = 0, entries = 0;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        const struct blockindex_meta *m = block_meta(blocks[i]);
        bytes += block_size_bytes(blocks[i]);
        entries += m->num_samples;
        lo = m->min_time_ms < lo ? m->min_time_ms : lo;
        hi = m->max_time_ms > hi ? m->max_time_ms : hi;
    }
    LS_STAT_SET(ls, blocks, (uint64_t)n);
    LS_STAT_SET(ls, blocks_bytes, bytes);
    LS_STAT_SET(ls, blocks_entries, entries);
    LS_STAT_SET(ls, blocks_min_time_ms, lo);
    LS_STAT_SET(ls, blocks_max_time_ms, hi);
}

void ls_snap_clear(struct ls_snap *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->s[i].chunks);
    free(s->s);
    memset(s, 0, sizeof *s);
}

void ls_cycle_init(struct logstore *ls)
{
    struct ls_cycle *c = &ls->cyc;
    c->cut = LS_CUT_IDLE;
    c->next_retention_ms = INT64_MIN;
    c->retry_after_ms = INT64_MIN;
    c->compact_wanted = true; /* blocks left by an earlier run may be due */
}

/* True when the head spans more than 1.5 block ranges; *start is the oldest range's start. */
static bool cut_due(const struct logstore *ls, int64_t *start)
{
    const struct ls_head *h = &ls->head;
    if (h->min_ns == INT64_MAX || h->max_ns < h->min_ns)
        return false;
    int64_t lo = ls_ns_to_ms(h->min_ns), hi = ls_ns_to_ms(h->max_ns);
    int64_t r = ls->cfg.block_range_ms;
    if ((__int128)hi - lo <= (__int128)(r / 2) * 3)
        return false;
    *start = ls_range_start(lo, r);
    return *start <= INT64_MAX - r;
}

static void job_reset(struct ls_job *j)
{
    blockindex_meta_deinit(&j->meta);
    if (j->blocks) {
        for (size_t i = 0; i < j->n_blocks; i++)
            block_unref(j->blocks[i]);
        free(j->blocks);
    }
    memset(j, 0, sizeof *j);
    blockindex_meta_init(&j->meta);
}

static void post(struct logstore *ls, enum ls_job_kind kind)
{
    struct ls_job *j = &ls->cyc.job;
    j->kind = kind;
    ls->cyc.job_busy = true;
    ls_worker_post(&ls->worker, j);
}

static void back_off(struct logstore *ls)
{
    ls->cyc.retry_after_ms = ls->cyc.now_ms + ls->cfg.retry_interval_ms;
}

/* ---- head cut ---- */

static void fail_cut(struct logstore *ls, const char *step, int rc)
{
    log_error("logs head cut failed", LOG_STR("step", step), LOG_INT("mint", ls->cyc.cut_mint),
              LOG_INT("maxt", ls->cyc.cut_maxt), LOG_ERR(rc));
    LS_STAT_ADD(ls, cut_failures_total, 1);
    ls_snap_clear(&ls->cyc.snap);
    ls->cyc.cut = LS_CUT_IDLE; /* the head keeps the range; the next cut tries again */
    back_off(ls);
}

static void begin_cut(struct logstore *ls, int64_t start)
{
    struct ls_cycle *c = &ls->cyc;
    c->cut_mint = start;
    c->cut_maxt = start + ls->cfg.block_range_ms;
    c->cut_started_ns = clock_mono_ns();
    c->snap_next_id = 0;
    /* From now on nothing older than the cut may enter the head. */
    if (ls->head.min_valid_ms < c->cut_maxt)
        ls->head.min_valid_ms = c->cut_maxt;
    c->cut = LS_CUT_SNAPSHOT;
    log_info("logs head cut started", LOG_INT("mint", c->cut_mint), LOG_INT("maxt", c->cut_maxt));
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

/* Finishes the writers of the cut range and copies chunk references of up to
 * cut_streams_per_tick streams; posts the block write once every stream is done. */
static void snapshot_step(struct logstore *ls)
{
    struct ls_cycle *c = &ls->cyc;
    struct ls_head *h = &ls->head;
    for (uint32_t k = 0; k < ls->cfg.cut_streams_per_tick && c->snap_next_id < h->id_limit; k++) {
        struct ls_stream *st = h->by_id[c->snap_next_id];
        if (st) {
            int rc = ls_stream_finish_before(ls, st, c->cut_maxt);
            if (!rc)
                rc = snap_add(&c->snap, st, c->cut_maxt);
            if (rc) {
                fail_cut(ls, "snapshot", rc);
                return;
            }
        }
        c->snap_next_id++;
    }
    if (c->snap_next_id < h->id_limit)
        return;
    job_reset(&c->job);
    c->job.snap = &c->snap;
    c->job.mint_ms = c->cut_mint;
    c->job.maxt_ms = c->cut_maxt;
    c->cut = LS_CUT_WRITING;
    post(ls, LS_JOB_WRITE_BLOCK);
}

static int alive_snapshot(struct logstore *ls)
{
    struct ls_alive *a = &ls->cyc.alive;
    uint32_t limit = ls->head.id_limit;
    size_t words = ((size_t)limit + 63) / 64;
    uint64_t *w = calloc(words ? words : 1, sizeof *w);
    if (!w)
        return ERR_NOMEM;
    for (uint32_t id = 0; id < limit; id++)
        if (ls->head.by_id[id])
            w[id / 64] |= 1ull << (id % 64);
    free(a->words);
    a->words = w;
    a->n_bits = limit;
    a->cut_ms = ls->cyc.cut_maxt;
    return 0;
}

/* Asks for a new segment and writes a marker naming the cut so that the roll happens even when
 * nothing else is written (replay ignores markers; checkpoints drop them). */
static void roll_wal(struct logstore *ls, int64_t cut_ms)
{
    uint8_t p[8];
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)cut_ms >> (8 * i));
    wal_roll(ls->wal);
    int rc = wal_append(ls->wal, WALREC_CHECKPOINT, p, sizeof p, 0);
    if (rc && rc != ERR_FULL)
        log_warn("logs wal cut marker not written", LOG_ERR(rc));
}

/* Drops the cut range from the head once no select may read it, then schedules the checkpoint. */
static void try_truncate(struct logstore *ls)
{
    struct ls_cycle *c = &ls->cyc;
    if (ls->open_iters)
        return;
    size_t removed = ls_head_truncate(ls, c->cut_maxt);
    LS_STAT_ADD(ls, streams_removed_total, (uint64_t)removed);
    if (alive_snapshot(ls) == 0) {
        c->ckpt_upto = wal_segment_current(ls->wal);
        c->ckpt_pending = true;
        roll_wal(ls, c->cut_maxt);
    }
    int64_t d = clock_mono_ns() - c->cut_started_ns;
    log_info("logs head truncated", LOG_INT("maxt", c->cut_maxt),
             LOG_UINT("streams_removed", removed), LOG_F64("total_ms", (double)d / 1e6));
    LS_STAT_SET(ls, last_cut_duration_ns, d);
    ls_head_publish(ls);
    c->cut = LS_CUT_IDLE;
    c->compact_wanted = true;
}

static void cut_done(struct logstore *ls, struct ls_job *j)
{
    struct ls_cycle *c = &ls->cyc;
    if (j->blocks_changed) {
        ls_blocks_swap(ls, j->blocks, j->n_blocks);
        j->blocks = NULL;
    }
    ls->head.visible_ms = c->cut_maxt; /* the block serves the range from now on */
    char id[BLOCKINDEX_ULID_CHARS + 1] = "";
    if (j->rc == 0)
        blockindex_ulid_format(&j->meta.ulid, id);
    log_info("logs head cut", LOG_STR("block", id), LOG_INT("mint", c->cut_mint),
             LOG_INT("maxt", c->cut_maxt), LOG_UINT("streams", j->meta.num_series),
             LOG_UINT("entries", j->meta.num_samples), LOG_UINT("raw_bytes", j->raw_bytes),
             LOG_UINT("chunk_bytes", j->chunk_bytes),
             LOG_F64("write_ms", (double)j->duration_ns / 1e6));
    LS_STAT_ADD(ls, cuts_total, 1);
    LS_STAT_ADD(ls, block_raw_bytes_written_total, j->raw_bytes);
    LS_STAT_ADD(ls, block_chunk_bytes_written_total, j->chunk_bytes);
    LS_STAT_SET(ls, last_cut_unix_ms, c->now_ms);
    ls_snap_clear(&c->snap);
    c->cut = LS_CUT_TRUNCATE;
    try_truncate(ls);
}

/* ---- job results ---- */

static void checkpoint_done(struct logstore *ls, const struct ls_job *j)
{
    struct ls_cycle *c = &ls->cyc;
    if (j->rc) {
        log_error("logs wal checkpoint failed", LOG_UINT("upto", j->upto_segment), LOG_ERR(j->rc));
        LS_STAT_ADD(ls, checkpoint_failures_total, 1);
        back_off(ls);
        return; /* stays pending */
    }
    ls_head_recycle_ids(ls); /* no replayable record names the removed streams any more */
    c->ckpt_pending = false;
    log_info("logs wal checkpoint", LOG_UINT("upto", j->upto_segment),
             LOG_UINT("items_in", j->ck.items_in), LOG_UINT("items_out", j->ck.items_out),
             LOG_UINT("bytes", j->ck.bytes_out),
             LOG_UINT("segments_deleted", j->ck.segments_deleted),
             LOG_F64("duration_ms", (double)j->duration_ns / 1e6));
    LS_STAT_ADD(ls, checkpoints_total, 1);
    LS_STAT_SET(ls, last_checkpoint_unix_ms, c->now_ms);
}

static void compact_done(struct logstore *ls, struct ls_job *j)
{
    struct ls_cycle *c = &ls->cyc;
    if (j->blocks_changed) {
        ls_blocks_swap(ls, j->blocks, j->n_blocks);
        j->blocks = NULL;
    }
    LS_STAT_ADD(ls, retention_blocks_deleted_total, (uint64_t)j->retention_deleted);
    LS_STAT_ADD(ls, retention_blocks_rewritten_total, (uint64_t)j->rewritten);
    LS_STAT_ADD(ls, retention_chunks_dropped_total, (uint64_t)j->chunks_dropped);
    LS_STAT_ADD(ls, blocks_quarantined_total, (uint64_t)j->quarantined);
    c->next_retention_ms = c->now_ms + ls->cfg.retention_interval_ms;
    if (j->rc) {
        log_error("logs compaction failed", LOG_ERR(j->rc));
        LS_STAT_ADD(ls, compaction_failures_total, 1);
        back_off(ls);
        return;
    }
    c->compact_wanted = false;
    if (j->compact) {
        LS_STAT_ADD(ls, compactions_total, 1);
        LS_STAT_SET(ls, last_compaction_unix_ms, c->now_ms);
    }
}

static void job_done(struct logstore *ls, struct ls_job *j)
{
    ls->cyc.job_busy = false;
    switch (j->kind) {
    case LS_JOB_WRITE_BLOCK:
        if (j->rc == 0 || j->rc == ERR_EMPTY)
            cut_done(ls, j);
        else
            fail_cut(ls, "write block", j->rc);
        break;
    case LS_JOB_CHECKPOINT: checkpoint_done(ls, j); break;
    case LS_JOB_COMPACT: compact_done(ls, j); break;
    default: PANIC("BUG: unknown logs job %d", (int)j->kind);
    }
    job_reset(j);
}

/* ---- scheduling ---- */

static bool blocks_faulted(const struct logstore *ls)
{
    for (size_t i = 0; i < ls->n_blocks; i++)
        if (block_fault(ls->blocks[i], NULL))
            return true;
    return false;
}

static void start_next(struct logstore *ls)
{
    struct ls_cycle *c = &ls->cyc;
    int64_t start;
    if (c->ckpt_pending) {
        if (wal_segment_current(ls->wal) > c->ckpt_upto) {
            job_reset(&c->job);
            c->job.upto_segment = c->ckpt_upto;
            c->job.alive = &c->alive;
            post(ls, LS_JOB_CHECKPOINT);
        } else if (wal_idle(ls->wal)) {
            roll_wal(ls, c->cut_maxt); /* the marker landed in a fresh segment: once more */
        }
        return; /* the next cut waits for the checkpoint of the last one */
    }
    if (cut_due(ls, &start)) {
        begin_cut(ls, start);
        snapshot_step(ls);
        return;
    }
    bool faulted = blocks_faulted(ls);
    if (c->compact_wanted || faulted || c->now_ms >= c->next_retention_ms) {
        job_reset(&c->job);
        c->job.compact = c->compact_wanted;
        c->job.quarantine = faulted;
        c->job.now_ms = c->now_ms;
        post(ls, LS_JOB_COMPACT);
    }
}

void logstore_tick(struct logstore *ls, int64_t now_ms)
{
    struct ls_cycle *c = &ls->cyc;
    if (ls->closing)
        return;
    c->now_ms = now_ms;
    ls->tick_ms = now_ms;
    ls_head_finish_idle(ls, now_ms);
    if (c->job_busy) {
        struct ls_job *j = ls_worker_poll(&ls->worker);
        if (j)
            job_done(ls, j);
    }
    if (c->cut == LS_CUT_SNAPSHOT)
        snapshot_step(ls);
    else if (c->cut == LS_CUT_TRUNCATE)
        try_truncate(ls);
    else if (c->cut == LS_CUT_IDLE && !c->job_busy && now_ms >= c->retry_after_ms)
        start_next(ls);
    ls_head_publish(ls);
}

bool logstore_maintenance_idle(const struct logstore *ls)
{
    const struct ls_cycle *c = &ls->cyc;
    int64_t start;
    return !c->job_busy && c->cut == LS_CUT_IDLE && !c->ckpt_pending && !c->compact_wanted &&
           !cut_due(ls, &start);
}

void ls_cycle_deinit(struct logstore *ls)
{
    struct ls_cycle *c = &ls->cyc;
    if (c->job_busy) {
        struct ls_job *j = ls_worker_wait(&ls->worker);
        ASSERT(j == &c->job);
        c->job_busy = false;
        job_reset(j);
    }
    blockindex_meta_deinit(&c->job.meta);
    ls_snap_clear(&c->snap);
    c->cut = LS_CUT_IDLE;
}
