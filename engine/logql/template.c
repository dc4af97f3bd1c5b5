/* Go text/template parser for LogQL line_format / label_format (see template.h). The lexer
 * tokenizes the whole template first (Go's lexer stops at the first error, and any error token
 * fails the parse, so this is equivalent); the parser then follows text/template/parse. */
#include "engine/logql/template.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/lex.h"
#include "engine/logql/units.h"
#include "formats/wire/utf8.h"

enum ti {
    TI_EOF,
    TI_ERROR, /* a lexical error: the parser reports it when it gets there, as Go does */
    TI_TEXT,
    TI_LDELIM,
    TI_RDELIM,
    TI_SPACE,
    TI_BOOL,
    TI_CHAR, /* a single printable ASCII character, e.g. ',' */
    TI_CHARCONST,
    TI_COMPLEX,
    TI_ASSIGN,
    TI_DECLARE,
    TI_FIELD,
    TI_IDENT,
    TI_LPAREN,
    TI_RPAREN,
    TI_NUMBER,
    TI_PIPE,
    TI_STRING,
    TI_RAWSTRING,
    TI_VARIABLE,
    /* keywords */
    TI_BLOCK,
    TI_BREAK,
    TI_CONTINUE,
    TI_DOT,
    TI_DEFINE,
    TI_ELSE,
    TI_END,
    TI_IF,
    TI_NIL,
    TI_RANGE,
    TI_TEMPLATE,
    TI_WITH,
};

/* Bound on nested parentheses and on nested if/range/with/block: keeps recursion shallow. */
#define MAX_NESTING 500

struct titem {
    enum ti t;
    size_t pos, len;
    int line;
};

struct tlex {
    const char *s;
    size_t n, pos, start;
    int line;
    int paren;
    struct titem *items;
    size_t n_items, cap;
};

struct tparse {
    struct arena *a;
    const char *lex_err; /* message of the TI_ERROR item */
    const char *name;
    struct tlex *lx;
    size_t i; /* next item */
    struct str *vars;
    size_t n_vars, cap_vars;
    int range_depth;
    int paren_depth;
    int ctrl_depth;
    struct logql_tmpl *tmpl;
    size_t cap_defs;
    char *err;
    size_t err_size;
};

/* ---- lexer ---- */

static bool t_is_space(uint32_t r)
{
    return r == ' ' || r == '\t' || r == '\r' || r == '\n';
}

static bool t_is_alnum(uint32_t r)
{
    return r == '_' || logql_rune_is_letter(r) || logql_rune_is_digit(r);
}

static uint32_t lx_peek_rune(const struct tlex *l, size_t at, size_t *w)
{
    if (at >= l->n) {
        *w = 0;
        return (uint32_t)-1;
    }
    uint32_t r;
    size_t n = wire_utf8_decode((const uint8_t *)l->s + at, l->n - at, &r);
    if (!n) {
        r = 0xfffd;
        n = 1;
    }
    *w = n;
    return r;
}

static int lx_errorf(struct tlex *l, char *err, size_t err_size, const char *name, const char *fmt,
                     ...) __attribute__((format(printf, 5, 6)));

static int lx_errorf(struct tlex *l, char *err, size_t err_size, const char *name, const char *fmt,
                     ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, err_size, "template: %s:%d: %s", name, l->line, msg);
    return ERR_INVALID;
}

static int lx_emit(struct tlex *l, enum ti t)
{
    if (l->n_items == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 32;
        struct titem *ni = realloc(l->items, nc * sizeof *ni);
        if (!ni)
            return ERR_NOMEM;
        l->items = ni;
        l->cap = nc;
    }
    l->items[l->n_items++] = (struct titem){t, l->start, l->pos - l->start, l->line};
    for (size_t k = l->start; k < l->pos; k++)
        l->line += l->s[k] == '\n';
    l->start = l->pos;
    return 0;
}

static void lx_ignore(struct tlex *l)
{
    for (size_t k = l->start; k < l->pos; k++)
        l->line += l->s[k] == '\n';
    l->start = l->pos;
}

static bool has_prefix(const struct tlex *l, size_t at, const char *p)
{
    size_t n = strlen(p);
    return at <= l->n && l->n - at >= n && memcmp(l->s + at, p, n) == 0;
}

static bool left_trim_marker(const struct tlex *l, size_t at)
{
    return at + 2 <= l->n && l->s[at] == '-' && t_is_space((unsigned char)l->s[at + 1]);
}

static bool right_trim_marker(const struct tlex *l, size_t at)
{
    return at + 2 <= l->n && t_is_space((unsigned char)l->s[at]) && l->s[at + 1] == '-';
}

/* At "}}" or " -}}": *trim says which. */
static bool at_right_delim(const struct tlex *l, bool *trim)
{
    *trim = false;
    if (right_trim_marker(l, l->pos) && has_prefix(l, l->pos + 2, "}}")) {
        *trim = true;
        return true;
    }
    return has_prefix(l, l->pos, "}}");
}

static size_t skip_spaces(const struct tlex *l, size_t at)
{
    while (at < l->n && t_is_space((unsigned char)l->s[at]))
        at++;
    return at;
}

static bool at_terminator(const struct tlex *l)
{
    size_t w;
    uint32_t r = lx_peek_rune(l, l->pos, &w);
    if (r == (uint32_t)-1 || t_is_space(r))
        return true;
    return r == '.' || r == ',' || r == '|' || r == ':' || r == ')' || r == '(' || r == '}';
}

struct lx_ctx {
    char *err;
    size_t err_size;
    const char *name;
};

