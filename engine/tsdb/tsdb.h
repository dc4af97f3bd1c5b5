/* The metrics TSDB of one shard: ties the head (engine/tsdb/head.h), the WAL (engine/tsdb/wal.h)
 * and the blocks (engine/tsdb/block.h, compact.h) together. Opens and replays, takes append
 * batches from the ingest path, cuts the head into blocks, checkpoints the WAL, compacts and
 * applies retention. Queries go through engine/tsdb/querier.h. On-disk layout:
 * docs/ARCHITECTURE.md ("Metrics storage"): <dir>/wal/, <dir>/chunks_head/, <dir>/blocks/. The
 * WAL also carries a CHECKPOINT marker record (8-byte little-endian cut time) after each cut,
 * written to start the next segment; replay ignores it and checkpoints drop it.
 *
 * Start-up (tsdb_open): create the directories; open the blocks (leftover *.tmp removed, broken
 * blocks quarantined, superseded ones deleted: compact_dir_open); open the head with the newest
 * block's end as its min valid time (the head never goes below its own persisted last
 * truncation; head chunk files are scanned and re-attached as series come back); replay the WAL
 * (newest checkpoint, then the segments) in head replay mode with bounded memory: SERIES records
 * recreate series with their ids, SAMPLES go through head_append (samples before the min valid
 * time, and samples of series the checkpoint dropped, are skipped and counted); a damaged non-last
 * segment is logged, its lost bytes counted, and replay resumes with the next segment; then open
 * the WAL for writing and start the background worker. Each step's duration is logged.
 *
 * Appending (tsdb_append): see below. The caller must call tsdb_flush once per loop iteration
 * (e.g. from the loop's before_wait hook, or use tsdb_before_wait as the hook) so the WAL's group
 * commit runs, and tsdb_tick periodically (every 100 ms to 1 s) for the maintenance cycle.
 *
 * Maintenance cycle (tsdb_tick; each call does bounded work):
 *   1. Head cut: when the head spans more than 1.5 x chunk_range_ms, the oldest chunk range
 *      [start, start + range) becomes a block. On the shard thread: head_cut_open_chunks_before
 *      (closes the chunks before the boundary and raises the head's min valid time), then the
 *      closed chunks of that range are copied into an immutable snapshot a bounded number of
 *      series per tick (labels copied; chunk bytes stay views into the pinned head chunk maps).
 *      On the worker thread: block_write of the snapshot, block opened and added. Back on the
 *      shard thread: the new block list is swapped in, the head truncated at the boundary (idle
 *      series GC), the WAL rolled.
 *   2. WAL checkpoint: once the WAL has moved past the segment that was current at the
 *      truncation, the worker writes a checkpoint of every segment up to it keeping the series
 *      alive in the head (a bitmap snapshot taken at the truncation) and the samples at or after
 *      the boundary; then the shard thread recycles the ids the truncation freed.
 *   3. Compaction (compact_dir_compact) after a new block, and retention by age (now_ms) and
 *      size (blocks + head chunk files + WAL) after a compaction and every
 *      retention_interval_ms, both on the worker thread.
 * One worker job runs at a time; a job that fails is logged and retried after a back-off. A
 * block in which a query found bad bytes is moved to <dir>/quarantine/ by the next job.
 * Per-tick work is bounded by cut_series_per_tick, except three O(series) passes once per cut
 * (closing the chunks before the boundary, truncating the head, the alive-id bitmap), which are
 * cheap per series.
 *
 * Threading: a tsdb belongs to the thread running its loop (the shard thread); every function
 * here must be called there, except tsdb_stats_get (any thread). The tsdb starts ONE worker
 * thread, which owns the compact_dir (the blocks directory) and only ever sees immutable inputs:
 * the snapshot (copied labels, chunk views into mapped head chunk files that stay pinned until
 * the job is done), block references, and the checkpoint's keep bitmap. Results come back through
 * a mutex-protected slot that tsdb_tick polls; blocks are reference-counted, so queries keep
 * using the blocks they selected while the worker replaces or deletes them.
 *
 * Errors: negative codes from base/error.h or -errno. Corrupt bytes on disk are handled by the
 * components (torn WAL tail cut, damaged segments skipped and counted, bad blocks quarantined),
 * never asserted. A failed WAL write or fsync panics (docs/ARCHITECTURE.md, "Write path"). */
