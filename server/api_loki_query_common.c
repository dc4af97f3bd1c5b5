/* The request life cycle shared by the Loki query API handlers (api_loki_query.h): parameters,
 * tenant, selectors, starting the query job, recording errors on the query thread, the reply on
 * the shard thread (plain-text errors as Loki's WriteError), and shared JSON pieces. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "engine/logql/ast.h"
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

struct loki_req *loki_req_new(struct http_exchange *x)
{
    struct loki_req *r = calloc(1, sizeof *r);
    if (!r) {
        http_reply_text(x, 500, "out of memory");
        return NULL;
    }
    r->x = x;
    r->received_ns = clock_mono_ns();
    http_params_init(&r->params);
    buf_init(&r->out);
    int rc = http_form_params(x, &r->params);
    if (rc == 0)
        return r;
    const char *why = rc == ERR_INVALID ? "invalid URL escape in the parameters"
                      : rc == ERR_LIMIT ? "too many parameters"
                                        : "out of memory";
    http_reply_text(x, rc == ERR_NOMEM ? 500 : 400, why);
    loki_req_free(r);
    return NULL;
}

void loki_req_free(struct loki_req *r)
{
    if (!r)
        return;
    if (r->free_extra)
        r->free_extra(r);
    for (size_t i = 0; i < r->nsets; i++)
        logql_query_destroy(r->sel_q[i]);
    http_params_deinit(&r->params);
    buf_deinit(&r->out);
    free(r);
}

bool loki_bad(struct loki_req *r, const char *msg)
{
    http_reply_text(r->x, 400, msg);
    return false;
}

struct str loki_param(const struct loki_req *r, const char *name)
{
    struct str v = {"", 0};
    if (!http_params_get(&r->params, name, &v) || !v.ptr)
        v = (struct str){"", 0};
    return v;
}

bool loki_param_bounds(struct loki_req *r)
{
    char err[LOKI_ERR_MAX];
    if (loki_parse_bounds(loki_param(r, "start"), loki_param(r, "end"), loki_param(r, "since"),
                          clock_real_ns(), &r->start_ns, &r->end_ns, err, sizeof err))
        return loki_bad(r, err);
    return true;
}

bool loki_param_selector(struct loki_req *r, struct str s, bool strict)
{
    if (r->nsets == LOKI_MATCH_MAX)
        return loki_bad(r, "too many selectors");
    char err[LOKI_ERR_MAX];
    struct logql_query *q = NULL;
    int rc = logql_parse(s, &q, err, sizeof err);
    if (rc == ERR_NOMEM)
        snprintf(err, sizeof err, "out of memory");
    if (rc)
        return loki_bad(r, err);
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
        http_reply_text(x, r->status, r->err);
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
        http_reply_text(x, 503, "not ready: storage is not open");
        loki_req_free(r);
        return;
    }
    int rc;
    r->job = query_job_start(x->shard->query, tenant, 0, job_run, job_done, r, &rc);
    if (r->job) {
        http_cancel_job_on_abort(x, r->job);
        return;
    }
    http_reply_text(x, rc == ERR_FULL ? 503 : 500,
                    rc == ERR_FULL ? "too many queries waiting for a query thread; retry later"
                                   : "out of memory");
    loki_req_free(r);
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

void loki_write_strings(struct loki_req *r, const struct str *v, size_t n)
{
    struct jsonw w;
    jsonw_init(&w, &r->out);
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "status");
    jsonw_cstr(&w, "success");
    jsonw_key_cstr(&w, "data");
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++)
        jsonw_str(&w, v[i].ptr, v[i].len);
    jsonw_arr_end(&w);
    jsonw_obj_end(&w);
    if (jsonw_finish(&w) != 0)
        loki_fail(r, 500, "out of memory");
}
