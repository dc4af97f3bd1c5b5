/* The executor's value hint (exec_hint.c): golden cases for what it derives and for each
 * exclusion (stream / metadata label of the same name, escapes, invalid UTF-8 becoming spaces,
 * `or`, label_format / line_format / unpack / decolorize before the filter, __error__ filters,
 * JSON literals), and a differential property test: random pipelines over random lines, stream
 * labels and structured metadata, with the hint on and off, must keep and drop the same entries
 * with the same output line, labels, categories and sample value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/exec.h"
#include "engine/logql/exec_int.h"
#include "engine/logql/parse.h"
#include "tests/unit/prop.h"

/* ---- a query compiled twice: value hint on and off ---- */

struct pair {
    struct logql_query *q;
    struct logql_pipeline *on, *off;
};

/* Compiles `query` (a pipeline after `{__t__="x"}` when it starts with '|', else a full log
 * query or range aggregation). Returns false when the query does not parse. */
static bool pair_compile(struct pair *pr, const char *query, const struct logql_pipeline_opts *o)
{
    char q[4096], err[512] = "";
    if (query[0] == '|' || query[0] == '!')
        snprintf(q, sizeof q, "{__t__=\"x\"} %s", query);
    else
        snprintf(q, sizeof q, "%s", query);
    memset(pr, 0, sizeof *pr);
    if (logql_parse(str_from_cstr(q), &pr->q, err, sizeof err) != 0)
        return false;
    struct logql_pipeline_opts on = o ? *o : (struct logql_pipeline_opts){0};
    struct logql_pipeline_opts off = on;
    on.no_value_hint = false;
    off.no_value_hint = true;
    int rc = logql_pipeline_compile_expr(pr->q->root, &on, &pr->on, err, sizeof err);
    if (rc == 0)
        rc = logql_pipeline_compile_expr(pr->q->root, &off, &pr->off, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s: %s\n", q, err);
    assert_int_equal(rc, 0);
    return true;
}

static void pair_free(struct pair *pr)
{
    logql_pipeline_destroy(pr->on);
    logql_pipeline_destroy(pr->off);
    logql_query_destroy(pr->q);
    memset(pr, 0, sizeof *pr);
}

static size_t n_hints(const struct pair *pr)
{
    struct logql_pipeline_info info;
    logql_pipeline_info(pr->on, &info);
    return info.n_value_hints;
}

static void print_res(const char *what, int kept, const struct logql_result *r)
{
    fprintf(stderr, "  %s: kept %d", what, kept);
    if (kept == 1) {
        fprintf(stderr, " line %.*s {", (int)r->line.len, r->line.ptr);
        for (size_t i = 0; i < r->n_labels; i++)
            fprintf(stderr, "%s%.*s=\"%.*s\"/%d", i ? ", " : "", (int)r->labels[i].name.len,
                    r->labels[i].name.ptr, (int)r->labels[i].value.len, r->labels[i].value.ptr,
                    r->cats[i]);
        fprintf(stderr, "} value %d %g", r->has_value, r->value);
    }
    fprintf(stderr, "\n");
}

static bool same_result(int k1, const struct logql_result *a, int k2, const struct logql_result *b)
{
    if (k1 != k2)
        return false;
    if (k1 != 1)
        return true;
    if (!str_eq(a->line, b->line) || a->n_labels != b->n_labels || a->has_value != b->has_value)
        return false;
    if (a->has_value && !(a->value == b->value || (isnan(a->value) && isnan(b->value))))
        return false;
    for (size_t i = 0; i < a->n_labels; i++)
        if (!str_eq(a->labels[i].name, b->labels[i].name) ||
            !str_eq(a->labels[i].value, b->labels[i].value) || a->cats[i] != b->cats[i])
            return false;
    return true;
}

/* Runs one entry through both pipelines and checks they agree; returns the kept flag. */
static int pair_run(struct pair *pr, const char *query, const struct logql_entry *e)
{
    struct logql_result r1, r2;
    int k1 = logql_pipeline_process(pr->on, e, 0, &r1);
    int k2 = logql_pipeline_process(pr->off, e, 0, &r2);
    bool ok = same_result(k1, &r1, k2, &r2);
    if (!ok) {
        fprintf(stderr, "hint changed the result: %s\n  line: %.*s\n", query, (int)e->line.len,
                e->line.ptr);
        for (size_t i = 0; i < e->n_stream; i++)
            fprintf(stderr, "  stream %.*s=%.*s\n", (int)e->stream[i].name.len,
                    e->stream[i].name.ptr, (int)e->stream[i].value.len, e->stream[i].value.ptr);
        for (size_t i = 0; i < e->n_meta; i++)
            fprintf(stderr, "  meta %.*s=%.*s\n", (int)e->meta[i].name.len, e->meta[i].name.ptr,
                    (int)e->meta[i].value.len, e->meta[i].value.ptr);
        print_res("hint on", k1, &r1);
        print_res("hint off", k2, &r2);
    }
    assert_true(ok);
    return k1;
}

/* ---- golden cases ---- */

struct golden {
    const char *query;
    const char *line;
    const char *stream_name, *stream_value; /* one stream label besides __t__, or NULL */
    const char *meta_name, *meta_value;     /* one metadata label, or NULL */
    size_t want_hints;
    int want_kept;
    bool early; /* the hint itself drops it (before any parser) */
};

static void run_golden(const struct golden *g)
{
    struct pair pr;
    assert_true(pair_compile(&pr, g->query, NULL));
    struct label st[2] = {{STR_LIT("__t__"), STR_LIT("x")}};
    size_t n_st = 1;
    if (g->stream_name) {
        st[1] = (struct label){str_from_cstr(g->stream_name), str_from_cstr(g->stream_value)};
        n_st = 2;
        if (str_cmp(st[1].name, st[0].name) < 0) {
            struct label t = st[0];
            st[0] = st[1];
            st[1] = t;
        }
    }
    struct label meta;
    memset(&meta, 0, sizeof meta);
    if (g->meta_name)
        meta = (struct label){str_from_cstr(g->meta_name), str_from_cstr(g->meta_value)};
    struct logql_entry e = {.line = str_from_cstr(g->line),
                            .stream = st,
                            .n_stream = n_st,
                            .meta = g->meta_name ? &meta : NULL,
                            .n_meta = g->meta_name ? 1 : 0};
    size_t h = n_hints(&pr);
    int kept = pair_run(&pr, g->query, &e);
    bool early = pr.on->n_needs && !lq_needs_pass(pr.on, &e);
    if (h != g->want_hints || kept != g->want_kept || early != g->early)
        fprintf(stderr, "golden %s | %s: hints %zu kept %d early %d\n", g->query, g->line, h, kept,
                early);
    assert_int_equal(h, g->want_hints);
    assert_int_equal(kept, g->want_kept);
    assert_int_equal(early, g->early);
    pair_free(&pr);
}

static void test_golden_derive(void **state)
{
    (void)state;
    static const struct golden g[] = {
        /* the common query: dropped before parsing, kept when the value is there */
        {"| json | level=\"error\"", "{\"level\":\"info\",\"msg\":\"x\"}", NULL, NULL, NULL, NULL,
         1, 0, true},
        {"| json | level=\"error\"", "{\"level\":\"error\",\"msg\":\"x\"}", NULL, NULL, NULL, NULL,
         1, 1, false},
        /* the bytes are there but not as the label: the parser decides */
        {"| json | level=\"error\"", "{\"level\":\"info\",\"msg\":\"error\"}", NULL, NULL, NULL,
         NULL, 1, 0, false},
        {"| logfmt | level=\"error\"", "level=warn msg=x", NULL, NULL, NULL, NULL, 1, 0, true},
        {"| logfmt --strict --keep-empty | level=\"error\"", "level=error", NULL, NULL, NULL, NULL,
         1, 1, false},
        {"| regexp \"level=(?P<level>\\\\w+)\" | level=\"error\"", "level=warn", NULL, NULL, NULL,
         NULL, 1, 0, true},
        {"| pattern \"<_> level=<level>\" | level=\"error\"", "ts level=error", NULL, NULL, NULL,
         NULL, 1, 1, false},
        {"| json level=\"a.b\" | level=\"error\"", "{\"a\":{\"b\":\"warn\"}}", NULL, NULL, NULL,
         NULL, 1, 0, true},
        /* literal-shaped regexes; and/comma operands; several filters */
        {"| json | level=~\"error\"", "{\"level\":\"info\"}", NULL, NULL, NULL, NULL, 1, 0, true},
        {"| json | level=~\"err.*\"", "{\"level\":\"info\"}", NULL, NULL, NULL, NULL, 1, 0, true},
        {"| json | level=~\".*rro.*\"", "{\"level\":\"error\"}", NULL, NULL, NULL, NULL, 1, 1,
         false},
        {"| json | level=\"error\" and app=\"api\"", "{\"level\":\"error\",\"app\":\"web\"}", NULL,
         NULL, NULL, NULL, 2, 0, true},
        {"| json | level=\"error\", status >= 400", "{\"level\":\"warn\",\"status\":500}", NULL,
         NULL, NULL, NULL, 1, 0, true},
        {"|= \"x\" | json | status >= 400 | drop msg | level=\"error\"",
         "{\"level\":\"warn\",\"status\":\"x\"}", NULL, NULL, NULL, NULL, 1, 0, true},
        {"| json | keep level | level=\"error\"", "{\"level\":\"error\"}", NULL, NULL, NULL, NULL,
         1, 1, false},
        /* JSON literals are their own bytes */
        {"| json | ok=\"true\"", "{\"ok\":true}", NULL, NULL, NULL, NULL, 1, 1, false},
        {"| json | n=\"1e3\"", "{\"n\":1e3}", NULL, NULL, NULL, NULL, 1, 1, false},
        /* a parse error after the label was set keeps the entry (with __error__) */
        {"| json | level=\"error\"", "{\"level\":\"error\", bad", NULL, NULL, NULL, NULL, 1, 1,
         false},
        {"| json | __error__=\"\" | level=\"error\"", "not json", NULL, NULL, NULL, NULL, 1, 0,
         true},
        {"| json | __error__!=\"\" | level=\"error\"", "not json error", NULL, NULL, NULL, NULL, 1,
         0, false},
    };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        run_golden(&g[i]);
}

/* The stream has the name: the stream value decides (without drop/keep before the filter). */
static void test_golden_stream(void **state)
{
    (void)state;
    static const struct golden g[] = {
        {"| json | level=\"error\"", "{\"level\":\"error\"}", "level", "info", NULL, NULL, 1, 0,
         true},
        {"| json | level=\"error\"", "{\"level\":\"info\"}", "level", "error", NULL, NULL, 1, 1,
         false},
        {"| logfmt | level!=\"info\"", "level=error", "level", "info", NULL, NULL, 1, 0, true},
        {"| logfmt | level=~\"warn|error\"", "level=info", "level", "warn", NULL, NULL, 1, 1,
         false},
        {"| json | level=~\"warn|error\"", "{}", "level", "debug", "level", "error", 1, 0, true},
        {"| json | level=\"\\u0065rror\"", "{\"level\":\"\\u0065rror\"}", "level", "info", NULL,
         NULL, 1, 0, true},
        /* an empty stream value reads as "" */
        {"| json | level=\"\"", "{\"level\":\"error\"}", "level", "", NULL, NULL, 1, 1, false},
        {"| json | level!=\"\"", "{\"level\":\"error\"}", "level", "", NULL, NULL, 1, 0, true},
        /* drop/keep before the filter: the stream value no longer decides */
        {"| json | drop level | level=\"\"", "{\"level\":\"error\"}", "level", "info", NULL, NULL,
         0, 1, false},
        {"| json | keep app | level!=\"info\"", "{}", "level", "info", NULL, NULL, 0, 1, false},
        {"| json | keep level | level=\"error\"", "{}", "level", "error", NULL, NULL, 1, 1, false},
    };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        run_golden(&g[i]);
}

static void test_golden_exclusions(void **state)
{
    (void)state;
    static const struct golden g[] = {
        /* (a) a stream label of that name: the filter reads it, the parsed one is level_extracted
         */
        {"| json | level=\"error\"", "{\"level\":\"info\"}", "level", "error", NULL, NULL, 1, 1,
         false},
        {"| logfmt | level=\"error\"", "level=info", "level", "error", NULL, NULL, 1, 1, false},
        /* (a) structured metadata of that name */
        {"| json | level=\"error\"", "{\"level\":\"info\"}", NULL, NULL, "level", "error", 1, 1,
         false},
        /* (a) metadata renamed level_extracted on a clash with the stream label */
        {"| json | level_extracted=\"error\"", "{\"msg\":\"x\"}", "level", "info", "level", "error",
         1, 1, false},
        /* (b) escapes make the bytes: JSON \u, \", \\ and logfmt quoted escapes */
        {"| json | level=\"error\"", "{\"level\":\"\\u0065rror\"}", NULL, NULL, NULL, NULL, 1, 1,
         false},
        {"| json | level=\"err\\\"or\"", "{\"level\":\"err\\\"or\"}", NULL, NULL, NULL, NULL, 1, 1,
         false},
        {"| json | p=\"a\\\\b\"", "{\"p\":\"a\\\\b\"}", NULL, NULL, NULL, NULL, 1, 1, false},
        {"| logfmt | level=\"error\"", "level=\"\\u0065rror\"", NULL, NULL, NULL, NULL, 1, 1,
         false},
        {"| json level=\"a\" | level=\"[\\\"x\\\"]\"", "{\"a\":[\"\\u0078\"]}", NULL, NULL, NULL,
         NULL, 1, 1, false},
        /* (c) invalid UTF-8 becomes a space: no line bytes from values with a space */
        {"| json | level=\"a b\"",
         "{\"level\":\"a\xff"
         "b\"}",
         NULL, NULL, NULL, NULL, 1, 1, false},
        {"| logfmt | level=\"a b\"",
         "level=a\xef\xbf\xbd"
         "b",
         NULL, NULL, NULL, NULL, 1, 1, false},
        /* not under or; not an error label; no bytes from a negative or set matcher */
        {"| json | level=\"error\" or status=\"500\"", "{\"status\":\"500\"}", NULL, NULL, NULL,
         NULL, 0, 1, false},
        {"| json | __error__=\"JSONParserErr\"", "not json", NULL, NULL, NULL, NULL, 0, 1, false},
        {"| json | level!=\"error\"", "{\"level\":\"info\"}", NULL, NULL, NULL, NULL, 1, 1, false},
        {"| json | level=~\"error|warn\"", "{\"level\":\"warn\"}", NULL, NULL, NULL, NULL, 1, 1,
         false},
        {"| json | level=~\"e.*r\"", "{\"level\":\"eXr\"}", NULL, NULL, NULL, NULL, 1, 1, false},
        {"| json | level=~\"(.*)\"", "x", NULL, NULL, NULL, NULL, 0, 1, false},
        {"| json | level=~\"\"", "x", NULL, NULL, NULL, NULL, 0, 1, false},
        /* stages that create the label or rewrite the line end the walk */
        {"| label_format level=\"error\" | level=\"error\"", "x", NULL, NULL, NULL, NULL, 0, 1,
         false},
        {"| json | label_format level=app | level=\"api\"", "{\"app\":\"api\"}", "app", "api", NULL,
         NULL, 0, 1, false},
        {"| line_format \"level=error\" | logfmt | level=\"error\"", "x", NULL, NULL, NULL, NULL, 0,
         1, false},
        {"| unpack | level=\"error\"", "{\"_entry\":\"x\",\"level\":\"error\"}", NULL, NULL, NULL,
         NULL, 0, 1, false},
        {"| decolorize | regexp \"(?P<level>e.r)\" | level=\"e\x1b[0mr\"", "e\x1b[0mr", NULL, NULL,
         NULL, NULL, 0, 0, false},
        /* a filter after a rewrite is not derived, one before it is */
        {"| json | level=\"error\" | line_format \"{{.msg}}\" | msg=\"x\"",
         "{\"level\":\"info\",\"msg\":\"x\"}", NULL, NULL, NULL, NULL, 1, 0, true},
    };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        run_golden(&g[i]);
}

/* Metric pipelines (parser hints, no_labels, grouping, unwrap) with the hint on and off. */
static void test_metric(void **state)
{
    (void)state;
    static const char *queries[] = {
        "count_over_time({__t__=\"x\"} | json | level=\"error\" [1m])",
        "sum_over_time({__t__=\"x\"} | json | level=\"error\" | unwrap status [1m])",
        "sum_over_time({__t__=\"x\"} | logfmt | level=\"error\" | unwrap status | __error__=\"\" "
        "[1m])",
    };
    static const char *lines[] = {
        "{\"level\":\"error\",\"status\":500}",
        "{\"level\":\"info\",\"status\":200}",
        "level=error status=503",
        "level=warn status=x",
        "not json",
        "{\"level\":\"err\\u006fr\"}",
    };
    struct str group = STR_LIT("level");
    struct logql_pipeline_opts opts[] = {
        {.metric = true, .no_labels = true},
        {.metric = true, .groups = &group, .n_groups = 1},
        {.metric = true, .groups = &group, .n_groups = 1, .without = true},
        {.metric = true},
    };
    struct label st = {STR_LIT("__t__"), STR_LIT("x")};
    size_t kept = 0;
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++)
        for (size_t o = 0; o < sizeof opts / sizeof *opts; o++) {
            struct pair pr;
            assert_true(pair_compile(&pr, queries[q], &opts[o]));
            assert_int_equal(n_hints(&pr), 1);
            for (size_t l = 0; l < sizeof lines / sizeof *lines; l++) {
                struct logql_entry e = {
                    .line = str_from_cstr(lines[l]), .stream = &st, .n_stream = 1};
                kept += pair_run(&pr, queries[q], &e) == 1;
            }
            pair_free(&pr);
        }
    assert_true(kept > 0);
}

