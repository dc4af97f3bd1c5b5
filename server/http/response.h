/* HTTP/1.1 response serialization: status line, framing headers (Content-Length always; none for
 * 1xx/204/304), Connection for keep-alive/close in 1.0 and 1.1, optional Content-Encoding and extra
 * headers, then the body unless the request was HEAD. Also the small JSON string escaper the error
 * envelopes need. Pure: appends bytes to a struct buf.
 *
 * Errors: 0 or ERR_NOMEM (the buffer is left as it was on failure). */
#ifndef STRATA_SERVER_HTTP_RESPONSE_H
#define STRATA_SERVER_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

struct http_resp {
    int status;
    const char *content_type;     /* NULL: no Content-Type */
    const char *content_encoding; /* NULL: identity */
    const char *extra_headers;    /* NULL, or complete lines "Name: value\r\n..." */
    int version_minor;            /* of the request: 1.0 clients need "Connection: keep-alive" */
    bool keep_alive;              /* false: "Connection: close" */
    bool head;                    /* HEAD request: headers only, Content-Length of the body */
    bool vary_accept_encoding;    /* add "Vary: Accept-Encoding" (body may be gzip for others) */
};

/* Appends the response (head and, unless r->head, body[0..n)). */
int http_resp_write(struct buf *out, const struct http_resp *r, const void *body, size_t n);
/* "HTTP/1.1 100 Continue\r\n\r\n" */
int http_resp_write_continue(struct buf *out);
/* Reason phrase of a status code ("Not Found"); "Unknown" for codes we do not use. */
const char *http_status_reason(int status);
/* Appends s[0..n) as a JSON string with quotes (control characters, '"' and '\\' escaped; bytes
 * that are not valid UTF-8 become U+FFFD). */
int http_json_append_str(struct buf *out, const char *s, size_t n);

#endif
