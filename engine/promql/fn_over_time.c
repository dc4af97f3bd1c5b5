/* Range-vector functions over one window: *_over_time (avg, sum with Kahan summation and the
 * overflow fallback to incremental means, native histograms included; count, first, last, min,
 * max, stddev, stdvar, quantile, mad, present, ts_of_*), changes, resets, deriv,
 * predict_linear and double_exponential_smoothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/promql/eval_internal.h"

static void info_mixed_range(struct pq_fctx *c, uint32_t pos)
{
    pq_info(c->q, pos,
            "ignored histograms in a range containing both floats and histograms for metric name "
            "%s",
            pq_fname(c));
}

static void warn_mixed_types(struct pq_fctx *c)
{
    pq_warn(c->q, c->arg_pos, "encountered a mix of histograms and floats for metric name %s",
            pq_fname(c));
}

/* ---- quantiles ---- */

static int nan_first_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x))
        return isnan(y) ? 0 : -1;
    if (isnan(y))
        return 1;
    return (x > y) - (x < y);
}

double pq_quantile(double q, double *v, size_t n)
{
    if (n == 0 || isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(v, n, sizeof *v, nan_first_cmp);
    double rank = q * (double)(n - 1);
    double lo = fmax(0, floor(rank)), hi = fmin((double)n - 1, lo + 1);
    double w = rank - floor(rank);
    return v[(size_t)lo] * (1 - w) + v[(size_t)hi] * w;
}

static double *tmp_copy_floats(struct pq_query *q, const double *v, uint32_t n)
{
    double *d = arena_alloc(&q->tmp, (n ? n : 1) * sizeof *d);
    if (!d)
        pq_nomem(q);
    memcpy(d, v, n * sizeof *d);
    return d;
}

static int fn_quantile(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)h;
    if (w->nf == 0)
        return 0;
    double q = c->p0;
    uint32_t pos = c->call->call.args[0]->pos_start;
    if (isnan(q) || q < 0 || q > 1)
        pq_warn(c->q, pos, "quantile value should be between 0 and 1, got %s", pq_g(c->q, q));
    if (w->nh)
        info_mixed_range(c, pos);
    *f = pq_quantile(q, tmp_copy_floats(c->q, w->fv, w->nf), w->nf);
    return 1;
}

static int fn_mad(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)h;
    if (w->nf == 0)
        return 0;
    if (w->nh)
        info_mixed_range(c, c->arg_pos);
    for (uint32_t i = 0; i < w->nf; i++)
        if (isnan(w->fv[i])) {
            *f = NAN;
            return 1;
        }
    double *v = tmp_copy_floats(c->q, w->fv, w->nf);
    double med = pq_quantile(0.5, v, w->nf);
    for (uint32_t i = 0; i < w->nf; i++)
        v[i] = fabs(v[i] - med);
    *f = pq_quantile(0.5, v, w->nf);
    return 1;
}

/* ---- sums and means ---- */

static double float_sum(const double *v, uint32_t n)
{
    double sum = 0, c = 0;
    for (uint32_t i = 0; i < n; i++)
        pq_kahan_inc(v[i], &sum, &c);
    return isinf(sum) ? sum : sum + c;
}

static double float_avg(const double *v, uint32_t n)
{
    double sum = v[0], count = 1, mean = 0, kc = 0;
    bool incremental = false;
    for (uint32_t i = 1; i < n; i++) {
        count = (double)(i + 1);
        if (!incremental) {
            double ns = sum, nc = kc;
            pq_kahan_inc(v[i], &ns, &nc);
            if (!isinf(ns)) {
                sum = ns;
                kc = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1);
            kc /= count - 1;
        }
        double q = (count - 1) / count;
        mean *= q;
        kc *= q;
        pq_kahan_inc(v[i] / count, &mean, &kc);
    }
    if (incremental)
        return mean + kc;
    return sum / count + kc / count;
}

struct hagg {
    struct pq_fctx *c;
    bool reset_seen, not_reset_seen, reconciled, failed;
};

