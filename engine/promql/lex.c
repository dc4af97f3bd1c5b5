/* PromQL lexer: a state machine with Prometheus's states (statements, inside braces, duration
 * expression) and its number/duration/string scanners. */
#include "engine/promql/lex.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "engine/promql/quote.h"

#define LEX_EOF (-1)

static const struct {
    const char *word;
    enum promql_tok tok;
} keywords[] = {
    {"and", PROMQL_T_LAND},
    {"or", PROMQL_T_LOR},
    {"unless", PROMQL_T_LUNLESS},
    {"atan2", PROMQL_T_ATAN2},
    {"sum", PROMQL_T_SUM},
    {"avg", PROMQL_T_AVG},
    {"count", PROMQL_T_COUNT},
    {"min", PROMQL_T_MIN},
    {"max", PROMQL_T_MAX},
    {"group", PROMQL_T_GROUP},
    {"stddev", PROMQL_T_STDDEV},
    {"stdvar", PROMQL_T_STDVAR},
    {"topk", PROMQL_T_TOPK},
    {"bottomk", PROMQL_T_BOTTOMK},
    {"count_values", PROMQL_T_COUNT_VALUES},
    {"quantile", PROMQL_T_QUANTILE},
    {"limitk", PROMQL_T_LIMITK},
    {"limit_ratio", PROMQL_T_LIMIT_RATIO},
    {"offset", PROMQL_T_OFFSET},
    {"smoothed", PROMQL_T_SMOOTHED},
    {"anchored", PROMQL_T_ANCHORED},
    {"by", PROMQL_T_BY},
    {"without", PROMQL_T_WITHOUT},
    {"on", PROMQL_T_ON},
    {"ignoring", PROMQL_T_IGNORING},
    {"group_left", PROMQL_T_GROUP_LEFT},
    {"group_right", PROMQL_T_GROUP_RIGHT},
    {"fill", PROMQL_T_FILL},
    {"fill_left", PROMQL_T_FILL_LEFT},
    {"fill_right", PROMQL_T_FILL_RIGHT},
    {"bool", PROMQL_T_BOOL},
    {"start", PROMQL_T_START},
    {"end", PROMQL_T_END},
    {"step", PROMQL_T_STEP},
    {"range", PROMQL_T_RANGE},
    {"max_of", PROMQL_T_MAX_OF},
    {"min_of", PROMQL_T_MIN_OF},
    {"inf", PROMQL_T_NUMBER},
    {"nan", PROMQL_T_NUMBER},
};

static const char *const fixed_str[] = {
    [PROMQL_T_LEFT_PAREN] = "(",  [PROMQL_T_RIGHT_PAREN] = ")",  [PROMQL_T_LEFT_BRACE] = "{",
    [PROMQL_T_RIGHT_BRACE] = "}", [PROMQL_T_LEFT_BRACKET] = "[", [PROMQL_T_RIGHT_BRACKET] = "]",
    [PROMQL_T_COMMA] = ",",       [PROMQL_T_EQL] = "=",          [PROMQL_T_COLON] = ":",
    [PROMQL_T_ADD] = "+",         [PROMQL_T_SUB] = "-",          [PROMQL_T_MUL] = "*",
    [PROMQL_T_DIV] = "/",         [PROMQL_T_MOD] = "%",          [PROMQL_T_POW] = "^",
    [PROMQL_T_EQLC] = "==",       [PROMQL_T_NEQ] = "!=",         [PROMQL_T_LSS] = "<",
    [PROMQL_T_LTE] = "<=",        [PROMQL_T_GTR] = ">",          [PROMQL_T_GTE] = ">=",
    [PROMQL_T_TRIM_UPPER] = "</", [PROMQL_T_TRIM_LOWER] = ">/",  [PROMQL_T_EQL_REGEX] = "=~",
    [PROMQL_T_NEQ_REGEX] = "!~",  [PROMQL_T_AT] = "@",
};

const char *promql_tok_str(enum promql_tok t)
{
    if ((size_t)t < sizeof fixed_str / sizeof fixed_str[0] && fixed_str[t])
        return fixed_str[t];
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (keywords[i].tok == t && t != PROMQL_T_NUMBER)
            return keywords[i].word;
    return NULL;
}

