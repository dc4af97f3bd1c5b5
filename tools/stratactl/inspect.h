/* stratactl inspect: a READ-ONLY look at a strata data directory (docs/stratactl.md), running
 * server or not. Never takes the LOCK, never writes, repairs or removes anything under DATA_DIR.
 *
 * Per shard (<data-dir>/shard-NNN): blocks (from each block's meta.json and index, opened with
 * block_open), quarantined blocks, WAL segments and checkpoints, head chunk files, and the head
 * rebuilt the way a starting server rebuilds it, but in a private temporary directory: the head
 * chunk files are COPIED there (valid prefix or not: the copy is what gets cut back), a head is
 * opened on the copy with the newest block's end as its min valid time, and the shard's WAL is
 * replayed into it (wal_replay only reads). Damaged non-last WAL segments are skipped like the
 * server does; a torn or damaged tail of the last segment is normal (a crash, or a running server
 * mid-write) and reported. When files vanish during the replay (a running server checkpointed),
 * the head is rebuilt from scratch (a few times at most).
 *
 * Order, so that a running server's head cut cannot hide samples: the blocks' meta.json files are
 * read first (for the min valid time), then the head is rebuilt, then the blocks are opened. A
 * block cut in between shows up both in the head and as a block; --series-samples merges them.
 * Blocks that vanish while being opened are skipped with a warning; blocks that fail to open are
 * listed as unreadable; superseded blocks (a compaction's inputs whose output already exists) are
 * listed but left out of totals and of the merged series.
 *
 * Then one merged pass over every shard's blocks and head (merge_set by label set): the
 * cardinality analysis (analyze.h) and, with --series-samples, each series' distinct samples.
 *
 * Errors: functions return 0 or a negative code (base/error.h, -errno). Problems that do not stop
 * the inspection are warnings: collected in the report and echoed on stderr. Single-threaded. */
#ifndef STRATA_TOOLS_STRATACTL_INSPECT_H
#define STRATA_TOOLS_STRATACTL_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/buf.h"
#include "engine/tsdb/block.h"
#include "engine/tsdb/head.h"
#include "tools/stratactl/analyze.h"

#define CTL_EXIT_OK    0
#define CTL_EXIT_ERROR 1
#define CTL_EXIT_USAGE 2

#define CTL_TOP_DEFAULT 20
#define CTL_SHARDS_MAX  4096

/* ---- options ---- */

struct ctl_inspect_opts {
    const char *data_dir;
    int shard;    /* -1: every shard */
    uint32_t top; /* K of every top list */
    bool json;
    bool series_samples;
    const char *tmp_dir; /* NULL: $TMPDIR, else /tmp */
    bool verbose;        /* engine logs at info level (default: errors only) */
};

/* Parses `inspect`'s arguments (argv[0] is "inspect"). Returns 0, 1 when --help was printed to
 * `out`, or CTL_EXIT_USAGE with a message in err. */
int ctl_inspect_opts_parse(struct ctl_inspect_opts *o, int argc, char **argv, FILE *out, char *err,
                           size_t err_size);
void ctl_inspect_usage(FILE *out);

/* ---- warnings ---- */

struct ctl_warnings {
    char **v;
    size_t n, cap;
    FILE *echo; /* each warning is also printed here ("stratactl: warning: ..."); may be NULL */
};

