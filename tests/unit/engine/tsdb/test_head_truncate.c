/* engine/tsdb/head truncation and restart: idle-series GC (ids, postings, symbols, memory), ids
 * reused only after head_recycle_ids, samples older than the cut refused, series sets that stay
 * valid across a truncation that deletes the files they read, and restarts that re-attach chunk
 * files and replay a simulated WAL (intact files, torn or lost file tails, and after a truncation
 * whose freed ids were reused) — the result must equal what was accepted before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/hash.h"
#include "base/log.h"
#include "engine/tsdb/head.h"
#include "formats/gorilla.h"
#include "tests/unit/prop.h"

#define L(n, v) ((struct label){STR_LIT(n), STR_LIT(v)})
#define MIN_MS  60000LL
#define HOUR_MS 3600000LL

static void rm_rf(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static uint32_t series(struct head *h, const struct label *ls, size_t n)
{
    uint32_t id;
    bool created;
    assert_int_equal(head_series_get_or_create(h, ls, n, hash_labels(ls, n), &id, &created), 0);
    return id;
}

static struct matcher mk(enum matcher_type t, const char *name, const char *v)
{
    struct matcher m;
    char err[128];
    assert_int_equal(matcher_init(&m, t, str_from_cstr(name), str_from_cstr(v), err, sizeof err),
                     0);
    return m;
}

/* Samples of the chunk series, sorted by t, into t/v; returns the count. */
static size_t decode(const struct chunk_series *cs, int64_t *t, uint64_t *v, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < cs->n_chunks; i++) {
        struct gorilla_iter it;
        assert_int_equal(gorilla_iter_init(&it, cs->chunks[i].data, cs->chunks[i].len), 0);
        int rc;
        while ((rc = gorilla_iter_next(&it)) == 1) {
            assert_true(n < cap);
            gorilla_iter_at_bits(&it, &t[n], &v[n]);
            n++;
        }
        assert_int_equal(rc, 0);
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && t[j - 1] > t[j]; j--) {
            int64_t tt = t[j];
            t[j] = t[j - 1];
            t[j - 1] = tt;
            uint64_t vv = v[j];
            v[j] = v[j - 1];
            v[j - 1] = vv;
        }
    for (size_t i = 1; i < n; i++)
        assert_true(t[i - 1] < t[i]);
    return n;
}

static size_t count_files(const char *dir)
{
    char p[256];
    snprintf(p, sizeof p, "%s/chunks_head", dir);
    DIR *d = opendir(p);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) /* chunk files have numeric names */
        n += e->d_name[0] >= '0' && e->d_name[0] <= '9';
    closedir(d);
    return n;
}

/* ---- GC ---- */

