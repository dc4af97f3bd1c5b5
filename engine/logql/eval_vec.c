/* LogQL step evaluator tree (Loki's evaluator.go): builds one node per sample expression and
 * evaluates it step by step; vector aggregations, vector() and label_replace live here, binary
 * operations in eval_binop.c, range aggregations in eval_range.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/eval_internal.h"

/* A sum over count/rate/bytes/sum_over_time without its own grouping hands its grouping to the
 * range aggregation's extractor (Loki's canInjectVectorGrouping). */
static bool pushdown_ok(const struct logql_expr *e)
{
    const struct logql_expr *in = e->inner;
    if (e->vec_op != LOGQL_VEC_SUM || in->kind != LOGQL_EXPR_RANGE_AGG || in->grouping.present)
        return false;
    switch (in->range_op) {
    case LOGQL_RANGE_BYTES:
    case LOGQL_RANGE_BYTES_RATE:
    case LOGQL_RANGE_SUM:
    case LOGQL_RANGE_RATE:
    case LOGQL_RANGE_COUNT: return true;
    default: return false;
    }
}

int ev_node_build(struct ev_ctx *c, const struct logql_expr *e, const struct ev_group *pushdown,
                  struct ev_node **out)
{
    struct ev_node *n = arena_alloc(c->mem, sizeof *n);
    if (!n)
        return ERR_NOMEM;
    memset(n, 0, sizeof *n);
    n->e = e;
    *out = n;
    switch (e->kind) {
    case LOGQL_EXPR_RANGE_AGG: return ev_range_open(c, n, pushdown);
    case LOGQL_EXPR_VECTOR_AGG: {
        if (e->vec_op == LOGQL_VEC_APPROX_TOPK && !c->p->instant) /* a count-min sketch in Loki */
            return ev_fail(c, ERR_INVALID, "%s",
                           "count min sketches are only supported on instant queries");
        struct ev_group g = {true, e->grouping.without, e->grouping.labels, e->grouping.n_labels};
        return ev_node_build(c, e->inner, pushdown_ok(e) ? &g : NULL, &n->a);
    }
    case LOGQL_EXPR_LABEL_REPLACE: return ev_node_build(c, e->inner, NULL, &n->a);
    case LOGQL_EXPR_BINOP: {
        n->lit_left = e->inner->kind == LOGQL_EXPR_LITERAL;
        n->lit_right = e->rhs->kind == LOGQL_EXPR_LITERAL;
        int rc = n->lit_left ? 0 : ev_node_build(c, e->inner, NULL, &n->a);
        if (!rc && !n->lit_right)
            rc = ev_node_build(c, e->rhs, NULL, &n->b);
        return rc;
    }
    case LOGQL_EXPR_VECTOR:
    case LOGQL_EXPR_LITERAL: return 0;
    case LOGQL_EXPR_LOG: break;
    }
    return ev_fail(c, ERR_INVALID, "unexpected type (%s): cannot evaluate", "log selector");
}

void ev_node_close(struct ev_ctx *c, struct ev_node *n)
{
    if (!n)
        return;
    ev_node_close(c, n->a);
    ev_node_close(c, n->b);
    ev_range_close(c, n);
}

/* ---- vector aggregation ---- */

struct ev_agg_group {
    const struct ev_lset *key;
    double value, mean;
    size_t count;
    struct ev_sample *heap; /* topk, bottomk, sort, sort_desc */
    size_t heap_n;
};

/* Go's container/heap over samples; `rev` orders by descending value (bottomk, sort). NaN is
 * always "less", so it is the first to go. */
static bool heap_less(const struct ev_sample *h, size_t i, size_t j, bool rev)
{
    if (isnan(h[i].v))
        return true;
    return rev ? h[i].v > h[j].v : h[i].v < h[j].v;
}

static void heap_swap(struct ev_sample *h, size_t i, size_t j)
{
    struct ev_sample t = h[i];
    h[i] = h[j];
    h[j] = t;
}

static void heap_up(struct ev_sample *h, size_t j, bool rev)
{
    while (j > 0) {
        size_t i = (j - 1) / 2;
        if (!heap_less(h, j, i, rev))
            break;
        heap_swap(h, i, j);
        j = i;
    }
}

