/* LogQL range aggregation evaluation (Loki's batch range vector iterator): one selection over
 * [start - range - offset, end - offset] in time order, the pipeline turns kept entries into
 * samples (1, the line size, or the unwrapped value) labelled by the extractor's grouping, and each
 * step's window (t - offset - range, t - offset] slides over per-series sample queues. A step's
 * vector is ordered by label set (Loki's order is its map's: unspecified; a fixed order makes
 * vector sums and topk ties deterministic and equal between the single and the partial path).
 *
 * Partial path (eval.h "partial range aggregation"): when the source offers range_open for a
 * decomposable aggregation, the steps come as partials from the source, merged here by label set;
 * ev_range_step_partials is the part's side (logql_partial_agg, eval_partial.c). */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/eval_internal.h"

/* Samples of one series; [head, end) is the current window, [end, n) read ahead. */
struct ev_series {
    const struct ev_lset *ls;
    int64_t *ts;
    double *v;
    size_t head, end, n, cap;
    double acc;  /* sum of v over the window, for the ops whose sums are exact integers */
    bool active; /* in the active list (has samples in or ahead of the window) */
};

struct ev_range {
    struct logql_pipeline *pl;
    void *it;
    bool eof, have_last;
    int64_t last_ts;
    struct ev_group g;
    bool no_labels, bytes, exact;
    struct ev_series **ser; /* active series; drained ones leave it until a sample comes */
    size_t n_ser, cap_ser;
    size_t n_all;           /* series in the map */
    struct ev_series **map; /* by label set pointer */
    size_t map_cap;
    double *scratch;
    size_t scratch_cap;
    const struct ev_lset *absent_ls;
    struct str hint[16];
    bool unsorted;                      /* the active list is out of label order */
    bool pl_borrowed;                   /* pl belongs to the caller (a part's aggregation) */
    void *part_it;                      /* the source's range iterator (partial path) */
    struct logql_partial_sample *parts; /* ev_range_step_partials' output */
    size_t parts_cap;
};

static struct ev_group own_grouping(const struct logql_expr *e, const struct ev_group *pushdown)
{
    if (e->grouping.present)
        return (struct ev_group){true, e->grouping.without, e->grouping.labels,
                                 e->grouping.n_labels};
    if (pushdown)
        return *pushdown;
    return (struct ev_group){0};
}

/* absent_over_time's labels: the equality matchers' labels, minus any name matched twice or by
 * another matcher type (Prometheus' absent()). */
static const struct ev_lset *absent_labels(struct ev_ctx *c, const struct logql_selector *sel)
{
    if (ev_lbuf_reserve(c, sel->n_matchers + 1))
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < sel->n_matchers; i++) {
        const struct matcher *m = &sel->matchers[i];
        if (m->type != MATCHER_EQ || str_eq_cstr(m->name, "__name__"))
            continue;
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup |= str_eq(c->lbuf[k].name, m->name);
        if (!dup)
            c->lbuf[n++] = (struct label){m->name, m->value};
    }
    size_t w = 0;
    for (size_t k = 0; k < n; k++) {
        size_t eq = 0;
        bool other = false;
        for (size_t i = 0; i < sel->n_matchers; i++) {
            const struct matcher *m = &sel->matchers[i];
            if (!str_eq(m->name, c->lbuf[k].name))
                continue;
            eq += m->type == MATCHER_EQ;
            other |= m->type != MATCHER_EQ;
        }
        if (eq == 1 && !other)
            c->lbuf[w++] = c->lbuf[k];
    }
    for (size_t i = 1; i < w; i++) /* insertion sort by name */
        for (size_t k = i; k > 0 && str_cmp(c->lbuf[k - 1].name, c->lbuf[k].name) > 0; k--) {
            struct label t = c->lbuf[k];
            c->lbuf[k] = c->lbuf[k - 1];
            c->lbuf[k - 1] = t;
        }
    return ev_intern(c, c->lbuf, w);
}

