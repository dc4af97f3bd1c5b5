/* info(): enriches series with the data labels of the info series (target_info by default)
 * that share their identifying labels (instance, job), following Prometheus's evalInfo; and
 * start_timestamp(), the start timestamps of the samples a selector returns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/strmap.h"
#include "engine/promql/eval_internal.h"

static const struct str ID_LABELS[2] = {{"instance", 8}, {"job", 3}};

/* ---- start_timestamp ---- */

void pq_eval_start_timestamp(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    struct pq_query *q = ev->q;
    const struct promql_node *a = pq_unparen(n->call.args[0]);
    struct pq_vec in;
    if (a->kind != PROMQL_VECTOR_SELECTOR || !q->o.use_start_timestamps) {
        /* Start timestamps exist only for samples read straight from storage. */
        pq_eval_vector(ev, a, &in);
        pq_vec_free(q, &in);
        pq_vec_init(ev, out);
        return;
    }
    pq_eval_vector_selector(ev, a, out, PQ_SEL_START_TIMESTAMPS, NULL);
    for (uint32_t i = 0; i < out->n; i++) {
        out->s[i].drop_name = true;
        if (q->o.keep_name_early)
            out->s[i].ls = pq_drop_meta(q, out->s[i].ls);
    }
}

/* ---- info ---- */

/* The @ and offset info series are read at: those of the first vector selector in the first
 * argument (or of the subqueries around it when it has no @). */
static bool first_selector(struct pq_query *q, const struct promql_node *n,
                           const struct promql_node **path, size_t depth, bool *has_at, int64_t *at,
                           int64_t *offset)
{
    if (n->kind == PROMQL_VECTOR_SELECTOR) {
        *has_at = pq_vs_at(q, n, at);
        *offset = pq_vs_offset(q, n);
        for (size_t i = depth; !*has_at && i-- > 0;) {
            if (path[i]->kind != PROMQL_SUBQUERY)
                continue;
            int64_t r, st, off;
            pq_sq_params(q, path[i], &r, &st, &off, has_at, at);
            *offset += off;
        }
        return true;
    }
    if (depth >= PROMQL_DEPTH_MAX)
        return false;
    path[depth] = n;
    switch (n->kind) {
    case PROMQL_MATRIX_SELECTOR:
        return first_selector(q, n->ms.vs, path, depth + 1, has_at, at, offset);
    case PROMQL_SUBQUERY: return first_selector(q, n->sq.expr, path, depth + 1, has_at, at, offset);
    case PROMQL_CALL:
        for (uint32_t i = 0; i < n->call.nargs; i++)
            if (first_selector(q, n->call.args[i], path, depth + 1, has_at, at, offset))
                return true;
        return false;
    case PROMQL_AGGREGATE:
        if (n->agg.param && first_selector(q, n->agg.param, path, depth + 1, has_at, at, offset))
            return true;
        return first_selector(q, n->agg.expr, path, depth + 1, has_at, at, offset);
    case PROMQL_BINARY:
        return first_selector(q, n->bin.lhs, path, depth + 1, has_at, at, offset) ||
               first_selector(q, n->bin.rhs, path, depth + 1, has_at, at, offset);
    case PROMQL_UNARY: return first_selector(q, n->unary.expr, path, depth + 1, has_at, at, offset);
    case PROMQL_PAREN: return first_selector(q, n->paren, path, depth + 1, has_at, at, offset);
    default: return false;
    }
}

struct minfo {
    struct pq_query *q;
    const struct matcher *data; /* the second argument's matchers */
    size_t ndata;
    bool data_named;       /* the second argument had matchers (other than __name__) left */
    struct matcher own[4]; /* matchers built here (deinit'd at the end) */
    size_t nown;
    const struct matcher **name_m; /* effective name matchers */
    size_t nname;
};

static void minfo_free(void *p)
{
    struct minfo *m = p;
    for (size_t i = 0; i < m->nown; i++)
        matcher_deinit(&m->own[i]);
    m->nown = 0;
}

