/* engine/tsdb/head: series creation, lookup, forced hash collisions and ids given by WAL replay;
 * the append rules (in order, duplicates, conflicts, OOO window, too old, OOO disabled); chunk
 * cutting at 120 samples, at range boundaries, evenly spread, and by bytes; OOO buffer cuts
 * split at range boundaries; stale markers and other NaN payloads bit-exact; statistics. */
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

#define L(n, v) ((struct label){STR_LIT(n), STR_LIT(v)})
#define MIN_MS  60000LL
#define HOUR_MS 3600000LL

/* ---- helpers ---- */

struct fixture {
    char dir[64];
    struct head *h;
    struct head_config cfg;
};

static void fx_open(struct fixture *fx, const struct head_config *cfg)
{
    snprintf(fx->dir, sizeof fx->dir, "/tmp/strata-head-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    if (cfg)
        fx->cfg = *cfg;
    else
        head_config_default(&fx->cfg);
    assert_int_equal(head_open(fx->dir, &fx->cfg, INT64_MIN, &fx->h), 0);
}

static void fx_close(struct fixture *fx)
{
    head_close(fx->h);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
}

static uint32_t series(struct head *h, const struct label *ls, size_t n)
{
    uint32_t id;
    bool created;
    assert_int_equal(head_series_get_or_create(h, ls, n, hash_labels(ls, n), &id, &created), 0);
    return id;
}

static uint64_t bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    return b;
}

/* The single series selected by __name__=name: its chunk metas (copied) and its samples. */
struct got {
    struct chunk_meta chunks[256];
    size_t n_chunks;
    int64_t t[4096];
    uint64_t v[4096];
    size_t n;
};

static void select_one(struct head *h, const char *name, int64_t mint, int64_t maxt, struct got *g)
{
    struct matcher m;
    char err[64];
    assert_int_equal(
        matcher_init(&m, MATCHER_EQ, STR_LIT("__name__"), str_from_cstr(name), err, sizeof err), 0);
    struct chunk_series_set *set = head_select(h, &m, 1, mint, maxt);
    assert_non_null(set);
    memset(g, 0, sizeof *g);
    int rc = chunk_series_set_next(set);
    if (rc == 1) {
        const struct chunk_series *cs = chunk_series_set_at(set);
        assert_true(cs->n_chunks <= 256);
        for (size_t i = 0; i < cs->n_chunks; i++) {
            g->chunks[i] = cs->chunks[i];
            g->chunks[i].data = NULL;
            if (i)
                assert_true(cs->chunks[i - 1].mint_ms <= cs->chunks[i].mint_ms);
            struct gorilla_iter it;
            assert_int_equal(gorilla_iter_init(&it, cs->chunks[i].data, cs->chunks[i].len), 0);
            uint32_t k = 0;
            while ((rc = gorilla_iter_next(&it)) == 1) {
                assert_true(g->n < 4096);
                gorilla_iter_at_bits(&it, &g->t[g->n], &g->v[g->n]);
                if (k == 0)
                    assert_int_equal(g->t[g->n], cs->chunks[i].mint_ms);
                k++;
                g->n++;
            }
            assert_int_equal(rc, 0);
            assert_int_equal(k, cs->chunks[i].samples);
            assert_int_equal(g->t[g->n - 1], cs->chunks[i].maxt_ms);
        }
        g->n_chunks = cs->n_chunks;
        assert_int_equal(chunk_series_set_next(set), 0);
    } else {
        assert_int_equal(rc, 0);
    }
    chunk_series_set_close(set);
    matcher_deinit(&m);
}

/* ---- series ---- */

