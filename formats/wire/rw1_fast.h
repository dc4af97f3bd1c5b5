/* Remote write 1.0 fast-path decoder (used by rw1_decode; see rw1_fast.c for what it covers).
 * Internal to formats/wire. */
#ifndef STRATA_FORMATS_WIRE_RW1_FAST_H
#define STRATA_FORMATS_WIRE_RW1_FAST_H

#include <stddef.h>
#include <stdint.h>

#include "formats/wire/rw.h"

/* Decodes body[0..n) into d's arena when it holds only series of labels and float samples with
 * known fields and wire types: 0 with *out set (not yet validated). 1 when the body is anything
 * else (the caller unpacks it with protobuf-c, which decides), ERR_NOMEM. The caller resets d
 * and checks the body size limit first. */
int rw1_unpack_fast(struct wire_decoder *d, const uint8_t *body, size_t n, rw1_request **out);

#endif
