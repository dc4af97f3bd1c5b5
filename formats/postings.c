/* Postings frame codec and Roaring portable-format validator. Byte layout:
 * docs/formats/postings.md. */
#include "formats/postings.h"

#include <stdbool.h>

#include "base/assert.h"
#include "base/crc32c.h"
#include "base/error.h"

/* Roaring portable format constants (RoaringFormatSpec). */
#define RB_COOKIE_NORUN   12346u /* followed by a 32-bit container count; no run containers */
#define RB_COOKIE_RUN     12347u /* low 16 bits; high 16 bits hold count - 1 */
#define RB_MAX_CONTAINERS 65536u
#define RB_NO_OFFSET_MAX  4u /* with RB_COOKIE_RUN, offsets are present only when count >= 4 */
#define RB_ARRAY_MAX_CARD 4096u
#define RB_BITSET_BYTES   8192u

size_t postings_encoded_size(const roaring_bitmap_t *bm)
{
    return POSTINGS_HEADER_BYTES + roaring_bitmap_portable_size_in_bytes(bm) +
           POSTINGS_TRAILER_BYTES;
}

int postings_encode(const roaring_bitmap_t *bm, struct buf *out)
{
    size_t payload = roaring_bitmap_portable_size_in_bytes(bm);
    ASSERT(payload <= UINT32_MAX);
    size_t total = POSTINGS_HEADER_BYTES + payload + POSTINGS_TRAILER_BYTES;
    int rc = buf_reserve(out, total);
    if (rc)
        return rc;
    uint8_t *p = out->data + out->len;
    le32_put(p, POSTINGS_MAGIC);
    p[4] = POSTINGS_VERSION;
    p[5] = p[6] = p[7] = 0;
    le32_put(p + 8, (uint32_t)payload);
    size_t wrote = roaring_bitmap_portable_serialize(bm, (char *)p + POSTINGS_HEADER_BYTES);
    ASSERT(wrote == payload);
    le32_put(p + POSTINGS_HEADER_BYTES + payload, crc32c(p, POSTINGS_HEADER_BYTES + payload));
    out->len += total;
    return 0;
}

/* Checks the frame and points *payload at the validated-length payload. */
static int frame_check(const uint8_t *p, size_t n, const uint8_t **payload, size_t *payload_len)
{
    if (n < 4)
        return ERR_TRUNCATED;
    if (le32_get(p) != POSTINGS_MAGIC)
        return ERR_CORRUPT;
    if (n < 5)
        return ERR_TRUNCATED;
    if (p[4] != POSTINGS_VERSION)
        return ERR_UNSUPPORTED;
    if (n < POSTINGS_HEADER_BYTES)
        return ERR_TRUNCATED;
    size_t len = le32_get(p + 8);
    if (len > n - POSTINGS_HEADER_BYTES || POSTINGS_TRAILER_BYTES > n - POSTINGS_HEADER_BYTES - len)
        return ERR_TRUNCATED;
    uint32_t want = le32_get(p + POSTINGS_HEADER_BYTES + len);
    if (crc32c(p, POSTINGS_HEADER_BYTES + len) != want)
        return ERR_CORRUPT;
    if (p[5] | p[6] | p[7])
        return ERR_CORRUPT;
    *payload = p + POSTINGS_HEADER_BYTES;
    *payload_len = len;
    return 0;
}

int postings_decode(const uint8_t *p, size_t n, roaring_bitmap_t **out, size_t *consumed)
{
    *out = NULL;
    const uint8_t *payload;
    size_t len;
    int rc = frame_check(p, n, &payload, &len);
    if (rc)
        return rc;
    rc = postings_portable_validate(payload, len);
    if (rc)
        return rc;
    roaring_bitmap_t *bm = roaring_bitmap_portable_deserialize_safe((const char *)payload, len);
    if (!bm)
        return ERR_NOMEM; /* the validator accepted it, so only allocation can fail */
    *out = bm;
    if (consumed)
        *consumed = POSTINGS_HEADER_BYTES + len + POSTINGS_TRAILER_BYTES;
    return 0;
}

/* ---- portable-format validation ---- */

struct rb_hdr {
    uint32_t count;      /* containers */
    const uint8_t *runs; /* run-flag bitset, or NULL without RB_COOKIE_RUN */
    const uint8_t *keys; /* count x (key u16, card-1 u16) */
    const uint8_t *offs; /* count x u32, or NULL */
    size_t body;         /* offset of the first container */
};

