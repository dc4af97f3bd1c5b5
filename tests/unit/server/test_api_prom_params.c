/* Prometheus API parameter parsing: times (float seconds with ms rounding, RFC3339/RFC3339Nano
 * with zones, far future/past clamped, Prometheus's own MinTime/MaxTime strings), durations
 * (float seconds, compound Prometheus durations, order and overflow errors), limits (Atoi
 * messages), U__ label-name unescaping, the 11,000-points rule, and randomized round trips of
 * times and durations through their text forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "server/api_prom.h"
#include "tests/unit/prop.h"

static int64_t t_ok(const char *s)
{
    int64_t ms = 0;
    char err[PROM_ERR_MAX];
    int rc = prom_parse_time(str_from_cstr(s), &ms, err, sizeof err);
    if (rc)
        fail_msg("time %s: %s", s, err);
    return ms;
}

static void t_bad(const char *s)
{
    int64_t ms;
    char err[PROM_ERR_MAX] = "";
    assert_int_equal(prom_parse_time(str_from_cstr(s), &ms, err, sizeof err), ERR_INVALID);
    assert_non_null(strstr(err, "to a valid timestamp"));
}

static void test_time_float(void **state)
{
    (void)state;
    assert_true(t_ok("4") == 4000);
    assert_true(t_ok("0") == 0);
    assert_true(t_ok("1700000000") == 1700000000000LL);
    assert_true(t_ok("1700000000.123") == 1700000000123LL);
    assert_true(t_ok("1700000000.1234") == 1700000000123LL);
    assert_true(t_ok("1700000000.1236") == 1700000000124LL); /* rounded, as Go's parseTime */
    assert_true(t_ok("1.5") == 1500);
    assert_true(t_ok(".5") == 500);
    assert_true(t_ok("-1.5") == -1500);
    assert_true(t_ok("1e3") == 1000000);
    assert_true(t_ok("+12") == 12000);
    /* Grafana's exemplar probe: milliseconds read as seconds, far in the future */
    assert_true(t_ok("1700000000000") == 1700000000000000LL);
    /* beyond int64 milliseconds: clamped, never an error */
    assert_true(t_ok("1e300") == PROM_TIME_MAX_MS);
    assert_true(t_ok("-1e300") == PROM_TIME_MIN_MS);
    assert_true(t_ok("Inf") == PROM_TIME_MAX_MS);
    assert_true(t_ok("-inf") == PROM_TIME_MIN_MS);
    t_bad("");
    t_bad("abc");
    t_bad("NaN");
    t_bad("1_000");
    t_bad("0x10");
    t_bad(" 1");
    t_bad("1 ");
    t_bad("1e");
}

