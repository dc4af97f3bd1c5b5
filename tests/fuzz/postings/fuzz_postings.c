/* Fuzz target for formats/postings. The first input byte picks a mode:
 *   even: the rest is a postings frame, decoded as it is (frame checks, CRC);
 *   odd:  the rest is a Roaring portable payload, framed here with a correct CRC, so that the
 *         structural validator (and CRoaring behind it) sees arbitrary forged payloads.
 * On success every value is walked (strictly increasing, count == cardinality), the bitmap is
 * re-encoded and decoded again, and a canonical payload must re-encode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/crc32c.h"
#include "base/error.h"
#include "formats/postings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const roaring_bitmap_t *bm)
{
    roaring_uint32_iterator_t it;
    roaring_init_iterator(bm, &it);
    uint64_t n = 0;
    int64_t prev = -1;
    while (it.has_value) {
        ASSERT((int64_t)it.current_value > prev);
        ASSERT(roaring_bitmap_contains(bm, it.current_value));
        prev = it.current_value;
        n++;
        roaring_advance_uint32_iterator(&it);
    }
    ASSERT(n == roaring_bitmap_get_cardinality(bm));
}

/* A run cookie without any run container re-encodes with the no-run cookie; all else is exact. */
static int canonical(const uint8_t *payload, size_t n)
{
    if (n < 4 || (le32_get(payload) & 0xffffu) != 12347u)
        return 1;
    size_t count = (le32_get(payload) >> 16) + 1;
    for (size_t i = 0; i < (count + 7) / 8; i++)
        if (payload[4 + i])
            return 1;
    return 0;
}

static void check_reencode(const roaring_bitmap_t *bm, const uint8_t *frame, size_t frame_len)
{
    struct buf b = BUF_INIT;
    ASSERT(postings_encode(bm, &b) == 0);
    roaring_bitmap_t *again = NULL;
    size_t used = 0;
    ASSERT(postings_decode(b.data, b.len, &again, &used) == 0 && used == b.len);
    ASSERT(roaring_bitmap_equals(bm, again));
    roaring_bitmap_free(again);
    const uint8_t *payload = frame + POSTINGS_HEADER_BYTES;
    size_t payload_len = frame_len - POSTINGS_HEADER_BYTES - POSTINGS_TRAILER_BYTES;
    if (canonical(payload, payload_len)) {
        ASSERT(b.len == frame_len);
        ASSERT(memcmp(b.data, frame, frame_len) == 0);
    }
    buf_deinit(&b);
}

static void run(const uint8_t *frame, size_t n)
{
    roaring_bitmap_t *bm = NULL;
    size_t used = 0;
    int rc = postings_decode(frame, n, &bm, &used);
    if (rc) {
        ASSERT(bm == NULL);
        ASSERT(rc == ERR_CORRUPT || rc == ERR_TRUNCATED || rc == ERR_UNSUPPORTED ||
               rc == ERR_NOMEM);
        return;
    }
    ASSERT(used <= n);
    walk(bm);
    check_reencode(bm, frame, used);
    roaring_bitmap_free(bm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!(data[0] & 1)) {
        run(data + 1, size - 1);
        return 0;
    }
    struct buf b = BUF_INIT;
    size_t n = size - 1;
    if (buf_reserve(&b, POSTINGS_HEADER_BYTES + n + POSTINGS_TRAILER_BYTES) == 0) {
        buf_append_le32(&b, POSTINGS_MAGIC);
        buf_append_le32(&b, POSTINGS_VERSION);
        buf_append_le32(&b, (uint32_t)n);
        buf_append(&b, data + 1, n);
        buf_append_le32(&b, crc32c(b.data, b.len));
        run(b.data, b.len);
    }
    buf_deinit(&b);
    return 0;
}
