/* Block reader: open (meta.json, index TOC, symbols, names), postings selection with Prometheus
 * matcher rules, a chunk series set over the selected series, label names/values, full
 * verification, reference counting and deferred deletion. Layout: docs/formats/block.md. */
#include "engine/tsdb/block.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/tsdb/block_internal.h"
#include "formats/postings.h"

struct block {
    atomic_int refs;
    atomic_bool deleted;
    char *dir; /* NULL when opened from a source without one */
    struct block_source *src;
    struct blockindex_meta meta;
    struct block_file *index;
    struct block_file **chunks; /* chunk file i + 1 at chunks[i] */
    uint32_t n_chunks;
    struct blockindex_toc toc;
    struct buf symbols_copy; /* SYMBOLS bytes when the index is not mapped */
    struct str *syms;
    uint32_t n_syms;
    struct blockindex_name *names;
    uint32_t n_names;
    uint64_t size_bytes;
    pthread_mutex_t mu; /* guards fault */
    bool faulted;
    struct block_fault fault;
};

/* ---- faults and byte access ---------------------------------------------------------------- */

static bool is_bad_bytes(int rc)
{
    return rc == ERR_CORRUPT || rc == ERR_TRUNCATED;
}

void block_chunk_file_name(uint32_t file, char *out, size_t n)
{
    snprintf(out, n, "chunks/%06u", file);
}

static void fault_fill(struct block_fault *f, int rc, const char *file, uint64_t off)
{
    if (!f)
        return;
    f->code = rc;
    snprintf(f->file, sizeof f->file, "%s", file);
    f->offset = off;
}

/* Records the first fault of a block and turns bad-bytes codes into ERR_CORRUPT. Other codes
 * (ERR_NOMEM, -errno) pass through unrecorded. */
int block_fault_set(struct block *b, int rc, const char *file, uint64_t off)
{
    if (!is_bad_bytes(rc))
        return rc;
    pthread_mutex_lock(&b->mu);
    bool first = !b->faulted;
    if (first) {
        b->faulted = true;
        fault_fill(&b->fault, ERR_CORRUPT, file, off);
    }
    pthread_mutex_unlock(&b->mu);
    if (first)
        log_error("block corrupt", LOG_STR("block", b->dir ? b->dir : "?"), LOG_STR("file", file),
                  LOG_UINT("offset", off));
    return ERR_CORRUPT;
}

static int index_fault(struct block *b, int rc, uint64_t off)
{
    return block_fault_set(b, rc, "index", off);
}

bool block_fault(struct block *b, struct block_fault *out)
{
    pthread_mutex_lock(&b->mu);
    bool f = b->faulted;
    if (f && out)
        *out = b->fault;
    pthread_mutex_unlock(&b->mu);
    return f;
}

/* Bytes [off, off + len) of f: a view when the file is mapped, else a copy in *scratch (valid
 * until scratch is used again). Ranges past the end are ERR_CORRUPT: the index pointed there. */
int block_file_get(struct block_file *f, uint64_t off, size_t len, struct buf *scratch,
                   const uint8_t **out)
{
    if (off > f->size || len > f->size - off)
        return ERR_CORRUPT;
    if (f->map) {
        *out = f->map + off;
        return 0;
    }
    buf_reset(scratch);
    if (buf_reserve(scratch, len + 1))
        return ERR_NOMEM;
    int rc = f->ops->read(f, off, len, scratch->data);
    if (rc)
        return rc;
    scratch->len = len;
    *out = scratch->data;
    return 0;
}

/* ---- open / close -------------------------------------------------------------------------- */

static int read_meta(struct block *b, struct block_fault *fault)
{
    struct block_file *f;
    int rc = b->src->ops->open(b->src, "meta.json", &f);
    if (rc)
        return rc;
    struct buf scratch = BUF_INIT;
    const uint8_t *p;
    b->size_bytes += f->size;
    rc = f->size > BLOCKINDEX_META_BYTES_MAX ? ERR_CORRUPT
                                             : block_file_get(f, 0, f->size, &scratch, &p);
    if (rc == 0)
        rc = blockindex_meta_decode((const char *)p, (size_t)f->size, &b->meta);
    f->ops->close(f);
    buf_deinit(&scratch);
    if (rc == ERR_UNSUPPORTED || is_bad_bytes(rc))
        fault_fill(fault, rc == ERR_UNSUPPORTED ? rc : ERR_CORRUPT, "meta.json", 0);
    return is_bad_bytes(rc) ? block_fault_set(b, rc, "meta.json", 0) : rc;
}

