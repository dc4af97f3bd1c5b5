/* Cross-shard query execution (server/query.h) on a real mesh with real query threads and fake
 * owner stores, every shard's loop turn driven by the test thread: selections merged from all
 * shards in label order (tenant confinement, __tenant__ stripped, chunk bytes intact), streaming in
 * many small pieces with the in-flight bound, several matcher sets unioned, label names and values
 * (limit + 1, __tenant__ never returned), metadata from every shard, head statistics, owner
 * errors, cancellation and deadlines (owners stop, everything drains and is freed), the queue
 * limit, and a randomized comparison against a brute-force merge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/hash.h"
#include "engine/shard/mesh.h"
#include "formats/gorilla.h"
#include "server/ingest_internal.h"
#include "server/query_internal.h"
#include "tests/unit/prop.h"
#include "tests/unit/server/query_world.h"

#define NS_MAX     4
#define SERIES_MAX 4096

/* ---- a fake owner store: sorted series with one Gorilla chunk each ---- */

struct fseries {
    struct label ls[6];
    char buf[6][2][24];
    size_t n;
    int64_t t0;
    uint32_t samples;
    uint8_t *chunk;
    size_t len;
};

struct fstore {
    struct fseries *v;
    size_t n, cap;
    int fail; /* select returns this when nonzero */
    _Atomic int open_sets;
};

/* Compares by the label strings in buf (ls may point into a moved element while sorting). */
static int fseries_cmp(const void *a, const void *b)
{
    const struct fseries *x = a, *y = b;
    struct label lx[6], ly[6];
    for (size_t i = 0; i < x->n; i++)
        lx[i] = (struct label){str_from_cstr(x->buf[i][0]), str_from_cstr(x->buf[i][1])};
    for (size_t i = 0; i < y->n; i++)
        ly[i] = (struct label){str_from_cstr(y->buf[i][0]), str_from_cstr(y->buf[i][1])};
    return labels_cmp(lx, x->n, ly, y->n);
}

static bool fmatch(const struct fseries *s, const struct matcher *ms, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct str v = {"", 0};
        for (size_t k = 0; k < s->n; k++)
            if (str_eq(s->ls[k].name, ms[i].name))
                v = s->ls[k].value;
        if (!matcher_matches(&ms[i], v))
            return false;
    }
    return true;
}

struct fset {
    struct chunk_series_set base;
    struct fstore *st;
    const struct matcher *ms;
    size_t nms, pos;
    int64_t mint, maxt;
    bool series_only;
    struct chunk_meta cm;
    struct chunk_series cur;
};

static int fset_next(struct chunk_series_set *b)
{
    struct fset *s = (struct fset *)b;
    while (s->pos < s->st->n) {
        struct fseries *f = &s->st->v[s->pos++];
        int64_t last = f->t0 + (int64_t)(f->samples - 1) * 1000;
        if (!fmatch(f, s->ms, s->nms) || last < s->mint || f->t0 > s->maxt)
            continue;
        s->cm = (struct chunk_meta){f->t0, last, f->samples, CHUNK_XOR, f->chunk, f->len};
        s->cur = (struct chunk_series){f->ls, f->n, &s->cm, s->series_only ? 0 : 1};
        return 1;
    }
    return 0;
}

static const struct chunk_series *fset_at(struct chunk_series_set *b)
{
    return &((struct fset *)b)->cur;
}

static void fset_close(struct chunk_series_set *b)
{
    struct fset *s = (struct fset *)b;
    atomic_fetch_sub(&s->st->open_sets, 1);
    free(s);
}

static const struct chunk_series_set_ops fset_ops = {fset_next, fset_at, fset_close};

static struct chunk_series_set *fset_new(struct fstore *st, const struct matcher *ms, size_t n,
                                         int64_t mint, int64_t maxt, bool series_only)
{
    struct fset *s = calloc(1, sizeof *s);
    *s = (struct fset){.base.ops = &fset_ops,
                       .st = st,
                       .ms = ms,
                       .nms = n,
                       .mint = mint,
                       .maxt = maxt,
                       .series_only = series_only};
    atomic_fetch_add(&st->open_sets, 1);
    return &s->base;
}

static int f_select(void *store, const struct matcher *ms, size_t n, int64_t mint, int64_t maxt,
                    const struct querier_hints *h, struct chunk_series_set **out)
{
    struct fstore *st = store;
    if (st->fail)
        return st->fail;
    *out = fset_new(st, ms, n, mint, maxt, h && h->series_only);
    return 0;
}

static int str_sort_cmp(const void *a, const void *b)
{
    return str_cmp(*(const struct str *)a, *(const struct str *)b);
}

