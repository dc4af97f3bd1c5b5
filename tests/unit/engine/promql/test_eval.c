/* PromQL evaluator: lookback and staleness, left-open windows, rate/increase/delta
 * extrapolation and counter resets computed by hand, vector matching and its errors, aggregation
 * edge cases, @/offset, label_replace captures, result shapes, limits and timeouts, and the
 * in-memory store's ordering rules and counter-reset hints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
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

#define MIN 60000

/* a == b within eps (cmocka's float assertion is single precision). */
#define assert_close(a, b, eps)                                                                    \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (eps)) && !(isnan(a_) && isnan(b_))) {                              \
            print_error("%s = %.17g, expected %.17g\n", #a, a_, b_);                               \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

struct fx {
    struct promql_memstore *ms;
    struct promql_storage st;
    struct promql_engine_opts o;
};

static struct fx *fx_new(void)
{
    struct fx *f = calloc(1, sizeof *f);
    f->ms = promql_memstore_create();
    assert_non_null(f->ms);
    promql_memstore_storage(f->ms, &f->st);
    promql_engine_opts_default(&f->o);
    return f;
}

static void fx_free(struct fx *f)
{
    promql_memstore_destroy(f->ms);
    free(f);
}

/* Fixtures live in cmocka's state so a failed assertion (which longjmps out of the test) still
 * frees them in the teardown. */
static int fx_setup(void **state)
{
    *state = fx_new();
    return 0;
}

static int fx_teardown(void **state)
{
    fx_free(*state);
    return 0;
}

/* add(f, "metric", "job", "a", t, v): one float sample; label pairs NULL-terminated. */
static void add(struct fx *f, const char *name, const char *k, const char *v, int64_t t, double val)
{
    struct label l[2] = {{STR_LIT("__name__"), str_from_cstr(name)}, {{"", 0}, {"", 0}}};
    size_t n = 1;
    if (k)
        l[n++] = (struct label){str_from_cstr(k), str_from_cstr(v)};
    assert_int_equal(promql_memstore_add_float(f->ms, l, n, t, val, 0), 0);
}

static struct promql_result *run(struct fx *f, const char *q, int64_t start, int64_t end,
                                 int64_t step, int expect_rc, char *err)
{
    struct promql_ast *ast = NULL;
    struct promql_error pe;
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &pe), 0);
    struct promql_result *r = NULL;
    char buf[512];
    int rc =
        promql_eval(&f->st, ast, q, strlen(q), &f->o, start, end, step, &r, err ? err : buf, 512);
    promql_ast_destroy(ast);
    if (rc != expect_rc)
        print_error("query %s: rc %d (%s), expected %d\n", q, rc, err ? err : buf, expect_rc);
    assert_int_equal(rc, expect_rc);
    return r;
}

static struct promql_result *instant(struct fx *f, const char *q, int64_t t)
{
    return run(f, q, t, t, 0, 0, NULL);
}

/* The value of the only series (vector) or the scalar. */
static double only(const struct promql_result *r)
{
    if (r->type == PROMQL_RESULT_SCALAR)
        return r->scalar;
    assert_int_equal(r->nseries, 1);
    assert_int_equal(r->series[0].nfloats, 1);
    return r->series[0].floats[0].v;
}

static double instant_value(struct fx *f, const char *q, int64_t t)
{
    struct promql_result *r = instant(f, q, t);
    double v = only(r);
    promql_result_free(r);
    return v;
}

static size_t instant_count(struct fx *f, const char *q, int64_t t)
{
    struct promql_result *r = instant(f, q, t);
    size_t n = r->nseries;
    promql_result_free(r);
    return n;
}

static const char *labels_of(const struct promql_series *s, char *buf, size_t n)
{
    struct buf b = BUF_INIT;
    promql_lset_format(&b, s->labels);
    snprintf(buf, n, "%.*s", (int)b.len, b.data ? (const char *)b.data : "");
    buf_deinit(&b);
    return buf;
}

/* ---- lookback, staleness, windows ---- */

