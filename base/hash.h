/* Fast non-cryptographic hashing (XXH3 from libxxhash). hash_labels is the identity hash of a label
 * set: names and values separated by 0xff bytes (which cannot occur in UTF-8), so {a="bc"} and
 * {ab="c"} differ. The label set must already be sorted; the hash is stable across runs and
 * machines (it decides which shard owns a series and is stored in nothing on disk). Thread-safe. */
#ifndef STRATA_BASE_HASH_H
#define STRATA_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "base/str.h"

uint64_t hash_bytes(const void *p, size_t n);
uint64_t hash_bytes_seed(const void *p, size_t n, uint64_t seed);
uint64_t hash_labels(const struct label *labels, size_t n);

/* Maps a 64-bit hash onto [0, n) without modulo bias worth caring about (Lemire's multiply-shift).
 */
static inline uint32_t hash_to_range(uint64_t h, uint32_t n)
{
    return (uint32_t)(((unsigned __int128)h * n) >> 64);
}

#endif
