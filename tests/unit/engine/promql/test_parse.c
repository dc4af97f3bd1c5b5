/* PromQL parser: AST shape and values (literals, selectors with compiled matchers, durations in
 * ms, @, subqueries, calls resolved to the function table, aggregations, precedence and
 * associativity, vector matching, fill, extended selectors), positions, the function table, and
 * limits. Error messages are in test_errors.c. */
#include "promql_helpers.h"

#include <math.h>

#include "engine/promql/functions.h"

static const struct promql_node *root;
static struct promql_ast *cur;

static const struct promql_node *P(const char *q)
{
    promql_ast_destroy(cur);
    cur = NULL;
    cur = parse_ok(q);
    root = cur->root;
    return root;
}

static int teardown(void **state)
{
    (void)state;
    promql_ast_destroy(cur);
    cur = NULL;
    return 0;
}

static double num(const char *q)
{
    const struct promql_node *n = P(q);
    assert_int_equal(n->kind, PROMQL_NUMBER);
    assert_int_equal(n->type, PROMQL_VT_SCALAR);
    return n->number.val;
}

static void test_number_literals(void **state)
{
    (void)state;
    assert_true(num("1") == 1);
    assert_true(num(".5") == 0.5);
    assert_true(num("5.") == 5);
    assert_true(num("123.4567") == 123.4567);
    assert_true(num("5e-3") == 0.005);
    assert_true(num("1E3") == 1000);
    assert_true(num("0x1f") == 31);
    assert_true(num("0X_1F") == 31);
    assert_true(num("017") == 15); /* Go's ParseInt base 0: leading 0 is octal */
    assert_true(num("08") == 8);   /* not octal: falls back to ParseFloat */
    assert_true(num("1_000") == 1000);
    assert_true(num("00_1_23_4.56_7_8") == 1234.5678);
    assert_true(num("9223372036854775808") == 9223372036854775808.0);
    assert_true(isinf(num("Inf")) && num("+inf") > 0);
    assert_true(isinf(num("-INF")) && num("-InF") < 0);
    assert_true(isnan(num("nan")) && isnan(num("NaN")));
    assert_true(num("-1") == -1);
    assert_true(num("- - 2") == 2);
    assert_true(num("+5") == 5);
    assert_int_equal(P("-1")->pos_start, 0);
    assert_false(P("1")->number.duration);
}

static void test_duration_literals(void **state)
{
    (void)state;
    assert_true(num("5m") == 300);
    assert_true(P("5m")->number.duration);
    assert_true(num("1m30s") == 90);
    assert_true(num("500ms") == 0.5);
    assert_true(num("1h0m0s") == 3600);
    assert_true(num("1d") == 86400);
    assert_true(num("1w") == 604800);
    assert_true(num("1y") == 31536000);
    assert_true(num("1y2w3d4h5m6s7ms") == 31536000 + 2 * 604800 + 3 * 86400 + 4 * 3600 + 306.007);
    assert_true(num("-5m") == -300);
}

static void test_string_literals(void **state)
{
    (void)state;
    const struct promql_node *n = P("\"a\\n\\\"b\\x41\\101\\u00e9\"");
    assert_int_equal(n->kind, PROMQL_STRING);
    assert_int_equal(n->type, PROMQL_VT_STRING);
    assert_int_equal(n->string.len, 8);
    assert_memory_equal(n->string.ptr, "a\n\"bAA\xc3\xa9", 8);
    n = P("'it\\'s'");
    assert_memory_equal(n->string.ptr, "it's", 4);
    n = P("`raw\\n`");
    assert_int_equal(n->string.len, 5);
    assert_memory_equal(n->string.ptr, "raw\\n", 5);
    n = P("\"a\\xc5z\""); /* \x gives raw bytes, even invalid UTF-8 */
    assert_memory_equal(n->string.ptr, "a\xc5z", 3);
}

