/* LogQL line filters on hyperscan with PCRE2 fallback (see filter.h). */
/* memmem: _GNU_SOURCE comes from the build */
#include "engine/logql/filter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <hs/hs.h>
#include <pcre2.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/wire/utf8.h"

/* ---- UTF-8 ---- */

bool logql_utf8_valid(struct str s)
{
    const uint8_t *p = (const uint8_t *)s.ptr;
    size_t n = s.len, i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = wire_utf8_decode(p + i, n - i, &cp);
        if (!l)
            return false;
        i += l;
    }
    return true;
}

/* ---- PCRE2 matching ---- */

bool logql_regex_jit_unsafe(struct str go)
{
    bool in_class = false;
    for (size_t i = 0; i < go.len; i++) {
        char c = go.ptr[i];
        if (c == '\\' && i + 1 < go.len) {
            char e = go.ptr[++i];
            if (!in_class && (e == 'S' || e == 'W' || e == 'D'))
                return true;
        } else if (c == '[') {
            in_class = true;
        } else if (c == ']') {
            in_class = false;
        }
    }
    return false;
}

/* Bounds the work of one match (PCRE2 backtracks where Go's engine is linear); a match that
 * hits the limit counts as no match. Read-only once made, so threads share it. */
static pcre2_match_context *g_mctx;
static pthread_once_t g_mctx_once = PTHREAD_ONCE_INIT;

static void mctx_init(void)
{
    g_mctx = pcre2_match_context_create(NULL);
    if (g_mctx) {
        pcre2_set_match_limit(g_mctx, 1000000);
        pcre2_set_depth_limit(g_mctx, 10000);
    }
}

bool logql_regex_exec(const struct logql_regex *re, struct str s, size_t start, bool nojit,
                      void **md, size_t *spans, size_t n_pairs)
{
    if (*md && pcre2_get_ovector_count(*md) < n_pairs) {
        pcre2_match_data_free(*md);
        *md = NULL;
    }
    if (!*md && !(*md = pcre2_match_data_create(n_pairs > 65 ? (uint32_t)n_pairs : 65, NULL)))
        return false;
    pthread_once(&g_mctx_once, mctx_init);
    int rc = pcre2_match(re->code, (PCRE2_SPTR)(s.ptr ? s.ptr : ""), s.len, start,
                         nojit ? PCRE2_NO_JIT : 0, *md, g_mctx);
    if (rc < 0)
        return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(*md);
    uint32_t avail = pcre2_get_ovector_count(*md);
    for (size_t i = 0; i < n_pairs; i++) {
        bool set = i < avail && (rc == 0 || i < (size_t)rc) && ov[2 * i] != PCRE2_UNSET;
        spans[2 * i] = set ? ov[2 * i] : SIZE_MAX;
        spans[2 * i + 1] = set ? ov[2 * i + 1] : SIZE_MAX;
    }
    return true;
}

void logql_regex_md_free(void *md)
{
    if (md)
        pcre2_match_data_free(md);
}

/* ---- Go regex -> hyperscan ---- */

struct xlate {
    const char *s;
    size_t n, i;
    struct buf *out;
    bool utf8, nonascii, caseless, ok;
};

