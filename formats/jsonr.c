/* Zero-allocation JSON pull reader: tokenizer (strict RFC 8259, Go's error wording), value skip,
 * string unescaping and comparison, exact number parsing, Loki-style paths and `| json`
 * flattening. See formats/jsonr.h and docs/json.md. */
#include "formats/jsonr.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/wire/utf8.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define LIKELY(x)   __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

enum state {
    ST_START,     /* nothing read yet: a value */
    ST_VALUE,     /* after ':' or ',' in an array: a value */
    ST_ARR_FIRST, /* after '[': a value or ']' */
    ST_OBJ_FIRST, /* after '{': a key or '}' */
    ST_KEY,       /* after ',' in an object: a key */
    ST_AFTER,     /* after a value in a container: ',' or the container's end */
    ST_TOP_AFTER, /* after the top-level value: the end of input */
    ST_DONE,      /* JSONR_END or an error returned */
};

enum err_kind {
    E_NONE,
    E_EOF,         /* unexpected end of JSON input */
    E_BEGIN_VALUE, /* looking for beginning of value */
    E_BEGIN_KEY,   /* looking for beginning of object key string */
    E_AFTER_KEY,   /* after object key */
    E_AFTER_PAIR,  /* after object key:value pair */
    E_AFTER_ELEM,  /* after array element */
    E_AFTER_TOP,   /* after top-level value */
    E_IN_STRING,   /* in string literal */
    E_ESCAPE,      /* in string escape code */
    E_HEX,         /* in \u hexadecimal character escape */
    E_NUMBER,      /* in numeric literal */
    E_DECIMAL,     /* after decimal point in numeric literal */
    E_EXPONENT,    /* in exponent of numeric literal */
    E_LITERAL,     /* in literal true/false/null */
    E_DEPTH,       /* exceeded max depth */
    E_NOT_OBJECT,  /* jsonr_flat: top-level value is not an object */
};

/* ---- errors ---- */

__attribute__((cold, noinline)) static int fail_at(struct jsonr *r, const uint8_t *at,
                                                   enum err_kind kind)
{
    r->err_kind = (uint8_t)kind;
    r->err_off = (size_t)(at - r->begin);
    if (kind == E_EOF) {
        r->err = ERR_TRUNCATED;
        r->err_off = (size_t)(r->end - r->begin);
    } else {
        r->err = kind == E_DEPTH ? ERR_LIMIT : ERR_CORRUPT;
        r->err_char = at < r->end ? *at : 0;
    }
    r->state = ST_DONE;
    return r->err;
}

/* Go's quoteChar: 'x', '\'', '"', or the strconv.Quote escape ('\n', '\x01', '\u007f'). */
static void quote_char(uint8_t c, char *out, size_t cap)
{
    if (c == '\'')
        snprintf(out, cap, "'\\''");
    else if (c >= 0x20 && c < 0x7f)
        snprintf(out, cap, "'%c'", c);
    else if (c && strchr("\a\b\f\n\r\t\v", c))
        snprintf(out, cap, "'\\%c'", "abfnrtv"[strchr("\a\b\f\n\r\t\v", c) - "\a\b\f\n\r\t\v"]);
    else if (c < 0x80)
        snprintf(out, cap, c == 0x7f ? "'\\u007f'" : "'\\x%02x'", c);
    else
        snprintf(out, cap, "'\\x%02x'", c); /* Go prints U+FFFD; the byte says more */
}

char *jsonr_err_msg(const struct jsonr *r, char *dst, size_t cap)
{
    static const char *const where[] = {
        [E_BEGIN_VALUE] = "looking for beginning of value",
        [E_BEGIN_KEY] = "looking for beginning of object key string",
        [E_AFTER_KEY] = "after object key",
        [E_AFTER_PAIR] = "after object key:value pair",
        [E_AFTER_ELEM] = "after array element",
        [E_AFTER_TOP] = "after top-level value",
        [E_IN_STRING] = "in string literal",
        [E_ESCAPE] = "in string escape code",
        [E_HEX] = "in \\u hexadecimal character escape",
        [E_NUMBER] = "in numeric literal",
        [E_DECIMAL] = "after decimal point in numeric literal",
        [E_EXPONENT] = "in exponent of numeric literal",
        [E_LITERAL] = "in literal true, false or null",
    };
    if (!cap)
        return dst;
    char q[16];
    switch (r->err_kind) {
    case E_NONE: dst[0] = 0; break;
    case E_EOF: snprintf(dst, cap, "unexpected end of JSON input"); break;
    case E_DEPTH: snprintf(dst, cap, "exceeded max depth of %d", JSONR_DEPTH_MAX); break;
    case E_NOT_OBJECT: snprintf(dst, cap, "expecting a JSON object"); break;
    default:
        quote_char(r->err_char, q, sizeof q);
        snprintf(dst, cap, "invalid character %s %s", q, where[r->err_kind]);
    }
    return dst;
}

