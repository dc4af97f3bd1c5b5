/* Byte buffers: `struct buf` is a growable owned byte array for writers; `struct rd` is a
 * bounds-checked cursor over borrowed bytes for decoders. Little-endian fixed-width integers and
 * varints.
 *
 * Ownership: a buf owns `data` (malloc); buf_deinit frees it. A rd borrows its bytes.
 * Errors: buf_* that grow return 0 or ERR_NOMEM and leave the buffer unchanged on failure.
 * rd_* return 0 (or bytes for rd_take) or ERR_TRUNCATED/ERR_CORRUPT, never read past the end, and a
 * failed read leaves the cursor where it was. Not thread-safe; one owner at a time. */
#ifndef STRATA_BASE_BUF_H
#define STRATA_BASE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/varint.h"

struct buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        0                                                                                          \
    }

void buf_init(struct buf *b);
void buf_deinit(struct buf *b);
/* Ensures room for `extra` more bytes past len. */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_u8(struct buf *b, uint8_t v);
int buf_append_le16(struct buf *b, uint16_t v);
int buf_append_le32(struct buf *b, uint32_t v);
int buf_append_le64(struct buf *b, uint64_t v);
int buf_append_be32(struct buf *b, uint32_t v);
int buf_append_be64(struct buf *b, uint64_t v);
int buf_append_uvarint(struct buf *b, uint64_t v);
int buf_append_svarint(struct buf *b, int64_t v);
int buf_append_str(struct buf *b, const char *s); /* without the NUL */
/* Appends printf output (without NUL). */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Makes data NUL-terminated without counting the NUL in len. */
int buf_cstr(struct buf *b);
static inline void buf_reset(struct buf *b)
{
    b->len = 0;
}
/* Hands the bytes to the caller (who frees them) and leaves b empty. */
uint8_t *buf_steal(struct buf *b, size_t *len_out);

static inline void le32_put(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4); /* x86-64 and aarch64 Linux are little-endian; checked in buf.c */
}
static inline void le64_put(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}
static inline void be32_put(uint8_t *p, uint32_t v)
{
    v = __builtin_bswap32(v);
    memcpy(p, &v, 4);
}
static inline void be64_put(uint8_t *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}
static inline uint32_t le32_get(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint64_t le64_get(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline uint16_t le16_get(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static inline uint32_t be32_get(const uint8_t *p)
{
    return __builtin_bswap32(le32_get(p));
}
static inline uint64_t be64_get(const uint8_t *p)
{
    return __builtin_bswap64(le64_get(p));
}

struct rd {
    const uint8_t *p;
    const uint8_t *end;
};

static inline struct rd rd_make(const void *p, size_t n)
{
    struct rd r = {(const uint8_t *)p, (const uint8_t *)p + n};
    return r;
}
static inline size_t rd_left(const struct rd *r)
{
    return (size_t)(r->end - r->p);
}
static inline bool rd_empty(const struct rd *r)
{
    return r->p >= r->end;
}
int rd_u8(struct rd *r, uint8_t *out);
int rd_le16(struct rd *r, uint16_t *out);
int rd_le32(struct rd *r, uint32_t *out);
int rd_le64(struct rd *r, uint64_t *out);
int rd_be32(struct rd *r, uint32_t *out);
int rd_be64(struct rd *r, uint64_t *out);
int rd_uvarint(struct rd *r, uint64_t *out);
int rd_svarint(struct rd *r, int64_t *out);
/* Points *out at the next n bytes (borrowed) and advances. */
int rd_take(struct rd *r, size_t n, const uint8_t **out);
int rd_skip(struct rd *r, size_t n);

#endif
