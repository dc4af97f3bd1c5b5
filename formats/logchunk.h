/* Log chunk codec: the entries (ns timestamp, line, structured metadata) of one stream, grouped
 * into columnar, snappy-compressed blocks with a block index at the end so readers skip blocks by
 * time without decompressing them. Byte layout: docs/formats/logchunk.md.
 *
 * Writer: entries are appended into an open head block in any order; when the head's estimated
 * uncompressed size reaches the target it is sorted by timestamp (stable: equal timestamps keep
 * their append order) and cut into a block. An entry older than the newest timestamp of an
 * already-cut block is refused with ERR_ORDER (the engine decides what to do with it). finish()
 * cuts the head and hands out the chunk bytes. An open writer can be read (cut blocks + its head,
 * in time order) by an iterator.
 *
 * Reader/iterator: logchunk_reader_open validates the header, index and footer of borrowed bytes;
 * an iterator walks entries FORWARD (oldest first) or BACKWARD (newest first) over a time range
 * [mint, maxt) (start inclusive, end exclusive, as Loki), skips blocks outside it without
 * decompressing them, and reuses its decompression buffers across blocks. Every block is checked
 * (CRC32C before decompressing, every length against bounds after): any byte string yields entries
 * or ERR_CORRUPT / ERR_TRUNCATED, never a crash or a read out of bounds.
 *
 * Threading: none inside. A writer, reader or iterator has one owner at a time. Several iterators
 * may read the same chunk bytes (or the same writer) at once as long as nobody mutates them. */
#ifndef STRATA_FORMATS_LOGCHUNK_H
#define STRATA_FORMATS_LOGCHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"

#define LOGCHUNK_BLOCK_TARGET_DEFAULT (256u * 1024)
/* Hard ceiling of one chunk's encoding (and so of one block): appends that could exceed it fail
 * with ERR_LIMIT; readers reject blocks that claim more. */
#define LOGCHUNK_BYTES_MAX (1u << 30)

/* On-disk constants (docs/formats/logchunk.md). */
#define LOGCHUNK_MAGIC             0x4b434c53u /* "SLCK" little-endian, at both ends */
#define LOGCHUNK_VERSION           1
#define LOGCHUNK_HEADER_BYTES      8
#define LOGCHUNK_INDEX_ENTRY_BYTES 40
#define LOGCHUNK_FOOTER_BYTES      16
#define LOGCHUNK_EMPTY_CHUNK_BYTES (LOGCHUNK_HEADER_BYTES + LOGCHUNK_FOOTER_BYTES)

/* How a block's bytes are stored. */
enum logchunk_codec {
    LOGCHUNK_CODEC_NONE = 0, /* stored as is */
    LOGCHUNK_CODEC_SNAPPY =
        1, /* snappy raw format; the writer falls back to NONE when it doesn't pay */
};

/* One block as the index describes it. */
struct logchunk_block_info {
    int64_t mint;    /* first (oldest) entry timestamp, ns */
    int64_t maxt;    /* last (newest) entry timestamp, ns; inclusive */
    uint32_t offset; /* of the stored bytes, from the chunk start */
    uint32_t size_stored;
    uint32_t size_uncompressed;
    uint32_t entries; /* ≥ 1 */
    uint32_t crc;     /* CRC32C of the stored bytes */
    uint8_t codec;    /* enum logchunk_codec */
};

/* Accounting figures. mint/maxt are INT64_MAX/INT64_MIN while there are no entries. */
struct logchunk_stats {
    uint64_t entries;
    uint64_t head_entries;       /* writer: entries in the open head block */
    uint64_t line_bytes;         /* writer: sum of line lengths appended (raw log volume) */
    uint64_t bytes_uncompressed; /* cut blocks' encoded size + the head's estimated size */
    uint64_t bytes_compressed;   /* the chunk encoding as if finished without the head */
    uint64_t mem_bytes;          /* writer: heap bytes held (capacities) */
    uint32_t blocks;             /* cut blocks */
    int64_t mint;
    int64_t maxt;
};

/* ---------------------------------------------------------------------------------------------- */
/* Writer                                                                                         */

struct logchunk_writer_opts {
    size_t block_target_bytes; /* cut the head when its estimated size reaches this; 0 = default */
    bool store_uncompressed;   /* codec NONE for every block (tests, incompressible data) */
};

/* Private to logchunk.c: the head block's entries and metadata pairs (offsets into head_bytes). */
struct logchunk_head_ent {
    int64_t ts;
    uint32_t line_off;
    uint32_t line_len;
    uint32_t md_first;
    uint32_t md_count;
};
struct logchunk_head_md {
    uint32_t name_off, name_len, value_off, value_len;
};
struct logchunk_sort_key {
    int64_t ts;
    uint32_t idx;
};

/* Fields are private; use the functions. */
struct logchunk_writer {
    size_t block_target_bytes;
    bool store_uncompressed;
    uint64_t gen; /* bumped by every mutation; open iterators check it */

