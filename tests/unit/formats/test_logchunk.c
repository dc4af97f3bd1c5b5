/* logchunk: golden chunks (empty, small), edge cases (single entry, empty lines, 1 MiB lines, many
 * metadata pairs, extreme timestamps), head ordering and ERR_ORDER, forward/backward/seek/skip
 * across blocks, open-writer reads, every truncation and bit flip, structural corruption behind
 * resealed checksums, and a randomized round trip against a model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/crc32c.h"
#include "base/error.h"
#include "formats/logchunk.h"
#include "tests/unit/prop.h"

/* Produced by an independent encoder written from docs/formats/logchunk.md (codec NONE). */
static const uint8_t golden_empty[24] = {
    0x53, 0x4c, 0x43, 0x4b, 0x01, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x62, 0x5b, 0x0e, 0x3d, 0x53, 0x4c, 0x43, 0x4b,
};

/* Entries (1000,"a"), (1001,"bc",{trace_id=abc}), (1003,"",{trace_id=abc,user=u1}). */
static const uint8_t golden_small[106] = {
    0x53, 0x4c, 0x43, 0x4b, 0x01, 0x00, 0x00, 0x00, 0x03, 0xd0, 0x0f, 0x01, 0x02, 0x01, 0x02, 0x00,
    0x04, 0x08, 0x03, 0x04, 0x02, 0x74, 0x72, 0x61, 0x63, 0x65, 0x5f, 0x69, 0x64, 0x61, 0x62, 0x63,
    0x75, 0x73, 0x65, 0x72, 0x75, 0x31, 0x00, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0x02, 0x03, 0x61,
    0x62, 0x63, 0xe8, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xeb, 0x03, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x03, 0x00,
    0x00, 0x00, 0x10, 0x71, 0xea, 0xc3, 0x00, 0x00, 0x00, 0x00, 0x32, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x40, 0x53, 0x5e, 0xd1, 0x53, 0x4c, 0x43, 0x4b,
};

/* ---- model ---------------------------------------------------------------------------------- */

struct ment {
    int64_t ts;
    uint32_t seq;
    struct str line;
    struct label *md;
    size_t n_md;
};

struct model {
    struct arena arena;
    struct ment *e;
    size_t n, cap;
};

static void model_init(struct model *m)
{
    memset(m, 0, sizeof *m);
    arena_init(&m->arena, 1 << 16);
}

static void model_deinit(struct model *m)
{
    arena_deinit(&m->arena);
    free(m->e);
}

static struct str dup_str(struct model *m, const char *p, size_t n)
{
    char *q = arena_dup(&m->arena, n ? p : "", n, 1);
    assert_non_null(q);
    return (struct str){q, n};
}

static void model_add(struct model *m, int64_t ts, struct str line, const struct label *md,
                      size_t n)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->e = realloc(m->e, m->cap * sizeof *m->e);
        assert_non_null(m->e);
    }
    struct ment *e = &m->e[m->n];
    e->ts = ts;
    e->seq = (uint32_t)m->n;
    e->line = dup_str(m, line.ptr, line.len);
    e->n_md = n;
    e->md = n ? arena_alloc(&m->arena, n * sizeof *md) : NULL;
    for (size_t i = 0; i < n; i++) {
        e->md[i].name = dup_str(m, md[i].name.ptr, md[i].name.len);
        e->md[i].value = dup_str(m, md[i].value.ptr, md[i].value.len);
    }
    m->n++;
}

