/* PromQL printer: the canonical one-line form of an AST exactly as Prometheus 3.x's Expr.String()
 * writes it (used by /api/v1/format_query and in messages), plus the number and duration
 * formatters it relies on. Printing a parsed query and parsing the result gives the same AST
 * and the same printed form. Thread-safe (reads the AST only). */
#ifndef STRATA_ENGINE_PROMQL_PRINT_H
#define STRATA_ENGINE_PROMQL_PRINT_H

#include <stdint.h>

#include "base/buf.h"
#include "engine/promql/ast.h"

/* Appends the canonical form of n to b. Returns 0 or ERR_NOMEM. */
int promql_print(const struct promql_node *n, struct buf *b);

/* Go's strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, never an exponent;
 * "+Inf", "-Inf", "NaN". */
int promql_format_float(struct buf *b, double v);
/* Go's fmt %v of a float64 (shortest 'g': "1e+06" when the exponent is < -4 or >= 6), as
 * Prometheus prints fill values. */
int promql_format_float_v(struct buf *b, double v);
/* Prometheus's model.Duration String(): "1h30m", "90d", "1y", "500ms", "0s"; negative with "-". */
int promql_format_duration(struct buf *b, int64_t ms);

#endif