static void test_truncate_gc_and_ids(void **state)
{
    (void)state;
    char dir[64] = "/tmp/strata-headt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct head_config cfg;
    head_config_default(&cfg);
    struct head *h;
    assert_int_equal(head_open(dir, &cfg, INT64_MIN, &h), 0);
    struct label a[] = {L("__name__", "m"), L("pod", "a-1")};
    struct label b[] = {L("__name__", "m"), L("pod", "b-1")};
    uint32_t ia = series(h, a, 2), ib = series(h, b, 2);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(head_append(h, ia, HOUR_MS + i * 15000, 1), HEAD_APPENDED);
        assert_int_equal(head_append(h, ib, HOUR_MS + i * 15000, 2), HEAD_APPENDED);
    }
    assert_int_equal(head_append(h, ib, 3 * HOUR_MS, 2), HEAD_APPENDED);
    struct head_stats st0, st1;
    head_stats(h, &st0);
    assert_int_equal(st0.symbols, 5); /* __name__ m pod a-1 b-1 */
    assert_int_equal(head_cut_open_chunks_before(h, 2 * HOUR_MS), 0);
    assert_int_equal(head_truncate(h, 2 * HOUR_MS), 1);
    head_stats(h, &st1);
    assert_int_equal(st1.series, 1);
    assert_int_equal(st1.series_removed_total, 1);
    assert_int_equal(st1.symbols, 4); /* "a-1" is gone */
    assert_int_equal(st1.chunks_closed, 0);
    assert_int_equal(st1.chunks_open, 1);
    assert_true(st1.bytes_series < st0.bytes_series);
    assert_int_equal(st1.min_time_ms, 3 * HOUR_MS);
    assert_false(head_series_exists(h, ia));
    uint32_t id;
    assert_int_equal(head_series_lookup(h, a, 2, hash_labels(a, 2), &id), ERR_NOT_FOUND);
    /* Postings: a selector for pod=a-1 finds nothing, the name finds only b. */
    struct matcher m1[] = {mk(MATCHER_EQ, "pod", "a-1")};
    struct chunk_series_set *set = head_select(h, m1, 1, INT64_MIN, INT64_MAX);
    assert_int_equal(chunk_series_set_next(set), 0);
    chunk_series_set_close(set);
    struct str *names;
    size_t n;
    assert_int_equal(
        head_label_values(h, STR_LIT("pod"), NULL, 0, INT64_MIN, INT64_MAX, &names, &n), 0);
    assert_int_equal(n, 1);
    assert_true(str_eq_cstr(names[0], "b-1"));
    free(names);
    /* Too old after the cut, for old and new series alike. */
    assert_int_equal(head_append(h, ib, 2 * HOUR_MS - 1, 2), ERR_RANGE);
    /* The freed id is not reused until recycled. */
    struct label c[] = {L("__name__", "m"), L("pod", "c-1")};
    struct label d[] = {L("__name__", "m"), L("pod", "d-1")};
    struct label e[] = {L("__name__", "m"), L("pod", "e-1")};
    assert_int_equal(series(h, c, 2), 2);
    head_recycle_ids(h);
    assert_int_equal(series(h, d, 2), ia);
    assert_int_equal(series(h, e, 2), 3);
    /* The chunk file of the old range was deleted: nothing in it is newer than the cut (b's
     * newer sample is still in its open chunk). */
    assert_int_equal(count_files(dir), 0);
    matcher_deinit(&m1[0]);
    head_close(h);
    rm_rf(dir);
}

static void test_set_survives_truncation(void **state)
{
    (void)state;
    char dir[64] = "/tmp/strata-headt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct head_config cfg;
    head_config_default(&cfg);
    cfg.chunk_file_size_max = 4096;
    struct head *h;
    assert_int_equal(head_open(dir, &cfg, INT64_MIN, &h), 0);
    struct label a[] = {L("__name__", "a")}, b[] = {L("__name__", "b")};
    uint32_t ia = series(h, a, 1), ib = series(h, b, 1);
    /* a: 40 min at 1 s (20 closed chunks, several files); b: from 3 h on. */
    for (int i = 0; i < 2400; i++)
        assert_int_equal(head_append(h, ia, i * 1000, (uint64_t)i), HEAD_APPENDED);
    for (int i = 0; i < 500; i++)
        assert_int_equal(head_append(h, ib, 3 * HOUR_MS + i * 1000, (uint64_t)i), HEAD_APPENDED);
    assert_int_equal(head_cut_open_chunks_before(h, 2 * HOUR_MS), 0);
    size_t files_before = count_files(dir);
    assert_true(files_before >= 3);
    struct matcher m[] = {mk(MATCHER_RE, "__name__", "a|b")};
    struct chunk_series_set *set = head_select(h, m, 1, INT64_MIN, INT64_MAX);
    assert_int_equal(chunk_series_set_next(set), 1);
    const struct chunk_series *cs = chunk_series_set_at(set);
    assert_true(str_eq_cstr(cs->labels[0].value, "a"));
    assert_int_equal(cs->n_chunks, 20);
    /* Truncation removes a and deletes its files while the set still reads them. */
    assert_int_equal(head_truncate(h, 2 * HOUR_MS), 1);
    assert_true(count_files(dir) < files_before);
    static int64_t t[4000];
    static uint64_t v[4000];
    assert_int_equal(decode(cs, t, v, 4000), 2400);
    for (int i = 0; i < 2400; i++)
        assert_int_equal(t[i], i * 1000);
    assert_true(str_eq_cstr(cs->labels[0].value, "a")); /* labels were copied */
    assert_int_equal(chunk_series_set_next(set), 1);
    cs = chunk_series_set_at(set);
    assert_true(str_eq_cstr(cs->labels[0].value, "b"));
    assert_int_equal(decode(cs, t, v, 4000), 500);
    assert_int_equal(chunk_series_set_next(set), 0);
    chunk_series_set_close(set);

    /* A set made before a truncation skips series removed meanwhile, even when their id was
     * reused by a new series. */
    struct label c[] = {L("__name__", "c")};
    set = head_select(h, m, 1, INT64_MIN, INT64_MAX);
    assert_int_equal(head_truncate(h, 4 * HOUR_MS), 1); /* b goes */
    head_recycle_ids(h);
    uint32_t ic = series(h, c, 1);
    assert_true(ic == ia || ic == ib);
    assert_int_equal(head_append(h, ic, 5 * HOUR_MS, 1), HEAD_APPENDED);
    assert_int_equal(chunk_series_set_next(set), 0);
    chunk_series_set_close(set);
    matcher_deinit(&m[0]);
    head_close(h);
    rm_rf(dir);
}

