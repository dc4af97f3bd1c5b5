/* LogQL binary operations per step (Loki's BinOpStepEvaluator, LiteralStepEvaluator and
 * MergeBinOp): arithmetic and comparisons between a vector and a literal or two vectors with
 * on/ignoring and group_left/group_right matching, `bool`, and the set operators and/or/unless.
 * Division and modulo by zero give NaN, as in Loki. */
#include <math.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/eval_internal.h"

static bool is_cmp(enum logql_binop op)
{
    return op >= LOGQL_OP_EQ;
}

/* MergeBinOp: false when a comparison without `bool` drops the pair; else *v is the result. */
static bool merge(enum logql_binop op, double l, double r, bool filter, double *v)
{
    bool hit;
    switch (op) {
    case LOGQL_OP_ADD: *v = l + r; return true;
    case LOGQL_OP_SUB: *v = l - r; return true;
    case LOGQL_OP_MUL: *v = l * r; return true;
    case LOGQL_OP_DIV: *v = r == 0 ? NAN : l / r; return true;
    case LOGQL_OP_MOD: *v = r == 0 ? NAN : fmod(l, r); return true;
    case LOGQL_OP_POW: *v = pow(l, r); return true;
    case LOGQL_OP_EQ: hit = l == r; break;
    case LOGQL_OP_NE: hit = l != r; break;
    case LOGQL_OP_GT: hit = l > r; break;
    case LOGQL_OP_GE: hit = l >= r; break;
    case LOGQL_OP_LT: hit = l < r; break;
    case LOGQL_OP_LE: hit = l <= r; break;
    default: *v = NAN; return true;
    }
    if (!hit && filter)
        return false;
    *v = hit ? 1.0 : 0.0;
    return true;
}

static int literal_step(struct ev_ctx *c, struct ev_node *n, int64_t t, struct ev_vec *out)
{
    const struct logql_expr *e = n->e;
    bool left = n->lit_left;
    double lit = left ? e->inner->value : e->rhs->value;
    struct ev_vec in;
    int rc = ev_node_step(c, left ? n->b : n->a, t, &in);
    if (rc)
        return rc;
    bool filter = !e->return_bool;
    out->s = in.s;
    out->n = 0;
    for (size_t i = 0; i < in.n; i++) {
        struct ev_sample s = in.s[i];
        double v;
        if (!merge(e->op, left ? lit : s.v, left ? s.v : lit, filter, &v))
            continue;
        if (!(is_cmp(e->op) && filter)) /* a kept comparison keeps the vector's value */
            s.v = v;
        out->s[out->n++] = s;
    }
    return 0;
}

/* The matching signature: the label set reduced by on(...) / ignoring(...), interned. */
static const struct ev_lset *signature(struct ev_ctx *c, const struct logql_expr *e,
                                       const struct ev_lset *ls)
{
    if (!e->matching || (!e->on && e->n_match_labels == 0))
        return ls;
    if (ev_lbuf_reserve(c, ls->n + 1))
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < ls->n; i++)
        if (ev_names_has(e->match_labels, e->n_match_labels, ls->l[i].name) == e->on)
            c->lbuf[k++] = ls->l[i];
    return ev_intern(c, c->lbuf, k);
}

/* A set of pointer pairs for one step (step arena). */
struct pset {
    const void **a, **b;
    size_t cap;
};

static int pset_init(struct ev_ctx *c, struct pset *s, size_t n)
{
    s->cap = 16;
    while (s->cap < 2 * (n + 1))
        s->cap *= 2;
    s->a = ev_step_alloc(c, s->cap * sizeof *s->a);
    s->b = ev_step_alloc(c, s->cap * sizeof *s->b);
    if (!s->a || !s->b)
        return ERR_NOMEM;
    memset(s->a, 0, s->cap * sizeof *s->a);
    return 0;
}

/* Finds (a, b); with add, inserts it when absent. Returns the slot's b, or NULL when absent. */
static const void *pset_get(struct pset *s, const void *a, const void *b, bool by_pair, bool add,
                            const void *val)
{
    uint64_t h = (uint64_t)(uintptr_t)a * 0x9E3779B97F4A7C15ull;
    if (by_pair)
        h ^= (uint64_t)(uintptr_t)b * 0xC2B2AE3D27D4EB4Full;
    size_t k = (h >> 17) & (s->cap - 1);
    for (; s->a[k]; k = (k + 1) & (s->cap - 1))
        if (s->a[k] == a && (!by_pair || s->b[k] == b))
            return s->b[k];
    if (add) {
        s->a[k] = a;
        s->b[k] = by_pair ? b : val;
    }
    return NULL;
}

static int sigs_of(struct ev_ctx *c, const struct logql_expr *e, struct ev_vec v,
                   const struct ev_lset ***out)
{
    *out = ev_step_alloc(c, (v.n + 1) * sizeof **out);
    if (!*out)
        return ERR_NOMEM;
    for (size_t i = 0; i < v.n; i++)
        if (!((*out)[i] = signature(c, e, v.s[i].ls)))
            return ERR_NOMEM;
    return 0;
}

