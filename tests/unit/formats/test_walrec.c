/* WAL records: golden bytes, payload codec round trips and error paths, random segments, every
 * truncation point, every bit flip, torn-tail vs corruption classification, compressed/raw mixes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/crc32c.h"
#include "base/error.h"
#include "formats/walrec.h"
#include "tests/unit/prop.h"

#define L(n, v)                                                                                    \
    {                                                                                              \
        STR_LIT(n), STR_LIT(v)                                                                     \
    }

/* A record as the tests expect to read it back. */
struct want {
    enum walrec_type type;
    uint8_t *payload;
    size_t len;
    size_t end; /* segment offset just past the record */
};

struct seg {
    struct buf b;
    struct want w[256];
    size_t n;
};

static void seg_add(struct seg *s, enum walrec_type type, const void *p, size_t len, uint32_t flags)
{
    assert_true(s->n < 256);
    assert_int_equal(walrec_append(&s->b, type, p, len, flags), 0);
    s->w[s->n].type = type;
    s->w[s->n].payload = malloc(len ? len : 1);
    if (len)
        memcpy(s->w[s->n].payload, p, len);
    s->w[s->n].len = len;
    s->w[s->n].end = s->b.len;
    s->n++;
}

/* Where reading stops when the first k records are good. */
static uint64_t end_of(const struct seg *s, size_t k)
{
    return k ? s->w[k - 1].end : WALREC_SEGMENT_HEADER_SIZE;
}

static void seg_free(struct seg *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->w[i].payload);
    buf_deinit(&s->b);
}

/* Reads data and checks the records match want[0..n_ok) exactly and that reading stopped at
 * want_off. Returns the stop reason. */
static int read_expect(const uint8_t *data, size_t len, const struct want *w, size_t n_ok,
                       uint64_t want_off)
{
    struct walrec_reader r;
    walrec_reader_init(&r, data, len);
    struct walrec rec;
    size_t i = 0;
    int rc;
    while ((rc = walrec_reader_next(&r, &rec)) == 1) {
        assert_true(i < n_ok);
        assert_int_equal(rec.type, w[i].type);
        assert_int_equal(rec.len, w[i].len);
        if (rec.len)
            assert_memory_equal(rec.payload, w[i].payload, rec.len);
        assert_int_equal(rec.offset + rec.size, w[i].end);
        i++;
    }
    assert_int_equal(i, n_ok);
    assert_int_equal(rc, walrec_reader_err(&r));
    assert_int_equal(walrec_reader_offset(&r), want_off);
    assert_int_equal(walrec_reader_next(&r, &rec), rc); /* sticky */
    walrec_reader_deinit(&r);
    return rc;
}

/* ---- golden bytes ---- */

static const uint8_t golden_samples_payload[] = {
    0x02, 0x0a, 0xd0, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0,
    0x3f, 0x04, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f,
};
/* Frame computed independently (bitwise CRC-32C in a script) for the payload above. */
static const uint8_t golden_samples_record[] = {
    0x16, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x3d, 0x7f, 0xd5, 0xb7, 0xa5,
    0x4c, 0xb3, 0x73, 0x02, 0x0a, 0xd0, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xf0, 0x3f, 0x04, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f,
};
static const uint8_t golden_checkpoint_record[] = {
    0x00, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, 0xcc, 0x67, 0x20,
};

static void test_golden_frames(void **state)
{
    struct buf b = BUF_INIT;
    assert_int_equal(walrec_segment_header_append(&b), 0);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "SWAL\x01\x00\x00\x00", 8);
    buf_reset(&b);
    assert_int_equal(walrec_append(&b, WALREC_SAMPLES, golden_samples_payload,
                                   sizeof golden_samples_payload, WALREC_COMPRESS),
                     0); /* too small to compress */
    assert_int_equal(b.len, sizeof golden_samples_record);
    assert_memory_equal(b.data, golden_samples_record, b.len);
    buf_reset(&b);
    assert_int_equal(walrec_append(&b, WALREC_CHECKPOINT, NULL, 0, 0), 0);
    assert_memory_equal(b.data, golden_checkpoint_record, b.len);
    buf_deinit(&b);
}

