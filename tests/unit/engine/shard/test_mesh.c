/* mesh: single-thread semantics (batching, FIFO per lane, backpressure, round-robin polling, reply,
 * reply_with/release and the return-path backlog), a randomized model check, the sleep/wake
 * protocol on real io_urings (MSG_RING and eventfd). The multi-thread storm is in
 * test_mesh_storm.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/shard/mesh.h"
#include "tests/unit/prop.h"

struct tmsg {
    struct mesh_msg hdr; /* first: a struct mesh_msg * converts back to the whole message */
    uint32_t seq;
    uint32_t src;
};

static struct tmsg *tmsg_new(uint32_t owner, uint32_t type, uint32_t seq)
{
    struct tmsg *t = calloc(1, sizeof *t);
    assert_non_null(t);
    mesh_msg_init(&t->hdr, type, owner);
    t->seq = seq;
    t->src = owner;
    return t;
}

static struct tmsg *as_tmsg(struct mesh_msg *m)
{
    return (struct tmsg *)m;
}

static struct mesh *mk(uint32_t n, uint32_t cap, uint32_t flags)
{
    struct mesh *m = NULL;
    assert_int_equal(mesh_create_flags(n, cap, flags, &m), 0);
    assert_non_null(m);
    return m;
}

static void test_create_invalid(void **state)
{
    struct mesh *m = (struct mesh *)1;
    assert_int_equal(mesh_create(0, 8, &m), ERR_INVALID);
    assert_null(m);
    assert_int_equal(mesh_create(MESH_SHARDS_MAX + 1, 8, &m), ERR_INVALID);
    assert_int_equal(mesh_create(2, 0, &m), ERR_INVALID);
    assert_int_equal(mesh_create(2, 1, &m), ERR_INVALID);
    assert_int_equal(mesh_create(2, 12, &m), ERR_INVALID);
    assert_int_equal(mesh_create(2, MESH_CAPACITY_MAX * 2, &m), ERR_INVALID);
    mesh_destroy(NULL);
    assert_int_equal(mesh_create(1, 2, &m), 0);
    assert_int_equal(mesh_nshards(m), 1);
    mesh_destroy(m);
    m = mk(3, 4, MESH_CREATE_FORCE_EVENTFD);
    assert_int_equal(mesh_wake_mode(m), MESH_WAKE_EVENTFD);
    assert_string_equal(mesh_wake_mode_str(mesh_wake_mode(m)), "eventfd");
    mesh_destroy(m);
}

static void test_tags(void **state)
{
    assert_true(mesh_tag_is(MESH_TAG_WAKE | 5));
    assert_true(mesh_tag_is(MESH_TAG_EVFD));
    assert_false(mesh_tag_is(0));
    assert_false(mesh_tag_is(0x00007fffffffffffull)); /* any user-space pointer */
    assert_false(mesh_tag_is(42));
}

/* Sends are invisible until flushed, arrive in order with from/to set. */
static void test_send_flush_poll(void **state)
{
    struct mesh *m = mk(3, 8, 0);
    struct tmsg *t[5];
    struct mesh_msg *out[8];
    for (uint32_t i = 0; i < 5; i++) {
        t[i] = tmsg_new(0, 7, i);
        assert_int_equal(mesh_send(m, 0, 1, &t[i]->hdr), 0);
    }
    assert_false(mesh_flushed(m, 0));
    assert_int_equal(mesh_poll(m, 1, out, 8), 0);
    assert_int_equal(mesh_flush(m, 0), 5);
    assert_true(mesh_flushed(m, 0));
    assert_int_equal(mesh_flush(m, 0), 0);
    assert_int_equal(mesh_poll(m, 2, out, 8), 0); /* other destinations see nothing */
    assert_int_equal(mesh_poll(m, 1, out, 3), 3);
    assert_int_equal(mesh_poll(m, 1, out + 3, 8), 2);
    for (uint32_t i = 0; i < 5; i++) {
        assert_ptr_equal(out[i], &t[i]->hdr);
        assert_int_equal(out[i]->from, 0);
        assert_int_equal(out[i]->to, 1);
        assert_int_equal(out[i]->owner, 0);
        assert_int_equal(out[i]->type, 7);
        assert_int_equal(out[i]->flags, 0);
        free(t[i]);
    }
    struct mesh_stats st;
    mesh_stats_get(m, 0, &st);
    assert_int_equal(st.sent, 5);
    assert_int_equal(st.flushes, 1);
    mesh_stats_get(m, 1, &st);
    assert_int_equal(st.received, 5);
    mesh_destroy(m);
}

