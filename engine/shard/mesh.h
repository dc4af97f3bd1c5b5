/* Cross-core message mesh: an N x N grid of bounded SPSC rings (base/ring.h) through which shard
 * threads exchange caller-allocated messages, plus the wake-up protocol that lets an idle shard
 * block in io_uring_submit_and_wait() and be woken when a message (or ring space) arrives.
 *
 * Lanes. lane(from, to) has exactly one producer (shard `from`) and one consumer (shard `to`);
 * from == to is allowed (a shard may queue work to itself). Messages from one shard to another are
 * received in the order they were sent. A full lane is backpressure: mesh_send() returns ERR_FULL
 * and the caller keeps the message (retry later, or answer the client 429/503). Sending, flushing,
 * polling and waking never lock and never allocate.
 *
 * Messages. Callers embed `struct mesh_msg` as the FIRST member of their own struct and allocate it
 * on their shard. Memory is freed on the shard that allocated it (msg->owner). The easy paths:
 *   - in-place reply:  A: mesh_msg_init(&r->hdr, T, A); mesh_send(m, A, B, &r->hdr)
 *                      B: fills the result into r;   mesh_reply(m, B, &r->hdr)
 *                      A: sees MESH_MSG_REPLY, msg->reply_to == msg; uses and frees it.
 *   - separate reply:  B: mesh_msg_init(&rep->hdr, T2, B); mesh_reply_with(m, B, req, &rep->hdr)
 *                      A: sees MESH_MSG_REPLY, rep->reply_to == req; frees req (its own) and hands
 *                         rep back with mesh_release(m, A, rep)
 *                      B: sees MESH_MSG_RELEASE; frees rep.
 * The return paths (mesh_reply, mesh_reply_with, mesh_release) never fail: when the lane is full
 * the message is parked on an intrusive per-lane backlog (through msg->next, no allocation) that
 * mesh_flush() drains first. That backlog is bounded by construction: every parked message answers
 * or returns a message the peer allocated, so it can never exceed what the peer chose to send.
 * While a lane has a backlog, mesh_send() on it returns ERR_FULL so that order per lane is kept.
 *
 * Batching. mesh_send/mesh_reply only STAGE; nothing is visible to the receiver until
 * mesh_flush(m, from), which publishes each touched lane with one release store and then wakes
 * every destination that is sleeping.
 *
 * Wake-ups. Each shard's event loop attaches its io_uring once: mesh_attach(m, shard, ring).
 * Two modes, chosen by mesh_create (probe) and logged by mesh_attach:
 *   - MESH_WAKE_MSG_RING: the waker preps IORING_OP_MSG_RING on ITS OWN ring targeting the
 *     sleeper's ring fd; the sleeper gets a CQE whose user_data is a mesh tag. The waker's own
 *     completion is skipped (IOSQE_CQE_SKIP_SUCCESS) when supported, else it arrives tagged too.
 *   - MESH_WAKE_EVENTFD (kernel < 5.18, probe failure, or MESH_CREATE_FORCE_EVENTFD): an eventfd
 *     per shard; mesh_attach queues a read of it on the shard's ring; wakers write(2) to it; the
 *     read's completion is a tagged CQE and mesh_cqe() re-arms the read.
 * A MSG_RING wake is an SQE on the waker's ring; mesh_flush/mesh_poll submit it at once so the
 * sleeper does not wait for the waker's next loop turn. Wakes go only to sleeping shards: busy
 * destinations cost nothing.
 *
 * The loop (one shard thread, `self`):
 *     mesh_attach(m, self, &ring);                              once, before the loop
 *     for (;;) {
 *         n = mesh_poll(m, self, msgs, 64);  handle each msg ...  (requests -> mesh_reply, ...)
 *         ... mesh_send(m, self, dst, msg) for new work; keep msg on ERR_FULL and retry later ...
 *         mesh_flush(m, self);
 *         if (idle && mesh_prepare_sleep(m, self)) io_uring_submit_and_wait(&ring, 1);
 *         else io_uring_submit(&ring);
 *         for each cqe: if (mesh_cqe(m, self, cqe)) continue;  ... the loop's own CQEs ...
 *     }
 * Between a true mesh_prepare_sleep() and blocking, the loop must not send or poll.
 * A shard that is blocked because a lane is full (ERR_FULL, or a backlog) is woken by the consumer
 * as soon as it frees space on that lane, so a shard may sleep while holding unsent messages.
 *
 * CQE tags: every user_data the mesh uses has (ud & MESH_TAG_MASK) == MESH_TAG. They never collide
 * with user-space pointers (which are < 2^47 on Linux x86-64/arm64); the loop must not use other
 * values with these top 32 bits.
 *
 * Threading: functions taking `self`/`from` run on that shard's thread only (they touch the shard's
 * private state and are the single producer/consumer of its lanes). mesh_create/mesh_destroy run
 * while no shard uses the mesh. Every attached io_uring must be torn down (io_uring_queue_exit)
 * before mesh_destroy, since an eventfd read may still be pending on it. */
