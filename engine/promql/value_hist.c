/* Float native histograms on dense bucket arrays: bucket bounds, iteration, copy and schema
 * reduction, Add/Sub/KahanAdd with zero-threshold and custom-bound reconciliation, counter reset
 * detection, equality, trimming (</ and >/) and Go's String() form. Semantics follow
 * Prometheus's model/histogram FloatHistogram (see value.h for the representation). */
#include "engine/promql/value.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "base/error.h"
#include "engine/promql/print.h"

/* ---- bounds ---- */

static double exp_bound(int32_t idx, int32_t schema)
{
    if (schema < 0) {
        int64_t e = (int64_t)idx * ((int64_t)1 << -schema);
        if (e == 1024)
            return DBL_MAX;
        if (e > 1100)
            return INFINITY;
        if (e < -1100)
            return 0;
        return ldexp(1, (int)e);
    }
    int32_t n = (int32_t)1 << schema;
    int32_t frac_idx = idx & (n - 1);
    int64_t e = ((int64_t)idx >> schema) + 1;
    double frac = (double)(exp2l((long double)frac_idx / n) * 0.5L);
    if (frac == 0.5 && e == 1025)
        return DBL_MAX;
    if (e > 1100)
        return INFINITY;
    if (e < -1100)
        return 0;
    return ldexp(frac, (int)e);
}

double promql_hist_bound(int32_t idx, int32_t schema, const double *custom, uint32_t ncustom)
{
    if (schema == PROMQL_SCHEMA_CUSTOM) {
        if (idx >= (int32_t)ncustom)
            return INFINITY;
        if (idx < 0)
            return -INFINITY;
        return custom[idx];
    }
    return exp_bound(idx, schema);
}

static inline int32_t target_idx(int32_t idx, int32_t from, int32_t to)
{
    return ((idx - 1) >> (from - to)) + 1;
}

/* ---- allocation ---- */

static double *zalloc(struct arena *a, uint32_t n)
{
    if (n == 0)
        return NULL;
    double *p = arena_alloc(a, (size_t)n * sizeof *p);
    if (p)
        memset(p, 0, (size_t)n * sizeof *p);
    return p;
}

struct promql_hist *promql_hist_new(struct arena *a, uint32_t p_len, uint32_t n_len)
{
    struct promql_hist *h = arena_alloc(a, sizeof *h);
    if (!h)
        return NULL;
    memset(h, 0, sizeof *h);
    h->p = zalloc(a, p_len);
    h->n = zalloc(a, n_len);
    if ((p_len && !h->p) || (n_len && !h->n))
        return NULL;
    h->p_len = p_len;
    h->n_len = n_len;
    return h;
}

struct promql_hist *promql_hist_copy(struct arena *a, const struct promql_hist *h)
{
    struct promql_hist *c = promql_hist_new(a, h->p_len, h->n_len);
    if (!c)
        return NULL;
    double *p = c->p, *n = c->n;
    *c = *h;
    c->p = p;
    c->n = n;
    if (h->p_len)
        memcpy(p, h->p, h->p_len * sizeof *p);
    if (h->n_len)
        memcpy(n, h->n, h->n_len * sizeof *n);
    return c;
}

void promql_hist_compact(struct promql_hist *h)
{
    while (h->p_len && h->p[0] == 0) {
        h->p++;
        h->p_len--;
        h->p_off++;
    }
    while (h->p_len && h->p[h->p_len - 1] == 0)
        h->p_len--;
    while (h->n_len && h->n[0] == 0) {
        h->n++;
        h->n_len--;
        h->n_off++;
    }
    while (h->n_len && h->n[h->n_len - 1] == 0)
        h->n_len--;
    if (!h->p_len)
        h->p_off = 0;
    if (!h->n_len)
        h->n_off = 0;
}

void promql_hist_mul(struct promql_hist *h, double f)
{
    h->zero_count *= f;
    h->count *= f;
    h->sum *= f;
    for (uint32_t i = 0; i < h->p_len; i++)
        h->p[i] *= f;
    for (uint32_t i = 0; i < h->n_len; i++)
        h->n[i] *= f;
    if (f < 0)
        h->hint = PROMQL_HINT_GAUGE;
}

void promql_hist_div(struct promql_hist *h, double f)
{
    h->zero_count /= f;
    h->count /= f;
    h->sum /= f;
    if (f == 0) {
        h->p_len = h->n_len = 0;
        h->p_off = h->n_off = 0;
        return;
    }
    for (uint32_t i = 0; i < h->p_len; i++)
        h->p[i] /= f;
    for (uint32_t i = 0; i < h->n_len; i++)
        h->n[i] /= f;
    if (f < 0)
        h->hint = PROMQL_HINT_GAUGE;
}

