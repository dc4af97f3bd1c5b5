/* Ingest validation: UTF-8 (Go's rules), tenant ids (Cortex/Mimir rules), series label rules and
 * limits with their reasons, the tenant label's sorted insertion with empty values dropped, and the
 * label formatting used in reasons. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "server/validate.h"
#include "tests/unit/prop.h"

#define L(n, v) ((struct label){STR_LIT(n), STR_LIT(v)})

static void test_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t n;
        bool ok;
    } cases[] = {
        {"", 0, true},
        {"plain_ascii", 11, true},
        {"\xc3\xa9", 2, true},                 /* é */
        {"\xe6\x8c\x87\xe6\xa0\x87", 6, true}, /* 指标 */
        {"\xf0\x9f\x98\x80", 4, true},         /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, true},         /* U+10FFFF */
        {"\xc3", 1, false},                    /* truncated */
        {"\xc0\xaf", 2, false},                /* overlong '/' */
        {"\xe0\x80\xaf", 3, false},            /* overlong */
        {"\xed\xa0\x80", 3, false},            /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, false},        /* > U+10FFFF */
        {"\xff", 1, false},
        {"ok\x80", 3, false}, /* stray continuation byte */
        {"a\0b", 3, true},    /* NUL is valid UTF-8 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (validate_utf8(cases[i].s, cases[i].n) != cases[i].ok)
            fail_msg("case %zu", i);
    }
}

static void test_utf8_random_ascii_and_encoded(void **state)
{
    (void)state;
    struct prop p = prop_begin("utf8_encoded_code_points");
    for (int it = 0; it < 20000; it++) {
        uint32_t cp = (uint32_t)(prop_next(&p) % 0x110000);
        if (cp >= 0xd800 && cp <= 0xdfff)
            continue;
        char b[4];
        size_t n;
        if (cp < 0x80) {
            b[0] = (char)cp, n = 1;
        } else if (cp < 0x800) {
            b[0] = (char)(0xc0 | cp >> 6), b[1] = (char)(0x80 | (cp & 63)), n = 2;
        } else if (cp < 0x10000) {
            b[0] = (char)(0xe0 | cp >> 12), b[1] = (char)(0x80 | ((cp >> 6) & 63));
            b[2] = (char)(0x80 | (cp & 63)), n = 3;
        } else {
            b[0] = (char)(0xf0 | cp >> 18), b[1] = (char)(0x80 | ((cp >> 12) & 63));
            b[2] = (char)(0x80 | ((cp >> 6) & 63)), b[3] = (char)(0x80 | (cp & 63)), n = 4;
        }
        prop_check(&p, validate_utf8(b, n));
        if (n > 1)
            prop_check(&p, !validate_utf8(b, n - 1)); /* every proper prefix is truncated */
    }
}

static void test_tenant(void **state)
{
    (void)state;
    assert_null(validate_tenant(STR_LIT("anonymous")));
    assert_null(validate_tenant(STR_LIT("team-a_1.prod")));
    assert_null(validate_tenant(STR_LIT("a!-_.*'()Z9")));
    assert_non_null(validate_tenant(STR_LIT("")));
    assert_non_null(validate_tenant(STR_LIT(".")));
    assert_non_null(validate_tenant(STR_LIT("..")));
    assert_null(validate_tenant(STR_LIT("...")));
    assert_non_null(validate_tenant(STR_LIT("a|b"))); /* federation syntax is not a tenant */
    assert_non_null(validate_tenant(STR_LIT("a b")));
    assert_non_null(validate_tenant(STR_LIT("a/b")));
    assert_non_null(validate_tenant(STR_LIT("t\xc3\xa9")));
    char long_id[VALIDATE_TENANT_BYTES_MAX + 2];
    memset(long_id, 'x', sizeof long_id);
    assert_null(validate_tenant((struct str){long_id, VALIDATE_TENANT_BYTES_MAX}));
    assert_non_null(validate_tenant((struct str){long_id, VALIDATE_TENANT_BYTES_MAX + 1}));
}

