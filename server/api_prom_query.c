/* /api/v1/query and /api/v1/query_range (api_prom.h): Prometheus's parameter handling, the PromQL
 * evaluator (engine/promql/eval.h) run on a query thread over the cross-shard storage (every
 * selection fans out to the owning shards, query.h), and the result encodings of api-contract §2.3
 * (web/api/v1 json_codec.go, util/jsonutil, promql.Scalar/String MarshalJSON). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "engine/promql/eval.h"
#include "engine/promql/parse.h"
#include "engine/promql/print.h"
#include "server/api_prom_internal.h"
#include "server/exchange.h"

struct eval_extra {
    struct promql_ast *ast;
    char *query;
    size_t query_len;
    int64_t start_ms, end_ms, step_ms; /* instant: step 0, start == end */
    int64_t lookback_ms;               /* 0: the configured one */
    struct str stats;                  /* the stats parameter */
    int64_t received_ns;
};

/* ---- storage over the fan-out ---- */

static int storage_select(void *ctx, const struct matcher *ms, size_t n, int64_t mint_ms,
                          int64_t maxt_ms, const struct promql_select_hints *hints,
                          struct chunk_series_set **out)
{
    (void)hints;
    const struct matcher *sets[1] = {ms};
    size_t lens[1] = {n};
    struct query_matchsets m = {sets, lens, 1};
    return query_select(ctx, &m, mint_ms, maxt_ms, false, out);
}

/* ---- result encodings ---- */

static void write_hist(struct jsonw *w, const struct promql_hist *h)
{
    jsonw_obj_begin(w);
    jsonw_key_cstr(w, "count");
    jsonw_float_str(w, h->count);
    jsonw_key_cstr(w, "sum");
    jsonw_float_str(w, h->sum);
    struct promql_hist_iter it;
    promql_hist_iter_init(&it, h, false);
    bool any = false;
    while (promql_hist_iter_next(&it)) {
        const struct promql_bucket *b = &it.b;
        if (b->count == 0)
            continue; /* empty buckets are not exposed */
        if (!any) {
            jsonw_key_cstr(w, "buckets");
            jsonw_arr_begin(w);
            any = true;
        }
        int rule = b->lower_incl ? (b->upper_incl ? 3 : 1) : (b->upper_incl ? 0 : 2);
        jsonw_arr_begin(w);
        jsonw_int(w, rule);
        jsonw_float_str(w, b->lower);
        jsonw_float_str(w, b->upper);
        jsonw_float_str(w, b->count);
        jsonw_arr_end(w);
    }
    if (any)
        jsonw_arr_end(w);
    jsonw_obj_end(w);
}

static void write_metric(struct jsonw *w, const struct promql_lset *ls)
{
    jsonw_key_cstr(w, "metric");
    prom_json_labels(w, ls->l, ls->n);
}

static void write_vector(struct jsonw *w, const struct promql_result *res, size_t n)
{
    jsonw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        const struct promql_series *s = &res->series[i];
        jsonw_obj_begin(w);
        write_metric(w, s->labels);
        jsonw_key_cstr(w, s->nfloats ? "value" : "histogram");
        jsonw_arr_begin(w);
        if (s->nfloats) {
            jsonw_ts_ms_prom(w, s->floats[0].t);
            jsonw_float_str(w, s->floats[0].v);
        } else if (s->nhists) {
            jsonw_ts_ms_prom(w, s->hists[0].t);
            write_hist(w, s->hists[0].h);
        }
        jsonw_arr_end(w);
        jsonw_obj_end(w);
    }
    jsonw_arr_end(w);
}

static void write_matrix(struct jsonw *w, const struct promql_result *res, size_t n)
{
    jsonw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        const struct promql_series *s = &res->series[i];
        jsonw_obj_begin(w);
        write_metric(w, s->labels);
        if (s->nfloats) {
            jsonw_key_cstr(w, "values");
            jsonw_arr_begin(w);
            for (size_t k = 0; k < s->nfloats; k++) {
                jsonw_arr_begin(w);
                jsonw_ts_ms_prom(w, s->floats[k].t);
                jsonw_float_str(w, s->floats[k].v);
                jsonw_arr_end(w);
            }
            jsonw_arr_end(w);
        }
        if (s->nhists) {
            jsonw_key_cstr(w, "histograms");
            jsonw_arr_begin(w);
            for (size_t k = 0; k < s->nhists; k++) {
                jsonw_arr_begin(w);
                jsonw_ts_ms_prom(w, s->hists[k].t);
                write_hist(w, s->hists[k].h);
                jsonw_arr_end(w);
            }
            jsonw_arr_end(w);
        }
        jsonw_obj_end(w);
    }
    jsonw_arr_end(w);
}

