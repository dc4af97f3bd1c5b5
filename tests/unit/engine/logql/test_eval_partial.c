/* Partial range aggregation (engine/logql/eval.h, eval_partial.c): the merge of two parts'
 * partials for every decomposable operation (NaN, infinities, counts), the window value, which
 * operations decompose, a part's aggregation resuming after its source yields, and a property
 * test: random entries spread over several "shards" (streams whose output label sets collide after
 * `| json`, `| drop`, by-groupings), random decomposable and non-decomposable metric queries
 * (range and instant, vector aggregations, binary operations, pipeline errors), evaluated once
 * through a sharded source that answers range_open with one logql_partial_agg per shard and once
 * with the partial path switched off; results must be equal (counts exactly, floats 1e-12
 * relative) and so must errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/eval.h"
#include "engine/logql/parse.h"
#include "tests/unit/prop.h"

#define S      1000000000LL
#define SHARDS 3
#define MAXE   600

/* ---- a sharded source: today's path over every entry, the partial path shard by shard ---- */

struct shard_src {
    struct logql_memsrc mem; /* the shard's entries */
    uint64_t calls;
    unsigned yield_every; /* next() yields every n-th call (0: never) */
};

struct sharded {
    struct logql_memsrc all;
    struct shard_src sh[SHARDS];
    bool partial; /* answer range_open */
    uint64_t range_opens, yields;
};

struct shard_iter {
    struct shard_src *sh;
    void *it;
};

static int sh_select(void *ctx, const struct logql_select_req *req, void **iter)
{
    struct shard_src *sh = ctx;
    struct shard_iter *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->sh = sh;
    int rc = logql_memsrc_ops.select(&sh->mem, req, &s->it);
    if (rc) {
        free(s);
        return rc;
    }
    *iter = s;
    return 0;
}

static int sh_next(void *iter, struct logql_entry *out)
{
    struct shard_iter *s = iter;
    if (s->sh->yield_every && ++s->sh->calls % s->sh->yield_every == 0)
        return LOGQL_SRC_YIELD;
    return logql_memsrc_ops.next(s->it, out);
}

static void sh_close(void *iter)
{
    struct shard_iter *s = iter;
    logql_memsrc_ops.close(s->it);
    free(s);
}

static const struct logql_source_ops shard_ops = {
    .select = sh_select, .next = sh_next, .close = sh_close};

struct range_iter {
    struct sharded *src;
    struct logql_pipeline *pl[SHARDS];
    struct logql_partial_agg *agg[SHARDS];
    struct logql_partial_sample *buf;
    size_t cap;
};

static void ri_close(void *iter)
{
    struct range_iter *r = iter;
    for (int i = 0; i < SHARDS; i++) {
        logql_partial_agg_destroy(r->agg[i]);
        if (r->pl[i])
            logql_pipeline_destroy(r->pl[i]);
    }
    free(r->buf);
    free(r);
}

static int ri_open(void *ctx, const struct logql_range_req *req, void **iter)
{
    struct sharded *src = ctx;
    if (!src->partial)
        return LOGQL_SRC_DECLINED;
    assert_true(logql_partial_supported(req->e));
    src->range_opens++;
    struct range_iter *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->src = src;
    char e[256];
    for (int i = 0; i < SHARDS; i++) {
        assert_int_equal(logql_pipeline_clone(req->sel.pipeline, &r->pl[i]), 0);
        int rc = logql_partial_agg_create(req, r->pl[i], &shard_ops, &src->sh[i], &r->agg[i], e,
                                          sizeof e);
        if (rc) {
            ri_close(r);
            return rc;
        }
    }
    *iter = r;
    return 0;
}

