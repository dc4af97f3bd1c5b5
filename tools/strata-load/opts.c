/* strata-load command line: defaults, parsing, validation and --help (see opts.h). */
#include "tools/strata-load/opts.h"

#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "server/config.h"

enum {
    OPT_TARGET = 256,
    OPT_LOGS_TARGET,
    OPT_PATH,
    OPT_HEADER,
    OPT_CONNS,
    OPT_QCONNS,
    OPT_THREADS,
    OPT_RATE,
    OPT_MRATE,
    OPT_LRATE,
    OPT_QRATE,
    OPT_BATCH,
    OPT_DURATION,
    OPT_REQUESTS,
    OPT_TIMEOUT,
    OPT_RETRY,
    OPT_RETRY_MAX,
    OPT_SEED,
    OPT_START,
    OPT_JSON,
    OPT_QUIET,
    OPT_BURST,
    OPT_CATCHUP,
    OPT_DUMP,
    OPT_PROTOCOL,
    OPT_TARGETS,
    OPT_SPT,
    OPT_INTERVAL,
    OPT_CHURN,
    OPT_BACKFILL,
    OPT_SPS,
    OPT_ENCODING,
    OPT_SERVICES,
    OPT_PODS,
    OPT_AGENTS,
    OPT_LOGFMT,
    OPT_METADATA,
    OPT_LINE_MAX,
    OPT_LPT,
    OPT_QUERIES,
    OPT_LANG,
    OPT_QTYPE,
    OPT_RANGE,
    OPT_STEP,
    OPT_LIMIT,
    OPT_LISTEN,
    OPT_STATUS,
    OPT_FAIL_EVERY,
    OPT_CLOSE_EVERY,
    OPT_HELP
};

static const struct option long_opts[] = {{"target", 1, 0, OPT_TARGET},
                                          {"logs-target", 1, 0, OPT_LOGS_TARGET},
                                          {"path", 1, 0, OPT_PATH},
                                          {"header", 1, 0, OPT_HEADER},
                                          {"connections", 1, 0, OPT_CONNS},
                                          {"query-connections", 1, 0, OPT_QCONNS},
                                          {"threads", 1, 0, OPT_THREADS},
                                          {"rate", 1, 0, OPT_RATE},
                                          {"metrics-rate", 1, 0, OPT_MRATE},
                                          {"logs-rate", 1, 0, OPT_LRATE},
                                          {"query-rate", 1, 0, OPT_QRATE},
                                          {"batch", 1, 0, OPT_BATCH},
                                          {"duration", 1, 0, OPT_DURATION},
                                          {"requests", 1, 0, OPT_REQUESTS},
                                          {"timeout", 1, 0, OPT_TIMEOUT},
                                          {"retry", 0, 0, OPT_RETRY},
                                          {"retry-max", 1, 0, OPT_RETRY_MAX},
                                          {"seed", 1, 0, OPT_SEED},
                                          {"start", 1, 0, OPT_START},
                                          {"json", 1, 0, OPT_JSON},
                                          {"quiet", 0, 0, OPT_QUIET},
                                          {"burst", 1, 0, OPT_BURST},
                                          {"catchup", 1, 0, OPT_CATCHUP},
                                          {"dump", 1, 0, OPT_DUMP},
                                          {"protocol", 1, 0, OPT_PROTOCOL},
                                          {"targets", 1, 0, OPT_TARGETS},
                                          {"series-per-target", 1, 0, OPT_SPT},
                                          {"scrape-interval", 1, 0, OPT_INTERVAL},
                                          {"churn", 1, 0, OPT_CHURN},
                                          {"backfill", 1, 0, OPT_BACKFILL},
                                          {"samples-per-series", 1, 0, OPT_SPS},
                                          {"encoding", 1, 0, OPT_ENCODING},
                                          {"services", 1, 0, OPT_SERVICES},
                                          {"pods", 1, 0, OPT_PODS},
                                          {"agents", 1, 0, OPT_AGENTS},
                                          {"log-format", 1, 0, OPT_LOGFMT},
                                          {"metadata", 0, 0, OPT_METADATA},
                                          {"line-max", 1, 0, OPT_LINE_MAX},
                                          {"lines-per-trace", 1, 0, OPT_LPT},
                                          {"queries", 1, 0, OPT_QUERIES},
                                          {"lang", 1, 0, OPT_LANG},
                                          {"query-type", 1, 0, OPT_QTYPE},
                                          {"range", 1, 0, OPT_RANGE},
                                          {"step", 1, 0, OPT_STEP},
                                          {"limit", 1, 0, OPT_LIMIT},
                                          {"listen", 1, 0, OPT_LISTEN},
                                          {"status", 1, 0, OPT_STATUS},
                                          {"fail-every", 1, 0, OPT_FAIL_EVERY},
                                          {"help", 0, 0, OPT_HELP},
                                          {0, 0, 0, 0}};

