/* Histogram functions: histogram_count/sum/avg/stddev/stdvar on native histograms, and
 * histogram_quantile(s) and histogram_fraction on native histograms and on classic `le` bucket
 * series (grouped by their labels without `le`, monotonicity enforced as Prometheus does). */
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/promql/eval_internal.h"
#include "engine/promql/print.h"

static const struct str LE = {"le", 2};

static bool almost_equal(double a, double b, double eps)
{
    const double min_normal = 2.2250738585072014e-308;
    if (isnan(a) && isnan(b))
        return true;
    if (a == b)
        return true;
    double abs_sum = fabs(a) + fabs(b), diff = fabs(a - b);
    if (a == 0 || b == 0 || abs_sum < min_normal)
        return diff < eps * min_normal;
    return diff / fmin(abs_sum, DBL_MAX) < eps;
}

/* strconv.ParseFloat: decimal or hex floats, inf/infinity/nan in any case, optional sign; out of
 * range is an error. */
static bool parse_go_float(struct str s, double *out)
{
    char buf[128];
    if (s.len == 0 || s.len >= sizeof buf)
        return false;
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = 0;
    const char *p = buf;
    if (*p == '+' || *p == '-')
        p++;
    if (!strcasecmp(p, "inf") || !strcasecmp(p, "infinity") || !strcasecmp(p, "nan")) {
        *out = strtod(buf, NULL);
        if (!strcasecmp(p, "nan"))
            *out = NAN;
        return true;
    }
    bool hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
    for (const char *c = p; *c; c++)
        if (!(isxdigit((unsigned char)*c) || *c == '.' || *c == 'e' || *c == 'E' || *c == 'p' ||
              *c == 'P' || *c == '+' || *c == '-' || *c == 'x' || *c == 'X'))
            return false;
    if (!isdigit((unsigned char)p[0]) && p[0] != '.')
        return false;
    char *end;
    double v = strtod(buf, &end);
    if (*end || end == buf || (hex && !strpbrk(p, "pP") && strchr(p, '.')))
        return false;
    if (isinf(v))
        return false;
    *out = v;
    return true;
}

/* ---- classic buckets ---- */

struct bucket {
    double upper, count;
};

static int bucket_cmp(const void *a, const void *b)
{
    double x = ((const struct bucket *)a)->upper, y = ((const struct bucket *)b)->upper;
    return (x > y) - (x < y);
}

static uint32_t coalesce(struct bucket *b, uint32_t n)
{
    uint32_t k = 0;
    for (uint32_t i = 1; i < n; i++) {
        if (b[i].upper == b[k].upper)
            b[k].count += b[i].count;
        else
            b[++k] = b[i];
    }
    return n ? k + 1 : 0;
}

struct mono {
    bool forced;
    double min_bucket, max_bucket, max_diff;
};

static void ensure_monotonic(struct bucket *b, uint32_t n, struct mono *m)
{
    m->forced = false;
    m->min_bucket = INFINITY;
    m->max_bucket = -INFINITY;
    m->max_diff = 0;
    double prev = b[0].count;
    for (uint32_t i = 1; i < n; i++) {
        double cur = b[i].count;
        if (cur == prev)
            continue;
        if (almost_equal(prev, cur, 1e-12)) {
            b[i].count = prev;
            continue;
        }
        if (cur < prev) {
            b[i].count = prev;
            m->forced = true;
            m->min_bucket = fmin(m->min_bucket, b[i].upper);
            m->max_bucket = fmax(m->max_bucket, b[i].upper);
            if (prev - cur > m->max_diff)
                m->max_diff = prev - cur;
            continue;
        }
        prev = cur;
    }
}

static double bucket_quantile(double q, struct bucket *b, uint32_t n, struct mono *m)
{
    m->forced = false;
    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(b, n, sizeof *b, bucket_cmp);
    if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0))
        return NAN;
    n = coalesce(b, n);
    ensure_monotonic(b, n, m);
    if (n < 2)
        return NAN;
    double obs = b[n - 1].count;
    if (obs == 0)
        return NAN;
    double rank = q * obs;
    uint32_t i = 0;
    while (i < n - 1 && !(b[i].count >= rank))
        i++;
    if (i == n - 1)
        return b[n - 2].upper;
    if (i == 0 && b[0].upper <= 0)
        return b[0].upper;
    double start = 0, end = b[i].upper, count = b[i].count;
    if (i > 0) {
        start = b[i - 1].upper;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}