static void put(struct xlate *x, const char *p, size_t n)
{
    if (buf_append(x->out, p, n) != 0)
        x->ok = false;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static bool is_alnum(char c)
{
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* \x41 or \x{263a}: copies it; false when malformed. */
static bool xlate_hex(struct xlate *x)
{
    size_t j = x->i + 2; /* after \x */
    if (j < x->n && x->s[j] == '{') {
        size_t k = j + 1;
        while (k < x->n && is_hex(x->s[k]))
            k++;
        if (k == j + 1 || k >= x->n || x->s[k] != '}')
            return false;
        /* a code point above 0x7f needs UTF-8 mode to mean a character */
        if (k - (j + 1) > 2 || (k - (j + 1) == 2 && x->s[j + 1] >= '8'))
            x->utf8 = x->nonascii = true;
        put(x, x->s + x->i, k + 1 - x->i);
        x->i = k + 1;
        return true;
    }
    if (j + 2 > x->n || !is_hex(x->s[j]) || !is_hex(x->s[j + 1]))
        return false;
    if (x->s[j] >= '8')
        return false; /* Go: a character U+0080..U+00FF; hyperscan bytes: leave to PCRE2 */
    put(x, x->s + x->i, 4);
    x->i += 4;
    return true;
}

/* One escape; in_class selects the class forms. */
static bool xlate_escape(struct xlate *x, bool in_class)
{
    if (x->i + 1 >= x->n)
        return false;
    char c = x->s[x->i + 1];
    if ((unsigned char)c >= 0x80)
        return false;
    if (!is_alnum(c)) { /* escaped punctuation is itself */
        put(x, x->s + x->i, 2);
        x->i += 2;
        return true;
    }
    const char *rep = NULL;
    switch (c) {
    case 'x': return xlate_hex(x);
    case 'd':
    case 'w':
    case 't':
    case 'n':
    case 'r':
    case 'f':
    case 'a': rep = NULL; break;
    case 'D':
    case 'W': x->utf8 = true; break;
    case 's': rep = in_class ? "\\t\\n\\f\\r " : "[\\t\\n\\f\\r ]"; break;
    case 'S':
        if (in_class)
            return false;
        rep = "[^\\t\\n\\f\\r ]";
        x->utf8 = true;
        break;
    case 'b':
    case 'B':
    case 'A':
    case 'z':
        if (in_class)
            return false;
        break;
    default: return false; /* \v \p \P \Q \E \C digits ... */
    }
    if (rep)
        put(x, rep, strlen(rep));
    else
        put(x, x->s + x->i, 2);
    x->i += 2;
    return true;
}

/* `[...]`, starting at '['. */
static bool xlate_class(struct xlate *x)
{
    put(x, "[", 1);
    x->i++;
    if (x->i < x->n && x->s[x->i] == '^') {
        put(x, "^", 1);
        x->i++;
        x->utf8 = true;
    }
    bool first = true;
    while (x->i < x->n) {
        char c = x->s[x->i];
        if (c == ']' && !first) {
            put(x, "]", 1);
            x->i++;
            return true;
        }
        first = false;
        if (c == '\\') {
            if (!xlate_escape(x, true))
                return false;
            continue;
        }
        if (c == '[' && x->i + 1 < x->n && x->s[x->i + 1] == ':') {
            const char *end = memmem(x->s + x->i + 2, x->n - x->i - 2, ":]", 2);
            if (!end)
                return false;
            if (x->s[x->i + 2] == '^')
                x->utf8 = true;
            size_t len = (size_t)(end + 2 - (x->s + x->i));
            put(x, x->s + x->i, len);
            x->i += len;
            continue;
        }
        if ((unsigned char)c >= 0x80)
            x->utf8 = x->nonascii = true;
        put(x, &c, 1);
        x->i++;
    }
    return false;
}

/* `(?` groups: flags, non-capturing, named captures (names dropped). */
static bool xlate_group(struct xlate *x)
{
    size_t j = x->i + 2;
    if (j < x->n && (x->s[j] == 'P' || x->s[j] == '<')) {
        const char *gt = memchr(x->s + j, '>', x->n - j);
        if (!gt)
            return false;
        put(x, "(", 1);
        x->i = (size_t)(gt + 1 - x->s);
        return true;
    }
    size_t k = j;
    while (k < x->n && x->s[k] != ')' && x->s[k] != ':') {
        char f = x->s[k];
        if (f == 'i')
            x->caseless = true;
        else if (f == 's')
            x->utf8 = true; /* (?s). matches any character */
        else if (f != '-')
            return false; /* m, U: not mirrored */
        k++;
    }
    if (k >= x->n)
        return false;
    put(x, x->s + x->i, k + 1 - x->i);
    x->i = k + 1;
    return true;
}

/* `{n}`, `{n,}`, `{n,m}`; anything else (a literal brace in Go) goes to PCRE2. */
static bool xlate_brace(struct xlate *x)
{
    size_t k = x->i + 1;
    size_t d0 = k;
    while (k < x->n && is_digit(x->s[k]))
        k++;
    if (k == d0 || k >= x->n)
        return false;
    if (x->s[k] == ',') {
        k++;
        while (k < x->n && is_digit(x->s[k]))
            k++;
    }
    if (k >= x->n || x->s[k] != '}')
        return false;
    put(x, x->s + x->i, k + 1 - x->i);
    x->i = k + 1;
    return true;
}

static bool xlate_token(struct xlate *x)
{
    char c = x->s[x->i];
    switch (c) {
    case '\\': return xlate_escape(x, false);
    case '[': return xlate_class(x);
    case '{': return xlate_brace(x);
    case '$':
        put(x, "\\z", 2); /* Go: end of text only (hyperscan's $ also matches before a final \n) */
        x->i++;
        return true;
    case '.': x->utf8 = true; break;
    case '(':
        if (x->i + 1 < x->n && x->s[x->i + 1] == '?')
            return xlate_group(x);
        break;
    default:
        if ((unsigned char)c >= 0x80)
            x->utf8 = x->nonascii = true;
        break;
    }
    put(x, &c, 1);
    x->i++;
    return true;
}

bool logql_filter_go_to_hs(struct str go, struct buf *out, bool *utf8)
{
    struct xlate x = {.s = go.ptr ? go.ptr : "", .n = go.len, .out = out, .ok = true};
    buf_reset(out);
    while (x.i < x.n && x.ok)
        if (!xlate_token(&x))
            return false;
    if (!x.ok || buf_cstr(out) != 0)
        return false;
    /* Go folds case over all of Unicode; hyperscan without UCP only over ASCII */
    if (x.caseless && x.nonascii)
        return false;
    *utf8 = x.utf8;
    return true;
}

/* ---- building ---- */

void logql_filter_set_init(struct logql_filter_set *s)
{
    memset(s, 0, sizeof *s);
}

static int push_term(struct logql_filter_set *s, struct logql_filter_term t)
{
    if (s->n_terms == s->cap_terms) {
        size_t nc = s->cap_terms ? 2 * s->cap_terms : 8;
        void *p = realloc(s->terms, nc * sizeof *s->terms);
        if (!p)
            return ERR_NOMEM;
        s->terms = p;
        s->cap_terms = nc;
    }
    t.hs_id = -1;
    s->terms[s->n_terms++] = t;
    return 0;
}

static int push_clause(struct logql_filter_set *s, struct logql_filter_clause c)
{
    if (s->n_clauses == s->cap_clauses) {
        size_t nc = s->cap_clauses ? 2 * s->cap_clauses : 8;
        void *p = realloc(s->clauses, nc * sizeof *s->clauses);
        if (!p)
            return ERR_NOMEM;
        s->clauses = p;
        s->cap_clauses = nc;
    }
    s->clauses[s->n_clauses++] = c;
    return 0;
}

static struct logql_filter_term classify(enum logql_line_op op, const struct logql_line_term *t)
{
    struct logql_filter_term ft = {.text = t->value};
    if (t->is_ip) {
        ft.kind = LOGQL_TERM_IP;
        ft.ip = t->ip;
        return ft;
    }
    switch (op) {
    case LOGQL_LINE_CONTAINS:
    case LOGQL_LINE_NOT_CONTAINS:
        ft.kind = t->value.len ? LOGQL_TERM_LITERAL : LOGQL_TERM_TRUE;
        break;
    case LOGQL_LINE_REGEX:
    case LOGQL_LINE_NOT_REGEX:
        ft.kind = LOGQL_TERM_REGEX;
        ft.re = t->re;
        ft.nojit = logql_regex_jit_unsafe(t->value);
        if (t->value.len == 0 || str_eq_cstr(t->value, ".*") || str_eq_cstr(t->value, "(.*)"))
            ft.kind = LOGQL_TERM_TRUE;
        else if (str_eq_cstr(t->value, ".+") || str_eq_cstr(t->value, "(.+)"))
            ft.kind = LOGQL_TERM_EXISTS;
        break;
    case LOGQL_LINE_PATTERN:
    case LOGQL_LINE_NOT_PATTERN:
        ft.kind = LOGQL_TERM_PATTERN;
        ft.pattern = t->pattern;
        break;
    }
    return ft;
}

int logql_filter_set_add(struct logql_filter_set *s, const struct logql_line_filter *f)
{
    bool negate = f->op == LOGQL_LINE_NOT_CONTAINS || f->op == LOGQL_LINE_NOT_REGEX ||
                  f->op == LOGQL_LINE_NOT_PATTERN;
    struct logql_filter_clause c = {negate, s->n_terms, 0};
    bool all_true = true;
    for (size_t i = 0; i < f->n_terms; i++) {
        struct logql_filter_term t = classify(f->op, &f->terms[i]);
        if (t.kind == LOGQL_TERM_TRUE) {
            if (negate) /* not(match-all) */
                s->always_false = true;
            continue; /* Loki's or-builder drops a match-all leg */
        }
        all_true = false;
        int rc = push_term(s, t);
        if (rc)
            return rc;
        c.n++;
    }
    if (all_true) /* nothing left: the filter keeps every line (or, negated, none) */
        return 0;
    return push_clause(s, c);
}

/* Pattern text for hyperscan; false: leave the term to the fallback. */
static bool hs_pattern(const struct logql_filter_term *t, struct buf *out, unsigned *flags)
{
    *flags = HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY;
    if (t->kind == LOGQL_TERM_LITERAL) {
        static const char hex[] = "0123456789abcdef";
        buf_reset(out);
        for (size_t i = 0; i < t->text.len; i++) {
            uint8_t b = (uint8_t)t->text.ptr[i];
            char e[4] = {'\\', 'x', hex[b >> 4], hex[b & 15]};
            if (buf_append(out, e, 4))
                return false;
        }
        return buf_cstr(out) == 0;
    }
    if (t->kind != LOGQL_TERM_REGEX)
        return false;
    bool utf8 = false;
    if (!logql_filter_go_to_hs(t->text, out, &utf8))
        return false;
    if (utf8)
        *flags |= HS_FLAG_UTF8;
    return true;
}

struct hs_list {
    char **exprs;
    unsigned *flags, *ids;
    size_t *term; /* first term that uses pattern i */
    size_t n;
};

static void hs_list_free(struct hs_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->exprs[i]);
    free(l->exprs);
    free(l->flags);
    free(l->ids);
    free(l->term);
}

/* Same pattern already listed? Returns its index or -1. */
static long hs_find(const struct hs_list *l, const char *e, unsigned flags)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->flags[i] == flags && strcmp(l->exprs[i], e) == 0)
            return (long)i;
    return -1;
}

