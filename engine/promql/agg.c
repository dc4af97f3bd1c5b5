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

/* ---- quantile (step by step: it needs every value of a group at once) ---- */

static void quantile_step(struct pq_ev *ev, const struct promql_node *n, const struct pq_vec *in,
                          const struct grouping *gr, double qv, uint32_t i, double *vals,
                          uint32_t *nval, const uint32_t *off, struct pq_vec *out,
                          const uint32_t *osi)
{
    struct pq_query *q = ev->q;
    memset(nval, 0, gr->n * sizeof *nval);
    for (uint32_t si = 0; si < in->n; si++) {
        const struct pq_series *s = &in->s[si];
        if (!pq_has(s, i))
            continue;
        if (pq_hist_at(s, i)) {
            pq_info(q, n->agg.expr->pos_start, "ignored histogram in quantile aggregation");
            continue;
        }
        uint32_t g = gr->of[si];
        vals[off[g] + nval[g]++] = s->f[i];
        if (nval[g] == 1)
            out->s[osi[g]].drop_name = s->drop_name;
        else if (s->drop_name)
            out->s[osi[g]].drop_name = true;
    }
    for (uint32_t g = 0; g < gr->n; g++)
        if (nval[g])
            pq_vec_setf(ev, out, osi[g], i, pq_quantile(qv, vals + off[g], nval[g]));
}

static void aggregate_quantile(struct pq_ev *ev, const struct promql_node *n,
                               const struct pq_vec *in, const struct grouping *gr,
                               const struct fparam *fp, struct pq_vec *out)
{
    struct pq_query *q = ev->q;
    double *vals = pq_alloc(q, (in->n + 1) * sizeof *vals);
    uint32_t *nval = pq_alloc(q, (gr->n + 1) * sizeof *nval);
    uint32_t *off = pq_alloc(q, (gr->n + 1) * sizeof *off);
    uint32_t *osi = pq_alloc(q, (gr->n + 1) * sizeof *osi);
    for (uint32_t si = 0; si < in->n; si++)
        nval[gr->of[si]]++;
    for (uint32_t g = 0, o = 0; g < gr->n; o += nval[g], g++)
        off[g] = o;
    pq_vec_init(ev, out);
    for (uint32_t g = 0; g < gr->n; g++)
        osi[g] = pq_vec_add(ev, out, gr->labels[g], false);
    for (uint32_t i = 0; i < ev->nsteps; i++) {
        pq_check_deadline(q);
        quantile_step(ev, n, in, gr, fp->v[i], i, vals, nval, off, out, osi);
    }
    pq_vec_compact(q, out);
    pq_free(q, vals);
    pq_free(q, nval);
    pq_free(q, off);
    pq_free(q, osi);
}

/* ---- streamed aggregations ---- */

static void agg_put(struct pq_sink *k, const struct pq_series *s)
{
    pq_agg_add(k->ctx, s);
}

static bool streamable_call(const struct promql_node *e)
{
    if (e->kind != PROMQL_CALL || e->call.func->ret != PROMQL_VT_VECTOR ||
        e->call.func->id == PROMQL_FN_ABSENT_OVER_TIME)
        return false;
    for (uint32_t i = 0; i < e->call.nargs; i++) {
        const struct promql_node *a = pq_unparen(e->call.args[i]);
        if (a->kind == PROMQL_MATRIX_SELECTOR || a->kind == PROMQL_SUBQUERY)
            return true;
    }
    return false;
}

/* ---- topk, bottomk, limitk, limit_ratio ---- */

/* Per (group, step) selections, filled series by series (so inputs can stream in) with Go's
 * container/heap operations, so that ties resolve exactly as in Prometheus. */
struct kent {
    const struct promql_lset *ls;
    double f;
    const struct promql_hist *h;
    bool drop;
};

