/* Log fan-outs (server/query.h "log fan-outs") on a real mesh with real query threads and fake
 * owner log stores, every shard's loop turn driven by the test thread: entry selections merged
 * from every shard in time order (both directions, ties by stream labels) against a brute-force
 * model over random data, with tiny pieces so credit flow and many pieces are exercised; the
 * per-owner limit and early close (owners stop, every iterator is closed, everything drains);
 * tenant confinement and __tenant__ stripped; structured metadata carried; the line hint pushed
 * down; label names and values; series of several matcher sets (union, unique) and index stats;
 * an owner's error; no log store attached; the LogQL source adapter (metadata sorted); the partial
 * range aggregation (owners aggregate, the query thread merges) against the entry path for many
 * metric queries over streams whose output label sets collide across shards, with tiny pieces and
 * read budgets (owners yield mid-step), its figures and bytes moved, an owner's error. */
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
#include "engine/logql/eval.h"
#include "engine/logql/parse.h"
#include "engine/shard/mesh.h"
#include "server/query_internal.h"
#include "tests/unit/prop.h"
#include "tests/unit/server/query_world.h"

#define NS_MAX 4

/* ---- a fake owner log store ---- */

struct fentry {
    int64_t ts;
    char line[40];
    char md[2][2][16]; /* up to 2 metadata pairs, stored unsorted: "zz" before "aa" */
    size_t n_md;
};

struct fstream {
    char buf[3][2][24];
    struct label ls[3];
    size_t n;
    struct fentry *e;
    size_t ne, cap;
};

struct fstore {
    struct fstream *v;
    size_t n, cap;
    int fail;
    _Atomic int open_iters;
    struct str hint_seen[4];
    char hint_buf[4][32];
    size_t n_hint_seen;
    _Atomic int filtered_selects, yields; /* selects given a store filter; _next yields */
};

static void fix_labels(struct fstream *s)
{
    for (size_t i = 0; i < s->n; i++)
        s->ls[i] = (struct label){str_from_cstr(s->buf[i][0]), str_from_cstr(s->buf[i][1])};
}

static bool fmatch(const struct fstream *s, const struct matcher *ms, size_t n)
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

struct pair {
    uint32_t sel, s, e;
    int64_t ts;
};

struct fit {
    struct fstore *st;
    struct pair *v;
    size_t n, pos;
    bool backward;
    struct label md[2];
    struct logstore_entry cur;
    struct logstore_select_opts opts;
    uint64_t returned, filtered, quiet; /* quiet: dropped since the last returned entry */
};

static bool g_backward; /* qsort context (the test thread's owner steps are serial) */

static int pair_cmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    if (x->ts != y->ts)
        return (x->ts < y->ts) == !g_backward ? -1 : 1;
    if (x->sel != y->sel)
        return x->sel < y->sel ? -1 : 1;
    return x->e < y->e ? -1 : x->e > y->e;
}

static int f_select(void *store, const struct matcher *ms, size_t n, int64_t start, int64_t end,
                    bool backward, const struct logstore_line_hint *hint,
                    const struct logstore_select_opts *opts, void **out)
{
    struct fstore *st = store;
    if (st->fail)
        return st->fail;
    assert_non_null(opts);
    assert_int_equal(opts->order, LOGSTORE_ORDER_TIME);
    assert_true(opts->yield_chunks > 0);
    for (size_t i = 0; hint && i < hint->n && st->n_hint_seen < 4; i++) {
        snprintf(st->hint_buf[st->n_hint_seen], 32, "%.*s", (int)hint->contains[i].len,
                 hint->contains[i].ptr);
        st->hint_seen[st->n_hint_seen] = str_from_cstr(st->hint_buf[st->n_hint_seen]);
        st->n_hint_seen++;
    }
    struct fit *it = calloc(1, sizeof *it);
    size_t total = 0;
    for (size_t i = 0; i < st->n; i++)
        total += st->v[i].ne;
    it->v = calloc(total + 1, sizeof *it->v);
    it->st = st;
    it->backward = backward;
    it->opts = *opts;
    if (opts->filter)
        atomic_fetch_add(&st->filtered_selects, 1);
    uint32_t sel = 0;
    for (size_t i = 0; i < st->n; i++) {
        if (!fmatch(&st->v[i], ms, n))
            continue;
        for (size_t k = 0; k < st->v[i].ne; k++)
            if (st->v[i].e[k].ts >= start && st->v[i].e[k].ts < end)
                it->v[it->n++] = (struct pair){sel, (uint32_t)i, (uint32_t)k, st->v[i].e[k].ts};
        sel++;
    }
    g_backward = backward;
    qsort(it->v, it->n, sizeof *it->v, pair_cmp);
    atomic_fetch_add(&st->open_iters, 1);
    *out = it;
    return 0;
}

/* Lines one at a time through the select's filter (as the head does); every dropped entry counts
 * as an opened chunk for yield_chunks. */
static bool f_keep(struct fit *it, const struct fentry *e)
{
    if (!it->opts.filter)
        return true;
    struct str line = str_from_cstr(e->line);
    uint64_t keep = 0;
    if (it->opts.filter(it->opts.filter_arg, &line, 1, &keep) == 1) {
        assert_true(keep & 1);
        return true;
    }
    assert_false(keep & 1);
    it->filtered++;
    it->quiet++;
    return false;
}

