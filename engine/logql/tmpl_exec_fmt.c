/* Template values printed the way Go's fmt does: %v of strings, ints, float64 (shortest 'g'),
 * bool, time.Time (Time.String), nil, decoded JSON (map[...] with sorted keys, [a b]) and the
 * label map; printf with Go's verbs, flags, width and precision, and its error forms
 * ("%!d(string=x)", "%!d(MISSING)", "%!(EXTRA ...)"). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/exec_tmpl.h"
#include "engine/logql/units.h"
#include "formats/jsonr.h"
#include "formats/wire/utf8.h"

const char *lq_tv_type(const struct lq_tv *v)
{
    switch (v->k) {
    case LQ_TV_NIL: return "<nil>";
    case LQ_TV_STR: return "string";
    case LQ_TV_INT:
        return v->it == LQ_INT64   ? "int64"
               : v->it == LQ_INT32 ? "int32"
               : v->it == LQ_UINT8 ? "uint8"
                                   : "int";
    case LQ_TV_FLOAT: return "float64";
    case LQ_TV_BOOL: return "bool";
    case LQ_TV_TIME: return "time.Time";
    case LQ_TV_JSON:
        return v->s.len && v->s.ptr[0] == '[' ? "[]interface {}" : "map[string]interface {}";
    case LQ_TV_MAP: return "map[string]string";
    }
    return "?";
}

bool lq_tv_truth(const struct lq_tv *v)
{
    switch (v->k) {
    case LQ_TV_NIL: return false;
    case LQ_TV_STR: return v->s.len > 0;
    case LQ_TV_INT: return v->i != 0;
    case LQ_TV_FLOAT: return v->f != 0;
    case LQ_TV_BOOL: return v->b;
    case LQ_TV_TIME: return true;
    case LQ_TV_JSON: return lq_json_len(v->s) > 0;
    case LQ_TV_MAP: return true;
    }
    return false;
}

/* ---- JSON values as Go prints map[string]interface{} / []interface{} ---- */

size_t lq_json_len(struct str raw)
{
    struct jsonr r;
    jsonr_init(&r, raw.ptr, raw.len, 0);
    if (jsonr_next(&r) <= 0)
        return 0;
    size_t n = 0;
    for (;;) {
        int t = jsonr_next(&r);
        if (t <= 0 || t == JSONR_OBJ_END || t == JSONR_ARR_END)
            return n;
        if (t == JSONR_KEY)
            t = jsonr_next(&r);
        if ((t == JSONR_OBJ_BEGIN || t == JSONR_ARR_BEGIN) && jsonr_skip(&r, NULL) != 0)
            return n;
        n++;
    }
}

struct kv {
    struct str key;
    struct str raw; /* the value's JSON text */
};

static int kv_cmp(const void *a, const void *b)
{
    return str_cmp(((const struct kv *)a)->key, ((const struct kv *)b)->key);
}

static int print_json(struct buf *b, struct str raw, int depth);

static int print_json_scalar(struct buf *b, struct jsonr *r, int t)
{
    switch (t) {
    case JSONR_STRING: return jsonr_unescape_buf(jsonr_text(r), b);
    case JSONR_NUMBER: {
        double d = 0;
        (void)jsonr_double(jsonr_text(r), &d);
        return logql_fmt_float_v(b, d);
    }
    case JSONR_TRUE: return buf_append_str(b, "true");
    case JSONR_FALSE: return buf_append_str(b, "false");
    default: return buf_append_str(b, "<nil>");
    }
}

/* The elements of a container: keys decoded (objects) and raw values. */
static int json_items(struct str raw, struct kv **items, size_t *n, bool *obj)
{
    struct jsonr r;
    jsonr_init(&r, raw.ptr, raw.len, 0);
    *obj = jsonr_next(&r) == JSONR_OBJ_BEGIN;
    size_t cap = 0;
    *items = NULL;
    *n = 0;
    for (;;) {
        int t = jsonr_next(&r);
        if (t <= 0 || t == JSONR_OBJ_END || t == JSONR_ARR_END)
            return t < 0 ? t : 0;
        struct kv it = {{"", 0}, {"", 0}};
        if (*obj) {
            it.key = jsonr_text(&r);
            t = jsonr_next(&r);
        }
        if (t == JSONR_OBJ_BEGIN || t == JSONR_ARR_BEGIN) {
            if (jsonr_skip(&r, &it.raw) != 0)
                return ERR_CORRUPT;
        } else {
            size_t tok = t == JSONR_STRING ? jsonr_text(&r).len + 2 : jsonr_text(&r).len;
            it.raw = (struct str){raw.ptr + jsonr_offset(&r) - tok, tok};
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            struct kv *p = realloc(*items, cap * sizeof *p);
            if (!p)
                return ERR_NOMEM;
            *items = p;
        }
        (*items)[(*n)++] = it;
    }
}

