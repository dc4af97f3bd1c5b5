/* Route handlers (see routes.c for the table). Each follows the contract in exchange.h. */
#ifndef STRATA_SERVER_HANDLERS_H
#define STRATA_SERVER_HANDLERS_H

struct http_exchange;

/* handlers_ops.c: operational endpoints */
void handler_ready(struct http_exchange *x);          /* 200 "ready" when serving, else 503 */
void handler_healthy(struct http_exchange *x);        /* 200 */
void handler_metrics(struct http_exchange *x);        /* Prometheus text format 0.0.4 */
void handler_prom_buildinfo(struct http_exchange *x); /* envelope, no "features" */
void handler_loki_buildinfo(struct http_exchange *x); /* bare object */

#endif
