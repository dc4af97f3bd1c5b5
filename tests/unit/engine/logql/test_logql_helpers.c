/* LogQL helper grammars: Go RE2 syntax checking and the PCRE2 rewrite (matching behaves like Go),
 * ip() patterns (netip rules, prefix/range containment, Loki's address scan), Loki patterns
 * (parse rules, extraction, |> matching) and json extraction paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/ip.h"
#include "engine/logql/jsonpath.h"
#include "engine/logql/pattern.h"
#include "engine/logql/regex.h"
#include "tests/unit/prop.h"

static struct arena A;

static int setup(void **state)
{
    arena_init(&A, 8192);
    return 0;
}

static int teardown(void **state)
{
    arena_deinit(&A);
    return 0;
}

static void re_ok(const char *re)
{
    char err[256];
    int rc = logql_re2_check(NULL, str_from_cstr(re), NULL, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s: %s\n", re, err);
    assert_int_equal(rc, 0);
}

static void re_bad(const char *re, const char *msg)
{
    char err[256] = "";
    int rc = logql_re2_check(NULL, str_from_cstr(re), NULL, err, sizeof err);
    if (rc == 0 || !strstr(err, msg))
        fprintf(stderr, "%s: want %s, got %s\n", re, msg, err);
    assert_int_equal(rc, ERR_INVALID);
    assert_non_null(strstr(err, msg));
}

static void test_re2_syntax(void **state)
{
    const char *good[] = {
        "",          "abc",          "a|b|",     "()",       "(?i)x",        "(?-i:x)",
        "(?im-s:x)", "(?U)a*",       "(?P<n>a)", "(?<n>a)",  "a*?",          "a{2,5}?",
        "x{1000}",   "(x{10}){100}", "x{,5}",    "x{01}",    "a{",           "{}",
        "[]a]",      "[^]a]",        "[a-]",     "[-a]",     "[[:^alpha:]]", "[\\d\\pL]",
        "\\pN+",     "\\p{Greek}",   "\\PL",     "\\p{^Lu}", "\\x{1F600}",   "\\x41",
        "\\101",     "\\0",          "\\12",     "\\Q.*\\E", "\\Qab",        "^*",
        "\\b+",      "\\z",          "\\_",      "(?s).+",   "[[:word:]]",   "a\\.b"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        re_ok(good[i]);
    re_bad("(", "missing closing )");
    re_bad("a)", "unexpected )");
    re_bad("[a", "missing closing ]");
    re_bad("\\", "trailing backslash");
    re_bad("*a", "missing argument to repetition operator");
    re_bad("a|*", "missing argument to repetition operator");
    re_bad("(*)", "missing argument to repetition operator");
    re_bad("a**", "invalid nested repetition operator: `**`");
    re_bad("a*??", "invalid nested repetition operator");
    re_bad("a++", "invalid nested repetition operator");
    re_bad("a{2}{3}", "invalid nested repetition operator");
    re_bad("x{1001}", "invalid repeat count");
    re_bad("x{2,1}", "invalid repeat count");
    re_bad("(x{10}){101}", "invalid repeat count");
    re_bad("\\1", "invalid escape sequence");
    re_bad("\\8", "invalid escape sequence");
    re_bad("\\q", "invalid escape sequence");
    re_bad("\\C", "invalid escape sequence");
    re_bad("\\Z", "invalid escape sequence");
    re_bad("[\\b]", "invalid escape sequence");
    re_bad("\\x{110000}", "invalid escape sequence");
    re_bad("[z-a]", "invalid character class range: `z-a`");
    re_bad("[[:foo:]]", "invalid character class range");
    re_bad("\\pX", "invalid character class range");
    re_bad("(?=a)", "invalid or unsupported Perl syntax");
    re_bad("(?!a)", "invalid or unsupported Perl syntax");
    re_bad("(?>a)", "invalid or unsupported Perl syntax");
    re_bad("(?x)a", "invalid or unsupported Perl syntax");
    re_bad("(?-)", "invalid or unsupported Perl syntax");
    re_bad("(?<=a)", "invalid named capture");
    re_bad("(?P<>a)", "invalid named capture");
    re_bad("(?P<a-b>x)", "invalid named capture");
    re_bad("\xff", "invalid UTF-8");
}

static bool rx(const char *re, const char *subject, size_t n)
{
    struct logql_regex r;
    char err[256];
    int rc = logql_regex_compile(&A, str_from_cstr(re), 0, &r, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s: %s\n", re, err);
    assert_int_equal(rc, 0);
    bool m = logql_regex_match(&r, (struct str){subject, n});
    logql_regex_free(&r);
    return m;
}

#define RX(re, s) rx(re, s, strlen(s))

static void test_regex_semantics(void **state)
{
    assert_true(RX("x{01}", "ax{01}b")); /* not a repeat in Go: literal braces */
    assert_false(RX("x{01}", "x"));
    assert_true(RX("a{", "a{"));
    assert_true(RX("\\Qa.b\\E*", "a.")); /* the star takes the last rune */
    assert_false(RX("^\\Qa.b\\E*$", "axb"));
    assert_true(RX("\\v", "\x0b"));
    assert_false(RX("\\v", "\n")); /* PCRE2's \v would match any vertical space */
    assert_true(RX("\\101", "A"));
    assert_true(RX("^(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)\\12$", "abcdefghijkl\n"));
    assert_true(RX("[^]a]", "b"));
    assert_false(RX("^[^]a]$", "]"));
    assert_true(RX("(?i)[a-z]+", "QQ"));
    assert_true(RX("^*a", "a"));
    assert_true(RX("x$", "x"));
    assert_false(RX("x$", "x\n")); /* $ is the end of text, as in Go */
    assert_true(RX("(?m)x$", "x\ny"));
    assert_false(RX("a.b", "a\nb"));
    assert_true(RX("(?s)a.b", "a\nb"));
    assert_true(RX("\\p{Greek}", "\xce\xb1"));
    /* negated Perl classes match multi-byte characters (also under PCRE2's JIT) */
    assert_true(RX("^\\S+$", "h\xc3\xa9llo"));
    assert_true(RX("^\\W$", "\xe2\x82\xac"));
    assert_true(RX("^\\D\\D$", "\xc3\xa9\xc3\xa9"));
    assert_true(RX("^\\S+\\s\\S+$", "\xc3\xa9 \xc3\xa9"));
    assert_false(RX("^\\S+$", "a b"));
    assert_true(RX("err", "xx err yy")); /* unanchored */
    struct logql_regex r;
    char err[256];
    assert_int_equal(logql_regex_compile(&A, STR_LIT("a+"), LOGQL_RE_ANCHORED, &r, err, sizeof err),
                     0);
    assert_true(logql_regex_match(&r, STR_LIT("aaa")));
    assert_false(logql_regex_match(&r, STR_LIT("aab")));
    logql_regex_free(&r);
    assert_int_equal(logql_regex_compile(&A, STR_LIT("(?P<k>\\w+)=(\\d+)"), 0, &r, err, sizeof err),
                     0);
    assert_int_equal(r.n_groups, 2);
    assert_int_equal(r.n_named, 1);
    size_t spans[6];
    assert_true(logql_regex_find(&r, STR_LIT("x key=42 y"), spans, 3));
    assert_int_equal(spans[0], 2);
    assert_int_equal(spans[1], 8);
    assert_int_equal(spans[2], 2);
    assert_int_equal(spans[3], 5);
    assert_int_equal(spans[4], 6);
    assert_false(logql_regex_find(&r, STR_LIT("nothing"), spans, 3));
    logql_regex_free(&r);
}

