/* Block file codecs: the block INDEX (symbols, series with chunk refs, postings, label value lists,
 * table of contents, a CRC32C per section), the CHUNK FILE records, block ULIDs and meta.json.
 * Byte layout: docs/formats/block.md.
 *
 * Pure: bytes in, bytes out; no I/O, no threads. Laid out for RANGED READS: a reader fetches the
 * fixed-size TOC at the end of the index file, then only what it needs — the SYMBOLS and NAMES
 * sections, one name's label-value block (which lists that name's values and where their postings
 * lie), single postings frames, single series entries (two offsets from SERIES_OFFSETS, then the
 * entry) and finally chunk records by (file, offset, length). Every piece that can be read alone
 * carries its own CRC32C (series entries, value blocks, postings frames, chunk records) besides the
 * per-section CRC in the TOC, so a partial read is still verified.
 *
 * Decoders never trust their input: they are bounds-checked and return ERR_TRUNCATED (bytes end
 * early), ERR_CORRUPT (checksum or structure), ERR_UNSUPPORTED (unknown version) or ERR_NOMEM.
 * Functions that take `bad_off` report the byte offset (within the index file) of the item that
 * failed. Thread-safe: no shared state. */
#ifndef STRATA_FORMATS_BLOCKINDEX_H
#define STRATA_FORMATS_BLOCKINDEX_H

#include <roaring/roaring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"

/* ---- index file ---------------------------------------------------------------------------- */

#define BLOCKINDEX_MAGIC        0x58494253u /* bytes 53 42 49 58, "SBIX" */
#define BLOCKINDEX_VERSION      1
#define BLOCKINDEX_HEADER_BYTES 8   /* magic(4) version(1) reserved(3) */
#define BLOCKINDEX_TOC_BYTES    160 /* fixed-size footer: the last bytes of the file */
#define BLOCKINDEX_SERIES_MAX   0x7fffffffu
/* Chunk refs point at chunk files numbered 1..BLOCKINDEX_CHUNK_FILES_MAX (chunks/000001...). */
#define BLOCKINDEX_CHUNK_FILES_MAX 999999u

enum blockindex_section {
    BLOCKINDEX_SYMBOLS = 0,    /* sorted unique strings; count = symbols */
    BLOCKINDEX_SERIES,         /* series entries in label-set order; count = series */
    BLOCKINDEX_SERIES_OFFSETS, /* u64 per series + 1: entry i is [off[i], off[i+1]) of SERIES */
    BLOCKINDEX_POSTINGS,       /* postings frames (formats/postings); count = frames */
    BLOCKINDEX_VALUES,         /* one value block per label name; count = (name, value) pairs */
    BLOCKINDEX_NAMES,          /* one entry per label name; count = names */
    BLOCKINDEX_N_SECTIONS,
};

struct blockindex_section_ref {
    uint64_t off; /* from the start of the index file */
    uint64_t len;
    uint32_t count; /* items; meaning per section (above) */
    uint32_t crc;   /* CRC32C of the section's bytes */
};

struct blockindex_toc {
    struct blockindex_section_ref s[BLOCKINDEX_N_SECTIONS];
    uint32_t chunk_files; /* chunks/000001 .. chunks/<chunk_files> */
};

/* A chunk reference as stored in a series entry. */
struct blockindex_chunk {
    int64_t mint_ms;  /* first sample */
    int64_t maxt_ms;  /* last sample (inclusive), >= mint_ms */
    uint32_t samples; /* >= 1 */
    uint8_t encoding; /* 1..5 (engine/tsdb/series_set.h enum chunk_encoding) */
    uint32_t file;    /* chunk file number, >= 1 */
    uint64_t offset;  /* of the chunk RECORD (not its data) in that file */
    uint32_t len;     /* data bytes (the record is BLOCKINDEX_CHUNK_OVERHEAD bytes longer) */
};