static void test_golden_payloads(void **state)
{
    struct buf b = BUF_INIT;
    struct walrec_sample s[] = {{5, 1000, 0x3ff0000000000000ull}, {7, 1000, 0x7ff0000000000002ull}};
    assert_int_equal(walrec_samples_encode(&b, s, 2), 0);
    assert_int_equal(b.len, sizeof golden_samples_payload);
    assert_memory_equal(b.data, golden_samples_payload, b.len);

    buf_reset(&b);
    struct label ls[] = {L("__name__", "up"), L("job", "a")};
    struct walrec_series ser = {3, ls, 2};
    assert_int_equal(walrec_series_encode(&b, &ser, 1), 0);
    static const uint8_t want_series[] = {0x01, 0x06, 0x02, 0x08, '_', '_',  'n',
                                          'a',  'm',  'e',  '_',  '_', 0x02, 'u',
                                          'p',  0x03, 'j',  'o',  'b', 0x01, 'a'};
    assert_int_equal(b.len, sizeof want_series);
    assert_memory_equal(b.data, want_series, b.len);

    buf_reset(&b);
    struct label meta[] = {L("k", "v")};
    struct walrec_entry e = {1, 5, STR_LIT("hi"), meta, 1};
    assert_int_equal(walrec_entries_encode(&b, &e, 1), 0);
    static const uint8_t want_entries[] = {0x01, 0x02, 0x0a, 0x02, 'h', 'i',
                                           0x01, 0x01, 'k',  0x01, 'v'};
    assert_int_equal(b.len, sizeof want_entries);
    assert_memory_equal(b.data, want_entries, b.len);
    assert_int_equal(walrec_payload_count(b.data, b.len), 1);
    buf_deinit(&b);
}

static void test_golden_read(void **state)
{
    struct buf b = BUF_INIT;
    walrec_segment_header_append(&b);
    buf_append(&b, golden_samples_record, sizeof golden_samples_record);
    buf_append(&b, golden_checkpoint_record, sizeof golden_checkpoint_record);
    struct walrec_reader r;
    struct walrec rec;
    walrec_reader_init(&r, b.data, b.len);
    assert_int_equal(walrec_reader_next(&r, &rec), 1);
    assert_int_equal(rec.type, WALREC_SAMPLES);
    assert_int_equal(rec.offset, 8);
    assert_int_equal(rec.size, sizeof golden_samples_record);
    assert_ptr_equal(rec.payload, b.data + 8 + 16); /* uncompressed: borrowed, no copy */
    struct walrec_samples_iter it;
    walrec_samples_iter_init(&it, rec.payload, rec.len);
    assert_true(walrec_samples_iter_next(&it));
    assert_int_equal(walrec_samples_iter_at(&it)->id, 5);
    assert_true(walrec_samples_iter_next(&it));
    assert_int_equal(walrec_samples_iter_at(&it)->id, 7);
    assert_int_equal(walrec_samples_iter_at(&it)->ts_ms, 1000);
    assert_true(walrec_samples_iter_at(&it)->value_bits == 0x7ff0000000000002ull);
    assert_false(walrec_samples_iter_next(&it));
    assert_int_equal(walrec_samples_iter_err(&it), 0);
    assert_int_equal(walrec_reader_next(&r, &rec), 1);
    assert_int_equal(rec.type, WALREC_CHECKPOINT);
    assert_int_equal(rec.len, 0);
    assert_int_equal(walrec_reader_next(&r, &rec), 0);
    assert_int_equal(walrec_reader_offset(&r), b.len);
    walrec_reader_deinit(&r);
    buf_deinit(&b);
}

/* ---- payload codecs ---- */

