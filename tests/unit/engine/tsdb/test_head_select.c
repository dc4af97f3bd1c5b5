/* engine/tsdb/head reads: a randomized property test that drives appends (in order, OOO,
 * duplicates, conflicts, too old), cuts, block-series reads, truncations and id recycling against a
 * brute-force model and checks every append result and every select (matchers + time range: series,
 * labels, samples bit-exact, chunk order); plus label names/values under matchers and time ranges,
 * and the block-series set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/hash.h"
#include "engine/tsdb/head.h"
#include "formats/gorilla.h"
#include "tests/unit/prop.h"

#define L(n, v) ((struct label){STR_LIT(n), STR_LIT(v)})
#define MIN_MS  60000LL
#define HOUR_MS 3600000LL

static char *mk_tmpdir(char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/strata-heads-XXXXXX");
    assert_non_null(mkdtemp(buf));
    return buf;
}

static void rm_rf(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static struct matcher mk(enum matcher_type t, const char *name, const char *v)
{
    struct matcher m;
    char err[128];
    assert_int_equal(matcher_init(&m, t, str_from_cstr(name), str_from_cstr(v), err, sizeof err),
                     0);
    return m;
}

/* Decodes every chunk of a chunk series into (t, v) pairs, sorted by t (unique: the head never
 * stores a timestamp twice). Returns the count; checks chunk order and metadata. */
static size_t decode_series(const struct chunk_series *cs, int64_t *t, uint64_t *v, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < cs->n_chunks; i++) {
        const struct chunk_meta *c = &cs->chunks[i];
        if (i)
            assert_true(cs->chunks[i - 1].mint_ms <= c->mint_ms);
        assert_int_equal(c->encoding, CHUNK_XOR);
        struct gorilla_iter it;
        assert_int_equal(gorilla_iter_init(&it, c->data, c->len), 0);
        int rc;
        uint32_t k = 0;
        int64_t last = 0;
        while ((rc = gorilla_iter_next(&it)) == 1) {
            assert_true(n < cap);
            gorilla_iter_at_bits(&it, &t[n], &v[n]);
            if (k == 0)
                assert_int_equal(t[n], c->mint_ms);
            last = t[n];
            k++;
            n++;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(k, c->samples);
        assert_int_equal(last, c->maxt_ms);
    }
    /* Insertion sort by t (inputs are runs of sorted chunks). */
    for (size_t i = 1; i < n; i++) {
        int64_t tt = t[i];
        uint64_t vv = v[i];
        size_t j = i;
        for (; j > 0 && t[j - 1] > tt; j--) {
            t[j] = t[j - 1];
            v[j] = v[j - 1];
        }
        t[j] = tt;
        v[j] = vv;
    }
    for (size_t i = 1; i < n; i++)
        assert_true(t[i - 1] < t[i]);
    return n;
}

/* ---- the model ---- */

#define NS   36
#define SMAX 6000

struct mseries {
    struct label labels[3];
    size_t n_labels;
    uint64_t hash;
    bool alive;
    uint32_t id;
    int64_t max_t; /* newest in-order sample, INT64_MIN: none */
    int64_t *t;
    uint64_t *v;
    size_t n;
};

struct model {
    struct mseries s[NS];
    int64_t head_max, min_valid, window;
};

static const char *names[] = {"m0", "m1", "m2"};
static const char *avals[] = {"x", "y", "z", NULL};
static const char *bvals[] = {"p", "q", NULL};

static void model_init(struct model *m, int64_t window)
{
    memset(m, 0, sizeof *m);
    m->head_max = INT64_MIN;
    m->min_valid = INT64_MIN;
    m->window = window;
    size_t k = 0;
    for (int a = 0; a < 4 && k < NS; a++)
        for (int b = 0; b < 3 && k < NS; b++)
            for (int nm = 0; nm < 3 && k < NS; nm++) {
                struct mseries *s = &m->s[k++];
                size_t n = 0;
                s->labels[n++] = (struct label){STR_LIT("__name__"), str_from_cstr(names[nm])};
                if (avals[a])
                    s->labels[n++] = (struct label){STR_LIT("a"), str_from_cstr(avals[a])};
                if (bvals[b])
                    s->labels[n++] = (struct label){STR_LIT("b"), str_from_cstr(bvals[b])};
                s->n_labels = n;
                s->hash = hash_labels(s->labels, n);
                s->t = calloc(SMAX, sizeof *s->t);
                s->v = calloc(SMAX, sizeof *s->v);
                s->max_t = INT64_MIN;
            }
}

