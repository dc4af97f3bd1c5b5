/* Streaming JSON writer with Go/jsoniter-compatible string escaping and Prometheus float and
 * timestamp formatting (see formats/jsonw.h for the exact rules and their upstream sources). */
#include "formats/jsonw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "formats/wire/utf8.h"

/* ---- structure ---- */

void jsonw_init(struct jsonw *w, struct buf *out)
{
    memset(w, 0, sizeof *w);
    w->out = out;
}

int jsonw_finish(struct jsonw *w)
{
    ASSERT(w->depth == 0 && !w->want_value);
    return w->err;
}

/* Reserves n bytes; returns where to write them, or NULL (error recorded) on failure. */
static uint8_t *room(struct jsonw *w, size_t n)
{
    if (w->err)
        return NULL;
    int rc = buf_reserve(w->out, n);
    if (rc) {
        w->err = rc;
        return NULL;
    }
    return w->out->data + w->out->len;
}

static void put(struct jsonw *w, const void *p, size_t n)
{
    uint8_t *o = room(w, n);
    if (o && n) {
        memcpy(o, p, n);
        w->out->len += n;
    }
}

static bool in_obj(const struct jsonw *w)
{
    return w->depth > 0 && (w->is_obj >> w->depth) & 1;
}

/* Emits the separator before a value and marks the container non-empty. */
static void before_value(struct jsonw *w)
{
    if (w->want_value) {
        w->want_value = false;
        return;
    }
    ASSERT(!in_obj(w)); /* BUG: a value inside an object needs a key first */
    if (w->depth == 0)
        return;
    if ((w->nonempty >> w->depth) & 1)
        put(w, ",", 1);
    w->nonempty |= 1ull << w->depth;
}

static void open_container(struct jsonw *w, bool obj)
{
    before_value(w);
    ASSERT(w->depth < JSONW_DEPTH_MAX);
    w->depth++;
    w->nonempty &= ~(1ull << w->depth);
    if (obj)
        w->is_obj |= 1ull << w->depth;
    else
        w->is_obj &= ~(1ull << w->depth);
    put(w, obj ? "{" : "[", 1);
}

static void close_container(struct jsonw *w, bool obj)
{
    ASSERT(w->depth > 0 && in_obj(w) == obj && !w->want_value);
    w->depth--;
    put(w, obj ? "}" : "]", 1);
}

void jsonw_obj_begin(struct jsonw *w)
{
    open_container(w, true);
}

void jsonw_obj_end(struct jsonw *w)
{
    close_container(w, true);
}

void jsonw_arr_begin(struct jsonw *w)
{
    open_container(w, false);
}

void jsonw_arr_end(struct jsonw *w)
{
    close_container(w, false);
}

/* ---- strings ---- */

static const char hexdig[] = "0123456789abcdef";

/* 1 where an ASCII byte needs escaping: [0] plain (jsoniter WriteString), [1] HTML-safe. */
static uint8_t esc_table[2][128];

__attribute__((constructor)) static void init_esc_table(void)
{
    for (int h = 0; h < 2; h++) {
        for (int c = 0; c < 0x20; c++)
            esc_table[h][c] = 1;
        esc_table[h]['"'] = esc_table[h]['\\'] = 1;
    }
    esc_table[1]['<'] = esc_table[1]['>'] = esc_table[1]['&'] = 1;
}

static uint8_t *put_ascii_escape(uint8_t *o, uint8_t c)
{
    *o++ = '\\';
    switch (c) {
    case '"':
    case '\\': *o++ = c; break;
    case '\n': *o++ = 'n'; break;
    case '\r': *o++ = 'r'; break;
    case '\t': *o++ = 't'; break;
    default:
        memcpy(o, "u00", 3);
        o[3] = (uint8_t)hexdig[c >> 4];
        o[4] = (uint8_t)hexdig[c & 15];
        o += 5;
    }
    return o;
}