static void heap_down(struct ev_sample *h, size_t i, size_t n, bool rev)
{
    for (;;) {
        size_t j = 2 * i + 1;
        if (j >= n)
            break;
        if (j + 1 < n && heap_less(h, j + 1, j, rev))
            j++;
        if (!heap_less(h, j, i, rev))
            break;
        heap_swap(h, i, j);
        i = j;
    }
}

static const struct ev_lset *group_key(struct ev_ctx *c, const struct logql_grouping *g,
                                       const struct ev_lset *ls)
{
    if (ev_lbuf_reserve(c, ls->n + 1))
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < ls->n; i++) {
        bool in = ev_names_has(g->labels, g->n_labels, ls->l[i].name);
        if (g->without ? !in && !str_eq_cstr(ls->l[i].name, "__name__") : in)
            c->lbuf[n++] = ls->l[i];
    }
    return ev_intern(c, c->lbuf, n);
}

static bool is_heap_op(enum logql_vector_op op)
{
    return op == LOGQL_VEC_TOPK || op == LOGQL_VEC_BOTTOMK || op == LOGQL_VEC_APPROX_TOPK ||
           op == LOGQL_VEC_SORT || op == LOGQL_VEC_SORT_DESC;
}

static bool heap_rev(enum logql_vector_op op)
{
    return op == LOGQL_VEC_BOTTOMK || op == LOGQL_VEC_SORT;
}

static void agg_add(const struct logql_expr *e, struct ev_agg_group *g, struct ev_sample s)
{
    bool rev = heap_rev(e->vec_op);
    size_t k =
        e->vec_op == LOGQL_VEC_SORT || e->vec_op == LOGQL_VEC_SORT_DESC ? SIZE_MAX : (size_t)e->k;
    switch (e->vec_op) {
    case LOGQL_VEC_SUM: g->value += s.v; break;
    case LOGQL_VEC_AVG:
        g->count++;
        if (isinf(g->mean)) {
            if (isinf(s.v) && (g->mean > 0) == (s.v > 0))
                break;
            if (!isinf(s.v) && !isnan(s.v))
                break;
        }
        g->mean += (s.v - g->mean) / (double)g->count;
        break;
    case LOGQL_VEC_MAX:
        if (g->value < s.v || isnan(g->value))
            g->value = s.v;
        break;
    case LOGQL_VEC_MIN:
        if (g->value > s.v || isnan(g->value))
            g->value = s.v;
        break;
    case LOGQL_VEC_COUNT: g->count++; break;
    case LOGQL_VEC_STDDEV:
    case LOGQL_VEC_STDVAR: {
        g->count++;
        double delta = s.v - g->mean;
        g->mean += delta / (double)g->count;
        g->value += delta * (s.v - g->mean);
        break;
    }
    default: { /* heap ops */
        bool better = rev ? g->heap[0].v > s.v : g->heap[0].v < s.v;
        if (g->heap_n < k || better || isnan(g->heap[0].v)) {
            if (g->heap_n == k) { /* heap.Pop */
                heap_swap(g->heap, 0, g->heap_n - 1);
                heap_down(g->heap, 0, g->heap_n - 1, rev);
                g->heap_n--;
            }
            g->heap[g->heap_n++] = s;
            heap_up(g->heap, g->heap_n - 1, rev);
        }
        break;
    }
    }
}

static double agg_value(const struct logql_expr *e, const struct ev_agg_group *g)
{
    switch (e->vec_op) {
    case LOGQL_VEC_AVG: return g->mean;
    case LOGQL_VEC_COUNT: return (double)g->count;
    case LOGQL_VEC_STDDEV: return sqrt(g->value / (double)g->count);
    case LOGQL_VEC_STDVAR: return g->value / (double)g->count;
    default: return g->value;
    }
}

/* Go's sort.Sort(sort.Reverse(heap)): order by the heap's Less, reversed. Ties keep no particular
 * order in Go; here they fall back to the label order, so results are deterministic. */
static int heap_out_cmp_dir(const struct ev_sample *a, const struct ev_sample *b, bool rev)
{
    struct ev_sample h[2] = {*a, *b};
    if (heap_less(h, 1, 0, rev))
        return -1;
    if (heap_less(h, 0, 1, rev))
        return 1;
    return ev_lset_cmp(a->ls, b->ls);
}

static int heap_out_cmp(const void *a, const void *b)
{
    return heap_out_cmp_dir(a, b, false);
}

static int heap_out_cmp_rev(const void *a, const void *b)
{
    return heap_out_cmp_dir(a, b, true);
}