static void model_free(struct model *m)
{
    for (int k = 0; k < NS; k++) {
        free(m->s[k].t);
        free(m->s[k].v);
    }
}

static ssize_t model_find(const struct mseries *s, int64_t t)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->t[i] == t)
            return (ssize_t)i;
    return -1;
}

static void model_insert(struct mseries *s, int64_t t, uint64_t v)
{
    assert_true(s->n < SMAX);
    size_t i = s->n;
    while (i > 0 && s->t[i - 1] > t) {
        s->t[i] = s->t[i - 1];
        s->v[i] = s->v[i - 1];
        i--;
    }
    s->t[i] = t;
    s->v[i] = v;
    s->n++;
}

/* The result head_append must give, applying it to the model. */
static int model_append(struct model *m, struct mseries *s, int64_t t, uint64_t v)
{
    if (t < m->min_valid)
        return ERR_RANGE;
    if (s->max_t == INT64_MIN || t > s->max_t) {
        model_insert(s, t, v);
        s->max_t = t;
        if (t > m->head_max)
            m->head_max = t;
        return HEAD_APPENDED;
    }
    ssize_t at = model_find(s, t);
    if (t == s->max_t)
        return s->v[at] == v ? HEAD_DUPLICATE : ERR_DUPLICATE;
    if (m->window == 0)
        return ERR_ORDER;
    if (t < m->head_max - m->window)
        return ERR_RANGE;
    if (at >= 0)
        return s->v[at] == v ? HEAD_DUPLICATE : ERR_DUPLICATE;
    model_insert(s, t, v);
    return HEAD_APPENDED_OOO;
}

static void model_truncate(struct model *m, int64_t mint)
{
    if (mint > m->min_valid)
        m->min_valid = mint;
    bool any = false;
    for (int k = 0; k < NS; k++) {
        struct mseries *s = &m->s[k];
        if (!s->alive)
            continue;
        size_t j = 0;
        for (size_t i = 0; i < s->n; i++)
            if (s->t[i] >= mint) {
                s->t[j] = s->t[i];
                s->v[j] = s->v[i];
                j++;
            }
        s->n = j;
        if (j == 0) {
            s->alive = false;
            s->max_t = INT64_MIN;
        } else {
            any = true;
        }
    }
    if (!any)
        m->head_max = INT64_MIN;
}

static bool model_matches(const struct mseries *s, const struct matcher *ms, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct str val = {"", 0};
        for (size_t k = 0; k < s->n_labels; k++)
            if (str_eq(s->labels[k].name, ms[i].name))
                val = s->labels[k].value;
        if (!matcher_matches(&ms[i], val))
            return false;
    }
    return true;
}

static size_t model_in_range(const struct mseries *s, int64_t mint, int64_t maxt)
{
    size_t c = 0;
    for (size_t i = 0; i < s->n; i++)
        c += s->t[i] >= mint && s->t[i] <= maxt;
    return c;
}

/* ---- checks against the head ---- */

static int mseries_cmp(const void *a, const void *b)
{
    const struct mseries *x = *(const struct mseries *const *)a;
    const struct mseries *y = *(const struct mseries *const *)b;
    return labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

static int64_t tbuf[SMAX * 2];
static uint64_t vbuf[SMAX * 2];

/* Compares one head series (already decoded into tbuf/vbuf, n samples) with the model's samples
 * of s inside [mint, maxt]. */
static void check_samples(struct prop *p, const struct mseries *s, size_t n, int64_t mint,
                          int64_t maxt)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (tbuf[i] < mint || tbuf[i] > maxt)
            continue;
        while (j < s->n && s->t[j] < mint)
            j++;
        prop_check(p, j < s->n && s->t[j] == tbuf[i] && s->v[j] == vbuf[i]);
        j++;
    }
    while (j < s->n && s->t[j] < mint)
        j++;
    prop_check(p, j == s->n || s->t[j] > maxt);
}

