/* Series-major aggregation for sum, avg, count, group, min, max, stddev and stdvar: input series
 * are folded one at a time into per-(group, step) states, so producers can stream series into
 * it (pq_sink) without materializing their output, and every step still sees the series in input
 * order — the summation order, and so the float results, are Prometheus's exactly. Float states
 * are compact; histogram states are allocated per group only when a group meets a histogram. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/promql/eval_internal.h"

enum {
    F_SEEN = 1 << 0,
    F_FLOAT = 1 << 1,
    F_HIST = 1 << 2,
    F_INCOMPAT = 1 << 3,
    F_INCR_F = 1 << 4,
    F_INCR_H = 1 << 5,
    F_RESET = 1 << 6,
    F_NOT_RESET = 1 << 7,
    F_DROP = 1 << 8,
};

/* Float state of one (group, step): v is the sum, value or aux; c the Kahan compensation; mean
 * the running mean; count the samples. */
struct gpt {
    double v, c, mean, count;
    uint16_t flags;
};

struct ghist {
    struct promql_hist *val, *kc, *mean;
};

struct pq_agg {
    struct pq_ev *ev;
    const struct promql_node *n;
    enum promql_aggop op;
    uint32_t epos;
    struct pq_groups groups;
    uint32_t capgroups;
    struct gpt *pts;     /* groups * nsteps */
    struct ghist **hist; /* per group: nsteps states or NULL */
};

bool pq_agg_streamable(enum promql_aggop op)
{
    switch (op) {
    case PROMQL_AGG_SUM:
    case PROMQL_AGG_AVG:
    case PROMQL_AGG_COUNT:
    case PROMQL_AGG_GROUP:
    case PROMQL_AGG_MIN:
    case PROMQL_AGG_MAX:
    case PROMQL_AGG_STDDEV:
    case PROMQL_AGG_STDVAR: return true;
    default: return false;
    }
}

struct pq_agg *pq_agg_new(struct pq_ev *ev, const struct promql_node *n)
{
    struct pq_agg *a = pq_alloc(ev->q, sizeof *a);
    a->ev = ev;
    a->n = n;
    a->op = n->agg.op;
    a->epos = n->agg.expr->pos_start;
    a->groups.n = n;
    return a;
}

/* ---- groups ---- */

static const struct promql_lset *group_labels(struct pq_query *q, struct pq_groups *g,
                                              const struct promql_lset *ls)
{
    const struct promql_labels *by = &g->n->agg.grouping;
    pq_lb_reset(q, &g->lb, ls);
    if (g->n->agg.without) {
        for (uint32_t i = 0; i < by->len; i++)
            pq_lb_del(&g->lb, by->names[i]);
        pq_lb_del(&g->lb, PQ_NAME);
    } else {
        pq_lb_keep(&g->lb, by->names, by->len);
    }
    return pq_lb_make(q, &g->lb);
}

static void map_put(struct pq_groups *g, uint32_t k)
{
    uint32_t mask = g->map_cap - 1;
    uint32_t i = (uint32_t)g->labels[k]->hash & mask;
    while (g->map[i])
        i = (i + 1) & mask;
    g->map[i] = k + 1;
}

uint32_t pq_groups_find(struct pq_query *q, struct pq_groups *g, const struct promql_lset *series)
{
    const struct promql_lset *ls = group_labels(q, g, series);
    if (g->map_cap) {
        uint32_t mask = g->map_cap - 1;
        for (uint32_t i = (uint32_t)ls->hash & mask; g->map[i]; i = (i + 1) & mask)
            if (promql_lset_eq(g->labels[g->map[i] - 1], ls))
                return g->map[i] - 1;
    }
    if (g->n_groups == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 8;
        g->labels = pq_realloc(q, g->labels, g->cap * sizeof *g->labels);
    }
    uint32_t k = g->n_groups++;
    g->labels[k] = ls;
    if (g->n_groups * 2 > g->map_cap) {
        pq_free(q, g->map);
        g->map_cap = g->map_cap ? g->map_cap * 2 : 64;
        g->map = pq_alloc(q, g->map_cap * sizeof *g->map);
        for (uint32_t j = 0; j < g->n_groups; j++)
            map_put(g, j);
    } else {
        map_put(g, k);
    }
    return k;
}