void ld_opts_usage(FILE *out)
{
    fputs(
        "usage: strata-load MODE [options]\n"
        "\n"
        "Load generator for strata and any Prometheus remote-write / Loki push / query API.\n"
        "MODE: metrics  remote write 1.0 or 2.0 of node_exporter-like targets\n"
        "      logs     Loki push of application logs (JSON, logfmt, nginx lines)\n"
        "      query    PromQL or LogQL queries (instant or range) from a file\n"
        "      mixed    metrics + logs + queries at once, each at its own rate\n"
        "      sink     a tiny HTTP server answering every request (for measuring the client)\n"
        "\n"
        "Target and transport:\n"
        "  --target URL            http://host:port[/prefix] (default http://127.0.0.1:9090)\n"
        "  --logs-target URL       mixed: where logs go (default: --target)\n"
        "  --path PATH             request path (default by mode: /api/v1/write,\n"
        "                          /loki/api/v1/push, /api/v1/query[_range], ...)\n"
        "  --header 'K: V'         extra request header, repeatable (e.g. X-Scope-OrgID: t1)\n"
        "  --connections N         keep-alive connections per kind (default 4)\n"
        "  --query-connections N   mixed: connections for queries (default 2)\n"
        "  --threads N             event-loop threads, connections spread over them (default 1)\n"
        "  --timeout D             per request (default 10s); a timeout closes the connection\n"
        "  --retry                 retry 429, 5xx and connection errors like Prometheus does:\n"
        "                          backoff 30ms doubling to 5s, Retry-After honoured\n"
        "  --retry-max N           attempts after the first (default 10)\n"
        "\n"
        "Rate and duration:\n"
        "  --rate R                samples/s, lines/s or queries/s (k and M suffixes); 0 = closed\n"
        "                          loop, as fast as the target answers. Open loop sends on\n"
        "                          schedule and measures latency from the due time. Defaults:\n"
        "                          metrics targets*series/scrape-interval, logs 10k, query 10\n"
        "  --metrics-rate R, --logs-rate R, --query-rate R   per kind (mixed)\n"
        "  --batch N               series (metrics, default 2000) or lines (logs, default 1000)\n"
        "                          per request\n"
        "  --duration D            run time (default 10s; 0 = until Ctrl-C or backfill done)\n"
        "  --requests N            stop each kind after N requests\n"
        "  --burst N               after a stall, at most N requests per connection at once\n"
        "                          (default 10) ...\n"
        "  --catchup X             ... then at most X times the rate until on schedule (default "
        "2)\n"
        "  --seed N                workload seed (default 1): same seed, same bytes\n"
        "  --start TIME            sample clock origin (Unix s, or RFC 3339; default now)\n"
        "\n"
        "Metrics:\n"
        "  --protocol rw1|rw2      remote write 1.0 (default) or 2.0\n"
        "  --targets N             scrape targets (default 10)\n"
        "  --series-per-target N   series each (default 500)\n"
        "  --scrape-interval D     sample spacing per series (default 15s)\n"
        "  --churn F               fraction of targets replaced per interval with new\n"
        "                          instance/pod values (default 0)\n"
        "  --backfill D            write the last D (e.g. 24h) as fast as the target accepts,\n"
        "                          in order per series, then stop\n"
        "  --samples-per-series N  samples of each series per request (default 1)\n"
        "\n"
        "Logs:\n"
        "  --encoding protobuf|json   push body (default protobuf, snappy)\n"
        "  --services N            services (default 10)\n"
        "  --pods N                pods per service (default 3); streams = pods x 4 levels\n"
        "  --agents N              shipping agents = request sequences (default: connections)\n"
        "  --log-format F          json, logfmt, nginx or mixed (default mixed: per service)\n"
        "  --metadata              attach trace_id and span_id as structured metadata\n"
        "  --line-max N            longest line in bytes (default 4096)\n"
        "  --lines-per-trace N     mean lines a request writes under one trace id (JSON, logfmt;\n"
        "                          default 4: received, steps, completed); 1 = one line each\n"
        "\n"
        "Query:\n"
        "  --queries FILE          one query per line ('#' comments); default: built-in queries\n"
        "                          over the generated workloads\n"
        "  --lang promql|logql     API to query (default promql)\n"
        "  --query-type instant|range   (default instant)\n"
        "  --range D               range queries: end - start (default 1h)\n"
        "  --step D                range queries: step (default 15s)\n"
        "  --limit N               LogQL: max lines (default 100)\n"
        "\n"
        "Output:\n"
        "  --json FILE             also write the report as JSON (- for stdout)\n"
        "  --quiet                 no progress line (shown once a second when stderr is a tty)\n"
        "  --dump FILE             do not connect: write the HTTP requests that would be sent\n"
        "                          (use with --requests and --start for reproducible bytes)\n"
        "\n"
        "Sink:\n"
        "  --listen ADDR:PORT      (default 127.0.0.1:9999)\n"
        "  --status N              answer status (default 204)\n"
        "  --fail-every N          answer every Nth request 503 (with Retry-After: 0)\n"
        "  --close-every N         close a connection silently after N answers (as an idle\n"
        "                          timeout would; clients must resend on a new connection)\n"
        "\n"
        "  --help                  this text\n"
        "\n"
        "Durations: 500ms, 15s, 5m, 24h, 1h30m. Exit status: 0 done, 1 could not run,\n"
        "2 bad options, 3 no request got a 2xx answer.\n",
        out);
}

