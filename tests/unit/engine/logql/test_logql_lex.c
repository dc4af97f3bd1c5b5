/* LogQL lexer: token kinds for operators, keywords (case-insensitive), function names that are
 * keywords only before `(`, numbers that become DURATION or BYTES tokens, parser flags, ranges,
 * strings, comments, and lexical errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/ast.h"
#include "engine/logql/lex.h"

/* Space-separated token names of `q` (without the final EOF), or "ERR: message". */
static void lex_names(const char *q, char *out, size_t cap)
{
    struct arena a;
    arena_init(&a, 4096);
    struct logql_tok *t;
    size_t n;
    char err[256];
    out[0] = 0;
    if (logql_lex(&a, str_from_cstr(q), &t, &n, err, sizeof err) != 0) {
        snprintf(out, cap, "ERR: %s", err);
    } else {
        size_t o = 0;
        for (size_t i = 0; i + 1 < n; i++)
            o +=
                (size_t)snprintf(out + o, cap - o, "%s%s", i ? " " : "", logql_tok_name(t[i].kind));
        assert_int_equal(t[n - 1].kind, LT_EOF);
    }
    arena_deinit(&a);
}

static void expect_tokens(const char *q, const char *want)
{
    char got[1024];
    lex_names(q, got, sizeof got);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "query: %s\n", q);
    assert_string_equal(got, want);
}

static void test_operators(void **state)
{
    expect_tokens("{foo=\"bar\"}", "{ IDENTIFIER = STRING }");
    expect_tokens("|= != |~ !~ |> !> | =~ == >= <= > < = , ( ) { } ]",
                  "|= != |~ !~ |> !> | =~ == >= <= > < = , ( ) { } ]");
    expect_tokens("1+2-3*4/5%6^7", "NUMBER + NUMBER - NUMBER * NUMBER / NUMBER % NUMBER ^ NUMBER");
    expect_tokens("34+-123", "NUMBER + - NUMBER");
    expect_tokens("34 + - 123", "NUMBER + - NUMBER");
    /* characters without a token are one-character identifiers, as in Loki */
    expect_tokens("! ~ @", "IDENTIFIER IDENTIFIER IDENTIFIER");
    expect_tokens(".", ".");
}

static void test_keywords_and_functions(void **state)
{
    expect_tokens("by without bool offset on ignoring group_left group_right or and unless",
                  "by without bool offset on ignoring group_left group_right or and unless");
    expect_tokens("json regexp logfmt unpack pattern label_format line_format decolorize drop "
                  "keep unwrap",
                  "json regexp logfmt unpack pattern label_format line_format decolorize drop "
                  "keep unwrap");
    expect_tokens("BY Json OR", "by json or");
    /* function names are keywords only when a ( follows, possibly after by/without (...) */
    expect_tokens("rate(", "RANGE_OP (");
    expect_tokens("rate (", "RANGE_OP (");
    expect_tokens("rate", "IDENTIFIER");
    expect_tokens("rate=\"a\"", "IDENTIFIER = STRING");
    expect_tokens("sum by (a) (", "VECTOR_OP by ( IDENTIFIER ) (");
    expect_tokens("sum without(a)", "VECTOR_OP without ( IDENTIFIER )");
    expect_tokens("sum bypass (", "IDENTIFIER IDENTIFIER (");
    expect_tokens("SUM(Count_Over_Time(", "VECTOR_OP ( RANGE_OP (");
    expect_tokens("ip(\"1.2.3.4\") ip=", "ip ( STRING ) IDENTIFIER =");
    expect_tokens("bytes(x) duration(x) duration_seconds(x) bytes",
                  "CONVERSION ( IDENTIFIER ) CONVERSION ( IDENTIFIER ) CONVERSION ( IDENTIFIER ) "
                  "IDENTIFIER");
    expect_tokens("vector(1) label_replace(", "vector ( NUMBER ) label_replace (");
    expect_tokens("variants of", "IDENTIFIER IDENTIFIER");
}

static void test_numbers_durations_bytes(void **state)
{
    expect_tokens("250ms 5m 1h15m30.918273645s -5m 5d 1y", "DURATION DURATION DURATION DURATION "
                                                           "DURATION DURATION");
    expect_tokens("1.5s 3600000000000ns 1\xc2\xb5s", "DURATION DURATION DURATION");
    expect_tokens("42B 1KB 2.5KiB 20MB 123PB 123PiB", "BYTES BYTES BYTES BYTES BYTES BYTES");
    expect_tokens("1e6 0.5 .5 0x1p3 0X1P3 0x1A 0777", "NUMBER NUMBER NUMBER NUMBER NUMBER "
                                                      "NUMBER NUMBER");
    expect_tokens("-5d", "- DURATION"); /* Go durations have no d unit; Prometheus ones no sign */
    expect_tokens("5x", "NUMBER IDENTIFIER");
    expect_tokens("1kb", "BYTES IDENTIFIER");
    expect_tokens("--strict --keep-empty", "FUNCTION_FLAG FUNCTION_FLAG");
    expect_tokens("--1", "- - NUMBER");
    expect_tokens("[5m] [1h15m30s] [0s]", "RANGE RANGE RANGE");
    char got[256];
    lex_names("0B", got, sizeof got); /* Loki's scanner: "0B" is a literal without digits */
    assert_memory_equal(got, "ERR", 3);
    lex_names("1e", got, sizeof got);
    assert_memory_equal(got, "ERR", 3);
    lex_names("09", got, sizeof got);
    assert_memory_equal(got, "ERR", 3);
    lex_names("1__0", got, sizeof got);
    assert_memory_equal(got, "ERR", 3);
}

