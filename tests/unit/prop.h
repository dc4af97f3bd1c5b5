/* Randomized property-test helper: a seeded PRNG whose seed is printed on failure.
 * The seed is STRATA_TEST_SEED from the environment when set (to reproduce a failure), else derived
 * from the time. prop_check(p, cond) fails the current cmocka test and prints name and seed. */
#ifndef STRATA_TESTS_PROP_H
#define STRATA_TESTS_PROP_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/rand.h"

struct prop {
    const char *name;
    uint64_t seed;
    uint64_t s; /* splitmix64 state */
};

static inline struct prop prop_begin(const char *name)
{
    struct prop p = {name, 0, 0};
    const char *env = getenv("STRATA_TEST_SEED");
    if (env && *env) {
        p.seed = strtoull(env, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        p.seed = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
    }
    p.s = p.seed;
    return p;
}

static inline uint64_t prop_next(struct prop *p)
{
    return splitmix64_next(&p->s);
}

/* Uniform double in [0, 1). */
static inline double prop_unit(struct prop *p)
{
    return rand_unit(prop_next(p));
}

#define prop_check(p, cond)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr,                                                                        \
                    "property %s failed: %s at %s:%d; reproduce with STRATA_TEST_SEED=%" PRIu64    \
                    "\n",                                                                          \
                    (p)->name, #cond, __FILE__, __LINE__, (p)->seed);                              \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

#endif
