/* Prometheus API endpoints other than the two query endpoints (api_prom.h): /api/v1/series,
 * /labels, /label/<name>/values, /metadata, /query_exemplars, /format_query, /rules and
 * /status/tsdb, with Prometheus's parameters, messages and JSON shapes (web/api/v1/api.go). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/promql/ast.h"
#include "engine/promql/parse.h"
#include "engine/promql/pretty.h"
#include "engine/promql/print.h"
#include "server/api_prom_internal.h"
#include "server/exchange.h"
#include "server/query_exemplars.h"

static const char truncated_warning[] = "results truncated due to limit";

/* A success body with just `data` (written by fn) into r->out. */
static void finish_body(struct prom_req *r, struct jsonw *w, const struct prom_annos *a)
{
    prom_envelope_end(w, a);
    if (jsonw_finish(w) != 0)
        prom_fail(r, PROM_ERR_INTERNAL, "out of memory");
}

/* ---- /api/v1/series ---- */

static void run_series(struct prom_req *r, struct query_job *j)
{
    struct query_matchsets ms = prom_req_matchsets(r);
    struct chunk_series_set *set;
    int rc = query_select(j, &ms, r->start_ms, r->end_ms, true, &set);
    if (rc) {
        prom_fail_rc(r, rc, "expanding series");
        return;
    }
    int64_t max = query_job_config(j)->max_series, n = 0;
    struct prom_annos a = {0};
    struct jsonw w;
    jsonw_init(&w, &r->out);
    prom_envelope_begin(&w);
    jsonw_arr_begin(&w);
    while ((rc = chunk_series_set_next(set)) == 1) {
        if (r->limit > 0 && n >= r->limit) {
            prom_annos_add(&a, true, truncated_warning);
            break;
        }
        if (max > 0 && n >= max) {
            char msg[128];
            snprintf(msg, sizeof msg,
                     "query would select more than %lld series (--query.max-series)",
                     (long long)max);
            prom_fail(r, PROM_ERR_EXECUTION, msg);
            break;
        }
        const struct chunk_series *cs = chunk_series_set_at(set);
        prom_json_labels(&w, cs->labels, cs->n_labels);
        n++;
    }
    chunk_series_set_close(set);
    if (rc < 0) {
        prom_fail_rc(r, rc, "expanding series");
        return;
    }
    jsonw_arr_end(&w);
    finish_body(r, &w, &a);
}

void handler_prom_series(struct http_exchange *x)
{
    struct prom_req *r = prom_req_new(x);
    if (!r)
        return;
    if (!prom_param_matchers(r, true, "match[]") || !prom_param_limit(r, &r->limit) ||
        !prom_param_time(r, "start", PROM_TIME_MIN_MS, &r->start_ms) ||
        !prom_param_time(r, "end", PROM_TIME_MAX_MS, &r->end_ms)) {
        prom_req_free(r);
        return;
    }
    r->run = run_series;
    prom_req_start(r, 0);
}

/* ---- /api/v1/labels and /api/v1/label/<name>/values ---- */

struct values_extra {
    struct buf name; /* unescaped label name */
};

static void write_strings(struct prom_req *r, const struct querier_strings *s)
{
    struct prom_annos a = {0};
    struct jsonw w;
    size_t n = s->n;
    if (r->limit > 0 && n > (size_t)r->limit) {
        n = (size_t)r->limit;
        prom_annos_add(&a, true, truncated_warning);
    }
    jsonw_init(&w, &r->out);
    prom_envelope_begin(&w);
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++)
        jsonw_str_html(&w, s->v[i].ptr, s->v[i].len);
    jsonw_arr_end(&w);
    finish_body(r, &w, &a);
}

static void run_labels(struct prom_req *r, struct query_job *j)
{
    struct query_matchsets ms = prom_req_matchsets(r);
    struct querier_strings s;
    int rc = query_label_names(j, &ms, r->start_ms, r->end_ms, r->limit, &s);
    if (rc) {
        prom_fail_rc(r, rc, "label names");
        return;
    }
    write_strings(r, &s);
    querier_strings_free(&s);
}

