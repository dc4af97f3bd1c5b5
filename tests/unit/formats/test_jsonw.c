/* JSON writer: golden Go/Prometheus float strings (shortest round-trip, 'e' vs 'f' thresholds,
 * -0, NaN/Inf, subnormals, MaxFloat64), encoding/json numbers, timestamps (trimmed and Prometheus
 * fixed-3 forms), string escaping in both flavours (controls, HTML, U+2028, invalid UTF-8),
 * structure and commas, misuse ASSERTs, and randomized properties (float round trip and
 * minimality, escape/unescape round trip). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "formats/jsonw.h"
#include "formats/wire/utf8.h"
#include "tests/unit/prop.h"

/* Golden values: Go's strconv.AppendFloat(v, 'f' or 'e', -1, 64) under the Prometheus rule. */
static const struct {
    double v;
    const char *want;
} golden[] = {
    {0.0, "0"},
    {-0.0, "-0"},
    {1.0, "1"},
    {-1.0, "-1"},
    {0.1, "0.1"},
    {1.0 / 3, "0.3333333333333333"},
    {2.0 / 3, "0.6666666666666666"},
    {1e-7, "1e-07"},
    {1e-6, "0.000001"},
    {1.5e-7, "1.5e-07"},
    {9.99999e-7, "9.99999e-07"},
    {1e21, "1e+21"},
    {1e20, "100000000000000000000"},
    {9.999999999999999e20, "999999999999999900000"},
    {123456789012345678.0, "123456789012345680"},
    {5e-324, "5e-324"},
    {0x1p-1074 * 3, "1.5e-323"},
    {2.2250738585072014e-308, "2.2250738585072014e-308"},
    {1.7976931348623157e308, "1.7976931348623157e+308"},
    {1e23, "1e+23"},
    {9007199254740993.0, "9007199254740992"},
    {1e15, "1000000000000000"},
    {1e16, "10000000000000000"},
    {0.000001234, "0.000001234"},
    {12345.678, "12345.678"},
    {-2.5, "-2.5"},
    {100.0, "100"},
    {4.35, "4.35"},
    {0.3, "0.3"},
    {0.1 + 0.2, "0.30000000000000004"},
    {-1e-300, "-1e-300"},
    {1e22, "1e+22"},
    {0x1p63, "9223372036854776000"},
    {-123456.789e-20, "-1.23456789e-15"},
    {INFINITY, "+Inf"},
    {-INFINITY, "-Inf"},
    {NAN, "NaN"},
};

static void test_float_golden(void **state)
{
    for (size_t i = 0; i < sizeof golden / sizeof golden[0]; i++) {
        char out[JSONW_FLOAT_MAX];
        size_t n = jsonw_fmt_float(golden[i].v, out);
        if (n != strlen(golden[i].want) || memcmp(out, golden[i].want, n) != 0)
            fail_msg("value %zu: want %s got %.*s", i, golden[i].want, (int)n, out);
        struct buf b = BUF_INIT;
        struct jsonw w;
        jsonw_init(&w, &b);
        jsonw_float_str(&w, golden[i].v);
        assert_int_equal(jsonw_finish(&w), 0);
        assert_int_equal(b.len, n + 2);
        assert_true(b.data[0] == '"' && b.data[n + 1] == '"');
        assert_memory_equal(b.data + 1, golden[i].want, n);
        buf_deinit(&b);
    }
    /* the stale marker is a NaN like any other */
    uint64_t bits = 0x7ff0000000000002ull;
    double stale;
    memcpy(&stale, &bits, 8);
    char out[JSONW_FLOAT_MAX];
    assert_int_equal(jsonw_fmt_float(stale, out), 3);
    assert_memory_equal(out, "NaN", 3);
}

static void expect_json(void (*build)(struct jsonw *), const char *want)
{
    struct buf b = BUF_INIT;
    struct jsonw w;
    jsonw_init(&w, &b);
    build(&w);
    assert_int_equal(jsonw_finish(&w), 0);
    if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
        fail_msg("want %s\n got %.*s", want, (int)b.len, (const char *)b.data);
    buf_deinit(&b);
}

