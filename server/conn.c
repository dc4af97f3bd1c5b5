/* The connection state machine (see conn.h).
 *
 *   READ ──request done──▶ dispatch ──handler replies──▶ response queued ─┬─ keep-alive ─▶ READ
 *     │                       └─ handler defers ─▶ HANDLER ─ reply ───────┘
 *     ├─ parse error / !keep-alive / stopping ─▶ WRITE_CLOSE ─ all sent ─▶ LINGER ─ EOF/timeout ─▶
 * CLOSING └─ peer reset, timeout without a request ───────────────────────────────────────────────▶
 * CLOSING CLOSING: once no recv/send is in flight and no handler holds it, the connection goes on
 * the shard's dead list and is freed by conn_reap() between loop iterations, so no call chain ever
 * touches a freed connection. */
#include "server/conn.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "server/exchange.h"
#include "server/http/encoding.h"
#include "server/http/response.h"
#include "server/http/websocket.h"
#include "server/routes.h"
#include "server/server.h"
#include "server/shard.h"

#define READ_CHUNK       (16 * 1024)
#define OUT_HIGH_WATER   (256 * 1024)
#define IN_SHRINK_ABOVE  (64 * 1024)
#define LINGER_BYTES_MAX (1024 * 1024)
#define GZIP_MIN_BYTES   1024
#define WS_PAYLOAD_MAX   (64 * 1024) /* client frames (we read and drop them) */

enum conn_state { CS_READ, CS_HANDLER, CS_WRITE_CLOSE, CS_LINGER, CS_CLOSING, CS_WS };

struct conn {
    struct shard *sh;
    struct conn *prev, *next; /* on sh->lists[tl] */
    int64_t deadline_ns;
    uint8_t tl;
    uint8_t state;
    bool recv_inflight, send_inflight;
    bool peer_eof;
    bool continue_sent;
    bool in_handler, handler_pending;
    bool served_any;
    bool dead;
    bool poll_inflight; /* watching for the client going away while a handler runs */
    bool ws;            /* switched to WebSocket (counted in ws_open) */
    bool ws_app_gone;   /* on_close called, or the application closed */
    bool ws_counted;    /* in the ws_open gauge */
    int fd;
    struct conn *dead_next;
    struct loop_op recv_op, send_op, poll_op;
    struct buf in;  /* current request from byte 0, then pipelined bytes */
    struct buf out; /* being sent; frozen while send_inflight */
    size_t out_off;
    struct buf pending; /* responses queued behind `out` */
    struct buf resp;    /* the handler's response body */
    struct buf decoded; /* request body after Content-Encoding */
    uint64_t linger_bytes;
    struct http_parser parser;
    struct http_exchange x;
    struct http_request req;
};

static void conn_process(struct conn *c);
static void conn_pump(struct conn *c, bool progress);
static void ws_app_gone(struct conn *c);

/* Leaving the WebSocket state: the open gauge goes down once. */
static void ws_uncount(struct conn *c)
{
    if (c->ws_counted) {
        c->ws_counted = false;
        metric_add(&c->sh->metrics->ws_open, (uint64_t)-1);
    }
}

/* ---- deadline lists -------------------------------------------------------------------------- */

static void list_remove(struct conn *c)
{
    struct conn_list *l = &c->sh->lists[c->tl];
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
    l->n--;
}

static void list_append(struct conn *c, uint8_t tl)
{
    struct conn_list *l = &c->sh->lists[tl];
    c->tl = tl;
    c->prev = l->tail;
    c->next = NULL;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    l->n++;
}

/* Moves c to list tl with a fresh deadline (or keeps its deadline when already there and !refresh).
 */
static void set_timer(struct conn *c, uint8_t tl, bool refresh)
{
    if (c->tl == tl && !refresh)
        return;
    list_remove(c);
    list_append(c, tl);
    c->deadline_ns = clock_mono_coarse_ns() + c->sh->list_timeout_ns[tl];
}

