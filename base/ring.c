/* SPSC ring: monotonically increasing 64-bit counters (never wrap in practice), slot = count &
 * mask. */
#include "base/ring.h"

#include <stdlib.h>

#include "base/error.h"

int spsc_init(struct spsc_ring *r, uint32_t capacity)
{
    if (capacity < 2 || (capacity & (capacity - 1)))
        return ERR_INVALID;
    r->slots = calloc(capacity, sizeof *r->slots);
    if (!r->slots)
        return ERR_NOMEM;
    r->mask = capacity - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    r->staged = 0;
    r->tail_cache = 0;
    r->head_cache = 0;
    return 0;
}

void spsc_deinit(struct spsc_ring *r)
{
    free(r->slots);
    r->slots = NULL;
}

/* Free slots, at least `want` when the ring has them: the consumer's index is re-read only when the
 * cached view shows fewer. */
static inline uint64_t free_slots(struct spsc_ring *r, uint64_t want)
{
    uint64_t cap = r->mask + 1;
    uint64_t room = cap - (r->staged - r->tail_cache);
    if (room >= want)
        return room;
    r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
    return cap - (r->staged - r->tail_cache);
}

bool spsc_stage(struct spsc_ring *r, void *msg)
{
    if (free_slots(r, 1) == 0)
        return false;
    r->slots[r->staged & r->mask] = msg;
    r->staged++;
    return true;
}

uint32_t spsc_publish(struct spsc_ring *r)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (r->staged == head)
        return 0;
    atomic_store_explicit(&r->head, r->staged, memory_order_release);
    return (uint32_t)(r->staged - head);
}

bool spsc_push(struct spsc_ring *r, void *msg)
{
    if (!spsc_stage(r, msg))
        return false;
    spsc_publish(r);
    return true;
}

uint32_t spsc_push_many(struct spsc_ring *r, void *const *msgs, uint32_t n)
{
    uint64_t room = free_slots(r, n);
    if (room < n)
        n = (uint32_t)room;
    for (uint32_t i = 0; i < n; i++)
        r->slots[(r->staged + i) & r->mask] = msgs[i];
    r->staged += n;
    if (n)
        spsc_publish(r);
    return n;
}

uint32_t spsc_pop_many(struct spsc_ring *r, void **out, uint32_t n)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t avail = r->head_cache - tail;
    if (avail < n) {
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        avail = r->head_cache - tail;
    }
    if (avail < n)
        n = (uint32_t)avail;
    for (uint32_t i = 0; i < n; i++)
        out[i] = r->slots[(tail + i) & r->mask];
    if (n)
        atomic_store_explicit(&r->tail, tail + n, memory_order_release);
    return n;
}

void *spsc_pop(struct spsc_ring *r)
{
    void *m;
    return spsc_pop_many(r, &m, 1) ? m : NULL;
}

uint32_t spsc_size(const struct spsc_ring *r)
{
    uint64_t h = atomic_load_explicit(&((struct spsc_ring *)r)->head, memory_order_acquire);
    uint64_t t = atomic_load_explicit(&((struct spsc_ring *)r)->tail, memory_order_acquire);
    return h >= t ? (uint32_t)(h - t) : 0;
}

uint32_t spsc_capacity(const struct spsc_ring *r)
{
    return (uint32_t)(r->mask + 1);
}
