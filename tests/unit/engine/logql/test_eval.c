/* LogQL evaluator (engine/logql/eval.h) over the in-memory source: log queries (limit, direction,
 * interval, stream grouping and order, categorized labels, max entries limit, line hint), every
 * range aggregation with hand-computed windows, offset, vector aggregations, binary operations
 * (literals, bool, on/ignoring, group_left, and/or/unless, errors), label_replace, vector(),
 * literal roots, absent_over_time, pipeline errors, the series limit, cancellation, and a
 * randomized count_over_time check against a brute-force count. Expected values follow Loki
 * 3.x. */
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

#define S 1000000000LL

/* ---- fixtures ---- */

struct tentry {
    int64_t ts_s;
    const char *stream; /* `a="x", b="y"` */
    const char *line;
    const char *meta; /* may be NULL */
};

#define MAXE 4096
static struct label pool[MAXE * 4];
static size_t pool_n;

/* Parses `a="x", b="y"` (sorted by the caller) into labels from the pool. */
static const struct label *labels_of(const char *s, size_t *n)
{
    *n = 0;
    const struct label *first = &pool[pool_n];
    while (s && *s) {
        while (*s == ' ' || *s == ',')
            s++;
        const char *eq = strchr(s, '=');
        if (!*s || !eq)
            break;
        struct label *l = &pool[pool_n++];
        l->name = (struct str){s, (size_t)(eq - s)};
        const char *v = eq + 2, *q = strchr(v, '"');
        l->value = (struct str){v, (size_t)(q - v)};
        s = q + 1;
        (*n)++;
    }
    return first;
}

static struct logql_memsrc_entry ents[MAXE];
static struct logql_memsrc src;

static void load(const struct tentry *t, size_t n)
{
    pool_n = 0;
    for (size_t i = 0; i < n; i++) {
        struct logql_memsrc_entry *e = &ents[i];
        e->ts_ns = t[i].ts_s * S;
        e->line = str_from_cstr(t[i].line);
        e->stream = labels_of(t[i].stream, &e->n_stream);
        e->meta = labels_of(t[i].meta, &e->n_meta);
    }
    memset(&src, 0, sizeof src);
    src.entries = ents;
    src.n_entries = n;
}

static struct logql_eval_params range_p(int64_t start_s, int64_t end_s, int64_t step_s)
{
    return (struct logql_eval_params){.start_ns = start_s * S,
                                      .end_ns = end_s * S,
                                      .step_ns = step_s * S,
                                      .limit = 100,
                                      .max_series = 500,
                                      .max_entries_limit = 5000};
}

static struct logql_eval_params instant_p(int64_t t_s)
{
    struct logql_eval_params p = range_p(t_s, t_s, 0);
    p.instant = true;
    return p;
}

static char err[1024];

static int eval(const char *q, const struct logql_eval_params *p, struct logql_eval_result *r)
{
    struct logql_query *query = NULL;
    int rc = logql_parse(str_from_cstr(q), &query, err, sizeof err);
    if (rc) {
        fprintf(stderr, "parse %s: %s\n", q, err);
        fail();
    }
    rc = logql_eval(query, p, &logql_memsrc_ops, &src, r, err, sizeof err);
    logql_query_destroy(query);
    assert_int_equal(src.n_open, 0);
    return rc;
}

static void put_labels(char **w, const struct label *l, size_t n)
{
    *w += sprintf(*w, "{");
    for (size_t i = 0; i < n; i++)
        *w += sprintf(*w, "%s%.*s=\"%.*s\"", i ? ", " : "", (int)l[i].name.len, l[i].name.ptr,
                      (int)l[i].value.len, l[i].value.ptr);
    *w += sprintf(*w, "}");
}

/* One line per stream or series: `{labels} ts:value ...` (seconds; %.6g values). */
static const char *fmt(const struct logql_eval_result *r)
{
    static char out[1 << 16];
    char *w = out;
    *w = 0;
    if (r->type == LOGQL_VAL_SCALAR) {
        sprintf(w, "scalar %lld:%.6g", (long long)(r->scalar_ts_ns / S), r->scalar);
        return out;
    }
    for (size_t i = 0; i < r->n_streams; i++) {
        const struct logql_out_stream *s = &r->streams[i];
        put_labels(&w, s->labels, s->n_labels);
        for (size_t k = 0; k < s->n_entries; k++) {
            const struct logql_out_entry *e = &s->entries[k];
            w += sprintf(w, " %lld:%.*s", (long long)(e->ts_ns / S), (int)e->line.len, e->line.ptr);
            if (e->n_meta || e->n_parsed) {
                w += sprintf(w, "[");
                put_labels(&w, e->meta, e->n_meta);
                put_labels(&w, e->parsed, e->n_parsed);
                w += sprintf(w, "]");
            }
        }
        w += sprintf(w, "\n");
    }
    for (size_t i = 0; i < r->n_series; i++) {
        const struct logql_out_series *s = &r->series[i];
        put_labels(&w, s->labels, s->n_labels);
        for (size_t k = 0; k < s->n; k++)
            w += sprintf(w, " %lld:%.6g", (long long)(s->ts_ns[k] / S), s->v[k]);
        w += sprintf(w, "\n");
    }
    return out;
}

