/* engine/tsdb/wal checkpoints: keep functions filter SERIES by id, SAMPLES by (id, ts),
 * LOG_STREAMS by id, LOG_ENTRIES by (id, ts) and other records whole; replay = checkpoint + later
 * segments, item for item against a model; a second checkpoint folds in the first; old segments
 * and checkpoints are deleted; keep NULL keeps everything; a crash between any two steps (a .tmp
 * dir left, old segments or an old checkpoint not yet deleted, partially deleted) still replays
 * the same, and open finishes the cleanup; the writer refuses to checkpoint its current segment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/error.h"
#include "test_wal_util.h"

struct fixture {
    char dir[256];
    struct loop loop;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    tw_mkdtemp(f->dir, sizeof f->dir);
    if (loop_init(&f->loop, NULL) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    loop_deinit(&f->loop);
    tw_rm_rf(f->dir);
    free(f);
    return 0;
}

static void drain(struct fixture *f, struct wal *w)
{
    for (;;) {
        wal_flush(w);
        if (wal_idle(w))
            break;
        assert_true(loop_run_once(&f->loop, 10000000) >= 0);
    }
}

/* One "scrape" per step s: a SERIES record for new series (ids 1..8 at step 0, then 9+s), a
 * SAMPLES record (every live series at ts s*10), a LOG_STREAMS + LOG_ENTRIES pair, and every
 * fifth step a TOMBSTONES record. */
static void write_step(struct wal *w, int s)
{
    static const struct label lab[3] = {{STR_LIT("__name__"), STR_LIT("up")},
                                        {STR_LIT("job"), STR_LIT("node")},
                                        {STR_LIT("instance"), STR_LIT("a:9100")}};
    struct walrec_series ser[8];
    size_t nser = 0;
    if (s == 0)
        for (uint32_t i = 1; i <= 8; i++)
            ser[nser++] = (struct walrec_series){i, lab, 1 + i % 3};
    else
        ser[nser++] = (struct walrec_series){(uint32_t)(8 + s), lab, 3};
    struct buf *b;
    size_t mark;
    assert_int_equal(wal_record_begin(w, &b, &mark), 0);
    assert_int_equal(walrec_series_encode(b, ser, nser), 0);
    assert_int_equal(wal_record_end(w, mark, WALREC_SERIES, 0), 0);
    struct walrec_sample smp[64];
    size_t n = 0;
    for (uint32_t id = 1; id <= (uint32_t)(8 + s) && n < 64; id++)
        smp[n++] = (struct walrec_sample){id, (int64_t)s * 10, tw_mix(id * 1000u + (uint32_t)s)};
    assert_int_equal(wal_record_begin(w, &b, &mark), 0);
    assert_int_equal(walrec_samples_encode(b, smp, n), 0);
    assert_int_equal(wal_record_end(w, mark, WALREC_SAMPLES, WALREC_COMPRESS), 0);
    struct walrec_series st = {(uint32_t)(100 + s % 4), lab, 2};
    assert_int_equal(wal_record_begin(w, &b, &mark), 0);
    assert_int_equal(walrec_series_encode(b, &st, 1), 0);
    assert_int_equal(wal_record_end(w, mark, WALREC_LOG_STREAMS, 0), 0);
    struct walrec_entry e[3];
    for (int i = 0; i < 3; i++)
        e[i] = (struct walrec_entry){(uint32_t)(100 + (s + i) % 4), (int64_t)s * 10 + i,
                                     STR_LIT("GET /metrics 200"), lab + i, (size_t)(i % 2)};
    assert_int_equal(wal_record_begin(w, &b, &mark), 0);
    assert_int_equal(walrec_entries_encode(b, e, 3), 0);
    assert_int_equal(wal_record_end(w, mark, WALREC_LOG_ENTRIES, 0), 0);
    if (s % 5 == 0)
        assert_int_equal(wal_append(w, WALREC_TOMBSTONES, "t", 1, 0), 0);
}