static void test_vector_selector(void **state)
{
    (void)state;
    const char *q = "foo{a=\"b\", c!=\"d\", e=~\"f.*\", g!~'h|i',}";
    const struct promql_node *n = P(q);
    assert_int_equal(n->kind, PROMQL_VECTOR_SELECTOR);
    assert_int_equal(n->type, PROMQL_VT_VECTOR);
    const struct promql_vector_selector *vs = &n->vs;
    assert_true(str_eq_cstr(vs->name, "foo"));
    assert_int_equal(vs->nmatchers, 5);
    static const enum matcher_type types[] = {MATCHER_EQ, MATCHER_NEQ, MATCHER_RE, MATCHER_NRE,
                                              MATCHER_EQ};
    static const char *const names[] = {"a", "c", "e", "g", "__name__"};
    static const char *const values[] = {"b", "d", "f.*", "h|i", "foo"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(vs->matchers[i].type, types[i]);
        assert_true(str_eq_cstr(vs->matchers[i].name, names[i]));
        assert_true(str_eq_cstr(vs->matchers[i].value, values[i]));
    }
    /* compiled: anchored regexes */
    assert_true(matcher_matches(&vs->matchers[2], STR_LIT("fxyz")));
    assert_false(matcher_matches(&vs->matchers[2], STR_LIT("xf")));
    assert_false(matcher_matches(&vs->matchers[3], STR_LIT("h")));
    assert_true(matcher_matches(&vs->matchers[3], STR_LIT("hi")));
    assert_int_equal(n->pos_start, 0);
    assert_int_equal(n->pos_end, strlen(q));
    assert_int_equal(vs->offset_ms, 0);
    assert_int_equal(vs->at.kind, PROMQL_AT_NONE);
    assert_ptr_equal(cur->selectors, n);
}

static void test_selector_forms(void **state)
{
    (void)state;
    const struct promql_node *n = P("{__name__=~\"x.+\"}");
    assert_int_equal(n->vs.name.len, 0);
    assert_int_equal(n->vs.nmatchers, 1);
    assert_int_equal(n->vs.matchers[0].type, MATCHER_RE);
    n = P("{\"my.metric\", \"label.name\"=\"v\"}");
    assert_int_equal(n->vs.name.len, 0);
    assert_int_equal(n->vs.nmatchers, 2);
    assert_true(str_eq_cstr(n->vs.matchers[0].name, "__name__"));
    assert_true(str_eq_cstr(n->vs.matchers[0].value, "my.metric"));
    assert_true(str_eq_cstr(n->vs.matchers[1].name, "label.name"));
    /* keywords are metric names where an operand is expected */
    static const char *const kw[] = {"sum",      "by",           "without", "and",  "or",
                                     "unless",   "offset",       "start",   "end",  "step",
                                     "range",    "min_of",       "max_of",  "fill", "anchored",
                                     "smoothed", "count_values", "SUM"};
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++) {
        n = P(kw[i]);
        assert_int_equal(n->kind, PROMQL_VECTOR_SELECTOR);
        assert_true(str_eq_cstr(n->vs.name, kw[i]));
    }
    n = P("sum{a=\"b\"} + by");
    assert_int_equal(n->kind, PROMQL_BINARY);
    n = P("job:rate:5m{a=\"b\"}");
    assert_true(str_eq_cstr(n->vs.name, "job:rate:5m"));
    /* all selectors are chained */
    P("a + b{c=\"d\"} / rate(e[5m])");
    int count = 0;
    for (const struct promql_node *s = cur->selectors; s; s = s->vs.next_selector)
        count++;
    assert_int_equal(count, 3);
}

static void test_matrix_offset_at(void **state)
{
    (void)state;
    const struct promql_node *n = P("foo[5m]");
    assert_int_equal(n->kind, PROMQL_MATRIX_SELECTOR);
    assert_int_equal(n->type, PROMQL_VT_MATRIX);
    assert_int_equal(n->ms.range_ms, 300000);
    assert_null(n->ms.range_expr);
    assert_int_equal(n->ms.vs->kind, PROMQL_VECTOR_SELECTOR);
    n = P("foo[1.5]");
    assert_int_equal(n->ms.range_ms, 1500);
    n = P("foo[1800]");
    assert_int_equal(n->ms.range_ms, 1800000);
    n = P("foo[5m] offset -1m30s");
    assert_int_equal(n->ms.vs->vs.offset_ms, -90000);
    assert_int_equal(n->pos_end, 21);
    n = P("foo offset 1w");
    assert_int_equal(n->vs.offset_ms, 7 * 86400000LL);
    n = P("foo OFFSET 1.5");
    assert_int_equal(n->vs.offset_ms, 1500);
    n = P("foo @ 100.5");
    assert_int_equal(n->vs.at.kind, PROMQL_AT_TIMESTAMP);
    assert_int_equal(n->vs.at.ts_ms, 100500);
    n = P("foo @ -1m");
    assert_int_equal(n->vs.at.ts_ms, -60000);
    n = P("foo[5m] @ start() offset 1m");
    assert_int_equal(n->ms.vs->vs.at.kind, PROMQL_AT_START);
    assert_int_equal(n->ms.vs->vs.offset_ms, 60000);
    n = P("foo offset 5m @ end()");
    assert_int_equal(n->vs.at.kind, PROMQL_AT_END);
    n = P("foo anchored");
    assert_true(n->vs.anchored);
    n = P("foo[5m] smoothed");
    assert_true(n->ms.vs->vs.smoothed);
    assert_false(n->ms.vs->vs.anchored);
}