/* ---- differential property test ---- */

static const char *pick(struct prop *p, const char *const *v, size_t n)
{
    return v[prop_next(p) % n];
}
#define PICK(p, arr) pick(p, arr, sizeof arr / sizeof *arr)

static const char *const k_names[] = {"level", "app", "status", "msg", "trace", "level_extracted"};
static const char *const k_values[] = {
    "error",     "info", "warn",      "api",          "500", "x",     "err\\\"or", "\\u0065rror",
    "e\\\\rror", "a b",  "er\xffror", "\xef\xbf\xbd", "",    "ERROR", "err",
};

static void gen_json_value(struct prop *p, char *b, size_t *w, size_t cap, int depth);

static void put(char *b, size_t *w, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (*w + n < cap) {
        memcpy(b + *w, s, n);
        *w += n;
    }
    b[*w] = 0;
}

static void gen_json_object(struct prop *p, char *b, size_t *w, size_t cap, int depth)
{
    put(b, w, cap, "{");
    size_t n = prop_next(p) % 4;
    for (size_t i = 0; i < n; i++) {
        if (i)
            put(b, w, cap, prop_next(p) % 8 ? "," : " , ");
        put(b, w, cap, "\"");
        put(b, w, cap, prop_next(p) % 6 ? PICK(p, k_names) : "le\\u0076el");
        put(b, w, cap, "\":");
        gen_json_value(p, b, w, cap, depth + 1);
    }
    put(b, w, cap, "}");
}

