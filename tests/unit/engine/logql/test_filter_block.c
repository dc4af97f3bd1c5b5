/* Batch line filtering (logql_filter_eval_block through logql_pipeline_prefilter_block) against the
 * line-by-line pre-filter: random pipelines of |= != |~ !~ (or-chains, anchors, word boundaries,
 * unbounded and UTF-8 regexes, ip(), |> !>) over random lines laid out contiguously in one buffer
 * (matches straddling line boundaries on purpose), with gaps, empty and non-UTF-8 lines: the kept
 * sets must be identical. Plus golden cases for straddling literals and regexes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"
#include "engine/logql/exec.h"
#include "engine/logql/parse.h"
#include "tests/unit/prop.h"

struct pl {
    struct logql_query *q;
    struct logql_pipeline *p;
};

static void pl_make(struct pl *x, const char *stages)
{
    char text[1024], err[256];
    snprintf(text, sizeof text, "{app=\"x\"} %s", stages);
    if (logql_parse(str_from_cstr(text), &x->q, err, sizeof err) ||
        logql_pipeline_compile_expr(x->q->root, NULL, &x->p, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", text, err);
        fail();
    }
}

static void pl_free(struct pl *x)
{
    logql_pipeline_destroy(x->p);
    logql_query_destroy(x->q);
}

/* Keep bits of the batch call must equal the per-line pre-filter. */
static void check_same(struct prop *pr, struct pl *x, const struct str *lines, size_t n,
                       const char *stages)
{
    uint64_t keep[64];
    assert_true(n <= 64 * 64);
    size_t got = logql_pipeline_prefilter_block(x->p, lines, n, keep);
    size_t want = 0;
    for (size_t i = 0; i < n; i++) {
        bool w = logql_pipeline_prefilter(x->p, lines[i]);
        bool g = (keep[i >> 6] >> (i & 63)) & 1;
        if (w != g)
            fprintf(stderr, "%s: line %zu \"%.*s\": batch %d, line %d\n", stages, i,
                    (int)lines[i].len, lines[i].ptr, g, w);
        prop_check(pr, w == g);
        want += w;
    }
    prop_check(pr, got == want);
    for (size_t i = n; i < (n + 63) / 64 * 64; i++)
        prop_check(pr, !((keep[i >> 6] >> (i & 63)) & 1));
}

/* Lines: the concatenation of words, so that filters match across boundaries. */
static const char *const words[] = {
    "ab", "a", "b", "c", "err", "or", "10.0.0.1", " ", "ok", "é", "\xff", "AB", "x", "1", ".", "ba",
};

static void test_golden_straddle(void **state)
{
    (void)state;
    struct pl x;
    const char buf[] = "xxabcyyzzabc";
    /* lines "xxa" "bcyy" "zzabc" "": "abc" straddles lines 0 and 1, lies inside line 2 */
    struct str lines[4] = {{buf, 3}, {buf + 3, 4}, {buf + 7, 5}, {buf + 12, 0}};
    pl_make(&x, "|= \"abc\"");
    struct logql_pipeline_info info;
    logql_pipeline_info(x.p, &info);
    assert_true(info.prefilter_batched);
    uint64_t keep[1];
    assert_int_equal(logql_pipeline_prefilter_block(x.p, lines, 4, keep), 1);
    assert_int_equal(keep[0], 4);
    pl_free(&x);
    pl_make(&x, "!= \"abc\"");
    assert_int_equal(logql_pipeline_prefilter_block(x.p, lines, 4, keep), 3);
    assert_int_equal(keep[0], 0xb);
    pl_free(&x);
    pl_make(&x, "|~ \"a.c\"");
    logql_pipeline_info(x.p, &info);
    assert_true(info.prefilter_batched);
    assert_int_equal(logql_pipeline_prefilter_block(x.p, lines, 4, keep), 1);
    assert_int_equal(keep[0], 4);
    pl_free(&x);
    pl_make(&x, "|~ \"a.*c\" |~ \"^z\"");
    logql_pipeline_info(x.p, &info);
    assert_false(info.prefilter_batched); /* an anchor: line by line */
    assert_int_equal(logql_pipeline_prefilter_block(x.p, lines, 4, keep), 1);
    assert_int_equal(keep[0], 4);
    pl_free(&x);
    pl_make(&x, "|~ \"b\\\\b\"");
    logql_pipeline_info(x.p, &info);
    assert_false(info.prefilter_batched); /* a word boundary */
    assert_int_equal(logql_pipeline_prefilter_block(x.p, lines, 4, keep), 0);
    pl_free(&x);
}

