/* Configuration: one settings table shared by flags and YAML keys, value parsers, the libyaml
 * event walker and the --help text. */
#include "server/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/error.h"
#include "engine/logql/parse.h"
#include "server/api_loki.h"

static int errf(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return ERR_INVALID;
}

int config_parse_duration(const char *s, int64_t *ns)
{
    char *end;
    if (*s == 0)
        return ERR_INVALID;
    double plain = strtod(s, &end);
    if (*end == 0 && isdigit((unsigned char)s[0])) {
        if (!(plain >= 0 && plain < 9e9))
            return ERR_INVALID;
        *ns = (int64_t)llround(plain * 1e9);
        return 0;
    }
    static const struct {
        const char *unit;
        int64_t ns;
    } units[] = {{"ms", 1000000},         {"s", 1000000000},     {"m", 60000000000},
                 {"h", 3600000000000},    {"d", 86400000000000}, {"w", 604800000000000},
                 {"y", 31536000000000000}};
    int64_t total = 0;
    while (*s) {
        if (!isdigit((unsigned char)*s))
            return ERR_INVALID;
        unsigned long long v = strtoull(s, &end, 10);
        size_t k;
        for (k = 0; k < sizeof units / sizeof units[0]; k++) {
            size_t ul = strlen(units[k].unit);
            if (strncmp(end, units[k].unit, ul) == 0 &&
                !(ul == 1 && end[0] == 'm' && end[1] == 's'))
                break;
        }
        if (k == sizeof units / sizeof units[0] ||
            v > (unsigned long long)(INT64_MAX / units[k].ns))
            return ERR_INVALID;
        total += (int64_t)v * units[k].ns;
        s = end + strlen(units[k].unit);
    }
    *ns = total;
    return 0;
}

int config_parse_bytes(const char *s, uint64_t *bytes)
{
    static const struct {
        const char *suffix;
        uint64_t mult;
    } sfx[] = {{"", 1},
               {"B", 1},
               {"KiB", 1ull << 10},
               {"MiB", 1ull << 20},
               {"GiB", 1ull << 30},
               {"KB", 1000},
               {"MB", 1000000},
               {"GB", 1000000000}};
    char *end;
    if (!isdigit((unsigned char)*s))
        return ERR_INVALID;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return ERR_INVALID;
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        if (strcmp(end, sfx[i].suffix) == 0) {
            if (v > UINT64_MAX / sfx[i].mult)
                return ERR_INVALID;
            *bytes = v * sfx[i].mult;
            return 0;
        }
    }
    return ERR_INVALID;
}

/* ---- settings ---------------------------------------------------------------------------- */

typedef int (*setter)(struct server_config *c, const char *v, char *err, size_t n);

static int set_listen(struct server_config *c, const char *v, char *err, size_t n)
{
    if (!*v)
        return errf(err, n, "empty listen address");
    if (c->listen_replace) {
        for (uint32_t i = 0; i < c->nlisten; i++)
            free(c->listen[i]);
        c->nlisten = 0;
        c->listen_replace = false;
    }
    while (*v) {
        const char *comma = strchr(v, ',');
        size_t len = comma ? (size_t)(comma - v) : strlen(v);
        if (len == 0)
            return errf(err, n, "empty listen address");
        if (c->nlisten >= CONFIG_LISTEN_MAX)
            return errf(err, n, "at most %d listen addresses", CONFIG_LISTEN_MAX);
        c->listen[c->nlisten++] = strndup(v, len);
        v += comma ? len + 1 : len;
    }
    return 0;
}

static int set_data_dir(struct server_config *c, const char *v, char *err, size_t n)
{
    if (!*v)
        return errf(err, n, "empty data directory");
    free(c->data_dir);
    c->data_dir = strdup(v);
    return 0;
}

static int set_shards(struct server_config *c, const char *v, char *err, size_t n)
{
    char *end;
    unsigned long s = strtoul(v, &end, 10);
    if (*end || !isdigit((unsigned char)*v) || s > 256)
        return errf(err, n, "shards must be 0 (one per CPU) to 256, got '%s'", v);
    c->shards = (uint32_t)s;
    return 0;
}

static int set_log_level(struct server_config *c, const char *v, char *err, size_t n)
{
    if (log_level_parse(v, &c->log_level))
        return errf(err, n, "log level must be debug, info, warn or error, got '%s'", v);
    return 0;
}

static int set_body(struct server_config *c, const char *v, char *err, size_t n)
{
    if (config_parse_bytes(v, &c->max_body_bytes) || c->max_body_bytes == 0)
        return errf(err, n, "bad size '%s' (bytes, or with KiB/MiB/GiB)", v);
    c->ingest.body_bytes_max = c->max_body_bytes;
    c->logingest.body_bytes_max = c->max_body_bytes;
    return 0;
}