#define LXERR(...) lx_errorf(l, c->err, c->err_size, c->name, __VA_ARGS__)

static void accept_run(struct tlex *l, const char *valid)
{
    while (l->pos < l->n && l->s[l->pos] && strchr(valid, l->s[l->pos]))
        l->pos++;
}

static bool accept(struct tlex *l, const char *valid)
{
    if (l->pos < l->n && l->s[l->pos] && strchr(valid, l->s[l->pos])) {
        l->pos++;
        return true;
    }
    return false;
}

static bool scan_number(struct tlex *l)
{
    accept(l, "+-");
    const char *digits = "0123456789_";
    if (accept(l, "0")) {
        if (accept(l, "xX"))
            digits = "0123456789abcdefABCDEF_";
        else if (accept(l, "oO"))
            digits = "01234567_";
        else if (accept(l, "bB"))
            digits = "01_";
    }
    accept_run(l, digits);
    if (accept(l, "."))
        accept_run(l, digits);
    if (strlen(digits) == 11 && accept(l, "eE")) {
        accept(l, "+-");
        accept_run(l, "0123456789_");
    }
    if (strlen(digits) == 23 && accept(l, "pP")) {
        accept(l, "+-");
        accept_run(l, "0123456789_");
    }
    accept(l, "i");
    size_t w;
    uint32_t r = lx_peek_rune(l, l->pos, &w);
    if (r != (uint32_t)-1 && t_is_alnum(r)) {
        l->pos += w;
        return false;
    }
    return true;
}

static int lex_number(struct tlex *l, const struct lx_ctx *c)
{
    if (!scan_number(l))
        return LXERR("bad number syntax: \"%.*s\"", (int)(l->pos - l->start), l->s + l->start);
    if (l->pos < l->n && (l->s[l->pos] == '+' || l->s[l->pos] == '-')) {
        if (!scan_number(l) || l->s[l->pos - 1] != 'i')
            return LXERR("bad number syntax: \"%.*s\"", (int)(l->pos - l->start), l->s + l->start);
        return lx_emit(l, TI_COMPLEX);
    }
    return lx_emit(l, TI_NUMBER);
}

static int lex_quoted(struct tlex *l, const struct lx_ctx *c, char q, enum ti t, const char *what)
{
    for (;;) {
        if (l->pos >= l->n || (q != '`' && l->s[l->pos] == '\n'))
            return LXERR("unterminated %s", what);
        char ch = l->s[l->pos++];
        if (ch == '\\' && q != '`') {
            if (l->pos >= l->n || l->s[l->pos] == '\n')
                return LXERR("unterminated %s", what);
            size_t w;
            (void)lx_peek_rune(l, l->pos, &w);
            l->pos += w;
        } else if (ch == q) {
            return lx_emit(l, t);
        }
    }
}

static int lex_word(struct tlex *l, const struct lx_ctx *c, enum ti kind)
{
    /* kind: TI_FIELD or TI_VARIABLE (prefix consumed) or TI_IDENT (nothing consumed) */
    if (kind != TI_IDENT && at_terminator(l))
        return lx_emit(l, kind == TI_FIELD ? TI_DOT : TI_VARIABLE);
    size_t w;
    uint32_t r;
    while ((r = lx_peek_rune(l, l->pos, &w)) != (uint32_t)-1 && t_is_alnum(r))
        l->pos += w;
    if (!at_terminator(l))
        return LXERR("bad character U+%04X", r);
    if (kind != TI_IDENT)
        return lx_emit(l, kind);
    static const struct {
        const char *w;
        enum ti t;
    } kw[] = {{"block", TI_BLOCK},
              {"break", TI_BREAK},
              {"continue", TI_CONTINUE},
              {"define", TI_DEFINE},
              {"else", TI_ELSE},
              {"end", TI_END},
              {"if", TI_IF},
              {"nil", TI_NIL},
              {"range", TI_RANGE},
              {"template", TI_TEMPLATE},
              {"with", TI_WITH},
              {"true", TI_BOOL},
              {"false", TI_BOOL}};
    struct str word = {l->s + l->start, l->pos - l->start};
    for (size_t k = 0; k < sizeof kw / sizeof kw[0]; k++)
        if (str_eq_cstr(word, kw[k].w))
            return lx_emit(l, kw[k].t);
    return lx_emit(l, TI_IDENT);
}

static int lex_right_delim(struct tlex *l)
{
    bool trim;
    (void)at_right_delim(l, &trim);
    if (trim) {
        l->pos += 2;
        lx_ignore(l);
    }
    l->pos += 2;
    int rc = lx_emit(l, TI_RDELIM);
    if (trim) {
        l->pos = skip_spaces(l, l->pos);
        lx_ignore(l);
    }
    return rc;
}

