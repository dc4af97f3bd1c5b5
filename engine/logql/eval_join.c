/* LogQL metric query results (Loki's evalSample / JoinSampleVector): literals and vector() at the
 * root become a scalar/vector (instant) or a one-series matrix (range); everything else runs the
 * step loop over the evaluator tree and joins the step vectors into a vector (instant: sorted by
 * labels unless the query sorts by value) or a matrix (sorted by labels), with the series limit. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/eval_internal.h"

struct jseries {
    const struct ev_lset *ls;
    int64_t *ts;
    double *v;
    size_t n, cap;
};

struct join {
    struct jseries *s;
    size_t n, cap;
    uint32_t *slot; /* index + 1 */
    size_t slot_cap;
};

static size_t n_steps(const struct logql_eval_params *p)
{
    if (p->instant)
        return 1;
    return (size_t)((p->end_ns - p->start_ns) / p->step_ns) + 1;
}

static int64_t step_ts(const struct logql_eval_params *p, size_t i)
{
    return p->instant ? p->start_ns : p->start_ns + (int64_t)i * p->step_ns;
}

static bool sortable(const struct logql_expr *e)
{
    if (!e)
        return false;
    if (e->kind == LOGQL_EXPR_VECTOR_AGG &&
        (e->vec_op == LOGQL_VEC_SORT || e->vec_op == LOGQL_VEC_SORT_DESC))
        return true;
    if (e->kind == LOGQL_EXPR_VECTOR_AGG || e->kind == LOGQL_EXPR_LABEL_REPLACE)
        return sortable(e->inner);
    if (e->kind == LOGQL_EXPR_BINOP)
        return sortable(e->inner) || sortable(e->rhs);
    return false;
}

static int series_limit(struct ev_ctx *c)
{
    return ev_fail(c, ERR_INVALID,
                   "maximum number of series (%lld) reached for a single query; consider reducing "
                   "query cardinality by adding more specific stream selectors, reducing the time "
                   "range, or aggregating results with functions like sum(), count() or topk()",
                   (long long)c->p->max_series);
}

static int join_grow(struct join *j)
{
    size_t cap = j->slot_cap ? j->slot_cap * 2 : 64;
    uint32_t *slot = calloc(cap, sizeof *slot);
    if (!slot)
        return ERR_NOMEM;
    for (size_t i = 0; i < j->n; i++) {
        size_t k = j->s[i].ls->hash & (cap - 1);
        while (slot[k])
            k = (k + 1) & (cap - 1);
        slot[k] = (uint32_t)i + 1;
    }
    free(j->slot);
    j->slot = slot;
    j->slot_cap = cap;
    if (j->n + 1 > j->cap) {
        size_t sc = j->cap ? j->cap * 2 : 16;
        struct jseries *s = realloc(j->s, sc * sizeof *s);
        if (!s)
            return ERR_NOMEM;
        j->s = s;
        j->cap = sc;
    }
    return 0;
}

static struct jseries *join_find(struct ev_ctx *c, struct join *j, const struct ev_lset *ls,
                                 int *rc)
{
    if (((j->n + 1) * 2 > j->slot_cap || j->n + 1 > j->cap) && (*rc = join_grow(j)))
        return NULL;
    size_t k = ls->hash & (j->slot_cap - 1);
    for (; j->slot[k]; k = (k + 1) & (j->slot_cap - 1))
        if (j->s[j->slot[k] - 1].ls == ls)
            return &j->s[j->slot[k] - 1];
    if (c->p->max_series > 0 && (int64_t)j->n >= c->p->max_series) {
        *rc = series_limit(c);
        return NULL;
    }
    j->slot[k] = (uint32_t)++j->n;
    j->s[j->n - 1] = (struct jseries){ls, NULL, NULL, 0, 0};
    return &j->s[j->n - 1];
}

static int join_add(struct ev_ctx *c, struct join *j, struct ev_vec v, int64_t t)
{
    for (size_t i = 0; i < v.n; i++) {
        int rc = 0;
        struct jseries *s = join_find(c, j, v.s[i].ls, &rc);
        if (!s)
            return rc;
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 8;
            int64_t *ts = realloc(s->ts, cap * sizeof *ts);
            if (!ts)
                return ERR_NOMEM;
            s->ts = ts;
            double *vv = realloc(s->v, cap * sizeof *vv);
            if (!vv)
                return ERR_NOMEM;
            s->v = vv;
            s->cap = cap;
        }
        s->ts[s->n] = t;
        s->v[s->n++] = v.s[i].v;
        c->stats->samples++;
    }
    return 0;
}

static int cmp_out_series(const void *pa, const void *pb)
{
    const struct logql_out_series *a = pa, *b = pb;
    return ev_labels_cmp(a->labels, a->n_labels, b->labels, b->n_labels);
}