/* Writes steps [from, to) to dir with a segment roll after every `per_seg` steps. */
static void write_steps_to(struct fixture *f, const char *dir, int from, int to, int per_seg)
{
    struct wal_config cfg = tw_cfg(WAL_FSYNC_BATCH, 1u << 20);
    struct wal *w;
    assert_int_equal(wal_open(dir, &cfg, &f->loop, &w), 0);
    for (int s = from; s < to; s++) {
        write_step(w, s);
        drain(f, w);
        if ((s - from) % per_seg == per_seg - 1)
            wal_roll(w);
    }
    wal_close(w);
}

static void write_steps(struct fixture *f, int from, int to, int per_seg)
{
    write_steps_to(f, f->dir, from, to, per_seg);
}

/* ---- a flat model of what a log holds ---- */

enum { K_SERIES, K_SAMPLE, K_STREAM, K_ENTRY, K_OTHER };

struct item {
    int kind;
    uint32_t id;
    int64_t ts;
    uint64_t v; /* sample bits, label count, or other type */
};

struct model {
    struct item *it;
    size_t n, cap;
};

static void model_add(struct model *m, struct item x)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 256;
        m->it = realloc(m->it, m->cap * sizeof *m->it);
        assert_non_null(m->it);
    }
    m->it[m->n++] = x;
}

static void model_of(const struct tw_log *log, size_t from, struct model *m)
{
    m->n = 0;
    struct label lb[8];
    for (size_t i = from; i < log->n; i++) {
        const struct tw_rec *r = &log->r[i];
        if (r->type == WALREC_SERIES || r->type == WALREC_LOG_STREAMS) {
            struct walrec_series_iter it;
            walrec_series_iter_init(&it, r->payload, r->len, lb, 8);
            while (walrec_series_iter_next(&it)) {
                const struct walrec_series *s = walrec_series_iter_at(&it);
                model_add(m, (struct item){r->type == WALREC_SERIES ? K_SERIES : K_STREAM, s->id, 0,
                                           s->n_labels});
            }
            assert_int_equal(walrec_series_iter_err(&it), 0);
        } else if (r->type == WALREC_SAMPLES) {
            struct walrec_samples_iter it;
            walrec_samples_iter_init(&it, r->payload, r->len);
            while (walrec_samples_iter_next(&it)) {
                const struct walrec_sample *s = walrec_samples_iter_at(&it);
                model_add(m, (struct item){K_SAMPLE, s->id, s->ts_ms, s->value_bits});
            }
            assert_int_equal(walrec_samples_iter_err(&it), 0);
        } else if (r->type == WALREC_LOG_ENTRIES) {
            struct walrec_entries_iter it;
            walrec_entries_iter_init(&it, r->payload, r->len, lb, 8);
            while (walrec_entries_iter_next(&it)) {
                const struct walrec_entry *e = walrec_entries_iter_at(&it);
                assert_true(str_eq_cstr(e->line, "GET /metrics 200"));
                model_add(m, (struct item){K_ENTRY, e->id, e->ts_ns, e->n_meta});
            }
            assert_int_equal(walrec_entries_iter_err(&it), 0);
        } else {
            model_add(m, (struct item){K_OTHER, 0, 0, r->type});
        }
    }
}

/* ---- keep functions: series with even ids, samples of even ids at ts >= cut, streams 100 and
 * 101, entries at ts >= cut, no tombstones ---- */

struct keeper {
    int64_t cut;
    int calls;
};

static bool keep_series(void *arg, uint32_t id)
{
    ((struct keeper *)arg)->calls++;
    return id % 2 == 0;
}

static bool keep_sample(void *arg, uint32_t id, int64_t ts)
{
    return id % 2 == 0 && ts >= ((struct keeper *)arg)->cut;
}

static bool keep_stream(void *arg, uint32_t id)
{
    (void)arg;
    return id <= 101;
}

static bool keep_entry(void *arg, uint32_t id, int64_t ts)
{
    (void)id;
    return ts >= ((struct keeper *)arg)->cut;
}

static bool keep_record(void *arg, const struct walrec *rec)
{
    (void)arg;
    return rec->type != WALREC_TOMBSTONES;
}

static bool model_keep(const struct item *x, int64_t cut)
{
    switch (x->kind) {
    case K_SERIES: return x->id % 2 == 0;
    case K_SAMPLE: return x->id % 2 == 0 && x->ts >= cut;
    case K_STREAM: return x->id <= 101;
    case K_ENTRY: return x->ts >= cut;
    default: return x->v != WALREC_TOMBSTONES;
    }
}

