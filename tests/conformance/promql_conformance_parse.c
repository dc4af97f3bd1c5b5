/* PromQL conformance runner: parsing of series descriptions (labels, expanding value sequences,
 * native histogram literals {{...}}), start-timestamp sequences, durations and numbers, as
 * ../shared/conformance/promql/FORMAT.md describes them. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "engine/promql/quote.h"
#include "formats/gorilla.h"
#include "tests/conformance/promql_conformance_script.h"

struct cur {
    const char *p, *end;
    struct arena *a;
};

static void skip_ws(struct cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

static bool ident_start(char ch)
{
    return isalpha((unsigned char)ch) || ch == '_' || ch == ':';
}

static bool ident_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_' || ch == ':';
}

/* A quoted string literal at c->p; returns its unquoted value in the arena. */
static const char *parse_string(struct cur *c, struct str *out)
{
    char q = *c->p;
    const char *s = c->p++;
    while (c->p < c->end && *c->p != q) {
        if (q != '`' && *c->p == '\\' && c->p + 1 < c->end)
            c->p++;
        c->p++;
    }
    if (c->p >= c->end)
        return "unterminated string";
    c->p++;
    struct buf b = BUF_INIT;
    if (promql_unquote(s, (size_t)(c->p - s), &b)) {
        buf_deinit(&b);
        return "invalid string literal";
    }
    char *d = arena_dup(c->a, b.data ? (const char *)b.data : "", b.len, 1);
    *out = (struct str){d, b.len};
    buf_deinit(&b);
    return NULL;
}

static const char *parse_labels(struct cur *c, struct series_desc *d)
{
    struct label tmp[128];
    size_t n = 0;
    skip_ws(c);
    if (c->p < c->end && ident_start(*c->p)) {
        const char *s = c->p;
        while (c->p < c->end && ident_char(*c->p))
            c->p++;
        tmp[n++] = (struct label){STR_LIT("__name__"),
                                  {arena_dup(c->a, s, (size_t)(c->p - s), 1), (size_t)(c->p - s)}};
    }
    if (c->p < c->end && *c->p == '{') {
        c->p++;
        for (;;) {
            skip_ws(c);
            if (c->p < c->end && *c->p == '}') {
                c->p++;
                break;
            }
            struct str name;
            if (c->p < c->end && (*c->p == '"' || *c->p == '\'' || *c->p == '`')) {
                const char *err = parse_string(c, &name);
                if (err)
                    return err;
            } else {
                const char *s = c->p;
                while (c->p < c->end && ident_char(*c->p))
                    c->p++;
                if (c->p == s)
                    return "expected label name";
                name = (struct str){arena_dup(c->a, s, (size_t)(c->p - s), 1), (size_t)(c->p - s)};
            }
            skip_ws(c);
            if (c->p >= c->end || *c->p != '=')
                return "expected '='";
            c->p++;
            skip_ws(c);
            struct str val;
            if (c->p >= c->end || (*c->p != '"' && *c->p != '\'' && *c->p != '`'))
                return "expected label value";
            const char *err = parse_string(c, &val);
            if (err)
                return err;
            if (n == 128)
                return "too many labels";
            bool replaced = false;
            for (size_t i = 0; i < n; i++)
                if (str_eq(tmp[i].name, name)) {
                    tmp[i].value = val;
                    replaced = true;
                }
            if (!replaced)
                tmp[n++] = (struct label){name, val};
            skip_ws(c);
            if (c->p < c->end && *c->p == ',')
                c->p++;
        }
    }
    d->labels = arena_alloc(c->a, (n ? n : 1) * sizeof *d->labels);
    memcpy(d->labels, tmp, n * sizeof *tmp);
    d->nlabels = n;
    return NULL;
}

/* ---- numbers ---- */

