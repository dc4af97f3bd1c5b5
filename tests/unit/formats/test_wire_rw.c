/* Remote write 1.0/2.0 wrappers: golden wire bytes, round trips (stale NaN bits kept), v1/v2 schema
 * confusion yields empty messages, contract validation (T-1.7 bad symbols and refs, label order,
 * histograms), limits and corrupt bodies, random round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "formats/wire/rw.h"
#include "tests/unit/prop.h"

#define MB (1024 * 1024)

static struct wire_decoder dec;

static int setup(void **state)
{
    wire_decoder_init(&dec, 8 * MB, 128 * MB);
    return 0;
}

static int teardown(void **state)
{
    wire_decoder_deinit(&dec);
    return 0;
}

static const struct label up_labels[] = {{STR_LIT("__name__"), STR_LIT("up")}};
static const struct rw_sample one_sample[] = {{1000, 1.0}};

static void test_golden_v1(void **state)
{
    static const uint8_t want[] = {
        0x0a, 0x1e,                                                /* timeseries, 30 bytes */
        0x0a, 0x0e,                                                /* labels, 14 bytes */
        0x0a, 0x08, '_',  '_',  'n',  'a',  'm',  'e',  '_',  '_', /* name */
        0x12, 0x02, 'u',  'p',                                     /* value */
        0x12, 0x0c,                                                /* samples, 12 bytes */
        0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f,      /* value 1.0 */
        0x10, 0xe8, 0x07};                                         /* timestamp 1000 */
    struct rw_series s = {up_labels, 1, one_sample, 1};
    struct buf b = BUF_INIT;
    assert_int_equal(rw1_encode(&s, 1, &b), 0);
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    const rw1_request *req;
    assert_int_equal(rw1_decode(&dec, b.data, b.len, &req), 0);
    assert_int_equal(req->n_timeseries, 1);
    assert_int_equal(req->timeseries[0]->n_samples, 1);
    assert_int_equal(req->timeseries[0]->samples[0]->timestamp, 1000);
    assert_string_equal(wire_decoder_err(&dec), "");
    buf_deinit(&b);
}

static void test_golden_v2(void **state)
{
    static const uint8_t want[] = {
        0x22, 0x00,                                                /* symbols[0] "" */
        0x22, 0x08, '_',  '_',  'n',  'a',  'm',  'e',  '_',  '_', /* symbols[1] */
        0x22, 0x02, 'u',  'p',                                     /* symbols[2] */
        0x2a, 0x12,                                                /* timeseries, 18 bytes */
        0x0a, 0x02, 0x01, 0x02,                                    /* labels_refs packed */
        0x12, 0x0c,                                                /* samples */
        0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, 0x10, 0xe8, 0x07};
    struct rw_series s = {up_labels, 1, one_sample, 1};
    struct buf b = BUF_INIT;
    assert_int_equal(rw2_encode(&s, 1, &b), 0);
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    const rw2_request *req;
    assert_int_equal(rw2_decode(&dec, b.data, b.len, &req), 0);
    struct label l[2];
    assert_int_equal(rw2_series_labels(req, req->timeseries[0], l, 2), 1);
    assert_true(str_eq_cstr(l[0].name, "__name__") && str_eq_cstr(l[0].value, "up"));
    buf_deinit(&b);
}

/* Two series sharing symbols, a stale NaN, an empty label value, negative timestamps. */
static const struct label s1_labels[] = {{STR_LIT("__name__"), STR_LIT("http_requests_total")},
                                         {STR_LIT("code"), STR_LIT("200")},
                                         {STR_LIT("empty"), STR_LIT("")},
                                         {STR_LIT("job"), STR_LIT("api")}};
static const struct label s2_labels[] = {{STR_LIT("__name__"), STR_LIT("up")},
                                         {STR_LIT("job"), STR_LIT("api")}};

static double stale_nan(void)
{
    uint64_t bits = 0x7ff0000000000002ull;
    double v;
    memcpy(&v, &bits, 8);
    return v;
}

