/* Fuzz target for formats/floatpack (docs/formats/floatpack.md).
 *
 * The first input byte picks the mode. Even: the rest is a chunk. Every read path (next/at,
 * next_batch with an input-derived slice, seek) must agree, yield strictly increasing timestamps
 * and stop with 0 or ERR_TRUNCATED/ERR_CORRUPT; a chunk that decodes cleanly is re-encoded and
 * must decode to the same samples bit for bit. Odd: the rest is a script of samples (timestamp
 * steps, value edits, decimal values, special bit patterns) that is encoded, then decoded and
 * compared. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/floatpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

enum { MAX_SAMPLES = FLOATPACK_SAMPLES_MAX + 1 };

struct run {
    int64_t t[MAX_SAMPLES];
    uint64_t v[MAX_SAMPLES];
    size_t n;
    int rc;
};

static struct run ra, rb, rc_;

static void read_next(const uint8_t *d, size_t len, struct run *r)
{
    struct floatpack_iter it;
    floatpack_iter_init(&it, d, len);
    r->n = 0;
    while ((r->rc = floatpack_iter_next(&it)) == 1) {
        CHECK(r->n < FLOATPACK_SAMPLES_MAX);
        floatpack_iter_at_bits(&it, &r->t[r->n], &r->v[r->n]);
        CHECK(r->n == 0 || r->t[r->n] > r->t[r->n - 1]);
        r->n++;
    }
    CHECK(r->rc == 0 || r->rc == ERR_TRUNCATED || r->rc == ERR_CORRUPT);
    CHECK(floatpack_iter_err(&it) == r->rc);
    CHECK(floatpack_iter_next(&it) == r->rc);
}

static void read_batch(const uint8_t *d, size_t len, struct run *r, size_t slice)
{
    struct floatpack_iter it;
    floatpack_iter_init(&it, d, len);
    r->n = 0;
    int got;
    while ((got = floatpack_iter_next_batch(&it, r->t + r->n, (double *)(void *)(r->v + r->n),
                                            slice)) > 0) {
        CHECK((size_t)got <= slice);
        r->n += (size_t)got;
        CHECK(r->n <= FLOATPACK_SAMPLES_MAX);
    }
    r->rc = got;
}

static bool same_run(const struct run *a, const struct run *b)
{
    return a->n == b->n && a->rc == b->rc && memcmp(a->t, b->t, a->n * sizeof a->t[0]) == 0 &&
           memcmp(a->v, b->v, a->n * sizeof a->v[0]) == 0;
}

static void check_seek(const uint8_t *d, size_t len, const struct run *r, int64_t target)
{
    struct floatpack_iter it;
    floatpack_iter_init(&it, d, len);
    int rc = floatpack_iter_seek(&it, target);
    size_t i = 0;
    while (i < r->n && r->t[i] < target)
        i++;
    if (i < r->n) {
        CHECK(rc == 1);
        int64_t t;
        uint64_t v;
        floatpack_iter_at_bits(&it, &t, &v);
        CHECK(t == r->t[i] && v == r->v[i]);
        CHECK(floatpack_iter_seek(&it, target) == 1);
    } else {
        CHECK(rc == 0 || rc == r->rc);
    }
}

static void check_reencode(const struct run *r)
{
    struct buf b = BUF_INIT;
    CHECK(floatpack_encode(r->t, r->v, r->n, &b) == 0);
    read_next(b.data, b.len, &rc_);
    CHECK(rc_.rc == 0 && same_run(r, &rc_));
    CHECK(floatpack_chunk_count(b.data, b.len) == (int)r->n);
    buf_deinit(&b);
}

static void fuzz_decoder(const uint8_t *data, size_t size)
{
    read_next(data, size, &ra);
    read_batch(data, size, &rb, 1 + (size % 70));
    CHECK(same_run(&ra, &rb));
    int count = floatpack_chunk_count(data, size);
    if (ra.rc == 0)
        CHECK(count > 0 && (size_t)count == ra.n);
    if (ra.n > 0 && ra.rc == 0) {
        check_seek(data, size, &ra, ra.t[ra.n / 2]);
        check_seek(data, size, &ra, ra.t[ra.n / 3] - 1);
        check_seek(data, size, &ra, ra.t[ra.n - 1] + (ra.t[ra.n - 1] < INT64_MAX));
    }
    if (ra.rc == 0 && ra.n > 0)
        check_reencode(&ra);
}

static uint64_t take(const uint8_t **p, const uint8_t *end, unsigned n)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < n && *p < end; i++)
        x |= (uint64_t) * (*p)++ << (8 * i);
    return x;
}

static uint64_t dbits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

/* Script: per sample an op byte: bits 0-1 the timestamp step (same, jitter, 4 bytes, 8 bytes),
 * bits 2-4 the value (same, xor a byte, raw 8 bytes, special, decimal step, scale change). */
static void fuzz_encoder(const uint8_t *data, size_t size)
{
    static const uint64_t specials[] = {0,
                                        0x8000000000000000ull,
                                        0x7ff0000000000002ull,
                                        0x7ff8000000000000ull,
                                        0x7ff0000000000000ull,
                                        0xfff0000000000000ull,
                                        1,
                                        0x7ff80000deadbeefull};
    static const double p10[] = {1, 10, 100, 1000, 1e4, 1e6, 1e9, 1e15};
    const uint8_t *p = data, *end = data + size;
    int64_t t = (int64_t)take(&p, end, 8), step = 15000;
    int64_t m = 0;
    double scale = 100;
    uint64_t v = 0;
    ra.n = 0;
    while (p < end && ra.n < FLOATPACK_SAMPLES_MAX) {
        uint8_t op = *p++;
        switch (op & 3) {
        case 1:
            step = (int64_t)((uint64_t)step + (uint64_t)(int64_t)(int8_t)take(&p, end, 1));
            break;
        case 2: step = (int64_t)(int32_t)take(&p, end, 4); break;
        case 3: step = (int64_t)take(&p, end, 8); break;
        }
        switch ((op >> 2) & 7) {
        case 1: v ^= take(&p, end, 1) << (8 * (take(&p, end, 1) & 7)); break;
        case 2: v = take(&p, end, 8); break;
        case 3: v = specials[take(&p, end, 1) & 7]; break;
        case 4:
        case 5:
            m += (int8_t)take(&p, end, 1);
            v = dbits((double)m / scale);
            break;
        case 6: scale = p10[take(&p, end, 1) & 7]; break;
        }
        if (step <= 0)
            step = 1;
        int64_t next = ra.n ? (int64_t)((uint64_t)t + (uint64_t)step) : t;
        if (ra.n && next <= t)
            break;
        t = next;
        ra.t[ra.n] = t;
        ra.v[ra.n++] = v;
    }
    if (ra.n == 0) {
        struct buf b = BUF_INIT;
        CHECK(floatpack_encode(ra.t, ra.v, 0, &b) == ERR_INVALID);
        return;
    }
    ra.rc = 0;
    check_reencode(&ra);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        fuzz_encoder(data + 1, size - 1);
    else
        fuzz_decoder(data + 1, size - 1);
    return 0;
}
