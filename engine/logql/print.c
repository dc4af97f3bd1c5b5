/* LogQL canonical printer (see print.h). A sticky error keeps the writers short. */
#include "engine/logql/print.h"

#include <math.h>

#include "base/error.h"
#include "engine/logql/units.h"

struct pr {
    struct buf *b;
    int err;
};

static void put(struct pr *p, const char *s)
{
    if (!p->err)
        p->err = buf_append_str(p->b, s);
}

static void put_str(struct pr *p, struct str s)
{
    if (!p->err)
        p->err = buf_append(p->b, s.ptr, s.len);
}

static void put_quoted(struct pr *p, struct str s)
{
    if (!p->err)
        p->err = logql_quote(p->b, s);
}

static void put_rc(struct pr *p, int rc)
{
    if (!p->err)
        p->err = rc;
}

/* Loki lexes a stray character such as `!` as an identifier; when such a name is printed before
 * an operator it needs a space, or `! =` would come back as `!=`. */
static void put_name(struct pr *p, struct str name)
{
    put_str(p, name);
    for (size_t i = 0; i < name.len; i++) {
        unsigned char c = (unsigned char)name.ptr[i];
        if (!(c >= 0x80 || c == '_' || (c >= '0' && c <= '9') ||
              ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))) {
            put(p, " ");
            return;
        }
    }
}

static void print_matcher(struct pr *p, const struct matcher *m)
{
    put_name(p, m->name);
    put(p, matcher_type_str(m->type));
    put_quoted(p, m->value);
}

static void print_line_term(struct pr *p, const struct logql_line_term *t)
{
    if (t->is_ip) {
        put(p, "ip(");
        put_quoted(p, t->value);
        put(p, ")");
    } else {
        put_quoted(p, t->value);
    }
}

static void print_line_filter(struct pr *p, const struct logql_line_filter *lf)
{
    bool negative = lf->op == LOGQL_LINE_NOT_CONTAINS || lf->op == LOGQL_LINE_NOT_REGEX ||
                    lf->op == LOGQL_LINE_NOT_PATTERN;
    for (size_t i = 0; i < lf->n_terms; i++) {
        if (i == 0 || negative) {
            if (i)
                put(p, " ");
            put(p, logql_line_op_name(lf->op));
            put(p, " ");
        } else {
            put(p, " or ");
        }
        print_line_term(p, &lf->terms[i]);
    }
}

/* Go prints negative zero as "-0", which Loki's lexer reads back as a duration; "-0.0" keeps the
 * sign and lexes as a number. */
static void print_number(struct pr *p, double v, int (*fmt)(struct buf *, double))
{
    if (v == 0 && signbit(v))
        put(p, "-0.0");
    else
        put_rc(p, fmt(p->b, v));
}

static void print_bytes(struct pr *p, uint64_t v)
{
    if (v == 0) { /* Loki's scanner reads "0B" as a binary literal without digits */
        put(p, "0.0B");
        return;
    }
    if (v >= 1000000000000000000ULL) { /* "EB" would not lex back as a byte size */
        if (!p->err)
            p->err = buf_printf(p->b, "%lluB", (unsigned long long)v);
        return;
    }
    put_rc(p, logql_fmt_bytes(p->b, v));
}

static void print_label_filter(struct pr *p, const struct logql_label_filter *f)
{
    switch (f->kind) {
    case LOGQL_LF_AND:
    case LOGQL_LF_OR:
        put(p, "( ");
        print_label_filter(p, f->left);
        put(p, f->kind == LOGQL_LF_AND ? " , " : " or ");
        print_label_filter(p, f->right);
        put(p, " )");
        return;
    case LOGQL_LF_STRING: print_matcher(p, f->matcher); return;
    case LOGQL_LF_IP:
        put_name(p, f->name);
        put(p, f->cmp == LOGQL_CMP_EQ ? "=ip(" : "!=ip(");
        put_quoted(p, f->ip_pattern);
        put(p, ")");
        return;
    default: break;
    }
    put_name(p, f->name);
    put(p, logql_cmp_name(f->cmp));
    if (f->kind == LOGQL_LF_NUMBER)
        print_number(p, f->number, logql_fmt_float_f);
    else if (f->kind == LOGQL_LF_DURATION)
        put_rc(p, logql_fmt_go_duration(p->b, f->duration_ns));
    else
        print_bytes(p, f->bytes);
}

