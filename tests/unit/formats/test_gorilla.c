/* formats/gorilla: golden bytes, timestamp buckets and extremes, special float bit patterns,
 * ordering and capacity errors, open-chunk snapshots, seek, truncation and corruption, and
 * randomized round trips through every read path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/gorilla.h"
#include "tests/unit/prop.h"

/* ---- helpers ---- */

struct samples {
    int64_t *t;
    uint64_t *v;
    size_t n;
};

static struct samples samples_alloc(size_t n)
{
    struct samples s = {calloc(n ? n : 1, sizeof(int64_t)), calloc(n ? n : 1, sizeof(uint64_t)), n};
    assert_non_null(s.t);
    assert_non_null(s.v);
    return s;
}

static void samples_free(struct samples *s)
{
    free(s->t);
    free(s->v);
}

/* Encodes s and returns a malloc'd copy of the chunk. */
static uint8_t *encode(const struct samples *s, size_t *len)
{
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    for (size_t i = 0; i < s->n; i++)
        assert_int_equal(gorilla_enc_append_bits(&e, s->t[i], s->v[i]), 0);
    assert_int_equal(gorilla_enc_count(&e), s->n);
    struct gorilla_snap snap;
    gorilla_enc_snapshot(&e, &snap);
    assert_int_equal(snap.count, s->n);
    uint8_t *out = malloc(snap.len);
    assert_non_null(out);
    memcpy(out, snap.data, snap.len);
    *len = snap.len;
    gorilla_enc_deinit(&e);
    return out;
}

/* Decodes with gorilla_iter_next into out (capacity cap); returns the final next() result and
 * sets *n to the samples read. */
static int decode_next(const uint8_t *d, size_t len, int64_t *t, uint64_t *v, size_t cap, size_t *n)
{
    struct gorilla_iter it;
    int rc = gorilla_iter_init(&it, d, len);
    *n = 0;
    while ((rc = gorilla_iter_next(&it)) == 1) {
        assert_true(*n < cap);
        gorilla_iter_at_bits(&it, &t[*n], &v[*n]);
        (*n)++;
    }
    assert_int_equal(gorilla_iter_err(&it), rc < 0 ? rc : 0);
    assert_int_equal(gorilla_iter_next(&it), rc); /* sticky end or error */
    return rc;
}

/* Decodes with gorilla_iter_next_batch in slices of `slice`. */
static int decode_batch(const uint8_t *d, size_t len, int64_t *t, uint64_t *v, size_t cap,
                        size_t slice, size_t *n)
{
    struct gorilla_iter it;
    gorilla_iter_init(&it, d, len);
    int rc;
    *n = 0;
    while ((rc = gorilla_iter_next_batch(&it, t + *n, (double *)(void *)(v + *n), slice)) > 0) {
        *n += (size_t)rc;
        assert_true(*n <= cap);
        int64_t at_t;
        uint64_t at_v;
        gorilla_iter_at_bits(&it, &at_t, &at_v);
        assert_true(at_t == t[*n - 1] && at_v == v[*n - 1]);
    }
    return rc;
}

/* Round trip through both read paths; every bit must come back. */
static void check_roundtrip(const struct samples *s)
{
    size_t len, n;
    uint8_t *chunk = encode(s, &len);
    struct samples got = samples_alloc(s->n + 1);
    assert_int_equal(decode_next(chunk, len, got.t, got.v, s->n + 1, &n), 0);
    assert_int_equal(n, s->n);
    for (size_t i = 0; i < n; i++) {
        assert_true(got.t[i] == s->t[i]);
        assert_true(got.v[i] == s->v[i]);
    }
    static const size_t slices[] = {1, 3, 120, 70000};
    for (size_t k = 0; k < 4; k++) {
        size_t cap = s->n + slices[k];
        struct samples b = samples_alloc(cap);
        assert_int_equal(decode_batch(chunk, len, b.t, b.v, s->n, slices[k], &n), 0);
        assert_int_equal(n, s->n);
        assert_memory_equal(b.t, s->t, n * sizeof(int64_t));
        assert_memory_equal(b.v, s->v, n * sizeof(uint64_t));
        samples_free(&b);
    }
    assert_int_equal(gorilla_chunk_count(chunk, len), (int)s->n);
    int64_t first, last;
    if (s->n > 0) {
        assert_int_equal(gorilla_chunk_first_ts(chunk, len, &first), 0);
        assert_int_equal(gorilla_chunk_last_ts(chunk, len, &last), 0);
        assert_true(first == s->t[0] && last == s->t[s->n - 1]);
    }
    samples_free(&got);
    free(chunk);
}