static void check_select(struct prop *p, struct head *h, struct model *m, const struct matcher *ms,
                         size_t n, int64_t mint, int64_t maxt)
{
    const struct mseries *want[NS];
    size_t nw = 0;
    for (int k = 0; k < NS; k++)
        if (m->s[k].alive && model_matches(&m->s[k], ms, n) && model_in_range(&m->s[k], mint, maxt))
            want[nw++] = &m->s[k];
    qsort(want, nw, sizeof *want, mseries_cmp);
    struct chunk_series_set *set = head_select(h, ms, n, mint, maxt);
    assert_non_null(set);
    size_t w = 0;
    int rc;
    const struct chunk_series *prev = NULL;
    struct label prev_labels[3];
    size_t prev_n = 0;
    while ((rc = chunk_series_set_next(set)) == 1) {
        const struct chunk_series *cs = chunk_series_set_at(set);
        if (prev)
            prop_check(p, labels_cmp(prev_labels, prev_n, cs->labels, cs->n_labels) < 0);
        /* Copy for the next comparison (the strings stay valid until the next _next only). */
        prev = cs;
        prev_n = cs->n_labels;
        static char keep[3][2][16];
        for (size_t i = 0; i < cs->n_labels && i < 3; i++) {
            memcpy(keep[i][0], cs->labels[i].name.ptr, cs->labels[i].name.len);
            memcpy(keep[i][1], cs->labels[i].value.ptr, cs->labels[i].value.len);
            prev_labels[i] = (struct label){{keep[i][0], cs->labels[i].name.len},
                                            {keep[i][1], cs->labels[i].value.len}};
        }
        for (size_t i = 0; i < cs->n_chunks; i++)
            prop_check(p, cs->chunks[i].mint_ms <= maxt && cs->chunks[i].maxt_ms >= mint);
        size_t ns = decode_series(cs, tbuf, vbuf, SMAX * 2);
        size_t in_range = 0;
        for (size_t i = 0; i < ns; i++)
            in_range += tbuf[i] >= mint && tbuf[i] <= maxt;
        if (in_range == 0)
            continue; /* a chunk overlaps the range but none of its samples fall inside */
        prop_check(p, w < nw);
        prop_check(p,
                   labels_cmp(want[w]->labels, want[w]->n_labels, cs->labels, cs->n_labels) == 0);
        check_samples(p, want[w], ns, mint, maxt);
        w++;
    }
    prop_check(p, rc == 0);
    prop_check(p, w == nw);
    chunk_series_set_close(set);
}

/* After a cut at t: the block set [INT64_MIN, t) holds exactly the model's samples before t. */
static void check_block(struct prop *p, struct head *h, struct model *m, int64_t t)
{
    struct chunk_series_set *set = head_block_series(h, INT64_MIN, t);
    assert_non_null(set);
    size_t seen = 0, want = 0;
    for (int k = 0; k < NS; k++)
        want += m->s[k].alive && model_in_range(&m->s[k], INT64_MIN, t - 1) > 0;
    int rc;
    while ((rc = chunk_series_set_next(set)) == 1) {
        const struct chunk_series *cs = chunk_series_set_at(set);
        const struct mseries *s = NULL;
        for (int k = 0; k < NS && !s; k++)
            if (m->s[k].alive &&
                labels_cmp(m->s[k].labels, m->s[k].n_labels, cs->labels, cs->n_labels) == 0)
                s = &m->s[k];
        prop_check(p, s != NULL);
        for (size_t i = 0; i < cs->n_chunks; i++)
            prop_check(p, cs->chunks[i].maxt_ms < t);
        size_t ns = decode_series(cs, tbuf, vbuf, SMAX * 2);
        check_samples(p, s, ns, INT64_MIN, t - 1);
        seen++;
    }
    prop_check(p, rc == 0);
    prop_check(p, seen == want);
    chunk_series_set_close(set);
}

/* ---- the property ---- */

static uint64_t rand_value(struct prop *p)
{
    static const uint64_t vals[] = {0,
                                    0x3ff0000000000000ull,
                                    0x3ff8000000000000ull,
                                    GORILLA_STALE_NAN_BITS,
                                    0x7ff8000000000001ull,
                                    0x8000000000000000ull};
    uint64_t r = prop_next(p);
    return r % 3 == 0 ? prop_next(p) : vals[r % 6];
}

