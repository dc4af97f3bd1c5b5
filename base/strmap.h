/* String-keyed hash map (open addressing, linear probing, backward-shift deletion, XXH3 hashes).
 * Keys are borrowed: the caller keeps key bytes alive and unchanged while they are in the map
 * (typically in an arena it owns). Values are opaque pointers. Iteration order is unspecified;
 * inserting or removing invalidates iterators. Not thread-safe: one owner. */
#ifndef STRATA_BASE_STRMAP_H
#define STRATA_BASE_STRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/str.h"

struct strmap_slot {
    struct str key; /* key.ptr == NULL: empty slot */
    uint64_t hash;
    void *value;
};

struct strmap {
    struct strmap_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t len;
};

void strmap_init(struct strmap *m);
void strmap_deinit(struct strmap *m);
/* Returns the value, or NULL when absent. */
void *strmap_get(const struct strmap *m, struct str key);
/* Inserts or replaces. Returns 0 or ERR_NOMEM. key.ptr must not be NULL (use "" for empty). */
int strmap_put(struct strmap *m, struct str key, void *value);
/* Removes key; returns its value or NULL when absent. */
void *strmap_remove(struct strmap *m, struct str key);
static inline size_t strmap_len(const struct strmap *m)
{
    return m->len;
}
/* Iteration: for (size_t i = 0; strmap_next(m, &i, &slot);) ... */
int strmap_next(const struct strmap *m, size_t *pos, const struct strmap_slot **slot);

#endif
