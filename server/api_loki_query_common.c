/* The one request life cycle of the Loki API handlers (api_loki_query.h): parameters, tenant,
 * the query and selectors, starting the query job, recording errors on the query thread, the
 * reply on the shard thread (plain-text errors as Loki's WriteError), scans of a log query's
 * entries, and shared JSON pieces. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "engine/logql/ast.h"
#include "engine/logql/eval.h"
#include "engine/logql/parse.h"
#include "server/api_loki_query.h"
#include "server/exchange.h"
#include "server/shard.h"
#include "server/tenant.h"

#define ERR_CANCELED_MSG "the request was cancelled by the client"
#define ERR_TIMEOUT_MSG                                                                            \
    "request timed out, decrease the duration of the request or add more label matchers (prefer "  \
    "exact match over regex match) to reduce the amount of data processed"

/* ---- requests ---- */

struct loki_req *loki_req_new(struct http_exchange *x, loki_run_fn run, size_t extra_size)
{
    struct loki_req *r = calloc(1, sizeof *r);
    void *extra = extra_size ? calloc(1, extra_size) : NULL;
    if (!r || (extra_size && !extra)) {
        free(r);
        free(extra);
        http_reply_error(x, 500, "out of memory");
        return NULL;
    }
    r->x = x;
    r->run = run;
    r->extra = extra;
    r->received_ns = clock_mono_ns();
    http_params_init(&r->params);
    buf_init(&r->out);
    int rc = http_form_params(x, &r->params);
    if (rc == 0)
        return r;
    const char *why = rc == ERR_INVALID ? "invalid URL escape in the parameters"
                      : rc == ERR_LIMIT ? "too many parameters"
                                        : "out of memory";
    http_reply_error(x, rc == ERR_NOMEM ? 500 : 400, why);
    loki_req_free(r);
    return NULL;
}

void loki_req_free(struct loki_req *r)
{
    if (!r)
        return;
    if (r->free_extra)
        r->free_extra(r);
    free(r->extra);
    logql_query_destroy(r->q);
    for (size_t i = 0; i < r->nsets; i++)
        logql_query_destroy(r->sel_q[i]);
    http_params_deinit(&r->params);
    buf_deinit(&r->out);
    free(r);
}

bool loki_bad(struct loki_req *r, const char *msg)
{
    http_reply_error(r->x, 400, msg);
    return false;
}

struct str loki_param(const struct loki_req *r, const char *name)
{
    struct str v = {"", 0};
    if (!http_params_get(&r->params, name, &v) || !v.ptr)
        v = (struct str){"", 0};
    return v;
}

/* ---- parameters ---- */

bool loki_param_bounds(struct loki_req *r, bool ordered)
{
    char err[LOKI_ERR_MAX];
    if (loki_parse_bounds(loki_param(r, "start"), loki_param(r, "end"), loki_param(r, "since"),
                          clock_real_ns(), &r->start_ns, &r->end_ns, err, sizeof err))
        return loki_bad(r, err);
    if (ordered && r->end_ns < r->start_ns)
        return loki_bad(r, "end timestamp must not be before or equal to start time");
    return true;
}

bool loki_param_limit(struct loki_req *r, const char *name, uint32_t dflt, uint32_t *out)
{
    char err[LOKI_ERR_MAX];
    if (loki_parse_limit(loki_param(r, name), dflt, out, err, sizeof err))
        return loki_bad(r, err);
    return true;
}

bool loki_param_duration(struct loki_req *r, const char *name, int64_t *ns)
{
    char err[LOKI_ERR_MAX];
    struct str v = loki_param(r, name);
    if (v.len && loki_parse_duration(v, ns, err, sizeof err))
        return loki_bad(r, err);
    return true;
}

bool loki_param_step(struct loki_req *r, int64_t *ns)
{
    *ns = loki_default_step_ns(r->start_ns, r->end_ns);
    if (!loki_param_duration(r, "step", ns))
        return false;
    if (*ns <= 0)
        return loki_bad(r, "zero or negative query resolution step widths are not accepted. "
                           "Try a positive integer");
    if (((__int128)r->end_ns - r->start_ns) / *ns > LOKI_MAX_POINTS)
        return loki_bad(r, "exceeded maximum resolution of 11,000 points per time series. Try "
                           "increasing the value of the step parameter");
    return true;
}

/* logql_parse into *q; answers 400 (500 out of memory) on errors. */
static bool parse_logql(struct loki_req *r, struct str s, struct logql_query **q)
{
    char err[LOKI_ERR_MAX];
    *q = NULL;
    int rc = logql_parse(s, q, err, sizeof err);
    if (rc == 0)
        return true;
    *q = NULL;
    if (rc == ERR_NOMEM) {
        http_reply_error(r->x, 500, "out of memory");
        return false;
    }
    return loki_bad(r, err);
}

