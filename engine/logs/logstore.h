/* The log store of one shard: streams (label sets incl. the reserved __tenant__ label, dense 32-bit
 * ids, memindex postings), per-stream open log chunks (formats/logchunk.h) in memory, the WAL
 * (engine/tsdb/wal.h: LOG_STREAMS / LOG_ENTRIES records), and persistent blocks in the block format
 * of the metrics TSDB (engine/tsdb/block.h, chunk encoding CHUNK_LOG: a log chunk in the envelope
 * of engine/logs/logblock.h), compacted by engine/tsdb/compact.h. On disk: <dir>/wal/,
 * <dir>/blocks/, <dir>/quarantine/, <dir>/head_min_valid_time (dir = <data-dir>/shard-NNN/logs).
 * Block times are milliseconds (a chunk's [floor(mint_ns / 1e6), floor(maxt_ns / 1e6)]); entry
 * times are nanoseconds everywhere else.
 *
 * Head. Each stream has an open "main" log chunk writer for the newest block range it has seen, a
 * "late" writer for entries older than a cut block of the main one (or older than its range), and
 * finished chunks. A writer is finished into a chunk when its uncompressed size reaches
 * chunk_target_bytes, when an entry would make it span more than chunk_max_age_ms, when an entry
 * of a newer block range arrives (chunks never span a block boundary), and after chunk_idle_ms
 * without appends (frees the writer's scratch). Queries merge a stream's chunks in time order.
 *
 * Append rules, checked per entry in this order (Loki's distributor and ingester rules):
 *   line longer than line_bytes_max (per tenant)                  -> rejected, "line too long";
 *   ts older than now - reject_old_ms (when > 0)                   -> rejected, "too old";
 *   ts newer than now + creation_grace_ms (when > 0)               -> rejected, "too new";
 *   ts before the head's min valid time (the last cut block's end) -> rejected, "too far behind";
 *   ts before the stream's newest entry - ooo_window_ms            -> rejected, "too far behind";
 *   same (ts, line, structured metadata) as an entry of the stream's dedup window -> dropped
 *   silently as a duplicate (not an error, not logged);
 *   otherwise stored, in any order within the window.
 * A new stream beyond streams_per_tenant_max live streams of its tenant is refused with all its
 * entries ("stream limit"). Rejections are counted and the first is worded as Loki words it.
 *
 * Duplicates. The append-time dedup window of a stream is its last accepted entry plus every entry
 * in the open head block of its main or late writer and in the most recently cut block of those
 * writers (about the last 256 KiB of a busy stream; all of a quiet one), compared by a 64-bit hash
 * of (ts, line, metadata). Loki's ingester drops an entry equal to the stream's last pushed entry
 * and exact duplicates inside the unordered head block, and its queries drop the rest: so do we.
 * Every select merges a stream's sources and drops entries whose (ts, line, metadata) equals an
 * entry already returned for that stream, so a query never returns a duplicate whichever chunk,
 * block or WAL replay stored it twice. The head cut re-encodes a stream's chunks with that merge,
 * so a block stores each (ts, line, metadata) of a stream once.
 *
 * Maintenance (logstore_tick; bounded work per call), as the metrics TSDB: when the head spans
 * more than 1.5 block ranges, the oldest range is cut: its writers are finished on the shard
 * thread, a snapshot (stream labels + immutable chunk bytes) goes to the background thread, which
 * merges each stream's chunks (dedup, time order) into envelope chunks of block_chunk_bytes
 * (zstd, trigram filter) and writes a block; the block list is swapped, the head truncated (once no
 * select is open: a select keeps reading the head chunks it started with), idle streams removed,
 * the WAL rolled and checkpointed (streams alive, entries at or after the cut). Then compaction
 * (engine/tsdb/compact.h; it re-encodes each stream's log chunks at compact_zstd_level into chunks
 * of block_chunk_bytes) and retention: by age overall, and per stream selector (rules: highest
 * priority wins, on a tie the shortest period, otherwise retention_ms — Loki's rule): a block whose
 * oldest data of some stream is past that stream's retention is rewritten without that stream's
 * expired chunks (a block past every stream's retention is deleted).
 *
 * Threading: a logstore belongs to the thread running its loop; every function here must be called
 * there, except logstore_stats_get (any thread). One background thread per logstore (block
 * writes, checkpoints, compaction, retention), which only sees immutable inputs.
 *
 * Errors: negative codes from base/error.h or -errno. Corrupt bytes on disk are handled, never
 * asserted: a torn WAL tail is cut, damaged segments are skipped and counted, bad blocks are
 * quarantined. A failed WAL write or fsync panics (docs/ARCHITECTURE.md, "Write path"). */
