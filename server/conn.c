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
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "server/exchange.h"
#include "server/http/encoding.h"
#include "server/http/response.h"
#include "server/routes.h"
#include "server/server.h"
#include "server/shard.h"

#define READ_CHUNK       (16 * 1024)
#define OUT_HIGH_WATER   (256 * 1024)
#define IN_SHRINK_ABOVE  (64 * 1024)
#define LINGER_BYTES_MAX (1024 * 1024)
#define GZIP_MIN_BYTES   1024

enum conn_state { CS_READ, CS_HANDLER, CS_WRITE_CLOSE, CS_LINGER, CS_CLOSING };

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
    int fd;
    struct conn *dead_next;
    struct loop_op recv_op, send_op;
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
        c->handler_pending)
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

/* Immediate close: in-flight operations are kicked by shutdown(2) and complete with 0 or an error.
 */
static void conn_abort(struct conn *c)
{
    if (c->state == CS_CLOSING)
        return;
    c->state = CS_CLOSING;
    set_timer(c, CONN_TL_NONE, false);
    if (c->recv_inflight || c->send_inflight)
        shutdown(c->fd, SHUT_RDWR);
    maybe_free(c);
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
    } else if (c->state != CS_LINGER) {
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
    case CS_LINGER: conn_abort(c); return;
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
    if (c->state == CS_READ)
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

/* The handler replied: queue the response, account, and move to the next state. */
static void finish_exchange(struct conn *c, bool head_parsed)
{
    struct http_exchange *x = &c->x;
    bool keep = keep_alive(c, head_parsed);
    if (write_reply(c, x, keep) != 0) {
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

static void shutdown_one(struct conn *c)
{
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