#ifndef STRATA_ENGINE_TSDB_TSDB_H
#define STRATA_ENGINE_TSDB_TSDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"
#include "engine/io/loop.h"
#include "engine/tsdb/exemplars.h"
#include "engine/tsdb/head.h"
#include "engine/tsdb/wal.h"

struct tsdb;

struct tsdb_config {
    int64_t chunk_range_ms;        /* block range of a head cut (2 h) */
    int64_t ooo_window_ms;         /* out-of-order window (10 min); 0 disables OOO */
    int64_t retention_ms;          /* delete blocks older than this (15 d; 0: that default);
                                      < 0: no age limit */
    uint64_t retention_bytes;      /* total size limit (blocks + head files + WAL); 0: none */
    int64_t max_block_range_ms;    /* largest compacted block; 0: 10% of retention, <= 31 d */
    uint32_t samples_per_chunk;    /* head chunk size in samples (120) */
    uint32_t chunk_bytes_max;      /* head chunk size in bytes (1024) */
    uint32_t chunk_file_size_max;  /* head chunk file size (128 MiB) */
    uint32_t ooo_cap;              /* OOO samples buffered per series before a chunk (32) */
    struct wal_config wal;         /* fsync mode, segment size, pending limit, free-space guard */
    uint32_t cut_series_per_tick;  /* series copied into a cut snapshot per tick (4096) */
    int64_t retention_interval_ms; /* how often retention runs without other changes (60 s) */
    int64_t retry_interval_ms;     /* back-off after a failed background job (60 s) */
    bool verify_blocks_on_open;    /* read every block completely at open (slow) */
    uint32_t exemplars_max;        /* exemplar ring size (100000; 0: exemplars not stored) */
};

/* Fills in the defaults above. */
void tsdb_config_init(struct tsdb_config *c);

/* Opens (creating when missing) the shard directory `dir` (e.g. <data-dir>/shard-000), replays
 * and starts writing, as described above. The caller's thread runs `loop`. cfg NULL = defaults.
 * Returns 0, ERR_INVALID (bad config), ERR_UNSUPPORTED (a block or WAL segment of a newer
 * format), ERR_NOMEM, or -errno. */
int tsdb_open(const char *dir, const struct tsdb_config *cfg, struct loop *loop, struct tsdb **out);

/* Waits for the running background job (a block write or compaction is finished, not
 * abandoned), writes and syncs the WAL (running every pending commit callback), writes the
 * buffered head chunks and frees everything. No querier set may be open. Must not be called from
 * a WAL commit callback. NULL is a no-op. */
void tsdb_close(struct tsdb *t);

/* ---- appending ---- */

struct tsdb_sample {
    int64_t t_ms;
    uint64_t v_bits; /* the float64's exact bits (stale markers are ordinary samples) */
};

/* One native histogram sample (formats/histchunk.h); h passes histchunk_hist_check. */
struct tsdb_hist_sample {
    int64_t t_ms;
    bool is_float;
    struct histchunk_hist h;
};

/* One series of a batch: labels sorted by name with unique names, validated by the caller (the
 * tenant is the label __tenant__, treated like any other), hash = hash_labels(labels, n). */
struct tsdb_series_in {
    const struct label *labels;
    size_t n_labels;
    uint64_t hash;
    const struct tsdb_sample *samples;
    size_t n_samples;
};

