/* postings: golden frames (tiny, empty, run), dense/sparse/run containers, every truncation and
 * bit flip, forged payloads with a valid CRC that the portable validator must reject, and random
 * round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "base/buf.h"
#include "base/crc32c.h"
#include "base/error.h"
#include "formats/postings.h"
#include "tests/unit/prop.h"

static const uint8_t golden_tiny[] = {0x50, 0x53, 0x54, 0x47, 0x01, 0x00, 0x00, 0x00, 0x18, 0x00,
                                      0x00, 0x00, 0x3a, 0x30, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                                      0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00,
                                      0x02, 0x00, 0x03, 0x00, 0xe8, 0x03, 0x56, 0x21, 0x9f, 0xa0};
static const uint8_t golden_empty[] = {0x50, 0x53, 0x54, 0x47, 0x01, 0x00, 0x00, 0x00,
                                       0x08, 0x00, 0x00, 0x00, 0x3a, 0x30, 0x00, 0x00,
                                       0x00, 0x00, 0x00, 0x00, 0xf4, 0x35, 0x24, 0x28};
static const uint8_t golden_run[] = {
    0x50, 0x53, 0x54, 0x47, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x3b, 0x30, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x63, 0x00, 0x01, 0x00, 0x00, 0x00, 0x63, 0x00, 0x5c, 0x61, 0xd2, 0xb4};

static void encode_expect(const roaring_bitmap_t *bm, const uint8_t *want, size_t want_len)
{
    struct buf b = BUF_INIT;
    assert_int_equal(postings_encode(bm, &b), 0);
    assert_int_equal(b.len, want_len);
    assert_int_equal(postings_encoded_size(bm), want_len);
    assert_memory_equal(b.data, want, want_len);
    buf_deinit(&b);
}

static roaring_bitmap_t *decode_ok(const uint8_t *p, size_t n)
{
    roaring_bitmap_t *bm = NULL;
    size_t used = 0;
    assert_int_equal(postings_decode(p, n, &bm, &used), 0);
    assert_non_null(bm);
    assert_int_equal(used, n);
    return bm;
}

static void test_golden(void **state)
{
    (void)state;
    roaring_bitmap_t *bm = roaring_bitmap_of(4, 1, 2, 3, 1000);
    encode_expect(bm, golden_tiny, sizeof golden_tiny);
    roaring_bitmap_t *back = decode_ok(golden_tiny, sizeof golden_tiny);
    assert_true(roaring_bitmap_equals(bm, back));
    roaring_bitmap_free(back);
    roaring_bitmap_free(bm);

    bm = roaring_bitmap_create();
    encode_expect(bm, golden_empty, sizeof golden_empty);
    back = decode_ok(golden_empty, sizeof golden_empty);
    assert_true(roaring_bitmap_is_empty(back));
    roaring_bitmap_free(back);
    roaring_bitmap_free(bm);

    bm = roaring_bitmap_from_range(0, 100, 1);
    assert_true(roaring_bitmap_run_optimize(bm));
    encode_expect(bm, golden_run, sizeof golden_run);
    back = decode_ok(golden_run, sizeof golden_run);
    assert_int_equal(roaring_bitmap_get_cardinality(back), 100);
    assert_true(roaring_bitmap_contains(back, 99) && !roaring_bitmap_contains(back, 100));
    roaring_bitmap_free(back);
    roaring_bitmap_free(bm);
}

static void roundtrip(const roaring_bitmap_t *bm)
{
    struct buf b = BUF_INIT;
    assert_int_equal(postings_encode(bm, &b), 0);
    roaring_bitmap_t *back = decode_ok(b.data, b.len);
    assert_true(roaring_bitmap_equals(bm, back));
    roaring_bitmap_free(back);
    buf_deinit(&b);
}

static void test_container_kinds(void **state)
{
    (void)state;
    roaring_bitmap_t *dense = roaring_bitmap_from_range(0, 20001, 2); /* one bitset container */
    assert_int_equal(roaring_bitmap_get_cardinality(dense), 10001);
    roundtrip(dense);
    roaring_bitmap_t *sparse = roaring_bitmap_create(); /* one value per key: 1000 containers */
    for (uint32_t i = 0; i < 1000; i++)
        roaring_bitmap_add(sparse, i * 70001u);
    roundtrip(sparse);
    roaring_bitmap_t *runs = roaring_bitmap_create(); /* >= 4 run containers: offsets present */
    for (uint32_t k = 0; k < 6; k++)
        roaring_bitmap_add_range(runs, k * 65536u + 10, k * 65536u + 60000);
    roaring_bitmap_add(runs, UINT32_MAX);
    roaring_bitmap_run_optimize(runs);
    roundtrip(runs);
    roaring_bitmap_t *all = roaring_bitmap_or(dense, sparse); /* mixed kinds */
    roaring_bitmap_or_inplace(all, runs);
    roundtrip(all);
    roaring_bitmap_free(dense);
    roaring_bitmap_free(sparse);
    roaring_bitmap_free(runs);
    roaring_bitmap_free(all);
}

