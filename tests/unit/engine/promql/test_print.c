/* PromQL printer: golden canonical forms (Prometheus's String()), number/duration/float
 * formatting, Go quoting, and randomized print -> parse -> print stability. */
#include "promql_helpers.h"

#include <math.h>

#include "engine/promql/quote.h"
#include "../../prop.h"

static void test_golden_selectors(void **state)
{
    (void)state;
    expect_print("foo", "foo");
    expect_print("foo{}", "foo");
    expect_print("foo{b=\"1\", a='2'}", "foo{a=\"2\",b=\"1\"}");
    expect_print("{__name__=\"foo\"}", "{__name__=\"foo\"}");
    expect_print("{a=\"b\",__name__!=\"\"}", "{__name__!=\"\",a=\"b\"}");
    expect_print("{__name__=\"\",a=\"x\"}", "{__name__=\"\",a=\"x\"}");
    expect_print("{\"my.metric\", \"label.name\"=\"v\"}",
                 "{\"label.name\"=\"v\",__name__=\"my.metric\"}");
    expect_print("{\"_0\"=\"1\"}", "{_0=\"1\"}");
    expect_print("{``=\"0\"}", "{\"\"=\"0\"}");
    expect_print("x{a=~`\\d+`, b!~'c'}", "x{a=~\"\\\\d+\",b!~\"c\"}");
    expect_print("x{a=\"\\u00e9\\t\\x01\"}", "x{a=\"é\\t\\x01\"}");
    expect_print("job:rate:5m", "job:rate:5m");
    expect_print("SUM", "SUM");
}

static void test_golden_modifiers(void **state)
{
    (void)state;
    expect_print("a offset 1m", "a offset 1m");
    expect_print("a offset -7m", "a offset -7m");
    expect_print("a offset 90s", "a offset 1m30s");
    expect_print("a offset 1.5", "a offset 1s500ms");
    expect_print("a offset 0s", "a");
    expect_print("a{c=\"d\"}[5m] offset 1m", "a{c=\"d\"}[5m] offset 1m");
    expect_print("a[1h:5m] offset 1m", "a[1h:5m] offset 1m");
    expect_print("a @ 10", "a @ 10.000");
    expect_print("a @ -1.2345", "a @ -1.235"); /* rounded to ms, half away from 0 */
    expect_print("a[1m] @ 10", "a[1m] @ 10.000");
    expect_print("a @ start()", "a @ start()");
    expect_print("a[1m] @ end()", "a[1m] @ end()");
    expect_print("a offset 5m @ 3", "a @ 3.000 offset 5m");
    expect_print("a[1m] offset 5m @ 3", "a[1m] @ 3.000 offset 5m");
    expect_print("a anchored", "a anchored");
    expect_print("a{b=\"c\"}[5m] anchored @ start() offset 1m",
                 "a{b=\"c\"}[5m] anchored @ start() offset 1m");
    expect_print("a offset 1m smoothed @ 1", "a @ 1.000 smoothed offset 1m");
    expect_print("a smoothed[5m]", "a[5m] smoothed");
    expect_print("x[1800]", "x[30m]");
    expect_print("x[60*30]", "x[60 * 30]");
    expect_print("x[30m:]", "x[30m:]");
    expect_print("rate(x[5m])[1d:1h] @ 5 offset -1w", "rate(x[5m])[1d:1h] @ 5.000 offset -1w");
    expect_print("x[1y]", "x[1y]");
    expect_print("x[365d]", "x[1y]");
    expect_print("x[366d]", "x[366d]");
    expect_print("x[14d]", "x[2w]");
    expect_print("x[15d]", "x[15d]");
    expect_print("x[1h0m0s]", "x[1h]");
    expect_print("x[1500ms]", "x[1s500ms]");
    expect_print("info(x, {})", "info(x, {})");
    expect_print("Inf ^ 2", "Inf ^ 2");
    expect_print("2 ^ Inf", "2 ^ +Inf");
    expect_print("x offset --5m + 1m", "x offset (5m + 1m)");
    expect_print("x offset (1m) + 1m", "x offset (1m) + 1m");
    /* a parenthesised offset takes in following operators: the @ that ended it stays after it */
    expect_print("x offset (1m) @ 5 * 2", "x offset (1m) @ 5.000 * 2");
    expect_print("rate(x[5m] offset (1m) anchored @ 1)",
                 "rate(x[5m] offset (1m) anchored @ 1.000)");
    expect_print("x[5m:] @ 5 offset (1m)", "x[5m:] offset (1m) @ 5.000");
    expect_print("x offset -(1m) @ 5 * 2", "x @ 5.000 offset -(1m) * 2");
}

