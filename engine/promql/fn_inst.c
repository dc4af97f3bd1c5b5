/* PromQL function dispatch and the instant-vector and scalar functions: math, clamp, round,
 * date/time, time()/pi()/vector()/scalar(), timestamp(), start_timestamp(), absent(), sort*,
 * min_of/max_of. Range-vector functions live in fn_range.c and fn_over_time.c, label functions in
 * fn_label.c, histogram functions in fn_hist.c, info() in fn_info.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "engine/promql/eval_internal.h"

static const struct promql_node *arg(const struct promql_node *n, uint32_t i)
{
    return pq_unparen(n->call.args[i]);
}

/* ---- simple float functions ---- */

static double sgn(double v)
{
    return v < 0 ? -1 : v > 0 ? 1 : v;
}

static double apply_math(enum promql_func_id id, double v)
{
    switch (id) {
    case PROMQL_FN_ABS: return fabs(v);
    case PROMQL_FN_CEIL: return ceil(v);
    case PROMQL_FN_FLOOR: return floor(v);
    case PROMQL_FN_EXP: return exp(v);
    case PROMQL_FN_SQRT: return sqrt(v);
    case PROMQL_FN_LN: return log(v);
    case PROMQL_FN_LOG2: return log2(v);
    case PROMQL_FN_LOG10: return log10(v);
    case PROMQL_FN_SIN: return sin(v);
    case PROMQL_FN_COS: return cos(v);
    case PROMQL_FN_TAN: return tan(v);
    case PROMQL_FN_ASIN: return asin(v);
    case PROMQL_FN_ACOS: return acos(v);
    case PROMQL_FN_ATAN: return atan(v);
    case PROMQL_FN_SINH: return sinh(v);
    case PROMQL_FN_COSH: return cosh(v);
    case PROMQL_FN_TANH: return tanh(v);
    case PROMQL_FN_ASINH: return asinh(v);
    case PROMQL_FN_ACOSH: return acosh(v);
    case PROMQL_FN_ATANH: return atanh(v);
    case PROMQL_FN_RAD: return v * M_PI / 180;
    case PROMQL_FN_DEG: return v * 180 / M_PI;
    case PROMQL_FN_SGN: return sgn(v);
    default: return v;
    }
}

/* ---- date functions (UTC, proleptic Gregorian, like Go's time package) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

struct civil {
    int64_t year;
    int month, day, hour, minute, wday, yday;
};

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static void civil_from_unix(int64_t secs, struct civil *c)
{
    int64_t days = floor_div(secs, 86400), rem = secs - days * 86400;
    c->hour = (int)(rem / 3600);
    c->minute = (int)(rem % 3600 / 60);
    c->wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    int64_t z = days + 719468, era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    c->day = (int)(doy - (153 * mp + 2) / 5 + 1);
    c->month = (int)(mp < 10 ? mp + 3 : mp - 9);
    c->year = y + (c->month <= 2);
    static const int cum[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    c->yday = cum[c->month - 1] + c->day + (c->month > 2 && leap(c->year));
}

static double date_value(enum promql_func_id id, double secs)
{
    struct civil c;
    /* Go converts with int64(f); out-of-range values are undefined there. */
    if (isnan(secs) || secs >= 9.2e18 || secs <= -9.2e18)
        secs = (double)INT64_MIN;
    civil_from_unix((int64_t)secs, &c);
    switch (id) {
    case PROMQL_FN_DAY_OF_MONTH: return c.day;
    case PROMQL_FN_DAY_OF_WEEK: return c.wday;
    case PROMQL_FN_DAY_OF_YEAR: return c.yday;
    case PROMQL_FN_DAYS_IN_MONTH: {
        static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        return dim[c.month - 1] + (c.month == 2 && leap(c.year));
    }
    case PROMQL_FN_HOUR: return c.hour;
    case PROMQL_FN_MINUTE: return c.minute;
    case PROMQL_FN_MONTH: return c.month;
    case PROMQL_FN_YEAR: return (double)c.year;
    default: return 0;
    }
}

static bool is_date_fn(enum promql_func_id id)
{
    switch (id) {
    case PROMQL_FN_DAY_OF_MONTH:
    case PROMQL_FN_DAY_OF_WEEK:
    case PROMQL_FN_DAY_OF_YEAR:
    case PROMQL_FN_DAYS_IN_MONTH:
    case PROMQL_FN_HOUR:
    case PROMQL_FN_MINUTE:
    case PROMQL_FN_MONTH:
    case PROMQL_FN_YEAR: return true;
    default: return false;
    }
}

