/* LogQL recursive-descent parser with Loki's grammar (syntax.y) and validations (see parse.h).
 * Binary operators use precedence climbing with yacc's levels; label filter expressions
 * reproduce yacc's conflict resolution (`,` and juxtaposition take the rest of the expression,
 * `and` binds tighter than `or`). */
#include "engine/logql/parse.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/lex.h"
#include "engine/logql/units.h"

/* Nesting bound (parentheses, nested functions, ^ chains): recursion stays far from the stack
 * limit whatever the query. Loki has none; no real query comes close. */
#define MAX_DEPTH 500

struct parser {
    struct logql_query *q;
    struct logql_tok *t;
    size_t n, i;
    int depth;
    char *err;
    size_t err_size;
};

static const char at_least_one_matcher[] =
    "queries require at least one regexp or equality matcher that does not have an "
    "empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but "
    "app=~\".+\" will";

/* ---- token helpers ---- */

static struct logql_tok *peek(struct parser *p)
{
    return &p->t[p->i < p->n ? p->i : p->n - 1];
}

static struct logql_tok *peek_at(struct parser *p, size_t k)
{
    return &p->t[p->i + k < p->n ? p->i + k : p->n - 1];
}

static struct logql_tok *next(struct parser *p)
{
    struct logql_tok *t = peek(p);
    if (p->i < p->n - 1)
        p->i++;
    return t;
}

static bool accept(struct parser *p, enum logql_tok_kind k)
{
    if (peek(p)->kind != k)
        return false;
    next(p);
    return true;
}

static int syntax_error(struct parser *p, const struct logql_tok *t)
{
    const char *name = logql_tok_name(t->kind);
    if (t->kind == LT_RANGE_OP)
        name = logql_range_op_name((enum logql_range_op)t->sub);
    else if (t->kind == LT_VECTOR_OP)
        name = logql_vector_op_name((enum logql_vector_op)t->sub);
    snprintf(p->err, p->err_size, "parse error at line %u, col %u: syntax error: unexpected %s",
             t->line, t->col, name);
    return ERR_INVALID;
}

/* Consumes a token of kind k. *out (when given) is always written: the token, or the offending one
 * on error, so callers never read an unset pointer. */
static int expect(struct parser *p, enum logql_tok_kind k, struct logql_tok **out)
{
    struct logql_tok *t = peek(p);
    if (out)
        *out = t;
    if (t->kind != k)
        return syntax_error(p, t);
    next(p);
    return 0;
}

/* A validation error: Loki reports these without a position. */
static int semantic(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int semantic(struct parser *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->err_size, "parse error : %s", msg);
    return ERR_INVALID;
}

static int enter(struct parser *p)
{
    if (++p->depth > MAX_DEPTH)
        return semantic(p, "expression nests too deeply (more than %d levels)", MAX_DEPTH);
    return 0;
}

static void *alloc(struct parser *p, size_t n)
{
    return logql_alloc(p->q, n);
}

/* Appends a zeroed element of `size` bytes to a growable arena array; returns it or NULL. */
static void *grow(struct parser *p, void **arr, size_t *n, size_t size)
{
    if ((*n & (*n - 1)) == 0) { /* 0 or a power of two: double */
        size_t cap = *n ? *n * 2 : 2;
        void *na = alloc(p, cap * size);
        if (!na)
            return NULL;
        if (*n)
            memcpy(na, *arr, *n * size);
        *arr = na;
    }
    void *slot = (char *)*arr + (*n)++ * size;
    memset(slot, 0, size);
    return slot;
}

#define GROW(p, arr, n) ((__typeof__(arr))grow((p), (void **)&(arr), &(n), sizeof *(arr)))

static struct str dup_str(struct parser *p, struct str s)
{
    return logql_strdup(p->q, s);
}

/* ---- compiled objects ---- */

static int new_matcher(struct parser *p, enum matcher_type type, struct str name, struct str value,
                       struct matcher *m)
{
    char e[512];
    if (type == MATCHER_RE || type == MATCHER_NRE) {
        if (logql_re2_check(NULL, value, NULL, e, sizeof e) != 0)
            return semantic(p, "%s", e);
    }
    int rc = matcher_init(m, type, name, value, e, sizeof e);
    if (rc == ERR_NOMEM)
        return rc;
    if (rc)
        return semantic(p, "%s", e);
    return logql_own_matcher(p->q, m);
}

static int new_regex(struct parser *p, struct str src, unsigned flags, struct logql_regex **out,
                     const char *prefix)
{
    struct logql_regex *re = alloc(p, sizeof *re);
    char e[512];
    if (!re)
        return ERR_NOMEM;
    int rc = logql_regex_compile(&p->q->arena, src, flags, re, e, sizeof e);
    if (rc == ERR_NOMEM)
        return rc;
    if (rc)
        return semantic(p, "%s%s", prefix, e);
    *out = re;
    return logql_own_regex(p->q, re);
}

static enum matcher_type matcher_type_of(enum logql_tok_kind k)
{
    switch (k) {
    case LT_NEQ: return MATCHER_NEQ;
    case LT_RE: return MATCHER_RE;
    case LT_NRE: return MATCHER_NRE;
    default: return MATCHER_EQ;
    }
}

static bool is_matcher_op(enum logql_tok_kind k)
{
    return k == LT_EQ || k == LT_NEQ || k == LT_RE || k == LT_NRE;
}

/* IDENT op STRING */
static int parse_matcher(struct parser *p, struct matcher *m)
{
    struct logql_tok *name, *op, *val;
    int rc = expect(p, LT_IDENT, &name);
    if (rc)
        return rc;
    op = peek(p);
    if (!is_matcher_op(op->kind))
        return syntax_error(p, op);
    next(p);
    if ((rc = expect(p, LT_STRING, &val)))
        return rc;
    return new_matcher(p, matcher_type_of(op->kind), dup_str(p, name->str), val->str, m);
}