#ifndef STRATA_ENGINE_LOGS_LOGSTORE_H
#define STRATA_ENGINE_LOGS_LOGSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"
#include "engine/index/matcher.h"
#include "engine/io/loop.h"
#include "engine/tsdb/wal.h"

struct logstore;

/* ---- configuration ---- */

/* Per-stream retention: streams matching every matcher keep their data period_ms. */
struct logstore_retention_rule {
    const struct matcher *ms; /* borrowed: must outlive the logstore */
    size_t n;
    int priority;
    int64_t period_ms;
};

/* Limits of one tenant (value of the __tenant__ label), overriding the defaults. */
struct logstore_tenant_limits {
    const char *tenant;
    uint64_t line_bytes_max; /* 0: no limit */
    uint64_t streams_max;    /* live streams on this shard; 0: no limit */
};

struct logstore_config {
    int64_t block_range_ms; /* head cut range (2 h), as the metrics TSDB */
    int64_t ooo_window_ms;  /* accept entries this far behind a stream's newest (1 h) */
    int64_t retention_ms;   /* default retention by age (30 d); < 0: keep forever */
    const struct logstore_retention_rule *retention_rules; /* borrowed */
    size_t n_retention_rules;
    int64_t max_block_range_ms; /* largest compacted block; 0: 10% of retention, <= 31 d */
    uint64_t line_bytes_max;    /* default per-tenant line limit (256 KiB); 0: none */
    uint64_t
        streams_per_tenant_max; /* default live streams per tenant and shard (100000); 0: none */
    const struct logstore_tenant_limits *tenant_limits; /* borrowed */
    size_t n_tenant_limits;
    int64_t reject_old_ms;       /* entries older than now - this are refused (7 d); 0: off */
    int64_t creation_grace_ms;   /* entries newer than now + this are refused (10 min); 0: off */
    uint32_t chunk_target_bytes; /* finish a head chunk at this uncompressed size (1.5 MiB) */
    int64_t chunk_max_age_ms;    /* a head chunk spans at most this much data time (1 h) */
    int64_t chunk_idle_ms;       /* finish a writer idle for this long (30 min) */
    uint32_t head_block_bytes;   /* head chunk block target (256 KiB; formats/logchunk.h) */
    uint32_t block_chunk_bytes;  /* uncompressed target of a block's log chunks (1 MiB) */
    int block_zstd_level;        /* zstd level for block chunks (3); 0: store uncompressed */
    /* zstd level of the log chunks compaction rewrites (9): each stream's chunks of the compacted
     * blocks are decoded and re-encoded in time order into chunks of block_chunk_bytes with new
     * filters (the head cut stays at block_zstd_level, cheap for ingest); 0: compaction passes
     * block chunks through unchanged. */
    int compact_zstd_level;
    bool block_filter; /* trigram filters in block chunks (true) */
    struct wal_config wal;
    uint32_t cut_streams_per_tick; /* streams snapshotted per tick during a cut (4096) */
    /* Block chunks one select holds decompressed at once (512, ~256 KiB each); beyond it the one
     * needed last is released and decompressed again when its turn comes. */
    uint32_t select_open_chunks_max;
    int64_t retention_interval_ms; /* how often retention runs without other changes (60 s) */
    int64_t retry_interval_ms;     /* back-off after a failed background job (60 s) */
    bool verify_blocks_on_open;
    /* Wall clock for the too-old / too-new checks, in ns; NULL: the real clock. Tests fake it. */
    int64_t (*now_ns)(void *arg);
    void *now_arg;
};