static void test_golden_duration_expressions(void **state)
{
    (void)state;
    expect_print("foo[step()]", "foo[step()]");
    expect_print("foo[-step()]", "foo[-step()]");
    expect_print("foo[(step())]", "foo[(step())]");
    expect_print("foo[  -  step  (  )  ]", "foo[-step()]");
    expect_print("foo offset -(step())", "foo offset -(step())");
    expect_print("foo offset +(5)", "foo offset (5)");
    expect_print("foo offset -(5)", "foo offset -(5)");
    expect_print("foo offset (5m)", "foo offset (5m)");
    expect_print("foo[(5m):(1m)]", "foo[(5m):(1m)]");
    expect_print("foo offset +min_of(10s, 20s)", "foo offset min_of(10s, 20s)");
    expect_print("foo[200-min_of(-step()^+step(),1)]", "foo[200 - min_of(-step() ^ step(), 1)]");
    expect_print("foo[max_of(range(), 5s)]", "foo[max_of(range(), 5s)]");
    expect_print("x[5m+1m:step()*2]", "x[5m + 1m:step() * 2]");
    expect_print("x[1h30m % 1h]", "x[1h30m % 1h]");
    expect_print("x[-5m+35m]", "x[-5m + 35m]");
    expect_print("x offset 100 + 2", "x offset 1m40s + 2");
    expect_print("x offset -2 ^ 2", "x offset -2s ^ 2");
    expect_print("x offset (1m) * 2", "x offset (1m) * 2");
}

static void test_golden_operators(void **state)
{
    (void)state;
    expect_print("sum by() (x)", "sum(x)");
    expect_print("sum by(code) (x)", "sum by (code) (x)");
    expect_print("sum(x) without(a,b)", "sum without (a, b) (x)");
    expect_print("sum without() (x)", "sum without () (x)");
    expect_print("sum by(\"foo.bar\", \"üüü\") (x)", "sum by (\"foo.bar\", \"üüü\") (x)");
    expect_print("sum by (a:b) (x)", "sum by (\"a:b\") (x)");
    expect_print("sum by (\"Inf\", \"without\", \"on\") (x)",
                 "sum by (\"Inf\", \"without\", on) (x)");
    expect_print("TOPK(5, x)", "topk(5, x)");
    expect_print("count_values(\"v\", x)", "count_values(\"v\", x)");
    expect_print("limit_ratio(0.5, x) by (a)", "limit_ratio by (a) (0.5, x)");
    expect_print("a - on() c", "a - on () c");
    expect_print("a - on(b) group_left c", "a - on (b) group_left () c");
    expect_print("a - on(b) group_left(x, y) c", "a - on (b) group_left (x, y) c");
    expect_print("a - ignoring() c", "a - c");
    expect_print("a - ignoring() group_left c", "a - ignoring () group_left () c");
    expect_print("a / on(\"äää\") group_right(\"ööö\") b",
                 "a / on (\"äää\") group_right (\"ööö\") b");
    expect_print("a + fill(-23) b", "a + fill (-23) b");
    expect_print("a + fill_left(-23) fill_right(42) b", "a + fill_left (-23) fill_right (42) b");
    expect_print("a + fill_left(5) fill_right(5) b", "a + fill (5) b");
    expect_print("a + fill(1e6) b", "a + fill (1e+06) b");
    expect_print("a + fill(NaN) b", "a + fill_left (NaN) fill_right (NaN) b");
    expect_print("a + on(b) group_left fill(-Inf) c", "a + on (b) group_left () fill (-Inf) c");
    expect_print("up > bool 0", "up > bool 0");
    expect_print("1 + on() 2", "1 + 2");
    expect_print("a AND b OR c UNLESS d", "a and b or c unless d");
    expect_print("a atan2 b", "a atan2 b");
    expect_print("a </ b >/ c", "a </ b >/ c");
    expect_print("-(1)", "-(1)");
    expect_print("+a", "+a");
    expect_print("- -a", "--a");
    expect_print("-2 ^ 2", "-2 ^ 2");
    expect_print("((a))", "((a))");
    expect_print("rate(x[5m]) * on(i) group_left(n) info",
                 "rate(x[5m]) * on (i) group_left (n) info");
    expect_print("# c\nfoo # d\n + bar", "foo + bar");
}