/* ---- element-wise instant functions ---- */

struct elem_args {
    enum promql_func_id id;
    double *a1, *a2; /* scalar arguments per step */
};

/* Float samples only; the name is dropped (delayed). Returns false to drop the sample. */
static bool elem(const struct elem_args *e, uint32_t i, double v, double *out)
{
    switch (e->id) {
    case PROMQL_FN_CLAMP: {
        double lo = e->a1[i], hi = e->a2[i];
        if (hi < lo)
            return false;
        *out = pq_go_max(lo, pq_go_min(hi, v));
        return true;
    }
    case PROMQL_FN_CLAMP_MAX: *out = pq_go_max(-INFINITY, pq_go_min(e->a1[i], v)); return true;
    case PROMQL_FN_CLAMP_MIN: *out = pq_go_max(e->a1[i], pq_go_min(INFINITY, v)); return true;
    case PROMQL_FN_ROUND: {
        double to = e->a1 ? e->a1[i] : 1, inv = 1.0 / to;
        *out = floor(v * inv + 0.5) / inv;
        return true;
    }
    default: *out = is_date_fn(e->id) ? date_value(e->id, v) : apply_math(e->id, v); return true;
    }
}

static void eval_elementwise(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    struct pq_query *q = ev->q;
    struct elem_args e = {n->call.func->id, NULL, NULL};
    struct pq_vec in;
    pq_eval_vector(ev, arg(n, 0), &in);
    if (n->call.nargs > 1)
        e.a1 = pq_eval_scalar(ev, arg(n, 1));
    if (n->call.nargs > 2)
        e.a2 = pq_eval_scalar(ev, arg(n, 2));
    pq_vec_init(ev, out);
    for (uint32_t si = 0; si < in.n; si++) {
        const struct pq_series *s = &in.s[si];
        uint32_t o = UINT32_MAX;
        for (uint32_t i = 0; i < ev->nsteps; i++) {
            double r;
            if (!pq_has(s, i) || pq_hist_at(s, i) || !elem(&e, i, s->f[i], &r))
                continue;
            if (o == UINT32_MAX) {
                const struct promql_lset *ls =
                    q->o.keep_name_early ? pq_drop_meta(q, s->ls) : s->ls;
                o = pq_vec_series(ev, out, ls, true);
            }
            pq_vec_setf(ev, out, o, i, r);
        }
    }
    pq_vec_free(q, &in);
    pq_free(q, e.a1);
    pq_free(q, e.a2);
}

/* Date functions without an argument: vector(time()) as the input. */
static void eval_date_now(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    pq_vec_init(ev, out);
    uint32_t o = pq_vec_add(ev, out, pq_empty_lset(ev->q), false);
    for (uint32_t i = 0; i < ev->nsteps; i++)
        pq_vec_setf(ev, out, o, i,
                    date_value(n->call.func->id, (double)floor_div(pq_ts(ev, i), 1000)));
}

/* ---- timestamp ---- */

static void eval_timestamp(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    struct pq_query *q = ev->q;
    const struct promql_node *a = arg(n, 0);
    struct pq_vec in;
    if (a->kind == PROMQL_VECTOR_SELECTOR)
        pq_eval_vector_selector(ev, a, &in, PQ_SEL_TIMESTAMPS, NULL);
    else
        pq_eval_vector(ev, a, &in);
    bool sel = a->kind == PROMQL_VECTOR_SELECTOR;
    pq_vec_init(ev, out);
    for (uint32_t si = 0; si < in.n; si++) {
        const struct pq_series *s = &in.s[si];
        uint32_t o = UINT32_MAX;
        for (uint32_t i = 0; i < ev->nsteps; i++) {
            if (!pq_has(s, i))
                continue;
            if (o == UINT32_MAX)
                o = pq_vec_series(ev, out, q->o.keep_name_early ? pq_drop_meta(q, s->ls) : s->ls,
                                  true);
            pq_vec_setf(ev, out, o, i, sel ? s->f[i] : (double)pq_ts(ev, i) / 1000);
        }
    }
    pq_vec_free(q, &in);
}

/* ---- absent ---- */