/* With unwrap and no `by` labels, Loki groups `without` the unwrapped label (plus any without
 * labels): the label the value came from is not part of the series. */
static int unwrap_grouping(struct ev_ctx *c, struct ev_range *r, const struct logql_expr *e)
{
    size_t n = r->g.set && r->g.without ? r->g.n : 0;
    struct str *names = arena_alloc(c->mem, (n + 1) * sizeof *names);
    if (!names)
        return ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        names[i] = r->g.names[i];
    names[n] = e->unwrap->label;
    r->g = (struct ev_group){true, true, names, n + 1};
    return 0;
}

/* The partial path when the source offers it for this aggregation: 0 (r->part_it set or not),
 * or an error. */
static int open_partial(struct ev_ctx *c, struct ev_range *r, const struct logql_expr *e,
                        const struct ev_group *pushdown, const struct logql_select_req *sel)
{
    if (!c->ops->range_open || !c->ops->range_next || !c->ops->range_close ||
        !logql_partial_supported(e))
        return 0;
    struct logql_range_req req = {
        .e = e,
        .pushdown = pushdown && pushdown->set,
        .pushdown_without = pushdown && pushdown->without,
        .pushdown_names = pushdown ? pushdown->names : NULL,
        .n_pushdown = pushdown ? pushdown->n : 0,
        .start_ns = c->p->start_ns,
        .end_ns = c->p->instant ? c->p->start_ns : c->p->end_ns,
        .step_ns = c->p->step_ns,
        .instant = c->p->instant,
        .sel = *sel,
    };
    void *it = NULL;
    int rc = c->ops->range_open(c->src, &req, &it);
    if (rc == LOGQL_SRC_DECLINED)
        return 0;
    if (rc)
        return ev_fail(c, rc, "selecting entries: %s", err_str(rc));
    r->part_it = it;
    return 0;
}

int ev_range_open(struct ev_ctx *c, struct ev_node *n, const struct ev_group *pushdown)
{
    return ev_range_open_with(c, n, pushdown, NULL);
}

int ev_range_open_with(struct ev_ctx *c, struct ev_node *n, const struct ev_group *pushdown,
                       struct logql_pipeline *pl)
{
    const struct logql_expr *e = n->e;
    struct ev_range *r = calloc(1, sizeof *r);
    if (!r)
        return ERR_NOMEM;
    n->range = r;
    r->g = own_grouping(e, pushdown);
    r->no_labels = (r->g.set && !r->g.without && r->g.n == 0) || e->range_op == LOGQL_RANGE_ABSENT;
    r->bytes = e->range_op == LOGQL_RANGE_BYTES || e->range_op == LOGQL_RANGE_BYTES_RATE;
    r->exact = r->bytes || e->range_op == LOGQL_RANGE_COUNT ||
               (e->range_op == LOGQL_RANGE_RATE && !e->unwrap);
    struct logql_pipeline_opts o = {
        .metric = true,
        .no_labels = r->no_labels,
        .groups = r->g.names,
        .n_groups = r->g.set ? r->g.n : 0,
        .without = r->g.set && r->g.without,
    };
    int rc = 0;
    r->pl_borrowed = pl != NULL;
    if (pl)
        r->pl = pl;
    else if ((rc = logql_pipeline_compile_expr(e, &o, &r->pl, c->err, c->err_size)))
        return rc;
    if (e->unwrap && (!r->g.set || r->g.without || r->g.n == 0) && (rc = unwrap_grouping(c, r, e)))
        return rc;
    if (e->range_op == LOGQL_RANGE_ABSENT && !(r->absent_ls = absent_labels(c, &e->sel)))
        return ERR_NOMEM;
    int64_t end = c->p->instant ? c->p->start_ns : c->p->end_ns;
    struct logql_select_req req = {
        .matchers = e->sel.matchers,
        .n_matchers = e->sel.n_matchers,
        .start_ns = ev_sat_sub(ev_sat_sub(c->p->start_ns, e->range_ns), e->offset_ns),
        .end_ns = ev_sat_add(ev_sat_sub(end, e->offset_ns), 1),
        .contains = r->hint,
        .n_contains = logql_eval_line_hint(&e->sel, r->hint, 16),
        .pipeline = r->pl,
    };
    if (!pl && (rc = open_partial(c, r, e, pushdown, &req)))
        return rc;
    if (r->part_it)
        return 0;
    rc = c->ops->select(c->src, &req, &r->it);
    if (rc) {
        r->it = NULL;
        return ev_fail(c, rc, "selecting entries: %s", err_str(rc));
    }
    return 0;
}