/* Fills in the defaults above. */
void logstore_config_init(struct logstore_config *c);

/* Opens (creating when missing) `dir`, opens the blocks, replays the WAL into the head and starts
 * writing and the background thread. The caller's thread runs `loop`. cfg NULL = defaults.
 * Returns 0, ERR_INVALID (bad config), ERR_UNSUPPORTED (a block or WAL segment of a newer
 * format), ERR_NOMEM or -errno. */
int logstore_open(const char *dir, const struct logstore_config *cfg, struct loop *loop,
                  struct logstore **out);
/* Waits for the background job, writes and syncs the WAL (running pending commit callbacks), frees
 * everything. No select iterator may be open. Not from a commit callback. NULL: no-op. */
void logstore_close(struct logstore *ls);

/* ---- appending ---- */

struct logstore_entry_in {
    int64_t ts_ns;
    struct str line;
    const struct label *md; /* structured metadata, kept in the given order */
    size_t n_md;
};

/* One stream of a batch: labels sorted by name, unique, validated by the caller (the tenant is the
 * label __tenant__), hash = hash_labels(labels, n_labels). */
struct logstore_stream_in {
    const struct label *labels;
    size_t n_labels;
    uint64_t hash;
    const struct logstore_entry_in *entries;
    size_t n_entries;
};

enum logstore_reject {
    LOGSTORE_REJECT_LINE_TOO_LONG = 0,
    LOGSTORE_REJECT_TOO_OLD = 1,        /* older than reject_old_ms */
    LOGSTORE_REJECT_TOO_NEW = 2,        /* beyond creation_grace_ms */
    LOGSTORE_REJECT_TOO_FAR_BEHIND = 3, /* out-of-order window or min valid time */
    LOGSTORE_REJECT_STREAM_LIMIT = 4,   /* the tenant's live stream limit */
    LOGSTORE_REJECT_STREAM = 5,         /* the stream could not be created (ids exhausted) */
    LOGSTORE_REJECT_KINDS_,
};

/* Loki's discard reason label: "line_too_long", "greater_than_max_sample_age",
 * "too_far_in_future", "too_far_behind", "stream_limit", "stream_create_failed". */
const char *logstore_reject_str(enum logstore_reject r);

#define LOGSTORE_REASON_MAX 1024

struct logstore_append_result {
    uint64_t accepted;   /* entries stored and logged */
    uint64_t bytes;      /* their line bytes */
    uint64_t duplicates; /* identical to a stored entry: dropped silently */
    uint64_t rejected[LOGSTORE_REJECT_KINDS_];
    uint64_t rejected_total;
    uint32_t streams_created;
    int first_reject; /* enum logstore_reject of the first rejection, -1 when none */
    /* The first rejection as Loki words it, e.g. "max entry size '262144' bytes exceeded for
     * stream '{job="a"}' while adding an entry with length '300000' bytes" (labels without
     * __tenant__; cut with "..." beyond LOGSTORE_REASON_MAX - 1). Empty when none. */
    char reason[LOGSTORE_REASON_MAX];
    /* 0, or ERR_NOMEM that stopped the batch part-way: what was applied before is logged and
     * covered by the callback; the caller answers 500. */
    int err;
};

/* Called on the loop thread once everything the batch logged is durable (per the WAL's fsync
 * mode). result is 0. */
typedef void (*logstore_commit_fn)(void *arg, int result);

