/* formats/floatpack: golden bytes, special float bit patterns, every read path (next, seek,
 * batches) on randomized shapes (regular, jittered and gappy timestamps; decimal, counter,
 * constant and full-entropy values), size sanity against the shapes it is built for, argument
 * errors, and truncated or corrupted chunks returning errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/floatpack.h"
#include "tests/unit/prop.h"

#define STALE 0x7ff0000000000002ull

static uint64_t bits_of(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

/* Decodes with next/at; returns the final code (0 or an error) and the samples in t/v. */
static int decode_next(const uint8_t *p, size_t len, int64_t *t, uint64_t *v, size_t cap, size_t *n)
{
    struct floatpack_iter it;
    floatpack_iter_init(&it, p, len);
    int rc;
    *n = 0;
    while ((rc = floatpack_iter_next(&it)) == 1) {
        assert_true(*n < cap);
        floatpack_iter_at_bits(&it, &t[*n], &v[*n]);
        if (*n)
            assert_true(t[*n] > t[*n - 1]);
        (*n)++;
    }
    assert_int_equal(floatpack_iter_err(&it), rc);
    assert_int_equal(floatpack_iter_next(&it), rc);
    return rc;
}

static void check_roundtrip(const int64_t *t, const uint64_t *v, size_t n, size_t *len_out)
{
    struct buf b = BUF_INIT;
    assert_int_equal(floatpack_encode(t, v, n, &b), 0);
    assert_int_equal(floatpack_chunk_count(b.data, b.len), (int)n);
    int64_t *dt = malloc((n + 1) * sizeof *dt);
    uint64_t *dv = malloc((n + 1) * sizeof *dv);
    size_t got;
    assert_int_equal(decode_next(b.data, b.len, dt, dv, n + 1, &got), 0);
    assert_int_equal(got, n);
    assert_memory_equal(dt, t, n * sizeof *t);
    assert_memory_equal(dv, v, n * sizeof *v);
    /* batches of several sizes */
    size_t slices[] = {1, 7, 64, 65, 1000};
    for (size_t s = 0; s < sizeof slices / sizeof *slices; s++) {
        struct floatpack_iter it;
        assert_int_equal(floatpack_iter_init(&it, b.data, b.len), 0);
        size_t k = 0;
        int r;
        while ((r = floatpack_iter_next_batch(&it, dt + k, (double *)(void *)(dv + k), slices[s])) >
               0)
            k += (size_t)r;
        assert_int_equal(r, 0);
        assert_int_equal(k, n);
        assert_memory_equal(dt, t, n * sizeof *t);
        assert_memory_equal(dv, v, n * sizeof *v);
    }
    /* seeks to a few targets, including between samples and past the end */
    for (size_t q = 0; q < 8; q++) {
        size_t i = (q * 7919) % n;
        int64_t target = t[i] - (q & 1);
        struct floatpack_iter it;
        floatpack_iter_init(&it, b.data, b.len);
        if (q & 2)
            assert_int_equal(floatpack_iter_next(&it), 1);
        size_t want = 0;
        while (want < n && t[want] < target)
            want++;
        int r = floatpack_iter_seek(&it, target);
        if (want == n && t[0] < target) {
            assert_int_equal(r, 0);
            continue;
        }
        if ((q & 2) && want == 0)
            want = 0;
        assert_int_equal(r, 1);
        int64_t at;
        uint64_t av;
        floatpack_iter_at_bits(&it, &at, &av);
        assert_int_equal(at, t[want]);
        assert_int_equal(av, v[want]);
        assert_int_equal(floatpack_iter_seek(&it, target), 1); /* stays put */
    }
    struct floatpack_iter it;
    floatpack_iter_init(&it, b.data, b.len);
    assert_int_equal(floatpack_iter_seek(&it, t[n - 1] + 1), 0);
    if (len_out)
        *len_out = b.len;
    free(dt);
    free(dv);
    buf_deinit(&b);
}