static void expect(const char *q, struct logql_eval_params p, enum logql_value_type type,
                   const char *want)
{
    struct logql_eval_result r;
    int rc = eval(q, &p, &r);
    if (rc)
        fprintf(stderr, "%s: rc %d %s\n", q, rc, err);
    assert_int_equal(rc, 0);
    if (strcmp(fmt(&r), want) != 0 || r.type != type) {
        fprintf(stderr, "query: %s\nwant (type %d):\n%sgot (type %d):\n%s", q, type, want, r.type,
                fmt(&r));
        fail();
    }
    logql_eval_result_free(&r);
    logql_eval_result_free(&r); /* harmless twice */
}

static void expect_err(const char *q, struct logql_eval_params p, int want_rc, const char *prefix)
{
    struct logql_eval_result r;
    int rc = eval(q, &p, &r);
    if (rc != want_rc || strncmp(err, prefix, strlen(prefix)) != 0) {
        fprintf(stderr, "query: %s\nrc %d (want %d) err: %s\nwant: %s\n", q, rc, want_rc, err,
                prefix);
        fail();
    }
    assert_null(r.mem);
    assert_int_equal(r.n_series, 0);
}

/* Two streams: a (level info) at 10, 20, 70 s; b (level error) at 15, 65 s. */
static const struct tentry D1[] = {
    {10, "app=\"a\", level=\"info\"", "x=1 size=10", NULL},
    {20, "app=\"a\", level=\"info\"", "x=2 size=20", NULL},
    {70, "app=\"a\", level=\"info\"", "x=3 size=5", NULL},
    {15, "app=\"b\", level=\"error\"", "x=4 size=100", NULL},
    {65, "app=\"b\", level=\"error\"", "x=5 size=1", NULL},
};

#define LA "{app=\"a\", level=\"info\"}"
#define LB "{app=\"b\", level=\"error\"}"

/* ---- log queries ---- */

static void test_log_limit_direction(void **state)
{
    (void)state;
    load(D1, 5);
    struct logql_eval_params p = range_p(0, 100, 0);
    p.limit = 2;
    p.backward = true;
    expect("{app=~\"a|b\"}", p, LOGQL_VAL_STREAMS, LA " 70:x=3 size=5\n" LB " 65:x=5 size=1\n");
    p.backward = false;
    expect("{app=~\"a|b\"}", p, LOGQL_VAL_STREAMS, LA " 10:x=1 size=10\n" LB " 15:x=4 size=100\n");
    p.limit = 100;
    expect("{app=~\"a|b\"}", p, LOGQL_VAL_STREAMS,
           LA " 10:x=1 size=10 20:x=2 size=20 70:x=3 size=5\n" LB
              " 15:x=4 size=100 65:x=5 size=1\n");
    p.backward = true;
    expect("{app=\"a\"}", p, LOGQL_VAL_STREAMS,
           LA " 70:x=3 size=5 20:x=2 size=20 10:x=1 size=10\n");
    /* end is exclusive, start inclusive */
    p = range_p(20, 70, 0);
    expect("{app=\"a\"}", p, LOGQL_VAL_STREAMS, LA " 20:x=2 size=20\n");
    p.limit = 0;
    expect("{app=\"a\"}", p, LOGQL_VAL_STREAMS, "");
}

static void test_log_pipeline_and_streams(void **state)
{
    (void)state;
    load(D1, 5);
    struct logql_eval_params p = range_p(0, 100, 0);
    expect("{app=~\"a|b\"} | logfmt | size > 15", p, LOGQL_VAL_STREAMS,
           "{app=\"a\", level=\"info\", size=\"20\", x=\"2\"} 20:x=2 size=20\n"
           "{app=\"b\", level=\"error\", size=\"100\", x=\"4\"} 15:x=4 size=100\n");
    expect("{app=~\"a|b\"} |= \"size=1\" | line_format \"{{.app}}\"", p, LOGQL_VAL_STREAMS,
           LA " 10:a\n" LB " 15:b 65:b\n");
    p.categorize_labels = true;
    expect("{app=~\"a|b\"} | logfmt | size > 15", p, LOGQL_VAL_STREAMS,
           LA " 20:x=2 size=20[{}{size=\"20\", x=\"2\"}]\n" LB
              " 15:x=4 size=100[{}{size=\"100\", x=\"4\"}]\n");
    struct tentry m[] = {{5, "app=\"m\"", "hello", "trace=\"t1\""},
                         {6, "app=\"m\"", "world", NULL}};
    load(m, 2);
    expect("{app=\"m\"}", p, LOGQL_VAL_STREAMS, "{app=\"m\"} 5:hello[{trace=\"t1\"}{}] 6:world\n");
    p.categorize_labels = false;
    expect("{app=\"m\"}", p, LOGQL_VAL_STREAMS,
           "{app=\"m\", trace=\"t1\"} 5:hello\n{app=\"m\"} 6:world\n");
}

