/* Bounds-checked varint decoding. */
#include "base/varint.h"

#include "base/error.h"

int varint_get(const uint8_t *p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < VARINT_MAX_LEN; i++) {
        if (p + i >= end)
            return ERR_TRUNCATED;
        uint8_t b = p[i];
        if (i == 9 && b > 1)
            return ERR_CORRUPT; /* would overflow 64 bits */
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *out = v;
            return i + 1;
        }
    }
    return ERR_CORRUPT;
}
