/* Helpers shared by the log store tests: a temp shard directory, a real io_uring loop on the test
 * thread, a fake wall clock, generated streams and lines, appending with waiting for the commit
 * callback, settling the maintenance cycle, and reading entries back through logstore_select.
 * The store-neutral parts are in tests/unit/engine/store_test.h. Header-only; each test program
 * includes it once. */
#ifndef STRATA_TESTS_LOGSTORE_UTIL_H
#define STRATA_TESTS_LOGSTORE_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/log.h"
#include "engine/io/loop.h"
#include "engine/logs/logstore.h"
#include "tests/unit/engine/store_test.h"

#define LT_SEC_NS  1000000000LL
#define LT_MIN_NS  (60 * LT_SEC_NS)
#define LT_HOUR_NS (60 * LT_MIN_NS)
#define LT_HOUR_MS 3600000LL

/* ---- temp dirs (tests/unit/engine/store_test.h) ---- */

static inline void lt_mkdtemp(char *out, size_t n)
{
    st_mkdtemp(out, n, "logs");
}
#define lt_rm_rf         st_rm_rf
#define lt_count_entries st_count_entries

/* ---- the fixture ---- */

struct lt {
    char dir[256];
    struct loop loop;
    struct logstore *ls;
    struct logstore_config cfg;
    int acks;
    int64_t now_ns; /* the fake wall clock */
};

static inline int64_t lt_now(void *arg)
{
    return ((struct lt *)arg)->now_ns;
}

/* Defaults for tests: no free-space guard, small WAL segments, the fake clock, no age limits. */
static inline void lt_config(struct lt *x, struct logstore_config *c)
{
    logstore_config_init(c);
    c->wal.free_bytes_min = 0;
    c->wal.free_permille_min = 0;
    c->wal.segment_size_bytes = 1 << 20;
    c->retry_interval_ms = 0;
    c->reject_old_ms = 0;
    c->creation_grace_ms = 0;
    c->retention_ms = -1;
    c->now_ns = lt_now;
    c->now_arg = x;
}

static inline int lt_open_rc(struct lt *x)
{
    int rc = logstore_open(x->dir, &x->cfg, &x->loop, &x->ls);
    if (rc == 0)
        loop_set_before_wait(&x->loop, logstore_before_wait, x->ls);
    return rc;
}

static inline void lt_open(struct lt *x)
{
    assert_int_equal(lt_open_rc(x), 0);
}

static inline void lt_close(struct lt *x)
{
    loop_set_before_wait(&x->loop, NULL, NULL);
    logstore_close(x->ls);
    x->ls = NULL;
}

/* Sets up dir, loop and config (adjust: called with the default config to change) and opens. */
static inline void lt_setup(struct lt *x, void (*adjust)(struct logstore_config *c))
{
    memset(x, 0, sizeof *x);
    log_level_set(LOG_WARN);
    lt_mkdtemp(x->dir, sizeof x->dir);
    assert_int_equal(loop_init(&x->loop, NULL), 0);
    lt_config(x, &x->cfg);
    if (adjust)
        adjust(&x->cfg);
    lt_open(x);
}

static inline void lt_teardown(struct lt *x)
{
    if (x->ls)
        lt_close(x);
    loop_deinit(&x->loop);
    lt_rm_rf(x->dir);
}

static inline void lt_reopen(struct lt *x)
{
    lt_close(x);
    lt_open(x);
}

static inline void lt_on_ack(void *arg, int result)
{
    assert_int_equal(result, 0);
    ((struct lt *)arg)->acks++;
}

static inline void lt_wait_acks(struct lt *x, int want)
{
    st_wait_acks(&x->loop, &x->acks, want);
}

static inline void lt_tick(void *ls, int64_t now_ms)
{
    logstore_tick(ls, now_ms);
}

static inline bool lt_idle(const void *ls)
{
    return logstore_maintenance_idle(ls);
}

static inline void lt_report(const void *ls)
{
    struct logstore_stats st;
    logstore_stats_get(ls, &st);
    st_report(st.cuts_total, st.cut_failures_total, st.checkpoints_total, st.compactions_total);
}

/* Ticks (now fixed) until the maintenance cycle is idle (60 s at most: every cut waits for
 * fsyncs). */
