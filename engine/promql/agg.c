/* Aggregation operators: sum, avg (Kahan sums falling back to incremental means on overflow),
 * count, group, min, max, stddev, stdvar, quantile, topk, bottomk, limitk, limit_ratio and
 * count_values, with by/without grouping, native histograms and Prometheus's annotations. The
 * k-selections replicate Go's container/heap so that ties resolve the same way. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "base/error.h"
#include "engine/promql/eval_internal.h"
#include "engine/promql/print.h"
#include "engine/promql/quote.h"

/* ---- grouping ---- */

struct grouping {
    uint32_t *of;                      /* per input series: group index */
    const struct promql_lset **labels; /* per group */
    uint32_t n;
};

static const struct promql_lset *group_labels(struct pq_query *q, const struct promql_node *n,
                                              const struct promql_lset *ls, struct pq_lb *b)
{
    const struct promql_labels *g = &n->agg.grouping;
    pq_lb_reset(q, b, ls);
    if (n->agg.without) {
        for (uint32_t i = 0; i < g->len; i++)
            pq_lb_del(b, g->names[i]);
        pq_lb_del(b, PQ_NAME);
    } else {
        pq_lb_keep(b, g->names, g->len);
    }
    return pq_lb_make(q, b);
}

static void build_grouping(struct pq_query *q, const struct promql_node *n, const struct pq_vec *in,
                           struct grouping *g)
{
    g->of = pq_alloc(q, (in->n + 1) * sizeof *g->of);
    g->labels = pq_alloc(q, (in->n + 1) * sizeof *g->labels);
    g->n = 0;
    uint32_t cap = 16;
    while (cap < in->n * 2)
        cap *= 2;
    uint32_t *map = pq_alloc(q, cap * sizeof *map);
    struct pq_lb b = {0};
    for (uint32_t si = 0; si < in->n; si++) {
        const struct promql_lset *ls = group_labels(q, n, in->s[si].ls, &b);
        uint32_t i = (uint32_t)ls->hash & (cap - 1);
        for (; map[i]; i = (i + 1) & (cap - 1))
            if (promql_lset_eq(g->labels[map[i] - 1], ls))
                break;
        if (!map[i]) {
            g->labels[g->n++] = ls;
            map[i] = g->n;
        }
        g->of[si] = map[i] - 1;
    }
    pq_lb_free(q, &b);
    pq_free(q, map);
}

/* ---- parameters ---- */

struct fparam {
    double *v; /* per step */
    double min, max;
    bool nan;
};

static void eval_param(struct pq_ev *ev, const struct promql_node *p, struct fparam *fp)
{
    fp->v = pq_eval_scalar(ev, pq_unparen(p));
    fp->min = 1.7976931348623157e308;
    fp->max = -1.7976931348623157e308;
    fp->nan = false;
    for (uint32_t i = 0; i < ev->nsteps; i++) {
        fp->max = pq_go_max(fp->max, fp->v[i]);
        fp->min = pq_go_min(fp->min, fp->v[i]);
        fp->nan |= isnan(fp->v[i]);
    }
    if (ev->nsteps == 1 || pq_unparen(p)->kind == PROMQL_NUMBER) {
        fp->min = fp->max = fp->v[0];
        fp->nan = isnan(fp->v[0]);
    }
}

/* ---- sum, avg, count, group, min, max, stddev, stdvar, quantile ---- */

struct grp {
    bool seen, has_float, has_hist, incompatible, incr_mean_f, incr_mean_h, reset_seen,
        not_reset_seen, drop_name;
    double fval, fmean, fkc, count;
    struct promql_hist *hval, *hmean, *hkc;
    double *qv;
    uint32_t nq;
};

struct agg_ctx {
    struct pq_ev *ev;
    const struct promql_node *n;
    uint32_t epos; /* position of the aggregated expression */
    double *qbuf;  /* quantile values, one slab per group */
    uint32_t nin;
};

static void info_ignored(struct agg_ctx *a, const char *op, uint32_t pos)
{
    pq_info(a->ev->q, pos, "ignored histogram in %s aggregation", op);
}

static void track(struct grp *g, const struct promql_hist *h)
{
    if (h->hint == PROMQL_HINT_RESET)
        g->reset_seen = true;
    else if (h->hint == PROMQL_HINT_NOT_RESET)
        g->not_reset_seen = true;
}