static int f_next(void *p)
{
    struct fit *it = p;
    const struct pair *pr;
    const struct fstream *s;
    const struct fentry *e;
    for (;;) {
        if (it->pos >= it->n)
            return 0;
        if (it->opts.yield_chunks && it->quiet >= it->opts.yield_chunks) {
            it->quiet = 0;
            atomic_fetch_add(&it->st->yields, 1);
            return LOGSTORE_ITER_YIELD;
        }
        pr = &it->v[it->pos++];
        s = &it->st->v[pr->s];
        e = &s->e[pr->e];
        if (f_keep(it, e))
            break;
    }
    it->quiet = 0;
    it->returned++;
    for (size_t i = 0; i < e->n_md; i++)
        it->md[i] = (struct label){str_from_cstr(e->md[i][0]), str_from_cstr(e->md[i][1])};
    it->cur = (struct logstore_entry){.stream = pr->sel,
                                      .labels = s->ls,
                                      .n_labels = s->n,
                                      .ts_ns = e->ts,
                                      .line = str_from_cstr(e->line),
                                      .md = it->md,
                                      .n_md = e->n_md};
    return 1;
}

static const struct logstore_entry *f_at(void *p)
{
    return &((struct fit *)p)->cur;
}

static void f_stats(void *p, struct logstore_select_stats *out)
{
    struct fit *it = p;
    memset(out, 0, sizeof *out);
    out->entries = it->returned;
    out->head_entries = it->pos;
    out->filtered = it->filtered;
}

static void f_close(void *p)
{
    struct fit *it = p;
    atomic_fetch_sub(&it->st->open_iters, 1);
    free(it->v);
    free(it);
}

static bool in_range(const struct fstream *s, int64_t start, int64_t end)
{
    for (size_t k = 0; k < s->ne; k++)
        if (s->e[k].ts >= start && s->e[k].ts < end)
            return true;
    return false;
}

static int str_sort_cmp(const void *a, const void *b)
{
    return str_cmp(*(const struct str *)a, *(const struct str *)b);
}

static int f_strings(struct fstore *st, const struct str *name, const struct matcher *ms, size_t n,
                     int64_t start, int64_t end, struct querier_strings *out)
{
    struct str *v = malloc((st->n * 3 + 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < st->n; i++) {
        struct fstream *s = &st->v[i];
        if (!fmatch(s, ms, n) || !in_range(s, start, end))
            continue;
        for (size_t j = 0; j < s->n; j++)
            if (!name)
                v[k++] = s->ls[j].name;
            else if (str_eq(s->ls[j].name, *name))
                v[k++] = s->ls[j].value;
    }
    if (k)
        qsort(v, k, sizeof *v, str_sort_cmp);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || !str_eq(v[u - 1], v[i]))
            v[u++] = v[i];
    out->v = v;
    out->n = u;
    return 0;
}

static int f_names(void *store, const struct matcher *ms, size_t n, int64_t start, int64_t end,
                   struct querier_strings *out)
{
    return f_strings(store, NULL, ms, n, start, end, out);
}

static int f_values(void *store, struct str name, const struct matcher *ms, size_t n, int64_t start,
                    int64_t end, struct querier_strings *out)
{
    return f_strings(store, &name, ms, n, start, end, out);
}

static int f_series(void *store, const struct matcher *ms, size_t n, int64_t start, int64_t end,
                    struct logstore_stream_stats **out, size_t *n_out)
{
    struct fstore *st = store;
    struct logstore_stream_stats *v = calloc(st->n + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < st->n; i++) {
        struct fstream *s = &st->v[i];
        if (!fmatch(s, ms, n) || !in_range(s, start, end))
            continue;
        v[k] = (struct logstore_stream_stats){s->ls, s->n, 1, 0, 0};
        for (size_t e = 0; e < s->ne; e++) {
            v[k].entries++;
            v[k].bytes += strlen(s->e[e].line);
        }
        k++;
    }
    *out = v;
    *n_out = k;
    return 0;
}

static const struct query_log_store_ops fake_ops = {f_select, f_next,  f_at,     f_stats,
                                                    f_close,  f_names, f_values, f_series};

/* ---- the world ---- */

struct world {
    uint32_t n;
    struct mesh *mesh;
    struct query_shard *q[NS_MAX];
    struct fstore st[NS_MAX];
};

static void world_init(struct world *w, uint32_t n, uint64_t piece_bytes, bool attach)
{
    memset(w, 0, sizeof *w);
    w->n = n;
    struct query_config cfg;
    query_config_default(&cfg);
    cfg.piece_bytes = piece_bytes;
    cfg.pieces_in_flight = 2;
    query_world_create(n, &cfg, &w->mesh, w->q);
    for (uint32_t i = 0; attach && i < n; i++)
        query_shard_set_log_store(w->q[i], &fake_ops, &w->st[i]);
}

static bool store_quiet(void *arg, uint32_t i)
{
    return atomic_load(&((struct world *)arg)->st[i].open_iters) == 0;
}

static struct query_world_view view_of(struct world *w)
{
    return (struct query_world_view){w->mesh, w->q, w->n, NULL, store_quiet, w};
}

static void world_run(struct world *w, const _Atomic bool *flag)
{
    struct query_world_view v = view_of(w);
    query_world_run(&v, flag);
}

static void world_deinit(struct world *w)
{
    query_world_destroy(w->mesh, w->q, w->n);
    for (uint32_t i = 0; i < w->n; i++) {
        for (size_t k = 0; k < w->st[i].n; k++)
            free(w->st[i].v[k].e);
        free(w->st[i].v);
    }
}

