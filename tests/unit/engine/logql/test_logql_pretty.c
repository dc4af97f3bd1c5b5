/* LogQL pretty printing (engine/logql/pretty.h): hand-computed outputs of Loki's Prettify rules
 * (one line up to 100 characters, stages, line filter runs, range and vector aggregations, binary
 * operations, label_replace), and that every output parses back to the same query. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/parse.h"
#include "engine/logql/pretty.h"
#include "engine/logql/print.h"

static char *canon(const char *q)
{
    char err[512];
    struct logql_query *pq = NULL;
    int rc = logql_parse(str_from_cstr(q), &pq, err, sizeof err);
    if (rc)
        fprintf(stderr, "parse %s: %s\n", q, err);
    assert_int_equal(rc, 0);
    struct buf b;
    buf_init(&b);
    assert_int_equal(logql_print(pq->root, &b), 0);
    assert_int_equal(buf_cstr(&b), 0);
    logql_query_destroy(pq);
    return (char *)b.data; /* the caller frees */
}

/* Pretty-prints q, compares with want, and checks that the output parses back to q's query. */
static void expect(const char *q, const char *want)
{
    char err[512];
    struct logql_query *pq = NULL;
    assert_int_equal(logql_parse(str_from_cstr(q), &pq, err, sizeof err), 0);
    struct buf b;
    buf_init(&b);
    assert_int_equal(logql_pretty(pq->root, &b), 0);
    assert_int_equal(buf_cstr(&b), 0);
    if (strcmp((char *)b.data, want) != 0) {
        fprintf(stderr, "query: %s\ngot:\n%s\nwant:\n%s\n", q, (char *)b.data, want);
        fail();
    }
    char *a = canon(q), *c = canon((char *)b.data);
    if (strcmp(a, c) != 0) {
        fprintf(stderr, "does not parse back: %s\nvs %s\n", a, c);
        fail();
    }
    free(a);
    free(c);
    buf_deinit(&b);
    logql_query_destroy(pq);
}

#define SEL "{app=\"foo\", namespace=\"production\"}"

static void test_short_unchanged(void **state)
{
    (void)state;
    expect("{app=\"foo\"}", "{app=\"foo\"}");
    expect("{app=\"foo\"} |= \"x\" | json | level=\"error\"",
           "{app=\"foo\"} |= \"x\" | json | level=\"error\"");
    expect("sum by (a,b) (rate({app=\"foo\"}[5m]))", "sum by (a,b)(rate({app=\"foo\"}[5m]))");
    expect("1 + 1", "2");
    expect("vector(1)", "vector(1.000000)");
    /* exactly 100 characters stays on one line */
    expect("{app=\""
           "0123456789012345678901234567890123456789012345678901234567890123456789"
           "0123456789012345678901\"}",
           "{app=\""
           "0123456789012345678901234567890123456789012345678901234567890123456789"
           "0123456789012345678901\"}");
    /* a selector without stages is never split */
    expect("{app=\""
           "0123456789012345678901234567890123456789012345678901234567890123456789"
           "01234567890123456789012\"}",
           "{app=\""
           "0123456789012345678901234567890123456789012345678901234567890123456789"
           "01234567890123456789012\"}");
}

static void test_pipeline(void **state)
{
    (void)state;
    expect(SEL " |= \"some text to find\" | json | level=\"error\" | line_format \"{{.msg}} and "
               "more\"",
           SEL "\n"
               "  |= \"some text to find\"\n"
               "  | json\n"
               "  | level=\"error\"\n"
               "  | line_format \"{{.msg}} and more\"");
    /* a run of line filters is one stage; decolorize is not indented (as Loki) */
    expect(SEL " |= \"a\" != \"b\" |~ \"c.*\" | decolorize | logfmt | drop __error__, "
               "__error_details__",
           SEL "\n"
               "  |= \"a\" != \"b\" |~ \"c.*\"\n"
               "| decolorize\n"
               "  | logfmt\n"
               "  | drop __error__,__error_details__");
}

