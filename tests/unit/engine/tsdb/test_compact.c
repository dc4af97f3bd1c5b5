/* compact: ranges, planning cases (levels, gaps, skipped big blocks, newest left out, overlaps
 * first, negative times), compaction of adjacent blocks into a level-2 block with every sample,
 * out-of-order overlaps compacted into non-overlapping chunks with every sample once, crash
 * leftovers and superseded inputs cleaned on open, retention by age and by size, corrupt blocks
 * quarantined on open and during compaction while the others stay served. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>

#include "engine/tsdb/compact.h"
#include "engine/tsdb/merge.h"
#include "tests/unit/engine/tsdb/test_block_util.h"

#define H (3600 * 1000LL)

static char root[PATH_MAX];
static char blocks[PATH_MAX + 16];

static int setup(void **state)
{
    (void)state;
    char shard[PATH_MAX + 8];
    tb_tmpdir(root, sizeof root);
    snprintf(shard, sizeof shard, "%s/shard", root);
    snprintf(blocks, sizeof blocks, "%s/shard/blocks", root);
    mkdir(shard, 0755);
    mkdir(blocks, 0755);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    block_remove_dir(root);
    return 0;
}

/* ---- planning ----------------------------------------------------------------------------------
 */

static void test_ranges(void **state)
{
    (void)state;
    int64_t r[COMPACT_RANGES_MAX];
    size_t n = compact_ranges(2 * H, compact_max_range(15 * 24 * H), r, COMPACT_RANGES_MAX);
    /* 15d retention: max range 36h -> 2h, 6h, 18h */
    assert_int_equal(n, 3);
    assert_int_equal(r[0], 2 * H);
    assert_int_equal(r[1], 6 * H);
    assert_int_equal(r[2], 18 * H);
    assert_int_equal(compact_max_range(15 * 24 * H), 36 * H);
    assert_int_equal(compact_max_range(3650 * 24 * H), COMPACT_MAX_RANGE_CAP_MS);
    assert_int_equal(compact_max_range(-1), COMPACT_MAX_RANGE_CAP_MS);
    assert_int_equal(compact_max_range(H), COMPACT_MIN_RANGE_MS);
    n = compact_ranges(2 * H, COMPACT_MAX_RANGE_CAP_MS, r, COMPACT_RANGES_MAX);
    assert_int_equal(n, 6); /* 2h 6h 18h 54h 162h 486h; 1458h > 31d */
    assert_int_equal(r[5], 486 * H);
    assert_int_equal(compact_ranges(2 * H, H, r, COMPACT_RANGES_MAX), 1);
}

struct pcase {
    int64_t b[8][2];
    size_t n;
    size_t want[8];
    size_t n_want;
};

static void test_plan_cases(void **state)
{
    (void)state;
    const int64_t rs[] = {20, 60, 240, 720};
    const struct pcase cases[] = {
        {{{0, 20}}, 1, {0}, 0},
        /* the newest is left out; two blocks do not fill 60 nor end before it */
        {{{0, 20}, {20, 40}, {40, 60}}, 3, {0}, 0},
        {{{0, 20}, {20, 40}, {40, 60}, {60, 80}}, 4, {0, 1, 2}, 3},
        /* a gap: 0-20 and 40-60 fill the window [0, 60) */
        {{{0, 20}, {40, 60}, {60, 80}, {80, 100}}, 4, {0, 1}, 2},
        /* a group that ends before the newest remaining block starts */
        {{{0, 20}, {20, 40}, {60, 80}, {80, 100}}, 4, {0, 1}, 2},
        /* an already compacted block is skipped at its level; the next 3 fill [60, 120) */
        {{{0, 60}, {60, 80}, {80, 100}, {100, 120}, {120, 140}}, 5, {1, 2, 3}, 3},
        /* level 2: four 60-blocks fill 240 */
        {{{0, 60}, {60, 120}, {120, 180}, {180, 240}, {240, 260}}, 5, {0, 1, 2, 3}, 4},
        /* overlaps first, whatever their sizes */
        {{{0, 20}, {10, 30}, {40, 60}}, 3, {0, 1}, 2},
        {{{0, 20}, {20, 40}, {30, 50}, {45, 60}, {80, 100}}, 5, {1, 2, 3}, 3},
        {{{0, 100}, {10, 20}, {30, 40}}, 3, {0, 1, 2}, 3},
        /* negative times align downwards */
        {{{-40, -20}, {-20, 0}, {0, 20}, {20, 40}}, 4, {0, 1}, 2},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        struct compact_plan_block pb[8];
        size_t out[8];
        for (size_t i = 0; i < cases[c].n; i++)
            pb[i] = (struct compact_plan_block){cases[c].b[i][0], cases[c].b[i][1]};
        size_t k = compact_plan(pb, cases[c].n, rs, 4, out);
        if (k != cases[c].n_want)
            fail_msg("case %zu: planned %zu blocks, want %zu", c, k, cases[c].n_want);
        for (size_t i = 0; i < k; i++)
            assert_int_equal(out[i], cases[c].want[i]);
    }
    /* with one range nothing but overlaps is compacted */
    struct compact_plan_block pb[] = {{0, 20}, {20, 40}, {40, 60}, {60, 80}};
    size_t out[4];
    assert_int_equal(compact_plan(pb, 4, rs, 1, out), 0);
}

