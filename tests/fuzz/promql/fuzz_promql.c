/* Fuzz target: PromQL parse -> print -> reparse. Input is the query text. Every query either
 * fails with a positioned error or parses; a parsed query is walked (duration expressions
 * evaluated, matchers run), printed, and the printed form must parse again and print to the same
 * string. The one tolerated reparse failure is Prometheus's own lossy printing of sub-millisecond
 * ranges ("x[1e-9]" prints "x[0s]"). The query is also parsed with every experimental feature off
 * to exercise those error paths. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "engine/promql/parse.h"
#include "engine/promql/print.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct promql_node *n)
{
    char err[128];
    int64_t ms;
    switch (n->kind) {
    case PROMQL_VECTOR_SELECTOR:
        for (uint32_t i = 0; i < n->vs.nmatchers; i++) {
            (void)matcher_matches(&n->vs.matchers[i], STR_LIT("value"));
            (void)matcher_matches_empty(&n->vs.matchers[i]);
        }
        if (n->vs.offset_expr)
            walk(n->vs.offset_expr);
        break;
    case PROMQL_MATRIX_SELECTOR:
        walk(n->ms.vs);
        if (n->ms.range_expr)
            walk(n->ms.range_expr);
        break;
    case PROMQL_SUBQUERY:
        walk(n->sq.expr);
        if (n->sq.range_expr)
            walk(n->sq.range_expr);
        if (n->sq.step_expr)
            walk(n->sq.step_expr);
        if (n->sq.offset_expr)
            walk(n->sq.offset_expr);
        break;
    case PROMQL_CALL:
        for (uint32_t i = 0; i < n->call.nargs; i++)
            walk(n->call.args[i]);
        break;
    case PROMQL_AGGREGATE:
        walk(n->agg.expr);
        if (n->agg.param)
            walk(n->agg.param);
        break;
    case PROMQL_BINARY:
        walk(n->bin.lhs);
        walk(n->bin.rhs);
        break;
    case PROMQL_UNARY: walk(n->unary.expr); break;
    case PROMQL_PAREN: walk(n->paren); break;
    case PROMQL_DURATION_EXPR:
        (void)promql_duration_eval(n, 15000, 3600000, true, &ms, err, sizeof err);
        (void)promql_duration_eval(n, 0, 0, false, &ms, err, sizeof err);
        break;
    default: break;
    }
}

static void check_error(const struct promql_error *e, const char *q, size_t n)
{
    char msg[800];
    if (e->pos_start > e->pos_end || e->pos_end > n || e->msg[0] == 0)
        __builtin_trap();
    promql_error_format(e, q, n, msg, sizeof msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *q = (const char *)data;
    struct promql_ast *ast, *again;
    struct promql_error err;
    const struct promql_parse_opts none = {false, false, false, false};
    if (promql_parse(q, size, &none, &ast, &err) == 0)
        promql_ast_destroy(ast);
    else
        check_error(&err, q, size);
    if (promql_parse(q, size, NULL, &ast, &err) != 0) {
        check_error(&err, q, size);
        return 0;
    }
    walk(ast->root);
    struct buf s1 = BUF_INIT, s2 = BUF_INIT;
    if (promql_print(ast->root, &s1) != 0)
        __builtin_trap();
    int rc = promql_parse((const char *)s1.data, s1.len, NULL, &again, &err);
    if (rc != 0) {
        if (strcmp(err.msg, "duration must be greater than 0") != 0) {
            fprintf(stderr, "reparse failed: %.*s\n  printed: %.*s\n  error: %s\n", (int)size, q,
                    (int)s1.len, (const char *)s1.data, err.msg);
            __builtin_trap();
        }
    } else {
        if (promql_print(again->root, &s2) != 0)
            __builtin_trap();
        if (s1.len != s2.len || memcmp(s1.data, s2.data, s1.len) != 0) {
            fprintf(stderr, "print not stable: %.*s\n  1: %.*s\n  2: %.*s\n", (int)size, q,
                    (int)s1.len, (const char *)s1.data, (int)s2.len, (const char *)s2.data);
            __builtin_trap();
        }
        if (again->root->type != ast->root->type)
            __builtin_trap();
        promql_ast_destroy(again);
    }
    buf_deinit(&s1);
    buf_deinit(&s2);
    promql_ast_destroy(ast);
    return 0;
}
