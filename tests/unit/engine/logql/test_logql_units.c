/* LogQL number, duration and byte-size parsing and Go-compatible formatting: golden values for
 * Prometheus and Go durations, humanized byte sizes, Go float/int literal rules, and the
 * formatting used by canonical query strings; randomized parse/format round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/units.h"
#include "tests/unit/prop.h"

#define NS_S   1000000000LL
#define NS_MIN (60 * NS_S)
#define NS_H   (60 * NS_MIN)
#define NS_D   (24 * NS_H)

static int64_t prom(const char *s, int *rc)
{
    int64_t ns = -1;
    *rc = logql_parse_prom_duration(str_from_cstr(s), &ns);
    return ns;
}

static void test_prom_duration(void **state)
{
    struct {
        const char *in;
        int64_t ns;
    } ok[] = {{"0", 0},
              {"0s", 0},
              {"5m", 5 * NS_MIN},
              {"1h15m30s", NS_H + 15 * NS_MIN + 30 * NS_S},
              {"1d", NS_D},
              {"1w", 7 * NS_D},
              {"1y", 365 * NS_D},
              {"250ms", 250000000},
              {"1y2w3d4h5m6s7ms",
               365 * NS_D + 14 * NS_D + 3 * NS_D + 4 * NS_H + 5 * NS_MIN + 6 * NS_S + 7000000}};
    int rc;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ns = prom(ok[i].in, &rc);
        assert_int_equal(rc, 0);
        assert_int_equal(ns, ok[i].ns);
    }
    const char *bad[] = {"",    "5",   "5minutes", "1.5s", "-5m", "5m1h", "1s1s",
                         "1ns", "1us", "m",        " 5m",  "5m ", "1h1d"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        prom(bad[i], &rc);
        assert_int_not_equal(rc, 0);
    }
    prom("300y", &rc);
    assert_int_equal(rc, ERR_RANGE);
}

static void test_go_duration(void **state)
{
    struct {
        const char *in;
        int64_t ns;
    } ok[] = {{"0", 0},
              {"-0", 0},
              {"1ns", 1},
              {"1us", 1000},
              {"1\xc2\xb5s", 1000},
              {"1\xce\xbcs", 1000},
              {"1.5s", 1500000000},
              {"-5m", -5 * NS_MIN},
              {"+5m", 5 * NS_MIN},
              {".5h", NS_H / 2},
              {"1h15m30.918273645s", NS_H + 15 * NS_MIN + 30 * NS_S + 918273645},
              {"3600000000000ns", NS_H},
              {"1m1m", 2 * NS_MIN}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ns;
        assert_int_equal(logql_parse_go_duration(str_from_cstr(ok[i].in), &ns), 0);
        assert_int_equal(ns, ok[i].ns);
    }
    const char *bad[] = {"", "1", "1d", "s", ".s", "1x", "--1s", "1.s.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ns;
        assert_int_not_equal(logql_parse_go_duration(str_from_cstr(bad[i]), &ns), 0);
    }
    int64_t ns;
    assert_int_not_equal(logql_parse_go_duration(STR_LIT("9223372037s"), &ns), 0);
    /* Loki's literal: Prometheus units first (d, w, y), then Go's (fractions, ns, sign) */
    assert_int_equal(logql_parse_duration(STR_LIT("5d"), &ns), 0);
    assert_int_equal(ns, 5 * NS_D);
    assert_int_equal(logql_parse_duration(STR_LIT("-1.5m"), &ns), 0);
    assert_int_equal(ns, -90 * NS_S);
    assert_int_not_equal(logql_parse_duration(STR_LIT("-5d"), &ns), 0);
}

static void test_bytes(void **state)
{
    struct {
        const char *in;
        uint64_t v;
    } ok[] = {{"0B", 0},
              {"42B", 42},
              {"1kB", 1000},
              {"1KB", 1000},
              {"1K", 1000},
              {"1KiB", 1024},
              {"20MB", 20000000},
              {"1.5MiB", 1572864},
              {"2.5KiB", 2560},
              {"1GB", 1000000000},
              {"1TiB", 1ULL << 40},
              {"123PB", 123e15},
              {"123PiB", 123ULL << 50},
              {"7", 7},
              {"1,000B", 1000}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v;
        assert_int_equal(logql_parse_bytes(str_from_cstr(ok[i].in), &v), 0);
        assert_int_equal(v, ok[i].v);
    }
    const char *bad[] = {"", "B", "1XB", "1KK", "1.2.3MB", "MB1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v;
        assert_int_not_equal(logql_parse_bytes(str_from_cstr(bad[i]), &v), 0);
    }
    uint64_t v;
    assert_int_equal(logql_parse_bytes(STR_LIT("100EB"), &v), ERR_RANGE);
}