/* ---- scanning helpers ---- */

static inline bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline const uint8_t *skip_ws(const uint8_t *p, const uint8_t *end)
{
    while (p < end && *p <= ' ' && is_ws(*p))
        p++;
    return p;
}

static inline bool is_digit(uint8_t c)
{
    return (uint8_t)(c - '0') < 10;
}

static inline int hex_val(uint8_t c)
{
    if (is_digit(c))
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* First byte at or after p that is '"', '\\', a control byte or non-ASCII (or end). */
static inline const uint8_t *find_special(const uint8_t *p, const uint8_t *end)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        /* signed compare: bytes >= 0x80 are negative, so this catches them with the controls */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask)
            return p + __builtin_ctz(mask);
        p += 16;
    }
#else
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    while (end - p >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
        uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b) | ((x - ones * 0x20) & ~x) | x;
        if (hit & highs)
            break;
        p += 8;
    }
#endif
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20 && *p < 0x80)
        p++;
    return p;
}

/* Scans a string body starting after the opening quote; sets text and flags, leaves p after the
 * closing quote. */
__attribute__((always_inline)) static inline int scan_string(struct jsonr *r, const uint8_t *s)
{
    const uint8_t *p = s, *end = r->end;
    unsigned flags = 0;
    for (;;) {
        p = find_special(p, end);
        if (UNLIKELY(p >= end))
            return fail_at(r, p, E_EOF);
        uint8_t c = *p;
        if (LIKELY(c == '"'))
            break;
        if (c == '\\') {
            flags |= JSONR_STR_ESCAPED;
            if (end - p < 2)
                return fail_at(r, end, E_EOF);
            uint8_t e = p[1];
            if (e == 'u') {
                for (int i = 2; i < 6; i++) {
                    if (p + i >= end)
                        return fail_at(r, end, E_EOF);
                    if (hex_val(p[i]) < 0)
                        return fail_at(r, p + i, E_HEX);
                }
                p += 6;
            } else if (strchr("\"\\/bfnrt", e) && e) {
                p += 2;
            } else {
                return fail_at(r, p + 1, E_ESCAPE);
            }
        } else if (c < 0x20) {
            return fail_at(r, p, E_IN_STRING);
        } else {
            uint32_t cp;
            flags |= JSONR_STR_NONASCII;
            size_t n = wire_utf8_decode(p, (size_t)(end - p), &cp);
            if (n) {
                p += n;
            } else {
                flags |= JSONR_STR_BADUTF8;
                p++;
            }
        }
    }
    r->text = (struct str){(const char *)s, (size_t)(p - s)};
    r->flags = (uint8_t)flags;
    r->p = p + 1;
    return 0;
}

static const uint8_t *scan_digits(const uint8_t *p, const uint8_t *end)
{
    while (p < end && is_digit(*p))
        p++;
    return p;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? ; the byte after it is checked by the caller's
 * next state, as Go does ("01" fails as "invalid character '1' after top-level value"). */
static int scan_number(struct jsonr *r, const uint8_t *s)
{
    const uint8_t *p = s, *end = r->end;
    unsigned flags = 0;
    if (*p == '-') {
        flags |= JSONR_NUM_NEG;
        if (++p >= end)
            return fail_at(r, p, E_EOF);
        if (!is_digit(*p))
            return fail_at(r, p, E_NUMBER);
    }
    p = *p == '0' ? p + 1 : scan_digits(p, end);
    if (p < end && *p == '.') {
        flags |= JSONR_NUM_FRAC;
        if (++p >= end)
            return fail_at(r, p, E_EOF);
        if (!is_digit(*p))
            return fail_at(r, p, E_DECIMAL);
        p = scan_digits(p, end);
    }
    if (p < end && (*p | 0x20) == 'e') {
        flags |= JSONR_NUM_EXP;
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end)
            return fail_at(r, p, E_EOF);
        if (!is_digit(*p))
            return fail_at(r, p, E_EXPONENT);
        p = scan_digits(p, end);
    }
    r->text = (struct str){(const char *)s, (size_t)(p - s)};
    r->flags = (uint8_t)flags;
    r->p = p;
    return 0;
}

