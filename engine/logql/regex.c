/* Go regexp/syntax (RE2, Perl flags) validation and PCRE2 compilation for LogQL regexes. The
 * checker walks the pattern the way Go's parser does, keeping only what decides validity: the
 * open groups, whether a repetition has an operand, the previous token being a repetition, and
 * the product of nested repeat counts. */
#include "engine/logql/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"
#include "formats/wire/utf8.h"

#define RE_MAX_REPEAT 1000
#define RE_MAX_DEPTH  1000

struct re_frame {
    bool has_operand;   /* the current concatenation ends in something repeatable */
    uint64_t last_prod; /* nested repeat product of that operand */
    uint64_t max_prod;  /* largest nested repeat product seen in this group */
};

struct re_check {
    const char *s;
    size_t n, i;
    struct re_frame *fr; /* fr[0] is the top level */
    size_t depth;
    bool last_repeat;   /* the previous token was a repetition operator */
    size_t last_rep_at; /* where that operator began */
    uint32_t n_groups, n_named;
    struct str names[64]; /* first 64 group names, for duplicate checks and the caller */
    struct buf *out;      /* the pattern rewritten for PCRE2 (NULL: only check) */
    int oom;
    char *err;
    size_t err_size;
};

static void emit(struct re_check *c, const char *p, size_t n)
{
    if (c->out && !c->oom)
        c->oom = buf_append(c->out, p, n);
}

static void emit_from(struct re_check *c, size_t from)
{
    emit(c, c->s + from, c->i - from);
}

/* Any literal as \x{..}: immune to PCRE2's different reading of octal, \v, {01}, ... */
static void emit_rune(struct re_check *c, uint32_t r)
{
    char b[16];
    int n = snprintf(b, sizeof b, "\\x{%x}", r);
    emit(c, b, (size_t)n);
}

static int re_err(struct re_check *c, const char *code, const char *expr, size_t len)
{
    snprintf(c->err, c->err_size, "error parsing regexp: %s: `%.*s`", code, (int)len, expr);
    return ERR_INVALID;
}

static int re_err_whole(struct re_check *c, const char *code)
{
    return re_err(c, code, c->s, c->n);
}