/* One token inside an action; *done is set after the right delimiter. */
static int lex_action_token(struct tlex *l, const struct lx_ctx *c, bool *done)
{
    bool trim;
    if (at_right_delim(l, &trim)) {
        if (l->paren != 0)
            return LXERR("unclosed left paren");
        *done = true;
        return lex_right_delim(l);
    }
    size_t w;
    uint32_t r = lx_peek_rune(l, l->pos, &w);
    if (r == (uint32_t)-1)
        return LXERR("unclosed action");
    if (t_is_space(r)) {
        size_t e = skip_spaces(l, l->pos);
        size_t nsp = e - l->pos;
        l->pos = e;
        if (right_trim_marker(l, e - 1) && has_prefix(l, e + 1, "}}")) {
            l->pos = e - 1; /* leave " -}}" for the delimiter */
            if (nsp == 1)
                return 0;
        }
        return lx_emit(l, TI_SPACE);
    }
    l->pos += w;
    switch (r) {
    case '=': return lx_emit(l, TI_ASSIGN);
    case ':':
        if (l->pos >= l->n || l->s[l->pos] != '=')
            return LXERR("expected :=");
        l->pos++;
        return lx_emit(l, TI_DECLARE);
    case '|': return lx_emit(l, TI_PIPE);
    case '"': return lex_quoted(l, c, '"', TI_STRING, "quoted string");
    case '`': return lex_quoted(l, c, '`', TI_RAWSTRING, "raw quoted string");
    case '\'': return lex_quoted(l, c, '\'', TI_CHARCONST, "character constant");
    case '$': return lex_word(l, c, TI_VARIABLE);
    case '(': l->paren++; return lx_emit(l, TI_LPAREN);
    case ')':
        if (--l->paren < 0)
            return LXERR("unexpected right paren");
        return lx_emit(l, TI_RPAREN);
    }
    if (r == '.' && !(l->pos < l->n && l->s[l->pos] >= '0' && l->s[l->pos] <= '9'))
        return lex_word(l, c, TI_FIELD);
    if (r == '.' || r == '+' || r == '-' || (r >= '0' && r <= '9')) {
        l->pos -= w;
        return lex_number(l, c);
    }
    if (t_is_alnum(r)) {
        l->pos -= w;
        return lex_word(l, c, TI_IDENT);
    }
    if (r < 0x80 && r >= 0x20 && r < 0x7f)
        return lx_emit(l, TI_CHAR);
    return LXERR("unrecognized character in action: U+%04X", r);
}

static int lex_text(struct tlex *l, const struct lx_ctx *c, bool *in_action)
{
    const char *x = l->pos < l->n ? memmem(l->s + l->pos, l->n - l->pos, "{{", 2) : NULL;
    int rc = 0;
    if (!x) {
        l->pos = l->n;
        if (l->pos > l->start)
            rc = lx_emit(l, TI_TEXT);
        return rc ? rc : lx_emit(l, TI_EOF);
    }
    l->pos = (size_t)(x - l->s);
    size_t trim = 0;
    if (left_trim_marker(l, l->pos + 2))
        while (l->pos - trim > l->start && t_is_space((unsigned char)l->s[l->pos - trim - 1]))
            trim++;
    l->pos -= trim;
    if (l->pos > l->start && (rc = lx_emit(l, TI_TEXT)))
        return rc;
    l->pos += trim;
    lx_ignore(l);
    /* left delimiter */
    l->pos += 2;
    size_t after = left_trim_marker(l, l->pos) ? 2 : 0;
    if (has_prefix(l, l->pos + after, "/*")) {
        l->pos += after + 2;
        const char *e = l->pos < l->n ? memmem(l->s + l->pos, l->n - l->pos, "*/", 2) : NULL;
        if (!e)
            return LXERR("unclosed comment");
        l->pos = (size_t)(e - l->s) + 2;
        bool t;
        if (!at_right_delim(l, &t))
            return LXERR("comment ends before closing delimiter");
        l->pos += (t ? 2 : 0) + 2;
        if (t)
            l->pos = skip_spaces(l, l->pos);
        lx_ignore(l);
        return 0;
    }
    if ((rc = lx_emit(l, TI_LDELIM)))
        return rc;
    l->pos += after;
    lx_ignore(l);
    l->paren = 0;
    *in_action = true;
    return 0;
}

static int tlex_run(struct tlex *l, const struct lx_ctx *c)
{
    bool in_action = false;
    for (;;) {
        int rc;
        if (in_action) {
            bool done = false;
            rc = lex_action_token(l, c, &done);
            if (done)
                in_action = false;
        } else {
            rc = lex_text(l, c, &in_action);
            if (!rc && l->n_items && l->items[l->n_items - 1].t == TI_EOF)
                return 0;
        }
        if (rc)
            return rc;
    }
}

/* The error item covers nothing; items before it stay as lexed. */
static void l_start_at_error(struct tlex *l)
{
    l->start = l->pos;
}

/* ---- parser helpers ---- */

static const struct titem *tp_item(struct tparse *p, size_t i)
{
    return &p->lx->items[i < p->lx->n_items ? i : p->lx->n_items - 1];
}

static const struct titem *tp_next(struct tparse *p)
{
    return tp_item(p, p->i++);
}

static const struct titem *tp_next_nonspace(struct tparse *p)
{
    const struct titem *it;
    do
        it = tp_next(p);
    while (it->t == TI_SPACE);
    return it;
}

static const struct titem *tp_peek_nonspace(struct tparse *p)
{
    while (tp_item(p, p->i)->t == TI_SPACE)
        p->i++;
    return tp_item(p, p->i);
}

static struct str tp_val(struct tparse *p, const struct titem *it)
{
    return (struct str){p->lx->s + it->pos, it->len};
}

static int tp_errorf(struct tparse *p, const struct titem *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int tp_errorf(struct tparse *p, const struct titem *at, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->err_size, "template: %s:%d: %s", p->name, at ? at->line : 1, msg);
    return ERR_INVALID;
}

static const char *item_desc(struct tparse *p, const struct titem *it, char *buf, size_t n)
{
    struct str v = tp_val(p, it);
    if (it->t == TI_EOF)
        return "EOF";
    if (it->t >= TI_BLOCK)
        snprintf(buf, n, "<%.*s>", (int)v.len, v.ptr);
    else if (v.len > 10)
        snprintf(buf, n, "\"%.10s\"...", v.ptr);
    else
        snprintf(buf, n, "\"%.*s\"", (int)v.len, v.ptr);
    return buf;
}