static void test_time_rfc3339(void **state)
{
    (void)state;
    assert_true(t_ok("1970-01-01T00:00:04Z") == 4000);
    assert_true(t_ok("2015-07-01T20:10:51.781Z") == 1435781451781LL);
    assert_true(t_ok("2015-07-01T20:10:51Z") == 1435781451000LL);
    assert_true(t_ok("2015-07-01T20:10:51.781123456Z") == 1435781451781LL); /* truncated */
    assert_true(t_ok("2015-07-01T20:10:51.7819Z") == 1435781451781LL);
    assert_true(t_ok("2015-07-01T22:10:51.781+02:00") == 1435781451781LL);
    assert_true(t_ok("2015-07-01T18:40:51.781-01:30") == 1435781451781LL);
    assert_true(t_ok("2023-11-14T22:13:20Z") == 1700000000000LL);
    assert_true(t_ok("2000-02-29T00:00:00Z") == 951782400000LL);
    assert_true(t_ok("1969-12-31T23:59:59.5Z") == -500);
    assert_true(t_ok("0001-01-01T00:00:00Z") == -62135596800000LL);
    assert_true(t_ok("9999-12-31T23:59:59Z") == 253402300799000LL);
    /* Prometheus's formatted MinTime / MaxTime (client_golang sends them) */
    assert_true(t_ok("-292273086-05-16T16:47:06Z") == PROM_TIME_MIN_MS);
    assert_true(t_ok("292277025-08-18T07:12:54.999999999Z") == PROM_TIME_MAX_MS);
    t_bad("2015-07-01T20:10:51");      /* no zone */
    t_bad("2015-07-01 20:10:51Z");     /* no T */
    t_bad("2015-13-01T20:10:51Z");     /* month */
    t_bad("2015-02-29T20:10:51Z");     /* not a leap year */
    t_bad("2015-07-01T24:00:00Z");     /* hour */
    t_bad("2015-07-01T20:10:60Z");     /* second */
    t_bad("2015-07-01T20:10:51.Z");    /* empty fraction */
    t_bad("2015-07-01T20:10:51+0200"); /* zone without colon */
    t_bad("2015-7-01T20:10:51Z");      /* short month */
    t_bad("2015-07-01T20:10:51Zjunk"); /* trailing bytes */
    int64_t ms;
    char err[PROM_ERR_MAX];
    prom_parse_time(str_from_cstr("x\"y"), &ms, err, sizeof err);
    assert_string_equal(err, "cannot parse \"x\\\"y\" to a valid timestamp");
}

static int64_t d_ok(const char *s)
{
    int64_t ns = 0;
    char err[PROM_ERR_MAX];
    if (prom_parse_duration(str_from_cstr(s), &ns, err, sizeof err))
        fail_msg("duration %s: %s", s, err);
    return ns;
}

static void d_bad(const char *s, const char *msg)
{
    int64_t ns;
    char err[PROM_ERR_MAX] = "";
    assert_int_equal(prom_parse_duration(str_from_cstr(s), &ns, err, sizeof err), ERR_INVALID);
    assert_string_equal(err, msg);
}

static void test_duration(void **state)
{
    (void)state;
    const int64_t S = 1000000000LL;
    assert_true(d_ok("15") == 15 * S);
    assert_true(d_ok("0.5") == S / 2);
    assert_true(d_ok("0") == 0);
    assert_true(d_ok("-1") == -S);
    assert_true(d_ok("1e-3") == 1000000);
    assert_true(d_ok("15s") == 15 * S);
    assert_true(d_ok("1m") == 60 * S);
    assert_true(d_ok("1m0s") == 60 * S); /* $__rate_interval */
    assert_true(d_ok("1m30s") == 90 * S);
    assert_true(d_ok("1m15s") == 75 * S);
    assert_true(d_ok("4m0s") == 240 * S);
    assert_true(d_ok("1h0m0s") == 3600 * S);
    assert_true(d_ok("500ms") == S / 2);
    assert_true(d_ok("1d") == 86400 * S);
    assert_true(d_ok("2w") == 14 * 86400 * S);
    assert_true(d_ok("1y") == 365 * 86400 * S);
    assert_true(d_ok("1h1ms") == 3600 * S + 1000000);
    assert_true(d_ok("292y") == 292LL * 365 * 86400 * S);
    d_bad("", "cannot parse \"\" to a valid duration");
    d_bad("1s1m", "cannot parse \"1s1m\" to a valid duration"); /* order */
    d_bad("1m1m", "cannot parse \"1m1m\" to a valid duration"); /* repeated */
    d_bad("1x", "cannot parse \"1x\" to a valid duration");
    d_bad("m", "cannot parse \"m\" to a valid duration");
    d_bad("1.5m", "cannot parse \"1.5m\" to a valid duration");
    d_bad("-1m", "cannot parse \"-1m\" to a valid duration");
    d_bad("300y", "cannot parse \"300y\" to a valid duration");
    d_bad("NaN", "cannot parse \"NaN\" to a valid duration");
    d_bad("1e19", "cannot parse \"1e19\" to a valid duration. It overflows int64");
}

