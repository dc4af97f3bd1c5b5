/* engine/logs/logstore maintenance with a 1-minute block range and a fake clock: head cuts into
 * blocks (data readable across the head/block boundary in both directions, after restarts too,
 * min valid time enforced), compaction, retention by age and per stream selector (blocks
 * rewritten without the expired streams), a select kept open across a cut while the shard keeps
 * appending, idle writers finished, and the statistics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/logs/logblock.h"
#include "engine/tsdb/block.h"
#include "formats/logchunk.h"
#include "test_logstore_util.h"

#define T0     (1700000040LL * LT_SEC_NS) /* a multiple of a minute */
#define MIN_MS 60000LL

static void cut_cfg(struct logstore_config *c)
{
    c->block_range_ms = MIN_MS;
    c->ooo_window_ms = 20 * 1000;
    c->chunk_target_bytes = 4096;
    c->head_block_bytes = 1024;
    c->block_chunk_bytes = 2048;
    c->wal.segment_size_bytes = 64 * 1024;
}

/* Appends streams [0, n) second by second over [t0, t1), ticking with the data time. */
static void feed(struct lt *x, uint32_t n, int64_t t0, int64_t t1)
{
    for (int64_t ts = t0; ts < t1; ts += LT_SEC_NS) {
        for (uint32_t k = 0; k < n; k++) {
            struct logstore_append_result r = lt_append(x, k, &ts, 1);
            assert_int_equal(r.accepted, 1);
        }
        logstore_tick(x->ls, ts / 1000000);
    }
}

static void test_cut(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, cut_cfg);
    feed(&x, 4, T0, T0 + 6 * LT_MIN_NS);
    lt_settle(&x, (T0 + 6 * LT_MIN_NS) / 1000000);
    struct logstore_stats st;
    logstore_stats_get(x.ls, &st);
    assert_true(st.cuts_total >= 4);
    assert_true(st.checkpoints_total >= 3);
    assert_true(st.blocks >= 1);
    assert_int_equal(st.cut_failures_total, 0);
    assert_true(st.block_raw_bytes_written_total > 0);
    assert_true(st.head_min_valid_ms >= (T0 + 4 * LT_MIN_NS) / 1000000);
    assert_true(st.blocks_entries > 0);
    for (uint32_t k = 0; k < 4; k++)
        lt_check_range(x.ls, k, T0, T0 + 6 * LT_MIN_NS, LT_SEC_NS);
    /* across a boundary only */
    lt_check_range(x.ls, 2, T0 + 50 * LT_SEC_NS, T0 + 70 * LT_SEC_NS, LT_SEC_NS);
    /* before the min valid time: too far behind */
    int64_t old = T0 + 30 * LT_SEC_NS + 1;
    struct logstore_append_result r = lt_append(&x, 0, &old, 1);
    assert_int_equal(r.rejected[LOGSTORE_REJECT_TOO_FAR_BEHIND], 1);
    assert_non_null(strstr(r.reason, "oldest acceptable timestamp"));
    for (int round = 0; round < 2; round++) {
        lt_reopen(&x);
        for (uint32_t k = 0; k < 4; k++)
            lt_check_range(x.ls, k, T0, T0 + 6 * LT_MIN_NS, LT_SEC_NS);
        r = lt_append(&x, 0, &old, 1);
        assert_int_equal(r.rejected[LOGSTORE_REJECT_TOO_FAR_BEHIND], 1);
    }
    /* series and stats see the blocks */
    struct matcher m;
    lt_matcher(&m, MATCHER_EQ, "k", "1");
    struct logstore_index_stats is;
    assert_int_equal(logstore_index_stats(x.ls, &m, 1, T0, T0 + 6 * LT_MIN_NS, &is), 0);
    assert_int_equal(is.streams, 1);
    assert_int_equal(is.entries, 360);
    assert_true(is.chunks >= 6);
    struct logstore_strings s;
    assert_int_equal(logstore_label_values(x.ls, STR_LIT("app"), &m, 1, T0, T0 + LT_MIN_NS, &s), 0);
    assert_int_equal(s.n, 1);
    assert_true(str_eq_cstr(s.v[0], "a1"));
    logstore_strings_free(&s);
    matcher_deinit(&m);
    lt_teardown(&x);
}

