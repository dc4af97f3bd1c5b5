/* engine/tsdb/wal writer on a real io_uring loop: commit callbacks fire once each, in order, only
 * after their bytes reached the file (batch) or after an fdatasync round (always); group commit
 * (one write per loop iteration, commits accumulating behind a write in flight); replay returns
 * exactly what was written; segment rollover in both modes; explicit rolls; ERR_FULL backpressure;
 * short writes continued; close with writes in flight; reopen never appends; record cancel;
 * free-space guard; stats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/error.h"
#include "test_wal_util.h"

struct fixture {
    char dir[256];
    struct loop loop;
    struct wal *w;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    tw_mkdtemp(f->dir, sizeof f->dir);
    if (loop_init(&f->loop, NULL) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->w)
        wal_close(f->w);
    loop_deinit(&f->loop);
    tw_rm_rf(f->dir);
    free(f);
    return 0;
}

static void open_wal(struct fixture *f, const struct wal_config *cfg)
{
    assert_int_equal(wal_open(f->dir, cfg, &f->loop, &f->w), 0);
    loop_set_before_wait(&f->loop, wal_before_wait, f->w);
}

static void close_wal(struct fixture *f)
{
    wal_close(f->w);
    f->w = NULL;
    loop_set_before_wait(&f->loop, NULL, NULL);
}

/* Appends batch `seq` (n samples) with wal_record_begin/end. */
static void append_batch(struct wal *w, uint64_t seq, size_t n, uint32_t flags)
{
    struct buf *b;
    size_t mark;
    assert_int_equal(wal_record_begin(w, &b, &mark), 0);
    tw_samples_payload(b, seq, n);
    assert_int_equal(wal_record_end(w, mark, WALREC_SAMPLES, flags), 0);
}

/* ---- commit callbacks ---- */

struct acks {
    struct fixture *f;
    int fired;
    int order_errors;
    int not_durable; /* callbacks that ran before their batch could be replayed */
    bool check_durable;
    uint64_t fsyncs_at_ack_min;
};

struct ack {
    struct acks *a;
    int seq;
};

static int count_seq(void *arg, const struct walrec *rec, const struct wal_replay_at *at)
{
    (void)at;
    int *seq = arg;
    if (rec->type == WALREC_SAMPLES && tw_payload_seq(rec->payload, rec->len) == *seq)
        *seq = -1; /* found */
    return 0;
}

static void on_ack(void *arg)
{
    struct ack *k = arg;
    struct acks *a = k->a;
    if (k->seq != a->fired)
        a->order_errors++;
    a->fired++;
    if (a->check_durable && k->seq % 16 == 0) {
        int want = k->seq;
        wal_replay(a->f->dir, NULL, count_seq, &want, NULL);
        if (want != -1)
            a->not_durable++;
    }
    if (a->fsyncs_at_ack_min) {
        struct wal_stats st;
        wal_stats_get(a->f->w, &st);
        if (st.fsyncs < a->fsyncs_at_ack_min)
            a->not_durable++;
    }
}

static void commit_order(void **state, enum wal_fsync mode)
{
    struct fixture *f = *state;
    struct wal_config cfg = tw_cfg(mode, 128u << 20);
    open_wal(f, &cfg);
    enum { N = 300 };
    static struct ack ks[N];
    struct acks a = {.f = f, .check_durable = true, .fsyncs_at_ack_min = mode ? 1 : 0};
    int seq = 0;
    while (seq < N) {
        int burst = 1 + seq % 5; /* several commits per loop iteration */
        for (int i = 0; i < burst && seq < N; i++, seq++) {
            append_batch(f->w, (uint64_t)seq, 1 + (size_t)seq % 40, seq % 3 ? 0 : WALREC_COMPRESS);
            ks[seq] = (struct ack){&a, seq};
            assert_int_equal(wal_commit(f->w, on_ack, &ks[seq]), 0);
        }
        assert_true(loop_run_once(&f->loop, 0) >= 0);
    }
    tw_run_until(&f->loop, &a.fired, N);
    assert_int_equal(a.order_errors, 0);
    assert_int_equal(a.not_durable, 0);
    struct wal_stats st;
    wal_stats_get(f->w, &st);
    assert_int_equal(st.commits, N);
    assert_int_equal(st.records, N);
    assert_true(st.writes >= 1 && st.writes <= N);
    assert_int_equal(st.pending_bytes, 0);
    if (mode == WAL_FSYNC_ALWAYS)
        assert_true(st.fsyncs >= 1 && st.fsyncs <= st.writes);
    else
        assert_int_equal(st.fsyncs, 0);
    close_wal(f);
    assert_int_equal(a.fired, N); /* nothing fires twice */

    struct tw_log log = {0};
    struct wal_replay_result res;
    assert_int_equal(tw_replay(f->dir, 0, &log, &res), 0);
    assert_int_equal(log.n, N);
    struct buf want = BUF_INIT;
    for (int i = 0; i < N; i++) {
        buf_reset(&want);
        tw_samples_payload(&want, (uint64_t)i, 1 + (size_t)i % 40);
        assert_int_equal(log.r[i].type, WALREC_SAMPLES);
        assert_int_equal(log.r[i].len, want.len);
        assert_memory_equal(log.r[i].payload, want.data, want.len);
    }
    assert_int_equal(res.stop_err, 0);
    assert_int_equal(res.records, N);
    buf_deinit(&want);
    tw_log_free(&log);
}

