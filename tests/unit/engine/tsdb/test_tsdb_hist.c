/* Native histograms end to end in the metrics TSDB: tsdb_append_hists into the head, chunks cut
 * per kind (a float <-> histogram change cuts), duplicate rules, WAL + head chunk replay after a
 * restart, head cuts into blocks and compaction, and PromQL over the querier giving the same
 * answers as the in-memory store (histogram_quantile over rate, histogram_count, sum(rate)). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>

#include "engine/promql/eval.h"
#include "engine/promql/memstore.h"
#include "engine/promql/parse.h"
#include "engine/tsdb/merge.h"
#include "test_tsdb_util.h"

#define STEP_MS  15000LL
#define N_STEPS  240 /* one hour */
#define NB       4
#define RANGE_MS (10 * TT_MIN_MS)

static const struct histchunk_span one_span[1] = {{0, NB}};

/* Sample i of a counter histogram (integer, or float halves), as storage and evaluator values. */
struct gen {
    struct tsdb_hist_sample s;
    uint64_t b[NB];
};

static void gen_hist(struct gen *g, int64_t t, uint32_t i, bool is_float, uint32_t bump)
{
    memset(g, 0, sizeof *g);
    uint64_t total = i;
    for (uint32_t j = 0; j < NB; j++) {
        uint64_t c = (uint64_t)i * (j + 1) + bump;
        total += c;
        g->b[j] = is_float ? tt_bits((double)c * 0.5) : c;
    }
    struct histchunk_hist *h = &g->s.h;
    h->schema = 0;
    h->zero_threshold = 1e-128;
    h->zero_count = is_float ? tt_bits((double)i * 0.5) : i;
    h->count = is_float ? tt_bits((double)total * 0.5) : total;
    h->sum = (double)i * 10.5;
    h->pspans = one_span;
    h->n_pspans = 1;
    h->pbuckets = g->b;
    h->n_pbuckets = NB;
    g->s.t_ms = t;
    g->s.is_float = is_float;
}

static struct promql_hist *to_promql(struct arena *a, const struct gen *g)
{
    struct promql_hist *p = promql_hist_new(a, NB, 0);
    assert_non_null(p);
    bool f = g->s.is_float;
    const struct histchunk_hist *h = &g->s.h;
    p->schema = h->schema;
    p->zero_threshold = h->zero_threshold;
    p->zero_count = f ? histchunk_f64(h->zero_count) : (double)h->zero_count;
    p->count = f ? histchunk_f64(h->count) : (double)h->count;
    p->sum = h->sum;
    for (uint32_t j = 0; j < NB; j++)
        p->p[j] = f ? histchunk_f64(g->b[j]) : (double)g->b[j];
    return p;
}

struct fx {
    struct tt x;
    struct promql_memstore *ms;
    struct arena arena;
    struct label lx[2], ly[2], lz[2];
};

static int tsdb_select(void *ctx, const struct matcher *ms, size_t n, int64_t mint_ms,
                       int64_t maxt_ms, const struct promql_select_hints *hints,
                       struct chunk_series_set **out)
{
    (void)hints;
    struct fx *f = ctx;
    return querier_select(f->x.t, ms, n, mint_ms, maxt_ms, NULL, out);
}

static void ack(void *arg, int rc)
{
    assert_int_equal(rc, 0);
    ((struct tt *)arg)->acks++;
}

/* Appends one histogram of series l to both stores. */
static void add_hist(struct fx *f, const struct label *l, const struct gen *g)
{
    struct tsdb_series_in in = {l, 2, hash_labels(l, 2), NULL, 0};
    struct tsdb_hists_in hin = {.hists = &g->s, .n = 1};
    struct tsdb_append_result res;
    assert_int_equal(tsdb_append_hists(f->x.t, &in, &hin, 1, &res, ack, &f->x), 0);
    assert_int_equal(res.hist_accepted, 1);
    assert_int_equal(res.err, 0);
    assert_int_equal(promql_memstore_add_hist(f->ms, l, 2, g->s.t_ms, to_promql(&f->arena, g), 0),
                     0);
}

