/* JSON extraction paths of `| json name="expr"` with Loki's syntax: `a.b`, `a[0]`, `a["key"]`,
 * `[1].x`; fields are [A-Za-z_][A-Za-z0-9_]*, indexes are decimal integers, keys are
 * double-quoted (no escapes; a key ends at `"` or `]`). Whitespace between tokens is ignored.
 *
 * Parsed paths live in the caller's arena and are immutable. */
#ifndef STRATA_ENGINE_LOGQL_JSONPATH_H
#define STRATA_ENGINE_LOGQL_JSONPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/str.h"

struct logql_json_seg {
    bool is_index;
    int64_t index;  /* is_index */
    struct str key; /* field name or quoted key */
};

struct logql_json_path {
    struct logql_json_seg *segs;
    size_t n_segs;
};

/* Returns 0, ERR_INVALID with a message ("unexpected char -", "syntax error"...), ERR_NOMEM. */
int logql_json_path_parse(struct arena *a, struct str expr, struct logql_json_path **out, char *err,
                          size_t err_size);

#endif