static void print_extracts(struct pr *p, const struct logql_stage *st)
{
    for (size_t i = 0; i < st->n_exprs; i++) {
        if (i)
            put(p, ",");
        put_name(p, st->exprs[i].name);
        put(p, "=");
        put_quoted(p, st->exprs[i].expr);
    }
}

static void print_names(struct pr *p, const struct logql_stage *st)
{
    for (size_t i = 0; i < st->n_names; i++) {
        if (i)
            put(p, ",");
        if (st->names[i].matcher)
            print_matcher(p, st->names[i].matcher);
        else
            put_str(p, st->names[i].name);
    }
}

static void print_label_format(struct pr *p, const struct logql_stage *st)
{
    put(p, "| label_format ");
    for (size_t i = 0; i < st->n_fmts; i++) {
        if (i)
            put(p, ",");
        put_name(p, st->fmts[i].dst);
        put(p, "=");
        if (st->fmts[i].rename) {
            put(p, st->fmts[i].value.len && !((unsigned char)st->fmts[i].value.ptr[0] >= 0x80 ||
                                              st->fmts[i].value.ptr[0] == '_' ||
                                              ((st->fmts[i].value.ptr[0] | 0x20) >= 'a' &&
                                               (st->fmts[i].value.ptr[0] | 0x20) <= 'z'))
                       ? " "
                       : "");
            put_str(p, st->fmts[i].value);
        } else
            put_quoted(p, st->fmts[i].value);
    }
}

static void print_logfmt(struct pr *p, const struct logql_stage *st)
{
    put(p, "| logfmt");
    if (st->strict)
        put(p, " --strict");
    if (st->keep_empty)
        put(p, " --keep-empty");
    if (st->n_exprs) {
        put(p, " ");
        print_extracts(p, st);
    }
}

static void print_stage(struct pr *p, const struct logql_stage *st)
{
    switch (st->kind) {
    case LOGQL_STAGE_LINE_FILTER: print_line_filter(p, &st->line); return;
    case LOGQL_STAGE_JSON:
        put(p, st->n_exprs ? "| json " : "| json");
        print_extracts(p, st);
        return;
    case LOGQL_STAGE_LOGFMT: print_logfmt(p, st); return;
    case LOGQL_STAGE_REGEXP:
    case LOGQL_STAGE_PATTERN:
        put(p, st->kind == LOGQL_STAGE_REGEXP ? "| regexp " : "| pattern ");
        put_quoted(p, st->source);
        return;
    case LOGQL_STAGE_UNPACK: put(p, "| unpack"); return;
    case LOGQL_STAGE_DECOLORIZE: put(p, "| decolorize"); return;
    case LOGQL_STAGE_LABEL_FILTER:
        put(p, "| ");
        print_label_filter(p, st->filter);
        return;
    case LOGQL_STAGE_LINE_FORMAT:
        put(p, "| line_format ");
        put_quoted(p, st->source);
        return;
    case LOGQL_STAGE_LABEL_FORMAT: print_label_format(p, st); return;
    case LOGQL_STAGE_DROP:
    case LOGQL_STAGE_KEEP:
        put(p, st->kind == LOGQL_STAGE_DROP ? "| drop " : "| keep ");
        print_names(p, st);
        return;
    }
}

static void print_selector(struct pr *p, const struct logql_selector *sel)
{
    put(p, "{");
    for (size_t i = 0; i < sel->n_matchers; i++) {
        if (i)
            put(p, ", ");
        print_matcher(p, &sel->matchers[i]);
    }
    put(p, "}");
    for (size_t i = 0; i < sel->n_stages; i++) {
        put(p, " ");
        print_stage(p, &sel->stages[i]);
    }
}

static void print_labels(struct pr *p, const struct str *labels, size_t n)
{
    put(p, "(");
    for (size_t i = 0; i < n; i++) {
        if (i)
            put(p, ",");
        put_str(p, labels[i]);
    }
    put(p, ")");
}

static void print_grouping(struct pr *p, const struct logql_grouping *g)
{
    put(p, g->without ? " without " : " by ");
    print_labels(p, g->labels, g->n_labels);
}

static void print_unwrap(struct pr *p, const struct logql_unwrap *u)
{
    put(p, " | unwrap ");
    if (u->conv != LOGQL_CONV_NONE) {
        put(p, logql_conv_name(u->conv));
        put(p, "(");
        put_str(p, u->label);
        put(p, ")");
    } else {
        put_str(p, u->label);
    }
    for (size_t i = 0; i < u->n_post; i++) {
        put(p, " | ");
        print_label_filter(p, u->post[i]);
    }
}