const struct promql_lset *pq_absent_labels(struct pq_query *q, const struct promql_node *a)
{
    a = pq_unparen(a);
    if (a->kind == PROMQL_MATRIX_SELECTOR)
        a = a->ms.vs;
    if (a->kind != PROMQL_VECTOR_SELECTOR)
        return pq_empty_lset(q);
    struct pq_lb b = {0};
    struct str *seen = pq_alloc(q, (a->vs.nmatchers + 1) * sizeof *seen);
    uint32_t nseen = 0;
    for (uint32_t i = 0; i < a->vs.nmatchers; i++) {
        const struct matcher *m = &a->vs.matchers[i];
        if (str_eq(m->name, PQ_NAME))
            continue;
        bool has = false;
        for (uint32_t j = 0; j < nseen && !has; j++)
            has = str_eq(seen[j], m->name);
        if (m->type == MATCHER_EQ && !has) {
            pq_lb_set(q, &b, pq_strdup(q, m->name.ptr, m->name.len),
                      pq_strdup(q, m->value.ptr, m->value.len));
            seen[nseen++] = m->name;
        } else {
            pq_lb_del(&b, m->name);
        }
    }
    const struct promql_lset *ls = pq_lb_make(q, &b);
    pq_lb_free(q, &b);
    pq_free(q, seen);
    return ls;
}

static void eval_absent(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    struct pq_query *q = ev->q;
    struct pq_vec in;
    pq_eval_vector(ev, arg(n, 0), &in);
    pq_vec_init(ev, out);
    uint32_t o = UINT32_MAX;
    for (uint32_t i = 0; i < ev->nsteps; i++) {
        bool any = false;
        for (uint32_t si = 0; si < in.n && !any; si++)
            any = pq_has(&in.s[si], i);
        if (any)
            continue;
        if (o == UINT32_MAX)
            o = pq_vec_add(ev, out, pq_absent_labels(q, n->call.args[0]), false);
        pq_vec_setf(ev, out, o, i, 1);
    }
    pq_vec_free(q, &in);
}

/* ---- sorting (instant queries only; range results are sorted by labels anyway) ---- */

struct sort_ctx {
    const struct pq_vec *v;
    uint32_t *idx;
    bool desc;
    struct str *labels;
    uint32_t nlabels;
};

/* facette/natsort Compare: true when a sorts before b. */
static bool nat_less(struct str a, struct str b);

static int by_value(const void *x, const void *y, void *ctx)
{
    const struct sort_ctx *c = ctx;
    uint32_t i = *(const uint32_t *)x, j = *(const uint32_t *)y;
    double a = c->v->s[i].f[0], b = c->v->s[j].f[0];
    /* NaN always sorts last, ties keep input order. */
    if (isnan(a) || isnan(b)) {
        if (isnan(a) && isnan(b))
            return (i > j) - (i < j);
        return isnan(a) ? 1 : -1;
    }
    if (a != b)
        return c->desc ? (a < b ? 1 : -1) : (a < b ? -1 : 1);
    return (i > j) - (i < j);
}

static int by_label(const void *x, const void *y, void *ctx)
{
    const struct sort_ctx *c = ctx;
    uint32_t i = *(const uint32_t *)x, j = *(const uint32_t *)y;
    const struct promql_lset *a = c->v->s[i].ls, *b = c->v->s[j].ls;
    for (uint32_t k = 0; k < c->nlabels; k++) {
        struct str va = promql_lset_get(a, c->labels[k]), vb = promql_lset_get(b, c->labels[k]);
        if (str_eq(va, vb))
            continue;
        int r = nat_less(va, vb) ? -1 : 1;
        return c->desc ? -r : r;
    }
    int r = promql_lset_cmp(a, b);
    return c->desc ? -r : r;
}

