/* Field detection over log entries, as Loki 3.x's detected_fields (pkg/querier DetectedFields):
 * every entry's structured metadata, then its line parsed with `| json`, or when that fails with
 * `| logfmt` (the same executor stages as queries, so names follow Loki: nested JSON keys joined
 * with '_', clashes with stream labels suffixed `_extracted`; __error__ and __error_details__ are
 * never fields). For each field: its type (Loki's determineType on the value seen in the latest
 * entry: int, float, boolean, duration, bytes, else string), its cardinality (distinct values;
 * exact up to values_max, Loki estimates with HyperLogLog), the parsers that produced it (none for
 * structured metadata) and its distinct values (for detected_field/<name>/values).
 *
 * Limits: at most field_limit fields (later names are ignored, as Loki does), at most values_max
 * distinct values kept per field. Memory is bounded by those two and the value sizes.
 *
 * Threading: a detector is used by one thread. */
#ifndef STRATA_ENGINE_LOGQL_DETECT_H
#define STRATA_ENGINE_LOGQL_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"
#include "engine/logql/exec.h"

enum logql_field_type {
    LOGQL_FIELD_STRING = 0,
    LOGQL_FIELD_INT,
    LOGQL_FIELD_FLOAT,
    LOGQL_FIELD_BOOLEAN,
    LOGQL_FIELD_DURATION,
    LOGQL_FIELD_BYTES,
};

/* Loki's JSON name of a type ("string", "int", "float", "boolean", "duration", "bytes"). */
const char *logql_field_type_name(enum logql_field_type t);
/* Loki's determineType: Go's ParseInt, ParseFloat, ParseBool, time.ParseDuration, then
 * go-humanize's ParseBytes, in that order. */
enum logql_field_type logql_field_type_of(struct str v);

enum {
    LOGQL_PARSER_JSON = 1,
    LOGQL_PARSER_LOGFMT = 2,
};

struct logql_detected_field {
    struct str name;
    enum logql_field_type type;
    uint64_t cardinality;
    unsigned parsers;         /* LOGQL_PARSER_* bits; 0: structured metadata */
    const struct str *values; /* distinct values in first-seen order (at most values_max) */
    size_t n_values;
};

struct logql_detect_opts {
    uint32_t field_limit; /* 0: 1000 (Loki's default limit) */
    uint32_t values_max;  /* 0: 10000 */
};

struct logql_detect;

/* Returns 0 or ERR_NOMEM. */
int logql_detect_create(const struct logql_detect_opts *opts, struct logql_detect **out);
void logql_detect_destroy(struct logql_detect *d);
/* Adds one entry (strings are copied). Returns 0 or ERR_NOMEM. */
int logql_detect_add(struct logql_detect *d, const struct logql_entry *e);
/* Fields in first-seen order; valid until the next add or destroy. */
size_t logql_detect_count(const struct logql_detect *d);
void logql_detect_field(const struct logql_detect *d, size_t i, struct logql_detected_field *out);
/* The field named name, or false. */
bool logql_detect_find(const struct logql_detect *d, struct str name,
                       struct logql_detected_field *out);

#endif