static int scan_literal(struct jsonr *r, const uint8_t *s, const char *lit, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (s + i >= r->end)
            return fail_at(r, r->end, E_EOF);
        if (s[i] != (uint8_t)lit[i])
            return fail_at(r, s + i, E_LITERAL);
    }
    r->text = (struct str){(const char *)s, n};
    r->flags = 0;
    r->p = s + n;
    return 0;
}

/* ---- tokenizer ---- */

void jsonr_init(struct jsonr *r, const void *p, size_t n, unsigned opts)
{
    r->begin = r->p = p ? (const uint8_t *)p : (const uint8_t *)"";
    r->end = r->begin + (p ? n : 0);
    r->text = (struct str){(const char *)r->begin, 0};
    r->depth = 0;
    r->state = ST_START;
    r->opts = (uint8_t)opts;
    r->flags = 0;
    r->tok = JSONR_END;
    r->err_kind = E_NONE;
    r->err_char = 0;
    r->err = 0;
    r->err_off = 0;
}

static inline int emit(struct jsonr *r, int tok, uint8_t state)
{
    r->tok = (uint8_t)tok;
    r->state = state;
    return tok;
}

static int open_container(struct jsonr *r, const uint8_t *p, bool obj)
{
    if (UNLIKELY(r->depth >= JSONR_DEPTH_MAX))
        return fail_at(r, p, E_DEPTH);
    uint64_t bit = 1ull << (r->depth & 63);
    if (obj)
        r->is_obj[r->depth >> 6] |= bit;
    else
        r->is_obj[r->depth >> 6] &= ~bit;
    r->depth++;
    r->text = (struct str){(const char *)p, 1};
    r->flags = 0;
    r->p = p + 1;
    return obj ? emit(r, JSONR_OBJ_BEGIN, ST_OBJ_FIRST) : emit(r, JSONR_ARR_BEGIN, ST_ARR_FIRST);
}

static inline bool top_is_obj(const struct jsonr *r)
{
    uint32_t d = r->depth - 1;
    return (r->is_obj[d >> 6] >> (d & 63)) & 1;
}

/* The state after a complete value. (A separate top-level state keeps jsonr_next from loading
 * depth and state together, which defeats store forwarding.) */
static inline uint8_t after(const struct jsonr *r)
{
    return r->depth ? ST_AFTER : ST_TOP_AFTER;
}

static int close_container(struct jsonr *r, const uint8_t *p, bool obj)
{
    r->depth--;
    r->text = (struct str){(const char *)p, 1};
    r->flags = 0;
    r->p = p + 1;
    return emit(r, obj ? JSONR_OBJ_END : JSONR_ARR_END, after(r));
}

static int read_value(struct jsonr *r, const uint8_t *p)
{
    int rc;
    switch (*p) {
    case '"': rc = scan_string(r, p + 1); return rc ? rc : emit(r, JSONR_STRING, after(r));
    case '{': return open_container(r, p, true);
    case '[': return open_container(r, p, false);
    case 't': rc = scan_literal(r, p, "true", 4); return rc ? rc : emit(r, JSONR_TRUE, after(r));
    case 'f': rc = scan_literal(r, p, "false", 5); return rc ? rc : emit(r, JSONR_FALSE, after(r));
    case 'n': rc = scan_literal(r, p, "null", 4); return rc ? rc : emit(r, JSONR_NULL, after(r));
    default:
        if (*p == '-' || is_digit(*p)) {
            rc = scan_number(r, p);
            return rc ? rc : emit(r, JSONR_NUMBER, after(r));
        }
        return fail_at(r, p, E_BEGIN_VALUE);
    }
}

static int read_key(struct jsonr *r, const uint8_t *p)
{
    if (UNLIKELY(*p != '"'))
        return fail_at(r, p, E_BEGIN_KEY);
    int rc = scan_string(r, p + 1);
    if (rc)
        return rc;
    const uint8_t *q = skip_ws(r->p, r->end);
    if (UNLIKELY(q >= r->end))
        return fail_at(r, q, E_EOF);
    if (UNLIKELY(*q != ':'))
        return fail_at(r, q, E_AFTER_KEY);
    r->p = q + 1;
    return emit(r, JSONR_KEY, ST_VALUE);
}

/* ST_AFTER: ',' (then a key or a value), or the end of the open container. */
static int read_after(struct jsonr *r, const uint8_t *p)
{
    bool obj = top_is_obj(r);
    if (*p == ',') {
        p = skip_ws(p + 1, r->end);
        if (UNLIKELY(p >= r->end))
            return fail_at(r, p, E_EOF);
        return obj ? read_key(r, p) : read_value(r, p);
    }
    if (*p == (obj ? '}' : ']'))
        return close_container(r, p, obj);
    return fail_at(r, p, obj ? E_AFTER_PAIR : E_AFTER_ELEM);
}