static void compact_cfg(struct logstore_config *c)
{
    cut_cfg(c);
    c->max_block_range_ms = 9 * MIN_MS;
}

static void test_compaction(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, compact_cfg);
    feed(&x, 3, T0, T0 + 12 * LT_MIN_NS);
    lt_settle(&x, (T0 + 12 * LT_MIN_NS) / 1000000);
    struct logstore_stats st;
    logstore_stats_get(x.ls, &st);
    assert_true(st.compactions_total >= 1);
    assert_int_equal(st.compaction_failures_total, 0);
    assert_true(st.blocks < st.cuts_total); /* some blocks were merged */
    for (uint32_t k = 0; k < 3; k++)
        lt_check_range(x.ls, k, T0, T0 + 12 * LT_MIN_NS, LT_SEC_NS);
    lt_reopen(&x);
    for (uint32_t k = 0; k < 3; k++)
        lt_check_range(x.ls, k, T0, T0 + 12 * LT_MIN_NS, LT_SEC_NS);
    lt_teardown(&x);
}

static struct matcher rule_ms[2];
static struct logstore_retention_rule rules[2];

static void retention_cfg(struct logstore_config *c)
{
    cut_cfg(c);
    c->retention_ms = 10 * MIN_MS;
    lt_matcher(&rule_ms[0], MATCHER_EQ, "app", "a0");
    lt_matcher(&rule_ms[1], MATCHER_EQ, "app", "a1");
    rules[0] = (struct logstore_retention_rule){&rule_ms[0], 1, 0, 2 * MIN_MS};
    rules[1] = (struct logstore_retention_rule){&rule_ms[1], 1, 0, 20 * MIN_MS};
    c->retention_rules = rules;
    c->n_retention_rules = 2;
    c->retention_interval_ms = 1000;
}

static long count(struct lt *x, long k, int64_t start, int64_t end)
{
    static struct lt_ent e[4000];
    return lt_read(x->ls, k, start, end, LOGSTORE_FORWARD, e, 4000);
}

static void test_retention(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, retention_cfg);
    /* streams 0 (a0: 2 min), 1 (a1: 20 min), 2 (a2: default 10 min) */
    feed(&x, 3, T0, T0 + 6 * LT_MIN_NS);
    int64_t now = (T0 + 6 * LT_MIN_NS) / 1000000;
    lt_settle(&x, now);
    /* the clock followed the data: a0 chunks that ended before now - 2 min are gone already */
    struct logstore_stats st;
    logstore_stats_get(x.ls, &st);
    assert_true(st.retention_blocks_rewritten_total >= 1);
    assert_true(st.retention_chunks_dropped_total >= 1);
    assert_int_equal(count(&x, 0, T0, T0 + 3 * LT_MIN_NS), 0);
    lt_check_range(x.ls, 0, T0 + 5 * LT_MIN_NS, T0 + 6 * LT_MIN_NS, LT_SEC_NS);
    for (uint32_t k = 1; k < 3; k++)
        lt_check_range(x.ls, k, T0, T0 + 6 * LT_MIN_NS, LT_SEC_NS);
    /* two minutes later: still nothing old of a0, the others intact */
    now += 2 * MIN_MS;
    lt_settle(&x, now);
    assert_int_equal(count(&x, 0, T0, T0 + 3 * LT_MIN_NS), 0);
    lt_check_range(x.ls, 1, T0, T0 + 6 * LT_MIN_NS, LT_SEC_NS);
    lt_check_range(x.ls, 2, T0, T0 + 6 * LT_MIN_NS, LT_SEC_NS);
    /* the rewrites survive a restart */
    lt_reopen(&x);
    assert_int_equal(count(&x, 0, T0, T0 + 3 * LT_MIN_NS), 0);
    lt_check_range(x.ls, 1, T0, T0 + 6 * LT_MIN_NS, LT_SEC_NS);
    /* at T0 + 21 min: the default retention (10 min) dropped a2's first minutes, and a1 (20 min)
     * lost exactly its first minute (chunks never span a block range) */
    now = (T0 + 6 * LT_MIN_NS) / 1000000 + 15 * MIN_MS;
    lt_settle(&x, now);
    assert_int_equal(count(&x, 2, T0, T0 + 3 * LT_MIN_NS), 0);
    assert_int_equal(count(&x, 1, T0, T0 + LT_MIN_NS), 0);
    lt_check_range(x.ls, 1, T0 + LT_MIN_NS, T0 + 3 * LT_MIN_NS, LT_SEC_NS);
    /* past every retention: whole blocks deleted */
    now = (T0 + 6 * LT_MIN_NS) / 1000000 + 30 * MIN_MS;
    lt_settle(&x, now);
    logstore_stats_get(x.ls, &st);
    assert_true(st.retention_blocks_deleted_total >= 1);
    assert_int_equal(count(&x, 1, T0, T0 + 3 * LT_MIN_NS), 0);
    lt_teardown(&x);
    matcher_deinit(&rule_ms[0]);
    matcher_deinit(&rule_ms[1]);
}