static int fstream_cmp(const void *a, const void *b)
{
    const struct fstream *x = a, *y = b;
    struct label lx[3], ly[3];
    for (size_t i = 0; i < x->n; i++)
        lx[i] = (struct label){str_from_cstr(x->buf[i][0]), str_from_cstr(x->buf[i][1])};
    for (size_t i = 0; i < y->n; i++)
        ly[i] = (struct label){str_from_cstr(y->buf[i][0]), str_from_cstr(y->buf[i][1])};
    return labels_cmp(lx, x->n, ly, y->n);
}

/* Adds stream {__tenant__, job, pod} to its owner; returns it (valid until the next add). */
static struct fstream *add_stream(struct world *w, const char *tenant, const char *job, int pod)
{
    struct fstream f = {.n = 3};
    snprintf(f.buf[0][0], 24, "__tenant__");
    snprintf(f.buf[0][1], 24, "%s", tenant);
    snprintf(f.buf[1][0], 24, "job");
    snprintf(f.buf[1][1], 24, "%s", job);
    snprintf(f.buf[2][0], 24, "pod");
    snprintf(f.buf[2][1], 24, "p%03d", pod);
    fix_labels(&f);
    uint32_t owner = hash_to_range(hash_labels(f.ls, f.n), w->n);
    struct fstore *st = &w->st[owner];
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 16;
        st->v = realloc(st->v, st->cap * sizeof *st->v);
        for (size_t i = 0; i < st->n; i++)
            fix_labels(&st->v[i]);
    }
    st->v[st->n] = f;
    fix_labels(&st->v[st->n]);
    return &st->v[st->n++];
}

static void add_entry(struct fstream *s, int64_t ts, const char *line, bool md)
{
    if (s->ne == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->e = realloc(s->e, s->cap * sizeof *s->e);
    }
    struct fentry *e = &s->e[s->ne++];
    memset(e, 0, sizeof *e);
    e->ts = ts;
    snprintf(e->line, sizeof e->line, "%s", line);
    if (md) {
        snprintf(e->md[0][0], 16, "zz");
        snprintf(e->md[0][1], 16, "last");
        snprintf(e->md[1][0], 16, "aa");
        snprintf(e->md[1][1], 16, "first");
        e->n_md = 2;
    }
}

static void world_sort(struct world *w)
{
    for (uint32_t i = 0; i < w->n; i++) {
        struct fstore *st = &w->st[i];
        if (st->n > 1)
            qsort(st->v, st->n, sizeof *st->v, fstream_cmp);
        for (size_t k = 0; k < st->n; k++)
            fix_labels(&st->v[k]);
    }
}

/* ---- jobs ---- */

struct got {
    int64_t ts;
    char line[40];
    char labels[80];
};

struct tjob {
    const char *tenant;
    struct matcher m[2][2];
    const struct matcher *sets[2];
    size_t lens[2];
    size_t nsets;
    int64_t start, end;
    bool backward;
    uint64_t limit; /* entries to read (0: all) */
    const char *hint;
    const char *label;               /* values of; NULL: names */
    struct logql_pipeline *pipeline; /* filtered selection */
    /* outputs */
    int rc;
    struct got *v;
    size_t n;
    bool tenant_seen, md_ok;
    struct querier_strings strs;
    struct query_log_series ser;
    struct logstore_index_stats ist;
    struct query_log_stats stats;
    _Atomic bool done;
};

static void on_done(struct query_job *j, void *arg)
{
    (void)j;
    atomic_store(&((struct tjob *)arg)->done, true);
}

static void fmt_labels(char *out, size_t n, const struct label *ls, size_t nl)
{
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < nl && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, "%.*s=%.*s,", (int)ls[i].name.len, ls[i].name.ptr,
                              (int)ls[i].value.len, ls[i].value.ptr);
}

static void record(struct tjob *t, int64_t ts, struct str line, const struct label *ls, size_t n)
{
    t->v = realloc(t->v, (t->n + 1) * sizeof *t->v);
    struct got *g = &t->v[t->n++];
    g->ts = ts;
    snprintf(g->line, sizeof g->line, "%.*s", (int)line.len, line.ptr);
    fmt_labels(g->labels, sizeof g->labels, ls, n);
    for (size_t i = 0; i < n; i++)
        if (str_eq_cstr(ls[i].name, "__tenant__"))
            t->tenant_seen = true;
}

static void run_select(struct query_job *j, void *arg)
{
    struct tjob *t = arg;
    struct str h = t->hint ? str_from_cstr(t->hint) : (struct str){NULL, 0};
    struct logstore_line_hint hint = {&h, 1};
    struct query_log_iter *it;
    t->rc = query_log_select_filtered(j, t->sets[0], t->lens[0], t->start, t->end, t->backward,
                                      t->hint ? &hint : NULL, t->limit, t->pipeline, &it);
    if (t->rc)
        return;
    t->md_ok = true;
    int rc;
    while ((t->limit == 0 || t->n < t->limit) && (rc = query_log_iter_next(it)) == 1) {
        const struct query_log_entry *e = query_log_iter_at(it);
        record(t, e->ts_ns, e->line, e->labels, e->n_labels);
        if (e->n_md && !(e->n_md == 2 && str_eq_cstr(e->md[0].name, "zz") &&
                         str_eq_cstr(e->md[1].value, "first")))
            t->md_ok = false;
    }
    t->rc = (t->limit && t->n == t->limit) ? 0 : rc;
    query_log_iter_stop(it); /* every owner's figures are in after it */
    query_log_iter_stats(it, &t->stats);
    if (t->rc == 0 && query_log_iter_next(it) != -ECANCELED)
        t->rc = -1; /* a stopped selection says so; an error stays sticky */
    query_log_iter_close(it);
}

