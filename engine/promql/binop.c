/* Binary operators: scalar/scalar, vector/scalar and vector/vector arithmetic, comparisons
 * (with bool), atan2, the native histogram trim operators and the set operators, with
 * on/ignoring matching, group_left/group_right, fill modifiers, Prometheus's error messages and
 * annotations. Join signatures are computed once per series; matching then runs step by step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/hash.h"
#include "engine/promql/eval_internal.h"

static bool changes_schema(enum promql_binop op)
{
    return op == PROMQL_OP_ADD || op == PROMQL_OP_SUB || op == PROMQL_OP_MUL ||
           op == PROMQL_OP_DIV || op == PROMQL_OP_POW || op == PROMQL_OP_MOD ||
           op == PROMQL_OP_ATAN2;
}

static double scalar_op(enum promql_binop op, double l, double r)
{
    switch (op) {
    case PROMQL_OP_ADD: return l + r;
    case PROMQL_OP_SUB: return l - r;
    case PROMQL_OP_MUL: return l * r;
    case PROMQL_OP_DIV: return l / r;
    case PROMQL_OP_POW: return pow(l, r);
    case PROMQL_OP_MOD: return fmod(l, r);
    case PROMQL_OP_EQ: return l == r;
    case PROMQL_OP_NE: return l != r;
    case PROMQL_OP_GT: return l > r;
    case PROMQL_OP_LT: return l < r;
    case PROMQL_OP_GE: return l >= r;
    case PROMQL_OP_LE: return l <= r;
    case PROMQL_OP_ATAN2: return atan2(l, r);
    default: return NAN;
    }
}

/* ---- element operation ---- */

enum elem_err { EE_NONE, EE_INFO_TYPES, EE_SCHEMA, EE_COLLISION };

struct elem {
    double f;
    struct promql_hist *h;
    bool keep;
    enum elem_err err;
    bool reconciled; /* nhcb info */
    const char *ltype, *rtype;
};

static void elem_hist_hist(struct pq_query *q, enum promql_binop op, const struct promql_hist *l,
                           const struct promql_hist *r, struct elem *e)
{
    if (op == PROMQL_OP_ADD || op == PROMQL_OP_SUB) {
        struct promql_hist *c = promql_hist_copy(&q->arena, l);
        if (!c)
            pq_nomem(q);
        struct promql_hist_addinfo info;
        int rc = promql_hist_add(&q->arena, &c, r, op == PROMQL_OP_SUB, &info);
        if (rc == ERR_NOMEM)
            pq_nomem(q);
        if (rc) {
            e->err = EE_SCHEMA;
            return;
        }
        if (op == PROMQL_OP_SUB)
            c->hint = PROMQL_HINT_GAUGE;
        promql_hist_compact(c);
        e->h = c;
        e->keep = true;
        e->reconciled = info.nhcb_reconciled;
        if (info.reset_collision)
            e->err = EE_COLLISION;
        return;
    }
    if (op == PROMQL_OP_EQ || op == PROMQL_OP_NE) {
        bool eq = promql_hist_equals(l, r);
        e->h = (struct promql_hist *)l;
        e->keep = op == PROMQL_OP_EQ ? eq : !eq;
        return;
    }
    e->err = EE_INFO_TYPES;
}