static void test_subquery(void **state)
{
    (void)state;
    const struct promql_node *n = P("rate(x[5m])[30m:1m]");
    assert_int_equal(n->kind, PROMQL_SUBQUERY);
    assert_int_equal(n->type, PROMQL_VT_MATRIX);
    assert_int_equal(n->sq.range_ms, 1800000);
    assert_int_equal(n->sq.step_ms, 60000);
    assert_int_equal(n->sq.expr->kind, PROMQL_CALL);
    n = P("x[30m:] offset -5m @ 10");
    assert_int_equal(n->sq.step_ms, 0);
    assert_null(n->sq.step_expr);
    assert_int_equal(n->sq.offset_ms, -300000);
    assert_int_equal(n->sq.at.ts_ms, 10000);
    n = P("min_over_time(x[1h:5m])[2h:]");
    assert_int_equal(n->kind, PROMQL_SUBQUERY);
    n = P("min_over_time((a + b)[10m:])");
    assert_int_equal(n->call.args[0]->sq.expr->kind, PROMQL_PAREN);
}

static int64_t deval(const struct promql_node *d, int64_t step, int64_t range, bool neg)
{
    int64_t ms = 0;
    char err[128];
    assert_int_equal(promql_duration_eval(d, step, range, neg, &ms, err, sizeof err), 0);
    return ms;
}

static void test_duration_expressions(void **state)
{
    (void)state;
    const struct promql_node *n = P("x[step()*2]");
    const struct promql_node *d = n->ms.range_expr;
    assert_non_null(d);
    assert_int_equal(n->ms.range_ms, 0);
    assert_int_equal(d->kind, PROMQL_DURATION_EXPR);
    assert_int_equal(d->dur.op, PROMQL_DUR_MUL);
    assert_int_equal(d->dur.lhs->dur.op, PROMQL_DUR_STEP);
    assert_true(d->dur.rhs->number.val == 2);
    assert_int_equal(deval(d, 15000, 0, false), 30000);
    n = P("x[5m+1m:min_of(step(), 1m)]");
    assert_int_equal(deval(n->sq.range_expr, 0, 0, false), 360000);
    assert_int_equal(deval(n->sq.step_expr, 30000, 0, false), 30000);
    assert_int_equal(deval(n->sq.step_expr, 90000, 0, false), 60000);
    n = P("x[max_of(range(), 1m) % 7m ^ 1]");
    assert_int_equal(deval(n->ms.range_expr, 0, 600000, false), 180000);
    n = P("x offset -(1m)");
    d = n->vs.offset_expr;
    assert_int_equal(d->dur.op, PROMQL_DUR_SUB);
    assert_null(d->dur.lhs);
    assert_true(d->dur.rhs->dur.wrapped);
    assert_int_equal(deval(d, 0, 0, true), -60000);
    n = P("x offset step()");
    assert_int_equal(deval(n->vs.offset_expr, 5000, 0, true), 5000);
    /* [1h/2], [30m1s-30m1s % 1m], [(9m30s+30s)*3] */
    assert_int_equal(deval(P("x[1h/2]")->ms.range_expr, 0, 0, false), 1800000);
    assert_int_equal(deval(P("x[30m1s-30m1s % 1m]")->ms.range_expr, 0, 0, false), 1800000);
    assert_int_equal(deval(P("x[(9m30s+30s)*3]")->ms.range_expr, 0, 0, false), 1800000);
    assert_int_equal(deval(P("x[-5m+35m]")->ms.range_expr, 0, 0, false), 1800000);
    /* evaluation errors */
    int64_t ms;
    char err[128];
    n = P("x[step()]");
    assert_int_equal(promql_duration_eval(n->ms.range_expr, 0, 0, false, &ms, err, sizeof err),
                     ERR_INVALID);
    assert_non_null(strstr(err, "duration must be greater than 0"));
    n = P("x[5m/(step()-step())]");
    assert_int_equal(promql_duration_eval(n->ms.range_expr, 1000, 0, false, &ms, err, sizeof err),
                     ERR_INVALID);
    assert_non_null(strstr(err, "division by zero"));
}

