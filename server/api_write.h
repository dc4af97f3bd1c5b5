/* POST /api/v1/write and /api/v1/push: Prometheus remote write 1.0 and 2.0 over HTTP
 * (api-contract §1). The handler negotiates the protobuf schema from Content-Type, makes sure the
 * body is snappy (block format), reads the tenant from X-Scope-OrgID, and hands the body to the
 * shard's ingest pipeline (server/ingest.h), answering when every part is durable.
 *
 * Negotiation (as Prometheus's receiver does it):
 *   Content-Type absent, `application/x-protobuf`, or with `proto=prometheus.WriteRequest` -> v1;
 *   `application/x-protobuf;proto=io.prometheus.write.v2.Request` -> v2;
 *   another media type or another proto= value -> 415.
 *   Content-Encoding `snappy`, or absent (old senders; the body must still be snappy, so a plain
 *   protobuf body fails to decompress: 400) -> decoded; any other coding -> 415 (the route accepts
 *   snappy only, so the connection layer answers it). A framed-snappy body is not a valid block:
 *   400.
 * Answers are plain text (senders log them verbatim): 204 with an empty body; 400/413/415/500/503
 * with a one-line reason; 503 adds Retry-After. v2 answers carry the three
 * X-Prometheus-Remote-Write-*-Written headers, also on 4xx/5xx.
 *
 * Threading: runs on the accepting shard (the exchange's). */
#ifndef STRATA_SERVER_API_WRITE_H
#define STRATA_SERVER_API_WRITE_H

#include <stddef.h>

#include "base/str.h"

struct http_exchange;

void handler_remote_write(struct http_exchange *x);

/* The schema for a Content-Type value: INGEST_RW1 or INGEST_RW2 (enum ingest_proto), or 0 with
 * the 415 reason in why (NUL-terminated). */
int api_write_proto(struct str content_type, char *why, size_t why_size);

#endif
