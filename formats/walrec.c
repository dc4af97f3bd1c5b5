/* WAL record framing, segment reader with the torn-tail/corruption recovery rule, and the payload
 * codecs. Byte layout: docs/formats/wal.md. */
#include "formats/walrec.h"

#include <snappy-c.h>
#include <string.h>

#include "base/assert.h"
#include "base/crc32c.h"
#include "base/error.h"

STATIC_ASSERT(sizeof(WALREC_SEGMENT_MAGIC) - 1 == 4, "segment magic is 4 bytes");

/* Record header field offsets. */
enum { H_LEN = 0, H_TYPE = 4, H_FLAGS = 5, H_RESERVED = 6, H_PCRC = 8, H_HCRC = 12 };

/* Compression must save at least 1/COMPRESS_GAIN_DIV of the payload to be kept; tiny payloads are
 * never worth the decompression call. */
#define COMPRESS_MIN_LEN  64
#define COMPRESS_GAIN_DIV 8

static const char *const type_names[WALREC_TYPE_END_] = {
    [WALREC_SERIES] = "series",           [WALREC_SAMPLES] = "samples",
    [WALREC_HISTOGRAMS] = "histograms",   [WALREC_EXEMPLARS] = "exemplars",
    [WALREC_METADATA] = "metadata",       [WALREC_LOG_STREAMS] = "log_streams",
    [WALREC_LOG_ENTRIES] = "log_entries", [WALREC_TOMBSTONES] = "tombstones",
    [WALREC_CHECKPOINT] = "checkpoint",
};

const char *walrec_type_name(unsigned type)
{
    if (type == 0 || type >= WALREC_TYPE_END_)
        return "unknown";
    return type_names[type];
}

int walrec_segment_header_append(struct buf *b)
{
    uint8_t h[WALREC_SEGMENT_HEADER_SIZE] = {0};
    memcpy(h, WALREC_SEGMENT_MAGIC, 4);
    h[4] = WALREC_SEGMENT_VERSION;
    return buf_append(b, h, sizeof h);
}

/* ---- framing ---- */

static void header_put(uint8_t *h, unsigned type, unsigned sflags, const uint8_t *payload,
                       size_t len)
{
    le32_put(h + H_LEN, (uint32_t)len);
    h[H_TYPE] = (uint8_t)type;
    h[H_FLAGS] = (uint8_t)sflags;
    h[H_RESERVED] = 0;
    h[H_RESERVED + 1] = 0;
    le32_put(h + H_PCRC, crc32c(payload, len));
    le32_put(h + H_HCRC, crc32c(h, H_HCRC));
}

/* Snappy-compresses src into dst (room for snappy_max_compressed_length(len)); returns the
 * compressed length when it pays, else 0. */
static size_t compress_if_it_pays(const uint8_t *src, size_t len, uint8_t *dst)
{
    if (len < COMPRESS_MIN_LEN)
        return 0;
    size_t clen = snappy_max_compressed_length(len);
    if (snappy_compress((const char *)src, len, (char *)dst, &clen) != SNAPPY_OK)
        return 0;
    return clen <= len - len / COMPRESS_GAIN_DIV ? clen : 0;
}

static void check_type(enum walrec_type type, uint32_t flags)
{
    ASSERT(type >= 1 && type < WALREC_TYPE_END_);
    ASSERT((flags & ~WALREC_COMPRESS) == 0);
}

int walrec_append(struct buf *b, enum walrec_type type, const void *payload, size_t len,
                  uint32_t flags)
{
    check_type(type, flags);
    if (len > WALREC_PAYLOAD_MAX)
        return ERR_LIMIT;
    const uint8_t *src = payload;
    bool try_snappy = (flags & WALREC_COMPRESS) && len >= COMPRESS_MIN_LEN;
    size_t room = try_snappy ? snappy_max_compressed_length(len) : len;
    int rc = buf_reserve(b, WALREC_HEADER_SIZE + room);
    if (rc)
        return rc;
    uint8_t *h = b->data + b->len;
    uint8_t *body = h + WALREC_HEADER_SIZE;
    size_t clen = try_snappy ? compress_if_it_pays(src, len, body) : 0;
    if (clen) {
        header_put(h, type, WALREC_F_SNAPPY, body, clen);
        b->len += WALREC_HEADER_SIZE + clen;
        return 0;
    }
    if (len)
        memcpy(body, src, len);
    header_put(h, type, 0, body, len);
    b->len += WALREC_HEADER_SIZE + len;
    return 0;
}

