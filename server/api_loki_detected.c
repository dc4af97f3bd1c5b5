/* Loki's detected_fields, detected_field/<name>/values and detected_labels (Loki 3.x response
 * shapes), on the Loki request life cycle (api_loki_query.h). */
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
#include "server/api_loki_query.h"
#include "server/api_loki_tail.h"
#include "server/exchange.h"
#include "server/routes.h"

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

static void run_detected(struct loki_req *r, struct query_job *j)
{
    struct detected *dt = r->extra;
    struct logql_detect_opts o = {.field_limit = dt->values ? 0 : dt->limit};
    int rc = logql_detect_create(&o, &dt->d);
    if (!rc)
        rc = loki_req_scan(r, j, dt->line_limit, detect_entry, dt->d);
    if (rc) {
        loki_fail_rc(r, rc, NULL);
        logql_detect_destroy(dt->d);
        return;
    }
    struct jsonw w;
    jsonw_init(&w, &r->out);
    if (dt->values)
        write_values(&w, dt->d, dt->name, dt->limit);
    else if (write_fields(&w, dt->d, dt->limit))
        loki_fail(r, 500, "out of memory");
    loki_json_finish(r, &w);
    logql_detect_destroy(dt->d);
}

static void detected_start(struct http_exchange *x, bool values)
{
    struct loki_req *r = loki_req_new(x, run_detected, sizeof(struct detected));
    if (!r)
        return;
    struct detected *dt = r->extra;
    dt->values = values;
    if (values && !route_param(&x->params, "name", &dt->name))
        dt->name = (struct str){"", 0};
    loki_req_submit(r, loki_param_query(r, LOKI_QUERY_LOG | LOKI_QUERY_REQUIRED) &&
                           loki_param_bounds(r, true) &&
                           loki_param_limit(r, "limit", 1000, &dt->limit) &&
                           loki_param_limit(r, "line_limit", 1000, &dt->line_limit));
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

static void run_detected_labels(struct loki_req *r, struct query_job *j)
{
    const struct matcher *ms = r->q ? r->q->root->sel.matchers : NULL;
    size_t n = r->q ? r->q->root->sel.n_matchers : 0;
    struct querier_strings names = {0};
    int rc = query_log_label_names(j, ms, n, r->start_ns, r->end_ns, &names);
    if (rc) {
        loki_fail_rc(r, rc, NULL);
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
        loki_fail_rc(r, rc, NULL);
    else
        loki_json_finish(r, &w);
}

void handler_loki_detected_labels(struct http_exchange *x)
{
    struct loki_req *r = loki_req_new(x, run_detected_labels, 0);
    if (r)
        loki_req_submit(r, loki_param_query(r, LOKI_QUERY_LOG | LOKI_QUERY_OPTIONAL) &&
                               loki_param_bounds(r, true));
}