/* { matchers } */
static int parse_selector(struct parser *p, struct logql_selector *sel)
{
    int rc = expect(p, LT_LBRACE, NULL);
    if (rc)
        return rc;
    if (!accept(p, LT_RBRACE)) {
        do {
            struct matcher *m = GROW(p, sel->matchers, sel->n_matchers);
            if (!m)
                return ERR_NOMEM;
            if ((rc = parse_matcher(p, m))) {
                sel->n_matchers--; /* not initialized: nothing to free */
                return rc;
            }
        } while (accept(p, LT_COMMA));
        if ((rc = expect(p, LT_RBRACE, NULL)))
            return rc;
    }
    for (size_t i = 0; i < sel->n_matchers; i++)
        if (!matcher_matches_empty(&sel->matchers[i]))
            return 0;
    return semantic(p, "%s", at_least_one_matcher);
}

/* ---- line filters ---- */

static int line_term(struct parser *p, struct logql_line_filter *lf)
{
    struct logql_line_term *t = GROW(p, lf->terms, lf->n_terms);
    int rc;
    if (!t)
        return ERR_NOMEM;
    struct logql_tok *s;
    if (accept(p, LT_IP)) {
        t->is_ip = true;
        if ((rc = expect(p, LT_LPAREN, NULL)) || (rc = expect(p, LT_STRING, &s)) ||
            (rc = expect(p, LT_RPAREN, NULL)))
            return rc;
    } else if ((rc = expect(p, LT_STRING, &s))) {
        return rc;
    }
    t->value = s->str;
    return 0;
}

static int compile_line_term(struct parser *p, enum logql_line_op op, struct logql_line_term *t)
{
    char e[512];
    int rc;
    if (t->is_ip) {
        if (op != LOGQL_LINE_CONTAINS && op != LOGQL_LINE_NOT_CONTAINS)
            return semantic(p, "ip: invalid operation");
        if (!(t->ip = alloc(p, sizeof *t->ip)))
            return ERR_NOMEM;
        if (logql_ip_matcher_parse(t->value, t->ip, e, sizeof e) != 0)
            return semantic(p, "%s", e);
        return 0;
    }
    switch (op) {
    case LOGQL_LINE_REGEX:
    case LOGQL_LINE_NOT_REGEX: {
        /* Loki's parser accepts `|~ "x\"` (only its pipeline builder rejects the trailing
         * backslash); we keep the query and read that backslash literally. */
        size_t bs = 0;
        while (bs < t->value.len && t->value.ptr[t->value.len - 1 - bs] == '\\')
            bs++;
        if (bs % 2 == 0)
            return new_regex(p, t->value, 0, &t->re, "");
        char *fixed = alloc(p, t->value.len + 2);
        if (!fixed)
            return ERR_NOMEM;
        memcpy(fixed, t->value.ptr, t->value.len);
        fixed[t->value.len] = '\\';
        return new_regex(p, (struct str){fixed, t->value.len + 1}, 0, &t->re, "");
    }
    case LOGQL_LINE_PATTERN:
    case LOGQL_LINE_NOT_PATTERN:
        rc = logql_pattern_parse(&p->q->arena, t->value, true, &t->pattern, e, sizeof e);
        if (rc == ERR_INVALID)
            return semantic(p, "%s", e);
        return rc;
    default: return 0;
    }
}

static int parse_line_filter(struct parser *p, struct logql_stage *st)
{
    static const enum logql_line_op ops[] = {
        [LT_PIPE_EXACT] = LOGQL_LINE_CONTAINS,  [LT_NEQ] = LOGQL_LINE_NOT_CONTAINS,
        [LT_PIPE_MATCH] = LOGQL_LINE_REGEX,     [LT_NRE] = LOGQL_LINE_NOT_REGEX,
        [LT_PIPE_PATTERN] = LOGQL_LINE_PATTERN, [LT_NPA] = LOGQL_LINE_NOT_PATTERN};
    st->kind = LOGQL_STAGE_LINE_FILTER;
    st->line.op = ops[next(p)->kind];
    int rc = line_term(p, &st->line);
    while (rc == 0 && accept(p, LT_OR))
        rc = line_term(p, &st->line);
    for (size_t i = 0; rc == 0 && i < st->line.n_terms; i++)
        rc = compile_line_term(p, st->line.op, &st->line.terms[i]);
    return rc;
}

static bool is_line_filter_tok(enum logql_tok_kind k)
{
    return k == LT_PIPE_EXACT || k == LT_NEQ || k == LT_PIPE_MATCH || k == LT_NRE ||
           k == LT_PIPE_PATTERN || k == LT_NPA;
}

/* ---- label filters ---- */

static enum logql_cmp cmp_of(enum logql_tok_kind k)
{
    switch (k) {
    case LT_NEQ: return LOGQL_CMP_NE;
    case LT_GT: return LOGQL_CMP_GT;
    case LT_GTE: return LOGQL_CMP_GE;
    case LT_LT: return LOGQL_CMP_LT;
    case LT_LTE: return LOGQL_CMP_LE;
    default: return LOGQL_CMP_EQ;
    }
}

/* NUMBER | + NUMBER | - NUMBER as a float (Loki's literalExpr). */
static int parse_literal_number(struct parser *p, double *out)
{
    bool neg = false;
    if (accept(p, LT_SUB))
        neg = true;
    else
        (void)accept(p, LT_ADD);
    struct logql_tok *num;
    int rc = expect(p, LT_NUMBER, &num);
    if (rc)
        return rc;
    if (logql_parse_float(num->str, out) != 0)
        return semantic(p,
                        "unable to parse literal as a float: strconv.ParseFloat: parsing "
                        "\"%.*s\": invalid syntax",
                        (int)num->str.len, num->str.ptr);
    if (neg)
        *out = -*out;
    return 0;
}

static int lf_ip(struct parser *p, struct logql_label_filter *f)
{
    struct logql_tok *op = peek(p), *s;
    char e[256];
    int rc;
    if (op->kind != LT_EQ && op->kind != LT_NEQ)
        return syntax_error(p, peek_at(p, 1));
    next(p); /* = or != */
    next(p); /* ip */
    if ((rc = expect(p, LT_LPAREN, NULL)) || (rc = expect(p, LT_STRING, &s)) ||
        (rc = expect(p, LT_RPAREN, NULL)))
        return rc;
    f->kind = LOGQL_LF_IP;
    f->cmp = op->kind == LT_EQ ? LOGQL_CMP_EQ : LOGQL_CMP_NE;
    f->ip_pattern = s->str;
    if (!(f->ip = alloc(p, sizeof *f->ip)))
        return ERR_NOMEM;
    if (logql_ip_matcher_parse(s->str, f->ip, e, sizeof e) != 0)
        f->ip = NULL; /* see check_ip_stage */
    return 0;
}

