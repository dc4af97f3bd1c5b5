/* Direct remote-write encoders for the load generator: they write the same bytes as rw1_encode and
 * rw2_encode (formats/wire/rw.h, protobuf-c) -- proto3 rules: empty strings, zero values and zero
 * timestamps left out, fields in number order -- without building protobuf-c messages first, which
 * made request building the bottleneck of the metrics mode (3-4x slower).
 * tests/unit/tools/test_load_rwenc.c checks byte equality with rw1_encode and rw2_encode on random
 * inputs. ld_rw1_encode is pure and thread-safe; a ld_rw2_enc belongs to one thread. */
#ifndef STRATA_TOOLS_LOAD_RWENC_H
#define STRATA_TOOLS_LOAD_RWENC_H

#include <stddef.h>

#include "base/buf.h"
#include "formats/wire/rw.h"

/* Appends a WriteRequest holding series[0..n) to out. Returns 0 or ERR_NOMEM. */
int ld_rw1_encode(const struct rw_series *series, size_t n, struct buf *out);

/* Remote write 2.0: the same bytes as rw2_encode (symbols interned in order of first use after the
 * leading "", label refs packed). The encoder keeps its symbol table between calls to avoid
 * allocations; one per thread. */
struct ld_rw2_enc {
    struct str *syms;
    uint32_t n, cap;
    uint32_t *slots; /* ref + 1, 0 = empty; n_slots is a power of two >= 2 * cap */
    uint32_t n_slots;
    uint32_t *refs;
    size_t cap_refs;
};

void ld_rw2_enc_init(struct ld_rw2_enc *e);
void ld_rw2_enc_deinit(struct ld_rw2_enc *e);
/* Appends a v2 Request holding series[0..n) to out. Returns 0 or ERR_NOMEM. */
int ld_rw2_encode(struct ld_rw2_enc *e, const struct rw_series *series, size_t n, struct buf *out);

#endif
