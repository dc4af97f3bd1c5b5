/* buf/rd: growth, every appender's bytes, steal/reset/cstr, rd_* bounds, and that a failed read
 * leaves the cursor where it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"
#include "tests/unit/prop.h"

static void test_growth(void **state)
{
    struct buf b = BUF_INIT;
    assert_null(b.data);
    assert_int_equal(buf_reserve(&b, 0), 0);
    for (int i = 0; i < 100000; i++) {
        assert_int_equal(buf_append_u8(&b, (uint8_t)(i * 7)), 0);
        assert_true(b.cap >= b.len);
        assert_true((b.cap & (b.cap - 1)) == 0); /* doubling from 64 */
    }
    assert_int_equal(b.len, 100000);
    assert_int_equal(b.cap, 131072);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(b.data[i], (uint8_t)(i * 7));
    /* reserve keeps contents and guarantees room */
    size_t cap = b.cap;
    assert_int_equal(buf_reserve(&b, cap - b.len), 0);
    assert_int_equal(b.cap, cap);
    assert_int_equal(buf_reserve(&b, cap - b.len + 1), 0);
    assert_true(b.cap >= b.len + (cap - 100000) + 1);
    /* impossible sizes fail cleanly and leave the buffer alone */
    uint8_t *data = b.data;
    assert_int_equal(buf_reserve(&b, SIZE_MAX), ERR_NOMEM);
    assert_int_equal(buf_reserve(&b, SIZE_MAX / 2), ERR_NOMEM);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.len, 100000);
    buf_deinit(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

static void test_appenders(void **state)
{
    struct buf b;
    buf_init(&b);
    assert_int_equal(buf_append(&b, NULL, 0), 0); /* empty append is fine, even with NULL */
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_append_u8(&b, 0xab), 0);
    assert_int_equal(buf_append_le16(&b, 0x1234), 0);
    assert_int_equal(buf_append_le32(&b, 0x89abcdef), 0);
    assert_int_equal(buf_append_le64(&b, 0x0102030405060708ull), 0);
    assert_int_equal(buf_append_be32(&b, 0x89abcdef), 0);
    assert_int_equal(buf_append_be64(&b, 0x0102030405060708ull), 0);
    assert_int_equal(buf_append_uvarint(&b, 300), 0);
    assert_int_equal(buf_append_svarint(&b, -2), 0);
    assert_int_equal(buf_append_str(&b, "hi"), 0);
    assert_int_equal(buf_append(&b, "\0z", 2), 0);
    assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), 0);
    static const uint8_t want[] = {
        0xab, 0x34, 0x12, 0xef, 0xcd, 0xab, 0x89, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03,
        0x02, 0x01, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
        0x08, 0xac, 0x02, 0x03, 'h',  'i',  0x00, 'z',  '4',  '2',  '-',  'x',
    };
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    /* printf longer than any internal scratch */
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = 0;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_printf(&b, "<%s>", big), 0);
    assert_int_equal(b.len, sizeof big + 1);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[b.len - 1], '>');
    buf_deinit(&b);
}

static void test_cstr_steal(void **state)
{
    struct buf b = BUF_INIT;
    assert_int_equal(buf_cstr(&b), 0); /* empty buffer becomes "" */
    assert_string_equal((char *)b.data, "");
    assert_int_equal(b.len, 0);
    buf_append_str(&b, "abc");
    assert_int_equal(buf_cstr(&b), 0);
    assert_int_equal(b.len, 3);
    assert_string_equal((char *)b.data, "abc");
    buf_append_str(&b, "de"); /* the NUL is overwritten by later appends */
    buf_cstr(&b);
    assert_string_equal((char *)b.data, "abcde");
    size_t n = 0;
    uint8_t *p = buf_steal(&b, &n);
    assert_int_equal(n, 5);
    assert_memory_equal(p, "abcde", 5);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    free(p);
    assert_null(buf_steal(&b, NULL)); /* empty: NULL, and len_out may be NULL */
    buf_deinit(&b);
}

static void test_byte_order_helpers(void **state)
{
    uint8_t p[8];
    le32_put(p, 0x11223344);
    assert_int_equal(p[0], 0x44);
    assert_int_equal(le32_get(p), 0x11223344);
    assert_int_equal(be32_get(p), 0x44332211);
    assert_int_equal(le16_get(p), 0x3344);
    le64_put(p, 0x0102030405060708ull);
    assert_true(le64_get(p) == 0x0102030405060708ull);
    assert_true(be64_get(p) == 0x0807060504030201ull);
}

static void test_readers(void **state)
{
    static const uint8_t in[] = {0xab, 0x34, 0x12, 0xef, 0xcd, 0xab, 0x89, 0x08, 0x07, 0x06, 0x05,
                                 0x04, 0x03, 0x02, 0x01, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x02, 0x03,
                                 0x04, 0x05, 0x06, 0x07, 0x08, 0xac, 0x02, 0x03, 'x',  'y',  'z'};
    struct rd r = rd_make(in, sizeof in);
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    int64_t s64;
    const uint8_t *p;
    assert_int_equal(rd_left(&r), sizeof in);
    assert_int_equal(rd_u8(&r, &u8), 0);
    assert_int_equal(u8, 0xab);
    assert_int_equal(rd_le16(&r, &u16), 0);
    assert_int_equal(u16, 0x1234);
    assert_int_equal(rd_le32(&r, &u32), 0);
    assert_int_equal(u32, 0x89abcdef);
    assert_int_equal(rd_le64(&r, &u64), 0);
    assert_true(u64 == 0x0102030405060708ull);
    assert_int_equal(rd_be32(&r, &u32), 0);
    assert_int_equal(u32, 0x89abcdef);
    assert_int_equal(rd_be64(&r, &u64), 0);
    assert_true(u64 == 0x0102030405060708ull);
    assert_int_equal(rd_uvarint(&r, &u64), 0);
    assert_int_equal(u64, 300);
    assert_int_equal(rd_svarint(&r, &s64), 0);
    assert_int_equal(s64, -2);
    assert_int_equal(rd_skip(&r, 1), 0);
    assert_int_equal(rd_take(&r, 2, &p), 0);
    assert_ptr_equal(p, in + sizeof in - 2); /* borrowed, not copied */
    assert_true(rd_empty(&r));
    assert_int_equal(rd_take(&r, 0, &p), 0); /* zero bytes at the end is fine */
}