/* Groups of one step: an open-addressing table of group indexes keyed by the interned key. */
struct agg_tab {
    struct ev_agg_group *gs;
    size_t n;
    uint32_t *slot; /* index + 1, 0 = empty */
    size_t cap;
};

static int agg_group_of(struct ev_ctx *c, const struct logql_expr *e, struct agg_tab *t,
                        struct ev_sample s, size_t cap_heap, struct ev_agg_group **out)
{
    static const struct logql_grouping none = {0};
    const struct ev_lset *key = group_key(c, e->grouping.present ? &e->grouping : &none, s.ls);
    if (!key)
        return ERR_NOMEM;
    size_t k = key->hash & (t->cap - 1);
    for (; t->slot[k]; k = (k + 1) & (t->cap - 1))
        if (t->gs[t->slot[k] - 1].key == key) {
            *out = &t->gs[t->slot[k] - 1];
            return 0;
        }
    struct ev_agg_group *g = &t->gs[t->n++];
    t->slot[k] = (uint32_t)t->n;
    *g = (struct ev_agg_group){key, s.v, s.v, 1, NULL, 0};
    if (is_heap_op(e->vec_op)) {
        if (!(g->heap = ev_step_alloc(c, cap_heap * sizeof *g->heap)))
            return ERR_NOMEM;
        g->heap[g->heap_n++] = s;
    }
    if (e->vec_op == LOGQL_VEC_STDDEV || e->vec_op == LOGQL_VEC_STDVAR)
        g->value = 0;
    *out = NULL; /* the first sample is already in */
    return 0;
}

static int vector_agg(struct ev_ctx *c, const struct logql_expr *e, struct ev_vec in,
                      struct ev_vec *out)
{
    struct agg_tab t = {0};
    t.cap = 16;
    while (t.cap < 2 * (in.n + 1))
        t.cap *= 2;
    out->n = 0;
    out->s = ev_step_alloc(c, (in.n + 1) * sizeof *out->s);
    t.gs = ev_step_alloc(c, (in.n + 1) * sizeof *t.gs);
    t.slot = ev_step_alloc(c, t.cap * sizeof *t.slot);
    if (!out->s || !t.gs || !t.slot)
        return ERR_NOMEM;
    memset(t.slot, 0, t.cap * sizeof *t.slot);
    bool topk = e->vec_op == LOGQL_VEC_TOPK || e->vec_op == LOGQL_VEC_BOTTOMK ||
                e->vec_op == LOGQL_VEC_APPROX_TOPK;
    if (topk && e->k < 1)
        return 0;
    size_t cap_heap = topk && (size_t)e->k < in.n ? (size_t)e->k : in.n;
    for (size_t i = 0; i < in.n; i++) {
        struct ev_agg_group *g;
        int rc = agg_group_of(c, e, &t, in.s[i], cap_heap ? cap_heap : 1, &g);
        if (rc)
            return rc;
        if (g)
            agg_add(e, g, in.s[i]);
        if ((rc = ev_poll(c)))
            return rc;
    }
    for (size_t i = 0; i < t.n; i++) {
        struct ev_agg_group *g = &t.gs[i];
        if (!is_heap_op(e->vec_op)) {
            out->s[out->n++] = (struct ev_sample){g->key, agg_value(e, g)};
            continue;
        }
        qsort(g->heap, g->heap_n, sizeof *g->heap,
              heap_rev(e->vec_op) ? heap_out_cmp_rev : heap_out_cmp);
        memcpy(out->s + out->n, g->heap, g->heap_n * sizeof *out->s);
        out->n += g->heap_n;
    }
    return 0;
}

/* ---- label_replace ---- */