    struct buf chunk; /* header + cut blocks' stored bytes */
    struct logchunk_block_info *index;
    uint32_t n_blocks;
    size_t cap_blocks;
    int64_t cut_maxt; /* newest timestamp of cut blocks; INT64_MIN when none */
    uint64_t cut_entries, cut_uncompressed;

    struct buf head_bytes; /* lines and metadata strings of the head block */
    struct logchunk_head_ent *head;
    uint32_t head_n;
    size_t head_cap;
    struct logchunk_head_md *head_md;
    uint32_t head_md_n;
    size_t head_md_cap;
    size_t head_est;   /* estimated encoded size, drives the cut */
    size_t head_bound; /* upper bound of the encoded size, guards LOGCHUNK_BYTES_MAX */
    int64_t head_mint, head_maxt;
    bool head_sorted;
    uint64_t line_bytes;

    /* cut scratch, reused */
    struct logchunk_sort_key *keys;
    size_t keys_cap;
    struct buf body, pairs;
    uint32_t *sym_slots;
    size_t sym_slots_cap;
    struct str *syms;
    uint32_t syms_n;
    size_t syms_cap;
};

/* opts may be NULL (defaults: 256 KiB target, snappy). Does not allocate. */
void logchunk_writer_init(struct logchunk_writer *w, const struct logchunk_writer_opts *opts);
void logchunk_writer_deinit(struct logchunk_writer *w);
/* Drops every entry and block; keeps the options and the allocated capacity. */
void logchunk_writer_reset(struct logchunk_writer *w);

/* Copies the entry into the head block. md: `md_count` (name, value) pairs, kept in the given
 * order, names need not be unique or sorted; NULL when md_count is 0. Returns 0, ERR_ORDER when
 * ts_ns is older than the newest timestamp of a cut block, ERR_LIMIT when the chunk would exceed
 * LOGCHUNK_BYTES_MAX, or ERR_NOMEM (writer unchanged). A block cut that fails for lack of memory
 * after the entry was stored is retried on the next append or finish; the entry is kept and 0 is
 * returned. */
int logchunk_writer_append(struct logchunk_writer *w, int64_t ts_ns, struct str line,
                           const struct label *md, size_t md_count);
/* Cuts the head block now (no-op when it is empty). Returns 0 or ERR_NOMEM (writer unchanged). */
int logchunk_writer_cut(struct logchunk_writer *w);
/* Cuts the head and hands out the chunk: *bytes (malloc'd, the caller frees) and *len. The writer
 * is then reset, ready for a new chunk. Returns 0 or ERR_NOMEM (writer unchanged, nothing handed
 * out). */
int logchunk_writer_finish(struct logchunk_writer *w, uint8_t **bytes, size_t *len);
void logchunk_writer_stats(const struct logchunk_writer *w, struct logchunk_stats *out);

/* ---------------------------------------------------------------------------------------------- */
/* Reader                                                                                         */

/* Borrows the bytes; fields are read-only for callers. */
struct logchunk_reader {
    const uint8_t *data;
    size_t len;
    const uint8_t *index; /* n_blocks × LOGCHUNK_INDEX_ENTRY_BYTES */
    uint32_t n_blocks;
    uint64_t entries;
    uint64_t bytes_uncompressed;
    int64_t mint, maxt; /* INT64_MAX / INT64_MIN for a chunk without entries */
    /* Set by the caller after open (false by default) when every byte of the chunk was already
     * verified by an outer checksum (a log block envelope read from a CRC-checked block chunk
     * record, zstd-decompressed from it): iterators then skip the per-block CRCs, a second pass
     * over every byte. The body checks still run, so bytes that pass an outer check but are
     * inconsistent still decode to ERR_CORRUPT, never to an out-of-bounds read. */
    bool crc_verified;
};

/* Validates header, footer, index checksum and every index entry (ordering, bounds, contiguity).
 * Blocks themselves are checked when an iterator loads them. Returns 0, ERR_TRUNCATED (input
 * shorter than its structure says, or the trailing magic is missing) or ERR_CORRUPT. */
int logchunk_reader_open(struct logchunk_reader *r, const void *data, size_t len);
/* Block i < n_blocks, as the index describes it. */
void logchunk_reader_block_info(const struct logchunk_reader *r, uint32_t i,
                                struct logchunk_block_info *out);

/* ---------------------------------------------------------------------------------------------- */
/* Iterator                                                                                       */

enum logchunk_dir {
    LOGCHUNK_FORWARD = 0,  /* oldest first */
    LOGCHUNK_BACKWARD = 1, /* newest first */
};

/* The current entry. `line` and `md` (md_count pairs) are borrowed from the loaded block: valid
 * until the iterator moves to another block (or is closed); for an open writer, until the writer
 * changes. */
struct logchunk_entry {
    int64_t ts_ns;
    struct str line;
    const struct label *md;
    size_t md_count;
};

/* Private: one decoded entry of the loaded block. */
struct logchunk_dec_ent {
    int64_t ts;
    const char *line;
    uint32_t line_len;
    uint32_t md_first;
};

