/* PromQL AST helpers: destruction, operator names, duration-expression evaluation. */
#include "engine/promql/ast.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/error.h"

void promql_ast_destroy(struct promql_ast *ast)
{
    if (!ast)
        return;
    for (struct promql_node *n = ast->selectors; n; n = n->vs.next_selector)
        for (uint32_t i = 0; i < n->vs.nmatchers; i++)
            matcher_deinit(&n->vs.matchers[i]);
    struct arena a = ast->arena; /* the ast itself lives in its arena */
    arena_deinit(&a);
}

const char *promql_binop_str(enum promql_binop op)
{
    static const char *const s[] = {"+", "-", "*",  "/",  "%",  "^",  "atan2", "==", "!=",
                                    ">", "<", ">=", "<=", "</", ">/", "and",   "or", "unless"};
    return (size_t)op < sizeof s / sizeof s[0] ? s[op] : "?";
}

const char *promql_aggop_str(enum promql_aggop op)
{
    static const char *const s[] = {"sum",          "avg",      "count",  "min",        "max",
                                    "group",        "stddev",   "stdvar", "topk",       "bottomk",
                                    "count_values", "quantile", "limitk", "limit_ratio"};
    return (size_t)op < sizeof s / sizeof s[0] ? s[op] : "?";
}

bool promql_binop_is_comparison(enum promql_binop op)
{
    return op >= PROMQL_OP_EQ && op <= PROMQL_OP_LE;
}

bool promql_binop_is_set(enum promql_binop op)
{
    return op == PROMQL_OP_AND || op == PROMQL_OP_OR || op == PROMQL_OP_UNLESS;
}

bool promql_aggop_has_param(enum promql_aggop op)
{
    return op == PROMQL_AGG_TOPK || op == PROMQL_AGG_BOTTOMK || op == PROMQL_AGG_COUNT_VALUES ||
           op == PROMQL_AGG_QUANTILE || op == PROMQL_AGG_LIMITK || op == PROMQL_AGG_LIMIT_RATIO;
}

struct dur_ctx {
    int64_t step_ms, range_ms;
    char *err;
    size_t err_size;
};

static int dur_fail(struct dur_ctx *c, const struct promql_node *d, const char *what)
{
    snprintf(c->err, c->err_size, "%u:%u: %s", d->pos_start, d->pos_end, what);
    return ERR_INVALID;
}

static int dur_binary(struct dur_ctx *c, const struct promql_node *d, double l, double r,
                      double *out)
{
    switch (d->dur.op) {
    case PROMQL_DUR_ADD: *out = d->dur.lhs ? l + r : r; return 0;
    case PROMQL_DUR_SUB: *out = d->dur.lhs ? l - r : -r; return 0;
    case PROMQL_DUR_MUL: *out = l * r; return 0;
    case PROMQL_DUR_DIV:
        if (r == 0)
            return dur_fail(c, d, "division by zero");
        *out = l / r;
        return 0;
    case PROMQL_DUR_MOD:
        if (r == 0)
            return dur_fail(c, d, "modulo by zero");
        *out = fmod(l, r);
        return 0;
    case PROMQL_DUR_POW: *out = pow(l, r); return 0;
    case PROMQL_DUR_MIN_OF: *out = isnan(l) || isnan(r) ? NAN : fmin(l, r); return 0;
    case PROMQL_DUR_MAX_OF: *out = isnan(l) || isnan(r) ? NAN : fmax(l, r); return 0;
    default: return dur_fail(c, d, "unexpected duration expression operator");
    }
}

/* Seconds, as float, like Prometheus's evaluateDurationExpr. Recursion depth is bounded by the
 * parser's PROMQL_DEPTH_MAX. */
static int dur_value(struct dur_ctx *c, const struct promql_node *d, double *out)
{
    if (d->kind == PROMQL_NUMBER) {
        *out = d->number.val;
        return 0;
    }
    if (d->kind != PROMQL_DURATION_EXPR)
        return dur_fail(c, d, "unexpected duration expression type");
    if (d->dur.op == PROMQL_DUR_STEP) {
        *out = (double)c->step_ms / 1000.0;
        return 0;
    }
    if (d->dur.op == PROMQL_DUR_RANGE) {
        *out = (double)c->range_ms / 1000.0;
        return 0;
    }
    double l = 0, r = 0;
    int rc = d->dur.lhs ? dur_value(c, d->dur.lhs, &l) : 0;
    if (rc == 0 && d->dur.rhs)
        rc = dur_value(c, d->dur.rhs, &r);
    return rc ? rc : dur_binary(c, d, l, r, out);
}

int promql_duration_eval(const struct promql_node *d, int64_t step_ms, int64_t range_ms,
                         bool allow_negative, int64_t *out_ms, char *err, size_t err_size)
{
    struct dur_ctx c = {step_ms, range_ms, err, err_size};
    double v;
    int rc = dur_value(&c, d, &v);
    if (rc)
        return rc;
    if (isnan(v) || isinf(v))
        return dur_fail(&c, d, "duration is NaN or infinite");
    if (v <= 0 && !allow_negative)
        return dur_fail(&c, d, "duration must be greater than 0");
    if (v > 9223372036.854775807 || v < -9223372036.854775808)
        return dur_fail(&c, d, "duration is out of range");
    *out_ms = (int64_t)(v * 1000.0);
    return 0;
}
