/* Command line of strata-load: `strata-load MODE [options]`, parsed into struct ld_opts with every
 * default filled in and cross-checked (see ld_opts_usage for the full list, which --help prints).
 * Errors name the offending option. Pure apart from printing the usage. */
#ifndef STRATA_TOOLS_LOAD_OPTS_H
#define STRATA_TOOLS_LOAD_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tools/strata-load/wl_logs.h"
#include "tools/strata-load/wl_metrics.h"
#include "tools/strata-load/wl_query.h"

enum ld_mode { LD_MODE_METRICS, LD_MODE_LOGS, LD_MODE_QUERY, LD_MODE_MIXED, LD_MODE_SINK };

#define LD_HEADERS_MAX 32

struct ld_opts {
    enum ld_mode mode;
    const char *mode_name;
    const char *target;      /* URL */
    const char *logs_target; /* mixed: logs go here (default: target) */
    const char *path;        /* overrides the endpoint path (single-kind modes) */
    const char *headers[LD_HEADERS_MAX];
    size_t n_headers;
    uint32_t connections, query_connections, threads;
    double rate[3]; /* units/s per kind (metrics, logs, query); 0: closed loop; <0: default */
    uint32_t batch; /* 0: the kind's default */
    int64_t duration_ns;
    uint64_t requests; /* per kind, 0: unlimited */
    int64_t timeout_ns;
    bool retry;
    uint32_t retry_max;
    uint64_t seed;
    int64_t start_ns; /* sample clock origin, Unix ns; 0: now */
    const char *json_path;
    bool quiet;
    uint32_t burst;
    double catchup;
    const char *dump_path;
    /* metrics */
    enum ld_rw_protocol protocol;
    uint32_t targets, series_per_target;
    int64_t interval_ns;
    double churn;
    int64_t backfill_ns;
    uint32_t samples_per_series;
    /* logs */
    enum ld_loki_encoding encoding;
    uint32_t services, pods, agents;
    enum ld_log_format log_format;
    bool metadata;
    uint32_t line_max;
    uint32_t lines_per_trace; /* mean lines per request, 1..LD_LINES_PER_TRACE_MAX */
    /* query */
    const char *query_file;
    enum ld_qlang lang;
    bool range;
    int64_t range_ns, step_ns;
    uint32_t limit;
    /* sink */
    const char *listen;
    int sink_status;
    uint32_t sink_fail_every;
    uint32_t sink_close_every;
};

/* Returns 0 (options valid), 1 (--help: usage written to `out`) or ERR_INVALID (reason in err). */
int ld_opts_parse(struct ld_opts *o, int argc, char **argv, FILE *out, char *err, size_t err_size);
void ld_opts_usage(FILE *out);
/* "100k" -> 100000, "2.5M" -> 2500000; returns 0 or ERR_INVALID. */
int ld_parse_rate(const char *s, double *out);
/* Unix seconds (float), Unix ms/ns (13/19 digits) or RFC 3339 ("2026-11-22T10:00:00Z"). */
int ld_parse_time(const char *s, int64_t *ns);

#endif
