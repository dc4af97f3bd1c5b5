/* Tests for the WAL HISTOGRAMS and EXEMPLARS payload codecs (formats/walrec.h): round trips of
 * integer/float/custom histograms and exemplars with and without labels, framing through a
 * segment, truncation and corruption. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "base/error.h"
#include "formats/walrec.h"

static const struct histchunk_span ps[2] = {{-1, 2}, {3, 1}};
static const struct histchunk_span ns[1] = {{0, 1}};
static const uint64_t pb_int[3] = {4, 0, 7};
static const uint64_t nb_int[1] = {2};
static const double custom[2] = {0.1, 1.0};

static struct histchunk_hist int_hist(void)
{
    return (struct histchunk_hist){.schema = 2,
                                   .hint = HISTCHUNK_HINT_NOT_RESET,
                                   .zero_threshold = 1e-3,
                                   .sum = 33.5,
                                   .count = 16,
                                   .zero_count = 3,
                                   .pspans = ps,
                                   .n_pspans = 2,
                                   .nspans = ns,
                                   .n_nspans = 1,
                                   .pbuckets = pb_int,
                                   .n_pbuckets = 3,
                                   .nbuckets = nb_int,
                                   .n_nbuckets = 1};
}

static void test_hists_roundtrip(void **state)
{
    (void)state;
    uint64_t fpb[3], fnb[1];
    for (int i = 0; i < 3; i++)
        fpb[i] = histchunk_bits((double)pb_int[i] / 3);
    fnb[0] = histchunk_bits(0.25);
    struct histchunk_hist hi = int_hist(), hf = int_hist(), hc = {0};
    hf.pbuckets = fpb;
    hf.nbuckets = fnb;
    hf.count = histchunk_bits(100.0);
    hf.zero_count = histchunk_bits(1.5);
    hf.sum = NAN;
    hc.schema = HISTCHUNK_SCHEMA_CUSTOM;
    hc.custom = custom;
    hc.n_custom = 2;
    hc.pspans = ps + 1;
    hc.n_pspans = 0;
    hc.count = 0;
    struct walrec_hist items[3] = {
        {7, 1000, false, &hi}, {3, -5, true, &hf}, {UINT32_MAX, INT64_MAX, false, &hc}};
    struct buf b;
    buf_init(&b);
    assert_int_equal(walrec_hists_encode(&b, items, 3), 0);
    assert_int_equal(walrec_payload_count(b.data, b.len), 3);
    struct walrec_hists_iter it;
    walrec_hists_iter_init(&it, b.data, b.len);
    for (int i = 0; i < 3; i++) {
        assert_true(walrec_hists_iter_next(&it));
        const struct walrec_hist *g = walrec_hists_iter_at(&it);
        assert_int_equal(g->id, items[i].id);
        assert_int_equal(g->ts_ms, items[i].ts_ms);
        assert_int_equal(g->is_float, items[i].is_float);
        assert_true(histchunk_hist_eq(g->h, items[i].h));
    }
    assert_false(walrec_hists_iter_next(&it));
    assert_int_equal(walrec_hists_iter_err(&it), 0);
    walrec_hists_iter_deinit(&it);

    /* every truncation is corrupt, never a crash */
    for (size_t cut = 0; cut < b.len; cut++) {
        walrec_hists_iter_init(&it, b.data, cut);
        while (walrec_hists_iter_next(&it))
            ;
        assert_int_equal(walrec_hists_iter_err(&it), ERR_CORRUPT);
        walrec_hists_iter_deinit(&it);
    }
    /* an invalid histogram inside the item chunk is corrupt */
    b.data[b.len - 1] ^= 0x7f;
    walrec_hists_iter_init(&it, b.data, b.len);
    while (walrec_hists_iter_next(&it))
        ;
    assert_int_equal(walrec_hists_iter_err(&it), ERR_CORRUPT);
    walrec_hists_iter_deinit(&it);
    buf_deinit(&b);
}

