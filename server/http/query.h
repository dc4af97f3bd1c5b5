/* URL query strings and application/x-www-form-urlencoded bodies: percent-decoding, '+' as space,
 * repeated keys (`match[]=a&match[]=b`). Pure: no I/O.
 *
 * A `struct http_params` owns copies of the decoded keys and values (in an arena) so the source
 * bytes may be freed after parsing. Parameters keep their order; several sources can be added to
 * one set (Prometheus merges form and URL parameters with the form first, like Go's r.FormValue:
 * add the form body first, then the URL query, and read the first value of a key).
 *
 * Errors: ERR_INVALID for a malformed percent escape (the caller answers 400), ERR_LIMIT when more
 * than HTTP_PARAMS_MAX parameters arrive, ERR_NOMEM. Not thread-safe; one owner. */
#ifndef STRATA_SERVER_HTTP_QUERY_H
#define STRATA_SERVER_HTTP_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/str.h"

#define HTTP_PARAMS_MAX 10000

struct http_param {
    struct str key;
    struct str value;
};

struct http_params {
    struct http_param *items;
    uint32_t n;
    uint32_t cap;
    struct arena arena; /* decoded bytes */
};

void http_params_init(struct http_params *ps);
void http_params_deinit(struct http_params *ps);
/* Forgets every parameter, keeping memory for reuse. */
void http_params_reset(struct http_params *ps);

/* Appends the pairs of a query string or form body ("a=1&b=x+y&c=%2F"). Pairs are separated by '&';
 * empty pairs are skipped; a pair without '=' has an empty value. '+' decodes to a space. On error
 * the set keeps the pairs added before the bad one. */
int http_params_parse(struct http_params *ps, const char *s, size_t n);

/* First value of key; false when absent. */
bool http_params_get(const struct http_params *ps, const char *key, struct str *value);
/* Every value of key in order into out[0..max); returns how many exist (may exceed max). */
size_t http_params_get_all(const struct http_params *ps, const char *key, struct str *out,
                           size_t max);

/* Percent-decodes src[0..n) into dst (which may alias src: output is never longer than input).
 * With plus_is_space, '+' becomes ' '. Returns the decoded length or ERR_INVALID for '%' not
 * followed by two hex digits. */
int64_t http_pct_decode(char *dst, const char *src, size_t n, bool plus_is_space);

#endif
