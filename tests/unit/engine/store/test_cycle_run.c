/* engine/store/cycle: the state machine over a fake store (its ops record what the cycle asked
 * for) with a real WAL on an io_uring loop, a real job thread and a real blocks directory: a cut
 * snapshots over several ticks, its block job ends (nothing to write), the block is served, the
 * truncation waits while the store refuses it, the WAL is rolled and checkpointed behind the cut,
 * ids are recycled, compaction runs, and the cycle is idle; a failed snapshot step or block write
 * ends the cut, keeps the head and backs off for the retry interval. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/error.h"
#include "base/log.h"
#include "engine/store/cycle.h"
#include "tests/unit/engine/store_test.h"

enum { RANGE = 1000, RETRY = 500 };

struct fake {
    int64_t lo, hi;   /* the head's span */
    int steps_needed; /* cut_step calls before the snapshot is complete */
    int steps, begins, ends, written, truncates, recycles, swaps;
    int step_fail_at;      /* cut_step fails at this call (0: never) */
    int truncate_refusals; /* truncate returns false this many times first */
    int write_rc;          /* the block job's result */
    int64_t truncated_at;
    uint64_t st[24]; /* counters */
    struct block **blocks;
    size_t n_blocks;
    char snap; /* the snapshot handed to the job */
    int64_t job_mint, job_maxt;
};

static bool f_span(void *s, int64_t *lo, int64_t *hi)
{
    struct fake *f = s;
    *lo = f->lo;
    *hi = f->hi;
    return f->hi >= f->lo;
}

static int f_begin(void *s, int64_t mint, int64_t maxt, const char **step)
{
    (void)step;
    struct fake *f = s;
    assert_int_equal(mint, store_range_start(f->lo, RANGE));
    assert_int_equal(maxt, mint + RANGE);
    f->begins++;
    return 0;
}

static int f_step(void *s, void **snap, const char **step)
{
    struct fake *f = s;
    f->steps++;
    if (f->steps == f->step_fail_at) {
        *step = "fake step";
        return ERR_NOMEM;
    }
    if (f->steps % f->steps_needed)
        return 1;
    *snap = &f->snap;
    return 0;
}

static void f_written(void *s)
{
    ((struct fake *)s)->written++;
}

static void f_end(void *s)
{
    ((struct fake *)s)->ends++;
}

static bool f_truncate(void *s, int64_t maxt, int64_t *removed)
{
    struct fake *f = s;
    f->truncates++;
    if (f->truncate_refusals-- > 0)
        return false;
    f->truncated_at = maxt;
    f->lo = maxt; /* the head starts at the cut now */
    *removed = 2;
    return true;
}

static uint32_t f_id_limit(const void *s)
{
    (void)s;
    return 3;
}

static bool f_id_alive(const void *s, uint32_t id)
{
    (void)s;
    return id != 1;
}

static void f_recycle(void *s)
{
    ((struct fake *)s)->recycles++;
}

static void f_swap(void *s, struct block **b, size_t n)
{
    struct fake *f = s;
    struct store_blocks_sum sum;
    store_blocks_replace(&f->blocks, &f->n_blocks, b, n, &sum);
    f->swaps++;
}

static const struct store_cycle_ops fake_ops = {
    .log_prefix = "fake ",
    .series_word = "series",
    .samples_word = "samples",
    .head_span = f_span,
    .cut_begin = f_begin,
    .cut_step = f_step,
    .cut_written = f_written,
    .cut_end = f_end,
    .truncate = f_truncate,
    .id_limit = f_id_limit,
    .id_alive = f_id_alive,
    .recycle_ids = f_recycle,
    .blocks_swap = f_swap,
};

/* The job thread's side: no block is written (the write job reports write_rc). */
static int w_write(void *ctx, const char *blocks_dir, struct store_job *j)
{
    (void)blocks_dir;
    struct fake *f = ctx;
    assert_ptr_equal(j->snap, &f->snap);
    f->job_mint = j->mint_ms;
    f->job_maxt = j->maxt_ms;
    return f->write_rc;
}

static void w_keep(struct wal_keep *k)
{
    k->series = store_keep_id;
    k->sample = store_keep_ts_ms;
}

static const struct store_worker_ops worker_ops = {
    .quarantine_msg = "fake block corrupt",
    .write_block = w_write,
    .checkpoint_keep = w_keep,
};

