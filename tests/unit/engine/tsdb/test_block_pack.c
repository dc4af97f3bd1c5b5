/* Blocks with packed float chunks (CHUNK_PACKED, formats/floatpack.h): the writer merges a series'
 * consecutive XOR chunks into packed ones when smaller, keeps chunks that would not shrink (full
 * entropy) or that overlap, honours float_pack_off; every sample reads back bit for bit through
 * block_select + the querier's sample iterator, seeks included; compaction of packed blocks (with
 * an overlap that forces the merge re-encoder to decode packed chunks) keeps every sample. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/tsdb/merge.h"
#include "engine/tsdb/querier.h"
#include "formats/floatpack.h"
#include "tests/unit/engine/tsdb/test_block_util.h"

#define HOUR_MS (3600 * 1000ll)

static char root[PATH_MAX], blocks[PATH_MAX + 16];

static int setup(void **state)
{
    (void)state;
    tb_tmpdir(root, sizeof root);
    snprintf(blocks, sizeof blocks, "%s/blocks", root);
    mkdir(blocks, 0755);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    block_remove_dir(root);
    return 0;
}

static uint64_t dbits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

/* Series: a 2-decimal counter (packs), a full-entropy float (stays XOR), one with stale markers
 * and -0.0, a single-sample one, and one with overlapping chunks. 15 s scrapes. */
static void make_data(struct tb_data *d, int64_t t0, uint64_t seed)
{
    memset(d, 0, sizeof *d);
    int64_t ts[480];
    uint64_t v[480];
    for (size_t i = 0; i < 480; i++)
        ts[i] = t0 + (int64_t)i * 15000;
    struct tb_series *s = tb_add(d, "__name__=cpu,mode=idle");
    for (size_t i = 0; i < 480; i++)
        v[i] = dbits((double)(100000 + (int64_t)i * 1350 + (int64_t)((seed + i) % 7)) / 100);
    for (size_t i = 0; i < 480; i += 120)
        tb_chunk(s, ts + i, v + i, 120);
    s = tb_add(d, "__name__=dur");
    uint64_t x = seed | 1;
    for (size_t i = 0; i < 480; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = dbits((double)(x >> 11) / 9007199254740992.0 * 0.01);
    }
    for (size_t i = 0; i < 480; i += 120)
        tb_chunk(s, ts + i, v + i, 120);
    s = tb_add(d, "__name__=stale");
    for (size_t i = 0; i < 240; i++)
        v[i] = i % 50 == 49  ? 0x7ff0000000000002ull
               : i % 31 == 3 ? 0x8000000000000000ull
                             : dbits(1);
    tb_chunk(s, ts, v, 120);
    tb_chunk(s, ts + 120, v + 120, 120);
    s = tb_add(d, "__name__=one");
    v[0] = dbits(42);
    tb_chunk(s, ts + 7, v, 1);
    s = tb_add(d, "__name__=overlap");
    for (size_t i = 0; i < 240; i++)
        v[i] = dbits((double)i);
    tb_chunk(s, ts, v, 120);
    tb_chunk(s, ts + 100, v + 100, 120); /* overlaps the first */
    tb_chunk(s, ts + 300, v + 300, 60);
    tb_sort(d);
}

/* Reads every series of the block through block_select and the querier sample iterator and
 * compares with the input (overlaps resolved by tb_decode's first-chunk-wins rule). */
static void check_block(const char *path, const struct tb_data *in, size_t *packed_out)
{
    struct block *b;
    assert_int_equal(block_open(path, &b, NULL), 0);
    assert_int_equal(block_verify(b, NULL), 0);
    struct chunk_series_set *set;
    assert_int_equal(block_select(b, NULL, 0, INT64_MIN, INT64_MAX, &set), 0);
    size_t k = 0, packed = 0;
    while (chunk_series_set_next(set) == 1) {
        const struct chunk_series *cs = chunk_series_set_at(set);
        assert_true(k < in->n);
        const struct tb_series *w = &in->s[k++];
        int64_t *wt;
        uint64_t *wv;
        size_t wn;
        assert_int_equal(tb_decode(w->chunks, w->n_chunks, &wt, &wv, &wn), 0);
        for (size_t c = 0; c < cs->n_chunks; c++)
            packed += cs->chunks[c].encoding == CHUNK_PACKED;
        struct querier_sample_iter it;
        querier_sample_iter_init(&it, cs);
        size_t i = 0;
        while (querier_sample_iter_next(&it) == 1) {
            int64_t t;
            uint64_t v;
            querier_sample_iter_at(&it, &t, &v);
            assert_true(i < wn);
            assert_int_equal(t, wt[i]);
            assert_int_equal(v, wv[i]);
            i++;
        }
        assert_int_equal(querier_sample_iter_err(&it), 0);
        assert_int_equal(i, wn);
        querier_sample_iter_deinit(&it);
        /* seek into the middle, then step */
        querier_sample_iter_init(&it, cs);
        assert_int_equal(querier_sample_iter_seek(&it, wt[wn / 2] - 1), 1);
        int64_t t;
        uint64_t v;
        querier_sample_iter_at(&it, &t, &v);
        assert_int_equal(t, wt[wn / 2]);
        assert_int_equal(v, wv[wn / 2]);
        querier_sample_iter_deinit(&it);
        free(wt);
        free(wv);
    }
    assert_int_equal(chunk_series_set_err(set), 0);
    assert_int_equal(k, in->n);
    chunk_series_set_close(set);
    block_unref(b);
    *packed_out = packed;
}

