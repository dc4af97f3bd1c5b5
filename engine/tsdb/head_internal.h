/* Internal structures of the metrics head, shared by head.c (series, symbols, map, stats),
 * head_append.c (append rules, chunk cutting, OOO buffer, replay), head_read.c (series sets, label
 * APIs) and head_truncate.c (cut, truncation, GC). Not part of the API: include engine/tsdb/head.h.
 *
 * Memory layout per series (what makes a head series cheap):
 *   struct head_series  ~160 B + label symbol ids as varints (~2 B per name or value)
 *   open chunk bytes    64..256 B growing with the chunk (formats/gorilla.h encoder buffer)
 *   closed chunk refs   24 B each (bytes are in the chunk files)
 *   OOO buffer          none until the first OOO sample
 *   map slot, id table  ~12 B + 8 B; postings in the memindex. */
#ifndef STRATA_ENGINE_TSDB_HEAD_INTERNAL_H
#define STRATA_ENGINE_TSDB_HEAD_INTERNAL_H

#include <roaring/roaring.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/strmap.h"
#include "engine/index/memindex.h"
#include "engine/tsdb/head.h"
#include "engine/tsdb/headchunks.h"
#include "formats/gorilla.h"
#include "formats/histchunk.h"

/* A closed chunk in a chunk file. */
struct head_chunk_ref {
    int64_t mint_ms;
    uint32_t dmax_ms; /* maxt - mint */
    uint32_t file;
    uint32_t off;
    uint16_t samples;
    uint8_t flags; /* HEADCHUNKS_F_OOO */
    uint8_t enc;   /* 0: CHUNK_XOR; else the chunk encoding (native histogram chunks) */
};

static inline uint8_t head_ref_encoding(const struct head_chunk_ref *r)
{
    return r->enc ? r->enc : CHUNK_XOR;
}

static inline int64_t head_ref_maxt(const struct head_chunk_ref *r)
{
    return r->mint_ms + (int64_t)r->dmax_ms;
}

struct head_sample {
    int64_t t;
    uint64_t v;
};

/* Sorted OOO samples of one series. */
struct head_ooo {
    uint32_t n, cap;
    struct head_sample s[];
};

enum {
    HEAD_SERIES_LASTV_KNOWN = 0x01, /* last_v holds the bits of the sample at max_t */
    HEAD_SERIES_LAST_HIST = 0x02,   /* the sample at max_t is a native histogram */
};

/* The open native histogram chunk of a series (allocated at its first histogram sample). A series
 * has at most one open chunk: a sample of the other kind (float / integer histogram / float
 * histogram) closes it first. Histograms are in-order only (no OOO buffer). */
struct head_hist {
    struct histchunk_enc enc; /* empty: count 0 */
    int64_t next_at;          /* the open chunk is cut at the first sample >= this */
};

struct head_series {
    struct gorilla_enc enc;        /* the open in-order chunk (empty: count 0) */
    uint64_t hash;                 /* hash_labels of the label set */
    int64_t max_t;                 /* newest in-order sample (INT64_MIN: none) */
    uint64_t last_v;               /* its value bits (see HEAD_SERIES_LASTV_KNOWN) */
    int64_t next_at;               /* the open chunk is cut at the first sample >= this */
    struct head_chunk_ref *chunks; /* closed chunks: in-order ones ascending, OOO ones mixed in */
    struct head_ooo *ooo;          /* NULL until the first OOO sample */
    struct head_hist *hist;        /* NULL until the first native histogram sample */
    uint32_t id;
    uint32_t seq; /* creation stamp: lets an open set detect id reuse */
    uint16_t n_chunks, cap_chunks;
    uint16_t n_labels;
    uint16_t lbl_len; /* bytes of lbl */
    uint8_t flags;
    uint8_t lbl[]; /* n_labels (name, value) symbol id pairs, uvarint */
};

struct head_sym {
    uint32_t refs;
    uint32_t len;
    char bytes[];
};

struct head_syms {
    struct strmap map; /* string -> (void *)(uintptr_t)(id + 1); keys point into head_sym */
    struct head_sym **by_id;
    uint32_t n, cap; /* ids in use or free: [0, n) */
    uint32_t *free;  /* free ids (stack) */
    uint32_t n_free, cap_free;
};

/* Open-addressing series map (linear probing, backward-shift delete) on the label-set hash. */
struct head_map_slot {
    uint32_t id1;     /* id + 1; 0 = empty */
    uint32_t hash_hi; /* high half of the hash: most mismatches are rejected without a lookup */
};

struct head_map {
    struct head_map_slot *slots;
    uint32_t cap; /* power of two, or 0 */
    uint32_t len;
};

/* A chunk-file record waiting for WAL replay to recreate its series. */
struct head_pending {
    uint32_t id;
    uint32_t order; /* scan order, to keep a series' chunks in write order */
    struct head_chunk_ref ref;
};

/* Per-id state while replaying the WAL. */
struct head_replay {
    int64_t seen_max;     /* newest sample replayed so far (INT64_MIN: none) */
    int64_t attached_max; /* newest in-order sample in re-attached chunks (INT64_MIN: none) */
};

