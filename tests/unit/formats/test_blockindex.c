/* blockindex: golden index bytes (the example of docs/formats/block.md), random index round trips
 * through the streaming writer and the piecewise and whole-file decoders, every byte flip and
 * truncation detected, forged structures with valid CRCs rejected, writer misuse, series entry
 * edge cases, chunk records, ULIDs and meta.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "base/buf.h"
#include "base/crc32c.h"
#include "base/error.h"
#include "formats/blockindex.h"
#include "formats/postings.h"
#include "tests/unit/prop.h"

/* The index of docs/formats/block.md: {a="b"} with one chunk, {a="c"} with two. */
static const uint8_t golden[] = {
    0x53, 0x42, 0x49, 0x58, 0x01, 0x00, 0x00, 0x00, 0x01, 0x61, 0x01, 0x62, 0x01, 0x63, 0x01, 0x00,
    0x01, 0x01, 0xd0, 0x0f, 0xe8, 0x07, 0x03, 0x01, 0x01, 0x08, 0x14, 0xb5, 0x2f, 0x6c, 0x6a, 0x01,
    0x00, 0x02, 0x02, 0xd0, 0x0f, 0xf4, 0x03, 0x02, 0x01, 0x01, 0x25, 0x0a, 0xd8, 0x04, 0xac, 0x02,
    0x02, 0x01, 0x00, 0x00, 0x0c, 0x59, 0x44, 0x87, 0xae, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x50, 0x53, 0x54, 0x47, 0x01, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x3a, 0x30, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa8,
    0x08, 0x40, 0xea, 0x50, 0x53, 0x54, 0x47, 0x01, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x3a,
    0x30, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01,
    0x00, 0xdf, 0x90, 0xe2, 0xf9, 0x02, 0x00, 0x01, 0x22, 0x01, 0x22, 0x00, 0x06, 0xb6, 0xb9, 0xec,
    0x2d, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x03, 0x00, 0x00, 0x00, 0x5f, 0xdc, 0xcd, 0x79, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x2b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0xac, 0x2e, 0xfd,
    0x70, 0x39, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x03, 0x00, 0x00, 0x00, 0x85, 0x2f, 0xae, 0xf4, 0x51, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x20, 0xeb, 0x74,
    0x7a, 0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x02, 0x00, 0x00, 0x00, 0xb6, 0xb9, 0xec, 0x2d, 0x9b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x69, 0x81, 0x6c,
    0xdf, 0x01, 0x00, 0x00, 0x00, 0x9e, 0x2d, 0xc5, 0x7f, 0x01, 0x00, 0x00, 0x00, 0x53, 0x42, 0x49,
    0x58};

static void write_golden(struct buf *out)
{
    struct blockindex_writer w;
    assert_int_equal(blockindex_writer_init(&w, 1), 0);
    struct str syms[] = {STR_LIT("a"), STR_LIT("b"), STR_LIT("c")};
    assert_int_equal(blockindex_writer_symbols(&w, syms, 3), 0);
    uint32_t r0[] = {0, 1}, r1[] = {0, 2};
    struct blockindex_chunk c0 = {1000, 2000, 3, 1, 1, 8, 20};
    struct blockindex_chunk c1[] = {{1000, 1500, 2, 1, 1, 37, 10}, {1600, 1900, 2, 1, 1, 56, 12}};
    assert_int_equal(blockindex_writer_series(&w, r0, 1, &c0, 1), 0);
    assert_int_equal(blockindex_writer_series(&w, r1, 1, c1, 2), 0);
    roaring_bitmap_t *b0 = roaring_bitmap_of(1, 0), *b1 = roaring_bitmap_of(1, 1);
    uint32_t vals[] = {1, 2};
    roaring_bitmap_t *bms[] = {b0, b1};
    assert_int_equal(blockindex_writer_label(&w, 0, vals, bms, 2), 0);
    assert_int_equal(blockindex_writer_finish(&w), 0);
    assert_int_equal(buf_append(out, w.out.data, w.out.len), 0);
    roaring_bitmap_free(b0);
    roaring_bitmap_free(b1);
    blockindex_writer_deinit(&w);
}

