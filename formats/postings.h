/* Postings lists: a set of 32-bit series/stream ids as a CRoaring bitmap, serialized in the Roaring
 * portable format inside our own frame (magic, version, payload length, payload, CRC32C).
 * Byte layout: docs/formats/postings.md.
 *
 * Decoding never trusts the bytes: the frame is checked (magic, version, length, CRC) and then the
 * portable payload is validated structurally by postings_portable_validate() BEFORE it is handed to
 * CRoaring, whose deserializer (0.2.66) is not hardened against forged input.
 *
 * Errors: ERR_TRUNCATED (input ends early), ERR_CORRUPT (bad magic, CRC or structure),
 * ERR_UNSUPPORTED (unknown frame version), ERR_NOMEM. Pure functions; thread-safe. */
#ifndef STRATA_FORMATS_POSTINGS_H
#define STRATA_FORMATS_POSTINGS_H

#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

#include "base/buf.h"

#define POSTINGS_MAGIC         0x47545350u /* "PSTG" as little-endian bytes 50 53 54 47 */
#define POSTINGS_VERSION       1
#define POSTINGS_HEADER_BYTES  12 /* magic(4) version(1) reserved(3) payload_len(4) */
#define POSTINGS_TRAILER_BYTES 4  /* crc32c */

/* Bytes postings_encode will append for `bm`. */
size_t postings_encoded_size(const roaring_bitmap_t *bm);

/* Appends one framed bitmap to `out`. Returns 0 or ERR_NOMEM (out unchanged on failure). The bitmap
 * is serialized as it is: call roaring_bitmap_run_optimize() first to get run containers. */
int postings_encode(const roaring_bitmap_t *bm, struct buf *out);

/* Decodes one frame from the start of p[0..n). On success returns 0, sets *out to a new bitmap the
 * caller frees with roaring_bitmap_free(), and *consumed (may be NULL) to the frame's size;
 * trailing bytes after the frame are not looked at. On error *out is NULL. */
int postings_decode(const uint8_t *p, size_t n, roaring_bitmap_t **out, size_t *consumed);

/* Checks that p[0..n) is exactly one well-formed Roaring portable serialization as CRoaring writes
 * it: known cookie, container count <= 65536, keys strictly increasing, offsets equal to the actual
 * container positions, array containers strictly increasing, bitset popcount equal to the
 * cardinality, run containers sorted, non-overlapping, non-adjacent, within 16 bits and summing to
 * the cardinality, unused run-flag bits zero, no bytes left over. Returns 0, ERR_TRUNCATED or
 * ERR_CORRUPT. After it returns 0, CRoaring's portable deserializer reads only inside p[0..n). */
int postings_portable_validate(const uint8_t *p, size_t n);

#endif
