/* PromQL evaluator entry point: query setup and teardown, duration and @ resolution, the node
 * dispatcher, delayed __name__ removal and the conversion of the final value into a result. */
#include "engine/promql/eval.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/error.h"
#include "engine/promql/eval_internal.h"

void promql_engine_opts_default(struct promql_engine_opts *o)
{
    memset(o, 0, sizeof *o);
    o->lookback_ms = 5 * 60 * 1000;
    o->max_samples = 50000000;
    o->max_series = 10000000;
    o->subquery_step_ms = 60 * 1000;
}

const struct promql_node *pq_unparen(const struct promql_node *n)
{
    while (n->kind == PROMQL_PAREN)
        n = n->paren;
    return n;
}

/* ---- durations and @ ---- */

static int64_t dur(struct pq_query *q, const struct promql_node *expr, int64_t lit, bool neg_ok)
{
    if (!expr)
        return lit;
    char err[256];
    int64_t ms;
    if (promql_duration_eval(expr, q->step, q->end - q->start, neg_ok, &ms, err, sizeof err))
        pq_fail(q, ERR_INVALID, "%s", err);
    return ms;
}

int64_t pq_vs_offset(struct pq_query *q, const struct promql_node *vs)
{
    return dur(q, vs->vs.offset_expr, vs->vs.offset_ms, true);
}

static bool resolve_at(struct pq_query *q, const struct promql_at *a, int64_t *at)
{
    switch (a->kind) {
    case PROMQL_AT_TIMESTAMP: *at = a->ts_ms; return true;
    case PROMQL_AT_START: *at = q->start; return true;
    case PROMQL_AT_END: *at = q->end; return true;
    default: return false;
    }
}

bool pq_vs_at(struct pq_query *q, const struct promql_node *vs, int64_t *at)
{
    return resolve_at(q, &vs->vs.at, at);
}

int64_t pq_ms_range(struct pq_query *q, const struct promql_node *ms)
{
    return dur(q, ms->ms.range_expr, ms->ms.range_ms, false);
}

void pq_sq_params(struct pq_query *q, const struct promql_node *sq, int64_t *range, int64_t *step,
                  int64_t *offset, bool *has_at, int64_t *at)
{
    *range = dur(q, sq->sq.range_expr, sq->sq.range_ms, false);
    *step = dur(q, sq->sq.step_expr, sq->sq.step_ms, false);
    if (*step == 0)
        *step = q->o.subquery_step_ms;
    *offset = dur(q, sq->sq.offset_expr, sq->sq.offset_ms, true);
    *has_at = resolve_at(q, &sq->sq.at, at);
}

/* Evaluates every duration expression once up front so that their errors surface before any
 * evaluation, as Prometheus's preprocessing does. */
static void check_durations(struct pq_query *q, const struct promql_node *n)
{
    int64_t a, b, c, d;
    bool e;
    switch (n->kind) {
    case PROMQL_VECTOR_SELECTOR: pq_vs_offset(q, n); break;
    case PROMQL_MATRIX_SELECTOR:
        pq_ms_range(q, n);
        check_durations(q, n->ms.vs);
        break;
    case PROMQL_SUBQUERY:
        pq_sq_params(q, n, &a, &b, &c, &e, &d);
        check_durations(q, n->sq.expr);
        break;
    case PROMQL_CALL:
        for (uint32_t i = 0; i < n->call.nargs; i++)
            check_durations(q, n->call.args[i]);
        break;
    case PROMQL_AGGREGATE:
        check_durations(q, n->agg.expr);
        if (n->agg.param)
            check_durations(q, n->agg.param);
        break;
    case PROMQL_BINARY:
        check_durations(q, n->bin.lhs);
        check_durations(q, n->bin.rhs);
        break;
    case PROMQL_UNARY: check_durations(q, n->unary.expr); break;
    case PROMQL_PAREN: check_durations(q, n->paren); break;
    default: break;
    }
}

/* ---- dispatch ---- */

