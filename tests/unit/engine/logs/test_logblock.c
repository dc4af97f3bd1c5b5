/* engine/logs/logblock: the block envelope of log chunks — a golden header, round trips with and
 * without zstd, the trigram filter (no false negatives, rules out absent needles), the gram filter
 * of version 2 (a randomized soundness property: no chunk holding a literal is ever ruled out; hex
 * trace ids absent from a chunk are ruled out although all their trigrams occur), peeking at the
 * counts, version 1 envelopes still read, and decoding hostile bytes: every truncation, every bit
 * flip, bad fields behind a recomputed CRC, and a zstd frame that lies about its size. */
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
        if (bit / 8 < out.len - le32_get(out.data + 40))
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
        {4, 3, ERR_UNSUPPORTED}, {4, 0, ERR_CORRUPT}, {5, 2, ERR_CORRUPT},  {6, 3, ERR_CORRUPT},
        {7, 2, ERR_CORRUPT},     {7, 3, ERR_CORRUPT}, {24, 0, ERR_CORRUPT}, {40, 0, ERR_CORRUPT},
        {4, 1, ERR_CORRUPT}, /* version 1 has no flags */
    };
    assert_int_equal(out.data[4], 2);
    assert_int_equal(out.data[7], LOGBLOCK_FLAG_GRAMS);
    size_t filters = out.len - LOGBLOCK_HEADER_BYTES - le32_get(out.data + 40);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(copy, out.data, out.len);
        copy[cases[i].off] = cases[i].v;
        if (cases[i].off == 24)
            memset(copy + 24, 0, 4);
        le32_put(copy + 44, crc32c_update(crc32c(copy, 44), copy + 48, filters));
        struct logblock_info bi;
        int rc = logblock_decode(copy, out.len, &bi);
        if (rc != cases[i].want)
            fprintf(stderr, "case %zu: got %d want %d\n", i, rc, cases[i].want);
        assert_int_equal(rc, cases[i].want);
    }
    /* a zstd frame announcing another size */
    memcpy(copy, out.data, out.len);
    le32_put(copy + 28, (uint32_t)len + 1);
    le32_put(copy + 44, crc32c_update(crc32c(copy, 44), copy + 48, filters));
    assert_int_equal(decode_all(copy, out.len), ERR_CORRUPT);
    free(copy);
    buf_deinit(&out);
    free(chunk);
    logblock_enc_deinit(&e);
}

/* ---- the gram filter ---- */

static void hex(struct prop *p, char *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = "0123456789abcdef"[prop_next(p) & 15];
}

/* A chunk of n lines carrying random trace ids among repeated words, encoded with filters. The
 * lines are left in text (each ends with a NUL), their offsets in offs. */
static void gram_chunk(struct prop *p, uint32_t n, struct buf *text, size_t *offs, struct buf *out)
{
    static const char *words[] = {"GET",        "POST",         "/api/v1/orders",
                                  "status=200", "status=503",   "msg=\"request completed\"",
                                  "level=info", "duration=12ms"};
    struct logchunk_writer_opts o = {.store_uncompressed = true};
    struct logchunk_writer w;
    logchunk_writer_init(&w, &o);
    struct logblock_enc e;
    logblock_enc_init(&e, 3, true);
    uint64_t lb = 0;
    buf_reset(text);
    for (uint32_t i = 0; i < n; i++) {
        char line[256], id[33] = {0};
        hex(p, id, prop_next(p) % 4 ? 32 : 1 + prop_next(p) % 32);
        int k = snprintf(line, sizeof line, "%s %s trace_id=%s %s", words[prop_next(p) % 8],
                         words[prop_next(p) % 8], id, words[prop_next(p) % 8]);
        struct str s = {line, (size_t)k};
        offs[i] = text->len;
        buf_append(text, line, (size_t)k + 1);
        assert_int_equal(logchunk_writer_append(&w, 1000 + i, s, NULL, 0), 0);
        assert_int_equal(logblock_enc_line(&e, s), 0);
        lb += (uint64_t)k;
    }
    uint8_t *chunk;
    size_t len;
    assert_int_equal(logchunk_writer_finish(&w, &chunk, &len), 0);
    buf_reset(out);
    assert_int_equal(logblock_enc_finish(&e, chunk, len, 1000, 1000 + n - 1, n, lb, out), 0);
    free(chunk);
    logchunk_writer_deinit(&w);
    logblock_enc_deinit(&e);
}

