/* LogQL line filters (engine/logql/filter.h): the Go-to-hyperscan regex translation, Loki's
 * filter semantics (or chains, negations, match-all terms, patterns, ip()), hyperscan and PCRE2
 * agreeing on randomized lines and patterns, and invalid UTF-8 lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../prop.h"
#include "base/error.h"
#include "engine/logql/exec.h"
#include "engine/logql/filter.h"
#include "engine/logql/parse.h"

static void xlate(const char *go, const char *want, bool want_utf8)
{
    struct buf b = BUF_INIT;
    bool utf8 = false;
    bool ok = logql_filter_go_to_hs(str_from_cstr(go), &b, &utf8);
    if (!want) {
        if (ok)
            fprintf(stderr, "%s: translated to %s, want fallback\n", go, (char *)b.data);
        assert_false(ok);
    } else {
        if (!ok || strcmp((char *)b.data, want) != 0)
            fprintf(stderr, "%s: got %s, want %s\n", go, ok ? (char *)b.data : "(fallback)", want);
        assert_true(ok);
        assert_string_equal((char *)b.data, want);
        assert_int_equal(utf8, want_utf8);
    }
    buf_deinit(&b);
}

static void test_translate(void **state)
{
    (void)state;
    xlate("foo", "foo", false);
    xlate("a.b", "a.b", true);
    xlate("end$", "end\\z", false);
    xlate("\\s+x", "[\\t\\n\\f\\r ]+x", false);
    xlate("[\\sa]", "[\\t\\n\\f\\r a]", false);
    xlate("\\S", "[^\\t\\n\\f\\r ]", true);
    xlate("[^a]", "[^a]", true);
    xlate("(?P<n>x)(?:y)", "(x)(?:y)", false);
    xlate("(?i)abc", "(?i)abc", false);
    xlate("(?s:.)", "(?s:.)", true);
    xlate("a{2,3}b{4}c{5,}", "a{2,3}b{4}c{5,}", false);
    xlate("caf\xc3\xa9", "caf\xc3\xa9", true);
    xlate("\\x41\\x{263a}", "\\x41\\x{263a}", true);
    xlate("[[:alpha:]]", "[[:alpha:]]", false);
    xlate("\\bword\\b", "\\bword\\b", false);
    /* left to PCRE2 */
    xlate("(?i)caf\xc3\xa9", NULL, false); /* Unicode case folding */
    xlate("(?m)^a$", NULL, false);
    xlate("(?U)a+", NULL, false);
    xlate("a{,3}", NULL, false); /* a literal brace in Go */
    xlate("\\pL", NULL, false);
    xlate("\\v", NULL, false);
    xlate("\\Qa.b\\E", NULL, false);
    xlate("\\xff", NULL, false);
}

