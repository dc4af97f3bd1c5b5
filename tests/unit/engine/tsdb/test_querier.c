/* engine/tsdb/querier: select over head + blocks (one series per label set, chunks in mint
 * order, series in label order, only overlapping blocks, the series-only hint, n == 0 refused);
 * label names and values merged across head and blocks, sorted and unique, with matchers and
 * time ranges; blocks stay readable while a set that uses them is open even after retention
 * deleted them; and the sample iterator: overlapping chunks merged with the first-listed chunk
 * winning equal timestamps, seek, unsupported and corrupt chunks, plus a randomized comparison
 * against a reference merge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/tsdb/tsdb_internal.h"
#include "formats/gorilla.h"
#include "test_tsdb_util.h"
#include "tests/unit/prop.h"

#define H TT_HOUR_MS

static struct tsdb_config q_config(void)
{
    struct tsdb_config c;
    tt_config(&c);
    c.chunk_range_ms = H;
    c.max_block_range_ms = H; /* keep one block per hour */
    return c;
}

/* Series 0..5 over [0, 3h) (two blocks + head), series 6..7 only in [0, 1h) (a block), series
 * 8..9 only in the head, each every 10 min. Series 8..9 carry an extra label "region". */
static void fill(struct tt *x)
{
    tt_append_range(x, 6, 2, 0, H, 10 * TT_MIN_MS);
    tt_append_range(x, 0, 6, 0, 3 * H, 10 * TT_MIN_MS);
    tt_settle(x, 3 * H);
    assert_int_equal(x->t->n_blocks, 2);
    for (int64_t ts = 2 * H; ts < 3 * H; ts += 10 * TT_MIN_MS) {
        for (uint32_t k = 8; k < 10; k++) {
            struct tt_series s;
            tt_series_labels(&s, k);
            struct label l[4] = {s.l[0], s.l[1], s.l[2], {STR_LIT("region"), STR_LIT("eu")}};
            struct tsdb_sample smp = {ts, tt_value(k, ts)};
            struct tsdb_series_in in = {l, 4, hash_labels(l, 4), &smp, 1};
            struct tsdb_append_result r;
            int want = x->acks + 1;
            assert_int_equal(tsdb_append(x->t, &in, 1, &r, tt_on_ack, x), 0);
            tt_wait_acks(x, want);
            assert_int_equal(r.accepted, 1);
        }
    }
}