/* Many streams: each entry lands in its own stream, streams come out sorted by their text. */
static void test_log_many_streams(void **state)
{
    (void)state;
    static struct tentry t[700];
    static char names[700][16];
    for (size_t i = 0; i < 700; i++) {
        snprintf(names[i], sizeof names[i], "s=\"%zu\"", (i * 7919) % 700);
        t[i] = (struct tentry){(int64_t)i, names[i], "l", NULL};
    }
    load(t, 700);
    struct logql_eval_params p = range_p(0, 1000, 0);
    p.limit = 1000;
    struct logql_eval_result r;
    assert_int_equal(eval("{s=~\".+\"}", &p, &r), 0);
    assert_int_equal(r.n_streams, 700);
    for (size_t i = 1; i < r.n_streams; i++) {
        assert_int_equal(r.streams[i].n_entries, 1);
        assert_true(str_cmp(r.streams[i - 1].labels[0].value, r.streams[i].labels[0].value) < 0);
    }
    logql_eval_result_free(&r);
}

static void test_log_interval(void **state)
{
    (void)state;
    load(D1, 5);
    struct logql_eval_params p = range_p(0, 100, 0);
    p.interval_ns = 30 * S;
    /* forward: 10 kept, 15 and 20 within 30s, 65 kept, 70 within */
    expect("{app=~\"a|b\"}", p, LOGQL_VAL_STREAMS, LA " 10:x=1 size=10\n" LB " 65:x=5 size=1\n");
    p.backward = true; /* 70 kept, 65 and 20 skipped? 20 <= 40: kept; 15, 10 within */
    expect("{app=~\"a|b\"}", p, LOGQL_VAL_STREAMS, LA " 70:x=3 size=5 20:x=2 size=20\n");
}

static void test_log_limits_and_hint(void **state)
{
    (void)state;
    load(D1, 5);
    struct logql_eval_params p = range_p(0, 100, 0);
    p.limit = 5001;
    expect_err("{app=\"a\"}", p, ERR_INVALID,
               "max entries limit per query exceeded, limit > max_entries_limit (5001 > 5000)");
    p.limit = 10;
    expect("{app=\"a\"} |= \"x=\" != \"q\" |= \"size\" | line_format \"z\" |= \"z\"", p,
           LOGQL_VAL_STREAMS, LA " 10:z 20:z 70:z\n");
    assert_int_equal(src.last_req.n_contains, 2);
    assert_string_equal(src.last_hint, "x=|size");
    assert_int_equal(src.last_req.start_ns, 0);
    assert_int_equal(src.last_req.end_ns, 100 * S);
    struct logql_eval_result r;
    assert_int_equal(eval("{app=~\"a|b\"} |= \"size=1\"", &p, &r), 0);
    assert_int_equal(r.stats.entries_scanned, 5);
    assert_int_equal(r.stats.entries_kept, 3);
    assert_int_equal(r.stats.bytes_scanned, 11 + 11 + 10 + 12 + 10);
    assert_int_equal(r.stats.series, 2);
    logql_eval_result_free(&r);
    p = range_p(60, 120, 60);
    assert_int_equal(eval("count_over_time({app=~\"a|b\"}[1m])", &p, &r), 0);
    assert_int_equal(r.stats.series, 2);
    assert_int_equal(r.stats.samples, 4);
    assert_int_equal(r.stats.entries_scanned, 5);
    assert_true(r.stats.exec_ns > 0);
    logql_eval_result_free(&r);
}

/* ---- range aggregations ---- */

