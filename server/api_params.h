/* The parameter parsing the Prometheus and Loki query APIs share (server/api_prom.h,
 * server/api_loki.h). Both read their parameters with the same Go primitives, so they share
 * them here: strconv.ParseFloat and ParseInt / Atoi on decimal text, RFC 3339 times, durations
 * (float seconds or Prometheus's model.ParseDuration; both APIs accept exactly this set for
 * step, timeout, since, interval, ...), and Go-quoted error messages. What each API accepts as a
 * time differs (api-contract §2.1 and §4.1) and stays in its own parser on top of these.
 *
 * Errors: parsers that take an `err` buffer return ERR_INVALID with the upstream wording in it;
 * the others return false (or an errno value, documented). Pure functions, thread-safe. */
#ifndef STRATA_SERVER_API_PARAMS_H
#define STRATA_SERVER_API_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"

/* Longest numeric parameter read as a float (longer text is not a number to us). */
#define API_NUM_MAX 128

/* Go's strconv.ParseFloat(s, 64) for decimal text: digits, '.', exponent, sign, and the special
 * words inf / infinity / nan (any case, optional sign). No hex floats, no blanks, no bytes after
 * the number. An underflow reads as (signed) zero, as Go does. False when s is not such a
 * number. */
bool api_parse_float(struct str s, double *out);

/* Go's strconv.ParseInt(s, 10, 64): optional sign, decimal digits. Returns 0, EINVAL (syntax) or
 * ERANGE (beyond int64; a syntax error anywhere wins). */
int api_parse_int64(struct str s, int64_t *out);

/* Go's strconv.Atoi with its error text: 0 with *out, or ERR_INVALID with
 * `strconv.Atoi: parsing "<s>": invalid syntax` (or `...: value out of range`) in err. */
int api_parse_atoi(struct str s, int64_t *out, char *err, size_t err_size);

/* An RFC 3339 time (base/timefmt.h) in units of unit_ns nanoseconds since the epoch (1: ns,
 * 1000000: ms; the fraction truncated to the unit), saturated to int64. False when s is not one. */
bool api_parse_rfc3339(struct str s, int64_t unit_ns, int64_t *out);

/* A duration: float seconds (`15`, `0.5`, `-5`) or a Prometheus duration (`[0-9]+` unit groups,
 * units ms s m h d w y from the largest to the smallest, e.g. `1m30s`, `15000ms`). Returns 0 with
 * *ns, or ERR_INVALID with `cannot parse "<s>" to a valid duration` (`... It overflows int64`
 * for float seconds beyond int64 nanoseconds). */
int api_parse_duration(struct str s, int64_t *ns, char *err, size_t err_size);

/* Writes prefix, s Go-quoted (cut to 200 bytes), suffix into err; returns ERR_INVALID. */
int api_fail_quoted(char *err, size_t err_size, const char *prefix, struct str s,
                    const char *suffix);

/* a * m + b, saturated to int64. */
int64_t api_sat_mul_add(int64_t a, int64_t m, int64_t b);

#endif