static void test_write_read_packed(void **state)
{
    (void)state;
    struct tb_data d;
    make_data(&d, 0, 5);
    struct blockindex_meta meta;
    char path[PATH_MAX];
    assert_int_equal(tb_write(blocks, &d, 0, 2 * HOUR_MS, NULL, &meta, path, sizeof path), 0);
    size_t packed;
    check_block(path, &d, &packed);
    /* cpu: 4 chunks -> 1; stale: 2 -> 1; overlap: the lone third chunk or a group */
    assert_true(packed >= 2);
    assert_true(meta.num_chunks < 14);
    assert_int_equal(meta.num_samples, 480 + 480 + 240 + 1 + 300);
    blockindex_meta_deinit(&meta);

    struct block_write_opts off = {.float_pack_off = true};
    assert_int_equal(tb_write(blocks, &d, 0, 2 * HOUR_MS, &off, &meta, path, sizeof path), 0);
    check_block(path, &d, &packed);
    assert_int_equal(packed, 0);
    assert_int_equal(meta.num_chunks, 14);
    blockindex_meta_deinit(&meta);
    tb_free(&d);
}

static void test_compact_packed(void **state)
{
    (void)state;
    struct tb_data a, b;
    make_data(&a, 0, 1);
    make_data(&b, 2 * HOUR_MS - 30 * 15000, 2); /* overlaps a's last chunks */
    struct blockindex_meta ma, mb;
    char pa[PATH_MAX], pb[PATH_MAX];
    assert_int_equal(tb_write(blocks, &a, 0, 4 * HOUR_MS, NULL, &ma, pa, sizeof pa), 0);
    assert_int_equal(tb_write(blocks, &b, 0, 4 * HOUR_MS, NULL, &mb, pb, sizeof pb), 0);
    struct block *ba, *bb;
    assert_int_equal(block_open(pa, &ba, NULL), 0);
    assert_int_equal(block_open(pb, &bb, NULL), 0);
    struct chunk_series_set *in[2], *merged;
    assert_int_equal(block_select(ba, NULL, 0, INT64_MIN, INT64_MAX, &in[0]), 0);
    assert_int_equal(block_select(bb, NULL, 0, INT64_MIN, INT64_MAX, &in[1]), 0);
    assert_int_equal(merge_set_create(in, 2, MERGE_REENCODE, &merged), 0);
    struct blockindex_meta mc;
    blockindex_meta_init(&mc);
    assert_int_equal(block_write(blocks, merged, 0, 4 * HOUR_MS, &mc), 0);
    chunk_series_set_close(merged);
    /* expected: a's samples win equal timestamps (listed first) */
    struct tb_data both;
    memset(&both, 0, sizeof both);
    for (size_t i = 0; i < a.n; i++) {
        struct tb_series *s = tb_add(&both, "");
        s->n_labels = a.s[i].n_labels;
        for (size_t j = 0; j < s->n_labels; j++) {
            const struct label *l = &a.s[i].labels[j];
            s->labels[j].name = (struct str){tb_strdup(l->name.ptr, l->name.len), l->name.len};
            s->labels[j].value = (struct str){tb_strdup(l->value.ptr, l->value.len), l->value.len};
        }
        for (size_t c = 0; c < a.s[i].n_chunks + b.s[i].n_chunks; c++) {
            const struct chunk_meta *m =
                c < a.s[i].n_chunks ? &a.s[i].chunks[c] : &b.s[i].chunks[c - a.s[i].n_chunks];
            int64_t ts[240];
            uint64_t v[240];
            struct gorilla_iter it;
            assert_int_equal(gorilla_iter_init(&it, m->data, m->len), 0);
            size_t n = 0;
            while (gorilla_iter_next(&it) == 1)
                gorilla_iter_at_bits(&it, &ts[n], &v[n]), n++;
            tb_chunk(s, ts, v, n);
        }
    }
    char id[BLOCKINDEX_ULID_CHARS + 1], pc[PATH_MAX + 64];
    blockindex_ulid_format(&mc.ulid, id);
    snprintf(pc, sizeof pc, "%s/%s", blocks, id);
    size_t packed;
    check_block(pc, &both, &packed);
    assert_true(packed >= 2);
    block_unref(ba);
    block_unref(bb);
    blockindex_meta_deinit(&ma);
    blockindex_meta_deinit(&mb);
    blockindex_meta_deinit(&mc);
    tb_free(&both);
    tb_free(&a);
    tb_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_read_packed),
        cmocka_unit_test(test_compact_packed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