static void eval_number(struct pq_ev *ev, double v, struct pq_val *out)
{
    out->kind = PQ_SCALAR;
    out->sc = pq_alloc(ev->q, ev->nsteps * sizeof *out->sc);
    for (uint32_t i = 0; i < ev->nsteps; i++)
        out->sc[i] = v;
}

static void eval_unary(struct pq_ev *ev, const struct promql_node *n, struct pq_val *out)
{
    pq_eval(ev, n->unary.expr, out);
    if (!n->unary.neg)
        return;
    if (out->kind == PQ_SCALAR) {
        for (uint32_t i = 0; i < ev->nsteps; i++)
            out->sc[i] = -out->sc[i];
        return;
    }
    struct pq_vec *v = &out->v;
    for (uint32_t si = 0; si < v->n; si++) {
        struct pq_series *s = &v->s[si];
        s->drop_name = true;
        for (uint32_t i = 0; i < ev->nsteps; i++) {
            if (!pq_has(s, i))
                continue;
            struct promql_hist *h = pq_hist_at(s, i);
            if (!h) {
                s->f[i] = -s->f[i];
                continue;
            }
            struct promql_hist *c = promql_hist_copy(&ev->q->arena, h);
            if (!c)
                pq_nomem(ev->q);
            promql_hist_mul(c, -1);
            s->h[i] = c;
        }
    }
}

void pq_eval(struct pq_ev *ev, const struct promql_node *n, struct pq_val *out)
{
    memset(out, 0, sizeof *out);
    pq_check_deadline(ev->q);
    switch (n->kind) {
    case PROMQL_NUMBER: eval_number(ev, n->number.val, out); return;
    case PROMQL_STRING:
        out->kind = PQ_STRING;
        out->str = n->string;
        return;
    case PROMQL_PAREN: pq_eval(ev, n->paren, out); return;
    case PROMQL_UNARY: eval_unary(ev, n, out); return;
    case PROMQL_VECTOR_SELECTOR:
        out->kind = PQ_VECTOR;
        pq_eval_vector_selector(ev, n, &out->v, PQ_SEL_VALUES, NULL);
        return;
    case PROMQL_MATRIX_SELECTOR:
        out->kind = PQ_RANGE;
        pq_eval_matrix_selector(ev, n, &out->r);
        return;
    case PROMQL_SUBQUERY:
        out->kind = PQ_RANGE;
        pq_eval_subquery(ev, n, &out->r, false);
        return;
    case PROMQL_CALL: pq_eval_call(ev, n, out); return;
    case PROMQL_AGGREGATE:
        out->kind = PQ_VECTOR;
        pq_eval_agg(ev, n, &out->v);
        return;
    case PROMQL_BINARY: pq_eval_binary(ev, n, out); return;
    case PROMQL_DURATION_EXPR: break;
    }
    pq_fail(ev->q, ERR_INVALID, "unhandled expression");
}

double *pq_eval_scalar(struct pq_ev *ev, const struct promql_node *n)
{
    struct pq_val v;
    pq_eval(ev, n, &v);
    if (v.kind != PQ_SCALAR)
        pq_fail(ev->q, ERR_INVALID, "expected scalar expression");
    return v.sc;
}

void pq_eval_vector(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    struct pq_val v;
    pq_eval(ev, n, &v);
    if (v.kind != PQ_VECTOR)
        pq_fail(ev->q, ERR_INVALID, "expected instant vector expression");
    *out = v.v;
}

/* ---- delayed name removal ---- */

struct dup_map {
    uint32_t *slot; /* series index + 1 */
    uint32_t cap;
};

