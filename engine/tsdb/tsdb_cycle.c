/* The metrics TSDB's maintenance cycle on the shard thread (tsdb_tick): decides when to cut the
 * head, copies the cut's chunks into a snapshot a bounded batch per tick, hands block writes,
 * WAL checkpoints and compaction/retention to the worker one at a time, and applies their
 * results (block list swap, head truncation, WAL roll, id recycling). See tsdb.h for the order
 * and the threading. */
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/tsdb/tsdb_internal.h"

void tsdb_blocks_swap(struct tsdb *t, struct block **blocks, size_t n)
{
    for (size_t i = 0; i < t->n_blocks; i++)
        block_unref(t->blocks[i]);
    free(t->blocks);
    t->blocks = blocks;
    t->n_blocks = n;
    uint64_t bytes = 0;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        const struct blockindex_meta *m = block_meta(blocks[i]);
        bytes += block_size_bytes(blocks[i]);
        lo = m->min_time_ms < lo ? m->min_time_ms : lo;
        hi = m->max_time_ms > hi ? m->max_time_ms : hi;
    }
    TSDB_STAT_SET(t, blocks, (uint64_t)n);
    TSDB_STAT_SET(t, blocks_bytes, bytes);
    TSDB_STAT_SET(t, blocks_min_time_ms, lo);
    TSDB_STAT_SET(t, blocks_max_time_ms, hi);
}

void tsdb_cycle_init(struct tsdb *t)
{
    struct tsdb_cycle *c = &t->cyc;
    c->cut = TSDB_CUT_IDLE;
    c->next_retention_ms = INT64_MIN;
    c->retry_after_ms = INT64_MIN;
    c->compact_wanted = true; /* blocks left by an earlier run may be due */
}

/* Start of the chunk range holding ts (floor division, also for negative ts). */
static int64_t range_start(int64_t ts, int64_t r)
{
    return ts >= 0 ? r * (ts / r) : r * ((ts - r + 1) / r);
}

/* True when the head spans more than 1.5 chunk ranges; *start is the oldest range's start. */
static bool cut_due(const struct tsdb *t, int64_t *start)
{
    int64_t lo = head_min_time(t->head), hi = head_max_time(t->head);
    int64_t r = t->cfg.chunk_range_ms;
    if (lo == INT64_MAX || hi == INT64_MIN || hi < lo)
        return false;
    if ((__int128)hi - lo <= (__int128)(r / 2) * 3)
        return false;
    *start = range_start(lo, r);
    return *start <= INT64_MAX - r;
}

static void job_reset(struct tsdb_job *j)
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

static void post(struct tsdb *t, enum tsdb_job_kind kind)
{
    struct tsdb_job *j = &t->cyc.job;
    j->kind = kind;
    t->cyc.job_busy = true;
    tsdb_worker_post(&t->worker, j);
}

static void back_off(struct tsdb *t)
{
    t->cyc.retry_after_ms = t->cyc.now_ms + t->cfg.retry_interval_ms;
}

/* ---- head cut ---- */

static void end_cut(struct tsdb *t)
{
    struct tsdb_cycle *c = &t->cyc;
    chunk_series_set_close(c->head_set);
    c->head_set = NULL;
    tsdb_snap_deinit(&c->snap);
    c->cut = TSDB_CUT_IDLE;
}

static void fail_cut(struct tsdb *t, const char *step, int rc)
{
    log_error("head cut failed", LOG_STR("step", step), LOG_INT("mint", t->cyc.cut_mint),
              LOG_INT("maxt", t->cyc.cut_maxt), LOG_ERR(rc));
    TSDB_STAT_ADD(t, cut_failures_total, 1);
    end_cut(t);
    back_off(t);
}

static void begin_cut(struct tsdb *t, int64_t start)
{
    struct tsdb_cycle *c = &t->cyc;
    c->cut_mint = start;
    c->cut_maxt = start + t->cfg.chunk_range_ms;
    c->cut_started_ns = clock_mono_ns();
    int rc = head_cut_open_chunks_before(t->head, c->cut_maxt);
    if (rc) {
        fail_cut(t, "close head chunks", rc);
        return;
    }
    if (!(c->head_set = head_block_series(t->head, c->cut_mint, c->cut_maxt))) {
        fail_cut(t, "select head chunks", ERR_NOMEM);
        return;
    }
    c->cut = TSDB_CUT_SNAPSHOT;
    log_info("head cut started", LOG_INT("mint", c->cut_mint), LOG_INT("maxt", c->cut_maxt));
}

/* Copies up to cut_series_per_tick series; posts the block write once the set is done. */
static void snapshot_step(struct tsdb *t)
{
    struct tsdb_cycle *c = &t->cyc;
    for (uint32_t k = 0; k < t->cfg.cut_series_per_tick; k++) {
        int rc = chunk_series_set_next(c->head_set);
        if (rc < 0) {
            fail_cut(t, "read head chunks", rc);
            return;
        }
        if (rc == 0) {
            job_reset(&c->job);
            c->job.snap = &c->snap;
            c->job.mint_ms = c->cut_mint;
            c->job.maxt_ms = c->cut_maxt;
            c->cut = TSDB_CUT_WRITING;
            post(t, TSDB_JOB_WRITE_BLOCK);
            return;
        }
        const struct chunk_series *cs = chunk_series_set_at(c->head_set);
        if (cs->n_chunks && (rc = tsdb_snap_add(&c->snap, cs)) != 0) {
            fail_cut(t, "copy head chunks", rc);
            return;
        }
    }
}

