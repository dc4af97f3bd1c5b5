/* The Loki endpoints beyond queries (docs/api.md "Loki tail, detected fields and labels,
 * patterns"): the live tail over a WebSocket, detected_fields / detected_field values /
 * detected_labels, and patterns; and the small request scaffold they share (parameters on the
 * shard thread, a query job that scans the query's entries through the cross-shard fan-out and
 * the LogQL pipeline on a query thread, the reply on the shard thread, cancel when the client
 * goes away).
 *
 * Errors: plain text as Loki's (400 bad parameter or query, 499 canceled, 504 timeout, 503 no
 * query thread, 500 otherwise). Threading: handlers on the exchange's shard thread; `run`
 * callbacks on a query thread of that shard. */
#ifndef STRATA_SERVER_API_LOKI_TAIL_H
#define STRATA_SERVER_API_LOKI_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "engine/logql/exec.h"
#include "server/http/query.h"

struct http_exchange;
struct query_job;
struct query_log_entry;
struct logql_query;

/* ---- handlers (routes.c) ---- */

void handler_loki_tail(struct http_exchange *x);            /* GET /loki/api/v1/tail */
void handler_loki_detected_fields(struct http_exchange *x); /* /loki/api/v1/detected_fields */
void handler_loki_detected_field_values(
    struct http_exchange *x);                               /* .../detected_field/<name>/values */
void handler_loki_detected_labels(struct http_exchange *x); /* /loki/api/v1/detected_labels */
void handler_loki_patterns(struct http_exchange *x);        /* /loki/api/v1/patterns */

/* Concurrent tails per process (Loki's max_concurrent_tail_requests). */
#define LOKI_TAIL_MAX 10

/* ---- the shared request scaffold (api_loki_detected.c) ---- */

#define LX_ERR_MAX 512

struct lx_req {
    struct http_exchange *x;
    struct query_job *job;
    struct http_params params;
    struct logql_query *q; /* the parsed `query` (a log query) or NULL */
    int64_t start_ns, end_ns;
    void (*run)(struct lx_req *r, struct query_job *j);
    void *extra;
    /* result, written on the query thread */
    int status; /* 0: success (out is the JSON body) */
    char err[LX_ERR_MAX];
    struct buf out;
};

/* Loads the parameters (form body, then URL query). NULL after answering 400/500. */
struct lx_req *lx_req_new(struct http_exchange *x);
void lx_req_free(struct lx_req *r);
/* Each answers 400 (and frees r) and returns false on a bad parameter. */
bool lx_param_query(struct lx_req *r, bool required);
bool lx_param_bounds(struct lx_req *r);
/* A positive count (Loki's limit rules, server/api_loki.h), dflt when absent. */
bool lx_param_u32(struct lx_req *r, const char *name, uint32_t dflt, uint32_t *out);
/* Starts the job (the client going away cancels it); answers 503/500 and frees r on failure. */
void lx_req_start(struct lx_req *r);
/* Query thread: records the first error. */
void lx_fail(struct lx_req *r, int status, const char *msg);
void lx_fail_rc(struct lx_req *r, int rc);

/* Query thread: the entries of r->q in [start, end) through its pipeline, newest first, at most
 * max_lines kept entries; fn sees each kept one (e: the stored entry, metadata sorted by name;
 * res: the pipeline's outcome) and may stop the scan by returning non-zero (returned as is).
 * Returns 0 or an error (-ECANCELED, -ETIMEDOUT, ERR_NOMEM, owner errors). */
typedef int (*lx_entry_fn)(void *arg, const struct logql_entry *e, const struct logql_result *res);
int lx_scan(struct lx_req *r, struct query_job *j, uint32_t max_lines, lx_entry_fn fn, void *arg);

#endif