/* Soundness: every substring of every line passes; absent 32-hex ids are mostly ruled out even
 * though the trigram filter passes nearly all of them. */
static void test_gram_sound(void **state)
{
    (void)state;
    struct prop p = prop_begin("logblock_gram_sound");
    struct buf text = BUF_INIT, out = BUF_INIT;
    size_t offs[2000];
    for (int round = 0; round < 20; round++) {
        uint32_t n = 1 + (uint32_t)(prop_next(&p) % 2000);
        gram_chunk(&p, n, &text, offs, &out);
        struct logblock_info bi;
        assert_int_equal(logblock_decode(out.data, out.len, &bi), 0);
        prop_check(&p, bi.grams != NULL && bi.gram_k == LOGBLOCK_GRAM_K);
        for (int q = 0; q < 500; q++) {
            const char *line = (const char *)text.data + offs[prop_next(&p) % n];
            size_t len = strlen(line), a = prop_next(&p) % len, b = a + prop_next(&p) % (len - a);
            prop_check(&p, logblock_may_contain(&bi, (struct str){line + a, b - a + 1}));
        }
        uint32_t out_tri = 0, out_all = 0;
        for (int q = 0; q < 200; q++) {
            char id[32];
            hex(&p, id, 32);
            struct logblock_info tri_only = bi;
            tri_only.grams = NULL;
            out_tri += !logblock_may_contain(&tri_only, (struct str){id, 32});
            out_all += !logblock_may_contain(&bi, (struct str){id, 32});
        }
        if (n >= 1500) {
            prop_check(&p, out_tri < 40); /* trigrams cannot tell (nearly all hex trigrams occur) */
            prop_check(&p, out_all > 160); /* the gram filter can (about 2 % false positives) */
        }
    }
    buf_deinit(&text);
    buf_deinit(&out);
}

/* Re-seals the filters' CRC after an edit. */
static void reseal(uint8_t *p, size_t n)
{
    size_t filters = n - LOGBLOCK_HEADER_BYTES - le32_get(p + 40);
    le32_put(p + 44, crc32c_update(crc32c(p, 44), p + 48, filters));
}

static void test_gram_section_checks(void **state)
{
    (void)state;
    struct prop p = prop_begin("logblock_gram_checks");
    struct buf text = BUF_INIT, out = BUF_INIT;
    size_t offs[300];
    gram_chunk(&p, 300, &text, offs, &out);
    size_t g = LOGBLOCK_HEADER_BYTES + ((size_t)1 << out.data[6]) / 8; /* the gram section */
    struct {
        size_t off;
        uint8_t v;
    } bad[] = {{0, 0}, {0, 9}, {1, 0}, {1, 65}, {2, 0}, {2, 9}, {3, 1}, {4, 1}, {7, 0x10}};
    uint8_t *copy = malloc(out.len);
    struct logblock_info bi;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(copy, out.data, out.len);
        copy[g + bad[i].off] = bad[i].v;
        reseal(copy, out.len);
        int rc = logblock_decode(copy, out.len, &bi);
        assert_true(rc == ERR_CORRUPT || rc == ERR_TRUNCATED);
    }
    /* a version 1 envelope of the same chunk: no gram section, trigram filter only */
    size_t glen = LOGBLOCK_GRAM_HEAD_BYTES + le32_get(out.data + g + 4) / 8;
    size_t n1 = out.len - glen;
    memcpy(copy, out.data, g);
    memcpy(copy + g, out.data + g + glen, out.len - g - glen);
    copy[4] = 1;
    copy[7] = 0;
    reseal(copy, n1);
    assert_int_equal(logblock_decode(copy, n1, &bi), 0);
    assert_null(bi.grams);
    assert_non_null(bi.filter);
    const char *line = (const char *)text.data + offs[7];
    assert_true(logblock_may_contain(&bi, str_from_cstr(line)));
    assert_int_equal(decode_all(copy, n1), 0);
    /* the flag without a section */
    copy[4] = 2;
    copy[7] = LOGBLOCK_FLAG_GRAMS;
    reseal(copy, n1);
    assert_int_not_equal(logblock_decode(copy, n1, &bi), 0);
    free(copy);
    buf_deinit(&text);
    buf_deinit(&out);
}