static void test_commit_order_batch(void **state)
{
    commit_order(state, WAL_FSYNC_BATCH);
}

static void test_commit_order_always(void **state)
{
    commit_order(state, WAL_FSYNC_ALWAYS);
}

/* All commits of one iteration go out as one write (and one fsync round); commits made while a
 * write is in flight go out together in the next one. */
static void group_commit(void **state, enum wal_fsync mode)
{
    struct fixture *f = *state;
    struct wal_config cfg = tw_cfg(mode, 128u << 20);
    open_wal(f, &cfg);
    static struct ack ks[30];
    struct acks a = {.f = f};
    for (int i = 0; i < 10; i++) {
        append_batch(f->w, (uint64_t)i, 20, 0);
        ks[i] = (struct ack){&a, i};
        assert_int_equal(wal_commit(f->w, on_ack, &ks[i]), 0);
    }
    wal_flush(f->w); /* the write is in flight now */
    assert_false(wal_idle(f->w));
    for (int i = 10; i < 30; i++) {
        append_batch(f->w, (uint64_t)i, 20, 0);
        ks[i] = (struct ack){&a, i};
        assert_int_equal(wal_commit(f->w, on_ack, &ks[i]), 0);
        wal_flush(f->w); /* must not start a second write while one is in flight */
    }
    struct wal_stats st;
    wal_stats_get(f->w, &st);
    assert_int_equal(st.writes, 0);
    tw_run_until(&f->loop, &a.fired, 30);
    assert_int_equal(a.order_errors, 0);
    wal_stats_get(f->w, &st);
    assert_int_equal(st.writes, 2);
    if (mode == WAL_FSYNC_ALWAYS)
        assert_true(st.fsyncs >= 1 && st.fsyncs <= 2);
    assert_true(st.write_ns_sum > 0);
    assert_true(wal_idle(f->w));
    /* a commit with nothing new appended still fires, from the next flush */
    struct ack extra = {&a, 30};
    assert_int_equal(wal_commit(f->w, on_ack, &extra), 0);
    assert_int_equal(a.fired, 30);
    tw_run_until(&f->loop, &a.fired, 31);
    wal_stats_get(f->w, &st);
    assert_int_equal(st.writes, 2);
    assert_int_equal(st.commits, 31);
}

static void test_group_commit_batch(void **state)
{
    group_commit(state, WAL_FSYNC_BATCH);
}

static void test_group_commit_always(void **state)
{
    group_commit(state, WAL_FSYNC_ALWAYS);
}

/* ---- segments ---- */

