/* The metadata endpoints of the Loki query API (api_loki.h): labels, label values, series, index
 * stats (bare object), index volume (vector) and volume_range (matrix) with Loki's aggregation
 * (pkg/storage/stores/index/seriesvolume, tsdb Volume, queryrange/volume.go: by series over the
 * selector's or the target labels, or by label name; largest first, `limit` per bucket; buckets
 * aligned on the step, each stamped with its end), and format_query (Loki's Prettify, pretty.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/ast.h"
#include "engine/logql/parse.h"
#include "engine/logql/pretty.h"
#include "server/api_loki_query.h"
#include "server/exchange.h"

/* ---- labels and label values ---- */

struct label_extra {
    char name[1024];
    size_t name_len;
    bool values;
};

static void run_labels(struct loki_req *r, struct query_job *j)
{
    const struct label_extra *e = r->extra;
    struct querier_strings s = {0};
    const struct matcher *ms = r->nsets ? r->sets[0] : NULL;
    size_t n = r->nsets ? r->lens[0] : 0;
    int rc = e->values ? query_log_label_values(j, (struct str){e->name, e->name_len}, ms, n,
                                                r->start_ns, r->end_ns, &s)
                       : query_log_label_names(j, ms, n, r->start_ns, r->end_ns, &s);
    if (rc)
        loki_fail_rc(r, rc, NULL);
    else
        loki_write_strings(r, s.v, s.n);
    querier_strings_free(&s);
}

/* <name> of label/<name>/values into e; answers 400 when absent or too long. */
static bool label_name(struct loki_req *r, struct label_extra *e)
{
    struct str name;
    if (!route_param(&r->x->params, "name", &name) || name.len > sizeof e->name)
        return loki_bad(r, "invalid label name");
    memcpy(e->name, name.ptr, name.len);
    e->name_len = name.len;
    e->values = true;
    return true;
}

static void labels_common(struct http_exchange *x, bool values)
{
    struct loki_req *r = loki_req_new(x, run_labels, sizeof(struct label_extra));
    if (!r)
        return;
    struct str q = loki_param(r, "query");
    bool ok = (!values || label_name(r, r->extra)) && loki_param_bounds(r, false) &&
              (!q.len || loki_param_selector(r, q, false));
    loki_req_submit(r, ok);
}

void handler_loki_labels(struct http_exchange *x)
{
    labels_common(x, false);
}

void handler_loki_label_values(struct http_exchange *x)
{
    labels_common(x, true);
}

/* ---- series ---- */

static void run_series(struct loki_req *r, struct query_job *j)
{
    static const struct matcher *const none[1] = {NULL};
    static const size_t zero[1] = {0};
    struct query_matchsets ms = loki_req_matchsets(r);
    if (r->nsets == 0)
        ms = (struct query_matchsets){none, zero, 1}; /* every stream of the tenant */
    struct query_log_series s;
    int rc = query_log_series(j, &ms, r->start_ns, r->end_ns, &s);
    if (rc) {
        loki_fail_rc(r, rc,
                     rc == ERR_LIMIT ? "the query hit the max number of series limit" : NULL);
        return;
    }
    struct jsonw w;
    loki_json_begin(r, &w);
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < s.n; i++)
        loki_json_labels(&w, s.v[i].labels, s.v[i].n_labels);
    jsonw_arr_end(&w);
    loki_json_end(r, &w);
    query_log_series_free(&s);
}

static int str_cmp_v(const void *a, const void *b)
{
    return str_cmp(*(const struct str *)a, *(const struct str *)b);
}

static bool is_match_all(struct str s)
{
    size_t k = 0;
    char t[3];
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] == ' ')
            continue;
        if (k == 2)
            return false;
        t[k++] = s.ptr[i];
    }
    return k == 2 && t[0] == '{' && t[1] == '}';
}

/* match and match[] (union, unique); a lone "{}" selects everything. */
static bool series_selectors(struct loki_req *r)
{
    struct str v[LOKI_MATCH_MAX];
    size_t a = http_params_get_all(&r->params, "match", v, LOKI_MATCH_MAX);
    size_t b = a < LOKI_MATCH_MAX
                   ? http_params_get_all(&r->params, "match[]", v + a, LOKI_MATCH_MAX - a)
                   : 0;
    if (a > LOKI_MATCH_MAX || a + b > LOKI_MATCH_MAX)
        return loki_bad(r, "too many match[] parameters");
    size_t n = a + b;
    qsort(v, n, sizeof *v, str_cmp_v);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || !str_eq(v[u - 1], v[i]))
            v[u++] = v[i];
    if (u == 1 && is_match_all(v[0]))
        return true;
    for (size_t i = 0; i < u; i++)
        if (!loki_param_selector(r, v[i], true))
            return false;
    return true;
}

void handler_loki_series(struct http_exchange *x)
{
    struct loki_req *r = loki_req_new(x, run_series, 0);
    if (r)
        loki_req_submit(r, loki_param_bounds(r, false) && series_selectors(r));
}

/* ---- index stats ---- */

static void run_index_stats(struct loki_req *r, struct query_job *j)
{
    struct logstore_index_stats st;
    int rc = query_log_index_stats(j, r->sets[0], r->lens[0], r->start_ns, r->end_ns, &st);
    if (rc) {
        loki_fail_rc(r, rc, NULL);
        return;
    }
    struct jsonw w;
    jsonw_init(&w, &r->out);
    jsonw_obj_begin(&w);
    const char *keys[] = {"streams", "chunks", "entries", "bytes"};
    uint64_t vals[] = {st.streams, st.chunks, st.entries, st.bytes};
    for (int i = 0; i < 4; i++) {
        jsonw_key_cstr(&w, keys[i]);
        jsonw_uint(&w, vals[i]);
    }
    jsonw_obj_end(&w);
    loki_json_finish(r, &w);
}

void handler_loki_index_stats(struct http_exchange *x)
{
    struct loki_req *r = loki_req_new(x, run_index_stats, 0);
    if (r)
        loki_req_submit(r, loki_param_bounds(r, true) &&
                               loki_param_selector(r, loki_param(r, "query"), false));
}

/* ---- format_query ---- */

void handler_loki_format_query(struct http_exchange *x)
{
    struct loki_req *r = loki_req_new(x, NULL, 0);
    if (!r || !loki_param_query(r, LOKI_QUERY_ANY)) {
        loki_req_free(r);
        return;
    }
    struct buf p;
    buf_init(&p);
    struct jsonw w;
    jsonw_init(&w, x->body_out);
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "status");
    jsonw_cstr(&w, "success");
    jsonw_key_cstr(&w, "data");
    int rc = logql_pretty(r->q->root, &p);
    if (rc == 0)
        jsonw_str(&w, (const char *)p.data, p.len);
    jsonw_obj_end(&w);
    if (rc == 0 && jsonw_finish(&w) == 0)
        http_reply(x, 200, "application/json; charset=utf-8");
    else
        http_reply_error(x, 500, "out of memory");
    buf_deinit(&p);
    loki_req_free(r);
}