int walrec_begin(struct buf *b, size_t *mark)
{
    int rc = buf_reserve(b, WALREC_HEADER_SIZE);
    if (rc)
        return rc;
    *mark = b->len;
    memset(b->data + b->len, 0, WALREC_HEADER_SIZE);
    b->len += WALREC_HEADER_SIZE;
    return 0;
}

int walrec_end(struct buf *b, size_t mark, enum walrec_type type, uint32_t flags)
{
    check_type(type, flags);
    ASSERT(mark + WALREC_HEADER_SIZE <= b->len);
    size_t len = b->len - mark - WALREC_HEADER_SIZE;
    if (len > WALREC_PAYLOAD_MAX) {
        b->len = mark;
        return ERR_LIMIT;
    }
    if ((flags & WALREC_COMPRESS) && len >= COMPRESS_MIN_LEN) {
        /* compress into the free space past the payload, then slide it over the raw payload */
        int rc = buf_reserve(b, snappy_max_compressed_length(len));
        if (rc) {
            b->len = mark;
            return rc;
        }
        uint8_t *body = b->data + mark + WALREC_HEADER_SIZE;
        size_t clen = compress_if_it_pays(body, len, b->data + b->len);
        if (clen) {
            memmove(body, b->data + b->len, clen);
            header_put(b->data + mark, type, WALREC_F_SNAPPY, body, clen);
            b->len = mark + WALREC_HEADER_SIZE + clen;
            return 0;
        }
    }
    header_put(b->data + mark, type, 0, b->data + mark + WALREC_HEADER_SIZE, len);
    return 0;
}

/* ---- reader ---- */

struct hdr {
    uint32_t len;
    uint8_t type, flags;
};

/* Parses a header at p (WALREC_HEADER_SIZE bytes). Returns 0 when its CRC matches, else
 * ERR_CORRUPT. */
static int header_get(const uint8_t *p, struct hdr *h)
{
    if (crc32c(p, H_HCRC) != le32_get(p + H_HCRC))
        return ERR_CORRUPT;
    h->len = le32_get(p + H_LEN);
    h->type = p[H_TYPE];
    h->flags = p[H_FLAGS];
    return 0;
}

/* A header whose CRC matched but whose fields we cannot accept was written that way: corrupt, not
 * torn. */
static bool header_sane(const uint8_t *p)
{
    return p[H_TYPE] >= 1 && p[H_TYPE] < WALREC_TYPE_END_ && (p[H_FLAGS] & ~WALREC_F_SNAPPY) == 0 &&
           p[H_RESERVED] == 0 && p[H_RESERVED + 1] == 0 &&
           le32_get(p + H_LEN) <= WALREC_PAYLOAD_MAX;
}

/* Whether a complete, checksum-valid record starts at p. Cheap field checks run before the CRCs. */
static bool valid_record_at(const uint8_t *p, size_t left)
{
    struct hdr h;
    if (left < WALREC_HEADER_SIZE || !header_sane(p) || header_get(p, &h) != 0)
        return false;
    if (h.len > left - WALREC_HEADER_SIZE)
        return false;
    return crc32c(p + WALREC_HEADER_SIZE, h.len) == le32_get(p + H_PCRC);
}

/* The recovery rule for a record that failed a checksum: when a valid record starts anywhere in
 * [from, len) the damage is followed by good data (ERR_CORRUPT); otherwise the bad bytes are the
 * last thing written, a torn tail (ERR_TRUNCATED). */
static int classify(const struct walrec_reader *r, size_t from)
{
    for (size_t i = from; i + WALREC_HEADER_SIZE <= r->len; i++)
        if (valid_record_at(r->data + i, r->len - i))
            return ERR_CORRUPT;
    return ERR_TRUNCATED;
}

static int stop(struct walrec_reader *r, int err)
{
    r->err = err;
    return err;
}

static int check_segment_header(const uint8_t *p, size_t len)
{
    uint8_t want[WALREC_SEGMENT_HEADER_SIZE] = {0};
    memcpy(want, WALREC_SEGMENT_MAGIC, 4);
    want[4] = WALREC_SEGMENT_VERSION;
    size_t n = len < sizeof want ? len : sizeof want;
    bool all_zero = true;
    for (size_t i = 0; i < len && all_zero; i++)
        all_zero = p[i] == 0;
    if (all_zero) /* empty or preallocated file whose header never reached the disk */
        return ERR_TRUNCATED;
    if (memcmp(p, want, n < 4 ? n : 4) != 0)
        return ERR_CORRUPT;
    if (n > 4 && p[4] != WALREC_SEGMENT_VERSION)
        return p[4] > WALREC_SEGMENT_VERSION ? ERR_UNSUPPORTED : ERR_CORRUPT;
    if (memcmp(p, want, n) != 0)
        return ERR_CORRUPT;
    return n < sizeof want ? ERR_TRUNCATED : 0;
}