/* A select open across cuts (the truncation waits for it) while the shard keeps appending and
 * ticking: three appended seconds per entry read, so head ranges are cut into blocks the select
 * did not pick up while it still reads them from the head. */
static void read_while_feeding(struct lt *x, enum logstore_dir dir, int64_t end, int64_t fed,
                               int64_t fed_end, long want)
{
    struct matcher m;
    lt_matcher(&m, MATCHER_EQ, "k", "0");
    struct logstore_iter *it;
    assert_int_equal(logstore_select(x->ls, &m, 1, T0, end, dir, NULL, &it), 0);
    long seen = 0;
    int64_t last = dir ? INT64_MAX : INT64_MIN;
    while (logstore_iter_next(it) == 1) {
        const struct logstore_entry *e = logstore_iter_at(it);
        assert_true(dir ? e->ts_ns < last : e->ts_ns > last);
        last = e->ts_ns;
        char line[128];
        lt_line(line, sizeof line, 0, e->ts_ns);
        assert_true(str_eq_cstr(e->line, line));
        seen++;
        if (fed < fed_end) {
            feed(x, 2, fed, fed + 3 * LT_SEC_NS);
            fed += 3 * LT_SEC_NS;
        }
    }
    assert_int_equal(logstore_iter_err(it), 0);
    assert_int_equal(seen, want);
    logstore_iter_close(it);
    matcher_deinit(&m);
    lt_settle(x, fed / 1000000);
}

static void test_select_during_cut(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, cut_cfg);
    feed(&x, 2, T0, T0 + 30 * LT_SEC_NS);
    /* forward: sees what is appended ahead of it */
    read_while_feeding(&x, LOGSTORE_FORWARD, T0 + 300 * LT_SEC_NS, T0 + 30 * LT_SEC_NS,
                       T0 + 300 * LT_SEC_NS, 300);
    struct logstore_stats st;
    logstore_stats_get(x.ls, &st);
    assert_true(st.cuts_total >= 2);
    /* backward over a settled range while newer data keeps coming */
    read_while_feeding(&x, LOGSTORE_BACKWARD, T0 + 300 * LT_SEC_NS, T0 + 300 * LT_SEC_NS,
                       T0 + 600 * LT_SEC_NS, 300);
    lt_check_range(x.ls, 0, T0, T0 + 600 * LT_SEC_NS, LT_SEC_NS);
    lt_teardown(&x);
}

/* Large LOG_ENTRIES records next to LOG_STREAMS records: the WAL checkpoint filters both kinds
 * in one pass over the segments (a regression test for its shared item buffer). */
static void test_checkpoint_large_records(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, cut_cfg);
    for (int64_t t = T0; t < T0 + 4 * LT_MIN_NS; t += 20 * LT_SEC_NS) {
        int64_t ts[200];
        for (int i = 0; i < 200; i++)
            ts[i] = t + i * (LT_SEC_NS / 10);
        for (uint32_t k = 0; k < 3; k++) {
            struct logstore_append_result r =
                lt_append(&x, k + (uint32_t)((t - T0) / LT_MIN_NS) * 3, ts, 200);
            assert_int_equal(r.accepted, 200);
        }
        logstore_tick(x.ls, (t + 20 * LT_SEC_NS) / 1000000);
    }
    lt_settle(&x, (T0 + 4 * LT_MIN_NS) / 1000000);
    struct logstore_stats st;
    logstore_stats_get(x.ls, &st);
    assert_true(st.checkpoints_total >= 2);
    assert_int_equal(st.checkpoint_failures_total, 0);
    lt_reopen(&x);
    for (uint32_t k = 9; k < 12; k++)
        lt_check_range(x.ls, k, T0 + 3 * LT_MIN_NS, T0 + 4 * LT_MIN_NS, LT_SEC_NS / 10);
    lt_teardown(&x);
}

