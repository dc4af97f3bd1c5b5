/* engine/store: the pure parts of the shared store cycle and replay driver — the cut decision
 * (range starts, the 1.5-range rule, overflow guard), the checkpoint filters over the alive
 * bitmap, the block list replacement's summary, and the SERIES / LOG_STREAMS item loop with its
 * growing label buffer (items seen again after a grow, malformed payloads, item errors). The
 * state machine itself runs under the tsdb and logstore tests (cut, crash, restart). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"
#include "engine/store/cycle.h"
#include "engine/store/replay.h"

static void test_range_start(void **state)
{
    (void)state;
    assert_int_equal(store_range_start(0, 120), 0);
    assert_int_equal(store_range_start(119, 120), 0);
    assert_int_equal(store_range_start(120, 120), 120);
    assert_int_equal(store_range_start(-1, 120), -120);
    assert_int_equal(store_range_start(-120, 120), -120);
    assert_int_equal(store_range_start(-121, 120), -240);
    assert_int_equal(store_range_start(7200000 * 5 + 3, 7200000), 7200000 * 5);
}

static void test_cut_due(void **state)
{
    (void)state;
    int64_t start = -1;
    /* exactly 1.5 ranges is not more than 1.5 */
    assert_false(store_cut_due(0, 180, 120, &start));
    assert_true(store_cut_due(0, 181, 120, &start));
    assert_int_equal(start, 0);
    assert_true(store_cut_due(130, 400, 120, &start));
    assert_int_equal(start, 120);
    assert_true(store_cut_due(-50, 200, 120, &start));
    assert_int_equal(start, -120);
    /* empty or inverted spans */
    assert_false(store_cut_due(10, 5, 120, &start));
    assert_false(store_cut_due(10, 10, 120, &start));
    /* the span does not overflow; a range that would end past INT64_MAX is never cut */
    assert_false(store_cut_due(INT64_MAX - 100, INT64_MAX, 120, &start));
    assert_true(store_cut_due(-4000000000000000000LL, INT64_MAX, 120, &start));
    assert_true(store_cut_due(INT64_MAX - 119, INT64_MAX, 60, &start));
    assert_true(start <= INT64_MAX - 60 && start > INT64_MAX - 180);
}

static void test_keep(void **state)
{
    (void)state;
    uint64_t words[2] = {0, 0};
    struct store_alive a = {words, 101, 5};
    uint32_t ids[] = {1, 64, 100};
    for (size_t i = 0; i < 3; i++)
        words[ids[i] / 64] |= 1ull << (ids[i] % 64);
    assert_false(store_keep_id(&a, 0));
    assert_true(store_keep_id(&a, 1));
    assert_true(store_keep_id(&a, 64));
    assert_true(store_keep_id(&a, 100));
    assert_false(store_keep_id(&a, 101)); /* past the bitmap: an id born after the cut's view */
    assert_false(store_keep_id(&a, UINT32_MAX));
    assert_false(store_keep_ts_ms(&a, 1, 4));
    assert_true(store_keep_ts_ms(&a, 1, 5));
    assert_false(store_keep_ts_ms(&a, 2, 5));
    assert_false(store_keep_ts_ns(&a, 1, 4999999));
    assert_true(store_keep_ts_ns(&a, 1, 5000000));
    assert_false(store_keep_ts_ns(&a, 0, 5000000));
    a.cut_ms = INT64_MAX; /* saturates: nothing is at or after it but INT64_MAX itself */
    assert_false(store_keep_ts_ns(&a, 1, INT64_MAX - 1));
    assert_true(store_keep_ts_ns(&a, 1, INT64_MAX));
    a.cut_ms = INT64_MIN;
    assert_true(store_keep_ts_ns(&a, 1, INT64_MIN));
    assert_true(store_keep_ts_ms(&a, 64, INT64_MIN));
}

static void test_blocks_replace_empty(void **state)
{
    (void)state;
    struct block **cur = malloc(sizeof *cur);
    size_t n = 0;
    struct store_blocks_sum sum;
    store_blocks_replace(&cur, &n, NULL, 0, &sum);
    assert_null(cur);
    assert_int_equal(n, 0);
    assert_int_equal(sum.bytes, 0);
    assert_int_equal(sum.samples, 0);
    assert_int_equal(sum.min_time_ms, INT64_MAX);
    assert_int_equal(sum.max_time_ms, INT64_MIN);
}

/* ---- the series item loop ---- */