/* ---- execution ---------------------------------------------------------------------------------
 */

static void write_block(struct tb_data *d, int64_t mint, int64_t maxt, char *name_out)
{
    struct blockindex_meta meta;
    char path[PATH_MAX];
    assert_int_equal(tb_write(blocks, d, mint, maxt, NULL, &meta, path, sizeof path), 0);
    blockindex_ulid_format(&meta.ulid, name_out);
    blockindex_meta_deinit(&meta);
}

/* n series "s=<i>" with 15 s samples over [t0, t0 + span) */
static void data_range(struct tb_data *d, int n, int64_t t0, int64_t span, uint64_t seed)
{
    memset(d, 0, sizeof *d);
    char spec[64];
    for (int i = 0; i < n; i++) {
        snprintf(spec, sizeof spec, "__name__=m,s=%03d", i);
        tb_samples(tb_add(d, spec), t0 + i, 15000, (size_t)(span / 15000), 120, seed + (uint64_t)i);
    }
    tb_sort(d);
}

static struct chunk_series_set *select_all(struct compact_dir *d)
{
    size_t n;
    struct block *const *bs = compact_dir_blocks(d, &n);
    struct chunk_series_set **sets = calloc(n + 1, sizeof *sets);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(block_select(bs[i], NULL, 0, INT64_MIN, INT64_MAX, &sets[i]), 0);
    struct chunk_series_set *m;
    assert_int_equal(merge_set_create(sets, n, 0, &m), 0);
    free(sets);
    return m;
}

static void test_compact_levels(void **state)
{
    (void)state;
    struct compact_dir d;
    assert_int_equal(compact_dir_open(&d, blocks, NULL), 0);
    struct tb_data data[4];
    char names[4][32];
    for (int i = 0; i < 4; i++) {
        data_range(&data[i], 30, i * 2 * H, 2 * H, (uint64_t)i * 1000);
        write_block(&data[i], i * 2 * H, (i + 1) * 2 * H, names[i]);
        assert_int_equal(compact_dir_add(&d, names[i]), 0);
    }
    assert_int_equal(compact_dir_compact(&d), 0);
    size_t n;
    struct block *const *bs = compact_dir_blocks(&d, &n);
    assert_int_equal(n, 2);
    const struct blockindex_meta *m = block_meta(bs[0]);
    assert_int_equal(m->level, 2);
    assert_int_equal(m->min_time_ms, 0);
    assert_int_equal(m->max_time_ms, 6 * H);
    assert_int_equal(m->n_sources, 3);
    assert_int_equal(m->num_series, 30);
    assert_int_equal(m->num_samples, 30 * 3 * 480);
    assert_int_equal(block_meta(bs[1])->level, 1);
    assert_int_equal(block_verify(bs[0], NULL), 0);
    for (int i = 0; i < 3; i++) {
        char p[PATH_MAX + 160];
        snprintf(p, sizeof p, "%s/%s", blocks, names[i]);
        assert_int_equal(tb_count_entries(p), -1);
    }
    /* every sample of every input, once, in order */
    struct chunk_series_set *all = select_all(&d);
    struct tb_data got;
    assert_int_equal(tb_collect(all, &got), 0);
    chunk_series_set_close(all);
    assert_int_equal(got.n, 30);
    for (size_t s = 0; s < 30; s++) {
        assert_int_equal(got.s[s].n, 4 * 480);
        size_t k = 0;
        for (int i = 0; i < 4; i++) {
            assert_memory_equal(got.s[s].ts + k, data[i].s[s].ts, 480 * 8);
            assert_memory_equal(got.s[s].v + k, data[i].s[s].v, 480 * 8);
            k += 480;
        }
    }
    tb_free(&got);
    for (int i = 0; i < 4; i++)
        tb_free(&data[i]);
    compact_dir_close(&d);
    /* reopening finds the same two blocks */
    assert_int_equal(compact_dir_open(&d, blocks, NULL), 0);
    compact_dir_blocks(&d, &n);
    assert_int_equal(n, 2);
    compact_dir_close(&d);
}