/* A lane holds `capacity` messages, staged or published; ERR_FULL until the consumer frees room. */
static void test_backpressure(void **state)
{
    struct mesh *m = mk(2, 4, 0);
    struct tmsg *t[6];
    for (uint32_t i = 0; i < 6; i++)
        t[i] = tmsg_new(0, 1, i);
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(mesh_send(m, 0, 1, &t[i]->hdr), 0);
    assert_int_equal(mesh_send(m, 0, 1, &t[4]->hdr), ERR_FULL);
    assert_int_equal(mesh_flush(m, 0), 4);
    assert_int_equal(mesh_send(m, 0, 1, &t[4]->hdr), ERR_FULL);
    assert_int_equal(mesh_send(m, 0, 0, &t[4]->hdr), 0); /* other lanes are unaffected */
    struct mesh_msg *out[4];
    assert_int_equal(mesh_poll(m, 1, out, 1), 1);
    assert_ptr_equal(out[0], &t[0]->hdr);
    assert_int_equal(mesh_send(m, 0, 1, &t[5]->hdr), 0);
    assert_int_equal(mesh_send(m, 0, 1, &t[5]->hdr), ERR_FULL);
    mesh_flush(m, 0);
    assert_int_equal(mesh_poll(m, 1, out, 4), 4);
    assert_ptr_equal(out[3], &t[5]->hdr);
    assert_int_equal(mesh_poll(m, 0, out, 4), 1); /* the self lane */
    assert_ptr_equal(out[0], &t[4]->hdr);
    struct mesh_stats st;
    mesh_stats_get(m, 0, &st);
    assert_int_equal(st.full, 3);
    for (uint32_t i = 0; i < 6; i++)
        free(t[i]);
    mesh_destroy(m);
}

/* Every non-empty source gets its share of max, and the starting source rotates. */
static void test_round_robin(void **state)
{
    struct mesh *m = mk(4, 64, 0);
    struct tmsg *all[60];
    for (uint32_t s = 0; s < 3; s++) {
        for (uint32_t i = 0; i < 20; i++) {
            all[s * 20 + i] = tmsg_new(s, 0, i);
            assert_int_equal(mesh_send(m, s, 3, &all[s * 20 + i]->hdr), 0);
        }
        mesh_flush(m, s);
    }
    struct mesh_msg *out[64];
    assert_int_equal(mesh_poll(m, 3, out, 8), 8); /* share = 8/4 = 2 each, then fill */
    uint32_t per[3] = {0};
    for (uint32_t i = 0; i < 8; i++)
        per[out[i]->from]++;
    assert_true(per[0] >= 2 && per[1] >= 2 && per[2] >= 2);
    /* max < sources: consecutive polls serve different sources */
    uint32_t seen = 0;
    for (uint32_t k = 0; k < 4; k++) {
        assert_int_equal(mesh_poll(m, 3, out, 1), 1);
        seen |= 1u << out[0]->from;
    }
    assert_int_equal(seen, 7);
    /* drain; per-source order holds across calls */
    uint32_t next[3] = {0};
    mesh_destroy(m);
    m = mk(4, 64, 0);
    for (uint32_t s = 0; s < 3; s++) {
        for (uint32_t i = 0; i < 20; i++)
            assert_int_equal(mesh_send(m, s, 3, &all[s * 20 + i]->hdr), 0);
        mesh_flush(m, s);
    }
    uint32_t total = 0, k;
    while ((k = mesh_poll(m, 3, out, 7)) > 0) {
        for (uint32_t i = 0; i < k; i++) {
            struct tmsg *t = as_tmsg(out[i]);
            assert_int_equal(t->seq, next[t->src]++);
        }
        total += k;
    }
    assert_int_equal(total, 60);
    for (uint32_t i = 0; i < 60; i++)
        free(all[i]);
    mesh_destroy(m);
}