static void test_series_create_lookup(void **state)
{
    (void)state;
    struct fixture fx;
    fx_open(&fx, NULL);
    struct label a[] = {L("__name__", "up"), L("job", "api")};
    struct label b[] = {L("__name__", "up"), L("job", "db")};
    struct label c[] = {L("__name__", "up")};
    uint32_t id;
    bool created;
    assert_int_equal(head_series_get_or_create(fx.h, a, 2, hash_labels(a, 2), &id, &created), 0);
    assert_int_equal(id, 0);
    assert_true(created);
    assert_int_equal(head_series_get_or_create(fx.h, b, 2, hash_labels(b, 2), &id, &created), 0);
    assert_int_equal(id, 1);
    assert_true(created);
    assert_int_equal(head_series_get_or_create(fx.h, a, 2, hash_labels(a, 2), &id, &created), 0);
    assert_int_equal(id, 0);
    assert_false(created);
    assert_int_equal(head_series_lookup(fx.h, b, 2, hash_labels(b, 2), &id), 0);
    assert_int_equal(id, 1);
    assert_int_equal(head_series_lookup(fx.h, c, 1, hash_labels(c, 1), &id), ERR_NOT_FOUND);
    assert_int_equal(head_series_count(fx.h), 2);

    struct label out[4];
    size_t n;
    assert_int_equal(head_series_labels(fx.h, 1, out, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_true(str_eq_cstr(out[0].name, "__name__") && str_eq_cstr(out[0].value, "up"));
    assert_true(str_eq_cstr(out[1].name, "job") && str_eq_cstr(out[1].value, "db"));
    assert_int_equal(head_series_labels(fx.h, 1, out, 1, &n), ERR_FULL);
    assert_int_equal(n, 2);
    assert_int_equal(head_series_labels(fx.h, 7, out, 4, &n), ERR_NOT_FOUND);
    assert_true(head_series_exists(fx.h, 0));
    assert_false(head_series_exists(fx.h, 2));

    /* The empty label value and a label set of one label are ordinary. */
    struct label d[] = {L("__name__", ""), L("x", "y")};
    uint32_t idd = series(fx.h, d, 2);
    assert_int_equal(head_series_labels(fx.h, idd, out, 4, &n), 0);
    assert_int_equal(out[0].value.len, 0);
    struct head_stats st;
    head_stats(fx.h, &st);
    assert_int_equal(st.series, 3);
    /* Symbols: __name__ up job api db "" x y */
    assert_int_equal(st.symbols, 8);
    fx_close(&fx);
}

static void test_hash_collisions(void **state)
{
    (void)state;
    struct fixture fx;
    fx_open(&fx, NULL);
    /* Every series gets the same hash: the map must tell them apart by labels. */
    enum { N = 300 };
    char names[N][16];
    struct label ls[N][2];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "s%d", i);
        ls[i][0] = L("__name__", "m");
        ls[i][1] = (struct label){STR_LIT("k"), str_from_cstr(names[i])};
        uint32_t id;
        bool created;
        assert_int_equal(head_series_get_or_create(fx.h, ls[i], 2, 42, &id, &created), 0);
        assert_int_equal(id, (uint32_t)i);
        assert_true(created);
    }
    for (int i = N - 1; i >= 0; i--) {
        uint32_t id;
        assert_int_equal(head_series_lookup(fx.h, ls[i], 2, 42, &id), 0);
        assert_int_equal(id, (uint32_t)i);
        /* Same labels under another hash are a different key (the caller's hash is trusted). */
        assert_int_equal(head_series_lookup(fx.h, ls[i], 2, 43, &id), ERR_NOT_FOUND);
    }
    /* Remove every other one (they have no samples: truncation collects them) and check the
     * cluster still resolves. */
    for (int i = 0; i < N; i += 2)
        assert_int_equal(head_append(fx.h, (uint32_t)i + 1, 1000, bits(1)), HEAD_APPENDED);
    assert_int_equal(head_truncate(fx.h, 0), N / 2);
    for (int i = 0; i < N; i++) {
        uint32_t id;
        int rc = head_series_lookup(fx.h, ls[i], 2, 42, &id);
        if (i % 2 == 0) {
            assert_int_equal(rc, ERR_NOT_FOUND);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(id, (uint32_t)i);
        }
    }
    fx_close(&fx);
}

