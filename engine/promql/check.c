/* Parse-time semantic checks of a PromQL AST, in Prometheus's checkAST order (children before
 * parents), so the first error reported is the one Prometheus reports. Also finalises binary
 * matching: set operators become many-to-many and matching is dropped unless both sides are
 * instant vectors. */
#include "engine/promql/parse_internal.h"

#include <string.h>

static enum promql_vtype check(struct promql_parser *p, struct promql_node *n);

static void expect_type(struct promql_parser *p, struct promql_node *n, enum promql_vtype want,
                        const char *context)
{
    enum promql_vtype t = check(p, n);
    if (t != want)
        promql_failf(p, n->pos_start, n->pos_end, "expected type %s in %s, got %s",
                     promql_vtype_doc(want), context, promql_vtype_doc(t));
}

static void check_vector_selector(struct promql_parser *p, struct promql_node *n)
{
    const struct promql_vector_selector *vs = &n->vs;
    if (vs->name.len) {
        /* the last matcher is the one added for the name outside the braces */
        for (uint32_t i = 0; i + 1 < vs->nmatchers; i++) {
            if (str_eq_cstr(vs->matchers[i].name, "__name__"))
                promql_failf(p, n->pos_start, n->pos_end,
                             "metric name must not be set twice: %q or %q", vs->name.ptr,
                             vs->name.len, vs->matchers[i].value.ptr, vs->matchers[i].value.len);
        }
        return;
    }
    if (vs->bypass_empty_matcher_check)
        return;
    for (uint32_t i = 0; i < vs->nmatchers; i++)
        if (!matcher_matches_empty(&vs->matchers[i]))
            return;
    promql_failf(p, n->pos_start, n->pos_end,
                 "vector selector must contain at least one non-empty matcher");
}

static void check_arg_count(struct promql_parser *p, const struct promql_node *n)
{
    const struct promql_func *f = n->call.func;
    int have = (int)n->call.nargs, nargs = f->nargs;
    const char *name = f->name;
    if (f->variadic == 0) {
        if (nargs != have)
            promql_failf(p, n->pos_start, n->pos_end,
                         "expected %d argument(s) in call to %q, got %d", nargs, name, strlen(name),
                         have);
        return;
    }
    int na = nargs - 1;
    if (na > have)
        promql_failf(p, n->pos_start, n->pos_end,
                     "expected at least %d argument(s) in call to %q, got %d", na, name,
                     strlen(name), have);
    if (f->variadic > 0 && na + f->variadic < have)
        promql_failf(p, n->pos_start, n->pos_end,
                     "expected at most %d argument(s) in call to %q, got %d", na + f->variadic,
                     name, strlen(name), have);
}

/* info(v, {selector}): the second argument must be a selector of labels only. */
static void check_info(struct promql_parser *p, struct promql_node *n)
{
    struct promql_node *a = n->call.args[1];
    if (a->type != PROMQL_VT_VECTOR)
        promql_failf(p, n->pos_start, n->pos_end, "expected type %s in %s, got %s",
                     promql_vtype_doc(PROMQL_VT_VECTOR), "call to function \"info\"",
                     promql_vtype_doc(a->type));
    if (a->kind != PROMQL_VECTOR_SELECTOR)
        promql_failf(p, a->pos_start, a->pos_end, "expected label selectors only");
    if (a->vs.name.len)
        promql_failf(p, a->pos_start, a->pos_end,
                     "expected label selectors only, got vector selector instead");
    a->vs.bypass_empty_matcher_check = true;
}

static void check_call(struct promql_parser *p, struct promql_node *n)
{
    const struct promql_func *f = n->call.func;
    check_arg_count(p, n);
    if (f->id == PROMQL_FN_INFO && n->call.nargs > 1)
        check_info(p, n);
    for (uint32_t i = 0; i < n->call.nargs; i++) {
        uint32_t k = i;
        if (k >= f->nargs) {
            if (f->variadic == 0)
                break;
            k = f->nargs - 1u;
        }
        struct promql_node *a = n->call.args[i];
        enum promql_vtype t = check(p, a);
        if (t != f->arg_types[k])
            promql_failf(
                p, a->pos_start, a->pos_end, "expected type %s in call to function %q, got %s",
                promql_vtype_doc(f->arg_types[k]), f->name, strlen(f->name), promql_vtype_doc(t));
    }
}

static void check_aggregate(struct promql_parser *p, struct promql_node *n)
{
    expect_type(p, n->agg.expr, PROMQL_VT_VECTOR, "aggregation expression");
    enum promql_aggop op = n->agg.op;
    if (op == PROMQL_AGG_COUNT_VALUES)
        expect_type(p, n->agg.param, PROMQL_VT_STRING, "aggregation parameter");
    else if (promql_aggop_has_param(op))
        expect_type(p, n->agg.param, PROMQL_VT_SCALAR, "aggregation parameter");
}

