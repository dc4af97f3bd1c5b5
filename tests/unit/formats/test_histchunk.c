/* Tests for formats/histchunk: golden bytes, validation rules, randomized round trips of integer,
 * float and custom-bucket histograms with changing layouts, and corrupt/truncated input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/histchunk.h"
#include "tests/unit/prop.h"

/* A histogram with room for random content. */
struct th {
    struct histchunk_hist h;
    struct histchunk_span ps[8], ns[8];
    uint64_t pb[64], nb[64];
    double custom[16];
};

static void th_fix(struct th *t)
{
    t->h.pspans = t->ps;
    t->h.nspans = t->ns;
    t->h.pbuckets = t->pb;
    t->h.nbuckets = t->nb;
    t->h.custom = t->custom;
}

/* {count 5, zero 1, sum 7.5, schema 1, zt 0.001, positive span [0,2] counts 2 2}. */
static void small_hist(struct th *t)
{
    memset(t, 0, sizeof *t);
    th_fix(t);
    t->h.schema = 1;
    t->h.zero_threshold = 0.001;
    t->h.zero_count = 1;
    t->h.count = 5;
    t->h.sum = 7.5;
    t->ps[0] = (struct histchunk_span){0, 2};
    t->h.n_pspans = 1;
    t->pb[0] = 2;
    t->pb[1] = 2;
    t->h.n_pbuckets = 2;
}

static void test_golden(void **state)
{
    (void)state;
    struct th t;
    small_hist(&t);
    struct histchunk_enc e;
    histchunk_enc_init(&e, false);
    assert_int_equal(histchunk_enc_append(&e, 1000, &t.h), 0);
    t.pb[1] = 3;
    t.h.count = 6;
    assert_int_equal(histchunk_enc_append(&e, 16000, &t.h), 0);
    size_t len;
    const uint8_t *b = histchunk_enc_bytes(&e, &len);
    static const uint8_t want[] = {
        0x00, 0x02, 0x00,                                     /* 2 samples, integer */
        0x04, 0xd0, 0x0f,                                     /* layout, t=1000 */
        0x02, 0xfc, 0xa9, 0xf1, 0xd2, 0x4d, 0x62, 0x50, 0x3f, /* schema 1, zt */
        0x01, 0x00, 0x02, 0x00,                               /* spans */
        0x0a, 0x02, 0x26, 0x40, 0x1e,                         /* count, zero, sum 7.5 */
        0x04, 0x00,                                           /* buckets 2 (+2), 2 (+0) */
        0x00, 0x98, 0x75,                                     /* t +15000 */
        0x02, 0x00, 0x00, 0x00, 0x02,                         /* count +1, ..., bucket1 +1 */
    };
    assert_int_equal(len, sizeof want);
    assert_memory_equal(b, want, sizeof want);
    assert_int_equal(histchunk_count(b, len), 2);
    assert_int_equal(histchunk_is_float(b, len), 0);
    int64_t first;
    assert_int_equal(histchunk_first_ts(b, len, &first), 0);
    assert_int_equal(first, 1000);

    struct histchunk_iter it;
    histchunk_iter_init(&it, b, len);
    assert_int_equal(histchunk_iter_next(&it), 1);
    assert_int_equal(histchunk_iter_t(&it), 1000);
    assert_int_equal(histchunk_iter_at(&it)->pbuckets[1], 2);
    assert_int_equal(histchunk_iter_next(&it), 1);
    assert_int_equal(histchunk_iter_t(&it), 16000);
    assert_true(histchunk_hist_eq(histchunk_iter_at(&it), &t.h));
    assert_int_equal(histchunk_iter_next(&it), 0);
    histchunk_iter_deinit(&it);
    histchunk_enc_deinit(&e);
}

