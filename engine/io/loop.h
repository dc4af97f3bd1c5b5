/* A thin per-shard io_uring event loop (liburing). One loop per thread; everything here runs on the
 * owning thread except loop_wake() and the relaxed reads of the counters.
 *
 * Completion dispatch: callers embed a `struct loop_op` in their own objects and pass it when they
 * queue an operation; its address is the SQE's user_data and the completion calls op->fn(loop, op,
 * res, cqe_flags) (res: the CQE result, >= 0 or -errno; cqe_flags: IORING_CQE_F_MORE for multishot
 * ops that stay armed). A callback may free the object holding the op, queue new operations, or
 * stop the loop. user_data 0 marks fire-and-forget operations (close, cancel) whose completions are
 * dropped. A few fixed tags (values other than op addresses, e.g. the mesh's MSG_RING wake-up tag)
 * can be registered with loop_tag_register; their CQEs go to the tag's function.
 *
 * Submission batching: loop_sqe() only fills the submission queue (submitting early when it is
 * full); everything queued during an iteration is submitted by one io_uring_submit_and_wait at its
 * end. Pointers handed to an operation (buffers, timespecs) must stay valid until its completion.
 *
 * Busy time: the loop counts the nanoseconds it does not spend blocked in the ring wait
 * (loop_busy_ns), for the per-shard busy-seconds metric.
 *
 * Errors: loop_init returns -errno when io_uring cannot be set up (ENOSYS: kernel without io_uring;
 * EPERM: io_uring_disabled sysctl or seccomp; ENOMEM: locked-memory limits). */
#ifndef STRATA_ENGINE_IO_LOOP_H
#define STRATA_ENGINE_IO_LOOP_H

#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct loop_op;

typedef void (*loop_fn)(struct loop *l, struct loop_op *op, int res, uint32_t cqe_flags);
typedef void (*loop_tag_fn)(struct loop *l, uint64_t user_data, int res, uint32_t cqe_flags,
                            void *arg);
/* Called once per iteration before the loop blocks; returns false when it must not block (work
 * arrived meanwhile, e.g. mesh_prepare_sleep said so). */
typedef bool (*loop_before_wait_fn)(struct loop *l, void *arg);

struct loop_op {
    loop_fn fn;
};

/* A one-shot relative timer (IORING_OP_TIMEOUT). Set `fn` once; it is called with res = -ETIME when
 * the timer fires and -ECANCELED after loop_timer_cancel. `armed` is true from arm to completion.
 */
struct loop_timer {
    struct loop_op op; /* internal */
    loop_fn fn;
    struct __kernel_timespec ts;
    bool armed;
};

#define LOOP_TAGS_MAX 4

struct loop_config {
    uint32_t sq_entries;   /* 0: 1024 */
    bool no_defer_taskrun; /* skip IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN even when available */
};

struct loop {
    struct io_uring ring;
    bool stop;
    bool in_wait;
    uint32_t setup_flags; /* the IORING_SETUP_* flags the ring got */
    int wake_fd;          /* eventfd for loop_wake */
    uint64_t wake_val;
    struct loop_op wake_op;
    loop_fn wake_fn;
    void *wake_arg;
    loop_before_wait_fn before_wait;
    void *before_wait_arg;
    struct {
        uint64_t value;
        uint64_t mask;
        loop_tag_fn fn;
        void *arg;
    } tags[LOOP_TAGS_MAX];
    uint32_t ntags;
    int64_t t_resumed_ns;        /* when the last wait returned */
    _Atomic uint64_t busy_ns;    /* written by the owner only (relaxed); read by anyone */
    _Atomic uint64_t iterations; /* idem */
};

/* Sets up the ring (tries SINGLE_ISSUER|DEFER_TASKRUN first, then plain) and the wake eventfd.
 * Must be called on the thread that will run the loop. Returns 0 or -errno. */
int loop_init(struct loop *l, const struct loop_config *cfg);
void loop_deinit(struct loop *l);

/* Start-up probe: can this process use io_uring with what the server needs (accept, recv, send,
 * timeouts, cancel, read)? Returns 0, or -errno with a human explanation in why[]. */
int loop_probe(char *why, size_t why_size);

/* A submission entry with user_data = op (NULL: fire-and-forget). Never fails: submits the queue
 * first when it is full. */
struct io_uring_sqe *loop_sqe(struct loop *l, struct loop_op *op);

/* Convenience preparers; all completions go to op->fn. */
void loop_accept(struct loop *l, struct loop_op *op, int fd, bool multishot);
void loop_recv(struct loop *l, struct loop_op *op, int fd, void *buf, size_t n);
void loop_send(struct loop *l, struct loop_op *op, int fd, const void *buf, size_t n);
void loop_read(struct loop *l, struct loop_op *op, int fd, void *buf, size_t n);
/* Fire-and-forget close of fd. */
void loop_close(struct loop *l, int fd);
/* Fire-and-forget cancellation of every pending operation whose op is `target`. */
void loop_cancel(struct loop *l, struct loop_op *target);
/* Arms t to fire after ns nanoseconds; t->fn must be set and t not armed. */
void loop_timer_arm(struct loop *l, struct loop_timer *t, int64_t ns);
/* Cancels an armed timer (its fn still runs, with -ECANCELED). No-op when not armed. */
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

/* Runs one iteration: submits, blocks until at least one completion (unless before_wait said no, or
 * timeout_ns >= 0 elapsed: 0 = don't block), dispatches every completion. Returns the number of
 * completions dispatched or -errno. */
int loop_run_once(struct loop *l, int64_t timeout_ns);
/* Runs until loop_stop() is called from a callback on this loop. */
void loop_run(struct loop *l);
void loop_stop(struct loop *l);

/* Any thread: wakes the loop; fn(l, &l->wake_op, 8, 0) then runs on the loop thread. Coalesces. */
void loop_wake(struct loop *l);
void loop_set_wake_fn(struct loop *l, loop_fn fn, void *arg);
static inline void *loop_wake_arg(const struct loop *l)
{
    return l->wake_arg;
}
void loop_set_before_wait(struct loop *l, loop_before_wait_fn fn, void *arg);
/* Routes CQEs whose (user_data & mask) == value to fn. Returns 0 or ERR_FULL. */
int loop_tag_register(struct loop *l, uint64_t value, uint64_t mask, loop_tag_fn fn, void *arg);

/* Counters, readable from any thread (relaxed loads). */
static inline uint64_t loop_busy_ns(struct loop *l)
{
    return atomic_load_explicit(&l->busy_ns, memory_order_relaxed);
}
static inline uint64_t loop_iterations(struct loop *l)
{
    return atomic_load_explicit(&l->iterations, memory_order_relaxed);
}
static inline struct io_uring *loop_ring(struct loop *l)
{
    return &l->ring;
}

#endif