static void random_matchers(struct prop *p, struct matcher *ms, size_t *n)
{
    static const char *const rx[] = {"x|y", ".*", "m.", "", "q|z", ".+"};
    *n = 1 + prop_next(p) % 2;
    for (size_t i = 0; i < *n; i++) {
        const char *name = (const char *[]){"__name__", "a", "b"}[prop_next(p) % 3];
        const char *lit = (const char *[]){"m0", "m1", "x", "y", "p", "q", ""}[prop_next(p) % 7];
        switch (prop_next(p) % 4) {
        case 0: ms[i] = mk(MATCHER_EQ, name, lit); break;
        case 1: ms[i] = mk(MATCHER_NEQ, name, lit); break;
        case 2: ms[i] = mk(MATCHER_RE, name, rx[prop_next(p) % 6]); break;
        default: ms[i] = mk(MATCHER_NRE, name, rx[prop_next(p) % 6]); break;
        }
    }
}

static int64_t pick_time(struct prop *p, struct model *m, struct mseries *s, int64_t *clock)
{
    uint64_t r = prop_next(p) % 100;
    if (s->max_t == INT64_MIN || r < 70) {
        *clock += (int64_t)(prop_next(p) % 4000);
        int64_t base = s->max_t > *clock ? s->max_t : *clock;
        return base + 1 + (int64_t)(prop_next(p) % 30000);
    }
    if (r < 80 && s->n) /* an existing timestamp */
        return s->t[prop_next(p) % s->n];
    if (r < 85)
        return s->max_t;
    /* older: mostly inside the window, sometimes past it */
    (void)m;
    return s->max_t - 1 - (int64_t)(prop_next(p) % (25 * MIN_MS));
}

static void do_append(struct prop *p, struct head *h, struct model *m, int64_t *clock)
{
    /* A third of the series idles in each 90-minute epoch, so truncations collect series and
     * later appends recreate them (with recycled ids). */
    size_t k = prop_next(p) % NS;
    while ((k + (size_t)(*clock / (90 * MIN_MS))) % 3 == 0)
        k = prop_next(p) % NS;
    struct mseries *s = &m->s[k];
    if (!s->alive) {
        uint32_t id;
        bool created;
        prop_check(
            p, head_series_get_or_create(h, s->labels, s->n_labels, s->hash, &id, &created) == 0);
        prop_check(p, created);
        s->id = id;
        s->alive = true;
        s->max_t = INT64_MIN;
        s->n = 0;
    }
    int64_t t = pick_time(p, m, s, clock);
    uint64_t v = rand_value(p);
    if (prop_next(p) % 2 == 0) { /* re-send a stored value half the time (a true duplicate) */
        ssize_t at = model_find(s, t);
        if (at >= 0)
            v = s->v[at];
    }
    int want = model_append(m, s, t, v);
    int got = head_append(h, s->id, t, v);
    if (got != want)
        fprintf(stderr, "append t=%lld: head %d, model %d\n", (long long)t, got, want);
    prop_check(p, got == want);
}

static void do_cut(struct prop *p, struct head *h, struct model *m, int64_t range)
{
    if (m->head_max == INT64_MIN)
        return;
    /* Cut at the start of the range before the newest one (like the orchestrator does). */
    int64_t t = m->head_max / range * range - range;
    if (t <= m->min_valid)
        return;
    prop_check(p, head_cut_open_chunks_before(h, t) == 0);
    if (t > m->min_valid)
        m->min_valid = t;
    check_block(p, h, m, t);
    int removed = head_truncate(h, t);
    prop_check(p, removed >= 0);
    model_truncate(m, t);
    if (prop_next(p) % 2)
        head_recycle_ids(h);
    uint64_t alive = 0;
    for (int k = 0; k < NS; k++)
        alive += m->s[k].alive;
    prop_check(p, head_series_count(h) == alive);
}