static void gen_json_value(struct prop *p, char *b, size_t *w, size_t cap, int depth)
{
    static const char *const lits[] = {"500", "-1.5e2", "true", "false", "null", "4e2", "0"};
    switch (prop_next(p) % (depth > 2 ? 2 : 4)) {
    case 0:
        put(b, w, cap, "\"");
        put(b, w, cap, PICK(p, k_values));
        put(b, w, cap, "\"");
        break;
    case 1: put(b, w, cap, PICK(p, lits)); break;
    case 2: gen_json_object(p, b, w, cap, depth); break;
    default:
        put(b, w, cap, "[\"");
        put(b, w, cap, PICK(p, k_values));
        put(b, w, cap, "\",1]");
        break;
    }
}

static void gen_logfmt(struct prop *p, char *b, size_t *w, size_t cap)
{
    size_t n = 1 + prop_next(p) % 4;
    for (size_t i = 0; i < n; i++) {
        if (i)
            put(b, w, cap, " ");
        put(b, w, cap, PICK(p, k_names));
        switch (prop_next(p) % 5) {
        case 0: break; /* bare key */
        case 1: put(b, w, cap, "="); break;
        case 2:
            put(b, w, cap, "=\"");
            put(b, w, cap, PICK(p, k_values));
            put(b, w, cap, "\"");
            break;
        default: {
            put(b, w, cap, "=");
            const char *v = PICK(p, k_values);
            put(b, w, cap, strchr(v, ' ') || strchr(v, '"') ? "error" : v);
        }
        }
    }
}

