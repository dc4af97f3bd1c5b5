/* Field detection (detected_fields): Loki's type rules value by value, json then logfmt parsing,
 * structured metadata, name clashes with stream labels, cardinality and distinct values, limits,
 * and a randomized distinct-count check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "base/str.h"
#include "engine/logql/detect.h"
#include "tests/unit/prop.h"

static enum logql_field_type ty(const char *s)
{
    return logql_field_type_of(str_from_cstr(s));
}

static void test_types(void **state)
{
    (void)state;
    assert_int_equal(ty("42"), LOGQL_FIELD_INT);
    assert_int_equal(ty("-9223372036854775808"), LOGQL_FIELD_INT);
    assert_int_equal(ty("9223372036854775808"), LOGQL_FIELD_FLOAT); /* overflows int64 */
    assert_int_equal(ty("+7"), LOGQL_FIELD_INT);
    assert_int_equal(ty("1.5"), LOGQL_FIELD_FLOAT);
    assert_int_equal(ty("1e3"), LOGQL_FIELD_FLOAT);
    assert_int_equal(ty(".5"), LOGQL_FIELD_FLOAT);
    assert_int_equal(ty("NaN"), LOGQL_FIELD_FLOAT);
    assert_int_equal(ty("-Inf"), LOGQL_FIELD_FLOAT);
    assert_int_equal(ty("1e400"), LOGQL_FIELD_STRING); /* Go: out of range is an error */
    assert_int_equal(ty("true"), LOGQL_FIELD_BOOLEAN);
    assert_int_equal(ty("False"), LOGQL_FIELD_BOOLEAN);
    assert_int_equal(ty("T"), LOGQL_FIELD_BOOLEAN);
    assert_int_equal(ty("yes"), LOGQL_FIELD_STRING);
    assert_int_equal(ty("10ms"), LOGQL_FIELD_DURATION);
    assert_int_equal(ty("1h30m"), LOGQL_FIELD_DURATION);
    assert_int_equal(ty("-1.5s"), LOGQL_FIELD_DURATION);
    assert_int_equal(ty("3\xc2\xb5s"), LOGQL_FIELD_DURATION);
    assert_int_equal(ty("5m"), LOGQL_FIELD_DURATION); /* before bytes, as Loki checks */
    assert_int_equal(ty("1d"), LOGQL_FIELD_STRING);
    assert_int_equal(ty("h"), LOGQL_FIELD_STRING);
    assert_int_equal(ty("10KB"), LOGQL_FIELD_BYTES);
    assert_int_equal(ty("1.5 GiB"), LOGQL_FIELD_BYTES);
    assert_int_equal(ty("5k"), LOGQL_FIELD_BYTES);
    assert_int_equal(ty("1,024 b"), LOGQL_FIELD_BYTES);
    assert_int_equal(ty("10 parsecs"), LOGQL_FIELD_STRING);
    assert_int_equal(ty(""), LOGQL_FIELD_STRING);
    assert_int_equal(ty(" 1"), LOGQL_FIELD_STRING);
    assert_int_equal(ty("GET"), LOGQL_FIELD_STRING);
    assert_string_equal(logql_field_type_name(LOGQL_FIELD_BOOLEAN), "boolean");
    assert_string_equal(logql_field_type_name(LOGQL_FIELD_BYTES), "bytes");
}

static const struct label stream[] = {{STR_LIT("app"), STR_LIT("web")},
                                      {STR_LIT("level"), STR_LIT("x")}};

static void add(struct logql_detect *d, const char *line, const struct label *meta, size_t nm)
{
    struct logql_entry e = {
        .ts_ns = 1,
        .line = str_from_cstr(line),
        .stream = stream,
        .n_stream = 2,
        .meta = meta,
        .n_meta = nm,
    };
    assert_int_equal(logql_detect_add(d, &e), 0);
}

static struct logql_detected_field get(struct logql_detect *d, const char *name)
{
    struct logql_detected_field f;
    if (!logql_detect_find(d, str_from_cstr(name), &f))
        fail_msg("field %s not detected", name);
    return f;
}

