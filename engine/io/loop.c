/* Per-shard io_uring loop: ring setup with fallback flags, SQE batching, CQE dispatch by embedded
 * op, registered tags, eventfd wake-ups, timers, busy-time accounting. */
#include "engine/io/loop.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"

#define DISPATCH_BATCH 256

static void counter_add(_Atomic uint64_t *c, uint64_t n)
{
    /* single writer: a plain load + store, no locked instruction on the hot path */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static void wake_rearm(struct loop *l)
{
    loop_read(l, &l->wake_op, l->wake_fd, &l->wake_val, sizeof l->wake_val);
}

static void on_wake(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    (void)op;
    if (res != -ECANCELED)
        wake_rearm(l);
    if (res >= 0 && l->wake_fn)
        l->wake_fn(l, &l->wake_op, res, flags);
}

static int ring_init(struct loop *l, uint32_t entries, uint32_t flags)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = flags | IORING_SETUP_CQSIZE;
    p.cq_entries = entries * 4; /* multishot accept and pipelined I/O can outrun the SQ */
    int rc = io_uring_queue_init_params(entries, &l->ring, &p);
    if (rc == 0)
        l->setup_flags = p.flags;
    return rc;
}

int loop_init(struct loop *l, const struct loop_config *cfg)
{
    memset(l, 0, sizeof *l);
    l->wake_fd = -1;
    uint32_t entries = cfg && cfg->sq_entries ? cfg->sq_entries : 1024;
    int rc = -EINVAL;
    if (!cfg || !cfg->no_defer_taskrun)
        rc = ring_init(l, entries, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
    if (rc == -EINVAL)
        rc = ring_init(l, entries, 0);
    if (rc < 0)
        return rc;
    l->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (l->wake_fd < 0) {
        rc = -errno;
        io_uring_queue_exit(&l->ring);
        return rc;
    }
    l->wake_op.fn = on_wake;
    wake_rearm(l);
    l->t_resumed_ns = clock_mono_ns();
    return 0;
}

void loop_deinit(struct loop *l)
{
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    io_uring_queue_exit(&l->ring);
    l->wake_fd = -1;
}

int loop_probe(char *why, size_t why_size)
{
    struct io_uring ring;
    int rc = io_uring_queue_init(8, &ring, 0);
    if (rc < 0) {
        const char *hint = rc == -ENOSYS ? "the kernel has no io_uring (needs Linux >= 5.19)"
                           : rc == -EPERM
                               ? "io_uring is disabled (sysctl kernel.io_uring_disabled, "
                                 "a seccomp filter, or a container runtime policy)"
                           : rc == -ENOMEM ? "not enough locked memory (raise ulimit -l)"
                                           : "io_uring_setup failed";
        snprintf(why, why_size, "%s: %s", hint, strerror(-rc));
        return rc;
    }
    static const struct {
        int op;
        const char *name;
    } need[] = {{IORING_OP_ACCEPT, "accept"},
                {IORING_OP_RECV, "recv"},
                {IORING_OP_SEND, "send"},
                {IORING_OP_TIMEOUT, "timeout"},
                {IORING_OP_ASYNC_CANCEL, "async_cancel"},
                {IORING_OP_READ, "read"},
                {IORING_OP_CLOSE, "close"}};
    struct io_uring_probe *probe = io_uring_get_probe_ring(&ring);
    rc = 0;
    for (size_t i = 0; probe && i < sizeof need / sizeof need[0]; i++) {
        if (!io_uring_opcode_supported(probe, need[i].op)) {
            snprintf(why, why_size, "the kernel's io_uring lacks the %s operation (too old)",
                     need[i].name);
            rc = -EOPNOTSUPP;
            break;
        }
    }
    if (probe)
        io_uring_free_probe(probe);
    io_uring_queue_exit(&ring);
    return rc;
}

struct io_uring_sqe *loop_sqe(struct loop *l, struct loop_op *op)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
    if (!sqe) {
        io_uring_submit(&l->ring);
        sqe = io_uring_get_sqe(&l->ring);
        if (!sqe)
            PANIC("BUG: io_uring submission queue stays full after submit");
    }
    io_uring_sqe_set_data(sqe, op);
    return sqe;
}

void loop_accept(struct loop *l, struct loop_op *op, int fd, bool multishot)
{
    struct io_uring_sqe *sqe = loop_sqe(l, op);
    if (multishot)
        io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
    else
        io_uring_prep_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, op);
}

void loop_recv(struct loop *l, struct loop_op *op, int fd, void *buf, size_t n)
{
    struct io_uring_sqe *sqe = loop_sqe(l, op);
    io_uring_prep_recv(sqe, fd, buf, n, 0);
    io_uring_sqe_set_data(sqe, op);
}

void loop_send(struct loop *l, struct loop_op *op, int fd, const void *buf, size_t n)
{
    struct io_uring_sqe *sqe = loop_sqe(l, op);
    io_uring_prep_send(sqe, fd, buf, n, MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, op);
}

void loop_read(struct loop *l, struct loop_op *op, int fd, void *buf, size_t n)
{
    struct io_uring_sqe *sqe = loop_sqe(l, op);
    io_uring_prep_read(sqe, fd, buf, (unsigned)n, (uint64_t)-1);
    io_uring_sqe_set_data(sqe, op);
}