struct head {
    struct head_config cfg;
    struct head_series **by_id; /* [0, n_ids); NULL for free ids */
    uint32_t n_ids, cap_ids;
    roaring_bitmap_t *free_ids;    /* below n_ids, reusable now */
    roaring_bitmap_t *pending_ids; /* freed by truncation, reusable after head_recycle_ids */
    struct head_map map;
    struct head_syms syms;
    struct memindex ix;
    struct headchunks *hc;
    int64_t min_valid_t, min_t, max_t;
    uint32_t seq;
    struct head_pending *pending;
    size_t n_pending, cap_pending;
    struct head_replay *replay; /* non-NULL while replaying */
    size_t replay_cap;
    unsigned open_sets;
    struct label *lbuf; /* scratch for materialized label sets */
    size_t lbuf_cap;
    uint64_t n_chunks_open, n_chunks_closed, n_ooo_samples;
    struct head_stats st; /* published with relaxed atomic stores */
};

/* Counters readable from other threads: single writer, relaxed atomic store. */
#define HEAD_STAT_ADD(h, field, d)                                                                 \
    __atomic_store_n(&(h)->st.field, (h)->st.field + (uint64_t)(d), __ATOMIC_RELAXED)
#define HEAD_STAT_SET(h, field, v) __atomic_store_n(&(h)->st.field, (v), __ATOMIC_RELAXED)

/* Heap bytes of an allocation (0 for NULL). */
size_t head_usable(const void *p);
/* realloc that also reports the change in heap bytes (0 on failure, when p is kept). */
void *head_realloc(void *p, size_t n, int64_t *delta);

/* ---- head.c ---- */
struct head_series *head_series_get(const struct head *h, uint32_t id);
/* Decodes the label set of s into h->lbuf (sized when series are created: never fails); returns
 * the array, *n its length. Strings borrow from the symbol table; valid until the next call. */
const struct label *head_series_materialize(struct head *h, const struct head_series *s, size_t *n);
/* Removes a series: postings, map, symbols, id (into pending_ids), memory. */
void head_series_remove(struct head *h, struct head_series *s);
/* Appends a closed-chunk reference to s (growing its array). 0 or ERR_NOMEM. */
int head_series_push_ref(struct head *h, struct head_series *s, const struct head_chunk_ref *r);
/* Label-set order of two series (series-set order). */
int head_series_cmp(const struct head *h, const struct head_series *a, const struct head_series *b);
void head_min_time_note(struct head *h, int64_t t);

/* ---- head_append.c ---- */
/* Writes the open chunk of s (float or histogram) to the chunk files and empties it. 0 or a
 * chunk-file error. */
int head_close_open_chunk(struct head *h, struct head_series *s);
/* The same for the open float (XOR) chunk only. */
int head_close_open_xor(struct head *h, struct head_series *s);
/* Makes room for `extra` more chunk references. 0, ERR_LIMIT or ERR_NOMEM. */
int head_reserve_refs(struct head *h, struct head_series *s, size_t extra);
/* Writes one chunk to the chunk files and references it from s (room reserved by the caller). */
int head_write_chunk(struct head *h, struct head_series *s, const uint8_t *data, size_t len,
                     int64_t mint, int64_t maxt, uint32_t samples, uint8_t flags, uint8_t enc);
/* End (exclusive) of the chunk range holding t. */
int64_t head_range_end(const struct head *h, int64_t t);
/* Raises the head's max (and min) time to cover t. */
void head_note_max_time(struct head *h, int64_t t);
/* Counts an append result in the statistics. */
void head_count_result(struct head *h, int rc);
/* Writes the OOO samples of s to chunk files (split at range boundaries) and empties the buffer. */
int head_flush_ooo(struct head *h, struct head_series *s);
/* Encodes samples (sorted, unique t) into a new chunk; bytes malloc'd. NULL on ERR_NOMEM. */
uint8_t *head_encode_samples(const struct head_sample *s, size_t n, size_t *len);
/* The replay state of id (grown as needed; new slots empty). NULL on ERR_NOMEM. */
struct head_replay *head_replay_slot(struct head *h, uint32_t id);
/* Start of the chunk range holding t. */
int64_t head_range_start(const struct head *h, int64_t t);

/* ---- head_hist.c ---- */
/* Writes the open histogram chunk of s (if any) to the chunk files and empties it. */
int head_close_open_hist(struct head *h, struct head_series *s);
/* True when s has an open histogram chunk; *first / *last get its time range. */
bool head_hist_open_range(const struct head_series *s, int64_t *first, int64_t *last);
/* Frees the histogram state of s (series removal, head close); counts its open chunk away when
 * `count` is set. */
void head_hist_free(struct head *h, struct head_series *s, bool count);
/* Drops the open histogram chunk when all of it is before mint (truncation). */
void head_hist_drop_before(struct head *h, struct head_series *s, int64_t mint);

#endif