static struct promql_hist *tcopy(struct pq_query *q, const struct promql_hist *h)
{
    struct promql_hist *c = promql_hist_copy(&q->tmp, h);
    if (!c)
        pq_nomem(q);
    return c;
}

/* Kahan-adds h into (*v, *c); false (and the warning) on incompatible schemas. */
static bool kahan_hist(struct agg_ctx *a, struct promql_hist **v, struct promql_hist **c,
                       const struct promql_hist *h, const struct promql_lset *ls)
{
    struct pq_query *q = a->ev->q;
    struct promql_hist_addinfo info;
    int rc = promql_hist_kahan_add(&q->tmp, v, c, h, &info);
    if (rc == ERR_NOMEM)
        pq_nomem(q);
    if (rc) {
        pq_warn(q, a->epos,
                "vector contains a mix of histograms with exponential and custom buckets schemas "
                "for metric name %s",
                pq_q(q, pq_metric_name(ls)));
        return false;
    }
    if (info.nhcb_reconciled)
        pq_info(q, a->epos, "mismatched custom buckets were reconciled during aggregation");
    return true;
}

static void grp_init(struct agg_ctx *a, struct grp *g, enum promql_aggop op, double f,
                     const struct promql_hist *h, bool drop, double *qslab)
{
    struct pq_query *q = a->ev->q;
    memset(g, 0, sizeof *g);
    g->seen = true;
    g->fval = f;
    g->fmean = f;
    g->count = 1;
    g->drop_name = drop;
    g->qv = qslab;
    switch (op) {
    case PROMQL_AGG_SUM:
    case PROMQL_AGG_AVG:
        if (!h) {
            g->has_float = true;
        } else {
            g->hval = tcopy(q, h);
            g->has_hist = true;
            track(g, h);
        }
        break;
    case PROMQL_AGG_STDVAR:
    case PROMQL_AGG_STDDEV:
        if (h) {
            g->seen = false;
            info_ignored(a, op == PROMQL_AGG_STDVAR ? "stdvar" : "stddev", a->epos);
        } else {
            g->fval = isnan(f) || isinf(f) ? NAN : 0;
        }
        break;
    case PROMQL_AGG_QUANTILE:
        if (h) {
            g->seen = false;
            info_ignored(a, "quantile", a->epos);
        }
        g->qv[0] = f;
        g->nq = 1;
        break;
    case PROMQL_AGG_GROUP: g->fval = 1; break;
    case PROMQL_AGG_MIN:
    case PROMQL_AGG_MAX:
        if (h) {
            g->seen = false;
            info_ignored(a, op == PROMQL_AGG_MIN ? "min" : "max", a->epos);
        }
        break;
    default: break;
    }
}

static void avg_float(struct grp *g, double f)
{
    if (!g->incr_mean_f) {
        double nv = g->fval, nc = g->fkc;
        pq_kahan_inc(f, &nv, &nc);
        if (!isinf(nv)) {
            g->fval = nv;
            g->fkc = nc;
            return;
        }
        g->incr_mean_f = true;
        g->fmean = g->fval / (g->count - 1);
        g->fkc /= g->count - 1;
    }
    double qf = (g->count - 1) / g->count;
    g->fmean *= qf;
    g->fkc *= qf;
    pq_kahan_inc(f / g->count, &g->fmean, &g->fkc);
}

static void avg_hist(struct agg_ctx *a, struct grp *g, const struct promql_hist *h,
                     const struct promql_lset *ls)
{
    struct pq_query *q = a->ev->q;
    if (!g->incr_mean_h) {
        struct promql_hist *v = tcopy(q, g->hval), *c = g->hkc ? tcopy(q, g->hkc) : NULL;
        if (!kahan_hist(a, &v, &c, h, ls)) {
            g->incompatible = true;
            return;
        }
        if (!promql_hist_has_overflow(v)) {
            g->hval = v;
            g->hkc = c;
            return;
        }
        g->incr_mean_h = true;
        g->hmean = tcopy(q, g->hval);
        promql_hist_div(g->hmean, g->count - 1);
        if (g->hkc)
            promql_hist_div(g->hkc, g->count - 1);
    }
    double qf = (g->count - 1) / g->count;
    if (g->hkc)
        promql_hist_mul(g->hkc, qf);
    struct promql_hist *add = tcopy(q, h);
    promql_hist_div(add, g->count);
    promql_hist_mul(g->hmean, qf);
    if (!kahan_hist(a, &g->hmean, &g->hkc, add, ls))
        g->incompatible = true;
}