static void test_golden(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    write_golden(&b);
    assert_int_equal(b.len, sizeof golden);
    assert_memory_equal(b.data, golden, sizeof golden);
    uint64_t bad = 1;
    assert_int_equal(blockindex_verify(golden, sizeof golden, &bad), 0);

    /* the ranged-read path: TOC, then single pieces */
    struct blockindex_toc toc;
    assert_int_equal(
        blockindex_toc_decode(golden + sizeof golden - BLOCKINDEX_TOC_BYTES, sizeof golden, &toc),
        0);
    assert_int_equal(toc.chunk_files, 1);
    assert_int_equal(toc.s[BLOCKINDEX_SERIES].off, 14);
    assert_int_equal(toc.s[BLOCKINDEX_SERIES].count, 2);
    assert_int_equal(toc.s[BLOCKINDEX_POSTINGS].off, 81);
    uint64_t off, len;
    assert_int_equal(blockindex_series_span(golden + toc.s[BLOCKINDEX_SERIES_OFFSETS].off + 8,
                                            toc.s[BLOCKINDEX_SERIES].len, &off, &len),
                     0);
    assert_int_equal(off, 17);
    assert_int_equal(len, 26);
    struct blockindex_series s;
    blockindex_series_init(&s);
    assert_int_equal(blockindex_series_decode(golden + 14 + off, len, 3, &s), 0);
    assert_int_equal(s.n_labels, 1);
    assert_int_equal(s.refs[1], 2);
    assert_int_equal(s.n_chunks, 2);
    assert_int_equal(s.chunks[1].mint_ms, 1600);
    assert_int_equal(s.chunks[1].maxt_ms, 1900);
    assert_int_equal(s.chunks[1].offset, 56);
    assert_int_equal(s.chunks[1].len, 12);
    blockindex_series_deinit(&s);
    buf_deinit(&b);
}

/* ---- a model index --------------------------------------------------------------------------- */

#define MAXL 6
#define MAXC 5

struct tser {
    size_t n;
    struct label l[MAXL];
    size_t nc;
    struct blockindex_chunk c[MAXC];
};

static int str_qcmp(const void *a, const void *b)
{
    return str_cmp(*(const struct str *)a, *(const struct str *)b);
}

static int tser_cmp(const struct tser *a, const struct tser *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++) {
        int c = str_cmp(a->l[i].name, b->l[i].name);
        if (!c)
            c = str_cmp(a->l[i].value, b->l[i].value);
        if (c)
            return c;
    }
    return (a->n > b->n) - (a->n < b->n);
}

static int tser_qcmp(const void *a, const void *b)
{
    return tser_cmp(a, b);
}

static bool chunks_eq(const struct blockindex_chunk *a, const struct blockindex_chunk *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].mint_ms != b[i].mint_ms || a[i].maxt_ms != b[i].maxt_ms ||
            a[i].samples != b[i].samples || a[i].encoding != b[i].encoding ||
            a[i].file != b[i].file || a[i].offset != b[i].offset || a[i].len != b[i].len)
            return false;
    return true;
}

struct model {
    struct tser *s;
    size_t n;
    struct str *syms;
    size_t n_syms;
};

static uint32_t ref_of(const struct model *m, struct str s)
{
    int64_t r = blockindex_symbol_find(m->syms, (uint32_t)m->n_syms, s);
    assert_true(r >= 0);
    return (uint32_t)r;
}

static void model_symbols(struct model *m)
{
    m->syms = malloc((m->n * MAXL * 2 + 1) * sizeof *m->syms);
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++)
        for (size_t j = 0; j < m->s[i].n; j++) {
            m->syms[k++] = m->s[i].l[j].name;
            m->syms[k++] = m->s[i].l[j].value;
        }
    qsort(m->syms, k, sizeof *m->syms, str_qcmp);
    m->n_syms = 0;
    for (size_t i = 0; i < k; i++)
        if (m->n_syms == 0 || !str_eq(m->syms[m->n_syms - 1], m->syms[i]))
            m->syms[m->n_syms++] = m->syms[i];
}

/* Postings of (name, value) over the model. */
static roaring_bitmap_t *model_postings(const struct model *m, struct str name, struct str value)
{
    roaring_bitmap_t *bm = roaring_bitmap_create();
    for (size_t i = 0; i < m->n; i++)
        for (size_t j = 0; j < m->s[i].n; j++)
            if (str_eq(m->s[i].l[j].name, name) && str_eq(m->s[i].l[j].value, value))
                roaring_bitmap_add(bm, (uint32_t)i);
    return bm;
}

