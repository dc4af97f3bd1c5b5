/* Parameter parsing of the Loki query API (api_loki.h), following Loki's pkg/loghttp/params.go:
 * times (seconds, nanoseconds, float seconds, RFC3339Nano), steps and intervals, limit,
 * direction, the start/end/since bounds, the default step, and the encoding flags header. Pure. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/timefmt.h"
#include "server/api_loki.h"
#include "server/api_prom.h"

#define NUM_MAX 128

/* "<prefix><s Go-quoted><suffix>" into err; returns ERR_INVALID. */
static int fail_quoted(char *err, size_t n, const char *prefix, struct str s, const char *suffix)
{
    struct buf q;
    buf_init(&q);
    if (s.len > 200)
        s.len = 200;
    if (prom_quote(&q, s) || buf_cstr(&q))
        snprintf(err, n, "%s%s", prefix, suffix);
    else
        snprintf(err, n, "%s%s%s", prefix, (const char *)q.data, suffix);
    buf_deinit(&q);
    return ERR_INVALID;
}

/* Go's strconv.ParseInt(s, 10, 64): 0, ERANGE or EINVAL. */
static int parse_int64(struct str s, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-'))
        neg = s.ptr[i++] == '-';
    if (i == s.len)
        return EINVAL;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    bool over = false;
    for (; i < s.len; i++) {
        char c = s.ptr[i];
        if (c < '0' || c > '9')
            return EINVAL;
        if (!over && (v > (lim - (uint64_t)(c - '0')) / 10))
            over = true;
        if (!over)
            v = v * 10 + (uint64_t)(c - '0');
    }
    if (over)
        return ERANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Go's ParseFloat for decimal input ("inf"/"nan" too). */
static bool parse_float(struct str s, double *out)
{
    char tmp[NUM_MAX];
    if (s.len == 0 || s.len >= sizeof tmp)
        return false;
    memcpy(tmp, s.ptr, s.len);
    tmp[s.len] = 0;
    for (size_t i = 0; i < s.len; i++)
        if (tmp[i] == 'x' || tmp[i] == 'X' || isspace((unsigned char)tmp[i]))
            return false; /* no hex floats, no blanks (strtod takes both) */
    char *end;
    errno = 0;
    double d = strtod(tmp, &end);
    if (*end || end == tmp)
        return false;
    *out = d;
    return true;
}

static int64_t sat_mul_add(int64_t a, int64_t m, int64_t b)
{
    __int128 v = (__int128)a * m + b;
    if (v > INT64_MAX)
        return INT64_MAX;
    if (v < INT64_MIN)
        return INT64_MIN;
    return (int64_t)v;
}

/* ---- RFC3339Nano ---- */

static bool parse_rfc3339(struct str s, int64_t *out)
{
    int64_t secs, ns;
    if (!time_parse_rfc3339(s, &secs, &ns))
        return false;
    *out = sat_mul_add(secs, 1000000000, ns);
    return true;
}

/* ---- parameters ---- */

int loki_parse_time(struct str s, int64_t *ns, char *err, size_t err_size)
{
    double t;
    if (memchr(s.ptr, '.', s.len) && parse_float(s, &t) && !isnan(t)) {
        double ip;
        double frac = modf(t, &ip);
        frac = round(frac * 1000) / 1000;
        if (ip >= 9.2e18 || ip <= -9.2e18) {
            *ns = ip > 0 ? INT64_MAX : INT64_MIN;
            return 0;
        }
        *ns = sat_mul_add((int64_t)ip, 1000000000, (int64_t)(frac * 1e9));
        return 0;
    }
    int64_t v;
    int rc = parse_int64(s, &v);
    if (rc == 0) {
        *ns = s.len <= 10 ? sat_mul_add(v, 1000000000, 0) : v;
        return 0;
    }
    if (parse_rfc3339(s, ns))
        return 0;
    return fail_quoted(err, err_size, "strconv.ParseInt: parsing ", s,
                       rc == ERANGE ? ": value out of range" : ": invalid syntax");
}

int loki_parse_duration(struct str s, int64_t *ns, char *err, size_t err_size)
{
    return prom_parse_duration(s, ns, err, err_size);
}

int loki_parse_limit(struct str s, uint32_t dflt, uint32_t *out, char *err, size_t err_size)
{
    if (s.len == 0) {
        *out = dflt;
        return 0;
    }
    int64_t v;
    int rc = parse_int64(s, &v);
    if (rc)
        return fail_quoted(err, err_size, "strconv.Atoi: parsing ", s,
                           rc == ERANGE ? ": value out of range" : ": invalid syntax");
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
    if (since.len && prom_parse_duration(since, &since_ns, why, sizeof why)) {
        snprintf(err, err_size, "could not parse 'since' parameter: %s", why);
        return ERR_INVALID;
    }
    *end_ns = now_ns;
    if (end.len && loki_parse_time(end, end_ns, why, sizeof why)) {
        snprintf(err, err_size, "could not parse 'end' parameter: %s", why);
        return ERR_INVALID;
    }
    int64_t base = *end_ns > now_ns ? now_ns : *end_ns;
    *start_ns = sat_mul_add(base, 1, -since_ns);
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
