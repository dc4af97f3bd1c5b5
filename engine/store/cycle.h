/* The maintenance cycle one shard's store runs, shared by the metrics TSDB (engine/tsdb) and the
 * log store (engine/logs): when to cut the head into a block (the head spans more than 1.5 block
 * ranges: the oldest range goes), the cut itself (snapshot a bounded batch per tick, a job writes
 * the block, the new block list is swapped in, the head drops the range once it may, the WAL is
 * rolled with a WALREC_CHECKPOINT marker and checkpointed behind the cut), and compaction,
 * quarantine of damaged blocks and retention as jobs on the store's job thread
 * (engine/io/jobthread), one job at a time, with a back-off after a failure. What truly differs per
 * store comes through ops tables: the head (its span, the snapshot, the truncation, the ids alive),
 * the block a cut writes, the checkpoint filter and any retention beyond age and size (per stream
 * for logs).
 *
 * The block, WAL and compaction primitives it drives (engine/tsdb/block.h, wal.h, compact.h) are
 * the stores' common storage layer; this module uses nothing else of either store.
 *
 * Threading: struct store_cycle and every store_cycle_* function belong to the shard thread; the
 * job runner (store_worker_*) runs on the job thread and owns the compact_dir while it runs. The
 * job is the only thing that passes between them, through the job thread's slot. */
#ifndef STRATA_ENGINE_STORE_CYCLE_H
#define STRATA_ENGINE_STORE_CYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/io/jobthread.h"
#include "engine/tsdb/block.h"
#include "engine/tsdb/compact.h"
#include "engine/tsdb/wal.h"

/* ---- the ids alive after a truncation: the checkpoint's filter ---- */

struct store_alive {
    uint64_t *words; /* bit per id; owned (free) */
    uint32_t n_bits;
    int64_t cut_ms; /* data before it is in blocks */
};

/* wal_keep functions over a struct store_alive (arg): an id is kept when its bit is set; a
 * sample (ms) or entry (ns) when its id is kept and it is not before cut_ms. */
bool store_keep_id(void *alive, uint32_t id);
bool store_keep_ts_ms(void *alive, uint32_t id, int64_t ts_ms);
bool store_keep_ts_ns(void *alive, uint32_t id, int64_t ts_ns);

/* ---- jobs ---- */

enum store_job_kind {
    STORE_JOB_NONE = 0,
    STORE_JOB_WRITE_BLOCK, /* the cut snapshot -> block -> compact_dir_add */
    STORE_JOB_CHECKPOINT,  /* wal_checkpoint_dir behind the cut */
    STORE_JOB_COMPACT,     /* quarantine, compaction, retention (age, size, the store's own) */
};

struct store_job {
    enum store_job_kind kind;
    /* inputs */
    void *snap; /* WRITE_BLOCK: the store's cut snapshot */
    int64_t mint_ms, maxt_ms;
    uint32_t upto_segment;           /* CHECKPOINT */
    const struct store_alive *alive; /* CHECKPOINT */
    bool compact, quarantine;        /* COMPACT */
    int64_t now_ms;                  /* COMPACT */
    uint64_t other_bytes;            /* COMPACT: bytes besides blocks and WAL (head files) */
    /* outputs */
    int rc;
    int64_t duration_ns;
    struct blockindex_meta meta;     /* the block written */
    uint64_t raw_bytes, chunk_bytes; /* of the block written, when the store counts them */
    struct wal_checkpoint_result ck;
    size_t retention_deleted, rewritten, chunks_dropped, quarantined;
    bool blocks_changed;   /* blocks/n_blocks hold the new list */
    struct block **blocks; /* one reference each; ownership passes to the shard thread */
    size_t n_blocks;
};

/* Frees a job's outputs and clears it for the next post. */
void store_job_reset(struct store_job *j);

/* ---- the job runner (job thread) ---- */

struct store_worker_ops {
    const char *quarantine_msg; /* logged for each faulted block quarantined */
    /* Writes j->snap as a block into blocks_dir (j->meta.level is 1), filling j->meta (and
     * j->raw_bytes/chunk_bytes if the store counts them). 0, ERR_EMPTY or an error. */
    int (*write_block)(void *ctx, const char *blocks_dir, struct store_job *j);
    /* Sets the item filters of the checkpoint (arg and record are the runner's). */
    void (*checkpoint_keep)(struct wal_keep *k);
    /* Before the checkpoint runs (NULL: nothing); an error fails the job. */
    int (*checkpoint_before)(void *ctx, const struct store_job *j);
    /* Whether the WAL directory's bytes count toward the size retention. */
    bool retention_counts_wal;
    /* Retention beyond age and size, after them (NULL: none). 0 or an error. */
    int (*retention)(void *ctx, struct compact_dir *cd, struct store_job *j);
};