/* Writes the model's index into out, draining the writer every few calls. */
static void model_write(struct model *m, uint32_t chunk_files, struct buf *out)
{
    struct blockindex_writer w;
    assert_int_equal(blockindex_writer_init(&w, chunk_files), 0);
    assert_int_equal(blockindex_writer_symbols(&w, m->syms, m->n_syms), 0);
    for (size_t i = 0; i < m->n; i++) {
        uint32_t refs[2 * MAXL];
        for (size_t j = 0; j < m->s[i].n; j++) {
            refs[2 * j] = ref_of(m, m->s[i].l[j].name);
            refs[2 * j + 1] = ref_of(m, m->s[i].l[j].value);
        }
        assert_int_equal(blockindex_writer_series(&w, refs, m->s[i].n, m->s[i].c, m->s[i].nc), 0);
        if (i % 3 == 0) {
            buf_append(out, w.out.data, w.out.len);
            buf_reset(&w.out);
        }
    }
    for (size_t ni = 0; ni < m->n_syms; ni++) {
        uint32_t vals[256];
        roaring_bitmap_t *bms[256];
        size_t nv = 0;
        for (size_t vi = 0; vi < m->n_syms; vi++) {
            roaring_bitmap_t *bm = model_postings(m, m->syms[ni], m->syms[vi]);
            if (roaring_bitmap_is_empty(bm)) {
                roaring_bitmap_free(bm);
                continue;
            }
            assert_true(nv < 256);
            vals[nv] = (uint32_t)vi;
            bms[nv++] = bm;
        }
        if (nv)
            assert_int_equal(blockindex_writer_label(&w, (uint32_t)ni, vals, bms, nv), 0);
        for (size_t k = 0; k < nv; k++)
            roaring_bitmap_free(bms[k]);
        buf_append(out, w.out.data, w.out.len);
        buf_reset(&w.out);
    }
    assert_int_equal(blockindex_writer_finish(&w), 0);
    buf_append(out, w.out.data, w.out.len);
    blockindex_writer_deinit(&w);
}

static void model_free(struct model *m)
{
    free(m->s);
    free(m->syms);
}

static const char *const names_pool[] = {"__name__", "a", "instance", "job", "le", "zone"};
static const char *const values_pool[] = {
    "", "0", "1", "x", "up", "node", "a\xff", "10.0.0.1:9100", "zz", "http_requests_total"};

static void random_model(struct prop *p, struct model *m, size_t n, uint32_t *chunk_files)
{
    m->s = calloc(n + 1, sizeof *m->s);
    for (size_t i = 0; i < n; i++) {
        struct tser *t = &m->s[i];
        for (size_t j = 0; j < MAXL; j++) {
            if (prop_next(p) % 3 == 0)
                continue;
            const char *v = values_pool[prop_next(p) % 10];
            t->l[t->n++] = (struct label){str_from_cstr(names_pool[j]), str_from_cstr(v)};
        }
        t->nc = 1 + prop_next(p) % MAXC;
        int64_t mint = (int64_t)(prop_next(p) % 2000000000000ull) - 1000000000000ll;
        uint32_t file = 1;
        uint64_t off = 8;
        for (size_t c = 0; c < t->nc; c++) {
            struct blockindex_chunk *ch = &t->c[c];
            mint += (int64_t)(prop_next(p) % 100000);
            uint32_t len = 1 + (uint32_t)(prop_next(p) % 300);
            if (prop_next(p) % 4 == 0) {
                file += 1 + (uint32_t)(prop_next(p) % 2);
                off = 8 + prop_next(p) % 1000;
            } else {
                off += prop_next(p) % 50;
            }
            *ch = (struct blockindex_chunk){mint,
                                            mint + (int64_t)(prop_next(p) % 7200000),
                                            1 + (uint32_t)(prop_next(p) % 120),
                                            1 + prop_next(p) % 3,
                                            file,
                                            off,
                                            len};
            off += BLOCKINDEX_CHUNK_OVERHEAD + len;
        }
        if (file > *chunk_files)
            *chunk_files = file;
    }
    qsort(m->s, n, sizeof *m->s, tser_qcmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || tser_cmp(&m->s[u - 1], &m->s[i]) != 0)
            m->s[u++] = m->s[i];
    m->n = u;
    model_symbols(m);
}

static void check_model(struct prop *p, const struct model *m, const uint8_t *idx, size_t n)
{
    uint64_t bad = 0;
    prop_check(p, blockindex_verify(idx, n, &bad) == 0);
    struct blockindex_mem mem;
    prop_check(p, blockindex_mem_open(&mem, idx, n, &bad) == 0);
    prop_check(p, blockindex_mem_series_count(&mem) == m->n);
    prop_check(p, mem.toc.s[BLOCKINDEX_SYMBOLS].count == m->n_syms);
    struct blockindex_series s;
    blockindex_series_init(&s);
    for (uint32_t id = 0; id < m->n; id++) {
        prop_check(p, blockindex_mem_series(&mem, id, &s, &bad) == 0);
        prop_check(p, s.n_labels == m->s[id].n && s.n_chunks == m->s[id].nc);
        for (size_t j = 0; j < s.n_labels; j++) {
            prop_check(p, str_eq(mem.syms[s.refs[2 * j]], m->s[id].l[j].name));
            prop_check(p, str_eq(mem.syms[s.refs[2 * j + 1]], m->s[id].l[j].value));
        }
        prop_check(p, chunks_eq(s.chunks, m->s[id].c, s.n_chunks));
    }
    for (uint32_t i = 0; i < mem.toc.s[BLOCKINDEX_NAMES].count; i++) {
        const uint8_t *block;
        size_t len;
        struct blockindex_values_iter it;
        struct blockindex_value v;
        prop_check(p, blockindex_mem_values(&mem, i, &block, &len, &bad) == 0);
        prop_check(p, blockindex_values_iter_init(&it, block, len, (uint32_t)m->n_syms, NULL) == 0);
        while (blockindex_values_iter_next(&it, &v) == 1) {
            roaring_bitmap_t *got, *want;
            prop_check(p, blockindex_mem_postings(&mem, &v, &got, &bad) == 0);
            want = model_postings(m, mem.syms[mem.names[i].name], mem.syms[v.value]);
            prop_check(p, roaring_bitmap_equals(got, want));
            roaring_bitmap_free(got);
            roaring_bitmap_free(want);
        }
        prop_check(p, it.err == 0);
    }
    blockindex_series_deinit(&s);
    blockindex_mem_close(&mem);
}

