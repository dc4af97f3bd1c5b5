/* Content-coding decoders (zlib inflate for gzip/deflate, snappy-c) with output limits, the
 * Accept-Encoding check, and a libdeflate gzip compressor for responses. */
#include "server/http/encoding.h"

#include <libdeflate.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/error.h"
#include "server/http/parser.h"

#define INFLATE_STEP (64 * 1024)

unsigned http_coding_parse(struct str v)
{
    if (v.len == 0 || http_str_ieq(v, "identity"))
        return HTTP_CODING_IDENTITY;
    if (http_str_ieq(v, "gzip") || http_str_ieq(v, "x-gzip"))
        return HTTP_CODING_GZIP;
    if (http_str_ieq(v, "deflate"))
        return HTTP_CODING_DEFLATE;
    if (http_str_ieq(v, "snappy"))
        return HTTP_CODING_SNAPPY;
    return HTTP_CODING_UNKNOWN;
}

const char *http_coding_name(unsigned coding)
{
    switch (coding) {
    case HTTP_CODING_IDENTITY: return "identity";
    case HTTP_CODING_GZIP: return "gzip";
    case HTTP_CODING_DEFLATE: return "deflate";
    case HTTP_CODING_SNAPPY: return "snappy";
    default: return "unknown";
    }
}

/* Inflates one stream (gzip member, zlib or raw deflate per window_bits) from src, appending to
 * out. *used gets the input bytes consumed. */
static int inflate_stream(const uint8_t *src, size_t n, int window_bits, size_t max_bytes,
                          struct buf *out, size_t *used)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, window_bits) != Z_OK)
        return ERR_NOMEM;
    z.next_in = (Bytef *)src;
    int rc = 0, zr = Z_OK;
    while (zr != Z_STREAM_END) {
        /* At the limit, inflate into a 1-byte probe: the stream may only have its end left. */
        uint8_t probe;
        size_t room = max_bytes - out->len;
        size_t step = room < INFLATE_STEP ? room : INFLATE_STEP;
        if (step && (rc = buf_reserve(out, step)))
            break;
        size_t in_left = n - (size_t)(z.next_in - src);
        z.avail_in = in_left > UINT32_MAX ? UINT32_MAX : (uInt)in_left;
        z.next_out = step ? out->data + out->len : &probe;
        z.avail_out = step ? (uInt)step : 1;
        zr = inflate(&z, Z_NO_FLUSH);
        if (!step && z.avail_out == 0) {
            rc = ERR_LIMIT;
            break;
        }
        out->len += step ? step - z.avail_out : 0;
        if (zr == Z_BUF_ERROR && z.avail_in == 0) {
            rc = ERR_CORRUPT; /* input ended inside the stream */
            break;
        }
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
            rc = zr == Z_MEM_ERROR ? ERR_NOMEM : ERR_CORRUPT;
            break;
        }
    }
    *used = (size_t)(z.next_in - src);
    inflateEnd(&z);
    return rc;
}

/* gzip: one or more members (like Go's gzip.Reader); nothing may follow the last one. */
static int decode_gzip(const uint8_t *src, size_t n, size_t max_bytes, struct buf *out)
{
    if (n == 0)
        return ERR_CORRUPT;
    while (n > 0) {
        size_t used = 0;
        int rc = inflate_stream(src, n, 16 + MAX_WBITS, max_bytes, out, &used);
        if (rc)
            return rc;
        src += used;
        n -= used;
    }
    return 0;
}

/* deflate: a zlib stream (RFC 9110) or, as Go's compress/flate clients send, raw deflate. */
static int decode_deflate(const uint8_t *src, size_t n, size_t max_bytes, struct buf *out)
{
    bool zlib_hdr = n >= 2 && (src[0] & 0x0f) == 8 && (src[0] >> 4) <= 7 &&
                    ((unsigned)src[0] << 8 | src[1]) % 31 == 0;
    size_t used = 0;
    int rc = inflate_stream(src, n, zlib_hdr ? MAX_WBITS : -MAX_WBITS, max_bytes, out, &used);
    if (rc == 0 && used != n)
        rc = ERR_CORRUPT; /* trailing garbage */
    return rc;
}

