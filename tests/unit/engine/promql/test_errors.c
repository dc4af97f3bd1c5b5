/* PromQL parse errors: every error class with Prometheus's exact wording and line:col position —
 * lexer errors, syntax errors in each grammar context, literal errors, and the parse-time
 * semantic checks. */
#include "promql_helpers.h"

struct error_case {
    const char *query;
    const char *message;
};

static void run_cases(const struct error_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        expect_error(c[i].query, c[i].message);
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])

static void test_empty_and_generic(void **state)
{
    (void)state;
    static const struct error_case cases[] = {
        {"", "unknown position: parse error: no expression found in input"},
        {"  # comment only\n", "1:1: parse error: no expression found in input"},
        {"1 +", "1:4: parse error: unexpected end of input"},
        {"foo bar", "1:5: parse error: unexpected identifier \"bar\""},
        {"*foo", "1:1: parse error: unexpected <op:*>"},
        {"foo + )", "1:8: parse error: unexpected right parenthesis ')'"},
        {"foo and", "1:8: parse error: unexpected end of input"},
        {"foo == == bar", "1:8: parse error: unexpected <op:==>"},
        {"foo 12345678901234567890", "1:5: parse error: unexpected number \"1234567890\"..."},
        {"foo 5m", "1:5: parse error: unexpected duration \"5m\""},
        {"foo \"s\"", "1:5: parse error: unexpected string \"\\\"s\\\"\""},
        {"foo bool", "1:5: parse error: unexpected <bool>"},
        {"foo sum", "1:5: parse error: unexpected <aggr:sum>"},
        {"foo a:b", "1:5: parse error: unexpected metric identifier \"a:b\""},
        {"foo step", "1:5: parse error: unexpected \"step\""},
        {"foo =", "1:5: parse error: unexpected \"=\""},
        {"foo ,", "1:5: parse error: unexpected \",\""},
        {"sum(x) by (a) (y)", "1:15: parse error: unexpected \"(\""},
        {"foo + group_left(x) bar", "1:7: parse error: unexpected <group_left>"},
        {"foo + on(a) ignoring(b) bar", "1:13: parse error: unexpected <ignoring>"},
        {"foo > on(a) bool bar", "1:13: parse error: unexpected <bool>"},
        {"rate(foo bar)", "1:10: parse error: unexpected identifier \"bar\""},
        {"(foo bar)", "1:6: parse error: unexpected identifier \"bar\""},
        {"sum(x)\n  + foo bar", "2:9: parse error: unexpected identifier \"bar\""},
        {"a + fill(b) c", "1:10: parse error: unexpected identifier \"b\""},
        {"MIN keep (x)", "1:5: parse error: unexpected identifier \"keep\""},
    };
    RUN(cases);
}

static void test_lexer_errors(void **state)
{
    (void)state;
    static const struct error_case cases[] = {
        {"sum(", "1:5: parse error: unclosed left parenthesis"},
        {"(1))", "1:5: parse error: unexpected right parenthesis ')'"},
        {"foo]", "1:4: parse error: unexpected right bracket ']'"},
        {"}", "1:1: parse error: unexpected character: '}'"},
        {"a ! b", "1:3: parse error: unexpected character after '!': ' '"},
        {"a =~ b", "1:3: parse error: unexpected character after '=': '~'"},
        {"foo{", "1:5: parse error: unexpected end of input inside braces"},
        {"foo{a*\"b\"}", "1:6: parse error: unexpected character inside braces: '*'"},
        {"foo{a:b=\"c\"}", "1:6: parse error: unexpected character inside braces: ':'"},
        {"foo{{", "1:5: parse error: unexpected left brace '{'"},
        {"x[", "1:3: parse error: unexpected end of input in duration expression"},
        {"x[5m", "1:5: parse error: unclosed left bracket"},
        {"x[5m:1m:2m]", "1:8: parse error: unexpected colon ':'"},
        {"x[5m y]", "1:6: parse error: unexpected character: 'y', expected ':'"},
        {"x[step():1m]",
         "1:10: parse error: unexpected colon before duration in duration expression"},
        {"x[5m][", "1:7: parse error: unexpected end of input in duration expression"},
        {"2.5.5", "1:1: parse error: bad number or duration syntax: \"2.5.\""},
        {"1x", "1:1: parse error: bad number or duration syntax: \"1\""},
        {"\"\\z\"", "1:1: parse error: unknown escape sequence U+007A 'z'"},
        {"x{a='\\xZZ'}", "1:5: parse error: illegal character U+005A 'Z' in escape sequence"},
        {"\"\\uD800\"", "1:1: parse error: escape sequence is an invalid Unicode code point"},
        {"'abc", "1:1: parse error: unterminated quoted string"},
        {"`abc", "1:1: parse error: unterminated raw string"},
        {"x{a=\"\xff\"}", "1:5: parse error: invalid UTF-8 rune"},
        {"\xc3\xa9", "1:1: parse error: unexpected character: '\xc3\xa9'"},
    };
    RUN(cases);
}