/* ---- one side of a histogram as a dense array ---- */

struct side {
    int32_t off;
    uint32_t len;
    double *v;
};

static struct side side_get(const struct promql_hist *h, bool pos)
{
    return pos ? (struct side){h->p_off, h->p_len, h->p} : (struct side){h->n_off, h->n_len, h->n};
}

static void side_put(struct promql_hist *h, bool pos, struct side s)
{
    if (pos) {
        h->p_off = s.off;
        h->p_len = s.len;
        h->p = s.v;
    } else {
        h->n_off = s.off;
        h->n_len = s.len;
        h->n = s.v;
    }
}

/* Grows s (in arena a) so that it covers indexes [lo, hi]. */
static int side_cover(struct arena *a, struct side *s, int32_t lo, int32_t hi)
{
    if (s->len == 0) {
        int64_t n = (int64_t)hi - lo + 1;
        if (n > PROMQL_HIST_SPAN_MAX)
            return ERR_LIMIT;
        s->v = zalloc(a, (uint32_t)n);
        if (!s->v)
            return ERR_NOMEM;
        s->off = lo;
        s->len = (uint32_t)n;
        return 0;
    }
    int32_t cur_hi = s->off + (int32_t)s->len - 1;
    if (lo >= s->off && hi <= cur_hi)
        return 0;
    int32_t nlo = lo < s->off ? lo : s->off, nhi = hi > cur_hi ? hi : cur_hi;
    int64_t n = (int64_t)nhi - nlo + 1;
    if (n > PROMQL_HIST_SPAN_MAX)
        return ERR_LIMIT;
    double *v = zalloc(a, (uint32_t)n);
    if (!v)
        return ERR_NOMEM;
    memcpy(v + (s->off - nlo), s->v, s->len * sizeof *v);
    s->v = v;
    s->off = nlo;
    s->len = (uint32_t)n;
    return 0;
}

static inline double side_at(const struct side *s, int32_t idx)
{
    int64_t i = (int64_t)idx - s->off;
    return i >= 0 && i < (int64_t)s->len ? s->v[i] : 0;
}

/* Go's kahansum.Inc (Neumaier variant). */
static inline void kahan_inc(double inc, double *sum, double *c)
{
    volatile double t = *sum + inc;
    if (isinf(t))
        *c = 0;
    else if (fabs(*sum) >= fabs(inc))
        *c += (*sum - t) + inc;
    else
        *c += (inc - t) + *sum;
    *sum = t;
}

/* Reduces a side from schema `from` to the coarser `to`; with comp (aligned compensation), the
 * merge is Kahan-compensated as Prometheus's kahanReduceResolution. Result in the arena. */
static int side_reduce(struct arena *a, struct side *s, struct side *comp, int32_t from, int32_t to)
{
    if (s->len == 0 || from == to)
        return 0;
    int32_t lo = target_idx(s->off, from, to);
    int32_t hi = target_idx(s->off + (int32_t)s->len - 1, from, to);
    uint32_t n = (uint32_t)(hi - lo + 1);
    double *v = zalloc(a, n), *cv = comp ? zalloc(a, n) : NULL;
    if (!v || (comp && !cv))
        return ERR_NOMEM;
    int32_t last = INT32_MIN;
    for (uint32_t i = 0; i < s->len; i++) {
        int32_t t = target_idx(s->off + (int32_t)i, from, to) - lo;
        if (!comp) {
            v[t] += s->v[i];
        } else if (t != last) {
            v[t] = s->v[i];
            cv[t] = comp->v[i];
        } else {
            kahan_inc(s->v[i], &v[t], &cv[t]);
            kahan_inc(comp->v[i], &v[t], &cv[t]);
        }
        last = t;
    }
    *s = (struct side){lo, n, v};
    if (comp)
        *comp = (struct side){lo, n, cv};
    return 0;
}

struct promql_hist *promql_hist_copy_to_schema(struct arena *a, const struct promql_hist *h,
                                               int32_t schema)
{
    struct promql_hist *c = promql_hist_copy(a, h);
    if (!c || schema == h->schema)
        return c;
    for (int pos = 0; pos < 2; pos++) {
        struct side s = side_get(c, pos);
        if (side_reduce(a, &s, NULL, c->schema, schema))
            return NULL;
        side_put(c, pos, s);
    }
    c->schema = schema;
    c->hint = PROMQL_HINT_UNKNOWN;
    return c;
}

/* ---- zero bucket reconciliation ---- */