static void test_truncated_and_flipped(void **state)
{
    (void)state;
    roaring_bitmap_t *bm = roaring_bitmap_from_range(5, 300000, 7);
    roaring_bitmap_add_range(bm, 1u << 20, (1u << 20) + 5000);
    roaring_bitmap_run_optimize(bm);
    struct buf b = BUF_INIT;
    assert_int_equal(postings_encode(bm, &b), 0);
    roaring_bitmap_t *out = (roaring_bitmap_t *)1;
    for (size_t n = 0; n < b.len; n++) {
        assert_int_equal(postings_decode(b.data, n, &out, NULL), ERR_TRUNCATED);
        assert_null(out);
    }
    for (size_t i = 0; i < b.len; i += (i < 64 ? 1 : 97)) {
        for (int bit = 0; bit < 8; bit += 3) {
            b.data[i] ^= (uint8_t)(1u << bit);
            int rc = postings_decode(b.data, b.len, &out, NULL);
            assert_true(rc == ERR_CORRUPT || rc == ERR_TRUNCATED || rc == ERR_UNSUPPORTED);
            assert_null(out);
            b.data[i] ^= (uint8_t)(1u << bit);
        }
    }
    buf_deinit(&b);
    roaring_bitmap_free(bm);
}

static void test_frame_fields(void **state)
{
    (void)state;
    uint8_t f[sizeof golden_tiny];
    roaring_bitmap_t *out;
    memcpy(f, golden_tiny, sizeof f);
    f[4] = 2; /* unknown version */
    assert_int_equal(postings_decode(f, sizeof f, &out, NULL), ERR_UNSUPPORTED);
    memcpy(f, golden_tiny, sizeof f);
    f[0] = 'X';
    assert_int_equal(postings_decode(f, sizeof f, &out, NULL), ERR_CORRUPT);
    memcpy(f, golden_tiny, sizeof f);
    f[6] = 1; /* reserved byte, CRC fixed up */
    le32_put(f + sizeof f - 4, crc32c(f, sizeof f - 4));
    assert_int_equal(postings_decode(f, sizeof f, &out, NULL), ERR_CORRUPT);
    /* payload length larger than the input */
    memcpy(f, golden_tiny, sizeof f);
    le32_put(f + 8, 0xffffffffu);
    assert_int_equal(postings_decode(f, sizeof f, &out, NULL), ERR_TRUNCATED);
    /* two frames back to back: consumed tells where the second starts */
    uint8_t two[sizeof golden_tiny + sizeof golden_run];
    memcpy(two, golden_tiny, sizeof golden_tiny);
    memcpy(two + sizeof golden_tiny, golden_run, sizeof golden_run);
    size_t used;
    assert_int_equal(postings_decode(two, sizeof two, &out, &used), 0);
    assert_int_equal(used, sizeof golden_tiny);
    roaring_bitmap_free(out);
    assert_int_equal(postings_decode(two + used, sizeof two - used, &out, &used), 0);
    assert_int_equal(roaring_bitmap_get_cardinality(out), 100);
    roaring_bitmap_free(out);
}

/* Frames an arbitrary payload with a correct CRC and decodes it. */
static int decode_forged(const uint8_t *payload, size_t n)
{
    struct buf b = BUF_INIT;
    buf_append_le32(&b, POSTINGS_MAGIC);
    buf_append_le32(&b, POSTINGS_VERSION);
    buf_append_le32(&b, (uint32_t)n);
    buf_append(&b, payload, n);
    buf_append_le32(&b, crc32c(b.data, b.len));
    roaring_bitmap_t *out = NULL;
    int rc = postings_decode(b.data, b.len, &out, NULL);
    assert_int_equal(rc, postings_portable_validate(payload, n));
    if (out)
        roaring_bitmap_free(out);
    buf_deinit(&b);
    return rc;
}

#define FORGED(rc, ...)                                                                            \
    do {                                                                                           \
        const uint8_t p_[] = {__VA_ARGS__};                                                        \
        assert_int_equal(decode_forged(p_, sizeof p_), rc);                                        \
    } while (0)

