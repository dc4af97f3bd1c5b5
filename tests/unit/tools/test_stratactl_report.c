/* stratactl inspect: option parsing, value formatting (RFC 3339 times, sizes, canonical label
 * sets, --series-samples lines), text tables, totals, warnings and the text and JSON reports of a
 * hand-built report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tools/json_check.h"
#include "tools/stratactl/analyze.c"
#include "tools/stratactl/inspect_common.c"
#include "tools/stratactl/inspect_fmt.c"
#include "tools/stratactl/inspect_opts.c"
#include "tools/stratactl/inspect_report.c"

/* ---- options ---- */

static int parse(struct ctl_inspect_opts *o, char *err, const char *const *args, int n)
{
    char *argv[32];
    argv[0] = "inspect";
    for (int i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    FILE *devnull = fopen("/dev/null", "w");
    int rc = ctl_inspect_opts_parse(o, n + 1, argv, devnull, err, 256);
    fclose(devnull);
    return rc;
}

#define PARSE(o, err, ...)                                                                         \
    parse((o), (err), (const char *const[]){__VA_ARGS__},                                          \
          sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static void test_opts(void **state)
{
    (void)state;
    struct ctl_inspect_opts o;
    char err[256];
    assert_int_equal(PARSE(&o, err, "/d"), 0);
    assert_string_equal(o.data_dir, "/d");
    assert_int_equal(o.shard, -1);
    assert_int_equal(o.top, CTL_TOP_DEFAULT);
    assert_false(o.json || o.series_samples || o.verbose);
    assert_null(o.tmp_dir);
    assert_int_equal(PARSE(&o, err, "--shard", "3", "--top=7", "--json", "/d", "--series-samples",
                           "--tmp-dir", "/t", "-v"),
                     0);
    assert_int_equal(o.shard, 3);
    assert_int_equal(o.top, 7);
    assert_true(o.json && o.series_samples && o.verbose);
    assert_string_equal(o.tmp_dir, "/t");
    assert_int_equal(PARSE(&o, err, "--top", "0", "--", "-odd-dir"), 0);
    assert_int_equal(o.top, 0);
    assert_string_equal(o.data_dir, "-odd-dir");
    assert_int_equal(PARSE(&o, err, "/d", "--help"), 1);
    assert_int_equal(PARSE(&o, err, "-h"), 1);
}

static void test_opts_errors(void **state)
{
    (void)state;
    struct ctl_inspect_opts o;
    char err[256];
    struct {
        int rc;
        const char *msg;
    } r[] = {
        {PARSE(&o, err, "--json"), "missing DATA_DIR"},
        {PARSE(&o, err, "/a", "/b"), "unexpected argument '/b'"},
        {PARSE(&o, err, "/a", "--shard", "x"), "--shard: not a shard number: 'x'"},
        {PARSE(&o, err, "/a", "--shard", "-1"), "--shard: not a shard number: '-1'"},
        {PARSE(&o, err, "/a", "--shard", "4096"), "--shard: not a shard number: '4096'"},
        {PARSE(&o, err, "/a", "--top", "1e3"), "--top: not a count in 0..1000000: '1e3'"},
        {PARSE(&o, err, "/a", "--top"), "option --top needs a value"},
        {PARSE(&o, err, "/a", "--tmp-dir="), "--tmp-dir: empty path"},
        {PARSE(&o, err, "/a", "--json=1"), "option --json takes no value"},
        {PARSE(&o, err, "/a", "--frobnicate"), "unknown option '--frobnicate'"},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        assert_int_equal(r[i].rc, CTL_EXIT_USAGE);
    /* err holds the last message; re-run each to check its text */
    assert_int_equal(PARSE(&o, err, "--json"), CTL_EXIT_USAGE);
    assert_string_equal(err, r[0].msg);
    assert_int_equal(PARSE(&o, err, "/a", "/b"), CTL_EXIT_USAGE);
    assert_string_equal(err, r[1].msg);
    assert_int_equal(PARSE(&o, err, "/a", "--shard", "4096"), CTL_EXIT_USAGE);
    assert_string_equal(err, r[4].msg);
    assert_int_equal(PARSE(&o, err, "/a", "--top", "1e3"), CTL_EXIT_USAGE);
    assert_string_equal(err, r[5].msg);
    assert_int_equal(PARSE(&o, err, "/a", "--top"), CTL_EXIT_USAGE);
    assert_string_equal(err, r[6].msg);
    assert_int_equal(PARSE(&o, err, "/a", "--json=1"), CTL_EXIT_USAGE);
    assert_string_equal(err, r[8].msg);
    assert_int_equal(PARSE(&o, err, "/a", "--frobnicate"), CTL_EXIT_USAGE);
    assert_string_equal(err, r[9].msg);
}

static void test_usage_text(void **state)
{
    (void)state;
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    assert_non_null(f);
    ctl_inspect_usage(f);
    fclose(f);
    assert_non_null(strstr(text, "usage: stratactl inspect DATA_DIR"));
    assert_non_null(strstr(text, "--series-samples"));
    assert_non_null(strstr(text, "default 20"));
    assert_non_null(strstr(text, "exit status: 0 ok, 1 error, 2 usage"));
    free(text);
}

/* ---- formatting ---- */

static void test_fmt_time(void **state)
{
    (void)state;
    char s[32];
    ctl_fmt_time(0, s);
    assert_string_equal(s, "1970-01-01T00:00:00.000Z");
    ctl_fmt_time(1700006400000LL, s);
    assert_string_equal(s, "2023-11-15T00:00:00.000Z");
    ctl_fmt_time(1700031540123LL, s);
    assert_string_equal(s, "2023-11-15T06:59:00.123Z");
    ctl_fmt_time(-1, s);
    assert_string_equal(s, "1969-12-31T23:59:59.999Z");
    ctl_fmt_time(951782400000LL, s); /* leap day */
    assert_string_equal(s, "2000-02-29T00:00:00.000Z");
    ctl_fmt_time(INT64_MIN, s);
    assert_string_equal(s, "-");
    ctl_fmt_time(INT64_MAX, s);
    assert_string_equal(s, "-");
    ctl_fmt_time(INT64_MAX - 1, s); /* beyond year 9999: raw milliseconds */
    assert_string_equal(s, "9223372036854775806ms");
}

static void test_fmt_bytes(void **state)
{
    (void)state;
    char s[32];
    struct {
        uint64_t n;
        const char *want;
    } c[] = {{0, "0 B"},
             {1023, "1023 B"},
             {1024, "1.0 KiB"},
             {1536, "1.5 KiB"},
             {1048575, "1024.0 KiB"},
             {1048576, "1.0 MiB"},
             {5ull << 30, "5.0 GiB"},
             {UINT64_MAX, "16.0 EiB"}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        ctl_fmt_bytes(c[i].n, s);
        assert_string_equal(s, c[i].want);
    }
}

static void expect_labels(const struct label *l, size_t n, const char *want)
{
    struct buf b = BUF_INIT;
    assert_int_equal(ctl_fmt_labels(&b, l, n), 0);
    assert_int_equal(buf_cstr(&b), 0);
    assert_string_equal((const char *)b.data, want);
    buf_deinit(&b);
}

static void test_fmt_labels(void **state)
{
    (void)state;
    expect_labels(NULL, 0, "{}");
    struct label a[] = {{STR_LIT("__name__"), STR_LIT("up")}, {STR_LIT("job"), STR_LIT("node")}};
    expect_labels(a, 2, "{__name__=\"up\",job=\"node\"}");
    struct label b[] = {{STR_LIT("k"), STR_LIT("a\"b\\c\nd\te")}};
    expect_labels(b, 1, "{k=\"a\\\"b\\\\c\\nd\\te\"}");
    struct label c[] = {{STR_LIT("my.dotted-name"), STR_LIT("x")}, {STR_LIT("1st"), STR_LIT("")}};
    expect_labels(c, 2, "{\"my.dotted-name\"=\"x\",\"1st\"=\"\"}");
    struct label d[] = {{STR_LIT("u"), STR_LIT("h\xc3\xa9llo \xff\x01")}};
    expect_labels(d, 1, "{u=\"h\xc3\xa9llo \\xff\\x01\"}");
}

static void test_series_line(void **state)
{
    (void)state;
    struct label l[] = {{STR_LIT("__name__"), STR_LIT("up")}, {STR_LIT("p"), STR_LIT("a\"b")}};
    struct buf b = BUF_INIT;
    assert_int_equal(ctl_series_line(&b, l, 2, 3, 1000, 3000, false), 0);
    assert_int_equal(buf_cstr(&b), 0);
    assert_string_equal((const char *)b.data, "{__name__=\"up\",p=\"a\\\"b\"} 3 1000 3000\n");
    buf_reset(&b);
    assert_int_equal(ctl_series_line(&b, l, 2, 0, INT64_MAX, INT64_MIN, false), 0);
    assert_int_equal(buf_cstr(&b), 0);
    assert_string_equal((const char *)b.data, "{__name__=\"up\",p=\"a\\\"b\"} 0 - -\n");
    buf_reset(&b);
    assert_int_equal(ctl_series_line(&b, l, 2, 3, -5, 3000, true), 0);
    assert_int_equal(buf_cstr(&b), 0);
    assert_string_equal((const char *)b.data,
                        "{\"series\":\"{__name__=\\\"up\\\",p=\\\"a\\\\\\\"b\\\"}\","
                        "\"labels\":{\"__name__\":\"up\",\"p\":\"a\\\"b\"},\"samples\":3,"
                        "\"min_time_ms\":-5,\"max_time_ms\":3000}\n");
    assert_true(json_valid((const char *)b.data, b.len));
    buf_reset(&b);
    assert_int_equal(ctl_series_line(&b, l, 2, 0, INT64_MAX, INT64_MIN, true), 0);
    assert_true(json_valid((const char *)b.data, b.len));
    assert_int_equal(buf_cstr(&b), 0);
    assert_non_null(strstr((const char *)b.data, "\"min_time_ms\":null,\"max_time_ms\":null"));
    buf_deinit(&b);
}

static void test_table(void **state)
{
    (void)state;
    static const char *const hdr[] = {"NAME", "N", "NOTE"};
    struct ctl_table t;
    ctl_table_init(&t, 3, hdr, "lrl");
    assert_int_equal(ctl_table_row(&t, (const char *const[]){"alpha", "1", "x"}), 0);
    assert_int_equal(ctl_table_row(&t, (const char *const[]){"b", "12345", NULL}), 0);
    struct buf b = BUF_INIT;
    assert_int_equal(ctl_table_print(&t, "> ", &b), 0);
    assert_int_equal(buf_cstr(&b), 0);
    assert_string_equal((const char *)b.data, "> NAME       N  NOTE\n"
                                              "> alpha      1  x\n"
                                              "> b      12345\n");
    buf_deinit(&b);
    ctl_table_deinit(&t);
}

static void test_warnings(void **state)
{
    (void)state;
    char *text = NULL;
    size_t n = 0;
    struct ctl_warnings w = {0};
    w.echo = open_memstream(&text, &n);
    for (int i = 0; i < 20; i++)
        ctl_warn(&w, "thing %d went %s", i, "wrong");
    fclose(w.echo);
    assert_int_equal(w.n, 20);
    assert_string_equal(w.v[19], "thing 19 went wrong");
    assert_non_null(strstr(text, "stratactl: warning: thing 0 went wrong\n"));
    free(text);
    ctl_warnings_deinit(&w);
    assert_int_equal(w.n, 0);
    assert_null(w.v);
}

/* ---- a hand-built report ---- */

static void fill_report(struct ctl_report *r, struct ctl_shard *s)
{
    ctl_report_init(r, "/data");
    r->shards_declared = 1;
    memset(s, 0, sizeof *s);
    s->dir = strdup("/data/shard-000");
    s->n_blocks = 3;
    s->blocks = calloc(3, sizeof *s->blocks);
    struct ctl_block *b = s->blocks;
    strcpy(b[0].ulid, "01HAAAAAAAAAAAAAAAAAAAAAAA");
    b[0] = (struct ctl_block){.ulid = "01HAAAAAAAAAAAAAAAAAAAAAAA",
                              .min_time_ms = 0,
                              .max_time_ms = 7200000,
                              .level = 1,
                              .series = 10,
                              .samples = 1000,
                              .chunks = 10,
                              .size_bytes = 2000};
    b[1] = (struct ctl_block){.ulid = "01HBBBBBBBBBBBBBBBBBBBBBBB",
                              .min_time_ms = 0,
                              .max_time_ms = 7200000,
                              .level = 1,
                              .series = 10,
                              .samples = 1000,
                              .chunks = 10,
                              .size_bytes = 2000,
                              .superseded = true};
    b[2] = (struct ctl_block){.ulid = "01HCCCCCCCCCCCCCCCCCCCCCCC",
                              .min_time_ms = INT64_MAX,
                              .max_time_ms = INT64_MIN,
                              .size_bytes = 99,
                              .err = ERR_CORRUPT,
                              .fault = {ERR_CORRUPT, "index", 42}};
    for (int i = 0; i < 3; i++)
        b[i].dir = strdup("/data/shard-000/blocks/x");
    s->head = (struct ctl_head){.series = 5,
                                .series_with_samples = 4,
                                .samples = 500,
                                .chunks = 6,
                                .min_time_ms = 7200000,
                                .max_time_ms = 9000000,
                                .min_valid_time_ms = 7200000,
                                .chunk_files = 1,
                                .chunk_file_bytes = 300};
    s->wal = (struct ctl_wal){.segments = 2,
                              .segment_bytes = 4096,
                              .first_segment = 3,
                              .last_segment = 4,
                              .checkpoint = 2,
                              .checkpoint_bytes = 1024,
                              .records = 50,
                              .tail_err = ERR_TRUNCATED,
                              .tail_segment = 4,
                              .tail_offset = 4000,
                              .tail_lost_bytes = 96};
    s->n_quar = 1;
    s->quar = calloc(1, sizeof *s->quar);
    s->quar[0] = (struct ctl_quarantined){.name = strdup("01HQQQQQQQQQQQQQQQQQQQQQQQ"),
                                          .size_bytes = 800,
                                          .have_meta = true,
                                          .ulid = "01HQQQQQQQQQQQQQQQQQQQQQQQ",
                                          .min_time_ms = -7200000,
                                          .max_time_ms = 0,
                                          .level = 1,
                                          .series = 1,
                                          .samples = 120};
    s->tmp_dirs = 1;
    r->shards = s;
    r->n_shards = 1;
    struct label l1[] = {{STR_LIT("__name__"), STR_LIT("up")}, {STR_LIT("job"), STR_LIT("a")}};
    struct label l2[] = {{STR_LIT("__name__"), STR_LIT("up")}, {STR_LIT("job"), STR_LIT("b")}};
    assert_int_equal(ctl_analysis_add(&r->an, l1, 2), 0);
    assert_int_equal(ctl_analysis_add(&r->an, l2, 2), 0);
    r->analyzed = true;
    ctl_warn(&r->warn, "something \"odd\"");
}

static void test_totals(void **state)
{
    (void)state;
    struct ctl_report r;
    struct ctl_shard *s = malloc(sizeof *s);
    fill_report(&r, s);
    struct ctl_totals t;
    ctl_report_totals(&r, &t);
    assert_int_equal(t.blocks, 1); /* superseded and unreadable left out */
    assert_int_equal(t.unreadable, 1);
    assert_int_equal(t.block_samples, 1000);
    assert_int_equal(t.block_bytes, 2000);
    assert_int_equal(t.head_samples, 500);
    assert_int_equal(t.samples, 1500);
    assert_int_equal(t.min_time_ms, 0);
    assert_int_equal(t.max_time_ms, 9000000);
    assert_int_equal(t.quarantined, 1);
    assert_int_equal(t.quarantined_bytes, 800);
    assert_int_equal(t.wal_bytes, 5120);
    assert_int_equal(t.bytes, 2000 + 5120 + 300);
    ctl_report_deinit(&r);
}

static void test_report_text(void **state)
{
    (void)state;
    struct ctl_report r;
    struct ctl_shard *s = malloc(sizeof *s);
    fill_report(&r, s);
    struct buf b = BUF_INIT;
    assert_int_equal(ctl_report_text(&r, 5, &b), 0);
    assert_int_equal(buf_cstr(&b), 0);
    const char *t = (const char *)b.data;
    const char *want[] = {
        "data directory /data: 1 shards (strata.json: 1)\n",
        "shard 0 (/data/shard-000)\n  blocks: 3 (1 more being written or deleted)\n",
        "    ULID                        MIN TIME                  MAX TIME",
        "    01HAAAAAAAAAAAAAAAAAAAAAAA  1970-01-01T00:00:00.000Z  1970-01-01T02:00:00.000Z      1"
        "      10     1000      10  2.0 KiB      2.00\n",
        "superseded\n",
        "    01HCCCCCCCCCCCCCCCCCCCCCCC  -                         -                             -"
        "       -        -       -     99 B         -  corrupt data\n",
        "  head: 5 series (4 with samples), 500 samples, 6 chunks, 1970-01-01T02:00:00.000Z .. "
        "1970-01-01T02:30:00.000Z (min valid time 1970-01-01T02:00:00.000Z)\n",
        "  wal: segments 2 (00000003..00000004), 4.0 KiB; checkpoint 00000002, 1.0 KiB\n",
        "  wal tail: torn in segment 00000004 at offset 4000 (96 bytes)\n",
        "  quarantined blocks: 1\n",
        "    01HQQQQQQQQQQQQQQQQQQQQQQQ  800 B  1969-12-31T22:00:00.000Z",
        "cardinality: 2 distinct series, 2 label names, 3 label pairs",
        "Metric names with most series:\n  COUNT  KEY\n      2  up\n",
        "Label pairs with most series:\n  COUNT  KEY\n      2  {__name__=\"up\"}\n      1  "
        "{job=\"a\"}\n",
        "warnings: 1\n  something \"odd\"\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(t, want[i]))
            fprintf(stderr, "missing:\n%s\nin:\n%s\n", want[i], t);
        assert_non_null(strstr(t, want[i]));
    }
    buf_deinit(&b);
    ctl_report_deinit(&r);
}

static void test_report_json(void **state)
{
    (void)state;
    struct ctl_report r;
    struct ctl_shard *s = malloc(sizeof *s);
    fill_report(&r, s);
    struct buf b = BUF_INIT;
    assert_int_equal(ctl_report_json(&r, 5, &b), 0);
    assert_true(json_valid((const char *)b.data, b.len));
    assert_int_equal(buf_cstr(&b), 0);
    const char *t = (const char *)b.data;
    const char *want[] = {
        "{\"data_dir\":\"/data\",\"shards_declared\":1,\"shards\":[{\"shard\":0,",
        "{\"ulid\":\"01HAAAAAAAAAAAAAAAAAAAAAAA\",\"dir\":\"/data/shard-000/blocks/x\","
        "\"min_time_ms\":0,\"min_time\":\"1970-01-01T00:00:00.000Z\",\"max_time_ms\":7200000,"
        "\"max_time\":\"1970-01-01T02:00:00.000Z\",\"level\":1,\"series\":10,\"samples\":1000,"
        "\"chunks\":10,\"size_bytes\":2000,\"bytes_per_sample\":2,\"superseded\":false}",
        "\"superseded\":true}",
        "\"error\":\"corrupt "
        "data\",\"fault_file\":\"index\",\"fault_offset\":42,\"size_bytes\":99}",
        "\"blocks_in_progress\":1,",
        "\"head\":{\"series\":5,\"series_with_samples\":4,\"samples\":500,",
        "\"tail\":{\"kind\":\"torn\",\"segment\":4,\"offset\":4000,\"lost_bytes\":96}",
        "\"quarantine\":[{\"name\":\"01HQQQQQQQQQQQQQQQQQQQQQQQ\",\"size_bytes\":800,\"meta\":"
        "true,",
        "\"total\":{\"blocks\":1,\"block_series\":10,\"block_samples\":1000,",
        "\"samples\":1500,",
        "\"analysis\":{\"series\":2,\"label_names\":2,\"label_pairs\":3,\"top\":5,"
        "\"highest_cardinality_labels\":[{\"name\":\"job\",\"values\":2},{\"name\":\"__name__\","
        "\"values\":1}]",
        "\"label_pairs_most_series\":[{\"name\":\"__name__\",\"value\":\"up\",\"series\":2},",
        "\"label_value_lengths\":[{\"length\":1,\"values\":2},{\"length\":2,\"values\":1}]",
        "\"warnings\":[\"something \\\"odd\\\"\"]}\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(t, want[i]))
            fprintf(stderr, "missing:\n%s\nin:\n%s\n", want[i], t);
        assert_non_null(strstr(t, want[i]));
    }
    /* not analyzed: null */
    r.analyzed = false;
    buf_reset(&b);
    assert_int_equal(ctl_report_json(&r, 5, &b), 0);
    assert_true(json_valid((const char *)b.data, b.len));
    assert_int_equal(buf_cstr(&b), 0);
    assert_non_null(strstr((const char *)b.data, "\"analysis\":null,"));
    buf_reset(&b);
    assert_int_equal(ctl_report_text(&r, 5, &b), 0);
    assert_int_equal(buf_cstr(&b), 0);
    assert_null(strstr((const char *)b.data, "cardinality:"));
    buf_deinit(&b);
    ctl_report_deinit(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opts),        cmocka_unit_test(test_opts_errors),
        cmocka_unit_test(test_usage_text),  cmocka_unit_test(test_fmt_time),
        cmocka_unit_test(test_fmt_bytes),   cmocka_unit_test(test_fmt_labels),
        cmocka_unit_test(test_series_line), cmocka_unit_test(test_table),
        cmocka_unit_test(test_warnings),    cmocka_unit_test(test_totals),
        cmocka_unit_test(test_report_text), cmocka_unit_test(test_report_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