static int hs_collect(struct logql_filter_set *s, struct hs_list *l)
{
    size_t cap = s->n_terms ? s->n_terms : 1;
    l->exprs = calloc(cap, sizeof *l->exprs);
    l->flags = calloc(cap, sizeof *l->flags);
    l->ids = calloc(cap, sizeof *l->ids);
    l->term = calloc(cap, sizeof *l->term);
    if (!l->exprs || !l->flags || !l->ids || !l->term)
        return ERR_NOMEM;
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < s->n_terms; i++) {
        struct logql_filter_term *t = &s->terms[i];
        unsigned flags;
        if (!hs_pattern(t, &b, &flags))
            continue;
        long k = hs_find(l, (const char *)b.data, flags);
        if (k < 0) {
            k = (long)l->n;
            if (!(l->exprs[k] = strdup((const char *)b.data))) {
                buf_deinit(&b);
                return ERR_NOMEM;
            }
            l->flags[k] = flags;
            l->term[k] = i;
            l->n++;
        }
        t->hs_id = (int)k;
        t->hs_utf8 = (flags & HS_FLAG_UTF8) != 0;
    }
    buf_deinit(&b);
    return 0;
}

/* Drops pattern k (hyperscan rejected it): its terms use the fallback; later ids shift down. */
static void hs_drop(struct logql_filter_set *s, struct hs_list *l, size_t k)
{
    for (size_t i = 0; i < s->n_terms; i++) {
        struct logql_filter_term *t = &s->terms[i];
        if (t->hs_id == (int)k) {
            t->hs_id = -1;
            t->hs_utf8 = false;
        } else if (t->hs_id > (int)k) {
            t->hs_id--;
        }
    }
    free(l->exprs[k]);
    memmove(l->exprs + k, l->exprs + k + 1, (l->n - k - 1) * sizeof *l->exprs);
    memmove(l->flags + k, l->flags + k + 1, (l->n - k - 1) * sizeof *l->flags);
    memmove(l->term + k, l->term + k + 1, (l->n - k - 1) * sizeof *l->term);
    l->n--;
}

