/* varint/zigzag: golden encodings, boundaries, truncation and overlong rejection, random
 * round-trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/varint.h"
#include "tests/unit/prop.h"

static void test_golden(void **state)
{
    struct {
        uint64_t v;
        uint8_t bytes[10];
        int n;
    } cases[] = {
        {0, {0x00}, 1},
        {1, {0x01}, 1},
        {127, {0x7f}, 1},
        {128, {0x80, 0x01}, 2},
        {300, {0xac, 0x02}, 2},
        {16383, {0xff, 0x7f}, 2},
        {16384, {0x80, 0x80, 0x01}, 3},
        {UINT64_MAX, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t out[10];
        size_t n = varint_put(out, cases[i].v);
        assert_int_equal(n, cases[i].n);
        assert_int_equal(varint_len(cases[i].v), cases[i].n);
        assert_memory_equal(out, cases[i].bytes, n);
        uint64_t back;
        assert_int_equal(varint_get(out, out + n, &back), cases[i].n);
        assert_true(back == cases[i].v);
    }
}

static void test_zigzag(void **state)
{
    assert_true(zigzag_enc(0) == 0);
    assert_true(zigzag_enc(-1) == 1);
    assert_true(zigzag_enc(1) == 2);
    assert_true(zigzag_enc(-2) == 3);
    assert_true(zigzag_enc(INT64_MAX) == UINT64_MAX - 1);
    assert_true(zigzag_enc(INT64_MIN) == UINT64_MAX);
    assert_true(zigzag_dec(UINT64_MAX) == INT64_MIN);
    assert_true(zigzag_dec(UINT64_MAX - 1) == INT64_MAX);
}

static void test_errors(void **state)
{
    uint64_t v;
    uint8_t trunc[] = {0x80, 0x80};
    assert_int_equal(varint_get(trunc, trunc + 2, &v), ERR_TRUNCATED);
    assert_int_equal(varint_get(trunc, trunc, &v), ERR_TRUNCATED);
    uint8_t overflow[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    assert_int_equal(varint_get(overflow, overflow + 10, &v), ERR_CORRUPT);
    uint8_t overlong[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    assert_int_equal(varint_get(overlong, overlong + 11, &v), ERR_CORRUPT);
}

static void test_random_roundtrip(void **state)
{
    struct prop p = prop_begin("varint_roundtrip");
    struct buf b = BUF_INIT;
    uint64_t vals[2000];
    for (int i = 0; i < 2000; i++) {
        int shift = (int)(prop_next(&p) % 64);
        vals[i] = prop_next(&p) >> shift;
        if (i & 1)
            assert_int_equal(buf_append_svarint(&b, (int64_t)vals[i]), 0);
        else
            assert_int_equal(buf_append_uvarint(&b, vals[i]), 0);
    }
    struct rd r = rd_make(b.data, b.len);
    for (int i = 0; i < 2000; i++) {
        if (i & 1) {
            int64_t s;
            prop_check(&p, rd_svarint(&r, &s) == 0 && (uint64_t)s == vals[i]);
        } else {
            uint64_t u;
            prop_check(&p, rd_uvarint(&r, &u) == 0 && u == vals[i]);
        }
    }
    assert_true(rd_empty(&r));
    buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_zigzag),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_random_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
