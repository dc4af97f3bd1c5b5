/* Selectors: storage selection, chunk decoding (batched Gorilla decoding, overlapping chunks
 * merged with the first-listed chunk winning, start timestamps attached), instant-vector lookups
 * with lookback and staleness, smoothed selectors, top-level range vectors, subqueries, and the
 * per-series source behind range-vector function arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/promql/eval_internal.h"
#include "engine/promql/hist_storage.h"
#include "formats/floatpack.h"
#include "formats/gorilla.h"

static inline bool stale_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b == GORILLA_STALE_NAN_BITS;
}

static inline bool hist_stale(const struct promql_hist *h)
{
    return stale_bits(h->sum);
}

/* ---- decoding ---- */

struct dec {
    struct pq_raw *r; /* arrays owned by the caller's source, grown here */
    uint32_t *fcap, *hcap;
    struct promql_st_sample *st; /* start timestamps of floats */
    uint32_t nst, capst;
};

static void grow_f(struct pq_query *q, struct dec *d, uint32_t need)
{
    if (need <= *d->fcap)
        return;
    uint32_t cap = *d->fcap ? *d->fcap : 128;
    while (cap < need)
        cap *= 2;
    d->r->ft = pq_realloc(q, d->r->ft, cap * sizeof *d->r->ft);
    d->r->fv = pq_realloc(q, d->r->fv, cap * sizeof *d->r->fv);
    d->r->fst = pq_realloc(q, d->r->fst, cap * sizeof *d->r->fst);
    *d->fcap = cap;
}

static void grow_h(struct pq_query *q, struct dec *d, uint32_t need)
{
    if (need <= *d->hcap)
        return;
    uint32_t cap = *d->hcap ? *d->hcap : 32;
    while (cap < need)
        cap *= 2;
    d->r->ht = pq_realloc(q, d->r->ht, cap * sizeof *d->r->ht);
    d->r->hv = pq_realloc(q, d->r->hv, cap * sizeof *d->r->hv);
    d->r->hst = pq_realloc(q, d->r->hst, cap * sizeof *d->r->hst);
    *d->hcap = cap;
}

static void corrupt(struct pq_query *q, int rc)
{
    pq_fail(q, rc, "expanding series: %s", err_str(rc));
}

/* Decodes an XOR chunk's samples within [mint, maxt] and appends them. */
static void dec_xor(struct pq_query *q, struct dec *d, const struct chunk_meta *c, int64_t mint,
                    int64_t maxt, bool keep_stale)
{
    struct gorilla_iter it;
    int rc = gorilla_iter_init(&it, c->data, c->len);
    if (rc)
        corrupt(q, rc);
    struct pq_raw *r = d->r;
    uint32_t base = r->nf;
    for (;;) {
        grow_f(q, d, r->nf + 128);
        rc = gorilla_iter_next_batch(&it, r->ft + r->nf, r->fv + r->nf, 128);
        if (rc < 0)
            corrupt(q, rc);
        if (rc == 0)
            break;
        r->nf += (uint32_t)rc;
        if (r->ft[r->nf - 1] > maxt)
            break;
    }
    uint32_t k = base;
    for (uint32_t i = base; i < r->nf; i++) {
        if (r->ft[i] < mint || r->ft[i] > maxt || (!keep_stale && stale_bits(r->fv[i])))
            continue;
        r->ft[k] = r->ft[i];
        r->fv[k] = r->fv[i];
        r->fst[k] = 0;
        k++;
    }
    r->nf = k;
}

/* Decodes a CHUNK_PACKED chunk's samples within [mint, maxt] and appends them. */
static void dec_packed(struct pq_query *q, struct dec *d, const struct chunk_meta *c, int64_t mint,
                       int64_t maxt, bool keep_stale)
{
    struct floatpack_iter it;
    int rc = floatpack_iter_init(&it, c->data, c->len);
    if (rc)
        corrupt(q, rc);
    struct pq_raw *r = d->r;
    uint32_t k = r->nf;
    if (mint > c->mint_ms && (rc = floatpack_iter_seek(&it, mint)) < 0)
        corrupt(q, rc);
    if (mint > c->mint_ms && rc == 0)
        return;
    if (mint > c->mint_ms) { /* the sample the seek stopped on */
        grow_f(q, d, k + 1);
        floatpack_iter_at(&it, &r->ft[k], &r->fv[k]);
        r->fst[k] = 0;
        if (r->ft[k] > maxt)
            return;
        k += keep_stale || !stale_bits(r->fv[k]);
    }
    for (;;) {
        grow_f(q, d, k + FLOATPACK_FRAME);
        rc = floatpack_iter_next_batch(&it, r->ft + k, r->fv + k, FLOATPACK_FRAME);
        if (rc < 0)
            corrupt(q, rc);
        uint32_t end = k + (uint32_t)(rc > 0 ? rc : 0);
        bool past = false;
        for (uint32_t i = k; i < end; i++) {
            past |= r->ft[i] > maxt;
            if (past || (!keep_stale && stale_bits(r->fv[i])))
                continue;
            r->ft[k] = r->ft[i];
            r->fv[k] = r->fv[i];
            r->fst[k] = 0;
            k++;
        }
        if (rc == 0 || past)
            break;
    }
    r->nf = k;
}