static void build_numbers(struct jsonw *w)
{
    static const double v[] = {1e-7, 1.5e-7, 1e21, 5e-324, -0.0, 0.5, 1e20, 1e-300, NAN, INFINITY};
    jsonw_arr_begin(w);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        jsonw_float(w, v[i]);
    jsonw_int(w, INT64_MIN);
    jsonw_int(w, INT64_MAX);
    jsonw_int(w, 0);
    jsonw_int(w, -7);
    jsonw_uint(w, UINT64_MAX);
    jsonw_bool(w, true);
    jsonw_bool(w, false);
    jsonw_null(w);
    jsonw_arr_end(w);
}

static void test_numbers(void **state)
{
    expect_json(build_numbers, "[1e-7,1.5e-7,1e+21,5e-324,-0,0.5,100000000000000000000,1e-300,"
                               "null,null,-9223372036854775808,9223372036854775807,0,-7,"
                               "18446744073709551615,true,false,null]");
}

static void build_ts(struct jsonw *w)
{
    static const int64_t ms[] = {1435781451781, 4000, 1500,      1010,     1001, 0, -1,
                                 -1500,         999,  INT64_MIN, INT64_MAX};
    jsonw_arr_begin(w);
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        jsonw_ts_ms(w, ms[i]);
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        jsonw_ts_ms_prom(w, ms[i]);
    jsonw_arr_end(w);
}

static void test_timestamps(void **state)
{
    expect_json(build_ts, "[1435781451.781,4,1.5,1.01,1.001,0,-0.001,-1.5,0.999,"
                          "-9223372036854775.808,9223372036854775.807,"
                          "1435781451.781,4,1.500,1.010,1.001,0,-0.001,-1.500,0.999,"
                          "-9223372036854775.808,9223372036854775.807]");
}