static void run_strings(struct query_job *j, void *arg)
{
    struct tjob *t = arg;
    const struct matcher *ms = t->nsets ? t->sets[0] : NULL;
    size_t n = t->nsets ? t->lens[0] : 0;
    if (t->label)
        t->rc =
            query_log_label_values(j, str_from_cstr(t->label), ms, n, t->start, t->end, &t->strs);
    else
        t->rc = query_log_label_names(j, ms, n, t->start, t->end, &t->strs);
}

static void run_series(struct query_job *j, void *arg)
{
    struct tjob *t = arg;
    struct query_matchsets ms = {t->sets, t->lens, t->nsets};
    t->rc = query_log_series(j, &ms, t->start, t->end, &t->ser);
    if (t->rc == 0)
        t->rc = query_log_index_stats(j, t->sets[0], t->lens[0], t->start, t->end, &t->ist);
}

/* LogQL source: a select through the adapter; metadata comes sorted by name. */
static void run_source(struct query_job *j, void *arg)
{
    struct tjob *t = arg;
    struct query_log_source src = {.job = j};
    const struct logql_source_ops *ops = query_log_source_ops();
    struct logql_select_req req = {.matchers = t->sets[0],
                                   .n_matchers = t->lens[0],
                                   .start_ns = t->start,
                                   .end_ns = t->end,
                                   .backward = t->backward};
    void *it;
    t->rc = ops->select(&src, &req, &it);
    if (t->rc)
        return;
    t->md_ok = true;
    struct logql_entry e;
    int rc;
    while ((rc = ops->next(it, &e)) == 1) {
        record(t, e.ts_ns, e.line, e.stream, e.n_stream);
        if (e.n_meta && !(e.n_meta == 2 && str_eq_cstr(e.meta[0].name, "aa") &&
                          str_eq_cstr(e.meta[1].name, "zz")))
            t->md_ok = false;
    }
    t->rc = rc ? rc : ops->check(&src);
    ops->close(it);
    t->stats = src.stats;
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
    for (size_t s = 0; s < 2; s++)
        for (size_t i = 0; i < t->lens[s]; i++)
            matcher_deinit(&t->m[s][i]);
    querier_strings_free(&t->strs);
    query_log_series_free(&t->ser);
    free(t->v);
}