static int read_end(struct jsonr *r, const uint8_t *p)
{
    if (p < r->end && !(r->opts & JSONR_OPT_TRAILING))
        return fail_at(r, p, E_AFTER_TOP);
    r->p = p;
    r->text = (struct str){(const char *)p, 0};
    return emit(r, JSONR_END, ST_DONE);
}

int jsonr_next(struct jsonr *r)
{
    const uint8_t *p = skip_ws(r->p, r->end);
    if (UNLIKELY(p >= r->end) && r->state < ST_TOP_AFTER)
        return fail_at(r, p, E_EOF);
    switch (r->state) {
    case ST_AFTER: return read_after(r, p);
    case ST_OBJ_FIRST:
        if (*p == '}')
            return close_container(r, p, true);
        return read_key(r, p);
    case ST_KEY: return read_key(r, p);
    case ST_ARR_FIRST:
        if (*p == ']')
            return close_container(r, p, false);
        return read_value(r, p);
    case ST_TOP_AFTER: return read_end(r, (r->opts & JSONR_OPT_TRAILING) ? r->p : p);
    case ST_DONE: return r->err ? r->err : JSONR_END;
    default: return read_value(r, p);
    }
}

/* Where the value that the last token began starts in the input. */
static const uint8_t *tok_start(const struct jsonr *r)
{
    const uint8_t *s = (const uint8_t *)r->text.ptr;
    return r->tok == JSONR_STRING || r->tok == JSONR_KEY ? s - 1 : s;
}

int jsonr_skip(struct jsonr *r, struct str *raw)
{
    if (r->err)
        return r->err;
    int t = r->tok;
    if (t == JSONR_KEY || r->state == ST_START) {
        t = jsonr_next(r);
        if (t < 0)
            return t;
    }
    const uint8_t *start = tok_start(r);
    if (t == JSONR_OBJ_BEGIN || t == JSONR_ARR_BEGIN) {
        uint32_t target = r->depth - 1;
        while (r->depth > target) {
            t = jsonr_next(r);
            if (t < 0)
                return t;
        }
    } else if (t == JSONR_END || t == JSONR_OBJ_END || t == JSONR_ARR_END) {
        start = r->p; /* nothing began here */
    }
    if (raw)
        *raw = (struct str){(const char *)start, (size_t)(r->p - start)};
    return 0;
}

/* ---- strings ---- */

