/* Template functions on strings (Loki's fmt.go map and the sprig string helpers it enables) and
 * the text/template builtins (not, len, index, slice, print*, eq/ne/lt/le/gt/ge, html, js,
 * urlquery, call). Each follows the Go function's behaviour, including its errors and panics,
 * which become execution errors (TemplateFormatErr). */
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <wctype.h>

#include "base/error.h"
#include "engine/logql/exec_tmpl.h"
#include "engine/logql/units.h"
#include "formats/jsonr.h"
#include "formats/wire/utf8.h"

#define TX_MAX_STRING (8 << 20)

/* ---- helpers ---- */

static int ret_str(struct lq_tctx *c, struct buf *b, struct lq_tv *ret)
{
    return lq_tx_str(c, b->data, b->len, ret);
}

static int ret_bool(bool v, struct lq_tv *ret)
{
    *ret = (struct lq_tv){.k = LQ_TV_BOOL, .b = v};
    return 0;
}

static int ret_int(int64_t v, struct lq_tv *ret)
{
    *ret = (struct lq_tv){.k = LQ_TV_INT, .it = LQ_INT, .i = v};
    return 0;
}

static locale_t g_loc;
static void loc_init(void)
{
    g_loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static uint32_t map_rune(uint32_t r, int how)
{
    if (r < 0x80) {
        if (how > 0 && r >= 'a' && r <= 'z')
            return r - 32;
        if (how < 0 && r >= 'A' && r <= 'Z')
            return r + 32;
        return r;
    }
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, loc_init);
    if (!g_loc)
        return r;
    return (uint32_t)(how > 0 ? towupper_l((wint_t)r, g_loc) : towlower_l((wint_t)r, g_loc));
}

/* Appends s with every rune mapped (how: 1 upper, -1 lower); invalid bytes become U+FFFD as
 * Go's strings.Map does. */
static int map_runes(struct buf *b, struct str s, int how)
{
    for (size_t i = 0; i < s.len;) {
        uint32_t r;
        size_t l = wire_utf8_decode((const uint8_t *)s.ptr + i, s.len - i, &r);
        if (!l) {
            r = 0xfffd;
            l = 1;
        }
        uint8_t u[4];
        int rc = buf_append(b, u, wire_utf8_encode(map_rune(r, how), u));
        if (rc)
            return rc;
        i += l;
    }
    return 0;
}

static uint32_t rune_at(struct str s, size_t i, size_t *len)
{
    uint32_t r;
    size_t l = wire_utf8_decode((const uint8_t *)s.ptr + i, s.len - i, &r);
    *len = l ? l : 1;
    return l ? r : 0xfffd;
}

static bool in_cutset(struct str cut, uint32_t r)
{
    for (size_t i = 0; i < cut.len;) {
        size_t l;
        if (rune_at(cut, i, &l) == r)
            return true;
        i += l;
    }
    return false;
}

/* strings.Trim/TrimLeft/TrimRight by a cutset of runes. */
static struct str trim_cut(struct str s, struct str cut, bool left, bool right)
{
    while (left && s.len) {
        size_t l;
        if (!in_cutset(cut, rune_at(s, 0, &l)))
            break;
        s.ptr += l, s.len -= l;
    }
    while (right && s.len) {
        size_t k = s.len - 1; /* start of the last rune */
        while (k > 0 && ((unsigned char)s.ptr[k] & 0xc0) == 0x80 && s.len - k < 4)
            k--;
        size_t l;
        uint32_t r = rune_at(s, k, &l);
        if (k + l != s.len) {
            k = s.len - 1;
            r = 0xfffd;
        }
        if (!in_cutset(cut, r))
            break;
        s.len = k;
    }
    return s;
}

static bool is_space_rune(uint32_t r)
{
    return (r >= 9 && r <= 13) || r == ' ' || r == 0x85 || r == 0xa0 || r == 0x1680 ||
           (r >= 0x2000 && r <= 0x200a) || r == 0x2028 || r == 0x2029 || r == 0x202f ||
           r == 0x205f || r == 0x3000;
}

static struct str trim_space(struct str s)
{
    while (s.len) {
        size_t l;
        if (!is_space_rune(rune_at(s, 0, &l)))
            break;
        s.ptr += l, s.len -= l;
    }
    while (s.len) {
        size_t k = s.len - 1;
        while (k > 0 && ((unsigned char)s.ptr[k] & 0xc0) == 0x80 && s.len - k < 4)
            k--;
        size_t l;
        uint32_t r = rune_at(s, k, &l);
        if (k + l != s.len || !is_space_rune(r))
            break;
        s.len = k;
    }
    return s;
}

static struct str sub(struct str s, size_t a, size_t b)
{
    return (struct str){s.ptr + a, b - a};
}

static bool has_prefix(struct str s, struct str p)
{
    return s.len >= p.len && memcmp(s.ptr, p.ptr, p.len) == 0;
}

static bool has_suffix(struct str s, struct str p)
{
    return s.len >= p.len && memcmp(s.ptr + s.len - p.len, p.ptr, p.len) == 0;
}

static const char *find(struct str s, size_t from, struct str needle)
{
    if (needle.len == 0)
        return s.ptr + from;
    for (size_t i = from; i + needle.len <= s.len; i++)
        if (s.ptr[i] == needle.ptr[0] && memcmp(s.ptr + i, needle.ptr, needle.len) == 0)
            return s.ptr + i;
    return NULL;
}