static void run_job(struct world *w, uint32_t home, struct tjob *t, query_run_fn fn)
{
    int rc = 0;
    struct query_job *j = query_job_start(w->q[home], str_from_cstr(t->tenant ? t->tenant : "t1"),
                                          0, fn, on_done, t, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(j);
    world_run(w, &t->done);
}

/* ---- the model ---- */

struct mentry {
    int64_t ts;
    const char *line;
    char labels[80];
};

static bool g_mback;

static int mentry_cmp(const void *a, const void *b)
{
    const struct mentry *x = a, *y = b;
    if (x->ts != y->ts)
        return (x->ts < y->ts) == !g_mback ? -1 : 1;
    return strcmp(x->labels, y->labels);
}

/* Entries of tenant t1, job `job`, in [start, end), in query order. */
static size_t model(struct world *w, const char *job, int64_t start, int64_t end, bool back,
                    struct mentry **out)
{
    size_t n = 0, cap = 0;
    struct mentry *v = NULL;
    for (uint32_t i = 0; i < w->n; i++)
        for (size_t k = 0; k < w->st[i].n; k++) {
            struct fstream *s = &w->st[i].v[k];
            if (strcmp(s->buf[0][1], "t1") || strcmp(s->buf[1][1], job))
                continue;
            for (size_t e = 0; e < s->ne; e++) {
                if (s->e[e].ts < start || s->e[e].ts >= end)
                    continue;
                if (n == cap) {
                    cap = cap ? cap * 2 : 64;
                    v = realloc(v, cap * sizeof *v);
                }
                v[n].ts = s->e[e].ts;
                v[n].line = s->e[e].line;
                fmt_labels(v[n].labels, sizeof v[n].labels, s->ls + 1, 2);
                n++;
            }
        }
    g_mback = back;
    if (n > 1)
        qsort(v, n, sizeof *v, mentry_cmp);
    *out = v;
    return n;
}

/* ---- tests ---- */

/* Random streams over 3 shards (tenants t1 and t2), random selections from every home shard in
 * both directions with and without a limit: exactly the model's entries in its order. Pieces of
 * 200 bytes and 2 in flight make every selection stream through many pieces. */
static void test_select_random(void **state)
{
    (void)state;
    struct prop p = prop_begin("query_log_select_random");
    struct world w;
    world_init(&w, 3, 200, true);
    for (int i = 0; i < 40; i++) {
        struct fstream *s = add_stream(&w, i % 4 == 3 ? "t2" : "t1", i % 2 ? "a" : "b", i);
        int n = (int)(prop_next(&p) % 60);
        int64_t ts = (int64_t)(prop_next(&p) % 50) * 1000;
        for (int k = 0; k < n; k++) {
            char line[40];
            snprintf(line, sizeof line, "s%d e%d", i, k);
            add_entry(s, ts, line, prop_next(&p) % 4 == 0);
            ts += 1 + (int64_t)(prop_next(&p) % 3) * 1000; /* ties across streams happen */
        }
    }
    world_sort(&w);
    for (int round = 0; round < 24; round++) {
        struct tjob t = {0};
        const char *job = round % 2 ? "a" : "b";
        tjob_matcher(&t, 0, MATCHER_EQ, "job", job);
        t.start = (int64_t)(prop_next(&p) % 60) * 1000;
        t.end = t.start + (int64_t)(prop_next(&p) % 200) * 1000;
        t.backward = prop_next(&p) % 2;
        t.limit = round % 3 == 0 ? 0 : 1 + prop_next(&p) % 50;
        run_job(&w, (uint32_t)round % 3, &t, run_select);
        struct mentry *m;
        size_t n = model(&w, job, t.start, t.end, t.backward, &m);
        size_t want = t.limit && t.limit < n ? t.limit : n;
        prop_check(&p, t.rc == 0);
        prop_check(&p, t.n == want);
        for (size_t i = 0; i < want && i < t.n; i++) {
            prop_check(&p, t.v[i].ts == m[i].ts);
            prop_check(&p, strcmp(t.v[i].line, m[i].line) == 0);
            prop_check(&p, strcmp(t.v[i].labels, m[i].labels) == 0);
        }
        prop_check(&p, !t.tenant_seen);
        prop_check(&p, t.md_ok);
        free(m);
        tjob_deinit(&t);
    }
    world_deinit(&w);
}

/* A limit stops every owner after `limit` entries; an early close (reading 3 of 2000) stops the
 * owners, closes their iterators and drains every piece. */
static void test_limit_and_early_close(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 3, 256, true);
    for (int i = 0; i < 6; i++) {
        struct fstream *s = add_stream(&w, "t1", "big", i);
        for (int k = 0; k < 2000; k++) {
            char line[40];
            snprintf(line, sizeof line, "big line %d of %d", k, i);
            add_entry(s, (int64_t)k * 10 + i, line, false);
        }
    }
    world_sort(&w);
    struct tjob t = {.start = 0, .end = INT64_MAX, .backward = true, .limit = 5};
    tjob_matcher(&t, 0, MATCHER_EQ, "job", "big");
    run_job(&w, 0, &t, run_select);
    assert_int_equal(t.rc, 0);
    assert_int_equal(t.n, 5);
    assert_true(t.v[0].ts == 19995 && t.v[4].ts == 19991);
    /* each owner stopped after 5 (the pushed-down limit), and all answered before the close */
    assert_true(t.stats.shards_done == 3 && t.stats.owner_entries <= 15);
    tjob_deinit(&t);
    /* read 3 of all: the owners are canceled, nothing stays open (world_run checks idle) */
    struct tjob e = {.start = 0, .end = INT64_MAX, .limit = 0};
    tjob_matcher(&e, 0, MATCHER_EQ, "job", "big");
    e.limit = 3; /* read 3 */
    run_job(&w, 1, &e, run_select);
    assert_int_equal(e.n, 3);
    assert_true(e.v[0].ts == 0 && e.v[1].ts == 1 && e.v[2].ts == 2);
    tjob_deinit(&e);
    world_deinit(&w);
}

/* Names, values (never __tenant__), the hint pushed to every owner, series of two matcher sets
 * (a stream matched by both once), index stats, the LogQL source with sorted metadata. */
static void test_metadata_and_source(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 3, 1 << 20, true);
    for (int i = 0; i < 9; i++) {
        struct fstream *s = add_stream(&w, i == 8 ? "t2" : "t1", i % 3 ? "x" : "y", i);
        add_entry(s, 100 + i, "hello", i == 0);
        add_entry(s, 200 + i, "world!", false);
    }
    world_sort(&w);
    struct tjob n = {.start = 0, .end = 1000};
    run_job(&w, 2, &n, run_strings);
    assert_int_equal(n.rc, 0);
    assert_int_equal(n.strs.n, 2);
    assert_true(str_eq_cstr(n.strs.v[0], "job") && str_eq_cstr(n.strs.v[1], "pod"));
    tjob_deinit(&n);
    struct tjob v = {.start = 0, .end = 1000, .label = "job"};
    tjob_matcher(&v, 0, MATCHER_NEQ, "pod", "p003");
    run_job(&w, 0, &v, run_strings);
    assert_int_equal(v.strs.n, 2);
    tjob_deinit(&v);
    struct tjob tv = {.start = 0, .end = 1000, .label = "__tenant__"};
    run_job(&w, 0, &tv, run_strings);
    assert_int_equal(tv.rc, 0);
    assert_int_equal(tv.strs.n, 0);
    tjob_deinit(&tv);
    struct tjob late = {.start = 500, .end = 1000, .label = "job"};
    run_job(&w, 0, &late, run_strings);
    assert_int_equal(late.strs.n, 0);
    tjob_deinit(&late);
    struct tjob s = {.start = 0, .end = 1000};
    tjob_matcher(&s, 0, MATCHER_EQ, "job", "x");
    tjob_matcher(&s, 1, MATCHER_RE, "pod", "p00[12]");
    run_job(&w, 1, &s, run_series);
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.ser.n, 5); /* x: p001 p002 p004 p005 p007 (t1); p001, p002 once */
    char first[80];
    fmt_labels(first, sizeof first, s.ser.v[0].labels, s.ser.v[0].n_labels);
    assert_string_equal(first, "job=x,pod=p001,");
    for (size_t i = 1; i < s.ser.n; i++)
        assert_true(labels_cmp(s.ser.v[i - 1].labels, s.ser.v[i - 1].n_labels, s.ser.v[i].labels,
                               s.ser.v[i].n_labels) < 0);
    assert_true(s.ist.streams == 5 && s.ist.entries == 10 && s.ist.bytes == 55);
    assert_true(s.ist.chunks == 5);
    tjob_deinit(&s);
    struct tjob h = {.start = 0, .end = 1000, .hint = "wor"};
    tjob_matcher(&h, 0, MATCHER_EQ, "job", "y");
    run_job(&w, 0, &h, run_select);
    assert_int_equal(h.n, 6);
    for (uint32_t i = 0; i < w.n; i++)
        if (w.st[i].n_hint_seen)
            assert_true(str_eq_cstr(w.st[i].hint_seen[0], "wor"));
    tjob_deinit(&h);
    struct tjob src = {.start = 0, .end = 1000, .backward = false};
    tjob_matcher(&src, 0, MATCHER_EQ, "job", "y");
    run_job(&w, 2, &src, run_source);
    assert_int_equal(src.rc, 0);
    assert_int_equal(src.n, 6);
    assert_true(src.md_ok);
    assert_true(src.v[0].ts == 100 && src.v[5].ts == 206);
    assert_true(src.stats.entries == 6 && src.stats.shards_done == 3);
    tjob_deinit(&src);
    world_deinit(&w);
}

