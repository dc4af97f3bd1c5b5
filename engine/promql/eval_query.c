/* Evaluator plumbing: failure unwinding, tracked allocations, sample accounting, annotations,
 * label-set derivation and the step-dense vector container. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/hash.h"
#include "engine/promql/eval_internal.h"
#include "engine/promql/print.h"
#include "engine/promql/quote.h"

const struct str PQ_NAME = {"__name__", 8};

/* ---- failures ---- */

_Noreturn void pq_fail(struct pq_query *q, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->err, sizeof q->err, fmt, ap);
    va_end(ap);
    q->rc = rc;
    longjmp(q->jmp, 1);
}

_Noreturn void pq_nomem(struct pq_query *q)
{
    pq_fail(q, ERR_NOMEM, "out of memory");
}

void pq_check_deadline(struct pq_query *q)
{
    if (q->o.cancel_check) {
        int rc = q->o.cancel_check(q->o.cancel_arg);
        if (rc == -ETIMEDOUT)
            pq_fail(q, rc, "query timed out in expression evaluation");
        if (rc)
            pq_fail(q, rc < 0 ? rc : -ECANCELED, "query was canceled in expression evaluation");
    }
    if (q->deadline_ns == 0)
        return;
    if (clock_mono_coarse_ns() > q->deadline_ns)
        pq_fail(q, -ETIMEDOUT, "query timed out in expression evaluation");
}

/* ---- memory ---- */

void *pq_alloc(struct pq_query *q, size_t n)
{
    struct pq_alloc_hdr *h = calloc(1, sizeof *h + n);
    if (!h)
        pq_nomem(q);
    h->size = n;
    h->next = q->allocs.next;
    h->prev = &q->allocs;
    q->allocs.next->prev = h;
    q->allocs.next = h;
    return h + 1;
}

void pq_free(struct pq_query *q, void *p)
{
    (void)q;
    if (!p)
        return;
    struct pq_alloc_hdr *h = (struct pq_alloc_hdr *)p - 1;
    h->prev->next = h->next;
    h->next->prev = h->prev;
    free(h);
}

void *pq_realloc(struct pq_query *q, void *p, size_t n)
{
    if (!p)
        return pq_alloc(q, n);
    struct pq_alloc_hdr *h = (struct pq_alloc_hdr *)p - 1;
    if (n <= h->size)
        return p;
    void *np = pq_alloc(q, n);
    memcpy(np, p, h->size);
    pq_free(q, p);
    return np;
}

void *pq_arena(struct pq_query *q, size_t n)
{
    void *p = arena_alloc(&q->arena, n ? n : 1);
    if (!p)
        pq_nomem(q);
    return p;
}

struct str pq_strdup(struct pq_query *q, const char *p, size_t n)
{
    char *d = pq_arena(q, n + 1);
    if (n)
        memcpy(d, p, n);
    d[n] = 0;
    return (struct str){d, n};
}

void pq_track_set(struct pq_query *q, struct chunk_series_set *s)
{
    if (q->nsets == q->capsets) {
        size_t cap = q->capsets ? q->capsets * 2 : 8;
        struct chunk_series_set **v = realloc(q->sets, cap * sizeof *v);
        if (!v) {
            chunk_series_set_close(s);
            pq_nomem(q);
        }
        q->sets = v;
        q->capsets = cap;
    }
    q->sets[q->nsets++] = s;
}

void pq_defer(struct pq_query *q, void (*fn)(void *), void *arg)
{
    if (q->ndefers == q->capdefers) {
        size_t cap = q->capdefers ? q->capdefers * 2 : 4;
        struct pq_defer_ent *v = realloc(q->defers, cap * sizeof *v);
        if (!v) {
            fn(arg);
            pq_nomem(q);
        }
        q->defers = v;
        q->capdefers = cap;
    }
    q->defers[q->ndefers++] = (struct pq_defer_ent){fn, arg};
}