/* names (name == NULL) or values of name among the matching series, sorted, unique. */
static int f_strings(struct fstore *st, const struct str *name, const struct matcher *ms, size_t n,
                     int64_t mint, int64_t maxt, struct querier_strings *out)
{
    struct str *v = malloc((st->n * 6 + 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < st->n; i++) {
        struct fseries *f = &st->v[i];
        int64_t last = f->t0 + (int64_t)(f->samples - 1) * 1000;
        if (!fmatch(f, ms, n) || last < mint || f->t0 > maxt)
            continue;
        for (size_t j = 0; j < f->n; j++)
            if (!name)
                v[k++] = f->ls[j].name;
            else if (str_eq(f->ls[j].name, *name))
                v[k++] = f->ls[j].value;
    }
    qsort(v, k, sizeof *v, str_sort_cmp);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || !str_eq(v[u - 1], v[i]))
            v[u++] = v[i];
    out->v = v; /* strings borrow the store's series (alive for the test) */
    out->n = u;
    return 0;
}

static int f_names(void *store, const struct matcher *ms, size_t n, int64_t mint, int64_t maxt,
                   struct querier_strings *out)
{
    return f_strings(store, NULL, ms, n, mint, maxt, out);
}

static int f_values(void *store, struct str name, const struct matcher *ms, size_t n, int64_t mint,
                    int64_t maxt, struct querier_strings *out)
{
    return f_strings(store, &name, ms, n, mint, maxt, out);
}

static struct chunk_series_set *f_head(void *store, const struct matcher *ms, size_t n)
{
    return fset_new(store, ms, n, INT64_MIN, INT64_MAX, false);
}

static const struct query_store_ops fake_ops = {f_select, f_names, f_values, f_head, NULL};

/* ---- the world: N shards, a mesh, their query states and stores ---- */

struct world {
    uint32_t n;
    struct mesh *mesh;
    struct query_shard *q[NS_MAX];
    struct ingest_shard *ing[NS_MAX];
    struct fstore st[NS_MAX];
    bool asleep[NS_MAX];
};

static void world_init_cfg(struct world *w, uint32_t n, const struct query_config *cfg)
{
    memset(w, 0, sizeof *w);
    w->n = n;
    query_world_create(n, cfg, &w->mesh, w->q);
    struct ingest_config icfg;
    ingest_config_default(&icfg);
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(ingest_shard_create(&icfg, i, n, w->mesh, &w->ing[i]), 0);
        query_shard_set_store(w->q[i], &fake_ops, &w->st[i]);
        w->q[i]->ingest = w->ing[i];
    }
}

static void world_init(struct world *w, uint32_t n)
{
    struct query_config cfg;
    query_config_default(&cfg);
    world_init_cfg(w, n, &cfg);
}

static bool store_quiet(void *arg, uint32_t i)
{
    return atomic_load(&((struct world *)arg)->st[i].open_sets) == 0;
}

static struct query_world_view view_of(struct world *w)
{
    return (struct query_world_view){w->mesh, w->q, w->n, w->asleep, store_quiet, w};
}

static void world_turn(struct world *w)
{
    struct query_world_view v = view_of(w);
    query_world_turn(&v);
}

/* Turns until *flag, then until every shard is idle again (at most ~20 s). */
static void world_run(struct world *w, const _Atomic bool *flag)
{
    struct query_world_view v = view_of(w);
    query_world_run(&v, flag);
}

static void world_deinit(struct world *w)
{
    for (uint32_t i = 0; i < w->n; i++)
        w->q[i]->ingest = NULL;
    for (uint32_t i = 0; i < w->n; i++)
        ingest_shard_destroy(w->ing[i]);
    query_world_destroy(w->mesh, w->q, w->n);
    for (uint32_t i = 0; i < w->n; i++) {
        for (size_t k = 0; k < w->st[i].n; k++)
            free(w->st[i].v[k].chunk);
        free(w->st[i].v);
    }
}

/* Adds a series {__name__=name, job=job, [extra], __tenant__=tenant} with samples t0, t0+1s, ...
 * of value base + k to its owner shard (hash of the full label set, as ingest places it). */
