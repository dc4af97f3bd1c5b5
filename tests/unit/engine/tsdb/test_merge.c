/* merge: k-way merge of sorted sets (union of label sets, chunks of equal label sets combined and
 * sorted by mint), chunk pass-through without re-encoding, the overlap re-encoder (pass-through of
 * isolated chunks, transitive overlap groups, first input wins on equal timestamps, <= 120
 * samples per chunk, stale NaN kept bit for bit) checked against a brute-force merge on random
 * chunks, and error propagation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/tsdb/merge.h"
#include "tests/unit/engine/tsdb/test_block_util.h"
#include "tests/unit/prop.h"

static uint64_t bits(double x)
{
    uint64_t b;
    memcpy(&b, &x, 8);
    return b;
}

/* One chunk with samples at ts[] and values val (constant) */
static void chunk_at(struct tb_series *s, const int64_t *ts, size_t n, double val)
{
    uint64_t v[256];
    for (size_t i = 0; i < n; i++)
        v[i] = bits(val);
    tb_chunk(s, ts, v, n);
}

static void test_merge_sets(void **state)
{
    (void)state;
    struct tb_data a = {0}, b = {0}, c = {0};
    int64_t t1[] = {0, 10, 20}, t2[] = {15, 25}, t3[] = {5}, t4[] = {100};
    chunk_at(tb_add(&a, "__name__=x,job=1"), t1, 3, 1);
    chunk_at(tb_add(&a, "__name__=y"), t4, 1, 1);
    chunk_at(tb_add(&b, "__name__=x,job=1"), t2, 2, 2);
    chunk_at(tb_add(&b, "__name__=w"), t4, 1, 2);
    chunk_at(tb_add(&c, "__name__=x,job=1"), t3, 1, 3);
    chunk_at(tb_add(&c, "__name__=x,job=1,zone=z"), t3, 1, 3);
    tb_sort(&a);
    tb_sort(&b);
    tb_sort(&c);
    struct chunk_series_set *in[] = {tb_set(&a), tb_set(&b), tb_set(&c)}, *m;
    assert_int_equal(merge_set_create(in, 3, 0, &m), 0);
    const char *want[] = {"w", "x", "x", "y"};
    size_t want_chunks[] = {1, 3, 1, 1};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(chunk_series_set_next(m), 1);
        const struct chunk_series *cs = chunk_series_set_at(m);
        assert_true(str_eq_cstr(cs->labels[0].value, want[i]));
        assert_int_equal(cs->n_chunks, want_chunks[i]);
        if (i == 1) {
            assert_int_equal(cs->n_labels, 2);
            /* sorted by mint: c's (5), a's (0)... -> a(0), c(5), b(15); passed through as is */
            assert_int_equal(cs->chunks[0].mint_ms, 0);
            assert_ptr_equal(cs->chunks[0].data, a.s[0].chunks[0].data);
            assert_int_equal(cs->chunks[1].mint_ms, 5);
            assert_ptr_equal(cs->chunks[1].data, c.s[0].chunks[0].data);
            assert_int_equal(cs->chunks[2].mint_ms, 15);
        }
        if (i == 2)
            assert_int_equal(cs->n_labels, 3);
    }
    assert_int_equal(chunk_series_set_next(m), 0);
    assert_int_equal(chunk_series_set_next(m), 0);
    chunk_series_set_close(m);

    /* re-encoded: one series, samples merged, no overlaps */
    struct chunk_series_set *in2[] = {tb_set(&a), tb_set(&b), tb_set(&c)};
    assert_int_equal(merge_set_create(in2, 3, MERGE_REENCODE, &m), 0);
    struct tb_data got;
    assert_int_equal(tb_collect(m, &got), 0);
    chunk_series_set_close(m);
    assert_int_equal(got.n, 4);
    assert_int_equal(got.s[1].n_chunks, 1);
    int64_t want_ts[] = {0, 5, 10, 15, 20, 25};
    double want_v[] = {1, 3, 1, 2, 1, 2};
    assert_int_equal(got.s[1].n, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(got.s[1].ts[i], want_ts[i]);
        assert_int_equal(got.s[1].v[i], bits(want_v[i]));
    }
    tb_free(&got);
    tb_free(&a);
    tb_free(&b);
    tb_free(&c);
}