static bool is_alnum_ascii(uint32_t r)
{
    return (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
}

static int unhex(uint32_t r)
{
    if (r >= '0' && r <= '9')
        return (int)(r - '0');
    if (r >= 'a' && r <= 'f')
        return (int)(r - 'a' + 10);
    if (r >= 'A' && r <= 'F')
        return (int)(r - 'A' + 10);
    return -1;
}

/* Decodes the rune at position i (the input is known to be valid UTF-8). */
static uint32_t rune_at(const struct re_check *c, size_t i, size_t *len)
{
    uint32_t r = 0xfffd;
    size_t l = wire_utf8_decode((const uint8_t *)c->s + i, c->n - i, &r);
    *len = l ? l : 1;
    return r;
}

static void push_item(struct re_check *c, uint64_t prod)
{
    struct re_frame *f = &c->fr[c->depth];
    f->has_operand = true;
    f->last_prod = prod;
    if (prod > f->max_prod)
        f->max_prod = prod;
}

/* Parses an escape (not a class escape) at c->i (the backslash); *r receives the rune. Mirrors
 * Go's parseEscape. */
static int parse_escape(struct re_check *c, uint32_t *r)
{
    size_t start = c->i;
    if (c->i + 1 >= c->n)
        return re_err(c, "trailing backslash at end of expression", "", 0);
    size_t l;
    uint32_t ch = rune_at(c, c->i + 1, &l);
    c->i += 1 + l;
    if (ch < 0x80 && !is_alnum_ascii(ch)) {
        *r = ch;
        return 0;
    }
    switch (ch) {
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
        if (c->i >= c->n || c->s[c->i] < '0' || c->s[c->i] > '7')
            break;
        /* fallthrough */
    case '0':
        *r = ch - '0';
        for (int k = 1; k < 3 && c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '7'; k++)
            *r = *r * 8 + (uint32_t)(c->s[c->i++] - '0');
        return 0;
    case 'x': {
        if (c->i >= c->n)
            break;
        uint32_t h = rune_at(c, c->i, &l);
        c->i += l;
        if (h == '{') {
            int nhex = 0;
            uint32_t v = 0;
            for (;;) {
                if (c->i >= c->n)
                    goto bad;
                h = rune_at(c, c->i, &l);
                c->i += l;
                if (h == '}')
                    break;
                if (unhex(h) < 0 || (v = v * 16 + (uint32_t)unhex(h)) > 0x10ffff)
                    goto bad;
                nhex++;
            }
            if (nhex == 0)
                goto bad;
            *r = v;
            return 0;
        }
        if (c->i >= c->n)
            goto bad;
        uint32_t h2 = rune_at(c, c->i, &l);
        c->i += l;
        if (unhex(h) < 0 || unhex(h2) < 0)
            goto bad;
        *r = (uint32_t)(unhex(h) * 16 + unhex(h2));
        return 0;
    }
    case 'a': *r = '\a'; return 0;
    case 'f': *r = '\f'; return 0;
    case 'n': *r = '\n'; return 0;
    case 'r': *r = '\r'; return 0;
    case 't': *r = '\t'; return 0;
    case 'v': *r = '\v'; return 0;
    }
bad:
    return re_err(c, "invalid escape sequence", c->s + start, c->i - start);
}

/* \pL, \p{Greek}, \P{^Lu}: checks the shape; PCRE2 checks the name later. Returns 1 when parsed,
 * 0 when not a Unicode class. */
static int parse_unicode_class(struct re_check *c, int *rc)
{
    *rc = 0;
    if (c->i + 1 >= c->n || c->s[c->i] != '\\' || (c->s[c->i + 1] != 'p' && c->s[c->i + 1] != 'P'))
        return 0;
    size_t start = c->i;
    if (c->i + 2 >= c->n) {
        c->i = c->n;
        *rc = re_err(c, "invalid character class range", c->s + start, c->i - start);
        return 1;
    }
    size_t l;
    uint32_t ch = rune_at(c, c->i + 2, &l);
    if (ch != '{') {
        c->i += 2 + l;
        uint32_t up = (ch >= 'a' && ch <= 'z') ? ch - 32 : ch;
        if (up > 'Z' || up < 'A' || !strchr("CLMNPSZ", (int)up))
            *rc = re_err(c, "invalid character class range", c->s + start, c->i - start);
        return 1;
    }
    const char *end = memchr(c->s + c->i, '}', c->n - c->i);
    if (!end) {
        *rc = re_err(c, "invalid character class range", c->s + start, c->n - start);
        return 1;
    }
    size_t name0 = c->i + 3, name1 = (size_t)(end - c->s);
    c->i = name1 + 1;
    if (name0 < name1 && c->s[name0] == '^')
        name0++;
    bool ok = name1 > name0;
    for (size_t k = name0; k < name1 && ok; k++)
        ok = is_alnum_ascii((unsigned char)c->s[k]) || strchr("_- ", c->s[k]);
    if (!ok)
        *rc = re_err(c, "invalid character class range", c->s + start, c->i - start);
    return 1;
}

static bool perl_class_at(const struct re_check *c)
{
    return c->i + 1 < c->n && c->s[c->i] == '\\' && c->s[c->i + 1] != 0 &&
           strchr("dDsSwW", c->s[c->i + 1]);
}

static int parse_named_class(struct re_check *c, bool *found)
{
    static const char *const names[] = {"alnum", "alpha", "ascii", "blank", "cntrl",
                                        "digit", "graph", "lower", "print", "punct",
                                        "space", "upper", "word",  "xdigit"};
    *found = false;
    if (c->i + 2 >= c->n || c->s[c->i] != '[' || c->s[c->i + 1] != ':')
        return 0;
    const char *p = c->s + c->i + 2;
    const char *e = NULL;
    for (const char *q = p; q + 1 < c->s + c->n; q++)
        if (q[0] == ':' && q[1] == ']') {
            e = q;
            break;
        }
    if (!e)
        return 0;
    *found = true;
    size_t start = c->i;
    c->i = (size_t)(e - c->s) + 2;
    if (p < e && *p == '^')
        p++;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strlen(names[k]) == (size_t)(e - p) && memcmp(names[k], p, (size_t)(e - p)) == 0)
            return 0;
    return re_err(c, "invalid character class range", c->s + start, c->i - start);
}