static void test_lookback_and_staleness(void **state)
{
    struct fx *f = *state;
    add(f, "m", NULL, NULL, 0, 1);
    add(f, "m", NULL, NULL, MIN, 2);
    double stale;
    uint64_t bits = GORILLA_STALE_NAN_BITS;
    memcpy(&stale, &bits, sizeof stale);
    add(f, "m", NULL, NULL, 2 * MIN, stale);
    add(f, "m", NULL, NULL, 10 * MIN, 3);
    assert_close(instant_value(f, "m", 30000), 1, 0);
    assert_close(instant_value(f, "m", MIN), 2, 0);
    assert_close(instant_value(f, "m", 2 * MIN - 1), 2, 0);
    assert_int_equal(instant_count(f, "m", 2 * MIN), 0); /* the stale marker hides it at once */
    assert_int_equal(instant_count(f, "m", 5 * MIN), 0);
    /* lookback is 5m: a sample at t is visible for T in [t, t+5m) */
    assert_close(instant_value(f, "m", 15 * MIN - 1), 3, 0);
    assert_int_equal(instant_count(f, "m", 15 * MIN), 0);
    f->o.lookback_ms = MIN;
    assert_close(instant_value(f, "m", 11 * MIN - 1), 3, 0);
    assert_int_equal(instant_count(f, "m", 11 * MIN), 0);
}

static void test_left_open_windows(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i <= 5; i++)
        add(f, "c_total", NULL, NULL, i * MIN, i);
    /* (t-1m, t]: the sample exactly 1m back is out */
    assert_close(instant_value(f, "count_over_time(c_total[1m])", 2 * MIN), 1, 0);
    assert_close(instant_value(f, "count_over_time(c_total[1m1ms])", 2 * MIN), 2, 0);
    assert_close(instant_value(f, "sum_over_time(c_total[2m])", 3 * MIN), 5, 0);
    assert_close(instant_value(f, "last_over_time(c_total[10m] offset 2m)", 5 * MIN), 3, 0);
    assert_close(instant_value(f, "c_total @ 120", 5 * MIN), 2, 0);
    assert_close(instant_value(f, "c_total offset -1m", 2 * MIN), 3, 0);
}

/* ---- extrapolation ---- */

static void test_rate_extrapolation(void **state)
{
    struct fx *f = *state;
    /* 10, 20, 30, 40 at 1m..4m; window (0, 5m]: sampled 180s, 60s to each boundary, average
     * spacing 60s: extrapolate fully (threshold 66s); the zero point is 60s before the first
     * sample, not closer than the start. increase = 30 * (180+60+60)/180 = 50. */
    for (int i = 1; i <= 4; i++)
        add(f, "a_total", NULL, NULL, i * MIN, i * 10);
    assert_close(instant_value(f, "increase(a_total[5m])", 5 * MIN), 50, 1e-9);
    assert_close(instant_value(f, "rate(a_total[5m])", 5 * MIN), 50.0 / 300, 1e-12);
    assert_close(instant_value(f, "delta(a_total[5m])", 5 * MIN), 50, 1e-9);
    /* 100, 110 at 4m, 5m, window (0, 5m]: to start 240s >= 1.1*60s: only 30s; the counter's zero
     * point (60s * 100/10 = 600s back) is farther, so 30s stays; to end 0s.
     * increase = 10 * (60+30+0)/60 = 15. */
    add(f, "b_total", NULL, NULL, 4 * MIN, 100);
    add(f, "b_total", NULL, NULL, 5 * MIN, 110);
    assert_close(instant_value(f, "increase(b_total[5m])", 5 * MIN), 15, 1e-9);
    /* 5, 10 at 4m, 5m: zero point 60s * 5/5 = 60s back, shorter than the 30s? no: 60 > 30. */
    /* Counter reset: 10, 20, 5, 15 at 1m..4m; raw increase 15 - 10 + 20 = 25. */
    add(f, "r_total", NULL, NULL, 1 * MIN, 10);
    add(f, "r_total", NULL, NULL, 2 * MIN, 20);
    add(f, "r_total", NULL, NULL, 3 * MIN, 5);
    add(f, "r_total", NULL, NULL, 4 * MIN, 15);
    /* to start 60s; zero point 180 * 10/25 = 72s -> keep 60; to end 60. factor 300/180 */
    assert_close(instant_value(f, "increase(r_total[5m])", 5 * MIN), 25.0 * 300 / 180, 1e-9);
    /* delta ignores resets: 15 - 10 = 5, same factor */
    assert_close(instant_value(f, "delta(r_total[5m])", 5 * MIN), 5.0 * 300 / 180, 1e-9);
    assert_close(instant_value(f, "resets(r_total[5m])", 5 * MIN), 1, 0);
    assert_close(instant_value(f, "changes(r_total[5m])", 5 * MIN), 3, 0);
    /* irate over the last two samples: 15 - 5 per 60s */
    assert_close(instant_value(f, "irate(r_total[5m])", 5 * MIN), 10.0 / 60, 1e-12);
    /* after a reset between the last two, irate takes the last value */
    assert_close(instant_value(f, "irate(r_total[5m])", 3 * MIN + 1), 5.0 / 60, 1e-12);
    assert_close(instant_value(f, "idelta(r_total[5m])", 3 * MIN + 1), -15, 0);
    /* one sample: no rate */
    assert_int_equal(instant_count(f, "rate(r_total[30s])", 3 * MIN), 0);
}