/* strings.Replace(s, old, new, n) */
static int replace_n(struct buf *b, struct str s, struct str old, struct str nw, int64_t n)
{
    size_t i = 0;
    int rc = 0;
    for (int64_t done = 0; (n < 0 || done < n) && !rc; done++) {
        if (old.len == 0) { /* before each rune and at the end */
            if (i > s.len)
                break;
            rc = buf_append(b, nw.ptr, nw.len);
            if (i == s.len) {
                i++;
                break;
            }
            size_t l;
            (void)rune_at(s, i, &l);
            rc = rc || buf_append(b, s.ptr + i, l);
            i += l;
            continue;
        }
        const char *at = find(s, i, old);
        if (!at)
            break;
        size_t k = (size_t)(at - s.ptr);
        rc = buf_append(b, s.ptr + i, k - i) || buf_append(b, nw.ptr, nw.len);
        i = k + old.len;
        if (b->len > TX_MAX_STRING)
            return ERR_LIMIT;
    }
    if (!rc && i < s.len)
        rc = buf_append(b, s.ptr + i, s.len - i);
    return rc;
}

/* ---- Loki's string functions ---- */

static int fn_upper(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    struct buf *b = lq_tx_buf(c);
    return map_runes(b, a[0].s, 1) || ret_str(c, b, ret);
}

static int fn_lower(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    struct buf *b = lq_tx_buf(c);
    return map_runes(b, a[0].s, -1) || ret_str(c, b, ret);
}

static int fn_title(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    struct buf *b = lq_tx_buf(c);
    struct str s = a[0].s;
    bool prev_sep = true;
    for (size_t i = 0; i < s.len;) {
        size_t l;
        uint32_t r = rune_at(s, i, &l);
        uint32_t o = prev_sep ? map_rune(r, 1) : r;
        uint8_t u[4];
        if (buf_append(b, u, wire_utf8_encode(o, u)))
            return ERR_NOMEM;
        /* strings.Title's isSeparator */
        if (r < 0x80)
            prev_sep =
                !((r >= '0' && r <= '9') || ((r | 0x20) >= 'a' && (r | 0x20) <= 'z') || r == '_');
        else
            prev_sep = is_space_rune(r);
        i += l;
    }
    return ret_str(c, b, ret);
}

static int fn_Replace(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    struct buf *b = lq_tx_buf(c);
    int rc = replace_n(b, a[0].s, a[1].s, a[2].s, a[3].i);
    return rc == ERR_LIMIT ? lq_tx_fail(c, "string too long") : rc || ret_str(c, b, ret);
}

static int fn_replace(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    struct buf *b = lq_tx_buf(c);
    int rc = replace_n(b, a[2].s, a[0].s, a[1].s, -1);
    return rc == ERR_LIMIT ? lq_tx_fail(c, "string too long") : rc || ret_str(c, b, ret);
}

static int ret_sub(struct lq_tctx *c, struct str s, struct lq_tv *ret)
{
    (void)c;
    *ret = (struct lq_tv){.k = LQ_TV_STR, .s = s};
    return 0;
}

static int fn_Trim(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    return ret_sub(c, trim_cut(a[0].s, a[1].s, true, true), ret);
}

static int fn_TrimLeft(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    return ret_sub(c, trim_cut(a[0].s, a[1].s, true, false), ret);
}

static int fn_TrimRight(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    return ret_sub(c, trim_cut(a[0].s, a[1].s, false, true), ret);
}

static int fn_TrimPrefix(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    struct str s = a[0].s;
    return ret_sub(c, has_prefix(s, a[1].s) ? sub(s, a[1].s.len, s.len) : s, ret);
}

static int fn_TrimSuffix(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    struct str s = a[0].s;
    return ret_sub(c, has_suffix(s, a[1].s) ? sub(s, 0, s.len - a[1].s.len) : s, ret);
}

static int fn_TrimSpace(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    return ret_sub(c, trim_space(a[0].s), ret);
}

/* sprig's argument order: (cut, s) */
static int fn_trimAll(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    return ret_sub(c, trim_cut(a[1].s, a[0].s, true, true), ret);
}

static int fn_trimPrefix(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    struct lq_tv sw[2] = {a[1], a[0]};
    return fn_TrimPrefix(c, sw, n, ret);
}

static int fn_trimSuffix(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    struct lq_tv sw[2] = {a[1], a[0]};
    return fn_TrimSuffix(c, sw, n, ret);
}

static int fn_contains(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c, (void)n;
    return ret_bool(find(a[1].s, 0, a[0].s) != NULL, ret);
}

static int fn_hasPrefix(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c, (void)n;
    return ret_bool(has_prefix(a[1].s, a[0].s), ret);
}

static int fn_hasSuffix(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c, (void)n;
    return ret_bool(has_suffix(a[1].s, a[0].s), ret);
}

/* sprig trunc: bytes */
static int fn_trunc(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    int64_t k = a[0].i;
    struct str s = a[1].s;
    if (k < 0 && (int64_t)s.len + k > 0)
        return ret_sub(c, sub(s, (size_t)((int64_t)s.len + k), s.len), ret);
    if (k >= 0 && (int64_t)s.len > k)
        return ret_sub(c, sub(s, 0, (size_t)k), ret);
    return ret_sub(c, s, ret);
}