static void test_range_counts(void **state)
{
    (void)state;
    load(D1, 5);
    struct logql_eval_params p = range_p(60, 120, 60);
    expect("count_over_time({app=~\"a|b\"}[1m])", p, LOGQL_VAL_MATRIX,
           LA " 60:2 120:1\n" LB " 60:1 120:1\n");
    expect("rate({app=~\"a|b\"}[1m])", p, LOGQL_VAL_MATRIX,
           LA " 60:0.0333333 120:0.0166667\n" LB " 60:0.0166667 120:0.0166667\n");
    expect("bytes_over_time({app=~\"a|b\"}[1m])", p, LOGQL_VAL_MATRIX,
           LA " 60:22 120:10\n" LB " 60:12 120:10\n");
    expect("bytes_rate({app=~\"a|b\"}[1m])", p, LOGQL_VAL_MATRIX,
           LA " 60:0.366667 120:0.166667\n" LB " 60:0.2 120:0.166667\n");
    /* bytes measure the line after line_format */
    expect("bytes_over_time({app=\"a\"} | line_format \"ab\" [1m])", p, LOGQL_VAL_MATRIX,
           LA " 60:4 120:2\n");
    /* windows are (t - range, t]: an entry exactly at t - range is out, one at t is in */
    p = range_p(20, 80, 60);
    expect("count_over_time({app=\"a\"}[11s])", p, LOGQL_VAL_MATRIX, LA " 20:2 80:1\n");
    expect("count_over_time({app=\"a\"}[10s])", p, LOGQL_VAL_MATRIX, LA " 20:1\n");
    p = range_p(30, 30, 10);
    expect("count_over_time({app=\"a\"}[10s])", p, LOGQL_VAL_MATRIX, "");
    /* step grid start..end inclusive; a step without samples has no point */
    p = range_p(0, 100, 25);
    expect("count_over_time({app=\"a\"}[25s])", p, LOGQL_VAL_MATRIX, LA " 25:2 75:1\n");
    /* a series that drained out of the window comes back with its next sample */
    struct tentry churn[] = {
        {10, "app=\"c\"", "x", NULL}, {200, "app=\"c\"", "y", NULL}, {100, "app=\"d\"", "z", NULL}};
    load(churn, 3);
    p = range_p(0, 240, 30);
    expect("count_over_time({app=~\"c|d\"}[30s])", p, LOGQL_VAL_MATRIX,
           "{app=\"c\"} 30:1 210:1\n{app=\"d\"} 120:1\n");
    load(D1, 5);
    /* offset moves the window back */
    p = range_p(60, 120, 60);
    expect("count_over_time({app=\"a\"}[1m] offset 1m)", p, LOGQL_VAL_MATRIX, LA " 120:2\n");
    assert_int_equal(src.last_req.start_ns, 60 * S - 60 * S - 60 * S);
    assert_int_equal(src.last_req.end_ns, 60 * S + 1);
}

static void test_range_unwrap(void **state)
{
    (void)state;
    load(D1, 5);
    struct logql_eval_params p = range_p(60, 120, 60);
    const char *ops[][2] = {
        {"sum_over_time", LA " 60:30 120:5\n"},    {"avg_over_time", LA " 60:15 120:5\n"},
        {"min_over_time", LA " 60:10 120:5\n"},    {"max_over_time", LA " 60:20 120:5\n"},
        {"first_over_time", LA " 60:10 120:5\n"},  {"last_over_time", LA " 60:20 120:5\n"},
        {"stdvar_over_time", LA " 60:25 120:0\n"}, {"stddev_over_time", LA " 60:5 120:0\n"},
        {"rate", LA " 60:0.5 120:0.0833333\n"},
    };
    char q[256];
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        snprintf(q, sizeof q, "%s({app=\"a\"} | logfmt | drop x | unwrap size [1m])", ops[i][0]);
        expect(q, p, LOGQL_VAL_MATRIX, ops[i][1]);
    }
    expect("quantile_over_time(0.5, {app=\"a\"} | logfmt | unwrap size [1m]) by (app)", p,
           LOGQL_VAL_MATRIX, "{app=\"a\"} 60:15 120:5\n");
    expect("quantile_over_time(0.9, {app=\"a\"} | logfmt | unwrap size [1m]) by (app)", p,
           LOGQL_VAL_MATRIX, "{app=\"a\"} 60:19 120:5\n");
    /* the unwrapped label is not part of the series; x still is */
    expect("sum_over_time({app=\"a\"} | logfmt | unwrap size [1m])", p, LOGQL_VAL_MATRIX,
           "{app=\"a\", level=\"info\", x=\"1\"} 60:10\n"
           "{app=\"a\", level=\"info\", x=\"2\"} 60:20\n"
           "{app=\"a\", level=\"info\", x=\"3\"} 120:5\n");
    expect("max_over_time({app=~\"a|b\"} | logfmt | unwrap size [1m]) without (x, app)", p,
           LOGQL_VAL_MATRIX, "{level=\"error\"} 60:100 120:1\n{level=\"info\"} 60:20 120:5\n");
    /* conversions */
    struct tentry d[] = {{10, "app=\"d\"", "t=1.5s b=1KiB", NULL},
                         {20, "app=\"d\"", "t=250ms b=2KB", NULL}};
    load(d, 2);
    p = range_p(60, 60, 60);
    expect("sum(sum_over_time({app=\"d\"} | logfmt | unwrap duration(t) [1m]))", p,
           LOGQL_VAL_MATRIX, "{} 60:1.75\n");
    expect("sum by (app) (sum_over_time({app=\"d\"} | logfmt | unwrap bytes(b) [1m]))", p,
           LOGQL_VAL_MATRIX, "{app=\"d\"} 60:3024\n");
    expect("max_over_time({app=\"d\"} | logfmt | unwrap duration_seconds(t) [1m]) by (app)", p,
           LOGQL_VAL_MATRIX, "{app=\"d\"} 60:1.5\n");
}

