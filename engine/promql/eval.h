/* PromQL evaluator: instant and range queries over a struct promql_storage with Prometheus 3.x
 * semantics (lookback and staleness, left-open range windows, extrapolated rates, every function
 * and aggregation, vector matching, subqueries, @ and offset, delayed __name__ removal, native
 * histograms, warnings and infos).
 *
 * Model: every expression is evaluated over the whole step grid at once; an instant vector is a
 * set of series with one dense slot per step, range vectors are consumed window by window
 * straight from decoded chunks (no per-sample allocation). Limits: samples held at once
 * (max_samples), series selected (max_series), wall-clock timeout checked between steps and
 * series; exceeding one fails the query with a clear message.
 *
 * Threading: a query runs on the calling thread; concurrent queries over different storages (or
 * a thread-safe storage) are independent. The AST is only read. */
#ifndef STRATA_ENGINE_PROMQL_EVAL_H
#define STRATA_ENGINE_PROMQL_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/str.h"
#include "engine/promql/ast.h"
#include "engine/promql/storage.h"
#include "engine/promql/value.h"

struct promql_engine_opts {
    int64_t lookback_ms;      /* 5m when 0 */
    int64_t max_samples;      /* 50,000,000 when 0 */
    int64_t max_series;       /* series selected from storage per query; 10,000,000 when 0 */
    int64_t timeout_ms;       /* none when 0 */
    int64_t subquery_step_ms; /* step of subqueries written without one; 1m when 0 */
    bool keep_name_early;     /* disable delayed __name__ removal (on by default) */
    /* Polled with the timeout (between steps and series): nonzero (e.g. -ECANCELED when the
     * client went away) stops the query with that code. NULL: never. Called on the query's
     * thread; must be cheap and thread-safe with whatever sets the condition. */
    int (*cancel_check)(void *arg);
    void *cancel_arg;
    bool use_start_timestamps;
};

enum promql_result_type {
    PROMQL_RESULT_SCALAR,
    PROMQL_RESULT_VECTOR,
    PROMQL_RESULT_MATRIX,
    PROMQL_RESULT_STRING,
};

struct promql_fpoint {
    int64_t t;
    double v;
};

struct promql_hpoint {
    int64_t t;
    const struct promql_hist *h;
};

/* One result series. A vector (instant query) has exactly one point per series, at the
 * evaluation time, in the order the expression produced them; a matrix is sorted by labels. */
struct promql_series {
    const struct promql_lset *labels;
    struct promql_fpoint *floats;
    size_t nfloats;
    struct promql_hpoint *hists;
    size_t nhists;
};

/* A warning or info, formatted like Prometheus's annotations with the query position appended:
 * "PromQL warning: ... (1:5)". */
struct promql_annotation {
    bool warning;
    const char *text;
};

struct promql_result {
    enum promql_result_type type;
    int64_t t;      /* evaluation time of an instant query */
    double scalar;  /* PROMQL_RESULT_SCALAR */
    struct str str; /* PROMQL_RESULT_STRING */
    struct promql_series *series;
    size_t nseries;
    struct promql_annotation *annos;
    size_t nannos;
    int64_t samples_peak; /* most samples held at once */
    struct arena arena;   /* owns everything above */
};

void promql_engine_opts_default(struct promql_engine_opts *o);

/* Evaluates a parsed query. Instant query: step_ms == 0 and start_ms == end_ms. Range query:
 * step_ms > 0 and end_ms >= start_ms. `query` is the text the AST was parsed from (annotation
 * positions are reported against it). On success returns 0 and *out (free with
 * promql_result_free). On failure returns a negative code and writes Prometheus's message to
 * err (NUL-terminated, at most err_size bytes): ERR_INVALID (evaluation error such as "vector
 * cannot contain metrics with the same labelset"), ERR_LIMIT ("query processing would load too
 * many samples into memory in query execution", too many series), -ETIMEDOUT ("query timed out
 * in expression evaluation"), ERR_NOMEM, or a storage error (ERR_CORRUPT, ...). */
int promql_eval(const struct promql_storage *st, const struct promql_ast *ast, const char *query,
                size_t query_len, const struct promql_engine_opts *opts, int64_t start_ms,
                int64_t end_ms, int64_t step_ms, struct promql_result **out, char *err,
                size_t err_size);

void promql_result_free(struct promql_result *r);

#endif