static void test_series_roundtrip(void **state)
{
    struct label a[] = {L("__name__", "http_requests_total"), L("code", "200"), L("job", "api")};
    struct label empty_val[] = {L("", ""), L("x", "")};
    struct walrec_series items[] = {
        {10, a, 3}, {11, a, 1}, {UINT32_MAX, empty_val, 2}, {0, NULL, 0}, {7, a + 2, 1},
    };
    size_t n = sizeof items / sizeof items[0];
    struct buf b = BUF_INIT;
    assert_int_equal(walrec_series_encode(&b, items, n), 0);
    assert_int_equal(walrec_payload_count(b.data, b.len), (int64_t)n);
    struct label lb[8];
    struct walrec_series_iter it;
    walrec_series_iter_init(&it, b.data, b.len, lb, 8);
    for (size_t i = 0; i < n; i++) {
        assert_true(walrec_series_iter_next(&it));
        const struct walrec_series *s = walrec_series_iter_at(&it);
        assert_int_equal(s->id, items[i].id);
        assert_int_equal(s->n_labels, items[i].n_labels);
        for (size_t k = 0; k < s->n_labels; k++) {
            assert_true(str_eq(s->labels[k].name, items[i].labels[k].name));
            assert_true(str_eq(s->labels[k].value, items[i].labels[k].value));
            /* zero-copy: strings point into the payload */
            if (s->labels[k].name.len)
                assert_true((const uint8_t *)s->labels[k].name.ptr >= b.data &&
                            (const uint8_t *)s->labels[k].name.ptr < b.data + b.len);
        }
    }
    assert_false(walrec_series_iter_next(&it));
    assert_int_equal(walrec_series_iter_err(&it), 0);

    /* label capacity too small: ERR_LIMIT, not corrupt */
    walrec_series_iter_init(&it, b.data, b.len, lb, 2);
    assert_false(walrec_series_iter_next(&it));
    assert_int_equal(walrec_series_iter_err(&it), ERR_LIMIT);

    /* empty batch */
    buf_reset(&b);
    assert_int_equal(walrec_series_encode(&b, NULL, 0), 0);
    assert_int_equal(b.len, 1);
    walrec_series_iter_init(&it, b.data, b.len, lb, 8);
    assert_false(walrec_series_iter_next(&it));
    assert_int_equal(walrec_series_iter_err(&it), 0);
    buf_deinit(&b);
}

static void test_samples_roundtrip(void **state)
{
    struct walrec_sample items[] = {
        {1, 1700000000000, 0x3ff0000000000000ull},
        {1, 1700000015000, 0x7ff0000000000002ull},
        {UINT32_MAX, INT64_MIN, 0xfff8000000000001ull},
        {0, INT64_MAX, 0},
        {42, -1, UINT64_MAX},
        {41, 0, 0x8000000000000000ull},
    };
    size_t n = sizeof items / sizeof items[0];
    struct buf b = BUF_INIT;
    assert_int_equal(walrec_samples_encode(&b, items, n), 0);
    struct walrec_samples_iter it;
    walrec_samples_iter_init(&it, b.data, b.len);
    for (size_t i = 0; i < n; i++) {
        assert_true(walrec_samples_iter_next(&it));
        assert_int_equal(walrec_samples_iter_at(&it)->id, items[i].id);
        assert_true(walrec_samples_iter_at(&it)->ts_ms == items[i].ts_ms);
        assert_true(walrec_samples_iter_at(&it)->value_bits == items[i].value_bits);
    }
    assert_false(walrec_samples_iter_next(&it));
    assert_int_equal(walrec_samples_iter_err(&it), 0);
    buf_deinit(&b);
}

static void test_entries_roundtrip(void **state)
{
    struct label m1[] = {L("trace_id", "abc123"), L("user", "a b=c")};
    static const char bin[] = {'a', 0, '\n', (char)0xff, 'z'};
    struct walrec_entry items[] = {
        {3, 1700000000123456789, STR_LIT("level=info msg=\"hello\""), m1, 2},
        {3, 1700000000123456789, {bin, sizeof bin}, NULL, 0},
        {1, -5, STR_LIT(""), m1 + 1, 1},
        {UINT32_MAX, INT64_MAX, STR_LIT("x"), NULL, 0},
    };
    size_t n = sizeof items / sizeof items[0];
    struct buf b = BUF_INIT;
    assert_int_equal(walrec_entries_encode(&b, items, n), 0);
    struct label mb[4];
    struct walrec_entries_iter it;
    walrec_entries_iter_init(&it, b.data, b.len, mb, 4);
    for (size_t i = 0; i < n; i++) {
        assert_true(walrec_entries_iter_next(&it));
        const struct walrec_entry *e = walrec_entries_iter_at(&it);
        assert_int_equal(e->id, items[i].id);
        assert_true(e->ts_ns == items[i].ts_ns);
        assert_true(str_eq(e->line, items[i].line));
        assert_int_equal(e->n_meta, items[i].n_meta);
        for (size_t k = 0; k < e->n_meta; k++) {
            assert_true(str_eq(e->meta[k].name, items[i].meta[k].name));
            assert_true(str_eq(e->meta[k].value, items[i].meta[k].value));
        }
    }
    assert_false(walrec_entries_iter_next(&it));
    assert_int_equal(walrec_entries_iter_err(&it), 0);
    walrec_entries_iter_init(&it, b.data, b.len, mb, 1);
    assert_false(walrec_entries_iter_next(&it));
    assert_int_equal(walrec_entries_iter_err(&it), ERR_LIMIT);
    buf_deinit(&b);
}

