/* arena: alignment of every power of two up to 64, big (oversized) allocations, reset and reuse,
 * dup with and without NUL, allocation accounting. Run under ASan, so overlap or overrun shows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/arena.h"
#include "tests/unit/prop.h"

static void test_alignment(void **state)
{
    struct arena a;
    arena_init(&a, 1024);
    struct prop p = prop_begin("arena_alignment");
    for (int i = 0; i < 5000; i++) {
        size_t align = (size_t)1 << (prop_next(&p) % 7); /* 1..64 */
        size_t n = (size_t)(prop_next(&p) % 200);
        uint8_t *m = arena_alloc_aligned(&a, n, align);
        assert_non_null(m);
        prop_check(&p, ((uintptr_t)m & (align - 1)) == 0);
        memset(m, 0xa5, n); /* ASan: the whole block is addressable */
    }
    uint64_t *d = arena_alloc(&a, 3 * sizeof *d); /* arena_alloc: 8-aligned */
    assert_true(((uintptr_t)d & 7) == 0);
    arena_deinit(&a);
}

/* Consecutive allocations do not overlap and keep their contents. */
static void test_no_overlap(void **state)
{
    struct arena a;
    arena_init(&a, 256);
    struct prop p = prop_begin("arena_no_overlap");
    uint8_t *ptrs[2000];
    size_t lens[2000];
    for (int i = 0; i < 2000; i++) {
        lens[i] = 1 + (size_t)(prop_next(&p) % (i % 50 == 0 ? 2000 : 64));
        ptrs[i] = arena_alloc_aligned(&a, lens[i], 1);
        memset(ptrs[i], (uint8_t)i, lens[i]);
    }
    for (int i = 0; i < 2000; i++)
        for (size_t k = 0; k < lens[i]; k++)
            prop_check(&p, ptrs[i][k] == (uint8_t)i);
    arena_deinit(&a);
}

static void test_big_allocations(void **state)
{
    struct arena a;
    arena_init(&a, 4096);
    assert_int_equal(a.bytes_allocated, 0);
    uint8_t *s1 = arena_alloc_aligned(&a, 100, 1);
    assert_int_equal(a.bytes_allocated, 4096);
    uint8_t *big = arena_alloc(&a, 1 << 20); /* own chunk, sized exactly */
    assert_non_null(big);
    memset(big, 1, 1 << 20);
    assert_int_equal(a.bytes_allocated, 4096 + (1 << 20));
    /* the current chunk's free space stays in use after an oversized allocation */
    uint8_t *s2 = arena_alloc_aligned(&a, 100, 1);
    assert_ptr_equal(s2, s1 + 100);
    /* a request that cannot be sized fails without touching malloc */
    assert_null(arena_alloc(&a, SIZE_MAX - 8));
    arena_deinit(&a);
    assert_int_equal(a.bytes_allocated, 0);

    /* chunk_size 0 picks the default */
    arena_init(&a, 0);
    assert_true(a.chunk_size > 0);
    assert_non_null(arena_alloc(&a, 1));
    arena_deinit(&a);
}

static void test_reset(void **state)
{
    struct arena a;
    arena_init(&a, 1024);
    arena_reset(&a); /* reset of an empty arena is a no-op */
    uint8_t *first = arena_alloc_aligned(&a, 10, 1);
    for (int i = 0; i < 100; i++)
        memset(arena_alloc(&a, 500), 0, 500);
    memset(arena_alloc(&a, 100000), 0, 100000);
    assert_true(a.bytes_allocated > 50000);
    arena_reset(&a);
    assert_int_equal(a.bytes_allocated, 1024); /* only the first chunk is kept */
    uint8_t *again = arena_alloc_aligned(&a, 10, 1);
    assert_ptr_equal(again, first); /* and reused from its start */
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < 50; i++)
            memset(arena_alloc(&a, 300), round, 300);
        arena_reset(&a);
        assert_int_equal(a.bytes_allocated, 1024);
    }
    arena_deinit(&a);
}

static void test_dup(void **state)
{
    struct arena a;
    arena_init(&a, 64);
    const char *s = "hello world";
    char *d = arena_dup(&a, s, 5, 1);
    assert_string_equal(d, "hello");
    char *e = arena_dup(&a, s, 11, 0);
    assert_memory_equal(e, s, 11);
    assert_ptr_not_equal(e, s);
    char *empty = arena_dup(&a, NULL, 0, 1);
    assert_string_equal(empty, "");
    assert_non_null(arena_dup(&a, NULL, 0, 0));
    char long_s[300];
    memset(long_s, 'x', sizeof long_s);
    char *l = arena_dup(&a, long_s, sizeof long_s, 1); /* larger than a chunk */
    assert_memory_equal(l, long_s, sizeof long_s);
    assert_int_equal(l[sizeof long_s], 0);
    assert_string_equal(d, "hello"); /* earlier copies untouched */
    arena_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_no_overlap),
        cmocka_unit_test(test_big_allocations),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_dup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