/* zeroCountForLargerThreshold: the zero count h would have with threshold `larger` (>= its own)
 * and the threshold actually needed (moved up to a populated bucket's upper bound). With c, the
 * compensation buckets are folded in too (Kahan), and *cz receives the compensation count. */
static double zero_count_for(const struct promql_hist *h, double larger, double *out_thr,
                             const struct promql_hist *c, double *cz)
{
    double czc = c ? c->zero_count : 0;
    if (larger == h->zero_threshold) {
        *out_thr = larger;
        if (cz)
            *cz = czc;
        return h->zero_count;
    }
    for (;;) {
        double zc = h->zero_count, ccount = c ? c->zero_count : 0;
        bool redo = false;
        for (uint32_t i = 0; i < h->p_len; i++) {
            int32_t idx = h->p_off + (int32_t)i;
            double lower = exp_bound(idx - 1, h->schema), upper = exp_bound(idx, h->schema);
            if (lower >= larger)
                break;
            kahan_inc(h->p[i], &zc, &ccount);
            if (c)
                kahan_inc(c->p[i], &zc, &ccount);
            if (upper > larger) {
                if (h->p[i] != 0)
                    larger = upper;
                break;
            }
        }
        for (uint32_t i = 0; i < h->n_len; i++) {
            int32_t idx = h->n_off + (int32_t)i;
            double upper = -exp_bound(idx - 1, h->schema), lower = -exp_bound(idx, h->schema);
            if (upper <= -larger)
                break;
            kahan_inc(h->n[i], &zc, &ccount);
            if (c)
                kahan_inc(c->n[i], &zc, &ccount);
            if (lower < -larger) {
                if (h->n[i] != 0) {
                    larger = -lower;
                    redo = true;
                }
                break;
            }
        }
        if (redo)
            continue;
        *out_thr = larger;
        if (cz)
            *cz = ccount;
        return zc;
    }
}

/* Zeroes every bucket below the zero threshold (their counts are in the zero count already). */
static void trim_in_zero(struct promql_hist *h, struct promql_hist *c)
{
    for (uint32_t i = 0; i < h->p_len; i++) {
        if (exp_bound(h->p_off + (int32_t)i - 1, h->schema) >= h->zero_threshold)
            break;
        h->p[i] = 0;
        if (c)
            c->p[i] = 0;
    }
    for (uint32_t i = 0; i < h->n_len; i++) {
        if (-exp_bound(h->n_off + (int32_t)i - 1, h->schema) <= -h->zero_threshold)
            break;
        h->n[i] = 0;
        if (c)
            c->n[i] = 0;
    }
    if (!c)
        promql_hist_compact(h);
}

static void reconcile_zero(struct promql_hist *h, const struct promql_hist *other,
                           struct promql_hist *c, double *other_zc)
{
    *other_zc = other->zero_count;
    double other_thr = other->zero_threshold;
    while (other_thr != h->zero_threshold) {
        if (h->zero_threshold > other_thr)
            *other_zc = zero_count_for(other, h->zero_threshold, &other_thr, NULL, NULL);
        if (other_thr > h->zero_threshold) {
            double thr, cz = 0;
            h->zero_count = zero_count_for(h, other_thr, &thr, c, c ? &cz : NULL);
            h->zero_threshold = thr;
            if (c) {
                c->zero_count = cz;
                c->zero_threshold = thr;
            }
            trim_in_zero(h, c);
        }
    }
}

/* ---- addition ---- */

static bool adjust_hint(struct promql_hist *h, const struct promql_hist *o)
{
    if (o->hint == h->hint || h->hint == PROMQL_HINT_GAUGE)
        return false;
    if (o->hint == PROMQL_HINT_GAUGE) {
        h->hint = PROMQL_HINT_GAUGE;
        return false;
    }
    if (h->hint == PROMQL_HINT_UNKNOWN)
        return false;
    h->hint = PROMQL_HINT_UNKNOWN;
    return o->hint != PROMQL_HINT_UNKNOWN;
}

static bool bounds_match(const struct promql_hist *a, const struct promql_hist *b)
{
    if (a->ncustom != b->ncustom)
        return false;
    for (uint32_t i = 0; i < a->ncustom; i++)
        if (a->custom[i] != b->custom[i])
            return false;
    return true;
}

/* Adds (or subtracts) side `o` (with optional compensation oc) into h's side (with optional
 * compensation hc, always aligned with it), skipping exponential buckets within the zero
 * bucket. */