static int ment_cmp(const void *a, const void *b)
{
    const struct ment *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static void model_sort(struct model *m)
{
    if (m->n)
        qsort(m->e, m->n, sizeof *m->e, ment_cmp);
}

static void assert_entry(const struct logchunk_entry *got, const struct ment *want)
{
    assert_true(got->ts_ns == want->ts);
    assert_int_equal(got->line.len, want->line.len);
    if (want->line.len)
        assert_memory_equal(got->line.ptr, want->line.ptr, want->line.len);
    assert_int_equal(got->md_count, want->n_md);
    for (size_t i = 0; i < want->n_md; i++) {
        assert_true(str_eq(got->md[i].name, want->md[i].name));
        assert_true(str_eq(got->md[i].value, want->md[i].value));
    }
}

/* Checks that `it` (already opened with [mint, maxt) and dir) yields exactly the sorted model's
 * entries in range, in order. */
static void assert_iter_model(struct logchunk_iter *it, const struct model *m, int64_t mint,
                              int64_t maxt, enum logchunk_dir dir)
{
    size_t count = 0;
    for (size_t k = 0; k < m->n; k++) {
        size_t i = dir == LOGCHUNK_FORWARD ? k : m->n - 1 - k;
        if (m->e[i].ts < mint || m->e[i].ts >= maxt)
            continue;
        assert_true(logchunk_iter_next(it));
        assert_entry(logchunk_iter_at(it), &m->e[i]);
        count++;
    }
    assert_false(logchunk_iter_next(it));
    assert_false(logchunk_iter_next(it));
    assert_int_equal(logchunk_iter_err(it), 0);
}

static void assert_chunk_model(const uint8_t *bytes, size_t len, const struct model *m)
{
    struct logchunk_reader r;
    assert_int_equal(logchunk_reader_open(&r, bytes, len), 0);
    assert_int_equal(r.entries, m->n);
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    logchunk_iter_open_reader(&it, &r, INT64_MIN, INT64_MAX, LOGCHUNK_FORWARD);
    assert_iter_model(&it, m, INT64_MIN, INT64_MAX, LOGCHUNK_FORWARD);
    logchunk_iter_open_reader(&it, &r, INT64_MIN, INT64_MAX, LOGCHUNK_BACKWARD);
    assert_iter_model(&it, m, INT64_MIN, INT64_MAX, LOGCHUNK_BACKWARD);
    logchunk_iter_deinit(&it);
}

static struct str S(const char *s) {
    return str_from_cstr(s);
}

/* ---- golden --------------------------------------------------------------------------------- */

static void
test_golden_empty(void **state)
{
    struct logchunk_writer w;
    logchunk_writer_init(&w, NULL);
    uint8_t *bytes;
    size_t len;
    assert_int_equal(logchunk_writer_finish(&w, &bytes, &len), 0);
    assert_int_equal(len, LOGCHUNK_EMPTY_CHUNK_BYTES);
    assert_memory_equal(bytes, golden_empty, sizeof golden_empty);

    struct logchunk_reader r;
    assert_int_equal(logchunk_reader_open(&r, bytes, len), 0);
    assert_int_equal(r.n_blocks, 0);
    assert_int_equal(r.entries, 0);
    assert_true(r.mint == INT64_MAX && r.maxt == INT64_MIN);
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    logchunk_iter_open_reader(&it, &r, INT64_MIN, INT64_MAX, LOGCHUNK_FORWARD);
    assert_false(logchunk_iter_next(&it));
    assert_false(logchunk_iter_seek(&it, 0));
    logchunk_iter_open_reader(&it, &r, INT64_MIN, INT64_MAX, LOGCHUNK_BACKWARD);
    assert_false(logchunk_iter_next(&it));
    assert_int_equal(logchunk_iter_err(&it), 0);
    logchunk_iter_deinit(&it);
    free(bytes);
    logchunk_writer_deinit(&w);
}

static void test_golden_small(void **state)
{
    struct logchunk_writer_opts o = {.store_uncompressed = true};
    struct logchunk_writer w;
    logchunk_writer_init(&w, &o);
    struct label md1[] = {{S("trace_id"), S("abc")}};
    struct label md2[] = {{S("trace_id"), S("abc")}, {S("user"), S("u1")}};
    /* appended out of order: the cut sorts them */
    assert_int_equal(logchunk_writer_append(&w, 1003, S(""), md2, 2), 0);
    assert_int_equal(logchunk_writer_append(&w, 1000, S("a"), NULL, 0), 0);
    assert_int_equal(logchunk_writer_append(&w, 1001, S("bc"), md1, 1), 0);
    uint8_t *bytes;
    size_t len;
    assert_int_equal(logchunk_writer_finish(&w, &bytes, &len), 0);
    assert_int_equal(len, sizeof golden_small);
    assert_memory_equal(bytes, golden_small, sizeof golden_small);
    free(bytes);

    /* the golden bytes decode to the entries */
    struct logchunk_reader r;
    assert_int_equal(logchunk_reader_open(&r, golden_small, sizeof golden_small), 0);
    assert_int_equal(r.n_blocks, 1);
    assert_true(r.mint == 1000 && r.maxt == 1003);
    struct logchunk_block_info bi;
    logchunk_reader_block_info(&r, 0, &bi);
    assert_int_equal(bi.codec, LOGCHUNK_CODEC_NONE);
    assert_int_equal(bi.entries, 3);
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    logchunk_iter_open_reader(&it, &r, INT64_MIN, INT64_MAX, LOGCHUNK_FORWARD);
    assert_true(logchunk_iter_next(&it));
    const struct logchunk_entry *e = logchunk_iter_at(&it);
    assert_true(e->ts_ns == 1000 && str_eq_cstr(e->line, "a") && e->md_count == 0);
    assert_true(logchunk_iter_next(&it));
    assert_true(e->ts_ns == 1001 && str_eq_cstr(e->line, "bc") && e->md_count == 1);
    assert_true(str_eq_cstr(e->md[0].name, "trace_id") && str_eq_cstr(e->md[0].value, "abc"));
    assert_true(logchunk_iter_next(&it));
    assert_true(e->ts_ns == 1003 && e->line.len == 0 && e->md_count == 2);
    assert_true(str_eq_cstr(e->md[1].name, "user") && str_eq_cstr(e->md[1].value, "u1"));
    assert_false(logchunk_iter_next(&it));
    assert_int_equal(logchunk_iter_err(&it), 0);
    logchunk_iter_deinit(&it);
    logchunk_writer_deinit(&w);
}

/* ---- edge cases ----------------------------------------------------------------------------- */

static unsigned last_codecs; /* bit (1 << codec) for every block of the last roundtrip_model */

/* Appends every model entry in model order (before sorting), finishes, checks the chunk. */
static void roundtrip_model(struct model *m, const struct logchunk_writer_opts *o, uint32_t *blocks)
{
    struct logchunk_writer w;
    logchunk_writer_init(&w, o);
    for (size_t i = 0; i < m->n; i++)
        assert_int_equal(
            logchunk_writer_append(&w, m->e[i].ts, m->e[i].line, m->e[i].md, m->e[i].n_md), 0);
    model_sort(m);
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    logchunk_iter_open_writer(&it, &w, INT64_MIN, INT64_MAX, LOGCHUNK_FORWARD);
    assert_iter_model(&it, m, INT64_MIN, INT64_MAX, LOGCHUNK_FORWARD);
    logchunk_iter_deinit(&it);
    uint8_t *bytes;
    size_t len;
    assert_int_equal(logchunk_writer_finish(&w, &bytes, &len), 0);
    assert_chunk_model(bytes, len, m);
    struct logchunk_reader r;
    assert_int_equal(logchunk_reader_open(&r, bytes, len), 0);
    if (blocks)
        *blocks = r.n_blocks;
    last_codecs = 0;
    for (uint32_t i = 0; i < r.n_blocks; i++) {
        struct logchunk_block_info bi;
        logchunk_reader_block_info(&r, i, &bi);
        last_codecs |= 1u << bi.codec;
    }
    free(bytes);
    logchunk_writer_deinit(&w);
}

static void test_single_entry(void **state)
{
    struct model m;
    model_init(&m);
    struct label md[] = {{S("k"), S("v")}};
    model_add(&m, -5, S("only line"), md, 1);
    uint32_t blocks;
    roundtrip_model(&m, NULL, &blocks);
    assert_int_equal(blocks, 1);
    model_deinit(&m);
}

static void test_empty_lines(void **state)
{
    struct model m;
    model_init(&m);
    struct label md[] = {{S(""), S("")}, {S("a"), S("")}};
    for (int i = 0; i < 1000; i++)
        model_add(&m, 1000 + i / 3, S(""), md, (size_t)(i % 3));
    uint32_t blocks;
    roundtrip_model(&m, NULL, &blocks);
    assert_int_equal(blocks, 1);
    struct logchunk_writer_opts o = {.block_target_bytes = 64};
    model_sort(&m);
    roundtrip_model(&m, &o, &blocks);
    assert_true(blocks > 10);
    model_deinit(&m);
}

static void test_huge_lines(void **state)
{
    size_t n = 1u << 20;
    char *rnd = malloc(n), *rep = malloc(n);
    assert_non_null(rnd);
    assert_non_null(rep);
    uint64_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        rnd[i] = (char)(x >> 56);
        rep[i] = "GET /api/v1/users/12345 HTTP/1.1 200\n"[i % 37];
    }
    struct model m;
    model_init(&m);
    model_add(&m, 2, S("small"), NULL, 0);
    model_add(&m, 1, S("tiny"), NULL, 0);
    model_add(&m, 3, (struct str){rep, n}, NULL, 0); /* reaches the target: cut at once */
    model_add(&m, 9, (struct str){rnd, n}, NULL, 0); /* incompressible: stored as is */
    model_add(&m, 9, S("after"), NULL, 0);
    uint32_t blocks;
    roundtrip_model(&m, NULL, &blocks);
    assert_int_equal(blocks, 3);
    assert_int_equal(last_codecs, (1u << LOGCHUNK_CODEC_NONE) | (1u << LOGCHUNK_CODEC_SNAPPY));
    model_deinit(&m);
    free(rnd);
    free(rep);
}