static uint64_t bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* Bits the encoder has produced so far (stored plus pending). */
static uint64_t enc_bits(const struct gorilla_enc *e)
{
    return (uint64_t)e->byte_pos * 8 + e->nbits;
}

/* ---- golden ---- */

/* The worked example of docs/formats/gorilla.md, bit by bit:
 *   s0 t=1000  v=1.0   header count 5, zigzag varint 2000 = d0 0f;
 *                      '11' 00010 001001 1111111111          (new window lead 2, sig 10)
 *   s1 t=16000 v=1.0   '1110' + 15000 in 20 bits, '0'
 *   s2 t=31000 v=1.5   '0', '11' 01100 000000 1               (lead 12, sig 1)
 *   s3 t=46001 v=1.0   '10' 0000001 (dod +1), '10' 1           (reuse the window)
 *   s4 t=61001 v=stale '10' 1111111 (dod -1), '11' 00001 111101 + 62 bits 1 0..0 1
 * 159 bits, one zero pad bit. */
static void test_golden(void **state)
{
    (void)state;
    static const uint8_t want[] = {0x05, 0x00, 0xd0, 0x0f, 0xc4, 0x4f, 0xff, 0xc0,
                                   0x75, 0x30, 0x6c, 0x03, 0x01, 0xb7, 0xfc, 0x3e,
                                   0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02};
    struct samples s = samples_alloc(5);
    int64_t ts[] = {1000, 16000, 31000, 46001, 61001};
    uint64_t vs[] = {bits_of(1.0), bits_of(1.0), bits_of(1.5), bits_of(1.0),
                     GORILLA_STALE_NAN_BITS};
    memcpy(s.t, ts, sizeof ts);
    memcpy(s.v, vs, sizeof vs);
    size_t len;
    uint8_t *chunk = encode(&s, &len);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(chunk, want, sizeof want);
    check_roundtrip(&s);
    free(chunk);
    samples_free(&s);
}

static void test_empty(void **state)
{
    (void)state;
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    struct gorilla_snap snap;
    gorilla_enc_snapshot(&e, &snap);
    assert_int_equal(snap.len, GORILLA_EMPTY_LEN);
    assert_int_equal(snap.count, 0);
    assert_true(snap.data[0] == 0 && snap.data[1] == 0);
    struct gorilla_iter it;
    assert_int_equal(gorilla_iter_init(&it, snap.data, snap.len), 0);
    assert_int_equal(gorilla_iter_next(&it), 0);
    assert_int_equal(gorilla_iter_seek(&it, INT64_MIN), 0);
    int64_t t;
    assert_int_equal(gorilla_chunk_count(snap.data, snap.len), 0);
    assert_int_equal(gorilla_chunk_first_ts(snap.data, snap.len, &t), ERR_EMPTY);
    assert_int_equal(gorilla_chunk_last_ts(snap.data, snap.len, &t), ERR_EMPTY);
    size_t len = 99;
    assert_null(gorilla_enc_steal(&e, &len));
    assert_int_equal(len, 0);
    gorilla_enc_deinit(&e);
}

/* ---- timestamps ---- */