/* The native histograms and exemplars of one series of a batch (tsdb_append_hists: parallel to
 * the series array). Applied after the series' float samples. Exemplars follow exemplars.h's
 * rules; one that is refused (out of order, too long, storage disabled) is dropped silently as
 * Prometheus does, never failing the batch. */
struct tsdb_hists_in {
    const struct tsdb_hist_sample *hists;
    size_t n;
    const struct exemplar_in *exemplars;
    size_t n_exemplars;
};

/* Why a sample was rejected (Prometheus's storage errors). */
enum tsdb_reject {
    TSDB_REJECT_OUT_OF_BOUNDS = 0, /* before the head's min valid time (the newest block's end) */
    TSDB_REJECT_TOO_OLD = 1,       /* older than the OOO window allows */
    TSDB_REJECT_OUT_OF_ORDER = 2,  /* older than the series' newest sample, OOO disabled */
    TSDB_REJECT_DUPLICATE = 3,     /* same timestamp as a stored sample, other value */
    TSDB_REJECT_SERIES = 4,        /* the series could not be created (label set too large,
                                      series ids exhausted) */
    TSDB_REJECT_KINDS_,
};

/* Prometheus's error text of a kind: "out of bounds", "too old sample", "out of order sample",
 * "duplicate sample for timestamp", "series could not be created". */
const char *tsdb_reject_str(enum tsdb_reject r);

#define TSDB_REASON_MAX 1024

struct tsdb_append_result {
    uint64_t accepted;   /* samples stored and logged */
    uint64_t duplicates; /* samples identical to a stored one: dropped silently (not an error) */
    uint64_t rejected[TSDB_REJECT_KINDS_];
    uint64_t rejected_total;
    /* native histograms: also counted in accepted / duplicates, NOT in rejected[] */
    uint64_t hist_accepted, hist_duplicates, hist_rejected;
    uint64_t exemplars_accepted; /* stored and logged (duplicates and refusals are not) */
    uint32_t series_created;
    int first_reject; /* enum tsdb_reject of the first rejected sample, -1 when none */
    /* The first rejection as Prometheus words it: `out of order sample for series {__name__="up",
     * job="x"}` (label values Go-quoted, __tenant__ left out, cut with "..." when longer than
     * TSDB_REASON_MAX - 1). Empty when nothing was rejected. */
    char reason[TSDB_REASON_MAX];
    /* 0, or an operating error that stopped the batch part-way (ERR_NOMEM, -errno from a head
     * chunk file, ERR_CORRUPT from a damaged head chunk file): what was applied before it is
     * logged and covered by the callback; the caller answers 500. */
    int err;
};

/* Called on the loop thread once everything the batch logged is durable per the WAL's fsync mode
 * (batch: written to the file; always: covered by an fdatasync). result is 0. */
typedef void (*tsdb_commit_fn)(void *arg, int result);

/* Applies one batch on the owner shard: for each series, get or create its id (a new series is
 * logged in one SERIES record), apply each sample with head_append (histograms with
 * head_append_hist) and classify the outcome in *res (accepted, duplicate, rejected per kind with
 * the first reason); then ONE SAMPLES record with exactly the accepted samples (and one HISTOGRAMS
 * record with the accepted histograms) is logged and cb registered for its durability.
 *
 * Returns 0: res is filled and cb(arg, 0) will run exactly once, later, on the loop (also when
 * nothing was accepted: it then fires once earlier records are durable). Backpressure refuses the
 * whole batch up front with NOTHING applied and cb never called:
 *   -ENOSPC      the disk is nearly full (the WAL's free-space guard): answer 503;
 *   ERR_FULL     the WAL's pending bytes are at their limit: answer 429/503 with Retry-After;
 *   ERR_LIMIT    the batch alone is larger than the WAL's pending limit or a WAL record: 413;
 *   ERR_CLOSED   the tsdb is closing.
 * ERR_NOMEM before anything was applied is also a refusal; ERR_NOMEM from registering the
 * callback after the batch was applied and logged is returned with res filled and no callback
 * (the data is stored; the caller answers 500). */
