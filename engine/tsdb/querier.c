/* The query storage interface over one shard's TSDB: select over head + overlapping blocks through
 * merge_set, merged label names/values, and the merging sample iterator of one series. */
#include "engine/tsdb/querier.h"

#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "engine/tsdb/merge.h"
#include "engine/tsdb/tsdb_internal.h"

static bool block_overlaps(struct block *b, int64_t mint, int64_t maxt)
{
    const struct blockindex_meta *m = block_meta(b);
    return m->min_time_ms <= maxt && m->max_time_ms > mint; /* block: [min, max) */
}

/* ---- series-only wrapper: drops the chunks ---- */

struct labels_only_set {
    struct chunk_series_set base;
    struct chunk_series_set *in;
    struct chunk_series cur;
};

static int lo_next(struct chunk_series_set *base)
{
    struct labels_only_set *s = (struct labels_only_set *)base;
    int rc = chunk_series_set_next(s->in);
    if (rc < 0)
        base->err = rc;
    if (rc == 1) {
        s->cur = *chunk_series_set_at(s->in);
        s->cur.chunks = NULL;
        s->cur.n_chunks = 0;
    }
    return rc;
}

static const struct chunk_series *lo_at(struct chunk_series_set *base)
{
    return &((struct labels_only_set *)base)->cur;
}

static void lo_close(struct chunk_series_set *base)
{
    struct labels_only_set *s = (struct labels_only_set *)base;
    chunk_series_set_close(s->in);
    free(s);
}

static const struct chunk_series_set_ops labels_only_ops = {lo_next, lo_at, lo_close};

static int wrap_labels_only(struct chunk_series_set **set)
{
    struct labels_only_set *s = calloc(1, sizeof *s);
    if (!s) {
        chunk_series_set_close(*set);
        *set = NULL;
        return ERR_NOMEM;
    }
    s->base.ops = &labels_only_ops;
    s->in = *set;
    *set = &s->base;
    return 0;
}

/* ---- select ---- */

int querier_select(struct tsdb *t, const struct matcher *ms, size_t n, int64_t mint_ms,
                   int64_t maxt_ms, const struct querier_hints *hints,
                   struct chunk_series_set **out)
{
    *out = NULL;
    if (n == 0)
        return ERR_INVALID;
    struct chunk_series_set **in = calloc(t->n_blocks + 1, sizeof *in);
    if (!in)
        return ERR_NOMEM;
    size_t k = 0;
    int rc = 0;
    for (size_t i = 0; i < t->n_blocks && rc == 0; i++)
        if (block_overlaps(t->blocks[i], mint_ms, maxt_ms) &&
            (rc = block_select(t->blocks[i], ms, n, mint_ms, maxt_ms, &in[k])) == 0)
            k++;
    if (rc == 0 && !(in[k] = head_select(t->head, ms, n, mint_ms, maxt_ms)))
        rc = ERR_NOMEM;
    else if (rc == 0)
        k++;
    if (rc) {
        for (size_t i = 0; i < k; i++)
            chunk_series_set_close(in[i]);
        free(in);
        return rc;
    }
    rc = merge_set_create(in, k, 0, out); /* takes the inputs, also on failure */
    free(in);
    if (rc == 0 && hints && hints->series_only)
        rc = wrap_labels_only(out);
    return rc;
}

/* ---- label names and values ---- */

struct str_pool {
    struct str *v;
    size_t n, cap;
};

static int pool_add(struct str_pool *p, const struct str *v, size_t n)
{
    if (p->n + n > p->cap) {
        size_t cap = p->cap ? p->cap : 64;
        while (cap < p->n + n)
            cap *= 2;
        struct str *q = realloc(p->v, cap * sizeof *q);
        if (!q)
            return ERR_NOMEM;
        p->v = q;
        p->cap = cap;
    }
    if (n)
        memcpy(p->v + p->n, v, n * sizeof *v);
    p->n += n;
    return 0;
}

static int str_qcmp(const void *a, const void *b)
{
    return str_cmp(*(const struct str *)a, *(const struct str *)b);
}

/* Sorts, de-duplicates and copies the pool into one allocation. */
static int pool_finish(struct str_pool *p, struct querier_strings *out)
{
    if (p->n > 1)
        qsort(p->v, p->n, sizeof *p->v, str_qcmp);
    size_t k = 0, bytes = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (k > 0 && str_eq(p->v[k - 1], p->v[i]))
            continue;
        p->v[k++] = p->v[i];
        bytes += p->v[i].len;
    }
    struct str *v = malloc(k * sizeof *v + bytes + 1);
    if (!v)
        return ERR_NOMEM;
    char *mem = (char *)(v + k);
    for (size_t i = 0; i < k; i++) {
        if (p->v[i].len)
            memcpy(mem, p->v[i].ptr, p->v[i].len);
        v[i] = (struct str){mem, p->v[i].len};
        mem += p->v[i].len;
    }
    out->v = v;
    out->n = k;
    return 0;
}

