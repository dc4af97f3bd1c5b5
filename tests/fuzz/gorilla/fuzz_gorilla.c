/* Fuzz target for formats/gorilla (docs/formats/gorilla.md).
 *
 * Decoder: the input as a chunk. Every read path (next/at, next_batch, seek, the chunk helpers)
 * must agree, yield strictly increasing timestamps, and stop with 0 or ERR_TRUNCATED/ERR_CORRUPT;
 * a chunk that decodes cleanly is re-encoded and must decode to the same samples bit for bit.
 *
 * Encoder: the input as a script of samples (timestamp steps and value edits) appended to an open
 * chunk, taking snapshots and iterating them across later appends, then decoded and compared. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/gorilla.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

enum { MAX_SAMPLES = GORILLA_SAMPLES_MAX + 1 };

struct run {
    int64_t t[MAX_SAMPLES];
    uint64_t v[MAX_SAMPLES];
    size_t n;
    int rc;
};

static struct run ra, rb, rc_;

static void read_next(const uint8_t *d, size_t len, struct run *r)
{
    struct gorilla_iter it;
    gorilla_iter_init(&it, d, len);
    r->n = 0;
    while ((r->rc = gorilla_iter_next(&it)) == 1) {
        CHECK(r->n < MAX_SAMPLES);
        gorilla_iter_at_bits(&it, &r->t[r->n], &r->v[r->n]);
        r->n++;
    }
    CHECK(r->rc == 0 || r->rc == ERR_TRUNCATED || r->rc == ERR_CORRUPT);
    CHECK(gorilla_iter_err(&it) == r->rc);
    CHECK(gorilla_iter_next(&it) == r->rc);
}

static void read_batch(const uint8_t *d, size_t len, struct run *r, size_t slice)
{
    struct gorilla_iter it;
    gorilla_iter_init(&it, d, len);
    r->n = 0;
    int got;
    while ((got = gorilla_iter_next_batch(&it, r->t + r->n, (double *)(void *)(r->v + r->n),
                                          slice)) > 0) {
        CHECK((size_t)got <= slice);
        r->n += (size_t)got;
        CHECK(r->n <= GORILLA_SAMPLES_MAX);
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
    struct gorilla_iter it;
    gorilla_iter_init(&it, d, len);
    int rc = gorilla_iter_seek(&it, target);
    size_t i = 0;
    while (i < r->n && r->t[i] < target)
        i++;
    if (i < r->n) {
        CHECK(rc == 1);
        int64_t t;
        uint64_t v;
        gorilla_iter_at_bits(&it, &t, &v);
        CHECK(t == r->t[i] && v == r->v[i]);
    } else {
        CHECK(rc == r->rc);
    }
}

static void check_reencode(const struct run *r)
{
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    for (size_t i = 0; i < r->n; i++)
        CHECK(gorilla_enc_append_bits(&e, r->t[i], r->v[i]) == 0);
    struct gorilla_snap snap;
    gorilla_enc_snapshot(&e, &snap);
    read_next(snap.data, snap.len, &rc_);
    CHECK(rc_.rc == 0 && same_run(r, &rc_));
    gorilla_enc_deinit(&e);
}

static void fuzz_decoder(const uint8_t *data, size_t size)
{
    read_next(data, size, &ra);
    for (size_t i = 1; i < ra.n; i++)
        CHECK(ra.t[i] > ra.t[i - 1]);
    read_batch(data, size, &rb, 1 + (size % 37));
    CHECK(same_run(&ra, &rb));

    int count = gorilla_chunk_count(data, size);
    CHECK(size < 2 ? count == ERR_TRUNCATED : count >= 0);
    if (ra.rc == 0)
        CHECK((size_t)count == ra.n);
    int64_t t;
    if (ra.n > 0) {
        CHECK(gorilla_chunk_first_ts(data, size, &t) == 0 && t == ra.t[0]);
        int last = gorilla_chunk_last_ts(data, size, &t);
        CHECK(last == ra.rc);
        if (last == 0)
            CHECK(t == ra.t[ra.n - 1]);
    }
    if (ra.n > 0) {
        check_seek(data, size, &ra, ra.t[ra.n / 2]);
        check_seek(data, size, &ra, ra.t[ra.n - 1] + (ra.t[ra.n - 1] < INT64_MAX));
    }
    check_seek(data, size, &ra, INT64_MIN);
    if (ra.rc == 0)
        check_reencode(&ra);
}

/* Reads a little-endian integer of n bytes from the script, advancing it. */
static uint64_t take(const uint8_t **p, const uint8_t *end, unsigned n)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < n && *p < end; i++)
        x |= (uint64_t) * (*p)++ << (8 * i);
    return x;
}

