/* Cross-core message mesh: lanes of SPSC rings, batched publish, return-path backlogs and the
 * sleep/wake protocol (IORING_OP_MSG_RING or eventfd). Contract and loop recipe in mesh.h.
 *
 * Why a wake-up is never lost. Two "Dekker" pairs, each side a store, a seq_cst fence, a load:
 *
 *   message:  producer P                        consumer C (idle, about to sleep)
 *             W lane.head (spsc_publish)        W C.sleeping = 1
 *             fence(seq_cst)                    fence(seq_cst)
 *             R C.sleeping: 1 -> wake C         R head of every inbound lane: any -> stay up
 *
 *   space:    consumer C                        producer P (blocked on a full lane, idle)
 *             W lane.tail (spsc_pop_many)       W lane.want_space = 1; W P.sleeping = 1
 *             fence(seq_cst)                    fence(seq_cst)
 *             R want_space, P.sleeping -> wake  R tail of every blocked lane: room -> stay up
 *
 * The two fences are ordered in the single total order S of seq_cst operations. If the left fence
 * comes first, the right side's loads see the left side's store (C11 7.17.4: a store sequenced
 * before fence X is seen by a load sequenced after fence Y when X precedes Y in S), so the would-be
 * sleeper sees the message/space and does not block. Otherwise the left side sees sleeping == 1
 * (and want_space == 1) and sends a wake. Both may happen: that costs one spurious wake, never a
 * hang. A waker takes the flag with an exchange so several producers do not all wake the same
 * sleeper; the sleeper clears its own flag in mesh_poll.
 *
 * The fences carry no data: messages are handed over only by the ring's release/acquire pair, which
 * is why ThreadSanitizer (which does not model fences) has nothing to report here. */
#include "engine/shard/mesh.h"

#include <errno.h>
#include <liburing.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/log.h"
#include "base/ring.h"

/* GCC refuses atomic_thread_fence under -fsanitize=thread because TSan does not model fences. That
 * is harmless here: the fences only decide whether to send a wake-up and hand over no data (see
 * top), so TSan cannot report a false race through them; a lost wake-up would show as a hang in the
 * tests. */
#if defined(__SANITIZE_THREAD__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wtsan"
#endif

#define POLL_CHUNK 64

struct mesh_lane {
    struct spsc_ring ring;
    /* set by the producer while blocked on this lane, taken by the consumer when it frees space */
    alignas(CACHE_LINE) _Atomic uint32_t want_space;
    /* producer-private */
    alignas(CACHE_LINE) struct mesh_msg *backlog_head;
    struct mesh_msg *backlog_tail;
    bool dirty;   /* on the producer's dirty list: staged messages or a backlog */
    bool blocked; /* on the producer's blocked list */
};

struct mesh_shard {
    /* shared: set by the shard, taken (exchanged to 0) by wakers */
    alignas(CACHE_LINE) _Atomic uint32_t sleeping;
    _Atomic int ring_fd; /* -1 until mesh_attach */
    int event_fd;        /* eventfd mode only; fixed at create */
    /* private to the shard's thread */
    alignas(CACHE_LINE) struct io_uring *uring;
    bool skip_cqe;     /* ring supports IOSQE_CQE_SKIP_SUCCESS */
    bool wake_pending; /* wake SQEs prepped since the last submit */
    bool evfd_armed;   /* eventfd read queued on the ring */
    uint32_t poll_next;
    uint32_t ndirty, nblocked;
    uint32_t *dirty;   /* [n] destinations with staged messages or a backlog */
    uint32_t *blocked; /* [n] destinations whose lane was full */
    uint32_t *scratch; /* [2n] lanes touched by one poll/flush */
    uint64_t evfd_buf; /* target of the eventfd read (written by the kernel) */
    struct mesh_stats stats;
};

struct mesh {
    uint32_t n;
    uint32_t capacity;
    enum mesh_wake_mode mode;
    struct mesh_shard *shards; /* [n] */
    struct mesh_lane *lanes;   /* [to * n + from]: a consumer's inbound lanes are adjacent */
    uint32_t *index_mem;       /* backing for the shards' dirty/blocked/scratch lists */
};