void pq_undefer(struct pq_query *q, void *arg)
{
    for (size_t i = q->ndefers; i-- > 0;)
        if (q->defers[i].arg == arg) {
            struct pq_defer_ent e = q->defers[i];
            q->defers[i] = q->defers[--q->ndefers];
            e.fn(e.arg);
            return;
        }
}

void pq_untrack_set(struct pq_query *q, struct chunk_series_set *s)
{
    for (size_t i = q->nsets; i-- > 0;)
        if (q->sets[i] == s) {
            q->sets[i] = q->sets[--q->nsets];
            return;
        }
}

/* ---- samples ---- */

void pq_samples_add(struct pq_query *q, int64_t n)
{
    q->samples += n;
    if (q->samples > q->samples_peak)
        q->samples_peak = q->samples;
    if (q->samples > q->o.max_samples)
        pq_fail(q, ERR_LIMIT,
                "query processing would load too many samples into memory in query execution");
}

int64_t pq_hist_samples(const struct promql_hist *h)
{
    /* Prometheus counts (Size()+8)/16 per histogram: ~168 bytes plus 8 per bucket. */
    return (176 + 8 * ((int64_t)h->p_len + h->n_len + h->ncustom)) / 16;
}

/* ---- annotations ---- */

static struct pq_anno *anno_find(struct pq_query *q, const char *text)
{
    for (size_t i = 0; i < q->nannos; i++)
        if (strcmp(q->annos[i].text, text) == 0)
            return &q->annos[i];
    return NULL;
}

static struct pq_anno *anno_add(struct pq_query *q, bool warning, uint32_t pos, const char *text,
                                enum pq_anno_kind kind, bool *existed)
{
    struct pq_anno *a = anno_find(q, text);
    *existed = a != NULL;
    if (a) {
        a->pos = pos;
        return a;
    }
    if (q->nannos == q->capannos) {
        size_t cap = q->capannos ? q->capannos * 2 : 8;
        struct pq_anno *v = pq_realloc(q, q->annos, cap * sizeof *v);
        q->annos = v;
        q->capannos = cap;
    }
    a = &q->annos[q->nannos++];
    memset(a, 0, sizeof *a);
    a->warning = warning;
    a->kind = kind;
    a->pos = pos;
    size_t n = strlen(text);
    a->text = pq_arena(q, n + 1);
    memcpy(a->text, text, n + 1);
    return a;
}

static void anno_vadd(struct pq_query *q, bool warning, uint32_t pos, const char *fmt, va_list ap)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s: ", warning ? "PromQL warning" : "PromQL info");
    vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    bool existed;
    anno_add(q, warning, pos, buf, PQ_ANNO_PLAIN, &existed);
}

void pq_warn(struct pq_query *q, uint32_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    anno_vadd(q, true, pos, fmt, ap);
    va_end(ap);
}

void pq_info(struct pq_query *q, uint32_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    anno_vadd(q, false, pos, fmt, ap);
    va_end(ap);
}

void pq_anno_monotonicity(struct pq_query *q, uint32_t pos, const char *metric, int64_t ts,
                          double min_bucket, double max_bucket, double max_diff)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf,
                     "PromQL info: input to histogram_quantile needed to be fixed for monotonicity "
                     "(see https://prometheus.io/docs/prometheus/latest/querying/functions/"
                     "#histogram_quantile)");
    if (metric && *metric)
        snprintf(buf + n, sizeof buf - (size_t)n, " for metric name %s", metric);
    bool existed;
    struct pq_anno *a = anno_add(q, false, pos, buf, PQ_ANNO_MONOTONICITY, &existed);
    if (!existed) {
        a->min_ts = a->max_ts = ts;
        a->min_bucket = min_bucket;
        a->max_bucket = max_bucket;
        a->max_diff = max_diff;
        return;
    }
    a->min_ts = ts < a->min_ts ? ts : a->min_ts;
    a->max_ts = ts > a->max_ts ? ts : a->max_ts;
    a->min_bucket = min_bucket < a->min_bucket ? min_bucket : a->min_bucket;
    a->max_bucket = max_bucket > a->max_bucket ? max_bucket : a->max_bucket;
    a->max_diff = max_diff > a->max_diff ? max_diff : a->max_diff;
    a->count++;
}