/* Script: per sample one op byte: bits 0-1 choose the timestamp step (same as last, small, large,
 * raw 8 bytes), bits 2-4 the value (same, flip low bits, flip a byte, raw 8 bytes, special), bit
 * 5 takes a snapshot iterator, bit 6 appends out of order on purpose. */
static void fuzz_encoder(const uint8_t *data, size_t size)
{
    static const uint64_t specials[] = {0,
                                        0x8000000000000000ull,
                                        GORILLA_STALE_NAN_BITS,
                                        0x7ff8000000000000ull,
                                        0x7ff0000000000000ull,
                                        1};
    const uint8_t *p = data, *end = data + size;
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    struct gorilla_iter it;
    bool open_iter = false;
    uint32_t iter_count = 0, iter_read = 0;
    int64_t t = (int64_t)take(&p, end, 8);
    int64_t step = 15000;
    uint64_t v = 0;
    ra.n = 0;
    while (p < end && ra.n < GORILLA_SAMPLES_MAX) {
        uint8_t op = *p++;
        switch (op & 3) {
        case 1:
            step = (int64_t)((uint64_t)step + (uint64_t)(int64_t)(int8_t)take(&p, end, 1));
            break;
        case 2: step = (int64_t)take(&p, end, 4); break;
        case 3: step = (int64_t)take(&p, end, 8); break;
        }
        switch ((op >> 2) & 7) {
        case 1: v ^= take(&p, end, 1); break;
        case 2: v ^= take(&p, end, 1) << (8 * (take(&p, end, 1) & 7)); break;
        case 3: v = take(&p, end, 8); break;
        case 4: v = specials[take(&p, end, 1) % 6]; break;
        }
        int64_t next = (int64_t)((uint64_t)t + (uint64_t)step);
        if (op & 0x40)
            next = t; /* equal timestamps are refused */
        int rc = gorilla_enc_append_bits(&e, next, v);
        bool ordered = ra.n == 0 || next > ra.t[ra.n - 1];
        CHECK(ordered ? rc == 0 : rc == ERR_ORDER);
        if (rc == 0) {
            ra.t[ra.n] = next;
            ra.v[ra.n++] = v;
            t = next;
        }
        CHECK(gorilla_enc_count(&e) == ra.n);
        struct gorilla_snap snap;
        gorilla_enc_snapshot(&e, &snap);
        if (open_iter) { /* go on reading an older snapshot over the moved buffer */
            gorilla_iter_rebase(&it, snap.data);
            if (iter_read < iter_count) {
                CHECK(gorilla_iter_next(&it) == 1);
                int64_t at_t;
                uint64_t at_v;
                gorilla_iter_at_bits(&it, &at_t, &at_v);
                CHECK(at_t == ra.t[iter_read] && at_v == ra.v[iter_read]);
                iter_read++;
            } else {
                CHECK(gorilla_iter_next(&it) == 0);
                open_iter = false;
            }
        }
        if ((op & 0x20) && !open_iter) {
            CHECK(gorilla_iter_init(&it, snap.data, snap.len) == 0);
            open_iter = true;
            iter_count = snap.count;
            iter_read = 0;
        }
    }
    struct gorilla_snap snap;
    gorilla_enc_snapshot(&e, &snap);
    read_next(snap.data, snap.len, &rb);
    CHECK(rb.rc == 0 && rb.n == ra.n);
    CHECK(memcmp(rb.t, ra.t, ra.n * sizeof ra.t[0]) == 0);
    CHECK(memcmp(rb.v, ra.v, ra.n * sizeof ra.v[0]) == 0);
    gorilla_enc_deinit(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decoder(data, size);
    fuzz_encoder(data, size);
    return 0;
}
