/* formats/jsonr: token streams of golden documents, every error class with Go's wording and the
 * byte offset, depth limit, skip spans, unescaping (all escapes, surrogate pairs, lone
 * surrogates, invalid UTF-8), string comparison, exact int64/double parsing (big, exponents, -0,
 * numbers longer than the stack copy), Loki path syntax and lookups, `| json` flattening, and
 * random documents written with formats/jsonw read back to the same bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/jsonr.h"
#include "formats/jsonw.h"
#include "tests/unit/prop.h"

static const char *tok_name(int t)
{
    static const char *const names[] = {"END", "{",   "}",    "[",     "]",   "KEY",
                                        "STR", "NUM", "true", "false", "null"};
    return t >= 0 && t <= JSONR_NULL ? names[t] : "ERR";
}

/* Renders the token stream of json as "{ KEY:a STR:b NUM:1 } END", flags as "/e" "/u". */
static void render(const char *json, size_t n, unsigned opts, char *out, size_t cap)
{
    struct jsonr r;
    jsonr_init(&r, json, n, opts);
    size_t len = 0;
    out[0] = 0;
    for (;;) {
        int t = jsonr_next(&r);
        struct str s = jsonr_text(&r);
        if (t < 0) {
            char why[128];
            len += (size_t)snprintf(out + len, cap - len, "ERR(%d@%zu:%s)", t, jsonr_err_offset(&r),
                                    jsonr_err_msg(&r, why, sizeof why));
            return;
        }
        if (t == JSONR_KEY || t == JSONR_STRING || t == JSONR_NUMBER)
            len += (size_t)snprintf(
                out + len, cap - len, "%s:%.*s%s%s ", tok_name(t), (int)s.len, s.ptr,
                (t != JSONR_NUMBER && (r.flags & JSONR_STR_ESCAPED)) ? "/e" : "",
                (t != JSONR_NUMBER && (r.flags & JSONR_STR_BADUTF8)) ? "/u" : "");
        else
            len += (size_t)snprintf(out + len, cap - len, "%s ", tok_name(t));
        if (t == JSONR_END)
            return;
        assert_true(len < cap);
    }
}

