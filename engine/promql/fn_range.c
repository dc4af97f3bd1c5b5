/* Range-vector function driver (one series at a time, windows sliding over decoded samples
 * step by step) and the rate family: rate/increase/delta with Prometheus's extrapolation and
 * counter-reset handling (including start timestamps and native histograms), their anchored and
 * smoothed variants, irate/idelta, and absent_over_time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/promql/eval_internal.h"

struct promql_hist *pq_keep_hist(struct pq_query *q, const struct promql_hist *h)
{
    struct promql_hist *c = promql_hist_copy(&q->arena, h);
    if (!c)
        pq_nomem(q);
    if (h->ncustom) {
        /* Bounds may have been built in the scratch arena (intersections). */
        double *cv = pq_arena(q, h->ncustom * sizeof *cv);
        memcpy(cv, h->custom, h->ncustom * sizeof *cv);
        c->custom = cv;
    }
    return c;
}

const char *pq_fname(struct pq_fctx *c)
{
    return pq_q(c->q, pq_metric_name(c->ls));
}

static struct promql_hist *tmp_copy(struct pq_query *q, const struct promql_hist *h)
{
    struct promql_hist *c = promql_hist_copy(&q->tmp, h);
    if (!c)
        pq_nomem(q);
    return c;
}

static void warn_mixed_schema(struct pq_fctx *c)
{
    pq_warn(c->q, c->arg_pos,
            "vector contains a mix of histograms with exponential and custom buckets schemas for "
            "metric name %s",
            pq_fname(c));
}

static void warn_mixed_types(struct pq_fctx *c)
{
    pq_warn(c->q, c->arg_pos, "encountered a mix of histograms and floats for metric name %s",
            pq_fname(c));
}

/* Adds (or subtracts) b into *a in q->tmp; false on incompatible schemas (warned). */
static bool hadd(struct pq_fctx *c, struct promql_hist **a, const struct promql_hist *b,
                 bool negate)
{
    struct promql_hist_addinfo info;
    int rc = promql_hist_add(&c->q->tmp, a, b, negate, &info);
    if (rc == ERR_NOMEM)
        pq_nomem(c->q);
    if (rc) {
        warn_mixed_schema(c);
        return false;
    }
    if (info.nhcb_reconciled)
        pq_info(c->q, c->arg_pos, "mismatched custom buckets were reconciled during %s",
                negate ? "subtraction" : "addition");
    return true;
}

/* ---- start timestamps ---- */

static bool st_reset(int64_t pst, int64_t pt, int64_t cst, int64_t ct)
{
    if (cst == 0 || cst >= ct)
        return false;
    if (cst < pt)
        return false;
    if (cst > pt)
        return true;
    if (pst > pt)
        return false;
    return pst != 0 && pst != pt;
}

static bool st_overlap(int64_t pst, int64_t pt, int64_t cst)
{
    return cst != 0 && cst < pt && cst != pst;
}

/* ---- rate, increase, delta ---- */

static struct promql_hist *hist_rate(struct pq_fctx *c, const struct pq_win *w, bool counter)
{
    struct pq_query *q = c->q;
    const int64_t *sts = c->use_st ? w->hst : NULL;
    uint32_t n = w->nh;
    const struct promql_hist *prev = w->hv[0], *last = w->hv[n - 1];
    bool custom = promql_hist_is_custom(prev);
    if (counter && (prev->hint == PROMQL_HINT_GAUGE || last->hint == PROMQL_HINT_GAUGE))
        pq_warn(q, c->arg_pos, "this native histogram metric is not a counter: %s", pq_fname(c));
    if (counter) {
        const struct promql_hist *second = w->hv[1];
        if ((sts && st_reset(sts[0], w->ht[0], sts[1], w->ht[1])) ||
            promql_hist_detect_reset(second, prev)) {
            struct promql_hist *z = promql_hist_new(&q->tmp, 0, 0);
            if (!z)
                pq_nomem(q);
            z->schema = second->schema;
            z->custom = second->custom;
            z->ncustom = second->ncustom;
            prev = z;
            custom = promql_hist_is_custom(second);
        }
    }
    if (promql_hist_is_custom(last) != custom) {
        warn_mixed_schema(c);
        return NULL;
    }
    int32_t min_schema = last->schema < prev->schema ? last->schema : prev->schema;
    for (uint32_t i = 1; i + 1 < n && counter; i++) {
        const struct promql_hist *cur = w->hv[i];
        if (cur->hint == PROMQL_HINT_GAUGE)
            pq_warn(q, c->arg_pos, "this native histogram metric is not a counter: %s",
                    pq_fname(c));
        if (cur->schema < min_schema)
            min_schema = cur->schema;
        if (promql_hist_is_custom(cur) != custom) {
            warn_mixed_schema(c);
            return NULL;
        }
    }
    struct promql_hist *h = promql_hist_is_custom(last)
                                ? tmp_copy(q, last)
                                : promql_hist_copy_to_schema(&q->tmp, last, min_schema);
    if (!h)
        pq_nomem(q);
    if (!hadd(c, &h, prev, true))
        return NULL;
    if (counter) {
        bool overlap = false;
        for (uint32_t i = 1; i < n; i++) {
            const struct promql_hist *cur = w->hv[i];
            if (!overlap && sts && st_overlap(sts[i - 1], w->ht[i - 1], sts[i])) {
                pq_anno_st_overlap(q, c->arg_pos, pq_metric_name(c->ls));
                overlap = true;
            }
            if ((sts && st_reset(sts[i - 1], w->ht[i - 1], sts[i], w->ht[i])) ||
                promql_hist_detect_reset(cur, prev))
                if (!hadd(c, &h, prev, false))
                    return NULL;
            prev = cur;
        }
    } else if (w->hv[0]->hint != PROMQL_HINT_GAUGE || w->hv[n - 1]->hint != PROMQL_HINT_GAUGE) {
        pq_warn(q, c->arg_pos, "this native histogram metric is not a gauge: %s", pq_fname(c));
    }
    h->hint = PROMQL_HINT_GAUGE;
    promql_hist_compact(h);
    return h;
}