/* Delta-of-delta buckets: each boundary costs exactly the documented bits. */
static void test_dod_buckets(void **state)
{
    (void)state;
    static const struct {
        int64_t dod;
        unsigned bits;
    } cases[] = {
        {0, 1},
        {1, 9},
        {-1, 9},
        {63, 9},
        {-64, 9},
        {64, 17},
        {-65, 17},
        {8191, 17},
        {-8192, 17},
        {8192, 24},
        {-8193, 24},
        {524287, 24},
        {-524288, 24},
        {524288, 68},
        {-524289, 68},
        {1ll << 40, 68},
        {-(1ll << 40), 68},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct gorilla_enc e;
        gorilla_enc_init(&e);
        int64_t base = 1700000000000, d1 = 1ll << 41; /* big enough that t3 > t2 for dod < 0 */
        assert_int_equal(gorilla_enc_append(&e, base, 7.0), 0);
        assert_int_equal(gorilla_enc_append(&e, base + d1, 7.0), 0);
        uint64_t before = enc_bits(&e);
        int64_t t3 = base + 2 * d1 + cases[i].dod;
        assert_int_equal(gorilla_enc_append(&e, t3, 7.0), 0);
        /* dod code plus the one-bit "same value" code */
        assert_int_equal(enc_bits(&e) - before, cases[i].bits + 1);
        struct samples s = samples_alloc(3);
        s.t[0] = base, s.t[1] = base + d1, s.t[2] = t3;
        for (int k = 0; k < 3; k++)
            s.v[k] = bits_of(7.0);
        check_roundtrip(&s);
        samples_free(&s);
        gorilla_enc_deinit(&e);
    }
}

static void test_extreme_timestamps(void **state)
{
    (void)state;
    /* Deltas beyond 2^63 wrap in the codec's modulo-2^64 arithmetic and must still round-trip. */
    int64_t sets[][5] = {
        {INT64_MIN, INT64_MIN + 1, -(1ll << 62), 1ll << 62, INT64_MAX},
        {-(1ll << 62), 0, 1, 1ll << 62, (1ll << 62) + 15000},
        {-1700000000000, -1699999985000, -1699999970000, -5, -1},
        {INT64_MIN, -1, 0, INT64_MAX - 1, INT64_MAX},
        {0, 1, 2, 3, 4},
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        struct samples s = samples_alloc(5);
        for (int k = 0; k < 5; k++) {
            s.t[k] = sets[i][k];
            s.v[k] = (uint64_t)k * 0x0123456789abcdefull;
        }
        check_roundtrip(&s);
        samples_free(&s);
    }
}

static void test_order(void **state)
{
    (void)state;
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    assert_int_equal(gorilla_enc_append(&e, 1000, 1.0), 0);
    assert_int_equal(gorilla_enc_append(&e, 2000, 2.0), 0);
    struct gorilla_snap before;
    gorilla_enc_snapshot(&e, &before);
    uint8_t copy[64];
    memcpy(copy, before.data, before.len);
    size_t len = before.len;
    assert_int_equal(gorilla_enc_append(&e, 2000, 3.0), ERR_ORDER); /* equal */
    assert_int_equal(gorilla_enc_append(&e, 1999, 3.0), ERR_ORDER);
    assert_int_equal(gorilla_enc_append(&e, INT64_MIN, 3.0), ERR_ORDER);
    assert_int_equal(gorilla_enc_count(&e), 2);
    assert_true(gorilla_enc_first_ts(&e) == 1000 && gorilla_enc_last_ts(&e) == 2000);
    struct gorilla_snap after;
    gorilla_enc_snapshot(&e, &after);
    assert_int_equal(after.len, len);
    assert_memory_equal(after.data, copy, len);
    /* The encoder goes on as if nothing happened. */
    assert_int_equal(gorilla_enc_append(&e, 2001, 3.0), 0);
    assert_int_equal(gorilla_enc_count(&e), 3);
    gorilla_enc_deinit(&e);
}

/* ---- values ---- */

