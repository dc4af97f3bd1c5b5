/* engine/tsdb/tsdb: append -> query round trips (stale markers and NaN payloads bit-exact),
 * restart replaying everything acknowledged (twice, with new series in between), the append
 * outcomes (OOO within and beyond the window, OOO disabled, duplicates with the same and another
 * value, series that cannot be created) with Prometheus's reason strings, a mixed batch logging
 * exactly the accepted samples, backpressure refusing a batch atomically (WAL buffer full, disk
 * nearly full, batch too large), bad configuration, and the statistics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_tsdb_util.h"

/* ---- round trip ---- */

static void test_round_trip(void **state)
{
    (void)state;
    struct tt x;
    tt_setup(&x, NULL);
    int64_t t0 = 1700000000000LL;
    tt_append_range(&x, 0, 40, t0, t0 + 200 * 15000, 15000);
    for (uint32_t k = 0; k < 40; k++)
        tt_check_range(x.t, k, t0, t0 + 200 * 15000, 15000);
    /* a sub-range */
    tt_check_range(x.t, 7, t0 + 15000 * 10, t0 + 15000 * 20, 15000);
    /* absent series */
    int64_t ts[4];
    uint64_t vs[4];
    assert_int_equal(tt_read_series(x.t, 99, INT64_MIN, INT64_MAX, ts, vs, 4), -1);
    /* matchers over labels: job=~"j1" selects every third series */
    struct matcher m;
    tt_matcher(&m, MATCHER_RE, "job", "j1");
    struct chunk_series_set *set;
    assert_int_equal(querier_select(x.t, &m, 1, INT64_MIN, INT64_MAX, NULL, &set), 0);
    int n = 0;
    while (chunk_series_set_next(set) == 1) {
        const struct chunk_series *cs = chunk_series_set_at(set);
        assert_true(str_eq_cstr(cs->labels[1].value, "j1"));
        n++;
    }
    assert_int_equal(n, 13);
    chunk_series_set_close(set);
    matcher_deinit(&m);
    struct tsdb_stats st;
    tsdb_stats_get(x.t, &st);
    assert_int_equal(st.samples_accepted_total, 40 * 200);
    assert_int_equal(st.series_created_total, 40);
    assert_int_equal(st.batches_total, 200);
    assert_int_equal(st.head.series, 40);
    assert_true(st.wal.records >= 201);
    tt_teardown(&x);
}

/* NaN payloads, the stale marker, -0.0 and infinities come back bit for bit. */
static void test_bit_exact_values(void **state)
{
    (void)state;
    struct tt x;
    tt_setup(&x, NULL);
    static const uint64_t vals[] = {0x7ff0000000000002ull, 0x7ff8000000000001ull,
                                    0xfff8000000000000ull, 0x8000000000000000ull,
                                    0x7ff0000000000000ull, 0x0000000000000001ull};
    struct tt_series s;
    tt_series_labels(&s, 5);
    struct tsdb_sample smp[6];
    for (int i = 0; i < 6; i++)
        smp[i] = (struct tsdb_sample){1000 + i, vals[i]};
    struct tsdb_series_in in = {s.l, 3, hash_labels(s.l, 3), smp, 6};
    struct tsdb_append_result r;
    assert_int_equal(tsdb_append(x.t, &in, 1, &r, tt_on_ack, &x), 0);
    tt_wait_acks(&x, 1);
    assert_int_equal(r.accepted, 6);
    for (int pass = 0; pass < 2; pass++) {
        int64_t ts[8];
        uint64_t vs[8];
        assert_int_equal(tt_read_series(x.t, 5, 0, 10000, ts, vs, 8), 6);
        for (int i = 0; i < 6; i++) {
            assert_int_equal(ts[i], 1000 + i);
            assert_int_equal(vs[i], vals[i]);
        }
        tt_reopen(&x); /* and again after replay */
    }
    tt_teardown(&x);
}

/* ---- restart ---- */

