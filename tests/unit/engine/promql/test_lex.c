/* PromQL lexer: token streams per lexing context (statements, braces, duration brackets),
 * numbers and durations, strings and escapes, keywords, comments, and lexer errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "engine/promql/lex.h"

/* Renders the token stream of q as "TYPE:text TYPE:text ... EOF" (or "... ERROR@pos:msg"). */
static char *lex_all(const char *q)
{
    static const char *const names[] = {[PROMQL_T_EOF] = "EOF",
                                        [PROMQL_T_ERROR] = "ERROR",
                                        [PROMQL_T_COMMENT] = "COM",
                                        [PROMQL_T_IDENTIFIER] = "ID",
                                        [PROMQL_T_METRIC_IDENTIFIER] = "MID",
                                        [PROMQL_T_NUMBER] = "NUM",
                                        [PROMQL_T_DURATION] = "DUR",
                                        [PROMQL_T_STRING] = "STR"};
    struct promql_lexer l;
    promql_lex_init(&l, q, (uint32_t)strlen(q));
    struct buf b = BUF_INIT;
    for (int i = 0; i < 100; i++) {
        struct promql_token t;
        promql_lex_next(&l, &t);
        if (b.len)
            buf_append_u8(&b, ' ');
        if (t.type == PROMQL_T_ERROR) {
            buf_printf(&b, "ERROR@%u:%s", t.pos, l.err);
            break;
        }
        if (t.type == PROMQL_T_EOF) {
            buf_printf(&b, "EOF@%u", t.pos);
            break;
        }
        const char *fixed = promql_tok_str(t.type);
        if (fixed && t.type != PROMQL_T_IDENTIFIER)
            buf_printf(&b, "%s", fixed);
        else
            buf_printf(&b, "%s:%.*s", names[t.type], (int)t.len, q + t.pos);
    }
    buf_cstr(&b);
    size_t n;
    return (char *)buf_steal(&b, &n);
}

static void expect_lex(const char *q, const char *want)
{
    char *got = lex_all(q);
    if (strcmp(got, want) != 0) {
        print_error("lex(%s):\n  want %s\n  got  %s\n", q, want, got);
        free(got);
        fail();
    }
    free(got);
}

static void test_operators_and_selectors(void **state)
{
    (void)state;
    expect_lex("foo{a=\"b\",c!~'d'} + bar",
               "ID:foo { ID:a = STR:\"b\" , ID:c !~ STR:'d' } + ID:bar EOF@23");
    expect_lex("a==b!=c<=d>=e<f>g^h%i/j*k-l", "ID:a == ID:b != ID:c <= ID:d >= ID:e < ID:f > ID:g "
                                              "^ ID:h % ID:i / ID:j * ID:k - ID:l EOF@27");
    expect_lex("a </ b >/ c", "ID:a </ ID:b >/ ID:c EOF@11");
    expect_lex("x @ 5", "ID:x @ NUM:5 EOF@5");
    expect_lex("job:rate:5m", "MID:job:rate:5m EOF@11");
    expect_lex(":x", "MID::x EOF@2");
}

static void test_keywords(void **state)
{
    (void)state;
    expect_lex("sum by (x) (y)", "sum by ( ID:x ) ( ID:y ) EOF@14");
    expect_lex("SUM BY(x)", "sum by ( ID:x ) EOF@9");
    expect_lex("a and b or c unless d atan2 e",
               "ID:a and ID:b or ID:c unless ID:d atan2 ID:e EOF@29");
    expect_lex("Inf NaN inf", "NUM:Inf NUM:NaN NUM:inf EOF@11");
    /* keywords are plain identifiers inside braces */
    expect_lex("{by=\"1\",sum=\"2\"}", "{ ID:by = STR:\"1\" , ID:sum = STR:\"2\" } EOF@16");
    /* fill family only before "(" */
    expect_lex("a + fill (1) fill", "ID:a + fill ( NUM:1 ) ID:fill EOF@17");
    expect_lex("fill_left(1) fill_right", "fill_left ( NUM:1 ) ID:fill_right EOF@23");
    expect_lex("offset start end step range min_of max_of",
               "offset start end step range min_of max_of EOF@41");
}

static void test_numbers_and_durations(void **state)
{
    (void)state;
    expect_lex("1 .5 5. 1e3 1.5e-3 0x1F 1_000 0x_1f 017",
               "NUM:1 NUM:.5 NUM:5. NUM:1e3 NUM:1.5e-3 NUM:0x1F NUM:1_000 NUM:0x_1f NUM:017 "
               "EOF@39");
    expect_lex("5m 1m30s 500ms 1d 1w 1y 1h0m0s", "DUR:5m DUR:1m30s DUR:500ms DUR:1d DUR:1w DUR:1y "
                                                 "DUR:1h0m0s EOF@30");
    expect_lex("2.5.", "ERROR@0:bad number or duration syntax: \"2.5.\"");
    expect_lex("0deadbeef", "ERROR@0:bad number or duration syntax: \"0de\"");
    expect_lex("1e", "ERROR@0:bad number or duration syntax: \"1e\"");
    expect_lex("1__0", "ERROR@0:bad number or duration syntax: \"1__\"");
    expect_lex("5mm", "ERROR@0:bad number or duration syntax: \"5mm\"");
    expect_lex("1a", "ERROR@0:bad number or duration syntax: \"1\"");
    expect_lex(".", "ERROR@0:unexpected character: '.'");
}