static void eval_sort(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    struct pq_query *q = ev->q;
    enum promql_func_id id = n->call.func->id;
    if (ev->start != ev->end)
        pq_warn(q, n->pos_start,
                "sort is ineffective for range queries since results are always ordered by "
                "labels");
    struct pq_vec in;
    pq_eval_vector(ev, arg(n, 0), &in);
    bool by_lbl = id == PROMQL_FN_SORT_BY_LABEL || id == PROMQL_FN_SORT_BY_LABEL_DESC;
    if (ev->start != ev->end) {
        /* Order is irrelevant; sort() and sort_desc() still drop histograms. */
        *out = in;
        if (!by_lbl)
            for (uint32_t si = 0; si < out->n; si++)
                for (uint32_t i = 0; i < ev->nsteps; i++)
                    if (pq_has(&out->s[si], i) && pq_hist_at(&out->s[si], i)) {
                        out->s[si].bits[i >> 6] &= ~((uint64_t)1 << (i & 63));
                        out->s[si].npts--;
                    }
        pq_vec_compact(q, out);
        return;
    }
    uint32_t *idx = pq_alloc(q, (in.n + 1) * sizeof *idx), k = 0;
    for (uint32_t i = 0; i < in.n; i++)
        if (in.s[i].npts && (by_lbl || !pq_hist_at(&in.s[i], 0)))
            idx[k++] = i;
    struct sort_ctx c = {&in, idx, id == PROMQL_FN_SORT_DESC || id == PROMQL_FN_SORT_BY_LABEL_DESC,
                         NULL, 0};
    if (by_lbl) {
        c.nlabels = n->call.nargs - 1;
        c.labels = pq_alloc(q, (c.nlabels + 1) * sizeof *c.labels);
        for (uint32_t i = 0; i < c.nlabels; i++)
            c.labels[i] = arg(n, i + 1)->string;
    }
    qsort_r(idx, k, sizeof *idx, by_lbl ? by_label : by_value, &c);
    pq_vec_init(ev, out);
    for (uint32_t i = 0; i < k; i++) {
        const struct pq_series *s = &in.s[idx[i]];
        uint32_t o = pq_vec_add(ev, out, s->ls, s->drop_name);
        if (pq_hist_at(s, 0))
            pq_vec_seth(ev, out, o, 0, pq_hist_at(s, 0));
        else
            pq_vec_setf(ev, out, o, 0, s->f[0]);
    }
    pq_free(q, c.labels);
    pq_free(q, idx);
    pq_vec_free(q, &in);
}

static bool all_digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return n > 0;
}

/* Splits s at position *pos into its next run of digits or of non-digits. */
static struct str nat_chunk(struct str s, size_t *pos)
{
    size_t i = *pos;
    bool d = s.ptr[i] >= '0' && s.ptr[i] <= '9';
    while (i < s.len && ((s.ptr[i] >= '0' && s.ptr[i] <= '9') == d))
        i++;
    struct str c = {s.ptr + *pos, i - *pos};
    *pos = i;
    return c;
}

/* strconv.Atoi succeeds for up to 18-19 digits; beyond int64 it fails (compared as text). */
static bool atoi64(struct str s, int64_t *v)
{
    if (!all_digits(s.ptr, s.len))
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (x > (UINT64_C(9223372036854775807) - (uint64_t)(s.ptr[i] - '0')) / 10)
            return false;
        x = x * 10 + (uint64_t)(s.ptr[i] - '0');
    }
    *v = (int64_t)x;
    return true;
}

static bool nat_less(struct str a, struct str b)
{
    size_t pa = 0, pb = 0;
    size_t na = 0, nb = 0;
    for (size_t p = 0; p < a.len; na++)
        nat_chunk(a, &p);
    for (size_t p = 0; p < b.len; nb++)
        nat_chunk(b, &p);
    for (size_t i = 0; i < na; i++) {
        if (i >= nb)
            return false;
        struct str ca = nat_chunk(a, &pa), cb = nat_chunk(b, &pb);
        int64_t ia, ib;
        bool num = atoi64(ca, &ia) && atoi64(cb, &ib);
        bool eq = num ? ia == ib : str_eq(ca, cb);
        if (eq) {
            if (i == na - 1)
                return true;
            if (i == nb - 1)
                return false;
            continue;
        }
        return num ? ia < ib : str_cmp(ca, cb) < 0;
    }
    return false;
}

/* ---- scalar functions ---- */

