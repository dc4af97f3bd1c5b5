/* The in-memory head of one shard's metrics TSDB: the series of the current time window, each with
 * one open Gorilla chunk, an out-of-order (OOO) buffer when needed, and references to its closed
 * chunks, which live in head chunk files (engine/tsdb/headchunks.h, docs/formats/headchunks.md).
 *
 * Series. A series is a label set with a dense 32-bit id. Label strings are interned in a symbol
 * table shared by all series of the head; a series stores symbol ids. Ids are stable for the life
 * of the series and are what WAL SERIES/SAMPLES records carry; WAL replay recreates series with
 * their old ids (head_series_create_with_id). Ids of series removed by head_truncate are reused
 * only after head_recycle_ids, which the caller invokes once no WAL record that names them will be
 * replayed again (i.e. after the WAL checkpoint that follows the truncation is durable).
 *
 * Append rules (head_append, in the order they are checked), after Prometheus's head:
 *   t < min valid time (nothing older than the last block's end may enter) -> ERR_RANGE;
 *   t > the series' newest in-order sample (or the series is empty)         -> in-order append;
 *   t == newest, same value bits                                            -> HEAD_DUPLICATE;
 *   t == newest, other bits                                                 -> ERR_DUPLICATE;
 *   OOO disabled (window 0)                                                 -> ERR_ORDER;
 *   t < head max time - OOO window                                          -> ERR_RANGE (too old);
 *   t already stored for the series (any chunk or the OOO buffer): same bits -> HEAD_DUPLICATE,
 *                                                               other bits -> ERR_DUPLICATE;
 *   otherwise                                                               -> HEAD_APPENDED_OOO.
 * A rejected sample leaves the head unchanged. Values are bit patterns; stale markers
 * (0x7ff0000000000002) and every NaN are stored bit-exact.
 *
 * Chunks. The open chunk is closed when it holds samples_per_chunk samples, when its bytes exceed
 * chunk_bytes_max, or when a sample reaches its end time: the end of its chunk range
 * (chunk_range_ms aligned to the epoch, so no chunk spans two blocks), pulled earlier once a
 * quarter of the chunk is filled so that the rest of the range is split into chunks of even size
 * (Prometheus's rule, with the count rounded up so that no chunk exceeds samples_per_chunk). OOO
 * samples collect in a small sorted per-series buffer (allocated on first use) that is cut into
 * chunks, split at range boundaries, when it holds ooo_cap samples.
 *
 * Reading. head_select returns series sorted by label set with their chunks that overlap
 * [mint, maxt], in ascending mint order (in-order before OOO on equal mint): closed chunks are
 * views into the mapped chunk files, the open chunk and the OOO buffer are copied, so appends may
 * go on while a set is open. The head never stores two samples with the same timestamp for a
 * series, so overlapping chunks merge without conflicts. A series removed by head_truncate while a
 * set is open is skipped by that set.
 *
 * Ownership and threading: a head is owned by one shard thread; nothing here is thread-safe except
 * head_stats_read, which may be called from any thread (the counters are published with relaxed
 * atomic stores). Errors: negative codes from base/error.h or -errno; bad bytes in chunk files are
 * ERR_CORRUPT, never an assert. */
#ifndef STRATA_ENGINE_TSDB_HEAD_H
#define STRATA_ENGINE_TSDB_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"
#include "engine/index/matcher.h"
#include "engine/tsdb/series_set.h"
#include "formats/histchunk.h"

struct head_config {
    int64_t chunk_range_ms;        /* block range; chunks never span a multiple of it (2 h) */
    uint32_t samples_per_chunk;    /* at most this many samples per chunk (120; 4..65535) */
    uint32_t chunk_bytes_max;      /* cut before appending to a chunk larger than this (1024) */
    int64_t ooo_window_ms;         /* out-of-order window (10 min); 0 disables OOO */
    uint32_t ooo_cap;              /* OOO samples buffered per series before a chunk is cut (32) */
    uint32_t chunk_file_size_max;  /* head chunk file size (128 MiB) */
    uint32_t chunk_write_buf_size; /* head chunk write buffer (1 MiB) */
};

void head_config_default(struct head_config *c);

/* Successful head_append results. */
enum head_append_result {
    HEAD_APPENDED = 0,     /* stored in the in-order chunk */
    HEAD_APPENDED_OOO = 1, /* stored in the OOO buffer */
    HEAD_DUPLICATE = 2,    /* identical sample already stored: dropped (not an error; not WAL'd) */
};

struct head;

