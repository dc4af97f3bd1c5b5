/* Internal to engine/promql's evaluator (eval*.c, fn_*.c, agg.c, binop.c): the query state, the
 * step-dense value representation and the helpers every node evaluator shares.
 *
 * Errors unwind with longjmp to promql_eval (pq_fail). That is safe because everything a query
 * allocates is owned by the query: labels, strings and histograms live in its arenas, step
 * arrays come from pq_alloc (a tracked malloc list freed at the end), and open storage sets are
 * registered (pq_track_set) and closed by promql_eval. Code between a pq_alloc and its pq_free
 * may therefore fail at any point without leaking. */
#ifndef STRATA_ENGINE_PROMQL_EVAL_INTERNAL_H
#define STRATA_ENGINE_PROMQL_EVAL_INTERNAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "engine/promql/eval.h"

/* ---- query state ---- */

struct pq_alloc_hdr {
    struct pq_alloc_hdr *prev, *next;
    size_t size;
};

/* Annotation kinds that merge specially when repeated (Prometheus's annoError.Merge). */
enum pq_anno_kind { PQ_ANNO_PLAIN, PQ_ANNO_MONOTONICITY, PQ_ANNO_ST_OVERLAP };

struct pq_anno {
    bool warning;
    enum pq_anno_kind kind;
    uint32_t pos; /* byte offset in the query */
    char *text;   /* without the position */
    /* PQ_ANNO_MONOTONICITY */
    int64_t min_ts, max_ts;
    double min_bucket, max_bucket, max_diff;
    int count; /* merges (both special kinds) */
};

struct pq_query {
    const struct promql_storage *st;
    struct promql_engine_opts o;
    const char *text;
    size_t text_len;
    struct arena arena; /* labels, strings, histograms: query lifetime */
    struct arena tmp;   /* scratch; whoever uses it resets it */
    struct pq_alloc_hdr allocs;
    struct chunk_series_set **sets;
    size_t nsets, capsets;
    struct pq_defer_ent {
        void (*fn)(void *);
        void *arg;
    } * defers;
    size_t ndefers, capdefers;
    struct pq_anno *annos;
    size_t nannos, capannos;
    int64_t samples, samples_peak;
    int64_t series_selected;
    /* Vector selectors read in "histogram stats" mode (under histogram_count/sum/avg): their
     * histograms keep only count and sum, with counter resets detected on the fly. */
    const struct promql_node **stats_sel;
    size_t nstats;
    int64_t deadline_ns;
    int64_t start, end, step; /* the top-level query */
    jmp_buf jmp;
    int rc;
    char err[512];
};

/* An evaluation grid: the top-level query or a subquery. Instant: start == end, interval 1. */
struct pq_ev {
    struct pq_query *q;
    int64_t start, end, interval;
    uint32_t nsteps;
};

static inline int64_t pq_ts(const struct pq_ev *ev, uint32_t i)
{
    return ev->start + (int64_t)i * ev->interval;
}

