/* Query-string and form decoding: repeated keys, percent and '+' decoding, invalid escapes,
 * empty pairs, limits, and a randomized encode/decode round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "server/http/query.h"
#include "tests/unit/prop.h"

static void assert_str(struct str s, const char *want)
{
    if (s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0)
        fail_msg("got '%.*s', want '%s'", (int)s.len, s.ptr, want);
}

static void test_pct_decode(void **state)
{
    (void)state;
    char out[64];
    struct {
        const char *in;
        bool plus;
        const char *want;
    } ok[] = {
        {"", true, ""},
        {"abc", true, "abc"},
        {"a+b", true, "a b"},
        {"a+b", false, "a+b"},
        {"%2B", true, "+"},
        {"%2b%2F%3d", true, "+/="},
        {"%7B__name__%3D%22up%22%7D", true, "{__name__=\"up\"}"},
        {"%E2%82%AC", true, "\xe2\x82\xac"},
        {"%25", true, "%"},
        {"100%25+sure", true, "100% sure"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t n = http_pct_decode(out, ok[i].in, strlen(ok[i].in), ok[i].plus);
        assert_true(n >= 0);
        assert_int_equal((size_t)n, strlen(ok[i].want));
        assert_memory_equal(out, ok[i].want, (size_t)n);
    }
    const char *bad[] = {"%", "%2", "a%", "%zz", "%2g", "%g2", "abc%4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(http_pct_decode(out, bad[i], strlen(bad[i]), true), ERR_INVALID);
    /* a NUL byte via %00 is data, not a terminator */
    assert_int_equal(http_pct_decode(out, "a%00b", 5, true), 3);
    assert_memory_equal(out, "a\0b", 3);
    /* in place */
    char inplace[] = "x%41+y";
    assert_int_equal(http_pct_decode(inplace, inplace, strlen(inplace), true), 4);
    assert_memory_equal(inplace, "xA y", 4);
}

static void test_repeated_keys(void **state)
{
    (void)state;
    struct http_params ps;
    http_params_init(&ps);
    const char *q = "match%5B%5D=up&match[]=%7Bjob%3D%22a+b%22%7D&start=1&&end=&flag&match[]=";
    assert_int_equal(http_params_parse(&ps, q, strlen(q)), 0);
    assert_int_equal(ps.n, 6);
    struct str vals[4];
    assert_int_equal(http_params_get_all(&ps, "match[]", vals, 4), 3);
    assert_str(vals[0], "up");
    assert_str(vals[1], "{job=\"a b\"}");
    assert_str(vals[2], "");
    struct str v;
    assert_true(http_params_get(&ps, "start", &v));
    assert_str(v, "1");
    assert_true(http_params_get(&ps, "end", &v));
    assert_str(v, "");
    assert_true(http_params_get(&ps, "flag", &v));
    assert_str(v, "");
    assert_false(http_params_get(&ps, "absent", &v));
    /* get_all reports the total even when out is small */
    assert_int_equal(http_params_get_all(&ps, "match[]", vals, 1), 3);
    http_params_deinit(&ps);
}

static void test_form_then_url_first_wins(void **state)
{
    (void)state;
    struct http_params ps;
    http_params_init(&ps);
    const char *form = "query=1%2B1&time=4";
    const char *url = "query=ignored&timeout=5s";
    assert_int_equal(http_params_parse(&ps, form, strlen(form)), 0);
    assert_int_equal(http_params_parse(&ps, url, strlen(url)), 0);
    struct str v;
    assert_true(http_params_get(&ps, "query", &v));
    assert_str(v, "1+1");
    assert_true(http_params_get(&ps, "timeout", &v));
    assert_str(v, "5s");
    http_params_reset(&ps);
    assert_int_equal(ps.n, 0);
    assert_false(http_params_get(&ps, "query", &v));
    http_params_deinit(&ps);
}

static void test_invalid_escapes(void **state)
{
    (void)state;
    struct http_params ps;
    http_params_init(&ps);
    assert_int_equal(http_params_parse(&ps, "a=1&b=%zz&c=3", 13), ERR_INVALID);
    assert_int_equal(ps.n, 1); /* pairs before the bad one stay */
    http_params_reset(&ps);
    assert_int_equal(http_params_parse(&ps, "%4=1", 4), ERR_INVALID);
    http_params_reset(&ps);
    assert_int_equal(http_params_parse(&ps, "k=%", 3), ERR_INVALID);
    http_params_deinit(&ps);
}

static void test_limit(void **state)
{
    (void)state;
    struct http_params ps;
    http_params_init(&ps);
    static char big[HTTP_PARAMS_MAX * 4 + 16];
    size_t n = 0;
    for (int i = 0; i <= HTTP_PARAMS_MAX; i++) {
        memcpy(big + n, "a=1&", 4);
        n += 4;
    }
    assert_int_equal(http_params_parse(&ps, big, n), ERR_LIMIT);
    assert_int_equal(ps.n, HTTP_PARAMS_MAX);
    http_params_deinit(&ps);
}

/* Encode random byte strings the way Go's url.QueryEscape does (space as '+', others %XX) and
 * decode them back. */
static size_t encode(char *out, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[o++] = (char)c;
        } else if (c == ' ') {
            out[o++] = '+';
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    return o;
}

static void test_random_round_trip(void **state)
{
    (void)state;
    struct prop p = prop_begin("query_round_trip");
    struct http_params ps;
    http_params_init(&ps);
    for (int iter = 0; iter < 2000; iter++) {
        uint8_t keys[4][16], vals[4][32];
        size_t kl[4], vl[4];
        char q[1024];
        size_t qn = 0;
        for (int i = 0; i < 4; i++) {
            kl[i] = 1 + prop_next(&p) % 15;
            vl[i] = prop_next(&p) % 32;
            for (size_t j = 0; j < kl[i]; j++)
                keys[i][j] = (uint8_t)prop_next(&p);
            for (size_t j = 0; j < vl[i]; j++)
                vals[i][j] = (uint8_t)((prop_next(&p) & 1) ? ' ' : prop_next(&p));
            qn += encode(q + qn, keys[i], kl[i]);
            q[qn++] = '=';
            qn += encode(q + qn, vals[i], vl[i]);
            q[qn++] = '&';
        }
        http_params_reset(&ps);
        prop_check(&p, http_params_parse(&ps, q, qn) == 0);
        prop_check(&p, ps.n == 4);
        for (int i = 0; i < 4; i++) {
            prop_check(&p, ps.items[i].key.len == kl[i]);
            prop_check(&p, memcmp(ps.items[i].key.ptr, keys[i], kl[i]) == 0);
            prop_check(&p, ps.items[i].value.len == vl[i]);
            prop_check(&p, vl[i] == 0 || memcmp(ps.items[i].value.ptr, vals[i], vl[i]) == 0);
        }
    }
    http_params_deinit(&ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pct_decode),
        cmocka_unit_test(test_repeated_keys),
        cmocka_unit_test(test_form_then_url_first_wins),
        cmocka_unit_test(test_invalid_escapes),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_random_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
