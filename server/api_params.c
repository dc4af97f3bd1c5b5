/* The parameter parsing the Prometheus and Loki query APIs share (api_params.h): Go's ParseFloat
 * and ParseInt on decimal text, RFC 3339 times in a unit, durations (float seconds or
 * prometheus/common model.ParseDuration), Go-quoted error messages. Pure. */
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
#include "engine/promql/quote.h"
#include "server/api_params.h"

int api_fail_quoted(char *err, size_t err_size, const char *prefix, struct str s,
                    const char *suffix)
{
    struct buf q;
    buf_init(&q);
    if (s.len > 200)
        s.len = 200;
    if (promql_quote(&q, s.ptr ? s.ptr : "", s.len) || buf_cstr(&q))
        snprintf(err, err_size, "%s%s", prefix, suffix);
    else
        snprintf(err, err_size, "%s%s%s", prefix, (const char *)q.data, suffix);
    buf_deinit(&q);
    return ERR_INVALID;
}

int64_t api_sat_mul_add(int64_t a, int64_t m, int64_t b)
{
    __int128 v = (__int128)a * m + b;
    if (v > INT64_MAX)
        return INT64_MAX;
    if (v < INT64_MIN)
        return INT64_MIN;
    return (int64_t)v;
}

/* ---- numbers ---- */

static bool is_special_float(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    return !strcasecmp(s, "inf") || !strcasecmp(s, "infinity") || !strcasecmp(s, "nan");
}

bool api_parse_float(struct str s, double *out)
{
    char tmp[API_NUM_MAX];
    if (s.len == 0 || s.len >= sizeof tmp)
        return false;
    memcpy(tmp, s.ptr, s.len);
    tmp[s.len] = 0;
    if (!is_special_float(tmp)) {
        for (size_t i = 0; i < s.len; i++) {
            char c = tmp[i];
            if (!isdigit((unsigned char)c) && c != '.' && c != 'e' && c != 'E' && c != '+' &&
                c != '-')
                return false;
        }
    }
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (*end || end == tmp)
        return false;
    if (errno == ERANGE && fabs(v) < 1)
        v = 0 * v; /* underflow: Go returns the rounded value (0) without an error */
    *out = v;
    return true;
}

int api_parse_int64(struct str s, int64_t *out)
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

int api_parse_atoi(struct str s, int64_t *out, char *err, size_t err_size)
{
    int rc = api_parse_int64(s, out);
    if (rc)
        return api_fail_quoted(err, err_size, "strconv.Atoi: parsing ", s,
                               rc == ERANGE ? ": value out of range" : ": invalid syntax");
    return 0;
}

/* ---- times ---- */

bool api_parse_rfc3339(struct str s, int64_t unit_ns, int64_t *out)
{
    int64_t secs, ns;
    if (!time_parse_rfc3339(s, &secs, &ns))
        return false;
    *out = api_sat_mul_add(secs, 1000000000 / unit_ns, ns / unit_ns);
    return true;
}

/* ---- durations ---- */

/* model.ParseDuration: [0-9]+ unit groups, units strictly from the largest to the smallest. */
static bool parse_prom_duration(struct str s, int64_t *ns)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"y", 365LL * 86400000},
                 {"w", 7LL * 86400000},
                 {"d", 86400000},
                 {"h", 3600000},
                 {"m", 60000},
                 {"s", 1000},
                 {"ms", 1}};
    const int nunits = (int)(sizeof units / sizeof units[0]);
    size_t i = 0;
    int last = -1;
    int64_t total_ms = 0;
    if (s.len == 0)
        return false;
    while (i < s.len) {
        if (!isdigit((unsigned char)s.ptr[i]))
            return false;
        uint64_t v = 0;
        while (i < s.len && isdigit((unsigned char)s.ptr[i])) {
            if (v > (UINT64_MAX - 9) / 10)
                return false;
            v = v * 10 + (uint64_t)(s.ptr[i++] - '0');
        }
        size_t u0 = i;
        while (i < s.len && !isdigit((unsigned char)s.ptr[i]))
            i++;
        struct str u = {s.ptr + u0, i - u0};
        int k = 0;
        while (k < nunits && !str_eq_cstr(u, units[k].unit))
            k++;
        if (k == nunits || k <= last)
            return false;
        last = k;
        if (v > (uint64_t)(INT64_MAX / 1000000 / units[k].ms))
            return false;
        total_ms += (int64_t)v * units[k].ms;
        if (total_ms > INT64_MAX / 1000000)
            return false;
    }
    *ns = total_ms * 1000000;
    return true;
}

int api_parse_duration(struct str s, int64_t *ns, char *err, size_t err_size)
{
    double d;
    if (api_parse_float(s, &d) && !isnan(d)) {
        double v = d * 1e9;
        if (v >= 9223372036854775807.0 || v < -9223372036854775808.0)
            return api_fail_quoted(err, err_size, "cannot parse ", s,
                                   " to a valid duration. It overflows int64");
        *ns = (int64_t)v;
        return 0;
    }
    if (parse_prom_duration(s, ns))
        return 0;
    return api_fail_quoted(err, err_size, "cannot parse ", s, " to a valid duration");
}