static void track_hint(struct hagg *a, const struct promql_hist *h)
{
    if (h->hint == PROMQL_HINT_RESET)
        a->reset_seen = true;
    else if (h->hint == PROMQL_HINT_NOT_RESET)
        a->not_reset_seen = true;
}

static void hagg_kahan(struct hagg *a, struct promql_hist **sum, struct promql_hist **comp,
                       const struct promql_hist *h)
{
    struct promql_hist_addinfo info;
    int rc = promql_hist_kahan_add(&a->c->q->tmp, sum, comp, h, &info);
    if (rc == ERR_NOMEM)
        pq_nomem(a->c->q);
    if (rc)
        a->failed = true;
    a->reconciled |= info.nhcb_reconciled;
}

static void hagg_add(struct hagg *a, struct promql_hist **sum, const struct promql_hist *h)
{
    struct promql_hist_addinfo info;
    int rc = promql_hist_add(&a->c->q->tmp, sum, h, false, &info);
    if (rc == ERR_NOMEM)
        pq_nomem(a->c->q);
    if (rc)
        a->failed = true;
    a->reconciled |= info.nhcb_reconciled;
}

static struct promql_hist *tcopy(struct pq_query *q, const struct promql_hist *h)
{
    struct promql_hist *c = promql_hist_copy(&q->tmp, h);
    if (!c)
        pq_nomem(q);
    return c;
}

static struct promql_hist *hist_sum(struct hagg *a, const struct pq_win *w)
{
    struct pq_query *q = a->c->q;
    struct promql_hist *sum = tcopy(q, w->hv[0]), *comp = NULL;
    track_hint(a, sum);
    for (uint32_t i = 1; i < w->nh && !a->failed; i++) {
        track_hint(a, w->hv[i]);
        hagg_kahan(a, &sum, &comp, w->hv[i]);
    }
    if (comp && !a->failed)
        hagg_add(a, &sum, comp);
    return sum;
}

static struct promql_hist *hist_avg(struct hagg *a, const struct pq_win *w)
{
    struct pq_query *q = a->c->q;
    struct promql_hist *sum = tcopy(q, w->hv[0]), *mean = NULL, *kc = NULL;
    double count = 1;
    bool incremental = false;
    track_hint(a, sum);
    for (uint32_t i = 1; i < w->nh && !a->failed; i++) {
        const struct promql_hist *h = w->hv[i];
        track_hint(a, h);
        count = (double)(i + 1);
        if (!incremental) {
            struct promql_hist *sc = tcopy(q, sum), *cc = kc ? tcopy(q, kc) : NULL;
            hagg_kahan(a, &sc, &cc, h);
            if (a->failed)
                return NULL;
            if (!promql_hist_has_overflow(sc)) {
                sum = sc;
                kc = cc;
                continue;
            }
            incremental = true;
            mean = tcopy(q, sum);
            promql_hist_div(mean, count - 1);
            if (kc)
                promql_hist_div(kc, count - 1);
        }
        double f = (count - 1) / count;
        if (kc)
            promql_hist_mul(kc, f);
        struct promql_hist *add = tcopy(q, h);
        promql_hist_div(add, count);
        promql_hist_mul(mean, f);
        hagg_kahan(a, &mean, &kc, add);
    }
    if (a->failed)
        return NULL;
    if (incremental) {
        if (kc)
            hagg_add(a, &mean, kc);
        return mean;
    }
    promql_hist_div(sum, count);
    if (kc) {
        promql_hist_div(kc, count);
        hagg_add(a, &sum, kc);
    }
    return sum;
}

static int hist_over_time(struct pq_fctx *c, const struct pq_win *w, bool avg,
                          struct promql_hist **h)
{
    struct hagg a = {c, false, false, false, false};
    struct promql_hist *r = avg ? hist_avg(&a, w) : hist_sum(&a, w);
    if (a.reset_seen && a.not_reset_seen)
        pq_warn(c->q, c->arg_pos, "conflicting counter resets during histogram aggregation");
    if (a.reconciled)
        pq_info(c->q, c->arg_pos, "mismatched custom buckets were reconciled during aggregation");
    if (a.failed || !r) {
        pq_warn(c->q, c->arg_pos,
                "vector contains a mix of histograms with exponential and custom buckets schemas "
                "for metric name %s",
                pq_fname(c));
        return 0;
    }
    *h = pq_keep_hist(c->q, r);
    return 2;
}

