/* engine/logs/logstore_select line hints over blocks: a stream whose lines all carry random
 * 32-hex trace ids (so every hex trigram is in every chunk) is cut into small block chunks; a
 * select hinted with one trace id skips most chunks (by the gram filters, decided from the chunk
 * headers and filters alone) yet returns the line that holds it — for a planted needle and for
 * randomly chosen ids of the data (soundness) — and a hint every line contains skips nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_logstore_util.h"
#include "tests/unit/prop.h"

#define T0     (1700000040LL * LT_SEC_NS) /* a multiple of a minute */
#define MIN_MS 60000LL
#define SECS   360
#define NEEDLE "4bf92f3577b34da6a3ce929d0e0e4736"

static void hint_cfg(struct logstore_config *c)
{
    c->block_range_ms = MIN_MS;
    c->ooo_window_ms = 20 * 1000;
    c->chunk_target_bytes = 4096;
    c->head_block_bytes = 1024;
    c->block_chunk_bytes = 2048;
    c->wal.segment_size_bytes = 64 * 1024;
}

/* Stream 0 logs 4 lines a second, each with its own trace id (ids[sec * 4 + i]); the needle
 * replaces the id of one line at second 150. */
static void feed(struct lt *x, struct prop *p, char (*ids)[33])
{
    struct lt_stream s;
    lt_stream_labels(&s, 0);
    for (int sec = 0; sec < SECS; sec++) {
        char lines[4][128];
        struct logstore_entry_in e[4];
        for (int i = 0; i < 4; i++) {
            char *id = ids[sec * 4 + i];
            for (int j = 0; j < 32; j++)
                id[j] = "0123456789abcdef"[prop_next(p) & 15];
            id[32] = 0;
            if (sec == 150 && i == 2)
                memcpy(id, NEEDLE, 33);
            int n = snprintf(lines[i], sizeof lines[i],
                             "level=info trace_id=%s msg=\"request served\" n=%d", id, i);
            e[i] = (struct logstore_entry_in){
                T0 + sec * LT_SEC_NS + i * 1000, {lines[i], (size_t)n}, NULL, 0};
        }
        struct logstore_stream_in in = {s.l, 3, hash_labels(s.l, 3), e, 4};
        struct logstore_append_result r = lt_append_in(x, &in, 1);
        assert_int_equal(r.accepted, 4);
        logstore_tick(x->ls, (T0 + sec * LT_SEC_NS) / 1000000);
    }
}

/* Lines of stream 0 containing `want`, selected forward with the hint `hint`. */
static long count(struct lt *x, const char *hint, const char *want,
                  struct logstore_select_stats *st)
{
    return lt_count_hinted(x->ls, 0, T0, T0 + SECS * LT_SEC_NS, LOGSTORE_FORWARD, hint, want, st);
}

static void test_hint_skips_soundly(void **state)
{
    (void)state;
    struct prop p = prop_begin("logstore_hint");
    static char ids[SECS * 4][33];
    struct lt x;
    lt_setup(&x, hint_cfg);
    feed(&x, &p, ids);
    lt_settle(&x, (T0 + SECS * LT_SEC_NS) / 1000000);
    struct logstore_select_stats st;
    assert_int_equal(count(&x, NEEDLE, NEEDLE, &st), 1);
    assert_true(st.chunks >= 20);
    assert_true(st.chunks_skipped_hint >= st.chunks * 3 / 4);
    assert_int_equal(st.chunks_opened + st.chunks_skipped_hint, st.chunks);
    /* a hint every line satisfies: nothing skipped, every line returned */
    assert_int_equal(count(&x, "trace_id=", "trace_id=", &st), SECS * 4);
    assert_int_equal(st.chunks_skipped_hint, 0);
    /* soundness: any id of the data, hinted, finds its line */
    for (int q = 0; q < 40; q++) {
        const char *id = ids[prop_next(&p) % (SECS * 4)];
        long n = count(&x, id, id, &st);
        prop_check(&p, n == 1);
    }
    lt_teardown(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hint_skips_soundly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