static void test_rate_counter(void **state)
{
    (void)state;
    struct tentry d[] = {{10, "app=\"c\"", "v=10", NULL},
                         {20, "app=\"c\"", "v=20", NULL},
                         {40, "app=\"c\"", "v=40", NULL},
                         {70, "app=\"c\"", "v=5", NULL},
                         {80, "app=\"c\"", "v=15", NULL}};
    load(d, 5);
    struct logql_eval_params p = range_p(60, 120, 60);
    /* 60: 30 over 30s sampled, 10s to the start (kept), 20s to the end (> 1.1 * 15: 7.5) ->
     * 30 * 47.5 / 30 / 60. 120: samples 70 (5) and 80 (15): +10, to start 10s (> 11: 5), to zero
     * 10 * 5 / 10 = 5, to end 40s -> 5: 10 * 20 / 10 / 60. */
    expect("rate_counter({app=\"c\"} | logfmt | unwrap v [1m])", p, LOGQL_VAL_MATRIX,
           "{app=\"c\"} 60:0.791667 120:0.333333\n");
    /* a reset adds the value before it */
    p = range_p(90, 90, 60);
    expect("rate_counter({app=\"c\"} | logfmt | unwrap v [90s])", p, LOGQL_VAL_MATRIX,
           "{app=\"c\"} 90:0.642857\n");
}

static void test_absent(void **state)
{
    (void)state;
    load(D1, 5);
    struct logql_eval_params p = range_p(60, 180, 60);
    expect("absent_over_time({app=\"a\"}[1m])", p, LOGQL_VAL_MATRIX, "{app=\"a\"} 180:1\n");
    expect("absent_over_time({app=\"zz\", level=~\".+\"}[1m])", p, LOGQL_VAL_MATRIX,
           "{app=\"zz\"} 60:1 120:1 180:1\n");
    expect("absent_over_time({app=\"a\", app=\"b\"}[1m])", p, LOGQL_VAL_MATRIX,
           "{} 60:1 120:1 180:1\n");
}

/* ---- vector aggregations ---- */

#define CNT "count_over_time({app=~\"a|b\"}[1m])"

static void test_vector_agg(void **state)
{
    (void)state;
    load(D1, 5);
    struct logql_eval_params p = range_p(60, 120, 60);
    expect("sum(" CNT ")", p, LOGQL_VAL_MATRIX, "{} 60:3 120:2\n");
    expect("sum by (level) (" CNT ")", p, LOGQL_VAL_MATRIX,
           "{level=\"error\"} 60:1 120:1\n{level=\"info\"} 60:2 120:1\n");
    expect("sum without (app) (" CNT ")", p, LOGQL_VAL_MATRIX,
           "{level=\"error\"} 60:1 120:1\n{level=\"info\"} 60:2 120:1\n");
    expect("count(" CNT ")", p, LOGQL_VAL_MATRIX, "{} 60:2 120:2\n");
    expect("max(" CNT ")", p, LOGQL_VAL_MATRIX, "{} 60:2 120:1\n");
    expect("min(" CNT ")", p, LOGQL_VAL_MATRIX, "{} 60:1 120:1\n");
    expect("avg(" CNT ")", p, LOGQL_VAL_MATRIX, "{} 60:1.5 120:1\n");
    expect("stddev(" CNT ")", p, LOGQL_VAL_MATRIX, "{} 60:0.5 120:0\n");
    expect("stdvar(" CNT ")", p, LOGQL_VAL_MATRIX, "{} 60:0.25 120:0\n");
    expect("sum by (nope) (" CNT ")", p, LOGQL_VAL_MATRIX, "{} 60:3 120:2\n");
    struct logql_eval_params i = instant_p(60);
    expect("topk(1, " CNT ")", i, LOGQL_VAL_VECTOR, LA " 60:2\n");
    expect("bottomk(1, " CNT ")", i, LOGQL_VAL_VECTOR, LB " 60:1\n");
    expect("topk(5, " CNT ")", i, LOGQL_VAL_VECTOR, LA " 60:2\n" LB " 60:1\n");
    expect("topk by (app) (1, " CNT ")", i, LOGQL_VAL_VECTOR, LA " 60:2\n" LB " 60:1\n");
    /* instant vectors are sorted by labels unless the query sorts by value */
    expect("sort(" CNT ")", i, LOGQL_VAL_VECTOR, LB " 60:1\n" LA " 60:2\n");
    expect_err("approx_topk(1, " CNT ")", p, ERR_INVALID,
               "count min sketches are only supported on instant queries");
    expect("approx_topk(1, " CNT ")", i, LOGQL_VAL_VECTOR, LA " 60:2\n");
    expect("sort_desc(" CNT ")", i, LOGQL_VAL_VECTOR, LA " 60:2\n" LB " 60:1\n");
    expect(CNT, i, LOGQL_VAL_VECTOR, LA " 60:2\n" LB " 60:1\n");
    /* an empty parsed label is a label (--keep-empty), absent is not */
    struct tentry k[] = {{10, "app=\"k\"", "name=", NULL},
                         {20, "app=\"k\"", "name=x", NULL},
                         {30, "app=\"k\"", "other=1", NULL}};
    load(k, 3);
    expect("sum by (name) (count_over_time({app=\"k\"} | logfmt --keep-empty [1m]))", i,
           LOGQL_VAL_VECTOR, "{} 60:1\n{name=\"\"} 60:1\n{name=\"x\"} 60:1\n");
    expect("max by (name) (count_over_time({app=\"k\"} | logfmt --keep-empty [1m]))", i,
           LOGQL_VAL_VECTOR, "{} 60:1\n{name=\"\"} 60:1\n{name=\"x\"} 60:1\n");
}

