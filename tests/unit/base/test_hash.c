/* hash: pinned values (they decide shard ownership, so they must never change), the label
 * serialization (0xff separators), {a="bc"} != {ab="c"}, the stack-buffer and streaming paths
 * agree, seeds, and hash_to_range bounds and spread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/hash.h"
#include "tests/unit/prop.h"

#define L(n, v)                                                                                    \
    {                                                                                              \
        STR_LIT(n), STR_LIT(v)                                                                     \
    }

/* The documented serialization: name 0xff value 0xff, for each label in order. */
static uint64_t hash_serialized(const struct label *l, size_t n)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        buf_append(&b, l[i].name.ptr, l[i].name.len);
        buf_append_u8(&b, 0xff);
        buf_append(&b, l[i].value.ptr, l[i].value.len);
        buf_append_u8(&b, 0xff);
    }
    uint64_t h = hash_bytes(b.data ? (const void *)b.data : "", b.len);
    buf_deinit(&b);
    return h;
}

static void test_golden(void **state)
{
    /* XXH3-64 of the empty input with seed 0, from the XXH3 specification */
    assert_true(hash_bytes("", 0) == 0x2d06800538d394c2ull);
    assert_true(hash_labels(NULL, 0) == 0x2d06800538d394c2ull);
    assert_true(hash_bytes("strata", 6) == 0x4b61a1897bfc215full);
    struct label a[] = {L("__name__", "up"), L("instance", "localhost:9090"),
                        L("job", "prometheus")};
    struct label b[] = {L("app", "api"), L("env", "prod")};
    struct label c[] = {L("a", "bc")};
    struct label d[] = {L("ab", "c")};
    assert_true(hash_labels(a, 3) == 0x6bb0bebb6cc7d0c9ull);
    assert_true(hash_labels(b, 2) == 0xb8f93d34610db44cull);
    assert_true(hash_labels(c, 1) == 0xd7b8f0fb555b604bull);
    assert_true(hash_labels(d, 1) == 0xe87649476a01cd6bull);
    assert_true(hash_labels(a, 3) == hash_serialized(a, 3));
    assert_true(hash_labels(b, 2) == hash_serialized(b, 2));
}

static void test_separators(void **state)
{
    struct label c[] = {L("a", "bc")};
    struct label d[] = {L("ab", "c")};
    assert_true(hash_labels(c, 1) != hash_labels(d, 1));
    /* moving bytes across label boundaries changes the hash too */
    struct label e[] = {L("a", "b"), L("c", "d")};
    struct label f[] = {L("a", "bc"), L("", "d")};
    struct label g[] = {L("a", ""), L("", "")};
    struct label h[] = {L("a", "")};
    assert_true(hash_labels(e, 2) != hash_labels(f, 2));
    assert_true(hash_labels(g, 2) != hash_labels(h, 1));
    /* a subset hashes differently from the set */
    assert_true(hash_labels(e, 1) != hash_labels(e, 2));
}

/* Label sets around and past the 512-byte stack buffer hash like their serialization. */
static void test_small_and_streaming_agree(void **state)
{
    struct prop p = prop_begin("hash_paths");
    static char pool[4096];
    for (size_t i = 0; i < sizeof pool; i++)
        pool[i] = (char)('a' + prop_next(&p) % 26);
    struct label l[64];
    for (int round = 0; round < 2000; round++) {
        size_t n = 1 + (size_t)(prop_next(&p) % 64);
        for (size_t i = 0; i < n; i++) {
            size_t nl = (size_t)(prop_next(&p) % 20), vl = (size_t)(prop_next(&p) % 60);
            l[i].name = (struct str){pool + prop_next(&p) % 2000, nl};
            l[i].value = (struct str){pool + prop_next(&p) % 2000, vl};
        }
        prop_check(&p, hash_labels(l, n) == hash_serialized(l, n));
    }
    /* exactly 512 serialized bytes (stack path) and 513 (streaming path) */
    for (size_t total = 510; total <= 515; total++) {
        struct label one = {{pool, 10}, {pool + 100, total - 12}};
        prop_check(&p, hash_labels(&one, 1) == hash_serialized(&one, 1));
    }
}

static void test_seed(void **state)
{
    assert_true(hash_bytes_seed("x", 1, 0) == hash_bytes("x", 1));
    assert_true(hash_bytes_seed("x", 1, 1) != hash_bytes_seed("x", 1, 2));
    assert_true(hash_bytes("x", 1) != hash_bytes("y", 1));
}

static void test_to_range(void **state)
{
    static const uint32_t ns[] = {1, 2, 3, 7, 64, 1000, 1u << 31, UINT32_MAX};
    struct prop p = prop_begin("hash_to_range");
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        uint32_t n = ns[k];
        assert_int_equal(hash_to_range(0, n), 0);
        assert_int_equal(hash_to_range(UINT64_MAX, n), n - 1);
        for (int i = 0; i < 10000; i++)
            prop_check(&p, hash_to_range(prop_next(&p), n) < n);
    }
    /* spread: shards get similar shares of hashed label sets */
    uint32_t counts[8] = {0};
    char name[32];
    for (int i = 0; i < 80000; i++) {
        snprintf(name, sizeof name, "series_%d", i);
        struct label l = {STR_LIT("__name__"), str_from_cstr(name)};
        counts[hash_to_range(hash_labels(&l, 1), 8)]++;
    }
    for (int s = 0; s < 8; s++)
        assert_true(counts[s] > 9500 && counts[s] < 10500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_separators),
        cmocka_unit_test(test_small_and_streaming_agree),
        cmocka_unit_test(test_seed),
        cmocka_unit_test(test_to_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