static void test_many_metadata(void **state)
{
    struct model m;
    model_init(&m);
    enum { PAIRS = 300 };
    static char names[PAIRS][16], values[PAIRS][24];
    struct label md[PAIRS];
    for (int i = 0; i < PAIRS; i++) {
        snprintf(names[i], sizeof names[i], "key_%d", i % 50); /* names repeat */
        snprintf(values[i], sizeof values[i], i % 7 ? "value_%d" : "", i);
        md[i] = (struct label){S(names[i]), S(values[i])};
    }
    for (int e = 0; e < 200; e++)
        model_add(&m, e, S("line with lots of metadata"), md + e % 10, PAIRS - e % 10);
    uint32_t blocks;
    roundtrip_model(&m, NULL, &blocks);
    assert_true(blocks >= 2);
    model_deinit(&m);
}

static void test_extreme_timestamps(void **state)
{
    struct model m;
    model_init(&m);
    model_add(&m, INT64_MAX, S("max"), NULL, 0);
    model_add(&m, INT64_MIN, S("min"), NULL, 0);
    model_add(&m, 0, S("zero"), NULL, 0);
    model_add(&m, INT64_MAX, S("max2"), NULL, 0);
    roundtrip_model(&m, NULL, NULL);
    model_deinit(&m);
}

/* ---- ordering ------------------------------------------------------------------------------- */

static void test_head_out_of_order_stable(void **state)
{
    struct logchunk_writer w;
    logchunk_writer_init(&w, NULL);
    int64_t ts[] = {50, 10, 50, 30, 10, 50, 20};
    const char *lines[] = {"a", "b", "c", "d", "e", "f", "g"};
    for (int i = 0; i < 7; i++)
        assert_int_equal(logchunk_writer_append(&w, ts[i], S(lines[i]), NULL, 0), 0);
    const char *want[] = {"b", "e", "g", "d", "a", "c", "f"}; /* by ts, ties in append order */
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    logchunk_iter_open_writer(&it, &w, INT64_MIN, INT64_MAX, LOGCHUNK_FORWARD);
    for (int i = 0; i < 7; i++) {
        assert_true(logchunk_iter_next(&it));
        assert_true(str_eq_cstr(logchunk_iter_at(&it)->line, want[i]));
    }
    assert_false(logchunk_iter_next(&it));
    uint8_t *bytes;
    size_t len;
    assert_int_equal(logchunk_writer_finish(&w, &bytes, &len), 0);
    struct logchunk_reader r;
    assert_int_equal(logchunk_reader_open(&r, bytes, len), 0);
    logchunk_iter_open_reader(&it, &r, INT64_MIN, INT64_MAX, LOGCHUNK_BACKWARD);
    for (int i = 6; i >= 0; i--) {
        assert_true(logchunk_iter_next(&it));
        assert_true(str_eq_cstr(logchunk_iter_at(&it)->line, want[i]));
    }
    assert_false(logchunk_iter_next(&it));
    logchunk_iter_deinit(&it);
    free(bytes);
    logchunk_writer_deinit(&w);
}

