/* Loki's detected_fields, detected_field/<name>/values and detected_labels (Loki 3.x response
 * shapes), and the request scaffold the tail and patterns handlers share (see api_loki_tail.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "engine/logql/detect.h"
#include "engine/logql/eval.h"
#include "engine/logql/parse.h"
#include "formats/jsonw.h"
#include "server/api_loki.h"
#include "server/api_loki_tail.h"
#include "server/exchange.h"
#include "server/query.h"
#include "server/routes.h"
#include "server/shard.h"
#include "server/tenant.h"

#define JOB_TIMEOUT_MS 0 /* the configured query timeout */

/* ---- the request scaffold -------------------------------------------------------------------- */

struct lx_req *lx_req_new(struct http_exchange *x)
{
    struct lx_req *r = calloc(1, sizeof *r);
    if (!r) {
        http_reply_error(x, 500, "out of memory");
        return NULL;
    }
    r->x = x;
    http_params_init(&r->params);
    buf_init(&r->out);
    int rc = http_form_params(x, &r->params);
    if (rc) {
        http_reply_error(x, rc == ERR_NOMEM ? 500 : 400,
                         rc == ERR_NOMEM ? "out of memory" : "invalid URL or form parameters");
        lx_req_free(r);
        return NULL;
    }
    return r;
}

void lx_req_free(struct lx_req *r)
{
    if (!r)
        return;
    if (r->q)
        logql_query_destroy(r->q);
    free(r->extra);
    http_params_deinit(&r->params);
    buf_deinit(&r->out);
    free(r);
}

static bool bad(struct lx_req *r, const char *msg)
{
    http_reply_error(r->x, 400, msg);
    lx_req_free(r);
    return false;
}

bool lx_param_query(struct lx_req *r, bool required)
{
    struct str qs;
    if (!http_params_get(&r->params, "query", &qs) || qs.len == 0) {
        if (required)
            return bad(r, "query parameter is required");
        return true;
    }
    char err[LX_ERR_MAX];
    if (logql_parse(qs, &r->q, err, sizeof err) != 0) {
        r->q = NULL;
        return bad(r, err);
    }
    if (r->q->root->kind != LOGQL_EXPR_LOG)
        return bad(r, "only log queries are supported");
    return true;
}

bool lx_param_bounds(struct lx_req *r)
{
    struct str s = {"", 0}, e = {"", 0}, since = {"", 0};
    http_params_get(&r->params, "start", &s);
    http_params_get(&r->params, "end", &e);
    http_params_get(&r->params, "since", &since);
    char err[LOKI_ERR_MAX];
    if (loki_parse_bounds(s, e, since, clock_real_ns(), &r->start_ns, &r->end_ns, err, sizeof err))
        return bad(r, err);
    if (r->end_ns < r->start_ns)
        return bad(r, "end timestamp must not be before or equal to start time");
    return true;
}

bool lx_param_u32(struct lx_req *r, const char *name, uint32_t dflt, uint32_t *out)
{
    struct str s;
    *out = dflt;
    if (!http_params_get(&r->params, name, &s) || s.len == 0)
        return true;
    char err[LOKI_ERR_MAX];
    if (loki_parse_limit(s, dflt, out, err, sizeof err))
        return bad(r, err);
    return true;
}

void lx_fail(struct lx_req *r, int status, const char *msg)
{
    if (r->status)
        return;
    r->status = status;
    snprintf(r->err, sizeof r->err, "%s", msg);
}

void lx_fail_rc(struct lx_req *r, int rc)
{
    if (rc == -ECANCELED)
        lx_fail(r, 499, "the request was cancelled by the client");
    else if (rc == -ETIMEDOUT)
        lx_fail(r, 504,
                "request timed out, decrease the duration of the request or add more label "
                "matchers (prefer exact match over regex match) to reduce the amount of data "
                "processed");
    else if (rc == ERR_LIMIT)
        lx_fail(r, 400, "query limit exceeded");
    else
        lx_fail(r, 500, err_str(rc));
}

static void job_run(struct query_job *j, void *arg)
{
    struct lx_req *r = arg;
    int rc = query_job_check(j);
    if (rc) {
        lx_fail_rc(r, rc);
        return;
    }
    r->run(r, j);
}

static void job_done(struct query_job *j, void *arg)
{
    (void)j;
    struct lx_req *r = arg;
    struct http_exchange *x = r->x;
    if (r->status) {
        http_reply_error(x, r->status, r->err);
    } else {
        struct buf t = *x->body_out;
        *x->body_out = r->out;
        r->out = t;
        http_reply(x, 200, "application/json; charset=utf-8");
    }
    lx_req_free(r);
}

void lx_req_start(struct lx_req *r)
{
    struct http_exchange *x = r->x;
    struct str tenant;
    if (!tenant_from_request(x, &tenant)) {
        lx_req_free(r);
        return;
    }
    if (!x->shard->query) {
        http_reply_error(x, 503, "not ready: storage is not open");
        lx_req_free(r);
        return;
    }
    int rc;
    r->job = query_job_start(x->shard->query, tenant, JOB_TIMEOUT_MS, job_run, job_done, r, &rc);
    if (r->job) {
        http_cancel_job_on_abort(x, r->job);
        return;
    }
    http_reply_error(x, rc == ERR_FULL ? 503 : 500,
                     rc == ERR_FULL ? "too many queries waiting for a query thread; retry later"
                                    : "out of memory");
    lx_req_free(r);
}

