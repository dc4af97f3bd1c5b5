/* PromQL parser: recursive descent with precedence climbing over the lexer's tokens, building the
 * AST of ast.h. Grammar and error behaviour follow Prometheus 3.x's generated_parser.y: postfix
 * modifiers ([range], [range:step], offset, @, anchored, smoothed) bind to the closest operand,
 * unary minus binds like '*' (so -a^b is -(a^b)), '^' is right-associative, and syntax errors are
 * reported for the current token within the innermost construct that has an error rule. */
#include "engine/promql/parse_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "base/error.h"
#include "engine/promql/quote.h"

const struct promql_parse_opts promql_parse_opts_all = {true, true, true, true};

enum {
    PREC_LOWEST = 1,
    PREC_OR = 1,
    PREC_AND = 2,
    PREC_CMP = 3,
    PREC_ADD = 4,
    PREC_MUL = 5,
    PREC_POW = 6,
};

static struct promql_node *parse_expr(struct promql_parser *p, int min_prec);
static struct promql_node *parse_dexpr(struct promql_parser *p, int min_prec);

/* ---- errors ---- */

static void fmt_go_float(struct buf *b, double v)
{
    if (isnan(v))
        buf_append_str(b, "NaN");
    else if (isinf(v))
        buf_append_str(b, v > 0 ? "+Inf" : "-Inf");
    else
        buf_printf(b, "%f", v);
}

static void vformat(struct buf *b, const char *fmt, va_list ap)
{
    for (const char *f = fmt; *f; f++) {
        if (*f != '%' || !f[1]) {
            buf_append_u8(b, (uint8_t)*f);
            continue;
        }
        f++;
        if (*f == 's') {
            buf_append_str(b, va_arg(ap, const char *));
        } else if (*f == 'd') {
            buf_printf(b, "%d", va_arg(ap, int));
        } else if (*f == 'q') {
            const char *s = va_arg(ap, const char *);
            size_t n = va_arg(ap, size_t);
            promql_quote(b, s, n);
        } else if (*f == 'f') {
            fmt_go_float(b, va_arg(ap, double));
        } else {
            buf_append_u8(b, (uint8_t)*f);
        }
    }
}

void promql_failf(struct promql_parser *p, uint32_t start, uint32_t end, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    vformat(&b, fmt, ap);
    va_end(ap);
    size_t n = b.len < sizeof p->err->msg - 1 ? b.len : sizeof p->err->msg - 1;
    if (n)
        memcpy(p->err->msg, b.data, n);
    p->err->msg[n] = 0;
    buf_deinit(&b);
    p->err->pos_start = start;
    p->err->pos_end = end < start ? start : end;
    p->rc = ERR_INVALID;
    longjmp(p->jmp, 1);
}

void promql_fail_nomem(struct promql_parser *p)
{
    snprintf(p->err->msg, sizeof p->err->msg, "out of memory");
    p->rc = ERR_NOMEM;
    longjmp(p->jmp, 1);
}

/* ---- tokens ---- */

static void fill(struct promql_parser *p, int i)
{
    while (p->ntok <= i) {
        struct promql_token *t = &p->tok[p->ntok];
        do
            promql_lex_next(&p->lex, t);
        while (t->type == PROMQL_T_COMMENT);
        if (t->type == PROMQL_T_ERROR)
            promql_failf(p, t->pos, p->len, "%s", p->lex.err);
        p->ntok++;
    }
}

static const struct promql_token *peek(struct promql_parser *p)
{
    fill(p, 0);
    return &p->tok[0];
}

static const struct promql_token *peek2(struct promql_parser *p)
{
    fill(p, 1);
    return &p->tok[1];
}

static enum promql_tok peek_type(struct promql_parser *p)
{
    return peek(p)->type;
}

static struct promql_token advance(struct promql_parser *p)
{
    fill(p, 0);
    struct promql_token t = p->tok[0];
    p->tok[0] = p->tok[1];
    p->ntok--;
    p->last_end = t.pos + t.len;
    return t;
}

static uint32_t tok_end(const struct promql_token *t)
{
    return t->pos + t->len;
}

/* Go's Item.String(): how a token is named in "unexpected ..." messages. */
static void tok_string(struct buf *b, const struct promql_parser *p, const struct promql_token *t)
{
    const char *v = p->in + t->pos;
    size_t n = t->len;
    if (t->type == PROMQL_T_EOF) {
        buf_append_str(b, "EOF");
    } else if (t->type == PROMQL_T_IDENTIFIER || t->type == PROMQL_T_METRIC_IDENTIFIER) {
        promql_quote(b, v, n);
    } else if (promql_tok_is_keyword(t->type)) {
        buf_printf(b, "<%.*s>", (int)n, v);
    } else if (promql_tok_is_operator(t->type)) {
        buf_printf(b, "<op:%.*s>", (int)n, v);
    } else if (promql_tok_is_aggregator(t->type)) {
        buf_printf(b, "<aggr:%.*s>", (int)n, v);
    } else if (n > 10) {
        promql_quote_prefix(b, v, n, 10);
        buf_append_str(b, "...");
    } else {
        promql_quote(b, v, n);
    }
}

/* Go's Item.desc(). */
static void tok_desc(struct buf *b, const struct promql_parser *p, const struct promql_token *t)
{
    static const char *const kind[] = {[PROMQL_T_COMMENT] = "comment",
                                       [PROMQL_T_IDENTIFIER] = "identifier",
                                       [PROMQL_T_METRIC_IDENTIFIER] = "metric identifier",
                                       [PROMQL_T_STRING] = "string",
                                       [PROMQL_T_NUMBER] = "number",
                                       [PROMQL_T_DURATION] = "duration"};
    if (t->type == PROMQL_T_EOF) {
        buf_append_str(b, "end of input");
        return;
    }
    if (!promql_tok_str(t->type) && (size_t)t->type < sizeof kind / sizeof kind[0] &&
        kind[t->type]) {
        buf_append_str(b, kind[t->type]);
        buf_append_u8(b, ' ');
    }
    tok_string(b, p, t);
}

static _Noreturn void unexpected_in(struct promql_parser *p, const char *context,
                                    const char *expected)
{
    const struct promql_token *t = peek(p);
    struct buf b = BUF_INIT;
    buf_append_str(&b, "unexpected ");
    tok_desc(&b, p, t);
    if (context)
        buf_printf(&b, " in %s", context);
    if (expected)
        buf_printf(&b, ", expected %s", expected);
    buf_cstr(&b);
    char msg[sizeof p->err->msg];
    snprintf(msg, sizeof msg, "%s", b.data ? (const char *)b.data : "unexpected token");
    buf_deinit(&b);
    promql_failf(p, t->pos, tok_end(t), "%s", msg);
}

static _Noreturn void unexpected(struct promql_parser *p)
{
    unexpected_in(p, p->ctx.context, p->ctx.expected);
}

static struct promql_token expect(struct promql_parser *p, enum promql_tok type)
{
    if (peek_type(p) != type)
        unexpected(p);
    return advance(p);
}

static void enter(struct promql_parser *p)
{
    if (++p->depth > PROMQL_DEPTH_MAX) {
        const struct promql_token *t = peek(p);
        promql_failf(p, t->pos, tok_end(t), "query is nested too deeply (more than %d levels)",
                     PROMQL_DEPTH_MAX);
    }
}

/* ---- allocation ---- */

static void *palloc(struct promql_parser *p, size_t n)
{
    void *m = arena_alloc(&p->ast->arena, n ? n : 1);
    if (!m)
        promql_fail_nomem(p);
    memset(m, 0, n);
    return m;
}