/* The byte-mode twin of the database (same ids); left NULL when a pattern needs UTF-8 mode to
 * compile at all. */
static void build_ascii_db(struct logql_filter_set *s, struct hs_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        l->flags[i] &= ~(unsigned)HS_FLAG_UTF8;
        l->ids[i] = (unsigned)i;
    }
    hs_database_t *db = NULL;
    hs_compile_error_t *ce = NULL;
    if (hs_compile_multi((const char *const *)l->exprs, l->flags, l->ids, (unsigned)l->n,
                         HS_MODE_BLOCK, NULL, &db, &ce) == HS_SUCCESS)
        s->db_ascii = db;
    else
        hs_free_compile_error(ce);
}

/* True when the hyperscan pattern means the same inside a longer text as on a line of its own:
 * no anchors, word boundaries or lookaround (a conservative reading of the syntax: anything it is
 * unsure of counts as unsafe). */
static bool block_safe_expr(const char *e)
{
    bool in_class = false;
    for (size_t i = 0; e[i]; i++) {
        char c = e[i];
        if (c == '\\') {
            if (!e[i + 1] || strchr("bBAzZGKQE", e[i + 1]))
                return false;
            i++;
        } else if (in_class) {
            in_class = c != ']';
        } else if (c == '[') {
            in_class = true;
            i += e[i + 1] == '^';
            i += e[i + 1] == ']';
        } else if (c == '^' || c == '$') {
            return false;
        } else if (c == '(' && e[i + 1] == '?' && e[i + 2] && strchr("=!<", e[i + 2])) {
            return false;
        }
    }
    return true;
}

