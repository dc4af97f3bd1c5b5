/* Incremental HTTP/1.x request parser (RFC 9112). Pure: no I/O, no allocation, no clocks, so it can
 * be unit-tested byte by byte and fuzzed.
 *
 * Model: the caller owns one byte buffer holding the current request from its first byte onwards
 * and appends bytes as they arrive (the buffer may move between calls; only offsets are kept). Each
 * http_parse() call resumes where the last one stopped, so a request split at any byte parses the
 * same as one delivered whole. The head is parsed in one pass once its terminating empty line is
 * present. Bodies: Content-Length bodies stay where they are; chunked bodies are de-chunked IN
 * PLACE (decoded bytes are moved down over the framing), so on HTTP_PARSE_DONE the decoded body is
 * contiguous at buf[req->body_off .. req->body_off + req->body_len). Bytes after
 * http_parser_consumed() belong to the next (pipelined) request.
 *
 * Errors carry the HTTP status to answer: 400 malformed, 413 body over the limit, 431 head over the
 * limits, 417 unknown expectation, 501 unsupported transfer coding, 505 unsupported version. After
 * an error the connection must be closed (framing is lost).
 *
 * Threading: a parser and its request belong to one thread. */
#ifndef STRATA_SERVER_HTTP_PARSER_H
#define STRATA_SERVER_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"

/* Methods are bits so route tables can hold a set of them. */
enum http_method {
    HTTP_GET = 1u << 0,
    HTTP_HEAD = 1u << 1,
    HTTP_POST = 1u << 2,
    HTTP_PUT = 1u << 3,
    HTTP_DELETE = 1u << 4,
    HTTP_OPTIONS = 1u << 5,
    HTTP_PATCH = 1u << 6,
    HTTP_METHOD_OTHER =
        1u << 7, /* a syntactically valid method we do not know (answered 405/501) */
};

/* Hard cap on the header array; the configurable limit (headers_max) must not exceed it. */
#define HTTP_HEADERS_CAP 128

struct http_limits {
    uint32_t head_bytes_max; /* request line + headers (+ trailers, counted separately) → 431 */
    uint32_t headers_max;    /* number of header fields → 431 (≤ HTTP_HEADERS_CAP) */
    uint64_t body_bytes_max; /* decoded request body → 413 */
};

/* A byte range relative to the start of the request in the caller's buffer. */
struct http_span {
    uint32_t off;
    uint32_t len;
};

struct http_header {
    struct http_span name;  /* as sent (compare case-insensitively) */
    struct http_span value; /* leading/trailing whitespace removed */
};

struct http_request {
    unsigned method; /* one enum http_method bit */
    struct http_span method_name;
    struct http_span target; /* request-target as sent */
    struct http_span
        path; /* origin-form path, still percent-encoded (absolute-form: the path part) */
    struct http_span query; /* after '?', without it; len 0 when absent */
    int version_minor;      /* HTTP/1.<minor>: 0 or 1 (1.2+ is treated as 1.1) */
    bool keep_alive;        /* from version and Connection */
    bool expect_continue;   /* Expect: 100-continue */
    bool chunked;           /* Transfer-Encoding: chunked */
    bool has_content_length;
    uint64_t content_length;
    uint32_t head_len; /* bytes of request line + headers incl. the empty line */
    uint32_t body_off; /* == head_len */
    uint64_t body_len; /* decoded length; valid at HTTP_PARSE_DONE */
    uint32_t nheaders;
    struct http_header headers[HTTP_HEADERS_CAP];
};

enum http_parse_result {
    HTTP_PARSE_MORE = 0, /* need more bytes */
    HTTP_PARSE_HEAD = 1, /* head parsed, body still incomplete (returned once; call again) */
    HTTP_PARSE_DONE = 2, /* whole request parsed */
    HTTP_PARSE_ERROR = 3 /* see parser.status / parser.reason */
};

struct http_parser {
    struct http_limits lim;
    uint8_t state;
    uint8_t chunk_digits;
    bool head_reported;
    uint32_t lead;      /* leading empty-line bytes skipped before the request line */
    uint64_t scan;      /* head terminator search resumes here */
    uint64_t rd;        /* raw bytes consumed so far */
    uint64_t wr;        /* decoded body bytes end (chunked compaction target) */
    uint64_t remaining; /* bytes left in the current chunk / Content-Length body */
    uint64_t chunk_size;
    uint32_t line_len;      /* bytes in the current chunk-size/extension or trailer line */
    uint32_t trailer_bytes; /* all trailer bytes so far */
    int status;             /* HTTP status for HTTP_PARSE_ERROR */
    const char *reason;     /* static text for HTTP_PARSE_ERROR */
};

void http_parser_init(struct http_parser *p, const struct http_limits *lim);
/* Prepares for the next request (keeps the limits). The caller drops the consumed bytes first. */
void http_parser_reset(struct http_parser *p);

/* Parses buf[0..len) (the current request onwards; bytes before `len` seen by an earlier call must
 * be unchanged, except that the parser itself rewrites chunked body bytes). Fills *req as it goes.
 */
enum http_parse_result http_parse(struct http_parser *p, uint8_t *buf, size_t len,
                                  struct http_request *req);

/* Raw bytes of the finished request (head + framed body); the next request starts there. */
static inline uint64_t http_parser_consumed(const struct http_parser *p)
{
    return p->rd;
}
/* Inside a chunked body, drops the framing bytes already decoded: moves the unparsed tail
 * buf[rd..len) down onto the end of the decoded body and returns the new buffer length (the caller
 * sets its length to it). Keeps memory bounded by the body limit whatever the chunk framing costs.
 * Returns len unchanged outside a chunked body. */
size_t http_parser_compact(struct http_parser *p, uint8_t *buf, size_t len);
/* True while the head is still incomplete. */
bool http_parser_in_head(const struct http_parser *p);

/* True once any byte of a request (other than skipped empty lines) has been seen. */
static inline bool http_parser_started(const struct http_parser *p, size_t len)
{
    return len > p->lead;
}

/* Resolves a span against the request's buffer. */
static inline struct str http_span_str(const uint8_t *base, struct http_span s)
{
    return (struct str){(const char *)base + s.off, s.len};
}

/* The first header named `name` (ASCII case-insensitive), or {NULL, 0} when absent. */
struct str http_request_header(const struct http_request *req, const uint8_t *base,
                               const char *name);
/* Method name for an enum bit ("GET"), or "OTHER". */
const char *http_method_name(unsigned method);
/* ASCII case-insensitive comparison of a str with a lower-case C string. */
bool http_str_ieq(struct str s, const char *lower);

#endif