static void test_err_order(void **state)
{
    struct logchunk_writer_opts o = {.block_target_bytes = 100};
    struct logchunk_writer w;
    logchunk_writer_init(&w, &o);
    char line[64];
    memset(line, 'x', sizeof line);
    struct str l = {line, sizeof line};
    assert_int_equal(logchunk_writer_append(&w, 100, l, NULL, 0), 0);
    assert_int_equal(logchunk_writer_append(&w, 90, l, NULL, 0), 0); /* head: any order; cut */
    struct logchunk_stats st;
    logchunk_writer_stats(&w, &st);
    assert_int_equal(st.blocks, 1);
    assert_int_equal(st.head_entries, 0);
    assert_int_equal(logchunk_writer_append(&w, 99, l, NULL, 0), ERR_ORDER);
    assert_int_equal(logchunk_writer_append(&w, INT64_MIN, l, NULL, 0), ERR_ORDER);
    assert_int_equal(logchunk_writer_append(&w, 100, S("same ts as the cut max"), NULL, 0), 0);
    assert_int_equal(logchunk_writer_append(&w, 150, S("later"), NULL, 0), 0);
    assert_int_equal(logchunk_writer_append(&w, 120, S("older than head max: fine"), NULL, 0), 0);
    assert_int_equal(logchunk_writer_append(&w, 99, S("older than cut max"), NULL, 0), ERR_ORDER);
    logchunk_writer_stats(&w, &st);
    assert_int_equal(st.entries, 5);
    assert_int_equal(st.head_entries, 3);
    assert_true(st.mint == 90 && st.maxt == 150);
    uint8_t *bytes;
    size_t len;
    assert_int_equal(logchunk_writer_finish(&w, &bytes, &len), 0);
    struct logchunk_reader r;
    assert_int_equal(logchunk_reader_open(&r, bytes, len), 0);
    assert_int_equal(r.entries, 5);
    int64_t want[] = {90, 100, 100, 120, 150};
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    logchunk_iter_open_reader(&it, &r, INT64_MIN, INT64_MAX, LOGCHUNK_FORWARD);
    for (int i = 0; i < 5; i++) {
        assert_true(logchunk_iter_next(&it));
        assert_true(logchunk_iter_at(&it)->ts_ns == want[i]);
    }
    assert_false(logchunk_iter_next(&it));
    logchunk_iter_deinit(&it);
    free(bytes);
    /* finish reset the writer: old timestamps are fine again */
    assert_int_equal(logchunk_writer_append(&w, 1, S("new chunk"), NULL, 0), 0);
    logchunk_writer_stats(&w, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.blocks, 0);
    logchunk_writer_deinit(&w);
}

static void test_limits_and_stats(void **state)
{
    struct logchunk_writer w;
    logchunk_writer_init(&w, NULL);
    struct logchunk_stats st;
    logchunk_writer_stats(&w, &st);
    assert_int_equal(st.entries, 0);
    assert_true(st.mint == INT64_MAX && st.maxt == INT64_MIN);
    assert_int_equal(st.bytes_compressed, LOGCHUNK_EMPTY_CHUNK_BYTES);
    char c = 'x';
    struct str huge = {&c, (size_t)LOGCHUNK_BYTES_MAX + 1}; /* length is checked before reading */
    assert_int_equal(logchunk_writer_append(&w, 1, huge, NULL, 0), ERR_LIMIT);
    for (int i = 0; i < 10000; i++) {
        char line[80];
        int n = snprintf(line, sizeof line, "level=info msg=\"request done\" id=%d", i);
        assert_int_equal(
            logchunk_writer_append(&w, 1000 + i, (struct str){line, (size_t)n}, NULL, 0), 0);
    }
    logchunk_writer_stats(&w, &st);
    assert_int_equal(st.entries, 10000);
    assert_true(st.blocks >= 1);
    assert_true(st.line_bytes > 300000);
    assert_true(st.bytes_uncompressed >= st.line_bytes);
    assert_true(st.bytes_compressed < st.line_bytes / 2);
    assert_true(st.mem_bytes > 0);
    uint8_t *bytes;
    size_t len;
    assert_int_equal(logchunk_writer_finish(&w, &bytes, &len), 0);
    struct logchunk_reader r;
    assert_int_equal(logchunk_reader_open(&r, bytes, len), 0);
    assert_true(len > st.bytes_compressed); /* the head block was added */
    assert_true(r.bytes_uncompressed > 0);
    free(bytes);
    logchunk_writer_deinit(&w);
}

/* ---- navigation ----------------------------------------------------------------------------- */

