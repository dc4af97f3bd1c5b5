/* mesh storm: shard threads, each with its own io_uring, send M requests to every other thread
 * with per-pair sequence numbers; every request is answered (in place, or with a separately
 * allocated reply that is released back to its owner). Idle threads block in
 * io_uring_submit_and_wait and are woken only through the mesh (MSG_RING or eventfd). Asserts
 * exactly-once, in-order delivery per pair, every reply home, and every message freed by the
 * thread that allocated it (ASan checks leaks). Three shapes, each in both wake modes:
 *   - storm: 4 threads all-to-all, small lanes: backpressure, backlogs, space wake-ups, volume;
 *   - pingpong: 2 threads, one request in flight per direction: a lost wake-up hangs it;
 *   - space: 2 threads, replies held until the whole stream arrived: the sender progresses only
 *     through space wake-ups, so a lost one hangs it.
 * Rings are plain or SINGLE_ISSUER|DEFER_TASKRUN (as the server's loop makes them), so each wake
 * mode meets both kinds of target ring. Idle threads yield or spin a little before
 * mesh_prepare_sleep to widen the race windows. A thread idle for IDLE_LIMIT_S with work
 * outstanding fails the test ("lost wake-up"). STRATA_MESH_STORM_M scales the storm's count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "engine/shard/mesh.h"

enum { NMAX = 4, BURST = 8, POLL_MAX = 32, IDLE_LIMIT_S = 10 };

struct storm_cfg {
    const char *name;
    uint32_t nshards, capacity, m_per_pair;
    uint32_t window;     /* max requests in flight per peer; 0 = unlimited */
    bool defer;          /* hold every reply until the peer's whole stream arrived */
    bool one_way;        /* only shard 0 sends requests */
    uint32_t flags;      /* mesh_create_flags */
    uint32_t ring_flags; /* io_uring_queue_init flags (the server's loop uses DEFER_TASKRUN) */
};

#define DEFER (IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN)
enum { T_REQ = 1, T_REQ_SEP = 2, T_REP = 3 };

struct smsg {
    struct mesh_msg hdr;
    uint32_t seq, src, dst;
    int alloc_tid;
    uint64_t check;
    uint64_t result; /* written by the handler of an in-place request */
};

struct worker {
    pthread_t th;
    uint32_t id;
    const struct storm_cfg *cfg;
    struct mesh *m;
    pthread_barrier_t *bar;
    struct io_uring ring;
    struct smsg *held[NMAX]; /* refused by a full lane: kept, retried */
    uint32_t next_seq[NMAX], recv_seq[NMAX], reply_seq[NMAX];
    struct mesh_msg **deferred[NMAX]; /* cfg->defer: requests received, not yet answered */
    uint64_t rng;
    uint64_t allocs, frees, reps_out, reps_back, sleeps, cqes;
    char err[256]; /* first failure (cmocka asserts are not thread-safe) */
};

static _Thread_local int tl_tid = -1;

#define CHECK(w, cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (!(w)->err[0])                                                                      \
                snprintf((w)->err, sizeof(w)->err, "shard %u: %s (line %d)", (w)->id, #cond,       \
                         __LINE__);                                                                \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

static uint64_t mix(uint32_t src, uint32_t dst, uint32_t seq)
{
    return ((uint64_t)src << 48 ^ (uint64_t)dst << 32 ^ seq) * 0x9e3779b97f4a7c15ull;
}

static struct smsg *smsg_alloc(struct worker *w, uint32_t type, uint32_t seq, uint32_t dst)
{
    struct smsg *s = malloc(sizeof *s);
    if (!s)
        abort();
    mesh_msg_init(&s->hdr, type, w->id);
    s->seq = seq;
    s->src = w->id;
    s->dst = dst;
    s->alloc_tid = tl_tid;
    s->check = mix(w->id, dst, seq);
    s->result = 0;
    w->allocs++;
    return s;
}

static int smsg_free(struct worker *w, struct smsg *s)
{
    CHECK(w, s->alloc_tid == tl_tid && s->hdr.owner == w->id);
    w->frees++;
    free(s);
    return 0;
}

/* Requests shard `from` sends to each peer. */
static uint32_t quota(const struct storm_cfg *c, uint32_t from, uint32_t to)
{
    return from == to || (c->one_way && from != 0) ? 0 : c->m_per_pair;
}

