/* Loki patterns (`| pattern "<ip> - <_> <status>"` and the |> / !> line filters): literal text
 * and captures `<name>` (name = [A-Za-z_][A-Za-z0-9_]*; `<_>` captures nothing).
 *
 * Parsing rules (Loki's pattern package): a parser stage needs at least one named capture, no two
 * captures in a row and unique names; a line filter pattern may be empty, must not contain named
 * captures and no two captures in a row.
 *
 * Matching: the first node, when literal, must be a prefix of the line; then each capture takes
 * the text up to the next occurrence of the following literal; a capture whose literal is missing
 * takes the rest of the line and matching stops there. A pattern is immutable once parsed. */
#ifndef STRATA_ENGINE_LOGQL_PATTERN_H
#define STRATA_ENGINE_LOGQL_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "base/str.h"

struct logql_pattern_node {
    bool capture;
    struct str text; /* literal bytes, or the capture name ("_" for unnamed) */
};

struct logql_pattern {
    struct logql_pattern_node *nodes;
    size_t n_nodes;
    size_t n_named; /* named captures, in node order */
};

/* line_filter selects the |> rules. The pattern is allocated in the arena. Returns 0 or
 * ERR_INVALID (message in err), ERR_NOMEM. */
int logql_pattern_parse(struct arena *a, struct str src, bool line_filter,
                        struct logql_pattern **out, char *err, size_t err_size);

/* Matches line; captures[i] receives the text of the i-th named capture (at most max_caps).
 * Returns how many named captures were filled, which may be fewer than n_named when the line
 * ends early; 0 when the line does not match at all. */
size_t logql_pattern_extract(const struct logql_pattern *p, struct str line, struct str *captures,
                             size_t max_caps);

/* Line filter semantics of |>: true when the whole pattern matches the line. */
bool logql_pattern_matches(const struct logql_pattern *p, struct str line);

#endif