void walrec_reader_init_records(struct walrec_reader *r, const void *data, size_t len,
                                uint64_t base_offset)
{
    r->data = data;
    r->len = len;
    r->pos = 0;
    r->base_offset = base_offset;
    r->err = 1;
    buf_init(&r->scratch);
}

void walrec_reader_init(struct walrec_reader *r, const void *seg, size_t len)
{
    walrec_reader_init_records(r, seg, len, 0);
    int rc = check_segment_header(seg, len);
    if (rc) {
        r->err = rc;
        return;
    }
    r->pos = WALREC_SEGMENT_HEADER_SIZE;
}

void walrec_reader_deinit(struct walrec_reader *r)
{
    buf_deinit(&r->scratch);
}

int walrec_reader_err(const struct walrec_reader *r)
{
    return r->err == 1 ? 0 : r->err;
}

uint64_t walrec_reader_offset(const struct walrec_reader *r)
{
    return r->base_offset + r->pos;
}

/* Decompresses a snappy payload into the scratch buffer. */
static int inflate(struct walrec_reader *r, const uint8_t *p, size_t n, struct walrec *out)
{
    size_t ulen;
    if (snappy_uncompressed_length((const char *)p, n, &ulen) != SNAPPY_OK ||
        ulen > WALREC_PAYLOAD_MAX)
        return ERR_CORRUPT;
    buf_reset(&r->scratch);
    int rc = buf_reserve(&r->scratch, ulen ? ulen : 1);
    if (rc)
        return rc;
    size_t got = ulen;
    if (snappy_uncompress((const char *)p, n, (char *)r->scratch.data, &got) != SNAPPY_OK ||
        got != ulen)
        return ERR_CORRUPT;
    out->payload = r->scratch.data;
    out->len = ulen;
    return 0;
}

int walrec_reader_next(struct walrec_reader *r, struct walrec *out)
{
    if (r->err != 1)
        return r->err;
    size_t left = r->len - r->pos;
    const uint8_t *p = r->data + r->pos;
    if (left == 0)
        return stop(r, 0);
    if (left < WALREC_HEADER_SIZE)
        return stop(r, ERR_TRUNCATED);
    struct hdr h;
    if (header_get(p, &h) != 0)
        return stop(r, classify(r, r->pos + 1));
    if (!header_sane(p))
        return stop(r, ERR_CORRUPT);
    if (h.len > left - WALREC_HEADER_SIZE)
        return stop(r, ERR_TRUNCATED);
    const uint8_t *body = p + WALREC_HEADER_SIZE;
    if (crc32c(body, h.len) != le32_get(p + H_PCRC))
        return stop(r, classify(r, r->pos + WALREC_HEADER_SIZE + h.len));
    out->type = (enum walrec_type)h.type;
    out->flags = h.flags;
    out->offset = walrec_reader_offset(r);
    out->size = WALREC_HEADER_SIZE + h.len;
    out->payload = body;
    out->len = h.len;
    if (h.flags & WALREC_F_SNAPPY) {
        int rc = inflate(r, body, h.len, out);
        if (rc)
            return stop(r, rc);
    }
    r->pos += out->size;
    return 1;
}

/* ---- payload codecs ---- */

/* Fewest bytes one item can take, which bounds a payload's claimed count. */
#define SERIES_ITEM_MIN 2  /* id delta, label count */
#define SAMPLE_ITEM_MIN 10 /* id delta, ts delta, 8 value bytes */
#define ENTRY_ITEM_MIN  4  /* id delta, ts delta, line length, metadata count */

int64_t walrec_payload_count(const void *payload, size_t len)
{
    struct rd r = rd_make(payload, len);
    uint64_t n;
    if (rd_uvarint(&r, &n) != 0 || n > rd_left(&r))
        return ERR_CORRUPT;
    return (int64_t)n;
}

static int put_str(struct buf *b, struct str s)
{
    int rc = buf_append_uvarint(b, s.len);
    return rc ? rc : buf_append(b, s.ptr, s.len);
}