static void send_some(struct worker *w, bool *busy)
{
    const struct storm_cfg *c = w->cfg;
    for (uint32_t k = 1; k < c->nshards; k++) {
        uint32_t to = (w->id + k) % c->nshards;
        for (int b = 0; b < BURST; b++) {
            struct smsg *s = w->held[to];
            if (!s) {
                if (w->next_seq[to] == quota(c, w->id, to) ||
                    (c->window && w->next_seq[to] - w->reply_seq[to] >= c->window))
                    break;
                uint32_t seq = w->next_seq[to]++;
                s = smsg_alloc(w, seq % 4 == 3 ? T_REQ_SEP : T_REQ, seq, to);
            }
            if (mesh_send(w->m, w->id, to, &s->hdr) != 0) {
                w->held[to] = s;
                break;
            }
            w->held[to] = NULL;
            *busy = true;
        }
    }
}

static int handle_reply(struct worker *w, struct mesh_msg *h)
{
    uint32_t peer = h->from;
    struct smsg *req = (struct smsg *)h->reply_to;
    CHECK(w, req->hdr.owner == w->id && req->src == w->id && req->dst == peer);
    CHECK(w, req->seq == w->reply_seq[peer]);
    w->reply_seq[peer]++;
    if (h->type == T_REP) {
        struct smsg *rep = (struct smsg *)h;
        CHECK(w, h->owner == peer && rep->seq == req->seq && rep->check == ~req->check);
        mesh_release(w->m, w->id, h);
    } else {
        CHECK(w, h == &req->hdr && req->result == req->check + 1);
    }
    return smsg_free(w, req);
}

static void answer(struct worker *w, struct mesh_msg *h)
{
    struct smsg *s = (struct smsg *)h;
    if (h->type == T_REQ) {
        s->result = s->check + 1;
        mesh_reply(w->m, w->id, h);
        return;
    }
    struct smsg *rep = smsg_alloc(w, T_REP, s->seq, h->from);
    rep->check = ~s->check;
    mesh_reply_with(w->m, w->id, h, &rep->hdr);
    w->reps_out++;
}

static int handle_request(struct worker *w, struct mesh_msg *h)
{
    struct smsg *s = (struct smsg *)h;
    uint32_t peer = h->from, mpp = quota(w->cfg, peer, w->id);
    CHECK(w, s->src == peer && s->dst == w->id && h->owner == peer);
    CHECK(w, s->seq == w->recv_seq[peer]);
    CHECK(w, s->check == mix(peer, w->id, s->seq));
    CHECK(w, h->type == T_REQ || h->type == T_REQ_SEP);
    w->recv_seq[peer]++;
    if (!w->cfg->defer) {
        answer(w, h);
        return 0;
    }
    w->deferred[peer][s->seq] = h;
    if (w->recv_seq[peer] == mpp) /* the whole stream is in: answer it (the backlog absorbs it) */
        for (uint32_t i = 0; i < mpp; i++)
            answer(w, w->deferred[peer][i]);
    return 0;
}

static int handle(struct worker *w, struct mesh_msg *h)
{
    CHECK(w, h->to == w->id);
    if (h->flags & MESH_MSG_RELEASE) {
        CHECK(w, h->type == T_REP);
        w->reps_back++;
        return smsg_free(w, (struct smsg *)h);
    }
    if (h->flags & MESH_MSG_REPLY)
        return handle_reply(w, h);
    return handle_request(w, h);
}

static int reap_cqes(struct worker *w)
{
    struct io_uring_cqe *cqe;
    unsigned head, k = 0;
    bool foreign = false;
    io_uring_for_each_cqe(&w->ring, head, cqe)
    {
        foreign |= !mesh_cqe(w->m, w->id, cqe);
        k++;
    }
    io_uring_cq_advance(&w->ring, k);
    w->cqes += k;
    CHECK(w, !foreign);
    return 0;
}

static bool finished(struct worker *w)
{
    const struct storm_cfg *c = w->cfg;
    for (uint32_t p = 0; p < c->nshards; p++) {
        uint32_t out = quota(c, w->id, p), in = quota(c, p, w->id);
        if (w->held[p] || w->next_seq[p] != out || w->reply_seq[p] != out || w->recv_seq[p] != in)
            return false;
    }
    return w->reps_back == w->reps_out && mesh_flushed(w->m, w->id);
}

