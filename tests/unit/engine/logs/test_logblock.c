/* engine/logs/logblock: the block envelope of log chunks — a golden header, round trips with and
 * without zstd, the trigram filter (no false negatives, rules out absent needles), peeking at the
 * counts, and decoding hostile bytes: every truncation, every bit flip, bad fields behind a
 * recomputed CRC, and a zstd frame that lies about its size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/crc32c.h"
#include "base/error.h"
#include "engine/logs/logblock.h"
#include "formats/logchunk.h"
#include "tests/unit/prop.h"

/* A finished log chunk of n generated lines (store_uncompressed, as the cut writes them). */
static void make_chunk(uint32_t n, uint8_t **bytes, size_t *len, struct logblock_enc *e,
                       uint64_t *line_bytes)
{
    struct logchunk_writer_opts o = {.store_uncompressed = true};
    struct logchunk_writer w;
    logchunk_writer_init(&w, &o);
    *line_bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        char line[128];
        int k = snprintf(line, sizeof line, "level=info msg=\"served request %u\" path=/api/v1/%u",
                         i, i % 7);
        struct str s = {line, (size_t)k};
        assert_int_equal(logchunk_writer_append(&w, 1000 + i, s, NULL, 0), 0);
        if (e)
            assert_int_equal(logblock_enc_line(e, s), 0);
        *line_bytes += (uint64_t)k;
    }
    assert_int_equal(logchunk_writer_finish(&w, bytes, len), 0);
    logchunk_writer_deinit(&w);
}

static void check_roundtrip(int level, bool filter, uint32_t n)
{
    struct logblock_enc e;
    logblock_enc_init(&e, level, filter);
    uint8_t *chunk;
    size_t len;
    uint64_t lb;
    make_chunk(n, &chunk, &len, &e, &lb);
    struct buf out = BUF_INIT;
    assert_int_equal(logblock_enc_finish(&e, chunk, len, 1000, 1000 + n - 1, n, lb, &out), 0);
    struct logblock_info bi;
    assert_int_equal(logblock_decode(out.data, out.len, &bi), 0);
    assert_int_equal(bi.mint_ns, 1000);
    assert_int_equal(bi.maxt_ns, 1000 + n - 1);
    assert_int_equal(bi.entries, n);
    assert_int_equal(bi.line_bytes, lb);
    assert_int_equal(bi.raw_len, len);
    assert_int_equal(bi.codec, level && n > 50 ? LOGBLOCK_CODEC_ZSTD : bi.codec);
    assert_int_equal(bi.filter != NULL, filter);
    struct logblock_dec d;
    logblock_dec_init(&d);
    const uint8_t *raw;
    size_t rlen;
    assert_int_equal(logblock_dec_chunk(&d, &bi, &raw, &rlen), 0);
    assert_int_equal(rlen, len);
    assert_memory_equal(raw, chunk, len);
    uint32_t pe;
    uint64_t pb;
    assert_int_equal(logblock_peek(out.data, LOGBLOCK_HEADER_BYTES, &pe, &pb), 0);
    assert_int_equal(pe, n);
    assert_int_equal(pb, lb);
    /* every line's substrings are possible; absent words are ruled out with a filter */
    assert_true(logblock_may_contain(&bi, STR_LIT("served request 0")));
    assert_true(logblock_may_contain(&bi, STR_LIT("path=/api/v1/0")));
    assert_true(logblock_may_contain(&bi, STR_LIT("ab"))); /* shorter than a trigram */
    assert_int_equal(logblock_may_contain(&bi, STR_LIT("panic: runtime error")), !filter);
    assert_int_equal(logblock_may_contain(&bi, STR_LIT("level=error")), !filter);
    logblock_dec_deinit(&d);
    buf_deinit(&out);
    free(chunk);
    logblock_enc_deinit(&e);
}

static void test_roundtrip(void **state)
{
    (void)state;
    check_roundtrip(0, false, 10);
    check_roundtrip(0, true, 10);
    check_roundtrip(3, true, 2000);
    check_roundtrip(3, false, 2000);
    check_roundtrip(1, true, 1);
}