static void add_float(struct fx *f, const struct label *l, int64_t t, double v)
{
    struct tsdb_sample s = {t, tt_bits(v)};
    struct tsdb_series_in in = {l, 2, hash_labels(l, 2), &s, 1};
    struct tsdb_append_result res;
    assert_int_equal(tsdb_append(f->x.t, &in, 1, &res, ack, &f->x), 0);
    assert_int_equal(res.accepted, 1);
    assert_int_equal(promql_memstore_add_float(f->ms, l, 2, t, v, 0), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct tsdb_config c;
    tt_config(&c);
    c.chunk_range_ms = RANGE_MS;
    tt_setup(&f->x, &c);
    f->ms = promql_memstore_create();
    arena_init(&f->arena, 1 << 16);
    f->lx[0] = (struct label){STR_LIT("__name__"), STR_LIT("x")};
    f->ly[0] = (struct label){STR_LIT("__name__"), STR_LIT("y")};
    f->lz[0] = (struct label){STR_LIT("__name__"), STR_LIT("z")};
    f->lx[1] = f->ly[1] = f->lz[1] = (struct label){STR_LIT("job"), STR_LIT("a")};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tt_teardown(&f->x);
    promql_memstore_destroy(f->ms);
    arena_deinit(&f->arena);
    free(f);
    return 0;
}

/* x: integer counter histograms; z: float ones; y: floats, histograms, floats. */
static void load(struct fx *f)
{
    struct gen g;
    int want = 0;
    for (uint32_t i = 0; i < N_STEPS; i++) {
        int64_t t = (int64_t)i * STEP_MS;
        gen_hist(&g, t, i, false, 0);
        add_hist(f, f->lx, &g);
        gen_hist(&g, t, i, true, 1);
        add_hist(f, f->lz, &g);
        if (i >= N_STEPS / 3 && i < 2 * N_STEPS / 3) {
            gen_hist(&g, t, i, false, 2);
            add_hist(f, f->ly, &g);
        } else {
            add_float(f, f->ly, t, (double)i * 1.25);
        }
        want += 3;
    }
    tt_wait_acks(&f->x, want);
}

static struct promql_result *run(const struct promql_storage *st, const char *q)
{
    struct promql_ast *ast = NULL;
    struct promql_error pe;
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &pe), 0);
    struct promql_engine_opts o;
    promql_engine_opts_default(&o);
    struct promql_result *r = NULL;
    char err[256];
    int rc = promql_eval(st, ast, q, strlen(q), &o, 5 * TT_MIN_MS, (N_STEPS - 1) * STEP_MS,
                         TT_MIN_MS, &r, err, sizeof err);
    promql_ast_destroy(ast);
    if (rc)
        print_error("%s: %s\n", q, err);
    assert_int_equal(rc, 0);
    return r;
}

static void same_series(const struct promql_series *a, const struct promql_series *b)
{
    assert_true(promql_lset_eq(a->labels, b->labels));
    assert_int_equal(a->nfloats, b->nfloats);
    assert_int_equal(a->nhists, b->nhists);
    for (size_t i = 0; i < a->nfloats; i++) {
        assert_int_equal(a->floats[i].t, b->floats[i].t);
        double x = a->floats[i].v, y = b->floats[i].v;
        assert_true(x == y || (isnan(x) && isnan(y)) || fabs(x - y) <= 1e-9 * fabs(x));
    }
    for (size_t i = 0; i < a->nhists; i++) {
        assert_int_equal(a->hists[i].t, b->hists[i].t);
        assert_true(promql_hist_equals(a->hists[i].h, b->hists[i].h));
    }
}

