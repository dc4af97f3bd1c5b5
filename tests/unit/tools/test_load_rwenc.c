/* strata-load's direct remote-write encoders write exactly the bytes of rw1_encode and rw2_encode
 * (protobuf-c) for random series: empty and long strings, zero, negative zero, NaN and stale-marker
 * values, zero and negative timestamps, series without labels or samples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/prop.h"
#include "tools/strata-load/rwenc.c"

static char pool[4096];

static struct str rand_str(struct prop *p)
{
    uint64_t r = prop_next(p);
    size_t len = r % 4 == 0 ? 0 : r % 4 == 1 ? 1 + r % 20 : (r >> 8) % 300;
    size_t off = (r >> 20) % (sizeof pool - len);
    return (struct str){pool + off, len};
}

static double rand_value(struct prop *p)
{
    uint64_t stale = 0x7ff0000000000002ull;
    double d;
    switch (prop_next(p) % 7) {
    case 0: return 0;
    case 1: return -0.0;
    case 2: return NAN;
    case 3: memcpy(&d, &stale, 8); return d;
    case 4: return (double)(int64_t)prop_next(p);
    case 5: return INFINITY;
    default: return prop_unit(p) * 1e6;
    }
}

static int64_t rand_ts(struct prop *p)
{
    switch (prop_next(p) % 4) {
    case 0: return 0;
    case 1: return -(int64_t)(prop_next(p) % 1000000);
    case 2: return (int64_t)(prop_next(p) >> 1);
    default: return 1700000000000LL + (int64_t)(prop_next(p) % 100000000);
    }
}

static void test_same_bytes_as_protobuf_c(void **state)
{
    struct prop p = prop_begin("rwenc");
    for (size_t i = 0; i < sizeof pool; i++)
        pool[i] = (char)(' ' + prop_next(&p) % 95);
    struct buf a = BUF_INIT, b = BUF_INIT;
    struct ld_rw2_enc enc;
    ld_rw2_enc_init(&enc);
    for (int round = 0; round < 300; round++) {
        size_t n = prop_next(&p) % 40;
        struct rw_series *s = calloc(n ? n : 1, sizeof *s);
        for (size_t i = 0; i < n; i++) {
            size_t nl = prop_next(&p) % 9, ns = prop_next(&p) % 6;
            struct label *ls = calloc(nl ? nl : 1, sizeof *ls);
            struct rw_sample *sm = calloc(ns ? ns : 1, sizeof *sm);
            for (size_t k = 0; k < nl; k++)
                ls[k] = (struct label){rand_str(&p), rand_str(&p)};
            for (size_t k = 0; k < ns; k++)
                sm[k] = (struct rw_sample){rand_ts(&p), rand_value(&p)};
            s[i] = (struct rw_series){ls, nl, sm, ns};
        }
        buf_reset(&a);
        buf_reset(&b);
        assert_int_equal(rw1_encode(s, n, &a), 0);
        assert_int_equal(ld_rw1_encode(s, n, &b), 0);
        prop_check(&p, a.len == b.len);
        prop_check(&p, a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
        buf_reset(&a);
        buf_reset(&b);
        assert_int_equal(rw2_encode(s, n, &a), 0);
        assert_int_equal(ld_rw2_encode(&enc, s, n, &b), 0); /* the table is reused across calls */
        prop_check(&p, a.len == b.len);
        prop_check(&p, a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
        for (size_t i = 0; i < n; i++) {
            free((void *)s[i].labels);
            free((void *)s[i].samples);
        }
        free(s);
    }
    buf_deinit(&a);
    buf_deinit(&b);
    ld_rw2_enc_deinit(&enc);
}

/* Many distinct symbols: the table grows past its first size and is then reset and reused. */
static void test_rw2_many_symbols(void **state)
{
    enum { N = 3000 };
    static char names[N][16];
    struct label *ls = calloc(N, sizeof *ls);
    struct rw_sample sm = {1700000000000, 2.5};
    struct rw_series *s = calloc(N, sizeof *s);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "v%d", i);
        ls[i] = (struct label){STR_LIT("k"), str_from_cstr(names[i])};
        s[i] = (struct rw_series){&ls[i], 1, &sm, 1};
    }
    struct ld_rw2_enc enc;
    ld_rw2_enc_init(&enc);
    struct buf a = BUF_INIT, b = BUF_INIT;
    for (int round = 0; round < 2; round++) {
        buf_reset(&a);
        buf_reset(&b);
        assert_int_equal(rw2_encode(s, N - round * 1000, &a), 0);
        assert_int_equal(ld_rw2_encode(&enc, s, N - round * 1000, &b), 0);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
    }
    assert_int_equal(enc.n, N - 1000 + 2); /* "", "k" and the values */
    buf_deinit(&a);
    buf_deinit(&b);
    ld_rw2_enc_deinit(&enc);
    free(ls);
    free(s);
}

static void test_golden(void **state)
{
    struct label l[1] = {{STR_LIT("a"), STR_LIT("b")}};
    struct rw_sample sm[1] = {{1000, 1.0}};
    struct rw_series s = {l, 1, sm, 1};
    struct buf out = BUF_INIT;
    assert_int_equal(ld_rw1_encode(&s, 1, &out), 0);
    const uint8_t want[] = {0x0a, 0x16,                                    /* series, 22 bytes */
                            0x0a, 0x06, 0x0a, 0x01, 'a',  0x12, 0x01, 'b', /* label a=b */
                            0x12, 0x0c, 0x09, 0,    0,    0,    0,    0,   /* sample: 1.0 */
                            0,    0xf0, 0x3f, 0x10, 0xe8, 0x07};           /* ts 1000 */
    assert_int_equal(out.len, sizeof want);
    assert_memory_equal(out.data, want, sizeof want);
    buf_deinit(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_bytes_as_protobuf_c),
        cmocka_unit_test(test_rw2_many_symbols),
        cmocka_unit_test(test_golden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