void pq_anno_st_overlap(struct pq_query *q, uint32_t pos, struct str metric)
{
    char buf[1024];
    snprintf(buf, sizeof buf,
             "PromQL warning: sample has start time that overlaps with previous sample timestamp "
             "for metric %s",
             pq_q(q, metric));
    bool existed;
    struct pq_anno *a = anno_add(q, true, pos, buf, PQ_ANNO_ST_OVERLAP, &existed);
    a->count = existed ? a->count + 1 : 1;
}

const char *pq_q(struct pq_query *q, struct str s)
{
    struct buf b = BUF_INIT;
    if (promql_quote(&b, s.ptr, s.len) || buf_cstr(&b)) {
        buf_deinit(&b);
        pq_nomem(q);
    }
    struct str d = pq_strdup(q, (const char *)b.data, b.len);
    buf_deinit(&b);
    return d.ptr;
}

const char *pq_g(struct pq_query *q, double v)
{
    struct buf b = BUF_INIT;
    if (promql_format_float_v(&b, v)) {
        buf_deinit(&b);
        pq_nomem(q);
    }
    struct str d = pq_strdup(q, (const char *)b.data, b.len);
    buf_deinit(&b);
    return d.ptr;
}

/* ---- labels ---- */

static void lb_grow(struct pq_query *q, struct pq_lb *b, uint32_t need)
{
    if (need <= b->cap)
        return;
    uint32_t cap = b->cap ? b->cap * 2 : 16;
    while (cap < need)
        cap *= 2;
    b->v = pq_realloc(q, b->v, cap * sizeof *b->v);
    b->cap = cap;
}

void pq_lb_reset(struct pq_query *q, struct pq_lb *b, const struct promql_lset *from)
{
    b->n = 0;
    if (!from)
        return;
    lb_grow(q, b, from->n);
    if (from->n)
        memcpy(b->v, from->l, from->n * sizeof *b->v);
    b->n = from->n;
}

void pq_lb_del(struct pq_lb *b, struct str name)
{
    for (uint32_t i = 0; i < b->n; i++)
        if (str_eq(b->v[i].name, name)) {
            memmove(&b->v[i], &b->v[i + 1], (b->n - i - 1) * sizeof *b->v);
            b->n--;
            return;
        }
}

void pq_lb_set(struct pq_query *q, struct pq_lb *b, struct str name, struct str value)
{
    for (uint32_t i = 0; i < b->n; i++)
        if (str_eq(b->v[i].name, name)) {
            if (value.len == 0) {
                pq_lb_del(b, name);
                return;
            }
            b->v[i].value = value;
            return;
        }
    if (value.len == 0)
        return;
    lb_grow(q, b, b->n + 1);
    b->v[b->n++] = (struct label){name, value};
}

void pq_lb_keep(struct pq_lb *b, const struct str *names, uint32_t n)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        bool keep = false;
        for (uint32_t j = 0; j < n && !keep; j++)
            keep = str_eq(b->v[i].name, names[j]);
        if (keep)
            b->v[k++] = b->v[i];
    }
    b->n = k;
}

static bool is_meta(struct str name)
{
    return str_eq(name, PQ_NAME) || str_eq_cstr(name, "__type__") || str_eq_cstr(name, "__unit__");
}

void pq_lb_drop_meta(struct pq_lb *b)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < b->n; i++)
        if (!is_meta(b->v[i].name))
            b->v[k++] = b->v[i];
    b->n = k;
}

