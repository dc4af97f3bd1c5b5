/* Query workload: PromQL or LogQL queries read from a file (one per line; blank lines and lines
 * starting with '#' are skipped), sent in turn as instant or range queries to the Prometheus API
 * (/api/v1/query[_range], times in float seconds) or the Loki API (/loki/api/v1/query[_range],
 * times in Unix nanoseconds), as GET requests with URL-encoded parameters. Read-only after load. */
#ifndef STRATA_TOOLS_LOAD_WL_QUERY_H
#define STRATA_TOOLS_LOAD_WL_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "tools/strata-load/http.h"

enum ld_qlang { LD_PROMQL, LD_LOGQL };

struct ld_queries {
    char **q;
    uint32_t n;
    enum ld_qlang lang;
    bool range;
    int64_t range_ns; /* range queries: end - start */
    int64_t step_ns;
    uint32_t limit; /* LogQL: max lines (0: the server's default) */
};

/* Splits text into queries (kept settings: the caller fills lang, range, ... afterwards). Returns
 * 0, ERR_INVALID when there is no query, or ERR_NOMEM. */
int ld_queries_parse(struct ld_queries *qs, const char *text, size_t n);
/* Reads a file with ld_queries_parse. Returns 0, -errno, ERR_INVALID or ERR_NOMEM. */
int ld_queries_load(struct ld_queries *qs, const char *path);
void ld_queries_free(struct ld_queries *qs);

/* The endpoint path for the settings (without the URL's base path). */
const char *ld_query_path(const struct ld_queries *qs);
/* Appends the request target of query i evaluated at Unix time t_ns: base path + (path or the
 * endpoint) + "?query=...&time=..." (instant) or "&start=..&end=..&step=.." (range). */
int ld_query_target(const struct ld_queries *qs, const struct ld_url *u, const char *path,
                    uint32_t i, int64_t t_ns, struct buf *out);

#endif