/* A decoded series entry. Arrays are owned and reused across decodes (init/deinit). */
struct blockindex_series {
    uint32_t *refs;  /* 2 * n_labels symbol refs: name0, value0, name1, value1 ... */
    size_t n_labels; /* names strictly increasing */
    struct blockindex_chunk *chunks;
    size_t n_chunks; /* >= 1, ascending mint_ms */
    size_t cap_refs, cap_chunks;
};

/* One entry of the NAMES section: where the name's value block lies in VALUES. */
struct blockindex_name {
    uint32_t name;       /* symbol ref */
    uint64_t values_off; /* relative to the VALUES section */
    uint64_t values_len;
    uint32_t crc; /* CRC32C of the value block */
};

/* One value of a name's value block. */
struct blockindex_value {
    uint32_t value;        /* symbol ref */
    uint64_t postings_off; /* relative to the POSTINGS section */
    uint32_t postings_len; /* the whole postings frame */
};

/* Decodes and checks the TOC: the last BLOCKINDEX_TOC_BYTES of an index file of `file_size`
 * bytes. The sections must tile [BLOCKINDEX_HEADER_BYTES, file_size - TOC) in enum order, and the
 * counts must fit their lengths. */
int blockindex_toc_decode(const uint8_t *p, uint64_t file_size, struct blockindex_toc *toc);
/* Checks the 8-byte file header. */
int blockindex_header_check(const uint8_t *p, size_t n);
/* Checks the CRC of a whole section's bytes (p has s->len bytes). */
int blockindex_section_check(const struct blockindex_section_ref *s, const uint8_t *p);

/* Decodes SYMBOLS (n bytes, `count` strings) into out[count]: the strings borrow from p. Requires
 * strictly increasing byte order. */
int blockindex_symbols_decode(const uint8_t *p, size_t n, uint32_t count, struct str *out);
/* Binary search of a sorted symbol table. Returns the ref or -1. */
int64_t blockindex_symbol_find(const struct str *syms, uint32_t n, struct str s);

/* From the 16 bytes of SERIES_OFFSETS at index 8*id (entries id and id+1), the byte range of
 * series entry `id` within the SERIES section of length series_len. */
int blockindex_series_span(const uint8_t p[16], uint64_t series_len, uint64_t *off, uint64_t *len);

void blockindex_series_init(struct blockindex_series *s);
void blockindex_series_deinit(struct blockindex_series *s);
/* Decodes one series entry (exactly n bytes, CRC included). Symbol refs must be < n_symbols. */
int blockindex_series_decode(const uint8_t *p, size_t n, uint32_t n_symbols,
                             struct blockindex_series *s);
/* Appends one series entry. ERR_INVALID when names are not strictly increasing (by ref), there
 * are no chunks, chunks are not in ascending mint order, a chunk has maxt < mint, samples = 0,
 * file = 0, or (file, offset) goes backwards within the series. */
int blockindex_series_encode(const uint32_t *refs, size_t n_labels,
                             const struct blockindex_chunk *chunks, size_t n_chunks,
                             struct buf *out);

/* Decodes NAMES (count entries) into out[count]. Name refs must be strictly increasing and
 * < n_symbols; value blocks must tile [0, values_len) in order. */
int blockindex_names_decode(const uint8_t *p, size_t n, uint32_t count, uint32_t n_symbols,
                            uint64_t values_len, struct blockindex_name *out);
/* Finds a name by its string. Returns the index into names[] or -1. */
int64_t blockindex_name_find(const struct blockindex_name *names, uint32_t n,
                             const struct str *syms, struct str name);

/* Iterates one value block (check its CRC first with blockindex_values_check). */
struct blockindex_values_iter {
    struct rd r;
    uint32_t n_symbols;
    uint32_t left;
    uint32_t n_values;
    uint64_t next_off;
    int64_t prev;
    int err;
};
int blockindex_values_check(const struct blockindex_name *nm, const uint8_t *block);
/* Starts on a value block of `n` bytes; *n_values gets its count. Value refs must be < n_symbols
 * and strictly increasing. */
int blockindex_values_iter_init(struct blockindex_values_iter *it, const uint8_t *block, size_t n,
                                uint32_t n_symbols, uint32_t *n_values);