static void eval_scalar_fn(struct pq_ev *ev, const struct promql_node *n, struct pq_val *out)
{
    struct pq_query *q = ev->q;
    out->kind = PQ_SCALAR;
    out->sc = pq_alloc(q, ev->nsteps * sizeof *out->sc);
    switch (n->call.func->id) {
    case PROMQL_FN_TIME:
        for (uint32_t i = 0; i < ev->nsteps; i++)
            out->sc[i] = (double)pq_ts(ev, i) / 1000;
        return;
    case PROMQL_FN_PI:
        for (uint32_t i = 0; i < ev->nsteps; i++)
            out->sc[i] = M_PI;
        return;
    case PROMQL_FN_START:
    case PROMQL_FN_END:
    case PROMQL_FN_RANGE:
    case PROMQL_FN_STEP: {
        enum promql_func_id id = n->call.func->id;
        double v = id == PROMQL_FN_START   ? (double)q->start / 1000
                   : id == PROMQL_FN_END   ? (double)q->end / 1000
                   : id == PROMQL_FN_RANGE ? (double)(q->end - q->start) / 1000
                                           : (double)q->step / 1000;
        for (uint32_t i = 0; i < ev->nsteps; i++)
            out->sc[i] = v;
        return;
    }
    case PROMQL_FN_MIN_OF:
    case PROMQL_FN_MAX_OF: {
        double *a = pq_eval_scalar(ev, arg(n, 0)), *b = pq_eval_scalar(ev, arg(n, 1));
        bool mx = n->call.func->id == PROMQL_FN_MAX_OF;
        for (uint32_t i = 0; i < ev->nsteps; i++) {
            out->sc[i] = mx ? pq_go_max(a[i], b[i]) : pq_go_min(a[i], b[i]);
        }
        pq_free(q, a);
        pq_free(q, b);
        return;
    }
    case PROMQL_FN_SCALAR: {
        struct pq_vec in;
        pq_eval_vector(ev, arg(n, 0), &in);
        for (uint32_t i = 0; i < ev->nsteps; i++) {
            int found = 0;
            double v = NAN;
            for (uint32_t si = 0; si < in.n && found < 2; si++)
                if (pq_has(&in.s[si], i) && !pq_hist_at(&in.s[si], i)) {
                    v = in.s[si].f[i];
                    found++;
                }
            out->sc[i] = found == 1 ? v : NAN;
        }
        pq_vec_free(q, &in);
        return;
    }
    default: pq_fail(q, ERR_INVALID, "unexpected scalar function %s", n->call.func->name);
    }
}

static void eval_vector_fn(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    double *v = pq_eval_scalar(ev, arg(n, 0));
    pq_vec_init(ev, out);
    uint32_t o = pq_vec_add(ev, out, pq_empty_lset(ev->q), false);
    for (uint32_t i = 0; i < ev->nsteps; i++)
        pq_vec_setf(ev, out, o, i, v[i]);
    pq_free(ev->q, v);
}

/* ---- dispatch ---- */

static bool has_range_arg(const struct promql_node *n)
{
    for (uint32_t i = 0; i < n->call.nargs; i++) {
        const struct promql_node *a = pq_unparen(n->call.args[i]);
        if (a->kind == PROMQL_MATRIX_SELECTOR || a->kind == PROMQL_SUBQUERY)
            return true;
    }
    return false;
}

void pq_eval_call(struct pq_ev *ev, const struct promql_node *n, struct pq_val *out)
{
    enum promql_func_id id = n->call.func->id;
    if (n->call.func->ret == PROMQL_VT_SCALAR) {
        eval_scalar_fn(ev, n, out);
        return;
    }
    out->kind = PQ_VECTOR;
    if (has_range_arg(n)) {
        pq_eval_range_call(ev, n, &out->v, NULL);
        return;
    }
    switch (id) {
    case PROMQL_FN_LABEL_REPLACE:
    case PROMQL_FN_LABEL_JOIN: pq_eval_label_fn(ev, n, &out->v); return;
    case PROMQL_FN_INFO: pq_eval_info(ev, n, &out->v); return;
    case PROMQL_FN_HISTOGRAM_AVG:
    case PROMQL_FN_HISTOGRAM_COUNT:
    case PROMQL_FN_HISTOGRAM_SUM:
    case PROMQL_FN_HISTOGRAM_STDDEV:
    case PROMQL_FN_HISTOGRAM_STDVAR:
    case PROMQL_FN_HISTOGRAM_FRACTION:
    case PROMQL_FN_HISTOGRAM_QUANTILE:
    case PROMQL_FN_HISTOGRAM_QUANTILES: pq_eval_hist_fn(ev, n, &out->v); return;
    case PROMQL_FN_TIMESTAMP: eval_timestamp(ev, n, &out->v); return;
    case PROMQL_FN_START_TIMESTAMP: pq_eval_start_timestamp(ev, n, &out->v); return;
    case PROMQL_FN_ABSENT: eval_absent(ev, n, &out->v); return;
    case PROMQL_FN_VECTOR: eval_vector_fn(ev, n, &out->v); return;
    case PROMQL_FN_SORT:
    case PROMQL_FN_SORT_DESC:
    case PROMQL_FN_SORT_BY_LABEL:
    case PROMQL_FN_SORT_BY_LABEL_DESC: eval_sort(ev, n, &out->v); return;
    default: break;
    }
    if (is_date_fn(id) && n->call.nargs == 0) {
        eval_date_now(ev, n, &out->v);
        return;
    }
    eval_elementwise(ev, n, &out->v);
}