static const char *const filters[] = {
    "|= \"ab\"",
    "!= \"ba\"",
    "|= \"err\" or \"ok\"",
    "|~ \"a.c\"",
    "!~ \"b+c\"",
    "|~ \"^ab\"",
    "|~ \"c$\"",
    "|~ \"(?i)ab\"",
    "|~ \"\\\\bab\"",
    "|~ \"é\"",
    "|~ \"a.{1,3}c\"",
    "|~ \"ab.*c\"",
    "|~ \"[^a]b\"",
    "!~ \"x|err\"",
    "|= ip(\"10.0.0.0/8\")",
    "|> \"<_>ab<_>\"",
    "!> \"a<_>\"",
    "|= \"\"",
    "|~ \".+\"",
    "!= \"\"",
    "|~ \"e.r\" or \"b\\\\.\" or \"1\"",
    "|= \"abab\"",
    "|~ \"\\\\d\\\\.\\\\d\"",
};

static size_t random_lines(struct prop *pr, struct buf *b, struct str *lines, size_t n)
{
    buf_reset(b);
    size_t *off = calloc(n, sizeof *off), *len = calloc(n, sizeof *len);
    assert_true(off && len);
    for (size_t i = 0; i < n; i++) {
        if (prop_next(pr) % 8 == 0)
            assert_int_equal(buf_append(b, "#", 1), 0); /* a gap: not contiguous */
        off[i] = b->len;
        size_t nw = prop_next(pr) % 6;
        for (size_t k = 0; k < nw; k++) {
            const char *w = words[prop_next(pr) % (sizeof words / sizeof *words)];
            assert_int_equal(buf_append(b, w, strlen(w)), 0);
        }
        len[i] = b->len - off[i];
    }
    for (size_t i = 0; i < n; i++)
        lines[i] = (struct str){(const char *)b->data + off[i], len[i]};
    free(off);
    free(len);
    return n;
}

static void test_random_pipelines(void **state)
{
    (void)state;
    struct prop pr = prop_begin("filter_block_random");
    struct buf b = BUF_INIT;
    static struct str lines[512];
    const size_t nf = sizeof filters / sizeof *filters;
    for (int round = 0; round < 400; round++) {
        char stages[512] = "";
        size_t ns = 1 + prop_next(&pr) % 3, w = 0;
        for (size_t s = 0; s < ns; s++)
            w += (size_t)snprintf(stages + w, sizeof stages - w, "%s%s", s ? " " : "",
                                  filters[prop_next(&pr) % nf]);
        struct pl x;
        pl_make(&x, stages);
        for (int k = 0; k < 4; k++) {
            size_t n = 1 + prop_next(&pr) % 300;
            random_lines(&pr, &b, lines, n);
            check_same(&pr, &x, lines, n, stages);
        }
        pl_free(&x);
    }
    buf_deinit(&b);
}

/* A long ASCII block with a UTF-8 pattern (byte-mode twin) and a non-ASCII one (line by line). */
static void test_utf8_runs(void **state)
{
    (void)state;
    struct prop pr = prop_begin("filter_block_utf8");
    struct pl x;
    pl_make(&x, "|~ \"a.c\" |~ \"é|b\"");
    struct buf b = BUF_INIT;
    static struct str lines[256];
    for (int k = 0; k < 50; k++) {
        random_lines(&pr, &b, lines, 256);
        check_same(&pr, &x, lines, 256, "utf8");
    }
    buf_deinit(&b);
    pl_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_straddle),
        cmocka_unit_test(test_random_pipelines),
        cmocka_unit_test(test_utf8_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
