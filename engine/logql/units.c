/* LogQL number, duration and byte-size parsing and Go-compatible formatting (see units.h). */
#include "engine/logql/units.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/wire/utf8.h"

#define NS_MS  1000000LL
#define NS_S   1000000000LL
#define NS_MIN (60 * NS_S)
#define NS_H   (60 * NS_MIN)
#define NS_D   (24 * NS_H)

static bool is_dig(char c)
{
    return c >= '0' && c <= '9';
}

struct prom_unit {
    const char *name;
    uint64_t ns;
    int pos;
};

static const struct prom_unit prom_units[] = {
    {"y", 365 * NS_D, 1}, {"w", 7 * NS_D, 2}, {"d", NS_D, 3},   {"h", NS_H, 4},
    {"m", NS_MIN, 5},     {"s", NS_S, 6},     {"ms", NS_MS, 7},
};

static const struct prom_unit *prom_unit_of(const char *p, size_t n)
{
    for (size_t i = 0; i < sizeof prom_units / sizeof prom_units[0]; i++)
        if (strlen(prom_units[i].name) == n && memcmp(prom_units[i].name, p, n) == 0)
            return &prom_units[i];
    return NULL;
}

int logql_parse_prom_duration(struct str s, int64_t *ns)
{
    if (s.len == 1 && s.ptr[0] == '0') {
        *ns = 0;
        return 0;
    }
    if (s.len == 0)
        return ERR_INVALID;
    uint64_t dur = 0;
    int last_pos = 0;
    size_t i = 0;
    while (i < s.len) {
        if (!is_dig(s.ptr[i]))
            return ERR_INVALID;
        uint64_t v = 0;
        bool big = false;
        for (; i < s.len && is_dig(s.ptr[i]); i++) {
            if (v > (UINT64_MAX - 9) / 10)
                big = true;
            else
                v = v * 10 + (uint64_t)(s.ptr[i] - '0');
        }
        size_t u0 = i;
        while (i < s.len && !is_dig(s.ptr[i]))
            i++;
        const struct prom_unit *u = prom_unit_of(s.ptr + u0, i - u0);
        if (big || !u || u->pos <= last_pos)
            return ERR_INVALID;
        last_pos = u->pos;
        if (v > (1ULL << 63) / u->ns)
            return ERR_RANGE;
        dur += v * u->ns;
        if (dur > (uint64_t)INT64_MAX)
            return ERR_RANGE;
    }
    *ns = (int64_t)dur;
    return 0;
}

static uint64_t go_unit(const char *p, size_t n)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {{"ns", 1},           {"us", 1000}, {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
                 {"\xce\xbcs", 1000},                                    /* U+03BC Greek mu */
                 {"ms", NS_MS},       {"s", NS_S},  {"m", NS_MIN},       {"h", NS_H}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strlen(units[i].name) == n && memcmp(units[i].name, p, n) == 0)
            return units[i].ns;
    return 0;
}

/* One "<int>[.<frac>]<unit>" component of a Go duration; adds its value to *d. */
static int go_component(struct str s, size_t *ip, uint64_t *d)
{
    size_t i = *ip;
    const uint64_t lim = 1ULL << 63;
    if (!(s.ptr[i] == '.' || is_dig(s.ptr[i])))
        return ERR_INVALID;
    uint64_t v = 0, f = 0;
    double scale = 1;
    size_t p0 = i;
    for (; i < s.len && is_dig(s.ptr[i]); i++) {
        if (v > lim / 10)
            return ERR_RANGE;
        v = v * 10 + (uint64_t)(s.ptr[i] - '0');
        if (v > lim)
            return ERR_RANGE;
    }
    bool pre = i != p0, post = false;
    if (i < s.len && s.ptr[i] == '.') {
        size_t f0 = ++i;
        bool overflow = false;
        for (; i < s.len && is_dig(s.ptr[i]); i++) {
            if (overflow)
                continue;
            if (f > (lim - 1) / 10) {
                overflow = true;
                continue;
            }
            uint64_t y = f * 10 + (uint64_t)(s.ptr[i] - '0');
            if (y > lim) {
                overflow = true;
                continue;
            }
            f = y;
            scale *= 10;
        }
        post = i != f0;
    }
    if (!pre && !post)
        return ERR_INVALID;
    size_t u0 = i;
    while (i < s.len && s.ptr[i] != '.' && !is_dig(s.ptr[i]))
        i++;
    uint64_t unit = go_unit(s.ptr + u0, i - u0);
    if (!unit)
        return ERR_INVALID;
    if (v > lim / unit)
        return ERR_RANGE;
    v *= unit;
    if (f > 0) {
        v += (uint64_t)((double)f * ((double)unit / scale));
        if (v > lim)
            return ERR_RANGE;
    }
    *d += v;
    if (*d > lim)
        return ERR_RANGE;
    *ip = i;
    return 0;
}

