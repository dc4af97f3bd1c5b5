/* Loki push: bounded protobuf decode, stream-selector parser and normalisation, entry timestamp
 * checks, encoders. */
#include "formats/wire/lokipush.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/assert.h"
#include "base/error.h"
#include "formats/wire/utf8.h"

#define NS_PER_S 1000000000LL

/* ---- selector parser ---- */

struct sel {
    const char *s, *p, *end;
    struct arena *a;
    struct label *items;
    size_t n, cap;
    const char *why; /* reason for the first error */
    size_t why_at;   /* byte offset of the error */
};

static int sel_fail(struct sel *x, const char *why)
{
    x->why = why;
    x->why_at = (size_t)(x->p - x->s);
    return ERR_INVALID;
}

static void skip_ws(struct sel *x)
{
    while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r'))
        x->p++;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool at(struct sel *x, char c)
{
    return x->p < x->end && *x->p == c;
}

/* name = [a-zA-Z_][a-zA-Z0-9_]*; with `metric`, ':' is allowed too. */
static int parse_ident(struct sel *x, bool metric, struct str *out)
{
    const char *start = x->p;
    while (x->p < x->end &&
           (is_alpha(*x->p) || (metric && *x->p == ':') || (x->p > start && is_digit(*x->p))))
        x->p++;
    if (x->p == start)
        return sel_fail(x, "expected a label name");
    *out = (struct str){start, (size_t)(x->p - start)};
    return 0;
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads `digits` digits in `base` at *p (within end) into *v. */
static bool read_num(const char **p, const char *end, int digits, int base, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < digits; i++) {
        int d = *p < end ? hex_val(**p) : -1;
        if (d < 0 || d >= base)
            return false;
        *v = *v * (uint32_t)base + (uint32_t)d;
        (*p)++;
    }
    return true;
}

/* Decodes one escape (after the backslash) at *p into dst; returns bytes written or -1. */
static int unescape_one(const char **p, const char *end, char quote, char *dst)
{
    static const char simple_in[] = "abfnrtv\\", simple_out[] = "\a\b\f\n\r\t\v\\";
    char e = *(*p)++;
    const char *hit = memchr(simple_in, e, sizeof simple_in - 1);
    if (hit) {
        dst[0] = simple_out[hit - simple_in];
        return 1;
    }
    if (e == quote) {
        dst[0] = e;
        return 1;
    }
    uint32_t v;
    if (e >= '0' && e <= '7') {
        (*p)--;
        if (!read_num(p, end, 3, 8, &v) || v > 255)
            return -1;
        dst[0] = (char)v;
        return 1;
    }
    if (e == 'x') {
        if (!read_num(p, end, 2, 16, &v))
            return -1;
        dst[0] = (char)v;
        return 1;
    }
    if (e != 'u' && e != 'U')
        return -1;
    if (!read_num(p, end, e == 'u' ? 4 : 8, 16, &v) || v > 0x10ffff || (v >= 0xd800 && v < 0xe000))
        return -1;
    return (int)wire_utf8_encode(v, (uint8_t *)dst);
}

/* Scans a string body up to the closing quote; *plain says whether it can be borrowed as is. */
static int scan_string(struct sel *x, char quote, bool *plain)
{
    *plain = true;
    while (x->p < x->end && *x->p != quote) {
        unsigned char c = (unsigned char)*x->p;
        if (quote != '`' && c == '\n')
            return sel_fail(x, "newline in quoted string");
        if (quote != '`' && c == '\\') {
            *plain = false;
            x->p += 2;
            continue;
        }
        if (c == '\r' && quote == '`')
            *plain = false;
        uint32_t cp;
        size_t len = 1;
        if (c >= 0x80)
            len = wire_utf8_decode((const uint8_t *)x->p, (size_t)(x->end - x->p), &cp);
        if (!len)
            return sel_fail(x, "invalid UTF-8");
        x->p += len;
    }
    if (x->p >= x->end)
        return sel_fail(x, "unterminated string");
    return 0;
}

static int parse_string(struct sel *x, struct str *out)
{
    char quote = *x->p++;
    const char *start = x->p;
    bool plain;
    int rc = scan_string(x, quote, &plain);
    if (rc)
        return rc;
    const char *stop = x->p++;
    if (plain) {
        *out = (struct str){start, (size_t)(stop - start)};
        return 0;
    }
    char *dst = arena_alloc(x->a, (size_t)(stop - start));
    if (!dst)
        return ERR_NOMEM;
    size_t n = 0;
    for (const char *p = start; p < stop;) {
        if (quote == '`' || *p != '\\') {
            if (*p != '\r' || quote != '`')
                dst[n++] = *p;
            p++;
            continue;
        }
        p++;
        int w = unescape_one(&p, stop, quote, dst + n);
        if (w < 0) {
            x->p = p;
            return sel_fail(x, "invalid escape sequence");
        }
        n += (size_t)w;
    }
    *out = (struct str){dst, n};
    return 0;
}

static int add_item(struct sel *x, struct str name, struct str value)
{
    if (x->n == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 8;
        struct label *items = arena_alloc(x->a, cap * sizeof *items);
        if (!items)
            return ERR_NOMEM;
        if (x->n)
            memcpy(items, x->items, x->n * sizeof *items);
        x->items = items;
        x->cap = cap;
    }
    x->items[x->n++] = (struct label){name, value};
    return 0;
}

static bool is_quote(struct sel *x)
{
    return at(x, '"') || at(x, '\'') || at(x, '`');
}

/* item = name '=' string | string '=' string | string */
static int parse_item(struct sel *x)
{
    struct str name, value;
    bool quoted = is_quote(x);
    int rc = quoted ? parse_string(x, &name) : parse_ident(x, false, &name);
    if (rc)
        return rc;
    skip_ws(x);
    if (quoted && (at(x, ',') || at(x, '}')))
        return add_item(x, STR_LIT("__name__"), name);
    if (at(x, '!') || (at(x, '=') && x->p + 1 < x->end && x->p[1] == '~'))
        return sel_fail(x, "only = matchers are allowed in stream labels");
    if (!at(x, '='))
        return sel_fail(x, "expected '='");
    if (name.len == 0)
        return sel_fail(x, "empty label name");
    x->p++;
    skip_ws(x);
    if (!is_quote(x))
        return sel_fail(x, "expected a quoted string");
    rc = parse_string(x, &value);
    return rc ? rc : add_item(x, name, value);
}

static int parse_selector(struct sel *x)
{
    skip_ws(x);
    if (x->p < x->end && (is_alpha(*x->p) || *x->p == ':')) {
        struct str metric;
        int rc = parse_ident(x, true, &metric);
        if (!rc)
            rc = add_item(x, STR_LIT("__name__"), metric);
        if (rc)
            return rc;
        skip_ws(x);
    }
    if (!at(x, '{'))
        return sel_fail(x, "expected '{'");
    x->p++;
    for (;;) {
        skip_ws(x);
        if (at(x, '}'))
            break;
        int rc = parse_item(x);
        if (rc)
            return rc;
        skip_ws(x);
        if (at(x, ','))
            x->p++;
        else if (!at(x, '}'))
            return sel_fail(x, "expected ',' or '}'");
    }
    x->p++;
    skip_ws(x);
    return x->p == x->end ? 0 : sel_fail(x, "unexpected text after '}'");
}

static int label_cmp(const void *a, const void *b)
{
    const struct label *x = a, *y = b;
    int c = str_cmp(x->name, y->name);
    return c ? c : str_cmp(x->value, y->value);
}

/* Drops empty values, sorts, merges identical pairs; rejects conflicts and empty sets. */
static int normalise(struct sel *x)
{
    size_t k = 0;
    for (size_t i = 0; i < x->n; i++)
        if (x->items[i].value.len)
            x->items[k++] = x->items[i];
    if (k > 1)
        qsort(x->items, k, sizeof *x->items, label_cmp);
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        if (m && str_eq(x->items[m - 1].name, x->items[i].name)) {
            if (str_eq(x->items[m - 1].value, x->items[i].value))
                continue;
            x->p = x->s;
            return sel_fail(x, "label name given twice with different values");
        }
        x->items[m++] = x->items[i];
    }
    x->n = m;
    if (m == 0) {
        x->p = x->s;
        return sel_fail(x, "no labels");
    }
    return 0;
}

