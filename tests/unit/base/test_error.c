/* error: every code has its own non-empty string, -errno maps to the C library's description, and
 * anything else gets a fixed fallback (never NULL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "base/error.h"

static void test_codes_distinct(void **state)
{
    const char *seen[64];
    size_t n = 0;
    seen[n++] = err_str(ERR_OK);
    assert_string_equal(seen[0], "ok");
    for (int code = ERR_BASE - 1; code > ERR_LAST_; code--) {
        const char *s = err_str(code);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        assert_string_not_equal(s, "unknown error");
        for (size_t i = 0; i < n; i++)
            assert_string_not_equal(s, seen[i]);
        seen[n++] = s;
    }
    assert_int_equal(n, 14); /* ERR_OK plus the 13 codes */
    assert_string_equal(err_str(ERR_CORRUPT), "corrupt data");
    assert_string_equal(err_str(ERR_TRUNCATED), "truncated data");
    /* ours never collide with errno values */
    assert_true(ERR_LAST_ < -4096 && ERR_BASE < -4096);
}

static void test_errno(void **state)
{
    static const int errs[] = {EPERM,  ENOENT, EIO,        EAGAIN,    ENOMEM, EINVAL,
                               ENOSPC, EPIPE,  ECONNRESET, ETIMEDOUT, EMFILE};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        const char *s = err_str(-errs[i]);
        assert_non_null(s);
        assert_string_equal(s, strerror(errs[i])); /* C locale: same text */
    }
    assert_string_equal(err_str(-ENOENT), "No such file or directory");
}

static void test_unknown(void **state)
{
    assert_string_equal(err_str(ERR_BASE), "unknown error");
    assert_string_equal(err_str(ERR_LAST_), "unknown error");
    assert_string_equal(err_str(-4096), "unknown error");
    assert_string_equal(err_str(-20000), "unknown error");
    assert_string_equal(err_str(1), "unknown error");
    assert_string_equal(err_str(INT32_MIN), "unknown error");
    assert_string_equal(err_str(-4000), "unknown errno"); /* in errno range but not assigned */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes_distinct),
        cmocka_unit_test(test_errno),
        cmocka_unit_test(test_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
