/* LogQL parser: operator precedence and constant folding, every log range form, each pipeline
 * stage kind and its AST, label filter grouping, Loki's validations with their messages, the
 * canonical printer, and a randomized generate -> parse -> print -> reparse round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/parse.h"
#include "engine/logql/print.h"
#include "tests/unit/prop.h"

static struct logql_query *must_parse(const char *q)
{
    struct logql_query *out = NULL;
    char err[1024];
    int rc = logql_parse(str_from_cstr(q), &out, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "parse failed: %s\n  %s\n", q, err);
    assert_int_equal(rc, 0);
    return out;
}

/* Canonical text of q; the caller frees it. */
static char *canon(const char *q)
{
    struct logql_query *p = must_parse(q);
    struct buf b = BUF_INIT;
    assert_int_equal(logql_print(p->root, &b), 0);
    assert_int_equal(buf_cstr(&b), 0);
    logql_query_destroy(p);
    return (char *)b.data;
}

static void expect_canon(const char *q, const char *want)
{
    char *got = canon(q);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "query: %s\n", q);
    assert_string_equal(got, want);
    free(got);
}

static void expect_error(const char *q, const char *msg)
{
    struct logql_query *out = NULL;
    char err[1024] = "";
    int rc = logql_parse(str_from_cstr(q), &out, err, sizeof err);
    if (rc == 0 || !strstr(err, msg))
        fprintf(stderr, "query: %s\n  want error containing: %s\n  got rc=%d: %s\n", q, msg, rc,
                err);
    assert_int_equal(rc, ERR_INVALID);
    assert_non_null(strstr(err, msg));
    assert_null(out);
}

#define R "rate({a=\"b\"}[1m])"

static void test_precedence(void **state)
{
    expect_canon(R " + " R " * 2", "(rate({a=\"b\"}[1m]) + (rate({a=\"b\"}[1m]) * 2))");
    expect_canon(R " - " R " - 1", "((rate({a=\"b\"}[1m]) - rate({a=\"b\"}[1m])) - 1)");
    expect_canon("2 ^ " R " ^ 2", "(2 ^ (rate({a=\"b\"}[1m]) ^ 2))");
    expect_canon(R " or " R " and " R,
                 "(rate({a=\"b\"}[1m]) or (rate({a=\"b\"}[1m]) and rate({a=\"b\"}[1m])))");
    expect_canon(R " unless " R " and " R,
                 "((rate({a=\"b\"}[1m]) unless rate({a=\"b\"}[1m])) and rate({a=\"b\"}[1m]))");
    expect_canon(R " > 1 + 2 * 3", "(rate({a=\"b\"}[1m]) > 7)");
    expect_canon(R " > bool 1 == 0", "((rate({a=\"b\"}[1m]) > bool 1) == 0)");
    expect_canon(R " % 3 / " R, "((rate({a=\"b\"}[1m]) % 3) / rate({a=\"b\"}[1m]))");
    expect_canon("(" R " + 1) * 2", "((rate({a=\"b\"}[1m]) + 1) * 2)");
}

static double literal_of(const char *q)
{
    struct logql_query *p = must_parse(q);
    assert_int_equal(p->root->kind, LOGQL_EXPR_LITERAL);
    double v = p->root->value;
    logql_query_destroy(p);
    return v;
}

static void test_folding(void **state)
{
    assert_true(literal_of("1 + 1") == 2);
    assert_true(literal_of("1+1--1") == 3);
    assert_true(literal_of("2^3^2") == 512);
    assert_true(literal_of("-2^2") == 4); /* the sign belongs to the literal */
    assert_true(literal_of("2 % 2^3") == 2);
    assert_true(literal_of("1 > 1 < 1") == 1);
    assert_true(literal_of("7 == bool 7") == 1);
    assert_true(literal_of("7 != 7") == 0);
    assert_true(isnan(literal_of("10 / 0")));
    assert_true(isnan(literal_of("10 % 0")));
    assert_true(literal_of("(((5)))") == 5);
    assert_true(literal_of("+5") == 5);
    assert_true(literal_of("0x1p3") == 8);
    assert_true(literal_of(".5") == 0.5);
    expect_canon("1 + 2 * 3", "7");
    expect_canon("1e6", "1e+06");
    expect_canon("vector(1) + 1", "(vector(1.000000) + 1)");
}