static void run_property(int64_t window)
{
    struct prop p = prop_begin(window ? "head_select_model" : "head_select_model_no_ooo");
    char dir[64];
    mk_tmpdir(dir, sizeof dir);
    struct head_config cfg;
    head_config_default(&cfg);
    cfg.chunk_range_ms = HOUR_MS;
    cfg.samples_per_chunk = 16;
    cfg.ooo_window_ms = window;
    cfg.ooo_cap = 5;
    cfg.chunk_file_size_max = 64 << 10;
    cfg.chunk_write_buf_size = 4096;
    struct head *h;
    assert_int_equal(head_open(dir, &cfg, INT64_MIN, &h), 0);
    struct model m;
    model_init(&m, window);
    int64_t clock = 1000 * HOUR_MS + (int64_t)(prop_next(&p) % HOUR_MS);
    for (int op = 0; op < 12000; op++) {
        uint64_t r = prop_next(&p) % 1000;
        if (r < 940) {
            do_append(&p, h, &m, &clock);
        } else if (r < 946) {
            do_cut(&p, h, &m, cfg.chunk_range_ms);
        } else {
            struct matcher ms[2];
            size_t n;
            random_matchers(&p, ms, &n);
            int64_t a = clock - (int64_t)(prop_next(&p) % (4 * HOUR_MS));
            int64_t b = a + (int64_t)(prop_next(&p) % (3 * HOUR_MS));
            if (prop_next(&p) % 8 == 0) {
                a = INT64_MIN;
                b = INT64_MAX;
            }
            check_select(&p, h, &m, ms, n, a, b);
            for (size_t i = 0; i < n; i++)
                matcher_deinit(&ms[i]);
        }
    }
    struct head_stats st;
    head_stats(h, &st);
    prop_check(&p, st.samples_appended_total > 1000);
    if (window)
        prop_check(&p, st.ooo_appended_total > 10);
    prop_check(&p, st.series_removed_total > 0);
    prop_check(&p, st.chunks_closed > 100);
    head_close(h);
    model_free(&m);
    rm_rf(dir);
}

static void test_select_vs_model(void **state)
{
    (void)state;
    run_property(20 * MIN_MS);
}

static void test_select_vs_model_no_ooo(void **state)
{
    (void)state;
    run_property(0);
}

/* ---- label names and values ---- */

static void test_label_names_values(void **state)
{
    (void)state;
    char dir[64];
    mk_tmpdir(dir, sizeof dir);
    struct head_config cfg;
    head_config_default(&cfg);
    struct head *h;
    assert_int_equal(head_open(dir, &cfg, INT64_MIN, &h), 0);
    struct label s0[] = {L("__name__", "up"), L("inst", "a"), L("job", "api")};
    struct label s1[] = {L("__name__", "up"), L("job", "db")};
    struct label s2[] = {L("__name__", "cpu"), L("inst", "b")};
    struct {
        struct label *l;
        size_t n;
        int64_t t;
    } ss[] = {{s0, 3, 1 * HOUR_MS}, {s1, 2, 5 * HOUR_MS}, {s2, 2, 1 * HOUR_MS}};
    for (int i = 0; i < 3; i++) {
        uint32_t id;
        bool created;
        assert_int_equal(head_series_get_or_create(h, ss[i].l, ss[i].n,
                                                   hash_labels(ss[i].l, ss[i].n), &id, &created),
                         0);
        assert_int_equal(head_append(h, id, ss[i].t, 0), HEAD_APPENDED);
    }
    struct str *out;
    size_t n;
    assert_int_equal(head_label_names(h, NULL, 0, INT64_MIN, INT64_MAX, &out, &n), 0);
    assert_int_equal(n, 3);
    assert_true(str_eq_cstr(out[0], "__name__") && str_eq_cstr(out[1], "inst") &&
                str_eq_cstr(out[2], "job"));
    free(out);
    struct matcher m1[] = {mk(MATCHER_EQ, "job", "db")};
    assert_int_equal(head_label_names(h, m1, 1, INT64_MIN, INT64_MAX, &out, &n), 0);
    assert_int_equal(n, 2);
    assert_true(str_eq_cstr(out[0], "__name__") && str_eq_cstr(out[1], "job"));
    free(out);
    assert_int_equal(head_label_names(h, NULL, 0, 4 * HOUR_MS, 6 * HOUR_MS, &out, &n), 0);
    assert_int_equal(n, 2);
    free(out);
    assert_int_equal(head_label_values(h, STR_LIT("job"), NULL, 0, INT64_MIN, INT64_MAX, &out, &n),
                     0);
    assert_int_equal(n, 2);
    assert_true(str_eq_cstr(out[0], "api") && str_eq_cstr(out[1], "db"));
    free(out);
    assert_int_equal(head_label_values(h, STR_LIT("job"), NULL, 0, 0, 2 * HOUR_MS, &out, &n), 0);
    assert_int_equal(n, 1);
    assert_true(str_eq_cstr(out[0], "api"));
    free(out);
    struct matcher m2[] = {mk(MATCHER_EQ, "__name__", "cpu")};
    assert_int_equal(head_label_values(h, STR_LIT("job"), m2, 1, INT64_MIN, INT64_MAX, &out, &n),
                     0);
    assert_int_equal(n, 0);
    free(out);
    struct matcher m3[] = {mk(MATCHER_RE, "__name__", "up|cpu")};
    assert_int_equal(head_label_values(h, STR_LIT("inst"), m3, 1, INT64_MIN, INT64_MAX, &out, &n),
                     0);
    assert_int_equal(n, 2);
    assert_true(str_eq_cstr(out[0], "a") && str_eq_cstr(out[1], "b"));
    free(out);
    /* No data in the range: nothing. */
    assert_int_equal(head_label_names(h, m3, 1, 10 * HOUR_MS, 11 * HOUR_MS, &out, &n), 0);
    assert_int_equal(n, 0);
    free(out);
    matcher_deinit(&m1[0]);
    matcher_deinit(&m2[0]);
    matcher_deinit(&m3[0]);
    head_close(h);
    rm_rf(dir);
}