static void test_special_values(void **state)
{
    (void)state;
    static const uint64_t specials[] = {
        0x0000000000000000ull, /* +0 */
        0x8000000000000000ull, /* -0 */
        0x7ff0000000000000ull, /* +Inf */
        0xfff0000000000000ull, /* -Inf */
        0x7ff8000000000000ull, /* quiet NaN */
        0xfff8000000000000ull, /* negative quiet NaN */
        0x7ff0000000000001ull, /* signalling NaN, payload 1 */
        0x7ff0000000000002ull, /* Prometheus stale marker */
        0x7fffffffffffffffull, /* NaN, all payload bits */
        0xfff4000000c0ffeeull, /* signalling NaN with a payload */
        0x0000000000000001ull, /* smallest denormal */
        0x000fffffffffffffull, /* largest denormal */
        0x8000000000000001ull, /* negative denormal */
        0x0010000000000000ull, /* DBL_MIN */
        0x7fefffffffffffffull, /* DBL_MAX */
        0x3ff0000000000000ull, /* 1.0 */
        0xffffffffffffffffull,
    };
    size_t n = sizeof specials / sizeof specials[0];
    /* Every ordered pair, each value repeated, so each transition is exercised. */
    struct samples s = samples_alloc(n * n * 3);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            uint64_t seq[3] = {specials[i], specials[j], specials[j]};
            for (int r = 0; r < 3; r++) {
                s.t[k] = (int64_t)k * 15000;
                s.v[k++] = seq[r];
            }
        }
    }
    check_roundtrip(&s);
    samples_free(&s);
    /* Through the double API too: bits stay bits. */
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    for (size_t i = 0; i < n; i++) {
        double d;
        memcpy(&d, &specials[i], sizeof d);
        assert_int_equal(gorilla_enc_append(&e, (int64_t)i, d), 0);
    }
    struct gorilla_snap snap;
    gorilla_enc_snapshot(&e, &snap);
    struct gorilla_iter it;
    gorilla_iter_init(&it, snap.data, snap.len);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(gorilla_iter_next(&it), 1);
        int64_t t;
        double d;
        gorilla_iter_at(&it, &t, &d);
        assert_true(t == (int64_t)i);
        assert_true(bits_of(d) == specials[i]);
    }
    assert_int_equal(gorilla_iter_next(&it), 0);
    gorilla_enc_deinit(&e);
}

static void test_repeated_values(void **state)
{
    (void)state;
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    for (int i = 0; i < 120; i++)
        assert_int_equal(gorilla_enc_append(&e, 1700000000000 + i * 15000ll, 42.0), 0);
    /* Each repeat after the second sample costs two bits: count 2 + varint 6 bytes; s0 value
     * 42.0 = 0x4045000000000000 (lead 1, trail 48): '11' + 11 + 15 = 28 bits; s1 '1110' + 20 +
     * '0' = 25 bits; then 118 x 2 bits. */
    assert_int_equal(enc_bits(&e), (2 + 6) * 8 + 28 + 25 + 118 * 2);
    struct gorilla_snap snap;
    gorilla_enc_snapshot(&e, &snap);
    assert_int_equal(snap.len, 2 + 6 + (28 + 25 + 236 + 7) / 8);
    gorilla_enc_deinit(&e);
}

/* ---- capacity ---- */

static void test_cap(void **state)
{
    (void)state;
    struct samples s = samples_alloc(GORILLA_SAMPLES_MAX);
    for (size_t i = 0; i < s.n; i++) {
        s.t[i] = (int64_t)i * 1000 + (int64_t)(i % 7);
        s.v[i] = bits_of((double)(i / 3));
    }
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    for (size_t i = 0; i < s.n; i++)
        assert_int_equal(gorilla_enc_append_bits(&e, s.t[i], s.v[i]), 0);
    assert_int_equal(gorilla_enc_append_bits(&e, INT64_MAX, 0), ERR_FULL);
    assert_int_equal(gorilla_enc_count(&e), GORILLA_SAMPLES_MAX);
    struct gorilla_snap snap;
    gorilla_enc_snapshot(&e, &snap);
    assert_int_equal(gorilla_chunk_count(snap.data, snap.len), GORILLA_SAMPLES_MAX);
    gorilla_enc_deinit(&e);
    check_roundtrip(&s);
    samples_free(&s);
}