void pq_groups_free(struct pq_query *q, struct pq_groups *g)
{
    pq_free(q, g->labels);
    pq_free(q, g->map);
    pq_lb_free(q, &g->lb);
    memset(g, 0, sizeof *g);
}

/* The group of a series, growing the per-group states when it is new. */
static uint32_t find_group(struct pq_agg *a, const struct promql_lset *series)
{
    struct pq_query *q = a->ev->q;
    uint32_t ns = a->ev->nsteps, g = pq_groups_find(q, &a->groups, series);
    if (g < a->capgroups)
        return g;
    uint32_t cap = a->capgroups ? a->capgroups * 2 : 8;
    a->hist = pq_realloc(q, a->hist, cap * sizeof *a->hist);
    a->pts = pq_realloc(q, a->pts, (size_t)cap * ns * sizeof *a->pts);
    memset(a->pts + (size_t)a->capgroups * ns, 0,
           (size_t)(cap - a->capgroups) * ns * sizeof *a->pts);
    memset(a->hist + a->capgroups, 0, (cap - a->capgroups) * sizeof *a->hist);
    a->capgroups = cap;
    return g;
}

/* ---- folding ---- */

static void info_ignored(struct pq_agg *a)
{
    static const char *const names[] = {[PROMQL_AGG_MIN] = "min",
                                        [PROMQL_AGG_MAX] = "max",
                                        [PROMQL_AGG_STDDEV] = "stddev",
                                        [PROMQL_AGG_STDVAR] = "stdvar"};
    pq_info(a->ev->q, a->epos, "ignored histogram in %s aggregation", names[a->op]);
}

static void track(struct gpt *p, const struct promql_hist *h)
{
    if (h->hint == PROMQL_HINT_RESET)
        p->flags |= F_RESET;
    else if (h->hint == PROMQL_HINT_NOT_RESET)
        p->flags |= F_NOT_RESET;
}

static struct promql_hist *hcopy(struct pq_query *q, const struct promql_hist *h)
{
    struct promql_hist *c = promql_hist_copy(&q->arena, h);
    if (!c)
        pq_nomem(q);
    return c;
}

static struct ghist *hist_state(struct pq_agg *a, uint32_t g, uint32_t i)
{
    if (!a->hist[g])
        a->hist[g] = pq_alloc(a->ev->q, a->ev->nsteps * sizeof *a->hist[g]);
    return &a->hist[g][i];
}