/* 1 with *out filled, 0 at the end (the block must end exactly there), or an error. */
int blockindex_values_iter_next(struct blockindex_values_iter *it, struct blockindex_value *out);

/* Streaming index writer. Call order: _init, _symbols, _series (once per series, in label-set
 * order; series are numbered 0, 1, ... in call order), _label (once per label name, in name order,
 * with the name's values in order and their postings bitmaps of series numbers), _finish. After
 * any call, the bytes produced so far are in `out`; the caller may write them to the file and
 * buf_reset(&w->out) (the writer tracks absolute offsets itself). Errors: ERR_INVALID for
 * out-of-order input (a caller bug the codec reports instead of writing a bad index), ERR_LIMIT
 * beyond BLOCKINDEX_SERIES_MAX series or 2^32-1 symbols, ERR_NOMEM. After an error the writer
 * can only be deinit'ed. */
struct blockindex_writer {
    struct buf out; /* pending bytes, drained by the caller */
    uint64_t pos;   /* bytes produced so far (drained + pending) */
    struct blockindex_toc toc;
    int stage;
    uint32_t crc;         /* running CRC of the current section */
    uint64_t *series_off; /* SERIES offsets, one per series + 1 */
    size_t cap_series;
    struct buf values; /* VALUES section, kept until _finish */
    struct buf names;  /* NAMES section */
    uint32_t n_symbols;
    int64_t last_name;
    uint32_t values_crc;
    struct blockindex_series tmp;
    int err;
};
int blockindex_writer_init(struct blockindex_writer *w, uint32_t chunk_files);
void blockindex_writer_deinit(struct blockindex_writer *w);
int blockindex_writer_symbols(struct blockindex_writer *w, const struct str *syms, size_t n);
int blockindex_writer_series(struct blockindex_writer *w, const uint32_t *refs, size_t n_labels,
                             const struct blockindex_chunk *chunks, size_t n_chunks);
/* Postings bitmaps are run-optimized here (hence not const); every id must be < series count. */
int blockindex_writer_label(struct blockindex_writer *w, uint32_t name, const uint32_t *values,
                            roaring_bitmap_t *const *postings, size_t n_values);
int blockindex_writer_finish(struct blockindex_writer *w);

/* A whole index file held in memory (verification, tools, fuzzing): TOC, header, every section
 * CRC, symbols and names decoded. Borrows p. */
struct blockindex_mem {
    const uint8_t *p;
    size_t n;
    struct blockindex_toc toc;
    struct str *syms;
    struct blockindex_name *names;
};
int blockindex_mem_open(struct blockindex_mem *m, const uint8_t *p, size_t n, uint64_t *bad_off);
void blockindex_mem_close(struct blockindex_mem *m);
static inline uint32_t blockindex_mem_series_count(const struct blockindex_mem *m)
{
    return m->toc.s[BLOCKINDEX_SERIES].count;
}
int blockindex_mem_series(const struct blockindex_mem *m, uint32_t id, struct blockindex_series *s,
                          uint64_t *bad_off);
/* The bytes of name i's value block, CRC-checked. */
int blockindex_mem_values(const struct blockindex_mem *m, uint32_t i, const uint8_t **block,
                          size_t *len, uint64_t *bad_off);
/* Decodes a postings frame of the POSTINGS section; ids must be < series count. */
int blockindex_mem_postings(const struct blockindex_mem *m, const struct blockindex_value *v,
                            roaring_bitmap_t **out, uint64_t *bad_off);
/* Everything blockindex_mem_open checks, plus every series entry (label-set order, refs), every
 * value block and postings frame (tiling, ids in range), and that postings and series labels
 * agree exactly. */
int blockindex_verify(const uint8_t *p, size_t n, uint64_t *bad_off);

/* ---- chunk files --------------------------------------------------------------------------- */