/* sprig substr: bytes; out-of-range slicing panics in Go */
static int fn_substr(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    int64_t st = a[0].i, en = a[1].i, len = (int64_t)a[2].s.len;
    struct str s = a[2].s;
    if (st < 0) {
        if (en < 0 || en > len)
            return lq_tx_fail(c, "error calling substr: runtime error: slice bounds out of range");
        return ret_sub(c, sub(s, 0, (size_t)en), ret);
    }
    if (en < 0 || en > len) {
        if (st > len)
            return lq_tx_fail(c, "error calling substr: runtime error: slice bounds out of range");
        return ret_sub(c, sub(s, (size_t)st, s.len), ret);
    }
    if (st > en)
        return lq_tx_fail(c, "error calling substr: runtime error: slice bounds out of range");
    return ret_sub(c, sub(s, (size_t)st, (size_t)en), ret);
}

static int fn_repeat(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    int64_t k = a[0].i;
    struct str s = a[1].s;
    if (k < 0)
        return lq_tx_fail(c, "error calling repeat: strings: negative Repeat count");
    if (s.len && (uint64_t)k > TX_MAX_STRING / s.len)
        return lq_tx_fail(c, "error calling repeat: string too long");
    struct buf *b = lq_tx_buf(c);
    for (int64_t i = 0; i < k; i++)
        if (buf_append(b, s.ptr, s.len))
            return ERR_NOMEM;
    return ret_str(c, b, ret);
}

static int indent_to(struct buf *b, int64_t spaces, struct str v)
{
    if (spaces < 0 || spaces > 4096)
        return ERR_LIMIT;
    char pad[4097];
    memset(pad, ' ', (size_t)spaces);
    int rc = buf_append(b, pad, (size_t)spaces);
    for (size_t i = 0; i < v.len && !rc; i++) {
        rc = buf_append_u8(b, (uint8_t)v.ptr[i]);
        if (v.ptr[i] == '\n' && !rc)
            rc = buf_append(b, pad, (size_t)spaces);
        if (b->len > TX_MAX_STRING)
            return ERR_LIMIT;
    }
    return rc;
}

static int fn_indent(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    struct buf *b = lq_tx_buf(c);
    int rc = indent_to(b, a[0].i, a[1].s);
    return rc == ERR_LIMIT ? lq_tx_fail(c, "error calling indent: bad count")
                           : rc || ret_str(c, b, ret);
}

static int fn_nindent(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    struct buf *b = lq_tx_buf(c);
    int rc = buf_append_u8(b, '\n');
    if (!rc)
        rc = indent_to(b, a[0].i, a[1].s);
    return rc == ERR_LIMIT ? lq_tx_fail(c, "error calling nindent: bad count")
                           : rc || ret_str(c, b, ret);
}

/* Loki's alignLeft / alignRight: runes */
static int align(struct lq_tctx *c, struct lq_tv *a, bool left, struct lq_tv *ret)
{
    int64_t count = a[0].i;
    struct str s = a[1].s;
    size_t runes = 0;
    for (size_t i = 0; i < s.len; runes++) {
        size_t l;
        (void)rune_at(s, i, &l);
        i += l;
    }
    if (count < 0 || (uint64_t)count == runes)
        return ret_sub(c, s, ret);
    if ((uint64_t)count > runes) {
        if (count > TX_MAX_STRING)
            return lq_tx_fail(c, "error calling align: count too large");
        struct buf *b = lq_tx_buf(c);
        int rc = left ? buf_append(b, s.ptr, s.len) : 0;
        for (uint64_t i = runes; i < (uint64_t)count && !rc; i++)
            rc = buf_append_u8(b, ' ');
        if (!rc && !left)
            rc = buf_append(b, s.ptr, s.len);
        return rc || ret_str(c, b, ret);
    }
    /* keep `count` runes: the first (left) or the last (right) */
    size_t skip = left ? (size_t)count : runes - (size_t)count, i = 0;
    for (size_t r = 0; r < skip; r++) {
        size_t l;
        (void)rune_at(s, i, &l);
        i += l;
    }
    struct buf *b = lq_tx_buf(c);
    /* Go's string(runes[...]) turns invalid bytes into U+FFFD */
    struct str part = left ? sub(s, 0, i) : sub(s, i, s.len);
    return map_runes(b, part, 0) || ret_str(c, b, ret);
}

static int fn_alignLeft(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    return align(c, a, true, ret);
}

static int fn_alignRight(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    return align(c, a, false, ret);
}

static int fn_line(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)a, (void)n;
    return ret_sub(c, lq_tx_line(c), ret);
}

/* ---- base64 and URLs ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int fn_b64enc(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    struct str s = a[0].s;
    struct buf *b = lq_tx_buf(c);
    const uint8_t *p = (const uint8_t *)s.ptr;
    for (size_t i = 0; i < s.len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t k = s.len - i;
        if (k > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (k > 2)
            v |= p[i + 2];
        char q[4] = {b64[v >> 18], b64[(v >> 12) & 63], k > 1 ? b64[(v >> 6) & 63] : '=',
                     k > 2 ? b64[v & 63] : '='};
        if (buf_append(b, q, 4))
            return ERR_NOMEM;
    }
    return ret_str(c, b, ret);
}

static int b64val(char ch)
{
    const char *p = ch ? strchr(b64, ch) : NULL;
    return p ? (int)(p - b64) : -1;
}

/* encoding/base64 StdEncoding.DecodeString; on error the message ("illegal base64 data at
 * input byte N") is the result, as Loki's b64dec returns it. */