static void test_float_int(void **state)
{
    struct {
        const char *in;
        double v;
    } ok[] = {{"0", 0},        {"1.5", 1.5},      {".5", 0.5},  {"1.", 1},
              {"1e3", 1000},   {"2.5e-2", 0.025}, {"0x1p3", 8}, {"0X1P-1", 0.5},
              {"1_000", 1000}, {"0777", 777},     {"-2", -2},   {"+Inf", INFINITY},
              {"1e-400", 0}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        double v;
        assert_int_equal(logql_parse_float(str_from_cstr(ok[i].in), &v), 0);
        assert_true(v == ok[i].v);
    }
    const char *bad[] = {"",   "0x10", "0x1A", "0b1010", "0o17", "1e",
                         "1_", "_1",   "1__0", "1.2.3",  "abc",  "1e+"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v;
        assert_int_not_equal(logql_parse_float(str_from_cstr(bad[i]), &v), 0);
    }
    double d;
    assert_int_equal(logql_parse_float(STR_LIT("1e400"), &d), ERR_RANGE);
    int64_t n;
    assert_int_equal(logql_parse_int(STR_LIT("010"), &n), 0);
    assert_int_equal(n, 10);
    assert_int_equal(logql_parse_int(STR_LIT("-9223372036854775808"), &n), 0);
    assert_true(n == INT64_MIN);
    assert_int_equal(logql_parse_int(STR_LIT("9223372036854775808"), &n), ERR_RANGE);
    assert_int_not_equal(logql_parse_int(STR_LIT("1.5"), &n), 0);
    assert_int_not_equal(logql_parse_int(STR_LIT("1_0"), &n), 0);
    assert_int_not_equal(logql_parse_int(STR_LIT("0x10"), &n), 0);
}

typedef int (*fmt_fn)(struct buf *, double);

static void check_fmt(int (*f)(struct buf *, double), double v, const char *want)
{
    struct buf b = BUF_INIT;
    assert_int_equal(f(&b, v), 0);
    assert_int_equal(buf_cstr(&b), 0);
    assert_string_equal((char *)b.data, want);
    buf_deinit(&b);
}

static void test_format_numbers(void **state)
{
    check_fmt(logql_fmt_float_v, 2, "2");
    check_fmt(logql_fmt_float_v, 0.99998, "0.99998");
    check_fmt(logql_fmt_float_v, -2.5, "-2.5");
    check_fmt(logql_fmt_float_v, 123456, "123456");
    check_fmt(logql_fmt_float_v, 1e6, "1e+06");
    check_fmt(logql_fmt_float_v, 1234567, "1.234567e+06");
    check_fmt(logql_fmt_float_v, 0.0001, "0.0001");
    check_fmt(logql_fmt_float_v, 0.00001, "1e-05");
    check_fmt(logql_fmt_float_v, 1e100, "1e+100");
    check_fmt(logql_fmt_float_v, NAN, "NaN");
    check_fmt(logql_fmt_float_v, -INFINITY, "-Inf");
    check_fmt(logql_fmt_float_v, -0.0, "-0");
    check_fmt(logql_fmt_float_f, 1e21, "1000000000000000000000");
    check_fmt(logql_fmt_float_f, 0.000015, "0.000015");
    check_fmt(logql_fmt_float_f, 5.01, "5.01");
    check_fmt(logql_fmt_float_f, -1, "-1");
    check_fmt(logql_fmt_float_6, 1, "1.000000");
    check_fmt(logql_fmt_float_6, INFINITY, "+Inf");
}

static void check_dur(int (*f)(struct buf *, int64_t), int64_t ns, const char *want)
{
    struct buf b = BUF_INIT;
    assert_int_equal(f(&b, ns), 0);
    assert_int_equal(buf_cstr(&b), 0);
    assert_string_equal((char *)b.data, want);
    buf_deinit(&b);
}