/* What the job runner works on: the store's blocks directory (owned by the job thread while it
 * runs) and WAL directory, and the store's worker ops with their context. */
struct store_worker {
    struct compact_dir *cd;
    const char *wal_dir, *blocks_dir;
    const struct store_worker_ops *ops;
    void *ctx;
};

/* The job thread's run function (ctx: a struct store_worker). */
void store_worker_run(void *ctx, void *job);
/* Starts t with store_worker_run over w (which must outlive the thread). 0 or -errno. */
int store_worker_start(struct jobthread *t, struct store_worker *w);
/* Waits for the job in flight, stops the thread and closes cd. No-op when not started. */
void store_worker_stop(struct jobthread *t, struct compact_dir *cd);

/* ---- block lists ---- */

/* A new list of references to cd's blocks (the caller's thread must own cd). 0 or ERR_NOMEM. */
int store_blocks_copy(const struct compact_dir *cd, struct block ***out, size_t *n);

struct store_blocks_sum {
    uint64_t bytes, samples;          /* samples: the metas' num_samples (entries for logs) */
    int64_t min_time_ms, max_time_ms; /* INT64_MAX / INT64_MIN without blocks */
};

/* Replaces the list *cur (*n_cur references) with `blocks` (ownership taken) and sums it up. */
void store_blocks_replace(struct block ***cur, size_t *n_cur, struct block **blocks, size_t n,
                          struct store_blocks_sum *sum);

/* ---- the cycle (shard thread) ---- */

enum store_cut_state {
    STORE_CUT_IDLE = 0,
    STORE_CUT_SNAPSHOT, /* the store copies the cut range, a bounded batch per tick */
    STORE_CUT_WRITING,  /* the job writes the block */
    STORE_CUT_TRUNCATE, /* the block is served; the head drops the range once it may */
};

struct store_cycle_ops {
    const char *log_prefix; /* "" or "logs ": the cycle's log messages are "<prefix>head cut"... */
    const char *series_word, *samples_word; /* "series"/"samples", "streams"/"entries" */
    /* The head's time span in ms; false when it holds nothing. */
    bool (*head_span)(void *s, int64_t *lo_ms, int64_t *hi_ms);
    /* A cut of [mint, maxt) starts. 0, or an error that fails the cut (*step names it). */
    int (*cut_begin)(void *s, int64_t mint_ms, int64_t maxt_ms, const char **step);
    /* Snapshots the next batch: 1 more to do, 0 done (*snap: the job's input), < 0 an error
     * (*step names it). */
    int (*cut_step)(void *s, void **snap, const char **step);
    /* The block of the cut is served (called before cut_end). NULL: nothing. */
    void (*cut_written)(void *s);
    /* The cut ended (written or failed): release the snapshot and what it pins. */
    void (*cut_end)(void *s);
    /* Drops the range before maxt_ms from the head: the number of series/streams removed (< 0: an
     * error, logged), or false when it must wait (asked again every tick). */
    bool (*truncate)(void *s, int64_t maxt_ms, int64_t *removed);
    /* The ids in use (the alive bitmap's size) and whether one is alive after the truncation. */
    uint32_t (*id_limit)(const void *s);
    bool (*id_alive)(const void *s, uint32_t id);
    /* The checkpoint dropped every record of removed ids: they may be reused. */
    void (*recycle_ids)(void *s);
    /* Replaces the store's block list (ownership taken) and publishes its stats. */
    void (*blocks_swap)(void *s, struct block **blocks, size_t n);
    /* Bytes besides blocks and WAL for the size retention (NULL: 0). */
    uint64_t (*other_bytes)(const void *s);
};

/* Where the cycle counts (pointers into the store's stats; NULL: the store does not keep it).
 * Single writer: the shard thread; relaxed atomic stores. */