static void print_expr(struct pr *p, const struct logql_expr *e);

static void print_range_agg(struct pr *p, const struct logql_expr *e)
{
    put(p, logql_range_op_name(e->range_op));
    put(p, "(");
    if (e->has_param) {
        put_rc(p, logql_fmt_float_f(p->b, e->param));
        put(p, ",");
    }
    print_selector(p, &e->sel);
    if (e->unwrap)
        print_unwrap(p, e->unwrap);
    put(p, "[");
    put_rc(p, logql_fmt_prom_duration(p->b, e->range_ns));
    put(p, "]");
    if (e->offset_ns) {
        put(p, " offset ");
        put_rc(p, logql_fmt_go_duration(p->b, e->offset_ns));
    }
    put(p, ")");
    if (e->grouping.present)
        print_grouping(p, &e->grouping);
}

static void print_vector_agg(struct pr *p, const struct logql_expr *e)
{
    put(p, logql_vector_op_name(e->vec_op));
    if (e->grouping.present && (e->grouping.n_labels > 0 || e->grouping.without))
        print_grouping(p, &e->grouping);
    put(p, "(");
    if (e->vec_op == LOGQL_VEC_TOPK || e->vec_op == LOGQL_VEC_BOTTOMK ||
        e->vec_op == LOGQL_VEC_APPROX_TOPK) {
        if (!p->err)
            p->err = buf_printf(p->b, "%lld,", (long long)e->k);
    }
    print_expr(p, e->inner);
    put(p, ")");
}

static void print_binop(struct pr *p, const struct logql_expr *e)
{
    put(p, "(");
    print_expr(p, e->inner);
    put(p, " ");
    put(p, logql_binop_name(e->op));
    if (e->return_bool)
        put(p, " bool");
    if (e->matching) {
        put(p, e->on ? " on " : " ignoring ");
        print_labels(p, e->match_labels, e->n_match_labels);
        if (e->card != LOGQL_CARD_ONE_TO_ONE)
            put(p, e->card == LOGQL_CARD_MANY_TO_ONE ? " group_left" : " group_right");
        if (e->has_include) {
            put(p, " ");
            print_labels(p, e->include, e->n_include);
        }
    }
    put(p, " ");
    print_expr(p, e->rhs);
    put(p, ")");
}

static void print_label_replace(struct pr *p, const struct logql_expr *e)
{
    put(p, "label_replace(");
    print_expr(p, e->inner);
    const struct str args[4] = {e->dst, e->replacement, e->src, e->regex_src};
    for (int i = 0; i < 4; i++) {
        put(p, ",");
        put_quoted(p, args[i]);
    }
    put(p, ")");
}

static void print_expr(struct pr *p, const struct logql_expr *e)
{
    switch (e->kind) {
    case LOGQL_EXPR_LOG: print_selector(p, &e->sel); return;
    case LOGQL_EXPR_RANGE_AGG: print_range_agg(p, e); return;
    case LOGQL_EXPR_VECTOR_AGG: print_vector_agg(p, e); return;
    case LOGQL_EXPR_BINOP: print_binop(p, e); return;
    case LOGQL_EXPR_LITERAL: print_number(p, e->value, logql_fmt_float_v); return;
    case LOGQL_EXPR_VECTOR:
        put(p, "vector(");
        put_rc(p, logql_fmt_float_6(p->b, e->value));
        put(p, ")");
        return;
    case LOGQL_EXPR_LABEL_REPLACE: print_label_replace(p, e); return;
    }
}

int logql_print(const struct logql_expr *e, struct buf *out)
{
    struct pr p = {out, 0};
    print_expr(&p, e);
    return p.err;
}

int logql_print_stage(const struct logql_stage *st, struct buf *out)
{
    struct pr p = {out, 0};
    print_stage(&p, st);
    return p.err;
}

int logql_print_selector(const struct logql_selector *sel, struct buf *out)
{
    struct pr p = {out, 0};
    print_selector(&p, sel);
    return p.err;
}

int logql_print_label_filter(const struct logql_label_filter *f, struct buf *out)
{
    struct pr p = {out, 0};
    print_label_filter(&p, f);
    return p.err;
}