struct kheap {
    struct kent *v;
    uint32_t n, cap;
    bool seen, reverse; /* reverse: bottomk's max-heap */
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
    struct kent t = hp->v[i];
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

static void heap_push(struct pq_query *q, struct kheap *hp, const struct kent *e)
{
    if (hp->n == hp->cap) {
        hp->cap = hp->cap ? hp->cap * 2 : 4;
        hp->v = pq_realloc(q, hp->v, hp->cap * sizeof *hp->v);
    }
    hp->v[hp->n++] = *e;
    heap_up(hp, hp->n - 1);
}

static void heap_fix0(struct kheap *hp)
{
    if (!heap_down(hp, 0))
        heap_up(hp, 0);
}

/* sort.Sort(sort.Reverse(heap)) as Go's pdqsort does it for small inputs (insertion sort). */
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

struct kagg {
    struct pq_ev *ev;
    const struct promql_node *n;
    enum promql_aggop op;
    const double *param;
    struct pq_groups groups;
    uint32_t capgroups;
    struct kheap *heaps; /* capgroups * nsteps */
};

static struct kheap *k_heaps(struct kagg *c, const struct promql_lset *ls)
{
    struct pq_query *q = c->ev->q;
    uint32_t ns = c->ev->nsteps, g = pq_groups_find(q, &c->groups, ls);
    if (g >= c->capgroups) {
        uint32_t cap = c->capgroups ? c->capgroups * 2 : 8;
        c->heaps = pq_realloc(q, c->heaps, (size_t)cap * ns * sizeof *c->heaps);
        memset(c->heaps + (size_t)c->capgroups * ns, 0,
               (size_t)(cap - c->capgroups) * ns * sizeof *c->heaps);
        for (size_t k = (size_t)c->capgroups * ns; k < (size_t)cap * ns; k++)
            c->heaps[k].reverse = c->op == PROMQL_AGG_BOTTOMK;
        c->capgroups = cap;
    }
    return c->heaps + (size_t)g * ns;
}

/* Offers one sample to its (group, step) selection. */
static void k_offer(struct kagg *c, struct kheap *hp, const struct kent *e, double param,
                    double roff)
{
    struct pq_query *q = c->ev->q;
    if (c->op == PROMQL_AGG_LIMIT_RATIO) {
        double r = param < -1 ? -1 : param > 1 ? 1 : param;
        if (param != 0 && ratio_take(r, roff))
            heap_push(q, hp, e);
        hp->seen |= param != 0;
        return;
    }
    int64_t k = (int64_t)param;
    if (k < 1)
        return;
    bool first = !hp->seen;
    hp->seen = true;
    if (c->op == PROMQL_AGG_LIMITK) {
        if (hp->n < k)
            heap_push(q, hp, e);
        return;
    }
    if (e->h) {
        if (first)
            hp->seen = false;
        pq_info(q, c->n->pos_start, "ignored histogram in %s aggregation",
                c->op == PROMQL_AGG_TOPK ? "topk" : "bottomk");
    } else if (hp->n < k) {
        heap_push(q, hp, e);
    } else if (c->op == PROMQL_AGG_TOPK
                   ? (hp->v[0].f < e->f || (isnan(hp->v[0].f) && !isnan(e->f)))
                   : (hp->v[0].f > e->f || (isnan(hp->v[0].f) && !isnan(e->f)))) {
        hp->v[0] = *e;
        if (k > 1)
            heap_fix0(hp);
    }
}

static void kagg_add(struct kagg *c, const struct pq_series *s)
{
    struct kheap *hs = k_heaps(c, s->ls);
    double roff = c->op == PROMQL_AGG_LIMIT_RATIO ? ratio_offset(s->ls) : 0;
    uint32_t ns = c->ev->nsteps;
    for (uint32_t w = 0; w < (ns + 63) / 64; w++)
        for (uint64_t bits = s->bits[w]; bits; bits &= bits - 1) {
            uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bits);
            struct kent e = {s->ls, s->f[i], pq_hist_at(s, i), s->drop_name};
            k_offer(c, &hs[i], &e, c->param[i], roff);
        }
}