/* vectorElemBinop. */
static void elem_op(struct pq_query *q, enum promql_binop op, double lf, double rf,
                    const struct promql_hist *lh, const struct promql_hist *rh, struct elem *e)
{
    memset(e, 0, sizeof *e);
    e->ltype = lh ? "histogram" : "float";
    e->rtype = rh ? "histogram" : "float";
    if (!lh && !rh) {
        if (op == PROMQL_OP_TRIM_UPPER || op == PROMQL_OP_TRIM_LOWER) {
            e->err = EE_INFO_TYPES;
            return;
        }
        e->keep = true;
        e->f = lf;
        switch (op) {
        case PROMQL_OP_EQ: e->keep = lf == rf; return;
        case PROMQL_OP_NE: e->keep = lf != rf; return;
        case PROMQL_OP_GT: e->keep = lf > rf; return;
        case PROMQL_OP_LT: e->keep = lf < rf; return;
        case PROMQL_OP_GE: e->keep = lf >= rf; return;
        case PROMQL_OP_LE: e->keep = lf <= rf; return;
        default: e->f = scalar_op(op, lf, rf); return;
        }
    }
    if (lh && rh) {
        elem_hist_hist(q, op, lh, rh, e);
        return;
    }
    const struct promql_hist *h = lh ? lh : rh;
    double f = lh ? rf : lf;
    bool ok =
        op == PROMQL_OP_MUL ||
        (lh && (op == PROMQL_OP_DIV || op == PROMQL_OP_TRIM_UPPER || op == PROMQL_OP_TRIM_LOWER));
    if (!ok) {
        e->err = EE_INFO_TYPES;
        return;
    }
    struct promql_hist *c = promql_hist_copy(&q->arena, h);
    if (!c)
        pq_nomem(q);
    if (op == PROMQL_OP_MUL)
        promql_hist_mul(c, f);
    else if (op == PROMQL_OP_DIV)
        promql_hist_div(c, f);
    else
        promql_hist_trim(c, f, op == PROMQL_OP_TRIM_UPPER);
    promql_hist_compact(c);
    e->h = c;
    e->keep = true;
}

struct lasterr {
    enum elem_err err;
    const char *ltype, *rtype;
    bool reconciled_info;
};

static void report(struct pq_query *q, const struct promql_node *n, const struct lasterr *le)
{
    uint32_t pos = n->pos_start;
    const char *op = promql_binop_str(n->bin.op);
    switch (le->err) {
    case EE_INFO_TYPES:
        pq_info(q, pos,
                "incompatible sample types encountered for binary operator \"%s\": %s %s %s", op,
                le->ltype, op, le->rtype);
        break;
    case EE_SCHEMA:
        pq_warn(q, pos, "incompatible bucket layout encountered for binary operator %s", op);
        break;
    case EE_COLLISION:
        pq_warn(q, pos, "conflicting counter resets during histogram %s",
                n->bin.op == PROMQL_OP_SUB ? "subtraction" : "addition");
        break;
    default:
        if (le->reconciled_info)
            pq_info(q, pos, "mismatched custom buckets were reconciled during %s",
                    n->bin.op == PROMQL_OP_SUB ? "subtraction" : "addition");
        break;
    }
}

/* ---- scalar / scalar and vector / scalar ---- */

static void binop_scalars(struct pq_ev *ev, const struct promql_node *n, struct pq_val *out)
{
    double *l = pq_eval_scalar(ev, n->bin.lhs), *r = pq_eval_scalar(ev, n->bin.rhs);
    for (uint32_t i = 0; i < ev->nsteps; i++)
        l[i] = scalar_op(n->bin.op, l[i], r[i]);
    pq_free(ev->q, r);
    out->kind = PQ_SCALAR;
    out->sc = l;
}