void promql_lex_init(struct promql_lexer *l, const char *input, uint32_t len)
{
    memset(l, 0, sizeof *l);
    l->in = input;
    l->len = len;
    l->state = PROMQL_LS_STATEMENTS;
}

/* ---- rune primitives (Go's next/peek/backup/accept) ---- */

static int32_t next(struct promql_lexer *l)
{
    if (l->pos >= l->len) {
        l->width = 0;
        return LEX_EOF;
    }
    uint32_t r;
    l->width = (uint32_t)promql_utf8_decode(l->in + l->pos, l->len - l->pos, &r);
    l->pos += l->width;
    return (int32_t)r;
}

static void backup(struct promql_lexer *l)
{
    l->pos -= l->width;
}

static int32_t peek(struct promql_lexer *l)
{
    int32_t r = next(l);
    backup(l);
    return r;
}

static bool in_set(const char *set, int32_t r)
{
    return r > 0 && r < 0x80 && strchr(set, (int)r) != NULL;
}

static bool accept(struct promql_lexer *l, const char *set)
{
    if (in_set(set, next(l)))
        return true;
    backup(l);
    return false;
}

static bool is(struct promql_lexer *l, const char *set)
{
    return in_set(set, peek(l));
}

static void accept_run(struct promql_lexer *l, const char *set)
{
    while (in_set(set, next(l)))
        ;
    backup(l);
}

static bool is_space(int32_t r)
{
    return r == ' ' || r == '\t' || r == '\n' || r == '\r';
}
static bool is_digit(int32_t r)
{
    return r >= '0' && r <= '9';
}
static bool is_alpha(int32_t r)
{
    return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
}
static bool is_alnum(int32_t r)
{
    return is_alpha(r) || is_digit(r);
}

static void emit(struct promql_lexer *l, enum promql_tok t)
{
    l->out->type = t;
    l->out->pos = l->start;
    l->out->len = l->pos - l->start;
    l->start = l->pos;
    l->emitted = true;
}

static void ignore(struct promql_lexer *l)
{
    l->start = l->pos;
}

/* Emits an ERROR token at the current item start; the lexer is done afterwards. */
static enum promql_lex_state errorf(struct promql_lexer *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static enum promql_lex_state errorf(struct promql_lexer *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err, sizeof l->err, fmt, ap);
    va_end(ap);
    l->out->type = PROMQL_T_ERROR;
    l->out->pos = l->start;
    l->out->len = 0;
    l->emitted = true;
    return PROMQL_LS_DONE;
}

/* errorf with one Go-quoted rune (%q) in the message: prefix 'r' suffix. */
static enum promql_lex_state error_rune(struct promql_lexer *l, const char *prefix, int32_t r,
                                        const char *suffix)
{
    struct buf b = BUF_INIT;
    int rc = promql_quote_rune(&b, r);
    if (rc == 0)
        rc = buf_cstr(&b);
    enum promql_lex_state s =
        errorf(l, "%s%s%s", prefix, rc == 0 ? (const char *)b.data : "?", suffix);
    buf_deinit(&b);
    return s;
}

/* errorf with one %#U rune in the message. */
static enum promql_lex_state error_unicode(struct promql_lexer *l, const char *prefix, int32_t r,
                                           const char *suffix)
{
    struct buf b = BUF_INIT;
    int rc = promql_format_unicode(&b, r);
    if (rc == 0)
        rc = buf_cstr(&b);
    enum promql_lex_state s =
        errorf(l, "%s%s%s", prefix, rc == 0 ? (const char *)b.data : "?", suffix);
    buf_deinit(&b);
    return s;
}

/* errorf with the current item text Go-quoted. */
static enum promql_lex_state error_text(struct promql_lexer *l, const char *prefix)
{
    struct buf b = BUF_INIT;
    int rc = promql_quote(&b, l->in + l->start, l->pos - l->start);
    if (rc == 0)
        rc = buf_cstr(&b);
    enum promql_lex_state s = errorf(l, "%s%s", prefix, rc == 0 ? (const char *)b.data : "?");
    buf_deinit(&b);
    return s;
}

/* ---- scanners ---- */

/* Go's scanNumber: decimal, hex, with '.', exponent and '_' rules. The text is checked for a
 * valid value by the parser. */
