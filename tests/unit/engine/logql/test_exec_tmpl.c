/* Template execution for line_format / label_format: Loki's functions (strings, regexes, base64,
 * URLs, numbers with sprig's int64 and decimal rules, bytes/duration, time layouts and epochs),
 * text/template builtins and control flow, Go's argument typing and the errors that become
 * TemplateFormatErr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/exec.h"
#include "engine/logql/parse.h"

#define TS 1656353124120000000LL /* 2022-06-27T18:05:24.12Z */

/* Runs `| line_format `tmpl`` over labels (name, value pairs; NULL-terminated); returns the
 * output line, or NULL when the template failed (TemplateFormatErr set). */
static const char *fmt(const char *tmpl, const char *const *kv, char *out, size_t cap)
{
    char q[2048], err[512];
    snprintf(q, sizeof q, "{x=\"y\"} | line_format `%s`", tmpl);
    struct logql_query *lq = NULL;
    struct logql_pipeline *p = NULL;
    int rc = logql_parse(str_from_cstr(q), &lq, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s: %s\n", q, err);
    assert_int_equal(rc, 0);
    assert_int_equal(logql_pipeline_compile_expr(lq->root, NULL, &p, err, sizeof err), 0);
    struct label l[16];
    size_t n = 0;
    for (; kv && kv[2 * n]; n++)
        l[n] = (struct label){str_from_cstr(kv[2 * n]), str_from_cstr(kv[2 * n + 1])};
    for (size_t i = 1; i < n; i++) /* sort by name */
        for (size_t j = i; j > 0 && str_cmp(l[j - 1].name, l[j].name) > 0; j--) {
            struct label t = l[j];
            l[j] = l[j - 1];
            l[j - 1] = t;
        }
    struct logql_entry e = {.ts_ns = TS, .line = STR_LIT("the line"), .stream = l, .n_stream = n};
    struct logql_result res;
    assert_int_equal(logql_pipeline_process(p, &e, 0, &res), 1);
    const char *ret = out;
    for (size_t i = 0; i < res.n_labels; i++)
        if (str_eq_cstr(res.labels[i].name, "__error__")) {
            assert_true(str_eq_cstr(res.labels[i].value, "TemplateFormatErr"));
            ret = NULL;
        }
    snprintf(out, cap, "%.*s", (int)res.line.len, res.line.ptr);
    logql_pipeline_destroy(p);
    logql_query_destroy(lq);
    return ret;
}

static void expect(const char *tmpl, const char *const *kv, const char *want)
{
    char out[1024];
    const char *got = fmt(tmpl, kv, out, sizeof out);
    if (!got || strcmp(got, want) != 0)
        fprintf(stderr, "%s: got %s want \"%s\"\n", tmpl, got ? got : "(error)", want);
    assert_non_null(got);
    assert_string_equal(got, want);
}

static void fails(const char *tmpl, const char *const *kv)
{
    char out[1024];
    const char *got = fmt(tmpl, kv, out, sizeof out);
    if (got)
        fprintf(stderr, "%s: got \"%s\", want an error\n", tmpl, got);
    assert_null(got);
    assert_string_equal(out, "the line"); /* the line is kept */
}

static const char *const FB[] = {"foo", "blip", "bar", "blop", NULL};

static void test_strings(void **state)
{
    (void)state;
    expect("{{ .foo | ToUpper }} {{ ToLower \"AbC\" }} {{ .foo | upper | lower }}", FB,
           "BLIP abc blip");
    expect("{{ Replace .bar \"blop\" \"bar\" -1 }} {{ .bar | replace \"o\" \"0\" }}", FB,
           "bar bl0p");
    expect("{{ Replace \"aaa\" \"a\" \"b\" 2 }}|{{ Replace \"ab\" \"\" \"-\" -1 }}", FB,
           "bba|-a-b-");
    expect("{{ .foo | title }} {{ \"hello wide-world x_y\" | title }}", FB,
           "Blip Hello Wide-World X_y");
    expect(
        "{{ .foo | substr 1 3 }} {{ .bar | trunc 1 }} {{ .bar | trunc -2 }} {{ .bar | trunc 9 }}",
        FB, "li b op blop");
    expect("[{{ \"  x \" | trim }}] {{ .bar | trimAll \"op\" }} {{ .bar | trimPrefix \"b\" }} {{ "
           ".bar | trimSuffix \"p\" }}",
           FB, "[x] bl lop blo");
    expect("{{ Trim \"xxaxx\" \"x\" }} {{ TrimLeft \"xxa\" \"x\" }} {{ TrimRight \"axx\" \"x\" }} "
           "{{ TrimPrefix \"pre-a\" \"pre-\" }} {{ TrimSuffix \"a.log\" \".log\" }} [{{ TrimSpace "
           "\" a \" }}]",
           FB, "a a a a a [a]");
    expect("{{ \"foo\" | repeat 3 }}|{{ \"foo\\n bar\" | indent 4 }}|{{ \"x\" | nindent 2 }}", FB,
           "foofoofoo|    foo\n     bar|\n  x");
    expect("{{ if .foo | contains \"li\" }}c{{ end }}{{ if hasPrefix \"bl\" .foo }}p{{ end }}{{ if "
           "hasSuffix \"ip\" .foo }}s{{ end }}{{ if contains \"z\" .foo }}no{{ end }}",
           FB, "cps");
    expect("{{ alignLeft 4 .foo }}|{{ alignRight 2 .bar }}|{{ alignLeft 6 .foo }}|{{ alignRight 6 "
           ".foo }}|{{ alignLeft 8 \"Hello, \xe4\xb8\x96\xe7\x95\x8c\" }}",
           FB, "blip|op|blip  |  blip|Hello, \xe4\xb8\x96");
    expect("{{ __line__ }}|{{ __line__ | count \"e\" }}", FB, "the line|2");
    fails("{{ .foo | substr 3 1 }}", FB);
    fails("{{ repeat -1 \"x\" }}", FB);
}

static void test_regex_fns(void **state)
{
    (void)state;
    const char *const kv[] = {"foo", "abc abc abc", "p", "BLIp", NULL};
    expect("{{ .foo | count \"abc\" }} {{ .foo | count \"a|b|c\" }} {{ count \"x*\" \"ab\" }} {{ "
           "count \"notthere.*\" .foo }}",
           kv, "3 9 3 0");
    expect("{{ regexReplaceAll \"(p)\" .p \"t\" }} {{ regexReplaceAllLiteral \"(p)\" .p \"${1}\" "
           "}}",
           kv, "BLIt BLI${1}");
    expect("{{ regexReplaceAll \"(?P<w>[a-c])(b)\" .foo \"${w}$2-$$\" }}", kv, "ab-$c ab-$c ab-$c");
    expect("{{ regexReplaceAll \"x*\" \"abc\" \"-\" }}", kv, "-a-b-c-");
    expect("{{ regexReplaceAll \"a$1z\" \"aaz\" \"[$1]\" }}", kv, "aaz");
    fails("{{ regexReplaceAll \"(\" .foo \"x\" }}", kv);
    fails("{{ count \"a|\\\\K\" .foo }}", kv);
}

static void test_encoding(void **state)
{
    (void)state;
    const char *const kv[] = {"s",  "i'm a string, encode me!",
                              "e",  "aSdtIGEgc3RyaW5nLCBlbmNvZGUgbWUh",
                              "p1", "Zm9vYmE",
                              "p2", "Zm9vYg",
                              "u",  "a b&c/d?e=f~_.-",
                              NULL};
    expect("{{ .s | b64enc }}", kv, "aSdtIGEgc3RyaW5nLCBlbmNvZGUgbWUh");
    expect("{{ .e | b64dec }}|{{ .p1 | b64dec }} {{ .p2 | b64dec }}", kv,
           "i'm a string, encode me!|fooba foob");
    expect("{{ \"!!!\" | b64dec }}", kv, "illegal base64 data at input byte 0");
    expect("{{ .u | urlencode }}", kv, "a+b%26c%2Fd%3Fe%3Df~_.-");
    expect("{{ \"a+b%26c%2fd\" | urldecode }}", kv, "a b&c/d");
    fails("{{ \"%zz\" | urldecode }}", kv);
    expect("{{ html \"<a href='x'>&\" }}|{{ js \"it's <b>\" }}|{{ urlquery \"a b\" }}", kv,
           "&lt;a href=&#39;x&#39;&gt;&amp;|it\\'s \\u003Cb\\u003E|a+b");
}

static void test_numbers(void **state)
{
    (void)state;
    const char *const m[] = {"foo", "1", "bar", "3", "baz", "10", "bazz", "20", NULL};
    expect("{{ add .foo 1 | sub .bar | mul .baz | div .bazz }}", m, "2");
    const char *const f[] = {"foo", "1.5", "bar", "5", "baz", "10.5", "bazz", "20.2", NULL};
    expect("{{ addf .foo 1.5 | subf .bar 1.5 | mulf .baz | divf .bazz }}", f, "3.8476190476190477");
    const char *const r[] = {"foo", "1.5", "bar", "3.5", "baz", "10.5", "bazz", "20.4", NULL};
    expect("{{ round (addf .foo 1.5 | subf .bar | mulf .baz | divf .bazz) 5 .2 }}", r, "3.88572");
    expect("{{ addf 0.1 0.2 }} {{ mulf 1.1 1.1 }} {{ subf 1 0.9 }} {{ divf 1 3 }}", r,
           "0.3 1.21 0.1 0.3333333333333333");
    const char *const mm[] = {"foo", "5", "bar", "10", "baz", "15", NULL};
    expect("{{ min .foo .bar .baz }} {{ max .foo .bar .baz }} {{ mod 20 3 }} {{ max \"x\" -1 }}",
           mm, "5 15 2 0");
    const char *const fl[] = {"foo", "5.3", "bar", "10.5", "baz", "15.2", NULL};
    expect("{{ minf .foo .bar .baz }} {{ maxf .foo .bar .baz }} {{ ceil .foo }} {{ floor .foo }}",
           fl, "5.3 15.2 6 5");
    expect("{{ \"2.5\" | float64 | int | add 10 }} {{ int \"0x1f\" }} {{ int \"7.9\" }} {{ int "
           "\"1e3\" }} {{ float64 \"1e3\" }}",
           fl, "12 31 7 0 1000");
    expect("{{ add 9223372036854775807 1 }} {{ 1.5 }} {{ 1e21 }} {{ 0x10 }} {{ 'a' }}", fl,
           "-9223372036854775808 1.5 1e+21 16 97");
    fails("{{ div 1 0 }}", fl);
    fails("{{ mod 1 0 }}", fl);
    fails("{{ divf 1 0 }}", fl);
    /* Go's argument types: an int64 from add is not an int */
    fails("{{ repeat (add 1 1) \"x\" }}", fl);
    expect("{{ repeat (int (add 1 1)) \"x\" }}", fl, "xx");
    fails("{{ trunc 1.5 \"abc\" }}", fl);
    const char *const by[] = {"a", "3 kB", "b", "3MB", "c", "3ms", "d", "3m10s", NULL};
    expect("{{ .a | bytes }} {{ .b | bytes }} {{ .c | duration }} {{ .d | duration_seconds }}", by,
           "3000 3e+06 0.003 190");
    fails("{{ \"x\" | bytes }}", by);
}

static void test_time(void **state)
{
    (void)state;
    expect("{{ __timestamp__ | date \"2006-01-02\" }} {{ __timestamp__ | unixEpoch }} {{ "
           "__timestamp__ | unixEpochMillis }}",
           NULL, "2022-06-27 1656353124 1656353124120");
    expect("{{ sub (unixEpoch (toDate \"2006-01-02\" \"2021-11-02\")) (unixEpoch (toDate "
           "\"2006-01-02\" \"2021-11-01\")) }}",
           NULL, "86400");
    expect("{{ date \"2006-01-02\" (toDate \"2006-01-02\" \"2021-11-02\") }}", NULL, "2021-11-02");
    expect("{{ div (unixEpoch now) (unixEpoch now) }}", NULL, "1");
    const char *const z[] = {"t", "2023-03-10T01:32:40.340485723Z", NULL};
    expect("{{ .t | toDateInZone \"2006-01-02T15:04:05.999999999Z\" \"UTC\" | unixEpochMillis }} "
           "{{ .t | toDateInZone \"2006-01-02T15:04:05.999999999Z\" \"UTC\" | unixEpochNanos }}",
           z, "1678411960340 1678411960340485723");
    expect("{{ __timestamp__ | date \"Mon Jan _2 3:04:05.000 PM MST 2006 -07:00 Z07:00 .999\" }}",
           NULL, "Mon Jun 27 6:05:24.120 PM UTC 2022 +00:00 Z .12");
    expect("{{ __timestamp__ }}", NULL, "2022-06-27 18:05:24.12 +0000 UTC");
    const char *const e[] = {"d",  "19503",
                             "s",  "1679577215",
                             "ms", "1257894000000",
                             "us", "1673798889902000",
                             "ns", "1000000000000000000",
                             NULL};
    expect("{{ .d | unixToTime }}|{{ .s | unixToTime }}|{{ .ms | unixToTime }}|{{ .us | "
           "unixToTime }}|{{ .ns | unixToTime }}",
           e,
           "2023-05-26 00:00:00 +0000 UTC|2023-03-23 13:13:35 +0000 UTC|2009-11-10 23:00:00 "
           "+0000 UTC|2023-01-15 16:08:09.902 +0000 UTC|2001-09-09 01:46:40 +0000 UTC");
    fails("{{ \"123\" | unixToTime }}", NULL);
    /* an unparsable date is Go's zero time */
    expect("{{ toDate \"2006-01-02\" \"nope\" }}|{{ date \"2006\" 0 }}", NULL,
           "0001-01-01 00:00:00 +0000 UTC|1970");
    expect("{{ (toDate \"02/01/2006 15:04 -0700\" \"31/12/2021 23:30 +0130\") | unixEpoch }}", NULL,
           "1640988000");
}

static void test_control(void **state)
{
    (void)state;
    const char *const kv[] = {"a", "1", "b", "", "j", "{\"k\":[1,\"two\",{\"x\":true}],\"n\":null}",
                              NULL};
    expect("{{ if .a }}A{{ else }}-{{ end }}{{ if .b }}B{{ else if .a }}b{{ end }}{{ with .a "
           "}}<{{ . }}>{{ end }}{{ with .b }}x{{ else }}w{{ end }}",
           kv, "Ab<1>w");
    expect("{{ $x := .a }}{{ $x }}{{ $x = \"2\" }}{{ $x }}{{ if true }}{{ $y := 3 }}{{ $y }}{{ end "
           "}}",
           kv, "123");
    expect("{{ $j := fromJson .j }}{{ range $i, $e := $j.k }}{{ $i }}={{ $e }};{{ end }}{{ $j.n "
           "}}|{{ len $j.k }}|{{ index $j \"k\" }}",
           kv, "0=1;1=two;2=map[x:true];<no value>|3|[1 two map[x:true]]");
    expect("{{ range (fromJson .j).k }}{{ if eq (printf \"%v\" .) \"1\" }}{{ continue }}{{ end "
           "}}{{ . }}{{ break }}{{ end }}",
           kv, "two");
    expect("{{ range (fromJson \"[]\") }}x{{ else }}empty{{ end }}", kv, "empty");
    expect("{{ and .a .b \"z\" }}|{{ or .b .a }}|{{ not .b }}|{{ and .a 2 }}", kv, "|1|true|2");
    fails("{{ and }}", kv);
    expect("{{ eq .a \"1\" }} {{ eq .a \"2\" \"1\" }} {{ ne 1 2 }} {{ lt 1 2 }} {{ le \"b\" \"a\" "
           "}} {{ gt 2.5 1.5 }} {{ ge 1 1 }} {{ len .a }} {{ index .a 0 }}",
           kv, "true true true true false true true 1 49");
    fails("{{ eq .a 1 }}", kv);
    fails("{{ lt true false }}", kv);
    expect(
        "{{ print 1 2 \"a\" \"b\" 3 }}|{{ println \"x\" 1 }}|{{ printf \"%d-%s-%5.2f-%x-%q-%v-%t\" "
        "42 \"s\" 3.14159 255 \"q\" 1.5 true }}|{{ printf \"%d %z\" \"s\" }}|{{ printf \"%d\" 1 2 "
        "}}",
        kv,
        "1 2ab3|x 1\n|42-s- 3.14-ff-\"q\"-1.5-true|%!d(string=s) %!z(MISSING)|1%!(EXTRA int=2)");
    expect(
        "{{ define \"t\" }}[{{ . }}]{{ end }}{{ template \"t\" .a }}{{ block \"b\" \"x\" }}<{{ . "
        "}}>{{ end }}",
        kv, "[1]<x>");
    expect("{{ .missing | default \"d\" }}{{ default \"d\" .a }}{{ default \"d\" 0 }}{{ default "
           "\"d\" (fromJson \"{}\") }}",
           kv, "d1dd");
    expect("{{ slice \"abcdef\" 1 3 }}{{ slice \"abc\" 1 }}", kv, "bcbc");
    const char *const two[] = {"b", "2", "a", "1", NULL};
    expect("{{ . }}|{{ $.a }}|{{ with $x := . }}{{ $x.b }}{{ end }}", two, "map[a:1 b:2]|1|2");
    expect("{{/* a comment */}}{{- \" trimmed \" -}} x", kv, " trimmed x");
    /* errors */
    fails("{{ .a.b }}", kv);
    fails("{{ .a Replace \"x\" }}", kv);
    fails("{{ \"x\" | .a }}", kv);
    fails("{{ replace \"a\" .a }}", kv);
    fails("{{ ToUpper 1 }}", kv);
    fails("{{ range .a }}{{ end }}", kv);
    fails("{{ template \"nope\" }}", kv);
    fails("{{ nil }}", kv);
    fails("{{ call .a }}", kv);
    fails("{{ define \"r\" }}{{ template \"r\" }}{{ end }}{{ template \"r\" }}", kv);
}

static void test_label_format_errors(void **state)
{
    (void)state;
    char err[256];
    struct logql_query *q;
    struct logql_pipeline *p;
    assert_int_equal(logql_parse(STR_LIT("{x=\"y\"} | label_format a=`{{ div 1 0 }}`, "
                                         "b=`{{ __line__ }}`, c=`{{ .a }}`"),
                                 &q, err, sizeof err),
                     0);
    assert_int_equal(logql_pipeline_compile_expr(q->root, NULL, &p, err, sizeof err), 0);
    struct label l = {STR_LIT("a"), STR_LIT("old")};
    struct logql_entry e = {.line = STR_LIT("L"), .stream = &l, .n_stream = 1};
    struct logql_result res;
    assert_int_equal(logql_pipeline_process(p, &e, 0, &res), 1);
    /* a failed label keeps its old value; the others are set; the error is recorded */
    const char *want[][2] = {{"__error__", "TemplateFormatErr"},
                             {"__error_details__", NULL},
                             {"a", "old"},
                             {"b", "L"},
                             {"c", "old"}};
    assert_int_equal(res.n_labels, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_true(str_eq_cstr(res.labels[i].name, want[i][0]));
        if (want[i][1])
            assert_true(str_eq_cstr(res.labels[i].value, want[i][1]));
    }
    assert_non_null(strstr(res.labels[1].value.ptr, "integer divide by zero"));
    logql_pipeline_destroy(p);
    logql_query_destroy(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_regex_fns),
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_label_format_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