static int set_header_bytes(struct server_config *c, const char *v, char *err, size_t n)
{
    uint64_t b;
    if (config_parse_bytes(v, &b) || b < 256 || b > (64u << 20))
        return errf(err, n, "bad header size '%s' (256 B to 64 MiB)", v);
    c->max_header_bytes = (uint32_t)b;
    return 0;
}

static int set_max_conns(struct server_config *c, const char *v, char *err, size_t n)
{
    char *end;
    unsigned long m = strtoul(v, &end, 10);
    if (*end || !isdigit((unsigned char)*v) || m == 0 || m > 10000000)
        return errf(err, n, "max connections must be 1 to 10000000, got '%s'", v);
    c->max_connections = (uint32_t)m;
    return 0;
}

static int set_dur(int64_t *dst, const char *v, char *err, size_t n)
{
    if (config_parse_duration(v, dst) || *dst <= 0)
        return errf(err, n, "bad duration '%s' (e.g. 500ms, 10s, 2m)", v);
    return 0;
}

static int set_header_timeout(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_dur(&c->header_timeout_ns, v, err, n);
}

static int set_idle_timeout(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_dur(&c->idle_timeout_ns, v, err, n);
}

static int set_grace(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_dur(&c->shutdown_grace_ns, v, err, n);
}

static int set_tenant(struct server_config *c, const char *v, char *err, size_t n)
{
    const char *why = validate_tenant(str_from_cstr(v));
    if (why)
        return errf(err, n, "%s", why);
    free(c->default_tenant);
    c->default_tenant = strdup(v);
    return 0;
}

static int set_fsync(struct server_config *c, const char *v, char *err, size_t n)
{
    if (wal_fsync_parse(v, &c->tsdb.wal.fsync))
        return errf(err, n, "must be batch or always, got '%s'", v);
    return 0;
}

static int set_segment(struct server_config *c, const char *v, char *err, size_t n)
{
    uint64_t b;
    if (config_parse_bytes(v, &b) || b < (64u << 10) || b > (1ull << 32))
        return errf(err, n, "bad segment size '%s' (64KiB to 4GiB)", v);
    c->tsdb.wal.segment_size_bytes = b;
    return 0;
}

/* A duration in ms; "0" allowed when zero_ok. */
static int set_ms(int64_t *dst, const char *v, bool zero_ok, char *err, size_t n)
{
    int64_t ns;
    if (config_parse_duration(v, &ns) || (ns == 0 && !zero_ok) || ns % 1000000)
        return errf(err, n, "bad duration '%s' (e.g. 10m, 2h, 15d; whole milliseconds)", v);
    *dst = ns / 1000000;
    return 0;
}

static int set_ooo(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_ms(&c->tsdb.ooo_window_ms, v, true, err, n);
}

/* A retention by age: 0 in the setting means no age limit, which the stores spell -1. */
static int set_age_limit(int64_t *ms, const char *v, char *err, size_t n)
{
    int rc = set_ms(ms, v, true, err, n);
    if (!rc && *ms == 0)
        *ms = -1;
    return rc;
}

static int set_retention(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_age_limit(&c->tsdb.retention_ms, v, err, n);
}

static int set_retention_size(struct server_config *c, const char *v, char *err, size_t n)
{
    if (config_parse_bytes(v, &c->tsdb.retention_bytes))
        return errf(err, n, "bad size '%s' (bytes, or with KiB/MiB/GiB; 0: no limit)", v);
    return 0;
}

static int set_block_range(struct server_config *c, const char *v, char *err, size_t n)
{
    int rc = set_ms(&c->tsdb.chunk_range_ms, v, false, err, n);
    if (!rc && c->tsdb.chunk_range_ms < 60000)
        return errf(err, n, "block range must be at least 1m, got '%s'", v);
    return rc;
}

/* An unsigned count in [lo, hi]. */
static int set_count(uint64_t *dst, const char *v, uint64_t lo, uint64_t hi, char *err, size_t n)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || !isdigit((unsigned char)*v) || errno || x < lo || x > hi)
        return errf(err, n, "must be a whole number from %llu to %llu, got '%s'",
                    (unsigned long long)lo, (unsigned long long)hi, v);
    *dst = x;
    return 0;
}

static int set_u32(uint32_t *dst, const char *v, uint64_t lo, uint64_t hi, char *err, size_t n)
{
    uint64_t x;
    int rc = set_count(&x, v, lo, hi, err, n);
    if (!rc)
        *dst = (uint32_t)x;
    return rc;
}

static int set_max_labels(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_u32(&c->ingest.limits.labels_per_series_max, v, 0, 10000, err, n);
}

static int set_max_name(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_u32(&c->ingest.limits.label_name_bytes_max, v, 0, 1u << 20, err, n);
}

static int set_max_value(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_u32(&c->ingest.limits.label_value_bytes_max, v, 0, 1u << 20, err, n);
}

static int set_max_series(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_count(&c->ingest.series_per_tenant_max, v, 0, UINT64_MAX / 2, err, n);
}

static int set_max_metadata(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_u32(&c->ingest.metadata_max, v, 0, 100000000, err, n);
}