int lx_scan(struct lx_req *r, struct query_job *j, uint32_t max_lines, lx_entry_fn fn, void *arg)
{
    struct logql_pipeline *pipe;
    char err[LX_ERR_MAX];
    int rc = logql_pipeline_compile_expr(r->q->root, NULL, &pipe, err, sizeof err);
    if (rc) {
        lx_fail(r, 400, err);
        return rc;
    }
    const struct logql_source_ops *ops = query_log_source_ops();
    struct query_log_source src = {.job = j};
    struct logql_select_req req = {
        .matchers = r->q->root->sel.matchers,
        .n_matchers = r->q->root->sel.n_matchers,
        .start_ns = r->start_ns,
        .end_ns = r->end_ns,
        .backward = true,
    };
    void *it = NULL;
    rc = ops->select(&src, &req, &it);
    uint32_t kept = 0;
    while (rc == 0 && kept < max_lines) {
        struct logql_entry e;
        int n = ops->next(it, &e);
        if (n <= 0) {
            rc = n;
            break;
        }
        struct logql_result res;
        int k = logql_pipeline_process(pipe, &e, 0, &res);
        if (k < 0)
            rc = k;
        else if (k == 1 && ++kept)
            rc = fn(arg, &e, &res);
    }
    if (it)
        ops->close(it);
    logql_pipeline_destroy(pipe);
    return rc;
}

/* ---- detected_fields ------------------------------------------------------------------------- */

struct detected {
    struct logql_detect *d;
    uint32_t limit, line_limit;
    struct str name; /* detected_field/<name>/values */
    bool values;
};

static int detect_entry(void *arg, const struct logql_entry *e, const struct logql_result *res)
{
    (void)res;
    return logql_detect_add(arg, e);
}

static int field_cmp(const void *a, const void *b)
{
    return str_cmp(((const struct logql_detected_field *)a)->name,
                   ((const struct logql_detected_field *)b)->name);
}

static int write_fields(struct jsonw *w, struct logql_detect *d, uint32_t limit)
{
    size_t n = logql_detect_count(d);
    struct logql_detected_field *v = n ? malloc(n * sizeof *v) : NULL;
    if (n && !v)
        return ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        logql_detect_field(d, i, &v[i]);
    if (n > 1)
        qsort(v, n, sizeof *v, field_cmp);
    jsonw_obj_begin(w);
    jsonw_key_cstr(w, "fields");
    jsonw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        jsonw_obj_begin(w);
        jsonw_key_cstr(w, "label");
        jsonw_str(w, v[i].name.ptr, v[i].name.len);
        jsonw_key_cstr(w, "type");
        jsonw_cstr(w, logql_field_type_name(v[i].type));
        jsonw_key_cstr(w, "cardinality");
        jsonw_uint(w, v[i].cardinality);
        jsonw_key_cstr(w, "parsers");
        if (!v[i].parsers) {
            jsonw_null(w);
        } else {
            jsonw_arr_begin(w);
            if (v[i].parsers & LOGQL_PARSER_JSON)
                jsonw_cstr(w, "json");
            if (v[i].parsers & LOGQL_PARSER_LOGFMT)
                jsonw_cstr(w, "logfmt");
            jsonw_arr_end(w);
        }
        jsonw_obj_end(w);
    }
    jsonw_arr_end(w);
    jsonw_key_cstr(w, "limit");
    jsonw_uint(w, limit);
    jsonw_obj_end(w);
    free(v);
    return 0;
}

static void write_values(struct jsonw *w, struct logql_detect *d, struct str name, uint32_t limit)
{
    struct logql_detected_field f;
    bool found = logql_detect_find(d, name, &f);
    jsonw_obj_begin(w);
    jsonw_key_cstr(w, "values");
    jsonw_arr_begin(w);
    for (size_t i = 0; found && i < f.n_values && i < limit; i++)
        jsonw_str(w, f.values[i].ptr, f.values[i].len);
    jsonw_arr_end(w);
    jsonw_key_cstr(w, "limit");
    jsonw_uint(w, limit);
    jsonw_obj_end(w);
}

static void run_detected(struct lx_req *r, struct query_job *j)
{
    struct detected *dt = r->extra;
    struct logql_detect_opts o = {.field_limit = dt->values ? 0 : dt->limit};
    int rc = logql_detect_create(&o, &dt->d);
    if (!rc)
        rc = lx_scan(r, j, dt->line_limit, detect_entry, dt->d);
    if (rc) {
        lx_fail_rc(r, rc);
        logql_detect_destroy(dt->d);
        return;
    }
    struct jsonw w;
    jsonw_init(&w, &r->out);
    if (dt->values)
        write_values(&w, dt->d, dt->name, dt->limit);
    else
        rc = write_fields(&w, dt->d, dt->limit);
    if (rc || jsonw_finish(&w))
        lx_fail(r, 500, "out of memory");
    logql_detect_destroy(dt->d);
}