static int print_json(struct buf *b, struct str raw, int depth)
{
    struct jsonr r;
    jsonr_init(&r, raw.ptr, raw.len, 0);
    int t = jsonr_next(&r);
    if (t != JSONR_OBJ_BEGIN && t != JSONR_ARR_BEGIN)
        return print_json_scalar(b, &r, t);
    if (depth > 64)
        return buf_append_str(b, "...");
    struct kv *items;
    size_t n;
    bool obj;
    int rc = json_items(raw, &items, &n, &obj);
    if (!rc && obj)
        qsort(items, n, sizeof *items, kv_cmp);
    if (!rc)
        rc = buf_append_str(b, obj ? "map[" : "[");
    for (size_t i = 0; i < n && !rc; i++) {
        if (i)
            rc = buf_append_u8(b, ' ');
        if (!rc && obj)
            rc = jsonr_unescape_buf(items[i].key, b) || buf_append_u8(b, ':');
        if (!rc)
            rc = print_json(b, items[i].raw, depth + 1);
    }
    free(items);
    return rc ? rc : buf_append_u8(b, ']');
}

int lq_tv_print(struct buf *b, const struct lq_tv *v, bool print_nil)
{
    switch (v->k) {
    case LQ_TV_NIL: return buf_append_str(b, print_nil ? "<nil>" : "<no value>");
    case LQ_TV_STR: return buf_append(b, v->s.ptr, v->s.len);
    case LQ_TV_INT: return buf_printf(b, "%" PRId64, v->i);
    case LQ_TV_FLOAT: return logql_fmt_float_v(b, v->f);
    case LQ_TV_BOOL: return buf_append_str(b, v->b ? "true" : "false");
    case LQ_TV_TIME:
        return lq_time_format(b, v->i, v->nsec, STR_LIT("2006-01-02 15:04:05.999999999 -0700 MST"));
    case LQ_TV_JSON: return print_json(b, v->s, 0);
    case LQ_TV_MAP: return buf_append_str(b, "map[...]");
    }
    return 0;
}

/* ---- printf ---- */

struct spec {
    bool minus, plus, sharp, zero, space;
    int width, prec; /* -1: none */
    char verb;
    struct buf *tmp; /* scratch for one formatted operand */
};

static int pad(struct buf *b, const struct spec *s, const char *p, size_t n)
{
    size_t w = s->width > 0 ? (size_t)s->width : 0;
    size_t runes = 0;
    for (size_t i = 0; i < n; i++)
        runes += ((unsigned char)p[i] & 0xc0) != 0x80;
    int rc = 0;
    if (!s->minus)
        for (size_t i = runes; i < w && !rc; i++)
            rc = buf_append_u8(b, s->zero ? '0' : ' ');
    if (!rc)
        rc = buf_append(b, p, n);
    if (s->minus)
        for (size_t i = runes; i < w && !rc; i++)
            rc = buf_append_u8(b, ' ');
    return rc;
}

static int bad_verb(struct buf *b, char verb, const struct lq_tv *v)
{
    int rc = buf_printf(b, "%%!%c(", verb);
    if (!rc && v->k == LQ_TV_NIL)
        return buf_append_str(b, "<nil>)");
    if (!rc)
        rc = buf_printf(b, "%s=", lq_tv_type(v));
    if (!rc)
        rc = lq_tv_print(b, v, true);
    return rc ? rc : buf_append_u8(b, ')');
}

/* The C format for spec s and conversion conv (same output as Go for these verbs). */
static void c_format(char *f, size_t cap, const struct spec *s, const char *conv)
{
    int n = snprintf(f, cap, "%%%s%s%s%s%s", s->minus ? "-" : "", s->plus ? "+" : "",
                     s->sharp ? "#" : "", s->zero && !s->minus ? "0" : "", s->space ? " " : "");
    if (s->width > 0)
        n += snprintf(f + n, cap - (size_t)n, "%d", s->width > 256 ? 256 : s->width);
    if (s->prec >= 0)
        n += snprintf(f + n, cap - (size_t)n, ".%d", s->prec > 256 ? 256 : s->prec);
    snprintf(f + n, cap - (size_t)n, "%s", conv);
}

