/* RFC 3339 parsing: golden timestamps, zones, fractions, calendar edge cases, rejects, and random
 * dates against the C library's timegm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <time.h>

#include "base/timefmt.h"
#include "tests/unit/prop.h"

static bool parse(const char *s, int64_t *secs, int64_t *ns)
{
    return time_parse_rfc3339(str_from_cstr(s), secs, ns);
}

static void test_golden(void **state)
{
    (void)state;
    int64_t s, ns;
    assert_true(parse("2023-11-14T22:13:20Z", &s, &ns));
    assert_int_equal(s, 1700000000);
    assert_int_equal(ns, 0);
    assert_true(parse("1970-01-01T00:00:00Z", &s, &ns));
    assert_int_equal(s, 0);
    assert_true(parse("2023-11-14T22:13:20.5+01:00", &s, &ns));
    assert_int_equal(s, 1700000000 - 3600);
    assert_int_equal(ns, 500000000);
    assert_true(parse("2023-11-14t22:13:20,123456789z", &s, &ns));
    assert_int_equal(s, 1700000000);
    assert_int_equal(ns, 123456789);
    assert_true(parse("1969-12-31T23:59:59-00:30", &s, &ns));
    assert_int_equal(s, -1 + 1800);
    assert_true(parse("2024-02-29T00:00:00Z", &s, &ns)); /* leap day */
    assert_int_equal(time_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(time_days_from_civil(1, 1, 1), -719162);
}

static void test_rejects(void **state)
{
    (void)state;
    int64_t s, ns;
    const char *bad[] = {"",
                         "2023-11-14",
                         "2023-11-14T22:13:20",             /* no zone */
                         "2023-11-14T22:13:20Zx",           /* trailing bytes */
                         "2023-02-29T00:00:00Z",            /* not a leap year */
                         "1900-02-29T00:00:00Z",            /* century */
                         "2023-13-01T00:00:00Z",            /* month */
                         "2023-11-14T24:00:00Z",            /* hour */
                         "2023-11-14T22:13:20.Z",           /* empty fraction */
                         "2023-11-14T22:13:20.1234567891Z", /* ten fraction digits */
                         "2023-11-14T22:13:20+0100",        /* zone without colon */
                         "2023-11-14 22:13:20Z",
                         "1700000000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse(bad[i], &s, &ns))
            fail_msg("accepted %s", bad[i]);
}

static void test_random_against_timegm(void **state)
{
    (void)state;
    struct prop p = prop_begin("timefmt_random");
    for (int i = 0; i < 20000; i++) {
        int64_t t = (int64_t)(prop_next(&p) % (253402300799LL + 62135596800LL)) - 62135596800LL;
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        char buf[64];
        int ns = (int)(prop_next(&p) % 1000000000);
        snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ns);
        int64_t s, fns;
        prop_check(&p, parse(buf, &s, &fns) && s == t && fns == ns);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_random_against_timegm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
