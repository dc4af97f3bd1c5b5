/* /loki/api/v1/index/volume and /loki/api/v1/index/volume_range (api_loki.h), as Loki computes
 * them (seriesvolume, tsdb Volume, queryrange/volume.go): the range is cut into buckets aligned on
 * the step (one bucket [start, end] for the instant form), each stamped with its end; per bucket
 * the line bytes of the matching streams (with entries) are summed per series of the aggregation
 * labels (the target labels, else the selector's label names; every label for `{}`) or, with
 * aggregateBy=labels, per label name; each bucket keeps its `limit` largest (ties by name); the
 * answer is a vector when every series has one point, else a matrix, series ordered by their
 * first value, largest first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/error.h"
#include "base/strmap.h"
#include "server/api_loki_query.h"
#include "server/api_prom.h"
#include "server/exchange.h"

#define TARGETS_MAX  32
#define SPLIT_GAP_NS 1000000 /* Loki's util.SplitGap: 1 ms between buckets */

struct vol_extra {
    bool by_series, include_all;
    uint32_t limit;
    int64_t step_ns; /* 0: one bucket */
    struct str targets[TARGETS_MAX];
    size_t n_targets;
    struct str by[LOKI_MATCH_MAX + TARGETS_MAX]; /* labelsToMatch */
    size_t n_by;
    struct matcher added[TARGETS_MAX]; /* target=~".+" for targets the selector lacks */
    size_t n_added;
    struct matcher *all; /* the selector's matchers (shallow copies) + added */
    size_t n_all;
};

/* One output series and its points. */
struct vol_series {
    struct str name; /* Loki's key: the label set's string, or the label name */
    struct label *ls;
    size_t n_ls;
    int64_t *ts_ms;
    double *v;
    size_t n, cap;
};

/* One bucket's volume per name. */
struct vol_item {
    struct str name;
    struct label *ls;
    size_t n_ls;
    uint64_t bytes;
};

struct vol_state {
    struct arena arena;
    struct strmap series; /* name -> struct vol_series * */
    struct vol_series **order;
    size_t n_order, cap_order;
    struct strmap bucket; /* name -> struct vol_item * (per bucket) */
    struct vol_item **items;
    size_t n_items, cap_items;
    struct buf key;
};

static bool in_by(const struct vol_extra *e, struct str name)
{
    for (size_t i = 0; i < e->n_by; i++)
        if (str_eq(e->by[i], name))
            return true;
    return false;
}

/* Adds bytes to the bucket's item name (labels ls copied when new). */
static int bucket_add(struct vol_state *st, struct str name, const struct label *ls, size_t n,
                      uint64_t bytes)
{
    struct vol_item *it = strmap_get(&st->bucket, name);
    if (it) {
        it->bytes += bytes;
        return 0;
    }
    it = arena_alloc(&st->arena, sizeof *it);
    char *kb = arena_dup(&st->arena, name.ptr, name.len ? name.len : 1, 0);
    struct label *cp = arena_alloc(&st->arena, (n ? n : 1) * sizeof *cp);
    if (!it || !kb || !cp ||
        loki_grow((void **)&st->items, &st->cap_items, st->n_items + 1, sizeof *st->items))
        return ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        char *a = arena_dup(&st->arena, ls[i].name.ptr, ls[i].name.len + 1, 0);
        char *b = arena_dup(&st->arena, ls[i].value.ptr, ls[i].value.len + 1, 0);
        if (!a || !b)
            return ERR_NOMEM;
        cp[i] = (struct label){{a, ls[i].name.len}, {b, ls[i].value.len}};
    }
    *it = (struct vol_item){{kb, name.len}, cp, n, bytes};
    st->items[st->n_items++] = it;
    return strmap_put(&st->bucket, it->name, it);
}

/* Loki's labels.String(): {a="x", b="y"} (values quoted). */
static int series_key(struct buf *b, const struct label *ls, size_t n)
{
    buf_reset(b);
    int rc = buf_append_u8(b, '{');
    for (size_t i = 0; i < n && !rc; i++) {
        if (i)
            rc = buf_append(b, ", ", 2);
        if (!rc)
            rc = buf_append(b, ls[i].name.ptr, ls[i].name.len);
        if (!rc)
            rc = buf_append(b, "=", 1);
        if (!rc)
            rc = prom_quote(b, ls[i].value);
    }
    return rc ? rc : buf_append_u8(b, '}');
}

static int add_stream(struct vol_state *st, const struct vol_extra *e,
                      const struct logstore_stream_stats *s)
{
    if (!e->by_series) {
        for (size_t i = 0; i < s->n_labels; i++) {
            if (e->n_targets && !in_by(e, s->labels[i].name))
                continue;
            struct label l = {s->labels[i].name, {"", 0}};
            int rc = bucket_add(st, s->labels[i].name, &l, 1, s->bytes);
            if (rc)
                return rc;
        }
        return 0;
    }
    struct label ls[256];
    size_t n = 0;
    for (size_t i = 0; i < s->n_labels && n < 256; i++)
        if (e->include_all || in_by(e, s->labels[i].name))
            ls[n++] = s->labels[i];
    int rc = series_key(&st->key, ls, n);
    if (rc)
        return rc;
    return bucket_add(st, (struct str){(const char *)st->key.data, st->key.len}, ls, n, s->bytes);
}

