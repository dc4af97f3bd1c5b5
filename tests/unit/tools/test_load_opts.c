/* strata-load command line: defaults, every option group, rate/time/duration parsing, and the
 * errors that name the offending option. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/strata-load/opts.c"

static int parse(struct ld_opts *o, char *err, const char *const *args, int n)
{
    char *argv[64];
    argv[0] = "strata-load";
    for (int i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    FILE *devnull = fopen("/dev/null", "w");
    int rc = ld_opts_parse(o, n + 1, argv, devnull, err, 256);
    fclose(devnull);
    return rc;
}

#define PARSE(o, err, ...)                                                                         \
    parse((o), (err), (const char *const[]){__VA_ARGS__},                                          \
          sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static void test_defaults(void **state)
{
    struct ld_opts o;
    char err[256];
    assert_int_equal(PARSE(&o, err, "metrics"), 0);
    assert_int_equal(o.mode, LD_MODE_METRICS);
    assert_string_equal(o.target, "http://127.0.0.1:9090");
    assert_int_equal(o.connections, 4);
    assert_true(o.rate[0] < 0); /* the natural rate, resolved later */
    assert_int_equal(o.duration_ns, 10000000000LL);
    assert_int_equal(o.protocol, LD_RW1);
    assert_int_equal(o.interval_ns, 15000000000LL);
    assert_int_equal(o.targets, 10);
    assert_int_equal(o.series_per_target, 500);
    assert_false(o.retry);
    assert_int_equal(o.seed, 1);
    assert_int_equal(o.lines_per_trace, LD_LINES_PER_TRACE_DEFAULT);
}

static void test_all_groups(void **state)
{
    struct ld_opts o;
    char err[256];
    assert_int_equal(PARSE(&o, err, "logs", "--target", "http://10.0.0.1:3100", "--header",
                           "X-Scope-OrgID: t1", "--header", "Authorization: Bearer x",
                           "--connections", "8", "--threads", "2", "--rate", "50k", "--batch",
                           "200", "--duration", "1m30s", "--timeout", "500ms", "--retry",
                           "--retry-max", "3", "--seed", "0x2a", "--json", "-", "--quiet",
                           "--encoding", "json", "--services", "7", "--pods", "2", "--agents", "5",
                           "--log-format", "nginx", "--metadata", "--line-max", "1024",
                           "--lines-per-trace", "1"),
                     0);
    assert_int_equal(o.mode, LD_MODE_LOGS);
    assert_int_equal(o.n_headers, 2);
    assert_string_equal(o.headers[0], "X-Scope-OrgID: t1");
    assert_int_equal(o.connections, 8);
    assert_int_equal(o.threads, 2);
    assert_true(o.rate[1] == 50000);
    assert_int_equal(o.batch, 200);
    assert_int_equal(o.duration_ns, 90000000000LL);
    assert_int_equal(o.timeout_ns, 500000000);
    assert_true(o.retry);
    assert_int_equal(o.retry_max, 3);
    assert_int_equal(o.seed, 42);
    assert_int_equal(o.encoding, LD_LOKI_JSON);
    assert_int_equal(o.log_format, LD_LOG_NGINX);
    assert_true(o.metadata);
    assert_int_equal(o.line_max, 1024);
    assert_int_equal(o.lines_per_trace, 1);
    assert_int_equal(PARSE(&o, err, "metrics", "--protocol", "rw2", "--churn", "0.05", "--backfill",
                           "24h", "--samples-per-series", "10", "--scrape-interval", "30s",
                           "--start", "2026-11-22T10:00:00.5Z"),
                     0);
    assert_int_equal(o.protocol, LD_RW2);
    assert_true(o.churn == 0.05);
    assert_int_equal(o.backfill_ns, 86400000000000LL);
    assert_int_equal(o.duration_ns, 0); /* backfill runs until done */
    assert_int_equal(o.samples_per_series, 10);
    assert_int_equal(o.start_ns, 1795341600500000000LL);
    assert_int_equal(PARSE(&o, err, "query", "--lang", "logql", "--query-type", "range", "--range",
                           "6h", "--step", "1m", "--limit", "50", "--queries", "q.txt"),
                     0);
    assert_int_equal(o.lang, LD_LOGQL);
    assert_true(o.range);
    assert_int_equal(o.step_ns, 60000000000LL);
    assert_int_equal(PARSE(&o, err, "mixed", "--metrics-rate", "1M", "--logs-rate", "0",
                           "--query-rate", "2.5", "--query-connections", "3"),
                     0);
    assert_true(o.rate[0] == 1e6 && o.rate[1] == 0 && o.rate[2] == 2.5);
    assert_int_equal(
        PARSE(&o, err, "sink", "--listen", "127.0.0.1:0", "--status", "503", "--fail-every", "3"),
        0);
    assert_int_equal(o.sink_status, 503);
    assert_int_equal(o.sink_fail_every, 3);
}