static void binop_vector_scalar(struct pq_ev *ev, const struct promql_node *n, bool swap,
                                struct pq_val *out)
{
    struct pq_query *q = ev->q;
    enum promql_binop op = n->bin.op;
    struct pq_vec in;
    double *sc;
    if (swap) {
        sc = pq_eval_scalar(ev, n->bin.lhs);
        pq_eval_vector(ev, n->bin.rhs, &in);
    } else {
        pq_eval_vector(ev, n->bin.lhs, &in);
        sc = pq_eval_scalar(ev, n->bin.rhs);
    }
    bool cmp = promql_binop_is_comparison(op), drop = changes_schema(op) || n->bin.return_bool;
    out->kind = PQ_VECTOR;
    pq_vec_init(ev, &out->v);
    for (uint32_t i = 0; i < ev->nsteps; i++) {
        struct lasterr le = {EE_NONE, NULL, NULL, false};
        for (uint32_t si = 0; si < in.n; si++) {
            const struct pq_series *s = &in.s[si];
            if (!pq_has(s, i))
                continue;
            double lf = s->f[i], rf = sc[i];
            const struct promql_hist *lh = pq_hist_at(s, i), *rh = NULL;
            if (swap) {
                double t = lf;
                lf = rf;
                rf = t;
                rh = lh;
                lh = NULL;
            }
            struct elem e;
            elem_op(q, op, lf, rf, lh, rh, &e);
            if (e.err == EE_INFO_TYPES || e.err == EE_SCHEMA) {
                le = (struct lasterr){e.err, e.ltype, e.rtype, false};
                continue;
            }
            if (e.err == EE_COLLISION)
                le = (struct lasterr){e.err, e.ltype, e.rtype, false};
            double f = e.f;
            struct promql_hist *h = e.h;
            if (cmp && swap) {
                f = rf;
                h = (struct promql_hist *)rh;
            }
            bool keep = e.keep;
            if (n->bin.return_bool) {
                f = keep ? 1 : 0;
                keep = true;
            }
            if (!keep)
                continue;
            const struct promql_lset *ls =
                drop && q->o.keep_name_early ? pq_drop_meta(q, s->ls) : s->ls;
            uint32_t o = pq_vec_series(ev, &out->v, ls, drop || s->drop_name);
            if (h)
                pq_vec_seth(ev, &out->v, o, i, h);
            else
                pq_vec_setf(ev, &out->v, o, i, f);
        }
        report(q, n, &le);
    }
    pq_vec_free(q, &in);
    pq_free(q, sc);
}

/* ---- vector / vector ---- */

/* Join signatures: series with equal matching labels share an ordinal. */
struct sigs {
    uint32_t *l, *r;
    uint32_t n;
};

static const struct promql_lset *match_labels(struct pq_query *q, const struct promql_lset *ls,
                                              const struct promql_vector_matching *m,
                                              struct pq_lb *b)
{
    pq_lb_reset(q, b, ls);
    if (m->on) {
        pq_lb_keep(b, m->matching.names, m->matching.len);
    } else {
        for (uint32_t i = 0; i < m->matching.len; i++)
            pq_lb_del(b, m->matching.names[i]);
        pq_lb_del(b, PQ_NAME);
    }
    return pq_lb_make(q, b);
}

static void build_sigs(struct pq_query *q, const struct promql_vector_matching *m,
                       const struct pq_vec *l, const struct pq_vec *r, struct sigs *s,
                       const struct promql_lset ***keys)
{
    uint32_t total = l->n + r->n, cap = 16;
    while (cap < total * 2)
        cap *= 2;
    uint32_t *map = pq_alloc(q, cap * sizeof *map);
    *keys = pq_alloc(q, (total + 1) * sizeof **keys);
    s->l = pq_alloc(q, (l->n + 1) * sizeof *s->l);
    s->r = pq_alloc(q, (r->n + 1) * sizeof *s->r);
    s->n = 0;
    struct pq_lb b = {0};
    for (uint32_t side = 0; side < 2; side++) {
        const struct pq_vec *v = side ? r : l;
        uint32_t *dst = side ? s->r : s->l;
        for (uint32_t si = 0; si < v->n; si++) {
            const struct promql_lset *k = match_labels(q, v->s[si].ls, m, &b);
            uint32_t i = (uint32_t)k->hash & (cap - 1);
            for (; map[i]; i = (i + 1) & (cap - 1))
                if (promql_lset_eq((*keys)[map[i] - 1], k))
                    break;
            if (!map[i]) {
                (*keys)[s->n++] = k;
                map[i] = s->n;
            }
            dst[si] = map[i] - 1;
        }
    }
    pq_lb_free(q, &b);
    pq_free(q, map);
}