/* Every query gives the same answer from the TSDB as from the in-memory store. */
static void compare(struct fx *f)
{
    static const char *const qs[] = {
        "x",
        "z",
        "y",
        "histogram_count(x)",
        "histogram_sum(z)",
        "histogram_quantile(0.9, rate(x[5m]))",
        "histogram_quantile(0.5, rate(z[5m]))",
        "sum(rate(x[5m]))",
        "sum by (job) (rate(z[5m]))",
        "histogram_count(rate(x[5m]))",
        "increase(x[10m])",
    };
    struct promql_storage mem, db = {tsdb_select, f};
    promql_memstore_storage(f->ms, &mem);
    for (size_t k = 0; k < sizeof qs / sizeof *qs; k++) {
        struct promql_result *a = run(&mem, qs[k]), *b = run(&db, qs[k]);
        if (a->nseries != b->nseries)
            print_error("%s: %zu vs %zu series\n", qs[k], a->nseries, b->nseries);
        assert_int_equal(a->nseries, b->nseries);
        assert_true(a->nseries > 0);
        for (size_t i = 0; i < a->nseries; i++)
            same_series(&a->series[i], &b->series[i]);
        promql_result_free(a);
        promql_result_free(b);
    }
}

/* Chunk encodings of series y in the head: floats, histograms, floats again. */
static void check_kinds(struct fx *f)
{
    struct matcher m;
    tt_matcher(&m, MATCHER_EQ, "__name__", "y");
    struct chunk_series_set *set;
    assert_int_equal(querier_select(f->x.t, &m, 1, INT64_MIN, INT64_MAX, NULL, &set), 0);
    assert_int_equal(chunk_series_set_next(set), 1);
    const struct chunk_series *cs = chunk_series_set_at(set);
    bool seen_hist = false, float_after = false;
    int64_t prev_max = INT64_MIN;
    for (size_t i = 0; i < cs->n_chunks; i++) {
        const struct chunk_meta *c = &cs->chunks[i];
        assert_true(c->mint_ms > prev_max); /* in order, no overlap */
        prev_max = c->maxt_ms;
        bool hist = c->encoding == CHUNK_HISTOGRAM;
        assert_true(hist || c->encoding == CHUNK_XOR || c->encoding == CHUNK_PACKED);
        if (hist)
            assert_true(c->mint_ms >= (N_STEPS / 3) * STEP_MS &&
                        c->maxt_ms < (2 * N_STEPS / 3) * STEP_MS);
        seen_hist |= hist;
        float_after |= seen_hist && !hist;
    }
    assert_true(seen_hist && float_after);
    assert_int_equal(chunk_series_set_next(set), 0);
    chunk_series_set_close(set);
    matcher_deinit(&m);
}

static void test_head_query(void **state)
{
    struct fx *f = *state;
    load(f);
    check_kinds(f);
    compare(f);
}

static void test_replay(void **state)
{
    struct fx *f = *state;
    load(f);
    tt_reopen(&f->x);
    check_kinds(f);
    compare(f);
    /* once more, with the WAL replayed over re-attached head chunks */
    tt_reopen(&f->x);
    compare(f);
}

static void test_blocks(void **state)
{
    struct fx *f = *state;
    load(f);
    tt_settle(&f->x, N_STEPS * STEP_MS);
    struct tsdb_stats st;
    tsdb_stats_get(f->x.t, &st);
    assert_true(st.cuts_total >= 2);
    check_kinds(f);
    compare(f);
    tt_reopen(&f->x);
    compare(f);
}