void ctl_warn(struct ctl_warnings *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_warnings_deinit(struct ctl_warnings *w);
/* Adds src's warnings to dst (echoing them there) and empties src. */
void ctl_warnings_move(struct ctl_warnings *dst, struct ctl_warnings *src);

/* ---- the report ---- */

struct ctl_block {
    char ulid[BLOCKINDEX_ULID_CHARS + 1];
    char *dir;                        /* owned */
    struct block *b;                  /* one reference, NULL when unreadable */
    int64_t min_time_ms, max_time_ms; /* [min, max) */
    uint32_t level;
    uint64_t series, samples, chunks, size_bytes;
    bool superseded; /* every source is in another block that has more */
    int err;         /* why it could not be opened (0: fine) */
    struct block_fault fault;
};

struct ctl_quarantined {
    char *name; /* directory name under quarantine/ */
    uint64_t size_bytes;
    bool have_meta; /* meta.json parsed: the fields below are set */
    char ulid[BLOCKINDEX_ULID_CHARS + 1];
    int64_t min_time_ms, max_time_ms;
    uint32_t level;
    uint64_t series, samples;
};

struct ctl_wal {
    uint32_t segments; /* segment files (checkpoints not counted) */
    uint64_t segment_bytes;
    uint32_t first_segment, last_segment; /* 0 when none */
    uint32_t checkpoint;                  /* newest checkpoint's number, 0 when none */
    uint64_t checkpoint_bytes;
    /* replay */
    uint64_t records, series_items, sample_items, other_records;
    uint64_t samples_skipped;  /* before the min valid time, of unknown series, conflicting */
    uint64_t series_conflicts; /* SERIES items whose id or labels clashed */
    uint64_t bad_payloads;
    int tail_err; /* how the last segment ended: 0 clean, ERR_TRUNCATED torn, ERR_CORRUPT */
    uint32_t tail_segment;
    uint64_t tail_offset, tail_lost_bytes;
    uint32_t damaged_files; /* non-last segments or checkpoints that stopped early */
    uint64_t damaged_lost_bytes;
    uint32_t restarts; /* replays started over because files vanished */
};

struct ctl_head {
    uint64_t series;                  /* live series after the replay */
    uint64_t series_with_samples;     /* ... that hold at least one sample */
    uint64_t samples;                 /* distinct samples (WAL and head chunk files merged) */
    uint64_t chunks;                  /* chunks, open and closed */
    int64_t min_time_ms, max_time_ms; /* INT64_MAX / INT64_MIN when empty */
    int64_t min_valid_time_ms;
    uint32_t chunk_files; /* in <shard>/chunks_head */
    uint64_t chunk_file_bytes;
};

struct ctl_shard {
    uint32_t no;
    char *dir; /* owned */
    struct ctl_block *blocks;
    size_t n_blocks;
    struct ctl_quarantined *quar;
    size_t n_quar;
    uint32_t tmp_dirs; /* blocks being written or deleted (*.tmp, *.tmp-for-deletion) */
    struct ctl_wal wal;
    struct ctl_head head;
    struct head *h; /* the rebuilt head (NULL without one) */
    char *head_tmp; /* its private directory, removed by ctl_shard_deinit */
};

struct ctl_report {
    const char *data_dir;
    uint32_t shards_declared; /* from strata.json, 0 when unknown */
    struct ctl_shard *shards;
    size_t n_shards;
    bool analyzed;
    struct ctl_analysis an;  /* over the distinct series of every shard */
    uint64_t samples_merged; /* distinct samples, only with --series-samples (else 0) */
    struct ctl_warnings warn;
};

/* Totals over a report's shards. Superseded and unreadable blocks are left out. */
struct ctl_totals {
    uint64_t blocks, block_series, block_samples, block_chunks, block_bytes;
    int64_t min_time_ms, max_time_ms; /* over blocks and heads; INT64_MAX/MIN when empty */
    uint64_t head_series, head_samples;
    uint64_t samples; /* block samples + head samples */
    uint64_t quarantined, quarantined_bytes, unreadable;
    uint64_t wal_segments, wal_bytes; /* segments + checkpoints */
    uint64_t chunk_files, chunk_file_bytes;
    uint64_t bytes; /* blocks + WAL + head chunk files */
};

void ctl_shard_deinit(struct ctl_shard *s);
void ctl_report_init(struct ctl_report *r, const char *data_dir);
void ctl_report_deinit(struct ctl_report *r);
void ctl_report_totals(const struct ctl_report *r, struct ctl_totals *t);
/* One shard's totals (same rules). */
void ctl_shard_totals(const struct ctl_shard *s, struct ctl_totals *t);

/* ---- scanning (inspect_scan.c, inspect_head.c) ---- */

/* Fills shards (all, or only `only` when >= 0): blocks, quarantine, WAL listing, head rebuilt
 * under tmp_root. Returns 0, ERR_NOT_FOUND (no such data directory or shard), or -errno. */
int ctl_scan(struct ctl_report *r, int only, const char *tmp_root);
/* One shard directory. */
int ctl_scan_shard(struct ctl_shard *s, const char *tmp_root, struct ctl_warnings *w);
/* Rebuilds the head of s under tmp_root with min valid time mvt (see above). */
int ctl_head_build(struct ctl_shard *s, const char *tmp_root, int64_t mvt, struct ctl_warnings *w);

/* ---- the merged pass (inspect_merge.c) ---- */

/* Called for each distinct series in label-set order. With chunks, cs->chunks carry bytes;
 * without, only their metadata (data NULL). Nonzero stops the walk and is returned. */
typedef int (*ctl_series_fn)(void *arg, const struct chunk_series *cs);
int ctl_merge_walk(struct ctl_report *r, bool with_chunks, ctl_series_fn fn, void *arg);
/* The analysis over every distinct series (sets r->analyzed). */
int ctl_analyze(struct ctl_report *r);
/* Writes one line per distinct series to out (text or JSON lines, see ctl_series_line) and a
 * final summary line; sets r->samples_merged. */
int ctl_series_samples(struct ctl_report *r, bool json, FILE *out);

/* ---- output (inspect_report.c) ---- */

/* RFC 3339 UTC with milliseconds: "2023-11-14T22:13:20.000Z"; "-" for INT64_MIN/INT64_MAX. */
void ctl_fmt_time(int64_t ms, char out[32]);
/* Human bytes: "512 B", "1.5 KiB", "3.2 GiB". */
void ctl_fmt_bytes(uint64_t n, char out[32]);
/* Canonical label set: {a="b",c="d"}: names bare when they are identifiers, else quoted; values
 * quoted like Go's strconv.Quote. */
int ctl_fmt_labels(struct buf *b, const struct label *labels, size_t n);
/* One --series-samples line: `{...} samples min_ms max_ms` or, for json, a JSON object
 * {"labels":"{...}","samples":N,"min_time_ms":..,"max_time_ms":..}; with a newline. */
int ctl_series_line(struct buf *b, const struct label *labels, size_t n, uint64_t samples,
                    int64_t min_ms, int64_t max_ms, bool json);
/* The whole report, as text tables or one JSON document. Returns 0 or ERR_NOMEM. */
int ctl_report_text(const struct ctl_report *r, uint32_t top, struct buf *out);
int ctl_report_json(const struct ctl_report *r, uint32_t top, struct buf *out);

/* The `inspect` subcommand: returns an exit code. */
int ctl_inspect_main(int argc, char **argv);

#endif