static void set_op(struct pq_ev *ev, const struct promql_node *n, const struct pq_vec *l,
                   const struct pq_vec *r, const struct sigs *sg, struct pq_vec *out)
{
    enum promql_binop op = n->bin.op;
    uint32_t *seen = pq_alloc(ev->q, (sg->n + 1) * sizeof *seen);
    for (uint32_t i = 0; i < ev->nsteps; i++) {
        uint32_t stamp = i + 1;
        bool lany = false, rany = false;
        for (uint32_t si = 0; si < l->n && !lany; si++)
            lany = pq_has(&l->s[si], i);
        for (uint32_t si = 0; si < r->n && !rany; si++)
            rany = pq_has(&r->s[si], i);
        const struct pq_vec *marker = op == PROMQL_OP_OR ? l : r;
        const uint32_t *msig = op == PROMQL_OP_OR ? sg->l : sg->r;
        for (uint32_t si = 0; si < marker->n; si++)
            if (pq_has(&marker->s[si], i))
                seen[msig[si]] = stamp;
        for (uint32_t side = 0; side < 2; side++) {
            const struct pq_vec *v = side ? r : l;
            if (side && op != PROMQL_OP_OR)
                break;
            for (uint32_t si = 0; si < v->n; si++) {
                const struct pq_series *s = &v->s[si];
                if (!pq_has(s, i))
                    continue;
                bool take;
                if (op == PROMQL_OP_OR)
                    take = !side || !lany || seen[sg->r[si]] != stamp;
                else if (op == PROMQL_OP_AND)
                    take = lany && rany && seen[sg->l[si]] == stamp;
                else
                    take = !rany || seen[sg->l[si]] != stamp;
                if (!take)
                    continue;
                uint32_t o = pq_vec_series(ev, out, s->ls, s->drop_name);
                struct promql_hist *h = pq_hist_at(s, i);
                if (h)
                    pq_vec_seth(ev, out, o, i, h);
                else
                    pq_vec_setf(ev, out, o, i, s->f[i]);
            }
        }
    }
    pq_free(ev->q, seen);
}

/* Result label sets cached per (lhs, rhs) series pair; index UINT32_MAX is a fill side. */
struct rcache {
    uint64_t *key;
    const struct promql_lset **val;
    uint32_t cap, n;
};

static const struct promql_lset *rc_get(struct rcache *c, uint64_t k)
{
    if (!c->cap)
        return NULL;
    for (uint32_t i = (uint32_t)(k * 0x9E3779B97F4A7C15ull >> 32) & (c->cap - 1); c->val[i];
         i = (i + 1) & (c->cap - 1))
        if (c->key[i] == k)
            return c->val[i];
    return NULL;
}

static void rc_put(struct pq_query *q, struct rcache *c, uint64_t k, const struct promql_lset *v)
{
    if ((c->n + 1) * 2 > c->cap) {
        struct rcache nc = {0};
        nc.cap = c->cap ? c->cap * 2 : 64;
        nc.key = pq_alloc(q, nc.cap * sizeof *nc.key);
        nc.val = pq_alloc(q, nc.cap * sizeof *nc.val);
        for (uint32_t i = 0; i < c->cap; i++)
            if (c->val[i])
                rc_put(q, &nc, c->key[i], c->val[i]);
        pq_free(q, c->key);
        pq_free(q, c->val);
        *c = nc;
    }
    uint32_t i = (uint32_t)(k * 0x9E3779B97F4A7C15ull >> 32) & (c->cap - 1);
    while (c->val[i])
        i = (i + 1) & (c->cap - 1);
    c->key[i] = k;
    c->val[i] = v;
    c->n++;
}

struct vctx {
    struct pq_ev *ev;
    const struct promql_node *n;
    const struct promql_vector_matching *m;
    const struct pq_vec *l, *r; /* after the one-to-many swap: l is the "many" side */
    const uint32_t *lsig, *rsig;
    const struct promql_lset **keys;
    uint32_t nsig;
    bool swapped;
    uint32_t *rsample; /* per sig: rhs series at this step */
    uint32_t *rstamp;  /* per sig: step stamp of rsample */
    uint32_t *mstamp;  /* one-to-one: per sig matched stamp */
    uint64_t *mset;    /* many-to-one: (sig, metric hash) set for this step */
    uint32_t mset_cap, mset_n;
    struct rcache cache;
    struct pq_lb lb;
    struct lasterr le;
    struct pq_vec *out;
};