static void put_string(struct jsonw *w, const char *str, size_t n, bool html)
{
    if (n > (SIZE_MAX - 2) / 6) {
        w->err = w->err ? w->err : ERR_NOMEM;
        return;
    }
    uint8_t *o = room(w, 6 * n + 2); /* worst case: every byte becomes \u00XX or \ufffd */
    if (!o)
        return;
    uint8_t *start = o;
    const uint8_t *s = (const uint8_t *)str, *table = esc_table[html];
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (!table[c])
                *o++ = c;
            else
                o = put_ascii_escape(o, c);
            i++;
            continue;
        }
        uint32_t cp;
        size_t len = wire_utf8_decode(s + i, n - i, &cp);
        if (!len) {
            memcpy(o, "\\ufffd", 6);
            o += 6;
            i++;
        } else if (html && (cp == 0x2028 || cp == 0x2029)) {
            memcpy(o, "\\u202", 5);
            o[5] = (uint8_t)hexdig[cp & 15];
            o += 6;
            i += len;
        } else {
            memcpy(o, s + i, len);
            o += len;
            i += len;
        }
    }
    *o++ = '"';
    w->out->len += (size_t)(o - start);
}

void jsonw_key(struct jsonw *w, const char *s, size_t n)
{
    ASSERT(in_obj(w) && !w->want_value); /* BUG: key outside an object or two keys in a row */
    if ((w->nonempty >> w->depth) & 1)
        put(w, ",", 1);
    w->nonempty |= 1ull << w->depth;
    put_string(w, s, n, false);
    put(w, ":", 1);
    w->want_value = true;
}

void jsonw_key_cstr(struct jsonw *w, const char *s)
{
    jsonw_key(w, s, strlen(s));
}

void jsonw_str(struct jsonw *w, const char *s, size_t n)
{
    before_value(w);
    put_string(w, s, n, false);
}

void jsonw_cstr(struct jsonw *w, const char *s)
{
    jsonw_str(w, s, strlen(s));
}

void jsonw_str_html(struct jsonw *w, const char *s, size_t n)
{
    before_value(w);
    put_string(w, s, n, true);
}

void jsonw_raw(struct jsonw *w, const char *json, size_t n)
{
    before_value(w);
    put(w, json, n);
}

/* ---- numbers ---- */

/* Writes v in decimal at the end of tmp[0..20) and returns the first digit's index. */
static size_t utoa_tail(uint64_t v, char tmp[20])
{
    size_t i = 20;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return i;
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
    char tmp[20];
    size_t i = utoa_tail(v, tmp);
    before_value(w);
    put(w, tmp + i, 20 - i);
}

void jsonw_int(struct jsonw *w, int64_t v)
{
    char tmp[21];
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    size_t i = utoa_tail(u, tmp + 1) + 1;
    if (v < 0)
        tmp[--i] = '-';
    before_value(w);
    put(w, tmp + i, 21 - i);
}

