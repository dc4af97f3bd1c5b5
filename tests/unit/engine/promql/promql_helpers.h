/* Helpers shared by the PromQL unit tests: parse-and-print and parse-and-fail with cmocka
 * assertions. Header-only (each test executable includes it once). */
#ifndef STRATA_TESTS_UNIT_ENGINE_PROMQL_HELPERS_H
#define STRATA_TESTS_UNIT_ENGINE_PROMQL_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"
#include "engine/promql/parse.h"
#include "engine/promql/print.h"

/* Parses q (which must succeed) and returns the AST. */
static inline struct promql_ast *parse_ok(const char *q)
{
    struct promql_ast *ast = NULL;
    struct promql_error err;
    int rc = promql_parse(q, strlen(q), NULL, &ast, &err);
    if (rc != 0) {
        char m[700];
        promql_error_format(&err, q, strlen(q), m, sizeof m);
        print_error("query %s failed to parse: %s\n", q, m);
        fail();
    }
    return ast;
}

/* Returns print(parse(q)) as a malloc'd string. */
static inline char *print_of(const char *q)
{
    struct promql_ast *ast = parse_ok(q);
    struct buf b = BUF_INIT;
    assert_int_equal(promql_print(ast->root, &b), 0);
    assert_int_equal(buf_cstr(&b), 0);
    promql_ast_destroy(ast);
    size_t n;
    return (char *)buf_steal(&b, &n);
}

static inline void expect_print(const char *q, const char *want)
{
    char *got = print_of(q);
    if (strcmp(got, want) != 0) {
        print_error("print(parse(%s)):\n  want %s\n  got  %s\n", q, want, got);
        free(got);
        fail();
    }
    free(got);
}

/* Parses q with opts (NULL: all features), which must fail with the full formatted message. */
static inline void expect_error_opts(const char *q, const struct promql_parse_opts *opts,
                                     const char *want)
{
    struct promql_ast *ast = NULL;
    struct promql_error err;
    int rc = promql_parse(q, strlen(q), opts, &ast, &err);
    if (rc == 0) {
        print_error("query %s parsed but should fail with %s\n", q, want);
        promql_ast_destroy(ast);
        fail();
    }
    assert_int_equal(rc, ERR_INVALID);
    assert_null(ast);
    char m[700];
    promql_error_format(&err, q, strlen(q), m, sizeof m);
    if (strcmp(m, want) != 0) {
        print_error("query %s:\n  want %s\n  got  %s\n", q, want, m);
        fail();
    }
}

static inline void expect_error(const char *q, const char *want)
{
    expect_error_opts(q, NULL, want);
}

#endif
