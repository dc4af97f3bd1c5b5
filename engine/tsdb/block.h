/* Persistent blocks: one immutable directory `<ULID>/` per time range holding meta.json, index and
 * chunks/000001..., written from a chunk series set and read back as one. Byte layout:
 * docs/formats/block.md (codecs in formats/blockindex.h).
 *
 * Reading goes through a BYTE SOURCE (struct block_source: open a file of the block by name,
 * read(offset, len) from it), so that an object-store backend can replace the local directory: the
 * reader fetches meta.json, the index TOC, the SYMBOLS and NAMES sections at open, and afterwards
 * only what a query needs (one label's value block, single postings frames, single series entries,
 * single chunk records). The local source memory-maps files (chunk bytes handed out are views) or
 * uses pread (chunk bytes are copied into the set's buffers).
 *
 * Lifetime: a block is reference-counted (atomically: immutable blocks may be read by every
 * shard). A series set from block_select holds a reference until it is closed, so a block that is
 * deleted (block_mark_deleted: renamed to `<ULID>.tmp-for-deletion` at once) keeps its files until
 * the last reader is done, and only then is removed from disk.
 *
 * Corruption: bytes that fail a checksum or structural check make the call return ERR_CORRUPT; the
 * block remembers the first fault (file and byte offset, see block_fault) and logs it once. The
 * owner then quarantines the block (block_quarantine) and keeps serving the others.
 *
 * Threading: every function may be called from any thread on an open block; a series set belongs
 * to the thread that created it. Writing uses blocking file I/O (background work only). A failed
 * fsync panics (docs/ARCHITECTURE.md). */
#ifndef STRATA_ENGINE_TSDB_BLOCK_H
#define STRATA_ENGINE_TSDB_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"
#include "engine/index/matcher.h"
#include "engine/tsdb/series_set.h"
#include "formats/blockindex.h"

/* ---- byte sources -------------------------------------------------------------------------- */

struct block_file;

struct block_file_ops {
    /* Copies exactly [off, off + len) into dst. 0, ERR_TRUNCATED past the end, or -errno. */
    int (*read)(struct block_file *f, uint64_t off, size_t len, uint8_t *dst);
    void (*close)(struct block_file *f);
};

struct block_file {
    const struct block_file_ops *ops;
    uint64_t size;
    const uint8_t *map; /* the whole file when memory-mapped (views are handed out), else NULL */
};

struct block_source;

struct block_source_ops {
    /* Opens a file of the block by its relative name: "meta.json", "index", "chunks/000001".
     * ERR_NOT_FOUND when absent, -errno, ERR_NOMEM. */
    int (*open)(struct block_source *src, const char *name, struct block_file **out);
    void (*destroy)(struct block_source *src);
};

struct block_source {
    const struct block_source_ops *ops;
};

enum block_io { BLOCK_IO_MMAP, BLOCK_IO_PREAD };

/* A source over a local block directory (the path is copied). */
int block_source_dir_create(const char *dir, enum block_io io, struct block_source **out);

/* ---- reading ------------------------------------------------------------------------------- */

struct block;

/* Where a block's bytes went bad. */
struct block_fault {
    int code;      /* ERR_CORRUPT (or ERR_UNSUPPORTED for a newer format) */
    char file[24]; /* "meta.json", "index", "chunks/000003" */
    uint64_t offset;
};

/* Opens the block in directory `dir` (memory-mapped files). Reads meta.json, the index TOC,
 * SYMBOLS and NAMES, and opens the chunk files. Returns 0, ERR_NOT_FOUND (no meta.json or index),
 * ERR_CORRUPT (logged with file and offset; *fault filled when not NULL), ERR_UNSUPPORTED,
 * ERR_NOMEM or -errno. */
int block_open(const char *dir, struct block **out, struct block_fault *fault);
/* The same over any byte source, whose ownership passes to the block (destroyed with it, or at
 * once on failure). `dir` (may be NULL) names the block directory for deletion and logging. */
int block_open_source(struct block_source *src, const char *dir, struct block **out,
                      struct block_fault *fault);

void block_ref(struct block *b);
/* Drops a reference; the last one closes the block (and removes its files when deleted). */
void block_unref(struct block *b);

const struct blockindex_meta *block_meta(const struct block *b);
const char *block_dir(const struct block *b); /* NULL when opened without one */
/* Bytes of meta.json, index and chunk files. */
uint64_t block_size_bytes(const struct block *b);