static int parse_header(const uint8_t *p, size_t n, struct rb_hdr *h)
{
    if (n < 4)
        return ERR_TRUNCATED;
    uint32_t cookie = le32_get(p);
    size_t pos = 4;
    h->runs = NULL;
    if ((cookie & 0xffffu) == RB_COOKIE_RUN) {
        h->count = (cookie >> 16) + 1;
        size_t flag_bytes = (h->count + 7) / 8;
        if (n - pos < flag_bytes)
            return ERR_TRUNCATED;
        h->runs = p + pos;
        pos += flag_bytes;
        if ((h->count & 7) && (h->runs[flag_bytes - 1] >> (h->count & 7)))
            return ERR_CORRUPT; /* flag bits past the last container must be zero */
    } else if (cookie == RB_COOKIE_NORUN) {
        if (n - pos < 4)
            return ERR_TRUNCATED;
        h->count = le32_get(p + pos);
        pos += 4;
        if (h->count > RB_MAX_CONTAINERS)
            return ERR_CORRUPT;
    } else {
        return ERR_CORRUPT;
    }
    size_t key_bytes = (size_t)h->count * 4;
    if (n - pos < key_bytes)
        return ERR_TRUNCATED;
    h->keys = p + pos;
    pos += key_bytes;
    h->offs = NULL;
    if (!h->runs || h->count >= RB_NO_OFFSET_MAX) {
        if (n - pos < key_bytes)
            return ERR_TRUNCATED;
        h->offs = p + pos;
        pos += key_bytes;
    }
    h->body = pos;
    return 0;
}

static int check_array(const uint8_t *c, uint32_t card)
{
    uint32_t prev = le16_get(c);
    for (uint32_t i = 1; i < card; i++) {
        uint32_t v = le16_get(c + 2 * i);
        if (v <= prev)
            return ERR_CORRUPT;
        prev = v;
    }
    return 0;
}

static int check_bitset(const uint8_t *c, uint32_t card)
{
    uint32_t pop = 0;
    for (uint32_t i = 0; i < RB_BITSET_BYTES; i += 8)
        pop += (uint32_t)__builtin_popcountll(le64_get(c + i));
    return pop == card ? 0 : ERR_CORRUPT;
}

/* c points at n_runs pairs (start, length-1); each run covers [start, start+length-1]. */
static int check_runs(const uint8_t *c, uint32_t n_runs, uint32_t card)
{
    uint32_t total = 0;
    int64_t prev_end = -2; /* so that a first run starting at 0 is not "adjacent" */
    for (uint32_t i = 0; i < n_runs; i++) {
        uint32_t start = le16_get(c + 4 * i);
        uint32_t len_minus1 = le16_get(c + 4 * i + 2);
        if (start + len_minus1 > 0xffffu)
            return ERR_CORRUPT;
        if ((int64_t)start <= prev_end + 1)
            return ERR_CORRUPT; /* overlapping, unsorted or adjacent */
        prev_end = start + len_minus1;
        total += len_minus1 + 1;
    }
    return total == card ? 0 : ERR_CORRUPT;
}

/* Validates container k starting at *pos and advances *pos past it. */
static int check_container(const uint8_t *p, size_t n, const struct rb_hdr *h, uint32_t k,
                           size_t *pos)
{
    if (h->offs && le32_get(h->offs + 4 * (size_t)k) != *pos)
        return ERR_CORRUPT;
    uint32_t card = (uint32_t)le16_get(h->keys + 4 * (size_t)k + 2) + 1;
    bool is_run = h->runs && (h->runs[k / 8] >> (k % 8)) & 1;
    if (is_run) {
        if (n - *pos < 2)
            return ERR_TRUNCATED;
        uint32_t n_runs = le16_get(p + *pos);
        size_t bytes = 2 + (size_t)n_runs * 4;
        if (n - *pos < bytes)
            return ERR_TRUNCATED;
        int rc = check_runs(p + *pos + 2, n_runs, card);
        *pos += bytes;
        return rc;
    }
    if (card > RB_ARRAY_MAX_CARD) {
        if (n - *pos < RB_BITSET_BYTES)
            return ERR_TRUNCATED;
        int rc = check_bitset(p + *pos, card);
        *pos += RB_BITSET_BYTES;
        return rc;
    }
    size_t bytes = (size_t)card * 2;
    if (n - *pos < bytes)
        return ERR_TRUNCATED;
    int rc = check_array(p + *pos, card);
    *pos += bytes;
    return rc;
}

int postings_portable_validate(const uint8_t *p, size_t n)
{
    struct rb_hdr h;
    int rc = parse_header(p, n, &h);
    if (rc)
        return rc;
    size_t pos = h.body;
    int32_t prev_key = -1;
    for (uint32_t k = 0; k < h.count; k++) {
        int32_t key = le16_get(h.keys + 4 * (size_t)k);
        if (key <= prev_key)
            return ERR_CORRUPT;
        prev_key = key;
        rc = check_container(p, n, &h, k, &pos);
        if (rc)
            return rc;
    }
    return pos == n ? 0 : ERR_CORRUPT;
}