/* Checks on the modifiers that do not depend on operand types. */
static void check_binary_modifiers(struct promql_parser *p, struct promql_node *n)
{
    struct promql_binary *b = &n->bin;
    struct promql_vector_matching *m = &b->matching;
    uint32_t op_end = b->op_pos + (uint32_t)strlen(promql_binop_str(b->op));
    bool cmp = promql_binop_is_comparison(b->op);
    if (b->return_bool && !cmp)
        promql_failf(p, b->op_pos, op_end,
                     "bool modifier can only be used on comparison operators");
    if (cmp && !b->return_bool && b->lhs->type == PROMQL_VT_SCALAR &&
        b->rhs->type == PROMQL_VT_SCALAR)
        promql_failf(p, b->op_pos, op_end, "comparisons between scalars must use BOOL modifier");
    if (promql_binop_is_set(b->op) && m->card == PROMQL_CARD_ONE_TO_ONE)
        m->card = PROMQL_CARD_MANY_TO_MANY;
    if (!m->on)
        return;
    for (uint32_t i = 0; i < m->matching.len; i++)
        for (uint32_t j = 0; j < m->include.len; j++)
            if (str_eq(m->matching.names[i], m->include.names[j]))
                promql_failf(p, b->op_pos, op_end,
                             "label %q must not occur in ON and GROUP clause at once",
                             m->matching.names[i].ptr, m->matching.names[i].len);
}

static void check_binary(struct promql_parser *p, struct promql_node *n)
{
    struct promql_binary *b = &n->bin;
    struct promql_vector_matching *m = &b->matching;
    enum promql_vtype lt = check(p, b->lhs), rt = check(p, b->rhs);
    check_binary_modifiers(p, n);
    if (lt != PROMQL_VT_SCALAR && lt != PROMQL_VT_VECTOR)
        promql_failf(p, b->lhs->pos_start, b->lhs->pos_end,
                     "binary expression must contain only scalar and instant vector types");
    if (rt != PROMQL_VT_SCALAR && rt != PROMQL_VT_VECTOR)
        promql_failf(p, b->rhs->pos_start, b->rhs->pos_end,
                     "binary expression must contain only scalar and instant vector types");
    bool fill = m->fill_lhs || m->fill_rhs;
    const char *op = promql_binop_str(b->op);
    b->has_matching = lt == PROMQL_VT_VECTOR && rt == PROMQL_VT_VECTOR;
    if (!b->has_matching) {
        if (m->matching.len > 0)
            promql_failf(p, n->pos_start, n->pos_end,
                         "vector matching only allowed between instant vectors");
        if (fill)
            promql_failf(p, n->pos_start, n->pos_end,
                         "filling in missing series only allowed between instant vectors");
    } else if (promql_binop_is_set(b->op)) {
        if (m->card == PROMQL_CARD_ONE_TO_MANY || m->card == PROMQL_CARD_MANY_TO_ONE)
            promql_failf(p, n->pos_start, n->pos_end, "no grouping allowed for %q operation", op,
                         strlen(op));
        if (fill)
            promql_failf(p, n->pos_start, n->pos_end,
                         "filling in missing series not allowed for set operators");
    }
    if ((lt == PROMQL_VT_SCALAR || rt == PROMQL_VT_SCALAR) && promql_binop_is_set(b->op))
        promql_failf(p, n->pos_start, n->pos_end,
                     "set operator %q not allowed in binary scalar expression", op, strlen(op));
}

static enum promql_vtype check(struct promql_parser *p, struct promql_node *n)
{
    switch (n->kind) {
    case PROMQL_VECTOR_SELECTOR: check_vector_selector(p, n); break;
    case PROMQL_MATRIX_SELECTOR: check(p, n->ms.vs); break;
    case PROMQL_SUBQUERY: {
        enum promql_vtype t = check(p, n->sq.expr);
        if (t != PROMQL_VT_VECTOR)
            promql_failf(p, n->pos_start, n->pos_end,
                         "subquery is only allowed on instant vector, got %s instead",
                         promql_vtype_str(t));
        break;
    }
    case PROMQL_CALL: check_call(p, n); break;
    case PROMQL_AGGREGATE: check_aggregate(p, n); break;
    case PROMQL_BINARY: check_binary(p, n); break;
    case PROMQL_UNARY: {
        enum promql_vtype t = check(p, n->unary.expr);
        if (t != PROMQL_VT_SCALAR && t != PROMQL_VT_VECTOR) {
            const char *d = promql_vtype_doc(t);
            promql_failf(p, n->pos_start, n->pos_end,
                         "unary expression only allowed on expressions of type scalar or instant "
                         "vector, got %q",
                         d, strlen(d));
        }
        break;
    }
    case PROMQL_PAREN: check(p, n->paren); break;
    default: break;
    }
    return n->type;
}

void promql_check(struct promql_parser *p, struct promql_node *root)
{
    check(p, root);
}
