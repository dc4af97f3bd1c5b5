/* LEB128 unsigned varints (protobuf-compatible, at most 10 bytes for 64 bits) and zigzag mapping.
 * Decoders are bounds-checked and reject overlong encodings; they never read past `end`. */
#ifndef STRATA_BASE_VARINT_H
#define STRATA_BASE_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX_LEN 10

static inline uint64_t zigzag_enc(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t zigzag_dec(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Bytes needed to encode v (1..10). */
static inline size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Writes v at dst (which must have VARINT_MAX_LEN bytes free); returns bytes written. */
static inline size_t varint_put(uint8_t *dst, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        dst[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    dst[n++] = (uint8_t)v;
    return n;
}

/* Reads a varint from [p, end). Returns bytes consumed (> 0), or ERR_TRUNCATED when the input ends
 * inside it, or ERR_CORRUPT when it is longer than 10 bytes or overflows 64 bits. */
int varint_get(const uint8_t *p, const uint8_t *end, uint64_t *out);

static inline size_t svarint_put(uint8_t *dst, int64_t v)
{
    return varint_put(dst, zigzag_enc(v));
}

static inline int svarint_get(const uint8_t *p, const uint8_t *end, int64_t *out)
{
    uint64_t u;
    int n = varint_get(p, end, &u);
    if (n > 0)
        *out = zigzag_dec(u);
    return n;
}

#endif
