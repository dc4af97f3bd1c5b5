/* memindex: postings, label APIs, removal, and selection checked against a brute-force evaluation
 * of Prometheus's matcher semantics (absent label == "") on random series and matchers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "engine/index/memindex.h"
#include "tests/unit/prop.h"

#define L(n, v) ((struct label){STR_LIT(n), STR_LIT(v)})

static struct matcher mk(enum matcher_type t, const char *name, const char *v)
{
    struct matcher m;
    char err[128];
    assert_int_equal(matcher_init(&m, t, str_from_cstr(name), str_from_cstr(v), err, sizeof err),
                     0);
    return m;
}

static uint64_t select_count(struct memindex *ix, struct matcher *ms, size_t n)
{
    roaring_bitmap_t *out = roaring_bitmap_create();
    assert_int_equal(memindex_select(ix, ms, n, out), 0);
    uint64_t c = roaring_bitmap_get_cardinality(out);
    roaring_bitmap_free(out);
    for (size_t i = 0; i < n; i++)
        matcher_deinit(&ms[i]);
    return c;
}

static void test_select_and_labels(void **state)
{
    struct memindex ix;
    assert_int_equal(memindex_init(&ix), 0);
    struct label s0[] = {L("__name__", "up"), L("job", "api")};
    struct label s1[] = {L("__name__", "up"), L("job", "db"), L("zone", "a")};
    struct label s2[] = {L("__name__", "cpu"), L("job", "api"), L("zone", "")};
    assert_int_equal(memindex_add(&ix, 0, s0, 2), 0);
    assert_int_equal(memindex_add(&ix, 1, s1, 3), 0);
    assert_int_equal(memindex_add(&ix, 2, s2, 3), 0);
    assert_int_equal(memindex_series(&ix), 3);

    struct matcher a[] = {mk(MATCHER_EQ, "__name__", "up")};
    assert_int_equal(select_count(&ix, a, 1), 2);
    struct matcher b[] = {mk(MATCHER_EQ, "__name__", "up"), mk(MATCHER_NEQ, "job", "api")};
    assert_int_equal(select_count(&ix, b, 2), 1);
    struct matcher c[] = {mk(MATCHER_EQ, "zone", "")}; /* absent or empty */
    assert_int_equal(select_count(&ix, c, 1), 2);
    struct matcher d[] = {mk(MATCHER_NEQ, "zone", "")};
    assert_int_equal(select_count(&ix, d, 1), 1);
    struct matcher e[] = {mk(MATCHER_RE, "job", "a.*|d.*"), mk(MATCHER_NRE, "__name__", "cpu")};
    assert_int_equal(select_count(&ix, e, 2), 2);
    struct matcher f[] = {mk(MATCHER_RE, "__name__", ".*")};
    assert_int_equal(select_count(&ix, f, 1), 3);
    struct matcher g[] = {mk(MATCHER_NRE, "__name__", ".*")};
    assert_int_equal(select_count(&ix, g, 1), 0);

    struct str *names;
    size_t n;
    assert_int_equal(memindex_label_names(&ix, NULL, &names, &n), 0);
    assert_int_equal(n, 3);
    assert_true(str_eq_cstr(names[0], "__name__") && str_eq_cstr(names[2], "zone"));
    free(names);
    roaring_bitmap_t *only0 = roaring_bitmap_of(1, 0);
    assert_int_equal(memindex_label_names(&ix, only0, &names, &n), 0);
    assert_int_equal(n, 2);
    free(names);
    assert_int_equal(memindex_label_values(&ix, STR_LIT("job"), NULL, &names, &n), 0);
    assert_int_equal(n, 2);
    assert_true(str_eq_cstr(names[0], "api") && str_eq_cstr(names[1], "db"));
    free(names);
    assert_int_equal(memindex_label_values(&ix, STR_LIT("job"), only0, &names, &n), 0);
    assert_int_equal(n, 1);
    free(names);
    roaring_bitmap_free(only0);

    memindex_remove(&ix, 1, s1, 3);
    assert_int_equal(memindex_series(&ix), 2);
    assert_null(memindex_postings(&ix, STR_LIT("job"), STR_LIT("db")));
    assert_int_equal(memindex_label_values(&ix, STR_LIT("zone"), NULL, &names, &n), 0);
    assert_int_equal(n, 1); /* only "" left */
    free(names);
    assert_true(memindex_bytes(&ix) > 0);
    memindex_deinit(&ix);
}

#define SERIES 300
#define NAMES  4

static const char *value_of(const int *vals, int name)
{
    static const char *const vs[] = {"", "a", "b", "ab", "ba", "c"};
    return vals[name] < 0 ? "" : vs[vals[name]];
}

static void test_select_matches_brute_force(void **state)
{
    struct prop p = prop_begin("memindex_select");
    static const char *const names[NAMES] = {"n0", "n1", "n2", "n3"};
    static int vals[SERIES][NAMES]; /* -1 = label absent */
    struct memindex ix;
    assert_int_equal(memindex_init(&ix), 0);
    for (int s = 0; s < SERIES; s++) {
        struct label ls[NAMES];
        size_t k = 0;
        for (int nm = 0; nm < NAMES; nm++) {
            vals[s][nm] = (int)(prop_next(&p) % 7) - 1;
            if (vals[s][nm] >= 0)
                ls[k++] =
                    (struct label){str_from_cstr(names[nm]), str_from_cstr(value_of(vals[s], nm))};
        }
        assert_int_equal(memindex_add(&ix, (uint32_t)s, ls, k), 0);
    }
    static const char *const pats[] = {"", "a", "a|b", ".*", ".+", "a.*", ".*a", "b|", "[ab]+"};
    roaring_bitmap_t *out = roaring_bitmap_create();
    for (int q = 0; q < 400; q++) {
        struct matcher ms[3];
        size_t n = 1 + prop_next(&p) % 3;
        for (size_t i = 0; i < n; i++)
            ms[i] = mk((enum matcher_type)(prop_next(&p) % 4), names[prop_next(&p) % NAMES],
                       pats[prop_next(&p) % 9]);
        assert_int_equal(memindex_select(&ix, ms, n, out), 0);
        for (int s = 0; s < SERIES; s++) {
            bool want = true;
            for (size_t i = 0; i < n; i++) {
                int nm = ms[i].name.ptr[1] - '0';
                want = want && matcher_matches(&ms[i], str_from_cstr(value_of(vals[s], nm)));
            }
            prop_check(&p, roaring_bitmap_contains(out, (uint32_t)s) == want);
        }
        for (size_t i = 0; i < n; i++)
            matcher_deinit(&ms[i]);
    }
    roaring_bitmap_free(out);
    memindex_deinit(&ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_and_labels),
        cmocka_unit_test(test_select_matches_brute_force),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
