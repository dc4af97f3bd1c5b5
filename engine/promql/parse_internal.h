/* Internal to engine/promql: the parser state shared by parse.c (syntax) and check.c (the
 * parse-time type checks), and the error helpers. Errors unwind with longjmp to promql_parse;
 * everything allocated before is owned by the AST (arena, selector chain) so nothing leaks. */
#ifndef STRATA_ENGINE_PROMQL_PARSE_INTERNAL_H
#define STRATA_ENGINE_PROMQL_PARSE_INTERNAL_H

#include <setjmp.h>

#include "engine/promql/lex.h"
#include "engine/promql/parse.h"

/* Where a syntax error is reported from: Prometheus's grammar has error rules for these
 * constructs, and an error anywhere inside names the innermost one. */
struct promql_err_ctx {
    const char *context;  /* "aggregation", "offset", ... or NULL at top level */
    const char *expected; /* what was expected, or NULL */
};

struct promql_parser {
    const char *in;
    uint32_t len;
    struct promql_lexer lex;
    struct promql_token tok[2]; /* lookahead, comments skipped */
    int ntok;
    uint32_t last_end; /* end of the last consumed token */
    struct promql_ast *ast;
    const struct promql_parse_opts *opts;
    struct promql_error *err;
    int rc;
    jmp_buf jmp;
    struct promql_err_ctx ctx;
    uint32_t depth;
};

/* Fails with a message. Besides %s (C string) and %d (int), the format knows %q: a Go-quoted
 * string taking (const char *, size_t), and %f: a float64 as Go's %f prints it (+Inf, NaN). */
_Noreturn void promql_failf(struct promql_parser *p, uint32_t start, uint32_t end, const char *fmt,
                            ...);
_Noreturn void promql_fail_nomem(struct promql_parser *p);

/* The parse-time semantic checks (Prometheus's checkAST) over the whole tree. */
void promql_check(struct promql_parser *p, struct promql_node *root);

#endif