static void test_reset_and_steal(void **state)
{
    (void)state;
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 50; i++)
            assert_int_equal(gorilla_enc_append(&e, i * 10 + round, i * 0.5), 0);
        struct gorilla_snap snap;
        gorilla_enc_snapshot(&e, &snap);
        size_t len;
        uint8_t *owned = gorilla_enc_steal(&e, &len);
        assert_non_null(owned);
        assert_int_equal(len, snap.len);
        assert_int_equal(gorilla_enc_count(&e), 0);
        struct gorilla_iter it;
        gorilla_iter_init(&it, owned, len);
        for (int i = 0; i < 50; i++) {
            assert_int_equal(gorilla_iter_next(&it), 1);
            int64_t t;
            double v;
            gorilla_iter_at(&it, &t, &v);
            assert_true(t == i * 10 + round && bits_of(v) == bits_of(i * 0.5));
        }
        assert_int_equal(gorilla_iter_next(&it), 0);
        free(owned);
    }
    assert_int_equal(gorilla_enc_append(&e, 5, 1.0), 0);
    gorilla_enc_reset(&e);
    assert_int_equal(gorilla_enc_count(&e), 0);
    assert_int_equal(gorilla_enc_append(&e, 1, 1.0), 0); /* earlier timestamps are fine again */
    gorilla_enc_deinit(&e);
}

/* A reset encoder reuses a buffer full of old bits; long runs of two-bit samples, which the writer
 * does not store word by word, must still come out as zeros. */
static void test_dirty_buffer(void **state)
{
    (void)state;
    struct prop p = prop_begin("gorilla_dirty_buffer");
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    for (int round = 0; round < 20; round++) {
        gorilla_enc_reset(&e);
        for (int i = 0; i < 400; i++) /* fill the buffer with noise */
            assert_int_equal(gorilla_enc_append_bits(&e, i, prop_next(&p)), 0);
        gorilla_enc_reset(&e);
        struct samples s = samples_alloc(300);
        uint64_t v = prop_next(&p);
        for (size_t i = 0; i < s.n; i++) {
            if (prop_next(&p) % 97 == 0)
                v = prop_next(&p);
            s.t[i] = (int64_t)i * 15000;
            s.v[i] = v;
            assert_int_equal(gorilla_enc_append_bits(&e, s.t[i], s.v[i]), 0);
        }
        struct gorilla_snap snap;
        gorilla_enc_snapshot(&e, &snap);
        size_t n;
        struct samples got = samples_alloc(s.n);
        prop_check(&p, decode_next(snap.data, snap.len, got.t, got.v, s.n, &n) == 0);
        prop_check(&p, n == s.n && memcmp(got.v, s.v, n * sizeof(uint64_t)) == 0);
        samples_free(&got);
        samples_free(&s);
    }
    gorilla_enc_deinit(&e);
}

/* ---- open chunks ---- */