static void add_series(struct world *w, const char *tenant, const char *name, const char *job,
                       const char *extra, int64_t t0, uint32_t samples, double base)
{
    struct fseries f = {0};
    const char *kv[4][2] = {
        {"__name__", name}, {"__tenant__", tenant}, {"job", job}, {"zone", extra}};
    for (int i = 0; i < 4; i++) {
        if (!kv[i][1])
            continue;
        snprintf(f.buf[f.n][0], sizeof f.buf[0][0], "%s", kv[i][0]);
        snprintf(f.buf[f.n][1], sizeof f.buf[0][1], "%s", kv[i][1]);
        f.n++;
    }
    for (size_t i = 0; i < f.n; i++)
        f.ls[i] = (struct label){str_from_cstr(f.buf[i][0]), str_from_cstr(f.buf[i][1])};
    uint32_t owner = hash_to_range(hash_labels(f.ls, f.n), w->n);
    struct fstore *st = &w->st[owner];
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 64;
        st->v = realloc(st->v, st->cap * sizeof *st->v);
    }
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    for (uint32_t k = 0; k < samples; k++)
        assert_int_equal(gorilla_enc_append(&e, t0 + (int64_t)k * 1000, base + k), 0);
    f.t0 = t0;
    f.samples = samples;
    f.chunk = gorilla_enc_steal(&e, &f.len);
    gorilla_enc_deinit(&e);
    struct fseries *dst = &st->v[st->n++];
    *dst = f;
    for (size_t i = 0; i < dst->n; i++)
        dst->ls[i] = (struct label){str_from_cstr(dst->buf[i][0]), str_from_cstr(dst->buf[i][1])};
}

static void world_sort(struct world *w)
{
    for (uint32_t i = 0; i < w->n; i++) {
        if (w->st[i].n)
            qsort(w->st[i].v, w->st[i].n, sizeof *w->st[i].v, fseries_cmp);
        for (size_t k = 0; k < w->st[i].n; k++) {
            struct fseries *f = &w->st[i].v[k];
            for (size_t j = 0; j < f->n; j++)
                f->ls[j] = (struct label){str_from_cstr(f->buf[j][0]), str_from_cstr(f->buf[j][1])};
        }
    }
}

/* ---- jobs run by the test ---- */

struct tjob {
    /* inputs */
    const char *tenant;
    struct matcher m[4][3];
    const struct matcher *sets[4];
    size_t lens[4];
    size_t nsets;
    int64_t mint, maxt, limit;
    bool series_only;
    const char *label;       /* values of this label; NULL: names */
    bool cancel_after_first; /* ask the test thread to cancel once a series arrived */
    /* outputs */
    int rc;
    size_t nseries;
    char first[256], last[256];
    uint64_t samples, value_sum;
    bool sorted, tenant_seen;
    struct querier_strings strs;
    struct query_metadata md;
    struct query_head_stats hs;
    _Atomic bool got_first;
    _Atomic bool done;
};

static void fmt_labels(char *out, size_t n, const struct chunk_series *cs)
{
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < cs->n_labels && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, "%.*s=%.*s,", (int)cs->labels[i].name.len,
                              cs->labels[i].name.ptr, (int)cs->labels[i].value.len,
                              cs->labels[i].value.ptr);
}

static void run_select(struct query_job *j, void *arg)
{
    struct tjob *t = arg;
    struct query_matchsets ms = {t->sets, t->lens, t->nsets};
    struct chunk_series_set *set;
    t->rc = query_select(j, &ms, t->mint, t->maxt, t->series_only, &set);
    if (t->rc)
        return;
    t->sorted = true;
    struct label prev[8];
    char prevbuf[8][2][64];
    size_t nprev = 0;
    int rc;
    while ((rc = chunk_series_set_next(set)) == 1) {
        const struct chunk_series *cs = chunk_series_set_at(set);
        if (nprev && labels_cmp(prev, nprev, cs->labels, cs->n_labels) >= 0)
            t->sorted = false;
        nprev = cs->n_labels < 8 ? cs->n_labels : 8;
        for (size_t i = 0; i < nprev; i++) {
            snprintf(prevbuf[i][0], 64, "%.*s", (int)cs->labels[i].name.len,
                     cs->labels[i].name.ptr);
            snprintf(prevbuf[i][1], 64, "%.*s", (int)cs->labels[i].value.len,
                     cs->labels[i].value.ptr);
            prev[i] = (struct label){str_from_cstr(prevbuf[i][0]), str_from_cstr(prevbuf[i][1])};
        }
        for (size_t i = 0; i < cs->n_labels; i++)
            if (str_eq_cstr(cs->labels[i].name, "__tenant__"))
                t->tenant_seen = true;
        if (t->nseries == 0)
            fmt_labels(t->first, sizeof t->first, cs);
        fmt_labels(t->last, sizeof t->last, cs);
        for (size_t c = 0; c < cs->n_chunks; c++) {
            struct gorilla_iter it;
            assert_int_equal(gorilla_iter_init(&it, cs->chunks[c].data, cs->chunks[c].len), 0);
            while (gorilla_iter_next(&it) == 1) {
                int64_t ts;
                double v;
                gorilla_iter_at(&it, &ts, &v);
                t->samples++;
                t->value_sum += (uint64_t)v;
            }
        }
        t->nseries++;
        atomic_store(&t->got_first, true);
    }
    t->rc = rc;
    chunk_series_set_close(set);
}