static void test_restart_replays(void **state)
{
    (void)state;
    struct tt x;
    tt_config(&x.cfg);
    x.cfg.wal.segment_size_bytes = 8192; /* several segments */
    struct tsdb_config cfg = x.cfg;
    tt_setup(&x, &cfg);
    int64_t t0 = 1000000;
    tt_append_range(&x, 0, 30, t0, t0 + 300 * 1000, 1000);
    tt_reopen(&x);
    struct tsdb_stats st;
    tsdb_stats_get(x.t, &st);
    assert_int_equal(st.replay_series, 30);
    assert_int_equal(st.replay_samples, 30 * 300);
    assert_int_equal(st.replay_corrupt_segments, 0);
    for (uint32_t k = 0; k < 30; k++)
        tt_check_range(x.t, k, t0, t0 + 300 * 1000, 1000);
    /* new series and samples after the restart get fresh ids; a second restart sees both */
    tt_append_range(&x, 25, 20, t0 + 300 * 1000, t0 + 400 * 1000, 1000);
    tt_reopen(&x);
    for (uint32_t k = 0; k < 25; k++)
        tt_check_range(x.t, k, t0, t0 + 300 * 1000, 1000);
    for (uint32_t k = 25; k < 30; k++)
        tt_check_range(x.t, k, t0, t0 + 400 * 1000, 1000);
    for (uint32_t k = 30; k < 45; k++)
        tt_check_range(x.t, k, t0 + 300 * 1000, t0 + 400 * 1000, 1000);
    tsdb_stats_get(x.t, &st);
    assert_int_equal(st.replay_series, 45);
    assert_int_equal(st.replay_series_conflicts, 0);
    assert_int_equal(st.head.series, 45);
    tt_teardown(&x);
}

/* Damage in a middle WAL segment: replay logs it, counts the loss, and goes on with the next
 * segment, so everything before the damage and after that segment is there. */