static void test_binops(void **state)
{
    (void)state;
    load(D1, 5);
    struct logql_eval_params p = range_p(60, 120, 60);
    expect(CNT " * 2", p, LOGQL_VAL_MATRIX, LA " 60:4 120:2\n" LB " 60:2 120:2\n");
    expect("2 - " CNT, p, LOGQL_VAL_MATRIX, LA " 60:0 120:1\n" LB " 60:1 120:1\n");
    expect(CNT " > 1", p, LOGQL_VAL_MATRIX, LA " 60:2\n");
    expect("1 < " CNT, p, LOGQL_VAL_MATRIX, LA " 60:2\n");
    expect(CNT " > bool 1", p, LOGQL_VAL_MATRIX, LA " 60:1 120:0\n" LB " 60:0 120:0\n");
    expect(CNT " / 0", p, LOGQL_VAL_MATRIX, LA " 60:nan 120:nan\n" LB " 60:nan 120:nan\n");
    expect(CNT " % 2", p, LOGQL_VAL_MATRIX, LA " 60:0 120:1\n" LB " 60:1 120:1\n");
    expect(CNT " ^ 3", p, LOGQL_VAL_MATRIX, LA " 60:8 120:1\n" LB " 60:1 120:1\n");
    expect(CNT " / ignoring(app) sum by (level) (" CNT ")", p, LOGQL_VAL_MATRIX,
           "{level=\"error\"} 60:1 120:1\n{level=\"info\"} 60:1 120:1\n");
    expect("count_over_time({app=\"a\"}[1m]) - on() count_over_time({app=\"b\"}[1m])", p,
           LOGQL_VAL_MATRIX, "{} 60:1 120:0\n");
    expect(CNT " == bool on(level) " CNT, p, LOGQL_VAL_MATRIX,
           "{level=\"error\"} 60:1 120:1\n{level=\"info\"} 60:1 120:1\n");
    expect(CNT " * on(level) group_left sum by (level) (" CNT ")", p, LOGQL_VAL_MATRIX,
           LA " 60:4 120:1\n" LB " 60:1 120:1\n");
    expect("sum by (level) (" CNT ") * on(level) group_right " CNT, p, LOGQL_VAL_MATRIX,
           LA " 60:4 120:1\n" LB " 60:1 120:1\n");
    expect("count_over_time({app=\"a\"}[1m]) or count_over_time({app=\"b\"}[1m])", p,
           LOGQL_VAL_MATRIX, LA " 60:2 120:1\n" LB " 60:1 120:1\n");
    expect(CNT " unless on(app) count_over_time({app=\"b\"}[1m])", p, LOGQL_VAL_MATRIX,
           LA " 60:2 120:1\n");
    expect(CNT " and on(app) count_over_time({app=\"b\"}[1m])", p, LOGQL_VAL_MATRIX,
           LB " 60:1 120:1\n");
    expect("(" CNT " > 1) or on(app) " CNT, p, LOGQL_VAL_MATRIX,
           LA " 60:2 120:1\n" LB " 60:1 120:1\n");
    expect_err("vector(1) + on() " CNT, p, ERR_DUPLICATE,
               "found duplicate series on the right hand-side;many-to-many matching not allowed");
    expect_err(CNT " + on() vector(1)", p, ERR_DUPLICATE,
               "multiple matches for labels: many-to-one matching must be explicit");
    struct logql_eval_params i = instant_p(4000000000LL);
    expect("vector(1)+vector(1)", i, LOGQL_VAL_VECTOR, "{} 4000000000:2\n");
}

