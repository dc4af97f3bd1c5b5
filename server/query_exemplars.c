/* Exemplar queries, owner side, and their JSON (see query_exemplars.h). */
#include "server/query_exemplars.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/hash.h"
#include "engine/tsdb/exemplars.h"
#include "engine/tsdb/head.h"
#include "engine/tsdb/tsdb.h"
#include "server/query_internal.h"

/* One exemplar found in the ring, before grouping by series. */
struct hit {
    uint32_t id;
    uint32_t order; /* ring order (ascending time per series) */
    uint64_t hash;
    struct query_exemplar x;
};

struct walk {
    struct arena *a;
    struct hit *hits;
    size_t n, cap;
};

static struct label *copy_labels(struct arena *a, const struct label *l, size_t n, bool no_tenant,
                                 size_t *n_out)
{
    struct label *o = arena_alloc(a, (n + 1) * sizeof *o);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (no_tenant && str_eq_cstr(l[i].name, "__tenant__"))
            continue;
        char *p = arena_alloc(a, l[i].name.len + l[i].value.len + 1);
        if (!p)
            return NULL;
        memcpy(p, l[i].name.ptr, l[i].name.len);
        memcpy(p + l[i].name.len, l[i].value.ptr, l[i].value.len);
        o[k].name = (struct str){p, l[i].name.len};
        o[k++].value = (struct str){p + l[i].name.len, l[i].value.len};
    }
    *n_out = k;
    return o;
}

static int on_exemplar(void *arg, uint32_t id, uint64_t hash, const struct exemplar_in *x)
{
    struct walk *w = arg;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        struct hit *h = realloc(w->hits, cap * sizeof *h);
        if (!h)
            return ERR_NOMEM;
        w->hits = h;
        w->cap = cap;
    }
    struct hit *h = &w->hits[w->n];
    double v;
    memcpy(&v, &x->value_bits, sizeof v);
    h->id = id;
    h->order = (uint32_t)w->n;
    h->hash = hash;
    h->x = (struct query_exemplar){x->ts_ms, v, NULL, 0};
    struct label *l = copy_labels(w->a, x->labels, x->n_labels, false, &h->x.n_labels);
    if (!l)
        return ERR_NOMEM;
    h->x.labels = l;
    w->n++;
    return 0;
}