static void test_rate_zero_point(void **state)
{
    struct fx *f = *state;
    /* 1, 2, 3 at 2m, 3m, 4m in (0, 5m]: to start 120s >= 66s -> 30s; zero point 120s * 1/2 =
     * 60s back -> 30s still smaller; to end 60s. increase = 2 * (120+30+60)/120 = 3.5. */
    add(f, "z_total", NULL, NULL, 2 * MIN, 1);
    add(f, "z_total", NULL, NULL, 3 * MIN, 2);
    add(f, "z_total", NULL, NULL, 4 * MIN, 3);
    assert_close(instant_value(f, "increase(z_total[5m])", 5 * MIN), 3.5, 1e-9);
    /* 0.5, 10.5 at 1m, 2m, window (0, 2m]: to start 60s; zero point 60 * 0.5/10 = 3s back wins;
     * to end 0. increase = 10 * (60+3+0)/60 = 10.5 */
    add(f, "y_total", NULL, NULL, 1 * MIN, 0.5);
    add(f, "y_total", NULL, NULL, 2 * MIN, 10.5);
    assert_close(instant_value(f, "increase(y_total[2m])", 2 * MIN), 10.5, 1e-9);
}

/* ---- matching ---- */

static void test_vector_matching(void **state)
{
    struct fx *f = *state;
    add(f, "req", "job", "a", 0, 10);
    add(f, "req", "job", "b", 0, 20);
    add(f, "lim", "job", "a", 0, 100);
    add(f, "lim", "job", "c", 0, 300);
    struct promql_result *r = instant(f, "req / ignoring(__name__) lim", 0);
    char buf[256];
    assert_int_equal(r->nseries, 1);
    assert_string_equal(labels_of(&r->series[0], buf, sizeof buf), "{job=\"a\"}");
    assert_close(r->series[0].floats[0].v, 0.1, 1e-15);
    promql_result_free(r);
    /* or: lim{job="a"} has the same labels as req{job="a"} once the name is dropped */
    assert_int_equal(instant_count(f, "req or lim", 0), 3);
    assert_int_equal(instant_count(f, "req and on(job) lim", 0), 1);
    assert_int_equal(instant_count(f, "req unless on(job) lim", 0), 1);
    assert_int_equal(instant_count(f, "req > bool on(job) lim", 0), 1);
    /* fill: missing partners take the fill value */
    assert_int_equal(instant_count(f, "req + on(job) fill(0) lim", 0), 3);
    /* two series on the "one" side share the match group */
    add(f, "dup", "x", "1", 0, 1);
    add(f, "dup", "x", "2", 0, 2);
    char err[512];
    struct promql_result *e = run(f, "req * on() dup", 0, 0, 0, ERR_INVALID, err);
    assert_null(e);
    assert_non_null(strstr(err, "found duplicate series for the match group {} on the right"));
    assert_non_null(strstr(err, "[{__name__=\"dup\", x=\"1\"}, {__name__=\"dup\", x=\"2\"}]"));
    run(f, "dup * on() req", 0, 0, 0, ERR_INVALID, err);
    assert_string_equal(err, "found duplicate series for the match group {} on the right hand-side "
                             "of the operation: [{__name__=\"req\", job=\"a\"}, "
                             "{__name__=\"req\", job=\"b\"}];many-to-many matching not allowed: "
                             "matching labels must be unique on one side");
    r = instant(f, "dup * on() group_left(job) lim{job=\"a\"}", 0);
    assert_int_equal(r->nseries, 2);
    for (size_t i = 0; i < r->nseries; i++)
        assert_non_null(strstr(labels_of(&r->series[i], buf, sizeof buf), "job=\"a\""));
    promql_result_free(r);
    run(f, "lim + on() req", 0, 0, 0, ERR_INVALID, err);
}

