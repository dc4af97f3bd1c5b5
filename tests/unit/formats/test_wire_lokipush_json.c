/* Loki push JSON decoding: the contract's example body (T-3.1), numeric timestamps (T-3.3) and
 * entry arity, Go ParseInt timestamp rules, string decoding and borrowing, structured metadata,
 * label validation and normalisation shared with the protobuf path, unknown keys and nulls,
 * malformed JSON, limits, and random requests encoded both as JSON (formats/jsonw) and protobuf
 * decoding to the same streams, entries and metadata. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "formats/jsonw.h"
#include "formats/wire/lokipush_json.h"
#include "tests/unit/prop.h"

static struct wire_decoder dec, dec_pb;

static int setup(void **state)
{
    (void)state;
    wire_decoder_init(&dec, 1 << 20, 64 << 20);
    wire_decoder_init(&dec_pb, 1 << 20, 64 << 20);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    wire_decoder_deinit(&dec);
    wire_decoder_deinit(&dec_pb);
    return 0;
}

static int decode_cstr(const char *body, struct lokipush_request *req)
{
    return lokipush_json_decode(&dec, (const uint8_t *)body, strlen(body), req);
}

static const Logproto__EntryAdapter *entry(const struct lokipush_request *req, size_t s, size_t e)
{
    assert_true(s < req->n_streams && e < req->streams[s].pb->n_entries);
    return req->streams[s].pb->entries[e];
}

static bool bytes_eq(ProtobufCBinaryData b, const char *s)
{
    return str_eq(wire_str(b), str_from_cstr(s));
}

static void test_contract_example(void **state)
{
    (void)state;
    /* T-3.1 */
    static const char body[] =
        "{\"streams\":[{\"stream\":{\"job\":\"app\",\"level\":\"info\"},\n"
        "             \"values\":[[\"1570818238000000000\",\"line one\"],\n"
        "                       [\"1570818238000000001\",\"line two\",{\"trace_id\":\"abc\","
        "\"user\":\"u1\"}]]}]}";
    struct lokipush_request req;
    assert_int_equal(decode_cstr(body, &req), 0);
    assert_int_equal(req.n_streams, 1);
    assert_int_equal(req.n_entries, 2);
    assert_int_equal(req.pb->n_streams, 1);
    const struct lokipush_stream *st = &req.streams[0];
    assert_int_equal(st->n_labels, 2);
    assert_true(str_eq_cstr(st->labels[0].name, "job") && str_eq_cstr(st->labels[0].value, "app"));
    assert_true(str_eq_cstr(st->labels[1].name, "level") &&
                str_eq_cstr(st->labels[1].value, "info"));
    assert_true(bytes_eq(st->pb->labels, "{job=\"app\", level=\"info\"}"));
    assert_int_equal(lokipush_entry_ts_ns(entry(&req, 0, 0)), 1570818238000000000);
    assert_int_equal(lokipush_entry_ts_ns(entry(&req, 0, 1)), 1570818238000000001);
    assert_true(bytes_eq(entry(&req, 0, 0)->line, "line one"));
    assert_true(bytes_eq(entry(&req, 0, 1)->line, "line two"));
    /* lines without escapes borrow the body */
    const uint8_t *line = entry(&req, 0, 0)->line.data;
    assert_true(line > (const uint8_t *)body && line < (const uint8_t *)body + sizeof body);
    assert_int_equal(entry(&req, 0, 0)->n_structured_metadata, 0);
    const Logproto__EntryAdapter *e = entry(&req, 0, 1);
    assert_int_equal(e->n_structured_metadata, 2);
    assert_true(bytes_eq(e->structured_metadata[0]->name, "trace_id"));
    assert_true(bytes_eq(e->structured_metadata[0]->value, "abc"));
    assert_true(bytes_eq(e->structured_metadata[1]->name, "user"));
    assert_true(bytes_eq(e->structured_metadata[1]->value, "u1"));
    assert_string_equal(wire_decoder_err(&dec), "");
}

static void expect_fail(const char *body, int code, const char *why)
{
    struct lokipush_request req;
    int rc = decode_cstr(body, &req);
    if (rc != code || !strstr(wire_decoder_err(&dec), why))
        fail_msg("%s: got %d \"%s\", want %d with \"%s\"", body, rc, wire_decoder_err(&dec), code,
                 why);
    assert_int_equal(req.n_streams, 0);
    assert_null(req.pb);
}

