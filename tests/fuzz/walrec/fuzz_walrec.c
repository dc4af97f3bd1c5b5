/* Fuzz target for WAL segments (formats/walrec). The first input byte picks a mode:
 *   0  the rest is a segment, read verbatim (header check, framing, recovery rule);
 *   1  the rest is a run of records without a segment header;
 *   2  like 1, but every record's type, flags and length are forced in range and both CRCs are
 * fixed up first, so the snappy path and the payload decoders see arbitrary bytes; 3  the rest is a
 * list of (type, flags, u16 length, payload) chunks that are framed with walrec_append and must
 * read back exactly. Every record read is handed to its payload decoder; a payload that decodes is
 * re-encoded, the re-encoding must decode to the same items and be no longer than the original
 * (minimal varints). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/crc32c.h"
#include "base/error.h"
#include "formats/walrec.h"

#define LABELS_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

/* Flat copy of a decoded SERIES or LOG_ENTRIES payload, to re-encode it. */
struct items {
    struct walrec_series *series;
    struct walrec_entry *entries;
    struct label *labels;
    size_t n, n_labels;
};

static void items_free(struct items *it)
{
    free(it->series);
    free(it->entries);
    free(it->labels);
    memset(it, 0, sizeof *it);
}

static bool label_sets_equal(const struct label *a, size_t na, const struct label *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_eq(a[i].name, b[i].name) || !str_eq(a[i].value, b[i].value))
            return false;
    return true;
}

/* Decodes a SERIES payload into a flat copy; returns the iterator error. */
static int series_decode(const uint8_t *p, size_t len, struct items *out)
{
    int64_t count = walrec_payload_count(p, len);
    if (count < 0)
        return (int)count;
    out->series = calloc((size_t)count + 1, sizeof *out->series);
    out->labels = calloc(len / 2 + 1, sizeof *out->labels);
    struct label lb[LABELS_MAX];
    struct walrec_series_iter it;
    walrec_series_iter_init(&it, p, len, lb, LABELS_MAX);
    while (walrec_series_iter_next(&it)) {
        const struct walrec_series *s = walrec_series_iter_at(&it);
        CHECK(out->n < (size_t)count && out->n_labels + s->n_labels <= len / 2);
        struct label *dst = out->labels + out->n_labels;
        memcpy(dst, s->labels, s->n_labels * sizeof *dst);
        out->series[out->n++] = (struct walrec_series){s->id, dst, s->n_labels};
        out->n_labels += s->n_labels;
    }
    return walrec_series_iter_err(&it);
}

static void check_series(const uint8_t *p, size_t len)
{
    struct items a = {0}, b = {0};
    if (series_decode(p, len, &a) == 0) {
        struct buf enc = BUF_INIT;
        CHECK(walrec_series_encode(&enc, a.series, a.n) == 0);
        CHECK(enc.len <= len);
        CHECK(series_decode(enc.data, enc.len, &b) == 0 && b.n == a.n);
        for (size_t i = 0; i < a.n; i++)
            CHECK(a.series[i].id == b.series[i].id &&
                  label_sets_equal(a.series[i].labels, a.series[i].n_labels, b.series[i].labels,
                                   b.series[i].n_labels));
        buf_deinit(&enc);
    }
    items_free(&a);
    items_free(&b);
}

static int entries_decode(const uint8_t *p, size_t len, struct items *out)
{
    int64_t count = walrec_payload_count(p, len);
    if (count < 0)
        return (int)count;
    out->entries = calloc((size_t)count + 1, sizeof *out->entries);
    out->labels = calloc(len / 2 + 1, sizeof *out->labels);
    struct label mb[LABELS_MAX];
    struct walrec_entries_iter it;
    walrec_entries_iter_init(&it, p, len, mb, LABELS_MAX);
    while (walrec_entries_iter_next(&it)) {
        const struct walrec_entry *e = walrec_entries_iter_at(&it);
        CHECK(out->n < (size_t)count && out->n_labels + e->n_meta <= len / 2);
        CHECK((const uint8_t *)e->line.ptr >= p && e->line.len <= len);
        struct label *dst = out->labels + out->n_labels;
        memcpy(dst, e->meta, e->n_meta * sizeof *dst);
        out->entries[out->n] = *e;
        out->entries[out->n++].meta = dst;
        out->n_labels += e->n_meta;
    }
    return walrec_entries_iter_err(&it);
}

static void check_entries(const uint8_t *p, size_t len)
{
    struct items a = {0}, b = {0};
    if (entries_decode(p, len, &a) == 0) {
        struct buf enc = BUF_INIT;
        CHECK(walrec_entries_encode(&enc, a.entries, a.n) == 0);
        CHECK(enc.len <= len);
        CHECK(entries_decode(enc.data, enc.len, &b) == 0 && b.n == a.n);
        for (size_t i = 0; i < a.n; i++) {
            const struct walrec_entry *x = &a.entries[i], *y = &b.entries[i];
            CHECK(x->id == y->id && x->ts_ns == y->ts_ns && str_eq(x->line, y->line) &&
                  label_sets_equal(x->meta, x->n_meta, y->meta, y->n_meta));
        }
        buf_deinit(&enc);
    }
    items_free(&a);
    items_free(&b);
}

static int samples_decode(const uint8_t *p, size_t len, struct walrec_sample **out, size_t *n)
{
    int64_t count = walrec_payload_count(p, len);
    *out = NULL;
    *n = 0;
    if (count < 0)
        return (int)count;
    *out = calloc((size_t)count + 1, sizeof **out);
    struct walrec_samples_iter it;
    walrec_samples_iter_init(&it, p, len);
    while (walrec_samples_iter_next(&it)) {
        CHECK(*n < (size_t)count);
        (*out)[(*n)++] = *walrec_samples_iter_at(&it);
    }
    return walrec_samples_iter_err(&it);
}

