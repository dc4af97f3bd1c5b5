/* LogQL parser: query text -> validated, compiled AST (ast.h), following Loki 3.x.
 *
 * Everything Loki rejects before reading data is rejected here, both what syntax.ParseExpr
 * rejects (grammar; a selector needs a matcher that does not match ""; range aggregations that
 * need or forbid unwrap, a parameter or grouping; topk parameters; sort grouping; literal operands
 * of and/or/unless; invalid regexes in matchers, label_replace, `regexp` and `pattern` stages) and
 * what Loki only rejects while building the pipeline (invalid |~ regexes, invalid ip() patterns,
 * ip() with |~ !~ |> !>, named captures in |> patterns, unparsable line_format/label_format
 * templates, invalid json paths, label_format of __error__ or of the same label twice).
 *
 * Constant binary operations are folded into literals, as Loki does (`1 + 1` is the literal 2).
 *
 * logql_parse returns 0 and a new query (free it with logql_query_destroy), or ERR_INVALID with a
 * message in err (Loki's style: "parse error at line 1, col 5: syntax error: unexpected ...",
 * "parse error : queries require at least one regexp or equality matcher ..."), or ERR_NOMEM.
 * Thread-safe: no shared state. */
#ifndef STRATA_ENGINE_LOGQL_PARSE_H
#define STRATA_ENGINE_LOGQL_PARSE_H

#include <stddef.h>

#include "base/str.h"
#include "engine/logql/ast.h"

int logql_parse(struct str query, struct logql_query **out, char *err, size_t err_size);

#endif
