/* LogQL lexer (see lex.h): Go text/scanner tokenization plus Loki's keyword, function, duration,
 * byte-size, flag and range rules. */
#include "engine/logql/lex.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/ast.h"
#include "engine/logql/units.h"
#include "formats/wire/utf8.h"

struct lexer {
    struct arena *a;
    const char *s;
    size_t n, pos;
    uint32_t line, col;
    struct logql_tok *toks;
    size_t n_toks, cap;
    struct logql_tok cur; /* token being built */
    char *err;
    size_t err_size;
};

static int lex_errorf(struct lexer *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int lex_errorf(struct lexer *L, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(L->err, L->err_size, "parse error at line %u, col %u: %s", L->cur.line, L->cur.col,
             msg);
    return ERR_INVALID;
}

static uint32_t rune_at(const struct lexer *L, size_t at, size_t *w)
{
    if (at >= L->n) {
        *w = 0;
        return (uint32_t)-1;
    }
    uint32_t r;
    size_t n = wire_utf8_decode((const uint8_t *)L->s + at, L->n - at, &r);
    *w = n ? n : 1;
    return n ? r : 0xfffd;
}

/* Moves to `to`, keeping line and column (runes, 1-based) up to date. */
static void advance_to(struct lexer *L, size_t to)
{
    for (; L->pos < to; L->pos++) {
        unsigned char c = (unsigned char)L->s[L->pos];
        if (c == '\n') {
            L->line++;
            L->col = 1;
        } else if ((c & 0xc0) != 0x80) {
            L->col++;
        }
    }
}

static int emit(struct lexer *L, enum logql_tok_kind kind)
{
    if (L->n_toks == L->cap) {
        size_t nc = L->cap ? L->cap * 2 : 64;
        struct logql_tok *nt = arena_alloc(L->a, nc * sizeof *nt);
        if (!nt)
            return ERR_NOMEM;
        if (L->n_toks)
            memcpy(nt, L->toks, L->n_toks * sizeof *nt);
        L->toks = nt;
        L->cap = nc;
    }
    L->cur.kind = kind;
    L->cur.len = (uint32_t)(L->pos - L->cur.pos);
    L->toks[L->n_toks++] = L->cur;
    return 0;
}

static bool ident_start(uint32_t r)
{
    return r == '_' || logql_rune_is_letter(r);
}

static bool ident_char(uint32_t r)
{
    return ident_start(r) || logql_rune_is_digit(r);
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

static bool ci_eq(struct str s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(s.ptr[i]) != lit[i])
            return false;
    return true;
}

static bool ci_prefix(const struct lexer *L, size_t at, const char *lit)
{
    size_t n = strlen(lit);
    if (L->n - at < n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(L->s[at + i]) != lit[i])
            return false;
    return true;
}

static size_t skip_unicode_spaces(const struct lexer *L, size_t at)
{
    size_t w;
    uint32_t r;
    while ((r = rune_at(L, at, &w)) != (uint32_t)-1 && logql_rune_is_space(r))
        at += w;
    return at;
}

/* Loki's isFunction: `(` follows, or `by`/`without` and then `(`. */
static bool is_function(const struct lexer *L, size_t at)
{
    at = skip_unicode_spaces(L, at);
    if (at < L->n && L->s[at] == '(')
        return true;
    size_t kw = ci_prefix(L, at, "by") ? 2 : ci_prefix(L, at, "without") ? 7 : 0;
    if (!kw)
        return false;
    at = skip_unicode_spaces(L, at + kw);
    return at < L->n && L->s[at] == '(';
}

struct name_tok {
    const char *name;
    enum logql_tok_kind kind;
    int sub;
};

static const struct name_tok function_tokens[] = {
    {"count_over_time", LT_RANGE_OP, LOGQL_RANGE_COUNT},
    {"rate", LT_RANGE_OP, LOGQL_RANGE_RATE},
    {"rate_counter", LT_RANGE_OP, LOGQL_RANGE_RATE_COUNTER},
    {"bytes_over_time", LT_RANGE_OP, LOGQL_RANGE_BYTES},
    {"bytes_rate", LT_RANGE_OP, LOGQL_RANGE_BYTES_RATE},
    {"avg_over_time", LT_RANGE_OP, LOGQL_RANGE_AVG},
    {"sum_over_time", LT_RANGE_OP, LOGQL_RANGE_SUM},
    {"min_over_time", LT_RANGE_OP, LOGQL_RANGE_MIN},
    {"max_over_time", LT_RANGE_OP, LOGQL_RANGE_MAX},
    {"stdvar_over_time", LT_RANGE_OP, LOGQL_RANGE_STDVAR},
    {"stddev_over_time", LT_RANGE_OP, LOGQL_RANGE_STDDEV},
    {"quantile_over_time", LT_RANGE_OP, LOGQL_RANGE_QUANTILE},
    {"first_over_time", LT_RANGE_OP, LOGQL_RANGE_FIRST},
    {"last_over_time", LT_RANGE_OP, LOGQL_RANGE_LAST},
    {"absent_over_time", LT_RANGE_OP, LOGQL_RANGE_ABSENT},
    {"vector", LT_VECTOR, 0},
    {"sum", LT_VECTOR_OP, LOGQL_VEC_SUM},
    {"avg", LT_VECTOR_OP, LOGQL_VEC_AVG},
    {"max", LT_VECTOR_OP, LOGQL_VEC_MAX},
    {"min", LT_VECTOR_OP, LOGQL_VEC_MIN},
    {"count", LT_VECTOR_OP, LOGQL_VEC_COUNT},
    {"stddev", LT_VECTOR_OP, LOGQL_VEC_STDDEV},
    {"stdvar", LT_VECTOR_OP, LOGQL_VEC_STDVAR},
    {"bottomk", LT_VECTOR_OP, LOGQL_VEC_BOTTOMK},
    {"topk", LT_VECTOR_OP, LOGQL_VEC_TOPK},
    {"sort", LT_VECTOR_OP, LOGQL_VEC_SORT},
    {"sort_desc", LT_VECTOR_OP, LOGQL_VEC_SORT_DESC},
    {"approx_topk", LT_VECTOR_OP, LOGQL_VEC_APPROX_TOPK},
    {"label_replace", LT_LABEL_REPLACE, 0},
    {"bytes", LT_CONV, LOGQL_CONV_BYTES},
    {"duration", LT_CONV, LOGQL_CONV_DURATION},
    {"duration_seconds", LT_CONV, LOGQL_CONV_DURATION_SECONDS},
    {"ip", LT_IP, 0},
};

static const struct name_tok keyword_tokens[] = {
    {"by", LT_BY, 0},
    {"without", LT_WITHOUT, 0},
    {"bool", LT_BOOL, 0},
    {"offset", LT_OFFSET, 0},
    {"on", LT_ON, 0},
    {"ignoring", LT_IGNORING, 0},
    {"group_left", LT_GROUP_LEFT, 0},
    {"group_right", LT_GROUP_RIGHT, 0},
    {"or", LT_OR, 0},
    {"and", LT_AND, 0},
    {"unless", LT_UNLESS, 0},
    {"json", LT_JSON, 0},
    {"regexp", LT_REGEXP, 0},
    {"logfmt", LT_LOGFMT, 0},
    {"unpack", LT_UNPACK, 0},
    {"pattern", LT_PATTERN, 0},
    {"label_format", LT_LABEL_FMT, 0},
    {"line_format", LT_LINE_FMT, 0},
    {"decolorize", LT_DECOLORIZE, 0},
    {"drop", LT_DROP, 0},
    {"keep", LT_KEEP, 0},
    {"unwrap", LT_UNWRAP, 0},
};

static int lex_ident(struct lexer *L)
{
    size_t w, end = L->pos;
    uint32_t r;
    while ((r = rune_at(L, end, &w)) != (uint32_t)-1 && ident_char(r))
        end += w;
    struct str text = {L->s + L->pos, end - L->pos};
    advance_to(L, end);
    L->cur.str = text;
    for (size_t i = 0; i < sizeof function_tokens / sizeof function_tokens[0]; i++) {
        if (ci_eq(text, function_tokens[i].name)) {
            if (!is_function(L, L->pos))
                return emit(L, LT_IDENT);
            L->cur.sub = function_tokens[i].sub;
            return emit(L, function_tokens[i].kind);
        }
    }
    for (size_t i = 0; i < sizeof keyword_tokens / sizeof keyword_tokens[0]; i++)
        if (ci_eq(text, keyword_tokens[i].name))
            return emit(L, keyword_tokens[i].kind);
    return emit(L, LT_IDENT);
}

/* ---- numbers (Go text/scanner rules) ---- */

static bool is_dec(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
    return is_dec(c) || (lower(c) >= 'a' && lower(c) <= 'f');
}

static char at(const struct lexer *L, size_t i)
{
    return i < L->n ? L->s[i] : 0;
}

/* Digits of `base` and '_' from *i; records the first invalid digit for base <= 10. */
static int scan_digits(const struct lexer *L, size_t *i, int base, char *invalid)
{
    int ds = 0;
    for (;;) {
        char c = at(L, *i);
        if (c == '_') {
            ds |= 2;
        } else if (base <= 10 ? is_dec(c) : is_hex(c)) {
            ds |= 1;
            if (base < 10 && c >= '0' + base && invalid && !*invalid)
                *invalid = c;
        } else {
            return ds;
        }
        (*i)++;
    }
}

/* '_' must separate successive digits (Go's invalidSep). */
static bool bad_separator(const char *s, size_t n)
{
    char x1 = ' ', d = '.';
    size_t i = 0;
    if (n >= 2 && s[0] == '0' && strchr("xXbBoO", s[1])) {
        x1 = (char)lower(s[1]);
        i = 2;
        d = '0';
    }
    for (; i < n; i++) {
        char p = d;
        d = s[i];
        if (d == '_') {
            if (p != '0')
                return true;
        } else if (is_dec(d) || (x1 == 'x' && is_hex(d))) {
            d = '0';
        } else {
            if (p == '_')
                return true;
            d = '.';
        }
    }
    return d == '_';
}

static int scan_number(struct lexer *L, size_t *endp)
{
    size_t i = L->pos;
    *endp = i; /* written on every path */
    int base = 10;
    char prefix = 0, invalid = 0;
    int ds = 0;
    bool is_float = false;
    if (at(L, i) != '.') {
        if (at(L, i) == '0') {
            i++;
            char p = lower(at(L, i));
            if (p == 'x' || p == 'o' || p == 'b') {
                i++;
                base = p == 'x' ? 16 : p == 'o' ? 8 : 2;
                prefix = p;
            } else {
                base = 8;
                prefix = '0';
                ds = 1;
            }
        }
        ds |= scan_digits(L, &i, base, &invalid);
        if (at(L, i) == '.') {
            i++;
            is_float = true;
        }
    } else {
        i++;
        is_float = true;
    }
    if (is_float) {
        if (prefix == 'o' || prefix == 'b')
            return lex_errorf(L, "invalid radix point in %s literal",
                              prefix == 'o' ? "octal" : "binary");
        ds |= scan_digits(L, &i, base, &invalid);
    }
    if (!(ds & 1))
        return lex_errorf(L, "%s has no digits", prefix == 'x' ? "hexadecimal literal" : "literal");
    /* Loki's scanner only takes 'p' as an exponent after a hex mantissa, so that "123PB" is a
     * byte size. */
    char e = lower(at(L, i));
    if (e == 'e' || (e == 'p' && prefix == 'x')) {
        if (e == 'e' && prefix != 0 && prefix != '0')
            return lex_errorf(L, "'%c' exponent requires decimal mantissa", at(L, i));
        i++;
        is_float = true;
        if (at(L, i) == '+' || at(L, i) == '-')
            i++;
        int eds = scan_digits(L, &i, 10, NULL);
        ds |= eds;
        if (!(eds & 1))
            return lex_errorf(L, "exponent has no digits");
    } else if (prefix == 'x' && is_float) {
        return lex_errorf(L, "hexadecimal mantissa requires a 'p' exponent");
    }
    if (!is_float && invalid)
        return lex_errorf(L, "invalid digit '%c' in %s literal", invalid,
                          prefix == 'b' ? "binary" : "octal");
    if ((ds & 2) && bad_separator(L->s + L->pos, i - L->pos))
        return lex_errorf(L, "'_' must separate successive digits");
    *endp = i;
    return 0;
}

static bool duration_rune(uint32_t r)
{
    return r == 'n' || r == 'u' || r == 0xb5 || r == 'm' || r == 's' || r == 'h' || r == 'd' ||
           r == 'w' || r == 'y';
}

static bool bytes_rune(uint32_t r)
{
    return r == 'B' || r == 'i' || r == 'k' || r == 'K' || r == 'M' || r == 'G' || r == 'T' ||
           r == 'P';
}

/* Loki's tryScanDuration / tryScanBytes: extends the token over unit characters. */
static size_t unit_run(const struct lexer *L, size_t from, bool (*unit)(uint32_t))
{
    size_t i = from, w;
    uint32_t r;
    while ((r = rune_at(L, i, &w)) != (uint32_t)-1 && !logql_rune_is_space(r)) {
        if (!logql_rune_is_digit(r) && !unit(r) && r != '.')
            break;
        i += w;
    }
    return i;
}

static bool try_duration(struct lexer *L, size_t from)
{
    size_t end = unit_run(L, from, duration_rune);
    if (end == from)
        return false;
    int64_t ns;
    if (logql_parse_duration((struct str){L->s + L->pos, end - L->pos}, &ns) != 0)
        return false;
    L->cur.ns = ns;
    advance_to(L, end);
    return true;
}

static int lex_number(struct lexer *L)
{
    size_t end;
    int rc = scan_number(L, &end);
    if (rc)
        return rc;
    L->cur.str = (struct str){L->s + L->pos, end - L->pos};
    if (try_duration(L, end))
        return emit(L, LT_DURATION);
    size_t bend = unit_run(L, end, bytes_rune);
    uint64_t b;
    if (bend > end && logql_parse_bytes((struct str){L->s + L->pos, bend - L->pos}, &b) == 0) {
        L->cur.bytes = b;
        advance_to(L, bend);
        return emit(L, LT_BYTES);
    }
    advance_to(L, end);
    return emit(L, LT_NUMBER);
}

static int lex_minus(struct lexer *L)
{
    if (at(L, L->pos + 1) == '-') {
        size_t i = L->pos + 1, w;
        uint32_t r;
        while ((r = rune_at(L, i, &w)) != (uint32_t)-1 && (logql_rune_is_letter(r) || r == '-'))
            i += w;
        struct str flag = {L->s + L->pos, i - L->pos};
        int f = str_eq_cstr(flag, "--strict")       ? LOGQL_FLAG_STRICT
                : str_eq_cstr(flag, "--keep-empty") ? LOGQL_FLAG_KEEP_EMPTY
                                                    : 0;
        if (f) {
            L->cur.sub = f;
            L->cur.str = flag;
            advance_to(L, i);
            return emit(L, LT_FLAG);
        }
    }
    if (try_duration(L, L->pos + 1))
        return emit(L, LT_DURATION);
    advance_to(L, L->pos + 1);
    return emit(L, LT_SUB);
}

/* ---- strings ---- */

static int scan_escape(struct lexer *L, size_t *i, char quote)
{
    char c = at(L, *i);
    int digits = 0, base = 0;
    if (strchr("abfnrtv\\", c) && c) {
        (*i)++;
        return 0;
    }
    if (c == quote) {
        (*i)++;
        return 0;
    }
    if (c >= '0' && c <= '7')
        digits = 3, base = 8;
    else if (c == 'x')
        digits = 2, base = 16, (*i)++;
    else if (c == 'u')
        digits = 4, base = 16, (*i)++;
    else if (c == 'U')
        digits = 8, base = 16, (*i)++;
    if (!digits)
        return lex_errorf(L, "invalid char escape");
    for (int k = 0; k < digits; k++, (*i)++) {
        char d = at(L, *i);
        if (base == 8 ? !(d >= '0' && d <= '7') : !is_hex(d))
            return lex_errorf(L, "invalid char escape");
    }
    return 0;
}

static int lex_string(struct lexer *L, char quote)
{
    size_t i = L->pos + 1, nchars = 0;
    for (;;) {
        char c = at(L, i);
        if (i >= L->n || (quote != '`' && c == '\n'))
            return lex_errorf(L, "literal not terminated");
        if (c == quote) {
            i++;
            break;
        }
        nchars++;
        if (c == '\\' && quote != '`') {
            i++;
            int rc = scan_escape(L, &i, quote);
            if (rc)
                return rc;
            continue;
        }
        size_t w;
        (void)rune_at(L, i, &w);
        i += w;
    }
    struct str lit = {L->s + L->pos, i - L->pos};
    if (quote == '\'') {
        if (nchars != 1)
            return lex_errorf(L, "invalid char literal");
        L->cur.str = lit; /* Loki reads a char literal as an identifier */
        advance_to(L, i);
        return emit(L, LT_IDENT);
    }
    char msg[128];
    if (logql_unquote(L->a, lit, &L->cur.str, msg, sizeof msg) != 0)
        return lex_errorf(L, "%s", msg);
    advance_to(L, i);
    return emit(L, LT_STRING);
}

static int lex_range(struct lexer *L)
{
    const char *close = memchr(L->s + L->pos + 1, ']', L->n - L->pos - 1);
    if (!close) {
        advance_to(L, L->n);
        return lex_errorf(L, "missing closing ']' in duration");
    }
    struct str d = {L->s + L->pos + 1, (size_t)(close - L->s) - L->pos - 1};
    int64_t ns;
    int rc = logql_parse_prom_duration(d, &ns);
    if (rc == ERR_RANGE)
        return lex_errorf(L, "duration out of range");
    if (rc)
        return lex_errorf(L, "not a valid duration string: \"%.*s\"", (int)d.len, d.ptr);
    L->cur.ns = ns;
    L->cur.str = d;
    advance_to(L, (size_t)(close - L->s) + 1);
    return emit(L, LT_RANGE);
}

static int lex_operator(struct lexer *L)
{
    static const struct {
        const char *op;
        enum logql_tok_kind kind;
    } ops[] = {{"!=", LT_NEQ},
               {"=~", LT_RE},
               {"!~", LT_NRE},
               {"!>", LT_NPA},
               {"|=", LT_PIPE_EXACT},
               {"|~", LT_PIPE_MATCH},
               {"|>", LT_PIPE_PATTERN},
               {"==", LT_CMP_EQ},
               {">=", LT_GTE},
               {"<=", LT_LTE},
               {",", LT_COMMA},
               {".", LT_DOT},
               {"{", LT_LBRACE},
               {"}", LT_RBRACE},
               {"=", LT_EQ},
               {"|", LT_PIPE},
               {"(", LT_LPAREN},
               {")", LT_RPAREN},
               {"]", LT_RBRACKET},
               {"+", LT_ADD},
               {"*", LT_MUL},
               {"/", LT_DIV},
               {"%", LT_MOD},
               {"^", LT_POW},
               {">", LT_GT},
               {"<", LT_LT}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n = strlen(ops[i].op);
        if (L->n - L->pos >= n && memcmp(L->s + L->pos, ops[i].op, n) == 0) {
            advance_to(L, L->pos + n);
            return emit(L, ops[i].kind);
        }
    }
    /* Anything else is a one-character identifier in Loki (and a syntax error later). */
    size_t w;
    (void)rune_at(L, L->pos, &w);
    L->cur.str = (struct str){L->s + L->pos, w};
    advance_to(L, L->pos + w);
    return emit(L, LT_IDENT);
}

static int skip_comment(struct lexer *L, bool *skipped)
{
    char c = at(L, L->pos), d = at(L, L->pos + 1);
    *skipped = true;
    if (c == '#' || (c == '/' && d == '/')) {
        const char *nl = memchr(L->s + L->pos, '\n', L->n - L->pos);
        advance_to(L, nl ? (size_t)(nl - L->s) + (c == '#') : L->n);
        return 0;
    }
    if (c == '/' && d == '*') {
        const char *e =
            L->pos + 2 < L->n ? memmem(L->s + L->pos + 2, L->n - L->pos - 2, "*/", 2) : NULL;
        if (!e)
            return lex_errorf(L, "comment not terminated");
        advance_to(L, (size_t)(e - L->s) + 2);
        return 0;
    }
    *skipped = false;
    return 0;
}

static int lex_token(struct lexer *L, bool *done)
{
    while (L->pos < L->n && strchr(" \t\n\r", L->s[L->pos]))
        advance_to(L, L->pos + 1);
    memset(&L->cur, 0, sizeof L->cur);
    L->cur.pos = (uint32_t)L->pos;
    L->cur.line = L->line;
    L->cur.col = L->col;
    if (L->pos >= L->n) {
        *done = true;
        return emit(L, LT_EOF);
    }
    bool skipped;
    int rc = skip_comment(L, &skipped);
    if (rc || skipped)
        return rc;
    size_t w;
    uint32_t r = rune_at(L, L->pos, &w);
    char c = L->s[L->pos];
    if (ident_start(r))
        return lex_ident(L);
    if (is_dec(c) || (c == '.' && is_dec(at(L, L->pos + 1))))
        return lex_number(L);
    switch (c) {
    case '"':
    case '`':
    case '\'': return lex_string(L, c);
    case '[': return lex_range(L);
    case '-': return lex_minus(L);
    }
    return lex_operator(L);
}

/* Input checks done by Go's scanner on every character: NUL and invalid UTF-8 are errors. */
static int check_input(struct lexer *L)
{
    for (size_t i = 0; i < L->n;) {
        uint32_t r;
        size_t w = wire_utf8_decode((const uint8_t *)L->s + i, L->n - i, &r);
        if (!w || r == 0) {
            advance_to(L, i);
            L->cur.line = L->line;
            L->cur.col = L->col;
            return lex_errorf(L, w ? "invalid character NUL" : "invalid UTF-8 encoding");
        }
        i += w;
    }
    return 0;
}

int logql_lex(struct arena *a, struct str query, struct logql_tok **toks, size_t *n, char *err,
              size_t err_size)
{
    if (query.len >= LOGQL_MAX_QUERY_BYTES) {
        snprintf(err, err_size, "parse error : input size too long (%zu > %d)", query.len,
                 LOGQL_MAX_QUERY_BYTES);
        return ERR_INVALID;
    }
    struct lexer L = {.a = a,
                      .s = query.ptr ? query.ptr : "",
                      .n = query.len,
                      .line = 1,
                      .col = 1,
                      .err = err,
                      .err_size = err_size};
    int rc = check_input(&L);
    if (rc)
        return rc;
    L.pos = 0;
    L.line = L.col = 1;
    if (L.n >= 3 && memcmp(L.s, "\xef\xbb\xbf", 3) == 0)
        L.pos = 3; /* a leading byte order mark is ignored, as Go's scanner does */
    bool done = false;
    while (!done && rc == 0)
        rc = lex_token(&L, &done);
    if (rc)
        return rc;
    *toks = L.toks;
    *n = L.n_toks;
    return 0;
}

const char *logql_tok_name(enum logql_tok_kind k)
{
    static const char *const names[LT_KIND_COUNT_] = {
        [LT_EOF] = "$end",
        [LT_IDENT] = "IDENTIFIER",
        [LT_STRING] = "STRING",
        [LT_NUMBER] = "NUMBER",
        [LT_DURATION] = "DURATION",
        [LT_BYTES] = "BYTES",
        [LT_RANGE] = "RANGE",
        [LT_FLAG] = "FUNCTION_FLAG",
        [LT_COMMA] = ",",
        [LT_DOT] = ".",
        [LT_LBRACE] = "{",
        [LT_RBRACE] = "}",
        [LT_LPAREN] = "(",
        [LT_RPAREN] = ")",
        [LT_LBRACKET] = "[",
        [LT_RBRACKET] = "]",
        [LT_EQ] = "=",
        [LT_NEQ] = "!=",
        [LT_RE] = "=~",
        [LT_NRE] = "!~",
        [LT_NPA] = "!>",
        [LT_PIPE_EXACT] = "|=",
        [LT_PIPE_MATCH] = "|~",
        [LT_PIPE_PATTERN] = "|>",
        [LT_PIPE] = "|",
        [LT_OR] = "or",
        [LT_AND] = "and",
        [LT_UNLESS] = "unless",
        [LT_ADD] = "+",
        [LT_SUB] = "-",
        [LT_MUL] = "*",
        [LT_DIV] = "/",
        [LT_MOD] = "%",
        [LT_POW] = "^",
        [LT_CMP_EQ] = "==",
        [LT_GT] = ">",
        [LT_GTE] = ">=",
        [LT_LT] = "<",
        [LT_LTE] = "<=",
        [LT_BY] = "by",
        [LT_WITHOUT] = "without",
        [LT_BOOL] = "bool",
        [LT_OFFSET] = "offset",
        [LT_ON] = "on",
        [LT_IGNORING] = "ignoring",
        [LT_GROUP_LEFT] = "group_left",
        [LT_GROUP_RIGHT] = "group_right",
        [LT_JSON] = "json",
        [LT_REGEXP] = "regexp",
        [LT_LOGFMT] = "logfmt",
        [LT_UNPACK] = "unpack",
        [LT_PATTERN] = "pattern",
        [LT_LABEL_FMT] = "label_format",
        [LT_LINE_FMT] = "line_format",
        [LT_DECOLORIZE] = "decolorize",
        [LT_DROP] = "drop",
        [LT_KEEP] = "keep",
        [LT_UNWRAP] = "unwrap",
        [LT_RANGE_OP] = "RANGE_OP",
        [LT_VECTOR_OP] = "VECTOR_OP",
        [LT_VECTOR] = "vector",
        [LT_LABEL_REPLACE] = "label_replace",
        [LT_CONV] = "CONVERSION",
        [LT_IP] = "ip",
    };
    return k < LT_KIND_COUNT_ && names[k] ? names[k] : "?";
}

/* ---- Go string literal decoding (strconv.Unquote) ---- */

static int hexv(char c)
{
    if (is_dec(c))
        return c - '0';
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes one escape after the backslash at s[*i]; appends the bytes to out. */
static int unquote_escape(const char *s, size_t n, size_t *i, char quote, char *out, size_t *o)
{
    char c = s[*i];
    (*i)++;
    static const char simple_in[] = "abfnrtv\\", simple_out[] = "\a\b\f\n\r\t\v\\";
    const char *k = c ? strchr(simple_in, c) : NULL;
    if (k) {
        out[(*o)++] = simple_out[k - simple_in];
        return 0;
    }
    if (c == quote && quote != '`') {
        out[(*o)++] = c;
        return 0;
    }
    if (c >= '0' && c <= '7') {
        if (*i + 2 > n || s[*i] < '0' || s[*i] > '7' || s[*i + 1] < '0' || s[*i + 1] > '7')
            return ERR_INVALID;
        int v = (c - '0') * 64 + (s[*i] - '0') * 8 + (s[*i + 1] - '0');
        if (v > 255)
            return ERR_INVALID;
        *i += 2;
        out[(*o)++] = (char)v;
        return 0;
    }
    int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (!digits || *i + (size_t)digits > n)
        return ERR_INVALID;
    uint32_t v = 0;
    for (int d = 0; d < digits; d++) {
        int h = hexv(s[*i + (size_t)d]);
        if (h < 0)
            return ERR_INVALID;
        v = v * 16 + (uint32_t)h;
    }
    *i += (size_t)digits;
    if (c == 'x') {
        out[(*o)++] = (char)v;
        return 0;
    }
    if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return ERR_INVALID;
    *o += wire_utf8_encode(v, (uint8_t *)out + *o);
    return 0;
}

int logql_unquote(struct arena *a, struct str lit, struct str *out, char *err, size_t err_size)
{
    if (lit.len < 2 || lit.ptr[0] != lit.ptr[lit.len - 1] || !strchr("\"'`", lit.ptr[0])) {
        snprintf(err, err_size, "invalid syntax");
        return ERR_INVALID;
    }
    char quote = lit.ptr[0];
    const char *s = lit.ptr + 1;
    size_t n = lit.len - 2, o = 0;
    char *buf = arena_alloc(a, n + 1);
    if (!buf)
        return ERR_NOMEM;
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (quote == '`') {
            if (c == '`')
                goto bad;
            if (c != '\r')
                buf[o++] = c;
            i++;
            continue;
        }
        if (c == quote || c == '\n')
            goto bad;
        if (c != '\\') {
            buf[o++] = c;
            i++;
            continue;
        }
        i++;
        if (i >= n || unquote_escape(s, n, &i, quote, buf, &o) != 0)
            goto bad;
    }
    buf[o] = 0;
    *out = (struct str){buf, o};
    return 0;
bad:
    snprintf(err, err_size, "invalid syntax");
    return ERR_INVALID;
}