static int join_output(struct ev_ctx *c, struct join *j, bool sort, struct logql_eval_result *out)
{
    out->series = arena_alloc(c->mem, (j->n + 1) * sizeof *out->series);
    if (!out->series)
        return ERR_NOMEM;
    for (size_t i = 0; i < j->n; i++) {
        struct jseries *s = &j->s[i];
        struct logql_out_series *o = &out->series[i];
        *o = (struct logql_out_series){s->ls->l, s->ls->n, NULL, NULL, s->n};
        o->ts_ns = arena_alloc(c->mem, (s->n + 1) * sizeof *o->ts_ns);
        o->v = arena_alloc(c->mem, (s->n + 1) * sizeof *o->v);
        if (!o->ts_ns || !o->v)
            return ERR_NOMEM;
        memcpy(o->ts_ns, s->ts, s->n * sizeof *o->ts_ns);
        memcpy(o->v, s->v, s->n * sizeof *o->v);
    }
    out->n_series = j->n;
    if (sort)
        qsort(out->series, j->n, sizeof *out->series, cmp_out_series);
    c->stats->series = j->n;
    return 0;
}

static int constant(struct ev_ctx *c, const struct logql_expr *e, struct logql_eval_result *out)
{
    const struct logql_eval_params *p = c->p;
    if (p->instant && e->kind == LOGQL_EXPR_LITERAL) {
        out->type = LOGQL_VAL_SCALAR;
        out->scalar_ts_ns = p->start_ns;
        out->scalar = e->value;
        return 0;
    }
    struct join j = {0};
    const struct ev_lset *empty = ev_intern(c, NULL, 0);
    int rc = empty ? 0 : ERR_NOMEM;
    struct ev_sample s = {empty, e->value};
    for (size_t i = 0; i < n_steps(p) && !rc; i++)
        rc = join_add(c, &j, (struct ev_vec){&s, 1}, step_ts(p, i));
    out->type = p->instant ? LOGQL_VAL_VECTOR : LOGQL_VAL_MATRIX;
    if (!rc)
        rc = join_output(c, &j, true, out);
    for (size_t i = 0; i < j.n; i++) {
        free(j.s[i].ts);
        free(j.s[i].v);
    }
    free(j.s);
    free(j.slot);
    return rc;
}

static int cmp_sample(const void *a, const void *b)
{
    return ev_lset_cmp(((const struct ev_sample *)a)->ls, ((const struct ev_sample *)b)->ls);
}

static int run_steps(struct ev_ctx *c, const struct logql_expr *e, struct ev_node *root,
                     struct join *j)
{
    const struct logql_eval_params *p = c->p;
    size_t steps = n_steps(p);
    for (size_t i = 0; i < steps; i++) {
        struct ev_vec v;
        arena_reset(&c->step);
        int rc = ev_node_step(c, root, step_ts(p, i), &v);
        if (rc)
            return rc;
        if (p->instant && p->max_series > 0 && (int64_t)v.n > p->max_series)
            return series_limit(c);
        if (p->instant && !sortable(e)) /* sort by labels before joining */
            qsort(v.s, v.n, sizeof *v.s, cmp_sample);
        if ((rc = join_add(c, j, v, step_ts(p, i))) || (rc = ev_poll(c)))
            return rc;
    }
    return 0;
}

int ev_eval_metric(struct ev_ctx *c, const struct logql_expr *e, struct logql_eval_result *out)
{
    const struct logql_eval_params *p = c->p;
    int64_t span;
    if (!p->instant && p->step_ns > 0 && p->end_ns >= p->start_ns &&
        __builtin_sub_overflow(p->end_ns, p->start_ns, &span))
        return ev_fail(c, ERR_INVALID, "%s", "query time range too large");
    if (!p->instant && (p->step_ns <= 0 || p->end_ns < p->start_ns))
        return ev_fail(c, ERR_INVALID, "%s",
                       p->step_ns <= 0 ? "zero or negative query resolution step widths are not "
                                         "accepted. Try a positive integer"
                                       : "end timestamp must not be before start time");
    if (e->kind == LOGQL_EXPR_LITERAL || e->kind == LOGQL_EXPR_VECTOR)
        return constant(c, e, out);
    struct ev_node *root = NULL;
    struct join j = {0};
    int rc = ev_node_build(c, e, NULL, &root);
    if (!rc)
        rc = run_steps(c, e, root, &j);
    ev_node_close(c, root);
    out->type = p->instant ? LOGQL_VAL_VECTOR : LOGQL_VAL_MATRIX;
    if (!rc)
        rc = join_output(c, &j, !p->instant, out);
    for (size_t i = 0; i < j.n; i++) {
        free(j.s[i].ts);
        free(j.s[i].v);
    }
    free(j.s);
    free(j.slot);
    return rc;
}