static void test_offset_operand_binding(void **state)
{
    (void)state;
    /* binary operators after a plain offset belong to the outer expression */
    const struct promql_node *n = P("m offset 100 + 2");
    assert_int_equal(n->kind, PROMQL_BINARY);
    assert_int_equal(n->bin.lhs->vs.offset_ms, 100000);
    n = P("m offset -2 ^ 2");
    assert_int_equal(n->kind, PROMQL_BINARY);
    assert_int_equal(n->bin.op, PROMQL_OP_POW);
    assert_int_equal(n->bin.lhs->vs.offset_ms, -2000);
    n = P("m offset -step()*2");
    assert_int_equal(n->bin.op, PROMQL_OP_MUL);
    n = P("m offset min_of(step(), 1s)+8000");
    assert_int_equal(n->bin.op, PROMQL_OP_ADD);
    n = P("m offset -(min_of(step(), 1s))+8000");
    assert_int_equal(n->bin.op, PROMQL_OP_ADD);
    /* an unsigned parenthesised operand continues as a duration expression */
    n = P("m offset (100 + 2)");
    assert_int_equal(n->kind, PROMQL_VECTOR_SELECTOR);
    assert_int_equal(deval(n->vs.offset_expr, 0, 0, true), 102000);
    n = P("m offset (1m) + 5");
    assert_int_equal(n->kind, PROMQL_VECTOR_SELECTOR);
    assert_int_equal(deval(n->vs.offset_expr, 0, 0, true), 65000);
}

static const struct promql_node *arg(const struct promql_node *n, uint32_t i)
{
    assert_int_equal(n->kind, PROMQL_CALL);
    assert_true(i < n->call.nargs);
    return n->call.args[i];
}

static void test_calls(void **state)
{
    (void)state;
    const struct promql_node *n = P("rate(x[5m])");
    assert_int_equal(n->call.func->id, PROMQL_FN_RATE);
    assert_int_equal(n->type, PROMQL_VT_VECTOR);
    assert_int_equal(arg(n, 0)->kind, PROMQL_MATRIX_SELECTOR);
    n = P("time()");
    assert_int_equal(n->call.func->id, PROMQL_FN_TIME);
    assert_int_equal(n->call.nargs, 0);
    assert_int_equal(n->type, PROMQL_VT_SCALAR);
    n = P("round(x)");
    assert_int_equal(n->call.nargs, 1);
    n = P("round(x, 0.1)");
    assert_int_equal(n->call.nargs, 2);
    n = P("label_join(x, \"d\", \",\", \"a\", \"b\", \"c\")");
    assert_int_equal(n->call.nargs, 6);
    n = P("histogram_quantiles(x, \"q\", 0.1, 0.5, 0.9)");
    assert_int_equal(n->call.func->id, PROMQL_FN_HISTOGRAM_QUANTILES);
    n = P("step() + start() + end() + range() + min_of(1, 2) + pi()");
    assert_int_equal(n->type, PROMQL_VT_SCALAR);
    n = P("info(x, {k=~\".+\"})");
    assert_true(arg(n, 1)->vs.bypass_empty_matcher_check);
    n = P("info(x, {k=\"\"})"); /* the empty-matcher rule does not apply to info's selector */
    assert_int_equal(n->call.func->id, PROMQL_FN_INFO);
    n = P("vector(1)");
    assert_int_equal(arg(n, 0)->type, PROMQL_VT_SCALAR);
    n = P("scalar(x) * 2");
    assert_int_equal(n->type, PROMQL_VT_SCALAR);
}

