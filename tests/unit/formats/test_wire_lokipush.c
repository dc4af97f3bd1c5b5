/* Loki push wrapper: golden wire bytes, the labels-selector parser (Alloy style, T-3.7 whitespace
 * variants, Go escapes, raw strings, metric-name forms, normalisation, every error class), decode
 * round trips with timestamps and structured metadata, entry checks, limits, and a random
 * format -> parse round trip over arbitrary bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "formats/wire/lokipush.h"
#include "tests/unit/prop.h"

static struct wire_decoder dec;
static struct arena arena;

static int setup(void **state)
{
    wire_decoder_init(&dec, 1 << 20, 64 << 20);
    arena_init(&arena, 0);
    return 0;
}

static int teardown(void **state)
{
    wire_decoder_deinit(&dec);
    arena_deinit(&arena);
    return 0;
}

/* Parses `sel` and compares with the NULL-terminated name/value list `want`. */
static void parse_expect(const char *sel, const char *const *want)
{
    struct label *ls;
    size_t n;
    char err[256] = "";
    int rc = lokipush_parse_labels(sel, strlen(sel), &arena, &ls, &n, err, sizeof err);
    if (rc)
        fail_msg("%s: rc %d: %s", sel, rc, err);
    size_t k = 0;
    for (; want[2 * k]; k++) {
        if (k >= n || !str_eq_cstr(ls[k].name, want[2 * k]) ||
            !str_eq_cstr(ls[k].value, want[2 * k + 1]))
            fail_msg("%s: label %zu differs", sel, k);
    }
    assert_int_equal(n, k);
}

