/* engine/tsdb/tsdb maintenance cycle, driven by tsdb_tick with a fake clock: head cuts write
 * blocks, the WAL is checkpointed and the head truncated, and every sample stays queryable across
 * the head/block boundary (also after a restart, which then replays only what the checkpoint
 * kept); samples before the cut are out of bounds; compaction merges blocks; retention by age and
 * by size deletes blocks; a block that a query finds corrupt is quarantined; closing in the middle
 * of a cut (while copying, while the block is written) loses nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/tsdb/tsdb_internal.h"
#include "test_tsdb_util.h"

#define H TT_HOUR_MS

static struct tsdb_config cut_config(void)
{
    struct tsdb_config c;
    tt_config(&c);
    c.chunk_range_ms = H;
    c.max_block_range_ms = 9 * H;
    c.wal.segment_size_bytes = 64 * 1024;
    return c;
}

static void check_all(struct tt *x, uint32_t n_series, int64_t t0, int64_t t1, int64_t step)
{
    for (uint32_t k = 0; k < n_series; k++)
        tt_check_range(x->t, k, t0, t1, step);
}

static struct tsdb_stats stats(struct tt *x)
{
    struct tsdb_stats st;
    tsdb_stats_get(x->t, &st);
    return st;
}

static void test_cut_checkpoint_query(void **state)
{
    (void)state;
    struct tt x;
    struct tsdb_config cfg = cut_config();
    tt_setup(&x, &cfg);
    tt_append_range(&x, 0, 6, 0, 4 * H, TT_MIN_MS);
    assert_int_equal(stats(&x).blocks, 0);
    tt_settle(&x, 4 * H);
    struct tsdb_stats st = stats(&x);
    /* [0,1h), [1h,2h), [2h,3h) were cut (then the first two compacted); the head keeps [3h,4h) */
    assert_int_equal(st.cuts_total, 3);
    assert_int_equal(st.cut_failures_total, 0);
    assert_int_equal(st.checkpoints_total, 3);
    assert_true(st.blocks >= 1);
    assert_int_equal(st.blocks_min_time_ms, 0);
    assert_int_equal(st.blocks_max_time_ms, 3 * H);
    assert_int_equal(st.head.min_time_ms, 3 * H);
    assert_int_equal(st.head.min_valid_time_ms, 3 * H);
    assert_int_equal(st.head.series, 6);
    assert_true(st.last_cut_duration_ns > 0);
    assert_int_equal(st.last_cut_unix_ms, 4 * H);
    char wal[600];
    snprintf(wal, sizeof wal, "%s/wal", x.dir);
    assert_int_equal(tt_count_entries(wal, "checkpoint."), 1);
    check_all(&x, 6, 0, 4 * H, TT_MIN_MS);
    tt_check_range(x.t, 2, 3 * H - 10 * TT_MIN_MS, 3 * H + 10 * TT_MIN_MS, TT_MIN_MS);
    /* the cut moved the min valid time: older samples are out of bounds, even within the OOO
     * window */
    int64_t late = 3 * H - 2 * TT_MIN_MS + 30000;
    struct tsdb_append_result r = tt_append(&x, 1, 1, &late, 1);
    assert_int_equal(r.rejected[TSDB_REJECT_OUT_OF_BOUNDS], 1);
    assert_string_equal(r.reason, "out of bounds for series {__name__=\"tt_metric\", job=\"j1\", "
                                  "k=\"1\"}");
    /* after a restart the replay reads only what the checkpoint kept */
    tt_reopen(&x);
    st = stats(&x);
    assert_int_equal(st.replay_samples, 6 * 60);
    assert_int_equal(st.replay_samples_skipped, 0);
    assert_int_equal(st.replay_series, 6);
    check_all(&x, 6, 0, 4 * H, TT_MIN_MS);
    /* and the cycle goes on after the restart */
    tt_append_range(&x, 0, 6, 4 * H, 6 * H, TT_MIN_MS);
    tt_settle(&x, 6 * H);
    assert_int_equal(stats(&x).cuts_total, 2);
    check_all(&x, 6, 0, 6 * H, TT_MIN_MS);
    tt_teardown(&x);
}

