/* PromQL evaluator, randomized: over random series (irregular scrape intervals, gaps longer than
 * the lookback, stale markers, counter resets, more than one chunk per series),
 *   - a range query equals the instant queries at each of its steps, for a spread of expressions;
 *   - instant selectors, *_over_time, changes/resets and simple aggregations agree with an
 *     oracle computed directly from the generated samples.
 * The seed is printed on failure (STRATA_TEST_SEED reproduces it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"
#include "engine/promql/eval.h"
#include "engine/promql/memstore.h"
#include "engine/promql/parse.h"
#include "formats/gorilla.h"
#include "tests/unit/prop.h"

#define SEC      1000
#define LOOKBACK (300 * SEC)
#define NSER     6
#define MAXS     400

struct ser {
    char inst[16];
    const char *job;
    int n;
    int64_t t[MAXS];
    double v[MAXS];
};

struct pfx {
    struct promql_memstore *ms;
    struct promql_storage st;
    struct promql_engine_opts o;
    struct ser g[NSER], c[NSER]; /* gauges "g" and counters "c_total" */
    int64_t end;
    struct buf b;
};

static int pfx_setup(void **state)
{
    struct pfx *f = calloc(1, sizeof *f);
    f->ms = promql_memstore_create();
    promql_memstore_storage(f->ms, &f->st);
    promql_engine_opts_default(&f->o);
    *state = f;
    return 0;
}

static int pfx_teardown(void **state)
{
    struct pfx *f = *state;
    promql_memstore_destroy(f->ms);
    buf_deinit(&f->b);
    free(f);
    return 0;
}

static bool is_stale(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u == GORILLA_STALE_NAN_BITS;
}