static bool scan_number(struct promql_lexer *l)
{
    uint32_t initial = l->pos;
    const char *digits = "0123456789";
    bool hex = false;
    if (accept(l, "0") && accept(l, "xX")) {
        accept(l, "_");
        digits = "0123456789abcdefABCDEF";
        hex = true;
    }
    char all[32];
    snprintf(all, sizeof all, "%s._eE", digits);
    accept(l, ".");
    accept(l, digits);
    bool dot = false, exp = false;
    while (is(l, all)) {
        if (is(l, ".") && dot) {
            accept(l, ".");
            return false;
        }
        if (is(l, "eE") && exp) {
            accept(l, "eE");
            return false;
        }
        if (accept(l, ".")) {
            dot = true;
            if (accept(l, "_.") || hex)
                return false;
            continue;
        }
        if (accept(l, "eE")) {
            exp = true;
            accept(l, "+-");
            if (accept(l, "._eE") || peek(l) == LEX_EOF)
                return false;
            continue;
        }
        if (accept(l, "_")) {
            if (accept(l, "._eE") || peek(l) == LEX_EOF)
                return false;
            continue;
        }
        accept_run(l, digits);
    }
    if (l->pos == initial)
        return false;
    return !is_alnum(peek(l));
}

static bool accept_remaining_duration(struct promql_lexer *l)
{
    if (!accept(l, "smhdwy"))
        return false;
    accept(l, "s");
    while (accept(l, "0123456789")) {
        while (accept(l, "0123456789"))
            ;
        if (!accept(l, "smhdw"))
            return false;
        accept(l, "s");
    }
    return !is_alnum(next(l));
}

static enum promql_lex_state lex_number_or_duration(struct promql_lexer *l)
{
    if (scan_number(l)) {
        emit(l, PROMQL_T_NUMBER);
        return PROMQL_LS_STATEMENTS;
    }
    if (accept_remaining_duration(l)) {
        backup(l);
        emit(l, PROMQL_T_DURATION);
        return PROMQL_LS_STATEMENTS;
    }
    return error_text(l, "bad number or duration syntax: ");
}

static bool word_eq(const char *w, size_t n, const char *kw)
{
    if (strlen(kw) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = w[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != kw[i])
            return false;
    }
    return true;
}

static bool lookup_keyword(const char *w, size_t n, enum promql_tok *t)
{
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++) {
        if (word_eq(w, n, keywords[i].word)) {
            *t = keywords[i].tok;
            return true;
        }
    }
    return false;
}

/* step, range, max_of, min_of: the keywords allowed inside a duration expression. */
static bool is_duration_keyword_start(int32_t r)
{
    return r == 's' || r == 'S' || r == 'r' || r == 'R' || r == 'm' || r == 'M';
}

static bool scan_duration_keyword(struct promql_lexer *l)
{
    while (is_alpha(next(l)))
        ;
    backup(l);
    const char *w = l->in + l->start;
    size_t n = l->pos - l->start;
    enum promql_tok t;
    if (lookup_keyword(w, n, &t) && (t == PROMQL_T_STEP || t == PROMQL_T_RANGE ||
                                     t == PROMQL_T_MAX_OF || t == PROMQL_T_MIN_OF)) {
        emit(l, t);
        return true;
    }
    return false;
}

static bool followed_by_left_paren(const struct promql_lexer *l)
{
    for (uint32_t p = l->pos; p < l->len; p++) {
        if (!is_space((unsigned char)l->in[p]))
            return l->in[p] == '(';
    }
    return false;
}

static enum promql_lex_state lex_keyword_or_identifier(struct promql_lexer *l)
{
    int32_t r;
    while ((r = next(l)) != LEX_EOF && (is_alnum(r) || r == ':'))
        ;
    backup(l);
    const char *w = l->in + l->start;
    size_t n = l->pos - l->start;
    enum promql_tok t;
    if (lookup_keyword(w, n, &t)) {
        bool fill = t == PROMQL_T_FILL || t == PROMQL_T_FILL_LEFT || t == PROMQL_T_FILL_RIGHT;
        emit(l, fill && !followed_by_left_paren(l) ? PROMQL_T_IDENTIFIER : t);
    } else {
        emit(l, memchr(w, ':', n) ? PROMQL_T_METRIC_IDENTIFIER : PROMQL_T_IDENTIFIER);
    }
    return PROMQL_LS_STATEMENTS;
}

static void skip_spaces(struct promql_lexer *l)
{
    while (is_space(peek(l)))
        next(l);
    ignore(l);
}

