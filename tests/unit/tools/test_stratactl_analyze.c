/* stratactl inspect: cardinality analysis (tools/stratactl/analyze.c): golden top lists with
 * ties, truncation, empty input, long labels, and a randomized comparison with a naive count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/prop.h"
#include "tools/stratactl/analyze.c"

#define L(n, v) ((struct label){STR_LIT(n), STR_LIT(v)})

static void add(struct ctl_analysis *a, const struct label *l, size_t n)
{
    assert_int_equal(ctl_analysis_add(a, l, n), 0);
}

/* Asserts the kind's top k as "key=count" strings joined by spaces. */
static void expect_top(const struct ctl_analysis *a, enum ctl_top_kind kind, size_t k,
                       const char *want)
{
    struct ctl_top_entry *e;
    size_t n;
    assert_int_equal(ctl_analysis_top(a, kind, k, &e, &n), 0);
    char got[1024] = "";
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (kind == CTL_TOP_VALUE_LENGTHS)
            len +=
                (size_t)snprintf(got + len, sizeof got - len, "%s%llu=%llu", i ? " " : "",
                                 (unsigned long long)e[i].length, (unsigned long long)e[i].count);
        else if (kind == CTL_TOP_PAIR_SERIES)
            len += (size_t)snprintf(got + len, sizeof got - len, "%s%.*s:%.*s=%llu", i ? " " : "",
                                    (int)e[i].name.len, e[i].name.ptr, (int)e[i].value.len,
                                    e[i].value.ptr, (unsigned long long)e[i].count);
        else
            len +=
                (size_t)snprintf(got + len, sizeof got - len, "%s%.*s=%llu", i ? " " : "",
                                 (int)e[i].name.len, e[i].name.ptr, (unsigned long long)e[i].count);
    }
    free(e);
    assert_string_equal(got, want);
}

static void golden_fill(struct ctl_analysis *a)
{
    struct label s1[] = {L("__name__", "up"), L("instance", "a:9100"), L("job", "node")};
    struct label s2[] = {L("__name__", "up"), L("instance", "b:9100"), L("job", "node")};
    struct label s3[] = {L("__name__", "cpu"), L("instance", "a:9100"), L("job", "node"),
                         L("mode", "idle")};
    struct label s4[] = {L("__name__", "cpu"), L("instance", "a:9100"), L("job", "node"),
                         L("mode", "user")};
    struct label s5[] = {L("__name__", "mem"), L("job", "x")};
    add(a, s1, 3);
    add(a, s2, 3);
    add(a, s3, 4);
    add(a, s4, 4);
    add(a, s5, 2);
}

static void test_golden(void **state)
{
    (void)state;
    struct ctl_analysis a;
    ctl_analysis_init(&a);
    golden_fill(&a);
    assert_int_equal(a.series, 5);
    assert_int_equal(a.label_refs, 16);
    assert_int_equal(ctl_analysis_names(&a), 4);
    /* __name__ {up,cpu,mem} instance {a,b} job {node,x} mode {idle,user} */
    assert_int_equal(ctl_analysis_pairs(&a), 9);
    expect_top(&a, CTL_TOP_LABEL_VALUES, 20, "__name__=3 instance=2 job=2 mode=2");
    expect_top(&a, CTL_TOP_LABEL_SERIES, 20, "__name__=5 job=5 instance=4 mode=2");
    expect_top(&a, CTL_TOP_METRIC_SERIES, 20, "cpu=2 up=2 mem=1");
    expect_top(&a, CTL_TOP_PAIR_SERIES, 3, "job:node=4 instance:a:9100=3 __name__:cpu=2");
    /* distinct values by length: up 2, cpu 3, mem 3, a:9100 6, b:9100 6, node 4, x 1, idle 4,
     * user 4 */
    expect_top(&a, CTL_TOP_VALUE_LENGTHS, 20, "4=3 3=2 6=2 1=1 2=1");
    expect_top(&a, CTL_TOP_LABEL_VALUE_BYTES, 20, "instance=12 __name__=8 mode=8 job=5");
    ctl_analysis_deinit(&a);
}

static void test_truncation_and_empty(void **state)
{
    (void)state;
    struct ctl_analysis a;
    ctl_analysis_init(&a);
    struct ctl_top_entry *e = (void *)1;
    size_t n = 99;
    for (int k = 0; k < CTL_TOP_KINDS_; k++) {
        assert_int_equal(ctl_analysis_top(&a, (enum ctl_top_kind)k, 10, &e, &n), 0);
        assert_null(e);
        assert_int_equal(n, 0);
    }
    golden_fill(&a);
    expect_top(&a, CTL_TOP_LABEL_VALUES, 1, "__name__=3");
    assert_int_equal(ctl_analysis_top(&a, CTL_TOP_LABEL_SERIES, 0, &e, &n), 0);
    assert_null(e);
    assert_int_equal(n, 0);
    /* a series without labels counts as a series and nothing else */
    add(&a, NULL, 0);
    assert_int_equal(a.series, 6);
    assert_int_equal(ctl_analysis_names(&a), 4);
    ctl_analysis_deinit(&a);
}