static void kagg_finish(struct kagg *c, struct pq_vec *out)
{
    struct pq_ev *ev = c->ev;
    uint32_t ns = ev->nsteps;
    pq_vec_init(ev, out);
    for (uint32_t i = 0; i < ns; i++)
        for (uint32_t g = 0; g < c->groups.n_groups; g++) {
            struct kheap *hp = &c->heaps[(size_t)g * ns + i];
            if ((c->op == PROMQL_AGG_TOPK || c->op == PROMQL_AGG_BOTTOMK) && hp->n > 1)
                heap_sort_reverse(hp);
            for (uint32_t j = 0; j < hp->n; j++) {
                uint32_t o = pq_vec_series(ev, out, hp->v[j].ls, hp->v[j].drop);
                if (hp->v[j].h)
                    pq_vec_seth(ev, out, o, i, (struct promql_hist *)hp->v[j].h);
                else
                    pq_vec_setf(ev, out, o, i, hp->v[j].f);
            }
            pq_free(ev->q, hp->v);
        }
    pq_free(ev->q, c->heaps);
    pq_groups_free(ev->q, &c->groups);
}

static void kagg_put(struct pq_sink *k, const struct pq_series *s)
{
    kagg_add(k->ctx, s);
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

/* Runs the aggregation's input, handing its series to k one by one (streamed when the input
 * is a selector or a range-vector function). */
static void feed(struct pq_ev *ev, const struct promql_node *n, struct pq_sink *k)
{
    struct pq_query *q = ev->q;
    const struct promql_node *e = pq_unparen(n->agg.expr);
    struct pq_vec in;
    if (e->kind == PROMQL_VECTOR_SELECTOR) {
        pq_eval_vector_selector(ev, e, &in, PQ_SEL_VALUES, k);
    } else if (streamable_call(e)) {
        pq_eval_range_call(ev, e, &in, k);
    } else {
        pq_eval_vector(ev, e, &in);
        for (uint32_t si = 0; si < in.n; si++)
            k->put(k, &in.s[si]);
    }
    pq_vec_free(q, &in);
}

static void aggregate_k(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    struct pq_query *q = ev->q;
    struct fparam fp;
    eval_param(ev, n->agg.param, &fp);
    /* Parameter values int64 cannot hold are only reported after the input ran (as
     * Prometheus does); meanwhile they select nothing. */
    double *param = pq_alloc(q, ev->nsteps * sizeof *param);
    for (uint32_t i = 0; i < ev->nsteps; i++) {
        double v = fp.v[i];
        param[i] = isnan(v) ? 0 : v > 9.2e18 ? 9.2e18 : v < -9.2e18 ? -9.2e18 : v;
    }
    struct kagg c = {ev, n, n->agg.op, param, {.n = n}, 0, NULL};
    struct pq_sink k = {kagg_put, &c};
    feed(ev, n, &k);
    bool empty;
    check_k_params(ev, n, &fp, &empty);
    kagg_finish(&c, out);
    if (empty) {
        pq_vec_free(q, out);
        pq_vec_init(ev, out);
    }
    pq_free(q, param);
    pq_free(q, fp.v);
}

void pq_eval_agg(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    struct pq_query *q = ev->q;
    enum promql_aggop op = n->agg.op;
    if (op == PROMQL_AGG_COUNT_VALUES) {
        count_values(ev, n, out);
        return;
    }
    if (pq_agg_streamable(op)) {
        struct pq_agg *a = pq_agg_new(ev, n);
        struct pq_sink k = {agg_put, a};
        feed(ev, n, &k);
        pq_agg_finish(a, out);
        return;
    }
    if (op != PROMQL_AGG_QUANTILE) {
        aggregate_k(ev, n, out);
        return;
    }
    struct fparam fp;
    eval_param(ev, n->agg.param, &fp);
    struct pq_vec in;
    pq_eval_vector(ev, n->agg.expr, &in);
    uint32_t ppos = n->agg.param->pos_start;
    if (fp.nan)
        pq_warn(q, ppos, "quantile value should be between 0 and 1, got NaN");
    if (fp.max > 1)
        pq_warn(q, ppos, "quantile value should be between 0 and 1, got %s", pq_g(q, fp.max));
    if (fp.min < 0)
        pq_warn(q, ppos, "quantile value should be between 0 and 1, got %s", pq_g(q, fp.min));
    struct grouping gr;
    build_grouping(q, n, &in, &gr);
    aggregate_quantile(ev, n, &in, &gr, &fp, out);
    pq_free(q, gr.of);
    pq_free(q, gr.labels);
    pq_free(q, fp.v);
    pq_vec_free(q, &in);
}
