/* Calendar time text: RFC 3339 timestamps as Go's time.Parse(time.RFC3339Nano, ...) reads them
 * (the form Prometheus's and Loki's APIs accept: "2023-11-14T22:13:20Z", "…20.5+01:00", up to nine
 * fraction digits after '.' or ',', 'T'/'t' and 'Z'/'z'), and the proleptic Gregorian day count
 * they rest on. Pure functions, thread-safe. */
#ifndef STRATA_BASE_TIMEFMT_H
#define STRATA_BASE_TIMEFMT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/str.h"

/* Days since 1970-01-01 of year y, month m (1-12), day d (any year, negative ones too). */
int64_t time_days_from_civil(int64_t y, int64_t m, int64_t d);

/* Parses s as a whole: *unix_s = whole seconds since the epoch (UTC), *frac_ns = 0..999999999.
 * False when s is not such a timestamp (bad field, day beyond the month, trailing bytes). */
bool time_parse_rfc3339(struct str s, int64_t *unix_s, int64_t *frac_ns);

#endif