/* The every-match twin of the database for batch scans (s->db_block, s->hs_max_width); left NULL
 * when a pattern is not block-safe or can match the empty string. With any_utf8 it needs the
 * byte-mode flags build_ascii_db left in l. */
static void build_block_db(struct logql_filter_set *s, struct hs_list *l)
{
    if (!l->n || (s->any_utf8 && !s->db_ascii))
        return;
    unsigned *maxw = calloc(l->n, sizeof *maxw);
    bool ok = maxw != NULL;
    for (size_t i = 0; ok && i < l->n; i++) {
        l->flags[i] &= ~(unsigned)(HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY);
        l->ids[i] = (unsigned)i;
        hs_expr_info_t *info = NULL;
        hs_compile_error_t *ce = NULL;
        ok = block_safe_expr(l->exprs[i]) &&
             hs_expression_info(l->exprs[i], l->flags[i], &info, &ce) == HS_SUCCESS;
        if (ce)
            hs_free_compile_error(ce);
        if (ok) {
            ok = info->min_width > 0 && !info->matches_at_eod && !info->matches_only_at_eod;
            maxw[i] = info->max_width;
        }
        free(info);
    }
    hs_database_t *db = NULL;
    hs_compile_error_t *ce = NULL;
    if (ok && hs_compile_multi((const char *const *)l->exprs, l->flags, l->ids, (unsigned)l->n,
                               HS_MODE_BLOCK, NULL, &db, &ce) == HS_SUCCESS) {
        s->db_block = db;
        s->hs_max_width = maxw;
        maxw = NULL;
        s->hs_only = true;
        s->zero_pass = true;
        for (size_t i = 0; i < s->n_terms; i++)
            s->hs_only &= s->terms[i].hs_id >= 0;
        for (size_t c = 0; c < s->n_clauses; c++)
            s->zero_pass &= s->clauses[c].negate;
    } else if (ce) {
        hs_free_compile_error(ce);
    }
    free(maxw);
}

