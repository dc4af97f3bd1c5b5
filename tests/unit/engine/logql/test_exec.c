/* LogQL pipeline executor: parsers (json, json expressions, logfmt, regexp, pattern, unpack), label
 * filters, drop/keep, line_format/label_format, decolorize, the `_extracted` and already-extracted
 * rules, error labels, structured metadata categories, unwrap, Loki's stage reordering, parser
 * hints, the pre-filter API and steady-state memory reuse. Expected values are Loki 3.x
 * behaviour. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/exec.h"
#include "engine/logql/exec_int.h"
#include "engine/logql/parse.h"

/* ---- helpers ---- */

#define MAXL 32

struct lset {
    struct label l[MAXL];
    size_t n;
    char buf[4096];
};

/* Parses `a="x", b="y\"z"` into a sorted label set. */
static void lset_parse(struct lset *s, const char *text)
{
    s->n = 0;
    size_t w = 0;
    const char *p = text ? text : "";
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *eq = strchr(p, '=');
        assert_non_null(eq);
        char *name = s->buf + w;
        memcpy(name, p, (size_t)(eq - p));
        w += (size_t)(eq - p);
        size_t nlen = (size_t)(eq - p);
        p = eq + 1;
        assert_int_equal(*p, '"');
        p++;
        char *val = s->buf + w;
        size_t vlen = 0;
        while (*p && *p != '"') {
            if (*p == '\\' && p[1])
                p++;
            val[vlen++] = *p++;
        }
        assert_int_equal(*p, '"');
        p++;
        w += vlen;
        assert_true(w < sizeof s->buf && s->n < MAXL);
        s->l[s->n++] = (struct label){{name, nlen}, {val, vlen}};
    }
    for (size_t i = 1; i < s->n; i++)
        for (size_t j = i; j > 0 && str_cmp(s->l[j - 1].name, s->l[j].name) > 0; j--) {
            struct label t = s->l[j];
            s->l[j] = s->l[j - 1];
            s->l[j - 1] = t;
        }
}

static void print_labels(const char *what, const struct label *l, size_t n)
{
    fprintf(stderr, "  %s: {", what);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s%.*s=\"%.*s\"", i ? ", " : "", (int)l[i].name.len, l[i].name.ptr,
                (int)l[i].value.len, l[i].value.ptr);
    fprintf(stderr, "}\n");
}

struct run {
    struct logql_query *q;
    struct logql_pipeline *p;
    struct logql_result res;
    int kept;
};

static void run_free(struct run *r)
{
    logql_pipeline_destroy(r->p);
    logql_query_destroy(r->q);
    memset(r, 0, sizeof *r);
}