int logql_parse_go_duration(struct str s, int64_t *ns)
{
    size_t i = 0;
    bool neg = false;
    if (s.len > 0 && (s.ptr[0] == '-' || s.ptr[0] == '+')) {
        neg = s.ptr[0] == '-';
        i = 1;
    }
    if (s.len - i == 1 && s.ptr[i] == '0') {
        *ns = 0;
        return 0;
    }
    if (i == s.len)
        return ERR_INVALID;
    uint64_t d = 0;
    while (i < s.len) {
        int rc = go_component(s, &i, &d);
        if (rc)
            return rc;
    }
    if (neg) {
        *ns = d == (1ULL << 63) ? INT64_MIN : -(int64_t)d;
        return 0;
    }
    if (d > (uint64_t)INT64_MAX)
        return ERR_RANGE;
    *ns = (int64_t)d;
    return 0;
}

int logql_parse_duration(struct str s, int64_t *ns)
{
    if (logql_parse_prom_duration(s, ns) == 0)
        return 0;
    return logql_parse_go_duration(s, ns);
}

int logql_parse_bytes(struct str s, uint64_t *out)
{
    static const struct {
        const char *unit;
        double mult;
    } table[] = {
        {"", 1},         {"b", 1},        {"k", 1e3},      {"kb", 1e3},     {"ki", 0x1p10},
        {"kib", 0x1p10}, {"m", 1e6},      {"mb", 1e6},     {"mi", 0x1p20},  {"mib", 0x1p20},
        {"g", 1e9},      {"gb", 1e9},     {"gi", 0x1p30},  {"gib", 0x1p30}, {"t", 1e12},
        {"tb", 1e12},    {"ti", 0x1p40},  {"tib", 0x1p40}, {"p", 1e15},     {"pb", 1e15},
        {"pi", 0x1p50},  {"pib", 0x1p50}, {"e", 1e18},     {"eb", 1e18},    {"ei", 0x1p60},
        {"eib", 0x1p60},
    };
    char num[64], unit[8];
    size_t nn = 0, i = 0;
    for (; i < s.len && (is_dig(s.ptr[i]) || s.ptr[i] == '.' || s.ptr[i] == ','); i++)
        if (s.ptr[i] != ',' && nn + 1 < sizeof num)
            num[nn++] = s.ptr[i];
    if (i >= sizeof num)
        return ERR_INVALID;
    num[nn] = 0;
    double f;
    if (logql_parse_float((struct str){num, nn}, &f) != 0)
        return ERR_INVALID;
    size_t u0 = i, u1 = s.len;
    while (u0 < u1 && (s.ptr[u0] == ' ' || s.ptr[u0] == '\t' || s.ptr[u0] == '\n'))
        u0++;
    while (u1 > u0 && (s.ptr[u1 - 1] == ' ' || s.ptr[u1 - 1] == '\t' || s.ptr[u1 - 1] == '\n'))
        u1--;
    if (u1 - u0 >= sizeof unit)
        return ERR_INVALID;
    for (size_t k = u0; k < u1; k++)
        unit[k - u0] = (char)((s.ptr[k] >= 'A' && s.ptr[k] <= 'Z') ? s.ptr[k] + 32 : s.ptr[k]);
    unit[u1 - u0] = 0;
    for (size_t k = 0; k < sizeof table / sizeof table[0]; k++) {
        if (strcmp(table[k].unit, unit) == 0) {
            f *= table[k].mult;
            if (f >= 0x1p64)
                return ERR_RANGE;
            *out = (uint64_t)f;
            return 0;
        }
    }
    return ERR_INVALID;
}