static inline struct mesh_lane *lane_of(struct mesh *m, uint32_t from, uint32_t to)
{
    return &m->lanes[(size_t)to * m->n + from];
}

static void *zalloc_aligned(size_t size)
{
    size = (size + CACHE_LINE - 1) & ~(size_t)(CACHE_LINE - 1);
    void *p = aligned_alloc(CACHE_LINE, size);
    if (p)
        memset(p, 0, size);
    return p;
}

static bool probe_msg_ring(struct io_uring *ring)
{
    struct io_uring_probe *p = ring ? io_uring_get_probe_ring(ring) : io_uring_get_probe();
    bool ok = p && io_uring_opcode_supported(p, IORING_OP_MSG_RING);
    if (p)
        io_uring_free_probe(p);
    return ok;
}

static int create_eventfds(struct mesh *m)
{
    for (uint32_t i = 0; i < m->n; i++) {
        m->shards[i].event_fd = eventfd(0, EFD_CLOEXEC);
        if (m->shards[i].event_fd < 0)
            return -errno;
    }
    return 0;
}

static int init_parts(struct mesh *m)
{
    uint32_t n = m->n;
    m->shards = zalloc_aligned(n * sizeof *m->shards);
    m->lanes = zalloc_aligned((size_t)n * n * sizeof *m->lanes);
    m->index_mem = calloc((size_t)n * n * 4, sizeof *m->index_mem);
    if (!m->shards || !m->lanes || !m->index_mem)
        return ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++) {
        struct mesh_shard *sh = &m->shards[i];
        uint32_t *base = m->index_mem + (size_t)i * n * 4;
        atomic_init(&sh->sleeping, 0);
        atomic_init(&sh->ring_fd, -1);
        sh->event_fd = -1;
        sh->dirty = base;
        sh->blocked = base + n;
        sh->scratch = base + 2 * (size_t)n;
    }
    for (size_t i = 0; i < (size_t)n * n; i++) {
        int rc = spsc_init(&m->lanes[i].ring, m->capacity);
        if (rc)
            return rc;
        atomic_init(&m->lanes[i].want_space, 0);
    }
    return 0;
}

int mesh_create_flags(uint32_t nshards, uint32_t ring_capacity, uint32_t flags, struct mesh **out)
{
    *out = NULL;
    if (nshards == 0 || nshards > MESH_SHARDS_MAX || ring_capacity < 2 ||
        ring_capacity > MESH_CAPACITY_MAX || (ring_capacity & (ring_capacity - 1)))
        return ERR_INVALID;
    struct mesh *m = calloc(1, sizeof *m);
    if (!m)
        return ERR_NOMEM;
    m->n = nshards;
    m->capacity = ring_capacity;
    bool msg_ring = !(flags & MESH_CREATE_FORCE_EVENTFD) && probe_msg_ring(NULL);
    m->mode = msg_ring ? MESH_WAKE_MSG_RING : MESH_WAKE_EVENTFD;
    int rc = init_parts(m);
    if (!rc && m->mode == MESH_WAKE_EVENTFD)
        rc = create_eventfds(m);
    if (rc) {
        mesh_destroy(m);
        return rc;
    }
    *out = m;
    return 0;
}

int mesh_create(uint32_t nshards, uint32_t ring_capacity, struct mesh **out)
{
    return mesh_create_flags(nshards, ring_capacity, 0, out);
}

void mesh_destroy(struct mesh *m)
{
    if (!m)
        return;
    if (m->lanes)
        for (size_t i = 0; i < (size_t)m->n * m->n; i++)
            spsc_deinit(&m->lanes[i].ring);
    if (m->shards)
        for (uint32_t i = 0; i < m->n; i++)
            if (m->shards[i].event_fd >= 0)
                close(m->shards[i].event_fd);
    free(m->lanes);
    free(m->shards);
    free(m->index_mem);
    free(m);
}

uint32_t mesh_nshards(const struct mesh *m)
{
    return m->n;
}

enum mesh_wake_mode mesh_wake_mode(const struct mesh *m)
{
    return m->mode;
}