int logql_filter_set_build(struct logql_filter_set *s, char *err, size_t err_size)
{
    struct hs_list l = {0};
    int rc = hs_collect(s, &l);
    while (rc == 0 && l.n > 0) {
        for (size_t i = 0; i < l.n; i++)
            l.ids[i] = (unsigned)i;
        hs_database_t *db = NULL;
        hs_compile_error_t *ce = NULL;
        hs_error_t e = hs_compile_multi((const char *const *)l.exprs, l.flags, l.ids, (unsigned)l.n,
                                        HS_MODE_BLOCK, NULL, &db, &ce);
        if (e == HS_SUCCESS) {
            s->db = db;
            break;
        }
        int bad = ce ? ce->expression : -1;
        if (bad < 0 || (size_t)bad >= l.n) {
            snprintf(err, err_size, "hyperscan: %s", ce ? ce->message : "compile failed");
            rc = ERR_INVALID;
        } else {
            hs_drop(s, &l, (size_t)bad);
        }
        hs_free_compile_error(ce);
    }
    s->n_hs = (unsigned)l.n;
    s->any_utf8 = false;
    for (size_t i = 0; i < s->n_terms; i++)
        s->any_utf8 |= s->terms[i].hs_id >= 0 && s->terms[i].hs_utf8;
    if (rc == 0 && s->any_utf8)
        build_ascii_db(s, &l);
    if (rc == 0)
        build_block_db(s, &l);
    hs_list_free(&l);
    return rc;
}

void logql_filter_set_deinit(struct logql_filter_set *s)
{
    if (s->db)
        hs_free_database(s->db);
    if (s->db_ascii)
        hs_free_database(s->db_ascii);
    if (s->db_block)
        hs_free_database(s->db_block);
    free(s->hs_max_width);
    free(s->terms);
    free(s->clauses);
    memset(s, 0, sizeof *s);
}

int logql_filter_scratch_prepare(struct logql_filter_scratch *sc, const struct logql_filter_set *s)
{
    for (int k = 0; k < 3; k++) {
        void *db = k == 2 ? s->db_block : k ? s->db_ascii : s->db;
        hs_scratch_t *h = sc->hs;
        if (db && hs_alloc_scratch(db, &h) != HS_SUCCESS)
            return ERR_NOMEM;
        sc->hs = h;
    }
    size_t words = (s->n_hs + 63) / 64;
    if (words > sc->n_words) {
        uint64_t *b = realloc(sc->bits, words * sizeof *b);
        if (!b)
            return ERR_NOMEM;
        sc->bits = b;
        sc->n_words = words;
    }
    return 0;
}

void logql_filter_scratch_deinit(struct logql_filter_scratch *sc)
{
    if (sc->hs)
        hs_free_scratch(sc->hs);
    buf_deinit(&sc->fixed);
    logql_regex_md_free(sc->md);
    free(sc->bits);
    free(sc->lbits);
    free(sc->starts);
    free(sc->undecided);
    memset(sc, 0, sizeof *sc);
}

/* ---- evaluation ---- */

static bool is_ascii(struct str s)
{
    const uint8_t *p = (const uint8_t *)s.ptr;
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 64 <= s.len; i += 64) { /* long runs (batch scans): 64 bytes a step, stop early */
        uint64_t w[8];
        memcpy(w, p + i, 64);
        acc |= (w[0] | w[1]) | (w[2] | w[3]) | (w[4] | w[5]) | (w[6] | w[7]);
        if ((i & 4095) == 0 && (acc & 0x8080808080808080ull))
            return false;
    }
    for (; i + 32 <= s.len; i += 32) {
        uint64_t w[4];
        memcpy(w, p + i, 32);
        acc |= w[0] | w[1] | w[2] | w[3];
    }
    for (; i + 8 <= s.len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    for (; i < s.len; i++)
        acc |= p[i];
    return !(acc & 0x8080808080808080ull);
}

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                    void *ctx)
{
    (void)from;
    (void)to;
    (void)flags;
    uint64_t *bits = ctx;
    bits[id >> 6] |= 1ull << (id & 63);
    return 0;
}

/* The line as Go's regexp reads it: each invalid byte a U+FFFD. */
static struct str go_view(struct logql_filter_scratch *sc, struct str line, int *valid)
{
    if (*valid < 0)
        *valid = logql_utf8_valid(line);
    if (*valid)
        return line;
    if (sc->fixed.len == 0 && line.len) {
        for (size_t i = 0; i < line.len;) {
            uint32_t cp;
            size_t l = wire_utf8_decode((const uint8_t *)line.ptr + i, line.len - i, &cp);
            if (l ? buf_append(&sc->fixed, line.ptr + i, l)
                  : buf_append(&sc->fixed, "\xef\xbf\xbd", 3))
                return line;
            i += l ? l : 1;
        }
    }
    return (struct str){(const char *)sc->fixed.data, sc->fixed.len};
}

