/* HTTP/1.x request parser: every split point, byte-by-byte feeding, pipelining, chunked bodies with
 * extensions and trailers, malformed input -> 400, limits -> 413/431, and a randomized round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/parser.h"
#include "tests/unit/prop.h"

static const struct http_limits LIM = {
    .head_bytes_max = 8192, .headers_max = 64, .body_bytes_max = 1 << 20};

/* What a parsed request looks like, copied out of the buffer for comparison. */
struct parsed {
    int result;
    int status;
    unsigned method;
    char path[256];
    char query[256];
    int minor;
    bool keep_alive, expect_continue, chunked;
    uint32_t nheaders;
    uint8_t body[1 << 16];
    uint64_t body_len;
    uint64_t consumed;
};

static void copy_span(char *dst, size_t cap, const uint8_t *b, struct http_span s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    memcpy(dst, b + s.off, n);
    dst[n] = 0;
}

static void capture(struct parsed *o, int r, const struct http_parser *p, const uint8_t *b,
                    const struct http_request *req)
{
    memset(o, 0, sizeof *o);
    o->result = r;
    o->status = p->status;
    if (r != HTTP_PARSE_DONE)
        return;
    o->method = req->method;
    copy_span(o->path, sizeof o->path, b, req->path);
    copy_span(o->query, sizeof o->query, b, req->query);
    o->minor = req->version_minor;
    o->keep_alive = req->keep_alive;
    o->expect_continue = req->expect_continue;
    o->chunked = req->chunked;
    o->nheaders = req->nheaders;
    o->body_len = req->body_len;
    assert_true(req->body_len <= sizeof o->body);
    memcpy(o->body, b + req->body_off, req->body_len);
    o->consumed = http_parser_consumed(p);
}

/* Parses msg[0..n) delivered whole. */
static void parse_whole(const char *msg, size_t n, struct parsed *o)
{
    struct http_parser p;
    static struct http_request req;
    uint8_t *b = malloc(n + 1);
    memcpy(b, msg, n);
    http_parser_init(&p, &LIM);
    int r = http_parse(&p, b, n, &req);
    if (r == HTTP_PARSE_HEAD)
        r = http_parse(&p, b, n, &req);
    capture(o, r, &p, b, &req);
    free(b);
}

/* Delivers msg in pieces ending at the given cut points (ascending), as a socket would. */
static void parse_pieces(const char *msg, size_t n, const size_t *cuts, size_t ncuts,
                         struct parsed *o)
{
    struct http_parser p;
    static struct http_request req;
    uint8_t *b = malloc(n + 1);
    http_parser_init(&p, &LIM);
    size_t have = 0;
    int r = HTTP_PARSE_MORE;
    for (size_t i = 0; i <= ncuts && r != HTTP_PARSE_DONE && r != HTTP_PARSE_ERROR; i++) {
        size_t upto = i < ncuts ? cuts[i] : n;
        memcpy(b + have, msg + have, upto - have);
        have = upto;
        r = http_parse(&p, b, have, &req);
        if (r == HTTP_PARSE_HEAD)
            r = http_parse(&p, b, have, &req);
    }
    capture(o, r, &p, b, &req);
    free(b);
}

static void assert_same(const struct parsed *a, const struct parsed *b)
{
    assert_int_equal(a->result, b->result);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->method, b->method);
    assert_string_equal(a->path, b->path);
    assert_string_equal(a->query, b->query);
    assert_int_equal(a->minor, b->minor);
    assert_int_equal(a->keep_alive, b->keep_alive);
    assert_int_equal(a->nheaders, b->nheaders);
    assert_int_equal(a->body_len, b->body_len);
    assert_memory_equal(a->body, b->body, a->body_len);
    assert_int_equal(a->consumed, b->consumed);
}