static void test_label_replace_vector_literal(void **state)
{
    (void)state;
    load(D1, 5);
    struct logql_eval_params p = range_p(60, 120, 60);
    expect("label_replace(count_over_time({app=\"a\"}[1m]), \"dst\", \"$1-${1}x$$\", \"level\", "
           "\"(.*)\")",
           p, LOGQL_VAL_MATRIX, "{app=\"a\", dst=\"info-infox$\", level=\"info\"} 60:2 120:1\n");
    expect("label_replace(count_over_time({app=\"a\"}[1m]), \"app\", \"\", \"level\", \"in.*\")", p,
           LOGQL_VAL_MATRIX, "{level=\"info\"} 60:2 120:1\n");
    expect("label_replace(count_over_time({app=\"a\"}[1m]), \"app\", \"z\", \"level\", \"nf\")", p,
           LOGQL_VAL_MATRIX, LA " 60:2 120:1\n");
    expect("label_replace(count_over_time({app=\"a\"}[1m]), \"l2\", \"$v\", \"level\", "
           "\"(?P<v>i)nfo\")",
           p, LOGQL_VAL_MATRIX, "{app=\"a\", l2=\"i\", level=\"info\"} 60:2 120:1\n");
    expect("vector(3)", p, LOGQL_VAL_MATRIX, "{} 60:3 120:3\n");
    expect("1 + 2", p, LOGQL_VAL_MATRIX, "{} 60:3 120:3\n");
    expect("1 + 2", instant_p(60), LOGQL_VAL_SCALAR, "scalar 60:3");
    expect("vector(3)", instant_p(60), LOGQL_VAL_VECTOR, "{} 60:3\n");
}

/* ---- errors, limits, cancellation ---- */

static void test_pipeline_errors(void **state)
{
    (void)state;
    load(D1, 5);
    struct logql_eval_params p = range_p(60, 120, 60);
    expect_err("count_over_time({app=\"a\"} | json [1m])", p, ERR_INVALID,
               "pipeline error: 'JSONParserErr' for series: '{__error__=\"JSONParserErr\", "
               "__error_details__=");
    expect_err("sum by (app) (count_over_time({app=\"a\"} | json [1m]))", p, ERR_INVALID,
               "pipeline error: 'JSONParserErr'");
    expect("sum by (app) (count_over_time({app=\"a\"} | json | __error__=\"\" [1m]))", p,
           LOGQL_VAL_MATRIX, "");
    expect("sum by (app) (count_over_time({app=\"a\"} | json | drop __error__, __error_details__ "
           "[1m]))",
           p, LOGQL_VAL_MATRIX, "{app=\"a\"} 60:2 120:1\n");
    /* T-4.10: grouping by labels nobody has gives the empty label set */
    expect("sum by (level, detected_level) (count_over_time({app=\"b\"} | drop __error__ [1m]))", p,
           LOGQL_VAL_MATRIX, "{level=\"error\"} 60:1 120:1\n");
    struct tentry j[] = {{30, "job=\"a\"", "hello", NULL}};
    load(j, 1);
    expect("sum by (level, detected_level) (count_over_time({job=\"a\"} | drop __error__ [1m]))", p,
           LOGQL_VAL_MATRIX, "{} 60:1\n");
    /* an unparsable unwrapped value is a SampleExtractionErr */
    struct tentry u[] = {{30, "job=\"u\"", "v=abc", NULL}};
    load(u, 1);
    expect_err("sum_over_time({job=\"u\"} | logfmt | unwrap v [1m])", p, ERR_INVALID,
               "pipeline error: 'SampleExtractionErr'");
    expect("sum_over_time({job=\"u\"} | logfmt | unwrap v | __error__=\"\" [1m])", p,
           LOGQL_VAL_MATRIX, "");
}