const struct promql_lset *pq_lb_make(struct pq_query *q, struct pq_lb *b)
{
    struct promql_lset *s = promql_lset_make(&q->arena, b->v, b->n, false);
    if (!s)
        pq_nomem(q);
    return s;
}

void pq_lb_free(struct pq_query *q, struct pq_lb *b)
{
    pq_free(q, b->v);
    b->v = NULL;
    b->n = b->cap = 0;
}

const struct promql_lset *pq_drop_meta(struct pq_query *q, const struct promql_lset *ls)
{
    bool any = false;
    for (uint32_t i = 0; i < ls->n && !any; i++)
        any = is_meta(ls->l[i].name);
    if (!any)
        return ls;
    struct label tmp[64], *v = ls->n <= 64 ? tmp : pq_alloc(q, ls->n * sizeof *v);
    uint32_t k = 0;
    for (uint32_t i = 0; i < ls->n; i++)
        if (!is_meta(ls->l[i].name))
            v[k++] = ls->l[i];
    struct promql_lset *s = promql_lset_make(&q->arena, v, k, false);
    if (v != tmp)
        pq_free(q, v);
    if (!s)
        pq_nomem(q);
    return s;
}

const struct promql_lset *pq_empty_lset(struct pq_query *q)
{
    struct promql_lset *s = promql_lset_make(&q->arena, NULL, 0, false);
    if (!s)
        pq_nomem(q);
    return s;
}

/* ---- vectors ---- */

void pq_vec_init(const struct pq_ev *ev, struct pq_vec *v)
{
    memset(v, 0, sizeof *v);
    v->instant = ev->start == ev->end;
}

static void map_insert(struct pq_vec *v, uint32_t si)
{
    uint32_t mask = v->map_cap - 1;
    for (uint32_t i = (uint32_t)v->s[si].ls->hash & mask;; i = (i + 1) & mask)
        if (v->map[i] == 0) {
            v->map[i] = si + 1;
            return;
        }
}

static void map_grow(struct pq_query *q, struct pq_vec *v)
{
    pq_free(q, v->map);
    v->map_cap = v->map_cap ? v->map_cap * 2 : 64;
    v->map = pq_alloc(q, v->map_cap * sizeof *v->map);
    for (uint32_t i = 0; i < v->n; i++)
        map_insert(v, i);
}

uint32_t pq_vec_add(const struct pq_ev *ev, struct pq_vec *v, const struct promql_lset *ls,
                    bool drop_name)
{
    struct pq_query *q = ev->q;
    if (v->n == v->cap) {
        uint32_t cap = v->cap ? v->cap * 2 : 8;
        v->s = pq_realloc(q, v->s, cap * sizeof *v->s);
        v->cap = cap;
    }
    struct pq_series *s = &v->s[v->n];
    memset(s, 0, sizeof *s);
    s->ls = ls;
    s->drop_name = drop_name;
    s->f = pq_alloc(q, ev->nsteps * sizeof *s->f);
    s->bits = pq_alloc(q, ((ev->nsteps + 63) / 64) * sizeof *s->bits);
    uint32_t si = v->n++;
    if (!v->instant) {
        if (v->n * 2 > v->map_cap)
            map_grow(q, v);
        else
            map_insert(v, si);
    }
    return si;
}

uint32_t pq_vec_series(const struct pq_ev *ev, struct pq_vec *v, const struct promql_lset *ls,
                       bool drop_name)
{
    if (!v->instant && v->map_cap) {
        uint32_t mask = v->map_cap - 1;
        for (uint32_t i = (uint32_t)ls->hash & mask; v->map[i]; i = (i + 1) & mask)
            if (promql_lset_eq(v->s[v->map[i] - 1].ls, ls))
                return v->map[i] - 1;
    }
    return pq_vec_add(ev, v, ls, drop_name);
}

static void set_slot(const struct pq_ev *ev, struct pq_series *s, uint32_t step)
{
    uint64_t bit = (uint64_t)1 << (step & 63);
    if (s->bits[step >> 6] & bit)
        pq_fail(ev->q, ERR_INVALID, "vector cannot contain metrics with the same labelset");
    s->bits[step >> 6] |= bit;
    s->npts++;
}