static void test_reply_in_place(void **state)
{
    struct mesh *m = mk(2, 4, 0);
    struct tmsg *req = tmsg_new(0, 3, 11);
    struct mesh_msg *out[2];
    assert_int_equal(mesh_send(m, 0, 1, &req->hdr), 0);
    mesh_flush(m, 0);
    assert_int_equal(mesh_poll(m, 1, out, 2), 1);
    as_tmsg(out[0])->seq = 99; /* the "result", written by the handler */
    mesh_reply(m, 1, out[0]);
    assert_int_equal(mesh_poll(m, 0, out, 2), 0);
    mesh_flush(m, 1);
    assert_int_equal(mesh_poll(m, 0, out, 2), 1);
    assert_ptr_equal(out[0], &req->hdr);
    assert_int_equal(out[0]->flags, MESH_MSG_REPLY);
    assert_ptr_equal(out[0]->reply_to, out[0]);
    assert_int_equal(out[0]->from, 1);
    assert_int_equal(out[0]->to, 0);
    assert_int_equal(out[0]->owner, 0);
    assert_int_equal(req->seq, 99);
    free(req);
    mesh_destroy(m);
}

static void test_reply_with_release(void **state)
{
    struct mesh *m = mk(3, 4, 0);
    struct tmsg *req = tmsg_new(2, 3, 1);
    struct mesh_msg *out[2];
    assert_int_equal(mesh_send(m, 2, 0, &req->hdr), 0);
    mesh_flush(m, 2);
    assert_int_equal(mesh_poll(m, 0, out, 2), 1);
    struct tmsg *rep = tmsg_new(0, 4, 2);
    mesh_reply_with(m, 0, out[0], &rep->hdr);
    mesh_flush(m, 0);
    assert_int_equal(mesh_poll(m, 2, out, 2), 1);
    assert_ptr_equal(out[0], &rep->hdr);
    assert_int_equal(out[0]->flags, MESH_MSG_REPLY);
    assert_ptr_equal(out[0]->reply_to, &req->hdr);
    assert_int_equal(out[0]->owner, 0);
    free(req);                  /* the requester frees its own request ... */
    mesh_release(m, 2, out[0]); /* ... and hands the reply back to its owner */
    mesh_flush(m, 2);
    assert_int_equal(mesh_poll(m, 1, out, 2), 0);
    assert_int_equal(mesh_poll(m, 0, out, 2), 1);
    assert_ptr_equal(out[0], &rep->hdr);
    assert_true(out[0]->flags & MESH_MSG_RELEASE);
    assert_int_equal(out[0]->from, 2);
    free(rep);
    mesh_destroy(m);
}

