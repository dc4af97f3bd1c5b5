/* PromQL printer (Prometheus's printer.go String() forms) and Go-compatible number formatting. */
#include "engine/promql/print.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "base/error.h"
#include "engine/promql/quote.h"

/* ---- numbers ---- */

/* Shortest decimal digits that round-trip v (finite, > 0): digits without the point, and the
 * decimal exponent of the first digit. */
static void shortest_digits(double v, char *digits, int *exp10)
{
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    /* tmp is "d[.ddd]e[+-]xx" */
    size_t n = 0;
    const char *s = tmp;
    for (; *s && *s != 'e'; s++)
        if (*s != '.')
            digits[n++] = *s;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = 0;
    *exp10 = atoi(s + 1);
}

static int format_special(struct buf *b, double v, bool *done)
{
    *done = true;
    if (isnan(v))
        return buf_append_str(b, "NaN");
    if (isinf(v))
        return buf_append_str(b, v > 0 ? "+Inf" : "-Inf");
    *done = false;
    if (signbit(v))
        return buf_append_u8(b, '-');
    return 0;
}

int promql_format_float(struct buf *b, double v)
{
    bool done;
    int rc = format_special(b, v, &done);
    if (rc || done)
        return rc;
    v = fabs(v);
    if (v == 0)
        return buf_append_u8(b, '0');
    char d[24];
    int e;
    shortest_digits(v, d, &e);
    int nd = (int)strlen(d);
    if (e < 0) {
        rc = buf_append_str(b, "0.");
        for (int i = 0; rc == 0 && i < -e - 1; i++)
            rc = buf_append_u8(b, '0');
        return rc ? rc : buf_append(b, d, (size_t)nd);
    }
    for (int i = 0; rc == 0 && i <= e; i++)
        rc = buf_append_u8(b, i < nd ? (uint8_t)d[i] : '0');
    if (rc == 0 && nd > e + 1) {
        rc = buf_append_u8(b, '.');
        if (rc == 0)
            rc = buf_append(b, d + e + 1, (size_t)(nd - e - 1));
    }
    return rc;
}

/* fmt's %v for a float64 is strconv's shortest 'g': the exponent form ("1e+06", "1.5e-07") when
 * the decimal exponent is < -4 or >= 6, else the 'f' form. */
int promql_format_float_v(struct buf *b, double v)
{
    bool done;
    int rc = format_special(b, v, &done);
    if (rc || done)
        return rc;
    v = fabs(v);
    if (v == 0)
        return buf_append_u8(b, '0');
    char d[24];
    int e;
    shortest_digits(v, d, &e);
    if (e >= -4 && e < 6)
        return promql_format_float(b, v);
    rc = buf_append_u8(b, (uint8_t)d[0]);
    if (rc == 0 && d[1])
        rc = buf_printf(b, ".%s", d + 1);
    return rc ? rc : buf_printf(b, "e%c%02d", e < 0 ? '-' : '+', abs(e));
}

int promql_format_duration(struct buf *b, int64_t ms)
{
    static const struct {
        const char *unit;
        int64_t mult;
        bool exact;
    } units[] = {{"y", 365LL * 86400000, true},
                 {"w", 7LL * 86400000, true},
                 {"d", 86400000, false},
                 {"h", 3600000, false},
                 {"m", 60000, false},
                 {"s", 1000, false},
                 {"ms", 1, false}};
    if (ms == 0)
        return buf_append_str(b, "0s");
    int rc = 0;
    uint64_t u = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    if (ms < 0)
        rc = buf_append_u8(b, '-');
    for (size_t i = 0; rc == 0 && i < sizeof units / sizeof units[0]; i++) {
        uint64_t m = (uint64_t)units[i].mult;
        if (units[i].exact && u % m != 0)
            continue;
        uint64_t v = u / m;
        if (v > 0) {
            rc = buf_printf(b, "%llu%s", (unsigned long long)v, units[i].unit);
            u -= v * m;
        }
    }
    return rc;
}

/* ---- nodes ---- */

struct printer {
    struct buf *b;
    int rc;
};

static void put(struct printer *pr, const char *s)
{
    if (pr->rc == 0)
        pr->rc = buf_append_str(pr->b, s);
}

static void put_n(struct printer *pr, const char *s, size_t n)
{
    if (pr->rc == 0)
        pr->rc = buf_append(pr->b, s, n);
}

static void put_quoted(struct printer *pr, struct str s)
{
    if (pr->rc == 0)
        pr->rc = promql_quote(pr->b, s.ptr, s.len);
}