static void test_create_with_id(void **state)
{
    (void)state;
    struct fixture fx;
    fx_open(&fx, NULL);
    struct label a[] = {L("__name__", "a")}, b[] = {L("__name__", "b")}, c[] = {L("__name__", "c")};
    assert_int_equal(head_series_create_with_id(fx.h, 5, a, 1, hash_labels(a, 1)), 0);
    assert_int_equal(head_series_create_with_id(fx.h, 2, b, 1, hash_labels(b, 1)), 0);
    /* Idempotent for the same pair; conflicts either way are refused. */
    assert_int_equal(head_series_create_with_id(fx.h, 5, a, 1, hash_labels(a, 1)), 0);
    assert_int_equal(head_series_create_with_id(fx.h, 5, c, 1, hash_labels(c, 1)), ERR_DUPLICATE);
    assert_int_equal(head_series_create_with_id(fx.h, 6, a, 1, hash_labels(a, 1)), ERR_DUPLICATE);
    assert_int_equal(head_series_create_with_id(fx.h, HEAD_SERIES_ID_MAX + 1, c, 1, 1), ERR_RANGE);
    /* New series fill the holes from the lowest id, then continue after the highest. */
    uint32_t want[] = {0, 1, 3, 4, 6, 7};
    for (int i = 0; i < 6; i++) {
        char v[16];
        snprintf(v, sizeof v, "n%d", i);
        struct label l[] = {{STR_LIT("__name__"), str_from_cstr(v)}};
        assert_int_equal(series(fx.h, l, 1), want[i]);
    }
    uint32_t id;
    assert_int_equal(head_series_lookup(fx.h, a, 1, hash_labels(a, 1), &id), 0);
    assert_int_equal(id, 5);
    fx_close(&fx);
}

/* ---- append rules ---- */

static void test_append_rules(void **state)
{
    (void)state;
    struct fixture fx;
    fx_open(&fx, NULL); /* OOO window 10 min */
    struct head *h = fx.h;
    struct label a[] = {L("__name__", "a")}, b[] = {L("__name__", "b")};
    uint32_t ia = series(h, a, 1), ib = series(h, b, 1);
    int64_t t0 = 100 * HOUR_MS;
    assert_int_equal(head_append(h, 99, t0, bits(1)), ERR_NOT_FOUND);
    for (int i = 0; i < 10; i++)
        assert_int_equal(head_append(h, ia, t0 + i * 15000, bits(i)), HEAD_APPENDED);
    int64_t last = t0 + 9 * 15000;
    /* Same timestamp as the newest sample. */
    assert_int_equal(head_append(h, ia, last, bits(9)), HEAD_DUPLICATE);
    assert_int_equal(head_append(h, ia, last, bits(9.5)), ERR_DUPLICATE);
    /* -0.0 and 0.0 differ in bits: a conflict, not a duplicate. */
    assert_int_equal(head_append(h, ib, t0, bits(0.0)), HEAD_APPENDED);
    assert_int_equal(head_append(h, ib, t0, bits(-0.0)), ERR_DUPLICATE);
    /* An older timestamp that the open chunk holds. */
    assert_int_equal(head_append(h, ia, t0 + 3 * 15000, bits(3)), HEAD_DUPLICATE);
    assert_int_equal(head_append(h, ia, t0 + 3 * 15000, bits(4)), ERR_DUPLICATE);
    /* New older timestamps inside the window go out of order. */
    assert_int_equal(head_append(h, ia, t0 + 3 * 15000 + 1, bits(42)), HEAD_APPENDED_OOO);
    assert_int_equal(head_append(h, ia, t0 + 3 * 15000 + 1, bits(42)), HEAD_DUPLICATE);
    assert_int_equal(head_append(h, ia, t0 + 3 * 15000 + 1, bits(43)), ERR_DUPLICATE);
    assert_int_equal(head_append(h, ia, t0 - 5 * MIN_MS, bits(7)), HEAD_APPENDED_OOO);
    /* The window is measured from the head's newest sample (any series); in-order samples are
     * never too old. */
    assert_int_equal(head_append(h, ia, t0 + 11 * MIN_MS, bits(2)), HEAD_APPENDED);
    assert_int_equal(head_append(h, ib, t0 + 20 * MIN_MS, bits(1)), HEAD_APPENDED);
    assert_int_equal(head_append(h, ia, t0 + 10 * MIN_MS - 1, bits(1)), ERR_RANGE);
    assert_int_equal(head_append(h, ia, t0 + 10 * MIN_MS, bits(1)), HEAD_APPENDED_OOO);

    struct got g;
    select_one(h, "a", INT64_MIN, INT64_MAX, &g);
    int64_t want_t[] = {
        t0 - 5 * MIN_MS, t0,          t0 + 15000,       t0 + 30000,      t0 + 45000,
        t0 + 45001,      t0 + 60000,  t0 + 75000,       t0 + 90000,      t0 + 105000,
        t0 + 120000,     t0 + 135000, t0 + 10 * MIN_MS, t0 + 11 * MIN_MS};
    /* Samples come from in-order chunks then the OOO chunk: sort before comparing. */
    for (size_t i = 1; i < g.n; i++)
        for (size_t j = i; j > 0 && g.t[j - 1] > g.t[j]; j--) {
            int64_t tt = g.t[j];
            g.t[j] = g.t[j - 1];
            g.t[j - 1] = tt;
            uint64_t vv = g.v[j];
            g.v[j] = g.v[j - 1];
            g.v[j - 1] = vv;
        }
    assert_int_equal(g.n, sizeof want_t / sizeof want_t[0]);
    for (size_t i = 0; i < g.n; i++)
        assert_int_equal(g.t[i], want_t[i]);
    assert_int_equal(g.v[5], bits(42));

    struct head_stats st;
    head_stats(h, &st);
    assert_int_equal(st.ooo_appended_total, 3);
    assert_int_equal(st.duplicates_dropped_total, 3);
    assert_int_equal(st.rejected_duplicate_total, 4);
    assert_int_equal(st.rejected_too_old_total, 1);
    assert_int_equal(st.ooo_samples_buffered, 3);
    assert_int_equal(st.min_time_ms, t0 - 5 * MIN_MS);
    assert_int_equal(st.max_time_ms, t0 + 20 * MIN_MS);
    fx_close(&fx);
}