static void detected_start(struct http_exchange *x, bool values)
{
    struct lx_req *r = lx_req_new(x);
    if (!r || !lx_param_query(r, true) || !lx_param_bounds(r))
        return;
    struct detected *dt = calloc(1, sizeof *dt);
    if (!dt) {
        bad(r, "out of memory");
        return;
    }
    r->extra = dt; /* freed with r */
    if (!lx_param_u32(r, "limit", 1000, &dt->limit) ||
        !lx_param_u32(r, "line_limit", 1000, &dt->line_limit))
        return;
    dt->values = values;
    if (values && !route_param(&x->params, "name", &dt->name))
        dt->name = (struct str){"", 0};
    r->run = run_detected;
    lx_req_start(r);
}

void handler_loki_detected_fields(struct http_exchange *x)
{
    detected_start(x, false);
}

void handler_loki_detected_field_values(struct http_exchange *x)
{
    detected_start(x, true);
}

/* ---- detected_labels ------------------------------------------------------------------------- */

/* A UUID in its canonical 8-4-4-4-12 hex form (optionally in braces or with urn:uuid:, as Go's
 * uuid.Parse also takes 32 bare hex digits). */
static bool is_uuid(struct str v)
{
    if (v.len >= 9 && memcmp(v.ptr, "urn:uuid:", 9) == 0)
        v = (struct str){v.ptr + 9, v.len - 9};
    if (v.len == 38 && v.ptr[0] == '{' && v.ptr[37] == '}')
        v = (struct str){v.ptr + 1, 36};
    bool dashed = v.len == 36;
    if (!dashed && v.len != 32)
        return false;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.ptr[i];
        if (dashed && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (c != '-')
                return false;
            continue;
        }
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

/* Go's strconv.ParseFloat accepts it (Loki's containsAllIDTypes). */
static bool is_number(struct str v)
{
    char buf[64];
    if (v.len == 0 || v.len >= sizeof buf || v.ptr[0] == ' ' || v.ptr[0] == '\t')
        return false;
    memcpy(buf, v.ptr, v.len);
    buf[v.len] = 0;
    char *end;
    errno = 0;
    (void)strtod(buf, &end);
    return end == buf + v.len && errno != ERANGE;
}

static bool is_id(struct str v)
{
    return is_number(v) || is_uuid(v);
}

/* Loki's shouldRejectLabel: no values, or every value an ID (numbers, UUIDs), except that a
 * label whose one or two values are all "0"/"1" is a boolean and kept. */
static bool reject_label(const struct querier_strings *vals)
{
    if (vals->n == 0)
        return true;
    if (vals->n <= 2) {
        bool boolean = true;
        for (size_t i = 0; i < vals->n; i++)
            if (!str_eq_cstr(vals->v[i], "0") && !str_eq_cstr(vals->v[i], "1"))
                boolean = false;
        if (boolean)
            return false;
    }
    for (size_t i = 0; i < vals->n; i++)
        if (!is_id(vals->v[i]))
            return false;
    return true;
}

static bool static_label(struct str n)
{
    return str_eq_cstr(n, "cluster") || str_eq_cstr(n, "namespace") || str_eq_cstr(n, "instance") ||
           str_eq_cstr(n, "pod");
}

static void run_detected_labels(struct lx_req *r, struct query_job *j)
{
    const struct matcher *ms = r->q ? r->q->root->sel.matchers : NULL;
    size_t n = r->q ? r->q->root->sel.n_matchers : 0;
    struct querier_strings names = {0};
    int rc = query_log_label_names(j, ms, n, r->start_ns, r->end_ns, &names);
    if (rc) {
        lx_fail_rc(r, rc);
        return;
    }
    struct jsonw w;
    jsonw_init(&w, &r->out);
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "detectedLabels");
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < names.n && !rc; i++) {
        struct querier_strings vals = {0};
        rc = query_log_label_values(j, names.v[i], ms, n, r->start_ns, r->end_ns, &vals);
        if (rc)
            break;
        if ((static_label(names.v[i]) && vals.n) || !reject_label(&vals)) {
            jsonw_obj_begin(&w);
            jsonw_key_cstr(&w, "label");
            jsonw_str(&w, names.v[i].ptr, names.v[i].len);
            jsonw_key_cstr(&w, "cardinality");
            jsonw_uint(&w, vals.n);
            jsonw_obj_end(&w);
        }
        querier_strings_free(&vals);
    }
    jsonw_arr_end(&w);
    jsonw_obj_end(&w);
    querier_strings_free(&names);
    if (rc)
        lx_fail_rc(r, rc);
    else if (jsonw_finish(&w))
        lx_fail(r, 500, "out of memory");
}

void handler_loki_detected_labels(struct http_exchange *x)
{
    struct lx_req *r = lx_req_new(x);
    if (!r || !lx_param_query(r, false) || !lx_param_bounds(r))
        return;
    r->run = run_detected_labels;
    lx_req_start(r);
}