/* The ids alive after the truncation: what the checkpoint keeps. */
static int alive_snapshot(struct tsdb *t)
{
    struct tsdb_alive *a = &t->cyc.alive;
    size_t words = ((size_t)t->id_limit + 63) / 64;
    uint64_t *w = calloc(words ? words : 1, sizeof *w);
    if (!w)
        return ERR_NOMEM;
    for (uint32_t id = 0; id < t->id_limit; id++)
        if (head_series_exists(t->head, id))
            w[id / 64] |= 1ull << (id % 64);
    free(a->words);
    a->words = w;
    a->n_bits = t->id_limit;
    a->cut_ms = t->cyc.cut_maxt;
    return 0;
}

/* Asks for a new segment and makes sure a write happens to start it, so that the segments before
 * can be checkpointed even when no samples come in: a CHECKPOINT marker record naming the cut
 * (8 bytes, little-endian ms). Replay ignores it and checkpoints drop it. ERR_FULL means writes
 * are pending anyway. */
static void roll_wal(struct tsdb *t, int64_t cut_ms)
{
    uint8_t p[8];
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)cut_ms >> (8 * i));
    wal_roll(t->wal);
    int rc = wal_append(t->wal, WALREC_CHECKPOINT, p, sizeof p, 0);
    if (rc && rc != ERR_FULL)
        log_warn("wal cut marker not written", LOG_ERR(rc));
}

/* The block is on disk (or there was nothing to write): serve it, drop the range from the head,
 * roll the WAL so the segments before can be checkpointed. */
static void cut_done(struct tsdb *t, struct tsdb_job *j)
{
    struct tsdb_cycle *c = &t->cyc;
    if (j->blocks_changed) {
        tsdb_blocks_swap(t, j->blocks, j->n_blocks);
        j->blocks = NULL;
    }
    chunk_series_set_close(c->head_set); /* unpins the head chunk maps */
    c->head_set = NULL;
    int removed = head_truncate(t->head, c->cut_maxt);
    if (removed < 0)
        log_warn("head truncation: chunk files not deleted", LOG_ERR(removed));
    if (alive_snapshot(t) == 0) {
        c->ckpt_upto = wal_segment_current(t->wal);
        c->ckpt_pending = true;
        roll_wal(t, c->cut_maxt);
    }
    char id[BLOCKINDEX_ULID_CHARS + 1] = "";
    if (j->rc == 0)
        blockindex_ulid_format(&j->meta.ulid, id);
    int64_t d = clock_mono_ns() - c->cut_started_ns;
    log_info("head cut", LOG_STR("block", id), LOG_INT("mint", c->cut_mint),
             LOG_INT("maxt", c->cut_maxt), LOG_UINT("series", j->meta.num_series),
             LOG_UINT("samples", j->meta.num_samples), LOG_INT("series_removed", removed),
             LOG_F64("write_ms", (double)j->duration_ns / 1e6), LOG_F64("total_ms", d / 1e6));
    TSDB_STAT_ADD(t, cuts_total, 1);
    TSDB_STAT_SET(t, last_cut_unix_ms, c->now_ms);
    TSDB_STAT_SET(t, last_cut_duration_ns, d);
    tsdb_snap_deinit(&c->snap);
    c->cut = TSDB_CUT_IDLE;
    c->compact_wanted = true;
}

/* ---- job results ---- */

static void checkpoint_done(struct tsdb *t, const struct tsdb_job *j)
{
    struct tsdb_cycle *c = &t->cyc;
    if (j->rc) {
        log_error("wal checkpoint failed", LOG_UINT("upto", j->upto_segment), LOG_ERR(j->rc));
        TSDB_STAT_ADD(t, checkpoint_failures_total, 1);
        back_off(t);
        return; /* stays pending: retried with the same filter */
    }
    /* No replayable record names the series the truncation removed any more. */
    head_recycle_ids(t->head);
    c->ckpt_pending = false;
    log_info("wal checkpoint", LOG_UINT("upto", j->upto_segment),
             LOG_UINT("items_in", j->ck.items_in), LOG_UINT("items_out", j->ck.items_out),
             LOG_UINT("bytes", j->ck.bytes_out),
             LOG_UINT("segments_deleted", j->ck.segments_deleted),
             LOG_F64("duration_ms", (double)j->duration_ns / 1e6));
    TSDB_STAT_ADD(t, checkpoints_total, 1);
    TSDB_STAT_SET(t, last_checkpoint_unix_ms, c->now_ms);
    TSDB_STAT_SET(t, last_checkpoint_duration_ns, j->duration_ns);
}