/* 2000 entries, ts = 10*i (with duplicates every 7th), ~30 blocks. */
static void build_nav(struct model *m, uint8_t **bytes, size_t *len)
{
    model_init(m);
    struct logchunk_writer_opts o = {.block_target_bytes = 2048};
    struct logchunk_writer w;
    logchunk_writer_init(&w, &o);
    for (int i = 0; i < 2000; i++) {
        char line[64];
        int n = snprintf(line, sizeof line, "entry %d lorem ipsum", i);
        int64_t ts = 10 * (int64_t)(i - i % 7 / 6);
        struct label md[] = {{S("n"), {line + 6, (size_t)n - 18}}};
        model_add(m, ts, (struct str){line, (size_t)n}, md, (size_t)(i % 2));
        assert_int_equal(
            logchunk_writer_append(&w, ts, (struct str){line, (size_t)n}, md, (size_t)(i % 2)), 0);
    }
    model_sort(m);
    assert_int_equal(logchunk_writer_finish(&w, bytes, len), 0);
    logchunk_writer_deinit(&w);
}

static void test_ranges_and_skip(void **state)
{
    struct model m;
    uint8_t *bytes;
    size_t len;
    build_nav(&m, &bytes, &len);
    struct logchunk_reader r;
    assert_int_equal(logchunk_reader_open(&r, bytes, len), 0);
    assert_true(r.n_blocks > 10);
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    int64_t bounds[] = {INT64_MIN, -1,   0,     5,     10,    995,      1000,
                        1005,      5000, 12340, 19990, 20000, INT64_MAX};
    size_t nb = sizeof bounds / sizeof bounds[0];
    for (size_t a = 0; a < nb; a++)
        for (size_t b = 0; b < nb; b++)
            for (int d = 0; d < 2; d++) {
                logchunk_iter_open_reader(&it, &r, bounds[a], bounds[b], (enum logchunk_dir)d);
                assert_iter_model(&it, &m, bounds[a], bounds[b], (enum logchunk_dir)d);
            }
    /* a range inside one block decompresses only that block, in either direction */
    struct logchunk_block_info bi;
    logchunk_reader_block_info(&r, 5, &bi);
    for (int d = 0; d < 2; d++) {
        uint64_t before = it.blocks_loaded;
        logchunk_iter_open_reader(&it, &r, bi.mint + 1, bi.maxt, (enum logchunk_dir)d);
        assert_iter_model(&it, &m, bi.mint + 1, bi.maxt, (enum logchunk_dir)d);
        assert_int_equal(it.blocks_loaded - before, 1);
    }
    /* a range between blocks' timestamps, or beyond the chunk, decompresses nothing */
    uint64_t before = it.blocks_loaded;
    logchunk_iter_open_reader(&it, &r, 20000, INT64_MAX, LOGCHUNK_FORWARD);
    assert_false(logchunk_iter_next(&it));
    logchunk_iter_open_reader(&it, &r, INT64_MIN, 0, LOGCHUNK_BACKWARD);
    assert_false(logchunk_iter_next(&it));
    logchunk_iter_open_reader(&it, &r, 7, 3, LOGCHUNK_FORWARD);
    assert_false(logchunk_iter_next(&it));
    assert_int_equal(it.blocks_loaded, before);
    logchunk_iter_deinit(&it);
    free(bytes);
    model_deinit(&m);
}

/* Index of the model entry a seek must land on, or -1. */
static long seek_want(const struct model *m, int64_t mint, int64_t maxt, enum logchunk_dir dir,
                      int64_t t)
{
    if (dir == LOGCHUNK_FORWARD) {
        for (size_t i = 0; i < m->n; i++)
            if (m->e[i].ts >= t && m->e[i].ts >= mint)
                return m->e[i].ts < maxt ? (long)i : -1;
        return -1;
    }
    for (size_t i = m->n; i-- > 0;)
        if (m->e[i].ts < t && m->e[i].ts < maxt)
            return m->e[i].ts >= mint ? (long)i : -1;
    return -1;
}

static void check_seeks(struct logchunk_iter *it, const struct model *m, int64_t mint, int64_t maxt,
                        enum logchunk_dir dir, struct prop *p)
{
    for (int k = 0; k < 200; k++) {
        int64_t t = (int64_t)(prop_next(p) % 22000) - 1000;
        long want = seek_want(m, mint, maxt, dir, t);
        bool ok = logchunk_iter_seek(it, t);
        prop_check(p, ok == (want >= 0));
        if (!ok)
            continue;
        assert_entry(logchunk_iter_at(it), &m->e[want]);
        /* then _next continues in order for a few steps */
        for (int s = 1; s <= 3; s++) {
            long nx = dir == LOGCHUNK_FORWARD ? want + s : want - s;
            bool in = nx >= 0 && nx < (long)m->n && m->e[nx].ts >= mint && m->e[nx].ts < maxt;
            prop_check(p, logchunk_iter_next(it) == in);
            if (!in)
                break;
            assert_entry(logchunk_iter_at(it), &m->e[nx]);
        }
    }
    assert_int_equal(logchunk_iter_err(it), 0);
}

