/* XXH3 wrappers; hash_labels hashes in one shot from a stack buffer when the set is small, else
 * streams. */
#include "base/hash.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

uint64_t hash_bytes(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

uint64_t hash_bytes_seed(const void *p, size_t n, uint64_t seed)
{
    return XXH3_64bits_withSeed(p, n, seed);
}

static const char sep = (char)0xff;

uint64_t hash_labels(const struct label *labels, size_t n)
{
    char small[512];
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += labels[i].name.len + labels[i].value.len + 2;
    if (len <= sizeof small) {
        char *o = small;
        for (size_t i = 0; i < n; i++) {
            if (labels[i].name.len)
                memcpy(o, labels[i].name.ptr, labels[i].name.len);
            o += labels[i].name.len;
            *o++ = sep;
            if (labels[i].value.len)
                memcpy(o, labels[i].value.ptr, labels[i].value.len);
            o += labels[i].value.len;
            *o++ = sep;
        }
        return XXH3_64bits(small, len);
    }
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    for (size_t i = 0; i < n; i++) {
        XXH3_64bits_update(&st, labels[i].name.ptr, labels[i].name.len);
        XXH3_64bits_update(&st, &sep, 1);
        XXH3_64bits_update(&st, labels[i].value.ptr, labels[i].value.len);
        XXH3_64bits_update(&st, &sep, 1);
    }
    return XXH3_64bits_digest(&st);
}