static void run_strings(struct query_job *j, void *arg)
{
    struct tjob *t = arg;
    struct query_matchsets ms = {t->sets, t->lens, t->nsets};
    if (t->label)
        t->rc = query_label_values(j, str_from_cstr(t->label), &ms, t->mint, t->maxt, t->limit,
                                   &t->strs);
    else
        t->rc = query_label_names(j, &ms, t->mint, t->maxt, t->limit, &t->strs);
}

static void run_metadata(struct query_job *j, void *arg)
{
    struct tjob *t = arg;
    t->rc = query_metadata(j, str_from_cstr(t->label ? t->label : ""), &t->md);
}

static void run_stats(struct query_job *j, void *arg)
{
    struct tjob *t = arg;
    t->rc = query_head_stats(j, (size_t)t->limit, &t->hs);
}

static void on_done(struct query_job *j, void *arg)
{
    (void)j;
    atomic_store(&((struct tjob *)arg)->done, true);
}

static void tjob_matcher(struct tjob *t, size_t set, enum matcher_type ty, const char *name,
                         const char *value)
{
    char err[64];
    assert_int_equal(matcher_init(&t->m[set][t->lens[set]], ty, str_from_cstr(name),
                                  str_from_cstr(value), err, sizeof err),
                     0);
    t->lens[set]++;
    t->sets[set] = t->m[set];
    if (set + 1 > t->nsets)
        t->nsets = set + 1;
}

static void tjob_deinit(struct tjob *t)
{
    for (size_t s = 0; s < 4; s++)
        for (size_t i = 0; i < t->lens[s]; i++)
            matcher_deinit(&t->m[s][i]);
    querier_strings_free(&t->strs);
    query_metadata_free(&t->md);
    query_head_stats_free(&t->hs);
}

static struct query_job *start(struct world *w, uint32_t home, struct tjob *t, query_run_fn fn,
                               int64_t timeout_ms)
{
    int rc = 0;
    struct query_job *j = query_job_start(w->q[home], str_from_cstr(t->tenant ? t->tenant : "t1"),
                                          timeout_ms, fn, on_done, t, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(j);
    return j;
}

/* ---- tests ---- */

/* 3 shards, 300 series of tenant t1 and 50 of t2: a selection from each home shard returns
 * exactly t1's matching series, sorted, with every sample, and no __tenant__ label. */
static void test_select_merged(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 3);
    for (int i = 0; i < 300; i++) {
        char job[16];
        snprintf(job, sizeof job, "j%03d", i);
        add_series(&w, "t1", i % 2 ? "up" : "down", job, NULL, 1000000, 10, i);
    }
    for (int i = 0; i < 50; i++) {
        char job[16];
        snprintf(job, sizeof job, "j%03d", i);
        add_series(&w, "t2", "up", job, NULL, 1000000, 10, 0);
    }
    world_sort(&w);
    for (uint32_t home = 0; home < 3; home++) {
        struct tjob t = {.mint = 0, .maxt = INT64_MAX};
        tjob_matcher(&t, 0, MATCHER_EQ, "__name__", "up");
        start(&w, home, &t, run_select, 0);
        world_run(&w, &t.done);
        assert_int_equal(t.rc, 0);
        assert_int_equal(t.nseries, 150);
        assert_true(t.sorted);
        assert_false(t.tenant_seen);
        assert_string_equal(t.first, "__name__=up,job=j001,");
        assert_string_equal(t.last, "__name__=up,job=j299,");
        assert_int_equal(t.samples, 1500);
        uint64_t want = 0;
        for (int i = 1; i < 300; i += 2)
            for (int k = 0; k < 10; k++)
                want += (uint64_t)(i + k);
        assert_int_equal(t.value_sum, want);
        tjob_deinit(&t);
    }
    /* the time range is pushed down: nothing overlaps [0, 999999] */
    struct tjob t = {.mint = 0, .maxt = 999999};
    tjob_matcher(&t, 0, MATCHER_RE, "job", "j.*");
    start(&w, 1, &t, run_select, 0);
    world_run(&w, &t.done);
    assert_int_equal(t.rc, 0);
    assert_int_equal(t.nseries, 0);
    tjob_deinit(&t);
    world_deinit(&w);
}

/* Tiny pieces: the selection streams in hundreds of pieces, never more than pieces_in_flight per
 * owner unreleased, and every series arrives once, in order. */