/* Applies one batch on the owner shard: finds or creates each stream (new streams in one
 * LOG_STREAMS record), checks and applies each entry (rules above), logs exactly the accepted
 * entries in LOG_ENTRIES records and registers cb for their durability.
 *
 * Returns 0: res is filled and cb(arg, 0) runs exactly once, later, on the loop (also when nothing
 * was accepted). Backpressure refuses the whole batch up front, NOTHING applied, cb never called:
 *   -ENOSPC     the disk is nearly full (the WAL's free-space guard): 503;
 *   ERR_FULL    the WAL's pending bytes are at their limit: 429/503 with Retry-After;
 *   ERR_LIMIT   the batch alone exceeds the WAL's pending limit: 413;
 *   ERR_CLOSED  the store is closing.
 * ERR_NOMEM before anything was applied is a refusal too; ERR_NOMEM from registering the callback
 * after the batch was applied and logged is returned with res filled and no callback. */
int logstore_append(struct logstore *ls, const struct logstore_stream_in *streams, size_t n,
                    struct logstore_append_result *res, logstore_commit_fn cb, void *arg);

/* Starts the WAL's group commit. Call once per loop iteration after everything that may append. */
void logstore_flush(struct logstore *ls);
/* A loop_before_wait_fn for loops whose only hook is this store: logstore_flush(arg), true. */
bool logstore_before_wait(struct loop *l, void *arg);

/* ---- maintenance ---- */

/* One bounded step of the maintenance cycle; now_ms is the wall clock (tests pass a fake one): it
 * drives retention, idle chunk finishing and the retry/retention intervals. */
void logstore_tick(struct logstore *ls, int64_t now_ms);
/* True when no background job runs and nothing waits to start (for tests and shutdown). */
bool logstore_maintenance_idle(const struct logstore *ls);

/* ---- queries ---- */

enum logstore_dir {
    LOGSTORE_FORWARD = 0,  /* oldest first */
    LOGSTORE_BACKWARD = 1, /* newest first */
};

/* What the LogQL executor knows about its line filters, pushed down to skip block chunks whose
 * trigram filter proves they hold no matching line: every returned line must contain each of the
 * `n` byte strings (case-sensitive). A hint only skips work: lines are not filtered by it. */
struct logstore_line_hint {
    const struct str *contains;
    size_t n;
};

/* The current entry of a select. Strings are borrowed: valid until the next _next or _close. */
struct logstore_entry {
    uint32_t stream;            /* index of its stream in this select (label order) */
    const struct label *labels; /* the stream's label set (sorted) */
    size_t n_labels;
    uint64_t stream_hash; /* hash_labels of the label set */
    int64_t ts_ns;
    struct str line;
    const struct label *md; /* structured metadata */
    size_t n_md;
};

struct logstore_select_stats {
    uint64_t streams;             /* streams selected */
    uint64_t chunks;              /* block chunks overlapping the range */
    uint64_t chunks_opened;       /* block chunk decompressions (reopened ones included) */
    uint64_t chunks_parked;       /* open chunks released to stay within the cap */
    uint64_t chunks_skipped_hint; /* block chunks a line hint ruled out */
    uint64_t bytes_decompressed;  /* block chunk payload bytes inflated */
    uint64_t head_entries;        /* entries read from the head */
    uint64_t entries;             /* entries returned */
    uint64_t duplicates;          /* entries dropped as duplicates */
    uint64_t filtered;            /* lines a select filter dropped (whole decoded blocks) */
};

struct logstore_iter;

/* Entries of the streams matching all matchers (n >= 1; Prometheus matcher semantics) with
 * start_ns <= ts < end_ns, merged across streams in time order (forward: oldest first; backward:
 * newest first; equal timestamps: streams in label order, a stream's entries in storage order),
 * from the head and every block overlapping the range; block chunks outside the range are never
 * decompressed. hint may be NULL. Returns 0 with *out, ERR_INVALID (n == 0), ERR_NOMEM, or a
 * block's ERR_CORRUPT (the block is quarantined at the next tick). While an iterator is open the
 * head keeps the data it may read (the truncation after a cut waits); close it promptly. */