static void bounded_cfg(struct logstore_config *c)
{
    cut_cfg(c);
    c->select_open_chunks_max = 3;
}

/* More overlapping block chunks than a select may hold decompressed: chunks are released and
 * reopened at their position; the merged result is unchanged. */
static void test_select_bounded(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, bounded_cfg);
    feed(&x, 8, T0, T0 + 6 * LT_MIN_NS);
    lt_settle(&x, (T0 + 6 * LT_MIN_NS) / 1000000);
    for (int dir = 0; dir < 2; dir++) {
        struct matcher m;
        lt_matcher(&m, MATCHER_RE, "k", ".+");
        struct logstore_iter *it;
        assert_int_equal(logstore_select(x.ls, &m, 1, T0, T0 + 6 * LT_MIN_NS, dir, NULL, &it), 0);
        long n = 0;
        int64_t count[8] = {0};
        while (logstore_iter_next(it) == 1) {
            const struct logstore_entry *e = logstore_iter_at(it);
            uint32_t k = lt_entry_k(e);
            assert_true(k < 8);
            /* per stream: every second, in order */
            int64_t want = dir ? T0 + (359 - count[k]) * LT_SEC_NS : T0 + count[k] * LT_SEC_NS;
            assert_int_equal(e->ts_ns, want);
            char line[128];
            lt_line(line, sizeof line, k, e->ts_ns);
            assert_true(str_eq_cstr(e->line, line));
            count[k]++;
            n++;
        }
        assert_int_equal(logstore_iter_err(it), 0);
        assert_int_equal(n, 8 * 360);
        struct logstore_select_stats ss;
        logstore_iter_stats(it, &ss);
        assert_true(ss.chunks_parked > 0);
        assert_true(ss.chunks_opened > ss.chunks);
        logstore_iter_close(it);
        matcher_deinit(&m);
    }
    lt_teardown(&x);
}

/* ---- blocks written by hand: two overlapping blocks holding the same entries ---- */

struct one_set {
    struct chunk_series_set base;
    struct chunk_series cs;
    bool done;
};

static int one_next(struct chunk_series_set *s)
{
    struct one_set *o = (struct one_set *)s;
    if (o->done)
        return 0;
    o->done = true;
    return 1;
}

static const struct chunk_series *one_at(struct chunk_series_set *s)
{
    return &((struct one_set *)s)->cs;
}

static void one_close(struct chunk_series_set *s)
{
    (void)s;
}

static const struct chunk_series_set_ops one_ops = {one_next, one_at, one_close};

/* A block of stream 0 with entries at T0 + i s, i in [from, to), as the cut writes them. */
static void write_block(const char *blocks_dir, int from, int to)
{
    struct logchunk_writer_opts o = {.store_uncompressed = true};
    struct logchunk_writer w;
    logchunk_writer_init(&w, &o);
    struct logblock_enc enc;
    logblock_enc_init(&enc, 3, true);
    uint64_t lines = 0;
    for (int i = from; i < to; i++) {
        char line[128];
        int len = lt_line(line, sizeof line, 0, T0 + i * LT_SEC_NS);
        struct str l = {line, (size_t)len};
        assert_int_equal(logchunk_writer_append(&w, T0 + i * LT_SEC_NS, l, NULL, 0), 0);
        assert_int_equal(logblock_enc_line(&enc, l), 0);
        lines += (uint64_t)len;
    }
    uint8_t *bytes;
    size_t len;
    assert_int_equal(logchunk_writer_finish(&w, &bytes, &len), 0);
    struct buf env = BUF_INIT;
    int64_t mint = T0 + from * LT_SEC_NS, maxt = T0 + (to - 1) * LT_SEC_NS;
    assert_int_equal(
        logblock_enc_finish(&enc, bytes, len, mint, maxt, (uint32_t)(to - from), lines, &env), 0);
    struct lt_stream ls;
    lt_stream_labels(&ls, 0);
    struct chunk_meta cm = {mint / 1000000, maxt / 1000000, (uint32_t)(to - from),
                            CHUNK_LOG,      env.data,       env.len};
    struct one_set set = {{&one_ops, 0}, {ls.l, 3, &cm, 1}, false};
    struct blockindex_meta meta;
    blockindex_meta_init(&meta);
    meta.level = 1;
    assert_int_equal(
        block_write(blocks_dir, &set.base, T0 / 1000000, (T0 + LT_MIN_NS) / 1000000, &meta), 0);
    blockindex_meta_deinit(&meta);
    buf_deinit(&env);
    free(bytes);
    logblock_enc_deinit(&enc);
    logchunk_writer_deinit(&w);
}