static void dec_hist(struct pq_query *q, struct dec *d, const struct chunk_meta *c, int64_t mint,
                     int64_t maxt, bool keep_stale)
{
    const struct promql_hist_sample *v = (const void *)c->data;
    size_t n = c->len / sizeof *v;
    struct pq_raw *r = d->r;
    grow_h(q, d, r->nh + (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        if (v[i].t < mint || v[i].t > maxt || (!keep_stale && hist_stale(v[i].h)))
            continue;
        r->ht[r->nh] = v[i].t;
        r->hv[r->nh] = (struct promql_hist *)v[i].h;
        r->hst[r->nh] = v[i].st;
        r->nh++;
    }
}

/* A native histogram chunk from storage: decoded into query-arena values, then taken like an
 * in-memory histogram chunk. */
static void dec_histchunk(struct pq_query *q, struct dec *d, const struct chunk_meta *c,
                          int64_t mint, int64_t maxt, bool keep_stale)
{
    struct promql_hist_sample *v;
    size_t n;
    int rc = promql_histchunk_decode(&q->arena, c->data, c->len, mint, maxt, &v, &n);
    struct chunk_meta m = *c;
    m.data = (const uint8_t *)v;
    m.len = n * sizeof *v;
    if (n)
        dec_hist(q, d, &m, mint, maxt, keep_stale);
    if (rc)
        corrupt(q, rc);
}

static void dec_st(struct pq_query *q, struct dec *d, const struct chunk_meta *c)
{
    const struct promql_st_sample *v = (const void *)c->data;
    size_t n = c->len / sizeof *v;
    if (d->nst + n > d->capst) {
        uint32_t cap = d->capst ? d->capst : 64;
        while (cap < d->nst + n)
            cap *= 2;
        d->st = pq_realloc(q, d->st, cap * sizeof *d->st);
        d->capst = cap;
    }
    memcpy(d->st + d->nst, v, n * sizeof *v);
    d->nst += (uint32_t)n;
}

struct ent {
    int64_t t, st;
    double v;
    struct promql_hist *h;
    uint32_t order;
};

static int ent_cmp(const void *a, const void *b)
{
    const struct ent *x = a, *y = b;
    if (x->t != y->t)
        return (x->t > y->t) - (x->t < y->t);
    return (x->order > y->order) - (x->order < y->order);
}

/* Overlapping chunks: sorts everything by time (chunk order breaking ties) and keeps the first
 * sample of each timestamp. */
static void dec_merge(struct pq_query *q, struct pq_raw *r)
{
    uint32_t n = r->nf + r->nh, k = 0;
    struct ent *e = pq_alloc(q, (n + 1) * sizeof *e);
    /* Floats came first per chunk in decode order; their order index is their position. The
     * caller decoded chunk by chunk into both arrays, so positions preserve chunk order within
     * each kind; across kinds equal timestamps are rare and the float wins. */
    for (uint32_t i = 0; i < r->nf; i++)
        e[k++] = (struct ent){r->ft[i], r->fst[i], r->fv[i], NULL, i};
    for (uint32_t i = 0; i < r->nh; i++)
        e[k++] = (struct ent){r->ht[i], r->hst[i], 0, r->hv[i], r->nf + i};
    qsort(e, k, sizeof *e, ent_cmp);
    r->nf = r->nh = 0;
    for (uint32_t i = 0; i < k; i++) {
        if (i > 0 && e[i].t == e[i - 1].t)
            continue;
        if (e[i].h) {
            r->ht[r->nh] = e[i].t;
            r->hv[r->nh] = e[i].h;
            r->hst[r->nh++] = e[i].st;
        } else {
            r->ft[r->nf] = e[i].t;
            r->fv[r->nf] = e[i].v;
            r->fst[r->nf++] = e[i].st;
        }
    }
    pq_free(q, e);
}

static void attach_st(struct dec *d)
{
    struct pq_raw *r = d->r;
    uint32_t j = 0;
    for (uint32_t i = 0; i < r->nf && j < d->nst; i++) {
        while (j < d->nst && d->st[j].t < r->ft[i])
            j++;
        if (j < d->nst && d->st[j].t == r->ft[i])
            r->fst[i] = d->st[j].st;
    }
}

/* Decodes a chunk series' samples within [mint, maxt] into r (arrays reused and grown). */
static void decode_series(struct pq_query *q, const struct chunk_series *cs, int64_t mint,
                          int64_t maxt, bool keep_stale, struct pq_raw *r, uint32_t *fcap,
                          uint32_t *hcap)
{
    struct dec d = {r, fcap, hcap, NULL, 0, 0};
    r->nf = r->nh = 0;
    bool overlap = false;
    int64_t last_f = INT64_MIN, last_h = INT64_MIN;
    for (size_t i = 0; i < cs->n_chunks; i++) {
        const struct chunk_meta *c = &cs->chunks[i];
        if (c->maxt_ms < mint || c->mint_ms > maxt)
            continue;
        uint32_t nf = r->nf, nh = r->nh;
        switch (c->encoding) {
        case CHUNK_XOR: dec_xor(q, &d, c, mint, maxt, keep_stale); break;
        case CHUNK_PACKED: dec_packed(q, &d, c, mint, maxt, keep_stale); break;
        case PROMQL_CHUNK_HIST_MEM: dec_hist(q, &d, c, mint, maxt, keep_stale); break;
        case CHUNK_HISTOGRAM:
        case CHUNK_FLOAT_HISTOGRAM: dec_histchunk(q, &d, c, mint, maxt, keep_stale); break;
        case PROMQL_CHUNK_ST_MEM: dec_st(q, &d, c); break;
        default: pq_fail(q, ERR_UNSUPPORTED, "expanding series: unsupported chunk encoding");
        }
        if (r->nf > nf) {
            overlap |= r->ft[nf] <= last_f || (r->nh && r->ft[nf] <= last_h);
            last_f = r->ft[r->nf - 1];
        }
        if (r->nh > nh) {
            overlap |= r->ht[nh] <= last_h || (r->nf && r->ht[nh] <= last_f);
            last_h = r->ht[r->nh - 1];
        }
    }
    if (d.nst)
        attach_st(&d);
    if (overlap)
        dec_merge(q, r);
    pq_free(q, d.st);
}

/* ---- selection ---- */

static struct chunk_series_set *select_matchers(struct pq_ev *ev, const struct matcher *ms,
                                                size_t nms, int64_t mint, int64_t maxt,
                                                int64_t range, const char *func)
{
    struct pq_query *q = ev->q;
    struct promql_select_hints h = {mint, maxt, q->step, range, func};
    struct chunk_series_set *set = NULL;
    int rc = q->st->select(q->st->ctx, ms, nms, mint, maxt, &h, &set);
    if (rc)
        pq_fail(q, rc, "expanding series: %s", err_str(rc));
    pq_track_set(q, set);
    return set;
}

static struct chunk_series_set *select_series(struct pq_ev *ev, const struct promql_node *vs,
                                              int64_t mint, int64_t maxt, int64_t range,
                                              const char *func)
{
    return select_matchers(ev, vs->vs.matchers, vs->vs.nmatchers, mint, maxt, range, func);
}

static void close_set(struct pq_query *q, struct chunk_series_set *set)
{
    pq_untrack_set(q, set);
    chunk_series_set_close(set);
}

static const struct chunk_series *next_series(struct pq_query *q, struct chunk_series_set *set)
{
    int rc = chunk_series_set_next(set);
    if (rc < 0)
        pq_fail(q, rc, "expanding series: %s", err_str(rc));
    if (rc == 0)
        return NULL;
    if (++q->series_selected > q->o.max_series)
        pq_fail(q, ERR_LIMIT, "query would select more than %lld series",
                (long long)q->o.max_series);
    pq_check_deadline(q);
    return chunk_series_set_at(set);
}

static const struct promql_lset *copy_labels(struct pq_query *q, const struct chunk_series *cs)
{
    struct promql_lset *ls = promql_lset_make(&q->arena, cs->labels, cs->n_labels, true);
    if (!ls)
        pq_nomem(q);
    return ls;
}

/* ---- histogram stats mode ---- */

static void stats_walk(struct pq_query *q, const struct promql_node *n,
                       const struct promql_node **path, size_t depth)
{
    if (n->kind == PROMQL_VECTOR_SELECTOR) {
        bool stats = false;
        for (size_t i = depth; i-- > 0;) {
            const struct promql_node *p = path[i];
            if (p->kind == PROMQL_SUBQUERY)
                break;
            if (p->kind == PROMQL_BINARY &&
                (p->bin.op == PROMQL_OP_TRIM_UPPER || p->bin.op == PROMQL_OP_TRIM_LOWER)) {
                stats = false;
                break;
            }
            if (p->kind != PROMQL_CALL)
                continue;
            enum promql_func_id id = p->call.func->id;
            if (id == PROMQL_FN_HISTOGRAM_COUNT || id == PROMQL_FN_HISTOGRAM_SUM ||
                id == PROMQL_FN_HISTOGRAM_AVG) {
                stats = true;
            } else if (id == PROMQL_FN_HISTOGRAM_QUANTILE || id == PROMQL_FN_HISTOGRAM_QUANTILES ||
                       id == PROMQL_FN_HISTOGRAM_FRACTION) {
                stats = false;
                break;
            }
        }
        if (stats) {
            q->stats_sel = pq_realloc(q, q->stats_sel, (q->nstats + 1) * sizeof *q->stats_sel);
            q->stats_sel[q->nstats++] = n;
        }
        return;
    }
    if (depth >= PROMQL_DEPTH_MAX + 2)
        return;
    path[depth] = n;
    switch (n->kind) {
    case PROMQL_MATRIX_SELECTOR: stats_walk(q, n->ms.vs, path, depth + 1); break;
    case PROMQL_SUBQUERY: stats_walk(q, n->sq.expr, path, depth + 1); break;
    case PROMQL_CALL:
        for (uint32_t i = 0; i < n->call.nargs; i++)
            stats_walk(q, n->call.args[i], path, depth + 1);
        break;
    case PROMQL_AGGREGATE:
        stats_walk(q, n->agg.expr, path, depth + 1);
        if (n->agg.param)
            stats_walk(q, n->agg.param, path, depth + 1);
        break;
    case PROMQL_BINARY:
        stats_walk(q, n->bin.lhs, path, depth + 1);
        stats_walk(q, n->bin.rhs, path, depth + 1);
        break;
    case PROMQL_UNARY: stats_walk(q, n->unary.expr, path, depth + 1); break;
    case PROMQL_PAREN: stats_walk(q, n->paren, path, depth + 1); break;
    default: break;
    }
}

void pq_find_stats_selectors(struct pq_query *q, const struct promql_node *root)
{
    const struct promql_node **path = pq_alloc(q, (PROMQL_DEPTH_MAX + 4) * sizeof *path);
    stats_walk(q, root, path, 0);
    pq_free(q, path);
}

bool pq_is_stats_sel(const struct pq_query *q, const struct promql_node *vs)
{
    for (size_t i = 0; i < q->nstats; i++)
        if (q->stats_sel[i] == vs)
            return true;
    return false;
}

struct promql_hist *pq_stats_hist(struct pq_query *q, struct promql_hist *const *hv,
                                  const int64_t *ht, uint32_t j, int64_t seek_from)
{
    const struct promql_hist *h = hv[j];
    struct promql_hist *c = pq_arena(q, sizeof *c);
    memset(c, 0, sizeof *c);
    c->schema = h->schema;
    c->count = h->count;
    c->sum = h->sum;
    c->hint = h->hint;
    if (h->hint == PROMQL_HINT_UNKNOWN && j > 0 && ht[j - 1] >= seek_from &&
        !hist_stale(hv[j - 1]) && !hist_stale(h))
        c->hint =
            promql_hist_detect_reset(h, hv[j - 1]) ? PROMQL_HINT_RESET : PROMQL_HINT_NOT_RESET;
    return c;
}

/* ---- instant vector selector ---- */

struct look {
    uint32_t fi, hi; /* samples with t <= ref */
};

/* Finds the visible sample at ref: 1 float (*f), 2 histogram (*h), 0 none. */
static int lookup(const struct pq_raw *r, struct look *l, int64_t ref, int64_t lookback, double *f,
                  struct promql_hist **h, int64_t *t)
{
    *t = INT64_MIN; /* written on every path; meaningful only when a point is found */
    while (l->fi < r->nf && r->ft[l->fi] <= ref)
        l->fi++;
    while (l->hi < r->nh && r->ht[l->hi] <= ref)
        l->hi++;
    int64_t tf = l->fi ? r->ft[l->fi - 1] : INT64_MIN;
    int64_t th = l->hi ? r->ht[l->hi - 1] : INT64_MIN;
    if (tf == INT64_MIN && th == INT64_MIN)
        return 0;
    if (tf >= th) {
        if (tf <= ref - lookback || stale_bits(r->fv[l->fi - 1]))
            return 0;
        *f = r->fv[l->fi - 1];
        *t = tf;
        return 1;
    }
    if (th <= ref - lookback || hist_stale(r->hv[l->hi - 1]))
        return 0;
    *h = r->hv[l->hi - 1];
    *t = th;
    return 2;
}

static void smooth_series(struct pq_ev *ev, const struct promql_node *n, const struct pq_raw *r,
                          struct pq_vec *out, int64_t offset, bool has_at, int64_t at);

/* The value a lookup found, as the mode wants it. */
static void emit_point(struct pq_ev *ev, const struct pq_sel *s, const struct pq_raw *r,
                       const struct look *l, int k, int64_t t, double f, struct promql_hist *h,
                       struct pq_vec *out, uint32_t si, uint32_t i)
{
    switch (s->mode) {
    case PQ_SEL_TIMESTAMPS: pq_vec_setf(ev, out, si, i, (double)t / 1000); return;
    case PQ_SEL_ORIG_T:
        if (k == 2) {
            struct buf b = BUF_INIT;
            promql_lset_format(&b, r->ls);
            char msg[480];
            snprintf(msg, sizeof msg, "%.*s", (int)b.len, b.data ? (const char *)b.data : "");
            buf_deinit(&b);
            pq_fail(ev->q, ERR_INVALID, "this should be an info metric, with float samples: %s",
                    msg);
        }
        pq_vec_setf(ev, out, si, i, (double)t);
        return;
    case PQ_SEL_START_TIMESTAMPS: {
        int64_t st = k == 1 ? (r->fst ? r->fst[l->fi - 1] : 0) : (r->hst ? r->hst[l->hi - 1] : 0);
        pq_vec_setf(ev, out, si, i, (double)st / 1000);
        return;
    }
    default:
        if (k == 1)
            pq_vec_setf(ev, out, si, i, f);
        else
            pq_vec_seth(ev, out, si, i, h);
    }
}

void pq_select_instant(struct pq_ev *ev, const struct pq_sel *s, struct pq_vec *out,
                       struct pq_sink *sink)
{
    struct pq_query *q = ev->q;
    int64_t lb = q->o.lookback_ms;
    int64_t first = (s->has_at ? s->at : ev->start) - s->offset;
    int64_t last = (s->has_at ? s->at : ev->end) - s->offset;
    int64_t mint = first - lb + 1, maxt = last + (s->smoothed ? lb : 0);
    pq_vec_init(ev, out);
    if (sink)
        out->instant = true; /* series are handed over one by one: no label map */
    struct chunk_series_set *set = select_matchers(ev, s->ms, s->nms, mint, maxt, 0, s->func);
    struct pq_raw r = {0};
    uint32_t fcap = 0, hcap = 0;
    const struct chunk_series *cs;
    while ((cs = next_series(q, set))) {
        decode_series(q, cs, mint, maxt, !s->smoothed, &r, &fcap, &hcap);
        if (r.nf + r.nh == 0)
            continue;
        r.ls = copy_labels(q, cs);
        if (s->smoothed) {
            uint32_t before = out->n;
            smooth_series(ev, s->node, &r, out, s->offset, s->has_at, s->at);
            if (sink && out->n > before)
                pq_vec_sink_last(q, out, sink);
            continue;
        }
        uint32_t si = UINT32_MAX;
        struct look l = {0, 0};
        int64_t seek_from = INT64_MIN, last_time = INT64_MIN;
        for (uint32_t i = 0; i < ev->nsteps; i++) {
            double f = 0;
            struct promql_hist *h = NULL;
            int64_t t, ref = (s->has_at ? s->at : pq_ts(ev, i)) - s->offset;
            int k = lookup(&r, &l, ref, lb, &f, &h, &t);
            if (s->stats) {
                /* Where Prometheus's memoized iterator re-seeks (forgetting the previous
                 * histogram) and where it stands afterwards. */
                if (ref - lb > last_time)
                    seek_from = ref - lb;
                last_time = l.hi < r.nh ? r.ht[l.hi] : INT64_MAX;
                if (l.fi < r.nf && r.ft[l.fi] < last_time)
                    last_time = r.ft[l.fi];
                if ((l.hi && r.ht[l.hi - 1] == ref) || (l.fi && r.ft[l.fi - 1] == ref))
                    last_time = ref;
                if (k == 2)
                    h = pq_stats_hist(q, r.hv, r.ht, l.hi - 1, seek_from);
            }
            if (!k)
                continue;
            if (si == UINT32_MAX)
                si = pq_vec_add(ev, out, r.ls, false);
            emit_point(ev, s, &r, &l, k, t, f, h, out, si, i);
        }
        if (sink && si != UINT32_MAX)
            pq_vec_sink_last(q, out, sink);
    }
    close_set(q, set);
    pq_free(q, r.ft);
    pq_free(q, r.fv);
    pq_free(q, r.fst);
    pq_free(q, r.ht);
    pq_free(q, r.hv);
    pq_free(q, r.hst);
}

void pq_eval_vector_selector(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out,
                             enum pq_sel_mode mode, struct pq_sink *sink)
{
    struct pq_query *q = ev->q;
    struct pq_sel s = {n->vs.matchers,
                       n->vs.nmatchers,
                       pq_vs_offset(q, n),
                       false,
                       0,
                       n->vs.smoothed,
                       pq_is_stats_sel(q, n),
                       mode,
                       n,
                       NULL};
    s.has_at = pq_vs_at(q, n, &s.at);
    pq_select_instant(ev, &s, out, sink);
}

/* ---- smoothed instant selector ---- */

static double interp(int64_t t1, double v1, int64_t t2, double v2, int64_t t)
{
    return v1 + (v2 - v1) * (double)(t - t1) / (double)(t2 - t1);
}

/* First index in ts[0..n) with ts >= t. */
static uint32_t search_ge(const int64_t *ts, uint32_t n, int64_t t)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ts[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint32_t search_gt(const int64_t *ts, uint32_t n, int64_t t)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ts[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void smooth_step(struct pq_ev *ev, const struct promql_node *n, const struct pq_raw *r,
                        struct pq_vec *out, uint32_t *si, uint32_t step, int64_t data_ts)
{
    struct pq_query *q = ev->q;
    int64_t lb = q->o.lookback_ms;
    uint32_t f0 = search_gt(r->ft, r->nf, data_ts - lb), f1 = search_gt(r->ft, r->nf, data_ts + lb);
    uint32_t h0 = search_gt(r->ht, r->nh, data_ts - lb), h1 = search_gt(r->ht, r->nh, data_ts + lb);
    if (f0 == f1 && h0 == h1)
        return;
    if (f0 != f1 && h0 != h1) {
        pq_warn(q, n->pos_start, "encountered a mix of histograms and floats for metric name %s",
                pq_q(q, pq_metric_name(r->ls)));
        return;
    }
    if (*si == UINT32_MAX)
        *si = pq_vec_add(ev, out, r->ls, false);
    if (h0 != h1) {
        uint32_t i = h0 + search_ge(r->ht + h0, h1 - h0, data_ts);
        struct promql_hist *res = NULL;
        if (i < h1 && r->ht[i] == data_ts) {
            res = r->hv[i];
        } else if (i > h0 && i < h1) {
            const struct promql_hist *a = r->hv[i - 1], *b = r->hv[i];
            if (promql_hist_is_custom(a) != promql_hist_is_custom(b)) {
                pq_warn(q, n->pos_start,
                        "vector contains a mix of histograms with exponential and custom buckets "
                        "schemas for metric name %s",
                        pq_q(q, pq_metric_name(r->ls)));
                return;
            }
            bool counter = a->hint != PROMQL_HINT_GAUGE || b->hint != PROMQL_HINT_GAUGE, ok;
            res = pq_interp_hist(q, a, r->ht[i - 1], b, r->ht[i], data_ts, counter, n->pos_start,
                                 &ok);
            if (!ok) {
                pq_warn(q, n->pos_start,
                        "vector contains a mix of histograms with exponential and custom buckets "
                        "schemas for metric name %s",
                        pq_q(q, pq_metric_name(r->ls)));
                return;
            }
        } else if (i > h0) {
            res = promql_hist_copy(&q->arena, r->hv[i - 1]);
            if (!res)
                pq_nomem(q);
            res->hint = PROMQL_HINT_UNKNOWN;
        } else {
            return;
        }
        pq_vec_seth(ev, out, *si, step, res);
        return;
    }
    uint32_t i = f0 + search_ge(r->ft + f0, f1 - f0, data_ts);
    if (i < f1 && r->ft[i] == data_ts)
        pq_vec_setf(ev, out, *si, step, r->fv[i]);
    else if (i > f0 && i < f1)
        pq_vec_setf(ev, out, *si, step,
                    interp(r->ft[i - 1], r->fv[i - 1], r->ft[i], r->fv[i], data_ts));
    else if (i > f0)
        pq_vec_setf(ev, out, *si, step, r->fv[i - 1]);
}

static void smooth_series(struct pq_ev *ev, const struct promql_node *n, const struct pq_raw *r,
                          struct pq_vec *out, int64_t offset, bool has_at, int64_t at)
{
    uint32_t si = UINT32_MAX;
    for (uint32_t i = 0; i < ev->nsteps; i++)
        smooth_step(ev, n, r, out, &si, i, (has_at ? at : pq_ts(ev, i)) - offset);
}

/* ---- range vectors ---- */

static void raw_copy_into(struct pq_query *q, struct pq_raw *dst, const struct pq_raw *src,
                          uint32_t f0, uint32_t f1, uint32_t h0, uint32_t h1)
{
    dst->ls = src->ls;
    dst->drop_name = src->drop_name;
    dst->nf = f1 - f0;
    dst->nh = h1 - h0;
    dst->ft = pq_alloc(q, (dst->nf + 1) * sizeof *dst->ft);
    dst->fv = pq_alloc(q, (dst->nf + 1) * sizeof *dst->fv);
    dst->fst = pq_alloc(q, (dst->nf + 1) * sizeof *dst->fst);
    dst->ht = pq_alloc(q, (dst->nh + 1) * sizeof *dst->ht);
    dst->hv = pq_alloc(q, (dst->nh + 1) * sizeof *dst->hv);
    dst->hst = pq_alloc(q, (dst->nh + 1) * sizeof *dst->hst);
    if (dst->nf) {
        memcpy(dst->ft, src->ft + f0, dst->nf * sizeof *dst->ft);
        memcpy(dst->fv, src->fv + f0, dst->nf * sizeof *dst->fv);
        if (src->fst)
            memcpy(dst->fst, src->fst + f0, dst->nf * sizeof *dst->fst);
    }
    if (dst->nh) {
        memcpy(dst->ht, src->ht + h0, dst->nh * sizeof *dst->ht);
        memcpy(dst->hv, src->hv + h0, dst->nh * sizeof *dst->hv);
        if (src->hst)
            memcpy(dst->hst, src->hst + h0, dst->nh * sizeof *dst->hst);
    }
    pq_samples_add(q, dst->nf + dst->nh);
}

static void range_push(struct pq_query *q, struct pq_range *out, uint32_t *cap)
{
    if (out->n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        out->s = pq_realloc(q, out->s, *cap * sizeof *out->s);
    }
}

void pq_eval_matrix_selector(struct pq_ev *ev, const struct promql_node *n, struct pq_range *out)
{
    struct pq_query *q = ev->q;
    const struct promql_node *vs = n->ms.vs;
    int64_t offset = pq_vs_offset(q, vs), at = 0, range = pq_ms_range(q, n);
    int64_t lb = q->o.lookback_ms;
    bool has_at = pq_vs_at(q, vs, &at);
    int64_t maxt = (has_at ? at : ev->start) - offset, mint = maxt - range;
    int64_t smint = mint + 1, smaxt = maxt;
    if (vs->vs.anchored || vs->vs.smoothed)
        smint -= lb;
    if (vs->vs.smoothed)
        smaxt += lb;
    memset(out, 0, sizeof *out);
    uint32_t cap = 0;
    struct chunk_series_set *set = select_series(ev, vs, smint, smaxt, range, NULL);
    struct pq_raw r = {0};
    uint32_t fcap = 0, hcap = 0;
    const struct chunk_series *cs;
    while ((cs = next_series(q, set))) {
        decode_series(q, cs, smint, smaxt, false, &r, &fcap, &hcap);
        if (r.nf + r.nh == 0)
            continue;
        r.ls = copy_labels(q, cs);
        range_push(q, out, &cap);
        struct pq_raw *d = &out->s[out->n];
        if (vs->vs.anchored || vs->vs.smoothed) {
            if (r.nh)
                pq_fail(q, ERR_INVALID, "%s modifier is not supported with histograms",
                        vs->vs.anchored ? "anchored" : "smoothed");
            raw_copy_into(q, d, &r, 0, 0, 0, 0);
            d->nf = pq_extend_floats(q, &r, mint, maxt, vs->vs.smoothed, &d->ft, &d->fv);
            d->fst = pq_realloc(q, d->fst, (d->nf + 1) * sizeof *d->fst);
            pq_samples_add(q, d->nf);
        } else {
            raw_copy_into(q, d, &r, 0, r.nf, 0, r.nh);
        }
        if (d->nf + d->nh)
            out->n++;
    }
    close_set(q, set);
    pq_free(q, r.ft);
    pq_free(q, r.fv);
    pq_free(q, r.fst);
    pq_free(q, r.ht);
    pq_free(q, r.hv);
    pq_free(q, r.hst);
}

/* ---- subqueries ---- */

static int64_t div_trunc(int64_t a, int64_t b)
{
    return a / b; /* C truncates toward zero, like Go */
}

/* A scalar subquery result as one raw series without labels. */
static void subquery_scalar(struct pq_query *q, const struct pq_ev *sub, const double *sc,
                            struct pq_range *out)
{
    out->s = pq_alloc(q, sizeof *out->s);
    struct pq_raw *d = &out->s[0];
    d->ls = pq_empty_lset(q);
    d->ft = pq_alloc(q, sub->nsteps * sizeof *d->ft);
    d->fv = pq_alloc(q, sub->nsteps * sizeof *d->fv);
    d->fst = pq_alloc(q, sub->nsteps * sizeof *d->fst);
    d->ht = pq_alloc(q, sizeof *d->ht);
    d->hv = pq_alloc(q, sizeof *d->hv);
    d->hst = pq_alloc(q, sizeof *d->hst);
    for (uint32_t i = 0; i < sub->nsteps; i++) {
        d->ft[i] = pq_ts(sub, i);
        d->fv[i] = sc[i];
    }
    d->nf = sub->nsteps;
    pq_samples_add(q, d->nf);
    out->n = 1;
}

/* One step-dense series of a subquery as raw samples in d. With reset_hints, histograms lose
 * their reset/not-reset hints (re-detected by the range function, as Prometheus does). */
static void subquery_series(struct pq_query *q, const struct pq_ev *sub, const struct pq_series *s,
                            bool reset_hints, struct pq_raw *d)
{
    memset(d, 0, sizeof *d);
    d->ls = s->ls;
    d->drop_name = s->drop_name;
    d->ft = pq_alloc(q, (s->npts + 1) * sizeof *d->ft);
    d->fv = pq_alloc(q, (s->npts + 1) * sizeof *d->fv);
    d->fst = pq_alloc(q, (s->npts + 1) * sizeof *d->fst);
    d->ht = pq_alloc(q, (s->npts + 1) * sizeof *d->ht);
    d->hv = pq_alloc(q, (s->npts + 1) * sizeof *d->hv);
    d->hst = pq_alloc(q, (s->npts + 1) * sizeof *d->hst);
    for (uint32_t i = 0; i < sub->nsteps; i++) {
        if (!pq_has(s, i))
            continue;
        struct promql_hist *h = pq_hist_at(s, i);
        if (!h) {
            d->ft[d->nf] = pq_ts(sub, i);
            d->fv[d->nf++] = s->f[i];
            continue;
        }
        if (reset_hints && (h->hint == PROMQL_HINT_RESET || h->hint == PROMQL_HINT_NOT_RESET)) {
            struct promql_hist *c = pq_arena(q, sizeof *c);
            *c = *h;
            c->hint = PROMQL_HINT_UNKNOWN;
            h = c;
        }
        d->ht[d->nh] = pq_ts(sub, i);
        d->hv[d->nh++] = h;
    }
    pq_samples_add(q, d->nf + d->nh);
}

void pq_eval_subquery(struct pq_ev *ev, const struct promql_node *n, struct pq_range *out,
                      bool reset_hints)
{
    struct pq_query *q = ev->q;
    int64_t range, step, offset, at;
    bool has_at;
    pq_sq_params(q, n, &range, &step, &offset, &has_at, &at);
    int64_t parent_end = ev->start + ((ev->end - ev->start) / ev->interval) * ev->interval;
    int64_t ref_start = (has_at ? at : ev->start) - offset;
    int64_t ref_end = (has_at ? at : parent_end) - offset;
    int64_t x = ref_start - range;
    int64_t start = step * div_trunc(x, step);
    if (start <= x)
        start += step;
    memset(out, 0, sizeof *out);
    if (ref_end < start)
        return;
    struct pq_ev sub = {q, start, ref_end, step, 0};
    sub.nsteps = (uint32_t)((ref_end - start) / step + 1);
    struct pq_val v;
    pq_eval(&sub, n->sq.expr, &v);
    if (v.kind == PQ_SCALAR) {
        subquery_scalar(q, &sub, v.sc, out);
        pq_val_free(q, &v);
        return;
    }
    if (v.kind != PQ_VECTOR)
        pq_fail(q, ERR_INVALID, "subquery is only allowed on instant vector");
    uint32_t cap = 0;
    for (uint32_t si = 0; si < v.v.n; si++) {
        if (v.v.s[si].npts == 0)
            continue;
        range_push(q, out, &cap);
        subquery_series(q, &sub, &v.v.s[si], reset_hints, &out->s[out->n++]);
    }
    pq_val_free(q, &v);
}

/* ---- range-vector argument sources ---- */

void pq_rsrc_open(struct pq_ev *ev, const struct promql_node *arg, int64_t mint, int64_t maxt,
                  const char *func, struct pq_rsrc *src)
{
    memset(src, 0, sizeof *src);
    src->ev = ev;
    src->mint = mint;
    src->maxt = maxt;
    arg = pq_unparen(arg);
    if (arg->kind == PROMQL_MATRIX_SELECTOR) {
        src->vs = arg->ms.vs;
        src->set = select_series(ev, src->vs, mint, maxt, pq_ms_range(ev->q, arg), func);
        return;
    }
    pq_eval_subquery(ev, arg, &src->sub, true);
}

int pq_rsrc_next(struct pq_rsrc *src, const struct pq_raw **out)
{
    struct pq_query *q = src->ev->q;
    if (!src->set) {
        if (src->subpos >= src->sub.n)
            return 0;
        *out = &src->sub.s[src->subpos++];
        return 1;
    }
    const struct chunk_series *cs;
    while ((cs = next_series(q, src->set))) {
        decode_series(q, cs, src->mint, src->maxt, false, &src->cur, &src->fcap, &src->hcap);
        if (src->cur.nf + src->cur.nh == 0)
            continue;
        src->cur.ls = copy_labels(q, cs);
        src->cur.drop_name = false;
        *out = &src->cur;
        return 1;
    }
    return 0;
}

void pq_rsrc_close(struct pq_rsrc *src)
{
    struct pq_query *q = src->ev->q;
    if (src->set)
        close_set(q, src->set);
    src->set = NULL;
    pq_free(q, src->cur.ft);
    pq_free(q, src->cur.fv);
    pq_free(q, src->cur.fst);
    pq_free(q, src->cur.ht);
    pq_free(q, src->cur.hv);
    pq_free(q, src->cur.hst);
    pq_range_free(q, &src->sub);
}