/* Keep/drop of `{x="y"} <filters>` on a line. */
static int run(const char *filters, const char *line, size_t len)
{
    char q[1024], err[256];
    snprintf(q, sizeof q, "{x=\"y\"} %s", filters);
    struct logql_query *lq;
    struct logql_pipeline *p;
    int rc = logql_parse(str_from_cstr(q), &lq, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s: %s\n", q, err);
    assert_int_equal(rc, 0);
    assert_int_equal(logql_pipeline_compile_expr(lq->root, NULL, &p, err, sizeof err), 0);
    struct label l = {STR_LIT("x"), STR_LIT("y")};
    struct logql_entry e = {.line = {line, len}, .stream = &l, .n_stream = 1};
    struct logql_result res;
    int kept = logql_pipeline_process(p, &e, 0, &res);
    assert_int_equal(kept == 1, logql_pipeline_prefilter(p, e.line));
    logql_pipeline_destroy(p);
    logql_query_destroy(lq);
    return kept;
}

static void keep(const char *filters, const char *line, int want)
{
    int got = run(filters, line, strlen(line));
    if (got != want)
        fprintf(stderr, "%s on \"%s\": got %d want %d\n", filters, line, got, want);
    assert_int_equal(got, want);
}

static void test_semantics(void **state)
{
    (void)state;
    keep("|= \"a\" or \"b\"", "xbx", 1);
    keep("|= \"a\" or \"b\"", "xcx", 0);
    keep("!= \"a\" or \"b\"", "xbx", 0);
    keep("!= \"a\" or \"b\"", "xcx", 1);
    keep("|= \"\"", "", 1);
    keep("!= \"\"", "anything", 0);
    /* Loki drops a match-all leg from an or chain */
    keep("|= \"a\" or \"\"", "zzz", 0);
    keep("|~ \"a\" or \".*\"", "zzz", 0);
    keep("|~ \".*\"", "", 1);
    keep("|~ \".+\"", "", 0);
    keep("|~ \".+\"", "\n", 1);
    keep("!~ \".*\"", "x", 0);
    keep("|~ \"(?i)ERROR\"", "an error here", 1);
    keep("|~ \"^a.c$\"",
         "a\xc3\xa9"
         "c",
         1);
    keep("|~ \"^a.c$\"", "abc\n", 0);  /* $ is the end of the text */
    keep("|~ \"x\\\\sy\"", "x\vy", 0); /* Go's \s has no \v */
    keep("|~ \"x\\\\sy\"", "x\ty", 1);
    keep("|> \"<_> user <_>\"", "login user bob", 1);
    keep("!> \"<_> user <_>\"", "login user bob", 0);
    keep("|> \"\"", "", 1);
    keep("|= ip(\"10.0.0.0/8\")", "from 10.2.3.4", 1);
    keep("!= ip(\"10.0.0.0/8\")", "from 10.2.3.4", 0);
    keep("|= \"a\" |= \"b\" != \"c\" |~ \"d.\" !~ \"e+f\"", "a b dx", 1);
    keep("|= \"a\" |= \"b\" != \"c\" |~ \"d.\" !~ \"e+f\"", "a b dx eef", 0);
    keep("|~ \"caf\xc3\xa9|b{2}\"", "xbbx", 1);
    keep("|~ \"(?i)caf\xc3\x89\"", "CAF\xc3\x89 au lait", 1);
    keep("|~ \"(?i)CAF\xc3\xa9\"", "caf\xc3\x89", 1);
}

/* Lines that are not UTF-8: Go reads each bad byte as U+FFFD, one character. */
static void test_invalid_utf8(void **state)
{
    (void)state;
    const char line[] = "a\xff"
                        "c";
    assert_int_equal(run("|~ \"^a.c$\"", line, 3), 1);
    assert_int_equal(run("|~ \"^a[^x]c$\"", line, 3), 1);
    assert_int_equal(run("|= \"c\" |~ \"a\"", line, 3), 1);
    assert_int_equal(run("|~ \"\xef\xbf\xbd\"", line, 3), 1); /* U+FFFD matches the bad byte */
    assert_int_equal(run("|~ \"^a..c$\"", line, 3), 0);
    const char nul[] = "a\0b";
    assert_int_equal(run("|= \"b\"", nul, 3), 1);
}

/* Hyperscan and PCRE2 agree: the same filters compiled once normally and once with every term
 * forced to the fallback, on random lines. */
static const char *const pats[] = {
    "ab",      "a.c",       "^x",          "z$",      "[a-c]+d", "(ab|cd)e", "\\d{2,3}",
    "[^ab]",   "\\w+@\\w+", "a?b*c",       "(?i)abc", "\\bab",   "\\s",      ".",
    "x{1,2}y", "(a|)b",     "[[:digit:]]", "\\S\\S",  "é.",      "(?s)a.b",  "q|ab$",
};

static void test_parity(void **state)
{
    (void)state;
    struct prop p = prop_begin("hyperscan_pcre_parity");
    const char alphabet[] = "abcdexyzq 0123@\n\tAB\xc3\xa9";
    for (size_t k = 0; k < sizeof pats / sizeof pats[0]; k++) {
        struct logql_filter_set hs, fb;
        logql_filter_set_init(&hs);
        logql_filter_set_init(&fb);
        struct arena a;
        arena_init(&a, 1024);
        struct logql_regex re;
        char err[256];
        assert_int_equal(logql_regex_compile(&a, str_from_cstr(pats[k]), 0, &re, err, sizeof err),
                         0);
        struct logql_line_term term = {.value = str_from_cstr(pats[k]), .re = &re};
        struct logql_line_filter f = {LOGQL_LINE_REGEX, &term, 1};
        assert_int_equal(logql_filter_set_add(&hs, &f), 0);
        assert_int_equal(logql_filter_set_add(&fb, &f), 0);
        assert_int_equal(logql_filter_set_build(&hs, err, sizeof err), 0);
        struct logql_filter_scratch sc = {0};
        assert_int_equal(logql_filter_scratch_prepare(&sc, &hs), 0);
        assert_int_equal(logql_filter_scratch_prepare(&sc, &fb), 0);
        for (int i = 0; i < 2000; i++) {
            char line[24];
            size_t n = prop_next(&p) % sizeof line;
            for (size_t j = 0; j < n; j++)
                line[j] = alphabet[prop_next(&p) % (sizeof alphabet - 1)];
            struct str s = {line, n};
            bool ha = logql_filter_eval(&hs, &sc, s), pa = logql_filter_eval(&fb, &sc, s);
            if (ha != pa)
                fprintf(stderr, "pattern %s line \"%.*s\": hyperscan %d pcre %d\n", pats[k], (int)n,
                        line, ha, pa);
            prop_check(&p, ha == pa);
        }
        logql_filter_scratch_deinit(&sc);
        logql_filter_set_deinit(&hs);
        logql_filter_set_deinit(&fb);
        logql_regex_free(&re);
        arena_deinit(&a);
    }
}

static void test_info(void **state)
{
    (void)state;
    char err[256];
    struct logql_query *q;
    struct logql_pipeline *p;
    assert_int_equal(logql_parse(STR_LIT("{a=\"b\"} |= \"x\" |~ \"(?U)y+\" |~ \"x\" |> \"<_>z\""),
                                 &q, err, sizeof err),
                     0);
    assert_int_equal(logql_pipeline_compile_expr(q->root, NULL, &p, err, sizeof err), 0);
    struct logql_pipeline_info info;
    logql_pipeline_info(p, &info);
    assert_int_equal(info.n_filter_terms, 4);
    assert_int_equal(info.n_hs_terms, 2); /* x twice (one pattern), not (?U) nor |> */
    assert_int_equal(info.n_epochs, 1);
    logql_pipeline_destroy(p);
    logql_query_destroy(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_translate),    cmocka_unit_test(test_semantics),
        cmocka_unit_test(test_invalid_utf8), cmocka_unit_test(test_parity),
        cmocka_unit_test(test_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
