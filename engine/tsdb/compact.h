/* Compaction and retention of one shard's blocks directory.
 *
 * Planning follows Prometheus's leveled compactor: block ranges grow by 3x from the head's block
 * range (2h, 6h, 18h, 54h, ...) up to a maximum (default: 10% of retention, at most 31 days).
 * Blocks are sorted by minTime, then:
 *   1. overlapping blocks are always compacted together first (the first group of blocks whose
 *      time ranges overlap, transitively);
 *   2. otherwise the newest block is left out (it was just cut from the head) and, for each range
 *      above the smallest, the blocks are split into groups aligned on that range; the first group
 *      of at least two blocks that fills its range exactly, or ends before the newest remaining
 *      block starts, is compacted.
 * Execution merges the inputs' series (merge_set with MERGE_REENCODE: overlapping chunks become
 * non-overlapping XOR chunks of <= 120 samples, each sample once; on an equal timestamp the
 * input earlier in (minTime, ULID) order wins), passes the merged series through the store's
 * rewrite when compact_opts has one (the log store re-encodes log chunks), writes the new block
 * (level = max input level + 1, sources = union of the inputs' sources), and only then deletes the
 * inputs. Crash safety: on open, leftover `*.tmp` / `*.tmp-for-deletion` directories are removed,
 * and a block whose sources are all sources of another (larger) block is deleted — the finished
 * output of an interrupted compaction wins over its inputs.
 *
 * Retention: blocks entirely older than now - retention (maxTime <= now - retention) are deleted;
 * then, newest first, block sizes (plus the caller's other bytes: head, WAL) are summed and once
 * the sum exceeds the size limit that block and every older one are deleted.
 *
 * Blocks that fail checks on open (or verification, when asked) or that turn out corrupt during a
 * compaction are moved to ../quarantine/ and the rest keep being served. Deleted blocks go away
 * when their last reader closes (block_mark_deleted).
 *
 * Threading: a compact_dir belongs to its shard thread; blocking file I/O (background work). */
#ifndef STRATA_ENGINE_TSDB_COMPACT_H
#define STRATA_ENGINE_TSDB_COMPACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/tsdb/block.h"

#define COMPACT_MIN_RANGE_MS         (2LL * 3600 * 1000)
#define COMPACT_MAX_RANGE_CAP_MS     (31LL * 24 * 3600 * 1000)
#define COMPACT_RETENTION_DEFAULT_MS (15LL * 24 * 3600 * 1000)
#define COMPACT_RANGES_MAX           10

/* Ranges min, 3*min, 9*min, ... while <= max_range_ms (at least min), at most `cap` of them.
 * Returns how many were written. */
size_t compact_ranges(int64_t min_range_ms, int64_t max_range_ms, int64_t *out, size_t cap);
/* The default largest block range for a retention: min(retention / 10, 31 days), and at least
 * COMPACT_MIN_RANGE_MS; 31 days when retention <= 0 (unlimited). */
int64_t compact_max_range(int64_t retention_ms);

struct compact_plan_block {
    int64_t mint_ms, maxt_ms; /* [mint, maxt) */
};

/* Pure planner over blocks sorted by mint_ms (ties in any fixed order). Writes the indices of the
 * blocks to compact together into out (room for n) and returns how many (0: nothing to do). */
size_t compact_plan(const struct compact_plan_block *blocks, size_t n, const int64_t *ranges,
                    size_t n_ranges, size_t *out);

/* A store's rewrite of the compaction output (the log store re-encodes its log chunks; the metrics
 * store has none): wraps the merged series set of one compaction of in[0..n) (merge_set with
 * MERGE_REENCODE over the inputs: label-set order, each series' chunks sorted by mint and
 * non-overlapping) into the set that is written. It takes ownership of `merged` (closed with *out,
 * or at once when it fails); the inputs are borrowed for the compaction. Called on the thread
 * running the compaction; arg is compact_opts.rewrite_arg. Errors of the wrapper or of its _next()
 * fail the compaction like the merge's own (inputs kept; a permanent code such as ERR_UNSUPPORTED
 * leaves them out of later plans). */
