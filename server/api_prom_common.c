/* The request life cycle shared by the Prometheus API handlers (api_prom_internal.h): parameters,
 * tenant, match[] selectors, starting the query job, recording errors on the query thread, and the
 * reply on the shard thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/promql/ast.h"
#include "engine/promql/parse.h"
#include "server/api_prom_internal.h"
#include "server/exchange.h"
#include "server/server.h"
#include "server/shard.h"
#include "server/tenant.h"

/* ---- replies (shard thread) ---- */

void prom_reply_error(struct http_exchange *x, enum prom_error_type t, const char *msg)
{
    int status = prom_error_status(t);
    if (prom_error_body(x->body_out, t, msg) != 0) {
        buf_reset(x->body_out);
        status = 500;
    }
    http_reply(x, status, "application/json");
}

void prom_reply_json(struct http_exchange *x, struct buf *b)
{
    struct buf t = *x->body_out;
    *x->body_out = *b;
    *b = t;
    http_reply(x, 200, "application/json");
}

/* ---- requests ---- */

struct prom_req *prom_req_new(struct http_exchange *x)
{
    struct prom_req *r = calloc(1, sizeof *r);
    if (!r) {
        prom_reply_error(x, PROM_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    r->x = x;
    http_params_init(&r->params);
    buf_init(&r->out);
    int rc = http_form_params(x, &r->params);
    if (rc == 0)
        return r;
    const char *why = rc == ERR_INVALID ? "error parsing form values: invalid URL escape"
                      : rc == ERR_LIMIT ? "error parsing form values: too many parameters"
                                        : "out of memory";
    prom_reply_error(x, rc == ERR_NOMEM ? PROM_ERR_INTERNAL : PROM_ERR_BAD_DATA, why);
    prom_req_free(r);
    return NULL;
}

void prom_req_free(struct prom_req *r)
{
    if (!r)
        return;
    if (r->free_extra)
        r->free_extra(r);
    for (size_t i = 0; i < r->nmatch; i++)
        promql_ast_destroy(r->match_asts[i]);
    http_params_deinit(&r->params);
    buf_deinit(&r->out);
    free(r);
}

/* ---- parameters ---- */

static void bad_param(struct prom_req *r, const char *param, const char *msg)
{
    char out[PROM_ERR_MAX + 64];
    prom_invalid_param(out, sizeof out, param, msg);
    prom_reply_error(r->x, PROM_ERR_BAD_DATA, out);
}

bool prom_param_time(struct prom_req *r, const char *name, int64_t dflt, int64_t *ms)
{
    struct str v;
    if (!http_params_get(&r->params, name, &v) || v.len == 0) {
        *ms = dflt;
        return true;
    }
    char err[PROM_ERR_MAX], msg[PROM_ERR_MAX + 64];
    if (prom_parse_time(v, ms, err, sizeof err) == 0)
        return true;
    snprintf(msg, sizeof msg, "invalid time value for '%s': %s", name, err);
    bad_param(r, name, msg);
    return false;
}

bool prom_param_limit(struct prom_req *r, int64_t *limit)
{
    struct str v = {"", 0};
    http_params_get(&r->params, "limit", &v);
    char err[PROM_ERR_MAX];
    if (prom_parse_limit(v, limit, err, sizeof err) == 0)
        return true;
    bad_param(r, "limit", err);
    return false;
}

/* Parses one match[] value into a vector selector's matchers; false with msg on errors. */
static bool parse_selector(struct prom_req *r, struct str v, char *msg, size_t n)
{
    struct promql_ast *ast = NULL;
    struct promql_error perr;
    int rc = promql_parse(v.ptr, v.len, NULL, &ast, &perr);
    if (rc == ERR_INVALID) {
        promql_error_format(&perr, v.ptr, v.len, msg, n);
        return false;
    }
    if (rc) {
        snprintf(msg, n, "out of memory");
        return false;
    }
    const struct promql_node *root = ast->root;
    if (root->kind != PROMQL_VECTOR_SELECTOR || root->vs.offset_ms || root->vs.offset_expr ||
        root->vs.at.kind != PROMQL_AT_NONE || root->vs.anchored || root->vs.smoothed) {
        promql_ast_destroy(ast);
        snprintf(msg, n, "1:1: parse error: expected a metric selector, got %.*s",
                 (int)(v.len > 200 ? 200 : v.len), v.ptr);
        return false;
    }
    bool nonempty = false;
    for (uint32_t i = 0; i < root->vs.nmatchers; i++)
        nonempty |= !matcher_matches_empty(&root->vs.matchers[i]);
    if (!nonempty) {
        promql_ast_destroy(ast);
        snprintf(msg, n, "match[] must contain at least one non-empty matcher");
        return false;
    }
    r->match_asts[r->nmatch] = ast;
    r->match_sets[r->nmatch] = root->vs.matchers;
    r->match_lens[r->nmatch] = root->vs.nmatchers;
    r->nmatch++;
    return true;
}

bool prom_param_matchers(struct prom_req *r, bool required, const char *param_name)
{
    struct str vals[PROM_MATCH_MAX];
    size_t n = http_params_get_all(&r->params, "match[]", vals, PROM_MATCH_MAX);
    if (n > PROM_MATCH_MAX) {
        char msg[96];
        snprintf(msg, sizeof msg, "too many match[] parameters (at most %d)", PROM_MATCH_MAX);
        prom_reply_error(r->x, PROM_ERR_BAD_DATA, msg);
        return false;
    }
    if (required && n == 0) {
        prom_reply_error(r->x, PROM_ERR_BAD_DATA, "no match[] parameter provided");
        return false;
    }
    char msg[PROM_ERR_MAX];
    for (size_t i = 0; i < n; i++) {
        if (parse_selector(r, vals[i], msg, sizeof msg))
            continue;
        if (param_name)
            bad_param(r, param_name, msg);
        else
            prom_reply_error(r->x, PROM_ERR_BAD_DATA, msg);
        return false;
    }
    return true;
}

struct query_matchsets prom_req_matchsets(const struct prom_req *r)
{
    return (struct query_matchsets){r->match_sets, r->match_lens, r->nmatch};
}

/* ---- the job ---- */

void prom_fail(struct prom_req *r, enum prom_error_type t, const char *msg)
{
    if (r->failed)
        return;
    r->failed = true;
    r->etype = t;
    snprintf(r->err, sizeof r->err, "%s", msg);
}

void prom_fail_rc(struct prom_req *r, int rc, const char *what)
{
    char msg[PROM_ERR_MAX];
    if (rc == -ETIMEDOUT)
        snprintf(msg, sizeof msg, "query timed out");
    else if (rc == -ECANCELED)
        snprintf(msg, sizeof msg, "context canceled");
    else
        snprintf(msg, sizeof msg, "%s: %s", what, err_str(rc));
    prom_fail(r, prom_error_type_of(rc), msg);
}

static void job_run(struct query_job *j, void *arg)
{
    struct prom_req *r = arg;
    int rc = query_job_check(j);
    if (rc) {
        prom_fail_rc(r, rc, "query");
        return;
    }
    r->run(r, j);
}

static void job_done(struct query_job *j, void *arg)
{
    (void)j;
    struct prom_req *r = arg;
    if (r->failed)
        prom_reply_error(r->x, r->etype, r->err);
    else
        prom_reply_json(r->x, &r->out);
    prom_req_free(r);
}

void prom_req_start(struct prom_req *r, int64_t timeout_ms)
{
    struct http_exchange *x = r->x;
    struct str tenant;
    if (!tenant_from_request(x, &tenant)) {
        prom_req_free(r);
        return;
    }
    if (!x->shard->query) {
        prom_reply_error(x, PROM_ERR_UNAVAILABLE, "not ready: storage is not open");
        prom_req_free(r);
        return;
    }
    int rc;
    r->job = query_job_start(x->shard->query, tenant, timeout_ms, job_run, job_done, r, &rc);
    if (r->job) {
        http_cancel_job_on_abort(x, r->job); /* the client going away cancels the query */
        return;
    }
    prom_reply_error(x, rc == ERR_FULL ? PROM_ERR_UNAVAILABLE : PROM_ERR_INTERNAL,
                     rc == ERR_FULL ? "too many queries waiting for a query thread; retry later"
                                    : "out of memory");
    prom_req_free(r);
}

/* ---- JSON ---- */

void prom_json_labels(struct jsonw *w, const struct label *ls, size_t n)
{
    jsonw_obj_begin(w);
    for (size_t i = 0; i < n; i++) {
        jsonw_key(w, ls[i].name.ptr, ls[i].name.len);
        jsonw_str(w, ls[i].value.ptr, ls[i].value.len);
    }
    jsonw_obj_end(w);
}