static struct str pstrdup(struct promql_parser *p, const char *s, size_t n)
{
    char *c = arena_dup(&p->ast->arena, s, n, 1);
    if (!c)
        promql_fail_nomem(p);
    return (struct str){c, n};
}

/* Returns an arena array with room for more than len items of elem bytes (growing *cap). */
static void *vec_grow(struct promql_parser *p, void *data, uint32_t len, uint32_t *cap, size_t elem)
{
    if (len < *cap)
        return data;
    uint32_t nc = *cap ? *cap * 2 : 4;
    void *nd = palloc(p, elem * nc);
    if (len)
        memcpy(nd, data, elem * len);
    *cap = nc;
    return nd;
}

static struct promql_node *new_node(struct promql_parser *p, enum promql_kind kind,
                                    enum promql_vtype type, uint32_t start, uint32_t end)
{
    struct promql_node *n = palloc(p, sizeof *n);
    n->kind = kind;
    n->type = type;
    n->pos_start = start;
    n->pos_end = end;
    n->height = 1;
    return n;
}

/* Sets n's height from its children (NULLs ignored), bounded by PROMQL_DEPTH_MAX. */
static void set_height(struct promql_parser *p, struct promql_node *n, const struct promql_node *a,
                       const struct promql_node *b, const struct promql_node *c)
{
    unsigned h = n->height - 1u;
    const struct promql_node *kids[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (kids[i] && kids[i]->height > h)
            h = kids[i]->height;
    if (h + 1 > PROMQL_DEPTH_MAX)
        promql_failf(p, n->pos_start, n->pos_end,
                     "query is nested too deeply (more than %d levels)", PROMQL_DEPTH_MAX);
    n->height = (uint16_t)(h + 1);
}

/* ---- literals ---- */

/* Go's strconv.ParseInt(s, 0, 64) on the digits (underscores removed). */
static bool go_parse_int(const char *s, size_t n, int64_t *out)
{
    unsigned base = 10;
    size_t i = 0;
    if (n >= 1 && s[0] == '0') {
        if (n >= 3 && (s[1] == 'x' || s[1] == 'X'))
            base = 16, i = 2;
        else
            base = 8, i = 1;
    }
    uint64_t v = 0;
    for (; i < n; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 99;
        if (d >= base)
            return false;
        if (v > (UINT64_MAX - d) / base)
            return false;
        v = v * base + d;
    }
    if (v > (uint64_t)INT64_MAX || (n == 0))
        return false;
    *out = (int64_t)v;
    return true;
}

/* The parser's number(): ParseInt(s, 0, 64), else ParseFloat(s, 64). Returns NULL or a Go error
 * suffix ("invalid syntax", "value out of range"). */
static const char *go_parse_number(const char *s, size_t n, double *out)
{
    char tmp[512];
    char *c = n < sizeof tmp ? tmp : malloc(n + 1);
    if (!c)
        return "invalid syntax";
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '_')
            c[m++] = s[i];
    c[m] = 0;
    const char *err = NULL;
    int64_t iv;
    if (go_parse_int(c, m, &iv)) {
        *out = (double)iv;
    } else if (m >= 2 && c[0] == '0' && (c[1] == 'x' || c[1] == 'X')) {
        err = "invalid syntax"; /* a hex float needs a 'p' exponent, which never lexes */
    } else if (!strcasecmp(c, "inf") || !strcasecmp(c, "infinity")) {
        *out = INFINITY;
    } else if (!strcasecmp(c, "nan")) {
        *out = NAN;
    } else {
        char *end;
        errno = 0;
        *out = strtod(c, &end);
        if (end != c + m || m == 0 || !((c[0] >= '0' && c[0] <= '9') || c[0] == '.'))
            err = "invalid syntax";
        else if (isinf(*out))
            err = "value out of range";
    }
    if (c != tmp)
        free(c);
    return err;
}

/* model.ParseDuration: digits+unit groups, largest unit first; nanoseconds in *ns. Returns 0 or
 * -1 with the Go error message in msg. */
static int go_parse_duration(struct promql_parser *p, const char *s, size_t n, uint64_t *ns,
                             uint32_t start, uint32_t end)
{
    static const struct {
        const char *u;
        uint64_t mult;
    } units[] = {{"y", 365ull * 86400 * 1000000000ull},
                 {"w", 7ull * 86400 * 1000000000ull},
                 {"d", 86400ull * 1000000000ull},
                 {"h", 3600ull * 1000000000ull},
                 {"m", 60ull * 1000000000ull},
                 {"s", 1000000000ull},
                 {"ms", 1000000ull}};
    *ns = 0;
    if (n == 1 && s[0] == '0')
        return 0;
    size_t i = 0, last = 0;
    while (i < n) {
        size_t d0 = i;
        uint64_t v = 0;
        bool over = false;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            over |= v > (UINT64_MAX - 9) / 10;
            v = v * 10 + (uint64_t)(s[i++] - '0');
        }
        size_t u0 = i;
        while (i < n && !(s[i] >= '0' && s[i] <= '9'))
            i++;
        if (d0 == u0 || over || u0 == i)
            promql_failf(p, start, end, "not a valid duration string: %q", s, n);
        size_t k = 0;
        while (k < 7 && !(strlen(units[k].u) == i - u0 && !memcmp(units[k].u, s + u0, i - u0)))
            k++;
        if (k == 7)
            promql_failf(p, start, end, "unknown unit %q in duration %q", s + u0, i - u0, s, n);
        if (k + 1 <= last)
            promql_failf(p, start, end, "not a valid duration string: %q", s, n);
        last = k + 1;
        if (v > (1ull << 63) / units[k].mult || (*ns += v * units[k].mult) > (uint64_t)INT64_MAX)
            promql_failf(p, start, end, "duration out of range");
    }
    return 0;
}

static struct promql_node *number_literal(struct promql_parser *p)
{
    struct promql_token t = advance(p);
    const char *s = p->in + t.pos;
    struct promql_node *n = new_node(p, PROMQL_NUMBER, PROMQL_VT_SCALAR, t.pos, tok_end(&t));
    if (t.type == PROMQL_T_DURATION) {
        uint64_t ns;
        go_parse_duration(p, s, t.len, &ns, t.pos, tok_end(&t));
        n->number.val = (double)(ns / 1000000000ull) + (double)(ns % 1000000000ull) / 1e9;
        n->number.duration = true;
        return n;
    }
    const char *err = go_parse_number(s, t.len, &n->number.val);
    if (err)
        promql_failf(p, t.pos, tok_end(&t),
                     "error parsing number: strconv.ParseFloat: parsing %q: %s", s, (size_t)t.len,
                     err);
    return n;
}

static void unquote_tok(struct promql_parser *p, const struct promql_token *t, struct str *out)
{
    struct buf b = BUF_INIT;
    int rc = promql_unquote(p->in + t->pos, t->len, &b);
    if (rc == ERR_NOMEM) {
        buf_deinit(&b);
        promql_fail_nomem(p);
    }
    if (rc) {
        buf_deinit(&b);
        promql_failf(p, t->pos, tok_end(t), "error unquoting string %q: invalid syntax",
                     p->in + t->pos, (size_t)t->len);
    }
    *out = pstrdup(p, b.len ? (const char *)b.data : "", b.len);
    buf_deinit(&b);
}

static struct promql_node *string_literal(struct promql_parser *p)
{
    struct promql_token t = advance(p);
    struct promql_node *n = new_node(p, PROMQL_STRING, PROMQL_VT_STRING, t.pos, tok_end(&t));
    unquote_tok(p, &t, &n->string);
    return n;
}