void loop_close(struct loop *l, int fd)
{
    struct io_uring_sqe *sqe = loop_sqe(l, NULL);
    io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data(sqe, NULL);
}

void loop_cancel(struct loop *l, struct loop_op *target)
{
    struct io_uring_sqe *sqe = loop_sqe(l, NULL);
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)target, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data(sqe, NULL);
}

static void on_timer(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    struct loop_timer *t = (struct loop_timer *)((char *)op - offsetof(struct loop_timer, op));
    t->armed = false;
    t->fn(l, op, res, flags);
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
    if (!t->armed)
        return;
    struct io_uring_sqe *sqe = loop_sqe(l, NULL);
    io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&t->op, 0);
    io_uring_sqe_set_data(sqe, NULL);
}

void loop_timer_arm(struct loop *l, struct loop_timer *t, int64_t ns)
{
    ASSERT(!t->armed && t->fn);
    t->op.fn = on_timer;
    t->ts.tv_sec = ns / 1000000000;
    t->ts.tv_nsec = ns % 1000000000;
    t->armed = true;
    struct io_uring_sqe *sqe = loop_sqe(l, &t->op);
    io_uring_prep_timeout(sqe, &t->ts, 0, 0);
    io_uring_sqe_set_data(sqe, &t->op);
}

static void dispatch_one(struct loop *l, uint64_t ud, int res, uint32_t flags)
{
    if (ud == 0)
        return;
    for (uint32_t i = 0; i < l->ntags; i++) {
        if ((ud & l->tags[i].mask) == l->tags[i].value) {
            l->tags[i].fn(l, ud, res, flags, l->tags[i].arg);
            return;
        }
    }
    struct loop_op *op = (struct loop_op *)(uintptr_t)ud;
    if (op->fn == NULL)
        PANIC("BUG: completion for an op without a callback (user_data %#llx)",
              (unsigned long long)ud);
    op->fn(l, op, res, flags);
}

/* Copies a batch of CQEs out, advances the CQ, then dispatches (callbacks may submit freely). */
static int dispatch(struct loop *l)
{
    int total = 0;
    for (;;) {
        struct io_uring_cqe *cqes[DISPATCH_BATCH];
        struct {
            uint64_t ud;
            int res;
            uint32_t flags;
        } batch[DISPATCH_BATCH];
        unsigned n = io_uring_peek_batch_cqe(&l->ring, cqes, DISPATCH_BATCH);
        if (n == 0)
            return total;
        for (unsigned i = 0; i < n; i++) {
            batch[i].ud = cqes[i]->user_data;
            batch[i].res = cqes[i]->res;
            batch[i].flags = cqes[i]->flags;
        }
        io_uring_cq_advance(&l->ring, n);
        for (unsigned i = 0; i < n; i++)
            dispatch_one(l, batch[i].ud, batch[i].res, batch[i].flags);
        total += (int)n;
    }
}

static int submit_and_wait(struct loop *l, int64_t timeout_ns)
{
    bool may_block = timeout_ns != 0;
    if (may_block && l->before_wait && !l->before_wait(l, l->before_wait_arg))
        may_block = false;
    if (l->stop)
        may_block = false; /* the hook may have stopped the loop */
    if (!may_block)
        return io_uring_submit_and_get_events(&l->ring);
    if (timeout_ns < 0)
        return io_uring_submit_and_wait(&l->ring, 1);
    struct __kernel_timespec ts = {.tv_sec = timeout_ns / 1000000000,
                                   .tv_nsec = timeout_ns % 1000000000};
    struct io_uring_cqe *cqe;
    return io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts, NULL);
}

int loop_run_once(struct loop *l, int64_t timeout_ns)
{
    int64_t t0 = clock_mono_ns();
    counter_add(&l->busy_ns, (uint64_t)(t0 - l->t_resumed_ns));
    int rc = submit_and_wait(l, timeout_ns);
    l->t_resumed_ns = clock_mono_ns();
    counter_add(&l->iterations, 1);
    if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EAGAIN && rc != -EBUSY)
        return rc;
    return dispatch(l);
}

void loop_run(struct loop *l)
{
    l->stop = false;
    while (!l->stop) {
        int rc = loop_run_once(l, -1);
        if (rc < 0)
            PANIC("BUG: io_uring wait failed: %s", strerror(-rc));
    }
}

void loop_stop(struct loop *l)
{
    l->stop = true;
}

void loop_wake(struct loop *l)
{
    uint64_t one = 1;
    ssize_t n = write(l->wake_fd, &one, sizeof one);
    (void)n; /* EAGAIN means the counter is saturated: a wake-up is pending anyway */
}

void loop_set_wake_fn(struct loop *l, loop_fn fn, void *arg)
{
    l->wake_fn = fn;
    l->wake_arg = arg;
}

void loop_set_before_wait(struct loop *l, loop_before_wait_fn fn, void *arg)
{
    l->before_wait = fn;
    l->before_wait_arg = arg;
}

int loop_tag_register(struct loop *l, uint64_t value, uint64_t mask, loop_tag_fn fn, void *arg)
{
    ASSERT(value != 0 && (value & mask) == value && fn);
    if (l->ntags >= LOOP_TAGS_MAX)
        return ERR_FULL;
    l->tags[l->ntags].value = value;
    l->tags[l->ntags].mask = mask;
    l->tags[l->ntags].fn = fn;
    l->tags[l->ntags].arg = arg;
    l->ntags++;
    return 0;
}