static void test_context_errors(void **state)
{
    (void)state;
    static const struct error_case cases[] = {
        /* aggregation */
        {"sum by (a) x", "1:12: parse error: unexpected identifier \"x\" in aggregation"},
        {"sum(x y)", "1:7: parse error: unexpected identifier \"y\" in aggregation"},
        {"sum(rate(x y))", "1:12: parse error: unexpected identifier \"y\" in aggregation"},
        {"sum without (a)", "1:16: parse error: unexpected end of input in aggregation"},
        /* grouping */
        {"sum(x) by",
         "1:10: parse error: unexpected end of input in grouping opts, expected \"(\""},
        {"sum by x (y)",
         "1:8: parse error: unexpected identifier \"x\" in grouping opts, expected \"(\""},
        {"sum by (a b) (x)", "1:11: parse error: unexpected identifier \"b\" in grouping opts, "
                             "expected \",\" or \")\""},
        {"sum by (,) (x)", "1:9: parse error: unexpected \",\" in grouping opts, expected label"},
        {"sum by (a,,) (x)",
         "1:11: parse error: unexpected \",\" in grouping opts, expected label"},
        {"sum without (without) (x)",
         "1:14: parse error: unexpected <without> in grouping opts, expected label"},
        {"sum by (1) (x)",
         "1:9: parse error: unexpected number \"1\" in grouping opts, expected label"},
        {"a + on b",
         "1:8: parse error: unexpected identifier \"b\" in grouping opts, expected \"(\""},
        /* label matching */
        {"foo{a=b}", "1:7: parse error: unexpected identifier \"b\" in label matching, expected "
                     "string"},
        {"foo{a}", "1:6: parse error: unexpected \"}\" in label matching, expected label matching "
                   "operator"},
        {"foo{,}", "1:5: parse error: unexpected \",\" in label matching, expected identifier or "
                   "\"}\""},
        {"foo{a=\"b\" c=\"d\"}", "1:11: parse error: unexpected identifier \"c\" in label "
                                 "matching, expected \",\" or \"}\""},
        {"foo{\"a\"=}", "1:9: parse error: unexpected \"}\" in label matching, expected string"},
        {"foo{\"a\" \"b\"}", "1:9: parse error: unexpected string \"\\\"b\\\"\" in label "
                             "matching, expected \",\" or \"}\""},
        /* ranges and subqueries */
        {"x[]", "1:3: parse error: unexpected \"]\" in subquery or range selector, expected "
                "number, duration, step(), or range()"},
        {"x[step]", "1:7: parse error: unexpected \"]\" in subquery or range selector, expected "
                    "number, duration, step(), or range()"},
        {"x[5m 1m]", "1:6: parse error: unexpected duration \"1m\" in subquery or range, "
                     "expected \":\" or \"]\""},
        {"x[5m:1m 1m]",
         "1:9: parse error: unexpected duration \"1m\" in subquery selector, expected \"]\""},
        {"x[5m:+]", "1:7: parse error: unexpected \"]\" in subquery selector, expected number, "
                    "duration, step(), range(), or \"]\""},
        /* offset and @ */
        {"x offset", "1:9: parse error: unexpected end of input in offset, expected number, "
                     "duration, step(), or range()"},
        {"x offset foo", "1:10: parse error: unexpected identifier \"foo\" in offset, expected "
                         "number, duration, step(), or range()"},
        {"x offset -foo", "1:11: parse error: unexpected identifier \"foo\" in offset, expected "
                          "number, duration, step(), or range()"},
        {"x @", "1:4: parse error: unexpected end of input in @, expected timestamp"},
        {"x @ end", "1:8: parse error: unexpected end of input in @, expected timestamp"},
        {"x @ foo", "1:5: parse error: unexpected identifier \"foo\" in @, expected timestamp"},
    };
    RUN(cases);
}

