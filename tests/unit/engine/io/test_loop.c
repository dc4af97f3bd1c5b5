/* engine/io loop: timers (fire, cancel), recv/send on a socketpair, multishot accept, wake-ups from
 * another thread, registered tags, SQ overflow batching, fire-and-forget close, busy accounting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "engine/io/loop.h"

struct hit {
    struct loop_op op;
    int calls;
    int res;
    uint32_t flags;
};

static void on_hit(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    (void)l;
    struct hit *h = (struct hit *)op;
    h->calls++;
    h->res = res;
    h->flags = flags;
}

static void run_until(struct loop *l, const int *calls, int want)
{
    int64_t deadline = clock_mono_ns() + 5000000000LL;
    while (*calls < want && clock_mono_ns() < deadline)
        assert_true(loop_run_once(l, 100000000) >= 0);
    assert_int_equal(*calls, want);
}

static void test_probe(void **state)
{
    (void)state;
    char why[256] = "";
    int rc = loop_probe(why, sizeof why);
    if (rc != 0)
        fail_msg("io_uring probe failed: %s", why);
}

static struct hit timer_hit;
static void on_timer_fn(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    on_hit(l, &timer_hit.op, res, flags);
    (void)op;
}

static void test_timer(void **state)
{
    (void)state;
    struct loop l;
    assert_int_equal(loop_init(&l, NULL), 0);
    struct loop_timer t = {.fn = on_timer_fn};
    memset(&timer_hit, 0, sizeof timer_hit);
    int64_t t0 = clock_mono_ns();
    loop_timer_arm(&l, &t, 20000000);
    assert_true(t.armed);
    run_until(&l, &timer_hit.calls, 1);
    assert_int_equal(timer_hit.res, -ETIME);
    assert_false(t.armed);
    assert_true(clock_mono_ns() - t0 >= 19000000);
    /* cancel: the callback still runs, with -ECANCELED */
    loop_timer_arm(&l, &t, 10000000000LL);
    loop_timer_cancel(&l, &t);
    run_until(&l, &timer_hit.calls, 2);
    assert_int_equal(timer_hit.res, -ECANCELED);
    assert_false(t.armed);
    loop_timer_cancel(&l, &t); /* not armed: no-op */
    loop_deinit(&l);
}

static void test_recv_send(void **state)
{
    (void)state;
    struct loop l;
    assert_int_equal(loop_init(&l, NULL), 0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct hit rx = {.op.fn = on_hit}, tx = {.op.fn = on_hit};
    char in[64] = "";
    loop_recv(&l, &rx.op, sv[1], in, sizeof in);
    loop_send(&l, &tx.op, sv[0], "hello", 5);
    run_until(&l, &rx.calls, 1);
    run_until(&l, &tx.calls, 1);
    assert_int_equal(tx.res, 5);
    assert_int_equal(rx.res, 5);
    assert_memory_equal(in, "hello", 5);
    /* peer closes: recv completes with 0 */
    loop_recv(&l, &rx.op, sv[1], in, sizeof in);
    close(sv[0]);
    run_until(&l, &rx.calls, 2);
    assert_int_equal(rx.res, 0);
    /* fire-and-forget close */
    loop_close(&l, sv[1]);
    assert_true(loop_run_once(&l, 0) >= 0);
    int64_t deadline = clock_mono_ns() + 1000000000;
    while (fcntl(sv[1], F_GETFD) != -1 && clock_mono_ns() < deadline)
        loop_run_once(&l, 1000000);
    assert_int_equal(fcntl(sv[1], F_GETFD), -1);
    loop_deinit(&l);
}

static void test_multishot_accept(void **state)
{
    (void)state;
    struct loop l;
    assert_int_equal(loop_init(&l, NULL), 0);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 16), 0);
    socklen_t al = sizeof a;
    getsockname(lfd, (struct sockaddr *)&a, &al);
    struct hit acc = {.op.fn = on_hit};
    loop_accept(&l, &acc.op, lfd, true);
    int c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_int_equal(connect(c[i], (struct sockaddr *)&a, sizeof a), 0);
    }
    int seen = 0;
    int64_t deadline = clock_mono_ns() + 5000000000LL;
    while (seen < 3 && clock_mono_ns() < deadline) {
        int before = acc.calls;
        loop_run_once(&l, 100000000);
        if (acc.calls > before) {
            assert_true(acc.res >= 0);
            assert_true(acc.flags & IORING_CQE_F_MORE);
            close(acc.res);
            seen = acc.calls;
        }
    }
    assert_int_equal(acc.calls, 3);
    /* cancel the multishot accept: a final CQE without F_MORE */
    loop_cancel(&l, &acc.op);
    run_until(&l, &acc.calls, 4);
    assert_int_equal(acc.res, -ECANCELED);
    assert_false(acc.flags & IORING_CQE_F_MORE);
    for (int i = 0; i < 3; i++)
        close(c[i]);
    close(lfd);
    loop_deinit(&l);
}

