/* Loki query API parameter parsing (server/api_loki.h): every time form of T-4.3 (seconds up to
 * 10 characters, nanoseconds beyond, float seconds rounded to ms, RFC3339 with fraction and zone)
 * and Go's error wording; steps of T-4.4; limit, direction, start/end/since defaults (end in the
 * future), the default step, the encoding flags header; sample values printed as Loki does; and a
 * randomized round trip of integer and RFC3339 times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "formats/jsonw.h"
#include "server/api_loki.h"
#include "server/api_loki_query.h"
#include "tests/unit/prop.h"

#define S(x) str_from_cstr(x)
#define SEC  1000000000LL

static int64_t t_ok(const char *s)
{
    char err[LOKI_ERR_MAX] = "";
    int64_t ns = 0;
    assert_int_equal(loki_parse_time(S(s), &ns, err, sizeof err), 0);
    return ns;
}

static void t_bad(const char *s, const char *want)
{
    char err[LOKI_ERR_MAX] = "";
    int64_t ns;
    assert_int_equal(loki_parse_time(S(s), &ns, err, sizeof err), ERR_INVALID);
    assert_string_equal(err, want);
}

static void test_times(void **state)
{
    (void)state;
    const int64_t base = 1700000000LL * SEC;
    assert_true(t_ok("1700000000") == base);
    assert_true(t_ok("1700000000000000000") == base);
    assert_true(t_ok("1700000000.5") == base + SEC / 2);
    assert_true(t_ok("1700000000.0004") == base);           /* rounded to ms */
    assert_true(t_ok("1700000000.0006") == base + 1000000); /* rounded to ms */
    assert_true(t_ok("2023-11-14T22:13:20Z") == base);
    assert_true(t_ok("2023-11-14T22:13:20.123456789Z") == base + 123456789);
    assert_true(t_ok("2023-11-14T23:13:20+01:00") == base);
    assert_true(t_ok("2023-11-14T20:43:20-01:30") == base);
    /* 10 characters: seconds (the health check's 4000000000 is year 2096); 11: nanoseconds */
    assert_true(t_ok("4000000000") == 4000000000LL * SEC);
    assert_true(t_ok("12345678901") == 12345678901LL);
    assert_true(t_ok("0") == 0);
    assert_true(t_ok("-1") == -SEC);
    /* beyond int64 nanoseconds as seconds: saturates */
    assert_true(t_ok("9999999999") == INT64_MAX);
    t_bad("abc", "strconv.ParseInt: parsing \"abc\": invalid syntax");
    t_bad("99999999999999999999", "strconv.ParseInt: parsing \"99999999999999999999\": value out "
                                  "of range");
    t_bad("2023-11-14 22:13:20Z", "strconv.ParseInt: parsing \"2023-11-14 22:13:20Z\": invalid "
                                  "syntax");
    t_bad("2023-02-30T00:00:00Z", "strconv.ParseInt: parsing \"2023-02-30T00:00:00Z\": invalid "
                                  "syntax");
    t_bad("1.2.3", "strconv.ParseInt: parsing \"1.2.3\": invalid syntax");
    t_bad("12 ", "strconv.ParseInt: parsing \"12 \": invalid syntax");
    t_bad("1.5e", "strconv.ParseInt: parsing \"1.5e\": invalid syntax");
    t_bad("0x1.8p1", "strconv.ParseInt: parsing \"0x1.8p1\": invalid syntax");
    /* a NUL after the number is not its end (Go reads the whole string) */
    char err[LOKI_ERR_MAX];
    int64_t ns;
    assert_int_equal(loki_parse_time((struct str){"1.5\0x", 5}, &ns, err, sizeof err), ERR_INVALID);
    /* float seconds far beyond int64 nanoseconds saturate */
    assert_true(t_ok("1.0e15") == INT64_MAX);
    assert_true(t_ok("-1.0e15") == INT64_MIN);
}

static void test_steps(void **state)
{
    (void)state;
    char err[LOKI_ERR_MAX];
    const char *same[] = {"15000ms", "15s", "15", "15.0", "1.5e1"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        int64_t ns = 0;
        assert_int_equal(loki_parse_duration(S(same[i]), &ns, err, sizeof err), 0);
        assert_true(ns == 15 * SEC);
    }
    int64_t ns;
    assert_int_equal(loki_parse_duration(S("1m30s"), &ns, err, sizeof err), 0);
    assert_true(ns == 90 * SEC);
    assert_int_equal(loki_parse_duration(S("-5"), &ns, err, sizeof err), 0);
    assert_true(ns == -5 * SEC);
    assert_int_equal(loki_parse_duration(S("1x"), &ns, err, sizeof err), ERR_INVALID);
    assert_string_equal(err, "cannot parse \"1x\" to a valid duration");
    /* default step: max(1, floor(range_s / 250)) s */
    assert_true(loki_default_step_ns(0, 3600 * SEC) == 14 * SEC);
    assert_true(loki_default_step_ns(0, 100 * SEC) == SEC);
    assert_true(loki_default_step_ns(0, 0) == SEC);
    assert_true(loki_default_step_ns(0, 86400 * SEC) == 345 * SEC);
}