static int parse_class_char(struct re_check *c, size_t class_start, uint32_t *r)
{
    if (c->i >= c->n)
        return re_err(c, "missing closing ]", c->s + class_start, c->n - class_start);
    if (c->s[c->i] == '\\')
        return parse_escape(c, r);
    size_t l;
    *r = rune_at(c, c->i, &l);
    c->i += l;
    return 0;
}

static int parse_class(struct re_check *c)
{
    size_t start = c->i++;
    if (c->i < c->n && c->s[c->i] == '^')
        c->i++;
    bool first = true;
    emit_from(c, start);
    while (c->i >= c->n || c->s[c->i] != ']' || first) {
        first = false;
        int rc;
        bool found;
        size_t item = c->i;
        if ((rc = parse_named_class(c, &found)) != 0)
            return rc;
        if (found) {
            emit_from(c, item);
            continue;
        }
        if (parse_unicode_class(c, &rc)) {
            if (rc)
                return rc;
            emit_from(c, item);
            continue;
        }
        if (perl_class_at(c)) {
            c->i += 2;
            emit_from(c, item);
            continue;
        }
        size_t rng = c->i;
        uint32_t lo, hi;
        if ((rc = parse_class_char(c, start, &lo)) != 0)
            return rc;
        hi = lo;
        if (c->i + 1 < c->n && c->s[c->i] == '-' && c->s[c->i + 1] != ']') {
            c->i++;
            if ((rc = parse_class_char(c, start, &hi)) != 0)
                return rc;
            if (hi < lo)
                return re_err(c, "invalid character class range", c->s + rng, c->i - rng);
        }
        emit_rune(c, lo);
        if (hi != lo) {
            emit(c, "-", 1);
            emit_rune(c, hi);
        }
    }
    c->i++; /* ] */
    emit(c, "]", 1);
    push_item(c, 1);
    return 0;
}

/* (?P<name>, (?<name>, (?flags), (?flags: */
static int parse_perl_flags(struct re_check *c)
{
    size_t start = c->i;
    const char *t = c->s + c->i;
    size_t left = c->n - c->i;
    bool with_p = left > 4 && t[2] == 'P' && t[3] == '<';
    bool plain = left > 3 && t[2] == '<';
    if (with_p || plain) {
        size_t name0 = c->i + (with_p ? 4 : 3);
        const char *gt = memchr(t, '>', left);
        if (!gt)
            return re_err(c, "invalid named capture", t, left);
        size_t name1 = (size_t)(gt - c->s);
        bool ok = name1 > name0;
        for (size_t k = name0; k < name1 && ok; k++)
            ok = c->s[k] == '_' || is_alnum_ascii((unsigned char)c->s[k]);
        if (!ok)
            return re_err(c, "invalid named capture", t, name1 + 1 - c->i);
        if (c->n_groups < 64)
            c->names[c->n_groups] = (struct str){c->s + name0, name1 - name0};
        c->n_groups++;
        c->n_named++;
        c->i = name1 + 1;
        return 1; /* opens a group */
    }
    c->i += 2;
    int sign = 1;
    bool saw = false;
    while (c->i < c->n) {
        char ch = c->s[c->i++];
        if (ch == 'i' || ch == 'm' || ch == 's' || ch == 'U') {
            saw = true;
        } else if (ch == '-') {
            if (sign < 0)
                break;
            sign = -1;
            saw = false;
        } else if (ch == ':' || ch == ')') {
            if (sign < 0 && !saw)
                break;
            return ch == ':' ? 2 : 0; /* 2: opens a non-capturing group */
        } else {
            break;
        }
    }
    return re_err(c, "invalid or unsupported Perl syntax", c->s + start, c->i - start);
}

static int open_group(struct re_check *c)
{
    if (c->depth + 1 >= RE_MAX_DEPTH)
        return re_err_whole(c, "expression nests too deeply");
    c->depth++;
    c->fr[c->depth] = (struct re_frame){false, 1, 1};
    return 0;
}

static int close_group(struct re_check *c)
{
    if (c->depth == 0)
        return re_err_whole(c, "unexpected )");
    uint64_t prod = c->fr[c->depth].max_prod;
    c->depth--;
    push_item(c, prod);
    return 0;
}