int logstore_select(struct logstore *ls, const struct matcher *ms, size_t n, int64_t start_ns,
                    int64_t end_ns, enum logstore_dir dir, const struct logstore_line_hint *hint,
                    struct logstore_iter **out);
/* The order entries of a select come in. */
enum logstore_order {
    LOGSTORE_ORDER_TIME = 0,   /* merged across streams by time (logstore_select) */
    LOGSTORE_ORDER_STREAM = 1, /* stream by stream (label order), each in the direction's time
                                * order: no cross-stream merge, for consumers that do not need a
                                * global time order (metric queries, counts, a shard's part of a
                                * fan-out whose consumer merges anyway) */
};

/* A select's line filter, run over whole decoded blocks before their entries are merged: sets bit
 * i of keep ((n + 63) / 64 words; the callee clears them) for each of the n lines it keeps and
 * returns how many. The lines of a block chunk's block are contiguous in memory (lines[i + 1].ptr
 * == lines[i].ptr + lines[i].len); head entries come one at a time. It must be a pure function of
 * the line (a block may be filtered again when it is reopened) and it drops entries for good: use
 * it for filters that are exact, e.g. logql_pipeline_prefilter_block with the pipeline as arg
 * (then process kept entries with LOGQL_PROC_PREFILTERED). */
typedef size_t (*logstore_line_filter_fn)(void *arg, const struct str *lines, size_t n,
                                          uint64_t *keep);

struct logstore_select_opts {
    enum logstore_order order;
    logstore_line_filter_fn filter; /* NULL: none */
    void *filter_arg;               /* called on the select's thread, during _next */
    /* Bounded steps: with a filter that drops most lines one _next could otherwise read many
     * chunks; with yield_chunks > 0 it returns LOGSTORE_ITER_YIELD instead of opening a block
     * chunk once that many were opened since the last entry it returned (call _next again to go
     * on). 0: never yields. */
    uint32_t yield_chunks;
};

#define LOGSTORE_ITER_YIELD 2

/* logstore_select with options (opts NULL: time order, no filter): with LOGSTORE_ORDER_STREAM
 * the entries come stream by stream (each stream's entries merged over its sources in time order,
 * duplicates dropped as always); with a filter, only lines it keeps are returned (and counted in
 * `entries`; the dropped ones in `filtered`). */
int logstore_select_with(struct logstore *ls, const struct matcher *ms, size_t n, int64_t start_ns,
                         int64_t end_ns, enum logstore_dir dir,
                         const struct logstore_line_hint *hint,
                         const struct logstore_select_opts *opts, struct logstore_iter **out);
/* 1 = positioned on the next entry, 0 = end, negative = error (sticky: ERR_CORRUPT, ERR_NOMEM);
 * LOGSTORE_ITER_YIELD only with logstore_select_opts.yield_chunks (no entry yet, not at the end).
 */
int logstore_iter_next(struct logstore_iter *it);
const struct logstore_entry *logstore_iter_at(const struct logstore_iter *it);
int logstore_iter_err(const struct logstore_iter *it);
void logstore_iter_stats(const struct logstore_iter *it, struct logstore_select_stats *out);
void logstore_iter_close(struct logstore_iter *it);

/* A sorted list of unique strings in one allocation (free with logstore_strings_free). */
struct logstore_strings {
    struct str *v;
    size_t n;
};
void logstore_strings_free(struct logstore_strings *s);

/* Label names (values of `name`) of the streams matching ms (n may be 0: every stream) with data
 * in [start_ns, end_ns) (blocks: those overlapping the range), sorted, unique. */
int logstore_label_names(struct logstore *ls, const struct matcher *ms, size_t n, int64_t start_ns,
                         int64_t end_ns, struct logstore_strings *out);