static int check(const struct label *ls, size_t n, char *reason)
{
    struct validate_limits lim;
    validate_limits_default(&lim);
    return validate_series(&lim, ls, n, reason, VALIDATE_REASON_MAX);
}

static void test_series_rules(void **state)
{
    (void)state;
    char reason[VALIDATE_REASON_MAX];
    struct label ok[] = {L("__name__", "up"), L("instance", "h:9100"), L("job", "node")};
    assert_int_equal(check(ok, 3, reason), 0);
    assert_string_equal(reason, "");

    /* UTF-8 names are allowed (Prometheus 3) */
    struct label utf[] = {L("__name__", "http.requests"), L("\xe6\x8c\x87", "v"), L("k.a", "")};
    assert_int_equal(check(utf, 3, reason), 0);

    struct label noname[] = {L("job", "node")};
    assert_int_equal(check(noname, 1, reason), ERR_INVALID);
    assert_non_null(strstr(reason, "no metric name"));
    assert_non_null(strstr(reason, "series {job=\"node\"}"));

    struct label emptyname[] = {L("__name__", ""), L("job", "node")}; /* empty = absent */
    assert_int_equal(check(emptyname, 2, reason), ERR_INVALID);
    assert_non_null(strstr(reason, "no metric name"));

    struct label tenant[] = {L("__name__", "up"), L("__tenant__", "evil")};
    assert_int_equal(check(tenant, 2, reason), ERR_INVALID);
    assert_non_null(strstr(reason, "reserved for the tenant"));
    struct label tenant_empty[] = {L("__name__", "up"), L("__tenant__", "")};
    assert_int_equal(check(tenant_empty, 2, reason), 0); /* dropped later, so harmless */

    struct label badname[] = {L("__name__", "up"), L("b\xff", "v")};
    assert_int_equal(check(badname, 2, reason), ERR_INVALID);
    assert_non_null(strstr(reason, "label name is not valid UTF-8: \"b\\xff\""));

    struct label badval[] = {L("__name__", "up"), L("job", "x\xc3")};
    assert_int_equal(check(badval, 2, reason), ERR_INVALID);
    assert_non_null(strstr(reason, "label value is not valid UTF-8 for label \"job\""));

    struct label badmetric[] = {L("__name__", "\xc0\xaf")};
    assert_int_equal(check(badmetric, 1, reason), ERR_INVALID);
}

static void test_series_limits(void **state)
{
    (void)state;
    char reason[VALIDATE_REASON_MAX];
    struct validate_limits lim = {
        .labels_per_series_max = 3, .label_name_bytes_max = 8, .label_value_bytes_max = 4};
    struct label ok[] = {L("__name__", "up"), L("a", "1234"), L("bbbbbbbb", "x"), L("c", "")};
    assert_int_equal(validate_series(&lim, ok, 4, reason, sizeof reason), 0); /* "" not counted */
    struct label many[] = {L("__name__", "up"), L("a", "1"), L("b", "2"), L("c", "3")};
    assert_int_equal(validate_series(&lim, many, 4, reason, sizeof reason), ERR_LIMIT);
    assert_non_null(strstr(reason, "4 labels, more than the limit of 3"));
    struct label longname[] = {L("__name__", "up"), L("ccccccccc", "1")};
    assert_int_equal(validate_series(&lim, longname, 2, reason, sizeof reason), ERR_LIMIT);
    assert_non_null(strstr(reason, "label name longer than the limit"));
    struct label longval[] = {L("__name__", "up"), L("a", "12345")};
    assert_int_equal(validate_series(&lim, longval, 2, reason, sizeof reason), ERR_LIMIT);
    assert_non_null(strstr(reason, "label value longer than the limit"));
    assert_non_null(strstr(reason, "\"a\""));
    /* __name__ counts against the value limit too */
    struct label longmetric[] = {L("__name__", "uptime")};
    assert_int_equal(validate_series(&lim, longmetric, 1, reason, sizeof reason), ERR_LIMIT);
    /* 0 disables every limit */
    struct validate_limits none = {0};
    assert_int_equal(validate_series(&none, longval, 2, reason, sizeof reason), 0);
    assert_int_equal(validate_series(&none, many, 4, reason, sizeof reason), 0);
}