static void check_samples(const struct rw_sample *want, size_t n, double got_v, int64_t got_ts,
                          size_t i)
{
    assert_true(i < n);
    assert_int_equal(got_ts, want[i].ts_ms);
    assert_memory_equal(&got_v, &want[i].value, 8); /* exact bits, stale NaN included */
}

static void test_roundtrip_both(void **state)
{
    struct rw_sample samples[] = {
        {-5000, 0.5}, {0, 1e-300}, {1700000000123, stale_nan()}, {1700000015123, INFINITY}};
    struct rw_series series[] = {{s1_labels, 4, samples, 4}, {s2_labels, 2, samples, 2}};
    struct buf b1 = BUF_INIT, b2 = BUF_INIT;
    assert_int_equal(rw1_encode(series, 2, &b1), 0);
    assert_int_equal(rw2_encode(series, 2, &b2), 0);

    const rw1_request *r1;
    assert_int_equal(rw1_decode(&dec, b1.data, b1.len, &r1), 0);
    assert_int_equal(r1->n_timeseries, 2);
    for (size_t s = 0; s < 2; s++) {
        struct label l[8];
        size_t n = rw1_series_labels(r1->timeseries[s], l, 8);
        assert_int_equal(n, series[s].n_labels);
        for (size_t i = 0; i < n; i++)
            assert_true(str_eq(l[i].name, series[s].labels[i].name) &&
                        str_eq(l[i].value, series[s].labels[i].value));
        assert_int_equal(r1->timeseries[s]->n_samples, series[s].n_samples);
        for (size_t i = 0; i < series[s].n_samples; i++)
            check_samples(samples, 4, r1->timeseries[s]->samples[i]->value,
                          r1->timeseries[s]->samples[i]->timestamp, i);
    }

    const rw2_request *r2;
    assert_int_equal(rw2_decode(&dec, b2.data, b2.len, &r2), 0);
    /* "", __name__, http_requests_total, code, 200, empty, job, api, up: shared ones once */
    assert_int_equal(r2->n_symbols, 9);
    assert_int_equal(r2->symbols[0].len, 0);
    for (size_t s = 0; s < 2; s++) {
        struct label l[8];
        assert_int_equal(rw2_series_labels(r2, r2->timeseries[s], l, 8), series[s].n_labels);
        for (size_t i = 0; i < series[s].n_labels; i++)
            assert_true(str_eq(l[i].name, series[s].labels[i].name) &&
                        str_eq(l[i].value, series[s].labels[i].value));
        for (size_t i = 0; i < series[s].n_samples; i++)
            check_samples(samples, 4, r2->timeseries[s]->samples[i]->value,
                          r2->timeseries[s]->samples[i]->timestamp, i);
    }
    /* T-1.x: the schemas are disjoint, so the wrong one yields an empty message */
    const rw1_request *wrong1;
    assert_int_equal(rw1_decode(&dec, b2.data, b2.len, &wrong1), 0);
    assert_int_equal(wrong1->n_timeseries, 0);
    assert_int_equal(wrong1->n_metadata, 0);
    /* the v2 fields are kept as unknown fields; stripping them leaves a truly empty message */
    assert_true(wrong1->base.n_unknown_fields > 0);
    wire_strip_unknown((ProtobufCMessage *)&wrong1->base);
    struct buf empty = BUF_INIT;
    assert_int_equal(rw1_pack(wrong1, &empty), 0);
    assert_int_equal(empty.len, 0);
    const rw2_request *wrong2;
    assert_int_equal(rw2_decode(&dec, b1.data, b1.len, &wrong2), 0);
    assert_int_equal(wrong2->n_timeseries, 0);
    assert_int_equal(wrong2->n_symbols, 0);
    buf_deinit(&b1);
    buf_deinit(&b2);
}