/* Kahan-adds h into (*v, *c); false (and the warning) on incompatible schemas. */
static bool kahan_hist(struct pq_agg *a, struct promql_hist **v, struct promql_hist **c,
                       const struct promql_hist *h, const struct promql_lset *ls)
{
    struct pq_query *q = a->ev->q;
    struct promql_hist_addinfo info;
    int rc = promql_hist_kahan_add(&q->arena, v, c, h, &info);
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

static void point_init(struct pq_agg *a, struct gpt *p, uint32_t g, uint32_t i, double f,
                       const struct promql_hist *h, bool drop)
{
    *p = (struct gpt){f, 0, f, 1, (uint16_t)(F_SEEN | (drop ? F_DROP : 0))};
    switch (a->op) {
    case PROMQL_AGG_SUM:
    case PROMQL_AGG_AVG:
        if (!h) {
            p->flags |= F_FLOAT;
            break;
        }
        *hist_state(a, g, i) = (struct ghist){hcopy(a->ev->q, h), NULL, NULL};
        p->flags |= F_HIST;
        track(p, h);
        break;
    case PROMQL_AGG_STDVAR:
    case PROMQL_AGG_STDDEV:
        if (h) {
            p->flags &= (uint16_t)~F_SEEN;
            info_ignored(a);
        } else {
            p->v = isnan(f) || isinf(f) ? NAN : 0;
        }
        break;
    case PROMQL_AGG_GROUP: p->v = 1; break;
    case PROMQL_AGG_MIN:
    case PROMQL_AGG_MAX:
        if (h) {
            p->flags &= (uint16_t)~F_SEEN;
            info_ignored(a);
        }
        break;
    default: break;
    }
}

static void avg_float(struct gpt *p, double f)
{
    if (!(p->flags & F_INCR_F)) {
        double nv = p->v, nc = p->c;
        pq_kahan_inc(f, &nv, &nc);
        if (!isinf(nv)) {
            p->v = nv;
            p->c = nc;
            return;
        }
        p->flags |= F_INCR_F;
        p->mean = p->v / (p->count - 1);
        p->c /= p->count - 1;
    }
    double qf = (p->count - 1) / p->count;
    p->mean *= qf;
    p->c *= qf;
    pq_kahan_inc(f / p->count, &p->mean, &p->c);
}

static void avg_hist(struct pq_agg *a, struct gpt *p, struct ghist *s, const struct promql_hist *h,
                     const struct promql_lset *ls)
{
    struct pq_query *q = a->ev->q;
    if (!(p->flags & F_INCR_H)) {
        struct promql_hist *v = hcopy(q, s->val), *c = s->kc ? hcopy(q, s->kc) : NULL;
        if (!kahan_hist(a, &v, &c, h, ls)) {
            p->flags |= F_INCOMPAT;
            return;
        }
        if (!promql_hist_has_overflow(v)) {
            s->val = v;
            s->kc = c;
            return;
        }
        p->flags |= F_INCR_H;
        s->mean = hcopy(q, s->val);
        promql_hist_div(s->mean, p->count - 1);
        if (s->kc)
            promql_hist_div(s->kc, p->count - 1);
    }
    double qf = (p->count - 1) / p->count;
    if (s->kc)
        promql_hist_mul(s->kc, qf);
    struct promql_hist *add = hcopy(q, h);
    promql_hist_div(add, p->count);
    promql_hist_mul(s->mean, qf);
    if (!kahan_hist(a, &s->mean, &s->kc, add, ls))
        p->flags |= F_INCOMPAT;
}

static void sum_avg(struct pq_agg *a, struct gpt *p, uint32_t g, uint32_t i, double f,
                    const struct promql_hist *h, const struct promql_lset *ls)
{
    if (a->op == PROMQL_AGG_AVG)
        p->count++;
    if (!h) {
        p->flags |= F_FLOAT;
        if (a->op == PROMQL_AGG_SUM)
            pq_kahan_inc(f, &p->v, &p->c);
        else
            avg_float(p, f);
        return;
    }
    p->flags |= F_HIST;
    struct ghist *s = a->hist[g] ? &a->hist[g][i] : NULL;
    if (!s || !s->val)
        return; /* the group started with floats: the mix is reported at the end */
    track(p, h);
    if (a->op == PROMQL_AGG_AVG)
        avg_hist(a, p, s, h, ls);
    else if (!kahan_hist(a, &s->val, &s->kc, h, ls))
        p->flags |= F_INCOMPAT;
}

static void point_update(struct pq_agg *a, struct gpt *p, uint32_t g, uint32_t i, double f,
                         const struct promql_hist *h, const struct pq_series *s)
{
    if (p->flags & F_INCOMPAT)
        return;
    if (s->drop_name)
        p->flags |= F_DROP;
    switch (a->op) {
    case PROMQL_AGG_SUM:
    case PROMQL_AGG_AVG: sum_avg(a, p, g, i, f, h, s->ls); break;
    case PROMQL_AGG_MAX:
    case PROMQL_AGG_MIN:
        if (h) {
            info_ignored(a);
            break;
        }
        if (a->op == PROMQL_AGG_MAX ? (p->v < f || isnan(p->v)) : (p->v > f || isnan(p->v)))
            p->v = f;
        break;
    case PROMQL_AGG_COUNT: p->count++; break;
    case PROMQL_AGG_STDVAR:
    case PROMQL_AGG_STDDEV:
        if (h) {
            info_ignored(a);
            break;
        }
        p->count++;
        double d = f - p->mean;
        p->mean += d / p->count;
        p->v += d * (f - p->mean);
        break;
    default: break;
    }
}

void pq_agg_add(struct pq_agg *a, const struct pq_series *s)
{
    uint32_t g = find_group(a, s->ls), ns = a->ev->nsteps;
    struct gpt *pts = a->pts + (size_t)g * ns;
    for (uint32_t w = 0; w < (ns + 63) / 64; w++) {
        for (uint64_t bits = s->bits[w]; bits; bits &= bits - 1) {
            uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bits);
            const struct promql_hist *h = pq_hist_at(s, i);
            if (!(pts[i].flags & F_SEEN))
                point_init(a, &pts[i], g, i, s->f[i], h, s->drop_name);
            else
                point_update(a, &pts[i], g, i, s->f[i], h, s);
        }
    }
}

