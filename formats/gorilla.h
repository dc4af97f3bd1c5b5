/* Gorilla XOR sample chunk: (int64 ms timestamp, float64 value) samples with delta-of-delta
 * timestamps and XOR-compressed values. Byte layout: docs/formats/gorilla.md.
 *
 * Values are carried as their IEEE-754 bit patterns and are never compared or computed on as
 * floating point, so every value round-trips bit for bit (NaN payloads, the Prometheus stale marker
 * GORILLA_STALE_NAN_BITS, -0.0, denormals).
 *
 * Writer: struct gorilla_enc appends samples in strictly increasing timestamp order into a growable
 * buffer. At every moment the bytes written so far form a complete, valid chunk of the samples
 * appended so far (see gorilla_enc_snapshot), so the head can query an open chunk.
 *
 * Reader: struct gorilla_iter decodes any byte string, fully bounds-checked: it yields samples and
 * then either the end (0) or an error (ERR_TRUNCATED when the bytes end early, ERR_CORRUPT when
 * they are inconsistent). Samples it yields always have strictly increasing timestamps.
 *
 * Threading: none of this is thread-safe; an encoder and iterators over its bytes belong to one
 * thread. Memory: the encoder owns its buffer (malloc); iterators borrow the bytes they are given.
 */
#ifndef STRATA_FORMATS_GORILLA_H
#define STRATA_FORMATS_GORILLA_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"

/* Most samples one chunk can hold (the count field is 16 bits). */
#define GORILLA_SAMPLES_MAX 65535u
/* Bit pattern of the Prometheus staleness marker (a NaN). Compare bits, never values. */
#define GORILLA_STALE_NAN_BITS 0x7ff0000000000002ull
/* Bytes of the smallest chunk (the empty one: just the count). */
#define GORILLA_EMPTY_LEN 2u

struct gorilla_enc {
    struct buf b;      /* chunk bytes; b.len covers the last, partially filled byte */
    size_t byte_pos;   /* byte holding the next bit to write */
    uint64_t acc;      /* its first `nbits` bits, left-aligned (also stored in b) */
    int64_t first_t;   /* first timestamp (valid when count > 0) */
    int64_t t;         /* last timestamp */
    uint64_t delta;    /* last timestamp delta, modulo 2^64 */
    uint64_t v;        /* bits of the last value */
    uint32_t count;    /* samples appended */
    uint8_t lead, sig; /* current XOR window: leading zero bits and significant bits */
    uint8_t nbits;
};

/* A zero-copy view of an encoder's bytes: a complete chunk of `count` samples. */
struct gorilla_snap {
    const uint8_t *data;
    size_t len;
    uint32_t count;
};

/* Starts an empty encoder; allocates nothing until the first append. */
void gorilla_enc_init(struct gorilla_enc *e);
/* Frees the buffer; the encoder may be initialised again. */
void gorilla_enc_deinit(struct gorilla_enc *e);
/* Empties the encoder for a new chunk, keeping its memory. */
void gorilla_enc_reset(struct gorilla_enc *e);

/* Appends one sample; `v` is copied bit for bit (no floating-point operation touches it).
 * Returns 0; ERR_ORDER when t_ms is not greater than the last timestamp (equal included);
 * ERR_FULL when the chunk already holds GORILLA_SAMPLES_MAX samples; ERR_NOMEM. On any error the
 * encoder is unchanged. */
int gorilla_enc_append(struct gorilla_enc *e, int64_t t_ms, double v);
/* Same, with the value given as its IEEE-754 bit pattern. */
int gorilla_enc_append_bits(struct gorilla_enc *e, int64_t t_ms, uint64_t v_bits);

static inline uint32_t gorilla_enc_count(const struct gorilla_enc *e)
{
    return e->count;
}
/* First and last timestamp appended; the encoder must not be empty. */
static inline int64_t gorilla_enc_first_ts(const struct gorilla_enc *e)
{
    ASSERT(e->count > 0);
    return e->first_t;
}
static inline int64_t gorilla_enc_last_ts(const struct gorilla_enc *e)
{
    ASSERT(e->count > 0);
    return e->t;
}

/* Fills *out with a view of the chunk written so far (an empty encoder gives the 2-byte empty
 * chunk). The view does not disturb the encoder. It stays valid until the next append, reset,
 * steal or deinit, which may move the buffer. After appends, the bytes of an earlier view are
 * unchanged at the same offsets except the count field and unused low bits of its last byte, so an
 * iterator started on a view may go on after appends once re-pointed with gorilla_iter_rebase. */
void gorilla_enc_snapshot(const struct gorilla_enc *e, struct gorilla_snap *out);

