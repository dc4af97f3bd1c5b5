/* Full verification of an open block: the whole index (every section, entry, value block and
 * postings frame, cross-checked), every chunk record the index references, chunk file headers and
 * sizes, and meta.json statistics and time range against the index. */
#include <stdlib.h>

#include "base/error.h"
#include "engine/tsdb/block.h"
#include "engine/tsdb/block_internal.h"

struct vstate {
    uint64_t *file_end; /* per chunk file: end of the last record referenced */
    uint64_t chunks, samples;
    struct buf scratch;
};

static int verify_chunks_of(struct block *b, const struct blockindex_series *s, uint64_t entry_off,
                            struct vstate *v)
{
    const struct blockindex_meta *m = block_meta(b);
    for (size_t i = 0; i < s->n_chunks; i++) {
        const struct blockindex_chunk *c = &s->chunks[i];
        if (c->mint_ms < m->min_time_ms || c->maxt_ms >= m->max_time_ms)
            return block_fault_set(b, ERR_CORRUPT, "index", entry_off);
        const uint8_t *data;
        int rc = block_chunk_read(b, c, &v->scratch, &data);
        if (rc)
            return rc;
        uint64_t end = c->offset + BLOCKINDEX_CHUNK_OVERHEAD + c->len;
        if (end > v->file_end[c->file - 1])
            v->file_end[c->file - 1] = end;
        v->chunks++;
        v->samples += c->samples;
    }
    return 0;
}

static int verify_series(struct block *b, const struct blockindex_mem *m, struct vstate *v)
{
    struct blockindex_series s;
    blockindex_series_init(&s);
    int rc = 0;
    for (uint32_t id = 0; id < blockindex_mem_series_count(m) && rc == 0; id++) {
        uint64_t bad = 0;
        rc = blockindex_mem_series(m, id, &s, &bad);
        if (rc)
            rc = block_fault_set(b, rc, "index", bad);
        else
            rc = verify_chunks_of(b, &s, bad, v);
    }
    blockindex_series_deinit(&s);
    return rc;
}

static int verify_files(struct block *b, struct vstate *v)
{
    uint32_t n = block_toc(b)->chunk_files;
    for (uint32_t i = 1; i <= n; i++) {
        struct block_file *f = block_chunk_file(b, i);
        const uint8_t *p;
        int rc = block_file_get(f, 0, BLOCKINDEX_CHUNKS_HEADER_BYTES, &v->scratch, &p);
        if (rc == 0)
            rc = blockindex_chunks_header_check(p, BLOCKINDEX_CHUNKS_HEADER_BYTES);
        uint64_t end = v->file_end[i - 1] ? v->file_end[i - 1] : BLOCKINDEX_CHUNKS_HEADER_BYTES;
        uint64_t at = 0;
        if (rc == 0 && f->size != end) {
            rc = ERR_CORRUPT;
            at = end < f->size ? end : f->size;
        }
        if (rc) {
            char name[24];
            block_chunk_file_name(i, name, sizeof name);
            return block_fault_set(b, rc == ERR_UNSUPPORTED ? ERR_CORRUPT : rc, name, at);
        }
    }
    return 0;
}

static int verify_all(struct block *b, const uint8_t *p, uint64_t n, struct vstate *v)
{
    uint64_t bad = 0;
    int rc = blockindex_verify(p, (size_t)n, &bad);
    if (rc)
        return block_fault_set(b, rc == ERR_UNSUPPORTED ? ERR_CORRUPT : rc, "index", bad);
    struct blockindex_mem m;
    if ((rc = blockindex_mem_open(&m, p, (size_t)n, &bad)))
        return block_fault_set(b, rc, "index", bad);
    rc = verify_series(b, &m, v);
    uint32_t n_series = blockindex_mem_series_count(&m);
    blockindex_mem_close(&m);
    if (rc == 0)
        rc = verify_files(b, v);
    const struct blockindex_meta *meta = block_meta(b);
    if (rc == 0 && (meta->num_series != n_series || meta->num_chunks != v->chunks ||
                    meta->num_samples != v->samples))
        rc = block_fault_set(b, ERR_CORRUPT, "meta.json", 0);
    return rc;
}

int block_verify(struct block *b, struct block_fault *fault)
{
    struct block_file *ix = block_index_file(b);
    struct buf whole = BUF_INIT;
    struct vstate v = {0};
    const uint8_t *p;
    v.file_end = calloc((size_t)block_toc(b)->chunk_files + 1, sizeof *v.file_end);
    int rc = v.file_end ? block_file_get(ix, 0, (size_t)ix->size, &whole, &p) : ERR_NOMEM;
    if (rc == 0)
        rc = verify_all(b, p, ix->size, &v);
    buf_deinit(&whole);
    buf_deinit(&v.scratch);
    free(v.file_end);
    if (rc == ERR_CORRUPT && fault)
        block_fault(b, fault);
    return rc;
}