static void test_limit(void **state)
{
    (void)state;
    int64_t l = -1;
    char err[PROM_ERR_MAX];
    assert_int_equal(prom_parse_limit(str_from_cstr(""), &l, err, sizeof err), 0);
    assert_true(l == 0);
    assert_int_equal(prom_parse_limit(str_from_cstr("40000"), &l, err, sizeof err), 0);
    assert_true(l == 40000);
    assert_int_equal(prom_parse_limit(str_from_cstr("+7"), &l, err, sizeof err), 0);
    assert_true(l == 7);
    assert_int_equal(prom_parse_limit(str_from_cstr("-0"), &l, err, sizeof err), 0);
    assert_true(l == 0);
    assert_int_equal(prom_parse_limit(str_from_cstr("-1"), &l, err, sizeof err), ERR_INVALID);
    assert_string_equal(err, "limit must be non-negative");
    assert_int_equal(prom_parse_limit(str_from_cstr("abc"), &l, err, sizeof err), ERR_INVALID);
    assert_string_equal(err, "strconv.Atoi: parsing \"abc\": invalid syntax");
    assert_int_equal(prom_parse_limit(str_from_cstr("1.5"), &l, err, sizeof err), ERR_INVALID);
    assert_int_equal(prom_parse_limit(str_from_cstr("99999999999999999999"), &l, err, sizeof err),
                     ERR_INVALID);
    assert_string_equal(err, "strconv.Atoi: parsing \"99999999999999999999\": value out of range");
    assert_int_equal(prom_parse_limit(str_from_cstr("9223372036854775807"), &l, err, sizeof err),
                     0);
    assert_true(l == INT64_MAX);
    /* int64's smallest is a number, so the sign is what is wrong; one below is out of range */
    assert_int_equal(prom_parse_limit(str_from_cstr("-9223372036854775808"), &l, err, sizeof err),
                     ERR_INVALID);
    assert_string_equal(err, "limit must be non-negative");
    assert_int_equal(prom_parse_limit(str_from_cstr("-9223372036854775809"), &l, err, sizeof err),
                     ERR_INVALID);
    assert_string_equal(err, "strconv.Atoi: parsing \"-9223372036854775809\": value out of range");
    /* a syntax error beats an overflow, as in Go */
    assert_int_equal(prom_parse_limit(str_from_cstr("99999999999999999999x"), &l, err, sizeof err),
                     ERR_INVALID);
    assert_string_equal(err, "strconv.Atoi: parsing \"99999999999999999999x\": invalid syntax");
}

static void unescape_is(const char *in, const char *want)
{
    struct buf b;
    buf_init(&b);
    assert_int_equal(prom_unescape_name(str_from_cstr(in), &b), 0);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    buf_deinit(&b);
}

static void test_unescape_name(void **state)
{
    (void)state;
    unescape_is("U__http_2e_status", "http.status");
    unescape_is("job", "job");
    unescape_is("__name__", "__name__");
    unescape_is("U__a__b", "a_b");
    unescape_is("U__a_20_b", "a b");
    unescape_is("U__a_2E_b", "a.b");               /* hex case-insensitive */
    unescape_is("U___1f600_", "\xf0\x9f\x98\x80"); /* an emoji, 5 hex digits */
    unescape_is("U__x:y", "x:y");
    unescape_is("U__", "");
    /* invalid escapes: the name is used as it is */
    unescape_is("U__a_", "U__a_");
    unescape_is("U__a_2e", "U__a_2e");
    unescape_is("U__a_zz_", "U__a_zz_");
    unescape_is("U__a_d800_", "U__a_d800_");     /* a surrogate */
    unescape_is("U__a_10ffff_", "U__a_10ffff_"); /* six digits: too long for Prometheus too */
    assert_true(prom_label_name_valid(str_from_cstr("http.status")));
    assert_true(prom_label_name_valid(str_from_cstr("__name__")));
    assert_false(prom_label_name_valid(str_from_cstr("")));
    assert_false(prom_label_name_valid(str_from_cstr("a\xff")));
}