static struct matcher *own_matcher(struct minfo *m, enum matcher_type t, const char *name,
                                   struct str value)
{
    ASSERT(m->nown < 4);
    char err[256];
    int rc = matcher_init(&m->own[m->nown], t, str_from_cstr(name), value, err, sizeof err);
    if (rc)
        pq_fail(m->q, rc, "info: %s", err);
    return &m->own[m->nown++];
}

/* effectiveInfoNameMatchers: the __name__ matchers of the second argument, with
 * __name__=~".+_info" added when none of them is = or =~; target_info without any. */
static void name_matchers(struct minfo *m)
{
    struct pq_query *q = m->q;
    size_t n = 0;
    bool positive = false;
    m->name_m = pq_alloc(q, (m->ndata + 2) * sizeof *m->name_m);
    for (size_t i = 0; i < m->ndata; i++)
        if (str_eq(m->data[i].name, PQ_NAME)) {
            m->name_m[n++] = &m->data[i];
            positive |= m->data[i].type == MATCHER_EQ || m->data[i].type == MATCHER_RE;
        }
    if (n == 0) {
        m->name_m[n++] = own_matcher(m, MATCHER_EQ, "__name__", STR_LIT("target_info"));
    } else if (!positive) {
        memmove(m->name_m + 1, m->name_m, n * sizeof *m->name_m);
        m->name_m[0] = own_matcher(m, MATCHER_RE, "__name__", STR_LIT(".+_info"));
        n++;
    }
    m->nname = n;
}

static bool is_info_series(const struct minfo *m, const struct promql_lset *ls)
{
    struct str name = pq_metric_name(ls);
    for (size_t i = 0; i < m->nname; i++)
        if (!matcher_matches(m->name_m[i], name))
            return false;
    return true;
}

/* regexp.QuoteMeta of every distinct value of label l among the non-info series, joined by |. */
static bool id_regex(struct pq_query *q, const struct pq_vec *base, const bool *ignore,
                     struct str l, struct buf *b)
{
    struct strmap seen;
    strmap_init(&seen);
    bool any = false;
    for (uint32_t si = 0; si < base->n; si++) {
        if (ignore[si])
            continue;
        struct str v = promql_lset_get(base->s[si].ls, l);
        if (!v.len || strmap_get(&seen, v))
            continue;
        if (strmap_put(&seen, v, (void *)1)) {
            strmap_deinit(&seen);
            pq_nomem(q);
        }
        if (any)
            buf_append_u8(b, '|');
        for (size_t k = 0; k < v.len; k++) {
            if (strchr("\\.+*?()|[]{}^$", v.ptr[k]) && v.ptr[k])
                buf_append_u8(b, '\\');
            buf_append_u8(b, (uint8_t)v.ptr[k]);
        }
        any = true;
    }
    strmap_deinit(&seen);
    return any;
}

struct iseries {
    struct str sig; /* name \xff instance \xff job */
};

static struct str make_sig(struct pq_query *q, struct str name, const struct promql_lset *ls)
{
    struct str i = promql_lset_get(ls, ID_LABELS[0]), j = promql_lset_get(ls, ID_LABELS[1]);
    size_t n = name.len + i.len + j.len + 4;
    char *p = pq_arena(q, n);
    int k = snprintf(p, n, "%.*s\xff%.*s\xff%.*s", (int)name.len, name.ptr, (int)i.len, i.ptr,
                     (int)j.len, j.ptr);
    return (struct str){p, (size_t)k};
}

/* Selects the info series matching the base series' identifying labels; their values are the
 * samples' timestamps (ms) so the newest one can win. */