const char *mesh_wake_mode_str(enum mesh_wake_mode mode)
{
    switch (mode) {
    case MESH_WAKE_MSG_RING: return "msg_ring";
    case MESH_WAKE_EVENTFD: return "eventfd";
    }
    return "unknown";
}

/* An SQE from the shard's ring, submitting once to make room when the SQ is full. */
static struct io_uring_sqe *get_sqe(struct io_uring *ring)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe) {
        io_uring_submit(ring);
        sqe = io_uring_get_sqe(ring);
    }
    return sqe;
}

/* Queues the read of self's eventfd whose completion is the wake-up in eventfd mode. */
static int arm_eventfd(struct mesh_shard *sh, uint32_t self)
{
    struct io_uring_sqe *sqe = get_sqe(sh->uring);
    if (!sqe)
        return ERR_FULL;
    io_uring_prep_read(sqe, sh->event_fd, &sh->evfd_buf, sizeof sh->evfd_buf, 0);
    io_uring_sqe_set_data64(sqe, MESH_TAG_EVFD | self);
    sh->evfd_armed = true;
    return 0;
}

int mesh_attach(struct mesh *m, uint32_t shard, struct io_uring *ring)
{
    ASSERT(shard < m->n && ring);
    struct mesh_shard *sh = &m->shards[shard];
    ASSERT(!sh->uring);
    if (m->mode == MESH_WAKE_MSG_RING && !probe_msg_ring(ring)) {
        log_error("mesh attach: ring lacks IORING_OP_MSG_RING", LOG_UINT("shard", shard));
        return ERR_UNSUPPORTED;
    }
    sh->uring = ring;
    sh->skip_cqe = (ring->features & IORING_FEAT_CQE_SKIP) != 0;
    if (m->mode == MESH_WAKE_EVENTFD) {
        int rc = arm_eventfd(sh, shard);
        if (rc) {
            sh->uring = NULL;
            return rc;
        }
    }
    atomic_store_explicit(&sh->ring_fd, ring->ring_fd, memory_order_release);
    log_info("mesh attached", LOG_STR("wake", mesh_wake_mode_str(m->mode)),
             LOG_UINT("shards", m->n), LOG_UINT("lane_capacity", m->capacity),
             LOG_UINT("cqe_skip", sh->skip_cqe));
    return 0;
}

/* Sends the wake itself: an eventfd write, or a MSG_RING SQE on self's ring (submitted later in
 * this call by submit_wakes). */
static void send_wake(struct mesh *m, uint32_t self, uint32_t to)
{
    struct mesh_shard *me = &m->shards[self];
    me->stats.wakes_sent++;
    if (m->mode == MESH_WAKE_EVENTFD) {
        uint64_t one = 1;
        ssize_t rc;
        do
            rc = write(m->shards[to].event_fd, &one, sizeof one);
        while (rc < 0 && errno == EINTR);
        if (rc != (ssize_t)sizeof one)
            log_warn("mesh wake: eventfd write failed", LOG_UINT("to", to), LOG_ERR(-errno));
        return;
    }
    if (!me->uring)
        PANIC("BUG: shard %u wakes shard %u without an attached io_uring", self, to);
    int fd = atomic_load_explicit(&m->shards[to].ring_fd, memory_order_acquire);
    ASSERT(fd >= 0);
    struct io_uring_sqe *sqe = get_sqe(me->uring);
    if (!sqe) {
        /* keep the flag so the next publisher towards `to` retries the wake */
        atomic_store_explicit(&m->shards[to].sleeping, 1, memory_order_relaxed);
        log_warn("mesh wake: no SQE", LOG_UINT("to", to));
        return;
    }
    io_uring_prep_msg_ring(sqe, fd, 0, MESH_TAG_WAKE | self, 0);
    io_uring_sqe_set_data64(sqe, MESH_TAG_SENT | to);
    if (me->skip_cqe)
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    me->wake_pending = true;
}

/* After a seq_cst fence that follows self's store (see the top comment): wakes `to` if it sleeps.
 * The exchange makes exactly one of several concurrent wakers send. */
