/* In-memory postings index of one shard's head (series) or stream set (logs): for every label
 * (name, value) the roaring bitmap of the 32-bit ids that carry it, plus the set of all live ids.
 *
 * Selection follows Prometheus's PostingsForMatchers exactly: a matcher that accepts "" also
 * selects ids that lack the label; positive matchers intersect, negative ones subtract; a selection
 * made only of matchers that accept "" starts from all ids.
 *
 * The index owns copies of names and values. Strings returned by the label APIs borrow from the
 * index and stay valid until the next add/remove. Not thread-safe: owned by one shard. */
#ifndef STRATA_ENGINE_INDEX_MEMINDEX_H
#define STRATA_ENGINE_INDEX_MEMINDEX_H

#include <roaring/roaring.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"
#include "base/strmap.h"
#include "engine/index/matcher.h"

struct memindex {
    struct strmap names; /* name -> struct memindex_name * */
    roaring_bitmap_t *all;
};

int memindex_init(struct memindex *ix);
void memindex_deinit(struct memindex *ix);

/* Adds id under each label. Adding an id twice is the caller's bug. Returns 0 or ERR_NOMEM (the
 * index is then unchanged for this id). */
int memindex_add(struct memindex *ix, uint32_t id, const struct label *labels, size_t n);
/* Removes id from the postings of each of its labels (the caller passes the labels it was added
 * with). */
void memindex_remove(struct memindex *ix, uint32_t id, const struct label *labels, size_t n);

/* Ids selected by all matchers (n ≥ 1) into out (cleared first). Returns 0 or ERR_NOMEM. */
int memindex_select(const struct memindex *ix, const struct matcher *ms, size_t n,
                    roaring_bitmap_t *out);

/* The bitmap for one (name, value), or NULL. Borrowed. */
const roaring_bitmap_t *memindex_postings(const struct memindex *ix, struct str name,
                                          struct str value);

/* Sorted label names carried by at least one id in `filter` (NULL = any live id). *out is malloc'ed
 * (free it); the strings borrow from the index. */
int memindex_label_names(const struct memindex *ix, const roaring_bitmap_t *filter,
                         struct str **out, size_t *n);
/* Sorted values of `name` carried by at least one id in `filter` (NULL = any). */
int memindex_label_values(const struct memindex *ix, struct str name,
                          const roaring_bitmap_t *filter, struct str **out, size_t *n);

uint64_t memindex_series(const struct memindex *ix);
/* Approximate heap bytes used (maps, strings, bitmaps), for /metrics. */
size_t memindex_bytes(const struct memindex *ix);

#endif