static bool ip_in(const char *pattern, const char *text)
{
    struct logql_ip_matcher m;
    char err[128];
    assert_int_equal(logql_ip_matcher_parse(str_from_cstr(pattern), &m, err, sizeof err), 0);
    return logql_ip_matches(&m, str_from_cstr(text));
}

static void test_ip(void **state)
{
    const char *good[] = {
        "1.2.3.4",      "0.0.0.0",         "::",
        "::1",          "2001:db8::1",     "::ffff:1.2.3.4",
        "fe80::1%eth0", "10.0.0.0/8",      "10.1.2.3/32",
        "::/0",         "2001:db8::/32",   "1.2.3.4-1.2.3.10",
        "::1-::5",      "1.2.3.4-1.2.3.4", "fe80::1%eth0/64" /* zone "eth0/64", as Go reads it */};
    const char *bad[] = {"",         "1.2.3",     "1.2.3.4.5",        "256.1.1.1",
                         "01.2.3.4", "1.2.3.4%x", "1.2.3.4/33",       "1.2.3.4/08",
                         "1.2.3.4/", "::1/129",   "1::2::3",          "1:2:3:4:5:6:7:8:9",
                         "12345::",  ":",         "1.2.3.10-1.2.3.4", "1.2.3.4-::1",
                         "bogus",    "1.2.3.4 "};
    struct logql_ip_matcher m;
    char err[128];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int rc = logql_ip_matcher_parse(str_from_cstr(good[i]), &m, err, sizeof err);
        if (rc)
            fprintf(stderr, "%s: %s\n", good[i], err);
        assert_int_equal(rc, 0);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = logql_ip_matcher_parse(str_from_cstr(bad[i]), &m, err, sizeof err);
        if (rc == 0)
            fprintf(stderr, "accepted bad pattern %s\n", bad[i]);
        assert_int_equal(rc, ERR_INVALID);
    }
    assert_string_equal(err, "ip: invalid pattern: \"1.2.3.4 \"");
    assert_true(ip_in("192.168.0.0/16", "GET from 192.168.4.2 ok"));
    assert_false(ip_in("192.168.0.0/16", "GET from 192.169.4.2"));
    assert_true(ip_in("1.2.3.4", "x=1.2.3.4"));
    assert_false(ip_in("1.2.3.4", "x=1.2.3.40"));
    assert_true(ip_in("1.2.3.4-1.2.3.10", "a 1.2.3.7 b"));
    assert_false(ip_in("1.2.3.4-1.2.3.10", "a 1.2.3.11 b"));
    assert_true(ip_in("2001:db8::/32", "addr=2001:db8:0:1::5 x"));
    assert_true(ip_in("::1", "local ::1"));
    assert_false(ip_in("10.0.0.0/8", "::ffff:10.0.0.1")); /* v4 prefix, v6 address */
    assert_false(ip_in("10.0.0.0/8", "no address"));
    assert_false(ip_in("10.0.0.0/8", ""));
}