static int errf(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return ERR_INVALID;
}

int ld_parse_rate(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s)
        return ERR_INVALID;
    if (*end == 'k' || *end == 'K')
        v *= 1e3, end++;
    else if (*end == 'M')
        v *= 1e6, end++;
    if (*end || !(v >= 0) || v > 1e12)
        return ERR_INVALID;
    *out = v;
    return 0;
}

int ld_parse_time(const char *s, int64_t *ns)
{
    char *end;
    size_t n = strlen(s);
    if (n == 0)
        return ERR_INVALID;
    size_t digits = strspn(s, "0123456789");
    if (digits == n && n >= 18 && n <= 19) {
        *ns = strtoll(s, NULL, 10);
        return 0;
    }
    if (digits == n && n >= 13 && n <= 16) {
        *ns = strtoll(s, NULL, 10) * 1000000;
        return 0;
    }
    if (digits > 0 && digits <= 11 && (s[digits] == 0 || s[digits] == '.')) {
        int64_t sec = strtoll(s, NULL, 10), frac = 0;
        size_t k = 0;
        if (s[digits] == '.') { /* seconds with up to 9 decimals, exactly */
            for (end = (char *)s + digits + 1; *end >= '0' && *end <= '9'; end++, k++)
                if (k < 9)
                    frac = frac * 10 + (*end - '0');
            if (*end || k == 0)
                return ERR_INVALID;
        }
        for (; k < 9; k++)
            frac *= 10;
        *ns = sec * 1000000000 + frac;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        return ERR_INVALID;
    int64_t frac = 0;
    if (*end == '.') {
        int k = 0;
        for (end++; *end >= '0' && *end <= '9'; end++, k++)
            if (k < 9)
                frac = frac * 10 + (*end - '0');
        for (; k < 9; k++)
            frac *= 10;
    }
    if (strcmp(end, "Z") != 0)
        return ERR_INVALID;
    *ns = (int64_t)timegm(&tm) * 1000000000 + frac;
    return 0;
}

static int u32_arg(const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (*v == 0 || *end || *v == '-' || x < lo || x > hi)
        return ERR_INVALID;
    *out = (uint32_t)x;
    return 0;
}

static int dur_arg(const char *v, int64_t *out)
{
    return config_parse_duration(v, out);
}

static void defaults(struct ld_opts *o)
{
    memset(o, 0, sizeof *o);
    o->target = "http://127.0.0.1:9090";
    o->connections = 4;
    o->query_connections = 2;
    o->threads = 1;
    o->rate[0] = o->rate[1] = o->rate[2] = -1;
    o->duration_ns = -1;
    o->timeout_ns = 10000000000LL;
    o->retry_max = 10;
    o->seed = 1;
    o->burst = 10;
    o->catchup = 2;
    o->protocol = LD_RW1;
    o->targets = 10;
    o->series_per_target = 500;
    o->interval_ns = 15000000000LL;
    o->samples_per_series = 1;
    o->encoding = LD_LOKI_PROTOBUF;
    o->services = 10;
    o->pods = 3;
    o->log_format = LD_LOG_MIXED;
    o->line_max = 4096;
    o->lines_per_trace = LD_LINES_PER_TRACE_DEFAULT;
    o->lang = LD_PROMQL;
    o->range_ns = 3600000000000LL;
    o->step_ns = 15000000000LL;
    o->limit = 100;
    o->listen = "127.0.0.1:9999";
    o->sink_status = 204;
}

static int parse_mode(struct ld_opts *o, const char *m)
{
    static const char *const names[] = {"metrics", "logs", "query", "mixed", "sink"};
    for (int i = 0; i < 5; i++) {
        if (strcmp(m, names[i]) == 0) {
            o->mode = (enum ld_mode)i;
            o->mode_name = names[i];
            return 0;
        }
    }
    return ERR_INVALID;
}

static int choice(const char *v, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0)
            return i;
    return -1;
}

