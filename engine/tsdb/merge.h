/* Merging chunk series sets, and re-encoding overlapping chunks.
 *
 * merge_set: a chunk series set over k sorted input sets (blocks, head, shards): series come out
 * in label-set order; a label set present in several inputs becomes one series whose chunks are
 * all inputs' chunks, sorted by mint (ties: the earlier input first). Inputs are listed from the
 * most to the least authoritative: on an equal timestamp the earlier input's sample wins. With
 * MERGE_REENCODE each series' overlapping chunks are re-encoded (merge_reenc) so that the output
 * chunks never overlap — what compaction writes. Without it chunks are passed through as they are.
 * Picking the smallest label set is a linear scan over the inputs (k is small: blocks of one
 * compaction, or shards).
 *
 * merge_reenc: turns one series' chunks (ascending mint, possibly overlapping) into
 * non-overlapping ones: a chunk that overlaps nothing is passed through untouched; each group of
 * transitively overlapping chunks is decoded, merged sample by sample keeping one sample per
 * timestamp (the winner by priority), and cut into Gorilla XOR chunks of at most
 * MERGE_CHUNK_SAMPLES samples. A group that holds a native histogram chunk is passed through
 * as it is (histogram chunks are not re-encoded; its chunks may still overlap).
 *
 * Lifetime: what the merged set's _at() returns is valid until its next _next()/_close(); it
 * points into the inputs' data (passed-through chunks) and the set's own buffers (re-encoded ones).
 * Errors: the first negative code of an input (the set then stops and keeps it in _err());
 * ERR_UNSUPPORTED when overlapping chunks are not all XOR or PACKED; ERR_CORRUPT/ERR_TRUNCATED for
 * chunk bytes that do not decode; ERR_NOMEM. Single-threaded. */
#ifndef STRATA_ENGINE_TSDB_MERGE_H
#define STRATA_ENGINE_TSDB_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "engine/tsdb/series_set.h"
#include "formats/gorilla.h"

#define MERGE_REENCODE      1u
#define MERGE_CHUNK_SAMPLES 120

/* Takes ownership of inputs[0..n) (closed with the merged set, or at once on failure); the
 * array itself is copied. n may be 0 (an empty set). */
int merge_set_create(struct chunk_series_set **inputs, size_t n, unsigned flags,
                     struct chunk_series_set **out);

struct merge_reenc {
    struct buf data; /* bytes of re-encoded chunks */
    struct chunk_meta *out;
    uint8_t *owned; /* out[i] lives in data (its data field holds an offset until the run ends) */
    size_t n_out, cap_out, cap_owned;
    struct gorilla_iter *its;
    uint8_t *live;
    size_t cap_its, cap_live;
    struct gorilla_enc enc;
    struct buf xdata; /* CHUNK_PACKED inputs of a group re-encoded as XOR, to merge them */
    size_t *xspan;    /* per input: offset and length in xdata */
    size_t cap_xspan;
};

void merge_reenc_init(struct merge_reenc *r);
void merge_reenc_deinit(struct merge_reenc *r);
/* Re-encodes in[0..n) (ascending mint_ms). On an equal timestamp the chunk with the smaller
 * prio[i] wins, then the one listed first (prio may be NULL: list order). The output array is
 * valid until the next run or deinit. */
int merge_reenc_run(struct merge_reenc *r, const struct chunk_meta *in, const uint32_t *prio,
                    size_t n, const struct chunk_meta **out, size_t *n_out);

#endif
