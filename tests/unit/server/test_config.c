/* Configuration: durations and sizes, defaults, YAML loading (nested keys, lists, errors with line
 * numbers), flags overriding the file, listen replacement rules, --help, and error messages; log
 * retention (overall and per stream selector, flags and YAML) and the log compaction level. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "engine/logs/logstore_internal.h"
#include "server/config.h"

static void test_durations(void **state)
{
    (void)state;
    struct {
        const char *s;
        int64_t ns;
    } ok[] = {{"10s", 10000000000LL},     {"500ms", 500000000LL},   {"2m", 120000000000LL},
              {"1h30m", 5400000000000LL}, {"1m30s", 90000000000LL}, {"15", 15000000000LL},
              {"0.5", 500000000LL},       {"1d", 86400000000000LL}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ns = -1;
        assert_int_equal(config_parse_duration(ok[i].s, &ns), 0);
        assert_int_equal(ns, ok[i].ns);
    }
    const char *bad[] = {"", "s", "10x", "-1s", "1.5s", "10 s", "ms", "-3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ns;
        if (config_parse_duration(bad[i], &ns) == 0)
            fail_msg("'%s' should not parse", bad[i]);
    }
}

static void test_sizes(void **state)
{
    (void)state;
    uint64_t b;
    assert_int_equal(config_parse_bytes("1024", &b), 0);
    assert_int_equal(b, 1024);
    assert_int_equal(config_parse_bytes("64MiB", &b), 0);
    assert_int_equal(b, 64ull << 20);
    assert_int_equal(config_parse_bytes("2KB", &b), 0);
    assert_int_equal(b, 2000);
    assert_int_equal(config_parse_bytes("1GiB", &b), 0);
    assert_int_equal(b, 1ull << 30);
    assert_int_not_equal(config_parse_bytes("1 MiB", &b), 0);
    assert_int_not_equal(config_parse_bytes("MiB", &b), 0);
    assert_int_not_equal(config_parse_bytes("-1", &b), 0);
    assert_int_not_equal(config_parse_bytes("99999999999999999999999", &b), 0);
    assert_int_not_equal(config_parse_bytes("18446744073709551615GiB", &b), 0);
}

static void test_defaults(void **state)
{
    (void)state;
    struct server_config c;
    config_init(&c);
    assert_int_equal(c.nlisten, 2);
    assert_string_equal(c.listen[0], ":9090");
    assert_string_equal(c.listen[1], ":3100");
    assert_string_equal(c.data_dir, "./data");
    assert_int_equal(c.shards, 0);
    assert_int_equal(c.header_timeout_ns, 10000000000LL);
    config_deinit(&c);
}

static char *write_tmp(const char *text)
{
    static char path[64];
    strcpy(path, "/tmp/strata-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_yaml_and_flags(void **state)
{
    (void)state;
    char *path = write_tmp("# strata\n"
                           "listen: [\"127.0.0.1:1111\", \"127.0.0.1:2222\"]\n"
                           "data_dir: /tmp/from-yaml\n"
                           "shards: 3\n"
                           "log:\n  level: debug\n"
                           "http:\n  max_body_bytes: 16MiB\n  max-connections: 77\n"
                           "  header_timeout: 3s\n  idle_timeout: 1m\n"
                           "shutdown:\n  grace_period: 2s\n");
    struct server_config c;
    config_init(&c);
    char err[256] = "";
    char cfgflag[80];
    snprintf(cfgflag, sizeof cfgflag, "--config=%s", path);
    char *argv[] = {"strata", cfgflag, "--shards", "5", "--http.idle-timeout=30s", NULL};
    assert_int_equal(config_from_args(&c, 5, argv, stdout, err, sizeof err), 0);
    assert_int_equal(c.nlisten, 2);
    assert_string_equal(c.listen[1], "127.0.0.1:2222");
    assert_string_equal(c.data_dir, "/tmp/from-yaml");
    assert_int_equal(c.shards, 5); /* flag wins */
    assert_int_equal(c.log_level, LOG_DEBUG);
    assert_int_equal(c.max_body_bytes, 16ull << 20);
    assert_int_equal(c.max_connections, 77);
    assert_int_equal(c.header_timeout_ns, 3000000000LL);
    assert_int_equal(c.idle_timeout_ns, 30000000000LL);
    assert_int_equal(c.shutdown_grace_ns, 2000000000LL);
    config_deinit(&c);
    /* --listen flags replace the file's addresses; several flags and commas accumulate */
    config_init(&c);
    char *argv2[] = {"strata",   "--listen", "127.0.0.1:1",
                     "--config", path,       "--listen=127.0.0.1:2,127.0.0.1:3",
                     NULL};
    assert_int_equal(config_from_args(&c, 6, argv2, stdout, err, sizeof err), 0);
    assert_int_equal(c.nlisten, 3);
    assert_string_equal(c.listen[0], "127.0.0.1:1");
    assert_string_equal(c.listen[2], "127.0.0.1:3");
    config_deinit(&c);
    unlink(path);
}