/* ---- restart: re-attach chunk files and replay a WAL ---- */

#define RS   24
#define RMAX 20000

struct wal_rec {
    uint32_t id;
    int64_t t;
    uint64_t v;
    int16_t create; /* >= 0: SERIES record for this label index, else a sample */
};

struct world {
    struct label labels[RS][2];
    char vals[RS][16];
    uint32_t id[RS];
    bool alive[RS];
    struct wal_rec *wal;
    size_t n_wal;
    /* The expected content: accepted samples per label index. */
    int64_t *t[RS];
    uint64_t *v[RS];
    size_t n[RS];
};

static void world_init(struct world *w)
{
    memset(w, 0, sizeof *w);
    for (int k = 0; k < RS; k++) {
        snprintf(w->vals[k], sizeof w->vals[k], "s%02d", k);
        w->labels[k][0] = L("__name__", "m");
        w->labels[k][1] = (struct label){STR_LIT("k"), str_from_cstr(w->vals[k])};
        w->t[k] = calloc(RMAX, sizeof(int64_t));
        w->v[k] = calloc(RMAX, sizeof(uint64_t));
    }
    w->wal = calloc(RMAX * 4, sizeof *w->wal);
}

static void world_free(struct world *w)
{
    for (int k = 0; k < RS; k++) {
        free(w->t[k]);
        free(w->v[k]);
    }
    free(w->wal);
}

static void expect_add(struct world *w, int k, int64_t t, uint64_t v)
{
    size_t i = w->n[k]++;
    assert_true(i < RMAX);
    while (i > 0 && w->t[k][i - 1] > t) {
        w->t[k][i] = w->t[k][i - 1];
        w->v[k][i] = w->v[k][i - 1];
        i--;
    }
    w->t[k][i] = t;
    w->v[k][i] = v;
}

/* Live ingest: appends random samples, logging accepted ones like the orchestrator's WAL. */
static void ingest(struct prop *p, struct head *h, struct world *w, int64_t from, int ops)
{
    int64_t clock = from;
    for (int op = 0; op < ops; op++) {
        int k = (int)(prop_next(p) % RS);
        if (!w->alive[k]) {
            bool created;
            assert_int_equal(head_series_get_or_create(h, w->labels[k], 2,
                                                       hash_labels(w->labels[k], 2), &w->id[k],
                                                       &created),
                             0);
            assert_true(created);
            w->alive[k] = true;
            w->wal[w->n_wal++] = (struct wal_rec){w->id[k], 0, 0, (int16_t)k};
        }
        clock += (int64_t)(prop_next(p) % 2000);
        int64_t t = clock;
        if (prop_next(p) % 6 == 0)
            t -= (int64_t)(prop_next(p) % (20 * MIN_MS)); /* out of order */
        uint64_t v = prop_next(p) % 4 == 0 ? GORILLA_STALE_NAN_BITS : prop_next(p);
        int rc = head_append(h, w->id[k], t, v);
        if (rc == HEAD_APPENDED || rc == HEAD_APPENDED_OOO) {
            expect_add(w, k, t, v);
            w->wal[w->n_wal++] = (struct wal_rec){w->id[k], t, v, -1};
        }
    }
}

/* Drops expected samples before mint (and series left empty), like a truncation + checkpoint:
 * the WAL is rewritten to the live series and their samples >= mint. */
