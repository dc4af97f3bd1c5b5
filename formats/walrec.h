/* WAL records: segment header, record framing (typed, length-prefixed, CRC32C-checked, optionally
 * snappy-compressed) and the payload codecs for SERIES / LOG_STREAMS, SAMPLES, HISTOGRAMS,
 * EXEMPLARS and LOG_ENTRIES.
 * Byte layout and recovery rule: docs/formats/wal.md.
 *
 * Pure: bytes in, bytes out; no I/O, no threads. Writers append to a caller-owned `struct buf`.
 *
 * Reading a segment: walrec_reader_init() over the segment's bytes, then walrec_reader_next() until
 * it returns ≤ 0. The reader yields exactly the valid prefix of the segment; when it stops it says
 * where (walrec_reader_offset: byte offset of the first record that is not valid, or the end) and
 * why (walrec_reader_err): 0 = clean end, ERR_TRUNCATED = torn tail (a partial write at the end:
 * nothing valid follows), ERR_CORRUPT = damaged or invalid bytes (bad CRC followed by valid data,
 * bad length, unknown type, bad flags, bad compression), ERR_UNSUPPORTED = segment version from the
 * future, ERR_NOMEM = decompression buffer could not grow.
 *
 * Ownership: an uncompressed record's payload is borrowed from the segment bytes (no copy); a
 * compressed record's payload lives in the reader's scratch buffer and stays valid until the next
 * walrec_reader_next() or walrec_reader_deinit(). Payload iterators borrow the payload (strings
 * point into it) and the caller's label array. Not thread-safe; one owner per reader / iterator. */
#ifndef STRATA_FORMATS_WALREC_H
#define STRATA_FORMATS_WALREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"
#include "formats/histchunk.h"

/* Record types. 0 is never valid (an all-zero header must not parse). New types are appended; a
 * reader that does not know a type stops there with ERR_CORRUPT, so adding one bumps
 * WALREC_SEGMENT_VERSION. */
enum walrec_type {
    WALREC_SERIES = 1,      /* new series: id + label set (walrec_series codec) */
    WALREC_SAMPLES = 2,     /* batch of (series id, ts ms, value bits) (walrec_samples codec) */
    WALREC_HISTOGRAMS = 3,  /* batch of (series id, native histogram) (walrec_hists codec) */
    WALREC_EXEMPLARS = 4,   /* batch of (series id, ts, value, labels) (walrec_exemplars codec) */
    WALREC_METADATA = 5,    /* opaque */
    WALREC_LOG_STREAMS = 6, /* new streams: id + label set (walrec_series codec) */
    WALREC_LOG_ENTRIES = 7, /* batch of (stream id, ts ns, line, metadata) (walrec_entries codec) */
    WALREC_TOMBSTONES = 8,  /* opaque */
    WALREC_CHECKPOINT = 9,  /* marker; opaque payload (may be empty) */
    WALREC_TYPE_END_,       /* one past the last known type */
};

#define WALREC_SEGMENT_MAGIC       "SWAL"
#define WALREC_SEGMENT_VERSION     1
#define WALREC_SEGMENT_HEADER_SIZE 8
#define WALREC_HEADER_SIZE         16
/* Largest payload, stored or uncompressed. A header claiming more is corrupt. */
#define WALREC_PAYLOAD_MAX (64u << 20)

/* walrec_append flags (what the caller asks for). */
#define WALREC_COMPRESS 0x1u /* snappy-compress the payload when that saves at least 1/8 */

/* Stored record flags (what the header says). */
#define WALREC_F_SNAPPY 0x1u

/* Appends the 8-byte segment header. Returns 0 or ERR_NOMEM. */
int walrec_segment_header_append(struct buf *b);

/* Appends one framed record. `type` must be a known type (programmer error otherwise); `flags` is 0
 * or WALREC_COMPRESS. `payload` must not point into b. Returns 0, ERR_LIMIT when len >
 * WALREC_PAYLOAD_MAX, or ERR_NOMEM; on error b is unchanged. */
int walrec_append(struct buf *b, enum walrec_type type, const void *payload, size_t len,
                  uint32_t flags);

/* Zero-copy framing: walrec_begin() reserves a header at the end of b and returns its position in
 * *mark; the caller appends the payload to b (e.g. with walrec_samples_encode); walrec_end() fills
 * in the header (compressing in place when asked and it pays). Returns 0, ERR_NOMEM or ERR_LIMIT;
 * on error b is cut back to *mark. */