int lokipush_parse_labels(const char *s, size_t n, struct arena *a, struct label **out,
                          size_t *n_out, char *err, size_t err_size)
{
    if (!s)
        s = ""; /* an absent labels field */
    struct sel x = {.s = s, .p = s, .end = s + n, .a = a};
    *out = NULL;
    *n_out = 0;
    int rc = parse_selector(&x);
    if (!rc)
        rc = normalise(&x);
    if (rc == ERR_INVALID) {
        char text[96];
        wire_fmt_quoted(text, sizeof text, (struct str){s, n});
        snprintf(err, err_size, "invalid stream labels %s: %s at offset %zu", text, x.why,
                 x.why_at);
    }
    if (rc)
        return rc;
    *out = x.items;
    *n_out = x.n;
    return 0;
}

/* ---- decode ---- */

static int entry_ns(const Logproto__EntryAdapter *e, int64_t *ns, const char **why)
{
    if (!e->timestamp) {
        *why = "has no timestamp";
        return ERR_INVALID;
    }
    if (e->timestamp->nanos < 0 || e->timestamp->nanos >= NS_PER_S) {
        *why = "has a timestamp with nanos outside [0, 1e9)";
        return ERR_INVALID;
    }
    __int128 v = (__int128)e->timestamp->seconds * NS_PER_S + e->timestamp->nanos;
    if (v > INT64_MAX || v < INT64_MIN) {
        *why = "has a timestamp outside the int64 nanosecond range";
        return ERR_INVALID;
    }
    *ns = (int64_t)v;
    return 0;
}