/* `{job="f"} <filter>` over the prefilter world: 90 of 450 lines match. */
static void prefilter_check(struct world *w, const char *query, bool batched)
{
    struct logql_query *q = NULL;
    char err[256];
    assert_int_equal(logql_parse(str_from_cstr(query), &q, err, sizeof err), 0);
    struct logql_pipeline *pl = NULL;
    assert_int_equal(logql_pipeline_compile_expr(q->root, NULL, &pl, err, sizeof err), 0);
    int filtered0 = 0;
    for (uint32_t i = 0; i < w->n; i++)
        filtered0 += atomic_load(&w->st[i].filtered_selects);
    struct tjob t = {.start = 0, .end = 100000, .pipeline = pl};
    tjob_matcher(&t, 0, MATCHER_EQ, "job", "f");
    run_job(w, 2, &t, run_select);
    assert_int_equal(t.rc, 0);
    assert_int_equal(t.n, 90);
    for (size_t i = 0; i < t.n; i++)
        assert_string_equal(t.v[i].line, "an ERROR here");
    assert_true(t.stats.scanned_entries == 450 && t.stats.shards_done == 3);
    assert_int_equal(t.stats.scanned_bytes, 90 * 13 + 360 * 11);
    int filtered = 0;
    for (uint32_t i = 0; i < w->n; i++)
        filtered += atomic_load(&w->st[i].filtered_selects);
    assert_int_equal(filtered - filtered0, batched ? 3 : 0);
    tjob_deinit(&t);
    logql_pipeline_destroy(pl);
    logql_query_destroy(q);
}

/* The pipeline's pre-filter runs on the owners: only matching lines arrive, every line counts as
 * scanned; reading only part of a filtered selection closes cleanly (the clones are released). A
 * batchable pre-filter runs in the store (its select yields after runs of dropped lines: the
 * step ends, the selection goes on); another one runs on the owner line by line. */
static void test_prefilter(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 3, 128, true);
    for (int i = 0; i < 9; i++) {
        struct fstream *s = add_stream(&w, "t1", "f", i);
        for (int k = 0; k < 50; k++)
            add_entry(s, k * 10 + i, k % 5 ? "boring line" : "an ERROR here", false);
    }
    world_sort(&w);
    struct logql_query *q = NULL;
    char err[256];
    assert_int_equal(logql_parse(str_from_cstr("{job=\"f\"} |= \"ERROR\""), &q, err, sizeof err),
                     0);
    struct logql_pipeline *pl = NULL;
    assert_int_equal(logql_pipeline_compile_expr(q->root, NULL, &pl, err, sizeof err), 0);
    struct tjob t = {.start = 0, .end = 100000, .pipeline = pl};
    tjob_matcher(&t, 0, MATCHER_EQ, "job", "f");
    run_job(&w, 0, &t, run_select);
    assert_int_equal(t.rc, 0);
    assert_int_equal(t.n, 90);
    for (size_t i = 0; i < t.n; i++)
        assert_string_equal(t.v[i].line, "an ERROR here");
    assert_true(t.stats.scanned_entries == 450 && t.stats.shards_done == 3);
    assert_int_equal(t.stats.scanned_bytes, 90 * 13 + 360 * 11);
    assert_true(t.v[0].ts == 0 && t.v[89].ts == 458); /* forward */
    int filtered = 0, yields = 0;
    for (uint32_t i = 0; i < w.n; i++) {
        filtered += atomic_load(&w.st[i].filtered_selects);
        yields += atomic_load(&w.st[i].yields);
    }
    assert_int_equal(filtered, 3); /* `|= "ERROR"` is batchable: every store filtered */
    assert_true(yields > 0);
    tjob_deinit(&t);
    prefilter_check(&w, "{job=\"f\"} |= \"ERROR\" != \"boring\"", true);
    prefilter_check(&w, "{job=\"f\"} |~ \"ERROR here$\"", false);
    struct tjob part = {.start = 0, .end = 100000, .pipeline = pl, .limit = 2};
    tjob_matcher(&part, 0, MATCHER_EQ, "job", "f");
    run_job(&w, 1, &part, run_select);
    assert_int_equal(part.n, 2);
    tjob_deinit(&part);
    logql_pipeline_destroy(pl);
    logql_query_destroy(q);
    world_deinit(&w);
}

