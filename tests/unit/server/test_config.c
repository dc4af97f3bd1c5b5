/* Configuration: durations and sizes, defaults, YAML loading (nested keys, lists, errors with line
 * numbers), flags overriding the file, listen replacement rules, --help, and error messages. */
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
