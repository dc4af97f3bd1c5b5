/* Label matchers: shape analysis for the fast paths, RE2-syntax screening, PCRE2 for the rest. */
#include "engine/index/matcher.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_free(void *p)
{
    pcre2_match_data_free(p);
}

static void md_key_init(void)
{
    pthread_key_create(&md_key, md_free);
}

/* Per-thread match data with room for the whole-match pair only (no captures needed). */
static pcre2_match_data *thread_match_data(void)
{
    pthread_once(&md_once, md_key_init);
    pcre2_match_data *md = pthread_getspecific(md_key);
    if (!md) {
        md = pcre2_match_data_create(1, NULL);
        if (md)
            pthread_setspecific(md_key, md);
    }
    return md;
}

const char *matcher_type_str(enum matcher_type t)
{
    static const char *const s[] = {"=", "!=", "=~", "!~"};
    return s[t];
}

static int str_dup(struct str *dst, const char *p, size_t n)
{
    char *c = malloc(n + 1);
    if (!c)
        return ERR_NOMEM;
    if (n)
        memcpy(c, p, n);
    c[n] = 0;
    dst->ptr = c;
    dst->len = n;
    return 0;
}

static int is_meta(char c)
{
    return strchr("\\.+*?()|[]{}^$", c) != NULL && c != 0;
}

/* Unescapes a regex fragment that must be a plain literal into out (capacity ≥ n).
 * Returns the literal length, or -1 when the fragment contains regex syntax. */
static long literal_of(const char *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\') {
            if (i + 1 >= n)
                return -1;
            char e = p[i + 1];
            /* only escaped punctuation is a literal; \d, \w, \x.. etc. are classes or codes */
            if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9'))
                return -1;
            out[o++] = e;
            i++;
        } else if (is_meta(c)) {
            return -1;
        } else {
            out[o++] = c;
        }
    }
    return (long)o;
}

static int cmp_str(const void *a, const void *b)
{
    return str_cmp(*(const struct str *)a, *(const struct str *)b);
}

/* Splits a top-level alternation of literals into a sorted, unique set. */
static int try_set(struct matcher *m, const char *p, size_t n, char *scratch)
{
    size_t alts = 1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '|')
            alts++;
    }
    struct str *set = calloc(alts, sizeof *set);
    if (!set)
        return ERR_NOMEM;
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] == '\\') {
            i++;
            continue;
        }
        if (i < n && p[i] != '|')
            continue;
        long len = literal_of(p + start, i - start, scratch);
        if (len < 0 || str_dup(&set[k], scratch, (size_t)len) != 0) {
            for (size_t j = 0; j < k; j++)
                free((char *)set[j].ptr);
            free(set);
            return len < 0 ? 1 : ERR_NOMEM;
        }
        k++;
        start = i + 1;
    }
    qsort(set, k, sizeof *set, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < k; i++) {
        if (u && str_eq(set[u - 1], set[i]))
            free((char *)set[i].ptr);
        else
            set[u++] = set[i];
    }
    m->set = set;
    m->set_len = u;
    m->shape = u == 1 ? SHAPE_LITERAL : SHAPE_SET;
    return 0;
}

/* Recognises .*, .+, lit.*, .*lit, .*lit.* . Returns 0 when matched, 1 when not, <0 on error. */
static int try_affix(struct matcher *m, const char *p, size_t n, char *scratch)
{
    if (n == 2 && p[0] == '.' && p[1] == '*') {
        m->shape = SHAPE_ANY;
        return 0;
    }
    if (n == 2 && p[0] == '.' && p[1] == '+') {
        m->shape = SHAPE_NONEMPTY;
        return 0;
    }
    int lead = n >= 2 && p[0] == '.' && p[1] == '*';
    int trail = n >= 2 && p[n - 2] == '.' && p[n - 1] == '*' && !(n >= 3 && p[n - 3] == '\\');
    if (!lead && !trail)
        return 1;
    const char *lp = p + (lead ? 2 : 0);
    size_t ln = n - (lead ? 2 : 0) - (trail ? 2 : 0);
    if (ln == 0 || (size_t)(lp - p) > n)
        return 1;
    long len = literal_of(lp, ln, scratch);
    if (len <= 0)
        return 1;
    m->set = calloc(1, sizeof *m->set);
    if (!m->set || str_dup(&m->set[0], scratch, (size_t)len) != 0)
        return ERR_NOMEM;
    m->set_len = 1;
    m->shape = lead && trail ? SHAPE_CONTAINS : lead ? SHAPE_SUFFIX : SHAPE_PREFIX;
    return 0;
}