static bool wake_if_sleeping(struct mesh *m, uint32_t self, uint32_t to)
{
    _Atomic uint32_t *flag = &m->shards[to].sleeping;
    if (!atomic_load_explicit(flag, memory_order_relaxed))
        return false;
    if (!atomic_exchange_explicit(flag, 0, memory_order_acq_rel))
        return false;
    send_wake(m, self, to);
    return true;
}

static void submit_wakes(struct mesh_shard *sh)
{
    if (!sh->wake_pending)
        return;
    sh->wake_pending = false;
    int rc = io_uring_submit(sh->uring);
    if (rc < 0) /* the SQEs stay queued; the loop's next submit sends them */
        log_debug("mesh wake: submit deferred", LOG_ERR(rc));
}

static void mark_dirty(struct mesh_shard *sh, struct mesh_lane *l, uint32_t to)
{
    if (!l->dirty) {
        l->dirty = true;
        sh->dirty[sh->ndirty++] = to;
    }
}

static void mark_blocked(struct mesh_shard *sh, struct mesh_lane *l, uint32_t to)
{
    atomic_store_explicit(&l->want_space, 1, memory_order_relaxed);
    if (!l->blocked) {
        l->blocked = true;
        sh->blocked[sh->nblocked++] = to;
    }
}

static void check_ids(const struct mesh *m, uint32_t a, uint32_t b)
{
    if (a >= m->n || b >= m->n)
        PANIC("BUG: mesh shard id out of range (%u, %u; %u shards)", a, b, m->n);
}

int mesh_send(struct mesh *m, uint32_t from, uint32_t to, struct mesh_msg *msg)
{
    check_ids(m, from, to);
    struct mesh_shard *sh = &m->shards[from];
    struct mesh_lane *l = lane_of(m, from, to);
    if (l->backlog_head || !spsc_stage(&l->ring, msg)) {
        sh->stats.full++;
        mark_blocked(sh, l, to);
        return ERR_FULL;
    }
    /* staged but unpublished: the consumer cannot see msg yet, so filling it in now is safe */
    msg->from = (uint16_t)from;
    msg->to = (uint16_t)to;
    mark_dirty(sh, l, to);
    sh->stats.sent++;
    return 0;
}

/* Return path: stage, or park at the end of the lane's backlog when the lane is full. */
static void send_back(struct mesh *m, uint32_t self, uint32_t to, struct mesh_msg *msg)
{
    check_ids(m, self, to);
    struct mesh_shard *sh = &m->shards[self];
    struct mesh_lane *l = lane_of(m, self, to);
    msg->from = (uint16_t)self;
    msg->to = (uint16_t)to;
    mark_dirty(sh, l, to);
    if (!l->backlog_head && spsc_stage(&l->ring, msg)) {
        sh->stats.sent++;
        return;
    }
    msg->next = NULL;
    if (l->backlog_tail)
        l->backlog_tail->next = msg;
    else
        l->backlog_head = msg;
    l->backlog_tail = msg;
    sh->stats.backlogged++;
    mark_blocked(sh, l, to);
}

void mesh_reply(struct mesh *m, uint32_t self, struct mesh_msg *msg)
{
    ASSERT(msg->to == self);
    uint32_t to = msg->from;
    msg->flags |= MESH_MSG_REPLY;
    msg->reply_to = msg;
    send_back(m, self, to, msg);
}

void mesh_reply_with(struct mesh *m, uint32_t self, struct mesh_msg *req, struct mesh_msg *rep)
{
    ASSERT(req->to == self && rep->owner == self);
    rep->flags |= MESH_MSG_REPLY;
    rep->reply_to = req;
    send_back(m, self, req->from, rep);
}

void mesh_release(struct mesh *m, uint32_t self, struct mesh_msg *msg)
{
    msg->flags |= MESH_MSG_RELEASE;
    send_back(m, self, msg->owner, msg);
}

