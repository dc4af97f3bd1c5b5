/* Partial range aggregation (eval.h "partial range aggregation"): which range aggregations
 * decompose over disjoint sets of entries, how two parts' partials of one series and step merge,
 * the window value from a merged partial, and one part's aggregation (logql_partial_agg): the
 * range evaluator of eval_range.c over the part's entries, yielding partials step by step and
 * resumable when its source yields. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/eval_internal.h"

bool logql_partial_supported(const struct logql_expr *e)
{
    if (!e || e->kind != LOGQL_EXPR_RANGE_AGG)
        return false;
    switch (e->range_op) {
    case LOGQL_RANGE_COUNT:
    case LOGQL_RANGE_RATE:
    case LOGQL_RANGE_BYTES:
    case LOGQL_RANGE_BYTES_RATE:
    case LOGQL_RANGE_SUM:
    case LOGQL_RANGE_AVG:
    case LOGQL_RANGE_MIN:
    case LOGQL_RANGE_MAX:
    case LOGQL_RANGE_ABSENT: return true;
    default: return false;
    }
}

/* Two incremental means (avg_over_time's) of disjoint sample sets as the mean of the union: any
 * NaN gives NaN, infinities of both signs NaN, one infinity wins over finite means (a finite
 * incremental mean never overflows: a part's infinite mean means it saw that infinity). */
static double merge_mean(double a, uint64_t na, double b, uint64_t nb)
{
    if (isnan(a) || isnan(b))
        return NAN;
    if (isinf(a) && isinf(b))
        return (a > 0) == (b > 0) ? a : NAN;
    if (isinf(a))
        return a;
    if (isinf(b))
        return b;
    double n = (double)na + (double)nb;
    return a * ((double)na / n) + b * ((double)nb / n);
}

void logql_partial_merge(enum logql_range_op op, struct logql_partial *a,
                         const struct logql_partial *b)
{
    switch (op) {
    case LOGQL_RANGE_RATE:
    case LOGQL_RANGE_BYTES:
    case LOGQL_RANGE_BYTES_RATE:
    case LOGQL_RANGE_SUM: a->v += b->v; break;
    case LOGQL_RANGE_AVG: a->v = merge_mean(a->v, a->count, b->v, b->count); break;
    case LOGQL_RANGE_MIN: /* min_over_time's rule: NaN only when every value is NaN */
        if (b->v < a->v || isnan(a->v))
            a->v = b->v;
        break;
    case LOGQL_RANGE_MAX:
        if (b->v > a->v || isnan(a->v))
            a->v = b->v;
        break;
    default: break;
    }
    a->count += b->count;
}

double logql_partial_value(const struct logql_expr *e, const struct logql_partial *p)
{
    double secs = (double)e->range_ns / 1e9;
    switch (e->range_op) {
    case LOGQL_RANGE_COUNT: return (double)p->count;
    case LOGQL_RANGE_RATE: return (e->unwrap ? p->v : (double)p->count) / secs;
    case LOGQL_RANGE_BYTES_RATE: return p->v / secs;
    case LOGQL_RANGE_ABSENT: return 1;
    default: return p->v; /* bytes, sum, avg, min, max */
    }
}

/* ---- one part's aggregation ---- */

struct logql_partial_agg {
    struct ev_ctx c;
    struct arena mem;
    struct logql_eval_params p;
    struct logql_eval_stats stats, reported;
    struct ev_node node;
    struct ev_group g;
    size_t step, n_steps;
    bool opened;
    char err[256];
};

static size_t grid_steps(const struct logql_range_req *req)
{
    if (req->instant || req->step_ns <= 0 || req->end_ns < req->start_ns)
        return 1;
    return (size_t)((req->end_ns - req->start_ns) / req->step_ns) + 1;
}

int logql_partial_agg_create(const struct logql_range_req *req, struct logql_pipeline *pl,
                             const struct logql_source_ops *ops, void *src,
                             struct logql_partial_agg **out, char *err, size_t err_size)
{
    *out = NULL;
    if (!logql_partial_supported(req->e) || !pl)
        return ERR_INVALID;
    struct logql_partial_agg *a = calloc(1, sizeof *a);
    if (!a)
        return ERR_NOMEM;
    arena_init(&a->mem, 64 * 1024);
    a->p = (struct logql_eval_params){.start_ns = req->start_ns,
                                      .end_ns = req->end_ns,
                                      .step_ns = req->step_ns,
                                      .instant = req->instant};
    a->c = (struct ev_ctx){.p = &a->p,
                           .ops = ops,
                           .src = src,
                           .mem = &a->mem,
                           .stats = &a->stats,
                           .err = a->err,
                           .err_size = sizeof a->err};
    arena_init(&a->c.step, 64 * 1024);
    a->g = (struct ev_group){req->pushdown, req->pushdown_without, req->pushdown_names,
                             req->n_pushdown};
    a->node.e = req->e;
    a->n_steps = grid_steps(req);
    a->opened = true;
    int rc = ev_range_open_with(&a->c, &a->node, req->pushdown ? &a->g : NULL, pl);
    if (rc) {
        if (err && err_size)
            snprintf(err, err_size, "%s", a->err);
        logql_partial_agg_destroy(a);
        return rc;
    }
    *out = a;
    return 0;
}

int logql_partial_agg_next(struct logql_partial_agg *a, int64_t *t_ns,
                           struct logql_partial_vec *out)
{
    memset(out, 0, sizeof *out);
    if (a->step >= a->n_steps)
        return 0;
    arena_reset(&a->c.step);
    int64_t t = a->p.instant ? a->p.start_ns : a->p.start_ns + (int64_t)a->step * a->p.step_ns;
    const struct logql_partial_sample *s = NULL;
    size_t n = 0;
    int rc = ev_range_step_partials(&a->c, &a->node, t, &s, &n);
    out->entries_scanned = a->stats.entries_scanned - a->reported.entries_scanned;
    out->bytes_scanned = a->stats.bytes_scanned - a->reported.bytes_scanned;
    out->entries_kept = a->stats.entries_kept - a->reported.entries_kept;
    a->reported = a->stats;
    if (rc)
        return rc;
    a->step++;
    *t_ns = t;
    out->s = s;
    out->n = n;
    return 1;
}

void logql_partial_agg_stats(const struct logql_partial_agg *a, struct logql_eval_stats *out)
{
    *out = a->stats;
}

void logql_partial_agg_destroy(struct logql_partial_agg *a)
{
    if (!a)
        return;
    if (a->opened)
        ev_range_close(&a->c, &a->node);
    arena_deinit(&a->c.step);
    free(a->c.tab);
    free(a->c.lbuf);
    arena_deinit(&a->mem);
    free(a);
}