static void test_open_chunk(void **state)
{
    (void)state;
    struct prop p = prop_begin("gorilla_open_chunk");
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    enum { N = 3000 };
    int64_t t[N];
    uint64_t v[N];
    for (int i = 0; i < N; i++) {
        t[i] = 1700000000000 + i * 15000ll + (int64_t)(prop_next(&p) % 3);
        v[i] = (prop_next(&p) & 3) ? bits_of((double)(i / 10)) : prop_next(&p);
    }
    int appended = 0;
    struct gorilla_iter it;
    struct gorilla_snap snap;
    uint8_t *prev = NULL;
    size_t prev_len = 0;
    while (appended < N) {
        int burst = 1 + (int)(prop_next(&p) % 40);
        for (int i = 0; i < burst && appended < N; i++, appended++)
            assert_int_equal(gorilla_enc_append_bits(&e, t[appended], v[appended]), 0);
        gorilla_enc_snapshot(&e, &snap);
        prop_check(&p, snap.count == (uint32_t)appended);
        /* Earlier snapshot bytes are unchanged except the count and the last byte's spare bits. */
        if (prev) {
            prop_check(&p, prev_len <= snap.len);
            prop_check(&p, prev_len < 3 || memcmp(prev + 2, snap.data + 2, prev_len - 3) == 0);
        }
        free(prev);
        prev = malloc(snap.len);
        memcpy(prev, snap.data, snap.len);
        prev_len = snap.len;
        /* Start an iterator on this snapshot, read part of it, append more (the buffer may
         * move), rebase and read the rest: it ends exactly at the snapshot's count. */
        gorilla_iter_init(&it, snap.data, snap.len);
        uint32_t count = snap.count, read = 0, half = count / 2;
        for (; read < half; read++) {
            prop_check(&p, gorilla_iter_next(&it) == 1);
            int64_t at_t;
            uint64_t at_v;
            gorilla_iter_at_bits(&it, &at_t, &at_v);
            prop_check(&p, at_t == t[read] && at_v == v[read]);
        }
        int more = (int)(prop_next(&p) % 30);
        for (int i = 0; i < more && appended < N; i++, appended++)
            assert_int_equal(gorilla_enc_append_bits(&e, t[appended], v[appended]), 0);
        struct gorilla_snap now;
        gorilla_enc_snapshot(&e, &now);
        gorilla_iter_rebase(&it, now.data);
        for (; read < count; read++) {
            prop_check(&p, gorilla_iter_next(&it) == 1);
            int64_t at_t;
            uint64_t at_v;
            gorilla_iter_at_bits(&it, &at_t, &at_v);
            prop_check(&p, at_t == t[read] && at_v == v[read]);
        }
        prop_check(&p, gorilla_iter_next(&it) == 0);
    }
    free(prev);
    gorilla_enc_deinit(&e);
}

/* ---- seek ---- */

static void test_seek(void **state)
{
    (void)state;
    struct samples s = samples_alloc(100);
    for (int i = 0; i < 100; i++) {
        s.t[i] = 1000 + i * 10;
        s.v[i] = bits_of(i * 1.25);
    }
    size_t len;
    uint8_t *chunk = encode(&s, &len);
    struct {
        int64_t target;
        int want_idx; /* -1 = end */
    } cases[] = {
        {INT64_MIN, 0}, {0, 0},     {1000, 0},  {1001, 1},       {1500, 50},
        {1505, 51},     {1990, 99}, {1991, -1}, {INT64_MAX, -1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct gorilla_iter it;
        gorilla_iter_init(&it, chunk, len);
        int rc = gorilla_iter_seek(&it, cases[c].target);
        if (cases[c].want_idx < 0) {
            assert_int_equal(rc, 0);
            assert_int_equal(gorilla_iter_seek(&it, INT64_MIN), 0); /* stays at the end */
            assert_int_equal(gorilla_iter_next(&it), 0);
            continue;
        }
        assert_int_equal(rc, 1);
        int64_t t;
        uint64_t v;
        gorilla_iter_at_bits(&it, &t, &v);
        assert_true(t == s.t[cases[c].want_idx] && v == s.v[cases[c].want_idx]);
        /* Seeking to an earlier or equal time stays put; next moves on. */
        assert_int_equal(gorilla_iter_seek(&it, INT64_MIN), 1);
        assert_int_equal(gorilla_iter_seek(&it, t), 1);
        gorilla_iter_at_bits(&it, &t, &v);
        assert_true(t == s.t[cases[c].want_idx]);
        rc = gorilla_iter_next(&it);
        if (cases[c].want_idx == 99) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, 1);
            gorilla_iter_at_bits(&it, &t, &v);
            assert_true(t == s.t[cases[c].want_idx + 1]);
        }
    }
    /* Seek forward in steps through a batch-read iterator too. */
    struct gorilla_iter it;
    gorilla_iter_init(&it, chunk, len);
    int64_t bt[7];
    double bv[7];
    assert_int_equal(gorilla_iter_next_batch(&it, bt, bv, 7), 7);
    assert_int_equal(gorilla_iter_seek(&it, 1060), 1); /* the current sample qualifies */
    int64_t t;
    uint64_t v;
    gorilla_iter_at_bits(&it, &t, &v);
    assert_true(t == 1060);
    assert_int_equal(gorilla_iter_seek(&it, 1065), 1);
    gorilla_iter_at_bits(&it, &t, &v);
    assert_true(t == 1070);
    assert_int_equal(gorilla_iter_seek(&it, 1555), 1);
    gorilla_iter_at_bits(&it, &t, &v);
    assert_true(t == 1560);
    free(chunk);
    samples_free(&s);
}