int logstore_label_values(struct logstore *ls, struct str name, const struct matcher *ms, size_t n,
                          int64_t start_ns, int64_t end_ns, struct logstore_strings *out);

/* Per-stream volume of a selection: label set, chunks, entries and line bytes of the chunks that
 * overlap the range (whole chunks, as Loki's index statistics count them). */
struct logstore_stream_stats {
    const struct label *labels;
    size_t n_labels;
    uint64_t chunks, entries, bytes;
};

/* Streams matching all matchers (n >= 1) with data in [start_ns, end_ns), one per label set,
 * sorted by label set, with their statistics: for /series (labels), /index/stats (sum), and
 * /index/volume. *out is one allocation (labels included): free() it. */
int logstore_series(struct logstore *ls, const struct matcher *ms, size_t n, int64_t start_ns,
                    int64_t end_ns, struct logstore_stream_stats **out, size_t *n_out);

struct logstore_index_stats {
    uint64_t streams, chunks, entries, bytes;
};
/* Sums of logstore_series over the selection (Loki's /index/stats). */
int logstore_index_stats(struct logstore *ls, const struct matcher *ms, size_t n, int64_t start_ns,
                         int64_t end_ns, struct logstore_index_stats *out);

/* ---- stats for /metrics ---- */

struct logstore_stats {
    struct wal_stats wal;
    /* head */
    uint64_t streams; /* live streams */
    uint64_t streams_created_total, streams_removed_total;
    uint64_t head_entries;                      /* entries in the head */
    uint64_t head_line_bytes;                   /* raw line bytes in the head */
    uint64_t head_chunk_bytes;                  /* finished head chunks, encoded (snappy) */
    uint64_t head_chunks;                       /* finished head chunks */
    uint64_t head_writers;                      /* open chunk writers */
    int64_t head_min_time_ns, head_max_time_ns; /* INT64_MAX / INT64_MIN when empty */
    int64_t head_min_valid_ms;
    /* appends */
    uint64_t batches_total;
    uint64_t batches_refused_full_total; /* ERR_FULL / ERR_LIMIT */
    uint64_t batches_refused_disk_total; /* -ENOSPC */
    uint64_t entries_accepted_total;
    uint64_t bytes_accepted_total; /* line bytes */
    uint64_t entries_duplicate_total;
    uint64_t entries_rejected_total[LOGSTORE_REJECT_KINDS_];
    /* blocks */
    uint64_t blocks, blocks_bytes, blocks_entries;
    int64_t blocks_min_time_ms, blocks_max_time_ms; /* INT64_MAX / INT64_MIN without blocks */
    uint64_t blocks_quarantined_total;
    uint64_t block_raw_bytes_written_total;   /* line bytes written into cut blocks */
    uint64_t block_chunk_bytes_written_total; /* their encoded chunk bytes */
    /* cycle */
    uint64_t cuts_total, cut_failures_total;
    int64_t last_cut_unix_ms, last_cut_duration_ns;
    uint64_t checkpoints_total, checkpoint_failures_total;
    int64_t last_checkpoint_unix_ms;
    uint64_t compactions_total, compaction_failures_total;
    int64_t last_compaction_unix_ms;
    uint64_t retention_blocks_deleted_total;
    uint64_t retention_blocks_rewritten_total;
    uint64_t retention_chunks_dropped_total;
    /* queries */
    uint64_t selects_total;
    uint64_t select_chunks_opened_total, select_chunks_skipped_hint_total;
    /* start-up replay */
    uint64_t replay_records, replay_streams, replay_entries;
    uint64_t replay_entries_skipped; /* in a block already, or of an unknown stream */
    uint64_t replay_corrupt_segments, replay_lost_bytes;
    int64_t replay_duration_ns, open_duration_ns;
};

/* A snapshot of the counters; any thread (fields are read one by one with relaxed loads). */
void logstore_stats_get(const struct logstore *ls, struct logstore_stats *out);

#endif