#define S(values) "{\"streams\":[{\"stream\":{\"job\":\"app\"},\"values\":[" values "]}]}"

static void test_entry_rules(void **state)
{
    (void)state;
    /* T-3.3: a numeric timestamp */
    expect_fail(S("[1570818238000000000,\"x\"]"), ERR_INVALID,
                "stream 0 {job=\"app\"}: entry 0: timestamp must be a JSON string");
    /* 2 or 3 elements */
    expect_fail(S("[\"1\",\"x\",{},\"extra\"]"), ERR_INVALID,
                "entry 0: array must have at least 2 and up to 3 values");
    expect_fail(S("[\"1\",\"x\"],[\"2\"]"), ERR_INVALID,
                "entry 1: array must have at least 2 and up to 3 values");
    expect_fail(S("[]"), ERR_INVALID, "array must have at least 2 and up to 3 values");
    expect_fail(S("\"1\""), ERR_INVALID, "entry 0: entry must be an array");
    expect_fail(S("[\"1\",2]"), ERR_INVALID, "line must be a string");
    expect_fail(S("[\"1\",null]"), ERR_INVALID, "line must be a string");
    expect_fail(S("[null,\"x\"]"), ERR_INVALID, "timestamp must be a JSON string");
    expect_fail(S("[\"1\",\"x\",[]]"), ERR_INVALID, "structured metadata must be a JSON object");
    expect_fail(S("[\"1\",\"x\",{\"a\":1}]"), ERR_INVALID,
                "structured metadata values must be strings");
    expect_fail(S("[\"1\",\"x\",{\"a\":null}]"), ERR_INVALID,
                "structured metadata values must be strings");
    /* Go strconv.ParseInt */
    expect_fail(S("[\"abc\",\"x\"]"), ERR_INVALID,
                "entry 0: error reading entry timestamp: strconv.ParseInt: parsing \"abc\": "
                "invalid syntax");
    expect_fail(S("[\"\",\"x\"]"), ERR_INVALID, "parsing \"\": invalid syntax");
    expect_fail(S("[\"1.5\",\"x\"]"), ERR_INVALID, "invalid syntax");
    expect_fail(S("[\" 1\",\"x\"]"), ERR_INVALID, "invalid syntax");
    expect_fail(S("[\"1_000\",\"x\"]"), ERR_INVALID, "invalid syntax");
    expect_fail(S("[\"-\",\"x\"]"), ERR_INVALID, "invalid syntax");
    expect_fail(S("[\"9223372036854775808\",\"x\"]"), ERR_INVALID,
                "parsing \"9223372036854775808\": value out of range");
    expect_fail(S("[\"99999999999999999999x\",\"x\"]"), ERR_INVALID, "invalid syntax");
    expect_fail(S("[\"\\u0031\\u0032\\u0033\\u0034\\u0035\\u0036\\u0037\\u0038\\u0039\\u0030"
                  "\\u0031\\u0032\\u0033\\u0034\\u0035\\u0036\\u0037\\u0038\\u0039\\u0030"
                  "\\u0031\\u0032\\u0033\\u0034\\u0035\\u0036\\u0037\\u0038\\u0039\\u0030"
                  "\\u0031\\u0032\\u0033\\u0034\\u0035\\u0036\\u0037\\u0038\\u0039\\u0030"
                  "\\u0031\\u0032\\u0033\\u0034\\u0035\\u0036\\u0037\\u0038\\u0039\\u0030"
                  "\\u0031\\u0032\\u0033\\u0034\\u0035\\u0036\\u0037\\u0038\\u0039\\u0030"
                  "\\u0031\\u0032\\u0033\\u0034\\u0035\",\"x\"]"),
                ERR_INVALID, "invalid syntax");

    struct lokipush_request req;
    assert_int_equal(
        decode_cstr(S("[\"+5\",\"a\"],[\"-1\",\"b\"],[\"0009\",\"c\"],"
                      "[\"9223372036854775807\",\"d\"],[\"-9223372036854775808\",\"e\"],"
                      "[\"\\u0031\\u0032\",\"f\"],null,[\"3\",\"g\",{}]"),
                    &req),
        0);
    assert_int_equal(req.n_entries, 7); /* the null entry is skipped */
    static const int64_t want[] = {5, -1, 9, INT64_MAX, INT64_MIN, 12, 3};
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(lokipush_entry_ts_ns(entry(&req, 0, i)), want[i]);
    const Logproto__Timestamp *ts = entry(&req, 0, 1)->timestamp;
    assert_true(ts->seconds == -1 && ts->nanos == 999999999);
    assert_int_equal(entry(&req, 0, 6)->n_structured_metadata, 0);
}