static void test_forged_payloads(void **state)
{
    (void)state;
    /* sanity: the tiny payload itself is fine */
    FORGED(0, 0x3a, 0x30, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 16, 0, 0, 0, 1, 0, 2, 0);
    FORGED(ERR_TRUNCATED, 0x3a, 0x30);
    FORGED(ERR_CORRUPT, 0x3c, 0x30, 0, 0, 0, 0, 0, 0);               /* unknown cookie */
    FORGED(ERR_CORRUPT, 0x3a, 0x30, 0, 0, 0x01, 0x00, 0x01, 0x00);   /* 65537 containers */
    FORGED(ERR_CORRUPT, 0x3a, 0x30, 0, 0, 0xff, 0xff, 0xff, 0xff);   /* negative count */
    FORGED(ERR_TRUNCATED, 0x3a, 0x30, 0, 0, 0x00, 0x01, 0x00, 0x00); /* 256 keys missing */
    FORGED(ERR_CORRUPT, 0x3a, 0x30, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 17, 0, 0, 0, 1, 0, 2,
           0); /* offset */
    FORGED(ERR_CORRUPT, 0x3a, 0x30, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 16, 0, 0, 0, 2, 0, 1,
           0); /* order */
    FORGED(ERR_CORRUPT, 0x3a, 0x30, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 16, 0, 0, 0, 2, 0, 2,
           0); /* dup */
    FORGED(ERR_TRUNCATED, 0x3a, 0x30, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0, 16, 0, 0, 0, 1, 0, 2, 0);
    FORGED(ERR_CORRUPT, 0x3a, 0x30, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 1, 0, 2,
           0); /* extra */
    /* keys not increasing (two containers with key 5) */
    FORGED(ERR_CORRUPT, 0x3a, 0x30, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 5, 0, 0, 0, 24, 0, 0, 0, 26, 0, 0,
           0, 1, 0, 1, 0);
    /* run containers: ok, overlap, adjacent, past 65535, card mismatch, flag bits, zero runs */
    FORGED(0, 0x3b, 0x30, 0, 0, 1, 0, 0, 8, 0, 2, 0, 0, 0, 4, 0, 10, 0, 3, 0);
    FORGED(ERR_CORRUPT, 0x3b, 0x30, 0, 0, 1, 0, 0, 8, 0, 2, 0, 0, 0, 4, 0, 4, 0, 3, 0);
    FORGED(ERR_CORRUPT, 0x3b, 0x30, 0, 0, 1, 0, 0, 8, 0, 2, 0, 0, 0, 4, 0, 5, 0, 3, 0);
    FORGED(ERR_CORRUPT, 0x3b, 0x30, 0, 0, 1, 0, 0, 8, 0, 2, 0, 10, 0, 4, 0, 0, 0, 3, 0);
    FORGED(ERR_CORRUPT, 0x3b, 0x30, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0xff, 0xff, 1, 0);
    FORGED(ERR_CORRUPT, 0x3b, 0x30, 0, 0, 1, 0, 0, 10, 0, 2, 0, 0, 0, 4, 0, 10, 0, 3, 0);
    FORGED(ERR_CORRUPT, 0x3b, 0x30, 0, 0, 3, 0, 0, 8, 0, 2, 0, 0, 0, 4, 0, 10, 0, 3, 0);
    FORGED(ERR_CORRUPT, 0x3b, 0x30, 0, 0, 1, 0, 0, 0, 0, 0, 0);
    FORGED(ERR_TRUNCATED, 0x3b, 0x30, 0, 0, 1, 0, 0, 8, 0, 2, 0, 0, 0, 4, 0);
}

static void test_forged_bitset(void **state)
{
    (void)state;
    uint8_t p[16 + 8192] = {0x3a, 0x30, 0, 0, 1, 0, 0, 0, 0, 0, 0x00, 0x10, 16, 0, 0, 0};
    /* header says 4097 values */
    memset(p + 16, 0xff, 512); /* 4096 bits */
    assert_int_equal(decode_forged(p, sizeof p), ERR_CORRUPT);
    p[16 + 600] = 1;
    assert_int_equal(decode_forged(p, sizeof p), 0);
    assert_int_equal(decode_forged(p, sizeof p - 1), ERR_TRUNCATED);
}

static void test_random_roundtrip(void **state)
{
    (void)state;
    struct prop p = prop_begin("postings_roundtrip");
    for (int iter = 0; iter < 200; iter++) {
        roaring_bitmap_t *bm = roaring_bitmap_create();
        int parts = (int)(prop_next(&p) % 6);
        for (int k = 0; k < parts; k++) {
            uint32_t base = (uint32_t)prop_next(&p) >> (prop_next(&p) % 16);
            uint32_t span = (uint32_t)(prop_next(&p) % 200000);
            switch (prop_next(&p) % 3) {
            case 0: /* sparse */
                for (int i = 0; i < 200; i++)
                    roaring_bitmap_add(bm, base + (uint32_t)(prop_next(&p) % (span + 1)));
                break;
            case 1: /* range */
                roaring_bitmap_add_range(bm, base,
                                         (uint64_t)base + span > UINT32_MAX
                                             ? (uint64_t)UINT32_MAX
                                             : (uint64_t)base + span);
                break;
            default: /* dense random */
                for (uint32_t i = 0; i < span / 4; i++)
                    if (prop_next(&p) & 1)
                        roaring_bitmap_add(bm, base + i);
            }
        }
        if (prop_next(&p) & 1)
            roaring_bitmap_run_optimize(bm);
        struct buf b = BUF_INIT;
        prop_check(&p, postings_encode(bm, &b) == 0);
        roaring_bitmap_t *back = NULL;
        size_t used = 0;
        prop_check(&p, postings_decode(b.data, b.len, &back, &used) == 0);
        prop_check(&p, used == b.len && roaring_bitmap_equals(bm, back));
        roaring_bitmap_free(back);
        roaring_bitmap_free(bm);
        buf_deinit(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_container_kinds),
        cmocka_unit_test(test_truncated_and_flipped),
        cmocka_unit_test(test_frame_fields),
        cmocka_unit_test(test_forged_payloads),
        cmocka_unit_test(test_forged_bitset),
        cmocka_unit_test(test_random_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