/* Decodes the 4 hex digits at p (known valid when from the reader). Returns -1 if not hex. */
static int32_t hex4(const uint8_t *p)
{
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_val(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* Decodes the escape at p[0] == '\\' within [p, end): writes UTF-8 to out (<= 4 bytes), returns
 * the input bytes consumed, or 0 when malformed. */
static size_t unescape_one(const uint8_t *p, const uint8_t *end, uint8_t *out, size_t *out_n)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (end - p < 2)
        return 0;
    const char *hit = p[1] ? strchr(from, p[1]) : NULL;
    if (hit) {
        out[0] = (uint8_t)to[hit - from];
        *out_n = 1;
        return 2;
    }
    int32_t cp;
    if (p[1] != 'u' || end - p < 6 || (cp = hex4(p + 2)) < 0)
        return 0;
    size_t used = 6;
    if (cp >= 0xd800 && cp < 0xe000) {
        int32_t lo = -1;
        if (cp < 0xdc00 && end - p >= 12 && p[6] == '\\' && p[7] == 'u')
            lo = hex4(p + 8);
        if (lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            used = 12;
        } else {
            cp = 0xfffd; /* lone surrogate; the next escape is decoded on its own */
        }
    }
    *out_n = wire_utf8_encode((uint32_t)cp, out);
    return used;
}

/* Streams the decoded bytes of raw to sink(ctx, bytes, n); stops early when sink returns
 * nonzero. Returns the sink's value, 0, or ERR_CORRUPT. */
typedef int (*sink_fn)(void *ctx, const uint8_t *p, size_t n);

static int decode(struct str raw, sink_fn sink, void *ctx)
{
    static const uint8_t fffd[3] = {0xef, 0xbf, 0xbd};
    const uint8_t *p = (const uint8_t *)raw.ptr, *end = p + raw.len;
    while (p < end) {
        const uint8_t *q = p;
        while (q < end && *q != '\\' && *q < 0x80)
            q++;
        while (q < end && *q != '\\') { /* non-ASCII: keep valid sequences */
            uint32_t cp;
            size_t n = *q < 0x80 ? 1 : wire_utf8_decode(q, (size_t)(end - q), &cp);
            if (!n)
                break;
            q += n;
        }
        int rc = q > p ? sink(ctx, p, (size_t)(q - p)) : 0;
        if (rc)
            return rc;
        if (q >= end)
            break;
        uint8_t tmp[4];
        size_t n_out = 3, used = 1;
        const uint8_t *out = fffd;
        if (*q == '\\') {
            used = unescape_one(q, end, tmp, &n_out);
            if (!used)
                return ERR_CORRUPT;
            out = tmp;
        }
        if ((rc = sink(ctx, out, n_out)))
            return rc;
        p = q + used;
    }
    return 0;
}

struct fixed_sink {
    uint8_t *out;
    size_t len, cap;
};

static int fixed_put(void *ctx, const uint8_t *p, size_t n)
{
    struct fixed_sink *s = ctx;
    if (n > s->cap - s->len)
        return ERR_FULL;
    memcpy(s->out + s->len, p, n);
    s->len += n;
    return 0;
}

int jsonr_unescape(struct str raw, char *out, size_t cap, size_t *len_out)
{
    struct fixed_sink s = {(uint8_t *)out, 0, cap};
    int rc = decode(raw, fixed_put, &s);
    *len_out = s.len;
    return rc;
}

static int buf_put(void *ctx, const uint8_t *p, size_t n)
{
    return buf_append(ctx, p, n);
}

int jsonr_unescape_buf(struct str raw, struct buf *out)
{
    size_t len0 = out->len;
    int rc = buf_reserve(out, raw.len);
    if (!rc)
        rc = decode(raw, buf_put, out);
    if (rc)
        out->len = len0;
    return rc;
}

struct cmp_sink {
    const uint8_t *p;
    size_t left;
};

static int cmp_put(void *ctx, const uint8_t *p, size_t n)
{
    struct cmp_sink *s = ctx;
    if (n > s->left || memcmp(s->p, p, n) != 0)
        return 1;
    s->p += n;
    s->left -= n;
    return 0;
}

bool jsonr_str_eq(struct str raw, unsigned flags, struct str plain)
{
    if (!(flags & (JSONR_STR_ESCAPED | JSONR_STR_BADUTF8)))
        return str_eq(raw, plain);
    struct cmp_sink s = {(const uint8_t *)plain.ptr, plain.len};
    return decode(raw, cmp_put, &s) == 0 && s.left == 0;
}

/* ---- numbers ---- */

/* Whether s is exactly one JSON number. */
static bool is_number(struct str s)
{
    struct jsonr r;
    jsonr_init(&r, s.ptr, s.len, 0);
    return s.len && (s.ptr[0] == '-' || is_digit((uint8_t)s.ptr[0])) &&
           jsonr_next(&r) == JSONR_NUMBER && jsonr_next(&r) == JSONR_END;
}

int jsonr_int64(struct str num, int64_t *out)
{
    *out = 0;
    const uint8_t *p = (const uint8_t *)num.ptr, *end = p + num.len;
    bool neg = p < end && *p == '-';
    p += neg;
    if (p == end || !is_digit(*p) || (*p == '0' && end - p > 1))
        return ERR_INVALID;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    bool over = false;
    for (; p < end; p++) {
        if (!is_digit(*p))
            return ERR_INVALID;
        unsigned d = *p - '0';
        if (v > (limit - d) / 10)
            over = true;
        else
            v = v * 10 + d;
    }
    if (over)
        return ERR_RANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Rewrites a long number as [-]0.<at most 780 significant digits, then a sticky 1>e<exp>, which
 * rounds to the same double: halfway points between doubles have fewer than 770 significant
 * digits, so digits past that only matter as "something non-zero follows". */
static size_t squeeze_number(struct str num, char *out, size_t cap)
{
    const char *p = num.ptr, *end = p + num.len;
    size_t n = 0;
    if (*p == '-')
        out[n++] = *p++;
    out[n++] = '0';
    out[n++] = '.';
    long exp10 = 0, kept = 0;
    bool seen_nonzero = false, sticky = false, frac = false;
    for (; p < end && (is_digit((uint8_t)*p) || *p == '.'); p++) {
        if (*p == '.') {
            frac = true;
            continue;
        }
        if (!seen_nonzero && *p == '0') {
            exp10 -= frac; /* leading zeros after the point shift the exponent */
            continue;
        }
        seen_nonzero = true;
        exp10 += !frac; /* integer digits raise it */
        if (kept < 780)
            out[n++] = *p, kept++;
        else if (*p != '0')
            sticky = true;
    }
    if (!seen_nonzero) {
        n = (size_t)(out[0] == '-');
        out[n++] = '0';
        return n;
    }
    if (sticky)
        out[n++] = '1';
    long e = 0;
    if (p < end) { /* exponent */
        p++;
        bool eneg = *p == '-';
        p += *p == '+' || *p == '-';
        for (; p < end; p++)
            e = e < 100000000 ? e * 10 + (*p - '0') : e;
        e = eneg ? -e : e;
    }
    n += (size_t)snprintf(out + n, cap - n, "e%ld", exp10 + e);
    return n;
}

int jsonr_double(struct str num, double *out)
{
    *out = 0;
    if (!is_number(num))
        return ERR_INVALID;
    char tmp[1024];
    if (num.len < sizeof tmp) {
        memcpy(tmp, num.ptr, num.len);
        tmp[num.len] = 0;
    } else {
        squeeze_number(num, tmp, sizeof tmp);
    }
    errno = 0;
    double v = strtod(tmp, NULL);
    *out = v;
    if (errno == ERANGE && isinf(v))
        return ERR_RANGE;
    return 0;
}

/* ---- paths ---- */

enum path_tok { P_EOF, P_DOT, P_LSB, P_RSB, P_FIELD, P_STRING, P_INDEX, P_ERR };

struct path_lex {
    const char *s;
    size_t n, i;
    struct str text;
    int64_t index;
};

static bool field_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && is_digit((uint8_t)c));
}

