/* A direct remote-write 1.0 encoder for the load generator: writes the same bytes as rw1_encode
 * (formats/wire/rw.h, protobuf-c) -- proto3 rules: empty strings, zero values and zero timestamps
 * left out, fields in number order -- without building protobuf-c messages first, which made
 * request building the bottleneck of the metrics mode. tests/unit/tools/test_load_rwenc.c checks
 * byte equality with rw1_encode on random inputs. Pure; thread-safe. */
#ifndef STRATA_TOOLS_LOAD_RWENC_H
#define STRATA_TOOLS_LOAD_RWENC_H

#include <stddef.h>

#include "base/buf.h"
#include "formats/wire/rw.h"

/* Appends a WriteRequest holding series[0..n) to out. Returns 0 or ERR_NOMEM. */
int ld_rw1_encode(const struct rw_series *series, size_t n, struct buf *out);

#endif
