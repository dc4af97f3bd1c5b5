/* Label matchers: Prometheus 3 semantics (anchored, dot matches newline), fast-path shapes agree
 * with the general regex engine, RE2-only syntax is enforced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/error.h"
#include "engine/index/matcher.h"
#include "tests/unit/prop.h"

static struct matcher mk(enum matcher_type t, const char *v)
{
    struct matcher m;
    char err[256];
    int rc = matcher_init(&m, t, STR_LIT("job"), str_from_cstr(v), err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "matcher_init(%s): %s\n", v, err);
    assert_int_equal(rc, 0);
    return m;
}

static bool re(const char *pattern, const char *value)
{
    struct matcher m = mk(MATCHER_RE, pattern);
    bool r = matcher_matches(&m, str_from_cstr(value));
    matcher_deinit(&m);
    return r;
}

static void test_equality(void **state)
{
    struct matcher m = mk(MATCHER_EQ, "api");
    assert_true(matcher_matches(&m, STR_LIT("api")));
    assert_false(matcher_matches(&m, STR_LIT("apix")));
    assert_false(matcher_matches_empty(&m));
    matcher_deinit(&m);
    m = mk(MATCHER_NEQ, "api");
    assert_false(matcher_matches(&m, STR_LIT("api")));
    assert_true(matcher_matches_empty(&m));
    matcher_deinit(&m);
    m = mk(MATCHER_EQ, "");
    assert_true(matcher_matches_empty(&m));
    matcher_deinit(&m);
}

static void test_shapes(void **state)
{
    struct {
        const char *re;
        enum matcher_shape shape;
    } cases[] = {
        {"foo", SHAPE_LITERAL},      {"a\\.b", SHAPE_LITERAL},   {"", SHAPE_LITERAL},
        {"foo|bar", SHAPE_SET},      {"b|a|b", SHAPE_SET},       {".*", SHAPE_ANY},
        {".+", SHAPE_NONEMPTY},      {"foo.*", SHAPE_PREFIX},    {".*foo", SHAPE_SUFFIX},
        {".*foo.*", SHAPE_CONTAINS}, {"f.o", SHAPE_REGEX},       {"(?i)foo", SHAPE_REGEX},
        {"a\\.*", SHAPE_REGEX},      {"foo|bar.*", SHAPE_REGEX}, {"\\d+", SHAPE_REGEX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct matcher m = mk(MATCHER_RE, cases[i].re);
        if (m.shape != cases[i].shape)
            fprintf(stderr, "pattern %s: shape %d want %d\n", cases[i].re, m.shape, cases[i].shape);
        assert_int_equal(m.shape, cases[i].shape);
        matcher_deinit(&m);
    }
}

static void test_semantics(void **state)
{
    /* fully anchored */
    assert_true(re("foo", "foo"));
    assert_false(re("foo", "xfoo"));
    assert_false(re("fo+", "foox"));
    assert_false(re("fo+", "xfoo"));
    assert_true(re("fo+", "fooo"));
    assert_false(re("a|b", "ab"));
    assert_true(re("a|b", "b"));
    /* escaped punctuation is literal */
    assert_true(re("a\\.b", "a.b"));
    assert_false(re("a\\.b", "axb"));
    /* . matches newline (Prometheus 3) */
    assert_true(re("a.b", "a\nb"));
    assert_true(re(".*", "a\nb"));
    assert_true(re(".*", ""));
    assert_false(re(".+", ""));
    assert_true(re(".+", "\n"));
    /* $ is end of text only */
    assert_false(re("a$", "a\n"));
    /* affixes */
    assert_true(re("foo.*", "foo"));
    assert_true(re("foo.*", "foobar"));
    assert_false(re("foo.*", "xfoo"));
    assert_true(re(".*bar", "foobar"));
    assert_false(re(".*bar", "barx"));
    assert_true(re(".*oob.*", "foobar"));
    assert_false(re(".*oob.*", "fobar"));
    /* sets, empty alternatives */
    assert_true(re("a|", ""));
    assert_true(re("", ""));
    assert_false(re("", "x"));
    /* flags and classes */
    assert_true(re("(?i)FOO", "foo"));
    assert_true(re("\\d+", "123"));
    assert_false(re("\\d+", "12a"));
    assert_true(re("[a-c]+", "abcab"));
    /* UTF-8 */
    assert_true(re("h.llo", "h\xc3\xa9llo"));
    assert_true(re("\\p{L}+", "\xc3\xa9t\xc3\xa9"));
}

static void test_negative_regex(void **state)
{
    struct matcher m = mk(MATCHER_NRE, "foo|bar");
    assert_false(matcher_matches(&m, STR_LIT("foo")));
    assert_true(matcher_matches(&m, STR_LIT("baz")));
    assert_true(matcher_matches_empty(&m));
    matcher_deinit(&m);
    m = mk(MATCHER_NRE, ".+");
    assert_true(matcher_matches_empty(&m));
    assert_false(matcher_matches(&m, STR_LIT("x")));
    matcher_deinit(&m);
}

