/* Parameter parsing of the Loki query API (api_loki.h), following Loki's pkg/loghttp/params.go:
 * times (seconds, nanoseconds, float seconds, RFC3339Nano), steps and intervals, limit,
 * direction, the start/end/since bounds, the default step, and the encoding flags header, on the
 * primitives both query APIs share (api_params.h). Pure. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "server/api_loki.h"
#include "server/api_params.h"

/* ---- parameters ---- */

int loki_parse_time(struct str s, int64_t *ns, char *err, size_t err_size)
{
    double t;
    if (memchr(s.ptr, '.', s.len) && api_parse_float(s, &t) && !isnan(t)) {
        double ip;
        double frac = modf(t, &ip);
        frac = round(frac * 1000) / 1000;
        if (ip >= 9.2e18 || ip <= -9.2e18) {
            *ns = ip > 0 ? INT64_MAX : INT64_MIN;
            return 0;
        }
        *ns = api_sat_mul_add((int64_t)ip, 1000000000, (int64_t)(frac * 1e9));
        return 0;
    }
    int64_t v;
    int rc = api_parse_int64(s, &v);
    if (rc == 0) {
        *ns = s.len <= 10 ? api_sat_mul_add(v, 1000000000, 0) : v;
        return 0;
    }
    if (api_parse_rfc3339(s, 1, ns))
        return 0;
    return api_fail_quoted(err, err_size, "strconv.ParseInt: parsing ", s,
                           rc == ERANGE ? ": value out of range" : ": invalid syntax");
}

int loki_parse_duration(struct str s, int64_t *ns, char *err, size_t err_size)
{
    return api_parse_duration(s, ns, err, err_size);
}

int loki_parse_limit(struct str s, uint32_t dflt, uint32_t *out, char *err, size_t err_size)
{
    if (s.len == 0) {
        *out = dflt;
        return 0;
    }
    int64_t v;
    int rc = api_parse_atoi(s, &v, err, err_size);
    if (rc)
        return rc;
    if (v <= 0) {
        snprintf(err, err_size, "limit must be a positive value");
        return ERR_INVALID;
    }
    if (v > (int64_t)UINT32_MAX) {
        snprintf(err, err_size, "limit value %lld is out of range [0, %u]", (long long)v,
                 UINT32_MAX);
        return ERR_INVALID;
    }
    *out = (uint32_t)v;
    return 0;
}

int loki_parse_direction(struct str s, bool *backward, char *err, size_t err_size)
{
    if (s.len == 0 || (s.len == 8 && !strncasecmp(s.ptr, "backward", 8))) {
        *backward = true;
        return 0;
    }
    if (s.len == 7 && !strncasecmp(s.ptr, "forward", 7)) {
        *backward = false;
        return 0;
    }
    snprintf(err, err_size, "invalid direction '%.*s'", (int)(s.len > 200 ? 200 : s.len), s.ptr);
    return ERR_INVALID;
}

int loki_parse_bounds(struct str start, struct str end, struct str since, int64_t now_ns,
                      int64_t *start_ns, int64_t *end_ns, char *err, size_t err_size)
{
    char why[LOKI_ERR_MAX];
    int64_t since_ns = LOKI_DEFAULT_SINCE_NS;
    if (since.len && api_parse_duration(since, &since_ns, why, sizeof why)) {
        snprintf(err, err_size, "could not parse 'since' parameter: %s", why);
        return ERR_INVALID;
    }
    *end_ns = now_ns;
    if (end.len && loki_parse_time(end, end_ns, why, sizeof why)) {
        snprintf(err, err_size, "could not parse 'end' parameter: %s", why);
        return ERR_INVALID;
    }
    int64_t base = *end_ns > now_ns ? now_ns : *end_ns;
    *start_ns = api_sat_mul_add(base, 1, -since_ns);
    if (start.len && loki_parse_time(start, start_ns, why, sizeof why)) {
        snprintf(err, err_size, "could not parse 'start' parameter: %s", why);
        return ERR_INVALID;
    }
    return 0;
}

int64_t loki_default_step_ns(int64_t start_ns, int64_t end_ns)
{
    double secs = ((double)end_ns - (double)start_ns) / 1e9;
    double step = floor(secs / 250);
    if (step < 1)
        step = 1;
    if (step > 9.2e9)
        step = 9.2e9;
    return (int64_t)step * 1000000000;
}

bool loki_flags_categorize(struct str h)
{
    static const char flag[] = "categorize-labels";
    size_t i = 0;
    while (i <= h.len) {
        size_t j = i;
        while (j < h.len && h.ptr[j] != ',')
            j++;
        if (j - i == sizeof flag - 1 && !memcmp(h.ptr + i, flag, sizeof flag - 1))
            return true;
        i = j + 1;
    }
    return false;
}