static void test_strings(void **state)
{
    (void)state;
    struct lokipush_request req;
    assert_int_equal(
        decode_cstr(S("[\"1\",\"a\\tb\\n\\\"q\\\" \\u00e9 \\ud83d\\ude00 \\ud800 x\xff y\","
                      "{\"k\\u0031\":\"v\\\\\",\"caf\xc3\xa9\":\"\"}]"),
                    &req),
        0);
    const Logproto__EntryAdapter *e = entry(&req, 0, 0);
    assert_true(
        bytes_eq(e->line, "a\tb\n\"q\" \xc3\xa9 \xf0\x9f\x98\x80 \xef\xbf\xbd x\xef\xbf\xbd y"));
    assert_true(bytes_eq(e->structured_metadata[0]->name, "k1"));
    assert_true(bytes_eq(e->structured_metadata[0]->value, "v\\"));
    assert_true(bytes_eq(e->structured_metadata[1]->name, "caf\xc3\xa9"));
    assert_true(bytes_eq(e->structured_metadata[1]->value, ""));
    /* NUL via escape survives */
    assert_int_equal(decode_cstr(S("[\"1\",\"a\\u0000b\"]"), &req), 0);
    assert_int_equal(entry(&req, 0, 0)->line.len, 3);
    assert_memory_equal(entry(&req, 0, 0)->line.data, "a\0b", 3);
}

static void expect_labels(const char *body, const char *want_text)
{
    struct lokipush_request req;
    int rc = decode_cstr(body, &req);
    if (rc)
        fail_msg("%s: %d %s", body, rc, wire_decoder_err(&dec));
    assert_true(req.n_streams >= 1);
    struct buf b = BUF_INIT;
    assert_int_equal(lokipush_format_labels(req.streams[0].labels, req.streams[0].n_labels, &b), 0);
    if (b.len != strlen(want_text) || memcmp(b.data, want_text, b.len) != 0)
        fail_msg("%s: got %.*s want %s", body, (int)b.len, b.data, want_text);
    buf_deinit(&b);
}

