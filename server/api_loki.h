/* The Loki query API (api-contract §4; docs/api.md "Loki query API"): the route handlers, and the
 * pure parameter parsers they are built from, exposed for unit tests.
 *
 * Every handler parses its parameters on the shard thread that received the request (bad ones
 * are answered at once, 400 plain text with Loki's wording), then runs as a query job on one of
 * that shard's query threads (server/query.h): log selections and metadata calls fan out to every
 * shard, LogQL evaluation (engine/logql/eval.h) runs on the query thread, and the shard thread
 * replies when the job is done. Tenancy: X-Scope-OrgID (server/tenant.h), as for pushes.
 *
 * Errors: plain text (text/plain; charset=utf-8) with the status Loki's WriteError gives each
 * class (pkg/util/server/error.go): 400 bad parameter, parse error, query limit (max entries,
 * max series) or pipeline error; 499 "the request was cancelled by the client"; 504 "request
 * timed out, ..."; 503 when no query thread can take the job; 500 otherwise, e.g. a binary
 * operation with duplicate series or many-to-many matches (plain errors in Loki). Threading:
 * handlers run on the exchange's shard thread; the parsers are pure and thread-safe. */
#ifndef STRATA_SERVER_API_LOKI_H
#define STRATA_SERVER_API_LOKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"

struct http_exchange;

/* ---- handlers (routes.c) ---- */

void handler_loki_query(struct http_exchange *x);        /* GET, POST /loki/api/v1/query */
void handler_loki_query_range(struct http_exchange *x);  /* GET, POST /loki/api/v1/query_range */
void handler_loki_labels(struct http_exchange *x);       /* GET, POST /loki/api/v1/labels */
void handler_loki_label_values(struct http_exchange *x); /* /loki/api/v1/label/<name>/values */
void handler_loki_series(struct http_exchange *x);       /* GET, POST /loki/api/v1/series */
void handler_loki_index_stats(struct http_exchange *x);  /* /loki/api/v1/index/stats: bare */
void handler_loki_volume(struct http_exchange *x);       /* /loki/api/v1/index/volume */
void handler_loki_volume_range(struct http_exchange *x); /* /loki/api/v1/index/volume_range */
void handler_loki_format_query(struct http_exchange *x); /* /loki/api/v1/format_query */

/* ---- parameters (pure) ---- */

#define LOKI_ERR_MAX 1024

#define LOKI_DEFAULT_LIMIT     100 /* entries of a log query */
#define LOKI_DEFAULT_SINCE_NS  3600000000000LL
#define LOKI_VOLUME_LIMIT      100   /* volumes of an index/volume answer */
#define LOKI_MAX_ENTRIES_LIMIT 5000  /* Loki's max_entries_limit_per_query */
#define LOKI_MAX_QUERY_SERIES  500   /* Loki's max_query_series */
#define LOKI_MAX_POINTS        11000 /* points per series of a range query */

/* A time (Loki's parseTimestamp): a string with '.' that parses as a float is Unix seconds (the
 * fraction rounded to ms); else an integer of at most 10 characters is seconds and a longer one
 * nanoseconds; else RFC3339 with optional fraction (up to ns) and Z or ±hh:mm. Returns 0 with
 * *ns, or ERR_INVALID with Go's message in err (`strconv.ParseInt: parsing "x": invalid syntax`,
 * `... value out of range`). s must not be empty. */
int loki_parse_time(struct str s, int64_t *ns, char *err, size_t err_size);

/* A step or interval: float seconds or a Prometheus duration (`15`, `0.5`, `15s`, `1m30s`,
 * `15000ms`). Returns 0 with *ns or ERR_INVALID (`cannot parse "x" to a valid duration`). */
int loki_parse_duration(struct str s, int64_t *ns, char *err, size_t err_size);

/* limit: empty = dflt; else a decimal integer > 0 and <= UINT32_MAX (Loki's messages: Go's Atoi
 * error, "limit must be a positive value", "limit value N is out of range [0, 4294967295]"). */
int loki_parse_limit(struct str s, uint32_t dflt, uint32_t *out, char *err, size_t err_size);

/* direction: empty = backward; "forward"/"backward" in any case; else "invalid direction '<s>'". */
int loki_parse_direction(struct str s, bool *backward, char *err, size_t err_size);

/* start, end and since (each may be empty) as Loki's determineBounds: end defaults to now;
 * start to min(end, now) - since (since defaults to 1h). Errors name the parameter: "could not
 * parse 'end' parameter: <why>". */
int loki_parse_bounds(struct str start, struct str end, struct str since, int64_t now_ns,
                      int64_t *start_ns, int64_t *end_ns, char *err, size_t err_size);

/* Loki's default step of a range query: max(1, floor(range_seconds / 250)) seconds, in ns. */
int64_t loki_default_step_ns(int64_t start_ns, int64_t end_ns);

/* Does an X-Loki-Response-Encoding-Flags value (comma-separated flags) hold categorize-labels? */
bool loki_flags_categorize(struct str header);

#endif
