/* Fan-out calls of query threads (query.h): query_select as a blocking chunk series set (one input
 * per shard, each reading that shard's pieces in order, merged by label set), and the gathering
 * calls (label names and values, metadata, head statistics) that wait for every shard's pieces and
 * merge them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/tsdb/merge.h"
#include "server/query_internal.h"

/* ---- one shard's stream of a selection ---- */

struct stream_set {
    struct chunk_series_set base;
    struct query_fan *fan;
    struct query_job *job;
    uint32_t shard;
    struct query_piece *cur;
    size_t idx;
    bool end;
};

static int ss_next(struct chunk_series_set *base)
{
    struct stream_set *s = (struct stream_set *)base;
    if (s->base.err || s->end)
        return s->base.err;
    if (s->cur && ++s->idx < s->cur->n)
        return 1;
    if (s->cur) {
        query_fan_give_back(s->fan, s->cur);
        s->cur = NULL;
    }
    struct query_piece *p;
    int owner_rc = 0;
    int rc = query_fan_next(s->fan, s->shard, &p, &owner_rc);
    if (rc == 1) {
        s->cur = p;
        s->idx = 0;
        atomic_fetch_add(&s->job->samples_loaded, p->samples);
        return 1;
    }
    if (rc == 0)
        rc = owner_rc;
    s->end = true;
    return s->base.err = rc;
}

static const struct chunk_series *ss_at(struct chunk_series_set *base)
{
    struct stream_set *s = (struct stream_set *)base;
    return &s->cur->u.series[s->idx];
}

static void ss_close(struct chunk_series_set *base)
{
    struct stream_set *s = (struct stream_set *)base;
    if (s->cur)
        query_fan_give_back(s->fan, s->cur);
    free(s);
}

static const struct chunk_series_set_ops stream_set_ops = {ss_next, ss_at, ss_close};

/* ---- the selection: merged streams, closing the fan-out with the set ---- */

struct fan_set {
    struct chunk_series_set base;
    struct query_fan *fan;
    struct chunk_series_set *merged;
};

static int fs_next(struct chunk_series_set *base)
{
    struct fan_set *s = (struct fan_set *)base;
    int rc = chunk_series_set_next(s->merged);
    if (rc < 0)
        s->base.err = rc;
    return rc;
}

static const struct chunk_series *fs_at(struct chunk_series_set *base)
{
    return chunk_series_set_at(((struct fan_set *)base)->merged);
}

static void fs_close(struct chunk_series_set *base)
{
    struct fan_set *s = (struct fan_set *)base;
    chunk_series_set_close(s->merged); /* gives the current pieces back */
    query_fan_close(s->fan);
    free(s);
}

static const struct chunk_series_set_ops fan_set_ops = {fs_next, fs_at, fs_close};

static int merged_streams(struct query_job *j, struct query_fan *f, struct chunk_series_set **out)
{
    uint32_t n = j->q->nshards;
    struct chunk_series_set **in = calloc(n, sizeof *in);
    if (!in)
        return ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++) {
        struct stream_set *s = calloc(1, sizeof *s);
        if (!s) {
            for (uint32_t k = 0; k < i; k++)
                chunk_series_set_close(in[k]);
            free(in);
            return ERR_NOMEM;
        }
        *s = (struct stream_set){.base.ops = &stream_set_ops, .fan = f, .job = j, .shard = i};
        in[i] = &s->base;
    }
    int rc = 0;
    if (n == 1)
        *out = in[0];
    else
        rc = merge_set_create(in, n, 0, out); /* takes the inputs */
    free(in);
    return rc;
}

int query_select(struct query_job *j, const struct query_matchsets *ms, int64_t mint_ms,
                 int64_t maxt_ms, bool series_only, struct chunk_series_set **out)
{
    struct query_spec spec = {
        .kind = QK_SELECT, .mint_ms = mint_ms, .maxt_ms = maxt_ms, .series_only = series_only};
    struct fan_set *s = calloc(1, sizeof *s);
    int rc = s ? query_spec_matchers(&spec, ms, j->tenant) : ERR_NOMEM;
    if (rc) {
        query_spec_free(&spec);
        free(s);
        return rc;
    }
    s->base.ops = &fan_set_ops;
    s->fan = query_fan_start(j, &spec);
    if (!s->fan) {
        free(s);
        return ERR_NOMEM;
    }
    if ((rc = merged_streams(j, s->fan, &s->merged)) != 0) {
        query_fan_close(s->fan);
        free(s);
        return rc;
    }
    *out = &s->base;
    return 0;
}

/* ---- gathering calls ---- */

