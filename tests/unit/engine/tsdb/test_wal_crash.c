/* engine/tsdb/wal crash safety: a fork()ed child writes and commits batches on its own io_uring
 * loop (batch and always modes, small segments so rollovers happen, several records per batch)
 * and reports every acknowledged batch to the parent through a pipe; the parent SIGKILLs it at a
 * random moment, then checks that replay yields a gap-free prefix of intact batches containing
 * every acknowledged one, that open repairs the tail, and that replay after the repair is the same.
 * Repeated 24 times. And a write that fails (the file-size limit) panics before acknowledging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "base/error.h"
#include "test_wal_util.h"
#include "tests/unit/prop.h"

enum { ROUNDS = 24 };

static int ack_fd = -1;

static void on_ack(void *arg)
{
    uint32_t seq = (uint32_t)(uintptr_t)arg;
    if (write(ack_fd, &seq, sizeof seq) != sizeof seq)
        _exit(3);
}

/* Batch seq: 1 + seq % 3 SAMPLES records, each tagged with seq (ts / 1000). */
static size_t batch_records(uint32_t seq)
{
    return 1 + seq % 3;
}

static void child(const char *dir, enum wal_fsync mode, int fd)
{
    ack_fd = fd;
    struct loop l;
    if (loop_init(&l, NULL) != 0)
        _exit(2);
    struct wal_config cfg = tw_cfg(mode, 16384);
    struct wal *w;
    if (wal_open(dir, &cfg, &l, &w) != 0)
        _exit(2);
    loop_set_before_wait(&l, wal_before_wait, w);
    for (uint32_t seq = 0;; seq++) {
        for (size_t r = 0; r < batch_records(seq); r++) {
            struct buf *b;
            size_t mark;
            if (wal_record_begin(w, &b, &mark) == ERR_FULL) {
                loop_run_once(&l, 1000000);
                r--;
                continue;
            }
            tw_samples_payload(b, seq, 5 + (seq * 7 + r) % 60);
            if (wal_record_end(w, mark, WALREC_SAMPLES, seq % 2 ? WALREC_COMPRESS : 0) != 0)
                _exit(2);
        }
        if (wal_commit(w, on_ack, (void *)(uintptr_t)seq) != 0)
            _exit(2);
        /* some iterations poll (flushing by hand: before_wait only runs when the loop may
         * block), some wait briefly */
        if (seq % 4 == 3) {
            if (seq % 8 == 3)
                wal_flush(w);
            if (loop_run_once(&l, seq % 8 == 3 ? 0 : 1000000) < 0)
                _exit(2);
        }
    }
}

/* Checks the log: batches 0..k-1 complete and in order (a batch's records may be partly there
 * only at the very end), k > every acknowledged batch. Returns k. */
static uint32_t check_log(const struct tw_log *log, int64_t max_acked)
{
    uint32_t seq = 0;
    size_t in_batch = 0;
    for (size_t i = 0; i < log->n; i++) {
        int64_t s = tw_payload_seq(log->r[i].payload, log->r[i].len);
        assert_int_equal(s, seq);
        struct buf want = BUF_INIT;
        tw_samples_payload(&want, seq, 5 + (seq * 7 + in_batch) % 60);
        assert_int_equal(log->r[i].len, want.len);
        assert_memory_equal(log->r[i].payload, want.data, want.len);
        buf_deinit(&want);
        if (++in_batch == batch_records(seq)) {
            seq++;
            in_batch = 0;
        }
    }
    assert_true((int64_t)seq > max_acked);
    return seq;
}

static void one_round(struct prop *p, const char *dir, enum wal_fsync mode, struct loop *l)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child(dir, mode, fds[1]);
        _exit(0);
    }
    close(fds[1]);
    int64_t delay_us = 10000 + (int64_t)(prop_next(p) % 120000);
    usleep((useconds_t)delay_us);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    int64_t max_acked = -1;
    uint32_t seq;
    ssize_t k;
    while ((k = read(fds[0], &seq, sizeof seq)) == sizeof seq) {
        assert_int_equal(seq, max_acked + 1); /* acknowledged in order, each once */
        max_acked = seq;
    }
    assert_int_equal(k, 0);
    close(fds[0]);

    struct tw_log log = {0}, again = {0};
    struct wal_replay_result res;
    assert_int_equal(tw_replay(dir, 0, &log, &res), 0);
    uint32_t complete = check_log(&log, max_acked);
    struct wal *w;
    struct wal_config cfg = tw_cfg(mode, 16384);
    assert_int_equal(wal_open(dir, &cfg, l, &w), 0);
    wal_close(w);
    assert_int_equal(tw_replay(dir, 0, &again, &res), 0);
    assert_int_equal(res.stop_err, 0);
    assert_true(tw_same_records(&log, &again));
    print_message("round %s: killed after %lld us, %lld acked, %u on disk, %u segments\n",
                  mode ? "always" : "batch", (long long)delay_us, (long long)max_acked + 1,
                  complete, res.last_segment);
    tw_log_free(&log);
    tw_log_free(&again);
}

static void test_kill_child(void **state)
{
    (void)state;
    struct prop p = prop_begin("wal_kill_child");
    char base[256];
    tw_mkdtemp(base, sizeof base);
    struct loop l;
    assert_int_equal(loop_init(&l, NULL), 0);
    for (int round = 0; round < ROUNDS; round++) {
        char dir[300];
        snprintf(dir, sizeof dir, "%s/r%02d", base, round);
        one_round(&p, dir, round % 2 ? WAL_FSYNC_ALWAYS : WAL_FSYNC_BATCH, &l);
    }
    loop_deinit(&l);
    tw_rm_rf(base);
}

/* The child's WAL hits RLIMIT_FSIZE: the write fails with EFBIG and the process panics
 * (SIGABRT) without running the commit's callback. */
static void test_failed_write_panics(void **state)
{
    (void)state;
    char dir[256];
    tw_mkdtemp(dir, sizeof dir);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        ack_fd = fds[1];
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {4096, 4096};
        struct loop l;
        struct wal *w;
        struct wal_config cfg = tw_cfg(WAL_FSYNC_BATCH, 1u << 20);
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0 || loop_init(&l, NULL) != 0 ||
            wal_open(dir, &cfg, &l, &w) != 0)
            _exit(2);
        static uint8_t big[10000];
        if (wal_append(w, WALREC_METADATA, big, sizeof big, 0) != 0 ||
            wal_commit(w, on_ack, (void *)(uintptr_t)0) != 0)
            _exit(2);
        wal_flush(w);
        for (int i = 0; i < 100; i++)
            loop_run_once(&l, 10000000);
        _exit(0); /* not reached: the failed write panics */
    }
    close(fds[1]);
    print_message("the child's PANIC below (write failed: File too large) is expected\n");
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    uint32_t seq;
    assert_int_equal(read(fds[0], &seq, sizeof seq), 0); /* never acknowledged */
    close(fds[0]);
    tw_rm_rf(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_child),
        cmocka_unit_test(test_failed_write_panics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
