/* strata-load schedule: the plan (groups pinned to connections, due offsets increasing per
 * connection, every group once per period, due counts) and the pacer on a fake clock (sends at the
 * due times; after a stall, at most `burst` at once then catchup x rate until back on schedule). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "tests/unit/prop.h"
#include "tools/strata-load/sched.c"

#define MS 1000000LL

/* Runs the pacer against due times due[0..n) on a fake clock that jumps to the next moment the
 * pacer can act. The connection is busy (a slow answer) from stall_from to stall_until: nothing due
 * after stall_from can go before stall_until. Fills sent[]. */
static void simulate(struct ld_pacer *p, const int64_t *due, int64_t *sent, size_t n,
                     int64_t stall_from, int64_t stall_until)
{
    int64_t now = 0;
    for (size_t k = 0; k < n; k++) {
        for (int guard = 0;; guard++) {
            assert_true(guard < 1000000);
            if (due[k] > stall_from && now < stall_until) {
                now = stall_until;
                continue;
            }
            int64_t wait = 0;
            if (ld_pacer_take(p, now, due[k], &wait)) {
                sent[k] = now;
                break;
            }
            assert_true(wait > 0);
            now += wait;
        }
    }
}

static void test_pacer_on_schedule(void **state)
{
    struct ld_pacer p;
    ld_pacer_init(&p, 100, 2, 10, 0); /* 100 req/s: due every 10 ms */
    int64_t due[200], sent[200];
    for (int k = 0; k < 200; k++)
        due[k] = k * 10 * MS + 3 * MS;
    simulate(&p, due, sent, 200, 0, 0);
    for (int k = 0; k < 200; k++)
        assert_int_equal(sent[k], due[k]); /* never early, never late */
}

static void test_pacer_catch_up_bounded(void **state)
{
    const double rate = 100, catchup = 2;
    const uint32_t burst = 5;
    struct ld_pacer p;
    ld_pacer_init(&p, rate, catchup, burst, 0);
    enum { N = 400 };
    int64_t due[N], sent[N];
    for (int k = 0; k < N; k++)
        due[k] = k * 10 * MS;
    /* slots 0..10 go on time, then the target stalls until 1 s: 89 requests are late */
    simulate(&p, due, sent, N, 100 * MS, 1000 * MS);
    int at_stall_end = 0;
    for (int k = 0; k < N; k++) {
        assert_true(sent[k] >= due[k]);
        if (k > 0)
            assert_true(sent[k] >= sent[k - 1]);
        at_stall_end += sent[k] == 1000 * MS;
    }
    assert_true(at_stall_end >= 1 && at_stall_end <= (int)burst);
    /* in any window w: at most burst + catchup*rate*w sends */
    for (int a = 0; a < N; a++) {
        for (int b = a; b < N; b++) {
            double w = (double)(sent[b] - sent[a]) / 1e9;
            assert_true((double)(b - a + 1) <= burst + catchup * rate * w + 1e-9);
        }
    }
    /* it catches up: ~90 late requests at +1x extra rate take ~0.9 s; by 2.5 s we are on time */
    for (int k = 0; k < N; k++)
        if (due[k] >= 2500 * MS)
            assert_int_equal(sent[k], due[k]);
    /* and it did not dawdle: the backlog was worked off faster than the plain rate */
    int late_done_by_1500 = 0;
    for (int k = 0; k < N; k++)
        late_done_by_1500 += due[k] < 1000 * MS && sent[k] <= 1500 * MS;
    assert_true(late_done_by_1500 >= 100 - 1);
}

static void test_pacer_closed_loop(void **state)
{
    struct ld_pacer p;
    ld_pacer_init(&p, 0, 1, 1, 0);
    int64_t wait = -1;
    for (int i = 0; i < 1000; i++)
        assert_true(ld_pacer_take(&p, 5, 1000000 * MS, &wait)); /* due times are ignored */
    assert_int_equal(wait, -1);
}

static void test_plan_properties(void **state)
{
    struct prop p = prop_begin("plan");
    for (int round = 0; round < 200; round++) {
        struct ld_plan pl = {1 + (uint32_t)(prop_next(&p) % 50), 1 + (uint32_t)(prop_next(&p) % 12),
                             (int64_t)(1 + prop_next(&p) % 30) * 1000 * MS,
                             1 + (uint32_t)(prop_next(&p) % 3)};
        uint32_t total = 0;
        uint32_t *seen = calloc(pl.n_groups, sizeof *seen);
        for (uint32_t c = 0; c < pl.n_conns; c++) {
            uint32_t n = ld_plan_groups_of(&pl, c);
            total += n;
            int64_t prev = -1;
            for (uint64_t j = 0; j < 3 * (uint64_t)n; j++) {
                uint32_t g;
                uint64_t seq;
                int64_t off;
                ld_plan_slot(&pl, c, j, &g, &seq, &off);
                prop_check(&p, g % pl.n_conns == c && g < pl.n_groups);
                prop_check(&p, seq == (j / n) * pl.ticks);
                prop_check(&p, off > prev); /* strictly increasing per connection */
                prop_check(&p, off == ld_plan_offset(&pl, g, seq));
                prop_check(&p, off >= (int64_t)seq * pl.period_ns &&
                                   off < (int64_t)(seq + 1) * pl.period_ns);
                prev = off;
                if (j < n)
                    seen[g]++;
            }
        }
        prop_check(&p, total == pl.n_groups);
        for (uint32_t g = 0; g < pl.n_groups; g++)
            prop_check(&p, seen[g] == 1); /* each group once per period, on one connection */
        free(seen);
    }
}

static void test_plan_due_count(void **state)
{
    struct ld_plan pl = {7, 3, 700 * MS, 2};
    for (uint32_t c = 0; c < 3; c++) {
        uint32_t n = ld_plan_groups_of(&pl, c);
        for (int64_t t = -MS; t < 5000 * MS; t += 37 * MS) {
            uint64_t brute = 0;
            for (uint64_t j = 0; j < 1000; j++) {
                uint32_t g;
                uint64_t seq;
                int64_t off;
                ld_plan_slot(&pl, c, j, &g, &seq, &off);
                brute += off <= t;
            }
            assert_int_equal(ld_plan_due_count(&pl, c, t), brute);
        }
        assert_int_equal(n, c == 0 ? 3 : 2);
    }
    assert_int_equal(ld_plan_groups_of(&(struct ld_plan){2, 4, MS, 1}, 3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pacer_on_schedule), cmocka_unit_test(test_pacer_catch_up_bounded),
        cmocka_unit_test(test_pacer_closed_loop), cmocka_unit_test(test_plan_properties),
        cmocka_unit_test(test_plan_due_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