static const struct promql_lset *result_metric(struct vctx *c, uint32_t li, uint32_t ri,
                                               const struct promql_lset *lls,
                                               const struct promql_lset *rls)
{
    struct pq_query *q = c->ev->q;
    uint64_t key = (uint64_t)li << 32 | ri;
    const struct promql_lset *r = rc_get(&c->cache, key);
    if (r)
        return r;
    struct pq_lb *b = &c->lb;
    pq_lb_reset(q, b, lls);
    if ((q->o.keep_name_early && c->n->bin.return_bool) || changes_schema(c->n->bin.op))
        pq_lb_drop_meta(b);
    if (c->m->card == PROMQL_CARD_ONE_TO_ONE) {
        if (c->m->on) {
            pq_lb_keep(b, c->m->matching.names, c->m->matching.len);
        } else {
            for (uint32_t i = 0; i < c->m->matching.len; i++)
                pq_lb_del(b, c->m->matching.names[i]);
        }
    }
    for (uint32_t i = 0; i < c->m->include.len; i++) {
        struct str v = promql_lset_get(rls, c->m->include.names[i]);
        if (v.len)
            pq_lb_set(q, b, pq_strdup(q, c->m->include.names[i].ptr, c->m->include.names[i].len),
                      v);
        else
            pq_lb_del(b, c->m->include.names[i]);
    }
    r = pq_lb_make(q, b);
    rc_put(q, &c->cache, key, r);
    return r;
}

static bool mset_insert(struct vctx *c, uint32_t sig, uint64_t h)
{
    struct pq_query *q = c->ev->q;
    if ((c->mset_n + 1) * 2 > c->mset_cap) {
        uint64_t *old = c->mset;
        uint32_t oc = c->mset_cap;
        c->mset_cap = oc ? oc * 2 : 64;
        c->mset = pq_alloc(q, c->mset_cap * 2 * sizeof *c->mset);
        c->mset_n = 0;
        for (uint32_t i = 0; i < oc; i++)
            if (old[2 * i] || old[2 * i + 1])
                mset_insert(c, (uint32_t)old[2 * i] - 1, old[2 * i + 1]);
        pq_free(q, old);
    }
    uint64_t k0 = (uint64_t)sig + 1;
    uint32_t i = (uint32_t)((h ^ k0 * 0x9E3779B97F4A7C15ull) >> 32) & (c->mset_cap - 1);
    for (; c->mset[2 * i] || c->mset[2 * i + 1]; i = (i + 1) & (c->mset_cap - 1))
        if (c->mset[2 * i] == k0 && c->mset[2 * i + 1] == h)
            return false;
    c->mset[2 * i] = k0;
    c->mset[2 * i + 1] = h;
    c->mset_n++;
    return true;
}

static void do_op(struct vctx *c, uint32_t step, uint32_t li, uint32_t ri, double lf, double rf,
                  const struct promql_hist *lh, const struct promql_hist *rh,
                  const struct promql_lset *lls, const struct promql_lset *rls, uint32_t sig)
{
    struct pq_query *q = c->ev->q;
    if (c->swapped) {
        double t = lf;
        lf = rf;
        rf = t;
        const struct promql_hist *th = lh;
        lh = rh;
        rh = th;
    }
    struct elem e;
    elem_op(q, c->n->bin.op, lf, rf, lh, rh, &e);
    if (e.err == EE_INFO_TYPES || e.err == EE_SCHEMA || e.err == EE_COLLISION) {
        c->le = (struct lasterr){e.err, e.ltype, e.rtype, false};
        return;
    }
    if (e.reconciled)
        c->le = (struct lasterr){EE_NONE, NULL, NULL, true};
    bool rb = c->n->bin.return_bool;
    if (rb) {
        e.h = NULL;
        e.f = e.keep ? 1 : 0;
    }
    const struct promql_lset *metric = result_metric(c, li, ri, lls, rls);
    if (c->m->card == PROMQL_CARD_ONE_TO_ONE) {
        if (c->mstamp[sig] == step + 1)
            pq_fail(q, ERR_INVALID,
                    "multiple matches for labels: many-to-one matching must be explicit "
                    "(group_left/group_right)");
        c->mstamp[sig] = step + 1;
    } else if (!mset_insert(c, sig, metric->hash)) {
        pq_fail(q, ERR_INVALID,
                "multiple matches for labels: grouping labels must ensure unique matches");
    }
    if (!e.keep && !rb)
        return;
    uint32_t o = pq_vec_series(c->ev, c->out, metric, rb);
    if (e.h)
        pq_vec_seth(c->ev, c->out, o, step, e.h);
    else
        pq_vec_setf(c->ev, c->out, o, step, e.f);
}