static int set_exemplars(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_u32(&c->tsdb.exemplars_max, v, 0, 100000000, err, n);
}

static int set_mesh_timeout(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_dur(&c->ingest.mesh_full_timeout_ns, v, err, n);
}

static int set_query_timeout(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_ms(&c->query.timeout_ms, v, false, err, n);
}

static int set_query_lookback(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_ms(&c->query.lookback_ms, v, false, err, n);
}

static int set_query_samples(struct server_config *c, const char *v, char *err, size_t n)
{
    uint64_t x;
    int rc = set_count(&x, v, 1, INT64_MAX, err, n);
    if (!rc)
        c->query.max_samples = (int64_t)x;
    return rc;
}

static int set_query_series(struct server_config *c, const char *v, char *err, size_t n)
{
    uint64_t x;
    int rc = set_count(&x, v, 1, INT64_MAX, err, n);
    if (!rc)
        c->query.max_series = (int64_t)x;
    return rc;
}

static int set_query_workers(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_u32(&c->query.workers, v, 1, 256, err, n);
}

static int set_query_queue(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_u32(&c->query.queue_max, v, 1, 1000000, err, n);
}

static int set_query_pairs(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_u32(&c->query.stats_pairs_max, v, 1, 100000000, err, n);
}

/* ---- Loki push limits ---- */

static int set_loki_line(struct server_config *c, const char *v, char *err, size_t n)
{
    if (config_parse_bytes(v, &c->logingest.line_bytes_max))
        return errf(err, n, "bad size '%s' (bytes, or with KiB/MiB; 0: no limit)", v);
    return 0;
}

static int set_loki_streams(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_count(&c->logingest.streams_per_tenant_max, v, 0, UINT32_MAX, err, n);
}

static int set_loki_rate(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_count(&c->logingest.rate_lines_per_s, v, 0, 1000000000000ull, err, n);
}

static int set_loki_burst(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_count(&c->logingest.burst_lines, v, 1, 1000000000000ull, err, n);
}

static int set_loki_old(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_ms(&c->logingest.reject_old_ms, v, true, err, n);
}

static int set_loki_grace(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_ms(&c->logingest.creation_grace_ms, v, true, err, n);
}

static int set_loki_labels(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_u32(&c->logingest.labels_per_stream_max, v, 0, 10000, err, n);
}

static int set_loki_md_entries(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_u32(&c->logingest.structured_metadata_entries_max, v, 0, 1000000, err, n);
}

static int set_loki_md_bytes(struct server_config *c, const char *v, char *err, size_t n)
{
    if (config_parse_bytes(v, &c->logingest.structured_metadata_bytes_max))
        return errf(err, n, "bad size '%s' (bytes, or with KiB/MiB; 0: no limit)", v);
    return 0;
}

static int set_loki_max_entries(struct server_config *c, const char *v, char *err, size_t n)
{
    uint64_t x;
    int rc = set_count(&x, v, 0, UINT32_MAX, err, n);
    if (!rc)
        c->loki_max_entries_limit = (int64_t)x;
    return rc;
}

static int set_loki_max_series(struct server_config *c, const char *v, char *err, size_t n)
{
    uint64_t x;
    int rc = set_count(&x, v, 0, INT64_MAX, err, n);
    if (!rc)
        c->loki_max_query_series = (int64_t)x;
    return rc;
}

/* ---- log retention and compaction ---- */

static int set_loki_retention(struct server_config *c, const char *v, char *err, size_t n)
{
    return set_age_limit(&c->loki_retention_ms, v, err, n);
}

static void free_retention_rules(struct server_config *c)
{
    for (size_t i = 0; i < c->n_loki_retention_rules; i++)
        logql_query_destroy(c->loki_retention_queries[i]);
    free(c->loki_retention_rules);
    free(c->loki_retention_queries);
    c->loki_retention_rules = NULL;
    c->loki_retention_queries = NULL;
    c->n_loki_retention_rules = 0;
}

/* Parses `sel` (length len) as a LogQL stream selector without a pipeline. */
static int parse_stream_selector(const char *sel, size_t len, struct logql_query **out, char *err,
                                 size_t n)
{
    char why[160];
    struct logql_query *q = NULL;
    int rc = logql_parse((struct str){sel, len}, &q, why, sizeof why);
    if (rc == ERR_NOMEM)
        return errf(err, n, "out of memory");
    if (rc)
        return errf(err, n, "bad selector '%.*s': %s", (int)len, sel, why);
    if (q->root->kind != LOGQL_EXPR_LOG || q->root->sel.n_stages) {
        logql_query_destroy(q);
        return errf(err, n, "'%.*s' must be a stream selector only, without a pipeline", (int)len,
                    sel);
    }
    *out = q;
    return 0;
}