/* ---- the fixture ---- */

struct fx {
    char dir[256], wal_dir[300], blocks_dir[300];
    struct loop loop;
    struct wal *wal;
    struct compact_dir cd;
    struct jobthread jt;
    struct store_worker w;
    struct store_cycle c;
    struct store_alive alive;
    enum store_cut_state cut;
    struct fake f;
};

static int fx_setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    assert_non_null(x);
    *state = x;
    log_level_set(LOG_WARN);
    st_mkdtemp(x->dir, sizeof x->dir, "store");
    snprintf(x->wal_dir, sizeof x->wal_dir, "%s/wal", x->dir);
    snprintf(x->blocks_dir, sizeof x->blocks_dir, "%s/blocks", x->dir);
    assert_int_equal(loop_init(&x->loop, NULL), 0);
    struct wal_config wc;
    wal_config_init(&wc);
    wc.free_bytes_min = 0;
    wc.free_permille_min = 0;
    assert_int_equal(wal_open(x->wal_dir, &wc, &x->loop, &x->wal), 0);
    loop_set_before_wait(&x->loop, wal_before_wait, x->wal);
    struct compact_opts o = {.min_range_ms = RANGE, .retention_ms = -1};
    assert_int_equal(compact_dir_open(&x->cd, x->blocks_dir, &o), 0);
    x->w = (struct store_worker){&x->cd, x->wal_dir, x->blocks_dir, &worker_ops, &x->f};
    assert_int_equal(store_worker_start(&x->jt, &x->w), 0);
    x->f.steps_needed = 3;
    x->f.write_rc = ERR_EMPTY;
    x->f.lo = 0;
    x->f.hi = 2 * RANGE; /* two ranges: the first is due */
    struct fake *f = &x->f;
    const struct store_cycle_stats st = {
        .cuts_total = &f->st[0],
        .cut_failures_total = &f->st[1],
        .checkpoints_total = &f->st[2],
        .compactions_total = &f->st[3],
        .removed_total = &f->st[4],
    };
    const struct store_cycle_config cfg = {RANGE, RETRY, 60000};
    const struct store_cycle_refs refs = {&x->jt,         x->wal,    &x->f.blocks,
                                          &x->f.n_blocks, &x->alive, &x->cut};
    store_cycle_init(&x->c, &fake_ops, &x->f, &cfg, &st, &refs);
    return 0;
}

/* Runs also after a failed test: the job thread must not outlive the fixture. */
static int fx_teardown(void **state)
{
    struct fx *x = *state;
    store_cycle_deinit(&x->c);
    store_worker_stop(&x->jt, &x->cd);
    struct store_blocks_sum sum;
    store_blocks_replace(&x->f.blocks, &x->f.n_blocks, NULL, 0, &sum);
    free(x->alive.words);
    loop_set_before_wait(&x->loop, NULL, NULL);
    wal_close(x->wal);
    loop_deinit(&x->loop);
    st_rm_rf(x->dir);
    free(x);
    return 0;
}

/* Ticks at now_ms until pred holds (10 s at most), running the loop between. */
static void tick_until(struct fx *x, int64_t now_ms, bool (*pred)(struct fx *))
{
    int64_t deadline = clock_mono_ns() + 10000000000LL;
    while (!pred(x)) {
        assert_true(clock_mono_ns() < deadline);
        store_cycle_tick(&x->c, now_ms);
        loop_run_once(&x->loop, 1000000);
    }
}

static bool is_idle(struct fx *x)
{
    return store_cycle_idle(&x->c);
}

static bool in_truncate(struct fx *x)
{
    return x->cut == STORE_CUT_TRUNCATE;
}

static bool cut_ended(struct fx *x)
{
    return x->f.ends > 0 && x->cut == STORE_CUT_IDLE && !x->c.job_busy;
}

