/* Fuzz target for formats/wire/lokipush.h: decode an uncompressed PushRequest with a reused decoder
 * (labels selector parsing, normalisation, timestamp checks), walk every stream, entry and
 * structured-metadata pair, check each parsed label set is normalised and that formatting it
 * Alloy-style parses back to the same set, and that pack(decode(x)) decodes to the same counts.
 * Inputs starting with '{' are also fed to the selector parser directly. */
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "formats/wire/lokipush.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

static void eat(const void *p, size_t n)
{
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++)
        h = h * 31 + ((const uint8_t *)p)[i];
    sink += h;
}

static void check_labels(const struct label *ls, size_t n, struct arena *a)
{
    ASSERT(n > 0);
    for (size_t i = 0; i < n; i++) {
        ASSERT(ls[i].name.len > 0 && ls[i].value.len > 0);
        ASSERT(i == 0 || str_cmp(ls[i - 1].name, ls[i].name) < 0);
        eat(ls[i].name.ptr, ls[i].name.len);
        eat(ls[i].value.ptr, ls[i].value.len);
    }
    struct buf b = BUF_INIT;
    ASSERT(lokipush_format_labels(ls, n, &b) == 0);
    struct label *again;
    size_t m;
    char err[256];
    int rc = lokipush_parse_labels((const char *)b.data, b.len, a, &again, &m, err, sizeof err);
    ASSERT(rc == 0 && m == n);
    for (size_t i = 0; i < n; i++)
        ASSERT(str_eq(again[i].name, ls[i].name) && str_eq(again[i].value, ls[i].value));
    buf_deinit(&b);
}

static void walk(const struct lokipush_request *req, struct arena *a)
{
    size_t entries = 0;
    for (size_t s = 0; s < req->n_streams; s++) {
        const struct lokipush_stream *st = &req->streams[s];
        check_labels(st->labels, st->n_labels, a);
        for (size_t e = 0; e < st->pb->n_entries; e++) {
            const Logproto__EntryAdapter *en = st->pb->entries[e];
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

static struct wire_decoder dec, dec2;
static struct arena arena;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        wire_decoder_init(&dec, 1 << 20, 32 << 20);
        wire_decoder_init(&dec2, 64 << 20, 1u << 30);
        arena_init(&arena, 0);
        ready = 1;
    }
    arena_reset(&arena);
    if (size && data[0] == '{') {
        struct label *ls;
        size_t n;
        char err[256];
        if (lokipush_parse_labels((const char *)data, size, &arena, &ls, &n, err, sizeof err) == 0)
            check_labels(ls, n, &arena);
    }
    struct lokipush_request req;
    int rc = lokipush_decode(&dec, data, size, &req);
    if (rc) {
        ASSERT(req.streams == NULL && wire_decoder_err(&dec)[0]);
        ASSERT(rc == ERR_CORRUPT || rc == ERR_INVALID || rc == ERR_LIMIT || rc == ERR_NOMEM);
        return 0;
    }
    walk(&req, &arena);
    struct buf b = BUF_INIT;
    wire_strip_unknown((ProtobufCMessage *)&req.pb->base);
    ASSERT(lokipush_pack(req.pb, &b) == 0);
    struct lokipush_request again;
    ASSERT(lokipush_decode(&dec2, b.data, b.len, &again) == 0);
    ASSERT(again.n_streams == req.n_streams && again.n_entries == req.n_entries);
    for (size_t s = 0; s < req.n_streams; s++)
        ASSERT(again.streams[s].n_labels == req.streams[s].n_labels);
    buf_deinit(&b);
    return 0;
}