static double bucket_fraction(double lower, double upper, struct bucket *b, uint32_t n)
{
    qsort(b, n, sizeof *b, bucket_cmp);
    if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0))
        return NAN;
    n = coalesce(b, n);
    double count = b[n - 1].count;
    if (count == 0 || isnan(lower) || isnan(upper))
        return NAN;
    if (lower >= upper)
        return 0;
    double rank = 0, lrank = 0, urank = 0;
    bool lset = false, uset = false;
    double lb = b[0].upper <= 0 ? -INFINITY : 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0)
            lb = b[i - 1].upper;
        double ub = b[i].upper;
#define INTERP(v)                                                                                  \
    (isinf(lb) && lb < 0 ? b[i].count : rank + (b[i].count - rank) * ((v)-lb) / (ub - lb))
        if (!lset && lb >= lower) {
            lrank = rank;
            lset = true;
        }
        if (!uset && lb >= upper) {
            urank = rank;
            uset = true;
        }
        if (lset && uset)
            break;
        if (!lset && lb < lower && ub > lower) {
            lrank = INTERP(lower);
            lset = true;
        }
        if (!uset && lb < upper && ub > upper) {
            urank = INTERP(upper);
            uset = true;
        }
#undef INTERP
        if (lset && uset)
            break;
        rank = b[i].count;
    }
    if (!lset || lrank > count)
        lrank = count;
    if (!uset || urank > count)
        urank = count;
    return (urank - lrank) / count;
}

/* ---- native histograms ---- */

static double fraction_below(const struct promql_bucket *b, double v, bool linear)
{
    if (linear)
        return (v - b->lower) / (b->upper - b->lower);
    double ll = log2(fabs(b->lower)), lu = log2(fabs(b->upper)), lv = log2(fabs(v));
    if (v > 0)
        return (lv - ll) / (lu - ll);
    return 1 - ((lv - lu) / (ll - lu));
}

struct hq {
    struct pq_query *q;
    uint32_t pos;
    const char *metric; /* quoted name or NULL */
};

static void hq_info(const struct hq *c, const char *what)
{
    if (c->metric)
        pq_info(c->q, c->pos, "%s for metric name %s", what, c->metric);
    else
        pq_info(c->q, c->pos, "%s", what);
}

static double hist_quantile(const struct hq *c, double q, const struct promql_hist *h)
{
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    if (h->count == 0 || isnan(q))
        return NAN;
    bool fwd = isnan(h->sum) || q < 0.5;
    struct promql_hist_iter it;
    promql_hist_iter_init(&it, h, !fwd);
    double rank = fwd ? q * h->count : (1 - q) * h->count, count = 0;
    struct promql_bucket b = {0};
    while (promql_hist_iter_next(&it)) {
        b = it.b;
        if (b.count == 0)
            continue;
        count += b.count;
        if (count >= rank)
            break;
    }
    bool custom = promql_hist_is_custom(h);
    bool no_neg = true, no_pos = true;
    for (uint32_t i = 0; i < h->n_len; i++)
        no_neg &= h->n[i] == 0;
    for (uint32_t i = 0; i < h->p_len; i++)
        no_pos &= h->p[i] == 0;
    if (!custom && b.lower < 0 && b.upper > 0) {
        if (no_neg && !no_pos)
            b.lower = 0;
        else if (no_pos && !no_neg)
            b.upper = 0;
    } else if (custom) {
        if (isinf(b.lower) && b.lower < 0) {
            if (b.upper <= 0)
                return b.upper;
            b.lower = 0;
        } else if (isinf(b.upper) && b.upper > 0) {
            return b.lower;
        }
    }
    if (count > h->count)
        count = h->count;
    if (count < rank) {
        if (isnan(h->sum)) {
            hq_info(c, "input to histogram_quantile has NaN observations, result is NaN");
            return NAN;
        }
        return b.upper;
    }
    if (fwd)
        rank -= count - b.count;
    else
        rank = count - rank;
    if (isnan(h->sum)) {
        while (promql_hist_iter_next(&it))
            count += it.b.count;
        if (count < h->count)
            hq_info(c, "input to histogram_quantile has NaN observations, result is skewed higher");
    }
    double frac = rank / b.count;
    if (custom || (b.lower <= 0 && b.upper >= 0))
        return b.lower + (b.upper - b.lower) * frac;
    double ll = log2(fabs(b.lower)), lu = log2(fabs(b.upper));
    if (b.lower > 0)
        return exp2(ll + (lu - ll) * frac);
    return -exp2(lu + (ll - lu) * (1 - frac));
}