static void test_replay_skips_damaged_segment(void **state)
{
    (void)state;
    struct tt x;
    tt_config(&x.cfg);
    x.cfg.wal.segment_size_bytes = 4096;
    struct tsdb_config cfg = x.cfg;
    tt_setup(&x, &cfg);
    tt_append_range(&x, 0, 10, 0, 400 * 1000, 1000);
    tt_close(&x);
    char wal[600], seg[700];
    snprintf(wal, sizeof wal, "%s/wal", x.dir);
    int n = tt_count_entries(wal, "0000");
    if (n < 5)
        fprintf(stderr, "%d segments\n", n);
    assert_true(n >= 5);
    snprintf(seg, sizeof seg, "%s/%08d", wal, n / 2);
    FILE *f = fopen(seg, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_int_equal(fseek(f, size / 3, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, size / 3, SEEK_SET), 0);
    fputc(c ^ 0x10, f);
    fclose(f);
    tt_open(&x);
    struct tsdb_stats st;
    tsdb_stats_get(x.t, &st);
    assert_int_equal(st.replay_corrupt_segments, 1);
    assert_true(st.replay_lost_bytes > 0 && st.replay_lost_bytes < (uint64_t)size);
    assert_true(st.replay_samples < 10 * 400);
    assert_true(st.replay_samples > 10 * 400 / 2);
    for (uint32_t k = 0; k < 10; k++) {
        tt_check_range(x.t, k, 0, 20 * 1000, 1000);           /* the first segments */
        tt_check_range(x.t, k, 380 * 1000, 400 * 1000, 1000); /* the last ones */
    }
    tt_teardown(&x);
}

/* ---- append outcomes ---- */

static struct tsdb_append_result append_one(struct tt *x, uint32_t k, int64_t ts, uint64_t v)
{
    struct tt_series s;
    tt_series_labels(&s, k);
    struct tsdb_sample smp = {ts, v};
    struct tsdb_series_in in = {s.l, 3, hash_labels(s.l, 3), &smp, 1};
    struct tsdb_append_result r;
    int want = x->acks + 1;
    assert_int_equal(tsdb_append(x->t, &in, 1, &r, tt_on_ack, x), 0);
    tt_wait_acks(x, want); /* fires also when nothing was accepted */
    return r;
}

static void test_ooo_window(void **state)
{
    (void)state;
    struct tt x;
    tt_setup(&x, NULL); /* OOO window 10 min */
    int64_t t = 100 * TT_MIN_MS;
    assert_int_equal(append_one(&x, 1, t, tt_value(1, t)).accepted, 1);
    /* within the window: accepted out of order */
    struct tsdb_append_result r = append_one(&x, 1, t - 5 * TT_MIN_MS, tt_value(1, 95 * TT_MIN_MS));
    assert_int_equal(r.accepted, 1);
    assert_int_equal(r.rejected_total, 0);
    assert_int_equal(r.first_reject, -1);
    assert_string_equal(r.reason, "");
    /* beyond it: too old */
    r = append_one(&x, 1, t - 11 * TT_MIN_MS, tt_bits(1.0));
    assert_int_equal(r.accepted, 0);
    assert_int_equal(r.rejected[TSDB_REJECT_TOO_OLD], 1);
    assert_int_equal(r.first_reject, TSDB_REJECT_TOO_OLD);
    assert_string_equal(r.reason, "too old sample for series {__name__=\"tt_metric\", job=\"j1\", "
                                  "k=\"1\"}");
    /* the window is relative to the head's newest sample, also for another series */
    r = append_one(&x, 2, t - 9 * TT_MIN_MS, tt_value(2, 91 * TT_MIN_MS));
    assert_int_equal(r.accepted, 1);
    assert_int_equal(r.series_created, 1);
    int64_t ts[4];
    uint64_t vs[4];
    assert_int_equal(tt_read_series(x.t, 1, 0, INT64_MAX, ts, vs, 4), 2);
    assert_int_equal(ts[0], 95 * TT_MIN_MS);
    assert_int_equal(vs[0], tt_value(1, 95 * TT_MIN_MS));
    assert_int_equal(ts[1], t);
    /* the OOO sample survives a restart */
    tt_reopen(&x);
    assert_int_equal(tt_read_series(x.t, 1, 0, INT64_MAX, ts, vs, 4), 2);
    assert_int_equal(ts[0], 95 * TT_MIN_MS);
    struct tsdb_stats st;
    tsdb_stats_get(x.t, &st);
    assert_int_equal(st.replay_samples, 3); /* the too-old one was never logged */
    tt_teardown(&x);
}

static void test_ooo_disabled(void **state)
{
    (void)state;
    struct tt x;
    tt_config(&x.cfg);
    x.cfg.ooo_window_ms = 0;
    struct tsdb_config cfg = x.cfg;
    tt_setup(&x, &cfg);
    assert_int_equal(append_one(&x, 3, 5000, tt_bits(1)).accepted, 1);
    struct tsdb_append_result r = append_one(&x, 3, 4000, tt_bits(2));
    assert_int_equal(r.rejected[TSDB_REJECT_OUT_OF_ORDER], 1);
    assert_string_equal(r.reason, "out of order sample for series {__name__=\"tt_metric\", "
                                  "job=\"j0\", k=\"3\"}");
    struct tsdb_stats st;
    tsdb_stats_get(x.t, &st);
    assert_int_equal(st.samples_rejected_total[TSDB_REJECT_OUT_OF_ORDER], 1);
    assert_int_equal(st.samples_accepted_total, 1);
    tt_teardown(&x);
}

static void test_duplicates(void **state)
{
    (void)state;
    struct tt x;
    tt_setup(&x, NULL);
    uint64_t stale = 0x7ff0000000000002ull;
    assert_int_equal(append_one(&x, 4, 1000, stale).accepted, 1);
    /* the same sample again: dropped silently (not an error) */
    struct tsdb_append_result r = append_one(&x, 4, 1000, stale);
    assert_int_equal(r.accepted, 0);
    assert_int_equal(r.duplicates, 1);
    assert_int_equal(r.rejected_total, 0);
    /* another NaN payload at the same timestamp is another value */
    r = append_one(&x, 4, 1000, 0x7ff8000000000000ull);
    assert_int_equal(r.rejected[TSDB_REJECT_DUPLICATE], 1);
    assert_string_equal(r.reason, "duplicate sample for timestamp for series "
                                  "{__name__=\"tt_metric\", job=\"j1\", k=\"4\"}");
    /* an OOO duplicate */
    assert_int_equal(append_one(&x, 4, 2000, tt_bits(2)).accepted, 1);
    assert_int_equal(append_one(&x, 4, 1500, tt_bits(1.5)).accepted, 1);
    assert_int_equal(append_one(&x, 4, 1500, tt_bits(1.5)).duplicates, 1);
    assert_int_equal(append_one(&x, 4, 1500, tt_bits(1.25)).rejected[TSDB_REJECT_DUPLICATE], 1);
    tt_reopen(&x);
    int64_t ts[8];
    uint64_t vs[8];
    assert_int_equal(tt_read_series(x.t, 4, 0, INT64_MAX, ts, vs, 8), 3);
    assert_int_equal(vs[0], stale);
    assert_int_equal(ts[1], 1500);
    assert_int_equal(vs[1], tt_bits(1.5));
    tt_teardown(&x);
}

/* Reasons quote values like Go does and leave the tenant out. */
static void test_reason_format(void **state)
{
    (void)state;
    struct tt x;
    tt_setup(&x, NULL);
    struct label l[3] = {{STR_LIT("__name__"), STR_LIT("m")},
                         {STR_LIT("__tenant__"), STR_LIT("acme")},
                         {STR_LIT("v"), STR_LIT("a\"b\\c\n\x01")}};
    struct tsdb_sample s[3] = {{5000, tt_bits(1)}, {5000, tt_bits(2)}, {6000, tt_bits(3)}};
    struct tsdb_series_in in = {l, 3, hash_labels(l, 3), s, 3};
    struct tsdb_append_result r;
    assert_int_equal(tsdb_append(x.t, &in, 1, &r, tt_on_ack, &x), 0);
    assert_int_equal(r.accepted, 2);
    assert_int_equal(r.rejected[TSDB_REJECT_DUPLICATE], 1);
    assert_string_equal(r.reason, "duplicate sample for timestamp for series {__name__=\"m\", "
                                  "v=\"a\\\"b\\\\c\\n\\x01\"}");
    assert_string_equal(tsdb_reject_str(TSDB_REJECT_OUT_OF_BOUNDS), "out of bounds");
    /* a very long label set is cut with "..." */
    static char big[3000];
    memset(big, 'x', sizeof big - 1);
    struct label lb[2] = {{STR_LIT("__name__"), STR_LIT("m")}, {STR_LIT("big"), {big, 2999}}};
    struct tsdb_sample sb[2] = {{100, tt_bits(1)}, {100, tt_bits(2)}};
    struct tsdb_series_in inb = {lb, 2, hash_labels(lb, 2), sb, 2};
    assert_int_equal(tsdb_append(x.t, &inb, 1, &r, tt_on_ack, &x), 0);
    assert_int_equal(r.rejected_total, 1);
    assert_int_equal(strlen(r.reason), TSDB_REASON_MAX - 1);
    assert_memory_equal(r.reason + TSDB_REASON_MAX - 4, "...", 3);
    const char *head = "duplicate sample for timestamp for series {__name__=\"m\", big=\"xxx";
    assert_memory_equal(r.reason, head, strlen(head));
    tt_wait_acks(&x, 2);
    tt_teardown(&x);
}

/* A batch where some samples are rejected logs exactly the accepted ones: after a restart the
 * head holds the same as before. */
static void test_mixed_batch_logs_accepted(void **state)
{
    (void)state;
    struct tt x;
    tt_setup(&x, NULL);
    int64_t ts1[] = {10000, 20000, 30000};
    tt_append(&x, 0, 5, ts1, 3);
    /* series 0..4 get 30000 again with other values (rejected), 40000 (accepted); series 5..9
     * are new */
    struct tt_batch b;
    int64_t ts2[] = {30000, 40000};
    tt_batch_make(&b, 0, 10, ts2, 2);
    for (size_t i = 0; i < 5; i++)
        b.s[i * 2].v_bits ^= 1;
    struct tsdb_append_result r;
    assert_int_equal(tsdb_append(x.t, b.in, b.n, &r, tt_on_ack, &x), 0);
    tt_wait_acks(&x, 2);
    assert_int_equal(r.accepted, 15);
    assert_int_equal(r.rejected[TSDB_REJECT_DUPLICATE], 5);
    assert_int_equal(r.series_created, 5);
    assert_true(strstr(r.reason, "k=\"0\"") != NULL); /* the first one */
    tt_batch_free(&b);
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t k = 0; k < 5; k++)
            tt_check_range(x.t, k, 10000, 50000, 10000);
        for (uint32_t k = 5; k < 10; k++)
            tt_check_range(x.t, k, 30000, 50000, 10000);
        tt_reopen(&x);
    }
    struct tsdb_stats st;
    tsdb_stats_get(x.t, &st);
    assert_int_equal(st.replay_samples, 15 + 15);
    tt_teardown(&x);
}