static void test_append_ooo_disabled_and_min_valid(void **state)
{
    (void)state;
    struct head_config cfg;
    head_config_default(&cfg);
    cfg.ooo_window_ms = 0;
    struct fixture fx;
    fx_open(&fx, &cfg);
    struct label a[] = {L("__name__", "a")};
    uint32_t id = series(fx.h, a, 1);
    assert_int_equal(head_append(fx.h, id, 10 * HOUR_MS, bits(1)), HEAD_APPENDED);
    assert_int_equal(head_append(fx.h, id, 10 * HOUR_MS - 1, bits(1)), ERR_ORDER);
    assert_int_equal(head_append(fx.h, id, 10 * HOUR_MS, bits(1)), HEAD_DUPLICATE);
    /* After a cut nothing older than the cut may enter, not even into an empty series. */
    assert_int_equal(head_cut_open_chunks_before(fx.h, 12 * HOUR_MS), 0);
    assert_int_equal(head_min_valid_time(fx.h), 12 * HOUR_MS);
    struct label b[] = {L("__name__", "b")};
    uint32_t ib = series(fx.h, b, 1);
    assert_int_equal(head_append(fx.h, ib, 12 * HOUR_MS - 1, bits(1)), ERR_RANGE);
    assert_int_equal(head_append(fx.h, ib, 12 * HOUR_MS, bits(1)), HEAD_APPENDED);
    assert_int_equal(head_append(fx.h, id, 11 * HOUR_MS, bits(1)), ERR_RANGE);
    struct head_stats st;
    head_stats(fx.h, &st);
    assert_int_equal(st.rejected_order_total, 1);
    assert_int_equal(st.rejected_too_old_total, 2);
    fx_close(&fx);

    /* A head opened after a block ends at T refuses samples before T. */
    snprintf(fx.dir, sizeof fx.dir, "/tmp/strata-head-XXXXXX");
    assert_non_null(mkdtemp(fx.dir));
    assert_int_equal(head_open(fx.dir, &cfg, 6 * HOUR_MS, &fx.h), 0);
    id = series(fx.h, a, 1);
    assert_int_equal(head_append(fx.h, id, 6 * HOUR_MS - 1, bits(1)), ERR_RANGE);
    assert_int_equal(head_append(fx.h, id, 6 * HOUR_MS, bits(1)), HEAD_APPENDED);
    fx_close(&fx);
}

static void test_bad_config(void **state)
{
    (void)state;
    struct head_config cfg;
    struct head *h;
    head_config_default(&cfg);
    cfg.samples_per_chunk = 2;
    assert_int_equal(head_open("/tmp", &cfg, INT64_MIN, &h), ERR_INVALID);
    head_config_default(&cfg);
    cfg.chunk_range_ms = 0;
    assert_int_equal(head_open("/tmp", &cfg, INT64_MIN, &h), ERR_INVALID);
    head_config_default(&cfg);
    cfg.ooo_window_ms = -1;
    assert_int_equal(head_open("/tmp", &cfg, INT64_MIN, &h), ERR_INVALID);
}