struct seen {
    uint32_t ids[16];
    size_t n_labels[16];
    size_t n;
    uint32_t fail_id; /* return ERR_NOMEM at this id (UINT32_MAX: never) */
};

static int on_item(void *arg, const struct walrec_series *s)
{
    struct seen *x = arg;
    if (s->id == x->fail_id)
        return ERR_NOMEM;
    assert_true(x->n < 16);
    x->ids[x->n] = s->id;
    x->n_labels[x->n++] = s->n_labels;
    for (size_t i = 0; i < s->n_labels; i++)
        assert_int_equal(s->labels[i].name.len, 3);
    return 0;
}

/* Items 1 (2 labels), 2 (100 labels), 3 (1 label). */
static void encode_three(struct buf *b, struct label *big)
{
    char(*names)[4] = malloc(100 * sizeof *names);
    for (int i = 0; i < 100; i++) {
        names[i][0] = 'l';
        names[i][1] = (char)('0' + i / 10);
        names[i][2] = (char)('0' + i % 10);
        names[i][3] = 0;
        big[i] = (struct label){{names[i], 3}, STR_LIT("v")};
    }
    struct label small[2] = {{STR_LIT("abc"), STR_LIT("x")}, {STR_LIT("job"), STR_LIT("y")}};
    struct walrec_series items[3] = {{1, small, 2}, {2, big, 100}, {3, small, 1}};
    assert_int_equal(walrec_series_encode(b, items, 3), 0);
    /* the encoder copied the strings: names may go */
    free(names);
}

static void test_replay_series_grows(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    struct label big[100];
    encode_three(&b, big);
    struct walrec rec = {.type = WALREC_SERIES, .payload = b.data, .len = b.len};
    size_t lcap = 2;
    struct label *lbuf = malloc(lcap * sizeof *lbuf);
    uint64_t bad = 0;
    struct seen x = {.fail_id = UINT32_MAX};
    assert_int_equal(store_replay_series(&rec, &lbuf, &lcap, on_item, &x, &bad), 0);
    assert_int_equal(bad, 0);
    assert_true(lcap >= 100);
    /* item 1 before each grow (2 -> 8 -> 32 -> 128), then all three */
    assert_int_equal(x.n, 3 + 3);
    assert_int_equal(x.ids[x.n - 3], 1);
    assert_int_equal(x.ids[x.n - 2], 2);
    assert_int_equal(x.n_labels[x.n - 2], 100);
    assert_int_equal(x.ids[x.n - 1], 3);
    for (size_t i = 0; i < x.n - 3; i++)
        assert_int_equal(x.ids[i], 1);
    free(lbuf);
    buf_deinit(&b);
}

static void test_replay_series_bad_and_errors(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    struct label big[100];
    encode_three(&b, big);
    size_t lcap = 128;
    struct label *lbuf = malloc(lcap * sizeof *lbuf);
    uint64_t bad = 0;
    /* cut short: the items before the cut, then one bad payload */
    struct walrec rec = {.type = WALREC_SERIES, .payload = b.data, .len = b.len - 1};
    struct seen x = {.fail_id = UINT32_MAX};
    assert_int_equal(store_replay_series(&rec, &lbuf, &lcap, on_item, &x, &bad), 0);
    assert_int_equal(bad, 1);
    assert_int_equal(x.n, 2);
    /* garbage */
    uint8_t junk[3] = {0xff, 0xff, 0xff};
    rec = (struct walrec){.type = WALREC_SERIES, .payload = junk, .len = sizeof junk};
    memset(&x, 0, sizeof x);
    x.fail_id = UINT32_MAX;
    assert_int_equal(store_replay_series(&rec, &lbuf, &lcap, on_item, &x, &bad), 0);
    assert_int_equal(bad, 2);
    /* an item's error ends the record and is returned */
    rec = (struct walrec){.type = WALREC_SERIES, .payload = b.data, .len = b.len};
    memset(&x, 0, sizeof x);
    x.fail_id = 2;
    assert_int_equal(store_replay_series(&rec, &lbuf, &lcap, on_item, &x, &bad), ERR_NOMEM);
    assert_int_equal(x.n, 1);
    assert_int_equal(bad, 2);
    free(lbuf);
    buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_start),
        cmocka_unit_test(test_cut_due),
        cmocka_unit_test(test_keep),
        cmocka_unit_test(test_blocks_replace_empty),
        cmocka_unit_test(test_replay_series_grows),
        cmocka_unit_test(test_replay_series_bad_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
