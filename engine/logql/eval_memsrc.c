/* An in-memory LogQL entry source (eval.h): selects entries of an array by stream matchers and
 * time range and returns them in time order of the requested direction. For tests and fuzzing;
 * the line hint and pre-filter are ignored (the evaluator runs the full pipeline anyway). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/error.h"
#include "engine/logql/eval.h"

struct memsrc_iter {
    struct logql_memsrc *src;
    size_t *idx;
    size_t n, pos;
};

static bool stream_matches(const struct logql_memsrc_entry *e, const struct logql_select_req *r)
{
    for (size_t i = 0; i < r->n_matchers; i++) {
        struct str v = {"", 0};
        for (size_t k = 0; k < e->n_stream; k++)
            if (str_eq(e->stream[k].name, r->matchers[i].name))
                v = e->stream[k].value;
        if (!matcher_matches(&r->matchers[i], v))
            return false;
    }
    return true;
}

/* Insertion into a sorted index list keeps ties in array order (a stable sort). */
static void sort_by_ts(const struct logql_memsrc_entry *e, size_t *idx, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        size_t x = idx[i], k = i;
        for (; k > 0 && e[idx[k - 1]].ts_ns > e[x].ts_ns; k--)
            idx[k] = idx[k - 1];
        idx[k] = x;
    }
}

static int memsrc_select(void *ctx, const struct logql_select_req *req, void **iter)
{
    struct logql_memsrc *src = ctx;
    struct memsrc_iter *it = calloc(1, sizeof *it);
    if (!it || !(it->idx = malloc((src->n_entries + 1) * sizeof *it->idx))) {
        free(it);
        return ERR_NOMEM;
    }
    it->src = src;
    for (size_t i = 0; i < src->n_entries; i++) {
        const struct logql_memsrc_entry *e = &src->entries[i];
        if (e->ts_ns >= req->start_ns && e->ts_ns < req->end_ns && stream_matches(e, req))
            it->idx[it->n++] = i;
    }
    sort_by_ts(src->entries, it->idx, it->n);
    if (req->backward)
        for (size_t i = 0; i < it->n / 2; i++) {
            size_t t = it->idx[i];
            it->idx[i] = it->idx[it->n - 1 - i];
            it->idx[it->n - 1 - i] = t;
        }
    src->n_selects++;
    src->n_open++;
    src->last_req = *req;
    size_t w = 0;
    src->last_hint[0] = 0;
    for (size_t i = 0; i < req->n_contains && w < sizeof src->last_hint; i++)
        w += (size_t)snprintf(src->last_hint + w, sizeof src->last_hint - w, "%s%.*s", i ? "|" : "",
                              (int)req->contains[i].len, req->contains[i].ptr);
    *iter = it;
    return 0;
}

static int memsrc_next(void *iter, struct logql_entry *out)
{
    struct memsrc_iter *it = iter;
    if (it->pos >= it->n)
        return 0;
    const struct logql_memsrc_entry *e = &it->src->entries[it->idx[it->pos++]];
    *out = (struct logql_entry){e->ts_ns, e->line, e->stream, e->n_stream, e->meta, e->n_meta};
    return 1;
}

static void memsrc_close(void *iter)
{
    struct memsrc_iter *it = iter;
    it->src->n_open--;
    free(it->idx);
    free(it);
}

static int memsrc_check(void *ctx)
{
    struct logql_memsrc *src = ctx;
    src->n_checks++;
    return src->cancel_after && src->n_checks >= src->cancel_after ? -ECANCELED : 0;
}

const struct logql_source_ops logql_memsrc_ops = {
    .select = memsrc_select,
    .next = memsrc_next,
    .close = memsrc_close,
    .check = memsrc_check, /* no partial path: one part */
};
