/* PromQL native histogram value type: exponential and custom bucket bounds, Add/Sub across schemas
 * and zero thresholds, the custom/exponential mismatch, counter reset detection, trimming, Go's
 * String() form, and histogram_* functions / rate evaluated over the in-memory store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/error.h"
#include "engine/promql/eval.h"
#include "engine/promql/memstore.h"
#include "engine/promql/parse.h"
#include "engine/promql/value.h"

#define MIN 60000

#define assert_close(a, b, eps)                                                                    \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (eps)) && !(isnan(a_) && isnan(b_))) {                              \
            print_error("%s = %.17g, expected %.17g\n", #a, a_, b_);                               \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

struct hfx {
    struct arena a;
    struct promql_memstore *ms;
    struct promql_storage st;
    struct promql_engine_opts o;
    struct buf b; /* formatting scratch */
};

static int hfx_setup(void **state)
{
    struct hfx *f = calloc(1, sizeof *f);
    arena_init(&f->a, 4096);
    f->ms = promql_memstore_create();
    promql_memstore_storage(f->ms, &f->st);
    promql_engine_opts_default(&f->o);
    *state = f;
    return 0;
}

static int hfx_teardown(void **state)
{
    struct hfx *f = *state;
    promql_memstore_destroy(f->ms);
    arena_deinit(&f->a);
    buf_deinit(&f->b);
    free(f);
    return 0;
}

/* A positive-only histogram: schema, first bucket index, counts; count = sum of buckets. */
static struct promql_hist *mk(struct arena *a, int32_t schema, int32_t off, const double *b,
                              uint32_t n, double sum)
{
    struct promql_hist *h = promql_hist_new(a, n, 0);
    assert_non_null(h);
    h->schema = schema;
    h->zero_threshold = 0.001;
    h->p_off = off;
    h->sum = sum;
    for (uint32_t i = 0; i < n; i++) {
        h->p[i] = b[i];
        h->count += b[i];
    }
    return h;
}

static const char *fmt(const struct promql_hist *h, struct buf *b)
{
    buf_reset(b);
    assert_int_equal(promql_hist_format(b, h), 0);
    assert_int_equal(buf_cstr(b), 0);
    return (const char *)b->data;
}

/* ---- bounds ---- */

static void test_bounds(void **state)
{
    (void)state;
    assert_close(promql_hist_bound(0, 0, NULL, 0), 1, 0);
    assert_close(promql_hist_bound(1, 0, NULL, 0), 2, 0);
    assert_close(promql_hist_bound(-1, 0, NULL, 0), 0.5, 0);
    assert_close(promql_hist_bound(1, 1, NULL, 0), sqrt(2), 1e-15);
    assert_close(promql_hist_bound(2, 1, NULL, 0), 2, 0);
    assert_close(promql_hist_bound(1, 3, NULL, 0), pow(2, 1.0 / 8), 1e-15);
    assert_close(promql_hist_bound(1, -1, NULL, 0), 4, 0);
    assert_close(promql_hist_bound(-2, -2, NULL, 0), 1.0 / 256, 0);
    /* every schema: index 0 is 1, increasing, and 2^schema buckets per doubling */
    for (int32_t s = PROMQL_SCHEMA_MIN; s <= PROMQL_SCHEMA_MAX; s++) {
        assert_close(promql_hist_bound(0, s, NULL, 0), 1, 0);
        for (int32_t i = -40; i < 40; i++)
            assert_true(promql_hist_bound(i, s, NULL, 0) < promql_hist_bound(i + 1, s, NULL, 0));
        if (s >= 0)
            assert_close(promql_hist_bound(1 << s, s, NULL, 0), 2, 0);
    }
    static const double cb[] = {0.5, 1, 4};
    assert_close(promql_hist_bound(0, PROMQL_SCHEMA_CUSTOM, cb, 3), 0.5, 0);
    assert_close(promql_hist_bound(2, PROMQL_SCHEMA_CUSTOM, cb, 3), 4, 0);
    assert_true(isinf(promql_hist_bound(3, PROMQL_SCHEMA_CUSTOM, cb, 3)));
}

/* ---- arithmetic ---- */