static void filter_model(struct model *m, int64_t cut)
{
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++)
        if (model_keep(&m->it[i], cut))
            m->it[k++] = m->it[i];
    m->n = k;
}

static void assert_models_equal(const struct model *a, const struct model *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->it[i].kind, b->it[i].kind);
        assert_int_equal(a->it[i].id, b->it[i].id);
        assert_int_equal(a->it[i].ts, b->it[i].ts);
        assert_int_equal(a->it[i].v, b->it[i].v);
    }
}

/* The expected replay after checkpointing up to `upto` with cut: the records of segments <= upto
 * filtered, then the rest as they are. */
static void expected(const struct tw_log *before, uint32_t upto, int64_t cut, struct model *out)
{
    size_t split = 0;
    while (split < before->n && (before->r[split].checkpoint || before->r[split].segment <= upto))
        split++;
    struct tw_log head = *before;
    head.n = split;
    model_of(&head, 0, out);
    filter_model(out, cut);
    struct model rest = {0};
    model_of(before, split, &rest);
    for (size_t i = 0; i < rest.n; i++)
        model_add(out, rest.it[i]);
    free(rest.it);
}

static void test_checkpoint_keep_and_replay(void **state)
{
    struct fixture *f = *state;
    write_steps(f, 0, 30, 5); /* segments 1..6 with 5 steps each */
    struct tw_log before = {0}, after = {0};
    struct wal_replay_result res;
    assert_int_equal(tw_replay(f->dir, 0, &before, &res), 0);
    assert_true(res.last_segment >= 6);
    struct keeper kp = {.cut = 100};
    struct wal_keep keep = {&kp, keep_series, keep_sample, keep_stream, keep_entry, keep_record};
    struct wal_checkpoint_result cr;
    assert_int_equal(wal_checkpoint_dir(f->dir, 3, &keep, &cr), 0);
    assert_true(kp.calls > 0);
    assert_int_equal(cr.segments_read, 3);
    assert_int_equal(cr.segments_deleted, 3);
    assert_int_equal(cr.damaged, 0);
    assert_true(cr.items_out < cr.items_in && cr.records_out < cr.records_in);
    assert_true(tw_exists(f->dir, "checkpoint.00000003"));
    assert_false(tw_exists(f->dir, "checkpoint.00000003.tmp"));
    assert_false(tw_exists(f->dir, "00000001") || tw_exists(f->dir, "00000003"));
    assert_true(tw_exists(f->dir, "00000004"));

    assert_int_equal(tw_replay(f->dir, 0, &after, &res), 0);
    assert_int_equal(res.checkpoint, 3);
    assert_true(after.r[0].checkpoint && after.r[0].segment == 3);
    struct model want = {0}, got = {0};
    expected(&before, 3, kp.cut, &want);
    model_of(&after, 0, &got);
    assert_models_equal(&got, &want);

    /* a second checkpoint folds the first in and deletes it */
    tw_log_free(&before);
    assert_int_equal(tw_replay(f->dir, 0, &before, &res), 0);
    kp.cut = 200;
    assert_int_equal(wal_checkpoint_dir(f->dir, 5, &keep, &cr), 0);
    assert_int_equal(cr.segments_read, 3); /* checkpoint.3's one file + segments 4 and 5 */
    assert_int_equal(cr.checkpoints_deleted, 1);
    assert_false(tw_exists(f->dir, "checkpoint.00000003"));
    assert_int_equal(tw_replay(f->dir, 0, &after, &res), 0);
    assert_int_equal(res.checkpoint, 5);
    expected(&before, 5, kp.cut, &want);
    model_of(&after, 0, &got);
    assert_models_equal(&got, &want);
    /* an older or equal upto is a no-op */
    assert_int_equal(wal_checkpoint_dir(f->dir, 4, &keep, &cr), 0);
    assert_int_equal(cr.records_in, 0);
    assert_true(tw_exists(f->dir, "checkpoint.00000005"));
    free(want.it);
    free(got.it);
    tw_log_free(&before);
    tw_log_free(&after);
}

