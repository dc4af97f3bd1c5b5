/* LogQL pretty printer (see pretty.h): splits what print.c writes on one line when it is longer
 * than Loki's 100 characters. A sticky error keeps the writers short. */
#include "engine/logql/pretty.h"

#include <stdlib.h>

#include "base/error.h"
#include "engine/logql/print.h"
#include "engine/logql/units.h"

struct pp {
    struct buf *b;
    int err;
};

static void put(struct pp *p, const char *s)
{
    if (!p->err)
        p->err = buf_append_str(p->b, s);
}

static void put_str(struct pp *p, struct str s)
{
    if (!p->err)
        p->err = buf_append(p->b, s.ptr, s.len);
}

static void put_rc(struct pp *p, int rc)
{
    if (!p->err)
        p->err = rc;
}

static void indent(struct pp *p, int level)
{
    for (int i = 0; i < level; i++)
        put(p, "  ");
}

static void put_list(struct pp *p, const struct str *v, size_t n)
{
    put(p, "(");
    for (size_t i = 0; i < n; i++) {
        if (i)
            put(p, ", ");
        put_str(p, v[i]);
    }
    put(p, ")");
}

/* The canonical text's length (0 after an error, which is recorded). */
static size_t expr_len(struct pp *p, const struct logql_expr *e)
{
    struct buf t;
    buf_init(&t);
    put_rc(p, logql_print(e, &t));
    size_t n = t.len;
    buf_deinit(&t);
    return n;
}

static size_t stage_len(struct pp *p, const struct logql_stage *st)
{
    struct buf t;
    buf_init(&t);
    put_rc(p, logql_print_stage(st, &t));
    size_t n = t.len;
    buf_deinit(&t);
    return n;
}

static size_t selector_len(struct pp *p, const struct logql_selector *sel)
{
    struct buf t;
    buf_init(&t);
    put_rc(p, logql_print_selector(sel, &t));
    size_t n = t.len;
    buf_deinit(&t);
    return n;
}

/* ---- log selectors ---- */

static bool negative_filter(enum logql_line_op op)
{
    return op == LOGQL_LINE_NOT_CONTAINS || op == LOGQL_LINE_NOT_REGEX ||
           op == LOGQL_LINE_NOT_PATTERN;
}

/* Loki's nested line filter: the first n units on one line when they fit, else the first n - 1
 * (split the same way) and the last alone on the next line. */
static void filter_chain(struct pp *p, const struct logql_stage *u, const size_t *lens, size_t n,
                         int level)
{
    size_t total = n - 1;
    for (size_t i = 0; i < n; i++)
        total += lens[i];
    if (total > LOGQL_PRETTY_LINE_MAX && n > 1) {
        filter_chain(p, u, lens, n - 1, level);
        put(p, "\n");
        u += n - 1;
        lens += n - 1;
        n = 1;
    }
    indent(p, level);
    for (size_t i = 0; i < n; i++) {
        if (i)
            put(p, " ");
        put_rc(p, logql_print_stage(&u[i], p->b));
    }
}

/* A run of n line filter stages: one unit per filter, and per term of a negative `or` filter (Loki
 * expands `!= "a" or "b"` into `!= "a" != "b"`). */
static void line_filters(struct pp *p, const struct logql_stage *st, size_t n, int level)
{
    size_t units = 0;
    for (size_t i = 0; i < n; i++)
        units += negative_filter(st[i].line.op) ? st[i].line.n_terms : 1;
    struct logql_stage *u = calloc(units ? units : 1, sizeof *u);
    size_t *lens = calloc(units ? units : 1, sizeof *lens);
    if (!u || !lens) {
        put_rc(p, ERR_NOMEM);
    } else {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            size_t parts = negative_filter(st[i].line.op) ? st[i].line.n_terms : 1;
            for (size_t t = 0; t < parts; t++, k++) {
                u[k] = st[i];
                if (parts > 1) {
                    u[k].line.terms = &st[i].line.terms[t];
                    u[k].line.n_terms = 1;
                }
                lens[k] = stage_len(p, &u[k]);
            }
        }
        if (!p->err)
            filter_chain(p, u, lens, units, level);
    }
    free(u);
    free(lens);
}

static void pretty_selector(struct pp *p, const struct logql_selector *sel, int level)
{
    indent(p, level);
    if (!sel->n_stages || selector_len(p, sel) <= LOGQL_PRETTY_LINE_MAX) {
        put_rc(p, logql_print_selector(sel, p->b));
        return;
    }
    struct logql_selector matchers = *sel;
    matchers.n_stages = 0;
    put_rc(p, logql_print_selector(&matchers, p->b));
    for (size_t i = 0; i < sel->n_stages;) {
        const struct logql_stage *st = &sel->stages[i];
        put(p, "\n");
        if (st->kind == LOGQL_STAGE_LINE_FILTER) {
            size_t j = i;
            while (j < sel->n_stages && sel->stages[j].kind == LOGQL_STAGE_LINE_FILTER)
                j++;
            line_filters(p, st, j - i, level + 1);
            i = j;
            continue;
        }
        if (st->kind != LOGQL_STAGE_DECOLORIZE) /* Loki indents every stage but this one */
            indent(p, level + 1);
        put_rc(p, logql_print_stage(st, p->b));
        i++;
    }
}

/* ---- metric expressions ---- */

static void pretty_expr(struct pp *p, const struct logql_expr *e, int level);

/* ` by (a, b)`, ` without (a)`. An empty `by ()` is dropped (as Loki) where it means no grouping
 * (vector aggregations) and kept where it does not (range aggregations: one series, not one per
 * stream); an empty `without ()` keeps its parentheses so that the output parses. */