static int tp_unexpected(struct tparse *p, const struct titem *it, const char *context)
{
    char b[64];
    if (it->t == TI_ERROR) {
        snprintf(p->err, p->err_size, "%s", p->lex_err);
        return ERR_INVALID;
    }
    return tp_errorf(p, it, "unexpected %s in %s", item_desc(p, it, b, sizeof b), context);
}

static void *tp_alloc(struct tparse *p, size_t n)
{
    void *m = arena_alloc(p->a, n);
    if (m)
        memset(m, 0, n);
    return m;
}

/* Appends ptr to a growable arena array (capacity doubles; old storage is left in the arena). */
static int push_ptr(struct tparse *p, void ***arr, size_t *n, void *ptr)
{
    if ((*n & (*n - 1)) == 0) { /* n is 0 or a power of two: grow */
        size_t nc = *n ? *n * 2 : 2;
        void **na = arena_alloc(p->a, nc * sizeof *na);
        if (!na)
            return ERR_NOMEM;
        if (*n)
            memcpy(na, *arr, *n * sizeof *na);
        *arr = na;
    }
    (*arr)[(*n)++] = ptr;
    return 0;
}

static int push_str(struct tparse *p, struct str **arr, size_t *n, struct str s)
{
    if ((*n & (*n - 1)) == 0) {
        size_t nc = *n ? *n * 2 : 2;
        struct str *na = arena_alloc(p->a, nc * sizeof *na);
        if (!na)
            return ERR_NOMEM;
        if (*n)
            memcpy(na, *arr, *n * sizeof *na);
        *arr = na;
    }
    (*arr)[(*n)++] = s;
    return 0;
}

static int list_append(struct tparse *p, struct logql_tmpl_list *l, struct logql_tmpl_node *n)
{
    return push_ptr(p, (void ***)&l->nodes, &l->n, n);
}

static int var_push(struct tparse *p, struct str v)
{
    if (p->n_vars == p->cap_vars) {
        size_t nc = p->cap_vars ? p->cap_vars * 2 : 8;
        struct str *nv = realloc(p->vars, nc * sizeof *nv);
        if (!nv)
            return ERR_NOMEM;
        p->vars = nv;
        p->cap_vars = nc;
    }
    p->vars[p->n_vars++] = v;
    return 0;
}

/* ---- functions known to LogQL templates ---- */

bool logql_tmpl_func_known(struct str name)
{
    static const char *const funcs[] = {
        /* text/template builtins */
        "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf",
        "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne",
        /* Loki */
        "ToLower", "ToUpper", "Replace", "Trim", "TrimLeft", "TrimRight", "TrimPrefix",
        "TrimSuffix", "TrimSpace", "regexReplaceAll", "regexReplaceAllLiteral", "count",
        "urldecode", "urlencode", "bytes", "duration", "duration_seconds", "unixEpochMillis",
        "unixEpochNanos", "toDateInZone", "unixToTime", "alignLeft", "alignRight", "b64dec",
        "__line__", "__timestamp__",
        /* sprig subset */
        "b64enc", "lower", "upper", "title", "trunc", "substr", "contains", "hasPrefix",
        "hasSuffix", "indent", "nindent", "replace", "repeat", "trim", "trimAll", "trimSuffix",
        "trimPrefix", "int", "float64", "add", "sub", "mul", "div", "mod", "addf", "subf", "mulf",
        "divf", "max", "min", "maxf", "minf", "ceil", "floor", "round", "fromJson", "date",
        "toDate", "now", "unixEpoch", "default"};
    for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++)
        if (str_eq_cstr(name, funcs[i]))
            return true;
    return false;
}

/* ---- numbers ---- */

static bool parse_go_uint(struct str t, uint64_t *out)
{
    /* strconv.ParseUint(t, 0, 64): base prefixes, leading-0 octal, underscores */
    const char *s = t.ptr;
    size_t n = t.len, i = 0;
    int base = 10;
    if (n == 0)
        return false;
    if (s[0] == '0' && n > 1) {
        char b = (char)(s[1] | 0x20);
        if (b == 'x' || b == 'o' || b == 'b') {
            base = b == 'x' ? 16 : b == 'o' ? 8 : 2;
            i = 2;
        } else {
            base = 8;
            i = 1;
        }
    }
    uint64_t v = 0;
    bool any = i == 1, under = false;
    for (; i < n; i++) {
        char c = s[i];
        int d;
        if (c == '_') {
            under = true;
            continue;
        }
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
            d = (c | 0x20) - 'a' + 10;
        else
            return false;
        if (d >= base)
            return false;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            return false;
        v = v * (uint64_t)base + (uint64_t)d;
        any = true;
    }
    if (!any)
        return false;
    if (under) {
        /* '_' must separate digits: reject leading, trailing and doubled underscores */
        for (size_t k = 0; k < n; k++)
            if (s[k] == '_' && (k + 1 == n || s[k + 1] == '_' || k == 0))
                return false;
    }
    *out = v;
    return true;
}