/* A decimal float, Inf or NaN (any case) with optional sign; advances c. */
static bool scan_number(struct cur *c, double *v)
{
    const char *s = c->p;
    const char *p = s;
    if (p < c->end && (*p == '+' || *p == '-'))
        p++;
    if (c->end - p >= 3 && (!strncasecmp(p, "inf", 3) || !strncasecmp(p, "nan", 3))) {
        bool nan = !strncasecmp(p, "nan", 3);
        p += 3;
        if (c->end - p >= 5 && !strncasecmp(p, "inity", 5) && !nan)
            p += 5;
        *v = nan ? NAN : (*s == '-' ? -INFINITY : INFINITY);
        c->p = p;
        return true;
    }
    const char *digits = p;
    while (p < c->end && isdigit((unsigned char)*p))
        p++;
    if (p < c->end && *p == '.') {
        p++;
        while (p < c->end && isdigit((unsigned char)*p))
            p++;
    }
    if (p == digits || (p == digits + 1 && *digits == '.'))
        return false;
    if (p < c->end && (*p == 'e' || *p == 'E')) {
        const char *e = p + 1;
        if (e < c->end && (*e == '+' || *e == '-'))
            e++;
        if (e < c->end && isdigit((unsigned char)*e)) {
            while (e < c->end && isdigit((unsigned char)*e))
                e++;
            p = e;
        }
    }
    char buf[64];
    size_t n = (size_t)(p - s);
    if (n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    *v = strtod(buf, NULL);
    c->p = p;
    return true;
}

static bool scan_uint(struct cur *c, uint64_t *v)
{
    const char *s = c->p;
    uint64_t x = 0;
    while (c->p < c->end && isdigit((unsigned char)*c->p))
        x = x * 10 + (uint64_t)(*c->p++ - '0');
    *v = x;
    return c->p > s;
}

bool script_parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (p[0] == '0' &&
        (p[1] == 'x' || p[1] == 'X' || p[1] == 'o' || p[1] == 'O' || p[1] == 'b' || p[1] == 'B')) {
        int base = p[1] == 'x' || p[1] == 'X' ? 16 : p[1] == 'o' || p[1] == 'O' ? 8 : 2;
        long long v = strtoll(p + 2, &end, base);
        if (*end || end == p + 2)
            return false;
        *out = (double)(*s == '-' ? -v : v);
        return true;
    }
    struct cur c = {s, s + strlen(s), NULL};
    double v;
    if (!scan_number(&c, &v) || c.p != c.end)
        return false;
    *out = v;
    return true;
}

/* ---- durations ---- */

bool script_parse_duration(const char *s, size_t n, int64_t *ms)
{
    static const struct {
        const char *u;
        int64_t mult;
    } units[] = {{"ms", 1},       {"s", 1000},      {"m", 60000},        {"h", 3600000},
                 {"d", 86400000}, {"w", 604800000}, {"y", 31536000000LL}};
    if (n == 1 && s[0] == '0') {
        *ms = 0;
        return true;
    }
    int64_t total = 0;
    int last = 100;
    size_t i = 0;
    if (n == 0)
        return false;
    while (i < n) {
        size_t st = i;
        int64_t v = 0;
        while (i < n && isdigit((unsigned char)s[i]))
            v = v * 10 + (s[i++] - '0');
        if (i == st)
            return false;
        int u = -1;
        for (int k = 0; k < 7; k++) {
            size_t ul = strlen(units[k].u);
            if (i + ul <= n && !strncmp(s + i, units[k].u, ul) &&
                !(k == 2 && i + 1 < n && s[i + 1] == 's')) {
                u = k;
                i += ul;
                break;
            }
        }
        if (u < 0 || u >= last)
            return false;
        last = u;
        total += v * units[u].mult;
    }
    *ms = total;
    return true;
}

/* ---- histograms ---- */

static const char *parse_float_list(struct cur *c, double **out, uint32_t *n)
{
    double tmp[4096];
    uint32_t k = 0;
    if (c->p >= c->end || *c->p != '[')
        return "expected '['";
    c->p++;
    for (;;) {
        skip_ws(c);
        if (c->p < c->end && *c->p == ']') {
            c->p++;
            break;
        }
        if (k == 4096 || !scan_number(c, &tmp[k++]))
            return "bad number in list";
    }
    *out = arena_alloc(c->a, (k ? k : 1) * sizeof **out);
    memcpy(*out, tmp, k * sizeof *tmp);
    *n = k;
    return NULL;
}

static const char *parse_hint(struct cur *c, uint8_t *hint)
{
    static const struct {
        const char *name;
        enum promql_hint hint;
    } hints[] = {{"unknown", PROMQL_HINT_UNKNOWN},
                 {"reset", PROMQL_HINT_RESET},
                 {"not_reset", PROMQL_HINT_NOT_RESET},
                 {"gauge", PROMQL_HINT_GAUGE}};
    const char *s = c->p;
    while (c->p < c->end && (isalpha((unsigned char)*c->p) || *c->p == '_'))
        c->p++;
    size_t l = (size_t)(c->p - s);
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
        if (l == strlen(hints[i].name) && !strncmp(s, hints[i].name, l)) {
            *hint = (uint8_t)hints[i].hint;
            return NULL;
        }
    return "bad counter_reset_hint";
}