/* Adds the rule {selector, period, priority} (priority NULL: 0). */
static int add_retention_rule(struct server_config *c, const char *sel, size_t sel_len,
                              const char *period, const char *priority, char *err, size_t n)
{
    int64_t ns;
    if (config_parse_duration(period, &ns) || ns <= 0 || ns % 1000000)
        return errf(err, n, "bad period '%s' (e.g. 24h, 7d; more than 0, whole milliseconds)",
                    period);
    long prio = 0;
    if (priority) {
        char *end;
        errno = 0;
        prio = strtol(priority, &end, 10);
        if (!*priority || *end || errno || prio < INT32_MIN || prio > INT32_MAX)
            return errf(err, n, "priority must be a whole number, got '%s'", priority);
    }
    struct logql_query *q = NULL;
    int rc = parse_stream_selector(sel, sel_len, &q, err, n);
    if (rc)
        return rc;
    if (c->loki_retention_replace) {
        free_retention_rules(c);
        c->loki_retention_replace = false;
    }
    size_t k = c->n_loki_retention_rules;
    struct logstore_retention_rule *r =
        realloc(c->loki_retention_rules, (k + 1) * sizeof *c->loki_retention_rules);
    if (r)
        c->loki_retention_rules = r;
    struct logql_query **qs =
        realloc(c->loki_retention_queries, (k + 1) * sizeof *c->loki_retention_queries);
    if (qs)
        c->loki_retention_queries = qs;
    if (!r || !qs) {
        logql_query_destroy(q);
        return errf(err, n, "out of memory");
    }
    qs[k] = q;
    r[k] = (struct logstore_retention_rule){.ms = q->root->sel.matchers,
                                            .n = q->root->sel.n_matchers,
                                            .priority = (int)prio,
                                            .period_ms = ns / 1000000};
    c->n_loki_retention_rules = k + 1;
    return 0;
}

/* Length of the selector at the start of v: up to its closing '}' outside quoted strings ("..."
 * with backslash escapes, `...` raw); 0 when v does not start with '{' or never closes. */
static size_t selector_len(const char *v)
{
    if (*v != '{')
        return 0;
    char quote = 0;
    for (size_t i = 1; v[i]; i++) {
        if (quote) {
            if (quote == '"' && v[i] == '\\' && v[i + 1])
                i++;
            else if (v[i] == quote)
                quote = 0;
        } else if (v[i] == '"' || v[i] == '`') {
            quote = v[i];
        } else if (v[i] == '}') {
            return i + 1;
        }
    }
    return 0;
}

/* SELECTOR:PERIOD[:PRIORITY], e.g. {service="debug"}:3d:1 */
static int set_loki_retention_stream(struct server_config *c, const char *v, char *err, size_t n)
{
    size_t sl = selector_len(v);
    if (!sl)
        return errf(err, n, "%s '%s' (SELECTOR:PERIOD[:PRIORITY], e.g. {service=\"debug\"}:3d:1)",
                    *v == '{' ? "unclosed selector in" : "expected a stream selector {...} in", v);
    if (v[sl] != ':' || !v[sl + 1])
        return errf(err, n,
                    "expected :PERIOD[:PRIORITY] right after the selector %.*s, got '%s' "
                    "(a stream selector only, no pipeline)",
                    (int)sl, v, v + sl);
    char period[64];
    const char *p = v + sl + 1;
    const char *colon = strchr(p, ':');
    size_t pl = colon ? (size_t)(colon - p) : strlen(p);
    if (pl >= sizeof period)
        return errf(err, n, "bad period '%.*s'", (int)pl, p);
    memcpy(period, p, pl);
    period[pl] = 0;
    return add_retention_rule(c, v, sl, period, colon ? colon + 1 : NULL, err, n);
}

static int set_logs_compact_level(struct server_config *c, const char *v, char *err, size_t n)
{
    uint64_t x;
    int rc = set_count(&x, v, 0, 19, err, n);
    if (!rc)
        c->logs_compact_zstd_level = (int)x;
    return rc;
}

struct setting {
    const char *key;
    setter set;
    const char *arg;
    const char *help;
};