/* keep NULL (and a keep with only NULL functions) keeps everything, item for item. */
static void test_checkpoint_keep_all(void **state)
{
    struct fixture *f = *state;
    write_steps(f, 0, 12, 4);
    struct tw_log before = {0}, after = {0};
    assert_int_equal(tw_replay(f->dir, 0, &before, NULL), 0);
    assert_int_equal(wal_checkpoint_dir(f->dir, 2, NULL, NULL), 0);
    struct wal_keep none = {0};
    assert_int_equal(wal_checkpoint_dir(f->dir, 3, &none, NULL), 0);
    assert_int_equal(tw_replay(f->dir, 0, &after, NULL), 0);
    assert_true(tw_same_records(&before, &after));
    tw_log_free(&before);
    tw_log_free(&after);
}

/* The writer's own checkpoint: only below its current segment; stats follow. */
static void test_checkpoint_on_open_wal(void **state)
{
    struct fixture *f = *state;
    write_steps(f, 0, 10, 2); /* segments 1..5 */
    struct wal_config cfg = tw_cfg(WAL_FSYNC_ALWAYS, 1u << 20);
    struct wal *w;
    assert_int_equal(wal_open(f->dir, &cfg, &f->loop, &w), 0);
    uint32_t cur = wal_segment_current(w);
    assert_int_equal(cur, 6);
    write_step(w, 10);
    drain(f, w);
    assert_int_equal(wal_checkpoint(w, cur, NULL, NULL), ERR_INVALID);
    struct keeper kp = {.cut = 40};
    struct wal_keep keep = {&kp, keep_series, keep_sample, keep_stream, keep_entry, keep_record};
    struct wal_checkpoint_result cr;
    assert_int_equal(wal_checkpoint(w, cur - 1, &keep, &cr), 0);
    assert_int_equal(cr.segments_deleted, 5);
    struct wal_stats st;
    wal_stats_get(w, &st);
    assert_int_equal(st.checkpoints, 1);
    assert_int_equal(st.segments, 1);
    write_step(w, 11);
    drain(f, w);
    wal_close(w);
    struct tw_log log = {0};
    struct wal_replay_result res;
    assert_int_equal(tw_replay(f->dir, 0, &log, &res), 0);
    assert_int_equal(res.checkpoint, 5);
    assert_int_equal(res.stop_err, 0);
    size_t from_seg6 = 0;
    while (from_seg6 < log.n && log.r[from_seg6].checkpoint)
        from_seg6++;
    assert_true(from_seg6 > 0);
    assert_int_equal(log.r[from_seg6].segment, 6);
    tw_log_free(&log);
}

/* ---- crashes between the steps ---- */