static void test_streaming_pieces(void **state)
{
    (void)state;
    struct query_config cfg;
    query_config_default(&cfg);
    cfg.piece_bytes = 256;
    cfg.pieces_in_flight = 2;
    cfg.step_bytes = 1024;
    struct world w;
    world_init_cfg(&w, 3, &cfg);
    for (int i = 0; i < 1000; i++) {
        char job[16];
        snprintf(job, sizeof job, "j%04d", i);
        add_series(&w, "t1", "m", job, "z", 0, 5, 1);
    }
    world_sort(&w);
    struct tjob t = {.mint = INT64_MIN, .maxt = INT64_MAX};
    tjob_matcher(&t, 0, MATCHER_EQ, "__name__", "m");
    start(&w, 0, &t, run_select, 0);
    uint32_t max_cursors_outstanding = 0;
    int64_t end = clock_mono_ns() + 20000000000LL;
    while (!atomic_load(&t.done) && clock_mono_ns() < end) {
        world_turn(&w);
        for (uint32_t i = 0; i < w.n; i++)
            for (struct query_cursor *c = w.q[i]->cursors; c; c = c->next)
                if (c->outstanding > max_cursors_outstanding)
                    max_cursors_outstanding = c->outstanding;
    }
    world_run(&w, &t.done);
    assert_int_equal(t.rc, 0);
    assert_int_equal(t.nseries, 1000);
    assert_true(t.sorted);
    assert_int_equal(t.samples, 5000);
    assert_true(max_cursors_outstanding <= 2);
    uint64_t pieces = 0;
    for (uint32_t i = 0; i < w.n; i++) {
        struct query_shard_stats st;
        query_shard_stats_get(w.q[i], &st);
        pieces += st.pieces_sent;
    }
    assert_true(pieces > 100);
    tjob_deinit(&t);
    world_deinit(&w);
}

/* match[]-style union: two sets overlapping in some series give each series once. */
static void test_union_of_sets(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 2);
    for (int i = 0; i < 40; i++) {
        char job[16];
        snprintf(job, sizeof job, "j%02d", i);
        add_series(&w, "t1", i < 20 ? "a" : "b", job, i % 4 == 0 ? "z1" : "z2", 0, 3, 0);
    }
    world_sort(&w);
    struct tjob t = {.mint = INT64_MIN, .maxt = INT64_MAX, .series_only = true};
    tjob_matcher(&t, 0, MATCHER_EQ, "__name__", "a"); /* 20 series */
    tjob_matcher(&t, 1, MATCHER_EQ, "zone", "z1");    /* 10 series, 5 of them also "a" */
    start(&w, 1, &t, run_select, 0);
    world_run(&w, &t.done);
    assert_int_equal(t.rc, 0);
    assert_int_equal(t.nseries, 25);
    assert_true(t.sorted);
    assert_int_equal(t.samples, 0); /* series only: no chunks */
    tjob_deinit(&t);
    world_deinit(&w);
}

static void strs_are(const struct querier_strings *s, const char *const *want, size_t n)
{
    assert_int_equal(s->n, n);
    for (size_t i = 0; i < n; i++)
        assert_true(str_eq_cstr(s->v[i], want[i]));
}

static void test_label_names_values(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 3);
    for (int i = 0; i < 30; i++) {
        char job[16];
        snprintf(job, sizeof job, "j%02d", i);
        add_series(&w, "t1", i % 3 ? "up" : "node_cpu", job, i == 7 ? "eu" : NULL, 0, 2, 0);
        add_series(&w, "t2", "secret_metric", job, "hidden", 0, 2, 0);
    }
    world_sort(&w);
    struct tjob t = {.mint = INT64_MIN, .maxt = INT64_MAX};
    start(&w, 2, &t, run_strings, 0);
    world_run(&w, &t.done);
    assert_int_equal(t.rc, 0);
    strs_are(&t.strs, (const char *const[]){"__name__", "job", "zone"}, 3);
    tjob_deinit(&t);

    struct tjob v = {.mint = INT64_MIN, .maxt = INT64_MAX, .label = "__name__"};
    start(&w, 0, &v, run_strings, 0);
    world_run(&w, &v.done);
    assert_int_equal(v.rc, 0);
    strs_are(&v.strs, (const char *const[]){"node_cpu", "up"}, 2);
    tjob_deinit(&v);

    /* limit: at most limit + 1 values come back (the caller reports truncation) */
    struct tjob l = {.mint = INT64_MIN, .maxt = INT64_MAX, .label = "job", .limit = 5};
    start(&w, 1, &l, run_strings, 0);
    world_run(&w, &l.done);
    strs_are(&l.strs, (const char *const[]){"j00", "j01", "j02", "j03", "j04", "j05"}, 6);
    tjob_deinit(&l);

    /* with matchers: job values of node_cpu only, and the zone label only where it exists */
    struct tjob m = {.mint = INT64_MIN, .maxt = INT64_MAX, .label = "job"};
    tjob_matcher(&m, 0, MATCHER_EQ, "__name__", "node_cpu");
    tjob_matcher(&m, 1, MATCHER_EQ, "zone", "eu");
    start(&w, 1, &m, run_strings, 0);
    world_run(&w, &m.done);
    strs_are(&m.strs,
             (const char *const[]){"j00", "j03", "j06", "j07", "j09", "j12", "j15", "j18", "j21",
                                   "j24", "j27"},
             11);
    tjob_deinit(&m);

    /* the tenant label never comes back, not even by name */
    struct tjob x = {.mint = INT64_MIN, .maxt = INT64_MAX, .label = "__tenant__"};
    start(&w, 0, &x, run_strings, 0);
    world_run(&w, &x.done);
    assert_int_equal(x.rc, 0);
    assert_int_equal(x.strs.n, 0);
    tjob_deinit(&x);
    /* another tenant sees only its own */
    struct tjob o = {.tenant = "t2", .mint = INT64_MIN, .maxt = INT64_MAX, .label = "zone"};
    start(&w, 0, &o, run_strings, 0);
    world_run(&w, &o.done);
    strs_are(&o.strs, (const char *const[]){"hidden"}, 1);
    tjob_deinit(&o);
    world_deinit(&w);
}