static const struct setting settings[] = {
    {"listen", set_listen, "ADDR",
     "address to serve every API on; repeat or comma-separate for several. ':9090' is all\n"
     "        interfaces (IPv6 and IPv4), 'HOST:PORT' or '[V6]:PORT' one address.\n"
     "        (default :9090 and :3100)"},
    {"data-dir", set_data_dir, "DIR",
     "data directory, created if missing and locked against a second strata (default ./data)"},
    {"shards", set_shards, "N",
     "shard threads, each pinned to a core (default 0: one per CPU this process may use)"},
    {"log.level", set_log_level, "LEVEL", "debug, info, warn or error (default info)"},
    {"http.max-body-bytes", set_body, "SIZE",
     "largest request body, after Content-Encoding decoding; larger bodies get 413\n"
     "        (default 64MiB)"},
    {"http.max-header-bytes", set_header_bytes, "SIZE",
     "largest request line + headers; larger heads get 431 (default 64KiB)"},
    {"http.max-connections", set_max_conns, "N",
     "open connections allowed; beyond, a new connection is answered 503 and closed\n"
     "        (default 10000)"},
    {"http.header-timeout", set_header_timeout, "DURATION",
     "time allowed to send a request's headers (from its first byte, or from connect);\n"
     "        slower clients get 408 and are disconnected (default 10s)"},
    {"http.idle-timeout", set_idle_timeout, "DURATION",
     "idle keep-alive connections, and requests whose body stalls this long, are closed\n"
     "        (default 2m)"},
    {"shutdown.grace-period", set_grace, "DURATION",
     "on SIGTERM/SIGINT, how long in-flight requests may take to finish (default 10s)"},
    {"tenant.default", set_tenant, "ID",
     "tenant of requests without an X-Scope-OrgID header (default anonymous)"},
    {"wal.fsync", set_fsync, "MODE",
     "when a write is acknowledged: batch (after the WAL write reached the file; survives a\n"
     "        process crash) or always (after an fdatasync; survives power loss) (default batch)"},
    {"wal.segment-size", set_segment, "SIZE", "WAL segment file size (default 128MiB)"},
    {"tsdb.ooo-window", set_ooo, "DURATION",
     "how far behind a series' newest sample an out-of-order sample may be; 0 disables\n"
     "        out-of-order ingest (default 10m)"},
    {"tsdb.retention", set_retention, "DURATION",
     "delete data older than this; 0: keep regardless of age (default 15d)"},
    {"tsdb.retention-size", set_retention_size, "SIZE",
     "per shard, delete the oldest blocks while blocks + WAL + head files exceed this;\n"
     "        0: no size limit (default 0)"},
    {"tsdb.block-range", set_block_range, "DURATION",
     "time range of a head cut into a block (default 2h)"},
    {"storage.exemplars.exemplars-limit", set_exemplars, "N",
     "exemplars kept in memory per shard, the oldest overwritten first (default 100000;\n"
     "        0: exemplars are not stored)"},
    {"limits.max-labels-per-series", set_max_labels, "N",
     "labels a series may have, __name__ included (default 30; 0: no limit)"},
    {"limits.max-label-name-bytes", set_max_name, "N",
     "longest label name (default 1024; 0: no limit)"},
    {"limits.max-label-value-bytes", set_max_value, "N",
     "longest label value (default 2048; 0: no limit)"},
    {"limits.max-series-per-tenant", set_max_series, "N",
     "active (head) series per tenant; samples of new series beyond it are rejected (400).\n"
     "        Each shard enforces its share, N / shards (default 5000000; 0: no limit)"},
    {"limits.max-metadata-per-shard", set_max_metadata, "N",
     "metric families whose remote-write metadata a shard keeps in memory (default 10000)"},
    {"ingest.mesh-full-timeout", set_mesh_timeout, "DURATION",
     "how long a write waits for room on a full cross-shard queue before it gets 503\n"
     "        (default 1s)"},
    {"query.timeout", set_query_timeout, "DURATION",
     "longest a query may run; a request's timeout parameter can only shorten it; over it\n"
     "        the answer is 503 errorType timeout (default 2m)"},
    {"query.max-samples", set_query_samples, "N",
     "samples a query may hold in memory at once; beyond it 422 (default 50000000)"},
    {"query.max-series", set_query_series, "N",
     "series one selection (or /api/v1/series) may return; beyond it 422 (default 10000000)"},
    {"query.max-concurrency", set_query_workers, "N",
     "query threads per shard: queries evaluated at once by each shard (default 2)"},
    {"query.max-queued", set_query_queue, "N",
     "queries waiting for a query thread per shard; beyond it 503 (default 256)"},
    {"query.lookback-delta", set_query_lookback, "DURATION",
     "how far back an instant vector selector looks for a sample (default 5m)"},
    {"query.max-stats-pairs", set_query_pairs, "N",
     "label pairs one shard may report for /api/v1/status/tsdb (default 1000000)"},
    {"limits.loki.max-line-size", set_loki_line, "SIZE",
     "longest log line; longer entries are rejected with 400 \"max entry size ... exceeded\"\n"
     "        and the rest of the push is stored (default 256KiB; 0: no limit)"},
    {"limits.loki.max-streams-per-tenant", set_loki_streams, "N",
     "live log streams per tenant; entries of new streams beyond it get 429. Each shard\n"
     "        enforces its share, N / shards (default 5000; 0: no limit)"},
    {"limits.loki.ingestion-rate", set_loki_rate, "LINES",
     "log lines per second per tenant; each shard refills its own token bucket with\n"
     "        LINES / shards; a push over it gets 429 + Retry-After (default 100000; 0: no limit)"},
    {"limits.loki.ingestion-burst", set_loki_burst, "LINES",
     "token bucket size per tenant for the ingestion rate, split across shards like it\n"
     "        (default 200000)"},
    {"limits.loki.reject-old-samples-max-age", set_loki_old, "DURATION",
     "log entries older than this are rejected with 400 \"timestamp too old\"\n"
     "        (default 7d; 0: accept any age)"},
    {"limits.loki.creation-grace-period", set_loki_grace, "DURATION",
     "log entries newer than now + this are rejected with 400 \"timestamp too new\"\n"
     "        (default 10m; 0: accept any future time)"},
    {"limits.loki.max-label-names-per-stream", set_loki_labels, "N",
     "labels a log stream may have (default 15; 0: no limit)"},
    {"limits.loki.max-structured-metadata-entries", set_loki_md_entries, "N",
     "structured metadata pairs per log entry (default 128; 0: no limit)"},
    {"limits.loki.max-structured-metadata-bytes", set_loki_md_bytes, "SIZE",
     "structured metadata bytes (names + values) per log entry (default 64KiB; 0: no limit)"},
    {"limits.loki.max-entries-limit-per-query", set_loki_max_entries, "N",
     "largest limit of a Loki log query; a larger one gets 400 \"max entries limit per query\n"
     "        exceeded\" (default 5000; 0: no limit)"},
    {"limits.loki.max-query-series", set_loki_max_series, "N",
     "series a LogQL metric query may return; beyond it 400 \"maximum number of series (N)\n"
     "        reached for a single query\" (default 500; 0: no limit)"},
    {"limits.loki.retention-period", set_loki_retention, "DURATION",
     "delete log entries older than this, unless a retention-stream rule matches their\n"
     "        stream (default 30d; 0: keep regardless of age)"},
    {"limits.loki.retention-stream", set_loki_retention_stream, "SELECTOR:PERIOD[:PRIORITY]",
     "log retention of the streams a selector matches, e.g. '{service=\"debug\"}:3d:1';\n"
     "        repeat for several rules. Of the rules matching a stream the highest priority\n"
     "        wins (default 0), on a tie the shortest period. Flags replace the file's rules;\n"
     "        YAML: limits: {loki: {retention_stream: [{selector, priority, period}]}}"},
    {"logs.compaction-zstd-level", set_logs_compact_level, "N",
     "zstd level of the log chunks compaction rewrites, 1 to 19 (default 9; 0: compaction\n"
     "        keeps the chunks as the head cut wrote them)"},
};