/* Every strict prefix of a valid payload, trailing bytes, inflated counts and out-of-range ids are
 * corrupt; iteration never reads outside the payload (ASan). */
static void test_payload_errors(void **state)
{
    struct label a[] = {L("a", "1"), L("b", "2")};
    struct walrec_series ser[] = {{5, a, 2}, {9, a, 1}};
    struct walrec_sample smp[] = {{5, 100, 1}, {9, 200, 2}};
    struct walrec_entry ent[] = {{5, 100, STR_LIT("line"), a, 2}, {9, 200, STR_LIT("l2"), a, 1}};
    struct buf p[3] = {BUF_INIT, BUF_INIT, BUF_INIT};
    walrec_series_encode(&p[0], ser, 2);
    walrec_samples_encode(&p[1], smp, 2);
    walrec_entries_encode(&p[2], ent, 2);
    struct label lb[4];
    for (int k = 0; k < 3; k++) {
        for (size_t cut = 0; cut <= p[k].len + 1; cut++) {
            uint8_t *copy = malloc(cut + 1);
            memcpy(copy, p[k].data, cut <= p[k].len ? cut : p[k].len);
            if (cut > p[k].len)
                copy[p[k].len] = 0; /* one trailing byte */
            int err;
            if (k == 0) {
                struct walrec_series_iter it;
                walrec_series_iter_init(&it, copy, cut, lb, 4);
                while (walrec_series_iter_next(&it))
                    ;
                err = walrec_series_iter_err(&it);
            } else if (k == 1) {
                struct walrec_samples_iter it;
                walrec_samples_iter_init(&it, copy, cut);
                while (walrec_samples_iter_next(&it))
                    ;
                err = walrec_samples_iter_err(&it);
            } else {
                struct walrec_entries_iter it;
                walrec_entries_iter_init(&it, copy, cut, lb, 4);
                while (walrec_entries_iter_next(&it))
                    ;
                err = walrec_entries_iter_err(&it);
            }
            assert_int_equal(err, cut == p[k].len ? 0 : ERR_CORRUPT);
            free(copy);
        }
    }
    /* count larger than the payload can hold */
    uint8_t big[] = {0x7f, 0x00, 0x00};
    struct walrec_samples_iter si;
    walrec_samples_iter_init(&si, big, sizeof big);
    assert_false(walrec_samples_iter_next(&si));
    assert_int_equal(walrec_samples_iter_err(&si), ERR_CORRUPT);
    assert_int_equal(walrec_payload_count(big, sizeof big), ERR_CORRUPT);
    assert_int_equal(walrec_payload_count(big, 0), ERR_CORRUPT);
    /* id delta below zero / above UINT32_MAX */
    uint8_t neg[] = {0x01, 0x01 /* zigzag -1 */, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
    walrec_samples_iter_init(&si, neg, sizeof neg);
    assert_false(walrec_samples_iter_next(&si));
    assert_int_equal(walrec_samples_iter_err(&si), ERR_CORRUPT);
    struct buf hi = BUF_INIT;
    buf_append_uvarint(&hi, 1);
    buf_append_svarint(&hi, (int64_t)UINT32_MAX + 1);
    buf_append_uvarint(&hi, 0);
    struct walrec_series_iter sei;
    walrec_series_iter_init(&sei, hi.data, hi.len, lb, 4);
    assert_false(walrec_series_iter_next(&sei));
    assert_int_equal(walrec_series_iter_err(&sei), ERR_CORRUPT);
    /* a string length reaching past the payload */
    uint8_t longstr[] = {0x01, 0x00, 0x01, 0x05, 'a', 'b'};
    walrec_series_iter_init(&sei, longstr, sizeof longstr, lb, 4);
    assert_false(walrec_series_iter_next(&sei));
    assert_int_equal(walrec_series_iter_err(&sei), ERR_CORRUPT);
    buf_deinit(&hi);
    for (int k = 0; k < 3; k++)
        buf_deinit(&p[k]);
}

/* ---- framing ---- */

static void test_compression_choice(void **state)
{
    struct buf b = BUF_INIT;
    uint8_t text[4096];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (uint8_t) "level=info msg=ok "[i % 18];
    struct prop p = prop_begin("walrec_compress");
    uint8_t noise[4096];
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (uint8_t)prop_next(&p);
    walrec_segment_header_append(&b);
    walrec_append(&b, WALREC_LOG_ENTRIES, text, sizeof text, WALREC_COMPRESS);
    size_t after_text = b.len;
    walrec_append(&b, WALREC_HISTOGRAMS, noise, sizeof noise, WALREC_COMPRESS);
    walrec_append(&b, WALREC_METADATA, text, sizeof text, 0);
    assert_true(after_text < 8 + 16 + sizeof text / 4); /* compressed well */
    struct walrec_reader r;
    struct walrec rec;
    walrec_reader_init(&r, b.data, b.len);
    assert_int_equal(walrec_reader_next(&r, &rec), 1);
    assert_int_equal(rec.flags, WALREC_F_SNAPPY);
    assert_int_equal(rec.len, sizeof text);
    assert_memory_equal(rec.payload, text, sizeof text);
    /* independent check: the stored bytes are plain snappy */
    char out[4096];
    size_t outn = sizeof out;
    assert_int_equal(snappy_uncompress((const char *)b.data + 8 + 16, rec.size - 16, out, &outn),
                     SNAPPY_OK);
    assert_memory_equal(out, text, sizeof text);
    assert_int_equal(walrec_reader_next(&r, &rec), 1);
    assert_int_equal(rec.flags, 0); /* incompressible: stored raw */
    assert_int_equal(rec.size, 16 + sizeof noise);
    assert_memory_equal(rec.payload, noise, sizeof noise);
    assert_int_equal(walrec_reader_next(&r, &rec), 1);
    assert_int_equal(rec.flags, 0); /* not asked */
    assert_ptr_equal(rec.payload, b.data + rec.offset + 16);
    assert_int_equal(walrec_reader_next(&r, &rec), 0);
    walrec_reader_deinit(&r);
    buf_deinit(&b);
}

static void test_begin_end(void **state)
{
    struct buf b = BUF_INIT;
    walrec_segment_header_append(&b);
    struct walrec_sample s[300];
    for (int i = 0; i < 300; i++)
        s[i] = (struct walrec_sample){(uint32_t)i, 1000, 0x4000000000000000ull};
    size_t mark;
    assert_int_equal(walrec_begin(&b, &mark), 0);
    assert_int_equal(mark, 8);
    walrec_samples_encode(&b, s, 300);
    size_t raw_len = b.len - mark - 16;
    assert_int_equal(walrec_end(&b, mark, WALREC_SAMPLES, WALREC_COMPRESS), 0);
    assert_true(b.len - mark - 16 < raw_len); /* compressed in place */
    assert_int_equal(walrec_begin(&b, &mark), 0);
    walrec_samples_encode(&b, s, 3);
    assert_int_equal(walrec_end(&b, mark, WALREC_SAMPLES, 0), 0);
    struct walrec_reader r;
    struct walrec rec;
    walrec_reader_init(&r, b.data, b.len);
    assert_int_equal(walrec_reader_next(&r, &rec), 1);
    assert_int_equal(rec.flags, WALREC_F_SNAPPY);
    assert_int_equal(walrec_payload_count(rec.payload, rec.len), 300);
    struct walrec_samples_iter it;
    walrec_samples_iter_init(&it, rec.payload, rec.len);
    for (int i = 0; i < 300; i++) {
        assert_true(walrec_samples_iter_next(&it));
        assert_int_equal(walrec_samples_iter_at(&it)->id, i);
    }
    assert_false(walrec_samples_iter_next(&it));
    assert_int_equal(walrec_samples_iter_err(&it), 0);
    assert_int_equal(walrec_reader_next(&r, &rec), 1);
    assert_int_equal(rec.flags, 0);
    assert_int_equal(walrec_payload_count(rec.payload, rec.len), 3);
    assert_int_equal(walrec_reader_next(&r, &rec), 0);
    walrec_reader_deinit(&r);
    /* too big: ERR_LIMIT, buffer unchanged */
    size_t before = b.len;
    static const uint8_t dummy[1];
    assert_int_equal(walrec_append(&b, WALREC_METADATA, dummy, (size_t)WALREC_PAYLOAD_MAX + 1, 0),
                     ERR_LIMIT);
    assert_int_equal(b.len, before);
    buf_deinit(&b);
}

static void fill_payload(struct prop *p, uint8_t *out, size_t n)
{
    int compressible = prop_next(p) & 1;
    for (size_t i = 0; i < n; i++)
        out[i] = compressible ? (uint8_t)("abcabcabd"[(i / 3) % 9]) : (uint8_t)prop_next(p);
}

static void build_random(struct prop *p, struct seg *s, size_t n_records, size_t max_len)
{
    walrec_segment_header_append(&s->b);
    uint8_t *tmp = malloc(max_len + 1);
    for (size_t i = 0; i < n_records; i++) {
        size_t len = (size_t)(prop_next(p) % (max_len + 1));
        fill_payload(p, tmp, len);
        enum walrec_type t = (enum walrec_type)(1 + prop_next(p) % (WALREC_TYPE_END_ - 1));
        seg_add(s, t, tmp, len, (prop_next(p) & 1) ? WALREC_COMPRESS : 0);
    }
    free(tmp);
}

static void test_random_segments(void **state)
{
    struct prop p = prop_begin("walrec_random_segments");
    for (int round = 0; round < 20; round++) {
        struct seg s;
        memset(&s, 0, sizeof s);
        build_random(&p, &s, 1 + prop_next(&p) % 200, round < 10 ? 300 : 20000);
        prop_check(&p, read_expect(s.b.data, s.b.len, s.w, s.n, s.b.len) == 0);
        seg_free(&s);
    }
}

/* Cutting a segment anywhere yields exactly the records wholly before the cut; a cut on a record
 * boundary is a clean end, anywhere else a torn tail at the start of the cut record. */
static void test_every_truncation(void **state)
{
    struct prop p = prop_begin("walrec_truncation");
    struct seg s;
    memset(&s, 0, sizeof s);
    build_random(&p, &s, 24, 200);
    size_t k = 0;
    for (size_t cut = 0; cut <= s.b.len; cut++) {
        while (k < s.n && s.w[k].end <= cut)
            k++;
        bool boundary = cut == 8 || (k > 0 && s.w[k - 1].end == cut);
        int rc = read_expect(s.b.data, cut, s.w, k, cut < 8 ? 0 : end_of(&s, k));
        prop_check(&p, rc == (boundary ? 0 : ERR_TRUNCATED));
    }
    seg_free(&s);
}

/* Index of the record containing byte `off` (records start after the 8-byte header). */
static size_t record_at(const struct seg *s, size_t off)
{
    size_t i = 0;
    while (s->w[i].end <= off)
        i++;
    return i;
}

/* Every single-bit flip is detected: the reader yields exactly the records before the damaged one,
 * and damage before the last record is reported as corruption, never as a torn tail. */
static void test_every_bit_flip(void **state)
{
    struct prop p = prop_begin("walrec_bit_flip");
    struct seg s;
    memset(&s, 0, sizeof s);
    build_random(&p, &s, 12, 120);
    uint8_t *copy = malloc(s.b.len);
    for (size_t off = 0; off < s.b.len; off++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, s.b.data, s.b.len);
            copy[off] ^= (uint8_t)(1u << bit);
            if (off < 8) {
                int rc = read_expect(copy, s.b.len, s.w, 0, 0);
                prop_check(&p, rc == ERR_CORRUPT || rc == ERR_UNSUPPORTED);
                continue;
            }
            size_t i = record_at(&s, off);
            int rc = read_expect(copy, s.b.len, s.w, i, end_of(&s, i));
            prop_check(&p, rc == ERR_CORRUPT || (i == s.n - 1 && rc == ERR_TRUNCATED));
        }
    }
    free(copy);
    seg_free(&s);
}