static void checkpoint(struct world *w, int64_t mint)
{
    size_t j = 0;
    for (int k = 0; k < RS; k++) {
        size_t o = 0;
        for (size_t i = 0; i < w->n[k]; i++)
            if (w->t[k][i] >= mint) {
                w->t[k][o] = w->t[k][i];
                w->v[k][o] = w->v[k][i];
                o++;
            }
        w->n[k] = o;
        if (o == 0)
            w->alive[k] = false;
    }
    for (int k = 0; k < RS; k++)
        if (w->alive[k])
            w->wal[j++] = (struct wal_rec){w->id[k], 0, 0, (int16_t)k};
    size_t n_old = w->n_wal;
    struct wal_rec *old = malloc(n_old * sizeof *old);
    memcpy(old, w->wal, n_old * sizeof *old);
    /* j records written at the front; append surviving samples in their original order. */
    for (size_t i = 0; i < n_old; i++) {
        if (old[i].create >= 0 || old[i].t < mint)
            continue;
        /* keep only samples of live series (ids may not be reused yet at this point) */
        for (int k = 0; k < RS; k++)
            if (w->alive[k] && w->id[k] == old[i].id) {
                w->wal[j++] = old[i];
                break;
            }
    }
    free(old);
    w->n_wal = j;
}

static void replay(struct head *h, struct world *w)
{
    assert_int_equal(head_replay_begin(h), 0);
    for (size_t i = 0; i < w->n_wal; i++) {
        const struct wal_rec *r = &w->wal[i];
        if (r->create >= 0) {
            assert_int_equal(head_series_create_with_id(h, r->id, w->labels[r->create], 2,
                                                        hash_labels(w->labels[r->create], 2)),
                             0);
            continue;
        }
        int rc = head_append(h, r->id, r->t, r->v);
        if (rc < 0)
            fprintf(stderr, "replay id=%u t=%lld: %d\n", r->id, (long long)r->t, rc);
        assert_true(rc >= 0);
    }
    head_replay_end(h);
}

static void check_world(struct head *h, struct world *w)
{
    struct matcher m[] = {mk(MATCHER_EQ, "__name__", "m")};
    struct chunk_series_set *set = head_select(h, m, 1, INT64_MIN, INT64_MAX);
    static int64_t t[RMAX];
    static uint64_t v[RMAX];
    int rc;
    int k = 0;
    while ((rc = chunk_series_set_next(set)) == 1) {
        const struct chunk_series *cs = chunk_series_set_at(set);
        while (k < RS && (!w->alive[k] || w->n[k] == 0)) /* no samples: not selected */
            k++;
        assert_true(k < RS);
        assert_true(str_eq_cstr(cs->labels[1].value, w->vals[k]));
        size_t n = decode(cs, t, v, RMAX);
        assert_int_equal(n, w->n[k]);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(t[i], w->t[k][i]);
            assert_int_equal(v[i], w->v[k][i]);
        }
        k++;
    }
    assert_int_equal(rc, 0);
    while (k < RS && (!w->alive[k] || w->n[k] == 0))
        k++;
    assert_int_equal(k, RS);
    chunk_series_set_close(set);
    matcher_deinit(&m[0]);
}

static struct head_config restart_cfg(void)
{
    struct head_config cfg;
    head_config_default(&cfg);
    cfg.chunk_range_ms = HOUR_MS;
    cfg.samples_per_chunk = 16;
    cfg.ooo_window_ms = 30 * MIN_MS;
    cfg.ooo_cap = 5;
    cfg.chunk_file_size_max = 16 << 10;
    cfg.chunk_write_buf_size = 4096;
    return cfg;
}

/* Damages the newest chunk file: 0 = none, 1 = cut at a random length, 2 = delete it. */
static void damage(struct prop *p, const char *dir, int how)
{
    if (how == 0)
        return;
    char path[256];
    snprintf(path, sizeof path, "%s/chunks_head", dir);
    DIR *d = opendir(path);
    unsigned last = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && (unsigned)atoi(e->d_name) > last)
            last = (unsigned)atoi(e->d_name);
    closedir(d);
    assert_true(last > 0);
    snprintf(path, sizeof path, "%s/chunks_head/%06u", dir, last);
    if (how == 2) {
        assert_int_equal(unlink(path), 0);
        return;
    }
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, (off_t)(prop_next(p) % (uint64_t)(st.st_size + 1))), 0);
}