/* Return paths never fail: a full lane parks them, mesh_send queues behind them, order holds. */
static void test_backlog(void **state)
{
    struct mesh *m = mk(2, 4, 0);
    struct tmsg *a[4], *b[4];
    struct mesh_msg *out[8];
    for (uint32_t i = 0; i < 4; i++) {
        a[i] = tmsg_new(0, 1, i);
        assert_int_equal(mesh_send(m, 0, 1, &a[i]->hdr), 0);
    }
    mesh_flush(m, 0);
    assert_int_equal(mesh_poll(m, 1, out, 8), 4);
    for (uint32_t i = 0; i < 4; i++) { /* shard 1 fills its lane to 0 with its own requests */
        b[i] = tmsg_new(1, 2, i);
        assert_int_equal(mesh_send(m, 1, 0, &b[i]->hdr), 0);
    }
    for (uint32_t i = 0; i < 4; i++)
        mesh_reply(m, 1, out[i]); /* all four park */
    struct tmsg *extra = tmsg_new(1, 2, 4);
    assert_int_equal(mesh_send(m, 1, 0, &extra->hdr), ERR_FULL);
    assert_int_equal(mesh_flush(m, 1), 4);
    assert_false(mesh_flushed(m, 1));
    struct mesh_stats st;
    mesh_stats_get(m, 1, &st);
    assert_int_equal(st.backlogged, 4);
    assert_int_equal(mesh_poll(m, 0, out, 2), 2); /* room for two parked replies */
    assert_ptr_equal(out[0], &b[0]->hdr);
    assert_int_equal(mesh_send(m, 1, 0, &extra->hdr), ERR_FULL); /* still behind the backlog */
    assert_int_equal(mesh_flush(m, 1), 2);
    assert_int_equal(mesh_poll(m, 0, out, 8), 4);
    assert_ptr_equal(out[0], &b[2]->hdr);
    assert_ptr_equal(out[1], &b[3]->hdr);
    assert_ptr_equal(out[2], &a[0]->hdr);
    assert_ptr_equal(out[3], &a[1]->hdr);
    assert_true(out[2]->flags & MESH_MSG_REPLY);
    assert_int_equal(mesh_flush(m, 1), 2);
    assert_true(mesh_flushed(m, 1));
    assert_int_equal(mesh_send(m, 1, 0, &extra->hdr), 0);
    mesh_flush(m, 1);
    assert_int_equal(mesh_poll(m, 0, out, 8), 3);
    assert_ptr_equal(out[0], &a[2]->hdr);
    assert_ptr_equal(out[1], &a[3]->hdr);
    assert_ptr_equal(out[2], &extra->hdr);
    for (uint32_t i = 0; i < 4; i++) {
        free(a[i]);
        free(b[i]);
    }
    free(extra);
    mesh_destroy(m);
}

/* Random operations against a model: per-lane FIFO, exactly-once delivery, replies come home. */
static void test_random_model(void **state)
{
    struct prop p = prop_begin("mesh_random_model");
    enum { N = 3, CAP = 4, OPS = 20000 };
    struct mesh *m = mk(N, CAP, 0);
    uint32_t next_send[N][N] = {{0}}, next_recv[N][N] = {{0}}, next_reply[N][N] = {{0}};
    struct tmsg *held[N] = {0}; /* a refused message is kept and retried, never lost */
    uint32_t live = 0;
    for (int op = 0; op < OPS * 2; op++) {
        uint32_t s = (uint32_t)(prop_next(&p) % N), d = (uint32_t)(prop_next(&p) % N);
        bool draining = op >= OPS;
        uint64_t r = prop_next(&p) % 4;
        if (r == 0 && !draining) {
            struct tmsg *t = held[s] ? held[s] : tmsg_new(s, d, next_send[s][d]);
            if (!held[s]) {
                next_send[s][d]++;
                live++;
            }
            held[s] = mesh_send(m, s, t->hdr.type, &t->hdr) == 0 ? NULL : t;
        } else if (r == 1) {
            mesh_flush(m, s);
        } else {
            struct mesh_msg *out[5];
            uint32_t k = mesh_poll(m, s, out, 1 + (uint32_t)(prop_next(&p) % 5));
            for (uint32_t i = 0; i < k; i++) {
                struct tmsg *t = as_tmsg(out[i]);
                prop_check(&p, out[i]->to == s);
                if (out[i]->flags & MESH_MSG_REPLY) {
                    prop_check(&p, t->src == s && out[i]->owner == s);
                    prop_check(&p, t->seq == next_reply[s][out[i]->from]++);
                    free(t);
                    live--;
                } else {
                    prop_check(&p, t->seq == next_recv[t->src][s]++);
                    mesh_reply(m, s, out[i]);
                }
            }
        }
        if (draining && held[s]) { /* keep retrying held messages to the end */
            if (mesh_send(m, s, held[s]->hdr.type, &held[s]->hdr) == 0)
                held[s] = NULL;
        }
    }
    for (int round = 0; round < 100 && live; round++) {
        for (uint32_t s = 0; s < N; s++) {
            if (held[s] && mesh_send(m, s, held[s]->hdr.type, &held[s]->hdr) == 0)
                held[s] = NULL;
            mesh_flush(m, s);
            struct mesh_msg *out[8];
            uint32_t k = mesh_poll(m, s, out, 8);
            for (uint32_t i = 0; i < k; i++) {
                if (out[i]->flags & MESH_MSG_REPLY) {
                    prop_check(&p, as_tmsg(out[i])->seq == next_reply[s][out[i]->from]++);
                    free(out[i]);
                    live--;
                } else {
                    prop_check(&p, as_tmsg(out[i])->seq == next_recv[out[i]->from][s]++);
                    mesh_reply(m, s, out[i]);
                }
            }
        }
    }
    prop_check(&p, live == 0);
    for (uint32_t s = 0; s < N; s++)
        for (uint32_t d = 0; d < N; d++) {
            prop_check(&p, next_recv[s][d] == next_send[s][d]);
            prop_check(&p, next_reply[s][d] == next_send[s][d]);
        }
    mesh_destroy(m);
}

