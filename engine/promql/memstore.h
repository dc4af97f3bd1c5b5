/* In-memory metrics storage behind struct promql_storage, for tests and the conformance runner:
 * series keyed by label set, samples appended in time order (floats, native histograms, start
 * timestamps), served as chunk series sets — floats Gorilla-encoded in chunks of at most 120
 * samples, histograms and start timestamps in the in-memory encodings of storage.h.
 *
 * Native histogram counter-reset hints are assigned the way Prometheus's TSDB head assigns them
 * when it cuts histogram chunks and reads them back: the first histogram of a series (or after
 * floats, a stale marker or a layout change) reads as "unknown" (or as given for "reset" and
 * "gauge"), one that shows a counter reset against its predecessor as "reset", every other
 * counter histogram as "not_reset", and gauge histograms as "gauge". A stale float appended
 * right after a histogram ends the histogram chunk as Prometheus's stale histogram would.
 *
 * Memory: the store owns copies of labels, histograms and chunk bytes until clear/destroy.
 * Chunk data handed out by a set stays valid until the next append, clear or destroy.
 * Not thread-safe. */
#ifndef STRATA_ENGINE_PROMQL_MEMSTORE_H
#define STRATA_ENGINE_PROMQL_MEMSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/promql/storage.h"

struct promql_memstore;

/* NULL on allocation failure. */
struct promql_memstore *promql_memstore_create(void);
void promql_memstore_destroy(struct promql_memstore *m);
/* Drops every series and sample. */
void promql_memstore_clear(struct promql_memstore *m);

/* Appends a sample to the series with labels ls (any order; empty values dropped). Timestamps
 * of one series must increase: an older one returns ERR_ORDER, an equal one is ignored when the
 * value is identical (bit for bit) and returns ERR_DUPLICATE otherwise. st is the start
 * timestamp (0: none). ERR_NOMEM on allocation failure. */
int promql_memstore_add_float(struct promql_memstore *m, const struct label *ls, size_t n,
                              int64_t t, double v, int64_t st);
/* Same for a native histogram (copied; its hint is the one the test input spelled, if any). */
int promql_memstore_add_hist(struct promql_memstore *m, const struct label *ls, size_t n, int64_t t,
                             const struct promql_hist *h, int64_t st);

size_t promql_memstore_series_count(const struct promql_memstore *m);
/* The storage view (valid while m lives). */
void promql_memstore_storage(struct promql_memstore *m, struct promql_storage *out);

#endif