/* Moves parked messages into the lane while it has room (order kept: backlog before new sends). */
static void drain_backlog(struct mesh_shard *sh, struct mesh_lane *l)
{
    while (l->backlog_head && spsc_stage(&l->ring, l->backlog_head)) {
        l->backlog_head = l->backlog_head->next; /* read before publish hands it over */
        sh->stats.sent++;
    }
    if (!l->backlog_head)
        l->backlog_tail = NULL;
}

uint32_t mesh_flush(struct mesh *m, uint32_t from)
{
    ASSERT(from < m->n);
    struct mesh_shard *sh = &m->shards[from];
    uint32_t published = 0, nwake = 0, keep = 0;
    for (uint32_t i = 0; i < sh->ndirty; i++) {
        uint32_t to = sh->dirty[i];
        struct mesh_lane *l = lane_of(m, from, to);
        drain_backlog(sh, l);
        uint32_t k = spsc_publish(&l->ring);
        published += k;
        if (k)
            sh->scratch[nwake++] = to;
        if (l->backlog_head) {
            mark_blocked(sh, l, to);
            sh->dirty[keep++] = to;
        } else {
            l->dirty = false;
        }
    }
    sh->ndirty = keep;
    if (!nwake)
        return 0;
    sh->stats.flushes++;
    atomic_thread_fence(memory_order_seq_cst); /* message pair: W head; fence; R sleeping */
    for (uint32_t i = 0; i < nwake; i++)
        wake_if_sleeping(m, from, sh->scratch[i]);
    submit_wakes(sh);
    return published;
}

bool mesh_flushed(const struct mesh *m, uint32_t from)
{
    ASSERT(from < m->n);
    return m->shards[from].ndirty == 0;
}

/* Pops up to lim messages of one lane (through a void* buffer: spsc stores void pointers). */
static uint32_t pop_lane(struct spsc_ring *r, struct mesh_msg **out, uint32_t lim)
{
    void *tmp[POLL_CHUNK];
    uint32_t got = 0;
    while (got < lim) {
        uint32_t want = lim - got < POLL_CHUNK ? lim - got : POLL_CHUNK;
        uint32_t k = spsc_pop_many(r, tmp, want);
        for (uint32_t i = 0; i < k; i++)
            out[got + i] = tmp[i];
        got += k;
        if (k < want)
            break;
    }
    return got;
}

/* Space pair (see top): after popping from these sources, wake those blocked on them and asleep. */
static void wake_blocked_producers(struct mesh *m, uint32_t self, uint32_t nsrc)
{
    struct mesh_shard *sh = &m->shards[self];
    atomic_thread_fence(memory_order_seq_cst); /* W tail; fence; R want_space, R sleeping */
    for (uint32_t i = 0; i < nsrc; i++) {
        uint32_t src = sh->scratch[i];
        _Atomic uint32_t *want = &lane_of(m, src, self)->want_space;
        if (!atomic_load_explicit(want, memory_order_relaxed))
            continue;
        if (atomic_exchange_explicit(want, 0, memory_order_relaxed) &&
            wake_if_sleeping(m, self, src))
            sh->stats.space_wakes++;
    }
    submit_wakes(sh);
}

uint32_t mesh_poll(struct mesh *m, uint32_t self, struct mesh_msg **out, uint32_t max)
{
    ASSERT(self < m->n);
    struct mesh_shard *sh = &m->shards[self];
    if (atomic_load_explicit(&sh->sleeping, memory_order_relaxed))
        atomic_store_explicit(&sh->sleeping, 0, memory_order_relaxed);
    uint32_t n = m->n, start = sh->poll_next, got = 0, nsrc = 0;
    sh->poll_next = start + 1 == n ? 0 : start + 1;
    uint32_t quota = max / n ? max / n : 1;
    bool more = true; /* some source filled its share: it may hold more */
    /* pass 0 gives every source up to its share; pass 1 fills what is left of max */
    for (int pass = 0; pass < 2 && more && got < max; pass++) {
        more = false;
        for (uint32_t k = 0; k < n && got < max; k++) {
            uint32_t src = start + k < n ? start + k : start + k - n;
            uint32_t lim = max - got;
            if (pass == 0 && lim > quota)
                lim = quota;
            uint32_t popped = pop_lane(&lane_of(m, src, self)->ring, out + got, lim);
            if (popped)
                sh->scratch[nsrc++] = src;
            more |= popped == lim;
            got += popped;
        }
    }
    sh->stats.received += got;
    if (nsrc)
        wake_blocked_producers(m, self, nsrc);
    return got;
}

