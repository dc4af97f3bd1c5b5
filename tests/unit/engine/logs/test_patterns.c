/* Drain-style pattern mining: clustering of similar lines into templates with <_>, separate
 * clusters for different shapes, sample buckets and totals, ordering, limits, and a randomized
 * check that totals always add up to the lines given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "engine/logs/patterns.h"
#include "tests/unit/prop.h"

#define S 1000000000LL

static void add(struct logpat *p, int64_t ts_ns, const char *line)
{
    assert_int_equal(logpat_add(p, ts_ns, str_from_cstr(line)), 0);
}

static void expect(struct logpat *p, size_t i, const char *pattern, uint64_t total)
{
    struct logpat_pattern pt;
    assert_int_equal(logpat_get(p, i, &pt), 0);
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)pt.pattern.len, pt.pattern.ptr);
    assert_string_equal(buf, pattern);
    assert_int_equal(pt.total, total);
}

static void test_clusters(void **state)
{
    (void)state;
    struct logpat *p;
    assert_int_equal(logpat_create(NULL, &p), 0);
    add(p, 1 * S, "user alice logged in from 10.0.0.1");
    add(p, 2 * S, "user bob logged in from 10.0.0.2");
    add(p, 3 * S, "user carol logged in from 10.0.0.3");
    add(p, 4 * S, "GET /api/v1/query 200 15ms");
    add(p, 5 * S, "GET /api/v1/labels 200 3ms");
    add(p, 6 * S, "connection reset by peer");
    logpat_sort(p);
    assert_int_equal(logpat_count(p), 3);
    expect(p, 0, "user <_> logged in from <_>", 3);
    expect(p, 1, "GET <_> 200 <_>", 2);
    expect(p, 2, "connection reset by peer", 1);
    logpat_destroy(p);
}

static void test_shapes_stay_apart(void **state)
{
    (void)state;
    struct logpat *p;
    assert_int_equal(logpat_create(NULL, &p), 0);
    add(p, 0, "level=info msg=started");
    add(p, 0, "level=info msg=started component=db"); /* other token count */
    add(p, 0, "alpha beta gamma delta");
    add(p, 0, "one two three four"); /* other first token */
    add(p, 0, "");
    logpat_sort(p);
    assert_int_equal(logpat_count(p), 5);
    struct logpat_pattern pt;
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(logpat_get(p, i, &pt), 0);
        assert_int_equal(pt.total, 1);
        assert_null(memmem(pt.pattern.ptr, pt.pattern.len, "<_>", 3));
    }
    logpat_destroy(p);
}

static void test_dissimilar_same_group(void **state)
{
    (void)state;
    struct logpat_opts o = {.sim_th = 0.6};
    struct logpat *p;
    assert_int_equal(logpat_create(&o, &p), 0);
    add(p, 0, "error a b c d");
    add(p, 0, "error w x y z"); /* 1/5 similar: below 0.6 */
    add(p, 0, "error a b c e"); /* 4/5 with the first */
    logpat_sort(p);
    assert_int_equal(logpat_count(p), 2);
    expect(p, 0, "error a b c <_>", 2);
    expect(p, 1, "error w x y z", 1);
    logpat_destroy(p);
}

static void test_samples(void **state)
{
    (void)state;
    struct logpat_opts o = {.step_ns = 10 * S};
    struct logpat *p;
    assert_int_equal(logpat_create(&o, &p), 0);
    /* backward order, as a backward query reads */
    add(p, 1700000025 * S, "tick 3");
    add(p, 1700000021 * S, "tick 2");
    add(p, 1700000012 * S, "tick 1");
    add(p, 1700000001 * S, "tick 0");
    add(p, 1700000019 * S, "tick 9"); /* out of order */
    logpat_sort(p);
    struct logpat_pattern pt;
    assert_int_equal(logpat_get(p, 0, &pt), 0);
    assert_int_equal(pt.n_samples, 3);
    assert_int_equal(pt.samples[0].ts_s, 1700000000);
    assert_int_equal(pt.samples[0].count, 1);
    assert_int_equal(pt.samples[1].ts_s, 1700000010);
    assert_int_equal(pt.samples[1].count, 2);
    assert_int_equal(pt.samples[2].ts_s, 1700000020);
    assert_int_equal(pt.samples[2].count, 2);
    logpat_destroy(p);
}

static void test_limits(void **state)
{
    (void)state;
    struct logpat_opts o = {.max_clusters = 2, .tokens_max = 4};
    struct logpat *p;
    assert_int_equal(logpat_create(&o, &p), 0);
    add(p, 0, "a b");
    add(p, 0, "c d e");
    add(p, 0, "f");         /* a third cluster: dropped */
    add(p, 0, "a b c d e"); /* five tokens: dropped */
    add(p, 0, "a x");       /* joins the first */
    assert_int_equal(logpat_count(p), 2);
    assert_int_equal(logpat_dropped_lines(p), 2);
    logpat_destroy(p);
}

static void test_totals_random(void **state)
{
    (void)state;
    struct prop pr = prop_begin("patterns_totals");
    struct logpat *p;
    assert_int_equal(logpat_create(NULL, &p), 0);
    const char *verbs[] = {"GET", "PUT", "POST"};
    char line[128];
    int n = 2000;
    for (int i = 0; i < n; i++) {
        snprintf(line, sizeof line, "%s /item/%u status=%u took %ums", verbs[prop_next(&pr) % 3],
                 (unsigned)(prop_next(&pr) % 1000), (unsigned)(200 + prop_next(&pr) % 3),
                 (unsigned)(prop_next(&pr) % 100));
        add(p, (int64_t)(prop_next(&pr) % 3600) * S, line);
    }
    logpat_sort(p);
    uint64_t sum = 0, prev = UINT64_MAX;
    for (size_t i = 0; i < logpat_count(p); i++) {
        struct logpat_pattern pt;
        prop_check(&pr, logpat_get(p, i, &pt) == 0);
        uint64_t s = 0;
        for (size_t k = 0; k < pt.n_samples; k++) {
            s += pt.samples[k].count;
            prop_check(&pr, k == 0 || pt.samples[k - 1].ts_s < pt.samples[k].ts_s);
        }
        prop_check(&pr, s == pt.total && pt.total <= prev);
        prev = pt.total;
        sum += pt.total;
    }
    prop_check(&pr, sum == (uint64_t)n);
    prop_check(&pr, logpat_count(p) == 3); /* one per verb */
    logpat_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clusters),
        cmocka_unit_test(test_shapes_stay_apart),
        cmocka_unit_test(test_dissimilar_same_group),
        cmocka_unit_test(test_samples),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_totals_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
