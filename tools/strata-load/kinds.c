/* Workload kinds of a run: set-up from the options (workload, target address, request prefix,
 * schedule) and request building (see run.h). */
#include <math.h>
#include <netdb.h>
#include <snappy-c.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "tools/strata-load/run.h"

#define LOGS_DEFAULT_RATE  10000.0
#define QUERY_DEFAULT_RATE 10.0
#define METRICS_BATCH      2000
#define LOGS_BATCH         1000
#define MIN_SKEW_NS        (300 * 1000000000LL)

static const char *const default_promql[] = {
    "sum(rate(node_cpu_seconds_total{mode!=\"idle\"}[5m])) by (instance)",
    "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
    "histogram_quantile(0.99, sum by (le, handler) "
    "(rate(http_request_duration_seconds_bucket[5m])))",
    "topk(5, rate(node_network_receive_bytes_total[5m]))",
    "count({__name__=~\".+\"})",
};
static const char *const default_logql[] = {
    "sum by (level) (count_over_time({namespace=\"prod\"}[5m]))",
    "{service_name=\"checkout\"} |= \"error\"",
    "sum(rate({namespace=\"prod\", level=\"error\"}[1m]))",
    "{service_name=\"cart\"} | logfmt | duration > 100ms",
};

void ld_scratch_init(struct ld_scratch *s)
{
    ld_mbatch_init(&s->mb);
    ld_lbatch_init(&s->lb);
    buf_init(&s->raw);
    buf_init(&s->target);
}

void ld_scratch_deinit(struct ld_scratch *s)
{
    ld_mbatch_deinit(&s->mb);
    ld_lbatch_deinit(&s->lb);
    buf_deinit(&s->raw);
    buf_deinit(&s->target);
}