static int side_add(struct arena *a, struct side *hs, struct side *hc, const struct side *o,
                    const struct side *oc, bool negate, int32_t schema, double thr)
{
    uint32_t first = 0;
    if (schema != PROMQL_SCHEMA_CUSTOM)
        while (first < o->len && exp_bound(o->off + (int32_t)first, schema) <= thr)
            first++;
    uint32_t last = o->len;
    while (last > first && o->v[last - 1] == 0 && (!oc || oc->v[last - 1] == 0))
        last--;
    while (first < last && o->v[first] == 0 && (!oc || oc->v[first] == 0))
        first++;
    if (first >= last)
        return 0;
    int32_t lo = o->off + (int32_t)first, hi = o->off + (int32_t)last - 1;
    int rc = side_cover(a, hs, lo, hi);
    if (rc == 0 && hc) {
        rc = side_cover(a, hc, hs->off, hs->off + (int32_t)hs->len - 1);
    }
    if (rc)
        return rc;
    for (uint32_t i = first; i < last; i++) {
        int32_t k = o->off + (int32_t)i - hs->off;
        double v = negate ? -o->v[i] : o->v[i];
        if (!hc) {
            hs->v[k] += v;
            continue;
        }
        double vc = oc ? (negate ? -oc->v[i] : oc->v[i]) : 0;
        kahan_inc(v, &hs->v[k], &hc->v[k]);
        if (vc != 0)
            kahan_inc(vc, &hs->v[k], &hc->v[k]);
    }
    return 0;
}

/* addCustomBucketsWithMismatches: maps both histograms' buckets onto the intersection of their
 * bounds (Kahan-summed per target bucket); hc receives the compensation when given. */
static int custom_mismatch_add(struct arena *a, struct promql_hist *h, struct promql_hist *hc,
                               const struct promql_hist *o, bool negate)
{
    uint32_t ni = 0;
    double *inter = arena_alloc(a, (h->ncustom < o->ncustom ? h->ncustom : o->ncustom) * 8 + 8);
    if (!inter)
        return ERR_NOMEM;
    for (uint32_t i = 0, j = 0; i < h->ncustom && j < o->ncustom;) {
        if (h->custom[i] == o->custom[j]) {
            inter[ni++] = h->custom[i];
            i++;
            j++;
        } else if (h->custom[i] < o->custom[j]) {
            i++;
        } else {
            j++;
        }
    }
    double *t = zalloc(a, ni + 1), *tc = zalloc(a, ni + 1);
    if (!t || !tc)
        return ERR_NOMEM;
    for (int pass = 0; pass < 2; pass++) {
        const struct promql_hist *src = pass ? o : h;
        uint32_t ii = 0;
        for (uint32_t b = 0; b < src->p_len; b++) {
            int32_t idx = src->p_off + (int32_t)b;
            uint32_t target = ni;
            if (idx >= 0 && (uint32_t)idx < src->ncustom) {
                while (ii < ni && inter[ii] < src->custom[idx])
                    ii++;
                if (ii < ni)
                    target = ii;
            }
            double v = src->p[b];
            if (pass && negate)
                v = -v;
            kahan_inc(v, &t[target], &tc[target]);
            if (!pass && hc && b < hc->p_len)
                kahan_inc(hc->p[b], &t[target], &tc[target]);
        }
    }
    h->p = t;
    h->p_off = 0;
    h->p_len = ni + 1;
    h->custom = inter;
    h->ncustom = ni;
    if (hc) {
        hc->p = tc;
        hc->p_off = 0;
        hc->p_len = ni + 1;
        hc->custom = inter;
        hc->ncustom = ni;
    }
    return 0;
}

static int add_custom(struct arena *a, struct promql_hist *h, struct promql_hist *hc,
                      const struct promql_hist *o, bool negate, struct promql_hist_addinfo *info)
{
    if (!bounds_match(h, o)) {
        info->nhcb_reconciled = true;
        return custom_mismatch_add(a, h, hc, o, negate);
    }
    struct side hs = side_get(h, true), os = side_get(o, true);
    struct side cs = hc ? side_get(hc, true) : (struct side){0};
    int rc = side_add(a, &hs, hc ? &cs : NULL, &os, NULL, negate, h->schema, 0);
    if (rc)
        return rc;
    side_put(h, true, hs);
    if (hc)
        side_put(hc, true, cs);
    return 0;
}

