/* Helpers shared by the tsdb and querier tests (engine/tsdb/tsdb, engine/tsdb/querier): a temp
 * shard directory, a real io_uring loop on the test thread, batches of generated series, waiting
 * for commit callbacks and the maintenance cycle, and reading a series back through the querier.
 * The store-neutral parts are in tests/unit/engine/store_test.h. Header-only; each test program
 * includes it once. */
#ifndef STRATA_TESTS_TSDB_UTIL_H
#define STRATA_TESTS_TSDB_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/rand.h"
#include "engine/io/loop.h"
#include "engine/tsdb/querier.h"
#include "engine/tsdb/tsdb.h"
#include "tests/unit/engine/store_test.h"

#define TT_MIN_MS  60000LL
#define TT_HOUR_MS 3600000LL

/* ---- temp dirs (tests/unit/engine/store_test.h) ---- */

static inline void tt_mkdtemp(char *out, size_t n)
{
    st_mkdtemp(out, n, "tsdb");
}
#define tt_rm_rf         st_rm_rf
#define tt_exists        st_exists
#define tt_count_entries st_count_entries

/* ---- the fixture: a tsdb on a loop ---- */

struct tt {
    char dir[256];
    struct loop loop;
    struct tsdb *t;
    struct tsdb_config cfg;
    int acks; /* commit callbacks seen */
};

/* Defaults for tests: no free-space guard, small WAL segments. */
static inline void tt_config(struct tsdb_config *c)
{
    tsdb_config_init(c);
    c->wal.free_bytes_min = 0;
    c->wal.free_permille_min = 0;
    c->wal.segment_size_bytes = 1 << 20;
    c->retry_interval_ms = 0;
}

static inline int tt_open_rc(struct tt *x)
{
    int rc = tsdb_open(x->dir, &x->cfg, &x->loop, &x->t);
    if (rc == 0)
        loop_set_before_wait(&x->loop, tsdb_before_wait, x->t);
    return rc;
}

static inline void tt_open(struct tt *x)
{
    assert_int_equal(tt_open_rc(x), 0);
}

static inline void tt_close(struct tt *x)
{
    loop_set_before_wait(&x->loop, NULL, NULL);
    tsdb_close(x->t);
    x->t = NULL;
}

/* Sets up dir, loop and config (cfg NULL: tt_config) and opens. */
static inline void tt_setup(struct tt *x, const struct tsdb_config *cfg)
{
    memset(x, 0, sizeof *x);
    log_level_set(LOG_WARN);
    tt_mkdtemp(x->dir, sizeof x->dir);
    assert_int_equal(loop_init(&x->loop, NULL), 0);
    if (cfg)
        x->cfg = *cfg;
    else
        tt_config(&x->cfg);
    tt_open(x);
}

static inline void tt_teardown(struct tt *x)
{
    if (x->t)
        tt_close(x);
    loop_deinit(&x->loop);
    tt_rm_rf(x->dir);
}

static inline void tt_reopen(struct tt *x)
{
    tt_close(x);
    tt_open(x);
}

static inline void tt_on_ack(void *arg, int result)
{
    assert_int_equal(result, 0);
    ((struct tt *)arg)->acks++;
}

/* Runs the loop until `want` acks (5 s at most). */
static inline void tt_wait_acks(struct tt *x, int want)
{
    st_wait_acks(&x->loop, &x->acks, want);
}

static inline void tt_tick(void *t, int64_t now_ms)
{
    tsdb_tick(t, now_ms);
}

static inline bool tt_idle(const void *t)
{
    return tsdb_maintenance_idle(t);
}

static inline void tt_report(const void *t)
{
    struct tsdb_stats st;
    tsdb_stats_get(t, &st);
    st_report(st.cuts_total, st.cut_failures_total, st.checkpoints_total, st.compactions_total);
}

/* Ticks (now_ms fixed) until the maintenance cycle is idle (10 s at most). */
static inline void tt_settle(struct tt *x, int64_t now_ms)
{
    const struct st_cycle c = {x->t, tt_tick, tt_idle, tt_report};
    st_settle(&x->loop, &c, now_ms, 10);
}

/* ---- series and batches ---- */

static inline uint64_t tt_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    return b;
}

static inline uint64_t tt_mix(uint64_t x)
{
    return splitmix64_mix(x);
}

/* The value a generated series k has at time ts (bit pattern, some stale markers). */
static inline uint64_t tt_value(uint32_t k, int64_t ts)
{
    uint64_t h = tt_mix(((uint64_t)k << 40) ^ (uint64_t)ts);
    if (h % 97 == 0)
        return 0x7ff0000000000002ull; /* stale marker */
    return tt_bits((double)(h % 100000) / 8.0);
}

/* Labels of generated series k: {__name__="tt_metric", job="j<k%3>", k="<k>"}. */
struct tt_series {
    char name[16], job[8], k[16];
    struct label l[3];
};

static inline void tt_series_labels(struct tt_series *s, uint32_t k)
{
    snprintf(s->name, sizeof s->name, "tt_metric");
    snprintf(s->job, sizeof s->job, "j%u", k % 3);
    snprintf(s->k, sizeof s->k, "%u", k);
    s->l[0] = (struct label){STR_LIT("__name__"), str_from_cstr(s->name)};
    s->l[1] = (struct label){STR_LIT("job"), str_from_cstr(s->job)};
    s->l[2] = (struct label){STR_LIT("k"), str_from_cstr(s->k)};
}