static void test_metadata(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 3);
    ingest_meta_put(w.ing[0], STR_LIT("up"), 2, STR_LIT("1 if up"), STR_LIT(""));
    ingest_meta_put(w.ing[1], STR_LIT("up"), 2, STR_LIT("1 if up"), STR_LIT(""));
    ingest_meta_put(w.ing[2], STR_LIT("up"), 1, STR_LIT("other help"), STR_LIT(""));
    ingest_meta_put(w.ing[2], STR_LIT("http_seconds"), 3, STR_LIT("latency"), STR_LIT("seconds"));
    struct tjob t = {0};
    start(&w, 0, &t, run_metadata, 0);
    world_run(&w, &t.done);
    assert_int_equal(t.rc, 0);
    assert_int_equal(t.md.n, 3); /* identical entries of two shards merged */
    assert_true(str_eq_cstr(t.md.v[0].family, "http_seconds"));
    assert_true(str_eq_cstr(t.md.v[0].unit, "seconds"));
    assert_int_equal(t.md.v[0].type, 3);
    assert_true(str_eq_cstr(t.md.v[1].family, "up"));
    assert_int_equal(t.md.v[1].type, 1);
    assert_true(str_eq_cstr(t.md.v[2].help, "1 if up"));
    tjob_deinit(&t);
    struct tjob one = {.label = "http_seconds"};
    start(&w, 2, &one, run_metadata, 0);
    world_run(&w, &one.done);
    assert_int_equal(one.md.n, 1);
    tjob_deinit(&one);
    world_deinit(&w);
}

static void test_head_stats(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 3);
    for (int i = 0; i < 12; i++) {
        char job[16];
        snprintf(job, sizeof job, "j%02d", i);
        add_series(&w, "t1", i < 8 ? "up" : "http", job, "z", 5000 + i, 4, 0);
    }
    add_series(&w, "t2", "other", "x", NULL, 0, 1, 0);
    world_sort(&w);
    struct tjob t = {.limit = 2};
    start(&w, 1, &t, run_stats, 0);
    world_run(&w, &t.done);
    assert_int_equal(t.rc, 0);
    assert_int_equal(t.hs.num_series, 12);
    assert_int_equal(t.hs.chunk_count, 12);
    assert_int_equal(t.hs.num_label_pairs, 2 + 12 + 1); /* __name__ x2, job x12, zone */
    assert_true(t.hs.min_time_ms == 5000);
    assert_true(t.hs.max_time_ms == 5011 + 3000);
    assert_int_equal(t.hs.n_by_metric, 2);
    assert_true(str_eq_cstr(t.hs.by_metric[0].name, "up"));
    assert_int_equal(t.hs.by_metric[0].value, 8);
    assert_int_equal(t.hs.by_metric[1].value, 4);
    assert_int_equal(t.hs.n_value_count_by_name, 2);
    assert_true(str_eq_cstr(t.hs.value_count_by_name[0].name, "job"));
    assert_int_equal(t.hs.value_count_by_name[0].value, 12);
    assert_int_equal(t.hs.value_count_by_name[1].value, 2); /* __name__ */
    assert_true(str_eq_cstr(t.hs.by_pair[0].name, "zone=z"));
    assert_int_equal(t.hs.by_pair[0].value, 12);
    assert_true(str_eq_cstr(t.hs.by_pair[1].name, "__name__=up"));
    /* memory: (len(name) + 1 + len(value) + 1) * series: job = 12 * (3+1+3+1) = 96 */
    assert_true(str_eq_cstr(t.hs.memory_by_name[0].name, "__name__"));
    assert_int_equal(t.hs.memory_by_name[0].value, 8 * (8 + 1 + 2 + 1) + 4 * (8 + 1 + 4 + 1));
    assert_int_equal(t.hs.memory_by_name[1].value, 96);
    tjob_deinit(&t);
    /* a tenant without series: zeros, empty lists, and the empty head's time bounds */
    struct tjob e = {.tenant = "nobody", .limit = 10};
    start(&w, 0, &e, run_stats, 0);
    world_run(&w, &e.done);
    assert_int_equal(e.rc, 0);
    assert_int_equal(e.hs.num_series, 0);
    assert_int_equal(e.hs.num_label_pairs, 0);
    assert_true(e.hs.min_time_ms == INT64_MAX && e.hs.max_time_ms == INT64_MIN);
    assert_int_equal(e.hs.n_by_metric + e.hs.n_by_pair + e.hs.n_memory_by_name, 0);
    tjob_deinit(&e);
    world_deinit(&w);
}