/* Out-of-order data: a second block overlapping the first; compaction yields one block whose
 * chunks never overlap, with every sample once and the earlier block winning equal timestamps. */
static void test_compact_ooo_overlap(void **state)
{
    (void)state;
    struct tb_data a = {0}, b = {0};
    struct tb_series *sa = tb_add(&a, "__name__=m,s=1");
    tb_samples(sa, 0, 15000, 480, 120, 1); /* [0, 2h) */
    struct tb_series *sa2 = tb_add(&a, "__name__=m,s=2");
    tb_samples(sa2, 0, 60000, 100, 100, 2);
    tb_sort(&a);
    /* late samples for s=1: every 7.5 s in [1h, 2h30m), half on existing timestamps with other
     * values, and a series only the second block has */
    struct tb_series *sb = tb_add(&b, "__name__=m,s=1");
    int64_t ts[1200];
    uint64_t v[1200];
    size_t n = 0;
    for (int64_t t = H; t < 2 * H + H / 2; t += 7500) {
        ts[n] = t;
        v[n++] = 0x4000000000000000ull + (uint64_t)t;
    }
    for (size_t i = 0; i < n; i += 120)
        tb_chunk(sb, ts + i, v + i, n - i < 120 ? n - i : 120);
    tb_samples(tb_add(&b, "__name__=m,s=3"), H, 30000, 50, 50, 3);
    tb_sort(&b);
    char na[32], nb[32];
    write_block(&a, 0, 2 * H, na);
    write_block(&b, H, 3 * H, nb);
    struct compact_dir d;
    assert_int_equal(compact_dir_open(&d, blocks, NULL), 0);
    size_t nblocks;
    compact_dir_blocks(&d, &nblocks);
    assert_int_equal(nblocks, 2);
    assert_int_equal(compact_dir_compact(&d), 0);
    struct block *const *bs = compact_dir_blocks(&d, &nblocks);
    assert_int_equal(nblocks, 1);
    assert_int_equal(block_meta(bs[0])->min_time_ms, 0);
    assert_int_equal(block_meta(bs[0])->max_time_ms, 3 * H);
    assert_int_equal(block_verify(bs[0], NULL), 0);
    struct chunk_series_set *set;
    assert_int_equal(block_select(bs[0], NULL, 0, INT64_MIN, INT64_MAX, &set), 0);
    struct tb_data got;
    assert_int_equal(tb_collect(set, &got), 0);
    chunk_series_set_close(set);
    assert_int_equal(got.n, 3);
    /* s=1: a's 480 samples (winning equal timestamps) + b's samples at odd 7.5 s steps and the
     * ones after 2h */
    const struct tb_series *g = &got.s[0];
    for (size_t i = 0; i < g->n_chunks; i++) {
        assert_true(g->chunks[i].samples <= MERGE_CHUNK_SAMPLES);
        if (i)
            assert_true(g->chunks[i].mint_ms > g->chunks[i - 1].maxt_ms);
    }
    size_t want = 480 + 240 + 240; /* a; b's odd 7.5 s steps in [1h, 2h); b's [2h, 2h30m) */
    assert_int_equal(g->n, want);
    uint64_t total = 0;
    for (size_t i = 0; i < g->n_chunks; i++)
        total += g->chunks[i].samples;
    assert_int_equal(total, want);
    size_t ai = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (i)
            assert_true(g->ts[i] > g->ts[i - 1]);
        if (g->ts[i] % 15000 == 0 && g->ts[i] < 2 * H) {
            assert_int_equal(g->ts[i], sa->ts[ai]);
            assert_int_equal(g->v[i], sa->v[ai]); /* the first block wins */
            ai++;
        } else {
            assert_int_equal(g->v[i], 0x4000000000000000ull + (uint64_t)g->ts[i]);
        }
    }
    assert_int_equal(ai, 480);
    assert_int_equal(got.s[1].n, 100);
    assert_int_equal(got.s[2].n, 50);
    tb_free(&got);
    tb_free(&a);
    tb_free(&b);
    compact_dir_close(&d);
}