/* Series that stop receiving samples are removed from the head after the cut that takes their
 * last data, and the checkpoint drops them: a restart does not bring them back, yet their data
 * stays in the block. */
static void test_idle_series_gc(void **state)
{
    (void)state;
    struct tt x;
    struct tsdb_config cfg = cut_config();
    tt_setup(&x, &cfg);
    tt_append_range(&x, 0, 10, 0, H, 5 * TT_MIN_MS);    /* 10 series in the first hour */
    tt_append_range(&x, 0, 4, H, 3 * H, 5 * TT_MIN_MS); /* then only 4 */
    tt_settle(&x, 3 * H);
    struct tsdb_stats st = stats(&x);
    assert_int_equal(st.cuts_total, 2); /* [0,1h) and [1h,2h) */
    assert_int_equal(st.head.series, 4);
    assert_int_equal(st.head.series_removed_total, 6);
    check_all(&x, 4, 0, 3 * H, 5 * TT_MIN_MS);
    for (uint32_t k = 4; k < 10; k++)
        tt_check_range(x.t, k, 0, H, 5 * TT_MIN_MS);
    tt_reopen(&x);
    st = stats(&x);
    assert_int_equal(st.replay_series, 4);
    assert_int_equal(st.head.series, 4);
    for (uint32_t k = 4; k < 10; k++)
        tt_check_range(x.t, k, 0, H, 5 * TT_MIN_MS);
    /* new series reuse the freed ids without clashing with the old ones on replay */
    tt_append_range(&x, 100, 8, 3 * H, 3 * H + 10 * TT_MIN_MS, 5 * TT_MIN_MS);
    tt_reopen(&x);
    st = stats(&x);
    assert_int_equal(st.replay_series_conflicts, 0);
    assert_int_equal(st.head.series, 12);
    for (uint32_t k = 100; k < 108; k++)
        tt_check_range(x.t, k, 3 * H, 3 * H + 10 * TT_MIN_MS, 5 * TT_MIN_MS);
    tt_teardown(&x);
}

static size_t max_level(struct tsdb *t)
{
    size_t lvl = 0;
    for (size_t i = 0; i < t->n_blocks; i++)
        if (block_meta(t->blocks[i])->level > lvl)
            lvl = block_meta(t->blocks[i])->level;
    return lvl;
}

static void tick_until_blocks(struct tt *x, int64_t now_ms, uint64_t want)
{
    int64_t deadline = clock_mono_ns() + 10000000000LL;
    while (stats(x).blocks != want) {
        assert_true(clock_mono_ns() < deadline);
        tsdb_tick(x->t, now_ms);
        loop_run_once(&x->loop, 1000000);
    }
    tt_settle(x, now_ms);
}

static void test_compaction_and_retention(void **state)
{
    (void)state;
    struct tt x;
    struct tsdb_config cfg = cut_config();
    cfg.retention_ms = 5 * H;
    tt_setup(&x, &cfg);
    tt_append_range(&x, 0, 3, 0, 10 * H, 5 * TT_MIN_MS);
    /* at "now" = 10 h nothing is older than the retention yet (blocks end after 5 h)... */
    tt_settle(&x, 10 * H + 1);
    struct tsdb_stats st = stats(&x);
    assert_int_equal(st.cuts_total, 9);
    assert_true(st.compactions_total >= 1);
    assert_true(max_level(x.t) >= 2);
    assert_true(st.blocks < 9);
    /* ...but the blocks that end by 5 h are gone */
    assert_true(st.retention_blocks_deleted_total >= 1);
    for (size_t i = 0; i < x.t->n_blocks; i++)
        assert_true(block_meta(x.t->blocks[i])->max_time_ms > 5 * H + 1);
    int64_t from = st.blocks_min_time_ms;
    assert_true(from > 0 && from <= 6 * H);
    check_all(&x, 3, from, 10 * H, 5 * TT_MIN_MS);
    int64_t ts[4];
    uint64_t vs[4];
    assert_int_equal(tt_read_series(x.t, 0, 0, from - 1, ts, vs, 4), -1);
    /* a fake clock far ahead: every block is past the retention; the head stays */
    tick_until_blocks(&x, 40 * H, 0);
    assert_int_equal(stats(&x).blocks_bytes, 0);
    check_all(&x, 3, 9 * H, 10 * H, 5 * TT_MIN_MS);
    char blocks[600];
    snprintf(blocks, sizeof blocks, "%s/blocks", x.dir);
    assert_int_equal(tt_count_entries(blocks, ""), 0);
    tt_teardown(&x);
}