static void test_format_durations(void **state)
{
    check_dur(logql_fmt_go_duration, 0, "0s");
    check_dur(logql_fmt_go_duration, 1, "1ns");
    check_dur(logql_fmt_go_duration, 1500, "1.5\xc2\xb5s");
    check_dur(logql_fmt_go_duration, 250000000, "250ms");
    check_dur(logql_fmt_go_duration, 5 * NS_MIN, "5m0s");
    check_dur(logql_fmt_go_duration, -5 * NS_MIN, "-5m0s");
    check_dur(logql_fmt_go_duration, 5 * NS_D, "120h0m0s");
    check_dur(logql_fmt_go_duration, NS_H + 1500000000, "1h0m1.5s");
    check_dur(logql_fmt_go_duration, INT64_MIN, "-2562047h47m16.854775808s");
    check_dur(logql_fmt_prom_duration, 0, "0s");
    check_dur(logql_fmt_prom_duration, 5 * NS_MIN, "5m");
    check_dur(logql_fmt_prom_duration, 90 * NS_MIN, "1h30m");
    check_dur(logql_fmt_prom_duration, 7 * NS_D, "1w");
    check_dur(logql_fmt_prom_duration, 90 * NS_D, "90d");
    check_dur(logql_fmt_prom_duration, 365 * NS_D, "1y");
    check_dur(logql_fmt_prom_duration, 1500000000, "1s500ms");
}

static void check_bytes(uint64_t v, const char *want)
{
    struct buf b = BUF_INIT;
    assert_int_equal(logql_fmt_bytes(&b, v), 0);
    assert_int_equal(buf_cstr(&b), 0);
    assert_string_equal((char *)b.data, want);
    buf_deinit(&b);
}

static void test_format_bytes_quote(void **state)
{
    check_bytes(0, "0B");
    check_bytes(9, "9B");
    check_bytes(42, "42B");
    check_bytes(1000, "1.0kB");
    check_bytes(2560, "2.6kB");
    check_bytes(20000000, "20MB");
    check_bytes(1000000, "1.0MB");
    check_bytes(1234567, "1.2MB");
    struct {
        const char *in;
        size_t n;
        const char *want;
    } q[] = {{"abc", 3, "\"abc\""},
             {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
             {"\n\t\x01\x7f", 4, "\"\\n\\t\\x01\\x7f\""},
             {"\xc3\xa9", 2, "\"\xc3\xa9\""},
             {"\xff", 1, "\"\\xff\""},
             {"\xc2\xa0", 2, "\"\\u00a0\""}};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        struct buf b = BUF_INIT;
        assert_int_equal(logql_quote(&b, (struct str){q[i].in, q[i].n}), 0);
        assert_int_equal(buf_cstr(&b), 0);
        assert_string_equal((char *)b.data, q[i].want);
        buf_deinit(&b);
    }
}

/* Formatting then parsing gives the value back (Go duration strings and %v floats). */
static void test_roundtrip_property(void **state)
{
    struct prop p = prop_begin("logql_units_roundtrip");
    for (int i = 0; i < 20000; i++) {
        int64_t ns = (int64_t)prop_next(&p) >> (prop_next(&p) % 63);
        struct buf b = BUF_INIT;
        assert_int_equal(logql_fmt_go_duration(&b, ns), 0);
        int64_t back;
        prop_check(&p, logql_parse_go_duration((struct str){(char *)b.data, b.len}, &back) == 0);
        prop_check(&p, back == ns);
        buf_reset(&b);
        double v;
        uint64_t bits = prop_next(&p);
        memcpy(&v, &bits, sizeof v);
        if (isfinite(v)) {
            assert_int_equal(logql_fmt_float_v(&b, v), 0);
            double w;
            prop_check(&p, logql_parse_float((struct str){(char *)b.data, b.len}, &w) == 0);
            prop_check(&p, w == v);
        }
        buf_deinit(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prom_duration),
        cmocka_unit_test(test_go_duration),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_float_int),
        cmocka_unit_test(test_format_numbers),
        cmocka_unit_test(test_format_durations),
        cmocka_unit_test(test_format_bytes_quote),
        cmocka_unit_test(test_roundtrip_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