static int read_index_head(struct block *b, struct block_fault *fault)
{
    struct buf scratch = BUF_INIT;
    const uint8_t *p;
    struct block_file *f = b->index;
    uint64_t toc_at = f->size >= BLOCKINDEX_TOC_BYTES ? f->size - BLOCKINDEX_TOC_BYTES : 0;
    int rc = f->size < BLOCKINDEX_HEADER_BYTES + BLOCKINDEX_TOC_BYTES
                 ? ERR_TRUNCATED
                 : block_file_get(f, toc_at, BLOCKINDEX_TOC_BYTES, &scratch, &p);
    if (rc == 0)
        rc = blockindex_toc_decode(p, f->size, &b->toc);
    buf_deinit(&scratch);
    if (rc) {
        fault_fill(fault, rc == ERR_UNSUPPORTED ? rc : ERR_CORRUPT, "index", toc_at);
        return rc == ERR_UNSUPPORTED ? rc : index_fault(b, rc, toc_at);
    }
    return 0;
}

static int read_symbols(struct block *b, struct block_fault *fault)
{
    const struct blockindex_section_ref *s = &b->toc.s[BLOCKINDEX_SYMBOLS];
    const uint8_t *p;
    int rc = block_file_get(b->index, s->off, (size_t)s->len, &b->symbols_copy, &p);
    if (rc == 0)
        rc = blockindex_section_check(s, p);
    b->n_syms = s->count;
    b->syms = malloc(((size_t)s->count + 1) * sizeof *b->syms);
    if (rc == 0 && !b->syms)
        rc = ERR_NOMEM;
    if (rc == 0)
        rc = blockindex_symbols_decode(p, (size_t)s->len, s->count, b->syms);
    if (is_bad_bytes(rc))
        fault_fill(fault, ERR_CORRUPT, "index", s->off);
    return index_fault(b, rc, s->off);
}

static int read_names(struct block *b, struct block_fault *fault)
{
    const struct blockindex_section_ref *s = &b->toc.s[BLOCKINDEX_NAMES];
    struct buf scratch = BUF_INIT;
    const uint8_t *p;
    int rc = block_file_get(b->index, s->off, (size_t)s->len, &scratch, &p);
    if (rc == 0)
        rc = blockindex_section_check(s, p);
    b->n_names = s->count;
    b->names = malloc(((size_t)s->count + 1) * sizeof *b->names);
    if (rc == 0 && !b->names)
        rc = ERR_NOMEM;
    if (rc == 0)
        rc = blockindex_names_decode(p, (size_t)s->len, s->count, b->n_syms,
                                     b->toc.s[BLOCKINDEX_VALUES].len, b->names);
    buf_deinit(&scratch);
    if (is_bad_bytes(rc))
        fault_fill(fault, ERR_CORRUPT, "index", s->off);
    return index_fault(b, rc, s->off);
}

static int open_chunk_files(struct block *b)
{
    b->chunks = calloc((size_t)b->toc.chunk_files + 1, sizeof *b->chunks);
    if (!b->chunks)
        return ERR_NOMEM;
    for (uint32_t i = 0; i < b->toc.chunk_files; i++) {
        char name[24];
        block_chunk_file_name(i + 1, name, sizeof name);
        int rc = b->src->ops->open(b->src, name, &b->chunks[i]);
        if (rc)
            return rc;
        b->n_chunks = i + 1;
        b->size_bytes += b->chunks[i]->size;
    }
    return 0;
}

static void block_free(struct block *b)
{
    for (uint32_t i = 0; i < b->n_chunks; i++)
        b->chunks[i]->ops->close(b->chunks[i]);
    free(b->chunks);
    if (b->index)
        b->index->ops->close(b->index);
    if (b->src)
        b->src->ops->destroy(b->src);
    blockindex_meta_deinit(&b->meta);
    buf_deinit(&b->symbols_copy);
    free(b->syms);
    free(b->names);
    pthread_mutex_destroy(&b->mu);
    free(b->dir);
    free(b);
}

