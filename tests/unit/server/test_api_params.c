/* The parameter primitives the Prometheus and Loki query APIs share (server/api_params.h): Go's
 * ParseFloat on decimal text (special words, no hex, no blanks, no bytes after, underflow to 0),
 * ParseInt / Atoi bounds and wording (a syntax error beats an overflow), RFC 3339 in ns and ms
 * (fraction truncated, saturation), durations (float seconds, compound units in order only,
 * overflow), Go-quoted errors; and randomized round trips of integers, durations and times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "server/api_params.h"
#include "tests/unit/prop.h"

#define S(x) str_from_cstr(x)
#define SEC  1000000000LL

static bool flt(const char *s, double *v)
{
    return api_parse_float(S(s), v);
}

static void test_float(void **state)
{
    (void)state;
    double v;
    assert_true(flt("1.5", &v) && v == 1.5);
    assert_true(flt("-0.25", &v) && v == -0.25);
    assert_true(flt("+.5", &v) && v == 0.5);
    assert_true(flt("1e3", &v) && v == 1000);
    assert_true(flt("1E-2", &v) && v == 0.01);
    assert_true(flt("inf", &v) && isinf(v) && v > 0);
    assert_true(flt("-Infinity", &v) && isinf(v) && v < 0);
    assert_true(flt("NaN", &v) && isnan(v));
    assert_true(flt("1e-400", &v) && v == 0); /* underflow: zero, no error */
    assert_true(flt("1e400", &v) && isinf(v));
    const char *bad[] = {"",    "0x10", "1.5p3",  " 1",  "1 ",     "1_000",
                         "abc", "1.5e", "nan(1)", "--1", "infinit"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(flt(bad[i], &v));
    /* embedded NUL is not the end of the number */
    assert_false(api_parse_float((struct str){"1.5\0x", 5}, &v));
    char big[API_NUM_MAX + 1];
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_false(flt(big, &v));
}