_Noreturn void pq_fail(struct pq_query *q, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
_Noreturn void pq_nomem(struct pq_query *q);
/* Fails the query when the timeout passed. Called per node, per series and per group (each
 * call stands for at least one series' worth of steps); reads the coarse monotonic clock. */
void pq_check_deadline(struct pq_query *q);

/* Tracked allocations (zeroed); freed at the end of the query unless freed earlier. */
void *pq_alloc(struct pq_query *q, size_t n);
void *pq_realloc(struct pq_query *q, void *p, size_t n);
void pq_free(struct pq_query *q, void *p);
/* Arena allocations (query lifetime); never NULL (fail instead). */
void *pq_arena(struct pq_query *q, size_t n);
struct str pq_strdup(struct pq_query *q, const char *p, size_t n);

void pq_track_set(struct pq_query *q, struct chunk_series_set *s);
/* Runs fn(arg) at the end of the query unless pq_undefer(arg) ran it earlier. */
void pq_defer(struct pq_query *q, void (*fn)(void *), void *arg);
void pq_undefer(struct pq_query *q, void *arg);
void pq_untrack_set(struct pq_query *q, struct chunk_series_set *s);

/* Sample accounting against max_samples. */
void pq_samples_add(struct pq_query *q, int64_t n);
static inline void pq_samples_sub(struct pq_query *q, int64_t n)
{
    q->samples -= n;
}
int64_t pq_hist_samples(const struct promql_hist *h);

/* Annotations. fmt is printf-style; %Q is not available: quote with pq_quote into a buf. */
void pq_warn(struct pq_query *q, uint32_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pq_info(struct pq_query *q, uint32_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pq_anno_monotonicity(struct pq_query *q, uint32_t pos, const char *metric, int64_t ts,
                          double min_bucket, double max_bucket, double max_diff);
void pq_anno_st_overlap(struct pq_query *q, uint32_t pos, struct str metric);
/* Go %q of s into a NUL-terminated scratch string (query arena). */
const char *pq_q(struct pq_query *q, struct str s);
/* Go %g of v (NUL-terminated, query arena). */
const char *pq_g(struct pq_query *q, double v);

/* ---- label helpers ---- */

extern const struct str PQ_NAME; /* "__name__" */

/* A growable label list used to derive new sets. */
struct pq_lb {
    struct label *v;
    uint32_t n, cap;
};
void pq_lb_reset(struct pq_query *q, struct pq_lb *b, const struct promql_lset *from);
void pq_lb_set(struct pq_query *q, struct pq_lb *b, struct str name, struct str value);
void pq_lb_del(struct pq_lb *b, struct str name);
/* Keeps only the named labels. */
void pq_lb_keep(struct pq_lb *b, const struct str *names, uint32_t n);
/* Removes __name__, __type__ and __unit__ (Prometheus's metadata labels). */
void pq_lb_drop_meta(struct pq_lb *b);
const struct promql_lset *pq_lb_make(struct pq_query *q, struct pq_lb *b);
void pq_lb_free(struct pq_query *q, struct pq_lb *b);
/* ls without the metadata labels (shared when it has none). */
const struct promql_lset *pq_drop_meta(struct pq_query *q, const struct promql_lset *ls);
/* The metric name (empty when none). */
static inline struct str pq_metric_name(const struct promql_lset *ls)
{
    return promql_lset_get(ls, PQ_NAME);
}
const struct promql_lset *pq_empty_lset(struct pq_query *q);

/* ---- values ---- */

/* An instant vector over the grid: one dense slot per step. */
struct pq_series {
    const struct promql_lset *ls;
    double *f;
    struct promql_hist **h; /* NULL until a histogram point is set */
    uint64_t *bits;         /* presence per step */
    uint32_t npts;
    bool drop_name;
};

static inline bool pq_has(const struct pq_series *s, uint32_t i)
{
    return (s->bits[i >> 6] >> (i & 63)) & 1;
}

static inline struct promql_hist *pq_hist_at(const struct pq_series *s, uint32_t i)
{
    return s->h ? s->h[i] : NULL;
}

struct pq_vec {
    struct pq_series *s;
    uint32_t n, cap;
    uint32_t *map; /* open addressing by label hash: series index + 1, 0 empty */
    uint32_t map_cap;
    bool instant;     /* every added series is new (an instant grid keeps duplicates and order) */
    int64_t nsamples; /* accounted against max_samples while the vector lives */
};

void pq_vec_init(const struct pq_ev *ev, struct pq_vec *v);
/* The series for ls: in an instant grid always a new one; else the existing one with equal
 * labels or a new one. */
uint32_t pq_vec_series(const struct pq_ev *ev, struct pq_vec *v, const struct promql_lset *ls,
                       bool drop_name);
/* Adds a new series unconditionally. */
uint32_t pq_vec_add(const struct pq_ev *ev, struct pq_vec *v, const struct promql_lset *ls,
                    bool drop_name);
/* Sets a point; fails the query with "vector cannot contain metrics with the same labelset"
 * when the slot is taken. */
void pq_vec_setf(const struct pq_ev *ev, struct pq_vec *v, uint32_t si, uint32_t step, double f);
void pq_vec_seth(const struct pq_ev *ev, struct pq_vec *v, uint32_t si, uint32_t step,
                 struct promql_hist *h);
/* Drops series without points (keeps order). */
void pq_vec_compact(struct pq_query *q, struct pq_vec *v);
void pq_vec_free(struct pq_query *q, struct pq_vec *v);
/* Frees one series' arrays. */
void pq_series_free(struct pq_query *q, struct pq_series *s);

/* A raw range-vector series: samples with their own timestamps, floats and histograms apart. */
struct pq_raw {
    const struct promql_lset *ls;
    bool drop_name;
    int64_t *ft;
    double *fv;
    int64_t *fst; /* start timestamps (or NULL) */
    uint32_t nf;
    int64_t *ht;
    struct promql_hist **hv;
    int64_t *hst;
    uint32_t nh;
};

struct pq_range {
    struct pq_raw *s;
    uint32_t n;
};

enum pq_vkind { PQ_SCALAR, PQ_VECTOR, PQ_RANGE, PQ_STRING };

struct pq_val {
    enum pq_vkind kind;
    double *sc; /* PQ_SCALAR: nsteps values */
    struct pq_vec v;
    struct pq_range r;
    struct str str;
};

void pq_val_free(struct pq_query *q, struct pq_val *v);

/* ---- evaluation ---- */

void pq_eval(struct pq_ev *ev, const struct promql_node *n, struct pq_val *out);
/* Evaluates a scalar-typed expression into nsteps values (tracked allocation). */
double *pq_eval_scalar(struct pq_ev *ev, const struct promql_node *n);
/* Evaluates an instant-vector expression. */
void pq_eval_vector(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out);

/* Durations and @ of selectors and subqueries, resolved for this query. */
int64_t pq_vs_offset(struct pq_query *q, const struct promql_node *vs);
bool pq_vs_at(struct pq_query *q, const struct promql_node *vs, int64_t *at);
int64_t pq_ms_range(struct pq_query *q, const struct promql_node *ms);
void pq_sq_params(struct pq_query *q, const struct promql_node *sq, int64_t *range, int64_t *step,
                  int64_t *offset, bool *has_at, int64_t *at);
/* Strips parentheses. */
const struct promql_node *pq_unparen(const struct promql_node *n);

/* Marks the selectors read in histogram stats mode (Prometheus's HistogramStatsIterator). */
void pq_find_stats_selectors(struct pq_query *q, const struct promql_node *root);
bool pq_is_stats_sel(const struct pq_query *q, const struct promql_node *vs);
/* A stats-mode copy of hv[j]: schema, count, sum and a counter-reset hint detected against
 * hv[j-1] when that sample was read since the iterator last seeked (ht[j-1] >= seek_from). */
struct promql_hist *pq_stats_hist(struct pq_query *q, struct promql_hist *const *hv,
                                  const int64_t *ht, uint32_t j, int64_t seek_from);

/* What an instant selector yields per step. */
enum pq_sel_mode {
    PQ_SEL_VALUES,
    PQ_SEL_TIMESTAMPS,       /* the sample's timestamp in seconds (timestamp()) */
    PQ_SEL_START_TIMESTAMPS, /* its start timestamp in seconds (start_timestamp()) */
    PQ_SEL_ORIG_T,           /* its timestamp in milliseconds; floats only (info series) */
};

struct pq_sel {
    const struct matcher *ms;
    size_t nms;
    int64_t offset;
    bool has_at;
    int64_t at;
    bool smoothed, stats;
    enum pq_sel_mode mode;
    const struct promql_node *node; /* for annotation positions */
    const char *func;               /* select hint */
};

/* A consumer of whole series, so that producers (selectors, range functions) can stream their
 * output into an aggregation instead of materializing it. put() must copy what it keeps. */
struct pq_sink {
    void (*put)(struct pq_sink *k, const struct pq_series *s);
    void *ctx;
};
/* Hands the vector's last series to the sink and removes it (arrays freed). */
void pq_vec_sink_last(struct pq_query *q, struct pq_vec *v, struct pq_sink *k);

/* Selectors (eval_select.c): lookups with lookback and staleness at every step. With a sink,
 * each series goes to it as soon as it is complete and out stays empty. */
void pq_select_instant(struct pq_ev *ev, const struct pq_sel *s, struct pq_vec *out,
                       struct pq_sink *sink);
void pq_eval_vector_selector(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out,
                             enum pq_sel_mode mode, struct pq_sink *sink);
/* Raw samples of a matrix selector at the instant ev->start (a top-level range vector). */
void pq_eval_matrix_selector(struct pq_ev *ev, const struct promql_node *n, struct pq_range *out);
/* Runs a subquery: its raw samples at the subquery's own steps. */
void pq_eval_subquery(struct pq_ev *ev, const struct promql_node *n, struct pq_range *out,
                      bool reset_hints);
void pq_range_free(struct pq_query *q, struct pq_range *r);

/* Iterates the series of a range-vector argument (matrix selector or subquery), decoding one
 * series at a time into reused buffers. */
struct pq_rsrc {
    struct pq_ev *ev;
    const struct promql_node *vs; /* the vector selector of a matrix selector, else NULL */
    struct chunk_series_set *set;
    int64_t mint, maxt;
    struct pq_raw cur; /* buffers owned by the source */
    uint32_t fcap, hcap;
    struct pq_range sub; /* subquery samples */
    uint32_t subpos;
};
void pq_rsrc_open(struct pq_ev *ev, const struct promql_node *arg, int64_t mint, int64_t maxt,
                  const char *func, struct pq_rsrc *src);
/* 1 with *out valid until the next call, 0 at the end. */
int pq_rsrc_next(struct pq_rsrc *src, const struct pq_raw **out);
void pq_rsrc_close(struct pq_rsrc *src);

/* Functions (fn_*.c), aggregations (agg.c), binary operators (binop.c). */
void pq_eval_call(struct pq_ev *ev, const struct promql_node *n, struct pq_val *out);
void pq_eval_range_call(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out,
                        struct pq_sink *sink);
void pq_eval_label_fn(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out);
void pq_eval_hist_fn(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out);
void pq_eval_info(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out);
void pq_eval_start_timestamp(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out);
/* Labels absent()/absent_over_time() report for their argument. */
const struct promql_lset *pq_absent_labels(struct pq_query *q, const struct promql_node *a);
/* Linear interpolation between two histograms (smoothed selectors and rates); *ok false when
 * their schemas are incompatible. */
struct promql_hist *pq_interp_hist(struct pq_query *q, const struct promql_hist *h1, int64_t t1,
                                   const struct promql_hist *h2, int64_t t2, int64_t t,
                                   bool counter, uint32_t pos, bool *ok);
/* Anchored/smoothed range: the samples within (mint, maxt] plus synthesized boundary points at
 * mint and maxt (Prometheus's extendFloats); returns the count, arrays tracked. */
uint32_t pq_extend_floats(struct pq_query *q, const struct pq_raw *r, int64_t mint, int64_t maxt,
                          bool smoothed, int64_t **ft, double **fv);
void pq_eval_agg(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out);
void pq_eval_binary(struct pq_ev *ev, const struct promql_node *n, struct pq_val *out);
/* Aggregation groups discovered incrementally (agg_stream.c): by/without labels of an
 * aggregate node n -> group index in order of first appearance. */
struct pq_groups {
    const struct promql_node *n;
    const struct promql_lset **labels;
    uint32_t n_groups, cap;
    uint32_t *map;
    uint32_t map_cap;
    struct pq_lb lb;
};
uint32_t pq_groups_find(struct pq_query *q, struct pq_groups *g, const struct promql_lset *series);
void pq_groups_free(struct pq_query *q, struct pq_groups *g);

/* Series-major aggregation (agg_stream.c) of sum, avg, count, group, min, max, stddev and
 * stdvar: feed series in input order, then finish into the output vector (a is freed). */
struct pq_agg;
bool pq_agg_streamable(enum promql_aggop op);
struct pq_agg *pq_agg_new(struct pq_ev *ev, const struct promql_node *n);
void pq_agg_add(struct pq_agg *a, const struct pq_series *s);
void pq_agg_finish(struct pq_agg *a, struct pq_vec *out);

/* Merges series with equal labels whose points do not overlap; fails on overlap. Drops the
 * vector's label map (it is complete afterwards). */
void pq_merge_same_labels(struct pq_ev *ev, struct pq_vec *v);

/* ---- range-vector functions ---- */

/* The samples of one window: floats and histograms apart, start timestamps aligned (or NULL). */
struct pq_win {
    const int64_t *ft;
    const double *fv;
    const int64_t *fst;
    uint32_t nf;
    const int64_t *ht;
    struct promql_hist *const *hv;
    const int64_t *hst;
    uint32_t nh;
};

struct pq_fctx {
    struct pq_query *q;
    const struct promql_node *call;
    uint32_t arg_pos; /* position of the range-vector argument */
    const struct promql_lset *ls;
    int64_t ts;                     /* evaluation time of the step */
    int64_t range_start, range_end; /* the window (range_start, range_end] */
    int64_t range_ms;
    bool anchored, smoothed, use_st;
    bool no_float_resets; /* the window's floats never decrease (counter fast path) */
    double p0, p1;        /* scalar arguments at this step */
};

/* Evaluates one window: 0 no result, 1 float in *f, 2 histogram in *h (query arena or an input
 * histogram, never modified later). */
typedef int (*pq_rfn)(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h);
pq_rfn pq_over_time_fn(enum promql_func_id id);
/* Copies a histogram built in q->tmp into the query arena. */
struct promql_hist *pq_keep_hist(struct pq_query *q, const struct promql_hist *h);
/* The metric name of the window's series, Go-quoted, for annotations. */
const char *pq_fname(struct pq_fctx *c);

/* Kahan (Neumaier) increment, exactly as Prometheus's kahansum.Inc. */
static inline void pq_kahan_inc(double inc, double *sum, double *c)
{
    volatile double t = *sum + inc;
    if (__builtin_isinf(t))
        *c = 0;
    else if (__builtin_fabs(*sum) >= __builtin_fabs(inc))
        *c += (*sum - t) + inc;
    else
        *c += (inc - t) + *sum;
    *sum = t;
}

/* Go's math.Max and math.Min: an infinity of the right sign wins over NaN, then NaN wins. */
static inline double pq_go_max(double a, double b)
{
    if (__builtin_isinf(a) && a > 0)
        return a;
    if (__builtin_isinf(b) && b > 0)
        return b;
    if (a != a || b != b)
        return a != a ? a : b;
    if (a == 0 && b == 0)
        return __builtin_signbit(a) ? b : a;
    return a > b ? a : b;
}

static inline double pq_go_min(double a, double b)
{
    if (__builtin_isinf(a) && a < 0)
        return a;
    if (__builtin_isinf(b) && b < 0)
        return b;
    if (a != a || b != b)
        return a != a ? a : b;
    if (a == 0 && b == 0)
        return __builtin_signbit(a) ? a : b;
    return a < b ? a : b;
}

/* The quantile of values (sorted in place), as Prometheus's quantile(). */
double pq_quantile(double q, double *v, size_t n);

#endif