static int b64_decode(struct buf *b, struct str s, size_t *bad)
{
    uint32_t acc = 0;
    int nb = 0, pads = 0;
    size_t j = 0; /* position without \r \n */
    for (size_t i = 0; i < s.len; i++) {
        char ch = s.ptr[i];
        if (ch == '\r' || ch == '\n')
            continue;
        if (ch == '=' && nb >= 2) {
            pads++;
            j++;
            continue;
        }
        int v = b64val(ch);
        if (v < 0 || pads) {
            *bad = j;
            return 1;
        }
        acc = acc << 6 | (uint32_t)v;
        if (++nb == 4) {
            uint8_t o[3] = {(uint8_t)(acc >> 16), (uint8_t)(acc >> 8), (uint8_t)acc};
            if (buf_append(b, o, 3))
                return ERR_NOMEM;
            nb = 0;
            acc = 0;
        }
        j++;
    }
    if (nb == 1 || (nb && nb + pads != 4) || (!nb && pads)) {
        *bad = nb == 1 ? j - 1 : j - (size_t)pads;
        return 1;
    }
    if (nb == 2)
        return buf_append_u8(b, (uint8_t)(acc >> 4));
    if (nb == 3) {
        uint8_t o[2] = {(uint8_t)(acc >> 10), (uint8_t)(acc >> 2)};
        return buf_append(b, o, 2);
    }
    return 0;
}

static int fn_b64dec(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    struct buf *in = lq_tx_buf(c);
    struct str s = a[0].s;
    if (buf_append(in, s.ptr, s.len))
        return ERR_NOMEM;
    size_t rem = s.len % 4;
    if (rem != 0 && rem != 1 && buf_append(in, "===", 4 - rem))
        return ERR_NOMEM;
    struct buf *out = lq_tx_buf2(c);
    size_t bad = 0;
    int rc = b64_decode(out, (struct str){(const char *)in->data, in->len}, &bad);
    if (rc == 1) {
        out->len = 0;
        rc = buf_printf(out, "illegal base64 data at input byte %zu", bad);
    }
    return rc ? rc : lq_tx_str(c, out->data, out->len, ret);
}

static bool url_unreserved(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '.' || ch == '~';
}

static int query_escape(struct buf *b, struct str s)
{
    int rc = 0;
    for (size_t i = 0; i < s.len && !rc; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (url_unreserved(ch))
            rc = buf_append_u8(b, ch);
        else if (ch == ' ')
            rc = buf_append_u8(b, '+');
        else
            rc = buf_printf(b, "%%%02X", ch);
    }
    return rc;
}

static int fn_urlencode(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    struct buf *b = lq_tx_buf(c);
    return query_escape(b, a[0].s) || ret_str(c, b, ret);
}