static int ri_next(void *iter, int64_t t_ns, struct logql_partial_vec *out)
{
    struct range_iter *r = iter;
    memset(out, 0, sizeof *out);
    size_t n = 0;
    for (int i = 0; i < SHARDS; i++) {
        struct logql_partial_vec v;
        int64_t t;
        int rc;
        while ((rc = logql_partial_agg_next(r->agg[i], &t, &v)) == LOGQL_SRC_YIELD) {
            r->src->yields++;
            out->entries_scanned += v.entries_scanned;
        }
        out->entries_scanned += v.entries_scanned;
        out->bytes_scanned += v.bytes_scanned;
        out->entries_kept += v.entries_kept;
        if (rc < 0)
            return rc;
        assert_int_equal(rc, 1);
        assert_int_equal(t, t_ns);
        if (n + v.n > r->cap) {
            r->cap = (n + v.n) * 2;
            r->buf = realloc(r->buf, r->cap * sizeof *r->buf);
            assert_non_null(r->buf);
        }
        for (size_t k = 1; k < v.n; k++) /* a part's label sets are unique and in order */
            assert_true(v.s[k - 1].key != v.s[k].key);
        if (v.n)
            memcpy(r->buf + n, v.s, v.n * sizeof *v.s);
        n += v.n;
    }
    out->s = r->buf;
    out->n = n;
    return 0;
}

static int all_select(void *ctx, const struct logql_select_req *req, void **iter)
{
    return logql_memsrc_ops.select(&((struct sharded *)ctx)->all, req, iter);
}

static const struct logql_source_ops sharded_ops = {
    .select = all_select,
    .next = NULL, /* filled in below: memsrc's */
    .close = NULL,
    .check = NULL,
    .range_open = ri_open,
    .range_next = ri_next,
    .range_close = ri_close,
};

static struct logql_source_ops ops_of(void)
{
    struct logql_source_ops o = sharded_ops;
    o.next = logql_memsrc_ops.next;
    o.close = logql_memsrc_ops.close;
    return o;
}

/* ---- fixtures ---- */

static struct logql_memsrc_entry ents[MAXE];
static struct logql_memsrc_entry sh_ents[SHARDS][MAXE];
static struct label streams[8][3];
static size_t n_streams_l[8];
static char lines[MAXE][160];
static struct sharded SRC;
static char err_a[1024], err_b[1024];

static const char *const APPS[] = {"a", "b"};
static const char *const PODS[] = {"p1", "p2", "p3", "p4"};
static const char *const LEVELS[] = {"info", "warn", "error"};

static void make_streams(void)
{
    for (int i = 0; i < 8; i++) {
        streams[i][0] = (struct label){STR_LIT("app"), str_from_cstr(APPS[i % 2])};
        streams[i][1] = (struct label){STR_LIT("pod"), str_from_cstr(PODS[i / 2])};
        n_streams_l[i] = 2;
    }
}