static int decode_snappy(const uint8_t *src, size_t n, size_t max_bytes, struct buf *out)
{
    size_t len = 0;
    if (snappy_uncompressed_length((const char *)src, n, &len) != SNAPPY_OK)
        return ERR_CORRUPT;
    if (len > max_bytes - out->len)
        return ERR_LIMIT;
    int rc = buf_reserve(out, len ? len : 1);
    if (rc)
        return rc;
    size_t got = len;
    if (snappy_uncompress((const char *)src, n, (char *)out->data + out->len, &got) != SNAPPY_OK ||
        got != len)
        return ERR_CORRUPT;
    out->len += got;
    return 0;
}

int http_decode_body(unsigned coding, const void *src, size_t n, size_t max_bytes, struct buf *out)
{
    size_t start = out->len;
    if (start > max_bytes)
        return ERR_LIMIT;
    int rc;
    switch (coding) {
    case HTTP_CODING_IDENTITY:
        rc = n > max_bytes - start ? ERR_LIMIT : buf_append(out, src, n);
        break;
    case HTTP_CODING_GZIP: rc = decode_gzip(src, n, max_bytes, out); break;
    case HTTP_CODING_DEFLATE: rc = decode_deflate(src, n, max_bytes, out); break;
    case HTTP_CODING_SNAPPY: rc = decode_snappy(src, n, max_bytes, out); break;
    default: rc = ERR_UNSUPPORTED;
    }
    if (rc)
        out->len = start;
    return rc;
}

/* q-value of one Accept-Encoding element ("gzip;q=0.5"): 0 only for "q=0", "q=0.", "q=0.000". */
static bool q_is_zero(struct str params)
{
    const char *q = NULL;
    for (size_t i = 0; i + 1 < params.len; i++) {
        if ((params.ptr[i] == 'q' || params.ptr[i] == 'Q') && params.ptr[i + 1] == '=') {
            q = params.ptr + i + 2;
            break;
        }
    }
    if (!q)
        return false;
    const char *end = params.ptr + params.len;
    while (q < end && *q == ' ')
        q++;
    if (q >= end || *q != '0')
        return false;
    for (q++; q < end && (*q == '.' || *q == '0'); q++)
        ;
    return q >= end || *q == ' ' || *q == ';';
}

bool http_accepts_gzip(struct str v)
{
    int gzip = -1, star = -1; /* -1 unmentioned, 0 refused, 1 accepted */
    while (v.len > 0) {
        const char *comma = memchr(v.ptr, ',', v.len);
        size_t n = comma ? (size_t)(comma - v.ptr) : v.len;
        struct str el = {v.ptr, n};
        v.ptr += comma ? n + 1 : n;
        v.len -= comma ? n + 1 : n;
        while (el.len && (el.ptr[0] == ' ' || el.ptr[0] == '\t')) {
            el.ptr++;
            el.len--;
        }
        const char *semi = memchr(el.ptr, ';', el.len);
        struct str name = {el.ptr, semi ? (size_t)(semi - el.ptr) : el.len};
        while (name.len && (name.ptr[name.len - 1] == ' ' || name.ptr[name.len - 1] == '\t'))
            name.len--;
        struct str params = {0};
        if (semi) /* from the ';' on; name.len was trimmed and cannot be used here */
            params = (struct str){semi + 1, (size_t)(el.ptr + el.len - (semi + 1))};
        int ok = q_is_zero(params) ? 0 : 1;
        if (http_str_ieq(name, "gzip") || http_str_ieq(name, "x-gzip"))
            gzip = ok;
        else if (http_str_ieq(name, "*"))
            star = ok;
    }
    return gzip == 1 || (gzip == -1 && star == 1);
}

struct http_gzip {
    struct libdeflate_compressor *c;
};

struct http_gzip *http_gzip_create(int level)
{
    struct http_gzip *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->c = libdeflate_alloc_compressor(level > 0 ? level : 4);
    if (!g->c) {
        free(g);
        return NULL;
    }
    return g;
}

void http_gzip_destroy(struct http_gzip *g)
{
    if (!g)
        return;
    libdeflate_free_compressor(g->c);
    free(g);
}

int http_gzip_compress(struct http_gzip *g, const void *src, size_t n, struct buf *out)
{
    size_t bound = libdeflate_gzip_compress_bound(g->c, n);
    int rc = buf_reserve(out, bound);
    if (rc)
        return rc;
    size_t got = libdeflate_gzip_compress(g->c, src, n, out->data + out->len, bound);
    if (got == 0)
        return ERR_NOMEM; /* cannot happen with a bound-sized buffer */
    out->len += got;
    return 0;
}