static void test_aggregations(void **state)
{
    (void)state;
    const struct promql_node *n = P("sum by (a, b) (x)");
    assert_int_equal(n->kind, PROMQL_AGGREGATE);
    assert_int_equal(n->agg.op, PROMQL_AGG_SUM);
    assert_false(n->agg.without);
    assert_int_equal(n->agg.grouping.len, 2);
    assert_true(str_eq_cstr(n->agg.grouping.names[1], "b"));
    assert_null(n->agg.param);
    n = P("SUM(x) WITHOUT (a,)");
    assert_true(n->agg.without);
    assert_int_equal(n->agg.grouping.len, 1);
    assert_int_equal(n->pos_end, 19);
    n = P("topk(3, x)");
    assert_int_equal(n->agg.op, PROMQL_AGG_TOPK);
    assert_true(n->agg.param->number.val == 3);
    n = P("count_values(\"v\", x)");
    assert_int_equal(n->agg.param->kind, PROMQL_STRING);
    n = P("quantile(0.9, x) by (job)");
    assert_int_equal(n->agg.op, PROMQL_AGG_QUANTILE);
    n = P("limitk(2, x)");
    assert_int_equal(n->agg.op, PROMQL_AGG_LIMITK);
    n = P("limit_ratio(-0.5, x)");
    assert_true(n->agg.param->number.val == -0.5);
    n = P("sum by (\"a.b\", on, bool, sum) (x)");
    assert_true(str_eq_cstr(n->agg.grouping.names[0], "a.b"));
    assert_true(str_eq_cstr(n->agg.grouping.names[3], "sum"));
    n = P("group without () (x)");
    assert_true(n->agg.without);
    assert_int_equal(n->agg.grouping.len, 0);
    static const char *const ops[] = {"sum", "avg",   "count",  "min",
                                      "max", "group", "stddev", "stdvar"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char q[64];
        snprintf(q, sizeof q, "%s(x)", ops[i]);
        assert_int_equal(P(q)->agg.op, (enum promql_aggop)i);
    }
}

/* The tree as a fully parenthesised string: shows precedence and associativity. */
static void shape(struct buf *b, const struct promql_node *n)
{
    switch (n->kind) {
    case PROMQL_BINARY:
        buf_append_u8(b, '(');
        shape(b, n->bin.lhs);
        buf_printf(b, " %s ", promql_binop_str(n->bin.op));
        shape(b, n->bin.rhs);
        buf_append_u8(b, ')');
        break;
    case PROMQL_UNARY:
        buf_printf(b, "(%c", n->unary.neg ? '-' : '+');
        shape(b, n->unary.expr);
        buf_append_u8(b, ')');
        break;
    case PROMQL_PAREN: shape(b, n->paren); break;
    default: promql_print(n, b); break;
    }
}

static void expect_shape(const char *q, const char *want)
{
    struct buf b = BUF_INIT;
    shape(&b, P(q));
    buf_cstr(&b);
    if (strcmp((const char *)b.data, want) != 0) {
        print_error("shape(%s): want %s got %s\n", q, want, (const char *)b.data);
        buf_deinit(&b);
        fail();
    }
    buf_deinit(&b);
}

static void test_precedence(void **state)
{
    (void)state;
    expect_shape("1 + 2 * 3", "(1 + (2 * 3))");
    expect_shape("1 * 2 + 3", "((1 * 2) + 3)");
    expect_shape("a - b - c", "((a - b) - c)");
    expect_shape("a / b % c * d", "(((a / b) % c) * d)");
    expect_shape("2 ^ 3 ^ 2", "(2 ^ (3 ^ 2))");
    expect_shape("-a ^ b", "(-(a ^ b))");
    expect_shape("-a * b", "((-a) * b)");
    expect_shape("-2 ^ 2", "(-(2 ^ 2))");
    expect_shape("a * -b + c", "((a * (-b)) + c)");
    expect_shape("a ^ -b ^ c", "(a ^ (-(b ^ c)))");
    expect_shape("a atan2 b * c", "((a atan2 b) * c)");
    expect_shape("a + b atan2 c", "(a + (b atan2 c))");
    expect_shape("a or b and c", "(a or (b and c))");
    expect_shape("a and b unless c", "((a and b) unless c)");
    expect_shape("a or b unless c or d", "((a or (b unless c)) or d)");
    expect_shape("a == b > c", "((a == b) > c)");
    expect_shape("a > b + c", "(a > (b + c))");
    expect_shape("a and b > c", "(a and (b > c))");
    expect_shape("a </ b + c", "(a </ (b + c))");
    expect_shape("a + b offset 5m", "(a + b offset 5m)");
    expect_shape("-a offset 5m", "(-a offset 5m)");
    expect_shape("a + b @ 5 * c", "(a + (b @ 5.000 * c))");
    expect_shape("(a + b) * c", "((a + b) * c)");
    expect_shape("1 - -1", "(1 - -1)");
    expect_shape("+a", "(+a)");
}

