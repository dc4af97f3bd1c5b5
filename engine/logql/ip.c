/* ip() patterns: netip-compatible address/prefix/range parsing and Loki's address scan. */
#include "engine/logql/ip.h"

#include <stdio.h>
#include <string.h>

#include "base/error.h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four dotted decimal fields without leading zeros into out[0..4). */
static bool parse_v4_fields(const char *s, size_t n, uint8_t *out)
{
    int val = 0, dig = 0, pos = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (is_digit(c)) {
            if (dig == 1 && val == 0)
                return false; /* leading zero */
            val = val * 10 + (c - '0');
            dig++;
            if (val > 255)
                return false;
        } else if (c == '.') {
            if (i == 0 || i == n - 1 || s[i - 1] == '.' || pos == 3)
                return false;
            out[pos++] = (uint8_t)val;
            val = 0;
            dig = 0;
        } else {
            return false;
        }
    }
    if (pos < 3 || dig == 0)
        return false;
    out[3] = (uint8_t)val;
    return true;
}

/* One hex group (1-4 digits); returns its length or 0. */
static size_t hex_group(const char *s, size_t n, uint32_t *acc)
{
    size_t off = 0;
    *acc = 0;
    for (; off < n && hexval(s[off]) >= 0; off++) {
        if (off > 3)
            return 0;
        *acc = (*acc << 4) | (uint32_t)hexval(s[off]);
    }
    return off;
}

static bool expand_ellipsis(uint8_t *ip, int i, int ellipsis)
{
    if (i < 16) {
        if (ellipsis < 0)
            return false;
        int n = 16 - i;
        for (int j = i - 1; j >= ellipsis; j--)
            ip[j + n] = ip[j];
        memset(ip + ellipsis, 0, (size_t)n);
        return true;
    }
    return ellipsis < 0; /* :: must stand for at least one zero group */
}

static bool parse_v6(const char *s, size_t n, uint8_t *ip)
{
    int i = 0, ellipsis = -1;
    memset(ip, 0, 16);
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        ellipsis = 0;
        s += 2;
        n -= 2;
        if (n == 0)
            return true;
    }
    while (i < 16) {
        uint32_t acc;
        size_t off = hex_group(s, n, &acc);
        if (off == 0)
            return false;
        if (off < n && s[off] == '.') {
            if ((ellipsis < 0 && i != 12) || i + 4 > 16 || !parse_v4_fields(s, n, ip + i))
                return false;
            i += 4;
            n = 0;
            break;
        }
        ip[i] = (uint8_t)(acc >> 8);
        ip[i + 1] = (uint8_t)acc;
        i += 2;
        s += off;
        n -= off;
        if (n == 0)
            break;
        if (s[0] != ':' || n == 1)
            return false;
        s++;
        n--;
        if (s[0] == ':') {
            if (ellipsis >= 0)
                return false;
            ellipsis = i;
            s++;
            n--;
            if (n == 0)
                break;
        }
    }
    return n == 0 && expand_ellipsis(ip, i, ellipsis);
}

bool logql_ip_parse_addr(struct str str, struct logql_ip_addr *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < str.len; i++) {
        char c = str.ptr[i];
        if (c == '.') {
            out->is4 = true;
            out->b[10] = out->b[11] = 0xff;
            return parse_v4_fields(str.ptr, str.len, out->b + 12);
        }
        if (c == ':') {
            const char *pct = memchr(str.ptr, '%', str.len);
            size_t n = pct ? (size_t)(pct - str.ptr) : str.len;
            if (pct && n + 1 == str.len)
                return false; /* empty zone */
            out->has_zone = pct != NULL;
            return parse_v6(str.ptr, n, out->b);
        }
        if (c == '%')
            return false;
    }
    return false;
}

static int cmp_addr(const struct logql_ip_addr *a, const struct logql_ip_addr *b)
{
    if (a->is4 != b->is4)
        return a->is4 ? -1 : 1;
    return memcmp(a->b, b->b, 16);
}

static bool parse_prefix(struct str s, struct logql_ip_matcher *m)
{
    const char *slash = NULL;
    for (size_t i = s.len; i > 0; i--)
        if (s.ptr[i - 1] == '/') {
            slash = s.ptr + i - 1;
            break;
        }
    if (!slash)
        return false;
    size_t alen = (size_t)(slash - s.ptr);
    if (!logql_ip_parse_addr((struct str){s.ptr, alen}, &m->lo) || m->lo.has_zone)
        return false;
    const char *bs = slash + 1;
    size_t bn = s.len - alen - 1;
    if (bn == 0 || bn > 3 || (bn > 1 && (bs[0] < '1' || bs[0] > '9')))
        return false;
    int bits = 0;
    for (size_t i = 0; i < bn; i++) {
        if (!is_digit(bs[i]))
            return false;
        bits = bits * 10 + (bs[i] - '0');
    }
    if (bits > (m->lo.is4 ? 32 : 128))
        return false;
    m->kind = LOGQL_IP_PREFIX;
    m->bits = m->lo.is4 ? bits + 96 : bits; /* bits over the 16-byte form */
    return true;
}