static void rollover(void **state, enum wal_fsync mode)
{
    struct fixture *f = *state;
    struct wal_config cfg = tw_cfg(mode, 4096);
    open_wal(f, &cfg);
    assert_int_equal(wal_segment_current(f->w), 1);
    enum { N = 120 };
    static struct ack ks[N];
    struct acks a = {.f = f};
    for (int i = 0; i < N; i++) {
        append_batch(f->w, (uint64_t)i, 20 + (size_t)i % 20, 0); /* 218..408 bytes */
        ks[i] = (struct ack){&a, i};
        assert_int_equal(wal_commit(f->w, on_ack, &ks[i]), 0);
        if (i % 3 == 2) /* writes of 3 records: a batch never exceeds a segment */
            tw_run_until(&f->loop, &a.fired, i + 1);
    }
    tw_run_until(&f->loop, &a.fired, N);
    assert_int_equal(a.order_errors, 0);
    uint32_t cur = wal_segment_current(f->w);
    assert_true(cur >= 8);
    struct wal_stats st;
    wal_stats_get(f->w, &st);
    assert_int_equal(st.segment_current, cur);
    assert_int_equal(st.segments, cur);
    assert_int_equal(st.segments_created, cur);
    uint64_t bytes_written = st.bytes_written;
    close_wal(f);
    /* every segment within the limit, every one starts with the header, numbers contiguous */
    uint64_t total = 0;
    for (uint32_t s = 1; s <= cur; s++) {
        char name[16];
        snprintf(name, sizeof name, "%08u", s);
        uint64_t sz = tw_file_size(f->dir, name);
        assert_true(sz >= WALREC_SEGMENT_HEADER_SIZE && sz <= 4096);
        total += sz;
    }
    assert_int_equal(total, bytes_written);
    assert_false(tw_exists(f->dir, "00000000"));
    char name[16];
    snprintf(name, sizeof name, "%08u", cur + 1);
    assert_false(tw_exists(f->dir, name));

    struct tw_log log = {0};
    struct wal_replay_result res;
    assert_int_equal(tw_replay(f->dir, 0, &log, &res), 0);
    assert_int_equal(log.n, N);
    for (size_t i = 0; i < log.n; i++) {
        assert_int_equal(tw_payload_seq(log.r[i].payload, log.r[i].len), (int64_t)i);
        if (i)
            assert_true(log.r[i].segment >= log.r[i - 1].segment);
    }
    assert_int_equal(res.segments, cur);
    assert_int_equal(res.last_segment, cur);
    tw_log_free(&log);
}

static void test_rollover_batch(void **state)
{
    rollover(state, WAL_FSYNC_BATCH);
}

static void test_rollover_always(void **state)
{
    rollover(state, WAL_FSYNC_ALWAYS);
}

/* A record larger than the segment size fills a segment on its own. */
static void test_oversize_record(void **state)
{
    struct fixture *f = *state;
    struct wal_config cfg = tw_cfg(WAL_FSYNC_BATCH, 1024);
    open_wal(f, &cfg);
    struct acks a = {.f = f};
    struct ack ks[3] = {{&a, 0}, {&a, 1}, {&a, 2}};
    for (int i = 0; i < 3; i++) {
        append_batch(f->w, (uint64_t)i, i == 1 ? 300 : 5, 0); /* 300 samples: ~3 KiB */
        assert_int_equal(wal_commit(f->w, on_ack, &ks[i]), 0);
        tw_run_until(&f->loop, &a.fired, i + 1);
    }
    assert_int_equal(wal_segment_current(f->w), 3);
    close_wal(f);
    assert_true(tw_file_size(f->dir, "00000002") > 1024);
    struct tw_log log = {0};
    assert_int_equal(tw_replay(f->dir, 0, &log, NULL), 0);
    assert_int_equal(log.n, 3);
    assert_int_equal(log.r[0].segment, 1);
    assert_int_equal(log.r[1].segment, 2);
    assert_int_equal(log.r[2].segment, 3);
    tw_log_free(&log);
}

static void test_roll_request(void **state)
{
    struct fixture *f = *state;
    struct wal_config cfg = tw_cfg(WAL_FSYNC_ALWAYS, 1u << 20);
    open_wal(f, &cfg);
    struct acks a = {.f = f};
    struct ack ks[3] = {{&a, 0}, {&a, 1}, {&a, 2}};
    wal_roll(f->w); /* empty segment: nothing to roll */
    append_batch(f->w, 0, 3, 0);
    assert_int_equal(wal_commit(f->w, on_ack, &ks[0]), 0);
    tw_run_until(&f->loop, &a.fired, 1);
    assert_int_equal(wal_segment_current(f->w), 1);
    wal_roll(f->w);
    assert_int_equal(wal_segment_current(f->w), 1); /* happens with the next write */
    append_batch(f->w, 1, 3, 0);
    assert_int_equal(wal_commit(f->w, on_ack, &ks[1]), 0);
    tw_run_until(&f->loop, &a.fired, 2);
    assert_int_equal(wal_segment_current(f->w), 2);
    append_batch(f->w, 2, 3, 0);
    assert_int_equal(wal_commit(f->w, on_ack, &ks[2]), 0);
    tw_run_until(&f->loop, &a.fired, 3);
    assert_int_equal(wal_segment_current(f->w), 2);
    close_wal(f);
    struct tw_log log = {0};
    assert_int_equal(tw_replay(f->dir, 0, &log, NULL), 0);
    assert_int_equal(log.n, 3);
    assert_int_equal(log.r[0].segment, 1);
    assert_int_equal(log.r[1].segment, 2);
    assert_int_equal(log.r[2].segment, 2);
    tw_log_free(&log);
}