int walrec_begin(struct buf *b, size_t *mark);
int walrec_end(struct buf *b, size_t mark, enum walrec_type type, uint32_t flags);

/* Name of a type ("samples") or "unknown", for logs and tools. */
const char *walrec_type_name(unsigned type);

/* ---- segment reader ---- */

struct walrec {
    enum walrec_type type;
    uint8_t flags;          /* stored flags (WALREC_F_SNAPPY) */
    const uint8_t *payload; /* decoded payload (see ownership above) */
    size_t len;             /* decoded payload length */
    uint64_t offset;        /* byte offset of the record header, in segment coordinates */
    size_t size;            /* bytes the record takes in the segment, header included */
};

struct walrec_reader {
    const uint8_t *data;
    size_t len;
    size_t pos;           /* next record starts here (index into data) */
    uint64_t base_offset; /* segment offset of data[0] */
    int err;              /* sticky stop reason; 1 while running */
    struct buf scratch;   /* decompressed payloads */
};

/* Reads a whole segment (header first). Never fails; problems surface from _next. */
void walrec_reader_init(struct walrec_reader *r, const void *seg, size_t len);
/* Reads records only (no segment header), e.g. the tail of a segment from a known record boundary;
 * `base_offset` is the segment offset of data[0] and is added to every reported offset. */
void walrec_reader_init_records(struct walrec_reader *r, const void *data, size_t len,
                                uint64_t base_offset);
void walrec_reader_deinit(struct walrec_reader *r);
/* 1 with *out filled, 0 at the clean end, or the negative stop reason (also walrec_reader_err).
 * After a stop, further calls return the same value. */
int walrec_reader_next(struct walrec_reader *r, struct walrec *out);
/* Stop reason once _next returned ≤ 0 (0, ERR_TRUNCATED, ERR_CORRUPT, ERR_UNSUPPORTED, ERR_NOMEM).
 */
int walrec_reader_err(const struct walrec_reader *r);
/* Segment offset where reading stopped: the end of the valid prefix. While running: the next
 * record. */
uint64_t walrec_reader_offset(const struct walrec_reader *r);

/* Item count a SERIES, LOG_STREAMS, SAMPLES, HISTOGRAMS, EXEMPLARS or LOG_ENTRIES payload claims
 * (its count prefix), or ERR_CORRUPT. Lets a caller size arrays before iterating; never more than
 * the payload length. */
int64_t walrec_payload_count(const void *payload, size_t len);

/* ---- SERIES / LOG_STREAMS payload: (id, label set) items ---- */

struct walrec_series {
    uint32_t id;
    const struct label *labels;
    size_t n_labels;
};

/* Appends a SERIES (or LOG_STREAMS) payload for n items. Returns 0 or ERR_NOMEM. */
int walrec_series_encode(struct buf *b, const struct walrec_series *items, size_t n);

struct walrec_series_iter {
    struct rd r;
    uint64_t left; /* items not yet read */
    uint32_t prev_id;
    int err;
    struct label *labels_buf;
    size_t labels_cap;
    struct walrec_series cur; /* valid after _next returned true; labels point into labels_buf */
};

/* Starts iterating a payload; `labels_buf` (capacity labels_cap) receives each item's labels, whose
 * strings borrow the payload. */
void walrec_series_iter_init(struct walrec_series_iter *it, const void *payload, size_t len,
                             struct label *labels_buf, size_t labels_cap);
bool walrec_series_iter_next(struct walrec_series_iter *it);
static inline const struct walrec_series *walrec_series_iter_at(const struct walrec_series_iter *it)
{
    return &it->cur;
}
/* 0 after a full, well-formed payload; ERR_CORRUPT for malformed bytes; ERR_LIMIT when an item has
 * more labels than labels_cap. */
static inline int walrec_series_iter_err(const struct walrec_series_iter *it)
{
    return it->err;
}

/* ---- SAMPLES payload ---- */

struct walrec_sample {
    uint32_t id;
    int64_t ts_ms;
    uint64_t value_bits; /* the float64's exact bits (stale-marker NaN survives) */
};

int walrec_samples_encode(struct buf *b, const struct walrec_sample *items, size_t n);