static void run_values(struct prom_req *r, struct query_job *j)
{
    struct values_extra *e = r->extra;
    struct query_matchsets ms = prom_req_matchsets(r);
    struct querier_strings s;
    struct str name = {(const char *)e->name.data, e->name.len};
    int rc = query_label_values(j, name, &ms, r->start_ms, r->end_ms, r->limit, &s);
    if (rc) {
        prom_fail_rc(r, rc, "label values");
        return;
    }
    write_strings(r, &s);
    querier_strings_free(&s);
}

static bool label_params(struct prom_req *r)
{
    return prom_param_limit(r, &r->limit) &&
           prom_param_time(r, "start", PROM_TIME_MIN_MS, &r->start_ms) &&
           prom_param_time(r, "end", PROM_TIME_MAX_MS, &r->end_ms) &&
           prom_param_matchers(r, false, NULL);
}

void handler_prom_labels(struct http_exchange *x)
{
    struct prom_req *r = prom_req_new(x);
    if (!r)
        return;
    if (!label_params(r)) {
        prom_req_free(r);
        return;
    }
    r->run = run_labels;
    prom_req_start(r, 0);
}

static void free_values(struct prom_req *r)
{
    struct values_extra *e = r->extra;
    buf_deinit(&e->name);
    free(e);
}

/* The unescaped, validated label name of the path; answers 400 and returns false when invalid. */
static bool path_label_name(struct prom_req *r, struct values_extra *e)
{
    struct str raw;
    if (!route_param(&r->x->params, "name", &raw) || prom_unescape_name(raw, &e->name) ||
        buf_cstr(&e->name)) {
        prom_reply_error(r->x, PROM_ERR_INTERNAL, "out of memory");
        return false;
    }
    struct str name = {(const char *)e->name.data, e->name.len};
    if (prom_label_name_valid(name))
        return true;
    struct buf q;
    buf_init(&q);
    char msg[PROM_ERR_MAX];
    if (prom_quote(&q, name) || buf_cstr(&q))
        snprintf(msg, sizeof msg, "invalid label name");
    else
        snprintf(msg, sizeof msg, "invalid label name: %s", (const char *)q.data);
    buf_deinit(&q);
    prom_reply_error(r->x, PROM_ERR_BAD_DATA, msg);
    return false;
}

void handler_prom_label_values(struct http_exchange *x)
{
    struct prom_req *r = prom_req_new(x);
    if (!r)
        return;
    struct values_extra *e = calloc(1, sizeof *e);
    if (!e) {
        prom_reply_error(x, PROM_ERR_INTERNAL, "out of memory");
        prom_req_free(r);
        return;
    }
    buf_init(&e->name);
    r->extra = e;
    r->free_extra = free_values;
    if (!path_label_name(r, e) || !label_params(r)) {
        prom_req_free(r);
        return;
    }
    r->run = run_values;
    prom_req_start(r, 0);
}

/* ---- /api/v1/metadata ---- */

struct metadata_extra {
    int64_t limit, limit_per_metric; /* -1: none */
    struct str metric;
};