static void build_strings(struct jsonw *w)
{
    static const char ctl[] = "\x00\x01\x08\x0c\x1f\x7f";
    jsonw_arr_begin(w);
    jsonw_cstr(w, "a\"b\\c/d");
    jsonw_cstr(w, "\n\r\t");
    jsonw_str(w, ctl, sizeof ctl - 1);
    jsonw_cstr(w, "<a href=\"x\">&amp;</a>");
    jsonw_str_html(w, "<a href=\"x\">&amp;</a>", 21);
    jsonw_cstr(w, "\xe2\x80\xa8|\xe2\x80\xa9");
    jsonw_str_html(w, "\xe2\x80\xa8|\xe2\x80\xa9", 7);
    jsonw_cstr(w, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    jsonw_cstr(w, "bad:\xff|\xe2\x82|\xed\xa0\x80|\xc0\xaf|\xf4\x90\x80\x80");
    jsonw_str(w, "", 0);
    jsonw_arr_end(w);
}

static void test_strings(void **state)
{
    expect_json(build_strings,
                "[\"a\\\"b\\\\c/d\",\"\\n\\r\\t\",\"\\u0000\\u0001\\u0008\\u000c\\u001f\x7f\","
                "\"<a href=\\\"x\\\">&amp;</a>\","
                "\"\\u003ca href=\\\"x\\\"\\u003e\\u0026amp;\\u003c/a\\u003e\","
                "\"\xe2\x80\xa8|\xe2\x80\xa9\",\"\\u2028|\\u2029\","
                "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\","
                "\"bad:\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd|"
                "\\ufffd\\ufffd\\ufffd\\ufffd\",\"\"]");
}

static void build_api(struct jsonw *w)
{
    jsonw_obj_begin(w);
    jsonw_key_cstr(w, "status");
    jsonw_cstr(w, "success");
    jsonw_key_cstr(w, "data");
    jsonw_obj_begin(w);
    jsonw_key_cstr(w, "resultType");
    jsonw_cstr(w, "vector");
    jsonw_key_cstr(w, "result");
    jsonw_arr_begin(w);
    for (int i = 0; i < 2; i++) {
        jsonw_obj_begin(w);
        jsonw_key_cstr(w, "metric");
        jsonw_obj_begin(w);
        jsonw_key_cstr(w, "__name__");
        jsonw_cstr(w, "up");
        jsonw_key(w, "we\"ird", 6);
        jsonw_cstr(w, i ? "b" : "a");
        jsonw_obj_end(w);
        jsonw_key_cstr(w, "value");
        jsonw_arr_begin(w);
        jsonw_ts_ms(w, 1435781451781);
        jsonw_float_str(w, i ? 0.5 : 1);
        jsonw_arr_end(w);
        jsonw_obj_end(w);
    }
    jsonw_arr_end(w);
    jsonw_key_cstr(w, "empty_obj");
    jsonw_obj_begin(w);
    jsonw_obj_end(w);
    jsonw_key_cstr(w, "empty_arr");
    jsonw_arr_begin(w);
    jsonw_arr_begin(w);
    jsonw_arr_end(w);
    jsonw_raw(w, "{\"pre\":1}", 9);
    jsonw_arr_end(w);
    jsonw_obj_end(w);
    jsonw_obj_end(w);
}

static void test_structure(void **state)
{
    expect_json(build_api,
                "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                "{\"metric\":{\"__name__\":\"up\",\"we\\\"ird\":\"a\"},"
                "\"value\":[1435781451.781,\"1\"]},"
                "{\"metric\":{\"__name__\":\"up\",\"we\\\"ird\":\"b\"},"
                "\"value\":[1435781451.781,\"0.5\"]}],"
                "\"empty_obj\":{},\"empty_arr\":[[],{\"pre\":1}]}}");
    /* appends after existing bytes, and a scalar is a valid top-level value */
    struct buf b = BUF_INIT;
    buf_append_str(&b, "x=");
    struct jsonw w;
    jsonw_init(&w, &b);
    jsonw_int(&w, 42);
    assert_int_equal(jsonw_finish(&w), 0);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "x=42", 4);
    buf_deinit(&b);
}

/* Runs `misuse` in a child; it must die (ASSERT -> abort). */
static void expect_abort(void (*misuse)(struct jsonw *))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", 1);
        if (devnull >= 0)
            dup2(devnull, 2);
        struct buf b = BUF_INIT;
        struct jsonw w;
        jsonw_init(&w, &b);
        misuse(&w);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void misuse_value_without_key(struct jsonw *w)
{
    jsonw_obj_begin(w);
    jsonw_int(w, 1);
}

static void misuse_key_in_array(struct jsonw *w)
{
    jsonw_arr_begin(w);
    jsonw_key_cstr(w, "k");
}

static void misuse_unbalanced(struct jsonw *w)
{
    jsonw_arr_begin(w);
    jsonw_obj_end(w);
}

static void misuse_unfinished(struct jsonw *w)
{
    jsonw_obj_begin(w);
    jsonw_finish(w);
}

static void misuse_too_deep(struct jsonw *w)
{
    for (int i = 0; i <= JSONW_DEPTH_MAX; i++)
        jsonw_arr_begin(w);
}

static void test_misuse_asserts(void **state)
{
    expect_abort(misuse_value_without_key);
    expect_abort(misuse_key_in_array);
    expect_abort(misuse_unbalanced);
    expect_abort(misuse_unfinished);
    expect_abort(misuse_too_deep);
}

/* Every finite double: output parses back to the same bits, and no shorter decimal does. */
static void test_float_roundtrip_minimal(void **state)
{
    struct prop p = prop_begin("jsonw_float_shortest");
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = prop_next(&p);
        if (i % 4 == 1) /* short decimals, the common case in metrics */
            bits = 0;
        double v;
        memcpy(&v, &bits, 8);
        if (i % 4 == 1)
            v = (double)(int64_t)(prop_next(&p) % 100000000) / (double)(1 + prop_next(&p) % 10000);
        if (!isfinite(v))
            continue;
        char out[JSONW_FLOAT_MAX + 1];
        size_t n = jsonw_fmt_float(v, out);
        out[n] = 0;
        double back = strtod(out, NULL);
        prop_check(&p, memcmp(&back, &v, 8) == 0 || (v == 0 && back == 0));
        char sig[40]; /* significant digits: no leading or trailing zeros */
        int digits = 0;
        for (size_t k = 0; k < n && out[k] != 'e'; k++)
            if ((out[k] >= '1' && out[k] <= '9') || (out[k] == '0' && digits))
                sig[digits++] = out[k];
        while (digits > 1 && sig[digits - 1] == '0')
            digits--;
        for (int prec = 1; prec < digits && v != 0; prec++) {
            char shorter[40];
            snprintf(shorter, sizeof shorter, "%.*e", prec - 1, v);
            prop_check(&p, strtod(shorter, NULL) != v);
        }
    }
}

