/* Fuzz target for formats/histchunk (docs/formats/histchunk.md).
 *
 * The input as a chunk: decode every sample (each must pass histchunk_hist_check and have a
 * strictly increasing timestamp), stop with 0 or ERR_TRUNCATED/ERR_CORRUPT, agree with the header
 * helpers; the decoded samples are re-encoded and the new chunk must decode to the same samples bit
 * for bit. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/histchunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct histchunk_iter it, it2;
    struct histchunk_enc e;
    histchunk_iter_init(&it, data, size);
    int fl = histchunk_is_float(data, size);
    histchunk_enc_init(&e, fl == 1);
    int rc;
    uint32_t n = 0;
    int64_t prev_t = INT64_MIN;
    while ((rc = histchunk_iter_next(&it)) == 1) {
        const struct histchunk_hist *h = histchunk_iter_at(&it);
        int64_t t = histchunk_iter_t(&it);
        CHECK(n == 0 || t > prev_t);
        CHECK(histchunk_hist_check(h, it.is_float, NULL) == 0);
        if (n == 0) {
            int64_t first;
            CHECK(histchunk_first_ts(data, size, &first) == 0 && first == t);
        }
        CHECK(histchunk_enc_append(&e, t, h) == 0);
        prev_t = t;
        n++;
    }
    CHECK(rc == 0 || rc == ERR_TRUNCATED || rc == ERR_CORRUPT);
    CHECK(histchunk_iter_err(&it) == rc && histchunk_iter_next(&it) == rc);
    if (rc == 0)
        CHECK((int)n == histchunk_count(data, size));
    histchunk_iter_deinit(&it);

    /* the re-encoded prefix decodes to the same samples */
    size_t len;
    const uint8_t *b = histchunk_enc_bytes(&e, &len);
    histchunk_iter_init(&it, data, size);
    histchunk_iter_init(&it2, b, len);
    for (uint32_t i = 0; i < n; i++) {
        CHECK(histchunk_iter_next(&it) == 1 && histchunk_iter_next(&it2) == 1);
        CHECK(histchunk_iter_t(&it) == histchunk_iter_t(&it2));
        CHECK(histchunk_hist_eq(histchunk_iter_at(&it), histchunk_iter_at(&it2)));
    }
    CHECK(histchunk_iter_next(&it2) == 0);
    histchunk_iter_deinit(&it);
    histchunk_iter_deinit(&it2);
    histchunk_enc_deinit(&e);
    return 0;
}