static void test_torn_vs_corrupt(void **state)
{
    struct seg s;
    memset(&s, 0, sizeof s);
    walrec_segment_header_append(&s.b);
    for (int i = 0; i < 6; i++) {
        char line[64];
        memset(line, 'a' + i, sizeof line);
        seg_add(&s, WALREC_METADATA, line, sizeof line, 0);
    }
    size_t len = s.b.len;
    /* a zero-filled tail (preallocated or extended file) is a torn tail */
    buf_reserve(&s.b, 4096);
    memset(s.b.data + len, 0, 4096);
    assert_int_equal(read_expect(s.b.data, len + 4096, s.w, 6, len), ERR_TRUNCATED);
    /* garbage after the last record with nothing valid in it: torn tail */
    struct prop p = prop_begin("walrec_torn");
    for (size_t i = 0; i < 4096; i++)
        s.b.data[len + i] = (uint8_t)prop_next(&p);
    prop_check(&p, read_expect(s.b.data, len + 4096, s.w, 6, len) == ERR_TRUNCATED);
    /* the last record's payload half zeroed (torn inside the record): torn tail */
    uint8_t *copy = malloc(len);
    memcpy(copy, s.b.data, len);
    memset(copy + len - 32, 0, 32);
    assert_int_equal(read_expect(copy, len, s.w, 5, s.w[4].end), ERR_TRUNCATED);
    /* the last record's header zeroed, then its payload: torn tail */
    memcpy(copy, s.b.data, len);
    memset(copy + s.w[4].end, 0, 16);
    assert_int_equal(read_expect(copy, len, s.w, 5, s.w[4].end), ERR_TRUNCATED);
    /* a middle record's payload zeroed, valid records after it: corruption */
    memcpy(copy, s.b.data, len);
    memset(copy + s.w[1].end + 16, 0, 64);
    assert_int_equal(read_expect(copy, len, s.w, 2, s.w[1].end), ERR_CORRUPT);
    /* a middle record zeroed entirely */
    memcpy(copy, s.b.data, len);
    memset(copy + s.w[1].end, 0, s.w[2].end - s.w[1].end);
    assert_int_equal(read_expect(copy, len, s.w, 2, s.w[1].end), ERR_CORRUPT);
    /* a middle record's header zeroed */
    memcpy(copy, s.b.data, len);
    memset(copy + s.w[2].end, 0, 16);
    assert_int_equal(read_expect(copy, len, s.w, 3, s.w[2].end), ERR_CORRUPT);
    free(copy);
    seg_free(&s);
}

