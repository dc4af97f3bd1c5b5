/* SPSC ring: single-thread semantics (capacity checks, full/empty, staged messages invisible until
 * published, push_many partial, wrap-around) and a two-thread run moving 10 M sequence numbers
 * through a small ring with exactly-once, in-order delivery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>

#include "base/error.h"
#include "base/ring.h"
#include "tests/unit/prop.h"

#define MSG(i) ((void *)(uintptr_t)(i))
#define VAL(p) ((uint64_t)(uintptr_t)(p))

static void test_init(void **state)
{
    struct spsc_ring r;
    assert_int_equal(spsc_init(&r, 0), ERR_INVALID);
    assert_int_equal(spsc_init(&r, 1), ERR_INVALID);
    assert_int_equal(spsc_init(&r, 3), ERR_INVALID);
    assert_int_equal(spsc_init(&r, 100), ERR_INVALID);
    assert_int_equal(spsc_init(&r, 2), 0);
    assert_int_equal(spsc_capacity(&r), 2);
    spsc_deinit(&r);
    assert_int_equal(spsc_init(&r, 1024), 0);
    assert_int_equal(spsc_capacity(&r), 1024);
    assert_int_equal(spsc_size(&r), 0);
    spsc_deinit(&r);
    /* the two sides' indexes live on different cache lines */
    assert_true(offsetof(struct spsc_ring, tail) - offsetof(struct spsc_ring, head) >= CACHE_LINE);
}

static void test_full_empty(void **state)
{
    struct spsc_ring r;
    assert_int_equal(spsc_init(&r, 8), 0);
    void *out[16];
    assert_null(spsc_pop(&r));
    assert_int_equal(spsc_pop_many(&r, out, 16), 0);
    for (uintptr_t i = 1; i <= 8; i++)
        assert_true(spsc_push(&r, MSG(i)));
    assert_false(spsc_push(&r, MSG(9))); /* full: backpressure, nothing overwritten */
    assert_false(spsc_stage(&r, MSG(9)));
    assert_int_equal(spsc_size(&r), 8);
    for (uintptr_t i = 1; i <= 8; i++)
        assert_int_equal(VAL(spsc_pop(&r)), i);
    assert_null(spsc_pop(&r));
    assert_int_equal(spsc_size(&r), 0);
    /* one slot freed is one slot usable */
    for (uintptr_t i = 1; i <= 8; i++)
        assert_true(spsc_push(&r, MSG(i)));
    assert_int_equal(VAL(spsc_pop(&r)), 1);
    assert_true(spsc_push(&r, MSG(9)));
    assert_false(spsc_push(&r, MSG(10)));
    assert_int_equal(spsc_pop_many(&r, out, 16), 8); /* fewer available than asked */
    for (int i = 0; i < 8; i++)
        assert_int_equal(VAL(out[i]), i + 2);
    spsc_deinit(&r);
}

static void test_stage_publish(void **state)
{
    struct spsc_ring r;
    assert_int_equal(spsc_init(&r, 4), 0);
    assert_int_equal(spsc_publish(&r), 0); /* nothing staged */
    assert_true(spsc_stage(&r, MSG(1)));
    assert_true(spsc_stage(&r, MSG(2)));
    assert_true(spsc_stage(&r, MSG(3)));
    assert_null(spsc_pop(&r)); /* staged is invisible */
    assert_int_equal(spsc_size(&r), 0);
    assert_int_equal(spsc_publish(&r), 3);
    assert_int_equal(spsc_publish(&r), 0);
    assert_int_equal(spsc_size(&r), 3);
    /* staged-but-unpublished messages take room: 3 published + 1 staged fills 4 slots */
    assert_true(spsc_stage(&r, MSG(4)));
    assert_false(spsc_stage(&r, MSG(5)));
    assert_false(spsc_push(&r, MSG(5)));
    void *out[4];
    assert_int_equal(spsc_pop_many(&r, out, 4), 3);
    assert_int_equal(VAL(out[0]), 1);
    assert_int_equal(VAL(out[2]), 3);
    assert_null(spsc_pop(&r)); /* message 4 still unpublished */
    /* push publishes everything staged before it, in order */
    assert_true(spsc_push(&r, MSG(5)));
    assert_int_equal(VAL(spsc_pop(&r)), 4);
    assert_int_equal(VAL(spsc_pop(&r)), 5);
    assert_null(spsc_pop(&r));
    spsc_deinit(&r);
}