static struct ev_series **map_slot(struct ev_range *r, const struct ev_lset *ls)
{
    size_t k = ls->hash & (r->map_cap - 1);
    while (r->map[k] && r->map[k]->ls != ls)
        k = (k + 1) & (r->map_cap - 1);
    return &r->map[k];
}

static int map_grow(struct ev_range *r)
{
    size_t cap = r->map_cap ? r->map_cap * 2 : 64;
    struct ev_series **old = r->map;
    size_t old_cap = r->map_cap;
    if (!(r->map = calloc(cap, sizeof *r->map))) {
        r->map = old;
        return ERR_NOMEM;
    }
    r->map_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            *map_slot(r, old[i]->ls) = old[i];
    free(old);
    return 0;
}

static int activate(struct ev_range *r, struct ev_series *s)
{
    if (s->active)
        return 0;
    if (r->n_ser > 0 && ev_lset_cmp(r->ser[r->n_ser - 1]->ls, s->ls) > 0)
        r->unsorted = true;
    if (r->n_ser == r->cap_ser) {
        size_t cap = r->cap_ser ? r->cap_ser * 2 : 16;
        struct ev_series **n = realloc(r->ser, cap * sizeof *n);
        if (!n)
            return ERR_NOMEM;
        r->ser = n;
        r->cap_ser = cap;
    }
    r->ser[r->n_ser++] = s;
    s->active = true;
    return 0;
}

static struct ev_series *series_of(struct ev_range *r, const struct ev_lset *ls)
{
    if ((r->n_all + 1) * 2 > r->map_cap && map_grow(r))
        return NULL;
    struct ev_series **slot = map_slot(r, ls);
    if (*slot)
        return activate(r, *slot) ? NULL : *slot;
    struct ev_series *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->ls = ls;
    *slot = s;
    r->n_all++;
    return activate(r, s) ? NULL : s;
}

static int series_push(struct ev_series *s, int64_t ts, double v)
{
    if (s->head > 0 && s->head * 2 >= s->n) { /* drop what slid out of the window */
        memmove(s->ts, s->ts + s->head, (s->n - s->head) * sizeof *s->ts);
        memmove(s->v, s->v + s->head, (s->n - s->head) * sizeof *s->v);
        s->n -= s->head;
        s->end -= s->head;
        s->head = 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        int64_t *t = realloc(s->ts, cap * sizeof *t);
        if (!t)
            return ERR_NOMEM;
        s->ts = t;
        double *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv)
            return ERR_NOMEM;
        s->v = nv;
        s->cap = cap;
    }
    s->ts[s->n] = ts;
    s->v[s->n++] = v;
    return 0;
}

/* The label set a kept entry's sample carries: everything when it has an error (so the error
 * reaches the step and fails the query, as Loki's GroupedLabels does), else the grouping. */
static const struct ev_lset *sample_labels(struct ev_ctx *c, struct ev_range *r,
                                           const struct logql_result *res)
{
    bool err = false;
    for (size_t i = 0; i < res->n_labels && !err; i++)
        err = str_eq_cstr(res->labels[i].name, "__error__");
    if (err || (!r->no_labels && !r->g.set))
        return ev_intern(c, res->labels, res->n_labels);
    if (r->no_labels)
        return ev_intern(c, NULL, 0);
    if (ev_lbuf_reserve(c, res->n_labels + 1))
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < res->n_labels; i++) {
        const struct label *l = &res->labels[i];
        bool in = ev_names_has(r->g.names, r->g.n, l->name);
        if (r->g.without ? !in : in) /* parsed labels count even when empty */
            c->lbuf[n++] = *l;
    }
    return ev_intern(c, c->lbuf, n);
}