static void test_random_roundtrip(void **state)
{
    (void)state;
    struct prop p = prop_begin("blockindex_roundtrip");
    for (int iter = 0; iter < 60; iter++) {
        struct model m = {0};
        uint32_t files = 1;
        random_model(&p, &m, (size_t)(prop_next(&p) % 120), &files);
        struct buf b = BUF_INIT;
        model_write(&m, files, &b);
        check_model(&p, &m, b.data, b.len);
        buf_deinit(&b);
        model_free(&m);
    }
}

static void test_empty_index(void **state)
{
    (void)state;
    struct blockindex_writer w;
    assert_int_equal(blockindex_writer_init(&w, 0), 0);
    assert_int_equal(blockindex_writer_finish(&w), 0);
    assert_int_equal(w.out.len, BLOCKINDEX_HEADER_BYTES + 8 + BLOCKINDEX_TOC_BYTES);
    uint64_t bad;
    assert_int_equal(blockindex_verify(w.out.data, w.out.len, &bad), 0);
    blockindex_writer_deinit(&w);
}

/* ---- corruption ------------------------------------------------------------------------------ */

static void test_every_flip_and_cut(void **state)
{
    (void)state;
    uint8_t copy[sizeof golden];
    uint64_t bad;
    for (size_t i = 0; i < sizeof golden; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, golden, sizeof golden);
            copy[i] ^= (uint8_t)(1u << bit);
            int rc = blockindex_verify(copy, sizeof copy, &bad);
            assert_true(rc == ERR_CORRUPT || rc == ERR_TRUNCATED || rc == ERR_UNSUPPORTED);
        }
    }
    for (size_t n = 0; n < sizeof golden; n++) {
        int rc = blockindex_verify(golden, n, &bad);
        assert_true(rc == ERR_CORRUPT || rc == ERR_TRUNCATED);
    }
}

/* Rewrites the TOC CRC after an edit of the TOC bytes. */
static void reseal_toc(uint8_t *idx, size_t n)
{
    uint8_t *toc = idx + n - BLOCKINDEX_TOC_BYTES;
    le32_put(toc + 148, crc32c(toc, 148));
}

/* Rewrites section s's CRC in the TOC. */
static void reseal_section(uint8_t *idx, size_t n, int s)
{
    uint8_t *toc = idx + n - BLOCKINDEX_TOC_BYTES;
    uint64_t off = le64_get(toc + 24 * s), len = le64_get(toc + 24 * s + 8);
    le32_put(toc + 24 * s + 20, crc32c(idx + off, len));
    reseal_toc(idx, n);
}

static void test_toc_fields(void **state)
{
    (void)state;
    uint8_t c[sizeof golden];
    uint8_t *toc = c + sizeof c - BLOCKINDEX_TOC_BYTES;
    struct blockindex_toc t;
    /* version 2: unsupported; version 0 or reserved bits: corrupt */
    memcpy(c, golden, sizeof c);
    toc[152] = 2;
    reseal_toc(c, sizeof c);
    assert_int_equal(blockindex_toc_decode(toc, sizeof c, &t), ERR_UNSUPPORTED);
    toc[152] = 1;
    toc[153] = 1;
    assert_int_equal(blockindex_toc_decode(toc, sizeof c, &t), ERR_CORRUPT);
    /* sections must tile the file */
    memcpy(c, golden, sizeof c);
    le64_put(toc + 24 * 2 + 8, le64_get(toc + 24 * 2 + 8) + 1);
    reseal_toc(c, sizeof c);
    assert_int_equal(blockindex_toc_decode(toc, sizeof c, &t), ERR_CORRUPT);
    /* offsets section length must be 8 * (series + 1) */
    memcpy(c, golden, sizeof c);
    le32_put(toc + 24 * 1 + 16, 3);
    reseal_toc(c, sizeof c);
    assert_int_equal(blockindex_toc_decode(toc, sizeof c, &t), ERR_CORRUPT);
    /* too many chunk files */
    memcpy(c, golden, sizeof c);
    le32_put(toc + 144, BLOCKINDEX_CHUNK_FILES_MAX + 1);
    reseal_toc(c, sizeof c);
    assert_int_equal(blockindex_toc_decode(toc, sizeof c, &t), ERR_CORRUPT);
    /* header */
    assert_int_equal(blockindex_header_check(golden, 7), ERR_TRUNCATED);
    memcpy(c, golden, sizeof c);
    c[4] = 9;
    assert_int_equal(blockindex_header_check(c, sizeof c), ERR_UNSUPPORTED);
}

