/* Fuzz target for formats/wire/lokipush_json.h: decode a JSON push body with a reused decoder,
 * walk every stream, entry and metadata pair (labels normalised, timestamps consistent), then
 * (1) re-encode it as JSON and (2) pack the protobuf-shaped result it built, and check that both
 * decode (JSON and protobuf paths) to the same streams, labels, entries and metadata. */
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "formats/wire/lokipush_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

static void eat(const void *p, size_t n)
{
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++)
        h = h * 31 + ((const uint8_t *)p)[i];
    sink += h;
}

static void walk(const struct lokipush_request *req)
{
    size_t entries = 0;
    ASSERT(req->pb && req->pb->n_streams == req->n_streams);
    for (size_t s = 0; s < req->n_streams; s++) {
        const struct lokipush_stream *st = &req->streams[s];
        ASSERT(st->n_labels > 0 && st->pb == req->pb->streams[s]);
        for (size_t i = 0; i < st->n_labels; i++) {
            ASSERT(st->labels[i].name.len > 0 && st->labels[i].value.len > 0);
            ASSERT(i == 0 || str_cmp(st->labels[i - 1].name, st->labels[i].name) < 0);
        }
        for (size_t e = 0; e < st->pb->n_entries; e++) {
            const Logproto__EntryAdapter *en = st->pb->entries[e];
            ASSERT(en->timestamp->nanos >= 0 && en->timestamp->nanos < 1000000000);
            sink += (uint64_t)lokipush_entry_ts_ns(en);
            eat(en->line.data, en->line.len);
            for (size_t i = 0; i < en->n_structured_metadata; i++) {
                eat(en->structured_metadata[i]->name.data, en->structured_metadata[i]->name.len);
                eat(en->structured_metadata[i]->value.data, en->structured_metadata[i]->value.len);
            }
        }
        entries += st->pb->n_entries;
    }
    ASSERT(entries == req->n_entries);
}

static bool bin_eq(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
    return str_eq(wire_str(a), wire_str(b));
}

static void same(const struct lokipush_request *a, const struct lokipush_request *b)
{
    ASSERT(a->n_streams == b->n_streams && a->n_entries == b->n_entries);
    for (size_t s = 0; s < a->n_streams; s++) {
        const struct lokipush_stream *x = &a->streams[s], *y = &b->streams[s];
        ASSERT(x->n_labels == y->n_labels && x->pb->n_entries == y->pb->n_entries);
        for (size_t i = 0; i < x->n_labels; i++)
            ASSERT(str_eq(x->labels[i].name, y->labels[i].name) &&
                   str_eq(x->labels[i].value, y->labels[i].value));
        for (size_t e = 0; e < x->pb->n_entries; e++) {
            const Logproto__EntryAdapter *ex = x->pb->entries[e], *ey = y->pb->entries[e];
            ASSERT(lokipush_entry_ts_ns(ex) == lokipush_entry_ts_ns(ey));
            ASSERT(bin_eq(ex->line, ey->line));
            ASSERT(ex->n_structured_metadata == ey->n_structured_metadata);
            for (size_t m = 0; m < ex->n_structured_metadata; m++)
                ASSERT(
                    bin_eq(ex->structured_metadata[m]->name, ey->structured_metadata[m]->name) &&
                    bin_eq(ex->structured_metadata[m]->value, ey->structured_metadata[m]->value));
        }
    }
}

/* Re-encodes req as JSON (normalised labels; entries and metadata as decoded). */
static void reencode(const struct lokipush_request *req, struct arena *a, struct buf *out)
{
    struct lokipush_stream_in *in = arena_alloc(a, (req->n_streams + 1) * sizeof *in);
    ASSERT(in);
    for (size_t s = 0; s < req->n_streams; s++) {
        const struct lokipush_stream *st = &req->streams[s];
        size_t ne = st->pb->n_entries;
        struct lokipush_entry *es = arena_alloc(a, (ne + 1) * sizeof *es);
        ASSERT(es);
        for (size_t e = 0; e < ne; e++) {
            const Logproto__EntryAdapter *en = st->pb->entries[e];
            size_t nm = en->n_structured_metadata;
            struct label *md = arena_alloc(a, (nm + 1) * sizeof *md);
            ASSERT(md);
            for (size_t m = 0; m < nm; m++)
                md[m] = (struct label){wire_str(en->structured_metadata[m]->name),
                                       wire_str(en->structured_metadata[m]->value)};
            es[e] = (struct lokipush_entry){lokipush_entry_ts_ns(en), wire_str(en->line), md, nm};
        }
        in[s] = (struct lokipush_stream_in){st->labels, st->n_labels, {NULL, 0}, es, ne};
    }
    ASSERT(lokipush_json_encode(in, req->n_streams, out) == 0);
}

static struct wire_decoder dec, dec2, dec3;
static struct arena arena;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        wire_decoder_init(&dec, 1 << 20, 32 << 20);
        wire_decoder_init(&dec2, 64 << 20, 1u << 30);
        wire_decoder_init(&dec3, 64 << 20, 1u << 30);
        arena_init(&arena, 0);
        ready = 1;
    }
    arena_reset(&arena);
    struct lokipush_request req;
    int rc = lokipush_json_decode(&dec, data, size, &req);
    if (rc) {
        ASSERT(req.streams == NULL && req.pb == NULL && wire_decoder_err(&dec)[0]);
        ASSERT(rc == ERR_CORRUPT || rc == ERR_INVALID || rc == ERR_LIMIT || rc == ERR_NOMEM);
        return 0;
    }
    walk(&req);

    struct buf b = BUF_INIT;
    reencode(&req, &arena, &b);
    struct lokipush_request again;
    rc = lokipush_json_decode(&dec2, b.data, b.len, &again);
    ASSERT(rc == 0);
    same(&req, &again);

    buf_reset(&b);
    ASSERT(lokipush_pack(req.pb, &b) == 0);
    struct lokipush_request pb;
    ASSERT(lokipush_decode(&dec3, b.data, b.len, &pb) == 0);
    same(&req, &pb);
    buf_deinit(&b);
    return 0;
}