static void expect_error(const char *yaml, const char *needle)
{
    char *path = write_tmp(yaml);
    struct server_config c;
    config_init(&c);
    char err[256] = "";
    assert_int_equal(config_load_yaml(&c, path, err, sizeof err), ERR_INVALID);
    if (!strstr(err, needle))
        fail_msg("error '%s' lacks '%s'", err, needle);
    config_deinit(&c);
    unlink(path);
}

static void test_yaml_errors(void **state)
{
    (void)state;
    expect_error("bogus: 1\n", "bogus: unknown setting");
    expect_error("http:\n  max_body_bytes: lots\n", ":2:");
    expect_error("shards: [1, 2]\n", "a list is allowed only for listen");
    expect_error("shards: lots\n", "shards must be");
    expect_error("- a\n- b\n", "top level must be a mapping");
    expect_error("listen: [ {b: 1} ]\n", "lists may hold only plain values");
    expect_error("listen: [\n", "YAML");
    expect_error("a: &x 1\nb: *x\n", "a: unknown setting");
    /* an empty file is fine */
    char *path = write_tmp("");
    struct server_config c;
    config_init(&c);
    char err[256];
    assert_int_equal(config_load_yaml(&c, path, err, sizeof err), 0);
    assert_int_equal(config_load_yaml(&c, "/nonexistent/strata.yaml", err, sizeof err),
                     ERR_INVALID);
    assert_non_null(strstr(err, "cannot open"));
    config_deinit(&c);
    unlink(path);
}

static void test_flag_errors(void **state)
{
    (void)state;
    struct {
        int argc;
        char *argv[4];
        const char *needle;
    } cases[] = {
        {2, {"strata", "--nope=1"}, "nope: unknown setting"},
        {2, {"strata", "positional"}, "unexpected argument"},
        {2, {"strata", "--shards"}, "needs a value"},
        {2, {"strata", "--shards=lots"}, "shards must be"},
        {2, {"strata", "--log.level=loud"}, "log level"},
        {2, {"strata", "--http.header-timeout=0s"}, "bad duration"},
        {2, {"strata", "--http.max-connections=0"}, "max connections"},
        {2, {"strata", "--listen="}, "empty listen"},
        {2, {"strata", "--config=/nonexistent.yaml"}, "cannot open"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct server_config c;
        config_init(&c);
        char err[256] = "";
        assert_int_equal(
            config_from_args(&c, cases[i].argc, cases[i].argv, stdout, err, sizeof err),
            ERR_INVALID);
        if (!strstr(err, cases[i].needle))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].needle);
        config_deinit(&c);
    }
}

static void test_help(void **state)
{
    (void)state;
    struct server_config c;
    config_init(&c);
    char err[64];
    char *argv[] = {"strata", "--shards=1", "--help", NULL};
    FILE *f = tmpfile();
    assert_int_equal(config_from_args(&c, 3, argv, f, err, sizeof err), 1);
    long n = ftell(f);
    rewind(f);
    char *text = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    const char *flags[] = {"--listen",
                           "--data-dir",
                           "--shards",
                           "--config",
                           "--log.level",
                           "--http.max-body-bytes",
                           "--http.max-connections",
                           "--http.header-timeout",
                           "--http.idle-timeout",
                           "--limits.loki.max-entries-limit-per-query",
                           "--limits.loki.max-query-series",
                           "--help"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strstr(text, flags[i]))
            fail_msg("--help does not document %s", flags[i]);
    free(text);
    config_deinit(&c);
}