static void expect_tokens(const char *json, const char *want)
{
    char got[1024];
    render(json, strlen(json), 0, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("%s\n got: %s\nwant: %s", json, got, want);
}

static void test_tokens_golden(void **state)
{
    (void)state;
    expect_tokens("{}", "{ } END ");
    expect_tokens(" [ ] ", "[ ] END ");
    expect_tokens("{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"x\"}}",
                  "{ KEY:a NUM:1 KEY:b [ true false null ] KEY:c { KEY:d STR:x } } END ");
    expect_tokens("\t\r\n{ \"k\" :\n\"v\" , \"n\" : -0.5e+10 }\n",
                  "{ KEY:k STR:v KEY:n NUM:-0.5e+10 } END ");
    expect_tokens("\"top\"", "STR:top END ");
    expect_tokens("0", "NUM:0 END ");
    expect_tokens("-0", "NUM:-0 END ");
    expect_tokens("1E5", "NUM:1E5 END ");
    expect_tokens("[1e-5,2.25,10,-3]", "[ NUM:1e-5 NUM:2.25 NUM:10 NUM:-3 ] END ");
    expect_tokens("null", "null END ");
    expect_tokens("[[[]],{}]", "[ [ [ ] ] { } ] END ");
    expect_tokens("\"a\\nb\"", "STR:a\\nb/e END ");
    expect_tokens("\"\\u00e9\"", "STR:\\u00e9/e END ");
    expect_tokens("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
                  "STR:caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 END ");
    expect_tokens("\"bad\xff\"", "STR:bad\xff/u END ");
    expect_tokens("\"\xed\xa0\x80\"", "STR:\xed\xa0\x80/u END "); /* UTF-8 surrogate */
    expect_tokens("\"\xc0\xaf\"", "STR:\xc0\xaf/u END ");         /* overlong */
    expect_tokens("\"\x7f/<>'\"", "STR:\x7f/<>' END ");
    /* long strings cross the 16-byte vector scan */
    expect_tokens("[\"0123456789abcdef0123456789abcdef\\\"x\",\"0123456789abcdef01234\xc3\xa9\"]",
                  "[ STR:0123456789abcdef0123456789abcdef\\\"x/e "
                  "STR:0123456789abcdef01234\xc3\xa9 ] END ");
}

static void expect_error(const char *json, size_t n, int code, size_t off, const char *msg)
{
    struct jsonr r;
    jsonr_init(&r, json, n, 0);
    int t;
    while ((t = jsonr_next(&r)) > 0) {
    }
    char why[128];
    jsonr_err_msg(&r, why, sizeof why);
    if (t != code || jsonr_err_offset(&r) != off || strcmp(why, msg) != 0)
        fail_msg("%.*s: got %d @%zu '%s', want %d @%zu '%s'", (int)n, json, t, jsonr_err_offset(&r),
                 why, code, off, msg);
    /* sticky */
    assert_int_equal(jsonr_next(&r), code);
    assert_int_equal(jsonr_skip(&r, NULL), code);
}

#define E(json, code, off, msg) expect_error(json, sizeof(json) - 1, code, off, msg)

static void test_errors(void **state)
{
    (void)state;
    E("", ERR_TRUNCATED, 0, "unexpected end of JSON input");
    E("   ", ERR_TRUNCATED, 3, "unexpected end of JSON input");
    E("{", ERR_TRUNCATED, 1, "unexpected end of JSON input");
    E("{\"a\"", ERR_TRUNCATED, 4, "unexpected end of JSON input");
    E("{\"a\":", ERR_TRUNCATED, 5, "unexpected end of JSON input");
    E("[1,", ERR_TRUNCATED, 3, "unexpected end of JSON input");
    E("\"abc", ERR_TRUNCATED, 4, "unexpected end of JSON input");
    E("\"ab\\", ERR_TRUNCATED, 4, "unexpected end of JSON input");
    E("\"ab\\u12", ERR_TRUNCATED, 7, "unexpected end of JSON input");
    E("-", ERR_TRUNCATED, 1, "unexpected end of JSON input");
    E("1.", ERR_TRUNCATED, 2, "unexpected end of JSON input");
    E("1e", ERR_TRUNCATED, 2, "unexpected end of JSON input");
    E("1e+", ERR_TRUNCATED, 3, "unexpected end of JSON input");
    E("tru", ERR_TRUNCATED, 3, "unexpected end of JSON input");
    /* trailing commas */
    E("[1,]", ERR_CORRUPT, 3, "invalid character ']' looking for beginning of value");
    E("{\"a\":1,}", ERR_CORRUPT, 7,
      "invalid character '}' looking for beginning of object key string");
    E("[,1]", ERR_CORRUPT, 1, "invalid character ',' looking for beginning of value");
    /* comments, quotes, bare words */
    E("{/*c*/}", ERR_CORRUPT, 1,
      "invalid character '/' looking for beginning of object key string");
    E("// x\n1", ERR_CORRUPT, 0, "invalid character '/' looking for beginning of value");
    E("{'a':1}", ERR_CORRUPT, 1,
      "invalid character '\\'' looking for beginning of object key string");
    E("{a:1}", ERR_CORRUPT, 1, "invalid character 'a' looking for beginning of object key string");
    E("NaN", ERR_CORRUPT, 0, "invalid character 'N' looking for beginning of value");
    E("[Infinity]", ERR_CORRUPT, 1, "invalid character 'I' looking for beginning of value");
    E("nul", ERR_TRUNCATED, 3, "unexpected end of JSON input");
    E("nulL", ERR_CORRUPT, 3, "invalid character 'L' in literal true, false or null");
    E("[truex]", ERR_CORRUPT, 5, "invalid character 'x' after array element");
    /* numbers */
    E("01", ERR_CORRUPT, 1, "invalid character '1' after top-level value");
    E("[-01]", ERR_CORRUPT, 3, "invalid character '1' after array element");
    E("+1", ERR_CORRUPT, 0, "invalid character '+' looking for beginning of value");
    E(".5", ERR_CORRUPT, 0, "invalid character '.' looking for beginning of value");
    E("-x", ERR_CORRUPT, 1, "invalid character 'x' in numeric literal");
    E("1.x", ERR_CORRUPT, 2, "invalid character 'x' after decimal point in numeric literal");
    E("1e.", ERR_CORRUPT, 2, "invalid character '.' in exponent of numeric literal");
    E("0x10", ERR_CORRUPT, 1, "invalid character 'x' after top-level value");
    E("1 2", ERR_CORRUPT, 2, "invalid character '2' after top-level value");
    /* strings */
    E("\"a\x01\"", ERR_CORRUPT, 2, "invalid character '\\x01' in string literal");
    E("\"a\nb\"", ERR_CORRUPT, 2, "invalid character '\\n' in string literal");
    E("\"a\tb\"", ERR_CORRUPT, 2, "invalid character '\\t' in string literal");
    E("\"\\x41\"", ERR_CORRUPT, 2, "invalid character 'x' in string escape code");
    E("\"\\'\"", ERR_CORRUPT, 2, "invalid character '\\'' in string escape code");
    E("\"\\u12g4\"", ERR_CORRUPT, 5, "invalid character 'g' in \\u hexadecimal character escape");
    E("\"a\" x", ERR_CORRUPT, 4, "invalid character 'x' after top-level value");
    /* structure */
    E("{\"a\" 1}", ERR_CORRUPT, 5, "invalid character '1' after object key");
    E("{\"a\":1 \"b\":2}", ERR_CORRUPT, 7, "invalid character '\"' after object key:value pair");
    E("[1 2]", ERR_CORRUPT, 3, "invalid character '2' after array element");
    E("[1}", ERR_CORRUPT, 2, "invalid character '}' after array element");
    E("{\"a\":1]", ERR_CORRUPT, 6, "invalid character ']' after object key:value pair");
    E("}", ERR_CORRUPT, 0, "invalid character '}' looking for beginning of value");
    E("{1:2}", ERR_CORRUPT, 1, "invalid character '1' looking for beginning of object key string");
    E("{} {}", ERR_CORRUPT, 3, "invalid character '{' after top-level value");
    E("[\x7f]", ERR_CORRUPT, 1, "invalid character '\\u007f' looking for beginning of value");
    E("[\xc3\xa9]", ERR_CORRUPT, 1, "invalid character '\\xc3' looking for beginning of value");
    /* NUL bytes are data, not terminators */
    E("[1\0]", ERR_CORRUPT, 2, "invalid character '\\x00' after array element");
}

static void test_trailing_option(void **state)
{
    (void)state;
    char got[256];
    render("{\"a\":1} trailing garbage", 24, JSONR_OPT_TRAILING, got, sizeof got);
    assert_string_equal(got, "{ KEY:a NUM:1 } END ");
    render("{\"a\":1} trailing", 16, 0, got, sizeof got);
    assert_string_equal(got, "{ KEY:a NUM:1 } ERR(-10001@8:invalid character 't' after top-level "
                             "value)");
    render("12x", 3, JSONR_OPT_TRAILING, got, sizeof got);
    assert_string_equal(got, "NUM:12 END ");
    /* END is returned again after the end */
    struct jsonr r;
    jsonr_init(&r, "1", 1, 0);
    assert_int_equal(jsonr_next(&r), JSONR_NUMBER);
    assert_int_equal(jsonr_next(&r), JSONR_END);
    assert_int_equal(jsonr_next(&r), JSONR_END);
    jsonr_init(&r, NULL, 0, 0);
    assert_int_equal(jsonr_next(&r), ERR_TRUNCATED);
}

static void test_depth_limit(void **state)
{
    (void)state;
    size_t n = JSONR_DEPTH_MAX;
    char *doc = malloc(2 * n + 4);
    memset(doc, '[', n);
    memset(doc + n, ']', n);
    struct jsonr r;
    jsonr_init(&r, doc, 2 * n, 0);
    int t;
    uint32_t max = 0;
    while ((t = jsonr_next(&r)) > 0)
        max = jsonr_depth(&r) > max ? jsonr_depth(&r) : max;
    assert_int_equal(t, JSONR_END);
    assert_int_equal(max, JSONR_DEPTH_MAX);

    /* one more level: ERR_LIMIT at the offending bracket */
    memset(doc, '[', n + 1);
    memset(doc + n + 1, ']', n + 1);
    jsonr_init(&r, doc, 2 * n + 2, 0);
    while ((t = jsonr_next(&r)) > 0) {
    }
    assert_int_equal(t, ERR_LIMIT);
    assert_int_equal(jsonr_err_offset(&r), n);
    char why[64];
    assert_string_equal(jsonr_err_msg(&r, why, sizeof why), "exceeded max depth of 512");

    /* objects nest the same way, mixed across the 64-bit words of the stack */
    size_t len = 0;
    for (size_t i = 0; i < 200; i++)
        len += (size_t)sprintf(doc + len, i % 3 ? "[" : "{\"k\":");
    doc[len++] = '1';
    for (size_t i = 200; i-- > 0;)
        doc[len++] = i % 3 ? ']' : '}';
    jsonr_init(&r, doc, len, 0);
    while ((t = jsonr_next(&r)) > 0) {
    }
    assert_int_equal(t, JSONR_END);
    free(doc);
}

static void test_skip(void **state)
{
    (void)state;
    const char *doc = "{\"a\":{\"x\":[1,{\"y\":\"]}\"}]},\"b\":\"s\\\"q\",\"c\":[] ,\"d\":-1.5,"
                      "\"e\":null}";
    struct jsonr r;
    jsonr_init(&r, doc, strlen(doc), 0);
    struct str raw;
    assert_int_equal(jsonr_next(&r), JSONR_OBJ_BEGIN);
    assert_int_equal(jsonr_next(&r), JSONR_KEY);
    assert_int_equal(jsonr_skip(&r, &raw), 0);
    assert_true(str_eq_cstr(raw, "{\"x\":[1,{\"y\":\"]}\"}]}"));
    assert_int_equal(jsonr_next(&r), JSONR_KEY);
    assert_int_equal(jsonr_skip(&r, &raw), 0);
    assert_true(str_eq_cstr(raw, "\"s\\\"q\""));
    assert_int_equal(jsonr_next(&r), JSONR_KEY);
    assert_int_equal(jsonr_next(&r), JSONR_ARR_BEGIN); /* skip after the begin token */
    assert_int_equal(jsonr_skip(&r, &raw), 0);
    assert_true(str_eq_cstr(raw, "[]"));
    assert_int_equal(jsonr_next(&r), JSONR_KEY);
    assert_int_equal(jsonr_next(&r), JSONR_NUMBER); /* after a scalar: no-op, its span */
    assert_int_equal(jsonr_skip(&r, &raw), 0);
    assert_true(str_eq_cstr(raw, "-1.5"));
    assert_int_equal(jsonr_next(&r), JSONR_KEY);
    assert_int_equal(jsonr_skip(&r, &raw), 0);
    assert_true(str_eq_cstr(raw, "null"));
    assert_int_equal(jsonr_next(&r), JSONR_OBJ_END);
    assert_int_equal(jsonr_next(&r), JSONR_END);

    /* a fresh reader: skips the whole document */
    jsonr_init(&r, doc, strlen(doc), 0);
    assert_int_equal(jsonr_skip(&r, &raw), 0);
    assert_int_equal(raw.len, strlen(doc));
    assert_int_equal(jsonr_next(&r), JSONR_END);

    /* skip validates */
    const char *bad = "{\"a\":[1,2,}],\"b\":1}";
    jsonr_init(&r, bad, strlen(bad), 0);
    assert_int_equal(jsonr_next(&r), JSONR_OBJ_BEGIN);
    assert_int_equal(jsonr_next(&r), JSONR_KEY);
    assert_int_equal(jsonr_skip(&r, &raw), ERR_CORRUPT);
    assert_int_equal(jsonr_err_offset(&r), 10);
}

static void unescape_expect(const char *raw, const char *want, size_t want_len)
{
    char out[256];
    size_t len = 0;
    struct str s = str_from_cstr(raw);
    assert_int_equal(jsonr_unescape(s, out, sizeof out, &len), 0);
    if (len != want_len || memcmp(out, want, len) != 0)
        fail_msg("unescape %s: got %zu bytes", raw, len);
    assert_true(len <= jsonr_unescape_max(s, JSONR_STR_ESCAPED | JSONR_STR_BADUTF8));
    assert_true(jsonr_str_eq(s, JSONR_STR_ESCAPED, (struct str){want, want_len}));
    struct buf b = BUF_INIT;
    buf_append(&b, "x", 1);
    assert_int_equal(jsonr_unescape_buf(s, &b), 0);
    assert_int_equal(b.len, want_len + 1);
    assert_memory_equal(b.data + 1, want, want_len);
    buf_deinit(&b);
}

#define U(raw, want) unescape_expect(raw, want, sizeof(want) - 1)

static void test_unescape(void **state)
{
    (void)state;
    U("", "");
    U("plain", "plain");
    U("\\\"\\\\\\/\\b\\f\\n\\r\\t", "\"\\/\b\f\n\r\t");
    U("a\\u0041\\u00e9\\u20AC", "aA\xc3\xa9\xe2\x82\xac");
    U("\\u0000", "\0");
    U("\\ud83d\\ude00", "\xf0\x9f\x98\x80");   /* surrogate pair */
    U("\\uD834\\uDD1E!", "\xf0\x9d\x84\x9e!"); /* upper-case hex */
    U("\\ud800", "\xef\xbf\xbd");              /* lone high */
    U("\\udc00x", "\xef\xbf\xbdx");            /* lone low */
    U("\\ud800\\u0041", "\xef\xbf\xbd"
                        "A");                                   /* high + non-surrogate */
    U("\\ud800\\ud800\\udc00", "\xef\xbf\xbd\xf0\x90\x80\x80"); /* high, then a pair */
    U("\\udc00\\ud800", "\xef\xbf\xbd\xef\xbf\xbd");
    U("\\ud800\\n", "\xef\xbf\xbd\n");
    U("a\xff"
      "b",
      "a\xef\xbf\xbd"
      "b");                                    /* invalid UTF-8 byte */
    U("\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd"); /* truncated sequence: one U+FFFD per byte */
    U("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* encoded surrogate */
    U("\xc3\xa9\\n\xf0\x9f\x98\x80", "\xc3\xa9\n\xf0\x9f\x98\x80");

    /* ERR_FULL and ERR_CORRUPT */
    char out[4];
    size_t len;
    assert_int_equal(jsonr_unescape(STR_LIT("abcde"), out, 4, &len), ERR_FULL);
    assert_int_equal(jsonr_unescape(STR_LIT("\\q"), out, 4, &len), ERR_CORRUPT);
    assert_int_equal(jsonr_unescape(STR_LIT("\\u12"), out, 4, &len), ERR_CORRUPT);
    assert_int_equal(jsonr_unescape(STR_LIT("ab\\"), out, 4, &len), ERR_CORRUPT);

    /* comparison */
    assert_true(jsonr_str_eq(STR_LIT("abc"), 0, STR_LIT("abc")));
    assert_false(jsonr_str_eq(STR_LIT("abc"), 0, STR_LIT("abd")));
    assert_false(jsonr_str_eq(STR_LIT("a\\u0062"), JSONR_STR_ESCAPED, STR_LIT("a")));
    assert_false(jsonr_str_eq(STR_LIT("a\\u0062"), JSONR_STR_ESCAPED, STR_LIT("abc")));
    assert_true(jsonr_str_eq(STR_LIT("a\\u0062"), JSONR_STR_ESCAPED, STR_LIT("ab")));
    assert_false(jsonr_str_eq(STR_LIT("\\q"), JSONR_STR_ESCAPED, STR_LIT("q")));
}

static void int_expect(const char *s, int rc, int64_t want)
{
    int64_t v = 12345;
    int got = jsonr_int64(str_from_cstr(s), &v);
    if (got != rc || (rc == 0 && v != want))
        fail_msg("int64 %s: rc %d v %lld", s, got, (long long)v);
}

static void dbl_expect(const char *s, int rc, double want)
{
    double v = 12345;
    int got = jsonr_double(str_from_cstr(s), &v);
    if (got != rc || memcmp(&v, &want, sizeof v) != 0)
        fail_msg("double %s: rc %d v %.17g want %.17g", s, got, v, want);
}

static void test_numbers(void **state)
{
    (void)state;
    int_expect("0", 0, 0);
    int_expect("-0", 0, 0);
    int_expect("42", 0, 42);
    int_expect("-42", 0, -42);
    int_expect("9223372036854775807", 0, INT64_MAX);
    int_expect("-9223372036854775808", 0, INT64_MIN);
    int_expect("9223372036854775808", ERR_RANGE, 0);
    int_expect("-9223372036854775809", ERR_RANGE, 0);
    int_expect("123456789012345678901234567890", ERR_RANGE, 0);
    int_expect("1.0", ERR_INVALID, 0);
    int_expect("1e3", ERR_INVALID, 0);
    int_expect("01", ERR_INVALID, 0);
    int_expect("", ERR_INVALID, 0);
    int_expect("-", ERR_INVALID, 0);
    int_expect("+1", ERR_INVALID, 0);
    int_expect("1 ", ERR_INVALID, 0);

    dbl_expect("0", 0, 0.0);
    dbl_expect("-0", 0, -0.0);
    dbl_expect("-0.0e5", 0, -0.0);
    dbl_expect("0.1", 0, 0.1);
    dbl_expect("1.5e3", 0, 1500.0);
    dbl_expect("1E-2", 0, 0.01);
    dbl_expect("123456789012345678901234567890", 0, 1.2345678901234568e29);
    dbl_expect("1.7976931348623157e308", 0, 1.7976931348623157e308);
    dbl_expect("2.2250738585072014e-308", 0, 2.2250738585072014e-308);
    dbl_expect("4.9e-324", 0, 4.9e-324);
    dbl_expect("1e-400", 0, 0.0);
    dbl_expect("1e309", ERR_RANGE, INFINITY);
    dbl_expect("-1e309", ERR_RANGE, -INFINITY);
    dbl_expect("9007199254740993", 0, 9007199254740992.0); /* ties to even */
    dbl_expect("NaN", ERR_INVALID, 0);
    dbl_expect("1.", ERR_INVALID, 0);
    dbl_expect("0x10", ERR_INVALID, 0);
    dbl_expect(" 1", ERR_INVALID, 0);
    dbl_expect("", ERR_INVALID, 0);

    /* longer than the stack copy: the squeezed form rounds the same as strtod on all digits */
    struct prop p = prop_begin("long_double");
    for (int iter = 0; iter < 200; iter++) {
        size_t n = 1100 + (size_t)(prop_next(&p) % 2000);
        char *s = malloc(n + 32);
        size_t k = 0;
        if (prop_next(&p) & 1)
            s[k++] = '-';
        int shape = (int)(prop_next(&p) % 4);
        size_t int_digits = shape == 0 ? 1 : 1 + (size_t)(prop_next(&p) % (n / 2));
        for (size_t i = 0; i < int_digits; i++)
            s[k++] = (char)('0' + (i == 0 ? (shape == 0 ? 0 : 1 + prop_next(&p) % 9)
                                          : prop_next(&p) % 10));
        s[k++] = '.';
        size_t zeros = shape == 0 ? (size_t)(prop_next(&p) % 400) : 0;
        for (size_t i = 0; i < zeros; i++)
            s[k++] = '0';
        for (size_t i = 0; k < n; i++, k++) { /* a halfway-ish run: 5, zeros, then a 1 */
            int d = shape == 3 ? (i == 0 ? 5 : (k + 1 == n ? 1 : 0)) : (int)(prop_next(&p) % 10);
            s[k] = (char)('0' + d);
        }
        if (prop_next(&p) & 1)
            k += (size_t)sprintf(s + k, "e%d", (int)(prop_next(&p) % 600) - 300);
        s[k] = 0;
        double got, want = strtod(s, NULL);
        int rc = jsonr_double((struct str){s, k}, &got);
        prop_check(&p, (rc == 0 || rc == ERR_RANGE) && memcmp(&got, &want, sizeof got) == 0);
        free(s);
    }
}

static void find_expect(const char *doc, const char *path, int want_tok, const char *want_raw)
{
    struct jsonr_path_seg segs[16];
    size_t n;
    assert_int_equal(jsonr_path_parse(str_from_cstr(path), segs, 16, &n), 0);
    struct jsonr r;
    jsonr_init(&r, doc, strlen(doc), 0);
    int t = jsonr_find_path(&r, segs, n);
    if (t != want_tok)
        fail_msg("%s in %s: got %d want %d", path, doc, t, want_tok);
    if (t > 0) {
        struct str raw;
        assert_int_equal(jsonr_skip(&r, &raw), 0);
        if (!str_eq_cstr(raw, want_raw))
            fail_msg("%s: got %.*s want %s", path, (int)raw.len, raw.ptr, want_raw);
    }
}

static void test_paths(void **state)
{
    (void)state;
    struct jsonr_path_seg s[8];
    size_t n;
    assert_int_equal(jsonr_path_parse(STR_LIT("a.b[0][\"c.d\"] . e_1"), s, 8, &n), 0);
    assert_int_equal(n, 5);
    assert_true(!s[0].is_index && str_eq_cstr(s[0].key, "a"));
    assert_true(!s[1].is_index && str_eq_cstr(s[1].key, "b"));
    assert_true(s[2].is_index && s[2].index == 0);
    assert_true(!s[3].is_index && str_eq_cstr(s[3].key, "c.d"));
    assert_true(!s[4].is_index && str_eq_cstr(s[4].key, "e_1"));
    assert_int_equal(jsonr_path_parse(STR_LIT("[12].x"), s, 8, &n), 0);
    assert_true(n == 2 && s[0].is_index && s[0].index == 12);
    assert_int_equal(jsonr_path_parse(STR_LIT("[\"a]"), s, 8, &n), ERR_INVALID); /* key ends at ] */
    assert_int_equal(jsonr_path_parse(STR_LIT("[\"a\"]"), s, 8, &n), 0);
    assert_int_equal(jsonr_path_parse(STR_LIT("[\"\"]"), s, 8, &n), 0);
    assert_true(n == 1 && s[0].key.len == 0);
    static const char *const bad[] = {"",    ".a",   "a.",     "a..b",  "a[",
                                      "a[1", "a[x]", "a[1.5]", "a[-1]", "a.0",
                                      "1",   "a b",  "a]",     "a-b",   "[99999999999999999999]",
                                      "$.a", "a.[0]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (jsonr_path_parse(str_from_cstr(bad[i]), s, 8, &n) != ERR_INVALID)
            fail_msg("path %s parsed", bad[i]);
    assert_int_equal(jsonr_path_parse(STR_LIT("a.b.c"), s, 2, &n), ERR_LIMIT);

    const char *doc = "{\"a\":{\"b\":[{\"c\":1},{\"c\":\"two\",\"d\":[true,null]}]},"
                      "\"e\\u0078\":\"esc\",\"f.g\":{\"h\":-2.5},\"a\":\"dup\",\"z\":[[0,[1,2]]]}";
    find_expect(doc, "a", JSONR_OBJ_BEGIN, "{\"b\":[{\"c\":1},{\"c\":\"two\",\"d\":[true,null]}]}");
    find_expect(doc, "a.b[0].c", JSONR_NUMBER, "1");
    find_expect(doc, "a.b[1].c", JSONR_STRING, "\"two\"");
    find_expect(doc, "a.b[1][\"d\"][0]", JSONR_TRUE, "true");
    find_expect(doc, "a.b[1].d[1]", JSONR_NULL, "null");
    find_expect(doc, "a.b[1].d[2]", ERR_NOT_FOUND, NULL);
    find_expect(doc, "a.b[2]", ERR_NOT_FOUND, NULL);
    find_expect(doc, "a.b.c", ERR_NOT_FOUND, NULL);
    find_expect(doc, "a.b[0].c.x", ERR_NOT_FOUND, NULL);
    find_expect(doc, "a[0]", ERR_NOT_FOUND, NULL);
    find_expect(doc, "ex", JSONR_STRING, "\"esc\""); /* keys compare decoded */
    find_expect(doc, "[\"f.g\"].h", JSONR_NUMBER, "-2.5");
    find_expect(doc, "f.g", ERR_NOT_FOUND, NULL);
    find_expect(doc, "z[0][1][1]", JSONR_NUMBER, "2");
    find_expect(doc, "missing", ERR_NOT_FOUND, NULL);
    find_expect("[5,6]", "[1]", JSONR_NUMBER, "6");
    find_expect("\"s\"", "a", ERR_NOT_FOUND, NULL);

    /* empty path: the value itself; after a key: that key's value */
    struct jsonr r;
    jsonr_init(&r, doc, strlen(doc), 0);
    assert_int_equal(jsonr_find_path(&r, NULL, 0), JSONR_OBJ_BEGIN);
    assert_int_equal(jsonr_next(&r), JSONR_KEY);
    assert_int_equal(jsonr_path_parse(STR_LIT("b[0]"), s, 8, &n), 0);
    assert_int_equal(jsonr_find_path(&r, s, n), JSONR_OBJ_BEGIN);

    /* malformed before the match: the reader's error; after the match: not read */
    assert_int_equal(jsonr_path_parse(STR_LIT("b"), s, 8, &n), 0);
    jsonr_init(&r, "{\"a\":[1,,],\"b\":2}", 17, 0);
    assert_int_equal(jsonr_find_path(&r, s, n), ERR_CORRUPT);
    jsonr_init(&r, "{\"b\":2,,,", 9, 0);
    assert_int_equal(jsonr_find_path(&r, s, n), JSONR_NUMBER);
    assert_true(str_eq_cstr(jsonr_text(&r), "2"));
}

/* Flattens json and renders "name=value;..." (with an error suffix). */
static void flat_expect(const char *json, const char *want)
{
    struct buf name = BUF_INIT, value = BUF_INIT;
    struct jsonr_flat f;
    jsonr_flat_init(&f, json, strlen(json), 0, &name, &value);
    char got[512];
    size_t len = 0;
    got[0] = 0;
    struct str k, v;
    int t;
    while ((t = jsonr_flat_next(&f, &k, &v)) > 0)
        len += (size_t)snprintf(got + len, sizeof got - len, "%.*s=%.*s;", (int)k.len, k.ptr,
                                (int)v.len, v.ptr);
    if (t < 0)
        snprintf(got + len, sizeof got - len, "ERR");
    if (strcmp(got, want) != 0)
        fail_msg("%s\n got: %s\nwant: %s", json, got, want);
    buf_deinit(&name);
    buf_deinit(&value);
}

static void test_flatten(void **state)
{
    (void)state;
    flat_expect("{}", "");
    flat_expect("{\"a\":\"x\",\"n\":1.5e3,\"t\":true,\"f\":false,\"z\":null,\"arr\":[1,{\"q\":2}]}",
                "a=x;n=1.5e3;t=true;f=false;");
    flat_expect("{\"a\":{\"b\":{\"c\":\"deep\"},\"d\":2},\"e\":3}", "a_b_c=deep;a_d=2;e=3;");
    flat_expect("{\"a-b\":1,\"c.d\":2,\" sp \":3,\"1st\":4,\"caf\xc3\xa9\":5}",
                "a_b=1;c_d=2;sp=3;_1st=4;caf_=5;");
    flat_expect("{\"o\":{\"1\":1,\" \":{\"x\":2},\"\":3}}", "o_1=1;o_x=2;o=3;");
    flat_expect("{\" \":1,\"\":2,\"\\u00a0\":3}", ""); /* empty names are skipped */
    flat_expect("{\"\\u0061\\u0062\":\"v\\n\\u00e9\"}", "ab=v\n\xc3\xa9;");
    flat_expect("{\"bad\":\"x\xffy\",\"rep\":\"\xef\xbf\xbd\"}", "bad=x y;rep= ;");
    flat_expect("{\"k\":{\"\\u2003in\\u2003\":1}}", "k_in=1;");
    flat_expect("{\"a\":1,\"b\":[1,2,}", "a=1;ERR"); /* leaves before the error are kept */
    flat_expect("{\"a\":1} x", "a=1;ERR");
    flat_expect("[1,2]", "ERR");
    flat_expect("\"s\"", "ERR");
    flat_expect("", "ERR");

    /* every ASCII byte in a key, through the ASCII fast path and (with an escape) the slow one */
    for (int slow = 0; slow < 2; slow++) {
        struct buf doc = BUF_INIT, want = BUF_INIT;
        struct jsonw w;
        char key[128];
        size_t n = 0;
        for (int c = 1; c < 128; c++)
            key[n++] = (char)c;
        jsonw_init(&w, &doc);
        jsonw_obj_begin(&w);
        jsonw_key(&w, key, n);
        jsonw_int(&w, 1);
        jsonw_obj_end(&w);
        assert_int_equal(jsonw_finish(&w), 0);
        if (!slow) { /* 0x20..0x7f without escapes: the ASCII fast path */
            buf_reset(&doc);
            buf_printf(&doc, "{\"");
            for (int c = 0x20; c < 128; c++)
                if (c != '"' && c != '\\')
                    buf_append_u8(&doc, (uint8_t)c);
            buf_printf(&doc, "\":1}");
        }
        /* slow: bytes 1..127 (nothing to trim at the ends); fast: 0x21..0x7f */
        for (int c = slow ? 1 : 0x21; c < 128; c++) {
            bool keep = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
                        (c >= 'a' && c <= 'z') || c == '_';
            if (slow || (c != '"' && c != '\\'))
                buf_append_u8(&want, keep ? (uint8_t)c : '_');
        }
        buf_append_str(&want, "=1;");
        buf_cstr(&want);
        buf_cstr(&doc);
        flat_expect((const char *)doc.data, (const char *)want.data);
        buf_deinit(&doc);
        buf_deinit(&want);
    }
}

/* ---- property: jsonw -> jsonr -> jsonw gives the same bytes ---- */

static bool gen_bad_utf8; /* whether strings may hold invalid UTF-8 (jsonw writes \ufffd) */

static void gen_string(struct prop *p, char *s, size_t *n)
{
    static const char *const pieces[] = {"a",
                                         "Z",
                                         " ",
                                         "\"",
                                         "\\",
                                         "/",
                                         "\n",
                                         "\t",
                                         "\x01",
                                         "\x1f",
                                         "\x7f",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80",
                                         "<",
                                         "&",
                                         "\xff",
                                         "\xed\xa0\x80",
                                         "\xe2\x82",
                                         "\xc0"};
    size_t k = 0, len = prop_next(p) % 24;
    for (size_t i = 0; i < len; i++) {
        size_t np = sizeof pieces / sizeof *pieces - (gen_bad_utf8 ? 0 : 4);
        const char *x = pieces[prop_next(p) % np];
        memcpy(s + k, x, strlen(x));
        k += strlen(x);
    }
    *n = k;
}

static void gen_value(struct prop *p, struct jsonw *w, int depth)
{
    char s[128];
    size_t n;
    int kind = (int)(prop_next(p) % (depth < 6 ? 8 : 6));
    switch (kind) {
    case 0: gen_string(p, s, &n), jsonw_str(w, s, n); break;
    case 1: jsonw_int(w, (int64_t)prop_next(p) >> (prop_next(p) % 64)); break;
    case 2: jsonw_float(w, (prop_unit(p) - 0.5) * pow(10, (double)(prop_next(p) % 40) - 20)); break;
    case 3: jsonw_bool(w, prop_next(p) & 1); break;
    case 4: jsonw_null(w); break;
    case 5: jsonw_uint(w, prop_next(p)); break;
    case 6: {
        jsonw_obj_begin(w);
        for (size_t i = prop_next(p) % 5; i > 0; i--) {
            gen_string(p, s, &n);
            jsonw_key(w, s, n);
            gen_value(p, w, depth + 1);
        }
        jsonw_obj_end(w);
        break;
    }
    default:
        jsonw_arr_begin(w);
        for (size_t i = prop_next(p) % 5; i > 0; i--)
            gen_value(p, w, depth + 1);
        jsonw_arr_end(w);
    }
}

/* Re-writes the document read from `in` through jsonw; returns the reader's final token. */
static int rewrite(const uint8_t *in, size_t n, struct buf *out, struct buf *scratch)
{
    struct jsonr r;
    struct jsonw w;
    jsonr_init(&r, in, n, 0);
    jsonw_init(&w, out);
    int t;
    while ((t = jsonr_next(&r)) > 0) {
        struct str s = jsonr_text(&r);
        buf_reset(scratch);
        switch (t) {
        case JSONR_OBJ_BEGIN: jsonw_obj_begin(&w); break;
        case JSONR_OBJ_END: jsonw_obj_end(&w); break;
        case JSONR_ARR_BEGIN: jsonw_arr_begin(&w); break;
        case JSONR_ARR_END: jsonw_arr_end(&w); break;
        case JSONR_KEY:
        case JSONR_STRING:
            assert_int_equal(jsonr_unescape_buf(s, scratch), 0);
            if (t == JSONR_KEY)
                jsonw_key(&w, (const char *)scratch->data, scratch->len);
            else
                jsonw_str(&w, (const char *)scratch->data, scratch->len);
            break;
        default: jsonw_raw(&w, s.ptr, s.len);
        }
    }
    if (t == JSONR_END)
        assert_int_equal(jsonw_finish(&w), 0);
    return t;
}

static void test_random_roundtrip(void **state)
{
    (void)state;
    struct prop p = prop_begin("jsonw_jsonr_roundtrip");
    struct buf doc = BUF_INIT, spaced = BUF_INIT, again = BUF_INIT, scratch = BUF_INIT;
    struct buf first = BUF_INIT;
    for (int iter = 0; iter < 3000; iter++) {
        gen_bad_utf8 = iter & 1;
        buf_reset(&doc);
        struct jsonw w;
        jsonw_init(&w, &doc);
        gen_value(&p, &w, 0);
        assert_int_equal(jsonw_finish(&w), 0);
        /* the same document with whitespace before structural bytes and strings */
        buf_reset(&spaced);
        bool in_str = false;
        for (size_t i = 0; i < doc.len; i++) {
            uint8_t c = doc.data[i];
            if (!in_str && strchr("{}[],:\"", c) && (prop_next(&p) % 2 == 0))
                buf_append(&spaced, " \t\r\n" + prop_next(&p) % 4, 1);
            buf_append_u8(&spaced, c);
            if (in_str && c == '\\')
                buf_append_u8(&spaced, doc.data[++i]); /* the escaped byte */
            else if (c == '"')
                in_str = !in_str;
        }
        /* with invalid UTF-8 the first rewrite holds U+FFFD where doc has \ufffd: compare the
         * second rewrite with the first */
        struct buf *want = &doc;
        if (gen_bad_utf8) {
            buf_reset(&first);
            prop_check(&p, rewrite(doc.data, doc.len, &first, &scratch) == JSONR_END);
            want = &first;
        }
        for (int k = 0; k < 3; k++) {
            struct buf *src = k == 0 ? &doc : k == 1 ? &spaced : want;
            buf_reset(&again);
            int t = rewrite(src->data, src->len, &again, &scratch);
            prop_check(&p, t == JSONR_END);
            prop_check(&p,
                       again.len == want->len && memcmp(again.data, want->data, want->len) == 0);
        }
        /* skip agrees with the token walk, and every proper prefix is truncated or corrupt */
        struct jsonr r;
        struct str raw;
        jsonr_init(&r, doc.data, doc.len, 0);
        prop_check(&p, jsonr_skip(&r, &raw) == 0 && raw.len == doc.len);
        size_t cut = doc.len ? (size_t)(prop_next(&p) % doc.len) : 0;
        jsonr_init(&r, doc.data, cut, 0);
        int t;
        while ((t = jsonr_next(&r)) > 0) {
        }
        /* a cut number ("12" of "123") can still be a whole document */
        prop_check(&p, t == ERR_TRUNCATED || t == JSONR_END);
    }
    buf_deinit(&doc);
    buf_deinit(&spaced);
    buf_deinit(&again);
    buf_deinit(&scratch);
    buf_deinit(&first);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_golden),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_trailing_option),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_skip),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_flatten),
        cmocka_unit_test(test_random_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
