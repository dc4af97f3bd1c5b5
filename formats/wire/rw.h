/* Prometheus remote write 1.0 and 2.0 bodies: decode (an UNCOMPRESSED protobuf body; snappy is the
 * server's job) with size and memory limits, validate what the contract demands
 * (shared/spec/api-contract.md §1.2, §1.4), and encode (tests, load generator, fuzz seeds).
 *
 * Validation (both versions), failing with ERR_INVALID and a message naming the first bad series:
 *   - every series has at least one label; label names are non-empty, strictly increasing
 *     (byte-wise, so sorted and unique); values may be empty (empty = absent, as in Prometheus);
 *   - exemplar label sets follow the same rules but may be empty;
 *   - native histograms: the buckets described by the spans match the number of deltas (integer
 *     histogram) or counts (float histogram) on each side, and only the first span of a side may
 *     have a negative offset.
 * RW 2.0 additionally: symbols[0] is "" (when there are symbols), labels_refs has even length,
 * every ref (labels, exemplars, metadata help/unit) indexes the symbols table, and a series carries
 * samples or histograms, not both.
 * Not checked here (engine's job): metric/label name charset, sample order, limits on counts.
 *
 * Ownership and errors: see formats/wire/wire.h. Thread-safety: as the decoder passed in. */
#ifndef STRATA_FORMATS_WIRE_RW_H
#define STRATA_FORMATS_WIRE_RW_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"
#include "formats/wire/remote_v1.pb-c.h"
#include "formats/wire/remote_v2.pb-c.h"
#include "formats/wire/wire.h"

typedef Prometheus__WriteRequest rw1_request;
typedef Prometheus__TimeSeries rw1_series;
typedef Io__Prometheus__Write__V2__Request rw2_request;
typedef Io__Prometheus__Write__V2__TimeSeries rw2_series;

/* Decode + validate. On success *out points into the decoder's arena (see wire.h). */
int rw1_decode(struct wire_decoder *d, const uint8_t *body, size_t n, const rw1_request **out);
int rw2_decode(struct wire_decoder *d, const uint8_t *body, size_t n, const rw2_request **out);

/* Validation alone (rw*_decode runs it). Returns 0, or ERR_INVALID with the reason in err. */
int rw1_validate(const rw1_request *req, char *err, size_t err_size);
int rw2_validate(const rw2_request *req, char *err, size_t err_size);

/* Label accessors for validated messages. *_series_labels fill out[0..min(n, cap)) with borrowed
 * strings and return n, the series' label count. rw2_symbol ASSERTs ref < n_symbols. */
size_t rw1_series_labels(const rw1_series *ts, struct label *out, size_t cap);
size_t rw2_series_labels(const rw2_request *req, const rw2_series *ts, struct label *out,
                         size_t cap);
struct str rw2_symbol(const rw2_request *req, uint32_t ref);

/* ---- encoding ---- */

struct rw_sample {
    int64_t ts_ms;
    double value;
};

/* One series for the simple encoders: labels must already be sorted; samples in time order. */
struct rw_series {
    const struct label *labels;
    size_t n_labels;
    const struct rw_sample *samples;
    size_t n_samples;
};

/* Append a whole WriteRequest (v1) or Request (v2, with an interned symbols table whose entry 0
 * is "") holding `n` series to out. Returns 0 or ERR_NOMEM. The bytes are uncompressed. */
int rw1_encode(const struct rw_series *series, size_t n, struct buf *out);
int rw2_encode(const struct rw_series *series, size_t n, struct buf *out);

/* Packs a hand-built message (for tests that need histograms, exemplars, metadata or invalid
 * content). Returns 0 or ERR_NOMEM. */
int rw1_pack(const rw1_request *req, struct buf *out);
int rw2_pack(const rw2_request *req, struct buf *out);

#endif