/* A label set too large for the head is rejected for that series only. */
static void test_series_rejected(void **state)
{
    (void)state;
    struct tt x;
    tt_setup(&x, NULL);
    enum { NL = 20000 };
    struct label *l = calloc(NL, sizeof *l);
    char *names = calloc(NL, 8);
    for (size_t i = 0; i < NL; i++) {
        snprintf(names + i * 8, 8, "l%05zu", i);
        l[i] = (struct label){{names + i * 8, 6}, {names + i * 8, 6}};
    }
    struct tt_series ok;
    tt_series_labels(&ok, 1);
    struct tsdb_sample s[2] = {{1000, tt_bits(1)}, {2000, tt_bits(2)}};
    struct tsdb_series_in in[2] = {{l, NL, hash_labels(l, NL), s, 2},
                                   {ok.l, 3, hash_labels(ok.l, 3), s, 2}};
    struct tsdb_append_result r;
    assert_int_equal(tsdb_append(x.t, in, 2, &r, tt_on_ack, &x), 0);
    tt_wait_acks(&x, 1);
    assert_int_equal(r.accepted, 2);
    assert_int_equal(r.rejected[TSDB_REJECT_SERIES], 2);
    assert_int_equal(r.first_reject, TSDB_REJECT_SERIES);
    assert_true(strncmp(r.reason, "series could not be created for series {l00000=", 47) == 0);
    free(l);
    free(names);
    tt_teardown(&x);
}