static void test_vector_matching(void **state)
{
    (void)state;
    const struct promql_node *n = P("a * on(x, y) group_left(z) b");
    const struct promql_binary *b = &n->bin;
    assert_true(b->has_matching);
    assert_true(b->matching.on);
    assert_int_equal(b->matching.card, PROMQL_CARD_MANY_TO_ONE);
    assert_int_equal(b->matching.matching.len, 2);
    assert_int_equal(b->matching.include.len, 1);
    assert_int_equal(b->op_pos, 2);
    n = P("a / ignoring(x) group_right b");
    assert_false(n->bin.matching.on);
    assert_int_equal(n->bin.matching.card, PROMQL_CARD_ONE_TO_MANY);
    assert_int_equal(n->bin.matching.include.len, 0);
    n = P("a and b");
    assert_int_equal(n->bin.matching.card, PROMQL_CARD_MANY_TO_MANY);
    n = P("a + b");
    assert_int_equal(n->bin.matching.card, PROMQL_CARD_ONE_TO_ONE);
    assert_true(n->bin.has_matching);
    n = P("a + on() 1");
    assert_false(n->bin.has_matching); /* matching only between two instant vectors */
    n = P("a > bool 1");
    assert_true(n->bin.return_bool);
    assert_int_equal(n->type, PROMQL_VT_VECTOR);
    n = P("1 == bool 2");
    assert_int_equal(n->type, PROMQL_VT_SCALAR);
    n = P("a + fill(0) b");
    assert_true(n->bin.matching.fill_lhs && n->bin.matching.fill_rhs);
    n = P("a + fill_right(-1.5) fill_left(2) b");
    assert_true(n->bin.matching.fill_lhs_val == 2 && n->bin.matching.fill_rhs_val == -1.5);
    n = P("a + on(x) group_left fill_left(-Inf) b");
    assert_true(isinf(n->bin.matching.fill_lhs_val) && !n->bin.matching.fill_rhs);
    n = P("fill + fill(0) fill");
    assert_true(str_eq_cstr(n->bin.lhs->vs.name, "fill"));
}

static void test_comments_and_case(void **state)
{
    (void)state;
    const struct promql_node *n = P("# leading\nsum(x) # trailing\n + 1 # end");
    assert_int_equal(n->kind, PROMQL_BINARY);
    n = P("foo{a=\"b\" # inside\n}");
    assert_int_equal(n->vs.nmatchers, 2);
    n = P("SUM BY (group) (x) AND ON(a) y OR z UNLESS BOTTOMK(1, w)");
    assert_int_equal(n->bin.op, PROMQL_OP_OR);
    n = P("foo OFFSET 5m");
    assert_int_equal(n->vs.offset_ms, 300000);
    n = P("x[STEP()]");
    assert_int_equal(n->ms.range_expr->dur.op, PROMQL_DUR_STEP);
}

static void test_positions(void **state)
{
    (void)state;
    const struct promql_node *n = P("foo + rate(bar[5m])");
    assert_int_equal(n->pos_start, 0);
    assert_int_equal(n->pos_end, 19);
    assert_int_equal(n->bin.rhs->pos_start, 6);
    assert_int_equal(n->bin.rhs->pos_end, 19);
    assert_int_equal(n->bin.rhs->call.args[0]->pos_start, 11);
    assert_int_equal(n->bin.rhs->call.args[0]->pos_end, 18);
    n = P("  sum by (a) (x)");
    assert_int_equal(n->pos_start, 2);
    assert_int_equal(n->pos_end, 16);
    n = P("-foo");
    assert_int_equal(n->pos_start, 0);
    assert_int_equal(n->unary.expr->pos_start, 1);
}