static void test_check(void **state)
{
    (void)state;
    struct th t;
    const char *why = NULL;
    small_hist(&t);
    assert_int_equal(histchunk_hist_check(&t.h, false, &why), 0);
    t.h.count = 6; /* count mismatch */
    assert_int_equal(histchunk_hist_check(&t.h, false, &why), ERR_INVALID);
    t.h.sum = NAN; /* with a NaN sum, count may be larger */
    assert_int_equal(histchunk_hist_check(&t.h, false, &why), 0);
    small_hist(&t);
    t.h.n_pbuckets = 1; /* spans need 2 */
    assert_int_equal(histchunk_hist_check(&t.h, false, &why), ERR_INVALID);
    small_hist(&t);
    t.h.schema = 9;
    assert_int_equal(histchunk_hist_check(&t.h, false, &why), ERR_INVALID);
    t.h.schema = -5;
    assert_int_equal(histchunk_hist_check(&t.h, false, &why), ERR_INVALID);
    small_hist(&t);
    t.ps[0] = (struct histchunk_span){-3, 1};
    t.ps[1] = (struct histchunk_span){-1, 1}; /* second span negative */
    t.h.n_pspans = 2;
    assert_int_equal(histchunk_hist_check(&t.h, false, &why), ERR_INVALID);
    small_hist(&t);
    t.pb[0] = histchunk_bits(-1.0);
    t.pb[1] = histchunk_bits(2.0);
    t.h.zero_count = histchunk_bits(1.0);
    t.h.count = histchunk_bits(5.0);
    assert_int_equal(histchunk_hist_check(&t.h, true, &why), ERR_INVALID);
    t.pb[0] = histchunk_bits(2.0);
    assert_int_equal(histchunk_hist_check(&t.h, true, &why), 0);
    /* custom buckets */
    small_hist(&t);
    t.h.schema = HISTCHUNK_SCHEMA_CUSTOM;
    t.h.zero_threshold = 0;
    t.h.zero_count = 0;
    t.h.count = 4;
    t.custom[0] = 1;
    t.custom[1] = 5;
    t.h.n_custom = 2;
    assert_int_equal(histchunk_hist_check(&t.h, false, &why), 0);
    t.custom[1] = 1; /* not ascending */
    assert_int_equal(histchunk_hist_check(&t.h, false, &why), ERR_INVALID);
    t.custom[1] = 5;
    t.ps[0].offset = 2; /* buckets 2..3, only 0..2 exist */
    assert_int_equal(histchunk_hist_check(&t.h, false, &why), ERR_INVALID);
    t.ps[0].offset = 0;
    t.h.zero_count = 1;
    t.h.count = 5;
    assert_int_equal(histchunk_hist_check(&t.h, false, &why), ERR_INVALID);
}