static void grp_update(struct agg_ctx *a, struct grp *g, enum promql_aggop op, double f,
                       const struct promql_hist *h, const struct pq_series *s)
{
    if (g->incompatible)
        return;
    if (s->drop_name)
        g->drop_name = true;
    switch (op) {
    case PROMQL_AGG_SUM:
        if (h) {
            g->has_hist = true;
            if (g->hval) {
                track(g, h);
                if (!kahan_hist(a, &g->hval, &g->hkc, h, s->ls))
                    g->incompatible = true;
            }
        } else {
            g->has_float = true;
            pq_kahan_inc(f, &g->fval, &g->fkc);
        }
        break;
    case PROMQL_AGG_AVG:
        g->count++;
        if (h) {
            g->has_hist = true;
            if (g->hval) {
                track(g, h);
                avg_hist(a, g, h, s->ls);
            }
        } else {
            g->has_float = true;
            avg_float(g, f);
        }
        break;
    case PROMQL_AGG_MAX:
    case PROMQL_AGG_MIN:
        if (h) {
            info_ignored(a, op == PROMQL_AGG_MAX ? "max" : "min", a->epos);
            break;
        }
        if (op == PROMQL_AGG_MAX ? (g->fval < f || isnan(g->fval))
                                 : (g->fval > f || isnan(g->fval)))
            g->fval = f;
        break;
    case PROMQL_AGG_COUNT: g->count++; break;
    case PROMQL_AGG_STDVAR:
    case PROMQL_AGG_STDDEV:
        if (h) {
            info_ignored(a, op == PROMQL_AGG_STDVAR ? "stdvar" : "stddev", a->epos);
            break;
        }
        g->count++;
        {
            double d = f - g->fmean;
            g->fmean += d / g->count;
            g->fval += d * (f - g->fmean);
        }
        break;
    case PROMQL_AGG_QUANTILE:
        if (h) {
            info_ignored(a, "quantile", a->epos);
            break;
        }
        g->qv[g->nq++] = f;
        break;
    default: break;
    }
}

/* Final value of a group: 0 none, 1 float, 2 histogram. */
static int grp_result(struct agg_ctx *a, struct grp *g, enum promql_aggop op, double qparam,
                      double *f, struct promql_hist **h)
{
    struct pq_query *q = a->ev->q;
    if ((op == PROMQL_AGG_SUM || op == PROMQL_AGG_AVG) && g->has_float && g->has_hist) {
        pq_warn(q, a->epos, "encountered a mix of histograms and floats for aggregation");
        return 0;
    }
    if ((op == PROMQL_AGG_SUM || op == PROMQL_AGG_AVG) && g->incompatible)
        return 0;
    int k = 1;
    switch (op) {
    case PROMQL_AGG_AVG:
        if (g->has_hist) {
            struct promql_hist *r;
            if (g->incr_mean_h) {
                r = g->hmean;
                if (g->hkc)
                    promql_hist_add(&q->tmp, &r, g->hkc, false, NULL);
            } else {
                r = g->hval;
                promql_hist_div(r, g->count);
                if (g->hkc) {
                    promql_hist_div(g->hkc, g->count);
                    promql_hist_add(&q->tmp, &r, g->hkc, false, NULL);
                }
            }
            promql_hist_compact(r);
            *h = pq_keep_hist(q, r);
            k = 2;
        } else if (g->incr_mean_f) {
            *f = g->fmean + g->fkc;
        } else {
            *f = g->fval / g->count + g->fkc / g->count;
        }
        break;
    case PROMQL_AGG_SUM:
        if (g->has_hist) {
            struct promql_hist *r = g->hval;
            if (g->hkc)
                promql_hist_add(&q->tmp, &r, g->hkc, false, NULL);
            promql_hist_compact(r);
            *h = pq_keep_hist(q, r);
            k = 2;
        } else {
            *f = g->fval + g->fkc;
        }
        break;
    case PROMQL_AGG_COUNT: *f = g->count; break;
    case PROMQL_AGG_STDVAR: *f = g->fval / g->count; break;
    case PROMQL_AGG_STDDEV: *f = sqrt(g->fval / g->count); break;
    case PROMQL_AGG_QUANTILE: *f = pq_quantile(qparam, g->qv, g->nq); break;
    default: *f = g->fval; break;
    }
    if (g->reset_seen && g->not_reset_seen)
        pq_warn(q, a->epos, "conflicting counter resets during histogram aggregation");
    return k;
}