static void lex_line_comment(struct promql_lexer *l)
{
    l->pos++; /* the '#' */
    int32_t r = next(l);
    while (r != '\r' && r != '\n' && r != LEX_EOF)
        r = next(l);
    backup(l);
    emit(l, PROMQL_T_COMMENT);
}

static int digit_val(int32_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 16;
}

/* Validates one escape sequence (the backslash is consumed). Returns true when it is valid. */
static bool lex_escape(struct promql_lexer *l)
{
    int n;
    uint32_t base, max;
    int32_t ch = next(l);
    if (ch == 'a' || ch == 'b' || ch == 'f' || ch == 'n' || ch == 'r' || ch == 't' || ch == 'v' ||
        ch == '\\' || ch == l->string_open)
        return true;
    if (ch >= '0' && ch <= '7') {
        n = 3, base = 8, max = 255;
    } else if (ch == 'x' || ch == 'u' || ch == 'U') {
        n = ch == 'x' ? 2 : ch == 'u' ? 4 : 8;
        base = 16, max = ch == 'x' ? 255 : 0x10ffff;
        ch = next(l);
    } else if (ch == LEX_EOF) {
        errorf(l, "escape sequence not terminated");
        return false;
    } else {
        error_unicode(l, "unknown escape sequence ", ch, "");
        return false;
    }
    uint32_t x = 0;
    while (n > 0) {
        uint32_t d = (uint32_t)digit_val(ch);
        if (d >= base) {
            if (ch == LEX_EOF)
                errorf(l, "escape sequence not terminated");
            else
                error_unicode(l, "illegal character ", ch, " in escape sequence");
            return false;
        }
        x = x * base + d;
        if (--n > 0)
            ch = next(l);
    }
    if (x > max || (x >= 0xd800 && x < 0xe000)) {
        errorf(l, "escape sequence is an invalid Unicode code point");
        return false;
    }
    return true;
}

static enum promql_lex_state lex_string(struct promql_lexer *l)
{
    for (;;) {
        int32_t r = next(l);
        if (r == '\\') {
            if (!lex_escape(l))
                return PROMQL_LS_DONE;
        } else if (r == (int32_t)PROMQL_RUNE_ERROR) {
            return errorf(l, "invalid UTF-8 rune");
        } else if (r == LEX_EOF || r == '\n') {
            return errorf(l, "unterminated quoted string");
        } else if (r == l->string_open) {
            break;
        }
    }
    emit(l, PROMQL_T_STRING);
    return PROMQL_LS_STATEMENTS;
}

static enum promql_lex_state lex_raw_string(struct promql_lexer *l)
{
    for (;;) {
        int32_t r = next(l);
        if (r == (int32_t)PROMQL_RUNE_ERROR)
            return errorf(l, "invalid UTF-8 rune");
        if (r == LEX_EOF)
            return errorf(l, "unterminated raw string");
        if (r == '`')
            break;
    }
    emit(l, PROMQL_T_STRING);
    return PROMQL_LS_STATEMENTS;
}

static enum promql_lex_state open_string(struct promql_lexer *l, int32_t q)
{
    l->string_open = (char)q;
    return q == '`' ? lex_raw_string(l) : lex_string(l);
}

/* ---- states ---- */

static enum promql_lex_state lex_inside_braces(struct promql_lexer *l)
{
    if (l->pos < l->len && l->in[l->pos] == '#') {
        lex_line_comment(l);
        return PROMQL_LS_INSIDE_BRACES;
    }
    int32_t r = next(l);
    if (r == LEX_EOF)
        return errorf(l, "unexpected end of input inside braces");
    if (is_space(r)) {
        skip_spaces(l);
    } else if (is_alpha(r)) {
        while (is_alnum(next(l)))
            ;
        backup(l);
        emit(l, PROMQL_T_IDENTIFIER);
    } else if (r == ',') {
        emit(l, PROMQL_T_COMMA);
    } else if (r == '"' || r == '\'' || r == '`') {
        return open_string(l, r) == PROMQL_LS_DONE ? PROMQL_LS_DONE : PROMQL_LS_INSIDE_BRACES;
    } else if (r == '=') {
        if (next(l) == '~') {
            emit(l, PROMQL_T_EQL_REGEX);
        } else {
            backup(l);
            emit(l, PROMQL_T_EQL);
        }
    } else if (r == '!') {
        int32_t nr = next(l);
        if (nr == '~')
            emit(l, PROMQL_T_NEQ_REGEX);
        else if (nr == '=')
            emit(l, PROMQL_T_NEQ);
        else
            return error_rune(l, "unexpected character after '!' inside braces: ", nr, "");
    } else if (r == '{') {
        return error_rune(l, "unexpected left brace ", r, "");
    } else if (r == '}') {
        emit(l, PROMQL_T_RIGHT_BRACE);
        l->brace_open = false;
        return PROMQL_LS_STATEMENTS;
    } else {
        return error_rune(l, "unexpected character inside braces: ", r, "");
    }
    return PROMQL_LS_INSIDE_BRACES;
}