static int add_entry(struct ev_ctx *c, struct ev_node *n, const struct logql_entry *ent)
{
    struct ev_range *r = n->range;
    struct logql_result res;
    int rc = logql_pipeline_process(r->pl, ent, 0, &res);
    if (rc <= 0)
        return rc;
    c->stats->entries_kept++;
    double v = n->e->unwrap ? res.value : r->bytes ? (double)res.line.len : 1.0;
    const struct ev_lset *ls = sample_labels(c, r, &res);
    struct ev_series *s = ls ? series_of(r, ls) : NULL;
    if (!s)
        return ERR_NOMEM;
    return series_push(s, ent->ts_ns, v);
}

/* Reads entries until one lies beyond the window end tw (it stays queued in its series). */
static int load(struct ev_ctx *c, struct ev_node *n, int64_t tw)
{
    struct ev_range *r = n->range;
    while (!r->eof && (!r->have_last || r->last_ts <= tw)) {
        struct logql_entry ent;
        int rc = c->ops->next(r->it, &ent);
        if (rc == 0) {
            r->eof = true;
            break;
        }
        if (rc == LOGQL_SRC_YIELD)
            return rc;
        if (rc < 0)
            return ev_fail(c, rc, "reading entries: %s", err_str(rc));
        c->stats->entries_scanned++;
        c->stats->bytes_scanned += ent.line.len;
        r->last_ts = ent.ts_ns;
        r->have_last = true;
        if ((rc = add_entry(c, n, &ent)) < 0 || (rc = ev_poll(c)))
            return rc;
    }
    return 0;
}

static int pipeline_error(struct ev_ctx *c, const struct ev_lset *ls)
{
    struct str type = {"", 0};
    for (size_t i = 0; i < ls->n; i++)
        if (str_eq_cstr(ls->l[i].name, "__error__"))
            type = ls->l[i].value;
    struct buf b = BUF_INIT;
    int rc = ev_labels_string(&b, ls->l, ls->n);
    if (!rc)
        rc = ev_fail(
            c, ERR_INVALID,
            "pipeline error: '%.*s' for series: '%.*s'.\n"
            "Use a label filter to intentionally skip this error. (e.g | "
            "__error__!=\"%.*s\").\n"
            "To skip all potential errors you can match empty errors.(e.g __error__=\"\")\n"
            "The label filter can also be specified after unwrap. (e.g | unwrap latency | "
            "__error__=\"\" )\n",
            (int)type.len, type.ptr, (int)b.len, (const char *)b.data, (int)type.len, type.ptr);
    buf_deinit(&b);
    return rc;
}

/* Moves the window to (lo, tw]: both ends only move forward, so a step costs what entered and
 * left the window. */
static void slide(struct ev_series *s, int64_t lo, int64_t tw)
{
    for (; s->end < s->n && s->ts[s->end] <= tw; s->end++)
        s->acc += s->v[s->end];
    for (; s->head < s->end && s->ts[s->head] <= lo; s->head++)
        s->acc -= s->v[s->head];
    if (s->head == s->end)
        s->acc = 0; /* no drift carried into the next window */
}

/* count, rate and the byte ops from the running sum: their sums are integers, exact in a
 * double, so this equals summing the window afresh as Loki does. */
static double exact_agg(const struct logql_expr *e, const struct ev_series *s, size_t cnt)
{
    double secs = (double)e->range_ns / 1e9;
    switch (e->range_op) {
    case LOGQL_RANGE_COUNT: return (double)cnt;
    case LOGQL_RANGE_RATE: return (double)cnt / secs;
    case LOGQL_RANGE_BYTES: return s->acc;
    default: return s->acc / secs; /* bytes_rate */
    }
}

