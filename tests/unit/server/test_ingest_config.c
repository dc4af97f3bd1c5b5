/* The ingest and storage settings of the server configuration: defaults, each flag's parser and
 * bounds, and the same settings from a YAML file. */
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

static void test_defaults(void **state)
{
    (void)state;
    struct server_config c;
    config_init(&c);
    assert_string_equal(c.default_tenant, "anonymous");
    assert_int_equal(c.tsdb.wal.fsync, WAL_FSYNC_BATCH);
    assert_int_equal(c.tsdb.ooo_window_ms, 600000);
    assert_int_equal(c.tsdb.chunk_range_ms, 7200000);
    assert_int_equal(c.ingest.limits.labels_per_series_max, 30);
    assert_int_equal(c.ingest.limits.label_name_bytes_max, 1024);
    assert_int_equal(c.ingest.limits.label_value_bytes_max, 2048);
    assert_int_equal(c.ingest.series_per_tenant_max, 5000000);
    assert_int_equal(c.ingest.body_bytes_max, c.max_body_bytes);
    config_deinit(&c);
}

static void test_flags(void **state)
{
    (void)state;
    struct server_config c;
    char err[256];
    config_init(&c);
    assert_int_equal(config_set(&c, "wal.fsync", "always", err, sizeof err), 0);
    assert_int_equal(c.tsdb.wal.fsync, WAL_FSYNC_ALWAYS);
    assert_int_equal(config_set(&c, "wal.fsync", "sometimes", err, sizeof err), ERR_INVALID);
    assert_non_null(strstr(err, "wal.fsync"));
    assert_int_equal(config_set(&c, "wal.segment-size", "1MiB", err, sizeof err), 0);
    assert_int_equal(c.tsdb.wal.segment_size_bytes, 1u << 20);
    assert_int_equal(config_set(&c, "wal.segment-size", "1KiB", err, sizeof err), ERR_INVALID);
    assert_int_equal(config_set(&c, "tsdb.ooo-window", "0", err, sizeof err), 0);
    assert_int_equal(c.tsdb.ooo_window_ms, 0);
    assert_int_equal(config_set(&c, "tsdb.ooo-window", "1h30m", err, sizeof err), 0);
    assert_int_equal(c.tsdb.ooo_window_ms, 5400000);
    assert_int_equal(config_set(&c, "tsdb.retention", "0", err, sizeof err), 0);
    assert_true(c.tsdb.retention_ms < 0);
    assert_int_equal(config_set(&c, "tsdb.retention", "30d", err, sizeof err), 0);
    assert_int_equal(c.tsdb.retention_ms, 30LL * 86400000);
    assert_int_equal(config_set(&c, "tsdb.retention-size", "10GiB", err, sizeof err), 0);
    assert_int_equal(c.tsdb.retention_bytes, 10ull << 30);
    assert_int_equal(config_set(&c, "tsdb.block-range", "30s", err, sizeof err), ERR_INVALID);
    assert_int_equal(config_set(&c, "tsdb.block-range", "1h", err, sizeof err), 0);
    assert_int_equal(c.tsdb.chunk_range_ms, 3600000);
    assert_int_equal(config_set(&c, "limits.max-labels-per-series", "0", err, sizeof err), 0);
    assert_int_equal(c.ingest.limits.labels_per_series_max, 0);
    assert_int_equal(config_set(&c, "limits.max-labels-per-series", "-1", err, sizeof err),
                     ERR_INVALID);
    assert_int_equal(config_set(&c, "limits.max-label-value-bytes", "x", err, sizeof err),
                     ERR_INVALID);
    assert_int_equal(config_set(&c, "limits.max-series-per-tenant", "100", err, sizeof err), 0);
    assert_int_equal(c.ingest.series_per_tenant_max, 100);
    assert_int_equal(config_set(&c, "limits.max-metadata-per-shard", "7", err, sizeof err), 0);
    assert_int_equal(c.ingest.metadata_max, 7);
    assert_int_equal(config_set(&c, "ingest.mesh-full-timeout", "250ms", err, sizeof err), 0);
    assert_int_equal(c.ingest.mesh_full_timeout_ns, 250000000);
    assert_int_equal(config_set(&c, "tenant.default", "team-1", err, sizeof err), 0);
    assert_string_equal(c.default_tenant, "team-1");
    assert_int_equal(config_set(&c, "tenant.default", "a|b", err, sizeof err), ERR_INVALID);
    assert_int_equal(config_set(&c, "http.max-body-bytes", "1MiB", err, sizeof err), 0);
    assert_int_equal(c.ingest.body_bytes_max, 1u << 20);
    config_deinit(&c);
}

static void test_yaml(void **state)
{
    (void)state;
    char path[] = "/tmp/strata-ingest-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char yaml[] = "wal: {fsync: always}\n"
                               "tsdb:\n  ooo_window: 5m\n  retention: 2d\n"
                               "limits:\n  max_labels_per_series: 12\n"
                               "  max_series_per_tenant: 0\n"
                               "tenant: {default: fallback}\n";
    assert_int_equal(write(fd, yaml, sizeof yaml - 1), (ssize_t)(sizeof yaml - 1));
    close(fd);
    struct server_config c;
    char err[256];
    config_init(&c);
    assert_int_equal(config_load_yaml(&c, path, err, sizeof err), 0);
    unlink(path);
    assert_int_equal(c.tsdb.wal.fsync, WAL_FSYNC_ALWAYS);
    assert_int_equal(c.tsdb.ooo_window_ms, 300000);
    assert_int_equal(c.tsdb.retention_ms, 2 * 86400000);
    assert_int_equal(c.ingest.limits.labels_per_series_max, 12);
    assert_int_equal(c.ingest.series_per_tenant_max, 0);
    assert_string_equal(c.default_tenant, "fallback");
    config_deinit(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_yaml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
