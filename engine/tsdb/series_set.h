/* The one interface every metrics storage component speaks: a CHUNK SERIES SET, i.e. an iterator
 * over series sorted by label set (str_cmp on name, then value, label by label; a shorter set that
 * is a prefix sorts first), each with its chunks in ascending mint order. The head, block readers,
 * the compactor (merging sets into a new block), the block writer (consuming a set) and the query
 * path (PromQL selects through a set) all produce or consume this.
 *
 * Chunks of one series may overlap in time (out-of-order data, or the same series in two blocks);
 * consumers that need samples merge overlapping chunks and drop duplicate timestamps (the first
 * chunk in the list wins for an equal timestamp — producers list the authoritative chunk first).
 *
 * Lifetime: what _at() returns (labels, chunk descriptors, chunk bytes) stays valid until the next
 * _next() or _close() on the same set. A consumer that keeps data longer copies it. Sets are
 * single-threaded: created, iterated and closed on one shard.
 *
 * Errors: _next() returns 1 (positioned on a series), 0 (end) or a negative code (ERR_CORRUPT when
 * a block's bytes are bad — the producer also reports the block for quarantine; ERR_NOMEM; -errno);
 * after a negative return the set is done and _err() keeps the code. */
#ifndef STRATA_ENGINE_TSDB_SERIES_SET_H
#define STRATA_ENGINE_TSDB_SERIES_SET_H

#include <stddef.h>
#include <stdint.h>

#include "base/str.h"

enum chunk_encoding {
    CHUNK_XOR = 1,       /* formats/gorilla.h: float samples */
    CHUNK_HISTOGRAM = 2, /* native histograms (integer) */
    CHUNK_FLOAT_HISTOGRAM = 3,
    CHUNK_LOG = 4,    /* engine/logs/logblock.h: a log chunk in its block envelope */
    CHUNK_PACKED = 5, /* formats/floatpack.h: float samples, compact (blocks only) */
};

struct chunk_meta {
    int64_t mint_ms; /* first sample's timestamp */
    int64_t maxt_ms; /* last sample's timestamp (inclusive) */
    uint32_t samples;
    uint8_t encoding; /* enum chunk_encoding */
    const uint8_t *data;
    size_t len;
};

struct chunk_series {
    const struct label *labels; /* sorted by name, unique names */
    size_t n_labels;
    const struct chunk_meta *chunks; /* ascending mint_ms */
    size_t n_chunks;
};

struct chunk_series_set;

struct chunk_series_set_ops {
    int (*next)(struct chunk_series_set *s);
    const struct chunk_series *(*at)(struct chunk_series_set *s);
    void (*close)(struct chunk_series_set *s); /* frees the set itself too */
};

struct chunk_series_set {
    const struct chunk_series_set_ops *ops;
    int err;
};

static inline int chunk_series_set_next(struct chunk_series_set *s)
{
    return s->ops->next(s);
}
static inline const struct chunk_series *chunk_series_set_at(struct chunk_series_set *s)
{
    return s->ops->at(s);
}
static inline int chunk_series_set_err(const struct chunk_series_set *s)
{
    return s->err;
}
static inline void chunk_series_set_close(struct chunk_series_set *s)
{
    if (s)
        s->ops->close(s);
}

/* Compares two sorted label sets in series-set order. */
int labels_cmp(const struct label *a, size_t na, const struct label *b, size_t nb);

#endif
