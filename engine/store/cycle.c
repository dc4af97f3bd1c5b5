/* The store maintenance cycle on the shard thread (cycle.h): the cut decision, the cut's states,
 * the scheduling of block writes, WAL checkpoints and compaction/retention jobs one at a time,
 * and applying their results (block list swap, head truncation, WAL roll, id recycling). */
#include "engine/store/cycle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "formats/walrec.h"

static void stat_add(uint64_t *p, uint64_t d)
{
    if (p)
        __atomic_store_n(p, *p + d, __ATOMIC_RELAXED);
}

static void stat_set(int64_t *p, int64_t v)
{
    if (p)
        __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* "<prefix><msg>" for the log lines (the log copies the message). */
static const char *msg(const struct store_cycle *c, char *buf, size_t n, const char *m)
{
    snprintf(buf, n, "%s%s", c->ops->log_prefix, m);
    return buf;
}

int64_t store_range_start(int64_t t_ms, int64_t range_ms)
{
    int64_t q = t_ms / range_ms;
    if (t_ms % range_ms != 0 && t_ms < 0)
        q--;
    return q * range_ms;
}

bool store_cut_due(int64_t lo_ms, int64_t hi_ms, int64_t range_ms, int64_t *start)
{
    if (hi_ms < lo_ms)
        return false;
    if ((__int128)hi_ms - lo_ms <= (__int128)(range_ms / 2) * 3)
        return false;
    *start = store_range_start(lo_ms, range_ms);
    return *start <= INT64_MAX - range_ms;
}

static bool cut_due(const struct store_cycle *c, int64_t *start)
{
    int64_t lo, hi;
    return c->ops->head_span(c->s, &lo, &hi) && store_cut_due(lo, hi, c->cfg.range_ms, start);
}

void store_cycle_init(struct store_cycle *c, const struct store_cycle_ops *ops, void *s,
                      const struct store_cycle_config *cfg, const struct store_cycle_stats *st,
                      const struct store_cycle_refs *refs)
{
    memset(c, 0, sizeof *c);
    c->ops = ops;
    c->s = s;
    c->cfg = *cfg;
    c->st = *st;
    c->r = *refs;
    blockindex_meta_init(&c->job.meta);
    *c->r.cut = STORE_CUT_IDLE;
    c->next_retention_ms = INT64_MIN;
    c->retry_after_ms = INT64_MIN;
    c->compact_wanted = true; /* blocks left by an earlier run may be due */
}

static void post(struct store_cycle *c, enum store_job_kind kind)
{
    c->job.kind = kind;
    c->job_busy = true;
    jobthread_post(c->r.jt, &c->job);
}

static void back_off(struct store_cycle *c)
{
    c->retry_after_ms = c->now_ms + c->cfg.retry_interval_ms;
}

/* ---- head cut ---- */

static void fail_cut(struct store_cycle *c, const char *step, int rc)
{
    char b[64];
    log_error(msg(c, b, sizeof b, "head cut failed"), LOG_STR("step", step),
              LOG_INT("mint", c->cut_mint), LOG_INT("maxt", c->cut_maxt), LOG_ERR(rc));
    stat_add(c->st.cut_failures_total, 1);
    c->ops->cut_end(c->s); /* the head keeps the range; the next cut tries again */
    *c->r.cut = STORE_CUT_IDLE;
    back_off(c);
}

static void snapshot_step(struct store_cycle *c)
{
    const char *step = "snapshot";
    void *snap = NULL;
    int rc = c->ops->cut_step(c->s, &snap, &step);
    if (rc < 0) {
        fail_cut(c, step, rc);
        return;
    }
    if (rc > 0)
        return;
    store_job_reset(&c->job);
    c->job.snap = snap;
    c->job.mint_ms = c->cut_mint;
    c->job.maxt_ms = c->cut_maxt;
    *c->r.cut = STORE_CUT_WRITING;
    post(c, STORE_JOB_WRITE_BLOCK);
}

static void begin_cut(struct store_cycle *c, int64_t start)
{
    c->cut_mint = start;
    c->cut_maxt = start + c->cfg.range_ms;
    c->cut_started_ns = clock_mono_ns();
    const char *step = "begin";
    int rc = c->ops->cut_begin(c->s, c->cut_mint, c->cut_maxt, &step);
    if (rc) {
        fail_cut(c, step, rc);
        return;
    }
    *c->r.cut = STORE_CUT_SNAPSHOT;
    char b[64];
    log_info(msg(c, b, sizeof b, "head cut started"), LOG_INT("mint", c->cut_mint),
             LOG_INT("maxt", c->cut_maxt));
    snapshot_step(c);
}

/* The ids alive after the truncation: what the checkpoint keeps. */
static int alive_snapshot(struct store_cycle *c)
{
    struct store_alive *a = c->r.alive;
    uint32_t limit = c->ops->id_limit(c->s);
    size_t words = ((size_t)limit + 63) / 64;
    uint64_t *w = calloc(words ? words : 1, sizeof *w);
    if (!w)
        return ERR_NOMEM;
    for (uint32_t id = 0; id < limit; id++)
        if (c->ops->id_alive(c->s, id))
            w[id / 64] |= 1ull << (id % 64);
    free(a->words);
    a->words = w;
    a->n_bits = limit;
    a->cut_ms = c->cut_maxt;
    return 0;
}

/* Asks for a new segment and makes sure a write happens to start it, so that the segments before
 * can be checkpointed even when nothing else is written: a CHECKPOINT marker record naming the
 * cut (8 bytes, little-endian ms). Replay ignores it and checkpoints drop it. ERR_FULL means
 * writes are pending anyway. */
static void roll_wal(struct store_cycle *c)
{
    uint8_t p[8];
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)c->cut_maxt >> (8 * i));
    wal_roll(c->r.wal);
    int rc = wal_append(c->r.wal, WALREC_CHECKPOINT, p, sizeof p, 0);
    char b[64];
    if (rc && rc != ERR_FULL)
        log_warn(msg(c, b, sizeof b, "wal cut marker not written"), LOG_ERR(rc));
}