/* ---- damaged input ---- */

/* Every prefix of a valid chunk yields a prefix of its samples and then an error. */
static void check_truncations(const struct samples *s)
{
    size_t len, n;
    uint8_t *chunk = encode(s, &len);
    struct samples got = samples_alloc(s->n + 1);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *part = malloc(cut ? cut : 1); /* exact size, so ASan sees any over-read */
        memcpy(part, chunk, cut);
        int rc = decode_next(part, cut, got.t, got.v, s->n + 1, &n);
        assert_int_equal(rc, ERR_TRUNCATED);
        assert_true(n < s->n);
        assert_memory_equal(got.t, s->t, n * sizeof(int64_t));
        assert_memory_equal(got.v, s->v, n * sizeof(uint64_t));
        size_t nb;
        int rb = decode_batch(part, cut, got.t, got.v, s->n, 16, &nb);
        assert_int_equal(rb, rc);
        assert_int_equal(nb, n);
        free(part);
    }
    /* Extra bytes after the stream: all samples, then ERR_CORRUPT. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, chunk, len);
    longer[len] = 0;
    assert_int_equal(decode_next(longer, len + 1, got.t, got.v, s->n + 1, &n), ERR_CORRUPT);
    assert_int_equal(n, s->n);
    free(longer);
    samples_free(&got);
    free(chunk);
}

static void test_truncation(void **state)
{
    (void)state;
    struct prop p = prop_begin("gorilla_truncation");
    for (int shape = 0; shape < 6; shape++) {
        size_t n = shape == 0 ? 1 : 1 + (size_t)(prop_next(&p) % 150);
        struct samples s = samples_alloc(n);
        int64_t t = (int64_t)(prop_next(&p) >> 2) - (1ll << 61);
        for (size_t i = 0; i < n; i++) {
            t += 1 + (int64_t)(prop_next(&p) % (shape & 1 ? 20000 : 3));
            s.t[i] = t;
            s.v[i] = shape < 3 ? bits_of((double)(i / 4)) : prop_next(&p);
        }
        check_truncations(&s);
        samples_free(&s);
    }
}

static void test_corrupt(void **state)
{
    (void)state;
    struct gorilla_iter it;
    int64_t t;
    /* Empty-count chunk with extra bytes. */
    uint8_t extra[] = {0, 0, 0};
    assert_int_equal(gorilla_iter_init(&it, extra, 3), ERR_CORRUPT);
    assert_int_equal(gorilla_iter_next(&it), ERR_CORRUPT);
    assert_int_equal(gorilla_iter_err(&it), ERR_CORRUPT);
    /* Too short for the count; varint cut short; overlong varint. */
    uint8_t one[] = {1};
    assert_int_equal(gorilla_iter_init(&it, one, 1), ERR_TRUNCATED);
    assert_int_equal(gorilla_chunk_count(one, 1), ERR_TRUNCATED);
    uint8_t cut_varint[] = {1, 0, 0x80};
    assert_int_equal(gorilla_iter_init(&it, cut_varint, 3), ERR_TRUNCATED);
    assert_int_equal(gorilla_chunk_first_ts(cut_varint, 3, &t), ERR_TRUNCATED);
    uint8_t overlong[] = {1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    assert_int_equal(gorilla_iter_init(&it, overlong, sizeof overlong), ERR_CORRUPT);
    /* A new window wider than 64 bits: lead 31 + sig 64. */
    uint8_t wide[] = {1, 0, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(gorilla_iter_init(&it, wide, sizeof wide), 0);
    assert_int_equal(gorilla_iter_next(&it), ERR_CORRUPT);
    assert_int_equal(gorilla_chunk_last_ts(wide, sizeof wide, &t), ERR_CORRUPT);
    /* Timestamps that do not increase: a dod of -delta makes the next delta 0. */
    {
        struct gorilla_enc e;
        gorilla_enc_init(&e);
        assert_int_equal(gorilla_enc_append(&e, 100, 1.0), 0);
        assert_int_equal(gorilla_enc_append(&e, 110, 1.0), 0);
        uint64_t at = enc_bits(&e) + 2;                        /* the 7 dod bits after '10' */
        assert_int_equal(gorilla_enc_append(&e, 130, 1.0), 0); /* dod +10: '10' 0001010 */
        struct gorilla_snap snap;
        gorilla_enc_snapshot(&e, &snap);
        uint8_t *bad = malloc(snap.len);
        memcpy(bad, snap.data, snap.len);
        /* Rewrite the third sample's dod from +10 to -10: its delta becomes 10 - 10 = 0. */
        int64_t dod = -10;
        for (int b = 0; b < 7; b++) {
            uint64_t bit = at + (uint64_t)b;
            uint8_t mask = (uint8_t)(0x80 >> (bit & 7));
            if (((uint64_t)dod >> (6 - b)) & 1)
                bad[bit >> 3] |= mask;
            else
                bad[bit >> 3] &= (uint8_t)~mask;
        }
        size_t n;
        int64_t ts[4];
        uint64_t vs[4];
        assert_int_equal(decode_next(bad, snap.len, ts, vs, 4, &n), ERR_CORRUPT);
        assert_int_equal(n, 2);
        free(bad);
        gorilla_enc_deinit(&e);
    }
}

/* ---- randomized ---- */

static uint64_t rand_value(struct prop *p, uint64_t prev, int style)
{
    uint64_t r = prop_next(p);
    switch (style) {
    case 0: return prev;                                        /* constant */
    case 1: return (r & 7) ? prev : bits_of((double)(r >> 40)); /* mostly unchanged */
    case 2: return prev ^ (r >> (10 + r % 50));                 /* small xors */
    case 3: return r;                                           /* noise */
    default: {
        static const uint64_t pool[] = {
            0,   0x8000000000000000ull, GORILLA_STALE_NAN_BITS, 0x7ff8000000000000ull,
            0x1, 0x3ff0000000000000ull};
        return (r & 1) ? pool[(r >> 1) % 6] : prev + (r >> 58);
    }
    }
}

static int64_t rand_step(struct prop *p, int64_t last_delta, int style)
{
    uint64_t r = prop_next(p);
    switch (style) {
    case 0: return last_delta;
    case 1: return (r & 15) ? last_delta : last_delta + (int64_t)(r >> 60) - 8;
    case 2: return 1 + (int64_t)(r % 1000000);
    default: return 1 + (int64_t)(r >> (1 + r % 63));
    }
}

static void test_random_roundtrip(void **state)
{
    (void)state;
    struct prop p = prop_begin("gorilla_random_roundtrip");
    for (int iter = 0; iter < 400; iter++) {
        size_t n = (size_t)(prop_next(&p) % (iter % 10 == 0 ? 3000 : 200));
        struct samples s = samples_alloc(n);
        int tstyle = (int)(prop_next(&p) % 4), vstyle = (int)(prop_next(&p) % 5);
        int64_t t = (int64_t)prop_next(&p) >> (prop_next(&p) % 64);
        int64_t delta = 1 + (int64_t)(prop_next(&p) % 60000);
        uint64_t v = prop_next(&p);
        size_t k = 0;
        for (; k < n; k++) {
            int64_t d = rand_step(&p, delta, tstyle);
            if (d <= 0)
                d = 1;
            if (k > 0 && t > INT64_MAX - d)
                break; /* ran out of time range */
            t = k > 0 ? t + d : t;
            delta = d;
            v = rand_value(&p, v, vstyle);
            s.t[k] = t;
            s.v[k] = v;
        }
        s.n = k;
        check_roundtrip(&s);
        samples_free(&s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_dod_buckets),
        cmocka_unit_test(test_extreme_timestamps),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_repeated_values),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_reset_and_steal),
        cmocka_unit_test(test_dirty_buffer),
        cmocka_unit_test(test_open_chunk),
        cmocka_unit_test(test_seek),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_random_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