/* Blocks until a CQE arrives; IDLE_LIMIT_S without one while work is outstanding = lost wake-up. */
static int sleep_until_woken(struct worker *w)
{
    w->sleeps++;
    struct __kernel_timespec ts = {.tv_sec = IDLE_LIMIT_S};
    struct io_uring_cqe *cqe;
    int rc;
    do
        rc = io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
    while (rc == -EINTR);
    CHECK(w, rc != -ETIME && "lost wake-up: idle with work outstanding");
    CHECK(w, rc >= 0);
    return reap_cqes(w);
}

/* Widens the window between finding nothing to do and mesh_prepare_sleep, where peers publish. */
static void jitter(struct worker *w)
{
    w->rng ^= w->rng << 13, w->rng ^= w->rng >> 7, w->rng ^= w->rng << 17;
    if (w->rng & 1)
        sched_yield();
    else
        for (volatile uint32_t i = 0, n = (uint32_t)(w->rng >> 40) % 512; i < n; i++)
            ;
}

static int run(struct worker *w)
{
    struct mesh_msg *in[POLL_MAX];
    while (!finished(w)) {
        bool busy = false;
        send_some(w, &busy);
        mesh_flush(w->m, w->id);
        uint32_t n = mesh_poll(w->m, w->id, in, POLL_MAX);
        for (uint32_t i = 0; i < n; i++)
            if (handle(w, in[i]) != 0)
                return -1;
        busy |= n > 0;
        mesh_flush(w->m, w->id);
        if (reap_cqes(w) != 0)
            return -1;
        if (busy || finished(w)) {
            if (io_uring_sq_ready(&w->ring))
                io_uring_submit(&w->ring);
            continue;
        }
        jitter(w);
        if (mesh_prepare_sleep(w->m, w->id) && sleep_until_woken(w) != 0)
            return -1;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    tl_tid = (int)w->id;
    int rc = io_uring_queue_init(64, &w->ring, w->cfg->ring_flags);
    if (rc == 0 && mesh_attach(w->m, w->id, &w->ring) != 0)
        snprintf(w->err, sizeof w->err, "shard %u: mesh_attach failed", w->id);
    if (rc != 0)
        snprintf(w->err, sizeof w->err, "shard %u: io_uring_queue_init %d", w->id, rc);
    pthread_barrier_wait(w->bar);
    if (!w->err[0])
        run(w);
    pthread_barrier_wait(w->bar); /* nobody wakes anyone after this: rings may go */
    if (rc == 0)
        io_uring_queue_exit(&w->ring);
    return NULL;
}

static uint32_t env_m(uint32_t dflt)
{
    const char *e = getenv("STRATA_MESH_STORM_M");
    return e && *e ? (uint32_t)strtoul(e, NULL, 10) : dflt;
}

static void check_worker(const struct storm_cfg *c, struct worker *w)
{
    if (w->err[0])
        fail_msg("%s: %s", c->name, w->err);
    assert_int_equal(w->allocs, w->frees);
    assert_int_equal(w->reps_out, w->reps_back);
    for (uint32_t p = 0; p < c->nshards; p++) {
        assert_int_equal(w->next_seq[p], quota(c, w->id, p));
        assert_int_equal(w->reply_seq[p], quota(c, w->id, p));
        assert_int_equal(w->recv_seq[p], quota(c, p, w->id));
    }
}

static void run_threads(const struct storm_cfg *c, struct mesh *m, struct worker *ws)
{
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, c->nshards);
    for (uint32_t i = 0; i < c->nshards; i++) {
        ws[i] = (struct worker){.id = i, .cfg = c, .m = m, .bar = &bar, .rng = 0x9e3779b9u + i};
        if (c->defer)
            for (uint32_t p = 0; p < c->nshards; p++)
                assert_non_null(ws[i].deferred[p] = calloc(c->m_per_pair, sizeof(void *)));
    }
    for (uint32_t i = 0; i < c->nshards; i++)
        assert_int_equal(pthread_create(&ws[i].th, NULL, worker_main, &ws[i]), 0);
    for (uint32_t i = 0; i < c->nshards; i++)
        pthread_join(ws[i].th, NULL);
    pthread_barrier_destroy(&bar);
}