static void gen_line(struct prop *p, char *b, size_t cap)
{
    size_t w = 0;
    b[0] = 0;
    switch (prop_next(p) % 6) {
    case 0:
    case 1: gen_json_object(p, b, &w, cap, 0); break;
    case 2: /* truncated or otherwise broken JSON */
        gen_json_object(p, b, &w, cap, 0);
        if (w > 1)
            b[w = 1 + prop_next(p) % (w - 1)] = 0;
        break;
    case 3:
    case 4: gen_logfmt(p, b, &w, cap); break;
    default: put(b, &w, cap, PICK(p, k_values)); break;
    }
}

static const char *const k_parsers[] = {
    "| json",
    "| json level=\"level\", m=\"msg\"",
    "| json level=\"a.level\"",
    "| logfmt",
    "| logfmt --strict",
    "| logfmt --keep-empty",
    "| logfmt level, s=\"status\"",
    "| regexp \"level\\\\W+(?P<level>\\\\w+)\"",
    "| pattern \"<_>level<_>:<level>,<_>\"",
    "| unpack",
};
static const char *const k_filters[] = {
    "level=\"error\"",
    "level=~\"error\"",
    "level=~\"err.*\"",
    "level=~\".*rro.*\"",
    "level=~\"er+or\"",
    "level!=\"info\"",
    "level=\"\"",
    "level!=\"\"",
    "level=~\"error|warn\"",
    "level=\"err\\\"or\"",
    "level=\"a b\"",
    "level=\"er ror\"",
    "app=\"api\"",
    "trace=\"x\"",
    "level_extracted=\"error\"",
    "status >= 400",
    "status == 500",
    "__error__=\"\"",
    "__error__!=\"\"",
    "__error__=\"JSONParserErr\"",
    "m=\"x\"",
    "s=\"500\"",
};
static const char *const k_other[] = {
    "| drop level",
    "| keep level, app",
    "| drop __error__, __error_details__",
    "| line_format \"{{.level}}\"",
    "| label_format level=app",
    "| label_format level=\"error\"",
    "| decolorize",
    "|= \"e\"",
    "!= \"zzz\"",
};