/* ---- backpressure ---- */

static uint64_t head_samples(struct tt *x)
{
    struct tsdb_stats st;
    tsdb_stats_get(x->t, &st);
    return st.head.samples_appended_total;
}

static void test_backpressure_full(void **state)
{
    (void)state;
    struct tt x;
    tt_config(&x.cfg);
    x.cfg.wal.pending_bytes_max = 4096;
    struct tsdb_config cfg = x.cfg;
    tt_setup(&x, &cfg);
    /* append without running the loop: nothing is written, the buffer fills */
    int accepted = 0, rc = 0;
    struct tt_batch b[64];
    for (int i = 0; i < 64 && rc == 0; i++) {
        int64_t ts = 1000 + i;
        tt_batch_make(&b[i], (uint32_t)i * 10, 10, &ts, 1);
        struct tsdb_append_result r;
        uint64_t before = head_samples(&x);
        uint64_t series_before = head_series_count(tsdb_head(x.t));
        rc = tsdb_append(x.t, b[i].in, b[i].n, &r, tt_on_ack, &x);
        if (rc == 0) {
            accepted++;
            continue;
        }
        /* refused: nothing applied, nothing created */
        assert_int_equal(rc, ERR_FULL);
        assert_int_equal(head_samples(&x), before);
        assert_int_equal(head_series_count(tsdb_head(x.t)), series_before);
        assert_int_equal(tt_read_series(x.t, (uint32_t)i * 10, INT64_MIN, INT64_MAX, NULL, NULL, 0),
                         -1);
    }
    assert_int_equal(rc, ERR_FULL);
    assert_true(accepted > 2);
    struct tsdb_stats st;
    tsdb_stats_get(x.t, &st);
    assert_int_equal(st.batches_refused_full_total, 1);
    /* once the loop runs, every accepted batch is acknowledged and appends go through again */
    tt_wait_acks(&x, accepted);
    int64_t ts = 1000 + accepted;
    assert_int_equal(tt_append(&x, (uint32_t)accepted * 10, 10, &ts, 1).accepted, 10);
    for (int i = 0; i <= accepted; i++)
        tt_batch_free(&b[i]);
    tt_reopen(&x);
    for (int i = 0; i <= accepted; i++)
        tt_check_range(x.t, (uint32_t)i * 10 + 3, 1000 + i, 1001 + i, 1);
    tt_teardown(&x);
}