/* Loki checks an ip() label filter's pattern only when the filter is a whole pipeline stage
 * (`| addr = ip("x")`); nested in and/or, or after unwrap, a bad pattern is accepted and the
 * filter matches nothing. */
static int check_ip_stage(struct parser *p, const struct logql_label_filter *f)
{
    if (f->kind != LOGQL_LF_IP || f->ip)
        return 0;
    return semantic(p, "ip: invalid pattern: \"%.*s\"", (int)f->ip_pattern.len, f->ip_pattern.ptr);
}

/* IDENT op value: string matcher, ip(), duration, bytes or number filter. */
static int lf_leaf(struct parser *p, struct logql_label_filter *f)
{
    struct logql_tok *name;
    int rc = expect(p, LT_IDENT, &name);
    if (rc)
        return rc;
    f->name = dup_str(p, name->str);
    struct logql_tok *op = peek(p);
    bool cmp_op = op->kind == LT_EQ || op->kind == LT_NEQ || op->kind == LT_CMP_EQ ||
                  op->kind == LT_GT || op->kind == LT_GTE || op->kind == LT_LT ||
                  op->kind == LT_LTE;
    if (!cmp_op && op->kind != LT_RE && op->kind != LT_NRE)
        return syntax_error(p, op);
    enum logql_tok_kind v = peek_at(p, 1)->kind;
    if (v == LT_STRING && is_matcher_op(op->kind)) {
        next(p);
        f->kind = LOGQL_LF_STRING;
        if (!(f->matcher = alloc(p, sizeof *f->matcher)))
            return ERR_NOMEM;
        return new_matcher(p, matcher_type_of(op->kind), f->name, next(p)->str, f->matcher);
    }
    if (v == LT_IP)
        return lf_ip(p, f);
    if (!cmp_op || op->kind == LT_RE)
        return syntax_error(p, peek_at(p, 1));
    next(p);
    f->cmp = cmp_of(op->kind);
    struct logql_tok *val = peek(p);
    if (val->kind == LT_DURATION) {
        f->kind = LOGQL_LF_DURATION;
        f->duration_ns = next(p)->ns;
        return 0;
    }
    if (val->kind == LT_BYTES) {
        f->kind = LOGQL_LF_BYTES;
        f->bytes = next(p)->bytes;
        return 0;
    }
    f->kind = LOGQL_LF_NUMBER;
    return parse_literal_number(p, &f->number);
}

static int parse_label_filter(struct parser *p, int min, struct logql_label_filter **out);

static int lf_primary(struct parser *p, struct logql_label_filter **out)
{
    if (accept(p, LT_LPAREN)) {
        int rc = enter(p);
        if (rc == 0)
            rc = parse_label_filter(p, 0, out);
        p->depth--;
        return rc ? rc : expect(p, LT_RPAREN, NULL);
    }
    struct logql_label_filter *f = alloc(p, sizeof *f);
    if (!f)
        return ERR_NOMEM;
    *out = f;
    return lf_leaf(p, f);
}

static struct logql_label_filter *lf_binary(struct parser *p, enum logql_lf_kind kind,
                                            struct logql_label_filter *left,
                                            struct logql_label_filter *right)
{
    struct logql_label_filter *b = alloc(p, sizeof *b);
    if (b) {
        b->kind = kind;
        b->left = left;
        b->right = right;
    }
    return b;
}

/* yacc precedence: or (1) < and (2); `,` and juxtaposition have none, so the parser always
 * shifts them: the rest of the expression becomes their right operand. That tail position is
 * handled by looping on the right slot, so a long `a, b, c, ...` list needs no recursion. */
static int parse_label_filter(struct parser *p, int min, struct logql_label_filter **out)
{
    int rc = lf_primary(p, out);
    while (rc == 0) {
        enum logql_tok_kind k = peek(p)->kind;
        struct logql_label_filter *right = NULL;
        if (k == LT_OR && min <= 1) {
            next(p);
            if ((rc = parse_label_filter(p, 2, &right)) == 0 &&
                !(*out = lf_binary(p, LOGQL_LF_OR, *out, right)))
                rc = ERR_NOMEM;
        } else if (k == LT_AND && min <= 2) {
            next(p);
            if ((rc = parse_label_filter(p, 3, &right)) == 0 &&
                !(*out = lf_binary(p, LOGQL_LF_AND, *out, right)))
                rc = ERR_NOMEM;
        } else if (k == LT_COMMA || k == LT_IDENT || k == LT_LPAREN) {
            (void)accept(p, LT_COMMA);
            if (!(*out = lf_binary(p, LOGQL_LF_AND, *out, NULL)))
                return ERR_NOMEM;
            out = &(*out)->right;
            min = 0;
            rc = lf_primary(p, out);
        } else {
            break;
        }
    }
    return rc;
}

/* ---- parser stages ---- */

/* True when an extraction list follows: a label name, or `bool=` (see parse_extract_list). */
static bool extract_list_next(struct parser *p)
{
    return peek(p)->kind == LT_IDENT || (peek(p)->kind == LT_BOOL && peek_at(p, 1)->kind == LT_EQ);
}