bool loki_param_query(struct loki_req *r, unsigned flags)
{
    struct str s = loki_param(r, "query");
    if (s.len == 0 && (flags & LOKI_QUERY_REQUIRED))
        return loki_bad(r, "query parameter is required");
    if (s.len == 0 && (flags & LOKI_QUERY_OPTIONAL))
        return true;
    if (!parse_logql(r, s, &r->q))
        return false;
    if ((flags & LOKI_QUERY_LOG) && r->q->root->kind != LOGQL_EXPR_LOG)
        return loki_bad(r, "only log queries are supported");
    return true;
}

bool loki_param_selector(struct loki_req *r, struct str s, bool strict)
{
    if (r->nsets == LOKI_MATCH_MAX)
        return loki_bad(r, "too many selectors");
    struct logql_query *q;
    if (!parse_logql(r, s, &q))
        return false;
    const struct logql_expr *e = q->root;
    if (e->kind != LOGQL_EXPR_LOG || (strict && e->sel.n_stages)) {
        logql_query_destroy(q);
        return loki_bad(r, "only label matchers are supported");
    }
    r->sel_q[r->nsets] = q;
    r->sets[r->nsets] = e->sel.matchers;
    r->lens[r->nsets] = e->sel.n_matchers;
    r->nsets++;
    return true;
}

struct query_matchsets loki_req_matchsets(const struct loki_req *r)
{
    return (struct query_matchsets){r->sets, r->lens, r->nsets};
}

/* ---- the job ---- */

void loki_fail(struct loki_req *r, int status, const char *msg)
{
    if (r->failed)
        return;
    r->failed = true;
    r->status = status;
    snprintf(r->err, sizeof r->err, "%s", msg);
}

void loki_fail_rc(struct loki_req *r, int rc, const char *msg)
{
    if (rc == -ECANCELED || rc == ERR_CLOSED)
        loki_fail(r, 499, ERR_CANCELED_MSG);
    else if (rc == -ETIMEDOUT)
        loki_fail(r, 504, ERR_TIMEOUT_MSG);
    else if (rc == ERR_INVALID || rc == ERR_LIMIT)
        loki_fail(r, 400, msg && msg[0] ? msg : err_str(rc));
    else
        loki_fail(r, 500, msg && msg[0] ? msg : err_str(rc));
}

static void job_run(struct query_job *j, void *arg)
{
    struct loki_req *r = arg;
    int rc = query_job_check(j);
    if (rc) {
        loki_fail_rc(r, rc, NULL);
        return;
    }
    r->run(r, j);
    if (!r->failed && (rc = query_job_check(j)) != 0)
        loki_fail_rc(r, rc, NULL); /* finished past the deadline or after a cancel */
}

static void job_done(struct query_job *j, void *arg)
{
    (void)j;
    struct loki_req *r = arg;
    struct http_exchange *x = r->x;
    if (r->failed) {
        http_reply_error(x, r->status, r->err);
    } else {
        struct buf t = *x->body_out;
        *x->body_out = r->out;
        r->out = t;
        http_reply(x, 200, "application/json; charset=utf-8");
    }
    loki_req_free(r);
}

void loki_req_start(struct loki_req *r)
{
    struct http_exchange *x = r->x;
    struct str tenant;
    if (!tenant_from_request(x, &tenant)) {
        loki_req_free(r);
        return;
    }
    if (!x->shard->query) {
        http_reply_error(x, 503, "not ready: storage is not open");
        loki_req_free(r);
        return;
    }
    int rc;
    r->job = query_job_start(x->shard->query, tenant, 0, job_run, job_done, r, &rc);
    if (r->job) {
        http_cancel_job_on_abort(x, r->job);
        return;
    }
    http_reply_error(x, rc == ERR_FULL ? 503 : 500,
                     rc == ERR_FULL ? "too many queries waiting for a query thread; retry later"
                                    : "out of memory");
    loki_req_free(r);
}

void loki_req_submit(struct loki_req *r, bool ok)
{
    if (ok)
        loki_req_start(r);
    else
        loki_req_free(r);
}

int loki_grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *nv = realloc(*v, ncap * size);
    if (!nv)
        return ERR_NOMEM;
    *v = nv;
    *cap = ncap;
    return 0;
}

/* ---- scans ---- */