static void pretty_grouping(struct pp *p, const struct logql_grouping *g, bool keep_empty_by)
{
    bool by = g->n_labels || keep_empty_by;
    if (g->without)
        put(p, " without");
    else if (by)
        put(p, " by");
    if (by || g->without) {
        put(p, " ");
        put_list(p, g->labels, g->n_labels);
    }
}

/* model.Duration, with a sign for a negative offset. */
static void put_duration(struct pp *p, int64_t ns)
{
    if (ns < 0) {
        put(p, "-");
        ns = ns == INT64_MIN ? INT64_MAX : -ns;
    }
    put_rc(p, logql_fmt_prom_duration(p->b, ns));
}

static void pretty_unwrap(struct pp *p, const struct logql_unwrap *u, int level)
{
    put(p, "\n");
    indent(p, level);
    put(p, "| unwrap ");
    if (u->conv != LOGQL_CONV_NONE) {
        put(p, logql_conv_name(u->conv));
        put(p, "(");
        put_str(p, u->label);
        put(p, ")");
    } else {
        put_str(p, u->label);
    }
    for (size_t i = 0; i < u->n_post; i++) {
        put(p, "\n");
        indent(p, level);
        put(p, "| ");
        put_rc(p, logql_print_label_filter(u->post[i], p->b));
    }
}

static void pretty_range(struct pp *p, const struct logql_expr *e, int level)
{
    indent(p, level);
    put(p, logql_range_op_name(e->range_op));
    put(p, "(\n");
    if (e->has_param) {
        indent(p, level + 1);
        put_rc(p, logql_fmt_float_v(p->b, e->param));
        put(p, ",\n");
    }
    pretty_selector(p, &e->sel, level + 1);
    if (e->unwrap)
        pretty_unwrap(p, e->unwrap, level + 2);
    put(p, " [");
    put_duration(p, e->range_ns);
    put(p, "]");
    if (e->offset_ns) {
        put(p, " offset ");
        put_duration(p, e->offset_ns);
    }
    put(p, "\n");
    indent(p, level);
    put(p, ")");
    if (e->grouping.present)
        pretty_grouping(p, &e->grouping, true);
}

static void pretty_vector(struct pp *p, const struct logql_expr *e, int level)
{
    indent(p, level);
    put(p, logql_vector_op_name(e->vec_op));
    if (e->grouping.present)
        pretty_grouping(p, &e->grouping, false);
    put(p, "(\n");
    if (e->vec_op == LOGQL_VEC_TOPK || e->vec_op == LOGQL_VEC_BOTTOMK ||
        e->vec_op == LOGQL_VEC_APPROX_TOPK) {
        indent(p, level + 1);
        put_rc(p, buf_printf(p->b, "%lld,\n", (long long)e->k));
    }
    pretty_expr(p, e->inner, level + 1);
    put(p, "\n");
    indent(p, level);
    put(p, ")");
}

/* Loki's formatBinaryOp: `op bool on (a, b) group_left (c)`; with labels and no group it ends
 * with a space, as Loki's. */
static void binop_operator(struct pp *p, const struct logql_expr *e)
{
    put(p, logql_binop_name(e->op));
    if (e->return_bool)
        put(p, " bool");
    if (!e->matching ||
        (!e->n_match_labels && !e->on && e->card == LOGQL_CARD_ONE_TO_ONE)) /* ignoring () */
        return;
    put(p, e->on ? " on " : " ignoring ");
    put_list(p, e->match_labels, e->n_match_labels);
    put(p, " ");
    if (e->card != LOGQL_CARD_ONE_TO_ONE)
        put(p, e->card == LOGQL_CARD_MANY_TO_ONE ? "group_left" : "group_right");
    if (e->n_include) {
        put(p, " ");
        put_list(p, e->include, e->n_include);
    }
}

static void pretty_binop(struct pp *p, const struct logql_expr *e, int level)
{
    pretty_expr(p, e->inner, level + 1);
    put(p, "\n");
    indent(p, level);
    binop_operator(p, e);
    put(p, "\n");
    pretty_expr(p, e->rhs, level + 1);
}

static void pretty_label_replace(struct pp *p, const struct logql_expr *e, int level)
{
    indent(p, level);
    put(p, "label_replace(\n");
    pretty_expr(p, e->inner, level + 1);
    const struct str args[4] = {e->dst, e->replacement, e->src, e->regex_src};
    for (int i = 0; i < 4; i++) {
        put(p, ",\n");
        indent(p, level + 1);
        put_rc(p, logql_quote(p->b, args[i]));
    }
    put(p, "\n");
    indent(p, level);
    put(p, ")");
}

static void pretty_expr(struct pp *p, const struct logql_expr *e, int level)
{
    if (p->err)
        return;
    if (e->kind == LOGQL_EXPR_LOG) {
        pretty_selector(p, &e->sel, level);
        return;
    }
    if (e->kind == LOGQL_EXPR_LITERAL || e->kind == LOGQL_EXPR_VECTOR ||
        expr_len(p, e) <= LOGQL_PRETTY_LINE_MAX) {
        indent(p, level);
        put_rc(p, logql_print(e, p->b));
        return;
    }
    switch (e->kind) {
    case LOGQL_EXPR_RANGE_AGG: pretty_range(p, e, level); return;
    case LOGQL_EXPR_VECTOR_AGG: pretty_vector(p, e, level); return;
    case LOGQL_EXPR_BINOP: pretty_binop(p, e, level); return;
    case LOGQL_EXPR_LABEL_REPLACE: pretty_label_replace(p, e, level); return;
    default: return;
    }
}

int logql_pretty(const struct logql_expr *e, struct buf *out)
{
    struct pp p = {out, 0};
    pretty_expr(&p, e, 0);
    return p.err;
}