static void test_series_limit(void **state)
{
    (void)state;
    load(D1, 5);
    struct logql_eval_params p = range_p(60, 120, 60);
    p.max_series = 1;
    expect_err(CNT, p, ERR_INVALID,
               "maximum number of series (1) reached for a single query; consider reducing ");
    expect("sum(" CNT ")", p, LOGQL_VAL_MATRIX, "{} 60:3 120:2\n");
    struct logql_eval_params i = instant_p(60);
    i.max_series = 1;
    expect_err(CNT, i, ERR_INVALID,
               "maximum number of series (1) reached for a single query; consider reducing ");
    i.max_series = 0;
    expect(CNT, i, LOGQL_VAL_VECTOR, LA " 60:2\n" LB " 60:1\n");
    /* an empty parsed label is a label (--keep-empty), absent is not */
    struct tentry k[] = {{10, "app=\"k\"", "name=", NULL},
                         {20, "app=\"k\"", "name=x", NULL},
                         {30, "app=\"k\"", "other=1", NULL}};
    load(k, 3);
    expect("sum by (name) (count_over_time({app=\"k\"} | logfmt --keep-empty [1m]))", i,
           LOGQL_VAL_VECTOR, "{} 60:1\n{name=\"\"} 60:1\n{name=\"x\"} 60:1\n");
    expect("max by (name) (count_over_time({app=\"k\"} | logfmt --keep-empty [1m]))", i,
           LOGQL_VAL_VECTOR, "{} 60:1\n{name=\"\"} 60:1\n{name=\"x\"} 60:1\n");
}

static void test_cancel(void **state)
{
    (void)state;
    static struct tentry many[3000];
    for (size_t i = 0; i < 3000; i++)
        many[i] = (struct tentry){(int64_t)i, "app=\"a\"", "l", NULL};
    load(many, 3000);
    src.cancel_after = 1;
    struct logql_eval_params p = range_p(3000, 3000, 60);
    expect_err("count_over_time({app=\"a\"}[1h])", p, -ECANCELED, "context canceled");
    struct logql_eval_params l = range_p(0, 3000, 0);
    l.limit = 3000;
    expect_err("{app=\"a\"}", l, -ECANCELED, "context canceled");
    src.cancel_after = 0;
    expect("count_over_time({app=\"a\"}[1h])", p, LOGQL_VAL_MATRIX, "{app=\"a\"} 3000:3000\n");
    assert_true(src.n_checks >= 2);
}

/* count_over_time and bytes_over_time over random entries equal a brute-force count and sum per
 * window and stream. */
static void prop_round(struct prop *pr, const struct tentry *t, size_t n, bool bytes)
{
    int64_t range = 1 + (int64_t)(prop_next(pr) % 200);
    int64_t step = 1 + (int64_t)(prop_next(pr) % 100);
    int64_t start = (int64_t)(prop_next(pr) % 1000);
    int64_t end = start + (int64_t)(prop_next(pr) % 500);
    char q[128];
    snprintf(q, sizeof q, "%s({s=~\".+\"}[%llds])", bytes ? "bytes_over_time" : "count_over_time",
             (long long)range);
    struct logql_eval_params p = range_p(start, end, step);
    p.max_series = 0;
    struct logql_eval_result r;
    prop_check(pr, eval(q, &p, &r) == 0);
    for (size_t k = 0; k < r.n_series; k++) {
        const struct logql_out_series *s = &r.series[k];
        char id = s->labels[0].value.ptr[0];
        size_t pos = 0;
        for (int64_t ts = start; ts <= end; ts += step) {
            size_t want = 0, cnt = 0;
            for (size_t i = 0; i < n; i++)
                if (t[i].stream[3] == id && t[i].ts_s > ts - range && t[i].ts_s <= ts) {
                    cnt++;
                    want += bytes ? strlen(t[i].line) : 1;
                }
            if (cnt == 0)
                continue;
            prop_check(pr, pos < s->n && s->ts_ns[pos] == ts * S && s->v[pos] == (double)want);
            pos++;
        }
        prop_check(pr, pos == s->n);
    }
    logql_eval_result_free(&r);
}

static void test_prop_windows(void **state)
{
    (void)state;
    struct prop pr = prop_begin("eval_windows");
    static struct tentry t[600];
    static const char *streams[] = {"s=\"0\"", "s=\"1\"", "s=\"2\""};
    static const char *lines[] = {"x", "hello", "", "a longer line of text"};
    for (int round = 0; round < 40; round++) {
        size_t n = prop_next(&pr) % 600;
        for (size_t i = 0; i < n; i++)
            t[i] = (struct tentry){(int64_t)(prop_next(&pr) % 1000), streams[prop_next(&pr) % 3],
                                   lines[prop_next(&pr) % 4], NULL};
        load(t, n);
        prop_round(&pr, t, n, round & 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_limit_direction),
        cmocka_unit_test(test_log_pipeline_and_streams),
        cmocka_unit_test(test_log_interval),
        cmocka_unit_test(test_log_many_streams),
        cmocka_unit_test(test_log_limits_and_hint),
        cmocka_unit_test(test_range_counts),
        cmocka_unit_test(test_range_unwrap),
        cmocka_unit_test(test_rate_counter),
        cmocka_unit_test(test_absent),
        cmocka_unit_test(test_vector_agg),
        cmocka_unit_test(test_binops),
        cmocka_unit_test(test_label_replace_vector_literal),
        cmocka_unit_test(test_pipeline_errors),
        cmocka_unit_test(test_series_limit),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_prop_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