static void put_duration(struct printer *pr, int64_t ms)
{
    if (pr->rc == 0)
        pr->rc = promql_format_duration(pr->b, ms);
}

static void print_node(struct printer *pr, const struct promql_node *n);

/* A grouping label that Go prints bare but that would not lex back as a label name. */
static bool label_needs_quotes(struct str s)
{
    static const char *const words[] = {"without", "inf", "nan"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (s.len == strlen(words[i]) && !strncasecmp(s.ptr, words[i], s.len))
            return true;
    return !promql_is_legacy_label_name(s.ptr, s.len);
}

static void put_labels(struct printer *pr, const struct promql_labels *l)
{
    for (uint32_t i = 0; i < l->len; i++) {
        if (i)
            put(pr, ", ");
        if (!label_needs_quotes(l->names[i]))
            put_n(pr, l->names[i].ptr, l->names[i].len);
        else
            put_quoted(pr, l->names[i]);
    }
}

static void print_number(struct printer *pr, const struct promql_node *n)
{
    if (pr->rc)
        return;
    double v = n->number.val;
    if (!n->number.duration) {
        pr->rc = promql_format_float(pr->b, v);
        return;
    }
    /* model.Duration(v * 1e9): nanoseconds truncated, then to milliseconds */
    double ns = trunc(fabs(v) * 1e9);
    int64_t ms = ns >= 9.2233720368547758e18 ? INT64_MAX / 1000000 : (int64_t)ns / 1000000;
    if (v < 0)
        put(pr, "-");
    put_duration(pr, ms);
}

static void print_dur(struct printer *pr, const struct promql_node *n)
{
    static const char *const ops[] = {"+", "-", "*", "/", "%", "^"};
    const struct promql_dur *d = &n->dur;
    if (d->wrapped)
        put(pr, "(");
    if (d->op == PROMQL_DUR_STEP) {
        put(pr, "step()");
    } else if (d->op == PROMQL_DUR_RANGE) {
        put(pr, "range()");
    } else if (d->op == PROMQL_DUR_MIN_OF || d->op == PROMQL_DUR_MAX_OF) {
        put(pr, d->op == PROMQL_DUR_MIN_OF ? "min_of(" : "max_of(");
        print_node(pr, d->lhs);
        put(pr, ", ");
        print_node(pr, d->rhs);
        put(pr, ")");
    } else if (!d->lhs) {
        if (d->op == PROMQL_DUR_SUB)
            put(pr, "-");
        print_node(pr, d->rhs);
    } else {
        print_node(pr, d->lhs);
        put(pr, " ");
        put(pr, ops[d->op]);
        put(pr, " ");
        print_node(pr, d->rhs);
    }
    if (d->wrapped)
        put(pr, ")");
}

static void put_at(struct printer *pr, const struct promql_at *at)
{
    if (at->kind == PROMQL_AT_TIMESTAMP) {
        if (pr->rc == 0)
            pr->rc = buf_printf(pr->b, " @ %.3f", (double)at->ts_ms / 1000.0);
    } else if (at->kind == PROMQL_AT_START) {
        put(pr, " @ start()");
    } else if (at->kind == PROMQL_AT_END) {
        put(pr, " @ end()");
    }
}

static bool dur_is_binary(const struct promql_node *n)
{
    return n->kind == PROMQL_DURATION_EXPR && !n->dur.wrapped && n->dur.lhs &&
           n->dur.op <= PROMQL_DUR_POW;
}

/* An offset written as a binary duration expression only parses back as one when it starts with
 * "(" (offset 5m + 1m is (x offset 5m) + 1m); other such offsets, which only arise from inputs
 * like "offset --5m + 1m", are parenthesised so printing is a fixed point. */
static bool offset_needs_parens(const struct promql_node *e)
{
    if (!dur_is_binary(e))
        return false;
    while (dur_is_binary(e))
        e = e->dur.lhs;
    return !(e->kind == PROMQL_DURATION_EXPR && e->dur.wrapped);
}

static void put_offset(struct printer *pr, int64_t ms, const struct promql_node *expr)
{
    if (expr) {
        bool parens = offset_needs_parens(expr);
        put(pr, parens ? " offset (" : " offset ");
        print_node(pr, expr);
        if (parens)
            put(pr, ")");
    } else if (ms > 0) {
        put(pr, " offset ");
        put_duration(pr, ms);
    } else if (ms < 0) {
        put(pr, " offset -");
        put_duration(pr, (int64_t)(0 - (uint64_t)ms));
    }
}

static void put_extended(struct printer *pr, const struct promql_vector_selector *vs)
{
    if (vs->anchored)
        put(pr, " anchored");
    else if (vs->smoothed)
        put(pr, " smoothed");
}

static int cmp_buf(const void *a, const void *b)
{
    const struct buf *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->data, y->data, n) : 0;
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int matcher_string(struct buf *b, const struct matcher *m)
{
    int rc = 0;
    bool plain = promql_is_legacy_label_name(m->name.ptr, m->name.len);
    if (plain)
        rc = buf_append(b, m->name.ptr, m->name.len);
    else
        rc = promql_quote(b, m->name.ptr, m->name.len);
    if (rc == 0)
        rc = buf_append_str(b, matcher_type_str(m->type));
    return rc ? rc : promql_quote(b, m->value.ptr, m->value.len);
}

/* name{sorted matchers}, without any modifier. */
static void print_selector_core(struct printer *pr, const struct promql_vector_selector *vs)
{
    put_n(pr, vs->name.ptr, vs->name.len);
    struct buf *items = calloc(vs->nmatchers ? vs->nmatchers : 1, sizeof *items);
    if (!items) {
        pr->rc = ERR_NOMEM;
        return;
    }
    size_t n = 0;
    for (uint32_t i = 0; i < vs->nmatchers && pr->rc == 0; i++) {
        const struct matcher *m = &vs->matchers[i];
        if (m->type == MATCHER_EQ && str_eq_cstr(m->name, "__name__") && m->value.len &&
            str_eq(m->value, vs->name))
            continue;
        pr->rc = matcher_string(&items[n++], m);
    }
    if (pr->rc == 0 && n == 0 && vs->name.len == 0)
        put(pr, "{}"); /* info(x, {}): Go prints nothing here, which does not parse back */
    if (pr->rc == 0 && n) {
        qsort(items, n, sizeof *items, cmp_buf);
        put(pr, "{");
        for (size_t i = 0; i < n; i++) {
            if (i)
                put(pr, ",");
            put_n(pr, (const char *)items[i].data, items[i].len);
        }
        put(pr, "}");
    }
    for (size_t i = 0; i < n; i++)
        buf_deinit(&items[i]);
    free(items);
}

/* An offset printed as "(...)" or with two leading signs parses as a duration expression that
 * takes in any + - * / % ^ after it. Prometheus prints offset last, after @ and anchored/smoothed,
 * so "x offset (1m) @ 5 * 2" would print as "x @ 5.000 offset (1m) * 2" and reparse as an offset
 * of (1m) * 2. For such offsets the modifiers that ended the expression are printed after it. */
static bool offset_continues(const struct promql_node *e)
{
    if (!e)
        return false;
    struct buf tmp = BUF_INIT;
    struct printer p = {&tmp, 0};
    put_offset(&p, 0, e);
    const char *s = (const char *)tmp.data;
    bool sign2 = tmp.len > 9 && (s[8] == '-' || s[8] == '+') && (s[9] == '-' || s[9] == '+');
    bool r = p.rc == 0 && tmp.len > 8 && (s[8] == '(' || sign2); /* after " offset " */
    buf_deinit(&tmp);
    return r;
}

static void print_vector_selector(struct printer *pr, const struct promql_vector_selector *vs)
{
    bool first = offset_continues(vs->offset_expr);
    print_selector_core(pr, vs);
    if (first)
        put_offset(pr, vs->offset_ms, vs->offset_expr);
    put_at(pr, &vs->at);
    put_extended(pr, vs);
    if (!first)
        put_offset(pr, vs->offset_ms, vs->offset_expr);
}

static void put_range(struct printer *pr, int64_t ms, const struct promql_node *expr)
{
    if (expr)
        print_node(pr, expr);
    else
        put_duration(pr, ms);
}

static void print_matrix(struct printer *pr, const struct promql_matrix_selector *m)
{
    const struct promql_vector_selector *vs = &m->vs->vs;
    print_selector_core(pr, vs);
    put(pr, "[");
    put_range(pr, m->range_ms, m->range_expr);
    put(pr, "]");
    bool first = offset_continues(vs->offset_expr);
    if (first)
        put_offset(pr, vs->offset_ms, vs->offset_expr);
    put_extended(pr, vs);
    put_at(pr, &vs->at);
    if (!first)
        put_offset(pr, vs->offset_ms, vs->offset_expr);
}

static void print_subquery(struct printer *pr, const struct promql_subquery *s)
{
    print_node(pr, s->expr);
    put(pr, "[");
    put_range(pr, s->range_ms, s->range_expr);
    put(pr, ":");
    if (s->step_ms != 0)
        put_duration(pr, s->step_ms);
    else if (s->step_expr)
        print_node(pr, s->step_expr);
    put(pr, "]");
    bool first = offset_continues(s->offset_expr);
    if (first)
        put_offset(pr, s->offset_ms, s->offset_expr);
    put_at(pr, &s->at);
    if (!first)
        put_offset(pr, s->offset_ms, s->offset_expr);
}

static void print_aggregate(struct printer *pr, const struct promql_aggregate *a)
{
    put(pr, promql_aggop_str(a->op));
    if (a->without || a->grouping.len) {
        put(pr, a->without ? " without (" : " by (");
        put_labels(pr, &a->grouping);
        put(pr, ") ");
    }
    put(pr, "(");
    if (a->param) {
        print_node(pr, a->param);
        put(pr, ", ");
    }
    print_node(pr, a->expr);
    put(pr, ")");
}

static void put_fill(struct printer *pr, const char *what, double v)
{
    put(pr, what);
    if (pr->rc == 0)
        pr->rc = promql_format_float_v(pr->b, v);
    put(pr, ")");
}

static void print_matching(struct printer *pr, const struct promql_vector_matching *m)
{
    bool grouped = m->card == PROMQL_CARD_MANY_TO_ONE || m->card == PROMQL_CARD_ONE_TO_MANY;
    if (m->matching.len || m->on || grouped) {
        put(pr, m->on ? " on (" : " ignoring (");
        put_labels(pr, &m->matching);
        put(pr, ")");
    }
    if (grouped) {
        put(pr, m->card == PROMQL_CARD_MANY_TO_ONE ? " group_left (" : " group_right (");
        put_labels(pr, &m->include);
        put(pr, ")");
    }
    if (m->fill_lhs && m->fill_rhs && m->fill_lhs_val == m->fill_rhs_val) {
        put_fill(pr, " fill (", m->fill_lhs_val);
        return;
    }
    if (m->fill_lhs)
        put_fill(pr, " fill_left (", m->fill_lhs_val);
    if (m->fill_rhs)
        put_fill(pr, " fill_right (", m->fill_rhs_val);
}

static void print_binary(struct printer *pr, const struct promql_binary *b)
{
    const struct promql_node *l = b->lhs;
    /* Go prints +Inf with its sign, but "+Inf ^ 2" reparses as +(Inf ^ 2): drop the sign where it
     * would change the tree, so printing is a fixed point. */
    if (b->op == PROMQL_OP_POW && l->kind == PROMQL_NUMBER && !l->number.duration &&
        isinf(l->number.val) && l->number.val > 0)
        put(pr, "Inf");
    else
        print_node(pr, l);
    put(pr, " ");
    put(pr, promql_binop_str(b->op));
    if (b->return_bool)
        put(pr, " bool");
    if (b->has_matching)
        print_matching(pr, &b->matching);
    put(pr, " ");
    print_node(pr, b->rhs);
}

static void print_call(struct printer *pr, const struct promql_call *c)
{
    put(pr, c->func->name);
    put(pr, "(");
    for (uint32_t i = 0; i < c->nargs; i++) {
        if (i)
            put(pr, ", ");
        print_node(pr, c->args[i]);
    }
    put(pr, ")");
}

static void print_node(struct printer *pr, const struct promql_node *n)
{
    if (pr->rc)
        return;
    switch (n->kind) {
    case PROMQL_NUMBER: print_number(pr, n); break;
    case PROMQL_STRING: put_quoted(pr, n->string); break;
    case PROMQL_VECTOR_SELECTOR: print_vector_selector(pr, &n->vs); break;
    case PROMQL_MATRIX_SELECTOR: print_matrix(pr, &n->ms); break;
    case PROMQL_SUBQUERY: print_subquery(pr, &n->sq); break;
    case PROMQL_CALL: print_call(pr, &n->call); break;
    case PROMQL_AGGREGATE: print_aggregate(pr, &n->agg); break;
    case PROMQL_BINARY: print_binary(pr, &n->bin); break;
    case PROMQL_UNARY:
        put(pr, n->unary.neg ? "-" : "+");
        print_node(pr, n->unary.expr);
        break;
    case PROMQL_PAREN:
        put(pr, "(");
        print_node(pr, n->paren);
        put(pr, ")");
        break;
    case PROMQL_DURATION_EXPR: print_dur(pr, n); break;
    }
}

int promql_print(const struct promql_node *n, struct buf *b)
{
    struct printer pr = {b, 0};
    print_node(&pr, n);
    return pr.rc;
}
