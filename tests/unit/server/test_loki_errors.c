/* The status each error class of the Loki query API gets (server/api_loki_query.h,
 * loki_fail_rc), as Loki's WriteError: canceled 499, deadline 504, limits / invalid queries /
 * pipeline errors 400, everything else (a binary operation's duplicate series, no memory) 500;
 * the first error wins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "base/error.h"
#include "server/api_loki_query.h"

static void expect(int rc, const char *msg, int status, const char *want)
{
    struct loki_req r;
    memset(&r, 0, sizeof r);
    loki_fail_rc(&r, rc, msg);
    assert_true(r.failed);
    assert_int_equal(r.status, status);
    assert_string_equal(r.err, want);
}

static void test_classes(void **state)
{
    (void)state;
    expect(-ECANCELED, "reading entries: x", 499, "the request was cancelled by the client");
    expect(ERR_CLOSED, NULL, 499, "the request was cancelled by the client");
    expect(-ETIMEDOUT, NULL, 504,
           "request timed out, decrease the duration of the request or add more label matchers "
           "(prefer exact match over regex match) to reduce the amount of data processed");
    expect(ERR_INVALID, "parse error at line 1, col 2: x", 400, "parse error at line 1, col 2: x");
    expect(ERR_INVALID, "maximum number of series (2) reached for a single query", 400,
           "maximum number of series (2) reached for a single query");
    expect(ERR_INVALID, "pipeline error: 'SampleExtractionErr' for series", 400,
           "pipeline error: 'SampleExtractionErr' for series");
    expect(ERR_LIMIT, "", 400, err_str(ERR_LIMIT));
    expect(ERR_DUPLICATE, "found duplicate series on the right hand-side", 500,
           "found duplicate series on the right hand-side");
    expect(ERR_NOMEM, NULL, 500, err_str(ERR_NOMEM));
}

static void test_first_wins(void **state)
{
    (void)state;
    struct loki_req r;
    memset(&r, 0, sizeof r);
    loki_fail_rc(&r, ERR_DUPLICATE, "first");
    loki_fail_rc(&r, -ETIMEDOUT, NULL);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.err, "first");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_first_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