static int extended_rate(struct pq_fctx *c, const struct pq_win *w, bool counter, bool is_rate,
                         double *out, struct promql_hist **hout);

/* Float last - first over w, adding back the value before each counter reset (a decrease, or a
 * start timestamp saying the counter restarted); *sts gets the start timestamps in use. */
static double float_delta(struct pq_fctx *c, const struct pq_win *w, bool counter,
                          const int64_t **sts)
{
    uint32_t nm1 = w->nf - 1;
    double res = w->fv[nm1] - w->fv[0];
    if (!counter || (c->no_float_resets && !(c->use_st && w->fst)))
        return res;
    if (c->use_st)
        *sts = w->fst;
    const int64_t *st = *sts;
    bool overlap = false;
    for (uint32_t i = 1; i < w->nf; i++) {
        if (!overlap && st && st_overlap(st[i - 1], w->ft[i - 1], st[i])) {
            pq_anno_st_overlap(c->q, c->arg_pos, pq_metric_name(c->ls));
            overlap = true;
        }
        if (w->fv[i] < w->fv[i - 1] || (st && st_reset(st[i - 1], w->ft[i - 1], st[i], w->ft[i])))
            res += w->fv[i - 1];
    }
    return res;
}

/* The factor scaling the sampled delta (*res or *rh) over [first_t, last_t] to the whole range:
 * extrapolate to each end by at most half an average interval when the gap there exceeds 1.1
 * intervals, for counters not below zero, and from a start timestamp inside the range (which then
 * counts the first sample in full). False when no result (a single sample without such a start
 * timestamp). */
static bool extrapolation(struct pq_fctx *c, const struct pq_win *w, bool counter, bool is_rate,
                          const int64_t *sts, double *res, struct promql_hist **rh, double *factor)
{
    uint32_t nm1 = (w->nh ? w->nh : w->nf) - 1;
    int64_t first_t = w->nh ? w->ht[0] : w->ft[0], last_t = w->nh ? w->ht[nm1] : w->ft[nm1];
    double to_start = (double)(first_t - c->range_start) / 1000;
    double to_end = (double)(c->range_end - last_t) / 1000;
    double sampled = (double)(last_t - first_t) / 1000, avg = 0;
    if (nm1 > 0)
        avg = sampled / nm1;
    double threshold = avg * 1.1;
    if (counter && sts && sts[0] != 0 && sts[0] > c->range_start && sts[0] < first_t) {
        to_start = 0;
        sampled = (double)(last_t - sts[0]) / 1000;
        if (w->nf)
            *res += w->fv[0];
        else if (!*rh)
            *rh = tmp_copy(c->q, w->hv[0]);
        else if (!hadd(c, rh, w->hv[0], false))
            return false;
    } else if (nm1 == 0) {
        return false;
    } else {
        if (to_start >= threshold)
            to_start = avg / 2;
        if (counter) {
            double to_zero = to_start;
            if (*res > 0 && w->nf && w->fv[0] >= 0)
                to_zero = sampled * (w->fv[0] / *res);
            else if (*rh && (*rh)->count > 0 && w->nh && w->hv[0]->count >= 0)
                to_zero = sampled * (w->hv[0]->count / (*rh)->count);
            if (to_zero < to_start)
                to_start = to_zero;
        }
    }
    if (to_end >= threshold)
        to_end = avg / 2;
    *factor = 1;
    if (sampled != 0)
        *factor = (sampled + to_start + to_end) / sampled;
    if (is_rate)
        *factor /= (double)c->range_ms / 1000;
    return true;
}

