/* The N-shard world of the push pipeline unit tests (test_ingest.c, test_loki_push.c): N shards
 * of one pipeline driven on one thread over a real mesh, with fake stores whose appends become
 * durable only when the world says so (deferred durability, as a WAL group commit does). A test
 * supplies the pipeline's entry points (struct push_world_ops) and its fakes queue their commit
 * callbacks on the world's per-shard struct push_pending. Header only: each test is its own
 * executable. */
#ifndef STRATA_TESTS_UNIT_SERVER_PUSH_FIXTURE_H
#define STRATA_TESTS_UNIT_SERVER_PUSH_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "engine/shard/mesh.h"

#define PUSH_NS_MAX   4
#define PUSH_PEND_MAX 256

/* Commit callbacks of appends not yet durable (tsdb_commit_fn / logstore_commit_fn). */
struct push_pending {
    struct {
        void (*cb)(void *arg, int result);
        void *arg;
    } item[PUSH_PEND_MAX];
    uint32_t n;
};

static inline void push_pending_add(struct push_pending *p, void (*cb)(void *arg, int result),
                                    void *arg)
{
    assert_true(p->n < PUSH_PEND_MAX);
    p->item[p->n].cb = cb;
    p->item[p->n].arg = arg;
    p->n++;
}

/* Makes everything appended so far durable. */
static inline void push_pending_sync(struct push_pending *p)
{
    uint32_t n = p->n;
    p->n = 0;
    for (uint32_t i = 0; i < n; i++)
        p->item[i].cb(p->item[i].arg, 0);
}

struct push_world;

/* The pipeline's shard entry points (wrappers over its typed functions: PUSH_WORLD_OPS). */
struct push_world_ops {
    /* Creates shard i of w->n over w->mesh with the pipeline config cfg and attaches its fake
     * store (queueing on w->pending[i]); returns the shard. */
    void *(*create)(struct push_world *w, uint32_t i, const void *cfg);
    bool (*on_message)(void *shard, struct mesh_msg *msg);
    bool (*poll)(void *shard, int64_t now_ns);
    bool (*idle)(void *shard);
    void (*destroy)(void *shard);
};

