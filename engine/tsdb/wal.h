/* The per-shard write-ahead log: a segment writer on the shard's io_uring loop (group commit,
 * --wal.fsync=batch|always, bounded pending bytes, segment rollover, free-space guard), torn-tail
 * repair on open, replay with bounded memory, and checkpoint + truncation. Generic over record
 * types: the metrics half writes SERIES/SAMPLES, the logs half LOG_STREAMS/LOG_ENTRIES, through the
 * same log. Record framing and payload codecs are formats/walrec.h; the on-disk layout (segments,
 * checkpoints) and the recovery rules are in docs/formats/wal.md.
 *
 * Directory layout: <dir>/00000001, 00000002, ... (8-digit decimal segment numbers, contiguous,
 * each starting with the walrec segment header), <dir>/checkpoint.NNNNNNNN/ (a checkpoint of every
 * segment up to and including NNNNNNNN, itself holding segments 00000001, ...), and transiently
 * <dir>/checkpoint.NNNNNNNN.tmp/ while one is written.
 *
 * Start-up: wal_replay (rebuild the head), then wal_open (repair, start a new segment); the other
 * order sees the same records. Once the head is cut: wal_roll, then wal_checkpoint up to
 * wal_segment_current() - 1 once that segment is no longer current.
 *
 * Threading: a `struct wal` belongs to the thread running its loop; every function taking a
 * `struct wal *` must be called there, except wal_stats_get (any thread, relaxed counters).
 * wal_replay and wal_checkpoint_dir work on a directory and may run on any thread (replay runs at
 * start-up before the loop serves traffic; a checkpoint may run on a helper thread as long as its
 * `upto_segment` is below the writer's current segment, which the writer never touches again; one
 * checkpoint at a time per directory).
 *
 * Errors: operating errors are negative returns (-errno, ERR_FULL, ERR_CORRUPT, ...). A failed
 * write or fdatasync of the log PANICs: the head already holds what the WAL would not (see
 * docs/ARCHITECTURE.md, "Write path"). */
#ifndef STRATA_ENGINE_TSDB_WAL_H
#define STRATA_ENGINE_TSDB_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "engine/io/loop.h"
#include "formats/walrec.h"

struct wal;

/* When a commit's callback runs. */
enum wal_fsync {
    WAL_FSYNC_BATCH = 0,  /* after the write reached the file: survives a process crash */
    WAL_FSYNC_ALWAYS = 1, /* after a group fdatasync covering it: survives power loss */
};

/* Parses "batch" / "always". Returns 0 or ERR_INVALID. */
int wal_fsync_parse(const char *s, enum wal_fsync *out);

struct wal_config {
    enum wal_fsync fsync;
    /* Roll to a new segment when the next write would take the segment past this (default 128
     * MiB). A write is never split, so one batch larger than this makes a larger segment. */
    uint64_t segment_size_bytes;
    uint64_t pending_bytes_max; /* appended but not yet written; beyond it ERR_FULL (64 MiB) */
    /* Free-space guard: wal_writable() turns false when the filesystem's available bytes fall
     * below free_bytes_min OR below free_permille_min/1000 of its size (0 disables either). */
    uint64_t free_bytes_min;        /* default 256 MiB */
    uint32_t free_permille_min;     /* default 10 (1%) */
    int64_t free_check_interval_ms; /* how often wal_flush re-checks (default 1000) */
    /* Largest single write submission (0: no limit). Only tests set it, to exercise the
     * continuation of short writes. */
    uint32_t write_bytes_max;
};

/* Fills in the defaults above. */
void wal_config_init(struct wal_config *c);

/* ---- writer ---- */

/* Opens the log in `dir` for writing on `loop` (the caller's thread must run that loop): creates
 * dir if needed, finishes an interrupted checkpoint's cleanup (removes checkpoint.*.tmp, segments
 * and checkpoints older than the newest checkpoint), validates the newest segment and cuts a torn
 * or corrupt tail back to its last good record (logged: segment, offset, reason, bytes cut; a
 * segment without a valid header is removed), then starts a NEW segment (a segment written by
 * another process is never appended to). cfg NULL = defaults. Returns 0, -errno, ERR_UNSUPPORTED
 * (newest segment written by a newer version: left untouched), ERR_LIMIT (segment numbers
 * exhausted) or ERR_NOMEM. */
int wal_open(const char *dir, const struct wal_config *cfg, struct loop *loop, struct wal **out);

/* Writes everything appended, waits (running the loop) for every in-flight write and fsync, runs
 * every pending commit callback, fdatasyncs the segment and closes. The loop must not be running
 * a callback of this WAL (call it from outside the loop or from another object's callback).
 * NULL is a no-op. */
void wal_close(struct wal *w);

/* Appending. Bytes go to the WAL's current batch buffer as complete walrec records; they are
 * written by the next wal_flush whether or not a commit covers them yet.
 *
 * wal_record_begin reserves a record header at the end of the batch and hands out the buffer
 * (*b) and the record's mark; the caller appends the payload to *b with any walrec encoder and
 * then calls wal_record_end (frames it; flags 0 or WALREC_COMPRESS) or wal_record_cancel (drops
 * it, e.g. the head rejected every sample). *b is valid until wal_record_end/_cancel; do not keep
 * it, and end or cancel the record before returning to the loop. Returns 0, ERR_FULL when the
 * pending bytes are at pending_bytes_max (backpressure: answer 429/503), or ERR_NOMEM. A record
 * may overshoot the limit; the limit bounds the next begin. */