static void test_add_schema_and_threshold(void **state)
{
    struct hfx *f = *state;
    /* schema 1 buckets 1..4: (1,1.41] (1.41,2] (2,2.83] (2.83,4] */
    static const double fine[] = {1, 2, 3, 4};
    /* schema 0 buckets 1..2: (1,2] (2,4] */
    static const double coarse[] = {10, 20};
    struct promql_hist *h = mk(&f->a, 1, 1, fine, 4, 20);
    struct promql_hist_addinfo info = {0};
    assert_int_equal(promql_hist_add(&f->a, &h, mk(&f->a, 0, 1, coarse, 2, 100), false, &info), 0);
    promql_hist_compact(h);
    assert_int_equal(h->schema, 0);
    assert_close(h->count, 40, 0);
    assert_close(h->sum, 120, 0);
    assert_string_equal(fmt(h, &f->b), "{count:40, sum:120, (1,2]:13, (2,4]:27}");
    /* subtracting the coarse one again leaves the fine one reduced to schema 0 */
    assert_int_equal(promql_hist_add(&f->a, &h, mk(&f->a, 0, 1, coarse, 2, 100), true, &info), 0);
    assert_string_equal(fmt(h, &f->b), "{count:10, sum:20, (1,2]:3, (2,4]:7}");

    /* a wider zero bucket swallows the buckets below its threshold: (0.25,0.5] and (0.5,1] have
     * upper bounds <= 1 and fold into a zero bucket of threshold 1 */
    static const double small[] = {1, 2, 4};
    struct promql_hist *s = mk(&f->a, 0, -1, small, 3, 7);
    struct promql_hist *z = promql_hist_new(&f->a, 0, 0);
    z->zero_threshold = 1;
    z->zero_count = 5;
    z->count = 5;
    assert_int_equal(promql_hist_add(&f->a, &s, z, false, &info), 0);
    promql_hist_compact(s);
    assert_close(s->zero_threshold, 1, 0);
    assert_close(s->zero_count, 8, 0);
    assert_string_equal(fmt(s, &f->b), "{count:12, sum:7, [-1,1]:8, (1,2]:4}");
}

static void test_custom_buckets(void **state)
{
    struct hfx *f = *state;
    static const double cb[] = {1, 2, 4};
    static const double cnt[] = {1, 2, 3, 4};
    struct promql_hist *c = mk(&f->a, PROMQL_SCHEMA_CUSTOM, 0, cnt, 4, 10);
    c->zero_threshold = 0;
    c->custom = cb;
    c->ncustom = 3;
    assert_string_equal(fmt(c, &f->b),
                        "{count:10, sum:10, [-Inf,1]:1, (1,2]:2, (2,4]:3, (4,+Inf]:4}");
    /* custom + exponential: an error, the left side untouched */
    static const double one[] = {1};
    struct promql_hist *keep = c;
    struct promql_hist_addinfo info = {0};
    assert_int_equal(promql_hist_add(&f->a, &c, mk(&f->a, 0, 0, one, 1, 1), false, &info),
                     PROMQL_HIST_ERR_SCHEMA);
    assert_ptr_equal(c, keep);
    assert_close(c->count, 10, 0);
    /* custom bounds that differ are intersected: {1, 4} keeps (-Inf,1] (1,4] (4,+Inf] */
    static const double cb2[] = {1, 3, 4};
    struct promql_hist *d = mk(&f->a, PROMQL_SCHEMA_CUSTOM, 0, cnt, 4, 10);
    d->zero_threshold = 0;
    d->custom = cb2;
    d->ncustom = 3;
    assert_int_equal(promql_hist_add(&f->a, &c, d, false, &info), 0);
    assert_true(info.nhcb_reconciled);
    assert_string_equal(fmt(c, &f->b), "{count:20, sum:20, [-Inf,1]:2, (1,4]:10, (4,+Inf]:8}");
}