static void aggregate(struct pq_ev *ev, const struct promql_node *n, const struct pq_vec *in,
                      const struct grouping *gr, const struct fparam *fp, struct pq_vec *out)
{
    struct pq_query *q = ev->q;
    enum promql_aggop op = n->agg.op;
    struct agg_ctx a = {ev, n, n->agg.expr->pos_start, NULL, in->n};
    struct grp *groups = pq_alloc(q, (gr->n + 1) * sizeof *groups);
    double *qbuf = op == PROMQL_AGG_QUANTILE ? pq_alloc(q, (in->n + 1) * sizeof *qbuf) : NULL;
    uint32_t *qoff = op == PROMQL_AGG_QUANTILE ? pq_alloc(q, (gr->n + 1) * sizeof *qoff) : NULL;
    if (qoff) {
        /* Slab per group sized by its member count. */
        uint32_t *cnt = pq_alloc(q, (gr->n + 1) * sizeof *cnt);
        for (uint32_t si = 0; si < in->n; si++)
            cnt[gr->of[si]]++;
        for (uint32_t g = 0, off = 0; g < gr->n; off += cnt[g], g++)
            qoff[g] = off;
        pq_free(q, cnt);
    }
    pq_vec_init(ev, out);
    uint32_t *osi = pq_alloc(q, (gr->n + 1) * sizeof *osi);
    for (uint32_t g = 0; g < gr->n; g++)
        osi[g] = pq_vec_add(ev, out, gr->labels[g], false);
    for (uint32_t i = 0; i < ev->nsteps; i++) {
        pq_check_deadline(q);
        for (uint32_t g = 0; g < gr->n; g++)
            groups[g].seen = false;
        for (uint32_t si = 0; si < in->n; si++) {
            const struct pq_series *s = &in->s[si];
            if (!pq_has(s, i))
                continue;
            struct grp *g = &groups[gr->of[si]];
            const struct promql_hist *h = pq_hist_at(s, i);
            if (!g->seen)
                grp_init(&a, g, op, s->f[i], h, s->drop_name,
                         qbuf ? qbuf + qoff[gr->of[si]] : NULL);
            else
                grp_update(&a, g, op, s->f[i], h, s);
        }
        for (uint32_t g = 0; g < gr->n; g++) {
            if (!groups[g].seen)
                continue;
            double f = 0;
            struct promql_hist *h = NULL;
            int k = grp_result(&a, &groups[g], op, fp->v ? fp->v[i] : 0, &f, &h);
            if (k == 1)
                pq_vec_setf(ev, out, osi[g], i, f);
            else if (k == 2)
                pq_vec_seth(ev, out, osi[g], i, h);
            if (k)
                out->s[osi[g]].drop_name = groups[g].drop_name;
        }
        arena_reset(&q->tmp);
    }
    pq_vec_compact(q, out);
    pq_free(q, osi);
    pq_free(q, groups);
    pq_free(q, qbuf);
    pq_free(q, qoff);
}

/* ---- topk, bottomk, limitk, limit_ratio ---- */

struct hent {
    uint32_t si; /* input series */
    double f;
    const struct promql_hist *h;
};

struct kheap {
    struct hent *v;
    uint32_t n;
    bool reverse; /* bottomk's max-heap */
    bool seen, complete;
};

static bool hless(const struct kheap *hp, uint32_t i, uint32_t j)
{
    double vi = hp->v[i].f, vj = hp->v[j].f;
    if (isnan(vi))
        return true;
    return hp->reverse ? vi > vj : vi < vj;
}

static void hswap(struct kheap *hp, uint32_t i, uint32_t j)
{
    struct hent t = hp->v[i];
    hp->v[i] = hp->v[j];
    hp->v[j] = t;
}

static void heap_up(struct kheap *hp, uint32_t j)
{
    while (j > 0) {
        uint32_t i = (j - 1) / 2;
        if (!hless(hp, j, i))
            break;
        hswap(hp, i, j);
        j = i;
    }
}

