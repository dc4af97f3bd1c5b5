/* Fuzz target for formats/blockindex. The first input byte picks a mode (byte % 4):
 *   0: the rest is an index file: full verification; whatever it says, the piecewise decoders a
 *      ranged reader uses (TOC, symbols, names, value blocks, postings frames, series entries)
 *      are run on it too. A verified index is re-written with the streaming writer from what was
 *      decoded, and the copy must verify and decode to the same content.
 *   1: the same after recomputing every CRC (series entries, postings frames, value blocks,
 *      sections, TOC), so forged structures reach the structural checks.
 *   2: the rest is meta.json: decode; on success encode, decode again and compare.
 *   3: the rest is a chunk file: header, then records walked to the end.
 * Corrupt input must come back as an error code, never a crash, leak or out-of-bounds read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/crc32c.h"
#include "base/error.h"
#include "formats/blockindex.h"
#include "formats/postings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_err(int rc)
{
    return rc == ERR_CORRUPT || rc == ERR_TRUNCATED || rc == ERR_UNSUPPORTED || rc == ERR_NOMEM;
}

/* ---- CRC repair (mode 1) ------------------------------------------------------------------- */

static bool sec(const uint8_t *toc, size_t n, int s, uint64_t *off, uint64_t *len)
{
    *off = le64_get(toc + 24 * s);
    *len = le64_get(toc + 24 * s + 8);
    uint64_t end = n - BLOCKINDEX_TOC_BYTES;
    return *off <= end && *len <= end - *off;
}

static void fix_series(uint8_t *p, size_t n, const uint8_t *toc)
{
    uint64_t so, sl, oo, ol;
    if (!sec(toc, n, BLOCKINDEX_SERIES, &so, &sl) ||
        !sec(toc, n, BLOCKINDEX_SERIES_OFFSETS, &oo, &ol))
        return;
    for (uint64_t i = 0; i + 16 <= ol; i += 8) {
        uint64_t a = le64_get(p + oo + i), b = le64_get(p + oo + i + 8);
        if (a < b && b <= sl && b - a >= 4)
            le32_put(p + so + b - 4, crc32c(p + so + a, (size_t)(b - a - 4)));
    }
}

static void fix_postings(uint8_t *p, size_t n, const uint8_t *toc)
{
    uint64_t po, pl;
    if (!sec(toc, n, BLOCKINDEX_POSTINGS, &po, &pl))
        return;
    for (uint64_t at = 0; pl - at >= POSTINGS_HEADER_BYTES + POSTINGS_TRAILER_BYTES;) {
        uint8_t *f = p + po + at;
        uint64_t plen = le32_get(f + 8);
        if (plen > pl - at - POSTINGS_HEADER_BYTES - POSTINGS_TRAILER_BYTES)
            break;
        le32_put(f + POSTINGS_HEADER_BYTES + plen, crc32c(f, POSTINGS_HEADER_BYTES + plen));
        at += POSTINGS_HEADER_BYTES + POSTINGS_TRAILER_BYTES + plen;
    }
}

static void fix_values(uint8_t *p, size_t n, const uint8_t *toc)
{
    uint64_t no, nl, vo, vl, at = 0, d, vlen;
    if (!sec(toc, n, BLOCKINDEX_NAMES, &no, &nl) || !sec(toc, n, BLOCKINDEX_VALUES, &vo, &vl))
        return;
    struct rd r = rd_make(p + no, nl);
    while (rd_uvarint(&r, &d) == 0 && rd_uvarint(&r, &vlen) == 0 && rd_left(&r) >= 4) {
        if (vlen > vl - at)
            return;
        le32_put((uint8_t *)r.p, crc32c(p + vo + at, (size_t)vlen));
        rd_skip(&r, 4);
        at += vlen;
    }
}

static void fix_crcs(uint8_t *p, size_t n)
{
    if (n < BLOCKINDEX_HEADER_BYTES + BLOCKINDEX_TOC_BYTES)
        return;
    uint8_t *toc = p + n - BLOCKINDEX_TOC_BYTES;
    fix_series(p, n, toc);
    fix_postings(p, n, toc);
    fix_values(p, n, toc);
    for (int s = 0; s < BLOCKINDEX_N_SECTIONS; s++) {
        uint64_t off, len;
        if (sec(toc, n, s, &off, &len))
            le32_put(toc + 24 * s + 20, crc32c(p + off, (size_t)len));
    }
    le32_put(toc + 148, crc32c(toc, 148));
}

/* ---- piecewise decoding (what a ranged reader does) ------------------------------------------ */

