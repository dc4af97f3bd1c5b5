/* Response head + body serialization and JSON string escaping. */
#include "server/http/response.h"

#include <stdio.h>
#include <string.h>

#include "base/error.h"

const char *http_status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

static bool body_forbidden(int status)
{
    return status < 200 || status == 204 || status == 304;
}

int http_resp_write(struct buf *out, const struct http_resp *r, const void *body, size_t n)
{
    size_t start = out->len;
    int rc = buf_printf(out, "HTTP/1.1 %d %s\r\n", r->status, http_status_reason(r->status));
    if (!rc && r->content_type)
        rc = buf_printf(out, "Content-Type: %s\r\n", r->content_type);
    if (!rc && r->content_encoding)
        rc = buf_printf(out, "Content-Encoding: %s\r\n", r->content_encoding);
    if (!rc && r->vary_accept_encoding)
        rc = buf_append_str(out, "Vary: Accept-Encoding\r\n");
    if (!rc && r->extra_headers)
        rc = buf_append_str(out, r->extra_headers);
    if (!rc && !r->keep_alive)
        rc = buf_append_str(out, "Connection: close\r\n");
    else if (!rc && r->version_minor == 0)
        rc = buf_append_str(out, "Connection: keep-alive\r\n");
    bool no_body = body_forbidden(r->status);
    if (!rc && !no_body)
        rc = buf_printf(out, "Content-Length: %zu\r\n", n);
    if (!rc)
        rc = buf_append(out, "\r\n", 2);
    if (!rc && !no_body && !r->head)
        rc = buf_append(out, body, n);
    if (rc)
        out->len = start;
    return rc;
}

int http_resp_write_continue(struct buf *out)
{
    return buf_append_str(out, "HTTP/1.1 100 Continue\r\n\r\n");
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    unsigned cp = c & (0xff >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int http_json_append_str(struct buf *out, const char *s, size_t n)
{
    size_t start = out->len;
    const unsigned char *u = (const unsigned char *)s;
    int rc = buf_append_u8(out, '"');
    for (size_t i = 0; i < n && !rc;) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rc = buf_append(out, esc, 2);
            i++;
        } else if (c < 0x20) {
            rc = c == '\n'   ? buf_append(out, "\\n", 2)
                 : c == '\t' ? buf_append(out, "\\t", 2)
                 : c == '\r' ? buf_append(out, "\\r", 2)
                             : buf_printf(out, "\\u%04x", c);
            i++;
        } else {
            size_t len = utf8_len(u + i, n - i);
            rc = len ? buf_append(out, u + i, len) : buf_append(out, "\xef\xbf\xbd", 3);
            i += len ? len : 1;
        }
    }
    if (!rc)
        rc = buf_append_u8(out, '"');
    if (rc)
        out->len = start;
    return rc;
}