/* One source's list: the head (block NULL) or a block. *got is malloc'ed. */
typedef int (*labels_fn)(struct tsdb *t, struct block *b, const struct str *name,
                         const struct matcher *ms, size_t n, int64_t mint, int64_t maxt,
                         struct str **got, size_t *n_got);

static int names_of(struct tsdb *t, struct block *b, const struct str *name,
                    const struct matcher *ms, size_t n, int64_t mint, int64_t maxt,
                    struct str **got, size_t *n_got)
{
    (void)name;
    if (!b)
        return head_label_names(t->head, ms, n, mint, maxt, got, n_got);
    return block_label_names(b, ms, n, got, n_got);
}

static int values_of(struct tsdb *t, struct block *b, const struct str *name,
                     const struct matcher *ms, size_t n, int64_t mint, int64_t maxt,
                     struct str **got, size_t *n_got)
{
    if (!b)
        return head_label_values(t->head, *name, ms, n, mint, maxt, got, n_got);
    return block_label_values(b, *name, ms, n, got, n_got);
}

/* Collects every source's list while holding the blocks (their strings borrow from them). */
static int collect(struct tsdb *t, labels_fn fn, const struct str *name, const struct matcher *ms,
                   size_t n, int64_t mint, int64_t maxt, struct querier_strings *out)
{
    memset(out, 0, sizeof *out);
    struct str_pool p = {0};
    struct str **lists = calloc(t->n_blocks + 1, sizeof *lists);
    if (!lists)
        return ERR_NOMEM;
    int rc = 0;
    for (size_t i = 0; i <= t->n_blocks && rc == 0; i++) {
        struct block *b = i < t->n_blocks ? t->blocks[i] : NULL;
        if (b && !block_overlaps(b, mint, maxt))
            continue;
        size_t got = 0;
        rc = fn(t, b, name, ms, n, mint, maxt, &lists[i], &got);
        if (rc == 0)
            rc = pool_add(&p, lists[i], got);
    }
    if (rc == 0)
        rc = pool_finish(&p, out);
    for (size_t i = 0; i <= t->n_blocks; i++)
        free(lists[i]);
    free(lists);
    free(p.v);
    return rc;
}

int querier_label_names(struct tsdb *t, const struct matcher *ms, size_t n, int64_t mint_ms,
                        int64_t maxt_ms, struct querier_strings *out)
{
    return collect(t, names_of, NULL, ms, n, mint_ms, maxt_ms, out);
}

int querier_label_values(struct tsdb *t, struct str name, const struct matcher *ms, size_t n,
                         int64_t mint_ms, int64_t maxt_ms, struct querier_strings *out)
{
    return collect(t, values_of, &name, ms, n, mint_ms, maxt_ms, out);
}