/* The shared body of Add, Sub and KahanAdd; hc NULL for the plain versions. */
static int hist_add(struct arena *a, struct promql_hist *h, struct promql_hist *hc,
                    const struct promql_hist *o, bool negate, struct promql_hist_addinfo *info)
{
    if (promql_hist_is_custom(h) != promql_hist_is_custom(o))
        return PROMQL_HIST_ERR_SCHEMA;
    info->reset_collision = adjust_hint(h, o);
    double sign = negate ? -1 : 1;
    if (!promql_hist_is_custom(h)) {
        double ozc;
        reconcile_zero(h, o, hc, &ozc);
        if (hc) {
            kahan_inc(ozc, &h->zero_count, &hc->zero_count);
            kahan_inc(0, &h->zero_count, &hc->zero_count);
        } else {
            h->zero_count += sign * ozc;
        }
    }
    if (hc) {
        kahan_inc(o->count, &h->count, &hc->count);
        kahan_inc(o->sum, &h->sum, &hc->sum);
    } else {
        h->count += sign * o->count;
        h->sum += sign * o->sum;
    }
    if (promql_hist_is_custom(h))
        return add_custom(a, h, hc, o, negate, info);
    for (int pos = 1; pos >= 0; pos--) {
        struct side hs = side_get(h, pos), os = side_get(o, pos);
        struct side cs = hc ? side_get(hc, pos) : (struct side){0}, ocs = {0};
        int rc = 0;
        if (o->schema < h->schema)
            rc = side_reduce(a, &hs, hc ? &cs : NULL, h->schema, o->schema);
        if (rc == 0 && o->schema > h->schema) {
            if (hc) {
                ocs = (struct side){os.off, os.len, zalloc(a, os.len)};
                if (os.len && !ocs.v)
                    return ERR_NOMEM;
            }
            rc = side_reduce(a, &os, hc ? &ocs : NULL, o->schema, h->schema);
        }
        int32_t schema = o->schema < h->schema ? o->schema : h->schema;
        if (rc == 0)
            rc = side_add(a, &hs, hc ? &cs : NULL, &os, ocs.v ? &ocs : NULL, negate, schema,
                          h->zero_threshold);
        if (rc)
            return rc;
        side_put(h, pos, hs);
        if (hc)
            side_put(hc, pos, cs);
    }
    if (o->schema < h->schema) {
        h->schema = o->schema;
        if (hc)
            hc->schema = o->schema;
    }
    return 0;
}

int promql_hist_add(struct arena *a, struct promql_hist **h, const struct promql_hist *other,
                    bool negate, struct promql_hist_addinfo *info)
{
    struct promql_hist_addinfo dummy;
    if (!info)
        info = &dummy;
    *info = (struct promql_hist_addinfo){0};
    if (promql_hist_is_custom(*h) != promql_hist_is_custom(other))
        return PROMQL_HIST_ERR_SCHEMA;
    return hist_add(a, *h, NULL, other, negate, info);
}

int promql_hist_kahan_add(struct arena *a, struct promql_hist **h, struct promql_hist **c,
                          const struct promql_hist *other, struct promql_hist_addinfo *info)
{
    struct promql_hist_addinfo dummy;
    if (!info)
        info = &dummy;
    *info = (struct promql_hist_addinfo){0};
    if (promql_hist_is_custom(*h) != promql_hist_is_custom(other))
        return PROMQL_HIST_ERR_SCHEMA;
    if (!*c) {
        struct promql_hist *n = promql_hist_new(a, (*h)->p_len, (*h)->n_len);
        if (!n)
            return ERR_NOMEM;
        n->hint = (*h)->hint;
        n->schema = (*h)->schema;
        n->zero_threshold = (*h)->zero_threshold;
        n->custom = (*h)->custom;
        n->ncustom = (*h)->ncustom;
        n->p_off = (*h)->p_off;
        n->n_off = (*h)->n_off;
        *c = n;
    }
    return hist_add(a, *h, *c, other, false, info);
}

/* ---- comparison ---- */

static bool detect_reset_custom_mismatch(const struct promql_hist *h,
                                         const struct promql_hist *prev)
{
    /* Roll up both histograms' buckets to every bound they share; a smaller rolled-up count in
     * h is a reset. */
    uint32_t i = 0, j = 0;
    uint32_t hb = 0, pb = 0; /* next bucket positions (array index) */
    while (i <= h->ncustom && j <= prev->ncustom) {
        double cb = i < h->ncustom ? h->custom[i] : INFINITY;
        double pbd = j < prev->ncustom ? prev->custom[j] : INFINITY;
        if (cb == pbd) {
            double hs = 0, ps = 0;
            while (hb < h->p_len && promql_hist_bound(h->p_off + (int32_t)hb, h->schema, h->custom,
                                                      h->ncustom) <= cb)
                hs += h->p[hb++];
            while (pb < prev->p_len && promql_hist_bound(prev->p_off + (int32_t)pb, prev->schema,
                                                         prev->custom, prev->ncustom) <= cb)
                ps += prev->p[pb++];
            if (hs < ps)
                return true;
            i++;
            j++;
        } else if (cb < pbd) {
            i++;
        } else {
            j++;
        }
    }
    return false;
}