/* Loki's scanInt: digits up to whitespace, '.' or ']'; a '.' after digits or any other byte is
 * an error. */
static enum path_tok path_index(struct path_lex *l)
{
    size_t d0 = l->i;
    int64_t v = 0;
    for (; l->i < l->n; l->i++) {
        char c = l->s[l->i];
        if (c == ' ' || c == '\t' || c == '\n' || c == ']')
            break;
        if (c == '.')
            return l->i > d0 ? P_ERR : P_INDEX;
        if (!is_digit((uint8_t)c) || v > (INT64_MAX - 9) / 10)
            return P_ERR;
        v = v * 10 + (c - '0');
    }
    l->index = v;
    return P_INDEX;
}

static enum path_tok path_next(struct path_lex *l)
{
    while (l->i < l->n && (l->s[l->i] == ' ' || l->s[l->i] == '\t' || l->s[l->i] == '\n'))
        l->i++;
    if (l->i >= l->n || l->s[l->i] == 0)
        return P_EOF;
    char c = l->s[l->i];
    if (is_digit((uint8_t)c))
        return path_index(l);
    l->i++;
    if (c == '[' || c == ']' || c == '.')
        return c == '[' ? P_LSB : c == ']' ? P_RSB : P_DOT;
    size_t k0 = l->i;
    if (c == '"') {
        while (l->i < l->n && l->s[l->i] && l->s[l->i] != '"' && l->s[l->i] != ']')
            l->i++;
        l->text = (struct str){l->s + k0, l->i - k0};
        if (l->i < l->n && l->s[l->i])
            l->i++; /* the closing quote (or bracket, as Loki's lexer does) */
        return P_STRING;
    }
    if (!field_char(c, true))
        return P_ERR;
    while (l->i < l->n && field_char(l->s[l->i], false))
        l->i++;
    l->text = (struct str){l->s + k0 - 1, l->i - k0 + 1};
    return P_FIELD;
}

static int path_add(struct jsonr_path_seg *segs, size_t cap, size_t *n, struct jsonr_path_seg s)
{
    if (*n >= cap)
        return ERR_LIMIT;
    segs[(*n)++] = s;
    return 0;
}

/* After '[': STRING ']' or INDEX ']'. */
static int path_bracket(struct path_lex *l, struct jsonr_path_seg *segs, size_t cap, size_t *n)
{
    enum path_tok t = path_next(l);
    struct jsonr_path_seg s = {false, 0, {"", 0}};
    if (t == P_STRING)
        s.key = l->text;
    else if (t == P_INDEX)
        s.is_index = true, s.index = l->index;
    else
        return ERR_INVALID;
    if (path_next(l) != P_RSB)
        return ERR_INVALID;
    return path_add(segs, cap, n, s);
}