static void test_points_rule(void **state)
{
    (void)state;
    const int64_t S = 1000000000LL;
    assert_false(prom_range_too_many_points(0, 11000 * 1000, S));
    assert_true(prom_range_too_many_points(0, 11001 * 1000, S));
    assert_false(prom_range_too_many_points(1700000000000LL, 1700000060000LL, 15 * S));
    assert_true(prom_range_too_many_points(PROM_TIME_MIN_MS, PROM_TIME_MAX_MS, 3600 * S));
    assert_false(prom_range_too_many_points(0, 0, S / 2000)); /* sub-ms steps */
}

static void test_invalid_param(void **state)
{
    (void)state;
    char out[128];
    prom_invalid_param(out, sizeof out, "step", "cannot parse \"x\" to a valid duration");
    assert_string_equal(out, "invalid parameter \"step\": cannot parse \"x\" to a valid duration");
}

/* Random times written as float seconds with 3 decimals and as RFC3339 with a zone parse back to
 * the same millisecond; random compound durations parse to their sum. */
static void test_random_round_trips(void **state)
{
    (void)state;
    struct prop p = prop_begin("api_prom_params");
    for (int i = 0; i < 20000; i++) {
        int64_t ms = (int64_t)(prop_next(&p) % 8000000000000LL) - 1000000000000LL;
        char s[64], err[PROM_ERR_MAX];
        int64_t back = 0;
        long long a = ms < 0 ? -ms : ms;
        snprintf(s, sizeof s, "%s%lld.%03lld", ms < 0 ? "-" : "", a / 1000, a % 1000);
        prop_check(&p, prom_parse_time(str_from_cstr(s), &back, err, sizeof err) == 0);
        prop_check(&p, back == ms);
        /* RFC3339 with a random whole-minute zone (gmtime_r of the shifted time) */
        if (ms < 0)
            continue;
        int zone_min = (int)(prop_next(&p) % 1440) - 720;
        time_t tt = (time_t)(ms / 1000) + zone_min * 60;
        struct tm tm;
        gmtime_r(&tt, &tm);
        int za = zone_min < 0 ? -zone_min : zone_min;
        snprintf(s, sizeof s, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%c%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000),
                 zone_min < 0 ? '-' : '+', za / 60, za % 60);
        prop_check(&p, prom_parse_time(str_from_cstr(s), &back, err, sizeof err) == 0);
        prop_check(&p, back == ms);
    }
    static const char *const units[] = {"y", "w", "d", "h", "m", "s", "ms"};
    static const int64_t unit_ms[] = {31536000000LL, 604800000LL, 86400000LL, 3600000LL,
                                      60000LL,       1000LL,      1LL};
    for (int i = 0; i < 20000; i++) {
        char s[128];
        size_t o = 0;
        int64_t want = 0;
        for (int u = 0; u < 7; u++) {
            if (prop_next(&p) % 3)
                continue;
            int64_t v = (int64_t)(prop_next(&p) % 100);
            want += v * unit_ms[u];
            o += (size_t)snprintf(s + o, sizeof s - o, "%lld%s", (long long)v, units[u]);
        }
        if (o == 0)
            continue;
        int64_t ns;
        char err[PROM_ERR_MAX];
        prop_check(&p, prom_parse_duration(str_from_cstr(s), &ns, err, sizeof err) == 0);
        prop_check(&p, ns == want * 1000000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_float),    cmocka_unit_test(test_time_rfc3339),
        cmocka_unit_test(test_duration),      cmocka_unit_test(test_limit),
        cmocka_unit_test(test_unescape_name), cmocka_unit_test(test_points_rule),
        cmocka_unit_test(test_invalid_param), cmocka_unit_test(test_random_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
