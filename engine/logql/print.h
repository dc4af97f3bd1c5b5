/* Canonical text of a parsed LogQL query, following Loki's String() methods: used by the
 * format_query API and in error messages. Examples:
 *   {app="a"} |= "x" | json | level="error"
 *   sum by (app)(count_over_time({app="a"}[5m]))
 *   (sum(rate({app="a"}[1m])) > bool on (pod) group_left (team) 1)
 * Deviations from Loki, chosen so that the output always parses back to the same query: no
 * double space in binary operators, `ignoring ()` is kept when a group modifier follows, regex
 * label filters print as written, byte sizes of an exabyte and more print in bytes (zero as
 * "0.0B", negative zero as -0.0), a name such as `!` is followed by a space, and a
 * negative `or` line filter prints as Loki's expanded form (`!= "a" != "b"`).
 *
 * Functions append to `out` and return 0 or ERR_NOMEM. */
#ifndef STRATA_ENGINE_LOGQL_PRINT_H
#define STRATA_ENGINE_LOGQL_PRINT_H

#include "base/buf.h"
#include "engine/logql/ast.h"

int logql_print(const struct logql_expr *e, struct buf *out);
int logql_print_stage(const struct logql_stage *st, struct buf *out);
/* A stream selector and its stages: {a="b"} |= "x" | json */
int logql_print_selector(const struct logql_selector *sel, struct buf *out);
int logql_print_label_filter(const struct logql_label_filter *f, struct buf *out);

#endif