static int scratch_reserve(struct ev_range *r, size_t n)
{
    if (n <= r->scratch_cap)
        return 0;
    double *s = realloc(r->scratch, n * sizeof *s);
    if (!s)
        return ERR_NOMEM;
    r->scratch = s;
    r->scratch_cap = n;
    return 0;
}

static int cmp_series(const void *a, const void *b)
{
    return ev_lset_cmp((*(struct ev_series *const *)a)->ls, (*(struct ev_series *const *)b)->ls);
}

/* Loads up to the window of step t, slides every active series to it and drops the drained
 * ones from the active list (kept in label order). LOGQL_SRC_YIELD: nothing moved yet. */
static int advance(struct ev_ctx *c, struct ev_node *n, int64_t t)
{
    struct ev_range *r = n->range;
    int64_t tw = ev_sat_sub(t, n->e->offset_ns), lo = ev_sat_sub(tw, n->e->range_ns);
    int rc = load(c, n, tw);
    if (rc)
        return rc;
    if (r->unsorted) {
        qsort(r->ser, r->n_ser, sizeof *r->ser, cmp_series);
        r->unsorted = false;
    }
    size_t w = 0;
    for (size_t i = 0; i < r->n_ser; i++) {
        struct ev_series *s = r->ser[i];
        slide(s, lo, tw);
        if (s->head == s->n) { /* drained: leave the active list */
            s->active = false;
            s->head = s->end = s->n = 0;
            s->acc = 0;
            continue;
        }
        r->ser[w++] = s;
    }
    r->n_ser = w;
    return 0;
}

static void absent_out(struct ev_range *r, const struct logql_expr *e, struct ev_vec *out)
{
    if (e->range_op != LOGQL_RANGE_ABSENT)
        return;
    bool any = out->n > 0;
    out->n = 0;
    if (!any)
        out->s[out->n++] = (struct ev_sample){r->absent_ls, 1.0};
}

struct merged {
    const struct ev_lset *ls;
    struct logql_partial p;
};

static int cmp_merged(const void *a, const void *b)
{
    return ev_lset_cmp(((const struct merged *)a)->ls, ((const struct merged *)b)->ls);
}

/* The partials of every part merged by label set, in label order, into m (*n_out of them). */
static int merge_partials(struct ev_ctx *c, const struct logql_expr *e,
                          const struct logql_partial_vec *pv, struct merged **out, size_t *n_out)
{
    size_t cap = 16;
    while (cap < 2 * (pv->n + 1))
        cap *= 2;
    uint32_t *slot = ev_step_alloc(c, cap * sizeof *slot);
    struct merged *m = ev_step_alloc(c, (pv->n + 1) * sizeof *m);
    if (!slot || !m)
        return ERR_NOMEM;
    memset(slot, 0, cap * sizeof *slot);
    size_t n = 0;
    for (size_t i = 0; i < pv->n; i++) {
        const struct logql_partial_sample *ps = &pv->s[i];
        const struct ev_lset *ls = ev_intern(c, ps->labels, ps->n_labels);
        if (!ls)
            return ERR_NOMEM;
        size_t k = ls->hash & (cap - 1);
        while (slot[k] && m[slot[k] - 1].ls != ls)
            k = (k + 1) & (cap - 1);
        if (slot[k]) {
            logql_partial_merge(e->range_op, &m[slot[k] - 1].p, &ps->p);
            continue;
        }
        m[n] = (struct merged){ls, ps->p};
        slot[k] = (uint32_t)++n;
    }
    qsort(m, n, sizeof *m, cmp_merged);
    *out = m;
    *n_out = n;
    return 0;
}

