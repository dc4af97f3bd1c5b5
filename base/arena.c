/* Chunked bump allocator. */
#include "base/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"

struct arena_chunk {
    struct arena_chunk *next;
    size_t size; /* usable bytes in data[] */
    size_t used;
    _Alignas(64) unsigned char data[];
};

void arena_init(struct arena *a, size_t chunk_size)
{
    a->head = NULL;
    a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
    a->bytes_allocated = 0;
}

static void free_chain(struct arena_chunk *c)
{
    while (c) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
}

void arena_deinit(struct arena *a)
{
    free_chain(a->head);
    a->head = NULL;
    a->bytes_allocated = 0;
}

void arena_reset(struct arena *a)
{
    if (!a->head)
        return;
    struct arena_chunk *keep = a->head;
    while (keep->next) /* the oldest chunk is last; keep it when it is a normal-sized one */
        keep = keep->next;
    struct arena_chunk *c = a->head;
    while (c != keep) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    keep->used = 0;
    a->head = keep;
    a->bytes_allocated = keep->size;
}

void *arena_alloc_aligned(struct arena *a, size_t n, size_t align)
{
    ASSERT(align && (align & (align - 1)) == 0 && align <= 64);
    struct arena_chunk *c = a->head;
    if (c) {
        size_t off = (c->used + align - 1) & ~(align - 1);
        if (off <= c->size && n <= c->size - off) {
            c->used = off + n;
            return c->data + off;
        }
    }
    size_t size = n > a->chunk_size ? n : a->chunk_size;
    if (size > SIZE_MAX - sizeof *c)
        return NULL;
    /* data[] is 64-aligned only if the chunk is: malloc promises 16 */
    void *mem;
    if (posix_memalign(&mem, _Alignof(struct arena_chunk), sizeof(struct arena_chunk) + size))
        return NULL;
    struct arena_chunk *nc = mem;
    nc->size = size;
    nc->used = n;
    a->bytes_allocated += size;
    if (c && n > a->chunk_size) {
        /* an oversized allocation goes behind the current chunk so its free space stays usable */
        nc->next = c->next;
        c->next = nc;
    } else {
        nc->next = c;
        a->head = nc;
    }
    return nc->data;
}

void *arena_dup(struct arena *a, const void *p, size_t n, int nul)
{
    char *d = arena_alloc_aligned(a, n + (nul ? 1 : 0), 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, p, n);
    if (nul)
        d[n] = 0;
    return d;
}