/* Retention deleting every block does not move the head's min valid time back: after a
 * restart, samples before the last cut are still out of bounds, and head chunk file records of a
 * series removed by that cut are not attached to the new series that reused its id. */
static void test_cut_survives_retention(void **state)
{
    (void)state;
    struct tt x;
    struct tsdb_config cfg = cut_config();
    cfg.retention_ms = 10 * H;
    tt_setup(&x, &cfg);
    tt_append_range(&x, 0, 1, 0, H, 5 * TT_MIN_MS);     /* series 0: first hour only */
    tt_append_range(&x, 1, 1, 0, 3 * H, 5 * TT_MIN_MS); /* series 1: three hours */
    tt_settle(&x, 3 * H);
    assert_int_equal(stats(&x).head.series, 1); /* series 0 removed by the cut, id freed */
    tt_append_range(&x, 2, 1, 2 * H + 30 * TT_MIN_MS, 3 * H, 5 * TT_MIN_MS); /* reuses it */
    tick_until_blocks(&x, 100 * H, 0);
    assert_true(tt_exists(x.dir, "chunks_head/floor")); /* the head keeps its last cut */
    tt_reopen(&x);
    struct tsdb_stats st = stats(&x);
    assert_int_equal(st.blocks, 0);
    assert_int_equal(st.head.min_valid_time_ms, 2 * H);
    int64_t ts[64];
    uint64_t vs[64];
    assert_int_equal(tt_read_series(x.t, 2, INT64_MIN, INT64_MAX, ts, vs, 64), 6);
    assert_int_equal(ts[0], 2 * H + 30 * TT_MIN_MS);
    tt_check_range(x.t, 2, 2 * H + 30 * TT_MIN_MS, 3 * H, 5 * TT_MIN_MS);
    tt_check_range(x.t, 1, 2 * H, 3 * H, 5 * TT_MIN_MS);
    int64_t old = 90 * TT_MIN_MS;
    assert_int_equal(tt_append(&x, 1, 1, &old, 1).rejected[TSDB_REJECT_OUT_OF_BOUNDS], 1);
    tt_teardown(&x);
}

static void test_retention_size(void **state)
{
    (void)state;
    struct tt x;
    struct tsdb_config cfg = cut_config();
    tt_setup(&x, &cfg);
    tt_append_range(&x, 0, 3, 0, 5 * H, 5 * TT_MIN_MS);
    tt_settle(&x, 5 * H);
    uint64_t n = stats(&x).blocks;
    assert_true(n >= 1);
    tt_close(&x);
    /* a size limit below what the head and WAL take alone: every block goes */
    x.cfg.retention_bytes = 1;
    tt_open(&x);
    tick_until_blocks(&x, 5 * H, 0);
    assert_true(stats(&x).retention_blocks_deleted_total >= n);
    check_all(&x, 3, 4 * H, 5 * H, 5 * TT_MIN_MS);
    tt_teardown(&x);
}

/* Flips a byte in the middle of the first chunk file of the block holding `t_ms`. */
static void corrupt_block_at(struct tt *x, int64_t t_ms)
{
    const char *dir = NULL;
    for (size_t i = 0; i < x->t->n_blocks; i++) {
        const struct blockindex_meta *m = block_meta(x->t->blocks[i]);
        if (m->min_time_ms <= t_ms && t_ms < m->max_time_ms)
            dir = block_dir(x->t->blocks[i]);
    }
    assert_non_null(dir);
    char p[700];
    snprintf(p, sizeof p, "%s/chunks/000001", dir);
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 64);
    for (long off = 40; off < size - 8; off += 97) { /* many chunks hit: any select finds one */
        assert_int_equal(fseek(f, off, SEEK_SET), 0);
        int c = fgetc(f);
        assert_int_equal(fseek(f, off, SEEK_SET), 0);
        fputc(c ^ 0x5a, f);
    }
    fclose(f);
}