static void test_pattern(void **state)
{
    struct logql_pattern *p;
    char err[256];
    assert_int_equal(logql_pattern_parse(&A, STR_LIT("<ip> - <_> [<ts>] \"<method> <path>\""),
                                         false, &p, err, sizeof err),
                     0);
    assert_int_equal(p->n_named, 4);
    struct str caps[8];
    size_t n = logql_pattern_extract(p, STR_LIT("1.2.3.4 - x [now] \"GET /a b\""), caps, 8);
    assert_int_equal(n, 4);
    assert_true(str_eq_cstr(caps[0], "1.2.3.4"));
    assert_true(str_eq_cstr(caps[1], "now"));
    assert_true(str_eq_cstr(caps[2], "GET"));
    assert_true(str_eq_cstr(caps[3], "/a b"));
    n = logql_pattern_extract(p, STR_LIT("1.2.3.4 - x"), caps, 8); /* runs out of line */
    assert_int_equal(n, 1);
    assert_true(str_eq_cstr(caps[0], "1.2.3.4"));
    assert_int_equal(logql_pattern_parse(&A, STR_LIT("lead <a> tail"), false, &p, err, sizeof err),
                     0);
    assert_int_equal(logql_pattern_extract(p, STR_LIT("xlead 1 tail"), caps, 8), 0);
    assert_int_equal(logql_pattern_extract(p, STR_LIT("lead 1 tail"), caps, 8), 1);
    assert_true(str_eq_cstr(caps[0], "1"));

    const struct {
        const char *src;
        bool line_filter;
        const char *msg;
    } bad[] = {{"no captures", false, "at least one capture is required"},
               {"<_> x", false, "at least one capture is required"},
               {"<a><b>", false, "found consecutive capture '<a><b>'"},
               {"<a> <a>", false, "duplicate capture name (a)"},
               {"", false, "syntax error"},
               {"<a> x", true, "named captures are not allowed: found '<a>'"},
               {"<_><_>", true, "consecutive capture"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(logql_pattern_parse(&A, str_from_cstr(bad[i].src), bad[i].line_filter, &p,
                                             err, sizeof err),
                         ERR_INVALID);
        assert_non_null(strstr(err, bad[i].msg));
    }
    /* literal '<' that does not start a capture */
    assert_int_equal(logql_pattern_parse(&A, STR_LIT("a < b <1> <c>"), false, &p, err, sizeof err),
                     0);
    assert_int_equal(p->n_named, 1);
    assert_int_equal(p->n_nodes, 2);

    /* |> semantics */
    assert_int_equal(logql_pattern_parse(&A, STR_LIT("<_> bar <_>"), true, &p, err, sizeof err), 0);
    assert_true(logql_pattern_matches(p, STR_LIT("foo bar baz")));
    assert_false(logql_pattern_matches(p, STR_LIT(" bar ")));
    assert_false(logql_pattern_matches(p, STR_LIT("foo bar")));
    assert_int_equal(logql_pattern_parse(&A, STR_LIT("foo <_>"), true, &p, err, sizeof err), 0);
    assert_true(logql_pattern_matches(p, STR_LIT("foo bar")));
    assert_false(logql_pattern_matches(p, STR_LIT("foo ")));
    assert_int_equal(logql_pattern_parse(&A, STR_LIT(""), true, &p, err, sizeof err), 0);
    assert_true(logql_pattern_matches(p, STR_LIT("")));
    assert_false(logql_pattern_matches(p, STR_LIT("x")));
}

static void test_json_path(void **state)
{
    struct logql_json_path *p;
    char err[128];
    assert_int_equal(
        logql_json_path_parse(&A, STR_LIT("a.b_2[3][\"k ey\"] .c"), &p, err, sizeof err), 0);
    assert_int_equal(p->n_segs, 5);
    assert_true(str_eq_cstr(p->segs[0].key, "a"));
    assert_true(str_eq_cstr(p->segs[1].key, "b_2"));
    assert_true(p->segs[2].is_index && p->segs[2].index == 3);
    assert_true(str_eq_cstr(p->segs[3].key, "k ey"));
    assert_true(str_eq_cstr(p->segs[4].key, "c"));
    assert_int_equal(logql_json_path_parse(&A, STR_LIT("[0]"), &p, err, sizeof err), 0);
    assert_true(p->n_segs == 1 && p->segs[0].is_index);
    assert_int_equal(logql_json_path_parse(&A, STR_LIT("[\"X-Key\"]"), &p, err, sizeof err), 0);
    const char *bad[] = {"",    "a.",   ".a",    "a..b", "a[",  "a[0",     "a[1.5]", "a-b",
                         "a b", "a[x]", "a[-1]", "0",    "a.0", "a[\"k\"", "a]",     "a[[0]]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = logql_json_path_parse(&A, str_from_cstr(bad[i]), &p, err, sizeof err);
        if (rc == 0)
            fprintf(stderr, "accepted bad path %s\n", bad[i]);
        assert_int_equal(rc, ERR_INVALID);
    }
}

/* Random bytes never crash the helpers; a pattern that parses round-trips its nodes. */
static void test_helpers_random(void **state)
{
    struct prop p = prop_begin("logql_helpers_random");
    char buf[32];
    const char alphabet[] = "()[]{}*+?|\\^$.-:<>_ab01dPpQE,\"";
    for (int i = 0; i < 20000; i++) {
        size_t n = prop_next(&p) % sizeof buf;
        for (size_t k = 0; k < n; k++)
            buf[k] = alphabet[prop_next(&p) % (sizeof alphabet - 1)];
        struct str s = {buf, n};
        char err[256];
        struct logql_regex r;
        if (logql_regex_compile(&A, s, 0, &r, err, sizeof err) == 0) {
            (void)logql_regex_match(&r, s);
            logql_regex_free(&r);
        }
        struct logql_ip_matcher m;
        if (logql_ip_matcher_parse(s, &m, err, sizeof err) == 0)
            (void)logql_ip_matches(&m, s);
        struct logql_pattern *pt;
        if (logql_pattern_parse(&A, s, i & 1, &pt, err, sizeof err) == 0) {
            size_t total = 0;
            for (size_t k = 0; k < pt->n_nodes; k++)
                total += pt->nodes[k].text.len + (pt->nodes[k].capture ? 2 : 0);
            prop_check(&p, total == n);
        }
        struct logql_json_path *jp;
        (void)logql_json_path_parse(&A, s, &jp, err, sizeof err);
        if (i % 1000 == 999) {
            arena_deinit(&A);
            arena_init(&A, 8192);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_re2_syntax), cmocka_unit_test(test_regex_semantics),
        cmocka_unit_test(test_ip),         cmocka_unit_test(test_pattern),
        cmocka_unit_test(test_json_path),  cmocka_unit_test(test_helpers_random),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
