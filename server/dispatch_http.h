/* The HTTP ends of the push pipelines (remote write: server/api_write.c, Loki push:
 * server/api_loki_push.c): undoing a body's snappy layer and answering with a pipeline's reply,
 * the same for both protocols.
 *
 * Threading: the exchange's shard. */
#ifndef STRATA_SERVER_DISPATCH_HTTP_H
#define STRATA_SERVER_DISPATCH_HTTP_H

#include <stdbool.h>

#include "base/buf.h"
#include "base/str.h"

struct http_exchange;

/* Decodes the request body as snappy block format into scratch (the route's body limit). On
 * failure answers 413 (decoded body too large), 500 (memory) or 400 with "cannot decode snappy
 * request body: <why> (<hint>)" and returns false. */
bool dispatch_http_unsnappy(struct http_exchange *x, struct buf *scratch, const char *hint,
                            struct str *body);
/* After the pipeline took the body: keeps a scratch buffer up to 1 MiB for the next request,
 * gives a larger one back. */
void dispatch_http_body_done(struct buf *scratch);
/* Answers x: Retry-After when retry_after_s > 0; 204 with an empty body; otherwise text and a
 * newline as text/plain; charset=utf-8. */
void dispatch_http_answer(struct http_exchange *x, int status, int retry_after_s, const char *text);

#endif
