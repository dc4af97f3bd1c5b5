/* The Prometheus HTTP query API (api-contract §2; docs/api.md "Prometheus query API"): the route
 * handlers, and the pure pieces they are built from (parameter parsing, the response envelope),
 * exposed for unit tests.
 *
 * Every handler parses and validates its parameters on the shard thread that received the request
 * (bad ones are answered at once with bad_data 400), then runs the query as a job on one of that
 * shard's query threads (server/query.h): selections fan out over the mesh to every shard, the
 * merge and the PromQL evaluation happen on the query thread, and the shard thread replies when
 * the job is done. The shard loop therefore never evaluates; it only answers select requests for
 * the series it owns, in bounded steps.
 *
 * Tenancy: the tenant is X-Scope-OrgID (default --tenant.default); every selection carries
 * {__tenant__="<tenant>"} and the label never appears in an answer.
 *
 * Errors: the Prometheus envelope {"status":"error","errorType":..,"error":..} with bad_data 400,
 * execution 422, canceled 499, timeout 503, internal 500. Threading: handlers run on the shard
 * thread of the exchange; the parsing functions are pure and thread-safe. */
#ifndef STRATA_SERVER_API_PROM_H
#define STRATA_SERVER_API_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"

struct http_exchange;
struct jsonw;

/* ---- handlers (routes.c) ---- */

void handler_prom_query(struct http_exchange *x);           /* GET, POST /api/v1/query */
void handler_prom_query_range(struct http_exchange *x);     /* GET, POST /api/v1/query_range */
void handler_prom_series(struct http_exchange *x);          /* GET, POST /api/v1/series */
void handler_prom_labels(struct http_exchange *x);          /* GET, POST /api/v1/labels */
void handler_prom_label_values(struct http_exchange *x);    /* GET /api/v1/label/<name>/values */
void handler_prom_metadata(struct http_exchange *x);        /* GET /api/v1/metadata */
void handler_prom_query_exemplars(struct http_exchange *x); /* GET, POST: always [] */
void handler_prom_format_query(struct http_exchange *x);    /* GET, POST /api/v1/format_query */
void handler_prom_rules(struct http_exchange *x);           /* GET /api/v1/rules: no groups */
void handler_prom_tsdb_status(struct http_exchange *x);     /* GET /api/v1/status/tsdb */

/* ---- parameters (pure) ---- */

/* Prometheus's MinTime and MaxTime in milliseconds: the defaults of optional start/end, and the
 * bounds times are clamped to. */
#define PROM_TIME_MIN_MS ((INT64_MIN / 1000 + 62135596801LL) * 1000)
#define PROM_TIME_MAX_MS ((INT64_MAX / 1000 - 62135596801LL) * 1000 + 999)

#define PROM_ERR_MAX 1024 /* error messages built by the parsers */

/* A time parameter: decimal Unix seconds (fraction rounded to ms, as Prometheus's parseTime) or
 * RFC3339 / RFC3339Nano ("2015-07-01T20:10:51.781Z", "...+02:00"; sub-ms digits truncated), or
 * Prometheus's formatted MinTime/MaxTime. Values beyond the representable range (e.g. ms read as
 * seconds, infinities) are clamped to [PROM_TIME_MIN_MS, PROM_TIME_MAX_MS]. Returns 0, or
 * ERR_INVALID with err = `cannot parse "<s>" to a valid timestamp`. */
int prom_parse_time(struct str s, int64_t *ms, char *err, size_t err_size);

/* A duration parameter (step, timeout, lookback_delta): decimal seconds ("15", "0.5", "-1") or a
 * Prometheus duration ("1m30s", "1h0m0s", "500ms"; units y w d h m s ms, largest first, each at
 * most once). Returns 0 with nanoseconds, or ERR_INVALID with err = `cannot parse "<s>" to a valid
 * duration` (or "... It overflows int64"). */
int prom_parse_duration(struct str s, int64_t *ns, char *err, size_t err_size);

/* The limit parameter: "" is 0 (no limit), otherwise a decimal integer >= 0 (Go's strconv.Atoi
 * messages on errors; "limit must be non-negative"). Returns 0 or ERR_INVALID. */
int prom_parse_limit(struct str s, int64_t *limit, char *err, size_t err_size);

/* Prometheus's UnescapeName for the U__ value-encoding escape of a label name in a path
 * ("U__http_2e_status" -> "http.status", "__" -> "_", "_<hex>_" -> that code point). A name
 * without the prefix, or with an invalid escape, is copied unchanged (as Prometheus does).
 * Appends to out; returns 0 or ERR_NOMEM. */
int prom_unescape_name(struct str name, struct buf *out);

/* True when name is a valid label name under UTF-8 validation: non-empty, valid UTF-8. */
bool prom_label_name_valid(struct str name);

/* `invalid parameter "<param>": <msg>` into out. */
void prom_invalid_param(char *out, size_t size, const char *param, const char *msg);

/* Go's %q of s appended to b (for error messages). Returns 0 or ERR_NOMEM. */
int prom_quote(struct buf *b, struct str s);

/* Does (end - start) / step exceed 11,000 points, computed as Prometheus does on time.Duration
 * nanoseconds (the difference saturates)? */
bool prom_range_too_many_points(int64_t start_ms, int64_t end_ms, int64_t step_ns);

/* ---- response envelope (pure) ---- */

enum prom_error_type {
    PROM_ERR_BAD_DATA,  /* 400 */
    PROM_ERR_EXECUTION, /* 422 */
    PROM_ERR_CANCELED,  /* 499 */
    PROM_ERR_TIMEOUT,   /* 503 */
    PROM_ERR_INTERNAL,  /* 500 */
    PROM_ERR_UNAVAILABLE,
    PROM_ERR_NOT_FOUND,
};

const char *prom_error_type_str(enum prom_error_type t);
int prom_error_status(enum prom_error_type t);
/* The error type for an evaluation or storage error code: -ETIMEDOUT timeout, ERR_CLOSED and
 * -ECANCELED canceled, ERR_NOMEM / ERR_CORRUPT / other storage codes internal, the rest execution.
 */
enum prom_error_type prom_error_type_of(int rc);

/* {"status":"error","errorType":"<type>","error":"<msg>"} into b (reset first; strings escaped
 * the way Go's encoding/json does). Returns 0 or ERR_NOMEM. */
int prom_error_body(struct buf *b, enum prom_error_type t, const char *msg);

/* Warnings and infos collected for the envelope: at most PROM_ANNOS_MAX of each are written, then
 * "<n> more warning annotations omitted" (Prometheus's AsStrings(query, 10, 10)). Strings are
 * borrowed until the envelope is written. */
#define PROM_ANNOS_MAX 10
struct prom_annos {
    const char *warn[PROM_ANNOS_MAX];
    const char *info[PROM_ANNOS_MAX];
    uint32_t nwarn, ninfo;         /* kept */
    uint32_t warn_more, info_more; /* omitted */
};

void prom_annos_add(struct prom_annos *a, bool warning, const char *text);

/* Writes `{"status":"success","data":` ; the caller writes the data value next. */
void prom_envelope_begin(struct jsonw *w);
/* Writes the `warnings` and `infos` keys (when not empty) and closes the envelope. */
void prom_envelope_end(struct jsonw *w, const struct prom_annos *a);

#endif