static int parse_extract_list(struct parser *p, struct logql_stage *st, bool json)
{
    int rc;
    do {
        struct logql_tok *name, *val;
        /* `bool` is a keyword, but Loki's log parsers take it as a label name (`| json
         * bool="bool_field"`) when a value expression follows. */
        if (peek(p)->kind == LT_BOOL && peek_at(p, 1)->kind == LT_EQ)
            name = next(p);
        else if ((rc = expect(p, LT_IDENT, &name)))
            return rc;
        struct logql_extract *x = GROW(p, st->exprs, st->n_exprs);
        if (!x)
            return ERR_NOMEM;
        x->name = dup_str(p, name->str);
        x->expr = x->name;
        if (accept(p, LT_EQ)) {
            if ((rc = expect(p, LT_STRING, &val)))
                return rc;
            x->expr = val->str;
        }
        if (json) {
            char e[256];
            rc = logql_json_path_parse(&p->q->arena, x->expr, &x->path, e, sizeof e);
            if (rc == ERR_INVALID)
                return semantic(p, "cannot parse expression [%.*s]: %s", (int)x->expr.len,
                                x->expr.ptr, e);
            if (rc)
                return rc;
        }
    } while (accept(p, LT_COMMA));
    return 0;
}

static int parse_logfmt(struct parser *p, struct logql_stage *st)
{
    st->kind = LOGQL_STAGE_LOGFMT;
    while (peek(p)->kind == LT_FLAG) {
        int f = next(p)->sub;
        st->strict |= f == LOGQL_FLAG_STRICT;
        st->keep_empty |= f == LOGQL_FLAG_KEEP_EMPTY;
    }
    return extract_list_next(p) ? parse_extract_list(p, st, false) : 0;
}

static int parse_regexp_stage(struct parser *p, struct logql_stage *st)
{
    struct logql_tok *s;
    int rc = expect(p, LT_STRING, &s);
    if (rc)
        return rc;
    st->kind = LOGQL_STAGE_REGEXP;
    st->source = s->str;
    if ((rc = new_regex(p, s->str, 0, &st->re, "invalid regexp parser: ")))
        return rc;
    if (st->re->n_named == 0)
        return semantic(p, "invalid regexp parser: at least one named capture must be supplied");
    for (uint32_t i = 0; i < st->re->n_groups; i++)
        for (uint32_t j = 0; j < i; j++)
            if (st->re->names[i].len && str_eq(st->re->names[i], st->re->names[j]))
                return semantic(p, "invalid regexp parser: duplicate extracted label name '%.*s'",
                                (int)st->re->names[i].len, st->re->names[i].ptr);
    return 0;
}

static int parse_pattern_stage(struct parser *p, struct logql_stage *st)
{
    struct logql_tok *s;
    char e[256];
    int rc = expect(p, LT_STRING, &s);
    if (rc)
        return rc;
    st->kind = LOGQL_STAGE_PATTERN;
    st->source = s->str;
    rc = logql_pattern_parse(&p->q->arena, s->str, false, &st->pattern, e, sizeof e);
    if (rc == ERR_INVALID)
        return semantic(p, "invalid pattern parser: %s", e);
    return rc;
}

static int parse_template(struct parser *p, const char *name, struct str src,
                          struct logql_tmpl **out, struct str label)
{
    char e[384];
    int rc = logql_tmpl_parse(&p->q->arena, name, src, out, e, sizeof e);
    if (rc != ERR_INVALID)
        return rc;
    if (label.ptr)
        return semantic(p, "invalid template for label '%.*s': %s", (int)label.len, label.ptr, e);
    return semantic(p, "invalid line template: %s", e);
}

static int parse_label_format(struct parser *p, struct logql_stage *st)
{
    st->kind = LOGQL_STAGE_LABEL_FORMAT;
    int rc;
    do {
        struct logql_tok *dst, *v;
        if ((rc = expect(p, LT_IDENT, &dst)) || (rc = expect(p, LT_EQ, NULL)))
            return rc;
        v = peek(p);
        if (v->kind != LT_IDENT && v->kind != LT_STRING)
            return syntax_error(p, v);
        next(p);
        struct logql_label_fmt *f = GROW(p, st->fmts, st->n_fmts);
        if (!f)
            return ERR_NOMEM;
        f->dst = dup_str(p, dst->str);
        f->rename = v->kind == LT_IDENT;
        f->value = f->rename ? dup_str(p, v->str) : v->str;
    } while (accept(p, LT_COMMA));
    for (size_t i = 0; i < st->n_fmts; i++) {
        struct logql_label_fmt *f = &st->fmts[i];
        if (str_eq_cstr(f->dst, "__error__"))
            return semantic(p, "__error__ cannot be formatted");
        for (size_t j = 0; j < i; j++)
            if (str_eq(st->fmts[j].dst, f->dst))
                return semantic(p,
                                "multiple label name '%.*s' not allowed in a single format "
                                "operation",
                                (int)f->dst.len, f->dst.ptr);
        if (!f->rename && (rc = parse_template(p, "label", f->value, &f->tmpl, f->dst)))
            return rc;
    }
    return 0;
}

static int parse_named_matchers(struct parser *p, struct logql_stage *st)
{
    int rc;
    do {
        struct logql_named_matcher *nm = GROW(p, st->names, st->n_names);
        if (!nm)
            return ERR_NOMEM;
        if (peek(p)->kind == LT_IDENT && is_matcher_op(peek_at(p, 1)->kind)) {
            if (!(nm->matcher = alloc(p, sizeof *nm->matcher)))
                return ERR_NOMEM;
            if ((rc = parse_matcher(p, nm->matcher)))
                return rc;
            nm->name = nm->matcher->name;
        } else {
            struct logql_tok *name;
            if ((rc = expect(p, LT_IDENT, &name)))
                return rc;
            nm->name = dup_str(p, name->str);
        }
    } while (accept(p, LT_COMMA));
    return 0;
}