static const char *const REQS[] = {
    "GET /api/v1/query?query=up&time=4 HTTP/1.1\r\nHost: a\r\nUser-Agent: Grafana/12.1\r\n"
    "Accept-Encoding: gzip\r\n\r\n",
    "POST /api/v1/query HTTP/1.1\r\nHost: localhost:9090\r\nContent-Type: "
    "application/x-www-form-urlencoded\r\nContent-Length: 24\r\n\r\nquery=1%2B1&time=4&x=a+b",
    "POST /loki/api/v1/push HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;name=val\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n",
    "GET /ready HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "\r\nGET /metrics HTTP/1.1\nHost: x\n\n",
    "POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Encoding: snappy\r\nContent-Type: "
    "application/x-protobuf\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\nExpect: "
    "100-continue\r\nContent-Length: 10\r\n\r\n\x0a\x08\x7f\x01\x02\x03\x04\x05\x06\x07",
};

static void test_every_split_point(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof REQS / sizeof REQS[0]; k++) {
        size_t n = strlen(REQS[k]);
        static struct parsed whole, split;
        parse_whole(REQS[k], n, &whole);
        assert_int_equal(whole.result, HTTP_PARSE_DONE);
        assert_int_equal(whole.consumed, n);
        for (size_t cut = 0; cut <= n; cut++) {
            parse_pieces(REQS[k], n, &cut, 1, &split);
            assert_same(&whole, &split);
        }
        for (size_t a = 1; a < n; a += 7) {
            for (size_t b = a; b < n; b += 5) {
                size_t cuts[2] = {a, b};
                parse_pieces(REQS[k], n, cuts, 2, &split);
                assert_same(&whole, &split);
            }
        }
    }
}

static void test_byte_by_byte(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof REQS / sizeof REQS[0]; k++) {
        size_t n = strlen(REQS[k]);
        static struct parsed whole, split;
        parse_whole(REQS[k], n, &whole);
        size_t *cuts = malloc(n * sizeof *cuts);
        for (size_t i = 0; i < n; i++)
            cuts[i] = i;
        parse_pieces(REQS[k], n, cuts, n, &split);
        assert_same(&whole, &split);
        free(cuts);
    }
}

static void test_fields(void **state)
{
    (void)state;
    static struct parsed o;
    parse_whole(REQS[0], strlen(REQS[0]), &o);
    assert_int_equal(o.method, HTTP_GET);
    assert_string_equal(o.path, "/api/v1/query");
    assert_string_equal(o.query, "query=up&time=4");
    assert_true(o.keep_alive);
    assert_int_equal(o.minor, 1);
    assert_int_equal(o.nheaders, 3);

    parse_whole(REQS[1], strlen(REQS[1]), &o);
    assert_int_equal(o.method, HTTP_POST);
    assert_int_equal(o.body_len, 24);
    assert_memory_equal(o.body, "query=1%2B1&time=4&x=a+b", 24);

    parse_whole(REQS[2], strlen(REQS[2]), &o);
    assert_true(o.chunked);
    assert_int_equal(o.body_len, 16);
    assert_memory_equal(o.body, "hello 0123456789", 16);

    parse_whole(REQS[3], strlen(REQS[3]), &o);
    assert_int_equal(o.minor, 0);
    assert_true(o.keep_alive);
    const char *c10 = "GET / HTTP/1.0\r\n\r\n";
    parse_whole(c10, strlen(c10), &o);
    assert_int_equal(o.result, HTTP_PARSE_DONE);
    assert_false(o.keep_alive);
    const char *c11 = "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, Close\r\n\r\n";
    parse_whole(c11, strlen(c11), &o);
    assert_false(o.keep_alive);

    parse_whole(REQS[4], strlen(REQS[4]), &o);
    assert_string_equal(o.path, "/metrics");

    const char *abs = "GET http://example.com:9090/api/v1/labels?match[]=up#frag HTTP/1.1\r\n"
                      "Host: example.com\r\n\r\n";
    parse_whole(abs, strlen(abs), &o);
    assert_int_equal(o.result, HTTP_PARSE_DONE);
    assert_string_equal(o.path, "/api/v1/labels");
    assert_string_equal(o.query, "match[]=up");
}