static void fail_dup(struct vctx *c, uint32_t a, uint32_t b)
{
    struct pq_query *q = c->ev->q;
    struct buf x = BUF_INIT, y = BUF_INIT, g = BUF_INIT;
    struct pq_lb lb = {0};
    promql_lset_format(&x, c->r->s[a].ls);
    promql_lset_format(&y, c->r->s[b].ls);
    const struct promql_lset *ml = match_labels(q, c->r->s[a].ls, c->m, &lb);
    promql_lset_format(&g, ml);
    pq_lb_free(q, &lb);
    if (buf_cstr(&x) || buf_cstr(&y) || buf_cstr(&g))
        pq_nomem(q);
    const char *d1 = (const char *)x.data, *d2 = (const char *)y.data;
    if (strcmp(d1, d2) > 0) {
        const char *t = d1;
        d1 = d2;
        d2 = t;
    }
    char msg[480];
    snprintf(msg, sizeof msg,
             "found duplicate series for the match group %s on the %s hand-side of the "
             "operation: [%s, %s];many-to-many matching not allowed: matching labels must be "
             "unique on one side",
             (const char *)g.data, c->swapped ? "left" : "right", d1, d2);
    buf_deinit(&x);
    buf_deinit(&y);
    buf_deinit(&g);
    pq_fail(q, ERR_INVALID, "%s", msg);
}

static const struct promql_lset *fill_labels(struct vctx *c, const struct promql_lset *ls)
{
    return match_labels(c->ev->q, ls, c->m, &c->lb);
}

static void vv_step(struct vctx *c, uint32_t i)
{
    bool lany = false, rany = false;
    for (uint32_t si = 0; si < c->l->n && !lany; si++)
        lany = pq_has(&c->l->s[si], i);
    for (uint32_t si = 0; si < c->r->n && !rany; si++)
        rany = pq_has(&c->r->s[si], i);
    /* As Prometheus: fill values are not swapped for group_right. */
    bool fill_l = c->m->fill_lhs, fill_r = c->m->fill_rhs;
    double fl = c->m->fill_lhs_val, fr = c->m->fill_rhs_val;
    if ((!lany && !rany) || ((!lany || !rany) && !c->m->fill_lhs && !c->m->fill_rhs))
        return;
    uint32_t stamp = i + 1;
    for (uint32_t si = 0; si < c->r->n; si++) {
        if (!pq_has(&c->r->s[si], i))
            continue;
        uint32_t sig = c->rsig[si];
        if (c->rstamp[sig] == stamp)
            fail_dup(c, si, c->rsample[sig]);
        c->rstamp[sig] = stamp;
        c->rsample[sig] = si;
    }
    c->mset_n = 0;
    if (c->mset)
        memset(c->mset, 0, c->mset_cap * 2 * sizeof *c->mset);
    for (uint32_t si = 0; si < c->l->n; si++) {
        const struct pq_series *s = &c->l->s[si];
        if (!pq_has(s, i))
            continue;
        uint32_t sig = c->lsig[si];
        if (c->rstamp[sig] == stamp) {
            const struct pq_series *r = &c->r->s[c->rsample[sig]];
            do_op(c, i, si, c->rsample[sig], s->f[i], r->f[i], pq_hist_at(s, i), pq_hist_at(r, i),
                  s->ls, r->ls, sig);
        } else if (fill_r) {
            do_op(c, i, si, UINT32_MAX, s->f[i], fr, pq_hist_at(s, i), NULL, s->ls,
                  fill_labels(c, s->ls), sig);
        }
    }
    if (!fill_l)
        return;
    for (uint32_t si = 0; si < c->r->n; si++) {
        const struct pq_series *r = &c->r->s[si];
        if (!pq_has(r, i))
            continue;
        uint32_t sig = c->rsig[si];
        bool matched = c->m->card == PROMQL_CARD_ONE_TO_ONE ? c->mstamp[sig] == stamp : false;
        if (c->m->card != PROMQL_CARD_ONE_TO_ONE)
            for (uint32_t k = 0; k < c->mset_cap && !matched; k++)
                matched = c->mset[2 * k] == (uint64_t)sig + 1;
        if (matched)
            continue;
        const struct promql_lset *ll = fill_labels(c, r->ls);
        do_op(c, i, UINT32_MAX, si, fl, r->f[i], NULL, pq_hist_at(r, i), ll, r->ls, sig);
    }
}