int jsonr_path_parse(struct str expr, struct jsonr_path_seg *segs, size_t cap, size_t *n_out)
{
    struct path_lex l = {expr.ptr ? expr.ptr : "", expr.ptr ? expr.len : 0, 0, {0}, 0};
    size_t n = 0;
    enum path_tok t = path_next(&l);
    int rc;
    if (t == P_FIELD)
        rc = path_add(segs, cap, &n, (struct jsonr_path_seg){false, 0, l.text});
    else
        rc = t == P_LSB ? path_bracket(&l, segs, cap, &n) : ERR_INVALID;
    while (rc == 0 && (t = path_next(&l)) != P_EOF) {
        if (t == P_LSB) {
            rc = path_bracket(&l, segs, cap, &n);
        } else if (t == P_DOT && path_next(&l) == P_FIELD) {
            rc = path_add(segs, cap, &n, (struct jsonr_path_seg){false, 0, l.text});
        } else {
            rc = ERR_INVALID;
        }
    }
    *n_out = rc ? 0 : n;
    return rc;
}

/* In the object whose '{' was just read: moves to the value of key `k`. */
static int find_key(struct jsonr *r, struct str k)
{
    for (;;) {
        int t = jsonr_next(r);
        if (t == JSONR_OBJ_END)
            return ERR_NOT_FOUND;
        if (t < 0)
            return t;
        if (jsonr_str_eq(r->text, r->flags, k))
            return jsonr_next(r);
        int rc = jsonr_skip(r, NULL);
        if (rc)
            return rc;
    }
}

/* In the array whose '[' was just read: moves to element `idx`. */
static int find_index(struct jsonr *r, int64_t idx)
{
    for (int64_t i = 0;; i++) {
        int t = jsonr_next(r);
        if (t == JSONR_ARR_END)
            return ERR_NOT_FOUND;
        if (t < 0 || i == idx)
            return t;
        int rc = jsonr_skip(r, NULL);
        if (rc)
            return rc;
    }
}

int jsonr_find_path(struct jsonr *r, const struct jsonr_path_seg *segs, size_t n)
{
    int t = r->tok;
    if (r->err)
        return r->err;
    if (r->state == ST_START || t == JSONR_KEY)
        t = jsonr_next(r);
    for (size_t i = 0; t >= 0 && i < n; i++) {
        if (segs[i].is_index)
            t = t == JSONR_ARR_BEGIN ? find_index(r, segs[i].index) : ERR_NOT_FOUND;
        else
            t = t == JSONR_OBJ_BEGIN ? find_key(r, segs[i].key) : ERR_NOT_FOUND;
    }
    if (t == JSONR_END || t == JSONR_OBJ_END || t == JSONR_ARR_END)
        return ERR_NOT_FOUND;
    return t;
}

/* ---- flattening ---- */