static bool inbound_pending(struct mesh *m, uint32_t self)
{
    for (uint32_t src = 0; src < m->n; src++) {
        if (spsc_pending_relaxed(&lane_of(m, src, self)->ring))
            return true;
    }
    return false;
}

/* Drops blocked lanes that have room again; true if there was any (the loop should retry). */
static bool unblocked_lanes(struct mesh *m, uint32_t self)
{
    struct mesh_shard *sh = &m->shards[self];
    bool any = false;
    for (uint32_t i = 0; i < sh->nblocked;) {
        uint32_t to = sh->blocked[i];
        struct mesh_lane *l = lane_of(m, self, to);
        if (spsc_has_room_relaxed(&l->ring)) {
            l->blocked = false;
            sh->blocked[i] = sh->blocked[--sh->nblocked];
            any = true;
        } else {
            i++;
        }
    }
    return any;
}

bool mesh_prepare_sleep(struct mesh *m, uint32_t self)
{
    ASSERT(self < m->n);
    struct mesh_shard *sh = &m->shards[self];
    if (!sh->uring)
        PANIC("BUG: mesh_prepare_sleep on shard %u before mesh_attach", self);
    mesh_flush(m, self);
    bool stay_up = m->mode == MESH_WAKE_EVENTFD && !sh->evfd_armed && arm_eventfd(sh, self) != 0;
    for (uint32_t i = 0; i < sh->nblocked; i++)
        atomic_store_explicit(&lane_of(m, self, sh->blocked[i])->want_space, 1,
                              memory_order_relaxed);
    atomic_store_explicit(&sh->sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst); /* W sleeping; fence; R heads and tails */
    if (inbound_pending(m, self))
        stay_up = true;
    if (unblocked_lanes(m, self)) /* always run: it also prunes the blocked list */
        stay_up = true;
    if (stay_up) {
        atomic_store_explicit(&sh->sleeping, 0, memory_order_relaxed);
        sh->stats.sleeps_denied++;
        return false;
    }
    sh->stats.sleeps++;
    return true;
}

bool mesh_on_tag(struct mesh *m, uint32_t self, uint64_t ud, int res)
{
    if (!mesh_tag_is(ud))
        return false;
    ASSERT(self < m->n);
    struct mesh_shard *sh = &m->shards[self];
    switch (ud & (MESH_TAG_MASK | MESH_TAG_KIND_MASK)) {
    case MESH_TAG_WAKE: sh->stats.wakes_seen++; break;
    case MESH_TAG_SENT:
        /* a failed MSG_RING (e.g. the target's CQ overflowed) loses nothing: a target with CQEs
         * pending does not block, and it polls the mesh when it wakes */
        if (res < 0)
            log_debug("mesh wake failed", LOG_UINT("to", ud & 0xffff), LOG_ERR(res));
        break;
    case MESH_TAG_EVFD:
        sh->stats.wakes_seen++;
        sh->evfd_armed = false;
        if (res != -ECANCELED && arm_eventfd(sh, self) != 0)
            log_warn("mesh: eventfd read not re-armed (no SQE); retried before sleeping");
        break;
    default: log_warn("mesh: unknown CQE tag", LOG_UINT("user_data", ud)); break;
    }
    return true;
}

bool mesh_cqe(struct mesh *m, uint32_t self, const struct io_uring_cqe *cqe)
{
    return mesh_on_tag(m, self, cqe->user_data, cqe->res);
}

void mesh_stats_get(const struct mesh *m, uint32_t shard, struct mesh_stats *out)
{
    ASSERT(shard < m->n);
    *out = m->shards[shard].stats;
}

uint32_t mesh_lane_depth(const struct mesh *m, uint32_t from, uint32_t to)
{
    ASSERT(from < m->n && to < m->n);
    return spsc_size(&lane_of((struct mesh *)m, from, to)->ring);
}