/* Compares bucket counts side by side: prev reduced to h's schema, buckets at or below the
 * zero threshold skipped. */
static bool buckets_reset(const struct promql_hist *h, const struct promql_hist *prev, bool pos)
{
    struct side cs = side_get(h, pos), ps = side_get(prev, pos);
    bool custom = promql_hist_is_custom(h);
    int32_t last_t = INT32_MIN;
    double acc = 0;
    for (uint32_t i = 0; i <= ps.len; i++) {
        int32_t t = i < ps.len ? target_idx(ps.off + (int32_t)i, prev->schema, h->schema) : 0;
        if (i == ps.len || (t != last_t && last_t != INT32_MIN)) {
            bool skip = !custom && exp_bound(last_t, h->schema) <= h->zero_threshold;
            if (last_t != INT32_MIN && !skip && acc > side_at(&cs, last_t))
                return true;
            acc = 0;
        }
        if (i == ps.len)
            break;
        acc += ps.v[i];
        last_t = t;
    }
    return false;
}

bool promql_hist_detect_reset(const struct promql_hist *h, const struct promql_hist *prev)
{
    if (h->hint == PROMQL_HINT_RESET)
        return true;
    if (h->hint == PROMQL_HINT_NOT_RESET)
        return false;
    if (h->count < prev->count)
        return true;
    if (promql_hist_is_custom(h)) {
        if (!promql_hist_is_custom(prev))
            return true;
        if (!bounds_match(h, prev))
            return detect_reset_custom_mismatch(h, prev);
    }
    if (h->schema > prev->schema)
        return true;
    if (h->zero_threshold < prev->zero_threshold)
        return true;
    double thr;
    double pzc = promql_hist_is_custom(h)
                     ? prev->zero_count
                     : zero_count_for(prev, h->zero_threshold, &thr, NULL, NULL);
    if (!promql_hist_is_custom(h) && thr != h->zero_threshold)
        return true;
    if (h->zero_count < pzc)
        return true;
    return buckets_reset(h, prev, true) || buckets_reset(h, prev, false);
}

static bool same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static bool sides_equal(struct side a, struct side b)
{
    int32_t lo = a.off < b.off ? a.off : b.off;
    int32_t ahi = a.off + (int32_t)a.len, bhi = b.off + (int32_t)b.len;
    int32_t hi = ahi > bhi ? ahi : bhi;
    if (a.len == 0)
        lo = b.off;
    if (b.len == 0)
        lo = a.off;
    for (int32_t i = lo; i < hi; i++)
        if (!same_bits(side_at(&a, i), side_at(&b, i)) &&
            (side_at(&a, i) != 0 || side_at(&b, i) != 0))
            return false;
    return true;
}

bool promql_hist_equals(const struct promql_hist *a, const struct promql_hist *b)
{
    if (a->schema != b->schema || !same_bits(a->count, b->count) || !same_bits(a->sum, b->sum))
        return false;
    if (promql_hist_is_custom(a) && !bounds_match(a, b))
        return false;
    if (a->zero_threshold != b->zero_threshold || !same_bits(a->zero_count, b->zero_count))
        return false;
    return sides_equal(side_get(a, false), side_get(b, false)) &&
           sides_equal(side_get(a, true), side_get(b, true));
}

bool promql_hist_has_overflow(const struct promql_hist *h)
{
    if (isinf(h->zero_count) || isinf(h->count) || isinf(h->sum))
        return true;
    for (uint32_t i = 0; i < h->p_len; i++)
        if (isinf(h->p[i]))
            return true;
    for (uint32_t i = 0; i < h->n_len; i++)
        if (isinf(h->n[i]))
            return true;
    for (uint32_t i = 0; i < h->ncustom; i++)
        if (isinf(h->custom[i]))
            return true;
    return false;
}

/* ---- iteration ---- */

static void bucket_at(const struct promql_hist *h, bool pos, int32_t idx, double count,
                      struct promql_bucket *b)
{
    double up = promql_hist_bound(idx, h->schema, h->custom, h->ncustom);
    double lo = promql_hist_bound(idx - 1, h->schema, h->custom, h->ncustom);
    b->count = count;
    b->index = idx;
    if (pos) {
        b->upper = up;
        b->lower = lo;
    } else {
        b->lower = -up;
        b->upper = -lo;
    }
    if (promql_hist_is_custom(h)) {
        b->lower_incl = idx == 0;
        b->upper_incl = true;
    } else {
        b->lower_incl = b->lower < 0;
        b->upper_incl = b->upper > 0;
    }
}