/* A batch of series [k0, k0 + n) with samples at each ts of ts[0..nts). */
struct tt_batch {
    struct tt_series *ls;
    struct tsdb_series_in *in;
    struct tsdb_sample *s;
    size_t n;
};

static inline void tt_batch_make(struct tt_batch *b, uint32_t k0, size_t n, const int64_t *ts,
                                 size_t nts)
{
    b->n = n;
    b->ls = calloc(n, sizeof *b->ls);
    b->in = calloc(n, sizeof *b->in);
    b->s = calloc(n * (nts ? nts : 1), sizeof *b->s);
    assert_true(b->ls && b->in && b->s);
    for (size_t i = 0; i < n; i++) {
        uint32_t k = k0 + (uint32_t)i;
        tt_series_labels(&b->ls[i], k);
        for (size_t j = 0; j < nts; j++)
            b->s[i * nts + j] = (struct tsdb_sample){ts[j], tt_value(k, ts[j])};
        b->in[i] =
            (struct tsdb_series_in){b->ls[i].l, 3, hash_labels(b->ls[i].l, 3), &b->s[i * nts], nts};
    }
}

static inline void tt_batch_free(struct tt_batch *b)
{
    free(b->ls);
    free(b->in);
    free(b->s);
    memset(b, 0, sizeof *b);
}

/* Appends series [k0, k0+n) at the given timestamps and waits for the ack. Returns the result. */
static inline struct tsdb_append_result tt_append(struct tt *x, uint32_t k0, size_t n,
                                                  const int64_t *ts, size_t nts)
{
    struct tt_batch b;
    tt_batch_make(&b, k0, n, ts, nts);
    struct tsdb_append_result r;
    int want = x->acks + 1;
    assert_int_equal(tsdb_append(x->t, b.in, b.n, &r, tt_on_ack, x), 0);
    tt_wait_acks(x, want);
    tt_batch_free(&b);
    return r;
}

/* Appends series [k0, k0+n) at every ts in [t0, t1) step `step`, in batches of 1 timestamp. */
static inline void tt_append_range(struct tt *x, uint32_t k0, size_t n, int64_t t0, int64_t t1,
                                   int64_t step)
{
    for (int64_t ts = t0; ts < t1; ts += step) {
        struct tsdb_append_result r = tt_append(x, k0, n, &ts, 1);
        assert_int_equal(r.accepted, n);
        assert_int_equal(r.err, 0);
    }
}

/* ---- reading back ---- */

static inline void tt_matcher(struct matcher *m, enum matcher_type type, const char *name,
                              const char *value)
{
    char err[128];
    assert_int_equal(
        matcher_init(m, type, str_from_cstr(name), str_from_cstr(value), err, sizeof err), 0);
}

/* Samples of generated series k in [mint, maxt] (cap max), via querier_select + the iterator.
 * Returns the count, -1 when the series is absent. */
static inline long tt_read_series(struct tsdb *t, uint32_t k, int64_t mint, int64_t maxt,
                                  int64_t *ts, uint64_t *vs, size_t cap)
{
    struct tt_series s;
    tt_series_labels(&s, k);
    struct matcher m[2];
    tt_matcher(&m[0], MATCHER_EQ, "__name__", "tt_metric");
    tt_matcher(&m[1], MATCHER_EQ, "k", s.k);
    struct chunk_series_set *set;
    assert_int_equal(querier_select(t, m, 2, mint, maxt, NULL, &set), 0);
    long n = -1;
    int rc;
    while ((rc = chunk_series_set_next(set)) == 1) {
        const struct chunk_series *cs = chunk_series_set_at(set);
        assert_int_equal(n, -1); /* exactly one series */
        assert_int_equal(cs->n_labels, 3);
        n = 0;
        struct querier_sample_iter it;
        querier_sample_iter_init(&it, cs);
        while ((rc = querier_sample_iter_next(&it)) == 1) {
            int64_t t1;
            uint64_t v1;
            querier_sample_iter_at(&it, &t1, &v1);
            if (t1 < mint || t1 > maxt)
                continue;
            assert_true((size_t)n < cap);
            ts[n] = t1;
            vs[n] = v1;
            n++;
        }
        assert_int_equal(rc, 0);
        querier_sample_iter_deinit(&it);
    }
    assert_int_equal(rc, 0);
    chunk_series_set_close(set);
    matcher_deinit(&m[0]);
    matcher_deinit(&m[1]);
    return n;
}

/* Asserts that generated series k holds exactly its generated values at t0, t0+step, ... < t1
 * (and nothing else in that range). */
static inline void tt_check_range(struct tsdb *t, uint32_t k, int64_t t0, int64_t t1, int64_t step)
{
    size_t want = (size_t)((t1 - t0 + step - 1) / step);
    int64_t *ts = malloc((want + 16) * sizeof *ts);
    uint64_t *vs = malloc((want + 16) * sizeof *vs);
    long n = tt_read_series(t, k, t0, t1 - 1, ts, vs, want + 16);
    if (n != (long)want)
        fprintf(stderr, "series %u: got %ld samples in [%lld, %lld), want %zu\n", k, n,
                (long long)t0, (long long)t1, want);
    assert_int_equal(n, (long)want);
    for (size_t i = 0; i < want; i++) {
        assert_int_equal(ts[i], t0 + (int64_t)i * step);
        assert_int_equal(vs[i], tt_value(k, ts[i]));
    }
    free(ts);
    free(vs);
}

#endif