static int fn_sum(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    if (w->nf && w->nh) {
        warn_mixed_types(c);
        return 0;
    }
    if (!w->nf)
        return hist_over_time(c, w, false, h);
    *f = float_sum(w->fv, w->nf);
    return 1;
}

static int fn_avg(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    if (w->nf && w->nh) {
        warn_mixed_types(c);
        return 0;
    }
    if (!w->nf)
        return hist_over_time(c, w, true, h);
    *f = float_avg(w->fv, w->nf);
    return 1;
}

static int fn_count(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)c;
    (void)h;
    *f = w->nf + w->nh;
    return 1;
}

static int fn_present(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)c;
    (void)w;
    (void)h;
    *f = 1;
    return 1;
}

static int fn_first(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)c;
    if (!w->nh || (w->nf && w->ft[0] < w->ht[0])) {
        *f = w->fv[0];
        return 1;
    }
    *h = w->hv[0];
    return 2;
}

static int fn_last(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)c;
    if (!w->nh || (w->nf && w->ht[w->nh - 1] < w->ft[w->nf - 1])) {
        *f = w->fv[w->nf - 1];
        return 1;
    }
    *h = w->hv[w->nh - 1];
    return 2;
}

static int fn_ts_first(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)c;
    (void)h;
    int64_t tf = w->nf ? w->ft[0] : INT64_MAX, th = w->nh ? w->ht[0] : INT64_MAX;
    *f = (double)(tf < th ? tf : th) / 1000;
    return 1;
}

static int fn_ts_last(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)c;
    (void)h;
    int64_t tf = w->nf ? w->ft[w->nf - 1] : 0, th = w->nh ? w->ht[w->nh - 1] : 0;
    *f = (double)(tf > th ? tf : th) / 1000;
    return 1;
}

/* max/min/ts_of_max/ts_of_min: which picks the candidate, ts returns its timestamp. */
static int compare_over_time(struct pq_fctx *c, const struct pq_win *w, double *f, bool max,
                             bool ts, bool or_equal)
{
    if (w->nf == 0)
        return 0;
    if (w->nh)
        info_mixed_range(c, c->arg_pos);
    double best = w->fv[0];
    int64_t bt = w->ft[0];
    for (uint32_t i = 0; i < w->nf; i++) {
        double v = w->fv[i];
        bool take = isnan(best) ||
                    (max ? (or_equal ? v >= best : v > best) : (or_equal ? v <= best : v < best));
        if (take) {
            best = v;
            bt = w->ft[i];
        }
    }
    *f = ts ? (double)bt / 1000 : best;
    return 1;
}

static int fn_max(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)h;
    return compare_over_time(c, w, f, true, false, false);
}

static int fn_min(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)h;
    return compare_over_time(c, w, f, false, false, false);
}

static int fn_ts_max(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)h;
    return compare_over_time(c, w, f, true, true, true);
}

static int fn_ts_min(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)h;
    return compare_over_time(c, w, f, false, true, true);
}

static int variance(struct pq_fctx *c, const struct pq_win *w, double *f, bool sq)
{
    if (w->nf == 0)
        return 0;
    if (w->nh)
        info_mixed_range(c, c->arg_pos);
    double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
    for (uint32_t i = 0; i < w->nf; i++) {
        double v = w->fv[i];
        count++;
        double delta = v - (mean + cmean);
        pq_kahan_inc(delta / count, &mean, &cmean);
        pq_kahan_inc(delta * (v - (mean + cmean)), &aux, &caux);
    }
    double var = (aux + caux) / count;
    *f = sq ? sqrt(var) : var;
    return 1;
}

