/* Helpers shared by the metrics TSDB and log store tests (tests/unit/engine/tsdb/test_tsdb_util.h,
 * tests/unit/engine/logs/test_logstore_util.h and the kill -9 tests): temp directories, waiting
 * on a real io_uring loop for commit callbacks, ticking a store's maintenance cycle until it is
 * idle, and the kill -9 harness (a fork()ed child writes and reports every acknowledged batch
 * through a pipe; the parent kills it at a random moment and learns the last acknowledged batch).
 * Header-only; include it after <cmocka.h>. */
#ifndef STRATA_TESTS_ENGINE_STORE_TEST_H
#define STRATA_TESTS_ENGINE_STORE_TEST_H

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "engine/io/loop.h"
#include "tests/unit/prop.h"

/* ---- temp dirs ---- */

/* A new directory $TMPDIR/strata-<what>-XXXXXX (or under /tmp). */
static inline void st_mkdtemp(char *out, size_t n, const char *what)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, n, "%s/strata-%s-XXXXXX", base && *base ? base : "/tmp", what);
    assert_non_null(mkdtemp(out));
}

static inline int st_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static inline void st_rm_rf(const char *dir)
{
    nftw(dir, st_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline bool st_exists(const char *dir, const char *name)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0;
}

/* Entries of dir whose name starts with prefix. */
static inline int st_count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

/* ---- the loop and the maintenance cycle ---- */

/* Runs the loop until *acks reaches want (5 s at most). */
static inline void st_wait_acks(struct loop *l, const int *acks, int want)
{
    int64_t deadline = clock_mono_ns() + 5000000000LL;
    while (*acks < want && clock_mono_ns() < deadline)
        assert_true(loop_run_once(l, 10000000) >= 0);
    assert_int_equal(*acks, want);
}

/* A store's maintenance cycle as the tests drive it. */
struct st_cycle {
    void *store;
    void (*tick)(void *store, int64_t now_ms);
    bool (*idle)(const void *store);
    /* prints the cycle's counters when it does not settle */
    void (*report)(const void *store);
};

/* Ticks (now_ms fixed) until the cycle is idle (timeout_s at most), running the loop between. */
static inline void st_settle(struct loop *l, const struct st_cycle *c, int64_t now_ms,
                             int timeout_s)
{
    int64_t deadline = clock_mono_ns() + (int64_t)timeout_s * 1000000000LL;
    for (;;) {
        c->tick(c->store, now_ms);
        if (c->idle(c->store))
            break;
        if (clock_mono_ns() >= deadline) {
            c->report(c->store);
            fail();
        }
        loop_run_once(l, 1000000);
    }
}

/* The counters st_settle reports. */
static inline void st_report(unsigned long long cuts, unsigned long long failures,
                             unsigned long long checkpoints, unsigned long long compactions)
{
    fprintf(stderr, "not idle: cuts %llu failures %llu checkpoints %llu compactions %llu\n", cuts,
            failures, checkpoints, compactions);
}

/* ---- kill -9 ---- */

/* Reads acks (uint32 batch numbers, in commit order) until the deadline (0: what is already in
 * the pipe); returns the highest acknowledged batch (-1: none). */
static inline int64_t st_collect_acks(int fd, int64_t deadline_ns, int64_t max_acked)
{
    for (;;) {
        int64_t left = deadline_ns - clock_mono_ns();
        if (deadline_ns && left <= 0)
            return max_acked;
        struct pollfd p = {fd, POLLIN, 0};
        int k = poll(&p, 1, deadline_ns ? (int)(left / 1000000) + 1 : 0);
        if (k <= 0)
            return max_acked;
        uint32_t buf[256];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return max_acked;
        assert_int_equal(n % 4, 0);
        for (ssize_t i = 0; i < n / 4; i++) {
            assert_true((int64_t)buf[i] > max_acked); /* acks come in commit order */
            max_acked = buf[i];
        }
    }
}

/* The child writes seq (uint32) to ack_fd for every acknowledged batch and never returns. */
typedef void (*st_child_fn)(void *arg, int ack_fd);

/* Forks child(arg, fd), waits for its first ack (20 s at most), lets it run a random stretch of
 * up to run_ms_max ms, SIGKILLs it and returns the last batch it acknowledged (>= 0). */
static inline int64_t st_kill9_round(struct prop *p, int64_t run_ms_max, st_child_fn child,
                                     void *arg, int64_t *run_ms)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child(arg, fds[1]);
        _exit(5); /* not reached */
    }
    close(fds[1]);
    /* the first ack (the child is up), then a random stretch */
    int64_t max_acked = -1, deadline = clock_mono_ns() + 20000000000LL;
    while (max_acked < 0 && clock_mono_ns() < deadline)
        max_acked = st_collect_acks(fds[0], clock_mono_ns() + 10000000, max_acked);
    *run_ms = (int64_t)(prop_next(p) % (uint64_t)run_ms_max);
    max_acked = st_collect_acks(fds[0], clock_mono_ns() + *run_ms * 1000000, max_acked);
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status))
        fprintf(stderr, "child exited with %d\n", WEXITSTATUS(status));
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    max_acked = st_collect_acks(fds[0], 0, max_acked); /* acks already in the pipe */
    close(fds[0]);
    assert_true(max_acked >= 0);
    return max_acked;
}

#endif
