/* Ingest validation of series label sets and tenant ids, shared by the remote-write path (and later
 * the Loki push path): the rules Prometheus 3 applies to remote-written series (UTF-8 names, a
 * metric name, valid UTF-8 values) plus strata's limits and its reserved tenant label.
 *
 * Rules for one series (labels as the client sent them, already sorted by name with unique,
 * non-empty names: formats/wire/rw.h checked that; labels with an empty value dropped, since an
 * empty value means "absent" in Prometheus):
 *   - `__name__` is present (with a non-empty value: empty values are dropped before);
 *   - every name and value is valid UTF-8 (Prometheus 3's UTF-8 name validation: any valid UTF-8
 *     non-empty name is allowed, so `http.status` or `指标` are fine);
 *   - no client label is named `__tenant__` (reserved: strata adds it from X-Scope-OrgID);
 *   - at most labels_per_series_max labels, names of at most label_name_bytes_max bytes, values of
 *     at most label_value_bytes_max bytes (0 disables a limit).
 * Failures return ERR_INVALID (a rule) or ERR_LIMIT (a limit) with a one-line reason naming the
 * series, e.g. `series {__name__="up", job="x"}: label value longer than 2048 bytes: "job"`.
 *
 * Tenant ids (X-Scope-OrgID, as Cortex/Mimir/Loki define them): 1 to 150 bytes of ASCII letters,
 * digits and `!-_.*'()`, and neither "." nor "..".
 *
 * Pure functions; thread-safe. */
#ifndef STRATA_SERVER_VALIDATE_H
#define STRATA_SERVER_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"

#define VALIDATE_TENANT_LABEL     "__tenant__"
#define VALIDATE_METRIC_NAME      "__name__"
#define VALIDATE_TENANT_BYTES_MAX 150
#define VALIDATE_REASON_MAX       384

struct validate_limits {
    uint32_t labels_per_series_max; /* client labels incl. __name__ (default 30) */
    uint32_t label_name_bytes_max;  /* default 1024 */
    uint32_t label_value_bytes_max; /* default 2048 */
};

void validate_limits_default(struct validate_limits *l);

/* True when s[0..n) is valid UTF-8 (shortest forms only, no surrogates, <= U+10FFFF). */
bool validate_utf8(const char *s, size_t n);

/* NULL when `tenant` is a valid tenant id, else a static reason. */
const char *validate_tenant(struct str tenant);

/* Checks one series' client labels in[0..n) as decoded (empty-valued labels are skipped, as they
 * will be dropped; see the rules above). Returns 0, ERR_INVALID or ERR_LIMIT with
 * the reason in reason[0..reason_size) (NUL-terminated). */
int validate_series(const struct validate_limits *l, const struct label *labels, size_t n,
                    char *reason, size_t reason_size);

/* Copies the client labels in[0..n) without the empty-valued ones into out, inserting
 * {__tenant__=tenant} at its sorted place, and returns the count written (at most n + 1; out must
 * have room for n + 1). The strings are borrowed, not copied. in must be sorted by name. */
size_t validate_labels_with_tenant(const struct label *in, size_t n, struct str tenant,
                                   struct label *out);

/* Writes `{__name__="up", job="a", "odd.name"="b"}` for error messages: names outside
 * [a-zA-Z0-9_:] and every value Go-quoted (control and invalid bytes escaped), truncated with "..."
 * to fit cap (NUL-terminated). */
void validate_fmt_labels(char *dst, size_t cap, const struct label *labels, size_t n);

#endif
