/* Per-shard metric updates and the Prometheus text-format (0.0.4) renderer, plus process figures
 * read from /proc/self. */
#include "server/metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/error.h"

static const int code_list[METRICS_CODES - 1] = {200, 204, 400, 404, 405, 408, 413, 415, 417,
                                                 422, 429, 431, 499, 500, 501, 503, 504, 505};
/* Upper bounds in ns of the finite latency buckets. */
static const int64_t bucket_ns[METRICS_BUCKETS] = {
    100000,   250000,    500000,    1000000,   2500000,    5000000,    10000000,   25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000};
static const char *const bucket_le[METRICS_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05",   "0.1",     "0.25",   "0.5",   "1",      "2.5",   "5",    "10"};

static metric_u64 loki_moved_bytes, loki_partial_ranges; /* metrics_loki_query_add */

void metrics_loki_query_add(uint64_t moved_bytes, uint64_t partial_ranges)
{
    atomic_fetch_add_explicit(&loki_moved_bytes, moved_bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&loki_partial_ranges, partial_ranges, memory_order_relaxed);
}

unsigned metrics_code_slot(int status)
{
    for (unsigned i = 0; i < METRICS_CODES - 1; i++)
        if (code_list[i] == status)
            return i;
    return METRICS_CODES - 1;
}

void metrics_observe_request(struct shard_metrics *m, unsigned route, int status, int64_t dur_ns)
{
    if (route >= METRICS_ROUTES_MAX)
        route = 0;
    if (dur_ns < 0)
        dur_ns = 0;
    metric_add(&m->requests[route][metrics_code_slot(status)], 1);
    for (unsigned b = 0; b < METRICS_BUCKETS; b++) {
        if (dur_ns <= bucket_ns[b]) {
            metric_add(&m->latency_buckets[route][b], 1);
            break;
        }
    }
    metric_add(&m->latency_count[route], 1);
    metric_add(&m->latency_sum_ns[route], (uint64_t)dur_ns);
}

/* Sums one counter over all shards; `off` is its byte offset inside struct shard_metrics. */
static uint64_t sum_at(const struct metrics_input *in, size_t off)
{
    uint64_t s = 0;
    for (uint32_t i = 0; i < in->nshards; i++)
        s += metric_get((const metric_u64 *)((const char *)in->shards[i] + off));
    return s;
}

#define SUM(in, field) sum_at((in), offsetof(struct shard_metrics, field))

static int header(struct buf *b, const char *name, const char *type, const char *help)
{
    return buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int render_requests(struct buf *b, const struct metrics_input *in)
{
    int rc = header(b, "strata_http_requests_total", "counter",
                    "HTTP requests answered, by route pattern and status code.");
    for (uint32_t r = 0; r < in->nroutes && !rc; r++) {
        for (unsigned c = 0; c < METRICS_CODES && !rc; c++) {
            uint64_t v = SUM(in, requests[r][c]);
            if (v == 0)
                continue;
            char code[8];
            if (c < METRICS_CODES - 1)
                snprintf(code, sizeof code, "%d", code_list[c]);
            else
                snprintf(code, sizeof code, "other");
            rc = buf_printf(b, "strata_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
                            in->route_names[r], code, (unsigned long long)v);
        }
    }
    return rc;
}

static int render_latency(struct buf *b, const struct metrics_input *in)
{
    const char *n = "strata_http_request_duration_seconds";
    int rc = header(b, n, "histogram", "Time from a complete request to its queued response.");
    for (uint32_t r = 0; r < in->nroutes && !rc; r++) {
        uint64_t count = SUM(in, latency_count[r]);
        if (count == 0)
            continue;
        const char *route = in->route_names[r];
        uint64_t cum = 0;
        for (unsigned k = 0; k < METRICS_BUCKETS && !rc; k++) {
            cum += SUM(in, latency_buckets[r][k]);
            rc = buf_printf(b, "%s_bucket{route=\"%s\",le=\"%s\"} %llu\n", n, route, bucket_le[k],
                            (unsigned long long)cum);
        }
        if (!rc)
            rc = buf_printf(b, "%s_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", n, route,
                            (unsigned long long)count);
        if (!rc)
            rc = buf_printf(b, "%s_sum{route=\"%s\"} %.9g\n%s_count{route=\"%s\"} %llu\n", n, route,
                            (double)SUM(in, latency_sum_ns[r]) / 1e9, n, route,
                            (unsigned long long)count);
    }
    return rc;
}

static int scalar(struct buf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    int rc = header(b, name, type, help);
    return rc ? rc : buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static int render_conns(struct buf *b, const struct metrics_input *in)
{
    int rc = scalar(b, "strata_http_received_bytes_total", "counter",
                    "Bytes received on HTTP connections.", SUM(in, bytes_received));
    if (!rc)
        rc = scalar(b, "strata_http_sent_bytes_total", "counter", "Bytes sent on HTTP connections.",
                    SUM(in, bytes_sent));
    if (!rc)
        rc = scalar(b, "strata_http_open_connections", "gauge", "Open HTTP connections.",
                    SUM(in, conns_open));
    if (!rc)
        rc = scalar(b, "strata_http_accepted_connections_total", "counter",
                    "HTTP connections accepted.", SUM(in, conns_accepted));
    if (!rc)
        rc = scalar(b, "strata_http_rejected_connections_total", "counter",
                    "Connections answered 503 and closed because of --http.max-connections.",
                    SUM(in, conns_rejected));
    if (!rc)
        rc = header(b, "strata_http_timeouts_total", "counter",
                    "Connections cut off by the header read timeout or the idle timeout.");
    if (!rc)
        rc = buf_printf(b,
                        "strata_http_timeouts_total{kind=\"header\"} %llu\n"
                        "strata_http_timeouts_total{kind=\"idle\"} %llu\n",
                        (unsigned long long)SUM(in, header_timeouts),
                        (unsigned long long)SUM(in, idle_timeouts));
    if (!rc)
        rc = scalar(b, "strata_http_client_aborts_total", "counter",
                    "Requests whose client closed or reset the connection before the reply.",
                    SUM(in, client_aborts));
    if (!rc)
        rc = scalar(b, "strata_query_jobs_canceled_total", "counter",
                    "Query jobs canceled because their client went away.",
                    SUM(in, query_jobs_canceled));
    if (!rc)
        rc = scalar(b, "strata_http_websocket_connections", "gauge",
                    "Open WebSocket connections (Loki tail).", SUM(in, ws_open));
    if (!rc)
        rc = scalar(b, "strata_loki_query_moved_bytes_total", "counter",
                    "Bytes of entries or partial aggregates Loki query owners sent to query "
                    "threads.",
                    metric_get(&loki_moved_bytes));
    if (!rc)
        rc = scalar(b, "strata_loki_query_partial_ranges_total", "counter",
                    "Loki range aggregations the owning shards computed as partials.",
                    metric_get(&loki_partial_ranges));
    return rc;
}

static int per_shard(struct buf *b, const struct metrics_input *in, const char *name,
                     const char *type, const char *help, const uint64_t *vals, size_t off,
                     double scale)
{
    int rc = header(b, name, type, help);
    for (uint32_t i = 0; i < in->nshards && !rc; i++) {
        uint64_t v =
            vals ? vals[i] : metric_get((const metric_u64 *)((const char *)in->shards[i] + off));
        if (scale != 1.0)
            rc = buf_printf(b, "%s{shard=\"%u\"} %.9g\n", name, i, (double)v * scale);
        else
            rc = buf_printf(b, "%s{shard=\"%u\"} %llu\n", name, i, (unsigned long long)v);
    }
    return rc;
}

static int render_lane_depths(struct buf *b, const struct metrics_input *in)
{
    int rc = header(b, "strata_mesh_ring_depth", "gauge",
                    "Messages waiting in the ring from one shard to another.");
    for (uint32_t f = 0; !rc && f < in->nshards; f++)
        for (uint32_t t = 0; !rc && t < in->nshards; t++)
            rc = buf_printf(b, "strata_mesh_ring_depth{from=\"%u\",to=\"%u\"} %u\n", f, t,
                            in->lane_depth[f * in->nshards + t]);
    return rc;
}

static int render_shards(struct buf *b, const struct metrics_input *in)
{
    int rc = scalar(b, "strata_shards", "gauge", "Shard threads.", in->nshards);
    if (!rc)
        rc = per_shard(b, in, "strata_loop_busy_seconds_total", "counter",
                       "Time each shard's loop spent working (not blocked waiting for io_uring).",
                       in->busy_ns, 0, 1e-9);
    if (!rc)
        rc = per_shard(b, in, "strata_loop_iterations_total", "counter",
                       "Event loop iterations per shard.", in->iterations, 0, 1.0);
    if (!in->mesh || rc)
        return rc;
    rc = per_shard(b, in, "strata_mesh_messages_sent_total", "counter",
                   "Cross-shard messages staged by each shard.", NULL,
                   offsetof(struct shard_metrics, mesh_sent), 1.0);
    if (!rc)
        rc = per_shard(b, in, "strata_mesh_messages_received_total", "counter",
                       "Cross-shard messages received by each shard.", NULL,
                       offsetof(struct shard_metrics, mesh_received), 1.0);
    if (!rc)
        rc = per_shard(b, in, "strata_mesh_send_full_total", "counter",
                       "Sends refused because the destination ring was full (backpressure).", NULL,
                       offsetof(struct shard_metrics, mesh_full), 1.0);
    if (!rc)
        rc = per_shard(b, in, "strata_mesh_wakeups_sent_total", "counter",
                       "Wake-ups sent to sleeping shards.", NULL,
                       offsetof(struct shard_metrics, mesh_wakes_sent), 1.0);
    uint64_t sent = SUM(in, mesh_sent), recv = SUM(in, mesh_received);
    if (!rc)
        rc = scalar(b, "strata_mesh_queued_messages", "gauge",
                    "Messages in the mesh rings (sent, not yet received), all lanes together.",
                    sent > recv ? sent - recv : 0);
    if (!rc && in->lane_depth)
        rc = render_lane_depths(b, in);
    return rc;
}

static int render_process(struct buf *b)
{
    struct process_stats ps;
    metrics_process_stats(&ps);
    int rc = header(b, "process_cpu_seconds_total", "counter",
                    "Total user and system CPU time spent in seconds.");
    if (!rc)
        rc = buf_printf(b, "process_cpu_seconds_total %.3f\n", ps.cpu_seconds);
    if (!rc)
        rc = scalar(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                    ps.rss_bytes);
    if (!rc)
        rc = scalar(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                    ps.vsize_bytes);
    if (!rc)
        rc =
            scalar(b, "process_open_fds", "gauge", "Number of open file descriptors.", ps.open_fds);
    if (!rc)
        rc = scalar(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                    ps.max_fds);
    if (!rc)
        rc = header(b, "process_start_time_seconds", "gauge",
                    "Start time of the process since unix epoch in seconds.");
    if (!rc)
        rc = buf_printf(b, "process_start_time_seconds %.2f\n", ps.start_time_seconds);
    return rc;
}

int metrics_render(struct buf *out, const struct metrics_input *in)
{
    size_t start = out->len;
    int rc = header(out, "strata_build_info", "gauge", "Build information; the value is 1.");
    if (!rc)
        rc = buf_printf(out, "strata_build_info{version=\"%s\",revision=\"%s\",branch=\"%s\"} 1\n",
                        in->version, in->revision, in->branch);
    if (!rc)
        rc = render_requests(out, in);
    if (!rc)
        rc = render_latency(out, in);
    if (!rc)
        rc = render_conns(out, in);
    if (!rc)
        rc = render_shards(out, in);
    if (!rc)
        rc = render_process(out);
    if (rc)
        out->len = start;
    return rc;
}

static uint64_t count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n > 0 ? n - 1 : 0; /* minus the directory's own fd */
}

static double boot_time_seconds(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    char line[256];
    double bt = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lf", &bt) == 1)
            break;
    fclose(f);
    return bt;
}

void metrics_process_stats(struct process_stats *out)
{
    memset(out, 0, sizeof *out);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        out->max_fds = rl.rlim_cur;
    out->open_fds = count_fds();
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return;
    char line[1024];
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    char *p = strrchr(line, ')'); /* the command name may hold spaces and parentheses */
    if (!p)
        return;
    unsigned long utime, stime, vsize;
    unsigned long long start;
    long rss;
    /* fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
     * stime cutime cstime priority nice threads itrealvalue starttime vsize rss */
    if (sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d "
               "%llu %lu %ld",
               &utime, &stime, &start, &vsize, &rss) != 5)
        return;
    double hz = (double)sysconf(_SC_CLK_TCK);
    out->cpu_seconds = (double)(utime + stime) / hz;
    out->vsize_bytes = vsize;
    out->rss_bytes = (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
    out->start_time_seconds = boot_time_seconds() + (double)start / hz;
}