static void test_invalid(void **state)
{
    const char *bad[] = {"(a",  "a)|(b", "(?=a)", "(?!a)", "(?<=a)b", "(a)\\1",
                         "a*+", "a**",   "[a",    "\\C",   "(?>a)"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct matcher m;
        char err[256];
        int rc = matcher_init(&m, MATCHER_RE, STR_LIT("x"), str_from_cstr(bad[i]), err, sizeof err);
        if (rc != ERR_INVALID)
            fprintf(stderr, "pattern %s was accepted\n", bad[i]);
        assert_int_equal(rc, ERR_INVALID);
        assert_true(strstr(err, "error parsing regexp") != NULL);
    }
    /* but these are fine in RE2 */
    assert_true(re("[(?=]", "="));
    assert_true(re("a{2}", "aa"));
    assert_true(re("(?P<n>a)", "a"));
}

static void test_finite_values(void **state)
{
    const struct str *vals;
    size_t n;
    struct matcher m = mk(MATCHER_RE, "c|a|b|a");
    assert_true(matcher_finite_values(&m, &vals, &n));
    assert_int_equal(n, 3);
    assert_true(str_eq_cstr(vals[0], "a") && str_eq_cstr(vals[1], "b") &&
                str_eq_cstr(vals[2], "c"));
    matcher_deinit(&m);
    m = mk(MATCHER_EQ, "x");
    assert_true(matcher_finite_values(&m, &vals, &n));
    assert_int_equal(n, 1);
    matcher_deinit(&m);
    m = mk(MATCHER_RE, "x.*");
    assert_false(matcher_finite_values(&m, &vals, &n));
    matcher_deinit(&m);
    m = mk(MATCHER_NRE, "x");
    assert_false(matcher_finite_values(&m, &vals, &n));
    matcher_deinit(&m);
}

/* Property: every fast path agrees with PCRE2 on random strings over a small alphabet. */
/* Negated Perl classes match multi-byte characters (PCRE2's JIT alone would not), also
 * with the JIT compiled; escaped, quoted and bracketed forms keep their meaning. */
static void test_negated_classes_utf8(void **state)
{
    (void)state;
    assert_true(re("\\S+", "h\xc3\xa9llo"));
    assert_true(re("\\S+", "\xe2\x82\xac"));
    assert_false(re("\\S+", "a b"));
    assert_true(re("\\W+", "\xe2\x82\xac"));
    assert_false(re("\\W+", "h\xc3\xa9llo"));
    assert_true(re("\\D+", "\xc3\xa9\xc3\xa9"));
    assert_false(re("\\D+", "a1"));
    assert_true(re("[\\S]+", "\xc3\xa9"));
    assert_true(re("[^\\S]+", " "));
    assert_true(re("\\\\S", "\\S"));     /* an escaped backslash, then S */
    assert_true(re("\\Q\\S\\E", "\\S")); /* quoted: a literal backslash and S */
    assert_false(re("\\Q\\S\\E", "x"));
    assert_true(re("[[:alpha:]]\\S", "a\xc3\xa9"));
}

static void test_fast_paths_agree_with_regex(void **state)
{
    struct prop p = prop_begin("matcher_fast_paths");
    const char *patterns[] = {"ab", "ab|ba|", ".*", ".+", "ab.*", ".*ab", ".*ab.*", "a\\.b.*"};
    const char alphabet[] = "ab.\n";
    for (size_t k = 0; k < sizeof patterns / sizeof patterns[0]; k++) {
        struct matcher fast = mk(MATCHER_RE, patterns[k]);
        /* the same pattern wrapped in a group defeats shape detection: general engine */
        char wrapped[64];
        snprintf(wrapped, sizeof wrapped, "(?:%s)", patterns[k]);
        struct matcher slow = mk(MATCHER_RE, wrapped);
        assert_int_equal(slow.shape, SHAPE_REGEX);
        for (int i = 0; i < 2000; i++) {
            char s[8];
            size_t len = prop_next(&p) % 7;
            for (size_t j = 0; j < len; j++)
                s[j] = alphabet[prop_next(&p) % 4];
            struct str v = {s, len};
            prop_check(&p, matcher_matches(&fast, v) == matcher_matches(&slow, v));
        }
        matcher_deinit(&fast);
        matcher_deinit(&slow);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equality),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_semantics),
        cmocka_unit_test(test_negative_regex),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_finite_values),
        cmocka_unit_test(test_negated_classes_utf8),
        cmocka_unit_test(test_fast_paths_agree_with_regex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