/* Drops the cut range from the head once the store allows it, then schedules the checkpoint. */
static void try_truncate(struct store_cycle *c)
{
    int64_t removed = 0;
    if (!c->ops->truncate(c->s, c->cut_maxt, &removed))
        return;
    char b[64];
    if (removed < 0)
        log_warn(msg(c, b, sizeof b, "head truncation: files not deleted"), LOG_ERR(removed));
    else
        stat_add(c->st.removed_total, (uint64_t)removed);
    if (alive_snapshot(c) == 0) {
        c->ckpt_upto = wal_segment_current(c->r.wal);
        c->ckpt_pending = true;
        roll_wal(c);
    }
    int64_t d = clock_mono_ns() - c->cut_started_ns;
    char k[32];
    snprintf(k, sizeof k, "%s_removed", c->ops->series_word);
    log_info(msg(c, b, sizeof b, "head truncated"), LOG_INT("maxt", c->cut_maxt),
             LOG_INT(k, removed), LOG_F64("total_ms", (double)d / 1e6));
    stat_set(c->st.last_cut_duration_ns, d);
    *c->r.cut = STORE_CUT_IDLE;
    c->compact_wanted = true;
}

/* The block is on disk (or there was nothing to write): serve it, end the cut, truncate. */
static void cut_done(struct store_cycle *c, struct store_job *j)
{
    if (j->blocks_changed) {
        c->ops->blocks_swap(c->s, j->blocks, j->n_blocks);
        j->blocks = NULL;
    }
    if (c->ops->cut_written)
        c->ops->cut_written(c->s);
    char id[BLOCKINDEX_ULID_CHARS + 1] = "", b[64];
    if (j->rc == 0)
        blockindex_ulid_format(&j->meta.ulid, id);
    log_info(msg(c, b, sizeof b, "head cut"), LOG_STR("block", id), LOG_INT("mint", c->cut_mint),
             LOG_INT("maxt", c->cut_maxt), LOG_UINT(c->ops->series_word, j->meta.num_series),
             LOG_UINT(c->ops->samples_word, j->meta.num_samples),
             LOG_UINT("raw_bytes", j->raw_bytes), LOG_UINT("chunk_bytes", j->chunk_bytes),
             LOG_F64("write_ms", (double)j->duration_ns / 1e6));
    stat_add(c->st.cuts_total, 1);
    stat_add(c->st.block_raw_bytes_total, j->raw_bytes);
    stat_add(c->st.block_chunk_bytes_total, j->chunk_bytes);
    stat_set(c->st.last_cut_unix_ms, c->now_ms);
    c->ops->cut_end(c->s);
    *c->r.cut = STORE_CUT_TRUNCATE;
    try_truncate(c);
}

/* ---- job results ---- */

static void checkpoint_done(struct store_cycle *c, const struct store_job *j)
{
    char b[64];
    if (j->rc) {
        log_error(msg(c, b, sizeof b, "wal checkpoint failed"), LOG_UINT("upto", j->upto_segment),
                  LOG_ERR(j->rc));
        stat_add(c->st.checkpoint_failures_total, 1);
        back_off(c);
        return; /* stays pending: retried with the same filter */
    }
    c->ops->recycle_ids(c->s); /* no replayable record names the removed ids any more */
    c->ckpt_pending = false;
    log_info(msg(c, b, sizeof b, "wal checkpoint"), LOG_UINT("upto", j->upto_segment),
             LOG_UINT("items_in", j->ck.items_in), LOG_UINT("items_out", j->ck.items_out),
             LOG_UINT("bytes", j->ck.bytes_out),
             LOG_UINT("segments_deleted", j->ck.segments_deleted),
             LOG_F64("duration_ms", (double)j->duration_ns / 1e6));
    stat_add(c->st.checkpoints_total, 1);
    stat_set(c->st.last_checkpoint_unix_ms, c->now_ms);
    stat_set(c->st.last_checkpoint_duration_ns, j->duration_ns);
}