static int put_labels(struct buf *b, const struct label *l, size_t n)
{
    int rc = buf_append_uvarint(b, n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = put_str(b, l[i].name);
        if (rc == 0)
            rc = put_str(b, l[i].value);
    }
    return rc;
}

/* Deltas are taken in wrapping 64-bit arithmetic so every int64 pair round-trips. */
static int64_t delta(int64_t cur, int64_t prev)
{
    return (int64_t)((uint64_t)cur - (uint64_t)prev);
}

static int64_t undelta(int64_t prev, int64_t d)
{
    return (int64_t)((uint64_t)prev + (uint64_t)d);
}

/* Restores b on failure so encoders leave it unchanged. */
static int enc_done(struct buf *b, size_t start, int rc)
{
    if (rc)
        b->len = start;
    return rc;
}

int walrec_series_encode(struct buf *b, const struct walrec_series *items, size_t n)
{
    size_t start = b->len;
    int rc = buf_append_uvarint(b, n);
    uint32_t prev = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = buf_append_svarint(b, (int64_t)items[i].id - (int64_t)prev);
        prev = items[i].id;
        if (rc == 0)
            rc = put_labels(b, items[i].labels, items[i].n_labels);
    }
    return enc_done(b, start, rc);
}

int walrec_samples_encode(struct buf *b, const struct walrec_sample *items, size_t n)
{
    size_t start = b->len;
    int rc = buf_reserve(b, VARINT_MAX_LEN + n * (2 * VARINT_MAX_LEN + 8));
    if (rc)
        return rc;
    b->len += varint_put(b->data + b->len, n);
    uint32_t prev_id = 0;
    int64_t prev_ts = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t *o = b->data + b->len;
        o += svarint_put(o, (int64_t)items[i].id - (int64_t)prev_id);
        o += svarint_put(o, delta(items[i].ts_ms, prev_ts));
        le64_put(o, items[i].value_bits);
        b->len = (size_t)(o + 8 - b->data);
        prev_id = items[i].id;
        prev_ts = items[i].ts_ms;
    }
    return enc_done(b, start, 0);
}

int walrec_entries_encode(struct buf *b, const struct walrec_entry *items, size_t n)
{
    size_t start = b->len;
    int rc = buf_append_uvarint(b, n);
    uint32_t prev_id = 0;
    int64_t prev_ts = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct walrec_entry *e = &items[i];
        rc = buf_append_svarint(b, (int64_t)e->id - (int64_t)prev_id);
        if (rc == 0)
            rc = buf_append_svarint(b, delta(e->ts_ns, prev_ts));
        if (rc == 0)
            rc = put_str(b, e->line);
        if (rc == 0)
            rc = put_labels(b, e->meta, e->n_meta);
        prev_id = e->id;
        prev_ts = e->ts_ns;
    }
    return enc_done(b, start, rc);
}

/* Reads the count prefix; a count that cannot fit in the payload is corrupt. */
static int read_count(struct rd *r, size_t item_min, uint64_t *left)
{
    uint64_t n;
    if (rd_uvarint(r, &n) != 0 || n > rd_left(r) / item_min) {
        *left = 0;
        return ERR_CORRUPT;
    }
    *left = n;
    return 0;
}

/* The payload length is framed, so running out of bytes inside it is corruption, not truncation. */
static int as_corrupt(int rc)
{
    return rc == ERR_TRUNCATED ? ERR_CORRUPT : rc;
}

static int get_id(struct rd *r, uint32_t *prev)
{
    int64_t d;
    if (rd_svarint(r, &d) != 0)
        return ERR_CORRUPT;
    if (d < -(int64_t)*prev || d > (int64_t)(UINT32_MAX - *prev))
        return ERR_CORRUPT;
    *prev = (uint32_t)((int64_t)*prev + d);
    return 0;
}

static int get_str(struct rd *r, struct str *s)
{
    uint64_t n;
    const uint8_t *p;
    if (rd_uvarint(r, &n) != 0 || n > rd_left(r) || rd_take(r, (size_t)n, &p) != 0)
        return ERR_CORRUPT;
    s->ptr = (const char *)p;
    s->len = (size_t)n;
    return 0;
}

static int get_labels(struct rd *r, struct label *buf, size_t cap, size_t *n_out)
{
    uint64_t n;
    if (rd_uvarint(r, &n) != 0 || n > rd_left(r) / 2)
        return ERR_CORRUPT;
    if (n > cap)
        return ERR_LIMIT;
    for (size_t i = 0; i < n; i++)
        if (get_str(r, &buf[i].name) != 0 || get_str(r, &buf[i].value) != 0)
            return ERR_CORRUPT;
    *n_out = (size_t)n;
    return 0;
}