int64_t lokipush_entry_ts_ns(const Logproto__EntryAdapter *e)
{
    int64_t ns = 0;
    const char *why;
    int rc = entry_ns(e, &ns, &why);
    ASSERT(rc == 0);
    return ns;
}

static int check_stream(struct wire_decoder *d, size_t i, struct lokipush_stream *st)
{
    char err[WIRE_ERR_MAX];
    struct str text = wire_str(st->pb->labels);
    int rc = lokipush_parse_labels(text.ptr, text.len, &d->arena, &st->labels, &st->n_labels, err,
                                   sizeof err);
    if (rc == ERR_NOMEM)
        return wire_fail(d, rc, "out of memory parsing stream labels");
    if (rc)
        return wire_fail(d, rc, "stream %zu: %s", i, err);
    for (size_t e = 0; e < st->pb->n_entries; e++) {
        int64_t ns;
        const char *why;
        if (entry_ns(st->pb->entries[e], &ns, &why)) {
            wire_fmt_labels(err, 160, st->labels, st->n_labels < 16 ? st->n_labels : 16);
            return wire_fail(d, ERR_INVALID, "stream %zu %s: entry %zu %s", i, err, e, why);
        }
    }
    return 0;
}

int lokipush_decode(struct wire_decoder *d, const uint8_t *body, size_t n,
                    struct lokipush_request *out)
{
    memset(out, 0, sizeof *out);
    ProtobufCMessage *m;
    int rc = wire_unpack(d, &logproto__push_request__descriptor, body, n, &m);
    if (rc)
        return rc;
    const Logproto__PushRequest *req = (const Logproto__PushRequest *)m;
    struct lokipush_stream *streams =
        arena_alloc(&d->arena, (req->n_streams + 1) * sizeof *streams);
    if (!streams)
        return wire_fail(d, ERR_NOMEM, "out of memory");
    size_t entries = 0;
    for (size_t i = 0; i < req->n_streams; i++) {
        streams[i].pb = req->streams[i];
        rc = check_stream(d, i, &streams[i]);
        if (rc)
            return rc;
        entries += req->streams[i]->n_entries;
    }
    out->pb = req;
    out->streams = streams;
    out->n_streams = req->n_streams;
    out->n_entries = entries;
    return 0;
}

/* ---- encode ---- */

int lokipush_pack(const Logproto__PushRequest *req, struct buf *out)
{
    return wire_pack(&req->base, out);
}

/* Go strconv.Quote for the cases that matter: escapes quote, backslash, ASCII controls and
 * invalid UTF-8 bytes; valid multi-byte sequences pass through. */
static int append_quoted(struct buf *out, struct str s)
{
    static const char hex[] = "0123456789abcdef";
    int rc = buf_append_u8(out, '"');
    for (size_t i = 0; !rc && i < s.len;) {
        unsigned char c = (unsigned char)s.ptr[i];
        uint32_t cp;
        size_t len = wire_utf8_decode((const uint8_t *)s.ptr + i, s.len - i, &cp);
        const char *esc = memchr("\a\b\f\n\r\t\v", c, 7);
        char tmp[4] = {'\\', 0, 0, 0};
        if (c == '"' || c == '\\') {
            tmp[1] = (char)c;
            rc = buf_append(out, tmp, 2);
        } else if (c && esc) {
            tmp[1] = "abfnrtv"[esc - "\a\b\f\n\r\t\v"];
            rc = buf_append(out, tmp, 2);
        } else if (c < 0x20 || c == 0x7f || len == 0) {
            tmp[1] = 'x', tmp[2] = hex[c >> 4], tmp[3] = hex[c & 15];
            rc = buf_append(out, tmp, 4);
        } else {
            rc = buf_append(out, s.ptr + i, len);
            i += len;
            continue;
        }
        i++;
    }
    return rc ? rc : buf_append_u8(out, '"');
}

static bool is_ident(struct str s)
{
    for (size_t i = 0; i < s.len; i++)
        if (!is_alpha(s.ptr[i]) && !(i && is_digit(s.ptr[i])))
            return false;
    return s.len > 0;
}