static void test_owner_error(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 3);
    for (int i = 0; i < 30; i++) {
        char job[16];
        snprintf(job, sizeof job, "j%02d", i);
        add_series(&w, "t1", "up", job, NULL, 0, 2, 0);
    }
    world_sort(&w);
    w.st[2].fail = ERR_CORRUPT;
    struct tjob t = {.mint = INT64_MIN, .maxt = INT64_MAX};
    tjob_matcher(&t, 0, MATCHER_EQ, "__name__", "up");
    start(&w, 0, &t, run_select, 0);
    world_run(&w, &t.done);
    assert_int_equal(t.rc, ERR_CORRUPT);
    tjob_deinit(&t);
    struct tjob l = {.mint = INT64_MIN, .maxt = INT64_MAX};
    tjob_matcher(&l, 0, MATCHER_EQ, "__name__", "up");
    start(&w, 1, &l, run_select, 0);
    world_run(&w, &l.done);
    assert_int_equal(l.rc, ERR_CORRUPT);
    tjob_deinit(&l);
    world_deinit(&w);
}

/* A cancel while a selection streams: the query thread's next wait returns -ECANCELED, owners stop
 * at their next step, and every piece and request goes home (the world drains to idle). */
static void test_cancel(void **state)
{
    (void)state;
    struct query_config cfg;
    query_config_default(&cfg);
    cfg.piece_bytes = 128;
    cfg.pieces_in_flight = 2;
    struct world w;
    world_init_cfg(&w, 3, &cfg);
    for (int i = 0; i < 2000; i++) {
        char job[16];
        snprintf(job, sizeof job, "j%04d", i);
        add_series(&w, "t1", "m", job, NULL, 0, 2, 0);
    }
    world_sort(&w);
    struct tjob t = {.mint = INT64_MIN, .maxt = INT64_MAX};
    tjob_matcher(&t, 0, MATCHER_EQ, "__name__", "m");
    struct query_job *j = start(&w, 0, &t, run_select, 0);
    int64_t end = clock_mono_ns() + 20000000000LL;
    while (!atomic_load(&t.got_first) && clock_mono_ns() < end)
        world_turn(&w);
    query_job_cancel(j);
    world_run(&w, &t.done);
    assert_int_equal(t.rc, -ECANCELED);
    assert_true(t.nseries < 2000);
    struct query_shard_stats st;
    query_shard_stats_get(w.q[0], &st);
    assert_int_equal(st.jobs_canceled, 1);
    tjob_deinit(&t);
    world_deinit(&w);
}

/* A shard that does not answer: the job's deadline ends the wait with -ETIMEDOUT; when the
 * shard wakes up its cursor sees the deadline passed and answers at once. */
static void test_deadline(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 3);
    add_series(&w, "t1", "up", "a", NULL, 0, 2, 0);
    world_sort(&w);
    w.asleep[2] = true;
    struct tjob t = {.mint = INT64_MIN, .maxt = INT64_MAX};
    tjob_matcher(&t, 0, MATCHER_EQ, "__name__", "up");
    int64_t t0 = clock_mono_ns();
    start(&w, 0, &t, run_select, 100);
    int64_t end = clock_mono_ns() + 10000000000LL;
    while (!atomic_load(&t.done) && clock_mono_ns() < end)
        world_turn(&w);
    assert_true(atomic_load(&t.done));
    assert_int_equal(t.rc, -ETIMEDOUT);
    assert_true(clock_mono_ns() - t0 >= 100000000LL);
    w.asleep[2] = false;
    world_run(&w, &t.done);
    tjob_deinit(&t);
    world_deinit(&w);
}

