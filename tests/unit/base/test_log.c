/* log: exact log_format lines (quoting, escaping, every field type, shard tag, truncation of huge
 * values and tiny buffers), level parsing and filtering, and log_emit through a pipe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"

#define T0 1700000000123456789ll /* 2023-11-14T22:13:20.123Z */

static char line[4096];

static const char *fmt(int shard, const char *msg, const struct log_field *f)
{
    int n = log_format(line, sizeof line, T0, LOG_INFO, shard, msg, f);
    assert_int_equal(n, (int)strlen(line));
    return line;
}

#define F(...) ((const struct log_field[]){__VA_ARGS__, {.key = 0}})

static void test_basic(void **state)
{
    assert_string_equal(fmt(-1, "hello", NULL),
                        "ts=2023-11-14T22:13:20.123Z level=info msg=hello\n");
    assert_string_equal(fmt(3, "hello", NULL),
                        "ts=2023-11-14T22:13:20.123Z level=info shard=3 msg=hello\n");
    assert_string_equal(
        fmt(0, "listening", F(LOG_STR("addr", ":9090"))),
        "ts=2023-11-14T22:13:20.123Z level=info shard=0 msg=listening addr=:9090\n");
    static const char *levels[] = {"debug", "info", "warn", "error"};
    for (int l = LOG_DEBUG; l <= LOG_ERROR; l++) {
        char want[128];
        snprintf(want, sizeof want, "ts=1970-01-01T00:00:00.000Z level=%s msg=x\n", levels[l]);
        log_format(line, sizeof line, 0, (enum log_level)l, -1, "x", NULL);
        assert_string_equal(line, want);
    }
}

static void test_quoting(void **state)
{
    struct {
        const char *in, *want;
    } cases[] = {
        {"plain", "v=plain"},
        {"", "v=\"\""},
        {"two words", "v=\"two words\""},
        {"a=b", "v=\"a=b\""},
        {"say \"hi\"", "v=\"say \\\"hi\\\"\""},
        {"back\\slash", "v=\"back\\\\slash\""},
        {"line1\nline2", "v=\"line1\\nline2\""},
        {"tab\there", "v=\"tab\\x09here\""},
        {"bell\x07", "v=\"bell\\x07\""},
        {"del\x7f", "v=\"del\\x7f\""},
        {"caf\xc3\xa9", "v=caf\xc3\xa9"}, /* UTF-8 passes through unquoted */
        {"/path/x?y=1", "v=\"/path/x?y=1\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fmt(-1, "m", F(LOG_STR("v", cases[i].in)));
        const char *v = strstr(line, " v=");
        assert_non_null(v);
        char want[256];
        snprintf(want, sizeof want, " %s\n", cases[i].want);
        assert_string_equal(v, want);
    }
    /* the message is quoted by the same rules; NULL string values print null */
    assert_string_equal(fmt(-1, "two words", F(LOG_STR("s", NULL))),
                        "ts=2023-11-14T22:13:20.123Z level=info msg=\"two words\" s=null\n");
}

static void test_field_types(void **state)
{
    const char bytes[] = {'a', 'b', 0, 'c'};
    fmt(-1, "m",
        F(LOG_STRN("n", "abcdef", 3), LOG_STRN("z", bytes, 4), LOG_INT("i", -42),
          LOG_INT("imin", INT64_MIN), LOG_UINT("u", UINT64_MAX), LOG_F64("f", 1.5),
          LOG_F64("g", 1e300), LOG_F64("h", -0.000123456789), LOG_F64("nan", NAN),
          LOG_F64("pinf", INFINITY), LOG_F64("ninf", -INFINITY), LOG_ERR(ERR_CORRUPT)));
    assert_string_equal(strstr(line, " n="),
                        " n=abc z=\"ab\\x00c\" i=-42 imin=-9223372036854775808 "
                        "u=18446744073709551615 f=1.5 g=1e+300 h=-0.000123457 nan=NaN pinf=+Inf "
                        "ninf=-Inf err=\"corrupt data\"\n");
}

static void test_truncation(void **state)
{
    static char huge[10000];
    memset(huge, 'x', sizeof huge - 1);
    char out[4096];
    int n = log_format(out, sizeof out, T0, LOG_WARN, 1, "big", F(LOG_STR("v", huge)));
    assert_true(n > 0 && n < (int)sizeof out);
    assert_int_equal(n, (int)strlen(out)); /* NUL-terminated within the buffer */
    assert_int_equal(out[n - 1], '\n');    /* still one complete line */
    assert_int_equal(n, (int)sizeof out - 1);
    assert_true(strncmp(out, "ts=2023-11-14T22:13:20.123Z level=warn shard=1 msg=big v=xxx", 60) ==
                0);
    /* a huge quoted value is cut too, and fields after it are dropped */
    huge[100] = ' ';
    n = log_format(out, 200, T0, LOG_WARN, -1, "big", F(LOG_STR("v", huge), LOG_INT("after", 1)));
    assert_int_equal(n, 199);
    assert_int_equal(out[198], '\n');
    assert_null(strstr(out, "after"));
    /* tiny buffers: always terminated, never overrun (ASan) */
    for (int size = 1; size < 80; size++) {
        char small[80];
        memset(small, '#', sizeof small);
        n = log_format(small, size, T0, LOG_INFO, 7, "message", F(LOG_INT("k", 12345)));
        assert_true(n >= 0 && n < size);
        assert_int_equal(small[n], 0);
        assert_int_equal(small[size], '#');
        if (n > 0)
            assert_int_equal(small[n - 1], '\n');
    }
}

static void test_levels(void **state)
{
    enum log_level l;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_DEBUG);
    assert_int_equal(log_level_parse("warn", &l), 0);
    assert_int_equal(l, LOG_WARN);
    assert_int_equal(log_level_parse("error", &l), 0);
    assert_int_equal(l, LOG_ERROR);
    assert_int_equal(log_level_parse("info", &l), 0);
    assert_int_equal(l, LOG_INFO);
    assert_int_equal(log_level_parse("INFO", &l), ERR_INVALID);
    assert_int_equal(log_level_parse("", &l), ERR_INVALID);
    assert_int_equal(log_level_parse("warning", &l), ERR_INVALID);
}

static void test_emit(void **state)
{
    int fds[2];
    assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
    log_set_fd(fds[1]);
    enum log_level saved = log_level_get();
    log_level_set(LOG_WARN);
    log_info("dropped", LOG_INT("x", 1));
    log_set_shard(5);
    log_warn("kept", LOG_STR("path", "/a b"));
    log_set_shard(-1);
    log_error("untagged");
    char got[1024] = {0};
    ssize_t n = read(fds[0], got, sizeof got - 1);
    assert_true(n > 0);
    char *first = got, *second = strchr(got, '\n');
    assert_non_null(second);
    *second++ = 0;
    assert_non_null(strstr(first, " level=warn shard=5 msg=kept path=\"/a b\""));
    assert_true(strncmp(first, "ts=", 3) == 0);
    assert_non_null(strstr(second, " level=error msg=untagged\n"));
    assert_null(strstr(got, "dropped"));
    assert_null(strstr(second, "shard="));
    log_level_set(saved);
    log_set_fd(2);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),       cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_field_types), cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_levels),      cmocka_unit_test(test_emit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