/* One "key:value" of a {{...}} histogram; the key is k[0..kl). */
static const char *parse_hist_field(struct cur *c, struct promql_hist *h, const char *k, size_t kl,
                                    bool *hint_set)
{
#define KEY(s) (kl == strlen(s) && !strncmp(k, s, kl))
    if (KEY("buckets"))
        return parse_float_list(c, &h->p, &h->p_len);
    if (KEY("n_buckets"))
        return parse_float_list(c, &h->n, &h->n_len);
    if (KEY("custom_values")) {
        double *list = NULL;
        const char *err = parse_float_list(c, &list, &h->ncustom);
        h->custom = list;
        return err;
    }
    if (KEY("counter_reset_hint")) {
        *hint_set = true;
        return parse_hint(c, &h->hint);
    }
    double v;
    if (!scan_number(c, &v))
        return "bad histogram number";
    if (KEY("schema"))
        h->schema = (int32_t)v;
    else if (KEY("sum"))
        h->sum = v;
    else if (KEY("count"))
        h->count = v;
    else if (KEY("z_bucket"))
        h->zero_count = v;
    else if (KEY("z_bucket_w"))
        h->zero_threshold = v;
    else if (KEY("offset"))
        h->p_off = (int32_t)v;
    else if (KEY("n_offset"))
        h->n_off = (int32_t)v;
    else
        return "unknown histogram key";
    return NULL;
#undef KEY
}

static const char *parse_hist(struct cur *c, struct promql_hist **out, bool *hint_set)
{
    struct promql_hist *h = promql_hist_new(c->a, 0, 0);
    *hint_set = false;
    c->p += 2; /* {{ */
    for (;;) {
        skip_ws(c);
        if (c->end - c->p >= 2 && c->p[0] == '}' && c->p[1] == '}') {
            c->p += 2;
            break;
        }
        const char *k = c->p;
        while (c->p < c->end && *c->p != ':' && *c->p != ' ')
            c->p++;
        size_t kl = (size_t)(c->p - k);
        if (c->p >= c->end || *c->p != ':')
            return "expected ':' in histogram";
        c->p++;
        const char *err = parse_hist_field(c, h, k, kl, hint_set);
        if (err)
            return err;
    }
    *out = h;
    return NULL;
}

/* ---- value sequences ---- */

struct vlist {
    struct seqval *v;
    size_t n, cap;
};

static void vpush(struct vlist *l, struct seqval v)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v)
            abort();
    }
    l->v[l->n++] = v;
}

static const char *hist_item(struct cur *c, struct vlist *l)
{
    struct promql_hist *a;
    bool set;
    const char *err = parse_hist(c, &a, &set);
    if (err)
        return err;
    if (c->p < c->end && *c->p == 'x') {
        c->p++;
        uint64_t n;
        if (!scan_uint(c, &n))
            return "bad repeat count";
        for (uint64_t i = 0; i <= n; i++)
            vpush(l, (struct seqval){SV_HIST, 0, a, set});
        return NULL;
    }
    if (c->end - c->p >= 3 && (*c->p == '+' || *c->p == '-') && c->p[1] == '{' && c->p[2] == '{') {
        bool neg = *c->p == '-';
        c->p++;
        struct promql_hist *b;
        bool bset;
        err = parse_hist(c, &b, &bset);
        if (err)
            return err;
        if (c->p >= c->end || *c->p != 'x')
            return "expected 'x' after increment";
        c->p++;
        uint64_t n;
        if (!scan_uint(c, &n))
            return "bad repeat count";
        struct promql_hist *cur = a;
        for (uint64_t i = 0; i <= n; i++) {
            vpush(l, (struct seqval){SV_HIST, 0, cur, set});
            struct promql_hist *next = promql_hist_copy(c->a, cur);
            if (promql_hist_add(c->a, &next, b, neg, NULL))
                return "incompatible histogram increment";
            cur = next;
        }
        return NULL;
    }
    vpush(l, (struct seqval){SV_HIST, 0, a, set});
    return NULL;
}

