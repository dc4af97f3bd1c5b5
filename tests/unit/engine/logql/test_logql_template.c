/* Go text/template parsing for line_format / label_format: accepted and rejected templates with
 * Go's rules and messages, trim markers and comments, and the shape of the resulting tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/template.h"

static struct arena A;

static int setup(void **state)
{
    arena_init(&A, 8192);
    return 0;
}

static int teardown(void **state)
{
    arena_deinit(&A);
    return 0;
}

static struct logql_tmpl *ok(const char *src)
{
    struct logql_tmpl *t = NULL;
    char err[256];
    int rc = logql_tmpl_parse(&A, "line", str_from_cstr(src), &t, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "template %s: %s\n", src, err);
    assert_int_equal(rc, 0);
    return t;
}

static void bad(const char *src, const char *msg)
{
    struct logql_tmpl *t = NULL;
    char err[256] = "";
    int rc = logql_tmpl_parse(&A, "line", str_from_cstr(src), &t, err, sizeof err);
    if (rc == 0 || !strstr(err, msg))
        fprintf(stderr, "template %s: want %s, got rc=%d %s\n", src, msg, rc, err);
    assert_int_equal(rc, ERR_INVALID);
    assert_non_null(strstr(err, msg));
    assert_memory_equal(err, "template: line:", 15);
}

static void test_accepted(void **state)
{
    const char *good[] = {
        "",
        "plain text } {",
        "{{.a}}",
        "{{ .a.b.c }}",
        "{{.}}",
        "{{$}}",
        "{{ .a | ToUpper | lower }}",
        "{{ printf \"%s-%d\" .a 5 }}",
        "{{ \"lit\" | repeat 3 }}",
        "{{ if eq .level \"error\" }}E{{ else if eq .level \"warn\" }}W{{ else }}-{{ end }}",
        "{{ with .a }}{{ . }}{{ else with .b }}{{ . }}{{ end }}",
        "{{ range $i, $e := .list }}{{ $i }}={{ $e }}{{ else }}none{{ end }}",
        "{{ range .x }}{{ if . }}{{ break }}{{ end }}{{ continue }}{{ end }}",
        "{{ $x := .a }}{{ $x = \"b\" }}{{ $x }}",
        "{{ (.a).b }}",
        "{{ (printf \"%s\" .a) | trunc 3 }}",
        "{{/* a comment */}}x",
        "a {{- .b -}} c",
        "{{- /* trimmed comment */ -}}",
        "{{ 1 }}{{ -2 }}{{ 1.5e3 }}{{ 0x1F }}{{ 'a' }}{{ true }}{{ nil }}{{ 1i }}",
        "{{ `raw {{ }}` }}",
        "{{ __line__ | count \"x\" }}",
        "{{ __timestamp__ | date \"2006-01-02\" }}",
        "{{ .a | }}",
        "{{\n.a\n}}",
        "{{ define \"t\" }}T{{ end }}{{ template \"t\" . }}",
        "{{ block \"b\" . }}B{{ end }}",
        "{{ .msg | regexReplaceAll \"(a)\" \"b\" | default \"-\" }}",
        "{{ add .a 1 | sub .b | mul 2 | div 3 | addf 1.5 }}",
        "{{ alignLeft 5 .a }}{{ b64enc .a }}{{ unixEpochMillis (unixToTime .t) }}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ok(good[i]);
}