static void block_run(struct query_job *j, void *arg)
{
    struct tjob *t = arg;
    while (query_job_check(j) == 0)
        sched_yield();
    t->rc = query_job_check(j);
}

/* One query thread busy, a queue of one: the third job is refused with ERR_FULL. */
static void test_queue_limit(void **state)
{
    (void)state;
    struct query_config cfg;
    query_config_default(&cfg);
    cfg.workers = 1;
    cfg.queue_max = 1;
    struct world w;
    world_init_cfg(&w, 1, &cfg);
    struct tjob a = {0}, b = {0};
    struct query_job *ja = start(&w, 0, &a, block_run, 0);
    int64_t end = clock_mono_ns() + 5000000000LL;
    while (clock_mono_ns() < end) { /* until the thread took job a off the queue */
        pthread_mutex_lock(&w.q[0]->lock);
        uint32_t queued = w.q[0]->queued;
        pthread_mutex_unlock(&w.q[0]->lock);
        if (queued == 0)
            break;
        sched_yield();
    }
    struct query_job *jb = start(&w, 0, &b, block_run, 0);
    int rc = 0;
    struct tjob c = {0};
    assert_null(query_job_start(w.q[0], STR_LIT("t1"), 0, block_run, on_done, &c, &rc));
    assert_int_equal(rc, ERR_FULL);
    query_job_cancel(ja);
    query_job_cancel(jb);
    world_run(&w, &a.done);
    world_run(&w, &b.done);
    assert_int_equal(a.rc, -ECANCELED);
    assert_int_equal(b.rc, -ECANCELED);
    world_deinit(&w);
}

/* Random worlds: every selection equals the brute-force filter + sort of all series. */
static void test_random_selections(void **state)
{
    (void)state;
    struct prop p = prop_begin("query_fanout");
    for (int round = 0; round < 6; round++) {
        struct query_config cfg;
        query_config_default(&cfg);
        cfg.piece_bytes = 64 + prop_next(&p) % 4096;
        cfg.pieces_in_flight = 2 + prop_next(&p) % 3;
        uint32_t n = 1 + prop_next(&p) % NS_MAX;
        struct world w;
        world_init_cfg(&w, n, &cfg);
        int nseries = (int)(prop_next(&p) % 600);
        for (int i = 0; i < nseries; i++) {
            char job[16], zone[8];
            snprintf(job, sizeof job, "j%05d", (int)(prop_next(&p) % 100000));
            snprintf(zone, sizeof zone, "z%d", (int)(prop_next(&p) % 4));
            const char *tenant = prop_next(&p) % 5 ? "t1" : "t2";
            bool dup = false; /* the same labels twice would be one series in a TSDB */
            for (uint32_t s = 0; s < n && !dup; s++)
                for (size_t k = 0; k < w.st[s].n && !dup; k++)
                    dup = !strcmp(w.st[s].v[k].buf[2][1], job) &&
                          !strcmp(w.st[s].v[k].buf[1][1], tenant) &&
                          !strcmp(w.st[s].v[k].buf[3][1], zone);
            if (!dup)
                add_series(&w, tenant, "m", job, zone, 0, 1 + (uint32_t)(prop_next(&p) % 3), 7);
        }
        world_sort(&w);
        int want = 0;
        uint64_t want_sum = 0;
        for (uint32_t s = 0; s < n; s++) {
            for (size_t k = 0; k < w.st[s].n; k++) {
                if (strcmp(w.st[s].v[k].buf[1][1], "t1") || !strcmp(w.st[s].v[k].buf[3][1], "z0"))
                    continue;
                want++;
                want_sum += w.st[s].v[k].samples;
            }
        }
        struct tjob t = {.mint = INT64_MIN, .maxt = INT64_MAX};
        tjob_matcher(&t, 0, MATCHER_NEQ, "zone", "z0");
        tjob_matcher(&t, 0, MATCHER_EQ, "__name__", "m");
        start(&w, (uint32_t)(prop_next(&p) % n), &t, run_select, 0);
        world_run(&w, &t.done);
        prop_check(&p, t.rc == 0);
        prop_check(&p, (int)t.nseries == want);
        prop_check(&p, t.sorted);
        prop_check(&p, t.samples == want_sum);
        tjob_deinit(&t);
        world_deinit(&w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_merged),     cmocka_unit_test(test_streaming_pieces),
        cmocka_unit_test(test_union_of_sets),     cmocka_unit_test(test_label_names_values),
        cmocka_unit_test(test_metadata),          cmocka_unit_test(test_head_stats),
        cmocka_unit_test(test_owner_error),       cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_deadline),          cmocka_unit_test(test_queue_limit),
        cmocka_unit_test(test_random_selections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