/* After `|`. */
static int parse_pipe_stage(struct parser *p, struct logql_stage *st)
{
    struct logql_tok *t = peek(p), *s;
    int rc;
    switch (t->kind) {
    case LT_LOGFMT: next(p); return parse_logfmt(p, st);
    case LT_JSON:
        next(p);
        st->kind = LOGQL_STAGE_JSON;
        return extract_list_next(p) ? parse_extract_list(p, st, true) : 0;
    case LT_REGEXP: next(p); return parse_regexp_stage(p, st);
    case LT_PATTERN: next(p); return parse_pattern_stage(p, st);
    case LT_UNPACK:
        next(p);
        st->kind = LOGQL_STAGE_UNPACK;
        return 0;
    case LT_DECOLORIZE:
        next(p);
        st->kind = LOGQL_STAGE_DECOLORIZE;
        return 0;
    case LT_LINE_FMT:
        next(p);
        if ((rc = expect(p, LT_STRING, &s)))
            return rc;
        st->kind = LOGQL_STAGE_LINE_FORMAT;
        st->source = s->str;
        /* an unparsable template is reported by check_line_formats: Loki drops some line_format
         * stages of metric queries before it compiles them */
        rc = logql_tmpl_parse(&p->q->arena, "line", s->str, &st->tmpl, NULL, 0);
        return rc == ERR_INVALID ? 0 : rc;
    case LT_LABEL_FMT: next(p); return parse_label_format(p, st);
    case LT_DROP:
    case LT_KEEP:
        next(p);
        st->kind = t->kind == LT_DROP ? LOGQL_STAGE_DROP : LOGQL_STAGE_KEEP;
        return parse_named_matchers(p, st);
    case LT_IDENT:
    case LT_LPAREN:
        st->kind = LOGQL_STAGE_LABEL_FILTER;
        rc = parse_label_filter(p, 0, &st->filter);
        return rc ? rc : check_ip_stage(p, st->filter);
    default: return syntax_error(p, t);
    }
}

static bool at_stage(struct parser *p)
{
    enum logql_tok_kind k = peek(p)->kind;
    return is_line_filter_tok(k) || (k == LT_PIPE && peek_at(p, 1)->kind != LT_UNWRAP);
}

static int parse_stages(struct parser *p, struct logql_selector *sel)
{
    while (at_stage(p)) {
        struct logql_stage *st = GROW(p, sel->stages, sel->n_stages);
        if (!st)
            return ERR_NOMEM;
        int rc = is_line_filter_tok(peek(p)->kind) ? parse_line_filter(p, st)
                                                   : (next(p), parse_pipe_stage(p, st));
        if (rc)
            return rc;
    }
    return 0;
}

static bool is_parser_or_line_filter(enum logql_stage_kind k)
{
    return k == LOGQL_STAGE_LINE_FILTER || k == LOGQL_STAGE_JSON || k == LOGQL_STAGE_LOGFMT ||
           k == LOGQL_STAGE_REGEXP || k == LOGQL_STAGE_PATTERN || k == LOGQL_STAGE_UNPACK;
}

/* Marks the line_format stages Loki's optimizer removes from a range aggregation (one that does
 * not measure bytes, when no parser or line filter follows), then reports the first template
 * that did not parse among the stages that remain. */
static int check_line_formats(struct parser *p, struct logql_selector *sel, bool elide)
{
    for (size_t i = 0; i < sel->n_stages; i++) {
        struct logql_stage *st = &sel->stages[i];
        if (st->kind != LOGQL_STAGE_LINE_FORMAT)
            continue;
        bool needed = !elide;
        for (size_t j = i + 1; j < sel->n_stages && !needed; j++)
            needed = is_parser_or_line_filter(sel->stages[j].kind);
        st->elided = !needed;
        if (needed && !st->tmpl)
            return parse_template(p, "line", st->source, &st->tmpl, (struct str){NULL, 0});
    }
    return 0;
}

/* `| unwrap [conv(]label[)]` followed by `| label filter`s. */
static int parse_unwrap(struct parser *p, struct logql_unwrap **out)
{
    struct logql_unwrap *u = alloc(p, sizeof *u);
    struct logql_tok *name;
    int rc;
    if (!u)
        return ERR_NOMEM;
    next(p); /* | */
    next(p); /* unwrap */
    if (peek(p)->kind == LT_CONV) {
        u->conv = (enum logql_conv)next(p)->sub;
        if ((rc = expect(p, LT_LPAREN, NULL)) || (rc = expect(p, LT_IDENT, &name)) ||
            (rc = expect(p, LT_RPAREN, NULL)))
            return rc;
    } else if ((rc = expect(p, LT_IDENT, &name))) {
        return rc;
    }
    u->label = dup_str(p, name->str);
    while (peek(p)->kind == LT_PIPE) {
        next(p);
        struct logql_label_filter **f = GROW(p, u->post, u->n_post);
        if (!f)
            return ERR_NOMEM;
        if (peek(p)->kind != LT_IDENT && peek(p)->kind != LT_LPAREN)
            return syntax_error(p, peek(p));
        if ((rc = parse_label_filter(p, 0, f)))
            return rc;
    }
    *out = u;
    return 0;
}

static bool at_unwrap(struct parser *p)
{
    return peek(p)->kind == LT_PIPE && peek_at(p, 1)->kind == LT_UNWRAP;
}

/* ---- metric expressions ---- */

static int parse_expr(struct parser *p, int min_prec, struct logql_expr **out);

static int parse_offset(struct parser *p, struct logql_expr *e)
{
    if (!accept(p, LT_OFFSET))
        return 0;
    struct logql_tok *d;
    int rc = expect(p, LT_DURATION, &d);
    if (rc == 0)
        e->offset_ns = d->ns;
    return rc;
}

/* selector [pipeline] [unwrap] parsed; continues after it up to the end of the log range. */
static int log_range_tail(struct parser *p, struct logql_expr *e)
{
    bool before = e->sel.n_stages > 0 || e->unwrap;
    struct logql_tok *r;
    int rc = expect(p, LT_RANGE, &r);
    if (rc)
        return rc;
    e->range_ns = r->ns;
    if ((rc = parse_offset(p, e)) || before)
        return rc;
    if ((rc = parse_stages(p, &e->sel)))
        return rc;
    return at_unwrap(p) ? parse_unwrap(p, &e->unwrap) : 0;
}

static int log_range_head(struct parser *p, struct logql_expr *e)
{
    int rc = parse_selector(p, &e->sel);
    if (rc || (rc = parse_stages(p, &e->sel)))
        return rc;
    return at_unwrap(p) ? parse_unwrap(p, &e->unwrap) : 0;
}

