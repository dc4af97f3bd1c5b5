/* Native histogram chunk: (int64 ms timestamp, native histogram) samples, integer histograms
 * (CHUNK_HISTOGRAM) or float histograms (CHUNK_FLOAT_HISTOGRAM), lossless. Byte layout:
 * docs/formats/histchunk.md.
 *
 * A histogram is carried in the "storage" form: schema, zero threshold, zero count, count, sum,
 * the positive and negative spans, one ABSOLUTE count per bucket the spans describe, the counter
 * reset hint and, for schema -53 (custom buckets), the custom upper bounds. Counts are uint64
 * words: the count itself for an integer histogram, the IEEE-754 bits of the float64 for a float
 * histogram (histchunk_f64 converts). Floats (sum, zero threshold, float counts) round-trip bit for
 * bit, NaNs included.
 *
 * Writer: struct histchunk_enc appends samples in strictly increasing timestamp order; at every
 * moment its bytes are a complete chunk of the samples appended so far. The layout (schema, zero
 * threshold, spans, custom bounds) may change from one sample to the next: a sample whose layout
 * differs from its predecessor's carries the new layout, so no chunk is ever re-coded.
 *
 * Reader: struct histchunk_iter decodes any byte string, fully bounds-checked: it yields samples
 * and then the end (0) or an error (ERR_TRUNCATED, ERR_CORRUPT); it never asserts on bad bytes.
 * A histogram it yields passes histchunk_hist_check.
 *
 * Memory: the encoder owns its buffer and copies of the previous sample (malloc); the iterator owns
 * arrays the yielded histogram points into (valid until the next _next or _deinit) and borrows the
 * chunk bytes. Threading: none; one owner per object. */
#ifndef STRATA_FORMATS_HISTCHUNK_H
#define STRATA_FORMATS_HISTCHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/buf.h"

#define HISTCHUNK_SAMPLES_MAX   65535u
#define HISTCHUNK_HEADER_LEN    3u
#define HISTCHUNK_SCHEMA_MIN    (-4)
#define HISTCHUNK_SCHEMA_MAX    8
#define HISTCHUNK_SCHEMA_CUSTOM (-53)
/* Most spans, and most buckets, one side of a histogram may have (larger is invalid/corrupt). */
#define HISTCHUNK_SPANS_MAX   4096u
#define HISTCHUNK_BUCKETS_MAX 32768u
/* Widest range of bucket indexes one side may span (first to last populated index). */
#define HISTCHUNK_INDEX_RANGE_MAX (1u << 20)
/* Most custom bounds. */
#define HISTCHUNK_CUSTOM_MAX 4096u

/* Counter reset hints (values of Prometheus's CounterResetHint). */
enum histchunk_hint {
    HISTCHUNK_HINT_UNKNOWN = 0,
    HISTCHUNK_HINT_RESET = 1,
    HISTCHUNK_HINT_NOT_RESET = 2,
    HISTCHUNK_HINT_GAUGE = 3,
};

struct histchunk_span {
    int32_t offset; /* gap to the previous span's end (first span: the first bucket index) */
    uint32_t length;
};

struct histchunk_hist {
    int32_t schema;
    uint8_t hint; /* enum histchunk_hint */
    double zero_threshold;
    double sum;
    uint64_t count, zero_count; /* integer counts or float64 bits (see above) */
    const struct histchunk_span *pspans, *nspans;
    uint32_t n_pspans, n_nspans;
    const uint64_t *pbuckets, *nbuckets; /* absolute counts, one per described bucket */
    uint32_t n_pbuckets, n_nbuckets;
    const double *custom; /* schema -53: finite, strictly ascending upper bounds */
    uint32_t n_custom;
};