static void test_backpressure_disk_and_limit(void **state)
{
    (void)state;
    struct tt x;
    tt_config(&x.cfg);
    x.cfg.wal.free_bytes_min = UINT64_MAX / 4; /* more than any disk has free */
    struct tsdb_config cfg = x.cfg;
    tt_setup(&x, &cfg);
    struct tt_batch b;
    int64_t ts = 1000;
    tt_batch_make(&b, 0, 5, &ts, 1);
    struct tsdb_append_result r;
    assert_int_equal(tsdb_append(x.t, b.in, b.n, &r, tt_on_ack, &x), -ENOSPC);
    assert_int_equal(head_series_count(tsdb_head(x.t)), 0);
    struct tsdb_stats st;
    tsdb_stats_get(x.t, &st);
    assert_int_equal(st.batches_refused_disk_total, 1);
    tt_teardown(&x);
    /* a batch larger than the whole WAL buffer can never fit */
    tt_config(&x.cfg);
    x.cfg.wal.pending_bytes_max = 1024;
    cfg = x.cfg;
    tt_setup(&x, &cfg);
    tt_batch_free(&b);
    tt_batch_make(&b, 0, 100, &ts, 1);
    assert_int_equal(tsdb_append(x.t, b.in, b.n, &r, tt_on_ack, &x), ERR_LIMIT);
    assert_int_equal(head_series_count(tsdb_head(x.t)), 0);
    tt_batch_free(&b);
    /* the loop never calls back for refused batches */
    for (int i = 0; i < 5; i++)
        loop_run_once(&x.loop, 1000000);
    assert_int_equal(x.acks, 0);
    tt_teardown(&x);
}

static void test_bad_config(void **state)
{
    (void)state;
    struct tt x;
    memset(&x, 0, sizeof x);
    tt_mkdtemp(x.dir, sizeof x.dir);
    assert_int_equal(loop_init(&x.loop, NULL), 0);
    tt_config(&x.cfg);
    x.cfg.chunk_range_ms = 0;
    assert_int_equal(tt_open_rc(&x), ERR_INVALID);
    tt_config(&x.cfg);
    x.cfg.samples_per_chunk = 1; /* the head refuses it */
    assert_int_equal(tt_open_rc(&x), ERR_INVALID);
    x.t = NULL;
    tt_teardown(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bit_exact_values),
        cmocka_unit_test(test_restart_replays),
        cmocka_unit_test(test_replay_skips_damaged_segment),
        cmocka_unit_test(test_ooo_window),
        cmocka_unit_test(test_ooo_disabled),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_reason_format),
        cmocka_unit_test(test_mixed_batch_logs_accepted),
        cmocka_unit_test(test_series_rejected),
        cmocka_unit_test(test_backpressure_full),
        cmocka_unit_test(test_backpressure_disk_and_limit),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