void config_init(struct server_config *c)
{
    memset(c, 0, sizeof *c);
    c->listen[0] = strdup(":9090");
    c->listen[1] = strdup(":3100");
    c->nlisten = 2;
    c->listen_replace = true; /* defaults: the first listen setting replaces them */
    c->data_dir = strdup("./data");
    c->log_level = LOG_INFO;
    c->max_body_bytes = 64ull << 20;
    c->max_header_bytes = 64u << 10;
    c->max_connections = 10000;
    c->header_timeout_ns = 10 * 1000000000LL;
    c->idle_timeout_ns = 120 * 1000000000LL;
    c->shutdown_grace_ns = 10 * 1000000000LL;
    c->default_tenant = strdup(INGEST_DEFAULT_TENANT);
    tsdb_config_init(&c->tsdb);
    ingest_config_default(&c->ingest);
    query_config_default(&c->query);
    logingest_config_default(&c->logingest);
    c->loki_max_entries_limit = LOKI_MAX_ENTRIES_LIMIT;
    c->loki_max_query_series = LOKI_MAX_QUERY_SERIES;
    struct logstore_config lcfg;
    logstore_config_init(&lcfg);
    c->loki_retention_ms = lcfg.retention_ms;
    c->logs_compact_zstd_level = lcfg.compact_zstd_level;
    c->loki_retention_replace = true;
}

void config_deinit(struct server_config *c)
{
    for (uint32_t i = 0; i < c->nlisten; i++)
        free(c->listen[i]);
    free(c->data_dir);
    free(c->config_file);
    free(c->default_tenant);
    free_retention_rules(c);
    memset(c, 0, sizeof *c);
}

int config_set(struct server_config *c, const char *key, const char *value, char *err,
               size_t err_size)
{
    char norm[64];
    size_t i;
    for (i = 0; key[i] && i < sizeof norm - 1; i++)
        norm[i] = key[i] == '_' ? '-' : (char)tolower((unsigned char)key[i]);
    norm[i] = 0;
    for (size_t k = 0; k < sizeof settings / sizeof settings[0]; k++) {
        if (strcmp(settings[k].key, norm) == 0) {
            int rc = settings[k].set(c, value, err, err_size);
            if (rc) {
                char inner[200];
                snprintf(inner, sizeof inner, "%s", err);
                return errf(err, err_size, "%s: %s", settings[k].key, inner);
            }
            return 0;
        }
    }
    return errf(err, err_size, "%s: unknown setting", key);
}