static void restart_round(int how, bool with_truncation)
{
    log_level_set(LOG_ERROR);
    struct prop p = prop_begin("head_restart");
    char dir[64] = "/tmp/strata-headr-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct head_config cfg = restart_cfg();
    struct world w;
    world_init(&w);
    struct head *h;
    assert_int_equal(head_open(dir, &cfg, INT64_MIN, &h), 0);
    int64_t t0 = 500 * HOUR_MS;
    int64_t min_valid = INT64_MIN;
    ingest(&p, h, &w, t0, 6000);
    if (with_truncation) {
        /* Cut the first hour; some series go idle and their ids get reused. */
        min_valid = t0 + HOUR_MS;
        assert_int_equal(head_cut_open_chunks_before(h, min_valid), 0);
        assert_true(head_truncate(h, min_valid) >= 0);
        checkpoint(&w, min_valid);
        head_recycle_ids(h);
        ingest(&p, h, &w, head_max_time(h), 3000);
    }
    struct head_stats before;
    head_stats(h, &before);
    head_close(h);
    damage(&p, dir, how);

    /* The caller's min valid time may be lost (say retention deleted every block): the head's
     * own floor keeps records of removed series (whose ids were reused) out. */
    assert_int_equal(head_open(dir, &cfg, INT64_MIN, &h), 0);
    assert_int_equal(head_min_valid_time(h), min_valid);
    replay(h, &w);
    check_world(h, &w);
    struct head_stats after;
    head_stats(h, &after);
    assert_int_equal(after.series, before.series);
    if (how == 0) /* intact files: most samples were re-attached, not re-appended */
        assert_true(after.duplicates_dropped_total > after.samples_appended_total);
    /* Live ingest goes on after the replay. */
    ingest(&p, h, &w, head_max_time(h), 500);
    check_world(h, &w);
    head_close(h);
    /* And a second restart of the same directory. */
    assert_int_equal(head_open(dir, &cfg, min_valid, &h), 0);
    replay(h, &w);
    check_world(h, &w);
    head_close(h);
    world_free(&w);
    rm_rf(dir);
}

static void test_restart_intact(void **state)
{
    (void)state;
    restart_round(0, false);
}

static void test_restart_torn_tail(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++)
        restart_round(1, false);
}

static void test_restart_lost_file(void **state)
{
    (void)state;
    restart_round(2, false);
}

static void test_restart_after_truncation(void **state)
{
    (void)state;
    restart_round(0, true);
    restart_round(1, true);
}

static void test_unclaimed_records_dropped(void **state)
{
    (void)state;
    char dir[64] = "/tmp/strata-headt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct head_config cfg;
    head_config_default(&cfg);
    struct head *h;
    assert_int_equal(head_open(dir, &cfg, INT64_MIN, &h), 0);
    struct label a[] = {L("__name__", "a")}, b[] = {L("__name__", "b")};
    uint32_t ia = series(h, a, 1);
    for (int i = 0; i < 300; i++)
        assert_int_equal(head_append(h, ia, i * 15000, 7), HEAD_APPENDED);
    head_close(h);
    /* The WAL no longer knows series 0 (say it was removed): its records are not attached, not
     * even to a new series that gets id 0 after the replay. */
    assert_int_equal(head_open(dir, &cfg, INT64_MIN, &h), 0);
    assert_int_equal(head_replay_begin(h), 0);
    head_replay_end(h);
    uint32_t ib = series(h, b, 1);
    assert_int_equal(ib, 0);
    struct head_stats st;
    head_stats(h, &st);
    assert_int_equal(st.chunks_closed, 0);
    assert_int_equal(head_append(h, ib, 5, 1), HEAD_APPENDED);
    head_close(h);
    rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncate_gc_and_ids),
        cmocka_unit_test(test_set_survives_truncation),
        cmocka_unit_test(test_restart_intact),
        cmocka_unit_test(test_restart_torn_tail),
        cmocka_unit_test(test_restart_lost_file),
        cmocka_unit_test(test_restart_after_truncation),
        cmocka_unit_test(test_unclaimed_records_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
