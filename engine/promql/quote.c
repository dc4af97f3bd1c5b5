/* Go-compatible quoting (strconv.Quote, QuoteRune, %#U) and strutil.Unquote for PromQL. */
#include "engine/promql/quote.h"

#include <stdio.h>

#include "base/error.h"
#include "formats/wire/utf8.h"

static const char hexdig[] = "0123456789abcdef";

size_t promql_utf8_decode(const char *p, size_t n, uint32_t *r)
{
    size_t w = wire_utf8_decode((const uint8_t *)p, n, r);
    if (w == 0) {
        *r = PROMQL_RUNE_ERROR;
        return 1;
    }
    return w;
}

bool promql_utf8_valid(const char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t r;
        size_t w = wire_utf8_decode((const uint8_t *)p + i, n - i, &r);
        if (w == 0)
            return false;
        i += w;
    }
    return true;
}

/* Ranges of code points treated as non-printable above U+00FF (Zs/Zl/Zp, common Cf, Cs, Co). */
static const uint32_t nonprint_ranges[][2] = {
    {0x0600, 0x0605},   {0x061c, 0x061c},   {0x06dd, 0x06dd},   {0x070f, 0x070f},
    {0x0890, 0x0891},   {0x08e2, 0x08e2},   {0x1680, 0x1680},   {0x180e, 0x180e},
    {0x2000, 0x200f},   {0x2028, 0x202f},   {0x205f, 0x2064},   {0x2066, 0x206f},
    {0x3000, 0x3000},   {0xd800, 0xf8ff},   {0xfeff, 0xfeff},   {0xfff9, 0xfffb},
    {0x110bd, 0x110bd}, {0x110cd, 0x110cd}, {0x13430, 0x1343f}, {0x1bca0, 0x1bca3},
    {0x1d173, 0x1d17a}, {0x40000, 0xdffff}, {0xe0000, 0xeffff}, {0xf0000, 0x10ffff},
};

bool promql_is_print(uint32_t r)
{
    if (r < 0x20 || (r >= 0x7f && r <= 0xa0) || r == 0xad)
        return false;
    if (r < 0x100)
        return true;
    if (r > 0x10ffff || (r & 0xfffe) == 0xfffe)
        return false; /* out of range, or a non-character U+xFFFE / U+xFFFF */
    for (size_t i = 0; i < sizeof nonprint_ranges / sizeof nonprint_ranges[0]; i++)
        if (r >= nonprint_ranges[i][0] && r <= nonprint_ranges[i][1])
            return false;
    return true;
}

static int append_utf8(struct buf *b, uint32_t r)
{
    uint8_t tmp[4];
    return buf_append(b, tmp, wire_utf8_encode(r, tmp));
}

static int append_hex(struct buf *b, const char *prefix, uint32_t v, int digits)
{
    char tmp[12];
    size_t n = strlen(prefix);
    memcpy(tmp, prefix, n);
    for (int i = digits - 1; i >= 0; i--)
        tmp[n++] = hexdig[(v >> (4 * i)) & 0xf];
    return buf_append(b, tmp, n);
}

/* strconv's appendEscapedRune for a valid or invalid rune r inside quote q. With raw_fffd false,
 * U+FFFD is escaped (see promql_quote). */
static int append_escaped_rune(struct buf *b, uint32_t r, char q, bool raw_fffd)
{
    if (r == (uint32_t)q || r == '\\') {
        int rc = buf_append_u8(b, '\\');
        return rc ? rc : buf_append_u8(b, (uint8_t)r);
    }
    if (promql_is_print(r) && (raw_fffd || r != PROMQL_RUNE_ERROR))
        return append_utf8(b, r);
    switch (r) {
    case '\a': return buf_append_str(b, "\\a");
    case '\b': return buf_append_str(b, "\\b");
    case '\f': return buf_append_str(b, "\\f");
    case '\n': return buf_append_str(b, "\\n");
    case '\r': return buf_append_str(b, "\\r");
    case '\t': return buf_append_str(b, "\\t");
    case '\v': return buf_append_str(b, "\\v");
    default: break;
    }
    if (r < ' ' || r == 0x7f)
        return append_hex(b, "\\x", r, 2);
    if (r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff))
        r = PROMQL_RUNE_ERROR;
    if (r < 0x10000)
        return append_hex(b, "\\u", r, 4);
    return append_hex(b, "\\U", r, 8);
}