static void check_samples(const uint8_t *p, size_t len)
{
    struct walrec_sample *a, *b = NULL;
    size_t na, nb;
    if (samples_decode(p, len, &a, &na) == 0) {
        struct buf enc = BUF_INIT;
        CHECK(walrec_samples_encode(&enc, a, na) == 0);
        CHECK(enc.len <= len);
        CHECK(samples_decode(enc.data, enc.len, &b, &nb) == 0 && nb == na);
        for (size_t i = 0; i < na; i++)
            CHECK(a[i].id == b[i].id && a[i].ts_ms == b[i].ts_ms &&
                  a[i].value_bits == b[i].value_bits);
        buf_deinit(&enc);
    }
    free(a);
    free(b);
}

static void check_payload(const struct walrec *rec)
{
    switch (rec->type) {
    case WALREC_SERIES:
    case WALREC_LOG_STREAMS: check_series(rec->payload, rec->len); break;
    case WALREC_SAMPLES: check_samples(rec->payload, rec->len); break;
    case WALREC_LOG_ENTRIES: check_entries(rec->payload, rec->len); break;
    default: break;
    }
}

/* Reads everything; checks offsets are contiguous and the stop is consistent. */
static void read_all(struct walrec_reader *r, size_t len, uint64_t base)
{
    struct walrec rec;
    int rc;
    uint64_t expect = walrec_reader_offset(r);
    while ((rc = walrec_reader_next(r, &rec)) == 1) {
        CHECK(rec.offset == expect && rec.size >= WALREC_HEADER_SIZE);
        CHECK(rec.type >= 1 && rec.type < WALREC_TYPE_END_);
        expect += rec.size;
        check_payload(&rec);
    }
    CHECK(rc == walrec_reader_err(r));
    CHECK(rc == 0 || rc == ERR_TRUNCATED || rc == ERR_CORRUPT || rc == ERR_UNSUPPORTED);
    CHECK(walrec_reader_offset(r) <= base + len);
    CHECK(rc != 0 || walrec_reader_offset(r) == base + len);
    CHECK(walrec_reader_next(r, &rec) == rc);
}

static void fix_crcs(uint8_t *p, size_t n)
{
    size_t pos = 0;
    while (n - pos >= WALREC_HEADER_SIZE) {
        uint8_t *h = p + pos;
        uint32_t len = le32_get(h) % (uint32_t)(n - pos - WALREC_HEADER_SIZE + 1);
        le32_put(h, len);
        h[4] = (uint8_t)(1 + h[4] % (WALREC_TYPE_END_ - 1));
        h[5] &= WALREC_F_SNAPPY;
        h[6] = h[7] = 0;
        le32_put(h + 8, crc32c(h + WALREC_HEADER_SIZE, len));
        le32_put(h + 12, crc32c(h, 12));
        pos += WALREC_HEADER_SIZE + len;
    }
}

static void build_and_compare(const uint8_t *p, size_t n)
{
    struct buf seg = BUF_INIT;
    const uint8_t *payload[256];
    size_t plen[256];
    uint8_t types[256];
    size_t count = 0;
    CHECK(walrec_segment_header_append(&seg) == 0);
    while (n >= 4 && count < 256) {
        uint8_t type = (uint8_t)(1 + p[0] % (WALREC_TYPE_END_ - 1));
        uint32_t flags = p[1] & WALREC_COMPRESS;
        bool zero_copy = p[1] & 2;
        size_t len = le16_get(p + 2);
        p += 4;
        n -= 4;
        if (len > n)
            len = n;
        if (zero_copy) {
            size_t mark;
            CHECK(walrec_begin(&seg, &mark) == 0);
            CHECK(buf_append(&seg, p, len) == 0);
            CHECK(walrec_end(&seg, mark, (enum walrec_type)type, flags) == 0);
        } else {
            CHECK(walrec_append(&seg, (enum walrec_type)type, p, len, flags) == 0);
        }
        payload[count] = p;
        plen[count] = len;
        types[count++] = type;
        p += len;
        n -= len;
    }
    struct walrec_reader r;
    struct walrec rec;
    walrec_reader_init(&r, seg.data, seg.len);
    for (size_t i = 0; i < count; i++) {
        CHECK(walrec_reader_next(&r, &rec) == 1);
        CHECK(rec.type == types[i] && rec.len == plen[i]);
        CHECK(plen[i] == 0 || memcmp(rec.payload, payload[i], plen[i]) == 0);
        check_payload(&rec);
    }
    CHECK(walrec_reader_next(&r, &rec) == 0);
    walrec_reader_deinit(&r);
    buf_deinit(&seg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0] & 3;
    data++;
    size--;
    struct walrec_reader r;
    if (mode == 0) {
        walrec_reader_init(&r, data, size);
        read_all(&r, size, 0);
        walrec_reader_deinit(&r);
    } else if (mode == 1) {
        walrec_reader_init_records(&r, data, size, 4096);
        read_all(&r, size, 4096);
        walrec_reader_deinit(&r);
    } else if (mode == 2) {
        uint8_t *copy = malloc(size ? size : 1);
        memcpy(copy, data, size);
        fix_crcs(copy, size);
        walrec_reader_init_records(&r, copy, size, 0);
        read_all(&r, size, 0);
        walrec_reader_deinit(&r);
        free(copy);
    } else {
        build_and_compare(data, size);
    }
    return 0;
}