static enum promql_lex_state lex_duration_expr(struct promql_lexer *l)
{
    static const struct {
        char c;
        enum promql_tok t;
    } ops[] = {{'+', PROMQL_T_ADD}, {'-', PROMQL_T_SUB}, {'*', PROMQL_T_MUL},  {'/', PROMQL_T_DIV},
               {'%', PROMQL_T_MOD}, {'^', PROMQL_T_POW}, {',', PROMQL_T_COMMA}};
    int32_t r = next(l);
    if (r == LEX_EOF)
        return errorf(l, "unexpected end of input in duration expression");
    if (r == ']') {
        emit(l, PROMQL_T_RIGHT_BRACKET);
        l->bracket_open = false;
        l->got_colon = false;
        return PROMQL_LS_STATEMENTS;
    }
    if (r == ':') {
        emit(l, PROMQL_T_COLON);
        if (!l->got_duration)
            return errorf(l, "unexpected colon before duration in duration expression");
        if (l->got_colon)
            return errorf(l, "unexpected repeated colon in duration expression");
        l->got_colon = true;
        return PROMQL_LS_DURATION_EXPR;
    }
    if (r == '(') {
        emit(l, PROMQL_T_LEFT_PAREN);
        l->paren_depth++;
        return PROMQL_LS_DURATION_EXPR;
    }
    if (r == ')') {
        emit(l, PROMQL_T_RIGHT_PAREN);
        if (--l->paren_depth < 0)
            return error_rune(l, "unexpected right parenthesis ", r, "");
        return PROMQL_LS_DURATION_EXPR;
    }
    if (is_space(r)) {
        skip_spaces(l);
        return PROMQL_LS_DURATION_EXPR;
    }
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (r == ops[i].c) {
            emit(l, ops[i].t);
            return PROMQL_LS_DURATION_EXPR;
        }
    }
    if (is_duration_keyword_start(r) && scan_duration_keyword(l))
        return PROMQL_LS_DURATION_EXPR;
    if (is_digit(r) || (r == '.' && is_digit(peek(l)))) {
        backup(l);
        l->got_duration = true;
        return lex_number_or_duration(l);
    }
    return error_rune(l, "unexpected character in duration expression: ", r, "");
}

/* '=', '!', '<', '>' and the single-rune operators. Returns false when r is none of them. */
static bool lex_operator(struct promql_lexer *l, int32_t r, enum promql_lex_state *st)
{
    static const char singles[] = "*/%+-^@,";
    static const enum promql_tok single_tok[] = {PROMQL_T_MUL, PROMQL_T_DIV,  PROMQL_T_MOD,
                                                 PROMQL_T_ADD, PROMQL_T_SUB,  PROMQL_T_POW,
                                                 PROMQL_T_AT,  PROMQL_T_COMMA};
    *st = PROMQL_LS_STATEMENTS;
    const char *s = r > 0 && r < 0x80 ? strchr(singles, (int)r) : NULL;
    if (s && *s) {
        emit(l, single_tok[s - singles]);
    } else if (r == '=') {
        int32_t t = peek(l);
        if (t == '~')
            *st = error_rune(l, "unexpected character after '=': ", t, "");
        else if (t == '=' && next(l))
            emit(l, PROMQL_T_EQLC);
        else
            emit(l, PROMQL_T_EQL);
    } else if (r == '!') {
        int32_t t = next(l);
        if (t != '=')
            *st = error_rune(l, "unexpected character after '!': ", t, "");
        else
            emit(l, PROMQL_T_NEQ);
    } else if (r == '<' || r == '>') {
        bool lt = r == '<';
        int32_t t = peek(l);
        if (t == '=' && next(l))
            emit(l, lt ? PROMQL_T_LTE : PROMQL_T_GTE);
        else if (t == '/' && next(l))
            emit(l, lt ? PROMQL_T_TRIM_UPPER : PROMQL_T_TRIM_LOWER);
        else
            emit(l, lt ? PROMQL_T_LSS : PROMQL_T_GTR);
    } else {
        return false;
    }
    return true;
}