static void test_hists_framed(void **state)
{
    (void)state;
    struct histchunk_hist hi = int_hist();
    struct walrec_hist item = {42, 1700000000000, false, &hi};
    struct buf p, seg;
    buf_init(&p);
    buf_init(&seg);
    assert_int_equal(walrec_hists_encode(&p, &item, 1), 0);
    assert_int_equal(walrec_segment_header_append(&seg), 0);
    assert_int_equal(walrec_append(&seg, WALREC_HISTOGRAMS, p.data, p.len, WALREC_COMPRESS), 0);
    struct walrec_reader r;
    struct walrec rec;
    walrec_reader_init(&r, seg.data, seg.len);
    assert_int_equal(walrec_reader_next(&r, &rec), 1);
    assert_int_equal(rec.type, WALREC_HISTOGRAMS);
    assert_string_equal(walrec_type_name(rec.type), "histograms");
    struct walrec_hists_iter it;
    walrec_hists_iter_init(&it, rec.payload, rec.len);
    assert_true(walrec_hists_iter_next(&it));
    assert_int_equal(walrec_hists_iter_at(&it)->id, 42);
    assert_true(histchunk_hist_eq(walrec_hists_iter_at(&it)->h, &hi));
    walrec_hists_iter_deinit(&it);
    assert_int_equal(walrec_reader_next(&r, &rec), 0);
    walrec_reader_deinit(&r);
    buf_deinit(&p);
    buf_deinit(&seg);
}

static void test_exemplars(void **state)
{
    (void)state;
    struct label l[2] = {{STR_LIT("span_id"), STR_LIT("abc")}, {STR_LIT("trace_id"), STR_LIT("")}};
    struct walrec_exemplar items[3] = {
        {1, 100, histchunk_bits(1.5), l, 2},
        {0, -100, 0x7ff0000000000002ull, NULL, 0},
        {9, INT64_MIN, histchunk_bits(-0.0), l, 1},
    };
    struct buf b;
    buf_init(&b);
    assert_int_equal(walrec_exemplars_encode(&b, items, 3), 0);
    assert_int_equal(walrec_payload_count(b.data, b.len), 3);
    struct label buf[4];
    struct walrec_exemplars_iter it;
    walrec_exemplars_iter_init(&it, b.data, b.len, buf, 4);
    for (int i = 0; i < 3; i++) {
        assert_true(walrec_exemplars_iter_next(&it));
        const struct walrec_exemplar *e = walrec_exemplars_iter_at(&it);
        assert_int_equal(e->id, items[i].id);
        assert_int_equal(e->ts_ms, items[i].ts_ms);
        assert_int_equal(e->value_bits, items[i].value_bits);
        assert_int_equal(e->n_labels, items[i].n_labels);
        for (size_t j = 0; j < e->n_labels; j++) {
            assert_true(str_eq(e->labels[j].name, items[i].labels[j].name));
            assert_true(str_eq(e->labels[j].value, items[i].labels[j].value));
        }
    }
    assert_false(walrec_exemplars_iter_next(&it));
    assert_int_equal(walrec_exemplars_iter_err(&it), 0);
    /* too many labels for the caller's buffer */
    walrec_exemplars_iter_init(&it, b.data, b.len, buf, 1);
    assert_false(walrec_exemplars_iter_next(&it));
    assert_int_equal(walrec_exemplars_iter_err(&it), ERR_LIMIT);
    for (size_t cut = 0; cut < b.len; cut++) {
        walrec_exemplars_iter_init(&it, b.data, cut, buf, 4);
        while (walrec_exemplars_iter_next(&it))
            ;
        assert_int_equal(walrec_exemplars_iter_err(&it), ERR_CORRUPT);
    }
    buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hists_roundtrip),
        cmocka_unit_test(test_hists_framed),
        cmocka_unit_test(test_exemplars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