/* {min}, {min,}, {min,max}: returns false when the text is not a repeat (then `{` is literal). */
static bool parse_repeat_counts(const struct re_check *c, size_t *end, long *min, long *max)
{
    size_t i = c->i + 1;
    long v[2] = {0, -1};
    int k = 0;
    for (;;) {
        if (i >= c->n || c->s[i] < '0' || c->s[i] > '9')
            return false;
        if (c->s[i] == '0' && i + 1 < c->n && c->s[i + 1] >= '0' && c->s[i + 1] <= '9')
            return false;
        long x = 0;
        for (; i < c->n && c->s[i] >= '0' && c->s[i] <= '9'; i++)
            x = x >= 100000000 ? 100000000 : x * 10 + (c->s[i] - '0');
        v[k] = x >= 100000000 ? -2 : x;
        if (i >= c->n)
            return false;
        if (k == 0 && c->s[i] == ',') {
            i++;
            if (i < c->n && c->s[i] == '}') {
                v[1] = -1;
                break;
            }
            k = 1;
            continue;
        }
        if (k == 0)
            v[1] = v[0];
        break;
    }
    if (i >= c->n || c->s[i] != '}')
        return false;
    *end = i + 1;
    *min = v[0];
    *max = v[1];
    return true;
}

static int repeat(struct re_check *c, size_t before, long min, long max, bool counted)
{
    if (c->i < c->n && c->s[c->i] == '?')
        c->i++; /* non-greedy */
    if (c->last_repeat)
        return re_err(c, "invalid nested repetition operator", c->s + c->last_rep_at,
                      c->i - c->last_rep_at);
    struct re_frame *f = &c->fr[c->depth];
    if (!f->has_operand)
        return re_err(c, "missing argument to repetition operator", c->s + before, c->i - before);
    uint64_t prod = f->last_prod;
    if (counted) {
        long m = max >= 0 ? max : min;
        prod = m == 0 ? 1 : (uint64_t)m * prod;
        if (prod > 1000000)
            prod = 1000000;
        if ((min >= 2 || max >= 2) && m != 0 && prod > RE_MAX_REPEAT)
            return re_err(c, "invalid repeat count", c->s + before, c->i - before);
    }
    push_item(c, prod);
    c->last_repeat = true;
    c->last_rep_at = before;
    return 0;
}

static bool repeat_follows(const struct re_check *c)
{
    if (c->i >= c->n)
        return false;
    char ch = c->s[c->i];
    size_t end;
    long min, max;
    return ch == '*' || ch == '+' || ch == '?' ||
           (ch == '{' && parse_repeat_counts(c, &end, &min, &max));
}

/* An empty-width assertion; PCRE2 refuses to repeat one directly, Go does not: (?:^)* */
static void emit_assertion(struct re_check *c, size_t from)
{
    bool wrap = repeat_follows(c);
    if (wrap)
        emit(c, "(?:", 3);
    emit_from(c, from);
    if (wrap)
        emit(c, ")", 1);
    push_item(c, 1);
}

static int check_escape_item(struct re_check *c)
{
    size_t from = c->i;
    if (c->i + 1 < c->n) {
        char e = c->s[c->i + 1];
        if (e == 'A' || e == 'b' || e == 'B' || e == 'z') {
            c->i += 2;
            emit_assertion(c, from);
            return 0;
        }
        if (e == 'C')
            return re_err(c, "invalid escape sequence", c->s + c->i, 2);
        if (e == 'Q') {
            const char *s = c->s + c->i + 2;
            size_t left = c->n - c->i - 2, k;
            for (k = 0; k + 1 < left && !(s[k] == '\\' && s[k + 1] == 'E'); k++)
                ;
            bool end = k + 1 < left;
            size_t lit = end ? k : left;
            c->i += 2 + lit + (end ? 2 : 0);
            for (size_t j = 0; j < lit;) { /* like Go, a quantifier takes the last rune */
                size_t l;
                emit_rune(c, rune_at(c, from + 2 + j, &l));
                j += l;
            }
            if (lit > 0)
                push_item(c, 1);
            return 0;
        }
    }
    int rc;
    if (parse_unicode_class(c, &rc) || perl_class_at(c)) {
        if (rc)
            return rc;
        if (c->i == from)
            c->i += 2; /* perl class */
        /* PCRE2's JIT (10.42, with MATCH_INVALID_UTF) lets a bare \S \W \D miss multi-byte
         * characters; the same class in brackets matches them */
        bool negated = c->i - from == 2 && strchr("SWD", c->s[from + 1]);
        if (negated)
            emit(c, "[", 1);
        emit_from(c, from);
        if (negated)
            emit(c, "]", 1);
        push_item(c, 1);
        return 0;
    }
    uint32_t r;
    if ((rc = parse_escape(c, &r)) != 0)
        return rc;
    emit_rune(c, r);
    push_item(c, 1);
    return 0;
}