/* Go's Regexp.Expand: $1, ${1}, $name, ${name}, $$; unknown or invalid references expand to "". */
static int expand(struct buf *b, struct str tmpl, struct str src, const size_t *sp,
                  const struct logql_regex *re)
{
    int rc = 0;
    for (size_t i = 0; i < tmpl.len && !rc; i++) {
        if (tmpl.ptr[i] != '$' || i + 1 >= tmpl.len) {
            rc = buf_append(b, tmpl.ptr + i, 1);
            continue;
        }
        if (tmpl.ptr[i + 1] == '$') {
            rc = buf_append(b, "$", 1);
            i++;
            continue;
        }
        bool brace = tmpl.ptr[i + 1] == '{';
        size_t s = i + 1 + brace, j = s;
        while (j < tmpl.len && (tmpl.ptr[j] == '_' || (tmpl.ptr[j] >= '0' && tmpl.ptr[j] <= '9') ||
                                ((tmpl.ptr[j] | 32) >= 'a' && (tmpl.ptr[j] | 32) <= 'z')))
            j++;
        if (j == s || (brace && (j >= tmpl.len || tmpl.ptr[j] != '}'))) {
            rc = buf_append(b, "$", 1); /* not a reference: keep the dollar */
            continue;
        }
        struct str name = {tmpl.ptr + s, j - s};
        i = brace ? j : j - 1;
        long g = -1;
        bool num = true;
        for (size_t k = 0; k < name.len; k++)
            num &= name.ptr[k] >= '0' && name.ptr[k] <= '9';
        if (num)
            g = name.len < 9 ? strtol(name.ptr, NULL, 10) : -1; /* name is followed by non-digits */
        for (uint32_t k = 0; !num && k < re->n_groups && g < 0; k++)
            if (re->names && str_eq(re->names[k], name))
                g = (long)k + 1;
        if (g >= 0 && (uint32_t)g <= re->n_groups && sp[2 * g] != SIZE_MAX)
            rc = buf_append(b, src.ptr + sp[2 * g], sp[2 * g + 1] - sp[2 * g]);
    }
    return rc;
}

static int replace_one(struct ev_ctx *c, const struct logql_expr *e, struct ev_sample *s,
                       size_t *spans, struct buf *b)
{
    struct str src = {"", 0};
    for (size_t i = 0; i < s->ls->n; i++)
        if (str_eq(s->ls->l[i].name, e->src))
            src = s->ls->l[i].value;
    if (!logql_regex_find(e->regex, src, spans, e->regex->n_groups + 1))
        return 0;
    buf_reset(b);
    if (expand(b, e->replacement, src, spans, e->regex) || ev_lbuf_reserve(c, s->ls->n + 1))
        return ERR_NOMEM;
    size_t n = 0;
    bool placed = b->len == 0;
    struct label dst = {e->dst, {b->len ? (const char *)b->data : "", b->len}};
    for (size_t i = 0; i < s->ls->n; i++) {
        int cmp = str_cmp(s->ls->l[i].name, e->dst);
        if (!placed && cmp >= 0) {
            c->lbuf[n++] = dst;
            placed = true;
        }
        if (cmp != 0)
            c->lbuf[n++] = s->ls->l[i];
    }
    if (!placed)
        c->lbuf[n++] = dst;
    return (s->ls = ev_intern(c, c->lbuf, n)) ? 0 : ERR_NOMEM;
}

static int label_replace(struct ev_ctx *c, const struct logql_expr *e, struct ev_vec *v)
{
    size_t *spans = ev_step_alloc(c, 2 * (e->regex->n_groups + 1) * sizeof *spans);
    if (!spans)
        return ERR_NOMEM;
    struct buf b = BUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < v->n && !rc; i++)
        rc = replace_one(c, e, &v->s[i], spans, &b);
    buf_deinit(&b);
    return rc;
}

int ev_node_step(struct ev_ctx *c, struct ev_node *n, int64_t t, struct ev_vec *out)
{
    const struct logql_expr *e = n->e;
    struct ev_vec in;
    int rc;
    switch (e->kind) {
    case LOGQL_EXPR_RANGE_AGG: return ev_range_step(c, n, t, out);
    case LOGQL_EXPR_VECTOR_AGG:
        if ((rc = ev_node_step(c, n->a, t, &in)))
            return rc;
        return vector_agg(c, e, in, out);
    case LOGQL_EXPR_LABEL_REPLACE:
        if ((rc = ev_node_step(c, n->a, t, out)))
            return rc;
        return label_replace(c, e, out);
    case LOGQL_EXPR_BINOP: return ev_binop_step(c, n, t, out);
    case LOGQL_EXPR_VECTOR: {
        const struct ev_lset *empty = ev_intern(c, NULL, 0);
        out->s = ev_step_alloc(c, sizeof *out->s);
        if (!empty || !out->s)
            return ERR_NOMEM;
        out->s[0] = (struct ev_sample){empty, e->value};
        out->n = 1;
        return 0;
    }
    default: break;
    }
    return ev_fail(c, ERR_INVALID, "unexpected literal in a vector position");
}