static void test_corrupt_block_quarantined(void **state)
{
    (void)state;
    struct tt x;
    struct tsdb_config cfg = cut_config();
    cfg.max_block_range_ms = H; /* no compaction: one block per hour */
    tt_setup(&x, &cfg);
    tt_append_range(&x, 0, 5, 0, 4 * H, 5 * TT_MIN_MS);
    tt_settle(&x, 4 * H);
    assert_int_equal(stats(&x).blocks, 3);
    corrupt_block_at(&x, H);
    struct matcher m;
    tt_matcher(&m, MATCHER_EQ, "__name__", "tt_metric");
    struct chunk_series_set *set;
    assert_int_equal(querier_select(x.t, &m, 1, H, 2 * H - 1, NULL, &set), 0);
    int rc;
    while ((rc = chunk_series_set_next(set)) == 1)
        ;
    assert_int_equal(rc, ERR_CORRUPT);
    assert_int_equal(chunk_series_set_err(set), ERR_CORRUPT);
    chunk_series_set_close(set);
    matcher_deinit(&m);
    tick_until_blocks(&x, 4 * H, 2);
    assert_int_equal(stats(&x).blocks_quarantined_total, 1);
    char q[600];
    snprintf(q, sizeof q, "%s/quarantine", x.dir);
    assert_int_equal(tt_count_entries(q, ""), 1);
    /* the rest is still served */
    check_all(&x, 5, 0, H, 5 * TT_MIN_MS);
    check_all(&x, 5, 2 * H, 4 * H, 5 * TT_MIN_MS);
    tt_reopen(&x);
    assert_int_equal(stats(&x).blocks, 2);
    tt_teardown(&x);
}

/* Closing while a cut copies series, or while its block is written, loses nothing. */
static void test_close_mid_cut(void **state)
{
    (void)state;
    for (int stop_at = 0; stop_at < 3; stop_at++) {
        struct tt x;
        struct tsdb_config cfg = cut_config();
        cfg.cut_series_per_tick = 3;
        tt_setup(&x, &cfg);
        tt_append_range(&x, 0, 20, 0, 3 * H, 10 * TT_MIN_MS);
        tsdb_tick(x.t, 3 * H); /* starts: compaction check of the (empty) block dir */
        tt_settle(&x, 3 * H);
        int64_t t = 3 * H;
        tt_append_range(&x, 0, 20, t, t + 2 * H, 10 * TT_MIN_MS);
        /* the cut starts and copies 3 series per tick */
        for (int i = 0; i <= stop_at * 4; i++)
            tsdb_tick(x.t, 5 * H);
        if (stop_at < 2) {
            assert_int_equal(x.t->cyc.cut, TSDB_CUT_SNAPSHOT);
        } else {
            assert_int_equal(x.t->cyc.cut, TSDB_CUT_WRITING);
            usleep(200000); /* let the block write finish, but do not take its result */
        }
        tt_reopen(&x);
        check_all(&x, 20, 0, 5 * H, 10 * TT_MIN_MS);
        tt_settle(&x, 5 * H);
        check_all(&x, 20, 0, 5 * H, 10 * TT_MIN_MS);
        tt_reopen(&x);
        check_all(&x, 20, 0, 5 * H, 10 * TT_MIN_MS);
        tt_teardown(&x);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut_checkpoint_query),
        cmocka_unit_test(test_idle_series_gc),
        cmocka_unit_test(test_compaction_and_retention),
        cmocka_unit_test(test_cut_survives_retention),
        cmocka_unit_test(test_retention_size),
        cmocka_unit_test(test_corrupt_block_quarantined),
        cmocka_unit_test(test_close_mid_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