/* Common end-of-iteration check: every claimed item read and nothing left over. */
static bool iter_end(struct rd *r, uint64_t left, int *err)
{
    if (*err)
        return true;
    if (left == 0) {
        if (!rd_empty(r))
            *err = ERR_CORRUPT;
        return true;
    }
    return false;
}

void walrec_series_iter_init(struct walrec_series_iter *it, const void *payload, size_t len,
                             struct label *labels_buf, size_t labels_cap)
{
    memset(it, 0, sizeof *it);
    it->r = rd_make(payload, len);
    it->labels_buf = labels_buf;
    it->labels_cap = labels_cap;
    it->err = read_count(&it->r, SERIES_ITEM_MIN, &it->left);
}

bool walrec_series_iter_next(struct walrec_series_iter *it)
{
    if (iter_end(&it->r, it->left, &it->err))
        return false;
    int rc = get_id(&it->r, &it->prev_id);
    if (rc == 0)
        rc = get_labels(&it->r, it->labels_buf, it->labels_cap, &it->cur.n_labels);
    if (rc) {
        it->err = as_corrupt(rc);
        return false;
    }
    it->cur.id = it->prev_id;
    it->cur.labels = it->labels_buf;
    it->left--;
    return true;
}

void walrec_samples_iter_init(struct walrec_samples_iter *it, const void *payload, size_t len)
{
    memset(it, 0, sizeof *it);
    it->r = rd_make(payload, len);
    it->err = read_count(&it->r, SAMPLE_ITEM_MIN, &it->left);
}

bool walrec_samples_iter_next(struct walrec_samples_iter *it)
{
    if (iter_end(&it->r, it->left, &it->err))
        return false;
    int64_t dts;
    int rc = get_id(&it->r, &it->cur.id);
    if (rc == 0)
        rc = rd_svarint(&it->r, &dts);
    if (rc == 0)
        rc = rd_le64(&it->r, &it->cur.value_bits);
    if (rc) {
        it->err = as_corrupt(rc);
        return false;
    }
    it->cur.ts_ms = undelta(it->cur.ts_ms, dts);
    it->left--;
    return true;
}

void walrec_entries_iter_init(struct walrec_entries_iter *it, const void *payload, size_t len,
                              struct label *meta_buf, size_t meta_cap)
{
    memset(it, 0, sizeof *it);
    it->r = rd_make(payload, len);
    it->meta_buf = meta_buf;
    it->meta_cap = meta_cap;
    it->err = read_count(&it->r, ENTRY_ITEM_MIN, &it->left);
}

bool walrec_entries_iter_next(struct walrec_entries_iter *it)
{
    if (iter_end(&it->r, it->left, &it->err))
        return false;
    int64_t dts;
    int rc = get_id(&it->r, &it->cur.id);
    if (rc == 0)
        rc = as_corrupt(rd_svarint(&it->r, &dts));
    if (rc == 0)
        rc = get_str(&it->r, &it->cur.line);
    if (rc == 0)
        rc = get_labels(&it->r, it->meta_buf, it->meta_cap, &it->cur.n_meta);
    if (rc) {
        it->err = as_corrupt(rc);
        return false;
    }
    it->cur.ts_ns = undelta(it->cur.ts_ns, dts);
    it->cur.meta = it->meta_buf;
    it->left--;
    return true;
}

/* ---- HISTOGRAMS ---- */

#define HIST_ITEM_MIN 2 /* id delta, chunk length (the chunk itself is longer) */

int walrec_hists_encode(struct buf *b, const struct walrec_hist *items, size_t n)
{
    size_t start = b->len;
    struct histchunk_enc e;
    histchunk_enc_init(&e, false);
    int rc = buf_append_uvarint(b, n);
    uint32_t prev = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        histchunk_enc_reset(&e, items[i].is_float);
        rc = histchunk_enc_append(&e, items[i].ts_ms, items[i].h);
        size_t len;
        const uint8_t *c = histchunk_enc_bytes(&e, &len);
        if (rc == 0)
            rc = buf_append_svarint(b, (int64_t)items[i].id - (int64_t)prev);
        if (rc == 0)
            rc = buf_append_uvarint(b, len);
        if (rc == 0)
            rc = buf_append(b, c, len);
        prev = items[i].id;
    }
    histchunk_enc_deinit(&e);
    return enc_done(b, start, rc);
}

