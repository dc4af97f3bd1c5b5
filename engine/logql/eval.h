/* LogQL query evaluation: a parsed query (ast.h) plus an entry source -> a Loki query result, with
 * Loki 3.x semantics (pkg/logql engine.go, evaluator.go, range_vector.go).
 *
 * Log queries (`{app="a"} |= "x" | json`) select entries with the stream selector, run the
 * pipeline (exec.h) and keep up to `limit` entries in the query direction, grouped into streams by
 * their output label set (or, with categorize_labels, by their stream labels only). Metric queries
 * (range aggregations, vector aggregations, binary operations, label_replace, vector(), literals)
 * are evaluated on the step grid start..end (inclusive); each range aggregation selects its entries
 * once over [start - range - offset, end - offset] and slides its windows (t - range, t].
 *
 * The source is an interface (struct logql_source_ops) so the same evaluator runs over the log
 * store of one shard, a cross-shard merge, or an in-memory array in tests.
 *
 * Ownership: everything a result points to lives in result->mem; free it with
 * logql_eval_result_free (safe on a zeroed or already freed result). The query must stay alive
 * during logql_eval only. Threads: logql_eval runs on the calling thread; it calls the source ops
 * from that thread only. */
#ifndef STRATA_ENGINE_LOGQL_EVAL_H
#define STRATA_ENGINE_LOGQL_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"
#include "engine/index/matcher.h"
#include "engine/logql/ast.h"
#include "engine/logql/exec.h"

/* What the evaluator asks the source for. */
struct logql_select_req {
    const struct matcher *matchers; /* the stream selector (all must match) */
    size_t n_matchers;
    int64_t start_ns, end_ns; /* entries with start_ns <= ts < end_ns */
    bool backward;            /* newest first (else oldest first) */
    /* Line hint: literals every kept line must contain (from |= filters before any line rewrite,
     * case-sensitive, byte-wise); the source may skip lines without them, or ignore the hint. */
    const struct str *contains;
    size_t n_contains;
    /* The pipeline (may be NULL): a source may call logql_pipeline_prefilter with it on raw
     * lines, on the evaluator's thread (inside select/next); the evaluator still runs the full
     * pipeline on every entry it is given. */
    struct logql_pipeline *pipeline;
    /* Everything above is borrowed and stays valid until the iterator is closed. */
};

struct logql_range_req;
struct logql_partial_vec;

/* An entry source. Entries come in timestamp order of the requested direction (ties in any
 * order, but deterministic). A metric query keeps one iterator open per range aggregation
 * (`rate(a[1m]) / rate(b[1m])` has two open at once) and reads them step by step, interleaved;
 * a log query opens one. Every opened iterator is closed, also on errors. */
struct logql_source_ops {
    /* Opens an iterator: 0 or a negative error. */
    int (*select)(void *ctx, const struct logql_select_req *req, void **iter);
    /* 1 = *out filled (borrowed until the next call), 0 = end, negative = error (-ECANCELED,
     * -ETIMEDOUT, ERR_NOMEM, ...). */
    int (*next)(void *iter, struct logql_entry *out);
    void (*close)(void *iter);
    /* 0, or -ECANCELED / -ETIMEDOUT: polled by the evaluator in CPU-heavy loops (every ~1k
     * entries or steps). May be NULL. */
    int (*check)(void *ctx);
    /* Optional (NULL: never): partial range aggregation by the source (a sharded source runs the
     * pipeline and the windows where the entries are, see "partial range aggregation" below).
     * The evaluator asks for each range aggregation logql_partial_supported() accepts.
     * range_open returns 0 with *iter, LOGQL_SRC_DECLINED (then the evaluator selects entries as
     * usual), or a negative error. range_next fills the step t_ns's partials (steps asked in
     * order, every step of the grid once): 0, or negative (-ECANCELED, -ETIMEDOUT, an owner's
     * error, ERR_NOMEM). An opened iterator is closed with range_close, also on errors. */
    int (*range_open)(void *ctx, const struct logql_range_req *req, void **iter);
    int (*range_next)(void *iter, int64_t t_ns, struct logql_partial_vec *out);
    void (*range_close)(void *iter);
};