/* ---- aggregations ---- */

static void test_aggregation_edges(void **state)
{
    struct fx *f = *state;
    add(f, "big", "i", "1", 0, 1e308);
    add(f, "big", "i", "2", 0, 1e308);
    add(f, "big", "i", "3", 0, -1e308);
    /* the running sum overflows: the mean is computed incrementally instead */
    assert_close(instant_value(f, "avg(big)", 0), 1e308 / 3, 1e292);
    add(f, "k", "i", "1", 0, 1e100);
    add(f, "k", "i", "2", 0, 1);
    add(f, "k", "i", "3", 0, -1e100);
    assert_close(instant_value(f, "sum(k)", 0), 1, 0); /* Kahan-Neumaier summation */
    assert_close(instant_value(f, "count(k)", 0), 3, 0);
    assert_close(instant_value(f, "group(k)", 0), 1, 0);
    assert_close(instant_value(f, "stddev(k{i=\"2\"})", 0), 0, 0);
    assert_close(instant_value(f, "quantile(0.5, k)", 0), 1, 0);
    assert_close(instant_value(f, "max(k)", 0), 1e100, 0);
    /* quantile out of range: +-Inf with a warning */
    struct promql_result *r = instant(f, "quantile(2, k)", 0);
    assert_true(isinf(only(r)) && only(r) > 0);
    assert_int_equal(r->nannos, 1);
    assert_true(r->annos[0].warning);
    assert_string_equal(r->annos[0].text, "PromQL warning: quantile value should be between 0 and "
                                          "1, got 2 (1:10)");
    promql_result_free(r);
    /* topk keeps the input order among ties, bottomk sorts ascending */
    add(f, "t", "i", "a", 0, 5);
    add(f, "t", "i", "b", 0, 5);
    add(f, "t", "i", "c", 0, 7);
    r = instant(f, "topk(2, t)", 0);
    assert_int_equal(r->nseries, 2);
    assert_close(r->series[0].floats[0].v, 7, 0);
    assert_close(r->series[1].floats[0].v, 5, 0);
    promql_result_free(r);
    r = instant(f, "bottomk(3, t)", 0);
    assert_int_equal(r->nseries, 3);
    assert_close(r->series[2].floats[0].v, 7, 0);
    promql_result_free(r);
    assert_int_equal(instant_count(f, "count_values(\"v\", t)", 0), 2);
    char err[512];
    run(f, "topk(NaN, t)", 0, 0, 0, ERR_INVALID, err);
    assert_string_equal(err, "Parameter value is NaN");
    assert_int_equal(instant_count(f, "topk(0, t)", 0), 0);
    assert_int_equal(instant_count(f, "sum by (i) (t)", 0), 3);
    assert_int_equal(instant_count(f, "sum without (i) (t)", 0), 1);
}

/* ---- labels, shapes, errors ---- */

