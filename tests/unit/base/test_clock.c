/* clock: RFC 3339 formatting golden values (epoch, rounding toward the past for negative times,
 * pre-1970, leap days, the int64 ns limits) and clock sanity (monotonic never goes backwards). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/clock.h"

static void test_rfc3339(void **state)
{
    /* expected values cross-checked with Python's datetime */
    struct {
        int64_t ns;
        const char *want;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {1, "1970-01-01T00:00:00.000Z"},
        {999999, "1970-01-01T00:00:00.000Z"},
        {1000000, "1970-01-01T00:00:00.001Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {-1000000, "1969-12-31T23:59:59.999Z"},
        {-1000001, "1969-12-31T23:59:59.998Z"},
        {-1000000000, "1969-12-31T23:59:59.000Z"},
        {1700000000123456789, "2023-11-14T22:13:20.123Z"},
        {951782400000000000, "2000-02-29T00:00:00.000Z"},
        {1709164800000000000, "2024-02-29T00:00:00.000Z"},
        {-2208988800000000000, "1900-01-01T00:00:00.000Z"},
        {-2208988799999999999, "1900-01-01T00:00:00.000Z"},
        {INT64_MIN, "1677-09-21T00:12:43.145Z"},
        {INT64_MAX, "2262-04-11T23:47:16.854Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[32];
        memset(out, '#', sizeof out);
        int n = clock_fmt_rfc3339_ms(cases[i].ns, out, sizeof out);
        assert_int_equal(n, 24);
        assert_string_equal(out, cases[i].want);
    }
}

static void test_clocks(void **state)
{
    int64_t prev = clock_mono_ns();
    for (int i = 0; i < 10000; i++) {
        int64_t now = clock_mono_ns();
        assert_true(now >= prev);
        prev = now;
    }
    int64_t real_ns = clock_real_ns();
    int64_t real_ms = clock_real_ms();
    assert_true(real_ns > 1600000000000000000ll); /* after 2020 */
    assert_true(real_ms - real_ns / 1000000 >= 0 && real_ms - real_ns / 1000000 < 1000);
    int64_t coarse = clock_mono_coarse_ns();
    assert_true(coarse > 0 && coarse <= clock_mono_ns());
    int64_t cpu0 = clock_thread_cpu_ns();
    volatile uint64_t spin = 0;
    for (int i = 0; i < 3000000; i++)
        spin += (uint64_t)i;
    assert_true(clock_thread_cpu_ns() > cpu0);
    int64_t thread_cpu = clock_thread_cpu_ns();
    assert_true(clock_process_cpu_ns() >= thread_cpu); /* read after: covers this thread */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