/* An owner's error ends the selection with it; a shard without a log store has no streams. */
static void test_errors(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 2, 1 << 20, true);
    for (int i = 0; i < 4; i++)
        add_entry(add_stream(&w, "t1", "e", i), 10, "x", false);
    world_sort(&w);
    w.st[1].fail = ERR_CORRUPT;
    struct tjob t = {.start = 0, .end = 100};
    tjob_matcher(&t, 0, MATCHER_EQ, "job", "e");
    run_job(&w, 0, &t, run_select);
    assert_int_equal(t.rc, ERR_CORRUPT);
    tjob_deinit(&t);
    world_deinit(&w);
    world_init(&w, 2, 1 << 20, false);
    struct tjob u = {.start = 0, .end = 100};
    tjob_matcher(&u, 0, MATCHER_EQ, "job", "e");
    run_job(&w, 1, &u, run_select);
    assert_int_equal(u.rc, 0);
    assert_int_equal(u.n, 0);
    tjob_deinit(&u);
    struct tjob s = {.start = 0, .end = 100};
    tjob_matcher(&s, 0, MATCHER_EQ, "job", "e");
    run_job(&w, 1, &s, run_series);
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.ser.n, 0);
    tjob_deinit(&s);
    world_deinit(&w);
}

/* ---- partial range aggregation ---- */

struct pjob {
    const char *const *queries;
    size_t n;
    bool instant;
    int64_t start, end, step;
    /* outputs */
    int rc;     /* first failure: -1 mismatch */
    size_t bad; /* its query */
    int rc_err; /* the error both paths gave for the error query (if any) */
    uint64_t moved_partial, moved_single, partial_ranges, scanned_partial, scanned_single;
    char diff[2][512];
    _Atomic bool done;
};

static void pfmt(char *out, size_t cap, int rc, const char *err, const struct logql_eval_result *r)
{
    size_t w = (size_t)snprintf(out, cap, "rc=%d %s|", rc, rc ? err : "");
    for (size_t i = 0; !rc && i < r->n_series && w < cap; i++) {
        const struct logql_out_series *s = &r->series[i];
        for (size_t k = 0; k < s->n_labels && w < cap; k++)
            w += (size_t)snprintf(out + w, cap - w, "%.*s=%.*s,", (int)s->labels[k].name.len,
                                  s->labels[k].name.ptr, (int)s->labels[k].value.len,
                                  s->labels[k].value.ptr);
        for (size_t k = 0; k < s->n && w < cap; k++)
            w += (size_t)snprintf(out + w, cap - w, " %lld:%.12g", (long long)s->ts_ns[k], s->v[k]);
        if (w < cap)
            w += (size_t)snprintf(out + w, cap - w, ";");
    }
}

static void run_partial(struct query_job *j, void *arg)
{
    struct pjob *t = arg;
    static char out[2][1 << 16];
    for (size_t i = 0; i < t->n && !t->rc; i++) {
        struct logql_query *q = NULL;
        char err[2][512];
        if (logql_parse(str_from_cstr(t->queries[i]), &q, err[0], sizeof err[0])) {
            t->rc = -2;
            t->bad = i;
            break;
        }
        struct logql_eval_params p = {.start_ns = t->start,
                                      .end_ns = t->instant ? t->start : t->end,
                                      .step_ns = t->instant ? 0 : t->step,
                                      .instant = t->instant,
                                      .limit = 100,
                                      .max_series = 500};
        for (int partial = 0; partial < 2; partial++) {
            struct query_log_source src = {.job = j, .no_partial = !partial};
            struct logql_eval_result r;
            int rc = logql_eval(q, &p, query_log_source_ops(), &src, &r, err[partial], 512);
            pfmt(out[partial], sizeof out[partial], rc, err[partial], &r);
            if (rc)
                t->rc_err = rc;
            logql_eval_result_free(&r);
            if (partial) {
                t->moved_partial += src.stats.moved_bytes;
                t->partial_ranges += src.stats.partial_ranges;
                t->scanned_partial += src.stats.scanned_entries;
            } else {
                t->moved_single += src.stats.moved_bytes;
                t->scanned_single += src.stats.scanned_entries;
                if (src.stats.partial_ranges)
                    t->rc = -3;
            }
        }
        logql_query_destroy(q);
        if (strcmp(out[0], out[1]) != 0) {
            t->rc = -1;
            t->bad = i;
            snprintf(t->diff[0], sizeof t->diff[0], "%.500s", out[0]);
            snprintf(t->diff[1], sizeof t->diff[1], "%.500s", out[1]);
        }
    }
}

static void on_pdone(struct query_job *j, void *arg)
{
    (void)j;
    atomic_store(&((struct pjob *)arg)->done, true);
}