static void test_labels(void **state)
{
    (void)state;
    expect_labels("{\"streams\":[{\"stream\":{\"z\":\"1\",\"a\":\"2\"}}]}", "{a=\"2\", z=\"1\"}");
    expect_labels("{\"streams\":[{\"stream\":{\"a\":\"1\",\"e\":\"\"}}]}", "{a=\"1\"}");
    expect_labels("{\"streams\":[{\"stream\":{\"a\":\"1\",\"a\":\"1\"}}]}", "{a=\"1\"}");
    expect_labels("{\"streams\":[{\"stream\":{\"n\":42,\"f\":-1.5e3}}]}",
                  "{f=\"-1.5e3\", n=\"42\"}");
    expect_labels("{\"streams\":[{\"stream\":{\"http.status\":\"200\",\"q\":\"a\\\"b\\n\"}}]}",
                  "{\"http.status\"=\"200\", q=\"a\\\"b\\n\"}");
    expect_labels("{\"streams\":[{\"stream\":{\"__name__\":\"m\",\"j\\u006fb\":\"x\"}}]}",
                  "{__name__=\"m\", job=\"x\"}");
    /* "values" before "stream", values absent, null, extra keys */
    expect_labels("{\"streams\":[{\"values\":[[\"1\",\"x\"]],\"stream\":{\"a\":\"b\"}}]}",
                  "{a=\"b\"}");
    expect_labels("{\"x\":[1,{\"y\":2}],\"streams\":[{\"hash\":7,\"stream\":{\"a\":\"b\"},"
                  "\"values\":null,\"other\":{}}],\"format\":\"loki\"}",
                  "{a=\"b\"}");
    /* a key given twice replaces the earlier value */
    expect_labels("{\"streams\":[{\"stream\":{\"a\":\"b\"},\"stream\":{\"c\":\"d\"}}]}",
                  "{c=\"d\"}");

    expect_fail("{\"streams\":[{\"stream\":{}}]}", ERR_INVALID, "stream 0: invalid stream labels");
    expect_fail("{\"streams\":[{\"stream\":{}}]}", ERR_INVALID, "no labels");
    expect_fail("{\"streams\":[{\"values\":[]}]}", ERR_INVALID, "no labels");
    expect_fail("{\"streams\":[{\"stream\":{\"a\":\"\"}}]}", ERR_INVALID, "no labels");
    expect_fail("{\"streams\":[{\"stream\":null}]}", ERR_INVALID, "no labels");
    expect_fail("{\"streams\":[{\"stream\":{\"a\":\"1\",\"a\":\"2\"}}]}", ERR_INVALID,
                "label name given twice with different values");
    expect_fail("{\"streams\":[{\"stream\":{\"\":\"1\"}}]}", ERR_INVALID, "empty label name");
    expect_fail("{\"streams\":[{\"stream\":{\"a\":true}}]}", ERR_INVALID,
                "stream 0: label \"a\": value must be a string");
    expect_fail("{\"streams\":[{\"stream\":{\"a\":{}}}]}", ERR_INVALID, "value must be a string");
    expect_fail("{\"streams\":[{\"stream\":[]}]}", ERR_INVALID, "stream must be an object");
    expect_fail("{\"streams\":[{\"stream\":{\"a\":\"1\"}},{\"stream\":{\"b\":\"\"}}]}", ERR_INVALID,
                "stream 1: invalid stream labels");
    expect_fail("{\"streams\":[{\"stream\":{\"a\":\"1\"},\"values\":{}}]}", ERR_INVALID,
                "stream 0 {a=\"1\"}: values must be an array");
    expect_fail("{\"streams\":[1]}", ERR_INVALID, "stream 0: stream must be a JSON object");
    expect_fail("{\"streams\":{}}", ERR_INVALID, "streams must be an array");
    expect_fail("[]", ERR_INVALID, "push body must be a JSON object");
}

static void test_empty_and_malformed(void **state)
{
    (void)state;
    struct lokipush_request req;
    assert_int_equal(decode_cstr("{}", &req), 0);
    assert_int_equal(req.n_streams, 0);
    assert_non_null(req.pb);
    assert_int_equal(decode_cstr(" {\"streams\":null} \n", &req), 0);
    assert_int_equal(decode_cstr("{\"streams\":[]}", &req), 0);
    assert_int_equal(decode_cstr("null", &req), 0);
    assert_int_equal(req.n_streams, 0);
    assert_int_equal(decode_cstr(S("null,null"), &req), 0);
    assert_int_equal(req.n_entries, 0);

    expect_fail("", ERR_CORRUPT,
                "invalid JSON push body at offset 0: unexpected end of JSON input");
    expect_fail("{\"streams\":[", ERR_CORRUPT, "at offset 12: unexpected end of JSON input");
    expect_fail("{\"streams\":[],}", ERR_CORRUPT,
                "at offset 14: invalid character '}' looking for beginning of object key string");
    expect_fail("{} x", ERR_CORRUPT, "invalid character 'x' after top-level value");
    expect_fail(S("[\"1\",\"a\x01\"]"), ERR_CORRUPT, "invalid character '\\x01' in string literal");
    expect_fail(S("[\"1\",\"x\",{\"a\":\"b\",}]"), ERR_CORRUPT, "looking for beginning of object");
    expect_fail("{\"other\":[1,2,],\"streams\":[]}", ERR_CORRUPT,
                "invalid character ']' looking for beginning of value");
    expect_fail(S("[\"01\",\"x\"] x"), ERR_CORRUPT, "after array element");
}

