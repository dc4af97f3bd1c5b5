/* engine/logs/logstore: append -> select round trips forward and backward (limits, merge order
 * across streams, equal timestamps), out-of-order entries and the late chunk, duplicates (append
 * window and query-time), structured metadata, the ingest limits with Loki's wording, too old /
 * too new with a fake clock, backpressure refusing the whole batch, restart replaying everything
 * acknowledged, label names/values, series and index statistics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_logstore_util.h"
#include "tests/unit/prop.h"

#define T0 (1700000000LL * LT_SEC_NS)

static void test_roundtrip(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, NULL);
    lt_append_range(&x, 0, 3, T0, T0 + 100 * LT_SEC_NS, LT_SEC_NS);
    for (uint32_t k = 0; k < 3; k++)
        lt_check_range(x.ls, k, T0, T0 + 100 * LT_SEC_NS, LT_SEC_NS);
    /* sub-range: start inclusive, end exclusive */
    lt_check_range(x.ls, 1, T0 + 10 * LT_SEC_NS, T0 + 20 * LT_SEC_NS, LT_SEC_NS);
    /* all streams, forward: time order, then label order at equal timestamps */
    struct lt_ent e[400];
    long n = lt_read(x.ls, -1, T0, T0 + 100 * LT_SEC_NS, LOGSTORE_FORWARD, e, 400);
    assert_int_equal(n, 300);
    static const uint32_t label_order[3] = {0, 2, 1}; /* t0/a0/0 < t0/a2/2 < t1/a1/1 */
    for (long i = 0; i < n; i++) {
        assert_int_equal(e[i].ts, T0 + (i / 3) * LT_SEC_NS);
        assert_int_equal(e[i].k, label_order[i % 3]);
    }
    /* backward with a limit: the newest entries first */
    n = lt_read(x.ls, -1, T0, T0 + 100 * LT_SEC_NS, LOGSTORE_BACKWARD, e, 5);
    assert_int_equal(n, 5);
    assert_int_equal(e[0].ts, T0 + 99 * LT_SEC_NS);
    assert_int_equal(e[0].k, 0); /* equal timestamps: streams in label order */
    assert_int_equal(e[4].ts, T0 + 98 * LT_SEC_NS);
    /* an empty and an inverted range */
    assert_int_equal(lt_read(x.ls, 0, T0 - 10, T0, LOGSTORE_FORWARD, e, 10), 0);
    assert_int_equal(lt_read(x.ls, 0, T0 + 5, T0 + 5, LOGSTORE_FORWARD, e, 10), 0);
    /* no matchers */
    struct logstore_iter *it;
    assert_int_equal(logstore_select(x.ls, NULL, 0, T0, T0 + 1, LOGSTORE_FORWARD, NULL, &it),
                     ERR_INVALID);
    lt_teardown(&x);
}

static void test_ooo_dups(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, NULL);
    int64_t ts[200];
    for (int i = 0; i < 200; i++)
        ts[i] = T0 + (int64_t)(199 - i) * LT_SEC_NS; /* newest first: all out of order */
    struct logstore_append_result r = lt_append(&x, 7, ts, 200);
    assert_int_equal(r.accepted, 200);
    assert_int_equal(r.rejected_total, 0);
    /* the same batch again: every entry is a duplicate */
    r = lt_append(&x, 7, ts, 200);
    assert_int_equal(r.accepted, 0);
    assert_int_equal(r.duplicates, 200);
    lt_check_range(x.ls, 7, T0, T0 + 200 * LT_SEC_NS, LT_SEC_NS);
    /* same timestamp, other line: both kept */
    struct lt_batch b;
    int64_t t = T0 + 5 * LT_SEC_NS;
    lt_batch_make(&b, 7, &t, 1);
    b.e[0].line = STR_LIT("another line at the same time");
    r = lt_append_in(&x, &b.in, 1);
    assert_int_equal(r.accepted, 1);
    r = lt_append_in(&x, &b.in, 1);
    assert_int_equal(r.duplicates, 1);
    /* same ts and line, other structured metadata: kept (Loki compares metadata too) */
    struct label md[1] = {{STR_LIT("trace_id"), STR_LIT("abc")}};
    b.e[0].md = md;
    b.e[0].n_md = 1;
    r = lt_append_in(&x, &b.in, 1);
    assert_int_equal(r.accepted, 1);
    lt_batch_free(&b);
    struct lt_ent e[300];
    long n = lt_read(x.ls, 7, t, t + 1, LOGSTORE_FORWARD, e, 300);
    assert_int_equal(n, 3);
    /* too far behind: older than the newest entry minus the window (1 h) */
    int64_t newest = T0 + 2 * LT_HOUR_NS, old = newest - LT_HOUR_NS - 1;
    r = lt_append(&x, 7, &newest, 1);
    assert_int_equal(r.accepted, 1);
    r = lt_append(&x, 7, &old, 1);
    assert_int_equal(r.rejected[LOGSTORE_REJECT_TOO_FAR_BEHIND], 1);
    assert_int_equal(r.first_reject, LOGSTORE_REJECT_TOO_FAR_BEHIND);
    assert_non_null(strstr(r.reason, "entry too far behind, entry timestamp is: "));
    assert_non_null(strstr(r.reason, "oldest acceptable timestamp is: 2023-11-14T23:13:20Z"));
    assert_non_null(strstr(r.reason, "for stream: {app=\"a1\", k=\"7\"}"));
    assert_null(strstr(r.reason, "__tenant__"));
    old = newest - LT_HOUR_NS; /* exactly at the cutoff: accepted */
    r = lt_append(&x, 7, &old, 1);
    assert_int_equal(r.accepted, 1);
    lt_teardown(&x);
}