/* Forged structures with every CRC valid must still be rejected by the structural checks. */
static void test_forged_with_valid_crcs(void **state)
{
    (void)state;
    uint8_t c[sizeof golden];
    uint64_t bad;
    /* symbols out of order: "a" "c" "b" */
    memcpy(c, golden, sizeof c);
    c[11] = 'c';
    c[13] = 'b';
    reseal_section(c, sizeof c, BLOCKINDEX_SYMBOLS);
    assert_int_equal(blockindex_verify(c, sizeof c, &bad), ERR_CORRUPT);
    assert_int_equal(bad, 8);
    /* series 1's value ref points at symbol 1 too: series no longer sorted and postings disagree */
    memcpy(c, golden, sizeof c);
    c[33] = 1;
    le32_put(c + 14 + 17 + 22, crc32c(c + 14 + 17, 22));
    reseal_section(c, sizeof c, BLOCKINDEX_SERIES);
    assert_int_equal(blockindex_verify(c, sizeof c, &bad), ERR_CORRUPT);
    assert_int_equal(bad, 31);
    /* a chunk file beyond the TOC's chunk file count */
    memcpy(c, golden, sizeof c);
    c[24] = 2;
    le32_put(c + 14 + 13, crc32c(c + 14, 13));
    reseal_section(c, sizeof c, BLOCKINDEX_SERIES);
    assert_int_equal(blockindex_verify(c, sizeof c, &bad), ERR_CORRUPT);
    assert_int_equal(bad, 14);
    /* postings of a="b" claim series 1 instead of 0 */
    memcpy(c, golden, sizeof c);
    c[81 + 28] = 1;
    le32_put(c + 81 + 30, crc32c(c + 81, 30));
    reseal_section(c, sizeof c, BLOCKINDEX_POSTINGS);
    assert_int_equal(blockindex_verify(c, sizeof c, &bad), ERR_CORRUPT);
    /* the value block's first postings offset skips a frame */
    memcpy(c, golden, sizeof c);
    c[150] = 34;
    le32_put(c + 157, crc32c(c + 149, 6));
    reseal_section(c, sizeof c, BLOCKINDEX_VALUES);
    reseal_section(c, sizeof c, BLOCKINDEX_NAMES);
    assert_int_equal(blockindex_verify(c, sizeof c, &bad), ERR_CORRUPT);
}

/* ---- series entries -------------------------------------------------------------------------- */

static void test_series_edges(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    struct blockindex_series s;
    blockindex_series_init(&s);
    struct blockindex_chunk c[] = {
        {INT64_MIN, INT64_MIN + 5, 1, 1, 1, 8, 1},
        {INT64_MIN + 1, INT64_MAX, UINT32_MAX, 3, 1, 18, UINT32_MAX - 100},
        {-5, -5, 1, 2, BLOCKINDEX_CHUNK_FILES_MAX, BLOCKINDEX_CHUNK_FILE_MAX - 10, 1},
    };
    uint32_t refs[] = {0, 7, 3, 0};
    /* UINT32_MAX-100 bytes do not fit a 512 MiB file */
    assert_int_equal(blockindex_series_encode(refs, 2, c, 3, &b), ERR_INVALID);
    c[1].len = 1000;
    assert_int_equal(blockindex_series_encode(refs, 2, c, 3, &b), 0);
    assert_int_equal(blockindex_series_decode(b.data, b.len, 8, &s), 0);
    assert_int_equal(s.n_chunks, 3);
    assert_true(chunks_eq(s.chunks, c, 3));
    /* a ref beyond the symbols */
    assert_int_equal(blockindex_series_decode(b.data, b.len, 7, &s), ERR_CORRUPT);
    for (size_t n = 0; n < b.len; n++)
        assert_true(blockindex_series_decode(b.data, n, 8, &s) < 0);
    buf_reset(&b);
    /* encoder refuses what the decoder would refuse */
    struct blockindex_chunk bad[] = {{10, 20, 1, 1, 1, 8, 5}, {5, 30, 1, 1, 1, 100, 5}};
    assert_int_equal(blockindex_series_encode(refs, 1, bad, 2, &b), ERR_INVALID); /* mint order */
    bad[1].mint_ms = 10;
    bad[1].offset = 20; /* overlaps the previous record (ends at 8 + 9 + 5) */
    assert_int_equal(blockindex_series_encode(refs, 1, bad, 2, &b), ERR_INVALID);
    bad[1].offset = 22;
    assert_int_equal(blockindex_series_encode(refs, 1, bad, 2, &b), 0);
    uint32_t dup[] = {3, 1, 3, 2};
    assert_int_equal(blockindex_series_encode(dup, 2, bad, 2, &b), ERR_INVALID);
    assert_int_equal(blockindex_series_encode(refs, 1, bad, 0, &b), ERR_INVALID);
    struct blockindex_chunk z = {1, 0, 1, 1, 1, 8, 5};
    assert_int_equal(blockindex_series_encode(refs, 1, &z, 1, &b), ERR_INVALID);
    blockindex_series_deinit(&s);
    buf_deinit(&b);
}

