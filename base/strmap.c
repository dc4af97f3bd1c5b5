/* Open-addressing string map. Load factor ≤ 3/4; deletion shifts later entries of the probe run
 * back so no tombstones accumulate. */
#include "base/strmap.h"

#include <stdlib.h>

#include "base/error.h"
#include "base/hash.h"

void strmap_init(struct strmap *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->len = 0;
}

void strmap_deinit(struct strmap *m)
{
    free(m->slots);
    strmap_init(m);
}

static size_t find(const struct strmap *m, struct str key, uint64_t h)
{
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].key.ptr) {
        if (m->slots[i].hash == h && str_eq(m->slots[i].key, key))
            return i;
        i = (i + 1) & mask;
    }
    return i; /* the empty slot that ends the probe run */
}

void *strmap_get(const struct strmap *m, struct str key)
{
    if (!m->len)
        return NULL;
    size_t i = find(m, key, hash_bytes(key.ptr, key.len));
    return m->slots[i].key.ptr ? m->slots[i].value : NULL;
}

static int grow(struct strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    struct strmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return ERR_NOMEM;
    struct strmap old = *m;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].key.ptr)
            m->slots[find(m, old.slots[i].key, old.slots[i].hash)] = old.slots[i];
    }
    free(old.slots);
    return 0;
}

int strmap_put(struct strmap *m, struct str key, void *value)
{
    if ((m->len + 1) * 4 > m->cap * 3) {
        int rc = grow(m);
        if (rc)
            return rc;
    }
    uint64_t h = hash_bytes(key.ptr, key.len);
    size_t i = find(m, key, h);
    if (!m->slots[i].key.ptr) {
        m->slots[i].key = key;
        m->slots[i].hash = h;
        m->len++;
    }
    m->slots[i].value = value;
    return 0;
}

void *strmap_remove(struct strmap *m, struct str key)
{
    if (!m->len)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = find(m, key, hash_bytes(key.ptr, key.len));
    if (!m->slots[i].key.ptr)
        return NULL;
    void *value = m->slots[i].value;
    /* backward shift: move later members of the run into the hole when their home allows it */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->slots[j].key.ptr; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        int between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].key.ptr = NULL;
    m->slots[hole].value = NULL;
    m->len--;
    return value;
}

int strmap_next(const struct strmap *m, size_t *pos, const struct strmap_slot **slot)
{
    for (size_t i = *pos; i < m->cap; i++) {
        if (m->slots[i].key.ptr) {
            *slot = &m->slots[i];
            *pos = i + 1;
            return 1;
        }
    }
    *pos = m->cap;
    return 0;
}