static void test_literal_errors(void **state)
{
    (void)state;
    static const struct error_case cases[] = {
        {"1e999", "1:1: parse error: error parsing number: strconv.ParseFloat: parsing "
                  "\"1e999\": value out of range"},
        {"0x", "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"0x\": "
               "invalid syntax"},
        {"0xffffffffffffffffff", "1:1: parse error: error parsing number: strconv.ParseFloat: "
                                 "parsing \"0xffffffffffffffffff\": invalid syntax"},
        {"x[1.5m]", "1:3: parse error: unknown unit \".\" in duration \"1.5m\""},
        {"x[5y1hs]", "1:3: parse error: unknown unit \"hs\" in duration \"5y1hs\""},
        {"x[5m1h]", "1:3: parse error: not a valid duration string: \"5m1h\""},
        {"x[5m5m]", "1:3: parse error: not a valid duration string: \"5m5m\""},
        {"x[300y]", "1:3: parse error: duration out of range"},
        {"x[0s]", "1:3: parse error: duration must be greater than 0"},
        {"x[-1]", "1:3: parse error: duration must be greater than 0"},
        {"x[5m:0]", "1:6: parse error: duration must be greater than 0"},
        {"x[5m/0]", "1:5: parse error: division by zero"},
        {"x[5m%0s]", "1:5: parse error: modulo by zero"},
        {"x offset (4d/0)", "1:13: parse error: division by zero"},
        {"x offset 1e20", "1:10: parse error: duration out of range"},
        {"x offset -1e20", "1:10: parse error: duration out of range"},
        {"x offset NaN", "1:10: parse error: duration out of range"},
        {"x @ Inf", "1:1: parse error: timestamp out of bounds for @ modifier: +Inf"},
        {"x @ -Inf", "1:1: parse error: timestamp out of bounds for @ modifier: -Inf"},
        {"x @ NaN", "1:1: parse error: timestamp out of bounds for @ modifier: NaN"},
        {"x @ 1e19", "1:1: parse error: timestamp out of bounds for @ modifier: "
                     "10000000000000000000.000000"},
        {"x{a=~\"(\"}", "1:3: parse error: error parsing regexp: missing closing parenthesis at "
                        "position 1: `(`"},
        {"sum by (\"\") (x)", "1:9: parse error: invalid label name for grouping: \"\""},
        {"sum by (\"\\xff\") (x)", "1:9: parse error: invalid label name for grouping: \"\\xff\""},
    };
    RUN(cases);
}

