/* HTTP content codings: request bodies in gzip, deflate (zlib-wrapped, or raw as Go's flate sends)
 * and snappy (block format) are decoded with an output limit; responses are gzip-compressed with
 * libdeflate when the client accepts it. Pure apart from allocation.
 *
 * Errors: ERR_LIMIT when the decoded body would exceed max_bytes (answer 413), ERR_CORRUPT for
 * bytes that do not decode (answer 400), ERR_NOMEM. A decoder never writes past max_bytes of
 * output. Threading: a struct http_gzip (compressor state) belongs to one thread; the rest is
 * stateless. */
#ifndef STRATA_SERVER_HTTP_ENCODING_H
#define STRATA_SERVER_HTTP_ENCODING_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/str.h"

/* Content codings as bits (a route lists the ones it accepts). */
enum http_coding {
    HTTP_CODING_IDENTITY = 0,
    HTTP_CODING_GZIP = 1u << 0,
    HTTP_CODING_DEFLATE = 1u << 1,
    HTTP_CODING_SNAPPY = 1u << 2,
    HTTP_CODING_UNKNOWN = 1u << 7, /* anything else, or a list of several codings */
};

/* Maps a Content-Encoding header value (case-insensitive; absent/empty/"identity" → IDENTITY;
 * "x-gzip" → GZIP). Stacked codings ("gzip, snappy") are UNKNOWN: we decode one layer only. */
unsigned http_coding_parse(struct str value);
const char *http_coding_name(unsigned coding);

/* Appends the decoding of src[0..n) to out. IDENTITY copies. */
int http_decode_body(unsigned coding, const void *src, size_t n, size_t max_bytes, struct buf *out);

/* Does an Accept-Encoding value allow gzip? ("gzip", "x-gzip" or "*" with q > 0, and gzip not
 * refused with q=0.) */
bool http_accepts_gzip(struct str accept_encoding);

struct http_gzip;
/* level 1..12 (libdeflate); 0 picks 4. Returns NULL on allocation failure. */
struct http_gzip *http_gzip_create(int level);
void http_gzip_destroy(struct http_gzip *g);
/* Appends the gzip member for src[0..n) to out. Returns 0 or ERR_NOMEM. */
int http_gzip_compress(struct http_gzip *g, const void *src, size_t n, struct buf *out);

#endif