/* ---- label lists: by/without/on/ignoring/group_x ---- */

/* Tokens usable as a label name in a grouping list (Prometheus's maybe_label). */
static bool is_label_token(enum promql_tok t)
{
    switch (t) {
    case PROMQL_T_IDENTIFIER:
    case PROMQL_T_METRIC_IDENTIFIER:
    case PROMQL_T_LAND:
    case PROMQL_T_LOR:
    case PROMQL_T_LUNLESS:
    case PROMQL_T_ATAN2:
    case PROMQL_T_START:
    case PROMQL_T_END:
    case PROMQL_T_STEP:
    case PROMQL_T_RANGE:
    case PROMQL_T_MAX_OF:
    case PROMQL_T_MIN_OF: return true;
    case PROMQL_T_WITHOUT: return false;
    default: return promql_tok_is_aggregator(t) || promql_tok_is_keyword(t);
    }
}

static struct str grouping_label(struct promql_parser *p)
{
    const struct promql_token *t = peek(p);
    if (is_label_token(t->type)) {
        struct promql_token k = advance(p);
        return pstrdup(p, p->in + k.pos, k.len);
    }
    if (t->type != PROMQL_T_STRING)
        unexpected_in(p, "grouping opts", "label");
    struct promql_token k = advance(p);
    struct str s;
    unquote_tok(p, &k, &s);
    if (s.len == 0 || !promql_utf8_valid(s.ptr, s.len))
        promql_failf(p, k.pos, tok_end(&k), "invalid label name for grouping: %q", s.ptr, s.len);
    return s;
}

/* "(" [label {"," label} [","]] ")". Returns the end offset of ")". */
static uint32_t grouping_labels(struct promql_parser *p, struct promql_labels *out)
{
    uint32_t cap = 0;
    out->names = NULL;
    out->len = 0;
    if (peek_type(p) != PROMQL_T_LEFT_PAREN)
        unexpected_in(p, "grouping opts", "\"(\"");
    advance(p);
    if (peek_type(p) != PROMQL_T_RIGHT_PAREN) {
        for (;;) {
            struct str name = grouping_label(p);
            out->names = vec_grow(p, out->names, out->len, &cap, sizeof name);
            out->names[out->len++] = name;
            enum promql_tok t = peek_type(p);
            if (t == PROMQL_T_COMMA) {
                advance(p);
                if (peek_type(p) == PROMQL_T_RIGHT_PAREN)
                    break;
                continue;
            }
            if (t != PROMQL_T_RIGHT_PAREN)
                unexpected_in(p, "grouping opts", "\",\" or \")\"");
            break;
        }
    }
    struct promql_token rp = advance(p);
    return tok_end(&rp);
}

/* ---- vector selectors ---- */

static bool is_match_op(enum promql_tok t, enum matcher_type *mt)
{
    switch (t) {
    case PROMQL_T_EQL: *mt = MATCHER_EQ; return true;
    case PROMQL_T_NEQ: *mt = MATCHER_NEQ; return true;
    case PROMQL_T_EQL_REGEX: *mt = MATCHER_RE; return true;
    case PROMQL_T_NEQ_REGEX: *mt = MATCHER_NRE; return true;
    default: return false;
    }
}

static void add_matcher(struct promql_parser *p, struct promql_node *vs, uint32_t *cap,
                        enum matcher_type mt, struct str name, struct str value, uint32_t start,
                        uint32_t end)
{
    vs->vs.matchers = vec_grow(p, vs->vs.matchers, vs->vs.nmatchers, cap, sizeof *vs->vs.matchers);
    struct matcher *m = &vs->vs.matchers[vs->vs.nmatchers];
    char msg[256];
    int rc = matcher_init(m, mt, name, value, msg, sizeof msg);
    if (rc == ERR_NOMEM)
        promql_fail_nomem(p);
    if (rc)
        promql_failf(p, start, end, "%s", msg);
    vs->vs.nmatchers++; /* counted once initialised: destroy never sees a half-built one */
}

/* One matcher inside braces: name op "value", "name" op "value", or "metric name". */
static void label_matcher(struct promql_parser *p, struct promql_node *vs, uint32_t *cap)
{
    struct promql_token nt = *peek(p);
    if (nt.type != PROMQL_T_IDENTIFIER && nt.type != PROMQL_T_STRING)
        unexpected_in(p, "label matching", "identifier or \"}\"");
    advance(p);
    struct str name;
    if (nt.type == PROMQL_T_STRING)
        unquote_tok(p, &nt, &name);
    else
        name = pstrdup(p, p->in + nt.pos, nt.len);
    enum matcher_type mt;
    if (!is_match_op(peek_type(p), &mt)) {
        if (nt.type == PROMQL_T_IDENTIFIER)
            unexpected_in(p, "label matching", "label matching operator");
        add_matcher(p, vs, cap, MATCHER_EQ, STR_LIT("__name__"), name, nt.pos, tok_end(&nt));
        return;
    }
    advance(p);
    if (peek_type(p) != PROMQL_T_STRING)
        unexpected_in(p, "label matching", "string");
    struct promql_token vt = advance(p);
    struct str value;
    unquote_tok(p, &vt, &value);
    add_matcher(p, vs, cap, mt, name, value, nt.pos, tok_end(&vt));
}

/* "{" [matcher {"," matcher} [","]] "}". Returns the end offset of "}". */
static uint32_t label_matchers(struct promql_parser *p, struct promql_node *vs, uint32_t *cap)
{
    advance(p); /* { */
    for (;;) {
        if (peek_type(p) == PROMQL_T_RIGHT_BRACE)
            break;
        label_matcher(p, vs, cap);
        enum promql_tok t = peek_type(p);
        if (t == PROMQL_T_COMMA) {
            advance(p);
            continue;
        }
        if (t != PROMQL_T_RIGHT_BRACE)
            unexpected_in(p, "label matching", "\",\" or \"}\"");
    }
    struct promql_token rb = advance(p);
    return tok_end(&rb);
}

static struct promql_node *vector_selector(struct promql_parser *p, bool named)
{
    const struct promql_token *t = peek(p);
    struct promql_node *n =
        new_node(p, PROMQL_VECTOR_SELECTOR, PROMQL_VT_VECTOR, t->pos, tok_end(t));
    n->vs.next_selector = p->ast->selectors; /* chained first: destroy frees its matchers */
    p->ast->selectors = n;
    uint32_t cap = 0;
    if (named) {
        struct promql_token nt = advance(p);
        n->vs.name = pstrdup(p, p->in + nt.pos, nt.len);
    }
    if (peek_type(p) == PROMQL_T_LEFT_BRACE)
        n->pos_end = label_matchers(p, n, &cap);
    if (named)
        add_matcher(p, n, &cap, MATCHER_EQ, STR_LIT("__name__"), n->vs.name, n->pos_start,
                    n->pos_end);
    return n;
}

/* ---- calls and aggregations ---- */

static bool starts_expr(enum promql_tok t)
{
    switch (t) {
    case PROMQL_T_NUMBER:
    case PROMQL_T_DURATION:
    case PROMQL_T_STRING:
    case PROMQL_T_LEFT_PAREN:
    case PROMQL_T_LEFT_BRACE:
    case PROMQL_T_ADD:
    case PROMQL_T_SUB:
    case PROMQL_T_IDENTIFIER:
    case PROMQL_T_METRIC_IDENTIFIER:
    case PROMQL_T_BY:
    case PROMQL_T_WITHOUT:
    case PROMQL_T_LAND:
    case PROMQL_T_LOR:
    case PROMQL_T_LUNLESS:
    case PROMQL_T_OFFSET:
    case PROMQL_T_FILL:
    case PROMQL_T_FILL_LEFT:
    case PROMQL_T_FILL_RIGHT:
    case PROMQL_T_ANCHORED:
    case PROMQL_T_SMOOTHED:
    case PROMQL_T_START:
    case PROMQL_T_END:
    case PROMQL_T_STEP:
    case PROMQL_T_RANGE:
    case PROMQL_T_MAX_OF:
    case PROMQL_T_MIN_OF: return true;
    default: return promql_tok_is_aggregator(t);
    }
}