/* rate/increase/delta over a non-empty window as Prometheus extrapolates them (anchored and
 * smoothed variants go to extended_rate). 1: float in *out, 2: histogram in *hout, 0: none. */
static int extrapolated_rate(struct pq_fctx *c, const struct pq_win *w, bool counter, bool is_rate,
                             double *out, struct promql_hist **hout)
{
    if (w->nh && w->nf) {
        warn_mixed_types(c);
        return 0;
    }
    if (c->anchored || c->smoothed)
        return w->nf + w->nh ? extended_rate(c, w, counter, is_rate, out, hout) : 0;
    const int64_t *sts = NULL;
    double res = 0, factor;
    struct promql_hist *rh = NULL;
    if (w->nh) {
        if (c->use_st)
            sts = w->hst;
        if (w->nh > 1 && !(rh = hist_rate(c, w, counter)))
            return 0;
    } else {
        res = float_delta(c, w, counter, &sts);
    }
    if (!extrapolation(c, w, counter, is_rate, sts, &res, &rh, &factor))
        return 0;
    if (!rh) {
        *out = res * factor;
        return 1;
    }
    promql_hist_mul(rh, factor);
    *hout = pq_keep_hist(c->q, rh);
    return 2;
}

/* ---- anchored / smoothed ---- */

static double interp(int64_t t1, double y1, int64_t t2, double y2, int64_t t, bool counter)
{
    if (counter && y2 < y1)
        y1 = 0;
    return y1 + (y2 - y1) * (double)(t - t1) / (double)(t2 - t1);
}

/* sort.Search(n, t[i] > x) */
static uint32_t first_gt(const int64_t *t, uint32_t n, int64_t x)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t m = lo + (hi - lo) / 2;
        if (t[m] > x)
            hi = m;
        else
            lo = m + 1;
    }
    return lo;
}

static uint32_t first_ge(const int64_t *t, uint32_t n, int64_t x)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t m = lo + (hi - lo) / 2;
        if (t[m] >= x)
            hi = m;
        else
            lo = m + 1;
    }
    return lo;
}

struct promql_hist *pq_interp_hist(struct pq_query *q, const struct promql_hist *h1, int64_t t1,
                                   const struct promql_hist *h2, int64_t t2, int64_t t,
                                   bool counter, uint32_t pos, bool *ok)
{
    *ok = true;
    if (t == t1)
        return pq_keep_hist(q, h1);
    if (t == t2)
        return pq_keep_hist(q, h2);
    double frac = (double)(t - t1) / (double)(t2 - t1);
    struct promql_hist *r = promql_hist_copy(&q->arena, h2);
    if (!r)
        pq_nomem(q);
    if (counter && promql_hist_detect_reset(h2, h1)) {
        promql_hist_mul(r, frac);
        return r;
    }
    struct promql_hist_addinfo info;
    int rc = promql_hist_add(&q->arena, &r, h1, true, &info);
    if (rc == ERR_NOMEM)
        pq_nomem(q);
    if (rc) {
        *ok = false;
        return NULL;
    }
    if (info.nhcb_reconciled)
        pq_info(q, pos, "mismatched custom buckets were reconciled during subtraction");
    promql_hist_mul(r, frac);
    rc = promql_hist_add(&q->arena, &r, h1, false, &info);
    if (rc == ERR_NOMEM)
        pq_nomem(q);
    if (rc) {
        *ok = false;
        return NULL;
    }
    if (info.nhcb_reconciled)
        pq_info(q, pos, "mismatched custom buckets were reconciled during addition");
    return r;
}

static double correct_resets(double left, double right, const double *v, int64_t n)
{
    double corr = 0, prev = left;
    for (int64_t i = 0; i < n; i++) {
        if (v[i] < prev)
            corr += prev;
        prev = v[i];
    }
    if (right < prev)
        corr += prev;
    return corr;
}

