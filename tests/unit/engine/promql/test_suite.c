/* Every query of the PromQL conformance suite (shared/conformance/promql/eval_index.tsv) parses,
 * and print(parse(q)) parses again to the same printed form. The suite is found through
 * $STRATA_SHARED or ../shared next to the project root (located from __FILE__); the test skips
 * (77) when neither exists. */
#include "promql_helpers.h"

static FILE *open_index(char *path, size_t size)
{
    const char *env = getenv("STRATA_SHARED");
    if (env && *env) {
        snprintf(path, size, "%s/conformance/promql/eval_index.tsv", env);
        FILE *f = fopen(path, "r");
        if (f)
            return f;
    }
    /* __FILE__ is <root>/tests/unit/engine/promql/test_suite.c */
    char root[4096];
    snprintf(root, sizeof root, "%s", __FILE__);
    for (int i = 0; i < 5; i++) {
        char *slash = strrchr(root, '/');
        if (!slash) {
            snprintf(root, sizeof root, "."); /* a relative __FILE__: run from the root */
            break;
        }
        *slash = 0;
    }
    snprintf(path, size, "%s/../shared/conformance/promql/eval_index.tsv", root);
    return fopen(path, "r");
}

/* Returns the 5th tab-separated field (the query) of a line, NUL-terminated in place. */
static char *query_field(char *line)
{
    char *p = line;
    for (int i = 0; i < 4; i++) {
        p = strchr(p, '\t');
        if (!p)
            return NULL;
        p++;
    }
    p[strcspn(p, "\r\n")] = 0;
    return p;
}

static int check_query(const char *q, const char *where)
{
    struct promql_ast *a1, *a2;
    struct promql_error err;
    if (promql_parse(q, strlen(q), NULL, &a1, &err) != 0) {
        char m[700];
        promql_error_format(&err, q, strlen(q), m, sizeof m);
        print_error("%s: %s does not parse: %s\n", where, q, m);
        return 0;
    }
    struct buf s1 = BUF_INIT, s2 = BUF_INIT;
    int ok = promql_print(a1->root, &s1) == 0 && buf_cstr(&s1) == 0;
    if (ok && promql_parse((const char *)s1.data, s1.len, NULL, &a2, &err) == 0) {
        ok = promql_print(a2->root, &s2) == 0 && s1.len == s2.len &&
             memcmp(s1.data, s2.data, s1.len) == 0;
        promql_ast_destroy(a2);
    } else {
        ok = 0;
    }
    if (!ok)
        print_error("%s: %s printed as %s does not round-trip\n", where, q,
                    s1.data ? (const char *)s1.data : "");
    promql_ast_destroy(a1);
    buf_deinit(&s1);
    buf_deinit(&s2);
    return ok;
}

static void test_every_suite_query_parses(void **state)
{
    (void)state;
    char path[4200];
    FILE *f = open_index(path, sizeof path);
    if (!f)
        skip();
    char line[16384];
    int total = 0, good = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        if (lineno++ == 0)
            continue; /* header */
        char *q = query_field(line);
        if (!q)
            continue;
        char where[64];
        snprintf(where, sizeof where, "eval_index.tsv:%d", lineno);
        total++;
        good += check_query(q, where);
    }
    fclose(f);
    printf("promql suite: %d/%d queries parse and round-trip (%s)\n", good, total, path);
    assert_true(total > 2000);
    assert_int_equal(good, total);
}

int main(void)
{
    char path[4200];
    FILE *f = open_index(path, sizeof path);
    if (!f) {
        printf("promql suite not found (set STRATA_SHARED): skipped\n");
        return 77;
    }
    fclose(f);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_suite_query_parses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
