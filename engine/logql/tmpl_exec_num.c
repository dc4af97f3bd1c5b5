/* Numeric template functions: sprig's int/float64 conversions (spf13/cast rules: a string that
 * does not parse is 0), integer arithmetic with Go's int64 wrap-around and division panics, the
 * float helpers addf/subf/mulf/divf computed exactly in decimal as shopspring/decimal does
 * (division rounded half away from zero at 16 places), max/min/ceil/floor/round, and Loki's
 * bytes/duration conversions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/exec_tmpl.h"
#include "engine/logql/units.h"

/* ---- cast ---- */

/* cast's trimDecimal: "12.7" -> "12", "-.5" -> "-0"; other shapes unchanged. */
static struct str trim_decimal(struct str s, char *tmp, size_t cap)
{
    const char *dot = memchr(s.ptr, '.', s.len);
    if (!dot)
        return s;
    size_t k = 0;
    if (k < s.len && (s.ptr[k] == '-' || s.ptr[k] == '+'))
        k++;
    while (k < s.len && s.ptr[k] >= '0' && s.ptr[k] <= '9')
        k++;
    if (s.ptr + k != dot)
        return s;
    for (size_t j = k + 1; j < s.len; j++)
        if (s.ptr[j] < '0' || s.ptr[j] > '9')
            return s;
    if (k + 2 > cap)
        return s;
    memcpy(tmp, s.ptr, k);
    size_t n = k;
    if (n == 0 || (n == 1 && (tmp[0] == '-' || tmp[0] == '+')))
        tmp[n++] = '0';
    return (struct str){tmp, n};
}

