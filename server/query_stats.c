/* Gathering calls for /api/v1/metadata and /api/v1/status/tsdb (query.h): every shard's
 * remote-write metadata merged and de-duplicated, and the tenant's head statistics merged from the
 * shards' (label pair -> series count) tables into Prometheus's cardinality figures
 * (tsdb/index MemPostings.Stats: top-N by count, sizes as labels.SizeOfLabels). */
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/error.h"
#include "server/query_internal.h"

#define OUT_ARENA_CHUNK (64 * 1024)

static struct str arena_str(struct arena *a, struct str s, int *rc)
{
    if (s.len == 0)
        return (struct str){"", 0};
    char *p = arena_dup(a, s.ptr, s.len, 0);
    if (!p)
        *rc = ERR_NOMEM;
    return (struct str){p ? p : "", p ? s.len : 0};
}

/* ---- metadata ---- */

static int meta_cmp(const void *a, const void *b)
{
    const struct query_metadata_entry *x = a, *y = b;
    int c = str_cmp(x->family, y->family);
    if (c)
        return c;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    c = str_cmp(x->help, y->help);
    return c ? c : str_cmp(x->unit, y->unit);
}

int query_metadata(struct query_job *j, struct str metric, struct query_metadata *out)
{
    memset(out, 0, sizeof *out);
    struct query_spec spec = {.kind = QK_METADATA};
    int rc = query_spec_matchers(&spec, NULL, j->tenant);
    char *nb = rc == 0 && metric.len ? malloc(metric.len) : NULL;
    if (rc == 0 && metric.len && !nb)
        rc = ERR_NOMEM;
    if (rc) {
        query_spec_free(&spec);
        return rc;
    }
    if (nb) {
        memcpy(nb, metric.ptr, metric.len);
        spec.name = (struct str){nb, metric.len};
    }
    struct query_gathered g;
    rc = query_gather(j, &spec, &g);
    size_t total = 0;
    for (size_t i = 0; i < g.n; i++)
        total += g.v[i]->n;
    struct arena *a = rc ? NULL : malloc(sizeof *a);
    if (!rc && !a)
        rc = ERR_NOMEM;
    if (a) {
        arena_init(a, OUT_ARENA_CHUNK);
        out->mem = a;
        out->v = arena_alloc(a, (total ? total : 1) * sizeof *out->v);
        if (!out->v)
            rc = ERR_NOMEM;
    }
    for (size_t i = 0; i < g.n && rc == 0; i++) {
        for (size_t k = 0; k < g.v[i]->n && rc == 0; k++) {
            const struct query_metadata_entry *e = &g.v[i]->u.meta[k];
            struct query_metadata_entry *o = &out->v[out->n++];
            o->family = arena_str(a, e->family, &rc);
            o->help = arena_str(a, e->help, &rc);
            o->unit = arena_str(a, e->unit, &rc);
            o->type = e->type;
        }
    }
    query_gathered_done(&g);
    if (rc) {
        query_metadata_free(out);
        return rc;
    }
    qsort(out->v, out->n, sizeof *out->v, meta_cmp);
    size_t u = 0;
    for (size_t i = 0; i < out->n; i++)
        if (u == 0 || meta_cmp(&out->v[u - 1], &out->v[i]) != 0)
            out->v[u++] = out->v[i];
    out->n = u;
    return 0;
}

void query_metadata_free(struct query_metadata *m)
{
    if (m->mem) {
        arena_deinit(m->mem);
        free(m->mem);
    }
    memset(m, 0, sizeof *m);
}

/* ---- head statistics ---- */

static int pair_cmp(const void *a, const void *b)
{
    const struct query_pair_count *x = a, *y = b;
    int c = str_cmp(x->name, y->name);
    return c ? c : str_cmp(x->value, y->value);
}

static int stat_cmp(const void *a, const void *b)
{
    const struct query_stat *x = a, *y = b;
    if (x->value != y->value)
        return x->value > y->value ? -1 : 1;
    return str_cmp(x->name, y->name);
}

/* Bytes of a varint holding v (labels.SizeOfLabels' length prefixes). */
static uint64_t varint_size(uint64_t v)
{
    uint64_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* A growable list of stats in an arena-backed output. */
struct stat_list {
    struct query_stat *v;
    size_t n, cap;
};

static int stat_push(struct stat_list *l, struct str name, uint64_t value)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        struct query_stat *nv = realloc(l->v, ncap * sizeof *nv);
        if (!nv)
            return ERR_NOMEM;
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = (struct query_stat){name, value};
    return 0;
}

/* Sorts by count (largest first), keeps the top `limit`, copies them into the arena. */
static int stat_top(struct arena *a, struct stat_list *l, size_t limit, struct query_stat **out,
                    size_t *n_out)
{
    if (l->n)
        qsort(l->v, l->n, sizeof *l->v, stat_cmp);
    size_t n = l->n < limit ? l->n : limit;
    *out = arena_alloc(a, (n ? n : 1) * sizeof **out);
    int rc = *out ? 0 : ERR_NOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        (*out)[i].name = arena_str(a, l->v[i].name, &rc);
        (*out)[i].value = l->v[i].value;
    }
    *n_out = rc ? 0 : n;
    free(l->v);
    memset(l, 0, sizeof *l);
    return rc;
}