/* Rewrites a header's CRCs after editing it, so only the field check can reject it. */
static void refix(uint8_t *h)
{
    le32_put(h + 8, crc32c(h + 16, le32_get(h)));
    le32_put(h + 12, crc32c(h, 12));
}

static void test_valid_crc_bad_fields(void **state)
{
    struct buf b = BUF_INIT;
    walrec_segment_header_append(&b);
    walrec_append(&b, WALREC_METADATA, "abc", 3, 0);
    walrec_append(&b, WALREC_METADATA, "def", 3, 0);
    struct want w[2] = {{WALREC_METADATA, (uint8_t *)"abc", 3, 8 + 19},
                        {WALREC_METADATA, (uint8_t *)"def", 3, 8 + 38}};
    uint8_t *h = b.data + 8 + 19;
    uint8_t save[19];
    memcpy(save, h, 19);
    h[4] = WALREC_TYPE_END_; /* unknown type */
    refix(h);
    assert_int_equal(read_expect(b.data, b.len, w, 1, 27), ERR_CORRUPT);
    memcpy(h, save, 19);
    h[4] = 0;
    refix(h);
    assert_int_equal(read_expect(b.data, b.len, w, 1, 27), ERR_CORRUPT);
    memcpy(h, save, 19);
    h[5] = 0x2; /* unknown flag */
    refix(h);
    assert_int_equal(read_expect(b.data, b.len, w, 1, 27), ERR_CORRUPT);
    memcpy(h, save, 19);
    h[6] = 1; /* reserved */
    refix(h);
    assert_int_equal(read_expect(b.data, b.len, w, 1, 27), ERR_CORRUPT);
    memcpy(h, save, 19);
    h[5] = WALREC_F_SNAPPY; /* "abc"/"def" is not snappy */
    refix(h);
    assert_int_equal(read_expect(b.data, b.len, w, 1, 27), ERR_CORRUPT);
    memcpy(h, save, 19);
    le32_put(h, WALREC_PAYLOAD_MAX + 1); /* length above the limit, even though CRC matches */
    le32_put(h + 12, crc32c(h, 12));
    assert_int_equal(read_expect(b.data, b.len, w, 1, 27), ERR_CORRUPT);
    memcpy(h, save, 19);
    assert_int_equal(read_expect(b.data, b.len, w, 2, b.len), 0);
    buf_deinit(&b);
}