/* An identifier rune inside a range/subquery bracket: ':' or step()/range()/min_of/max_of. */
static enum promql_lex_state lex_in_bracket_word(struct promql_lexer *l, int32_t r)
{
    if (r == ':') {
        if (l->got_colon)
            return error_rune(l, "unexpected colon ", r, "");
        emit(l, PROMQL_T_COLON);
        l->got_colon = true;
        return PROMQL_LS_STATEMENTS;
    }
    if (is_duration_keyword_start(r) && scan_duration_keyword(l))
        return PROMQL_LS_STATEMENTS;
    return error_rune(l, "unexpected character: ", r, ", expected ':'");
}

static enum promql_lex_state lex_brackets_parens(struct promql_lexer *l, int32_t r)
{
    switch (r) {
    case '(':
        emit(l, PROMQL_T_LEFT_PAREN);
        l->paren_depth++;
        return PROMQL_LS_STATEMENTS;
    case ')':
        emit(l, PROMQL_T_RIGHT_PAREN);
        if (--l->paren_depth < 0)
            return error_rune(l, "unexpected right parenthesis ", r, "");
        return PROMQL_LS_STATEMENTS;
    case '{':
        emit(l, PROMQL_T_LEFT_BRACE);
        l->brace_open = true;
        return PROMQL_LS_INSIDE_BRACES;
    case '[':
        if (l->bracket_open)
            return error_rune(l, "unexpected left bracket ", r, "");
        l->got_colon = false;
        emit(l, PROMQL_T_LEFT_BRACKET);
        skip_spaces(l);
        l->bracket_open = true;
        return PROMQL_LS_DURATION_EXPR;
    case ']':
        if (!l->bracket_open)
            return error_rune(l, "unexpected right bracket ", r, "");
        emit(l, PROMQL_T_RIGHT_BRACKET);
        l->bracket_open = false;
        return PROMQL_LS_STATEMENTS;
    default: return error_rune(l, "unexpected character: ", r, "");
    }
}

static enum promql_lex_state lex_statements(struct promql_lexer *l)
{
    if (l->brace_open)
        return PROMQL_LS_INSIDE_BRACES;
    if (l->pos < l->len && l->in[l->pos] == '#') {
        lex_line_comment(l);
        return PROMQL_LS_STATEMENTS;
    }
    int32_t r = next(l);
    enum promql_lex_state st;
    if (r == LEX_EOF) {
        if (l->paren_depth != 0)
            return errorf(l, "unclosed left parenthesis");
        if (l->bracket_open)
            return errorf(l, "unclosed left bracket");
        emit(l, PROMQL_T_EOF);
        return PROMQL_LS_DONE;
    }
    if (is_space(r)) {
        skip_spaces(l);
        return PROMQL_LS_STATEMENTS;
    }
    if (lex_operator(l, r, &st))
        return st;
    if (is_digit(r) || (r == '.' && is_digit(peek(l)))) {
        backup(l);
        return lex_number_or_duration(l);
    }
    if (r == '"' || r == '\'' || r == '`')
        return open_string(l, r);
    if (is_alpha(r) || r == ':') {
        if (l->bracket_open)
            return lex_in_bracket_word(l, r);
        backup(l);
        return lex_keyword_or_identifier(l);
    }
    return lex_brackets_parens(l, r);
}

void promql_lex_next(struct promql_lexer *l, struct promql_token *t)
{
    l->out = t;
    l->emitted = false;
    while (!l->emitted) {
        switch (l->state) {
        case PROMQL_LS_STATEMENTS: l->state = lex_statements(l); break;
        case PROMQL_LS_INSIDE_BRACES: l->state = lex_inside_braces(l); break;
        case PROMQL_LS_DURATION_EXPR: l->state = lex_duration_expr(l); break;
        default:
            l->start = l->pos;
            emit(l, PROMQL_T_EOF);
            break;
        }
    }
}