struct logql_eval_params {
    int64_t start_ns, end_ns, step_ns; /* range query; instant query: start == end, step 0 */
    bool instant;
    int64_t interval_ns;    /* log range queries: Loki's `interval` (0 = none) */
    uint32_t limit;         /* log queries: entries (Loki default 100) */
    bool backward;          /* log queries: direction */
    bool categorize_labels; /* log queries: streams by stream labels; entries carry meta+parsed */
    int64_t max_series;     /* metric results: Loki's max_query_series (500); 0 = no limit */
    int64_t max_entries_limit; /* Loki's max_entries_limit_per_query (5000); 0 = no limit */
};

enum logql_value_type { LOGQL_VAL_STREAMS, LOGQL_VAL_VECTOR, LOGQL_VAL_MATRIX, LOGQL_VAL_SCALAR };

struct logql_out_entry {
    int64_t ts_ns;
    struct str line;
    const struct label *meta; /* categorize_labels only: structured metadata */
    size_t n_meta;
    const struct label *parsed; /* categorize_labels only: parsed labels */
    size_t n_parsed;
};

struct logql_out_stream {
    const struct label *labels; /* sorted by name */
    size_t n_labels;
    struct logql_out_entry *entries; /* in the query direction */
    size_t n_entries;
};

struct logql_out_series {
    const struct label *labels; /* sorted by name */
    size_t n_labels;
    int64_t *ts_ns;
    double *v;
    size_t n; /* vector: n == 1 */
};

struct logql_eval_stats {
    uint64_t entries_scanned, bytes_scanned, entries_kept, series, samples;
    int64_t exec_ns;
};

struct logql_eval_result {
    enum logql_value_type type;
    struct logql_out_stream *streams; /* in Loki's output order */
    size_t n_streams;
    struct logql_out_series *series; /* sorted by labels */
    size_t n_series;
    int64_t scalar_ts_ns;
    double scalar;
    struct logql_eval_stats stats;
    void *mem; /* everything above lives here */
};

/* Evaluates q. Returns 0 (result in *out), ERR_INVALID with a Loki-worded message in err (e.g.
 * "max entries limit per query exceeded, limit > max_entries_limit (x > y)", "maximum number of
 * series (500) reached for a single query", "pipeline error: ..."), ERR_DUPLICATE when a binary
 * operation's matching is not unique ("found duplicate series on the right hand-side;...",
 * "multiple matches for labels: ..."; Loki answers these 500, not 400), -ECANCELED / -ETIMEDOUT
 * (from the source), or ERR_NOMEM. On error *out is left empty (nothing to free, but
 * logql_eval_result_free is harmless). Which endpoint accepts which kind of query (the instant
 * endpoint refusing a log query) is the caller's check. */
int logql_eval(const struct logql_query *q, const struct logql_eval_params *p,
               const struct logql_source_ops *ops, void *ctx, struct logql_eval_result *out,
               char *err, size_t err_size);

void logql_eval_result_free(struct logql_eval_result *r);

/* Literals every line kept by the pre-filter of sel must contain (|= "lit" filters with one term
 * before any line rewrite). Fills up to max entries of out (pointing into the query) and returns
 * the count. */
size_t logql_eval_line_hint(const struct logql_selector *sel, struct str *out, size_t max);

/* ---- partial range aggregation (eval_partial.c) ----
 *
 * A range aggregation whose per-window value is decomposable over disjoint sets of entries
 * (count_over_time, rate, bytes_over_time, bytes_rate, sum_over_time, rate with unwrap,
 * avg_over_time, min_over_time, max_over_time, absent_over_time) can be computed where the
 * entries are: each part of the entries (a shard) runs the full pipeline and the windows over its
 * own entries (logql_partial_agg) and yields, per step, one partial per output label set; the
 * evaluator merges the partials of equal label sets (logql_partial_merge) and goes on as usual.
 * The result is the one of the single-source path: counts and byte sums exactly; float sums
 * (sum_over_time, rate with unwrap) add the parts' sums in part order (the single path adds every
 * sample in time order: equal up to rounding, ~1e-15 relative); avg_over_time combines the parts'
 * incremental means weighted by their counts (NaN/Inf as avg_over_time). Errors (__error__ label
 * sets, conversion failures) travel as label sets and fail the query on the evaluator exactly as
 * in the single path. */

/* A part's aggregate of one series over one step's window. */
struct logql_partial {
    uint64_t count; /* samples in the window (>= 1) */
    double v;       /* sum (bytes, unwrapped values), mean (avg), min or max; 0 otherwise */
};