void querier_strings_free(struct querier_strings *s)
{
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* ---- the sample iterator ---- */

void querier_sample_iter_init_chunks(struct querier_sample_iter *it,
                                     const struct chunk_meta *chunks, size_t n)
{
    memset(it, 0, offsetof(struct querier_sample_iter, inline_act));
    it->chunks = chunks;
    it->n_chunks = n;
    it->act = it->inline_act;
    it->cap_act = QUERIER_ITER_INLINE;
    it->last_t = INT64_MIN;
}

void querier_sample_iter_init(struct querier_sample_iter *it, const struct chunk_series *s)
{
    querier_sample_iter_init_chunks(it, s->chunks, s->n_chunks);
}

void querier_sample_iter_deinit(struct querier_sample_iter *it)
{
    if (it->act != it->inline_act)
        free(it->act);
    it->act = it->inline_act;
    it->n_act = 0;
}

static int fail(struct querier_sample_iter *it, int err)
{
    it->err = err;
    it->have = false;
    return err;
}

static void act_at(const struct querier_chunk_it *a, int64_t *t, uint64_t *v)
{
    if (a->enc == CHUNK_PACKED)
        floatpack_iter_at_bits(&a->pk, t, v);
    else
        gorilla_iter_at_bits(&a->it, t, v);
}

static int64_t act_t(const struct querier_chunk_it *a)
{
    int64_t t;
    uint64_t v;
    act_at(a, &t, &v);
    return t;
}

static void act_drop(struct querier_sample_iter *it, size_t i)
{
    it->act[i] = it->act[--it->n_act];
}

/* Moves active iterator i to its first sample >= t (or its next one when t is INT64_MIN);
 * drops it at its end. Returns 0 or an error. */
static int act_seek(struct querier_sample_iter *it, size_t i, int64_t t, bool *dropped)
{
    struct querier_chunk_it *a = &it->act[i];
    int rc;
    if (a->enc == CHUNK_PACKED)
        rc = t == INT64_MIN ? floatpack_iter_next(&a->pk) : floatpack_iter_seek(&a->pk, t);
    else
        rc = t == INT64_MIN ? gorilla_iter_next(&a->it) : gorilla_iter_seek(&a->it, t);
    *dropped = rc == 0;
    if (rc == 0)
        act_drop(it, i);
    return rc < 0 ? rc : 0;
}

static int act_push(struct querier_sample_iter *it)
{
    if (it->n_act < it->cap_act)
        return 0;
    size_t cap = it->cap_act * 2;
    struct querier_chunk_it *p = malloc(cap * sizeof *p);
    if (!p)
        return ERR_NOMEM;
    memcpy(p, it->act, it->n_act * sizeof *p);
    if (it->act != it->inline_act)
        free(it->act);
    it->act = p;
    it->cap_act = cap;
    return 0;
}

/* Starts the next chunk, positioned after last_t. */
static int start_chunk(struct querier_sample_iter *it)
{
    size_t idx = it->next_chunk++;
    const struct chunk_meta *c = &it->chunks[idx];
    if (c->encoding == CHUNK_HISTOGRAM || c->encoding == CHUNK_FLOAT_HISTOGRAM)
        return 0; /* float samples only: native histogram chunks are skipped */
    if (c->encoding != CHUNK_XOR && c->encoding != CHUNK_PACKED)
        return ERR_UNSUPPORTED;
    int rc = act_push(it);
    if (rc)
        return rc;
    struct querier_chunk_it *a = &it->act[it->n_act++];
    a->idx = idx;
    a->enc = c->encoding;
    rc = a->enc == CHUNK_PACKED ? floatpack_iter_init(&a->pk, c->data, c->len)
                                : gorilla_iter_init(&a->it, c->data, c->len);
    if (rc != 0) {
        it->n_act--;
        return rc;
    }
    bool dropped;
    if (it->last_t == INT64_MAX) { /* nothing can follow */
        it->n_act--;
        return 0;
    }
    int64_t from = it->last_t == INT64_MIN ? INT64_MIN : it->last_t + 1;
    return act_seek(it, it->n_act - 1, from, &dropped);
}

/* The active iterator with the smallest timestamp (ties: the first-listed chunk), or SIZE_MAX. */
static size_t act_min(const struct querier_sample_iter *it)
{
    size_t best = SIZE_MAX;
    int64_t bt = 0;
    for (size_t i = 0; i < it->n_act; i++) {
        int64_t t = act_t(&it->act[i]);
        if (best == SIZE_MAX || t < bt || (t == bt && it->act[i].idx < it->act[best].idx)) {
            best = i;
            bt = t;
        }
    }
    return best;
}

/* Starts every chunk that may hold a sample before the active ones' next. */
static int start_due(struct querier_sample_iter *it)
{
    while (it->next_chunk < it->n_chunks) {
        size_t m = act_min(it);
        if (m != SIZE_MAX && it->chunks[it->next_chunk].mint_ms > act_t(&it->act[m]))
            break;
        int rc = start_chunk(it);
        if (rc)
            return rc;
    }
    return 0;
}

/* Takes the smallest pending sample and advances every iterator standing on its timestamp. */
static int take(struct querier_sample_iter *it)
{
    int rc = start_due(it);
    if (rc)
        return fail(it, rc);
    size_t m = act_min(it);
    if (m == SIZE_MAX) {
        it->have = false;
        return 0;
    }
    act_at(&it->act[m], &it->t, &it->v);
    it->last_t = it->t;
    it->have = true;
    for (size_t i = 0; i < it->n_act;) {
        bool dropped = false;
        if (act_t(&it->act[i]) == it->t && (rc = act_seek(it, i, INT64_MIN, &dropped)) != 0)
            return fail(it, rc);
        if (!dropped)
            i++;
    }
    return 1;
}

int querier_sample_iter_next(struct querier_sample_iter *it)
{
    if (it->err)
        return it->err;
    return take(it);
}

int querier_sample_iter_seek(struct querier_sample_iter *it, int64_t t_ms)
{
    if (it->err)
        return it->err;
    if (it->have && it->t >= t_ms)
        return 1;
    if (t_ms == INT64_MIN)
        return take(it); /* not started yet, or at the end */
    /* Chunks wholly before t_ms at the front need no decoding. */
    while (it->next_chunk < it->n_chunks && it->chunks[it->next_chunk].maxt_ms < t_ms)
        it->next_chunk++;
    for (size_t i = 0; i < it->n_act;) {
        bool dropped = false;
        int rc = act_seek(it, i, t_ms, &dropped);
        if (rc)
            return fail(it, rc);
        if (!dropped)
            i++;
    }
    if (t_ms != INT64_MIN && t_ms - 1 > it->last_t)
        it->last_t = t_ms - 1;
    return take(it);
}