static void test_writer_misuse(void **state)
{
    (void)state;
    struct blockindex_writer w;
    struct str unsorted[] = {STR_LIT("b"), STR_LIT("a")};
    blockindex_writer_init(&w, 1);
    assert_int_equal(blockindex_writer_symbols(&w, unsorted, 2), ERR_INVALID);
    assert_int_equal(blockindex_writer_finish(&w), ERR_INVALID); /* sticky */
    blockindex_writer_deinit(&w);

    struct str syms[] = {STR_LIT("a"), STR_LIT("b"), STR_LIT("c")};
    struct blockindex_chunk c = {0, 1, 1, 1, 1, 8, 4};
    uint32_t r1[] = {0, 2}, r0[] = {0, 1}, r9[] = {0, 9};
    blockindex_writer_init(&w, 1);
    blockindex_writer_symbols(&w, syms, 3);
    assert_int_equal(blockindex_writer_series(&w, r9, 1, &c, 1), ERR_INVALID);
    blockindex_writer_deinit(&w);

    blockindex_writer_init(&w, 1);
    blockindex_writer_symbols(&w, syms, 3);
    assert_int_equal(blockindex_writer_series(&w, r1, 1, &c, 1), 0);
    assert_int_equal(blockindex_writer_series(&w, r0, 1, &c, 1), ERR_INVALID); /* order */
    blockindex_writer_deinit(&w);

    blockindex_writer_init(&w, 1);
    blockindex_writer_symbols(&w, syms, 3);
    assert_int_equal(blockindex_writer_series(&w, r0, 1, &c, 1), 0);
    roaring_bitmap_t *bm = roaring_bitmap_of(1, 1); /* series 1 does not exist */
    uint32_t v = 1;
    assert_int_equal(blockindex_writer_label(&w, 0, &v, &bm, 1), ERR_INVALID);
    roaring_bitmap_free(bm);
    blockindex_writer_deinit(&w);
}

/* ---- chunk records -----------------------------------------------------------------------------
 */

static void test_chunk_records(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    uint8_t h[BLOCKINDEX_CHUNKS_HEADER_BYTES];
    blockindex_chunks_header_encode(h);
    assert_memory_equal(h, "SCHK\x01\x00\x00\x00", 8);
    assert_int_equal(blockindex_chunks_header_check(h, 8), 0);
    assert_int_equal(blockindex_chunks_header_check(h, 7), ERR_TRUNCATED);
    const uint8_t data[] = {0x01, 0x00, 0xd0, 0x0f};
    assert_int_equal(blockindex_chunk_encode(1, data, 4, &b), 0);
    const uint8_t want[] = {0x04, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0xd0, 0x0f};
    assert_int_equal(b.len, 13);
    assert_memory_equal(b.data, want, 9);
    assert_int_equal(le32_get(b.data + 9), crc32c(b.data, 9));
    const uint8_t *d;
    assert_int_equal(blockindex_chunk_check(b.data, b.len, 4, 1, &d), 0);
    assert_ptr_equal(d, b.data + 5);
    assert_int_equal(blockindex_chunk_check(b.data, b.len, 4, 2, &d), ERR_CORRUPT);
    assert_int_equal(blockindex_chunk_check(b.data, b.len, 5, 1, &d), ERR_TRUNCATED);
    assert_int_equal(blockindex_chunk_check(b.data, b.len, 3, 1, &d), ERR_CORRUPT);
    uint8_t enc;
    uint32_t len;
    size_t used;
    assert_int_equal(blockindex_chunk_next(b.data, b.len, &enc, &d, &len, &used), 0);
    assert_int_equal(used, 13);
    for (size_t i = 0; i < b.len; i++) {
        b.data[i] ^= 0x10;
        assert_true(blockindex_chunk_next(b.data, b.len, &enc, &d, &len, &used) < 0);
        b.data[i] ^= 0x10;
    }
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(blockindex_chunk_next(b.data, n, &enc, &d, &len, &used), ERR_TRUNCATED);
    buf_deinit(&b);
}

