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
struct query_job;
struct http_ws_ops;

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
    /* set by a deferring handler (http_on_abort) */
    void (*on_abort)(struct http_exchange *x, void *arg);
    void *abort_arg;
    /* set by http_reply_websocket */
    const struct http_ws_ops *ws_ops;
    void *ws_arg;
    char ws_accept[32];
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

/* ---- client disconnects ----
 * A handler that defers its reply (a query job) registers an abort hook: when the client closes
 * or resets the connection before the reply, the connection calls fn(x, arg) once on the shard
 * thread (the handler must still reply exactly once, later; that reply is discarded). The hook is
 * dropped with the reply. Go's net/http does the same (a read of EOF cancels the request's
 * context), so a client that half-closes after its request also cancels it. */
void http_on_abort(struct http_exchange *x, void (*fn)(struct http_exchange *x, void *arg),
                   void *arg);
/* The usual hook: query_job_cancel(j) (j must stay valid until its done callback replied), and
 * counted in strata_query_jobs_canceled_total. */
void http_cancel_job_on_abort(struct http_exchange *x, struct query_job *j);

/* ---- WebSocket (RFC 6455) take-over, implemented by the connection (server/conn.c) ----
 * A handler answers a valid upgrade request with http_reply_websocket: the 101 response is
 * queued, and from then on the connection speaks WebSocket frames: pings are answered, client
 * data frames are read and dropped (bounded), a close frame is echoed and the socket closed.
 * The application sends text frames with http_ws_send_text from the shard thread. When the
 * connection ends for any reason other than http_ws_close (peer close, reset, server stop),
 * ops->on_close(arg) is called once on the shard thread; after on_close or http_ws_close the
 * handle must not be used. */
struct http_ws;
struct http_ws_ops {
    void (*on_close)(void *arg);
};
/* Checks the handshake (GET, Upgrade: websocket, Connection: upgrade, Sec-WebSocket-Version: 13,
 * a valid Sec-WebSocket-Key). Valid: replies 101, returns 0 with the handle in *out. Invalid:
 * returns ERR_INVALID with a reason in *why and does not reply (answer 400 yourself). */
int http_reply_websocket(struct http_exchange *x, const struct http_ws_ops *ops, void *arg,
                         struct http_ws **out, const char **why);
/* Queues a text frame. Returns 0, ERR_FULL (the client does not read fast enough: more than
 * HTTP_WS_QUEUE_MAX bytes queued) or ERR_NOMEM. */
#define HTTP_WS_QUEUE_MAX (8u << 20)
int http_ws_send_text(struct http_ws *ws, const void *p, size_t n);
/* Sends a close frame (code, reason up to 123 bytes) and closes the connection. */
void http_ws_close(struct http_ws *ws, uint16_t code, const char *reason);

#endif