static void test_header_lookup(void **state)
{
    (void)state;
    const char *m = "GET / HTTP/1.1\r\nHost: a\r\nX-Scope-OrgID:   tenant-1  \r\nEmpty:\r\n\r\n";
    uint8_t b[256];
    size_t n = strlen(m);
    memcpy(b, m, n);
    struct http_parser p;
    static struct http_request req;
    http_parser_init(&p, &LIM);
    assert_int_equal(http_parse(&p, b, n, &req), HTTP_PARSE_DONE);
    struct str v = http_request_header(&req, b, "x-scope-orgid");
    assert_int_equal(v.len, 8);
    assert_memory_equal(v.ptr, "tenant-1", 8);
    v = http_request_header(&req, b, "empty");
    assert_non_null(v.ptr);
    assert_int_equal(v.len, 0);
    v = http_request_header(&req, b, "absent");
    assert_null(v.ptr);
    assert_string_equal(http_method_name(HTTP_DELETE), "DELETE");
}

static void test_pipelined(void **state)
{
    (void)state;
    char all[2048] = "";
    for (size_t k = 0; k < 4; k++)
        strcat(all, REQS[k]);
    size_t n = strlen(all);
    uint8_t *b = malloc(n);
    memcpy(b, all, n);
    struct http_parser p;
    static struct http_request req;
    http_parser_init(&p, &LIM);
    size_t off = 0;
    for (size_t k = 0; k < 4; k++) {
        int r = http_parse(&p, b + off, n - off, &req);
        assert_int_equal(r, HTTP_PARSE_DONE);
        assert_int_equal(http_parser_consumed(&p), strlen(REQS[k]));
        off += http_parser_consumed(&p);
        http_parser_reset(&p);
    }
    assert_int_equal(off, n);
    assert_int_equal(http_parse(&p, b + off, 0, &req), HTTP_PARSE_MORE);
    free(b);
}

static void test_expect_continue_reports_head(void **state)
{
    (void)state;
    const char *m =
        "POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n";
    uint8_t b[256];
    size_t n = strlen(m);
    memcpy(b, m, n);
    memcpy(b + n, "abcde", 5);
    struct http_parser p;
    static struct http_request req;
    http_parser_init(&p, &LIM);
    assert_int_equal(http_parse(&p, b, n, &req), HTTP_PARSE_HEAD);
    assert_true(req.expect_continue);
    assert_int_equal(req.content_length, 5);
    assert_int_equal(http_parse(&p, b, n + 2, &req), HTTP_PARSE_MORE);
    assert_int_equal(http_parse(&p, b, n + 5, &req), HTTP_PARSE_DONE);
    assert_int_equal(req.body_len, 5);
    /* HTTP/1.0 ignores the expectation. */
    const char *m10 = "POST /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n";
    n = strlen(m10);
    memcpy(b, m10, n);
    http_parser_init(&p, &LIM);
    assert_int_equal(http_parse(&p, b, n, &req), HTTP_PARSE_HEAD);
    assert_false(req.expect_continue);
}

struct bad {
    const char *msg;
    int status;
};