static void test_limit_direction(void **state)
{
    (void)state;
    char err[LOKI_ERR_MAX];
    uint32_t l;
    assert_int_equal(loki_parse_limit(S(""), 100, &l, err, sizeof err), 0);
    assert_int_equal(l, 100);
    assert_int_equal(loki_parse_limit(S("1000"), 100, &l, err, sizeof err), 0);
    assert_int_equal(l, 1000);
    assert_int_equal(loki_parse_limit(S("0"), 100, &l, err, sizeof err), ERR_INVALID);
    assert_string_equal(err, "limit must be a positive value");
    assert_int_equal(loki_parse_limit(S("-1"), 100, &l, err, sizeof err), ERR_INVALID);
    assert_string_equal(err, "limit must be a positive value");
    assert_int_equal(loki_parse_limit(S("x1"), 100, &l, err, sizeof err), ERR_INVALID);
    assert_string_equal(err, "strconv.Atoi: parsing \"x1\": invalid syntax");
    assert_int_equal(loki_parse_limit(S("4294967296"), 100, &l, err, sizeof err), ERR_INVALID);
    assert_string_equal(err, "limit value 4294967296 is out of range [0, 4294967295]");
    bool back = false;
    assert_int_equal(loki_parse_direction(S(""), &back, err, sizeof err), 0);
    assert_true(back);
    assert_int_equal(loki_parse_direction(S("FORWARD"), &back, err, sizeof err), 0);
    assert_false(back);
    assert_int_equal(loki_parse_direction(S("Backward"), &back, err, sizeof err), 0);
    assert_true(back);
    assert_int_equal(loki_parse_direction(S("up"), &back, err, sizeof err), ERR_INVALID);
    assert_string_equal(err, "invalid direction 'up'");
}

static void test_bounds(void **state)
{
    (void)state;
    char err[LOKI_ERR_MAX];
    const int64_t now = 1700000000LL * SEC;
    int64_t s, e;
    assert_int_equal(loki_parse_bounds(S(""), S(""), S(""), now, &s, &e, err, sizeof err), 0);
    assert_true(e == now && s == now - 3600 * SEC);
    assert_int_equal(loki_parse_bounds(S(""), S(""), S("6h"), now, &s, &e, err, sizeof err), 0);
    assert_true(s == now - 6 * 3600 * SEC);
    /* an end in the future: start counts back from now */
    assert_int_equal(loki_parse_bounds(S(""), S("4000000000"), S(""), now, &s, &e, err, sizeof err),
                     0);
    assert_true(e == 4000000000LL * SEC && s == now - 3600 * SEC);
    /* an end in the past: from the end */
    assert_int_equal(
        loki_parse_bounds(S(""), S("1600000000"), S("1m"), now, &s, &e, err, sizeof err), 0);
    assert_true(s == 1600000000LL * SEC - 60 * SEC);
    assert_int_equal(loki_parse_bounds(S("x"), S(""), S(""), now, &s, &e, err, sizeof err),
                     ERR_INVALID);
    assert_string_equal(err, "could not parse 'start' parameter: strconv.ParseInt: parsing \"x\": "
                             "invalid syntax");
    assert_int_equal(loki_parse_bounds(S(""), S("y"), S(""), now, &s, &e, err, sizeof err),
                     ERR_INVALID);
    assert_non_null(strstr(err, "could not parse 'end' parameter"));
    assert_int_equal(loki_parse_bounds(S(""), S(""), S("z"), now, &s, &e, err, sizeof err),
                     ERR_INVALID);
    assert_non_null(strstr(err, "could not parse 'since' parameter"));
}

static void test_flags(void **state)
{
    (void)state;
    assert_true(loki_flags_categorize(S("categorize-labels")));
    assert_true(loki_flags_categorize(S("other,categorize-labels")));
    assert_true(loki_flags_categorize(S("categorize-labels,")));
    assert_false(loki_flags_categorize(S("")));
    assert_false(loki_flags_categorize((struct str){NULL, 0}));
    assert_false(loki_flags_categorize(S("categorize-labelsx")));
    assert_false(loki_flags_categorize(S(" categorize-labels")));
}

static void value_is(double v, const char *want)
{
    struct buf b;
    buf_init(&b);
    struct jsonw w;
    jsonw_init(&w, &b);
    loki_json_value(&w, v);
    assert_int_equal(jsonw_finish(&w), 0);
    assert_int_equal(buf_cstr(&b), 0);
    assert_string_equal((const char *)b.data, want);
    buf_deinit(&b);
}

static void test_values(void **state)
{
    (void)state;
    value_is(2, "\"2\"");
    value_is(0.1, "\"0.1\"");
    value_is(1e-7, "\"0.0000001\"");
    value_is(1.5e21, "\"1500000000000000000000\"");
    value_is(-2.5, "\"-2.5\"");
    value_is(123456789.125, "\"123456789.125\"");
    value_is(0.0 / 0.0, "\"NaN\"");
    value_is(1.0 / 0.0, "\"+Inf\"");
    value_is(-1.0 / 0.0, "\"-Inf\"");
}

/* Random times printed as seconds, nanoseconds and RFC3339Nano read back as the same instant. */
static void test_time_roundtrip(void **state)
{
    (void)state;
    struct prop p = prop_begin("loki_time_roundtrip");
    for (int i = 0; i < 2000; i++) {
        int64_t secs = (int64_t)(prop_next(&p) % 4000000000ULL);
        int64_t frac = (int64_t)(prop_next(&p) % SEC);
        char b[64];
        snprintf(b, sizeof b, "%lld", (long long)secs);
        prop_check(&p, t_ok(b) == secs * SEC);
        snprintf(b, sizeof b, "%lld", (long long)(secs * SEC + frac));
        if (strlen(b) > 10)
            prop_check(&p, t_ok(b) == secs * SEC + frac);
        time_t tt = (time_t)secs;
        struct tm tm;
        gmtime_r(&tt, &tm);
        char d[40];
        strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(b, sizeof b, "%s.%09lldZ", d, (long long)frac);
        prop_check(&p, t_ok(b) == secs * SEC + frac);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_times),           cmocka_unit_test(test_steps),
        cmocka_unit_test(test_limit_direction), cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_flags),           cmocka_unit_test(test_values),
        cmocka_unit_test(test_time_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
