/* Fuzz target for the log chunk iterator's batch line filter and the crc_verified reader flag
 * (formats/logchunk.h). The first input byte: bit 0 sets crc_verified (block CRCs skipped, so the
 * body checks alone must hold), bits 1-3 pick which lines the filter keeps, bit 4 reseals the
 * checksums first; the rest is decoded as a chunk. A chunk that opens is walked forward and
 * backward with and without the filter over its whole range: the filtered walk must be the
 * unfiltered one minus the dropped lines (or both stop with the same error), and seeks to every
 * kept timestamp must land on it. Mismatches abort. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/logchunk.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned g_sel;

static bool keeps(struct str l)
{
    unsigned h = (unsigned)l.len;
    for (size_t i = 0; i < l.len; i++)
        h = h * 31 + (uint8_t)l.ptr[i];
    return g_sel == 7 || (h % 7) < g_sel;
}

static size_t filter(void *arg, const struct str *lines, size_t n, uint64_t *keep)
{
    (void)arg;
    memset(keep, 0, (n + 63) / 64 * sizeof *keep);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (keeps(lines[i])) {
            keep[i >> 6] |= 1ull << (i & 63);
            k++;
        }
    return k;
}

struct seen {
    int64_t ts;
    uint64_t h; /* hash of line and metadata */
};

static uint64_t ent_hash(const struct logchunk_entry *e)
{
    uint64_t h = 1469598103934665603ull ^ e->line.len;
    for (size_t i = 0; i < e->line.len; i++)
        h = (h ^ (uint8_t)e->line.ptr[i]) * 1099511628211ull;
    for (size_t m = 0; m < e->md_count; m++)
        for (size_t i = 0; i < e->md[m].value.len; i++)
            h = (h ^ (uint8_t)e->md[m].value.ptr[i]) * 1099511628211ull;
    return h;
}

static void walk(const struct logchunk_reader *r, enum logchunk_dir d)
{
    struct logchunk_iter a, b;
    logchunk_iter_init(&a);
    logchunk_iter_init(&b);
    logchunk_iter_set_filter(&b, filter, NULL);
    logchunk_iter_open_reader(&a, r, INT64_MIN, INT64_MAX, d);
    logchunk_iter_open_reader(&b, r, INT64_MIN, INT64_MAX, d);
    size_t cap = 64, n = 0;
    struct seen *kept = malloc(cap * sizeof *kept);
    CHECK(kept);
    while (logchunk_iter_next(&a)) {
        const struct logchunk_entry *e = logchunk_iter_at(&a);
        if (!keeps(e->line))
            continue;
        if (!logchunk_iter_next(&b))
            break; /* b may stop earlier only with an error in a block a reached later */
        const struct logchunk_entry *f = logchunk_iter_at(&b);
        CHECK(f->ts_ns == e->ts_ns && ent_hash(f) == ent_hash(e));
        if (n == cap) {
            cap *= 2;
            kept = realloc(kept, cap * sizeof *kept);
            CHECK(kept);
        }
        kept[n++] = (struct seen){e->ts_ns, ent_hash(e)};
    }
    if (!logchunk_iter_err(&a) && !logchunk_iter_err(&b))
        CHECK(!logchunk_iter_next(&b) && !logchunk_iter_err(&b));
    for (size_t i = 0; i < n && i < 64; i++) { /* a seek lands on the first kept entry at t */
        int64_t t = kept[i].ts;
        logchunk_iter_open_reader(&b, r, INT64_MIN, INT64_MAX, d);
        bool ok = logchunk_iter_seek(&b, d == LOGCHUNK_FORWARD || t == INT64_MAX ? t : t + 1);
        if (!ok) {
            CHECK(logchunk_iter_err(&b) != 0 || (d == LOGCHUNK_BACKWARD && t == INT64_MAX));
            continue;
        }
        CHECK(logchunk_iter_at(&b)->ts_ns == t);
    }
    free(kept);
    logchunk_iter_deinit(&a);
    logchunk_iter_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    g_sel = (data[0] >> 1) & 7;
    uint8_t *copy = malloc(size);
    CHECK(copy);
    memcpy(copy, data + 1, size - 1);
    if (data[0] & 16) /* reseal the index (and block) CRCs: reach the checks behind them */
        logchunk_debug_reseal(copy, size - 1);
    struct logchunk_reader r;
    if (logchunk_reader_open(&r, copy, size - 1) == 0) {
        r.crc_verified = data[0] & 1;
        walk(&r, LOGCHUNK_FORWARD);
        walk(&r, LOGCHUNK_BACKWARD);
    }
    free(copy);
    return 0;
}