static void storm(const struct storm_cfg *c)
{
    struct io_uring probe;
    if (io_uring_queue_init(4, &probe, 0) < 0) {
        fprintf(stderr, "io_uring unavailable: %s skipped\n", c->name);
        skip();
    }
    io_uring_queue_exit(&probe);
    if (c->ring_flags && io_uring_queue_init(4, &probe, c->ring_flags) < 0) {
        fprintf(stderr, "kernel lacks DEFER_TASKRUN: %s skipped\n", c->name);
        skip();
    }
    if (c->ring_flags)
        io_uring_queue_exit(&probe);
    struct mesh *m = NULL;
    assert_int_equal(mesh_create_flags(c->nshards, c->capacity, c->flags, &m), 0);
    if (c->flags == 0 && mesh_wake_mode(m) != MESH_WAKE_MSG_RING) {
        mesh_destroy(m);
        fprintf(stderr, "kernel lacks IORING_OP_MSG_RING: %s skipped\n", c->name);
        skip();
    }
    struct worker ws[NMAX];
    int64_t t0 = clock_mono_ns();
    run_threads(c, m, ws);
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    struct mesh_stats sum = {0};
    for (uint32_t i = 0; i < c->nshards; i++) {
        check_worker(c, &ws[i]);
        struct mesh_stats st;
        mesh_stats_get(m, i, &st);
        sum.sent += st.sent, sum.received += st.received, sum.sleeps += st.sleeps;
        sum.wakes_seen += st.wakes_seen, sum.full += st.full, sum.backlogged += st.backlogged;
        sum.space_wakes += st.space_wakes;
        for (uint32_t p = 0; p < NMAX; p++)
            free(ws[i].deferred[p]);
    }
    /* per request: the request and its reply; every 4th also releases its separate reply */
    uint64_t pairs = c->one_way ? c->nshards - 1 : (uint64_t)c->nshards * (c->nshards - 1);
    assert_true(sum.sent == sum.received);
    assert_true(sum.sent == pairs * (2ull * c->m_per_pair + c->m_per_pair / 4));
    assert_true(sum.sleeps > 0 && sum.wakes_seen > 0);
    if (c->defer)
        assert_true(sum.space_wakes > 0 && sum.backlogged > 0);
    fprintf(stderr,
            "%s: %u shards, %u per pair, %.2f s: %llu msgs, %llu sleeps, %llu wakes seen, "
            "%llu space wakes, %llu refused sends, %llu backlogged replies\n",
            c->name, c->nshards, c->m_per_pair, secs, (unsigned long long)sum.sent,
            (unsigned long long)sum.sleeps, (unsigned long long)sum.wakes_seen,
            (unsigned long long)sum.space_wakes, (unsigned long long)sum.full,
            (unsigned long long)sum.backlogged);
    mesh_destroy(m);
}

enum shape { STORM, PINGPONG, SPACE };

static void run_shape(enum shape shape, const char *name, uint32_t flags, uint32_t ring_flags)
{
    struct storm_cfg c = {.name = name, .flags = flags, .ring_flags = ring_flags};
    switch (shape) {
    case STORM: c.nshards = 4, c.capacity = 16, c.m_per_pair = env_m(100000); break;
    case PINGPONG: c.nshards = 2, c.capacity = 4, c.m_per_pair = 50000, c.window = 1; break;
    case SPACE:
        c.nshards = 2, c.capacity = 4, c.m_per_pair = 100000, c.defer = true, c.one_way = true;
        break;
    }
    storm(&c);
}

static void test_storm_msg_ring(void **state)
{
    run_shape(STORM, "storm/msg_ring/defer_taskrun", 0, DEFER);
}

static void test_storm_eventfd(void **state)
{
    run_shape(STORM, "storm/eventfd/defer_taskrun", MESH_CREATE_FORCE_EVENTFD, DEFER);
}

static void test_pingpong_msg_ring(void **state)
{
    run_shape(PINGPONG, "pingpong/msg_ring", 0, 0);
}

static void test_pingpong_eventfd(void **state)
{
    run_shape(PINGPONG, "pingpong/eventfd/defer_taskrun", MESH_CREATE_FORCE_EVENTFD, DEFER);
}

static void test_space_msg_ring(void **state)
{
    run_shape(SPACE, "space/msg_ring/defer_taskrun", 0, DEFER);
}

static void test_space_eventfd(void **state)
{
    run_shape(SPACE, "space/eventfd", MESH_CREATE_FORCE_EVENTFD, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_storm_msg_ring),    cmocka_unit_test(test_storm_eventfd),
        cmocka_unit_test(test_pingpong_msg_ring), cmocka_unit_test(test_pingpong_eventfd),
        cmocka_unit_test(test_space_msg_ring),    cmocka_unit_test(test_space_eventfd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