static bool heap_down(struct kheap *hp, uint32_t i0)
{
    uint32_t i = i0, n = hp->n;
    for (;;) {
        uint32_t j1 = 2 * i + 1;
        if (j1 >= n)
            break;
        uint32_t j = j1;
        if (j1 + 1 < n && hless(hp, j1 + 1, j1))
            j = j1 + 1;
        if (!hless(hp, j, i))
            break;
        hswap(hp, i, j);
        i = j;
    }
    return i > i0;
}

static void heap_push(struct kheap *hp, const struct hent *e)
{
    hp->v[hp->n++] = *e;
    heap_up(hp, hp->n - 1);
}

static void heap_fix0(struct kheap *hp)
{
    if (!heap_down(hp, 0))
        heap_up(hp, 0);
}

/* sort.Sort(sort.Reverse(heap)): insertion sort for small inputs (what Go's pdqsort does),
 * a stable merge otherwise. */
static void heap_sort_reverse(struct kheap *hp)
{
    for (uint32_t i = 1; i < hp->n; i++)
        for (uint32_t j = i; j > 0 && hless(hp, j - 1, j); j--)
            hswap(hp, j, j - 1);
}

static double ratio_offset(const struct promql_lset *ls)
{
    uint8_t stackbuf[1024], *b = stackbuf;
    size_t need = 0;
    for (uint32_t i = 0; i < ls->n; i++)
        need += ls->l[i].name.len + ls->l[i].value.len + 8;
    if (need > sizeof stackbuf)
        b = malloc(need);
    if (!b)
        return 0;
    size_t o = 0;
    for (uint32_t i = 0; i < ls->n; i++) {
        const struct str *s[2] = {&ls->l[i].name, &ls->l[i].value};
        for (int k = 0; k < 2; k++) {
            size_t l = s[k]->len;
            if (l < 255) {
                b[o++] = (uint8_t)l;
            } else {
                b[o++] = 255;
                b[o++] = (uint8_t)l;
                b[o++] = (uint8_t)(l >> 8);
                b[o++] = (uint8_t)(l >> 16);
            }
            memcpy(b + o, s[k]->ptr, l);
            o += l;
        }
    }
    uint64_t hv = XXH64(b, o, 0);
    if (b != stackbuf)
        free(b);
    return (double)hv / 18446744073709551615.0;
}

static bool ratio_take(double r, double off)
{
    return (r >= 0 && off < r) || (r < 0 && off >= 1.0 + r);
}

struct kctx {
    struct pq_ev *ev;
    const struct promql_node *n;
    const struct pq_vec *in;
    const struct grouping *gr;
    struct kheap *heaps;
    double *ratio_off;
    struct pq_vec *out;
};

static void k_add(struct kctx *c, uint32_t i, const struct hent *e)
{
    const struct pq_series *s = &c->in->s[e->si];
    uint32_t o = pq_vec_series(c->ev, c->out, s->ls, s->drop_name);
    if (e->h)
        pq_vec_seth(c->ev, c->out, o, i, (struct promql_hist *)e->h);
    else
        pq_vec_setf(c->ev, c->out, o, i, e->f);
}

static void k_step(struct kctx *c, uint32_t i, double param)
{
    struct pq_query *q = c->ev->q;
    enum promql_aggop op = c->n->agg.op;
    int64_t k = 0;
    double r = 0;
    if (op == PROMQL_AGG_LIMIT_RATIO) {
        if (param == 0)
            return;
        r = param < -1 ? -1 : param > 1 ? 1 : param;
    } else {
        k = (int64_t)param;
        if (k > (int64_t)c->in->n)
            k = c->in->n;
        if (k < 1)
            return;
    }
    uint32_t remaining = c->gr->n;
    for (uint32_t g = 0; g < c->gr->n; g++)
        c->heaps[g].seen = c->heaps[g].complete = false, c->heaps[g].n = 0;
    for (uint32_t si = 0; si < c->in->n; si++) {
        const struct pq_series *s = &c->in->s[si];
        if (!pq_has(s, i))
            continue;
        struct hent e = {si, s->f[i], pq_hist_at(s, i)};
        struct kheap *hp = &c->heaps[c->gr->of[si]];
        bool first = !hp->seen;
        hp->seen = true;
        switch (op) {
        case PROMQL_AGG_LIMIT_RATIO:
            if (ratio_take(r, c->ratio_off[si]))
                heap_push(hp, &e);
            break;
        case PROMQL_AGG_LIMITK:
            if (hp->n < k)
                heap_push(hp, &e);
            if (!hp->complete && hp->n == k) {
                hp->complete = true;
                if (--remaining == 0)
                    si = c->in->n;
            }
            break;
        default:
            if (e.h) {
                if (first)
                    hp->seen = false;
                pq_info(q, c->n->pos_start, "ignored histogram in %s aggregation",
                        op == PROMQL_AGG_TOPK ? "topk" : "bottomk");
            } else if (hp->n < k) {
                heap_push(hp, &e);
            } else if (op == PROMQL_AGG_TOPK
                           ? (hp->v[0].f < e.f || (isnan(hp->v[0].f) && !isnan(e.f)))
                           : (hp->v[0].f > e.f || (isnan(hp->v[0].f) && !isnan(e.f)))) {
                hp->v[0] = e;
                if (k > 1)
                    heap_fix0(hp);
            }
            break;
        }
    }
    for (uint32_t g = 0; g < c->gr->n; g++) {
        struct kheap *hp = &c->heaps[g];
        if (!hp->seen)
            continue;
        if ((op == PROMQL_AGG_TOPK || op == PROMQL_AGG_BOTTOMK) && hp->n > 1)
            heap_sort_reverse(hp);
        for (uint32_t j = 0; j < hp->n; j++)
            k_add(c, i, &hp->v[j]);
    }
}