/* "(" [expr {"," expr}] ")": arguments of a call or aggregation. Returns the end of ")". */
static uint32_t call_body(struct promql_parser *p, struct promql_node ***args, uint32_t *nargs)
{
    uint32_t cap = 0;
    *args = NULL;
    *nargs = 0;
    expect(p, PROMQL_T_LEFT_PAREN);
    if (peek_type(p) != PROMQL_T_RIGHT_PAREN) {
        for (;;) {
            struct promql_node *e = parse_expr(p, PREC_LOWEST);
            *args = vec_grow(p, *args, *nargs, &cap, sizeof e);
            (*args)[(*nargs)++] = e;
            enum promql_tok t = peek_type(p);
            if (t == PROMQL_T_RIGHT_PAREN)
                break;
            if (t != PROMQL_T_COMMA)
                unexpected(p);
            struct promql_token comma = advance(p);
            if (!starts_expr(peek_type(p)))
                promql_failf(p, comma.pos, tok_end(&comma),
                             "trailing commas not allowed in function call args");
        }
    }
    struct promql_token rp = advance(p);
    return tok_end(&rp);
}

static struct promql_node *function_call(struct promql_parser *p)
{
    struct promql_token nt = advance(p);
    struct promql_node **args;
    uint32_t nargs;
    uint32_t end = call_body(p, &args, &nargs);
    const struct promql_func *fn = promql_func_lookup(p->in + nt.pos, nt.len);
    if (!fn)
        promql_failf(p, nt.pos, tok_end(&nt), "unknown function with name %q", p->in + nt.pos,
                     (size_t)nt.len);
    if (fn->experimental && !p->opts->experimental_functions)
        promql_failf(p, nt.pos, tok_end(&nt), "function %q is not enabled", p->in + nt.pos,
                     (size_t)nt.len);
    struct promql_node *n = new_node(p, PROMQL_CALL, fn->ret, nt.pos, end);
    n->call.func = fn;
    n->call.args = args;
    n->call.nargs = nargs;
    for (uint32_t i = 0; i < nargs; i++)
        set_height(p, n, args[i], NULL, NULL);
    return n;
}

static enum promql_aggop agg_op(enum promql_tok t)
{
    static const enum promql_tok toks[] = {
        PROMQL_T_SUM,    PROMQL_T_AVG,        PROMQL_T_COUNT,        PROMQL_T_MIN,
        PROMQL_T_MAX,    PROMQL_T_GROUP,      PROMQL_T_STDDEV,       PROMQL_T_STDVAR,
        PROMQL_T_TOPK,   PROMQL_T_BOTTOMK,    PROMQL_T_COUNT_VALUES, PROMQL_T_QUANTILE,
        PROMQL_T_LIMITK, PROMQL_T_LIMIT_RATIO};
    for (size_t i = 0; i < sizeof toks / sizeof toks[0]; i++)
        if (toks[i] == t)
            return (enum promql_aggop)i;
    return PROMQL_AGG_SUM;
}

static void agg_args(struct promql_parser *p, struct promql_node *n, struct promql_node **args,
                     uint32_t nargs)
{
    enum promql_aggop op = n->agg.op;
    if (nargs == 0)
        promql_failf(p, n->pos_start, n->pos_end, "no arguments for aggregate expression provided");
    int want = 1;
    if (promql_aggop_has_param(op)) {
        if ((op == PROMQL_AGG_LIMITK || op == PROMQL_AGG_LIMIT_RATIO) &&
            !p->opts->experimental_functions)
            promql_failf(p, n->pos_start, n->pos_end,
                         "%s() is experimental and must be enabled with "
                         "--enable-feature=promql-experimental-functions",
                         promql_aggop_str(op));
        want = 2;
        n->agg.param = args[0];
    }
    if ((int)nargs != want)
        promql_failf(p, n->pos_start, n->pos_end,
                     "wrong number of arguments for aggregate expression provided, expected %d, "
                     "got %d",
                     want, (int)nargs);
    n->agg.expr = args[want - 1];
    set_height(p, n, n->agg.expr, n->agg.param, NULL);
}

static struct promql_node *aggregation(struct promql_parser *p)
{
    struct promql_token op = advance(p);
    struct promql_node *n = new_node(p, PROMQL_AGGREGATE, PROMQL_VT_VECTOR, op.pos, tok_end(&op));
    n->agg.op = agg_op(op.type);
    struct promql_err_ctx saved = p->ctx;
    p->ctx = (struct promql_err_ctx){"aggregation", NULL};
    bool have_mod = false;
    enum promql_tok t = peek_type(p);
    if (t == PROMQL_T_BY || t == PROMQL_T_WITHOUT) {
        advance(p);
        n->agg.without = t == PROMQL_T_WITHOUT;
        grouping_labels(p, &n->agg.grouping);
        have_mod = true;
    }
    struct promql_node **args;
    uint32_t nargs;
    n->pos_end = call_body(p, &args, &nargs);
    p->ctx = saved;
    t = peek_type(p);
    if (!have_mod && (t == PROMQL_T_BY || t == PROMQL_T_WITHOUT)) {
        advance(p);
        n->agg.without = t == PROMQL_T_WITHOUT;
        n->pos_end = grouping_labels(p, &n->agg.grouping);
    }
    agg_args(p, n, args, nargs);
    return n;
}

/* ---- binary operators ---- */

static int binop_prec(enum promql_tok t)
{
    switch (t) {
    case PROMQL_T_LOR: return PREC_OR;
    case PROMQL_T_LAND:
    case PROMQL_T_LUNLESS: return PREC_AND;
    case PROMQL_T_EQLC:
    case PROMQL_T_NEQ:
    case PROMQL_T_LTE:
    case PROMQL_T_LSS:
    case PROMQL_T_GTE:
    case PROMQL_T_GTR:
    case PROMQL_T_TRIM_UPPER:
    case PROMQL_T_TRIM_LOWER: return PREC_CMP;
    case PROMQL_T_ADD:
    case PROMQL_T_SUB: return PREC_ADD;
    case PROMQL_T_MUL:
    case PROMQL_T_DIV:
    case PROMQL_T_MOD:
    case PROMQL_T_ATAN2: return PREC_MUL;
    case PROMQL_T_POW: return PREC_POW;
    default: return 0;
    }
}

static enum promql_binop binop_of(enum promql_tok t)
{
    switch (t) {
    case PROMQL_T_ADD: return PROMQL_OP_ADD;
    case PROMQL_T_SUB: return PROMQL_OP_SUB;
    case PROMQL_T_MUL: return PROMQL_OP_MUL;
    case PROMQL_T_DIV: return PROMQL_OP_DIV;
    case PROMQL_T_MOD: return PROMQL_OP_MOD;
    case PROMQL_T_POW: return PROMQL_OP_POW;
    case PROMQL_T_ATAN2: return PROMQL_OP_ATAN2;
    case PROMQL_T_EQLC: return PROMQL_OP_EQ;
    case PROMQL_T_NEQ: return PROMQL_OP_NE;
    case PROMQL_T_GTR: return PROMQL_OP_GT;
    case PROMQL_T_LSS: return PROMQL_OP_LT;
    case PROMQL_T_GTE: return PROMQL_OP_GE;
    case PROMQL_T_LTE: return PROMQL_OP_LE;
    case PROMQL_T_TRIM_UPPER: return PROMQL_OP_TRIM_UPPER;
    case PROMQL_T_TRIM_LOWER: return PROMQL_OP_TRIM_LOWER;
    case PROMQL_T_LAND: return PROMQL_OP_AND;
    case PROMQL_T_LOR: return PROMQL_OP_OR;
    default: return PROMQL_OP_UNLESS;
    }
}