static void fetch_info(struct pq_ev *ev, struct minfo *m, const struct pq_vec *base,
                       const bool *ignore, bool has_at, int64_t at, int64_t offset,
                       struct pq_vec *info)
{
    struct pq_query *q = ev->q;
    const struct matcher **ms = pq_alloc(q, (m->ndata + 4) * sizeof *ms);
    size_t n = 0;
    bool any_id = false;
    for (int k = 0; k < 2; k++) {
        struct buf b = BUF_INIT;
        if (id_regex(q, base, ignore, ID_LABELS[k], &b)) {
            ms[n++] = own_matcher(m, MATCHER_RE, k ? "job" : "instance",
                                  (struct str){(const char *)b.data, b.len});
            any_id = true;
        }
        buf_deinit(&b);
    }
    pq_vec_init(ev, info);
    if (!any_id) {
        pq_free(q, ms);
        return;
    }
    for (size_t i = 0; i < m->ndata; i++)
        if (!str_eq(m->data[i].name, PQ_NAME))
            ms[n++] = &m->data[i];
    for (size_t i = 0; i < m->nname; i++)
        ms[n++] = m->name_m[i];
    struct matcher *flat = pq_alloc(q, n * sizeof *flat);
    for (size_t i = 0; i < n; i++)
        flat[i] = *ms[i];
    struct pq_sel s = {flat, n, offset, has_at, at, false, false, PQ_SEL_ORIG_T, NULL, "info"};
    pq_select_instant(ev, &s, info, NULL);
    pq_free(q, flat);
    pq_free(q, ms);
}

/* Whether the data-label matchers (name excluded) all accept an empty value. */
static bool data_match_empty(const struct minfo *m)
{
    for (size_t i = 0; i < m->ndata; i++)
        if (!str_eq(m->data[i].name, PQ_NAME) && !matcher_matches_empty(&m->data[i]))
            return false;
    return true;
}

static bool data_label_wanted(const struct minfo *m, struct str name)
{
    if (!m->data_named)
        return true;
    for (size_t i = 0; i < m->ndata; i++)
        if (!str_eq(m->data[i].name, PQ_NAME) && str_eq(m->data[i].name, name))
            return true;
    return false;
}

struct combine {
    struct pq_ev *ev;
    struct minfo *m;
    const struct pq_vec *base, *info;
    const bool *ignore;
    struct str *isig;  /* per info series */
    struct str *names; /* distinct info metric names */
    uint32_t nnames;
    struct strmap *pick; /* sig -> info series index + 1, per step (query arena) */
    struct pq_vec *out;
};

static void pick_info(struct combine *c, uint32_t i)
{
    struct pq_query *q = c->ev->q;
    strmap_deinit(c->pick);
    strmap_init(c->pick);
    for (uint32_t k = 0; k < c->info->n; k++) {
        const struct pq_series *s = &c->info->s[k];
        if (!pq_has(s, i))
            continue;
        uintptr_t cur = (uintptr_t)strmap_get(c->pick, c->isig[k]);
        if (cur) {
            const struct pq_series *e = &c->info->s[cur - 1];
            int64_t et = (int64_t)e->f[i], nt = (int64_t)s->f[i];
            if (et > nt)
                continue;
            if (et == nt) {
                struct buf a = BUF_INIT, b = BUF_INIT;
                promql_lset_format(&a, e->ls);
                promql_lset_format(&b, s->ls);
                char msg[512];
                snprintf(msg, sizeof msg,
                         "found duplicate series for info metric: existing %.*s @ %lld, new %.*s "
                         "@ %lld",
                         (int)a.len, (const char *)a.data, (long long)et, (int)b.len,
                         (const char *)b.data, (long long)nt);
                buf_deinit(&a);
                buf_deinit(&b);
                pq_fail(q, ERR_INVALID, "%s", msg);
            }
        }
        if (strmap_put(c->pick, c->isig[k], (void *)(uintptr_t)(k + 1)))
            pq_nomem(q);
    }
}