static void binop_vectors(struct pq_ev *ev, const struct promql_node *n, struct pq_val *out)
{
    struct pq_query *q = ev->q;
    struct pq_vec l, r;
    pq_eval_vector(ev, n->bin.lhs, &l);
    pq_eval_vector(ev, n->bin.rhs, &r);
    const struct promql_vector_matching *m = &n->bin.matching;
    struct sigs sg;
    const struct promql_lset **keys;
    build_sigs(q, m, &l, &r, &sg, &keys);
    out->kind = PQ_VECTOR;
    pq_vec_init(ev, &out->v);
    if (promql_binop_is_set(n->bin.op)) {
        set_op(ev, n, &l, &r, &sg, &out->v);
    } else {
        bool swap = m->card == PROMQL_CARD_ONE_TO_MANY;
        struct vctx c;
        memset(&c, 0, sizeof c);
        c.ev = ev;
        c.n = n;
        c.m = m;
        c.l = swap ? &r : &l;
        c.r = swap ? &l : &r;
        c.lsig = swap ? sg.r : sg.l;
        c.rsig = swap ? sg.l : sg.r;
        c.keys = keys;
        c.nsig = sg.n;
        c.swapped = swap;
        c.rsample = pq_alloc(q, (sg.n + 1) * sizeof *c.rsample);
        c.rstamp = pq_alloc(q, (sg.n + 1) * sizeof *c.rstamp);
        c.mstamp = pq_alloc(q, (sg.n + 1) * sizeof *c.mstamp);
        c.out = &out->v;
        for (uint32_t i = 0; i < ev->nsteps; i++) {
            pq_check_deadline(q);
            c.le = (struct lasterr){EE_NONE, NULL, NULL, false};
            vv_step(&c, i);
            report(q, n, &c.le);
        }
        pq_free(q, c.rsample);
        pq_free(q, c.rstamp);
        pq_free(q, c.mstamp);
        pq_free(q, c.mset);
        pq_free(q, c.cache.key);
        pq_free(q, c.cache.val);
        pq_lb_free(q, &c.lb);
    }
    pq_free(q, sg.l);
    pq_free(q, sg.r);
    pq_free(q, keys);
    pq_vec_free(q, &l);
    pq_vec_free(q, &r);
}

void pq_eval_binary(struct pq_ev *ev, const struct promql_node *n, struct pq_val *out)
{
    enum promql_vtype lt = n->bin.lhs->type, rt = n->bin.rhs->type;
    if (lt == PROMQL_VT_SCALAR && rt == PROMQL_VT_SCALAR)
        binop_scalars(ev, n, out);
    else if (lt == PROMQL_VT_VECTOR && rt == PROMQL_VT_VECTOR)
        binop_vectors(ev, n, out);
    else if (lt == PROMQL_VT_VECTOR)
        binop_vector_scalar(ev, n, false, out);
    else
        binop_vector_scalar(ev, n, true, out);
}