void promql_hist_iter_init(struct promql_hist_iter *it, const struct promql_hist *h, bool reverse)
{
    it->h = h;
    it->reverse = reverse;
    it->state = 0;
    it->i = -1;
}

static void clamp_zero(const struct promql_hist *h, struct promql_bucket *b)
{
    double zt = h->zero_threshold;
    if (b->upper < 0 && b->upper > -zt)
        b->upper = -zt;
    if (b->lower > 0 && b->lower < zt)
        b->lower = zt;
}

bool promql_hist_iter_next(struct promql_hist_iter *it)
{
    const struct promql_hist *h = it->h;
    /* Forward: negative side from its highest index down, zero, positive ascending.
     * Reverse: positive from the highest index down, zero, negative ascending. */
    bool first_pos = it->reverse;
    for (;;) {
        if (it->state == 0 || it->state == 2) {
            bool pos = it->state == 0 ? first_pos : !first_pos;
            struct side s = side_get(h, pos);
            bool descending = it->state == 0;
            it->i++;
            if (it->i >= (int64_t)s.len) {
                it->state++;
                it->i = -1;
                continue;
            }
            int64_t k = descending ? (int64_t)s.len - 1 - it->i : it->i;
            bucket_at(h, pos, s.off + (int32_t)k, s.v[k], &it->b);
            clamp_zero(h, &it->b);
            return true;
        }
        if (it->state == 1) {
            it->state = 2;
            it->i = -1;
            if (h->zero_count > 0) {
                it->b = (struct promql_bucket){
                    -h->zero_threshold, h->zero_threshold, true, true, h->zero_count, 0};
                return true;
            }
            continue;
        }
        return false;
    }
}

/* ---- trimming (</ and >/) ---- */

static double fraction_below(const struct promql_bucket *b, double v, bool linear)
{
    if (linear)
        return (v - b->lower) / (b->upper - b->lower);
    double ll = log2(fabs(b->lower)), lu = log2(fabs(b->upper)), lv = log2(fabs(v));
    if (v > 0)
        return (lv - ll) / (lu - ll);
    return 1 - ((lv - lu) / (ll - lu));
}

static double midpoint(double lo, double up, bool positive, bool linear)
{
    if (isinf(lo)) {
        if (isinf(up))
            return 0;
        return up > 0 ? up / 2 : up;
    }
    if (isinf(up))
        return lo;
    if (linear)
        return (lo + up) / 2;
    double g = sqrt(fabs(lo * up));
    return positive ? g : -g;
}

static double zero_if_inf(double x)
{
    return isinf(x) ? 0 : x;
}

static void trim_infinite(const struct promql_bucket *b, double rhs, bool upper, double *keep,
                          double *mid)
{
    if (isinf(b->lower) && b->lower < 0) {
        if (upper) {
            if (rhs >= b->upper) {
                *keep = b->count, *mid = 0;
            } else if (rhs > 0 && b->upper > 0 && !isinf(b->upper)) {
                *keep = b->count * rhs / b->upper, *mid = rhs / 2;
            } else if (b->upper <= 0) {
                *keep = b->count, *mid = rhs;
            } else {
                *keep = 0, *mid = zero_if_inf(b->upper);
            }
            return;
        }
        if (rhs >= 0 && b->upper > rhs && !isinf(b->upper))
            *keep = b->count * (1 - rhs / b->upper), *mid = (rhs + b->upper) / 2;
        else
            *keep = 0, *mid = zero_if_inf(b->upper);
        return;
    }
    if (upper) {
        *keep = 0, *mid = zero_if_inf(b->lower);
        return;
    }
    if (rhs >= b->lower)
        *keep = b->count, *mid = rhs;
    else
        *keep = 0, *mid = zero_if_inf(b->lower);
}

static void trim_bucket(const struct promql_bucket *b, double rhs, bool upper, bool positive,
                        bool custom, double *keep, double *mid)
{
    if ((isinf(b->lower) && b->lower < 0) || (isinf(b->upper) && b->upper > 0)) {
        trim_infinite(b, rhs, upper, keep, mid);
        return;
    }
    double under;
    if (rhs <= b->lower)
        under = 0;
    else if (rhs >= b->upper)
        under = b->count;
    else
        under = b->count * fraction_below(b, rhs, custom);
    if (upper) {
        *keep = under;
        *mid = midpoint(b->lower, rhs, positive, custom);
    } else {
        *keep = b->count - under;
        *mid = midpoint(rhs, b->upper, positive, custom);
    }
}