static void test_function_table(void **state)
{
    (void)state;
    const char *prev = "";
    for (int i = 0; i < PROMQL_FN_COUNT_; i++) {
        const struct promql_func *f = promql_func_by_id((enum promql_func_id)i);
        assert_int_equal(f->id, i);
        assert_true(strcmp(prev, f->name) < 0); /* sorted: lookup is a binary search */
        assert_ptr_equal(promql_func_lookup(f->name, strlen(f->name)), f);
        assert_true(f->nargs <= PROMQL_FUNC_ARGS_MAX);
        prev = f->name;
    }
    assert_null(promql_func_lookup("Rate", 4));
    assert_null(promql_func_lookup("rat", 3));
    assert_null(promql_func_lookup("ratex", 5));
    const struct promql_func *f = promql_func_lookup("label_replace", 13);
    assert_int_equal(f->nargs, 5);
    assert_int_equal(f->arg_types[4], PROMQL_VT_STRING);
    f = promql_func_lookup("histogram_quantiles", 19);
    assert_true(f->experimental);
    assert_int_equal(f->variadic, 9);
    assert_false(promql_func_lookup("abs", 3)->experimental);
}

static void test_depth_limit(void **state)
{
    (void)state;
    size_t n = PROMQL_DEPTH_MAX + 10;
    char *q = malloc(4 * n + 8);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        q[k++] = '(';
    q[k++] = '1';
    for (size_t i = 0; i < n; i++)
        q[k++] = ')';
    q[k] = 0;
    struct promql_ast *ast;
    struct promql_error err;
    assert_int_equal(promql_parse(q, k, NULL, &ast, &err), ERR_INVALID);
    assert_non_null(strstr(err.msg, "nested too deeply"));
    /* a long left-deep chain is bounded by tree height */
    k = 0;
    q[k++] = '1';
    for (size_t i = 0; i < n; i++)
        q[k++] = '+', q[k++] = '1';
    q[k] = 0;
    assert_int_equal(promql_parse(q, k, NULL, &ast, &err), ERR_INVALID);
    assert_non_null(strstr(err.msg, "nested too deeply"));
    /* just below the limit is fine */
    k = 0;
    q[k++] = 'x';
    for (size_t i = 0; i < PROMQL_DEPTH_MAX - 10; i++)
        q[k++] = '+', q[k++] = 'x';
    q[k] = 0;
    assert_int_equal(promql_parse(q, k, NULL, &ast, &err), 0);
    promql_ast_destroy(ast);
    free(q);
}

static void test_options(void **state)
{
    (void)state;
    const struct promql_parse_opts none = {false, false, false, false};
    expect_error_opts("sort_by_label(x, \"a\")", &none,
                      "1:1: parse error: function \"sort_by_label\" is not enabled");
    expect_error_opts("limitk(1, x)", &none,
                      "1:1: parse error: limitk() is experimental and must be enabled with "
                      "--enable-feature=promql-experimental-functions");
    expect_error_opts("x[step()]", &none,
                      "1:3: parse error: experimental duration expression is not enabled");
    expect_error_opts("x[1m+1m]", &none,
                      "1:3: parse error: experimental duration expression is not enabled");
    expect_error_opts("x anchored", &none,
                      "1:1: parse error: anchored modifier is experimental and not enabled");
    expect_error_opts("x + fill(0) y", &none,
                      "1:1: parse error: binop fill modifiers are experimental and not enabled");
    struct promql_ast *ast;
    struct promql_error err;
    assert_int_equal(promql_parse("rate(x[5m] offset -1m) > bool 1", 31, &none, &ast, &err), 0);
    promql_ast_destroy(ast);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_number_literals, teardown),
        cmocka_unit_test_teardown(test_duration_literals, teardown),
        cmocka_unit_test_teardown(test_string_literals, teardown),
        cmocka_unit_test_teardown(test_vector_selector, teardown),
        cmocka_unit_test_teardown(test_selector_forms, teardown),
        cmocka_unit_test_teardown(test_matrix_offset_at, teardown),
        cmocka_unit_test_teardown(test_subquery, teardown),
        cmocka_unit_test_teardown(test_duration_expressions, teardown),
        cmocka_unit_test_teardown(test_offset_operand_binding, teardown),
        cmocka_unit_test_teardown(test_calls, teardown),
        cmocka_unit_test_teardown(test_aggregations, teardown),
        cmocka_unit_test_teardown(test_precedence, teardown),
        cmocka_unit_test_teardown(test_vector_matching, teardown),
        cmocka_unit_test_teardown(test_comments_and_case, teardown),
        cmocka_unit_test_teardown(test_positions, teardown),
        cmocka_unit_test(test_function_table),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