static int rate_opt(struct ld_opts *o, int kind, const char *v)
{
    return ld_parse_rate(v, &o->rate[kind]);
}

/* Each group returns 0 when it took the option, 1 when the option is not its, or ERR_INVALID. */
static int opt_common(struct ld_opts *o, int id, const char *v)
{
    switch (id) {
    case OPT_TARGET: o->target = v; return 0;
    case OPT_LOGS_TARGET: o->logs_target = v; return 0;
    case OPT_PATH: o->path = v; return v[0] == '/' ? 0 : ERR_INVALID;
    case OPT_HEADER:
        if (o->n_headers == LD_HEADERS_MAX || !strchr(v, ':') || v[0] == ':' || strpbrk(v, "\r\n"))
            return ERR_INVALID;
        o->headers[o->n_headers++] = v;
        return 0;
    case OPT_CONNS: return u32_arg(v, 1, 65536, &o->connections);
    case OPT_QCONNS: return u32_arg(v, 1, 65536, &o->query_connections);
    case OPT_THREADS: return u32_arg(v, 1, 1024, &o->threads);
    case OPT_BATCH: return u32_arg(v, 1, 10000000, &o->batch);
    case OPT_DURATION: return dur_arg(v, &o->duration_ns);
    case OPT_REQUESTS: return (o->requests = strtoull(v, NULL, 10)) > 0 ? 0 : ERR_INVALID;
    case OPT_TIMEOUT: return dur_arg(v, &o->timeout_ns) || o->timeout_ns <= 0 ? ERR_INVALID : 0;
    case OPT_RETRY: o->retry = true; return 0;
    case OPT_RETRY_MAX: return u32_arg(v, 0, 1000000, &o->retry_max);
    case OPT_SEED: o->seed = strtoull(v, NULL, 0); return 0;
    case OPT_START: return ld_parse_time(v, &o->start_ns);
    case OPT_JSON: o->json_path = v; return 0;
    case OPT_QUIET: o->quiet = true; return 0;
    case OPT_BURST: return u32_arg(v, 1, 1000000, &o->burst);
    case OPT_CATCHUP: o->catchup = strtod(v, NULL); return o->catchup >= 1 ? 0 : ERR_INVALID;
    case OPT_DUMP: o->dump_path = v; return 0;
    case OPT_LISTEN: o->listen = v; return 0;
    case OPT_FAIL_EVERY: return u32_arg(v, 1, UINT32_MAX, &o->sink_fail_every);
    case OPT_CLOSE_EVERY: return u32_arg(v, 1, UINT32_MAX, &o->sink_close_every);
    case OPT_STATUS: {
        uint32_t s = 0;
        int rc = u32_arg(v, 200, 599, &s);
        o->sink_status = rc ? o->sink_status : (int)s;
        return rc;
    }
    default: return 1;
    }
}

