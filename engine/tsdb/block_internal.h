/* Internals shared by the block reader files (block.c, block_select.c, block_verify.c) and the
 * compactor: piecewise, checked access to an open block's index and chunk files. Every reader
 * records a fault on the block (file, offset) before returning ERR_CORRUPT. */
#ifndef STRATA_ENGINE_TSDB_BLOCK_INTERNAL_H
#define STRATA_ENGINE_TSDB_BLOCK_INTERNAL_H

#include "engine/tsdb/block.h"

#define BLOCK_TMP_SUFFIX     ".tmp"
#define BLOCK_DELETED_SUFFIX ".tmp-for-deletion"

/* "chunks/000042" */
void block_chunk_file_name(uint32_t file, char *out, size_t n);
/* "<dir>.tmp-for-deletion", malloc'ed (NULL on ENOMEM). */
char *block_deleted_path(const char *dir);

/* Records the first fault; ERR_TRUNCATED/ERR_CORRUPT become ERR_CORRUPT, 0 and other codes pass. */
int block_fault_set(struct block *b, int rc, const char *file, uint64_t off);
/* [off, off + len) of f: a view when mapped, else a copy in scratch (valid until its next use). */
int block_file_get(struct block_file *f, uint64_t off, size_t len, struct buf *scratch,
                   const uint8_t **out);

uint32_t block_n_series(const struct block *b);
const struct str *block_symbols(const struct block *b, uint32_t *n);
const struct blockindex_name *block_names(const struct block *b, uint32_t *n);
const struct blockindex_toc *block_toc(const struct block *b);
struct block_file *block_index_file(const struct block *b);
struct block_file *block_chunk_file(const struct block *b, uint32_t file);

int block_values_read(struct block *b, uint32_t name_i, struct buf *scratch, const uint8_t **p);
int block_postings_read(struct block *b, const struct blockindex_value *v, struct buf *scratch,
                        roaring_bitmap_t **out);
/* The bytes from first's postings frame to the end of last's (first <= last in the section). */
int block_postings_span(struct block *b, const struct blockindex_value *first,
                        const struct blockindex_value *last, struct buf *scratch,
                        const uint8_t **p);
int block_postings_decode(struct block *b, const struct blockindex_value *v, const uint8_t *p,
                          roaring_bitmap_t **out);
int block_series_read(struct block *b, uint32_t id, struct buf *scratch,
                      struct blockindex_series *s);
int block_chunk_read(struct block *b, const struct blockindex_chunk *c, struct buf *scratch,
                     const uint8_t **data);

/* Ids of the series matching ms (n = 0: all) into out (cleared first). */
int block_select_ids(struct block *b, const struct matcher *ms, size_t n, roaring_bitmap_t *out);

#endif