static int parse_number(struct tparse *p, const struct titem *it, struct logql_tmpl_number *num)
{
    struct str t = tp_val(p, it);
    memset(num, 0, sizeof *num);
    num->text = t;
    if (it->t == TI_CHARCONST) {
        char buf[16];
        struct str out;
        struct arena *a = p->a;
        if (logql_unquote(a, t, &out, buf, sizeof buf) != 0 || out.len == 0)
            return tp_errorf(p, it, "malformed character constant: %.*s", (int)t.len, t.ptr);
        uint32_t r;
        size_t l = wire_utf8_decode((const uint8_t *)out.ptr, out.len, &r);
        if (!l)
            r = (unsigned char)out.ptr[0], l = 1;
        if (l != out.len)
            return tp_errorf(p, it, "malformed character constant: %.*s", (int)t.len, t.ptr);
        num->is_int = num->is_uint = num->is_float = true;
        num->i = r;
        num->u = r;
        num->f = r;
        return 0;
    }
    bool neg = t.len > 0 && t.ptr[0] == '-';
    struct str body = t;
    if (t.len > 0 && (t.ptr[0] == '-' || t.ptr[0] == '+'))
        body = (struct str){t.ptr + 1, t.len - 1};
    if (it->t == TI_COMPLEX || (t.len > 0 && t.ptr[t.len - 1] == 'i')) {
        num->is_complex = true; /* executed as a complex constant; value not needed for LogQL */
        return 0;
    }
    uint64_t u;
    if (parse_go_uint(body, &u)) {
        if (!neg) {
            num->is_uint = true;
            num->u = u;
        }
        if (neg ? u <= (1ULL << 63) : u <= (uint64_t)INT64_MAX) {
            num->is_int = true;
            num->i = neg ? (u == (1ULL << 63) ? INT64_MIN : -(int64_t)u) : (int64_t)u;
            if (num->i == 0) {
                num->is_uint = true;
                num->u = 0;
            }
        }
        if (num->is_int || num->is_uint) {
            num->is_float = true;
            num->f = num->is_int ? (double)num->i : (double)num->u;
            return 0;
        }
    }
    double f;
    if (logql_parse_float(t, &f) == 0) {
        if (!memchr(t.ptr, '.', t.len) && !memchr(t.ptr, 'e', t.len) &&
            !memchr(t.ptr, 'E', t.len) && !memchr(t.ptr, 'p', t.len) && !memchr(t.ptr, 'P', t.len))
            return tp_errorf(p, it, "integer overflow: %.*s", (int)t.len, t.ptr);
        num->is_float = true;
        num->f = f;
        if (f >= -0x1p63 && f < 0x1p63 && f == (double)(int64_t)f) {
            num->is_int = true;
            num->i = (int64_t)f;
        }
        if (f >= 0 && f < 0x1p64 && f == (double)(uint64_t)f) {
            num->is_uint = true;
            num->u = (uint64_t)f;
        }
        return 0;
    }
    return tp_errorf(p, it, "illegal number syntax: \"%.*s\"", (int)t.len, t.ptr);
}

/* ---- parser ---- */

enum tnode_ret { R_NODE, R_END, R_ELSE };

static int parse_pipeline(struct tparse *p, const char *context, enum ti end,
                          struct logql_tmpl_pipe **out);
static int item_list(struct tparse *p, struct logql_tmpl_list *list, enum tnode_ret *end,
                     const struct titem **end_item);
static int if_control(struct tparse *p, struct logql_tmpl_node **out);
static int with_control(struct tparse *p, struct logql_tmpl_node **out);

static int use_var(struct tparse *p, const struct titem *it, struct logql_tmpl_arg *arg)
{
    struct str v = tp_val(p, it);
    const char *dot = memchr(v.ptr + 1, '.', v.len - 1);
    struct str name = dot ? (struct str){v.ptr, (size_t)(dot - v.ptr)} : v;
    for (size_t k = 0; k < p->n_vars; k++) {
        if (str_eq(p->vars[k], name)) {
            arg->kind = LOGQL_TA_VAR;
            arg->name = name;
            return 0;
        }
    }
    return tp_errorf(p, it, "undefined variable \"%.*s\"", (int)name.len, name.ptr);
}

/* Returns 1 with *out set, 0 when the next item is not a term, <0 on error. */
static int term(struct tparse *p, struct logql_tmpl_arg **out)
{
    *out = NULL; /* set on every path; the term when 1 is returned */
    const struct titem *it = tp_next_nonspace(p);
    struct logql_tmpl_arg *arg = tp_alloc(p, sizeof *arg);
    if (!arg)
        return ERR_NOMEM;
    struct str v = tp_val(p, it);
    int rc = 0;
    switch (it->t) {
    case TI_ERROR: return tp_unexpected(p, it, "");
    case TI_IDENT:
        if (!logql_tmpl_func_known(v))
            return tp_errorf(p, it, "function \"%.*s\" not defined", (int)v.len, v.ptr);
        arg->kind = LOGQL_TA_FUNC;
        arg->name = v;
        break;
    case TI_DOT: arg->kind = LOGQL_TA_DOT; break;
    case TI_NIL: arg->kind = LOGQL_TA_NIL; break;
    case TI_VARIABLE: rc = use_var(p, it, arg); break;
    case TI_FIELD:
        arg->kind = LOGQL_TA_FIELD;
        rc = push_str(p, &arg->fields, &arg->n_fields, (struct str){v.ptr + 1, v.len - 1});
        break;
    case TI_BOOL:
        arg->kind = LOGQL_TA_BOOL;
        arg->b = str_eq_cstr(v, "true");
        break;
    case TI_CHARCONST:
    case TI_COMPLEX:
    case TI_NUMBER:
        arg->kind = LOGQL_TA_NUMBER;
        rc = parse_number(p, it, &arg->num);
        break;
    case TI_LPAREN:
        if (++p->paren_depth > MAX_NESTING) /* Go allows 10000; we keep recursion shallow */
            return tp_errorf(p, it, "max expression depth exceeded");
        arg->kind = LOGQL_TA_PIPE;
        rc = parse_pipeline(p, "parenthesized pipeline", TI_RPAREN, &arg->pipe);
        p->paren_depth--;
        break;
    case TI_STRING:
    case TI_RAWSTRING: {
        char e[128];
        arg->kind = LOGQL_TA_STRING;
        if (logql_unquote(p->a, v, &arg->s, e, sizeof e) != 0)
            return tp_errorf(p, it, "invalid syntax");
        break;
    }
    default: p->i--; return 0;
    }
    if (rc)
        return rc;
    *out = arg;
    return 1;
}