/* Rejects syntax PCRE2 accepts but RE2 (Go's regexp) does not. */
static int screen_re2(const char *p, size_t n, char *err, size_t err_size)
{
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        const char *bad = NULL;
        if (c == '\\' && i + 1 < n) {
            char e = p[i + 1];
            if (!in_class && ((e >= '1' && e <= '9') || e == 'g' || e == 'k'))
                bad = "backreferences are not supported";
            else if (e == 'C')
                bad = "\\C is not supported";
            else if (e == 'Z')
                bad = "invalid escape sequence: \\Z";
            i++;
            if ((e == 'p' || e == 'P' || e == 'x') && i + 1 < n && p[i + 1] == '{') {
                while (i + 1 < n && p[i] != '}')
                    i++; /* \p{Greek}, \x{10FFFF}: the braces belong to the escape */
            }
        } else if (in_class) {
            if (c == ']')
                in_class = 0;
        } else if (c == '[') {
            in_class = 1;
            if (i + 1 < n && p[i + 1] == '^')
                i++;
            if (i + 1 < n && p[i + 1] == ']')
                i++; /* a leading ] is literal */
        } else if (c == '(' && i + 2 < n && p[i + 1] == '?') {
            char k = p[i + 2];
            if (k == '=' || k == '!' || k == '>' ||
                (k == '<' && i + 3 < n && (p[i + 3] == '=' || p[i + 3] == '!')))
                bad = "lookaround and atomic groups are not supported";
        } else if ((c == '*' || c == '+' || c == '?' || c == '}') && i + 1 < n && p[i + 1] == '+') {
            bad = "invalid nested repetition operator";
        }
        if (bad) {
            snprintf(err, err_size, "error parsing regexp: %s: `%.*s`", bad, (int)n, p);
            return ERR_INVALID;
        }
    }
    return 0;
}

/* Copies pattern p to out (2 * n bytes at least) with every bare \S \W \D (outside a
 * bracket class and outside \Q...\E) put in brackets: PCRE2's JIT (10.42, with
 * MATCH_INVALID_UTF) lets the bare negated classes miss multi-byte characters, the bracketed
 * ones match them. Returns the length written. */
static size_t jit_safe_copy(const char *p, size_t n, char *out)
{
    size_t o = 0;
    bool in_class = false;
    for (size_t i = 0; i < n;) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char e = p[i + 1];
            size_t end = i + 2;
            if (e == 'Q') { /* quoted literal up to \E (or the end) */
                while (end < n && !(p[end] == '\\' && end + 1 < n && p[end + 1] == 'E'))
                    end++;
                end = end < n ? end + 2 : n;
            } else if (!in_class && (e == 'S' || e == 'W' || e == 'D')) {
                out[o++] = '[';
                out[o++] = '\\';
                out[o++] = e;
                out[o++] = ']';
                i += 2;
                continue;
            }
            memcpy(out + o, p + i, end - i);
            o += end - i;
            i = end;
            continue;
        }
        out[o++] = c;
        i++;
        if (in_class) {
            if (c == '[' && i < n && p[i] == ':') { /* [:alpha:] */
                const char *close = memmem(p + i, n - i, ":]", 2);
                size_t end = close ? (size_t)(close - p) + 2 : n;
                memcpy(out + o, p + i, end - i);
                o += end - i;
                i = end;
            } else if (c == ']') {
                in_class = false;
            }
        } else if (c == '[') {
            in_class = true;
            if (i < n && p[i] == '^')
                out[o++] = p[i++];
            if (i < n && p[i] == ']')
                out[o++] = p[i++]; /* a leading ] is literal */
        }
    }
    return o;
}