/* Opens the head of the shard directory `dir`: creates dir/chunks_head when missing and scans the
 * chunk files there (their chunks are attached to series as WAL replay recreates them, see
 * head_series_create_with_id). min_valid_time_ms is the end of the newest block (INT64_MIN when
 * there is none): samples before it are refused, and chunk-file records ending before it are
 * ignored. The head also remembers its last truncation point in the chunk directory and never
 * goes below it. Returns 0, ERR_INVALID (bad config), ERR_NOMEM or -errno. */
int head_open(const char *dir, const struct head_config *cfg, int64_t min_valid_time_ms,
              struct head **out);
/* Writes buffered chunk records and frees the head. No series set may be open. NULL: no-op. */
void head_close(struct head *h);

/* ---- series ---- */

/* Looks up the series with these labels (sorted by name, unique names, validated by the caller;
 * hash = hash_labels(labels, n)) or creates it. Sets *id, and *created when it is new (the caller
 * then writes a WAL SERIES record). Returns 0, ERR_LIMIT (too many labels: more than 65535 bytes of
 * symbol ids), ERR_FULL (no ids left), ERR_NOMEM. */
int head_series_get_or_create(struct head *h, const struct label *labels, size_t n, uint64_t hash,
                              uint32_t *id, bool *created);
/* Looks up without creating: 0 with *id, or ERR_NOT_FOUND. */
int head_series_lookup(const struct head *h, const struct label *labels, size_t n, uint64_t hash,
                       uint32_t *id);
/* Creates the series with a given id (WAL replay) and attaches the chunk-file chunks recorded for
 * that id. Returns 0 (also when the same series already has this id), ERR_DUPLICATE (the id is
 * held by another label set, or the label set by another id), ERR_RANGE (id above
 * HEAD_SERIES_ID_MAX), ERR_LIMIT, ERR_NOMEM. */
int head_series_create_with_id(struct head *h, uint32_t id, const struct label *labels, size_t n,
                               uint64_t hash);
#define HEAD_SERIES_ID_MAX ((1u << 30) - 1)

bool head_series_exists(const struct head *h, uint32_t id);
/* Copies the series' labels into out[0..cap) (strings borrow from the head and stay valid while the
 * series exists). Returns 0 with *n set; ERR_NOT_FOUND; ERR_FULL when cap < *n (then *n is the
 * number needed). */
int head_series_labels(const struct head *h, uint32_t id, struct label *out, size_t cap, size_t *n);
/* Number of live series. */
uint64_t head_series_count(const struct head *h);

/* ---- append ---- */

/* Validates and applies one sample (see the rules above). Returns an enum head_append_result or
 * ERR_RANGE, ERR_DUPLICATE, ERR_ORDER, ERR_NOT_FOUND (no such series), ERR_NOMEM, ERR_CORRUPT (a
 * chunk file needed for a duplicate check is damaged), ERR_LIMIT (the series already references
 * 65535 closed chunks: more than ~7.8M samples since the last truncation) or -errno (a chunk file
 * write failed). */
int head_append(struct head *h, uint32_t id, int64_t t_ms, uint64_t v_bits);

/* Appends one native histogram sample (integer, or float when is_float). Histograms follow the
 * in-order rules above (t == newest: HEAD_DUPLICATE when identical, else ERR_DUPLICATE) but have
 * no OOO path: an older t is ERR_ORDER unless a histogram is stored at t (identical:
 * HEAD_DUPLICATE, so retried writes are idempotent; else ERR_DUPLICATE). A series holds one kind
 * per chunk: a sample of another kind than the open chunk's (float, integer or float histogram)
 * closes that chunk first. Chunks are CHUNK_HISTOGRAM / CHUNK_FLOAT_HISTOGRAM
 * (formats/histchunk.h). Returns an enum head_append_result or ERR_INVALID (h fails
 * histchunk_hist_check), ERR_RANGE, ERR_DUPLICATE, ERR_ORDER, ERR_NOT_FOUND, ERR_LIMIT, ERR_NOMEM
 * or -errno. In replay mode, a sample at or before the newest re-attached in-order chunk sample is
 * HEAD_DUPLICATE. */
int head_append_hist(struct head *h, uint32_t id, int64_t t_ms, const struct histchunk_hist *hh,
                     bool is_float);

/* WAL replay mode. While on, head_append trusts its input: an in-order sample at or before the
 * newest re-attached in-order sample of its series is already in a chunk file and is dropped as
 * HEAD_DUPLICATE; a sample older than the newest sample replayed so far for its series was
 * out-of-order when first accepted and is stored as OOO without the window check unless a chunk
 * already holds it. head_replay_end turns the mode off and forgets chunk-file records that no
 * recreated series claimed. */
int head_replay_begin(struct head *h);
void head_replay_end(struct head *h);

/* ---- time ---- */