/* strconv.ParseInt(s, 0, 64): 0x / 0o / 0b / leading-0 octal prefixes, '_' after a prefix. */
static bool parse_int_base0(struct str s, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-'))
        neg = s.ptr[i++] == '-';
    int base = 10;
    if (i + 1 < s.len && s.ptr[i] == '0') {
        char b = (char)(s.ptr[i + 1] | 0x20);
        base = b == 'x' ? 16 : b == 'o' ? 8 : b == 'b' ? 2 : 8;
        i += (b == 'x' || b == 'o' || b == 'b') ? 2 : 1;
    }
    if (i >= s.len)
        return false;
    uint64_t v = 0;
    for (; i < s.len; i++) {
        char c = s.ptr[i];
        if (c == '_' && base != 10)
            continue;
        int d = c >= '0' && c <= '9'                     ? c - '0'
                : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
                                                         : 99;
        if (d >= base || v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            return false;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* Go's int64(float64) on amd64: out of range and NaN give math.MinInt64. */
static int64_t f2i(double d)
{
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        return INT64_MIN;
    return (int64_t)d;
}

int lq_tv_to_int64(const struct lq_tv *v, int64_t *out)
{
    *out = 0;
    switch (v->k) {
    case LQ_TV_INT: *out = v->i; return 0;
    case LQ_TV_FLOAT: *out = f2i(v->f); return 0;
    case LQ_TV_BOOL: *out = v->b; return 0;
    case LQ_TV_NIL: return 0;
    case LQ_TV_STR: {
        if (v->s.len == 0)
            return 0;
        char tmp[64];
        struct str s = trim_decimal(v->s, tmp, sizeof tmp);
        return parse_int_base0(s, out) ? 0 : ERR_INVALID;
    }
    default: return ERR_INVALID;
    }
}

double lq_tv_to_float(const struct lq_tv *v)
{
    double d = 0;
    switch (v->k) {
    case LQ_TV_INT: return (double)v->i;
    case LQ_TV_FLOAT: return v->f;
    case LQ_TV_BOOL: return v->b;
    case LQ_TV_STR: return v->s.len && logql_parse_float(v->s, &d) == 0 ? d : 0;
    default: return 0;
    }
}

static int64_t i64(const struct lq_tv *v)
{
    int64_t x;
    (void)lq_tv_to_int64(v, &x);
    return x;
}

static int ret_i64(int64_t v, struct lq_tv *ret)
{
    *ret = (struct lq_tv){.k = LQ_TV_INT, .it = LQ_INT64, .i = v};
    return 0;
}

static int ret_f(double v, struct lq_tv *ret)
{
    *ret = (struct lq_tv){.k = LQ_TV_FLOAT, .f = v};
    return 0;
}

static int fn_int(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c, (void)n;
    *ret = (struct lq_tv){.k = LQ_TV_INT, .it = LQ_INT, .i = i64(&a[0])};
    return 0;
}

static int fn_float64(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c, (void)n;
    return ret_f(lq_tv_to_float(&a[0]), ret);
}

/* ---- int64 arithmetic (wrapping) ---- */

static int fn_add(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += (uint64_t)i64(&a[i]);
    return ret_i64((int64_t)s, ret);
}

static int fn_sub(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c, (void)n;
    return ret_i64((int64_t)((uint64_t)i64(&a[0]) - (uint64_t)i64(&a[1])), ret);
}

static int fn_mul(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c;
    uint64_t p = (uint64_t)i64(&a[0]);
    for (size_t i = 1; i < n; i++)
        p *= (uint64_t)i64(&a[i]);
    return ret_i64((int64_t)p, ret);
}

static int fn_div(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    int64_t x = i64(&a[0]), y = i64(&a[1]);
    if (y == 0)
        return lq_tx_fail(c, "error calling div: runtime error: integer divide by zero");
    return ret_i64(y == -1 ? (int64_t)(0 - (uint64_t)x) : x / y, ret);
}

static int fn_mod(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    int64_t x = i64(&a[0]), y = i64(&a[1]);
    if (y == 0)
        return lq_tx_fail(c, "error calling mod: runtime error: integer divide by zero");
    return ret_i64(y == -1 ? 0 : x % y, ret);
}

static int fn_max(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c;
    int64_t m = i64(&a[0]);
    for (size_t i = 1; i < n; i++) {
        int64_t v = i64(&a[i]);
        m = v > m ? v : m;
    }
    return ret_i64(m, ret);
}

static int fn_min(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c;
    int64_t m = i64(&a[0]);
    for (size_t i = 1; i < n; i++) {
        int64_t v = i64(&a[i]);
        m = v < m ? v : m;
    }
    return ret_i64(m, ret);
}

/* math.Max / math.Min: NaN wins, -0 < +0. */
static double go_max(double x, double y)
{
    if (isinf(x) && x > 0)
        return x;
    if (isinf(y) && y > 0)
        return y;
    if (isnan(x) || isnan(y))
        return NAN;
    if (x == 0 && x == y)
        return signbit(x) ? y : x;
    return x > y ? x : y;
}

static double go_min(double x, double y)
{
    if (isinf(x) && x < 0)
        return x;
    if (isinf(y) && y < 0)
        return y;
    if (isnan(x) || isnan(y))
        return NAN;
    if (x == 0 && x == y)
        return signbit(x) ? x : y;
    return x < y ? x : y;
}

static int fn_maxf(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c;
    double m = lq_tv_to_float(&a[0]);
    for (size_t i = 1; i < n; i++)
        m = go_max(m, lq_tv_to_float(&a[i]));
    return ret_f(m, ret);
}

static int fn_minf(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c;
    double m = lq_tv_to_float(&a[0]);
    for (size_t i = 1; i < n; i++)
        m = go_min(m, lq_tv_to_float(&a[i]));
    return ret_f(m, ret);
}

static int fn_ceil(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c, (void)n;
    return ret_f(ceil(lq_tv_to_float(&a[0])), ret);
}

static int fn_floor(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c, (void)n;
    return ret_f(floor(lq_tv_to_float(&a[0])), ret);
}

static int fn_round(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c;
    double round_on = n > 2 ? a[2].f : .5;
    double val = lq_tv_to_float(&a[0]);
    double p = pow(10, (double)a[1].i);
    double digit = p * val, ip;
    double frac = modf(digit, &ip);
    double r = frac >= round_on ? ceil(digit) : floor(digit);
    return ret_f(r / p, ret);
}

/* ---- decimal arithmetic (shopspring/decimal as sprig uses it) ---- */

typedef unsigned __int128 u128;

struct dec {
    bool neg;
    u128 c; /* value = c * 10^e */
    int e;
};

static bool pow10_u128(int k, u128 *out)
{
    u128 p = 1;
    for (int i = 0; i < k; i++) {
        if (p > (~(u128)0) / 10)
            return false;
        p *= 10;
    }
    *out = p;
    return true;
}

/* The shortest decimal that reads back as d (NewFromFloat). */
static bool dec_from(double d, struct dec *out, struct buf *b)
{
    buf_reset(b);
    if (logql_fmt_float_v(b, d) != 0 || buf_cstr(b) != 0)
        return false;
    const char *s = (const char *)b->data;
    *out = (struct dec){.neg = *s == '-'};
    s += *s == '-';
    int frac = -1, digits = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s == '.') {
            frac = 0;
            continue;
        }
        if (digits < 36)
            out->c = out->c * 10 + (u128)(*s - '0');
        digits++;
        frac += frac >= 0;
    }
    out->e = (frac > 0 ? -frac : 0) + (*s == 'e' ? atoi(s + 1) : 0);
    return digits < 36;
}

static double dec_to(const struct dec *d)
{
    char tmp[64];
    size_t n = sizeof tmp;
    tmp[--n] = 0;
    u128 c = d->c;
    do {
        tmp[--n] = (char)('0' + (int)(c % 10));
        c /= 10;
    } while (c && n > 1);
    char s[96];
    snprintf(s, sizeof s, "%s%se%d", d->neg ? "-" : "", tmp + n, d->e);
    return strtod(s, NULL);
}

static bool dec_align(struct dec *x, struct dec *y)
{
    struct dec *hi = x->e > y->e ? x : y, *lo = hi == x ? y : x;
    u128 p;
    if (!pow10_u128(hi->e - lo->e, &p) || (hi->c && hi->c > (~(u128)0) / p))
        return false;
    hi->c *= p;
    hi->e = lo->e;
    return true;
}

static bool dec_add(struct dec *x, struct dec y, bool negate_y)
{
    y.neg ^= negate_y;
    if (!dec_align(x, &y))
        return false;
    if (x->neg == y.neg) {
        if (x->c > ~(u128)0 - y.c)
            return false;
        x->c += y.c;
    } else if (x->c >= y.c) {
        x->c -= y.c;
    } else {
        x->c = y.c - x->c;
        x->neg = y.neg;
    }
    return true;
}

static bool dec_mul(struct dec *x, struct dec y)
{
    if (x->c && y.c > (~(u128)0) / x->c)
        return false;
    x->c *= y.c;
    x->e += y.e;
    x->neg ^= y.neg;
    return true;
}

/* DivRound(y, 16): rounded half away from zero at 16 decimal places. */
static bool dec_div(struct dec *x, struct dec y)
{
    int k = x->e - y.e + 16;
    u128 num = x->c, den = y.c, p;
    if (k > 60 || k < -60 || !pow10_u128(k >= 0 ? k : -k, &p))
        return false;
    if (k >= 0) {
        if (num && p > (~(u128)0) / num)
            return false;
        num *= p;
    } else {
        if (p > (~(u128)0) / den)
            return false;
        den *= p;
    }
    u128 q = num / den, r = num % den;
    if (r >= den - r) /* 2r >= den */
        q++;
    x->c = q;
    x->e = -16;
    x->neg ^= y.neg;
    return true;
}

/* sprig's execDecimalOp: op 0 add, 1 sub, 2 mul, 3 div. */
static int decimal_op(struct lq_tctx *c, struct lq_tv *first, struct lq_tv *rest, size_t n, int op,
                      struct lq_tv *ret)
{
    double acc_f = first ? lq_tv_to_float(first) : 0;
    struct dec acc;
    struct buf *tmp = lq_tx_buf(c);
    bool exact = isfinite(acc_f) && dec_from(acc_f, &acc, tmp);
    if (!isfinite(acc_f))
        return lq_tx_fail(c, "error calling decimal op: cannot create a Decimal from %g", acc_f);
    for (size_t i = 0; i < n; i++) {
        double f = lq_tv_to_float(&rest[i]);
        struct dec d;
        if (!isfinite(f))
            return lq_tx_fail(c, "error calling decimal op: cannot create a Decimal from %g", f);
        if (op == 3 && f == 0)
            return lq_tx_fail(c, "error calling divf: decimal division by 0");
        if (exact && dec_from(f, &d, tmp))
            exact = op == 0   ? dec_add(&acc, d, false)
                    : op == 1 ? dec_add(&acc, d, true)
                    : op == 2 ? dec_mul(&acc, d)
                              : dec_div(&acc, d);
        else
            exact = false;
        if (!exact) /* beyond 128-bit decimals: continue in binary floating point */
            acc_f = op == 0 ? acc_f + f : op == 1 ? acc_f - f : op == 2 ? acc_f * f : acc_f / f;
        else
            acc_f = dec_to(&acc);
    }
    return ret_f(acc_f, ret);
}

static int fn_addf(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    return decimal_op(c, NULL, a, n, 0, ret);
}

static int fn_subf(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    return decimal_op(c, &a[0], a + 1, n - 1, 1, ret);
}

static int fn_mulf(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    return decimal_op(c, &a[0], a + 1, n - 1, 2, ret);
}

static int fn_divf(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    return decimal_op(c, &a[0], a + 1, n - 1, 3, ret);
}

/* ---- Loki's conversions ---- */

static int fn_bytes(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    uint64_t v;
    if (logql_parse_bytes(a[0].s, &v) != 0)
        return lq_tx_fail(c, "error calling bytes: invalid size %.*s", (int)a[0].s.len, a[0].s.ptr);
    return ret_f((double)v, ret);
}

static int fn_duration(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    int64_t ns;
    if (logql_parse_go_duration(a[0].s, &ns) != 0)
        return lq_tx_fail(c, "error calling duration: time: invalid duration \"%.*s\"",
                          (int)a[0].s.len, a[0].s.ptr);
    return ret_f((double)(ns / 1000000000) + (double)(ns % 1000000000) / 1e9, ret);
}

#define S LQ_PT_STR
#define I LQ_PT_INT
#define F LQ_PT_FLOAT
#define A LQ_PT_ANY

const struct lq_fn lq_fns_num[] = {
    {"int", 1, {A}, -1, fn_int},
    {"float64", 1, {A}, -1, fn_float64},
    {"add", 0, {0}, A, fn_add},
    {"sub", 2, {A, A}, -1, fn_sub},
    {"mul", 1, {A}, A, fn_mul},
    {"div", 2, {A, A}, -1, fn_div},
    {"mod", 2, {A, A}, -1, fn_mod},
    {"addf", 0, {0}, A, fn_addf},
    {"subf", 1, {A}, A, fn_subf},
    {"mulf", 1, {A}, A, fn_mulf},
    {"divf", 1, {A}, A, fn_divf},
    {"max", 1, {A}, A, fn_max},
    {"min", 1, {A}, A, fn_min},
    {"maxf", 1, {A}, A, fn_maxf},
    {"minf", 1, {A}, A, fn_minf},
    {"ceil", 1, {A}, -1, fn_ceil},
    {"floor", 1, {A}, -1, fn_floor},
    {"round", 2, {A, I}, F, fn_round},
    {"bytes", 1, {S}, -1, fn_bytes},
    {"duration", 1, {S}, -1, fn_duration},
    {"duration_seconds", 1, {S}, -1, fn_duration},
};
const size_t lq_fns_num_n = sizeof lq_fns_num / sizeof lq_fns_num[0];
