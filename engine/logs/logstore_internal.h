/* Internal structures of the per-shard log store, shared by logstore.c (open, close, stats),
 * logstore_head.c (streams, writers, chunks, dedup, truncation), logstore_append.c (the ingest
 * batch), logstore_replay.c (WAL replay), logstore_merge.c (time-ordered merge of log chunks with
 * duplicate removal), logstore_cycle.c (maintenance on the shard thread), logstore_worker.c (the
 * background thread and its jobs), logstore_select.c (the entry iterator) and logstore_query.c
 * (labels, series, statistics). Not part of the API: include engine/logs/logstore.h. */
#ifndef STRATA_ENGINE_LOGS_LOGSTORE_INTERNAL_H
#define STRATA_ENGINE_LOGS_LOGSTORE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/strmap.h"
#include "engine/index/memindex.h"
#include "engine/io/jobthread.h"
#include "engine/store/cycle.h"
#include "engine/logs/logblock.h"
#include "engine/logs/logstore.h"
#include "engine/tsdb/block.h"
#include "engine/tsdb/compact.h"
#include "engine/tsdb/wal.h"
#include "formats/logchunk.h"
#include "formats/walrec.h"

#define LS_NS_PER_MS     1000000LL
#define LS_TENANT_LABEL  "__tenant__"
#define LS_STREAM_ID_MAX ((1u << 30) - 1)

/* Floor division (also for negative numerators). */
static inline int64_t ls_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}
static inline int64_t ls_ns_to_ms(int64_t ns)
{
    return ls_floor_div(ns, LS_NS_PER_MS);
}
/* ms -> ns, saturating. */
static inline int64_t ls_ms_to_ns(int64_t ms)
{
    if (ms >= INT64_MAX / LS_NS_PER_MS)
        return INT64_MAX;
    if (ms <= INT64_MIN / LS_NS_PER_MS)
        return INT64_MIN;
    return ms * LS_NS_PER_MS;
}
/* Start of the block range holding t (ms). */
static inline int64_t ls_range_start(int64_t t_ms, int64_t range_ms)
{
    return ls_floor_div(t_ms, range_ms) * range_ms;
}

/* Grows the array *pp (capacity *cap elements of elem bytes, doubling) to hold need. 0 or
 * ERR_NOMEM (unchanged). */
int ls_grow(void *pp, size_t *cap, size_t need, size_t elem);

/* 64-bit identity of an entry for duplicate detection: (ts, line, metadata in order). */
uint64_t ls_entry_key(int64_t ts, struct str line, const struct label *md, size_t n_md);

/* ---- head ---- */

/* A finished head chunk: immutable log chunk bytes (formats/logchunk.h, snappy blocks). */
struct ls_chunk {
    uint8_t *bytes;
    size_t len;
    int64_t range_ms; /* start of the block range it belongs to */
    int64_t mint_ns, maxt_ns;
    uint32_t entries;
    uint64_t line_bytes;
};

/* One generation of entry keys (open addressing; 0 marks an empty slot, key 0 is stored as 1). */
struct ls_keyset {
    uint64_t *slots;
    uint32_t cap, n;
};

/* An open chunk writer with its bookkeeping and its duplicate window: `cur` holds the keys of its
 * open head block, `prev` those of the block cut last (or of the chunk finished last). */
struct ls_writer {
    struct logchunk_writer w;
    bool inited;
    int64_t range_ms; /* block range of its entries (valid while entries > 0) */
    int64_t mint_ns, maxt_ns;
    uint32_t entries;
    uint32_t blocks; /* cut blocks seen (to notice cuts) */
    uint64_t line_bytes;
    struct ls_keyset cur, prev;
};

struct ls_tenant {
    uint64_t streams; /* live streams */
    uint64_t line_bytes_max, streams_max;
    char name[]; /* the map key points here */
};

struct ls_stream {
    uint32_t id;
    uint64_t hash;
    struct ls_stream *next_hash; /* bucket chain */
    struct label *labels;        /* one allocation with the strings */
    size_t n_labels;
    struct ls_tenant *tenant;
    struct ls_chunk **chunks; /* finished, in creation order */
    uint32_t n_chunks, cap_chunks;
    struct ls_writer main, late;
    int64_t max_ts;         /* newest entry accepted (INT64_MIN: none yet) */
    int64_t min_ns, max_ns; /* time span of its head data (INT64_MAX/INT64_MIN: none) */
    int64_t last_append_ms; /* tick clock of the last append (idle finishing) */
    uint64_t gen;           /* bumped by every change to its data (selects re-read) */
};