static double hist_fraction(const struct hq *c, double lower, double upper,
                            const struct promql_hist *h)
{
    if (h->count == 0 || isnan(lower) || isnan(upper))
        return NAN;
    if (lower >= upper)
        return 0;
    bool custom = promql_hist_is_custom(h), no_neg = true, no_pos = true;
    for (uint32_t i = 0; i < h->n_len; i++)
        no_neg &= h->n[i] == 0;
    for (uint32_t i = 0; i < h->p_len; i++)
        no_pos &= h->p[i] == 0;
    double count = 0, rank = 0, lrank = 0, urank = 0;
    bool lset = false, uset = false;
    struct promql_hist_iter it;
    promql_hist_iter_init(&it, h, false);
    while (promql_hist_iter_next(&it)) {
        struct promql_bucket b = it.b;
        count += b.count;
        bool zero = false;
        if (b.lower <= 0 && b.upper >= 0) {
            zero = true;
            if (no_neg && !no_pos)
                b.lower = 0;
            else if (no_pos && !no_neg)
                b.upper = 0;
        }
        bool linear = custom || zero;
#define INTERP(v)                                                                                  \
    (linear && isinf(b.lower) && b.lower < 0 ? b.count                                             \
                                             : rank + b.count * fraction_below(&b, (v), linear))
        if (!lset && b.lower >= lower) {
            lrank = rank;
            lset = true;
        }
        if (!uset && b.lower >= upper) {
            urank = rank;
            uset = true;
        }
        if (lset && uset)
            break;
        if (!lset && b.lower < lower && b.upper > lower) {
            lrank = INTERP(lower);
            lset = true;
        }
        if (!uset && b.lower < upper && b.upper > upper) {
            urank = INTERP(upper);
            uset = true;
        }
#undef INTERP
        if (lset && uset)
            break;
        rank += b.count;
    }
    if (isnan(h->sum)) {
        while (promql_hist_iter_next(&it))
            count += it.b.count;
        if (count < h->count)
            hq_info(c, "input to histogram_fraction has NaN observations, which are excluded "
                       "from all fractions");
    } else {
        count = h->count;
    }
    if (!lset || lrank > count)
        lrank = count;
    if (!uset || urank > count)
        urank = count;
    return (urank - lrank) / h->count;
}

static double hist_variance(const struct promql_hist *h, bool sq)
{
    double mean = h->sum / h->count, var = 0, cv = 0;
    struct promql_hist_iter it;
    promql_hist_iter_init(&it, h, false);
    while (promql_hist_iter_next(&it)) {
        const struct promql_bucket *b = &it.b;
        if (b->count == 0)
            continue;
        double v;
        if (promql_hist_is_custom(h))
            v = (b->upper + b->lower) / 2.0;
        else if (b->lower <= 0 && b->upper >= 0)
            v = 0;
        else {
            v = sqrt(b->upper * b->lower);
            if (b->upper < 0)
                v = -v;
        }
        double d = v - mean;
        pq_kahan_inc(b->count * d * d, &var, &cv);
    }
    var = (var + cv) / h->count;
    return sq ? sqrt(var) : var;
}

/* ---- evaluation ---- */