static void test_select_head_and_blocks(void **state)
{
    (void)state;
    struct tt x;
    struct tsdb_config cfg = q_config();
    tt_setup(&x, &cfg);
    fill(&x);
    struct matcher m;
    tt_matcher(&m, MATCHER_EQ, "__name__", "tt_metric");
    struct chunk_series_set *set;
    assert_int_equal(querier_select(x.t, &m, 1, 0, 3 * H, NULL, &set), 0);
    /* series come in label-set order (job first: j0 < j1 < j2, then k) */
    int seen = 0, rc;
    struct label prev[4];
    char prev_bytes[4][2][32];
    size_t nprev = 0;
    while ((rc = chunk_series_set_next(set)) == 1) {
        const struct chunk_series *cs = chunk_series_set_at(set);
        if (seen)
            assert_true(labels_cmp(prev, nprev, cs->labels, cs->n_labels) < 0);
        assert_true(cs->n_labels <= 4);
        for (size_t i = 0; i < cs->n_labels; i++) { /* keep a copy: _at() is valid until _next() */
            struct str nm = cs->labels[i].name, v = cs->labels[i].value;
            assert_true(nm.len < 32 && v.len < 32);
            memcpy(prev_bytes[i][0], nm.ptr, nm.len);
            memcpy(prev_bytes[i][1], v.ptr, v.len);
            prev[i] = (struct label){{prev_bytes[i][0], nm.len}, {prev_bytes[i][1], v.len}};
        }
        nprev = cs->n_labels;
        for (size_t i = 1; i < cs->n_chunks; i++)
            assert_true(cs->chunks[i - 1].mint_ms <= cs->chunks[i].mint_ms);
        assert_true(cs->n_chunks >= 1);
        seen++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(seen, 10);
    chunk_series_set_close(set);
    /* each series once, with all its samples, across the block/head boundary */
    for (uint32_t k = 0; k < 6; k++)
        tt_check_range(x.t, k, 0, 3 * H, 10 * TT_MIN_MS);
    for (uint32_t k = 6; k < 8; k++)
        tt_check_range(x.t, k, 0, H, 10 * TT_MIN_MS);
    /* a range that only the head covers: block-only series are absent */
    assert_int_equal(querier_select(x.t, &m, 1, 2 * H, 3 * H, NULL, &set), 0);
    seen = 0;
    while (chunk_series_set_next(set) == 1) {
        const struct chunk_series *cs = chunk_series_set_at(set);
        assert_false(str_eq_cstr(cs->labels[2].value, "6") ||
                     str_eq_cstr(cs->labels[2].value, "7"));
        seen++;
    }
    assert_int_equal(seen, 8);
    chunk_series_set_close(set);
    /* series only: labels without chunks */
    struct querier_hints hints = {.series_only = true};
    assert_int_equal(querier_select(x.t, &m, 1, 0, 3 * H, &hints, &set), 0);
    seen = 0;
    while (chunk_series_set_next(set) == 1) {
        assert_int_equal(chunk_series_set_at(set)->n_chunks, 0);
        assert_true(chunk_series_set_at(set)->n_labels >= 3);
        seen++;
    }
    assert_int_equal(seen, 10);
    chunk_series_set_close(set);
    /* no matchers */
    assert_int_equal(querier_select(x.t, &m, 0, 0, 3 * H, NULL, &set), ERR_INVALID);
    assert_null(set);
    matcher_deinit(&m);
    tt_teardown(&x);
}

static void expect_strs(const struct querier_strings *s, const char *const *want, size_t n)
{
    if (s->n != n) {
        for (size_t i = 0; i < s->n; i++)
            fprintf(stderr, "got[%zu] = %.*s\n", i, (int)s->v[i].len, s->v[i].ptr);
    }
    assert_int_equal(s->n, n);
    for (size_t i = 0; i < n; i++)
        assert_true(str_eq_cstr(s->v[i], want[i]));
}

static void test_label_names_values(void **state)
{
    (void)state;
    struct tt x;
    struct tsdb_config cfg = q_config();
    tt_setup(&x, &cfg);
    fill(&x);
    struct querier_strings s;
    /* everything */
    assert_int_equal(querier_label_names(x.t, NULL, 0, INT64_MIN, INT64_MAX, &s), 0);
    const char *names[] = {"__name__", "job", "k", "region"};
    expect_strs(&s, names, 4);
    querier_strings_free(&s);
    /* values merged across the block (6, 7) and the head (8, 9), byte order */
    assert_int_equal(querier_label_values(x.t, STR_LIT("k"), NULL, 0, INT64_MIN, INT64_MAX, &s), 0);
    const char *ks[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    expect_strs(&s, ks, 10);
    querier_strings_free(&s);
    /* only the block's time range: no head-only series (8, 9 and their label) */
    assert_int_equal(querier_label_values(x.t, STR_LIT("k"), NULL, 0, 0, H - 1, &s), 0);
    expect_strs(&s, ks, 8);
    querier_strings_free(&s);
    assert_int_equal(querier_label_names(x.t, NULL, 0, 0, H - 1, &s), 0);
    expect_strs(&s, names, 3);
    querier_strings_free(&s);
    /* only the head's: block-only series 6 and 7 are gone */
    assert_int_equal(querier_label_values(x.t, STR_LIT("k"), NULL, 0, 2 * H, 3 * H, &s), 0);
    const char *khead[] = {"0", "1", "2", "3", "4", "5", "8", "9"};
    expect_strs(&s, khead, 8);
    querier_strings_free(&s);
    /* with matchers */
    struct matcher m;
    tt_matcher(&m, MATCHER_EQ, "job", "j0");
    assert_int_equal(querier_label_values(x.t, STR_LIT("k"), &m, 1, INT64_MIN, INT64_MAX, &s), 0);
    const char *kj0[] = {"0", "3", "6", "9"};
    expect_strs(&s, kj0, 4);
    querier_strings_free(&s);
    matcher_deinit(&m);
    tt_matcher(&m, MATCHER_RE, "k", "6|7");
    assert_int_equal(querier_label_names(x.t, &m, 1, INT64_MIN, INT64_MAX, &s), 0);
    expect_strs(&s, names, 3);
    querier_strings_free(&s);
    assert_int_equal(querier_label_values(x.t, STR_LIT("region"), &m, 1, INT64_MIN, INT64_MAX, &s),
                     0);
    assert_int_equal(s.n, 0);
    querier_strings_free(&s);
    matcher_deinit(&m);
    /* unknown label */
    assert_int_equal(querier_label_values(x.t, STR_LIT("nope"), NULL, 0, INT64_MIN, INT64_MAX, &s),
                     0);
    assert_int_equal(s.n, 0);
    querier_strings_free(&s);
    tt_teardown(&x);
}

/* A set keeps reading blocks that retention deleted while it was open. */
static void test_blocks_held_by_open_set(void **state)
{
    (void)state;
    struct tt x;
    struct tsdb_config cfg = q_config();
    cfg.retention_ms = 10 * H;
    tt_setup(&x, &cfg);
    fill(&x);
    struct matcher m;
    tt_matcher(&m, MATCHER_EQ, "__name__", "tt_metric");
    struct chunk_series_set *set;
    assert_int_equal(querier_select(x.t, &m, 1, 0, H - 1, NULL, &set), 0);
    char dir[600];
    snprintf(dir, sizeof dir, "%s", block_dir(x.t->blocks[0]));
    /* far in the future: the block goes */
    int64_t deadline = clock_mono_ns() + 10000000000LL;
    struct tsdb_stats st;
    do {
        assert_true(clock_mono_ns() < deadline);
        tsdb_tick(x.t, 100 * H);
        loop_run_once(&x.loop, 1000000);
        tsdb_stats_get(x.t, &st);
    } while (st.blocks != 0);
    struct stat sb;
    assert_int_not_equal(stat(dir, &sb), 0); /* renamed for deletion */
    int n = 0, rc;
    while ((rc = chunk_series_set_next(set)) == 1) {
        const struct chunk_series *cs = chunk_series_set_at(set);
        struct querier_sample_iter it;
        querier_sample_iter_init(&it, cs);
        int k = 0;
        while (querier_sample_iter_next(&it) == 1)
            k++;
        assert_int_equal(querier_sample_iter_err(&it), 0);
        assert_int_equal(k, 6);
        querier_sample_iter_deinit(&it);
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, 8);
    chunk_series_set_close(set); /* the last reference: the files go now */
    char blocks[600];
    snprintf(blocks, sizeof blocks, "%s/blocks", x.dir);
    assert_int_equal(tt_count_entries(blocks, ""), 0);
    matcher_deinit(&m);
    tt_teardown(&x);
}

/* ---- the sample iterator ---- */

struct chunkbuf {
    struct gorilla_enc enc[8];
    struct chunk_meta m[8];
    size_t n;
};

/* Adds a chunk of (t, v) pairs. */
static void add_chunk(struct chunkbuf *c, const int64_t *t, const uint64_t *v, size_t n)
{
    struct gorilla_enc *e = &c->enc[c->n];
    gorilla_enc_init(e);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(gorilla_enc_append_bits(e, t[i], v[i]), 0);
    struct gorilla_snap s;
    gorilla_enc_snapshot(e, &s);
    c->m[c->n++] = (struct chunk_meta){t[0], t[n - 1], (uint32_t)n, CHUNK_XOR, s.data, s.len};
}

static void free_chunks(struct chunkbuf *c)
{
    for (size_t i = 0; i < c->n; i++)
        gorilla_enc_deinit(&c->enc[i]);
    c->n = 0;
}

static void expect_next(struct querier_sample_iter *it, int64_t t, uint64_t v)
{
    assert_int_equal(querier_sample_iter_next(it), 1);
    int64_t gt;
    uint64_t gv;
    querier_sample_iter_at(it, &gt, &gv);
    assert_int_equal(gt, t);
    assert_int_equal(gv, v);
}

static void test_iter_overlapping(void **state)
{
    (void)state;
    struct chunkbuf c = {0};
    int64_t ta[] = {1, 3, 5, 7}, tb[] = {2, 3, 6}, tc[] = {10, 11};
    uint64_t va[] = {100, 300, 500, 700}, vb[] = {200, 333, 600}, vc[] = {1000, 1100};
    add_chunk(&c, ta, va, 4);
    add_chunk(&c, tb, vb, 3);
    add_chunk(&c, tc, vc, 2);
    struct querier_sample_iter it;
    querier_sample_iter_init_chunks(&it, c.m, c.n);
    expect_next(&it, 1, 100);
    expect_next(&it, 2, 200);
    expect_next(&it, 3, 300); /* the first-listed chunk wins */
    expect_next(&it, 5, 500);
    expect_next(&it, 6, 600);
    expect_next(&it, 7, 700);
    expect_next(&it, 10, 1000);
    expect_next(&it, 11, 1100);
    assert_int_equal(querier_sample_iter_next(&it), 0);
    assert_int_equal(querier_sample_iter_next(&it), 0);
    querier_sample_iter_deinit(&it);
    /* listed the other way round, the other chunk wins */
    struct chunk_meta swapped[3] = {c.m[1], c.m[0], c.m[2]};
    swapped[0].mint_ms = 1; /* same mint: list order decides */
    querier_sample_iter_init_chunks(&it, swapped, 3);
    expect_next(&it, 1, 100);
    expect_next(&it, 2, 200);
    expect_next(&it, 3, 333);
    querier_sample_iter_deinit(&it);
    /* seeks */
    querier_sample_iter_init_chunks(&it, c.m, c.n);
    assert_int_equal(querier_sample_iter_seek(&it, 4), 1);
    int64_t t;
    uint64_t v;
    querier_sample_iter_at(&it, &t, &v);
    assert_int_equal(t, 5);
    assert_int_equal(querier_sample_iter_seek(&it, 2), 1); /* never backwards */
    querier_sample_iter_at(&it, &t, &v);
    assert_int_equal(t, 5);
    expect_next(&it, 6, 600);
    assert_int_equal(querier_sample_iter_seek(&it, 8), 1);
    querier_sample_iter_at(&it, &t, &v);
    assert_int_equal(t, 10);
    assert_int_equal(querier_sample_iter_seek(&it, 100), 0);
    querier_sample_iter_deinit(&it);
    /* a seek before the first next, past chunks that need no decoding */
    querier_sample_iter_init_chunks(&it, c.m, c.n);
    assert_int_equal(querier_sample_iter_seek(&it, 9), 1);
    querier_sample_iter_at(&it, &t, &v);
    assert_int_equal(t, 10);
    querier_sample_iter_deinit(&it);
    /* nothing */
    querier_sample_iter_init_chunks(&it, NULL, 0);
    assert_int_equal(querier_sample_iter_next(&it), 0);
    assert_int_equal(querier_sample_iter_seek(&it, 0), 0);
    querier_sample_iter_deinit(&it);
    free_chunks(&c);
}

static void test_iter_errors(void **state)
{
    (void)state;
    struct chunkbuf c = {0};
    int64_t ta[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
    uint64_t va[20];
    for (int i = 0; i < 20; i++)
        va[i] = tt_mix((uint64_t)i);
    add_chunk(&c, ta, va, 20);
    /* a histogram chunk is skipped (float samples only) */
    struct chunk_meta m = c.m[0];
    m.encoding = CHUNK_HISTOGRAM;
    struct querier_sample_iter it;
    querier_sample_iter_init_chunks(&it, &m, 1);
    assert_int_equal(querier_sample_iter_next(&it), 0);
    querier_sample_iter_deinit(&it);
    /* a chunk of another kind */
    m.encoding = CHUNK_LOG;
    querier_sample_iter_init_chunks(&it, &m, 1);
    assert_int_equal(querier_sample_iter_next(&it), ERR_UNSUPPORTED);
    assert_int_equal(querier_sample_iter_err(&it), ERR_UNSUPPORTED);
    assert_int_equal(querier_sample_iter_next(&it), ERR_UNSUPPORTED);
    querier_sample_iter_deinit(&it);
    /* cut short: the samples before the cut, then the error */
    m = c.m[0];
    m.len = m.len / 2;
    querier_sample_iter_init_chunks(&it, &m, 1);
    int rc, n = 0;
    while ((rc = querier_sample_iter_next(&it)) == 1)
        n++;
    assert_true(rc == ERR_TRUNCATED || rc == ERR_CORRUPT);
    assert_true(n > 0 && n < 20);
    querier_sample_iter_deinit(&it);
    /* a header that cannot parse */
    m.len = 1;
    querier_sample_iter_init_chunks(&it, &m, 1);
    assert_true(querier_sample_iter_next(&it) < 0);
    querier_sample_iter_deinit(&it);
    free_chunks(&c);
}

/* Random overlapping chunks against a reference: for each timestamp, the value of the first
 * chunk (in list order) holding it; random seeks agree with the reference too. More chunks than
 * the iterator's inline capacity exercise its growth. */
static void test_iter_random(void **state)
{
    (void)state;
    struct prop p = prop_begin("querier_sample_iter");
    for (int round = 0; round < 300; round++) {
        struct chunkbuf c = {0};
        size_t nc = 1 + prop_next(&p) % 8;
        enum { SPAN = 200 };
        uint64_t ref[SPAN];
        bool have[SPAN] = {0};
        int64_t starts[8];
        for (size_t i = 0; i < nc; i++)
            starts[i] = (int64_t)(prop_next(&p) % 150);
        for (size_t i = 1; i < nc; i++) /* ascending mint */
            for (size_t j = i; j > 0 && starts[j - 1] > starts[j]; j--) {
                int64_t tmp = starts[j];
                starts[j] = starts[j - 1];
                starts[j - 1] = tmp;
            }
        for (size_t i = 0; i < nc; i++) {
            int64_t t[SPAN];
            uint64_t v[SPAN];
            size_t n = 0;
            for (int64_t ts = starts[i]; ts < SPAN && n < 60;
                 ts += 1 + (int64_t)(prop_next(&p) % 4)) {
                t[n] = ts;
                v[n] = prop_next(&p);
                if (!have[ts]) {
                    have[ts] = true;
                    ref[ts] = v[n];
                }
                n++;
            }
            add_chunk(&c, t, v, n);
        }
        struct querier_sample_iter it;
        querier_sample_iter_init_chunks(&it, c.m, c.n);
        int64_t pos = -1;
        for (;;) {
            int rc;
            bool seek = prop_next(&p) % 5 == 0;
            int64_t target = pos + 1 + (int64_t)(prop_next(&p) % 20);
            rc = seek ? querier_sample_iter_seek(&it, target) : querier_sample_iter_next(&it);
            int64_t want = seek ? target : pos + 1;
            while (want < SPAN && !have[want])
                want++;
            if (want >= SPAN) {
                prop_check(&p, rc == 0);
                break;
            }
            prop_check(&p, rc == 1);
            int64_t t;
            uint64_t v;
            querier_sample_iter_at(&it, &t, &v);
            prop_check(&p, t == want);
            prop_check(&p, v == ref[want]);
            pos = t;
        }
        querier_sample_iter_deinit(&it);
        free_chunks(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_head_and_blocks),
        cmocka_unit_test(test_label_names_values),
        cmocka_unit_test(test_blocks_held_by_open_set),
        cmocka_unit_test(test_iter_overlapping),
        cmocka_unit_test(test_iter_errors),
        cmocka_unit_test(test_iter_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