/* Which deadline applies in the current state. */
static uint8_t wanted_timer(const struct conn *c)
{
    switch (c->state) {
    case CS_LINGER: return CONN_TL_LINGER;
    case CS_HANDLER:
    case CS_WS: /* the application's own life (a tail ends with its client or the server) */
    case CS_CLOSING: return CONN_TL_NONE;
    case CS_WRITE_CLOSE: return CONN_TL_IDLE;
    default: break;
    }
    if (c->send_inflight)
        return CONN_TL_IDLE;
    if (!http_parser_in_head(&c->parser))
        return CONN_TL_IDLE; /* receiving a body: inactivity timeout */
    if (c->in.len == 0 && c->served_any)
        return CONN_TL_IDLE; /* keep-alive, waiting for the next request */
    return CONN_TL_HEADER;
}

/* ---- life cycle ------------------------------------------------------------------------------ */

static void conn_free(struct conn *c)
{
    struct shard *sh = c->sh;
    loop_close(&sh->loop, c->fd);
    buf_deinit(&c->in);
    buf_deinit(&c->out);
    buf_deinit(&c->pending);
    buf_deinit(&c->resp);
    buf_deinit(&c->decoded);
    free(c);
    shard_conn_closed(sh);
}

static void maybe_free(struct conn *c)
{
    if (c->dead || c->state != CS_CLOSING || c->recv_inflight || c->send_inflight ||
        c->handler_pending || c->poll_inflight)
        return;
    c->dead = true;
    list_remove(c);
    c->tl = CONN_TL_NONE;
    c->dead_next = c->sh->dead;
    c->sh->dead = c;
}

void conn_reap(struct shard *sh)
{
    while (sh->dead) {
        struct conn *c = sh->dead;
        sh->dead = c->dead_next;
        conn_free(c);
    }
}

/* The client went away while a handler runs: its abort hook (a query job's cancel) runs once. */
static void fire_abort(struct conn *c)
{
    struct http_exchange *x = &c->x;
    if (!c->handler_pending || !x->on_abort)
        return;
    void (*fn)(struct http_exchange *, void *) = x->on_abort;
    x->on_abort = NULL;
    metric_add(&c->sh->metrics->client_aborts, 1);
    fn(x, x->abort_arg);
}

/* Immediate close: in-flight operations are kicked by shutdown(2) and complete with 0 or an error.
 */
static void conn_abort(struct conn *c)
{
    if (c->state == CS_CLOSING)
        return;
    fire_abort(c);
    ws_app_gone(c);
    ws_uncount(c);
    c->state = CS_CLOSING;
    set_timer(c, CONN_TL_NONE, false);
    if (c->recv_inflight || c->send_inflight || c->poll_inflight)
        shutdown(c->fd, SHUT_RDWR);
    if (c->poll_inflight)
        loop_cancel(&c->sh->loop, &c->poll_op);
    maybe_free(c);
}

/* ---- client disconnects while a handler runs ------------------------------------------------
 * A poll for POLLRDHUP (the peer's FIN) and errors, armed only while a handler with an abort hook
 * is pending: data the client pipelines meanwhile does not complete it. */

static void on_poll(struct loop *l, struct loop_op *op, int res, uint32_t flags);

static void arm_poll(struct conn *c)
{
    if (c->poll_inflight || c->peer_eof || c->state != CS_HANDLER || !c->x.on_abort)
        return;
    struct io_uring_sqe *sqe = loop_sqe(&c->sh->loop, &c->poll_op);
    io_uring_prep_poll_add(sqe, c->fd, POLLRDHUP | POLLHUP | POLLERR);
    io_uring_sqe_set_data(sqe, &c->poll_op);
    c->poll_inflight = true;
}

static void on_poll(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    (void)l;
    (void)flags;
    struct conn *c = (struct conn *)((char *)op - offsetof(struct conn, poll_op));
    c->poll_inflight = false;
    if (c->state == CS_CLOSING) {
        maybe_free(c);
        return;
    }
    if (c->state != CS_HANDLER)
        return; /* the reply came first (the poll was canceled) */
    if (res > 0 && (res & (POLLHUP | POLLERR))) {
        conn_abort(c);
        return;
    }
    if (res > 0 && (res & POLLRDHUP)) {
        c->peer_eof = true; /* the reply (of a canceled job) goes out, then we close */
        fire_abort(c);
        return;
    }
    arm_poll(c); /* canceled for an earlier request, or spurious */
}