static int hexv(char ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

static int fn_urldecode(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    struct str s = a[0].s;
    struct buf *b = lq_tx_buf(c);
    for (size_t i = 0; i < s.len; i++) {
        char ch = s.ptr[i];
        if (ch == '%') {
            if (i + 2 >= s.len + 0 || hexv(s.ptr[i + 1]) < 0 || hexv(s.ptr[i + 2]) < 0) {
                size_t e = i + 3 <= s.len ? 3 : s.len - i;
                return lq_tx_fail(c, "error calling urldecode: invalid URL escape \"%.*s\"", (int)e,
                                  s.ptr + i);
            }
            ch = (char)(hexv(s.ptr[i + 1]) * 16 + hexv(s.ptr[i + 2]));
            i += 2;
        } else if (ch == '+') {
            ch = ' ';
        }
        if (buf_append_u8(b, (uint8_t)ch))
            return ERR_NOMEM;
    }
    return ret_str(c, b, ret);
}

/* ---- regexes ---- */

/* Go's Regexp.Expand of a replacement template for one match. */
static int expand(struct buf *b, struct str repl, struct str s, const struct logql_regex *re,
                  const size_t *g)
{
    for (size_t i = 0; i < repl.len;) {
        const char *d = memchr(repl.ptr + i, '$', repl.len - i);
        size_t k = d ? (size_t)(d - repl.ptr) : repl.len;
        if (buf_append(b, repl.ptr + i, k - i))
            return ERR_NOMEM;
        if (!d)
            break;
        i = k + 1;
        if (i < repl.len && repl.ptr[i] == '$') {
            if (buf_append_u8(b, '$'))
                return ERR_NOMEM;
            i++;
            continue;
        }
        bool brace = i < repl.len && repl.ptr[i] == '{';
        size_t st = i + brace, e = st;
        while (e < repl.len && (repl.ptr[e] == '_' ||
                                ((repl.ptr[e] | 0x20) >= 'a' && (repl.ptr[e] | 0x20) <= 'z') ||
                                (repl.ptr[e] >= '0' && repl.ptr[e] <= '9')))
            e++;
        if (e == st || (brace && (e >= repl.len || repl.ptr[e] != '}'))) {
            if (buf_append_u8(b, '$')) /* not a valid reference: the '$' stays */
                return ERR_NOMEM;
            continue;
        }
        struct str name = sub(repl, st, e);
        i = e + brace;
        long grp = -1;
        int64_t num;
        if (logql_parse_int(name, &num) == 0 && name.ptr[0] != '-' && name.ptr[0] != '+')
            grp = num <= (int64_t)re->n_groups ? (long)num : -1;
        for (uint32_t j = 0; grp < 0 && j < re->n_groups && re->names; j++)
            if (str_eq(re->names[j], name))
                grp = (long)j + 1;
        if (grp >= 0 && g[2 * grp] != SIZE_MAX &&
            buf_append(b, s.ptr + g[2 * grp], g[2 * grp + 1] - g[2 * grp]))
            return ERR_NOMEM;
    }
    return 0;
}

/* Go's replaceAll: non-overlapping matches, no empty match right after a match. */
static int regex_replace(struct lq_tctx *c, struct lq_tv *a, bool literal, struct lq_tv *ret)
{
    const struct logql_regex *re = lq_tx_regex(c, a[0].s);
    if (!re)
        return ERR_INVALID;
    struct str s = a[1].s, repl = a[2].s;
    size_t groups[2 * 65], ng = re->n_groups + 1 < 65 ? re->n_groups + 1 : 65;
    struct buf *out = lq_tx_buf(c);
    size_t last = 0, pos = 0, ma, mb;
    int rc = 0;
    while (!rc && pos <= s.len && lq_tx_regex_at(c, re, s, pos, &ma, &mb, groups, ng)) {
        rc = buf_append(out, s.ptr + last, ma - last);
        if (!rc && (mb > last || ma == 0))
            rc = literal ? buf_append(out, repl.ptr, repl.len) : expand(out, repl, s, re, groups);
        last = mb;
        size_t w = 1;
        if (pos < s.len)
            (void)rune_at(s, pos, &w);
        pos = pos + w > mb ? pos + w : mb;
        if (out->len > TX_MAX_STRING)
            rc = ERR_LIMIT;
    }
    if (!rc)
        rc = buf_append(out, s.ptr + last, s.len - last);
    if (!rc)
        rc = lq_tx_str(c, out->data, out->len, ret);
    return rc == ERR_LIMIT ? lq_tx_fail(c, "string too long") : rc;
}

static int fn_regexReplaceAll(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    return regex_replace(c, a, false, ret);
}

static int fn_regexReplaceAllLiteral(struct lq_tctx *c, struct lq_tv *a, size_t n,
                                     struct lq_tv *ret)
{
    (void)n;
    return regex_replace(c, a, true, ret);
}

/* Loki's count: len(FindAllStringIndex(s, -1)) */
static int fn_count(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    const struct logql_regex *re = lq_tx_regex(c, a[0].s);
    if (!re)
        return ERR_INVALID;
    struct str s = a[1].s;
    size_t pos = 0, prev_end = SIZE_MAX, ma, mb, g[2];
    int64_t count = 0;
    while (pos <= s.len && lq_tx_regex_at(c, re, s, pos, &ma, &mb, g, 1)) {
        bool accept = true;
        if (mb == pos) {
            if (ma == prev_end)
                accept = false;
            size_t w = 1;
            if (pos < s.len)
                (void)rune_at(s, pos, &w);
            pos += w;
        } else {
            pos = mb;
        }
        prev_end = mb;
        count += accept;
    }
    return ret_int(count, ret);
}

/* ---- builtins ---- */

static int fn_not(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c, (void)n;
    return ret_bool(!lq_tv_truth(&a[0]), ret);
}

static int fn_len(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    if (a[0].k == LQ_TV_STR)
        return ret_int((int64_t)a[0].s.len, ret);
    if (a[0].k == LQ_TV_JSON)
        return ret_int((int64_t)lq_json_len(a[0].s), ret);
    if (a[0].k == LQ_TV_NIL)
        return lq_tx_fail(c, "error calling len: len of nil pointer");
    return lq_tx_fail(c, "error calling len: len of type %s", lq_tv_type(&a[0]));
}

/* fmt.Sprint: a space between operands when neither is a string. */
static int sprint(struct buf *b, const struct lq_tv *a, size_t n, bool ln)
{
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (i > 0 && (ln || (a[i - 1].k != LQ_TV_STR && a[i].k != LQ_TV_STR)))
            rc = buf_append_u8(b, ' ');
        if (!rc)
            rc = lq_tv_print(b, &a[i], true);
    }
    if (!rc && ln)
        rc = buf_append_u8(b, '\n');
    return rc;
}

static int fn_print(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    struct buf *b = lq_tx_buf(c);
    return sprint(b, a, n, false) || ret_str(c, b, ret);
}

static int fn_println(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    struct buf *b = lq_tx_buf(c);
    return sprint(b, a, n, true) || ret_str(c, b, ret);
}

static int fn_printf(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    struct buf *b = lq_tx_buf(c);
    return lq_tv_sprintf(c, b, a[0].s, a + 1, n - 1) || ret_str(c, b, ret);
}

