/* engine/logs/logstore_select_with: the batch line filter and the stream-order path against the
 * plain select with the pre-filter run line by line. Random multi-stream data (lines made of words
 * that LogQL filters match and straddle, repeated timestamps) lands in small block chunks and in
 * the head; random pipelines (|= != |~ !~, or-chains, ip(), |> !>) over random ranges, both
 * directions, with and without the cap on open chunks (parking): the time-ordered filtered select
 * returns exactly the same entries in the same order (also when it yields after every chunk opened
 * without an entry), the stream-ordered one the same multiset, stream by stream in time order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/logql/exec.h"
#include "engine/logql/parse.h"
#include "test_logstore_util.h"
#include "tests/unit/prop.h"

#define T0      (1700000040LL * LT_SEC_NS) /* a multiple of a minute */
#define MIN_MS  60000LL
#define SECS    300
#define STREAMS 6

static uint32_t g_open_max;

static void scan_cfg(struct logstore_config *c)
{
    c->block_range_ms = MIN_MS;
    c->ooo_window_ms = 20 * 1000;
    c->chunk_target_bytes = 4096;
    c->head_block_bytes = 512;
    c->block_chunk_bytes = 2048;
    c->wal.segment_size_bytes = 64 * 1024;
    c->select_open_chunks_max = g_open_max;
}

static const char *const words[] = {
    "ab", "a", "b", "c", "err", "or", "10.0.0.1", " ", "ok", "\xc3\xa9", "AB", "x", "1", ".", "ba",
};

/* Every stream logs 0-3 lines a second (sometimes at the same timestamp), ticking as it goes. */
static void feed(struct lt *x, struct prop *p)
{
    struct lt_stream s[STREAMS];
    for (uint32_t k = 0; k < STREAMS; k++)
        lt_stream_labels(&s[k], k);
    for (int sec = 0; sec < SECS; sec++) {
        for (uint32_t k = 0; k < STREAMS; k++) {
            char lines[3][96];
            struct logstore_entry_in e[3];
            size_t n = prop_next(p) % 4;
            for (size_t i = 0; i < n; i++) {
                size_t len = 0, nw = prop_next(p) % 7;
                for (size_t w = 0; w < nw; w++) {
                    const char *wd = words[prop_next(p) % (sizeof words / sizeof *words)];
                    memcpy(lines[i] + len, wd, strlen(wd));
                    len += strlen(wd);
                }
                len += (size_t)snprintf(lines[i] + len, sizeof lines[i] - len, "#%zu", i);
                int64_t ts = T0 + sec * LT_SEC_NS + (int64_t)(prop_next(p) % 2) * 1000;
                e[i] = (struct logstore_entry_in){ts, {lines[i], len}, NULL, 0};
            }
            if (!n)
                continue;
            struct logstore_stream_in in = {s[k].l, 3, hash_labels(s[k].l, 3), e, n};
            struct logstore_append_result r = lt_append_in(x, &in, 1);
            assert_int_equal(r.accepted + r.duplicates, n);
        }
        logstore_tick(x->ls, (T0 + sec * LT_SEC_NS) / 1000000);
    }
    lt_settle(x, (T0 + SECS * LT_SEC_NS) / 1000000);
}

struct rent {
    uint32_t stream;
    int64_t ts;
    char line[96];
};

static int rent_cmp(const void *a, const void *b)
{
    const struct rent *x = a, *y = b;
    if (x->stream != y->stream)
        return x->stream < y->stream ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return strcmp(x->line, y->line);
}

static size_t pf_fn(void *arg, const struct str *lines, size_t n, uint64_t *keep)
{
    return logql_pipeline_prefilter_block(arg, lines, n, keep);
}

/* Reads the selection: mode 0 = plain select + per-line pre-filter, 1 = time order with the batch
 * filter, 2 = stream order with the batch filter. */
