/* strata-load HTTP client pieces: target URLs, request heads (checked with the server's own request
 * parser), URL encoding, and the response parser on golden answers fed whole and split at every
 * byte (Content-Length, chunked with extensions and trailers, 1xx, 204, until-close, Retry-After in
 * seconds and as a date) and on malformed answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/error.h"
#include "server/http/parser.h"
#include "tools/strata-load/http.c"

static void test_url(void **state)
{
    struct ld_url u;
    assert_int_equal(ld_url_parse("http://127.0.0.1:9090", &u), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_string_equal(u.port, "9090");
    assert_string_equal(u.hostport, "127.0.0.1:9090");
    assert_string_equal(u.path, "");
    assert_int_equal(ld_url_parse("http://loki.local/prefix/", &u), 0);
    assert_string_equal(u.port, "80");
    assert_string_equal(u.path, "/prefix");
    assert_int_equal(ld_url_parse("localhost:3100", &u), 0);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(ld_url_parse("http://[::1]:9090/x", &u), 0);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.hostport, "[::1]:9090");
    assert_int_equal(ld_url_parse("https://a:1", &u), ERR_UNSUPPORTED);
    assert_int_equal(ld_url_parse("ftp://a:1", &u), ERR_INVALID);
    assert_int_equal(ld_url_parse("http://a:0", &u), ERR_INVALID);
    assert_int_equal(ld_url_parse("http://a:99999", &u), ERR_INVALID);
    assert_int_equal(ld_url_parse("http://:80", &u), ERR_INVALID);
    assert_int_equal(ld_url_parse("http://a:x1", &u), ERR_INVALID);
}

static void test_request_head_parses(void **state)
{
    struct ld_url u;
    assert_int_equal(ld_url_parse("http://127.0.0.1:9090", &u), 0);
    struct buf b = BUF_INIT;
    const char *hdrs[] = {"X-Scope-OrgID: tenant-1", "Content-Type: application/x-protobuf"};
    assert_int_equal(ld_http_head(&b, "POST", "/api/v1/write", 13, &u, hdrs, 2), 0);
    assert_int_equal(buf_printf(&b, "Content-Length: 3\r\n\r\nabc"), 0);
    struct http_request req;
    struct http_parser p;
    memset(&req, 0, sizeof req);
    struct http_limits lim = {8192, 64, 1 << 20};
    http_parser_init(&p, &lim);
    static struct http_request req_;
    enum http_parse_result pr = http_parse(&p, b.data, b.len, &req_);
    if (pr == HTTP_PARSE_HEAD)
        pr = http_parse(&p, b.data, b.len, &req_);
    assert_int_equal(pr, HTTP_PARSE_DONE);
    req = req_;
    assert_int_equal(req.method, HTTP_POST);
    assert_int_equal(req.body_len, 3);
    assert_true(req.keep_alive);
    assert_int_equal(req.path.len, 13);
    assert_memory_equal(b.data + req.path.off, "/api/v1/write", 13);
    assert_non_null(strstr((char *)b.data, "\r\nHost: 127.0.0.1:9090\r\n"));
    assert_non_null(strstr((char *)b.data, "\r\nX-Scope-OrgID: tenant-1\r\n"));
    assert_non_null(strstr((char *)b.data, "\r\nUser-Agent: strata-load/"));
    buf_deinit(&b);
}

static void test_urlenc(void **state)
{
    struct buf b = BUF_INIT;
    const char *q = "sum(rate(x{a=\"b c\"}[5m])) / 2 & ~ok_-.";
    assert_int_equal(ld_urlenc(&b, q, strlen(q)), 0);
    buf_cstr(&b);
    assert_string_equal((char *)b.data,
                        "sum%28rate%28x%7Ba%3D%22b%20c%22%7D%5B5m%5D%29%29%20%2F%202%"
                        "20%26%20~ok_-.");
    buf_deinit(&b);
}

struct golden {
    const char *bytes;
    int status;
    bool keep_alive;
    uint64_t body;
    int64_t retry_after;
    const char *snippet;
    bool needs_eof;
};

/* Feeds the response split into two parts at `cut`, as a client would with a growing buffer. */
static void feed_split(const struct golden *g, size_t cut)
{
    size_t n = strlen(g->bytes);
    struct ld_resp r;
    ld_resp_init(&r);
    uint8_t buf[1024];
    size_t have = 0, got = 0;
    const size_t parts[2] = {cut, n - cut};
    for (int i = 0; i < 2; i++) {
        memcpy(buf + have, g->bytes + got, parts[i]);
        have += parts[i];
        got += parts[i];
        long used = ld_resp_feed(&r, buf, have);
        assert_true(used >= 0);
        memmove(buf, buf + used, have - (size_t)used);
        have -= (size_t)used;
    }
    if (g->needs_eof) {
        assert_int_not_equal(r.state, LD_RS_DONE);
        assert_int_equal(ld_resp_eof(&r), 0);
    }
    assert_int_equal(r.state, LD_RS_DONE);
    assert_int_equal(have, 0);
    assert_int_equal(r.status, g->status);
    assert_int_equal(r.keep_alive, g->keep_alive);
    assert_int_equal(r.body_bytes, g->body);
    assert_int_equal(r.retry_after_s, g->retry_after);
    assert_int_equal(r.bytes, n);
    assert_int_equal(r.snippet_len, strlen(g->snippet));
    assert_memory_equal(r.snippet, g->snippet, r.snippet_len);
}