#ifndef STRATA_ENGINE_SHARD_MESH_H
#define STRATA_ENGINE_SHARD_MESH_H

#include <stdbool.h>
#include <stdint.h>

struct io_uring;
struct io_uring_cqe;
struct mesh;

#define MESH_SHARDS_MAX   256u
#define MESH_CAPACITY_MAX (1u << 20)

/* msg->flags */
#define MESH_MSG_REPLY   0x1u /* sent by mesh_reply / mesh_reply_with; reply_to names the request */
#define MESH_MSG_RELEASE 0x2u /* sent by mesh_release: the receiver owns it and must free it */

struct mesh_msg {
    struct mesh_msg *next; /* the mesh's while parked on a backlog; otherwise free for the owner */
    void *reply_to;        /* set on replies: the request (for mesh_reply, the message itself) */
    uint32_t type;         /* caller-defined */
    uint16_t owner;        /* shard that allocated it and must free it (mesh_msg_init) */
    uint16_t from;         /* sender of the last hop (set by the mesh) */
    uint16_t to;           /* receiver of the last hop (set by the mesh) */
    uint16_t flags;        /* MESH_MSG_* */
};

/* Initialises the header of a message allocated on shard `owner` (flags 0, no reply_to). */
static inline void mesh_msg_init(struct mesh_msg *msg, uint32_t type, uint32_t owner)
{
    *msg = (struct mesh_msg){.type = type, .owner = (uint16_t)owner};
}

enum mesh_wake_mode { MESH_WAKE_MSG_RING = 1, MESH_WAKE_EVENTFD = 2 };

/* mesh_create_flags flags */
#define MESH_CREATE_FORCE_EVENTFD 0x1u

#define MESH_TAG_MASK 0xffffffff00000000ull
#define MESH_TAG      0x4d53480000000000ull /* "MSH\0" in the top bytes */
/* CQE user_data of the mesh: MESH_TAG | kind << 16 | shard */
#define MESH_TAG_WAKE      (MESH_TAG | 0x10000ull) /* MSG_RING wake received; low bits: waker */
#define MESH_TAG_SENT      (MESH_TAG | 0x20000ull) /* waker's MSG_RING completion; low: target */
#define MESH_TAG_EVFD      (MESH_TAG | 0x30000ull) /* eventfd read completed; low bits: self */
#define MESH_TAG_KIND_MASK 0xffff0000ull

struct mesh_stats {
    uint64_t sent;          /* messages staged (mesh_send + return paths) */
    uint64_t received;      /* messages returned by mesh_poll */
    uint64_t full;          /* mesh_send calls refused with ERR_FULL */
    uint64_t backlogged;    /* return-path messages parked on a backlog */
    uint64_t flushes;       /* mesh_flush calls that published something */
    uint64_t wakes_sent;    /* wake-ups this shard sent (message or space) */
    uint64_t space_wakes;   /* of which: a producer waiting for space was woken */
    uint64_t wakes_seen;    /* tagged wake CQEs this shard consumed in mesh_cqe */
    uint64_t sleeps;        /* mesh_prepare_sleep returned true */
    uint64_t sleeps_denied; /* mesh_prepare_sleep returned false (work arrived meanwhile) */
};

/* True when a CQE's user_data belongs to the mesh. */
static inline bool mesh_tag_is(uint64_t user_data)
{
    return (user_data & MESH_TAG_MASK) == MESH_TAG;
}

/* Creates a mesh of nshards x nshards lanes holding ring_capacity messages each (a power of two,
 * 2..MESH_CAPACITY_MAX; 1 <= nshards <= MESH_SHARDS_MAX). Probes the kernel for IORING_OP_MSG_RING.
 * Returns 0, ERR_INVALID, ERR_NOMEM or -errno (eventfd creation). */
