/* Fuzz target: the remote write 1.0 fast-path decoder against protobuf-c. Whenever the fast path
 * accepts a body, protobuf-c must accept it too and produce the same message (series, label
 * bytes, sample value bits and timestamps); whenever protobuf-c rejects a body, the fast path must
 * not accept it. Then rw1_decode (fast path plus validation) runs as the server calls it. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "formats/wire/rw.h"
#include "formats/wire/rw1_fast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool bytes_eq(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

static void same(const rw1_request *a, const rw1_request *b)
{
    ASSERT(a->n_timeseries == b->n_timeseries && b->n_metadata == 0);
    for (size_t i = 0; i < a->n_timeseries; i++) {
        const rw1_series *x = a->timeseries[i], *y = b->timeseries[i];
        ASSERT(x->n_labels == y->n_labels && x->n_samples == y->n_samples);
        ASSERT(y->n_exemplars == 0 && y->n_histograms == 0);
        for (size_t k = 0; k < x->n_labels; k++) {
            ASSERT(bytes_eq(x->labels[k]->name, y->labels[k]->name));
            ASSERT(bytes_eq(x->labels[k]->value, y->labels[k]->value));
        }
        for (size_t k = 0; k < x->n_samples; k++) {
            ASSERT(memcmp(&x->samples[k]->value, &y->samples[k]->value, 8) == 0);
            ASSERT(x->samples[k]->timestamp == y->samples[k]->timestamp);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct wire_decoder fast, slow, dec;
    static bool init;
    if (!init) {
        wire_decoder_init(&fast, 1 << 20, 64 << 20);
        wire_decoder_init(&slow, 1 << 20, 64 << 20);
        wire_decoder_init(&dec, 1 << 20, 64 << 20);
        init = true;
    }
    wire_decoder_reset(&fast);
    rw1_request *f = NULL;
    int frc = rw1_unpack_fast(&fast, data, size, &f);
    ProtobufCMessage *m = NULL;
    int src = wire_unpack(&slow, &prometheus__write_request__descriptor, data, size, &m);
    ASSERT(frc == 0 || frc == 1);
    if (frc == 0) {
        ASSERT(src == 0); /* the fast path never accepts what protobuf-c rejects */
        same(f, (const rw1_request *)m);
    }
    const rw1_request *req = NULL;
    int rc = rw1_decode(&dec, data, size, &req);
    ASSERT((rc == 0) == (req != NULL));
    if (rc == 0 && src == 0)
        ASSERT(req->n_timeseries == ((const rw1_request *)m)->n_timeseries);
    return 0;
}