void pq_merge_same_labels(struct pq_ev *ev, struct pq_vec *v)
{
    struct pq_query *q = ev->q;
    if (v->n < 2)
        return;
    uint32_t cap = 16;
    while (cap < v->n * 2)
        cap *= 2;
    uint32_t *slot = pq_alloc(q, cap * sizeof *slot);
    bool merged = false;
    for (uint32_t si = 0; si < v->n; si++) {
        struct pq_series *s = &v->s[si];
        uint32_t i = (uint32_t)s->ls->hash & (cap - 1);
        for (; slot[i]; i = (i + 1) & (cap - 1))
            if (promql_lset_eq(v->s[slot[i] - 1].ls, s->ls))
                break;
        if (!slot[i]) {
            slot[i] = si + 1;
            continue;
        }
        struct pq_series *d = &v->s[slot[i] - 1];
        for (uint32_t k = 0; k < ev->nsteps; k++) {
            if (!pq_has(s, k))
                continue;
            if (pq_has(d, k))
                pq_fail(q, ERR_INVALID, "vector cannot contain metrics with the same labelset");
            d->bits[k >> 6] |= (uint64_t)1 << (k & 63);
            d->npts++;
            d->f[k] = s->f[k];
            struct promql_hist *h = pq_hist_at(s, k);
            if (h) {
                if (!d->h)
                    d->h = pq_alloc(q, ev->nsteps * sizeof *d->h);
                d->h[k] = h;
            }
        }
        s->npts = 0;
        merged = true;
    }
    pq_free(q, slot);
    pq_free(q, v->map);
    v->map = NULL;
    v->map_cap = 0;
    if (merged) {
        /* Re-hash: the merged-away series vanish. */
        for (uint32_t si = 0; si < v->n; si++)
            if (v->s[si].npts == 0 && v->s[si].bits) {
                pq_series_free(q, &v->s[si]);
                v->s[si].bits = NULL;
            }
        uint32_t k = 0;
        for (uint32_t si = 0; si < v->n; si++)
            if (v->s[si].bits)
                v->s[k++] = v->s[si];
        v->n = k;
    }
}

static void cleanup_vec_names(struct pq_ev *ev, struct pq_vec *v)
{
    if (ev->q->o.keep_name_early)
        return;
    for (uint32_t i = 0; i < v->n; i++)
        if (v->s[i].drop_name)
            v->s[i].ls = pq_drop_meta(ev->q, v->s[i].ls);
    pq_merge_same_labels(ev, v);
}

struct tpoint {
    int64_t t;
    double v;
    struct promql_hist *h;
};

static int tpoint_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct tpoint *)a)->t, y = ((const struct tpoint *)b)->t;
    return (x > y) - (x < y);
}

/* Appends raw series b's samples to a (fails on an equal timestamp). */
static void raw_merge(struct pq_query *q, struct pq_raw *a, const struct pq_raw *b)
{
    uint32_t n = a->nf + b->nf + a->nh + b->nh, k = 0;
    struct tpoint *p = pq_alloc(q, (n + 1) * sizeof *p);
    for (uint32_t i = 0; i < a->nf; i++)
        p[k++] = (struct tpoint){a->ft[i], a->fv[i], NULL};
    for (uint32_t i = 0; i < b->nf; i++)
        p[k++] = (struct tpoint){b->ft[i], b->fv[i], NULL};
    for (uint32_t i = 0; i < a->nh; i++)
        p[k++] = (struct tpoint){a->ht[i], 0, a->hv[i]};
    for (uint32_t i = 0; i < b->nh; i++)
        p[k++] = (struct tpoint){b->ht[i], 0, b->hv[i]};
    qsort(p, k, sizeof *p, tpoint_cmp);
    for (uint32_t i = 1; i < k; i++)
        if (p[i].t == p[i - 1].t)
            pq_fail(q, ERR_INVALID, "vector cannot contain metrics with the same labelset");
    a->ft = pq_alloc(q, (n + 1) * sizeof *a->ft);
    a->fv = pq_alloc(q, (n + 1) * sizeof *a->fv);
    a->ht = pq_alloc(q, (n + 1) * sizeof *a->ht);
    a->hv = pq_alloc(q, (n + 1) * sizeof *a->hv);
    a->fst = a->hst = NULL;
    a->nf = a->nh = 0;
    for (uint32_t i = 0; i < k; i++) {
        if (p[i].h) {
            a->ht[a->nh] = p[i].t;
            a->hv[a->nh++] = p[i].h;
        } else {
            a->ft[a->nf] = p[i].t;
            a->fv[a->nf++] = p[i].v;
        }
    }
    pq_free(q, p);
}