/* evalArgs of html/js/urlquery: one string as is, else fmt.Sprint. */
static int eval_args(struct lq_tctx *c, struct lq_tv *a, size_t n, struct buf *b)
{
    (void)c;
    if (n == 1 && a[0].k == LQ_TV_STR)
        return buf_append(b, a[0].s.ptr, a[0].s.len);
    return sprint(b, a, n, false);
}

static int fn_html(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    struct buf *inb = lq_tx_buf2(c);
    int rc = eval_args(c, a, n, inb);
    struct buf *b = lq_tx_buf(c);
    for (size_t i = 0; i < inb->len && !rc; i++) {
        switch (inb->data[i]) {
        case '"': rc = buf_append_str(b, "&#34;"); break;
        case '\'': rc = buf_append_str(b, "&#39;"); break;
        case '&': rc = buf_append_str(b, "&amp;"); break;
        case '<': rc = buf_append_str(b, "&lt;"); break;
        case '>': rc = buf_append_str(b, "&gt;"); break;
        case 0: rc = buf_append_str(b, "\xef\xbf\xbd"); break;
        default: rc = buf_append_u8(b, inb->data[i]); break;
        }
    }
    return rc || ret_str(c, b, ret);
}

static int fn_js(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    struct buf *inb = lq_tx_buf2(c);
    int rc = eval_args(c, a, n, inb);
    struct buf *b = lq_tx_buf(c);
    for (size_t i = 0; i < inb->len && !rc; i++) {
        uint8_t ch = inb->data[i];
        if (ch == '\\' || ch == '\'' || ch == '"')
            rc = buf_append_u8(b, '\\') || buf_append_u8(b, ch);
        else if (ch == '<' || ch == '>' || ch == '&' || ch == '=' || ch < ' ')
            rc = buf_printf(b, "\\u%04X", ch);
        else
            rc = buf_append_u8(b, ch);
    }
    return rc || ret_str(c, b, ret);
}

static int fn_urlquery(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    struct buf *inb = lq_tx_buf2(c);
    int rc = eval_args(c, a, n, inb);
    struct buf *b = lq_tx_buf(c);
    if (!rc)
        rc = query_escape(b, (struct str){(const char *)inb->data, inb->len});
    return rc || ret_str(c, b, ret);
}

static int fn_call(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)a, (void)n, (void)ret;
    return lq_tx_fail(c, "error calling call: non-function of type %s", lq_tv_type(&a[0]));
}

static int fn_index(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    *ret = a[0];
    for (size_t i = 1; i < n; i++) {
        struct lq_tv *it = ret, *ix = &a[i];
        if (it->k == LQ_TV_STR && ix->k == LQ_TV_INT) {
            if (ix->i < 0 || (uint64_t)ix->i >= it->s.len)
                return lq_tx_fail(c, "error calling index: index out of range: %lld",
                                  (long long)ix->i);
            *ret = (struct lq_tv){
                .k = LQ_TV_INT, .it = LQ_UINT8, .i = (unsigned char)it->s.ptr[ix->i]};
            continue;
        }
        if (it->k == LQ_TV_JSON && ix->k == LQ_TV_STR && it->s.ptr[0] == '{') {
            struct jsonr r;
            jsonr_init(&r, it->s.ptr, it->s.len, 0);
            struct jsonr_path_seg seg = {.key = ix->s};
            int t = jsonr_find_path(&r, &seg, 1);
            *ret = (struct lq_tv){.k = LQ_TV_NIL};
            if (t == JSONR_OBJ_BEGIN || t == JSONR_ARR_BEGIN) {
                struct str raw;
                if (jsonr_skip(&r, &raw) == 0)
                    *ret = (struct lq_tv){.k = LQ_TV_JSON, .s = raw};
            } else if (t == JSONR_STRING) {
                struct buf *b = lq_tx_buf(c);
                if (jsonr_unescape_buf(jsonr_text(&r), b) || ret_str(c, b, ret))
                    return ERR_NOMEM;
            } else if (t == JSONR_NUMBER) {
                double d = 0;
                (void)jsonr_double(jsonr_text(&r), &d);
                *ret = (struct lq_tv){.k = LQ_TV_FLOAT, .f = d};
            } else if (t == JSONR_TRUE || t == JSONR_FALSE) {
                *ret = (struct lq_tv){.k = LQ_TV_BOOL, .b = t == JSONR_TRUE};
            }
            continue;
        }
        return lq_tx_fail(c, "error calling index: cannot index %s with %s", lq_tv_type(it),
                          lq_tv_type(ix));
    }
    return 0;
}

static int fn_slice(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    if (a[0].k != LQ_TV_STR)
        return lq_tx_fail(c, "error calling slice: can't slice item of type %s", lq_tv_type(&a[0]));
    if (n > 3)
        return lq_tx_fail(c, "error calling slice: cannot 3-index slice a string");
    int64_t idx[2] = {0, (int64_t)a[0].s.len};
    for (size_t i = 1; i < n; i++) {
        if (a[i].k != LQ_TV_INT)
            return lq_tx_fail(c, "error calling slice: cannot index slice/array with type %s",
                              lq_tv_type(&a[i]));
        idx[i - 1] = a[i].i;
    }
    if (idx[0] < 0 || idx[1] < idx[0] || idx[1] > (int64_t)a[0].s.len)
        return lq_tx_fail(c, "error calling slice: index out of range");
    return ret_sub(c, sub(a[0].s, (size_t)idx[0], (size_t)idx[1]), ret);
}