/* A batch line filter (logchunk_iter_set_filter): sets bit i of keep ((n + 63) / 64 words, the
 * callee clears them first) for each of the n lines that may be returned, and returns how many it
 * kept. The lines of one stored block are contiguous in memory (lines[i + 1].ptr == lines[i].ptr +
 * lines[i].len), which lets a filter scan them in one pass. */
typedef size_t (*logchunk_line_filter_fn)(void *arg, const struct str *lines, size_t n,
                                          uint64_t *keep);

/* Fields are private except the counters marked public. */
struct logchunk_iter {
    /* source */
    const uint8_t *data;
    size_t len;
    const uint8_t *index;            /* reader source */
    bool crc_verified;               /* the reader's crc_verified */
    const struct logchunk_writer *w; /* writer source */
    uint64_t w_gen;
    uint32_t n_blocks; /* including a writer's head block */
    int64_t mint, maxt;
    enum logchunk_dir dir;
    /* position */
    int state;
    int err;
    uint32_t blk; /* loaded block, valid when `loaded` */
    uint32_t pos;
    bool loaded;
    struct logchunk_entry cur;
    /* decoded block, buffers reused across blocks and chunks */
    uint8_t *ubuf;
    size_t ubuf_cap;
    struct logchunk_dec_ent *ents;
    size_t ents_cap;
    uint32_t n;
    struct label *md;
    size_t md_cap;
    uint32_t md_n;
    struct str *syms;
    size_t syms_cap;
    struct logchunk_sort_key *keys;
    size_t keys_cap;
    /* line filter (logchunk_iter_set_filter) and its result for the loaded block */
    logchunk_line_filter_fn filter;
    void *filter_arg;
    uint64_t *keep;
    size_t keep_cap;
    struct str *flines;
    size_t flines_cap;
    /* public counters (for query stats), accumulated since logchunk_iter_init */
    uint64_t filter_lines;   /* lines handed to the filter */
    uint64_t filter_dropped; /* of those, the ones it dropped */
    uint64_t blocks_loaded;
    uint64_t bytes_decompressed; /* uncompressed block bytes decoded */
    /* public: chunk offset of the block that failed, when err != 0 */
    size_t err_offset;
};

/* Prepares an iterator with no source (no allocation). Open it on a reader or writer, possibly many
 * times in turn: the buffers are kept. logchunk_iter_deinit frees them. */
void logchunk_iter_init(struct logchunk_iter *it);
void logchunk_iter_deinit(struct logchunk_iter *it);
/* Iterates the entries with mint <= ts < maxt in direction dir. The reader (and its bytes) must
 * outlive the iterator's use of it. Positioned before the first entry: call _next or _seek. */
void logchunk_iter_open_reader(struct logchunk_iter *it, const struct logchunk_reader *r,
                               int64_t mint, int64_t maxt, enum logchunk_dir dir);
/* Same over an open writer: its cut blocks, then its head block sorted by time (the writer is not
 * modified). Any mutation of the writer invalidates the iterator (checked: using it is a BUG);
 * re-open it and _seek past the last entry seen to continue. */
void logchunk_iter_open_writer(struct logchunk_iter *it, const struct logchunk_writer *w,
                               int64_t mint, int64_t maxt, enum logchunk_dir dir);
/* Sets (fn NULL: clears) a line filter: every block the iterator loads from then on is passed
 * through fn once, as a whole, and _next / _seek skip the entries it dropped (seek lands on the
 * first kept entry at or after its target in the iterator's direction). Kept across opens; set it
 * before positioning. The filter must be a pure function of the line. */
void logchunk_iter_set_filter(struct logchunk_iter *it, logchunk_line_filter_fn fn, void *arg);
/* Moves to the next entry in the iterator's direction. False at the end or on error (see _err). */
bool logchunk_iter_next(struct logchunk_iter *it);
/* Positions absolutely (either way): forward, at the first entry with ts >= t; backward, at the
 * last entry with ts < t; always within [mint, maxt). True when such an entry exists (then _at is
 * valid and _next continues from it); false at the end or on error. */
bool logchunk_iter_seek(struct logchunk_iter *it, int64_t t);
/* The current entry; only after _next or _seek returned true. */
const struct logchunk_entry *logchunk_iter_at(const struct logchunk_iter *it);
/* 0, or ERR_CORRUPT / ERR_NOMEM that stopped the iteration (sticky until the next open). */
int logchunk_iter_err(const struct logchunk_iter *it);

/* ---------------------------------------------------------------------------------------------- */
/* Testing aid                                                                                    */

/* Recomputes every checksum of a chunk in place wherever the structure lets it find the covered
 * bytes (block CRCs of index entries whose ranges are in bounds, then the index CRC), so that tests
 * and fuzzers can reach the checks behind the CRCs. Returns the number of checksums written. */
int logchunk_debug_reseal(uint8_t *data, size_t len);

#endif