static bool term_match(const struct logql_filter_term *t, struct str line, const uint64_t *bits,
                       struct logql_filter_scratch *sc, int *valid)
{
    if (bits && t->hs_id >= 0)
        return (bits[t->hs_id >> 6] >> (t->hs_id & 63)) & 1;
    if (t->kind == LOGQL_TERM_REGEX) {
        size_t span[2];
        return t->re &&
               logql_regex_exec(t->re, go_view(sc, line, valid), 0, t->nojit, &sc->md, span, 0);
    }
    switch (t->kind) {
    case LOGQL_TERM_TRUE: return true;
    case LOGQL_TERM_EXISTS: return line.len > 0;
    case LOGQL_TERM_LITERAL:
        return line.len >= t->text.len && memmem(line.ptr, line.len, t->text.ptr, t->text.len);
    case LOGQL_TERM_REGEX: break;
    case LOGQL_TERM_PATTERN:
        return t->pattern ? logql_pattern_matches(t->pattern, line) : line.len == 0;
    case LOGQL_TERM_IP: return t->ip && logql_ip_matches(t->ip, line);
    }
    return false;
}

static bool eval_clauses(const struct logql_filter_set *s, struct logql_filter_scratch *sc,
                         struct str line, const uint64_t *bits, int *valid);

bool logql_filter_eval(const struct logql_filter_set *s, struct logql_filter_scratch *sc,
                       struct str line)
{
    if (s->always_false)
        return false;
    if (!line.ptr)
        line.ptr = "";
    const uint64_t *bits = NULL;
    int valid = -1;
    sc->fixed.len = 0;
    const hs_database_t *db = s->db;
    if (db && s->any_utf8) {
        if (s->db_ascii && is_ascii(line))
            db = s->db_ascii, valid = 1;
        else if (!(valid = logql_utf8_valid(line)))
            db = NULL;
    }
    if (db) {
        memset(sc->bits, 0, sc->n_words * sizeof *sc->bits);
        if (hs_scan(db, line.ptr, (unsigned)line.len, 0, sc->hs, on_match, sc->bits) == HS_SUCCESS)
            bits = sc->bits;
    }
    return eval_clauses(s, sc, line, bits, &valid);
}

static bool eval_clauses(const struct logql_filter_set *s, struct logql_filter_scratch *sc,
                         struct str line, const uint64_t *bits, int *valid)
{
    for (size_t c = 0; c < s->n_clauses; c++) {
        const struct logql_filter_clause *cl = &s->clauses[c];
        bool any = false;
        for (size_t i = 0; i < cl->n && !any; i++)
            any = term_match(&s->terms[cl->first + i], line, bits, sc, valid);
        if (any == cl->negate)
            return false;
    }
    return true;
}

/* ---- batch evaluation ---- */

struct blk_ctx {
    const uint32_t *starts; /* n + 1 line start offsets in the run */
    uint32_t n, cur;
    uint64_t *lbits;
    size_t words;
    uint8_t *undecided;
    const unsigned *maxw;
};

/* The line of the run holding byte `end`: the last with start <= end. */
static uint32_t line_of(struct blk_ctx *c, uint32_t end)
{
    uint32_t l = c->cur;
    if (end < c->starts[l]) {
        uint32_t lo = 0, hi = l; /* starts[hi] > end */
        while (hi - lo > 1) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (c->starts[mid] <= end)
                lo = mid;
            else
                hi = mid;
        }
        l = lo;
    }
    while (l + 1 < c->n && c->starts[l + 1] <= end)
        l++;
    return c->cur = l;
}

static int on_block_match(unsigned id, unsigned long long from, unsigned long long to,
                          unsigned flags, void *ctx)
{
    (void)from;
    (void)flags;
    struct blk_ctx *c = ctx;
    uint32_t l = line_of(c, (uint32_t)to - 1); /* min_width > 0: to >= 1 */
    uint64_t *b = c->lbits + (size_t)l * c->words, bit = 1ull << (id & 63);
    if (b[id >> 6] & bit)
        return 0;
    unsigned w = c->maxw[id];
    if (w != UINT_MAX && to >= (unsigned long long)c->starts[l] + w)
        b[id >> 6] |= bit; /* the match lies inside line l */
    else
        c->undecided[l] = 1; /* it may have started in an earlier line */
    return 0;
}

