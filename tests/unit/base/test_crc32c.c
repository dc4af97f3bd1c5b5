/* crc32c: golden vectors (check value, RFC 3720 B.4), chaining at every split, and the SSE4.2 path
 * against the table path on random lengths and alignments, including the block-size boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "tests/unit/prop.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

/* The implementations to hold to the golden values: dispatch, table, and hw when the CPU has it. */
static size_t impls(crc_fn out[3])
{
    size_t n = 0;
    out[n++] = crc32c_update;
    out[n++] = crc32c_update_sw;
    if (crc32c_hw_available())
        out[n++] = crc32c_update_hw;
    return n;
}

static void test_golden(void **state)
{
    uint8_t zeros[32] = {0}, ones[32], inc[32], dec[32];
    memset(ones, 0xff, sizeof ones);
    for (int i = 0; i < 32; i++) {
        inc[i] = (uint8_t)i;
        dec[i] = (uint8_t)(31 - i);
    }
    /* iSCSI read command PDU from RFC 3720 B.4 */
    static const uint8_t iscsi[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    crc_fn f[3];
    size_t nf = impls(f);
    for (size_t i = 0; i < nf; i++) {
        assert_int_equal(f[i](0, "123456789", 9), 0xE3069283u);
        assert_int_equal(f[i](0, zeros, 32), 0x8A9136AAu);
        assert_int_equal(f[i](0, ones, 32), 0x62A8AB43u);
        assert_int_equal(f[i](0, inc, 32), 0x46DD794Eu);
        assert_int_equal(f[i](0, dec, 32), 0x113FDB5Cu);
        assert_int_equal(f[i](0, iscsi, 48), 0xD9963A56u);
        assert_int_equal(f[i](0, "", 0), 0);
        assert_int_equal(f[i](0, "a", 1), 0xC1D04330u);
        assert_int_equal(f[i](0xdeadbeef, "", 0), 0xdeadbeef); /* empty update is the identity */
    }
    assert_int_equal(crc32c("123456789", 9), 0xE3069283u);
}

/* crc(a||b) == update(crc(a), b) for every split point, on every implementation. */
static void test_chaining(void **state)
{
    uint8_t data[1000];
    struct prop p = prop_begin("crc32c_chaining");
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)prop_next(&p);
    crc_fn f[3];
    size_t nf = impls(f);
    uint32_t whole = crc32c_update_sw(0, data, sizeof data);
    for (size_t k = 0; k < nf; k++) {
        assert_int_equal(f[k](0, data, sizeof data), whole);
        for (size_t cut = 0; cut <= sizeof data; cut++) {
            uint32_t c = f[k](0, data, cut);
            prop_check(&p, f[k](c, data + cut, sizeof data - cut) == whole);
        }
    }
    /* three-way chaining */
    uint32_t c = crc32c_update(0, data, 100);
    c = crc32c_update(c, data + 100, 333);
    c = crc32c_update(c, data + 433, sizeof data - 433);
    assert_int_equal(c, whole);
}

static void check_hw_sw(struct prop *p, const uint8_t *buf, size_t len)
{
    uint32_t seed = (prop_next(p) & 1) ? (uint32_t)prop_next(p) : 0;
    uint32_t sw = crc32c_update_sw(seed, buf, len);
    uint32_t hw = crc32c_update_hw(seed, buf, len);
    if (hw != sw)
        fprintf(stderr, "len %zu align %u seed %08x: hw %08x sw %08x\n", len,
                (unsigned)((uintptr_t)buf & 63), seed, hw, sw);
    prop_check(p, hw == sw);
}

static void test_hw_equals_sw(void **state)
{
    if (!crc32c_hw_available()) {
        skip();
        return;
    }
    struct prop p = prop_begin("crc32c_hw_sw");
    size_t max = 100000;
    uint8_t *mem = malloc(max + 64);
    for (size_t i = 0; i < max + 64; i++)
        mem[i] = (uint8_t)prop_next(&p);
    /* every length and alignment around the block sizes the hw path switches on */
    const size_t edges[] = {0,    8,     16,    256,   512,   768,   1024,  4096,
                            8192, 16384, 24576, 32768, 49152, 73728, 98304, max - 16};
    for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++)
        for (size_t len = edges[e] >= 16 ? edges[e] - 16 : 0; len <= edges[e] + 16; len++)
            for (size_t align = 0; align < 16; align++)
                check_hw_sw(&p, mem + align, len);
    /* random lengths and alignments over the whole range */
    for (int i = 0; i < 3000; i++) {
        size_t len = (size_t)(prop_next(&p) % (max + 1));
        size_t align = (size_t)(prop_next(&p) % 64);
        check_hw_sw(&p, mem + align, len);
    }
    free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_chaining),
        cmocka_unit_test(test_hw_equals_sw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