/* "(" ["+"|"-"] number ")" after fill/fill_left/fill_right. */
static double fill_value(struct promql_parser *p)
{
    expect(p, PROMQL_T_LEFT_PAREN);
    bool neg = false;
    enum promql_tok t = peek_type(p);
    if (t == PROMQL_T_ADD || t == PROMQL_T_SUB) {
        neg = t == PROMQL_T_SUB;
        advance(p);
        t = peek_type(p);
    }
    if (t != PROMQL_T_NUMBER && t != PROMQL_T_DURATION)
        unexpected(p);
    double v = number_literal(p)->number.val;
    expect(p, PROMQL_T_RIGHT_PAREN);
    return neg ? -v : v;
}

static void fill_modifiers(struct promql_parser *p, struct promql_vector_matching *m)
{
    enum promql_tok t = peek_type(p);
    if (t == PROMQL_T_FILL) {
        advance(p);
        m->fill_lhs = m->fill_rhs = true;
        m->fill_lhs_val = m->fill_rhs_val = fill_value(p);
        return;
    }
    for (int i = 0; i < 2 && (t == PROMQL_T_FILL_LEFT || t == PROMQL_T_FILL_RIGHT); i++) {
        bool left = t == PROMQL_T_FILL_LEFT;
        if (left ? m->fill_lhs : m->fill_rhs)
            return; /* a repeated modifier starts the right operand (and fails there) */
        advance(p);
        double v = fill_value(p);
        if (left)
            m->fill_lhs = true, m->fill_lhs_val = v;
        else
            m->fill_rhs = true, m->fill_rhs_val = v;
        t = peek_type(p);
    }
}

/* [bool] [on|ignoring (labels) [group_left|group_right [(labels)]]] [fill modifiers]. */
static void bin_modifiers(struct promql_parser *p, struct promql_binary *b)
{
    struct promql_vector_matching *m = &b->matching;
    m->card = PROMQL_CARD_ONE_TO_ONE;
    if (peek_type(p) == PROMQL_T_BOOL) {
        advance(p);
        b->return_bool = true;
    }
    enum promql_tok t = peek_type(p);
    if (t == PROMQL_T_ON || t == PROMQL_T_IGNORING) {
        advance(p);
        m->on = t == PROMQL_T_ON;
        grouping_labels(p, &m->matching);
        t = peek_type(p);
        if (t == PROMQL_T_GROUP_LEFT || t == PROMQL_T_GROUP_RIGHT) {
            advance(p);
            m->card = t == PROMQL_T_GROUP_LEFT ? PROMQL_CARD_MANY_TO_ONE : PROMQL_CARD_ONE_TO_MANY;
            if (peek_type(p) == PROMQL_T_LEFT_PAREN)
                grouping_labels(p, &m->include);
        }
    }
    fill_modifiers(p, m);
}

static struct promql_node *make_binary(struct promql_parser *p, struct promql_token op,
                                       struct promql_node *lhs, struct promql_node *rhs,
                                       const struct promql_binary *mods)
{
    enum promql_vtype t = lhs->type == PROMQL_VT_SCALAR && rhs->type == PROMQL_VT_SCALAR
                              ? PROMQL_VT_SCALAR
                              : PROMQL_VT_VECTOR;
    struct promql_node *n = new_node(p, PROMQL_BINARY, t, lhs->pos_start, rhs->pos_end);
    n->bin = *mods;
    n->bin.op = binop_of(op.type);
    n->bin.lhs = lhs;
    n->bin.rhs = rhs;
    n->bin.op_pos = op.pos;
    set_height(p, n, lhs, rhs, NULL);
    if (!p->opts->fill_modifiers && (mods->matching.fill_lhs || mods->matching.fill_rhs))
        promql_failf(p, n->pos_start, n->pos_end,
                     "binop fill modifiers are experimental and not enabled");
    return n;
}

/* ---- duration expressions ([range:step] and offset) ---- */

static bool duration_out_of_range(double v)
{
    return v > 9223372036.854775807 || v < -9223372036.854775808 || isnan(v);
}

static void check_duration_literal(struct promql_parser *p, const struct promql_node *n,
                                   uint32_t start, uint32_t end)
{
    if (duration_out_of_range(n->number.val))
        promql_failf(p, start, end, "duration out of range");
}

static void experimental_duration(struct promql_parser *p, const struct promql_node *n)
{
    if (!p->opts->duration_expr)
        promql_failf(p, n->pos_start, n->pos_end,
                     "experimental duration expression is not enabled");
}

static struct promql_node *dur_node(struct promql_parser *p, enum promql_durop op,
                                    struct promql_node *lhs, struct promql_node *rhs,
                                    uint32_t start, uint32_t end)
{
    struct promql_node *n = new_node(p, PROMQL_DURATION_EXPR, PROMQL_VT_SCALAR, start, end);
    n->dur.op = op;
    n->dur.lhs = lhs;
    n->dur.rhs = rhs;
    set_height(p, n, lhs, rhs, NULL);
    return n;
}

static struct promql_node *dur_literal(struct promql_parser *p)
{
    struct promql_node *n = number_literal(p);
    check_duration_literal(p, n, n->pos_start, n->pos_end);
    return n;
}

/* Parenthesised: a duration expression gets its wrapped flag; a literal becomes a wrapped
 * unary plus, so the printer reproduces the parentheses. */
static struct promql_node *wrap_paren(struct promql_parser *p, struct promql_node *e,
                                      uint32_t start, uint32_t end)
{
    experimental_duration(p, e);
    if (e->kind == PROMQL_DURATION_EXPR) {
        e->dur.wrapped = true;
        return e;
    }
    struct promql_node *n = dur_node(p, PROMQL_DUR_ADD, NULL, e, start, end);
    n->dur.wrapped = true;
    return n;
}

static struct promql_node *apply_unary_dur(struct promql_parser *p, struct promql_token sign,
                                           struct promql_node *e)
{
    bool neg = sign.type == PROMQL_T_SUB;
    if (e->kind == PROMQL_NUMBER) {
        if (neg)
            e->number.val = -e->number.val;
        check_duration_literal(p, e, sign.pos, tok_end(&sign));
        e->pos_start = sign.pos;
        return e;
    }
    if (!neg)
        return e;
    return dur_node(p, PROMQL_DUR_SUB, NULL, e, sign.pos, e->pos_end);
}

/* step() or range(). */
static struct promql_node *dur_step_range(struct promql_parser *p)
{
    struct promql_token t = advance(p);
    expect(p, PROMQL_T_LEFT_PAREN);
    struct promql_token rp = expect(p, PROMQL_T_RIGHT_PAREN);
    struct promql_node *n =
        dur_node(p, t.type == PROMQL_T_STEP ? PROMQL_DUR_STEP : PROMQL_DUR_RANGE, NULL, NULL, t.pos,
                 tok_end(&rp));
    experimental_duration(p, n);
    return n;
}