/* Defines `name`, a struct push_world_ops over a pipeline's functions taking a `type *`. */
#define PUSH_WORLD_OPS(name, type, create_fn, on_message_fn, poll_fn, idle_fn, destroy_fn)         \
    static bool name##_on_message(void *s, struct mesh_msg *m)                                     \
    {                                                                                              \
        return on_message_fn((type *)s, m);                                                        \
    }                                                                                              \
    static bool name##_poll(void *s, int64_t now_ns)                                               \
    {                                                                                              \
        return poll_fn((type *)s, now_ns);                                                         \
    }                                                                                              \
    static bool name##_idle(void *s)                                                               \
    {                                                                                              \
        return idle_fn((const type *)s);                                                           \
    }                                                                                              \
    static void name##_destroy(void *s)                                                            \
    {                                                                                              \
        destroy_fn((type *)s);                                                                     \
    }                                                                                              \
    static const struct push_world_ops name = {create_fn, name##_on_message, name##_poll,          \
                                               name##_idle, name##_destroy}

/* Defines struct outcome (how often done ran, the last reply) and its done callback on_done for a
 * pipeline whose reply is a `reply_type`. */
#define PUSH_OUTCOME(reply_type)                                                                   \
    struct outcome {                                                                               \
        int calls;                                                                                 \
        reply_type reply;                                                                          \
    };                                                                                             \
    static void on_done(void *arg, const reply_type *y)                                            \
    {                                                                                              \
        struct outcome *o = arg;                                                                   \
        o->calls++;                                                                                \
        o->reply = *y;                                                                             \
    }                                                                                              \
    /* How many of o[0..n) were answered; each answered one must be 503 + Retry-After 1. */        \
    static int outcomes_503(const struct outcome *o, int n)                                        \
    {                                                                                              \
        int k = 0;                                                                                 \
        for (int i = 0; i < n; i++) {                                                              \
            if (!o[i].calls)                                                                       \
                continue;                                                                          \
            assert_int_equal(o[i].reply.status, 503);                                              \
            assert_int_equal(o[i].reply.retry_after_s, 1);                                         \
            k++;                                                                                   \
        }                                                                                          \
        return k;                                                                                  \
    }

/* An owner store's refusal and how push dispatch answers it (the same for every pipeline). */
struct push_refusal {
    int rc;
    int status;
    const char *text; /* in the answer */
};

static const struct push_refusal push_refusals[] = {
    {ERR_FULL, 503, "overloaded"},      {-ENOSPC, 503, "disk space is low"},
    {ERR_CLOSED, 503, "shutting down"}, {ERR_LIMIT, 413, "too large"},
    {ERR_NOMEM, 500, "internal error"},
};
#define PUSH_REFUSALS (sizeof push_refusals / sizeof push_refusals[0])

struct push_world {
    const struct push_world_ops *ops;
    uint32_t n;
    struct mesh *mesh;
    void *shard[PUSH_NS_MAX];                 /* ops->create's */
    struct push_pending pending[PUSH_NS_MAX]; /* per shard's store */
    bool asleep[PUSH_NS_MAX];                 /* does not poll its mesh lanes */
    bool no_sync;                             /* stores do not become durable */
    int64_t skew_ns;                          /* added to the monotonic clock */
};

/* A mesh of n shards with lanes of lane_cap messages, and the n shards (ops->create). */
static inline void push_world_init(struct push_world *w, const struct push_world_ops *ops,
                                   uint32_t n, uint32_t lane_cap, const void *cfg)
{
    assert_true(n >= 1 && n <= PUSH_NS_MAX);
    memset(w, 0, sizeof *w);
    w->ops = ops;
    w->n = n;
    assert_int_equal(mesh_create(n, lane_cap, &w->mesh), 0);
    for (uint32_t i = 0; i < n; i++)
        w->shard[i] = ops->create(w, i, cfg);
}

/* Every shard must be idle: nothing in flight, nothing waiting for durability. */
static inline void push_world_deinit(struct push_world *w)
{
    for (uint32_t i = 0; i < w->n; i++) {
        assert_true(w->ops->idle(w->shard[i]));
        w->ops->destroy(w->shard[i]);
    }
    mesh_destroy(w->mesh);
}

/* One loop turn of every shard: take mesh messages, make stores durable, poll, flush. */
static inline void push_world_turn(struct push_world *w)
{
    for (uint32_t i = 0; i < w->n; i++) {
        if (w->asleep[i])
            continue;
        struct mesh_msg *msgs[64];
        uint32_t k = mesh_poll(w->mesh, i, msgs, 64);
        for (uint32_t j = 0; j < k; j++)
            assert_true(w->ops->on_message(w->shard[i], msgs[j]));
    }
    for (uint32_t i = 0; i < w->n && !w->no_sync; i++)
        push_pending_sync(&w->pending[i]);
    for (uint32_t i = 0; i < w->n; i++) {
        w->ops->poll(w->shard[i], clock_mono_ns() + w->skew_ns);
        mesh_flush(w->mesh, i);
    }
}

/* A turn, the clock moved past a 1 s mesh_full_timeout_ns, another turn: parts that found no mesh
 * room come back refused. */
static inline void push_world_time_out(struct push_world *w)
{
    push_world_turn(w);
    w->skew_ns += 2000000000LL;
    push_world_turn(w);
}

/* Turns until *calls reaches want (at most 50 turns); asserts it did. */
static inline void push_world_run(struct push_world *w, const int *calls, int want)
{
    for (int turn = 0; turn < 50 && *calls < want; turn++)
        push_world_turn(w);
    assert_int_equal(*calls, want);
}

#endif