/* Overlapping blocks (a compaction that could not merge them): a select returns each entry once,
 * and compaction leaves them as they are. */
static void test_overlapping_blocks(void **state)
{
    (void)state;
    struct lt x;
    memset(&x, 0, sizeof x);
    log_level_set(LOG_ERROR);
    lt_mkdtemp(x.dir, sizeof x.dir);
    char blocks[300];
    snprintf(blocks, sizeof blocks, "%s/blocks", x.dir);
    assert_int_equal(mkdir(blocks, 0755), 0);
    write_block(blocks, 0, 30);
    write_block(blocks, 10, 40);
    assert_int_equal(loop_init(&x.loop, NULL), 0);
    lt_config(&x, &x.cfg);
    cut_cfg(&x.cfg);
    lt_open(&x);
    for (int round = 0; round < 2; round++) {
        lt_check_range(x.ls, 0, T0, T0 + 40 * LT_SEC_NS, LT_SEC_NS);
        struct matcher m;
        lt_matcher(&m, MATCHER_EQ, "k", "0");
        struct logstore_iter *it;
        assert_int_equal(
            logstore_select(x.ls, &m, 1, T0, T0 + LT_MIN_NS, LOGSTORE_BACKWARD, NULL, &it), 0);
        while (logstore_iter_next(it) == 1)
            ;
        struct logstore_select_stats ss;
        logstore_iter_stats(it, &ss);
        assert_int_equal(ss.entries, 40);
        assert_int_equal(ss.duplicates, 20);
        assert_int_equal(ss.chunks, 2);
        logstore_iter_close(it);
        matcher_deinit(&m);
        lt_settle(&x, (T0 + 2 * LT_MIN_NS) / 1000000);
    }
    struct logstore_stats st;
    logstore_stats_get(x.ls, &st);
    assert_int_equal(st.blocks, 2);
    lt_teardown(&x);
}

static void idle_cfg(struct logstore_config *c)
{
    c->chunk_idle_ms = 1000;
}

static void test_idle_finish(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, idle_cfg);
    logstore_tick(x.ls, 1000);
    lt_append_range(&x, 0, 3, T0, T0 + 10 * LT_SEC_NS, LT_SEC_NS);
    struct logstore_stats st;
    logstore_tick(x.ls, 1500);
    logstore_stats_get(x.ls, &st);
    assert_int_equal(st.head_writers, 3);
    assert_int_equal(st.head_chunks, 0);
    logstore_tick(x.ls, 2500);
    logstore_stats_get(x.ls, &st);
    assert_int_equal(st.head_writers, 0);
    assert_int_equal(st.head_chunks, 3);
    assert_int_equal(st.head_entries, 30);
    for (uint32_t k = 0; k < 3; k++)
        lt_check_range(x.ls, k, T0, T0 + 10 * LT_SEC_NS, LT_SEC_NS);
    /* appending again reopens a writer; duplicates of the finished chunk's last block are still
     * caught */
    int64_t t = T0 + 9 * LT_SEC_NS;
    struct logstore_append_result r = lt_append(&x, 1, &t, 1);
    assert_int_equal(r.duplicates, 1);
    lt_append_range(&x, 1, 1, T0 + 10 * LT_SEC_NS, T0 + 20 * LT_SEC_NS, LT_SEC_NS);
    lt_check_range(x.ls, 1, T0, T0 + 20 * LT_SEC_NS, LT_SEC_NS);
    lt_teardown(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_compaction),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_select_during_cut),
        cmocka_unit_test(test_idle_finish),
        cmocka_unit_test(test_checkpoint_large_records),
        cmocka_unit_test(test_overlapping_blocks),
        cmocka_unit_test(test_select_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
