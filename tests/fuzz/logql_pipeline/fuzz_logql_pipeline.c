/* Fuzz target: the LogQL pipeline executor. The input is a query, a newline, then a log line
 * (which may hold more newlines). When the query parses and has a pipeline, it is compiled and
 * the line runs through it twice (the second run reuses scratch memory and must give the same
 * outcome), through a clone, and through the pre-filter, which must never drop a line the
 * pipeline keeps. Results must be sorted label sets with unique names. Range aggregations run
 * with metric options (parser hints) chosen by the input length. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "engine/logql/exec.h"
#include "engine/logql/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct label stream[] = {
    {{"app", 3}, {"api", 3}}, {{"level", 5}, {"info", 4}}, {{"pod", 3}, {"p-1", 3}}};
static const struct label meta[] = {{{"pod", 3}, {"p-2", 3}}, {{"trace", 5}, {"abc", 3}}};

static void check_result(const struct logql_result *r)
{
    for (size_t i = 1; i < r->n_labels; i++)
        ASSERT(str_cmp(r->labels[i - 1].name, r->labels[i].name) < 0);
    for (size_t i = 0; i < r->n_labels; i++)
        ASSERT(r->cats[i] <= LOGQL_CAT_PARSED);
}

/* Runs the entry; returns the outcome and a digest of the result for comparisons. */
static int run(struct logql_pipeline *p, const struct logql_entry *e, uint64_t *digest)
{
    struct logql_result r;
    int rc = logql_pipeline_process(p, e, 0, &r);
    *digest = 0;
    if (rc == 1) {
        check_result(&r);
        uint64_t h = r.line.len * 31 + r.n_labels;
        for (size_t i = 0; i < r.n_labels; i++)
            h = h * 1000003 + r.labels[i].name.len * 7 + r.labels[i].value.len;
        *digest = h;
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t qlen = nl ? (size_t)(nl - data) : size;
    struct str line =
        nl ? (struct str){(const char *)nl + 1, size - qlen - 1} : (struct str){"", 0};
    struct logql_query *q = NULL;
    char err[512];
    if (logql_parse((struct str){(const char *)data, qlen}, &q, err, sizeof err) != 0)
        return 0;
    struct logql_pipeline *p = NULL;
    static const struct str groups[] = {{"level", 5}, {"status", 6}};
    struct logql_pipeline_opts o = {.metric = q->root->kind == LOGQL_EXPR_RANGE_AGG,
                                    .no_labels = size & 1,
                                    .groups = groups,
                                    .n_groups = (size >> 1) % 3,
                                    .without = size & 8};
    if (logql_pipeline_compile_expr(q->root, &o, &p, err, sizeof err) != 0) {
        logql_query_destroy(q);
        return 0;
    }
    struct logql_entry e = {.ts_ns = 1700000000123456789LL,
                            .line = line,
                            .stream = stream,
                            .n_stream = 3,
                            .meta = meta,
                            .n_meta = 2};
    uint64_t d1, d2, d3;
    int k1 = run(p, &e, &d1);
    int k2 = run(p, &e, &d2);
    ASSERT(k1 == k2 && d1 == d2);
    if (k1 == 1)
        ASSERT(logql_pipeline_prefilter(p, line));
    struct logql_pipeline *c = NULL;
    if (logql_pipeline_clone(p, &c) == 0) {
        int k3 = run(c, &e, &d3);
        ASSERT(k3 == k1 && d3 == d1);
        logql_pipeline_destroy(c);
    }
    if (k1 == 1 && logql_pipeline_has_prefilter(p)) {
        struct logql_result r;
        ASSERT(logql_pipeline_process(p, &e, LOGQL_PROC_PREFILTERED, &r) == 1);
    }
    logql_pipeline_destroy(p);
    logql_query_destroy(q);
    return 0;
}