static void test_json_logfmt_metadata(void **state)
{
    (void)state;
    struct logql_detect *d;
    assert_int_equal(logql_detect_create(NULL, &d), 0);
    const struct label md[] = {{STR_LIT("trace_id"), STR_LIT("abc")}};
    add(d, "{\"status\":200,\"dur\":\"15ms\",\"req\":{\"path\":\"/a\"},\"level\":\"info\"}", md, 1);
    add(d, "{\"status\":404,\"dur\":\"1s\",\"req\":{\"path\":\"/b\"}}", NULL, 0);
    add(d, "ts=1 status=500 size=10KB ok=true msg=\"hello world\"", NULL, 0);
    add(d, "plain text that is neither", NULL, 0);
    struct logql_detected_field f = get(d, "status");
    assert_int_equal(f.type, LOGQL_FIELD_INT);
    assert_int_equal(f.cardinality, 3);
    assert_int_equal(f.parsers, LOGQL_PARSER_JSON | LOGQL_PARSER_LOGFMT);
    f = get(d, "dur");
    assert_int_equal(f.type, LOGQL_FIELD_DURATION);
    assert_int_equal(f.parsers, LOGQL_PARSER_JSON);
    f = get(d, "req_path");
    assert_int_equal(f.cardinality, 2);
    assert_int_equal(f.n_values, 2);
    assert_true(str_eq_cstr(f.values[0], "/a") && str_eq_cstr(f.values[1], "/b"));
    f = get(d, "level_extracted"); /* clashes with the stream label */
    assert_int_equal(f.cardinality, 1);
    f = get(d, "size");
    assert_int_equal(f.type, LOGQL_FIELD_BYTES);
    assert_int_equal(f.parsers, LOGQL_PARSER_LOGFMT);
    assert_int_equal(get(d, "ok").type, LOGQL_FIELD_BOOLEAN);
    assert_int_equal(get(d, "msg").type, LOGQL_FIELD_STRING);
    f = get(d, "trace_id");
    assert_int_equal(f.parsers, 0);
    assert_int_equal(f.cardinality, 1);
    struct logql_detected_field none;
    assert_false(logql_detect_find(d, STR_LIT("__error__"), &none));
    assert_false(logql_detect_find(d, STR_LIT("app"), &none)); /* stream labels are not fields */
    /* first-seen order */
    logql_detect_field(d, 0, &f);
    assert_true(str_eq_cstr(f.name, "trace_id"));
    logql_detect_destroy(d);
}

static void test_type_follows_latest_entry(void **state)
{
    (void)state;
    struct logql_detect *d;
    assert_int_equal(logql_detect_create(NULL, &d), 0);
    add(d, "v=1", NULL, 0);
    assert_int_equal(get(d, "v").type, LOGQL_FIELD_INT);
    add(d, "v=abc", NULL, 0);
    assert_int_equal(get(d, "v").type, LOGQL_FIELD_STRING);
    add(d, "v=2.5", NULL, 0);
    assert_int_equal(get(d, "v").type, LOGQL_FIELD_FLOAT);
    assert_int_equal(get(d, "v").cardinality, 3);
    logql_detect_destroy(d);
}

static void test_limits(void **state)
{
    (void)state;
    struct logql_detect_opts o = {.field_limit = 3, .values_max = 5};
    struct logql_detect *d;
    assert_int_equal(logql_detect_create(&o, &d), 0);
    char line[128];
    for (int i = 0; i < 20; i++) {
        snprintf(line, sizeof line, "a=%d b=x c=y d=z e=%d", i, i);
        add(d, line, NULL, 0);
    }
    assert_int_equal(logql_detect_count(d), 3);
    struct logql_detected_field f = get(d, "a");
    assert_int_equal(f.cardinality, 20);
    assert_int_equal(f.n_values, 5);
    struct logql_detected_field none;
    assert_false(logql_detect_find(d, STR_LIT("d"), &none));
    logql_detect_destroy(d);
}

static void test_cardinality_random(void **state)
{
    (void)state;
    struct prop p = prop_begin("detect_cardinality");
    struct logql_detect *d;
    assert_int_equal(logql_detect_create(NULL, &d), 0);
    static bool seen[500];
    memset(seen, 0, sizeof seen);
    size_t distinct = 0;
    char line[64];
    for (int i = 0; i < 3000; i++) {
        unsigned v = (unsigned)(prop_next(&p) % 500);
        if (!seen[v]) {
            seen[v] = true;
            distinct++;
        }
        snprintf(line, sizeof line, "{\"k\":\"v%u\"}", v);
        add(d, line, NULL, 0);
    }
    struct logql_detected_field f = get(d, "k");
    prop_check(&p, f.cardinality == distinct && f.n_values == distinct);
    logql_detect_destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_json_logfmt_metadata),
        cmocka_unit_test(test_type_follows_latest_entry),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_cardinality_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