static void make_dir(const char *name, bool with_file)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", blocks, name);
    assert_int_equal(mkdir(p, 0755), 0);
    if (with_file) {
        strcat(p, "/junk");
        FILE *f = fopen(p, "w");
        fputs("junk", f);
        fclose(f);
    }
}

/* A crash after a compaction wrote its block but before it deleted the inputs, plus leftovers
 * of interrupted writes and deletions. */
static void test_crash_leftovers(void **state)
{
    (void)state;
    mkdir(blocks, 0755);
    struct tb_data d1, d2;
    char n1[32], n2[32];
    data_range(&d1, 5, 0, 2 * H, 1);
    data_range(&d2, 5, 2 * H, 2 * H, 2);
    write_block(&d1, 0, 2 * H, n1);
    write_block(&d2, 2 * H, 4 * H, n2);
    struct block *in[2];
    char p1[PATH_MAX + 64], p2[PATH_MAX + 64];
    snprintf(p1, sizeof p1, "%s/%s", blocks, n1);
    snprintf(p2, sizeof p2, "%s/%s", blocks, n2);
    assert_int_equal(block_open(p1, &in[0], NULL), 0);
    assert_int_equal(block_open(p2, &in[1], NULL), 0);
    struct blockindex_meta m;
    blockindex_meta_init(&m);
    assert_int_equal(compact_blocks(blocks, in, 2, &m), 0);
    block_unref(in[0]);
    block_unref(in[1]);
    make_dir("01ARZ3NDEKTSV4RRFFQ69G5FAV.tmp", true);
    make_dir("01BX5ZZKBKACTAV9WEVGEMMVRZ.tmp-for-deletion", true);
    make_dir("lost+found", false);
    assert_int_equal(tb_count_entries(blocks), 6);
    struct compact_dir d;
    assert_int_equal(compact_dir_open(&d, blocks, NULL), 0);
    size_t n;
    struct block *const *bs = compact_dir_blocks(&d, &n);
    assert_int_equal(n, 1);
    assert_int_equal(blockindex_ulid_cmp(&block_meta(bs[0])->ulid, &m.ulid), 0);
    assert_int_equal(tb_count_entries(blocks), 2); /* the new block and lost+found */
    compact_dir_close(&d);
    blockindex_meta_deinit(&m);
    tb_free(&d1);
    tb_free(&d2);
}

static void test_retention(void **state)
{
    (void)state;
    struct tb_data d[5];
    char names[5][32];
    for (int i = 0; i < 5; i++) {
        data_range(&d[i], 10 + 10 * i, i * 24 * H, 2 * H, (uint64_t)i);
        write_block(&d[i], i * 24 * H, i * 24 * H + 2 * H, names[i]);
    }
    struct compact_opts o = {.retention_ms = 3 * 24 * H};
    struct compact_dir c;
    assert_int_equal(compact_dir_open(&c, blocks, &o), 0);
    size_t gone, n;
    /* now = day 4 + 2h: cutoff day 1 + 2h -> blocks 0 and 1 (maxt <= cutoff) go */
    assert_int_equal(compact_dir_retention(&c, 4 * 24 * H + 2 * H, 0, &gone), 0);
    assert_int_equal(gone, 2);
    struct block *const *bs = compact_dir_blocks(&c, &n);
    assert_int_equal(n, 3);
    assert_int_equal(block_meta(bs[0])->min_time_ms, 2 * 24 * H);
    /* size: keep the newest blocks whose sizes (plus other bytes) fit */
    uint64_t s3 = block_size_bytes(bs[1]), s4 = block_size_bytes(bs[2]);
    compact_dir_close(&c);
    o.retention_bytes = s3 + s4 + 100;
    assert_int_equal(compact_dir_open(&c, blocks, &o), 0);
    assert_int_equal(compact_dir_retention(&c, 0, 0, &gone), 0);
    assert_int_equal(gone, 1);
    bs = compact_dir_blocks(&c, &n);
    assert_int_equal(n, 2);
    assert_int_equal(block_meta(bs[0])->min_time_ms, 3 * 24 * H);
    /* other bytes (head, WAL) count too: now only the newest fits */
    assert_int_equal(compact_dir_retention(&c, 0, 200, &gone), 0);
    assert_int_equal(gone, 1);
    bs = compact_dir_blocks(&c, &n);
    assert_int_equal(n, 1);
    assert_int_equal(block_meta(bs[0])->min_time_ms, 4 * 24 * H);
    compact_dir_close(&c);
    assert_int_equal(tb_count_entries(blocks), 1);
    for (int i = 0; i < 5; i++)
        tb_free(&d[i]);
}