int query_gather(struct query_job *j, struct query_spec *spec, struct query_gathered *g)
{
    memset(g, 0, sizeof *g);
    g->fan = query_fan_start(j, spec);
    if (!g->fan)
        return ERR_NOMEM;
    int rc = query_fan_wait_all(g->fan);
    size_t cap = 0;
    for (uint32_t i = 0; i < j->q->nshards && rc == 0; i++) {
        struct query_piece *p;
        int owner_rc;
        while (rc == 0 && query_fan_next(g->fan, i, &p, &owner_rc) == 1) {
            if (g->n == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                struct query_piece **v = realloc(g->v, ncap * sizeof *v);
                if (!v) {
                    query_fan_give_back(g->fan, p);
                    rc = ERR_NOMEM;
                    break;
                }
                g->v = v;
                cap = ncap;
            }
            g->v[g->n++] = p;
        }
    }
    return rc;
}

void query_gathered_done(struct query_gathered *g)
{
    for (size_t i = 0; i < g->n; i++)
        query_fan_give_back(g->fan, g->v[i]);
    if (g->fan)
        query_fan_close(g->fan);
    free(g->v);
    memset(g, 0, sizeof *g);
}

static int str_ptr_cmp(const void *a, const void *b)
{
    return str_cmp(*(const struct str *)a, *(const struct str *)b);
}

/* Sorted unique union of the gathered string pieces, at most max (0: all), in one allocation. */
static int strings_out(const struct query_gathered *g, int64_t max, struct querier_strings *out)
{
    size_t total = 0, bytes = 0;
    for (size_t i = 0; i < g->n; i++)
        total += g->v[i]->n;
    struct str *all = malloc((total ? total : 1) * sizeof *all);
    if (!all)
        return ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++)
        for (size_t x = 0; x < g->v[i]->n; x++)
            all[k++] = g->v[i]->u.strs[x];
    qsort(all, k, sizeof *all, str_ptr_cmp);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if ((u == 0 || !str_eq(all[u - 1], all[i])) && (max <= 0 || u < (size_t)max))
            all[u++] = all[i];
    for (size_t i = 0; i < u; i++)
        bytes += all[i].len;
    out->v = malloc((u ? u : 1) * sizeof *out->v + bytes);
    if (!out->v) {
        free(all);
        return ERR_NOMEM;
    }
    char *dst = (char *)(out->v + (u ? u : 1));
    for (size_t i = 0; i < u; i++) {
        memcpy(dst, all[i].ptr, all[i].len);
        out->v[i] = (struct str){dst, all[i].len};
        dst += all[i].len;
    }
    out->n = u;
    free(all);
    return 0;
}

static int label_strings(struct query_job *j, enum query_kind kind, struct str name,
                         const struct query_matchsets *ms, int64_t mint_ms, int64_t maxt_ms,
                         int64_t limit, struct querier_strings *out)
{
    out->v = NULL;
    out->n = 0;
    struct query_spec spec = {.kind = kind, .mint_ms = mint_ms, .maxt_ms = maxt_ms, .limit = limit};
    int rc = query_spec_matchers(&spec, ms, j->tenant);
    if (!rc && name.len) {
        char *nb = malloc(name.len);
        if (nb) {
            memcpy(nb, name.ptr, name.len);
            spec.name = (struct str){nb, name.len};
        } else {
            rc = ERR_NOMEM;
        }
    }
    if (rc) {
        query_spec_free(&spec);
        return rc;
    }
    return query_gather_strings(j, &spec, out);
}

int query_gather_strings(struct query_job *j, struct query_spec *spec, struct querier_strings *out)
{
    out->v = NULL;
    out->n = 0;
    int64_t limit = spec->limit;
    struct query_gathered g;
    int rc = query_gather(j, spec, &g);
    if (rc == 0)
        rc = strings_out(&g, limit > 0 ? limit + 1 : 0, out);
    query_gathered_done(&g);
    return rc;
}

int query_label_names(struct query_job *j, const struct query_matchsets *ms, int64_t mint_ms,
                      int64_t maxt_ms, int64_t limit, struct querier_strings *out)
{
    return label_strings(j, QK_NAMES, (struct str){NULL, 0}, ms, mint_ms, maxt_ms, limit, out);
}

int query_label_values(struct query_job *j, struct str name, const struct query_matchsets *ms,
                       int64_t mint_ms, int64_t maxt_ms, int64_t limit, struct querier_strings *out)
{
    if (name.len == 0) {
        out->v = NULL;
        out->n = 0;
        return 0; /* no series has a label with an empty name */
    }
    return label_strings(j, QK_VALUES, name, ms, mint_ms, maxt_ms, limit, out);
}
