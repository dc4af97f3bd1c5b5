/* Metrics: status slots, per-shard observation summed at render time, and an exposition-format
 * checker (HELP/TYPE before samples, valid names and label syntax, cumulative histogram buckets
 * ending in +Inf == count). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/metrics.h"

static bool valid_name(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
            return false;
    return true;
}

/* Checks the text exposition format line by line; returns the value of `want` (a full series
 * "name{labels}") or -1 when absent. */
static double check_exposition(const char *text, const char *want)
{
    char typed[64][80];
    int ntyped = 0;
    double found = -1;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl); /* every line ends with \n */
        size_t len = (size_t)(nl - p);
        if (strncmp(p, "# HELP ", 7) == 0) {
        } else if (strncmp(p, "# TYPE ", 7) == 0) {
            const char *sp = memchr(p + 7, ' ', len - 7);
            assert_non_null(sp);
            snprintf(typed[ntyped++], 80, "%.*s", (int)(sp - p - 7), p + 7);
            const char *t = sp + 1;
            size_t tl = (size_t)(nl - t);
            assert_true((tl == 7 && !memcmp(t, "counter", 7)) ||
                        (tl == 5 && !memcmp(t, "gauge", 5)) ||
                        (tl == 9 && !memcmp(t, "histogram", 9)));
        } else {
            size_t nlen = strcspn(p, "{ ");
            assert_true(valid_name(p, nlen));
            bool ok = false;
            for (int i = 0; i < ntyped && !ok; i++) {
                size_t tl = strlen(typed[i]);
                ok = nlen >= tl && !strncmp(p, typed[i], tl) &&
                     (nlen == tl || !strncmp(p + tl, "_bucket", nlen - tl) ||
                      !strncmp(p + tl, "_sum", nlen - tl) || !strncmp(p + tl, "_count", nlen - tl));
            }
            if (!ok)
                fail_msg("sample without TYPE: %.*s", (int)len, p);
            const char *sp = memrchr(p, ' ', len);
            assert_non_null(sp);
            char *end;
            double v = strtod(sp + 1, &end);
            assert_ptr_equal(end, nl);
            if (want && (size_t)(sp - p) == strlen(want) && !strncmp(p, want, strlen(want)))
                found = v;
        }
        p = nl + 1;
    }
    return found;
}

static void test_code_slots(void **state)
{
    (void)state;
    assert_int_equal(metrics_code_slot(200), 0);
    assert_int_not_equal(metrics_code_slot(404), metrics_code_slot(405));
    assert_int_equal(metrics_code_slot(418), METRICS_CODES - 1);
    assert_int_equal(metrics_code_slot(302), METRICS_CODES - 1);
}

static void test_render_sums_shards(void **state)
{
    (void)state;
    struct shard_metrics *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    metrics_observe_request(a, 1, 200, 50000);       /* 50us */
    metrics_observe_request(b, 1, 200, 3000000);     /* 3ms */
    metrics_observe_request(b, 1, 503, 20000000000); /* 20s: above every finite bucket */
    metrics_observe_request(a, 0, 404, 1000);
    metrics_observe_request(a, 99, 418, 1000); /* out-of-range route: counted as unmatched */
    metric_add(&a->bytes_received, 100);
    metric_add(&b->bytes_received, 23);
    metric_set(&a->conns_open, 2);
    metric_set(&b->conns_open, 3);
    metric_add(&b->header_timeouts, 1);
    struct shard_metrics *ms[2] = {a, b};
    uint64_t busy[2] = {1500000000, 500000000}, iters[2] = {10, 20};
    const char *names[2] = {"unmatched", "/ready"};
    struct metrics_input in = {.nshards = 2,
                               .shards = ms,
                               .busy_ns = busy,
                               .iterations = iters,
                               .route_names = names,
                               .nroutes = 2,
                               .mesh = true,
                               .version = "1.2.3",
                               .revision = "abc",
                               .branch = "main"};
    struct buf out = BUF_INIT;
    assert_int_equal(metrics_render(&out, &in), 0);
    buf_cstr(&out);
    const char *t = (const char *)out.data;
    assert_int_equal(
        check_exposition(t, "strata_http_requests_total{route=\"/ready\",code=\"200\"}"), 2);
    assert_int_equal(
        check_exposition(t, "strata_http_requests_total{route=\"/ready\",code=\"503\"}"), 1);
    assert_int_equal(
        check_exposition(t, "strata_http_requests_total{route=\"unmatched\",code=\"other\"}"), 1);
    assert_int_equal(
        check_exposition(t, "strata_http_request_duration_seconds_bucket{route=\"/ready\","
                            "le=\"0.0001\"}"),
        1);
    assert_int_equal(
        check_exposition(t, "strata_http_request_duration_seconds_bucket{route=\"/ready\","
                            "le=\"0.005\"}"),
        2);
    assert_int_equal(
        check_exposition(t, "strata_http_request_duration_seconds_bucket{route=\"/ready\","
                            "le=\"10\"}"),
        2);
    assert_int_equal(
        check_exposition(t, "strata_http_request_duration_seconds_bucket{route=\"/ready\","
                            "le=\"+Inf\"}"),
        3);
    assert_int_equal(
        check_exposition(t, "strata_http_request_duration_seconds_count{route=\"/ready\"}"), 3);
    assert_int_equal(check_exposition(t, "strata_http_received_bytes_total"), 123);
    assert_int_equal(check_exposition(t, "strata_http_open_connections"), 5);
    assert_int_equal(check_exposition(t, "strata_http_timeouts_total{kind=\"header\"}"), 1);
    assert_true(check_exposition(t, "strata_loop_busy_seconds_total{shard=\"0\"}") == 1.5);
    assert_int_equal(
        check_exposition(t,
                         "strata_build_info{version=\"1.2.3\",revision=\"abc\",branch=\"main\"}"),
        1);
    assert_true(check_exposition(t, "strata_mesh_queued_messages") >= 0);
    assert_true(check_exposition(t, "process_resident_memory_bytes") > 0);
    assert_true(check_exposition(t, "process_open_fds") > 0);
    assert_true(check_exposition(t, "process_start_time_seconds") > 1e9);
    buf_deinit(&out);
    free(a);
    free(b);
}

static void test_process_stats(void **state)
{
    (void)state;
    struct process_stats ps;
    metrics_process_stats(&ps);
    assert_true(ps.rss_bytes > 0);
    assert_true(ps.vsize_bytes >= ps.rss_bytes);
    assert_true(ps.open_fds >= 3);
    assert_true(ps.max_fds >= ps.open_fds);
    assert_true(ps.cpu_seconds >= 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_slots),
        cmocka_unit_test(test_render_sums_shards),
        cmocka_unit_test(test_process_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