static void test_label_replace(void **state)
{
    struct fx *f = *state;
    add(f, "m", "src", "host-42.example", 0, 1);
    struct promql_result *r = instant(
        f, "label_replace(m, \"dst\", \"$2:${1}x$$\", \"src\", \"(.*)-([0-9]+)\\\\..*\")", 0);
    char buf[256];
    assert_string_equal(labels_of(&r->series[0], buf, sizeof buf),
                        "{__name__=\"m\", dst=\"42:hostx$\", src=\"host-42.example\"}");
    promql_result_free(r);
    /* not matching: unchanged; invalid regex: error */
    r = instant(f, "label_replace(m, \"dst\", \"x\", \"src\", \"nomatch\")", 0);
    assert_string_equal(labels_of(&r->series[0], buf, sizeof buf),
                        "{__name__=\"m\", src=\"host-42.example\"}");
    promql_result_free(r);
    r = instant(f, "label_join(m, \"j\", \"-\", \"src\", \"src\")", 0);
    assert_non_null(
        strstr(labels_of(&r->series[0], buf, sizeof buf), "j=\"host-42.example-host-42.example\""));
    promql_result_free(r);
}

static void test_result_shapes(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i <= 10; i++) {
        add(f, "m", "i", "b", i * MIN, i);
        add(f, "m", "i", "a", i * MIN, -i);
    }
    struct promql_result *r = run(f, "m", 0, 10 * MIN, 2 * MIN, 0, NULL);
    assert_int_equal(r->type, PROMQL_RESULT_MATRIX);
    assert_int_equal(r->nseries, 2);
    char buf[128];
    assert_string_equal(labels_of(&r->series[0], buf, sizeof buf), "{__name__=\"m\", i=\"a\"}");
    assert_int_equal(r->series[1].nfloats, 6);
    assert_int_equal(r->series[1].floats[5].t, 10 * MIN);
    assert_close(r->series[1].floats[5].v, 10, 0);
    promql_result_free(r);
    r = run(f, "1 + 1", 0, 2 * MIN, MIN, 0, NULL);
    assert_int_equal(r->type, PROMQL_RESULT_MATRIX);
    assert_int_equal(r->nseries, 1);
    assert_int_equal(r->series[0].labels->n, 0);
    assert_int_equal(r->series[0].nfloats, 3);
    promql_result_free(r);
    r = instant(f, "\"str\"", 5);
    assert_int_equal(r->type, PROMQL_RESULT_STRING);
    assert_int_equal(r->str.len, 3);
    promql_result_free(r);
    r = instant(f, "m[3m]", 10 * MIN);
    assert_int_equal(r->type, PROMQL_RESULT_MATRIX);
    assert_int_equal(r->series[0].nfloats, 3);
    promql_result_free(r);
    /* the name goes at the end: two series collapse to one labelset */
    char err[512];
    promql_result_free(run(f, "-{__name__=~\"m|n\"} or -{__name__=\"nothing\"}", 0, 0, 0, 0, NULL));
    add(f, "n", "i", "a", 0, 1);
    run(f, "ceil({__name__=~\"m|n\"})", 0, 0, 0, ERR_INVALID, err);
    assert_string_equal(err, "vector cannot contain metrics with the same labelset");
    run(f, "m[1m]", 0, MIN, MIN, ERR_INVALID, err);
}

static void test_limits(void **state)
{
    struct fx *f = *state;
    for (int s = 0; s < 50; s++) {
        char v[16];
        snprintf(v, sizeof v, "%d", s);
        for (int i = 0; i < 100; i++)
            add(f, "m", "s", v, i * MIN, i);
    }
    char err[512];
    f->o.max_samples = 100;
    run(f, "m", 0, 99 * MIN, MIN, ERR_LIMIT, err);
    assert_string_equal(
        err, "query processing would load too many samples into memory in query execution");
    f->o.max_samples = 0;
    f->o.max_series = 10;
    run(f, "sum(m)", 0, 0, 0, ERR_LIMIT, err);
    assert_non_null(strstr(err, "more than 10 series"));
    f->o.max_series = 0;
    /* 11000 steps (the API's limit) over 50 series, four times: well over the 1 ms allowed */
    f->o.timeout_ms = 1;
    run(f, "sum(rate(m[5m])) + sum(rate(m[5m])) + sum(rate(m[5m])) + sum(rate(m[5m]))", 0,
        11000LL * 1000, 1000, -ETIMEDOUT, err);
    assert_string_equal(err, "query timed out in expression evaluation");
    f->o.timeout_ms = 0;
}