static void run_pjob(struct world *w, uint32_t home, struct pjob *t)
{
    int rc = 0;
    struct query_job *j =
        query_job_start(w->q[home], str_from_cstr("t1"), 0, run_partial, on_pdone, t, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(j);
    world_run(w, &t->done);
    if (t->rc)
        fprintf(stderr, "query %s: rc %d\n single:  %s\n partial: %s\n", t->queries[t->bad], t->rc,
                t->diff[0], t->diff[1]);
    assert_int_equal(t->rc, 0);
}

static const char *const PQ[] = {
    "sum by (level) (count_over_time({job=\"j\"} | json [10s]))",
    "count_over_time({job=\"j\"} | json | drop pod [10s])",
    "count_over_time({job=\"j\"} | json | keep level [25s] offset 5s)",
    "sum(rate({job=\"j\"} |= \"err\" [30s]))",
    "bytes_over_time({job=\"j\"} [20s])",
    "sum by (level) (bytes_rate({job=\"j\"} | json [20s]))",
    "sum by (level) (sum_over_time({job=\"j\"} | json | unwrap lat [30s]))",
    "max_over_time({job=\"j\"} | json | unwrap lat [30s]) by (level)",
    "min_over_time({job=\"j\"} | json | unwrap lat [30s]) by (level)",
    "avg_over_time({job=\"j\"} | json | unwrap lat [30s]) by (level)",
    "sum by (level) (rate({job=\"j\"} | json | unwrap lat [30s]))",
    "topk(2, sum by (pod) (count_over_time({job=\"j\"}[30s])))",
    "sum by (level) (count_over_time({job=\"j\"} | json [10s])) / on () group_left "
    "sum(count_over_time({job=\"j\"}[10s]))",
    "absent_over_time({job=\"nope\"}[10s])",
    "absent_over_time({job=\"j\"}[10s])",
    "quantile_over_time(0.5, {job=\"j\"} | json | unwrap lat [30s]) by (level)",
    "sum_over_time({job=\"j\"} | json | unwrap level [30s])",
};

static struct world *partial_world(struct world *w, uint64_t piece_bytes)
{
    world_init(w, 3, piece_bytes, true);
    static const char *const levels[] = {"info", "warn", "err"};
    for (int i = 0; i < 12; i++) {
        struct fstream *s = add_stream(w, i == 11 ? "t2" : "t1", i == 10 ? "k" : "j", i);
        for (int k = 0; k < 60; k++) {
            char line[40];
            int v = (i * 7 + k * 13) % 50;
            snprintf(line, sizeof line, "{\"level\":\"%s\",\"lat\":%d}", levels[(i + k) % 3], v);
            add_entry(s, (int64_t)(k * 2 + i % 2) * 1000000000LL + i, line, k % 7 == 0);
        }
    }
    world_sort(w);
    return w;
}

/* Every decomposable query equals the entry path (and the others run the entry path); the
 * owners send much less. Tiny pieces: many pieces per owner, owners yield in mid-step. */
static void test_partial_agg(void **state)
{
    (void)state;
    struct world w;
    partial_world(&w, 96);
    struct pjob r = {.queries = PQ,
                     .n = sizeof PQ / sizeof PQ[0] - 1,
                     .start = 0,
                     .end = 130000000000LL,
                     .step = 5000000000LL};
    run_pjob(&w, 1, &r);
    if (getenv("STRATA_TEST_VERBOSE"))
        fprintf(stderr, "partial: %llu ranges, moved %llu bytes (entry path %llu)\n",
                (unsigned long long)r.partial_ranges, (unsigned long long)r.moved_partial,
                (unsigned long long)r.moved_single);
    assert_true(r.partial_ranges >= 14);
    assert_true(r.moved_partial > 0 && r.moved_partial * 2 < r.moved_single);
    assert_true(r.scanned_partial > 0);
    assert_int_equal(r.scanned_partial, r.scanned_single); /* store-filtered lines count */
    struct pjob in = {
        .queries = PQ, .n = sizeof PQ / sizeof PQ[0] - 1, .instant = true, .start = 61000000000LL};
    run_pjob(&w, 0, &in);
    /* a conversion error fails both paths with the same message */
    struct pjob e = {.queries = PQ + sizeof PQ / sizeof PQ[0] - 1,
                     .n = 1,
                     .start = 0,
                     .end = 130000000000LL,
                     .step = 7000000000LL};
    run_pjob(&w, 2, &e);
    assert_int_equal(e.rc_err, ERR_INVALID);
    world_deinit(&w);
    /* large pieces: one piece per owner */
    partial_world(&w, 1 << 20);
    struct pjob big = {
        .queries = PQ, .n = 3, .start = 0, .end = 130000000000LL, .step = 1000000000LL};
    run_pjob(&w, 2, &big);
    world_deinit(&w);
}

/* An owner's error reaches the evaluation, which fails as the entry path does. */
static void test_partial_agg_owner_error(void **state)
{
    (void)state;
    struct world w;
    partial_world(&w, 256);
    w.st[2].fail = ERR_CORRUPT;
    struct pjob r = {
        .queries = PQ, .n = 2, .start = 0, .end = 130000000000LL, .step = 5000000000LL};
    run_pjob(&w, 0, &r);
    assert_int_equal(r.rc_err, ERR_CORRUPT);
    world_deinit(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_random),
        cmocka_unit_test(test_limit_and_early_close),
        cmocka_unit_test(test_metadata_and_source),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_prefilter),
        cmocka_unit_test(test_partial_agg),
        cmocka_unit_test(test_partial_agg_owner_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