static double stale_nan(void)
{
    uint64_t u = GORILLA_STALE_NAN_BITS;
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* One random series: irregular intervals (5..90 s, sometimes a 6..10 min gap), a stale marker now
 * and then; a counter grows by random amounts and sometimes resets to a small value. */
static void gen_series(struct prop *p, struct ser *s, bool counter)
{
    int64_t t = (int64_t)(prop_unit(p) * 60) * SEC;
    double v = counter ? floor(prop_unit(p) * 100) : 0;
    s->n = 0;
    while (s->n < MAXS) {
        double u = prop_unit(p);
        t += u < 0.03 ? (int64_t)(360 + prop_unit(p) * 240) * SEC
                      : (int64_t)(5 + prop_unit(p) * 85) * SEC;
        if (t > 6 * 3600 * SEC)
            break;
        double x;
        if (prop_unit(p) < 0.02) {
            x = stale_nan();
        } else if (counter) {
            v = prop_unit(p) < 0.03 ? floor(prop_unit(p) * 5) : v + floor(prop_unit(p) * 20);
            x = v;
        } else {
            x = round((prop_unit(p) - 0.5) * 2000) / 8; /* exact in binary: sums stay exact */
        }
        s->t[s->n] = t;
        s->v[s->n++] = x;
    }
}

static void load(struct pfx *f, struct prop *p)
{
    for (int i = 0; i < NSER; i++) {
        for (int k = 0; k < 2; k++) {
            struct ser *s = k ? &f->c[i] : &f->g[i];
            snprintf(s->inst, sizeof s->inst, "i%d", i);
            s->job = i % 3 ? "api" : "db";
            gen_series(p, s, k == 1);
            struct label l[3] = {{STR_LIT("__name__"), str_from_cstr(k ? "c_total" : "g")},
                                 {STR_LIT("instance"), str_from_cstr(s->inst)},
                                 {STR_LIT("job"), str_from_cstr(s->job)}};
            for (int j = 0; j < s->n; j++)
                assert_int_equal(promql_memstore_add_float(f->ms, l, 3, s->t[j], s->v[j], 0), 0);
            if (s->n && s->t[s->n - 1] > f->end)
                f->end = s->t[s->n - 1];
        }
    }
}

static struct promql_result *query(struct pfx *f, const char *q, int64_t start, int64_t end,
                                   int64_t step)
{
    struct promql_ast *ast = NULL;
    struct promql_error pe;
    int rc = promql_parse(q, strlen(q), NULL, &ast, &pe);
    if (rc)
        print_error("%s: %s\n", q, pe.msg);
    assert_int_equal(rc, 0);
    struct promql_result *r = NULL;
    char err[256];
    rc = promql_eval(&f->st, ast, q, strlen(q), &f->o, start, end, step, &r, err, sizeof err);
    promql_ast_destroy(ast);
    if (rc)
        print_error("%s: %s\n", q, err);
    assert_int_equal(rc, 0);
    return r;
}

static const char *lstr(struct pfx *f, const struct promql_lset *l)
{
    buf_reset(&f->b);
    assert_int_equal(promql_lset_format(&f->b, l), 0);
    assert_int_equal(buf_cstr(&f->b), 0);
    return (const char *)f->b.data;
}

static bool same(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    if (a == b)
        return true;
    return isfinite(a) && isfinite(b) && fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

/* The point of matrix series m at t, if any. */
static const struct promql_fpoint *point_at(const struct promql_series *m, int64_t t)
{
    for (size_t j = 0; j < m->nfloats; j++)
        if (m->floats[j].t == t)
            return &m->floats[j];
    return NULL;
}

/* Every step of the range result equals the instant result at that time (same series, same
 * values), and the range result holds no point the instant queries lack. */
static void check_range_equals_instants(struct pfx *f, struct prop *p, const char *q, int64_t start,
                                        int64_t end, int64_t step)
{
    struct promql_result *rr = query(f, q, start, end, step);
    size_t range_points = 0, instant_points = 0;
    for (size_t i = 0; i < rr->nseries; i++)
        range_points += rr->series[i].nfloats;
    for (int64_t t = start; t <= end; t += step) {
        struct promql_result *ri = query(f, q, t, t, 0);
        if (ri->type == PROMQL_RESULT_SCALAR) {
            prop_check(p, rr->nseries == 1);
            const struct promql_fpoint *pt = point_at(&rr->series[0], t);
            prop_check(p, pt && same(pt->v, ri->scalar));
            instant_points++;
        }
        for (size_t i = 0; i < ri->nseries; i++) {
            char want[256];
            snprintf(want, sizeof want, "%s", lstr(f, ri->series[i].labels));
            const struct promql_series *m = NULL;
            for (size_t k = 0; k < rr->nseries && !m; k++)
                if (promql_lset_eq(rr->series[k].labels, ri->series[i].labels))
                    m = &rr->series[k];
            const struct promql_fpoint *pt = m ? point_at(m, t) : NULL;
            if (!pt || !same(pt->v, ri->series[i].floats[0].v))
                print_error("%s at %lld: %s instant %.17g, range %s %.17g\n", q, (long long)t, want,
                            ri->series[i].floats[0].v, pt ? "" : "(missing)", pt ? pt->v : 0.0);
            prop_check(p, pt && same(pt->v, ri->series[i].floats[0].v));
            instant_points++;
        }
        promql_result_free(ri);
    }
    if (range_points != instant_points)
        print_error("%s: range %zu points, instants %zu\n", q, range_points, instant_points);
    prop_check(p, range_points == instant_points);
    promql_result_free(rr);
}

static void test_range_equals_instants(void **state)
{
    struct pfx *f = *state;
    struct prop p = prop_begin("range_equals_instants");
    load(f, &p);
    static const char *const qs[] = {
        "g",
        "c_total offset 3m",
        "rate(c_total[5m])",
        "increase(c_total[10m])",
        "irate(c_total[3m])",
        "delta(g[7m])",
        "deriv(g[10m])",
        "predict_linear(g[10m], 600)",
        "sum by (job) (rate(c_total[5m]))",
        "avg(g)",
        "max by (job) (g)",
        "min_over_time(g[4m])",
        "avg_over_time(g[6m])",
        "quantile_over_time(0.9, g[10m])",
        "stddev_over_time(g[10m])",
        "count_over_time(c_total[2m])",
        "last_over_time(g[1m])",
        "changes(g[15m])",
        "resets(c_total[15m])",
        "topk(2, g)",
        "bottomk by (job) (1, rate(c_total[5m]))",
        "quantile(0.5, g)",
        "count_values(\"v\", g > 100)",
        "g / on(instance, job) group_left rate(c_total[5m])",
        "g > bool 0",
        "g and on(job) (c_total > 50)",
        "sum(g) - count(g)",
        "timestamp(g)",
        "absent(nonexistent)",
        "absent_over_time(g{instance=\"i0\"}[1m])",
        "max_over_time(rate(c_total[5m])[20m:1m])",
        "double_exponential_smoothing(g[10m], 0.5, 0.5)",
        "histogram_quantile(0.9, sum by (le) (label_replace(rate(c_total[5m]), \"le\", \"$1\", "
        "\"instance\", \"i(.*)\")))",
        "scalar(sum(g))",
        "time()",
    };
    int64_t step = (int64_t)(20 + prop_unit(&p) * 100) * SEC;
    int64_t start = (int64_t)(prop_unit(&p) * (double)(f->end / 2));
    int64_t end = start + 25 * step;
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        check_range_equals_instants(f, &p, qs[i], start, end, step);
}

/* ---- oracle checks ---- */

/* Index of the last sample at or before t in (t - range, t], or -1. */
static int last_in(const struct ser *s, int64_t t, int64_t range)
{
    int r = -1;
    for (int j = 0; j < s->n && s->t[j] <= t; j++)
        if (s->t[j] > t - range)
            r = j;
    return r;
}

/* The instant vector value of series s at t (lookback, staleness), or NaN when absent. */
static bool sel(const struct ser *s, int64_t t, double *v)
{
    int j = last_in(s, t, LOOKBACK);
    if (j < 0 || is_stale(s->v[j]))
        return false;
    *v = s->v[j];
    return true;
}

static double value_of(struct pfx *f, const struct promql_result *r, const char *inst, bool *found)
{
    *found = false;
    for (size_t i = 0; i < r->nseries; i++) {
        struct str v = promql_lset_get(r->series[i].labels, STR_LIT("instance"));
        if (v.len == strlen(inst) && !memcmp(v.ptr, inst, v.len)) {
            *found = true;
            return r->series[i].floats[0].v;
        }
    }
    return NAN;
}

/* Per-series oracle of one instant query at t: fn(series) returns false when the series is
 * absent from the result. */
static void check_per_series(struct pfx *f, struct prop *p, const char *q, int64_t t,
                             bool (*fn)(const struct ser *, int64_t, double *), struct ser *set)
{
    struct promql_result *r = query(f, q, t, t, 0);
    size_t want_n = 0;
    for (int i = 0; i < NSER; i++) {
        double want = 0, got;
        bool found, present = fn(&set[i], t, &want);
        got = value_of(f, r, set[i].inst, &found);
        want_n += present;
        if (found != present || (present && !same(got, want)))
            print_error("%s at %lld, %s: got %s%.17g, want %s%.17g\n", q, (long long)t, set[i].inst,
                        found ? "" : "(absent) ", got, present ? "" : "(absent) ", want);
        prop_check(p, found == present && (!present || same(got, want)));
    }
    prop_check(p, r->nseries == want_n);
    promql_result_free(r);
}

/* Samples in (t - 10m, t] that are not stale markers. */
static int window(const struct ser *s, int64_t t, double *out)
{
    int n = 0;
    for (int j = 0; j < s->n; j++)
        if (s->t[j] > t - 600 * SEC && s->t[j] <= t && !is_stale(s->v[j]))
            out[n++] = s->v[j];
    return n;
}

static bool o_count(const struct ser *s, int64_t t, double *v)
{
    double w[MAXS];
    int n = window(s, t, w);
    *v = n;
    return n > 0;
}

static bool o_sum(const struct ser *s, int64_t t, double *v)
{
    double w[MAXS];
    int n = window(s, t, w);
    *v = 0;
    for (int i = 0; i < n; i++)
        *v += w[i];
    return n > 0;
}

static bool o_max(const struct ser *s, int64_t t, double *v)
{
    double w[MAXS];
    int n = window(s, t, w);
    *v = -INFINITY;
    for (int i = 0; i < n; i++)
        *v = fmax(*v, w[i]);
    return n > 0;
}

static bool o_changes(const struct ser *s, int64_t t, double *v)
{
    double w[MAXS];
    int n = window(s, t, w);
    *v = 0;
    for (int i = 1; i < n; i++)
        *v += w[i] != w[i - 1];
    return n > 0;
}

static bool o_resets(const struct ser *s, int64_t t, double *v)
{
    double w[MAXS];
    int n = window(s, t, w);
    *v = 0;
    for (int i = 1; i < n; i++)
        *v += w[i] < w[i - 1];
    return n > 0;
}

static void test_oracle(void **state)
{
    struct pfx *f = *state;
    struct prop p = prop_begin("oracle");
    load(f, &p);
    for (int k = 0; k < 40; k++) {
        int64_t t = (int64_t)(prop_unit(&p) * (double)(f->end + 600 * SEC));
        check_per_series(f, &p, "g", t, sel, f->g);
        check_per_series(f, &p, "c_total", t, sel, f->c);
        check_per_series(f, &p, "count_over_time(g[10m])", t, o_count, f->g);
        check_per_series(f, &p, "sum_over_time(g[10m])", t, o_sum, f->g);
        check_per_series(f, &p, "max_over_time(c_total[10m])", t, o_max, f->c);
        check_per_series(f, &p, "changes(g[10m])", t, o_changes, f->g);
        check_per_series(f, &p, "resets(c_total[10m])", t, o_resets, f->c);

        /* aggregations over the selected values */
        double sum = 0, mx = -INFINITY, v;
        int n = 0;
        for (int i = 0; i < NSER; i++)
            if (sel(&f->g[i], t, &v)) {
                sum += v;
                mx = fmax(mx, v);
                n++;
            }
        struct promql_result *r = query(f, "sum(g)", t, t, 0);
        prop_check(&p, r->nseries == (n > 0));
        if (n)
            prop_check(&p, same(r->series[0].floats[0].v, sum));
        promql_result_free(r);
        r = query(f, "count(g) * 1000 + max(g)", t, t, 0);
        if (n)
            prop_check(&p, r->nseries == 1 && same(r->series[0].floats[0].v, n * 1000 + mx));
        promql_result_free(r);
        /* g - g: every present series with its name dropped, all zero */
        r = query(f, "g - g", t, t, 0);
        prop_check(&p, r->nseries == (size_t)n);
        for (size_t i = 0; i < r->nseries; i++) {
            prop_check(&p, r->series[i].floats[0].v == 0);
            prop_check(&p, !promql_lset_has(r->series[i].labels, STR_LIT("__name__")));
        }
        promql_result_free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_range_equals_instants, pfx_setup, pfx_teardown),
        cmocka_unit_test_setup_teardown(test_oracle, pfx_setup, pfx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