static int item_cmp(const void *a, const void *b)
{
    const struct vol_item *x = *(const struct vol_item *const *)a;
    const struct vol_item *y = *(const struct vol_item *const *)b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    return str_cmp(x->name, y->name);
}

/* The bucket's limit largest become points at ts_ms. */
static int bucket_flush(struct vol_state *st, const struct vol_extra *e, int64_t ts_ms)
{
    if (st->n_items > 1)
        qsort(st->items, st->n_items, sizeof *st->items, item_cmp);
    size_t keep = st->n_items < e->limit ? st->n_items : e->limit;
    int rc = 0;
    for (size_t i = 0; i < keep && !rc; i++) {
        struct vol_item *it = st->items[i];
        struct vol_series *s = strmap_get(&st->series, it->name);
        if (!s) {
            s = arena_alloc(&st->arena, sizeof *s);
            if (!s || loki_grow((void **)&st->order, &st->cap_order, st->n_order + 1,
                                sizeof *st->order)) {
                rc = ERR_NOMEM;
                break;
            }
            *s = (struct vol_series){.name = it->name, .ls = it->ls, .n_ls = it->n_ls};
            st->order[st->n_order++] = s;
            if ((rc = strmap_put(&st->series, s->name, s)) != 0)
                break;
        }
        size_t cap = s->cap;
        if (loki_grow((void **)&s->ts_ms, &cap, s->n + 1, sizeof *s->ts_ms) ||
            loki_grow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v)) {
            rc = ERR_NOMEM;
            break;
        }
        s->ts_ms[s->n] = ts_ms;
        s->v[s->n++] = (double)it->bytes;
    }
    strmap_deinit(&st->bucket);
    strmap_init(&st->bucket);
    st->n_items = 0;
    return rc;
}

static int one_bucket(struct vol_state *st, const struct vol_extra *e, struct query_job *j,
                      int64_t from_ns, int64_t through_ns)
{
    const struct matcher *sets[1] = {e->all};
    size_t lens[1] = {e->n_all};
    struct query_matchsets ms = {sets, lens, 1};
    struct query_log_series s;
    /* Loki truncates a bucket's bounds to seconds */
    int64_t from = from_ns - from_ns % 1000000000, through = through_ns - through_ns % 1000000000;
    int rc = query_log_series(j, &ms, from, through + 1000000, &s);
    for (size_t i = 0; i < s.n && !rc; i++)
        if (s.v[i].entries > 0)
            rc = add_stream(st, e, &s.v[i]);
    query_log_series_free(&s);
    if (!rc)
        rc = bucket_flush(st, e, through_ns / 1000000);
    return rc;
}

/* util.ForInterval(step, start, end, endTimeInclusive = true). */
static int all_buckets(struct vol_state *st, const struct vol_extra *e, struct query_job *j,
                       int64_t start, int64_t end)
{
    if (e->step_ns <= 0)
        return one_bucket(st, e, j, start, end);
    int64_t s = start - start % e->step_ns;
    bool first = true;
    int rc = 0;
    for (; s < end && !rc; s += e->step_ns) {
        int64_t ne = s + e->step_ns;
        if (ne >= end)
            ne = end;
        else
            ne -= SPLIT_GAP_NS;
        rc = one_bucket(st, e, j, first ? start : s, ne);
        first = false;
        if (!rc)
            rc = query_job_check(j);
    }
    return rc;
}

static int series_cmp(const void *a, const void *b)
{
    const struct vol_series *x = *(const struct vol_series *const *)a;
    const struct vol_series *y = *(const struct vol_series *const *)b;
    if (x->v[0] != y->v[0])
        return x->v[0] > y->v[0] ? -1 : 1;
    return str_cmp(x->name, y->name);
}

static void write_volume(struct loki_req *r, struct vol_state *st)
{
    bool matrix = false;
    for (size_t i = 0; i < st->n_order; i++)
        matrix |= st->order[i]->n > 1;
    if (st->n_order > 1)
        qsort(st->order, st->n_order, sizeof *st->order, series_cmp);
    struct jsonw w;
    loki_json_begin(r, &w);
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "resultType");
    jsonw_cstr(&w, matrix ? "matrix" : "vector");
    jsonw_key_cstr(&w, "result");
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < st->n_order; i++) {
        const struct vol_series *s = st->order[i];
        jsonw_obj_begin(&w);
        jsonw_key_cstr(&w, "metric");
        loki_json_labels(&w, s->ls, s->n_ls);
        jsonw_key_cstr(&w, matrix ? "values" : "value");
        if (matrix)
            jsonw_arr_begin(&w);
        for (size_t k = 0; k < s->n; k++) {
            jsonw_arr_begin(&w);
            jsonw_ts_ms(&w, s->ts_ms[k]);
            loki_json_value(&w, s->v[k]);
            jsonw_arr_end(&w);
        }
        if (matrix)
            jsonw_arr_end(&w);
        jsonw_obj_end(&w);
    }
    jsonw_arr_end(&w);
    jsonw_obj_end(&w);
    loki_json_end(r, &w);
}