static void test_long_and_odd_labels(void **state)
{
    (void)state;
    struct ctl_analysis a;
    ctl_analysis_init(&a);
    char *big = malloc(5000);
    assert_non_null(big);
    memset(big, 'v', 5000);
    struct label l[] = {{STR_LIT("__name__"), STR_LIT("m")},
                        {STR_LIT("big"), {big, 5000}},
                        {STR_LIT("empty"), {"", 0}}};
    add(&a, l, 3);
    big[4999] = 'w'; /* another distinct value of the same length */
    add(&a, l, 3);
    free(big); /* the analysis holds copies */
    expect_top(&a, CTL_TOP_LABEL_VALUES, 5, "big=2 __name__=1 empty=1");
    expect_top(&a, CTL_TOP_VALUE_LENGTHS, 5, "5000=2 0=1 1=1");
    expect_top(&a, CTL_TOP_LABEL_VALUE_BYTES, 1, "big=10000");
    /* a name and value that would collide if pairs were keyed by plain concatenation */
    struct label x[] = {{STR_LIT("ab"), STR_LIT("c")}};
    struct label y[] = {{STR_LIT("a"), STR_LIT("bc")}};
    add(&a, x, 1);
    add(&a, y, 1);
    expect_top(&a, CTL_TOP_PAIR_SERIES, 3, "__name__:m=2 empty:=2 a:bc=1");
    ctl_analysis_deinit(&a);
}

/* ---- randomized: compare with a naive count ---- */

#define R_SERIES 300
#define R_NAMES  6
#define R_VALUES 9

struct r_series {
    char vals[R_NAMES][8];
    bool has[R_NAMES];
};

static const char *const r_names[R_NAMES] = {"__name__", "a", "b", "c", "dd", "e"};

static uint64_t naive_name(const struct r_series *s, size_t n, int nm, enum ctl_top_kind kind)
{
    uint64_t series = 0, values = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (!s[i].has[nm])
            continue;
        series++;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = s[j].has[nm] && strcmp(s[j].vals[nm], s[i].vals[nm]) == 0;
        if (!seen) {
            values++;
            bytes += strlen(s[i].vals[nm]);
        }
    }
    return kind == CTL_TOP_LABEL_VALUES ? values : kind == CTL_TOP_LABEL_SERIES ? series : bytes;
}

static uint64_t naive_pair(const struct r_series *s, size_t n, int nm, const char *v)
{
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += s[i].has[nm] && strcmp(s[i].vals[nm], v) == 0;
    return c;
}

static void r_gen(struct prop *p, struct r_series *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < R_NAMES; k++) {
            s[i].has[k] = k == 0 || prop_next(p) % 3 != 0;
            size_t len = prop_next(p) % 4; /* "", "x", "xy", ... */
            uint64_t v = prop_next(p) % R_VALUES;
            for (size_t j = 0; j < len; j++)
                s[i].vals[k][j] = (char)('a' + (v + j) % R_VALUES);
            s[i].vals[k][len] = '\0';
        }
    }
}

static void test_random_vs_naive(void **state)
{
    (void)state;
    struct prop p = prop_begin("stratactl_analysis_naive");
    static struct r_series s[R_SERIES];
    for (int round = 0; round < 5; round++) {
        size_t n = 1 + prop_next(&p) % R_SERIES;
        r_gen(&p, s, n);
        struct ctl_analysis a;
        ctl_analysis_init(&a);
        for (size_t i = 0; i < n; i++) {
            struct label l[R_NAMES];
            size_t nl = 0;
            for (int k = 0; k < R_NAMES; k++)
                if (s[i].has[k])
                    l[nl++] =
                        (struct label){str_from_cstr(r_names[k]), str_from_cstr(s[i].vals[k])};
            add(&a, l, nl); /* duplicates are fine: the analysis counts what it is given */
        }
        prop_check(&p, a.series == n);
        enum ctl_top_kind kinds[] = {CTL_TOP_LABEL_VALUES, CTL_TOP_LABEL_SERIES,
                                     CTL_TOP_LABEL_VALUE_BYTES};
        for (size_t ki = 0; ki < 3; ki++) {
            struct ctl_top_entry *e;
            size_t ne;
            assert_int_equal(ctl_analysis_top(&a, kinds[ki], 100, &e, &ne), 0);
            for (size_t i = 0; i < ne; i++) {
                int nm = 0;
                while (nm < R_NAMES && !str_eq_cstr(e[i].name, r_names[nm]))
                    nm++;
                prop_check(&p, nm < R_NAMES);
                prop_check(&p, e[i].count == naive_name(s, n, nm, kinds[ki]));
                prop_check(&p, i == 0 || e[i - 1].count >= e[i].count);
            }
            free(e);
        }
        struct ctl_top_entry *e;
        size_t ne;
        assert_int_equal(ctl_analysis_top(&a, CTL_TOP_PAIR_SERIES, 5, &e, &ne), 0);
        for (size_t i = 0; i < ne; i++) {
            int nm = 0;
            while (nm < R_NAMES && !str_eq_cstr(e[i].name, r_names[nm]))
                nm++;
            char v[8];
            snprintf(v, sizeof v, "%.*s", (int)e[i].value.len, e[i].value.ptr);
            prop_check(&p, e[i].count == naive_pair(s, n, nm, v));
            prop_check(&p, i == 0 || e[i - 1].count >= e[i].count);
        }
        free(e);
        ctl_analysis_deinit(&a);
    }
}

static void test_keys_and_titles(void **state)
{
    (void)state;
    for (int k = 0; k < CTL_TOP_KINDS_; k++) {
        assert_string_not_equal(ctl_top_key((enum ctl_top_kind)k), "unknown");
        assert_string_not_equal(ctl_top_title((enum ctl_top_kind)k), "unknown");
    }
    assert_string_equal(ctl_top_key(CTL_TOP_LABEL_VALUES), "highest_cardinality_labels");
    assert_string_equal(ctl_top_key(CTL_TOP_KINDS_), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_truncation_and_empty),
        cmocka_unit_test(test_long_and_odd_labels),
        cmocka_unit_test(test_random_vs_naive),
        cmocka_unit_test(test_keys_and_titles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
