/* Log block chunk envelope: header, trigram filter and (zstd) payload around a log chunk.
 * Byte layout: docs/formats/logblock.md. */
#include "engine/logs/logblock.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "base/crc32c.h"
#include "base/error.h"
#include "formats/logchunk.h"

/* ---- the trigram filter --------------------------------------------------------------------- */

static inline uint32_t tri_code(const uint8_t *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Bit of a trigram in a filter of 2^log2 bits (Fibonacci hashing of the 24-bit code). */
static inline uint32_t tri_bit(uint32_t code, unsigned log2)
{
    return (code * 0x9e3779b1u) >> (32 - log2);
}

/* Notes a trigram: a bit per possible code (2 MiB, allocated on first use) and the list of the
 * distinct codes seen since the last finish (which clears exactly those bits). */
static int tri_add(struct logblock_enc *e, uint32_t code)
{
    uint64_t bit = 1ull << (code & 63);
    if (e->seen[code >> 6] & bit)
        return 0;
    if (e->tri_n == e->tri_cap) {
        size_t cap = e->tri_cap ? e->tri_cap * 2 : 4096;
        uint32_t *t = realloc(e->tri, cap * sizeof *t);
        if (!t)
            return ERR_NOMEM;
        e->tri = t;
        e->tri_cap = cap;
    }
    e->seen[code >> 6] |= bit;
    e->tri[e->tri_n++] = code;
    return 0;
}

/* About one bit per distinct trigram (the next power of two: half full or less), within the
 * bounds, and at most 1/128 of the chunk's size so the filter stays a small part of it. */
static unsigned filter_log2(size_t distinct, size_t raw_len)
{
    unsigned l = LOGBLOCK_FILTER_LOG2_MIN;
    while (l < LOGBLOCK_FILTER_LOG2_MAX && ((size_t)1 << l) < distinct)
        l++;
    while (l > LOGBLOCK_FILTER_LOG2_MIN && ((size_t)1 << l) / 8 > raw_len / 128)
        l--;
    return l;
}

/* ---- the gram filter (minimizers of k-byte grams in a bloom filter) ------------------------- */

/* Hash of the k bytes at p (k <= 8): splitmix64's finalizer of their little-endian value. */
static inline uint64_t gram_hash(const uint8_t *p, unsigned k)
{
    uint64_t z = 0;
    if (k == 8) {
        z = le64_get(p);
    } else {
        for (unsigned i = 0; i < k; i++)
            z |= (uint64_t)p[i] << (8 * i);
    }
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Sliding-window minimum over the gram hashes of one string: a monotone deque in a ring of 64. */
struct gram_win {
    uint64_t h[64];
    size_t at[64];
    unsigned head, n;
};

typedef bool (*gram_fn)(void *arg, uint64_t key);

/* Calls fn with the minimum hash of every window of w consecutive k-grams of p[0, n) (once per
 * run of windows sharing it) until fn returns false. Returns false when fn did. */
static bool gram_minimizers(const uint8_t *p, size_t n, unsigned k, unsigned w, gram_fn fn,
                            void *arg)
{
    if (n < (size_t)w + k - 1)
        return true;
    struct gram_win q;
    q.head = q.n = 0;
    uint64_t last = 0;
    bool any = false;
    for (size_t i = 0; i + k <= n; i++) {
        uint64_t h = gram_hash(p + i, k);
        while (q.n && q.h[(q.head + q.n - 1) & 63] >= h)
            q.n--;
        q.h[(q.head + q.n) & 63] = h;
        q.at[(q.head + q.n) & 63] = i;
        q.n++;
        if (q.at[q.head] + w <= i)
            q.head = (q.head + 1) & 63, q.n--;
        if (i + 1 < w)
            continue;
        uint64_t m = q.h[q.head];
        if (any && m == last)
            continue;
        any = true;
        last = m;
        if (!fn(arg, m))
            return false;
    }
    return true;
}

/* Bit j of a key's probes in a filter of `bits` bits: double hashing of the key times an odd
 * constant (a key is a window's minimum, so its high bits are mostly zero), then a multiply-shift.
 */
static inline uint32_t gram_bit(uint64_t key, unsigned j, uint32_t bits)
{
    uint64_t m = key * 0x9e3779b97f4a7c15ull;
    uint32_t v = (uint32_t)(m >> 32) + (uint32_t)j * ((uint32_t)m | 1u);
    return (uint32_t)(((uint64_t)v * bits) >> 32);
}

/* The distinct keys of the chunk being built: an open-addressing set (0 marks an empty slot;
 * the key 0 is kept as a flag), grown at half full. */
static bool keys_grow(struct logblock_enc *e)
{
    size_t cap = e->keys_cap ? e->keys_cap * 2 : 4096;
    uint64_t *t = calloc(cap, sizeof *t);
    if (!t)
        return false;
    for (size_t i = 0; i < e->keys_cap; i++) {
        uint64_t k = e->keys[i];
        if (!k)
            continue;
        size_t j = (size_t)k & (cap - 1);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = k;
    }
    free(e->keys);
    e->keys = t;
    e->keys_cap = cap;
    return true;
}

static bool gram_note(void *arg, uint64_t key)
{
    struct logblock_enc *e = arg;
    if (!key) {
        e->key_zero = true;
        return true;
    }
    if (2 * (e->keys_n + 1) > e->keys_cap && !keys_grow(e))
        return false;
    size_t mask = e->keys_cap - 1, j = (size_t)key & mask;
    while (e->keys[j]) {
        if (e->keys[j] == key)
            return true;
        j = (j + 1) & mask;
    }
    e->keys[j] = key;
    e->keys_n++;
    return true;
}

/* Filter size for n distinct keys: bits_per_key each, a multiple of 64, within the bounds. */
static uint32_t gram_bits_for(size_t n, unsigned bits_per_key)
{
    uint64_t b = ((uint64_t)n * bits_per_key + 63) / 64 * 64;
    return b > LOGBLOCK_GRAM_BITS_MAX ? LOGBLOCK_GRAM_BITS_MAX : (uint32_t)b;
}

/* Writes the gram section (head and bits) for the unique keys. */
static void gram_put(const struct logblock_enc *e, uint8_t *g, uint32_t bits)
{
    g[0] = e->gram_k;
    g[1] = e->gram_w;
    g[2] = e->gram_probes;
    g[3] = 0;
    le32_put(g + 4, bits);
    uint8_t *f = g + LOGBLOCK_GRAM_HEAD_BYTES;
    memset(f, 0, bits / 8);
    for (size_t i = 0; i <= e->keys_cap; i++) {
        uint64_t key = i < e->keys_cap ? e->keys[i] : 0;
        if (!key && (i < e->keys_cap || !e->key_zero))
            continue;
        for (unsigned j = 0; j < e->gram_probes; j++) {
            uint32_t bit = gram_bit(key, j, bits);
            f[bit >> 3] |= (uint8_t)(1u << (bit & 7));
        }
    }
}

struct gram_probe {
    const struct logblock_info *bi;
};

static bool gram_present(void *arg, uint64_t key)
{
    const struct logblock_info *bi = ((struct gram_probe *)arg)->bi;
    for (unsigned j = 0; j < bi->gram_probes; j++) {
        uint32_t bit = gram_bit(key, j, bi->gram_bits);
        if (!(bi->grams[bit >> 3] & (1u << (bit & 7))))
            return false;
    }
    return true;
}

/* ---- encoding ------------------------------------------------------------------------------- */

void logblock_enc_init(struct logblock_enc *e, int zstd_level, bool filter)
{
    memset(e, 0, sizeof *e);
    e->zstd_level = zstd_level;
    e->filter = filter;
    e->gram_k = LOGBLOCK_GRAM_K;
    e->gram_w = LOGBLOCK_GRAM_W;
    e->gram_probes = LOGBLOCK_GRAM_PROBES;
    e->gram_bits_per_key = LOGBLOCK_GRAM_BITS_PER_KEY;
    buf_init(&e->z);
}

void logblock_enc_deinit(struct logblock_enc *e)
{
    ZSTD_freeCCtx(e->cctx);
    free(e->tri);
    free(e->keys);
    free(e->seen);
    buf_deinit(&e->z);
    memset(e, 0, sizeof *e);
}

int logblock_enc_line(struct logblock_enc *e, struct str line)
{
    if (!e->filter)
        return 0;
    if (!e->seen && !(e->seen = calloc((size_t)1 << 18, sizeof *e->seen)))
        return ERR_NOMEM;
    const uint8_t *p = (const uint8_t *)line.ptr;
    for (size_t i = 0; i + 3 <= line.len; i++)
        if (tri_add(e, tri_code(p + i)))
            return ERR_NOMEM;
    if (!gram_minimizers(p, line.len, e->gram_k, e->gram_w, gram_note, e))
        return ERR_NOMEM;
    return 0;
}

/* Compresses chunk into e->z; returns the codec to store (NONE when zstd does not pay). */
static int compress(struct logblock_enc *e, const uint8_t *chunk, size_t len, uint8_t *codec)
{
    *codec = LOGBLOCK_CODEC_NONE;
    if (e->zstd_level <= 0)
        return 0;
    if (!e->cctx && !(e->cctx = ZSTD_createCCtx()))
        return ERR_NOMEM;
    size_t bound = ZSTD_compressBound(len);
    buf_reset(&e->z);
    if (buf_reserve(&e->z, bound))
        return ERR_NOMEM;
    size_t n = ZSTD_compressCCtx(e->cctx, e->z.data, bound, chunk, len, e->zstd_level);
    if (ZSTD_isError(n))
        return ERR_NOMEM; /* only allocation can fail with a bound-sized destination */
    e->z.len = n;
    if (n < len - len / 16)
        *codec = LOGBLOCK_CODEC_ZSTD;
    return 0;
}

static void put_header(uint8_t *h, uint8_t codec, uint8_t log2, bool grams, int64_t mint,
                       int64_t maxt, uint32_t entries, uint32_t raw_len, uint64_t line_bytes,
                       uint32_t plen)
{
    memset(h, 0, LOGBLOCK_HEADER_BYTES);
    le32_put(h, LOGBLOCK_MAGIC);
    h[4] = grams ? LOGBLOCK_VERSION : LOGBLOCK_VERSION_PLAIN;
    h[5] = codec;
    h[6] = log2;
    h[7] = grams ? LOGBLOCK_FLAG_GRAMS : 0;
    le64_put(h + 8, (uint64_t)mint);
    le64_put(h + 16, (uint64_t)maxt);
    le32_put(h + 24, entries);
    le32_put(h + 28, raw_len);
    le64_put(h + 32, line_bytes);
    le32_put(h + 40, plen);
}

/* Sets the trigram filter's bits (fbytes = 2^log2 / 8 bytes at f). */
static void tri_put(const struct logblock_enc *e, uint8_t *f, unsigned log2, size_t fbytes)
{
    memset(f, 0, fbytes);
    for (size_t i = 0; log2 && i < e->tri_n; i++) {
        uint32_t bit = tri_bit(e->tri[i], log2);
        f[bit >> 3] |= (uint8_t)(1u << (bit & 7));
    }
}

/* Forgets the lines noted since the last finish. */
static void enc_forget(struct logblock_enc *e)
{
    for (size_t i = 0; i < e->tri_n; i++)
        e->seen[e->tri[i] >> 6] = 0; /* the words of every code seen: all their bits were ours */
    e->tri_n = 0;
    if (e->keys_n)
        memset(e->keys, 0, e->keys_cap * sizeof *e->keys);
    e->keys_n = 0;
    e->key_zero = false;
}

int logblock_enc_finish(struct logblock_enc *e, const uint8_t *chunk, size_t len, int64_t mint_ns,
                        int64_t maxt_ns, uint32_t entries, uint64_t line_bytes, struct buf *out)
{
    if (!entries || maxt_ns < mint_ns || len < LOGCHUNK_EMPTY_CHUNK_BYTES)
        return ERR_INVALID;
    if (len > LOGBLOCK_RAW_MAX)
        return ERR_LIMIT;
    uint8_t codec;
    int rc = compress(e, chunk, len, &codec);
    if (rc)
        return rc;
    unsigned log2 = e->filter ? filter_log2(e->tri_n, len) : 0;
    size_t fbytes = log2 ? ((size_t)1 << log2) / 8 : 0;
    uint32_t gbits = e->filter ? gram_bits_for(e->keys_n + e->key_zero, e->gram_bits_per_key) : 0;
    size_t gbytes = gbits ? LOGBLOCK_GRAM_HEAD_BYTES + gbits / 8 : 0;
    const uint8_t *payload = codec == LOGBLOCK_CODEC_ZSTD ? e->z.data : chunk;
    uint32_t plen = codec == LOGBLOCK_CODEC_ZSTD ? (uint32_t)e->z.len : (uint32_t)len;
    size_t start = out->len, fl = fbytes + gbytes;
    if (buf_reserve(out, LOGBLOCK_HEADER_BYTES + fl + plen))
        return ERR_NOMEM;
    uint8_t *h = out->data + start;
    put_header(h, codec, (uint8_t)log2, gbits != 0, mint_ns, maxt_ns, entries, (uint32_t)len,
               line_bytes, plen);
    uint8_t *f = h + LOGBLOCK_HEADER_BYTES;
    tri_put(e, f, log2, fbytes);
    if (gbits)
        gram_put(e, f + fbytes, gbits);
    le32_put(h + 44, crc32c_update(crc32c(h, 44), f, fl));
    memcpy(f + fl, payload, plen);
    out->len = start + LOGBLOCK_HEADER_BYTES + fl + plen;
    enc_forget(e);
    return 0;
}

/* ---- decoding ------------------------------------------------------------------------------- */

/* Checks the fixed header fields: version, codec, flags, filter size. */
static int check_head(const uint8_t *p, size_t n)
{
    if (n < LOGBLOCK_HEADER_BYTES)
        return ERR_TRUNCATED;
    if (le32_get(p) != LOGBLOCK_MAGIC || p[4] == 0)
        return ERR_CORRUPT;
    if (p[4] > LOGBLOCK_VERSION)
        return ERR_UNSUPPORTED;
    uint8_t codec = p[5], log2 = p[6], flags = p[7];
    uint8_t allowed = p[4] >= 2 ? LOGBLOCK_FLAG_GRAMS : 0;
    if (codec > LOGBLOCK_CODEC_ZSTD || (flags & ~allowed) ||
        (log2 && (log2 < LOGBLOCK_FILTER_LOG2_MIN || log2 > LOGBLOCK_FILTER_LOG2_MAX)))
        return ERR_CORRUPT;
    return 0;
}

/* Parses the gram section at g (avail bytes up to the envelope's end) into bi; *len = its size. */
static int parse_grams(const uint8_t *g, size_t avail, struct logblock_info *bi, size_t *len)
{
    if (avail < LOGBLOCK_GRAM_HEAD_BYTES)
        return ERR_TRUNCATED;
    uint32_t bits = le32_get(g + 4);
    if (g[0] < 1 || g[0] > 8 || g[1] < 1 || g[1] > 64 || g[2] < 1 || g[2] > 8 || g[3] != 0 ||
        bits < 64 || bits % 64 || bits > LOGBLOCK_GRAM_BITS_MAX)
        return ERR_CORRUPT;
    if (avail - LOGBLOCK_GRAM_HEAD_BYTES < bits / 8)
        return ERR_TRUNCATED;
    bi->gram_k = g[0];
    bi->gram_w = g[1];
    bi->gram_probes = g[2];
    bi->gram_bits = bits;
    bi->grams = g + LOGBLOCK_GRAM_HEAD_BYTES;
    *len = LOGBLOCK_GRAM_HEAD_BYTES + bits / 8;
    return 0;
}

/* Decodes an envelope of n bytes from its first avail bytes (avail <= n): everything but the
 * payload needs to be within them; payload is NULL unless avail == n. */
static int decode_prefix(const uint8_t *p, size_t avail, size_t n, struct logblock_info *out)
{
    int rc = check_head(p, avail);
    if (rc)
        return rc;
    uint8_t log2 = p[6];
    struct logblock_info bi = {
        .mint_ns = (int64_t)le64_get(p + 8),
        .maxt_ns = (int64_t)le64_get(p + 16),
        .entries = le32_get(p + 24),
        .raw_len = le32_get(p + 28),
        .line_bytes = le64_get(p + 32),
        .payload_len = le32_get(p + 40),
        .codec = p[5],
        .filter_log2 = log2,
    };
    size_t fbytes = log2 ? ((size_t)1 << log2) / 8 : 0, gbytes = 0;
    if (avail - LOGBLOCK_HEADER_BYTES < fbytes)
        return ERR_TRUNCATED;
    if ((p[7] & LOGBLOCK_FLAG_GRAMS) &&
        (rc = parse_grams(p + LOGBLOCK_HEADER_BYTES + fbytes,
                          avail - LOGBLOCK_HEADER_BYTES - fbytes, &bi, &gbytes)) != 0)
        return rc;
    size_t rest = n - LOGBLOCK_HEADER_BYTES - fbytes - gbytes;
    if (rest != (size_t)bi.payload_len)
        return rest < bi.payload_len ? ERR_TRUNCATED : ERR_CORRUPT;
    if (crc32c_update(crc32c(p, 44), p + LOGBLOCK_HEADER_BYTES, fbytes + gbytes) !=
        le32_get(p + 44))
        return ERR_CORRUPT;
    if (!bi.entries || bi.maxt_ns < bi.mint_ns || bi.raw_len < LOGCHUNK_EMPTY_CHUNK_BYTES ||
        bi.raw_len > LOGBLOCK_RAW_MAX || bi.payload_len == 0 ||
        (bi.codec == LOGBLOCK_CODEC_NONE && bi.payload_len != bi.raw_len))
        return ERR_CORRUPT;
    bi.filter = log2 ? p + LOGBLOCK_HEADER_BYTES : NULL;
    bi.payload = avail == n ? p + LOGBLOCK_HEADER_BYTES + fbytes + gbytes : NULL;
    *out = bi;
    return 0;
}

int logblock_decode(const uint8_t *p, size_t n, struct logblock_info *out)
{
    return decode_prefix(p, n, n, out);
}

int logblock_filters_len(const uint8_t *p, size_t avail, size_t *len)
{
    *len = LOGBLOCK_HEADER_BYTES;
    int rc = check_head(p, avail);
    if (rc)
        return rc;
    size_t f = LOGBLOCK_HEADER_BYTES + (p[6] ? ((size_t)1 << p[6]) / 8 : 0);
    *len = f;
    if (!(p[7] & LOGBLOCK_FLAG_GRAMS))
        return 0;
    *len = f + LOGBLOCK_GRAM_HEAD_BYTES;
    if (avail < *len)
        return ERR_TRUNCATED;
    uint32_t bits = le32_get(p + f + 4);
    if (bits < 64 || bits % 64 || bits > LOGBLOCK_GRAM_BITS_MAX)
        return ERR_CORRUPT;
    *len += bits / 8;
    return 0;
}

int logblock_decode_filters(const uint8_t *p, size_t avail, size_t n, struct logblock_info *out)
{
    if (avail > n)
        return ERR_INVALID;
    return decode_prefix(p, avail, n, out);
}

int logblock_peek(const uint8_t *p, size_t n, uint32_t *entries, uint64_t *line_bytes)
{
    if (n < LOGBLOCK_HEADER_BYTES)
        return ERR_TRUNCATED;
    if (le32_get(p) != LOGBLOCK_MAGIC || p[4] == 0)
        return ERR_CORRUPT;
    if (p[4] > LOGBLOCK_VERSION)
        return ERR_UNSUPPORTED;
    *entries = le32_get(p + 24);
    *line_bytes = le64_get(p + 32);
    return 0;
}

bool logblock_may_contain(const struct logblock_info *bi, struct str needle)
{
    const uint8_t *p = (const uint8_t *)needle.ptr;
    for (size_t i = 0; bi->filter && i + 3 <= needle.len; i++) {
        uint32_t bit = tri_bit(tri_code(p + i), bi->filter_log2);
        if (!(bi->filter[bit >> 3] & (1u << (bit & 7))))
            return false;
    }
    if (!bi->grams)
        return true;
    struct gram_probe g = {bi};
    return gram_minimizers(p, needle.len, bi->gram_k, bi->gram_w, gram_present, &g);
}

void logblock_dec_init(struct logblock_dec *d)
{
    memset(d, 0, sizeof *d);
    buf_init(&d->raw);
}

void logblock_dec_deinit(struct logblock_dec *d)
{
    ZSTD_freeDCtx(d->dctx);
    buf_deinit(&d->raw);
    memset(d, 0, sizeof *d);
}

int logblock_dec_chunk(struct logblock_dec *d, const struct logblock_info *bi,
                       const uint8_t **chunk, size_t *len)
{
    if (bi->codec == LOGBLOCK_CODEC_NONE) {
        *chunk = bi->payload;
        *len = bi->payload_len;
        return 0;
    }
    unsigned long long want = ZSTD_getFrameContentSize(bi->payload, bi->payload_len);
    if (want != bi->raw_len ||
        ZSTD_findFrameCompressedSize(bi->payload, bi->payload_len) != bi->payload_len)
        return ERR_CORRUPT;
    if (!d->dctx && !(d->dctx = ZSTD_createDCtx()))
        return ERR_NOMEM;
    buf_reset(&d->raw);
    if (buf_reserve(&d->raw, bi->raw_len))
        return ERR_NOMEM;
    size_t got =
        ZSTD_decompressDCtx(d->dctx, d->raw.data, bi->raw_len, bi->payload, bi->payload_len);
    if (ZSTD_isError(got) || got != bi->raw_len)
        return ZSTD_isError(got) && ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation
                   ? ERR_NOMEM
                   : ERR_CORRUPT;
    d->raw.len = got;
    *chunk = d->raw.data;
    *len = got;
    return 0;
}