static int resolve(struct ld_kind *k, const char *url, char *err, size_t n)
{
    int rc = ld_url_parse(url, &k->url);
    if (rc) {
        snprintf(err, n, "bad target '%s'%s", url,
                 rc == ERR_UNSUPPORTED ? ": https is not supported" : " (want http://host:port)");
        return ERR_INVALID;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int g = getaddrinfo(k->url.host, k->url.port, &hints, &ai);
    if (g) {
        snprintf(err, n, "cannot resolve %s: %s", k->url.host, gai_strerror(g));
        return ERR_INVALID;
    }
    memcpy(&k->addr, ai->ai_addr, ai->ai_addrlen);
    k->addr_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

/* "POST <base><path> HTTP/1.1" + Host, User-Agent, the kind's content headers, user headers. */
static int post_prefix(struct ld_kind *k, const struct ld_opts *o, const char *path,
                       const char *const *type_hdrs, size_t n_type)
{
    struct buf target = BUF_INIT;
    int rc = buf_printf(&target, "%s%s", k->url.path, o->path ? o->path : path);
    if (!rc)
        rc = ld_http_head(&k->prefix, "POST", (const char *)target.data, target.len, &k->url,
                          type_hdrs, n_type);
    for (size_t i = 0; !rc && i < o->n_headers; i++)
        rc = buf_printf(&k->prefix, "%s\r\n", o->headers[i]);
    buf_deinit(&target);
    return rc;
}

static int metrics_init(struct ld_kind *k, const struct ld_opts *o, int64_t unix0, char *err,
                        size_t n)
{
    uint64_t series = (uint64_t)o->targets * o->series_per_target;
    uint64_t batch = o->batch ? o->batch : METRICS_BATCH;
    if (series / batch < o->connections) /* keep every connection busy */
        batch = (series + o->connections - 1) / o->connections;
    struct ld_metrics_cfg mc = {
        o->seed,  o->targets,     o->series_per_target, (uint32_t)batch, o->interval_ns / 1000000,
        o->churn, unix0 / 1000000};
    if (ld_metrics_init(&k->m, &mc))
        return snprintf(err, n, "cannot build the metrics workload"), ERR_INVALID;
    double natural = (double)series * 1e9 / (double)o->interval_ns;
    k->batch = (uint32_t)batch;
    k->nominal_rate = o->rate[0] > 0 && o->backfill_ns == 0 ? o->rate[0] : natural;
    k->plan.n_groups = k->m.n_groups;
    k->plan.period_ns = (int64_t)llround((double)series * 1e9 / k->nominal_rate);
    k->plan.ticks = o->samples_per_series;
    if (k->plan.period_ns < 1000000)
        return snprintf(err, n,
                        "--rate %.0f would send each of the %llu series more than 1000 "
                        "samples/s; add --targets or lower --rate",
                        k->nominal_rate, (unsigned long long)series),
               ERR_INVALID;
    k->proto = o->protocol;
    snprintf(k->detail, sizeof k->detail, "%s, %llu series, batch %u",
             o->protocol == LD_RW2 ? "rw2" : "rw1", (unsigned long long)series, k->batch);
    static const char *const
        v1[] = {"Content-Type: application/x-protobuf", "Content-Encoding: snappy",
                "X-Prometheus-Remote-Write-Version: 0.1.0"},
        *const v2[] = {"Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request",
                       "Content-Encoding: snappy", "X-Prometheus-Remote-Write-Version: 2.0.0"};
    return post_prefix(k, o, "/api/v1/write", o->protocol == LD_RW2 ? v2 : v1, 3);
}

static int logs_init(struct ld_kind *k, const struct ld_opts *o, char *err, size_t n)
{
    uint32_t pods = o->services * o->pods;
    uint32_t agents = o->agents ? o->agents : o->connections;
    if (agents > pods)
        agents = pods;
    struct ld_logs_cfg lc = {o->seed,       o->services, o->pods,     agents,
                             o->log_format, o->metadata, o->line_max, o->lines_per_trace};
    if (ld_logs_init(&k->l, &lc))
        return snprintf(err, n, "cannot build the logs workload"), ERR_INVALID;
    k->batch = o->batch ? o->batch : LOGS_BATCH;
    k->nominal_rate = o->rate[1] > 0 ? o->rate[1] : LOGS_DEFAULT_RATE;
    k->plan.n_groups = agents;
    k->plan.period_ns = (int64_t)llround((double)agents * k->batch * 1e9 / k->nominal_rate);
    k->plan.ticks = 1;
    if (k->plan.period_ns < (int64_t)k->batch * 1000)
        return snprintf(err, n, "--rate too high: lines of one agent would be less than 1us apart"),
               ERR_INVALID;
    k->enc = o->encoding;
    snprintf(k->detail, sizeof k->detail, "%s, %u streams, batch %u",
             o->encoding == LD_LOKI_JSON ? "json" : "protobuf", k->l.n_streams, k->batch);
    static const char *const pb[] = {"Content-Type: application/x-protobuf"},
                             *const js[] = {"Content-Type: application/json"};
    return post_prefix(k, o, "/loki/api/v1/push", o->encoding == LD_LOKI_JSON ? js : pb, 1);
}

static int query_init(struct ld_kind *k, const struct ld_opts *o, char *err, size_t n)
{
    int rc;
    if (o->query_file) {
        rc = ld_queries_load(&k->q, o->query_file);
        if (rc)
            return snprintf(err, n, "cannot read queries from %s: %s", o->query_file,
                            rc == ERR_INVALID ? "no query in the file" : err_str(rc)),
                   ERR_INVALID;
    } else {
        const char *const *d = o->lang == LD_LOGQL ? default_logql : default_promql;
        size_t nd = o->lang == LD_LOGQL ? sizeof default_logql / sizeof default_logql[0]
                                        : sizeof default_promql / sizeof default_promql[0];
        struct buf all = BUF_INIT;
        for (size_t i = 0; i < nd; i++)
            buf_printf(&all, "%s\n", d[i]);
        rc = ld_queries_parse(&k->q, (const char *)all.data, all.len);
        buf_deinit(&all);
        if (rc)
            return ERR_NOMEM;
    }
    k->q.lang = o->lang;
    k->q.range = o->range;
    k->q.range_ns = o->range_ns;
    k->q.step_ns = o->step_ns;
    k->q.limit = o->lang == LD_LOGQL ? o->limit : 0;
    k->path = o->path;
    k->hdrs = o->headers;
    k->n_hdrs = o->n_headers;
    k->batch = 1;
    k->nominal_rate = o->rate[2] > 0 ? o->rate[2] : QUERY_DEFAULT_RATE;
    uint32_t conns = k->n_conns;
    k->plan.n_groups = k->q.n * ((conns + k->q.n - 1) / k->q.n);
    k->plan.period_ns = (int64_t)llround(k->plan.n_groups * 1e9 / k->nominal_rate);
    k->plan.ticks = 1;
    snprintf(k->detail, sizeof k->detail, "%s %s, %u queries",
             o->lang == LD_LOGQL ? "logql" : "promql", o->range ? "range" : "instant", k->q.n);
    return 0;
}

static bool kind_used(enum ld_mode m, int id)
{
    return m == LD_MODE_MIXED || (int)m == id;
}

int ld_kinds_init(struct ld_kind kinds[LD_K_COUNT], const struct ld_opts *o, int64_t unix0_ns,
                  char *err, size_t err_size)
{
    memset(kinds, 0, sizeof(struct ld_kind) * LD_K_COUNT);
    int rc = 0;
    for (int i = 0; i < LD_K_COUNT && !rc; i++) {
        struct ld_kind *k = &kinds[i];
        k->id = (enum ld_kind_id)i;
        if (!kind_used(o->mode, i))
            continue;
        k->enabled = true;
        buf_init(&k->prefix);
        k->n_conns =
            i == LD_K_QUERY && o->mode == LD_MODE_MIXED ? o->query_connections : o->connections;
        const char *url = i == LD_K_LOGS && o->logs_target ? o->logs_target : o->target;
        rc = resolve(k, url, err, err_size);
        if (!rc)
            rc = i == LD_K_METRICS ? metrics_init(k, o, unix0_ns, err, err_size)
                 : i == LD_K_LOGS  ? logs_init(k, o, err, err_size)
                                   : query_init(k, o, err, err_size);
        if (rc)
            break;
        k->rate = o->rate[i] < 0 ? k->nominal_rate : o->rate[i];
        k->clock = o->backfill_ns > 0 ? LD_BACKFILL : k->rate > 0 ? LD_OPEN : LD_CLOSED;
        k->plan.n_conns = k->n_conns;
        k->skew_ns = 4 * k->plan.period_ns * k->plan.ticks;
        if (k->skew_ns < MIN_SKEW_NS)
            k->skew_ns = MIN_SKEW_NS;
        k->end_ns = unix0_ns + o->backfill_ns;
        k->quota = o->requests;
        k->timeout_ms = (uint32_t)(o->timeout_ns / 1000000);
    }
    if (rc)
        ld_kinds_deinit(kinds);
    return rc;
}

void ld_kinds_deinit(struct ld_kind kinds[LD_K_COUNT])
{
    for (int i = 0; i < LD_K_COUNT; i++) {
        struct ld_kind *k = &kinds[i];
        if (!k->enabled)
            continue;
        buf_deinit(&k->prefix);
        if (i == LD_K_METRICS)
            ld_metrics_deinit(&k->m);
        else if (i == LD_K_LOGS)
            ld_logs_deinit(&k->l);
        else
            ld_queries_free(&k->q);
        k->enabled = false;
    }
}

/* prefix + Content-Length + body (snappy-compressed when asked). */
static int post(const struct ld_kind *k, const struct buf *body, bool snappy, struct buf *out)
{
    size_t max = snappy ? snappy_max_compressed_length(body->len) : body->len;
    if (buf_append(out, k->prefix.data, k->prefix.len) || buf_reserve(out, max + 64))
        return ERR_NOMEM;
    size_t at = out->len + 40; /* room for the Content-Length line, moved down below */
    size_t n = max;
    if (snappy) {
        if (snappy_compress((const char *)body->data, body->len, (char *)out->data + at, &n) !=
            SNAPPY_OK)
            return ERR_NOMEM;
    } else {
        memcpy(out->data + at, body->data, n);
    }
    char cl[40];
    int hl = snprintf(cl, sizeof cl, "Content-Length: %zu\r\n\r\n", n);
    memcpy(out->data + out->len, cl, (size_t)hl);
    memmove(out->data + out->len + hl, out->data + at, n);
    out->len += (size_t)hl + n;
    return 0;
}

static int query_request(const struct ld_kind *k, struct ld_scratch *s, uint32_t g, int64_t t,
                         struct buf *out)
{
    buf_reset(&s->target);
    int rc = ld_query_target(&k->q, &k->url, k->path, g % k->q.n, t, &s->target);
    if (!rc)
        rc = ld_http_head(out, "GET", (const char *)s->target.data, s->target.len, &k->url, k->hdrs,
                          k->n_hdrs);
    return rc ? rc : buf_append(out, "\r\n", 2);
}

int ld_kind_build(const struct ld_kind *k, struct ld_scratch *s, uint32_t g, uint64_t seq,
                  const int64_t *t_ns, uint32_t n_t, int64_t lo_ns, struct buf *out,
                  uint32_t *units, uint64_t *raw_bytes)
{
    buf_reset(out);
    buf_reset(&s->raw);
    int rc;
    if (k->id == LD_K_QUERY) {
        *units = 1;
        *raw_bytes = 0;
        return query_request(k, s, g, t_ns[0], out);
    }
    if (k->id == LD_K_METRICS) {
        int64_t ms[LD_M_TS_MAX];
        for (uint32_t i = 0; i < n_t; i++)
            ms[i] = t_ns[i] / 1000000;
        rc = ld_metrics_build(&k->m, g, ms, n_t, &s->mb);
        if (!rc)
            rc = ld_metrics_encode(&s->mb, k->proto, &s->raw);
        *units = (uint32_t)s->mb.n_samples;
    } else {
        rc = ld_logs_build(&k->l, g, seq, lo_ns, t_ns[0], k->batch, &s->lb);
        if (!rc)
            rc = ld_logs_encode(&k->l, &s->lb, k->enc, &s->raw);
        *units = k->batch;
    }
    *raw_bytes = s->raw.len;
    if (!rc)
        rc = post(k, &s->raw, k->id == LD_K_METRICS || k->enc == LD_LOKI_PROTOBUF, out);
    return rc;
}
