/* PromQL parser (Prometheus 3.x grammar, hand-written recursive descent with precedence
 * climbing) and its parse-time semantic checks (value types of function arguments, aggregation
 * parameters, binary operands, matching modifiers, selectors), with Prometheus's error messages
 * and positions: "1:5: parse error: unexpected <op:+>".
 *
 * Thread-safe: no global state; each call builds its own AST. Work is linear in the query length
 * (plus regex compilation of matchers); nesting deeper than PROMQL_DEPTH_MAX is a parse error. */
#ifndef STRATA_ENGINE_PROMQL_PARSE_H
#define STRATA_ENGINE_PROMQL_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/promql/ast.h"

/* Experimental syntax switches (Prometheus feature flags). promql_parse_opts_all enables all of
 * them, which is what strata serves and what the conformance suite assumes. */
struct promql_parse_opts {
    bool experimental_functions;   /* limitk, limit_ratio and the experimental functions */
    bool duration_expr;            /* [step()*2], offset (1m+1s), min_of/max_of */
    bool extended_range_selectors; /* anchored, smoothed */
    bool fill_modifiers;           /* fill(), fill_left(), fill_right() */
};

extern const struct promql_parse_opts promql_parse_opts_all;

/* A parse error: the first one Prometheus would report. */
struct promql_error {
    uint32_t pos_start, pos_end; /* byte offsets into the query */
    char msg[512];               /* without position, e.g. "unexpected <op:+>" */
};

/* Parses a query. On success returns 0 and *out (free with promql_ast_destroy). On a parse or
 * type error returns ERR_INVALID and fills *err; ERR_NOMEM on allocation failure. opts NULL means
 * promql_parse_opts_all. The query text may be freed after the call. */
int promql_parse(const char *query, size_t len, const struct promql_parse_opts *opts,
                 struct promql_ast **out, struct promql_error *err);

/* Formats err the way Prometheus prints a ParseErr: "<line>:<col>: parse error: <msg>", with
 * line and column 1-based and the column counted in bytes ("unknown position" for an empty
 * query). Returns the length snprintf would produce. */
int promql_error_format(const struct promql_error *err, const char *query, size_t len, char *out,
                        size_t out_size);

#endif
