/* The N-shard query world of the fan-out tests (test_query_log.c, test_api_prom_fanout.c): real
 * query shards over a real mesh with real query threads, every shard's loop turn driven by the
 * test thread. Each test keeps its own world (its fake stores, ingest shards) and hands these
 * helpers the shared parts: the mesh, the query shards, which shards are asleep (their turns
 * skipped; NULL: none) and a predicate telling when a shard's fake store has nothing open. Include
 * after cmocka.h. */
#ifndef STRATA_TESTS_UNIT_SERVER_QUERY_WORLD_H
#define STRATA_TESTS_UNIT_SERVER_QUERY_WORLD_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/clock.h"
#include "engine/shard/mesh.h"
#include "server/query.h"

struct query_world_view {
    struct mesh *mesh;
    struct query_shard **q; /* [n] */
    uint32_t n;
    const bool *asleep;                   /* [n] or NULL */
    bool (*quiet)(void *arg, uint32_t i); /* shard i's store has nothing open; NULL: always */
    void *arg;
};

/* Creates the mesh and n query shards with cfg (no wake-up: the test turns the loops). */
static inline void query_world_create(uint32_t n, const struct query_config *cfg,
                                      struct mesh **mesh, struct query_shard **q)
{
    assert_int_equal(mesh_create(n, 16, mesh), 0);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(query_shard_create(cfg, i, n, *mesh, NULL, NULL, &q[i]), 0);
}

/* One loop turn of every shard awake: its messages, its query poll, its mesh flush. */
static inline void query_world_turn(const struct query_world_view *w)
{
    for (uint32_t i = 0; i < w->n; i++) {
        if (w->asleep && w->asleep[i])
            continue;
        struct mesh_msg *msgs[64];
        uint32_t k = mesh_poll(w->mesh, i, msgs, 64);
        for (uint32_t j = 0; j < k; j++)
            assert_true(query_on_message(w->q[i], msgs[j]));
        query_shard_poll(w->q[i]);
        mesh_flush(w->mesh, i);
    }
}

static inline bool query_world_idle(const struct query_world_view *w)
{
    for (uint32_t i = 0; i < w->n; i++)
        if (!query_shard_idle(w->q[i]) || (w->quiet && !w->quiet(w->arg, i)))
            return false;
    return true;
}

/* Turns until *flag, then until every shard is idle again (at most ~20 s). */
static inline void query_world_run(const struct query_world_view *w, const _Atomic bool *flag)
{
    int64_t end = clock_mono_ns() + 20000000000LL;
    while (!atomic_load(flag) && clock_mono_ns() < end) {
        query_world_turn(w);
        sched_yield();
    }
    assert_true(atomic_load(flag));
    while (!query_world_idle(w) && clock_mono_ns() < end) {
        query_world_turn(w);
        sched_yield();
    }
    assert_true(query_world_idle(w));
}

/* Destroys the query shards, then the mesh. */
static inline void query_world_destroy(struct mesh *mesh, struct query_shard **q, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        query_shard_destroy(q[i]);
    mesh_destroy(mesh);
}

#endif
