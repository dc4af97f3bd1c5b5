/* Fuzz target for formats/wire/rw.h, remote write 2.0: decode + validate an uncompressed Request
 * with a reused decoder, resolve every ref of every series (labels, exemplars, metadata) and walk
 * all fields, then check that pack(decode(x)), unknown fields stripped, decodes, validates and
 * re-packs to identical bytes. */
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "formats/wire/rw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

static void eat(const void *p, size_t n)
{
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++)
        h = h * 31 + ((const uint8_t *)p)[i];
    sink += h;
}

static void walk_refs(const rw2_request *req, const uint32_t *refs, size_t n)
{
    ASSERT(n % 2 == 0);
    for (size_t i = 0; i < n; i++) {
        struct str s = rw2_symbol(req, refs[i]);
        eat(s.ptr, s.len);
    }
}

static void walk_hist(const Io__Prometheus__Write__V2__Histogram *h)
{
    eat(&h->sum, 8);
    eat(&h->count_float, 8);
    eat(&h->zero_count_float, 8);
    eat(&h->start_timestamp, 8);
    for (size_t i = 0; i < h->n_negative_spans; i++)
        eat(&h->negative_spans[i]->length, 4);
    for (size_t i = 0; i < h->n_positive_spans; i++)
        eat(&h->positive_spans[i]->offset, 4);
    eat(h->negative_deltas, h->n_negative_deltas * 8);
    eat(h->positive_deltas, h->n_positive_deltas * 8);
    eat(h->negative_counts, h->n_negative_counts * 8);
    eat(h->positive_counts, h->n_positive_counts * 8);
    eat(h->custom_values, h->n_custom_values * 8);
}

static void walk(const rw2_request *req)
{
    ASSERT(req->n_symbols == 0 || req->symbols[0].len == 0);
    for (size_t s = 0; s < req->n_timeseries; s++) {
        const rw2_series *ts = req->timeseries[s];
        struct label ls[4];
        ASSERT(rw2_series_labels(req, ts, ls, 4) * 2 == ts->n_labels_refs);
        walk_refs(req, ts->labels_refs, ts->n_labels_refs);
        ASSERT(!(ts->n_samples && ts->n_histograms));
        for (size_t i = 0; i < ts->n_samples; i++) {
            eat(&ts->samples[i]->value, 8);
            eat(&ts->samples[i]->start_timestamp, 8);
        }
        for (size_t i = 0; i < ts->n_exemplars; i++)
            walk_refs(req, ts->exemplars[i]->labels_refs, ts->exemplars[i]->n_labels_refs);
        for (size_t i = 0; i < ts->n_histograms; i++)
            walk_hist(ts->histograms[i]);
        if (ts->metadata) {
            struct str help = rw2_symbol(req, ts->metadata->help_ref);
            struct str unit = rw2_symbol(req, ts->metadata->unit_ref);
            eat(help.ptr, help.len);
            eat(unit.ptr, unit.len);
        }
    }
}

static struct wire_decoder dec, dec2;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        wire_decoder_init(&dec, 1 << 20, 32 << 20);
        wire_decoder_init(&dec2, 64 << 20, 1u << 30);
        ready = 1;
    }
    const rw2_request *req;
    int rc = rw2_decode(&dec, data, size, &req);
    if (rc) {
        ASSERT(req == NULL && wire_decoder_err(&dec)[0]);
        ASSERT(rc == ERR_CORRUPT || rc == ERR_INVALID || rc == ERR_LIMIT || rc == ERR_NOMEM);
        return 0;
    }
    walk(req);
    struct buf b1 = BUF_INIT, b2 = BUF_INIT;
    /* protobuf-c keeps unknown fields verbatim, odd encodings included: compare known content */
    wire_strip_unknown((ProtobufCMessage *)&req->base);
    ASSERT(rw2_pack(req, &b1) == 0);
    const rw2_request *again;
    ASSERT(rw2_decode(&dec2, b1.data, b1.len, &again) == 0);
    ASSERT(again->n_timeseries == req->n_timeseries && again->n_symbols == req->n_symbols);
    ASSERT(rw2_pack(again, &b2) == 0);
    ASSERT(b1.len == b2.len && (b1.len == 0 || memcmp(b1.data, b2.data, b1.len) == 0));
    buf_deinit(&b1);
    buf_deinit(&b2);
    return 0;
}