static int opt_workload(struct ld_opts *o, int id, const char *v)
{
    static const char *const protos[] = {"rw1", "rw2"}, *const encs[] = {"protobuf", "json"},
                             *const fmts[] = {"json", "logfmt", "nginx", "mixed"},
                             *const langs[] = {"promql", "logql"},
                             *const qtypes[] = {"instant", "range"};
    int c;
    switch (id) {
    case OPT_PROTOCOL:
        return (c = choice(v, protos, 2)) < 0 ? ERR_INVALID : (o->protocol = c + 1, 0);
    case OPT_TARGETS: return u32_arg(v, 1, 10000000, &o->targets);
    case OPT_SPT: return u32_arg(v, 1, 1000000, &o->series_per_target);
    case OPT_INTERVAL:
        return dur_arg(v, &o->interval_ns) || o->interval_ns < 1000000 ? ERR_INVALID : 0;
    case OPT_CHURN:
        o->churn = strtod(v, NULL);
        return o->churn >= 0 && o->churn <= 1 ? 0 : ERR_INVALID;
    case OPT_BACKFILL: return dur_arg(v, &o->backfill_ns);
    case OPT_SPS: return u32_arg(v, 1, LD_M_TS_MAX, &o->samples_per_series);
    case OPT_ENCODING: return (c = choice(v, encs, 2)) < 0 ? ERR_INVALID : (o->encoding = c, 0);
    case OPT_SERVICES: return u32_arg(v, 1, 100000, &o->services);
    case OPT_PODS: return u32_arg(v, 1, 10000, &o->pods);
    case OPT_AGENTS: return u32_arg(v, 1, 1000000, &o->agents);
    case OPT_LOGFMT: return (c = choice(v, fmts, 4)) < 0 ? ERR_INVALID : (o->log_format = c, 0);
    case OPT_METADATA: o->metadata = true; return 0;
    case OPT_LINE_MAX: return u32_arg(v, LD_LOG_LINE_MIN, 1 << 20, &o->line_max);
    case OPT_LPT: return u32_arg(v, 1, LD_LINES_PER_TRACE_MAX, &o->lines_per_trace);
    case OPT_QUERIES: o->query_file = v; return 0;
    case OPT_LANG: return (c = choice(v, langs, 2)) < 0 ? ERR_INVALID : (o->lang = c, 0);
    case OPT_QTYPE: return (c = choice(v, qtypes, 2)) < 0 ? ERR_INVALID : (o->range = c == 1, 0);
    case OPT_RANGE: return dur_arg(v, &o->range_ns) || o->range_ns <= 0 ? ERR_INVALID : 0;
    case OPT_STEP: return dur_arg(v, &o->step_ns) || o->step_ns < 1000000 ? ERR_INVALID : 0;
    case OPT_LIMIT: return u32_arg(v, 0, 100000000, &o->limit);
    default: return 1;
    }
}

static int opt_rate(struct ld_opts *o, int id, const char *v)
{
    switch (id) {
    case OPT_MRATE: return rate_opt(o, 0, v);
    case OPT_LRATE: return rate_opt(o, 1, v);
    case OPT_QRATE: return rate_opt(o, 2, v);
    case OPT_RATE: {
        if (o->mode == LD_MODE_MIXED || o->mode == LD_MODE_SINK)
            return ERR_INVALID; /* ambiguous: use the per-kind flags */
        return rate_opt(o, o->mode == LD_MODE_METRICS ? 0 : o->mode == LD_MODE_LOGS ? 1 : 2, v);
    }
    default: return 1;
    }
}

static int check(struct ld_opts *o, char *err, size_t n)
{
    if (o->duration_ns < 0)
        o->duration_ns = o->backfill_ns > 0 ? 0 : 10000000000LL;
    if (o->backfill_ns > 0 && o->mode != LD_MODE_METRICS && o->mode != LD_MODE_LOGS)
        return errf(err, n, "--backfill works in metrics and logs mode");
    if (o->duration_ns == 0 && o->backfill_ns == 0 && o->requests == 0 && o->dump_path)
        return errf(err, n, "--dump needs --requests N or --duration D");
    if (o->samples_per_series > 1 && o->backfill_ns == 0 && !o->dump_path)
        return errf(err, n, "--samples-per-series > 1 needs --backfill (samples are historical)");
    if (o->path && o->mode == LD_MODE_MIXED)
        return errf(err, n, "--path is for single-kind modes");
    if (o->backfill_ns > 0 && o->start_ns == 0)
        o->start_ns = -o->backfill_ns; /* resolved against now at start */
    return 0;
}

static const char *name_of(int id)
{
    for (const struct option *p = long_opts; p->name; p++)
        if (p->val == id)
            return p->name;
    return "?";
}

int ld_opts_parse(struct ld_opts *o, int argc, char **argv, FILE *out, char *err, size_t err_size)
{
    defaults(o);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        ld_opts_usage(out);
        return 1;
    }
    if (argc < 2 || parse_mode(o, argv[1]))
        return errf(err, err_size,
                    "first argument must be a mode: metrics, logs, query, mixed "
                    "or sink (see --help)");
    optind = 2;
    opterr = 0;
    int id;
    while ((id = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        if (id == OPT_HELP || id == 'h') {
            ld_opts_usage(out);
            return 1;
        }
        if (id == '?' || id == ':')
            return errf(err, err_size, "unknown option or missing value: %s", argv[optind - 1]);
        int rc = opt_common(o, id, optarg);
        if (rc == 1)
            rc = opt_workload(o, id, optarg);
        if (rc == 1)
            rc = opt_rate(o, id, optarg);
        if (rc)
            return errf(err, err_size, "bad value for --%s: '%s'", name_of(id),
                        optarg ? optarg : "");
    }
    if (optind < argc)
        return errf(err, err_size, "unexpected argument '%s'", argv[optind]);
    return check(o, err, err_size);
}