/* ---- sleep / wake on real rings (one thread drives both shards) ---- */

static int ring_init_or_skip(struct io_uring *r)
{
    int rc = io_uring_queue_init(64, r, 0);
    if (rc < 0)
        fprintf(stderr, "io_uring_queue_init: %s (skipping)\n", strerror(-rc));
    return rc;
}

/* Submits pending SQEs and collects mesh CQEs on r for up to wait_ms; returns how many wake CQEs.
 */
static int reap(struct mesh *m, uint32_t self, struct io_uring *r, int wait_ms)
{
    io_uring_submit(r);
    int wakes = 0;
    struct io_uring_cqe *cqe;
    struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = (long long)wait_ms * 1000000};
    if (wait_ms && io_uring_wait_cqe_timeout(r, &cqe, &ts) != 0)
        return 0;
    while (io_uring_peek_cqe(r, &cqe) == 0) {
        assert_true(mesh_cqe(m, self, cqe));
        uint64_t kind = cqe->user_data & (MESH_TAG_MASK | MESH_TAG_KIND_MASK);
        wakes += kind == MESH_TAG_WAKE || kind == MESH_TAG_EVFD;
        io_uring_cqe_seen(r, cqe);
        io_uring_submit(r); /* eventfd mode re-arms the read */
    }
    return wakes;
}

