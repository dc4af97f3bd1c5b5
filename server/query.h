/* Cross-shard query execution (docs/ARCHITECTURE.md "Read path"; api-contract §2): query jobs run
 * on a shard's query threads, and every selection they make fans out over the mesh to the shards
 * that own the series.
 *
 *   query shard A (the one that got the HTTP request)            owner shard B (every shard, A too)
 *   handler: parse, query_job_start ──▶ query thread of A
 *     query_select / query_label_* (blocks the query thread)
 *       ──fan-out posted to A's loop── A: one QUERY_MSG_REQ per shard ──mesh──▶ B: a cursor runs
 *                                                                     querier_select (or label
 *                                                                     names/values, metadata,
 *                                                                     head stats) in bounded
 *                                                                     steps across B's loop turns
 *     pieces merged in label order ◀── A: queues the pieces ◀──mesh── QUERY_MSG_PIECE (owner's
 *     (consumed pieces go back:       and wakes the query thread      memory, immutable, at most
 *      A: mesh_release ──────────────────────────────────────────▶   pieces_in_flight per
 *                                                                     select and shard; credit
 *                                                                     returns with each release)
 *                                                                  ◀── final reply: the request
 *                                                                     itself (rc, counts)
 *   job done ──▶ A's loop calls done(): the HTTP reply
 *
 * Why query threads: the PromQL evaluator works on the whole step grid at once and cannot yield;
 * running it on a shard's loop would stall that shard's ingest for as long as the evaluation. The
 * loops only do owner work (bounded steps of at most piece_bytes per cursor and loop turn) and
 * hand-offs. Query threads run at a lower CPU priority (nice) than the shard threads.
 *
 * A piece is self-contained: the owner copies the labels (without __tenant__) and the chunk bytes
 * of its series into the piece's own arena, so the query thread reads it while the owner goes on
 * appending and compacting; the owner frees it when it comes back (mesh_release). Series are
 * owned by exactly one shard, so merging the shards' streams in label order gives each series
 * once.
 *
 * Tenancy: every fan-out is confined to the job's tenant (a {__tenant__="t"} matcher is added to
 * every matcher set) and owners strip the label from everything they return.
 *
 * Limits, cancellation: a job has a deadline (--query.timeout, or the request's shorter timeout);
 * waits on the query thread end there with -ETIMEDOUT, and owners stop working on a fan-out whose
 * deadline passed. query_job_cancel (the client went away) makes every wait return -ECANCELED and
 * tells the owners to stop (an atomic flag they read each step). Jobs beyond the shard's queue
 * limit are refused (ERR_FULL: answer 503).
 *
 * Threading: query_shard_* functions and the done callback run on the shard thread; run callbacks
 * and the query_select / query_label_* / query_metadata / query_head_stats calls run on a query
 * thread of the job's shard, inside run. The shard state is shared with its query threads under
 * one mutex; the owner side uses no locks (messages only). */
#ifndef STRATA_SERVER_QUERY_H
#define STRATA_SERVER_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"
#include "engine/index/matcher.h"
#include "engine/logs/logstore.h"
#include "engine/shard/mesh.h"
#include "engine/tsdb/querier.h"
#include "engine/tsdb/series_set.h"

/* mesh message types */
#define QUERY_MSG_REQ   0x51520001u /* a fan-out request, home -> owner; its final reply */
#define QUERY_MSG_PIECE 0x51520002u /* owner -> home (mesh_reply_with), home -> owner (release) */

struct tsdb;
struct ingest_shard;
struct logql_source_ops;
struct logql_pipeline;

struct query_config {
    uint32_t workers;          /* query threads per shard (2) */
    uint32_t queue_max;        /* jobs waiting for a query thread per shard (256) */
    int64_t timeout_ms;        /* a query's deadline (2 min); the timeout param may shorten it */
    int64_t max_samples;       /* samples a query may hold at once (50,000,000) */
    int64_t max_series;        /* series one selection may return (10,000,000) */
    int64_t lookback_ms;       /* default lookback delta (5 min) */
    uint64_t piece_bytes;      /* a piece's target size (1 MiB); one series may exceed it */
    uint32_t pieces_in_flight; /* unreleased pieces per fan-out and owner (4) */
    uint64_t step_bytes;       /* owner work per loop turn, all cursors together (2 MiB) */
    uint32_t stats_pairs_max;  /* label pairs one shard reports for /status/tsdb (1,000,000) */
};

void query_config_default(struct query_config *c);

struct query_shard;

/* Creates shard `self`'s query state over the mesh and starts its query threads. wake(wake_arg)
 * is called from query threads to make the shard loop run query_shard_poll soon (shard_wake).
 * Returns 0, ERR_NOMEM or -errno (thread creation). */
