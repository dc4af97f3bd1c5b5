/* The `logfmt` parser stage (plain, --strict, --keep-empty, and with extraction expressions) and
 * its decoder, following the go-logfmt scanning rules Loki uses (pkg/logql/log/logfmt): a key
 * runs to '=' or a space, a bare key has no value, a value is a run of non-space bytes or a
 * double-quoted JSON-style string; a malformed pair is skipped up to the next space and recorded
 * as the decoder's error ("logfmt syntax error at pos N : unexpected '='"). */
#include <stdio.h>
#include <string.h>

#include "engine/logql/exec_int.h"
#include "formats/wire/utf8.h"

void lq_logfmt_reset(struct lq_logfmt *d, struct str line, struct lq_mem *mem)
{
    memset(d, 0, sizeof *d);
    d->line = line;
    d->mem = mem;
}

static void syntax_error(struct lq_logfmt *d, const char *msg)
{
    d->err = true;
    d->err_pos = d->pos + 1;
    snprintf(d->err_msg, sizeof d->err_msg, "%s", msg);
}

static void unexpected_byte(struct lq_logfmt *d, unsigned char c)
{
    d->err = true;
    d->err_pos = d->pos + 1;
    if (c == '\'' || c == '\\')
        snprintf(d->err_msg, sizeof d->err_msg, "unexpected '\\%c'", c);
    else
        snprintf(d->err_msg, sizeof d->err_msg, "unexpected '%c'", c);
}