static int fn_stddev(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)h;
    return variance(c, w, f, true);
}

static int fn_stdvar(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)h;
    return variance(c, w, f, false);
}

/* ---- changes and resets ---- */

/* pickFirstSampleIndices for anchored windows: the newest sample at or before the range start
 * is the baseline; older ones are skipped. *found false when nothing lies after the start. */
static void first_indices(const struct pq_fctx *c, const struct pq_win *w, uint32_t *ff,
                          uint32_t *fh, bool *found)
{
    *ff = *fh = 0;
    *found = true;
    if (!c->anchored)
        return;
    int64_t lf = -1, lh = -1;
    while (lf + 1 < (int64_t)w->nf && w->ft[lf + 1] <= c->range_start)
        lf++;
    while (lh + 1 < (int64_t)w->nh && w->ht[lh + 1] <= c->range_start)
        lh++;
    if (lf + 1 >= (int64_t)w->nf && lh + 1 >= (int64_t)w->nh) {
        *found = false;
        return;
    }
    if (lf < 0 && lh < 0)
        return;
    if (lh < 0 || (lf >= 0 && w->ft[lf] >= w->ht[lh])) {
        *ff = (uint32_t)lf;
        *fh = (uint32_t)(lh + 1);
    } else {
        *ff = (uint32_t)(lf + 1);
        *fh = (uint32_t)lh;
    }
}

struct mixed {
    int64_t t, st;
    double f;
    const struct promql_hist *h;
};

/* Walks floats and histograms in time order from the given indexes. */
static bool mixed_next(const struct pq_win *w, uint32_t *i, uint32_t *j, bool use_st,
                       struct mixed *m)
{
    if (*i >= w->nf && *j >= w->nh)
        return false;
    if (*j >= w->nh || (*i < w->nf && w->ft[*i] < w->ht[*j])) {
        *m = (struct mixed){w->ft[*i], use_st && w->fst ? w->fst[*i] : 0, w->fv[*i], NULL};
        (*i)++;
    } else {
        *m = (struct mixed){w->ht[*j], use_st && w->hst ? w->hst[*j] : 0, 0, w->hv[*j]};
        (*j)++;
    }
    return true;
}

static bool st_reset(int64_t pst, int64_t pt, int64_t cst, int64_t ct)
{
    if (cst == 0 || cst >= ct || cst < pt)
        return false;
    if (cst > pt)
        return true;
    if (pst > pt)
        return false;
    return pst != 0 && pst != pt;
}

static int changes_resets(struct pq_fctx *c, const struct pq_win *w, double *f, bool resets)
{
    uint32_t i, j;
    bool found;
    first_indices(c, w, &i, &j, &found);
    if (!found)
        return 0;
    struct mixed prev = {0}, cur;
    int count = 0;
    bool first = true;
    while (mixed_next(w, &i, &j, resets && c->use_st, &cur)) {
        if (first) {
            prev = cur;
            first = false;
            continue;
        }
        if (!prev.h && !cur.h) {
            if (resets)
                count += cur.f < prev.f || st_reset(prev.st, prev.t, cur.st, cur.t);
            else
                count += cur.f != prev.f && !(isnan(cur.f) && isnan(prev.f));
        } else if (!prev.h || !cur.h) {
            count++;
        } else if (resets) {
            count +=
                st_reset(prev.st, prev.t, cur.st, cur.t) || promql_hist_detect_reset(cur.h, prev.h);
        } else {
            count += !promql_hist_equals(cur.h, prev.h);
        }
        prev = cur;
    }
    *f = count;
    return 1;
}

static int fn_changes(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)h;
    return changes_resets(c, w, f, false);
}

static int fn_resets(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)h;
    return changes_resets(c, w, f, true);
}

/* ---- regression and smoothing ---- */