static bool is_chain_base(const struct logql_tmpl_arg *a)
{
    return a->kind == LOGQL_TA_FIELD || a->kind == LOGQL_TA_VAR || a->kind == LOGQL_TA_PIPE ||
           a->kind == LOGQL_TA_FUNC;
}

static int operand(struct tparse *p, struct logql_tmpl_arg **out)
{
    int rc = term(p, out);
    if (rc <= 0)
        return rc;
    struct logql_tmpl_arg *a = *out;
    while (tp_item(p, p->i)->t == TI_FIELD) {
        const struct titem *f = tp_next(p);
        if (!is_chain_base(a)) {
            const char *what = a->kind == LOGQL_TA_DOT   ? "."
                               : a->kind == LOGQL_TA_NIL ? "nil"
                                                         : "value";
            return tp_errorf(p, f, "unexpected . after term \"%s\"", what);
        }
        struct str v = tp_val(p, f);
        if ((rc = push_str(p, &a->fields, &a->n_fields, (struct str){v.ptr + 1, v.len - 1})))
            return rc;
    }
    return 1;
}

static int command(struct tparse *p, struct logql_tmpl_cmd **out)
{
    *out = NULL; /* set on every path; the command on success */
    struct logql_tmpl_cmd *cmd = tp_alloc(p, sizeof *cmd);
    if (!cmd)
        return ERR_NOMEM;
    for (;;) {
        (void)tp_peek_nonspace(p);
        struct logql_tmpl_arg *a;
        int rc = operand(p, &a);
        if (rc < 0)
            return rc;
        if (rc == 1 && (rc = push_ptr(p, (void ***)&cmd->args, &cmd->n_args, a)))
            return rc;
        const struct titem *it = tp_next(p);
        if (it->t == TI_SPACE)
            continue;
        if (it->t == TI_RDELIM || it->t == TI_RPAREN)
            p->i--;
        else if (it->t != TI_PIPE)
            return tp_unexpected(p, it, "operand");
        break;
    }
    if (cmd->n_args == 0)
        return tp_errorf(p, tp_item(p, p->i), "empty command");
    *out = cmd;
    return 0;
}

static int check_pipeline(struct tparse *p, struct logql_tmpl_pipe *pipe, const char *context,
                          const struct titem *at)
{
    if (pipe->n_cmds == 0)
        return tp_errorf(p, at, "missing value for %s", context);
    for (size_t i = 1; i < pipe->n_cmds; i++) {
        enum logql_tmpl_arg_kind k = pipe->cmds[i]->args[0]->kind;
        if (k == LOGQL_TA_BOOL || k == LOGQL_TA_DOT || k == LOGQL_TA_NIL || k == LOGQL_TA_NUMBER ||
            k == LOGQL_TA_STRING)
            return tp_errorf(p, at, "non executable command in pipeline stage %zu", i + 1);
    }
    return 0;
}

/* `$x :=`, `$x =`, `$i, $e :=` at the start of a pipeline. */
static int declarations(struct tparse *p, struct logql_tmpl_pipe *pipe, const char *context)
{
    for (;;) {
        const struct titem *v = tp_peek_nonspace(p);
        if (v->t != TI_VARIABLE)
            return 0;
        size_t at_v = p->i, k = p->i + 1;
        while (tp_item(p, k)->t == TI_SPACE)
            k++;
        const struct titem *nx = tp_item(p, k);
        struct str name = tp_val(p, v);
        int rc;
        if (nx->t == TI_ASSIGN || nx->t == TI_DECLARE) {
            pipe->is_assign = nx->t == TI_ASSIGN;
            p->i = k + 1;
            if ((rc = push_str(p, &pipe->decl, &pipe->n_decl, name)) || (rc = var_push(p, name)))
                return rc;
            return 0;
        }
        if (nx->t == TI_CHAR && tp_val(p, nx).ptr[0] == ',') {
            p->i = k + 1;
            if ((rc = push_str(p, &pipe->decl, &pipe->n_decl, name)) || (rc = var_push(p, name)))
                return rc;
            if (strcmp(context, "range") == 0 && pipe->n_decl < 2) {
                enum ti t = tp_peek_nonspace(p)->t;
                if (t == TI_VARIABLE || t == TI_RDELIM || t == TI_RPAREN)
                    continue;
                return tp_errorf(p, nx, "range can only initialize variables");
            }
            return tp_errorf(p, nx, "too many declarations in %s", context);
        }
        p->i = at_v;
        return 0;
    }
}

static int parse_pipeline(struct tparse *p, const char *context, enum ti end,
                          struct logql_tmpl_pipe **out)
{
    struct logql_tmpl_pipe *pipe = tp_alloc(p, sizeof *pipe);
    if (!pipe)
        return ERR_NOMEM;
    int rc = declarations(p, pipe, context);
    if (rc)
        return rc;
    for (;;) {
        const struct titem *it = tp_next_nonspace(p);
        if (it->t == end) {
            if ((rc = check_pipeline(p, pipe, context, it)))
                return rc;
            *out = pipe;
            return 0;
        }
        switch (it->t) {
        case TI_BOOL:
        case TI_CHARCONST:
        case TI_COMPLEX:
        case TI_DOT:
        case TI_FIELD:
        case TI_IDENT:
        case TI_NUMBER:
        case TI_NIL:
        case TI_RAWSTRING:
        case TI_STRING:
        case TI_VARIABLE:
        case TI_LPAREN: {
            p->i--;
            struct logql_tmpl_cmd *cmd;
            if ((rc = command(p, &cmd)) ||
                (rc = push_ptr(p, (void ***)&pipe->cmds, &pipe->n_cmds, cmd)))
                return rc;
            break;
        }
        default: return tp_unexpected(p, it, context);
        }
    }
}

