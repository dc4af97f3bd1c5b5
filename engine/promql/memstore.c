/* In-memory metrics storage for tests and the conformance runner (see memstore.h): series in a
 * hash map by label set, samples in time order, chunks built lazily per series on select. */
#include "engine/promql/memstore.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/strmap.h"
#include "formats/gorilla.h"

#define MEM_CHUNK_SAMPLES 120

enum mkind { MK_FLOAT, MK_HIST };

struct mentry {
    int64_t t, st;
    uint8_t kind;
    uint64_t bits;               /* MK_FLOAT */
    const struct promql_hist *h; /* MK_HIST */
};

/* Where the simulated TSDB head chunk stands, for counter-reset hints. */
enum hstate { HS_NONE, HS_FLOAT, HS_COUNTER, HS_GAUGE };

struct mseries {
    struct promql_lset *ls;
    struct mentry *e;
    size_t n, cap;
    enum hstate hs;
    bool last_stale;                  /* the head histogram chunk ended with a stale marker */
    const struct promql_hist *last_h; /* last histogram of the current histogram chunk */
    /* Chunks built on demand; valid until the next append. */
    struct chunk_meta *chunks;
    size_t nchunks;
    bool dirty;
    struct arena chunk_arena;
};

struct promql_memstore {
    struct arena arena;
    struct strmap by_key;
    struct mseries **series;
    size_t n, cap;
    bool sorted;
};

struct promql_memstore *promql_memstore_create(void)
{
    struct promql_memstore *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    arena_init(&m->arena, 64 * 1024);
    strmap_init(&m->by_key);
    m->sorted = true;
    return m;
}

static void free_series(struct mseries *s)
{
    free(s->e);
    arena_deinit(&s->chunk_arena);
    free(s);
}

void promql_memstore_clear(struct promql_memstore *m)
{
    for (size_t i = 0; i < m->n; i++)
        free_series(m->series[i]);
    m->n = 0;
    strmap_deinit(&m->by_key);
    strmap_init(&m->by_key);
    arena_reset(&m->arena);
    m->sorted = true;
}

void promql_memstore_destroy(struct promql_memstore *m)
{
    if (!m)
        return;
    promql_memstore_clear(m);
    free(m->series);
    strmap_deinit(&m->by_key);
    arena_deinit(&m->arena);
    free(m);
}

size_t promql_memstore_series_count(const struct promql_memstore *m)
{
    return m->n;
}

/* ---- series lookup ---- */

static int lset_key(struct arena *a, const struct promql_lset *ls, struct str *out)
{
    size_t len = 0;
    for (uint32_t i = 0; i < ls->n; i++)
        len += ls->l[i].name.len + ls->l[i].value.len + 2;
    char *p = arena_alloc(a, len + 1);
    if (!p)
        return ERR_NOMEM;
    size_t o = 0;
    for (uint32_t i = 0; i < ls->n; i++) {
        memcpy(p + o, ls->l[i].name.ptr, ls->l[i].name.len);
        o += ls->l[i].name.len;
        p[o++] = (char)0xff;
        memcpy(p + o, ls->l[i].value.ptr, ls->l[i].value.len);
        o += ls->l[i].value.len;
        p[o++] = (char)0xff;
    }
    *out = (struct str){p, o};
    return 0;
}

static int get_series(struct promql_memstore *m, const struct label *l, size_t n,
                      struct mseries **out)
{
    struct promql_lset *ls = promql_lset_make(&m->arena, l, n, true);
    struct str key;
    if (!ls || lset_key(&m->arena, ls, &key))
        return ERR_NOMEM;
    struct mseries *s = strmap_get(&m->by_key, key);
    if (s) {
        *out = s;
        return 0;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct mseries **v = realloc(m->series, cap * sizeof *v);
        if (!v)
            return ERR_NOMEM;
        m->series = v;
        m->cap = cap;
    }
    s = calloc(1, sizeof *s);
    if (!s)
        return ERR_NOMEM;
    arena_init(&s->chunk_arena, 4096);
    s->ls = ls;
    if (strmap_put(&m->by_key, key, s)) {
        free_series(s);
        return ERR_NOMEM;
    }
    m->series[m->n++] = s;
    m->sorted = false;
    *out = s;
    return 0;
}

