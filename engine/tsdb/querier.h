/* The storage interface of the query engines (PromQL) over one shard's metrics TSDB: select
 * series by matchers and time range from the head and every block overlapping the range, merged
 * into one chunk series set (engine/tsdb/merge.h: equal label sets become one series, chunks
 * sorted by mint); label names and values merged and sorted; and a sample iterator that walks a
 * series' chunks as one time-ordered stream.
 *
 * Tenancy: the tenant is the label __tenant__; the caller adds a matcher for it and strips it from
 * what it returns (these functions treat it like any other label).
 *
 * Lifetime: a set holds a reference on every block it reads, so blocks replaced by compaction or
 * deleted by retention meanwhile stay readable until it is closed; it also reads the head, so every
 * set must be closed before tsdb_close. What a set's _at() returns is valid until its next
 * _next()/_close().
 *
 * Threading: the shard thread that owns the tsdb creates, iterates and closes the sets (the head
 * is not thread-safe). A sample iterator belongs to one thread. */
#ifndef STRATA_ENGINE_TSDB_QUERIER_H
#define STRATA_ENGINE_TSDB_QUERIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"
#include "engine/index/matcher.h"
#include "engine/tsdb/series_set.h"
#include "engine/tsdb/tsdb.h"
#include "formats/floatpack.h"
#include "formats/gorilla.h"

struct querier_hints {
    int64_t step_ms;  /* evaluation step (0: instant query); informational */
    int64_t range_ms; /* range of the enclosing range selector; informational */
    const char *func; /* enclosing function ("rate"), NULL when none; informational */
    bool series_only; /* labels only (the series API): every series comes without chunks */
};

/* Series matching all matchers (n >= 1; Prometheus rules: an empty-matching matcher also selects
 * series without the label) with data in [mint_ms, maxt_ms] (both inclusive), sorted by label
 * set, each with its chunks overlapping the range in ascending mint order; on equal timestamps in
 * overlapping chunks the first chunk listed is authoritative (older blocks first, the head last).
 * hints may be NULL. Returns 0 with *out, ERR_INVALID (n == 0), ERR_NOMEM, or a block's error
 * (ERR_CORRUPT: the block is reported for quarantine at the next tsdb_tick). Errors while
 * iterating come from chunk_series_set_next. */
int querier_select(struct tsdb *t, const struct matcher *ms, size_t n, int64_t mint_ms,
                   int64_t maxt_ms, const struct querier_hints *hints,
                   struct chunk_series_set **out);

/* A sorted list of unique strings in one allocation (free it with querier_strings_free). */
struct querier_strings {
    struct str *v;
    size_t n;
};

/* Label names of the series matching ms (n may be 0: every series) with data in [mint_ms,
 * maxt_ms] (blocks: those overlapping the range), merged across head and blocks, sorted, unique.
 * Returns 0, ERR_NOMEM, or a block's error. */
int querier_label_names(struct tsdb *t, const struct matcher *ms, size_t n, int64_t mint_ms,
                        int64_t maxt_ms, struct querier_strings *out);
/* Values of label `name` among those series; same rules. */
int querier_label_values(struct tsdb *t, struct str name, const struct matcher *ms, size_t n,
                         int64_t mint_ms, int64_t maxt_ms, struct querier_strings *out);
void querier_strings_free(struct querier_strings *s);

/* ---- samples of one series ---- */

#define QUERIER_ITER_INLINE 4

struct querier_chunk_it {
    union {
        struct gorilla_iter it;   /* CHUNK_XOR */
        struct floatpack_iter pk; /* CHUNK_PACKED */
    };
    size_t idx; /* index of its chunk: a smaller one wins an equal timestamp */
    uint8_t enc;
};

/* Walks the chunks of a chunk series (ascending mint, possibly overlapping) as one stream of
 * strictly increasing timestamps: overlapping chunks are merged and of several samples with one
 * timestamp the one in the first-listed chunk is kept. Chunks are decoded lazily, only when the
 * stream reaches their mint. Borrows the chunk array and bytes (valid until the set's next
 * _next()). Native histogram chunks are skipped (float samples only). Errors: ERR_UNSUPPORTED (a
 * chunk that is not XOR, PACKED or a histogram chunk), ERR_CORRUPT /
 * ERR_TRUNCATED (bad chunk bytes; every sample before the error is yielded first), ERR_NOMEM. */
struct querier_sample_iter {
    const struct chunk_meta *chunks;
    size_t n_chunks;
    size_t next_chunk;            /* first chunk not yet started */
    struct querier_chunk_it *act; /* started chunks, each on a sample not yet returned */
    size_t n_act, cap_act;
    int64_t last_t; /* timestamp of the last sample returned (INT64_MIN: none) */
    int64_t t;
    uint64_t v;
    bool have;
    int err;
    struct querier_chunk_it inline_act[QUERIER_ITER_INLINE];
};

void querier_sample_iter_init(struct querier_sample_iter *it, const struct chunk_series *s);
/* Same over a bare chunk array. */
void querier_sample_iter_init_chunks(struct querier_sample_iter *it,
                                     const struct chunk_meta *chunks, size_t n);
void querier_sample_iter_deinit(struct querier_sample_iter *it);
/* 1 = positioned on the next sample, 0 = end, negative = error (sticky). */
int querier_sample_iter_next(struct querier_sample_iter *it);
/* Advances to the first sample with timestamp >= t_ms; stays put when the current sample already
 * qualifies (never moves backwards). Same returns as _next. */
int querier_sample_iter_seek(struct querier_sample_iter *it, int64_t t_ms);
/* The current sample (after _next/_seek returned 1); the value as its exact bits. */
static inline void querier_sample_iter_at(const struct querier_sample_iter *it, int64_t *t_ms,
                                          uint64_t *v_bits)
{
    *t_ms = it->t;
    *v_bits = it->v;
}
static inline int querier_sample_iter_err(const struct querier_sample_iter *it)
{
    return it->err;
}

#endif