struct ls_head {
    struct ls_stream **by_id; /* id -> stream, NULL for free ids */
    uint32_t cap_ids;
    uint32_t id_limit; /* above every id in use or pending */
    uint32_t *free_ids;
    size_t n_free, cap_free;
    uint32_t *pending_ids; /* freed by a truncation; reusable after the next checkpoint */
    size_t n_pending, cap_pending;
    struct ls_stream **buckets;
    size_t n_buckets, n_streams;
    struct memindex ix;
    struct strmap tenants; /* name -> struct ls_tenant * */
    int64_t min_valid_ms;  /* entries before it are refused: the last cut */
    int64_t visible_ms;    /* head chunks of ranges before it are in blocks: hidden */
    int64_t min_ns, max_ns;
    /* accounting */
    uint64_t entries, line_bytes, chunk_bytes, n_chunks, writers;
};

int ls_head_init(struct logstore *ls);
void ls_head_deinit(struct logstore *ls);
struct ls_stream *ls_stream_lookup(struct logstore *ls, const struct label *l, size_t n,
                                   uint64_t hash);
struct ls_stream *ls_stream_by_id(const struct logstore *ls, uint32_t id);
/* Creates a stream with a new id (id == UINT32_MAX) or the given one (replay). Returns 0,
 * ERR_FULL (no ids left), ERR_DUPLICATE (id taken: replay), ERR_RANGE, ERR_NOMEM. */
int ls_stream_create(struct logstore *ls, const struct label *l, size_t n, uint64_t hash,
                     uint32_t id, struct ls_stream **out);
struct ls_tenant *ls_tenant_get(struct logstore *ls, struct str name);
/* Stores one entry in the stream (the caller checked the limits and the window): 0 stored,
 * 1 duplicate (nothing stored), ERR_NOMEM. */
int ls_stream_append(struct logstore *ls, struct ls_stream *st, int64_t ts, struct str line,
                     const struct label *md, size_t n_md);
/* Finishes the stream's writers whose range starts before `before_ms` (INT64_MAX: all). */
int ls_stream_finish_before(struct logstore *ls, struct ls_stream *st, int64_t before_ms);
/* Finishes writers idle since before now_ms - chunk_idle_ms and frees their scratch (a bounded
 * number of streams per call, round robin). */
void ls_head_finish_idle(struct logstore *ls, int64_t now_ms);
/* Drops every chunk of ranges before mint_ms, removes streams left without data (their ids go
 * to the pending list) and recomputes the head's time span. Returns the streams removed. */
size_t ls_head_truncate(struct logstore *ls, int64_t mint_ms);
/* Makes the pending ids reusable. */
void ls_head_recycle_ids(struct logstore *ls);
/* Updates the head's time span with an entry. */
void ls_head_note_ts(struct ls_head *h, int64_t ts);

/* ---- merging log chunks (logstore_merge.c) ---- */

struct ls_mcur {
    struct logchunk_iter it;
    struct logchunk_reader r;
    int64_t bound; /* its first entry in the merge's direction is not earlier than this */
    bool live;
};

struct ls_mstart {
    int64_t bound;
    uint32_t idx;
};

/* A k-way merge of log chunk iterators in time order (ties: cursor order) that drops an entry
 * equal (ts, line, metadata) to one already returned with the same timestamp. Cursors start only
 * when the merge reaches their first timestamp and give their buffers back at their end, so
 * disjoint chunks are decoded one at a time. */
struct ls_merge {
    struct ls_mcur *c;
    size_t n, cap;
    struct ls_mstart *order; /* cursors by bound: they start in this order */
    struct ls_mcur **live;   /* started cursors holding an entry */
    size_t n_live, next_start, cap_plan;
    enum logchunk_dir dir;
    int64_t mint, maxt;
    const struct logchunk_entry *cur; /* the current entry, after ls_merge_next returned 1 */
    struct ls_mcur *cur_c;            /* its cursor */
    bool grp_started;
    int64_t grp_ts;
    uint64_t *grp;
    size_t n_grp, cap_grp;
    bool started;
    int err;
    uint64_t dups, blocks_loaded, bytes_decompressed;
};

void ls_merge_init(struct ls_merge *m);
void ls_merge_deinit(struct ls_merge *m);
/* Forgets the cursors (keeping their buffers) and sets the range [mint, maxt) and direction. */
void ls_merge_reset(struct ls_merge *m, int64_t mint, int64_t maxt, enum logchunk_dir dir);
/* Adds a cursor over chunk bytes (validated here: ERR_CORRUPT/ERR_TRUNCATED) or an open writer. */
int ls_merge_add_chunk(struct ls_merge *m, const uint8_t *bytes, size_t len);
int ls_merge_add_writer(struct ls_merge *m, const struct logchunk_writer *w);
/* 1 with m->cur set, 0 at the end, or a negative error (sticky). */
int ls_merge_next(struct ls_merge *m);

/* ---- background jobs ---- */

/* One stream of a cut: its labels and the chunks of the cut range (borrowed from the head, which
 * keeps them until the job is done). */
struct ls_snap_stream {
    const struct label *labels;
    size_t n_labels;
    struct ls_chunk **chunks; /* owned array */
    size_t n_chunks;
};