/* After the last response: half-close and read (discarding) until the client closes, so that its
 * unread request bytes do not turn our close into a RST that destroys the response in flight. */
static void arm_recv(struct conn *c);

static void begin_linger(struct conn *c)
{
    if (c->peer_eof) {
        conn_abort(c);
        return;
    }
    c->state = CS_LINGER;
    c->in.len = 0;
    shutdown(c->fd, SHUT_WR);
    set_timer(c, CONN_TL_LINGER, true);
    arm_recv(c);
}

/* ---- sending ----------------------------------------------------------------------------------
 */

static void on_send(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    (void)l;
    (void)flags;
    struct conn *c = (struct conn *)((char *)op - offsetof(struct conn, send_op));
    c->send_inflight = false;
    if (c->state == CS_CLOSING) {
        maybe_free(c);
        return;
    }
    if (res <= 0) {
        conn_abort(c);
        return;
    }
    metric_add(&c->sh->metrics->bytes_sent, (uint64_t)res);
    c->out_off += (size_t)res;
    if (c->out_off >= c->out.len) {
        c->out.len = 0;
        c->out_off = 0;
    }
    if (c->state == CS_READ)
        conn_process(c); /* output drained: parsing may resume past the high-water mark */
    else
        conn_pump(c, true);
}

/* Starts sending queued output. Returns true when everything is sent and the connection is due to
 * close (WRITE_CLOSE): the caller then begins the lingering close. */
static bool flush(struct conn *c)
{
    if (c->send_inflight || c->state == CS_CLOSING || c->state == CS_LINGER)
        return false;
    if (c->out_off >= c->out.len) {
        if (c->pending.len == 0)
            return c->state == CS_WRITE_CLOSE;
        struct buf t = c->out;
        c->out = c->pending;
        c->pending = t;
        buf_reset(&c->pending);
        c->out_off = 0;
    }
    c->send_inflight = true;
    loop_send(&c->sh->loop, &c->send_op, c->fd, c->out.data + c->out_off, c->out.len - c->out_off);
    return false;
}

/* ---- receiving --------------------------------------------------------------------------------
 */

/* Most input a connection buffers: a head, a body, trailers (another head's worth) and one read. */
static size_t in_limit(const struct conn *c)
{
    return 2 * (size_t)c->sh->limits.head_bytes_max + c->sh->limits.body_bytes_max + 2 * READ_CHUNK;
}

static void arm_recv(struct conn *c)
{
    if (c->recv_inflight || c->peer_eof)
        return;
    if (c->state == CS_READ) {
        if (c->pending.len >= OUT_HIGH_WATER)
            return;
    } else if (c->state != CS_LINGER && c->state != CS_WS) {
        return;
    }
    size_t limit = in_limit(c);
    if (c->in.len >= limit ||
        (c->in.cap - c->in.len < READ_CHUNK / 2 && buf_reserve(&c->in, READ_CHUNK))) {
        conn_abort(c); /* the parser errors long before the limit; never grow unbounded */
        return;
    }
    size_t room = c->in.cap - c->in.len, left = limit - c->in.len;
    c->recv_inflight = true;
    loop_recv(&c->sh->loop, &c->recv_op, c->fd, c->in.data + c->in.len, room < left ? room : left);
}

static void on_eof(struct conn *c)
{
    c->peer_eof = true;
    switch (c->state) {
    case CS_LINGER:
    case CS_WS: conn_abort(c); return;
    case CS_HANDLER: fire_abort(c); break;
    case CS_READ:
        /* half-closed after complete requests: answer them, then close; a partial request or an
         * idle connection just closes */
        if (http_parser_started(&c->parser, c->in.len) ||
            (c->out_off >= c->out.len && c->pending.len == 0 && !c->send_inflight)) {
            conn_abort(c);
            return;
        }
        c->state = CS_WRITE_CLOSE;
        break;
    default: break; /* HANDLER / WRITE_CLOSE: the response goes out, then we close */
    }
    conn_pump(c, false);
}