/* promql.Scalar and promql.String: [<t as a Go float64>, "<value>"]. */
static void write_scalar(struct jsonw *w, const struct promql_result *res, struct buf *tmp)
{
    jsonw_arr_begin(w);
    jsonw_float(w, (double)res->t / 1000);
    buf_reset(tmp);
    if (res->type == PROMQL_RESULT_SCALAR) {
        if (promql_format_float(tmp, res->scalar) != 0)
            buf_reset(tmp);
        jsonw_str(w, (const char *)tmp->data, tmp->len);
    } else {
        jsonw_str_html(w, res->str.ptr, res->str.len);
    }
    jsonw_arr_end(w);
}

static const char *result_type(enum promql_result_type t)
{
    switch (t) {
    case PROMQL_RESULT_SCALAR: return "scalar";
    case PROMQL_RESULT_VECTOR: return "vector";
    case PROMQL_RESULT_MATRIX: return "matrix";
    default: return "string";
    }
}

static void write_stats(struct jsonw *w, const struct eval_extra *e, struct query_job *j,
                        const struct promql_result *res, int64_t eval_ns, int64_t queue_ns)
{
    jsonw_key_cstr(w, "stats");
    jsonw_obj_begin(w);
    jsonw_key_cstr(w, "timings");
    jsonw_obj_begin(w);
    const char *keys[] = {"evalTotalTime", "resultSortTime", "queryPreparationTime",
                          "innerEvalTime", "execQueueTime",  "execTotalTime"};
    double vals[] = {
        eval_ns / 1e9, 0, 0, eval_ns / 1e9, queue_ns / 1e9, (eval_ns + queue_ns) / 1e9};
    for (int i = 0; i < 6; i++) {
        jsonw_key_cstr(w, keys[i]);
        jsonw_float(w, vals[i]);
    }
    jsonw_obj_end(w);
    jsonw_key_cstr(w, "samples");
    jsonw_obj_begin(w);
    uint64_t loaded = query_job_samples_loaded(j);
    jsonw_key_cstr(w, "totalQueryableSamples");
    jsonw_uint(w, loaded);
    jsonw_key_cstr(w, "samplesRead");
    jsonw_uint(w, loaded);
    jsonw_key_cstr(w, "peakSamples");
    jsonw_int(w, res->samples_peak);
    jsonw_obj_end(w);
    jsonw_obj_end(w);
    (void)e;
}

static void write_result(struct prom_req *r, struct query_job *j, const struct promql_result *res,
                         int64_t eval_ns, int64_t queue_ns)
{
    const struct eval_extra *e = r->extra;
    struct prom_annos a = {0};
    for (size_t i = 0; i < res->nannos; i++)
        prom_annos_add(&a, res->annos[i].warning, res->annos[i].text);
    size_t n = res->nseries;
    bool series = res->type == PROMQL_RESULT_VECTOR || res->type == PROMQL_RESULT_MATRIX;
    if (series && r->limit > 0 && n > (size_t)r->limit) {
        n = (size_t)r->limit;
        prom_annos_add(&a, true, "results truncated due to limit");
    }
    char stats_warn[PROM_ERR_MAX];
    struct str st = e->stats;
    if (st.len && !str_eq_cstr(st, "true") && !str_eq_cstr(st, "all")) {
        snprintf(stats_warn, sizeof stats_warn,
                 "value \"%.*s\" for parameter \"stats\" is deprecated and will be rejected in "
                 "the next major release, use \"true\" or \"all\"",
                 (int)(st.len > 100 ? 100 : st.len), st.ptr);
        prom_annos_add(&a, true, stats_warn);
    }
    struct buf tmp;
    buf_init(&tmp);
    struct jsonw w;
    jsonw_init(&w, &r->out);
    prom_envelope_begin(&w);
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "resultType");
    jsonw_cstr(&w, result_type(res->type));
    jsonw_key_cstr(&w, "result");
    if (res->type == PROMQL_RESULT_VECTOR)
        write_vector(&w, res, n);
    else if (res->type == PROMQL_RESULT_MATRIX)
        write_matrix(&w, res, n);
    else
        write_scalar(&w, res, &tmp);
    if (st.len)
        write_stats(&w, e, j, res, eval_ns, queue_ns);
    jsonw_obj_end(&w);
    prom_envelope_end(&w, &a);
    buf_deinit(&tmp);
    if (jsonw_finish(&w) != 0)
        prom_fail(r, PROM_ERR_INTERNAL, "out of memory");
}