struct ls_snap {
    struct ls_snap_stream *s;
    size_t n, cap;
};

/* When some chunk of a block expires by its stream's retention (ms). */
struct ls_expiry {
    struct blockindex_ulid ulid;
    int64_t next_ms;
};

struct ls_worker {
    struct jobthread jt;   /* runs one struct store_job at a time (engine/store/cycle.h) */
    struct compact_dir cd; /* owned by the worker thread once it runs */
    char *wal_dir, *blocks_dir, *state_path;
    const struct logstore_config *cfg;
    struct ls_expiry *exp; /* per-stream retention: blocks checked and not yet due */
    size_t n_exp, cap_exp;
    struct store_worker run; /* the job runner's view of the above */
};

int ls_worker_start(struct ls_worker *w);
void ls_worker_stop(struct ls_worker *w);
static inline int ls_blocks_copy(const struct compact_dir *cd, struct block ***out, size_t *n)
{
    return store_blocks_copy(cd, out, n);
}
/* Deletes blocks superseded by a per-stream retention rewrite that a crash left behind (same
 * sources and time range as a newer block). */
void ls_blocks_drop_rewritten(struct compact_dir *cd);
/* Retention of stream labels under the config: the rule with the highest priority (tie: the
 * shortest period) or retention_ms. */
int64_t ls_retention_for(const struct logstore_config *c, const struct label *l, size_t n);

/* ---- maintenance ---- */

/* The log store's side of the store cycle (engine/store/cycle.h). */
struct ls_cycle {
    struct store_cycle sc;
    enum store_cut_state cut;
    uint32_t snap_next_id; /* next stream id to snapshot */
    struct ls_snap snap;
    struct store_alive alive; /* the checkpoint's keep filter */
    uint32_t idle_next;       /* round robin position of idle finishing */
};

void ls_cycle_init(struct logstore *ls);
void ls_cycle_deinit(struct logstore *ls);
void ls_blocks_swap(struct logstore *ls, struct block **blocks, size_t n);
void ls_snap_clear(struct ls_snap *s);

/* ---- counters (single writer: the shard thread; relaxed atomic stores) ---- */

#define LS_STAT_ADD(ls, field, d)                                                                  \
    __atomic_store_n(&(ls)->st.field, (ls)->st.field + (d), __ATOMIC_RELAXED)
#define LS_STAT_SET(ls, field, v) __atomic_store_n(&(ls)->st.field, (v), __ATOMIC_RELAXED)

/* ---- the store ---- */

struct ls_commit {
    logstore_commit_fn fn;
    void *arg;
    struct logstore *ls;
    struct ls_commit *next;
};

struct logstore {
    struct logstore_config cfg;
    char *dir;
    struct loop *loop;
    struct wal *wal;
    struct ls_head head;
    struct ls_worker worker;
    struct block **blocks; /* served to queries, sorted by (minTime, ULID); one reference each */
    size_t n_blocks;
    uint32_t open_iters; /* select iterators open: the head truncation waits for 0 */
    bool closing;
    int64_t tick_ms; /* now_ms of the last tick (INT64_MIN before the first) */
    /* append scratch */
    struct walrec_series *new_streams;
    size_t n_new, cap_new;
    struct walrec_entry *acc;
    size_t n_acc, cap_acc;
    struct ls_commit *free_commits;
    struct ls_cycle cyc;
    struct logstore_stats st; /* wal part filled on read */
};

/* ---- selection of streams across the head and the blocks (logstore_query.c) ---- */

/* A block chunk of a selected stream. */
struct ls_bchunk {
    struct block *b;
    struct blockindex_chunk c;
    uint32_t stream;
};

/* A selected stream: one label set, its head stream (NULL when not in the head) and its block
 * chunks overlapping the range. */
struct ls_sstream {
    const struct label *labels;
    size_t n_labels;
    struct ls_stream *head;
    struct ls_bchunk *chunks;
    size_t n_chunks;
};

/* The streams matching ms (n may be 0: all) with data in [start_ns, end_ns), sorted by label set,
 * one per label set. Holds a reference on every block it read (labels borrow from them and from
 * the head, which must not truncate while it is alive). */
struct ls_coll {
    struct arena arena;
    struct ls_sstream *streams;
    size_t n_streams;
    struct ls_bchunk *chunks;
    size_t n_chunks, cap_chunks;
    struct block **blocks;
    size_t n_blocks;
};

int ls_collect(struct logstore *ls, const struct matcher *ms, size_t n, int64_t start_ns,
               int64_t end_ns, struct ls_coll *out);
void ls_coll_free(struct ls_coll *c);

int ls_replay(struct logstore *ls, const char *wal_dir);
/* The head's min valid time as persisted (INT64_MIN when absent). */
int ls_state_read(const char *path, int64_t *ms);
int ls_state_write(const char *path, int64_t ms);
/* Publishes the head accounting into the stats. */
void ls_head_publish(struct logstore *ls);

#endif