static int check_group(struct re_check *c, size_t before)
{
    if (c->i + 1 < c->n && c->s[c->i + 1] == '?') {
        int rc = parse_perl_flags(c);
        if (rc < 0)
            return rc;
        emit_from(c, before);
        return rc > 0 ? open_group(c) : 0;
    }
    if (c->n_groups < 64)
        c->names[c->n_groups] = (struct str){"", 0};
    c->n_groups++;
    c->i++;
    emit(c, "(", 1);
    return open_group(c);
}

static int check_brace(struct re_check *c, size_t before, bool *was_repeat)
{
    size_t end;
    long min, max;
    if (!parse_repeat_counts(c, &end, &min, &max)) {
        c->i++;
        emit(c, "\\{", 2); /* a literal brace in Go */
        push_item(c, 1);
        return 0;
    }
    c->i = end;
    if (min < 0 || min > RE_MAX_REPEAT || max > RE_MAX_REPEAT || max == -2 ||
        (max >= 0 && min > max))
        return re_err(c, "invalid repeat count", c->s + before, c->i - before);
    *was_repeat = true;
    int rc = repeat(c, before, min, max, true);
    if (rc == 0)
        emit_from(c, before);
    return rc;
}

static int check_token(struct re_check *c, bool *was_repeat)
{
    size_t before = c->i;
    char ch = c->s[c->i];
    int rc = 0;
    *was_repeat = false;
    switch (ch) {
    case '(': return check_group(c, before);
    case '|':
        c->i++;
        c->fr[c->depth].has_operand = false;
        emit(c, "|", 1);
        return 0;
    case ')':
        c->i++;
        emit(c, ")", 1);
        return close_group(c);
    case '^':
    case '$':
        c->i++;
        emit_assertion(c, before);
        return 0;
    case '[': return parse_class(c);
    case '*':
    case '+':
    case '?':
        c->i++;
        *was_repeat = true;
        rc = repeat(c, before, 0, 0, false);
        if (rc == 0)
            emit_from(c, before);
        return rc;
    case '{': return check_brace(c, before, was_repeat);
    case '\\': return check_escape_item(c);
    default: {
        size_t l;
        (void)rune_at(c, c->i, &l);
        c->i += l;
        emit_from(c, before);
        push_item(c, 1);
        return 0;
    }
    }
}

static int re2_walk(struct arena *a, struct str src, struct logql_re2_info *info, struct buf *out,
                    char *err, size_t err_size)
{
    struct re_frame frames[RE_MAX_DEPTH + 1];
    struct re_check c = {.s = src.ptr ? src.ptr : "",
                         .n = src.len,
                         .fr = frames,
                         .out = out,
                         .err = err,
                         .err_size = err_size};
    frames[0] = (struct re_frame){false, 1, 1};
    for (size_t k = 0; k < src.len;) {
        uint32_t r;
        size_t l = wire_utf8_decode((const uint8_t *)src.ptr + k, src.len - k, &r);
        if (!l)
            return re_err(&c, "invalid UTF-8", src.ptr + k, src.len - k);
        k += l;
    }
    while (c.i < c.n) {
        bool was_repeat;
        int rc = check_token(&c, &was_repeat);
        if (rc)
            return rc;
        c.last_repeat = was_repeat;
    }
    if (c.depth != 0)
        return re_err_whole(&c, "missing closing )");
    if (c.oom)
        return ERR_NOMEM;
    if (!info)
        return 0;
    info->n_groups = c.n_groups < 64 ? c.n_groups : 64; /* only the first 64 are described */
    info->n_named = c.n_named;
    info->names = NULL;
    if (!a || info->n_groups == 0)
        return 0;
    info->names = arena_alloc(a, info->n_groups * sizeof *info->names);
    if (!info->names)
        return ERR_NOMEM;
    for (uint32_t i = 0; i < info->n_groups; i++) {
        info->names[i] = c.names[i];
        if (c.names[i].len &&
            !(info->names[i].ptr = arena_dup(a, c.names[i].ptr, c.names[i].len, 0)))
            return ERR_NOMEM;
    }
    return 0;
}