static void test_rejected(void **state)
{
    static const struct {
        const char *src, *msg;
    } cases[] = {
        {"{{ nosuchfunc }}", "function \"nosuchfunc\" not defined"},
        {"{{", "unclosed action"},
        {"{{ .a", "unclosed action"},
        {"{{ .a }", "unexpected"},
        {"{{}}", "missing value for command"},
        {"{{ $x }}", "undefined variable \"$x\""},
        {"{{ if .a }}x", "unexpected EOF"},
        {"{{ end }}", "unexpected {{end}}"},
        {"{{ else }}", "unexpected {{else}}"},
        {"{{ break }}", "{{break}} outside {{range}}"},
        {"{{ if .a }}{{ continue }}{{ end }}", "{{continue}} outside {{range}}"},
        {"{{ .a | \"b\" }}", "non executable command in pipeline stage 2"},
        {"{{ \"a }}", "unterminated quoted string"},
        {"{{ `a }}", "unterminated raw quoted string"},
        {"{{ 'ab' }}", "malformed character constant"},
        {"{{ 1.2.3 }}", "unexpected"},
        {"{{ 3x }}", "bad number syntax"},
        {"{{ .a-b }}", "bad character"},
        {"{{ ( .a }}", "unclosed left paren"},
        {"{{ .a ) }}", "unexpected right paren"},
        {"{{ .a := 1 }}", "unexpected"},
        {"{{ $a, $b := .x }}", "too many declarations in command"},
        {"{{ range $a, 1 }}{{ end }}", "range can only initialize variables"},
        {"{{/* x", "unclosed comment"},
        {"{{/* x */ .a }}", "comment ends before closing delimiter"},
        {"{{ ..x }}", "unexpected . after term"},
        {"{{ \"a\".b }}", "unexpected . after term"},
        {"{{ 99999999999999999999 }}", "integer overflow"},
        {"{{ \"\\q\" }}", "invalid syntax"},
        {"{{ template .a }}", "unexpected"},
        {"{{ with .a }}{{ else if .b }}{{ end }}", "unexpected <if> in input"},
        {"{{ | .a }}", "unexpected \"|\" in command"},
        {"{{ .a \x01 }}", "unrecognized character in action"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        bad(cases[i].src, cases[i].msg);
}

static void test_tree(void **state)
{
    struct logql_tmpl *t = ok("a  {{- .x.y | ToUpper }} {{ if $.z }}yes{{ else }}no{{ end -}}  b");
    assert_int_equal(t->root.n, 5);
    assert_int_equal(t->root.nodes[0]->kind, LOGQL_TN_TEXT);
    assert_true(str_eq_cstr(t->root.nodes[0]->text, "a")); /* trimmed by {{- */
    const struct logql_tmpl_node *act = t->root.nodes[1];
    assert_int_equal(act->kind, LOGQL_TN_ACTION);
    assert_int_equal(act->pipe->n_cmds, 2);
    const struct logql_tmpl_arg *f = act->pipe->cmds[0]->args[0];
    assert_int_equal(f->kind, LOGQL_TA_FIELD);
    assert_int_equal(f->n_fields, 2);
    assert_true(str_eq_cstr(f->fields[0], "x") && str_eq_cstr(f->fields[1], "y"));
    assert_int_equal(act->pipe->cmds[1]->args[0]->kind, LOGQL_TA_FUNC);
    assert_true(str_eq_cstr(act->pipe->cmds[1]->args[0]->name, "ToUpper"));
    assert_true(str_eq_cstr(t->root.nodes[2]->text, " "));
    const struct logql_tmpl_node *ifn = t->root.nodes[3];
    assert_int_equal(ifn->kind, LOGQL_TN_IF);
    assert_true(ifn->has_else);
    const struct logql_tmpl_arg *v = ifn->pipe->cmds[0]->args[0];
    assert_int_equal(v->kind, LOGQL_TA_VAR);
    assert_true(str_eq_cstr(v->name, "$"));
    assert_int_equal(ifn->list.n, 1);
    assert_int_equal(ifn->else_list.n, 1);
    assert_true(str_eq_cstr(t->root.nodes[4]->text, "b")); /* trimmed by -}} */

    t = ok("{{ range $i, $e := .l }}{{ $e }}{{ end }}{{ printf \"%d\" 0x10 }}");
    const struct logql_tmpl_node *r = t->root.nodes[0];
    assert_int_equal(r->kind, LOGQL_TN_RANGE);
    assert_int_equal(r->pipe->n_decl, 2);
    assert_false(r->pipe->is_assign);
    const struct logql_tmpl_arg *num = t->root.nodes[1]->pipe->cmds[0]->args[2];
    assert_int_equal(num->kind, LOGQL_TA_NUMBER);
    assert_true(num->num.is_int && num->num.i == 16);
    const struct logql_tmpl_arg *s = t->root.nodes[1]->pipe->cmds[0]->args[1];
    assert_int_equal(s->kind, LOGQL_TA_STRING);
    assert_true(str_eq_cstr(s->s, "%d"));
}

static void test_functions(void **state)
{
    assert_true(logql_tmpl_func_known(STR_LIT("ToLower")));
    assert_true(logql_tmpl_func_known(STR_LIT("printf")));
    assert_true(logql_tmpl_func_known(STR_LIT("__line__")));
    assert_true(logql_tmpl_func_known(STR_LIT("fromJson")));
    assert_false(logql_tmpl_func_known(STR_LIT("exec")));
    assert_false(logql_tmpl_func_known(STR_LIT("toupper")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_rejected),
        cmocka_unit_test(test_tree),
        cmocka_unit_test(test_functions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
