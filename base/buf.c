/* Growable byte buffer and bounds-checked reader. */
#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/assert.h"
#include "base/error.h"

STATIC_ASSERT(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "strata assumes a little-endian CPU");

void buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_deinit(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

int buf_reserve(struct buf *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return ERR_NOMEM;
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int buf_append_u8(struct buf *b, uint8_t v)
{
    return buf_append(b, &v, 1);
}

int buf_append_le16(struct buf *b, uint16_t v)
{
    return buf_append(b, &v, 2);
}

int buf_append_le32(struct buf *b, uint32_t v)
{
    return buf_append(b, &v, 4);
}

int buf_append_le64(struct buf *b, uint64_t v)
{
    return buf_append(b, &v, 8);
}

int buf_append_be32(struct buf *b, uint32_t v)
{
    v = __builtin_bswap32(v);
    return buf_append(b, &v, 4);
}

int buf_append_be64(struct buf *b, uint64_t v)
{
    v = __builtin_bswap64(v);
    return buf_append(b, &v, 8);
}

int buf_append_uvarint(struct buf *b, uint64_t v)
{
    int rc = buf_reserve(b, VARINT_MAX_LEN);
    if (rc)
        return rc;
    b->len += varint_put(b->data + b->len, v);
    return 0;
}

int buf_append_svarint(struct buf *b, int64_t v)
{
    return buf_append_uvarint(b, zigzag_enc(v));
}

int buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return ERR_INVALID;
    int rc = buf_reserve(b, (size_t)n + 1);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int buf_cstr(struct buf *b)
{
    int rc = buf_reserve(b, 1);
    if (rc)
        return rc;
    b->data[b->len] = 0;
    return 0;
}

uint8_t *buf_steal(struct buf *b, size_t *len_out)
{
    uint8_t *p = b->data;
    if (len_out)
        *len_out = b->len;
    buf_init(b);
    return p;
}

int rd_take(struct rd *r, size_t n, const uint8_t **out)
{
    if (n > rd_left(r))
        return ERR_TRUNCATED;
    *out = r->p;
    r->p += n;
    return 0;
}

int rd_skip(struct rd *r, size_t n)
{
    const uint8_t *p;
    return rd_take(r, n, &p);
}

int rd_u8(struct rd *r, uint8_t *out)
{
    if (rd_empty(r))
        return ERR_TRUNCATED;
    *out = *r->p++;
    return 0;
}

#define RD_FIXED(name, type, conv)                                                                 \
    int name(struct rd *r, type *out)                                                              \
    {                                                                                              \
        if (rd_left(r) < sizeof(type))                                                             \
            return ERR_TRUNCATED;                                                                  \
        type v;                                                                                    \
        memcpy(&v, r->p, sizeof v);                                                                \
        *out = conv(v);                                                                            \
        r->p += sizeof v;                                                                          \
        return 0;                                                                                  \
    }
#define RD_SAME(v) (v)
RD_FIXED(rd_le16, uint16_t, RD_SAME)
RD_FIXED(rd_le32, uint32_t, RD_SAME)
RD_FIXED(rd_le64, uint64_t, RD_SAME)
RD_FIXED(rd_be32, uint32_t, __builtin_bswap32)
RD_FIXED(rd_be64, uint64_t, __builtin_bswap64)

int rd_uvarint(struct rd *r, uint64_t *out)
{
    int n = varint_get(r->p, r->end, out);
    if (n < 0)
        return n;
    r->p += n;
    return 0;
}

int rd_svarint(struct rd *r, int64_t *out)
{
    uint64_t u;
    int rc = rd_uvarint(r, &u);
    if (rc == 0)
        *out = zigzag_dec(u);
    return rc;
}
