/* Arena (bump) allocator: many small allocations freed together. Memory comes from malloc in chunks
 * of at least `chunk_size` bytes; an allocation larger than a chunk gets a chunk of its own.
 * arena_reset keeps the first chunk for reuse and frees the rest. Not thread-safe: one owner. */
#ifndef STRATA_BASE_ARENA_H
#define STRATA_BASE_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
    struct arena_chunk *head; /* current chunk; older chunks follow */
    size_t chunk_size;
    size_t bytes_allocated; /* sum of chunk sizes, for memory accounting */
};

void arena_init(struct arena *a, size_t chunk_size);
void arena_deinit(struct arena *a);
void arena_reset(struct arena *a);
/* Returns `n` bytes aligned to `align` (a power of two ≤ 64), or NULL when malloc fails. */
void *arena_alloc_aligned(struct arena *a, size_t n, size_t align);
static inline void *arena_alloc(struct arena *a, size_t n)
{
    return arena_alloc_aligned(a, n, 8);
}
/* Copies n bytes into the arena; with a NUL appended when `nul` is true. */
void *arena_dup(struct arena *a, const void *p, size_t n, int nul);

#endif