static int put_c(struct buf *b, const char *out, int len, size_t cap)
{
    if (len < 0)
        return 0;
    return buf_append(b, out, (size_t)len < cap ? (size_t)len : cap - 1);
}

static int fmt_c_ll(struct buf *b, const struct spec *s, const char *conv, long long v)
{
    char f[32], out[600];
    c_format(f, sizeof f, s, conv);
    return put_c(b, out, snprintf(out, sizeof out, f, v), sizeof out);
}

static int fmt_c_dbl(struct buf *b, const struct spec *s, const char *conv, double v)
{
    char f[32], out[600];
    c_format(f, sizeof f, s, conv);
    return put_c(b, out, snprintf(out, sizeof out, f, v), sizeof out);
}

static int fmt_string(struct buf *b, const struct spec *s, struct str str)
{
    if (s->verb == 'q') {
        buf_reset(s->tmp);
        return logql_quote(s->tmp, str) || pad(b, s, (const char *)s->tmp->data, s->tmp->len);
    }
    if (s->verb == 'x' || s->verb == 'X') {
        int rc = 0;
        for (size_t i = 0; i < str.len && !rc; i++)
            rc = buf_printf(b, s->verb == 'x' ? "%02x" : "%02X", (unsigned char)str.ptr[i]);
        return rc;
    }
    size_t n = str.len;
    if (s->prec >= 0) { /* precision counts runes */
        size_t runes = 0, i = 0;
        while (i < str.len && runes < (size_t)s->prec) {
            uint32_t cp;
            size_t l = wire_utf8_decode((const uint8_t *)str.ptr + i, str.len - i, &cp);
            i += l ? l : 1;
            runes++;
        }
        n = i;
    }
    return pad(b, s, str.ptr, n);
}

/* Go prints a negative number in hex as -ff (sign and magnitude). */
static int fmt_hex(struct buf *b, const struct spec *s, int64_t v, bool upper)
{
    char t[40];
    uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    int n = snprintf(t, sizeof t, upper ? "%s%s%llX" : "%s%s%llx",
                     v < 0     ? "-"
                     : s->plus ? "+"
                               : "",
                     s->sharp ? (upper ? "0X" : "0x") : "", (unsigned long long)m);
    return pad(b, s, t, (size_t)n);
}

static int fmt_int(struct buf *b, const struct spec *s, int64_t v)
{
    switch (s->verb) {
    case 'v':
    case 'd': return fmt_c_ll(b, s, "lld", (long long)v);
    case 'x': return fmt_hex(b, s, v, false);
    case 'X': return fmt_hex(b, s, v, true);
    case 'o': return fmt_c_ll(b, s, v < 0 ? "lld" : "llo", v);
    case 'c':
    case 'q': {
        uint8_t u[8];
        size_t l = wire_utf8_encode(v < 0 || v > 0x10ffff ? 0xfffd : (uint32_t)v, u);
        if (s->verb == 'c')
            return pad(b, s, (const char *)u, l);
        char q[16];
        int n = snprintf(q, sizeof q, "'%.*s'", (int)l, u);
        return pad(b, s, q, (size_t)n);
    }
    case 'b': {
        char t[80];
        size_t n = 0;
        uint64_t u = v < 0 ? (uint64_t) - (v + 1) + 1 : (uint64_t)v;
        do
            t[sizeof t - 1 - n++] = (char)('0' + (u & 1));
        while ((u >>= 1) && n < 70);
        if (v < 0)
            t[sizeof t - 1 - n++] = '-';
        return pad(b, s, t + sizeof t - n, n);
    }
    default: return -1;
    }
}

static int fmt_float(struct buf *b, const struct spec *s, double v)
{
    switch (s->verb) {
    case 'v':
    case 'g':
    case 'G':
        if (s->prec < 0) {
            buf_reset(s->tmp);
            int rc = logql_fmt_float_v(s->tmp, v);
            if (!rc && s->plus && v >= 0)
                rc = buf_append_u8(b, '+');
            if (!rc)
                rc = pad(b, s, (const char *)s->tmp->data, s->tmp->len);
            return rc;
        }
        return fmt_c_dbl(b, s, s->verb == 'G' ? "G" : "g", v);
    case 'f':
    case 'F': return fmt_c_dbl(b, s, "f", v);
    case 'e': return fmt_c_dbl(b, s, "e", v);
    case 'E': return fmt_c_dbl(b, s, "E", v);
    default: return -1;
    }
}