static int wake_calls;
static void on_wake_fn(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    (void)op;
    (void)res;
    (void)flags;
    assert_ptr_equal(loop_wake_arg(l), &wake_calls);
    wake_calls++;
}

static void *waker(void *arg)
{
    usleep(20000);
    loop_wake(arg);
    return NULL;
}

static void test_wake_from_other_thread(void **state)
{
    (void)state;
    struct loop l;
    assert_int_equal(loop_init(&l, NULL), 0);
    loop_set_wake_fn(&l, on_wake_fn, &wake_calls);
    wake_calls = 0;
    for (int round = 1; round <= 3; round++) {
        pthread_t t;
        pthread_create(&t, NULL, waker, &l);
        while (wake_calls < round)
            assert_true(loop_run_once(&l, -1) >= 0); /* blocks until woken */
        pthread_join(t, NULL);
    }
    assert_int_equal(wake_calls, 3);
    loop_deinit(&l);
}

static int tag_calls;
static uint64_t tag_seen;
static void on_tag(struct loop *l, uint64_t tag, int res, uint32_t flags, void *arg)
{
    (void)l;
    (void)res;
    (void)flags;
    tag_seen = tag;
    if (arg == &tag_calls)
        tag_calls++;
}

static void test_tags(void **state)
{
    (void)state;
    struct loop l;
    assert_int_equal(loop_init(&l, NULL), 0);
    /* a tag family: top 32 bits select it, low bits carry data */
    const uint64_t fam = 0x4d53480000000000ull, mask = 0xffffffff00000000ull;
    assert_int_equal(loop_tag_register(&l, fam, mask, on_tag, &tag_calls), 0);
    for (int i = 1; i < LOOP_TAGS_MAX; i++)
        assert_int_equal(loop_tag_register(&l, (uint64_t)i << 40, mask, on_tag, NULL), 0);
    assert_int_equal(loop_tag_register(&l, 0x2000, ~0ull, on_tag, NULL), ERR_FULL);
    struct io_uring_sqe *sqe = loop_sqe(&l, NULL);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, fam | 0x10003);
    tag_calls = 0;
    run_until(&l, &tag_calls, 1);
    assert_int_equal(tag_seen, fam | 0x10003);
    loop_deinit(&l);
}

static void test_sq_overflow_batches(void **state)
{
    (void)state;
    struct loop l;
    struct loop_config cfg = {.sq_entries = 8};
    assert_int_equal(loop_init(&l, &cfg), 0);
    struct hit h = {.op.fn = on_hit};
    for (int i = 0; i < 3000; i++) {
        struct io_uring_sqe *sqe = loop_sqe(&l, &h.op);
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data(sqe, &h.op);
    }
    run_until(&l, &h.calls, 3000);
    assert_true(loop_iterations(&l) > 0);
    loop_deinit(&l);
}

static void test_busy_accounting(void **state)
{
    (void)state;
    struct loop l;
    assert_int_equal(loop_init(&l, NULL), 0);
    struct loop_timer t = {.fn = on_timer_fn};
    memset(&timer_hit, 0, sizeof timer_hit);
    loop_timer_arm(&l, &t, 50000000);
    run_until(&l, &timer_hit.calls, 1);
    /* 50 ms spent blocked: almost none of it is busy time */
    assert_true(loop_busy_ns(&l) < 40000000);
    /* spin 30 ms between iterations: counted as busy */
    int64_t t0 = clock_mono_ns();
    while (clock_mono_ns() - t0 < 30000000)
        ;
    loop_run_once(&l, 0);
    assert_true(loop_busy_ns(&l) >= 30000000);
    loop_deinit(&l);
}

static void test_plain_ring_fallback(void **state)
{
    (void)state;
    struct loop l;
    struct loop_config cfg = {.no_defer_taskrun = true};
    assert_int_equal(loop_init(&l, &cfg), 0);
    assert_false(l.setup_flags & IORING_SETUP_DEFER_TASKRUN);
    struct loop_timer t = {.fn = on_timer_fn};
    memset(&timer_hit, 0, sizeof timer_hit);
    loop_timer_arm(&l, &t, 1000000);
    run_until(&l, &timer_hit.calls, 1);
    loop_deinit(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_timer),
        cmocka_unit_test(test_recv_send),
        cmocka_unit_test(test_multishot_accept),
        cmocka_unit_test(test_wake_from_other_thread),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_sq_overflow_batches),
        cmocka_unit_test(test_busy_accounting),
        cmocka_unit_test(test_plain_ring_fallback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