static void test_modifier_errors(void **state)
{
    (void)state;
    static const struct error_case cases[] = {
        {"1 offset 1d", "1:1: parse error: offset modifier must be preceded by an instant vector "
                        "selector or range vector selector or a subquery"},
        {"sum(x) offset 1d", "1:1: parse error: offset modifier must be preceded by an instant "
                             "vector selector or range vector selector or a subquery"},
        {"x offset 1s offset 2s", "1:1: parse error: offset may not be set multiple times"},
        {"x[5m] offset 1s offset -1s", "1:1: parse error: offset may not be set multiple times"},
        {"rate(x[5m]) @ 1", "1:1: parse error: @ modifier must be preceded by an instant vector "
                            "selector or range vector selector or a subquery"},
        {"x @ 1 @ start()", "1:1: parse error: @ <timestamp> may not be set multiple times"},
        {"x offset 1m [5m]", "1:13: parse error: no offset modifiers allowed before range"},
        {"x offset step()[5m]", "1:16: parse error: no offset modifiers allowed before range"},
        {"x @ 1 [5m]", "1:7: parse error: no @ modifiers allowed before range"},
        {"x @ end()[5m]", "1:10: parse error: no @ modifiers allowed before range"},
        {"(a + b)[5m]", "1:8: parse error: ranges only allowed for vector selectors"},
        {"rate(x[1m])[1h] offset 1h", "1:12: parse error: ranges only allowed for vector "
                                      "selectors"},
        {"1[5m] smoothed", "1:2: parse error: ranges only allowed for vector selectors"},
        {"x anchored smoothed",
         "1:1: parse error: anchored and smoothed modifiers cannot be used together"},
        {"x[5m] smoothed anchored",
         "1:1: parse error: anchored and smoothed modifiers cannot be used together"},
        {"x[5m:] anchored", "1:1: parse error: anchored modifier is not supported for subqueries"},
        {"x[5m:] smoothed", "1:1: parse error: smoothed modifier is not supported for subqueries"},
        {"sum(x) anchored", "1:1: parse error: anchored modifier not implemented"},
    };
    RUN(cases);
}

static void test_call_errors(void **state)
{
    (void)state;
    static const struct error_case cases[] = {
        {"no_such_fn(x)", "1:1: parse error: unknown function with name \"no_such_fn\""},
        {"a > Rate(x[5m])", "1:5: parse error: unknown function with name \"Rate\""},
        {"rate(x[5m],)", "1:11: parse error: trailing commas not allowed in function call args"},
        {"rate(x[5m],,)", "1:11: parse error: trailing commas not allowed in function call args"},
        {"rate(,)", "1:6: parse error: unexpected \",\""},
        {"rate(x)", "1:6: parse error: expected type range vector in call to function \"rate\", "
                    "got instant vector"},
        {"abs(x[5m])", "1:5: parse error: expected type instant vector in call to function "
                       "\"abs\", got range vector"},
        {"clamp(x, 1, \"a\")", "1:13: parse error: expected type scalar in call to function "
                               "\"clamp\", got string"},
        {"label_join(x, \"a\", \",\", \"b\", 1)",
         "1:30: parse error: expected type string in call to function \"label_join\", got "
         "scalar"},
        {"floor()", "1:1: parse error: expected 1 argument(s) in call to \"floor\", got 0"},
        {"time(x)", "1:1: parse error: expected 0 argument(s) in call to \"time\", got 1"},
        {"hour(a, b)", "1:1: parse error: expected at most 1 argument(s) in call to \"hour\", "
                       "got 2"},
        {"label_join(x)", "1:1: parse error: expected at least 3 argument(s) in call to "
                          "\"label_join\", got 1"},
        {"round()", "1:1: parse error: expected at least 1 argument(s) in call to \"round\", "
                    "got 0"},
        {"info(x, y)", "1:9: parse error: expected label selectors only, got vector selector "
                       "instead"},
        {"info(x, {a=\"b\"} == 1)", "1:9: parse error: expected label selectors only"},
        {"info(x, 1)", "1:1: parse error: expected type instant vector in call to function "
                       "\"info\", got scalar"},
    };
    RUN(cases);
}

static void test_aggregation_errors(void **state)
{
    (void)state;
    static const struct error_case cases[] = {
        {"sum()", "1:1: parse error: no arguments for aggregate expression provided"},
        {"sum by (a) ()", "1:1: parse error: no arguments for aggregate expression provided"},
        {"avg(x, y)", "1:1: parse error: wrong number of arguments for aggregate expression "
                      "provided, expected 1, got 2"},
        {"topk(x)", "1:1: parse error: wrong number of arguments for aggregate expression "
                    "provided, expected 2, got 1"},
        {"quantile(0.5, x, y)", "1:1: parse error: wrong number of arguments for aggregate "
                                "expression provided, expected 2, got 3"},
        {"sum(x[5m])", "1:5: parse error: expected type instant vector in aggregation "
                       "expression, got range vector"},
        {"sum(1)", "1:5: parse error: expected type instant vector in aggregation expression, "
                   "got scalar"},
        {"topk(x, y)", "1:6: parse error: expected type scalar in aggregation parameter, got "
                       "instant vector"},
        {"limit_ratio(\"a\", y)", "1:13: parse error: expected type scalar in aggregation "
                                  "parameter, got string"},
        {"count_values(1, x)", "1:14: parse error: expected type string in aggregation "
                               "parameter, got scalar"},
        {"sum(x) by (a) by (b)", "1:15: parse error: unexpected <by>"},
    };
    RUN(cases);
}

