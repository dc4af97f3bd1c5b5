/* Parameter parsing of the Prometheus query API (api_prom.h): times, durations, limits, U__ label
 * names, with Prometheus's semantics and error messages (web/api/v1 parseTime, parseDuration,
 * parseLimitParam; prometheus/common UnescapeName), on the primitives both query APIs share
 * (api_params.h: Go's number parsers, RFC 3339, durations). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/promql/quote.h"
#include "server/api_params.h"
#include "server/api_prom.h"

int prom_quote(struct buf *b, struct str s)
{
    return promql_quote(b, s.ptr ? s.ptr : "", s.len);
}

void prom_invalid_param(char *out, size_t size, const char *param, const char *msg)
{
    snprintf(out, size, "invalid parameter \"%s\": %s", param, msg);
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

int prom_parse_time(struct str s, int64_t *ms, char *err, size_t err_size)
{
    double t;
    if (api_parse_float(s, &t) && !isnan(t)) {
        *ms = float_seconds_ms(t);
        return 0;
    }
    if (api_parse_rfc3339(s, 1000000, ms))
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
    return api_fail_quoted(err, err_size, "cannot parse ", s, " to a valid timestamp");
}

/* ---- durations ---- */

int prom_parse_duration(struct str s, int64_t *ns, char *err, size_t err_size)
{
    return api_parse_duration(s, ns, err, err_size);
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
    int64_t v;
    int rc = api_parse_atoi(s, &v, err, err_size);
    if (rc)
        return rc;
    if (v < 0) {
        snprintf(err, err_size, "limit must be non-negative");
        return ERR_INVALID;
    }
    *limit = v;
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