/* Builds a one-series v2 request from raw refs and symbols and returns rw2_decode's result. */
static int v2_try(const char *const *syms, size_t n_syms, const uint32_t *refs, size_t n_refs,
                  Io__Prometheus__Write__V2__Metadata *md)
{
    ProtobufCBinaryData sym[16];
    for (size_t i = 0; i < n_syms; i++)
        sym[i] = wire_bytes(str_from_cstr(syms[i]));
    Io__Prometheus__Write__V2__Sample sample = IO__PROMETHEUS__WRITE__V2__SAMPLE__INIT;
    Io__Prometheus__Write__V2__Sample *sp = &sample;
    rw2_series ts = IO__PROMETHEUS__WRITE__V2__TIME_SERIES__INIT;
    ts.labels_refs = (uint32_t *)refs;
    ts.n_labels_refs = n_refs;
    ts.samples = &sp;
    ts.n_samples = 1;
    ts.metadata = md;
    rw2_series *tsp = &ts;
    rw2_request req = IO__PROMETHEUS__WRITE__V2__REQUEST__INIT;
    req.symbols = sym;
    req.n_symbols = n_syms;
    req.timeseries = &tsp;
    req.n_timeseries = 1;
    struct buf b = BUF_INIT;
    assert_int_equal(rw2_pack(&req, &b), 0);
    const rw2_request *out;
    int rc = rw2_decode(&dec, b.data, b.len, &out);
    assert_true(rc == 0 ? out != NULL : out == NULL);
    buf_deinit(&b);
    return rc;
}