static inline double histchunk_f64(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static inline uint64_t histchunk_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

/* Prometheus's validation rules for a histogram to store: schema in [-4, 8] or -53; spans
 * describe exactly n_*buckets buckets; only the first span of a side may have a negative offset;
 * at most HISTCHUNK_SPANS_MAX spans and HISTCHUNK_BUCKETS_MAX buckets per side; bucket indexes
 * fit in int32 and span at most HISTCHUNK_INDEX_RANGE_MAX per side; counts non-negative;
 * integer: count == zero count + all buckets (>= when the sum is NaN); zero threshold finite and >=
 * 0; custom: no negative side, zero threshold and zero count 0, bounds finite and strictly
 * ascending, positive bucket indexes within the bounds (+Inf bucket included). Returns 0 or
 * ERR_INVALID with a reason in *why (a static string) when why is not NULL. */
int histchunk_hist_check(const struct histchunk_hist *h, bool is_float, const char **why);

/* Same layout (schema, zero threshold, spans, custom bounds). */
bool histchunk_layout_eq(const struct histchunk_hist *a, const struct histchunk_hist *b);
/* Bit-exact equality of two histograms (layout, hint, counts, sum). */
bool histchunk_hist_eq(const struct histchunk_hist *a, const struct histchunk_hist *b);

/* ---- writer ---- */

struct histchunk_enc {
    struct buf b;
    bool is_float;
    uint32_t count;
    int64_t first_t, t;
    uint64_t delta;
    /* the previous sample, owned copies */
    struct histchunk_hist prev;
    struct histchunk_span *spans; /* pspans then nspans */
    uint64_t *buckets;            /* pbuckets then nbuckets */
    double *custom;
    uint32_t spans_cap, buckets_cap, custom_cap;
};

void histchunk_enc_init(struct histchunk_enc *e, bool is_float);
void histchunk_enc_deinit(struct histchunk_enc *e);
/* Empties the encoder for a new chunk of the given kind, keeping its memory. */
void histchunk_enc_reset(struct histchunk_enc *e, bool is_float);
/* Appends one sample. h must pass histchunk_hist_check (programmer error otherwise), t must be
 * greater than the last timestamp and the chunk must hold fewer than HISTCHUNK_SAMPLES_MAX
 * samples (ERR_FULL). Returns 0, ERR_FULL, ERR_ORDER or ERR_NOMEM; on error nothing changed. */
int histchunk_enc_append(struct histchunk_enc *e, int64_t t, const struct histchunk_hist *h);
static inline uint32_t histchunk_enc_count(const struct histchunk_enc *e)
{
    return e->count;
}
/* The chunk bytes (valid until the next append or deinit); an empty encoder has none (len 0). */
static inline const uint8_t *histchunk_enc_bytes(const struct histchunk_enc *e, size_t *len)
{
    *len = e->b.len;
    return e->b.data;
}

/* ---- reader ---- */

struct histchunk_iter {
    struct rd r;
    bool is_float;
    uint32_t left; /* samples not yet read */
    uint32_t index;
    int err; /* 0 running or clean end, or the stop reason */
    int64_t t;
    uint64_t delta;
    struct histchunk_hist cur;
    struct histchunk_span *spans;
    uint64_t *buckets;
    double *custom;
    uint32_t spans_cap, buckets_cap, custom_cap;
};

/* Starts reading a chunk. Problems in the header surface from _next. */
void histchunk_iter_init(struct histchunk_iter *it, const uint8_t *data, size_t len);
void histchunk_iter_deinit(struct histchunk_iter *it);
/* 1 with a sample, 0 at the clean end, or ERR_TRUNCATED / ERR_CORRUPT / ERR_NOMEM (sticky). */
int histchunk_iter_next(struct histchunk_iter *it);
static inline int64_t histchunk_iter_t(const struct histchunk_iter *it)
{
    return it->t;
}
static inline const struct histchunk_hist *histchunk_iter_at(const struct histchunk_iter *it)
{
    return &it->cur;
}
static inline int histchunk_iter_err(const struct histchunk_iter *it)
{
    return it->err;
}

/* Header helpers: sample count (or ERR_TRUNCATED), float kind (1/0, or ERR_CORRUPT / ERR_TRUNCATED)
 * and the first sample's timestamp (0 with *t, or an error). */
int histchunk_count(const uint8_t *data, size_t len);
int histchunk_is_float(const uint8_t *data, size_t len);
int histchunk_first_ts(const uint8_t *data, size_t len, int64_t *t);

#endif