int query_shard_create(const struct query_config *cfg, uint32_t self, uint32_t nshards,
                       struct mesh *mesh, void (*wake)(void *arg), void *wake_arg,
                       struct query_shard **out);
/* What the owner side reads: the shard's TSDB and (for /api/v1/metadata) its ingest state. */
void query_shard_attach(struct query_shard *q, struct tsdb *t, struct ingest_shard *ingest);
/* The shard's log store for the log fan-outs below (NULL or never attached: log calls see no
 * streams on this shard). */
void query_shard_attach_logs(struct query_shard *q, struct logstore *logs);
/* Cancels every job, stops and joins the query threads, frees what is idle. Anything still in
 * flight with other shards (after an expired grace period) is left behind, as the process is
 * exiting. NULL: no-op. */
void query_shard_destroy(struct query_shard *q);

/* Handles QUERY_MSG_* messages (requests to own, pieces and final replies of our fan-outs,
 * released pieces); false for other types. */
bool query_on_message(struct query_shard *q, struct mesh_msg *m);
/* Once per loop turn (before_wait, before the mesh flush): finished jobs are answered, fan-outs
 * posted by query threads are sent, consumed pieces are released, and owner cursors take one
 * bounded step. Returns true when owner work remains (the loop must not block). */
bool query_shard_poll(struct query_shard *q);
/* No job, fan-out or owner cursor left (a stopping shard may exit). */
bool query_shard_idle(const struct query_shard *q);

struct query_shard_stats {
    uint64_t jobs_started, jobs_refused, jobs_canceled, jobs_timed_out;
    uint64_t fanouts, pieces_sent, series_sent, bytes_sent; /* owner side: pieces we built */
    uint32_t jobs_running, jobs_queued, cursors;
};
/* On the shard thread (or after it stopped). */
void query_shard_stats_get(struct query_shard *q, struct query_shard_stats *out);

/* ---- jobs ---- */

struct query_job;
/* Runs on a query thread. */
typedef void (*query_run_fn)(struct query_job *j, void *arg);
/* Runs on the shard thread when run returned (also after a cancel); the job is freed after it. */
typedef void (*query_done_fn)(struct query_job *j, void *arg);

/* Queues run(j, arg) for a query thread of q, for tenant (copied) with a deadline timeout_ms from
 * now (<= 0 or above the configured timeout: the configured one). Returns the job, or NULL with
 * *rc = ERR_FULL (queue full: answer 503) or ERR_NOMEM; then neither callback runs. */
struct query_job *query_job_start(struct query_shard *q, struct str tenant, int64_t timeout_ms,
                                  query_run_fn run, query_done_fn done, void *arg, int *rc);
/* Shard thread: stop the job (the client went away): pending and later waits return
 * -ECANCELED, owners stop; done still runs once. */
void query_job_cancel(struct query_job *j);

/* Query thread, inside run: */
struct str query_job_tenant(const struct query_job *j);
int64_t query_job_deadline_ns(const struct query_job *j); /* clock_mono_ns() clock */
/* 0, -ECANCELED or -ETIMEDOUT. */
int query_job_check(const struct query_job *j);
const struct query_config *query_job_config(const struct query_job *j);
/* The shard's evaluation figures for the job (for stats): samples copied in selected chunks. */
uint64_t query_job_samples_loaded(const struct query_job *j);

/* ---- fan-out calls (query thread, inside run) ---- */

/* A list of matcher sets (each ANDed, the sets ORed: match[] parameters). Borrowed. */
struct query_matchsets {
    const struct matcher *const *sets;
    const size_t *lens;
    size_t n;
};

/* Series matching any of the matcher sets (n >= 1; each set n >= 1) with data in [mint_ms,
 * maxt_ms], from every shard, merged into one set sorted by labels (a series matched by several
 * sets comes once), __tenant__ removed. series_only: no chunks (the series API). The set blocks
 * in _next() until the owning shard's next piece arrived; _next() returns -ETIMEDOUT /
 * -ECANCELED when the job's deadline passed or it was canceled, or an owner's error. What _at()
 * returns is valid until the next _next() Close it on the query thread. Returns 0 or ERR_NOMEM. */
int query_select(struct query_job *j, const struct query_matchsets *ms, int64_t mint_ms,
                 int64_t maxt_ms, bool series_only, struct chunk_series_set **out);

/* Label names (name == NULL) or the values of label `name` among the series matching any set of
 * ms (ms->n may be 0: every series of the tenant) with data in [mint_ms, maxt_ms], merged from
 * every shard, sorted, unique, __tenant__ left out; at most limit + 1 strings when limit > 0 (so
 * the caller can tell truncation). *out is freed with querier_strings_free. Returns 0, an owner's
 * error, -ETIMEDOUT, -ECANCELED or ERR_NOMEM. */