static void trim_side(struct promql_hist *h, bool pos, double rhs, bool upper, double *count,
                      double *sum, bool *trimmed, bool *has)
{
    struct side s = side_get(h, pos);
    bool custom = promql_hist_is_custom(h);
    for (uint32_t i = 0; i < s.len; i++) {
        if (s.v[i] == 0)
            continue;
        *has = true;
        struct promql_bucket b;
        bucket_at(h, pos, s.off + (int32_t)i, s.v[i], &b);
        bool keep_all = upper ? b.upper <= rhs : b.lower >= rhs;
        bool partial = upper ? b.lower < rhs : b.upper > rhs;
        if (keep_all) {
            *count += b.count;
            *sum += midpoint(b.lower, b.upper, pos, custom) * b.count;
        } else if (partial) {
            double keep, mid;
            trim_bucket(&b, rhs, upper, pos, custom, &keep, &mid);
            *count += keep;
            *sum += mid * keep;
            if (s.v[i] != keep) {
                s.v[i] = keep;
                *trimmed = true;
            }
        } else {
            s.v[i] = 0;
            *trimmed = true;
        }
    }
}

void promql_hist_trim(struct promql_hist *h, double rhs, bool upper)
{
    double count = 0, sum = 0;
    bool trimmed = false, has_pos = false, has_neg = false;
    trim_side(h, true, rhs, upper, &count, &sum, &trimmed, &has_pos);
    trim_side(h, false, rhs, upper, &count, &sum, &trimmed, &has_neg);
    if (h->zero_count > 0) {
        double lo = -h->zero_threshold, up = h->zero_threshold, keep, mid;
        if (has_neg && !has_pos)
            up = 0;
        if (has_pos && !has_neg)
            lo = 0;
        if (upper) {
            if (rhs <= lo)
                keep = 0, mid = 0;
            else if (rhs >= up)
                keep = h->zero_count, mid = (lo + up) / 2;
            else
                keep = h->zero_count * (rhs - lo) / (up - lo), mid = (lo + rhs) / 2;
        } else {
            if (rhs <= lo)
                keep = h->zero_count, mid = (lo + up) / 2;
            else if (rhs >= up)
                keep = 0, mid = 0;
            else
                keep = h->zero_count * (up - rhs) / (up - lo), mid = (rhs + up) / 2;
        }
        if (h->zero_count != keep) {
            h->zero_count = keep;
            trimmed = true;
        }
        sum += mid * keep;
        count += keep;
    }
    if (trimmed) {
        h->count = count;
        h->sum = sum;
        promql_hist_compact(h);
    }
}

/* ---- String() ---- */

static int format_bucket(struct buf *b, const struct promql_bucket *bk)
{
    int rc = buf_append_u8(b, bk->lower_incl ? '[' : '(');
    if (rc == 0)
        rc = promql_format_float_v(b, bk->lower);
    if (rc == 0)
        rc = buf_append_u8(b, ',');
    if (rc == 0)
        rc = promql_format_float_v(b, bk->upper);
    if (rc == 0)
        rc = buf_append(b, bk->upper_incl ? "]:" : "):", 2);
    return rc ? rc : promql_format_float_v(b, bk->count);
}

int promql_hist_format(struct buf *b, const struct promql_hist *h)
{
    int rc = buf_append_str(b, "{count:");
    if (rc == 0)
        rc = promql_format_float_v(b, h->count);
    if (rc == 0)
        rc = buf_append_str(b, ", sum:");
    if (rc == 0)
        rc = promql_format_float_v(b, h->sum);
    /* Negative buckets from the most negative up (reverse of their index order). */
    for (uint32_t i = h->n_len; rc == 0 && i-- > 0;) {
        if (h->n[i] == 0)
            continue;
        struct promql_bucket bk;
        bucket_at(h, false, h->n_off + (int32_t)i, h->n[i], &bk);
        rc = buf_append(b, ", ", 2);
        if (rc == 0)
            rc = format_bucket(b, &bk);
    }
    if (rc == 0 && h->zero_count != 0) {
        struct promql_bucket z = {
            -h->zero_threshold, h->zero_threshold, true, true, h->zero_count, 0};
        rc = buf_append(b, ", ", 2);
        if (rc == 0)
            rc = format_bucket(b, &z);
    }
    for (uint32_t i = 0; rc == 0 && i < h->p_len; i++) {
        if (h->p[i] == 0)
            continue;
        struct promql_bucket bk;
        bucket_at(h, true, h->p_off + (int32_t)i, h->p[i], &bk);
        rc = buf_append(b, ", ", 2);
        if (rc == 0)
            rc = format_bucket(b, &bk);
    }
    return rc ? rc : buf_append_u8(b, '}');
}