/* min_of(a, b) or max_of(a, b). */
static struct promql_node *dur_min_max(struct promql_parser *p)
{
    struct promql_token t = advance(p);
    expect(p, PROMQL_T_LEFT_PAREN);
    struct promql_node *a = parse_dexpr(p, PREC_LOWEST);
    expect(p, PROMQL_T_COMMA);
    struct promql_node *b = parse_dexpr(p, PREC_LOWEST);
    struct promql_token rp = expect(p, PROMQL_T_RIGHT_PAREN);
    struct promql_node *n =
        dur_node(p, t.type == PROMQL_T_MIN_OF ? PROMQL_DUR_MIN_OF : PROMQL_DUR_MAX_OF, a, b, t.pos,
                 tok_end(&rp));
    experimental_duration(p, n);
    return n;
}

static struct promql_node *dur_paren(struct promql_parser *p)
{
    struct promql_token lp = advance(p);
    struct promql_node *e = parse_dexpr(p, PREC_LOWEST);
    struct promql_token rp = expect(p, PROMQL_T_RIGHT_PAREN);
    return wrap_paren(p, e, lp.pos, tok_end(&rp));
}

static int dur_prec(enum promql_tok t);

static struct promql_node *dexpr_primary(struct promql_parser *p)
{
    switch (peek_type(p)) {
    case PROMQL_T_ADD:
    case PROMQL_T_SUB: {
        struct promql_token sign = advance(p);
        /* the operand takes '^' (duration precedence 3) but nothing looser: -2 ^ 2 is -(2 ^ 2) */
        return apply_unary_dur(p, sign, parse_dexpr(p, dur_prec(PROMQL_T_POW)));
    }
    case PROMQL_T_NUMBER:
    case PROMQL_T_DURATION: return dur_literal(p);
    case PROMQL_T_STEP:
    case PROMQL_T_RANGE: return dur_step_range(p);
    case PROMQL_T_MIN_OF:
    case PROMQL_T_MAX_OF: return dur_min_max(p);
    case PROMQL_T_LEFT_PAREN: return dur_paren(p);
    default: unexpected(p);
    }
}

static int dur_prec(enum promql_tok t)
{
    switch (t) {
    case PROMQL_T_ADD:
    case PROMQL_T_SUB: return 1;
    case PROMQL_T_MUL:
    case PROMQL_T_DIV:
    case PROMQL_T_MOD: return 2;
    case PROMQL_T_POW: return 3;
    default: return 0;
    }
}

static struct promql_node *dur_binary(struct promql_parser *p, struct promql_token op,
                                      struct promql_node *lhs, struct promql_node *rhs)
{
    static const enum promql_durop ops[] = {
        [PROMQL_T_ADD] = PROMQL_DUR_ADD, [PROMQL_T_SUB] = PROMQL_DUR_SUB,
        [PROMQL_T_MUL] = PROMQL_DUR_MUL, [PROMQL_T_DIV] = PROMQL_DUR_DIV,
        [PROMQL_T_MOD] = PROMQL_DUR_MOD, [PROMQL_T_POW] = PROMQL_DUR_POW};
    experimental_duration(p, lhs);
    bool zero = rhs->kind == PROMQL_NUMBER && rhs->number.val == 0;
    if (zero && (op.type == PROMQL_T_DIV || op.type == PROMQL_T_MOD))
        promql_failf(p, op.pos, tok_end(&op),
                     op.type == PROMQL_T_DIV ? "division by zero" : "modulo by zero");
    return dur_node(p, ops[op.type], lhs, rhs, lhs->pos_start, rhs->pos_end);
}

/* Duration expression with +, -, *, /, %, ^ (right-assoc), unary signs binding like '*'. */
static struct promql_node *parse_dexpr(struct promql_parser *p, int min_prec)
{
    enter(p);
    struct promql_node *lhs = dexpr_primary(p);
    for (;;) {
        enum promql_tok t = peek_type(p);
        int prec = dur_prec(t);
        if (!prec || prec < min_prec)
            break;
        struct promql_token op = advance(p);
        struct promql_node *rhs = parse_dexpr(p, t == PROMQL_T_POW ? prec : prec + 1);
        lhs = dur_binary(p, op, lhs, rhs);
    }
    p->depth--;
    return lhs;
}

/* A range or step inside brackets: a duration expression; a literal must be > 0. */
static struct promql_node *positive_dexpr(struct promql_parser *p)
{
    struct promql_node *d = parse_dexpr(p, PREC_LOWEST);
    if (d->kind == PROMQL_NUMBER && !(d->number.val > 0) && !isnan(d->number.val))
        promql_failf(p, d->pos_start, d->pos_end, "duration must be greater than 0");
    return d;
}

/* The operand of offset. Binary duration operators after a literal, a signed form, step(),
 * range() or min_of/max_of() belong to the enclosing expression (foo offset 1m + 1 is
 * (foo offset 1m) + 1); only an unsigned parenthesised operand continues as a duration
 * expression, as in Prometheus's grammar. */
static struct promql_node *offset_operand(struct promql_parser *p)
{
    enum promql_tok t = peek_type(p);
    if (t == PROMQL_T_LEFT_PAREN)
        return parse_dexpr(p, PREC_LOWEST);
    if (t == PROMQL_T_NUMBER || t == PROMQL_T_DURATION)
        return dur_literal(p);
    if (t == PROMQL_T_STEP || t == PROMQL_T_RANGE)
        return dur_step_range(p);
    if (t == PROMQL_T_MIN_OF || t == PROMQL_T_MAX_OF)
        return dur_min_max(p);
    if (t != PROMQL_T_ADD && t != PROMQL_T_SUB)
        unexpected(p);
    enum promql_tok t2 = peek2(p)->type;
    if (t2 == PROMQL_T_ADD || t2 == PROMQL_T_SUB)
        return parse_dexpr(p, PREC_LOWEST);
    struct promql_token sign = advance(p);
    struct promql_node *e;
    if (t2 == PROMQL_T_NUMBER || t2 == PROMQL_T_DURATION) {
        e = number_literal(p);
        if (sign.type == PROMQL_T_SUB)
            e->number.val = -e->number.val;
        check_duration_literal(p, e, sign.pos, tok_end(&sign));
        e->pos_start = sign.pos;
        return e;
    }
    if (t2 == PROMQL_T_STEP || t2 == PROMQL_T_RANGE)
        e = dur_step_range(p);
    else if (t2 == PROMQL_T_MIN_OF || t2 == PROMQL_T_MAX_OF)
        e = dur_min_max(p);
    else if (t2 == PROMQL_T_LEFT_PAREN)
        return apply_unary_dur(p, sign, dur_paren(p));
    else
        unexpected(p);
    return dur_node(p, sign.type == PROMQL_T_SUB ? PROMQL_DUR_SUB : PROMQL_DUR_ADD, NULL, e,
                    sign.pos, e->pos_end);
}

/* Seconds (as written) to milliseconds the way Prometheus converts: round to nanoseconds, then
 * truncate to milliseconds. */
static int64_t seconds_to_ms(double s)
{
    if (isnan(s))
        return 0;
    double ns = round(s * 1e9);
    if (ns >= 9.2233720368547758e18)
        return INT64_MAX / 1000000;
    if (ns <= -9.2233720368547758e18)
        return INT64_MIN / 1000000;
    return (int64_t)ns / 1000000;
}

/* ---- postfix modifiers ---- */

static const char *const msg_offset_target = "offset modifier must be preceded by an instant "
                                             "vector selector or range vector selector or a "
                                             "subquery";
static const char *const msg_at_target = "@ modifier must be preceded by an instant vector "
                                         "selector or range vector selector or a subquery";