static void on_recv(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    (void)l;
    (void)flags;
    struct conn *c = (struct conn *)((char *)op - offsetof(struct conn, recv_op));
    c->recv_inflight = false;
    if (c->state == CS_CLOSING) {
        maybe_free(c);
        return;
    }
    if (res < 0) {
        conn_abort(c);
        return;
    }
    if (res == 0) {
        on_eof(c);
        return;
    }
    metric_add(&c->sh->metrics->bytes_received, (uint64_t)res);
    if (c->state == CS_LINGER) {
        c->linger_bytes += (uint64_t)res;
        c->in.len = 0;
        if (c->linger_bytes > LINGER_BYTES_MAX)
            conn_abort(c);
        else
            arm_recv(c);
        return;
    }
    c->in.len += (size_t)res;
    if (c->state == CS_READ || c->state == CS_WS)
        conn_process(c);
}

/* ---- responses ------------------------------------------------------------------------------- */

static bool keep_alive(const struct conn *c, bool head_parsed)
{
    return head_parsed && c->req.keep_alive && !c->peer_eof && !c->sh->stopping;
}

/* Serializes x's reply into the pending output (gzip when it pays and the client accepts it). */
static int write_reply(struct conn *c, struct http_exchange *x, bool keep)
{
    const struct route *rt = x->route;
    struct http_resp r = {
        .status = x->status,
        .content_type = x->content_type,
        .extra_headers = x->extra_len ? x->extra_headers : NULL,
        .version_minor = x->req ? x->req->version_minor : 1,
        .keep_alive = keep,
        .head = x->req && x->req->method == HTTP_HEAD,
    };
    const uint8_t *body = c->resp.data;
    size_t n = c->resp.len;
    if (rt && !(rt->flags & ROUTE_NO_GZIP) && n >= GZIP_MIN_BYTES && x->status >= 200 &&
        x->status != 204 && x->status != 304) {
        r.vary_accept_encoding = true;
        if (http_accepts_gzip(http_header(x, "accept-encoding"))) {
            buf_reset(&c->sh->scratch);
            if (http_gzip_compress(c->sh->gzip, body, n, &c->sh->scratch) == 0) {
                r.content_encoding = "gzip";
                body = c->sh->scratch.data;
                n = c->sh->scratch.len;
            }
        }
    }
    return http_resp_write(&c->pending, &r, body, n);
}

static unsigned route_index(const struct route *rt)
{
    return rt ? (unsigned)(rt - server_routes) + 1 : 0;
}

/* Drops the finished request's bytes; pipelined bytes move to the front. */
static void consume_request(struct conn *c)
{
    size_t used = (size_t)http_parser_consumed(&c->parser);
    if (used > c->in.len)
        used = c->in.len;
    memmove(c->in.data, c->in.data + used, c->in.len - used);
    c->in.len -= used;
    http_parser_reset(&c->parser);
    c->continue_sent = false;
    if (c->in.len == 0 && c->in.cap > IN_SHRINK_ABOVE && !c->recv_inflight)
        buf_deinit(&c->in); /* a large upload is over: give the memory back */
    if (c->decoded.cap > IN_SHRINK_ABOVE)
        buf_deinit(&c->decoded);
    if (c->resp.cap > IN_SHRINK_ABOVE)
        buf_deinit(&c->resp);
}

/* The 101 answer of a WebSocket handshake (no body, no Content-Length). */
static int write_upgrade(struct conn *c, struct http_exchange *x)
{
    return buf_printf(&c->pending,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                      x->ws_accept, x->extra_len ? x->extra_headers : "");
}