static int step_partial(struct ev_ctx *c, struct ev_node *n, int64_t t, struct ev_vec *out)
{
    struct ev_range *r = n->range;
    const struct logql_expr *e = n->e;
    struct logql_partial_vec pv = {0};
    int rc = c->ops->range_next(r->part_it, t, &pv);
    if (rc)
        return ev_fail(c, rc, "reading entries: %s", err_str(rc));
    c->stats->entries_scanned += pv.entries_scanned;
    c->stats->bytes_scanned += pv.bytes_scanned;
    c->stats->entries_kept += pv.entries_kept;
    struct merged *m;
    size_t nm;
    if ((rc = merge_partials(c, e, &pv, &m, &nm)))
        return rc;
    out->n = 0;
    out->s = ev_step_alloc(c, (nm + 1) * sizeof *out->s);
    if (!out->s)
        return ERR_NOMEM;
    for (size_t i = 0; i < nm; i++) {
        if (m[i].ls->has_err)
            return pipeline_error(c, m[i].ls);
        out->s[out->n++] = (struct ev_sample){m[i].ls, logql_partial_value(e, &m[i].p)};
    }
    absent_out(r, e, out);
    return ev_poll(c);
}

int ev_range_step(struct ev_ctx *c, struct ev_node *n, int64_t t, struct ev_vec *out)
{
    struct ev_range *r = n->range;
    const struct logql_expr *e = n->e;
    if (r->part_it)
        return step_partial(c, n, t, out);
    int64_t tw = ev_sat_sub(t, e->offset_ns);
    int rc = advance(c, n, t);
    if (rc)
        return rc;
    out->n = 0;
    out->s = ev_step_alloc(c, (r->n_ser + 1) * sizeof *out->s);
    if (!out->s)
        return ERR_NOMEM;
    for (size_t i = 0; i < r->n_ser; i++) {
        struct ev_series *s = r->ser[i];
        size_t cnt = s->end - s->head;
        if (cnt == 0)
            continue;
        if (s->ls->has_err)
            return pipeline_error(c, s->ls);
        if (e->range_op == LOGQL_RANGE_QUANTILE && scratch_reserve(r, cnt))
            return ERR_NOMEM;
        double v = r->exact ? exact_agg(e, s, cnt)
                            : ev_range_agg(e, s->ts + s->head, s->v + s->head, cnt, tw, r->scratch);
        out->s[out->n++] = (struct ev_sample){s->ls, v};
    }
    absent_out(r, e, out);
    return 0;
}

int ev_range_step_partials(struct ev_ctx *c, struct ev_node *n, int64_t t,
                           const struct logql_partial_sample **out, size_t *n_out)
{
    struct ev_range *r = n->range;
    int rc = advance(c, n, t);
    if (rc)
        return rc;
    if (r->n_ser > r->parts_cap) {
        size_t cap = r->parts_cap ? r->parts_cap : 16;
        while (cap < r->n_ser)
            cap *= 2;
        struct logql_partial_sample *v = realloc(r->parts, cap * sizeof *v);
        if (!v)
            return ERR_NOMEM;
        r->parts = v;
        r->parts_cap = cap;
    }
    size_t k = 0;
    for (size_t i = 0; i < r->n_ser; i++) {
        const struct ev_series *s = r->ser[i];
        size_t cnt = s->end - s->head;
        if (cnt == 0)
            continue;
        double v = ev_partial_window(n->e, s->v + s->head, cnt, s->acc);
        r->parts[k++] = (struct logql_partial_sample){s->ls->l, s->ls->n, s->ls, {cnt, v}};
    }
    *out = r->parts;
    *n_out = k;
    return 0;
}

void ev_range_close(struct ev_ctx *c, struct ev_node *n)
{
    struct ev_range *r = n->range;
    if (!r)
        return;
    if (r->it)
        c->ops->close(r->it);
    if (r->part_it)
        c->ops->range_close(r->part_it);
    if (r->pl && !r->pl_borrowed)
        logql_pipeline_destroy(r->pl);
    for (size_t i = 0; i < r->map_cap; i++) {
        if (!r->map[i])
            continue;
        free(r->map[i]->ts);
        free(r->map[i]->v);
        free(r->map[i]);
    }
    free(r->ser);
    free(r->map);
    free(r->scratch);
    free(r->parts);
    free(r);
    n->range = NULL;
}