static int expect(struct tparse *p, enum ti t, const char *context)
{
    const struct titem *it = tp_next_nonspace(p);
    return it->t == t ? 0 : tp_unexpected(p, it, context);
}

static int parse_control(struct tparse *p, const char *context, struct logql_tmpl_node *n)
{
    size_t nvars = p->n_vars;
    if (++p->ctrl_depth > MAX_NESTING)
        return tp_errorf(p, tp_item(p, p->i), "control structures nest too deeply");
    bool is_range = strcmp(context, "range") == 0;
    int rc = parse_pipeline(p, context, TI_RDELIM, &n->pipe);
    if (rc)
        return rc;
    enum tnode_ret end;
    const struct titem *end_item;
    p->range_depth += is_range;
    rc = item_list(p, &n->list, &end, &end_item);
    p->range_depth -= is_range;
    if (rc)
        return rc;
    if (end == R_ELSE) {
        n->has_else = true;
        enum ti nt = tp_item(p, p->i)->t;
        if ((strcmp(context, "if") == 0 && nt == TI_IF) ||
            (strcmp(context, "with") == 0 && nt == TI_WITH)) {
            tp_next(p);
            struct logql_tmpl_node *inner;
            rc = nt == TI_IF ? if_control(p, &inner) : with_control(p, &inner);
            if (rc || (rc = list_append(p, &n->else_list, inner)))
                return rc;
        } else {
            if ((rc = item_list(p, &n->else_list, &end, &end_item)))
                return rc;
            if (end != R_END)
                return tp_errorf(p, end_item, "expected end; found {{else}}");
        }
    }
    p->n_vars = nvars;
    p->ctrl_depth--;
    return 0;
}

static int control(struct tparse *p, enum logql_tmpl_node_kind kind, const char *context,
                   struct logql_tmpl_node **out)
{
    struct logql_tmpl_node *n = tp_alloc(p, sizeof *n);
    if (!n)
        return ERR_NOMEM;
    n->kind = kind;
    int rc = parse_control(p, context, n);
    if (rc)
        return rc;
    *out = n;
    return 0;
}

static int if_control(struct tparse *p, struct logql_tmpl_node **out)
{
    return control(p, LOGQL_TN_IF, "if", out);
}

static int with_control(struct tparse *p, struct logql_tmpl_node **out)
{
    return control(p, LOGQL_TN_WITH, "with", out);
}

static int template_name(struct tparse *p, const char *context, struct str *name)
{
    const struct titem *it = tp_next_nonspace(p);
    char e[64];
    if (it->t != TI_STRING && it->t != TI_RAWSTRING)
        return tp_unexpected(p, it, context);
    if (logql_unquote(p->a, tp_val(p, it), name, e, sizeof e) != 0)
        return tp_errorf(p, it, "invalid syntax");
    return 0;
}

static int add_def(struct tparse *p, struct str name, struct logql_tmpl_list body)
{
    struct logql_tmpl *t = p->tmpl;
    if (t->n_defs == p->cap_defs) {
        size_t nc = p->cap_defs ? p->cap_defs * 2 : 4;
        struct logql_tmpl_def *nd = arena_alloc(p->a, nc * sizeof *nd);
        if (!nd)
            return ERR_NOMEM;
        if (t->n_defs)
            memcpy(nd, t->defs, t->n_defs * sizeof *nd);
        t->defs = nd;
        p->cap_defs = nc;
    }
    t->defs[t->n_defs++] = (struct logql_tmpl_def){name, body};
    return 0;
}

static int block_or_template(struct tparse *p, bool block, struct logql_tmpl_node **out)
{
    const char *context = block ? "block clause" : "template clause";
    struct logql_tmpl_node *n = tp_alloc(p, sizeof *n);
    if (!n)
        return ERR_NOMEM;
    n->kind = LOGQL_TN_TEMPLATE;
    int rc = template_name(p, context, &n->name);
    if (rc)
        return rc;
    if (block) {
        if (++p->ctrl_depth > MAX_NESTING)
            return tp_errorf(p, tp_item(p, p->i), "control structures nest too deeply");
        if ((rc = parse_pipeline(p, context, TI_RDELIM, &n->pipe)))
            return rc;
        struct logql_tmpl_list body = {0};
        enum tnode_ret end;
        const struct titem *end_item;
        if ((rc = item_list(p, &body, &end, &end_item)))
            return rc;
        if (end != R_END)
            return tp_errorf(p, end_item, "unexpected {{else}} in %s", context);
        if ((rc = add_def(p, n->name, body)))
            return rc;
        p->ctrl_depth--;
    } else if (tp_next_nonspace(p)->t != TI_RDELIM) {
        p->i--;
        if ((rc = parse_pipeline(p, context, TI_RDELIM, &n->pipe)))
            return rc;
    }
    *out = n;
    return 0;
}

