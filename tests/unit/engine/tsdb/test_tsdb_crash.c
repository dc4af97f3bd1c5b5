/* engine/tsdb/tsdb kill -9 safety: a fork()ed child appends batches (8 series, in-order samples
 * plus an out-of-order one every 7th batch) on its own loop, ticks the maintenance cycle with a
 * 1-minute chunk range (a batch every 100 ms of data time) and 16 KiB WAL segments so head cuts,
 * checkpoints and compactions run all the time, and reports every acknowledged batch through a
 * pipe; the parent SIGKILLs it at a random moment, reopens the shard and finds every acknowledged
 * sample with its exact value (and no sample with a wrong one), lets the cycle settle, and checks
 * again after another restart. 24 rounds, in both fsync modes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_tsdb_util.h"

enum { UNACKED_ROOM = 1 << 18, ROUNDS = 24, SERIES = 8, OOO_EVERY = 7, STEP_MS = 100 };

static struct tsdb_config crash_config(enum wal_fsync mode)
{
    struct tsdb_config c;
    tt_config(&c);
    c.chunk_range_ms = 60 * 1000;
    c.wal.fsync = mode;
    c.wal.segment_size_bytes = 16 * 1024;
    c.cut_series_per_tick = 5;
    c.samples_per_chunk = 30;
    c.chunk_file_size_max = 64 * 1024;
    return c;
}

/* ---- the child ---- */

static int ack_fd = -1;

static void on_ack(void *arg, int result)
{
    uint32_t seq = (uint32_t)(uintptr_t)arg;
    if (result != 0 || write(ack_fd, &seq, sizeof seq) != sizeof seq)
        _exit(3);
}

static void make_batch(uint32_t seq, struct tt_series *ls, struct tsdb_series_in *in,
                       struct tsdb_sample *s)
{
    int64_t ts = (int64_t)seq * STEP_MS;
    size_t per = seq % OOO_EVERY == 0 && seq > 0 ? 2 : 1;
    for (uint32_t k = 0; k < SERIES; k++) {
        tt_series_labels(&ls[k], k);
        s[k * 2] = (struct tsdb_sample){ts, tt_value(k, ts)};
        s[k * 2 + 1] = (struct tsdb_sample){ts - STEP_MS / 2, tt_value(k, ts - STEP_MS / 2)};
        in[k] = (struct tsdb_series_in){ls[k].l, 3, hash_labels(ls[k].l, 3), &s[k * 2], per};
    }
}

struct child_arg {
    const char *dir;
    enum wal_fsync mode;
};

static void child(void *arg, int fd)
{
    const char *dir = ((struct child_arg *)arg)->dir;
    enum wal_fsync mode = ((struct child_arg *)arg)->mode;
    ack_fd = fd;
    log_level_set(LOG_ERROR);
    struct loop l;
    if (loop_init(&l, NULL) != 0)
        _exit(2);
    struct tsdb_config cfg = crash_config(mode);
    struct tsdb *t;
    if (tsdb_open(dir, &cfg, &l, &t) != 0)
        _exit(2);
    loop_set_before_wait(&l, tsdb_before_wait, t);
    struct tt_series ls[SERIES];
    struct tsdb_series_in in[SERIES];
    struct tsdb_sample s[SERIES * 2];
    for (uint32_t seq = 0;; seq++) {
        make_batch(seq, ls, in, s);
        struct tsdb_append_result r;
        int rc;
        while ((rc = tsdb_append(t, in, SERIES, &r, on_ack, (void *)(uintptr_t)seq)) == ERR_FULL)
            loop_run_once(&l, 1000000);
        if (rc != 0 || r.err != 0 || r.rejected_total != 0)
            _exit(4);
        tsdb_tick(t, (int64_t)seq * STEP_MS);
        /* some iterations poll (flushing by hand), some may block briefly */
        if (seq % 3 == 0) {
            tsdb_flush(t);
            if (loop_run_once(&l, 0) < 0)
                _exit(2);
        } else if (loop_run_once(&l, seq % 3 == 1 ? 100000 : 0) < 0) {
            _exit(2);
        }
    }
}

/* ---- the parent ---- */

/* Every acknowledged sample is there with its value; nothing present has a wrong value. */
static void verify(struct tsdb *t, int64_t max_acked)
{
    /* room for batches written but not acknowledged when the kill came (a slow fsync of a
     * loaded machine holds back many acks; their data may be there) */
    size_t cap = (size_t)(max_acked + 2) * 2 + UNACKED_ROOM;
    int64_t *ts = malloc(cap * sizeof *ts);
    uint64_t *vs = malloc(cap * sizeof *vs);
    for (uint32_t k = 0; k < SERIES; k++) {
        long n = tt_read_series(t, k, INT64_MIN, INT64_MAX, ts, vs, cap);
        if (max_acked < 0)
            continue;
        assert_true(n > 0);
        size_t i = 0;
        for (int64_t seq = 0; seq <= max_acked; seq++) {
            int64_t want[2] = {seq * STEP_MS - STEP_MS / 2, seq * STEP_MS};
            for (int j = seq % OOO_EVERY == 0 && seq > 0 ? 0 : 1; j < 2; j++) {
                while (i < (size_t)n && ts[i] < want[j])
                    i++;
                if (i >= (size_t)n || ts[i] != want[j])
                    fprintf(stderr,
                            "series %u: acknowledged sample %lld missing (max acked %lld)\n", k,
                            (long long)want[j], (long long)max_acked);
                assert_true(i < (size_t)n && ts[i] == want[j]);
            }
        }
        for (long m = 0; m < n; m++)
            assert_int_equal(vs[m], tt_value(k, ts[m]));
    }
    free(ts);
    free(vs);
}

static void one_round(struct prop *p, int round)
{
    enum wal_fsync mode = round % 2 ? WAL_FSYNC_ALWAYS : WAL_FSYNC_BATCH;
    struct tt x;
    memset(&x, 0, sizeof x);
    tt_mkdtemp(x.dir, sizeof x.dir);
    struct child_arg arg = {x.dir, mode};
    int64_t run_ms;
    int64_t max_acked = st_kill9_round(p, 400, child, &arg, &run_ms);
    assert_int_equal(loop_init(&x.loop, NULL), 0);
    x.cfg = crash_config(mode);
    tt_open(&x);
    verify(x.t, max_acked);
    tt_settle(&x, (max_acked + 1) * STEP_MS);
    verify(x.t, max_acked);
    tt_reopen(&x);
    verify(x.t, max_acked);
    struct tsdb_stats st;
    tsdb_stats_get(x.t, &st);
    fprintf(stderr, "round %d (%s): ran %lld ms, acked %lld batches, blocks %llu, head from %lld\n",
            round, mode ? "always" : "batch", (long long)run_ms, (long long)max_acked + 1,
            (unsigned long long)st.blocks, (long long)st.head.min_time_ms);
    tt_teardown(&x);
}

static void test_kill9(void **state)
{
    (void)state;
    log_level_set(LOG_ERROR);
    struct prop p = prop_begin("tsdb_kill9");
    for (int round = 0; round < ROUNDS; round++)
        one_round(&p, round);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