static const char *float_item(struct cur *c, struct vlist *l)
{
    if (c->p < c->end && *c->p == '_') {
        c->p++;
        uint64_t n = 1;
        if (c->p < c->end && *c->p == 'x') {
            c->p++;
            if (!scan_uint(c, &n))
                return "bad repeat count";
        }
        for (uint64_t i = 0; i < n; i++)
            vpush(l, (struct seqval){SV_OMIT, 0, NULL, false});
        return NULL;
    }
    if (c->end - c->p >= 5 && !strncmp(c->p, "stale", 5)) {
        c->p += 5;
        double s;
        uint64_t bits = GORILLA_STALE_NAN_BITS;
        memcpy(&s, &bits, sizeof s);
        vpush(l, (struct seqval){SV_FLOAT, s, NULL, false});
        return NULL;
    }
    double a, b = 0;
    if (!scan_number(c, &a))
        return "bad number";
    if (c->p < c->end && (*c->p == '+' || *c->p == '-')) {
        bool neg = *c->p == '-';
        c->p++;
        if (!scan_number(c, &b))
            return "bad increment";
        if (neg)
            b = -b;
        if (c->p >= c->end || *c->p != 'x')
            return "expected 'x' after increment";
    }
    if (c->p < c->end && *c->p == 'x') {
        c->p++;
        uint64_t n;
        if (!scan_uint(c, &n))
            return "bad repeat count";
        double v = a;
        for (uint64_t i = 0; i <= n; i++) {
            vpush(l, (struct seqval){SV_FLOAT, v, NULL, false});
            v += b;
        }
        return NULL;
    }
    vpush(l, (struct seqval){SV_FLOAT, a, NULL, false});
    return NULL;
}

const char *script_parse_series(struct arena *a, const char *line, struct series_desc *out,
                                bool with_values)
{
    struct cur c = {line, line + strlen(line), a};
    memset(out, 0, sizeof *out);
    const char *err = parse_labels(&c, out);
    if (err || !with_values)
        return err;
    struct vlist l = {0};
    for (;;) {
        skip_ws(&c);
        if (c.p >= c.end)
            break;
        if (c.end - c.p >= 2 && c.p[0] == '{' && c.p[1] == '{')
            err = hist_item(&c, &l);
        else
            err = float_item(&c, &l);
        if (!err && c.p < c.end && *c.p != ' ' && *c.p != '\t')
            err = "unexpected character after value";
        if (err) {
            free(l.v);
            return err;
        }
    }
    out->vals = arena_alloc(a, (l.n ? l.n : 1) * sizeof *out->vals);
    memcpy(out->vals, l.v, l.n * sizeof *l.v);
    out->nvals = l.n;
    free(l.v);
    return NULL;
}

/* ---- start timestamps ---- */

static bool dur_prefix(struct cur *c, int64_t *ms)
{
    bool neg = false;
    if (c->p < c->end && (*c->p == '-' || *c->p == '+'))
        neg = *c->p++ == '-';
    const char *s = c->p;
    while (c->p < c->end && isdigit((unsigned char)*c->p))
        c->p++;
    if (c->p == s)
        return false;
    while (c->p < c->end && isalpha((unsigned char)*c->p) && *c->p != 'x')
        c->p++;
    if (!script_parse_duration(s, (size_t)(c->p - s), ms))
        return false;
    if (neg)
        *ms = -*ms;
    return true;
}

const char *script_parse_st(struct arena *a, const char *s, struct series_desc *out)
{
    struct cur c = {s, s + strlen(s), a};
    struct vlist l = {0};
    for (;;) {
        skip_ws(&c);
        if (c.p >= c.end)
            break;
        const char *err = NULL;
        if (*c.p == '_') {
            err = float_item(&c, &l);
        } else {
            int64_t base, delta = 0;
            uint64_t n = 0;
            if (!dur_prefix(&c, &base))
                err = "bad duration";
            if (!err && c.p < c.end && (*c.p == '+' || *c.p == '-')) {
                bool neg = *c.p == '-';
                c.p++;
                if (!dur_prefix(&c, &delta) || c.p >= c.end || *c.p != 'x')
                    err = "bad step";
                if (neg)
                    delta = -delta;
            }
            if (!err && c.p < c.end && *c.p == 'x') {
                c.p++;
                if (!scan_uint(&c, &n))
                    err = "bad repeat count";
            }
            for (uint64_t i = 0; !err && i <= n; i++)
                vpush(&l,
                      (struct seqval){SV_FLOAT, (double)(base + (int64_t)i * delta), NULL, false});
        }
        if (err) {
            free(l.v);
            return err;
        }
    }
    out->vals = arena_alloc(a, (l.n ? l.n : 1) * sizeof *out->vals);
    memcpy(out->vals, l.v, l.n * sizeof *l.v);
    out->nvals = l.n;
    free(l.v);
    return NULL;
}