static void test_scale_and_trim(void **state)
{
    struct hfx *f = *state;
    static const double cnt[] = {2, 4, 6};
    struct promql_hist *h = mk(&f->a, 0, 1, cnt, 3, 30);
    promql_hist_mul(h, 0.5);
    assert_string_equal(fmt(h, &f->b), "{count:6, sum:15, (1,2]:1, (2,4]:2, (4,8]:3}");
    assert_int_equal(h->hint, PROMQL_HINT_UNKNOWN);
    promql_hist_mul(h, -1);
    assert_int_equal(h->hint, PROMQL_HINT_GAUGE);
    promql_hist_mul(h, -1);
    /* </ 4 keeps everything at or below 4: the (4,8] bucket goes */
    struct promql_hist *t = promql_hist_copy(&f->a, h);
    promql_hist_trim(t, 4, true);
    assert_close(t->count, 3, 0);
    assert_string_equal(strstr(fmt(t, &f->b), "(1,2]"), "(1,2]:1, (2,4]:2}");
    /* >/ 3 cuts inside (2,4]: exponential interpolation keeps log2(4/3) of it */
    t = promql_hist_copy(&f->a, h);
    promql_hist_trim(t, 3, false);
    assert_close(t->count, 3 + 2 * (log2(4) - log2(3)), 1e-12);
}

static void test_detect_reset(void **state)
{
    struct hfx *f = *state;
    static const double a1[] = {1, 2, 3};
    static const double a2[] = {1, 3, 3};
    static const double a3[] = {2, 1, 4};
    struct promql_hist *prev = mk(&f->a, 0, 0, a1, 3, 6);
    assert_false(promql_hist_detect_reset(mk(&f->a, 0, 0, a2, 3, 7), prev));
    /* one bucket went down although the count went up */
    assert_true(promql_hist_detect_reset(mk(&f->a, 0, 0, a3, 3, 7), prev));
    /* a finer schema than before is a reset; a coarser one is compared after reduction */
    assert_true(promql_hist_detect_reset(mk(&f->a, 1, 0, a2, 3, 7), prev));
    static const double merged[] = {1, 5};
    assert_false(promql_hist_detect_reset(mk(&f->a, -1, 0, merged, 2, 7), prev));
    /* hints win over the data */
    struct promql_hist *r = mk(&f->a, 0, 0, a2, 3, 7);
    r->hint = PROMQL_HINT_RESET;
    assert_true(promql_hist_detect_reset(r, prev));
    r = mk(&f->a, 0, 0, a3, 3, 7);
    r->hint = PROMQL_HINT_NOT_RESET;
    assert_false(promql_hist_detect_reset(r, prev));
    /* a smaller zero threshold is a reset */
    r = mk(&f->a, 0, 0, a2, 3, 7);
    r->zero_threshold = 0.0001;
    assert_true(promql_hist_detect_reset(r, prev));
}

static void test_iter_and_equals(void **state)
{
    struct hfx *f = *state;
    static const double cnt[] = {1, 0, 2};
    struct promql_hist *h = mk(&f->a, 0, 0, cnt, 3, 3);
    h->zero_count = 4;
    h->count += 4;
    struct promql_hist_iter it;
    promql_hist_iter_init(&it, h, false);
    double up[8];
    int n = 0;
    while (promql_hist_iter_next(&it) && n < 8)
        up[n++] = it.b.upper;
    assert_int_equal(n, 4); /* zero bucket, then every positive bucket incl. the empty one */
    assert_close(up[0], 0.001, 0);
    assert_close(up[1], 1, 0);
    assert_close(up[3], 4, 0);
    promql_hist_iter_init(&it, h, true);
    assert_true(promql_hist_iter_next(&it));
    assert_close(it.b.upper, 4, 0);
    /* equal up to empty buckets at the ends */
    static const double padded[] = {0, 1, 0, 2, 0};
    struct promql_hist *g = mk(&f->a, 0, -1, padded, 5, 3);
    g->zero_count = 4;
    g->count += 4;
    assert_true(promql_hist_equals(h, g));
    g->sum = 4;
    assert_false(promql_hist_equals(h, g));
}

/* ---- through the evaluator ---- */

static double eval1(struct hfx *f, const char *q, int64_t t)
{
    struct promql_ast *ast = NULL;
    struct promql_error pe;
    int prc = promql_parse(q, strlen(q), NULL, &ast, &pe);
    if (prc)
        print_error("%s: parse error %s\n", q, pe.msg);
    assert_int_equal(prc, 0);
    struct promql_result *r = NULL;
    char err[256];
    int rc = promql_eval(&f->st, ast, q, strlen(q), &f->o, t, t, 0, &r, err, sizeof err);
    promql_ast_destroy(ast);
    if (rc)
        print_error("%s: %s\n", q, err);
    assert_int_equal(rc, 0);
    double v = NAN;
    if (r->type == PROMQL_RESULT_VECTOR && r->nseries == 1 && r->series[0].nfloats == 1)
        v = r->series[0].floats[0].v;
    promql_result_free(r);
    return v;
}