static void test_limits(void **state)
{
    (void)state;
    struct wire_decoder small;
    struct lokipush_request req;
    static const char body[] = S("[\"1\",\"x\"],[\"2\",\"y\"],[\"3\",\"z\"]");
    wire_decoder_init(&small, 16, 1 << 20);
    assert_int_equal(lokipush_json_decode(&small, (const uint8_t *)body, sizeof body - 1, &req),
                     ERR_LIMIT);
    assert_non_null(strstr(wire_decoder_err(&small), "exceeds the limit of 16 bytes"));
    wire_decoder_deinit(&small);

    wire_decoder_init(&small, 1 << 20, 256);
    assert_int_equal(lokipush_json_decode(&small, (const uint8_t *)body, sizeof body - 1, &req),
                     ERR_LIMIT);
    assert_non_null(strstr(wire_decoder_err(&small), "needs more than 256 bytes of memory"));
    /* the decoder is reusable after a failure */
    wire_decoder_deinit(&small);
    wire_decoder_init(&small, 1 << 20, 1 << 20);
    assert_int_equal(lokipush_json_decode(&small, (const uint8_t *)body, sizeof body - 1, &req), 0);
    assert_int_equal(req.n_entries, 3);
    wire_decoder_deinit(&small);

    /* many entries: the entry array grows */
    struct buf b = BUF_INIT;
    buf_append_str(&b, "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[");
    for (int i = 0; i < 5000; i++)
        buf_printf(&b, "%s[\"%d\",\"line %d\"]", i ? "," : "", i, i);
    buf_append_str(&b, "]}]}");
    assert_int_equal(lokipush_json_decode(&dec, b.data, b.len, &req), 0);
    assert_int_equal(req.n_entries, 5000);
    assert_int_equal(lokipush_entry_ts_ns(entry(&req, 0, 4999)), 4999);
    assert_true(bytes_eq(entry(&req, 0, 4321)->line, "line 4321"));
    buf_deinit(&b);
}

/* ---- random requests: JSON and protobuf decode to the same thing ---- */

static struct str rand_text(struct prop *p, char *buf, bool allow_empty)
{
    static const char *const pieces[] = {"a",
                                         "b",
                                         "_",
                                         "x1",
                                         " ",
                                         "\"",
                                         "\\",
                                         "\n",
                                         "\t",
                                         "\x01",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80",
                                         "=",
                                         "{",
                                         ",",
                                         "}",
                                         "'",
                                         "`",
                                         "0"};
    size_t n = prop_next(p) % 8 + (allow_empty ? 0 : 1), k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *x = pieces[prop_next(p) % (sizeof pieces / sizeof *pieces)];
        memcpy(buf + k, x, strlen(x));
        k += strlen(x);
    }
    return (struct str){buf, k};
}

static void check_same(struct prop *p, const struct lokipush_request *a,
                       const struct lokipush_request *b)
{
    prop_check(p, a->n_streams == b->n_streams && a->n_entries == b->n_entries);
    for (size_t s = 0; s < a->n_streams; s++) {
        const struct lokipush_stream *x = &a->streams[s], *y = &b->streams[s];
        prop_check(p, x->n_labels == y->n_labels);
        for (size_t i = 0; i < x->n_labels; i++)
            prop_check(p, str_eq(x->labels[i].name, y->labels[i].name) &&
                              str_eq(x->labels[i].value, y->labels[i].value));
        prop_check(p, x->pb->n_entries == y->pb->n_entries);
        for (size_t e = 0; e < x->pb->n_entries; e++) {
            const Logproto__EntryAdapter *ex = x->pb->entries[e], *ey = y->pb->entries[e];
            prop_check(p, lokipush_entry_ts_ns(ex) == lokipush_entry_ts_ns(ey));
            prop_check(p, str_eq(wire_str(ex->line), wire_str(ey->line)));
            prop_check(p, ex->n_structured_metadata == ey->n_structured_metadata);
            for (size_t m = 0; m < ex->n_structured_metadata; m++)
                prop_check(p, str_eq(wire_str(ex->structured_metadata[m]->name),
                                     wire_str(ey->structured_metadata[m]->name)) &&
                                  str_eq(wire_str(ex->structured_metadata[m]->value),
                                         wire_str(ey->structured_metadata[m]->value)));
        }
    }
}