static void test_int64(void **state)
{
    (void)state;
    int64_t v = 7;
    assert_int_equal(api_parse_int64(S("0"), &v), 0);
    assert_true(v == 0);
    assert_int_equal(api_parse_int64(S("+42"), &v), 0);
    assert_true(v == 42);
    assert_int_equal(api_parse_int64(S("9223372036854775807"), &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(api_parse_int64(S("-9223372036854775808"), &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(api_parse_int64(S("9223372036854775808"), &v), ERANGE);
    assert_int_equal(api_parse_int64(S("-9223372036854775809"), &v), ERANGE);
    assert_int_equal(api_parse_int64(S("99999999999999999999x"), &v), EINVAL);
    assert_int_equal(api_parse_int64(S(""), &v), EINVAL);
    assert_int_equal(api_parse_int64(S("-"), &v), EINVAL);
    assert_int_equal(api_parse_int64(S("1.0"), &v), EINVAL);
    assert_int_equal(api_parse_int64(S(" 1"), &v), EINVAL);
    char err[256];
    assert_int_equal(api_parse_atoi(S("x1"), &v, err, sizeof err), ERR_INVALID);
    assert_string_equal(err, "strconv.Atoi: parsing \"x1\": invalid syntax");
    assert_int_equal(api_parse_atoi(S("99999999999999999999"), &v, err, sizeof err), ERR_INVALID);
    assert_string_equal(err, "strconv.Atoi: parsing \"99999999999999999999\": value out of range");
    assert_int_equal(api_parse_atoi(S("-12"), &v, err, sizeof err), 0);
    assert_true(v == -12);
}

static void test_rfc3339(void **state)
{
    (void)state;
    int64_t v;
    const int64_t base = 1700000000LL;
    assert_true(api_parse_rfc3339(S("2023-11-14T22:13:20Z"), 1, &v) && v == base * SEC);
    assert_true(api_parse_rfc3339(S("2023-11-14T22:13:20.123456789Z"), 1, &v) &&
                v == base * SEC + 123456789);
    assert_true(api_parse_rfc3339(S("2023-11-14T22:13:20.123456789Z"), 1000000, &v) &&
                v == base * 1000 + 123);
    assert_true(api_parse_rfc3339(S("1969-12-31T23:59:59.5Z"), 1000000, &v) && v == -500);
    assert_true(api_parse_rfc3339(S("2023-11-14T23:13:20+01:00"), 1, &v) && v == base * SEC);
    /* year 9999 is beyond int64 nanoseconds: saturated; in ms it fits */
    assert_true(api_parse_rfc3339(S("9999-12-31T23:59:59Z"), 1, &v) && v == INT64_MAX);
    assert_true(api_parse_rfc3339(S("9999-12-31T23:59:59Z"), 1000000, &v) &&
                v == 253402300799LL * 1000);
    assert_false(api_parse_rfc3339(S("2023-02-30T00:00:00Z"), 1, &v));
    assert_false(api_parse_rfc3339(S("1700000000"), 1, &v));
}

static int64_t dur_ok(const char *s)
{
    char err[256] = "";
    int64_t ns = -1;
    assert_int_equal(api_parse_duration(S(s), &ns, err, sizeof err), 0);
    return ns;
}

static void dur_bad(const char *s, const char *want)
{
    char err[256] = "";
    int64_t ns;
    assert_int_equal(api_parse_duration(S(s), &ns, err, sizeof err), ERR_INVALID);
    assert_string_equal(err, want);
}

static void test_duration(void **state)
{
    (void)state;
    assert_true(dur_ok("15") == 15 * SEC);
    assert_true(dur_ok("0.5") == SEC / 2);
    assert_true(dur_ok("-5") == -5 * SEC);
    assert_true(dur_ok("15s") == 15 * SEC);
    assert_true(dur_ok("15000ms") == 15 * SEC);
    assert_true(dur_ok("1m30s") == 90 * SEC);
    assert_true(dur_ok("1h0m0s") == 3600 * SEC);
    assert_true(dur_ok("1y2w3d") == (365 + 14 + 3) * 86400 * SEC);
    assert_true(dur_ok("0") == 0);
    dur_bad("1x", "cannot parse \"1x\" to a valid duration");
    dur_bad("30s1m", "cannot parse \"30s1m\" to a valid duration"); /* units out of order */
    dur_bad("1s1s", "cannot parse \"1s1s\" to a valid duration");
    dur_bad("", "cannot parse \"\" to a valid duration");
    dur_bad("s", "cannot parse \"s\" to a valid duration");
    dur_bad("1.5s", "cannot parse \"1.5s\" to a valid duration");
    dur_bad("NaN", "cannot parse \"NaN\" to a valid duration");
    dur_bad("1e10", "cannot parse \"1e10\" to a valid duration. It overflows int64");
    dur_bad("300y", "cannot parse \"300y\" to a valid duration");
    dur_bad("a\"b", "cannot parse \"a\\\"b\" to a valid duration");
}

static void test_quoted(void **state)
{
    (void)state;
    char err[512];
    assert_int_equal(api_fail_quoted(err, sizeof err, "p ", S("a\nb"), " s"), ERR_INVALID);
    assert_string_equal(err, "p \"a\\nb\" s");
    char longs[300];
    memset(longs, 'z', sizeof longs - 1);
    longs[sizeof longs - 1] = 0;
    api_fail_quoted(err, sizeof err, "", S(longs), "");
    assert_int_equal(strlen(err), 202); /* cut to 200 bytes, plus the quotes */
    char small[8];
    api_fail_quoted(small, sizeof small, "prefix ", S("value"), " suffix");
    assert_int_equal(strlen(small), 7); /* truncated, terminated */
    assert_true(api_sat_mul_add(INT64_MAX, 2, 0) == INT64_MAX);
    assert_true(api_sat_mul_add(INT64_MIN, 1, -1) == INT64_MIN);
    assert_true(api_sat_mul_add(3, 4, 5) == 17);
}

/* Random integers, compound durations and times print back to the same value. */
static void test_roundtrip(void **state)
{
    (void)state;
    struct prop p = prop_begin("api_params_roundtrip");
    char b[96];
    for (int i = 0; i < 3000; i++) {
        int64_t v = (int64_t)prop_next(&p);
        snprintf(b, sizeof b, "%lld", (long long)v);
        int64_t back = 0;
        prop_check(&p, api_parse_int64(S(b), &back) == 0 && back == v);

        int64_t h = (int64_t)(prop_next(&p) % 1000), m = (int64_t)(prop_next(&p) % 60);
        int64_t s = (int64_t)(prop_next(&p) % 60), ms = (int64_t)(prop_next(&p) % 1000);
        snprintf(b, sizeof b, "%lldh%lldm%llds%lldms", (long long)h, (long long)m, (long long)s,
                 (long long)ms);
        int64_t want = ((h * 3600 + m * 60 + s) * 1000 + ms) * 1000000;
        char err[256];
        prop_check(&p, api_parse_duration(S(b), &back, err, sizeof err) == 0 && back == want);
        snprintf(b, sizeof b, "%lld.%03lld", (long long)(h * 3600 + m * 60 + s), (long long)ms);
        prop_check(&p, api_parse_duration(S(b), &back, err, sizeof err) == 0 &&
                           llabs(back - want) < 1000);

        int64_t secs = (int64_t)(prop_next(&p) % 8000000000ULL) - 2000000000;
        int64_t frac = (int64_t)(prop_next(&p) % SEC);
        time_t tt = (time_t)secs;
        struct tm tm;
        gmtime_r(&tt, &tm);
        char d[40];
        strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(b, sizeof b, "%s.%09lldZ", d, (long long)frac);
        prop_check(&p, api_parse_rfc3339(S(b), 1, &back) && back == secs * SEC + frac);
        prop_check(&p,
                   api_parse_rfc3339(S(b), 1000000, &back) && back == secs * 1000 + frac / 1000000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float),   cmocka_unit_test(test_int64),
        cmocka_unit_test(test_rfc3339), cmocka_unit_test(test_duration),
        cmocka_unit_test(test_quoted),  cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