static void compact_done(struct tsdb *t, struct tsdb_job *j)
{
    struct tsdb_cycle *c = &t->cyc;
    if (j->blocks_changed) {
        tsdb_blocks_swap(t, j->blocks, j->n_blocks);
        j->blocks = NULL;
    }
    TSDB_STAT_ADD(t, retention_blocks_deleted_total, (uint64_t)j->retention_deleted);
    TSDB_STAT_ADD(t, blocks_quarantined_total, (uint64_t)j->quarantined);
    c->next_retention_ms = c->now_ms + t->cfg.retention_interval_ms;
    if (j->rc) {
        log_error("compaction failed", LOG_ERR(j->rc));
        TSDB_STAT_ADD(t, compaction_failures_total, 1);
        back_off(t);
        return; /* compact_wanted stays: retried after the back-off */
    }
    c->compact_wanted = false;
    if (j->compact) {
        TSDB_STAT_ADD(t, compactions_total, 1);
        TSDB_STAT_SET(t, last_compaction_unix_ms, c->now_ms);
        TSDB_STAT_SET(t, last_compaction_duration_ns, j->duration_ns);
    }
}

static void job_done(struct tsdb *t, struct tsdb_job *j)
{
    t->cyc.job_busy = false;
    switch (j->kind) {
    case TSDB_JOB_WRITE_BLOCK:
        if (j->rc == 0 || j->rc == ERR_EMPTY)
            cut_done(t, j);
        else
            fail_cut(t, "write block", j->rc);
        break;
    case TSDB_JOB_CHECKPOINT: checkpoint_done(t, j); break;
    case TSDB_JOB_COMPACT: compact_done(t, j); break;
    default: PANIC("BUG: unknown tsdb job %d", (int)j->kind);
    }
    job_reset(j);
}

/* ---- scheduling ---- */

/* True when a served block recorded a fault (a query found bad bytes): quarantine it. */
static bool blocks_faulted(const struct tsdb *t)
{
    for (size_t i = 0; i < t->n_blocks; i++)
        if (block_fault(t->blocks[i], NULL))
            return true;
    return false;
}

static void start_next(struct tsdb *t)
{
    struct tsdb_cycle *c = &t->cyc;
    int64_t start;
    if (c->ckpt_pending) {
        if (wal_segment_current(t->wal) > c->ckpt_upto) {
            job_reset(&c->job);
            c->job.upto_segment = c->ckpt_upto;
            c->job.alive = &c->alive;
            post(t, TSDB_JOB_CHECKPOINT);
        } else if (wal_idle(t->wal)) {
            /* The marker went into a segment that was still empty (a fresh segment takes the
             * next write whatever is asked); another one makes the roll happen. */
            roll_wal(t, c->cut_maxt);
        }
        return; /* the next cut waits for the checkpoint of the last one */
    }
    if (cut_due(t, &start)) {
        begin_cut(t, start);
        if (c->cut == TSDB_CUT_SNAPSHOT)
            snapshot_step(t);
        return;
    }
    bool faulted = blocks_faulted(t);
    if (c->compact_wanted || faulted || c->now_ms >= c->next_retention_ms) {
        struct head_stats hs;
        head_stats_read(t->head, &hs);
        job_reset(&c->job);
        c->job.compact = c->compact_wanted;
        c->job.quarantine = faulted;
        c->job.now_ms = c->now_ms;
        c->job.other_bytes = hs.chunk_file_bytes;
        post(t, TSDB_JOB_COMPACT);
    }
}

void tsdb_tick(struct tsdb *t, int64_t now_ms)
{
    struct tsdb_cycle *c = &t->cyc;
    if (t->closing)
        return;
    c->now_ms = now_ms;
    if (c->job_busy) {
        struct tsdb_job *j = tsdb_worker_poll(&t->worker);
        if (!j)
            return;
        job_done(t, j);
    }
    if (c->cut == TSDB_CUT_SNAPSHOT) {
        snapshot_step(t);
        return;
    }
    if (c->cut == TSDB_CUT_IDLE && !c->job_busy && now_ms >= c->retry_after_ms)
        start_next(t);
}

bool tsdb_maintenance_idle(const struct tsdb *t)
{
    const struct tsdb_cycle *c = &t->cyc;
    int64_t start;
    return !c->job_busy && c->cut == TSDB_CUT_IDLE && !c->ckpt_pending && !c->compact_wanted &&
           !cut_due(t, &start);
}

void tsdb_cycle_deinit(struct tsdb *t)
{
    struct tsdb_cycle *c = &t->cyc;
    if (c->job_busy) {
        struct tsdb_job *j = tsdb_worker_wait(&t->worker);
        ASSERT(j == &c->job);
        c->job_busy = false;
        job_reset(j);
    }
    if (c->head_set) {
        chunk_series_set_close(c->head_set);
        c->head_set = NULL;
    }
    blockindex_meta_deinit(&c->job.meta);
    tsdb_snap_deinit(&c->snap);
    c->cut = TSDB_CUT_IDLE;
}
