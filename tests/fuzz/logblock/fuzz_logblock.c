/* Fuzz target for the log block chunk envelope (engine/logs/logblock.h). The first input byte
 * picks a mode:
 *   0: decode the rest as an envelope, as is (header, lengths, CRC);
 *   1: recompute the header CRC over what the rest's payload length leaves for the filters first,
 *      so the checks behind the CRC (gram section fields, counts, zstd frame) are reached.
 * An envelope that decodes must agree with logblock_peek and with its header-and-filters prefix
 * (logblock_filters_len, logblock_decode_filters), answers may_contain for needles cut from the
 * input without crashing (the same from both views), and its payload is decompressed and, when it
 * is a log chunk, walked entry by entry. Every walked line is fed to a fresh encoder; the
 * re-encoded envelope must decode to the same counts and chunk bytes, and its filters must admit
 * every line and substrings of it (no false negatives). Mismatches abort. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/crc32c.h"
#include "base/error.h"
#include "engine/logs/logblock.h"
#include "formats/logchunk.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

#define LINES_CHECKED 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void reseal(uint8_t *p, size_t n)
{
    if (n < LOGBLOCK_HEADER_BYTES)
        return;
    uint32_t plen = le32_get(p + 40);
    if (plen > n - LOGBLOCK_HEADER_BYTES)
        return;
    size_t filters = n - LOGBLOCK_HEADER_BYTES - plen;
    le32_put(p + 44, crc32c_update(crc32c(p, 44), p + LOGBLOCK_HEADER_BYTES, filters));
}

/* Needles cut from the input bytes: whatever they are, the answer must not crash, and the
 * header-and-filters view (what a line hint reads first) must answer the same. */
static void probe(const struct logblock_info *bi, const uint8_t *env, size_t env_len,
                  const uint8_t *p, size_t n)
{
    size_t flen;
    struct logblock_info fi;
    CHECK(logblock_filters_len(env, env_len, &flen) == 0 && flen <= env_len);
    CHECK(logblock_decode_filters(env, flen, env_len, &fi) == 0);
    CHECK(fi.entries == bi->entries && (fi.payload == NULL) == (flen < env_len));
    for (size_t len = 0; len <= 40 && len <= n; len += 3) {
        struct str s = {(const char *)p + (n - len) / 2, len};
        CHECK(logblock_may_contain(bi, s) == logblock_may_contain(&fi, s));
    }
}

/* Re-encodes the walked lines around the same chunk; the filters must admit every line. */
static void reencode(const struct logblock_info *bi, const uint8_t *chunk, size_t len,
                     struct logchunk_reader *r)
{
    struct logblock_enc e;
    logblock_enc_init(&e, bi->codec == LOGBLOCK_CODEC_ZSTD ? 1 : 0, true);
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    logchunk_iter_open_reader(&it, r, INT64_MIN, INT64_MAX, LOGCHUNK_FORWARD);
    while (logchunk_iter_next(&it))
        CHECK(logblock_enc_line(&e, logchunk_iter_at(&it)->line) == 0);
    struct buf out = BUF_INIT;
    if (!logchunk_iter_err(&it) && logblock_enc_finish(&e, chunk, len, bi->mint_ns, bi->maxt_ns,
                                                       bi->entries, bi->line_bytes, &out) == 0) {
        struct logblock_info b2;
        CHECK(logblock_decode(out.data, out.len, &b2) == 0);
        CHECK(b2.entries == bi->entries && b2.raw_len == len && b2.line_bytes == bi->line_bytes);
        struct logblock_dec d;
        logblock_dec_init(&d);
        const uint8_t *raw;
        size_t rlen;
        CHECK(logblock_dec_chunk(&d, &b2, &raw, &rlen) == 0);
        CHECK(rlen == len && memcmp(raw, chunk, len) == 0);
        logblock_dec_deinit(&d);
        logchunk_iter_open_reader(&it, r, INT64_MIN, INT64_MAX, LOGCHUNK_FORWARD);
        for (int k = 0; k < LINES_CHECKED && logchunk_iter_next(&it); k++) {
            struct str l = logchunk_iter_at(&it)->line;
            CHECK(logblock_may_contain(&b2, l));
            if (l.len > 2)
                CHECK(logblock_may_contain(&b2, (struct str){l.ptr + 1, l.len - 2}));
        }
    }
    buf_deinit(&out);
    logchunk_iter_deinit(&it);
    logblock_enc_deinit(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 2;
    size_t n = size - 1;
    uint8_t *p = malloc(n ? n : 1);
    CHECK(p);
    memcpy(p, data + 1, n);
    if (mode == 1)
        reseal(p, n);
    struct logblock_info bi;
    if (logblock_decode(p, n, &bi) == 0) {
        uint32_t entries;
        uint64_t line_bytes;
        CHECK(logblock_peek(p, n, &entries, &line_bytes) == 0);
        CHECK(entries == bi.entries && line_bytes == bi.line_bytes);
        probe(&bi, p, n, data, size);
        struct logblock_dec d;
        logblock_dec_init(&d);
        const uint8_t *chunk;
        size_t len;
        struct logchunk_reader r;
        if (logblock_dec_chunk(&d, &bi, &chunk, &len) == 0) {
            CHECK(len == bi.raw_len);
            if (logchunk_reader_open(&r, chunk, len) == 0)
                reencode(&bi, chunk, len, &r);
        }
        logblock_dec_deinit(&d);
    }
    free(p);
    return 0;
}