int promql_quote_prefix(struct buf *b, const char *s, size_t n, size_t max_runes)
{
    int rc = buf_append_u8(b, '"');
    for (size_t i = 0, runes = 0; rc == 0 && i < n && runes < max_runes; runes++) {
        uint32_t r;
        size_t w = promql_utf8_decode(s + i, n - i, &r);
        if (w == 1 && r == PROMQL_RUNE_ERROR)
            rc = append_hex(b, "\\x", (uint8_t)s[i], 2);
        else
            rc = append_escaped_rune(b, r, '"', false);
        i += w;
    }
    return rc ? rc : buf_append_u8(b, '"');
}

int promql_quote(struct buf *b, const char *s, size_t n)
{
    return promql_quote_prefix(b, s, n, SIZE_MAX);
}

int promql_quote_rune(struct buf *b, int32_t r)
{
    uint32_t u =
        r < 0 || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff) ? PROMQL_RUNE_ERROR : (uint32_t)r;
    int rc = buf_append_u8(b, '\'');
    if (rc == 0)
        rc = append_escaped_rune(b, u, '\'', true);
    return rc ? rc : buf_append_u8(b, '\'');
}

int promql_format_unicode(struct buf *b, int32_t r)
{
    uint32_t u = (uint32_t)r;
    int rc = buf_printf(b, "U+%04X", (unsigned)u);
    if (rc == 0 && r >= 0 && promql_is_print(u)) {
        rc = buf_append_str(b, " '");
        if (rc == 0)
            rc = append_utf8(b, u);
        if (rc == 0)
            rc = buf_append_u8(b, '\'');
    }
    return rc;
}

static int unhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One escape sequence at s[0..n) (s[0] == '\\'): appends its value, returns bytes consumed or
 * ERR_INVALID. \x and octal escapes produce raw bytes; \u and \U produce UTF-8. */
static long unquote_escape(const char *s, size_t n, char quote, struct buf *out)
{
    static const char simple_in[] = "abfnrtv\\", simple_out[] = "\a\b\f\n\r\t\v\\";
    if (n < 2)
        return ERR_INVALID;
    char c = s[1];
    const char *sp = strchr(simple_in, c);
    if (sp && c)
        return buf_append_u8(out, (uint8_t)simple_out[sp - simple_in]) ? ERR_NOMEM : 2;
    if (c == '\'' || c == '"')
        return c != quote ? ERR_INVALID : (buf_append_u8(out, (uint8_t)c) ? ERR_NOMEM : 2);
    if (c >= '0' && c <= '7') {
        if (n < 4)
            return ERR_INVALID;
        uint32_t v = (uint32_t)(c - '0');
        for (int j = 2; j < 4; j++) {
            if (s[j] < '0' || s[j] > '7')
                return ERR_INVALID;
            v = v << 3 | (uint32_t)(s[j] - '0');
        }
        return v > 255 ? ERR_INVALID : (buf_append_u8(out, (uint8_t)v) ? ERR_NOMEM : 4);
    }
    size_t digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (!digits || n < 2 + digits)
        return ERR_INVALID;
    uint32_t v = 0;
    for (size_t j = 0; j < digits; j++) {
        int d = unhex(s[2 + j]);
        if (d < 0)
            return ERR_INVALID;
        v = v << 4 | (uint32_t)d;
    }
    int rc;
    if (c == 'x')
        rc = buf_append_u8(out, (uint8_t)v);
    else if (v > 0x10ffff)
        return ERR_INVALID;
    else
        rc = append_utf8(out, (v >= 0xd800 && v <= 0xdfff) ? PROMQL_RUNE_ERROR : v);
    return rc ? ERR_NOMEM : (long)(2 + digits);
}

int promql_unquote(const char *s, size_t n, struct buf *out)
{
    if (n < 2 || s[0] != s[n - 1])
        return ERR_INVALID;
    char q = s[0];
    const char *p = s + 1;
    size_t len = n - 2;
    if (q == '`')
        return memchr(p, '`', len) ? ERR_INVALID : buf_append(out, p, len);
    if (q != '"' && q != '\'')
        return ERR_INVALID;
    if (memchr(p, '\n', len))
        return ERR_INVALID;
    for (size_t i = 0; i < len;) {
        if (p[i] == q)
            return ERR_INVALID;
        if (p[i] != '\\') {
            if (buf_append_u8(out, (uint8_t)p[i]))
                return ERR_NOMEM;
            i++;
            continue;
        }
        long k = unquote_escape(p + i, len - i, q, out);
        if (k < 0)
            return (int)k;
        i += (size_t)k;
    }
    return 0;
}

bool promql_is_legacy_label_name(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}
