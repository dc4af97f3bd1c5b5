/* Loki push protobuf bodies (shared/spec/api-contract.md §3.3): decode an UNCOMPRESSED
 * logproto.PushRequest (snappy is the server's job) with size and memory limits, parse and
 * normalise every stream's `labels` selector, check entry timestamps; and encode (tests, load
 * generator, fuzz seeds).
 *
 * The labels string is parsed like Loki does (PromQL ParseMetric, then empty values dropped):
 *   [metric_name] '{' [item (',' item)* [',']] '}'   with whitespace allowed between tokens, where
 *   item = name '=' string | string '=' string | string (a quoted metric name);
 *   name = [a-zA-Z_][a-zA-Z0-9_]*, metric_name = [a-zA-Z_:][a-zA-Z0-9_:]* (becomes __name__);
 *   string = "..." or '...' with Go escapes (\a \b \f \n \r \t \v \\ \" or \' matching the quote,
 *   \ooo octal and \xhh giving a raw byte, \uhhhh and \Uhhhhhhhh giving UTF-8), or `raw` (no
 *   escapes; carriage returns removed, as Go does). Raw newlines are not allowed in quoted strings
 *   and the text must be valid UTF-8.
 * Only '=' matchers: '!=', '=~', '!~' are errors. After parsing, labels with empty values are
 * dropped, the set is sorted by name, identical pairs are merged; a name given twice with
 * different values, or an empty result (`{}`), is an error.
 *
 * Entry checks: a timestamp must be present, nanos in [0, 1e9), and seconds*1e9+nanos must fit an
 * int64 of Unix nanoseconds. Structured metadata and the `parsed` field are passed through as is.
 * All failures are ERR_INVALID (or the codes of wire.h) with a message naming the stream.
 * Ownership: see formats/wire/wire.h. Not thread-safe: one decoder per shard. */
#ifndef STRATA_FORMATS_WIRE_LOKIPUSH_H
#define STRATA_FORMATS_WIRE_LOKIPUSH_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/str.h"
#include "formats/wire/loki_push.pb-c.h"
#include "formats/wire/wire.h"

struct lokipush_stream {
    const Logproto__StreamAdapter *pb; /* entries: pb->entries[0 .. pb->n_entries) */
    struct label *labels;              /* normalised: sorted, unique names, non-empty values */
    size_t n_labels;
};

struct lokipush_request {
    const Logproto__PushRequest *pb;
    struct lokipush_stream *streams; /* one per pb->streams[i], same order */
    size_t n_streams;
    size_t n_entries; /* across all streams */
};

/* Decode + parse + validate. On success fills *out (all memory in the decoder's arena). */
int lokipush_decode(struct wire_decoder *d, const uint8_t *body, size_t n,
                    struct lokipush_request *out);

/* Parses one labels selector s[0..n) (see the grammar above) into a normalised label set in arena
 * `a`; label strings either borrow from s or live in `a`. Returns 0, ERR_INVALID (reason in err)
 * or ERR_NOMEM. */
int lokipush_parse_labels(const char *s, size_t n, struct arena *a, struct label **out,
                          size_t *n_out, char *err, size_t err_size);

/* Unix nanoseconds of an entry that passed lokipush_decode. */
int64_t lokipush_entry_ts_ns(const Logproto__EntryAdapter *e);

/* ---- encoding ---- */

struct lokipush_entry {
    int64_t ts_ns;
    struct str line;
    const struct label *metadata; /* structured metadata, may be NULL */
    size_t n_metadata;
};

struct lokipush_stream_in {
    const struct label *labels; /* formatted Alloy-style unless labels_text.ptr is set */
    size_t n_labels;
    struct str labels_text; /* used verbatim when ptr != NULL (for odd selectors in tests) */
    const struct lokipush_entry *entries;
    size_t n_entries;
};

/* Appends an encoded PushRequest (uncompressed) to out. Returns 0 or ERR_NOMEM. */
int lokipush_encode(const struct lokipush_stream_in *streams, size_t n, struct buf *out);

/* Appends `{a="1", b="x y"}` (the order given; values quoted like Go's strconv.Quote for ASCII
 * controls, quotes, backslashes and invalid UTF-8; names that are not identifiers quoted the same
 * way, Prometheus 3 style) to out. The result parses back to the same labels. Returns 0 or
 * ERR_NOMEM. */
int lokipush_format_labels(const struct label *labels, size_t n, struct buf *out);

/* Packs a hand-built message. Returns 0 or ERR_NOMEM. */
int lokipush_pack(const Logproto__PushRequest *req, struct buf *out);

#endif