/* n entries over [0, span_s) seconds; entries of stream i live on shard i % SHARDS. */
static void fill(struct prop *p, size_t n, int64_t span_s, bool errors)
{
    make_streams();
    memset(&SRC, 0, sizeof SRC);
    for (size_t i = 0; i < n; i++) {
        int st = (int)(prop_next(p) % 8);
        int64_t ts = (int64_t)(prop_next(p) % (uint64_t)(span_s * 4)) * (S / 4);
        const char *lvl = LEVELS[prop_next(p) % 3];
        char lat[48];
        uint64_t k = prop_next(p) % 40;
        if (errors && k == 0)
            snprintf(lat, sizeof lat, "\"abc\"");
        else if (k < 20)
            snprintf(lat, sizeof lat, "%d", (int)(prop_next(p) % 1000));
        else
            snprintf(lat, sizeof lat, "%.3f", prop_unit(p) * 100.0 - 10.0);
        int len = snprintf(lines[i], sizeof lines[i],
                           "{\"level\":\"%s\",\"latency\":%s,\"msg\":\"m%llu%.*s\"}", lvl, lat,
                           (unsigned long long)(prop_next(p) % 100), (int)(prop_next(p) % 40),
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        ents[i] = (struct logql_memsrc_entry){
            ts * 1, {lines[i], (size_t)len}, streams[st], n_streams_l[st], NULL, 0};
        struct shard_src *sh = &SRC.sh[st % SHARDS];
        sh_ents[st % SHARDS][sh->mem.n_entries++] = ents[i];
    }
    SRC.all.entries = ents;
    SRC.all.n_entries = n;
    for (int i = 0; i < SHARDS; i++) {
        SRC.sh[i].mem.entries = sh_ents[i];
        uint64_t y = prop_next(p) % 7; /* 0: never; else every 2..7 calls */
        SRC.sh[i].yield_every = y ? (unsigned)y + 1 : 0;
    }
}

static int run(const char *q, const struct logql_eval_params *p, bool partial,
               struct logql_eval_result *r, char *err)
{
    struct logql_query *query = NULL;
    int rc = logql_parse(str_from_cstr(q), &query, err, 1024);
    if (rc) {
        fprintf(stderr, "parse %s: %s\n", q, err);
        fail();
    }
    SRC.partial = partial;
    struct logql_source_ops o = ops_of();
    rc = logql_eval(query, p, &o, &SRC, r, err, 1024);
    logql_query_destroy(query);
    assert_int_equal(SRC.all.n_open, 0);
    for (int i = 0; i < SHARDS; i++)
        assert_int_equal(SRC.sh[i].mem.n_open, 0);
    return rc;
}

static bool close_enough(double a, double b)
{
    if (a == b || (isnan(a) && isnan(b)))
        return true;
    if (isinf(a) || isinf(b) || isnan(a) || isnan(b))
        return false;
    return fabs(a - b) <= 1e-12 * fmax(fabs(a), fabs(b));
}

static bool labels_equal(const struct label *a, size_t na, const struct label *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_eq(a[i].name, b[i].name) || !str_eq(a[i].value, b[i].value))
            return false;
    return true;
}

/* Compares the two paths' results; exact: values must be bit-equal. */
static bool same(const struct logql_eval_result *a, const struct logql_eval_result *b, bool exact)
{
    if (a->type != b->type || a->n_series != b->n_series)
        return false;
    if (a->type == LOGQL_VAL_SCALAR)
        return close_enough(a->scalar, b->scalar);
    for (size_t i = 0; i < a->n_series; i++) {
        const struct logql_out_series *x = &a->series[i], *y = &b->series[i];
        if (!labels_equal(x->labels, x->n_labels, y->labels, y->n_labels) || x->n != y->n)
            return false;
        for (size_t k = 0; k < x->n; k++) {
            if (x->ts_ns[k] != y->ts_ns[k])
                return false;
            bool eq = exact ? (x->v[k] == y->v[k] || (isnan(x->v[k]) && isnan(y->v[k])))
                            : close_enough(x->v[k], y->v[k]);
            if (!eq)
                return false;
        }
    }
    return true;
}

static void dump(const char *what, const struct logql_eval_result *r)
{
    fprintf(stderr, "%s: type %d, %zu series\n", what, r->type, r->n_series);
    for (size_t i = 0; i < r->n_series && i < 20; i++) {
        const struct logql_out_series *s = &r->series[i];
        fprintf(stderr, "  {");
        for (size_t k = 0; k < s->n_labels; k++)
            fprintf(stderr, "%s%.*s=%.*s", k ? "," : "", (int)s->labels[k].name.len,
                    s->labels[k].name.ptr, (int)s->labels[k].value.len, s->labels[k].value.ptr);
        fprintf(stderr, "}");
        for (size_t k = 0; k < s->n && k < 12; k++)
            fprintf(stderr, " %lld:%.17g", (long long)(s->ts_ns[k] / (S / 1000)), s->v[k]);
        fprintf(stderr, "\n");
    }
}