static void test_line_filter_run(void **state)
{
    (void)state;
    /* 3 filters of 41 characters: the first two fit in 100, the third goes on its own line */
    const char *f1 = "|= \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"";
    const char *f2 = "!= \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"";
    const char *f3 = "|~ \"ccccccccccccccccccccccccccccccccccccc\"";
    char q[512], want[512];
    snprintf(q, sizeof q, "{a=\"b\"} %s %s %s", f1, f2, f3);
    snprintf(want, sizeof want, "{a=\"b\"}\n  %s %s\n  %s", f1, f2, f3);
    expect(q, want);
    /* a negative `or` filter is Loki's chain of negative filters: split term by term */
    snprintf(q, sizeof q,
             "{a=\"b\"} != \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" or "
             "\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\" or "
             "\"cccccccccccccccccccccccccccccccccc\"");
    expect(q, "{a=\"b\"}\n"
              "  != \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" != "
              "\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"\n"
              "  != \"cccccccccccccccccccccccccccccccccc\"");
    /* a positive `or` filter keeps its terms together (Loki would drop them) */
    expect("{a=\"b\"} |= \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" or "
           "\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"",
           "{a=\"b\"}\n"
           "  |= \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" or "
           "\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"");
}

static void test_range_agg(void **state)
{
    (void)state;
    expect("quantile_over_time(0.99, " SEL " | logfmt | unwrap duration(latency) | __error__=\"\" "
           "[5m] offset 1h) by (pod, namespace)",
           "quantile_over_time(\n"
           "  0.99,\n"
           "  " SEL " | logfmt\n"
           "    | unwrap duration(latency)\n"
           "    | __error__=\"\" [5m] offset 1h\n"
           ") by (pod, namespace)");
    /* a range aggregation's empty by () means one series: kept (Loki drops it) */
    expect("quantile_over_time(0.5, " SEL " |= \"some much longer text\" | logfmt | unwrap d [5m]) "
           "by ()",
           "quantile_over_time(\n"
           "  0.5,\n"
           "  " SEL " |= \"some much longer text\" | logfmt\n"
           "    | unwrap d [5m]\n"
           ") by ()");
    /* the selector split inside; the range follows its last line */
    expect("count_over_time(" SEL
           " |= \"some much longer text to find in lines\" | json | level=\"error\" [1h30m])",
           "count_over_time(\n"
           "  " SEL "\n"
           "    |= \"some much longer text to find in lines\"\n"
           "    | json\n"
           "    | level=\"error\" [1h30m]\n"
           ")");
}

static void test_vector_agg(void **state)
{
    (void)state;
    expect("sum by (pod, namespace) (count_over_time(" SEL " |= \"error\" | json | x=\"y\" [5m]))",
           "sum by (pod, namespace)(\n"
           "  count_over_time(" SEL " |= \"error\" | json | x=\"y\"[5m])\n"
           ")");
    expect("topk(10, sum without (pod) (rate(" SEL " |= \"error timeout while connecting\" [5m])))",
           "topk(\n"
           "  10,\n"
           "  sum without (pod)(rate(" SEL " |= \"error timeout while connecting\"[5m]))\n"
           ")");
    /* an empty without () keeps its parentheses so the output parses */
    expect("sum without () (count_over_time(" SEL " |= \"an error that is long\" | json [5m]))",
           "sum without ()(\n"
           "  count_over_time(" SEL " |= \"an error that is long\" | json[5m])\n"
           ")");
}

static void test_binop(void **state)
{
    (void)state;
    expect("sum by (pod) (rate(" SEL "[5m])) / on (pod) group_left (team) sum by (pod, team) "
           "(rate({app=\"bar\"}[5m]))",
           "  sum by (pod)(rate(" SEL "[5m]))\n"
           "/ on (pod) group_left (team)\n"
           "  sum by (pod,team)(rate({app=\"bar\"}[5m]))");
    /* with matching labels and no group Loki's operator line ends with a space */
    expect("sum by (pod) (rate(" SEL "[5m])) > bool on (pod, ns) sum by (pod) "
           "(rate({app=\"bar\"}[5m]))",
           "  sum by (pod)(rate(" SEL "[5m]))\n"
           "> bool on (pod, ns) \n"
           "  sum by (pod)(rate({app=\"bar\"}[5m]))");
    /* a literal side */
    expect("sum by (pod) (rate(" SEL " |= \"a long filter string here and more\" [5m])) * 100",
           "  sum by (pod)(rate(" SEL " |= \"a long filter string here and more\"[5m]))\n"
           "*\n"
           "  100");
    /* on () would change meaning if dropped: kept */
    expect("sum by (pod) (rate(" SEL " |= \"a long filter string here and more\" [5m])) + on () "
           "vector(1)",
           "  sum by (pod)(rate(" SEL " |= \"a long filter string here and more\"[5m]))\n"
           "+ on () \n"
           "  vector(1.000000)");
}

static void test_label_replace(void **state)
{
    (void)state;
    expect("label_replace(rate(" SEL
           "[5m]), \"dst\", \"$1-x\", \"src\", \"(.*)-tail-of-the-source-label\")",
           "label_replace(\n"
           "  rate(" SEL "[5m]),\n"
           "  \"dst\",\n"
           "  \"$1-x\",\n"
           "  \"src\",\n"
           "  \"(.*)-tail-of-the-source-label\"\n"
           ")");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_unchanged), cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_line_filter_run), cmocka_unit_test(test_range_agg),
        cmocka_unit_test(test_vector_agg),      cmocka_unit_test(test_binop),
        cmocka_unit_test(test_label_replace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