static void flip(const char *block, const char *file, uint64_t off)
{
    char p[PATH_MAX + 128];
    snprintf(p, sizeof p, "%s/%s/%s", blocks, block, file);
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    uint8_t c;
    assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
    c ^= 1;
    assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
    close(fd);
}

static void test_quarantine(void **state)
{
    (void)state;
    struct tb_data d[4];
    char names[4][32];
    for (int i = 0; i < 4; i++) {
        data_range(&d[i], 8, i * 2 * H, 2 * H, (uint64_t)i);
        write_block(&d[i], i * 2 * H, (i + 1) * 2 * H, names[i]);
    }
    flip(names[0], "index", 12);         /* symbols: caught on open */
    flip(names[1], "chunks/000001", 40); /* a chunk: caught by verification or when read */
    struct compact_dir c;
    struct compact_opts o = {.verify_on_open = true};
    assert_int_equal(compact_dir_open(&c, blocks, &o), 0);
    size_t n;
    compact_dir_blocks(&c, &n);
    assert_int_equal(n, 2);
    assert_int_equal(c.n_quarantined, 2);
    char q[PATH_MAX + 64];
    snprintf(q, sizeof q, "%s/shard/quarantine", root);
    assert_int_equal(tb_count_entries(q), 2);
    compact_dir_close(&c);

    /* corruption met during a compaction: the input is quarantined, the rest compacts later */
    for (int i = 0; i < 4; i++)
        tb_free(&d[i]);
    block_remove_dir(blocks);
    block_remove_dir(q);
    mkdir(blocks, 0755);
    for (int i = 0; i < 4; i++) {
        data_range(&d[i], 8, i * 2 * H, 2 * H, (uint64_t)i);
        write_block(&d[i], i * 2 * H, (i + 1) * 2 * H, names[i]);
    }
    flip(names[1], "chunks/000001", 40);
    assert_int_equal(compact_dir_open(&c, blocks, NULL), 0);
    bool did;
    assert_int_equal(compact_dir_compact_once(&c, &did), ERR_CORRUPT);
    assert_true(did);
    compact_dir_blocks(&c, &n);
    assert_int_equal(n, 3);
    assert_int_equal(tb_count_entries(q), 1);
    assert_int_equal(compact_dir_compact(&c), 0);
    struct block *const *bs = compact_dir_blocks(&c, &n);
    assert_int_equal(n, 2); /* 0 and 2 fill the window [0, 6h) (with a gap); 3 is the newest */
    assert_int_equal(block_meta(bs[0])->level, 2);
    assert_int_equal(block_meta(bs[0])->n_sources, 2);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(block_verify(bs[i], NULL), 0);
    compact_dir_close(&c);
    for (int i = 0; i < 4; i++)
        tb_free(&d[i]);
}

/* Overlapping non-XOR chunks cannot be merged: the compaction fails once, then those blocks are
 * left out of planning instead of failing every time. */
static void test_failed_compaction_not_retried(void **state)
{
    (void)state;
    struct tb_data a = {0}, b = {0};
    tb_samples(tb_add(&a, "__name__=h"), 0, 15000, 100, 100, 1);
    tb_samples(tb_add(&b, "__name__=h"), 60000, 15000, 100, 100, 2);
    /* overlapping chunks of an encoding the metrics merge cannot re-encode (histogram chunks
     * are passed through instead, see test_merge) */
    a.s[0].chunks[0].encoding = CHUNK_LOG;
    b.s[0].chunks[0].encoding = CHUNK_LOG;
    char na[32], nb[32];
    write_block(&a, 0, 2 * H, na);
    write_block(&b, 0, 2 * H, nb);
    struct compact_dir d;
    assert_int_equal(compact_dir_open(&d, blocks, NULL), 0);
    assert_int_equal(compact_dir_compact(&d), ERR_UNSUPPORTED);
    assert_int_equal(compact_dir_compact(&d), 0);
    size_t n;
    compact_dir_blocks(&d, &n);
    assert_int_equal(n, 2);
    assert_int_equal(tb_count_entries(blocks), 2); /* nothing half-written left behind */
    compact_dir_close(&d);
    tb_free(&a);
    tb_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_plan_cases),
        cmocka_unit_test_setup_teardown(test_compact_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compact_ooo_overlap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quarantine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_compaction_not_retried, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