static void run_volume(struct loki_req *r, struct query_job *j)
{
    const struct vol_extra *e = r->extra;
    struct vol_state st = {0};
    arena_init(&st.arena, 64 * 1024);
    strmap_init(&st.series);
    strmap_init(&st.bucket);
    buf_init(&st.key);
    int rc = all_buckets(&st, e, j, r->start_ns, r->end_ns);
    if (rc)
        loki_fail_rc(r, rc, NULL);
    else
        write_volume(r, &st);
    for (size_t i = 0; i < st.n_order; i++) {
        free(st.order[i]->ts_ms);
        free(st.order[i]->v);
    }
    free(st.order);
    free(st.items);
    strmap_deinit(&st.series);
    strmap_deinit(&st.bucket);
    buf_deinit(&st.key);
    arena_deinit(&st.arena);
}

/* ---- handler ---- */

static void free_volume(struct loki_req *r)
{
    struct vol_extra *e = r->extra;
    for (size_t i = 0; i < e->n_added; i++)
        matcher_deinit(&e->added[i]);
    free(e->all);
}

/* limit (0 or empty: 100), aggregateBy, targetLabels; answers 400 on errors. */
static bool volume_options(struct loki_req *r, struct vol_extra *e)
{
    char err[LOKI_ERR_MAX];
    struct str lv = loki_param(r, "limit");
    if (lv.len == 1 && lv.ptr[0] == '0')
        lv.len = 0; /* 0: the default */
    if (loki_parse_limit(lv, LOKI_VOLUME_LIMIT, &e->limit, err, sizeof err))
        return loki_bad(r, err);
    struct str ab = loki_param(r, "aggregateBy");
    if (ab.len && !str_eq_cstr(ab, "series") && !str_eq_cstr(ab, "labels"))
        return loki_bad(r, "invalid aggregation option");
    e->by_series = !str_eq_cstr(ab, "labels");
    struct str tl = loki_param(r, "targetLabels");
    for (size_t i = 0; tl.len && i <= tl.len;) {
        size_t k = i;
        while (k < tl.len && tl.ptr[k] != ',')
            k++;
        if (e->n_targets == TARGETS_MAX)
            return loki_bad(r, "too many target labels");
        e->targets[e->n_targets++] = (struct str){tl.ptr + i, k - i};
        i = k + 1;
    }
    return true;
}

/* The matchers to select with and the labels to aggregate by (PrepareLabelsAndMatchers). */
static bool volume_matchers(struct loki_req *r, struct vol_extra *e)
{
    const struct matcher *sel = r->nsets ? r->sets[0] : NULL;
    size_t n = r->nsets ? r->lens[0] : 0;
    e->include_all = n == 0 && e->n_targets == 0;
    e->all = calloc(n + e->n_targets + 1, sizeof *e->all);
    if (!e->all)
        return loki_bad(r, "out of memory");
    for (size_t i = 0; i < n; i++) {
        e->all[e->n_all++] = sel[i];
        if (!e->n_targets && !in_by(e, sel[i].name))
            e->by[e->n_by++] = sel[i].name;
    }
    for (size_t t = 0; t < e->n_targets; t++) {
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found |= str_eq(sel[i].name, e->targets[t]);
        if (!in_by(e, e->targets[t]))
            e->by[e->n_by++] = e->targets[t];
        if (found)
            continue;
        char err[64];
        if (matcher_init(&e->added[e->n_added], MATCHER_RE, e->targets[t], STR_LIT(".+"), err,
                         sizeof err))
            return loki_bad(r, "invalid target label");
        e->all[e->n_all++] = e->added[e->n_added++];
    }
    return true;
}

static void volume_common(struct http_exchange *x, bool range)
{
    struct loki_req *r = loki_req_new(x, run_volume, sizeof(struct vol_extra));
    if (!r)
        return;
    struct vol_extra *e = r->extra;
    r->free_extra = free_volume;
    struct str q = loki_param(r, "query");
    bool match_any = q.len == 2 && q.ptr[0] == '{' && q.ptr[1] == '}';
    bool ok = volume_options(r, e) && loki_param_bounds(r, true) &&
              (!range || loki_param_step(r, &e->step_ns)) &&
              (match_any || loki_param_selector(r, q, false)) && volume_matchers(r, e);
    loki_req_submit(r, ok);
}

void handler_loki_volume(struct http_exchange *x)
{
    volume_common(x, false);
}

void handler_loki_volume_range(struct http_exchange *x)
{
    volume_common(x, true);
}