void jsonw_bool(struct jsonw *w, bool v)
{
    before_value(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void jsonw_null(struct jsonw *w)
{
    before_value(w);
    put(w, "null", 4);
}

/* Seconds with up to 3 decimals; `trim` drops trailing zeros of the fraction. */
static void put_ts(struct jsonw *w, int64_t ms, bool trim)
{
    char tmp[32];
    size_t n = 0;
    uint64_t u = ms < 0 ? 0 - (uint64_t)ms : (uint64_t)ms;
    if (ms < 0)
        tmp[n++] = '-';
    char digits[20];
    size_t i = utoa_tail(u / 1000, digits);
    memcpy(tmp + n, digits + i, 20 - i);
    n += 20 - i;
    unsigned frac = (unsigned)(u % 1000);
    if (frac) {
        tmp[n++] = '.';
        tmp[n++] = (char)('0' + frac / 100);
        tmp[n++] = (char)('0' + frac / 10 % 10);
        tmp[n++] = (char)('0' + frac % 10);
        while (trim && tmp[n - 1] == '0')
            n--;
    }
    before_value(w);
    put(w, tmp, n);
}

void jsonw_ts_ms(struct jsonw *w, int64_t ms)
{
    put_ts(w, ms, true);
}

void jsonw_ts_ms_prom(struct jsonw *w, int64_t ms)
{
    put_ts(w, ms, false);
}

/* ---- shortest round-trip float formatting ---- */

/* A positive finite double as 0.d[0]d[1]..d[nd-1] x 10^dp, without trailing zeros. */
struct dec {
    char d[24];
    int nd;
    int dp;
};

static const double pow10_tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static void dec_trim(struct dec *x)
{
    while (x->nd > 1 && x->d[x->nd - 1] == '0')
        x->nd--;
}

/* Fast exact path: finds the smallest k with round(a*10^k)/10^k == a (both operands exact, the
 * division correctly rounded, so the decimal round-trips) while the integer stays below 1e15;
 * such a <= 15-digit decimal is the unique shortest representation. */
static bool fast_decimal(double a, struct dec *x)
{
    if (!(a >= 1e-7 && a < 1e15))
        return false;
    for (int k = 0; k < 23; k++) {
        double s = a * pow10_tab[k];
        if (s >= 1e15)
            return false;
        double r = (double)(uint64_t)(s + 0.5);
        if (r == 0 || r / pow10_tab[k] != a)
            continue;
        char tmp[20];
        size_t i = utoa_tail((uint64_t)r, tmp);
        x->nd = (int)(20 - i);
        memcpy(x->d, tmp + i, (size_t)x->nd);
        x->dp = x->nd - k;
        dec_trim(x);
        return true;
    }
    return false;
}

/* Exact shortest digits with 128-bit integers, for 1e-4 <~ a < ~4e37. In units of 2^(e-2) the
 * value is V = 4m and the interval of decimals that parse back to it is [L, H] (bounds included
 * iff m is even, as strtod rounds ties to even), H = V + 2, L = V - 2, or V - 1 just above a
 * power of two where the gap below is half as wide. The shortest decimal lies on the coarsest grid
 * 10^p that has a point in the interval (all points of that grid in it have the same length), and
 * Go picks the one closest to V. */
typedef unsigned __int128 u128;

struct rt_interval {
    uint64_t lo, v, hi; /* L, V, H */
    int e2;             /* value = V * 2^e2 */
    bool incl;
};

static u128 pow10_u128(int k) /* 0 <= k <= 38 */
{
    static const uint64_t p[20] = {1ull,
                                   10ull,
                                   100ull,
                                   1000ull,
                                   10000ull,
                                   100000ull,
                                   1000000ull,
                                   10000000ull,
                                   100000000ull,
                                   1000000000ull,
                                   10000000000ull,
                                   100000000000ull,
                                   1000000000000ull,
                                   10000000000000ull,
                                   100000000000000ull,
                                   1000000000000000ull,
                                   10000000000000000ull,
                                   100000000000000000ull,
                                   1000000000000000000ull,
                                   10000000000000000000ull};
    return k < 20 ? p[k] : (u128)p[19] * p[k - 19];
}

/* Scales the interval for grid 10^p: bounds become l, v, h and the grid step g, all integers.
 * False when that does not fit in 127 bits. */
static bool grid_scale(const struct rt_interval *x, int p, u128 *l, u128 *v, u128 *h, u128 *g)
{
    u128 mul = 1, step = 1;
    if (x->e2 >= 0) {
        if (x->e2 > 70)
            return false;
        mul <<= x->e2;
    } else {
        if (-x->e2 > 126)
            return false;
        step <<= -x->e2;
    }
    if (p >= 0) {
        if (p > 38 || step > ((u128)1 << 126) / pow10_u128(p))
            return false;
        step *= pow10_u128(p);
    } else {
        if (-p > 38 || mul > ((u128)1 << 72) / pow10_u128(-p))
            return false;
        mul *= pow10_u128(-p);
    }
    *l = x->lo * mul;
    *v = x->v * mul;
    *h = x->hi * mul;
    *g = step;
    return true;
}

/* Whether grid 10^p has a point in the interval; false also when out of range. */
static bool grid_hit(const struct rt_interval *x, int p)
{
    u128 l, v, h, g;
    if (!grid_scale(x, p, &l, &v, &h, &g))
        return false;
    u128 c = h / g;
    if (!x->incl && c * g == h)
        c--;
    return x->incl ? c * g >= l : c * g > l;
}

/* The grid point closest to v inside the interval (grid_hit(x, p) must hold). */
static uint64_t grid_pick(const struct rt_interval *x, int p)
{
    u128 l, v, h, g;
    bool ok = grid_scale(x, p, &l, &v, &h, &g);
    ASSERT(ok);
    u128 hi = h / g, lo = (l + g - 1) / g;
    if (!x->incl && hi * g == h)
        hi--;
    if (!x->incl && lo * g == l)
        lo++;
    u128 c = v / g, r = v - c * g;
    if (2 * r > g || (2 * r == g && (c & 1)))
        c++;
    c = c < lo ? lo : c > hi ? hi : c;
    return (uint64_t)c;
}

static bool exact_decimal(double a, struct dec *x)
{
    uint64_t bits;
    memcpy(&bits, &a, 8);
    int be = (int)(bits >> 52);
    uint64_t frac = bits & ((1ull << 52) - 1);
    if (be == 0 || be < 1023 - 14 || be > 1023 + 124)
        return false; /* subnormal, or outside the 128-bit range: slow path */
    uint64_t m = frac | (1ull << 52);
    struct rt_interval iv = {frac == 0 && be > 1 ? 4 * m - 1 : 4 * m - 2, 4 * m, 4 * m + 2,
                             be - 1075 - 2, (m & 1) == 0};
    int e10 = (int)floor((be - 1023) * 0.30102999566398120); /* floor(log10 a), maybe 1 low */
    int p = e10 - 17; /* 17-18 significant digits: always hits */
    if (!grid_hit(&iv, p))
        return false;
    while (grid_hit(&iv, p + 1))
        p++;
    char tmp[20];
    size_t i = utoa_tail(grid_pick(&iv, p), tmp);
    x->nd = (int)(20 - i);
    memcpy(x->d, tmp + i, (size_t)x->nd);
    x->dp = x->nd + p;
    dec_trim(x);
    return true;
}

/* Parses printf's "%.*e" output "d.ddde[+-]XX" into x (digits untrimmed). */
static void dec_from_e(const char *s, struct dec *x)
{
    x->nd = 0;
    for (; *s != 'e'; s++)
        if (*s != '.')
            x->d[x->nd++] = *s;
    x->dp = atoi(s + 1) + 1;
}

static double dec_value(const struct dec *x)
{
    char buf[48];
    snprintf(buf, sizeof buf, "0.%.*se%d", x->nd, x->d, x->dp);
    return strtod(buf, NULL);
}

/* The 16-digit decimal one unit away from x (toward `up`); false when it would lose a digit. */
static bool dec_step(struct dec *x, bool up)
{
    int i = x->nd - 1;
    if (up) {
        while (i >= 0 && x->d[i] == '9')
            x->d[i--] = '0';
        if (i < 0) { /* 999..9 + 1 = 1000..0 */
            x->d[0] = '1';
            x->dp++;
            return true;
        }
        x->d[i]++;
        return true;
    }
    while (i >= 0 && x->d[i] == '0')
        x->d[i--] = '9';
    if (i == 0 && x->d[0] == '1')
        return false; /* 1000..0 - 1 has fewer digits; 15-digit candidates were already tried */
    x->d[i]--;
    return true;
}

/* Exact shortest digits. For normal numbers the rounding interval is narrower than the 15-digit
 * spacing, so if any decimal of <= 15 digits round-trips it is the closest 15-digit one; otherwise
 * try the closest 16-digit decimal and its neighbour on the other side (the interval is asymmetric
 * at powers of two), then 17 digits, which always round-trip. Subnormals have wide, symmetric
 * intervals: try the closest decimal of every length from 1 up. */
static void slow_decimal(double a, struct dec *x)
{
    char buf[40];
    for (int prec = a < 0x1p-1022 ? 1 : 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, a);
        double c = strtod(buf, NULL);
        dec_from_e(buf, x);
        if (c == a)
            break;
        if (prec == 16 && a >= 0x1p-1022) {
            struct dec y = *x;
            if (dec_step(&y, c < a) && dec_value(&y) == a) {
                *x = y;
                break;
            }
        }
    }
    dec_trim(x);
}

static size_t fmt_f(const struct dec *x, char *o)
{
    size_t n = 0;
    if (x->dp > 0) {
        for (int i = 0; i < x->dp; i++)
            o[n++] = i < x->nd ? x->d[i] : '0';
    } else {
        o[n++] = '0';
    }
    if (x->nd > x->dp) {
        o[n++] = '.';
        for (int i = x->dp; i < x->nd; i++)
            o[n++] = i < 0 ? '0' : x->d[i];
    }
    return n;
}

/* Go 'e' format with -1 precision; `json` drops a leading zero of a negative two-digit exponent
 * the way encoding/json does ("1e-07" -> "1e-7"). */
static size_t fmt_e(const struct dec *x, char *o, bool json)
{
    size_t n = 0;
    o[n++] = x->d[0];
    if (x->nd > 1) {
        o[n++] = '.';
        memcpy(o + n, x->d + 1, (size_t)x->nd - 1);
        n += (size_t)x->nd - 1;
    }
    int e = x->dp - 1;
    o[n++] = 'e';
    o[n++] = e < 0 ? '-' : '+';
    unsigned u = (unsigned)(e < 0 ? -e : e);
    if (u >= 100)
        o[n++] = (char)('0' + u / 100);
    if (u >= 10 || !(json && e < 0))
        o[n++] = (char)('0' + u / 10 % 10);
    o[n++] = (char)('0' + u % 10);
    return n;
}

static size_t fmt_float(double v, char *out, bool json)
{
    if (isnan(v)) {
        memcpy(out, "NaN", 3);
        return 3;
    }
    if (isinf(v)) {
        memcpy(out, v > 0 ? "+Inf" : "-Inf", 4);
        return 4;
    }
    size_t n = 0;
    if (signbit(v))
        out[n++] = '-';
    double a = fabs(v);
    if (a == 0) {
        out[n++] = '0';
        return n;
    }
    struct dec x;
    if (!fast_decimal(a, &x) && !exact_decimal(a, &x))
        slow_decimal(a, &x);
    if (a < 1e-6 || a >= 1e21)
        return n + fmt_e(&x, out + n, json);
    return n + fmt_f(&x, out + n);
}

size_t jsonw_fmt_float(double v, char *out)
{
    return fmt_float(v, out, false);
}

void jsonw_float_str(struct jsonw *w, double v)
{
    char tmp[JSONW_FLOAT_MAX + 2];
    tmp[0] = '"';
    size_t n = fmt_float(v, tmp + 1, false);
    tmp[n + 1] = '"';
    before_value(w);
    put(w, tmp, n + 2);
}

void jsonw_float(struct jsonw *w, double v)
{
    if (!isfinite(v)) {
        jsonw_null(w);
        return;
    }
    char tmp[JSONW_FLOAT_MAX];
    size_t n = fmt_float(v, tmp, true);
    before_value(w);
    put(w, tmp, n);
}