/* Smallest and largest sample timestamp in the head (INT64_MAX/INT64_MIN when empty). */
int64_t head_min_time(const struct head *h);
int64_t head_max_time(const struct head *h);
int64_t head_min_valid_time(const struct head *h);

/* Prepares the block [.., t_ms): raises the min valid time to t_ms (must be a multiple of
 * chunk_range_ms), closes every open chunk whose samples are all before t_ms and cuts every OOO
 * buffer holding samples before t_ms into chunks, so head_block_series sees all data before t_ms.
 * Returns 0, -errno (chunk file write) or ERR_NOMEM; on error it can be called again. */
int head_cut_open_chunks_before(struct head *h, int64_t t_ms);

/* Drops every chunk that ends before mint_ms (and OOO samples before it), raises the min valid time
 * to mint_ms, then removes the series left without samples (freeing ids, postings, symbols) and
 * deletes chunk files that hold only older chunks. Returns the number of series removed, or a
 * negative code from the chunk files (the in-memory truncation is done regardless). */
int head_truncate(struct head *h, int64_t mint_ms);
/* Makes the ids freed by earlier truncations available for new series (see above). */
void head_recycle_ids(struct head *h);

/* ---- reading ---- */

/* Series matching all matchers (n ≥ 1) with data in [mint_ms, maxt_ms] (inclusive), sorted by
 * label set, each with its chunks overlapping that range. The head must outlive the set. Returns
 * NULL on ERR_NOMEM. Errors while iterating (ERR_CORRUPT from a chunk file, -errno) come from
 * chunk_series_set_next. */
struct chunk_series_set *head_select(struct head *h, const struct matcher *ms, size_t n,
                                     int64_t mint_ms, int64_t maxt_ms);
/* Every series with CLOSED chunks lying wholly in [mint_ms, maxt_ms) (mint ≥ mint_ms, maxt <
 * maxt_ms), sorted by label set, with exactly those chunks: what the block writer consumes after
 * head_cut_open_chunks_before(maxt_ms). NULL on ERR_NOMEM. */
struct chunk_series_set *head_block_series(struct head *h, int64_t mint_ms, int64_t maxt_ms);

/* Sorted label names (values) of the series matching ms (n may be 0: all series) that have data
 * in [mint_ms, maxt_ms]. *out is malloc'ed (free it); the strings borrow from the head and stay
 * valid until the next series creation or removal. Returns 0 or ERR_NOMEM. */
int head_label_names(struct head *h, const struct matcher *ms, size_t n, int64_t mint_ms,
                     int64_t maxt_ms, struct str **out, size_t *n_out);
int head_label_values(struct head *h, struct str name, const struct matcher *ms, size_t n,
                      int64_t mint_ms, int64_t maxt_ms, struct str **out, size_t *n_out);

/* ---- stats ---- */

struct head_stats {
    uint64_t series;                 /* live series */
    uint64_t series_created_total;   /* since open */
    uint64_t series_removed_total;   /* by truncation */
    uint64_t symbols;                /* interned strings */
    uint64_t chunks_open;            /* open in-order chunks (in memory) */
    uint64_t chunks_closed;          /* closed chunks referenced by series (in chunk files) */
    uint64_t ooo_samples_buffered;   /* OOO samples in memory */
    uint64_t samples_appended_total; /* in-order + OOO */
    uint64_t ooo_appended_total;
    uint64_t duplicates_dropped_total;
    uint64_t rejected_duplicate_total; /* ERR_DUPLICATE */
    uint64_t rejected_too_old_total;   /* ERR_RANGE */
    uint64_t rejected_order_total;     /* ERR_ORDER */
    uint64_t chunk_files;
    uint64_t chunk_file_bytes;
    /* Heap bytes (malloc_usable_size of each allocation the head owns). */
    uint64_t bytes_series;  /* series structs with their label symbol ids */
    uint64_t bytes_chunks;  /* open chunk buffers + OOO buffers */
    uint64_t bytes_refs;    /* closed-chunk reference arrays */
    uint64_t bytes_symbols; /* symbol strings and the symbol map */
    uint64_t bytes_map;     /* series hash map, id table, id free lists */
    uint64_t bytes_index;   /* postings index (memindex_bytes) */
    uint64_t bytes_total;
    int64_t min_time_ms, max_time_ms, min_valid_time_ms;
};

/* Fresh statistics, computed on the owning thread (walks the postings index for bytes_index). */
void head_stats(struct head *h, struct head_stats *out);
/* The counters as last published; callable from any thread (fields are read one by one, so the
 * snapshot is not atomic as a whole). Counters are live; bytes_index, chunk_files and
 * chunk_file_bytes are as of the last head_stats or head_truncate call. */
void head_stats_read(const struct head *h, struct head_stats *out);

#endif
