/* Deterministic pseudo-random numbers (splitmix64) for tests, benchmarks and load generation:
 * the same seed gives the same sequence on every machine. Not for anything secret. */
#ifndef STRATA_BASE_RAND_H
#define STRATA_BASE_RAND_H

#include <stdint.h>

/* The splitmix64 output function of x + the golden-ratio increment: a good 64-bit mixer. */
static inline uint64_t splitmix64_mix(uint64_t x)
{
    uint64_t z = x + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Advances *state and returns the next value of the sequence. */
static inline uint64_t splitmix64_next(uint64_t *state)
{
    uint64_t out = splitmix64_mix(*state);
    *state += 0x9e3779b97f4a7c15ull;
    return out;
}

/* Uniform double in [0, 1) from 53 random bits. */
static inline double rand_unit(uint64_t r)
{
    return (double)(r >> 11) * 0x1.0p-53;
}

#endif
