/* Exemplar storage: the ring (overwrite oldest), Prometheus's append rules (duplicate, out of
 * order, label length), range queries; through the TSDB: stored with a batch, logged and back
 * after a restart (WAL replay). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/tsdb/exemplars.h"
#include "test_tsdb_util.h"

struct seen {
    int n;
    int64_t ts[16];
    uint32_t id[16];
    char trace[16][32];
};

static int visit(void *arg, uint32_t id, uint64_t hash, const struct exemplar_in *x)
{
    (void)hash;
    struct seen *s = arg;
    if (s->n < 16) {
        s->ts[s->n] = x->ts_ms;
        s->id[s->n] = id;
        s->trace[s->n][0] = 0;
        if (x->n_labels)
            snprintf(s->trace[s->n], 32, "%.*s", (int)x->labels[0].value.len,
                     x->labels[0].value.ptr);
    }
    s->n++;
    return 0;
}

static struct exemplar_in ex(int64_t t, double v, const struct label *l, size_t n)
{
    return (struct exemplar_in){t, tt_bits(v), l, n};
}

static void test_ring_rules(void **state)
{
    (void)state;
    struct exemplars *e;
    assert_int_equal(exemplars_create(3, &e), 0);
    struct label l[1] = {{STR_LIT("trace_id"), STR_LIT("abc")}};
    struct exemplar_in a = ex(100, 1.5, l, 1);
    assert_int_equal(exemplars_add(e, 7, 77, &a), 1);
    assert_int_equal(exemplars_add(e, 7, 77, &a), 0); /* identical: duplicate */
    struct exemplar_in b = ex(100, 2.5, l, 1);
    assert_int_equal(exemplars_add(e, 7, 77, &b), ERR_ORDER); /* same time, other value */
    struct exemplar_in old = ex(50, 1, NULL, 0);
    assert_int_equal(exemplars_add(e, 7, 77, &old), ERR_ORDER);
    assert_int_equal(exemplars_add(e, 8, 88, &old), 1); /* per series */
    char longv[140];
    memset(longv, 'x', sizeof longv);
    struct label big[1] = {{STR_LIT("trace_id"), {longv, sizeof longv}}};
    struct exemplar_in c = ex(200, 1, big, 1);
    assert_int_equal(exemplars_add(e, 7, 77, &c), ERR_INVALID); /* > 128 characters */
    struct label l2[1] = {{STR_LIT("trace_id"), STR_LIT("def")}};
    struct exemplar_in d = ex(300, 3, l2, 1), f = ex(400, 4, l2, 1);
    assert_int_equal(exemplars_add(e, 7, 77, &d), 1);
    assert_int_equal(exemplars_count(e), 3);
    assert_int_equal(exemplars_add(e, 7, 77, &f), 1); /* overwrites the oldest (t=100) */
    assert_int_equal(exemplars_count(e), 3);
    struct seen s = {0};
    assert_int_equal(exemplars_query(e, INT64_MIN, INT64_MAX, visit, &s), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.ts[0], 50);
    assert_int_equal(s.id[0], 8);
    assert_int_equal(s.ts[1], 300);
    assert_string_equal(s.trace[1], "def");
    assert_int_equal(s.ts[2], 400);
    memset(&s, 0, sizeof s);
    assert_int_equal(exemplars_query(e, 100, 350, visit, &s), 0);
    assert_int_equal(s.n, 1);
    exemplars_destroy(e);
    /* disabled */
    assert_int_equal(exemplars_create(0, &e), 0);
    assert_int_equal(exemplars_add(e, 1, 1, &a), ERR_LIMIT);
    exemplars_destroy(e);
}

static void ack(void *arg, int rc)
{
    assert_int_equal(rc, 0);
    ((struct tt *)arg)->acks++;
}

static void test_tsdb_exemplars(void **state)
{
    (void)state;
    struct tt x;
    tt_setup(&x, NULL);
    struct label sl[2] = {{STR_LIT("__name__"), STR_LIT("rpc_total")},
                          {STR_LIT("job"), STR_LIT("a")}};
    struct label tl[1] = {{STR_LIT("trace_id"), STR_LIT("t1")}};
    struct tsdb_sample smp[2] = {{1000, tt_bits(1)}, {2000, tt_bits(2)}};
    struct exemplar_in exs[3] = {ex(1000, 1, tl, 1), ex(1500, 2, tl, 1), ex(1200, 3, NULL, 0)};
    struct tsdb_series_in in = {sl, 2, hash_labels(sl, 2), smp, 2};
    struct tsdb_hists_in hin = {.exemplars = exs, .n_exemplars = 3};
    struct tsdb_append_result res;
    assert_int_equal(tsdb_append_hists(x.t, &in, &hin, 1, &res, ack, &x), 0);
    assert_int_equal(res.accepted, 2);
    assert_int_equal(res.exemplars_accepted, 2); /* the third is out of order */
    tt_wait_acks(&x, 1);
    for (int round = 0; round < 2; round++) {
        struct seen s = {0};
        assert_int_equal(exemplars_query(tsdb_exemplars(x.t), 0, 5000, visit, &s), 0);
        assert_int_equal(s.n, 2);
        assert_int_equal(s.ts[0], 1000);
        assert_int_equal(s.ts[1], 1500);
        assert_string_equal(s.trace[1], "t1");
        uint32_t id;
        assert_int_equal(head_series_lookup(tsdb_head(x.t), sl, 2, hash_labels(sl, 2), &id), 0);
        assert_int_equal(s.id[0], id);
        tt_reopen(&x); /* back from the WAL */
    }
    tt_teardown(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_rules),
        cmocka_unit_test(test_tsdb_exemplars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