static void test_random_json_vs_protobuf(void **state)
{
    (void)state;
    struct prop p = prop_begin("lokipush_json_vs_pb");
    static char text[4096 * 8];
    static struct label labels[4][6], md[64][3];
    static struct lokipush_entry entries[4][16];
    struct lokipush_stream_in in[4];
    struct buf jb = BUF_INIT, pb = BUF_INIT;
    for (int iter = 0; iter < 400; iter++) {
        char *t = text;
        size_t n_streams = prop_next(&p) % 4 + 1, n_md = 0;
        for (size_t s = 0; s < n_streams; s++) {
            size_t nl = prop_next(&p) % 5 + 1;
            for (size_t i = 0; i < nl; i++) {
                /* distinct identifier names keep both encodings valid */
                labels[s][i].name = (struct str){"abcdef" + i, 1};
                labels[s][i].value = rand_text(&p, t, false);
                t += labels[s][i].value.len;
            }
            size_t ne = prop_next(&p) % 16;
            for (size_t e = 0; e < ne; e++) {
                struct lokipush_entry *en = &entries[s][e];
                en->ts_ns = (int64_t)prop_next(&p) >> (prop_next(&p) % 64);
                en->line = rand_text(&p, t, true);
                t += en->line.len;
                en->n_metadata = prop_next(&p) % 3;
                en->metadata = md[n_md++];
                for (size_t m = 0; m < en->n_metadata; m++) {
                    md[n_md - 1][m].name = rand_text(&p, t, false);
                    t += md[n_md - 1][m].name.len;
                    md[n_md - 1][m].value = rand_text(&p, t, true);
                    t += md[n_md - 1][m].value.len;
                }
            }
            in[s] = (struct lokipush_stream_in){labels[s], nl, {NULL, 0}, entries[s], ne};
        }
        buf_reset(&jb);
        buf_reset(&pb);
        prop_check(&p, lokipush_json_encode(in, n_streams, &jb) == 0);
        prop_check(&p, lokipush_encode(in, n_streams, &pb) == 0);
        struct lokipush_request rj, rp;
        int rc = lokipush_json_decode(&dec, jb.data, jb.len, &rj);
        if (rc)
            fprintf(stderr, "%s\n", wire_decoder_err(&dec));
        prop_check(&p, rc == 0);
        prop_check(&p, lokipush_decode(&dec_pb, pb.data, pb.len, &rp) == 0);
        check_same(&p, &rj, &rp);
    }
    buf_deinit(&jb);
    buf_deinit(&pb);
}

static void test_jsonw_body_with_extras(void **state)
{
    (void)state;
    /* a body written with jsonw the way a client might: extra keys, metadata with escapes */
    struct buf b = BUF_INIT;
    struct jsonw w;
    jsonw_init(&w, &b);
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "meta");
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "client");
    jsonw_cstr(&w, "test");
    jsonw_obj_end(&w);
    jsonw_key_cstr(&w, "streams");
    jsonw_arr_begin(&w);
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "stream");
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "service");
    jsonw_cstr(&w, "api \"v2\"");
    jsonw_obj_end(&w);
    jsonw_key_cstr(&w, "values");
    jsonw_arr_begin(&w);
    jsonw_arr_begin(&w);
    jsonw_cstr(&w, "1700000000123456789");
    jsonw_str(&w, "GET /x\t200\n\x01\xff", 13);
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "trace_id");
    jsonw_cstr(&w, "4bf92f3577b34da6");
    jsonw_obj_end(&w);
    jsonw_arr_end(&w);
    jsonw_arr_end(&w);
    jsonw_obj_end(&w);
    jsonw_arr_end(&w);
    jsonw_obj_end(&w);
    assert_int_equal(jsonw_finish(&w), 0);
    struct lokipush_request req;
    assert_int_equal(lokipush_json_decode(&dec, b.data, b.len, &req), 0);
    assert_true(str_eq_cstr(req.streams[0].labels[0].value, "api \"v2\""));
    const Logproto__EntryAdapter *e = entry(&req, 0, 0);
    assert_int_equal(lokipush_entry_ts_ns(e), 1700000000123456789);
    assert_true(bytes_eq(e->line, "GET /x\t200\n\x01\xef\xbf\xbd"));
    assert_true(bytes_eq(e->structured_metadata[0]->value, "4bf92f3577b34da6"));
    buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contract_example),
        cmocka_unit_test(test_entry_rules),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_empty_and_malformed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_random_json_vs_protobuf),
        cmocka_unit_test(test_jsonw_body_with_extras),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