/* The handler replied: queue the response, account, and move to the next state. */
static void finish_exchange(struct conn *c, bool head_parsed)
{
    struct http_exchange *x = &c->x;
    bool upgrade = x->ws_ops && x->status == 101 && head_parsed;
    bool keep = keep_alive(c, head_parsed);
    if (upgrade ? write_upgrade(c, x) != 0 : write_reply(c, x, keep) != 0) {
        conn_abort(c);
        return;
    }
    int64_t dur = clock_mono_ns() - x->start_ns;
    metrics_observe_request(c->sh->metrics, route_index(x->route), x->status, dur);
    if (log_level_get() <= LOG_DEBUG && head_parsed)
        log_debug("request", LOG_STR("method", http_method_name(c->req.method)),
                  LOG_STRN("path", x->path.ptr, x->path.len), LOG_INT("status", x->status),
                  LOG_INT("duration_us", dur / 1000));
    c->served_any = true;
    if (head_parsed)
        consume_request(c);
    if (upgrade && c->state != CS_CLOSING) {
        c->state = CS_WS;
        c->ws = true;
        c->ws_counted = true;
        metric_add(&c->sh->metrics->ws_open, 1);
        return;
    }
    if (c->state != CS_CLOSING)
        c->state = keep ? CS_READ : CS_WRITE_CLOSE;
}

static void exchange_begin(struct conn *c, bool head_parsed)
{
    struct http_exchange *x = &c->x;
    x->req = head_parsed ? &c->req : NULL;
    x->base = c->in.data;
    x->path = head_parsed ? http_span_str(c->in.data, c->req.path) : (struct str){"", 0};
    x->query = head_parsed ? http_span_str(c->in.data, c->req.query) : (struct str){"", 0};
    x->body = (struct str){"", 0};
    x->route = NULL;
    x->params.n = 0;
    x->shard = c->sh;
    x->srv = c->sh->srv;
    x->start_ns = clock_mono_ns();
    x->body_out = &c->resp;
    buf_reset(&c->resp);
    x->content_type = NULL;
    x->status = 0;
    x->style = route_style_for_path(x->path);
    x->replied = false;
    x->extra_len = 0;
    x->extra_headers[0] = 0;
    x->complete = NULL;
    x->owner = c;
    x->on_abort = NULL;
    x->abort_arg = NULL;
    x->ws_ops = NULL;
    x->ws_arg = NULL;
}

/* A reply produced by the connection itself (parse errors, timeouts): then close. */
static void reply_and_close(struct conn *c, int status, const char *msg)
{
    bool head_parsed = false;
    exchange_begin(c, head_parsed);
    http_reply_error(&c->x, status, msg);
    finish_exchange(c, head_parsed);
    if (c->state != CS_CLOSING)
        c->state = CS_WRITE_CLOSE;
}

static void conn_complete(struct http_exchange *x)
{
    struct conn *c = x->owner;
    if (c->in_handler)
        return; /* synchronous reply: dispatch() finishes it */
    c->handler_pending = false;
    x->on_abort = NULL;
    if (c->poll_inflight)
        loop_cancel(&c->sh->loop, &c->poll_op);
    if (c->state == CS_CLOSING) {
        maybe_free(c);
        return;
    }
    c->x.base = c->in.data;
    finish_exchange(c, true);
    if (c->state == CS_READ)
        conn_process(c);
    else
        conn_pump(c, false);
}

/* ---- dispatch ---------------------------------------------------------------------------------
 */