/* and / or / unless */
static int set_op(struct ev_ctx *c, const struct logql_expr *e, struct ev_vec l, struct ev_vec r,
                  struct ev_vec *out)
{
    const struct ev_lset **ls, **rs;
    struct pset set;
    int rc;
    if ((rc = sigs_of(c, e, l, &ls)) || (rc = sigs_of(c, e, r, &rs)))
        return rc;
    out->n = 0;
    if (l.n == 0 || r.n == 0) {
        if (e->op == LOGQL_OP_AND)
            *out = (struct ev_vec){l.s, 0};
        else
            *out = e->op == LOGQL_OP_OR && l.n == 0 ? r : l;
        return 0;
    }
    if ((rc = pset_init(c, &set, l.n + r.n)))
        return rc;
    if (!(out->s = ev_step_alloc(c, (l.n + r.n) * sizeof *out->s)))
        return ERR_NOMEM;
    const struct ev_lset **probe = e->op == LOGQL_OP_OR ? ls : rs;
    size_t n_probe = e->op == LOGQL_OP_OR ? l.n : r.n;
    for (size_t i = 0; i < n_probe; i++)
        pset_get(&set, probe[i], NULL, false, true, probe[i]);
    for (size_t i = 0; i < l.n; i++) {
        bool in = e->op == LOGQL_OP_OR || pset_get(&set, ls[i], NULL, false, false, NULL);
        if (in == (e->op != LOGQL_OP_UNLESS))
            out->s[out->n++] = l.s[i];
    }
    for (size_t i = 0; e->op == LOGQL_OP_OR && i < r.n; i++)
        if (!pset_get(&set, rs[i], NULL, false, false, NULL))
            out->s[out->n++] = r.s[i];
    return 0;
}

/* resultMetric: the left labels, reduced by on/ignoring for one-to-one matching, plus the
 * group_x(...) labels taken from the other side. */
static const struct ev_lset *result_metric(struct ev_ctx *c, const struct logql_expr *e,
                                           const struct ev_lset *l, const struct ev_lset *r)
{
    if (ev_lbuf_reserve(c, l->n + e->n_include + 1))
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        bool listed = ev_names_has(e->match_labels, e->n_match_labels, l->l[i].name);
        if (e->card == LOGQL_CARD_ONE_TO_ONE && e->matching && listed != e->on)
            continue;
        if (ev_names_has(e->include, e->n_include, l->l[i].name))
            continue;
        c->lbuf[n++] = l->l[i];
    }
    for (size_t k = 0; k < e->n_include; k++) {
        if (ev_names_has(e->include, k, e->include[k]))
            continue;
        for (size_t i = 0; i < r->n; i++)
            if (str_eq(r->l[i].name, e->include[k]) && r->l[i].value.len) {
                size_t j = n++;
                for (; j > 0 && str_cmp(c->lbuf[j - 1].name, r->l[i].name) > 0; j--)
                    c->lbuf[j] = c->lbuf[j - 1];
                c->lbuf[j] = r->l[i];
            }
    }
    return ev_intern(c, c->lbuf, n);
}

/* vectorBinop: one-to-one, many-to-one (group_left) and one-to-many (group_right) matching. */
static int vector_op(struct ev_ctx *c, const struct logql_expr *e, struct ev_vec l, struct ev_vec r,
                     struct ev_vec *out)
{
    const struct ev_lset **ls, **rs;
    struct pset right, matched;
    int rc;
    bool swap = e->card == LOGQL_CARD_ONE_TO_MANY;
    if (swap) {
        struct ev_vec t = l;
        l = r;
        r = t;
    }
    if ((rc = sigs_of(c, e, l, &ls)) || (rc = sigs_of(c, e, r, &rs)) ||
        (rc = pset_init(c, &right, r.n)) || (rc = pset_init(c, &matched, l.n)))
        return rc;
    out->n = 0;
    if (!(out->s = ev_step_alloc(c, (l.n + 1) * sizeof *out->s)))
        return ERR_NOMEM;
    for (size_t i = 0; i < r.n; i++)
        if (pset_get(&right, rs[i], NULL, false, true, &r.s[i]))
            return ev_fail(c, ERR_DUPLICATE,
                           "found duplicate series on the %s hand-side;many-to-many matching not "
                           "allowed: matching labels must be unique on one side",
                           swap ? "left" : "right");
    for (size_t i = 0; i < l.n; i++) {
        const struct ev_sample *rsm = pset_get(&right, ls[i], NULL, false, false, NULL);
        if (!rsm)
            continue;
        const struct ev_lset *metric = result_metric(c, e, l.s[i].ls, rsm->ls);
        if (!metric)
            return ERR_NOMEM;
        bool one = e->card == LOGQL_CARD_ONE_TO_ONE;
        if (pset_get(&matched, ls[i], one ? NULL : metric, !one, true, one ? ls[i] : NULL))
            return ev_fail(c, ERR_DUPLICATE, "%s",
                           one ? "multiple matches for labels: many-to-one matching must be "
                                 "explicit (group_left/group_right)"
                               : "multiple matches for labels: grouping labels must ensure "
                                 "unique matches");
        double lv = swap ? rsm->v : l.s[i].v, rv = swap ? l.s[i].v : rsm->v, v;
        bool filter = !e->return_bool;
        if (!merge(e->op, lv, rv, filter, &v))
            continue;
        if (is_cmp(e->op) && filter)
            v = lv;
        out->s[out->n++] = (struct ev_sample){metric, v};
    }
    return 0;
}

int ev_binop_step(struct ev_ctx *c, struct ev_node *n, int64_t t, struct ev_vec *out)
{
    const struct logql_expr *e = n->e;
    if (n->lit_left || n->lit_right)
        return literal_step(c, n, t, out);
    struct ev_vec l, r;
    int rc = ev_node_step(c, n->b, t, &r);
    if (!rc)
        rc = ev_node_step(c, n->a, t, &l);
    if (rc)
        return rc;
    if (e->op == LOGQL_OP_AND || e->op == LOGQL_OP_OR || e->op == LOGQL_OP_UNLESS)
        return set_op(c, e, l, r, out);
    return vector_op(c, e, l, r, out);
}