int wal_record_begin(struct wal *w, struct buf **b, size_t *mark);
/* Returns 0, ERR_LIMIT (payload > WALREC_PAYLOAD_MAX) or ERR_NOMEM; on error the record is gone. */
int wal_record_end(struct wal *w, size_t mark, enum walrec_type type, uint32_t flags);
void wal_record_cancel(struct wal *w, size_t mark);
/* One-call form: copies the payload in. Returns 0, ERR_FULL, ERR_LIMIT or ERR_NOMEM. */
int wal_append(struct wal *w, enum walrec_type type, const void *payload, size_t len,
               uint32_t flags);

/* Registers fn(arg) to run once everything appended so far is durable (per cfg.fsync). Callbacks
 * run on the loop thread, in commit order, from a completion of this WAL's write or fsync (or from
 * wal_flush when nothing new needed writing). They may append and commit again, but must not
 * close the WAL. Returns 0 or ERR_NOMEM. */
typedef void (*wal_commit_fn)(void *arg);
int wal_commit(struct wal *w, wal_commit_fn fn, void *arg);

/* Group commit: call once per loop iteration, after everything that may append ran, e.g. from the
 * loop's before_wait hook (note: the loop calls that hook only on iterations that may block; a
 * loop polled with timeout 0 must call wal_flush itself). Starts ONE write of everything appended
 * since the last one when no write is in flight (otherwise it waits for the next iteration), rolls
 * segments between writes, runs callbacks already satisfied, and re-checks free space now and
 * then. */
void wal_flush(struct wal *w);
/* A loop_before_wait_fn for loops whose only hook is this WAL: wal_flush(arg), returns true. */
bool wal_before_wait(struct loop *l, void *arg);

/* Asks for the next write to start a new segment (e.g. when the head is cut, so a checkpoint can
 * take every older segment). */
void wal_roll(struct wal *w);

/* false while free space is below the configured threshold: refuse new writes (503) before
 * touching the head. The WAL itself still takes appends (what the head holds must be logged).
 * Cached; refreshed at segment starts, by wal_flush every
 * free_check_interval_ms, and by wal_check_space. */
bool wal_writable(const struct wal *w);
/* Re-reads the free space now; returns wal_writable(). */
bool wal_check_space(struct wal *w);

/* Number of the segment being written; every lower segment is complete and may be checkpointed. */
uint32_t wal_segment_current(const struct wal *w);
/* Bytes appended but not yet written (what pending_bytes_max bounds). */
uint64_t wal_pending_bytes(const struct wal *w);
/* True when nothing is appended, in flight, or waiting for a callback. */
bool wal_idle(const struct wal *w);
const char *wal_dir(const struct wal *w);

/* ---- replay ---- */

/* Where a replayed record came from. */
struct wal_replay_at {
    uint32_t segment; /* segment number, or the checkpoint's number when checkpoint is true */
    bool checkpoint;  /* from checkpoint.<segment>/ */
};

/* Returns 0 to go on; anything else stops the replay and is returned by wal_replay. The record and
 * its payload are valid during the call only. */
typedef int (*wal_replay_fn)(void *arg, const struct walrec *rec, const struct wal_replay_at *at);

struct wal_replay_opts {
    uint32_t from_segment; /* 0: the newest checkpoint, then the segments after it; N: segments
                              >= N only (resume after a reported corruption), no checkpoint */
    size_t read_bytes;     /* pread piece size (default 1 MiB, at least 64); a larger record grows
                              the buffer to hold it (at most WALREC_PAYLOAD_MAX + header) */
};

struct wal_replay_result {
    uint64_t records, bytes; /* records delivered and their segment bytes */
    uint32_t segments;       /* segment files read (checkpoint segments included) */
    uint32_t checkpoint;     /* the checkpoint replayed, 0 if none */
    uint32_t last_segment;   /* highest segment number in the directory, 0 if none */
    int64_t duration_ns;
    /* Where reading stopped early, and why in that file: stop_err 0 = read everything cleanly;
     * ERR_TRUNCATED = torn (normal for the last segment after a crash); ERR_CORRUPT = damaged
     * bytes with valid records after them, or a missing segment (stop_offset 0, lost_bytes 0).
     * For a checkpoint, stop_segment is the checkpoint's number. */
    int stop_err;
    uint32_t stop_segment;
    bool stop_in_checkpoint;
    uint64_t stop_offset; /* offset of the first record not delivered */
    uint64_t lost_bytes;  /* bytes of that file after stop_offset */
};