/* Decodes the body per Content-Encoding and route flags. Returns 0 or replies with an error. */
static int prepare_body(struct conn *c, const struct route *rt)
{
    struct http_exchange *x = &c->x;
    struct str raw = {(const char *)c->in.data + c->req.body_off, (size_t)c->req.body_len};
    uint64_t limit = rt->body_bytes_max ? rt->body_bytes_max : c->sh->limits.body_bytes_max;
    struct str ce = http_header(x, "content-encoding");
    unsigned coding = http_coding_parse(ce);
    if (coding == HTTP_CODING_IDENTITY) {
        if (raw.len > limit) {
            http_reply_error(x, 413, "request body too large");
            return -1;
        }
        x->body = raw;
        return 0;
    }
    if (coding == HTTP_CODING_UNKNOWN || !(rt->codings & coding)) {
        char msg[160];
        int n = ce.len > 64 ? 64 : (int)ce.len;
        if (rt->flags & ROUTE_CODING_400) { /* Loki's push: 400 with its wording */
            snprintf(msg, sizeof msg, "Content-Encoding \"%.*s\" not supported", n, ce.ptr);
            http_reply_error(x, 400, msg);
            return -1;
        }
        snprintf(msg, sizeof msg, "unsupported Content-Encoding: %.*s", n, ce.ptr);
        http_reply_error(x, 415, msg);
        return -1;
    }
    buf_reset(&c->decoded);
    int rc = http_decode_body(coding, raw.ptr, raw.len, limit, &c->decoded);
    if (rc) {
        char msg[96];
        snprintf(msg, sizeof msg, "cannot decode %s request body: %s", http_coding_name(coding),
                 rc == ERR_LIMIT ? "decoded body too large" : err_str(rc));
        http_reply_error(x, rc == ERR_LIMIT ? 413 : rc == ERR_NOMEM ? 500 : 400, msg);
        return -1;
    }
    x->body = (struct str){(const char *)c->decoded.data, c->decoded.len};
    return 0;
}

static void route_request(struct conn *c)
{
    struct http_exchange *x = &c->x;
    const struct route *rt = NULL;
    unsigned allow = 0;
    char hdr[96];
    switch (route_match(server_routes, server_routes_n, c->req.method, x->path, &rt, &x->params,
                        &allow)) {
    case ROUTE_NOT_FOUND: http_reply_error(x, 404, "not found"); return;
    case ROUTE_NOT_ALLOWED:
        route_allow_header(allow, hdr, sizeof hdr);
        http_add_header(x, "Allow", hdr);
        http_reply_error(x, 405, "method not allowed");
        return;
    case ROUTE_BAD_PARAM: http_reply_error(x, 400, "invalid path parameter"); return;
    case ROUTE_FOUND: break;
    }
    x->route = rt;
    x->style = rt->style;
    if (prepare_body(c, rt) != 0)
        return;
    x->complete = conn_complete;
    c->in_handler = true;
    rt->fn(x);
    c->in_handler = false;
}

/* A complete request: route it, run its handler, and finish unless the handler deferred. */
static void dispatch(struct conn *c)
{
    exchange_begin(c, true);
    route_request(c);
    if (!c->x.replied) {
        c->handler_pending = true;
        c->state = CS_HANDLER;
        arm_poll(c);
        return;
    }
    finish_exchange(c, true);
}

static void on_head(struct conn *c)
{
    if (c->req.expect_continue && !c->continue_sent) {
        c->continue_sent = true;
        if (http_resp_write_continue(&c->pending) != 0)
            conn_abort(c);
    }
}

static void ws_process(struct conn *c);

static void conn_process(struct conn *c)
{
    while (c->state == CS_READ && c->pending.len < OUT_HIGH_WATER) {
        int r = http_parse(&c->parser, c->in.data, c->in.len, &c->req);
        if (r == HTTP_PARSE_MORE) {
            c->in.len = http_parser_compact(&c->parser, c->in.data, c->in.len);
            break;
        }
        if (r == HTTP_PARSE_HEAD) {
            on_head(c);
            continue;
        }
        if (r == HTTP_PARSE_ERROR) {
            reply_and_close(c, c->parser.status, c->parser.reason);
            break;
        }
        dispatch(c);
    }
    if (c->state == CS_WS)
        ws_process(c); /* frames right behind the handshake, or newly received */
    conn_pump(c, true);
}

/* Sends what is queued, keeps a recv armed when more input is wanted, and sets the deadline. */
static void conn_pump(struct conn *c, bool progress)
{
    if (flush(c)) {
        begin_linger(c);
        return;
    }
    if (c->state == CS_CLOSING) {
        maybe_free(c);
        return;
    }
    arm_recv(c);
    if (c->state == CS_CLOSING || c->state == CS_LINGER)
        return;
    uint8_t tl = wanted_timer(c);
    set_timer(c, tl, progress && tl == CONN_TL_IDLE);
}