/* Merges raw series with equal labels (after name removal); overlapping timestamps fail. */
static void cleanup_range_names(struct pq_ev *ev, struct pq_range *r)
{
    struct pq_query *q = ev->q;
    for (uint32_t i = 0; i < r->n; i++)
        if (r->s[i].drop_name && !q->o.keep_name_early)
            r->s[i].ls = pq_drop_meta(q, r->s[i].ls);
    for (uint32_t i = 0; i < r->n; i++)
        for (uint32_t j = i + 1; j < r->n; j++) {
            if (r->s[j].nf + r->s[j].nh == 0 || !promql_lset_eq(r->s[i].ls, r->s[j].ls))
                continue;
            raw_merge(q, &r->s[i], &r->s[j]);
            r->s[j].nf = r->s[j].nh = 0;
        }
}

/* ---- result ---- */

static int series_cmp(const void *a, const void *b)
{
    const struct promql_series *x = a, *y = b;
    return promql_lset_cmp(x->labels, y->labels);
}

static const struct promql_hist *result_hist(struct pq_query *q, const struct promql_hist *h)
{
    return pq_keep_hist(q, h);
}

static void result_from_vec(struct pq_ev *ev, struct pq_vec *v, struct promql_result *r,
                            bool matrix)
{
    struct pq_query *q = ev->q;
    r->series = pq_arena(q, (v->n ? v->n : 1) * sizeof *r->series);
    size_t k = 0;
    for (uint32_t si = 0; si < v->n; si++) {
        struct pq_series *s = &v->s[si];
        if (s->npts == 0)
            continue;
        struct promql_series *o = &r->series[k++];
        memset(o, 0, sizeof *o);
        o->labels = s->ls;
        uint32_t nh = 0;
        for (uint32_t i = 0; i < ev->nsteps; i++)
            nh += pq_has(s, i) && pq_hist_at(s, i);
        o->floats = pq_arena(q, (s->npts - nh + 1) * sizeof *o->floats);
        o->hists = pq_arena(q, (nh + 1) * sizeof *o->hists);
        for (uint32_t i = 0; i < ev->nsteps; i++) {
            if (!pq_has(s, i))
                continue;
            struct promql_hist *h = pq_hist_at(s, i);
            if (h)
                o->hists[o->nhists++] = (struct promql_hpoint){pq_ts(ev, i), result_hist(q, h)};
            else
                o->floats[o->nfloats++] = (struct promql_fpoint){pq_ts(ev, i), s->f[i]};
        }
    }
    r->nseries = k;
    if (matrix)
        qsort(r->series, k, sizeof *r->series, series_cmp);
}

static void result_from_range(struct pq_query *q, struct pq_range *rg, struct promql_result *r)
{
    r->series = pq_arena(q, (rg->n ? rg->n : 1) * sizeof *r->series);
    size_t k = 0;
    for (uint32_t si = 0; si < rg->n; si++) {
        struct pq_raw *s = &rg->s[si];
        if (s->nf + s->nh == 0)
            continue;
        struct promql_series *o = &r->series[k++];
        memset(o, 0, sizeof *o);
        o->labels = s->ls;
        o->floats = pq_arena(q, (s->nf + 1) * sizeof *o->floats);
        o->hists = pq_arena(q, (s->nh + 1) * sizeof *o->hists);
        for (uint32_t i = 0; i < s->nf; i++)
            o->floats[o->nfloats++] = (struct promql_fpoint){s->ft[i], s->fv[i]};
        for (uint32_t i = 0; i < s->nh; i++)
            o->hists[o->nhists++] = (struct promql_hpoint){s->ht[i], result_hist(q, s->hv[i])};
    }
    r->nseries = k;
    qsort(r->series, k, sizeof *r->series, series_cmp);
}

