/* Per-shard in-memory exemplar storage, after Prometheus's circular exemplar storage
 * (--storage.exemplars.exemplars-limit): a ring of at most `max` exemplars shared by every series
 * of the shard, the oldest overwritten first. Each exemplar belongs to a head series (id and
 * label-set hash: a reader that finds the id reused by another label set drops it) and carries
 * its own small label set (trace id, ...), a value and a timestamp.
 *
 * Append rules (Prometheus's): an exemplar identical to the series' newest one (timestamp, value
 * bits, labels) is a duplicate (dropped, not an error); one older than the series' newest is out
 * of order (ERR_ORDER); a label set longer than 128 UTF-8 characters (names and values together)
 * or with more than EXEMPLARS_LABELS_MAX labels is ERR_INVALID. The storage is filled by the
 * ingest path (logged to the WAL as EXEMPLARS records first) and by WAL replay.
 *
 * Memory: about 64 bytes per slot plus each exemplar's label bytes, and a small per-series index.
 * Ownership: labels passed in are copied; what the visitor sees is valid during the call only.
 * Threading: one owner (the shard thread). Errors: negative codes from base/error.h. */
#ifndef STRATA_ENGINE_TSDB_EXEMPLARS_H
#define STRATA_ENGINE_TSDB_EXEMPLARS_H

#include <stddef.h>
#include <stdint.h>

#include "base/str.h"

#define EXEMPLARS_DEFAULT_MAX     100000u
#define EXEMPLARS_LABELS_MAX      32u
#define EXEMPLARS_LABEL_RUNES_MAX 128u

struct exemplar_in {
    int64_t ts_ms;
    uint64_t value_bits; /* float64 bits */
    const struct label *labels;
    size_t n_labels;
};

struct exemplars;

/* max 0: storage disabled (every add is dropped with ERR_LIMIT). Returns 0 or ERR_NOMEM. */
int exemplars_create(uint32_t max, struct exemplars **out);
void exemplars_destroy(struct exemplars *e);

/* Adds one exemplar of series (id, hash). Returns 1 (stored), 0 (duplicate), ERR_ORDER,
 * ERR_INVALID, ERR_LIMIT (disabled) or ERR_NOMEM. */
int exemplars_add(struct exemplars *e, uint32_t series_id, uint64_t series_hash,
                  const struct exemplar_in *x);

/* Calls fn for every stored exemplar with mint_ms <= ts <= maxt_ms, oldest first. fn returning
 * non-zero stops the walk and is returned. */
typedef int (*exemplars_visit_fn)(void *arg, uint32_t series_id, uint64_t series_hash,
                                  const struct exemplar_in *x);
int exemplars_query(const struct exemplars *e, int64_t mint_ms, int64_t maxt_ms,
                    exemplars_visit_fn fn, void *arg);

/* Exemplars stored now, and the ring size. */
size_t exemplars_count(const struct exemplars *e);
size_t exemplars_max(const struct exemplars *e);

#endif