/* ---- evaluation (query thread) ---- */

static void eval_failed(struct prom_req *r, struct query_job *j, int rc, const char *err)
{
    int jrc = query_job_check(j);
    if (jrc == -ECANCELED || rc == -ECANCELED) {
        prom_fail(r, PROM_ERR_CANCELED, "query was canceled in expression evaluation");
        return;
    }
    if (jrc == -ETIMEDOUT || rc == -ETIMEDOUT) {
        prom_fail(r, PROM_ERR_TIMEOUT, "query timed out in expression evaluation");
        return;
    }
    prom_fail(r, prom_error_type_of(rc), err[0] ? err : err_str(rc));
}

static int job_check(void *arg)
{
    return query_job_check(arg);
}

static void run_eval(struct prom_req *r, struct query_job *j)
{
    const struct eval_extra *e = r->extra;
    const struct query_config *cfg = query_job_config(j);
    struct promql_engine_opts o;
    promql_engine_opts_default(&o);
    o.lookback_ms = e->lookback_ms > 0 ? e->lookback_ms : cfg->lookback_ms;
    o.max_samples = cfg->max_samples;
    o.max_series = cfg->max_series;
    int64_t now = clock_mono_ns();
    int64_t left_ms = (query_job_deadline_ns(j) - now) / 1000000;
    o.timeout_ms = left_ms > 0 ? left_ms : 1;
    o.cancel_check = job_check;
    o.cancel_arg = j;
    struct promql_storage st = {.select = storage_select, .ctx = j};
    struct promql_result *res = NULL;
    char err[PROM_ERR_MAX] = "";
    int rc = promql_eval(&st, e->ast, e->query, e->query_len, &o, e->start_ms, e->end_ms,
                         e->step_ms, &res, err, sizeof err);
    int64_t eval_ns = clock_mono_ns() - now;
    if (rc == 0 && query_job_check(j) != 0) {
        /* the evaluator finished past the deadline (or after a cancel): answer as Prometheus,
         * whose context would have stopped it */
        promql_result_free(res);
        rc = query_job_check(j);
    }
    if (rc) {
        eval_failed(r, j, rc, err);
        return;
    }
    write_result(r, j, res, eval_ns, now - e->received_ns);
    promql_result_free(res);
}

/* ---- handlers (shard thread) ---- */

static void free_eval(struct prom_req *r)
{
    struct eval_extra *e = r->extra;
    if (!e)
        return;
    promql_ast_destroy(e->ast);
    free(e->query);
    free(e);
}

static void bad(struct prom_req *r, const char *param, const char *msg)
{
    char out[PROM_ERR_MAX + 64];
    if (param)
        prom_invalid_param(out, sizeof out, param, msg);
    else
        snprintf(out, sizeof out, "%s", msg);
    prom_reply_error(r->x, PROM_ERR_BAD_DATA, out);
}

/* timeout (ms, 0: none given) and lookback_delta; answers 400 on errors. */
static bool common_params(struct prom_req *r, struct eval_extra *e, int64_t *timeout_ms)
{
    char err[PROM_ERR_MAX], msg[PROM_ERR_MAX + 64];
    struct str v;
    int64_t ns;
    *timeout_ms = 0;
    if (http_params_get(&r->params, "timeout", &v) && v.len) {
        if (prom_parse_duration(v, &ns, err, sizeof err)) {
            bad(r, "timeout", err);
            return false;
        }
        *timeout_ms = ns >= 1000000 ? ns / 1000000 : 1; /* <= 0: expires at once */
    }
    if (http_params_get(&r->params, "lookback_delta", &v) && v.len) {
        if (prom_parse_duration(v, &ns, err, sizeof err)) {
            snprintf(msg, sizeof msg, "error parsing lookback delta duration: %s", err);
            bad(r, NULL, msg);
            return false;
        }
        e->lookback_ms = ns / 1000000;
    }
    http_params_get(&r->params, "stats", &e->stats);
    return true;
}