/* ---- comparisons ---- */

enum kind { K_INVALID, K_BOOL, K_INT, K_UINT, K_FLOAT, K_STRING, K_OTHER };

static enum kind basic_kind(const struct lq_tv *v)
{
    switch (v->k) {
    case LQ_TV_NIL: return K_INVALID;
    case LQ_TV_BOOL: return K_BOOL;
    case LQ_TV_INT: return v->it == LQ_UINT8 ? K_UINT : K_INT;
    case LQ_TV_FLOAT: return K_FLOAT;
    case LQ_TV_STR: return K_STRING;
    default: return K_OTHER;
    }
}

/* eq of two values: 1 equal, 0 not, -1 incompatible. */
static int eq2(const struct lq_tv *x, const struct lq_tv *y)
{
    enum kind kx = basic_kind(x), ky = basic_kind(y);
    if (kx != ky) {
        if ((kx == K_INT && ky == K_UINT) || (kx == K_UINT && ky == K_INT))
            return x->i == y->i;
        return kx == K_INVALID || ky == K_INVALID ? 0 : -1;
    }
    switch (kx) {
    case K_BOOL: return x->b == y->b;
    case K_INT:
    case K_UINT: return x->i == y->i;
    case K_FLOAT: return x->f == y->f;
    case K_STRING: return str_eq(x->s, y->s);
    case K_INVALID: return 1;
    default:
        if (x->k == LQ_TV_TIME && y->k == LQ_TV_TIME)
            return x->i == y->i && x->nsec == y->nsec;
        return -1;
    }
}

static int fn_eq(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    if (n < 2)
        return lq_tx_fail(c, "error calling eq: missing argument for comparison");
    for (size_t i = 1; i < n; i++) {
        int r = eq2(&a[0], &a[i]);
        if (r < 0)
            return lq_tx_fail(c, "error calling eq: incompatible types for comparison");
        if (r)
            return ret_bool(true, ret);
    }
    return ret_bool(false, ret);
}

static int fn_ne(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    int r = eq2(&a[0], &a[1]);
    if (r < 0)
        return lq_tx_fail(c, "error calling ne: incompatible types for comparison");
    return ret_bool(!r, ret);
}

/* lt: 1 less, 0 not, -1 error. */
static int lt2(struct lq_tctx *c, const struct lq_tv *x, const struct lq_tv *y)
{
    enum kind kx = basic_kind(x), ky = basic_kind(y);
    if (kx == K_INVALID || ky == K_INVALID || kx == K_OTHER || ky == K_OTHER || kx == K_BOOL ||
        ky == K_BOOL)
        return lq_tx_fail(c, "error calling lt: invalid type for comparison"), -1;
    if (kx != ky) {
        if ((kx == K_INT || kx == K_UINT) && (ky == K_INT || ky == K_UINT))
            return x->i < y->i;
        return lq_tx_fail(c, "error calling lt: incompatible types for comparison"), -1;
    }
    if (kx == K_FLOAT)
        return x->f < y->f;
    if (kx == K_STRING)
        return str_cmp(x->s, y->s) < 0;
    return x->i < y->i;
}

static int cmp_fn(struct lq_tctx *c, struct lq_tv *a, int op, struct lq_tv *ret)
{
    int r;
    switch (op) {
    case 0: r = lt2(c, &a[0], &a[1]); break; /* lt */
    case 1:
        r = lt2(c, &a[0], &a[1]);
        r = r < 0 ? r : r || eq2(&a[0], &a[1]) == 1;
        break;                               /* le */
    case 2: r = lt2(c, &a[1], &a[0]); break; /* gt */
    default:
        r = lt2(c, &a[0], &a[1]);
        r = r < 0 ? r : !r;
        break; /* ge */
    }
    return r < 0 ? ERR_INVALID : ret_bool(r, ret);
}

static int fn_lt(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    return cmp_fn(c, a, 0, ret);
}

static int fn_le(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    return cmp_fn(c, a, 1, ret);
}

static int fn_gt(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    return cmp_fn(c, a, 2, ret);
}

static int fn_ge(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    return cmp_fn(c, a, 3, ret);
}

/* ---- fromJson, default ---- */

static int fn_fromJson(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    struct jsonr r;
    struct str s = a[0].s;
    jsonr_init(&r, s.ptr, s.len, 0);
    int t = jsonr_next(&r);
    *ret = (struct lq_tv){.k = LQ_TV_NIL};
    if (t <= 0)
        return 0; /* json.Unmarshal failed: nil */
    struct jsonr all;
    jsonr_init(&all, s.ptr, s.len, 0);
    if (jsonr_next(&all) > 0 && jsonr_skip(&all, NULL) == 0 && jsonr_next(&all) != JSONR_END)
        return 0; /* invalid or trailing data */
    if (jsonr_err(&all))
        return 0;
    switch (t) {
    case JSONR_OBJ_BEGIN:
    case JSONR_ARR_BEGIN: *ret = (struct lq_tv){.k = LQ_TV_JSON, .s = s}; return 0;
    case JSONR_STRING: {
        struct buf *b = lq_tx_buf(c);
        return jsonr_unescape_buf(jsonr_text(&r), b) || ret_str(c, b, ret);
    }
    case JSONR_NUMBER: {
        double d = 0;
        (void)jsonr_double(jsonr_text(&r), &d);
        *ret = (struct lq_tv){.k = LQ_TV_FLOAT, .f = d};
        return 0;
    }
    case JSONR_TRUE:
    case JSONR_FALSE: return ret_bool(t == JSONR_TRUE, ret);
    default: return 0;
    }
}

