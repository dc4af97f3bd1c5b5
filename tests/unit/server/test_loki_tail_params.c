/* Parameter parsing shared by the tail, detected_* and patterns handlers: Loki's time forms
 * (float seconds, 10-digit seconds, nanoseconds, RFC 3339 with fractions and offsets) and
 * durations (float seconds or Prometheus units), with their error cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/error.h"
#include "server/api_loki_tail.h"

static int64_t t(const char *s)
{
    int64_t ns = -1;
    assert_int_equal(lx_parse_time(str_from_cstr(s), &ns), 0);
    return ns;
}

static void test_times(void **state)
{
    (void)state;
    assert_int_equal(t("1700000000"), 1700000000LL * 1000000000LL);
    assert_int_equal(t("4000000000"), 4000000000LL * 1000000000LL);
    assert_int_equal(t("1700000000123456789"), 1700000000123456789LL);
    assert_int_equal(t("1700000000.5"), 1700000000500000000LL);
    assert_int_equal(t("1700000000.1234"), 1700000000123000000LL); /* ms precision, as Loki */
    assert_int_equal(t("2023-11-14T22:13:20Z"), 1700000000LL * 1000000000LL);
    assert_int_equal(t("2023-11-14T22:13:20.000000001Z"), 1700000000000000001LL);
    assert_int_equal(t("2023-11-15T00:13:20+02:00"), 1700000000LL * 1000000000LL);
    assert_int_equal(t("2023-11-14T21:13:20.5-01:00"), 1700000000500000000LL);
    int64_t ns;
    const char *bad[] = {"",
                         "x",
                         "2023-11-14",
                         "2023-13-14T22:13:20Z",
                         "2023-11-14T22:13:20",
                         "2023-11-14T22:13:20+0200",
                         "1e9",
                         "12a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(lx_parse_time(str_from_cstr(bad[i]), &ns), ERR_INVALID);
}

static int64_t d(const char *s)
{
    int64_t ns = -1;
    assert_int_equal(lx_parse_duration(str_from_cstr(s), &ns), 0);
    return ns;
}

static void test_durations(void **state)
{
    (void)state;
    assert_int_equal(d("15"), 15000000000LL);
    assert_int_equal(d("0.5"), 500000000LL);
    assert_int_equal(d("15s"), 15000000000LL);
    assert_int_equal(d("250ms"), 250000000LL);
    assert_int_equal(d("1m30s"), 90000000000LL);
    assert_int_equal(d("2h"), 7200000000000LL);
    assert_int_equal(d("1d"), 86400000000000LL);
    int64_t ns;
    const char *bad[] = {"", "s", "10x", "-5", "5 s", "1.5s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(lx_parse_duration(str_from_cstr(bad[i]), &ns), ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