/* The header of a known envelope, byte for byte (docs/formats/logblock.md). */
static void test_golden_header(void **state)
{
    (void)state;
    struct logblock_enc e;
    logblock_enc_init(&e, 0, false);
    uint8_t chunk[LOGCHUNK_EMPTY_CHUNK_BYTES] = {0};
    struct buf out = BUF_INIT;
    assert_int_equal(logblock_enc_finish(&e, chunk, sizeof chunk, -5, 7, 3, 12, &out), 0);
    static const uint8_t want[44] = {
        0x53, 0x4c, 0x42, 0x4b, 0x01, 0x00, 0x00, 0x00, /* magic, v1, none, no filter */
        0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* mint -5 */
        0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* maxt 7 */
        0x03, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, /* entries 3, raw 24 */
        0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* line bytes 12 */
        0x18, 0x00, 0x00, 0x00,                         /* payload 24 */
    };
    assert_int_equal(out.len, LOGBLOCK_HEADER_BYTES + sizeof chunk);
    assert_memory_equal(out.data, want, sizeof want);
    assert_int_equal(le32_get(out.data + 44), 0xf5fca6a3u); /* CRC-32C of the 44 bytes */
    assert_int_equal(crc32c(want, sizeof want), 0xf5fca6a3u);
    /* bad arguments */
    assert_int_equal(logblock_enc_finish(&e, chunk, sizeof chunk, 7, 5, 3, 12, &out), ERR_INVALID);
    assert_int_equal(logblock_enc_finish(&e, chunk, sizeof chunk, 5, 7, 0, 12, &out), ERR_INVALID);
    buf_deinit(&out);
    logblock_enc_deinit(&e);
}

/* Decoding, then (when it succeeds) decompressing: never a crash; errors are bounded codes. */
static int decode_all(const uint8_t *p, size_t n)
{
    struct logblock_info bi;
    int rc = logblock_decode(p, n, &bi);
    if (rc)
        return rc;
    struct logblock_dec d;
    logblock_dec_init(&d);
    const uint8_t *raw;
    size_t len;
    rc = logblock_dec_chunk(&d, &bi, &raw, &len);
    logblock_dec_deinit(&d);
    return rc;
}

static void test_hostile(void **state)
{
    (void)state;
    struct logblock_enc e;
    logblock_enc_init(&e, 3, true);
    uint8_t *chunk;
    size_t len;
    uint64_t lb;
    make_chunk(300, &chunk, &len, &e, &lb);
    struct buf out = BUF_INIT;
    assert_int_equal(logblock_enc_finish(&e, chunk, len, 1000, 1299, 300, lb, &out), 0);
    for (size_t k = 0; k < out.len; k++) {
        int rc = decode_all(out.data, k);
        assert_true(rc == ERR_TRUNCATED || rc == ERR_CORRUPT);
    }
    uint8_t *copy = malloc(out.len);
    struct prop p = prop_begin("logblock_flip");
    for (size_t bit = 0; bit < out.len * 8; bit += 1 + prop_next(&p) % 7) {
        memcpy(copy, out.data, out.len);
        copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rc = decode_all(copy, out.len);
        /* the header and the filter are CRC-covered; payload flips show in zstd or its size */
        if (bit / 8 < LOGBLOCK_HEADER_BYTES + ((size_t)1 << out.data[6]) / 8)
            prop_check(&p, rc == ERR_CORRUPT || rc == ERR_TRUNCATED || rc == ERR_UNSUPPORTED);
        else
            prop_check(&p, rc == 0 || rc == ERR_CORRUPT);
    }
    /* fields that pass the CRC but not the checks */
    struct {
        size_t off;
        uint8_t v;
        int want;
    } cases[] = {
        {4, 2, ERR_UNSUPPORTED}, {4, 0, ERR_CORRUPT},  {5, 2, ERR_CORRUPT},  {6, 3, ERR_CORRUPT},
        {7, 1, ERR_CORRUPT},     {24, 0, ERR_CORRUPT}, {40, 0, ERR_CORRUPT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(copy, out.data, out.len);
        copy[cases[i].off] = cases[i].v;
        if (cases[i].off == 24)
            memset(copy + 24, 0, 4);
        size_t f = copy[6] >= 11 && copy[6] <= 16 ? ((size_t)1 << copy[6]) / 8 : 0;
        le32_put(copy + 44, crc32c_update(crc32c(copy, 44), copy + 48, f));
        struct logblock_info bi;
        int rc = logblock_decode(copy, out.len, &bi);
        if (rc != cases[i].want)
            fprintf(stderr, "case %zu: got %d want %d\n", i, rc, cases[i].want);
        assert_int_equal(rc, cases[i].want);
    }
    /* a zstd frame announcing another size */
    memcpy(copy, out.data, out.len);
    le32_put(copy + 28, (uint32_t)len + 1);
    size_t f = ((size_t)1 << copy[6]) / 8;
    le32_put(copy + 44, crc32c_update(crc32c(copy, 44), copy + 48, f));
    assert_int_equal(decode_all(copy, out.len), ERR_CORRUPT);
    free(copy);
    buf_deinit(&out);
    free(chunk);
    logblock_enc_deinit(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_golden_header),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