void config_usage(FILE *out)
{
    fprintf(out, "usage: strata [flags]\n\n"
                 "strata stores Prometheus metrics and Loki logs and serves both HTTP APIs.\n\n"
                 "flags (each also --flag=value; YAML keys use the same names, e.g.\n"
                 "http: {max_body_bytes: 16MiB}):\n");
    fprintf(out, "  --config FILE\n        YAML configuration file; flags override it\n");
    for (size_t k = 0; k < sizeof settings / sizeof settings[0]; k++)
        fprintf(out, "  --%s %s\n        %s\n", settings[k].key, settings[k].arg, settings[k].help);
    fprintf(out, "  --help\n        this text\n\n"
                 "Signals: SIGTERM/SIGINT stop accepting, turn /ready to 503, let in-flight\n"
                 "requests finish within the grace period, and exit 0; a second signal exits at "
                 "once.\n");
}

/* ---- YAML ---------------------------------------------------------------------------------- */

struct yaml_ctx {
    yaml_parser_t p;
    struct server_config *c;
    char *err;
    size_t err_size;
    const char *path;
};

static int next_event(struct yaml_ctx *y, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&y->p, ev))
        return errf(y->err, y->err_size, "%s:%zu: YAML syntax error: %s", y->path,
                    y->p.problem_mark.line + 1, y->p.problem ? y->p.problem : "unknown");
    return 0;
}

static int set_scalar(struct yaml_ctx *y, const char *key, const yaml_event_t *ev)
{
    if (!*key)
        return errf(y->err, y->err_size, "%s: the top level must be a mapping", y->path);
    char inner[256];
    if (config_set(y->c, key, (const char *)ev->data.scalar.value, inner, sizeof inner))
        return errf(y->err, y->err_size, "%s:%zu: %s", y->path, ev->start_mark.line + 1, inner);
    return 0;
}

static int walk_node(struct yaml_ctx *y, const char *key, yaml_event_t *ev, int depth);

static int walk_mapping(struct yaml_ctx *y, const char *key, int depth)
{
    for (;;) {
        yaml_event_t k, v;
        if (next_event(y, &k))
            return ERR_INVALID;
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&k);
            return 0;
        }
        if (k.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&k);
            return errf(y->err, y->err_size, "%s: keys must be plain strings", y->path);
        }
        char child[128];
        snprintf(child, sizeof child, "%s%s%s", key, *key ? "." : "",
                 (const char *)k.data.scalar.value);
        yaml_event_delete(&k);
        if (next_event(y, &v))
            return ERR_INVALID;
        int rc = walk_node(y, child, &v, depth + 1);
        yaml_event_delete(&v);
        if (rc)
            return rc;
    }
}

/* True when YAML key `key` names setting `name` (dashes and underscores alike, any case). */
static bool key_is(const char *key, const char *name)
{
    for (; *key && *name; key++, name++)
        if ((*key == '_' ? '-' : tolower((unsigned char)*key)) != *name)
            return false;
    return *key == *name;
}

/* One {selector, priority, period} mapping of limits.loki.retention_stream (its start consumed). */
static int walk_retention_rule(struct yaml_ctx *y, const char *key, size_t line)
{
    char *f[3] = {NULL, NULL, NULL}; /* selector, period, priority */
    static const char *const names[3] = {"selector", "period", "priority"};
    int rc = 0;
    for (;;) {
        yaml_event_t k, v;
        if ((rc = next_event(y, &k)))
            break;
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&k);
            break;
        }
        if (k.type != YAML_SCALAR_EVENT || (rc = next_event(y, &v))) {
            if (!rc)
                rc = errf(y->err, y->err_size, "%s: keys must be plain strings", y->path);
            yaml_event_delete(&k);
            break;
        }
        size_t i = 0;
        while (i < 3 && strcmp((const char *)k.data.scalar.value, names[i]) != 0)
            i++;
        if (i == 3 || v.type != YAML_SCALAR_EVENT || f[i])
            rc = errf(y->err, y->err_size,
                      "%s:%zu: %s: each rule is a mapping of plain selector, priority and period "
                      "(once each), got '%s'",
                      y->path, k.start_mark.line + 1, key, (const char *)k.data.scalar.value);
        else
            f[i] = strdup((const char *)v.data.scalar.value);
        yaml_event_delete(&k);
        yaml_event_delete(&v);
        if (rc)
            break;
    }
    char inner[256];
    if (!rc && (!f[0] || !f[1]))
        rc = errf(y->err, y->err_size, "%s:%zu: %s: a rule needs a selector and a period", y->path,
                  line, key);
    else if (!rc && add_retention_rule(y->c, f[0], strlen(f[0]), f[1], f[2], inner, sizeof inner))
        rc = errf(y->err, y->err_size, "%s:%zu: limits.loki.retention-stream: %s", y->path, line,
                  inner);
    for (int i = 0; i < 3; i++)
        free(f[i]);
    return rc;
}