static inline void lt_settle(struct lt *x, int64_t now_ms)
{
    const struct st_cycle c = {x->ls, lt_tick, lt_idle, lt_report};
    st_settle(&x->loop, &c, now_ms, 60);
}

/* ---- streams and lines ---- */

/* Stream k: {__tenant__="t<k%2>", app="a<k%3>", k="<k>"}. */
struct lt_stream {
    char tenant[8], app[8], k[16];
    struct label l[3];
};

static inline void lt_stream_labels(struct lt_stream *s, uint32_t k)
{
    snprintf(s->tenant, sizeof s->tenant, "t%u", k % 2);
    snprintf(s->app, sizeof s->app, "a%u", k % 3);
    snprintf(s->k, sizeof s->k, "%u", k);
    s->l[0] = (struct label){STR_LIT("__tenant__"), str_from_cstr(s->tenant)};
    s->l[1] = (struct label){STR_LIT("app"), str_from_cstr(s->app)};
    s->l[2] = (struct label){STR_LIT("k"), str_from_cstr(s->k)};
}

/* The line stream k logs at ts (deterministic). */
static inline int lt_line(char *out, size_t n, uint32_t k, int64_t ts)
{
    return snprintf(out, n, "level=info stream=%u ts=%lld msg=\"request served\" dur=%lldms", k,
                    (long long)ts, (long long)(ts / 1000 % 997));
}

/* One stream with entries at ts[0..nts): lines from lt_line (buffers owned by the batch). */
struct lt_batch {
    struct lt_stream ls;
    struct logstore_stream_in in;
    struct logstore_entry_in *e;
    char (*lines)[128];
};

static inline void lt_batch_make(struct lt_batch *b, uint32_t k, const int64_t *ts, size_t nts)
{
    lt_stream_labels(&b->ls, k);
    b->e = calloc(nts ? nts : 1, sizeof *b->e);
    b->lines = calloc(nts ? nts : 1, sizeof *b->lines);
    assert_true(b->e && b->lines);
    for (size_t i = 0; i < nts; i++) {
        int len = lt_line(b->lines[i], sizeof b->lines[i], k, ts[i]);
        b->e[i] = (struct logstore_entry_in){ts[i], {b->lines[i], (size_t)len}, NULL, 0};
    }
    b->in = (struct logstore_stream_in){b->ls.l, 3, hash_labels(b->ls.l, 3), b->e, nts};
}

static inline void lt_batch_free(struct lt_batch *b)
{
    free(b->e);
    free(b->lines);
}

/* Appends the given streams and waits for the ack. */
static inline struct logstore_append_result
lt_append_in(struct lt *x, const struct logstore_stream_in *in, size_t n)
{
    struct logstore_append_result r;
    int want = x->acks + 1;
    assert_int_equal(logstore_append(x->ls, in, n, &r, lt_on_ack, x), 0);
    lt_wait_acks(x, want);
    return r;
}

/* Appends stream k at ts[0..nts) and waits for the ack. */
static inline struct logstore_append_result lt_append(struct lt *x, uint32_t k, const int64_t *ts,
                                                      size_t nts)
{
    struct lt_batch b;
    lt_batch_make(&b, k, ts, nts);
    struct logstore_append_result r = lt_append_in(x, &b.in, 1);
    lt_batch_free(&b);
    return r;
}

/* Appends streams [k0, k0 + n) at every ts in [t0, t1) step `step`, one batch per timestamp. */
static inline void lt_append_range(struct lt *x, uint32_t k0, uint32_t n, int64_t t0, int64_t t1,
                                   int64_t step)
{
    for (int64_t ts = t0; ts < t1; ts += step)
        for (uint32_t k = k0; k < k0 + n; k++) {
            struct logstore_append_result r = lt_append(x, k, &ts, 1);
            assert_int_equal(r.accepted + r.duplicates, 1);
        }
}

static inline void lt_matcher(struct matcher *m, enum matcher_type type, const char *name,
                              const char *value)
{
    char err[128];
    assert_int_equal(
        matcher_init(m, type, str_from_cstr(name), str_from_cstr(value), err, sizeof err), 0);
}

/* The stream number of an entry: its k label (the third) parsed within the value's length (a label
 * value is a struct str, not NUL-terminated: the byte after it belongs to whatever is next). */