int mesh_create(uint32_t nshards, uint32_t ring_capacity, struct mesh **out);
int mesh_create_flags(uint32_t nshards, uint32_t ring_capacity, uint32_t flags, struct mesh **out);
/* Frees the mesh (not the messages still in it: the caller drains first). NULL is a no-op. */
void mesh_destroy(struct mesh *m);

uint32_t mesh_nshards(const struct mesh *m);
enum mesh_wake_mode mesh_wake_mode(const struct mesh *m);
const char *mesh_wake_mode_str(enum mesh_wake_mode mode);

/* On shard's thread, once, before it sleeps or wakes anyone: registers its io_uring (which must
 * outlive the mesh's use of it). In eventfd mode queues the eventfd read (submitted with the loop's
 * next submit). Logs the wake mode. Returns 0, ERR_UNSUPPORTED (the ring cannot MSG_RING although
 * the mesh chose that mode) or ERR_FULL (no SQE for the eventfd read). */
int mesh_attach(struct mesh *m, uint32_t shard, struct io_uring *ring);

/* Stages msg on lane(from, to). 0, or ERR_FULL when the lane (or its backlog) is full: the caller
 * keeps msg and retries; it will be woken when space frees if it sleeps. Sets msg->from/to. */
int mesh_send(struct mesh *m, uint32_t from, uint32_t to, struct mesh_msg *msg);
/* Sends msg (which arrived at self) back to msg->from with MESH_MSG_REPLY and reply_to = msg.
 * Never fails (see backlog above). */
void mesh_reply(struct mesh *m, uint32_t self, struct mesh_msg *msg);
/* Sends rep (allocated on self) to req->from as the reply to req: MESH_MSG_REPLY, reply_to = req.
 * The receiver returns rep with mesh_release. Never fails. */
void mesh_reply_with(struct mesh *m, uint32_t self, struct mesh_msg *req, struct mesh_msg *rep);
/* Hands msg back to msg->owner flagged MESH_MSG_RELEASE so the owner frees it. Never fails. */
void mesh_release(struct mesh *m, uint32_t self, struct mesh_msg *msg);

/* Publishes everything `from` staged (one release store per lane), drains backlogs as far as space
 * allows, and wakes sleeping destinations. Returns the number of messages published. */
uint32_t mesh_flush(struct mesh *m, uint32_t from);

/* True when everything `from` sent is published: nothing staged, no backlog (a loop may stop). */
bool mesh_flushed(const struct mesh *m, uint32_t from);

/* Takes up to max messages addressed to self, round-robin across sources (each non-empty source
 * gets a share of max per call and the starting source rotates, so none starves). Returns how many.
 * Wakes producers that were waiting for the space this frees. Ends self's sleeping state. */
uint32_t mesh_poll(struct mesh *m, uint32_t self, struct mesh_msg **out, uint32_t max);

/* Call when the loop is idle and about to block in io_uring_submit_and_wait. Flushes self, marks
 * self sleeping, then re-checks every incoming lane and every lane self is blocked on (full).
 * Returns true if the loop may block (any later message or freed space will wake it), false if work
 * arrived meanwhile (self is not marked sleeping then). */
bool mesh_prepare_sleep(struct mesh *m, uint32_t self);

/* Consumes a CQE if it is the mesh's (returns true; the loop skips it), re-arming the eventfd read
 * in eventfd mode. Returns false for the loop's own CQEs. Does not call io_uring_cqe_seen. */
bool mesh_cqe(struct mesh *m, uint32_t self, const struct io_uring_cqe *cqe);
/* The same from a CQE's user_data and res, for loops that route tags themselves, e.g.
 * loop_tag_register(l, MESH_TAG, MESH_TAG_MASK, fn, arg) with fn calling mesh_on_tag. */
bool mesh_on_tag(struct mesh *m, uint32_t self, uint64_t user_data, int res);

/* Messages published on lane(from, to) and not yet taken by `to`. Any thread; approximate while the
 * shards run (two acquire loads). For /metrics. */
uint32_t mesh_lane_depth(const struct mesh *m, uint32_t from, uint32_t to);

/* Copies shard's counters. Only on shard's own thread, or after that thread stopped (joined):
 * the counters are plain, thread-private fields. */
void mesh_stats_get(const struct mesh *m, uint32_t shard, struct mesh_stats *out);

#endif