void pq_vec_setf(const struct pq_ev *ev, struct pq_vec *v, uint32_t si, uint32_t step, double f)
{
    struct pq_series *s = &v->s[si];
    set_slot(ev, s, step);
    s->f[step] = f;
    v->nsamples++;
    pq_samples_add(ev->q, 1);
}

void pq_vec_seth(const struct pq_ev *ev, struct pq_vec *v, uint32_t si, uint32_t step,
                 struct promql_hist *h)
{
    struct pq_series *s = &v->s[si];
    set_slot(ev, s, step);
    if (!s->h)
        s->h = pq_alloc(ev->q, ev->nsteps * sizeof *s->h);
    s->h[step] = h;
    int64_t n = pq_hist_samples(h);
    v->nsamples += n;
    pq_samples_add(ev->q, n);
}

void pq_series_free(struct pq_query *q, struct pq_series *s)
{
    pq_free(q, s->f);
    pq_free(q, s->h);
    pq_free(q, s->bits);
    s->f = NULL;
    s->h = NULL;
    s->bits = NULL;
}

void pq_vec_sink_last(struct pq_query *q, struct pq_vec *v, struct pq_sink *k)
{
    struct pq_series *s = &v->s[v->n - 1];
    k->put(k, s);
    int64_t n = s->npts;
    if (s->h) {
        /* Histogram points count by size; recount from the presence bits. */
        n = 0;
        struct pq_alloc_hdr *hdr = (struct pq_alloc_hdr *)s->bits - 1;
        uint32_t words = (uint32_t)(hdr->size / sizeof *s->bits);
        for (uint32_t w = 0; w < words; w++)
            for (uint64_t b = s->bits[w]; b; b &= b - 1) {
                uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(b);
                n += s->h[i] ? pq_hist_samples(s->h[i]) : 1;
            }
    }
    v->nsamples -= n;
    pq_samples_sub(q, n);
    pq_series_free(q, s);
    v->n--;
}

void pq_vec_compact(struct pq_query *q, struct pq_vec *v)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < v->n; i++) {
        if (v->s[i].npts == 0) {
            pq_series_free(q, &v->s[i]);
            continue;
        }
        v->s[k++] = v->s[i];
    }
    if (k != v->n && v->map) {
        v->n = k;
        memset(v->map, 0, v->map_cap * sizeof *v->map);
        for (uint32_t i = 0; i < v->n; i++)
            map_insert(v, i);
    }
    v->n = k;
}

void pq_vec_free(struct pq_query *q, struct pq_vec *v)
{
    for (uint32_t i = 0; i < v->n; i++)
        pq_series_free(q, &v->s[i]);
    pq_samples_sub(q, v->nsamples);
    pq_free(q, v->s);
    pq_free(q, v->map);
    memset(v, 0, sizeof *v);
}

void pq_range_free(struct pq_query *q, struct pq_range *r)
{
    for (uint32_t i = 0; i < r->n; i++) {
        struct pq_raw *s = &r->s[i];
        pq_samples_sub(q, s->nf + s->nh);
        pq_free(q, s->ft);
        pq_free(q, s->fv);
        pq_free(q, s->fst);
        pq_free(q, s->ht);
        pq_free(q, s->hv);
        pq_free(q, s->hst);
    }
    pq_free(q, r->s);
    r->s = NULL;
    r->n = 0;
}

void pq_val_free(struct pq_query *q, struct pq_val *v)
{
    switch (v->kind) {
    case PQ_SCALAR: pq_free(q, v->sc); break;
    case PQ_VECTOR: pq_vec_free(q, &v->v); break;
    case PQ_RANGE: pq_range_free(q, &v->r); break;
    case PQ_STRING: break;
    }
    v->sc = NULL;
}
