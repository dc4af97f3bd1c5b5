/* strata-load end to end on loopback against its own sink: closed and open loop for every kind,
 * error accounting (503 answers with and without --retry, refused connections, timeouts),
 * backfill writing exactly the history asked for, and --dump giving the same bytes for the same
 * seed. Skipped when io_uring is not available. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tools/strata-load/client.c"
#include "tools/strata-load/hist.c"
#include "tools/strata-load/http.c"
#include "tools/strata-load/kinds.c"
#include "tools/strata-load/opts.c"
#include "tools/strata-load/report.c"
#include "tools/strata-load/run.c"
#include "tools/strata-load/rwenc.c"
#include "tools/strata-load/sched.c"
#include "tools/strata-load/sink.c"
#include "tools/strata-load/wl_logs.c"
#include "tools/strata-load/wl_metrics.c"
#include "tools/strata-load/wl_query.c"

static struct ld_stats g_stats[LD_K_COUNT];
static struct ld_opts g_opts;

/* Parses args, runs to completion (or the duration) and leaves the totals in g_stats. Returns the
 * elapsed seconds. */
static double run_args(const char *const *args, int n)
{
    char *argv[64];
    argv[0] = "strata-load";
    for (int i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    char err[256];
    FILE *devnull = fopen("/dev/null", "w");
    int rc = ld_opts_parse(&g_opts, n + 1, argv, devnull, err, sizeof err);
    fclose(devnull);
    if (rc)
        fail_msg("options: %s", err);
    struct ld_run *r = calloc(1, sizeof *r);
    r->o = &g_opts;
    r->unix0_ns = g_opts.start_ns > 0 ? g_opts.start_ns : clock_real_ns() + g_opts.start_ns;
    if (ld_kinds_init(r->kinds, &g_opts, r->unix0_ns, err, sizeof err))
        fail_msg("kinds: %s", err);
    assert_int_equal(ld_client_setup(r), 0);
    struct progress *p = calloc(1, sizeof *p);
    r->mono0_ns = clock_mono_ns();
    r->end_mono_ns = g_opts.duration_ns > 0 ? r->mono0_ns + g_opts.duration_ns : INT64_MAX;
    assert_int_equal(ld_client_start(r), 0);
    r->stop_mono_ns = wait_run(r, p);
    ld_client_stop(r);
    for (uint32_t i = 0; i < r->n_workers; i++)
        assert_int_equal(r->workers[i].init_err, 0);
    ld_client_stats(r, g_stats);
    double el = (double)(r->stop_mono_ns - r->mono0_ns) / 1e9;
    ld_client_teardown(r);
    ld_kinds_deinit(r->kinds);
    free(p);
    free(r);
    return el;
}

#define RUN(...)                                                                                   \
    run_args((const char *const[]){__VA_ARGS__},                                                   \
             sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static struct ld_sink g_sink;
static char g_url[64];

static int sink_up(void **state)
{
    char why[256];
    if (loop_probe(why, sizeof why)) {
        fprintf(stderr, "skipping: %s\n", why);
        return -1;
    }
    if (ld_sink_open(&g_sink, "127.0.0.1:0", 204, 0) || ld_sink_start(&g_sink))
        return -1;
    snprintf(g_url, sizeof g_url, "http://127.0.0.1:%d", g_sink.port);
    return 0;
}

static int sink_down(void **state)
{
    ld_sink_stop(&g_sink);
    return 0;
}

static void test_metrics_closed_loop(void **state)
{
    uint64_t before = atomic_load(&g_sink.requests);
    RUN("metrics", "--target", g_url, "--rate", "0", "--requests", "40", "--connections", "3",
        "--threads", "2", "--targets", "4", "--series-per-target", "100", "--batch", "50");
    const struct ld_stats *s = &g_stats[LD_K_METRICS];
    assert_int_equal(s->ok, 40);
    assert_int_equal(s->failed, 0);
    assert_int_equal(s->status[204], 40);
    assert_int_equal(s->units_ok, 40 * 50);
    assert_int_equal(s->units_ok, s->units_sent);
    assert_int_equal(s->lat.count, 40);
    assert_int_equal(ld_stats_errors(s), 0);
    assert_true(s->bytes_sent > 0 && s->raw_bytes > s->bytes_sent / 2);
    assert_int_equal(atomic_load(&g_sink.requests) - before, 40);
    assert_int_equal(s->v2_unconfirmed, 0);
    /* the sink is no remote write 2.0 receiver: it never says how many samples it wrote */
    RUN("metrics", "--target", g_url, "--rate", "0", "--requests", "5", "--protocol", "rw2",
        "--targets", "4", "--series-per-target", "100");
    assert_int_equal(s->ok, 5);
    assert_int_equal(s->v2_unconfirmed, 5);
}

static void test_logs_and_queries(void **state)
{
    RUN("logs", "--target", g_url, "--rate", "0", "--requests", "12", "--encoding", "json",
        "--batch", "100", "--metadata");
    assert_int_equal(g_stats[LD_K_LOGS].ok, 12);
    assert_int_equal(g_stats[LD_K_LOGS].units_ok, 1200);
    RUN("logs", "--target", g_url, "--rate", "0", "--requests", "12", "--batch", "100");
    assert_int_equal(g_stats[LD_K_LOGS].ok, 12);
    RUN("query", "--target", g_url, "--rate", "0", "--requests", "9", "--query-type", "range");
    assert_int_equal(g_stats[LD_K_QUERY].ok, 9);
    assert_int_equal(g_stats[LD_K_QUERY].units_ok, 9);
    RUN("mixed", "--target", g_url, "--metrics-rate", "0", "--logs-rate", "0", "--query-rate", "0",
        "--requests", "6", "--targets", "2", "--series-per-target", "50");
    for (int k = 0; k < LD_K_COUNT; k++)
        assert_int_equal(g_stats[k].ok, 6);
}

static void test_open_loop_rate(void **state)
{
    /* 400 series, 20 per request, 4000 samples/s: 200 requests/s for 1 s */
    double el = RUN("metrics", "--target", g_url, "--rate", "4000", "--duration", "1s", "--targets",
                    "4", "--series-per-target", "100", "--batch", "20", "--connections", "4");
    const struct ld_stats *s = &g_stats[LD_K_METRICS];
    fprintf(stderr, "open loop: %.3f s, ok %llu, behind %llu, p50 %llu ns\n", el,
            (unsigned long long)s->ok, (unsigned long long)s->behind,
            (unsigned long long)ld_hist_quantile(&s->lat, 0.5));
    assert_true(el >= 0.99 && el < 1.5);
    assert_true(s->ok >= 190 && s->ok <= 200);
    assert_true(s->behind <= 5);
    assert_int_equal(s->failed, 0);
    /* latency from the due time stays small against a fast sink */
    assert_true(ld_hist_quantile(&s->lat, 0.5) < 50000000);
}

static void test_errors_and_retries(void **state)
{
    static struct ld_sink bad; /* static: outlives a failed assertion */
    assert_int_equal(ld_sink_open(&bad, "127.0.0.1:0", 204, 3), 0); /* every 3rd: 503 */
    assert_int_equal(ld_sink_start(&bad), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", bad.port);
    RUN("metrics", "--target", url, "--rate", "0", "--requests", "30", "--connections", "1",
        "--targets", "1", "--series-per-target", "60", "--batch", "10");
    const struct ld_stats *s = &g_stats[LD_K_METRICS];
    assert_int_equal(s->ok, 20);
    assert_int_equal(s->failed, 10);
    assert_int_equal(s->status[503], 10);
    assert_int_equal(s->last_error_status, 503);
    assert_string_equal(s->last_error, "sink");
    RUN("metrics", "--target", url, "--rate", "0", "--requests", "30", "--connections", "1",
        "--targets", "1", "--series-per-target", "60", "--batch", "10", "--retry");
    assert_int_equal(s->ok, 30); /* every request eventually lands */
    assert_int_equal(s->failed, 0);
    assert_true(s->retries >= 14 && s->retries <= 16);
    assert_int_equal(s->status[503], s->retries);
    ld_sink_stop(&bad);

    /* nothing listens: connection errors, no request sent */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
    RUN("metrics", "--target", url, "--rate", "0", "--duration", "300ms", "--connections", "2");
    assert_true(s->err_connect >= 2);
    assert_int_equal(s->ok + s->failed, 0);

    /* a listener that never answers: timeouts */
    assert_int_equal(listen(fd, 16), 0);
    RUN("metrics", "--target", url, "--rate", "0", "--duration", "700ms", "--connections", "1",
        "--timeout", "200ms", "--targets", "1", "--series-per-target", "10");
    assert_true(s->err_timeout >= 2);
    assert_int_equal(s->failed, s->err_timeout);
    assert_int_equal(s->ok, 0);
    close(fd);
}

static void test_stale_keepalive_resent(void **state)
{
    static struct ld_sink closing; /* static: outlives a failed assertion */
    assert_int_equal(ld_sink_open(&closing, "127.0.0.1:0", 204, 0), 0);
    closing.close_every = 2; /* every second answer, the connection goes away silently */
    assert_int_equal(ld_sink_start(&closing), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", closing.port);
    RUN("metrics", "--target", url, "--rate", "2000", "--requests", "20", "--connections", "1",
        "--targets", "1", "--series-per-target", "20", "--batch", "10", "--duration", "0");
    const struct ld_stats *s = &g_stats[LD_K_METRICS];
    assert_int_equal(s->ok, 20);
    assert_int_equal(s->failed, 0);
    assert_int_equal(s->units_sent, 200); /* resends are not counted twice */
    assert_int_equal(ld_stats_errors(s), 0);
    ld_sink_stop(&closing);
}

static void test_backfill_exact(void **state)
{
    /* one hour of 15 s scrapes of 40 series: 240 samples each, in requests of 4 ticks */
    double el = RUN("metrics", "--target", g_url, "--backfill", "1h", "--targets", "2",
                    "--series-per-target", "20", "--batch", "10", "--samples-per-series", "4",
                    "--connections", "2");
    const struct ld_stats *s = &g_stats[LD_K_METRICS];
    assert_int_equal(s->units_ok, 240 * 40);
    assert_int_equal(s->ok, 240 / 4 * 4);
    assert_int_equal(s->failed, 0);
    assert_true(el < 10);
}

static void read_file(const char *path, struct buf *out)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_append(out, tmp, k);
    fclose(f);
}

static void dump(const char *path, const char *seed, const char *mode)
{
    char *argv[] = {"strata-load",
                    (char *)mode,
                    "--dump",
                    (char *)path,
                    "--requests",
                    "7",
                    "--seed",
                    (char *)seed,
                    "--start",
                    "1700000000",
                    "--targets",
                    "3",
                    "--series-per-target",
                    "40",
                    "--duration",
                    "0",
                    NULL};
    char err[256];
    FILE *devnull = fopen("/dev/null", "w");
    assert_int_equal(ld_opts_parse(&g_opts, 16, argv, devnull, err, sizeof err), 0);
    fclose(devnull);
    assert_int_equal(ld_main(&g_opts), 0);
}

static void test_dump_deterministic(void **state)
{
    const char *modes[] = {"metrics", "logs", "query"};
    for (int m = 0; m < 3; m++) {
        char a[64], b[64], c[64];
        snprintf(a, sizeof a, "/tmp/h-load-dump-%d-a", getpid());
        snprintf(b, sizeof b, "/tmp/h-load-dump-%d-b", getpid());
        snprintf(c, sizeof c, "/tmp/h-load-dump-%d-c", getpid());
        dump(a, "5", modes[m]);
        dump(b, "5", modes[m]);
        dump(c, "6", modes[m]);
        struct buf x = BUF_INIT, y = BUF_INIT, z = BUF_INIT;
        read_file(a, &x), read_file(b, &y), read_file(c, &z);
        assert_true(x.len > 0);
        assert_int_equal(x.len, y.len);
        assert_memory_equal(x.data, y.data, x.len);
        if (m < 2) /* queries do not depend on the seed */
            assert_true(x.len != z.len || memcmp(x.data, z.data, x.len) != 0);
        size_t requests = 0;
        for (uint8_t *p = x.data;
             (p = memmem(p, x.len - (size_t)(p - x.data), " HTTP/1.1\r\nHost: ", 17)) != NULL; p++)
            requests++;
        assert_int_equal(requests, 7);
        buf_deinit(&x), buf_deinit(&y), buf_deinit(&z);
        unlink(a), unlink(b), unlink(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_closed_loop),    cmocka_unit_test(test_logs_and_queries),
        cmocka_unit_test(test_open_loop_rate),         cmocka_unit_test(test_errors_and_retries),
        cmocka_unit_test(test_stale_keepalive_resent), cmocka_unit_test(test_backfill_exact),
        cmocka_unit_test(test_dump_deterministic),
    };
    char why[256];
    if (loop_probe(why, sizeof why)) {
        fprintf(stderr, "io_uring unavailable (%s): skipping\n", why);
        return 77;
    }
    return cmocka_run_group_tests(tests, sink_up, sink_down);
}