static void test_merge_empty_and_errors(void **state)
{
    (void)state;
    struct chunk_series_set *m;
    assert_int_equal(merge_set_create(NULL, 0, MERGE_REENCODE, &m), 0);
    assert_int_equal(chunk_series_set_next(m), 0);
    chunk_series_set_close(m);

    struct tb_data a = {0};
    int64_t t[] = {1, 2};
    chunk_at(tb_add(&a, "a=1"), t, 2, 1);
    chunk_at(tb_add(&a, "a=2"), t, 2, 1);
    chunk_at(tb_add(&a, "a=3"), t, 2, 1);
    tb_sort(&a);
    struct chunk_series_set *bad = tb_set(&a), *good = tb_set(&a);
    ((struct tb_set *)bad)->fail_at = 1;
    ((struct tb_set *)bad)->fail_code = ERR_CORRUPT;
    struct chunk_series_set *in[] = {good, bad};
    assert_int_equal(merge_set_create(in, 2, 0, &m), 0);
    assert_int_equal(chunk_series_set_next(m), 1);
    assert_int_equal(chunk_series_set_next(m), ERR_CORRUPT);
    assert_int_equal(chunk_series_set_err(m), ERR_CORRUPT);
    assert_int_equal(chunk_series_set_next(m), ERR_CORRUPT);
    chunk_series_set_close(m);
    tb_free(&a);
}

/* ---- re-encoder --------------------------------------------------------------------------------
 */