/* Every reader at every short length fails with ERR_TRUNCATED and leaves the cursor untouched. */
static void test_bounds_leave_cursor(void **state)
{
    uint8_t in[16];
    memset(in, 0xff, sizeof in); /* all 0xff: also an unterminated varint */
    for (size_t left = 0; left < 9; left++) {
        struct rd r = rd_make(in, left);
        const uint8_t *start = r.p;
        uint8_t u8 = 7;
        uint16_t u16 = 7;
        uint32_t u32 = 7;
        uint64_t u64 = 7;
        int64_t s64 = 7;
        const uint8_t *p = NULL;
        if (left < 1)
            assert_int_equal(rd_u8(&r, &u8), ERR_TRUNCATED);
        if (left < 2)
            assert_int_equal(rd_le16(&r, &u16), ERR_TRUNCATED);
        if (left < 4) {
            assert_int_equal(rd_le32(&r, &u32), ERR_TRUNCATED);
            assert_int_equal(rd_be32(&r, &u32), ERR_TRUNCATED);
        }
        if (left < 8) {
            assert_int_equal(rd_le64(&r, &u64), ERR_TRUNCATED);
            assert_int_equal(rd_be64(&r, &u64), ERR_TRUNCATED);
        }
        assert_int_equal(rd_uvarint(&r, &u64), ERR_TRUNCATED);
        assert_int_equal(rd_svarint(&r, &s64), ERR_TRUNCATED);
        assert_int_equal(rd_take(&r, left + 1, &p), ERR_TRUNCATED);
        assert_int_equal(rd_skip(&r, left + 1), ERR_TRUNCATED);
        assert_int_equal(rd_skip(&r, SIZE_MAX), ERR_TRUNCATED);
        assert_ptr_equal(r.p, start);
        assert_int_equal(rd_left(&r), left);
        /* outputs are not written on failure */
        assert_int_equal(u8, 7);
        assert_int_equal(u16, 7);
        assert_int_equal(u32, 7);
        assert_true(u64 == 7 && s64 == 7 && p == NULL);
    }
    /* an overlong varint is corrupt, and the cursor stays too */
    uint8_t overlong[11];
    memset(overlong, 0x80, 10);
    overlong[10] = 0;
    struct rd r = rd_make(overlong, sizeof overlong);
    uint64_t v;
    assert_int_equal(rd_uvarint(&r, &v), ERR_CORRUPT);
    assert_ptr_equal(r.p, overlong);
    /* after a failure the next good read still works */
    uint8_t two[] = {0x05, 0x01};
    r = rd_make(two, 2);
    uint32_t u32;
    assert_int_equal(rd_le32(&r, &u32), ERR_TRUNCATED);
    assert_int_equal(rd_uvarint(&r, &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(rd_left(&r), 1);
}

static void test_random_roundtrip(void **state)
{
    struct prop p = prop_begin("buf_roundtrip");
    struct buf b = BUF_INIT;
    uint64_t vals[3000];
    int kinds[3000];
    for (int i = 0; i < 3000; i++) {
        kinds[i] = (int)(prop_next(&p) % 6);
        vals[i] = prop_next(&p) >> (prop_next(&p) % 64);
        switch (kinds[i]) {
        case 0: buf_append_le16(&b, (uint16_t)vals[i]); break;
        case 1: buf_append_le32(&b, (uint32_t)vals[i]); break;
        case 2: buf_append_le64(&b, vals[i]); break;
        case 3: buf_append_be32(&b, (uint32_t)vals[i]); break;
        case 4: buf_append_be64(&b, vals[i]); break;
        default: buf_append_uvarint(&b, vals[i]); break;
        }
    }
    struct rd r = rd_make(b.data, b.len);
    for (int i = 0; i < 3000; i++) {
        uint16_t a;
        uint32_t c;
        uint64_t d;
        switch (kinds[i]) {
        case 0: prop_check(&p, rd_le16(&r, &a) == 0 && a == (uint16_t)vals[i]); break;
        case 1: prop_check(&p, rd_le32(&r, &c) == 0 && c == (uint32_t)vals[i]); break;
        case 2: prop_check(&p, rd_le64(&r, &d) == 0 && d == vals[i]); break;
        case 3: prop_check(&p, rd_be32(&r, &c) == 0 && c == (uint32_t)vals[i]); break;
        case 4: prop_check(&p, rd_be64(&r, &d) == 0 && d == vals[i]); break;
        default: prop_check(&p, rd_uvarint(&r, &d) == 0 && d == vals[i]); break;
        }
    }
    assert_true(rd_empty(&r));
    buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_growth),           cmocka_unit_test(test_appenders),
        cmocka_unit_test(test_cstr_steal),       cmocka_unit_test(test_byte_order_helpers),
        cmocka_unit_test(test_readers),          cmocka_unit_test(test_bounds_leave_cursor),
        cmocka_unit_test(test_random_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