static void wake_protocol(uint32_t flags)
{
    struct io_uring r0, r1;
    if (ring_init_or_skip(&r0) < 0)
        skip();
    assert_int_equal(ring_init_or_skip(&r1), 0);
    struct mesh *m = mk(2, 2, flags);
    assert_int_equal(mesh_attach(m, 0, &r0), 0);
    assert_int_equal(mesh_attach(m, 1, &r1), 0);
    struct io_uring_cqe fake = {.user_data = 0x1234, .res = 0};
    assert_false(mesh_cqe(m, 0, &fake)); /* the loop's own CQEs pass through */
    assert_false(mesh_on_tag(m, 0, 0x1234, 0));
    struct mesh_stats st0, st1;
    mesh_stats_get(m, 0, &st0);
    assert_true(mesh_on_tag(m, 0, MESH_TAG_WAKE | 1, 0)); /* what a loop's tag callback does */
    assert_true(mesh_on_tag(m, 0, MESH_TAG_SENT | 1, -EOVERFLOW)); /* failed wake: ignored */
    mesh_stats_get(m, 0, &st1);
    assert_int_equal(st1.wakes_seen, st0.wakes_seen + 1);
    struct tmsg *t[3];
    struct mesh_msg *out[4];
    for (int i = 0; i < 3; i++)
        t[i] = tmsg_new(0, 0, (uint32_t)i);

    /* 1 sleeps; a flush from 0 wakes it with a tagged CQE */
    assert_true(mesh_prepare_sleep(m, 1));
    assert_int_equal(reap(m, 1, &r1, 0), 0);
    assert_int_equal(mesh_send(m, 0, 1, &t[0]->hdr), 0);
    assert_int_equal(reap(m, 1, &r1, 0), 0); /* staged only: no wake yet */
    mesh_flush(m, 0);
    reap(m, 0, &r0, 0); /* sender side: only tagged CQEs, if any */
    assert_int_equal(reap(m, 1, &r1, 1000), 1);
    assert_int_equal(mesh_poll(m, 1, out, 4), 1);

    /* an awake shard is not woken */
    assert_int_equal(mesh_send(m, 0, 1, &t[1]->hdr), 0);
    mesh_flush(m, 0);
    assert_int_equal(reap(m, 1, &r1, 50), 0);
    /* pending inbound work denies sleep */
    assert_false(mesh_prepare_sleep(m, 1));
    assert_int_equal(mesh_poll(m, 1, out, 4), 1);

    /* space wake: 0 fills the lane, is refused, sleeps; 1 frees room and wakes it */
    assert_int_equal(mesh_send(m, 0, 1, &t[0]->hdr), 0);
    assert_int_equal(mesh_send(m, 0, 1, &t[1]->hdr), 0);
    assert_int_equal(mesh_send(m, 0, 1, &t[2]->hdr), ERR_FULL);
    assert_true(mesh_prepare_sleep(m, 0)); /* flushes, lane still full */
    assert_int_equal(reap(m, 0, &r0, 0), 0);
    assert_int_equal(mesh_poll(m, 1, out, 1), 1);
    reap(m, 1, &r1, 0);
    assert_int_equal(reap(m, 0, &r0, 1000), 1);
    struct mesh_stats st;
    mesh_stats_get(m, 1, &st);
    assert_int_equal(st.space_wakes, 1);
    assert_int_equal(mesh_poll(m, 0, out, 4), 0); /* ends 0's sleep */
    assert_int_equal(mesh_send(m, 0, 1, &t[2]->hdr), 0);
    mesh_flush(m, 0);
    assert_false(mesh_prepare_sleep(m, 1)); /* messages pending for 1 */
    assert_int_equal(mesh_poll(m, 1, out, 4), 2);
    assert_ptr_equal(out[1], &t[2]->hdr);
    assert_false(mesh_prepare_sleep(m, 0)); /* lane to 1 has room again: retry, don't sleep */
    assert_true(mesh_prepare_sleep(m, 0));
    mesh_stats_get(m, 0, &st);
    assert_true(st.wakes_seen >= 2 && st.sleeps >= 2 && st.sleeps_denied >= 1);

    io_uring_queue_exit(&r0); /* rings go before the mesh (a read may be pending) */
    io_uring_queue_exit(&r1);
    mesh_destroy(m);
    for (int i = 0; i < 3; i++)
        free(t[i]);
}

static void test_wake_msg_ring(void **state)
{
    struct mesh *m = mk(1, 2, 0);
    bool has = mesh_wake_mode(m) == MESH_WAKE_MSG_RING;
    mesh_destroy(m);
    if (!has) {
        fprintf(stderr, "kernel lacks IORING_OP_MSG_RING; msg_ring mode not tested\n");
        skip();
    }
    wake_protocol(0);
}

static void test_wake_eventfd(void **state)
{
    wake_protocol(MESH_CREATE_FORCE_EVENTFD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_invalid),     cmocka_unit_test(test_tags),
        cmocka_unit_test(test_send_flush_poll),    cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_round_robin),        cmocka_unit_test(test_reply_in_place),
        cmocka_unit_test(test_reply_with_release), cmocka_unit_test(test_backlog),
        cmocka_unit_test(test_random_model),       cmocka_unit_test(test_wake_msg_ring),
        cmocka_unit_test(test_wake_eventfd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