/* The forms of Loki's logRangeExpr (the argument of a range aggregation). */
static int parse_log_range(struct parser *p, struct logql_expr *e)
{
    int rc;
    if (!accept(p, LT_LPAREN)) {
        if ((rc = log_range_head(p, e)))
            return rc;
        return log_range_tail(p, e);
    }
    if (peek(p)->kind == LT_LPAREN) { /* ( logRangeExpr ) */
        if ((rc = enter(p)) == 0)
            rc = parse_log_range(p, e);
        p->depth--;
        return rc ? rc : expect(p, LT_RPAREN, NULL);
    }
    if (peek(p)->kind != LT_LBRACE)
        return syntax_error(p, peek(p));
    if ((rc = log_range_head(p, e)))
        return rc;
    if (accept(p, LT_RPAREN)) { /* ( selector [pipeline] [unwrap] ) RANGE [offset] */
        bool bare = e->sel.n_stages == 0 && !e->unwrap;
        struct logql_tok *r;
        if ((rc = expect(p, LT_RANGE, &r)))
            return rc;
        e->range_ns = r->ns;
        if ((rc = parse_offset(p, e)))
            return rc;
        return bare && at_unwrap(p) ? parse_unwrap(p, &e->unwrap) : 0;
    }
    if ((rc = log_range_tail(p, e)))
        return rc;
    return expect(p, LT_RPAREN, NULL);
}

static int parse_labels(struct parser *p, struct str **labels, size_t *n)
{
    int rc = expect(p, LT_LPAREN, NULL);
    if (rc || accept(p, LT_RPAREN))
        return rc;
    do {
        struct logql_tok *id;
        if ((rc = expect(p, LT_IDENT, &id)))
            return rc;
        struct str *s = GROW(p, *labels, *n);
        if (!s)
            return ERR_NOMEM;
        *s = dup_str(p, id->str);
    } while (accept(p, LT_COMMA));
    return expect(p, LT_RPAREN, NULL);
}

static int parse_grouping_opt(struct parser *p, struct logql_grouping *g)
{
    enum logql_tok_kind k = peek(p)->kind;
    if (k != LT_BY && k != LT_WITHOUT)
        return 0;
    next(p);
    g->present = true;
    g->without = k == LT_WITHOUT;
    return parse_labels(p, &g->labels, &g->n_labels);
}

static bool range_op_in(enum logql_range_op op, const enum logql_range_op *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == op)
            return true;
    return false;
}

static int validate_range_agg(struct parser *p, struct logql_expr *e)
{
    static const enum logql_range_op grouping_ok[] = {
        LOGQL_RANGE_AVG, LOGQL_RANGE_STDDEV, LOGQL_RANGE_STDVAR, LOGQL_RANGE_QUANTILE,
        LOGQL_RANGE_MAX, LOGQL_RANGE_MIN,    LOGQL_RANGE_FIRST,  LOGQL_RANGE_LAST};
    static const enum logql_range_op unwrap_ok[] = {
        LOGQL_RANGE_AVG,          LOGQL_RANGE_SUM,    LOGQL_RANGE_MAX,      LOGQL_RANGE_MIN,
        LOGQL_RANGE_STDDEV,       LOGQL_RANGE_STDVAR, LOGQL_RANGE_QUANTILE, LOGQL_RANGE_RATE,
        LOGQL_RANGE_RATE_COUNTER, LOGQL_RANGE_ABSENT, LOGQL_RANGE_FIRST,    LOGQL_RANGE_LAST};
    static const enum logql_range_op plain_ok[] = {LOGQL_RANGE_BYTES, LOGQL_RANGE_BYTES_RATE,
                                                   LOGQL_RANGE_COUNT, LOGQL_RANGE_RATE,
                                                   LOGQL_RANGE_ABSENT};
    const char *name = logql_range_op_name(e->range_op);
    if (e->grouping.present && !range_op_in(e->range_op, grouping_ok, 8))
        return semantic(p, "grouping not allowed for %s aggregation", name);
    if (e->unwrap && !range_op_in(e->range_op, unwrap_ok, 12))
        return semantic(p, "invalid aggregation %s with unwrap", name);
    if (!e->unwrap && !range_op_in(e->range_op, plain_ok, 5))
        return semantic(p, "invalid aggregation %s without unwrap", name);
    return 0;
}

static int parse_range_agg(struct parser *p, struct logql_expr **out)
{
    struct logql_expr *e = alloc(p, sizeof *e);
    struct logql_tok *param = NULL;
    int rc;
    if (!e)
        return ERR_NOMEM;
    e->kind = LOGQL_EXPR_RANGE_AGG;
    e->range_op = (enum logql_range_op)next(p)->sub;
    if ((rc = expect(p, LT_LPAREN, NULL)))
        return rc;
    if (peek(p)->kind == LT_NUMBER && peek_at(p, 1)->kind == LT_COMMA) {
        param = next(p);
        next(p);
    }
    if ((rc = parse_log_range(p, e)) || (rc = expect(p, LT_RPAREN, NULL)) ||
        (rc = parse_grouping_opt(p, &e->grouping)))
        return rc;
    bool measures_lines = e->range_op == LOGQL_RANGE_BYTES || e->range_op == LOGQL_RANGE_BYTES_RATE;
    if ((rc = check_line_formats(p, &e->sel, !measures_lines)))
        return rc;
    const char *name = logql_range_op_name(e->range_op);
    if (param) {
        if (e->range_op != LOGQL_RANGE_QUANTILE)
            return semantic(p, "parameter %.*s not supported for operation %s", (int)param->str.len,
                            param->str.ptr, name);
        if (logql_parse_float(param->str, &e->param) != 0)
            return semantic(p, "invalid parameter for operation %s: %.*s", name,
                            (int)param->str.len, param->str.ptr);
        e->has_param = true;
    } else if (e->range_op == LOGQL_RANGE_QUANTILE) {
        return semantic(p, "parameter required for operation %s", name);
    }
    if ((rc = validate_range_agg(p, e)))
        return rc;
    *out = e;
    return 0;
}

