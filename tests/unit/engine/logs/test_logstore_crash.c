/* engine/logs/logstore kill -9 safety: a fork()ed child appends batches (4 streams, one entry per
 * stream and second of data time, an out-of-order entry every 7th batch and a re-sent duplicate
 * every 5th) on its own loop, ticks the maintenance cycle with a 5-minute block range and 16 KiB
 * WAL segments so head cuts, checkpoints and compactions run all the time, and reports every
 * acknowledged batch through a pipe; the parent SIGKILLs it at a random moment, reopens the store
 * and finds every acknowledged entry with its exact line (no entry twice, none with a wrong
 * line), lets the cycle settle, and checks again after another restart. 24 rounds, alternating
 * fsync modes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_logstore_util.h"

enum { UNACKED_ROOM = 1 << 16, ROUNDS = 24, STREAMS = 4, OOO_EVERY = 7, DUP_EVERY = 5 };

#define T0 (1700000040LL * LT_SEC_NS)

static void crash_config(struct lt *x, enum wal_fsync mode)
{
    lt_config(x, &x->cfg);
    x->cfg.block_range_ms = 5 * 60 * 1000;
    x->cfg.ooo_window_ms = 60 * 1000;
    x->cfg.wal.fsync = mode;
    x->cfg.wal.segment_size_bytes = 16 * 1024;
    x->cfg.cut_streams_per_tick = 2;
    x->cfg.chunk_target_bytes = 2048;
    x->cfg.head_block_bytes = 512;
    x->cfg.block_chunk_bytes = 1024;
    x->cfg.max_block_range_ms = 45 * 60 * 1000;
}

static int64_t seq_ts(uint32_t seq)
{
    return T0 + (int64_t)seq * LT_SEC_NS;
}

/* ---- the child ---- */

static int ack_fd = -1;

static void on_ack(void *arg, int result)
{
    uint32_t seq = (uint32_t)(uintptr_t)arg;
    if (result != 0 || write(ack_fd, &seq, sizeof seq) != sizeof seq)
        _exit(3);
}

/* Batch seq: each stream gets seq's entry; every OOO_EVERY-th also the half second before (out
 * of order); every DUP_EVERY-th also repeats the entry of seq - 3. */
static size_t make_batch(uint32_t seq, struct lt_batch *b)
{
    int64_t ts[3] = {seq_ts(seq)};
    size_t n = 1;
    if (seq % OOO_EVERY == 0 && seq > 0)
        ts[n++] = seq_ts(seq) - LT_SEC_NS / 2;
    if (seq % DUP_EVERY == 0 && seq >= 3)
        ts[n++] = seq_ts(seq - 3);
    for (uint32_t k = 0; k < STREAMS; k++)
        lt_batch_make(&b[k], k, ts, n);
    return n;
}

static void child(void *arg, int fd)
{
    struct lt *x = arg;
    ack_fd = fd;
    log_level_set(LOG_ERROR);
    if (loop_init(&x->loop, NULL) != 0 || lt_open_rc(x) != 0)
        _exit(2);
    for (uint32_t seq = 0;; seq++) {
        struct lt_batch b[STREAMS];
        make_batch(seq, b);
        struct logstore_stream_in in[STREAMS];
        for (uint32_t k = 0; k < STREAMS; k++)
            in[k] = b[k].in;
        struct logstore_append_result r;
        int rc;
        while ((rc = logstore_append(x->ls, in, STREAMS, &r, on_ack, (void *)(uintptr_t)seq)) ==
               ERR_FULL)
            loop_run_once(&x->loop, 1000000);
        if (rc != 0 || r.err != 0 || r.rejected_total != 0)
            _exit(4);
        for (uint32_t k = 0; k < STREAMS; k++)
            lt_batch_free(&b[k]);
        logstore_tick(x->ls, seq_ts(seq) / 1000000);
        if (seq % 3 == 0) {
            logstore_flush(x->ls);
            if (loop_run_once(&x->loop, 0) < 0)
                _exit(2);
        } else if (loop_run_once(&x->loop, seq % 3 == 1 ? 100000 : 0) < 0) {
            _exit(2);
        }
    }
}

/* ---- the parent ---- */

/* Every acknowledged entry is there with its line, each once; nothing has a wrong line. */
static void verify(struct logstore *ls, int64_t max_acked)
{
    /* room for batches written but not acknowledged when the kill came (a slow fsync of a
     * loaded machine holds back many acks; their data may be there) */
    size_t cap = (size_t)(max_acked + 2) * 2 + UNACKED_ROOM;
    struct lt_ent *e = malloc(cap * sizeof *e);
    for (uint32_t k = 0; k < STREAMS; k++) {
        long n = lt_read(ls, k, T0 - LT_SEC_NS, INT64_MAX, LOGSTORE_FORWARD, e, cap);
        for (long i = 0; i < n; i++) {
            char line[128];
            lt_line(line, sizeof line, k, e[i].ts);
            assert_string_equal(e[i].line, line);
            assert_true(i == 0 || e[i].ts > e[i - 1].ts); /* no duplicate */
        }
        size_t i = 0;
        for (int64_t seq = 0; seq <= max_acked; seq++) {
            int64_t want[2] = {seq_ts((uint32_t)seq) - LT_SEC_NS / 2, seq_ts((uint32_t)seq)};
            for (int j = seq % OOO_EVERY == 0 && seq > 0 ? 0 : 1; j < 2; j++) {
                while (i < (size_t)n && e[i].ts < want[j])
                    i++;
                if (i >= (size_t)n || e[i].ts != want[j])
                    fprintf(stderr, "stream %u: acknowledged entry %lld missing (max acked %lld)\n",
                            k, (long long)(want[j] - T0), (long long)max_acked);
                assert_true(i < (size_t)n && e[i].ts == want[j]);
            }
        }
    }
    free(e);
}

static void one_round(struct prop *p, int round)
{
    enum wal_fsync mode = round % 2 ? WAL_FSYNC_ALWAYS : WAL_FSYNC_BATCH;
    struct lt x;
    memset(&x, 0, sizeof x);
    lt_mkdtemp(x.dir, sizeof x.dir);
    crash_config(&x, mode);
    int64_t run_ms;
    int64_t max_acked = st_kill9_round(p, 600, child, &x, &run_ms);
    assert_int_equal(loop_init(&x.loop, NULL), 0);
    lt_open(&x);
    verify(x.ls, max_acked);
    lt_settle(&x, seq_ts((uint32_t)max_acked + 1) / 1000000);
    verify(x.ls, max_acked);
    lt_reopen(&x);
    verify(x.ls, max_acked);
    struct logstore_stats st;
    logstore_stats_get(x.ls, &st);
    fprintf(stderr, "round %d (%s): ran %lld ms, acked %lld batches, blocks %llu, streams %llu\n",
            round, mode ? "always" : "batch", (long long)run_ms, (long long)max_acked + 1,
            (unsigned long long)st.blocks, (unsigned long long)st.streams);
    lt_teardown(&x);
}

static void test_kill9(void **state)
{
    (void)state;
    log_level_set(LOG_WARN);
    struct prop p = prop_begin("logstore_kill9");
    for (int round = 0; round < ROUNDS; round++)
        one_round(&p, round);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