/* Decodes a JSON string literal produced by jsonw (subset: the escapes it emits). */
static size_t unescape(const uint8_t *s, size_t n, uint8_t *out)
{
    size_t o = 0;
    assert_true(n >= 2 && s[0] == '"' && s[n - 1] == '"');
    for (size_t i = 1; i < n - 1; i++) {
        if (s[i] != '\\') {
            out[o++] = s[i];
            continue;
        }
        char e = (char)s[++i];
        if (e == 'u') {
            char hex[5] = {(char)s[i + 1], (char)s[i + 2], (char)s[i + 3], (char)s[i + 4], 0};
            o += wire_utf8_encode((uint32_t)strtoul(hex, NULL, 16), out + o);
            i += 4;
        } else {
            out[o++] = e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : (uint8_t)e;
        }
    }
    return o;
}

/* What a JSON reader sees: the input with each invalid UTF-8 byte replaced by U+FFFD. */
static size_t sanitize(const uint8_t *s, size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = wire_utf8_decode(s + i, n - i, &cp);
        if (!len) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(out + o, s + i, len);
        o += len;
        i += len;
    }
    return o;
}

static void test_string_roundtrip(void **state)
{
    struct prop p = prop_begin("jsonw_string_roundtrip");
    static const char *pieces[] = {"\xe2\x80\xa8", "\xc3\xa9", "\xf0\x9f\x98\x80", "<", "&", "\""};
    for (int iter = 0; iter < 3000; iter++) {
        uint8_t in[64], want[64 * 3], got[64 * 6];
        size_t n = 0, len = prop_next(&p) % 40;
        while (n < len) {
            uint64_t r = prop_next(&p);
            if (r % 5 == 0) {
                const char *pc = pieces[(r >> 8) % 6];
                memcpy(in + n, pc, strlen(pc));
                n += strlen(pc);
            } else {
                in[n++] = (uint8_t)(r >> 16);
            }
        }
        for (int html = 0; html < 2; html++) {
            struct buf b = BUF_INIT;
            struct jsonw w;
            jsonw_init(&w, &b);
            (html ? jsonw_str_html : jsonw_str)(&w, (const char *)in, n);
            prop_check(&p, jsonw_finish(&w) == 0);
            for (size_t i = 1; i + 1 < b.len; i++) { /* nothing raw that JSON forbids */
                prop_check(&p, b.data[i] >= 0x20);
                prop_check(&p, !html || (b.data[i] != '<' && b.data[i] != '>' && b.data[i] != '&'));
            }
            size_t wn = sanitize(in, n, want);
            size_t gn = unescape(b.data, b.len, got);
            prop_check(&p, gn == wn && memcmp(got, want, wn) == 0);
            buf_deinit(&b);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_golden),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_misuse_asserts),
        cmocka_unit_test(test_float_roundtrip_minimal),
        cmocka_unit_test(test_string_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