static void assert_err_has(const char *needle)
{
    const char *err = wire_decoder_err(&dec);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

static void test_v2_validation(void **state)
{
    const char *good[] = {"", "__name__", "up", "job", "a"};
    const uint32_t refs_ok[] = {1, 2, 3, 4};
    assert_int_equal(v2_try(good, 5, refs_ok, 4, NULL), 0);
    const uint32_t refs_empty_value[] = {1, 2, 3, 0};
    assert_int_equal(v2_try(good, 5, refs_empty_value, 4, NULL), 0);

    const char *bad0[] = {"x", "__name__", "up"}; /* T-1.7 symbols[0] != "" */
    assert_int_equal(v2_try(bad0, 3, refs_ok, 2, NULL), ERR_INVALID);
    assert_err_has("symbols[0]");
    const uint32_t refs_oob[] = {1, 2, 3, 5}; /* T-1.7 ref out of range */
    assert_int_equal(v2_try(good, 5, refs_oob, 4, NULL), ERR_INVALID);
    assert_err_has("out of range");
    assert_err_has("series 0");
    assert_int_equal(v2_try(good, 5, refs_ok, 3, NULL), ERR_INVALID); /* odd length */
    assert_err_has("odd");
    assert_int_equal(v2_try(good, 5, refs_ok, 0, NULL), ERR_INVALID); /* no labels */
    const uint32_t refs_unsorted[] = {3, 4, 1, 2};
    assert_int_equal(v2_try(good, 5, refs_unsorted, 4, NULL), ERR_INVALID);
    assert_err_has("not sorted");
    assert_err_has("{job=\"a\", __name__=\"up\"}");
    const uint32_t refs_dup[] = {1, 2, 1, 4};
    assert_int_equal(v2_try(good, 5, refs_dup, 4, NULL), ERR_INVALID);
    assert_err_has("duplicate");
    const uint32_t refs_empty_name[] = {0, 2};
    assert_int_equal(v2_try(good, 5, refs_empty_name, 2, NULL), ERR_INVALID);
    assert_err_has("empty label name");
    Io__Prometheus__Write__V2__Metadata md = IO__PROMETHEUS__WRITE__V2__METADATA__INIT;
    md.help_ref = 4;
    assert_int_equal(v2_try(good, 5, refs_ok, 4, &md), 0);
    md.unit_ref = 5;
    assert_int_equal(v2_try(good, 5, refs_ok, 4, &md), ERR_INVALID);
    /* no symbols at all, but a series refers to them */
    assert_int_equal(v2_try(good, 0, refs_ok, 2, NULL), ERR_INVALID);
}

static void test_v2_samples_and_histograms(void **state)
{
    ProtobufCBinaryData sym[] = {wire_bytes(STR_LIT("")), wire_bytes(STR_LIT("__name__")),
                                 wire_bytes(STR_LIT("x"))};
    uint32_t refs[] = {1, 2};
    Io__Prometheus__Write__V2__Sample sample = IO__PROMETHEUS__WRITE__V2__SAMPLE__INIT;
    Io__Prometheus__Write__V2__Sample *sp = &sample;
    Io__Prometheus__Write__V2__Histogram h = IO__PROMETHEUS__WRITE__V2__HISTOGRAM__INIT;
    Io__Prometheus__Write__V2__Histogram *hp = &h;
    h.count_case = IO__PROMETHEUS__WRITE__V2__HISTOGRAM__COUNT_COUNT_INT;
    h.count_int = 3;
    h.start_timestamp = 42;
    rw2_series ts = IO__PROMETHEUS__WRITE__V2__TIME_SERIES__INIT;
    ts.labels_refs = refs;
    ts.n_labels_refs = 2;
    ts.histograms = &hp;
    ts.n_histograms = 1;
    rw2_series *tsp = &ts;
    rw2_request req = IO__PROMETHEUS__WRITE__V2__REQUEST__INIT;
    req.symbols = sym;
    req.n_symbols = 3;
    req.timeseries = &tsp;
    req.n_timeseries = 1;
    struct buf b = BUF_INIT;
    const rw2_request *out;
    assert_int_equal(rw2_pack(&req, &b), 0);
    assert_int_equal(rw2_decode(&dec, b.data, b.len, &out), 0);
    assert_int_equal(out->timeseries[0]->histograms[0]->start_timestamp, 42);
    assert_int_equal(out->timeseries[0]->histograms[0]->count_int, 3);
    ts.samples = &sp;
    ts.n_samples = 1;
    buf_reset(&b);
    assert_int_equal(rw2_pack(&req, &b), 0);
    assert_int_equal(rw2_decode(&dec, b.data, b.len, &out), ERR_INVALID);
    assert_err_has("both samples and histograms");
    buf_deinit(&b);
}

/* One v1 series with the given labels (and optionally an exemplar); returns rw1_decode's result. */
static int v1_try(const struct label *ls, size_t n, const struct label *ex, size_t n_ex,
                  Prometheus__Histogram *h)
{
    Prometheus__Label pl[8], *pp[8], el[8], *ep[8];
    for (size_t i = 0; i < n; i++) {
        pl[i] = (Prometheus__Label)PROMETHEUS__LABEL__INIT;
        pl[i].name = wire_bytes(ls[i].name);
        pl[i].value = wire_bytes(ls[i].value);
        pp[i] = &pl[i];
    }
    for (size_t i = 0; i < n_ex; i++) {
        el[i] = (Prometheus__Label)PROMETHEUS__LABEL__INIT;
        el[i].name = wire_bytes(ex[i].name);
        el[i].value = wire_bytes(ex[i].value);
        ep[i] = &el[i];
    }
    Prometheus__Exemplar e = PROMETHEUS__EXEMPLAR__INIT, *epp = &e;
    e.labels = ep;
    e.n_labels = n_ex;
    e.value = 1.5;
    Prometheus__TimeSeries ts = PROMETHEUS__TIME_SERIES__INIT, *tsp = &ts;
    ts.labels = pp;
    ts.n_labels = n;
    ts.exemplars = &epp;
    ts.n_exemplars = 1;
    ts.histograms = &h;
    ts.n_histograms = h ? 1 : 0;
    /* a first, valid series so that errors must name series 1 */
    Prometheus__Label ok = PROMETHEUS__LABEL__INIT, *okp = &ok;
    ok.name = wire_bytes(STR_LIT("__name__"));
    ok.value = wire_bytes(STR_LIT("fine"));
    Prometheus__TimeSeries ts0 = PROMETHEUS__TIME_SERIES__INIT;
    ts0.labels = &okp;
    ts0.n_labels = 1;
    Prometheus__TimeSeries *all[] = {&ts0, tsp};
    rw1_request req = PROMETHEUS__WRITE_REQUEST__INIT;
    req.timeseries = all;
    req.n_timeseries = 2;
    struct buf b = BUF_INIT;
    assert_int_equal(rw1_pack(&req, &b), 0);
    const rw1_request *out;
    int rc = rw1_decode(&dec, b.data, b.len, &out);
    buf_deinit(&b);
    return rc;
}

static void test_v1_validation(void **state)
{
    const struct label ok[] = {{STR_LIT("__name__"), STR_LIT("m")}, {STR_LIT("a"), STR_LIT("")}};
    const struct label trace[] = {{STR_LIT("trace_id"), STR_LIT("abc")}};
    assert_int_equal(v1_try(ok, 2, NULL, 0, NULL), 0);
    assert_int_equal(v1_try(ok, 2, trace, 1, NULL), 0);
    const struct label unsorted[] = {{STR_LIT("b"), STR_LIT("1")}, {STR_LIT("a"), STR_LIT("2")}};
    assert_int_equal(v1_try(unsorted, 2, NULL, 0, NULL), ERR_INVALID);
    assert_err_has("series 1 {b=\"1\", a=\"2\"}: label names not sorted at \"a\"");
    const struct label dup[] = {{STR_LIT("a"), STR_LIT("1")}, {STR_LIT("a"), STR_LIT("1")}};
    assert_int_equal(v1_try(dup, 2, NULL, 0, NULL), ERR_INVALID);
    assert_err_has("duplicate label name \"a\"");
    const struct label empty_name[] = {{STR_LIT(""), STR_LIT("v")}};
    assert_int_equal(v1_try(empty_name, 1, NULL, 0, NULL), ERR_INVALID);
    assert_err_has("empty label name");
    assert_int_equal(v1_try(ok, 0, NULL, 0, NULL), ERR_INVALID);
    assert_err_has("series 1 has no labels");
    assert_int_equal(v1_try(ok, 2, unsorted, 2, NULL), ERR_INVALID);
    assert_err_has("series 1 exemplar 0");
    /* quoting of odd bytes in messages */
    const struct label odd[] = {{STR_LIT("z"), STR_LIT("q\"\n\x01")}, {STR_LIT("y"), STR_LIT("")}};
    assert_int_equal(v1_try(odd, 2, NULL, 0, NULL), ERR_INVALID);
    assert_err_has("{z=\"q\\\"\\n\\x01\", y=\"\"}");
}

static void test_v1_histograms(void **state)
{
    const struct label ls[] = {{STR_LIT("__name__"), STR_LIT("h")}};
    Prometheus__BucketSpan s0 = PROMETHEUS__BUCKET_SPAN__INIT, s1 = PROMETHEUS__BUCKET_SPAN__INIT;
    Prometheus__BucketSpan *spans[] = {&s0, &s1};
    s0.offset = -2;
    s0.length = 2;
    s1.offset = 3;
    s1.length = 1;
    int64_t deltas[] = {1, 2, -1};
    double counts[] = {1, 3};
    Prometheus__Histogram h = PROMETHEUS__HISTOGRAM__INIT;
    h.count_case = PROMETHEUS__HISTOGRAM__COUNT_COUNT_INT;
    h.count_int = 4;
    h.schema = -53;
    h.positive_spans = spans;
    h.n_positive_spans = 2;
    h.positive_deltas = deltas;
    h.n_positive_deltas = 3;
    assert_int_equal(v1_try(ls, 1, NULL, 0, &h), 0);
    h.n_positive_deltas = 2;
    assert_int_equal(v1_try(ls, 1, NULL, 0, &h), ERR_INVALID);
    assert_err_has("histogram 0 is invalid: spans do not match");
    h.n_positive_deltas = 3;
    s1.offset = -1;
    assert_int_equal(v1_try(ls, 1, NULL, 0, &h), ERR_INVALID);
    assert_err_has("negative offset");
    s1.offset = 0;
    /* float histogram: counts, not deltas, must match the negative spans */
    h.count_case = PROMETHEUS__HISTOGRAM__COUNT_COUNT_FLOAT;
    h.count_float = 4;
    h.positive_spans = NULL;
    h.n_positive_spans = 0;
    h.negative_spans = spans;
    h.n_negative_spans = 1;
    h.negative_counts = counts;
    h.n_negative_counts = 2;
    assert_int_equal(v1_try(ls, 1, NULL, 0, &h), 0);
    h.n_negative_counts = 1;
    assert_int_equal(v1_try(ls, 1, NULL, 0, &h), ERR_INVALID);

    /* wire check: deltas are packed sint64 (field 12, wire type 2 -> tag 0x62) */
    h = (Prometheus__Histogram)PROMETHEUS__HISTOGRAM__INIT;
    h.positive_spans = spans;
    h.n_positive_spans = 1;
    int64_t d2[] = {-1, 1};
    h.positive_deltas = d2;
    h.n_positive_deltas = 2;
    uint8_t wire[64];
    size_t n = prometheus__histogram__pack(&h, wire);
    static const uint8_t tail[] = {0x62, 0x02, 0x01, 0x02}; /* zigzag(-1)=1, zigzag(1)=2 */
    assert_true(n >= sizeof tail);
    assert_memory_equal(wire + n - sizeof tail, tail, sizeof tail);
}

/* protobuf-c (like gogo in Prometheus) omits a proto3 double equal to 0, so our encoder sends -0
 * as nothing; but a -0 that is on the wire must come out with its sign bit. */
static void test_negative_zero_on_wire(void **state)
{
    static const uint8_t body[] = {0x0a, 0x1e, 0x0a, 0x0e, 0x0a, 0x08, '_',  '_',  'n',  'a',  'm',
                                   'e',  '_',  '_',  0x12, 0x02, 'u',  'p',  0x12, 0x0c, 0x09, 0x00,
                                   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x10, 0xe8, 0x07};
    const rw1_request *out;
    assert_int_equal(rw1_decode(&dec, body, sizeof body, &out), 0);
    double v = out->timeseries[0]->samples[0]->value;
    assert_true(v == 0 && signbit(v));
}

static void test_metadata_only(void **state)
{
    Prometheus__MetricMetadata md = PROMETHEUS__METRIC_METADATA__INIT, *mdp = &md;
    md.type = PROMETHEUS__METRIC_METADATA__METRIC_TYPE__COUNTER;
    md.metric_family_name = wire_bytes(STR_LIT("http_requests_total"));
    md.help = wire_bytes(STR_LIT("Requests."));
    rw1_request req = PROMETHEUS__WRITE_REQUEST__INIT;
    req.metadata = &mdp;
    req.n_metadata = 1;
    struct buf b = BUF_INIT;
    assert_int_equal(rw1_pack(&req, &b), 0);
    const rw1_request *out;
    assert_int_equal(rw1_decode(&dec, b.data, b.len, &out), 0);
    assert_int_equal(out->n_timeseries, 0);
    assert_int_equal(out->n_metadata, 1);
    assert_int_equal(out->metadata[0]->type, 1);
    assert_true(str_eq_cstr(wire_str(out->metadata[0]->help), "Requests."));
    buf_deinit(&b);
}

static void test_limits_and_corrupt(void **state)
{
    struct rw_sample samples[100];
    for (int i = 0; i < 100; i++)
        samples[i] = (struct rw_sample){i * 15000, i};
    struct rw_series s = {s1_labels, 4, samples, 100};
    struct buf b = BUF_INIT;
    assert_int_equal(rw1_encode(&s, 1, &b), 0);
    struct wire_decoder small;
    wire_decoder_init(&small, b.len - 1, 1 * MB);
    const rw1_request *out;
    assert_int_equal(rw1_decode(&small, b.data, b.len, &out), ERR_LIMIT);
    assert_null(out);
    assert_non_null(strstr(wire_decoder_err(&small), "exceeds"));
    wire_decoder_deinit(&small);
    wire_decoder_init(&small, b.len, 1024); /* memory too tight for 100 sample structs */
    assert_int_equal(rw1_decode(&small, b.data, b.len, &out), ERR_LIMIT);
    assert_non_null(strstr(wire_decoder_err(&small), "memory"));
    wire_decoder_deinit(&small);
    for (size_t cut = 1; cut < b.len; cut += 7) { /* truncated bodies */
        int rc = rw1_decode(&dec, b.data, cut, &out);
        assert_true(rc == ERR_CORRUPT || rc == ERR_INVALID || rc == 0);
    }
    assert_int_equal(rw1_decode(&dec, b.data, b.len - 1, &out), ERR_CORRUPT);
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
    assert_int_equal(rw1_decode(&dec, junk, sizeof junk, &out), ERR_CORRUPT);
    const rw2_request *out2;
    assert_int_equal(rw2_decode(&dec, junk, sizeof junk, &out2), ERR_CORRUPT);
    assert_int_equal(rw1_decode(&dec, junk, 0, &out), 0); /* empty body = empty request */
    assert_int_equal(out->n_timeseries, 0);
    buf_deinit(&b);
}

static struct str rand_str(struct prop *p, char *buf, size_t cap)
{
    size_t n = prop_next(p) % cap;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(prop_next(p) & 0xff);
    return (struct str){buf, n};
}

static void test_random_roundtrip(void **state)
{
    struct prop p = prop_begin("rw_roundtrip");
    static char text[64][24];
    for (int iter = 0; iter < 300; iter++) {
        struct label ls[8][8];
        struct rw_sample smp[16];
        struct rw_series series[8];
        size_t n_series = 1 + prop_next(&p) % 8, t = 0;
        for (size_t i = 0; i < 16; i++) {
            uint64_t bits = prop_next(&p);
            memcpy(&smp[i].value, &bits, 8);
            smp[i].ts_ms = (int64_t)prop_next(&p);
        }
        for (size_t s = 0; s < n_series; s++) {
            size_t n = 1 + prop_next(&p) % 8;
            for (size_t i = 0; i < n; i++) {
                ls[s][i].name = (struct str){"abcdefgh" + i, 1}; /* sorted, unique */
                ls[s][i].value = rand_str(&p, text[t++ % 64], sizeof text[0]);
            }
            series[s] = (struct rw_series){ls[s], n, smp, prop_next(&p) % 17};
        }
        struct buf b1 = BUF_INIT, b2 = BUF_INIT;
        prop_check(&p, rw1_encode(series, n_series, &b1) == 0);
        prop_check(&p, rw2_encode(series, n_series, &b2) == 0);
        const rw1_request *r1;
        prop_check(&p, rw1_decode(&dec, b1.data, b1.len, &r1) == 0);
        for (size_t s = 0; s < n_series; s++) {
            struct label got[8];
            prop_check(&p, rw1_series_labels(r1->timeseries[s], got, 8) == series[s].n_labels);
            for (size_t i = 0; i < series[s].n_labels; i++)
                prop_check(&p, str_eq(got[i].value, series[s].labels[i].value));
            for (size_t i = 0; i < series[s].n_samples; i++)
                prop_check(&p,
                           memcmp(&r1->timeseries[s]->samples[i]->value, &smp[i].value, 8) == 0 &&
                               r1->timeseries[s]->samples[i]->timestamp == smp[i].ts_ms);
        }
        const rw2_request *r2;
        prop_check(&p, rw2_decode(&dec, b2.data, b2.len, &r2) == 0);
        for (size_t s = 0; s < n_series; s++) {
            struct label got[8];
            prop_check(&p, rw2_series_labels(r2, r2->timeseries[s], got, 8) == series[s].n_labels);
            for (size_t i = 0; i < series[s].n_labels; i++)
                prop_check(&p, str_eq(got[i].value, series[s].labels[i].value));
            prop_check(&p, r2->timeseries[s]->n_samples == series[s].n_samples);
        }
        buf_deinit(&b1);
        buf_deinit(&b2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_v1),
        cmocka_unit_test(test_golden_v2),
        cmocka_unit_test(test_roundtrip_both),
        cmocka_unit_test(test_v2_validation),
        cmocka_unit_test(test_v2_samples_and_histograms),
        cmocka_unit_test(test_v1_validation),
        cmocka_unit_test(test_v1_histograms),
        cmocka_unit_test(test_negative_zero_on_wire),
        cmocka_unit_test(test_metadata_only),
        cmocka_unit_test(test_limits_and_corrupt),
        cmocka_unit_test(test_random_roundtrip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