static void linreg(const struct pq_win *w, int64_t at, double *slope, double *icpt)
{
    double n = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
    double init = w->fv[0];
    bool const_y = true;
    for (uint32_t i = 0; i < w->nf; i++) {
        double y = w->fv[i];
        if (const_y && i > 0 && y != init)
            const_y = false;
        n += 1;
        double x = (double)(w->ft[i] - at) / 1e3;
        pq_kahan_inc(x, &sx, &cx);
        pq_kahan_inc(y, &sy, &cy);
        pq_kahan_inc(x * y, &sxy, &cxy);
        pq_kahan_inc(x * x, &sx2, &cx2);
    }
    if (const_y) {
        if (isinf(init)) {
            *slope = *icpt = NAN;
            return;
        }
        *slope = 0;
        *icpt = init;
        return;
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    double cov = sxy - sx * sy / n, var = sx2 - sx * sx / n;
    *slope = cov / var;
    *icpt = sy / n - *slope * sx / n;
}

static bool too_few(struct pq_fctx *c, const struct pq_win *w)
{
    if (w->nf >= 2)
        return false;
    if (w->nf == 1 && w->nh)
        info_mixed_range(c, c->arg_pos);
    return true;
}

static int fn_deriv(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)h;
    if (too_few(c, w))
        return 0;
    double slope, icpt;
    linreg(w, w->ft[0], &slope, &icpt);
    if (w->nh)
        info_mixed_range(c, c->arg_pos);
    *f = slope;
    return 1;
}

static int fn_predict(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)h;
    if (too_few(c, w))
        return 0;
    double slope, icpt;
    linreg(w, c->ts, &slope, &icpt);
    if (w->nh)
        info_mixed_range(c, c->arg_pos);
    *f = slope * c->p0 + icpt;
    return 1;
}

static int fn_holt(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)h;
    if (too_few(c, w))
        return 0;
    double sf = c->p0, tf = c->p1, s0 = 0, s1 = w->fv[0], b = w->fv[1] - w->fv[0];
    for (uint32_t i = 1; i < w->nf; i++) {
        double x = sf * w->fv[i];
        if (i - 1 != 0)
            b = tf * (s1 - s0) + (1 - tf) * b;
        double y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    if (w->nh)
        info_mixed_range(c, c->arg_pos);
    *f = s1;
    return 1;
}

pq_rfn pq_over_time_fn(enum promql_func_id id)
{
    switch (id) {
    case PROMQL_FN_AVG_OVER_TIME: return fn_avg;
    case PROMQL_FN_SUM_OVER_TIME: return fn_sum;
    case PROMQL_FN_COUNT_OVER_TIME: return fn_count;
    case PROMQL_FN_PRESENT_OVER_TIME: return fn_present;
    case PROMQL_FN_FIRST_OVER_TIME: return fn_first;
    case PROMQL_FN_LAST_OVER_TIME: return fn_last;
    case PROMQL_FN_TS_OF_FIRST_OVER_TIME: return fn_ts_first;
    case PROMQL_FN_TS_OF_LAST_OVER_TIME: return fn_ts_last;
    case PROMQL_FN_MAX_OVER_TIME: return fn_max;
    case PROMQL_FN_MIN_OVER_TIME: return fn_min;
    case PROMQL_FN_TS_OF_MAX_OVER_TIME: return fn_ts_max;
    case PROMQL_FN_TS_OF_MIN_OVER_TIME: return fn_ts_min;
    case PROMQL_FN_STDDEV_OVER_TIME: return fn_stddev;
    case PROMQL_FN_STDVAR_OVER_TIME: return fn_stdvar;
    case PROMQL_FN_QUANTILE_OVER_TIME: return fn_quantile;
    case PROMQL_FN_MAD_OVER_TIME: return fn_mad;
    case PROMQL_FN_CHANGES: return fn_changes;
    case PROMQL_FN_RESETS: return fn_resets;
    case PROMQL_FN_DERIV: return fn_deriv;
    case PROMQL_FN_PREDICT_LINEAR: return fn_predict;
    case PROMQL_FN_DOUBLE_EXPONENTIAL_SMOOTHING: return fn_holt;
    default: return NULL;
    }
}