int tsdb_append(struct tsdb *t, const struct tsdb_series_in *series, size_t n,
                struct tsdb_append_result *res, tsdb_commit_fn cb, void *arg);
/* The same with native histograms: hists[i] (hists may be NULL: none) belongs to series[i]. */
int tsdb_append_hists(struct tsdb *t, const struct tsdb_series_in *series,
                      const struct tsdb_hists_in *hists, size_t n, struct tsdb_append_result *res,
                      tsdb_commit_fn cb, void *arg);

/* Starts the WAL's group commit (wal_flush). Call once per loop iteration after everything that
 * may append ran. */
void tsdb_flush(struct tsdb *t);
/* A loop_before_wait_fn for loops whose only hook is this tsdb: tsdb_flush(arg), returns true. */
bool tsdb_before_wait(struct loop *l, void *arg);

/* The WAL, e.g. to share it with the logs half of the shard (the tsdb's replay skips record types
 * that are not SERIES/SAMPLES, and its checkpoints keep them whole). */
struct wal *tsdb_wal(struct tsdb *t);
/* The exemplar storage (queries read it on the shard thread). */
struct exemplars *tsdb_exemplars(struct tsdb *t);
struct head *tsdb_head(struct tsdb *t);

/* ---- maintenance ---- */

/* Runs one bounded step of the maintenance cycle (see above). now_ms is the wall clock (tests
 * pass a fake one); it drives retention by age and the retry/retention intervals. */
void tsdb_tick(struct tsdb *t, int64_t now_ms);

/* True when no background job runs and no cut, checkpoint or compaction is waiting to start
 * (a checkpoint that waits for the WAL to roll over counts as waiting). For tests and shutdown. */
bool tsdb_maintenance_idle(const struct tsdb *t);

/* ---- stats for /metrics ---- */

struct tsdb_stats {
    struct head_stats head;
    struct wal_stats wal;
    /* appends */
    uint64_t batches_total;
    uint64_t batches_refused_full_total; /* ERR_FULL / ERR_LIMIT */
    uint64_t batches_refused_disk_total; /* -ENOSPC */
    uint64_t samples_accepted_total;
    uint64_t samples_duplicate_total;
    uint64_t samples_rejected_total[TSDB_REJECT_KINDS_];
    uint64_t series_created_total;
    /* blocks */
    uint64_t blocks;
    uint64_t blocks_bytes;
    int64_t blocks_min_time_ms, blocks_max_time_ms; /* INT64_MAX / INT64_MIN without blocks */
    uint64_t blocks_quarantined_total;
    /* head cuts */
    uint64_t cuts_total, cut_failures_total;
    int64_t last_cut_unix_ms;     /* when the last cut finished (0: never) */
    int64_t last_cut_duration_ns; /* from the start of the cut to the swap */
    /* WAL checkpoints */
    uint64_t checkpoints_total, checkpoint_failures_total;
    int64_t last_checkpoint_unix_ms, last_checkpoint_duration_ns;
    /* compaction and retention */
    uint64_t compactions_total, compaction_failures_total;
    int64_t last_compaction_unix_ms, last_compaction_duration_ns;
    uint64_t retention_blocks_deleted_total;
    /* start-up replay */
    uint64_t replay_records, replay_series, replay_samples;
    uint64_t replay_samples_skipped;  /* before the min valid time, or of unknown series */
    uint64_t replay_series_conflicts; /* SERIES items whose id or labels clashed */
    uint64_t replay_corrupt_segments; /* damaged non-last segments or checkpoints */
    uint64_t replay_lost_bytes;       /* bytes after the damage in those files */
    int64_t replay_duration_ns;
    int64_t open_duration_ns;
};

/* A snapshot of the counters; any thread (fields are read one by one with relaxed loads). */
void tsdb_stats_get(const struct tsdb *t, struct tsdb_stats *out);

#endif