/* Reopening starts a new segment and leaves the old one byte for byte as it was. */
static void test_reopen_new_segment(void **state)
{
    struct fixture *f = *state;
    struct wal_config cfg = tw_cfg(WAL_FSYNC_BATCH, 1u << 20);
    for (int round = 0; round < 3; round++) {
        open_wal(f, &cfg);
        assert_int_equal(wal_segment_current(f->w), (uint32_t)round + 1);
        assert_int_equal(wal_append(f->w, WALREC_CHECKPOINT, "x", 1, 0), 0);
        assert_int_equal(wal_append(f->w, WALREC_LOG_ENTRIES, NULL, 0, 0), 0);
        close_wal(f); /* close writes what was appended without a commit */
    }
    struct buf b = BUF_INIT;
    char p[512];
    tw_path(p, sizeof p, f->dir, "00000001");
    tw_read_file(p, &b);
    assert_int_equal(b.len, WALREC_SEGMENT_HEADER_SIZE + 2 * WALREC_HEADER_SIZE + 1);
    struct tw_log log = {0};
    assert_int_equal(tw_replay(f->dir, 0, &log, NULL), 0);
    assert_int_equal(log.n, 6);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(log.r[i].segment, i / 2 + 1);
    buf_deinit(&b);
    tw_log_free(&log);
}

/* ---- backpressure, short writes, close, cancel ---- */

static void test_backpressure(void **state)
{
    struct fixture *f = *state;
    struct wal_config cfg = tw_cfg(WAL_FSYNC_BATCH, 1u << 20);
    cfg.pending_bytes_max = 4096;
    open_wal(f, &cfg);
    uint8_t payload[1000];
    memset(payload, 0xab, sizeof payload);
    int ok = 0, rc;
    while ((rc = wal_append(f->w, WALREC_METADATA, payload, sizeof payload, 0)) == 0)
        ok++;
    assert_int_equal(rc, ERR_FULL);
    assert_int_equal(ok, 5); /* 4 x 1016 < 4096 <= 5 x 1016: the one that crosses is accepted */
    assert_true(wal_pending_bytes(f->w) >= 4096);
    struct buf *b = (struct buf *)1;
    size_t mark;
    assert_int_equal(wal_record_begin(f->w, &b, &mark), ERR_FULL);
    assert_null(b);
    struct wal_stats st;
    wal_stats_get(f->w, &st);
    assert_int_equal(st.full_rejects, 2);
    assert_int_equal(st.pending_bytes, 5 * 1016);
    /* still full while the write is in flight; room again once it completed */
    struct acks a = {.f = f};
    struct ack k = {&a, 0};
    assert_int_equal(wal_commit(f->w, on_ack, &k), 0);
    wal_flush(f->w);
    assert_int_equal(wal_append(f->w, WALREC_METADATA, payload, sizeof payload, 0), ERR_FULL);
    tw_run_until(&f->loop, &a.fired, 1);
    assert_int_equal(wal_pending_bytes(f->w), 0);
    assert_int_equal(wal_append(f->w, WALREC_METADATA, payload, sizeof payload, 0), 0);
    close_wal(f);
    struct tw_log log = {0};
    assert_int_equal(tw_replay(f->dir, 0, &log, NULL), 0);
    assert_int_equal(log.n, 6);
    tw_log_free(&log);
}