void walrec_hists_iter_init(struct walrec_hists_iter *it, const void *payload, size_t len)
{
    memset(it, 0, sizeof *it);
    it->r = rd_make(payload, len);
    it->err = read_count(&it->r, HIST_ITEM_MIN, &it->left);
}

void walrec_hists_iter_deinit(struct walrec_hists_iter *it)
{
    histchunk_iter_deinit(&it->hit);
}

/* Decodes the one-sample chunk of an item into it->hit. */
static int hist_item(struct walrec_hists_iter *it, const uint8_t *c, size_t len)
{
    if (histchunk_count(c, len) != 1)
        return ERR_CORRUPT;
    /* keep the decode arrays across items */
    struct histchunk_iter keep = it->hit;
    histchunk_iter_init(&it->hit, c, len);
    it->hit.spans = keep.spans;
    it->hit.buckets = keep.buckets;
    it->hit.custom = keep.custom;
    it->hit.spans_cap = keep.spans_cap;
    it->hit.buckets_cap = keep.buckets_cap;
    it->hit.custom_cap = keep.custom_cap;
    int rc = histchunk_iter_next(&it->hit);
    if (rc != 1)
        return rc == ERR_NOMEM ? rc : ERR_CORRUPT;
    if (histchunk_iter_next(&it->hit) != 0)
        return ERR_CORRUPT;
    it->cur.ts_ms = histchunk_iter_t(&it->hit);
    it->cur.is_float = it->hit.is_float;
    it->cur.h = histchunk_iter_at(&it->hit);
    return 0;
}

bool walrec_hists_iter_next(struct walrec_hists_iter *it)
{
    if (iter_end(&it->r, it->left, &it->err))
        return false;
    uint64_t len = 0;
    const uint8_t *c = NULL;
    int rc = get_id(&it->r, &it->prev_id);
    if (rc == 0)
        rc = rd_uvarint(&it->r, &len);
    if (rc == 0)
        rc = len > rd_left(&it->r) ? ERR_CORRUPT : rd_take(&it->r, (size_t)len, &c);
    if (rc == 0)
        rc = hist_item(it, c, (size_t)len);
    if (rc) {
        it->err = as_corrupt(rc);
        return false;
    }
    it->cur.id = it->prev_id;
    it->left--;
    return true;
}

/* ---- EXEMPLARS ---- */

#define EXEMPLAR_ITEM_MIN 11 /* id delta, ts delta, 8 value bytes, label count */

int walrec_exemplars_encode(struct buf *b, const struct walrec_exemplar *items, size_t n)
{
    size_t start = b->len;
    int rc = buf_append_uvarint(b, n);
    uint32_t prev_id = 0;
    int64_t prev_ts = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = buf_append_svarint(b, (int64_t)items[i].id - (int64_t)prev_id);
        if (rc == 0)
            rc = buf_append_svarint(b, delta(items[i].ts_ms, prev_ts));
        if (rc == 0)
            rc = buf_append_le64(b, items[i].value_bits);
        if (rc == 0)
            rc = put_labels(b, items[i].labels, items[i].n_labels);
        prev_id = items[i].id;
        prev_ts = items[i].ts_ms;
    }
    return enc_done(b, start, rc);
}

void walrec_exemplars_iter_init(struct walrec_exemplars_iter *it, const void *payload, size_t len,
                                struct label *labels_buf, size_t labels_cap)
{
    memset(it, 0, sizeof *it);
    it->r = rd_make(payload, len);
    it->labels_buf = labels_buf;
    it->labels_cap = labels_cap;
    it->err = read_count(&it->r, EXEMPLAR_ITEM_MIN, &it->left);
}

bool walrec_exemplars_iter_next(struct walrec_exemplars_iter *it)
{
    if (iter_end(&it->r, it->left, &it->err))
        return false;
    int64_t dts;
    int rc = get_id(&it->r, &it->prev_id);
    if (rc == 0)
        rc = as_corrupt(rd_svarint(&it->r, &dts));
    if (rc == 0)
        rc = rd_le64(&it->r, &it->cur.value_bits);
    if (rc == 0)
        rc = get_labels(&it->r, it->labels_buf, it->labels_cap, &it->cur.n_labels);
    if (rc) {
        it->err = as_corrupt(rc);
        return false;
    }
    it->cur.id = it->prev_id;
    it->cur.ts_ms = undelta(it->cur.ts_ms, dts);
    it->cur.labels = it->labels_buf;
    it->left--;
    return true;
}