/* Parses `query` into e; answers 400 on errors. */
static bool query_param(struct prom_req *r, struct eval_extra *e)
{
    struct str q = {"", 0};
    http_params_get(&r->params, "query", &q);
    struct promql_error perr;
    int rc = promql_parse(q.ptr, q.len, NULL, &e->ast, &perr);
    if (rc) {
        char msg[PROM_ERR_MAX];
        if (rc == ERR_INVALID)
            promql_error_format(&perr, q.ptr, q.len, msg, sizeof msg);
        else
            snprintf(msg, sizeof msg, "out of memory");
        bad(r, "query", msg);
        return false;
    }
    e->query = malloc(q.len + 1);
    if (!e->query) {
        prom_reply_error(r->x, PROM_ERR_INTERNAL, "out of memory");
        return false;
    }
    if (q.len)
        memcpy(e->query, q.ptr, q.len);
    e->query[q.len] = 0;
    e->query_len = q.len;
    return true;
}

static struct prom_req *eval_req(struct http_exchange *x)
{
    struct prom_req *r = prom_req_new(x);
    if (!r)
        return NULL;
    struct eval_extra *e = calloc(1, sizeof *e);
    if (!e) {
        prom_reply_error(x, PROM_ERR_INTERNAL, "out of memory");
        prom_req_free(r);
        return NULL;
    }
    e->received_ns = clock_mono_ns();
    r->extra = e;
    r->free_extra = free_eval;
    r->run = run_eval;
    return r;
}

void handler_prom_query(struct http_exchange *x)
{
    struct prom_req *r = eval_req(x);
    if (!r)
        return;
    struct eval_extra *e = r->extra;
    int64_t t, timeout_ms;
    if (!prom_param_limit(r, &r->limit) || !prom_param_time(r, "time", clock_real_ms(), &t) ||
        !common_params(r, e, &timeout_ms) || !query_param(r, e)) {
        prom_req_free(r);
        return;
    }
    e->start_ms = e->end_ms = t;
    e->step_ms = 0;
    prom_req_start(r, timeout_ms);
}

/* start, end and step of a range query; answers 400 on errors. */
static bool range_params(struct prom_req *r, struct eval_extra *e)
{
    char err[PROM_ERR_MAX];
    static const char *const names[] = {"start", "end"};
    int64_t *dst[] = {&e->start_ms, &e->end_ms};
    for (int i = 0; i < 2; i++) {
        struct str v = {"", 0};
        http_params_get(&r->params, names[i], &v);
        if (prom_parse_time(v, dst[i], err, sizeof err)) {
            bad(r, names[i], err);
            return false;
        }
    }
    if (e->end_ms < e->start_ms) {
        bad(r, "end", "end timestamp must not be before start time");
        return false;
    }
    struct str v = {"", 0};
    int64_t step_ns;
    http_params_get(&r->params, "step", &v);
    if (prom_parse_duration(v, &step_ns, err, sizeof err)) {
        bad(r, "step", err);
        return false;
    }
    if (step_ns <= 0) {
        bad(r, "step",
            "zero or negative query resolution step widths are not accepted. Try a positive "
            "integer");
        return false;
    }
    if (prom_range_too_many_points(e->start_ms, e->end_ms, step_ns)) {
        bad(r, NULL,
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
            "query resolution (?step=XX)");
        return false;
    }
    e->step_ms = step_ns >= 1000000 ? step_ns / 1000000 : 1;
    return true;
}

void handler_prom_query_range(struct http_exchange *x)
{
    struct prom_req *r = eval_req(x);
    if (!r)
        return;
    struct eval_extra *e = r->extra;
    int64_t timeout_ms;
    if (!prom_param_limit(r, &r->limit) || !range_params(r, e) ||
        !common_params(r, e, &timeout_ms) || !query_param(r, e)) {
        prom_req_free(r);
        return;
    }
    prom_req_start(r, timeout_ms);
}