static void scalar_to_matrix(struct pq_ev *ev, double *sc, struct promql_result *r)
{
    struct pq_query *q = ev->q;
    r->series = pq_arena(q, sizeof *r->series);
    struct promql_series *o = &r->series[0];
    memset(o, 0, sizeof *o);
    o->labels = pq_empty_lset(q);
    o->floats = pq_arena(q, ev->nsteps * sizeof *o->floats);
    for (uint32_t i = 0; i < ev->nsteps; i++)
        o->floats[o->nfloats++] = (struct promql_fpoint){pq_ts(ev, i), sc[i]};
    r->nseries = 1;
}

static void pos_str(const char *text, size_t len, uint32_t pos, char *out, size_t n)
{
    if (len == 0) {
        snprintf(out, n, "unknown position");
        return;
    }
    if (pos > len) {
        snprintf(out, n, "invalid position");
        return;
    }
    int line = 1;
    int64_t last_nl = -1;
    for (uint32_t i = 0; i < pos; i++)
        if (text[i] == '\n') {
            line++;
            last_nl = i;
        }
    snprintf(out, n, "%d:%lld", line, (long long)(pos - last_nl));
}

static void fmt_rfc3339(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void result_annos(struct pq_query *q, struct promql_result *r)
{
    r->annos = pq_arena(q, (q->nannos + 1) * sizeof *r->annos);
    for (size_t i = 0; i < q->nannos; i++) {
        struct pq_anno *a = &q->annos[i];
        char pos[64], extra[512] = "", t1[40], t2[40];
        pos_str(q->text, q->text_len, a->pos, pos, sizeof pos);
        if (a->kind == PQ_ANNO_MONOTONICITY) {
            fmt_rfc3339(a->min_ts, t1, sizeof t1);
            fmt_rfc3339(a->max_ts, t2, sizeof t2);
            snprintf(extra, sizeof extra,
                     ", from buckets %s to %s, with a max diff of %.2g, over %d samples from %s "
                     "to %s",
                     pq_g(q, a->min_bucket), pq_g(q, a->max_bucket), a->max_diff, a->count + 1, t1,
                     t2);
        } else if (a->kind == PQ_ANNO_ST_OVERLAP && a->count > 1) {
            snprintf(extra, sizeof extra, " (%d occurrences)", a->count);
        }
        size_t n = strlen(a->text) + strlen(extra) + strlen(pos) + 8;
        char *s = pq_arena(q, n);
        snprintf(s, n, "%s%s (%s)", a->text, extra, pos);
        r->annos[r->nannos++] = (struct promql_annotation){a->warning, s};
    }
}

static void build_result(struct pq_ev *ev, const struct promql_node *root, struct pq_val *v,
                         struct promql_result *r, bool instant)
{
    struct pq_query *q = ev->q;
    r->t = q->start;
    switch (v->kind) {
    case PQ_STRING:
        r->type = PROMQL_RESULT_STRING;
        r->str = pq_strdup(q, v->str.ptr, v->str.len);
        break;
    case PQ_SCALAR:
        if (instant) {
            r->type = PROMQL_RESULT_SCALAR;
            r->scalar = v->sc[0];
        } else {
            r->type = PROMQL_RESULT_MATRIX;
            scalar_to_matrix(ev, v->sc, r);
        }
        break;
    case PQ_VECTOR:
        cleanup_vec_names(ev, &v->v);
        r->type = instant ? PROMQL_RESULT_VECTOR : PROMQL_RESULT_MATRIX;
        result_from_vec(ev, &v->v, r, !instant);
        break;
    case PQ_RANGE:
        cleanup_range_names(ev, &v->r);
        r->type = PROMQL_RESULT_MATRIX;
        result_from_range(q, &v->r, r);
        break;
    }
    (void)root;
    result_annos(q, r);
    r->samples_peak = q->samples_peak;
}

/* ---- entry ---- */

static void query_cleanup(struct pq_query *q)
{
    for (size_t i = 0; i < q->nsets; i++)
        chunk_series_set_close(q->sets[i]);
    free(q->sets);
    for (size_t i = 0; i < q->ndefers; i++)
        q->defers[i].fn(q->defers[i].arg);
    free(q->defers);
    while (q->allocs.next != &q->allocs) {
        struct pq_alloc_hdr *h = q->allocs.next;
        q->allocs.next = h->next;
        free(h);
    }
    arena_deinit(&q->tmp);
}

static int run(struct pq_query *q, const struct promql_ast *ast, bool instant,
               struct promql_result *r)
{
    if (setjmp(q->jmp))
        return q->rc;
    const struct promql_node *root = ast->root;
    if (!instant && (root->type == PROMQL_VT_MATRIX || root->type == PROMQL_VT_STRING))
        pq_fail(q, ERR_INVALID,
                "invalid expression type \"%s\" for range query, must be Scalar or instant "
                "Vector",
                promql_vtype_doc(root->type));
    check_durations(q, root);
    pq_find_stats_selectors(q, root);
    struct pq_ev ev = {q, q->start, q->end, instant ? 1 : q->step, 0};
    ev.nsteps = (uint32_t)((ev.end - ev.start) / ev.interval + 1);
    struct pq_val v;
    pq_eval(&ev, root, &v);
    build_result(&ev, root, &v, r, instant);
    return 0;
}

int promql_eval(const struct promql_storage *st, const struct promql_ast *ast, const char *query,
                size_t query_len, const struct promql_engine_opts *opts, int64_t start_ms,
                int64_t end_ms, int64_t step_ms, struct promql_result **out, char *err,
                size_t err_size)
{
    *out = NULL;
    bool instant = step_ms == 0;
    if ((instant && start_ms != end_ms) || end_ms < start_ms || step_ms < 0 ||
        (!instant && (end_ms - start_ms) / step_ms >= 11000000)) {
        snprintf(err, err_size, "invalid query time range or step");
        return ERR_INVALID;
    }
    struct pq_query *q = calloc(1, sizeof *q);
    struct promql_result *r = calloc(1, sizeof *r);
    if (!q || !r) {
        free(q);
        free(r);
        snprintf(err, err_size, "out of memory");
        return ERR_NOMEM;
    }
    q->st = st;
    if (opts)
        q->o = *opts;
    else
        promql_engine_opts_default(&q->o);
    struct promql_engine_opts def;
    promql_engine_opts_default(&def);
    if (q->o.lookback_ms <= 0)
        q->o.lookback_ms = def.lookback_ms;
    if (q->o.max_samples <= 0)
        q->o.max_samples = def.max_samples;
    if (q->o.max_series <= 0)
        q->o.max_series = def.max_series;
    if (q->o.subquery_step_ms <= 0)
        q->o.subquery_step_ms = def.subquery_step_ms;
    q->text = query;
    q->text_len = query_len;
    q->start = start_ms;
    q->end = end_ms;
    q->step = step_ms;
    q->allocs.next = q->allocs.prev = &q->allocs;
    arena_init(&q->arena, 64 * 1024);
    arena_init(&q->tmp, 64 * 1024);
    if (q->o.timeout_ms > 0)
        q->deadline_ns = clock_mono_coarse_ns() + q->o.timeout_ms * 1000000;
    int rc = run(q, ast, instant, r);
    query_cleanup(q);
    if (rc) {
        snprintf(err, err_size, "%s", q->err);
        arena_deinit(&q->arena);
        free(q);
        free(r);
        return rc;
    }
    r->arena = q->arena;
    free(q);
    *out = r;
    return 0;
}

void promql_result_free(struct promql_result *r)
{
    if (!r)
        return;
    arena_deinit(&r->arena);
    free(r);
}