/* Entries older than a cut block of the open chunk go to the late chunk; reads merge them. */
static void late_cfg(struct logstore_config *c)
{
    c->head_block_bytes = 1024; /* many small head blocks */
}

static void test_late_chunk(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, late_cfg);
    struct prop p = prop_begin("late_chunk");
    /* even seconds in order, then the odd ones shuffled: most land behind cut blocks */
    lt_append_range(&x, 3, 1, T0, T0 + 600 * LT_SEC_NS, 2 * LT_SEC_NS);
    int64_t odd[300];
    for (int i = 0; i < 300; i++)
        odd[i] = T0 + (2 * i + 1) * LT_SEC_NS;
    for (int i = 299; i > 0; i--) {
        int j = (int)(prop_next(&p) % (uint64_t)(i + 1));
        int64_t t = odd[i];
        odd[i] = odd[j];
        odd[j] = t;
    }
    for (int i = 0; i < 300; i += 30) {
        struct logstore_append_result r = lt_append(&x, 3, odd + i, 30);
        prop_check(&p, r.accepted == 30);
    }
    lt_check_range(x.ls, 3, T0, T0 + 600 * LT_SEC_NS, LT_SEC_NS);
    /* duplicates of entries now in cut blocks and the late chunk: dropped at append time
     * where the window still holds them, always at query time */
    for (int i = 0; i < 300; i += 30)
        lt_append(&x, 3, odd + i, 30);
    lt_check_range(x.ls, 3, T0, T0 + 600 * LT_SEC_NS, LT_SEC_NS);
    lt_reopen(&x);
    lt_check_range(x.ls, 3, T0, T0 + 600 * LT_SEC_NS, LT_SEC_NS);
    lt_teardown(&x);
}

static void test_metadata(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, NULL);
    struct lt_stream s;
    lt_stream_labels(&s, 1);
    struct label md1[2] = {{STR_LIT("trace_id"), STR_LIT("abc")}, {STR_LIT("user"), STR_LIT("u1")}};
    struct logstore_entry_in e[2] = {{T0, STR_LIT("line one"), NULL, 0},
                                     {T0 + 1, STR_LIT("line two"), md1, 2}};
    struct logstore_stream_in in = {s.l, 3, hash_labels(s.l, 3), e, 2};
    struct logstore_append_result r = lt_append_in(&x, &in, 1);
    assert_int_equal(r.accepted, 2);
    assert_int_equal(r.streams_created, 1);
    for (int round = 0; round < 2; round++) {
        struct matcher m;
        lt_matcher(&m, MATCHER_EQ, "k", "1");
        struct logstore_iter *it;
        assert_int_equal(logstore_select(x.ls, &m, 1, T0, T0 + 10, LOGSTORE_FORWARD, NULL, &it), 0);
        assert_int_equal(logstore_iter_next(it), 1);
        const struct logstore_entry *a = logstore_iter_at(it);
        assert_int_equal(a->n_md, 0);
        assert_true(str_eq_cstr(a->line, "line one"));
        assert_int_equal(a->n_labels, 3);
        assert_int_equal(a->stream_hash, hash_labels(s.l, 3));
        assert_int_equal(logstore_iter_next(it), 1);
        a = logstore_iter_at(it);
        assert_int_equal(a->n_md, 2);
        assert_true(str_eq_cstr(a->md[0].name, "trace_id") && str_eq_cstr(a->md[0].value, "abc"));
        assert_true(str_eq_cstr(a->md[1].name, "user") && str_eq_cstr(a->md[1].value, "u1"));
        assert_int_equal(logstore_iter_next(it), 0);
        logstore_iter_close(it);
        matcher_deinit(&m);
        lt_reopen(&x);
    }
    lt_teardown(&x);
}