/* The header and filters alone, as a line hint reads them before the whole chunk. */
static void test_filters_prefix(void **state)
{
    (void)state;
    struct prop p = prop_begin("logblock_filters_prefix");
    struct buf text = BUF_INIT, out = BUF_INIT;
    size_t offs[300], len;
    gram_chunk(&p, 300, &text, offs, &out);
    size_t f = LOGBLOCK_HEADER_BYTES + ((size_t)1 << out.data[6]) / 8;
    size_t g = LOGBLOCK_GRAM_HEAD_BYTES + le32_get(out.data + f + 4) / 8;
    assert_int_equal(logblock_filters_len(out.data, 20, &len), ERR_TRUNCATED);
    assert_int_equal(len, LOGBLOCK_HEADER_BYTES);
    assert_int_equal(logblock_filters_len(out.data, LOGBLOCK_HEADER_BYTES, &len), ERR_TRUNCATED);
    assert_int_equal(len, f + LOGBLOCK_GRAM_HEAD_BYTES);
    assert_int_equal(logblock_filters_len(out.data, len, &len), 0);
    assert_int_equal(len, f + g);
    assert_int_equal(len, out.len - le32_get(out.data + 40));
    struct logblock_info a, b;
    assert_int_equal(logblock_decode(out.data, out.len, &a), 0);
    assert_int_equal(logblock_decode_filters(out.data, len, out.len, &b), 0);
    assert_null(b.payload);
    assert_int_equal(b.entries, a.entries);
    assert_int_equal(b.gram_bits, a.gram_bits);
    for (int q = 0; q < 100; q++) {
        char id[32];
        hex(&p, id, 32);
        struct str s =
            q % 2 ? (struct str){id, 32} : str_from_cstr((const char *)text.data + offs[q % 300]);
        assert_int_equal(logblock_may_contain(&a, s), logblock_may_contain(&b, s));
    }
    assert_int_equal(logblock_decode_filters(out.data, len - 1, out.len, &b), ERR_TRUNCATED);
    assert_int_equal(logblock_decode_filters(out.data, out.len, out.len - 1, &b), ERR_INVALID);
    uint8_t *copy = malloc(out.len);
    memcpy(copy, out.data, out.len);
    copy[len - 1] ^= 1; /* a filter bit: the CRC over header and filters catches it */
    assert_int_equal(logblock_decode_filters(copy, len, out.len, &b), ERR_CORRUPT);
    le32_put(copy + f + 4, 100); /* not a multiple of 64 */
    assert_int_equal(logblock_filters_len(copy, f + LOGBLOCK_GRAM_HEAD_BYTES, &len), ERR_CORRUPT);
    /* a version 1 envelope (no gram section): the trigram filter's end */
    struct logblock_enc e;
    logblock_enc_init(&e, 0, true);
    e.gram_w = 64; /* every line is shorter than a window: no keys, no gram section */
    uint8_t *chunk;
    size_t clen;
    uint64_t lb;
    make_chunk(10, &chunk, &clen, &e, &lb);
    buf_reset(&out);
    assert_int_equal(logblock_enc_finish(&e, chunk, clen, 1000, 1009, 10, lb, &out), 0);
    assert_int_equal(out.data[4], 1);
    assert_int_equal(logblock_filters_len(out.data, LOGBLOCK_HEADER_BYTES, &len), 0);
    assert_int_equal(len, LOGBLOCK_HEADER_BYTES + ((size_t)1 << out.data[6]) / 8);
    assert_int_equal(logblock_decode_filters(out.data, len, out.len, &b), 0);
    free(chunk);
    logblock_enc_deinit(&e);
    free(copy);
    buf_deinit(&text);
    buf_deinit(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_golden_header),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_gram_sound),
        cmocka_unit_test(test_gram_section_checks),
        cmocka_unit_test(test_filters_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