static int extended_float_rate(struct pq_fctx *c, const struct pq_win *w, bool counter,
                               bool is_rate, double *out)
{
    const int64_t *t = w->ft;
    const double *v = w->fv;
    int64_t last = (int64_t)w->nf - 1;
    int64_t first = (int64_t)first_gt(t, (uint32_t)last, c->range_start) - 1;
    if (first < 0)
        first = 0;
    if (c->smoothed)
        last = first_ge(t, (uint32_t)last, c->range_end);
    if (t[last] <= c->range_start)
        return 0;
    if (c->smoothed && t[first] > c->range_end)
        return 0;
    double left = v[first], right = v[last];
    if (c->smoothed && t[first] < c->range_start)
        left = interp(t[first], v[first], t[first + 1], v[first + 1], c->range_start, counter);
    if (c->smoothed && last > 0 && t[last] > c->range_end)
        right = interp(t[last - 1], v[last - 1], t[last], v[last], c->range_end, counter);
    double res = right - left;
    if (counter) {
        if (t[first] <= c->range_start)
            first++;
        if (t[last] >= c->range_end)
            last--;
        res += correct_resets(left, right, v + first, last - first + 1);
    }
    if (is_rate)
        res /= (double)c->range_ms / 1000;
    *out = res;
    return 1;
}

/* The histogram at boundary `at`: sample i, or interpolated between samples i and i+1. */
static struct promql_hist *boundary_hist(struct pq_fctx *c, const struct pq_win *w, int64_t i,
                                         int64_t at, bool interpolate, bool counter, bool *ok)
{
    *ok = true;
    if (!interpolate)
        return pq_keep_hist(c->q, w->hv[i]);
    struct promql_hist *r = pq_interp_hist(c->q, w->hv[i], w->ht[i], w->hv[i + 1], w->ht[i + 1], at,
                                           counter, c->arg_pos, ok);
    if (!*ok)
        warn_mixed_schema(c);
    return r;
}

/* correctForCounterResetsHistogram. */
static bool hist_corrections(struct pq_fctx *c, const struct pq_win *w, int64_t first, int64_t last,
                             const struct promql_hist *left, const struct promql_hist *right,
                             struct promql_hist **corr)
{
    int64_t from = first + 1;
    const struct promql_hist *prev = left;
    if (c->smoothed && w->ht[first] < c->range_start &&
        promql_hist_detect_reset(w->hv[first + 1], w->hv[first])) {
        prev = w->hv[first + 1];
        from++;
    }
    int64_t to = last - 1;
    *corr = NULL;
    if (from > to + 1)
        return true;
    for (int64_t i = from; i <= to; i++) {
        if (promql_hist_detect_reset(w->hv[i], prev)) {
            if (!*corr)
                *corr = tmp_copy(c->q, prev);
            else if (!hadd(c, corr, prev, false))
                return false;
        }
        prev = w->hv[i];
    }
    if (promql_hist_detect_reset(right, prev)) {
        if (!*corr)
            *corr = tmp_copy(c->q, prev);
        else if (!hadd(c, corr, prev, false))
            return false;
    }
    return true;
}

static int extended_hist_rate(struct pq_fctx *c, const struct pq_win *w, bool counter, bool is_rate,
                              struct promql_hist **out)
{
    struct pq_query *q = c->q;
    const int64_t *t = w->ht;
    int64_t last = (int64_t)w->nh - 1;
    int64_t first = (int64_t)first_gt(t, (uint32_t)last, c->range_start) - 1;
    if (first < 0)
        first = 0;
    if (c->smoothed)
        last = first_ge(t, (uint32_t)last, c->range_end);
    if (t[last] <= c->range_start || (c->smoothed && t[first] > c->range_end))
        return 0;
    bool custom = promql_hist_is_custom(w->hv[first]);
    for (int64_t i = first; i <= last; i++) {
        if (promql_hist_is_custom(w->hv[i]) != custom) {
            warn_mixed_schema(c);
            return 0;
        }
        if (counter && w->hv[i]->hint == PROMQL_HINT_GAUGE)
            pq_warn(q, c->arg_pos, "this native histogram metric is not a counter: %s",
                    pq_fname(c));
    }
    bool ok, rint = c->smoothed && last > 0 && t[last] > c->range_end;
    struct promql_hist *left = boundary_hist(
        c, w, first, c->range_start, c->smoothed && t[first] < c->range_start, counter, &ok);
    if (!ok)
        return 0;
    struct promql_hist *right =
        boundary_hist(c, w, rint ? last - 1 : last, c->range_end, rint, counter, &ok);
    if (!ok)
        return 0;
    if (!counter && (left->hint != PROMQL_HINT_GAUGE || right->hint != PROMQL_HINT_GAUGE))
        pq_warn(q, c->arg_pos, "this native histogram metric is not a gauge: %s", pq_fname(c));
    struct promql_hist *res = tmp_copy(q, right);
    if (!hadd(c, &res, left, true))
        return 0;
    if (counter) {
        struct promql_hist *corr;
        if (!hist_corrections(c, w, first, last, left, right, &corr))
            return 0;
        if (corr && !hadd(c, &res, corr, false))
            return 0;
    }
    if (is_rate)
        promql_hist_div(res, (double)c->range_ms / 1000);
    res->hint = PROMQL_HINT_GAUGE;
    promql_hist_compact(res);
    *out = pq_keep_hist(q, res);
    return 2;
}