struct store_cycle_stats {
    uint64_t *cuts_total, *cut_failures_total;
    int64_t *last_cut_unix_ms, *last_cut_duration_ns;
    uint64_t *removed_total; /* series/streams removed by truncations */
    uint64_t *block_raw_bytes_total, *block_chunk_bytes_total;
    uint64_t *checkpoints_total, *checkpoint_failures_total;
    int64_t *last_checkpoint_unix_ms, *last_checkpoint_duration_ns;
    uint64_t *compactions_total, *compaction_failures_total;
    int64_t *last_compaction_unix_ms, *last_compaction_duration_ns;
    uint64_t *retention_deleted_total, *retention_rewritten_total, *retention_chunks_dropped_total;
    uint64_t *quarantined_total;
};

/* The counters both stores' stats name alike, pointed at in a struct store_cycle_stats
 * initializer: STORE_CYCLE_STATS_COMMON(&t->st), then the store's own. */
#define STORE_CYCLE_STATS_COMMON(stp)                                                              \
    .cuts_total = &(stp)->cuts_total, .cut_failures_total = &(stp)->cut_failures_total,            \
    .last_cut_unix_ms = &(stp)->last_cut_unix_ms,                                                  \
    .last_cut_duration_ns = &(stp)->last_cut_duration_ns,                                          \
    .checkpoints_total = &(stp)->checkpoints_total,                                                \
    .checkpoint_failures_total = &(stp)->checkpoint_failures_total,                                \
    .last_checkpoint_unix_ms = &(stp)->last_checkpoint_unix_ms,                                    \
    .compactions_total = &(stp)->compactions_total,                                                \
    .compaction_failures_total = &(stp)->compaction_failures_total,                                \
    .last_compaction_unix_ms = &(stp)->last_compaction_unix_ms,                                    \
    .retention_deleted_total = &(stp)->retention_blocks_deleted_total,                             \
    .quarantined_total = &(stp)->blocks_quarantined_total

struct store_cycle_config {
    int64_t range_ms;              /* block range of a cut */
    int64_t retry_interval_ms;     /* no new job this long after a failure */
    int64_t retention_interval_ms; /* a compaction/retention job at least this often */
};

/* What the cycle uses of the store besides the ops (all owned by the store). */
struct store_cycle_refs {
    struct jobthread *jt;   /* the store's job thread, started over a struct store_worker */
    struct wal *wal;        /* open */
    struct block ***blocks; /* the served block list (checked for faults) */
    size_t *n_blocks;
    struct store_alive *alive; /* kept until the checkpoint behind the cut is done */
    enum store_cut_state *cut; /* the cut's state, readable by the store */
};

struct store_cycle {
    const struct store_cycle_ops *ops;
    void *s; /* the store */
    struct store_cycle_config cfg;
    struct store_cycle_stats st;
    struct store_cycle_refs r;
    int64_t cut_mint, cut_maxt;
    int64_t cut_started_ns;
    struct store_job job; /* the job in flight (one at a time) */
    bool job_busy;
    bool ckpt_pending; /* a checkpoint waits for the WAL to move past ckpt_upto */
    uint32_t ckpt_upto;
    bool compact_wanted;
    int64_t next_retention_ms; /* INT64_MIN: at the first tick */
    int64_t retry_after_ms;
    int64_t now_ms; /* of the last tick */
};

/* Sets the cycle up over an open store (WAL open, job thread started). The pointers must stay
 * valid until store_cycle_deinit. */
void store_cycle_init(struct store_cycle *c, const struct store_cycle_ops *ops, void *s,
                      const struct store_cycle_config *cfg, const struct store_cycle_stats *st,
                      const struct store_cycle_refs *refs);
/* Abandons a cut in progress and waits for the job in flight (close). */
void store_cycle_deinit(struct store_cycle *c);
/* One step: takes a finished job's result, goes on with a cut, or starts the next job. */
void store_cycle_tick(struct store_cycle *c, int64_t now_ms);
/* True when nothing is in flight, pending or due. */
bool store_cycle_idle(const struct store_cycle *c);

/* Start of the range of length range_ms holding t (floor, also for negative t). */
int64_t store_range_start(int64_t t_ms, int64_t range_ms);
/* True when [lo_ms, hi_ms] spans more than 1.5 ranges; *start: the oldest range's start. */
bool store_cut_due(int64_t lo_ms, int64_t hi_ms, int64_t range_ms, int64_t *start);

#endif