static void test_seek(void **state)
{
    struct model m;
    uint8_t *bytes;
    size_t len;
    build_nav(&m, &bytes, &len);
    struct logchunk_reader r;
    assert_int_equal(logchunk_reader_open(&r, bytes, len), 0);
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    struct prop p = prop_begin("logchunk_seek");
    int64_t ranges[][2] = {{INT64_MIN, INT64_MAX}, {1000, 15000}, {5, 6}, {12345, 12346}};
    for (size_t k = 0; k < 4; k++)
        for (int d = 0; d < 2; d++) {
            logchunk_iter_open_reader(&it, &r, ranges[k][0], ranges[k][1], (enum logchunk_dir)d);
            check_seeks(&it, &m, ranges[k][0], ranges[k][1], (enum logchunk_dir)d, &p);
        }
    /* seeks exactly at every block boundary */
    for (uint32_t b = 0; b < r.n_blocks; b++) {
        struct logchunk_block_info bi;
        logchunk_reader_block_info(&r, b, &bi);
        int64_t ts[] = {bi.mint, bi.maxt, bi.maxt + 1};
        for (int d = 0; d < 2; d++) {
            logchunk_iter_open_reader(&it, &r, INT64_MIN, INT64_MAX, (enum logchunk_dir)d);
            for (int j = 0; j < 3; j++) {
                long want = seek_want(&m, INT64_MIN, INT64_MAX, (enum logchunk_dir)d, ts[j]);
                assert_int_equal(logchunk_iter_seek(&it, ts[j]), want >= 0);
                if (want >= 0)
                    assert_entry(logchunk_iter_at(&it), &m.e[want]);
            }
        }
    }
    logchunk_iter_deinit(&it);
    free(bytes);
    model_deinit(&m);
}

static void test_open_writer(void **state)
{
    struct logchunk_writer_opts o = {.block_target_bytes = 512};
    struct logchunk_writer w;
    logchunk_writer_init(&w, &o);
    struct model m;
    model_init(&m);
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    /* empty writer */
    logchunk_iter_open_writer(&it, &w, INT64_MIN, INT64_MAX, LOGCHUNK_FORWARD);
    assert_false(logchunk_iter_next(&it));
    struct prop p = prop_begin("logchunk_open_writer");
    int64_t hi = 0;
    for (int i = 0; i < 400; i++) {
        char line[48];
        int n = snprintf(line, sizeof line, "open %d", i);
        int64_t ts = hi + (int64_t)(prop_next(&p) % 40) - 20; /* jitter */
        hi = hi + 10;
        int rc = logchunk_writer_append(&w, ts, (struct str){line, (size_t)n}, NULL, 0);
        if (rc == ERR_ORDER)
            continue;
        assert_int_equal(rc, 0);
        model_add(&m, ts, (struct str){line, (size_t)n}, NULL, 0);
        if (i % 37 == 0) {
            struct model sorted = m;
            sorted.e = malloc(m.n * sizeof *m.e);
            memcpy(sorted.e, m.e, m.n * sizeof *m.e);
            model_sort(&sorted);
            for (int d = 0; d < 2; d++) {
                logchunk_iter_open_writer(&it, &w, INT64_MIN, INT64_MAX, (enum logchunk_dir)d);
                assert_iter_model(&it, &sorted, INT64_MIN, INT64_MAX, (enum logchunk_dir)d);
                logchunk_iter_open_writer(&it, &w, hi / 3, hi - 50, (enum logchunk_dir)d);
                assert_iter_model(&it, &sorted, hi / 3, hi - 50, (enum logchunk_dir)d);
                logchunk_iter_open_writer(&it, &w, INT64_MIN, INT64_MAX, (enum logchunk_dir)d);
                check_seeks(&it, &sorted, INT64_MIN, INT64_MAX, (enum logchunk_dir)d, &p);
            }
            free(sorted.e);
        }
    }
    struct logchunk_stats st;
    logchunk_writer_stats(&w, &st);
    assert_true(st.blocks > 3);
    assert_int_equal(st.entries, m.n);
    logchunk_iter_deinit(&it);
    logchunk_writer_deinit(&w);
    model_deinit(&m);
}

/* ---- corruption ----------------------------------------------------------------------------- */

/* 0 when the whole chunk decodes (both directions), else the first error. */
static int decode_all(const uint8_t *bytes, size_t len, struct logchunk_iter *it)
{
    struct logchunk_reader r;
    int rc = logchunk_reader_open(&r, bytes, len);
    if (rc)
        return rc;
    for (int d = 0; d < 2; d++) {
        logchunk_iter_open_reader(it, &r, INT64_MIN, INT64_MAX, (enum logchunk_dir)d);
        while (logchunk_iter_next(it))
            ;
        if ((rc = logchunk_iter_err(it)))
            return rc;
    }
    return 0;
}

static void small_multiblock(uint8_t **bytes, size_t *len, bool raw)
{
    struct logchunk_writer_opts o = {.block_target_bytes = 120, .store_uncompressed = raw};
    struct logchunk_writer w;
    logchunk_writer_init(&w, &o);
    for (int i = 0; i < 12; i++) {
        char line[40];
        int n = snprintf(line, sizeof line, "aaaaaaaaaaaaaaaaaaaa line %d", i);
        struct label md[] = {{S("trace"), S("t1")}, {S("user"), S(i % 2 ? "u1" : "u2")}};
        assert_int_equal(
            logchunk_writer_append(&w, 100 * i, (struct str){line, (size_t)n}, md, (size_t)(i % 3)),
            0);
    }
    assert_int_equal(logchunk_writer_finish(&w, bytes, len), 0);
    logchunk_writer_deinit(&w);
}

static void test_truncations(void **state)
{
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    for (int raw = 0; raw < 2; raw++) {
        uint8_t *bytes;
        size_t len;
        small_multiblock(&bytes, &len, raw);
        assert_int_equal(decode_all(bytes, len, &it), 0);
        for (size_t n = 0; n < len; n++) {
            uint8_t *cut = malloc(n ? n : 1); /* exact size: ASan catches any overread */
            memcpy(cut, bytes, n);
            int rc = decode_all(cut, n, &it);
            assert_true(rc == ERR_TRUNCATED || rc == ERR_CORRUPT);
            free(cut);
        }
        free(bytes);
    }
    logchunk_iter_deinit(&it);
}

