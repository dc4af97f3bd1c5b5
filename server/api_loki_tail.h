/* The Loki endpoints beyond queries (docs/api.md "Loki tail, detected fields and labels,
 * patterns"): the live tail over a WebSocket, detected_fields / detected_field values /
 * detected_labels, and patterns. They run on the Loki request life cycle of the query endpoints
 * (server/api_loki_query.h: parameters on the shard thread, a query job that scans the query's
 * entries through the cross-shard fan-out and the LogQL pipeline on a query thread, the reply on
 * the shard thread, cancel when the client goes away).
 *
 * Errors: plain text as Loki's (400 bad parameter or query, 499 canceled, 504 timeout, 503 no
 * query thread, 500 otherwise). Threading: handlers on the exchange's shard thread; `run`
 * callbacks on a query thread of that shard. */
#ifndef STRATA_SERVER_API_LOKI_TAIL_H
#define STRATA_SERVER_API_LOKI_TAIL_H

struct http_exchange;

/* ---- handlers (routes.c) ---- */

void handler_loki_tail(struct http_exchange *x);            /* GET /loki/api/v1/tail */
void handler_loki_detected_fields(struct http_exchange *x); /* /loki/api/v1/detected_fields */
void handler_loki_detected_field_values(
    struct http_exchange *x);                               /* .../detected_field/<name>/values */
void handler_loki_detected_labels(struct http_exchange *x); /* /loki/api/v1/detected_labels */
void handler_loki_patterns(struct http_exchange *x);        /* /loki/api/v1/patterns */

/* Concurrent tails per process (Loki's max_concurrent_tail_requests). */
#define LOKI_TAIL_MAX 10

#endif