/* ---- chunk cutting ---- */

static void test_cut_at_120(void **state)
{
    (void)state;
    struct fixture fx;
    fx_open(&fx, NULL);
    struct label a[] = {L("__name__", "a")};
    uint32_t id = series(fx.h, a, 1);
    int64_t t0 = 1000 * 2 * HOUR_MS; /* aligned to the 2 h range */
    /* Two ranges at 15 s: 480 samples each, 4 chunks of exactly 120. */
    for (int i = 0; i < 960; i++)
        assert_int_equal(head_append(fx.h, id, t0 + i * 15000, bits(i % 7)), HEAD_APPENDED);
    struct got g;
    select_one(fx.h, "a", INT64_MIN, INT64_MAX, &g);
    assert_int_equal(g.n, 960);
    assert_int_equal(g.n_chunks, 8);
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(g.chunks[i].samples, 120);
        assert_int_equal(g.chunks[i].mint_ms, t0 + (int64_t)i * 120 * 15000);
    }
    struct head_stats st;
    head_stats(fx.h, &st);
    assert_int_equal(st.chunks_closed, 7);
    assert_int_equal(st.chunks_open, 1);
    assert_int_equal(st.chunk_files, 1);

    /* A faster series (1 s) still never exceeds 120 per chunk. */
    struct label b[] = {L("__name__", "b")};
    uint32_t ib = series(fx.h, b, 1);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(head_append(fx.h, ib, t0 + i * 1000, bits(i)), HEAD_APPENDED);
    select_one(fx.h, "b", INT64_MIN, INT64_MAX, &g);
    assert_int_equal(g.n, 1000);
    for (size_t i = 0; i < g.n_chunks; i++)
        assert_true(g.chunks[i].samples <= 120);
    assert_int_equal(g.n_chunks, 9);
    fx_close(&fx);
}

static void test_cut_at_range_boundary(void **state)
{
    (void)state;
    struct fixture fx;
    fx_open(&fx, NULL);
    struct label a[] = {L("__name__", "a")};
    uint32_t id = series(fx.h, a, 1);
    int64_t boundary = 500 * 2 * HOUR_MS;
    /* One sample a minute from 45 min before the boundary to 45 min after. */
    for (int i = -45; i < 45; i++)
        assert_int_equal(head_append(fx.h, id, boundary + i * MIN_MS, bits(i)), HEAD_APPENDED);
    struct got g;
    select_one(fx.h, "a", INT64_MIN, INT64_MAX, &g);
    assert_int_equal(g.n_chunks, 2);
    assert_int_equal(g.chunks[0].samples, 45);
    assert_int_equal(g.chunks[0].maxt_ms, boundary - MIN_MS);
    assert_int_equal(g.chunks[1].mint_ms, boundary);
    /* Negative timestamps use floor alignment too. */
    struct label b[] = {L("__name__", "b")};
    uint32_t ib = series(fx.h, b, 1);
    for (int i = -3; i < 2; i++)
        assert_int_equal(head_append(fx.h, ib, i * HOUR_MS, bits(i)), HEAD_APPENDED);
    select_one(fx.h, "b", INT64_MIN, INT64_MAX, &g);
    assert_int_equal(g.n_chunks, 3);
    assert_int_equal(g.chunks[0].mint_ms, -3 * HOUR_MS);
    assert_int_equal(g.chunks[0].maxt_ms, -3 * HOUR_MS);
    assert_int_equal(g.chunks[1].mint_ms, -2 * HOUR_MS);
    assert_int_equal(g.chunks[2].mint_ms, 0);
    fx_close(&fx);
}