static int extended_rate(struct pq_fctx *c, const struct pq_win *w, bool counter, bool is_rate,
                         double *out, struct promql_hist **hout)
{
    if (w->nh)
        return extended_hist_rate(c, w, counter, is_rate, hout);
    return extended_float_rate(c, w, counter, is_rate, out);
}

uint32_t pq_extend_floats(struct pq_query *q, const struct pq_raw *r, int64_t mint, int64_t maxt,
                          bool smoothed, int64_t **ft, double **fv)
{
    const int64_t *t = r->ft;
    const double *v = r->fv;
    int64_t last = (int64_t)r->nf - 1;
    int64_t first = (int64_t)first_gt(t, (uint32_t)last, mint) - 1;
    if (first < 0)
        first = 0;
    if (smoothed)
        last = first_ge(t, (uint32_t)last, maxt);
    *ft = pq_realloc(q, *ft, (r->nf + 3) * sizeof **ft);
    *fv = pq_realloc(q, *fv, (r->nf + 3) * sizeof **fv);
    if (t[last] <= mint)
        return 0;
    double left = v[first], right = v[last];
    if (smoothed && t[first] < mint)
        left = interp(t[first], v[first], t[first + 1], v[first + 1], mint, false);
    if (smoothed && last > 0 && t[last] > maxt)
        right = interp(t[last - 1], v[last - 1], t[last], v[last], maxt, false);
    if (t[first] <= mint)
        first++;
    if (t[last] >= maxt)
        last--;
    uint32_t k = 0;
    (*ft)[k] = mint;
    (*fv)[k++] = left;
    for (int64_t i = first; i <= last; i++) {
        (*ft)[k] = t[i];
        (*fv)[k++] = v[i];
    }
    (*ft)[k] = maxt;
    (*fv)[k++] = right;
    return k;
}

/* ---- irate, idelta ---- */

struct ival {
    int64_t t, st;
    double f;
    const struct promql_hist *h;
};

/* The last two samples of w, floats and histograms merged by time, into ss[0] (older) and ss[1].
 * Returns how many there are (at most 2). */
static int last_two(const struct pq_fctx *c, const struct pq_win *w, struct ival ss[2])
{
    int n = 0;
    for (uint32_t i = w->nf >= 2 ? w->nf - 2 : 0; i < w->nf; i++)
        ss[n++] = (struct ival){w->ft[i], c->use_st && w->fst ? w->fst[i] : 0, w->fv[i], NULL};
    for (uint32_t i = w->nh >= 2 ? w->nh - 2 : 0; i < w->nh; i++) {
        struct ival s = {w->ht[i], c->use_st && w->hst ? w->hst[i] : 0, 0, w->hv[i]};
        if (n == 0) {
            ss[n++] = s;
        } else if (n == 1) {
            ss[1] = s.t < ss[0].t ? ss[0] : s;
            if (s.t < ss[0].t)
                ss[0] = s;
            n = 2;
        } else if (s.t > ss[1].t) {
            ss[0] = ss[1];
            ss[1] = s;
        } else if (s.t >= ss[0].t) {
            ss[0] = s;
        }
    }
    return n;
}

/* irate/idelta between two histograms: the later one (after a counter reset, for irate) or the
 * difference, as a gauge. NULL (with a warning) on an exponential/custom schema mix. */
static struct promql_hist *hist_last_delta(struct pq_fctx *c, const struct ival ss[2], bool is_rate)
{
    struct pq_query *q = c->q;
    struct promql_hist *rh = tmp_copy(q, ss[1].h);
    bool gauge0 = ss[0].h->hint == PROMQL_HINT_GAUGE, gauge1 = ss[1].h->hint == PROMQL_HINT_GAUGE;
    if (is_rate && (gauge1 || gauge0))
        pq_warn(q, c->arg_pos, "this native histogram metric is not a counter: %s", pq_fname(c));
    if (!is_rate && (!gauge1 || !gauge0))
        pq_warn(q, c->arg_pos, "this native histogram metric is not a gauge: %s", pq_fname(c));
    if (!is_rate || (!st_reset(ss[0].st, ss[0].t, ss[1].st, ss[1].t) &&
                     !promql_hist_detect_reset(ss[1].h, ss[0].h))) {
        struct promql_hist_addinfo info;
        int rc = promql_hist_add(&q->tmp, &rh, ss[0].h, true, &info);
        if (rc == ERR_NOMEM)
            pq_nomem(q);
        if (rc == PROMQL_HIST_ERR_SCHEMA) {
            pq_warn(q, c->arg_pos,
                    "vector contains a mix of histograms with exponential and custom buckets "
                    "schemas for metric name %s",
                    pq_fname(c));
            return NULL;
        }
        if (info.nhcb_reconciled)
            pq_info(q, c->arg_pos, "mismatched custom buckets were reconciled during subtraction");
    }
    rh->hint = PROMQL_HINT_GAUGE;
    promql_hist_compact(rh);
    return rh;
}