static void aggregate_k(struct pq_ev *ev, const struct promql_node *n, const struct pq_vec *in,
                        const struct grouping *gr, const struct fparam *fp, struct pq_vec *out)
{
    struct pq_query *q = ev->q;
    enum promql_aggop op = n->agg.op;
    pq_vec_init(ev, out);
    struct kctx c = {ev, n, in, gr, NULL, NULL, out};
    c.heaps = pq_alloc(q, (gr->n + 1) * sizeof *c.heaps);
    uint32_t *cnt = pq_alloc(q, (gr->n + 1) * sizeof *cnt);
    for (uint32_t si = 0; si < in->n; si++)
        cnt[gr->of[si]]++;
    for (uint32_t g = 0; g < gr->n; g++) {
        c.heaps[g].v = pq_alloc(q, (cnt[g] + 1) * sizeof *c.heaps[g].v);
        c.heaps[g].reverse = op == PROMQL_AGG_BOTTOMK;
    }
    pq_free(q, cnt);
    if (op == PROMQL_AGG_LIMIT_RATIO) {
        c.ratio_off = pq_alloc(q, (in->n + 1) * sizeof *c.ratio_off);
        for (uint32_t si = 0; si < in->n; si++)
            c.ratio_off[si] = ratio_offset(in->s[si].ls);
    }
    for (uint32_t i = 0; i < ev->nsteps; i++) {
        pq_check_deadline(q);
        k_step(&c, i, fp->v[i]);
    }
    for (uint32_t g = 0; g < gr->n; g++)
        pq_free(q, c.heaps[g].v);
    pq_free(q, c.heaps);
    pq_free(q, c.ratio_off);
}

/* ---- count_values ---- */

static void count_values(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    struct pq_query *q = ev->q;
    struct str vl = pq_unparen(n->agg.param)->string;
    vl = pq_strdup(q, vl.ptr, vl.len); /* results must not point into the AST */
    if (vl.len == 0 || !promql_utf8_valid(vl.ptr, vl.len))
        pq_fail(q, ERR_INVALID, "invalid label name %s", pq_q(q, vl));
    struct pq_vec in;
    pq_eval_vector(ev, n->agg.expr, &in);
    pq_vec_init(ev, out);
    struct pq_lb b = {0}, gb = {0};
    struct buf vb = BUF_INIT;
    const struct promql_labels *g = &n->agg.grouping;
    struct str *names = pq_alloc(q, (g->len + 1) * sizeof *names);
    if (g->len)
        memcpy(names, g->names, g->len * sizeof *names);
    names[g->len] = vl;
    for (uint32_t i = 0; i < ev->nsteps; i++) {
        uint32_t first = out->n;
        for (uint32_t si = 0; si < in.n; si++) {
            const struct pq_series *s = &in.s[si];
            if (!pq_has(s, i))
                continue;
            buf_reset(&vb);
            const struct promql_hist *h = pq_hist_at(s, i);
            int rc = h ? promql_hist_format(&vb, h) : promql_format_float(&vb, s->f[i]);
            if (rc)
                pq_nomem(q);
            pq_lb_reset(q, &b, s->ls);
            pq_lb_set(q, &b, vl, pq_strdup(q, (const char *)vb.data, vb.len));
            const struct promql_lset *m = pq_lb_make(q, &b);
            pq_lb_reset(q, &gb, m);
            if (n->agg.without) {
                for (uint32_t k = 0; k < g->len; k++)
                    pq_lb_del(&gb, g->names[k]);
                pq_lb_del(&gb, PQ_NAME);
            } else {
                pq_lb_keep(&gb, names, g->len + 1);
            }
            const struct promql_lset *gl = pq_lb_make(q, &gb);
            uint32_t o = first;
            while (o < out->n && !promql_lset_eq(out->s[o].ls, gl))
                o++;
            if (!out->instant)
                o = pq_vec_series(ev, out, gl, false);
            else if (o == out->n)
                o = pq_vec_add(ev, out, gl, false);
            if (!pq_has(&out->s[o], i))
                pq_vec_setf(ev, out, o, i, 1);
            else
                out->s[o].f[i]++;
        }
    }
    buf_deinit(&vb);
    pq_free(q, names);
    pq_lb_free(q, &b);
    pq_lb_free(q, &gb);
    pq_vec_free(q, &in);
}