static void test_golden_literals(void **state)
{
    (void)state;
    expect_print("1048576", "1048576");
    expect_print("1e6", "1000000");
    expect_print("1.5e-7", "0.00000015");
    expect_print("0x1F", "31");
    expect_print(".5", "0.5");
    expect_print("-0", "-0");
    expect_print("+Inf", "+Inf");
    expect_print("-inf", "-Inf");
    expect_print("nan", "NaN");
    expect_print("0.1 + 0.2", "0.1 + 0.2");
    expect_print("5m", "5m");
    expect_print("-5m", "-5m");
    char big[400];
    snprintf(big, sizeof big, "17976931348623157%0292d", 0); /* shortest digits, then zeros */
    expect_print("1.7976931348623157e308", big);
    expect_print("\"a\\\"b\"", "\"a\\\"b\"");
    expect_print("'a\"b'", "\"a\\\"b\"");
    expect_print("`a\\nb`", "\"a\\\\nb\"");
    expect_print("\"\\a\\b\\f\\v\\x7f\\u00a0\\u2028\\U0001F600\"",
                 "\"\\a\\b\\f\\v\\x7f\\u00a0\\u2028😀\"");
    expect_print("\"a\\xffb\"", "\"a\\xffb\"");
    expect_print("\"\\ufffd\"", "\"\\ufffd\""); /* escaped: the lexer rejects it raw */
}

static char *fmt(int (*f)(struct buf *, double), double v)
{
    struct buf b = BUF_INIT;
    assert_int_equal(f(&b, v), 0);
    buf_cstr(&b);
    size_t n;
    return (char *)buf_steal(&b, &n);
}

static void expect_float(int (*f)(struct buf *, double), double v, const char *want)
{
    char *got = fmt(f, v);
    assert_string_equal(got, want);
    free(got);
}

static void test_number_formatting(void **state)
{
    (void)state;
    expect_float(promql_format_float, 0, "0");
    expect_float(promql_format_float, 100, "100");
    expect_float(promql_format_float, 1e21, "1000000000000000000000");
    expect_float(promql_format_float, 123.456, "123.456");
    char tiny[400];
    snprintf(tiny, sizeof tiny, "0.%0323d5", 0);
    expect_float(promql_format_float, 5e-324, tiny);
    expect_float(promql_format_float, -2.5, "-2.5");
    expect_float(promql_format_float, 1.0 / 3, "0.3333333333333333");
    expect_float(promql_format_float_v, 999999, "999999");
    expect_float(promql_format_float_v, 1e6, "1e+06");
    expect_float(promql_format_float_v, 1234567, "1.234567e+06");
    expect_float(promql_format_float_v, 0.0001, "0.0001");
    expect_float(promql_format_float_v, 0.00001, "1e-05");
    expect_float(promql_format_float_v, -1.5e-300, "-1.5e-300");
    expect_float(promql_format_float_v, 1e100, "1e+100");
    expect_float(promql_format_float_v, INFINITY, "+Inf");
}

static void expect_duration(int64_t ms, const char *want)
{
    struct buf b = BUF_INIT;
    assert_int_equal(promql_format_duration(&b, ms), 0);
    buf_cstr(&b);
    assert_string_equal((const char *)b.data, want);
    buf_deinit(&b);
}

static void test_duration_formatting(void **state)
{
    (void)state;
    expect_duration(0, "0s");
    expect_duration(1, "1ms");
    expect_duration(1500, "1s500ms");
    expect_duration(90000, "1m30s");
    expect_duration(3600000, "1h");
    expect_duration(86400000LL * 90, "90d");
    expect_duration(86400000LL * 365, "1y");
    expect_duration(86400000LL * 366, "366d");
    expect_duration(86400000LL * 21, "3w");
    expect_duration(86400000LL * 22, "22d");
    expect_duration(-60000, "-1m");
    expect_duration(INT64_MIN, "-106751991167d7h12m55s808ms");
}

static void test_quoting(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    assert_int_equal(promql_quote(&b, "a\"\\\n\x80\xe2\x80\xa8z", 9), 0);
    buf_cstr(&b);
    assert_string_equal((const char *)b.data, "\"a\\\"\\\\\\n\\x80\\u2028z\"");
    buf_reset(&b);
    promql_quote_rune(&b, '\'');
    promql_quote_rune(&b, -1);
    promql_quote_rune(&b, 0x1F600);
    buf_cstr(&b);
    assert_string_equal((const char *)b.data, "'\\'''\xef\xbf\xbd''😀'");
    buf_reset(&b);
    promql_format_unicode(&b, 'c');
    promql_format_unicode(&b, 7);
    buf_cstr(&b);
    assert_string_equal((const char *)b.data, "U+0063 'c'U+0007");
    buf_reset(&b);
    assert_int_equal(promql_unquote("'a\\'b\\x41\\u00e9'", 16, &b), 0);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "a'bA\xc3\xa9", 6);
    buf_reset(&b);
    assert_int_equal(promql_unquote("\"a\\'\"", 5, &b), ERR_INVALID);
    assert_int_equal(promql_unquote("\"abc'", 5, &b), ERR_INVALID);
    assert_int_equal(promql_unquote("`a`b`", 5, &b), ERR_INVALID);
    assert_int_equal(promql_unquote("\"\\400\"", 6, &b), ERR_INVALID);
    buf_deinit(&b);
    assert_true(promql_is_legacy_label_name("_a9", 3));
    assert_false(promql_is_legacy_label_name("9a", 2));
    assert_false(promql_is_legacy_label_name("", 0));
    assert_false(promql_is_print(0xa0));
    assert_true(promql_is_print(0xe9));
}