static void eval_simple(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    struct pq_query *q = ev->q;
    enum promql_func_id id = n->call.func->id;
    struct pq_vec in;
    pq_eval_vector(ev, pq_unparen(n->call.args[0]), &in);
    pq_vec_init(ev, out);
    for (uint32_t si = 0; si < in.n; si++) {
        const struct pq_series *s = &in.s[si];
        uint32_t o = UINT32_MAX;
        for (uint32_t i = 0; i < ev->nsteps; i++) {
            const struct promql_hist *h = pq_has(s, i) ? pq_hist_at(s, i) : NULL;
            if (!h)
                continue;
            double v = id == PROMQL_FN_HISTOGRAM_COUNT ? h->count
                       : id == PROMQL_FN_HISTOGRAM_SUM ? h->sum
                       : id == PROMQL_FN_HISTOGRAM_AVG
                           ? h->sum / h->count
                           : hist_variance(h, id == PROMQL_FN_HISTOGRAM_STDDEV);
            if (o == UINT32_MAX) {
                const struct promql_lset *ls = s->ls;
                if (q->o.keep_name_early) {
                    struct pq_lb b = {0};
                    pq_lb_reset(q, &b, ls);
                    pq_lb_del(&b, PQ_NAME);
                    ls = pq_lb_make(q, &b);
                    pq_lb_free(q, &b);
                }
                o = pq_vec_series(ev, out, ls, true);
            }
            pq_vec_setf(ev, out, o, i, v);
        }
    }
    pq_vec_free(q, &in);
}

/* Classic bucket grouping of the input series: per series its `le` bound and group. */
struct groups {
    uint32_t *group; /* per input series: group index, or UINT32_MAX (not a bucket) */
    double *le;      /* per input series */
    bool *bad_le;    /* per input series: float sample with a malformed le */
    const struct promql_lset **glabels; /* per group: labels without le */
    uint32_t ngroups;
    uint32_t *native_group; /* per input series: the group of its labels, or UINT32_MAX */
};

static void build_groups(struct pq_query *q, const struct pq_vec *in, struct groups *g)
{
    g->group = pq_alloc(q, (in->n + 1) * sizeof *g->group);
    g->native_group = pq_alloc(q, (in->n + 1) * sizeof *g->native_group);
    g->le = pq_alloc(q, (in->n + 1) * sizeof *g->le);
    g->bad_le = pq_alloc(q, (in->n + 1) * sizeof *g->bad_le);
    g->glabels = pq_alloc(q, (in->n + 1) * sizeof *g->glabels);
    g->ngroups = 0;
    struct pq_lb b = {0};
    for (uint32_t si = 0; si < in->n; si++) {
        const struct promql_lset *ls = in->s[si].ls;
        g->group[si] = g->native_group[si] = UINT32_MAX;
        g->bad_le[si] = !parse_go_float(promql_lset_get(ls, LE), &g->le[si]);
        pq_lb_reset(q, &b, ls);
        pq_lb_del(&b, LE);
        const struct promql_lset *key = pq_lb_make(q, &b);
        uint32_t gi = 0;
        while (gi < g->ngroups && !promql_lset_eq(g->glabels[gi], key))
            gi++;
        if (!g->bad_le[si]) {
            if (gi == g->ngroups)
                g->glabels[g->ngroups++] = key;
            g->group[si] = gi;
        }
        if (!promql_lset_has(ls, LE))
            g->native_group[si] = gi; /* resolved once all groups exist, below */
    }
    for (uint32_t si = 0; si < in->n; si++) {
        if (g->native_group[si] == UINT32_MAX)
            continue;
        uint32_t gi = 0;
        while (gi < g->ngroups && !promql_lset_eq(g->glabels[gi], in->s[si].ls))
            gi++;
        g->native_group[si] = gi < g->ngroups ? gi : UINT32_MAX;
    }
    pq_lb_free(q, &b);
}

static void free_groups(struct pq_query *q, struct groups *g)
{
    pq_free(q, g->group);
    pq_free(q, g->native_group);
    pq_free(q, g->le);
    pq_free(q, g->bad_le);
    pq_free(q, g->glabels);
}

static const char *quoted_name(struct pq_query *q, const struct promql_lset *ls)
{
    if (q->o.keep_name_early)
        return NULL;
    return pq_q(q, pq_metric_name(ls));
}

static const struct promql_lset *with_label(struct pq_query *q, const struct promql_lset *ls,
                                            struct str name, double qv)
{
    struct buf b = BUF_INIT;
    if (isnan(qv))
        buf_append_str(&b, "NaN");
    else if (isinf(qv))
        buf_append_str(&b, qv > 0 ? "+Inf" : "-Inf");
    else {
        promql_format_float_v(&b, qv);
        if (!memchr(b.data, 'e', b.len) && !memchr(b.data, '.', b.len))
            buf_append_str(&b, ".0");
    }
    struct str v = pq_strdup(q, (const char *)b.data, b.len);
    buf_deinit(&b);
    struct pq_lb lb = {0};
    pq_lb_reset(q, &lb, ls);
    pq_lb_set(q, &lb, name, v);
    const struct promql_lset *r = pq_lb_make(q, &lb);
    pq_lb_free(q, &lb);
    return r;
}