/* ---- entry points -----------------------------------------------------------------------------
 */

void conn_accept(struct shard *sh, int fd)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        loop_close(&sh->loop, fd);
        shard_conn_closed(sh);
        return;
    }
    c->sh = sh;
    c->fd = fd;
    c->state = CS_READ;
    c->recv_op.fn = on_recv;
    c->send_op.fn = on_send;
    c->poll_op.fn = on_poll;
    http_parser_init(&c->parser, &sh->limits);
    list_append(c, CONN_TL_NONE);
    set_timer(c, CONN_TL_HEADER, true);
    conn_pump(c, false);
}

static void on_timeout(struct conn *c, uint8_t tl)
{
    struct shard_metrics *m = c->sh->metrics;
    if (tl == CONN_TL_LINGER) {
        conn_abort(c);
        return;
    }
    metric_add(tl == CONN_TL_HEADER ? &m->header_timeouts : &m->idle_timeouts, 1);
    bool mid_request = c->state == CS_READ && http_parser_started(&c->parser, c->in.len);
    if (!mid_request || c->send_inflight) {
        conn_abort(c); /* idle, or the client stopped reading our output */
        return;
    }
    reply_and_close(
        c, 408, tl == CONN_TL_HEADER ? "request header read timeout" : "request body read timeout");
    conn_pump(c, false);
}

void conn_expire(struct shard *sh, int64_t now_ns)
{
    for (uint8_t tl = CONN_TL_HEADER; tl < CONN_TL_N; tl++) {
        struct conn *c;
        while ((c = sh->lists[tl].head) && c->deadline_ns <= now_ns) {
            on_timeout(c, tl);
            if (sh->lists[tl].head == c)
                set_timer(c, CONN_TL_NONE, false); /* never spin on the same head */
        }
    }
}

static void for_each_conn(struct shard *sh, void (*fn)(struct conn *c))
{
    /* fn may move or free the connection: collect first */
    uint32_t n = sh->nconns, k = 0;
    struct conn **all = n ? malloc(n * sizeof *all) : NULL;
    if (n && !all)
        return;
    for (uint8_t tl = 0; tl < CONN_TL_N; tl++)
        for (struct conn *c = sh->lists[tl].head; c && k < n; c = c->next)
            all[k++] = c;
    for (uint32_t i = 0; i < k; i++)
        fn(all[i]);
    free(all);
}

static void ws_send_close(struct conn *c, uint16_t code, const char *reason);

static void shutdown_one(struct conn *c)
{
    if (c->state == CS_WS) {
        ws_app_gone(c);
        ws_send_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
        return;
    }
    bool idle = c->state == CS_READ && !http_parser_started(&c->parser, c->in.len) &&
                !c->send_inflight && c->pending.len == 0 && c->out_off >= c->out.len;
    if (idle)
        conn_abort(c);
    /* others: keep_alive() is false from now on, so their current response closes them */
}

void conn_shutdown_all(struct shard *sh)
{
    for_each_conn(sh, shutdown_one);
}

void conn_abort_all(struct shard *sh)
{
    for_each_conn(sh, conn_abort);
}

/* ---- WebSocket ---------------------------------------------------------------------------------
 */

static void ws_app_gone(struct conn *c)
{
    if (!c->ws || c->ws_app_gone || !c->x.ws_ops)
        return;
    c->ws_app_gone = true;
    c->x.ws_ops->on_close(c->x.ws_arg);
}

/* Queues a close frame and ends the connection once it is sent. */
static void ws_send_close(struct conn *c, uint16_t code, const char *reason)
{
    if (c->state != CS_WS)
        return;
    uint8_t p[WS_CONTROL_PAYLOAD_MAX];
    size_t rn = reason ? strlen(reason) : 0;
    if (rn > sizeof p - 2)
        rn = sizeof p - 2;
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    if (rn)
        memcpy(p + 2, reason, rn);
    ws_uncount(c);
    if (ws_frame_write(&c->pending, WS_OP_CLOSE, true, p, code ? rn + 2 : 0) != 0) {
        c->state = CS_WRITE_CLOSE;
        conn_abort(c);
        return;
    }
    c->state = CS_WRITE_CLOSE;
    conn_pump(c, true);
}