/* limits.loki.retention_stream: a list of {selector, priority, period} (Loki's shape). */
static int walk_retention_rules(struct yaml_ctx *y, const char *key)
{
    for (;;) {
        yaml_event_t v;
        if (next_event(y, &v))
            return ERR_INVALID;
        int rc = 0;
        if (v.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&v);
            return 0;
        }
        if (v.type == YAML_MAPPING_START_EVENT)
            rc = walk_retention_rule(y, key, v.start_mark.line + 1);
        else
            rc = errf(y->err, y->err_size,
                      "%s:%zu: %s: a list of mappings {selector, priority, period}", y->path,
                      v.start_mark.line + 1, key);
        yaml_event_delete(&v);
        if (rc)
            return rc;
    }
}

static int walk_sequence(struct yaml_ctx *y, const char *key)
{
    if (key_is(key, "limits.loki.retention-stream"))
        return walk_retention_rules(y, key);
    if (strcmp(key, "listen") != 0)
        return errf(y->err, y->err_size,
                    "%s: %s: a list is allowed only for listen and limits.loki.retention_stream",
                    y->path, key);
    for (;;) {
        yaml_event_t v;
        if (next_event(y, &v))
            return ERR_INVALID;
        int rc = 0;
        if (v.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&v);
            return 0;
        }
        if (v.type == YAML_SCALAR_EVENT)
            rc = set_scalar(y, key, &v);
        else
            rc =
                errf(y->err, y->err_size, "%s: %s: lists may hold only plain values", y->path, key);
        yaml_event_delete(&v);
        if (rc)
            return rc;
    }
}

static int walk_node(struct yaml_ctx *y, const char *key, yaml_event_t *ev, int depth)
{
    if (depth > 8)
        return errf(y->err, y->err_size, "%s: nesting too deep", y->path);
    switch (ev->type) {
    case YAML_MAPPING_START_EVENT: return walk_mapping(y, key, depth);
    case YAML_SEQUENCE_START_EVENT: return walk_sequence(y, key);
    case YAML_SCALAR_EVENT: return set_scalar(y, key, ev);
    default: return errf(y->err, y->err_size, "%s: unsupported YAML (anchors/aliases)", y->path);
    }
}

int config_load_yaml(struct server_config *c, const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errf(err, err_size, "cannot open config file %s: %s", path, strerror(errno));
    struct yaml_ctx y = {.c = c, .err = err, .err_size = err_size, .path = path};
    yaml_parser_initialize(&y.p);
    yaml_parser_set_input_file(&y.p, f);
    int rc = 0;
    bool done = false;
    while (!rc && !done) {
        yaml_event_t ev;
        if ((rc = next_event(&y, &ev)))
            break;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = true; break;
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
        case YAML_DOCUMENT_END_EVENT: break;
        case YAML_MAPPING_START_EVENT: rc = walk_mapping(&y, "", 0); break;
        case YAML_SCALAR_EVENT:
            /* an empty document is a null scalar: nothing to set */
            if (ev.data.scalar.length != 0)
                rc = errf(err, err_size, "%s: the top level must be a mapping", path);
            break;
        default: rc = errf(err, err_size, "%s: the top level must be a mapping", path);
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&y.p);
    fclose(f);
    return rc;
}

/* ---- command line ------------------------------------------------------------------------- */

/* Splits argv[*i] into key and value ("--k=v" or "--k v"). */
static int flag_at(int argc, char **argv, int *i, char *key, size_t ksz, const char **val,
                   char *err, size_t n)
{
    const char *a = argv[*i];
    if (strncmp(a, "--", 2) != 0 || a[2] == 0)
        return errf(err, n, "unexpected argument '%s' (flags start with --; see --help)", a);
    a += 2;
    const char *eq = strchr(a, '=');
    size_t kl = eq ? (size_t)(eq - a) : strlen(a);
    if (kl >= ksz)
        return errf(err, n, "unknown flag '--%s'", a);
    memcpy(key, a, kl);
    key[kl] = 0;
    if (eq) {
        *val = eq + 1;
    } else {
        if (*i + 1 >= argc)
            return errf(err, n, "flag --%s needs a value", key);
        *val = argv[++*i];
    }
    return 0;
}

int config_from_args(struct server_config *c, int argc, char **argv, FILE *out, char *err,
                     size_t err_size)
{
    char key[64];
    const char *val;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") || !strcmp(argv[i], "-help")) {
            config_usage(out);
            return 1;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (flag_at(argc, argv, &i, key, sizeof key, &val, err, err_size))
            return ERR_INVALID;
        if (strcmp(key, "config") == 0) {
            free(c->config_file);
            c->config_file = strdup(val);
        }
    }
    if (c->config_file && config_load_yaml(c, c->config_file, err, err_size))
        return ERR_INVALID;
    c->listen_replace = true; /* the first --listen replaces addresses from defaults or file */
    c->loki_retention_replace = true; /* so does the first --limits.loki.retention-stream */
    for (int i = 1; i < argc; i++) {
        flag_at(argc, argv, &i, key, sizeof key, &val, err, err_size);
        if (strcmp(key, "config") == 0)
            continue;
        char inner[256];
        if (config_set(c, key, val, inner, sizeof inner))
            return errf(err, err_size, "--%s", inner);
    }
    return 0;
}