/* Closes the chunk: hands its bytes (malloc'd, the caller frees them) to the caller with their
 * length, and leaves the encoder empty. Returns NULL with *len_out = 0 for an empty encoder. */
uint8_t *gorilla_enc_steal(struct gorilla_enc *e, size_t *len_out);

/* Samples an iterator decodes ahead per refill (so gorilla_iter_next is mostly an inline step). */
#define GORILLA_ITER_AHEAD 16

struct gorilla_iter {
    const uint8_t *data; /* borrowed chunk bytes */
    size_t len;
    uint64_t end_bits; /* len * 8 */
    /* Decoder state after the last sample decoded. */
    uint64_t pos;      /* next bit to read, counted from data[0] */
    int64_t t;         /* last timestamp decoded */
    uint64_t v;        /* last value decoded */
    uint64_t delta;    /* last timestamp delta, modulo 2^64 */
    uint32_t n;        /* samples decoded so far */
    uint32_t count;    /* samples in the chunk (from its header) */
    uint8_t lead, sig; /* current XOR window */
    /* Samples decoded ahead; the current one is ahead_t/v[cur] while cur < n_ahead. */
    uint8_t cur, n_ahead;
    int err; /* sticky error, or 0 */
    int64_t ahead_t[GORILLA_ITER_AHEAD];
    uint64_t ahead_v[GORILLA_ITER_AHEAD];
};

/* Starts iterating the chunk bytes [data, data+len) (borrowed; they must outlive the iterator).
 * Returns 0, or ERR_TRUNCATED/ERR_CORRUPT when the header is bad; the error is also kept and
 * returned by gorilla_iter_next and gorilla_iter_err. */
int gorilla_iter_init(struct gorilla_iter *it, const uint8_t *data, size_t len);
/* Out-of-line part of gorilla_iter_next; not for direct use. */
int gorilla_iter_fill_(struct gorilla_iter *it);
/* Advances to the next sample: 1 = positioned on a sample, 0 = end of the chunk, negative =
 * ERR_TRUNCATED or ERR_CORRUPT (sticky: later calls return it again). Every sample before an
 * error is yielded first. */
static inline int gorilla_iter_next(struct gorilla_iter *it)
{
    if (__builtin_expect(it->cur + 1 < it->n_ahead, 1)) {
        it->cur++;
        return 1;
    }
    return gorilla_iter_fill_(it);
}
/* Advances to the first sample with timestamp >= t_ms, staying put when the current sample already
 * qualifies (never moves backwards). Same returns as gorilla_iter_next. */
int gorilla_iter_seek(struct gorilla_iter *it, int64_t t_ms);
/* Decodes up to `cap` (> 0) further samples into ts[] and v[] (values stored bit for bit) in one
 * call; after it, gorilla_iter_at reports the last sample returned. Returns how many (0 = end), or
 * ERR_TRUNCATED/ERR_CORRUPT. When an error follows some good samples, those are returned first and
 * the next call returns the error. The fast path for whole-chunk scans. */
int gorilla_iter_next_batch(struct gorilla_iter *it, int64_t *ts, double *v, size_t cap);
/* The sticky error, or 0. */
static inline int gorilla_iter_err(const struct gorilla_iter *it)
{
    return it->err;
}
/* The current sample; only after gorilla_iter_next/seek returned 1 (or next_batch returned > 0). */
static inline void gorilla_iter_at_bits(const struct gorilla_iter *it, int64_t *t_ms,
                                        uint64_t *v_bits)
{
    ASSERT(it->cur < it->n_ahead);
    *t_ms = it->ahead_t[it->cur];
    *v_bits = it->ahead_v[it->cur];
}
static inline void gorilla_iter_at(const struct gorilla_iter *it, int64_t *t_ms, double *v)
{
    uint64_t bits;
    gorilla_iter_at_bits(it, t_ms, &bits);
    memcpy(v, &bits, sizeof bits);
}
/* Re-points an iterator started on an encoder snapshot at the encoder's current bytes (the
 * buffer may have moved since); the iterator still ends at the snapshot's sample count. */
void gorilla_iter_rebase(struct gorilla_iter *it, const uint8_t *data);

/* Chunk helpers on raw bytes. gorilla_chunk_count returns the sample count or ERR_TRUNCATED.
 * gorilla_chunk_first_ts reads the header only; gorilla_chunk_last_ts decodes the whole chunk.
 * Both return 0, ERR_EMPTY for a chunk without samples, or ERR_TRUNCATED/ERR_CORRUPT. */
int gorilla_chunk_count(const uint8_t *data, size_t len);
int gorilla_chunk_first_ts(const uint8_t *data, size_t len, int64_t *t_ms);
int gorilla_chunk_last_ts(const uint8_t *data, size_t len, int64_t *t_ms);

#endif