static int fmt_arg(struct buf *b, const struct spec *s, const struct lq_tv *v)
{
    int rc = -1;
    switch (v->k) {
    case LQ_TV_STR:
        if (strchr("vsqxX", s->verb))
            rc = fmt_string(b, s, v->s);
        break;
    case LQ_TV_INT: rc = fmt_int(b, s, v->i); break;
    case LQ_TV_FLOAT: rc = fmt_float(b, s, v->f); break;
    case LQ_TV_BOOL:
        if (s->verb == 'v' || s->verb == 't')
            rc = pad(b, s, v->b ? "true" : "false", v->b ? 4 : 5);
        break;
    default:
        if (s->verb == 'v' || s->verb == 's' || v->k == LQ_TV_TIME) {
            buf_reset(s->tmp);
            rc = lq_tv_print(s->tmp, v, true) || pad(b, s, (const char *)s->tmp->data, s->tmp->len);
        }
        break;
    }
    return rc == -1 ? bad_verb(b, s->verb, v) : rc;
}

/* Parses flags, width and precision at format[*i]; '*' takes an int argument. */
static void parse_spec(struct str f, size_t *i, struct spec *s, const struct lq_tv *args, size_t n,
                       size_t *argi)
{
    *s = (struct spec){.width = -1, .prec = -1};
    for (; *i < f.len; (*i)++) {
        char c = f.ptr[*i];
        if (c == '-')
            s->minus = true;
        else if (c == '+')
            s->plus = true;
        else if (c == '#')
            s->sharp = true;
        else if (c == '0')
            s->zero = true;
        else if (c == ' ')
            s->space = true;
        else
            break;
    }
    for (int which = 0; which < 2; which++) {
        int *dst = which ? &s->prec : &s->width;
        if (which) {
            if (*i >= f.len || f.ptr[*i] != '.')
                break;
            (*i)++;
            s->prec = 0;
        }
        if (*i < f.len && f.ptr[*i] == '*') {
            (*i)++;
            if (*argi < n && args[*argi].k == LQ_TV_INT)
                *dst = (int)args[*argi].i;
            (*argi)++;
            continue;
        }
        while (*i < f.len && f.ptr[*i] >= '0' && f.ptr[*i] <= '9' && *dst < 100000)
            *dst = (*dst < 0 ? 0 : *dst) * 10 + (f.ptr[(*i)++] - '0');
    }
    if (s->width < 0 && s->minus)
        s->width = 0;
}

int lq_tv_sprintf(struct lq_tctx *c, struct buf *b, struct str f, const struct lq_tv *args,
                  size_t n)
{
    size_t argi = 0;
    int rc = 0;
    for (size_t i = 0; i < f.len && !rc;) {
        if (f.ptr[i] != '%') {
            const char *pct = memchr(f.ptr + i, '%', f.len - i);
            size_t end = pct ? (size_t)(pct - f.ptr) : f.len;
            rc = buf_append(b, f.ptr + i, end - i);
            i = end;
            continue;
        }
        i++;
        struct spec s;
        parse_spec(f, &i, &s, args, n, &argi);
        s.tmp = lq_tx_buf2(c);
        if (i >= f.len) {
            rc = buf_append_str(b, "%!(NOVERB)");
            break;
        }
        s.verb = f.ptr[i++];
        if (s.verb == '%')
            rc = buf_append_u8(b, '%');
        else if (argi >= n)
            rc = buf_printf(b, "%%!%c(MISSING)", s.verb);
        else
            rc = fmt_arg(b, &s, &args[argi++]);
    }
    if (!rc && argi < n) {
        rc = buf_append_str(b, "%!(EXTRA ");
        for (size_t k = argi; k < n && !rc; k++) {
            if (k > argi)
                rc = buf_append_str(b, ", ");
            if (!rc)
                rc = buf_printf(b, "%s=", lq_tv_type(&args[k]));
            if (!rc)
                rc = lq_tv_print(b, &args[k], true);
        }
        if (!rc)
            rc = buf_append_u8(b, ')');
    }
    return rc;
}