static int open_parts(struct block *b, struct block_fault *fault)
{
    int rc = read_meta(b, fault);
    if (rc == 0)
        rc = b->src->ops->open(b->src, "index", &b->index);
    if (rc)
        return rc;
    b->size_bytes += b->index->size;
    if ((rc = read_index_head(b, fault)) || (rc = read_symbols(b, fault)) ||
        (rc = read_names(b, fault)))
        return rc;
    if (b->index->map)
        buf_deinit(&b->symbols_copy);
    return open_chunk_files(b);
}

int block_open_source(struct block_source *src, const char *dir, struct block **out,
                      struct block_fault *fault)
{
    *out = NULL;
    struct block *b = calloc(1, sizeof *b);
    if (!b) {
        src->ops->destroy(src);
        return ERR_NOMEM;
    }
    atomic_init(&b->refs, 1);
    atomic_init(&b->deleted, false);
    pthread_mutex_init(&b->mu, NULL);
    b->src = src;
    blockindex_meta_init(&b->meta);
    if (dir && !(b->dir = strdup(dir))) {
        block_free(b);
        return ERR_NOMEM;
    }
    int rc = open_parts(b, fault);
    if (rc) {
        block_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

int block_open(const char *dir, struct block **out, struct block_fault *fault)
{
    struct block_source *src;
    int rc = block_source_dir_create(dir, BLOCK_IO_MMAP, &src);
    return rc ? rc : block_open_source(src, dir, out, fault);
}

void block_ref(struct block *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void block_unref(struct block *b)
{
    if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    char *gone = NULL;
    if (atomic_load(&b->deleted) && b->dir)
        gone = block_deleted_path(b->dir);
    block_free(b);
    if (gone) {
        int rc = block_remove_dir(gone);
        if (rc)
            log_error("block removal failed", LOG_STR("dir", gone), LOG_ERR(rc));
        free(gone);
    }
}

char *block_deleted_path(const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    char *p = malloc(n + sizeof BLOCK_DELETED_SUFFIX);
    if (p) {
        memcpy(p, dir, n);
        memcpy(p + n, BLOCK_DELETED_SUFFIX, sizeof BLOCK_DELETED_SUFFIX);
    }
    return p;
}

void block_mark_deleted(struct block *b)
{
    if (atomic_exchange(&b->deleted, true) || !b->dir)
        return;
    char *to = block_deleted_path(b->dir);
    if (!to || rename(b->dir, to) != 0)
        log_error("block rename for deletion failed", LOG_STR("dir", b->dir),
                  LOG_ERR(to ? -errno : ERR_NOMEM));
    free(to);
}

const struct blockindex_meta *block_meta(const struct block *b)
{
    return &b->meta;
}

const char *block_dir(const struct block *b)
{
    return b->dir;
}

uint64_t block_size_bytes(const struct block *b)
{
    return b->size_bytes;
}

/* ---- accessors for the other block files --------------------------------------------------- */

uint32_t block_n_series(const struct block *b)
{
    return b->toc.s[BLOCKINDEX_SERIES].count;
}

const struct str *block_symbols(const struct block *b, uint32_t *n)
{
    *n = b->n_syms;
    return b->syms;
}

const struct blockindex_name *block_names(const struct block *b, uint32_t *n)
{
    *n = b->n_names;
    return b->names;
}

/* Reads and checks the value block of name i. */
int block_values_read(struct block *b, uint32_t i, struct buf *scratch, const uint8_t **p)
{
    ASSERT(i < b->n_names);
    const struct blockindex_name *nm = &b->names[i];
    uint64_t at = b->toc.s[BLOCKINDEX_VALUES].off + nm->values_off;
    int rc = block_file_get(b->index, at, (size_t)nm->values_len, scratch, p);
    if (rc == 0)
        rc = blockindex_values_check(nm, *p);
    return index_fault(b, rc, at);
}

/* Decodes the postings frame of v from its bytes p; ids must be < the series count. */
int block_postings_decode(struct block *b, const struct blockindex_value *v, const uint8_t *p,
                          roaring_bitmap_t **out)
{
    uint64_t at = b->toc.s[BLOCKINDEX_POSTINGS].off + v->postings_off;
    size_t used = 0;
    *out = NULL;
    int rc = postings_decode(p, v->postings_len, out, &used);
    if (rc == 0 &&
        (used != v->postings_len ||
         (!roaring_bitmap_is_empty(*out) && roaring_bitmap_maximum(*out) >= block_n_series(b)))) {
        roaring_bitmap_free(*out);
        *out = NULL;
        rc = ERR_CORRUPT;
    }
    return index_fault(b, rc == ERR_UNSUPPORTED ? ERR_CORRUPT : rc, at);
}

/* Reads [first, last] values' postings frames (adjacent in the POSTINGS section) in one read. */
int block_postings_span(struct block *b, const struct blockindex_value *first,
                        const struct blockindex_value *last, struct buf *scratch, const uint8_t **p)
{
    const struct blockindex_section_ref *ps = &b->toc.s[BLOCKINDEX_POSTINGS];
    uint64_t end = last->postings_off + last->postings_len;
    if (first->postings_off > end || end > ps->len)
        return index_fault(b, ERR_CORRUPT, ps->off + first->postings_off);
    int rc = block_file_get(b->index, ps->off + first->postings_off,
                            (size_t)(end - first->postings_off), scratch, p);
    return index_fault(b, rc, ps->off + first->postings_off);
}

/* Reads and decodes one postings frame. */
int block_postings_read(struct block *b, const struct blockindex_value *v, struct buf *scratch,
                        roaring_bitmap_t **out)
{
    const uint8_t *p;
    *out = NULL;
    int rc = block_postings_span(b, v, v, scratch, &p);
    return rc ? rc : block_postings_decode(b, v, p, out);
}

/* Reads and decodes series entry `id`. */
int block_series_read(struct block *b, uint32_t id, struct buf *scratch,
                      struct blockindex_series *s)
{
    ASSERT(id < block_n_series(b));
    const struct blockindex_section_ref *so = &b->toc.s[BLOCKINDEX_SERIES_OFFSETS];
    const struct blockindex_section_ref *se = &b->toc.s[BLOCKINDEX_SERIES];
    uint64_t at = so->off + 8 * (uint64_t)id, off, len;
    const uint8_t *p;
    int rc = block_file_get(b->index, at, 16, scratch, &p);
    if (rc == 0)
        rc = blockindex_series_span(p, se->len, &off, &len);
    if (rc)
        return index_fault(b, rc, at);
    at = se->off + off;
    rc = block_file_get(b->index, at, (size_t)len, scratch, &p);
    if (rc == 0)
        rc = blockindex_series_decode(p, (size_t)len, b->n_syms, s);
    for (size_t i = 0; rc == 0 && i < s->n_chunks; i++)
        if (s->chunks[i].file > b->n_chunks)
            rc = ERR_CORRUPT;
    return index_fault(b, rc, at);
}

/* Reads and checks one chunk record; *data is its chunk bytes (a view or in scratch). */
int block_chunk_read(struct block *b, const struct blockindex_chunk *c, struct buf *scratch,
                     const uint8_t **data)
{
    ASSERT(c->file >= 1 && c->file <= b->n_chunks);
    struct block_file *f = b->chunks[c->file - 1];
    const uint8_t *p;
    size_t n = (size_t)c->len + BLOCKINDEX_CHUNK_OVERHEAD;
    int rc = block_file_get(f, c->offset, n, scratch, &p);
    if (rc == 0)
        rc = blockindex_chunk_check(p, n, c->len, c->encoding, data);
    if (is_bad_bytes(rc)) {
        char name[24];
        block_chunk_file_name(c->file, name, sizeof name);
        return block_fault_set(b, rc, name, c->offset);
    }
    return rc;
}

struct block_file *block_index_file(const struct block *b)
{
    return b->index;
}

const struct blockindex_toc *block_toc(const struct block *b)
{
    return &b->toc;
}

struct block_file *block_chunk_file(const struct block *b, uint32_t file)
{
    ASSERT(file >= 1 && file <= b->n_chunks);
    return b->chunks[file - 1];
}
