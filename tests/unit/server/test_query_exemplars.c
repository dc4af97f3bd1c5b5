/* Exemplar queries, owner side: selection by matcher sets (tenant included), time range, series
 * grouping and order, __tenant__ removed, and the JSON Prometheus answers with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server/query_exemplars.h"
#include "tests/unit/engine/tsdb/test_tsdb_util.h"

static void ack(void *arg, int rc)
{
    assert_int_equal(rc, 0);
    ((struct tt *)arg)->acks++;
}

static void put(struct tt *x, const char *tenant, const char *name, const char *trace, int64_t t,
                double v)
{
    struct label sl[2] = {{STR_LIT("__name__"), str_from_cstr(name)},
                          {STR_LIT("__tenant__"), str_from_cstr(tenant)}};
    struct label tl[1] = {{STR_LIT("trace_id"), str_from_cstr(trace)}};
    struct tsdb_sample smp = {t, tt_bits(v)};
    struct exemplar_in e = {t, tt_bits(v), tl, 1};
    struct tsdb_series_in in = {sl, 2, hash_labels(sl, 2), &smp, 1};
    struct tsdb_hists_in hin = {.exemplars = &e, .n_exemplars = 1};
    struct tsdb_append_result res;
    assert_int_equal(tsdb_append_hists(x->t, &in, &hin, 1, &res, ack, x), 0);
    assert_int_equal(res.exemplars_accepted, 1);
}

static void test_owner_and_json(void **state)
{
    (void)state;
    struct tt x;
    tt_setup(&x, NULL);
    put(&x, "t1", "rpc", "a", 1000, 1.5);
    put(&x, "t1", "db", "b", 1500, 2);
    put(&x, "t2", "rpc", "c", 1600, 3);
    put(&x, "t1", "rpc", "d", 2000, 4);
    tt_wait_acks(&x, 4);
    struct matcher m[2];
    tt_matcher(&m[0], MATCHER_EQ, "__tenant__", "t1");
    tt_matcher(&m[1], MATCHER_RE, "__name__", "rpc|db");
    const struct matcher *sets[1] = {m};
    size_t lens[1] = {2};
    struct query_matchsets ms = {sets, lens, 1};
    struct query_exemplars_result r;
    assert_int_equal(query_exemplars_owner(x.t, &ms, 0, 1800, &r), 0);
    assert_int_equal(r.n, 2);
    struct buf b = BUF_INIT;
    struct jsonw w;
    jsonw_init(&w, &b);
    const struct query_exemplars_result *parts[1] = {&r};
    query_exemplars_json(&w, parts, 1);
    buf_append_u8(&b, 0);
    assert_string_equal((const char *)b.data,
                        "[{\"seriesLabels\":{\"__name__\":\"db\"},\"exemplars\":[{\"labels\":"
                        "{\"trace_id\":\"b\"},\"value\":\"2\",\"timestamp\":1.500}]},"
                        "{\"seriesLabels\":{\"__name__\":\"rpc\"},\"exemplars\":[{\"labels\":"
                        "{\"trace_id\":\"a\"},\"value\":\"1.5\",\"timestamp\":1}]}]");
    query_exemplars_result_free(&r);
    /* the whole range: rpc has two, in time order */
    assert_int_equal(query_exemplars_owner(x.t, &ms, 0, 5000, &r), 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.series[1].n_ex, 2);
    assert_int_equal(r.series[1].ex[1].ts_ms, 2000);
    query_exemplars_result_free(&r);
    buf_deinit(&b);
    matcher_deinit(&m[0]);
    matcher_deinit(&m[1]);
    tt_teardown(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner_and_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
