/* Content codings: gzip (single and multi-member), deflate (zlib and raw), snappy, identity; output
 * limits (exact fit, one over, compression bombs), corrupt/truncated/trailing input, the
 * Accept-Encoding rule, and gzip response compression round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/error.h"
#include "server/http/encoding.h"
#include "tests/unit/prop.h"

/* zlib-compresses src with the given window bits (31 gzip, 15 zlib, -15 raw) into out. */
static size_t zcompress(const void *src, size_t n, int wbits, uint8_t *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)src;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t got = cap - z.avail_out;
    deflateEnd(&z);
    return got;
}

static const char TEXT[] =
    "{\"streams\":[{\"stream\":{\"job\":\"app\"},\"values\":[[\"1570818238000000000\","
    "\"line one\"],[\"1570818238000000001\",\"line two\"]]}]}";

static void check_decode(unsigned coding, const uint8_t *z, size_t zn, const void *want, size_t n)
{
    struct buf out = BUF_INIT;
    assert_int_equal(http_decode_body(coding, z, zn, 1 << 20, &out), 0);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, want, n);
    buf_deinit(&out);
}

static void test_decode_each_coding(void **state)
{
    (void)state;
    static uint8_t z[4096];
    size_t n = sizeof TEXT - 1;
    size_t zn = zcompress(TEXT, n, 31, z, sizeof z);
    check_decode(HTTP_CODING_GZIP, z, zn, TEXT, n);
    zn = zcompress(TEXT, n, 15, z, sizeof z);
    check_decode(HTTP_CODING_DEFLATE, z, zn, TEXT, n);
    zn = zcompress(TEXT, n, -15, z, sizeof z);
    check_decode(HTTP_CODING_DEFLATE, z, zn, TEXT, n); /* raw deflate, as Go's flate writes */
    size_t sn = sizeof z;
    assert_int_equal(snappy_compress(TEXT, n, (char *)z, &sn), SNAPPY_OK);
    check_decode(HTTP_CODING_SNAPPY, z, sn, TEXT, n);
    check_decode(HTTP_CODING_IDENTITY, (const uint8_t *)TEXT, n, TEXT, n);
    /* empty bodies */
    zn = zcompress("", 0, 31, z, sizeof z);
    check_decode(HTTP_CODING_GZIP, z, zn, "", 0);
    sn = sizeof z;
    snappy_compress("", 0, (char *)z, &sn);
    check_decode(HTTP_CODING_SNAPPY, z, sn, "", 0);
}

static void test_gzip_multi_member(void **state)
{
    (void)state;
    static uint8_t z[4096];
    size_t a = zcompress("hello ", 6, 31, z, sizeof z);
    size_t b = zcompress("world", 5, 31, z + a, sizeof z - a);
    check_decode(HTTP_CODING_GZIP, z, a + b, "hello world", 11);
}