int query_label_names(struct query_job *j, const struct query_matchsets *ms, int64_t mint_ms,
                      int64_t maxt_ms, int64_t limit, struct querier_strings *out);
int query_label_values(struct query_job *j, struct str name, const struct query_matchsets *ms,
                       int64_t mint_ms, int64_t maxt_ms, int64_t limit,
                       struct querier_strings *out);

/* Remote-write metadata of every shard (metric family -> type, help, unit; the newest entry per
 * shard, entries that differ between shards all kept), sorted by family then type, help, unit;
 * only family `metric` when metric.len > 0. */
struct query_metadata_entry {
    struct str family, help, unit;
    uint8_t type; /* Prometheus MetricType enum */
};
struct query_metadata {
    struct query_metadata_entry *v;
    size_t n;
    void *mem;
};
int query_metadata(struct query_job *j, struct str metric, struct query_metadata *out);
void query_metadata_free(struct query_metadata *m);

/* Head statistics of the job's tenant over every shard (Prometheus's /api/v1/status/tsdb). */
struct query_stat {
    struct str name;
    uint64_t value;
};
struct query_head_stats {
    uint64_t num_series, num_label_pairs, chunk_count;
    int64_t min_time_ms, max_time_ms; /* INT64_MAX / INT64_MIN without series */
    /* the top `limit` of each, largest first (ties by name) */
    struct query_stat *by_metric, *value_count_by_name, *memory_by_name, *by_pair;
    size_t n_by_metric, n_value_count_by_name, n_memory_by_name, n_by_pair;
    void *mem;
};
int query_head_stats(struct query_job *j, size_t limit, struct query_head_stats *out);
void query_head_stats_free(struct query_head_stats *s);

/* ---- log fan-outs (query thread, inside run; the same rules as above) ---- */

/* One entry of a log selection. Everything is borrowed until the next _next() or _close(). */
struct query_log_entry {
    const struct label *labels; /* the stream's labels, sorted, without __tenant__ */
    size_t n_labels;
    int64_t ts_ns;
    struct str line;
    const struct label *md; /* structured metadata, in the pushed order */
    size_t n_md;
};

/* What a selection read, over every shard (the owners' figures arrive with their final replies:
 * complete at the iterator's end and after its close, which the LogQL source reads them after). */
struct query_log_stats {
    uint64_t entries, bytes;      /* entries returned by the iterator and their line bytes */
    uint64_t owner_entries;       /* entries the owners sent (>= entries after an early close) */
    uint64_t streams, chunks;     /* streams selected, block chunks overlapping the range */
    uint64_t chunks_opened;       /* block chunk decompressions */
    uint64_t chunks_skipped_hint; /* block chunks the line hint ruled out */
    uint64_t bytes_decompressed;  /* block chunk bytes inflated */
    uint64_t head_entries;        /* entries read from the heads */
    uint64_t duplicates;          /* duplicates dropped */
    uint64_t scanned_entries;     /* entries the owners read (before their pre-filter) */
    uint64_t scanned_bytes;       /* and their line bytes */
    uint32_t shards_done;         /* owners whose final reply arrived */
    uint64_t moved_bytes;         /* piece bytes the owners sent to the query thread */
    uint64_t partial_ranges;      /* range aggregations the owners computed (partial path) */
};

/* Adds s's figures to t. */
void query_log_stats_add(struct query_log_stats *t, const struct query_log_stats *s);

struct query_log_iter;

/* Entries of the streams matching all of ms (n >= 1; the job's tenant is added) with
 * start_ns <= ts < end_ns from every shard, merged in time order (backward: newest first; equal
 * timestamps: streams in label order, a stream's entries in storage order), __tenant__ removed.
 * hint (may be NULL) is pushed down to the log stores (block chunks that cannot hold a line with
 * every literal are skipped; lines are NOT filtered by it). limit > 0: the caller reads at most
 * that many entries, so each owner stops after `limit` (0: no bound). The iterator blocks in
 * _next() until the owning shard's next piece arrived; owners copy entries into pieces with at
 * most pieces_in_flight unreleased per shard, and closing the iterator early stops them. Returns 0
 * or ERR_NOMEM / ERR_INVALID (n == 0). */
int query_log_select(struct query_job *j, const struct matcher *ms, size_t n, int64_t start_ns,
                     int64_t end_ns, bool backward, const struct logstore_line_hint *hint,
                     uint64_t limit, struct query_log_iter **out);
/* query_log_select with the pre-filter of a LogQL pipeline (exec.h logql_pipeline_prefilter) run
 * by each owner on the raw lines: entries it drops are never copied (they still count in the
 * owners' figures: scanned_entries, scanned_bytes). pipeline may be NULL (no filtering); it is
 * borrowed during this call only (each owner gets its own clone, created and destroyed on this
 * query thread; _close waits for the owners to let go of them). */