/* Go's underscoreOK: '_' only between digits or after a base prefix. */
static bool underscore_ok(const char *s, size_t n)
{
    char saw = '^';
    size_t i = 0;
    if (n >= 1 && (s[0] == '-' || s[0] == '+')) {
        s++;
        n--;
    }
    bool hex = false;
    if (n >= 2 && s[0] == '0' && strchr("bBoOxX", s[1])) {
        i = 2;
        saw = '0';
        hex = s[1] == 'x' || s[1] == 'X';
    }
    for (; i < n; i++) {
        char c = s[i];
        char lc = (char)(c | 0x20);
        if (is_dig(c) || (hex && lc >= 'a' && lc <= 'f')) {
            saw = '0';
        } else if (c == '_') {
            if (saw != '0')
                return false;
            saw = '_';
        } else {
            if (saw == '_')
                return false;
            saw = '!';
        }
    }
    return saw != '_';
}

static bool ci_eq(const char *p, size_t n, const char *lit)
{
    if (strlen(lit) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((p[i] | 0x20) != lit[i])
            return false;
    return true;
}

/* Checks the shape of a Go float literal (without sign) and copies it without '_' into out. */
static int float_shape(const char *p, size_t n, char *out, size_t cap)
{
    bool hex = n >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
    size_t i = hex ? 2 : 0, o = 0, digits = 0;
    bool dot = false;
    if (hex && cap > 2) {
        out[o++] = '0';
        out[o++] = 'x';
    }
    for (; i < n; i++) {
        char c = p[i], lc = (char)(c | 0x20);
        if (c == '_')
            continue;
        if (is_dig(c) || (hex && lc >= 'a' && lc <= 'f')) {
            digits++;
        } else if (c == '.' && !dot) {
            dot = true;
        } else {
            break;
        }
        if (o + 1 >= cap)
            return ERR_INVALID;
        out[o++] = c;
    }
    if (digits == 0)
        return ERR_INVALID;
    if (i < n && ((!hex && (p[i] | 0x20) == 'e') || (hex && (p[i] | 0x20) == 'p'))) {
        if (o + 1 >= cap)
            return ERR_INVALID;
        out[o++] = p[i++];
        if (i < n && (p[i] == '+' || p[i] == '-'))
            out[o++] = p[i++];
        size_t e0 = i;
        for (; i < n && (is_dig(p[i]) || p[i] == '_'); i++) {
            if (p[i] == '_')
                continue;
            if (o + 1 >= cap)
                return ERR_INVALID;
            out[o++] = p[i];
        }
        if (i == e0)
            return ERR_INVALID;
    } else if (hex) {
        return ERR_INVALID; /* hex mantissa requires a p exponent */
    }
    if (i != n)
        return ERR_INVALID;
    out[o] = 0;
    return 0;
}

int logql_parse_float(struct str s, double *out)
{
    const char *p = s.ptr;
    size_t n = s.len;
    bool neg = false;
    if (n > 0 && (p[0] == '+' || p[0] == '-')) {
        neg = p[0] == '-';
        p++;
        n--;
    }
    if (ci_eq(p, n, "inf") || ci_eq(p, n, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return 0;
    }
    if (ci_eq(p, n, "nan")) {
        *out = NAN;
        return 0;
    }
    if (memchr(p, '_', n) && !underscore_ok(p, n))
        return ERR_INVALID;
    char tmp[512];
    if (n == 0 || float_shape(p, n, tmp, sizeof tmp) != 0)
        return ERR_INVALID;
    errno = 0;
    double v = strtod(tmp, NULL);
    if (errno == ERANGE && isinf(v))
        return ERR_RANGE;
    *out = neg ? -v : v;
    return 0;
}

int logql_parse_int(struct str s, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (s.len > 0 && (s.ptr[0] == '+' || s.ptr[0] == '-')) {
        neg = s.ptr[0] == '-';
        i = 1;
    }
    if (i == s.len)
        return ERR_INVALID;
    uint64_t v = 0;
    for (; i < s.len; i++) {
        if (!is_dig(s.ptr[i]))
            return ERR_INVALID;
        if (v > (UINT64_MAX - 9) / 10)
            return ERR_RANGE;
        v = v * 10 + (uint64_t)(s.ptr[i] - '0');
    }
    if (neg) {
        if (v > (1ULL << 63))
            return ERR_RANGE;
        *out = v == (1ULL << 63) ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return ERR_RANGE;
        *out = (int64_t)v;
    }
    return 0;
}

/* ---- formatting ---- */

/* Writes the fraction of v / 10^prec (without trailing zeros) before *w in buf; returns v /
 * 10^prec. Mirrors Go's fmtFrac. */
static uint64_t fmt_frac(char *buf, size_t *w, uint64_t v, int prec)
{
    bool print = false;
    for (int i = 0; i < prec; i++) {
        int digit = (int)(v % 10);
        print = print || digit != 0;
        if (print)
            buf[--*w] = (char)('0' + digit);
        v /= 10;
    }
    if (print)
        buf[--*w] = '.';
    return v;
}

static void fmt_uint(char *buf, size_t *w, uint64_t v)
{
    if (v == 0) {
        buf[--*w] = '0';
        return;
    }
    while (v > 0) {
        buf[--*w] = (char)('0' + v % 10);
        v /= 10;
    }
}

int logql_fmt_go_duration(struct buf *b, int64_t ns)
{
    char buf[40];
    size_t w = sizeof buf;
    uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    if (u < (uint64_t)NS_S) {
        int prec = 0;
        buf[--w] = 's';
        if (u == 0)
            return buf_append_str(b, "0s");
        if (u < 1000) {
            buf[--w] = 'n';
        } else if (u < (uint64_t)NS_MS) {
            prec = 3;
            buf[--w] = (char)0xb5;
            buf[--w] = (char)0xc2;
        } else {
            prec = 6;
            buf[--w] = 'm';
        }
        u = fmt_frac(buf, &w, u, prec);
        fmt_uint(buf, &w, u);
    } else {
        buf[--w] = 's';
        u = fmt_frac(buf, &w, u, 9);
        fmt_uint(buf, &w, u % 60);
        u /= 60;
        if (u > 0) {
            buf[--w] = 'm';
            fmt_uint(buf, &w, u % 60);
            u /= 60;
            if (u > 0) {
                buf[--w] = 'h';
                fmt_uint(buf, &w, u);
            }
        }
    }
    if (ns < 0)
        buf[--w] = '-';
    return buf_append(b, buf + w, sizeof buf - w);
}

int logql_fmt_prom_duration(struct buf *b, int64_t ns)
{
    int64_t ms = ns / NS_MS;
    if (ms == 0)
        return buf_append_str(b, "0s");
    static const struct {
        const char *unit;
        int64_t mult;
        bool exact;
    } units[] = {{"y", 1000LL * 60 * 60 * 24 * 365, true},
                 {"w", 1000LL * 60 * 60 * 24 * 7, true},
                 {"d", 1000LL * 60 * 60 * 24, false},
                 {"h", 1000LL * 60 * 60, false},
                 {"m", 1000LL * 60, false},
                 {"s", 1000, false},
                 {"ms", 1, false}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (units[i].exact && ms % units[i].mult != 0)
            continue;
        int64_t v = ms / units[i].mult;
        if (v > 0) {
            int rc = buf_printf(b, "%lld%s", (long long)v, units[i].unit);
            if (rc)
                return rc;
            ms -= v * units[i].mult;
        }
    }
    return 0;
}

int logql_fmt_bytes(struct buf *b, uint64_t v)
{
    static const char *sizes[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    if (v < 10)
        return buf_printf(b, "%lluB", (unsigned long long)v);
    int e = 0;
    double div = 1;
    for (uint64_t t = v; t >= 1000 && e < 6; t /= 1000) {
        e++;
        div *= 1000;
    }
    double val = floor((double)v / div * 10 + 0.5) / 10;
    return buf_printf(b, val < 10 ? "%.1f%s" : "%.0f%s", val, sizes[e]);
}

/* Shortest round-tripping decimal digits of v > 0: digits[0..*nd) and the exponent such that
 * v = 0.d1d2... * 10^(*dp). */
static void shortest_digits(double v, char *digits, int *nd, int *dp)
{
    char tmp[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    int n = 0;
    const char *q = tmp;
    for (; *q && *q != 'e'; q++)
        if (is_dig(*q))
            digits[n++] = *q;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    *nd = n;
    *dp = atoi(q + 1) + 1;
}

static int fmt_special(struct buf *b, double v, bool *done)
{
    *done = true;
    if (isnan(v))
        return buf_append_str(b, "NaN");
    if (isinf(v))
        return buf_append_str(b, v > 0 ? "+Inf" : "-Inf");
    if (v == 0)
        return buf_append_str(b, signbit(v) ? "-0" : "0");
    *done = false;
    return 0;
}

/* Plain decimal rendering of digits with decimal point position dp. */
static int fmt_plain(struct buf *b, const char *d, int nd, int dp)
{
    int rc = 0;
    if (dp <= 0) {
        rc = buf_append_str(b, "0.");
        for (int i = 0; i < -dp && !rc; i++)
            rc = buf_append_u8(b, '0');
        return rc ? rc : buf_append(b, d, (size_t)nd);
    }
    for (int i = 0; i < dp && !rc; i++)
        rc = buf_append_u8(b, i < nd ? (uint8_t)d[i] : '0');
    if (!rc && nd > dp) {
        rc = buf_append_u8(b, '.');
        if (!rc)
            rc = buf_append(b, d + dp, (size_t)(nd - dp));
    }
    return rc;
}

int logql_fmt_float_v(struct buf *b, double v)
{
    bool done;
    int rc = fmt_special(b, v, &done);
    if (done)
        return rc;
    if (v < 0 && (rc = buf_append_u8(b, '-')))
        return rc;
    char d[24];
    int nd, dp;
    shortest_digits(fabs(v), d, &nd, &dp);
    int exp = dp - 1;
    if (exp >= -4 && exp < 6) /* %g with the shortest precision switches at 1e-4 and 1e6 */
        return fmt_plain(b, d, nd, dp);
    rc = buf_append_u8(b, (uint8_t)d[0]);
    if (!rc && nd > 1) {
        rc = buf_append_u8(b, '.');
        if (!rc)
            rc = buf_append(b, d + 1, (size_t)nd - 1);
    }
    return rc ? rc : buf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
}

int logql_fmt_float_f(struct buf *b, double v)
{
    bool done;
    int rc = fmt_special(b, v, &done);
    if (done)
        return rc;
    if (v < 0 && (rc = buf_append_u8(b, '-')))
        return rc;
    char d[24];
    int nd, dp;
    shortest_digits(fabs(v), d, &nd, &dp);
    return fmt_plain(b, d, nd, dp);
}

int logql_fmt_float_6(struct buf *b, double v)
{
    if (isnan(v))
        return buf_append_str(b, "NaN");
    if (isinf(v))
        return buf_append_str(b, v > 0 ? "+Inf" : "-Inf");
    return buf_printf(b, "%.6f", v);
}

/* Go unicode.IsPrint approximation for non-ASCII code points. */
static bool rune_is_print(uint32_t r)
{
    if (r < 0x20 || r == 0x7f)
        return false;
    if (r < 0x7f)
        return true;
    if (r < 0xa1 || r == 0xad)
        return false;
    if ((r >= 0x2000 && r <= 0x200f) || (r >= 0x2028 && r <= 0x202f) ||
        (r >= 0x205f && r <= 0x206f) || r == 0x3000 || r == 0xfeff || (r >= 0xfff9 && r <= 0xfffb))
        return false;
    if ((r >= 0xe000 && r <= 0xf8ff) || r >= 0xf0000 || (r & 0xfffe) == 0xfffe)
        return false;
    return true;
}

int logql_quote(struct buf *b, struct str s)
{
    static const char hex[] = "0123456789abcdef";
    int rc = buf_append_u8(b, '"');
    const uint8_t *p = (const uint8_t *)s.ptr;
    for (size_t i = 0; i < s.len && !rc;) {
        uint32_t r;
        size_t n = wire_utf8_decode(p + i, s.len - i, &r);
        if (n == 0) {
            char e[4] = {'\\', 'x', hex[p[i] >> 4], hex[p[i] & 15]};
            rc = buf_append(b, e, 4);
            i++;
            continue;
        }
        if (r == '"' || r == '\\') {
            char e[2] = {'\\', (char)r};
            rc = buf_append(b, e, 2);
        } else if (rune_is_print(r)) {
            rc = buf_append(b, p + i, n);
        } else {
            const char *esc = NULL;
            switch (r) {
            case '\a': esc = "\\a"; break;
            case '\b': esc = "\\b"; break;
            case '\f': esc = "\\f"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            case '\t': esc = "\\t"; break;
            case '\v': esc = "\\v"; break;
            }
            if (esc)
                rc = buf_append_str(b, esc);
            else if (r < 0x80)
                rc = buf_printf(b, "\\x%02x", r);
            else if (r < 0x10000)
                rc = buf_printf(b, "\\u%04x", r);
            else
                rc = buf_printf(b, "\\U%08x", r);
        }
        i += n;
    }
    return rc ? rc : buf_append_u8(b, '"');
}

bool logql_rune_is_letter(uint32_t r)
{
    if (r < 0x80)
        return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
    if (r == 0xaa || r == 0xb5 || r == 0xba)
        return true;
    if (r < 0xc0 || r == 0xd7 || r == 0xf7)
        return false;
    if ((r >= 0x2b9 && r <= 0x2ff && !(r <= 0x2c1 || (r >= 0x2c6 && r <= 0x2d1))) ||
        (r >= 0x300 && r <= 0x36f))
        return false;
    if ((r >= 0x2000 && r <= 0x2bff && !(r >= 0x2100 && r <= 0x214f)) ||
        (r >= 0x3000 && r <= 0x303f))
        return false;
    if ((r >= 0xfe00 && r <= 0xfe6f) || (r >= 0xff00 && r <= 0xff20) || (r >= 0xfff0))
        return r >= 0x10000 && !(r >= 0x1f000 && r <= 0x1faff) && r < 0xe0000;
    return !(r >= 0xd800 && r <= 0xf8ff);
}

bool logql_rune_is_digit(uint32_t r)
{
    if (r < 0x80)
        return r >= '0' && r <= '9';
    return (r >= 0x660 && r <= 0x669) || (r >= 0x6f0 && r <= 0x6f9) || (r >= 0x966 && r <= 0x96f) ||
           (r >= 0xff10 && r <= 0xff19);
}

bool logql_rune_is_space(uint32_t r)
{
    switch (r) {
    case ' ':
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case 0x85:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000: return true;
    }
    return r >= 0x2000 && r <= 0x200a;
}