static void parse_fail(const char *sel, size_t len, const char *why)
{
    struct label *ls;
    size_t n;
    char err[256] = "";
    assert_int_equal(lokipush_parse_labels(sel, len, &arena, &ls, &n, err, sizeof err),
                     ERR_INVALID);
    assert_null(ls);
    if (!strstr(err, why))
        fail_msg("%s: error \"%s\" lacks \"%s\"", sel, err, why);
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_parse_alloy_and_whitespace(void **state)
{
    parse_expect("{a=\"1\", b=\"x y\"}", L("a", "1", "b", "x y"));
    /* T-3.7: same stream whatever the spacing and order */
    parse_expect("{job=\"a\" , env = \"b\"}", L("env", "b", "job", "a"));
    parse_expect("{env=\"b\", job=\"a\"}", L("env", "b", "job", "a"));
    parse_expect(" \t{\n job = \"a\",\r\n env=\"b\" ,}\n ", L("env", "b", "job", "a"));
    parse_expect("{__path__=\"/var/log\", filename=\"x.log\"}",
                 L("__path__", "/var/log", "filename", "x.log"));
    parse_expect("{a_1=\"x\",_b=\"y\"}", L("_b", "y", "a_1", "x"));
}

static void test_parse_strings(void **state)
{
    parse_expect("{a=\"q\\\"uote\", b=\"back\\\\slash\", c=\"nl\\n\", d=\"tab\\t\"}",
                 L("a", "q\"uote", "b", "back\\slash", "c", "nl\n", "d", "tab\t"));
    parse_expect("{a=\"\\u00e9\\U0001F600\", b=\"\\x41\\101\", c=\"\\a\\b\\f\\r\\v\"}",
                 L("a", "\xc3\xa9\xf0\x9f\x98\x80", "b", "AA", "c", "\a\b\f\r\v"));
    parse_expect("{a=\"\\xff\"}", L("a", "\xff")); /* \x gives a raw byte, as in Go */
    parse_expect("{a=`raw \\n \"q\"`}", L("a", "raw \\n \"q\""));
    parse_expect("{a=`multi\r\nline`}", L("a", "multi\nline")); /* Go drops \r in raw strings */
    parse_expect("{a='it\\'s', b='say \"hi\"'}", L("a", "it's", "b", "say \"hi\""));
    parse_expect("{a=\"caf\xc3\xa9 \xe2\x82\xac\"}", L("a", "caf\xc3\xa9 \xe2\x82\xac"));
}

static void test_parse_metric_forms_and_normalise(void **state)
{
    parse_expect("up{job=\"a\"}", L("__name__", "up", "job", "a"));
    parse_expect("ns:rule:rate5m {}", L("__name__", "ns:rule:rate5m"));
    parse_expect("{\"my.metric\", job=\"a\"}", L("__name__", "my.metric", "job", "a"));
    parse_expect("{\"http.status\"=\"200\"}", L("http.status", "200"));
    parse_expect("{a=\"1\", b=\"\"}", L("a", "1")); /* empty value = absent */
    parse_expect("{b=\"2\", a=\"1\", b=\"2\"}", L("a", "1", "b", "2"));
    parse_expect(
        "{z=\"1\", y=\"2\", x=\"3\", w=\"4\", v=\"5\", u=\"6\", t=\"7\", s=\"8\", r=\"9\"}",
        L("r", "9", "s", "8", "t", "7", "u", "6", "v", "5", "w", "4", "x", "3", "y", "2", "z",
          "1"));
}

static void test_parse_errors(void **state)
{
#define PF(s, why) parse_fail(s, sizeof(s) - 1, why)
    PF("{}", "no labels");
    PF("{a=\"\"}", "no labels");
    PF("", "expected '{'");
    PF("   ", "expected '{'");
    PF("{a=\"1\"", "expected ',' or '}'");
    PF("{a=1}", "expected a quoted string");
    PF("{a!=\"1\"}", "only = matchers");
    PF("{a=~\"1\"}", "only = matchers");
    PF("{a!~\"1\"}", "only = matchers");
    PF("{a=\"1\"} x", "unexpected text");
    PF("{a=\"1\" b=\"2\"}", "expected ',' or '}'");
    PF("{,}", "expected a label name");
    PF("{a=\"1\",,}", "expected a label name");
    PF("{1a=\"x\"}", "expected a label name");
    PF("{a:b=\"x\"}", "expected '='");
    PF("{a=\"\\q\"}", "invalid escape");
    PF("{a=\"\\'\"}", "invalid escape");
    PF("{a='\\\"'}", "invalid escape");
    PF("{a=\"\\uD800\"}", "invalid escape");
    PF("{a=\"\\U00110000\"}", "invalid escape");
    PF("{a=\"\\400\"}", "invalid escape");
    PF("{a=\"\\x4\"}", "invalid escape");
    PF("{a=\"\\u12\"}", "invalid escape");
    PF("{a=\"x\ny\"}", "newline");
    PF("{a=\"unterminated}", "unterminated");
    PF("{a=`unterminated}", "unterminated");
    PF("{a=\"\\", "unterminated");
    PF("{a=\"\xff\"}", "invalid UTF-8");
    PF("{a=\"\xed\xa0\x80\"}", "invalid UTF-8"); /* surrogate */
    PF("{a=\"\xc0\xaf\"}", "invalid UTF-8");     /* overlong */
    PF("{a=\"1\", a=\"2\"}", "twice");
    PF("{\"\"=\"x\"}", "empty label name");
    PF("{a}", "expected '='");
    PF("a{", "expected a label name");
#undef PF
}

static void test_parse_nul_byte(void **state)
{
    static const char sel[] = "{a=\"x\0y\"}";
    struct label *ls;
    size_t n;
    char err[128];
    assert_int_equal(lokipush_parse_labels(sel, sizeof sel - 1, &arena, &ls, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(ls[0].value.len, 3);
    assert_memory_equal(ls[0].value.ptr, "x\0y", 3);
}

static void test_golden_push(void **state)
{
    static const struct label job[] = {{STR_LIT("job"), STR_LIT("app")}};
    struct lokipush_entry e = {1000001000, STR_LIT("hi!"), NULL, 0};
    struct lokipush_stream_in s = {job, 1, {NULL, 0}, &e, 1};
    struct buf b = BUF_INIT;
    assert_int_equal(lokipush_encode(&s, 1, &b), 0);
    static const uint8_t exact[] = {0x0a, 0x1b, 0x0a, 0x0b, '{',  'j',  'o',  'b',  '=',  '"',
                                    'a',  'p',  'p',  '"',  '}',  0x12, 0x0c, 0x0a, 0x05, 0x08,
                                    0x01, 0x10, 0xe8, 0x07, 0x12, 0x03, 'h',  'i',  '!'};
    assert_int_equal(b.len, sizeof exact);
    assert_memory_equal(b.data, exact, sizeof exact);
    struct lokipush_request req;
    assert_int_equal(lokipush_decode(&dec, b.data, b.len, &req), 0);
    assert_int_equal(req.n_streams, 1);
    assert_int_equal(req.n_entries, 1);
    assert_int_equal(lokipush_entry_ts_ns(req.streams[0].pb->entries[0]), 1000001000);
    buf_deinit(&b);
}

static void test_decode_roundtrip(void **state)
{
    static const struct label s1[] = {{STR_LIT("job"), STR_LIT("app")},
                                      {STR_LIT("level"), STR_LIT("info")}};
    static const struct label md[] = {{STR_LIT("trace_id"), STR_LIT("abc")},
                                      {STR_LIT("user"), STR_LIT("u1")}};
    struct lokipush_entry e1[] = {{1570818238000000000, STR_LIT("line one"), NULL, 0},
                                  {1570818238000000001, STR_LIT("line two"), md, 2},
                                  {-1, {"bin\0ary\xff", 8}, NULL, 0},
                                  {0, STR_LIT(""), NULL, 0}};
    struct lokipush_entry e2[] = {{INT64_MAX, STR_LIT("far"), NULL, 0}};
    struct lokipush_stream_in in[] = {{s1, 2, {NULL, 0}, e1, 4},
                                      {NULL, 0, STR_LIT("{job=\"a\" , env = \"b\"}"), e2, 1}};
    struct buf b = BUF_INIT;
    assert_int_equal(lokipush_encode(in, 2, &b), 0);
    struct lokipush_request req;
    assert_int_equal(lokipush_decode(&dec, b.data, b.len, &req), 0);
    assert_int_equal(req.n_streams, 2);
    assert_int_equal(req.n_entries, 5);
    assert_int_equal(req.streams[0].n_labels, 2);
    assert_true(str_eq_cstr(req.streams[0].labels[1].value, "info"));
    assert_true(str_eq_cstr(req.streams[1].labels[0].name, "env"));
    assert_true(str_eq_cstr(req.streams[1].labels[1].value, "a"));
    for (size_t i = 0; i < 4; i++) {
        const Logproto__EntryAdapter *e = req.streams[0].pb->entries[i];
        assert_int_equal(lokipush_entry_ts_ns(e), e1[i].ts_ns);
        assert_true(str_eq(wire_str(e->line), e1[i].line));
        assert_int_equal(e->n_structured_metadata, e1[i].n_metadata);
    }
    const Logproto__EntryAdapter *e = req.streams[0].pb->entries[1];
    assert_true(str_eq_cstr(wire_str(e->structured_metadata[0]->name), "trace_id"));
    assert_true(str_eq_cstr(wire_str(e->structured_metadata[0]->value), "abc"));
    /* -1 ns is {seconds -1, nanos 999999999} on the wire */
    assert_int_equal(req.streams[0].pb->entries[2]->timestamp->seconds, -1);
    assert_int_equal(req.streams[0].pb->entries[2]->timestamp->nanos, 999999999);
    assert_int_equal(lokipush_entry_ts_ns(req.streams[1].pb->entries[0]), INT64_MAX);
    buf_deinit(&b);
}

/* A one-entry push whose timestamp is set by hand. */
static int push_with_ts(Logproto__Timestamp *ts, const char *labels)
{
    Logproto__EntryAdapter e = LOGPROTO__ENTRY_ADAPTER__INIT, *ep = &e;
    e.timestamp = ts;
    e.line = wire_bytes(STR_LIT("x"));
    Logproto__StreamAdapter s0 = LOGPROTO__STREAM_ADAPTER__INIT, *s0p = &s0;
    s0.labels = wire_bytes(STR_LIT("{ok=\"1\"}"));
    Logproto__StreamAdapter s = LOGPROTO__STREAM_ADAPTER__INIT, *sp = &s;
    s.labels = wire_bytes(str_from_cstr(labels));
    s.entries = &ep;
    s.n_entries = 1;
    s.hash = 12345;
    Logproto__StreamAdapter *all[] = {s0p, sp};
    Logproto__PushRequest req = LOGPROTO__PUSH_REQUEST__INIT;
    req.streams = all;
    req.n_streams = 2;
    struct buf b = BUF_INIT;
    assert_int_equal(lokipush_pack(&req, &b), 0);
    struct lokipush_request out;
    int rc = lokipush_decode(&dec, b.data, b.len, &out);
    buf_deinit(&b);
    return rc;
}

static void assert_err_has(const char *needle)
{
    if (!strstr(wire_decoder_err(&dec), needle))
        fail_msg("error \"%s\" lacks \"%s\"", wire_decoder_err(&dec), needle);
}

static void test_entry_and_stream_checks(void **state)
{
    Logproto__Timestamp ts = LOGPROTO__TIMESTAMP__INIT;
    ts.seconds = 1700000000;
    ts.nanos = 5;
    assert_int_equal(push_with_ts(&ts, "{job=\"x\"}"), 0);
    assert_int_equal(push_with_ts(NULL, "{job=\"x\"}"), ERR_INVALID);
    assert_err_has("stream 1 {job=\"x\"}: entry 0 has no timestamp");
    ts.nanos = 1000000000;
    assert_int_equal(push_with_ts(&ts, "{job=\"x\"}"), ERR_INVALID);
    assert_err_has("nanos");
    ts.nanos = -1;
    assert_int_equal(push_with_ts(&ts, "{job=\"x\"}"), ERR_INVALID);
    ts.nanos = 0;
    ts.seconds = 9300000000;
    assert_int_equal(push_with_ts(&ts, "{job=\"x\"}"), ERR_INVALID);
    assert_err_has("int64");
    ts.seconds = 1;
    assert_int_equal(push_with_ts(&ts, "{}"), ERR_INVALID);
    assert_err_has("stream 1: invalid stream labels \"{}\": no labels");
    assert_int_equal(push_with_ts(&ts, "{job=~\"x\"}"), ERR_INVALID);
    assert_err_has("only = matchers");
    assert_int_equal(push_with_ts(&ts, ""), ERR_INVALID); /* labels field absent */
    assert_err_has("stream 1: invalid stream labels \"\": expected '{'");
}

static void test_limits_and_corrupt(void **state)
{
    static const struct label job[] = {{STR_LIT("job"), STR_LIT("app")}};
    struct lokipush_entry e[50];
    for (int i = 0; i < 50; i++)
        e[i] = (struct lokipush_entry){i, STR_LIT("some log line"), job, 1};
    struct lokipush_stream_in s = {job, 1, {NULL, 0}, e, 50};
    struct buf b = BUF_INIT;
    assert_int_equal(lokipush_encode(&s, 1, &b), 0);
    struct wire_decoder small;
    struct lokipush_request req;
    wire_decoder_init(&small, b.len - 1, 1 << 20);
    assert_int_equal(lokipush_decode(&small, b.data, b.len, &req), ERR_LIMIT);
    wire_decoder_deinit(&small);
    wire_decoder_init(&small, b.len, 2048);
    assert_int_equal(lokipush_decode(&small, b.data, b.len, &req), ERR_LIMIT);
    wire_decoder_deinit(&small);
    assert_int_equal(lokipush_decode(&dec, b.data, b.len - 1, &req), ERR_CORRUPT);
    assert_null(req.streams);
    const uint8_t junk[] = {0x0a, 0x05, 0x0a, 0x09};
    assert_int_equal(lokipush_decode(&dec, junk, sizeof junk, &req), ERR_CORRUPT);
    assert_int_equal(lokipush_decode(&dec, junk, 0, &req), 0);
    assert_int_equal(req.n_streams, 0);
    buf_deinit(&b);
}

/* Any bytes as values: Alloy-style formatting must parse back to the same label set. */
static void test_random_format_parse(void **state)
{
    struct prop p = prop_begin("lokipush_format_parse");
    static const char *names[] = {"a", "b", "c", "job", "level", "zone"};
    for (int iter = 0; iter < 2000; iter++) {
        struct label ls[6];
        char vals[6][16];
        size_t n = 1 + prop_next(&p) % 6;
        for (size_t i = 0; i < n; i++) {
            size_t len = 1 + prop_next(&p) % 15;
            for (size_t j = 0; j < len; j++) {
                uint64_t r = prop_next(&p);
                vals[i][j] = (char)(r % 4 == 0 ? r >> 8 : 0x20 + (r >> 8) % 95);
            }
            ls[i] = (struct label){str_from_cstr(names[i]), {vals[i], len}};
        }
        struct buf b = BUF_INIT;
        prop_check(&p, lokipush_format_labels(ls, n, &b) == 0);
        struct label *out;
        size_t m;
        char err[256];
        int rc =
            lokipush_parse_labels((const char *)b.data, b.len, &arena, &out, &m, err, sizeof err);
        if (rc)
            fprintf(stderr, "%.*s: %s\n", (int)b.len, (const char *)b.data, err);
        prop_check(&p, rc == 0 && m == n);
        for (size_t i = 0; i < n; i++)
            prop_check(&p, str_eq(out[i].name, ls[i].name) && str_eq(out[i].value, ls[i].value));
        buf_deinit(&b);
        arena_reset(&arena);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_alloy_and_whitespace),
        cmocka_unit_test(test_parse_strings),
        cmocka_unit_test(test_parse_metric_forms_and_normalise),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_nul_byte),
        cmocka_unit_test(test_golden_push),
        cmocka_unit_test(test_decode_roundtrip),
        cmocka_unit_test(test_entry_and_stream_checks),
        cmocka_unit_test(test_limits_and_corrupt),
        cmocka_unit_test(test_random_format_parse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