static int compile_regex(struct matcher *m, char *err, size_t err_size)
{
    int rc = screen_re2(m->value.ptr, m->value.len, err, err_size);
    if (rc)
        return rc;
    int code;
    PCRE2_SIZE off;
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY |
                    PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_NEVER_BACKSLASH_C;
    char *pat = malloc(m->value.len * 2 + 1); /* each 2-byte escape grows to 4 bytes at most */
    if (!pat)
        return ERR_NOMEM;
    size_t pat_len = jit_safe_copy(m->value.ptr, m->value.len, pat);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, pat_len, opts, &code, &off, NULL);
    free(pat);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(err, err_size, "error parsing regexp: %s at position %zu: `%.*s`", (char *)msg,
                 (size_t)off, (int)m->value.len, m->value.ptr);
        return ERR_INVALID;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional: the interpreter is the fallback */
    m->re = re;
    m->shape = SHAPE_REGEX;
    return 0;
}

static int analyze(struct matcher *m, char *err, size_t err_size)
{
    char *scratch = malloc(m->value.len + 1);
    if (!scratch)
        return ERR_NOMEM;
    /* Every pattern must be valid RE2 even when a fast path will evaluate it. */
    int rc = compile_regex(m, err, err_size);
    if (rc == 0) {
        int r = try_set(m, m->value.ptr, m->value.len, scratch);
        if (r > 0)
            r = try_affix(m, m->value.ptr, m->value.len, scratch);
        if (r < 0)
            rc = r;
        if (r == 0) { /* a fast path applies: the compiled regex is not needed */
            pcre2_code_free(m->re);
            m->re = NULL;
        } else {
            m->shape = SHAPE_REGEX;
        }
    }
    free(scratch);
    return rc;
}

int matcher_init(struct matcher *m, enum matcher_type type, struct str name, struct str value,
                 char *err, size_t err_size)
{
    memset(m, 0, sizeof *m);
    m->type = type;
    m->shape = SHAPE_LITERAL;
    if (err_size)
        err[0] = 0;
    int rc = str_dup(&m->name, name.ptr, name.len);
    if (rc == 0)
        rc = str_dup(&m->value, value.ptr, value.len);
    if (rc == 0 && (type == MATCHER_RE || type == MATCHER_NRE))
        rc = analyze(m, err, err_size);
    if (rc)
        matcher_deinit(m);
    return rc;
}

void matcher_deinit(struct matcher *m)
{
    free((char *)m->name.ptr);
    free((char *)m->value.ptr);
    for (size_t i = 0; i < m->set_len; i++)
        free((char *)m->set[i].ptr);
    free(m->set);
    if (m->re)
        pcre2_code_free(m->re);
    memset(m, 0, sizeof *m);
}

static bool set_contains(const struct matcher *m, struct str v)
{
    size_t lo = 0, hi = m->set_len;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = str_cmp(m->set[mid], v);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static bool regex_matches(const struct matcher *m, struct str v)
{
    pcre2_match_data *md = thread_match_data();
    if (!md)
        return false;
    int rc = pcre2_match(m->re, (PCRE2_SPTR)(v.len ? v.ptr : ""), v.len, 0, 0, md, NULL);
    return rc >= 0;
}

static bool positive_matches(const struct matcher *m, struct str v)
{
    const struct str *lit = m->set_len ? &m->set[0] : &m->value;
    switch (m->shape) {
    case SHAPE_LITERAL: return str_eq(*lit, v);
    case SHAPE_SET: return set_contains(m, v);
    case SHAPE_ANY: return true;
    case SHAPE_NONEMPTY: return v.len > 0;
    case SHAPE_PREFIX: return v.len >= lit->len && memcmp(v.ptr, lit->ptr, lit->len) == 0;
    case SHAPE_SUFFIX:
        return v.len >= lit->len && memcmp(v.ptr + v.len - lit->len, lit->ptr, lit->len) == 0;
    case SHAPE_CONTAINS: return v.len >= lit->len && memmem(v.ptr, v.len, lit->ptr, lit->len);
    case SHAPE_REGEX: return regex_matches(m, v);
    }
    return false;
}

bool matcher_matches(const struct matcher *m, struct str value)
{
    bool r = positive_matches(m, value);
    return (m->type == MATCHER_NEQ || m->type == MATCHER_NRE) ? !r : r;
}

bool matcher_finite_values(const struct matcher *m, const struct str **values, size_t *n)
{
    if (m->type == MATCHER_EQ) {
        *values = &m->value;
        *n = 1;
        return true;
    }
    if (m->type == MATCHER_RE && (m->shape == SHAPE_LITERAL || m->shape == SHAPE_SET)) {
        *values = m->set;
        *n = m->set_len;
        return true;
    }
    return false;
}