static int validate_vector_agg(struct parser *p, struct logql_expr *e, struct logql_tok *param)
{
    const char *name = logql_vector_op_name(e->vec_op);
    bool k_op = e->vec_op == LOGQL_VEC_TOPK || e->vec_op == LOGQL_VEC_BOTTOMK ||
                e->vec_op == LOGQL_VEC_APPROX_TOPK;
    if (k_op) {
        if (!param)
            return semantic(p, "parameter required for operation %s", name);
        if (logql_parse_int(param->str, &e->k) != 0)
            return semantic(p, "invalid parameter %s(%.*s,", name, (int)param->str.len,
                            param->str.ptr);
        if (e->k <= 0)
            return semantic(p, "invalid parameter (must be greater than 0) %s(%.*s", name,
                            (int)param->str.len, param->str.ptr);
        if (e->vec_op == LOGQL_VEC_APPROX_TOPK && e->grouping.present)
            return semantic(p, "grouping not allowed for %s aggregation", name);
    } else if (param) {
        return semantic(p, "unsupported parameter for operation %s(%.*s,", name,
                        (int)param->str.len, param->str.ptr);
    }
    if ((e->vec_op == LOGQL_VEC_SORT || e->vec_op == LOGQL_VEC_SORT_DESC) &&
        e->grouping.n_labels > 0)
        return semantic(p, "sort and sort_desc doesn't allow grouping by ");
    return 0;
}

static int parse_vector_agg(struct parser *p, struct logql_expr **out)
{
    struct logql_expr *e = alloc(p, sizeof *e);
    struct logql_tok *param = NULL;
    int rc;
    if (!e)
        return ERR_NOMEM;
    e->kind = LOGQL_EXPR_VECTOR_AGG;
    e->vec_op = (enum logql_vector_op)next(p)->sub;
    bool before = peek(p)->kind == LT_BY || peek(p)->kind == LT_WITHOUT;
    if ((rc = parse_grouping_opt(p, &e->grouping)) || (rc = expect(p, LT_LPAREN, NULL)))
        return rc;
    if (peek(p)->kind == LT_NUMBER && peek_at(p, 1)->kind == LT_COMMA) {
        param = next(p);
        next(p);
    }
    if ((rc = parse_expr(p, 0, &e->inner)))
        return rc;
    if (!logql_expr_is_sample(e->inner))
        return syntax_error(p, peek(p));
    if ((rc = expect(p, LT_RPAREN, NULL)))
        return rc;
    if (!before && (rc = parse_grouping_opt(p, &e->grouping)))
        return rc;
    if ((rc = validate_vector_agg(p, e, param)))
        return rc;
    *out = e;
    return 0;
}

static int parse_label_replace(struct parser *p, struct logql_expr **out)
{
    struct logql_expr *e = alloc(p, sizeof *e);
    struct logql_tok *s[4];
    int rc;
    if (!e)
        return ERR_NOMEM;
    e->kind = LOGQL_EXPR_LABEL_REPLACE;
    next(p);
    if ((rc = expect(p, LT_LPAREN, NULL)) || (rc = parse_expr(p, 0, &e->inner)))
        return rc;
    if (!logql_expr_is_sample(e->inner))
        return syntax_error(p, peek(p));
    for (int i = 0; i < 4; i++)
        if ((rc = expect(p, LT_COMMA, NULL)) || (rc = expect(p, LT_STRING, &s[i])))
            return rc;
    if ((rc = expect(p, LT_RPAREN, NULL)))
        return rc;
    e->dst = s[0]->str;
    e->replacement = s[1]->str;
    e->src = s[2]->str;
    e->regex_src = s[3]->str;
    /* Loki compiles "^(?:" + regex + ")$" */
    size_t n = e->regex_src.len + 6;
    char *w = alloc(p, n + 1);
    if (!w)
        return ERR_NOMEM;
    snprintf(w, n + 1, "^(?:%.*s)$", (int)e->regex_src.len, e->regex_src.ptr);
    if ((rc = new_regex(p, (struct str){w, n}, 0, &e->regex, "invalid regex in label_replace: ")))
        return rc;
    *out = e;
    return 0;
}

static int parse_vector(struct parser *p, struct logql_expr **out)
{
    struct logql_expr *e = alloc(p, sizeof *e);
    struct logql_tok *num;
    int rc;
    if (!e)
        return ERR_NOMEM;
    e->kind = LOGQL_EXPR_VECTOR;
    next(p);
    if ((rc = expect(p, LT_LPAREN, NULL)) || (rc = expect(p, LT_NUMBER, &num)) ||
        (rc = expect(p, LT_RPAREN, NULL)))
        return rc;
    if (logql_parse_float(num->str, &e->value) != 0)
        return semantic(p, "unable to parse vectorExpr as a float: %.*s", (int)num->str.len,
                        num->str.ptr);
    *out = e;
    return 0;
}

static int parse_log_expr(struct parser *p, struct logql_expr **out)
{
    struct logql_expr *e = alloc(p, sizeof *e);
    if (!e)
        return ERR_NOMEM;
    e->kind = LOGQL_EXPR_LOG;
    int rc = parse_selector(p, &e->sel);
    if (rc || (rc = parse_stages(p, &e->sel)) || (rc = check_line_formats(p, &e->sel, false)))
        return rc;
    *out = e;
    return 0;
}

static int parse_unary(struct parser *p, struct logql_expr **out)
{
    struct logql_tok *t = peek(p);
    int rc;
    switch (t->kind) {
    case LT_LBRACE: return parse_log_expr(p, out);
    case LT_LPAREN:
        next(p);
        rc = parse_expr(p, 0, out);
        return rc ? rc : expect(p, LT_RPAREN, NULL);
    case LT_NUMBER:
    case LT_ADD:
    case LT_SUB: {
        struct logql_expr *e = alloc(p, sizeof *e);
        if (!e)
            return ERR_NOMEM;
        e->kind = LOGQL_EXPR_LITERAL;
        *out = e;
        return parse_literal_number(p, &e->value);
    }
    case LT_RANGE_OP: return parse_range_agg(p, out);
    case LT_VECTOR_OP: return parse_vector_agg(p, out);
    case LT_LABEL_REPLACE: return parse_label_replace(p, out);
    case LT_VECTOR: return parse_vector(p, out);
    default: return syntax_error(p, t);
    }
}

/* ---- binary operators ---- */