/* write_bytes_max forces partial submissions: the writer continues each where it stopped. */
static void test_short_writes(void **state)
{
    struct fixture *f = *state;
    struct wal_config cfg = tw_cfg(WAL_FSYNC_ALWAYS, 1u << 20);
    cfg.write_bytes_max = 97;
    open_wal(f, &cfg);
    enum { N = 40 };
    static struct ack ks[N];
    struct acks a = {.f = f, .fsyncs_at_ack_min = 1};
    for (int i = 0; i < N; i++) {
        append_batch(f->w, (uint64_t)i, 1 + (size_t)i * 3, 0);
        ks[i] = (struct ack){&a, i};
        assert_int_equal(wal_commit(f->w, on_ack, &ks[i]), 0);
        if (i % 7 == 0)
            assert_true(loop_run_once(&f->loop, 0) >= 0);
    }
    tw_run_until(&f->loop, &a.fired, N);
    assert_int_equal(a.order_errors, 0);
    assert_int_equal(a.not_durable, 0);
    struct wal_stats st;
    wal_stats_get(f->w, &st);
    close_wal(f);
    assert_int_equal(st.bytes_written, tw_file_size(f->dir, "00000001"));
    struct tw_log log = {0};
    assert_int_equal(tw_replay(f->dir, 0, &log, NULL), 0);
    assert_int_equal(log.n, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(tw_payload_seq(log.r[i].payload, log.r[i].len), i);
    tw_log_free(&log);
}

static void close_in_flight(void **state, enum wal_fsync mode)
{
    struct fixture *f = *state;
    struct wal_config cfg = tw_cfg(mode, 8192);
    open_wal(f, &cfg);
    enum { N = 60 };
    static struct ack ks[N];
    struct acks a = {.f = f};
    for (int i = 0; i < N; i++) {
        append_batch(f->w, (uint64_t)i, 30, 0);
        ks[i] = (struct ack){&a, i};
        assert_int_equal(wal_commit(f->w, on_ack, &ks[i]), 0);
        if (i == N / 2)
            wal_flush(f->w); /* first half in flight, second half waiting behind it */
    }
    assert_int_equal(a.fired, 0);
    close_wal(f);
    assert_int_equal(a.fired, N);
    assert_int_equal(a.order_errors, 0);
    struct tw_log log = {0};
    assert_int_equal(tw_replay(f->dir, 0, &log, NULL), 0);
    assert_int_equal(log.n, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(tw_payload_seq(log.r[i].payload, log.r[i].len), i);
    tw_log_free(&log);
}

static void test_close_in_flight_batch(void **state)
{
    close_in_flight(state, WAL_FSYNC_BATCH);
}

static void test_close_in_flight_always(void **state)
{
    close_in_flight(state, WAL_FSYNC_ALWAYS);
}

static void test_record_cancel_and_types(void **state)
{
    struct fixture *f = *state;
    struct wal_config cfg = tw_cfg(WAL_FSYNC_BATCH, 1u << 20);
    open_wal(f, &cfg);
    struct buf *b;
    size_t mark;
    assert_int_equal(wal_record_begin(f->w, &b, &mark), 0);
    tw_samples_payload(b, 9, 50);
    wal_record_cancel(f->w, mark);
    /* a log stream and an entry with structured metadata, compressed */
    struct label ls[2] = {{STR_LIT("app"), STR_LIT("api")}, {STR_LIT("env"), STR_LIT("prod")}};
    struct walrec_series st = {.id = 3, .labels = ls, .n_labels = 2};
    assert_int_equal(wal_record_begin(f->w, &b, &mark), 0);
    assert_int_equal(walrec_series_encode(b, &st, 1), 0);
    assert_int_equal(wal_record_end(f->w, mark, WALREC_LOG_STREAMS, 0), 0);
    struct walrec_entry e[40];
    for (int i = 0; i < 40; i++)
        e[i] =
            (struct walrec_entry){.id = 3,
                                  .ts_ns = 1700000000000000000LL + i,
                                  .line = STR_LIT("level=info msg=\"request served\" status=200"),
                                  .meta = ls,
                                  .n_meta = 1};
    assert_int_equal(wal_record_begin(f->w, &b, &mark), 0);
    assert_int_equal(walrec_entries_encode(b, e, 40), 0);
    size_t raw = b->len - mark - WALREC_HEADER_SIZE;
    assert_int_equal(wal_record_end(f->w, mark, WALREC_LOG_ENTRIES, WALREC_COMPRESS), 0);
    assert_true(b->len - mark - WALREC_HEADER_SIZE < raw); /* it compressed */
    /* a payload over the limit is refused and leaves nothing behind */
    assert_int_equal(wal_append(f->w, WALREC_METADATA, "", WALREC_PAYLOAD_MAX + 1ull, 0),
                     ERR_LIMIT);
    close_wal(f);
    struct tw_log log = {0};
    assert_int_equal(tw_replay(f->dir, 0, &log, NULL), 0);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.r[0].type, WALREC_LOG_STREAMS);
    assert_int_equal(log.r[1].type, WALREC_LOG_ENTRIES);
    struct label mb[4];
    struct walrec_entries_iter it;
    walrec_entries_iter_init(&it, log.r[1].payload, log.r[1].len, mb, 4);
    int n = 0;
    while (walrec_entries_iter_next(&it)) {
        assert_int_equal(walrec_entries_iter_at(&it)->ts_ns, 1700000000000000000LL + n);
        n++;
    }
    assert_int_equal(walrec_entries_iter_err(&it), 0);
    assert_int_equal(n, 40);
    tw_log_free(&log);
}

/* ---- free space, config, stats ---- */

static void test_free_space_guard(void **state)
{
    struct fixture *f = *state;
    struct wal_config cfg = tw_cfg(WAL_FSYNC_BATCH, 1u << 20);
    cfg.free_bytes_min = UINT64_MAX; /* no disk has that much free */
    open_wal(f, &cfg);
    assert_false(wal_writable(f->w));
    assert_false(wal_check_space(f->w));
    struct wal_stats st;
    wal_stats_get(f->w, &st);
    assert_int_equal(st.writable, 0);
    close_wal(f);
    cfg.free_bytes_min = 0;
    cfg.free_permille_min = 1001; /* more than the whole disk */
    open_wal(f, &cfg);
    assert_false(wal_writable(f->w));
    close_wal(f);
    cfg.free_permille_min = 0;
    cfg.free_bytes_min = 4096;
    open_wal(f, &cfg);
    assert_true(wal_writable(f->w));
    wal_stats_get(f->w, &st);
    assert_int_equal(st.writable, 1);
}

static void test_config(void **state)
{
    (void)state;
    struct wal_config c;
    wal_config_init(&c);
    assert_int_equal(c.fsync, WAL_FSYNC_BATCH);
    assert_int_equal(c.segment_size_bytes, 128u << 20);
    assert_int_equal(c.pending_bytes_max, 64u << 20);
    assert_int_equal(c.free_bytes_min, 256u << 20);
    assert_int_equal(c.free_permille_min, 10);
    enum wal_fsync m;
    assert_int_equal(wal_fsync_parse("always", &m), 0);
    assert_int_equal(m, WAL_FSYNC_ALWAYS);
    assert_int_equal(wal_fsync_parse("batch", &m), 0);
    assert_int_equal(m, WAL_FSYNC_BATCH);
    assert_int_equal(wal_fsync_parse("sometimes", &m), ERR_INVALID);
}

static void test_open_errors(void **state)
{
    struct fixture *f = *state;
    char p[512];
    tw_path(p, sizeof p, f->dir, "file");
    tw_write_file(p, "x", 1);
    struct wal *w = (struct wal *)1;
    assert_int_equal(wal_open(p, NULL, &f->loop, &w), -ENOTDIR);
    assert_null(w);
    /* nested dirs are created */
    tw_path(p, sizeof p, f->dir, "a/b/wal");
    struct wal_config cfg = tw_cfg(WAL_FSYNC_BATCH, 1u << 20);
    assert_int_equal(wal_open(p, &cfg, &f->loop, &w), 0);
    assert_string_equal(wal_dir(w), p);
    wal_close(w);
    wal_close(NULL);
    /* a segment from a newer format version is left untouched */
    tw_path(p, sizeof p, f->dir, "v2");
    mkdir(p, 0755);
    char seg[600];
    tw_path(seg, sizeof seg, p, "00000001");
    tw_write_file(seg, "SWAL\x02\0\0\0", 8);
    assert_int_equal(wal_open(p, &cfg, &f->loop, &w), ERR_UNSUPPORTED);
    assert_int_equal(tw_file_size(p, "00000001"), 8);
    assert_false(tw_exists(p, "00000002"));
    /* replay of a missing dir is an empty log */
    tw_path(p, sizeof p, f->dir, "nope");
    struct wal_replay_result res;
    assert_int_equal(wal_replay(p, NULL, tw_collect, NULL, &res), 0);
    assert_int_equal(res.records, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_order_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_order_always, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_always, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollover_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollover_always, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversize_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roll_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_new_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_in_flight_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_in_flight_always, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_cancel_and_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_space_guard, setup, teardown),
        cmocka_unit_test(test_config),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