static void test_cut_even_spread(void **state)
{
    (void)state;
    struct fixture fx;
    fx_open(&fx, NULL);
    struct label a[] = {L("__name__", "a")};
    uint32_t id = series(fx.h, a, 1);
    /* Start 300 samples (15 s apart) before the end of a range: 3 chunks of 100, not
     * 120 + 120 + 60. */
    int64_t end = 700 * 2 * HOUR_MS;
    for (int i = 300; i > 0; i--)
        assert_int_equal(head_append(fx.h, id, end - i * 15000, bits(i)), HEAD_APPENDED);
    struct got g;
    select_one(fx.h, "a", INT64_MIN, INT64_MAX, &g);
    assert_int_equal(g.n_chunks, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(g.chunks[i].samples, 100);
    fx_close(&fx);
}

static void test_cut_by_bytes(void **state)
{
    (void)state;
    struct fixture fx;
    fx_open(&fx, NULL);
    struct label a[] = {L("__name__", "a")};
    uint32_t id = series(fx.h, a, 1);
    /* Random 64-bit patterns and jittered timestamps: ~10 bytes per sample, so 1 KiB fills
     * before 120 samples. */
    uint64_t x = 88172645463325252ull;
    int64_t t = HOUR_MS;
    for (int i = 0; i < 400; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        t += 1000 + (int64_t)(x % 900);
        assert_int_equal(head_append(fx.h, id, t, x), HEAD_APPENDED);
    }
    struct got g;
    select_one(fx.h, "a", INT64_MIN, INT64_MAX, &g);
    assert_int_equal(g.n, 400);
    assert_true(g.n_chunks >= 4);
    for (size_t i = 0; i + 1 < g.n_chunks; i++) {
        assert_true(g.chunks[i].samples < 120);
        assert_true(g.chunks[i].len > 1024 - 32 && g.chunks[i].len <= 1024 + 32);
    }
    fx_close(&fx);
}

static void test_stale_and_nan_bits(void **state)
{
    (void)state;
    struct fixture fx;
    fx_open(&fx, NULL);
    struct label a[] = {L("__name__", "a")};
    uint32_t id = series(fx.h, a, 1);
    uint64_t vals[] = {GORILLA_STALE_NAN_BITS,
                       0x7ff8000000000001ull,
                       bits(-0.0),
                       0xfff0000000000000ull,
                       1,
                       GORILLA_STALE_NAN_BITS,
                       bits(1.5)};
    size_t nv = sizeof vals / sizeof vals[0];
    /* 200 samples: some end up in a closed (file) chunk, some in the open one, some OOO. */
    for (int i = 0; i < 200; i++)
        assert_int_equal(head_append(fx.h, id, 2 * HOUR_MS + i * 2000, vals[i % nv]),
                         HEAD_APPENDED);
    assert_int_equal(head_append(fx.h, id, 2 * HOUR_MS + 1001, GORILLA_STALE_NAN_BITS),
                     HEAD_APPENDED_OOO);
    /* A stale marker equals itself bit for bit: a duplicate, not a conflict. */
    assert_int_equal(head_append(fx.h, id, 2 * HOUR_MS + 1001, GORILLA_STALE_NAN_BITS),
                     HEAD_DUPLICATE);
    assert_int_equal(head_append(fx.h, id, 2 * HOUR_MS, 0x7ff8000000000000ull), ERR_DUPLICATE);
    struct got g;
    select_one(fx.h, "a", INT64_MIN, INT64_MAX, &g);
    assert_int_equal(g.n, 201);
    assert_true(g.n_chunks >= 3);
    size_t seen_ooo = 0;
    for (size_t i = 0; i < g.n; i++) {
        if (g.t[i] == 2 * HOUR_MS + 1001) {
            assert_int_equal(g.v[i], GORILLA_STALE_NAN_BITS);
            seen_ooo++;
            continue;
        }
        size_t k = (size_t)((g.t[i] - 2 * HOUR_MS) / 2000);
        assert_int_equal(g.v[i], vals[k % nv]);
    }
    assert_int_equal(seen_ooo, 1);
    fx_close(&fx);
}

static void test_ooo_buffer_cuts(void **state)
{
    (void)state;
    struct head_config cfg;
    head_config_default(&cfg);
    cfg.ooo_window_ms = 4 * HOUR_MS;
    struct fixture fx;
    fx_open(&fx, &cfg);
    struct label a[] = {L("__name__", "a")};
    uint32_t id = series(fx.h, a, 1);
    int64_t boundary = 10 * 2 * HOUR_MS;
    assert_int_equal(head_append(fx.h, id, boundary + HOUR_MS, bits(0)), HEAD_APPENDED);
    /* 32 OOO samples straddling a range boundary, in descending order: one cut into two
     * chunks (one per range), the buffer freed. */
    for (int i = 0; i < 32; i++)
        assert_int_equal(head_append(fx.h, id, boundary + (16 - i) * MIN_MS, bits(i)),
                         HEAD_APPENDED_OOO);
    struct head_stats st;
    head_stats(fx.h, &st);
    assert_int_equal(st.ooo_samples_buffered, 0);
    assert_int_equal(st.chunks_closed, 2);
    struct got g;
    select_one(fx.h, "a", INT64_MIN, INT64_MAX, &g);
    assert_int_equal(g.n, 33);
    assert_int_equal(g.n_chunks, 3);
    assert_int_equal(g.chunks[0].mint_ms, boundary - 15 * MIN_MS);
    assert_int_equal(g.chunks[0].maxt_ms, boundary - MIN_MS);
    assert_int_equal(g.chunks[1].mint_ms, boundary);
    assert_int_equal(g.chunks[1].maxt_ms, boundary + 16 * MIN_MS);
    /* Duplicates against the cut OOO chunks are still found. */
    assert_int_equal(head_append(fx.h, id, boundary - 3 * MIN_MS, bits(19)), HEAD_DUPLICATE);
    assert_int_equal(head_append(fx.h, id, boundary - 3 * MIN_MS, bits(20)), ERR_DUPLICATE);
    /* Time-range selects clip to overlapping chunks. */
    select_one(fx.h, "a", boundary, boundary + 30 * MIN_MS, &g);
    assert_int_equal(g.n_chunks, 1);
    select_one(fx.h, "a", boundary + 30 * MIN_MS, boundary + HOUR_MS, &g);
    assert_int_equal(g.n_chunks, 1);
    assert_int_equal(g.chunks[0].mint_ms, boundary + HOUR_MS);
    select_one(fx.h, "a", boundary + 2 * HOUR_MS, boundary + 3 * HOUR_MS, &g);
    assert_int_equal(g.n_chunks, 0);
    fx_close(&fx);
}

static void test_memory_accounting(void **state)
{
    (void)state;
    struct fixture fx;
    fx_open(&fx, NULL);
    struct head_stats st0, st1;
    head_stats(fx.h, &st0);
    char v[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(v, sizeof v, "host-%d", i);
        struct label l[] = {L("__name__", "node_cpu_seconds_total"),
                            {STR_LIT("instance"), str_from_cstr(v)},
                            L("job", "node"),
                            L("mode", "idle")};
        uint32_t id = series(fx.h, l, 4);
        for (int k = 0; k < 60; k++)
            assert_int_equal(head_append(fx.h, id, 2 * HOUR_MS + k * 15000, bits(k * 1.5)),
                             HEAD_APPENDED);
    }
    head_stats(fx.h, &st1);
    assert_int_equal(st1.series, 1000);
    assert_int_equal(st1.chunks_open, 1000);
    assert_true(st1.bytes_series >= 1000 * 100);
    assert_true(st1.bytes_chunks >= 1000 * 64);
    assert_true(st1.bytes_index > 0 && st1.bytes_symbols > 0 && st1.bytes_map > 0);
    assert_int_equal(st1.bytes_total, st1.bytes_series + st1.bytes_chunks + st1.bytes_refs +
                                          st1.bytes_symbols + st1.bytes_map + st1.bytes_index);
    /* Well under a KiB per series with a half-full open chunk. */
    assert_true((st1.bytes_total - st0.bytes_total) / 1000 < 1024);
    /* Truncating everything gives all of it back. */
    assert_int_equal(head_truncate(fx.h, INT64_MAX), 1000);
    head_stats(fx.h, &st1);
    assert_int_equal(st1.series, 0);
    assert_int_equal(st1.bytes_series, 0);
    assert_int_equal(st1.bytes_chunks, 0);
    assert_int_equal(st1.bytes_refs, 0);
    assert_int_equal(st1.symbols, 0);
    fx_close(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_create_lookup),
        cmocka_unit_test(test_hash_collisions),
        cmocka_unit_test(test_create_with_id),
        cmocka_unit_test(test_append_rules),
        cmocka_unit_test(test_append_ooo_disabled_and_min_valid),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_cut_at_120),
        cmocka_unit_test(test_cut_at_range_boundary),
        cmocka_unit_test(test_cut_even_spread),
        cmocka_unit_test(test_cut_by_bytes),
        cmocka_unit_test(test_stale_and_nan_bits),
        cmocka_unit_test(test_ooo_buffer_cuts),
        cmocka_unit_test(test_memory_accounting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