static void test_segment_header(void **state)
{
    uint8_t seg[8 + 19];
    struct buf b = BUF_INIT;
    walrec_segment_header_append(&b);
    walrec_append(&b, WALREC_METADATA, "abc", 3, 0);
    memcpy(seg, b.data, sizeof seg);
    for (size_t cut = 0; cut < 8; cut++)
        assert_int_equal(read_expect(seg, cut, NULL, 0, 0), ERR_TRUNCATED);
    uint8_t z[64] = {0};
    assert_int_equal(read_expect(z, sizeof z, NULL, 0, 0), ERR_TRUNCATED); /* never written */
    seg[0] = 'X';
    assert_int_equal(read_expect(seg, sizeof seg, NULL, 0, 0), ERR_CORRUPT);
    assert_int_equal(read_expect(seg, 2, NULL, 0, 0), ERR_CORRUPT);
    seg[0] = 'S';
    seg[4] = 2;
    assert_int_equal(read_expect(seg, sizeof seg, NULL, 0, 0), ERR_UNSUPPORTED);
    seg[4] = 0;
    assert_int_equal(read_expect(seg, sizeof seg, NULL, 0, 0), ERR_CORRUPT);
    seg[4] = 1;
    seg[7] = 1;
    assert_int_equal(read_expect(seg, sizeof seg, NULL, 0, 0), ERR_CORRUPT);
    buf_deinit(&b);
}