static void test_limits(void **state)
{
    (void)state;
    static uint8_t big[1 << 20];
    memset(big, 'x', sizeof big);
    static uint8_t z[1 << 18];
    struct buf out = BUF_INIT;
    size_t codings[] = {31, 15, -15};
    unsigned ids[] = {HTTP_CODING_GZIP, HTTP_CODING_DEFLATE, HTTP_CODING_DEFLATE};
    for (int k = 0; k < 3; k++) {
        size_t zn = zcompress(big, 100000, (int)codings[k], z, sizeof z);
        buf_reset(&out);
        assert_int_equal(http_decode_body(ids[k], z, zn, 100000, &out), 0); /* exact fit */
        assert_int_equal(out.len, 100000);
        buf_reset(&out);
        assert_int_equal(http_decode_body(ids[k], z, zn, 99999, &out), ERR_LIMIT);
        assert_int_equal(out.len, 0); /* output rolled back */
    }
    /* a bomb: 1 MiB of zeros compresses to ~1 KiB; with a 64 KiB limit we stop early */
    memset(big, 0, sizeof big);
    size_t zn = zcompress(big, sizeof big, 31, z, sizeof z);
    assert_true(zn < 4096);
    buf_reset(&out);
    assert_int_equal(http_decode_body(HTTP_CODING_GZIP, z, zn, 65536, &out), ERR_LIMIT);
    assert_true(out.cap <= 2 * 65536 + 4096);
    /* snappy checks the declared length before allocating */
    size_t sn = sizeof z;
    assert_int_equal(snappy_compress((const char *)big, 100000, (char *)z, &sn), SNAPPY_OK);
    buf_reset(&out);
    assert_int_equal(http_decode_body(HTTP_CODING_SNAPPY, z, sn, 99999, &out), ERR_LIMIT);
    assert_int_equal(http_decode_body(HTTP_CODING_SNAPPY, z, sn, 100000, &out), 0);
    buf_reset(&out);
    assert_int_equal(http_decode_body(HTTP_CODING_IDENTITY, big, 11, 10, &out), ERR_LIMIT);
    buf_deinit(&out);
}

static void test_corrupt(void **state)
{
    (void)state;
    static uint8_t z[4096];
    struct buf out = BUF_INIT;
    size_t n = sizeof TEXT - 1;
    size_t zn = zcompress(TEXT, n, 31, z, sizeof z);
    for (size_t cut = 0; cut < zn; cut++) {
        buf_reset(&out);
        assert_int_equal(http_decode_body(HTTP_CODING_GZIP, z, cut, 1 << 20, &out), ERR_CORRUPT);
    }
    z[zn] = 'J'; /* trailing garbage after the member */
    assert_int_equal(http_decode_body(HTTP_CODING_GZIP, z, zn + 1, 1 << 20, &out), ERR_CORRUPT);
    zn = zcompress(TEXT, n, 15, z, sizeof z);
    z[zn - 1] ^= 0xff; /* adler32 */
    assert_int_equal(http_decode_body(HTTP_CODING_DEFLATE, z, zn, 1 << 20, &out), ERR_CORRUPT);
    assert_int_equal(http_decode_body(HTTP_CODING_GZIP, (const uint8_t *)"plain", 5, 100, &out),
                     ERR_CORRUPT);
    size_t sn = sizeof z;
    snappy_compress(TEXT, n, (char *)z, &sn);
    assert_int_equal(http_decode_body(HTTP_CODING_SNAPPY, z, sn - 3, 1 << 20, &out), ERR_CORRUPT);
    assert_int_equal(http_decode_body(HTTP_CODING_SNAPPY, (const uint8_t *)"\xff\xff\xff\xff\xff",
                                      5, 1 << 20, &out),
                     ERR_CORRUPT);
    assert_int_equal(http_decode_body(HTTP_CODING_UNKNOWN, z, 1, 100, &out), ERR_UNSUPPORTED);
    assert_int_equal(out.len, 0);
    buf_deinit(&out);
}

static void test_random_corruption(void **state)
{
    (void)state;
    struct prop p = prop_begin("encoding_random_corruption");
    static uint8_t z[8192];
    struct buf out = BUF_INIT;
    for (int i = 0; i < 3000; i++) {
        size_t n = sizeof TEXT - 1;
        unsigned coding =
            (unsigned[]){HTTP_CODING_GZIP, HTTP_CODING_DEFLATE, HTTP_CODING_SNAPPY}[i % 3];
        size_t zn;
        if (coding == HTTP_CODING_SNAPPY) {
            zn = sizeof z;
            snappy_compress(TEXT, n, (char *)z, &zn);
        } else {
            zn = zcompress(TEXT, n, coding == HTTP_CODING_GZIP ? 31 : 15, z, sizeof z);
        }
        for (int flips = 1 + (int)(prop_next(&p) % 4); flips > 0; flips--)
            z[prop_next(&p) % zn] ^= (uint8_t)(1 + prop_next(&p) % 255);
        buf_reset(&out);
        int rc = http_decode_body(coding, z, zn, 4096, &out);
        prop_check(&p, rc == 0 || rc == ERR_CORRUPT || rc == ERR_LIMIT);
        prop_check(&p, out.len <= 4096);
    }
    buf_deinit(&out);
}