/* Evaluates q both ways and checks they agree; returns the partial path's rc. */
static int both(struct prop *pr, const char *q, const struct logql_eval_params *p, bool exact)
{
    struct logql_eval_result a, b;
    uint64_t opens = SRC.range_opens;
    int ra = run(q, p, false, &a, err_a);
    assert_int_equal(SRC.range_opens, opens);
    int rb = run(q, p, true, &b, err_b);
    bool ok = ra == rb && (ra != 0 || same(&a, &b, exact)) && (ra == 0 || !strcmp(err_a, err_b));
    if (!ok) {
        fprintf(stderr, "query %s (instant %d, %lld..%lld step %lld)\n rc %d/%d err '%s' / '%s'\n",
                q, p->instant, (long long)p->start_ns, (long long)p->end_ns, (long long)p->step_ns,
                ra, rb, err_a, err_b);
        if (!ra)
            dump("single", &a);
        if (!rb)
            dump("partial", &b);
    }
    prop_check(pr, ok);
    logql_eval_result_free(&a);
    logql_eval_result_free(&b);
    return rb;
}

/* ---- merges ---- */

static struct logql_partial P(uint64_t n, double v) {
    return (struct logql_partial){n, v};
}

static void
test_merge_ops(void **state)
{
    (void)state;
    struct logql_partial a = P(2, 10), b = P(3, 5);
    logql_partial_merge(LOGQL_RANGE_COUNT, &a, &b);
    assert_int_equal(a.count, 5);
    a = P(2, 10);
    logql_partial_merge(LOGQL_RANGE_BYTES, &a, &b);
    assert_true(a.count == 5 && a.v == 15);
    a = P(2, 10);
    logql_partial_merge(LOGQL_RANGE_SUM, &a, &b);
    assert_true(a.v == 15);
    a = P(1, 4);
    b = P(3, 8); /* means 4 (1 sample) and 8 (3 samples): 7 */
    logql_partial_merge(LOGQL_RANGE_AVG, &a, &b);
    assert_true(a.count == 4 && fabs(a.v - 7) < 1e-15);
    a = P(1, 4);
    b = P(1, -2);
    logql_partial_merge(LOGQL_RANGE_MIN, &a, &b);
    assert_true(a.v == -2);
    a = P(1, 4);
    logql_partial_merge(LOGQL_RANGE_MAX, &a, &b);
    assert_true(a.v == 4);
}

static void test_merge_nan_inf(void **state)
{
    (void)state;
    /* min/max: NaN only when every part is NaN */
    struct logql_partial a = P(1, NAN), b = P(1, 3);
    logql_partial_merge(LOGQL_RANGE_MAX, &a, &b);
    assert_true(a.v == 3);
    a = P(1, 3);
    b = P(1, NAN);
    logql_partial_merge(LOGQL_RANGE_MIN, &a, &b);
    assert_true(a.v == 3);
    a = P(1, NAN);
    logql_partial_merge(LOGQL_RANGE_MIN, &a, &b);
    assert_true(isnan(a.v));
    /* avg: NaN wins, opposite infinities give NaN, one infinity wins over finite means */
    a = P(2, INFINITY);
    b = P(5, 1e300);
    logql_partial_merge(LOGQL_RANGE_AVG, &a, &b);
    assert_true(isinf(a.v) && a.v > 0);
    a = P(2, 1);
    b = P(1, -INFINITY);
    logql_partial_merge(LOGQL_RANGE_AVG, &a, &b);
    assert_true(isinf(a.v) && a.v < 0);
    a = P(2, INFINITY);
    logql_partial_merge(LOGQL_RANGE_AVG, &a, &b);
    assert_true(isnan(a.v));
    a = P(2, INFINITY);
    b = P(1, INFINITY);
    logql_partial_merge(LOGQL_RANGE_AVG, &a, &b);
    assert_true(isinf(a.v) && a.v > 0 && a.count == 3);
    a = P(2, 1);
    b = P(1, NAN);
    logql_partial_merge(LOGQL_RANGE_AVG, &a, &b);
    assert_true(isnan(a.v));
    /* large finite means do not overflow */
    a = P(1, 1.5e308);
    b = P(1, 1.5e308);
    logql_partial_merge(LOGQL_RANGE_AVG, &a, &b);
    assert_true(a.v == 1.5e308);
    /* sums overflow as the single path's sum does */
    a = P(1, 1e308);
    b = P(1, 1e308);
    logql_partial_merge(LOGQL_RANGE_SUM, &a, &b);
    assert_true(isinf(a.v));
}