static void piecewise(const uint8_t *p, size_t n)
{
    struct blockindex_toc toc;
    if (n < BLOCKINDEX_TOC_BYTES || blockindex_toc_decode(p + n - BLOCKINDEX_TOC_BYTES, n, &toc))
        return;
    const struct blockindex_section_ref *sy = &toc.s[BLOCKINDEX_SYMBOLS];
    const struct blockindex_section_ref *nm = &toc.s[BLOCKINDEX_NAMES];
    struct str *syms = malloc(((size_t)sy->count + 1) * sizeof *syms);
    struct blockindex_name *names = malloc(((size_t)nm->count + 1) * sizeof *names);
    uint32_t n_syms = sy->count;
    if (blockindex_symbols_decode(p + sy->off, sy->len, sy->count, syms))
        n_syms = 0; /* go on with refs that must then all be rejected */
    struct blockindex_series s;
    blockindex_series_init(&s);
    const struct blockindex_section_ref *so = &toc.s[BLOCKINDEX_SERIES_OFFSETS];
    for (uint32_t id = 0; id < toc.s[BLOCKINDEX_SERIES].count; id++) {
        uint64_t off, len;
        if (blockindex_series_span(p + so->off + 8 * (uint64_t)id, toc.s[BLOCKINDEX_SERIES].len,
                                   &off, &len) == 0 &&
            blockindex_series_decode(p + toc.s[BLOCKINDEX_SERIES].off + off, len, n_syms, &s) == 0)
            for (size_t i = 0; i < 2 * s.n_labels; i++)
                ASSERT(s.refs[i] < n_syms);
    }
    blockindex_series_deinit(&s);
    if (blockindex_names_decode(p + nm->off, nm->len, nm->count, n_syms,
                                toc.s[BLOCKINDEX_VALUES].len, names) == 0) {
        for (uint32_t i = 0; i < nm->count; i++) {
            const uint8_t *block = p + toc.s[BLOCKINDEX_VALUES].off + names[i].values_off;
            struct blockindex_values_iter it;
            struct blockindex_value v;
            if (blockindex_values_check(&names[i], block) ||
                blockindex_values_iter_init(&it, block, names[i].values_len, n_syms, NULL))
                continue;
            int rc;
            while ((rc = blockindex_values_iter_next(&it, &v)) == 1) {
                ASSERT(v.value < n_syms);
                const struct blockindex_section_ref *ps = &toc.s[BLOCKINDEX_POSTINGS];
                roaring_bitmap_t *bm = NULL;
                if (v.postings_off <= ps->len && v.postings_len <= ps->len - v.postings_off &&
                    postings_decode(p + ps->off + v.postings_off, v.postings_len, &bm, NULL) == 0)
                    roaring_bitmap_free(bm);
            }
            ASSERT(rc == 0 || is_err(rc));
        }
    }
    free(syms);
    free(names);
}

/* ---- re-encoding a verified index ------------------------------------------------------------ */

static void series_equal(const struct blockindex_series *a, const struct blockindex_series *b)
{
    ASSERT(a->n_labels == b->n_labels && a->n_chunks == b->n_chunks);
    ASSERT(memcmp(a->refs, b->refs, 2 * a->n_labels * sizeof *a->refs) == 0);
    for (size_t i = 0; i < a->n_chunks; i++) {
        const struct blockindex_chunk *x = &a->chunks[i], *y = &b->chunks[i];
        ASSERT(x->mint_ms == y->mint_ms && x->maxt_ms == y->maxt_ms && x->samples == y->samples &&
               x->encoding == y->encoding && x->file == y->file && x->offset == y->offset &&
               x->len == y->len);
    }
}

/* Writes name i's values and postings from m into w. */
static void copy_label(const struct blockindex_mem *m, uint32_t i, struct blockindex_writer *w)
{
    const uint8_t *block;
    size_t len;
    uint64_t bad;
    struct blockindex_values_iter it;
    uint32_t nv;
    ASSERT(blockindex_mem_values(m, i, &block, &len, &bad) == 0);
    ASSERT(blockindex_values_iter_init(&it, block, len, m->toc.s[BLOCKINDEX_SYMBOLS].count, &nv) ==
           0);
    uint32_t *vals = malloc(nv * sizeof *vals);
    roaring_bitmap_t **bms = malloc(nv * sizeof *bms);
    struct blockindex_value v;
    for (uint32_t k = 0; k < nv; k++) {
        ASSERT(blockindex_values_iter_next(&it, &v) == 1);
        vals[k] = v.value;
        ASSERT(blockindex_mem_postings(m, &v, &bms[k], &bad) == 0);
    }
    ASSERT(blockindex_writer_label(w, m->names[i].name, vals, bms, nv) == 0);
    for (uint32_t k = 0; k < nv; k++)
        roaring_bitmap_free(bms[k]);
    free(vals);
    free(bms);
}