static void test_values(void **state)
{
    struct arena a;
    arena_init(&a, 4096);
    struct logql_tok *t;
    size_t n;
    char err[256];
    const char *q = "\"a\\tb\\u00e9\\x41\\101\" `raw\\n` 5m [1h30m] 20MB rate --keep-empty 0.5";
    assert_int_equal(logql_lex(&a, str_from_cstr(q), &t, &n, err, sizeof err), 0);
    assert_int_equal(n, 9);
    assert_true(str_eq_cstr(t[0].str, "a\tb\xc3\xa9"
                                      "AA"));
    assert_true(str_eq_cstr(t[1].str, "raw\\n"));
    assert_int_equal(t[2].ns, 5 * 60 * 1000000000LL);
    assert_int_equal(t[3].kind, LT_RANGE);
    assert_int_equal(t[3].ns, 90 * 60 * 1000000000LL);
    assert_int_equal(t[4].bytes, 20000000);
    assert_int_equal(t[5].kind, LT_IDENT);
    assert_int_equal(t[6].sub, LOGQL_FLAG_KEEP_EMPTY);
    assert_true(str_eq_cstr(t[7].str, "0.5"));
    assert_int_equal(t[0].line, 1);
    assert_int_equal(t[0].col, 1);
    assert_int_equal(t[2].col, 30);
    arena_deinit(&a);

    arena_init(&a, 4096);
    assert_int_equal(
        logql_lex(&a, STR_LIT("count_over_time(\n  {a=\"b\"}"), &t, &n, err, sizeof err), 0);
    assert_int_equal(t[0].sub, LOGQL_RANGE_COUNT);
    assert_int_equal(t[2].line, 2);
    assert_int_equal(t[2].col, 3);
    arena_deinit(&a);
}

static void test_comments_and_errors(void **state)
{
    expect_tokens("{a=\"#\"} # comment", "{ IDENTIFIER = STRING }");
    expect_tokens("# all comment", "");
    expect_tokens("a # x\nb", "IDENTIFIER IDENTIFIER");
    expect_tokens("a // x\nb /* y */ c", "IDENTIFIER IDENTIFIER IDENTIFIER");
    expect_tokens("\xef\xbb\xbf{}", "{ }");
    expect_tokens("'a'", "IDENTIFIER"); /* a Go char literal reads as an identifier in Loki */
    const char *bad[] = {"\"abc",     "`abc",        "\"a\nb\"", "\"\\q\"",    "\"\\x4\"",
                         "\"\\400\"", "\"\\ud800\"", "[5m",      "[5minutes]", "/* x",
                         "'ab'",      "a\xff",       "a\0b",     "\"\\'\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char got[512];
        struct arena a;
        arena_init(&a, 1024);
        struct logql_tok *t;
        size_t n;
        char err[256];
        size_t len = strcmp(bad[i], "a") == 0 ? 3 : strlen(bad[i]);
        int rc = logql_lex(&a, (struct str){bad[i], len}, &t, &n, err, sizeof err);
        arena_deinit(&a);
        if (rc == 0) {
            lex_names(bad[i], got, sizeof got);
            fprintf(stderr, "expected a lexical error for %s, got %s\n", bad[i], got);
        }
        assert_int_equal(rc, ERR_INVALID);
        assert_non_null(strstr(err, "parse error at line 1, col"));
    }
    char big[LOGQL_MAX_QUERY_BYTES + 1];
    memset(big, ' ', sizeof big);
    struct arena a;
    arena_init(&a, 1024);
    struct logql_tok *t;
    size_t n;
    char err[256];
    assert_int_equal(logql_lex(&a, (struct str){big, sizeof big}, &t, &n, err, sizeof err),
                     ERR_INVALID);
    assert_non_null(strstr(err, "input size too long"));
    arena_deinit(&a);
}

static void test_unquote(void **state)
{
    struct arena a;
    arena_init(&a, 1024);
    struct str out;
    char err[64];
    assert_int_equal(
        logql_unquote(&a, STR_LIT("\"\\a\\b\\f\\n\\r\\t\\v\\\\\\\"\""), &out, err, sizeof err), 0);
    assert_true(str_eq_cstr(out, "\a\b\f\n\r\t\v\\\""));
    assert_int_equal(logql_unquote(&a, STR_LIT("`a\r\nb`"), &out, err, sizeof err), 0);
    assert_true(str_eq_cstr(out, "a\nb"));
    assert_int_equal(logql_unquote(&a, STR_LIT("'\\''"), &out, err, sizeof err), 0);
    assert_true(str_eq_cstr(out, "'"));
    assert_int_equal(logql_unquote(&a, STR_LIT("\"\\U0001F600\""), &out, err, sizeof err), 0);
    assert_true(str_eq_cstr(out, "\xf0\x9f\x98\x80"));
    assert_int_equal(logql_unquote(&a, STR_LIT("\"\\xff\""), &out, err, sizeof err), 0);
    assert_int_equal(out.len, 1);
    assert_int_equal((unsigned char)out.ptr[0], 0xff);
    const char *bad[] = {"\"",        "\"a",    "\"\\\"", "\"\\U00110000\"",
                         "\"\\777\"", "'\\\"'", "\"\\z\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(logql_unquote(&a, str_from_cstr(bad[i]), &out, err, sizeof err),
                         ERR_INVALID);
    arena_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_keywords_and_functions),
        cmocka_unit_test(test_numbers_durations_bytes),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_comments_and_errors),
        cmocka_unit_test(test_unquote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