static void test_type_errors(void **state)
{
    (void)state;
    static const struct error_case cases[] = {
        {"x + bool y", "1:3: parse error: bool modifier can only be used on comparison "
                       "operators"},
        {"x and bool y", "1:3: parse error: bool modifier can only be used on comparison "
                         "operators"},
        {"1 > 2", "1:3: parse error: comparisons between scalars must use BOOL modifier"},
        {"(1) == (2)", "1:5: parse error: comparisons between scalars must use BOOL modifier"},
        {"x and 1", "1:1: parse error: set operator \"and\" not allowed in binary scalar "
                    "expression"},
        {"1 or x", "1:1: parse error: set operator \"or\" not allowed in binary scalar "
                   "expression"},
        {"1 or on(a) x", "1:1: parse error: vector matching only allowed between instant "
                         "vectors"},
        {"x + fill(1) 2", "1:1: parse error: filling in missing series only allowed between "
                          "instant vectors"},
        {"x unless on(a) group_left(b) y", "1:1: parse error: no grouping allowed for "
                                           "\"unless\" operation"},
        {"x or fill(0) y", "1:1: parse error: filling in missing series not allowed for set "
                           "operators"},
        {"x * on(a) group_right(b, a) y", "1:3: parse error: label \"a\" must not occur in ON "
                                          "and GROUP clause at once"},
        {"x[5m] + 1", "1:1: parse error: binary expression must contain only scalar and instant "
                      "vector types"},
        {"1 + \"a\"", "1:5: parse error: binary expression must contain only scalar and instant "
                      "vector types"},
        {"-\"a\"", "1:1: parse error: unary expression only allowed on expressions of type "
                   "scalar or instant vector, got \"string\""},
        {"-x[5m]", "1:1: parse error: unary expression only allowed on expressions of type "
                   "scalar or instant vector, got \"range vector\""},
        {"x[5m][10m:]", "1:1: parse error: subquery is only allowed on instant vector, got "
                        "matrix instead"},
        {"\"a\"[10m:]", "1:1: parse error: subquery is only allowed on instant vector, got "
                        "string instead"},
        {"{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"},
        {"{a=\"\", b=~\".*\", c!~\".+\", d!=\"x\"}",
         "1:1: parse error: vector selector must contain at least one non-empty matcher"},
        {"foo{__name__=\"bar\"}",
         "1:1: parse error: metric name must not be set twice: \"foo\" or \"bar\""},
        {"foo{__name__=~\"b.*\"}",
         "1:1: parse error: metric name must not be set twice: \"foo\" or \"b.*\""},
    };
    RUN(cases);
}

/* Errors are deterministic and the first one wins, as in Prometheus. */
static void test_first_error_wins(void **state)
{
    (void)state;
    expect_error("rate(x) + foo bar", "1:15: parse error: unexpected identifier \"bar\"");
    expect_error("no_fn(1 2)", "1:9: parse error: unexpected number \"2\"");
    expect_error("rate(x) + abs(y[5m])", "1:6: parse error: expected type range vector in call "
                                         "to function \"rate\", got instant vector");
    expect_error("x[0s] offset 1s offset 2s", "1:3: parse error: duration must be greater than 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_generic),  cmocka_unit_test(test_lexer_errors),
        cmocka_unit_test(test_context_errors),     cmocka_unit_test(test_literal_errors),
        cmocka_unit_test(test_modifier_errors),    cmocka_unit_test(test_call_errors),
        cmocka_unit_test(test_aggregation_errors), cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_first_error_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
