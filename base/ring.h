/* Bounded single-producer/single-consumer ring of pointers, the building block of the cross-shard
 * mesh. Exactly one producer thread and one consumer thread; no locks; capacity a power of two.
 *
 * The producer's and consumer's indexes live on separate cache lines, each side caches the other's
 * index and only re-reads it when the cached value says the ring looks full/empty. Writes become
 * visible in batches: spsc_stage() places messages, spsc_publish() releases them all with one
 * store. spsc_push()/spsc_push_many() stage and publish in one call.
 *
 * Ordering: messages are received in the order they were staged. A message's contents written
 * before spsc_publish are visible to the consumer after it pops the message (release/acquire). */
#ifndef STRATA_BASE_RING_H
#define STRATA_BASE_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CACHE_LINE 64

struct spsc_ring {
    /* producer-owned line */
    alignas(CACHE_LINE) _Atomic uint64_t head; /* published count */
    uint64_t staged;                           /* staged but not yet published (>= head) */
    uint64_t tail_cache;                       /* producer's last view of tail */
    /* consumer-owned line */
    alignas(CACHE_LINE) _Atomic uint64_t tail; /* consumed count */
    uint64_t head_cache;                       /* consumer's last view of head */
    /* read-only after init */
    alignas(CACHE_LINE) void **slots;
    uint64_t mask;
};

/* capacity must be a power of two ≥ 2. Returns 0 or ERR_NOMEM / ERR_INVALID. */
int spsc_init(struct spsc_ring *r, uint32_t capacity);
void spsc_deinit(struct spsc_ring *r);

/* Producer: places msg without making it visible. Returns false when the ring is full. */
bool spsc_stage(struct spsc_ring *r, void *msg);
/* Producer: makes every staged message visible. Returns how many were published. */
uint32_t spsc_publish(struct spsc_ring *r);
/* Producer: stage + publish. False when full (backpressure: the caller decides what to do). */
bool spsc_push(struct spsc_ring *r, void *msg);
/* Producer: pushes up to n messages with one publish; returns how many were taken. */
uint32_t spsc_push_many(struct spsc_ring *r, void *const *msgs, uint32_t n);

/* Consumer: takes up to n messages into out[]; returns how many (0 when empty). */
uint32_t spsc_pop_many(struct spsc_ring *r, void **out, uint32_t n);
/* Consumer: one message or NULL. */
void *spsc_pop(struct spsc_ring *r);

/* Sleep/wake checks for callers that order these loads themselves with a fence (the mesh's
 * wake-up protocol): relaxed reads of the other side's index.
 * spsc_pending_relaxed: published messages not yet consumed (either side).
 * spsc_has_room_relaxed: the producer could stage at least one more message (producer side only).
 */
static inline bool spsc_pending_relaxed(struct spsc_ring *r)
{
    return atomic_load_explicit(&r->head, memory_order_relaxed) !=
           atomic_load_explicit(&r->tail, memory_order_relaxed);
}
static inline bool spsc_has_room_relaxed(struct spsc_ring *r)
{
    return r->staged - atomic_load_explicit(&r->tail, memory_order_relaxed) <= r->mask;
}

/* Either side (approximate while the other side runs): published messages not yet consumed. */
uint32_t spsc_size(const struct spsc_ring *r);
uint32_t spsc_capacity(const struct spsc_ring *r);

#endif