static void gen_query(struct prop *p, char *q, size_t cap)
{
    size_t w = 0;
    q[0] = 0;
    size_t n = 1 + prop_next(p) % 5;
    for (size_t i = 0; i < n; i++) {
        if (i)
            put(q, &w, cap, " ");
        unsigned k = (unsigned)(prop_next(p) % 8);
        if (k < 2) {
            put(q, &w, cap, PICK(p, k_parsers));
        } else if (k < 6) {
            put(q, &w, cap, "| ");
            put(q, &w, cap, PICK(p, k_filters));
            unsigned c = (unsigned)(prop_next(p) % 5);
            if (c == 1 || c == 2) {
                put(q, &w, cap, c == 1 ? " and " : ", ");
                put(q, &w, cap, PICK(p, k_filters));
            } else if (c == 3) {
                put(q, &w, cap, " or ");
                put(q, &w, cap, PICK(p, k_filters));
            }
        } else {
            put(q, &w, cap, PICK(p, k_other));
        }
    }
}

static void test_differential(void **state)
{
    (void)state;
    struct prop pp = prop_begin("exec_hint_differential");
    struct prop *p = &pp;
    static const struct label streams[][3] = {
        {{STR_LIT("__t__"), STR_LIT("x")}},
        {{STR_LIT("__t__"), STR_LIT("x")}, {STR_LIT("app"), STR_LIT("api")}},
        {{STR_LIT("__t__"), STR_LIT("x")}, {STR_LIT("level"), STR_LIT("error")}},
        {{STR_LIT("__t__"), STR_LIT("x")},
         {STR_LIT("app"), STR_LIT("web")},
         {STR_LIT("level"), STR_LIT("")}},
    };
    static const size_t n_streams[] = {1, 2, 2, 3};
    static const struct label metas[][2] = {
        {{STR_LIT("unused"), STR_LIT("")}},
        {{STR_LIT("level"), STR_LIT("error")}},
        {{STR_LIT("trace"), STR_LIT("x")}},
        {{STR_LIT("app"), STR_LIT("api")}, {STR_LIT("level"), STR_LIT("error")}},
    };
    static const size_t n_metas[] = {0, 1, 1, 2};
    size_t parsed = 0, hinted = 0, early = 0, kept = 0;
    for (int iter = 0; iter < 3000; iter++) {
        char query[1024], line[512];
        gen_query(p, query, sizeof query);
        struct pair pr;
        if (!pair_compile(&pr, query, NULL))
            continue;
        parsed++;
        hinted += n_hints(&pr) > 0;
        for (int k = 0; k < 12; k++) {
            gen_line(p, line, sizeof line);
            size_t s = prop_next(p) % 4, m = prop_next(p) % 4;
            struct logql_entry e = {.ts_ns = 1,
                                    .line = str_from_cstr(line),
                                    .stream = streams[s],
                                    .n_stream = n_streams[s],
                                    .meta = metas[m],
                                    .n_meta = n_metas[m]};
            early += pr.on->n_needs && !lq_needs_pass(pr.on, &e);
            int r = pair_run(&pr, query, &e);
            prop_check(p, r == 0 || r == 1);
            kept += r == 1;
        }
        pair_free(&pr);
    }
    fprintf(stderr,
            "differential: %zu pipelines, %zu with a value hint, %zu early drops, %zu kept\n",
            parsed, hinted, early, kept);
    prop_check(p, parsed > 1500 && hinted > 200 && early > 500 && kept > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_derive),     cmocka_unit_test(test_golden_stream),
        cmocka_unit_test(test_golden_exclusions), cmocka_unit_test(test_metric),
        cmocka_unit_test(test_differential),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