int query_log_select_filtered(struct query_job *j, const struct matcher *ms, size_t n,
                              int64_t start_ns, int64_t end_ns, bool backward,
                              const struct logstore_line_hint *hint, uint64_t limit,
                              struct logql_pipeline *pipeline, struct query_log_iter **out);
/* 1 = positioned on the next entry, 0 = end, or a negative error (sticky): an owner's error,
 * -ETIMEDOUT, -ECANCELED, ERR_NOMEM. */
int query_log_iter_next(struct query_log_iter *it);
const struct query_log_entry *query_log_iter_at(const struct query_log_iter *it);
void query_log_iter_stats(const struct query_log_iter *it, struct query_log_stats *out);
/* Gives every piece back, stops the owners still working and waits (bounded: 5 s, 200 ms for a
 * canceled job) for their final replies, so their selects are closed and the figures of
 * query_log_iter_stats complete when it returns; _next then returns -ECANCELED. _close stops
 * first when this was not called. */
void query_log_iter_stop(struct query_log_iter *it);
/* Stops (above) and frees the iterator. NULL: no-op. */
void query_log_iter_close(struct query_log_iter *it);

/* Label names (name.len == 0) or the values of label `name` of the streams matching ms (n may be
 * 0: every stream of the tenant) with data in [start_ns, end_ns), merged from every shard, sorted,
 * unique, __tenant__ left out. Free *out with querier_strings_free. Returns 0, an owner's error,
 * -ETIMEDOUT, -ECANCELED or ERR_NOMEM. */
int query_log_label_names(struct query_job *j, const struct matcher *ms, size_t n, int64_t start_ns,
                          int64_t end_ns, struct querier_strings *out);
int query_log_label_values(struct query_job *j, struct str name, const struct matcher *ms, size_t n,
                           int64_t start_ns, int64_t end_ns, struct querier_strings *out);

/* Streams matching any of the matcher sets (each set n >= 1) with data in [start_ns, end_ns),
 * from every shard, sorted by labels, each once (__tenant__ removed), with their statistics
 * (chunks, entries, line bytes of the chunks overlapping the range: logstore_series). More than
 * the configured max_series streams: ERR_LIMIT. */
struct query_log_series {
    struct logstore_stream_stats *v;
    size_t n;
    void *mem;
};
int query_log_series(struct query_job *j, const struct query_matchsets *ms, int64_t start_ns,
                     int64_t end_ns, struct query_log_series *out);
void query_log_series_free(struct query_log_series *s);
/* Sums of query_log_series over one matcher set (Loki's /index/stats). */
int query_log_index_stats(struct query_job *j, const struct matcher *ms, size_t n, int64_t start_ns,
                          int64_t end_ns, struct logstore_index_stats *out);

/* The LogQL entry source (engine/logql/eval.h) over query_log_select_filtered, for logql_eval on
 * the job's query thread: ctx is a struct query_log_source (job set, stats zeroed); each select is
 * a cross-shard selection (the line hint pushed down, the request's pipeline pre-filter run by the
 * owners, structured metadata sorted by name as the pipeline wants it); check is
 * query_job_check. stats sums the figures of every closed select. */
struct query_log_source {
    struct query_job *job;
    struct query_log_stats stats;
    bool no_partial; /* never take the partial path (below) */
};
const struct logql_source_ops *query_log_source_ops(void);

/* Partial range aggregation across shards (the source's range_open, engine/logql/eval.h): each
 * owner runs the range aggregation req (its pipeline cloned per owner) over its own entries in
 * bounded steps and sends per step one partial per output label set; _next gathers step t_ns's
 * partials of every shard (labels borrowed until the next call). The source takes this path for
 * every decomposable range aggregation unless src->no_partial is set or the environment variable
 * STRATA_LOKI_PARTIAL_AGG is "0" (then entries are copied to the query thread as before). req is
 * copied; what it points to must stay valid until _close. _open returns 0 or ERR_NOMEM; _next 0
 * or an owner's error, -ETIMEDOUT, -ECANCELED, ERR_NOMEM (sticky). _close stops the owners as
 * query_log_iter_stop does and adds the figures to *stats (may be NULL). */
struct logql_range_req;
struct logql_partial_vec;
struct query_log_range;
int query_log_range_open(struct query_job *j, const struct logql_range_req *req,
                         struct query_log_range **out);
int query_log_range_next(struct query_log_range *r, int64_t t_ns, struct logql_partial_vec *out);
void query_log_range_close(struct query_log_range *r, struct query_log_stats *stats);
/* False when the environment switches the partial path off (STRATA_LOKI_PARTIAL_AGG=0). */
bool query_log_partial_enabled(void);

#endif