#define BLOCKINDEX_CHUNKS_MAGIC        0x4b484353u /* bytes 53 43 48 4b, "SCHK" */
#define BLOCKINDEX_CHUNKS_VERSION      1
#define BLOCKINDEX_CHUNKS_HEADER_BYTES 8
/* A record is len(u32) encoding(u8) data[len] crc32c(u32) over len, encoding and data. */
#define BLOCKINDEX_CHUNK_HEAD_BYTES 5
#define BLOCKINDEX_CHUNK_OVERHEAD   9
#define BLOCKINDEX_CHUNK_FILE_MAX   (512ull << 20)

void blockindex_chunks_header_encode(uint8_t out[BLOCKINDEX_CHUNKS_HEADER_BYTES]);
int blockindex_chunks_header_check(const uint8_t *p, size_t n);
/* Appends one record. */
int blockindex_chunk_encode(uint8_t encoding, const uint8_t *data, uint32_t len, struct buf *out);
/* Checks the record at p[0..n) (n >= len + overhead) against what the index says: its length and
 * encoding fields and its CRC. *data points at the chunk bytes. */
int blockindex_chunk_check(const uint8_t *p, size_t n, uint32_t len, uint8_t encoding,
                           const uint8_t **data);
/* Reads the next record of a chunk file body sequentially: *used is its total size. */
int blockindex_chunk_next(const uint8_t *p, size_t n, uint8_t *encoding, const uint8_t **data,
                          uint32_t *len, size_t *used);

/* ---- ULIDs and meta.json ------------------------------------------------------------------- */

#define BLOCKINDEX_ULID_CHARS 26

/* 128 bits, big-endian: 48-bit milliseconds, then 80 random bits. Byte order = sort order. */
struct blockindex_ulid {
    uint8_t b[16];
};

/* Canonical text: 26 upper-case Crockford base32 characters, NUL-terminated in out[27]. */
void blockindex_ulid_format(const struct blockindex_ulid *u, char out[BLOCKINDEX_ULID_CHARS + 1]);
/* Parses exactly the canonical form (upper case; first char <= '7'). ERR_INVALID otherwise. */
int blockindex_ulid_parse(const char *s, size_t n, struct blockindex_ulid *out);
int blockindex_ulid_cmp(const struct blockindex_ulid *a, const struct blockindex_ulid *b);
uint64_t blockindex_ulid_time_ms(const struct blockindex_ulid *u);

#define BLOCKINDEX_META_VERSION     1
#define BLOCKINDEX_META_BYTES_MAX   (16u << 20)
#define BLOCKINDEX_META_SOURCES_MAX 1000000u

struct blockindex_meta {
    struct blockindex_ulid ulid;
    int64_t min_time_ms; /* inclusive */
    int64_t max_time_ms; /* exclusive */
    uint64_t num_samples, num_series, num_chunks;
    uint32_t level;                  /* 1 = cut from the head */
    struct blockindex_ulid *sources; /* owned (malloc), sorted unique: the level-1 blocks */
    size_t n_sources;
    uint32_t version;
};

void blockindex_meta_init(struct blockindex_meta *m);
void blockindex_meta_deinit(struct blockindex_meta *m);
/* Replaces m->sources with a sorted, de-duplicated copy of src[n]. */
int blockindex_meta_set_sources(struct blockindex_meta *m, const struct blockindex_ulid *src,
                                size_t n);
/* Appends meta.json (indented JSON object, trailing newline). */
int blockindex_meta_encode(const struct blockindex_meta *m, struct buf *out);
/* Parses meta.json into m (overwritten: deinit it first when reused): a JSON object with the keys
 * above (unknown keys are skipped, nesting is bounded). ERR_CORRUPT for malformed JSON, missing or
 * mistyped fields, minTime > maxTime, level 0 or unsorted sources; ERR_UNSUPPORTED for another
 * version. On error m is left empty. */
int blockindex_meta_decode(const char *p, size_t n, struct blockindex_meta *m);
/* True when every source of `inner` is also a source of `outer`. */
bool blockindex_meta_covers(const struct blockindex_meta *outer,
                            const struct blockindex_meta *inner);

#endif
