/* Fuzz target for formats/wire/rw.h, remote write 1.0: decode + validate an uncompressed
 * WriteRequest with a reused decoder, walk every field of every series, then check that
 * pack(decode(x)), unknown fields stripped, decodes again, validates and re-packs identically. */
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

static void walk_labels(Prometheus__Label *const *ls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        eat(ls[i]->name.data, ls[i]->name.len);
        eat(ls[i]->value.data, ls[i]->value.len);
    }
}

static void walk_hist(const Prometheus__Histogram *h)
{
    eat(&h->sum, 8);
    eat(&h->count_int, 8);
    eat(&h->zero_count_int, 8);
    eat(&h->schema, 4);
    eat(&h->timestamp, 8);
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

static void walk(const rw1_request *req)
{
    for (size_t s = 0; s < req->n_timeseries; s++) {
        const rw1_series *ts = req->timeseries[s];
        struct label ls[4];
        size_t n = rw1_series_labels(ts, ls, 4);
        ASSERT(n == ts->n_labels && n > 0);
        walk_labels(ts->labels, ts->n_labels);
        for (size_t i = 0; i < ts->n_samples; i++) {
            eat(&ts->samples[i]->value, 8);
            eat(&ts->samples[i]->timestamp, 8);
        }
        for (size_t i = 0; i < ts->n_exemplars; i++)
            walk_labels(ts->exemplars[i]->labels, ts->exemplars[i]->n_labels);
        for (size_t i = 0; i < ts->n_histograms; i++)
            walk_hist(ts->histograms[i]);
    }
    for (size_t i = 0; i < req->n_metadata; i++) {
        eat(req->metadata[i]->metric_family_name.data, req->metadata[i]->metric_family_name.len);
        eat(req->metadata[i]->help.data, req->metadata[i]->help.len);
        eat(req->metadata[i]->unit.data, req->metadata[i]->unit.len);
        sink += (uint64_t)req->metadata[i]->type;
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
    const rw1_request *req;
    int rc = rw1_decode(&dec, data, size, &req);
    if (rc) {
        ASSERT(req == NULL && wire_decoder_err(&dec)[0]);
        ASSERT(rc == ERR_CORRUPT || rc == ERR_INVALID || rc == ERR_LIMIT || rc == ERR_NOMEM);
        return 0;
    }
    walk(req);
    struct buf b1 = BUF_INIT, b2 = BUF_INIT;
    /* protobuf-c keeps unknown fields verbatim, odd encodings included: compare known content */
    wire_strip_unknown((ProtobufCMessage *)&req->base);
    ASSERT(rw1_pack(req, &b1) == 0);
    const rw1_request *again;
    ASSERT(rw1_decode(&dec2, b1.data, b1.len, &again) == 0);
    ASSERT(again->n_timeseries == req->n_timeseries && again->n_metadata == req->n_metadata);
    ASSERT(rw1_pack(again, &b2) == 0);
    ASSERT(b1.len == b2.len && (b1.len == 0 || memcmp(b1.data, b2.data, b1.len) == 0));
    buf_deinit(&b1);
    buf_deinit(&b2);
    return 0;
}
