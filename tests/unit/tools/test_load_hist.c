/* strata-load latency histogram: bucket layout, quantiles within 1% of a sorted array on random
 * data of several shapes, merge and interval differences. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "tests/unit/prop.h"
#include "tools/strata-load/hist.c"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t exact_quantile(const uint64_t *sorted, size_t n, double q)
{
    size_t rank = (size_t)ceil(q * (double)n);
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1];
}

static void test_buckets(void **state)
{
    /* exact below 2^SUB_BITS, then contiguous, increasing bucket starts */
    for (uint64_t v = 0; v < LD_HIST_SUB; v++)
        assert_int_equal(ld_hist_index(v), v);
    for (uint32_t i = 1; i < LD_HIST_BUCKETS; i++) {
        assert_true(ld_hist_lowest(i) > ld_hist_lowest(i - 1));
        assert_int_equal(ld_hist_index(ld_hist_lowest(i)), i);
        assert_int_equal(ld_hist_index(ld_hist_lowest(i) - 1), i - 1);
    }
    assert_int_equal(ld_hist_index(UINT64_MAX), LD_HIST_BUCKETS - 1);
    struct prop p = prop_begin("hist_index_lowest");
    for (int i = 0; i < 100000; i++) {
        uint64_t v = prop_next(&p) >> (prop_next(&p) % 64);
        uint32_t b = ld_hist_index(v);
        prop_check(&p, ld_hist_lowest(b) <= v);
        prop_check(&p, b + 1 == LD_HIST_BUCKETS || v < ld_hist_lowest(b + 1));
    }
}

static uint64_t draw(struct prop *p, int shape)
{
    double u = prop_unit(p);
    switch (shape) {
    case 0: return (uint64_t)(1000 + u * 1e9); /* uniform 1us..1s */
    case 1:
        return (uint64_t)(2e6 * exp(1.2 * (u + prop_unit(p) + prop_unit(p) - 1.5) *
                                    2)); /* lognormal-ish */
    case 2:
        return u < 0.99 ? (uint64_t)(500000 + u * 1e5)
                        : (uint64_t)(5e9 * prop_unit(p) + 1e9); /* bimodal tail */
    default: return prop_next(p) >> (prop_next(p) % 60);        /* every magnitude */
    }
}

static void test_quantiles_vs_sorted(void **state)
{
    struct prop p = prop_begin("hist_quantiles");
    static struct ld_hist h;
    const double qs[] = {0, 0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1};
    for (int shape = 0; shape < 4; shape++) {
        for (int round = 0; round < 5; round++) {
            size_t n = 1 + prop_next(&p) % 20000;
            uint64_t *v = malloc(n * sizeof *v);
            ld_hist_reset(&h);
            for (size_t i = 0; i < n; i++) {
                v[i] = draw(&p, shape);
                ld_hist_record(&h, v[i]);
            }
            qsort(v, n, sizeof *v, cmp_u64);
            assert_int_equal(h.count, n);
            assert_true(h.min == v[0] && h.max == v[n - 1]);
            for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
                double want = (double)exact_quantile(v, n, qs[k]);
                double got = (double)ld_hist_quantile(&h, qs[k]);
                prop_check(&p, fabs(got - want) <= 0.01 * want);
            }
            free(v);
        }
    }
}

static void test_merge_and_diff(void **state)
{
    static struct ld_hist a, b, all, d;
    ld_hist_reset(&a);
    ld_hist_reset(&b);
    ld_hist_reset(&all);
    struct prop p = prop_begin("hist_merge");
    for (int i = 0; i < 5000; i++) {
        uint64_t x = draw(&p, 1);
        ld_hist_record(i % 2 ? &a : &b, x);
        ld_hist_record(&all, x);
    }
    struct ld_hist *m = malloc(sizeof *m);
    ld_hist_reset(m);
    ld_hist_merge(m, &a);
    ld_hist_merge(m, &b);
    assert_memory_equal(m->b, all.b, sizeof all.b);
    assert_int_equal(m->count, all.count);
    assert_true(m->min == all.min && m->max == all.max);
    /* interval view: all - a == b */
    ld_hist_diff(&d, &all, &a);
    assert_memory_equal(d.b, b.b, sizeof b.b);
    assert_int_equal(d.count, b.count);
    assert_true(d.min <= b.min && d.max >= b.max);
    assert_int_equal(ld_hist_quantile(&d, 0.5), ld_hist_quantile(&b, 0.5));
    free(m);
}

static void test_empty_and_single(void **state)
{
    static struct ld_hist h;
    ld_hist_reset(&h);
    assert_int_equal(ld_hist_quantile(&h, 0.99), 0);
    assert_true(ld_hist_mean(&h) == 0);
    ld_hist_record(&h, 123456789);
    for (double q = 0; q <= 1; q += 0.25)
        assert_int_equal(ld_hist_quantile(&h, q), 123456789); /* clamped to min == max */
    assert_true(ld_hist_mean(&h) == 123456789.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_quantiles_vs_sorted),
        cmocka_unit_test(test_merge_and_diff),
        cmocka_unit_test(test_empty_and_single),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