static void test_golden(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    int64_t t1[] = {1000};
    uint64_t v1[] = {bits_of(1.0)};
    assert_int_equal(floatpack_encode(t1, v1, 1, &b), 0);
    static const uint8_t g1[] = {0x00, 0x01, 0xd0, 0x0f, 0x00, 0x02, 0x01, 0x00, 0x00};
    assert_int_equal(b.len, sizeof g1);
    assert_memory_equal(b.data, g1, sizeof g1);
    buf_reset(&b);
    int64_t t3[] = {0, 1000, 2000};
    uint64_t v3[] = {bits_of(1.0), bits_of(2.0), bits_of(3.0)};
    assert_int_equal(floatpack_encode(t3, v3, 3, &b), 0);
    /* flags, n, t0, d, ts stream {w0}, scale, m0, g, stream {w2: 2,2}, no specials */
    static const uint8_t g3[] = {0x00, 0x03, 0x00, 0xd0, 0x0f, 0x01, 0x00,
                                 0x00, 0x02, 0x01, 0x02, 0x02, 0x0a, 0x00};
    assert_int_equal(b.len, sizeof g3);
    assert_memory_equal(b.data, g3, sizeof g3);
    buf_deinit(&b);
}

static void test_special_values(void **state)
{
    (void)state;
    uint64_t sp[] = {STALE,
                     0x8000000000000000ull, /* -0.0 */
                     0x7ff0000000000000ull, /* +Inf */
                     0xfff0000000000000ull, /* -Inf */
                     0x7ff8000000000001ull, /* NaN with payload */
                     0xfff8dead0000beefull,
                     0x0000000000000001ull, /* smallest denormal */
                     bits_of(0.1),
                     bits_of(1e300),
                     bits_of(-123.45),
                     0};
    size_t ns = sizeof sp / sizeof *sp;
    int64_t t[200];
    uint64_t v[200];
    /* specials alone, and sprinkled into decimal series (so they become exceptions) */
    for (size_t i = 0; i < ns; i++) {
        t[i] = (int64_t)i * 15000;
        v[i] = sp[i];
    }
    check_roundtrip(t, sp, ns, NULL);
    for (size_t i = 0; i < 200; i++) {
        t[i] = 1700000000000 + (int64_t)i * 15000;
        v[i] = bits_of((double)(i * 3) / 100);
        if (i % 37 == 5)
            v[i] = sp[i % ns];
    }
    check_roundtrip(t, v, 200, NULL);
    v[0] = STALE;
    v[199] = STALE;
    check_roundtrip(t, v, 200, NULL);
    for (size_t i = 0; i < 200; i++)
        v[i] = STALE;
    check_roundtrip(t, v, 200, NULL);
}

/* Timestamps: regular, jittered, with gaps, irregular, extreme. */
static void gen_ts(struct prop *p, int64_t *t, size_t n, int kind)
{
    int64_t d = (int64_t)(prop_next(p) % 4 == 0 ? 1000 : 15000);
    t[0] = kind == 4 ? INT64_MIN + 5 : 1700000000000 + (int64_t)(prop_next(p) % 100000);
    for (size_t i = 1; i < n; i++) {
        int64_t step = d;
        switch (kind) {
        case 1: step = d + (int64_t)(prop_next(p) % 21) - 10; break;
        case 2: step = prop_next(p) % 50 == 0 ? d * (int64_t)(1 + prop_next(p) % 20) : d; break;
        case 3: step = 1 + (int64_t)(prop_next(p) % 100000); break;
        case 4: step = (int64_t)(prop_next(p) % ((uint64_t)1 << 50)) + 1; break;
        default: break;
        }
        t[i] = t[i - 1] + step;
    }
}

static void gen_vals(struct prop *p, uint64_t *v, size_t n, int kind)
{
    double scale = (double)(1ull << (prop_next(p) % 4)) == 1 ? 1 : 100;
    int64_t m = (int64_t)(prop_next(p) % 1000000);
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case 0: v[i] = bits_of(42.0); break;
        case 1:
            m += (int64_t)(prop_next(p) % 200);
            v[i] = bits_of((double)m / scale);
            break;
        case 2:
            m += (int64_t)(prop_next(p) % 9) - 4;
            v[i] = bits_of((double)m / 100);
            break;
        case 3: v[i] = prop_next(p); break;
        case 4:
            m += 4096 * (int64_t)(prop_next(p) % 5);
            v[i] = bits_of((double)m);
            break;
        case 5: v[i] = bits_of(prop_unit(p) * 1e-3); break;
        default:
            m += 250;
            v[i] = bits_of((double)m / 1000);
            break;
        }
        if (prop_next(p) % 97 == 0)
            v[i] = prop_next(p) & 1 ? STALE : 0x8000000000000000ull;
    }
}