/* Lines i.. that are contiguous in memory, as one run (at most 1 GiB). */
static size_t run_end(const struct str *lines, size_t i, size_t n)
{
    if (!lines[i].ptr)
        return i + 1;
    size_t j = i + 1, total = lines[i].len;
    while (j < n && lines[j].ptr == lines[j - 1].ptr + lines[j - 1].len &&
           total + lines[j].len < (1u << 30)) {
        total += lines[j].len;
        j++;
    }
    return j;
}

static int blk_prepare(struct logql_filter_scratch *sc, size_t n, size_t words)
{
    size_t nb = n * words;
    if (nb > sc->lbits_cap) {
        uint64_t *p = realloc(sc->lbits, nb * sizeof *p);
        if (!p)
            return ERR_NOMEM;
        sc->lbits = p, sc->lbits_cap = nb;
    }
    if (n + 1 > sc->starts_cap) {
        uint32_t *p = realloc(sc->starts, (n + 1) * sizeof *p);
        if (!p)
            return ERR_NOMEM;
        sc->starts = p, sc->starts_cap = n + 1;
    }
    if (n > sc->undecided_cap) {
        uint8_t *p = realloc(sc->undecided, n);
        if (!p)
            return ERR_NOMEM;
        sc->undecided = p, sc->undecided_cap = n;
    }
    memset(sc->lbits, 0, nb * sizeof *sc->lbits);
    memset(sc->undecided, 0, n);
    return 0;
}

/* One scan of db_block over the run lines[0..n); false when it cannot be used (then the caller
 * evaluates line by line). */
static bool eval_run(const struct logql_filter_set *s, struct logql_filter_scratch *sc,
                     const struct str *lines, size_t n, size_t first, uint64_t *keep,
                     size_t *passed)
{
    struct str all = {lines[0].ptr, (size_t)(lines[n - 1].ptr + lines[n - 1].len - lines[0].ptr)};
    int valid = -1;
    if (s->any_utf8) {
        if (!is_ascii(all))
            return false;
        valid = 1;
    }
    size_t words = (s->n_hs + 63) / 64;
    if (blk_prepare(sc, n, words))
        return false;
    for (size_t i = 0; i < n; i++)
        sc->starts[i] = (uint32_t)(lines[i].ptr - all.ptr);
    sc->starts[n] = (uint32_t)all.len;
    struct blk_ctx c = {sc->starts,    (uint32_t)n,    0, sc->lbits, words,
                        sc->undecided, s->hs_max_width};
    if (hs_scan(s->db_block, all.ptr, (unsigned)all.len, 0, sc->hs, on_block_match, &c) !=
        HS_SUCCESS)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool ok;
        if (s->hs_only && words == 1 && !sc->lbits[i] && !sc->undecided[i]) {
            ok = s->zero_pass;
        } else if (sc->undecided[i]) {
            ok = logql_filter_eval(s, sc, lines[i]);
        } else {
            int v = valid;
            sc->fixed.len = 0;
            ok = eval_clauses(s, sc, lines[i], sc->lbits + i * words, &v);
        }
        if (ok) {
            keep[(first + i) >> 6] |= 1ull << ((first + i) & 63);
            (*passed)++;
        }
    }
    return true;
}

size_t logql_filter_eval_block(const struct logql_filter_set *s, struct logql_filter_scratch *sc,
                               const struct str *lines, size_t n, uint64_t *keep)
{
    memset(keep, 0, (n + 63) / 64 * sizeof *keep);
    if (s->always_false)
        return 0;
    size_t passed = 0;
    for (size_t i = 0; i < n;) {
        size_t j = s->db_block && sc->hs ? run_end(lines, i, n) : i + 1;
        if (j - i > 1 && eval_run(s, sc, lines + i, j - i, i, keep, &passed)) {
            i = j;
            continue;
        }
        for (; i < j; i++) {
            if (logql_filter_eval(s, sc, lines[i])) {
                keep[i >> 6] |= 1ull << (i & 63);
                passed++;
            }
        }
    }
    return passed;
}