static void test_reenc_cases(void **state)
{
    (void)state;
    struct tb_data d = {0};
    struct tb_series *s = tb_add(&d, "a=b");
    int64_t c0[] = {0, 10, 20}, c1[] = {30, 40}, c2[] = {35, 50, 60}, c3[] = {55, 70}, c4[] = {100};
    chunk_at(s, c0, 3, 1); /* isolated */
    chunk_at(s, c1, 2, 2); /* c1, c2, c3 overlap transitively */
    chunk_at(s, c2, 3, 3);
    chunk_at(s, c3, 2, 4);
    chunk_at(s, c4, 1, 5); /* isolated */
    struct merge_reenc r;
    merge_reenc_init(&r);
    const struct chunk_meta *out;
    size_t n;
    assert_int_equal(merge_reenc_run(&r, s->chunks, NULL, 5, &out, &n), 0);
    assert_int_equal(n, 3);
    assert_ptr_equal(out[0].data, s->chunks[0].data);
    assert_ptr_equal(out[2].data, s->chunks[4].data);
    assert_int_equal(out[1].mint_ms, 30);
    assert_int_equal(out[1].maxt_ms, 70);
    assert_int_equal(out[1].samples, 7);
    int64_t *ts;
    uint64_t *v;
    size_t k;
    assert_int_equal(tb_decode(&out[1], 1, &ts, &v, &k), 0);
    int64_t want_ts[] = {30, 35, 40, 50, 55, 60, 70};
    double want_v[] = {2, 3, 2, 3, 4, 3, 4};
    assert_int_equal(k, 7);
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(ts[i], want_ts[i]);
        assert_int_equal(v[i], bits(want_v[i]));
    }
    free(ts);
    free(v);

    /* equal timestamps: list order wins, unless a priority says otherwise */
    struct tb_series *t = tb_add(&d, "a=c");
    int64_t e0[] = {0, 10}, e1[] = {0, 10, 20};
    chunk_at(t, e0, 2, 7);
    chunk_at(t, e1, 3, 8);
    assert_int_equal(merge_reenc_run(&r, t->chunks, NULL, 2, &out, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(tb_decode(out, 1, &ts, &v, &k), 0);
    assert_int_equal(k, 3);
    assert_int_equal(v[0], bits(7));
    assert_int_equal(v[1], bits(7));
    assert_int_equal(v[2], bits(8));
    free(ts);
    free(v);
    uint32_t prio[] = {1, 0};
    assert_int_equal(merge_reenc_run(&r, t->chunks, prio, 2, &out, &n), 0);
    assert_int_equal(tb_decode(out, 1, &ts, &v, &k), 0);
    assert_int_equal(v[0], bits(8));
    assert_int_equal(v[1], bits(8));
    free(ts);
    free(v);

    /* a non-float chunk in an overlap (histogram chunks are passed through), and a chunk that
     * does not decode */
    struct chunk_meta bad[2] = {t->chunks[0], t->chunks[1]};
    bad[1].encoding = CHUNK_LOG;
    assert_int_equal(merge_reenc_run(&r, bad, NULL, 2, &out, &n), ERR_UNSUPPORTED);
    bad[1] = t->chunks[1];
    bad[1].len = 3;
    assert_true(merge_reenc_run(&r, bad, NULL, 2, &out, &n) < 0);
    merge_reenc_deinit(&r);
    tb_free(&d);
}

/* Random overlapping chunks of one series vs a brute-force merge (tb_decode: list order wins). */
static void test_reenc_random(void **state)
{
    (void)state;
    struct prop p = prop_begin("merge_reenc_vs_brute_force");
    struct merge_reenc r;
    merge_reenc_init(&r);
    for (int iter = 0; iter < 300; iter++) {
        struct tb_data d = {0};
        struct tb_series *s = tb_add(&d, "a=b");
        size_t nc = 1 + prop_next(&p) % 8;
        int64_t mint = (int64_t)(prop_next(&p) % 1000);
        for (size_t c = 0; c < nc; c++) {
            int64_t ts[250];
            uint64_t v[250];
            size_t n = 1 + prop_next(&p) % 250;
            int64_t t = mint + (int64_t)(prop_next(&p) % 50);
            mint = t;
            for (size_t i = 0; i < n; i++) {
                ts[i] = t;
                t += 1 + (int64_t)(prop_next(&p) % 20);
                v[i] = prop_next(&p) % 5 == 0 ? GORILLA_STALE_NAN_BITS : prop_next(&p);
            }
            tb_chunk(s, ts, v, n);
        }
        const struct chunk_meta *out;
        size_t n;
        prop_check(&p, merge_reenc_run(&r, s->chunks, NULL, s->n_chunks, &out, &n) == 0);
        int64_t *wt, *gt;
        uint64_t *wv, *gv;
        size_t wn, gn;
        prop_check(&p, tb_decode(s->chunks, s->n_chunks, &wt, &wv, &wn) == 0);
        prop_check(&p, tb_decode(out, n, &gt, &gv, &gn) == 0);
        prop_check(&p, wn == gn);
        prop_check(&p, memcmp(wt, gt, wn * sizeof *wt) == 0);
        prop_check(&p, memcmp(wv, gv, wn * sizeof *wv) == 0);
        uint64_t total = 0;
        for (size_t i = 0; i < n; i++) {
            total += out[i].samples;
            prop_check(&p, i == 0 || out[i].mint_ms > out[i - 1].maxt_ms);
            bool passed = false;
            for (size_t c = 0; c < s->n_chunks; c++)
                passed |= out[i].data == s->chunks[c].data;
            prop_check(&p, passed || out[i].samples <= MERGE_CHUNK_SAMPLES);
            int64_t first;
            prop_check(&p, gorilla_chunk_first_ts(out[i].data, out[i].len, &first) == 0 &&
                               first == out[i].mint_ms);
        }
        prop_check(&p, total == wn);
        free(wt);
        free(wv);
        free(gt);
        free(gv);
        tb_free(&d);
    }
    merge_reenc_deinit(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_sets),
        cmocka_unit_test(test_merge_empty_and_errors),
        cmocka_unit_test(test_reenc_cases),
        cmocka_unit_test(test_reenc_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
