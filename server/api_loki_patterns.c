/* GET/POST /loki/api/v1/patterns: Drain-style patterns (engine/logs/patterns.h) of the lines a
 * log query selects in [start, end), with per-step sample counts, in Loki's response shape
 * {"status":"success","data":[{"pattern":"...","samples":[[unix_s,count],...]},...]}. Loki's
 * pattern ingesters mine pushes as they arrive; we mine the stored lines at query time, newest
 * first, at most `line_limit` of them (default 100000). */
#include <stdio.h>
#include <stdlib.h>

#include "engine/logs/patterns.h"
#include "formats/jsonw.h"
#include "server/api_loki.h"
#include "server/api_loki_tail.h"
#include "server/exchange.h"

#define PATTERN_LINES_DEFAULT 100000
#define PATTERN_STEP_MIN_NS   (10LL * 1000000000LL) /* Loki's pattern chunk resolution */

struct patterns_req {
    int64_t step_ns;
    uint32_t line_limit;
};

static int pattern_entry(void *arg, const struct logql_entry *e, const struct logql_result *res)
{
    return logpat_add(arg, e->ts_ns, res->line);
}

static int write_patterns(struct lx_req *r, struct logpat *p)
{
    struct jsonw w;
    jsonw_init(&w, &r->out);
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "status");
    jsonw_cstr(&w, "success");
    jsonw_key_cstr(&w, "data");
    jsonw_arr_begin(&w);
    logpat_sort(p);
    int rc = 0;
    for (size_t i = 0; i < logpat_count(p) && !rc; i++) {
        struct logpat_pattern pt;
        rc = logpat_get(p, i, &pt);
        if (rc)
            break;
        jsonw_obj_begin(&w);
        jsonw_key_cstr(&w, "pattern");
        jsonw_str(&w, pt.pattern.ptr, pt.pattern.len);
        jsonw_key_cstr(&w, "samples");
        jsonw_arr_begin(&w);
        for (size_t k = 0; k < pt.n_samples; k++) {
            jsonw_arr_begin(&w);
            jsonw_int(&w, pt.samples[k].ts_s);
            jsonw_uint(&w, pt.samples[k].count);
            jsonw_arr_end(&w);
        }
        jsonw_arr_end(&w);
        jsonw_obj_end(&w);
    }
    if (rc)
        return rc;
    jsonw_arr_end(&w);
    jsonw_obj_end(&w);
    return jsonw_finish(&w);
}

static void run_patterns(struct lx_req *r, struct query_job *j)
{
    struct patterns_req *pr = r->extra;
    struct logpat_opts o = {.step_ns = pr->step_ns};
    struct logpat *p;
    int rc = logpat_create(&o, &p);
    if (!rc)
        rc = lx_scan(r, j, pr->line_limit, pattern_entry, p);
    if (!rc)
        rc = write_patterns(r, p);
    if (rc)
        lx_fail_rc(r, rc);
    logpat_destroy(p);
}

void handler_loki_patterns(struct http_exchange *x)
{
    struct lx_req *r = lx_req_new(x);
    if (!r || !lx_param_query(r, true) || !lx_param_bounds(r))
        return;
    struct patterns_req *pr = calloc(1, sizeof *pr);
    if (!pr) {
        http_reply_error(x, 500, "out of memory");
        lx_req_free(r);
        return;
    }
    r->extra = pr;
    if (!lx_param_u32(r, "line_limit", PATTERN_LINES_DEFAULT, &pr->line_limit))
        return;
    struct str st;
    char why[LOKI_ERR_MAX];
    pr->step_ns = loki_default_step_ns(r->start_ns, r->end_ns);
    if (http_params_get(&r->params, "step", &st) && st.len &&
        (loki_parse_duration(st, &pr->step_ns, why, sizeof why) || pr->step_ns <= 0)) {
        http_reply_error(x, 400,
                         "zero or negative query resolution step widths are not accepted. Try a "
                         "positive integer");
        lx_req_free(r);
        return;
    }
    if (pr->step_ns < PATTERN_STEP_MIN_NS)
        pr->step_ns = PATTERN_STEP_MIN_NS;
    pr->step_ns =
        (pr->step_ns + PATTERN_STEP_MIN_NS - 1) / PATTERN_STEP_MIN_NS * PATTERN_STEP_MIN_NS;
    r->run = run_patterns;
    lx_req_start(r);
}