int loki_scan_run(struct query_job *j, const struct loki_scan *s)
{
    const struct logql_source_ops *ops = query_log_source_ops();
    struct query_log_source src = {.job = j};
    struct logql_select_req req = {
        .matchers = s->q->root->sel.matchers,
        .n_matchers = s->q->root->sel.n_matchers,
        .start_ns = s->start_ns,
        .end_ns = s->end_ns,
        .backward = s->backward,
    };
    void *it = NULL;
    int rc = ops->select(&src, &req, &it);
    uint32_t kept = 0;
    while (rc == 0 && kept < s->max_kept) {
        struct logql_entry e;
        int n = ops->next(it, &e);
        if (n <= 0) {
            rc = n;
            break;
        }
        struct logql_result res;
        int k = logql_pipeline_process(s->pipe, &e, 0, &res);
        if (k < 0)
            rc = k;
        else if (k == 1 && ++kept)
            rc = s->fn(s->arg, &e, &res);
    }
    if (it)
        ops->close(it);
    return rc == LOKI_SCAN_STOP ? 0 : rc;
}

int loki_req_scan(struct loki_req *r, struct query_job *j, uint32_t max_kept, loki_entry_fn fn,
                  void *arg)
{
    struct loki_scan s = {.q = r->q,
                          .start_ns = r->start_ns,
                          .end_ns = r->end_ns,
                          .backward = true,
                          .max_kept = max_kept,
                          .fn = fn,
                          .arg = arg};
    char err[LOKI_ERR_MAX];
    int rc = logql_pipeline_compile_expr(r->q->root, NULL, &s.pipe, err, sizeof err);
    if (rc) {
        loki_fail(r, 400, err);
        return rc;
    }
    rc = loki_scan_run(j, &s);
    logql_pipeline_destroy(s.pipe);
    return rc;
}

/* ---- JSON ---- */

void loki_json_labels(struct jsonw *w, const struct label *ls, size_t n)
{
    jsonw_obj_begin(w);
    for (size_t i = 0; i < n; i++) {
        jsonw_key(w, ls[i].name.ptr, ls[i].name.len);
        jsonw_str(w, ls[i].value.ptr, ls[i].value.len);
    }
    jsonw_obj_end(w);
}

/* Go's strconv.FormatFloat(v, 'f', -1, 64): the shortest digits that round-trip, in fixed
 * notation. */
static size_t format_f(double v, char *out, size_t size)
{
    char e[40];
    int p = 1;
    for (; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    /* e = [-]d[.ddd]e[+-]xx: digits and exponent */
    char digs[24];
    size_t nd = 0;
    const char *c = e;
    bool neg = *c == '-';
    if (neg)
        c++;
    for (; *c && *c != 'e'; c++)
        if (*c >= '0' && *c <= '9')
            digs[nd++] = *c;
    int exp = atoi(c + 1);
    size_t k = 0;
    if (neg)
        out[k++] = '-';
    if (exp < 0) {
        out[k++] = '0';
        out[k++] = '.';
        for (int z = 0; z < -exp - 1 && k < size - 2; z++)
            out[k++] = '0';
        for (size_t i = 0; i < nd && k < size - 1; i++)
            out[k++] = digs[i];
    } else {
        for (int i = 0; i <= exp && k < size - 2; i++)
            out[k++] = (size_t)i < nd ? digs[i] : '0';
        if (nd > (size_t)exp + 1) {
            out[k++] = '.';
            for (size_t i = (size_t)exp + 1; i < nd && k < size - 1; i++)
                out[k++] = digs[i];
        }
    }
    out[k] = 0;
    return k;
}

void loki_json_value(struct jsonw *w, double v)
{
    char b[400];
    if (isnan(v))
        jsonw_cstr(w, "NaN");
    else if (isinf(v))
        jsonw_cstr(w, v > 0 ? "+Inf" : "-Inf");
    else if (v == 0)
        jsonw_cstr(w, signbit(v) ? "-0" : "0");
    else
        jsonw_str(w, b, format_f(v, b, sizeof b));
}

void loki_json_begin(struct loki_req *r, struct jsonw *w)
{
    jsonw_init(w, &r->out);
    jsonw_obj_begin(w);
    jsonw_key_cstr(w, "status");
    jsonw_cstr(w, "success");
    jsonw_key_cstr(w, "data");
}

void loki_json_end(struct loki_req *r, struct jsonw *w)
{
    jsonw_obj_end(w);
    loki_json_finish(r, w);
}

void loki_json_finish(struct loki_req *r, struct jsonw *w)
{
    if (jsonw_finish(w) != 0)
        loki_fail(r, 500, "out of memory");
}

void loki_write_strings(struct loki_req *r, const struct str *v, size_t n)
{
    struct jsonw w;
    loki_json_begin(r, &w);
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++)
        jsonw_str(&w, v[i].ptr, v[i].len);
    jsonw_arr_end(&w);
    loki_json_end(r, &w);
}
