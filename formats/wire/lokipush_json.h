/* Loki push JSON bodies (shared/spec/api-contract.md §3.2), decoded into the same
 * `struct lokipush_request` the protobuf path produces, so the server has one ingest path:
 *
 *   {"streams":[{"stream":{"job":"app"},
 *                "values":[["1570818238000000000","line"],["<ns>","line",{"trace_id":"abc"}]]}]}
 *
 * Rules (Loki's pkg/loghttp/query.go PushRequest + pkg/loghttp/push parsing, with the contract's
 * stricter points):
 *  - the body is one JSON object (strict RFC 8259, formats/jsonr.h); unknown keys at any level are
 *    ignored; "streams": null or "values": null mean none; a null entry in "values" is skipped;
 *    a key given twice replaces the earlier value, as Go's decoders do;
 *  - "stream" is an object of label name -> string (a number is taken as its text, as Loki does);
 *    the set is formatted as a selector and parsed with lokipush_parse_labels, so names and
 *    values are validated and normalised exactly like the protobuf path (sorted, identical pairs
 *    merged, empty values dropped; a name given twice with different values, or no labels at all,
 *    is an error); StreamAdapter.labels holds that selector text;
 *  - every entry is an array of 2 or 3 elements: [0] a JSON string holding integer Unix
 *    nanoseconds (Go strconv.ParseInt rules; a JSON number is an error), [1] the line (string),
 *    [2] optional structured metadata, a flat object of string values;
 *  - strings are decoded like Go (escapes, surrogate pairs; invalid UTF-8 and lone surrogates
 *    become U+FFFD). A line or value without escapes borrows the body; others are decoded into
 *    the decoder's arena.
 * Errors: ERR_LIMIT (body larger than body_bytes_max, or more than mem_bytes_max of arena),
 * ERR_CORRUPT (not valid JSON: the message has Go's wording and the byte offset), ERR_INVALID
 * (valid JSON that breaks the rules above; the message names the stream and entry), ERR_NOMEM.
 * Ownership: the result borrows `body` (which must outlive it) and the decoder's arena, valid
 * until the next decode or reset (see formats/wire/wire.h). Not thread-safe. */
#ifndef STRATA_FORMATS_WIRE_LOKIPUSH_JSON_H
#define STRATA_FORMATS_WIRE_LOKIPUSH_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "formats/wire/lokipush.h"
#include "formats/wire/wire.h"

/* Decode + validate; on success fills *out like lokipush_decode (out->pb is built in the arena;
 * lokipush_entry_ts_ns works on its entries). */
int lokipush_json_decode(struct wire_decoder *d, const uint8_t *body, size_t n,
                         struct lokipush_request *out);

/* Appends the JSON push body for `streams` (labels as a "stream" object in the order given;
 * labels_text is ignored) to out. Returns 0 or ERR_NOMEM. */
int lokipush_json_encode(const struct lokipush_stream_in *streams, size_t n, struct buf *out);

#endif