struct logql_partial_sample {
    const struct label *labels; /* the output label set, sorted by name */
    size_t n_labels;
    const void *key; /* logql_partial_agg: equal for equal label sets of one aggregation */
    struct logql_partial p;
};

struct logql_partial_vec {
    const struct logql_partial_sample *s; /* any order; a label set may come several times */
    size_t n;
    /* what the parts read since the previous call (added to the evaluator's stats) */
    uint64_t entries_scanned, bytes_scanned, entries_kept;
};

/* What range_open gets: one range aggregation, its grouping and the step grid. Everything is
 * borrowed and valid until range_close (the query, and the evaluator's memory). */
struct logql_range_req {
    const struct logql_expr *e; /* LOGQL_EXPR_RANGE_AGG */
    bool pushdown;              /* the grouping of an enclosing sum, handed to the extractor */
    bool pushdown_without;
    const struct str *pushdown_names;
    size_t n_pushdown;
    int64_t start_ns, end_ns, step_ns; /* the evaluation's grid */
    bool instant;
    /* The entry selection (sel.pipeline: compiled for e and this grouping; a source running
     * parts elsewhere clones it with logql_pipeline_clone and passes the clone to
     * logql_partial_agg_create). */
    struct logql_select_req sel;
};

/* True when e (a range aggregation) is decomposable (the list above). */
bool logql_partial_supported(const struct logql_expr *e);

/* Merges b into a (partials of the same series and step of range operation op). */
void logql_partial_merge(enum logql_range_op op, struct logql_partial *a,
                         const struct logql_partial *b);

/* The window's value from the merged partial (what the single path computes). */
double logql_partial_value(const struct logql_expr *e, const struct logql_partial *p);

/* One part's aggregation: reads its entries from src (ops->select is called once with req->sel
 * and pl in place of req->sel.pipeline; ops->check may be NULL) and yields every step of the grid
 * in order. pl is borrowed (alive until destroy). ops->next may return LOGQL_SRC_YIELD: then
 * logql_partial_agg_next returns it and resumes where it stopped on the next call (the caller
 * can spread the work over bounded turns). Returns 0, ERR_INVALID (message in err) or
 * ERR_NOMEM / the source's error. */
struct logql_partial_agg;
int logql_partial_agg_create(const struct logql_range_req *req, struct logql_pipeline *pl,
                             const struct logql_source_ops *ops, void *src,
                             struct logql_partial_agg **out, char *err, size_t err_size);
/* 1 = *t_ns and *out hold the next step's partials (each label set once, sorted by labels;
 * borrowed until the next call), 0 = every step done, LOGQL_SRC_YIELD, or negative. */
int logql_partial_agg_next(struct logql_partial_agg *a, int64_t *t_ns,
                           struct logql_partial_vec *out);
/* Entries read and kept so far. */
void logql_partial_agg_stats(const struct logql_partial_agg *a, struct logql_eval_stats *out);
void logql_partial_agg_destroy(struct logql_partial_agg *a); /* NULL: no-op */

/* range_open: use select instead. */
#define LOGQL_SRC_DECLINED 1
/* next of a source read by logql_partial_agg: no entry now, call again later. */
#define LOGQL_SRC_YIELD 2

/* ---- an in-memory entry source (tests, fuzzing, small tools): eval_memsrc.c ---- */

struct logql_memsrc_entry {
    int64_t ts_ns;
    struct str line;
    const struct label *stream; /* sorted by name */
    size_t n_stream;
    const struct label *meta; /* sorted by name */
    size_t n_meta;
};

/* ctx for logql_memsrc_ops. Entries in any order; the source returns them by timestamp (ties in
 * array order, reversed when backward). check() fails with -ECANCELED from its cancel_after-th
 * call on when cancel_after > 0. Counters are for tests. */
struct logql_memsrc {
    const struct logql_memsrc_entry *entries;
    size_t n_entries;
    uint64_t cancel_after;
    uint64_t n_checks, n_selects, n_open;
    struct logql_select_req last_req; /* as given to the last select (pointers: dangling) */
    char last_hint[256];              /* its line hint literals joined by '|' */
};

extern const struct logql_source_ops logql_memsrc_ops;

#endif
