/* Server configuration: defaults, a YAML file (libyaml), and command-line flags that override it.
 * Flags and YAML keys name the same settings: `--http.max-body-bytes` is `http: {max_body_bytes: }`
 * in YAML (dashes and underscores are interchangeable). Durations accept Prometheus units
 * ("500ms", "10s", "2m", "1h30m") or plain seconds; sizes accept plain bytes or KiB/MiB/GiB (also
 * KB/MB/GB = powers of 1000). Lists: `listen` (plain values) and limits.loki.retention_stream
 * (Loki's list of {selector, priority, period} mappings; as a flag, repeated
 * SELECTOR:PERIOD[:PRIORITY]); the first flag of either replaces what the file set.
 *
 * Errors: parse functions return 0, or ERR_INVALID with a message in err[] naming the flag/key.
 * Ownership: strings in the config are malloc'd copies freed by config_deinit. */
#ifndef STRATA_SERVER_CONFIG_H
#define STRATA_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/log.h"
#include "engine/logs/logstore.h"
#include "engine/tsdb/tsdb.h"
#include "server/ingest.h"
#include "server/query.h"
#include "server/logingest.h"

#define CONFIG_LISTEN_MAX 8

struct logql_query;

struct server_config {
    char *listen[CONFIG_LISTEN_MAX];
    uint32_t nlisten;
    bool listen_replace; /* the next listen setting replaces the list (defaults, then file) */
    char *data_dir;
    uint32_t shards; /* 0: one per CPU this process may run on */
    enum log_level log_level;
    uint64_t max_body_bytes;
    uint32_t max_header_bytes;
    uint32_t max_connections;
    int64_t header_timeout_ns;
    int64_t idle_timeout_ns;
    int64_t shutdown_grace_ns;
    char *config_file;
    char *default_tenant;        /* tenant of requests without X-Scope-OrgID */
    struct tsdb_config tsdb;     /* per shard: WAL, OOO window, retention, block range */
    struct ingest_config ingest; /* validation limits, tenant series limit, metadata */
    struct query_config query;   /* query threads, timeout, samples and series limits */
    /* Loki push: line, stream, label, metadata, age and rate limits */
    struct logingest_config logingest;
    /* Loki queries (Loki's limits_config): the largest `limit` of a log query
     * (max_entries_limit_per_query, 5000) and the series a metric query may return
     * (max_query_series, 500); 0 = no limit */
    int64_t loki_max_entries_limit;
    int64_t loki_max_query_series;
    /* Log retention (Loki's limits_config retention_period, 30 d; < 0: keep forever) and per
     * stream selector (retention_stream): rules[i].ms point into the parsed selector
     * loki_retention_queries[i]; both arrays are owned here and freed by config_deinit, so the
     * config must outlive the log stores that borrow the rules. */
    int64_t loki_retention_ms;
    struct logstore_retention_rule *loki_retention_rules;
    struct logql_query **loki_retention_queries;
    size_t n_loki_retention_rules;
    bool loki_retention_replace; /* the next rule replaces the list (flags over the file) */
    /* zstd level of the log chunks compaction rewrites (9); 0: passed through */
    int logs_compact_zstd_level;
};

void config_init(struct server_config *c); /* defaults */
void config_deinit(struct server_config *c);

/* Applies one setting by its flag name without dashes ("http.max-body-bytes", "listen", ...). */
int config_set(struct server_config *c, const char *key, const char *value, char *err,
               size_t err_size);
/* Loads a YAML file over the current values. */
int config_load_yaml(struct server_config *c, const char *path, char *err, size_t err_size);
/* Full command line: defaults, then --config FILE, then the other flags. Returns 0, 1 when --help
 * was asked (usage printed to `out`), or ERR_INVALID. */
int config_from_args(struct server_config *c, int argc, char **argv, FILE *out, char *err,
                     size_t err_size);
void config_usage(FILE *out);

int config_parse_duration(const char *s, int64_t *ns);
int config_parse_bytes(const char *s, uint64_t *bytes);

#endif