static int hit_cmp(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

static bool set_matches(const struct matcher *ms, size_t n, const struct label *l, size_t nl)
{
    for (size_t i = 0; i < n; i++) {
        struct str v = {"", 0};
        for (size_t k = 0; k < nl; k++)
            if (str_eq(l[k].name, ms[i].name))
                v = l[k].value;
        if (!matcher_matches(&ms[i], v))
            return false;
    }
    return true;
}

static bool any_set(const struct query_matchsets *ms, const struct label *l, size_t nl)
{
    for (size_t s = 0; s < ms->n; s++)
        if (set_matches(ms->sets[s], ms->lens[s], l, nl))
            return true;
    return false;
}

static int series_cmp(const void *a, const void *b)
{
    const struct query_exemplar_series *x = a, *y = b;
    return labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

/* Groups the sorted hits by series, keeping the series that still exist and match. */
static int group(struct head *h, const struct query_matchsets *ms, struct walk *w,
                 struct query_exemplars_result *out)
{
    size_t cap_l = 64, nl;
    struct label *lb = malloc(cap_l * sizeof *lb);
    out->series = arena_alloc(&out->arena, (w->n + 1) * sizeof *out->series);
    int rc = lb && out->series ? 0 : ERR_NOMEM;
    for (size_t i = 0, j; rc == 0 && i < w->n; i = j) {
        for (j = i + 1; j < w->n && w->hits[j].id == w->hits[i].id; j++)
            ;
        rc = head_series_labels(h, w->hits[i].id, lb, cap_l, &nl);
        if (rc == ERR_FULL) {
            free(lb);
            cap_l = nl;
            lb = malloc(cap_l * sizeof *lb);
            rc = lb ? head_series_labels(h, w->hits[i].id, lb, cap_l, &nl) : ERR_NOMEM;
        }
        if (rc == ERR_NOT_FOUND) { /* removed since */
            rc = 0;
            continue;
        }
        if (rc)
            break;
        if (hash_labels(lb, nl) != w->hits[i].hash || !any_set(ms, lb, nl))
            continue; /* id reused by another series, or not selected */
        struct query_exemplar_series *s = &out->series[out->n];
        s->labels = copy_labels(&out->arena, lb, nl, true, &s->n_labels);
        s->ex = arena_alloc(&out->arena, (j - i) * sizeof *s->ex);
        if (!s->labels || !s->ex) {
            rc = ERR_NOMEM;
            break;
        }
        for (size_t k = i; k < j; k++)
            s->ex[k - i] = w->hits[k].x;
        s->n_ex = j - i;
        out->n++;
    }
    free(lb);
    return rc;
}

int query_exemplars_owner(struct tsdb *t, const struct query_matchsets *ms, int64_t start_ms,
                          int64_t end_ms, struct query_exemplars_result *out)
{
    memset(out, 0, sizeof *out);
    arena_init(&out->arena, 16 * 1024);
    struct walk w = {&out->arena, NULL, 0, 0};
    int rc = exemplars_query(tsdb_exemplars(t), start_ms, end_ms, on_exemplar, &w);
    if (rc == 0) {
        if (w.n > 1)
            qsort(w.hits, w.n, sizeof *w.hits, hit_cmp);
        rc = group(tsdb_head(t), ms, &w, out);
    }
    free(w.hits);
    if (rc == 0 && out->n > 1)
        qsort(out->series, out->n, sizeof *out->series, series_cmp);
    if (rc)
        query_exemplars_result_free(out);
    return rc;
}

void query_exemplars_result_free(struct query_exemplars_result *r)
{
    arena_deinit(&r->arena);
    memset(r, 0, sizeof *r);
}

int query_exemplars(struct query_job *j, const struct query_matchsets *ms, int64_t start_ms,
                    int64_t end_ms, struct query_exemplars_set *out)
{
    memset(out, 0, sizeof *out);
    struct query_spec spec = {.kind = QK_EXEMPLARS};
    int rc = query_spec_matchers(&spec, ms, j->tenant);
    struct query_gathered *g = rc ? NULL : calloc(1, sizeof *g);
    if (!g) {
        query_spec_free(&spec);
        return rc ? rc : ERR_NOMEM;
    }
    spec.mint_ms = start_ms;
    spec.maxt_ms = end_ms;
    out->gathered = g;
    rc = query_gather(j, &spec, g); /* takes the spec over */
    if (rc == 0 && g->n && !(out->parts = calloc(g->n, sizeof *out->parts)))
        rc = ERR_NOMEM;
    for (size_t i = 0; rc == 0 && i < g->n; i++)
        if (g->v[i]->ex)
            out->parts[out->n++] = g->v[i]->ex;
    if (rc)
        query_exemplars_set_free(out);
    return rc;
}

void query_exemplars_set_free(struct query_exemplars_set *s)
{
    if (s->gathered) {
        query_gathered_done(s->gathered);
        free(s->gathered);
    }
    free(s->parts);
    memset(s, 0, sizeof *s);
}

static void json_labels(struct jsonw *w, const struct label *l, size_t n)
{
    jsonw_obj_begin(w);
    for (size_t i = 0; i < n; i++) {
        jsonw_key(w, l[i].name.ptr, l[i].name.len);
        jsonw_str(w, l[i].value.ptr, l[i].value.len);
    }
    jsonw_obj_end(w);
}

void query_exemplars_json(struct jsonw *w, const struct query_exemplars_result *const *parts,
                          size_t n)
{
    jsonw_arr_begin(w);
    for (size_t p = 0; p < n; p++) {
        for (size_t i = 0; i < parts[p]->n; i++) {
            const struct query_exemplar_series *s = &parts[p]->series[i];
            jsonw_obj_begin(w);
            jsonw_key_cstr(w, "seriesLabels");
            json_labels(w, s->labels, s->n_labels);
            jsonw_key_cstr(w, "exemplars");
            jsonw_arr_begin(w);
            for (size_t k = 0; k < s->n_ex; k++) {
                jsonw_obj_begin(w);
                jsonw_key_cstr(w, "labels");
                json_labels(w, s->ex[k].labels, s->ex[k].n_labels);
                jsonw_key_cstr(w, "value");
                jsonw_float_str(w, s->ex[k].value);
                jsonw_key_cstr(w, "timestamp");
                jsonw_ts_ms_prom(w, s->ex[k].ts_ms);
                jsonw_obj_end(w);
            }
            jsonw_arr_end(w);
            jsonw_obj_end(w);
        }
    }
    jsonw_arr_end(w);
}