static void test_block_series_set(void **state)
{
    (void)state;
    char dir[64];
    mk_tmpdir(dir, sizeof dir);
    struct head_config cfg;
    head_config_default(&cfg);
    struct head *h;
    assert_int_equal(head_open(dir, &cfg, INT64_MIN, &h), 0);
    struct label a[] = {L("__name__", "a")}, b[] = {L("__name__", "b")};
    uint32_t ia, ib;
    bool created;
    assert_int_equal(head_series_get_or_create(h, b, 1, hash_labels(b, 1), &ib, &created), 0);
    assert_int_equal(head_series_get_or_create(h, a, 1, hash_labels(a, 1), &ia, &created), 0);
    /* a: samples in [0, 3h); b: only in [0, 1h) (then idle). */
    for (int64_t t = 0; t < 3 * HOUR_MS; t += 30000)
        assert_int_equal(head_append(h, ia, t, (uint64_t)t), HEAD_APPENDED);
    for (int64_t t = 0; t < HOUR_MS; t += 30000)
        assert_int_equal(head_append(h, ib, t, (uint64_t)t), HEAD_APPENDED);
    /* Before the cut, b's open chunk is not in the block set. */
    struct chunk_series_set *set = head_block_series(h, 0, 2 * HOUR_MS);
    assert_int_equal(chunk_series_set_next(set), 1);
    assert_true(str_eq_cstr(chunk_series_set_at(set)->labels[0].value, "a"));
    assert_int_equal(chunk_series_set_next(set), 0);
    chunk_series_set_close(set);
    assert_int_equal(head_cut_open_chunks_before(h, 2 * HOUR_MS), 0);
    set = head_block_series(h, 0, 2 * HOUR_MS);
    int64_t t[1000];
    uint64_t v[1000];
    const char *want[] = {"a", "b"};
    size_t want_n[] = {240, 120};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(chunk_series_set_next(set), 1);
        const struct chunk_series *cs = chunk_series_set_at(set);
        assert_true(str_eq_cstr(cs->labels[0].value, want[i]));
        assert_int_equal(decode_series(cs, t, v, 1000), want_n[i]);
        for (size_t k = 0; k < want_n[i]; k++)
            assert_int_equal(t[k], (int64_t)k * 30000);
    }
    assert_int_equal(chunk_series_set_next(set), 0);
    chunk_series_set_close(set);
    /* b has nothing after 2h: truncation removes it, a stays. */
    assert_int_equal(head_truncate(h, 2 * HOUR_MS), 1);
    assert_int_equal(head_series_count(h), 1);
    head_close(h);
    rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_names_values),
        cmocka_unit_test(test_block_series_set),
        cmocka_unit_test(test_select_vs_model),
        cmocka_unit_test(test_select_vs_model_no_ooo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