static size_t run(struct lt *x, struct logql_pipeline *pl, int64_t lo, int64_t hi,
                  enum logstore_dir d, int mode, struct rent *out, size_t cap)
{
    struct matcher m;
    lt_matcher(&m, MATCHER_RE, "__tenant__", "t0|t1");
    struct logstore_select_opts o = {mode == 2 ? LOGSTORE_ORDER_STREAM : LOGSTORE_ORDER_TIME,
                                     mode ? pf_fn : NULL, pl, mode == 1 ? 1u : 0u};
    struct logstore_iter *it;
    assert_int_equal(logstore_select_with(x->ls, &m, 1, lo, hi, d, NULL, &o, &it), 0);
    size_t n = 0, yields = 0;
    int rc;
    while ((rc = logstore_iter_next(it)) == 1 || rc == LOGSTORE_ITER_YIELD) {
        if (rc == LOGSTORE_ITER_YIELD) { /* mode 1 yields before every second chunk in a row */
            assert_int_equal(mode, 1);
            assert_true(++yields < 100000);
            continue;
        }
        const struct logstore_entry *e = logstore_iter_at(it);
        if (!mode && !logql_pipeline_prefilter(pl, e->line))
            continue;
        assert_true(n < cap && e->line.len < sizeof out[n].line);
        out[n].stream = e->stream;
        out[n].ts = e->ts_ns;
        memcpy(out[n].line, e->line.ptr, e->line.len);
        out[n].line[e->line.len] = 0;
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(logstore_iter_err(it), 0);
    struct logstore_select_stats st;
    logstore_iter_stats(it, &st);
    assert_int_equal(st.entries, mode ? n : st.entries);
    logstore_iter_close(it);
    matcher_deinit(&m);
    return n;
}

static const char *const filters[] = {
    "|= \"ab\"",
    "!= \"ba\"",
    "|= \"err\" or \"ok\"",
    "|~ \"a.c\"",
    "!~ \"b+c\"",
    "|~ \"^ab\"",
    "|~ \"(?i)ab\"",
    "|~ \"a.{1,3}c\"",
    "|~ \"ab.*c\"",
    "!~ \"x|err\"",
    "|= ip(\"10.0.0.0/8\")",
    "|> \"<_>ab<_>\"",
    "!> \"a<_>\"",
    "|~ \"\\\\bab\"",
    "|= \"#1\"",
};

static void check_pipelines(struct lt *x, struct prop *p)
{
    size_t cap = (size_t)SECS * STREAMS * 3 + 16;
    struct rent *a = calloc(cap, sizeof *a), *b = calloc(cap, sizeof *b);
    assert_true(a && b);
    const size_t nf = sizeof filters / sizeof *filters;
    for (int round = 0; round < 40; round++) {
        char text[512];
        size_t w = (size_t)snprintf(text, sizeof text, "{app=\"x\"}");
        for (size_t s = 0, ns = 1 + prop_next(p) % 2; s < ns; s++)
            w += (size_t)snprintf(text + w, sizeof text - w, " %s", filters[prop_next(p) % nf]);
        struct logql_query *q;
        struct logql_pipeline *pl;
        char err[256];
        assert_int_equal(logql_parse(str_from_cstr(text), &q, err, sizeof err), 0);
        assert_int_equal(logql_pipeline_compile_expr(q->root, NULL, &pl, err, sizeof err), 0);
        int64_t lo = T0 + (int64_t)(prop_next(p) % (SECS / 2)) * LT_SEC_NS;
        int64_t hi = lo + (int64_t)(prop_next(p) % SECS) * LT_SEC_NS + 500;
        enum logstore_dir d = prop_next(p) & 1 ? LOGSTORE_BACKWARD : LOGSTORE_FORWARD;
        size_t na = run(x, pl, lo, hi, d, 0, a, cap);
        size_t nb = run(x, pl, lo, hi, d, 1, b, cap);
        if (na != nb)
            fprintf(stderr, "%s: %zu entries line by line, %zu batched\n", text, na, nb);
        prop_check(p, na == nb);
        for (size_t i = 0; i < na; i++)
            prop_check(p, !rent_cmp(&a[i], &b[i]) && a[i].stream == b[i].stream);
        nb = run(x, pl, lo, hi, d, 2, b, cap);
        prop_check(p, na == nb);
        for (size_t i = 1; i < nb; i++) { /* stream by stream, each in the direction's order */
            prop_check(p, b[i - 1].stream <= b[i].stream);
            if (b[i - 1].stream == b[i].stream)
                prop_check(p,
                           d == LOGSTORE_FORWARD ? b[i - 1].ts <= b[i].ts : b[i - 1].ts >= b[i].ts);
        }
        qsort(a, na, sizeof *a, rent_cmp);
        qsort(b, nb, sizeof *b, rent_cmp);
        for (size_t i = 0; i < na; i++)
            prop_check(p, !rent_cmp(&a[i], &b[i]));
        logql_pipeline_destroy(pl);
        logql_query_destroy(q);
    }
    free(a);
    free(b);
}

static void scan_case(uint32_t open_max)
{
    struct prop p = prop_begin("logstore_scan");
    struct lt x;
    g_open_max = open_max;
    lt_setup(&x, scan_cfg);
    feed(&x, &p);
    struct logstore_stats st;
    logstore_stats_get(x.ls, &st);
    assert_true(st.blocks > 0);       /* most data in blocks ... */
    assert_true(st.head_entries > 0); /* ... the newest in the head */
    check_pipelines(&x, &p);
    lt_teardown(&x);
}

static void test_scan(void **state)
{
    (void)state;
    scan_case(512);
}

static void test_scan_parking(void **state)
{
    (void)state;
    scan_case(2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_scan_parking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