static void test_loki_query_limits(void **state)
{
    (void)state;
    struct server_config c;
    config_init(&c);
    assert_int_equal(c.loki_max_entries_limit, 5000);
    assert_int_equal(c.loki_max_query_series, 500);
    char *path = write_tmp("limits:\n  loki:\n    max_entries_limit_per_query: 10\n"
                           "    max-query-series: 7\n");
    char err[256] = "";
    assert_int_equal(config_load_yaml(&c, path, err, sizeof err), 0);
    assert_int_equal(c.loki_max_entries_limit, 10);
    assert_int_equal(c.loki_max_query_series, 7);
    assert_int_equal(config_set(&c, "limits.loki.max-query-series", "0", err, sizeof err), 0);
    assert_int_equal(c.loki_max_query_series, 0);
    assert_int_equal(
        config_set(&c, "limits.loki.max-entries-limit-per-query", "-1", err, sizeof err),
        ERR_INVALID);
    assert_non_null(strstr(err, "limits.loki.max-entries-limit-per-query"));
    assert_int_equal(config_set(&c, "limits.loki.max-query-series", "x", err, sizeof err),
                     ERR_INVALID);
    assert_int_equal(c.loki_max_entries_limit, 10); /* unchanged by the errors */
    config_deinit(&c);
    unlink(path);
}

/* The retention the engine picks for a stream with one label name=value. */
static int64_t retention_of(const struct server_config *c, const char *name, const char *value)
{
    struct logstore_config lc;
    logstore_config_init(&lc);
    lc.retention_ms = c->loki_retention_ms;
    lc.retention_rules = c->loki_retention_rules;
    lc.n_retention_rules = c->n_loki_retention_rules;
    struct label l = {str_from_cstr(name), str_from_cstr(value)};
    return ls_retention_for(&lc, &l, 1);
}

#define DAY_MS (86400 * 1000LL)

static void test_log_retention_defaults(void **state)
{
    (void)state;
    struct server_config c;
    config_init(&c);
    struct logstore_config lc;
    logstore_config_init(&lc);
    assert_int_equal(c.loki_retention_ms, 30 * DAY_MS);
    assert_int_equal(c.loki_retention_ms, lc.retention_ms);
    assert_int_equal(c.n_loki_retention_rules, 0);
    assert_null(c.loki_retention_rules);
    assert_int_equal(c.logs_compact_zstd_level, 9);
    assert_int_equal(c.logs_compact_zstd_level, lc.compact_zstd_level);
    char err[256];
    assert_int_equal(config_set(&c, "limits.loki.retention-period", "0", err, sizeof err), 0);
    assert_int_equal(c.loki_retention_ms, -1); /* keep forever */
    assert_int_equal(config_set(&c, "limits.loki.retention_period", "744h", err, sizeof err), 0);
    assert_int_equal(c.loki_retention_ms, 31 * DAY_MS);
    assert_int_equal(config_set(&c, "logs.compaction-zstd-level", "0", err, sizeof err), 0);
    assert_int_equal(c.logs_compact_zstd_level, 0);
    assert_int_equal(config_set(&c, "logs.compaction-zstd-level", "19", err, sizeof err), 0);
    assert_int_equal(c.logs_compact_zstd_level, 19);
    config_deinit(&c);
}

static void test_log_retention_flags(void **state)
{
    (void)state;
    struct server_config c;
    config_init(&c);
    char err[256] = "";
    char *argv[] = {"strata",
                    "--limits.loki.retention-period=2d",
                    "--limits.loki.retention-stream",
                    "{service=\"debug\"}:3d:1",
                    "--limits.loki.retention-stream={service=~\"agents|ag:}x\"}:60d",
                    "--limits.loki.retention-stream",
                    "{service!=\"\", env=\"dev\"}:12h:-2",
                    "--logs.compaction-zstd-level=3",
                    NULL};
    assert_int_equal(config_from_args(&c, 8, argv, stdout, err, sizeof err), 0);
    assert_int_equal(c.loki_retention_ms, 2 * DAY_MS);
    assert_int_equal(c.logs_compact_zstd_level, 3);
    assert_int_equal(c.n_loki_retention_rules, 3);
    const struct logstore_retention_rule *r = c.loki_retention_rules;
    assert_int_equal(r[0].period_ms, 3 * DAY_MS);
    assert_int_equal(r[0].priority, 1);
    assert_int_equal(r[0].n, 1);
    assert_true(str_eq_cstr(r[0].ms[0].name, "service"));
    assert_true(matcher_matches(&r[0].ms[0], str_from_cstr("debug")));
    assert_false(matcher_matches(&r[0].ms[0], str_from_cstr("debugx")));
    /* a ':' and '}' inside the quoted regex do not end the selector */
    assert_int_equal(r[1].period_ms, 60 * DAY_MS);
    assert_int_equal(r[1].priority, 0);
    assert_true(matcher_matches(&r[1].ms[0], str_from_cstr("ag:}x")));
    assert_true(matcher_matches(&r[1].ms[0], str_from_cstr("agents")));
    assert_int_equal(r[2].n, 2);
    assert_int_equal(r[2].priority, -2);
    assert_int_equal(r[2].period_ms, 12 * 3600 * 1000LL);
    /* the engine's choice with these rules */
    assert_int_equal(retention_of(&c, "service", "debug"), 3 * DAY_MS);
    assert_int_equal(retention_of(&c, "service", "agents"), 60 * DAY_MS);
    assert_int_equal(retention_of(&c, "service", "web"), 2 * DAY_MS);
    assert_int_equal(retention_of(&c, "env", "dev"), 2 * DAY_MS); /* service!="" fails */
    config_deinit(&c);
}

