/* Fuzz target: label matcher construction (RE2 screening + PCRE2 compile) and matching. The first
 * byte picks the matcher type; the rest up to the first NUL is the pattern, what follows is the
 * value. */
#include <stdint.h>
#include <string.h>

#include "engine/index/matcher.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum matcher_type t = (enum matcher_type)(data[0] & 3);
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    const char *nul = memchr(p, 0, n);
    size_t plen = nul ? (size_t)(nul - p) : n;
    struct str value = nul ? (struct str){nul + 1, n - plen - 1} : (struct str){"", 0};
    struct matcher m;
    char err[256];
    if (matcher_init(&m, t, STR_LIT("l"), (struct str){p, plen}, err, sizeof err) != 0)
        return 0;
    (void)matcher_matches(&m, value);
    (void)matcher_matches_empty(&m);
    const struct str *vals;
    size_t nv;
    if (matcher_finite_values(&m, &vals, &nv))
        for (size_t i = 0; i < nv; i++)
            (void)vals[i].len;
    matcher_deinit(&m);
    return 0;
}
