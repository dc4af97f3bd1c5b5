/* strata-load report: statistics merge and interval differences, the JSON report (golden bytes for
 * a known run, valid JSON always), the text report and the progress line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tools/json_check.h"
#include "tools/strata-load/hist.c"
#include "tools/strata-load/report.c"

static struct ld_report *known_report(void)
{
    struct ld_report *r = calloc(1, sizeof *r);
    r->mode = "metrics";
    r->target = "http://127.0.0.1:9090";
    r->elapsed_s = 2;
    r->cpu_s = 0.5;
    r->seed = 7;
    r->threads = 1;
    r->connections = 2;
    struct ld_report_kind *k = &r->kind[LD_K_METRICS];
    k->enabled = true;
    k->unit = "samples";
    k->detail = "rw1";
    k->target_rate = 1000;
    struct ld_stats *s = &k->stats;
    ld_stats_reset(s);
    s->requests = 12, s->ok = 10, s->failed = 2, s->retries = 1, s->behind = 3;
    s->units_ok = 1000, s->units_sent = 1200;
    s->bytes_sent = 5000, s->raw_bytes = 20000, s->bytes_recv = 900;
    s->status[204] = 10, s->status[500] = 2;
    s->err_timeout = 1;
    for (int i = 0; i < 12; i++) {
        ld_hist_record(&s->lat, 2000000);
        ld_hist_record(&s->svc, 1000000);
    }
    s->last_error_status = 500;
    strcpy(s->last_error, "db <down>");
    return r;
}

static void test_json_golden(void **state)
{
    struct ld_report *r = known_report();
    struct buf b = BUF_INIT;
    assert_int_equal(ld_report_json(r, &b), 0);
    buf_cstr(&b);
    const char *want =
        "{\"mode\":\"metrics\",\"target\":\"http://127.0.0.1:9090\",\"elapsed_s\":2,\"cpu_s\":0.5,"
        "\"seed\":7,\"threads\":1,\"connections\":2,\"metrics\":{\"detail\":\"rw1\",\"unit\":"
        "\"samples\",\"target_rate\":1000,\"requests\":12,\"responses\":12,\"ok\":10,\"failed\":2,"
        "\"retries\":1,\"behind\":3,\"rw2_unconfirmed\":0,\"units\":1000,\"units_sent\":1200,"
        "\"bytes_sent\":5000,"
        "\"raw_bytes\":20000,\"bytes_received\":900,\"requests_per_s\":6,\"units_per_s\":500,"
        "\"bytes_per_s\":2500,\"units_per_cpu_s\":2000,\"latency_ms\":{\"p50\":2,\"p90\":2,"
        "\"p99\":2,\"max\":2,\"mean\":2},\"service_ms\":{\"p50\":1,\"p90\":1,\"p99\":1,\"max\":1,"
        "\"mean\":1},\"status\":{\"204\":10,\"500\":2},\"conn_errors\":{\"connect\":0,\"reset\":0,"
        "\"timeout\":1,\"protocol\":0},\"last_error\":{\"status\":500,\"body\":\"db "
        "\\u003cdown\\u003e\"}}}\n";
    assert_string_equal((char *)b.data, want);
    assert_true(json_valid((char *)b.data, b.len));
    buf_deinit(&b);
    free(r);
}

static void test_json_all_kinds_valid(void **state)
{
    struct ld_report *r = known_report();
    static const char *const units[] = {"samples", "lines", "queries"};
    for (int k = 0; k < LD_K_COUNT; k++) {
        r->kind[k].enabled = true;
        r->kind[k].unit = units[k];
    }
    r->kind[LD_K_LOGS].stats.last_error_status = 400;
    strcpy(r->kind[LD_K_LOGS].stats.last_error, "quote \" backslash \\ tab \t");
    r->elapsed_s = 0; /* a run that never started: rates are 0, not NaN */
    struct buf b = BUF_INIT;
    assert_int_equal(ld_report_json(r, &b), 0);
    assert_true(json_valid((char *)b.data, b.len));
    buf_cstr(&b);
    assert_non_null(strstr((char *)b.data, "\"logs\":{"));
    assert_non_null(strstr((char *)b.data, "\"query\":{"));
    assert_non_null(strstr((char *)b.data, "\"units_per_s\":0,"));
    buf_deinit(&b);
    free(r);
}

static void test_text(void **state)
{
    struct ld_report *r = known_report();
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ld_report_text(r, f);
    fclose(f);
    assert_non_null(strstr(text, "strata-load metrics -> http://127.0.0.1:9090: 2.00 s"));
    assert_non_null(strstr(text, "target 1000.0 samples/s"));
    assert_non_null(strstr(text, "achieved    6.0 req/s  500.0 samples/s"));
    assert_non_null(strstr(text, "10 ok, 2 failed, 1 retries, 3 behind schedule"));
    assert_non_null(strstr(text, "p50 2.000 ms  p90 2.000 ms  p99 2.000 ms  max 2.000 ms"));
    assert_non_null(strstr(text, "204: 10 500: 2"));
    assert_non_null(strstr(text, "timeout 1"));
    assert_non_null(strstr(text, "last error  500: db <down>"));
    free(text);
    free(r);
}

static void test_merge_diff_progress(void **state)
{
    struct ld_stats *a = malloc(sizeof *a), *b = malloc(sizeof *b), *m = malloc(sizeof *m),
                    *d = malloc(sizeof *d);
    ld_stats_reset(a), ld_stats_reset(b), ld_stats_reset(m);
    a->ok = 5, a->units_ok = 500, a->status[204] = 5, a->err_connect = 1;
    b->ok = 3, b->failed = 1, b->units_ok = 300, b->status[204] = 3, b->status[429] = 1;
    ld_hist_record(&a->lat, 1000000);
    ld_hist_record(&b->lat, 9000000);
    ld_stats_merge(m, a);
    assert_int_equal(ld_stats_errors(m), 1);
    ld_stats_merge(m, b);
    assert_int_equal(m->ok, 8);
    assert_int_equal(m->units_ok, 800);
    assert_int_equal(m->status[204], 8);
    assert_int_equal(m->lat.count, 2);
    assert_int_equal(ld_stats_errors(m), 2); /* one 429 + one connect error */
    ld_stats_diff(d, m, a);                  /* the interval after a: exactly b */
    assert_int_equal(d->ok, 3);
    assert_int_equal(d->failed, 1);
    assert_int_equal(d->status[429], 1);
    assert_int_equal(d->err_connect, 0);
    assert_int_equal(d->lat.count, 1);
    assert_true(ld_hist_quantile(&d->lat, 0.99) >= 8900000);
    struct ld_report_kind kinds[LD_K_COUNT] = {{.enabled = true, .unit = "samples"}};
    struct ld_stats ds[LD_K_COUNT];
    ds[0] = *d;
    char line[256];
    ld_report_progress(line, sizeof line, 12, kinds, ds, 0.5);
    assert_string_equal(line, "    12s | metrics 600.0 samples/s 8.0 req/s err 1 p99 9.01ms");
    free(a), free(b), free(m), free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_golden),
        cmocka_unit_test(test_json_all_kinds_valid),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_merge_diff_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