/* irate (is_rate) and idelta over the last two samples. 1: float, 2: histogram, 0: none. */
static int instant_value(struct pq_fctx *c, const struct pq_win *w, bool is_rate, double *out,
                         struct promql_hist **hout)
{
    struct ival ss[2];
    if (last_two(c, w, ss) < 2)
        return 0;
    int64_t interval = ss[1].t - ss[0].t;
    if (interval == 0)
        return 0;
    double rf = ss[1].f;
    struct promql_hist *rh = NULL;
    if (!ss[0].h && !ss[1].h) {
        if (!is_rate || !(ss[1].f < ss[0].f || st_reset(ss[0].st, ss[0].t, ss[1].st, ss[1].t)))
            rf = ss[1].f - ss[0].f;
    } else if (ss[0].h && ss[1].h) {
        if (!(rh = hist_last_delta(c, ss, is_rate)))
            return 0;
    } else {
        pq_warn(c->q, c->arg_pos, "encountered a mix of histograms and floats for metric name %s",
                pq_fname(c));
        return 0;
    }
    if (is_rate) {
        if (rh)
            promql_hist_div(rh, (double)interval / 1000);
        else
            rf /= (double)interval / 1000;
    }
    if (rh) {
        *hout = pq_keep_hist(c->q, rh);
        return 2;
    }
    *out = rf;
    return 1;
}

static int fn_rate(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    return extrapolated_rate(c, w, true, true, f, h);
}

static int fn_increase(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    return extrapolated_rate(c, w, true, false, f, h);
}

static int fn_delta(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    return extrapolated_rate(c, w, false, false, f, h);
}

static int fn_irate(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    return instant_value(c, w, true, f, h);
}

static int fn_idelta(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    return instant_value(c, w, false, f, h);
}

static int fn_one(struct pq_fctx *c, const struct pq_win *w, double *f, struct promql_hist **h)
{
    (void)c;
    (void)w;
    (void)h;
    *f = 1;
    return 1;
}

/* ---- driver ---- */

static pq_rfn range_fn(enum promql_func_id id)
{
    switch (id) {
    case PROMQL_FN_RATE: return fn_rate;
    case PROMQL_FN_INCREASE: return fn_increase;
    case PROMQL_FN_DELTA: return fn_delta;
    case PROMQL_FN_IRATE: return fn_irate;
    case PROMQL_FN_IDELTA: return fn_idelta;
    case PROMQL_FN_ABSENT_OVER_TIME: return fn_one;
    default: return pq_over_time_fn(id);
    }
}

static bool anchored_safe(enum promql_func_id id)
{
    return id == PROMQL_FN_RESETS || id == PROMQL_FN_CHANGES || id == PROMQL_FN_RATE ||
           id == PROMQL_FN_INCREASE || id == PROMQL_FN_DELTA;
}

static bool smoothed_safe(enum promql_func_id id)
{
    return id == PROMQL_FN_RATE || id == PROMQL_FN_INCREASE || id == PROMQL_FN_DELTA;
}

static bool counter_suffix(struct str name)
{
    static const char *const sfx[] = {"_total", "_sum", "_count", "_bucket"};
    for (size_t i = 0; i < 4; i++) {
        size_t n = strlen(sfx[i]);
        if (name.len >= n && memcmp(name.ptr + name.len - n, sfx[i], n) == 0)
            return true;
    }
    return false;
}

/* Window indexes [a, b) of ts within (lo, hi], moved forward from the previous step's. */
static void slide(const int64_t *ts, uint32_t n, int64_t lo, int64_t hi, uint32_t *a, uint32_t *b)
{
    if (*a > n || *b > n || (*a > 0 && ts[*a - 1] > lo))
        *a = *b = 0;
    while (*a < n && ts[*a] <= lo)
        (*a)++;
    if (*b < *a)
        *b = *a;
    while (*b < n && ts[*b] <= hi)
        (*b)++;
}

struct rcall {
    const struct promql_node *n, *marg, *vs;
    enum promql_func_id id;
    pq_rfn fn;
    double *p[2];
    int64_t range, offset, at, lb;
    bool has_at, anchored, smoothed;
};