static void test_duplicates(void **state)
{
    struct fx *f = *state;
    struct gen g, h;
    gen_hist(&g, 1000, 1, false, 0);
    add_hist(f, f->lx, &g);
    struct tsdb_series_in in = {f->lx, 2, hash_labels(f->lx, 2), NULL, 0};
    struct tsdb_hists_in hin = {.hists = &g.s, .n = 1};
    struct tsdb_append_result res;
    /* identical: a duplicate, not an error */
    assert_int_equal(tsdb_append_hists(f->x.t, &in, &hin, 1, &res, ack, &f->x), 0);
    assert_int_equal(res.hist_duplicates, 1);
    assert_int_equal(res.hist_rejected, 0);
    /* other value at the same time: rejected with Prometheus's reason */
    gen_hist(&h, 1000, 2, false, 0);
    hin.hists = &h.s;
    assert_int_equal(tsdb_append_hists(f->x.t, &in, &hin, 1, &res, ack, &f->x), 0);
    assert_int_equal(res.hist_rejected, 1);
    assert_non_null(strstr(res.reason, "duplicate sample for timestamp"));
    /* older: out of order */
    gen_hist(&h, 500, 2, false, 0);
    assert_int_equal(tsdb_append_hists(f->x.t, &in, &hin, 1, &res, ack, &f->x), 0);
    assert_int_equal(res.hist_rejected, 1);
    assert_non_null(strstr(res.reason, "out of order sample"));
    /* a retried older histogram that is stored: a duplicate; a different one conflicts */
    struct gen g2;
    gen_hist(&g2, 2000, 2, false, 0);
    add_hist(f, f->lx, &g2);
    hin.hists = &g.s;
    assert_int_equal(tsdb_append_hists(f->x.t, &in, &hin, 1, &res, ack, &f->x), 0);
    assert_int_equal(res.hist_duplicates, 1);
    hin.hists = &h.s;
    h.s.t_ms = 1000;
    assert_int_equal(tsdb_append_hists(f->x.t, &in, &hin, 1, &res, ack, &f->x), 0);
    assert_int_equal(res.hist_rejected, 1);
    assert_non_null(strstr(res.reason, "duplicate sample for timestamp"));
    /* a float at the histogram's timestamp conflicts */
    struct tsdb_sample s = {2000, tt_bits(1)};
    in.samples = &s;
    in.n_samples = 1;
    assert_int_equal(tsdb_append(f->x.t, &in, 1, &res, ack, &f->x), 0);
    assert_int_equal(res.rejected[TSDB_REJECT_DUPLICATE], 1);
    tt_wait_acks(&f->x, 8);
}

/* Compaction's re-encoder passes a group holding a histogram chunk through instead of failing. */
static void test_merge_passes_hist(void **state)
{
    (void)state;
    struct gen g;
    struct histchunk_enc e;
    histchunk_enc_init(&e, false);
    for (uint32_t i = 0; i < 3; i++) {
        gen_hist(&g, 1000 * (i + 1), i, false, 0);
        assert_int_equal(histchunk_enc_append(&e, g.s.t_ms, &g.s.h), 0);
    }
    size_t hlen;
    const uint8_t *hdata = histchunk_enc_bytes(&e, &hlen);
    struct gorilla_enc ge;
    gorilla_enc_init(&ge);
    assert_int_equal(gorilla_enc_append_bits(&ge, 1500, tt_bits(1)), 0);
    assert_int_equal(gorilla_enc_append_bits(&ge, 2500, tt_bits(2)), 0);
    struct gorilla_snap snap;
    gorilla_enc_snapshot(&ge, &snap);
    struct chunk_meta in[2] = {{1000, 3000, 3, CHUNK_HISTOGRAM, hdata, hlen},
                               {1500, 2500, 2, CHUNK_XOR, snap.data, snap.len}};
    struct merge_reenc r;
    merge_reenc_init(&r);
    const struct chunk_meta *out;
    size_t n;
    assert_int_equal(merge_reenc_run(&r, in, NULL, 2, &out, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].encoding, CHUNK_HISTOGRAM);
    assert_ptr_equal(out[0].data, hdata);
    assert_int_equal(out[1].encoding, CHUNK_XOR);
    merge_reenc_deinit(&r);
    gorilla_enc_deinit(&ge);
    histchunk_enc_deinit(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_head_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
        cmocka_unit_test(test_merge_passes_hist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