static int push_entry(struct mseries *s, const struct mentry *e)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct mentry *v = realloc(s->e, cap * sizeof *v);
        if (!v)
            return ERR_NOMEM;
        s->e = v;
        s->cap = cap;
    }
    s->e[s->n++] = *e;
    s->dirty = true;
    return 0;
}

/* 0: append; 1: identical duplicate (ignore); negative: error. */
static int check_order(const struct mseries *s, const struct mentry *e)
{
    if (s->n == 0)
        return 0;
    const struct mentry *last = &s->e[s->n - 1];
    if (e->t > last->t)
        return 0;
    if (e->t < last->t)
        return ERR_ORDER;
    if (last->kind == e->kind && e->kind == MK_FLOAT && last->bits == e->bits)
        return 1;
    if (last->kind == e->kind && e->kind == MK_HIST && promql_hist_equals(last->h, e->h))
        return 1;
    return ERR_DUPLICATE;
}

int promql_memstore_add_float(struct promql_memstore *m, const struct label *ls, size_t n,
                              int64_t t, double v, int64_t st)
{
    struct mseries *s;
    int rc = get_series(m, ls, n, &s);
    if (rc)
        return rc;
    struct mentry e = {.t = t, .st = st, .kind = MK_FLOAT};
    memcpy(&e.bits, &v, sizeof v);
    rc = check_order(s, &e);
    if (rc)
        return rc > 0 ? 0 : rc;
    if (e.bits == GORILLA_STALE_NAN_BITS && (s->hs == HS_COUNTER || s->hs == HS_GAUGE)) {
        /* Prometheus appends it as a stale histogram: the histogram chunk goes on. */
        s->last_stale = true;
    } else {
        s->hs = HS_FLOAT;
        s->last_h = NULL;
        s->last_stale = false;
    }
    return push_entry(s, &e);
}

/* ---- counter reset hints as the TSDB head assigns them ---- */

/* FloatHistogramAppender.appendable for counters: 1 = reset, 0 = appendable, -1 = new chunk
 * without a reset (layout change). */
static int counter_appendable(const struct promql_hist *prev, const struct promql_hist *h)
{
    if (h->hint == PROMQL_HINT_RESET)
        return 1;
    if (h->count < prev->count)
        return 1;
    if (h->schema != prev->schema || h->zero_threshold != prev->zero_threshold)
        return -1;
    if (promql_hist_is_custom(h)) {
        bool same = h->ncustom == prev->ncustom;
        for (uint32_t i = 0; same && i < h->ncustom; i++)
            same = h->custom[i] == prev->custom[i];
        if (!same)
            return 1;
    }
    if (h->zero_count < prev->zero_count)
        return 1;
    for (uint32_t i = 0; i < prev->p_len; i++) {
        int64_t k = (int64_t)prev->p_off + i - h->p_off;
        double cur = k >= 0 && k < (int64_t)h->p_len ? h->p[k] : 0;
        if (prev->p[i] > cur)
            return 1;
    }
    for (uint32_t i = 0; i < prev->n_len; i++) {
        int64_t k = (int64_t)prev->n_off + i - h->n_off;
        double cur = k >= 0 && k < (int64_t)h->n_len ? h->n[k] : 0;
        if (prev->n[i] > cur)
            return 1;
    }
    return 0;
}

/* The hint a histogram reads back with. Prometheus's chunk iterators report "gauge" in gauge
 * chunks, "not_reset" for every histogram after the first of a counter chunk, and "unknown" for
 * the first one of a chunk (its header is not trusted); so what matters is where chunks are cut:
 * at the first histogram after floats or a stale marker, on a layout change (schema, zero
 * threshold), on a counter reset, and when switching between counter and gauge histograms. */