struct hfn {
    enum promql_func_id id;
    double *qs[16]; /* quantile / lower / upper per step */
    uint32_t nqs;
    uint32_t vpos, qpos[16];
    struct str qlabel;
    const struct promql_lset **qls; /* histogram_quantiles: per (series|group, q) labels */
};

static void emit(struct pq_ev *ev, struct pq_vec *out, const struct promql_lset *ls, uint32_t step,
                 double v)
{
    const struct promql_lset *l = ev->q->o.keep_name_early ? pq_drop_meta(ev->q, ls) : ls;
    pq_vec_setf(ev, out, pq_vec_series(ev, out, l, true), step, v);
}

static double native_value(struct pq_ev *ev, const struct hfn *f, uint32_t k, uint32_t i,
                           const struct promql_hist *h, const struct promql_lset *ls)
{
    struct hq c = {ev->q, f->vpos, quoted_name(ev->q, ls)};
    if (f->id == PROMQL_FN_HISTOGRAM_FRACTION)
        return hist_fraction(&c, f->qs[0][i], f->qs[1][i], h);
    return hist_quantile(&c, f->qs[k][i], h);
}

static double classic_value(struct pq_ev *ev, const struct hfn *f, uint32_t k, uint32_t i,
                            struct bucket *b, uint32_t nb, const struct promql_lset *ls)
{
    if (f->id == PROMQL_FN_HISTOGRAM_FRACTION)
        return bucket_fraction(f->qs[0][i], f->qs[1][i], b, nb);
    struct mono m;
    double v = bucket_quantile(f->qs[k][i], b, nb, &m);
    if (m.forced)
        pq_anno_monotonicity(ev->q, f->vpos, quoted_name(ev->q, ls), pq_ts(ev, i), m.min_bucket,
                             m.max_bucket, m.max_diff);
    return v;
}

static void hist_step(struct pq_ev *ev, const struct hfn *f, const struct pq_vec *in,
                      const struct groups *g, uint32_t i, struct pq_vec *out, struct bucket **gb,
                      uint32_t *gn, bool *gdead)
{
    struct pq_query *q = ev->q;
    memset(gn, 0, g->ngroups * sizeof *gn);
    memset(gdead, 0, g->ngroups * sizeof *gdead);
    for (uint32_t si = 0; si < in->n; si++) {
        const struct pq_series *s = &in->s[si];
        if (!pq_has(s, i) || pq_hist_at(s, i))
            continue;
        if (g->bad_le[si]) {
            struct str le = promql_lset_get(s->ls, LE);
            const char *name = quoted_name(q, s->ls);
            pq_warn(q, f->vpos, "bucket label \"le\" is missing or has a malformed value of %s%s%s",
                    pq_q(q, le), name ? " for metric name " : "", name ? name : "");
            continue;
        }
        uint32_t gi = g->group[si];
        gb[gi][gn[gi]++] = (struct bucket){g->le[si], s->f[i]};
    }
    for (uint32_t k = 0; k < f->nqs || (f->id == PROMQL_FN_HISTOGRAM_FRACTION && k == 0); k++) {
        for (uint32_t si = 0; si < in->n; si++) {
            const struct pq_series *s = &in->s[si];
            const struct promql_hist *h = pq_has(s, i) ? pq_hist_at(s, i) : NULL;
            if (!h)
                continue;
            uint32_t ng = g->native_group[si];
            if (ng != UINT32_MAX && (gn[ng] || gdead[ng])) {
                if (k == 0) {
                    const char *name = quoted_name(q, s->ls);
                    pq_warn(q, f->vpos,
                            "vector contains a mix of classic and native histograms%s%s",
                            name ? " for metric name " : "", name ? name : "");
                }
                gn[ng] = 0;
                gdead[ng] = true;
                continue;
            }
            const struct promql_lset *ls = f->id == PROMQL_FN_HISTOGRAM_QUANTILES
                                               ? with_label(q, s->ls, f->qlabel, f->qs[k][i])
                                               : s->ls;
            emit(ev, out, ls, i, native_value(ev, f, k, i, h, s->ls));
        }
        for (uint32_t gi = 0; gi < g->ngroups; gi++) {
            if (!gn[gi])
                continue;
            const struct promql_lset *ls =
                f->id == PROMQL_FN_HISTOGRAM_QUANTILES
                    ? with_label(q, g->glabels[gi], f->qlabel, f->qs[k][i])
                    : g->glabels[gi];
            struct bucket *tmp = arena_alloc(&q->tmp, gn[gi] * sizeof *tmp);
            if (!tmp)
                pq_nomem(q);
            memcpy(tmp, gb[gi], gn[gi] * sizeof *tmp);
            emit(ev, out, ls, i, classic_value(ev, f, k, i, tmp, gn[gi], g->glabels[gi]));
        }
    }
    arena_reset(&q->tmp);
}