static void prepare(struct pq_ev *ev, const struct promql_node *n, struct rcall *rc)
{
    struct pq_query *q = ev->q;
    memset(rc, 0, sizeof *rc);
    rc->n = n;
    rc->id = n->call.func->id;
    rc->fn = range_fn(rc->id);
    rc->lb = q->o.lookback_ms;
    int np = 0;
    for (uint32_t i = 0; i < n->call.nargs; i++) {
        const struct promql_node *a = pq_unparen(n->call.args[i]);
        if (!rc->marg && (a->kind == PROMQL_MATRIX_SELECTOR || a->kind == PROMQL_SUBQUERY))
            rc->marg = a;
        else if (np < 2)
            rc->p[np++] = pq_eval_scalar(ev, a);
    }
    if (rc->marg->kind == PROMQL_MATRIX_SELECTOR) {
        rc->vs = rc->marg->ms.vs;
        rc->anchored = rc->vs->vs.anchored;
        rc->smoothed = rc->vs->vs.smoothed;
        rc->range = pq_ms_range(q, rc->marg);
        rc->offset = pq_vs_offset(q, rc->vs);
        rc->has_at = pq_vs_at(q, rc->vs, &rc->at);
    } else {
        int64_t step;
        pq_sq_params(q, rc->marg, &rc->range, &step, &rc->offset, &rc->has_at, &rc->at);
    }
    if (rc->anchored && !anchored_safe(rc->id))
        pq_fail(q, ERR_INVALID,
                "anchored modifier can only be used with: changes, delta, increase, rate, resets "
                "- not with %s",
                n->call.func->name);
    if (rc->smoothed && !smoothed_safe(rc->id))
        pq_fail(q, ERR_INVALID,
                "smoothed modifier can only be used with: delta, increase, rate - not with %s",
                n->call.func->name);
    if (rc->id == PROMQL_FN_DOUBLE_EXPONENTIAL_SMOOTHING)
        for (uint32_t i = 0; i < ev->nsteps; i++) {
            if (rc->p[0][i] <= 0 || rc->p[0][i] >= 1)
                pq_fail(q, ERR_INVALID, "invalid smoothing factor. Expected: 0 < sf < 1, got: %f",
                        rc->p[0][i]);
            if (rc->p[1][i] <= 0 || rc->p[1][i] >= 1)
                pq_fail(q, ERR_INVALID, "invalid trend factor. Expected: 0 < tf < 1, got: %f",
                        rc->p[1][i]);
        }
}

static void absent_over_time(struct pq_ev *ev, const struct rcall *rc, bool *found,
                             struct pq_vec *out)
{
    pq_vec_init(ev, out);
    uint32_t o = UINT32_MAX;
    for (uint32_t i = 0; i < ev->nsteps; i++) {
        if (found[i])
            continue;
        if (o == UINT32_MAX)
            o = pq_vec_add(ev, out, pq_absent_labels(ev->q, rc->n->call.args[0]), true);
        pq_vec_setf(ev, out, o, i, 1);
    }
}

/* Evaluates the function over one input series at every step. */
/* The per-series part of a range function's context. */
static void fctx_init(struct pq_fctx *c, struct pq_query *q, const struct rcall *rc,
                      const struct pq_raw *r)
{
    memset(c, 0, sizeof *c);
    c->q = q;
    c->call = rc->n;
    c->arg_pos = rc->marg->pos_start;
    c->ls = r->ls;
    c->range_ms = rc->range;
    c->anchored = rc->anchored;
    c->smoothed = rc->smoothed;
    c->use_st =
        q->o.use_start_timestamps && (rc->id == PROMQL_FN_RATE || rc->id == PROMQL_FN_IRATE ||
                                      rc->id == PROMQL_FN_INCREASE || rc->id == PROMQL_FN_RESETS);
}

/* Counter fast path for rate/increase: the number of decreases up to each float sample, so a
 * window without any skips the reset loop (its result is then exactly last - first, as
 * Prometheus computes it). NULL when not applicable; pq_free it. */
static uint32_t *counter_drops(struct pq_query *q, const struct rcall *rc, const struct pq_raw *r)
{
    if ((rc->id != PROMQL_FN_RATE && rc->id != PROMQL_FN_INCREASE) || r->nf < 2)
        return NULL;
    uint32_t *drops = pq_alloc(q, r->nf * sizeof *drops);
    for (uint32_t k = 1; k < r->nf; k++)
        drops[k] = drops[k - 1] + (r->fv[k] < r->fv[k - 1]);
    return drops;
}

/* rate/increase over floats whose name lacks a counter suffix. */
static void info_not_counter(struct pq_query *q, const struct rcall *rc,
                             const struct promql_lset *ls)
{
    struct str name = pq_metric_name(ls);
    if (name.len && !counter_suffix(name))
        pq_info(q, rc->marg->pos_start,
                "metric might not be a counter, name does not end in "
                "_total/_sum/_count/_bucket: %s",
                pq_q(q, name));
}