/* bytes.ContainsRune(s, utf8.RuneError): an invalid sequence or a literal U+FFFD. */
static bool has_rune_error(struct str s)
{
    for (size_t i = 0; i < s.len;) {
        if ((unsigned char)s.ptr[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = wire_utf8_decode((const uint8_t *)s.ptr + i, s.len - i, &cp);
        if (!l || cp == 0xfffd)
            return true;
        i += l;
    }
    return false;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* \uXXXX at s[*i] (the backslash); surrogate pairs combine, anything else odd is U+FFFD. */
static bool unquote_u(const char *s, size_t n, size_t *i, uint32_t *r)
{
    if (*i + 6 > n)
        return false;
    int v = hex4(s + *i + 2);
    if (v < 0)
        return false;
    *i += 6;
    *r = (uint32_t)v;
    if (v >= 0xd800 && v < 0xe000) {
        int lo = (*i + 6 <= n && s[*i] == '\\' && s[*i + 1] == 'u') ? hex4(s + *i + 2) : -1;
        if (v < 0xdc00 && lo >= 0xdc00 && lo < 0xe000) {
            *r = 0x10000 + (((uint32_t)v - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
            *i += 6;
        } else {
            *r = 0xfffd;
        }
    }
    return true;
}

/* encoding/json-style unquoting of s (without the quotes) into scratch memory. */
static bool unquote(struct lq_logfmt *d, const char *s, size_t n, struct str *out)
{
    char *o = lq_mem_alloc(d->mem, 3 * n + 4);
    if (!o) {
        d->oom = true;
        return false;
    }
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\') {
            if (i + 1 >= n)
                return false;
            char e = s[i + 1];
            const char *map = "\"\"\\\\//''b\bf\fn\nr\rt\t";
            const char *m = strchr(map, e);
            if (e && m && (m - map) % 2 == 0) {
                o[w++] = m[1];
                i += 2;
                continue;
            }
            uint32_t r;
            if (e != 'u' || !unquote_u(s, n, &i, &r))
                return false;
            w += wire_utf8_encode(r, (uint8_t *)o + w);
            continue;
        }
        if (c == '"')
            return false;
        if (c < 0x80) {
            o[w++] = (char)c;
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = wire_utf8_decode((const uint8_t *)s + i, n - i, &cp);
        if (!l) {
            w += wire_utf8_encode(0xfffd, (uint8_t *)o + w);
            i++;
        } else {
            memcpy(o + w, s + i, l);
            w += l;
            i += l;
        }
    }
    *out = (struct str){o, w};
    return true;
}

static bool skip_value(struct lq_logfmt *d)
{
    while (d->pos < d->line.len && (unsigned char)d->line.ptr[d->pos] > ' ')
        d->pos++;
    return false;
}

static bool qvalue(struct lq_logfmt *d)
{
    const char *s = d->line.ptr;
    size_t start = d->pos;
    bool has_esc = false, esc = false;
    for (size_t i = d->pos + 1; i < d->line.len; i++) {
        char c = s[i];
        if (esc) {
            esc = false;
        } else if (c == '\\') {
            has_esc = esc = true;
        } else if (c == '"') {
            d->pos = i + 1;
            if (has_esc) {
                if (!unquote(d, s + start + 1, i - start - 1, &d->value)) {
                    syntax_error(d, "invalid quoted value");
                    return false;
                }
                d->has_value = true;
            } else if (i > start + 1) {
                d->value = (struct str){s + start + 1, i - start - 1};
                d->has_value = true;
            }
            return true;
        }
    }
    d->pos = d->line.len;
    syntax_error(d, "unterminated quoted value");
    return false;
}

static bool value(struct lq_logfmt *d)
{
    const char *s = d->line.ptr;
    d->pos++; /* the '=' */
    if (d->pos >= d->line.len)
        return true;
    unsigned char c = (unsigned char)s[d->pos];
    if (c <= ' ')
        return true;
    if (c == '"')
        return qvalue(d);
    size_t start = d->pos;
    for (; d->pos < d->line.len; d->pos++) {
        c = (unsigned char)s[d->pos];
        if (c == '=' || c == '"') {
            unexpected_byte(d, c);
            return skip_value(d);
        }
        if (c <= ' ')
            break;
    }
    d->value = (struct str){s + start, d->pos - start};
    d->has_value = d->value.len > 0;
    return true;
}

/* The key ends at end/space (bare key) or '='. */
static bool key_end(struct lq_logfmt *d, size_t start, bool multibyte)
{
    d->key = (struct str){d->line.ptr + start, d->pos - start};
    d->has_key = d->key.len > 0;
    if (d->has_key && multibyte && has_rune_error(d->key)) {
        syntax_error(d, "invalid key");
        return false;
    }
    return true;
}

bool lq_logfmt_scan(struct lq_logfmt *d)
{
    const char *s = d->line.ptr;
    d->has_key = d->has_value = false;
    d->key = d->value = (struct str){"", 0};
    while (d->pos < d->line.len && (unsigned char)s[d->pos] <= ' ')
        d->pos++;
    if (d->pos >= d->line.len)
        return false;
    size_t start = d->pos;
    bool multibyte = false;
    for (; d->pos < d->line.len; d->pos++) {
        unsigned char c = (unsigned char)s[d->pos];
        if (c == '=') {
            if (d->pos > start && !key_end(d, start, multibyte))
                return skip_value(d);
            if (!d->has_key) {
                unexpected_byte(d, c);
                return skip_value(d);
            }
            return value(d);
        }
        if (c == '"') {
            unexpected_byte(d, c);
            return skip_value(d);
        }
        if (c <= ' ')
            return key_end(d, start, multibyte);
        if (c >= 0x80)
            multibyte = true;
    }
    return key_end(d, start, multibyte);
}

/* ---- stages ---- */

static struct str err_details(struct logql_pipeline *p, const struct lq_logfmt *d)
{
    char b[96];
    int n = snprintf(b, sizeof b, "logfmt syntax error at pos %zu : %s", d->err_pos, d->err_msg);
    return lq_mem_dup(&p->mem, b, (size_t)n, &p->lb.oom);
}

bool lq_stage_logfmt(struct logql_pipeline *p, struct lq_stage *st, struct str line)
{
    const struct logql_stage *ast = st->ast;
    struct lq_logfmt d;
    lq_logfmt_reset(&d, line, &p->mem);
    while (!lq_logfmt_eol(&d)) {
        if (!lq_logfmt_scan(&d)) {
            if (ast->strict)
                break;
            continue;
        }
        struct str key = lq_sanitize_key(&p->mem, d.key, &p->lb.oom);
        if (key.len == 0)
            continue;
        key = lq_lb_dedup_name(&p->lb, key);
        if (!lq_should_extract(p, key) || lq_lb_extracted(&p->lb, key))
            continue;
        struct str val = lq_fix_utf8(&p->mem, d.value, &p->lb.oom);
        if (!ast->keep_empty && val.len == 0)
            continue;
        if (!lq_parsed_set(p, key, val))
            return false;
        if (lq_all_extracted(p))
            break;
    }
    p->lb.oom |= d.oom;
    if (ast->strict && d.err) {
        lq_parse_err(p, LQ_ERR_LOGFMT, err_details(p, &d));
        return lq_hint_ok(p, STR_LIT(LQ_ERROR_LABEL));
    }
    return true;
}

/* The id of the expression whose key is `key`, or -1. */
static long expr_by_key(const struct logql_stage *ast, struct str key)
{
    for (size_t i = 0; i < ast->n_exprs; i++)
        if (str_eq(ast->exprs[i].expr, key))
            return (long)i;
    return -1;
}

static bool is_id(const struct logql_stage *ast, struct str key)
{
    for (size_t i = 0; i < ast->n_exprs; i++)
        if (str_eq(ast->exprs[i].name, key))
            return true;
    return false;
}

/* One decoded pair; false ends the scan (Loki's `break` on an already extracted duplicate). */
static bool logfmt_expr_pair(struct logql_pipeline *p, const struct logql_stage *ast,
                             const struct lq_logfmt *d)
{
    struct str key = lq_sanitize_key(&p->mem, d->key, &p->lb.oom);
    if (key.len == 0)
        return true;
    bool id = is_id(ast, key);
    if (!id && (!lq_should_extract(p, key) || lq_lb_extracted(&p->lb, key)))
        return true;
    struct str val = has_rune_error(d->value) ? (struct str){"", 0} : d->value;
    long e = expr_by_key(ast, key);
    if (e >= 0) {
        key = ast->exprs[e].name;
        id = true;
    }
    if (!id)
        return true;
    if (lq_lb_base_has(&p->lb, key) || lq_lb_has_in(&p->lb, key, LOGQL_CAT_META)) {
        key = lq_mem_cat(&p->mem, key, STR_LIT("_extracted"), &p->lb.oom);
        if (lq_lb_extracted(&p->lb, key) || !lq_should_extract(p, key))
            return false;
    }
    lq_lb_set(&p->lb, LOGQL_CAT_PARSED, key, val);
    return !lq_all_extracted(p);
}

bool lq_stage_logfmt_expr(struct logql_pipeline *p, struct lq_stage *st, struct str line)
{
    const struct logql_stage *ast = st->ast;
    for (size_t i = 0; i < ast->n_exprs; i++) {
        struct str id = ast->exprs[i].name;
        if (!lq_lb_base_has(&p->lb, id) && !lq_lb_has_in(&p->lb, id, LOGQL_CAT_META))
            lq_lb_set(&p->lb, LOGQL_CAT_PARSED, id, (struct str){"", 0});
    }
    struct lq_logfmt d;
    lq_logfmt_reset(&d, line, &p->mem);
    while (!lq_logfmt_eol(&d)) {
        if (!lq_logfmt_scan(&d)) {
            if (ast->strict)
                break;
            continue;
        }
        if (!logfmt_expr_pair(p, ast, &d))
            break;
    }
    p->lb.oom |= d.oom;
    if (ast->strict && d.err)
        lq_parse_err(p, LQ_ERR_LOGFMT, err_details(p, &d));
    return true;
}