/* Compiles `{x="y"} <pipeline>` (or a full query when it starts with a letter). */
static void compile(struct run *r, const char *query)
{
    char q[2048], err[512] = "";
    if (query[0] == '|' || query[0] == '!')
        snprintf(q, sizeof q, "{__t__=\"x\"} %s", query);
    else
        snprintf(q, sizeof q, "%s", query);
    memset(r, 0, sizeof *r);
    int rc = logql_parse(str_from_cstr(q), &r->q, err, sizeof err);
    if (rc == 0)
        rc = logql_pipeline_compile_expr(r->q->root, NULL, &r->p, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s: %s\n", q, err);
    assert_int_equal(rc, 0);
}

static int process(struct run *r, const char *line, const struct lset *stream,
                   const struct lset *meta, int64_t ts)
{
    struct logql_entry e = {.ts_ns = ts,
                            .line = str_from_cstr(line),
                            .stream = stream->l,
                            .n_stream = stream->n,
                            .meta = meta ? meta->l : NULL,
                            .n_meta = meta ? meta->n : 0};
    r->kept = logql_pipeline_process(r->p, &e, 0, &r->res);
    return r->kept;
}

static bool labels_match(const struct logql_result *res, const struct lset *want, bool details)
{
    size_t i = 0, j = 0;
    for (;;) {
        while (!details && i < res->n_labels &&
               str_eq_cstr(res->labels[i].name, "__error_details__"))
            i++;
        if (i == res->n_labels || j == want->n)
            return i == res->n_labels && j == want->n;
        if (!str_eq(res->labels[i].name, want->l[j].name) ||
            !str_eq(res->labels[i].value, want->l[j].value))
            return false;
        i++, j++;
    }
}

/* One case: want_line NULL means unchanged; want_labels NULL means dropped. __error_details__ is
 * compared only when want_labels mentions it. */
static void check_full(const char *pipeline, const char *line, const char *labels, const char *meta,
                       int64_t ts, const char *want_line, const char *want_labels)
{
    struct run r;
    compile(&r, pipeline);
    struct lset in, m, want;
    lset_parse(&in, labels);
    lset_parse(&m, meta);
    int kept = process(&r, line, &in, &m, ts);
    bool ok;
    if (!want_labels) {
        ok = kept == 0;
    } else {
        lset_parse(&want, want_labels);
        bool details = strstr(want_labels, "__error_details__") != NULL;
        const char *wl = want_line ? want_line : line;
        ok = kept == 1 && str_eq(r.res.line, str_from_cstr(wl)) &&
             labels_match(&r.res, &want, details);
    }
    if (!ok) {
        fprintf(stderr, "case: %s\n  line: %s\n  kept %d\n", pipeline, line, kept);
        if (kept == 1) {
            fprintf(stderr, "  got line: %.*s\n  want line: %s\n", (int)r.res.line.len,
                    r.res.line.ptr, want_line ? want_line : line);
            print_labels("got", r.res.labels, r.res.n_labels);
            if (want_labels)
                print_labels("want", want.l, want.n);
        }
    }
    run_free(&r);
    assert_true(ok);
}

static void check(const char *pipeline, const char *line, const char *labels, const char *want_line,
                  const char *want_labels)
{
    check_full(pipeline, line, labels, NULL, 0, want_line, want_labels);
}

/* ---- parsers ---- */

static void test_json(void **state)
{
    (void)state;
    check("| json", "{\"a\":{\"b\":{\"c\":1}},\"d\":\"x\"}", "", NULL, "a_b_c=\"1\", d=\"x\"");
    check("| json", "{\"x\":null,\"y\":[1,2],\"z\":true,\"w\":-1.5e3}", "app=\"a\"", NULL,
          "app=\"a\", w=\"-1.5e3\", z=\"true\"");
    /* escapes are decoded, keys too; bad name characters and a leading digit */
    check("| json", "{\"k\\u0041\":\"a\\nb\",\"9x\":1,\"a.b-c\":2}", "", NULL,
          "kA=\"a\nb\", _9x=\"1\", a_b_c=\"2\"");
    /* a key that is all spaces adds nothing to a nested name; at the top it is skipped */
    check("| json", "{\" \":{\"foo\":\"bar\"},\"  \":\"skipped\"}", "", NULL, "foo=\"bar\"");
    check("| json", "{\" \":{\" \":\"bar\"}}", "", NULL, "=\"bar\"");
    /* duplicates keep the first; clashes with stream labels get _extracted */
    check("| json", "{\"a\":\"1\",\"a\":\"2\",\"s\":{\"t\":3}}", "a=\"s\", s_t=\"u\"", NULL,
          "a=\"s\", a_extracted=\"1\", s_t=\"u\", s_t_extracted=\"3\"");
    /* invalid UTF-8 and U+FFFD in values become spaces */
    check("| json",
          "{\"v\":\"a\xff\xef\xbf\xbd"
          "b\"}",
          "", NULL, "v=\"a  b\"");
    /* errors keep what was parsed before the error */
    check("| json", "{\"a\":1,\"b\":", "", NULL, "a=\"1\", __error__=\"JSONParserErr\"");
    check("| json", "[1,2]", "", NULL, "__error__=\"JSONParserErr\"");
    check("| json", "", "", NULL, "__error__=\"JSONParserErr\"");
    /* bytes after the object are ignored, as Loki's reader stops at the closing brace */
    check("| json", "{\"a\":1} trailing", "", NULL, "a=\"1\"");
    /* a second parser does not overwrite what the first extracted */
    check("| logfmt | json", "a=1", "", NULL, "a=\"1\", __error__=\"JSONParserErr\"");
    check("| json | json", "{\"a\":1}", "", NULL, "a=\"1\"");
}

static void test_json_expr(void **state)
{
    (void)state;
    const char *line = "{\"a\":{\"b\":[10,{\"c\":\"d\"}]},\"n\":null,\"s\":\"x\\\"y\",\"e\":\"\"}";
    check("| json v=\"a.b[0]\"", line, "", NULL, "v=\"10\"");
    check("| json v=\"a.b[1].c\"", line, "", NULL, "v=\"d\"");
    check("| json v=\"a.b\"", line, "", NULL, "v=\"[10,{\\\"c\\\":\\\"d\\\"}]\"");
    check("| json v=\"a\"", line, "", NULL, "v=\"{\\\"b\\\":[10,{\\\"c\\\":\\\"d\\\"}]}\"");
    check("| json v=\"n\", w=\"missing\", x=\"s\"", line, "", NULL, "v=\"\", w=\"\", x=\"x\\\"y\"");
    check("| json v=\"a.b[5]\"", line, "v=\"s\"", NULL, "v=\"s\"");
    check("| json v=\"s\"", line, "v=\"stream\"", NULL, "v=\"stream\", v_extracted=\"x\\\"y\"");
    /* not JSON at all: only the error, no empty labels */
    check("| json v=\"s\"", "plain text", "", NULL, "__error__=\"JSONParserErr\"");
    check("| json v=\"s\"", "", "app=\"a\"", NULL, "app=\"a\"");
    /* expressions overwrite what an earlier parser set */
    check("| regexp `\"(?P<s>s)\"` | json s=\"s\"", "{\"s\":\"jj\"}", "", NULL, "s=\"jj\"");
    check("| logfmt | json s=\"s\"", "s=1", "", NULL, "s=\"1\", __error__=\"JSONParserErr\"");
}

static void test_logfmt(void **state)
{
    (void)state;
    check("| logfmt", "a=1 b=\"x y\" c= d e=\"q\\\"t\\u00e9\"", "", NULL,
          "a=\"1\", b=\"x y\", e=\"q\\\"t\xc3\xa9\"");
    check("| logfmt --keep-empty", "a=1 c= d", "", NULL, "a=\"1\", c=\"\", d=\"\"");
    check("| logfmt", "a=1 a=2", "", NULL, "a=\"1\"");
    check("| logfmt", "x=1 =y z=\"open", "", NULL, "x=\"1\"");
    check("| logfmt --strict", "x=1 =y z=2", "", NULL,
          "x=\"1\", __error__=\"LogfmtParserErr\", __error_details__=\"logfmt syntax error at "
          "pos 5 : unexpected '='\"");
    check("| logfmt --strict", "x=1 z=\"open", "", NULL,
          "x=\"1\", __error__=\"LogfmtParserErr\", __error_details__=\"logfmt syntax error at "
          "pos 12 : unterminated quoted value\"");
    /* invalid UTF-8 in a key: the pair is skipped; in a value: a space */
    check("| logfmt", "k\xff=1 v=a\xffz", "", NULL, "v=\"a z\"");
    /* a newline inside quotes is kept */
    check("| logfmt", "m=\"a\nb\"", "", NULL, "m=\"a\nb\"");
    check("| logfmt level", "level=info msg=hi", "", NULL, "level=\"info\"");
    check("| logfmt lvl=\"level\", m=\"msg\", x", "level=info msg=hi", "", NULL,
          "lvl=\"info\", m=\"hi\", x=\"\"");
    check("| logfmt --strict lvl=\"level\"", "level=info =bad", "", NULL,
          "lvl=\"info\", __error__=\"LogfmtParserErr\"");
}

static void test_regexp_pattern(void **state)
{
    (void)state;
    check("| regexp `(?P<a>\\d+)-(?P<b>x)?(?P<c>\\w+)`", "id 12-abc", "", NULL,
          "a=\"12\", b=\"\", c=\"abc\"");
    check("| regexp `(?P<a>\\d+)`", "no digits", "app=\"x\"", NULL, "app=\"x\"");
    check("| regexp `(?P<app>\\w+)`", "word", "app=\"x\"", NULL,
          "app=\"x\", app_extracted=\"word\"");
    check("| pattern `<a> - <b> [<_>] <c>`", "1.2.3.4 - u [t] rest of it", "", NULL,
          "a=\"1.2.3.4\", b=\"u\", c=\"rest of it\"");
    check("| pattern `<a> <b>`", "onlyone", "", NULL, "a=\"onlyone\"");
    check("| pattern `x<a>`", "nomatch", "", NULL, "");
    check("| pattern `<a> <b>`", "", "", NULL, "");
}

static void test_unpack(void **state)
{
    (void)state;
    check("| unpack", "{\"_entry\":\"msg \\\"q\\\"\",\"a\":\"1\",\"n\":2,\"o\":{\"x\":\"y\"}}", "",
          "msg \"q\"", "a=\"1\"");
    check("| unpack", "{\"a\":\"1\"}", "", NULL, "");
    check("| unpack", "{\"_entry\":\"e\",\"a\":\"1\"}", "a=\"s\"", "e",
          "a=\"s\", a_extracted=\"1\"");
    check("| unpack", "not json", "", NULL, "__error__=\"JSONParserErr\"");
    check("| unpack", "{\"_entry\":\"e\",", "", NULL, "__error__=\"JSONParserErr\"");
    /* filters after unpack read the unpacked line */
    check("| unpack |= \"inner\"", "{\"_entry\":\"the inner line\"}", "", "the inner line", "");
    check("| unpack |= \"_entry\"", "{\"_entry\":\"the inner line\"}", "", NULL, NULL);
}

/* ---- label filters ---- */

static void test_label_filters(void **state)
{
    (void)state;
    const char *l = "a=\"5\", d=\"1m30s\", b=\"2KiB\", s=\"text\"";
    check("| a > 4 and d >= 90s and b == 2048B", "x", l, NULL, l);
    check("| a > 5", "x", l, NULL, NULL);
    check("| a >= 5, s = \"text\"", "x", l, NULL, l);
    check("| a < 1 or s =~ \"te.*\"", "x", l, NULL, l);
    check("| s =~ \"ex\"", "x", l, NULL, NULL); /* anchored */
    check("| s !~ \"t.*\"", "x", l, NULL, NULL);
    check("| missing = \"\"", "x", l, NULL, l);
    check("| missing != \"v\"", "x", l, NULL, l);
    check("| missing > 1", "x", l, NULL, NULL);
    check("| s > 1", "x", l, NULL,
          "a=\"5\", d=\"1m30s\", b=\"2KiB\", s=\"text\", __error__=\"LabelFilterErr\", "
          "__error_details__=\"strconv.ParseFloat: parsing \\\"text\\\": invalid syntax\"");
    check("| s > 1 | __error__ = \"\"", "x", l, NULL, NULL);
    check("| s > 1 | __error__ != \"\"", "x", l, NULL,
          "a=\"5\", d=\"1m30s\", b=\"2KiB\", s=\"text\", __error__=\"LabelFilterErr\"");
    /* the first conversion error wins */
    check("| s > 1s and d > 1", "x", l, NULL,
          "a=\"5\", d=\"1m30s\", b=\"2KiB\", s=\"text\", __error__=\"LabelFilterErr\", "
          "__error_details__=\"time: invalid duration \\\"text\\\"\"");
    check("| ip = ip(\"10.0.0.0/8\")", "x", "ip=\"at 10.1.2.3:80\"", NULL, "ip=\"at 10.1.2.3:80\"");
    check("| ip != ip(\"10.0.0.0/8\")", "x", "ip=\"10.1.2.3\"", NULL, NULL);
    /* ip() keeps entries that already carry an error */
    check("| json | ip = ip(\"10.0.0.0/8\")", "nope", "", NULL, "__error__=\"JSONParserErr\"");
    /* Loki: a match-all regex label filter is a no-op, even `=~""` */
    check("| s =~ \"\"", "x", l, NULL, l);
}

static void test_drop_keep(void **state)
{
    (void)state;
    const char *l = "a=\"1\", b=\"2\", c=\"3\"";
    check("| drop a, c", "x", l, NULL, "b=\"2\"");
    check("| drop a=\"2\", b=\"2\", zz", "x", l, NULL, "a=\"1\", c=\"3\"");
    check("| drop b=~\"[0-9]\"", "x", l, NULL, "a=\"1\", c=\"3\"");
    check("| keep a, c=\"4\"", "x", l, NULL, "a=\"1\"");
    check("| json | keep a", "bad", l, NULL, "a=\"1\", __error__=\"JSONParserErr\"");
    check("| json | drop __error__", "bad", l, NULL, l);
    check("| json | drop __error__=\"other\"", "bad", l, NULL,
          "a=\"1\", b=\"2\", c=\"3\", __error__=\"JSONParserErr\"");
    /* a dropped stream label still makes a parsed one `_extracted` */
    check("| drop a | logfmt", "a=9", l, NULL, "b=\"2\", c=\"3\", a_extracted=\"9\"");
}

/* ---- formatting ---- */

static void test_line_format(void **state)
{
    (void)state;
    check("| line_format \"{{.a}}-{{.missing}}-{{.b | ToUpper}}\"", "orig", "a=\"x\", b=\"y\"",
          "x--Y", "a=\"x\", b=\"y\"");
    check("| line_format \"{{.a}}\"", "orig", "b=\"y\"", "", "b=\"y\"");
    check("| line_format \"{{ __line__ }}!\"", "orig", "", "orig!", "");
    check("| line_format \"{{.a.b}}\"", "orig", "a=\"x\"", "orig",
          "a=\"x\", __error__=\"TemplateFormatErr\"");
    /* filters after line_format see the new line, before it the old one */
    check("|= \"orig\" | line_format \"new {{.a}}\" |= \"new\"", "orig", "a=\"x\"", "new x",
          "a=\"x\"");
    check("| line_format \"new\" |= \"orig\"", "orig", "", NULL, NULL);
    /* parsers after line_format read the new line */
    check("| line_format \"k={{.a}}\" | logfmt", "orig", "a=\"x\"", "k=x", "a=\"x\", k=\"x\"");
    check_full("| line_format `{{ __timestamp__ | date \"2006-01-02T15:04:05Z07:00\" }}`", "l", "",
               NULL, 1656331200123000000LL, "2022-06-27T12:00:00Z", "");
}

static void test_label_format(void **state)
{
    (void)state;
    check("| label_format n=a", "x", "a=\"1\", b=\"2\"", NULL, "b=\"2\", n=\"1\"");
    check("| label_format n=missing", "x", "a=\"1\"", NULL, "a=\"1\"");
    /* every template reads the labels as they were before the stage */
    check("| label_format a=\"{{.b}}\", b=\"{{.a}}\"", "x", "a=\"1\", b=\"2\"", NULL,
          "a=\"2\", b=\"1\"");
    check("| label_format t=`{{ .a | printf \"%05d|%s\" 42 }}`", "x", "a=\"1\"", NULL,
          "a=\"1\", t=\"00042|1\"");
    check("| label_format t=`{{ div 1 0 }}`", "x", "a=\"1\"", NULL,
          "a=\"1\", __error__=\"TemplateFormatErr\"");
    /* a label_format value counts as extracted: a later parser does not overwrite it */
    check("| label_format k=\"v\" | logfmt", "k=other", "", NULL, "k=\"v\"");
}

static void test_decolorize(void **state)
{
    (void)state;
    check("| decolorize",
          "\x1b[1;31mred\x1b[0m and \xc2\x9b"
          "32mgreen",
          "", "red and green", "");
    check("| decolorize", "plain", "", NULL, "");
    /* Loki moves a line filter of the same segment ahead of decolorize */
    check("| decolorize |= \"red and\"", "\x1b[31mred\x1b[0m and", "", NULL, NULL);
    check("| decolorize | x=\"\" |= \"red and\"", "\x1b[31mred\x1b[0m and", "", "red and", "");
}

/* ---- categories, metadata, hints ---- */

static void test_categories(void **state)
{
    (void)state;
    struct run r;
    compile(&r, "| logfmt");
    struct lset stream, meta;
    lset_parse(&stream, "app=\"a\", pod=\"p\"");
    lset_parse(&meta, "trace=\"t1\", pod=\"meta-pod\"");
    assert_int_equal(process(&r, "trace=t2 level=info", &stream, &meta, 0), 1);
    /* metadata clashing with a stream label is renamed; parsed clashing with metadata too */
    const char *names[] = {"app", "level", "pod", "pod_extracted", "trace", "trace_extracted"};
    const int cats[] = {LOGQL_CAT_STREAM, LOGQL_CAT_PARSED, LOGQL_CAT_STREAM,
                        LOGQL_CAT_META,   LOGQL_CAT_META,   LOGQL_CAT_PARSED};
    assert_int_equal(r.res.n_labels, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_true(str_eq_cstr(r.res.labels[i].name, names[i]));
        assert_int_equal(r.res.cats[i], cats[i]);
    }
    /* an unchanged entry returns the stream labels */
    lset_parse(&meta, "");
    assert_int_equal(process(&r, "", &stream, &meta, 0), 1);
    assert_int_equal(r.res.n_labels, 2);
    assert_int_equal(r.res.cats[0], LOGQL_CAT_STREAM);
    run_free(&r);
    check_full("| json | trace=\"t1\"", "{\"trace\":\"t2\"}", "", "trace=\"t1\"", 0, NULL,
               "trace=\"t1\", trace_extracted=\"t2\"");
}

static void test_hints(void **state)
{
    (void)state;
    /* Loki's parsers check a single-label filter on a name right after setting it: the entry is
     * dropped even though label_format would have fixed the value later */
    check("| logfmt | label_format a=\"ok\" | a=\"ok\"", "a=bad", "", NULL, NULL);
    check("| logfmt | label_format a=\"ok\" | a=\"ok\" or a=\"x\"", "a=bad", "", NULL, "a=\"ok\"");
    /* strict logfmt errors consult a filter on __error__ */
    check("| logfmt --strict | __error__=\"\"", "a=1 =x", "", NULL, NULL);
}

static void test_unwrap(void **state)
{
    (void)state;
    struct run r;
    struct lset in, none;
    lset_parse(&none, "");
    lset_parse(&in, "app=\"a\"");
    compile(&r, "sum_over_time({a=\"b\"} | logfmt | unwrap duration(took) | took > 1s [1m])");
    assert_int_equal(process(&r, "took=1.5s", &in, &none, 0), 1);
    assert_true(r.res.has_value);
    assert_true(r.res.value == 1.5);
    assert_int_equal(process(&r, "took=500ms", &in, &none, 0), 0); /* post filter */
    assert_int_equal(process(&r, "other=1", &in, &none, 0), 0);    /* no label, no sample */
    run_free(&r);
    compile(&r, "sum_over_time({a=\"b\"} | logfmt | unwrap bytes(b) [1m])");
    assert_int_equal(process(&r, "b=2KiB", &in, &none, 0), 1);
    assert_true(r.res.value == 2048);
    assert_int_equal(process(&r, "b=lots", &in, &none, 0), 1);
    assert_true(r.res.value == 0);
    bool err = false;
    for (size_t i = 0; i < r.res.n_labels; i++)
        err |= str_eq_cstr(r.res.labels[i].name, "__error__") &&
               str_eq_cstr(r.res.labels[i].value, "SampleExtractionErr");
    assert_true(err);
    run_free(&r);
    compile(&r, "sum_over_time({a=\"b\"} | logfmt | unwrap v | __error__=\"\" [1m])");
    assert_int_equal(process(&r, "v=nan?", &in, &none, 0), 0);
    assert_int_equal(process(&r, "v=-2.5e1", &in, &none, 0), 1);
    assert_true(r.res.value == -25);
    run_free(&r);
}

/* ---- pre-filter, info, clones ---- */

static void test_prefilter(void **state)
{
    (void)state;
    struct run r;
    compile(&r, "|= \"err\" | json | level=\"x\" != \"debug\" | line_format \"{{.m}}\" |= \"z\"");
    assert_true(logql_pipeline_has_prefilter(r.p));
    struct logql_pipeline_info info;
    logql_pipeline_info(r.p, &info);
    assert_int_equal(info.n_epochs, 2);
    assert_int_equal(info.n_prefilter_terms, 2); /* "err" and "debug": same line version */
    assert_int_equal(info.n_filter_terms, 3);
    assert_int_equal(info.n_hs_terms, 3);
    assert_true(logql_pipeline_prefilter(r.p, STR_LIT("an err line")));
    assert_false(logql_pipeline_prefilter(r.p, STR_LIT("an err debug line")));
    assert_false(logql_pipeline_prefilter(r.p, STR_LIT("fine")));
    struct str lines[70];
    for (int i = 0; i < 70; i++)
        lines[i] = i % 3 ? STR_LIT("err") : STR_LIT("ok");
    uint64_t keep[2];
    assert_int_equal(logql_pipeline_prefilter_block(r.p, lines, 70, keep), 46);
    assert_true(keep[0] & 2);
    assert_false(keep[0] & 1);
    assert_false(logql_pipeline_filters_only(r.p));
    /* a clone shares the databases and runs on its own */
    struct logql_pipeline *c;
    assert_int_equal(logql_pipeline_clone(r.p, &c), 0);
    assert_true(logql_pipeline_prefilter(c, STR_LIT("err")));
    struct lset none;
    lset_parse(&none, "");
    struct logql_entry e = {.line = STR_LIT("{\"level\":\"x\",\"m\":\"z!\",\"e\":\"err\"}"),
                            .stream = none.l};
    struct logql_result res;
    assert_int_equal(logql_pipeline_process(c, &e, 0, &res), 1);
    assert_true(str_eq_cstr(res.line, "z!"));
    logql_pipeline_destroy(c);
    /* the caller may skip the pre-filter it already ran */
    assert_int_equal(logql_pipeline_process(r.p, &e, LOGQL_PROC_PREFILTERED, &res), 1);
    run_free(&r);
    compile(&r, "| json |= \"x\"");
    assert_true(logql_pipeline_has_prefilter(r.p)); /* moved ahead of json */
    run_free(&r);
    compile(&r, "| line_format \"a\" |= \"x\"");
    assert_false(logql_pipeline_has_prefilter(r.p));
    run_free(&r);
    compile(&r, "|= \"a\" != \"b\" |~ \"c+\"");
    assert_true(logql_pipeline_filters_only(r.p));
    run_free(&r);
}

/* Entries of many shapes through one pipeline: results stay right while scratch memory is
 * reused (ASan checks the reuse), and memory stops growing once warm. */
static void test_reuse(void **state)
{
    (void)state;
    struct run r;
    compile(&r, "| json | logfmt | label_format n=`{{.a}}{{.b}}` | line_format `{{.n}}`");
    struct lset in;
    lset_parse(&in, "app=\"x\"");
    char line[256];
    size_t chunks = 0;
    for (int i = 0; i < 2000; i++) {
        if (i % 2)
            snprintf(line, sizeof line, "{\"a\":\"%d\",\"b\":\"%s\"}", i, i % 3 ? "q" : "r\\u00e9");
        else
            snprintf(line, sizeof line, "a=%d b=\"x y %d\"", i, i);
        assert_int_equal(process(&r, line, &in, NULL, 0), 1);
        char want[64];
        if (i % 2)
            snprintf(want, sizeof want, "%d%s", i, i % 3 ? "q" : "r\xc3\xa9");
        else
            snprintf(want, sizeof want, "%dx y %d", i, i);
        assert_true(str_eq_cstr(r.res.line, want));
        if (i == 100)
            chunks = r.p->mem.n;
    }
    assert_int_equal(r.p->mem.n, chunks);
    run_free(&r);
}

static void test_no_labels_opt(void **state)
{
    (void)state;
    struct logql_query *q;
    char err[256];
    assert_int_equal(
        logql_parse(STR_LIT("count_over_time({a=\"b\"} | json [1m])"), &q, err, sizeof err), 0);
    struct logql_pipeline *p;
    struct logql_pipeline_opts o = {.no_labels = true};
    assert_int_equal(logql_pipeline_compile_expr(q->root, &o, &p, err, sizeof err), 0);
    struct label l = {STR_LIT("a"), STR_LIT("b")};
    struct logql_entry e = {.line = STR_LIT("not json"), .stream = &l, .n_stream = 1};
    struct logql_result res;
    assert_int_equal(logql_pipeline_process(p, &e, 0, &res), 1);
    assert_int_equal(res.n_labels, 1); /* the parser did not run, so no error */
    logql_pipeline_destroy(p);
    /* sample expressions without a pipeline are refused by compile_expr */
    logql_query_destroy(q);
    assert_int_equal(logql_parse(STR_LIT("1 + 1"), &q, err, sizeof err), 0);
    assert_int_equal(logql_pipeline_compile_expr(q->root, NULL, &p, err, sizeof err), ERR_INVALID);
    logql_query_destroy(q);
}

/* Runs a range aggregation's pipeline with metric options; returns the kept flag and fills
 * `got` with `name=value ` pairs of the output. */
static int metric_run(const char *query, bool no_labels, const char *group, bool without,
                      const char *line, char *got, size_t cap)
{
    struct logql_query *q;
    char err[256];
    assert_int_equal(logql_parse(str_from_cstr(query), &q, err, sizeof err), 0);
    struct str g = str_from_cstr(group ? group : "");
    struct logql_pipeline_opts o = {.metric = true,
                                    .no_labels = no_labels,
                                    .groups = &g,
                                    .n_groups = group ? 1 : 0,
                                    .without = without};
    struct logql_pipeline *p;
    assert_int_equal(logql_pipeline_compile_expr(q->root, &o, &p, err, sizeof err), 0);
    struct label l = {STR_LIT("app"), STR_LIT("a")};
    struct logql_entry e = {.line = str_from_cstr(line), .stream = &l, .n_stream = 1};
    struct logql_result res;
    int kept = logql_pipeline_process(p, &e, 0, &res);
    size_t w = 0;
    got[0] = 0;
    for (size_t i = 0; kept == 1 && i < res.n_labels && w < cap; i++)
        if (!str_eq_cstr(res.labels[i].name, "__error_details__"))
            w += (size_t)snprintf(got + w, cap - w, "%.*s=%.*s ", (int)res.labels[i].name.len,
                                  res.labels[i].name.ptr, (int)res.labels[i].value.len,
                                  res.labels[i].value.ptr);
    logql_pipeline_destroy(p);
    logql_query_destroy(q);
    return kept;
}

static void test_metric_hints(void **state)
{
    (void)state;
    char got[512];
    const char *cq = "count_over_time({app=\"a\"} | json [1m])";
    /* by (level): only level is extracted, and parsing stops once it is there */
    assert_int_equal(
        metric_run(cq, false, "level", false, "{\"level\":\"x\",\"z\":1,", got, sizeof got), 1);
    assert_string_equal(got, "app=a level=x ");
    /* without grouping every label is extracted (and the broken tail is an error) */
    assert_int_equal(
        metric_run(cq, false, NULL, false, "{\"level\":\"x\",\"z\":1,", got, sizeof got), 1);
    assert_string_equal(got, "__error__=JSONParserErr app=a level=x z=1 ");
    /* nothing needed: the parser does not even run */
    assert_int_equal(metric_run(cq, true, NULL, false, "not json", got, sizeof got), 1);
    assert_string_equal(got, "app=a ");
    /* nothing needed but a filter reads status: only status, and the filter applies */
    const char *fq = "count_over_time({app=\"a\"} | logfmt | status=\"500\" [1m])";
    assert_int_equal(metric_run(fq, true, NULL, false, "status=500 x=1", got, sizeof got), 1);
    assert_string_equal(got, "app=a status=500 ");
    assert_int_equal(metric_run(fq, true, NULL, false, "status=200 x=1", got, sizeof got), 0);
    /* an unwrap keeps its label among the required ones */
    const char *uq = "sum_over_time({app=\"a\"} | logfmt | unwrap v [1m])";
    assert_int_equal(metric_run(uq, false, "k", false, "k=1 v=2 z=3", got, sizeof got), 1);
    assert_string_equal(got, "app=a k=1 v=2 ");
    /* grouping by __error__ preserves parse errors */
    assert_int_equal(metric_run(cq, false, "__error__", false, "nope", got, sizeof got), 1);
    assert_string_equal(got, "__error__=JSONParserErr __preserve_error__=true app=a ");
    /* a required name ending in _extracted also asks for the plain name */
    assert_int_equal(
        metric_run(cq, false, "app_extracted", false, "{\"app\":\"j\",\"q\":1}", got, sizeof got),
        1);
    assert_string_equal(got, "app=a app_extracted=j ");
    /* label_format and line_format templates read labels */
    const char *tq = "count_over_time({app=\"a\"} | logfmt | label_format n=`{{.b}}` [1m])";
    assert_int_equal(metric_run(tq, false, "n", false, "b=1 c=2", got, sizeof got), 1);
    assert_string_equal(got, "app=a b=1 n=1 ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json),         cmocka_unit_test(test_json_expr),
        cmocka_unit_test(test_logfmt),       cmocka_unit_test(test_regexp_pattern),
        cmocka_unit_test(test_unpack),       cmocka_unit_test(test_label_filters),
        cmocka_unit_test(test_drop_keep),    cmocka_unit_test(test_line_format),
        cmocka_unit_test(test_label_format), cmocka_unit_test(test_decolorize),
        cmocka_unit_test(test_categories),   cmocka_unit_test(test_hints),
        cmocka_unit_test(test_unwrap),       cmocka_unit_test(test_prefilter),
        cmocka_unit_test(test_reuse),        cmocka_unit_test(test_no_labels_opt),
        cmocka_unit_test(test_metric_hints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