static void eval_series(struct pq_ev *ev, struct rcall *rc, const struct pq_raw *r,
                        struct pq_vec *out, bool *found)
{
    struct pq_query *q = ev->q;
    bool drop =
        (rc->id != PROMQL_FN_LAST_OVER_TIME && rc->id != PROMQL_FN_FIRST_OVER_TIME) || r->drop_name;
    struct pq_fctx c;
    fctx_init(&c, q, rc, r);
    uint32_t fa = 0, fb = 0, ha = 0, hb = 0, o = UINT32_MAX;
    bool any_float = false, stats = rc->vs && pq_is_stats_sel(q, rc->vs);
    uint32_t *drops = counter_drops(q, rc, r);
    struct promql_hist **sh = stats && r->nh ? pq_alloc(q, r->nh * sizeof *sh) : NULL;
    int64_t lo_ext = rc->anchored || rc->smoothed ? rc->lb : 0, hi_ext = rc->smoothed ? rc->lb : 0;
    for (uint32_t i = 0; i < ev->nsteps; i++) {
        c.ts = pq_ts(ev, i);
        c.range_end = (rc->has_at ? rc->at : c.ts) - rc->offset;
        c.range_start = c.range_end - rc->range;
        slide(r->ft, r->nf, c.range_start - lo_ext, c.range_end + hi_ext, &fa, &fb);
        slide(r->ht, r->nh, c.range_start - lo_ext, c.range_end + hi_ext, &ha, &hb);
        if (fa == fb && ha == hb)
            continue;
        struct pq_win w = {r->ft + fa, r->fv + fa, r->fst ? r->fst + fa : NULL, fb - fa,
                           r->ht + ha, r->hv + ha, r->hst ? r->hst + ha : NULL, hb - ha};
        if (sh) {
            for (uint32_t k = ha; k < hb; k++)
                sh[k - ha] = pq_stats_hist(q, r->hv, r->ht, k, c.range_start - lo_ext);
            w.hv = sh;
        }
        c.no_float_resets = drops && fb > fa && drops[fb - 1] == drops[fa];
        c.p0 = rc->p[0] ? rc->p[0][i] : 0;
        c.p1 = rc->p[1] ? rc->p[1][i] : 0;
        double f = 0;
        struct promql_hist *h = NULL;
        int k = rc->fn(&c, &w, &f, &h);
        arena_reset(&q->tmp);
        if (!k)
            continue;
        if (found) {
            found[i] = true;
            continue;
        }
        if (o == UINT32_MAX)
            o = pq_vec_add(ev, out, drop && q->o.keep_name_early ? pq_drop_meta(q, r->ls) : r->ls,
                           drop);
        if (k == 1) {
            pq_vec_setf(ev, out, o, i, f);
            any_float = true;
        } else {
            pq_vec_seth(ev, out, o, i, h);
        }
    }
    pq_free(q, sh);
    pq_free(q, drops);
    if ((rc->id == PROMQL_FN_RATE || rc->id == PROMQL_FN_INCREASE) && any_float)
        info_not_counter(q, rc, r->ls);
}

void pq_eval_range_call(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out,
                        struct pq_sink *sink)
{
    struct pq_query *q = ev->q;
    struct rcall rc;
    prepare(ev, n, &rc);
    int64_t first_end = (rc.has_at ? rc.at : ev->start) - rc.offset;
    int64_t last_end = (rc.has_at ? rc.at : ev->end) - rc.offset;
    int64_t mint = first_end - rc.range + 1, maxt = last_end;
    if (rc.anchored || rc.smoothed)
        mint -= rc.lb;
    if (rc.smoothed)
        maxt += rc.lb;
    struct pq_rsrc src;
    pq_rsrc_open(ev, rc.marg, mint, maxt, n->call.func->name, &src);
    bool *found = NULL;
    if (rc.id == PROMQL_FN_ABSENT_OVER_TIME)
        found = pq_alloc(q, ev->nsteps * sizeof *found);
    pq_vec_init(ev, out);
    if (sink)
        out->instant = true; /* series are handed over one by one: no label map */
    const struct pq_raw *r;
    while (pq_rsrc_next(&src, &r)) {
        uint32_t before = out->n;
        eval_series(ev, &rc, r, out, found);
        if (sink && out->n > before)
            pq_vec_sink_last(q, out, sink);
    }
    pq_rsrc_close(&src);
    if (found) {
        absent_over_time(ev, &rc, found, out);
        pq_free(q, found);
    }
    pq_free(q, rc.p[0]);
    pq_free(q, rc.p[1]);
}