/* Random queries from a small grammar: print(parse(q)) must parse and print to itself. */
static void gen(struct prop *p, struct buf *b, int depth)
{
    static const char *const leaves[] = {"foo",
                                         "bar{a=\"b\"}",
                                         "{__name__=~\"x.*\",c!=\"\"}",
                                         "1",
                                         "2.5",
                                         "5m",
                                         "-3",
                                         "time()",
                                         "rate(x[5m])",
                                         "x[1m:30s] offset 1m",
                                         "x @ 100",
                                         "y offset -1h",
                                         "\"s\"",
                                         "NaN",
                                         "z[step()*2:]",
                                         "m offset (1m+2s)",
                                         "sum"};
    static const char *const ops[] = {" + ",        " - ",
                                      " * ",        " / ",
                                      " % ",        " ^ ",
                                      " atan2 ",    " == bool ",
                                      " > bool ",   " and ",
                                      " or ",       " unless ",
                                      " + on(a) ",  " * ignoring(b) group_left(c) ",
                                      " + fill(0) "};
    static const char *const wraps[] = {"sum by (a) (%s)",
                                        "abs(%s)",
                                        "(%s)",
                                        "-%s",
                                        "topk(2, %s)",
                                        "count_values(\"v\", %s)",
                                        "max_over_time((%s)[5m:])",
                                        "vector(scalar(%s))",
                                        "label_replace(%s, \"a\", \"$1\", \"b\", \"(.*)\")"};
    uint64_t r = prop_next(p);
    if (depth <= 0 || r % 3 == 0) {
        buf_append_str(b, leaves[prop_next(p) % (sizeof leaves / sizeof leaves[0])]);
    } else if (r % 3 == 1) {
        gen(p, b, depth - 1);
        buf_append_str(b, ops[prop_next(p) % (sizeof ops / sizeof ops[0])]);
        gen(p, b, depth - 1);
    } else {
        struct buf inner = BUF_INIT;
        gen(p, &inner, depth - 1);
        buf_cstr(&inner);
        buf_printf(b, wraps[prop_next(p) % (sizeof wraps / sizeof wraps[0])],
                   (const char *)inner.data);
        buf_deinit(&inner);
    }
}

static void test_random_round_trip(void **state)
{
    (void)state;
    struct prop p = prop_begin("promql_print_round_trip");
    int parsed = 0;
    for (int i = 0; i < 3000; i++) {
        struct buf q = BUF_INIT;
        gen(&p, &q, 4);
        buf_cstr(&q);
        struct promql_ast *a1;
        struct promql_error err;
        if (promql_parse((const char *)q.data, q.len, NULL, &a1, &err) != 0) {
            buf_deinit(&q); /* type errors are expected for some combinations */
            continue;
        }
        parsed++;
        struct buf s1 = BUF_INIT, s2 = BUF_INIT;
        prop_check(&p, promql_print(a1->root, &s1) == 0);
        struct promql_ast *a2;
        int rc = promql_parse((const char *)s1.data, s1.len, NULL, &a2, &err);
        if (rc != 0)
            print_error("reparse of %.*s failed: %s\n", (int)s1.len, (const char *)s1.data,
                        err.msg);
        prop_check(&p, rc == 0);
        prop_check(&p, promql_print(a2->root, &s2) == 0);
        prop_check(&p, s1.len == s2.len && memcmp(s1.data, s2.data, s1.len) == 0);
        prop_check(&p, a1->root->type == a2->root->type && a1->root->kind == a2->root->kind);
        promql_ast_destroy(a1);
        promql_ast_destroy(a2);
        buf_deinit(&s1);
        buf_deinit(&s2);
        buf_deinit(&q);
    }
    prop_check(&p, parsed > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_selectors),
        cmocka_unit_test(test_golden_modifiers),
        cmocka_unit_test(test_golden_duration_expressions),
        cmocka_unit_test(test_golden_operators),
        cmocka_unit_test(test_golden_literals),
        cmocka_unit_test(test_number_formatting),
        cmocka_unit_test(test_duration_formatting),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_random_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