/* A random valid histogram; keeps the layout of *t with probability 3/4 when `keep`. */
static void random_hist(struct prop *p, struct th *t, bool is_float, bool keep)
{
    if (!keep) {
        memset(t, 0, sizeof *t);
        bool custom = prop_next(p) % 5 == 0;
        t->h.schema = custom ? HISTCHUNK_SCHEMA_CUSTOM : (int32_t)(prop_next(p) % 13) - 4;
        t->h.zero_threshold = custom ? 0 : (prop_next(p) % 2 ? 0.001 : 1e-128);
        if (custom) {
            t->h.n_custom = (uint32_t)(prop_next(p) % 16);
            for (uint32_t i = 0; i < t->h.n_custom; i++)
                t->custom[i] = (double)i * 0.5 + 0.25;
        }
        for (int side = 0; side < (custom ? 1 : 2); side++) {
            struct histchunk_span *sp = side ? t->ns : t->ps;
            uint32_t n = (uint32_t)(prop_next(p) % 5), total = 0;
            for (uint32_t i = 0; i < n; i++) {
                sp[i].offset = (int32_t)(prop_next(p) % 4) - (i == 0 && !custom ? 2 : 0);
                sp[i].length = (uint32_t)(prop_next(p) % 4);
                total += sp[i].length;
            }
            if (custom) { /* one span inside the bounds */
                n = 1;
                sp[0].offset = (int32_t)(prop_next(p) % (t->h.n_custom + 1));
                sp[0].length = (uint32_t)(prop_next(p) % (t->h.n_custom + 2 - sp[0].offset));
                total = sp[0].length;
            }
            *(side ? &t->h.n_nspans : &t->h.n_pspans) = n;
            *(side ? &t->h.n_nbuckets : &t->h.n_pbuckets) = total;
        }
    }
    th_fix(t);
    t->h.hint = (uint8_t)(prop_next(p) % 4);
    uint64_t total = 0;
    double ftotal = 0;
    for (uint32_t i = 0; i < t->h.n_pbuckets + t->h.n_nbuckets; i++) {
        uint64_t *w = i < t->h.n_pbuckets ? &t->pb[i] : &t->nb[i - t->h.n_pbuckets];
        uint64_t c = prop_next(p) % (prop_next(p) % 2 ? 10 : 100000);
        double f = (double)c * (prop_next(p) % 2 ? 1.0 : 0.37);
        *w = is_float ? histchunk_bits(f) : c;
        total += c;
        ftotal += f;
    }
    uint64_t zc = t->h.schema == HISTCHUNK_SCHEMA_CUSTOM ? 0 : prop_next(p) % 7;
    t->h.zero_count = is_float ? histchunk_bits((double)zc) : zc;
    t->h.count = is_float ? histchunk_bits(ftotal + (double)zc) : total + zc;
    t->h.sum = prop_next(p) % 10 == 0 ? NAN : prop_unit(p) * 1e6 - 1e3;
}

static void roundtrip(struct prop *p, bool is_float)
{
    enum { N = 200 };
    static struct th hs[N];
    static int64_t ts[N];
    struct histchunk_enc e;
    histchunk_enc_init(&e, is_float);
    uint32_t n = (uint32_t)(prop_next(p) % N) + 1;
    int64_t t = (int64_t)(prop_next(p) % 2000000) - 1000000;
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0) {
            hs[i] = hs[i - 1];
            t += prop_next(p) % 3 ? 15000 : (int64_t)(prop_next(p) % 100000) + 1;
        }
        random_hist(p, &hs[i], is_float, i > 0 && prop_next(p) % 4 != 0);
        ts[i] = t;
        prop_check(p, histchunk_enc_append(&e, t, &hs[i].h) == 0);
        prop_check(p, histchunk_enc_append(&e, t, &hs[i].h) == ERR_ORDER);
    }
    size_t len;
    const uint8_t *b = histchunk_enc_bytes(&e, &len);
    struct histchunk_iter it;
    histchunk_iter_init(&it, b, len);
    for (uint32_t i = 0; i < n; i++) {
        prop_check(p, histchunk_iter_next(&it) == 1);
        prop_check(p, histchunk_iter_t(&it) == ts[i]);
        th_fix(&hs[i]);
        prop_check(p, histchunk_hist_eq(histchunk_iter_at(&it), &hs[i].h));
    }
    prop_check(p, histchunk_iter_next(&it) == 0);
    histchunk_iter_deinit(&it);
    /* every strict prefix of the bytes fails cleanly */
    for (size_t cut = 0; cut < len; cut += 1 + len / 64) {
        histchunk_iter_init(&it, b, cut);
        int rc;
        uint32_t got = 0;
        while ((rc = histchunk_iter_next(&it)) == 1)
            got++;
        prop_check(p, cut == 0 ? rc == 0 : (rc == ERR_TRUNCATED || rc == ERR_CORRUPT));
        prop_check(p, got <= n);
        histchunk_iter_deinit(&it);
    }
    histchunk_enc_deinit(&e);
}

static void test_roundtrip_int(void **state)
{
    (void)state;
    struct prop p = prop_begin("histchunk_roundtrip_int");
    for (int i = 0; i < 200; i++)
        roundtrip(&p, false);
}