/* Label sets and metadata larger than the replay's starting buffers survive a restart. */
static void test_wide_replay(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, NULL);
    enum { NL = 70, NMD = 100 };
    char names[NL][16], vals[NMD][16];
    struct label l[NL], md[NMD];
    for (int i = 0; i < NL; i++) {
        snprintf(names[i], sizeof names[i], "l%02d", i);
        l[i] = (struct label){str_from_cstr(names[i]), STR_LIT("v")};
    }
    for (int i = 0; i < NMD; i++) {
        snprintf(vals[i], sizeof vals[i], "m%03d", i);
        md[i] = (struct label){str_from_cstr(vals[i]), str_from_cstr(vals[i])};
    }
    struct logstore_entry_in e[3] = {{T0, STR_LIT("first"), NULL, 0},
                                     {T0 + 1, STR_LIT("wide"), md, NMD},
                                     {T0 + 2, STR_LIT("last"), md, 1}};
    struct logstore_stream_in in = {l, NL, hash_labels(l, NL), e, 3};
    assert_int_equal(lt_append_in(&x, &in, 1).accepted, 3);
    lt_reopen(&x);
    struct matcher m;
    lt_matcher(&m, MATCHER_EQ, "l69", "v");
    struct logstore_iter *it;
    assert_int_equal(logstore_select(x.ls, &m, 1, T0, T0 + 10, LOGSTORE_FORWARD, NULL, &it), 0);
    int n = 0;
    while (logstore_iter_next(it) == 1) {
        const struct logstore_entry *a = logstore_iter_at(it);
        assert_int_equal(a->n_labels, NL);
        assert_int_equal(a->n_md, n == 1 ? NMD : n == 2 ? 1 : 0);
        if (n == 1)
            assert_true(str_eq_cstr(a->md[99].value, "m099"));
        n++;
    }
    assert_int_equal(n, 3);
    logstore_iter_close(it);
    matcher_deinit(&m);
    struct logstore_stats st;
    logstore_stats_get(x.ls, &st);
    assert_int_equal(st.replay_entries, 3);
    assert_int_equal(st.replay_streams, 1);
    lt_teardown(&x);
}

static void limits_cfg(struct logstore_config *c)
{
    static const struct logstore_tenant_limits tl[] = {{"t1", 10, 1}};
    c->line_bytes_max = 100;
    c->streams_per_tenant_max = 2;
    c->tenant_limits = tl;
    c->n_tenant_limits = 1;
}

static void test_limits(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, limits_cfg);
    char big[101];
    memset(big, 'x', sizeof big);
    struct lt_batch b;
    int64_t ts[2] = {T0, T0 + 1};
    lt_batch_make(&b, 0, ts, 2); /* tenant t0 */
    b.e[1].line = (struct str){big, 101};
    struct logstore_append_result r = lt_append_in(&x, &b.in, 1);
    assert_int_equal(r.accepted, 1);
    assert_int_equal(r.rejected[LOGSTORE_REJECT_LINE_TOO_LONG], 1);
    assert_string_equal(r.reason, "max entry size '100' bytes exceeded for stream '{app=\"a0\", "
                                  "k=\"0\"}' while adding an entry with length '101' bytes");
    b.e[1].line = (struct str){big, 100}; /* at the limit: accepted */
    r = lt_append_in(&x, &b.in, 1);
    assert_int_equal(r.accepted, 1);
    lt_batch_free(&b);
    /* streams per tenant: t0 may have 2 (k = 0, 2), the third (k = 4) is refused whole */
    r = lt_append(&x, 2, ts, 2);
    assert_int_equal(r.accepted, 2);
    r = lt_append(&x, 4, ts, 2);
    assert_int_equal(r.accepted, 0);
    assert_int_equal(r.rejected[LOGSTORE_REJECT_STREAM_LIMIT], 2);
    assert_non_null(strstr(r.reason, "maximum active stream limit exceeded when trying to create "
                                     "stream {app=\"a1\", k=\"4\"}"));
    assert_non_null(strstr(r.reason, "user: 't0'"));
    /* tenant t1 overrides: one stream, 10-byte lines */
    r = lt_append(&x, 1, ts, 1);
    assert_int_equal(r.rejected[LOGSTORE_REJECT_LINE_TOO_LONG], 1);
    r = lt_append(&x, 3, ts, 1);
    assert_int_equal(r.rejected[LOGSTORE_REJECT_STREAM_LIMIT], 1);
    struct logstore_stats st;
    logstore_stats_get(x.ls, &st);
    assert_int_equal(st.streams, 3);
    assert_int_equal(st.entries_rejected_total[LOGSTORE_REJECT_LINE_TOO_LONG], 2);
    assert_int_equal(st.entries_rejected_total[LOGSTORE_REJECT_STREAM_LIMIT], 3);
    assert_int_equal(st.entries_accepted_total, 4);
    assert_string_equal(logstore_reject_str(LOGSTORE_REJECT_TOO_FAR_BEHIND), "too_far_behind");
    lt_teardown(&x);
}