/* Series matching all matchers (Prometheus PostingsForMatchers rules; n = 0 selects every series)
 * that have at least one chunk overlapping [mint_ms, maxt_ms] (both inclusive), with only those
 * chunks. Chunk CRCs are checked as chunks are read. The set holds a block reference; labels and
 * chunk bytes stay valid until its next _next() (mmap: until it is closed). */
int block_select(struct block *b, const struct matcher *ms, size_t n, int64_t mint_ms,
                 int64_t maxt_ms, struct chunk_series_set **out);

/* Sorted label names of the series matching ms (all series when n = 0). *out is malloc'ed (the
 * caller frees it); the strings borrow from the block and stay valid while a reference is held. */
int block_label_names(struct block *b, const struct matcher *ms, size_t n, struct str **out,
                      size_t *n_out);
/* Sorted values of label `name` among the series matching ms (all when n = 0). Same ownership. */
int block_label_values(struct block *b, struct str name, const struct matcher *ms, size_t n,
                       struct str **out, size_t *n_out);

/* Reads everything: every index section and entry (blockindex_verify), every chunk record the
 * index points at (CRC, length, encoding), chunk file headers and sizes, and meta.json stats
 * against the index. Returns 0 or ERR_CORRUPT with *fault filled (may be NULL), ERR_NOMEM, -errno.
 */
int block_verify(struct block *b, struct block_fault *fault);
/* The first fault this block has seen, if any. */
bool block_fault(struct block *b, struct block_fault *out);

/* Marks the block deleted: its directory is renamed to `<dir>.tmp-for-deletion` now and removed
 * when the last reference goes. Idempotent. */
void block_mark_deleted(struct block *b);

/* Moves block directory `dir` (…/blocks/<ULID>) to …/quarantine/<ULID> (a suffix is added when
 * that exists), creating the quarantine directory. Returns 0 or -errno. */
int block_quarantine(const char *dir);

/* rm -rf. Returns 0 (also when absent) or -errno. */
int block_remove_dir(const char *path);

/* ---- writing ------------------------------------------------------------------------------- */

struct block_write_opts {
    uint64_t chunk_file_bytes_max; /* 0: BLOCKINDEX_CHUNK_FILE_MAX (512 MiB) */
    uint64_t spool_mem_bytes_max;  /* series kept in memory before spilling; 0: 8 MiB */
    /* Float chunks (XOR or packed) of a series are re-encoded as CHUNK_PACKED
     * (formats/floatpack.h), consecutive non-overlapping ones merged up to BLOCK_PACK_SAMPLES_MAX
     * samples and BLOCK_PACK_SPAN_MS, whenever that is smaller. true: keep float chunks as they
     * come. */
    bool float_pack_off;
};

#define BLOCK_PACK_SAMPLES_MAX 16384u
#define BLOCK_PACK_SPAN_MS     (24 * 3600 * 1000ll)

/* Writes the series of `set` (consumed, not closed) as a new block covering [mint_ms, maxt_ms)
 * under `blocks_dir`: files go to `<ULID>.tmp/`, are fsynced, then the directory is renamed to
 * `<ULID>/` and blocks_dir is fsynced. meta is in/out: the caller sets `level` and `sources` (none:
 * the new block is its own source); the writer fills ulid, times, stats and version.
 *
 * Series without chunks are skipped. Returns 0; ERR_EMPTY when no series has a chunk (nothing is
 * written); ERR_INVALID when the set breaks its contract (label sets not sorted/unique, chunks not
 * in mint order, bad chunk fields); ERR_RANGE when a chunk lies outside [mint_ms, maxt_ms); the
 * set's error; ERR_NOMEM; -errno. On error the temporary directory is removed. */
int block_write(const char *blocks_dir, struct chunk_series_set *set, int64_t mint_ms,
                int64_t maxt_ms, struct blockindex_meta *meta);
int block_write_ex(const char *blocks_dir, struct chunk_series_set *set, int64_t mint_ms,
                   int64_t maxt_ms, const struct block_write_opts *opts,
                   struct blockindex_meta *meta);

/* A new ULID for time ms: 48-bit time, 80 random bits (getrandom). */
void block_ulid_new(uint64_t ms, struct blockindex_ulid *out);

#endif