static void test_bit_flips(void **state)
{
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    for (int raw = 0; raw < 2; raw++) {
        uint8_t *bytes;
        size_t len;
        small_multiblock(&bytes, &len, raw);
        struct logchunk_reader r;
        assert_int_equal(logchunk_reader_open(&r, bytes, len), 0);
        assert_true(r.n_blocks >= 3);
        /* every bit of every region (header, blocks, index, footer) */
        for (size_t i = 0; i < len; i++)
            for (int b = 0; b < 8; b++) {
                bytes[i] ^= (uint8_t)(1u << b);
                int rc = decode_all(bytes, len, &it);
                assert_true(rc == ERR_TRUNCATED || rc == ERR_CORRUPT);
                bytes[i] ^= (uint8_t)(1u << b);
            }
        assert_int_equal(decode_all(bytes, len, &it), 0);
        free(bytes);
    }
    logchunk_iter_deinit(&it);
}

/* Applies `edit` to a copy of a raw-codec chunk, reseals the checksums, expects ERR_CORRUPT. */
static void expect_corrupt_resealed(const uint8_t *bytes, size_t len, size_t off, uint8_t v,
                                    struct logchunk_iter *it)
{
    uint8_t *c = malloc(len);
    memcpy(c, bytes, len);
    c[off] = v;
    (void)logchunk_debug_reseal(c, len); /* finds nothing to reseal when the footer is broken */
    assert_int_equal(decode_all(c, len, it), ERR_CORRUPT);
    free(c);
}

static void test_corrupt_behind_crc(void **state)
{
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    const uint8_t *g = golden_small;
    size_t len = sizeof golden_small;
    size_t idx = 50; /* the index entry starts after 8 + 42 body bytes */
    /* body: entry count, first ts, a ts delta (last ts), a line length, symbol count, symbol
     * length, a pair count, a symbol id */
    expect_corrupt_resealed(g, len, 8, 0x02, &it);
    expect_corrupt_resealed(g, len, 9, 0xd2, &it);
    expect_corrupt_resealed(g, len, 12, 0x03, &it);
    expect_corrupt_resealed(g, len, 13, 0x09, &it);
    expect_corrupt_resealed(g, len, 16, 0x05, &it);
    expect_corrupt_resealed(g, len, 17, 0x7f, &it);
    expect_corrupt_resealed(g, len, 40, 0x03, &it);
    expect_corrupt_resealed(g, len, 46, 0x04, &it);
    expect_corrupt_resealed(g, len, 11, 0x80, &it); /* varint running into the next field */
    /* index: mint > maxt, maxt != body, offset, stored size, uncompressed size, count 0, codec,
     * reserved byte, footer index offset, block count */
    expect_corrupt_resealed(g, len, idx + 0, 0xff, &it);
    expect_corrupt_resealed(g, len, idx + 8, 0xec, &it);
    expect_corrupt_resealed(g, len, idx + 16, 0x09, &it);
    expect_corrupt_resealed(g, len, idx + 20, 0x29, &it);
    expect_corrupt_resealed(g, len, idx + 24, 0x2b, &it);
    expect_corrupt_resealed(g, len, idx + 28, 0x00, &it);
    expect_corrupt_resealed(g, len, idx + 36, 0x01, &it); /* claims snappy: not a snappy stream */
    expect_corrupt_resealed(g, len, idx + 36, 0x07, &it);
    expect_corrupt_resealed(g, len, idx + 38, 0x01, &it);
    expect_corrupt_resealed(g, len, idx + 40, 0x09, &it);
    expect_corrupt_resealed(g, len, idx + 44, 0x02, &it);
    /* header fields are covered by the index CRC and checked themselves */
    expect_corrupt_resealed(g, len, 4, 0x02, &it);
    expect_corrupt_resealed(g, len, 5, 0x01, &it);
    expect_corrupt_resealed(g, len, 0, 'X', &it);

    /* block order across blocks: swap two index entries of a multi-block chunk */
    uint8_t *bytes;
    size_t blen;
    small_multiblock(&bytes, &blen, true);
    struct logchunk_reader r;
    assert_int_equal(logchunk_reader_open(&r, bytes, blen), 0);
    uint8_t *e0 = (uint8_t *)r.index, tmp[LOGCHUNK_INDEX_ENTRY_BYTES];
    memcpy(tmp, e0, sizeof tmp);
    memcpy(e0, e0 + LOGCHUNK_INDEX_ENTRY_BYTES, sizeof tmp);
    memcpy(e0 + LOGCHUNK_INDEX_ENTRY_BYTES, tmp, sizeof tmp);
    logchunk_debug_reseal(bytes, blen);
    assert_int_equal(decode_all(bytes, blen, &it), ERR_CORRUPT);
    free(bytes);
    logchunk_iter_deinit(&it);
}