static void test_push_many_partial(void **state)
{
    struct spsc_ring r;
    assert_int_equal(spsc_init(&r, 8), 0);
    void *in[20], *out[20];
    for (int i = 0; i < 20; i++)
        in[i] = MSG(i + 1);
    assert_int_equal(spsc_push_many(&r, in, 5), 5);
    assert_int_equal(spsc_push_many(&r, in + 5, 10), 3); /* only the room left */
    assert_int_equal(spsc_push_many(&r, in + 8, 10), 0);
    assert_int_equal(spsc_push_many(&r, in, 0), 0);
    assert_int_equal(spsc_size(&r), 8);
    assert_int_equal(spsc_pop_many(&r, out, 20), 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(VAL(out[i]), i + 1);
    /* room the consumer freed since the producer last looked is used in full, not just the part
     * the producer's cached view of the consumer index shows */
    assert_int_equal(spsc_push_many(&r, in, 4), 4);
    assert_int_equal(spsc_pop_many(&r, out, 4), 4);
    assert_int_equal(spsc_push_many(&r, in, 8), 8);
    assert_int_equal(spsc_pop_many(&r, out, 20), 8);
    /* push_many also publishes previously staged messages, which keep their place */
    assert_true(spsc_stage(&r, MSG(100)));
    assert_int_equal(spsc_push_many(&r, in, 2), 2);
    assert_int_equal(spsc_pop_many(&r, out, 20), 3);
    assert_int_equal(VAL(out[0]), 100);
    assert_int_equal(VAL(out[1]), 1);
    assert_int_equal(VAL(out[2]), 2);
    spsc_deinit(&r);
}

/* Many laps of random batch sizes: counters keep wrapping the slot mask. */
static void test_wraparound(void **state)
{
    struct prop p = prop_begin("ring_wrap");
    struct spsc_ring r;
    assert_int_equal(spsc_init(&r, 16), 0);
    uint64_t next_in = 1, next_out = 1;
    void *buf[32];
    for (int step = 0; step < 20000; step++) {
        uint32_t n = (uint32_t)(prop_next(&p) % 20);
        for (uint32_t i = 0; i < n; i++)
            buf[i] = MSG(next_in + i);
        uint32_t took = spsc_push_many(&r, buf, n);
        prop_check(&p, took <= n && spsc_size(&r) <= 16);
        next_in += took;
        uint32_t got = spsc_pop_many(&r, buf, (uint32_t)(prop_next(&p) % 20));
        for (uint32_t i = 0; i < got; i++)
            prop_check(&p, VAL(buf[i]) == next_out++);
        prop_check(&p, spsc_size(&r) == next_in - next_out);
    }
    spsc_deinit(&r);
}

#define TWO_THREAD_N 10000000ull

struct two {
    struct spsc_ring r;
    uint64_t seed;
    uint64_t bad; /* first out-of-order value seen by the consumer, 0 when none */
    uint64_t received;
};

static void *producer(void *arg)
{
    struct two *t = arg;
    struct prop p = {"ring_producer", t->seed, t->seed};
    uint64_t next = 1;
    void *batch[64];
    while (next <= TWO_THREAD_N) {
        uint64_t mode = prop_next(&p) % 3;
        if (mode == 0) {
            if (!spsc_push(&t->r, MSG(next)))
                sched_yield();
            else
                next++;
            continue;
        }
        uint32_t n = 1 + (uint32_t)(prop_next(&p) % 64);
        if (n > TWO_THREAD_N - next + 1)
            n = (uint32_t)(TWO_THREAD_N - next + 1);
        if (mode == 1) {
            for (uint32_t i = 0; i < n; i++)
                batch[i] = MSG(next + i);
            uint32_t took = spsc_push_many(&t->r, batch, n);
            next += took;
            if (took == 0)
                sched_yield();
        } else {
            uint32_t staged = 0;
            while (staged < n && spsc_stage(&t->r, MSG(next)))
                staged++, next++;
            spsc_publish(&t->r);
            if (staged == 0)
                sched_yield();
        }
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct two *t = arg;
    struct prop p = {"ring_consumer", ~t->seed, ~t->seed};
    uint64_t expect = 1;
    void *batch[64];
    while (expect <= TWO_THREAD_N) {
        uint32_t got;
        if (prop_next(&p) & 1) {
            void *m = spsc_pop(&t->r);
            got = m != NULL;
            batch[0] = m;
        } else {
            got = spsc_pop_many(&t->r, batch, 1 + (uint32_t)(prop_next(&p) % 64));
        }
        if (got == 0) {
            sched_yield();
            continue;
        }
        for (uint32_t i = 0; i < got; i++) {
            if (VAL(batch[i]) != expect && !t->bad)
                t->bad = expect;
            expect++;
        }
        t->received += got;
    }
    return NULL;
}

static void test_two_threads(void **state)
{
    struct prop p = prop_begin("ring_two_threads");
    struct two t = {.seed = prop_next(&p)};
    assert_int_equal(spsc_init(&t.r, 64), 0);
    pthread_t a, b;
    assert_int_equal(pthread_create(&b, NULL, consumer, &t), 0);
    assert_int_equal(pthread_create(&a, NULL, producer, &t), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    if (t.bad)
        fprintf(stderr, "first bad position: %llu\n", (unsigned long long)t.bad);
    prop_check(&p, t.bad == 0);
    prop_check(&p, t.received == TWO_THREAD_N);
    assert_null(spsc_pop(&t.r)); /* nothing extra */
    assert_int_equal(spsc_size(&t.r), 0);
    spsc_deinit(&t.r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),          cmocka_unit_test(test_full_empty),
        cmocka_unit_test(test_stage_publish), cmocka_unit_test(test_push_many_partial),
        cmocka_unit_test(test_wraparound),    cmocka_unit_test(test_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
