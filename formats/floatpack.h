/* Floatpack: a compact, immutable float sample chunk for blocks (size first, decode speed second).
 * Byte layout: docs/formats/floatpack.md.
 *
 * Timestamps are stored against a regular interval (as residuals from the grid or as deviations of
 * each delta from the interval); values that are exact k-digit decimals (cpu seconds with 2
 * decimals, integer byte counters, load averages) become integers that are delta or
 * delta-of-delta coded and divided by their common factor; genuinely full-entropy values are XOR
 * coded. Integer streams are bit-packed in frames of 64 with a per-frame bit width and patched
 * exceptions, so regular timestamps and constant or steady values cost about one byte per frame.
 * The encoder tries the variants and keeps the smallest.
 *
 * Exactness: values are carried as IEEE-754 bit patterns; every pattern round-trips bit for bit
 * (NaN payloads including the Prometheus stale marker, -0.0, infinities, denormals). Decimal
 * values are rebuilt as (double)m / 10^scale, an exact IEEE division the encoder verified.
 *
 * Writer: floatpack_encode takes a whole chunk of samples at once (blocks are written once).
 * Reader: struct floatpack_iter decodes any byte string, fully bounds-checked: it yields samples
 * and then the end (0) or ERR_TRUNCATED / ERR_CORRUPT; yielded timestamps strictly increase.
 *
 * Threading: none; an iterator belongs to one thread. Memory: iterators borrow the bytes they are
 * given and allocate nothing; the encoder appends to the caller's buffer and uses scratch memory
 * (malloc) that it frees before returning. */
#ifndef STRATA_FORMATS_FLOATPACK_H
#define STRATA_FORMATS_FLOATPACK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"

/* Most samples one chunk holds. */
#define FLOATPACK_SAMPLES_MAX 65535u
/* Samples per bit-packed frame (and per iterator refill). */
#define FLOATPACK_FRAME 64
/* Largest decimal scale tried (values m / 10^scale). */
#define FLOATPACK_SCALE_MAX 18

/* Appends the chunk of samples ts[0..n) / v_bits[0..n) (bit patterns) to out.
 * Returns 0; ERR_INVALID when n is 0 or above FLOATPACK_SAMPLES_MAX or the timestamps do not
 * strictly increase; ERR_NOMEM (out then holds its old bytes plus possibly some garbage tail:
 * callers truncate to the old length). */
int floatpack_encode(const int64_t *ts, const uint64_t *v_bits, size_t n, struct buf *out);

/* Ahead buffer: sample 0 plus the first frame are decoded together. */
#define FLOATPACK_ITER_AHEAD (FLOATPACK_FRAME + 1)

struct floatpack_iter {
    const uint8_t *data; /* borrowed chunk bytes */
    size_t len;
    size_t ts_pos, ts_end;     /* timestamp stream: next frame, end */
    size_t v_pos, v_end;       /* value stream (decimal: next frame; xor: start of the bits) */
    size_t sp_pos;             /* next special value record */
    uint64_t v_bit;            /* xor: next bit to read, counted from v_pos */
    uint32_t n;                /* samples in the chunk */
    uint32_t done;             /* samples decoded so far */
    uint32_t sp_left, sp_next; /* specials not yet applied; sample index of the next one */
    uint8_t ts_mode, v_mode, scale;
    uint8_t lead, sig; /* xor window */
    uint8_t cur, n_ahead;
    int err;           /* sticky error, or 0 */
    int64_t t0, d, t;  /* first timestamp, interval, last timestamp decoded */
    uint64_t m, dm, g; /* decimal: last integer, last delta, common factor */
    uint64_t v;        /* xor: last value */
    int64_t ahead_t[FLOATPACK_ITER_AHEAD];
    uint64_t ahead_v[FLOATPACK_ITER_AHEAD];
};

/* Starts iterating [data, data+len) (borrowed). Returns 0 or ERR_TRUNCATED/ERR_CORRUPT when the
 * header or the section framing is bad (the error is also sticky in the iterator). */
int floatpack_iter_init(struct floatpack_iter *it, const uint8_t *data, size_t len);
/* Out-of-line part of floatpack_iter_next; not for direct use. */
int floatpack_iter_fill_(struct floatpack_iter *it);
/* 1 = positioned on a sample, 0 = end, negative = ERR_TRUNCATED/ERR_CORRUPT (sticky). Samples
 * of the frames (64 samples) decoded before an error are yielded first. */
static inline int floatpack_iter_next(struct floatpack_iter *it)
{
    if (__builtin_expect(it->cur + 1 < it->n_ahead, 1)) {
        it->cur++;
        return 1;
    }
    return floatpack_iter_fill_(it);
}
/* Advances to the first sample with timestamp >= t_ms, staying put when the current one already
 * qualifies (never moves backwards). Same returns as floatpack_iter_next. */
int floatpack_iter_seek(struct floatpack_iter *it, int64_t t_ms);
/* Decodes up to cap (> 0) further samples into ts[] and v[] (bit for bit). Returns how many
 * (0 = end) or an error; good samples before an error come first, the next call returns it.
 * Afterwards floatpack_iter_at reports the last sample returned. */
int floatpack_iter_next_batch(struct floatpack_iter *it, int64_t *ts, double *v, size_t cap);
static inline int floatpack_iter_err(const struct floatpack_iter *it)
{
    return it->err;
}
/* The current sample; only after next/seek returned 1 (or next_batch returned > 0). */
static inline void floatpack_iter_at_bits(const struct floatpack_iter *it, int64_t *t_ms,
                                          uint64_t *v_bits)
{
    ASSERT(it->cur < it->n_ahead);
    *t_ms = it->ahead_t[it->cur];
    *v_bits = it->ahead_v[it->cur];
}
static inline void floatpack_iter_at(const struct floatpack_iter *it, int64_t *t_ms, double *v)
{
    uint64_t bits;
    floatpack_iter_at_bits(it, t_ms, &bits);
    memcpy(v, &bits, sizeof bits);
}

/* Sample count from the header, or ERR_TRUNCATED/ERR_CORRUPT. */
int floatpack_chunk_count(const uint8_t *data, size_t len);

#endif
