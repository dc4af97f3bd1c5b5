/* One HTTP request/response pair as a route handler sees it.
 *
 * Contract for handlers: a handler receives the exchange on its shard's thread, appends the
 * response body to x->body_out and calls exactly one http_reply* function, either before returning
 * or later on the same shard (e.g. after a mesh round trip). Until it replies, the connection reads
 * nothing more and the request fields stay valid. The server adds Content-Length, Connection, and
 * gzip when the client accepts it and the body is >= 1 KiB.
 *
 * Errors: http_reply_error picks the route's style (Prometheus JSON envelope for /api/v1/, plain
 * text otherwise). Threading: the exchange belongs to its shard. */
#ifndef STRATA_SERVER_EXCHANGE_H
#define STRATA_SERVER_EXCHANGE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"
#include "server/http/parser.h"
#include "server/http/query.h"
#include "server/routes.h"

struct shard;
struct server;

#define HTTP_EXTRA_HEADERS_MAX 512

struct http_exchange {
    /* request */
    const struct http_request *req;
    const uint8_t *base;       /* request bytes (spans in req are relative to it) */
    struct str path;           /* raw (percent-encoded) */
    struct str query;          /* raw */
    struct str body;           /* decoded per Content-Encoding */
    const struct route *route; /* NULL for answers given before routing */
    struct route_params params;
    struct shard *shard;
    struct server *srv;
    int64_t start_ns; /* monotonic, when the request was complete */
    /* response */
    struct buf *body_out;
    const char *content_type;
    int status;
    uint8_t style; /* enum route_style for errors */
    bool replied;
    char extra_headers[HTTP_EXTRA_HEADERS_MAX];
    uint32_t extra_len;
    /* set by the connection: called once when the handler replies */
    void (*complete)(struct http_exchange *x);
    void *owner;
};

/* Replies with x->body_out as the body. */
void http_reply(struct http_exchange *x, int status, const char *content_type);
void http_reply_text(struct http_exchange *x, int status, const char *text);
/* Error in the route's style; status 4xx/5xx. */
void http_reply_error(struct http_exchange *x, int status, const char *msg);
/* {"status":"error","errorType":type,"error":msg} with Content-Type application/json. */
void http_reply_prom_error(struct http_exchange *x, int status, const char *type, const char *msg);
/* The Prometheus errorType for an HTTP status (bad_data, not_found, execution, internal, ...). */
const char *http_prom_error_type(int status);

/* Adds a response header line. Returns 0 or ERR_LIMIT (too many extra header bytes). */
int http_add_header(struct http_exchange *x, const char *name, const char *value);
/* First request header named name (case-insensitive), {NULL,0} when absent. */
struct str http_header(const struct http_exchange *x, const char *name);
/* Form body (when Content-Type is application/x-www-form-urlencoded) then URL query, into ps.
 * Returns 0 or ERR_INVALID (bad escape) / ERR_LIMIT / ERR_NOMEM. */
int http_form_params(const struct http_exchange *x, struct http_params *ps);

#endif