/* ---- results ---- */

static int hist_result(struct pq_agg *a, struct gpt *p, struct ghist *s, struct promql_hist **h)
{
    struct pq_query *q = a->ev->q;
    struct promql_hist *r;
    if (a->op == PROMQL_AGG_AVG && (p->flags & F_INCR_H)) {
        r = s->mean;
        if (s->kc)
            promql_hist_add(&q->arena, &r, s->kc, false, NULL);
    } else {
        r = s->val;
        if (a->op == PROMQL_AGG_AVG)
            promql_hist_div(r, p->count);
        if (s->kc) {
            if (a->op == PROMQL_AGG_AVG)
                promql_hist_div(s->kc, p->count);
            promql_hist_add(&q->arena, &r, s->kc, false, NULL);
        }
    }
    promql_hist_compact(r);
    *h = r;
    return 2;
}

/* Final value of a point: 0 none, 1 float, 2 histogram. */
static int point_result(struct pq_agg *a, struct gpt *p, struct ghist *s, double *f,
                        struct promql_hist **h)
{
    struct pq_query *q = a->ev->q;
    bool sumavg = a->op == PROMQL_AGG_SUM || a->op == PROMQL_AGG_AVG;
    if (sumavg && (p->flags & F_FLOAT) && (p->flags & F_HIST)) {
        pq_warn(q, a->epos, "encountered a mix of histograms and floats for aggregation");
        return 0;
    }
    if (sumavg && (p->flags & F_INCOMPAT))
        return 0;
    int k = 1;
    switch (a->op) {
    case PROMQL_AGG_AVG:
    case PROMQL_AGG_SUM:
        if (p->flags & F_HIST)
            k = hist_result(a, p, s, h);
        else if (a->op == PROMQL_AGG_SUM)
            *f = p->v + p->c;
        else if (p->flags & F_INCR_F)
            *f = p->mean + p->c;
        else
            *f = p->v / p->count + p->c / p->count;
        break;
    case PROMQL_AGG_COUNT: *f = p->count; break;
    case PROMQL_AGG_STDVAR: *f = p->v / p->count; break;
    case PROMQL_AGG_STDDEV: *f = sqrt(p->v / p->count); break;
    default: *f = p->v; break;
    }
    if ((p->flags & F_RESET) && (p->flags & F_NOT_RESET))
        pq_warn(q, a->epos, "conflicting counter resets during histogram aggregation");
    return k;
}

void pq_agg_finish(struct pq_agg *a, struct pq_vec *out)
{
    struct pq_ev *ev = a->ev;
    struct pq_query *q = ev->q;
    uint32_t ns = ev->nsteps;
    pq_vec_init(ev, out);
    for (uint32_t g = 0; g < a->groups.n_groups; g++) {
        uint32_t o = UINT32_MAX;
        for (uint32_t i = 0; i < ns; i++) {
            struct gpt *p = &a->pts[(size_t)g * ns + i];
            if (!(p->flags & F_SEEN))
                continue;
            double f = 0;
            struct promql_hist *h = NULL;
            int k = point_result(a, p, a->hist[g] ? &a->hist[g][i] : NULL, &f, &h);
            if (!k)
                continue;
            if (o == UINT32_MAX)
                o = pq_vec_add(ev, out, a->groups.labels[g], false);
            if (k == 1)
                pq_vec_setf(ev, out, o, i, f);
            else
                pq_vec_seth(ev, out, o, i, h);
            out->s[o].drop_name = (p->flags & F_DROP) != 0;
        }
        pq_free(q, a->hist[g]);
    }
    pq_free(q, a->pts);
    pq_free(q, a->hist);
    pq_groups_free(q, &a->groups);
    pq_free(q, a);
}