static void test_roundtrip_float(void **state)
{
    (void)state;
    struct prop p = prop_begin("histchunk_roundtrip_float");
    for (int i = 0; i < 200; i++)
        roundtrip(&p, true);
}

static void test_corrupt(void **state)
{
    (void)state;
    struct histchunk_iter it;
    static const uint8_t bad_kind[] = {0, 1, 2, 4, 0};
    histchunk_iter_init(&it, bad_kind, sizeof bad_kind);
    assert_int_equal(histchunk_iter_next(&it), ERR_CORRUPT);
    histchunk_iter_deinit(&it);
    static const uint8_t no_layout[] = {0, 1, 0, 0, 0, 0, 0, 0, 0};
    histchunk_iter_init(&it, no_layout, sizeof no_layout);
    assert_int_equal(histchunk_iter_next(&it), ERR_CORRUPT);
    histchunk_iter_deinit(&it);
    static const uint8_t short_hdr[] = {0, 1};
    histchunk_iter_init(&it, short_hdr, sizeof short_hdr);
    assert_int_equal(histchunk_iter_next(&it), ERR_TRUNCATED);
    histchunk_iter_deinit(&it);
    /* a valid one-sample chunk followed by garbage */
    struct th t;
    small_hist(&t);
    struct histchunk_enc e;
    histchunk_enc_init(&e, false);
    assert_int_equal(histchunk_enc_append(&e, 5, &t.h), 0);
    buf_append_u8(&e.b, 0x55);
    size_t len;
    const uint8_t *b = histchunk_enc_bytes(&e, &len);
    histchunk_iter_init(&it, b, len);
    assert_int_equal(histchunk_iter_next(&it), 1);
    assert_int_equal(histchunk_iter_next(&it), ERR_CORRUPT);
    histchunk_iter_deinit(&it);
    /* a count that breaks the sum rule */
    e.b.len--;
    e.b.data[e.b.len - 7] = 0x0c;
    histchunk_iter_init(&it, e.b.data, e.b.len);
    assert_int_equal(histchunk_iter_next(&it), ERR_CORRUPT);
    histchunk_iter_deinit(&it);
    histchunk_enc_deinit(&e);
}

/* Layouts that outgrow the encoder's arrays (the previous sample's copies move). */
static void test_layout_growth(void **state)
{
    (void)state;
    static struct histchunk_span sp[40];
    static uint64_t b[40];
    struct histchunk_enc e;
    histchunk_enc_init(&e, false);
    for (uint32_t n = 1; n <= 40; n += 13) {
        for (uint32_t i = 0; i < n; i++) {
            sp[i] = (struct histchunk_span){i ? 1 : -5, 1};
            b[i] = i;
        }
        struct histchunk_hist h = {.schema = 3,
                                   .count = (uint64_t)n * (n - 1) / 2,
                                   .pspans = sp,
                                   .n_pspans = n,
                                   .pbuckets = b,
                                   .n_pbuckets = n};
        assert_int_equal(histchunk_enc_append(&e, n, &h), 0);
        assert_int_equal(histchunk_enc_append(&e, n + 1, &h), 0);
    }
    size_t len;
    const uint8_t *data = histchunk_enc_bytes(&e, &len);
    struct histchunk_iter it;
    histchunk_iter_init(&it, data, len);
    int got = 0;
    while (histchunk_iter_next(&it) == 1)
        got++;
    assert_int_equal(histchunk_iter_err(&it), 0);
    assert_int_equal(got, 8);
    assert_int_equal(histchunk_iter_at(&it)->n_pspans, 40);
    histchunk_iter_deinit(&it);
    histchunk_enc_deinit(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),        cmocka_unit_test(test_check),
        cmocka_unit_test(test_roundtrip_int), cmocka_unit_test(test_roundtrip_float),
        cmocka_unit_test(test_corrupt),       cmocka_unit_test(test_layout_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