static void test_log_retention_priorities(void **state)
{
    (void)state;
    struct server_config c;
    config_init(&c);
    char err[256] = "";
    const char *rules[] = {
        "{app=~\".+\"}:10d:1", /* every app, priority 1 */
        "{app=\"db\"}:40d:5",  /* db: higher priority, longer */
        "{app=\"db\"}:20d:5",  /* same priority: the shortest period wins */
        "{app=\"cache\"}:1d",  /* priority 0 loses to the app=~".+" rule */
        "{app=\"cache\",tier=\"x\"}:2d:9",
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        assert_int_equal(config_set(&c, "limits.loki.retention-stream", rules[i], err, sizeof err),
                         0);
    assert_int_equal(c.n_loki_retention_rules, 5);
    assert_int_equal(retention_of(&c, "app", "db"), 20 * DAY_MS);
    assert_int_equal(retention_of(&c, "app", "cache"), 10 * DAY_MS);
    assert_int_equal(retention_of(&c, "app", "web"), 10 * DAY_MS);
    assert_int_equal(retention_of(&c, "other", "x"), 30 * DAY_MS);
    config_deinit(&c);
}

static void test_log_retention_yaml(void **state)
{
    (void)state;
    char *path = write_tmp("limits:\n"
                           "  loki:\n"
                           "    retention_period: 744h\n"
                           "    retention_stream:\n"
                           "    - selector: '{namespace=\"dev\"}'\n"
                           "      priority: 1\n"
                           "      period: 24h\n"
                           "    - selector: '{container=\"loki\"}'\n"
                           "      period: 72h\n"
                           "logs:\n"
                           "  compaction_zstd_level: 12\n");
    struct server_config c;
    config_init(&c);
    char err[256] = "";
    char cfgflag[80];
    snprintf(cfgflag, sizeof cfgflag, "--config=%s", path);
    char *argv[] = {"strata", cfgflag, NULL};
    assert_int_equal(config_from_args(&c, 2, argv, stdout, err, sizeof err), 0);
    assert_int_equal(c.loki_retention_ms, 31 * DAY_MS);
    assert_int_equal(c.logs_compact_zstd_level, 12);
    assert_int_equal(c.n_loki_retention_rules, 2);
    assert_int_equal(c.loki_retention_rules[0].priority, 1);
    assert_int_equal(c.loki_retention_rules[0].period_ms, DAY_MS);
    assert_int_equal(c.loki_retention_rules[1].priority, 0);
    assert_int_equal(c.loki_retention_rules[1].period_ms, 3 * DAY_MS);
    assert_int_equal(retention_of(&c, "namespace", "dev"), DAY_MS);
    assert_int_equal(retention_of(&c, "container", "loki"), 3 * DAY_MS);
    config_deinit(&c);
    /* flags replace the file's rules */
    config_init(&c);
    char *argv2[] = {"strata", cfgflag, "--limits.loki.retention-stream={a=\"b\"}:5d:2",
                     "--limits.loki.retention-stream={a=\"c\"}:6d", NULL};
    assert_int_equal(config_from_args(&c, 4, argv2, stdout, err, sizeof err), 0);
    assert_int_equal(c.n_loki_retention_rules, 2);
    assert_int_equal(c.loki_retention_rules[0].period_ms, 5 * DAY_MS);
    assert_int_equal(c.loki_retention_rules[1].period_ms, 6 * DAY_MS);
    assert_int_equal(retention_of(&c, "namespace", "dev"), 31 * DAY_MS);
    config_deinit(&c);
    unlink(path);
}

static void test_log_retention_errors(void **state)
{
    (void)state;
    struct {
        const char *flag;
        const char *needle;
    } cases[] = {
        {"--limits.loki.retention-stream={service=\"debug\":1d",
         "limits.loki.retention-stream: unclosed selector"},
        {"--limits.loki.retention-stream=service=\"debug\":1d", "expected a stream selector"},
        {"--limits.loki.retention-stream={service=\"debug\"} |= \"x\":1d", "no pipeline"},
        {"--limits.loki.retention-stream={service=\"debug\"}", "expected :PERIOD"},
        {"--limits.loki.retention-stream={service=\"debug\"}:", "expected :PERIOD"},
        {"--limits.loki.retention-stream={service=\"debug\"}:3x", "bad period '3x'"},
        {"--limits.loki.retention-stream={service=\"debug\"}:0", "bad period '0'"},
        {"--limits.loki.retention-stream={service=\"debug\"}:1d:high",
         "priority must be a whole number, got 'high'"},
        {"--limits.loki.retention-stream={service=\"debug\"}:1d:", "priority must be"},
        {"--limits.loki.retention-stream={service=\"debug\"}:1d:99999999999", "priority must be"},
        {"--limits.loki.retention-stream={service=~\"(a\"}:1d", "bad selector"},
        {"--limits.loki.retention-stream={service=~\".*\"}:1d", "bad selector"},
        {"--limits.loki.retention-stream={}:1d", "bad selector"},
        {"--limits.loki.retention-period=soon", "limits.loki.retention-period: bad duration"},
        {"--logs.compaction-zstd-level=20",
         "logs.compaction-zstd-level: must be a whole number from 0 to 19, got '20'"},
        {"--logs.compaction-zstd-level=-1", "from 0 to 19"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct server_config c;
        config_init(&c);
        char err[256] = "";
        char *argv[] = {"strata", (char *)cases[i].flag, NULL};
        assert_int_equal(config_from_args(&c, 2, argv, stdout, err, sizeof err), ERR_INVALID);
        if (!strstr(err, cases[i].needle))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].needle);
        assert_int_equal(c.n_loki_retention_rules, 0);
        config_deinit(&c);
    }
    /* a selector with a pipeline where only a selector fits (YAML's selector key) */
    expect_error("limits:\n  loki:\n    retention_stream:\n"
                 "    - {selector: '{a=\"b\"} | json', period: 1d}\n",
                 "must be a stream selector only, without a pipeline");
    expect_error("limits:\n  loki:\n    retention_stream:\n"
                 "    - {selector: '{a=\"b\"}', period: 1d, priority: x}\n",
                 ":4: limits.loki.retention-stream: priority must be a whole number");
    expect_error("limits:\n  loki:\n    retention_stream:\n    - {selector: '{a=\"b\"}'}\n",
                 ":4: limits.loki.retention_stream: a rule needs a selector and a period");
    expect_error("limits:\n  loki:\n    retention_stream:\n"
                 "    - {selector: '{a=\"b\"}', period: 1d, color: red}\n",
                 "mapping of plain selector, priority and period (once each), got 'color'");
    expect_error("limits:\n  loki:\n    retention_stream:\n"
                 "    - {selector: '{a=\"b\"}', period: [1d]}\n",
                 "got 'period'");
    expect_error("limits:\n  loki:\n    retention_stream:\n    - '{a=\"b\"}:1d'\n",
                 ":4: limits.loki.retention_stream: a list of mappings");
    expect_error("limits:\n  loki:\n    retention_stream:\n"
                 "    - {selector: '{a=\"b\"', period: 1d}\n",
                 "bad selector");
    /* lists of mappings stay refused elsewhere */
    expect_error("listen: [ {a: 1} ]\n", "lists may hold only plain values");
    expect_error("limits:\n  loki:\n    max_query_series: [{a: 1}]\n",
                 "a list is allowed only for listen");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loki_query_limits),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_yaml_and_flags),
        cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test(test_flag_errors),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_log_retention_defaults),
        cmocka_unit_test(test_log_retention_flags),
        cmocka_unit_test(test_log_retention_priorities),
        cmocka_unit_test(test_log_retention_yaml),
        cmocka_unit_test(test_log_retention_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