static const struct bad BAD[] = {
    {"GARBAGE\r\n\r\n", 400},
    {"GET\r\n\r\n", 400},
    {"GET /\r\n\r\n", 400},
    {"GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n", 400},
    {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET / http/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
    {"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505},
    {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET relative HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET ftp://x/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET http://x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n\r\n", 400},                       /* no Host in 1.1 */
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400}, /* two Hosts */
    {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},           /* space before colon */
    {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400}, /* obs-fold */
    {"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\n: empty-name\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
    {"GET / HTTP/1.1\rHost: a\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", 417},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\rX", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\rX", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1234567890abcdef0\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\rX", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n:bad\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;\x01\r\n", 400},
};

static void test_malformed(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof BAD / sizeof BAD[0]; k++) {
        static struct parsed o;
        size_t n = strlen(BAD[k].msg);
        parse_whole(BAD[k].msg, n, &o);
        if (o.result != HTTP_PARSE_ERROR || o.status != BAD[k].status)
            fail_msg("case %zu: result %d status %d, want status %d: %s", k, o.result, o.status,
                     BAD[k].status, BAD[k].msg);
        /* and byte by byte: the same verdict */
        size_t *cuts = malloc((n + 1) * sizeof *cuts);
        for (size_t i = 0; i < n; i++)
            cuts[i] = i;
        static struct parsed s;
        parse_pieces(BAD[k].msg, n, cuts, n, &s);
        free(cuts);
        assert_int_equal(s.result, HTTP_PARSE_ERROR);
        assert_int_equal(s.status, BAD[k].status);
    }
}

static void test_nul_in_header_value(void **state)
{
    (void)state;
    static const char m[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
    static struct parsed o;
    parse_whole(m, sizeof m - 1, &o);
    assert_int_equal(o.result, HTTP_PARSE_ERROR);
    assert_int_equal(o.status, 400);
}

static void test_error_is_sticky(void **state)
{
    (void)state;
    uint8_t b[64];
    memcpy(b, "BAD LINE\r\n\r\n", 12);
    struct http_parser p;
    static struct http_request req;
    http_parser_init(&p, &LIM);
    assert_int_equal(http_parse(&p, b, 12, &req), HTTP_PARSE_ERROR);
    assert_int_equal(http_parse(&p, b, 12, &req), HTTP_PARSE_ERROR);
    assert_non_null(p.reason);
}

static void test_head_limits(void **state)
{
    (void)state;
    struct http_limits lim = {.head_bytes_max = 100, .headers_max = 4, .body_bytes_max = 10};
    struct http_parser p;
    static struct http_request req;
    uint8_t b[4096];
    /* a head of exactly the limit passes, one byte more is 431 */
    char m[256];
    const char *pre = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
    size_t fill = 100 - strlen(pre) - 4;
    snprintf(m, sizeof m, "%s%.*s\r\n\r\n", pre, (int)fill,
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_int_equal(strlen(m), 100);
    memcpy(b, m, 100);
    http_parser_init(&p, &lim);
    assert_int_equal(http_parse(&p, b, 100, &req), HTTP_PARSE_DONE);
    snprintf(m, sizeof m, "%s%.*sb\r\n\r\n", pre, (int)fill,
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    memcpy(b, m, 101);
    http_parser_init(&p, &lim);
    assert_int_equal(http_parse(&p, b, 101, &req), HTTP_PARSE_ERROR);
    assert_int_equal(p.status, 431);
    /* an unterminated head longer than the limit: 431 before the terminator arrives */
    memset(b, 'a', sizeof b);
    memcpy(b, "GET /", 5);
    http_parser_init(&p, &lim);
    assert_int_equal(http_parse(&p, b, 100, &req), HTTP_PARSE_MORE);
    assert_int_equal(http_parse(&p, b, 101, &req), HTTP_PARSE_ERROR);
    assert_int_equal(p.status, 431);
    /* too many header fields */
    const char *many = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n";
    memcpy(b, many, strlen(many));
    http_parser_init(&p, &lim);
    assert_int_equal(http_parse(&p, b, strlen(many), &req), HTTP_PARSE_ERROR);
    assert_int_equal(p.status, 431);
}

static void test_body_limits(void **state)
{
    (void)state;
    struct http_limits lim = {.head_bytes_max = 1000, .headers_max = 10, .body_bytes_max = 10};
    struct http_parser p;
    static struct http_request req;
    uint8_t b[512];
    const char *cl_ok = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789";
    memcpy(b, cl_ok, strlen(cl_ok));
    http_parser_init(&p, &lim);
    assert_int_equal(http_parse(&p, b, strlen(cl_ok), &req), HTTP_PARSE_DONE);
    const char *cl_big = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n";
    memcpy(b, cl_big, strlen(cl_big));
    http_parser_init(&p, &lim);
    assert_int_equal(http_parse(&p, b, strlen(cl_big), &req), HTTP_PARSE_ERROR);
    assert_int_equal(p.status, 413);
    const char *ch_ok = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n";
    memcpy(b, ch_ok, strlen(ch_ok));
    http_parser_init(&p, &lim);
    assert_int_equal(http_parse(&p, b, strlen(ch_ok), &req), HTTP_PARSE_DONE);
    assert_int_equal(req.body_len, 10);
    const char *ch_big = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5\r\n01234\r\n6\r\n";
    memcpy(b, ch_big, strlen(ch_big));
    http_parser_init(&p, &lim);
    assert_int_equal(http_parse(&p, b, strlen(ch_big), &req), HTTP_PARSE_ERROR);
    assert_int_equal(p.status, 413);
    /* trailers larger than the head limit */
    struct http_limits small = {.head_bytes_max = 64, .headers_max = 10, .body_bytes_max = 10};
    char m[512];
    int n = snprintf(m, sizeof m,
                     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
                     "X: %070d\r\n\r\n",
                     0);
    memcpy(b, m, (size_t)n);
    http_parser_init(&p, &small);
    assert_int_equal(http_parse(&p, b, (size_t)n, &req), HTTP_PARSE_ERROR);
    assert_int_equal(p.status, 431);
}

/* Random requests with random headers and bodies (Content-Length or chunked with random chunking,
 * extensions and trailers), delivered at random cut points, several pipelined in one stream. */
static size_t gen_request(struct prop *pr, char *out, size_t cap, uint8_t *body, size_t *body_len)
{
    size_t o = 0;
    bool chunked = prop_next(pr) & 1;
    *body_len = prop_next(pr) % 300;
    for (size_t i = 0; i < *body_len; i++)
        body[i] = (uint8_t)prop_next(pr);
    o += (size_t)snprintf(out + o, cap - o, "POST /p%u?k=%u HTTP/1.1\r\nHost: h\r\n",
                          (unsigned)(prop_next(pr) % 100), (unsigned)(prop_next(pr) % 100));
    for (unsigned h = prop_next(pr) % 5; h > 0; h--)
        o +=
            (size_t)snprintf(out + o, cap - o, "X-H%u: %*s\r\n", h, (int)(prop_next(pr) % 20), "v");
    if (!chunked) {
        o += (size_t)snprintf(out + o, cap - o, "Content-Length: %zu\r\n\r\n", *body_len);
        memcpy(out + o, body, *body_len);
        return o + *body_len;
    }
    o += (size_t)snprintf(out + o, cap - o, "Transfer-Encoding: chunked\r\n\r\n");
    for (size_t i = 0; i < *body_len;) {
        size_t c = 1 + prop_next(pr) % 64;
        if (c > *body_len - i)
            c = *body_len - i;
        o += (size_t)snprintf(out + o, cap - o, (prop_next(pr) & 3) ? "%zx\r\n" : "%zX;e=1\r\n", c);
        memcpy(out + o, body + i, c);
        o += c;
        o += (size_t)snprintf(out + o, cap - o, "\r\n");
        i += c;
    }
    o +=
        (size_t)snprintf(out + o, cap - o, (prop_next(pr) & 1) ? "0\r\n\r\n" : "0\r\nT: 1\r\n\r\n");
    return o;
}

static void test_random_pipelined_streams(void **state)
{
    (void)state;
    struct prop pr = prop_begin("http_random_pipelined");
    enum { NREQ = 4 };
    static char stream[NREQ * 2048];
    static uint8_t bodies[NREQ][512];
    size_t body_lens[NREQ], req_lens[NREQ];
    static struct http_request req;
    for (int iter = 0; iter < 300; iter++) {
        size_t n = 0;
        for (int k = 0; k < NREQ; k++) {
            req_lens[k] = gen_request(&pr, stream + n, sizeof stream - n, bodies[k], &body_lens[k]);
            n += req_lens[k];
        }
        /* deliver at random cut points into a growing buffer */
        uint8_t *b = malloc(n);
        size_t have = 0, start = 0;
        int k = 0;
        struct http_parser p;
        http_parser_init(&p, &LIM);
        while (k < NREQ) {
            size_t step = 1 + prop_next(&pr) % 97;
            size_t upto = have + step > n ? n : have + step;
            memcpy(b + have, stream + have, upto - have);
            have = upto;
            int r;
            while (k < NREQ &&
                   (r = http_parse(&p, b + start, have - start, &req)) != HTTP_PARSE_MORE) {
                if (r == HTTP_PARSE_HEAD)
                    continue;
                prop_check(&pr, r == HTTP_PARSE_DONE);
                prop_check(&pr, req.body_len == body_lens[k]);
                prop_check(&pr, memcmp(b + start + req.body_off, bodies[k], body_lens[k]) == 0);
                prop_check(&pr, http_parser_consumed(&p) == req_lens[k]);
                start += http_parser_consumed(&p);
                http_parser_reset(&p);
                k++;
            }
            prop_check(&pr, have < n || k == NREQ);
        }
        free(b);
    }
}

/* Random bytes never crash and errors always carry a status. */
static void test_random_garbage(void **state)
{
    (void)state;
    struct prop pr = prop_begin("http_random_garbage");
    static uint8_t b[512];
    static struct http_request req;
    const char *alphabet = "GET POST/ HTTP/1.1\r\n:ab0;Content-Length: 5Transfer-Encoding: chunked";
    size_t an = strlen(alphabet);
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = prop_next(&pr) % sizeof b;
        for (size_t i = 0; i < n; i++)
            b[i] = (prop_next(&pr) & 3) ? (uint8_t)alphabet[prop_next(&pr) % an]
                                        : (uint8_t)prop_next(&pr);
        struct http_parser p;
        http_parser_init(&p, &LIM);
        int r = http_parse(&p, b, n, &req);
        if (r == HTTP_PARSE_ERROR)
            prop_check(&pr, p.status >= 400 && p.status < 600 && p.reason != NULL);
        if (r == HTTP_PARSE_DONE)
            prop_check(&pr, http_parser_consumed(&p) <= n);
    }
}

/* Compaction between deliveries keeps the decoded body intact and the buffer small. */
static void test_compact_chunked(void **state)
{
    (void)state;
    static char msg[16384];
    size_t n = (size_t)snprintf(msg, sizeof msg,
                                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    char body[200];
    for (int i = 0; i < 200; i++) {
        body[i] = (char)('a' + i % 26);
        n += (size_t)snprintf(msg + n, sizeof msg - n, "1;ext=%030d\r\n%c\r\n", i, body[i]);
    }
    n +=
        (size_t)snprintf(msg + n, sizeof msg - n, "0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    uint8_t *b = malloc(n);
    size_t have = 0, src = 0, max_have = 0;
    struct http_parser p;
    static struct http_request req;
    http_parser_init(&p, &LIM);
    int r = HTTP_PARSE_MORE;
    while (r != HTTP_PARSE_DONE) {
        size_t step = src + 37 > n ? n - src : 37;
        memcpy(b + have, msg + src, step);
        have += step;
        src += step;
        r = http_parse(&p, b, have, &req);
        assert_int_not_equal(r, HTTP_PARSE_ERROR);
        have = http_parser_compact(&p, b, have);
        if (have > max_have)
            max_have = have;
    }
    assert_int_equal(req.body_len, 200);
    assert_memory_equal(b + req.body_off, body, 200);
    assert_true(max_have < req.head_len + 200 + 80);
    /* the pipelined request after the body survived compaction */
    memcpy(b + have, msg + src, n - src);
    have += n - src;
    size_t next = http_parser_consumed(&p);
    http_parser_reset(&p);
    assert_int_equal(http_parse(&p, b + next, have - next, &req), HTTP_PARSE_DONE);
    assert_int_equal(req.path.len, 5);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split_point),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_header_lookup),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_expect_continue_reports_head),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_nul_in_header_value),
        cmocka_unit_test(test_error_is_sticky),
        cmocka_unit_test(test_head_limits),
        cmocka_unit_test(test_body_limits),
        cmocka_unit_test(test_random_pipelined_streams),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_compact_chunked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