static void combine_one(struct combine *c, uint32_t si, uint32_t i, struct pq_lb *lb)
{
    struct pq_query *q = c->ev->q;
    const struct pq_series *bs = &c->base->s[si];
    const struct promql_lset *ls = bs->ls;
    if (!c->ignore[si]) {
        pq_lb_reset(q, lb, NULL);
        uint32_t seen = 0;
        for (uint32_t k = 0; k < c->nnames; k++) {
            uintptr_t x = (uintptr_t)strmap_get(c->pick, make_sig(q, c->names[k], ls));
            if (!x)
                continue;
            const struct promql_lset *il = c->info->s[x - 1].ls;
            for (uint32_t j = 0; j < il->n; j++) {
                struct str name = il->l[j].name, val = il->l[j].value;
                if (str_eq(name, PQ_NAME) || !data_label_wanted(c->m, name))
                    continue;
                for (uint32_t e = 0; e < lb->n; e++)
                    if (str_eq(lb->v[e].name, name) && !str_eq(lb->v[e].value, val))
                        pq_fail(q, ERR_INVALID, "conflicting label: %.*s", (int)name.len, name.ptr);
                if (!promql_lset_has(ls, name))
                    pq_lb_set(q, lb, name, val);
            }
            seen++;
        }
        if (!seen && !data_match_empty(c->m))
            return;
        struct pq_lb all = {0};
        pq_lb_reset(q, &all, ls);
        for (uint32_t j = 0; j < lb->n; j++)
            pq_lb_set(q, &all, lb->v[j].name, lb->v[j].value);
        ls = pq_lb_make(q, &all);
        pq_lb_free(q, &all);
    }
    uint32_t o = pq_vec_series(c->ev, c->out, ls, bs->drop_name);
    struct promql_hist *h = pq_hist_at(bs, i);
    if (h)
        pq_vec_seth(c->ev, c->out, o, i, h);
    else
        pq_vec_setf(c->ev, c->out, o, i, bs->f[i]);
}

static void pick_free(void *p)
{
    strmap_deinit(p);
}

static void combine(struct combine *c)
{
    struct pq_query *q = c->ev->q;
    c->isig = pq_alloc(q, (c->info->n + 1) * sizeof *c->isig);
    c->names = pq_alloc(q, (c->info->n + 1) * sizeof *c->names);
    for (uint32_t k = 0; k < c->info->n; k++) {
        struct str name = pq_metric_name(c->info->s[k].ls);
        c->isig[k] = make_sig(q, name, c->info->s[k].ls);
        uint32_t j = 0;
        while (j < c->nnames && !str_eq(c->names[j], name))
            j++;
        if (j == c->nnames)
            c->names[c->nnames++] = name;
    }
    c->pick = pq_arena(q, sizeof *c->pick);
    strmap_init(c->pick);
    pq_defer(q, pick_free, c->pick);
    struct pq_lb lb = {0};
    for (uint32_t i = 0; i < c->ev->nsteps; i++) {
        pq_check_deadline(q);
        pick_info(c, i);
        for (uint32_t si = 0; si < c->base->n; si++)
            if (pq_has(&c->base->s[si], i))
                combine_one(c, si, i, &lb);
    }
    pq_undefer(q, c->pick);
    pq_lb_free(q, &lb);
    pq_free(q, c->isig);
    pq_free(q, c->names);
}

void pq_eval_info(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    struct pq_query *q = ev->q;
    const struct promql_node *arg = pq_unparen(n->call.args[0]);
    bool has_at = false;
    int64_t at = 0, offset = 0;
    const struct promql_node **path = pq_alloc(q, (PROMQL_DEPTH_MAX + 2) * sizeof *path);
    first_selector(q, arg, path, 0, &has_at, &at, &offset);
    pq_free(q, path);
    struct pq_vec base;
    pq_eval_vector(ev, arg, &base);
    struct minfo *m = pq_arena(q, sizeof *m);
    memset(m, 0, sizeof *m);
    m->q = q;
    pq_defer(q, minfo_free, m);
    if (n->call.nargs > 1) {
        const struct promql_node *sel = pq_unparen(n->call.args[1]);
        m->data = sel->vs.matchers;
        m->ndata = sel->vs.nmatchers;
        for (size_t i = 0; i < m->ndata; i++)
            m->data_named |= !str_eq(m->data[i].name, PQ_NAME);
    }
    name_matchers(m);
    bool *ignore = pq_alloc(q, (base.n + 1) * sizeof *ignore);
    for (uint32_t si = 0; si < base.n; si++)
        ignore[si] = is_info_series(m, base.s[si].ls);
    struct pq_vec info;
    fetch_info(ev, m, &base, ignore, has_at, at, offset, &info);
    pq_vec_init(ev, out);
    struct combine c = {ev, m, &base, &info, ignore, NULL, NULL, 0, NULL, out};
    combine(&c);
    pq_undefer(q, m);
    pq_free(q, m->name_m);
    pq_free(q, ignore);
    pq_vec_free(q, &info);
    pq_vec_free(q, &base);
}
