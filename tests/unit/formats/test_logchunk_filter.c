/* The log chunk iterator's batch line filter (logchunk_iter_set_filter): over random chunks (small
 * blocks, repeated timestamps, snappy and uncompressed blocks, and an open writer with a head
 * block), iterating with a filter in either direction and over random ranges returns exactly the
 * unfiltered iteration minus the dropped lines, seeks land on the first kept entry at or after the
 * target, stored blocks hand the filter contiguous lines, and the counters add up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/logchunk.h"
#include "tests/unit/prop.h"

struct fstate {
    int mod; /* keep lines whose last digit % mod == 0; 0 keeps none */
    bool expect_contiguous;
    uint64_t calls;
};

static bool kept(const struct fstate *f, struct str l)
{
    if (!f->mod || !l.len)
        return false;
    return (l.ptr[l.len - 1] - '0') % f->mod == 0;
}

static size_t filter(void *arg, const struct str *lines, size_t n, uint64_t *keep)
{
    struct fstate *f = arg;
    f->calls++;
    memset(keep, 0, (n + 63) / 64 * sizeof *keep);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (f->expect_contiguous && i + 1 < n)
            assert_ptr_equal(lines[i].ptr + lines[i].len, lines[i + 1].ptr);
        if (kept(f, lines[i])) {
            keep[i >> 6] |= 1ull << (i & 63);
            k++;
        }
    }
    return k;
}

struct ent {
    int64_t ts;
    char line[32];
};

static size_t collect(struct logchunk_iter *it, struct ent *out, size_t cap)
{
    size_t n = 0;
    while (logchunk_iter_next(it)) {
        const struct logchunk_entry *e = logchunk_iter_at(it);
        assert_true(n < cap);
        out[n].ts = e->ts_ns;
        assert_true(e->line.len < sizeof out[n].line);
        memcpy(out[n].line, e->line.ptr, e->line.len);
        out[n].line[e->line.len] = 0;
        n++;
    }
    assert_int_equal(logchunk_iter_err(it), 0);
    return n;
}

static void open_src(struct logchunk_iter *it, const struct logchunk_reader *r,
                     const struct logchunk_writer *w, int64_t lo, int64_t hi, enum logchunk_dir d)
{
    if (r)
        logchunk_iter_open_reader(it, r, lo, hi, d);
    else
        logchunk_iter_open_writer(it, w, lo, hi, d);
}

/* Filtered iteration == unfiltered iteration minus the dropped lines; seeks agree. */
static void compare(struct prop *p, const struct logchunk_reader *r,
                    const struct logchunk_writer *w, size_t n_all, int64_t t_max)
{
    struct ent *all = calloc(n_all + 1, sizeof *all), *got = calloc(n_all + 1, sizeof *got);
    assert_true(all && got);
    struct logchunk_iter a, b;
    logchunk_iter_init(&a);
    logchunk_iter_init(&b);
    struct fstate f = {(int)(prop_next(p) % 5), r != NULL, 0};
    logchunk_iter_set_filter(&b, filter, &f);
    for (int round = 0; round < 20; round++) {
        int64_t lo = (int64_t)(prop_next(p) % (uint64_t)(t_max + 2)) - 1;
        int64_t hi = lo + (int64_t)(prop_next(p) % (uint64_t)(t_max + 2));
        enum logchunk_dir d = prop_next(p) & 1 ? LOGCHUNK_BACKWARD : LOGCHUNK_FORWARD;
        open_src(&a, r, w, lo, hi, d);
        open_src(&b, r, w, lo, hi, d);
        size_t na = collect(&a, all, n_all + 1), nb = collect(&b, got, n_all + 1), k = 0;
        for (size_t i = 0; i < na; i++) {
            if (!kept(&f, (struct str){all[i].line, strlen(all[i].line)}))
                continue;
            prop_check(p, k < nb);
            prop_check(p, got[k].ts == all[i].ts && !strcmp(got[k].line, all[i].line));
            k++;
        }
        prop_check(p, k == nb);
        /* a seek lands on the first kept entry at/after t in the direction */
        int64_t t = lo + (int64_t)(prop_next(p) % (uint64_t)(hi - lo + 1));
        open_src(&b, r, w, lo, hi, d);
        bool ok = logchunk_iter_seek(&b, t);
        size_t want = 0;
        while (want < nb && (d == LOGCHUNK_FORWARD ? got[want].ts < t : got[want].ts >= t))
            want++;
        prop_check(p, ok == (want < nb));
        if (ok) {
            const struct logchunk_entry *e = logchunk_iter_at(&b);
            prop_check(p, e->ts_ns == got[want].ts);
            prop_check(p, e->line.len == strlen(got[want].line) &&
                              !memcmp(e->line.ptr, got[want].line, e->line.len));
            if (logchunk_iter_next(&b) && want + 1 < nb)
                prop_check(p, logchunk_iter_at(&b)->ts_ns == got[want + 1].ts);
        }
    }
    prop_check(p, b.filter_dropped <= b.filter_lines);
    prop_check(p, f.calls > 0 || n_all == 0);
    logchunk_iter_deinit(&a);
    logchunk_iter_deinit(&b);
    free(all);
    free(got);
}

static void test_random(void **state)
{
    (void)state;
    struct prop p = prop_begin("logchunk_filter");
    for (int round = 0; round < 60; round++) {
        struct logchunk_writer_opts o = {.block_target_bytes = 64 + prop_next(&p) % 400,
                                         .store_uncompressed = prop_next(&p) & 1};
        struct logchunk_writer w;
        logchunk_writer_init(&w, &o);
        size_t n = 1 + prop_next(&p) % 400;
        int64_t ts = 0;
        for (size_t i = 0; i < n; i++) {
            ts += (int64_t)(prop_next(&p) % 3);
            char line[32];
            int len =
                snprintf(line, sizeof line, "line %zu v%u", i, (unsigned)(prop_next(&p) % 10));
            assert_int_equal(
                logchunk_writer_append(&w, ts, (struct str){line, (size_t)len}, NULL, 0), 0);
        }
        if (round % 2) { /* an open writer: cut blocks + the head block */
            compare(&p, NULL, &w, n, ts);
        } else {
            uint8_t *bytes;
            size_t len;
            assert_int_equal(logchunk_writer_finish(&w, &bytes, &len), 0);
            struct logchunk_reader r;
            assert_int_equal(logchunk_reader_open(&r, bytes, len), 0);
            compare(&p, &r, NULL, n, ts);
            free(bytes);
        }
        logchunk_writer_deinit(&w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