static void test_records_only(void **state)
{
    struct buf b = BUF_INIT;
    walrec_append(&b, WALREC_CHECKPOINT, "x", 1, 0);
    walrec_append(&b, WALREC_TOMBSTONES, "yz", 2, 0);
    struct walrec_reader r;
    struct walrec rec;
    walrec_reader_init_records(&r, b.data, b.len, 1000);
    assert_int_equal(walrec_reader_next(&r, &rec), 1);
    assert_int_equal(rec.offset, 1000);
    assert_int_equal(walrec_reader_next(&r, &rec), 1);
    assert_int_equal(rec.offset, 1017);
    assert_int_equal(rec.type, WALREC_TOMBSTONES);
    assert_int_equal(walrec_reader_next(&r, &rec), 0);
    assert_int_equal(walrec_reader_offset(&r), 1000 + b.len);
    walrec_reader_deinit(&r);
    walrec_reader_init_records(&r, b.data, b.len - 1, 1000);
    assert_int_equal(walrec_reader_next(&r, &rec), 1);
    assert_int_equal(walrec_reader_next(&r, &rec), ERR_TRUNCATED);
    assert_int_equal(walrec_reader_offset(&r), 1017);
    walrec_reader_deinit(&r);
    assert_string_equal(walrec_type_name(WALREC_LOG_ENTRIES), "log_entries");
    assert_string_equal(walrec_type_name(0), "unknown");
    assert_string_equal(walrec_type_name(200), "unknown");
    buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_frames),     cmocka_unit_test(test_golden_payloads),
        cmocka_unit_test(test_golden_read),       cmocka_unit_test(test_series_roundtrip),
        cmocka_unit_test(test_samples_roundtrip), cmocka_unit_test(test_entries_roundtrip),
        cmocka_unit_test(test_payload_errors),    cmocka_unit_test(test_compression_choice),
        cmocka_unit_test(test_begin_end),         cmocka_unit_test(test_random_segments),
        cmocka_unit_test(test_every_truncation),  cmocka_unit_test(test_every_bit_flip),
        cmocka_unit_test(test_torn_vs_corrupt),   cmocka_unit_test(test_valid_crc_bad_fields),
        cmocka_unit_test(test_segment_header),    cmocka_unit_test(test_records_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
