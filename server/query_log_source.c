/* The LogQL entry source over the cross-shard log selection (query.h query_log_source_ops): each
 * logql_eval select becomes a query_log_select with the evaluator's line hint pushed down; entries
 * are handed over with their structured metadata sorted by name and unique (the pipeline's
 * contract; the store keeps the pushed order), and each closed select adds its figures to the
 * source's stats. Decomposable range aggregations go the partial path (query_log_range_*: the
 * owners aggregate, the evaluator merges) unless it is switched off. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/eval.h"
#include "server/query.h"

struct src_iter {
    struct query_log_source *src;
    struct query_log_iter *it;
    struct label *md; /* sorted copy of the current entry's metadata */
    size_t md_cap;
};

static int src_select(void *ctx, const struct logql_select_req *req, void **out)
{
    struct query_log_source *src = ctx;
    struct src_iter *s = calloc(1, sizeof *s);
    if (!s)
        return ERR_NOMEM;
    s->src = src;
    struct logstore_line_hint h = {req->contains, req->n_contains};
    int rc = query_log_select_filtered(src->job, req->matchers, req->n_matchers, req->start_ns,
                                       req->end_ns, req->backward, req->n_contains ? &h : NULL, 0,
                                       req->pipeline, &s->it);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static bool md_sorted(const struct label *md, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (str_cmp(md[i - 1].name, md[i].name) >= 0)
            return false;
    return true;
}

/* Sorted by name (stable), the first of equal names kept. */
static int md_sort(struct src_iter *s, const struct label *md, size_t n, size_t *n_out)
{
    if (n > s->md_cap) {
        struct label *v = realloc(s->md, n * sizeof *v);
        if (!v)
            return ERR_NOMEM;
        s->md = v;
        s->md_cap = n;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pos = k;
        while (pos > 0 && str_cmp(s->md[pos - 1].name, md[i].name) > 0)
            pos--;
        if (pos > 0 && str_eq(s->md[pos - 1].name, md[i].name))
            continue;
        memmove(&s->md[pos + 1], &s->md[pos], (k - pos) * sizeof *s->md);
        s->md[pos] = md[i];
        k++;
    }
    *n_out = k;
    return 0;
}

static int src_next(void *iter, struct logql_entry *out)
{
    struct src_iter *s = iter;
    int rc = query_log_iter_next(s->it);
    if (rc != 1)
        return rc;
    const struct query_log_entry *e = query_log_iter_at(s->it);
    *out = (struct logql_entry){.ts_ns = e->ts_ns,
                                .line = e->line,
                                .stream = e->labels,
                                .n_stream = e->n_labels,
                                .meta = e->md,
                                .n_meta = e->n_md};
    if (e->n_md > 1 && !md_sorted(e->md, e->n_md)) {
        if (md_sort(s, e->md, e->n_md, &out->n_meta))
            return ERR_NOMEM;
        out->meta = s->md;
    }
    return 1;
}

static void src_close(void *iter)
{
    struct src_iter *s = iter;
    struct query_log_stats st;
    query_log_iter_stop(s->it); /* the owners' figures arrive with their final replies */
    query_log_iter_stats(s->it, &st);
    query_log_stats_add(&s->src->stats, &st);
    query_log_iter_close(s->it);
    free(s->md);
    free(s);
}

/* ---- partial range aggregation ---- */

struct range_iter {
    struct query_log_source *src;
    struct query_log_range *r;
};

bool query_log_partial_enabled(void)
{
    const char *v = getenv("STRATA_LOKI_PARTIAL_AGG");
    return !v || strcmp(v, "0") != 0;
}

static int src_range_open(void *ctx, const struct logql_range_req *req, void **iter)
{
    struct query_log_source *src = ctx;
    if (src->no_partial || !query_log_partial_enabled())
        return LOGQL_SRC_DECLINED;
    struct range_iter *ri = calloc(1, sizeof *ri);
    if (!ri)
        return ERR_NOMEM;
    ri->src = src;
    int rc = query_log_range_open(src->job, req, &ri->r);
    if (rc) {
        free(ri);
        return rc;
    }
    *iter = ri;
    return 0;
}

static int src_range_next(void *iter, int64_t t_ns, struct logql_partial_vec *out)
{
    return query_log_range_next(((struct range_iter *)iter)->r, t_ns, out);
}

static void src_range_close(void *iter)
{
    struct range_iter *ri = iter;
    query_log_range_close(ri->r, &ri->src->stats);
    free(ri);
}

static int src_check(void *ctx)
{
    return query_job_check(((struct query_log_source *)ctx)->job);
}

static const struct logql_source_ops source_ops = {.select = src_select,
                                                   .next = src_next,
                                                   .close = src_close,
                                                   .check = src_check,
                                                   .range_open = src_range_open,
                                                   .range_next = src_range_next,
                                                   .range_close = src_range_close};

const struct logql_source_ops *query_log_source_ops(void)
{
    return &source_ops;
}