static uint8_t assign_hint(struct mseries *s, const struct promql_hist *h)
{
    bool gauge = h->hint == PROMQL_HINT_GAUGE;
    bool in_chunk = s->hs == HS_COUNTER || s->hs == HS_GAUGE;
    bool new_chunk = !in_chunk || s->last_stale || gauge != (s->hs == HS_GAUGE);
    if (!new_chunk && !gauge)
        new_chunk = counter_appendable(s->last_h, h) != 0;
    if (!new_chunk && gauge) {
        const struct promql_hist *p = s->last_h;
        bool same = h->schema == p->schema && h->zero_threshold == p->zero_threshold &&
                    h->ncustom == p->ncustom;
        for (uint32_t i = 0; same && i < h->ncustom; i++)
            same = h->custom[i] == p->custom[i];
        new_chunk = !same;
    }
    s->hs = gauge ? HS_GAUGE : HS_COUNTER;
    if (gauge)
        return PROMQL_HINT_GAUGE;
    return new_chunk ? PROMQL_HINT_UNKNOWN : PROMQL_HINT_NOT_RESET;
}

int promql_memstore_add_hist(struct promql_memstore *m, const struct label *ls, size_t n, int64_t t,
                             const struct promql_hist *h, int64_t st)
{
    struct mseries *s;
    int rc = get_series(m, ls, n, &s);
    if (rc)
        return rc;
    struct promql_hist *c = promql_hist_copy(&m->arena, h);
    if (!c)
        return ERR_NOMEM;
    struct mentry e = {.t = t, .st = st, .kind = MK_HIST, .h = c};
    rc = check_order(s, &e);
    if (rc)
        return rc > 0 ? 0 : rc;
    c->hint = assign_hint(s, h);
    s->last_h = c;
    s->last_stale = false;
    return push_entry(s, &e);
}

/* ---- chunks ---- */

static int push_chunk(struct mseries *s, size_t *cap, const struct chunk_meta *c)
{
    if (s->nchunks == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        struct chunk_meta *v = arena_alloc(&s->chunk_arena, nc * sizeof *v);
        if (!v)
            return ERR_NOMEM;
        if (s->nchunks)
            memcpy(v, s->chunks, s->nchunks * sizeof *v);
        s->chunks = v;
        *cap = nc;
    }
    s->chunks[s->nchunks++] = *c;
    return 0;
}

static int build_float_chunk(struct mseries *s, size_t *cap, size_t from, size_t to)
{
    struct gorilla_enc enc;
    gorilla_enc_init(&enc);
    bool any_st = false;
    for (size_t i = from; i < to; i++) {
        int rc = gorilla_enc_append_bits(&enc, s->e[i].t, s->e[i].bits);
        if (rc) {
            gorilla_enc_deinit(&enc);
            return rc;
        }
        any_st |= s->e[i].st != 0;
    }
    struct gorilla_snap snap;
    gorilla_enc_snapshot(&enc, &snap);
    uint8_t *data = arena_dup(&s->chunk_arena, snap.data, snap.len, 0);
    gorilla_enc_deinit(&enc);
    if (!data)
        return ERR_NOMEM;
    struct chunk_meta c = {s->e[from].t, s->e[to - 1].t, (uint32_t)(to - from),
                           CHUNK_XOR,    data,           snap.len};
    int rc = push_chunk(s, cap, &c);
    if (rc || !any_st)
        return rc;
    struct promql_st_sample *v = arena_alloc(&s->chunk_arena, (to - from) * sizeof *v);
    if (!v)
        return ERR_NOMEM;
    for (size_t i = from; i < to; i++)
        v[i - from] = (struct promql_st_sample){s->e[i].t, s->e[i].st};
    c.encoding = PROMQL_CHUNK_ST_MEM;
    c.data = (const uint8_t *)v;
    c.len = (to - from) * sizeof *v;
    return push_chunk(s, cap, &c);
}