static const char *metric_type_str(uint8_t t)
{
    static const char *const names[] = {"unknown",        "counter", "gauge", "histogram",
                                        "gaugehistogram", "summary", "info",  "stateset"};
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

static void write_metadata(struct prom_req *r, const struct query_metadata *md,
                           const struct metadata_extra *e)
{
    struct jsonw w;
    jsonw_init(&w, &r->out);
    prom_envelope_begin(&w);
    jsonw_obj_begin(&w);
    int64_t families = 0;
    for (size_t i = 0; i < md->n;) {
        struct str fam = md->v[i].family;
        if (e->limit >= 0 && families >= e->limit)
            break;
        families++;
        jsonw_key(&w, fam.ptr, fam.len);
        jsonw_arr_begin(&w);
        int64_t k = 0;
        for (; i < md->n && str_eq(md->v[i].family, fam); i++, k++) {
            if (e->limit_per_metric > 0 && k >= e->limit_per_metric)
                continue;
            jsonw_obj_begin(&w);
            jsonw_key_cstr(&w, "type");
            jsonw_cstr(&w, metric_type_str(md->v[i].type));
            jsonw_key_cstr(&w, "unit");
            jsonw_str_html(&w, md->v[i].unit.ptr, md->v[i].unit.len);
            jsonw_key_cstr(&w, "help");
            jsonw_str_html(&w, md->v[i].help.ptr, md->v[i].help.len);
            jsonw_obj_end(&w);
        }
        jsonw_arr_end(&w);
    }
    jsonw_obj_end(&w);
    finish_body(r, &w, NULL);
}

static void run_metadata(struct prom_req *r, struct query_job *j)
{
    const struct metadata_extra *e = r->extra;
    struct query_metadata md;
    int rc = query_metadata(j, e->metric, &md);
    if (rc) {
        prom_fail_rc(r, rc, "metadata");
        return;
    }
    write_metadata(r, &md, e);
    query_metadata_free(&md);
}

static void free_extra_plain(struct prom_req *r)
{
    free(r->extra);
}

/* strconv.Atoi of an optional parameter; -1 when absent. */
static bool int_param(struct prom_req *r, const char *name, int64_t *out)
{
    struct str v;
    *out = -1;
    if (!http_params_get(&r->params, name, &v) || v.len == 0)
        return true;
    char err[PROM_ERR_MAX];
    int64_t x;
    size_t sign = v.ptr[0] == '-' || v.ptr[0] == '+';
    struct str digits = {v.ptr + sign, v.len - sign};
    bool ok = digits.len && digits.ptr[0] != '-' && digits.ptr[0] != '+' &&
              prom_parse_limit(digits, &x, err, sizeof err) == 0;
    if (ok) {
        *out = v.ptr[0] == '-' ? -x : x;
        return true;
    }
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a number", name);
    prom_reply_error(r->x, PROM_ERR_BAD_DATA, msg);
    return false;
}

void handler_prom_metadata(struct http_exchange *x)
{
    struct prom_req *r = prom_req_new(x);
    if (!r)
        return;
    struct metadata_extra *e = calloc(1, sizeof *e);
    if (!e) {
        prom_reply_error(x, PROM_ERR_INTERNAL, "out of memory");
        prom_req_free(r);
        return;
    }
    r->extra = e;
    r->free_extra = free_extra_plain;
    if (!int_param(r, "limit", &e->limit) ||
        !int_param(r, "limit_per_metric", &e->limit_per_metric)) {
        prom_req_free(r);
        return;
    }
    http_params_get(&r->params, "metric", &e->metric);
    r->run = run_metadata;
    prom_req_start(r, 0);
}

/* ---- /api/v1/query_exemplars ---- */

/* The query's vector selectors, each one matcher set (Prometheus's parser.ExtractSelectors). */
struct exemplars_extra {
    struct promql_ast *ast;
    const struct matcher **sets;
    size_t *lens;
    size_t n;
};

static void free_exemplars_extra(struct prom_req *r)
{
    struct exemplars_extra *e = r->extra;
    if (!e)
        return;
    promql_ast_destroy(e->ast);
    free(e->sets);
    free(e->lens);
    free(e);
}

static void run_exemplars(struct prom_req *r, struct query_job *j)
{
    const struct exemplars_extra *e = r->extra;
    struct query_matchsets ms = {e->sets, e->lens, e->n};
    struct query_exemplars_set set;
    int rc = query_exemplars(j, &ms, r->start_ms, r->end_ms, &set);
    if (rc) {
        prom_fail_rc(r, rc, "exemplars");
        return;
    }
    struct jsonw w;
    jsonw_init(&w, &r->out);
    prom_envelope_begin(&w);
    query_exemplars_json(&w, set.parts, set.n);
    finish_body(r, &w, NULL);
    query_exemplars_set_free(&set);
}

static bool exemplar_sets(struct exemplars_extra *e)
{
    for (const struct promql_node *s = e->ast->selectors; s; s = s->vs.next_selector)
        e->n++;
    e->sets = calloc(e->n, sizeof *e->sets);
    e->lens = calloc(e->n, sizeof *e->lens);
    if (!e->sets || !e->lens)
        return false;
    size_t i = 0;
    for (const struct promql_node *s = e->ast->selectors; s; s = s->vs.next_selector, i++) {
        e->sets[i] = s->vs.matchers;
        e->lens[i] = s->vs.nmatchers;
    }
    return true;
}

/* The exemplars stored for the series the query's selectors match, start <= ts <= end. */
void handler_prom_query_exemplars(struct http_exchange *x)
{
    struct prom_req *r = prom_req_new(x);
    if (!r)
        return;
    if (!prom_param_time(r, "start", PROM_TIME_MIN_MS, &r->start_ms) ||
        !prom_param_time(r, "end", PROM_TIME_MAX_MS, &r->end_ms)) {
        prom_req_free(r);
        return;
    }
    if (r->end_ms < r->start_ms) {
        prom_reply_error(x, PROM_ERR_BAD_DATA, "end timestamp must not be before start timestamp");
        prom_req_free(r);
        return;
    }
    struct str q = {"", 0};
    http_params_get(&r->params, "query", &q);
    struct exemplars_extra *e = calloc(1, sizeof *e);
    if (!e) {
        prom_reply_error(x, PROM_ERR_INTERNAL, "out of memory");
        prom_req_free(r);
        return;
    }
    r->extra = e;
    r->free_extra = free_exemplars_extra;
    struct promql_error perr;
    int rc = promql_parse(q.ptr, q.len, NULL, &e->ast, &perr);
    if (rc) {
        char msg[PROM_ERR_MAX];
        if (rc == ERR_INVALID)
            promql_error_format(&perr, q.ptr, q.len, msg, sizeof msg);
        else
            snprintf(msg, sizeof msg, "out of memory");
        prom_reply_error(x, rc == ERR_INVALID ? PROM_ERR_BAD_DATA : PROM_ERR_INTERNAL, msg);
        prom_req_free(r);
        return;
    }
    if (!e->ast->selectors) {
        /* a query without selectors has no exemplars to look up: Prometheus answers without data */
        buf_reset(x->body_out);
        int wrc = buf_append_str(x->body_out, "{\"status\":\"success\"}");
        prom_req_free(r);
        if (wrc)
            prom_reply_error(x, PROM_ERR_INTERNAL, "out of memory");
        else
            http_reply(x, 200, "application/json");
        return;
    }
    if (!exemplar_sets(e)) {
        prom_reply_error(x, PROM_ERR_INTERNAL, "out of memory");
        prom_req_free(r);
        return;
    }
    r->run = run_exemplars;
    prom_req_start(r, 0);
}

/* ---- /api/v1/format_query ---- */

void handler_prom_format_query(struct http_exchange *x)
{
    struct prom_req *r = prom_req_new(x);
    if (!r)
        return;
    struct str q = {"", 0};
    http_params_get(&r->params, "query", &q);
    struct promql_ast *ast = NULL;
    struct promql_error perr;
    char msg[PROM_ERR_MAX], full[PROM_ERR_MAX + 64];
    int rc = promql_parse(q.ptr, q.len, NULL, &ast, &perr);
    if (rc == ERR_INVALID) {
        promql_error_format(&perr, q.ptr, q.len, msg, sizeof msg);
        prom_invalid_param(full, sizeof full, "query", msg);
        prom_reply_error(x, PROM_ERR_BAD_DATA, full);
        prom_req_free(r);
        return;
    }
    struct buf printed;
    buf_init(&printed);
    if (rc == 0)
        rc = promql_prettify(ast->root, &printed);
    promql_ast_destroy(ast);
    struct jsonw w;
    jsonw_init(&w, &r->out);
    prom_envelope_begin(&w);
    jsonw_str_html(&w, (const char *)printed.data, printed.len);
    prom_envelope_end(&w, NULL);
    buf_deinit(&printed);
    if (rc || jsonw_finish(&w))
        prom_reply_error(x, PROM_ERR_INTERNAL, "out of memory");
    else
        prom_reply_json(x, &r->out);
    prom_req_free(r);
}

/* ---- /api/v1/rules ---- */

/* strata evaluates no rules: an empty list (what Grafana alerting expects of a plain
 * Prometheus without rules). */
void handler_prom_rules(struct http_exchange *x)
{
    struct prom_req *r = prom_req_new(x);
    if (!r)
        return;
    struct str t = {"", 0};
    http_params_get(&r->params, "type", &t);
    bool ok = t.len == 0 || str_eq_cstr(t, "alert") || str_eq_cstr(t, "record");
    prom_req_free(r);
    if (!ok) {
        prom_reply_error(x, PROM_ERR_BAD_DATA, "invalid parameter \"type\": not supported value");
        return;
    }
    buf_reset(x->body_out);
    if (buf_append_str(x->body_out, "{\"status\":\"success\",\"data\":{\"groups\":[]}}"))
        prom_reply_error(x, PROM_ERR_INTERNAL, "out of memory");
    else
        http_reply(x, 200, "application/json");
}

/* ---- /api/v1/status/tsdb ---- */

#define TSDB_STATUS_LIMIT_MAX 10000

static void stat_list(struct jsonw *w, const char *key, const struct query_stat *v, size_t n)
{
    jsonw_key_cstr(w, key);
    jsonw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        jsonw_obj_begin(w);
        jsonw_key_cstr(w, "name");
        jsonw_str_html(w, v[i].name.ptr, v[i].name.len);
        jsonw_key_cstr(w, "value");
        jsonw_uint(w, v[i].value);
        jsonw_obj_end(w);
    }
    jsonw_arr_end(w);
}