static int loop_control(struct tparse *p, const struct titem *kw, bool is_break,
                        struct logql_tmpl_node **out)
{
    const char *what = is_break ? "{{break}}" : "{{continue}}";
    const struct titem *it = tp_next_nonspace(p);
    if (it->t != TI_RDELIM)
        return tp_unexpected(p, it, what);
    if (p->range_depth == 0)
        return tp_errorf(p, kw, "%s outside {{range}}", what);
    struct logql_tmpl_node *n = tp_alloc(p, sizeof *n);
    if (!n)
        return ERR_NOMEM;
    n->kind = is_break ? LOGQL_TN_BREAK : LOGQL_TN_CONTINUE;
    *out = n;
    return 0;
}

/* After {{: a control keyword or a pipeline. */
static int action(struct tparse *p, struct logql_tmpl_node **out, enum tnode_ret *ret)
{
    const struct titem *it = tp_next_nonspace(p);
    *ret = R_NODE;
    switch (it->t) {
    case TI_BLOCK: return block_or_template(p, true, out);
    case TI_TEMPLATE: return block_or_template(p, false, out);
    case TI_BREAK: return loop_control(p, it, true, out);
    case TI_CONTINUE: return loop_control(p, it, false, out);
    case TI_IF: return if_control(p, out);
    case TI_RANGE: return control(p, LOGQL_TN_RANGE, "range", out);
    case TI_WITH: return with_control(p, out);
    case TI_END: *ret = R_END; return expect(p, TI_RDELIM, "end");
    case TI_ELSE: {
        *ret = R_ELSE;
        enum ti nt = tp_peek_nonspace(p)->t;
        if (nt == TI_IF || nt == TI_WITH)
            return 0;
        return expect(p, TI_RDELIM, "else");
    }
    default: break;
    }
    p->i--;
    struct logql_tmpl_node *n = tp_alloc(p, sizeof *n);
    if (!n)
        return ERR_NOMEM;
    n->kind = LOGQL_TN_ACTION;
    int rc = parse_pipeline(p, "command", TI_RDELIM, &n->pipe);
    if (rc)
        return rc;
    *out = n;
    return 0;
}

static int text_or_action(struct tparse *p, struct logql_tmpl_node **out, enum tnode_ret *ret)
{
    const struct titem *it = tp_next_nonspace(p);
    *ret = R_NODE;
    if (it->t == TI_TEXT) {
        struct logql_tmpl_node *n = tp_alloc(p, sizeof *n);
        if (!n)
            return ERR_NOMEM;
        n->kind = LOGQL_TN_TEXT;
        n->text = tp_val(p, it);
        *out = n;
        return 0;
    }
    if (it->t == TI_LDELIM)
        return action(p, out, ret);
    return tp_unexpected(p, it, "input");
}

static int item_list(struct tparse *p, struct logql_tmpl_list *list, enum tnode_ret *end,
                     const struct titem **end_item)
{
    while (tp_peek_nonspace(p)->t != TI_EOF) {
        *end_item = tp_item(p, p->i);
        struct logql_tmpl_node *n = NULL;
        int rc = text_or_action(p, &n, end);
        if (rc)
            return rc;
        if (*end != R_NODE)
            return 0;
        if ((rc = list_append(p, list, n)))
            return rc;
    }
    return tp_errorf(p, tp_item(p, p->i), "unexpected EOF");
}

static int parse_definition(struct tparse *p)
{
    struct str name;
    int rc = template_name(p, "define clause", &name);
    if (rc || (rc = expect(p, TI_RDELIM, "define clause")))
        return rc;
    struct logql_tmpl_list body = {0};
    enum tnode_ret end;
    const struct titem *end_item;
    if ((rc = item_list(p, &body, &end, &end_item)))
        return rc;
    if (end != R_END)
        return tp_errorf(p, end_item, "unexpected {{else}} in define clause");
    return add_def(p, name, body);
}

static int parse_top(struct tparse *p)
{
    while (tp_item(p, p->i)->t != TI_EOF) {
        const struct titem *it = tp_item(p, p->i);
        if (it->t == TI_LDELIM) {
            size_t save = p->i;
            p->i++;
            if (tp_next_nonspace(p)->t == TI_DEFINE) {
                int rc = parse_definition(p);
                if (rc)
                    return rc;
                continue;
            }
            p->i = save;
        }
        struct logql_tmpl_node *n = NULL;
        enum tnode_ret ret;
        int rc = text_or_action(p, &n, &ret);
        if (rc)
            return rc;
        if (ret != R_NODE)
            return tp_errorf(p, it, "unexpected %s", ret == R_END ? "{{end}}" : "{{else}}");
        if ((rc = list_append(p, &p->tmpl->root, n)))
            return rc;
    }
    return 0;
}

int logql_tmpl_parse(struct arena *a, const char *name, struct str src, struct logql_tmpl **out,
                     char *err, size_t err_size)
{
    struct tlex lx = {.s = src.ptr ? src.ptr : "", .n = src.len, .line = 1};
    char lex_err[256] = "";
    struct lx_ctx c = {lex_err, sizeof lex_err, name};
    int rc = tlex_run(&lx, &c);
    if (rc == ERR_INVALID) {
        l_start_at_error(&lx);
        rc = lx_emit(&lx, TI_ERROR);
    }
    struct tparse p = {
        .a = a, .name = name, .lx = &lx, .lex_err = lex_err, .err = err, .err_size = err_size};
    if (rc == 0 && !(p.tmpl = tp_alloc(&p, sizeof *p.tmpl)))
        rc = ERR_NOMEM;
    if (rc == 0)
        rc = var_push(&p, (struct str){"$", 1});
    if (rc == 0)
        rc = parse_top(&p);
    free(lx.items);
    free(p.vars);
    if (rc == 0)
        *out = p.tmpl;
    return rc;
}