typedef int (*compact_rewrite_fn)(void *arg, struct block *const *in, size_t n,
                                  struct chunk_series_set *merged, struct chunk_series_set **out);

/* Executes one compaction: merges the inputs (in the given order of authority) into a new block
 * under blocks_dir. Does not delete the inputs. meta_out (initialised by the caller with
 * blockindex_meta_init) receives the new block's meta. Returns 0, ERR_EMPTY (no samples: nothing
 * written), ERR_CORRUPT (an input failed its checks: see block_fault), or block_write's errors. */
int compact_blocks(const char *blocks_dir, struct block *const *in, size_t n,
                   struct blockindex_meta *meta_out);
/* compact_blocks with the merged set passed through rewrite (NULL: written as merged). */
int compact_blocks_with(const char *blocks_dir, struct block *const *in, size_t n,
                        compact_rewrite_fn rewrite, void *rewrite_arg,
                        struct blockindex_meta *meta_out);

struct compact_opts {
    int64_t min_range_ms;       /* 0: COMPACT_MIN_RANGE_MS */
    int64_t max_range_ms;       /* 0: compact_max_range(retention) */
    int64_t retention_ms;       /* 0: COMPACT_RETENTION_DEFAULT_MS; < 0: no age limit */
    uint64_t retention_bytes;   /* 0: no size limit */
    bool verify_on_open;        /* block_verify every block on open (reads everything) */
    compact_rewrite_fn rewrite; /* NULL: the merged chunks are written as they are */
    void *rewrite_arg;
};

struct compact_dir {
    char *dir;
    struct compact_opts o;
    int64_t ranges[COMPACT_RANGES_MAX];
    size_t n_ranges;
    struct block **blocks; /* sorted by (minTime, ULID); one reference each */
    size_t n, cap;
    size_t n_quarantined;           /* since open */
    struct blockindex_ulid *failed; /* blocks whose compaction failed for good: not planned */
    size_t n_failed, cap_failed;
};

/* Opens a blocks directory (created when absent): removes leftovers, opens every block,
 * quarantines the broken ones, deletes superseded ones. Returns 0, ERR_UNSUPPORTED (a block of a
 * newer format: nothing is touched), ERR_NOMEM or -errno. */
int compact_dir_open(struct compact_dir *d, const char *blocks_dir, const struct compact_opts *o);
void compact_dir_close(struct compact_dir *d);

/* Opens block `<dir>/<name>` (just written there, e.g. from the head) and adds it. */
int compact_dir_add(struct compact_dir *d, const char *name);
/* The blocks, sorted by (minTime, ULID); borrowed (block_ref to keep one). */
struct block *const *compact_dir_blocks(const struct compact_dir *d, size_t *n);

/* Plans and runs at most one compaction. *did says whether the blocks changed (a compaction
 * ran, or a corrupt input was quarantined). Returns 0, or the error of the compaction (after
 * quarantining a corrupt input, ERR_CORRUPT). When the inputs themselves make the compaction
 * impossible (ERR_UNSUPPORTED: overlapping non-XOR chunks; ERR_INVALID, ERR_RANGE, ERR_LIMIT),
 * they are left out of later plans until the directory is reopened, like Prometheus's
 * compaction.failed mark; I/O and memory errors are retried by the next call. */
int compact_dir_compact_once(struct compact_dir *d, bool *did);
/* Compacts until the plan is empty. Corrupt inputs are quarantined and compaction goes on. */
int compact_dir_compact(struct compact_dir *d);

/* Quarantines every block a reader reported damaged (block_fault), logging log_msg with the
 * block, file, offset and error first; they leave the directory's list. */
void compact_dir_quarantine_faulted(struct compact_dir *d, const char *log_msg);

/* Applies retention by age (relative to now_ms) and size (block bytes + other_bytes). Returns 0
 * and the number of blocks deleted in *n_deleted (may be NULL). */
int compact_dir_retention(struct compact_dir *d, int64_t now_ms, uint64_t other_bytes,
                          size_t *n_deleted);

#endif