static void test_reason_is_bounded(void **state)
{
    (void)state;
    char big[5000];
    memset(big, 'v', sizeof big);
    struct label ls[40];
    char names[40][16];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "l%02d", i);
        ls[i] = (struct label){str_from_cstr(names[i]), {big, sizeof big}};
    }
    char reason[128];
    assert_int_equal(validate_series(&(struct validate_limits){0}, ls, 40, reason, sizeof reason),
                     ERR_INVALID); /* no __name__ */
    assert_true(strlen(reason) < sizeof reason);
    assert_non_null(strstr(reason, "series {l00=\"vvv"));
}

static void assert_labels(const struct label *got, size_t n, const char *const *want)
{
    for (size_t i = 0; i < n; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.*s=%.*s", (int)got[i].name.len, got[i].name.ptr,
                 (int)got[i].value.len, got[i].value.ptr);
        assert_string_equal(buf, want[i]);
    }
    assert_null(want[n]);
}

static void test_with_tenant(void **state)
{
    (void)state;
    struct label out[8];
    struct str t = STR_LIT("acme");
    struct label a[] = {L("__name__", "up"), L("job", "x")};
    size_t n = validate_labels_with_tenant(a, 2, t, out);
    assert_labels(out, n, (const char *const[]){"__name__=up", "__tenant__=acme", "job=x", NULL});
    /* upper-case names sort before "__" */
    struct label b[] = {L("Zone", "z"), L("__name__", "up")};
    n = validate_labels_with_tenant(b, 2, t, out);
    assert_labels(out, n, (const char *const[]){"Zone=z", "__name__=up", "__tenant__=acme", NULL});
    /* names after __tenant__ only; and empty values dropped */
    struct label c[] = {L("__name__", "up"), L("__t", ""), L("a", "")};
    n = validate_labels_with_tenant(c, 3, t, out);
    assert_labels(out, n, (const char *const[]){"__name__=up", "__tenant__=acme", NULL});
    struct label d[] = {L("__a", "1"), L("__name__", "up"), L("__u", "2")};
    n = validate_labels_with_tenant(d, 3, t, out);
    assert_labels(out, n,
                  (const char *const[]){"__a=1", "__name__=up", "__tenant__=acme", "__u=2", NULL});
}

static void test_fmt_labels(void **state)
{
    (void)state;
    char out[128];
    struct label ls[] = {L("__name__", "up"), L("http.code", "2\"0\n"), L("ok_1:", "\x01")};
    validate_fmt_labels(out, sizeof out, ls, 3);
    assert_string_equal(out, "{__name__=\"up\", \"http.code\"=\"2\\\"0\\n\", ok_1:=\"\\x01\"}");
    char tiny[16];
    validate_fmt_labels(tiny, sizeof tiny, ls, 3);
    assert_true(strlen(tiny) < sizeof tiny);
    assert_non_null(strstr(tiny, "..."));
    validate_fmt_labels(out, sizeof out, ls, 0);
    assert_string_equal(out, "{}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),          cmocka_unit_test(test_utf8_random_ascii_and_encoded),
        cmocka_unit_test(test_tenant),        cmocka_unit_test(test_series_rules),
        cmocka_unit_test(test_series_limits), cmocka_unit_test(test_reason_is_bounded),
        cmocka_unit_test(test_with_tenant),   cmocka_unit_test(test_fmt_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