static bool parse_range(struct str s, struct logql_ip_matcher *m)
{
    const char *h = memchr(s.ptr, '-', s.len);
    if (!h)
        return false;
    size_t fl = (size_t)(h - s.ptr);
    if (!logql_ip_parse_addr((struct str){s.ptr, fl}, &m->lo) ||
        !logql_ip_parse_addr((struct str){h + 1, s.len - fl - 1}, &m->hi))
        return false;
    m->lo.has_zone = m->hi.has_zone = false;
    if (m->lo.is4 != m->hi.is4 || cmp_addr(&m->hi, &m->lo) < 0)
        return false;
    m->kind = LOGQL_IP_RANGE;
    return true;
}

int logql_ip_matcher_parse(struct str pattern, struct logql_ip_matcher *m, char *err,
                           size_t err_size)
{
    memset(m, 0, sizeof *m);
    if (logql_ip_parse_addr(pattern, &m->lo)) {
        m->kind = LOGQL_IP_ADDR;
        return 0;
    }
    if (parse_prefix(pattern, m) || parse_range(pattern, m))
        return 0;
    snprintf(err, err_size, "ip: invalid pattern: \"%.*s\"", (int)pattern.len, pattern.ptr);
    return ERR_INVALID;
}

static bool prefix_contains(const struct logql_ip_matcher *m, const struct logql_ip_addr *a)
{
    if (a->is4 != m->lo.is4 || a->has_zone)
        return false;
    int full = m->bits / 8, rest = m->bits % 8;
    if (memcmp(a->b, m->lo.b, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a->b[full] & mask) == (m->lo.b[full] & mask);
}

static bool contains(const struct logql_ip_matcher *m, const struct logql_ip_addr *a)
{
    switch (m->kind) {
    case LOGQL_IP_ADDR: return cmp_addr(a, &m->lo) == 0 && a->has_zone == m->lo.has_zone;
    case LOGQL_IP_PREFIX: return prefix_contains(m, a);
    case LOGQL_IP_RANGE:
        return !a->has_zone && cmp_addr(&m->lo, a) <= 0 && cmp_addr(&m->hi, a) >= 0;
    }
    return false;
}

static bool is_hex(uint8_t c)
{
    return hexval((char)c) >= 0;
}

static bool v4_hint(const uint8_t *p)
{
    return is_digit((char)p[0]) && (p[1] == '.' || p[2] == '.' || p[3] == '.');
}

static bool v6_hint(const uint8_t p[5])
{
    return (p[0] == ':' && p[1] == ':' && is_hex(p[2])) || (is_hex(p[0]) && p[1] == ':') ||
           (is_hex(p[0]) && is_hex(p[1]) && p[2] == ':') ||
           (is_hex(p[0]) && is_hex(p[1]) && is_hex(p[2]) && p[3] == ':') ||
           (is_hex(p[0]) && is_hex(p[1]) && is_hex(p[2]) && is_hex(p[3]) && p[4] == ':');
}

/* Tries the address starting at i made of charset bytes; returns true on a match, else the
 * span length in *len. */
static bool try_at(const struct logql_ip_matcher *m, const uint8_t *s, size_t n, size_t i,
                   const char *charset, size_t *len)
{
    size_t k = i;
    while (k < n && s[k] && strchr(charset, s[k]))
        k++;
    struct logql_ip_addr a;
    if (logql_ip_parse_addr((struct str){(const char *)s + i, k - i}, &a) && contains(m, &a))
        return true;
    *len = k - i;
    return false;
}

bool logql_ip_matches(const struct logql_ip_matcher *m, struct str text)
{
    const uint8_t *s = (const uint8_t *)text.ptr;
    size_t n = text.len;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        if (i + 3 < n && v4_hint(s + i)) {
            if (try_at(m, s, n, i, "0123456789.", &len))
                return true;
            i += len;
            continue;
        }
        uint8_t p[5];
        for (int k = 0; k < 5; k++)
            p[k] = i + (size_t)k < n ? s[i + (size_t)k] : 0;
        if (v6_hint(p)) {
            if (try_at(m, s, n, i, "0123456789abcdefABCDEF:.", &len))
                return true;
            i += len;
        }
    }
    return false;
}