static void test_duration_brackets(void **state)
{
    (void)state;
    expect_lex("x[5m]", "ID:x [ DUR:5m ] EOF@5");
    expect_lex("x[ 5m : 1m ]", "ID:x [ DUR:5m : DUR:1m ] EOF@12");
    expect_lex("x[step()*2+max_of(1,range())]",
               "ID:x [ step ( ) * NUM:2 + max_of ( NUM:1 , range ( ) ) ] EOF@29");
    expect_lex("x[5m:]", "ID:x [ DUR:5m : ] EOF@6");
    expect_lex("x[5m x]", "ID:x [ DUR:5m ERROR@5:unexpected character: 'x', expected ':'");
    expect_lex("x[\"5m\"]", "ID:x [ ERROR@2:unexpected character in duration expression: '\"'");
    expect_lex("x[", "ID:x [ ERROR@2:unexpected end of input in duration expression");
    expect_lex("x[5m", "ID:x [ DUR:5m ERROR@4:unclosed left bracket");
    expect_lex("x[5m:1m:", "ID:x [ DUR:5m : DUR:1m ERROR@7:unexpected colon ':'");
    expect_lex("x[[", "ID:x [ ERROR@2:unexpected character in duration expression: '['");
    expect_lex("]", "ERROR@0:unexpected right bracket ']'");
}

static void test_strings(void **state)
{
    (void)state;
    expect_lex("\"a\\n\\t\\\"\\x41\\101\\u00e9\\U0001F600\"",
               "STR:\"a\\n\\t\\\"\\x41\\101\\u00e9\\U0001F600\" EOF@33");
    expect_lex("'it\\'s'", "STR:'it\\'s' EOF@7");
    expect_lex("`raw\\q\nline`", "STR:`raw\\q\nline` EOF@12");
    expect_lex("\"\\q\"", "ERROR@0:unknown escape sequence U+0071 'q'");
    expect_lex("\"\\'\"", "ERROR@0:unknown escape sequence U+0027 '''");
    expect_lex("\"\\xZ\"", "ERROR@0:illegal character U+005A 'Z' in escape sequence");
    expect_lex("\"\\", "ERROR@0:escape sequence not terminated");
    expect_lex("\"\\uD800\"", "ERROR@0:escape sequence is an invalid Unicode code point");
    expect_lex("\"\\777\"", "ERROR@0:escape sequence is an invalid Unicode code point");
    expect_lex("\"abc", "ERROR@0:unterminated quoted string");
    expect_lex("\"a\nb\"", "ERROR@0:unterminated quoted string");
    expect_lex("`abc", "ERROR@0:unterminated raw string");
    expect_lex("x \"\xff\"", "ID:x ERROR@2:invalid UTF-8 rune");
    expect_lex("{a=\"\xc3\"}", "{ ID:a = ERROR@3:invalid UTF-8 rune");
}

static void test_comments_and_space(void **state)
{
    (void)state;
    expect_lex("# only a comment", "COM:# only a comment EOF@16");
    expect_lex("a # c\n+ b", "ID:a COM:# c + ID:b EOF@9");
    expect_lex("{a=\"b\" # c\n}", "{ ID:a = STR:\"b\" COM:# c } EOF@12");
    expect_lex(" \t\r\n1", "NUM:1 EOF@5");
}

static void test_errors(void **state)
{
    (void)state;
    expect_lex("1 =~ 1", "NUM:1 ERROR@2:unexpected character after '=': '~'");
    expect_lex("!", "ERROR@0:unexpected character after '!': '\xef\xbf\xbd'");
    expect_lex("(1))", "( NUM:1 ) ERROR@4:unexpected right parenthesis ')'");
    expect_lex("((1)", "( ( NUM:1 ) ERROR@4:unclosed left parenthesis");
    expect_lex("{", "{ ERROR@1:unexpected end of input inside braces");
    expect_lex("{a:b}", "{ ID:a ERROR@2:unexpected character inside braces: ':'");
    expect_lex("{{", "{ ERROR@1:unexpected left brace '{'");
    expect_lex("{a!b}", "{ ID:a ERROR@2:unexpected character after '!' inside braces: 'b'");
    expect_lex("}", "ERROR@0:unexpected character: '}'");
    expect_lex("\xe5\x8f\xb0", "ERROR@0:unexpected character: '\xe5\x8f\xb0'");
    expect_lex("a\x01", "ID:a ERROR@1:unexpected character: '\\x01'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operators_and_selectors),
        cmocka_unit_test(test_keywords),
        cmocka_unit_test(test_numbers_and_durations),
        cmocka_unit_test(test_duration_brackets),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_comments_and_space),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