static void test_cut_lifecycle(void **state)
{
    struct fx *x = *state;
    x->f.truncate_refusals = 3;
    assert_false(store_cycle_idle(&x->c)); /* a cut is due, compaction wanted */
    store_cycle_tick(&x->c, 10);
    assert_int_equal(x->f.begins, 1);
    assert_int_equal(x->cut, STORE_CUT_SNAPSHOT);
    assert_int_equal(x->f.steps, 1);
    store_cycle_tick(&x->c, 10);
    assert_int_equal(x->f.steps, 2);
    store_cycle_tick(&x->c, 10);
    assert_int_equal(x->f.steps, 3);
    assert_int_equal(x->cut, STORE_CUT_WRITING);
    assert_true(x->c.job_busy);
    /* the job ended; the store refused the truncation (asked at the block and again in the tick) */
    tick_until(x, 10, in_truncate);
    assert_int_equal(x->f.truncates, 2);
    assert_int_equal(x->f.job_mint, 0);
    assert_int_equal(x->f.job_maxt, RANGE);
    assert_int_equal(x->f.written, 1);
    assert_int_equal(x->f.ends, 1);
    assert_int_equal(x->f.st[0], 1); /* cuts_total at the block */
    store_cycle_tick(&x->c, 10);
    assert_int_equal(x->cut, STORE_CUT_TRUNCATE);
    assert_int_equal(x->f.truncates, 3);
    tick_until(x, 10, is_idle);
    assert_int_equal(x->f.truncates, 4);
    assert_int_equal(x->f.truncated_at, RANGE);
    assert_int_equal(x->f.st[4], 2); /* removed */
    /* the alive filter: ids 0 and 2, from the cut on */
    assert_int_equal(x->alive.n_bits, 3);
    assert_int_equal(x->alive.cut_ms, RANGE);
    assert_true(store_keep_id(&x->alive, 0));
    assert_false(store_keep_id(&x->alive, 1));
    assert_true(store_keep_id(&x->alive, 2));
    assert_int_equal(x->f.recycles, 1);
    assert_int_equal(x->f.st[2], 1); /* checkpoints */
    assert_int_equal(x->f.st[3], 1); /* compactions */
    assert_true(x->f.swaps >= 1);
    assert_int_equal(x->f.st[1], 0);
    assert_true(st_count_entries(x->wal_dir, "checkpoint.") >= 1);
    assert_int_equal(x->f.begins, 1); /* the head now spans less than 1.5 ranges */
}

static void test_step_failure_backs_off(void **state)
{
    struct fx *x = *state;
    x->f.step_fail_at = 2;
    store_cycle_tick(&x->c, 100); /* begin + step 1 */
    store_cycle_tick(&x->c, 100); /* step 2 fails */
    assert_int_equal(x->cut, STORE_CUT_IDLE);
    assert_int_equal(x->f.ends, 1);
    assert_int_equal(x->f.st[1], 1);
    assert_int_equal(x->f.truncates, 0); /* the head keeps the range */
    store_cycle_tick(&x->c, 100 + RETRY - 1);
    assert_int_equal(x->f.begins, 1); /* backing off */
    store_cycle_tick(&x->c, 100 + RETRY);
    assert_int_equal(x->f.begins, 2);
    tick_until(x, 100 + RETRY, is_idle);
    assert_int_equal(x->f.st[0], 1);
    assert_int_equal(x->f.truncated_at, RANGE);
}

static void test_write_failure_keeps_head(void **state)
{
    struct fx *x = *state;
    x->f.write_rc = -EIO;
    store_cycle_tick(&x->c, 100);
    tick_until(x, 100, cut_ended);
    assert_int_equal(x->f.st[1], 1);
    assert_int_equal(x->f.st[0], 0);
    assert_int_equal(x->f.written, 0);
    assert_int_equal(x->f.truncates, 0);
    assert_false(x->c.ckpt_pending);
    x->f.write_rc = ERR_EMPTY;
    tick_until(x, 100 + RETRY, is_idle);
    assert_int_equal(x->f.st[0], 1);
    assert_int_equal(x->f.written, 1);
}

/* Closing mid-cut ends the cut (the store releases its snapshot) and waits for the job. */
static void test_deinit_mid_cut(void **state)
{
    struct fx *x = *state;
    for (int i = 0; i < 3; i++)
        store_cycle_tick(&x->c, 100);
    assert_int_equal(x->cut, STORE_CUT_WRITING);
    store_cycle_deinit(&x->c); /* teardown calls it again: a no-op */
    assert_int_equal(x->f.ends, 1);
    assert_int_equal(x->cut, STORE_CUT_IDLE);
    assert_false(x->c.job_busy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cut_lifecycle, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_step_failure_backs_off, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_write_failure_keeps_head, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_deinit_mid_cut, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