/* "name=value" in the arena. */
static struct str pair_name(struct arena *a, const struct query_pair_count *p, int *rc)
{
    char *s = arena_alloc_aligned(a, p->name.len + 1 + p->value.len, 1);
    if (!s) {
        *rc = ERR_NOMEM;
        return (struct str){"", 0};
    }
    if (p->name.len)
        memcpy(s, p->name.ptr, p->name.len);
    s[p->name.len] = '=';
    if (p->value.len)
        memcpy(s + p->name.len + 1, p->value.ptr, p->value.len);
    return (struct str){s, p->name.len + 1 + p->value.len};
}

/* Turns the sorted, summed pairs into the four top lists. */
static int cardinality(struct query_head_stats *out, struct arena *a,
                       const struct query_pair_count *pairs, size_t n, size_t limit)
{
    struct stat_list metric = {0}, values = {0}, memory = {0}, bypair = {0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        struct str name = pairs[i].name;
        uint64_t nvalues = 0, bytes = 0;
        for (; i < n && str_eq(pairs[i].name, name) && rc == 0; i++) {
            const struct query_pair_count *p = &pairs[i];
            nvalues++;
            bytes += (name.len + varint_size(name.len) + p->value.len + varint_size(p->value.len)) *
                     p->count;
            if (str_eq_cstr(name, "__name__"))
                rc = stat_push(&metric, p->value, p->count);
            if (!rc)
                rc = stat_push(&bypair, pair_name(a, p, &rc), p->count);
        }
        if (!rc)
            rc = stat_push(&values, name, nvalues);
        if (!rc)
            rc = stat_push(&memory, name, bytes);
    }
    if (!rc)
        rc = stat_top(a, &metric, limit, &out->by_metric, &out->n_by_metric);
    if (!rc)
        rc = stat_top(a, &values, limit, &out->value_count_by_name, &out->n_value_count_by_name);
    if (!rc)
        rc = stat_top(a, &memory, limit, &out->memory_by_name, &out->n_memory_by_name);
    if (!rc)
        rc = stat_top(a, &bypair, limit, &out->by_pair, &out->n_by_pair);
    free(metric.v);
    free(values.v);
    free(memory.v);
    free(bypair.v);
    return rc;
}

/* Collects every shard's pairs (sorted by name, value; equal pairs summed) and the head figures. */
static int merge_pairs(struct query_head_stats *out, struct query_piece *const *v, size_t n,
                       struct query_pair_count **pairs_out, size_t *np_out)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += v[i]->n;
        out->num_series += v[i]->num_series;
        out->chunk_count += v[i]->chunk_count;
        if (v[i]->min_time_ms < out->min_time_ms)
            out->min_time_ms = v[i]->min_time_ms;
        if (v[i]->max_time_ms > out->max_time_ms)
            out->max_time_ms = v[i]->max_time_ms;
    }
    struct query_pair_count *pairs = malloc((total ? total : 1) * sizeof *pairs);
    if (!pairs)
        return ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t x = 0; x < v[i]->n; x++)
            pairs[k++] = v[i]->u.pairs[x]; /* strings stay in the pieces until we are done */
    qsort(pairs, k, sizeof *pairs, pair_cmp);
    size_t u = 0;
    for (size_t i = 0; i < k; i++) {
        if (u > 0 && pair_cmp(&pairs[u - 1], &pairs[i]) == 0)
            pairs[u - 1].count += pairs[i].count; /* series are disjoint across shards */
        else
            pairs[u++] = pairs[i];
    }
    *pairs_out = pairs;
    *np_out = u;
    return 0;
}

int query_head_stats(struct query_job *j, size_t limit, struct query_head_stats *out)
{
    memset(out, 0, sizeof *out);
    out->min_time_ms = INT64_MAX;
    out->max_time_ms = INT64_MIN;
    struct query_spec spec = {.kind = QK_STATS};
    int rc = query_spec_matchers(&spec, NULL, j->tenant);
    if (rc) {
        query_spec_free(&spec);
        return rc;
    }
    struct query_gathered g;
    size_t np = 0;
    struct query_pair_count *pairs = NULL;
    rc = query_gather(j, &spec, &g);
    if (rc == 0)
        rc = merge_pairs(out, g.v, g.n, &pairs, &np);
    struct arena *a = rc ? NULL : malloc(sizeof *a);
    if (!rc && !a)
        rc = ERR_NOMEM;
    if (a) {
        arena_init(a, OUT_ARENA_CHUNK);
        out->mem = a;
        out->num_label_pairs = np;
        rc = cardinality(out, a, pairs, np, limit);
    }
    free(pairs);
    query_gathered_done(&g);
    if (rc)
        query_head_stats_free(out);
    return rc;
}

void query_head_stats_free(struct query_head_stats *s)
{
    if (s->mem) {
        arena_deinit(s->mem);
        free(s->mem);
    }
    memset(s, 0, sizeof *s);
}