static struct promql_node *apply_offset(struct promql_parser *p, struct promql_node *e)
{
    advance(p); /* offset */
    struct promql_err_ctx saved = p->ctx;
    p->ctx = (struct promql_err_ctx){"offset", "number, duration, step(), or range()"};
    struct promql_node *d = offset_operand(p);
    p->ctx = saved;
    int64_t *ms;
    struct promql_node **expr;
    if (e->kind == PROMQL_VECTOR_SELECTOR || e->kind == PROMQL_MATRIX_SELECTOR) {
        struct promql_node *vs = e->kind == PROMQL_MATRIX_SELECTOR ? e->ms.vs : e;
        ms = &vs->vs.offset_ms, expr = &vs->vs.offset_expr;
    } else if (e->kind == PROMQL_SUBQUERY) {
        ms = &e->sq.offset_ms, expr = &e->sq.offset_expr;
    } else {
        promql_failf(p, e->pos_start, e->pos_end, "%s", msg_offset_target);
    }
    if (*ms != 0 || *expr)
        promql_failf(p, e->pos_start, e->pos_end, "offset may not be set multiple times");
    if (d->kind == PROMQL_NUMBER)
        *ms = seconds_to_ms(d->number.val);
    else
        *expr = d;
    e->pos_end = p->last_end;
    return e;
}

static struct promql_at *at_target(struct promql_parser *p, struct promql_node *e)
{
    struct promql_at *at;
    if (e->kind == PROMQL_VECTOR_SELECTOR)
        at = &e->vs.at;
    else if (e->kind == PROMQL_MATRIX_SELECTOR)
        at = &e->ms.vs->vs.at;
    else if (e->kind == PROMQL_SUBQUERY)
        at = &e->sq.at;
    else
        promql_failf(p, e->pos_start, e->pos_end, "%s", msg_at_target);
    if (at->kind != PROMQL_AT_NONE)
        promql_failf(p, e->pos_start, e->pos_end, "@ <timestamp> may not be set multiple times");
    return at;
}

static struct promql_node *apply_at(struct promql_parser *p, struct promql_node *e)
{
    advance(p); /* @ */
    struct promql_err_ctx saved = p->ctx;
    p->ctx = (struct promql_err_ctx){"@", "timestamp"};
    enum promql_tok t = peek_type(p);
    if (t == PROMQL_T_START || t == PROMQL_T_END) {
        advance(p);
        expect(p, PROMQL_T_LEFT_PAREN);
        expect(p, PROMQL_T_RIGHT_PAREN);
        p->ctx = saved;
        at_target(p, e)->kind = t == PROMQL_T_START ? PROMQL_AT_START : PROMQL_AT_END;
        e->pos_end = p->last_end;
        return e;
    }
    bool neg = false;
    if (t == PROMQL_T_ADD || t == PROMQL_T_SUB) {
        neg = t == PROMQL_T_SUB;
        advance(p);
        t = peek_type(p);
    }
    if (t != PROMQL_T_NUMBER && t != PROMQL_T_DURATION)
        unexpected(p);
    double ts = number_literal(p)->number.val;
    ts = neg ? -ts : ts;
    p->ctx = saved;
    if (isnan(ts) || isinf(ts) || ts >= 9.2233720368547758e18 || ts <= -9.2233720368547758e18)
        promql_failf(p, e->pos_start, e->pos_end, "timestamp out of bounds for @ modifier: %f", ts);
    struct promql_at *at = at_target(p, e);
    at->kind = PROMQL_AT_TIMESTAMP;
    double ms = round(ts * 1000.0);
    at->ts_ms = ms >= 9.2233720368547758e18    ? INT64_MAX
                : ms <= -9.2233720368547758e18 ? INT64_MIN
                                               : (int64_t)ms;
    e->pos_end = p->last_end;
    return e;
}

static struct promql_node *apply_extended(struct promql_parser *p, struct promql_node *e)
{
    struct promql_token t = advance(p);
    bool anchored = t.type == PROMQL_T_ANCHORED;
    const char *what = anchored ? "anchored" : "smoothed";
    if (!p->opts->extended_range_selectors)
        promql_failf(p, e->pos_start, e->pos_end, "%s modifier is experimental and not enabled",
                     what);
    struct promql_node *vs = e->kind == PROMQL_MATRIX_SELECTOR ? e->ms.vs : e;
    if (e->kind == PROMQL_SUBQUERY)
        promql_failf(p, e->pos_start, e->pos_end, "%s modifier is not supported for subqueries",
                     what);
    if (vs->kind != PROMQL_VECTOR_SELECTOR)
        promql_failf(p, e->pos_start, e->pos_end, "%s modifier not implemented", what);
    if (anchored)
        vs->vs.anchored = true;
    else
        vs->vs.smoothed = true;
    if (vs->vs.anchored && vs->vs.smoothed)
        promql_failf(p, e->pos_start, e->pos_end,
                     "anchored and smoothed modifiers cannot be used together");
    return e;
}

static struct promql_node *matrix_selector(struct promql_parser *p, struct promql_node *e,
                                           struct promql_token lb, struct promql_node *range,
                                           struct promql_token rb)
{
    const char *msg = NULL;
    if (e->kind != PROMQL_VECTOR_SELECTOR)
        msg = "ranges only allowed for vector selectors";
    else if (e->vs.offset_ms != 0 || e->vs.offset_expr)
        msg = "no offset modifiers allowed before range";
    else if (e->vs.at.kind != PROMQL_AT_NONE)
        msg = "no @ modifiers allowed before range";
    if (msg)
        promql_failf(p, lb.pos, tok_end(&rb), "%s", msg);
    struct promql_node *n =
        new_node(p, PROMQL_MATRIX_SELECTOR, PROMQL_VT_MATRIX, e->pos_start, tok_end(&rb));
    n->ms.vs = e;
    if (range->kind == PROMQL_NUMBER)
        n->ms.range_ms = seconds_to_ms(range->number.val);
    else
        n->ms.range_expr = range;
    set_height(p, n, e, range, NULL);
    return n;
}

static struct promql_node *subquery(struct promql_parser *p, struct promql_node *e,
                                    struct promql_node *range, struct promql_node *step,
                                    struct promql_token rb)
{
    struct promql_node *n =
        new_node(p, PROMQL_SUBQUERY, PROMQL_VT_MATRIX, e->pos_start, tok_end(&rb));
    n->sq.expr = e;
    if (range->kind == PROMQL_NUMBER)
        n->sq.range_ms = seconds_to_ms(range->number.val);
    else
        n->sq.range_expr = range;
    if (step && step->kind == PROMQL_NUMBER)
        n->sq.step_ms = seconds_to_ms(step->number.val);
    else
        n->sq.step_expr = step;
    set_height(p, n, e, range, step);
    return n;
}

/* "[" range "]" or "[" range ":" [step] "]" after an operand. */
static struct promql_node *apply_brackets(struct promql_parser *p, struct promql_node *e)
{
    struct promql_token lb = advance(p);
    struct promql_err_ctx saved = p->ctx;
    p->ctx = (struct promql_err_ctx){"subquery or range selector",
                                     "number, duration, step(), or range()"};
    struct promql_node *range = positive_dexpr(p);
    enum promql_tok t = peek_type(p);
    if (t == PROMQL_T_RIGHT_BRACKET) {
        p->ctx = saved;
        return matrix_selector(p, e, lb, range, advance(p));
    }
    if (t != PROMQL_T_COLON)
        unexpected_in(p, "subquery or range", "\":\" or \"]\"");
    advance(p);
    p->ctx =
        (struct promql_err_ctx){"subquery selector", "number, duration, step(), range(), or \"]\""};
    struct promql_node *step = NULL;
    if (peek_type(p) != PROMQL_T_RIGHT_BRACKET) {
        step = positive_dexpr(p);
        p->ctx = (struct promql_err_ctx){"subquery selector", "\"]\""};
    }
    struct promql_token rb = expect(p, PROMQL_T_RIGHT_BRACKET);
    p->ctx = saved;
    return subquery(p, e, range, step, rb);
}

