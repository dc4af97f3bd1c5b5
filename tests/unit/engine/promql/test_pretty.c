/* PromQL pretty printer: lines of at most 100 characters stay whole; longer binary expressions,
 * aggregations, calls, parentheses, subqueries and unary expressions split the way Prometheus's
 * format_query does, and the result parses back to the same one-line form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/promql/parse.h"
#include "engine/promql/pretty.h"
#include "engine/promql/print.h"

#define LHS                                                                                        \
    "rate(http_requests_total{instance=\"a-rather-long-instance-name:9090\",job=\"api\"}[5m])"
#define RHS "rate(http_requests_total{instance=\"b\",job=\"api\"}[5m])"

static char *pretty_of(const char *q)
{
    struct promql_ast *ast = NULL;
    struct promql_error pe;
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &pe), 0);
    struct buf b, once, again;
    buf_init(&b);
    buf_init(&once);
    assert_int_equal(promql_prettify(ast->root, &b), 0);
    assert_int_equal(promql_print(ast->root, &once), 0);
    promql_ast_destroy(ast);
    /* the pretty form parses to the same expression */
    assert_int_equal(promql_parse((const char *)b.data, b.len, NULL, &ast, &pe), 0);
    buf_init(&again);
    assert_int_equal(promql_print(ast->root, &again), 0);
    promql_ast_destroy(ast);
    assert_int_equal(once.len, again.len);
    assert_memory_equal(once.data, again.data, once.len);
    buf_deinit(&once);
    buf_deinit(&again);
    char *s = strndup((const char *)b.data, b.len);
    buf_deinit(&b);
    return s;
}

static void expect(const char *q, const char *want)
{
    char *got = pretty_of(q);
    if (strcmp(got, want) != 0)
        print_error("query %s\n got:\n%s\nwant:\n%s\n", q, got, want);
    assert_string_equal(got, want);
    free(got);
}

static void test_short_stays_whole(void **state)
{
    (void)state;
    expect("sum(rate(x[5m]))", "sum(rate(x[5m]))");
    expect("sum by(job)(rate(x[5m])) / 2", "sum by (job) (rate(x[5m])) / 2");
    expect("x[1h:5m]", "x[1h:5m]");
    expect(LHS, LHS); /* a selector never splits, whatever its length */
}

static void test_binary(void **state)
{
    (void)state;
    expect(LHS " / ignoring(instance) " RHS, "  " LHS "\n/ ignoring (instance)\n  " RHS);
    expect(LHS " > bool " RHS, "  " LHS "\n> bool\n  " RHS);
}

static void test_aggregate_and_param(void **state)
{
    (void)state;
    expect("sum by (job) (" LHS " / " RHS ")", "sum by (job) (\n    " LHS "\n  /\n    " RHS "\n)");
    expect("topk(5, " LHS " / " RHS ")", "topk(\n  5,\n    " LHS "\n  /\n    " RHS "\n)");
}

static void test_call_paren_subquery_unary(void **state)
{
    (void)state;
    expect("label_replace(" LHS ", \"dst\", \"$1\", \"src\", \"(.*)\")",
           "label_replace(\n  " LHS ",\n  \"dst\",\n  \"$1\",\n  \"src\",\n  \"(.*)\"\n)");
    expect("max_over_time((" LHS " / " RHS ")[1h:5m])",
           "max_over_time(\n  (\n      " LHS "\n    /\n      " RHS "\n  )[1h:5m]\n)");
    expect("-(" LHS " / " RHS ")", "-(\n    " LHS "\n  /\n    " RHS "\n)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_stays_whole),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_aggregate_and_param),
        cmocka_unit_test(test_call_paren_subquery_unary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