static void eval_buckets(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    struct pq_query *q = ev->q;
    struct hfn f = {n->call.func->id, {0}, 0, 0, {0}, {0}, NULL};
    uint32_t vi;
    if (f.id == PROMQL_FN_HISTOGRAM_QUANTILE) {
        f.qs[f.nqs] = pq_eval_scalar(ev, pq_unparen(n->call.args[0]));
        f.qpos[f.nqs++] = n->call.args[0]->pos_start;
        vi = 1;
    } else if (f.id == PROMQL_FN_HISTOGRAM_FRACTION) {
        f.qs[0] = pq_eval_scalar(ev, pq_unparen(n->call.args[0]));
        f.qs[1] = pq_eval_scalar(ev, pq_unparen(n->call.args[1]));
        vi = 2;
    } else {
        f.qlabel = pq_unparen(n->call.args[1])->string;
        f.qlabel = pq_strdup(q, f.qlabel.ptr, f.qlabel.len);
        for (uint32_t i = 2; i < n->call.nargs && f.nqs < 16; i++) {
            f.qs[f.nqs] = pq_eval_scalar(ev, pq_unparen(n->call.args[i]));
            f.qpos[f.nqs++] = n->call.args[i]->pos_start;
        }
        vi = 0;
    }
    f.vpos = n->call.args[vi]->pos_start;
    if (f.id != PROMQL_FN_HISTOGRAM_FRACTION)
        for (uint32_t k = 0; k < f.nqs; k++)
            for (uint32_t i = 0; i < ev->nsteps; i++) {
                double qv = f.qs[k][i];
                if (isnan(qv) || qv < 0 || qv > 1)
                    pq_warn(q, f.qpos[k], "quantile value should be between 0 and 1, got %s",
                            pq_g(q, qv));
            }
    struct pq_vec in;
    pq_eval_vector(ev, pq_unparen(n->call.args[vi]), &in);
    struct groups g;
    build_groups(q, &in, &g);
    struct bucket **gb = pq_alloc(q, (g.ngroups + 1) * sizeof *gb);
    uint32_t *gn = pq_alloc(q, (g.ngroups + 1) * sizeof *gn);
    bool *gdead = pq_alloc(q, (g.ngroups + 1) * sizeof *gdead);
    for (uint32_t gi = 0; gi < g.ngroups; gi++)
        gb[gi] = pq_alloc(q, (in.n + 1) * sizeof **gb);
    pq_vec_init(ev, out);
    for (uint32_t i = 0; i < ev->nsteps; i++)
        hist_step(ev, &f, &in, &g, i, out, gb, gn, gdead);
    for (uint32_t gi = 0; gi < g.ngroups; gi++)
        pq_free(q, gb[gi]);
    pq_free(q, gb);
    pq_free(q, gn);
    pq_free(q, gdead);
    free_groups(q, &g);
    pq_vec_free(q, &in);
    for (uint32_t k = 0; k < 16; k++)
        pq_free(q, f.qs[k]);
}

void pq_eval_hist_fn(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    switch (n->call.func->id) {
    case PROMQL_FN_HISTOGRAM_QUANTILE:
    case PROMQL_FN_HISTOGRAM_QUANTILES:
    case PROMQL_FN_HISTOGRAM_FRACTION: eval_buckets(ev, n, out); return;
    default: eval_simple(ev, n, out); return;
    }
}
