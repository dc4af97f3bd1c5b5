/* Prometheus API envelope: the error body (byte-exact, Go's HTML-safe escaping), error type names
 * and HTTP statuses, the mapping of error codes to types, and success envelopes with warnings and
 * infos capped at 10 each plus the "N more ... annotations omitted" line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "base/error.h"
#include "formats/jsonw.h"
#include "server/api_prom.h"

static void body_is(struct buf *b, const char *want)
{
    assert_int_equal(b->len, strlen(want));
    assert_memory_equal(b->data, want, b->len);
}

static void test_error_body(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    assert_int_equal(prom_error_body(&b, PROM_ERR_BAD_DATA,
                                     "invalid parameter \"query\": 1:5: parse error: unexpected "
                                     "<op:+>"),
                     0);
    body_is(&b, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
                "\\\"query\\\": 1:5: parse error: unexpected \\u003cop:+\\u003e\"}");
    assert_int_equal(prom_error_body(&b, PROM_ERR_TIMEOUT, "query timed out"), 0);
    body_is(&b, "{\"status\":\"error\",\"errorType\":\"timeout\",\"error\":\"query timed out\"}");
    buf_deinit(&b);
}

static void test_types(void **state)
{
    (void)state;
    static const struct {
        enum prom_error_type t;
        const char *name;
        int status;
    } cases[] = {
        {PROM_ERR_BAD_DATA, "bad_data", 400},   {PROM_ERR_EXECUTION, "execution", 422},
        {PROM_ERR_CANCELED, "canceled", 499},   {PROM_ERR_TIMEOUT, "timeout", 503},
        {PROM_ERR_INTERNAL, "internal", 500},   {PROM_ERR_UNAVAILABLE, "unavailable", 503},
        {PROM_ERR_NOT_FOUND, "not_found", 404},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_string_equal(prom_error_type_str(cases[i].t), cases[i].name);
        assert_int_equal(prom_error_status(cases[i].t), cases[i].status);
    }
    assert_int_equal(prom_error_type_of(-ETIMEDOUT), PROM_ERR_TIMEOUT);
    assert_int_equal(prom_error_type_of(-ECANCELED), PROM_ERR_CANCELED);
    assert_int_equal(prom_error_type_of(ERR_LIMIT), PROM_ERR_EXECUTION);
    assert_int_equal(prom_error_type_of(ERR_INVALID), PROM_ERR_EXECUTION);
    assert_int_equal(prom_error_type_of(ERR_CORRUPT), PROM_ERR_INTERNAL);
    assert_int_equal(prom_error_type_of(ERR_NOMEM), PROM_ERR_INTERNAL);
    assert_int_equal(prom_error_type_of(-EIO), PROM_ERR_INTERNAL);
}

static void envelope(struct buf *b, const struct prom_annos *a, const char *data)
{
    struct jsonw w;
    buf_reset(b);
    jsonw_init(&w, b);
    prom_envelope_begin(&w);
    jsonw_raw(&w, data, strlen(data));
    prom_envelope_end(&w, a);
    assert_int_equal(jsonw_finish(&w), 0);
}

static void test_success_envelope(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    envelope(&b, NULL, "{\"resultType\":\"scalar\",\"result\":[4,\"2\"]}");
    body_is(&b,
            "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[4,\"2\"]}}");
    struct prom_annos a = {0};
    envelope(&b, &a, "[]");
    body_is(&b, "{\"status\":\"success\",\"data\":[]}");
    prom_annos_add(&a, true, "results truncated due to limit");
    prom_annos_add(&a, false, "PromQL info: metric might not be a counter (1:6)");
    envelope(&b, &a, "[]");
    body_is(&b, "{\"status\":\"success\",\"data\":[],\"warnings\":[\"results truncated due to "
                "limit\"],\"infos\":[\"PromQL info: metric might not be a counter (1:6)\"]}");
    buf_deinit(&b);
}

static void test_annotation_caps(void **state)
{
    (void)state;
    struct prom_annos a = {0};
    for (int i = 0; i < 13; i++)
        prom_annos_add(&a, true, "w");
    for (int i = 0; i < 11; i++)
        prom_annos_add(&a, false, "<i>");
    assert_int_equal(a.nwarn, 10);
    assert_int_equal(a.warn_more, 3);
    assert_int_equal(a.ninfo, 10);
    assert_int_equal(a.info_more, 1);
    struct buf b;
    buf_init(&b);
    envelope(&b, &a, "null");
    const char *s = (const char *)b.data;
    assert_non_null(strstr(s, "\"w\",\"3 more warning annotations omitted\"]"));
    assert_non_null(strstr(s, "\"\\u003ci\\u003e\",\"1 more info annotations omitted\"]}"));
    buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_body),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_success_envelope),
        cmocka_unit_test(test_annotation_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
