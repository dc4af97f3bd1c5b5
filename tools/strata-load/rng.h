/* Deterministic pseudo-randomness for the load generator: splitmix64 as a stream (struct ld_rng)
 * and as a stateless keyed hash (ld_hash3), so any generated value can be recomputed from
 * (seed, what, when) without keeping state. Not cryptographic. Pure and thread-safe. */
#ifndef STRATA_TOOLS_LOAD_RNG_H
#define STRATA_TOOLS_LOAD_RNG_H

#include <stdint.h>

static inline uint64_t ld_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A keyed hash of two integers: different seeds give unrelated streams. */
static inline uint64_t ld_hash3(uint64_t seed, uint64_t a, uint64_t b)
{
    return ld_mix64(seed + 0x9e3779b97f4a7c15ull * (ld_mix64(a + 0x632be59bd9b4e019ull) ^ b) +
                    0x2545f4914f6cdd1dull * b);
}

struct ld_rng {
    uint64_t s;
};

static inline struct ld_rng ld_rng_make(uint64_t seed)
{
    struct ld_rng r = {ld_mix64(seed ^ 0x5851f42d4c957f2dull)};
    return r;
}

static inline uint64_t ld_rng_next(struct ld_rng *r)
{
    return ld_mix64(r->s += 0x9e3779b97f4a7c15ull);
}

/* Uniform in [0, n) (Lemire's multiply-shift; bias below 2^-32 for the n used here). n > 0. */
static inline uint32_t ld_rng_below(struct ld_rng *r, uint32_t n)
{
    return (uint32_t)(((ld_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform double in [0, 1). */
static inline double ld_rng_unit(struct ld_rng *r)
{
    return (double)(ld_rng_next(r) >> 11) * 0x1.0p-53;
}

static inline double ld_unit_of(uint64_t h)
{
    return (double)(h >> 11) * 0x1.0p-53;
}

#endif