/* ---- ULIDs and meta.json --------------------------------------------------------------------- */

static void test_ulid(void **state)
{
    (void)state;
    struct blockindex_ulid u;
    char s[27];
    assert_int_equal(blockindex_ulid_parse("01ARZ3NDEKTSV4RRFFQ69G5FAV", 26, &u), 0);
    const uint8_t want[] = {0x01, 0x56, 0x3e, 0x3a, 0xb5, 0xd3, 0xd6, 0x76,
                            0x4c, 0x61, 0xef, 0xb9, 0x93, 0x02, 0xbd, 0x5b};
    assert_memory_equal(u.b, want, 16);
    assert_int_equal(blockindex_ulid_time_ms(&u), 1469922850259ull);
    blockindex_ulid_format(&u, s);
    assert_string_equal(s, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
    for (int i = 0; i < 16; i++)
        u.b[i] = (uint8_t)(i + 1);
    blockindex_ulid_format(&u, s);
    assert_string_equal(s, "01081G81860W40J2GB1G6GW3RG");
    memset(u.b, 0xff, 16);
    blockindex_ulid_format(&u, s);
    assert_string_equal(s, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
    assert_int_equal(blockindex_ulid_parse(s, 26, &u), 0);
    assert_int_equal(blockindex_ulid_parse("8ZZZZZZZZZZZZZZZZZZZZZZZZZ", 26, &u), ERR_INVALID);
    assert_int_equal(blockindex_ulid_parse("01arz3ndektsv4rrffq69g5fav", 26, &u), ERR_INVALID);
    assert_int_equal(blockindex_ulid_parse("01ARZ3NDEKTSV4RRFFQ69G5FAU", 26, &u), ERR_INVALID);
    assert_int_equal(blockindex_ulid_parse("01ARZ3NDEKTSV4RRFFQ69G5FA", 25, &u), ERR_INVALID);
}

static const char meta_golden[] = "{\n"
                                  "  \"ulid\": \"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\n"
                                  "  \"minTime\": -7200000,\n"
                                  "  \"maxTime\": 7200000,\n"
                                  "  \"stats\": {\n"
                                  "    \"numSamples\": 18446744073709551615,\n"
                                  "    \"numSeries\": 2,\n"
                                  "    \"numChunks\": 3\n"
                                  "  },\n"
                                  "  \"compaction\": {\n"
                                  "    \"level\": 2,\n"
                                  "    \"sources\": [\n"
                                  "      \"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\n"
                                  "      \"01BX5ZZKBKACTAV9WEVGEMMVRZ\"\n"
                                  "    ]\n"
                                  "  },\n"
                                  "  \"version\": 1\n"
                                  "}\n";

static void test_meta_roundtrip(void **state)
{
    (void)state;
    struct blockindex_meta m, back;
    blockindex_meta_init(&m);
    blockindex_ulid_parse("01ARZ3NDEKTSV4RRFFQ69G5FAV", 26, &m.ulid);
    struct blockindex_ulid src[3];
    blockindex_ulid_parse("01BX5ZZKBKACTAV9WEVGEMMVRZ", 26, &src[0]);
    src[1] = m.ulid;
    src[2] = src[0];
    assert_int_equal(blockindex_meta_set_sources(&m, src, 3), 0);
    assert_int_equal(m.n_sources, 2);
    m.min_time_ms = -7200000;
    m.max_time_ms = 7200000;
    m.num_samples = UINT64_MAX;
    m.num_series = 2;
    m.num_chunks = 3;
    m.level = 2;
    struct buf b = BUF_INIT;
    assert_int_equal(blockindex_meta_encode(&m, &b), 0);
    assert_int_equal(b.len, strlen(meta_golden));
    assert_memory_equal(b.data, meta_golden, b.len);
    assert_int_equal(blockindex_meta_decode((const char *)b.data, b.len, &back), 0);
    assert_memory_equal(&back.ulid, &m.ulid, 16);
    assert_int_equal(back.min_time_ms, -7200000);
    assert_int_equal(back.num_samples, UINT64_MAX);
    assert_int_equal(back.level, 2);
    assert_int_equal(back.n_sources, 2);
    assert_memory_equal(back.sources, m.sources, 2 * sizeof *m.sources);
    assert_true(blockindex_meta_covers(&m, &back));
    struct blockindex_meta one;
    blockindex_meta_init(&one);
    blockindex_meta_set_sources(&one, &src[0], 1);
    assert_true(blockindex_meta_covers(&m, &one));
    assert_false(blockindex_meta_covers(&one, &m));
    blockindex_meta_deinit(&back);
    for (size_t n = 0; n < b.len - 1; n++)
        assert_int_equal(blockindex_meta_decode((const char *)b.data, n, &back), ERR_CORRUPT);
    blockindex_meta_deinit(&one);
    blockindex_meta_deinit(&back);
    blockindex_meta_deinit(&m);
    buf_deinit(&b);
}

static int meta_rc(const char *s)
{
    struct blockindex_meta m;
    int rc = blockindex_meta_decode(s, strlen(s), &m);
    blockindex_meta_deinit(&m);
    return rc;
}

#define META_HEAD  "{\"ulid\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"minTime\":0,\"maxTime\":10,"
#define META_STATS "\"stats\":{\"numSamples\":1,\"numSeries\":1,\"numChunks\":1},"

static void test_meta_malformed(void **state)
{
    (void)state;
    assert_int_equal(meta_rc(META_HEAD META_STATS "\"compaction\":{\"level\":1,\"sources\":[]},"
                                                  "\"version\":1}"),
                     0);
    /* unknown members of any shape are skipped */
    assert_int_equal(meta_rc(META_HEAD META_STATS
                             "\"x\":[1.5e3,{\"y\":null},\"s\\\"\\u00e9\",true,false],"
                             "\"compaction\":{\"level\":1,\"sources\":[],\"parents\":[{}]},"
                             "\"version\":1, \"z\" : -0 }\n"),
                     0);
    assert_int_equal(meta_rc(META_HEAD META_STATS "\"compaction\":{\"level\":1,\"sources\":[]},"
                                                  "\"version\":2}"),
                     ERR_UNSUPPORTED);
    const char *bad[] = {
        "",
        "[]",
        META_HEAD META_STATS "\"compaction\":{\"level\":1,\"sources\":[]}}", /* no version */
        META_HEAD META_STATS "\"compaction\":{\"level\":0,\"sources\":[]},\"version\":1}",
        META_HEAD META_STATS "\"compaction\":{\"level\":1},\"version\":1}", /* no sources */
        META_HEAD META_STATS "\"compaction\":{\"level\":1,\"sources\":[]},\"version\":1} x",
        META_HEAD META_STATS "\"compaction\":{\"level\":1,\"sources\":[]},\"version\":1,}",
        META_HEAD META_STATS "\"compaction\":{\"level\":1.0,\"sources\":[]},\"version\":1}",
        META_HEAD META_STATS "\"compaction\":{\"level\":4294967296,\"sources\":[]},\"version\":1}",
        META_HEAD META_STATS
        "\"compaction\":{\"level\":1,\"sources\":[\"01BX5ZZKBKACTAV9WEVGEMMVRZ\","
        "\"01ARZ3NDEKTSV4RRFFQ69G5FAV\"]},\"version\":1}", /* unsorted */
        META_HEAD META_STATS "\"compaction\":{\"level\":1,\"sources\":[\"x\"]},\"version\":1}",
        META_HEAD META_STATS "\"compaction\":{\"level\":1,\"sources\":[]},\"version\":1,\"q\":tru}",
        META_HEAD META_STATS
        "\"compaction\":{\"level\":1,\"sources\":[]},\"version\":1,\"q\":"
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
        "{\"ulid\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"minTime\":10,\"maxTime\":0," META_STATS
        "\"compaction\":{\"level\":1,\"sources\":[]},\"version\":1}",
        "{\"ulid\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"minTime\":-9223372036854775809,\"maxTime\":"
        "0," META_STATS "\"compaction\":{\"level\":1,\"sources\":[]},\"version\":1}",
        META_HEAD "\"stats\":{\"numSamples\":-1,\"numSeries\":1,\"numChunks\":1},"
                  "\"compaction\":{\"level\":1,\"sources\":[]},\"version\":1}",
        META_HEAD META_STATS
        "\"compaction\":{\"level\":1,\"sources\":[]},\"version\":1,\"s\":\"\x01\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (meta_rc(bad[i]) != ERR_CORRUPT)
            fail_msg("case %zu accepted: %s", i, bad[i]);
    }
    assert_int_equal(meta_rc("{\"ulid\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"minTime\":"
                             "-9223372036854775808,\"maxTime\":9223372036854775807," META_STATS
                             "\"compaction\":{\"level\":1,\"sources\":[]},\"version\":1}"),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),         cmocka_unit_test(test_random_roundtrip),
        cmocka_unit_test(test_empty_index),    cmocka_unit_test(test_every_flip_and_cut),
        cmocka_unit_test(test_toc_fields),     cmocka_unit_test(test_forged_with_valid_crcs),
        cmocka_unit_test(test_series_edges),   cmocka_unit_test(test_writer_misuse),
        cmocka_unit_test(test_chunk_records),  cmocka_unit_test(test_ulid),
        cmocka_unit_test(test_meta_roundtrip), cmocka_unit_test(test_meta_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