static void add_hist(struct hfx *f, const char *name, int64_t t, const struct promql_hist *h)
{
    struct label l = {STR_LIT("__name__"), str_from_cstr(name)};
    assert_int_equal(promql_memstore_add_hist(f->ms, &l, 1, t, h, 0), 0);
}

static void test_hist_functions(void **state)
{
    struct hfx *f = *state;
    static const double cb[] = {1, 2, 4};
    static const double cnt[] = {2, 2, 2, 2};
    struct promql_hist *c = mk(&f->a, PROMQL_SCHEMA_CUSTOM, 0, cnt, 4, 20);
    c->zero_threshold = 0;
    c->custom = cb;
    c->ncustom = 3;
    add_hist(f, "nhcb", 0, c);
    assert_close(eval1(f, "histogram_count(nhcb)", 0), 8, 0);
    assert_close(eval1(f, "histogram_sum(nhcb)", 0), 20, 0);
    assert_close(eval1(f, "histogram_avg(nhcb)", 0), 2.5, 0);
    /* custom buckets interpolate linearly; the first bucket starts at 0 */
    assert_close(eval1(f, "histogram_quantile(0.25, nhcb)", 0), 1, 1e-12);
    assert_close(eval1(f, "histogram_quantile(0.375, nhcb)", 0), 1.5, 1e-12);
    assert_close(eval1(f, "histogram_quantile(0.5, nhcb)", 0), 2, 1e-12);
    /* the +Inf bucket answers with the highest finite bound */
    assert_close(eval1(f, "histogram_quantile(0.99, nhcb)", 0), 4, 0);
    assert_close(eval1(f, "histogram_fraction(0, 1.5, nhcb)", 0), 0.375, 1e-12);

    /* exponential buckets interpolate exponentially: half of (1,2] is sqrt(2) */
    static const double four[] = {4};
    add_hist(f, "nh", 0, mk(&f->a, 0, 1, four, 1, 6));
    assert_close(eval1(f, "histogram_quantile(0.5, nh)", 0), sqrt(2), 1e-12);
    assert_close(eval1(f, "histogram_fraction(0, 1.4142135623730951, nh)", 0), 0.5, 1e-12);
}

static void test_hist_rate(void **state)
{
    struct hfx *f = *state;
    /* a counter histogram growing by 6 per minute in (1,2] and 60 in sum */
    for (int i = 0; i <= 5; i++) {
        double v = 6.0 * i;
        add_hist(f, "c", i * MIN, mk(&f->a, 0, 1, &v, 1, 60.0 * i));
    }
    /* window (0, 5m] holds 1m..5m: 24 over 240s, extrapolated to the start by 60s (the zero
     * point of the count is exactly 60s back) and not past the end */
    assert_close(eval1(f, "histogram_count(increase(c[5m]))", 5 * MIN), 30, 1e-9);
    assert_close(eval1(f, "histogram_sum(rate(c[5m]))", 5 * MIN), 1, 1e-12);
    assert_close(eval1(f, "histogram_count(rate(c[5m]))", 5 * MIN), 0.1, 1e-12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds),
        cmocka_unit_test_setup_teardown(test_add_schema_and_threshold, hfx_setup, hfx_teardown),
        cmocka_unit_test_setup_teardown(test_custom_buckets, hfx_setup, hfx_teardown),
        cmocka_unit_test_setup_teardown(test_scale_and_trim, hfx_setup, hfx_teardown),
        cmocka_unit_test_setup_teardown(test_detect_reset, hfx_setup, hfx_teardown),
        cmocka_unit_test_setup_teardown(test_iter_and_equals, hfx_setup, hfx_teardown),
        cmocka_unit_test_setup_teardown(test_hist_functions, hfx_setup, hfx_teardown),
        cmocka_unit_test_setup_teardown(test_hist_rate, hfx_setup, hfx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
