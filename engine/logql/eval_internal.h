/* Internals shared by the LogQL evaluator files (eval.c, eval_labels.c, eval_range.c,
 * eval_vec.c): interned label sets, sample vectors, the evaluation context and the step
 * evaluator nodes. Not a public interface. */
#ifndef STRATA_ENGINE_LOGQL_EVAL_INTERNAL_H
#define STRATA_ENGINE_LOGQL_EVAL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/str.h"
#include "engine/logql/eval.h"

/* An interned label set (sorted by name): one copy per distinct set for the whole evaluation, so
 * samples compare label sets by pointer. */
struct ev_lset {
    uint64_t hash;
    size_t n;
    struct label *l;
    bool has_err; /* carries __error__ (and no __preserve_error__="true") */
};

struct ev_sample {
    const struct ev_lset *ls;
    double v;
};

/* One step's vector; memory from the step arena. */
struct ev_vec {
    struct ev_sample *s;
    size_t n;
};

/* A grouping as the extractor of a range aggregation sees it (its own or the one pushed down from
 * an enclosing sum). */
struct ev_group {
    bool set;
    bool without;
    const struct str *names;
    size_t n;
};

struct ev_ctx {
    const struct logql_eval_params *p;
    const struct logql_source_ops *ops;
    void *src;
    struct arena *mem; /* the result's arena: interned label sets, output */
    struct arena step; /* per-step scratch, reset before each step of the root */
    struct ev_lset **tab;
    size_t tab_cap, tab_n;
    struct label *lbuf; /* scratch label array (malloc) */
    size_t lbuf_cap;
    struct logql_eval_stats *stats;
    uint64_t polls;
    char *err;
    size_t err_size;
};

struct ev_range;

struct ev_node {
    const struct logql_expr *e;
    struct ev_node *a, *b; /* inner or left side; right side */
    struct ev_range *range;
    bool lit_left, lit_right; /* BINOP: a side is a literal */
};

/* Saturating int64 arithmetic for times (huge ranges and offsets must not overflow). */
static inline int64_t ev_sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b > 0 ? INT64_MIN : INT64_MAX;
    return r;
}

static inline int64_t ev_sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* ---- eval_labels.c ---- */
const struct ev_lset *ev_intern(struct ev_ctx *c, const struct label *l, size_t n);
int ev_lbuf_reserve(struct ev_ctx *c, size_t n);
int ev_lset_cmp(const struct ev_lset *a, const struct ev_lset *b);
int ev_labels_cmp(const struct label *a, size_t na, const struct label *b, size_t nb);
bool ev_names_has(const struct str *names, size_t n, struct str name);
/* Go's labels.String(): {a="b", c="d"} */
int ev_labels_string(struct buf *b, const struct label *l, size_t n);
int ev_fail(struct ev_ctx *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ev_poll(struct ev_ctx *c);
void *ev_step_alloc(struct ev_ctx *c, size_t n);

/* ---- eval_range.c ---- */
int ev_range_open(struct ev_ctx *c, struct ev_node *n, const struct ev_group *pushdown);
/* ev_range_open with a pipeline of the caller's (borrowed; NULL: compile one) and, when pl is
 * given, never the source's partial path (a part's aggregation). */
int ev_range_open_with(struct ev_ctx *c, struct ev_node *n, const struct ev_group *pushdown,
                       struct logql_pipeline *pl);
/* The step's vector, in label order. LOGQL_SRC_YIELD from the source passes through (nothing
 * moved: call again with the same t). */
int ev_range_step(struct ev_ctx *c, struct ev_node *n, int64_t t, struct ev_vec *out);
/* A part's step: every series with samples in the window as a partial (no error check: label
 * sets with __error__ are partials too), in label order; *out valid until the next call. */
int ev_range_step_partials(struct ev_ctx *c, struct ev_node *n, int64_t t,
                           const struct logql_partial_sample **out, size_t *n_out);
void ev_range_close(struct ev_ctx *c, struct ev_node *n);
/* One range aggregation over the n (>= 1) samples of a window ending at t_ns; scratch holds n
 * doubles (quantile_over_time sorts a copy). */
double ev_range_agg(const struct logql_expr *e, const int64_t *ts, const double *v, size_t n,
                    int64_t t_ns, double *scratch);
/* A part's value of a decomposable aggregation over its n samples of one window (acc: their
 * exact running sum, for the byte ops): the sum, the incremental mean, min or max (eval.h). */
double ev_partial_window(const struct logql_expr *e, const double *v, size_t n, double acc);
/* Go's sort of a value heap (NaN first), ascending; used by quantiles. */
void ev_sort_values(double *v, size_t n);

/* ---- eval_vec.c ---- */
int ev_node_build(struct ev_ctx *c, const struct logql_expr *e, const struct ev_group *pushdown,
                  struct ev_node **out);
int ev_node_step(struct ev_ctx *c, struct ev_node *n, int64_t t, struct ev_vec *out);
void ev_node_close(struct ev_ctx *c, struct ev_node *n);

/* ---- eval_binop.c ---- */
int ev_binop_step(struct ev_ctx *c, struct ev_node *n, int64_t t, struct ev_vec *out);

/* ---- eval_join.c ---- */
/* Evaluates a metric query over every step into out (a vector, matrix or scalar). */
int ev_eval_metric(struct ev_ctx *c, const struct logql_expr *e, struct logql_eval_result *out);

#endif