/* The cancel hook: polled while the query runs; its code ends the query. */
static int cancel_after(void *arg)
{
    int *left = arg;
    return --*left <= 0 ? -ECANCELED : 0;
}

static void test_cancel_hook(void **state)
{
    struct fx *f = *state;
    for (int s = 0; s < 20; s++) {
        char v[16];
        snprintf(v, sizeof v, "%d", s);
        for (int i = 0; i < 100; i++)
            add(f, "m", "s", v, i * MIN, i);
    }
    char err[512];
    int left = 1000000;
    f->o.cancel_check = cancel_after;
    f->o.cancel_arg = &left;
    promql_result_free(run(f, "sum(rate(m[5m]))", 0, 99 * MIN, MIN, 0, err)); /* never fires */
    int polls = 1000000 - left;
    assert_true(polls > 1);
    left = polls / 2; /* fires half way through */
    assert_null(run(f, "sum(rate(m[5m]))", 0, 99 * MIN, MIN, -ECANCELED, err));
    assert_string_equal(err, "query was canceled in expression evaluation");
    f->o.cancel_check = NULL;
}

/* ---- memstore ---- */

static void test_memstore_rules(void **state)
{
    struct fx *f = *state;
    struct label l[1] = {{STR_LIT("__name__"), STR_LIT("m")}};
    assert_int_equal(promql_memstore_add_float(f->ms, l, 1, 10, 1, 0), 0);
    assert_int_equal(promql_memstore_add_float(f->ms, l, 1, 5, 1, 0), ERR_ORDER);
    assert_int_equal(promql_memstore_add_float(f->ms, l, 1, 10, 1, 0), 0);
    assert_int_equal(promql_memstore_add_float(f->ms, l, 1, 10, 2, 0), ERR_DUPLICATE);
    /* chunks of at most 120 samples decode back in order */
    for (int i = 1; i <= 500; i++)
        assert_int_equal(promql_memstore_add_float(f->ms, l, 1, 10 + i * 1000, i, 0), 0);
    assert_close(instant_value(f, "count_over_time(m[1d])", 600000), 501, 0);
    assert_close(instant_value(f, "sum_over_time(m[1d])", 600000), 1 + 500 * 501 / 2, 0);
    assert_int_equal(promql_memstore_series_count(f->ms), 1);
    promql_memstore_clear(f->ms);
    assert_int_equal(promql_memstore_series_count(f->ms), 0);
}

static void test_memstore_hints(void **state)
{
    struct fx *f = *state;
    struct label l[1] = {{STR_LIT("__name__"), STR_LIT("h")}};
    struct arena a;
    arena_init(&a, 4096);
    double counts[] = {5, 6, 2, 3};
    for (int i = 0; i < 4; i++) {
        struct promql_hist *h = promql_hist_new(&a, 1, 0);
        h->count = counts[i];
        h->sum = counts[i];
        h->p[0] = counts[i];
        assert_int_equal(promql_memstore_add_hist(f->ms, l, 1, i * MIN, h, 0), 0);
    }
    /* first of a chunk "unknown", then "not_reset"; the reset starts a new chunk: "unknown" */
    static const uint8_t want[] = {PROMQL_HINT_UNKNOWN, PROMQL_HINT_NOT_RESET, PROMQL_HINT_UNKNOWN,
                                   PROMQL_HINT_NOT_RESET};
    struct promql_result *r = instant(f, "h[10m]", 3 * MIN);
    assert_int_equal(r->series[0].nhists, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(r->series[0].hists[i].h->hint, want[i]);
    promql_result_free(r);
    assert_close(instant_value(f, "resets(h[10m])", 3 * MIN), 1, 0);
    arena_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lookback_and_staleness, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_left_open_windows, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rate_extrapolation, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rate_zero_point, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_vector_matching, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_aggregation_edges, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_label_replace, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_result_shapes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_limits, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_hook, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_memstore_rules, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_memstore_hints, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