/* Streams every record of the log in `dir` in order to fn, reading each file in pieces (bounded
 * memory). In the LAST segment any stop (torn tail or corruption) ends the replay normally
 * (returns 0; res says where and why). A stop anywhere else (damaged or torn non-last segment,
 * damaged checkpoint, a gap in the segment numbers) returns ERR_CORRUPT with res->stop_*; the
 * caller logs it, counts the loss, and may resume with opts.from_segment = res->stop_segment + 1.
 * Other returns: 0, ERR_UNSUPPORTED (a newer segment version), ERR_NOMEM, -errno, or fn's nonzero
 * value. A missing dir is an empty log. opts NULL = defaults; res may be NULL. */
int wal_replay(const char *dir, const struct wal_replay_opts *opts, wal_replay_fn fn, void *arg,
               struct wal_replay_result *res);

/* A start-up replay as both stores run it: wal_replay from the checkpoint on, resuming after every
 * damaged non-last segment, which damaged(damaged_arg, res) is told of first (the store logs it and
 * counts the loss). Returns wal_replay's other results (ERR_CORRUPT never ends it). */
typedef void (*wal_damage_fn)(void *arg, const struct wal_replay_result *res);
int wal_replay_resuming(const char *dir, wal_replay_fn fn, void *arg, wal_damage_fn damaged,
                        void *damaged_arg);

/* ---- checkpoint ---- */

/* What a checkpoint keeps. Every function gets `arg`; a NULL function keeps everything of its kind
 * (never drops data silently). SERIES/SAMPLES and LOG_STREAMS/LOG_ENTRIES payloads are filtered
 * item by item and re-encoded (records left empty are dropped); other record types are kept or
 * dropped whole. Called on the thread running the checkpoint. */
struct wal_keep {
    void *arg;
    bool (*series)(void *arg, uint32_t id);                /* SERIES items */
    bool (*sample)(void *arg, uint32_t id, int64_t ts_ms); /* SAMPLES items */
    bool (*stream)(void *arg, uint32_t id);                /* LOG_STREAMS items */
    bool (*entry)(void *arg, uint32_t id, int64_t ts_ns);  /* LOG_ENTRIES items */
    bool (*record)(void *arg, const struct walrec *rec);   /* any other record type */
};

struct wal_checkpoint_result {
    uint64_t records_in, records_out; /* records read / written */
    uint64_t items_in, items_out;     /* series, samples, streams and entries read / kept */
    uint64_t bytes_out;               /* checkpoint bytes written */
    uint32_t segments_read;           /* source files (the previous checkpoint's included) */
    uint32_t damaged; /* source files that stopped early (their valid prefix kept) */
    uint32_t segments_deleted, checkpoints_deleted;
    int64_t duration_ns;
};

/* Writes checkpoint.<upto> from the newest older checkpoint plus segments up to and including
 * upto_segment, keeping what `keep` says (keep NULL keeps everything), then deletes the segments
 * and checkpoints it replaces. Steps (each crash point leaves a replayable state, see
 * docs/formats/wal.md): write checkpoint.<upto>.tmp/, fsync its files and itself, rename to
 * checkpoint.<upto>, fsync dir, delete older segments (oldest first) and older checkpoints.
 * A damaged source file is logged and its valid prefix kept. Returns 0 (also when a checkpoint
 * at or beyond upto already exists: nothing to do), ERR_UNSUPPORTED, ERR_NOMEM or -errno (the
 * .tmp dir is removed; nothing was deleted). res may be NULL. */
int wal_checkpoint_dir(const char *dir, uint32_t upto_segment, const struct wal_keep *keep,
                       struct wal_checkpoint_result *res);
/* The same on an open WAL's directory, on its thread; ERR_INVALID when upto_segment is not below
 * wal_segment_current(w). Updates the WAL's stats. */
int wal_checkpoint(struct wal *w, uint32_t upto_segment, const struct wal_keep *keep,
                   struct wal_checkpoint_result *res);

/* ---- stats for /metrics ---- */

struct wal_stats {
    uint64_t bytes_written; /* record and segment header bytes that reached the file */
    uint64_t records;       /* records appended */
    uint64_t commits;       /* wal_commit calls */
    uint64_t writes;        /* write submissions completed in full (one per group commit) */
    uint64_t fsyncs;        /* fdatasync rounds completed */
    uint64_t write_ns_sum;  /* submit -> completion of each write, summed */
    uint64_t fsync_ns_sum;  /* submit -> completion of each fsync round, summed */
    uint64_t pending_bytes; /* appended, not yet written */
    uint64_t full_rejects;  /* ERR_FULL returns */
    uint64_t segments;      /* segment files in the directory */
    uint64_t segment_current;
    uint64_t segments_created;
    uint64_t torn_tails_repaired; /* tails cut by wal_open */
    uint64_t bytes_cut;           /* bytes those cuts removed */
    uint64_t checkpoints;         /* wal_checkpoint runs that wrote one */
    uint64_t writable;            /* 1 or 0 (free-space guard) */
    uint64_t replay_ns;           /* from wal_stats_note_replay */
    uint64_t replay_records;
};

/* Any thread. */
void wal_stats_get(const struct wal *w, struct wal_stats *out);
/* Records a start-up replay's duration and record count in the stats (owner thread). */
void wal_stats_note_replay(struct wal *w, const struct wal_replay_result *r);

#endif