struct walrec_samples_iter {
    struct rd r;
    uint64_t left;
    int err;
    struct walrec_sample cur;
};

void walrec_samples_iter_init(struct walrec_samples_iter *it, const void *payload, size_t len);
bool walrec_samples_iter_next(struct walrec_samples_iter *it);
static inline const struct walrec_sample *
walrec_samples_iter_at(const struct walrec_samples_iter *it)
{
    return &it->cur;
}
static inline int walrec_samples_iter_err(const struct walrec_samples_iter *it)
{
    return it->err;
}

/* ---- HISTOGRAMS payload ---- */

/* One native histogram sample. Each item is stored as its series id delta and a one-sample
 * histogram chunk (formats/histchunk.h), which carries the timestamp, the integer/float kind and
 * every field losslessly. */
struct walrec_hist {
    uint32_t id;
    int64_t ts_ms;
    bool is_float;
    const struct histchunk_hist *h; /* must pass histchunk_hist_check */
};

/* Appends a HISTOGRAMS payload for n items. Returns 0 or ERR_NOMEM (b unchanged on error). */
int walrec_hists_encode(struct buf *b, const struct walrec_hist *items, size_t n);

struct walrec_hists_iter {
    struct rd r;
    uint64_t left;
    uint32_t prev_id;
    int err;
    struct histchunk_iter hit; /* owns the arrays cur.h points into */
    struct walrec_hist cur;    /* cur.h valid until the next _next or _deinit */
};

void walrec_hists_iter_init(struct walrec_hists_iter *it, const void *payload, size_t len);
/* Frees the decode arrays; required after init. */
void walrec_hists_iter_deinit(struct walrec_hists_iter *it);
bool walrec_hists_iter_next(struct walrec_hists_iter *it);
static inline const struct walrec_hist *walrec_hists_iter_at(const struct walrec_hists_iter *it)
{
    return &it->cur;
}
/* 0 after a full, well-formed payload; ERR_CORRUPT for malformed bytes; ERR_NOMEM. */
static inline int walrec_hists_iter_err(const struct walrec_hists_iter *it)
{
    return it->err;
}

/* ---- EXEMPLARS payload ---- */

struct walrec_exemplar {
    uint32_t id; /* series id */
    int64_t ts_ms;
    uint64_t value_bits;
    const struct label *labels; /* the exemplar's own labels (may be none) */
    size_t n_labels;
};

int walrec_exemplars_encode(struct buf *b, const struct walrec_exemplar *items, size_t n);

struct walrec_exemplars_iter {
    struct rd r;
    uint64_t left;
    uint32_t prev_id;
    int err;
    struct label *labels_buf;
    size_t labels_cap;
    struct walrec_exemplar cur;
};

/* labels_buf (capacity labels_cap) receives each item's labels, whose strings borrow the payload;
 * an item with more labels stops the iterator with ERR_LIMIT. */
void walrec_exemplars_iter_init(struct walrec_exemplars_iter *it, const void *payload, size_t len,
                                struct label *labels_buf, size_t labels_cap);
bool walrec_exemplars_iter_next(struct walrec_exemplars_iter *it);
static inline const struct walrec_exemplar *
walrec_exemplars_iter_at(const struct walrec_exemplars_iter *it)
{
    return &it->cur;
}
static inline int walrec_exemplars_iter_err(const struct walrec_exemplars_iter *it)
{
    return it->err;
}

/* ---- LOG_ENTRIES payload ---- */

struct walrec_entry {
    uint32_t id; /* stream id */
    int64_t ts_ns;
    struct str line;
    const struct label *meta; /* structured metadata, in the order given */
    size_t n_meta;
};

int walrec_entries_encode(struct buf *b, const struct walrec_entry *items, size_t n);

struct walrec_entries_iter {
    struct rd r;
    uint64_t left;
    int err;
    struct label *meta_buf;
    size_t meta_cap;
    struct walrec_entry cur;
};

void walrec_entries_iter_init(struct walrec_entries_iter *it, const void *payload, size_t len,
                              struct label *meta_buf, size_t meta_cap);
bool walrec_entries_iter_next(struct walrec_entries_iter *it);
static inline const struct walrec_entry *
walrec_entries_iter_at(const struct walrec_entries_iter *it)
{
    return &it->cur;
}
static inline int walrec_entries_iter_err(const struct walrec_entries_iter *it)
{
    return it->err;
}

#endif
