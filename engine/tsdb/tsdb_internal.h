/* Internal structures of the per-shard metrics TSDB, shared by tsdb.c (open, close, stats),
 * tsdb_append.c (the ingest batch), tsdb_replay.c (WAL replay), tsdb_cycle.c (the maintenance
 * state machine's tsdb side), tsdb_worker.c (the tsdb's side of the background jobs) and
 * querier.c. Not part of the API: include engine/tsdb/tsdb.h. */
#ifndef STRATA_ENGINE_TSDB_TSDB_INTERNAL_H
#define STRATA_ENGINE_TSDB_TSDB_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "engine/io/jobthread.h"
#include "engine/store/cycle.h"
#include "engine/tsdb/block.h"
#include "engine/tsdb/compact.h"
#include "engine/tsdb/exemplars.h"
#include "engine/tsdb/head.h"
#include "engine/tsdb/tsdb.h"
#include "engine/tsdb/wal.h"
#include "formats/walrec.h"

/* ---- the cut snapshot: what the worker writes as a block ---- */

struct tsdb_snap_series {
    const struct label *labels; /* in the snapshot's arena */
    size_t n_labels;
    const struct chunk_meta *chunks; /* in the arena; data points into pinned head chunk maps */
    size_t n_chunks;
};

struct tsdb_snap {
    struct arena arena;
    struct tsdb_snap_series *series;
    size_t n, cap;
};

void tsdb_snap_init(struct tsdb_snap *s);
void tsdb_snap_deinit(struct tsdb_snap *s);
/* Copies one series (labels and chunk descriptors) into the snapshot. 0 or ERR_NOMEM. */
int tsdb_snap_add(struct tsdb_snap *s, const struct chunk_series *cs);
/* A chunk series set over the snapshot (borrowed: the snapshot must outlive the set). */
int tsdb_snap_set(const struct tsdb_snap *s, struct chunk_series_set **out);

/* ---- the job thread and the maintenance cycle (engine/store/cycle.h drives both) ---- */

struct tsdb_worker {
    struct jobthread jt;   /* runs one struct store_job at a time */
    struct compact_dir cd; /* owned by the worker thread once it runs */
    char *wal_dir;
    char *blocks_dir;
    struct store_worker run; /* the job runner's view of the above */
};

/* Starts the thread (it takes over cd, which must be open). 0 or -errno. */
int tsdb_worker_start(struct tsdb_worker *w);
/* Waits for the current job, stops the thread and closes cd. */
void tsdb_worker_stop(struct tsdb_worker *w);
/* A new list of references to cd's blocks (the caller's thread must own cd). 0 or ERR_NOMEM. */
static inline int tsdb_blocks_copy(const struct compact_dir *cd, struct block ***out, size_t *n)
{
    return store_blocks_copy(cd, out, n);
}

/* The cut states (engine/store/cycle.h), under the names the tsdb tests use. */
#define TSDB_CUT_IDLE     STORE_CUT_IDLE
#define TSDB_CUT_SNAPSHOT STORE_CUT_SNAPSHOT /* copying series from the head, a batch per tick */
#define TSDB_CUT_WRITING  STORE_CUT_WRITING  /* the worker writes the block */

struct tsdb_cycle {
    struct store_cycle sc;
    enum store_cut_state cut;
    struct chunk_series_set
        *head_set;            /* head_block_series of the cut, open (pins the chunk maps) */
    struct tsdb_snap snap;    /* the cut's series, copied a batch per tick */
    struct store_alive alive; /* the checkpoint's keep filter */
};

/* ---- counters (single writer: the shard thread; relaxed atomic stores) ---- */

#define TSDB_STAT_ADD(t, field, d)                                                                 \
    __atomic_store_n(&(t)->st.field, (t)->st.field + (d), __ATOMIC_RELAXED)
#define TSDB_STAT_SET(t, field, v) __atomic_store_n(&(t)->st.field, (v), __ATOMIC_RELAXED)

/* ---- the tsdb ---- */

struct tsdb_commit {
    tsdb_commit_fn fn;
    void *arg;
    struct tsdb *t;
    struct tsdb_commit *next; /* free list */
};

struct tsdb {
    struct tsdb_config cfg;
    char *dir;
    struct loop *loop;
    struct head *head;
    struct wal *wal;
    struct tsdb_worker worker;
    /* blocks served to queries, sorted by (minTime, ULID); one reference each */
    struct block **blocks;
    size_t n_blocks;
    uint32_t id_limit; /* above every series id seen (sizes the alive bitmap) */
    bool closing;
    /* append scratch */
    struct walrec_series *new_series;
    size_t n_new, cap_new;
    struct walrec_sample *acc;
    size_t n_acc, cap_acc;
    struct walrec_hist *hacc; /* accepted histograms of the batch (point into the input) */
    size_t n_hacc, cap_hacc;
    struct walrec_exemplar *eacc; /* stored exemplars of the batch (point into the input) */
    size_t n_eacc, cap_eacc;
    struct exemplars *ex; /* exemplar storage (engine/tsdb/exemplars.h) */
    struct tsdb_commit *free_commits;
    struct tsdb_cycle cyc;
    struct tsdb_stats st; /* head and wal parts are filled on read */
};

/* tsdb_replay.c: replays <dir>/wal into the head (head_replay_begin/_end around it). */
int tsdb_replay(struct tsdb *t, const char *wal_dir);

/* tsdb_cycle.c: the tsdb's side of the store cycle (after the WAL is open and the worker runs). */
void tsdb_cycle_init(struct tsdb *t);
/* Abandons a cut in progress and waits for the job in flight (tsdb_close). */
void tsdb_cycle_deinit(struct tsdb *t);
/* Replaces the query block list with `blocks` (ownership taken) and republishes block stats. */
void tsdb_blocks_swap(struct tsdb *t, struct block **blocks, size_t n);

/* Notes a series id (for the alive bitmap's size). */
static inline void tsdb_note_id(struct tsdb *t, uint32_t id)
{
    if (id >= t->id_limit)
        t->id_limit = id + 1;
}

#endif
