/* GET/POST /loki/api/v1/patterns: Drain-style patterns (engine/logs/patterns.h) of the lines a
 * log query selects in [start, end), with per-step sample counts, in Loki's response shape
 * {"status":"success","data":[{"pattern":"...","samples":[[unix_s,count],...]},...]}. Loki's
 * pattern ingesters mine pushes as they arrive; we mine the stored lines at query time, newest
 * first, at most `line_limit` of them (default 100000). */
#include <stdio.h>
#include <stdlib.h>

#include "engine/logs/patterns.h"
#include "formats/jsonw.h"
#include "server/api_loki_query.h"
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

static int write_patterns(struct loki_req *r, struct logpat *p)
{
    struct jsonw w;
    loki_json_begin(r, &w);
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
    loki_json_end(r, &w);
    return 0;
}

static void run_patterns(struct loki_req *r, struct query_job *j)
{
    struct patterns_req *pr = r->extra;
    struct logpat_opts o = {.step_ns = pr->step_ns};
    struct logpat *p;
    int rc = logpat_create(&o, &p);
    if (!rc)
        rc = loki_req_scan(r, j, pr->line_limit, pattern_entry, p);
    if (!rc)
        rc = write_patterns(r, p);
    if (rc)
        loki_fail_rc(r, rc, NULL);
    logpat_destroy(p);
}

/* step: Loki's default, or a positive duration; at least and a multiple of the pattern chunk
 * resolution. Answers 400 on errors. */
static bool pattern_step(struct loki_req *r, int64_t *step_ns)
{
    *step_ns = loki_default_step_ns(r->start_ns, r->end_ns);
    struct str st = loki_param(r, "step");
    char why[LOKI_ERR_MAX];
    if (st.len && (loki_parse_duration(st, step_ns, why, sizeof why) || *step_ns <= 0))
        return loki_bad(r, "zero or negative query resolution step widths are not accepted. Try "
                           "a positive integer");
    if (*step_ns < PATTERN_STEP_MIN_NS)
        *step_ns = PATTERN_STEP_MIN_NS;
    *step_ns = (*step_ns + PATTERN_STEP_MIN_NS - 1) / PATTERN_STEP_MIN_NS * PATTERN_STEP_MIN_NS;
    return true;
}

void handler_loki_patterns(struct http_exchange *x)
{
    struct loki_req *r = loki_req_new(x, run_patterns, sizeof(struct patterns_req));
    if (!r)
        return;
    struct patterns_req *pr = r->extra;
    bool ok = loki_param_query(r, LOKI_QUERY_LOG | LOKI_QUERY_REQUIRED) &&
              loki_param_bounds(r, true) &&
              loki_param_limit(r, "line_limit", PATTERN_LINES_DEFAULT, &pr->line_limit) &&
              pattern_step(r, &pr->step_ns);
    loki_req_submit(r, ok);
}