int logql_re2_check(struct arena *a, struct str src, struct logql_re2_info *info, char *err,
                    size_t err_size)
{
    return re2_walk(a, src, info, NULL, err, err_size);
}

int logql_regex_compile(struct arena *a, struct str src, unsigned flags, struct logql_regex *out,
                        char *err, size_t err_size)
{
    struct logql_re2_info info;
    struct buf pat = BUF_INIT;
    memset(out, 0, sizeof *out);
    int rc = re2_walk(a, src, &info, &pat, err, err_size);
    if (rc) {
        buf_deinit(&pat);
        return rc;
    }
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_DUPNAMES |
                    PCRE2_NEVER_BACKSLASH_C;
    if (flags & LOGQL_RE_ANCHORED)
        opts |= PCRE2_ANCHORED | PCRE2_ENDANCHORED;
    int code;
    PCRE2_SIZE off;
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc) {
        buf_deinit(&pat);
        return ERR_NOMEM;
    }
    pcre2_set_parens_nest_limit(cc, RE_MAX_DEPTH + 10); /* Go allows deeper nesting than 250 */
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(pat.data ? (char *)pat.data : ""), pat.len, opts,
                                   &code, &off, cc);
    pcre2_compile_context_free(cc);
    buf_deinit(&pat);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(err, err_size, "error parsing regexp: %s: `%.*s`", (char *)msg, (int)src.len,
                 src.ptr ? src.ptr : "");
        return ERR_INVALID;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional: the interpreter is the fallback */
    out->code = re;
    out->n_groups = info.n_groups;
    out->n_named = info.n_named;
    out->names = info.names;
    return 0;
}

void logql_regex_free(struct logql_regex *re)
{
    if (re && re->code) {
        pcre2_code_free(re->code);
        re->code = NULL;
    }
}

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

/* Per-thread match data with room for at least `pairs` offset pairs. */
static pcre2_match_data *thread_match_data(uint32_t pairs)
{
    pthread_once(&md_once, md_key_init);
    pcre2_match_data *md = pthread_getspecific(md_key);
    if (md && pcre2_get_ovector_count(md) >= pairs)
        return md;
    if (md)
        pcre2_match_data_free(md);
    md = pcre2_match_data_create(pairs < 16 ? 16 : pairs, NULL);
    pthread_setspecific(md_key, md);
    return md;
}

bool logql_regex_match(const struct logql_regex *re, struct str subject)
{
    pcre2_match_data *md = thread_match_data(1);
    if (!md)
        return false;
    int rc = pcre2_match(re->code, (PCRE2_SPTR)(subject.ptr ? subject.ptr : ""), subject.len, 0, 0,
                         md, NULL);
    return rc >= 0;
}

bool logql_regex_find(const struct logql_regex *re, struct str subject, size_t *spans,
                      size_t n_pairs)
{
    pcre2_match_data *md = thread_match_data(re->n_groups + 1);
    if (!md)
        return false;
    int rc = pcre2_match(re->code, (PCRE2_SPTR)(subject.ptr ? subject.ptr : ""), subject.len, 0, 0,
                         md, NULL);
    if (rc < 0)
        return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    uint32_t avail = pcre2_get_ovector_count(md);
    for (size_t i = 0; i < n_pairs; i++) {
        bool set = i < avail && (rc == 0 || i < (size_t)rc) && ov[2 * i] != PCRE2_UNSET;
        spans[2 * i] = set ? ov[2 * i] : SIZE_MAX;
        spans[2 * i + 1] = set ? ov[2 * i + 1] : SIZE_MAX;
    }
    return true;
}