static void age_cfg(struct logstore_config *c)
{
    c->reject_old_ms = 7 * 24 * LT_HOUR_MS;
    c->creation_grace_ms = 10 * 60 * 1000;
}

static void test_too_old_new(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, age_cfg);
    x.now_ns = T0;
    int64_t ts[4] = {T0 - 7 * 24 * LT_HOUR_NS - 1, T0 - 7 * 24 * LT_HOUR_NS, T0 + 10 * LT_MIN_NS,
                     T0 + 10 * LT_MIN_NS + 1};
    struct logstore_append_result r = lt_append(&x, 0, ts, 4);
    assert_int_equal(r.accepted, 2); /* the oldest acceptable and the newest acceptable */
    assert_int_equal(r.rejected[LOGSTORE_REJECT_TOO_OLD], 1);
    assert_int_equal(r.rejected[LOGSTORE_REJECT_TOO_NEW], 1);
    assert_string_equal(r.reason, "entry for stream '{app=\"a0\", k=\"0\"}' has timestamp too old: "
                                  "2023-11-07T22:13:19Z, oldest acceptable timestamp is: "
                                  "2023-11-07T22:13:20Z");
    lt_teardown(&x);
}

static void test_too_new(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, age_cfg);
    x.now_ns = T0;
    int64_t ts[2] = {T0 + 10 * LT_MIN_NS, T0 + 10 * LT_MIN_NS + 1};
    struct logstore_append_result r = lt_append(&x, 0, ts, 2);
    assert_int_equal(r.accepted, 1);
    assert_int_equal(r.rejected[LOGSTORE_REJECT_TOO_NEW], 1);
    assert_string_equal(r.reason, "entry for stream '{app=\"a0\", k=\"0\"}' has timestamp too new: "
                                  "2023-11-14T22:23:20Z");
    lt_teardown(&x);
}

static void small_wal_cfg(struct logstore_config *c)
{
    c->wal.pending_bytes_max = 64 * 1024;
}

static void test_backpressure(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, small_wal_cfg);
    /* a batch larger than the whole pending limit: ERR_LIMIT, nothing applied */
    int64_t ts[1000];
    for (int i = 0; i < 1000; i++)
        ts[i] = T0 + i;
    struct lt_batch b;
    lt_batch_make(&b, 0, ts, 1000);
    struct logstore_append_result r;
    assert_int_equal(logstore_append(x.ls, &b.in, 1, &r, lt_on_ack, &x), ERR_LIMIT);
    lt_batch_free(&b);
    /* fill the pending buffer without running the loop until it refuses: ERR_FULL */
    int accepted = 0, rc = 0;
    for (int i = 0; i < 1000 && rc == 0; i++) {
        lt_batch_make(&b, 1, ts + i, 1);
        rc = logstore_append(x.ls, &b.in, 1, &r, lt_on_ack, &x);
        lt_batch_free(&b);
        accepted += rc == 0;
    }
    assert_int_equal(rc, ERR_FULL);
    assert_true(accepted > 10);
    lt_wait_acks(&x, accepted);
    struct lt_ent e[1100];
    assert_int_equal(lt_read(x.ls, 1, T0, T0 + 2000, LOGSTORE_FORWARD, e, 1100), accepted);
    assert_int_equal(lt_read(x.ls, 0, T0, T0 + 2000, LOGSTORE_FORWARD, e, 1100), 0);
    struct logstore_stats st;
    logstore_stats_get(x.ls, &st);
    assert_int_equal(st.batches_refused_full_total, 2);
    /* once written, appends go through again */
    lt_batch_make(&b, 1, ts + 999, 1);
    r = lt_append_in(&x, &b.in, 1);
    assert_int_equal(r.accepted + r.duplicates, 1);
    lt_batch_free(&b);
    lt_teardown(&x);
}