/* All spellings of a log range give the same range aggregation. */
static void test_range_forms(void **state)
{
    const char *want = "sum_over_time({a=\"b\"} | json | unwrap x[5m] offset 1m0s)";
    const char *forms[] = {
        "sum_over_time({a=\"b\"} | json | unwrap x [5m] offset 1m)",
        "sum_over_time(({a=\"b\"} | json | unwrap x)[5m] offset 1m)",
        "sum_over_time(({a=\"b\"} | json | unwrap x [5m] offset 1m))",
        "sum_over_time({a=\"b\"}[5m] offset 1m | json | unwrap x)",
        "sum_over_time((({a=\"b\"}[5m] offset 1m | json | unwrap x)))",
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        expect_canon(forms[i], want);
    expect_canon("count_over_time(({a=\"b\"})[5m])", "count_over_time({a=\"b\"}[5m])");
    expect_canon("rate({a=\"b\"}[5m] offset -1h)", "rate({a=\"b\"}[5m] offset -1h0m0s)");
    expect_canon("max_over_time(({a=\"b\"})[5m] | unwrap x)",
                 "max_over_time({a=\"b\"} | unwrap x[5m])");
    expect_canon("max_over_time({a=\"b\"} | unwrap x | y > 1 | z=\"w\" [5m])",
                 "max_over_time({a=\"b\"} | unwrap x | y>1 | z=\"w\"[5m])");
    expect_error("count_over_time({a=\"b\"} | json [5m] | logfmt)", "syntax error");
    expect_error("count_over_time(({a=\"b\"} | json)[5m] | logfmt)", "syntax error");
    expect_error("rate({a=\"b\"} |= \"x\" [5m] offset 1m offset 2m)", "syntax error");
    expect_error("rate({a=\"b\"})", "unexpected )");
    expect_error("{a=\"b\"}[5m]", "unexpected RANGE");
    expect_error("{a=\"b\"} | unwrap x", "unexpected |");

    struct logql_query *p = must_parse("quantile_over_time(0.9, {a=\"b\"} | logfmt | unwrap "
                                       "duration(t) | t > 1s [1h]) by (x)");
    struct logql_expr *e = p->root;
    assert_int_equal(e->kind, LOGQL_EXPR_RANGE_AGG);
    assert_int_equal(e->range_op, LOGQL_RANGE_QUANTILE);
    assert_true(e->has_param && e->param == 0.9);
    assert_int_equal(e->range_ns, 3600000000000LL);
    assert_int_equal(e->unwrap->conv, LOGQL_CONV_DURATION);
    assert_true(str_eq_cstr(e->unwrap->label, "t"));
    assert_int_equal(e->unwrap->n_post, 1);
    assert_int_equal(e->unwrap->post[0]->kind, LOGQL_LF_DURATION);
    assert_true(e->grouping.present && !e->grouping.without && e->grouping.n_labels == 1);
    assert_int_equal(e->sel.n_stages, 1);
    assert_int_equal(e->sel.stages[0].kind, LOGQL_STAGE_LOGFMT);
    logql_query_destroy(p);
}

static void test_vector_and_binop_ast(void **state)
{
    struct logql_query *p =
        must_parse("topk by (a) (3, sum without (b) (rate({x=\"y\"}[1m]))) / on (a, c) "
                   "group_left (d) count(count_over_time({x=\"y\"}[1m]))");
    struct logql_expr *e = p->root;
    assert_int_equal(e->kind, LOGQL_EXPR_BINOP);
    assert_int_equal(e->op, LOGQL_OP_DIV);
    assert_true(e->matching && e->on);
    assert_int_equal(e->n_match_labels, 2);
    assert_int_equal(e->card, LOGQL_CARD_MANY_TO_ONE);
    assert_true(e->has_include && e->n_include == 1 && str_eq_cstr(e->include[0], "d"));
    struct logql_expr *l = e->inner;
    assert_int_equal(l->kind, LOGQL_EXPR_VECTOR_AGG);
    assert_int_equal(l->vec_op, LOGQL_VEC_TOPK);
    assert_int_equal(l->k, 3);
    assert_true(l->grouping.present && str_eq_cstr(l->grouping.labels[0], "a"));
    assert_true(l->inner->grouping.without);
    assert_int_equal(e->rhs->vec_op, LOGQL_VEC_COUNT);
    assert_false(e->rhs->grouping.present);
    logql_query_destroy(p);

    p = must_parse("label_replace(vector(2), \"dst\", \"$1\", \"src\", \"(.*)-x\")");
    e = p->root;
    assert_int_equal(e->kind, LOGQL_EXPR_LABEL_REPLACE);
    assert_int_equal(e->inner->kind, LOGQL_EXPR_VECTOR);
    assert_true(e->inner->value == 2);
    assert_true(logql_regex_match(e->regex, STR_LIT("a-x")));
    assert_false(logql_regex_match(e->regex, STR_LIT("a-xy"))); /* anchored */
    logql_query_destroy(p);

    expect_canon(R " > bool ignoring (a) group_right " R,
                 "(rate({a=\"b\"}[1m]) > bool ignoring (a) group_right rate({a=\"b\"}[1m]))");
    expect_canon(R " + on () " R, "(rate({a=\"b\"}[1m]) + on () rate({a=\"b\"}[1m]))");
    expect_canon("sum by () (" R ")", "sum(rate({a=\"b\"}[1m]))");
    expect_canon("sum without () (" R ")", "sum without ()(rate({a=\"b\"}[1m]))");
    expect_canon("sort_desc(" R ")", "sort_desc(rate({a=\"b\"}[1m]))");
    expect_canon("approx_topk(2, " R ")", "approx_topk(2,rate({a=\"b\"}[1m]))");
}

static const struct logql_stage *only_stage(struct logql_query *p)
{
    assert_int_equal(p->root->kind, LOGQL_EXPR_LOG);
    assert_int_equal(p->root->sel.n_stages, 1);
    return &p->root->sel.stages[0];
}

static void test_line_filters(void **state)
{
    struct logql_query *p = must_parse("{a=\"b\"} |= \"x\" or \"y\" or ip(\"10.0.0.0/8\")");
    const struct logql_stage *st = only_stage(p);
    assert_int_equal(st->kind, LOGQL_STAGE_LINE_FILTER);
    assert_int_equal(st->line.op, LOGQL_LINE_CONTAINS);
    assert_int_equal(st->line.n_terms, 3);
    assert_true(st->line.terms[2].is_ip);
    assert_true(logql_ip_matches(st->line.terms[2].ip, STR_LIT("from 10.1.2.3 ok")));
    logql_query_destroy(p);

    p = must_parse("{a=\"b\"} !~ \"err.r\" or \"(?i)warn\"");
    st = only_stage(p);
    assert_int_equal(st->line.op, LOGQL_LINE_NOT_REGEX);
    assert_true(logql_regex_match(st->line.terms[0].re, STR_LIT("an error here")));
    assert_true(logql_regex_match(st->line.terms[1].re, STR_LIT("WARN")));
    logql_query_destroy(p);

    p = must_parse("{a=\"b\"} |> \"<_> GET <_>\"");
    st = only_stage(p);
    assert_true(logql_pattern_matches(st->line.terms[0].pattern, STR_LIT("x GET y")));
    logql_query_destroy(p);

    expect_canon("{a=\"b\"} != \"x\" or \"y\" |= \"z\" or \"w\"",
                 "{a=\"b\"} != \"x\" != \"y\" |= \"z\" or \"w\"");
    expect_canon("{a=\"b\"}|=`a\"b`", "{a=\"b\"} |= \"a\\\"b\"");
    expect_canon("{a=\"b\"} |~ `x\\`", "{a=\"b\"} |~ \"x\\\\\""); /* trailing \ read literally */
    expect_error("{a=\"b\"} |~ \"(\"", "missing closing )");
    expect_error("{a=\"b\"} |~ \"a**\"", "invalid nested repetition operator");
    expect_error("{a=\"b\"} |~ \"(?=x)\"", "invalid or unsupported Perl syntax");
    expect_error("{a=\"b\"} |~ ip(\"1.2.3.4\")", "ip: invalid operation");
    expect_error("{a=\"b\"} |> \"x\" or ip(\"1.2.3.4\")", "ip: invalid operation");
    expect_error("{a=\"b\"} |= ip(\"1.2.3\")", "ip: invalid pattern");
    expect_error("{a=\"b\"} |> \"<name> x\"", "named captures are not allowed");
    expect_error("{a=\"b\"} |> \"<_><_>\"", "consecutive capture");
    expect_error("{a=\"b\"} |= \"x\" or", "syntax error");
    expect_error("{a=\"b\"} |= 5", "syntax error");
}

static void test_parser_stages(void **state)
{
    struct logql_query *p = must_parse("{a=\"b\"} | json x=\"a.b[0]\", y, z=`c[\"k\"]`");
    const struct logql_stage *st = only_stage(p);
    assert_int_equal(st->kind, LOGQL_STAGE_JSON);
    assert_int_equal(st->n_exprs, 3);
    assert_true(str_eq_cstr(st->exprs[1].name, "y") && str_eq_cstr(st->exprs[1].expr, "y"));
    assert_int_equal(st->exprs[0].path->n_segs, 3);
    assert_true(st->exprs[0].path->segs[2].is_index);
    assert_true(str_eq_cstr(st->exprs[2].path->segs[1].key, "k"));
    logql_query_destroy(p);

    p = must_parse("{a=\"b\"} | logfmt --keep-empty --strict m, n=\"x\"");
    st = only_stage(p);
    assert_true(st->kind == LOGQL_STAGE_LOGFMT && st->strict && st->keep_empty);
    assert_int_equal(st->n_exprs, 2);
    logql_query_destroy(p);

    p = must_parse("{a=\"b\"} | regexp \"(?P<method>\\\\w+) (\\\\S+) (?<code>\\\\d+)\"");
    st = only_stage(p);
    assert_int_equal(st->kind, LOGQL_STAGE_REGEXP);
    assert_int_equal(st->re->n_groups, 3);
    assert_int_equal(st->re->n_named, 2);
    assert_true(str_eq_cstr(st->re->names[0], "method"));
    assert_int_equal(st->re->names[1].len, 0);
    assert_true(str_eq_cstr(st->re->names[2], "code"));
    logql_query_destroy(p);

    p = must_parse("{a=\"b\"} | pattern \"<ip> - <_> <status>\"");
    st = only_stage(p);
    assert_int_equal(st->pattern->n_named, 2);
    logql_query_destroy(p);

    expect_canon("{a=\"b\"} | unpack | decolorize", "{a=\"b\"} | unpack | decolorize");
    expect_canon("{a=\"b\"} | logfmt --strict", "{a=\"b\"} | logfmt --strict");
    expect_canon("{a=\"b\"} | logfmt a", "{a=\"b\"} | logfmt a=\"a\"");
    expect_canon("{a=\"b\"} | JSON", "{a=\"b\"} | json");
    expect_error("{a=\"b\"} | json x=\"a.\"", "cannot parse expression [a.]");
    expect_error("{a=\"b\"} | json x=\"a-b\"", "cannot parse expression");
    expect_error("{a=\"b\"} | json x=\"a[1.5]\"", "float");
    expect_error("{a=\"b\"} | regexp \"x\"", "at least one named capture");
    expect_error("{a=\"b\"} | regexp \"(x)\"", "at least one named capture");
    expect_error("{a=\"b\"} | regexp \"(?P<a>x)(?P<a>y)\"", "duplicate extracted label name 'a'");
    expect_error("{a=\"b\"} | pattern \"<a> <a>\"", "duplicate capture name");
    expect_error("{a=\"b\"} | pattern \"<_> x\"", "at least one capture is required");
    expect_error("{a=\"b\"} | pattern \"\"", "invalid pattern parser");
    expect_error("{a=\"b\"} | json |", "unexpected $end");
    expect_error("{a=\"b\"} | distinct x", "syntax error");
}

static void test_format_stages(void **state)
{
    struct logql_query *p = must_parse("{a=\"b\"} | label_format x=y, z=\"{{ .w | ToUpper }}\"");
    const struct logql_stage *st = only_stage(p);
    assert_int_equal(st->kind, LOGQL_STAGE_LABEL_FORMAT);
    assert_true(st->fmts[0].rename && str_eq_cstr(st->fmts[0].value, "y"));
    assert_false(st->fmts[1].rename);
    assert_non_null(st->fmts[1].tmpl);
    assert_null(st->fmts[0].tmpl);
    logql_query_destroy(p);

    p = must_parse("{a=\"b\"} | line_format \"{{.msg}} {{ if eq .l \\\"e\\\" }}E{{end}}\"");
    st = only_stage(p);
    assert_int_equal(st->kind, LOGQL_STAGE_LINE_FORMAT);
    assert_int_equal(st->tmpl->root.n, 3);
    logql_query_destroy(p);

    p = must_parse("{a=\"b\"} | drop x, y=\"1\", z=~\"a.*\" | keep w");
    assert_int_equal(p->root->sel.n_stages, 2);
    st = &p->root->sel.stages[0];
    assert_int_equal(st->kind, LOGQL_STAGE_DROP);
    assert_int_equal(st->n_names, 3);
    assert_null(st->names[0].matcher);
    assert_true(str_eq_cstr(st->names[2].name, "z"));
    assert_int_equal(st->names[2].matcher->type, MATCHER_RE);
    logql_query_destroy(p);

    /* Loki removes a line_format from a range aggregation that cannot see its output, before
     * compiling it: no parser or line filter after it and not bytes_over_time/bytes_rate */
    p = must_parse("count_over_time({a=\"b\"} | line_format \"{{ nosuchfunc }}\" [1m])");
    assert_true(p->root->sel.stages[0].elided);
    assert_null(p->root->sel.stages[0].tmpl);
    logql_query_destroy(p);
    p = must_parse("rate({a=\"b\"} | line_format \"{{.x}}\" | drop y [1m])");
    assert_true(p->root->sel.stages[0].elided);
    assert_non_null(p->root->sel.stages[0].tmpl);
    logql_query_destroy(p);
    p = must_parse("rate({a=\"b\"} | line_format \"{{.x}}\" |= \"y\" [1m])");
    assert_false(p->root->sel.stages[0].elided);
    logql_query_destroy(p);
    expect_error("count_over_time({a=\"b\"} | line_format \"{{ bad }}\" | json [1m])",
                 "function \"bad\" not defined");
    expect_error("bytes_rate({a=\"b\"} | line_format \"{{ bad }}\" [1m])", "not defined");
    expect_error("{a=\"b\"} | line_format \"{{\" | drop x", "unclosed action");
    expect_canon("{a=\"b\"} | label_format x=y,z=\"{{.w}}\"",
                 "{a=\"b\"} | label_format x=y,z=\"{{.w}}\"");
    expect_canon("{a=\"b\"} | drop x, y=\"1\"", "{a=\"b\"} | drop x,y=\"1\"");
    expect_error("{a=\"b\"} | line_format \"{{ nosuchfunc }}\"",
                 "invalid line template: template: line:1: function \"nosuchfunc\" not defined");
    expect_error("{a=\"b\"} | label_format x=\"{{\"",
                 "invalid template for label 'x': template: label:1: unclosed action");
    expect_error("{a=\"b\"} | label_format __error__=x", "__error__ cannot be formatted");
    expect_error("{a=\"b\"} | label_format x=y, x=z", "multiple label name 'x'");
    expect_error("{a=\"b\"} | drop", "unexpected $end");
    expect_error("{a=\"b\"} | keep x=~\"(\"", "missing closing )");
}

static void test_label_filters(void **state)
{
    /* `,` and juxtaposition take the rest of the expression as right operand; and > or */
    expect_canon("{a=\"b\"} | x=\"1\" or y=\"1\" z=\"1\"",
                 "{a=\"b\"} | ( x=\"1\" or ( y=\"1\" , z=\"1\" ) )");
    expect_canon("{a=\"b\"} | x=\"1\" y=\"1\" or z=\"1\"",
                 "{a=\"b\"} | ( x=\"1\" , ( y=\"1\" or z=\"1\" ) )");
    expect_canon("{a=\"b\"} | x=\"1\" and y=\"1\" or z=\"1\"",
                 "{a=\"b\"} | ( ( x=\"1\" , y=\"1\" ) or z=\"1\" )");
    expect_canon("{a=\"b\"} | x=\"1\" or y=\"1\" and z=\"1\"",
                 "{a=\"b\"} | ( x=\"1\" or ( y=\"1\" , z=\"1\" ) )");
    expect_canon("{a=\"b\"} | (x=\"1\" or y=\"1\"), z=\"1\"",
                 "{a=\"b\"} | ( ( x=\"1\" or y=\"1\" ) , z=\"1\" )");
    expect_canon("{a=\"b\"} | x > 5 | x == -1.5 | x = 2 | d >= 250ms | s < 1KiB | d != 1d",
                 "{a=\"b\"} | x>5 | x==-1.5 | x==2 | d>=250ms | s<1.0kB | d!=24h0m0s");
    expect_canon("{a=\"b\"} | x = ip(\"1.2.3.4\") | x != ip(\"::1\")",
                 "{a=\"b\"} | x=ip(\"1.2.3.4\") | x!=ip(\"::1\")");
    struct logql_query *p = must_parse("{a=\"b\"} | s > 20MB");
    const struct logql_stage *st = only_stage(p);
    assert_int_equal(st->filter->kind, LOGQL_LF_BYTES);
    assert_int_equal(st->filter->cmp, LOGQL_CMP_GT);
    assert_int_equal(st->filter->bytes, 20000000);
    logql_query_destroy(p);
    p = must_parse("{a=\"b\"} | x=~\"a|b\"");
    st = only_stage(p);
    assert_int_equal(st->filter->kind, LOGQL_LF_STRING);
    assert_true(matcher_matches(st->filter->matcher, STR_LIT("a")));
    assert_false(matcher_matches(st->filter->matcher, STR_LIT("ab")));
    logql_query_destroy(p);
    /* an invalid ip() pattern is only rejected when it is the whole stage */
    expect_error("{a=\"b\"} | x = ip(\"bogus\")", "ip: invalid pattern: \"bogus\"");
    expect_error("{a=\"b\"} | (x = ip(\"bogus\"))", "ip: invalid pattern");
    p = must_parse("{a=\"b\"} | y=\"1\" or x = ip(\"bogus\")");
    assert_null(only_stage(p)->filter->right->ip);
    logql_query_destroy(p);
    logql_query_destroy(must_parse("rate({a=\"b\"} | unwrap v | x = ip(\"\") [1m])"));
    expect_error("{a=\"b\"} | x == \"1\"", "unexpected STRING");
    expect_error("{a=\"b\"} | x >= ip(\"1.2.3.4\")", "unexpected ip");
    expect_error("{a=\"b\"} | x =~ 5", "syntax error");
    expect_error("{a=\"b\"} | x > 0x10", "unable to parse literal as a float");
    expect_error("{a=\"b\"} | x=~\"[\"", "missing closing ]");
    expect_error("{a=\"b\"} | x > 1 or", "unexpected $end");
}

static void test_validation(void **state)
{
    static const struct {
        const char *q, *msg;
    } cases[] = {
        {"{}", "at least one regexp or equality matcher"},
        {"{a=\"\"}", "at least one regexp or equality matcher"},
        {"{a=~\".*\", b!=\"x\"}", "at least one regexp or equality matcher"},
        {"rate({a!~\"x|y\"}[1m])", "at least one regexp or equality matcher"},
        {"{a=~\"(\"}", "missing closing )"},
        {"{by=\"x\"}", "unexpected by"},
        {"{a=\"b\",}", "unexpected }"},
        {"count_over_time({a=\"b\"} | unwrap x [1m])", "invalid aggregation count_over_time with "
                                                       "unwrap"},
        {"sum_over_time({a=\"b\"}[1m])", "invalid aggregation sum_over_time without unwrap"},
        {"rate_counter({a=\"b\"}[1m])", "invalid aggregation rate_counter without unwrap"},
        {"count_over_time({a=\"b\"}[1m]) by (x)", "grouping not allowed for count_over_time"},
        {"absent_over_time({a=\"b\"}[1m]) by ()", "grouping not allowed for absent_over_time"},
        {"quantile_over_time({a=\"b\"} | unwrap x [1m])", "parameter required for operation "
                                                          "quantile_over_time"},
        {"avg_over_time(0.5, {a=\"b\"} | unwrap x [1m])", "parameter 0.5 not supported"},
        {"topk(" R ")", "parameter required for operation topk"},
        {"topk(0, " R ")", "invalid parameter (must be greater than 0) topk(0"},
        {"bottomk(1.5, " R ")", "invalid parameter bottomk(1.5,"},
        {"topk(99999999999999999999, " R ")", "invalid parameter topk("},
        {"approx_topk(1, " R ") by (a)", "grouping not allowed for approx_topk aggregation"},
        {"sum(2, " R ")", "unsupported parameter for operation sum(2,"},
        {"sort(" R ") by (a)", "sort and sort_desc doesn't allow grouping by"},
        {"sum by (a) without (b) (" R ")", "unexpected without"},
        {R " or 1", "unexpected literal for right leg of logical/set binary operation (or)"},
        {"1 and " R, "unexpected literal for left leg of logical/set binary operation (and)"},
        {"{a=\"b\"} + 1", "unexpected type for left leg of binary operation (+)"},
        {"1 + {a=\"b\"}", "unexpected type for right leg of binary operation (+)"},
        {"-" R, "unexpected rate"},
        {"bool 1 > 1", "unexpected bool"},
        {R " bool > 1", "unexpected bool"},
        {R " + group_left " R, "unexpected group_left"},
        {R " + on (a) group_left (" R ")", "unexpected rate"},
        {"vector(a)", "unexpected IDENTIFIER"},
        {"vector(-1)", "unexpected -"},
        {"label_replace(" R ", \"a\", \"b\", \"c\")", "unexpected )"},
        {"label_replace(" R ", \"a\", \"b\", \"c\", \"(\")", "invalid regex in label_replace"},
        {"sum({a=\"b\"})", "syntax error"},
        {"min({a=\"b\"}[5m])", "unexpected RANGE"},
        {"rate({a=\"b\"}[5minutes])", "not a valid duration string"},
        {"rate({a=\"b\"}[5m] offset 5d0)", "syntax error"},
        {"0x10", "unable to parse literal as a float"},
        {"", "unexpected $end"},
        {"#{a=\"b\"}", "unexpected $end"},
        {"unk({a=\"b\"}[5m])", "unexpected IDENTIFIER"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(cases[i].q, cases[i].msg);
}

static void test_printer(void **state)
{
    expect_canon("{ foo = \"bar\", baz =~ \"x.*\" } |= \"a\" | json | line_format \"{{.x}}\"",
                 "{foo=\"bar\", baz=~\"x.*\"} |= \"a\" | json | line_format \"{{.x}}\"");
    expect_canon("sum(count_over_time({a=\"b\"}[5m])) by (c, d) / 2",
                 "(sum by (c,d)(count_over_time({a=\"b\"}[5m])) / 2)");
    expect_canon("topk(3, " R ") by (a)", "topk by (a)(3,rate({a=\"b\"}[1m]))");
    expect_canon("avg_over_time({a=\"b\"} | unwrap x [1m]) by (a)",
                 "avg_over_time({a=\"b\"} | unwrap x[1m]) by (a)");
    expect_canon("rate({a=\"b\"}[90m] offset 1500ms)", "rate({a=\"b\"}[1h30m] offset 1.5s)");
    expect_canon("label_replace(" R ", \"d\", \"$1\", \"s\", \"(.*)\")",
                 "label_replace(rate({a=\"b\"}[1m]),\"d\",\"$1\",\"s\",\"(.*)\")");
    expect_canon("{a=\"\\u00e9\\n\"}", "{a=\"\xc3\xa9\\n\"}");
    expect_canon("vector(0.5)", "vector(0.500000)");
    expect_canon("{a=\"b\"} | s > 1000PB", "{a=\"b\"} | s>1000000000000000000B");
}

/* Deep nesting is an error, not a stack overflow; long flat lists need no recursion. */
static void test_limits(void **state)
{
    struct buf b = BUF_INIT;
    for (int i = 0; i < 20000; i++)
        assert_int_equal(buf_append_str(&b, "("), 0);
    assert_int_equal(buf_append_str(&b, "1"), 0);
    for (int i = 0; i < 20000; i++)
        assert_int_equal(buf_append_str(&b, ")"), 0);
    assert_int_equal(buf_cstr(&b), 0);
    expect_error((char *)b.data, "nests too deeply");
    buf_reset(&b);
    assert_int_equal(buf_append_str(&b, "2"), 0);
    for (int i = 0; i < 20000; i++)
        assert_int_equal(buf_append_str(&b, "^2"), 0);
    assert_int_equal(buf_cstr(&b), 0);
    expect_error((char *)b.data, "nests too deeply");
    buf_reset(&b);
    assert_int_equal(buf_append_str(&b, "{a=\"b\"} | x=\"1\""), 0);
    for (int i = 0; i < 8000; i++)
        assert_int_equal(buf_append_str(&b, i % 2 ? ", y=\"2\"" : " z=\"3\""), 0);
    assert_int_equal(buf_cstr(&b), 0);
    logql_query_destroy(must_parse((char *)b.data));
    buf_reset(&b);
    assert_int_equal(buf_append_str(&b, "{a=\"b\"} | line_format \""), 0);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(buf_append_str(&b, "{{if 1}}"), 0);
    assert_int_equal(buf_append_str(&b, "\""), 0);
    assert_int_equal(buf_cstr(&b), 0);
    expect_error((char *)b.data, "nest too deeply");
    buf_reset(&b);
    assert_int_equal(buf_append_str(&b, "{a=\"b\"} | line_format \"{{"), 0);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(buf_append_str(&b, "("), 0);
    assert_int_equal(buf_append_str(&b, "\""), 0);
    assert_int_equal(buf_cstr(&b), 0);
    expect_error((char *)b.data, "invalid line template");
    buf_deinit(&b);
}

/* ---- randomized round trip ---- */

struct gen {
    struct prop *p;
    struct buf b;
};

static unsigned pick(struct gen *g, unsigned n)
{
    return (unsigned)(prop_next(g->p) % n);
}

static void put(struct gen *g, const char *s)
{
    assert_int_equal(buf_append_str(&g->b, s), 0);
}

static void gen_stages(struct gen *g, int n)
{
    static const char *const stages[] = {" |= \"x\"",
                                         " != \"a\" or \"b\"",
                                         " |~ \"e.*r\"",
                                         " !~ \"(?i)w\" or `\\d+`",
                                         " |> \"<_> x <_>\"",
                                         " !> \"y <_>\"",
                                         " |= ip(\"10.0.0.0/8\")",
                                         " | json",
                                         " | json a=\"b.c[0]\", d",
                                         " | logfmt --strict",
                                         " | logfmt --keep-empty a, b=\"c\"",
                                         " | regexp \"(?P<n>\\\\d+)\"",
                                         " | pattern \"<a> <_>\"",
                                         " | unpack",
                                         " | x > 5",
                                         " | x = 1.5s",
                                         " | x >= 20MB",
                                         " | x = ip(\"1.2.3.4\")",
                                         " | a=\"b\" or c!=\"d\", e=~\"f.*\" g!~\"h\"",
                                         " | (x < -1 or y == 2) and z=\"w\"",
                                         " | line_format \"{{.a | ToUpper}}\"",
                                         " | label_format a=b, c=\"{{.d}}\"",
                                         " | decolorize",
                                         " | drop a, b=\"c\"",
                                         " | keep a, b=~\"c.*\"",
                                         " | __error__=\"\""};
    for (int i = 0; i < n; i++)
        put(g, stages[pick(g, sizeof stages / sizeof stages[0])]);
}

static void gen_selector(struct gen *g)
{
    static const char *const extra[] = {"", ", b!=\"x\"", ", c=~\"a|b\"", ", d!~\".+\""};
    put(g, pick(g, 2) ? "{app=\"a\"" : "{job=~\"j.+\"");
    put(g, extra[pick(g, 4)]);
    put(g, "}");
}

static void gen_range(struct gen *g)
{
    static const char *const plain[] = {"count_over_time", "rate", "bytes_over_time", "bytes_rate",
                                        "absent_over_time"};
    static const char *const unwrapped[] = {"sum_over_time",   "avg_over_time",    "max_over_time",
                                            "min_over_time",   "stddev_over_time", "rate_counter",
                                            "first_over_time", "last_over_time"};
    static const char *const ranges[] = {"[1m]", "[5m] offset 1h", "[30s]", "[1h30m]"};
    bool unwrap = pick(g, 2), quantile = unwrap && pick(g, 4) == 0;
    if (quantile)
        put(g, "quantile_over_time(0.95, ");
    else
        put(g, unwrap ? unwrapped[pick(g, 8)] : plain[pick(g, 5)]), put(g, "(");
    gen_selector(g);
    gen_stages(g, (int)pick(g, 3));
    if (unwrap)
        put(g, pick(g, 2) ? " | unwrap v" : " | unwrap duration(v) | v > 1s");
    put(g, ranges[pick(g, 4)]);
    put(g, ")");
}

static void gen_metric(struct gen *g, int depth)
{
    static const char *const vec[] = {"sum", "avg", "min", "max", "count", "stddev", "stdvar"};
    static const char *const ops[] = {" + ",
                                      " - ",
                                      " * ",
                                      " / ",
                                      " % ",
                                      " ^ ",
                                      " == ",
                                      " != ",
                                      " > bool ",
                                      " < ",
                                      " >= ",
                                      " <= ",
                                      " or ",
                                      " and ",
                                      " unless ",
                                      " + on (a) group_left (b) ",
                                      " / ignoring (c) "};
    unsigned k = depth > 2 ? pick(g, 2) : pick(g, 7);
    switch (k) {
    case 0: gen_range(g); return;
    case 1: put(g, pick(g, 2) ? "vector(1)" : "count_over_time({a=\"b\"}[1m])"); return;
    case 2:
        put(g, vec[pick(g, 7)]);
        put(g, pick(g, 2) ? " by (a, b) (" : "(");
        gen_metric(g, depth + 1);
        put(g, ")");
        return;
    case 3:
        put(g, pick(g, 2) ? "topk(3, " : "bottomk by (a) (2, ");
        gen_metric(g, depth + 1);
        put(g, ")");
        return;
    case 4:
        put(g, "(");
        gen_metric(g, depth + 1);
        put(g, ops[pick(g, sizeof ops / sizeof ops[0])]);
        gen_metric(g, depth + 1);
        put(g, ")");
        return;
    case 5:
        gen_metric(g, depth + 1);
        put(g, pick(g, 2) ? " * 2" : " > -1.5");
        return;
    default:
        put(g, "label_replace(");
        gen_metric(g, depth + 1);
        put(g, ", \"d\", \"$1\", \"s\", \"(.*)\")");
        return;
    }
}

/* print(parse(q)) parses again and prints the same text. */
static void check_roundtrip(struct prop *p, const char *q, size_t n, bool must_parse_ok)
{
    struct logql_query *a = NULL, *b = NULL;
    char err[1024];
    int rc = logql_parse((struct str){q, n}, &a, err, sizeof err);
    if (must_parse_ok && rc != 0)
        fprintf(stderr, "generated query failed: %.*s\n  %s\n", (int)n, q, err);
    prop_check(p, rc == 0 || !must_parse_ok);
    if (rc != 0)
        return;
    struct buf t1 = BUF_INIT, t2 = BUF_INIT;
    assert_int_equal(logql_print(a->root, &t1), 0);
    rc = logql_parse((struct str){(char *)t1.data, t1.len}, &b, err, sizeof err);
    bool special = memmem(t1.data, t1.len, "NaN", 3) || memmem(t1.data, t1.len, "Inf", 3);
    if (rc != 0 && !special)
        fprintf(stderr, "reparse failed: %.*s\n  -> %.*s\n  %s\n", (int)n, q, (int)t1.len,
                (char *)t1.data, err);
    prop_check(p, rc == 0 || special);
    if (rc == 0) {
        assert_int_equal(logql_print(b->root, &t2), 0);
        prop_check(p, t1.len == t2.len && memcmp(t1.data, t2.data, t1.len) == 0);
    }
    logql_query_destroy(a);
    logql_query_destroy(b);
    buf_deinit(&t1);
    buf_deinit(&t2);
}

static void test_roundtrip_property(void **state)
{
    struct prop p = prop_begin("logql_parse_roundtrip");
    struct gen g = {&p, BUF_INIT};
    for (int i = 0; i < 3000; i++) {
        buf_reset(&g.b);
        if (pick(&g, 3) == 0) {
            gen_selector(&g);
            gen_stages(&g, (int)pick(&g, 6));
        } else {
            gen_metric(&g, 0);
        }
        check_roundtrip(&p, (char *)g.b.data, g.b.len, true);
        /* a damaged query must not crash; if it still parses, it round-trips too */
        for (int m = 0; m < 3 && g.b.len > 0; m++) {
            size_t at = pick(&g, (unsigned)g.b.len);
            g.b.data[at] = "{}()[]|=\"`~!<>,. x1-"[pick(&g, 21)];
            check_roundtrip(&p, (char *)g.b.data, g.b.len, false);
        }
    }
    buf_deinit(&g.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence),    cmocka_unit_test(test_folding),
        cmocka_unit_test(test_range_forms),   cmocka_unit_test(test_vector_and_binop_ast),
        cmocka_unit_test(test_line_filters),  cmocka_unit_test(test_parser_stages),
        cmocka_unit_test(test_format_stages), cmocka_unit_test(test_label_filters),
        cmocka_unit_test(test_validation),    cmocka_unit_test(test_printer),
        cmocka_unit_test(test_limits),        cmocka_unit_test(test_roundtrip_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
