/* Native histograms from storage into the evaluator's value model: decodes a histogram chunk
 * (formats/histchunk.h, CHUNK_HISTOGRAM / CHUNK_FLOAT_HISTOGRAM) into struct promql_hist_sample
 * values (engine/promql/storage.h), and converts one storage histogram into a struct promql_hist.
 *
 * Memory: everything produced lives in the arena passed in (the query arena: the evaluator keeps
 * histogram pointers for the whole query). Errors: ERR_CORRUPT / ERR_TRUNCATED for chunk bytes
 * that do not decode (every sample before the error is still returned), ERR_NOMEM. Not
 * thread-safe; no global state. */
#ifndef STRATA_ENGINE_PROMQL_HIST_STORAGE_H
#define STRATA_ENGINE_PROMQL_HIST_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "engine/promql/storage.h"
#include "engine/promql/value.h"
#include "formats/histchunk.h"

/* A storage histogram as a float histogram value (dense bucket arrays, counts as float64; the
 * custom bounds are copied unless `custom` already holds equal ones, which are then shared).
 * NULL on ERR_NOMEM. */
struct promql_hist *promql_hist_from_storage(struct arena *a, const struct histchunk_hist *h,
                                             bool is_float, const double *custom);

/* Decodes the samples of a histogram chunk with mint_ms <= t <= maxt_ms into an array allocated
 * in a (*out, *n; ascending t). Returns 0 or an error (then *out / *n hold the samples decoded
 * before it). */
int promql_histchunk_decode(struct arena *a, const uint8_t *data, size_t len, int64_t mint_ms,
                            int64_t maxt_ms, struct promql_hist_sample **out, size_t *n);

#endif