static void reencode(const uint8_t *p, size_t n)
{
    struct blockindex_mem m, m2;
    uint64_t bad;
    ASSERT(blockindex_mem_open(&m, p, n, &bad) == 0);
    struct blockindex_writer w;
    ASSERT(blockindex_writer_init(&w, m.toc.chunk_files) == 0);
    ASSERT(blockindex_writer_symbols(&w, m.syms, m.toc.s[BLOCKINDEX_SYMBOLS].count) == 0);
    struct blockindex_series s, s2;
    blockindex_series_init(&s);
    blockindex_series_init(&s2);
    for (uint32_t id = 0; id < blockindex_mem_series_count(&m); id++) {
        ASSERT(blockindex_mem_series(&m, id, &s, &bad) == 0);
        ASSERT(blockindex_writer_series(&w, s.refs, s.n_labels, s.chunks, s.n_chunks) == 0);
    }
    for (uint32_t i = 0; i < m.toc.s[BLOCKINDEX_NAMES].count; i++)
        copy_label(&m, i, &w);
    ASSERT(blockindex_writer_finish(&w) == 0);
    ASSERT(blockindex_verify(w.out.data, w.out.len, &bad) == 0);
    ASSERT(blockindex_mem_open(&m2, w.out.data, w.out.len, &bad) == 0);
    ASSERT(blockindex_mem_series_count(&m2) == blockindex_mem_series_count(&m));
    ASSERT(m2.toc.s[BLOCKINDEX_SYMBOLS].count == m.toc.s[BLOCKINDEX_SYMBOLS].count);
    for (uint32_t i = 0; i < m.toc.s[BLOCKINDEX_SYMBOLS].count; i++)
        ASSERT(str_eq(m.syms[i], m2.syms[i]));
    for (uint32_t id = 0; id < blockindex_mem_series_count(&m); id++) {
        ASSERT(blockindex_mem_series(&m, id, &s, &bad) == 0);
        ASSERT(blockindex_mem_series(&m2, id, &s2, &bad) == 0);
        series_equal(&s, &s2);
    }
    ASSERT(m2.toc.s[BLOCKINDEX_NAMES].count == m.toc.s[BLOCKINDEX_NAMES].count);
    ASSERT(m2.toc.s[BLOCKINDEX_VALUES].count == m.toc.s[BLOCKINDEX_VALUES].count);
    blockindex_series_deinit(&s);
    blockindex_series_deinit(&s2);
    blockindex_mem_close(&m2);
    blockindex_mem_close(&m);
    blockindex_writer_deinit(&w);
}

static void run_index(const uint8_t *p, size_t n)
{
    uint64_t bad = 0;
    int rc = blockindex_verify(p, n, &bad);
    ASSERT(rc == 0 || is_err(rc));
    ASSERT(bad <= n);
    piecewise(p, n);
    if (rc == 0)
        reencode(p, n);
}

/* ---- meta.json and chunk files --------------------------------------------------------------- */

static void run_meta(const uint8_t *p, size_t n)
{
    struct blockindex_meta m, m2;
    int rc = blockindex_meta_decode((const char *)p, n, &m);
    ASSERT(rc == 0 || is_err(rc));
    if (rc) {
        ASSERT(m.sources == NULL && m.n_sources == 0);
        return;
    }
    struct buf b = BUF_INIT, b2 = BUF_INIT;
    ASSERT(blockindex_meta_encode(&m, &b) == 0);
    ASSERT(blockindex_meta_decode((const char *)b.data, b.len, &m2) == 0);
    ASSERT(memcmp(&m.ulid, &m2.ulid, sizeof m.ulid) == 0);
    ASSERT(m.min_time_ms == m2.min_time_ms && m.max_time_ms == m2.max_time_ms);
    ASSERT(m.num_samples == m2.num_samples && m.num_series == m2.num_series &&
           m.num_chunks == m2.num_chunks && m.level == m2.level && m.version == m2.version);
    ASSERT(m.n_sources == m2.n_sources);
    ASSERT(m.n_sources == 0 || memcmp(m.sources, m2.sources, m.n_sources * sizeof *m.sources) == 0);
    ASSERT(blockindex_meta_covers(&m, &m2) && blockindex_meta_covers(&m2, &m));
    ASSERT(blockindex_meta_encode(&m2, &b2) == 0);
    ASSERT(b.len == b2.len && memcmp(b.data, b2.data, b.len) == 0);
    buf_deinit(&b);
    buf_deinit(&b2);
    blockindex_meta_deinit(&m);
    blockindex_meta_deinit(&m2);
}

static void run_chunks(const uint8_t *p, size_t n)
{
    int rc = blockindex_chunks_header_check(p, n);
    if (rc) {
        ASSERT(is_err(rc));
        return;
    }
    size_t at = BLOCKINDEX_CHUNKS_HEADER_BYTES;
    while (at < n) {
        uint8_t enc;
        const uint8_t *d;
        uint32_t len;
        size_t used;
        rc = blockindex_chunk_next(p + at, n - at, &enc, &d, &len, &used);
        if (rc) {
            ASSERT(is_err(rc));
            return;
        }
        ASSERT(used == (size_t)len + BLOCKINDEX_CHUNK_OVERHEAD && used <= n - at);
        ASSERT(blockindex_chunk_check(p + at, used, len, enc, &d) == 0);
        ASSERT(d == p + at + BLOCKINDEX_CHUNK_HEAD_BYTES);
        at += used;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 4;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    if (mode == 1) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, p, n);
        fix_crcs(copy, n);
        run_index(copy, n);
        free(copy);
    } else if (mode == 0) {
        run_index(p, n);
    } else if (mode == 2) {
        run_meta(p, n);
    } else {
        run_chunks(p, n);
    }
    return 0;
}