int lokipush_format_labels(const struct label *labels, size_t n, struct buf *out)
{
    int rc = buf_append_u8(out, '{');
    for (size_t i = 0; !rc && i < n; i++) {
        if (i)
            rc = buf_append(out, ", ", 2);
        if (!rc && is_ident(labels[i].name))
            rc = buf_append(out, labels[i].name.ptr, labels[i].name.len);
        else if (!rc)
            rc = append_quoted(out, labels[i].name);
        if (!rc)
            rc = buf_append_u8(out, '=');
        if (!rc)
            rc = append_quoted(out, labels[i].value);
    }
    return rc ? rc : buf_append_u8(out, '}');
}

static void *alloc_n(struct arena *a, size_t size, size_t n)
{
    if (n > SIZE_MAX / size)
        return NULL;
    return arena_alloc(a, size * (n ? n : 1));
}

static Logproto__LabelPairAdapter **build_pairs(struct arena *a, const struct label *ls, size_t n)
{
    Logproto__LabelPairAdapter *pairs = alloc_n(a, sizeof *pairs, n);
    Logproto__LabelPairAdapter **pp = alloc_n(a, sizeof *pp, n);
    if (!pairs || !pp)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        pairs[i] = (Logproto__LabelPairAdapter)LOGPROTO__LABEL_PAIR_ADAPTER__INIT;
        pairs[i].name = wire_bytes(ls[i].name);
        pairs[i].value = wire_bytes(ls[i].value);
        pp[i] = &pairs[i];
    }
    return pp;
}

static Logproto__EntryAdapter *build_entry(struct arena *a, const struct lokipush_entry *in)
{
    Logproto__EntryAdapter *e = alloc_n(a, sizeof *e, 1);
    Logproto__Timestamp *ts = alloc_n(a, sizeof *ts, 1);
    Logproto__LabelPairAdapter **md = build_pairs(a, in->metadata, in->n_metadata);
    if (!e || !ts || !md)
        return NULL;
    *e = (Logproto__EntryAdapter)LOGPROTO__ENTRY_ADAPTER__INIT;
    *ts = (Logproto__Timestamp)LOGPROTO__TIMESTAMP__INIT;
    int64_t sec = in->ts_ns / NS_PER_S, nanos = in->ts_ns % NS_PER_S;
    if (nanos < 0) {
        nanos += NS_PER_S;
        sec--;
    }
    ts->seconds = sec;
    ts->nanos = (int32_t)nanos;
    e->timestamp = ts;
    e->line = wire_bytes(in->line);
    e->n_structured_metadata = in->n_metadata;
    e->structured_metadata = md;
    return e;
}

static Logproto__StreamAdapter *build_stream(struct arena *a, struct buf *text,
                                             const struct lokipush_stream_in *in)
{
    Logproto__StreamAdapter *st = alloc_n(a, sizeof *st, 1);
    Logproto__EntryAdapter **ep = alloc_n(a, sizeof *ep, in->n_entries);
    if (!st || !ep)
        return NULL;
    *st = (Logproto__StreamAdapter)LOGPROTO__STREAM_ADAPTER__INIT;
    struct str labels = in->labels_text;
    if (!labels.ptr) {
        buf_reset(text);
        if (lokipush_format_labels(in->labels, in->n_labels, text))
            return NULL;
        char *copy = alloc_n(a, 1, text->len);
        if (!copy)
            return NULL;
        memcpy(copy, text->data, text->len);
        labels = (struct str){copy, text->len};
    }
    st->labels = wire_bytes(labels);
    for (size_t i = 0; i < in->n_entries; i++)
        if (!(ep[i] = build_entry(a, &in->entries[i])))
            return NULL;
    st->n_entries = in->n_entries;
    st->entries = ep;
    return st;
}

int lokipush_encode(const struct lokipush_stream_in *streams, size_t n, struct buf *out)
{
    struct arena a;
    arena_init(&a, 64 * 1024);
    struct buf text = BUF_INIT;
    Logproto__PushRequest req = LOGPROTO__PUSH_REQUEST__INIT;
    req.n_streams = n;
    req.streams = alloc_n(&a, sizeof *req.streams, n);
    int rc = req.streams ? 0 : ERR_NOMEM;
    for (size_t i = 0; !rc && i < n; i++)
        rc = (req.streams[i] = build_stream(&a, &text, &streams[i])) ? 0 : ERR_NOMEM;
    if (!rc)
        rc = lokipush_pack(&req, out);
    buf_deinit(&text);
    arena_deinit(&a);
    return rc;
}