static inline uint32_t lt_entry_k(const struct logstore_entry *e)
{
    assert_true(e->n_labels == 3 && str_eq_cstr(e->labels[2].name, "k"));
    struct str v = e->labels[2].value;
    assert_true(v.len > 0 && v.len < 10);
    uint32_t k = 0;
    for (size_t i = 0; i < v.len; i++) {
        assert_true(v.ptr[i] >= '0' && v.ptr[i] <= '9');
        k = k * 10 + (uint32_t)(v.ptr[i] - '0');
    }
    return k;
}

/* A read entry. */
struct lt_ent {
    int64_t ts;
    uint32_t k; /* parsed from the stream's k label */
    char line[160];
};

/* Selects {k="<k>"} (or every stream of tenant t0 and t1 when k < 0) in [start, end) and reads at
 * most cap entries. Returns the count. */
static inline long lt_read(struct logstore *ls, long k, int64_t start, int64_t end,
                           enum logstore_dir dir, struct lt_ent *out, size_t cap)
{
    struct matcher m;
    char kv[16];
    snprintf(kv, sizeof kv, "%ld", k);
    if (k >= 0)
        lt_matcher(&m, MATCHER_EQ, "k", kv);
    else
        lt_matcher(&m, MATCHER_RE, "__tenant__", "t0|t1");
    struct logstore_iter *it;
    assert_int_equal(logstore_select(ls, &m, 1, start, end, dir, NULL, &it), 0);
    long n = 0;
    int rc;
    while ((size_t)n < cap && (rc = logstore_iter_next(it)) == 1) {
        const struct logstore_entry *e = logstore_iter_at(it);
        out[n].ts = e->ts_ns;
        out[n].k = lt_entry_k(e);
        size_t len = e->line.len < sizeof out[n].line - 1 ? e->line.len : sizeof out[n].line - 1;
        memcpy(out[n].line, e->line.ptr, len);
        out[n].line[len] = '\0';
        n++;
    }
    if ((size_t)n < cap)
        assert_int_equal(rc, 0);
    logstore_iter_close(it);
    matcher_deinit(&m);
    return n;
}

/* Lines of stream {k="<k>"} in [start, end) that contain `want`, selected in direction dir with
 * the line hint `hint`; *st receives the select's statistics. */
static inline long lt_count_hinted(struct logstore *ls, uint32_t k, int64_t start, int64_t end,
                                   enum logstore_dir dir, const char *hint, const char *want,
                                   struct logstore_select_stats *st)
{
    struct matcher m;
    char kv[16];
    snprintf(kv, sizeof kv, "%u", k);
    lt_matcher(&m, MATCHER_EQ, "k", kv);
    struct str h = str_from_cstr(hint);
    struct logstore_line_hint lh = {&h, 1};
    struct logstore_iter *it;
    assert_int_equal(logstore_select(ls, &m, 1, start, end, dir, &lh, &it), 0);
    long n = 0;
    while (logstore_iter_next(it) == 1) {
        struct str l = logstore_iter_at(it)->line;
        n += memmem(l.ptr, l.len, want, strlen(want)) != NULL;
    }
    assert_int_equal(logstore_iter_err(it), 0);
    logstore_iter_stats(it, st);
    logstore_iter_close(it);
    matcher_deinit(&m);
    return n;
}

/* Asserts stream k holds exactly its generated lines at t0, t0 + step, ... < t1, in order, both
 * directions. */
static inline void lt_check_range(struct logstore *ls, uint32_t k, int64_t t0, int64_t t1,
                                  int64_t step)
{
    size_t want = (size_t)((t1 - t0 + step - 1) / step);
    struct lt_ent *e = malloc((want + 8) * sizeof *e);
    for (int d = 0; d < 2; d++) {
        long n = lt_read(ls, k, t0, t1, d ? LOGSTORE_BACKWARD : LOGSTORE_FORWARD, e, want + 8);
        if (n != (long)want)
            fprintf(stderr, "stream %u: got %ld entries in [%lld, %lld), want %zu\n", k, n,
                    (long long)t0, (long long)t1, want);
        assert_int_equal(n, (long)want);
        for (size_t i = 0; i < want; i++) {
            int64_t ts = d ? t0 + (int64_t)(want - 1 - i) * step : t0 + (int64_t)i * step;
            char line[128];
            lt_line(line, sizeof line, k, ts);
            assert_int_equal(e[i].ts, ts);
            assert_string_equal(e[i].line, line);
        }
    }
    free(e);
}

#endif
