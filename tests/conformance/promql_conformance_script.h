/* PromQL conformance runner internals: the `.test` script model (series descriptions, value
 * sequences, eval expectations) shared by the parser (promql_conformance_parse.c) and the
 * executor (promql_conformance.c). Format: ../shared/conformance/promql/FORMAT.md. */
#ifndef STRATA_TESTS_CONFORMANCE_PROMQL_SCRIPT_H
#define STRATA_TESTS_CONFORMANCE_PROMQL_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/str.h"
#include "engine/logql/regex.h"
#include "engine/promql/value.h"

enum sv_kind { SV_OMIT, SV_FLOAT, SV_HIST };

struct seqval {
    enum sv_kind kind;
    double f; /* SV_FLOAT (the stale marker keeps its bits) */
    struct promql_hist *h;
    bool hint_set; /* the histogram spelled counter_reset_hint */
};

struct series_desc {
    struct label *labels;
    size_t nlabels;
    struct seqval *vals;
    size_t nvals;
};

/* Parses `name{l="v", ...} values...` (or only the labels when vals is NULL). Returns NULL on
 * success or an error message (static or arena). */
const char *script_parse_series(struct arena *a, const char *line, struct series_desc *out,
                                bool with_values);
/* A start-timestamp sequence (`-30s-1mx2 _ 0`): values are millisecond offsets. */
const char *script_parse_st(struct arena *a, const char *s, struct series_desc *out);
/* model.ParseDuration: 1h30m, 0, 5m1ms. */
bool script_parse_duration(const char *s, size_t n, int64_t *ms);
/* Go's parseNumber: integer (0x, 0o, 0b prefixes too) or strconv.ParseFloat. */
bool script_parse_number(const char *s, double *out);

#endif
