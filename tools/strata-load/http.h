/* HTTP/1.1 client pieces for the load generator, pure (no I/O): target URL parsing, request heads,
 * URL encoding, and an incremental response parser that streams the body away (keeping only a
 * short snippet for error reports), so responses of any size need a bounded buffer.
 *
 * Response parser model: the caller keeps received bytes from the current position on and calls
 * ld_resp_feed with them; it returns how many bytes it consumed (the caller drops them). The head
 * is consumed only once complete (so 0 means "need more", and a head over LD_RESP_HEAD_MAX bytes
 * is an error); body bytes are consumed as they come. 1xx interim responses are skipped. Bodies:
 * none for 204/304; chunked; Content-Length; otherwise until the connection closes (ld_resp_eof).
 * Errors: ERR_CORRUPT for bytes that are not HTTP, ERR_LIMIT for an oversized head,
 * ERR_TRUNCATED from ld_resp_eof when the peer closed mid-response. */
#ifndef STRATA_TOOLS_LOAD_HTTP_H
#define STRATA_TOOLS_LOAD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define LD_RESP_HEAD_MAX (64 * 1024)
#define LD_SNIPPET_MAX   200

struct ld_url {
    char host[256];
    char port[8];
    char hostport[272]; /* the Host header */
    char path[1024];    /* base path without a trailing '/', may be empty */
};

/* http://host[:port][/path]; "host:port" alone is accepted too. https is ERR_UNSUPPORTED, anything
 * else ERR_INVALID. */
int ld_url_parse(const char *s, struct ld_url *u);

/* Appends "METHOD target HTTP/1.1\r\nHost: ..\r\nUser-Agent: ..\r\n" then each of hdrs[] ("K: V"
 * lines without CRLF). The caller ends the head. Returns 0 or ERR_NOMEM. */
int ld_http_head(struct buf *out, const char *method, const char *target, size_t target_len,
                 const struct ld_url *u, const char *const *hdrs, size_t n_hdrs);
/* Percent-encodes s for a query string component (RFC 3986 unreserved kept). */
int ld_urlenc(struct buf *out, const char *s, size_t n);

enum ld_resp_state {
    LD_RS_HEAD,
    LD_RS_LEN,
    LD_RS_CHUNK_SIZE,
    LD_RS_CHUNK_DATA,
    LD_RS_CHUNK_CRLF,
    LD_RS_TRAILER,
    LD_RS_CLOSE,
    LD_RS_DONE
};

struct ld_resp {
    enum ld_resp_state state;
    int status;
    bool keep_alive;
    int64_t retry_after_s;   /* -1: absent */
    int64_t retry_until_s;   /* Retry-After as an HTTP-date (Unix s); 0: absent */
    int64_t samples_written; /* X-Prometheus-Remote-Write-Samples-Written; -1: absent */
    uint64_t left;           /* body or chunk bytes still to come */
    uint64_t body_bytes;
    uint64_t bytes; /* all bytes consumed, heads included */
    uint64_t chunk_size;
    uint32_t chunk_digits;
    bool chunk_ext;
    uint32_t trailer_len; /* bytes of the current trailer line */
    size_t snippet_len;
    char snippet[LD_SNIPPET_MAX];
};

void ld_resp_init(struct ld_resp *r);
/* Consumes from p[0..n); returns bytes consumed (>= 0) or a negative error. r->state is
 * LD_RS_DONE once the response is complete (bytes after it are not consumed). */
long ld_resp_feed(struct ld_resp *r, const uint8_t *p, size_t n);
/* The peer closed: 0 when that completes the response, else ERR_TRUNCATED. */
int ld_resp_eof(struct ld_resp *r);

#endif