bool lq_tv_empty(const struct lq_tv *v)
{
    switch (v->k) {
    case LQ_TV_NIL: return true;
    case LQ_TV_STR: return v->s.len == 0;
    case LQ_TV_INT: return v->i == 0;
    case LQ_TV_FLOAT: return v->f == 0;
    case LQ_TV_BOOL: return !v->b;
    case LQ_TV_JSON: return lq_json_len(v->s) == 0;
    default: return false;
    }
}

static int fn_default(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c;
    *ret = n < 2 || lq_tv_empty(&a[1]) ? a[0] : a[1];
    return 0;
}

#define S LQ_PT_STR
#define I LQ_PT_INT
#define A LQ_PT_ANY

const struct lq_fn lq_fns_str[] = {
    {"ToLower", 1, {S}, -1, fn_lower},
    {"ToUpper", 1, {S}, -1, fn_upper},
    {"Replace", 4, {S, S, S, I}, -1, fn_Replace},
    {"Trim", 2, {S, S}, -1, fn_Trim},
    {"TrimLeft", 2, {S, S}, -1, fn_TrimLeft},
    {"TrimRight", 2, {S, S}, -1, fn_TrimRight},
    {"TrimPrefix", 2, {S, S}, -1, fn_TrimPrefix},
    {"TrimSuffix", 2, {S, S}, -1, fn_TrimSuffix},
    {"TrimSpace", 1, {S}, -1, fn_TrimSpace},
    {"regexReplaceAll", 3, {S, S, S}, -1, fn_regexReplaceAll},
    {"regexReplaceAllLiteral", 3, {S, S, S}, -1, fn_regexReplaceAllLiteral},
    {"count", 2, {S, S}, -1, fn_count},
    {"urldecode", 1, {S}, -1, fn_urldecode},
    {"urlencode", 1, {S}, -1, fn_urlencode},
    {"alignLeft", 2, {I, S}, -1, fn_alignLeft},
    {"alignRight", 2, {I, S}, -1, fn_alignRight},
    {"b64dec", 1, {S}, -1, fn_b64dec},
    {"__line__", 0, {0}, -1, fn_line},
    {"b64enc", 1, {S}, -1, fn_b64enc},
    {"lower", 1, {S}, -1, fn_lower},
    {"upper", 1, {S}, -1, fn_upper},
    {"title", 1, {S}, -1, fn_title},
    {"trunc", 2, {I, S}, -1, fn_trunc},
    {"substr", 3, {I, I, S}, -1, fn_substr},
    {"contains", 2, {S, S}, -1, fn_contains},
    {"hasPrefix", 2, {S, S}, -1, fn_hasPrefix},
    {"hasSuffix", 2, {S, S}, -1, fn_hasSuffix},
    {"indent", 2, {I, S}, -1, fn_indent},
    {"nindent", 2, {I, S}, -1, fn_nindent},
    {"replace", 3, {S, S, S}, -1, fn_replace},
    {"repeat", 2, {I, S}, -1, fn_repeat},
    {"trim", 1, {S}, -1, fn_TrimSpace},
    {"trimAll", 2, {S, S}, -1, fn_trimAll},
    {"trimSuffix", 2, {S, S}, -1, fn_trimSuffix},
    {"trimPrefix", 2, {S, S}, -1, fn_trimPrefix},
    {"fromJson", 1, {S}, -1, fn_fromJson},
    {"default", 1, {A}, A, fn_default},
    {"not", 1, {A}, -1, fn_not},
    {"len", 1, {A}, -1, fn_len},
    {"index", 1, {A}, A, fn_index},
    {"slice", 1, {A}, A, fn_slice},
    {"print", 0, {0}, A, fn_print},
    {"println", 0, {0}, A, fn_println},
    {"printf", 1, {S}, A, fn_printf},
    {"html", 0, {0}, A, fn_html},
    {"js", 0, {0}, A, fn_js},
    {"urlquery", 0, {0}, A, fn_urlquery},
    {"call", 1, {A}, A, fn_call},
    {"eq", 1, {A}, A, fn_eq},
    {"ne", 2, {A, A}, -1, fn_ne},
    {"lt", 2, {A, A}, -1, fn_lt},
    {"le", 2, {A, A}, -1, fn_le},
    {"gt", 2, {A, A}, -1, fn_gt},
    {"ge", 2, {A, A}, -1, fn_ge},
};
const size_t lq_fns_str_n = sizeof lq_fns_str / sizeof lq_fns_str[0];

const struct lq_fn *lq_fn_find(struct str name)
{
    const struct lq_fn *tables[] = {lq_fns_str, lq_fns_num, lq_fns_time};
    const size_t ns[] = {lq_fns_str_n, lq_fns_num_n, lq_fns_time_n};
    for (size_t t = 0; t < 3; t++)
        for (size_t i = 0; i < ns[t]; i++)
            if (str_eq_cstr(name, tables[t][i].name))
                return &tables[t][i];
    return NULL;
}