static void test_restart(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, NULL);
    lt_append_range(&x, 0, 5, T0, T0 + 50 * LT_SEC_NS, LT_SEC_NS);
    for (int round = 0; round < 3; round++) {
        lt_reopen(&x);
        for (uint32_t k = 0; k < 5; k++)
            lt_check_range(x.ls, k, T0, T0 + 50 * LT_SEC_NS, LT_SEC_NS);
        struct logstore_stats st;
        logstore_stats_get(x.ls, &st);
        assert_int_equal(st.streams, 5);
        assert_int_equal(st.replay_entries, 250);
    }
    /* appends after a restart: new stream ids do not collide with replayed ones */
    lt_append_range(&x, 5, 2, T0, T0 + 10 * LT_SEC_NS, LT_SEC_NS);
    lt_reopen(&x);
    for (uint32_t k = 0; k < 7; k++)
        lt_check_range(x.ls, k, T0, T0 + (k < 5 ? 50 : 10) * LT_SEC_NS, LT_SEC_NS);
    lt_teardown(&x);
}

static bool has(const struct logstore_strings *s, const char *v)
{
    for (size_t i = 0; i < s->n; i++)
        if (str_eq_cstr(s->v[i], v))
            return true;
    return false;
}

static void test_labels(void **state)
{
    (void)state;
    struct lt x;
    lt_setup(&x, NULL);
    lt_append_range(&x, 0, 6, T0, T0 + 10 * LT_SEC_NS, LT_SEC_NS);
    int64_t later = T0 + LT_HOUR_NS;
    lt_append(&x, 9, &later, 1);
    struct matcher m;
    lt_matcher(&m, MATCHER_EQ, "__tenant__", "t0");
    struct logstore_strings s;
    assert_int_equal(logstore_label_names(x.ls, &m, 1, T0, T0 + LT_HOUR_NS, &s), 0);
    assert_int_equal(s.n, 3);
    assert_true(str_eq_cstr(s.v[0], "__tenant__") && str_eq_cstr(s.v[1], "app") &&
                str_eq_cstr(s.v[2], "k"));
    logstore_strings_free(&s);
    assert_int_equal(logstore_label_values(x.ls, STR_LIT("k"), &m, 1, T0, T0 + LT_HOUR_NS, &s), 0);
    assert_int_equal(s.n, 3); /* 0, 2, 4: stream 9 (t1) is not t0, and outside the range */
    assert_true(has(&s, "0") && has(&s, "2") && has(&s, "4"));
    logstore_strings_free(&s);
    assert_int_equal(
        logstore_label_values(x.ls, STR_LIT("k"), NULL, 0, T0, T0 + 2 * LT_HOUR_NS, &s), 0);
    assert_int_equal(s.n, 7);
    logstore_strings_free(&s);
    assert_int_equal(logstore_label_values(x.ls, STR_LIT("app"), NULL, 0, later, later + 1, &s), 0);
    assert_int_equal(s.n, 1);
    assert_true(has(&s, "a0"));
    logstore_strings_free(&s);
    struct logstore_stream_stats *ss;
    size_t n;
    assert_int_equal(logstore_series(x.ls, &m, 1, T0, T0 + 5 * LT_SEC_NS, &ss, &n), 0);
    assert_int_equal(n, 3);
    assert_true(str_eq_cstr(ss[0].labels[2].value, "0"));
    assert_int_equal(ss[0].entries, 10); /* whole chunks overlapping the range */
    assert_int_equal(ss[0].chunks, 1);
    assert_true(ss[0].bytes > 10 * 40);
    free(ss);
    struct logstore_index_stats is;
    assert_int_equal(logstore_index_stats(x.ls, &m, 1, T0, T0 + LT_HOUR_NS, &is), 0);
    assert_int_equal(is.streams, 3);
    assert_int_equal(is.entries, 30);
    matcher_deinit(&m);
    lt_teardown(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),   cmocka_unit_test(test_ooo_dups),
        cmocka_unit_test(test_late_chunk),  cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_limits),      cmocka_unit_test(test_too_old_new),
        cmocka_unit_test(test_too_new),     cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_restart),     cmocka_unit_test(test_labels),
        cmocka_unit_test(test_wide_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
