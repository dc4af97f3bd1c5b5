/* The storage interface of the PromQL evaluator: one call that selects series by label matchers
 * and time range and returns them as a chunk series set (engine/tsdb/series_set.h: series sorted
 * by label set, each with its chunks in ascending mint order, possibly overlapping; the evaluator
 * drops duplicate timestamps, the first-listed chunk winning). The TSDB querier
 * (engine/tsdb/querier.h) and the in-memory store (memstore.h) both plug in here.
 *
 * Chunk encodings the evaluator reads: CHUNK_XOR (formats/gorilla.h), CHUNK_PACKED
 * (formats/floatpack.h, in blocks) and two in-memory encodings defined here, for native
 * histograms and for start timestamps, whose `data` points at
 * arrays of the structs below (len = count * sizeof(struct)). Their pointers (histograms
 * included) must stay valid for the whole query, not only until the set's next _next(): the
 * evaluator keeps histogram pointers while it evaluates. Histograms are never modified by the
 * evaluator.
 *
 * Threading: a storage is used by one query at a time on one thread unless the implementation
 * says otherwise. Errors: select returns 0 or a negative code (base/error.h or -errno). */
#ifndef STRATA_ENGINE_PROMQL_STORAGE_H
#define STRATA_ENGINE_PROMQL_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/index/matcher.h"
#include "engine/promql/value.h"
#include "engine/tsdb/series_set.h"

/* chunk_meta.encoding of an array of struct promql_hist_sample (ascending t). */
#define PROMQL_CHUNK_HIST_MEM 0x80
/* chunk_meta.encoding of an array of struct promql_st_sample: start timestamps of the float
 * samples with those timestamps (in other chunks of the same series). */
#define PROMQL_CHUNK_ST_MEM 0x81

struct promql_hist_sample {
    int64_t t;
    int64_t st; /* start timestamp, 0 when unknown */
    const struct promql_hist *h;
};

struct promql_st_sample {
    int64_t t;
    int64_t st;
};

/* What the evaluator will do with a selection (informational, Prometheus's SelectHints). */
struct promql_select_hints {
    int64_t start_ms, end_ms; /* the selected range */
    int64_t step_ms;          /* evaluation step, 0 for instant queries */
    int64_t range_ms;         /* range of the enclosing range selector, 0 for instant */
    const char *func;         /* enclosing function or aggregation, NULL when none */
};

struct promql_storage {
    /* Series matching all n (>= 1) matchers with samples in [mint_ms, maxt_ms] (inclusive),
     * with their chunks overlapping that range. The caller closes *out. */
    int (*select)(void *ctx, const struct matcher *ms, size_t n, int64_t mint_ms, int64_t maxt_ms,
                  const struct promql_select_hints *hints, struct chunk_series_set **out);
    void *ctx;
};

#endif