static void test_golden_responses(void **state)
{
    const struct golden gs[] = {
        {"HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n", 204, true, 0, -1, "", false},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, true, 5, -1, "hello", false},
        {"HTTP/1.1 404 Not Found\r\ncontent-length:  9 \r\nConnection: close\r\n\r\nnot found", 404,
         false, 9, -1, "not found", false},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nwiki\r\n5\r\npedia\r\n"
         "0\r\nX-Trailer: y\r\n\r\n",
         200, true, 9, -1, "wikipedia", false},
        {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n"
         "Content-Length: 2\r\n\r\nno",
         429, true, 2, 7, "no", false},
        {"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 120\r\n\r\nbusy", 503, false, 4, 120,
         "busy", true},
        {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 200, true, 0, -1,
         "", false},
        {"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 304, true, 0, -1, "", false},
    };
    for (size_t i = 0; i < sizeof gs / sizeof gs[0]; i++)
        for (size_t cut = 0; cut <= strlen(gs[i].bytes); cut++)
            feed_split(&gs[i], cut);
}

static void test_retry_after_date_and_snippet_cap(void **state)
{
    struct ld_resp r;
    ld_resp_init(&r);
    const char *h = "HTTP/1.1 503 x\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
                    "Content-Length: 1000\r\n\r\n";
    assert_int_equal(ld_resp_feed(&r, (const uint8_t *)h, strlen(h)), (long)strlen(h));
    assert_int_equal(r.retry_until_s, 1445412480);
    assert_int_equal(r.samples_written, -1);
    assert_int_equal(r.retry_after_s, -1);
    uint8_t body[1000];
    memset(body, 'x', sizeof body);
    assert_int_equal(ld_resp_feed(&r, body, 600), 600);
    assert_int_equal(ld_resp_feed(&r, body, 1000), 400); /* stops at the end of the response */
    assert_int_equal(r.state, LD_RS_DONE);
    assert_int_equal(r.body_bytes, 1000);
    assert_int_equal(r.snippet_len, LD_SNIPPET_MAX);
}

static void test_written_headers(void **state)
{
    struct ld_resp r;
    ld_resp_init(&r);
    const char *h = "HTTP/1.1 204 No Content\r\nX-Prometheus-Remote-Write-Samples-Written: 2000\r\n"
                    "X-Prometheus-Remote-Write-Histograms-Written: 0\r\n\r\n";
    assert_int_equal(ld_resp_feed(&r, (const uint8_t *)h, strlen(h)), (long)strlen(h));
    assert_int_equal(r.state, LD_RS_DONE);
    assert_int_equal(r.samples_written, 2000);
}

static void test_malformed(void **state)
{
    const char *bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTX/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXY",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "HTTP/1.1 099 Odd\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ld_resp r;
        ld_resp_init(&r);
        long rc = ld_resp_feed(&r, (const uint8_t *)bad[i], strlen(bad[i]));
        if (rc >= 0)
            fail_msg("accepted malformed response %zu", i);
        assert_int_equal(rc, ERR_CORRUPT);
    }
    /* a head that never ends */
    static uint8_t big[LD_RESP_HEAD_MAX + 10];
    memset(big, 'a', sizeof big);
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    struct ld_resp r;
    ld_resp_init(&r);
    assert_int_equal(ld_resp_feed(&r, big, 100), 0); /* need more */
    assert_int_equal(ld_resp_feed(&r, big, sizeof big), ERR_LIMIT);
    /* the peer closes mid-body */
    ld_resp_init(&r);
    const char *part = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    assert_true(ld_resp_feed(&r, (const uint8_t *)part, strlen(part)) > 0);
    assert_int_equal(ld_resp_eof(&r), ERR_TRUNCATED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_request_head_parses),
        cmocka_unit_test(test_urlenc),
        cmocka_unit_test(test_golden_responses),
        cmocka_unit_test(test_retry_after_date_and_snippet_cap),
        cmocka_unit_test(test_written_headers),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
