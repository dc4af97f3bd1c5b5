/* Query-string and urlencoded-form decoding into an ordered multi-map of decoded strings. */
#include "server/http/query.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

static inline int hexv(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int64_t http_pct_decode(char *dst, const char *src, size_t n, bool plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            if (n - i < 3)
                return ERR_INVALID;
            int hi = hexv((unsigned char)src[i + 1]), lo = hexv((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return ERR_INVALID;
            dst[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            dst[o++] = ' ';
        } else {
            dst[o++] = c;
        }
    }
    return (int64_t)o;
}

void http_params_init(struct http_params *ps)
{
    memset(ps, 0, sizeof *ps);
    arena_init(&ps->arena, 4096);
}

void http_params_deinit(struct http_params *ps)
{
    free(ps->items);
    arena_deinit(&ps->arena);
    memset(ps, 0, sizeof *ps);
}

void http_params_reset(struct http_params *ps)
{
    ps->n = 0;
    arena_reset(&ps->arena);
}

static int decode_into(struct http_params *ps, const char *s, size_t n, struct str *out)
{
    if (n == 0) {
        *out = (struct str){"", 0};
        return 0;
    }
    char *d = arena_alloc_aligned(&ps->arena, n, 1);
    if (!d)
        return ERR_NOMEM;
    int64_t m = http_pct_decode(d, s, n, true);
    if (m < 0)
        return (int)m;
    *out = (struct str){d, (size_t)m};
    return 0;
}

static int add_pair(struct http_params *ps, const char *s, size_t n)
{
    if (ps->n >= HTTP_PARAMS_MAX)
        return ERR_LIMIT;
    if (ps->n == ps->cap) {
        uint32_t cap = ps->cap ? ps->cap * 2 : 16;
        struct http_param *p = realloc(ps->items, cap * sizeof *p);
        if (!p)
            return ERR_NOMEM;
        ps->items = p;
        ps->cap = cap;
    }
    const char *eq = memchr(s, '=', n);
    size_t kn = eq ? (size_t)(eq - s) : n;
    struct http_param prm;
    int rc = decode_into(ps, s, kn, &prm.key);
    if (!rc)
        rc = eq ? decode_into(ps, eq + 1, n - kn - 1, &prm.value)
                : decode_into(ps, "", 0, &prm.value);
    if (rc)
        return rc;
    ps->items[ps->n++] = prm;
    return 0;
}

int http_params_parse(struct http_params *ps, const char *s, size_t n)
{
    while (n > 0) {
        const char *amp = memchr(s, '&', n);
        size_t len = amp ? (size_t)(amp - s) : n;
        if (len > 0) {
            int rc = add_pair(ps, s, len);
            if (rc)
                return rc;
        }
        s += amp ? len + 1 : len;
        n -= amp ? len + 1 : len;
    }
    return 0;
}

bool http_params_get(const struct http_params *ps, const char *key, struct str *value)
{
    struct str k = str_from_cstr(key);
    for (uint32_t i = 0; i < ps->n; i++) {
        if (str_eq(ps->items[i].key, k)) {
            *value = ps->items[i].value;
            return true;
        }
    }
    return false;
}

size_t http_params_get_all(const struct http_params *ps, const char *key, struct str *out,
                           size_t max)
{
    struct str k = str_from_cstr(key);
    size_t found = 0;
    for (uint32_t i = 0; i < ps->n; i++) {
        if (str_eq(ps->items[i].key, k)) {
            if (found < max)
                out[found] = ps->items[i].value;
            found++;
        }
    }
    return found;
}