static void test_crash_between_steps(void **state)
{
    struct fixture *f = *state;
    char full[512], ck[512], a[512], p[600];
    snprintf(full, sizeof full, "%s/full", f->dir); /* the log as it was */
    snprintf(ck, sizeof ck, "%s/ck", f->dir);       /* after a completed checkpoint */
    write_steps_to(f, full, 0, 20, 4);              /* segments 1..5 */
    tw_copy_dir(full, ck);
    struct keeper kp = {.cut = 70};
    struct wal_keep keep = {&kp, keep_series, keep_sample, keep_stream, keep_entry, keep_record};
    assert_int_equal(wal_checkpoint_dir(ck, 3, &keep, NULL), 0);
    struct tw_log want = {0}, got = {0}, orig = {0};
    assert_int_equal(tw_replay(ck, 0, &want, NULL), 0);
    assert_int_equal(tw_replay(full, 0, &orig, NULL), 0);

    /* 1. crashed while writing the .tmp: the full log replays as before */
    snprintf(a, sizeof a, "%s/s1", f->dir);
    tw_copy_dir(full, a);
    tw_path(p, sizeof p, a, "checkpoint.00000003.tmp");
    mkdir(p, 0755);
    char half[700];
    snprintf(half, sizeof half, "%s/00000001", p);
    tw_write_file(half, "SWAL\x01\0\0\0garbage", 15);
    assert_int_equal(tw_replay(a, 0, &got, NULL), 0);
    assert_true(tw_same_records(&got, &orig));
    /* ... and the next checkpoint attempt replaces the leftover */
    assert_int_equal(wal_checkpoint_dir(a, 3, &keep, NULL), 0);
    assert_int_equal(tw_replay(a, 0, &got, NULL), 0);
    assert_true(tw_same_records(&got, &want));

    /* 2. renamed, nothing deleted yet: checkpoint + segments after it, no duplicates */
    snprintf(a, sizeof a, "%s/s2", f->dir);
    tw_copy_dir(full, a);
    char from[600], to[600];
    tw_path(from, sizeof from, ck, "checkpoint.00000003");
    tw_path(to, sizeof to, a, "checkpoint.00000003");
    tw_copy_dir(from, to);
    assert_int_equal(tw_replay(a, 0, &got, NULL), 0);
    assert_true(tw_same_records(&got, &want));
    /* 3. oldest segment deleted, the rest not; an older checkpoint still there */
    tw_path(p, sizeof p, a, "00000001");
    assert_int_equal(unlink(p), 0);
    tw_path(p, sizeof p, a, "checkpoint.00000001");
    mkdir(p, 0755);
    assert_int_equal(tw_replay(a, 0, &got, NULL), 0);
    assert_true(tw_same_records(&got, &want));
    /* open finishes the cleanup and replays the same */
    tw_path(p, sizeof p, a, "checkpoint.00000002.tmp");
    mkdir(p, 0755);
    struct wal_config cfg = tw_cfg(WAL_FSYNC_BATCH, 1u << 20);
    struct wal *w;
    assert_int_equal(wal_open(a, &cfg, &f->loop, &w), 0);
    wal_close(w);
    assert_false(tw_exists(a, "00000002") || tw_exists(a, "00000003"));
    assert_false(tw_exists(a, "checkpoint.00000001") || tw_exists(a, "checkpoint.00000002.tmp"));
    assert_true(tw_exists(a, "checkpoint.00000003") && tw_exists(a, "00000004"));
    assert_int_equal(tw_replay(a, 0, &got, NULL), 0);
    assert_true(tw_same_records(&got, &want));

    /* 4. a damaged checkpoint is reported; the caller can go on from the segment after it */
    tw_path(p, sizeof p, ck, "checkpoint.00000003/00000001");
    struct buf b = BUF_INIT;
    tw_read_file(p, &b);
    b.data[b.len / 2] ^= 0x20;
    tw_write_file(p, b.data, b.len);
    struct wal_replay_result res;
    assert_int_equal(tw_replay(ck, 0, &got, &res), ERR_CORRUPT);
    assert_true(res.stop_in_checkpoint);
    assert_int_equal(res.stop_segment, 3);
    assert_int_equal(tw_replay(ck, 4, &got, &res), 0);
    assert_int_equal(got.r[0].segment, 4);
    buf_deinit(&b);
    tw_log_free(&want);
    tw_log_free(&got);
    tw_log_free(&orig);
}

/* A damaged source segment: its valid prefix goes into the checkpoint, the rest is counted. */
static void test_checkpoint_damaged_source(void **state)
{
    struct fixture *f = *state;
    write_steps(f, 0, 12, 4); /* segments 1..3 */
    char p[512];
    tw_path(p, sizeof p, f->dir, "00000002");
    uint64_t sz = tw_file_size(f->dir, "00000002");
    assert_int_equal(truncate(p, (off_t)(sz - 3)), 0);
    struct tw_log before = {0}, after = {0};
    struct wal_replay_result res;
    assert_int_equal(tw_replay(f->dir, 0, &before, &res), ERR_CORRUPT);
    size_t prefix = before.n; /* records up to the damage */
    struct wal_checkpoint_result cr;
    assert_int_equal(wal_checkpoint_dir(f->dir, 2, NULL, &cr), 0);
    assert_int_equal(cr.damaged, 1);
    assert_int_equal(tw_replay(f->dir, 0, &after, &res), 0);
    assert_true(after.n > prefix);
    size_t n = after.n;
    after.n = prefix; /* the checkpoint starts with exactly the valid prefix */
    assert_true(tw_same_records(&after, &before));
    after.n = n;
    tw_log_free(&before);
    tw_log_free(&after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_checkpoint_keep_and_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_keep_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_on_open_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_between_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_damaged_source, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