static void compact_done(struct store_cycle *c, struct store_job *j)
{
    if (j->blocks_changed) {
        c->ops->blocks_swap(c->s, j->blocks, j->n_blocks);
        j->blocks = NULL;
    }
    stat_add(c->st.retention_deleted_total, (uint64_t)j->retention_deleted);
    stat_add(c->st.retention_rewritten_total, (uint64_t)j->rewritten);
    stat_add(c->st.retention_chunks_dropped_total, (uint64_t)j->chunks_dropped);
    stat_add(c->st.quarantined_total, (uint64_t)j->quarantined);
    c->next_retention_ms = c->now_ms + c->cfg.retention_interval_ms;
    if (j->rc) {
        char b[64];
        log_error(msg(c, b, sizeof b, "compaction failed"), LOG_ERR(j->rc));
        stat_add(c->st.compaction_failures_total, 1);
        back_off(c);
        return; /* compact_wanted stays: retried after the back-off */
    }
    c->compact_wanted = false;
    if (j->compact) {
        stat_add(c->st.compactions_total, 1);
        stat_set(c->st.last_compaction_unix_ms, c->now_ms);
        stat_set(c->st.last_compaction_duration_ns, j->duration_ns);
    }
}

static void job_done(struct store_cycle *c, struct store_job *j)
{
    c->job_busy = false;
    switch (j->kind) {
    case STORE_JOB_WRITE_BLOCK:
        if (j->rc == 0 || j->rc == ERR_EMPTY)
            cut_done(c, j);
        else
            fail_cut(c, "write block", j->rc);
        break;
    case STORE_JOB_CHECKPOINT: checkpoint_done(c, j); break;
    case STORE_JOB_COMPACT: compact_done(c, j); break;
    default: PANIC("BUG: unknown store job %d", (int)j->kind);
    }
    store_job_reset(j);
}

/* ---- scheduling ---- */

/* True when a served block recorded a fault (a query found bad bytes): quarantine it. */
static bool blocks_faulted(const struct store_cycle *c)
{
    for (size_t i = 0; i < *c->r.n_blocks; i++)
        if (block_fault((*c->r.blocks)[i], NULL))
            return true;
    return false;
}

static void start_next(struct store_cycle *c)
{
    int64_t start;
    if (c->ckpt_pending) {
        if (wal_segment_current(c->r.wal) > c->ckpt_upto) {
            store_job_reset(&c->job);
            c->job.upto_segment = c->ckpt_upto;
            c->job.alive = c->r.alive;
            post(c, STORE_JOB_CHECKPOINT);
        } else if (wal_idle(c->r.wal)) {
            /* The marker went into a segment that was still empty (a fresh segment takes the
             * next write whatever is asked); another one makes the roll happen. */
            roll_wal(c);
        }
        return; /* the next cut waits for the checkpoint of the last one */
    }
    if (cut_due(c, &start)) {
        begin_cut(c, start);
        return;
    }
    bool faulted = blocks_faulted(c);
    if (c->compact_wanted || faulted || c->now_ms >= c->next_retention_ms) {
        store_job_reset(&c->job);
        c->job.compact = c->compact_wanted;
        c->job.quarantine = faulted;
        c->job.now_ms = c->now_ms;
        c->job.other_bytes = c->ops->other_bytes ? c->ops->other_bytes(c->s) : 0;
        post(c, STORE_JOB_COMPACT);
    }
}

void store_cycle_tick(struct store_cycle *c, int64_t now_ms)
{
    c->now_ms = now_ms;
    if (c->job_busy) {
        struct store_job *j = jobthread_poll(c->r.jt);
        if (!j)
            return; /* a job runs: the cut (if any) is WRITING, nothing else to do */
        job_done(c, j);
    }
    if (*c->r.cut == STORE_CUT_SNAPSHOT)
        snapshot_step(c);
    else if (*c->r.cut == STORE_CUT_TRUNCATE)
        try_truncate(c);
    else if (*c->r.cut == STORE_CUT_IDLE && !c->job_busy && now_ms >= c->retry_after_ms)
        start_next(c);
}

bool store_cycle_idle(const struct store_cycle *c)
{
    int64_t start;
    return !c->job_busy && *c->r.cut == STORE_CUT_IDLE && !c->ckpt_pending && !c->compact_wanted &&
           !cut_due(c, &start);
}

void store_cycle_deinit(struct store_cycle *c)
{
    if (!c->ops)
        return; /* never set up */
    if (c->job_busy) {
        struct store_job *j = jobthread_wait(c->r.jt);
        ASSERT(j == &c->job);
        c->job_busy = false;
    }
    store_job_reset(&c->job);
    blockindex_meta_deinit(&c->job.meta);
    if (*c->r.cut != STORE_CUT_IDLE)
        c->ops->cut_end(c->s);
    *c->r.cut = STORE_CUT_IDLE;
}