static struct promql_node *postfix(struct promql_parser *p, struct promql_node *e)
{
    for (;;) {
        switch (peek_type(p)) {
        case PROMQL_T_LEFT_BRACKET: e = apply_brackets(p, e); break;
        case PROMQL_T_OFFSET: e = apply_offset(p, e); break;
        case PROMQL_T_AT: e = apply_at(p, e); break;
        case PROMQL_T_ANCHORED:
        case PROMQL_T_SMOOTHED: e = apply_extended(p, e); break;
        default: return e;
        }
    }
}

/* ---- expressions ---- */

static struct promql_node *paren_expr(struct promql_parser *p)
{
    struct promql_token lp = advance(p);
    struct promql_node *inner = parse_expr(p, PREC_LOWEST);
    struct promql_token rp = expect(p, PROMQL_T_RIGHT_PAREN);
    struct promql_node *n = new_node(p, PROMQL_PAREN, inner->type, lp.pos, tok_end(&rp));
    n->paren = inner;
    set_height(p, n, inner, NULL, NULL);
    return n;
}

static struct promql_node *primary(struct promql_parser *p)
{
    enum promql_tok t = peek_type(p);
    switch (t) {
    case PROMQL_T_NUMBER:
    case PROMQL_T_DURATION: return number_literal(p);
    case PROMQL_T_STRING: return string_literal(p);
    case PROMQL_T_LEFT_PAREN: return paren_expr(p);
    case PROMQL_T_LEFT_BRACE: return vector_selector(p, false);
    case PROMQL_T_IDENTIFIER:
    case PROMQL_T_START:
    case PROMQL_T_END:
    case PROMQL_T_STEP:
    case PROMQL_T_RANGE:
    case PROMQL_T_MIN_OF:
    case PROMQL_T_MAX_OF:
        if (peek2(p)->type == PROMQL_T_LEFT_PAREN)
            return function_call(p);
        return vector_selector(p, true);
    case PROMQL_T_METRIC_IDENTIFIER:
    case PROMQL_T_BY:
    case PROMQL_T_WITHOUT:
    case PROMQL_T_LAND:
    case PROMQL_T_LOR:
    case PROMQL_T_LUNLESS:
    case PROMQL_T_OFFSET:
    case PROMQL_T_FILL:
    case PROMQL_T_FILL_LEFT:
    case PROMQL_T_FILL_RIGHT:
    case PROMQL_T_ANCHORED:
    case PROMQL_T_SMOOTHED: return vector_selector(p, true);
    default: break;
    }
    if (promql_tok_is_aggregator(t)) {
        enum promql_tok t2 = peek2(p)->type;
        if (t2 == PROMQL_T_LEFT_PAREN || t2 == PROMQL_T_BY || t2 == PROMQL_T_WITHOUT)
            return aggregation(p);
        return vector_selector(p, true);
    }
    unexpected(p);
}

/* A signed operand: the sign binds like '*', so it takes in only '^' chains; a sign on a number
 * literal folds into the literal. */
static struct promql_node *unary(struct promql_parser *p)
{
    enum promql_tok t = peek_type(p);
    if (t != PROMQL_T_ADD && t != PROMQL_T_SUB)
        return postfix(p, primary(p));
    struct promql_token op = advance(p);
    struct promql_node *e = parse_expr(p, PREC_POW);
    if (e->kind == PROMQL_NUMBER) {
        if (t == PROMQL_T_SUB)
            e->number.val = -e->number.val;
        e->pos_start = op.pos;
        return e;
    }
    struct promql_node *n = new_node(p, PROMQL_UNARY, e->type, op.pos, e->pos_end);
    n->unary.neg = t == PROMQL_T_SUB;
    n->unary.expr = e;
    set_height(p, n, e, NULL, NULL);
    return n;
}

static struct promql_node *parse_expr(struct promql_parser *p, int min_prec)
{
    enter(p);
    struct promql_node *lhs = unary(p);
    for (;;) {
        enum promql_tok t = peek_type(p);
        int prec = binop_prec(t);
        if (!prec || prec < min_prec)
            break;
        struct promql_token op = advance(p);
        struct promql_binary mods = {0};
        bin_modifiers(p, &mods);
        struct promql_node *rhs = parse_expr(p, t == PROMQL_T_POW ? prec : prec + 1);
        lhs = make_binary(p, op, lhs, rhs, &mods);
    }
    p->depth--;
    return lhs;
}

static void parse_root(struct promql_parser *p)
{
    if (peek_type(p) == PROMQL_T_EOF)
        promql_failf(p, 0, 0, "no expression found in input");
    p->ast->root = parse_expr(p, PREC_LOWEST);
    if (peek_type(p) != PROMQL_T_EOF)
        unexpected(p);
    promql_check(p, p->ast->root);
}

static struct promql_ast *ast_create(void)
{
    struct arena a;
    arena_init(&a, 4096);
    struct promql_ast *ast = arena_alloc(&a, sizeof *ast);
    if (!ast) {
        arena_deinit(&a);
        return NULL;
    }
    memset(ast, 0, sizeof *ast);
    ast->arena = a;
    return ast;
}

int promql_parse(const char *query, size_t len, const struct promql_parse_opts *opts,
                 struct promql_ast **out, struct promql_error *err)
{
    memset(err, 0, sizeof *err);
    *out = NULL;
    if (len > PROMQL_INPUT_MAX) {
        snprintf(err->msg, sizeof err->msg, "query too long (more than %u bytes)",
                 PROMQL_INPUT_MAX);
        return ERR_INVALID;
    }
    struct promql_ast *ast = ast_create();
    if (!ast) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return ERR_NOMEM;
    }
    /* On the heap: it is written between setjmp and longjmp and read after. */
    struct promql_parser *p = calloc(1, sizeof *p);
    if (!p) {
        promql_ast_destroy(ast);
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return ERR_NOMEM;
    }
    p->in = query ? query : "";
    p->len = (uint32_t)len;
    p->ast = ast;
    p->opts = opts ? opts : &promql_parse_opts_all;
    p->err = err;
    promql_lex_init(&p->lex, p->in, p->len);
    if (setjmp(p->jmp)) {
        int rc = p->rc;
        free(p);
        promql_ast_destroy(ast);
        return rc;
    }
    parse_root(p);
    free(p);
    *out = ast;
    return 0;
}

int promql_error_format(const struct promql_error *err, const char *query, size_t len, char *out,
                        size_t out_size)
{
    char pos[48];
    if (len == 0) {
        snprintf(pos, sizeof pos, "unknown position");
    } else if (err->pos_start > len) {
        snprintf(pos, sizeof pos, "invalid position");
    } else {
        unsigned line = 1;
        size_t last_nl = (size_t)-1;
        for (size_t i = 0; i < err->pos_start; i++) {
            if (query[i] == '\n') {
                line++;
                last_nl = i;
            }
        }
        snprintf(pos, sizeof pos, "%u:%zu", line, (size_t)(err->pos_start - last_nl));
    }
    return snprintf(out, out_size, "%s: parse error: %s", pos, err->msg);
}