static void run_tsdb_status(struct prom_req *r, struct query_job *j)
{
    struct query_head_stats s;
    int rc = query_head_stats(j, (size_t)r->limit, &s);
    if (rc == ERR_LIMIT) {
        char msg[128];
        snprintf(msg, sizeof msg,
                 "head statistics: a shard holds more label pairs than --query.max-stats-pairs "
                 "(%u)",
                 query_job_config(j)->stats_pairs_max);
        prom_fail(r, PROM_ERR_EXECUTION, msg);
        return;
    }
    if (rc) {
        prom_fail_rc(r, rc, "head statistics");
        return;
    }
    struct jsonw w;
    jsonw_init(&w, &r->out);
    prom_envelope_begin(&w);
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "headStats");
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "numSeries");
    jsonw_uint(&w, s.num_series);
    jsonw_key_cstr(&w, "numLabelPairs");
    jsonw_uint(&w, s.num_label_pairs);
    jsonw_key_cstr(&w, "chunkCount");
    jsonw_uint(&w, s.chunk_count);
    jsonw_key_cstr(&w, "minTime");
    jsonw_int(&w, s.min_time_ms);
    jsonw_key_cstr(&w, "maxTime");
    jsonw_int(&w, s.max_time_ms);
    jsonw_obj_end(&w);
    stat_list(&w, "seriesCountByMetricName", s.by_metric, s.n_by_metric);
    stat_list(&w, "labelValueCountByLabelName", s.value_count_by_name, s.n_value_count_by_name);
    stat_list(&w, "memoryInBytesByLabelName", s.memory_by_name, s.n_memory_by_name);
    stat_list(&w, "seriesCountByLabelValuePair", s.by_pair, s.n_by_pair);
    jsonw_obj_end(&w);
    query_head_stats_free(&s);
    finish_body(r, &w, NULL);
}

void handler_prom_tsdb_status(struct http_exchange *x)
{
    struct prom_req *r = prom_req_new(x);
    if (!r)
        return;
    struct str v;
    r->limit = 10;
    if (http_params_get(&r->params, "limit", &v) && v.len) {
        char err[PROM_ERR_MAX];
        int64_t l;
        bool ok = v.ptr[0] != '-' && v.ptr[0] != '+' &&
                  prom_parse_limit(v, &l, err, sizeof err) == 0 && l >= 1;
        if (!ok || l > TSDB_STATUS_LIMIT_MAX) {
            prom_reply_error(x, PROM_ERR_BAD_DATA,
                             ok ? "limit must not exceed 10000"
                                : "limit must be a positive number");
            prom_req_free(r);
            return;
        }
        r->limit = l;
    }
    r->run = run_tsdb_status;
    prom_req_start(r, 0);
}