static void test_random_roundtrip(void **state)
{
    (void)state;
    struct prop p = prop_begin("floatpack_random_roundtrip");
    size_t cap = 5000;
    int64_t *t = malloc(cap * sizeof *t);
    uint64_t *v = malloc(cap * sizeof *v);
    for (int round = 0; round < 300; round++) {
        size_t n = 1 + prop_next(&p) % (round % 10 == 0 ? cap : 300);
        gen_ts(&p, t, n, (int)(prop_next(&p) % 5));
        gen_vals(&p, v, n, (int)(prop_next(&p) % 7));
        check_roundtrip(t, v, n, NULL);
    }
    free(t);
    free(v);
}

static void test_max_and_sizes(void **state)
{
    (void)state;
    size_t n = FLOATPACK_SAMPLES_MAX;
    int64_t *t = malloc(n * sizeof *t);
    uint64_t *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        t[i] = 1700000000000 + (int64_t)i * 1000;
        v[i] = bits_of(7.0);
    }
    size_t len;
    check_roundtrip(t, v, n, &len);
    /* regular timestamps and a constant: about two bytes per 64-sample frame pair */
    assert_true(len < n / 64 * 2 + 64);
    /* cpu seconds with 2 decimals, rising ~1.0/s with jitter: well under a byte per sample */
    struct prop p = prop_begin("floatpack_sizes");
    int64_t m = 123456;
    for (size_t i = 0; i < 7200; i++) {
        m += 95 + (int64_t)(prop_next(&p) % 10);
        v[i] = bits_of((double)m / 100);
    }
    check_roundtrip(t, v, 7200, &len);
    assert_true(len < 7200 * 6 / 8);
    struct buf b = BUF_INIT;
    assert_int_equal(floatpack_encode(t, v, FLOATPACK_SAMPLES_MAX + 1, &b), ERR_INVALID);
    assert_int_equal(floatpack_encode(t, v, 0, &b), ERR_INVALID);
    t[5] = t[4];
    assert_int_equal(floatpack_encode(t, v, 10, &b), ERR_INVALID);
    assert_int_equal(b.len, 0);
    buf_deinit(&b);
    free(t);
    free(v);
}

static void expect_error(const uint8_t *p, size_t len)
{
    static int64_t t[70000];
    static uint64_t v[70000];
    size_t n;
    int rc = decode_next(p, len, t, v, 70000, &n);
    assert_true(rc == ERR_TRUNCATED || rc == ERR_CORRUPT);
}

static void test_truncated_and_corrupt(void **state)
{
    (void)state;
    struct prop p = prop_begin("floatpack_corrupt");
    int64_t t[300];
    uint64_t v[300];
    for (int kind = 0; kind < 7; kind++) {
        gen_ts(&p, t, 300, kind % 5);
        gen_vals(&p, v, 300, kind);
        struct buf b = BUF_INIT;
        assert_int_equal(floatpack_encode(t, v, 300, &b), 0);
        for (size_t cut = 0; cut < b.len; cut++)
            expect_error(b.data, cut);
        uint8_t *x = malloc(b.len + 1);
        memcpy(x, b.data, b.len);
        x[b.len] = 0;
        expect_error(x, b.len + 1); /* trailing byte */
        memcpy(x, b.data, b.len);
        x[0] |= 0x30; /* unknown flag bits */
        expect_error(x, b.len);
        /* random byte flips: an error or some samples, never a crash */
        for (int f = 0; f < 200; f++) {
            memcpy(x, b.data, b.len);
            x[prop_next(&p) % b.len] ^= (uint8_t)(1 + prop_next(&p) % 255);
            static int64_t dt[FLOATPACK_SAMPLES_MAX + 1];
            static uint64_t dv[FLOATPACK_SAMPLES_MAX + 1];
            size_t n;
            (void)decode_next(x, b.len, dt, dv, FLOATPACK_SAMPLES_MAX + 1, &n);
        }
        free(x);
        buf_deinit(&b);
    }
    /* hand-made: interval -1000 with zero residuals is a non-increasing timestamp */
    static const uint8_t back[] = {0x00, 0x02, 0x00, 0xcf, 0x0f, 0x01, 0x00,
                                   0x00, 0x02, 0x01, 0x01, 0x00, 0x00};
    expect_error(back, sizeof back);
    static const uint8_t zero_n[] = {0x00, 0x00, 0x00};
    assert_int_equal(floatpack_chunk_count(zero_n, sizeof zero_n), ERR_CORRUPT);
    expect_error(zero_n, sizeof zero_n);
    struct floatpack_iter it;
    assert_int_equal(floatpack_iter_init(&it, NULL, 0), ERR_TRUNCATED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_random_roundtrip),
        cmocka_unit_test(test_max_and_sizes),
        cmocka_unit_test(test_truncated_and_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