/* ---- entry ---- */

static void check_k_params(struct pq_ev *ev, const struct promql_node *n, const struct fparam *fp,
                           bool *empty)
{
    struct pq_query *q = ev->q;
    enum promql_aggop op = n->agg.op;
    uint32_t ppos = n->agg.param->pos_start;
    *empty = false;
    if (op == PROMQL_AGG_LIMIT_RATIO) {
        if (fp->max == 0 && fp->min == 0) {
            *empty = true;
            return;
        }
        if (fp->nan)
            pq_fail(q, ERR_INVALID, "Ratio value is NaN");
        if (fp->max > 1)
            pq_warn(q, ppos, "ratio value should be between -1 and 1, got %s, capping to 1",
                    pq_g(q, fp->max));
        if (fp->min < -1)
            pq_warn(q, ppos, "ratio value should be between -1 and 1, got %s, capping to -1",
                    pq_g(q, fp->min));
        return;
    }
    if (fp->max < 1) {
        *empty = true;
        return;
    }
    if (fp->nan)
        pq_fail(q, ERR_INVALID, "Parameter value is NaN");
    if (fp->min <= -9223372036854775808.0)
        pq_fail(q, ERR_INVALID, "Scalar value %s underflows int64", pq_g(q, fp->min));
    if (fp->max >= 9223372036854774784.0)
        pq_fail(q, ERR_INVALID, "Scalar value %s overflows int64", pq_g(q, fp->max));
}

void pq_eval_agg(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    struct pq_query *q = ev->q;
    enum promql_aggop op = n->agg.op;
    if (op == PROMQL_AGG_COUNT_VALUES) {
        count_values(ev, n, out);
        return;
    }
    struct fparam fp = {0};
    bool kop = op == PROMQL_AGG_TOPK || op == PROMQL_AGG_BOTTOMK || op == PROMQL_AGG_LIMITK ||
               op == PROMQL_AGG_LIMIT_RATIO;
    if (n->agg.param)
        eval_param(ev, n->agg.param, &fp);
    struct pq_vec in;
    pq_eval_vector(ev, n->agg.expr, &in);
    bool empty = false;
    if (kop)
        check_k_params(ev, n, &fp, &empty);
    if (op == PROMQL_AGG_QUANTILE) {
        uint32_t ppos = n->agg.param->pos_start;
        if (fp.nan)
            pq_warn(q, ppos, "quantile value should be between 0 and 1, got NaN");
        if (fp.max > 1)
            pq_warn(q, ppos, "quantile value should be between 0 and 1, got %s", pq_g(q, fp.max));
        if (fp.min < 0)
            pq_warn(q, ppos, "quantile value should be between 0 and 1, got %s", pq_g(q, fp.min));
    }
    struct grouping gr;
    build_grouping(q, n, &in, &gr);
    if (empty)
        pq_vec_init(ev, out);
    else if (kop)
        aggregate_k(ev, n, &in, &gr, &fp, out);
    else
        aggregate(ev, n, &in, &gr, &fp, out);
    pq_free(q, gr.of);
    pq_free(q, gr.labels);
    pq_free(q, fp.v);
    pq_vec_free(q, &in);
}