static const struct logql_expr *range_of(struct logql_query *q)
{
    const struct logql_expr *e = q->root;
    while (e->kind != LOGQL_EXPR_RANGE_AGG)
        e = e->inner;
    return e;
}

static void test_value_and_supported(void **state)
{
    (void)state;
    static const struct {
        const char *q;
        bool ok;
        double value; /* of P(4, 10) */
    } cases[] = {
        {"count_over_time({a=\"b\"}[2s])", true, 4},
        {"rate({a=\"b\"}[2s])", true, 2},
        {"rate({a=\"b\"} | unwrap x [2s])", true, 5},
        {"bytes_over_time({a=\"b\"}[2s])", true, 10},
        {"bytes_rate({a=\"b\"}[2s])", true, 5},
        {"sum_over_time({a=\"b\"} | unwrap x [2s])", true, 10},
        {"avg_over_time({a=\"b\"} | unwrap x [2s])", true, 10},
        {"min_over_time({a=\"b\"} | unwrap x [2s])", true, 10},
        {"max_over_time({a=\"b\"} | unwrap x [2s])", true, 10},
        {"absent_over_time({a=\"b\"}[2s])", true, 1},
        {"quantile_over_time(0.5, {a=\"b\"} | unwrap x [2s])", false, 0},
        {"stddev_over_time({a=\"b\"} | unwrap x [2s])", false, 0},
        {"stdvar_over_time({a=\"b\"} | unwrap x [2s])", false, 0},
        {"rate_counter({a=\"b\"} | unwrap x [2s])", false, 0},
        {"first_over_time({a=\"b\"} | unwrap x [2s])", false, 0},
        {"last_over_time({a=\"b\"} | unwrap x [2s])", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct logql_query *q = NULL;
        char e[256];
        assert_int_equal(logql_parse(str_from_cstr(cases[i].q), &q, e, sizeof e), 0);
        const struct logql_expr *r = range_of(q);
        assert_int_equal(logql_partial_supported(r), cases[i].ok);
        if (cases[i].ok) {
            struct logql_partial p = P(4, 10);
            assert_true(logql_partial_value(r, &p) == cases[i].value);
        }
        logql_query_destroy(q);
    }
    assert_false(logql_partial_supported(NULL));
}

/* ---- a part's aggregation ---- */

static void test_agg_yield_resume(void **state)
{
    (void)state;
    struct prop pr = prop_begin("agg_yield_resume");
    fill(&pr, 200, 120, false);
    struct logql_query *q = NULL;
    char e[256];
    assert_int_equal(
        logql_parse(str_from_cstr("sum by (level) (count_over_time({app=~\".+\"} | json [10s]))"),
                    &q, e, sizeof e),
        0);
    const struct logql_expr *r = range_of(q);
    struct logql_pipeline_opts o = {.metric = true};
    struct logql_pipeline *pl = NULL;
    assert_int_equal(logql_pipeline_compile_expr(r, &o, &pl, e, sizeof e), 0);
    static const struct str lv = STR_LIT("level");
    struct logql_range_req req = {.e = r,
                                  .pushdown = true,
                                  .pushdown_names = &lv,
                                  .n_pushdown = 1,
                                  .start_ns = 10 * S,
                                  .end_ns = 120 * S,
                                  .step_ns = 10 * S};
    uint64_t total[2] = {0, 0};
    for (int pass = 0; pass < 2; pass++) { /* without, then with yields */
        struct shard_src sh = {.mem = SRC.all, .yield_every = pass ? 3 : 0};
        struct logql_partial_agg *a = NULL;
        assert_int_equal(logql_partial_agg_create(&req, pl, &shard_ops, &sh, &a, e, sizeof e), 0);
        size_t steps = 0;
        uint64_t yields = 0, scanned = 0;
        for (;;) {
            struct logql_partial_vec v;
            int64_t t;
            int rc = logql_partial_agg_next(a, &t, &v);
            scanned += v.entries_scanned;
            if (rc == LOGQL_SRC_YIELD) {
                yields++;
                continue;
            }
            if (rc == 0)
                break;
            assert_int_equal(rc, 1);
            assert_int_equal(t, (int64_t)(10 + 10 * steps) * S);
            steps++;
            for (size_t k = 0; k < v.n; k++) {
                assert_int_equal(v.s[k].n_labels, 1); /* {level} */
                total[pass] += v.s[k].p.count;
            }
        }
        assert_int_equal(steps, 12);
        assert_true(pass ? yields > 0 : yields == 0);
        struct logql_eval_stats st;
        logql_partial_agg_stats(a, &st);
        assert_int_equal(st.entries_scanned, scanned);
        assert_true(scanned > 0);
        assert_int_equal(logql_partial_agg_next(a, &(int64_t){0}, &(struct logql_partial_vec){0}),
                         0);
        logql_partial_agg_destroy(a);
        assert_int_equal(sh.mem.n_open, 0);
    }
    assert_true(total[0] == total[1] && total[0] > 0);
    logql_partial_agg_destroy(NULL);
    logql_pipeline_destroy(pl);
    logql_query_destroy(q);
}

/* ---- the property: partial path == single path ---- */

static const char *const RANGE_EXACT[] = {
    "count_over_time(%s [%s]%s)",  "rate(%s [%s]%s)",
    "bytes_over_time(%s [%s]%s)",  "bytes_rate(%s [%s]%s)",
    "absent_over_time(%s [%s]%s)",
};
static const char *const RANGE_UNWRAP[] = {
    "sum_over_time(%s | unwrap latency [%s]%s)",
    "rate(%s | unwrap latency [%s]%s)",
    "avg_over_time(%s | unwrap latency [%s]%s)",
    "min_over_time(%s | unwrap latency [%s]%s)",
    "max_over_time(%s | unwrap latency [%s]%s)",
    /* not decomposable: the single path in both runs */
    "quantile_over_time(0.5, %s | unwrap latency [%s]%s)",
    "stddev_over_time(%s | unwrap latency [%s]%s)",
    "first_over_time(%s | unwrap latency [%s]%s)",
};
static const char *const PIPES[] = {
    "{app=~\"a|b\"}",
    "{app=\"a\"}",
    "{app=~\".+\"} | json",
    "{app=~\".+\"} | json | drop pod",
    "{app=~\".+\"} | json | keep level",
    "{app=~\".+\"} |= \"m1\" | json | level=\"error\"",
    "{pod=~\"p1|p3\"} | json | line_format \"{{.level}}\"",
    "{app=~\".+\"} | json | drop pod, msg, latency",
};
static const char *const OUTER[] = {
    "%s",
    "sum(%s)",
    "sum by (level) (%s)",
    "sum by (app) (%s)",
    "avg by (level) (%s)",
    "count(%s)",
    "max by (level) (%s)",
    "topk(2, %s)",
    "sort_desc(%s)",
    "%s > 2",
    "sum by (level) (%s) / on () group_left sum(%s)",
    "label_replace(%s, \"x\", \"$1\", \"level\", \"(.)\")",
};

static void test_prop_partial_equals_single(void **state)
{
    (void)state;
    struct prop pr = prop_begin("partial_equals_single");
    static const char *const ranges[] = {"5s", "30s", "1m", "2m"};
    for (int round = 0; round < 12; round++) {
        bool errors = round % 3 == 2;
        fill(&pr, 150 + (size_t)(prop_next(&pr) % 350), 300, errors);
        for (int k = 0; k < 25; k++) {
            bool unwrap = prop_next(&pr) % 2;
            const char *rt =
                unwrap ? RANGE_UNWRAP[prop_next(&pr) % 8] : RANGE_EXACT[prop_next(&pr) % 5];
            const char *pipe = PIPES[prop_next(&pr) % 8];
            char pb[256];
            if (unwrap && !strstr(pipe, "json"))
                pipe = "{app=~\".+\"} | json";
            if (unwrap && strstr(pipe, "drop pod, msg, latency"))
                pipe = "{app=~\".+\"} | json | drop msg";
            snprintf(pb, sizeof pb, "%s%s", pipe,
                     unwrap && !errors && prop_next(&pr) % 2 ? "" : "");
            char inner[512];
            const char *off = prop_next(&pr) % 4 == 0 ? " offset 20s" : "";
            snprintf(inner, sizeof inner, rt, pb, ranges[prop_next(&pr) % 4], off);
            if (unwrap && errors && prop_next(&pr) % 2) { /* filter the conversion errors */
                char *u = strstr(inner, "unwrap latency");
                if (u) {
                    char tmp[512];
                    snprintf(tmp, sizeof tmp, "%.*sunwrap latency | __error__=\"\"%s",
                             (int)(u - inner), inner, u + strlen("unwrap latency"));
                    snprintf(inner, sizeof inner, "%s", tmp);
                }
            }
            const char *outer = OUTER[prop_next(&pr) % 12];
            char q[1200];
            snprintf(q, sizeof q, outer, inner, inner);
            struct logql_eval_params p = {.limit = 100, .max_series = 500};
            if (prop_next(&pr) % 3 == 0) {
                p.instant = true;
                p.start_ns = p.end_ns = (int64_t)(20 + prop_next(&pr) % 300) * S;
            } else {
                p.start_ns = (int64_t)(prop_next(&pr) % 100) * S;
                p.end_ns = p.start_ns + (int64_t)(prop_next(&pr) % 300) * S;
                p.step_ns = (int64_t)(1 + prop_next(&pr) % 30) * S / 2;
            }
            if (prop_next(&pr) % 10 == 0)
                p.max_series = 3;
            bool exact = !unwrap && !strstr(outer, "avg") && !strstr(outer, " / ");
            both(&pr, q, &p, exact);
        }
    }
    assert_true(SRC.range_opens > 0);
    assert_true(SRC.yields > 0);
}

/* The error of a conversion failure names the same series on both paths. */
static void test_pipeline_error_same(void **state)
{
    (void)state;
    struct prop pr = prop_begin("pipeline_error_same");
    fill(&pr, 300, 200, true);
    struct logql_eval_params p = {
        .start_ns = 0, .end_ns = 200 * S, .step_ns = 10 * S, .limit = 100, .max_series = 500};
    int rc = both(&pr, "sum_over_time({app=~\".+\"} | json | unwrap latency [1m])", &p, false);
    assert_int_equal(rc, ERR_INVALID);
    assert_non_null(strstr(err_b, "pipeline error: 'SampleExtractionErr'"));
    rc = both(&pr, "sum by (level) (count_over_time({app=~\".+\"} | json [1m]))", &p, true);
    assert_int_equal(rc, 0);
    p.max_series = 2;
    rc = both(&pr, "count_over_time({app=~\".+\"} | json | drop msg, latency [1m])", &p, true);
    assert_int_equal(rc, ERR_INVALID);
    assert_non_null(strstr(err_b, "maximum number of series (2)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_ops),
        cmocka_unit_test(test_merge_nan_inf),
        cmocka_unit_test(test_value_and_supported),
        cmocka_unit_test(test_agg_yield_resume),
        cmocka_unit_test(test_prop_partial_equals_single),
        cmocka_unit_test(test_pipeline_error_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
