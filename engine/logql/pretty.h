/* Pretty printing of a parsed LogQL query, following Loki's syntax.Prettify (pkg/logql/syntax/
 * prettier.go), as the format_query API answers it. An expression whose canonical text
 * (print.h) fits in LOGQL_PRETTY_LINE_MAX bytes stays on one line; a longer one is split, two
 * spaces of indent per level:
 *   - a log selector: the matchers, then each stage one level deeper (a run of line filters is
 *     one stage, split again filter by filter while too long);
 *   - a range aggregation: `op(`, its parameter, the selector (an unwrap one level deeper) with
 *     ` [range]` and ` offset d`, then `)` and its grouping `by (a, b)`;
 *   - a vector aggregation: `op by (a, b)(`, its k, the argument, `)`;
 *   - a binary operation: left side, the operator with its bool/on/ignoring/group modifiers on
 *     its own line (without parentheses, as Loki), right side;
 *   - label_replace: the argument and its four quoted strings, one per line.
 * Deviations from Loki, where its output would not mean the same query: a split `or` line filter
 * keeps its `or` terms, `on ()` and a group modifier with empty matching labels are kept, an
 * empty `without ()` keeps its parentheses, and so does a range aggregation's `by ()`.
 *
 * Appends to `out`; returns 0 or ERR_NOMEM. Pure and thread-safe. */
#ifndef STRATA_ENGINE_LOGQL_PRETTY_H
#define STRATA_ENGINE_LOGQL_PRETTY_H

#include "base/buf.h"
#include "engine/logql/ast.h"

#define LOGQL_PRETTY_LINE_MAX 100 /* Loki's MaxCharsPerLine */

int logql_pretty(const struct logql_expr *e, struct buf *out);

#endif