static void test_help(void **state)
{
    struct ld_opts o;
    char err[256];
    assert_int_equal(PARSE(&o, err, "--help"), 1);
    assert_int_equal(PARSE(&o, err, "metrics", "--help"), 1);
    /* every long option is documented in --help */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ld_opts_usage(f);
    fclose(f);
    for (const struct option *p = long_opts; p->name; p++) {
        char want[64];
        snprintf(want, sizeof want, "--%s", p->name);
        if (!strstr(text, want))
            fail_msg("--help does not mention %s", want);
    }
    free(text);
}

static void test_errors(void **state)
{
    struct ld_opts o;
    char err[256];
    assert_int_equal(PARSE(&o, err), ERR_INVALID);
    assert_int_equal(PARSE(&o, err, "bogus"), ERR_INVALID);
    assert_int_equal(PARSE(&o, err, "metrics", "--connections", "0"), ERR_INVALID);
    assert_string_equal(err, "bad value for --connections: '0'");
    assert_int_equal(PARSE(&o, err, "metrics", "--rate", "fast"), ERR_INVALID);
    assert_int_equal(PARSE(&o, err, "metrics", "--protocol", "rw3"), ERR_INVALID);
    assert_int_equal(PARSE(&o, err, "metrics", "--churn", "2"), ERR_INVALID);
    assert_int_equal(PARSE(&o, err, "metrics", "--duration", "10 parsecs"), ERR_INVALID);
    assert_int_equal(PARSE(&o, err, "metrics", "--header", "NoColon"), ERR_INVALID);
    assert_int_equal(PARSE(&o, err, "metrics", "--nope"), ERR_INVALID);
    assert_non_null(strstr(err, "--nope"));
    assert_int_equal(PARSE(&o, err, "logs", "--lines-per-trace", "0"), ERR_INVALID);
    assert_int_equal(PARSE(&o, err, "logs", "--lines-per-trace", "65"), ERR_INVALID);
    assert_int_equal(PARSE(&o, err, "metrics", "extra"), ERR_INVALID);
    assert_int_equal(PARSE(&o, err, "mixed", "--rate", "5"), ERR_INVALID); /* ambiguous */
    assert_int_equal(PARSE(&o, err, "query", "--backfill", "1h"), ERR_INVALID);
    assert_int_equal(PARSE(&o, err, "metrics", "--samples-per-series", "5"), ERR_INVALID);
    assert_int_equal(PARSE(&o, err, "logs", "--line-max", "10"), ERR_INVALID);
    assert_int_equal(PARSE(&o, err, "metrics", "--dump", "x", "--duration", "0"), ERR_INVALID);
    assert_int_equal(PARSE(&o, err, "mixed", "--path", "/x"), ERR_INVALID);
}

static void test_parsers(void **state)
{
    double r;
    assert_int_equal(ld_parse_rate("2.5M", &r), 0);
    assert_true(r == 2500000);
    assert_int_equal(ld_parse_rate("100k", &r), 0);
    assert_true(r == 100000);
    assert_int_equal(ld_parse_rate("-1", &r), ERR_INVALID);
    assert_int_equal(ld_parse_rate("1x", &r), ERR_INVALID);
    int64_t t;
    assert_int_equal(ld_parse_time("1700000000", &t), 0);
    assert_int_equal(t, 1700000000000000000LL);
    assert_int_equal(ld_parse_time("1700000000.25", &t), 0);
    assert_int_equal(t, 1700000000250000000LL);
    assert_int_equal(ld_parse_time("1700000000123", &t), 0); /* ms */
    assert_int_equal(t, 1700000000123000000LL);
    assert_int_equal(ld_parse_time("1700000000123456789", &t), 0); /* ns */
    assert_int_equal(t, 1700000000123456789LL);
    assert_int_equal(ld_parse_time("2023-11-14T22:13:20Z", &t), 0);
    assert_int_equal(t, 1700000000000000000LL);
    assert_int_equal(ld_parse_time("2023-11-14T22:13:20+01:00", &t), ERR_INVALID);
    assert_int_equal(ld_parse_time("yesterday", &t), ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_all_groups),
        cmocka_unit_test(test_help),     cmocka_unit_test(test_errors),
        cmocka_unit_test(test_parsers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