/* Random byte edits behind resealed CRCs: each must yield entries or an error, never a crash. */
static void test_random_resealed(void **state)
{
    struct prop p = prop_begin("logchunk_random_resealed");
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    for (int raw = 0; raw < 2; raw++) {
        uint8_t *bytes;
        size_t len;
        small_multiblock(&bytes, &len, raw);
        uint8_t *c = malloc(len);
        for (int k = 0; k < 3000; k++) {
            memcpy(c, bytes, len);
            int edits = 1 + (int)(prop_next(&p) % 3);
            for (int e = 0; e < edits; e++)
                c[prop_next(&p) % len] = (uint8_t)prop_next(&p);
            logchunk_debug_reseal(c, len);
            int rc = decode_all(c, len, &it);
            prop_check(&p, rc == 0 || rc == ERR_CORRUPT || rc == ERR_TRUNCATED);
        }
        free(c);
        free(bytes);
    }
    logchunk_iter_deinit(&it);
}

/* ---- randomized round trip ------------------------------------------------------------------ */

static void random_line(struct prop *p, char *buf, size_t *n)
{
    static const char *words[] = {"GET",       "POST",        "/api/v1/users", "200",
                                  "404",       "level=info",  "msg=\"done\"",  "duration_ms=12",
                                  "{\"a\":1}", "\xff\x00\x01"};
    size_t len = 0, want = (size_t)(prop_next(p) % 300);
    if (prop_next(p) % 10 == 0)
        want = (size_t)(prop_next(p) % 5000);
    while (len < want) {
        const char *w = words[prop_next(p) % 10];
        size_t wl = prop_next(p) % 10 == 9 ? 3 : strlen(w);
        if (len + wl + 1 > want)
            break;
        memcpy(buf + len, w, wl);
        len += wl;
        buf[len++] = (char)(prop_next(p) % 20 ? ' ' : (char)prop_next(p));
    }
    *n = len;
}

static void test_random_roundtrip(void **state)
{
    struct prop p = prop_begin("logchunk_roundtrip");
    static char line[6000];
    static const char *keys[] = {"trace_id", "span_id", "user", "", "pod"};
    static const char *vals[] = {"abc", "def0123", "", "u-42", "x"};
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    for (int round = 0; round < 30; round++) {
        struct logchunk_writer_opts o = {.block_target_bytes = 64 + prop_next(&p) % 20000,
                                         .store_uncompressed = prop_next(&p) % 4 == 0};
        struct logchunk_writer w;
        logchunk_writer_init(&w, &o);
        struct model m;
        model_init(&m);
        int64_t base = prop_next(&p) % 2 ? (int64_t)(prop_next(&p) >> 2) - (INT64_C(1) << 61) : 0;
        int64_t hi = base, accepted_max = INT64_MIN;
        size_t n = (size_t)(prop_next(&p) % 3000);
        for (size_t i = 0; i < n; i++) {
            size_t len;
            random_line(&p, line, &len);
            struct label md[6];
            size_t nmd = prop_next(&p) % 3 ? 0 : (size_t)(prop_next(&p) % 6);
            for (size_t k = 0; k < nmd; k++)
                md[k] = (struct label){S(keys[prop_next(&p) % 5]), S(vals[prop_next(&p) % 5])};
            int64_t ts = hi - (int64_t)(prop_next(&p) % 1000);
            hi += (int64_t)(prop_next(&p) % 100000);
            int rc = logchunk_writer_append(&w, ts, (struct str){line, len}, md, nmd);
            if (rc == ERR_ORDER) {
                prop_check(&p, ts < accepted_max);
                continue;
            }
            prop_check(&p, rc == 0);
            accepted_max = ts > accepted_max ? ts : accepted_max;
            model_add(&m, ts, (struct str){line, len}, md, nmd);
        }
        model_sort(&m);
        for (int d = 0; d < 2; d++) {
            logchunk_iter_open_writer(&it, &w, INT64_MIN, INT64_MAX, (enum logchunk_dir)d);
            assert_iter_model(&it, &m, INT64_MIN, INT64_MAX, (enum logchunk_dir)d);
        }
        uint8_t *bytes;
        size_t blen;
        assert_int_equal(logchunk_writer_finish(&w, &bytes, &blen), 0);
        assert_chunk_model(bytes, blen, &m);
        struct logchunk_reader r;
        assert_int_equal(logchunk_reader_open(&r, bytes, blen), 0);
        for (int q = 0; q < 10; q++) {
            int64_t a = base + (int64_t)(prop_next(&p) % (uint64_t)(hi - base + 1));
            int64_t b = a + (int64_t)(prop_next(&p) % (uint64_t)(hi - base + 1));
            enum logchunk_dir d = (enum logchunk_dir)(prop_next(&p) % 2);
            logchunk_iter_open_reader(&it, &r, a, b, d);
            assert_iter_model(&it, &m, a, b, d);
        }
        free(bytes);
        model_deinit(&m);
        logchunk_writer_deinit(&w);
    }
    logchunk_iter_deinit(&it);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_empty),       cmocka_unit_test(test_golden_small),
        cmocka_unit_test(test_single_entry),       cmocka_unit_test(test_empty_lines),
        cmocka_unit_test(test_huge_lines),         cmocka_unit_test(test_many_metadata),
        cmocka_unit_test(test_extreme_timestamps), cmocka_unit_test(test_head_out_of_order_stable),
        cmocka_unit_test(test_err_order),          cmocka_unit_test(test_limits_and_stats),
        cmocka_unit_test(test_ranges_and_skip),    cmocka_unit_test(test_seek),
        cmocka_unit_test(test_open_writer),        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_bit_flips),          cmocka_unit_test(test_corrupt_behind_crc),
        cmocka_unit_test(test_random_resealed),    cmocka_unit_test(test_random_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
