/* Streaming JSON writer into a `struct buf`, producing the bytes the Prometheus and Loki HTTP APIs
 * produce (both are Go servers using json-iterator):
 *
 *  - jsonw_str: what jsoniter's Stream.WriteString does (Prometheus writes label names and values,
 *    series and matrix keys this way): escapes `"` `\`, \n \r \t, other bytes < 0x20 as \u00XX
 *    (lowercase hex); everything else verbatim, except that an invalid UTF-8 byte becomes \ufffd
 *    (jsoniter would copy it raw and emit invalid JSON; every JSON decoder, Go's included, turns it
 *    into U+FFFD, so clients see the same string).
 *  - jsonw_str_html: Go encoding/json / jsoniter's HTML-escaping encoder (Prometheus's generic
 *    marshalling: error messages, warnings, label-name and label-value lists): the above plus
 *    < > & as \u003c \u003e \u0026 and U+2028 U+2029 as \u2028 \u2029.
 *  - jsonw_float_str: a sample value as Prometheus writes it (util/jsonutil MarshalFloat): a JSON
 *    string holding Go's strconv.AppendFloat(v, fmt, -1, 64), fmt 'e' when v != 0 and |v| < 1e-6
 *    or |v| >= 1e21, else 'f' -- the shortest digits that round-trip: "0.1", "1e-07", "1.5e+21",
 *    "123456789012345680", "-0", and "NaN", "+Inf", "-Inf".
 *  - jsonw_ts_ms: a millisecond timestamp as a JSON number of seconds with at most 3 decimals and
 *    no trailing zeros (1435781451781 -> 1435781451.781, 1500 -> 1.5, 4000 -> 4, -1 -> -0.001),
 *    which is what prometheus/common model.Time and Loki emit. jsonw_ts_ms_prom is byte-exact
 *    Prometheus MarshalTimestamp, which keeps 3 decimals once there is a fraction (1500 ->
 *    1.500). Both decode to the same number.
 *
 * Structure (objects, arrays, keys, commas) is tracked; misuse (a value in an object without a
 * key, unbalanced ends, nesting deeper than JSONW_DEPTH_MAX) is a programmer error and ASSERTs.
 * Allocation failures are sticky: calls become no-ops and jsonw_finish/jsonw_err return
 * ERR_NOMEM. Not thread-safe; one writer per buffer. */
#ifndef STRATA_FORMATS_JSONW_H
#define STRATA_FORMATS_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define JSONW_DEPTH_MAX 63
#define JSONW_FLOAT_MAX 32 /* bytes jsonw_fmt_float may write, with room to spare */

struct jsonw {
    struct buf *out;
    int err;
    uint32_t depth;
    bool want_value;   /* a key was written; the next item is its value */
    uint64_t nonempty; /* bit d: the container at depth d has an element */
    uint64_t is_obj;   /* bit d: the container at depth d is an object */
};

/* Appends to `out` (which keeps its existing bytes). */
void jsonw_init(struct jsonw *w, struct buf *out);
/* ASSERTs that every container is closed; returns 0 or the sticky error. */
int jsonw_finish(struct jsonw *w);
static inline int jsonw_err(const struct jsonw *w)
{
    return w->err;
}

void jsonw_obj_begin(struct jsonw *w);
void jsonw_obj_end(struct jsonw *w);
void jsonw_arr_begin(struct jsonw *w);
void jsonw_arr_end(struct jsonw *w);

/* Object key, escaped like jsonw_str. */
void jsonw_key(struct jsonw *w, const char *s, size_t n);
void jsonw_key_cstr(struct jsonw *w, const char *s);

void jsonw_str(struct jsonw *w, const char *s, size_t n);
void jsonw_cstr(struct jsonw *w, const char *s);
void jsonw_str_html(struct jsonw *w, const char *s, size_t n);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_uint(struct jsonw *w, uint64_t v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* Prometheus sample value, as a JSON string (see above). */
void jsonw_float_str(struct jsonw *w, double v);
/* A float as a JSON number the way Go's encoding/json writes float64 (shortest digits; exponent
 * form "1e-7", "1e+21" outside [1e-6, 1e21)); NaN and infinities, which JSON cannot hold, as null.
 */
void jsonw_float(struct jsonw *w, double v);
void jsonw_ts_ms(struct jsonw *w, int64_t ms);
void jsonw_ts_ms_prom(struct jsonw *w, int64_t ms);
/* An already-encoded JSON value, copied verbatim. */
void jsonw_raw(struct jsonw *w, const char *json, size_t n);

/* Writes v Go-style (strconv.AppendFloat(v, 'f' or 'e' by the Prometheus rule, -1, 64), no quotes)
 * into out[0..JSONW_FLOAT_MAX) and returns the length (not NUL-terminated). Pure. */
size_t jsonw_fmt_float(double v, char *out);

#endif
