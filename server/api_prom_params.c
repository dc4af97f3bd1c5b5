/* Parameter parsing of the Prometheus query API (api_prom.h): times, durations, limits, U__ label
 * names, with Prometheus's semantics and error messages (web/api/v1 parseTime, parseDuration,
 * parseLimitParam; prometheus/common model.ParseDuration and UnescapeName). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/timefmt.h"
#include "engine/promql/quote.h"
#include "server/api_prom.h"

#define NUM_MAX 128 /* longest numeric parameter we copy for strtod */

int prom_quote(struct buf *b, struct str s)
{
    return promql_quote(b, s.ptr ? s.ptr : "", s.len);
}

/* "<prefix>"<s>"<suffix>" into err, s Go-quoted and cut to a sane length. */
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

void prom_invalid_param(char *out, size_t size, const char *param, const char *msg)
{
    snprintf(out, size, "invalid parameter \"%s\": %s", param, msg);
}

/* ---- numbers ---- */

static bool is_special_float(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    return !strcasecmp(s, "inf") || !strcasecmp(s, "infinity") || !strcasecmp(s, "nan");
}

/* Go's strconv.ParseFloat for decimal input (hex floats are not accepted). */
static bool parse_float(struct str s, double *out)
{
    char tmp[NUM_MAX];
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

/* ---- times ---- */

static int64_t clamp_ms(double ms)
{
    if (ms <= (double)PROM_TIME_MIN_MS)
        return PROM_TIME_MIN_MS;
    if (ms >= (double)PROM_TIME_MAX_MS)
        return PROM_TIME_MAX_MS;
    return (int64_t)ms;
}

/* Float seconds as parseTime does: integral part, fraction rounded to milliseconds. */
static int64_t float_seconds_ms(double t)
{
    double ip;
    double frac = modf(t, &ip);
    if (fabs(ip) > 9.2e15)
        return clamp_ms(ip * 1000);
    return clamp_ms(ip * 1000 + round(frac * 1000));
}

static bool parse_rfc3339(struct str s, int64_t *ms)
{
    int64_t secs, ns;
    if (!time_parse_rfc3339(s, &secs, &ns))
        return false;
    *ms = secs * 1000 + ns / 1000000;
    return true;
}

int prom_parse_time(struct str s, int64_t *ms, char *err, size_t err_size)
{
    double t;
    if (parse_float(s, &t) && !isnan(t)) {
        *ms = float_seconds_ms(t);
        return 0;
    }
    if (parse_rfc3339(s, ms))
        return 0;
    /* Prometheus's own boundary times, which Go's 4-digit-year parser cannot read back */
    if (str_eq_cstr(s, "-292273086-05-16T16:47:06Z")) {
        *ms = PROM_TIME_MIN_MS;
        return 0;
    }
    if (str_eq_cstr(s, "292277025-08-18T07:12:54.999999999Z")) {
        *ms = PROM_TIME_MAX_MS;
        return 0;
    }
    return fail_quoted(err, err_size, "cannot parse ", s, " to a valid timestamp");
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

int prom_parse_duration(struct str s, int64_t *ns, char *err, size_t err_size)
{
    double d;
    if (parse_float(s, &d) && !isnan(d)) {
        double v = d * 1e9;
        if (v >= 9223372036854775807.0 || v < -9223372036854775808.0)
            return fail_quoted(err, err_size, "cannot parse ", s,
                               " to a valid duration. It overflows int64");
        *ns = (int64_t)v;
        return 0;
    }
    if (parse_prom_duration(s, ns))
        return 0;
    return fail_quoted(err, err_size, "cannot parse ", s, " to a valid duration");
}

bool prom_range_too_many_points(int64_t start_ms, int64_t end_ms, int64_t step_ns)
{
    /* time.Time.Sub saturates at the int64 nanosecond range */
    __int128 diff = ((__int128)end_ms - start_ms) * 1000000;
    if (diff > INT64_MAX)
        diff = INT64_MAX;
    if (diff < INT64_MIN)
        diff = INT64_MIN;
    if (step_ns <= 0)
        return false;
    return (int64_t)diff / step_ns > 11000;
}

/* ---- limit ---- */

int prom_parse_limit(struct str s, int64_t *limit, char *err, size_t err_size)
{
    *limit = 0;
    if (s.len == 0)
        return 0;
    size_t i = 0;
    bool neg = false;
    if (s.ptr[0] == '+' || s.ptr[0] == '-') {
        neg = s.ptr[0] == '-';
        i = 1;
    }
    if (i == s.len)
        return fail_quoted(err, err_size, "strconv.Atoi: parsing ", s, ": invalid syntax");
    uint64_t v = 0;
    bool range = false;
    for (; i < s.len; i++) {
        if (!isdigit((unsigned char)s.ptr[i]))
            return fail_quoted(err, err_size, "strconv.Atoi: parsing ", s, ": invalid syntax");
        if (v > (uint64_t)INT64_MAX / 10)
            range = true;
        else
            v = v * 10 + (uint64_t)(s.ptr[i] - '0');
        if (v > (uint64_t)INT64_MAX + neg)
            range = true;
    }
    if (range)
        return fail_quoted(err, err_size, "strconv.Atoi: parsing ", s, ": value out of range");
    if (neg && v != 0) {
        snprintf(err, err_size, "limit must be non-negative");
        return ERR_INVALID;
    }
    *limit = (int64_t)v;
    return 0;
}

/* ---- label names ---- */

static int hexval(char c)
{
    c = (char)tolower((unsigned char)c);
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int put_rune(struct buf *b, uint32_t r)
{
    uint8_t u[4];
    size_t n;
    if (r < 0x80) {
        u[0] = (uint8_t)r;
        n = 1;
    } else if (r < 0x800) {
        u[0] = (uint8_t)(0xc0 | (r >> 6));
        u[1] = (uint8_t)(0x80 | (r & 0x3f));
        n = 2;
    } else if (r < 0x10000) {
        u[0] = (uint8_t)(0xe0 | (r >> 12));
        u[1] = (uint8_t)(0x80 | ((r >> 6) & 0x3f));
        u[2] = (uint8_t)(0x80 | (r & 0x3f));
        n = 3;
    } else {
        u[0] = (uint8_t)(0xf0 | (r >> 18));
        u[1] = (uint8_t)(0x80 | ((r >> 12) & 0x3f));
        u[2] = (uint8_t)(0x80 | ((r >> 6) & 0x3f));
        u[3] = (uint8_t)(0x80 | (r & 0x3f));
        n = 4;
    }
    return buf_append(b, u, n);
}

/* Decodes "_<hex>_" at e[*i] (just past the first '_'); false when it is not a valid escape. */
static bool hex_escape(struct str e, size_t *i, uint32_t *r)
{
    uint32_t v = 0;
    for (size_t j = 0; *i < e.len; j++) {
        if (j >= 6)
            return false;
        if (e.ptr[*i] == '_') {
            if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
                return false;
            *r = v;
            return true;
        }
        int h = hexval(e.ptr[*i]);
        if (h < 0)
            return false;
        v = v * 16 + (uint32_t)h;
        (*i)++;
    }
    return false;
}

/* Unescapes e (the part after "U__") into b; false when invalid. */
static bool unescape_body(struct str e, struct buf *b, int *rc)
{
    for (size_t i = 0; i < e.len && !*rc; i++) {
        if (e.ptr[i] != '_') {
            *rc = buf_append_u8(b, (uint8_t)e.ptr[i]);
            continue;
        }
        if (++i >= e.len)
            return false;
        if (e.ptr[i] == '_') {
            *rc = buf_append_u8(b, '_');
            continue;
        }
        uint32_t r;
        if (!hex_escape(e, &i, &r))
            return false;
        *rc = put_rune(b, r);
    }
    return true;
}

int prom_unescape_name(struct str name, struct buf *out)
{
    size_t start = out->len;
    if (name.len < 3 || memcmp(name.ptr, "U__", 3) != 0)
        return buf_append(out, name.ptr, name.len);
    int rc = 0;
    struct str e = {name.ptr + 3, name.len - 3};
    if (unescape_body(e, out, &rc) || rc)
        return rc;
    out->len = start;
    return buf_append(out, name.ptr, name.len);
}

bool prom_label_name_valid(struct str name)
{
    return name.len > 0 && promql_utf8_valid(name.ptr, name.len);
}