static int build_hist_chunk(struct mseries *s, size_t *cap, size_t from, size_t to)
{
    struct promql_hist_sample *v = arena_alloc(&s->chunk_arena, (to - from) * sizeof *v);
    if (!v)
        return ERR_NOMEM;
    for (size_t i = from; i < to; i++)
        v[i - from] = (struct promql_hist_sample){s->e[i].t, s->e[i].st, s->e[i].h};
    struct chunk_meta c = {s->e[from].t,          s->e[to - 1].t,  (uint32_t)(to - from),
                           PROMQL_CHUNK_HIST_MEM, (const void *)v, (to - from) * sizeof *v};
    return push_chunk(s, cap, &c);
}

static int build_chunks(struct mseries *s)
{
    if (!s->dirty)
        return 0;
    arena_reset(&s->chunk_arena);
    s->chunks = NULL;
    s->nchunks = 0;
    size_t cap = 0;
    for (size_t i = 0; i < s->n;) {
        size_t j = i + 1;
        while (j < s->n && j - i < MEM_CHUNK_SAMPLES && s->e[j].kind == s->e[i].kind)
            j++;
        int rc = s->e[i].kind == MK_FLOAT ? build_float_chunk(s, &cap, i, j)
                                          : build_hist_chunk(s, &cap, i, j);
        if (rc)
            return rc;
        i = j;
    }
    s->dirty = false;
    return 0;
}

/* ---- select ---- */

struct mset {
    struct chunk_series_set base;
    struct mseries **v;
    size_t n, pos;
    int64_t mint, maxt;
    struct chunk_series cur;
};

static int mset_next(struct chunk_series_set *b)
{
    struct mset *s = (struct mset *)b;
    while (s->pos < s->n) {
        struct mseries *ms = s->v[s->pos++];
        size_t lo = 0;
        while (lo < ms->nchunks && ms->chunks[lo].maxt_ms < s->mint)
            lo++;
        size_t hi = lo;
        while (hi < ms->nchunks && ms->chunks[hi].mint_ms <= s->maxt)
            hi++;
        if (hi == lo)
            continue;
        s->cur = (struct chunk_series){ms->ls->l, ms->ls->n, ms->chunks + lo, hi - lo};
        return 1;
    }
    return 0;
}

static const struct chunk_series *mset_at(struct chunk_series_set *b)
{
    return &((struct mset *)b)->cur;
}

static void mset_close(struct chunk_series_set *b)
{
    struct mset *s = (struct mset *)b;
    free(s->v);
    free(s);
}

static const struct chunk_series_set_ops mset_ops = {mset_next, mset_at, mset_close};

static int series_cmp(const void *a, const void *b)
{
    const struct mseries *x = *(struct mseries *const *)a, *y = *(struct mseries *const *)b;
    return promql_lset_cmp(x->ls, y->ls);
}

static bool series_matches(const struct mseries *s, const struct matcher *ms, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!matcher_matches(&ms[i], promql_lset_get(s->ls, ms[i].name)))
            return false;
    return true;
}

static int mem_select(void *ctx, const struct matcher *ms, size_t n, int64_t mint, int64_t maxt,
                      const struct promql_select_hints *hints, struct chunk_series_set **out)
{
    (void)hints;
    struct promql_memstore *m = ctx;
    if (n == 0)
        return ERR_INVALID;
    if (!m->sorted) {
        qsort(m->series, m->n, sizeof *m->series, series_cmp);
        m->sorted = true;
    }
    struct mset *s = calloc(1, sizeof *s);
    if (!s)
        return ERR_NOMEM;
    s->base.ops = &mset_ops;
    s->mint = mint;
    s->maxt = maxt;
    for (size_t i = 0; i < m->n; i++) {
        if (!series_matches(m->series[i], ms, n))
            continue;
        if (build_chunks(m->series[i]) != 0) {
            mset_close(&s->base);
            return ERR_NOMEM;
        }
        if (s->n % 64 == 0) {
            struct mseries **v = realloc(s->v, (s->n + 64) * sizeof *v);
            if (!v) {
                mset_close(&s->base);
                return ERR_NOMEM;
            }
            s->v = v;
        }
        s->v[s->n++] = m->series[i];
    }
    *out = &s->base;
    return 0;
}

void promql_memstore_storage(struct promql_memstore *m, struct promql_storage *out)
{
    out->select = mem_select;
    out->ctx = m;
}
