/* Response serialization (framing headers per status and version, HEAD, extra headers) and the
 * JSON string escaper (quotes, controls, invalid UTF-8 -> U+FFFD, valid multi-byte kept). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "server/http/response.h"

static void expect(const struct http_resp *r, const char *body, const char *want)
{
    struct buf b = BUF_INIT;
    assert_int_equal(http_resp_write(&b, r, body, body ? strlen(body) : 0), 0);
    if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
        fail_msg("got:\n%.*s\nwant:\n%s", (int)b.len, (const char *)b.data, want);
    buf_deinit(&b);
}

static void test_framing(void **state)
{
    (void)state;
    struct http_resp r = {
        .status = 200, .content_type = "text/plain", .version_minor = 1, .keep_alive = true};
    expect(&r, "ready\n",
           "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nready\n");
    r.head = true;
    expect(&r, "ready\n",
           "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\n");
    r.head = false;
    r.keep_alive = false;
    expect(&r, "x",
           "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: "
           "1\r\n\r\nx");
    r.keep_alive = true;
    r.version_minor = 0;
    expect(
        &r, "",
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\nContent-Length: "
        "0\r\n\r\n");
    struct http_resp nc = {.status = 204, .version_minor = 1, .keep_alive = true};
    expect(&nc, NULL, "HTTP/1.1 204 No Content\r\n\r\n");
    struct http_resp e = {.status = 405,
                          .content_type = "text/plain",
                          .extra_headers = "Allow: GET, HEAD\r\n",
                          .version_minor = 1,
                          .keep_alive = true,
                          .content_encoding = "gzip",
                          .vary_accept_encoding = true};
    expect(&e, "m",
           "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Encoding: "
           "gzip\r\nVary: Accept-Encoding\r\nAllow: GET, HEAD\r\nContent-Length: 1\r\n\r\nm");
    struct buf b = BUF_INIT;
    assert_int_equal(http_resp_write_continue(&b), 0);
    assert_int_equal(b.len, 25);
    assert_memory_equal(b.data, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    buf_deinit(&b);
}

static void test_reasons(void **state)
{
    (void)state;
    assert_string_equal(http_status_reason(413), "Content Too Large");
    assert_string_equal(http_status_reason(431), "Request Header Fields Too Large");
    assert_string_equal(http_status_reason(503), "Service Unavailable");
    assert_string_equal(http_status_reason(299), "Unknown");
}

static void expect_json(const char *in, size_t n, const char *want)
{
    struct buf b = BUF_INIT;
    assert_int_equal(http_json_append_str(&b, in, n), 0);
    if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
        fail_msg("got %.*s want %s", (int)b.len, (const char *)b.data, want);
    buf_deinit(&b);
}

static void test_json_escape(void **state)
{
    (void)state;
    expect_json("", 0, "\"\"");
    expect_json("plain", 5, "\"plain\"");
    expect_json("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    expect_json("l1\nl2\t\r", 7, "\"l1\\nl2\\t\\r\"");
    expect_json("\x01\x1f", 2, "\"\\u0001\\u001f\"");
    expect_json("a\0b", 3, "\"a\\u0000b\"");
    expect_json("\xe2\x82\xac \xf0\x9f\x98\x80", 8, "\"\xe2\x82\xac \xf0\x9f\x98\x80\"");
    expect_json("\xff", 1, "\"\xef\xbf\xbd\"");
    expect_json("\xc3", 1, "\"\xef\xbf\xbd\"");                 /* truncated sequence */
    expect_json("\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\""); /* overlong */
    expect_json("\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* surrogate */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_json_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
