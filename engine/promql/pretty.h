/* PromQL pretty printer: Prometheus 3.x's multi-line format (parser.Prettify, what
 * /api/v1/format_query answers). Nodes longer than 100 characters in their one-line form are
 * split over lines with two spaces of indentation per level; shorter ones stay on one line as
 * promql_print writes them. Thread-safe (reads the AST only). */
#ifndef STRATA_ENGINE_PROMQL_PRETTY_H
#define STRATA_ENGINE_PROMQL_PRETTY_H

#include "base/buf.h"
#include "engine/promql/ast.h"

/* Appends the pretty form of n to out. Returns 0 or ERR_NOMEM. */
int promql_prettify(const struct promql_node *n, struct buf *out);

#endif