/* unicode.IsSpace */
static bool is_uspace(uint32_t c)
{
    return (c >= 9 && c <= 13) || c == ' ' || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

/* Bytes kept in label names; everything else becomes '_'. */
static const uint8_t name_char[256] = {
#define R10(c) c, c + 1, c + 2, c + 3, c + 4, c + 5, c + 6, c + 7, c + 8, c + 9
    ['0'] = R10('0'), ['A'] = R10('A'), R10('K'), 'U', 'V', 'W', 'X', 'Y', 'Z',
    ['_'] = '_',      ['a'] = R10('a'), R10('k'), 'u', 'v', 'w', 'x', 'y', 'z',
#undef R10
};

static inline bool is_aspace(uint8_t c)
{
    return c == ' ' || (c >= 9 && c <= 13);
}

/* append_key for pure-ASCII keys: trims ASCII spaces, maps bytes through name_char. */
static int append_ascii_key(struct buf *name, const uint8_t *k, size_t n)
{
    while (n && is_aspace(*k))
        k++, n--;
    while (n && is_aspace(k[n - 1]))
        n--;
    if (!n)
        return 0;
    int rc = buf_reserve(name, n + 1);
    if (rc)
        return rc;
    uint8_t *d = name->data + name->len;
    if (name->len || is_digit(*k))
        *d++ = '_';
    for (size_t i = 0; i < n; i++)
        d[i] = name_char[k[i]] ? name_char[k[i]] : '_';
    name->len = (size_t)(d + n - name->data);
    return 0;
}

/* Appends key k (decoded) to the name the way Loki's appendSanitized does, with the '_' spacer
 * when the name is not empty. */
static int append_key(struct buf *name, const uint8_t *k, size_t n)
{
    const uint8_t *p = k, *end = k + n, *first = NULL, *last = NULL;
    while (p < end) {
        uint32_t cp = 0xfffd;
        size_t len = wire_utf8_decode(p, (size_t)(end - p), &cp);
        len = len ? len : 1;
        if (!is_uspace(cp)) {
            first = first ? first : p;
            last = p + len;
        }
        p += len;
    }
    if (!first)
        return 0;
    int rc = 0;
    if (name->len || is_digit(*first))
        rc = buf_append_u8(name, '_');
    if (!rc)
        rc = buf_reserve(name, (size_t)(last - first));
    for (p = first; !rc && p < last;) {
        uint32_t cp = 0xfffd;
        size_t len = *p < 0x80 ? 1 : wire_utf8_decode(p, (size_t)(last - p), &cp);
        uint8_t c = *p;
        bool keep = c < 0x80 && (field_char((char)c, false));
        name->data[name->len++] = keep ? c : '_';
        p += len ? len : 1;
    }
    return rc;
}

void jsonr_flat_init(struct jsonr_flat *f, const void *json, size_t n, unsigned opts,
                     struct buf *name_scratch, struct buf *value_scratch)
{
    jsonr_init(&f->r, json, n, opts);
    f->name = name_scratch;
    f->value = value_scratch;
    f->n_prefix = 0;
    f->prefix_len = 0;
    buf_reset(name_scratch);
}

/* Sets f->name to the prefix plus the sanitized key. */
static int leaf_name(struct jsonr_flat *f, struct str key, unsigned kflags)
{
    f->name->len = f->prefix_len;
    if (!kflags)
        return append_ascii_key(f->name, (const uint8_t *)key.ptr, key.len);
    if (!(kflags & (JSONR_STR_ESCAPED | JSONR_STR_BADUTF8)))
        return append_key(f->name, (const uint8_t *)key.ptr, key.len);
    buf_reset(f->value);
    int rc = jsonr_unescape_buf(key, f->value);
    return rc ? rc : append_key(f->name, f->value->data, f->value->len);
}

/* A string value as Loki's unescapeJSONString leaves it: decoded, U+FFFD (which invalid UTF-8
 * became) replaced by a space. */
static int leaf_string(struct jsonr_flat *f, struct str raw, unsigned flags, struct str *value)
{
    if (!(flags & (JSONR_STR_ESCAPED | JSONR_STR_BADUTF8)) &&
        (!(flags & JSONR_STR_NONASCII) || !memchr(raw.ptr, 0xef, raw.len))) {
        *value = raw;
        return 0;
    }
    buf_reset(f->value);
    int rc = jsonr_unescape_buf(raw, f->value);
    if (rc)
        return rc;
    uint8_t *d = f->value->data;
    size_t n = 0;
    for (size_t i = 0; i < f->value->len; i++) {
        if (i + 2 < f->value->len && d[i] == 0xef && d[i + 1] == 0xbf && d[i + 2] == 0xbd) {
            d[n++] = ' ';
            i += 2;
        } else {
            d[n++] = d[i];
        }
    }
    f->value->len = n;
    *value = (struct str){(const char *)d, n};
    return 0;
}

/* Handles the value after a key; returns a leaf token, 0 to go on, or an error. */
static int flat_value(struct jsonr_flat *f, struct str *name, struct str *value)
{
    struct jsonr *r = &f->r;
    struct str key = r->text;
    unsigned kflags = r->flags;
    int t = jsonr_next(r), rc;
    if (t < 0)
        return t;
    switch (t) {
    case JSONR_OBJ_BEGIN:
        f->stack[f->n_prefix++] = f->prefix_len;
        rc = leaf_name(f, key, kflags);
        f->prefix_len = (uint32_t)f->name->len;
        return rc;
    case JSONR_ARR_BEGIN: return jsonr_skip(r, NULL);
    case JSONR_NULL: return 0;
    default: break;
    }
    rc = leaf_name(f, key, kflags);
    if (rc || f->name->len == 0)
        return rc;
    if (t == JSONR_STRING)
        rc = leaf_string(f, r->text, r->flags, value);
    else
        *value = r->text;
    *name = (struct str){(const char *)f->name->data, f->name->len};
    return rc ? rc : t;
}

int jsonr_flat_next(struct jsonr_flat *f, struct str *name, struct str *value)
{
    struct jsonr *r = &f->r;
    if (r->state == ST_START) {
        int t = jsonr_next(r);
        if (t < 0)
            return t;
        if (t != JSONR_OBJ_BEGIN)
            return fail_at(r, tok_start(r), E_NOT_OBJECT);
    }
    for (;;) {
        int t = jsonr_next(r);
        if (t <= 0)
            return t;
        if (t == JSONR_OBJ_END) {
            if (r->depth > 0) {
                f->prefix_len = f->stack[--f->n_prefix];
                f->name->len = f->prefix_len;
            }
            continue;
        }
        t = flat_value(f, name, value);
        if (t)
            return t;
    }
}