static int binop_of(enum logql_tok_kind k, enum logql_binop *op, int *prec)
{
    static const struct {
        enum logql_tok_kind k;
        enum logql_binop op;
        int prec;
    } table[] = {
        {LT_OR, LOGQL_OP_OR, 1},     {LT_AND, LOGQL_OP_AND, 2}, {LT_UNLESS, LOGQL_OP_UNLESS, 2},
        {LT_CMP_EQ, LOGQL_OP_EQ, 3}, {LT_NEQ, LOGQL_OP_NE, 3},  {LT_GT, LOGQL_OP_GT, 3},
        {LT_GTE, LOGQL_OP_GE, 3},    {LT_LT, LOGQL_OP_LT, 3},   {LT_LTE, LOGQL_OP_LE, 3},
        {LT_ADD, LOGQL_OP_ADD, 4},   {LT_SUB, LOGQL_OP_SUB, 4}, {LT_MUL, LOGQL_OP_MUL, 5},
        {LT_DIV, LOGQL_OP_DIV, 5},   {LT_MOD, LOGQL_OP_MOD, 5}, {LT_POW, LOGQL_OP_POW, 6}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (table[i].k == k) {
            *op = table[i].op;
            *prec = table[i].prec;
            return 1;
        }
    }
    return 0;
}

/* [bool] [on|ignoring (labels) [group_left|group_right [(labels)]]] */
static int parse_bin_modifiers(struct parser *p, struct logql_expr *e)
{
    e->return_bool = accept(p, LT_BOOL);
    enum logql_tok_kind k = peek(p)->kind;
    if (k != LT_ON && k != LT_IGNORING)
        return 0;
    next(p);
    e->matching = true;
    e->on = k == LT_ON;
    int rc = parse_labels(p, &e->match_labels, &e->n_match_labels);
    if (rc)
        return rc;
    k = peek(p)->kind;
    if (k != LT_GROUP_LEFT && k != LT_GROUP_RIGHT)
        return 0;
    next(p);
    e->card = k == LT_GROUP_LEFT ? LOGQL_CARD_MANY_TO_ONE : LOGQL_CARD_ONE_TO_MANY;
    if (peek(p)->kind != LT_LPAREN)
        return 0;
    e->has_include = true;
    return parse_labels(p, &e->include, &e->n_include);
}

static double fold(enum logql_binop op, double l, double r)
{
    switch (op) {
    case LOGQL_OP_ADD: return l + r;
    case LOGQL_OP_SUB: return l - r;
    case LOGQL_OP_MUL: return l * r;
    case LOGQL_OP_DIV: return r == 0 ? NAN : l / r;
    case LOGQL_OP_MOD: return r == 0 ? NAN : fmod(l, r);
    case LOGQL_OP_POW: return pow(l, r);
    case LOGQL_OP_EQ: return l == r;
    case LOGQL_OP_NE: return l != r;
    case LOGQL_OP_GT: return l > r;
    case LOGQL_OP_GE: return l >= r;
    case LOGQL_OP_LT: return l < r;
    case LOGQL_OP_LE: return l <= r;
    default: return NAN;
    }
}

/* Loki's mustNewBinOpExpr: sample operands only, no literal operand for and/or/unless, and two
 * literals fold into one. */
static int finish_binop(struct parser *p, struct logql_expr *e, struct logql_expr **out)
{
    const char *name = logql_binop_name(e->op);
    if (!logql_expr_is_sample(e->inner))
        return semantic(p,
                        "unexpected type for left leg of binary operation (%s): "
                        "*syntax.MatchersExpr",
                        name);
    if (!logql_expr_is_sample(e->rhs))
        return semantic(p,
                        "unexpected type for right leg of binary operation (%s): "
                        "*syntax.MatchersExpr",
                        name);
    bool llit = e->inner->kind == LOGQL_EXPR_LITERAL, rlit = e->rhs->kind == LOGQL_EXPR_LITERAL;
    if (e->op == LOGQL_OP_OR || e->op == LOGQL_OP_AND || e->op == LOGQL_OP_UNLESS) {
        if (llit)
            return semantic(p,
                            "unexpected literal for left leg of logical/set binary operation "
                            "(%s): %f",
                            name, e->inner->value);
        if (rlit)
            return semantic(p,
                            "unexpected literal for right leg of logical/set binary operation "
                            "(%s): %f",
                            name, e->rhs->value);
    }
    if (llit && rlit) {
        double v = fold(e->op, e->inner->value, e->rhs->value);
        memset(e, 0, sizeof *e);
        e->kind = LOGQL_EXPR_LITERAL;
        e->value = v;
    }
    *out = e;
    return 0;
}

static int parse_expr(struct parser *p, int min_prec, struct logql_expr **out)
{
    int rc = enter(p);
    if (rc == 0)
        rc = parse_unary(p, out);
    while (rc == 0) {
        enum logql_binop op;
        int prec;
        if (!binop_of(peek(p)->kind, &op, &prec) || prec < min_prec)
            break;
        next(p);
        struct logql_expr *e = alloc(p, sizeof *e);
        if (!e)
            return ERR_NOMEM;
        e->kind = LOGQL_EXPR_BINOP;
        e->op = op;
        e->inner = *out;
        if ((rc = parse_bin_modifiers(p, e)))
            return rc;
        /* ^ is right-associative, the others left-associative */
        if ((rc = parse_expr(p, op == LOGQL_OP_POW ? prec : prec + 1, &e->rhs)))
            return rc;
        rc = finish_binop(p, e, out);
    }
    p->depth--;
    return rc;
}

int logql_parse(struct str query, struct logql_query **out, char *err, size_t err_size)
{
    struct logql_query *q = logql_query_create();
    if (!q)
        return ERR_NOMEM;
    struct parser p = {.q = q, .err = err, .err_size = err_size};
    int rc = logql_lex(&q->arena, query, &p.t, &p.n, err, err_size);
    if (rc == 0)
        rc = parse_expr(&p, 0, &q->root);
    if (rc == 0 && peek(&p)->kind != LT_EOF)
        rc = syntax_error(&p, peek(&p));
    if (rc) {
        logql_query_destroy(q);
        return rc;
    }
    *out = q;
    return 0;
}