/* One complete client frame, payload unmasked. */
static void ws_frame_in(struct conn *c, const struct ws_frame *f, const uint8_t *pl)
{
    size_t n = (size_t)f->payload_len;
    switch (f->opcode) {
    case WS_OP_PING:
        if (ws_frame_write(&c->pending, WS_OP_PONG, true, pl, n) != 0)
            conn_abort(c);
        return;
    case WS_OP_CLOSE: {
        int code = ws_close_code(pl, n);
        ws_app_gone(c);
        ws_send_close(c, code < 0 ? WS_CLOSE_PROTOCOL : (uint16_t)code, NULL);
        return;
    }
    default: return; /* pongs and data frames: Loki's tail reads nothing from its client */
    }
}

static void ws_process(struct conn *c)
{
    size_t off = 0;
    while (c->state == CS_WS && off < c->in.len) {
        struct ws_frame f;
        int64_t r = ws_frame_parse(c->in.data + off, c->in.len - off, true, WS_PAYLOAD_MAX, &f);
        if (r == 0)
            break;
        if (r < 0) {
            ws_app_gone(c);
            ws_send_close(c, r == ERR_LIMIT ? WS_CLOSE_TOO_BIG : WS_CLOSE_PROTOCOL, NULL);
            break;
        }
        uint8_t *pl = c->in.data + off + f.header_len;
        ws_mask(pl, (size_t)f.payload_len, f.mask, 0);
        ws_frame_in(c, &f, pl);
        off += (size_t)r;
    }
    if (c->state == CS_CLOSING || c->state == CS_LINGER)
        return;
    if (c->state != CS_WS)
        off = c->in.len; /* closing: the rest is dropped */
    memmove(c->in.data, c->in.data + off, c->in.len - off);
    c->in.len -= off;
}

static struct conn *ws_conn(struct http_ws *ws)
{
    return (struct conn *)(void *)ws;
}

int http_reply_websocket(struct http_exchange *x, const struct http_ws_ops *ops, void *arg,
                         struct http_ws **out, const char **why)
{
    const struct http_request *rq = x->req;
    *why = NULL;
    if (!rq || rq->method != HTTP_GET || rq->version_minor < 1)
        *why = "websocket: the upgrade request must be a GET over HTTP/1.1";
    else if (!ws_header_has_token(http_header(x, "upgrade"), "websocket"))
        *why = "websocket: the 'upgrade' token not found in 'Upgrade' header";
    else if (!ws_header_has_token(http_header(x, "connection"), "upgrade"))
        *why = "websocket: the 'upgrade' token not found in 'Connection' header";
    else if (!str_eq_cstr(http_header(x, "sec-websocket-version"), "13"))
        *why = "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header";
    else if (ws_accept_key(http_header(x, "sec-websocket-key"), x->ws_accept) != 0)
        *why = "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header is missing or "
               "blank";
    if (*why)
        return ERR_INVALID;
    x->ws_ops = ops;
    x->ws_arg = arg;
    *out = (struct http_ws *)(void *)x->owner;
    http_reply(x, 101, NULL);
    return 0;
}

int http_ws_send_text(struct http_ws *ws, const void *p, size_t n)
{
    struct conn *c = ws_conn(ws);
    if (c->state != CS_WS)
        return ERR_CLOSED;
    if (c->pending.len + (c->out.len - c->out_off) > HTTP_WS_QUEUE_MAX)
        return ERR_FULL;
    int rc = ws_frame_write(&c->pending, WS_OP_TEXT, true, p, n);
    if (rc)
        return rc;
    conn_pump(c, true);
    return 0;
}

void http_ws_close(struct http_ws *ws, uint16_t code, const char *reason)
{
    struct conn *c = ws_conn(ws);
    c->ws_app_gone = true;
    if (c->state == CS_WS)
        ws_send_close(c, code, reason);
}