static void test_coding_parse(void **state)
{
    (void)state;
    assert_int_equal(http_coding_parse((struct str){NULL, 0}), HTTP_CODING_IDENTITY);
    assert_int_equal(http_coding_parse(STR_LIT("identity")), HTTP_CODING_IDENTITY);
    assert_int_equal(http_coding_parse(STR_LIT("GZIP")), HTTP_CODING_GZIP);
    assert_int_equal(http_coding_parse(STR_LIT("x-gzip")), HTTP_CODING_GZIP);
    assert_int_equal(http_coding_parse(STR_LIT("deflate")), HTTP_CODING_DEFLATE);
    assert_int_equal(http_coding_parse(STR_LIT("Snappy")), HTTP_CODING_SNAPPY);
    assert_int_equal(http_coding_parse(STR_LIT("br")), HTTP_CODING_UNKNOWN);
    assert_int_equal(http_coding_parse(STR_LIT("gzip, snappy")), HTTP_CODING_UNKNOWN);
    assert_string_equal(http_coding_name(HTTP_CODING_SNAPPY), "snappy");
}

static void test_accepts_gzip(void **state)
{
    (void)state;
    struct {
        const char *v;
        bool want;
    } cases[] = {
        {"", false},
        {"gzip", true},
        {"GZIP", true},
        {"deflate, gzip", true},
        {"gzip;q=0", false},
        {"gzip; q=0.000", false},
        {"gzip;q=0.001", true},
        {"gzip;q=1.0", true},
        {"br, deflate", false},
        {"*", true},
        {"*;q=0", false},
        {"gzip;q=0, *", false},
        {"identity, *;q=0.5", true},
        {"x-gzip", true},
        {"gzipx", false},
        {" gzip ;q=0.5", true},
        {"gzip    ;q=0", false},
        {"br\xc4         ;q-QQQQ;", false}, /* fuzz finding: spaces before ';' */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (http_accepts_gzip(str_from_cstr(cases[i].v)) != cases[i].want)
            fail_msg("Accept-Encoding '%s': want %d", cases[i].v, cases[i].want);
}

static void test_gzip_round_trip(void **state)
{
    (void)state;
    struct prop p = prop_begin("gzip_round_trip");
    struct http_gzip *g = http_gzip_create(0);
    assert_non_null(g);
    static uint8_t src[100000];
    struct buf z = BUF_INIT, back = BUF_INIT;
    for (int i = 0; i < 50; i++) {
        size_t n = prop_next(&p) % sizeof src;
        for (size_t k = 0; k < n; k++)
            src[k] = (uint8_t)((prop_next(&p) & 7) ? 'a' + k % 7 : prop_next(&p));
        buf_reset(&z);
        buf_reset(&back);
        prop_check(&p, http_gzip_compress(g, src, n, &z) == 0);
        prop_check(&p, z.len >= 18 && z.data[0] == 0x1f && z.data[1] == 0x8b);
        prop_check(&p, http_decode_body(HTTP_CODING_GZIP, z.data, z.len, sizeof src, &back) == 0);
        prop_check(&p, back.len == n && memcmp(back.data, src, n) == 0);
    }
    buf_deinit(&z);
    buf_deinit(&back);
    http_gzip_destroy(g);
    http_gzip_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_each_coding),
        cmocka_unit_test(test_gzip_multi_member),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_random_corruption),
        cmocka_unit_test(test_coding_parse),
        cmocka_unit_test(test_accepts_gzip),
        cmocka_unit_test(test_gzip_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
